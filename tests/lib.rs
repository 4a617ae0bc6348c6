//! Helpers for the end-to-end tests: the real `outpost` binary started on
//! an ephemeral port, waited for by its readiness line, and a small
//! HTTP/1.1 client over a plain socket.

#![forbid(unsafe_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStderr, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// The workspace root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

/// The `outpost` binary of this build profile, built on first use.
pub fn outpost_bin() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let release = !cfg!(debug_assertions);
        let mut cmd = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
        cmd.current_dir(root())
            .args(["build", "--quiet", "-p", "outpost", "--bin", "outpost"]);
        if release {
            cmd.arg("--release");
        }
        let status = cmd.status().expect("run cargo build");
        assert!(status.success(), "building outpost failed");
        let target = std::env::var("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|_| root().join("target"));
        target.join(if release { "release" } else { "debug" }).join("outpost")
    })
    .clone()
}

/// A running `outpost` process; killed when dropped.
pub struct Outpost {
    pub child: Child,
    /// Lines it printed on stdout so far (a reader thread appends).
    pub stdout: Arc<Mutex<Vec<String>>>,
    lines: mpsc::Receiver<String>,
    pub stderr: Option<ChildStderr>,
    pub addr: SocketAddr,
}

impl Outpost {
    /// Starts `outpost dev PATH --listen 127.0.0.1:0 [extra]` and waits for
    /// its `ready on http://ADDR` line.
    pub fn dev(path: &Path, extra: &[&str]) -> Outpost {
        Outpost::start(Outpost::dev_command(&[path], extra)).unwrap_or_else(|e| panic!("{e}"))
    }

    /// Starts `outpost dev PATH… --listen 127.0.0.1:0 [extra]`: several
    /// handlers, each answering `NAME.localhost`.
    pub fn dev_many(paths: &[PathBuf], extra: &[&str]) -> Outpost {
        Outpost::start(Outpost::dev_command(paths, extra)).unwrap_or_else(|e| panic!("{e}"))
    }

    /// The command [`Outpost::dev`] and [`Outpost::dev_many`] run, to add
    /// to (environment, …).
    pub fn dev_command<P: AsRef<Path>>(paths: &[P], extra: &[&str]) -> Command {
        let mut cmd = Command::new(outpost_bin());
        cmd.arg("dev")
            .args(paths.iter().map(AsRef::as_ref))
            .args(["--listen", "127.0.0.1:0"])
            .args(extra);
        cmd
    }

    /// Starts a command that prints `ready on http://ADDR` when it serves.
    /// `Err` with its stderr when it exits first.
    pub fn start(mut cmd: Command) -> Result<Outpost, String> {
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).stdin(Stdio::null());
        let mut child = cmd.spawn().map_err(|e| format!("spawn outpost: {e}"))?;
        let stdout = child.stdout.take().unwrap();
        let all = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = mpsc::channel();
        let sink = all.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                sink.lock().unwrap().push(line.clone());
                let _ = tx.send(line);
            }
        });
        let mut me = Outpost {
            child,
            stdout: all,
            lines: rx,
            stderr: None,
            addr: "0.0.0.0:0".parse().unwrap(),
        };
        me.stderr = me.child.stderr.take();
        let line = me.wait_line(|l| l.starts_with("ready on http://"), Duration::from_secs(60));
        match line {
            Some(l) => {
                me.addr = l
                    .trim_start_matches("ready on http://")
                    .trim()
                    .parse()
                    .expect("address in ready line");
                Ok(me)
            }
            None => {
                let _ = me.child.kill();
                let mut err = String::new();
                if let Some(mut s) = me.stderr.take() {
                    let _ = s.read_to_string(&mut err);
                }
                Err(format!("outpost did not become ready; stderr:\n{err}"))
            }
        }
    }

    /// Waits for a stdout line matching `pred` (lines already consumed by
    /// earlier waits are not seen again).
    pub fn wait_line(&mut self, pred: impl Fn(&str) -> bool, timeout: Duration) -> Option<String> {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.checked_duration_since(Instant::now())?;
            match self.lines.recv_timeout(left) {
                Ok(l) if pred(&l) => return Some(l),
                Ok(_) => continue,
                Err(_) => return None,
            }
        }
    }

    /// Sends `signal` (e.g. "INT") and waits for the exit status.
    pub fn signal_and_wait(&mut self, signal: &str, timeout: Duration) -> Option<std::process::ExitStatus> {
        let _ = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(self.child.id().to_string())
            .status();
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Ok(Some(st)) = self.child.try_wait() {
                return Some(st);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }

    /// The remaining stderr, after the process exited.
    pub fn stderr_text(&mut self) -> String {
        let mut s = String::new();
        if let Some(mut e) = self.stderr.take() {
            let _ = e.read_to_string(&mut s);
        }
        s
    }

    /// The admin listener's address, from its `admin on http://ADDR` line
    /// (start with `--admin 127.0.0.1:0`).
    pub fn admin_addr(&self) -> Option<SocketAddr> {
        self.printed_addr("admin on http://")
    }

    /// The HTTPS listener's address, from its `https on https://ADDR` line
    /// (start with `--https 127.0.0.1:0`).
    pub fn https_addr(&self) -> Option<SocketAddr> {
        self.printed_addr("https on https://")
    }

    /// The address on the first stdout line that starts with `prefix`.
    fn printed_addr(&self, prefix: &str) -> Option<SocketAddr> {
        self.stdout
            .lock()
            .unwrap()
            .iter()
            .find_map(|l| l.strip_prefix(prefix).and_then(|a| a.trim().parse().ok()))
    }

    /// The Prometheus text from the admin listener's `/metrics`.
    pub fn metrics(&self) -> String {
        let admin = self.admin_addr().expect("started with --admin");
        request(admin, "GET", "localhost", "/metrics", &[], b"").text()
    }

    /// GET `path` with `Host: host`.
    pub fn get(&self, host: &str, path: &str) -> Response {
        request(self.addr, "GET", host, path, &[], b"")
    }
}

