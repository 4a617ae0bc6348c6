//! Waiting for the edge after `deploy`, `rollback` or `promote`: the CLI asks the control plane
//! which connected node serves the new version (`GET /v1/deployments/{name}/rollout`, which answers
//! as soon as something changes) until every connected node does, one fails, or the time is up.
//!
//! On a terminal each node gets a line redrawn in place (a cursor-up and a line clear are all it
//! takes, so no progress-bar library); otherwise each node gets one plain line when it serves or
//! fails. The command succeeds only when every connected node serves the version; it fails naming
//! each node that failed (with the stage and the node's reason) or did not serve it in time. With
//! no node connected there is nothing to wait for: it says so and succeeds.

use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

use anyhow::anyhow;
use outpost_control_plane::client::Client;
use serde_json::Value;

/// The longest one rollout request waits for a change (the control plane answers at once when a
/// node's state changes); once a second keeps the elapsed time on a terminal ticking.
const POLL: Duration = Duration::from_secs(1);

/// What was changed: this version of this deployment, committed at this revision.
pub struct Target<'a> {
    /// Deployment.
    pub name: &'a str,
    /// Environment.
    pub env: &'a str,
    /// The version the environment now serves.
    pub version: u64,
    /// The desired-state revision the change was committed under.
    pub revision: u64,
}

/// Waits until every connected node serves `target` (or one fails, or `timeout` passes since
/// `accepted`). Prints progress when `show`. Returns the last rollout answer (when there was one)
/// and whether every connected node serves the version.
pub async fn wait(
    client: &Client,
    target: &Target<'_>,
    accepted: Instant,
    timeout: Duration,
    show: bool,
) -> (Option<Value>, anyhow::Result<()>) {
    let deadline = accepted + timeout;
    let mut view = Progress::new(show, show && std::io::stdout().is_terminal());
    let mut wait = Duration::ZERO;
    let mut last = None;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let answer = client
            .rollout(target.name, target.env, target.version, target.revision, wait.min(left))
            .await;
        let v = match answer {
            Ok(v) => v,
            Err(e) => {
                return (
                    last,
                    Err(anyhow!(e).context("asking the control plane which nodes serve it")),
                );
            }
        };
        let first = last.is_none();
        last = Some(v.clone());
        wait = POLL;
        let count = |k: &str| v[k].as_u64().unwrap_or(0);
        if first && count("connected") == 0 {
            if show {
                println!("no node is connected yet: the version is stored, and nodes will receive it when they join");
            }
            return (last, Ok(()));
        }
        let current = v["current_version"].as_u64();
        if current != Some(target.version) {
            let now = current.map_or_else(|| "nothing".to_string(), |c| format!("version {c}"));
            view.finish();
            let err = anyhow!(
                "{} in {} now serves {now}: version {} was replaced before every node served it",
                target.name,
                target.env,
                target.version
            );
            return (last, Err(err));
        }
        let elapsed = accepted.elapsed();
        view.update(&v, elapsed);
        let timed_out = Instant::now() >= deadline;
        if count("pending") == 0 || timed_out {
            view.finish();
            let result = verdict(target, &v, &view.seen, elapsed, timeout, timed_out, show);
            return (last, result);
        }
    }
}

/// Success, or the error naming every node that failed or is still pending.
fn verdict(
    target: &Target<'_>,
    v: &Value,
    seen: &BTreeMap<String, Value>,
    elapsed: Duration,
    timeout: Duration,
    timed_out: bool,
    show: bool,
) -> anyhow::Result<()> {
    let nodes: Vec<&Value> = v["nodes"].as_array().into_iter().flatten().collect();
    let connected: Vec<&&Value> = nodes.iter().filter(|n| n["connected"] == true).collect();
    let mut problems = Vec::new();
    for n in &connected {
        match n["state"].as_str() {
            Some("failed") => problems.push(format!(
                "  {}: failed ({}): {}",
                node_name(n),
                s(&n["stage"]),
                s(&n["reason"])
            )),
            Some("pending") if timed_out => {
                let serves = match n["serves"].as_u64() {
                    Some(s) => format!("still serves version {s}"),
                    None => "serves no version of it".into(),
                };
                problems.push(format!(
                    "  {}: timed out after {} s ({serves}, at revision {} of {})",
                    node_name(n),
                    timeout.as_secs(),
                    s(&n["revision"]),
                    target.revision
                ));
            }
            _ => {}
        }
    }
    if !problems.is_empty() {
        return Err(anyhow!(
            "version {} of {} ({}) is not served by every connected node:\n{}",
            target.version,
            target.name,
            target.env,
            problems.join("\n")
        ));
    }
    if show {
        let gone = seen
            .keys()
            .filter(|id| !connected.iter().any(|n| n["id"] == **id))
            .count();
        if connected.is_empty() {
            println!(
                "no node is connected any more: nodes will receive version {} when they reconnect",
                target.version
            );
        } else {
            let also = match gone {
                0 => String::new(),
                n => format!("; {n} disconnected while waiting"),
            };
            println!(
                "every connected node serves version {} ({} {}, {} ms after it was accepted{also})",
                target.version,
                connected.len(),
                if connected.len() == 1 { "node" } else { "nodes" },
                elapsed.as_millis()
            );
        }
    }
    Ok(())
}

