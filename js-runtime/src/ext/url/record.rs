//! The URL record of the WHATWG URL Standard, its serializer (with the
//! component offsets the JS glue slices getters from) and the URL API
//! setters. The state machine that fills a record is in `parser.rs`.

use std::fmt::Write as _;

use super::parser::{State, USERINFO, encoded, is_normalized_windows_drive_letter, is_special, run};

/// A parsed URL (the standard's "URL record"); the host is kept serialized.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct UrlRecord {
    pub(super) scheme: String,
    pub(super) username: String,
    pub(super) password: String,
    /// Serialized host: `None` is null, `Some("")` the empty host.
    pub(super) host: Option<String>,
    pub(super) port: Option<u16>,
    pub(super) path: Path,
    pub(super) query: Option<String>,
    pub(super) fragment: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Path {
    Opaque(String),
    /// A list of segments, kept serialized: each segment preceded by `/`
    /// (segments never contain `/`), so building and serializing a path
    /// allocates once rather than once per segment.
    List(String),
}

impl Default for Path {
    fn default() -> Self {
        Path::List(String::new())
    }
}

impl Path {
    /// The first segment of a list path.
    pub(super) fn first_segment(&self) -> Option<&str> {
        match self {
            Path::List(s) if !s.is_empty() => s[1..].split('/').next(),
            _ => None,
        }
    }
}

/// Where each component sits in a serialization, for cheap getters in JS.
/// Absent parts are `-1` (port, query, fragment); an absent userinfo or host
/// is an empty range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Offsets {
    /// Index of the `:` ending the scheme.
    pub scheme_end: u32,
    pub username_start: u32,
    pub username_end: u32,
    /// End of the password (equal to `username_end` when there is none; the
    /// password starts after the `:` at `username_end`).
    pub password_end: u32,
    pub host_start: u32,
    pub host_end: u32,
    pub port: i32,
    pub path_start: u32,
    /// Index of `?`, or -1.
    pub query_start: i32,
    /// Index of `#`, or -1.
    pub fragment_start: i32,
}

impl Offsets {
    /// The offsets as the `Int32Array` layout the JS glue reads.
    pub(crate) fn to_array(self) -> [i32; 10] {
        [
            self.scheme_end as i32,
            self.username_start as i32,
            self.username_end as i32,
            self.password_end as i32,
            self.host_start as i32,
            self.host_end as i32,
            self.port,
            self.path_start as i32,
            self.query_start,
            self.fragment_start,
        ]
    }
}

/// The URL API setters, in the numbering the JS glue uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Setter {
    Href = 0,
    Protocol = 1,
    Username = 2,
    Password = 3,
    Host = 4,
    Hostname = 5,
    Port = 6,
    Pathname = 7,
    Search = 8,
    Hash = 9,
}

impl Setter {
    pub(crate) fn from_u32(n: u32) -> Option<Self> {
        Some(match n {
            0 => Setter::Href,
            1 => Setter::Protocol,
            2 => Setter::Username,
            3 => Setter::Password,
            4 => Setter::Host,
            5 => Setter::Hostname,
            6 => Setter::Port,
            7 => Setter::Pathname,
            8 => Setter::Search,
            9 => Setter::Hash,
            _ => return None,
        })
    }
}

impl UrlRecord {
    /// Parses `input` against an optional base URL (the constructor's
    /// algorithm: parse the base first, failing if it fails).
    pub(crate) fn parse(input: &str, base: Option<&str>) -> Option<UrlRecord> {
        let base = match base {
            Some(b) => Some(UrlRecord::parse(b, None)?),
            None => None,
        };
        UrlRecord::parse_with_base(input, base.as_ref())
    }

    pub(crate) fn parse_with_base(input: &str, base: Option<&UrlRecord>) -> Option<UrlRecord> {
        let trimmed = input.trim_matches(|c: char| c <= ' ');
        let mut url = UrlRecord::default();
        run(&mut url, trimmed, base, None).ok()?;
        Some(url)
    }

