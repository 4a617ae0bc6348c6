//! End-to-end checks of the paths the JS specs cannot reach (they only get
//! a bodiless GET): request bodies handed in by Rust, whole and streamed,
//! and outbound `fetch()` through a fake host.

use std::rc::Rc;
use std::time::Instant;

use bytes::Bytes;
use futures::channel::mpsc;

use crate::{
    Body, Bundle, FetchError, HeaderList, Host, HttpRequest, HttpResponse, LocalFuture, LogLevel, Runtime,
    RuntimeOptions, StdHost,
};

/// A host whose outbound fetch echoes the request as JSON, streamed in two chunks.
struct EchoHost {
    inner: StdHost,
}

impl Host for EchoHost {
    fn log(&self, level: LogLevel, message: &str) {
        self.inner.log(level, message);
        eprintln!("[{}] {message}", level.as_str());
    }

    fn sleep_until(&self, deadline: Instant) -> LocalFuture<()> {
        self.inner.sleep_until(deadline)
    }

    fn fetch(&self, request: HttpRequest) -> LocalFuture<Result<HttpResponse, FetchError>> {
        Box::pin(async move {
            let body = match request.body {
                Body::Full(b) => String::from_utf8_lossy(&b).into_owned(),
                _ => String::new(),
            };
            let echo = serde_json::json!({
                "method": request.method,
                "url": request.url,
                "headers": request.headers.iter().collect::<Vec<_>>(),
                "body": body,
            })
            .to_string();
            let (head, tail) = echo.split_at(echo.len() / 2);
            Ok(HttpResponse {
                status: 201,
                headers: http::HeaderMap::from_iter([(
                    http::header::CONTENT_TYPE,
                    http::HeaderValue::from_static("application/json"),
                )]),
                body: Body::Stream(stream_of(&[head, tail])),
            })
        })
    }
}

/// A closed body stream holding `chunks`.
fn stream_of(chunks: &[&str]) -> mpsc::Receiver<Result<Bytes, String>> {
    let (mut tx, rx) = mpsc::channel(chunks.len());
    for c in chunks {
        tx.try_send(Ok(Bytes::copy_from_slice(c.as_bytes())))
            .expect("room in the channel");
    }
    rx
}

fn run(code: &str, request: HttpRequest) -> (u16, String) {
    let bundle = Bundle::single("main.js", code);
    let host = Rc::new(EchoHost { inner: StdHost });
    let mut rt = Runtime::new(&bundle, host, RuntimeOptions::default()).expect("the module loads");
    let response = rt.call(request).expect("a response");
    (response.status, response.text())
}

fn post(body: Body, content_type: &str) -> HttpRequest {
    HttpRequest {
        method: "POST".into(),
        url: "http://t.test/path?q=1".into(),
        headers: [("Content-Type", content_type), ("X-Extra", "1")].into(),
        body,
    }
}

#[test]
fn whole_request_body_is_read_and_cloned() {
    let code = r#"export default { async fetch(req) {
        const copy = req.clone();
        const text = await req.text();
        const bytes = await copy.bytes();
        return new Response(`${req.method} ${req.headers.get("x-extra")} ${text} ${bytes.length} ${req.bodyUsed}`);
    } };"#;
    let (status, text) = run(code, post(Body::Full(Bytes::from_static(b"hello")), "text/plain"));
    assert_eq!((status, text.as_str()), (200, "POST 1 hello 5 true"));
}

/// Whole bodies that are UTF-8 text reach JS as a string, others as bytes:
/// either way every reading gives back exactly the bytes that were sent
/// (a leading BOM included; `text()` alone drops it, as decoding does).
#[test]
fn whole_request_bodies_read_back_byte_for_byte() {
    let code = r#"const hex = (b) => Array.from(new Uint8Array(b), (x) => x.toString(16).padStart(2, "0")).join("");
    export default { async fetch(req) {
        const copy = req.clone();
        const streamed = req.clone();
        const chunks = [];
        for await (const c of streamed.body) chunks.push(hex(c));
        const text = await req.text();
        return new Response(["", hex(new TextEncoder().encode(text)), hex(await copy.arrayBuffer()), chunks.join("")].join("|"));
    } };"#;
    let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
    let bom_text = "\u{feff}h\u{e9}llo \u{2713} \u{1f600}".as_bytes();
    let invalid: &[u8] = b"a\xff\xfeb\xc3";
    for (body, decoded) in [
        (bom_text, &bom_text[3..]),
        (invalid, "a\u{fffd}\u{fffd}b\u{fffd}".as_bytes()),
        (b"".as_slice(), b"".as_slice()),
    ] {
        let (status, text) = run(
            code,
            post(Body::Full(Bytes::copy_from_slice(body)), "application/octet-stream"),
        );
        let expected = format!("|{}|{}|{}", hex(decoded), hex(body), hex(body));
        assert_eq!((status, text), (200, expected), "{body:?}");
    }
    let code = r#"export default { async fetch(req) {
        const v = await req.json();
        return new Response(`${v.name.length} ${v.name} ${v.n + 1}`);
    } };"#;
    let body = "{\"name\":\"\u{e9}t\u{e9} \u{2600}\",\"n\":41}";
    let (status, text) = run(
        code,
        post(Body::Full(Bytes::from_static(body.as_bytes())), "application/json"),
    );
    assert_eq!((status, text.as_str()), (200, "5 \u{e9}t\u{e9} \u{2600} 42"));
}

