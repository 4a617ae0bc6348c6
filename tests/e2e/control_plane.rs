//! `outpost control-plane` and the deploy commands: the real binary, a real
//! SQLite store in a temporary folder, the CLI and raw HTTP against the API.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use outpost_tests::{Response, TempDir, outpost_bin, parse_response, request};
use serde_json::{Value, json};

use crate::cp_support::{self, admin_token, kill, ok, path_str, spawn_with_lines, text};

/// A running control plane; killed when dropped.
struct ControlPlane {
    child: Child,
    /// `http://ADDR` or `https://ADDR` as printed.
    url: String,
    addr: SocketAddr,
    data: PathBuf,
    admin: String,
    join: String,
}

impl ControlPlane {
    /// Starts `outpost control-plane --data DATA --api ADDR` and waits for
    /// its `api on …` and `join token: …` lines.
    fn start(data: &Path, api: &str) -> ControlPlane {
        let (child, rx) = spawn_with_lines(
            Command::new(outpost_bin())
                .args(["control-plane", "--data"])
                .arg(data)
                .args(["--api", api]),
        );
        let deadline = Instant::now() + Duration::from_secs(60);
        let (mut url, mut join) = (None, None);
        while url.is_none() || join.is_none() {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = rx
                .recv_timeout(left)
                .expect("control plane did not print its api and join token lines");
            if let Some(u) = line.strip_prefix("api on ") {
                url = Some(u.trim().to_string());
            } else if let Some(t) = line.strip_prefix("join token: ") {
                join = Some(t.trim().to_string());
            }
        }
        let url = url.unwrap();
        let addr: SocketAddr = url
            .rsplit("://")
            .next()
            .unwrap()
            .parse()
            .expect("address in the api line");
        let admin = admin_token(data);
        ControlPlane {
            child,
            url,
            // A wildcard bind is reached through loopback.
            addr: SocketAddr::from(([127, 0, 0, 1], addr.port())),
            data: data.to_path_buf(),
            admin,
            join: join.unwrap(),
        }
    }

    /// Runs the CLI against this control plane with the admin token.
    fn cli(&self, args: &[&str]) -> Output {
        self.cli_as(&self.admin, args, None)
    }

    /// Runs the CLI with `token`, feeding `stdin` if given.
    fn cli_as(&self, token: &str, args: &[&str], stdin: Option<&str>) -> Output {
        cp_support::cli(&self.url, token, args, stdin)
    }

    /// One API request over plain HTTP with `token`.
    fn api(&self, method: &str, path: &str, token: Option<&str>, body: Option<&Value>) -> Response {
        let auth = token.map(|t| format!("Bearer {t}"));
        let mut headers = vec![("content-type", "application/json")];
        if let Some(a) = &auth {
            headers.push(("authorization", a.as_str()));
        }
        let body = body.map(|b| b.to_string()).unwrap_or_default();
        request(self.addr, method, "localhost", path, &headers, body.as_bytes())
    }

    /// An admin API request answering JSON.
    fn admin_json(&self, method: &str, path: &str, body: Option<&Value>) -> (u16, Value) {
        let r = self.api(method, path, Some(&self.admin), body);
        let v = serde_json::from_slice(&r.body).unwrap_or_else(|_| panic!("not JSON: {}", r.text()));
        (r.status, v)
    }

    /// The version each environment of `name` serves.
    fn env_version(&self, name: &str, env: &str) -> Option<u64> {
        let (status, v) = self.admin_json("GET", &format!("/v1/deployments/{name}"), None);
        assert_eq!(status, 200, "{v}");
        v["environments"][env]["version"].as_u64()
    }
}

impl Drop for ControlPlane {
    fn drop(&mut self) {
        kill(&mut self.child);
    }
}

/// Asserts the CLI failed and returns its stderr.
fn fails(out: Output) -> String {
    assert!(
        !out.status.success(),
        "expected a failure; stdout:\n{}",
        text(&out.stdout)
    );
    text(&out.stderr)
}

