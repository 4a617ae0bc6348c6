//! Helpers shared by the tests that drive a real `outpost control-plane` process: running the CLI
//! against it, reading its stdout line by line, and checking what the CLI printed.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;

use outpost_tests::outpost_bin;

/// Runs the `outpost` CLI with `args` against the API at `api` with `token`, feeding `stdin` if given.
pub fn cli(api: &str, token: &str, args: &[&str], stdin: Option<&str>) -> Output {
    let mut cmd = Command::new(outpost_bin());
    cmd.args(args)
        .env("OUTPOST_API", api)
        .env("OUTPOST_TOKEN", token)
        .env_remove("OUTPOST_CA")
        .stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn outpost");
    if let Some(text) = stdin {
        child.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
    }
    child.wait_with_output().unwrap()
}

/// Spawns `cmd` (the control plane) with its stdout piped and returns the child with a channel
/// that yields each stdout line as it is printed.
pub fn spawn_with_lines(cmd: &mut Command) -> (Child, mpsc::Receiver<String>) {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn outpost control-plane");
    let (tx, rx) = mpsc::channel();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    (child, rx)
}

/// The admin token the control plane wrote into its data folder `data`.
pub fn admin_token(data: &Path) -> String {
    std::fs::read_to_string(data.join("admin.token"))
        .unwrap()
        .trim()
        .to_string()
}

/// Kills `child` and reaps it.
pub fn kill(child: &mut Child) {
    let _ = child.kill();
    let _ = child.wait();
}

/// Bytes as text, lossily.
pub fn text(out: &[u8]) -> String {
    String::from_utf8_lossy(out).into_owned()
}

/// Asserts the CLI succeeded and returns its stdout.
pub fn ok(out: Output) -> String {
    assert!(
        out.status.success(),
        "stdout:\n{}\nstderr:\n{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    text(&out.stdout)
}

/// A path as `&str` (test paths are UTF-8).
pub fn path_str(p: &Path) -> &str {
    p.to_str().unwrap()
}