impl Drop for Outpost {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A response read off the socket: status, headers (names lower case) and
/// the whole body, with `header()` and `text()`.
pub use outpost_js::FullResponse as Response;

/// One HTTP/1.1 request with `Connection: close`; reads the whole answer
/// (chunked bodies are decoded).
pub fn request(
    addr: SocketAddr,
    method: &str,
    host: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Response {
    let mut raw = format!("{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n");
    for (k, v) in headers {
        raw.push_str(&format!("{k}: {v}\r\n"));
    }
    if !body.is_empty() || method == "POST" || method == "PUT" {
        raw.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    raw.push_str("\r\n");
    let mut bytes = raw.into_bytes();
    bytes.extend_from_slice(body);
    let out = send_raw(addr, &bytes);
    parse_response(&out).unwrap_or_else(|| panic!("unparsable response: {:?}", String::from_utf8_lossy(&out)))
}

/// Writes `bytes` to a fresh connection and reads until the server closes.
pub fn send_raw(addr: SocketAddr, bytes: &[u8]) -> Vec<u8> {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    s.write_all(bytes).expect("write request");
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    out
}

/// Parses status line, headers and (chunked or sized) body.
pub fn parse_response(raw: &[u8]) -> Option<Response> {
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = std::str::from_utf8(&raw[..split]).ok()?;
    let mut lines = head.split("\r\n");
    let status: u16 = lines.next()?.split(' ').nth(1)?.parse().ok()?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let rest = &raw[split + 4..];
    let chunked = headers
        .iter()
        .any(|(k, v)| k == "transfer-encoding" && v.contains("chunked"));
    let body = if chunked { dechunk(rest)? } else { rest.to_vec() };
    Some(Response { status, headers, body })
}

fn dechunk(mut data: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let line_end = data.windows(2).position(|w| w == b"\r\n")?;
        let size_text = std::str::from_utf8(&data[..line_end]).ok()?;
        let size = usize::from_str_radix(size_text.split(';').next()?.trim(), 16).ok()?;
        data = &data[line_end + 2..];
        if size == 0 {
            return Some(out);
        }
        out.extend_from_slice(data.get(..size)?);
        data = data.get(size + 2..)?;
    }
}

/// A fresh temporary folder, removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let p = std::env::temp_dir().join(format!("outpost-test-{tag}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
    /// A handler folder `NAME/` with `outpost.toml` (name, entry and the
    /// `[limits]` lines given) and `index.js`.
    pub fn handler(&self, name: &str, code: &str, limits: &str) -> PathBuf {
        self.write(
            &format!("{name}/outpost.toml"),
            &format!("name = \"{name}\"\nmain = \"index.js\"\n[limits]\n{limits}\n"),
        );
        self.write(&format!("{name}/index.js"), code);
        self.0.join(name)
    }

    pub fn write(&self, rel: &str, text: &str) -> PathBuf {
        let p = self.0.join(rel);
        if let Some(d) = p.parent() {
            std::fs::create_dir_all(d).unwrap();
        }
        std::fs::write(&p, text).unwrap();
        p
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
