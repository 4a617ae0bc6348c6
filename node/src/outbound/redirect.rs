//! Redirects of outbound `fetch()`: where a `Location` header points, and
//! how the request changes on the way (the Fetch Standard's "HTTP-redirect
//! fetch", <https://fetch.spec.whatwg.org/#http-redirect-fetch>).
//!
//! `Location` is resolved against the current URL by RFC 3986 §5.2 with the
//! WHATWG URL parser's leniencies for `http(s)` that servers rely on:
//! surrounding spaces and embedded tabs or newlines are dropped, `\` reads
//! as `/` before the query, bytes a URL cannot hold are percent-encoded, and
//! `http:path` is relative. The node crate has no WHATWG URL parser of its
//! own; the JS side has already normalised the first URL of every fetch.

use http::Uri;

/// Statuses that redirect (with a `Location`).
pub fn is_redirect(status: u16) -> bool {
    matches!(status, 301 | 302 | 303 | 307 | 308)
}

/// Header names of a request body, dropped when a redirect turns the
/// request into a bodiless GET.
pub const BODY_HEADERS: &[&str] = &[
    "content-encoding",
    "content-language",
    "content-location",
    "content-type",
    "content-length",
    "transfer-encoding",
];

/// Credentials that must not follow a redirect to another origin.
pub const CROSS_ORIGIN_DROPPED: &[&str] = &["authorization", "proxy-authorization", "cookie"];

/// Whether a redirect with `status` turns a `method` request into a GET
/// without a body.
pub fn becomes_get(status: u16, method: &str) -> bool {
    (matches!(status, 301 | 302) && method == "POST") || (status == 303 && method != "GET" && method != "HEAD")
}

/// `(scheme, host, port)` of an `http(s)` URI, the port defaulted.
pub fn origin(uri: &Uri) -> (String, String, u16) {
    let scheme = uri.scheme_str().unwrap_or("http").to_ascii_lowercase();
    let default = if scheme == "https" { 443 } else { 80 };
    let host = uri.host().unwrap_or("").to_ascii_lowercase();
    (scheme, host, uri.port_u16().unwrap_or(default))
}

/// The absolute URL `location` points to from `base` (an absolute http(s)
/// URI), without a fragment.
pub fn resolve(base: &Uri, location: &[u8]) -> Result<Uri, String> {
    let reference = clean(location);
    let base_scheme = base.scheme_str().unwrap_or("http").to_ascii_lowercase();
    let base_authority = base.authority().map(|a| a.as_str()).unwrap_or("");
    let base_path = base.path();
    let base_query = base.query();

    let (scheme, rest) = match split_scheme(&reference) {
        Some((scheme, rest)) => (scheme.to_ascii_lowercase(), rest),
        None => (base_scheme.clone(), reference.as_str()),
    };
    if scheme != "http" && scheme != "https" {
        return Err(format!("redirect to a {scheme}: URL"));
    }
    // `http:path` on an http base is relative (WHATWG); any other scheme
    // change needs an authority.
    let explicit_authority = rest.starts_with("//");
    let relative_to_base = !explicit_authority && scheme == base_scheme;
    if !explicit_authority && !relative_to_base {
        return Err("redirect location has no host".into());
    }
    let (authority, path, query) = if explicit_authority {
        let after = &rest[2..];
        let end = after.find(['/', '?']).unwrap_or(after.len());
        let (authority, tail) = after.split_at(end);
        let (path, query) = split_query(tail);
        (
            authority.to_string(),
            remove_dot_segments(if path.is_empty() { "/" } else { path }),
            query,
        )
    } else {
        let (path, query) = split_query(rest);
        if path.is_empty() {
            let query = query.or(base_query.map(str::to_string).filter(|_| rest.is_empty()));
            (base_authority.to_string(), base_path.to_string(), query)
        } else if path.starts_with('/') {
            (base_authority.to_string(), remove_dot_segments(path), query)
        } else {
            let dir = &base_path[..base_path.rfind('/').map_or(0, |i| i + 1)];
            let merged = if dir.is_empty() {
                format!("/{path}")
            } else {
                format!("{dir}{path}")
            };
            (base_authority.to_string(), remove_dot_segments(&merged), query)
        }
    };
    if authority.is_empty() {
        return Err("redirect location has no host".into());
    }
    let mut out = format!("{scheme}://{authority}{path}");
    if let Some(q) = query {
        out.push('?');
        out.push_str(&q);
    }
    let uri: Uri = out
        .parse()
        .map_err(|_| "redirect location is not a valid URL".to_string())?;
    if uri.host().is_none_or(str::is_empty) {
        return Err("redirect location has no host".into());
    }
    Ok(uri)
}