/// A handler folder whose response names `tag`.
fn app(dir: &TempDir, name: &str, tag: &str) -> PathBuf {
    dir.write(
        &format!("{name}/outpost.toml"),
        &format!("name = \"{name}\"\nmain = \"index.js\"\n"),
    );
    dir.write(
        &format!("{name}/index.js"),
        &format!("import {{ greeting }} from './lib.js';\nexport default {{ fetch() {{ return new Response(greeting + ' {tag}'); }} }};\n"),
    );
    dir.write(&format!("{name}/lib.js"), "export const greeting = 'hello';\n");
    dir.0.join(name)
}

#[test]
fn deploy_list_versions_and_rollback() {
    let dir = TempDir::new("cp-deploy");
    let cp = ControlPlane::start(&dir.0.join("data"), "127.0.0.1:0");
    assert!(cp.url.starts_with("http://"), "{}", cp.url);

    let out = ok(cp.cli(&["deploy", path_str(&app(&dir, "hello", "one"))]));
    assert!(out.contains("deployed hello version 1 to production"), "{out}");
    assert!(out.contains("serves  hello.localhost"), "{out}");
    assert!(out.contains("no node is connected yet"), "{out}");

    let out = ok(cp.cli(&["list"]));
    assert!(
        out.lines()
            .any(|l| l.starts_with("hello") && l.contains("production=v1")),
        "{out}"
    );

    let out = ok(cp.cli(&["deploy", path_str(&app(&dir, "hello", "two"))]));
    assert!(
        out.contains("deployed hello version 2 to production (previously version 1)"),
        "{out}"
    );
    let out = ok(cp.cli(&["versions", "hello"]));
    let rows: Vec<&str> = out.lines().skip(1).collect();
    assert_eq!(rows.len(), 2, "{out}");
    assert!(
        rows[1].starts_with('2') && rows[1].trim_end().ends_with("production"),
        "{out}"
    );

    let (_, versions) = cp.admin_json("GET", "/v1/deployments/hello/versions", None);
    let hashes: Vec<&str> = versions["versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["hash"].as_str().unwrap())
        .collect();
    assert_ne!(hashes[0], hashes[1], "different content, different hash");
    let (_, detail) = cp.admin_json("GET", "/v1/deployments/hello/versions/1", None);
    let paths: Vec<&str> = detail["paths"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["path"].as_str().unwrap())
        .collect();
    assert_eq!(paths, ["index.js", "lib.js"]);
    assert_eq!(detail["manifest_file"], "outpost.toml");

    let out = ok(cp.cli(&["rollback", "hello"]));
    assert!(
        out.contains("rolled back hello in production: version 2 → version 1"),
        "{out}"
    );
    assert_eq!(cp.env_version("hello", "production"), Some(1));
    let err = fails(cp.cli(&["rollback", "hello"]));
    assert!(
        err.contains("nothing to roll back to") && err.contains("HTTP 409"),
        "{err}"
    );
    ok(cp.cli(&["rollback", "hello", "--to", "2"]));
    assert_eq!(cp.env_version("hello", "production"), Some(2));
    let err = fails(cp.cli(&["rollback", "hello", "--to", "7"]));
    assert!(err.contains("has no version 7"), "{err}");

    ok(cp.cli(&["delete", "hello", "--yes"]));
    let out = ok(cp.cli(&["list"]));
    assert_eq!(out.trim(), "no deployments");
    // Version numbers are not reused after a deletion.
    let out = ok(cp.cli(&["deploy", path_str(&app(&dir, "hello", "three"))]));
    assert!(out.contains("version 3"), "{out}");
}

#[test]
fn environments_are_separate_and_promote_copies_a_version() {
    let dir = TempDir::new("cp-envs");
    let cp = ControlPlane::start(&dir.0.join("data"), "127.0.0.1:0");
    ok(cp.cli(&["deploy", path_str(&app(&dir, "shop", "prod"))]));
    let out = ok(cp.cli(&["deploy", path_str(&app(&dir, "shop", "staged")), "--env", "staging"]));
    assert!(out.contains("deployed shop version 2 to staging"), "{out}");
    assert!(out.contains("serves  shop--staging.localhost"), "{out}");
    assert_eq!(cp.env_version("shop", "production"), Some(1));
    assert_eq!(cp.env_version("shop", "staging"), Some(2));

    // A production rollback never lands on a version only staging served.
    let err = fails(cp.cli(&["rollback", "shop"]));
    assert!(err.contains("nothing to roll back to"), "{err}");

    let out = ok(cp.cli(&["promote", "shop", "--from", "staging"]));
    assert!(
        out.contains("promoted shop from staging to production: version 1 → version 2"),
        "{out}"
    );
    assert_eq!(cp.env_version("shop", "production"), Some(2));
    let (_, versions) = cp.admin_json("GET", "/v1/deployments/shop/versions", None);
    assert_eq!(versions["versions"][1]["active_in"], json!(["production", "staging"]));
    let out = ok(cp.cli(&["rollback", "shop"]));
    assert!(out.contains("version 2 → version 1"), "{out}");
    assert_eq!(cp.env_version("shop", "staging"), Some(2), "staging is untouched");

    let err = fails(cp.cli(&["promote", "shop", "--from", "preview"]));
    assert!(
        err.contains("no version in environment 'preview'") && err.contains("404"),
        "{err}"
    );
    let err = fails(cp.cli(&["deploy", path_str(&app(&dir, "shop", "x")), "--env", "Bad--Env"]));
    assert!(err.contains("invalid environment") && err.contains("400"), "{err}");
}

#[test]
fn secrets_are_write_only() {
    let dir = TempDir::new("cp-secrets");
    let cp = ControlPlane::start(&dir.0.join("data"), "127.0.0.1:0");
    ok(cp.cli(&["deploy", path_str(&app(&dir, "vault", "v"))]));
    let shared = "s3cr3t-shared-7f1c9a";
    let staging = "s3cr3t-staging-2b8d4e";
    let out = ok(cp.cli_as(
        &cp.admin,
        &["secret", "put", "vault", "API_KEY"],
        Some(&format!("{shared}\n")),
    ));
    assert!(out.contains("written for every environment"), "{out}");
    ok(cp.cli_as(
        &cp.admin,
        &["secret", "put", "vault", "API_KEY", "--env", "staging"],
        Some(staging),
    ));
    let err = fails(cp.cli_as(&cp.admin, &["secret", "put", "vault", "API_KEY"], Some("")));
    assert!(err.contains("empty"), "{err}");
    let err = fails(cp.cli_as(&cp.admin, &["secret", "put", "vault", "bad-key"], Some("x")));
    assert!(err.contains("invalid secret key"), "{err}");

    let out = ok(cp.cli(&["secret", "list", "vault"]));
    assert!(
        out.contains("API_KEY  (every environment)") && out.contains("API_KEY  staging"),
        "{out}"
    );

    // No answer of the API carries a value: every GET, and the answers to writes.
    let mut answers: Vec<String> = Vec::new();
    for path in [
        "/v1/cluster",
        "/v1/deployments",
        "/v1/deployments/vault",
        "/v1/deployments/vault/versions",
        "/v1/deployments/vault/versions/1",
        "/v1/deployments/vault/versions/1/bundle",
        "/v1/deployments/vault/secrets",
        "/v1/deployments/vault/secrets/API_KEY",
        "/v1/nodes",
    ] {
        answers.push(cp.api("GET", path, Some(&cp.admin), None).text());
    }
    answers.push(
        cp.api(
            "PUT",
            "/v1/deployments/vault/secrets/OTHER",
            Some(&cp.admin),
            Some(&json!({ "value": shared })),
        )
        .text(),
    );
    for args in [
        vec!["list", "--json"],
        vec!["versions", "vault", "--json"],
        vec!["secret", "list", "vault", "--json"],
    ] {
        answers.push(ok(cp.cli(&args)));
    }
    for answer in &answers {
        assert!(
            !answer.contains(shared) && !answer.contains(staging),
            "a secret leaked: {answer}"
        );
    }
    assert!(answers[6].contains("API_KEY"), "names are listed: {}", answers[6]);
    // Secrets are not in the stored archive either: the bundle holds code only.
    assert!(answers[5].contains("greeting"), "{}", answers[5]);

    ok(cp.cli(&["secret", "delete", "vault", "API_KEY", "--env", "staging"]));
    let err = fails(cp.cli(&["secret", "delete", "vault", "API_KEY", "--env", "staging"]));
    assert!(err.contains("no secret 'API_KEY'") && err.contains("404"), "{err}");
}

#[test]
fn broken_bundles_are_refused_and_nothing_is_stored() {
    let dir = TempDir::new("cp-invalid");
    let cp = ControlPlane::start(&dir.0.join("data"), "127.0.0.1:0");
    dir.write("broken/outpost.toml", "name = \"broken\"\n");
    dir.write(
        "broken/index.js",
        "import './util.js';\nexport default { fetch() { return new Response('x'); } };\n",
    );
    dir.write("broken/util.js", "export function f() {\n  return (1 + ;\n}\n");
    let err = fails(cp.cli(&["deploy", path_str(&dir.0.join("broken"))]));
    assert!(
        err.contains("util.js:2:15: SyntaxError") && err.contains("HTTP 422"),
        "{err}"
    );

    let r = cp.api(
        "POST",
        "/v1/deployments/broken/versions",
        Some(&cp.admin),
        Some(&json!({ "files": { "index.js": "export default {\n  fetch( {\n};" } })),
    );
    assert_eq!(r.status, 422, "{}", r.text());
    let v: Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(v["code"], "invalid_bundle");
    assert_eq!(v["location"]["file"], "index.js");
    assert_eq!(v["location"]["line"], 3);

    for (files, want) in [
        (
            json!({ "index.js": "export default {};", "../escape.js": "x" }),
            "'..' in path",
        ),
        (
            json!({ "index.js": "export default {};", "/etc/passwd.js": "x" }),
            "absolute path",
        ),
        (
            json!({ "index.js": "export default {};", "a\u{0}.js": "x" }),
            "control character",
        ),
        (
            json!({ "index.js": "export default {};", "run.sh": "x" }),
            "unsupported file type",
        ),
    ] {
        let r = cp.api(
            "POST",
            "/v1/deployments/broken/versions",
            Some(&cp.admin),
            Some(&json!({ "files": files })),
        );
        assert_eq!(r.status, 422, "{}", r.text());
        assert!(r.text().contains(want), "{want}: {}", r.text());
    }
    let r = cp.api(
        "POST",
        "/v1/deployments/broken/versions",
        Some(&cp.admin),
        Some(&json!({ "manifest": "name = \"broken\"\nmian = \"x.js\"\n", "files": { "index.js": "export default {};" } })),
    );
    assert_eq!(
        (r.status, r.text().contains("unknown key 'mian'")),
        (422, true),
        "{}",
        r.text()
    );

    // A module over 10 MiB: 413.
    let big = format!("export default {{}};//{}", "x".repeat(10 * 1024 * 1024));
    let r = cp.api(
        "POST",
        "/v1/deployments/broken/versions",
        Some(&cp.admin),
        Some(&json!({ "files": { "index.js": big } })),
    );
    assert_eq!(r.status, 413, "{}", &r.text()[..r.text().len().min(300)]);

    let r = cp.api("POST", "/v1/deployments/broken/versions", Some(&cp.admin), None);
    assert_eq!(r.status, 400, "{}", r.text());
    let r = cp.api(
        "POST",
        "/v1/deployments/Broken_Name/versions",
        Some(&cp.admin),
        Some(&json!({ "files": {} })),
    );
    assert_eq!(r.status, 400, "{}", r.text());

    // Nothing of any refused upload was stored.
    let (status, _) = cp.admin_json("GET", "/v1/deployments/broken", None);
    assert_eq!(status, 404);
    assert_eq!(ok(cp.cli(&["list"])).trim(), "no deployments");
}

#[test]
fn tokens_are_scoped() {
    let dir = TempDir::new("cp-tokens");
    let cp = ControlPlane::start(&dir.0.join("data"), "127.0.0.1:0");
    let out = cp.cli(&["token", "create", "--project", "alpha", "--label", "ci"]);
    let alpha = ok(out).trim().to_string();
    assert!(alpha.starts_with("op_project_"), "{alpha}");

    ok(cp.cli_as(&alpha, &["deploy", path_str(&app(&dir, "alpha", "a"))], None));
    ok(cp.cli(&["deploy", path_str(&app(&dir, "beta", "b"))]));
    let err = fails(cp.cli_as(&alpha, &["deploy", path_str(&app(&dir, "beta", "b2"))], None));
    assert!(
        err.contains("scoped to deployment 'alpha'") && err.contains("HTTP 403"),
        "{err}"
    );
    for args in [
        vec!["versions", "beta"],
        vec!["rollback", "beta"],
        vec!["delete", "beta", "--yes"],
        vec!["secret", "list", "beta"],
        vec!["promote", "beta", "--from", "staging"],
        vec!["token", "create", "--project", "beta"],
        vec!["nodes"],
    ] {
        let err = fails(cp.cli_as(&alpha, &args, None));
        assert!(err.contains("HTTP 403"), "{args:?}: {err}");
    }
    let err = fails(cp.cli_as(&alpha, &["secret", "put", "beta", "K"], Some("v")));
    assert!(err.contains("HTTP 403"), "{err}");
    let out = ok(cp.cli_as(&alpha, &["list"], None));
    assert!(out.contains("alpha") && !out.contains("beta"), "{out}");
    let out = ok(cp.cli(&["list"]));
    assert!(out.contains("alpha") && out.contains("beta"), "{out}");

    let err = fails(cp.cli_as(&cp.join, &["list"], None));
    assert!(
        err.contains("join token is for nodes") && err.contains("HTTP 403"),
        "{err}"
    );
    let err = fails(cp.cli_as("op_admin_not-a-real-token", &["list"], None));
    assert!(err.contains("invalid token") && err.contains("HTTP 401"), "{err}");
    let err = fails(cp.cli_as("", &["list"], None));
    assert!(err.contains("no API token"), "{err}");
    let r = cp.api("GET", "/v1/deployments", None, None);
    assert_eq!((r.status, r.header("www-authenticate")), (401, Some("Bearer")));

    // Token hashes, not tokens, are stored.
    let db = std::fs::read(cp.data.join("outpost.db")).unwrap();
    let wal = std::fs::read(cp.data.join("outpost.db-wal")).unwrap_or_default();
    for stored in [&db, &wal] {
        for token in [&alpha, &cp.admin, &cp.join] {
            assert!(
                !stored.windows(token.len()).any(|w| w == token.as_bytes()),
                "a token is stored in clear"
            );
        }
    }
}

/// One request that may fail (the server is killed under it): `None`
/// unless a whole answer arrived.
fn try_request(addr: SocketAddr, token: &str, path: &str, body: &str) -> Option<Response> {
    let raw = format!(
        "POST {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let mut stream = TcpStream::connect(addr).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(30))).ok()?;
    stream.write_all(raw.as_bytes()).ok()?;
    let mut out = Vec::new();
    stream.read_to_end(&mut out).ok()?;
    parse_response(&out)
}

/// Every acknowledged version is stored with its hash, versions are
/// contiguous, every stored bundle is whole, production serves the latest.
fn check_stream(cp: &ControlPlane, acked: &[(u64, String, String)]) -> usize {
    let (status, v) = cp.admin_json("GET", "/v1/deployments/stream/versions", None);
    assert_eq!(status, 200, "{v}");
    let stored: Vec<(u64, String)> = v["versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| (x["version"].as_u64().unwrap(), x["hash"].as_str().unwrap().to_string()))
        .collect();
    let numbers: Vec<u64> = stored.iter().map(|s| s.0).collect();
    assert_eq!(
        numbers,
        (1..=stored.len() as u64).collect::<Vec<_>>(),
        "versions are contiguous"
    );
    for (version, hash, tag) in acked {
        let found = stored.iter().find(|s| s.0 == *version);
        assert_eq!(
            found.map(|s| &s.1),
            Some(hash),
            "acknowledged version {version} ({tag}) is stored intact"
        );
    }
    for (version, hash) in &stored {
        let r = cp.api(
            "GET",
            &format!("/v1/deployments/stream/versions/{version}/bundle"),
            Some(&cp.admin),
            None,
        );
        assert_eq!(r.status, 200, "{}", r.text());
        assert_eq!(r.header("x-outpost-sha256"), Some(hash.as_str()));
        let archive: Value = serde_json::from_slice(&r.body).unwrap();
        assert!(
            archive["files"]["tag.js"]
                .as_str()
                .unwrap()
                .contains("export const tag")
        );
        assert!(archive["files"]["index.js"].is_string());
    }
    assert_eq!(cp.env_version("stream", "production"), Some(stored.len() as u64));
    stored.len()
}

#[test]
fn kill_9_during_deploys_loses_nothing_acknowledged() {
    let dir = TempDir::new("cp-kill");
    let data = dir.0.join("data");
    let acked: Arc<Mutex<Vec<(u64, String, String)>>> = Arc::default();
    for round in 0..3 {
        let mut cp = ControlPlane::start(&data, "127.0.0.1:0");
        if round > 0 {
            check_stream(&cp, &acked.lock().unwrap());
        }
        let before = acked.lock().unwrap().len();
        let stop = Arc::new(AtomicBool::new(false));
        let mut writers = Vec::new();
        for w in 0..2 {
            let (addr, token, acked, stop) = (cp.addr, cp.admin.clone(), acked.clone(), stop.clone());
            writers.push(std::thread::spawn(move || {
                // Bounded: at most 200 deploys per writer and round.
                for i in 0..200 {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    let tag = format!("r{round}-w{w}-{i}");
                    let body = json!({ "files": {
                        "index.js": "import { tag } from './tag.js';\nexport default { fetch() { return new Response(tag); } };\n",
                        "tag.js": format!("export const tag = '{tag}';\n"),
                    }})
                    .to_string();
                    // Killed under the request: that deploy is unacknowledged.
                    let Some(r) = try_request(addr, &token, "/v1/deployments/stream/versions", &body) else {
                        break;
                    };
                    assert_eq!(r.status, 201, "{}", r.text());
                    let Ok(v) = serde_json::from_slice::<Value>(&r.body) else { break };
                    let hash = v["hash"].as_str().unwrap().to_string();
                    acked.lock().unwrap().push((v["version"].as_u64().unwrap(), hash, tag));
                }
            }));
        }
        let deadline = Instant::now() + Duration::from_secs(60);
        while acked.lock().unwrap().len() < before + 6 {
            assert!(Instant::now() < deadline, "deploys were not acknowledged");
            std::thread::sleep(Duration::from_millis(2));
        }
        // SIGKILL while both writers have a deploy in flight.
        cp.child.kill().unwrap();
        cp.child.wait().unwrap();
        stop.store(true, Ordering::Relaxed);
        for w in writers {
            w.join().unwrap();
        }
    }
    let cp = ControlPlane::start(&data, "127.0.0.1:0");
    let acked = acked.lock().unwrap().clone();
    let stored = check_stream(&cp, &acked);
    eprintln!("{} deploys acknowledged, {stored} stored", acked.len());
    // The restarted control plane kept its identity and accepts new deploys.
    ok(cp.cli(&["deploy", path_str(&app(&dir, "stream", "after"))]));
}

#[test]
fn https_on_a_non_loopback_address_trusts_the_cluster_ca() {
    let dir = TempDir::new("cp-https");
    let cp = ControlPlane::start(&dir.0.join("data"), "0.0.0.0:0");
    assert!(cp.url.starts_with("https://0.0.0.0:"), "{}", cp.url);
    let api = format!("https://127.0.0.1:{}", cp.addr.port());
    let ca = cp.data.join("ca.pem");
    let hello = app(&dir, "secure", "tls");

    let err = fails(cp.cli(&["deploy", path_str(&hello), "--api", &api]));
    assert!(err.contains("UnknownIssuer") && err.contains("--ca"), "{err}");
    let out = ok(cp.cli(&["deploy", path_str(&hello), "--api", &api, "--ca", path_str(&ca)]));
    assert!(out.contains("deployed secure version 1"), "{out}");
    let out = ok(Command::new(outpost_bin())
        .args(["list", "--api", &format!("https://localhost:{}", cp.addr.port())])
        .env("OUTPOST_TOKEN", &cp.admin)
        .env("OUTPOST_CA", &ca)
        .env_remove("OUTPOST_API")
        .output()
        .unwrap());
    assert!(out.contains("secure"), "{out}");
    // Plain HTTP is not served there.
    let err = fails(cp.cli(&["list", "--api", &format!("http://127.0.0.1:{}", cp.addr.port())]));
    assert!(err.contains("use --api https://"), "{err}");
}
