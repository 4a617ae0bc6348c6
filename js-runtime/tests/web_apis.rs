//! The Web API specs: every `tests/specs/<family>/<topic>.js` is a handler
//! module that asserts what it tests and answers `ok`; each file is a trial
//! (filter with `cargo test -p outpost-js --test web_apis -- <substring>`).
//! Plus the WPT conformance data (`wpt` module).

mod wpt;

use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::time::Instant;

use libtest_mimic::{Arguments, Failed, Trial};
use outpost_js::{
    Body, Bundle, Host, HttpRequest, LogLevel, ModuleKind, ModuleSource, Runtime, RuntimeOptions, StdHost,
};

/// A host that keeps what the handler logged, to show it when a spec fails.
#[derive(Default)]
pub struct CapturingHost {
    pub lines: RefCell<Vec<String>>,
    inner: StdHost,
}

impl Host for CapturingHost {
    fn log(&self, level: LogLevel, message: &str) {
        self.lines.borrow_mut().push(format!("[{}] {message}", level.as_str()));
    }
    fn sleep_until(&self, deadline: Instant) -> outpost_js::LocalFuture<()> {
        self.inner.sleep_until(deadline)
    }
}

fn specs_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/specs")
}

/// Every module under tests/specs, keyed by its path relative to it, so a
/// spec can import `../_assert.js` and data files.
fn all_modules() -> std::collections::BTreeMap<String, ModuleSource> {
    let mut out = std::collections::BTreeMap::new();
    let mut stack = vec![specs_dir()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            let rel = path
                .strip_prefix(specs_dir())
                .unwrap()
                .to_string_lossy()
                .replace('\\', "/");
            if let Some(kind) = ModuleKind::from_path(&rel) {
                out.insert(
                    rel,
                    ModuleSource {
                        kind,
                        code: std::fs::read_to_string(&path).unwrap(),
                    },
                );
            }
        }
    }
    out
}

/// Runs the handler module `main` from a bundle of every spec module and
/// requires a 200 `ok`.
pub fn run_spec(main: &str) -> Result<(), Failed> {
    let bundle = Bundle {
        modules: all_modules(),
        main: main.to_string(),
        ..Default::default()
    };
    let host = Rc::new(CapturingHost::default());
    // The specs check what the Web APIs do, not how fast: in a debug build
    // the crypto ones (PBKDF2 at 4,096 iterations, unoptimised) come close
    // to the production 50 ms CPU limit. The limits have tests of their own.
    let options = RuntimeOptions {
        cpu_limit: std::time::Duration::from_secs(10),
        ..RuntimeOptions::default()
    };
    let mut rt = Runtime::new(&bundle, host.clone(), options).map_err(|e| format!("load failed: {e}"))?;
    let req = HttpRequest {
        method: "GET".into(),
        url: "http://spec.test/".into(),
        headers: [("host", "spec.test")].into(),
        body: Body::Empty,
    };
    let resp = rt.call(req);
    let logs = host.lines.borrow().join("\n");
    match resp {
        Ok(r) if r.status == 200 && r.body == b"ok" => Ok(()),
        Ok(r) => Err(format!("status {} body {:?}\nlog:\n{logs}", r.status, r.text()).into()),
        Err(e) => Err(format!("{e}\nlog:\n{logs}").into()),
    }
}

fn main() {
    let args = Arguments::from_args();
    let mut trials = Vec::new();
    for rel in all_modules().keys() {
        let file = rel.rsplit('/').next().unwrap();
        if file.starts_with('_') || !rel.ends_with(".js") || !rel.contains('/') {
            continue;
        }
        let main = rel.clone();
        trials.push(Trial::test(
            format!("spec::{}", rel.trim_end_matches(".js")),
            move || run_spec(&main),
        ));
    }
    trials.extend(wpt::trials());
    libtest_mimic::run(&args, trials).exit();
}