/// The location as URL text: trimmed, tabs and newlines removed, fragment
/// dropped, `\` → `/` before the query, odd bytes percent-encoded.
fn clean(location: &[u8]) -> String {
    let trimmed = location.trim_ascii();
    let mut out = String::with_capacity(trimmed.len());
    let mut in_query = false;
    for &b in trimmed {
        match b {
            b'\t' | b'\n' | b'\r' => {}
            b'#' => break,
            b'?' => {
                in_query = true;
                out.push('?');
            }
            b'\\' if !in_query => out.push('/'),
            b'%' | b'!' | b'$' | b'&' | b'\'' | b'(' | b')' | b'*' | b'+' | b',' | b';' | b'=' | b':' | b'@' | b'/'
            | b'[' | b']' | b'-' | b'.' | b'_' | b'~' => out.push(b as char),
            b if b.is_ascii_alphanumeric() => out.push(b as char),
            b => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// `scheme:` at the start of `s`, if it has one.
fn split_scheme(s: &str) -> Option<(&str, &str)> {
    let colon = s.find(':')?;
    let scheme = &s[..colon];
    let mut chars = scheme.chars();
    let first = chars.next()?;
    (first.is_ascii_alphabetic() && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.')))
        .then(|| (scheme, &s[colon + 1..]))
}

fn split_query(s: &str) -> (&str, Option<String>) {
    match s.split_once('?') {
        Some((path, query)) => (path, Some(query.to_string())),
        None => (s, None),
    }
}

/// RFC 3986 §5.2.4 on an absolute path.
fn remove_dot_segments(path: &str) -> String {
    let mut out: Vec<&str> = Vec::new();
    let segments: Vec<&str> = path.split('/').skip(1).collect();
    let last = segments.len().saturating_sub(1);
    for (i, seg) in segments.iter().enumerate() {
        match *seg {
            "." | "%2e" | "%2E" => {
                if i == last {
                    out.push("");
                }
            }
            ".." | ".%2e" | ".%2E" | "%2e." | "%2E." | "%2e%2e" | "%2E%2E" | "%2e%2E" | "%2E%2e" => {
                out.pop();
                if i == last {
                    out.push("");
                }
            }
            s => out.push(s),
        }
    }
    format!("/{}", out.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn join(base: &str, location: &str) -> Result<String, String> {
        resolve(&base.parse().unwrap(), location.as_bytes()).map(|u| u.to_string())
    }

    #[test]
    fn locations_resolve_as_browsers_do() {
        let base = "http://a.test/b/c/d;p?q";
        let table = [
            ("https://other.test/x", "https://other.test/x"),
            ("//other.test:8080/x?y", "http://other.test:8080/x?y"),
            ("//other.test", "http://other.test/"),
            ("/g", "http://a.test/g"),
            ("g", "http://a.test/b/c/g"),
            ("./g", "http://a.test/b/c/g"),
            ("g/", "http://a.test/b/c/g/"),
            ("?y", "http://a.test/b/c/d;p?y"),
            ("g?y", "http://a.test/b/c/g?y"),
            ("#s", "http://a.test/b/c/d;p?q"),
            ("", "http://a.test/b/c/d;p?q"),
            (".", "http://a.test/b/c/"),
            ("..", "http://a.test/b/"),
            ("../g", "http://a.test/b/g"),
            ("../../../../g", "http://a.test/g"),
            ("/./g/../h", "http://a.test/h"),
            ("g;x=1/../y", "http://a.test/b/c/y"),
            ("http:g", "http://a.test/b/c/g"),
            ("  /spaced  ", "http://a.test/spaced"),
            ("/a\tb\nc", "http://a.test/abc"),
            ("\\\\evil.test\\x", "http://evil.test/x"),
            ("/q?a\\b", "http://a.test/q?a%5Cb"),
            ("/caf\u{e9} x", "http://a.test/caf%C3%A9%20x"),
            ("HTTPS://Up.Test/", "https://Up.Test/"),
            ("http://127.0.0.1:9/", "http://127.0.0.1:9/"),
            ("http://[::1]:9/x", "http://[::1]:9/x"),
        ];
        for (location, want) in table {
            assert_eq!(join(base, location).as_deref(), Ok(want), "{location:?}");
        }
    }

    #[test]
    fn locations_that_cannot_be_followed_are_errors() {
        let base = "https://a.test/";
        assert_eq!(join(base, "ftp://x.test/").unwrap_err(), "redirect to a ftp: URL");
        assert_eq!(
            join(base, "javascript:alert(1)").unwrap_err(),
            "redirect to a javascript: URL"
        );
        assert_eq!(join(base, "data:,x").unwrap_err(), "redirect to a data: URL");
        assert_eq!(
            join(base, "http:relative").unwrap_err(),
            "redirect location has no host"
        );
        assert_eq!(join(base, "http:///x").unwrap_err(), "redirect location has no host");
        assert!(join(base, "http://a b.test/").is_err());
    }

    #[test]
    fn method_and_origin_rules() {
        assert!(becomes_get(301, "POST") && becomes_get(302, "POST") && becomes_get(303, "PUT"));
        assert!(!becomes_get(301, "PUT") && !becomes_get(307, "POST") && !becomes_get(303, "HEAD"));
        assert!(is_redirect(308) && !is_redirect(304) && !is_redirect(300));
        let o = |s: &str| origin(&s.parse().unwrap());
        assert_eq!(o("https://A.test/x"), ("https".into(), "a.test".into(), 443));
        assert_eq!(o("http://a.test:8080/"), ("http".into(), "a.test".into(), 8080));
        assert_eq!(o("http://[::1]/"), ("http".into(), "[::1]".into(), 80));
    }
}
