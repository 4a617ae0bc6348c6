//! Handler errors: what the client sees and what the log says.

use std::process::Command;
use std::time::Duration;

use outpost_tests::{Outpost, TempDir};

/// Runs `outpost dev PATH`, which must refuse to start; returns its stderr.
fn dev_refuses(path: &std::path::Path) -> String {
    refuses(Outpost::dev_command(&[path], &[]))
}

/// Runs `cmd`, which must refuse to start; returns its stderr.
fn refuses(mut cmd: Command) -> String {
    let out = cmd.output().unwrap();
    assert!(!out.status.success(), "outpost started: {cmd:?}");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn a_syntax_error_is_refused_with_file_line_col() {
    let dir = TempDir::new("syntax");
    dir.write("outpost.toml", "name = \"broken\"\nmain = \"index.js\"\n");
    dir.write(
        "index.js",
        "import { x } from \"./lib.js\";\nexport default { fetch() { return new Response(x); } };\n",
    );
    dir.write("lib.js", "export const x = 1;\nexport const y = ;\n");
    let stderr = dev_refuses(&dir.0);
    assert!(stderr.contains("lib.js:2:18"), "{stderr}");
    assert!(stderr.contains("SyntaxError"), "{stderr}");
}

#[test]
fn an_unresolvable_import_is_refused_with_its_location() {
    let dir = TempDir::new("import");
    let f = dir.write(
        "index.js",
        "\n  import x from \"./missing.js\";\nexport default { fetch() { return new Response(x); } };\n",
    );
    let stderr = dev_refuses(&f);
    assert!(
        stderr.contains("index.js:2:") && stderr.contains("./missing.js"),
        "{stderr}"
    );
}

#[test]
fn outpost_toml_typos_are_errors() {
    let dir = TempDir::new("typo");
    dir.write("outpost.toml", "name = \"t\"\nmian = \"index.js\"\n");
    dir.write("index.js", "export default { fetch() { return new Response('x'); } };");
    let stderr = dev_refuses(&dir.0);
    assert!(stderr.contains("unknown key 'mian'"));
}

#[test]
fn exceptions_answer_500_without_leaking_the_stack() {
    let dir = TempDir::new("throw");
    let f = dir.write(
        "index.js",
        r#"export default { async fetch(req) {
            const path = new URL(req.url).pathname;
            if (path === "/throw") throw new Error("secret detail");
            if (path === "/reject") return Promise.reject(new RangeError("async secret"));
            if (path === "/notresponse") return { status: 200 };
            if (path === "/used") { const r = new Response("spent"); await r.text(); return r; }
            return new Response("fine");
        } };"#,
    );
    let mut op = Outpost::dev(&f, &[]);
    for path in ["/throw", "/reject", "/notresponse", "/used"] {
        let r = op.get("localhost", path);
        assert_eq!(r.status, 500, "{path}");
        assert!(
            !r.text().contains("secret"),
            "{path}: body must not carry the error: {}",
            r.text()
        );
    }
    // The isolate survives its handler's exceptions.
    assert_eq!(op.get("localhost", "/").text(), "fine");
    op.signal_and_wait("TERM", Duration::from_secs(20));
    let log = op.stderr_text();
    assert!(
        log.contains("Error: secret detail") && log.contains("index.js:3:"),
        "stack goes to the log: {log}"
    );
    assert!(log.contains("RangeError: async secret"), "{log}");
    assert!(log.contains("not a Response"), "{log}");
    assert!(
        log.contains("TypeError") && log.contains("used"),
        "a used body is reported: {log}"
    );
}

#[test]
fn a_runaway_handler_is_stopped_and_the_next_request_is_served() {
    let dir = TempDir::new("loop");
    let f = dir.write(
        "index.js",
        r#"let served = 0;
        export default { fetch(req) {
            served++;
            if (new URL(req.url).pathname === "/loop") for (;;) {}
            if (new URL(req.url).pathname === "/eval") return new Response(String(eval("1 + 1")));
            return new Response("served " + served);
        } };"#,
    );
    let mut op = Outpost::dev(&f, &[]);
    let r = op.get("localhost", "/loop");
    assert_eq!((r.status, r.text().as_str()), (503, "outpost: cpu limit exceeded"));
    // A fresh isolate: module state starts over.
    assert_eq!(op.get("localhost", "/").text(), "served 1");
    assert_eq!(op.get("localhost", "/eval").status, 500, "eval is refused");
    op.signal_and_wait("TERM", Duration::from_secs(20));
    let log = op.stderr_text();
    assert!(log.contains("EvalError"), "{log}");
}

#[test]
fn an_unknown_v8_flag_is_refused_by_name() {
    let dir = TempDir::new("v8flag");
    let f = dir.write("index.js", "export default { fetch() { return new Response('x'); } };");
    let mut cmd = Outpost::dev_command(&[&f], &[]);
    cmd.env("OUTPOST_V8_FLAGS", "--expose-gc --no-such-v8-flag");
    let stderr = refuses(cmd);
    assert!(
        stderr.contains("OUTPOST_V8_FLAGS: V8 does not recognise --no-such-v8-flag"),
        "{stderr}"
    );
}
