//! The WHATWG URL Standard's basic URL parser
//! (<https://url.spec.whatwg.org/#concept-basic-url-parser>): the state
//! machine that fills a `UrlRecord` (see `record.rs`).
//!
//! Why not `url::Url`: the `url` crate deviates from the standard on ~50
//! web-platform-tests cases (file: hosts and drive letters, `/.//` paths,
//! opaque-path setters; see its `tests/expected_failures.txt`). This module is
//! the standard's state machine written out step by step; it still uses the
//! `url` crate for host parsing (IDNA/UTS #46, IPv4, IPv6, opaque hosts),
//! which is the part worth not rewriting.
//!
//! The parser works on the input's UTF-8 bytes: every decision the state
//! machine takes is on an ASCII code point, and every percent-encode set
//! contains all non-ASCII code points, so encoding byte by byte gives the same
//! result as encoding code point by code point.

use super::record::{Path, UrlRecord};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum State {
    SchemeStart,
    Scheme,
    NoScheme,
    SpecialRelativeOrAuthority,
    PathOrAuthority,
    Relative,
    RelativeSlash,
    SpecialAuthoritySlashes,
    SpecialAuthorityIgnoreSlashes,
    Authority,
    Host,
    Hostname,
    Port,
    File,
    FileSlash,
    FileHost,
    PathStart,
    Path,
    OpaquePath,
    Query,
    Fragment,
}

/// The parser gave up (the standard's "failure"; with a state override it
/// also covers a plain "return", which setters treat alike).
pub(super) struct Failure;

// ---- percent-encode sets (https://url.spec.whatwg.org/#percent-encoded-bytes)

/// A percent-encode set: one bit of each byte's entry in `SETS`.
#[derive(Clone, Copy)]
pub(super) struct EncodeSet(u8);

const C0_CONTROL: EncodeSet = EncodeSet(1);
const FRAGMENT: EncodeSet = EncodeSet(2);
const QUERY: EncodeSet = EncodeSet(4);
const SPECIAL_QUERY: EncodeSet = EncodeSet(8);
const PATH: EncodeSet = EncodeSet(16);
pub(super) const USERINFO: EncodeSet = EncodeSet(32);

impl EncodeSet {
    fn contains(self, b: u8) -> bool {
        SETS[b as usize] & self.0 != 0
    }
}

/// For each byte, the sets it belongs to (each set includes the previous
/// one it is defined from, as in the standard).
static SETS: [u8; 256] = build_sets();

const fn build_sets() -> [u8; 256] {
    let mut table = [0u8; 256];
    let mut i = 0;
    while i < 256 {
        let b = i as u8;
        let c0 = b < 0x20 || b > 0x7E;
        let fragment = c0 || matches!(b, b' ' | b'"' | b'<' | b'>' | b'`');
        let query = c0 || matches!(b, b' ' | b'"' | b'#' | b'<' | b'>');
        let special_query = query || b == b'\'';
        let path = query || matches!(b, b'?' | b'^' | b'`' | b'{' | b'}');
        let userinfo = path || matches!(b, b'/' | b':' | b';' | b'=' | b'@' | b'[' | b'\\' | b']' | b'|');
        table[i] = (c0 as u8)
            | (fragment as u8) << 1
            | (query as u8) << 2
            | (special_query as u8) << 3
            | (path as u8) << 4
            | (userinfo as u8) << 5;
        i += 1;
    }
    table
}

const HEX: &[u8; 16] = b"0123456789ABCDEF";

/// Appends `bytes` to `out`, percent-encoding those in `set`.
fn push_encoded(out: &mut String, bytes: &[u8], set: EncodeSet) {
    let mut run = 0;
    for (i, &b) in bytes.iter().enumerate() {
        if set.contains(b) {
            // Everything in the run is ASCII (non-ASCII is in every set).
            out.push_str(ascii(&bytes[run..i]));
            out.push('%');
            out.push(HEX[(b >> 4) as usize] as char);
            out.push(HEX[(b & 15) as usize] as char);
            run = i + 1;
        }
    }
    out.push_str(ascii(&bytes[run..]));
}