    /// The serialization and the offsets of its components.
    pub(crate) fn serialize(&self) -> (String, Offsets) {
        let mut out = String::with_capacity(64);
        out.push_str(&self.scheme);
        let scheme_end = out.len() as u32;
        out.push(':');
        let (mut username_start, mut username_end, mut password_end);
        let (host_start, host_end);
        let mut port = -1;
        if let Some(host) = &self.host {
            out.push_str("//");
            username_start = out.len() as u32;
            username_end = username_start;
            password_end = username_start;
            if !self.username.is_empty() || !self.password.is_empty() {
                out.push_str(&self.username);
                username_end = out.len() as u32;
                password_end = username_end;
                if !self.password.is_empty() {
                    out.push(':');
                    out.push_str(&self.password);
                    password_end = out.len() as u32;
                }
                out.push('@');
            }
            host_start = out.len() as u32;
            out.push_str(host);
            host_end = out.len() as u32;
            if let Some(p) = self.port {
                let _ = write!(out, ":{p}");
                port = i32::from(p);
            }
        } else {
            username_start = out.len() as u32;
            username_end = username_start;
            password_end = username_start;
            host_start = username_start;
            host_end = username_start;
        }
        // More than one segment, the first empty: "/." keeps the path from
        // reading as an authority.
        if self.host.is_none()
            && let Path::List(segments) = &self.path
            && segments.starts_with("//")
        {
            out.push_str("/.");
        }
        let path_start = out.len() as u32;
        match &self.path {
            Path::Opaque(p) => out.push_str(p),
            Path::List(segments) => out.push_str(segments),
        }
        let mut query_start = -1;
        if let Some(q) = &self.query {
            query_start = out.len() as i32;
            out.push('?');
            out.push_str(q);
        }
        let mut fragment_start = -1;
        if let Some(f) = &self.fragment {
            fragment_start = out.len() as i32;
            out.push('#');
            out.push_str(f);
        }
        if username_start == username_end && password_end == username_end {
            // No userinfo: keep the ranges empty at the host.
            username_start = host_start;
            username_end = host_start;
            password_end = host_start;
        }
        let offsets = Offsets {
            scheme_end,
            username_start,
            username_end,
            password_end,
            host_start,
            host_end,
            port,
            path_start,
            query_start,
            fragment_start,
        };
        (out, offsets)
    }

    /// Whether the scheme is one of the standard's special schemes.
    pub(crate) fn is_special(&self) -> bool {
        is_special(&self.scheme)
    }

    pub(super) fn has_opaque_path(&self) -> bool {
        matches!(self.path, Path::Opaque(_))
    }

    pub(super) fn includes_credentials(&self) -> bool {
        !self.username.is_empty() || !self.password.is_empty()
    }

    pub(super) fn cannot_have_credentials_or_port(&self) -> bool {
        matches!(self.host.as_deref(), None | Some("")) || self.scheme == "file"
    }

    pub(super) fn shorten_path(&mut self) {
        let Path::List(segments) = &mut self.path else { return };
        let Some(last) = segments.rfind('/') else { return };
        if self.scheme == "file" && last == 0 && is_normalized_windows_drive_letter(&segments.as_bytes()[1..]) {
            return;
        }
        segments.truncate(last);
    }

    /// Appends a segment to the (list) path.
    pub(super) fn push_segment(&mut self, segment: &[u8]) {
        if let Path::Opaque(_) = self.path {
            self.path = Path::List(String::new());
        }
        if let Path::List(s) = &mut self.path {
            s.push('/');
            // Segments are ASCII: the path state percent-encodes the rest.
            s.push_str(std::str::from_utf8(segment).unwrap_or_default());
        }
    }

    /// Whether the path is a list with no segments.
    pub(super) fn path_is_empty_list(&self) -> bool {
        matches!(&self.path, Path::List(s) if s.is_empty())
    }

