//! Web Platform Tests data files run through the runtime: each trial bundles
//! a runner module (`tests/wpt/*.js`) with WPT JSON data as JSON modules,
//! sends it one request and reads `{passed, failed, failures}` back.
//!
//! The data lives in the shared conformance folder
//! (`<repo>/../shared/conformance/wpt`, or `$OUTPOST_WPT_DIR`); a trial is
//! reported as ignored when its data is missing.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::rc::Rc;

use libtest_mimic::{Failed, Trial};
use outpost_js::{Body, Bundle, HttpRequest, ModuleKind, ModuleSource, Runtime, RuntimeOptions, StdHost};

/// One WPT suite: its runner, data files and the pass count it must keep.
struct Suite {
    name: &'static str,
    runner: &'static str,
    data: &'static [&'static str],
    /// Passes required (the level this runtime reached; see the READMEs).
    min_passed: usize,
}

const SUITES: &[Suite] = &[
    Suite {
        name: "url",
        runner: include_str!("url.js"),
        data: &["urltestdata.json", "setters_tests.json"],
        min_passed: 1143,
    },
    Suite {
        name: "base64",
        runner: include_str!("base64.js"),
        data: &["base64.json"],
        min_passed: 80,
    },
    Suite {
        name: "data-urls",
        runner: include_str!("data_urls.js"),
        data: &["data-urls.json"],
        min_passed: 78,
    },
    Suite {
        name: "mime-types",
        runner: include_str!("mime_types.js"),
        data: &["mime-types.json"],
        min_passed: 65,
    },
];

fn data_dir() -> PathBuf {
    match std::env::var_os("OUTPOST_WPT_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/conformance/wpt"),
    }
}

/// The WPT trials.
pub fn trials() -> Vec<Trial> {
    SUITES
        .iter()
        .map(|suite| {
            let present = suite.data.iter().all(|f| data_dir().join(f).is_file());
            Trial::test(format!("wpt::{}", suite.name), move || run_suite(suite)).with_ignored_flag(!present)
        })
        .collect()
}

fn run_suite(suite: &Suite) -> Result<(), Failed> {
    let mut modules = BTreeMap::new();
    modules.insert(
        "runner.js".to_string(),
        ModuleSource {
            kind: ModuleKind::JavaScript,
            code: suite.runner.to_string(),
        },
    );
    for file in suite.data {
        let path = data_dir().join(file);
        let code = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        modules.insert(
            file.to_string(),
            ModuleSource {
                kind: ModuleKind::Json,
                code,
            },
        );
    }
    let bundle = Bundle {
        modules,
        main: "runner.js".to_string(),
        ..Default::default()
    };
    let mut rt =
        Runtime::new(&bundle, Rc::new(StdHost), RuntimeOptions::default()).map_err(|e| format!("load failed: {e}"))?;
    let request = HttpRequest {
        method: "GET".into(),
        url: "http://wpt.test/".into(),
        headers: [("host", "wpt.test")].into(),
        body: Body::Empty,
    };
    let response = rt.call(request)?;
    if response.status != 200 {
        return Err(format!("runner answered {}: {}", response.status, response.text()).into());
    }
    let report: serde_json::Value =
        serde_json::from_slice(&response.body).map_err(|e| format!("bad report {e}: {}", response.text()))?;
    let passed = report["passed"].as_u64().unwrap_or(0) as usize;
    let failed = report["failed"].as_u64().unwrap_or(0) as usize;
    println!("wpt {}: {passed} passed, {failed} failed", suite.data.join(" + "));
    if let Some(failures) = report["failures"].as_array() {
        for f in failures.iter().take(20) {
            println!("  {}", f.as_str().unwrap_or_default());
        }
    }
    if passed < suite.min_passed {
        return Err(format!(
            "{}: {passed} passed, expected at least {}",
            suite.name, suite.min_passed
        )
        .into());
    }
    Ok(())
}