fn s(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "-".into(),
        other => other.to_string(),
    }
}

fn node_name(n: &Value) -> String {
    format!("node {} ({})", s(&n["id"]), s(&n["region"]))
}

/// What one node's line says.
fn describe(n: &Value, version: u64) -> String {
    if n["connected"] != true {
        return "disconnected (not waited for)".into();
    }
    match n["state"].as_str() {
        Some("serving") => {
            let t = &n["timing_ms"];
            if t.is_object() {
                format!(
                    "serves version {version} (fetch {} ms, verify {} ms, activate {} ms)",
                    t["fetch"], t["verify"], t["activate"]
                )
            } else {
                format!("serves version {version}")
            }
        }
        Some("failed") => format!("failed ({}): {}", s(&n["stage"]), s(&n["reason"])),
        _ => match n["serves"].as_u64() {
            Some(v) => format!("waiting (serves version {v})"),
            None => "waiting".into(),
        },
    }
}

/// The progress display: a line per node, redrawn on a terminal, printed once per final state
/// otherwise.
struct Progress {
    show: bool,
    tty: bool,
    /// Nodes that were connected at some point of the wait, with their last answer.
    seen: BTreeMap<String, Value>,
    /// Lines drawn last time (terminal).
    drawn: usize,
    /// Per node, the state last printed (plain output).
    printed: BTreeMap<String, String>,
}

impl Progress {
    fn new(show: bool, tty: bool) -> Self {
        Progress {
            show,
            tty,
            seen: BTreeMap::new(),
            drawn: 0,
            printed: BTreeMap::new(),
        }
    }

    fn update(&mut self, v: &Value, elapsed: Duration) {
        for n in v["nodes"].as_array().into_iter().flatten() {
            let id = s(&n["id"]);
            if n["connected"] == true || self.seen.contains_key(&id) {
                self.seen.insert(id, n.clone());
            }
        }
        if !self.show {
            return;
        }
        let version = v["version"].as_u64().unwrap_or(0);
        let width = self.seen.keys().map(|k| k.len()).max().unwrap_or(0);
        let mut out = std::io::stdout().lock();
        if self.tty {
            if self.drawn > 0 {
                let _ = write!(out, "\x1b[{}A", self.drawn);
            }
            for (id, n) in &self.seen {
                let mark = match (n["connected"] == true, n["state"].as_str()) {
                    (false, _) => '-',
                    (true, Some("serving")) => '✓',
                    (true, Some("failed")) => '✗',
                    _ => '…',
                };
                let _ = writeln!(
                    out,
                    "\x1b[2K  {mark} {id:<width$}  {:<8} {}  [{:.1} s]",
                    s(&n["region"]),
                    describe(n, version),
                    elapsed.as_secs_f64()
                );
            }
            self.drawn = self.seen.len();
        } else {
            for (id, n) in &self.seen {
                let state = if n["connected"] == true {
                    s(&n["state"])
                } else {
                    "disconnected".into()
                };
                if state == "pending" || self.printed.get(id) == Some(&state) {
                    continue;
                }
                let _ = writeln!(
                    out,
                    "  {}: {} after {} ms",
                    node_name(n),
                    describe(n, version),
                    elapsed.as_millis()
                );
                self.printed.insert(id.clone(), state);
            }
        }
        let _ = out.flush();
    }

    fn finish(&mut self) {
        let _ = std::io::stdout().flush();
    }
}