    /// Runs one of the URL API setters (<https://url.spec.whatwg.org/#api>).
    /// Returns false when the href setter's value does not parse (the caller
    /// throws); every other setter silently ignores bad values.
    pub(crate) fn set(&mut self, setter: Setter, value: &str) -> bool {
        match setter {
            Setter::Href => match UrlRecord::parse_with_base(value, None) {
                Some(url) => *self = url,
                None => return false,
            },
            Setter::Protocol => {
                let mut input = String::with_capacity(value.len() + 1);
                input.push_str(value);
                input.push(':');
                let _ = run(self, &input, None, Some(State::SchemeStart));
            }
            Setter::Username => {
                if !self.cannot_have_credentials_or_port() {
                    self.username = encoded(value.as_bytes(), USERINFO);
                }
            }
            Setter::Password => {
                if !self.cannot_have_credentials_or_port() {
                    self.password = encoded(value.as_bytes(), USERINFO);
                }
            }
            Setter::Host => {
                if !self.has_opaque_path() {
                    let _ = run(self, value, None, Some(State::Host));
                }
            }
            Setter::Hostname => {
                if !self.has_opaque_path() {
                    let _ = run(self, value, None, Some(State::Hostname));
                }
            }
            Setter::Port => {
                if !self.cannot_have_credentials_or_port() {
                    if value.is_empty() {
                        self.port = None;
                    } else {
                        let _ = run(self, value, None, Some(State::Port));
                    }
                }
            }
            Setter::Pathname => {
                if !self.has_opaque_path() {
                    self.path = Path::List(String::new());
                    let _ = run(self, value, None, Some(State::PathStart));
                }
            }
            Setter::Search => {
                if value.is_empty() {
                    self.query = None;
                } else {
                    let input = value.strip_prefix('?').unwrap_or(value);
                    self.query = Some(String::new());
                    let _ = run(self, input, None, Some(State::Query));
                }
            }
            Setter::Hash => {
                if value.is_empty() {
                    self.fragment = None;
                } else {
                    let input = value.strip_prefix('#').unwrap_or(value);
                    self.fragment = Some(String::new());
                    let _ = run(self, input, None, Some(State::Fragment));
                }
            }
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::{Setter, UrlRecord};

    fn href(input: &str, base: Option<&str>) -> Option<String> {
        UrlRecord::parse(input, base).map(|u| u.serialize().0)
    }

    #[test]
    fn parses_the_common_cases() {
        assert_eq!(
            href("https://EXAMPLE.com/a/./b/../c?x#y", None).unwrap(),
            "https://example.com/a/c?x#y"
        );
        assert_eq!(href("../d", Some("http://h/a/b/c")).unwrap(), "http://h/a/d");
        assert_eq!(href("http://[::1]:8080/", None).unwrap(), "http://[::1]:8080/");
        assert_eq!(href("http://0x7f.1/", None).unwrap(), "http://127.0.0.1/");
        assert_eq!(href("http://münchen.de/", None).unwrap(), "http://xn--mnchen-3ya.de/");
        assert_eq!(href("file:///C|/x", None).unwrap(), "file:///C:/x");
        assert_eq!(href("sc:/.//p", None).unwrap(), "sc:/.//p");
        assert_eq!(
            href("non-special:opaque  ?hi", None).unwrap(),
            "non-special:opaque %20?hi"
        );
        assert_eq!(href("http://a:b@h:80/", None).unwrap(), "http://a:b@h/");
        assert!(href("http://", None).is_none());
        assert!(href("x", None).is_none());
        assert!(href("http://h:65536/", None).is_none());
    }

    #[test]
    fn offsets_locate_components() {
        let url = UrlRecord::parse("https://u:p@h.example:8443/p/q?s=1#f", None).unwrap();
        let (s, o) = url.serialize();
        let at = |a: u32, b: u32| &s[a as usize..b as usize];
        assert_eq!(at(0, o.scheme_end), "https");
        assert_eq!(at(o.username_start, o.username_end), "u");
        assert_eq!(at(o.username_end + 1, o.password_end), "p");
        assert_eq!(at(o.host_start, o.host_end), "h.example");
        assert_eq!(o.port, 8443);
        assert_eq!(at(o.path_start, o.query_start as u32), "/p/q");
        assert_eq!(at(o.query_start as u32, o.fragment_start as u32), "?s=1");
        assert_eq!(&s[o.fragment_start as usize..], "#f");
    }

    #[test]
    fn reparsing_a_serialization_is_stable() {
        for input in [
            "sc:/.//p",
            "file://host/C:/x",
            "web+demo:/.//not-a-host/",
            "a:x %20?q",
            "http://h/%2e%2Ex",
        ] {
            let first = href(input, None).unwrap();
            assert_eq!(href(&first, None).unwrap(), first, "{input}");
        }
    }

    #[test]
    fn setters_follow_the_standard() {
        let mut url = UrlRecord::parse("http://example.net:8080/path", None).unwrap();
        url.set(Setter::Host, "example.com:");
        assert_eq!(url.serialize().0, "http://example.com:8080/path");
        url.set(Setter::Protocol, "https");
        url.set(Setter::Port, "443");
        assert_eq!(url.serialize().0, "https://example.com/path");
        url.set(Setter::Protocol, "foo");
        assert_eq!(url.serialize().0, "https://example.com/path");
        url.set(Setter::Search, "?a b");
        url.set(Setter::Hash, "x y");
        assert_eq!(url.serialize().0, "https://example.com/path?a%20b#x%20y");
        assert!(!url.set(Setter::Href, "nope"));
    }

    /// Random inputs built from the characters the parser branches on:
    /// nothing panics, offsets stay on char boundaries, a serialization
    /// re-parses to itself, and setters keep the URL parseable.
    #[test]
    fn random_inputs_are_handled() {
        const PIECES: &[&str] = &[
            "http:",
            "https:",
            "file:",
            "sc:",
            "blob:",
            "data:",
            "/",
            "//",
            "\\",
            "?",
            "#",
            "@",
            ":",
            ".",
            "..",
            "%2e",
            "%",
            "[",
            "]",
            "::1",
            "C:",
            "c|",
            "localhost",
            "a",
            "é",
            "xn--",
            "0x7f",
            "1.2",
            " ",
            "\t",
            "\u{0}",
            "%41",
            "80",
            "65536",
            "😀",
            "=",
            "&",
        ];
        let setters = [
            Setter::Protocol,
            Setter::Username,
            Setter::Password,
            Setter::Host,
            Setter::Hostname,
            Setter::Port,
            Setter::Pathname,
            Setter::Search,
            Setter::Hash,
        ];
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let mut make = |n: u64| -> String {
            (0..n)
                .map(|_| PIECES[(next() % PIECES.len() as u64) as usize])
                .collect()
        };
        let bases = [
            None,
            Some("http://h/a/b"),
            Some("file:///C:/x/y"),
            Some("sc:opaque"),
            Some("sc://h/p"),
        ];
        for i in 0..20_000u64 {
            let input = make(1 + i % 9);
            let base = bases[(i % bases.len() as u64) as usize];
            let Some(mut url) = UrlRecord::parse(&input, base) else {
                continue;
            };
            let (first, offsets) = url.serialize();
            for (k, o) in offsets.to_array().into_iter().enumerate() {
                // Index 6 is the port number, not an offset.
                assert!(
                    k == 6 || o < 0 || first.is_char_boundary(o as usize),
                    "{input:?}: {offsets:?}"
                );
            }
            assert_eq!(
                href(&first, None).as_deref(),
                Some(first.as_str()),
                "{input:?} against {base:?}"
            );
            let value = make(i % 4);
            url.set(setters[(i % setters.len() as u64) as usize], &value);
            let (after, _) = url.serialize();
            assert_eq!(
                href(&after, None).as_deref(),
                Some(after.as_str()),
                "{first:?} set {value:?}"
            );
        }
    }
}