fn ascii(bytes: &[u8]) -> &str {
    std::str::from_utf8(bytes).unwrap_or_default()
}

/// A string percent-encoded with `set`.
pub(super) fn encoded(bytes: &[u8], set: EncodeSet) -> String {
    let mut s = String::with_capacity(bytes.len());
    push_encoded(&mut s, bytes, set);
    s
}

// ---- helpers on schemes and paths

pub(super) fn default_port(scheme: &str) -> Option<u16> {
    match scheme {
        "http" | "ws" => Some(80),
        "https" | "wss" => Some(443),
        "ftp" => Some(21),
        _ => None,
    }
}

pub(super) fn is_special(scheme: &str) -> bool {
    matches!(scheme, "http" | "https" | "ws" | "wss" | "ftp" | "file")
}

fn is_windows_drive_letter(s: &[u8]) -> bool {
    s.len() == 2 && s[0].is_ascii_alphabetic() && matches!(s[1], b':' | b'|')
}

pub(super) fn is_normalized_windows_drive_letter(s: &[u8]) -> bool {
    s.len() == 2 && s[0].is_ascii_alphabetic() && s[1] == b':'
}

fn starts_with_windows_drive_letter(s: &[u8]) -> bool {
    s.len() >= 2 && is_windows_drive_letter(&s[..2]) && (s.len() == 2 || matches!(s[2], b'/' | b'\\' | b'?' | b'#'))
}

fn is_single_dot(s: &[u8]) -> bool {
    s == b"." || s.eq_ignore_ascii_case(b"%2e")
}

fn is_double_dot(s: &[u8]) -> bool {
    match s.len() {
        2 => s == b"..",
        4 => s.eq_ignore_ascii_case(b".%2e") || s.eq_ignore_ascii_case(b"%2e."),
        6 => s.eq_ignore_ascii_case(b"%2e%2e"),
        _ => false,
    }
}

// ---- host parsing

/// The host parser; returns the serialized host.
fn parse_host(input: &[u8], is_opaque: bool) -> Result<String, Failure> {
    let text = std::str::from_utf8(input).map_err(|_| Failure)?;
    if is_opaque {
        return url::Host::parse_opaque(text)
            .map(|h| h.to_string())
            .map_err(|_| Failure);
    }
    if let Some(fast) = plain_ascii_domain(input) {
        return Ok(fast);
    }
    url::Host::parse(text).map(|h| h.to_string()).map_err(|_| Failure)
}

/// Fast path of the domain branch: a host made only of ASCII letters, digits,
/// `-`, `_` and `.` that has no `xn--` label and does not end in a number is
/// its own domain-to-ASCII result once lowercased (UTS #46 maps nothing in
/// that set and checks nothing, with the URL standard's flags).
fn plain_ascii_domain(input: &[u8]) -> Option<String> {
    if input.is_empty()
        || !input
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
    {
        return None;
    }
    let lower = input.to_ascii_lowercase();
    if lower.split(|&b| b == b'.').any(|label| label.starts_with(b"xn--")) {
        return None;
    }
    // Ends-in-a-number: the last label (ignoring one trailing empty one) is
    // all digits or starts with 0x; leave those to the IPv4 parser.
    let mut labels = lower.split(|&b| b == b'.').rev();
    let mut last = labels.next().unwrap_or_default();
    if last.is_empty() {
        last = labels.next().unwrap_or_default();
    }
    if !last.is_empty() && (last.iter().all(u8::is_ascii_digit) || last.starts_with(b"0x")) {
        return None;
    }
    String::from_utf8(lower).ok()
}

