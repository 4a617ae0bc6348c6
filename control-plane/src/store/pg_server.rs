//! A real, private PostgreSQL server for tests: a fresh cluster made with
//! `initdb` in a temporary folder, started with `pg_ctl` (which waits until
//! it accepts connections) and listening only on a Unix socket in that
//! folder, so tests never collide on a port. Stopped and removed on drop.
//!
//! The server binaries come from `OUTPOST_PG_BIN` or Debian's
//! `/usr/lib/postgresql/VERSION/bin` (package `postgresql`). PostgreSQL
//! refuses to run as root; as root the server runs as the `postgres` user
//! the package creates.

use std::path::{Path, PathBuf};
use std::process::Command;

/// A running test server.
#[derive(Debug)]
pub struct PgServer {
    dir: PathBuf,
    bin: PathBuf,
    run_as: Option<String>,
}

fn output(cmd: &mut Command) -> std::process::Output {
    cmd.output().unwrap_or_else(|e| panic!("running {cmd:?}: {e}"))
}

fn id(args: &[&str]) -> Option<u32> {
    let out = Command::new("id").args(args).output().ok()?;
    String::from_utf8_lossy(&out.stdout).trim().parse().ok()
}

/// The folder holding `initdb`, `pg_ctl` and `postgres`.
fn find_bin() -> PathBuf {
    if let Some(dir) = std::env::var_os("OUTPOST_PG_BIN") {
        return PathBuf::from(dir);
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let v = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").exists().then_some((v, bin))
        })
        .collect();
    versions.sort();
    versions.pop().map(|(_, bin)| bin).unwrap_or_else(|| {
        panic!(
            "no PostgreSQL server found in /usr/lib/postgresql: install Debian's `postgresql` package \
             (or point OUTPOST_PG_BIN at a folder with initdb and pg_ctl)"
        )
    })
}

impl PgServer {
    /// Creates and starts a server; returns once it accepts connections.
    pub fn start() -> PgServer {
        static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("outpost-pg-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create the server folder");
        let run_as = (id(&["-u"]) == Some(0)).then(|| "postgres".to_string());
        if let Some(user) = &run_as {
            let (Some(uid), Some(gid)) = (id(&["-u", user]), id(&["-g", user])) else {
                panic!("running as root, PostgreSQL needs the `{user}` user (Debian's postgresql package makes it)");
            };
            std::os::unix::fs::chown(&dir, Some(uid), Some(gid)).expect("chown the server folder");
        }
        let server = PgServer {
            bin: find_bin(),
            dir,
            run_as,
        };
        let data = server.data_dir();
        let init = output(server.command("initdb").args(["-D", path(&data)]).args([
            "-U",
            "outpost",
            "-A",
            "trust",
            "-E",
            "UTF8",
            "--locale=C",
            "--no-sync",
        ]));
        assert!(init.status.success(), "initdb failed: {}", text(&init.stderr));
        server.pg_ctl_start();
        server
    }

    /// Starts the server; `-w` waits until it accepts connections.
    fn pg_ctl_start(&self) {
        let data = self.data_dir();
        let options = format!("-k {} -c listen_addresses=''", path(&self.dir));
        let log = self.dir.join("server.log");
        let start = output(self.command("pg_ctl").args([
            "-D",
            path(&data),
            "-l",
            path(&log),
            "-o",
            &options,
            "-w",
            "-t",
            "60",
            "start",
        ]));
        assert!(
            start.status.success(),
            "pg_ctl start failed: {}{}\n{}",
            text(&start.stdout),
            text(&start.stderr),
            std::fs::read_to_string(&log).unwrap_or_default()
        );
    }

    fn data_dir(&self) -> PathBuf {
        self.dir.join("data")
    }

    fn command(&self, program: &str) -> Command {
        let exe = self.bin.join(program);
        match &self.run_as {
            Some(user) => {
                let mut cmd = Command::new("runuser");
                cmd.args(["-u", user, "--"]).arg(exe);
                cmd
            }
            None => Command::new(exe),
        }
    }

    /// The libpq connection string of database `db` on this server.
    pub fn url(&self, db: &str) -> String {
        format!("host={} port=5432 user=outpost dbname={db}", path(&self.dir))
    }

    /// Creates an empty database and returns its connection string.
    pub fn create_database(&self, name: &str) -> String {
        assert!(
            name.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        );
        let mut client = postgres::Client::connect(&self.url("postgres"), postgres::NoTls).expect("connect");
        client
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .expect("create the database");
        self.url(name)
    }

    /// Stops the server at once (as a crash would), then starts it again:
    /// every open connection breaks.
    pub fn restart(&self) {
        let stop = self.pg_ctl_stop().expect("run pg_ctl stop");
        assert!(stop.status.success(), "pg_ctl stop: {}", text(&stop.stderr));
        self.pg_ctl_start();
    }

    /// Stops the server at once, as a crash would.
    fn pg_ctl_stop(&self) -> std::io::Result<std::process::Output> {
        let data = self.data_dir();
        self.command("pg_ctl")
            .args(["-D", path(&data), "-m", "immediate", "-w", "stop"])
            .output()
    }
}

impl Drop for PgServer {
    fn drop(&mut self) {
        let _ = self.pg_ctl_stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn path(p: &Path) -> &str {
    p.to_str().expect("test paths are UTF-8")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}