/// `json()` of a whole text body parses it at once: its promise is
/// settled when returned (its reaction runs before one queued after it),
/// the body is used, bad JSON rejects with SyntaxError, a second read with
/// TypeError, and a leading BOM is dropped.
#[test]
fn json_of_a_whole_text_body_is_settled_at_once() {
    let code = r#"export default { async fetch(req) {
        const order = [];
        const p = req.json();
        p.then(() => order.push("json"), () => order.push("json"));
        Promise.resolve().then(() => order.push("tick"));
        const used = req.bodyUsed;
        const value = await p.then((v) => JSON.stringify(v), (e) => e.name);
        const again = await req.json().then(() => "read twice", (e) => e.name);
        return new Response([order.join(","), used, value, again].join(" "));
    } };"#;
    for (body, expected) in [
        (
            "\u{feff}{\"a\":[1,\"\u{e9}\"]}",
            "json,tick true {\"a\":[1,\"\u{e9}\"]} TypeError",
        ),
        ("{\"a\":", "json,tick true SyntaxError TypeError"),
    ] {
        let (status, text) = run(
            code,
            post(Body::Full(Bytes::copy_from_slice(body.as_bytes())), "application/json"),
        );
        assert_eq!((status, text.as_str()), (200, expected), "{body:?}");
    }
}

#[test]
fn streamed_request_body_arrives_in_chunks() {
    let code = r#"export default { async fetch(req) {
        const seen = [];
        for await (const chunk of req.body) seen.push(new TextDecoder().decode(chunk));
        return new Response(seen.join("|"));
    } };"#;
    let (status, text) = run(code, post(Body::Stream(stream_of(&["ab", "cd", "ef"])), "text/plain"));
    assert_eq!((status, text.as_str()), (200, "ab|cd|ef"));
}

#[test]
fn streamed_multipart_body_parses_into_form_data() {
    let body = "--B\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nvalue\r\n--B\r\n\
                Content-Disposition: form-data; name=\"f\"; filename=\"f.txt\"\r\nContent-Type: text/x\r\n\r\nfile body\r\n--B--\r\n";
    let (first, second) = body.split_at(40);
    let code = r#"export default { async fetch(req) {
        const fd = await req.formData();
        const f = fd.get("f");
        return new Response(`${fd.get("a")} ${f.name} ${f.type} ${await f.text()}`);
    } };"#;
    let (status, text) = run(
        code,
        post(
            Body::Stream(stream_of(&[first, second])),
            "multipart/form-data; boundary=B",
        ),
    );
    assert_eq!((status, text.as_str()), (200, "value f.txt text/x file body"));
}

#[test]
fn echoed_request_body_streams_back_to_the_client() {
    let code = r#"export default { async fetch(req) {
        return new Response(req.body, { headers: { "content-type": "text/plain" } });
    } };"#;
    let (status, text) = run(code, post(Body::Stream(stream_of(&["x", "y", "z"])), "text/plain"));
    assert_eq!((status, text.as_str()), (200, "xyz"));
}

#[test]
fn outbound_fetch_sends_method_headers_and_body() {
    let code = r#"export default { async fetch() {
        const fd = new URLSearchParams({ k: "v w" });
        const res = await fetch("https://origin.test/x#frag", { method: "PUT", body: fd, headers: { "x-h": "1" } });
        const echo = await res.json();
        return Response.json({ status: res.status, url: res.url, type: res.headers.get("content-type"), echo });
    } };"#;
    let request = HttpRequest {
        method: "GET".into(),
        url: "http://t.test/".into(),
        headers: HeaderList::default(),
        body: Body::Empty,
    };
    let (status, text) = run(code, request);
    assert_eq!(status, 200, "{text}");
    let v: serde_json::Value = serde_json::from_str(&text).expect("json");
    assert_eq!(v["status"], 201);
    assert_eq!(v["url"], "https://origin.test/x");
    assert_eq!(v["type"], "application/json");
    assert_eq!(v["echo"]["method"], "PUT");
    assert_eq!(v["echo"]["url"], "https://origin.test/x", "no fragment is sent");
    assert_eq!(v["echo"]["body"], "k=v+w");
    let headers = v["echo"]["headers"].as_array().expect("headers");
    assert!(headers.iter().any(|h| h[0] == "x-h" && h[1] == "1"), "{headers:?}");
    assert!(
        headers
            .iter()
            .any(|h| h[0] == "content-type" && h[1] == "application/x-www-form-urlencoded;charset=UTF-8"),
        "{headers:?}"
    );
}