/// The basic URL parser's state machine, run on `url` (already trimmed of
/// leading/trailing C0 controls and spaces when it is a fresh parse).
pub(super) fn run(
    url: &mut UrlRecord,
    input: &str,
    base: Option<&UrlRecord>,
    state_override: Option<State>,
) -> Result<(), Failure> {
    // Remove ASCII tab and newline.
    let owned: Vec<u8>;
    let input: &[u8] = if input.bytes().any(|b| matches!(b, b'\t' | b'\n' | b'\r')) {
        owned = input.bytes().filter(|b| !matches!(b, b'\t' | b'\n' | b'\r')).collect();
        &owned
    } else {
        input.as_bytes()
    };
    let len = input.len() as isize;
    let mut state = state_override.unwrap_or(State::SchemeStart);
    let mut buffer: Vec<u8> = Vec::new();
    let mut at_sign_seen = false;
    let mut inside_brackets = false;
    let mut password_token_seen = false;
    let mut p: isize = 0;
    // Whether url's scheme is special; refreshed wherever the scheme is set.
    let mut special = url.is_special();
    let remaining = |p: isize| -> &[u8] {
        let start = (p + 1).max(0) as usize;
        input.get(start..).unwrap_or_default()
    };

    loop {
        let c: Option<u8> = if p >= 0 && p < len {
            Some(input[p as usize])
        } else {
            None
        };
        match state {
            State::SchemeStart => match c {
                Some(ch) if ch.is_ascii_alphabetic() => {
                    buffer.push(ch.to_ascii_lowercase());
                    state = State::Scheme;
                }
                _ if state_override.is_none() => {
                    state = State::NoScheme;
                    p -= 1;
                }
                _ => return Err(Failure),
            },
            State::Scheme => match c {
                Some(ch) if ch.is_ascii_alphanumeric() || matches!(ch, b'+' | b'-' | b'.') => {
                    buffer.push(ch.to_ascii_lowercase());
                }
                Some(b':') => {
                    let new_scheme = ascii(&buffer);
                    if state_override.is_some() {
                        if url.is_special() != is_special(new_scheme) {
                            return Err(Failure);
                        }
                        if (url.includes_credentials() || url.port.is_some()) && new_scheme == "file" {
                            return Err(Failure);
                        }
                        if url.scheme == "file" && url.host.as_deref() == Some("") {
                            return Err(Failure);
                        }
                    }
                    url.scheme = new_scheme.to_string();
                    special = url.is_special();
                    if state_override.is_some() {
                        if url.port.is_some() && url.port == default_port(&url.scheme) {
                            url.port = None;
                        }
                        return Ok(());
                    }
                    buffer.clear();
                    if url.scheme == "file" {
                        state = State::File;
                    } else if url.is_special() && base.is_some_and(|b| b.scheme == url.scheme) {
                        state = State::SpecialRelativeOrAuthority;
                    } else if url.is_special() {
                        state = State::SpecialAuthoritySlashes;
                    } else if remaining(p).first() == Some(&b'/') {
                        state = State::PathOrAuthority;
                        p += 1;
                    } else {
                        url.path = Path::Opaque(String::new());
                        state = State::OpaquePath;
                    }
                }
                _ if state_override.is_none() => {
                    buffer.clear();
                    state = State::NoScheme;
                    p = -1;
                }
                _ => return Err(Failure),
            },
            State::NoScheme => {
                let Some(base) = base else { return Err(Failure) };
                if base.has_opaque_path() {
                    if c != Some(b'#') {
                        return Err(Failure);
                    }
                    url.scheme = base.scheme.clone();
                    special = url.is_special();
                    url.path = base.path.clone();
                    url.query = base.query.clone();
                    url.fragment = Some(String::new());
                    state = State::Fragment;
                } else if base.scheme != "file" {
                    state = State::Relative;
                    p -= 1;
                } else {
                    state = State::File;
                    p -= 1;
                }
            }
            State::SpecialRelativeOrAuthority => {
                if c == Some(b'/') && remaining(p).first() == Some(&b'/') {
                    state = State::SpecialAuthorityIgnoreSlashes;
                    p += 1;
                } else {
                    state = State::Relative;
                    p -= 1;
                }
            }
            State::PathOrAuthority => {
                if c == Some(b'/') {
                    state = State::Authority;
                } else {
                    state = State::Path;
                    p -= 1;
                }
            }
            State::Relative => {
                let base = base.ok_or(Failure)?;
                url.scheme = base.scheme.clone();
                special = url.is_special();
                if c == Some(b'/') || (special && c == Some(b'\\')) {
                    state = State::RelativeSlash;
                } else {
                    url.username = base.username.clone();
                    url.password = base.password.clone();
                    url.host = base.host.clone();
                    url.port = base.port;
                    url.path = base.path.clone();
                    url.query = base.query.clone();
                    match c {
                        Some(b'?') => {
                            url.query = Some(String::new());
                            state = State::Query;
                        }
                        Some(b'#') => {
                            url.fragment = Some(String::new());
                            state = State::Fragment;
                        }
                        Some(_) => {
                            url.query = None;
                            url.shorten_path();
                            state = State::Path;
                            p -= 1;
                        }
                        None => {}
                    }
                }
            }
            State::RelativeSlash => {
                if special && matches!(c, Some(b'/' | b'\\')) {
                    state = State::SpecialAuthorityIgnoreSlashes;
                } else if c == Some(b'/') {
                    state = State::Authority;
                } else {
                    let base = base.ok_or(Failure)?;
                    url.username = base.username.clone();
                    url.password = base.password.clone();
                    url.host = base.host.clone();
                    url.port = base.port;
                    state = State::Path;
                    p -= 1;
                }
            }
            State::SpecialAuthoritySlashes => {
                if c == Some(b'/') && remaining(p).first() == Some(&b'/') {
                    p += 1;
                } else {
                    p -= 1;
                }
                state = State::SpecialAuthorityIgnoreSlashes;
            }
            State::SpecialAuthorityIgnoreSlashes => {
                if !matches!(c, Some(b'/' | b'\\')) {
                    state = State::Authority;
                    p -= 1;
                }
            }
            State::Authority => {
                if c == Some(b'@') {
                    if at_sign_seen {
                        buffer.splice(0..0, b"%40".iter().copied());
                    }
                    at_sign_seen = true;
                    let split = if password_token_seen {
                        None
                    } else {
                        buffer.iter().position(|&b| b == b':')
                    };
                    match split {
                        Some(i) => {
                            push_encoded(&mut url.username, &buffer[..i], USERINFO);
                            password_token_seen = true;
                            push_encoded(&mut url.password, &buffer[i + 1..], USERINFO);
                        }
                        None if password_token_seen => {
                            push_encoded(&mut url.password, &buffer, USERINFO);
                        }
                        None => push_encoded(&mut url.username, &buffer, USERINFO),
                    }
                    buffer.clear();
                } else if matches!(c, None | Some(b'/' | b'?' | b'#')) || (special && c == Some(b'\\')) {
                    if at_sign_seen && buffer.is_empty() {
                        return Err(Failure);
                    }
                    p -= buffer.len() as isize + 1;
                    buffer.clear();
                    state = State::Host;
                } else if c.is_some() {
                    // Take the run up to the next byte this state decides on.
                    let start = p as usize;
                    let end = input[start..]
                        .iter()
                        .position(|&b| matches!(b, b'@' | b'/' | b'?' | b'#') || (special && b == b'\\'))
                        .map_or(input.len(), |i| start + i);
                    buffer.extend_from_slice(&input[start..end.max(start + 1)]);
                    p = end.max(start + 1) as isize - 1;
                }
            }
            State::Host | State::Hostname => {
                if state_override.is_some() && url.scheme == "file" {
                    p -= 1;
                    state = State::FileHost;
                } else if c == Some(b':') && !inside_brackets {
                    if buffer.is_empty() {
                        return Err(Failure);
                    }
                    if state_override == Some(State::Hostname) {
                        return Err(Failure);
                    }
                    let host = parse_host(&buffer, !special)?;
                    url.host = Some(host);
                    buffer.clear();
                    state = State::Port;
                } else if matches!(c, None | Some(b'/' | b'?' | b'#')) || (special && c == Some(b'\\')) {
                    p -= 1;
                    if buffer.is_empty()
                        && (special || (state_override.is_some() && (url.includes_credentials() || url.port.is_some())))
                    {
                        return Err(Failure);
                    }
                    let host = parse_host(&buffer, !special)?;
                    url.host = Some(host);
                    buffer.clear();
                    state = State::PathStart;
                    if state_override.is_some() {
                        return Ok(());
                    }
                } else if let Some(ch) = c {
                    if ch == b'[' {
                        inside_brackets = true;
                    } else if ch == b']' {
                        inside_brackets = false;
                    }
                    buffer.push(ch);
                }
            }
            State::Port => {
                if let Some(ch) = c.filter(u8::is_ascii_digit) {
                    buffer.push(ch);
                } else if matches!(c, None | Some(b'/' | b'?' | b'#'))
                    || (special && c == Some(b'\\'))
                    || state_override.is_some()
                {
                    if !buffer.is_empty() {
                        let mut port: u32 = 0;
                        for &d in &buffer {
                            port = port * 10 + u32::from(d - b'0');
                            if port > 65535 {
                                return Err(Failure);
                            }
                        }
                        let port = port as u16;
                        url.port = if default_port(&url.scheme) == Some(port) {
                            None
                        } else {
                            Some(port)
                        };
                        buffer.clear();
                        if state_override.is_some() {
                            return Ok(());
                        }
                    }
                    if state_override.is_some() {
                        return Err(Failure);
                    }
                    state = State::PathStart;
                    p -= 1;
                } else {
                    return Err(Failure);
                }
            }
            State::File => {
                url.scheme = "file".to_string();
                special = true;
                url.host = Some(String::new());
                if matches!(c, Some(b'/' | b'\\')) {
                    state = State::FileSlash;
                } else if let Some(base) = base.filter(|b| b.scheme == "file") {
                    url.host = base.host.clone();
                    url.path = base.path.clone();
                    url.query = base.query.clone();
                    match c {
                        Some(b'?') => {
                            url.query = Some(String::new());
                            state = State::Query;
                        }
                        Some(b'#') => {
                            url.fragment = Some(String::new());
                            state = State::Fragment;
                        }
                        Some(_) => {
                            url.query = None;
                            if !starts_with_windows_drive_letter(&input[p as usize..]) {
                                url.shorten_path();
                            } else {
                                url.path = Path::List(String::new());
                            }
                            state = State::Path;
                            p -= 1;
                        }
                        None => {}
                    }
                } else {
                    state = State::Path;
                    p -= 1;
                }
            }
            State::FileSlash => {
                if matches!(c, Some(b'/' | b'\\')) {
                    state = State::FileHost;
                } else {
                    if let Some(base) = base.filter(|b| b.scheme == "file") {
                        url.host = base.host.clone();
                        let rest = input.get(p.max(0) as usize..).unwrap_or_default();
                        if !starts_with_windows_drive_letter(rest)
                            && let Some(first) = base.path.first_segment()
                            && is_normalized_windows_drive_letter(first.as_bytes())
                        {
                            url.push_segment(first.as_bytes());
                        }
                    }
                    state = State::Path;
                    p -= 1;
                }
            }
            State::FileHost => {
                if matches!(c, None | Some(b'/' | b'\\' | b'?' | b'#')) {
                    p -= 1;
                    if state_override.is_none() && is_windows_drive_letter(&buffer) {
                        // The buffer is kept: it becomes the first path segment.
                        state = State::Path;
                    } else if buffer.is_empty() {
                        url.host = Some(String::new());
                        if state_override.is_some() {
                            return Ok(());
                        }
                        state = State::PathStart;
                    } else {
                        let mut host = parse_host(&buffer, !special)?;
                        if host == "localhost" {
                            host.clear();
                        }
                        url.host = Some(host);
                        if state_override.is_some() {
                            return Ok(());
                        }
                        buffer.clear();
                        state = State::PathStart;
                    }
                } else if let Some(ch) = c {
                    buffer.push(ch);
                }
            }
            State::PathStart => {
                if special {
                    state = State::Path;
                    if !matches!(c, Some(b'/' | b'\\')) {
                        p -= 1;
                    }
                } else if state_override.is_none() && c == Some(b'?') {
                    url.query = Some(String::new());
                    state = State::Query;
                } else if state_override.is_none() && c == Some(b'#') {
                    url.fragment = Some(String::new());
                    state = State::Fragment;
                } else if c.is_some() {
                    state = State::Path;
                    if c != Some(b'/') {
                        p -= 1;
                    }
                } else if state_override.is_some() && url.host.is_none() {
                    url.push_segment(b"");
                }
            }
            State::Path => {
                let slashy = c == Some(b'/') || (special && c == Some(b'\\'));
                if c.is_none() || slashy || (state_override.is_none() && matches!(c, Some(b'?' | b'#'))) {
                    if is_double_dot(&buffer) {
                        url.shorten_path();
                        if !slashy {
                            url.push_segment(b"");
                        }
                    } else if is_single_dot(&buffer) {
                        if !slashy {
                            url.push_segment(b"");
                        }
                    } else {
                        if url.scheme == "file" && url.path_is_empty_list() && is_windows_drive_letter(&buffer) {
                            buffer[1] = b':';
                        }
                        url.push_segment(&buffer);
                    }
                    buffer.clear();
                    match c {
                        Some(b'?') if state_override.is_none() => {
                            url.query = Some(String::new());
                            state = State::Query;
                        }
                        Some(b'#') if state_override.is_none() => {
                            url.fragment = Some(String::new());
                            state = State::Fragment;
                        }
                        _ => {}
                    }
                } else if c.is_some() {
                    // Take the run up to the next segment end.
                    let start = p as usize;
                    let end = input[start..]
                        .iter()
                        .position(|&b| {
                            b == b'/'
                                || (special && b == b'\\')
                                || (state_override.is_none() && matches!(b, b'?' | b'#'))
                        })
                        .map_or(input.len(), |i| start + i);
                    for &b in &input[start..end] {
                        if PATH.contains(b) {
                            buffer.extend_from_slice(&[b'%', HEX[(b >> 4) as usize], HEX[(b & 15) as usize]]);
                        } else {
                            buffer.push(b);
                        }
                    }
                    p = end as isize - 1;
                }
            }
            State::OpaquePath => {
                let Path::Opaque(path) = &mut url.path else {
                    return Err(Failure);
                };
                match c {
                    Some(b'?') => {
                        url.query = Some(String::new());
                        state = State::Query;
                    }
                    Some(b'#') => {
                        url.fragment = Some(String::new());
                        state = State::Fragment;
                    }
                    Some(b' ') => {
                        if matches!(remaining(p).first(), Some(b'?' | b'#')) {
                            path.push_str("%20");
                        } else {
                            path.push(' ');
                        }
                    }
                    Some(_) => {
                        // Copy a whole run of plain bytes at once.
                        let start = p as usize;
                        let mut end = start + 1;
                        while end < input.len() && !matches!(input[end], b'?' | b'#' | b' ') {
                            end += 1;
                        }
                        push_encoded(path, &input[start..end], C0_CONTROL);
                        p = end as isize - 1;
                    }
                    None => {}
                }
            }
            State::Query => {
                if c.is_none() || (state_override.is_none() && c == Some(b'#')) {
                    url.query.get_or_insert_with(String::new);
                    if c == Some(b'#') {
                        url.fragment = Some(String::new());
                        state = State::Fragment;
                    }
                } else {
                    // Encode the whole query at once (the standard buffers it
                    // and encodes it at its end; the result is the same).
                    let start = p as usize;
                    let end = if state_override.is_none() {
                        input[start..]
                            .iter()
                            .position(|&b| b == b'#')
                            .map_or(input.len(), |i| start + i)
                    } else {
                        input.len()
                    };
                    let set = if special { SPECIAL_QUERY } else { QUERY };
                    push_encoded(url.query.get_or_insert_with(String::new), &input[start..end], set);
                    p = end as isize - 1;
                }
            }
            State::Fragment => {
                if c.is_some() {
                    let start = p as usize;
                    push_encoded(url.fragment.get_or_insert_with(String::new), &input[start..], FRAGMENT);
                    p = len - 1;
                }
            }
        }
        if p >= len {
            break;
        }
        p += 1;
    }
    Ok(())
}