#[test]
fn a_fetched_response_can_be_returned_as_is() {
    let code =
        r#"export default { fetch(req) { return fetch("https://origin.test/", { method: "POST", body: "b" }); } };"#;
    let request = HttpRequest {
        method: "GET".into(),
        url: "http://t.test/".into(),
        headers: HeaderList::default(),
        body: Body::Empty,
    };
    let (status, text) = run(code, request);
    assert_eq!(status, 201);
    assert!(text.starts_with('{') && text.contains(r#""body":"b""#), "{text}");
}

#[test]
fn a_dispatched_requests_headers_split_lazily_in_arrival_order() {
    // The header list crosses into V8 as one `name:value` block; values
    // holding ':' and empty values survive the split, for the request and
    // for its clone, whose headers are read before the original's.
    let code = r#"export default { fetch(req) {
        const c = req.clone();
        return Response.json({ clone: [...c.headers], orig: [...req.headers], host: req.headers.get("host") });
    } };"#;
    let request = HttpRequest {
        method: "GET".into(),
        url: "http://t.test/".into(),
        headers: [("host", "t.test:8787"), ("x-colons", "a:b::c"), ("x-empty", "")].into(),
        body: Body::Empty,
    };
    let (status, text) = run(code, request);
    assert_eq!(status, 200, "{text}");
    let v: serde_json::Value = serde_json::from_str(&text).expect("json");
    let expected = serde_json::json!([["host", "t.test:8787"], ["x-colons", "a:b::c"], ["x-empty", ""]]);
    assert_eq!(v["orig"], expected);
    assert_eq!(v["clone"], expected);
    assert_eq!(v["host"], "t.test:8787");
}

/// An incoming request forwarded whole with `fetch(req)` before anything
/// read its headers sends them all: `fetch` copies them into its own
/// `Request`, which fetches the list from the host.
#[test]
fn a_forwarded_request_takes_its_unread_headers_along() {
    let code = r#"export default { async fetch(req) {
        const echo = await (await fetch(req)).json();
        return Response.json(echo.headers);
    } };"#;
    let request = HttpRequest {
        method: "GET".into(),
        url: "http://t.test/".into(),
        headers: [("x-a", "1"), ("x-colons", "a:b")].into(),
        body: Body::Empty,
    };
    let (status, text) = run(code, request);
    assert_eq!((status, text.as_str()), (200, r#"[["x-a","1"],["x-colons","a:b"]]"#));
}

/// What Rust sends is the header list as JS last left it: the body's
/// default content type alone for a response nobody asked the headers of,
/// every change made through `response.headers` (on the response or on a
/// clone, apart) otherwise.
#[test]
fn responses_send_the_headers_js_last_left() {
    let cases = [
        (
            r#"new Response("x")"#,
            vec![("content-type", "text/plain;charset=UTF-8")],
        ),
        ("new Response(null)", vec![]),
        (
            r#"(() => { const r = new Response("x"); r.headers.set("x-a", "1"); return r; })()"#,
            vec![("content-type", "text/plain;charset=UTF-8"), ("x-a", "1")],
        ),
        (
            r#"(() => { const r = new Response("x"); const c = r.clone(); c.headers.append("x-b", "2");
                r.headers.delete("content-type"); return c; })()"#,
            vec![("content-type", "text/plain;charset=UTF-8"), ("x-b", "2")],
        ),
        (
            r#"(() => { const r = new Response("x"); r.clone().headers.append("x-b", "2"); return r; })()"#,
            vec![("content-type", "text/plain;charset=UTF-8")],
        ),
        (
            r#"new Response("x", { headers: { "Content-Type": "a/b", "X-C": "3" } })"#,
            vec![("content-type", "a/b"), ("x-c", "3")],
        ),
        (r#"Response.json({ a: 1 })"#, vec![("content-type", "application/json")]),
        (
            r#"new Response(new Blob(["x"], { type: "image/png" }), { status: 201 })"#,
            vec![("content-type", "image/png")],
        ),
    ];
    for (expr, expected) in cases {
        let code = format!("export default {{ fetch() {{ return {expr}; }} }};");
        let bundle = Bundle::single("main.js", &code);
        let host = Rc::new(EchoHost { inner: StdHost });
        let mut rt = Runtime::new(&bundle, host, RuntimeOptions::default()).expect("the module loads");
        let request = HttpRequest {
            method: "GET".into(),
            url: "http://t.test/".into(),
            headers: HeaderList::default(),
            body: Body::Empty,
        };
        let response = rt.call(request).expect("a response");
        let got: Vec<(&str, &str)> = response.headers.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        assert_eq!(got, expected, "{expr}");
    }
}
