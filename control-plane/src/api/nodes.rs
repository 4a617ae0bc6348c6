//! The endpoints about nodes: `GET /v1/nodes` (who is connected, at which revision, with what
//! load) and `GET /v1/deployments/{name}/rollout` (which connected node serves a version, which
//! failed and why), the one `outpost deploy` polls until every node serves what it deployed.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use outpost_protocol::{DeploymentKey, Health, Outcome, Timing};
use serde_json::{Value, json};

use super::handlers::{ApiResult, authorize, blocking, ok, require_admin};
use super::{ApiError, ApiState};
use crate::distribution::{ClusterStatus, NodeStatus};
use crate::names::{self, PRODUCTION};
use crate::store::{StoreError, rfc3339};
use crate::tokens::Scope;

/// The longest a rollout request waits for a change.
const MAX_WAIT: Duration = Duration::from_secs(30);

/// Where one node is with one version of a deployment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NodeRollout {
    /// It serves the version.
    Serving,
    /// It does not serve it yet.
    Pending,
    /// It acknowledged a failure to activate the version (at or after the revision asked about).
    Failed {
        /// Where it failed (`integrity`, `signature`, `activate`).
        stage: String,
        /// Why.
        reason: String,
    },
}

impl NodeRollout {
    fn name(&self) -> &'static str {
        match self {
            NodeRollout::Serving => "serving",
            NodeRollout::Pending => "pending",
            NodeRollout::Failed { .. } => "failed",
        }
    }
}

/// Where `node` is with `version` of `key`: serving when it runs that version; failed when it
/// acknowledged a failure for that version in revision `since` or later; pending otherwise.
pub fn node_rollout(node: &NodeStatus, key: &DeploymentKey, version: u64, since: u64) -> NodeRollout {
    if node.running.get(key).is_some_and(|r| r.version == version) {
        return NodeRollout::Serving;
    }
    match node.results.get(key) {
        Some((revision, result)) if *revision >= since => match &result.outcome {
            Outcome::Failed {
                wanted, stage, reason, ..
            } if wanted.version == version => NodeRollout::Failed {
                stage: stage.to_string(),
                reason: reason.clone(),
            },
            _ => NodeRollout::Pending,
        },
        _ => NodeRollout::Pending,
    }
}

fn millis(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

fn age_ms(t: SystemTime) -> u64 {
    SystemTime::now()
        .duration_since(t)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

fn timing_json(t: &Timing) -> Value {
    json!({
        "fetch": t.fetch.as_millis() as u64,
        "verify": t.verify.as_millis() as u64,
        "activate": t.activate.as_millis() as u64,
    })
}

fn health_json(h: &Health) -> Value {
    match h {
        Health::Healthy => json!({ "status": "healthy" }),
        Health::Degraded { reason } => json!({ "status": "degraded", "reason": reason }),
        Health::Draining => json!({ "status": "draining" }),
        Health::Unhealthy { reason } => json!({ "status": "unhealthy", "reason": reason }),
    }
}

/// The rollout of `version` of `key` on every node seen, as JSON, and whether it is settled (no
/// connected node pending).
fn rollout_json(status: &ClusterStatus, key: &DeploymentKey, version: u64, since: u64) -> (Value, bool) {
    let mut counts: BTreeMap<&str, u64> = BTreeMap::new();
    let nodes: Vec<Value> = status
        .nodes
        .values()
        .map(|n| {
            let state = node_rollout(n, key, version, since);
            if n.connected {
                *counts.entry(state.name()).or_default() += 1;
            }
            let mut node = json!({
                "id": n.node_id,
                "region": n.region,
                "connected": n.connected,
                "state": state.name(),
                "serves": n.running.get(key).map(|r| r.version),
                "revision": n.revision,
            });
            if let NodeRollout::Failed { stage, reason } = &state {
                node["stage"] = json!(stage);
                node["reason"] = json!(reason);
            }
            if let Some((_, result)) = n.results.get(key)
                && !matches!(state, NodeRollout::Pending)
            {
                node["timing_ms"] = timing_json(&result.timing);
            }
            if let Some(close) = &n.last_close {
                node["last_close"] = json!(close);
            }
            node
        })
        .collect();
    let count = |s: &str| counts.get(s).copied().unwrap_or(0);
    let connected = count("serving") + count("pending") + count("failed");
    let settled = count("pending") == 0;
    (
        json!({
            "connected": connected,
            "serving": count("serving"),
            "pending": count("pending"),
            "failed": count("failed"),
            "done": connected > 0 && settled && count("failed") == 0,
            "nodes": nodes,
        }),
        settled,
    )
}

/// What a rollout answer is made of, for telling whether anything changed while waiting.
fn fingerprint(rollout: &Value) -> Vec<(Value, Value, Value, Value)> {
    rollout["nodes"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|n| {
            (
                n["id"].clone(),
                n["connected"].clone(),
                n["state"].clone(),
                n["serves"].clone(),
            )
        })
        .collect()
}

/// The rollout endpoint's query: `env`, `version`, `revision`, `wait_ms`.
#[derive(Default)]
pub(super) struct RolloutQuery {
    env: Option<String>,
    version: Option<u64>,
    revision: u64,
    wait: Duration,
}

impl RolloutQuery {
    pub(super) fn parse(query: Option<&str>) -> Result<RolloutQuery, ApiError> {
        let mut out = RolloutQuery::default();
        let number = |k: &str, v: &str| {
            v.parse::<u64>()
                .map_err(|_| ApiError::BadRequest(format!("'{k}' must be a whole number, not '{}'", v.escape_debug())))
        };
        for (k, v) in url::form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
            match k.as_ref() {
                "env" => {
                    names::check_env(&v).map_err(ApiError::BadRequest)?;
                    out.env = Some(v.into_owned());
                }
                "version" => out.version = Some(number(&k, &v)?),
                "revision" => out.revision = number(&k, &v)?,
                "wait_ms" => out.wait = Duration::from_millis(number(&k, &v)?).min(MAX_WAIT),
                other => return Err(ApiError::BadRequest(format!("unknown query parameter '{other}'"))),
            }
        }
        Ok(out)
    }
}

/// `GET /v1/deployments/{name}/rollout`
pub(super) async fn rollout(state: &Arc<ApiState>, scope: &Scope, name: &str, query: RolloutQuery) -> ApiResult {
    authorize(scope, name)?;
    let env = query.env.unwrap_or_else(|| PRODUCTION.to_string());
    let owned = name.to_string();
    let found = blocking(state, move |s| s.deployments(Some(&owned))).await?;
    let current = found
        .first()
        .ok_or_else(|| ApiError::from(StoreError::NoDeployment(name.to_string())))?
        .environments
        .get(&env)
        .map(|e| e.version);
    let version = query.version.or(current).ok_or_else(|| {
        ApiError::from(StoreError::NoEnvironment {
            name: name.to_string(),
            env: env.clone(),
        })
    })?;
    let key = DeploymentKey::new(name, env.clone());
    let mut nodes = state.nodes.clone();
    let deadline = tokio::time::Instant::now() + query.wait;
    let (first, settled) = rollout_json(&nodes.borrow_and_update(), &key, version, query.revision);
    let mut answer = first.clone();
    if !settled && !query.wait.is_zero() {
        // Wait for the first change that matters to the caller: a node serving, failing, coming or going.
        while let Ok(Ok(())) = tokio::time::timeout_at(deadline, nodes.changed()).await {
            let (now, settled) = rollout_json(&nodes.borrow_and_update(), &key, version, query.revision);
            answer = now;
            if settled || fingerprint(&answer) != fingerprint(&first) {
                break;
            }
        }
    }
    answer["name"] = json!(name);
    answer["env"] = json!(env);
    answer["version"] = json!(version);
    answer["current_version"] = json!(current);
    answer["revision"] = json!(state.publisher.revision());
    ok(answer)
}

fn node_json(n: &NodeStatus) -> Value {
    let running: Vec<Value> = n
        .running
        .iter()
        .map(|(k, r)| json!({ "name": k.name, "env": k.env, "version": r.version }))
        .collect();
    json!({
        "id": n.node_id,
        "region": n.region,
        "connected": n.connected,
        "address": n.address.to_string(),
        "connected_at": rfc3339(millis(n.connected_at)),
        "sessions": n.sessions,
        "revision": n.revision,
        "in_sync": n.in_sync,
        "last_heartbeat": n.last_heartbeat.map(|t| rfc3339(millis(t))),
        "last_heartbeat_age_ms": n.last_heartbeat.map(age_ms),
        "load": {
            "in_flight": n.load.in_flight,
            "isolates": n.load.isolates,
            "heap_bytes": n.load.heap_bytes,
            "cpu_permille": n.load.cpu_permille,
        },
        "health": health_json(&n.health),
        "bundles_sent": n.bundles_sent,
        "last_close": n.last_close,
        "running": running,
    })
}

/// `GET /v1/nodes`
pub(super) fn nodes(state: &Arc<ApiState>, scope: &Scope) -> ApiResult {
    require_admin(scope, "listing nodes")?;
    let status = state.nodes.borrow().clone();
    let nodes: Vec<Value> = status.nodes.values().map(node_json).collect();
    ok(json!({
        "revision": state.publisher.revision(),
        "connected": status.nodes.values().filter(|n| n.connected).count(),
        "nodes": nodes,
    }))
}

/// How many nodes are connected now.
pub(super) fn connected(state: &ApiState) -> usize {
    state.nodes.borrow().nodes.values().filter(|n| n.connected).count()
}

#[cfg(test)]
mod tests {
    use super::*;
    use outpost_protocol::{BundleHash, ConfigDigest, DeploymentResult, FailureStage, Running};

    fn running(version: u64) -> Running {
        Running {
            version,
            bundle: BundleHash([version as u8; 32]),
            config: ConfigDigest([0; 32]),
        }
    }

    fn node(id: &str, serves: Option<u64>) -> NodeStatus {
        let mut n = NodeStatus::new(id, "127.0.0.1:1".parse().unwrap());
        n.connected = true;
        n.region = "fra".into();
        if let Some(v) = serves {
            n.running.insert(DeploymentKey::new("hello", "production"), running(v));
        }
        n
    }

    fn failed(n: &mut NodeStatus, revision: u64, wanted: u64) {
        let key = DeploymentKey::new("hello", "production");
        let result = DeploymentResult {
            key: key.clone(),
            outcome: Outcome::Failed {
                wanted: running(wanted),
                stage: FailureStage::Activate,
                reason: "limits.memory_mb = 128 exceeds this node's maximum of 64".into(),
                running: Some(running(1)),
            },
            timing: Timing::default(),
        };
        n.results.insert(key, (revision, result));
    }

    #[test]
    fn each_node_serves_fails_or_waits() {
        let key = DeploymentKey::new("hello", "production");
        let mut status = ClusterStatus::default();
        status.nodes.insert("a".into(), node("a", Some(2)));
        status.nodes.insert("b".into(), node("b", Some(1)));
        let mut c = node("c", Some(1));
        failed(&mut c, 7, 2);
        status.nodes.insert("c".into(), c);
        let mut gone = node("d", None);
        gone.connected = false;
        status.nodes.insert("d".into(), gone);

        assert_eq!(node_rollout(&status.nodes["a"], &key, 2, 7), NodeRollout::Serving);
        assert_eq!(node_rollout(&status.nodes["b"], &key, 2, 7), NodeRollout::Pending);
        assert!(
            matches!(node_rollout(&status.nodes["c"], &key, 2, 7), NodeRollout::Failed { ref reason, .. } if reason.contains("memory_mb"))
        );
        // A failure acknowledged before the revision asked about is old news: a retry may succeed.
        assert_eq!(node_rollout(&status.nodes["c"], &key, 2, 8), NodeRollout::Pending);
        // A failure of another version says nothing about this one.
        assert_eq!(node_rollout(&status.nodes["c"], &key, 3, 0), NodeRollout::Pending);

        let (v, settled) = rollout_json(&status, &key, 2, 7);
        assert!(!settled, "b is pending");
        assert_eq!((v["connected"].as_u64(), v["serving"].as_u64()), (Some(3), Some(1)));
        assert_eq!((v["pending"].as_u64(), v["failed"].as_u64()), (Some(1), Some(1)));
        assert_eq!(v["done"], false);
        assert_eq!(v["nodes"][2]["stage"], "activate");
        assert_eq!(
            v["nodes"][3]["connected"], false,
            "disconnected nodes are listed, not counted"
        );

        status.nodes.remove("b");
        status.nodes.remove("c");
        let (v, settled) = rollout_json(&status, &key, 2, 7);
        assert!(settled && v["done"] == true, "{v}");
        let mut nobody = ClusterStatus::default();
        nobody.nodes.insert("d".into(), status.nodes["d"].clone());
        let (v, settled) = rollout_json(&nobody, &key, 2, 7);
        assert!(settled && v["done"] == false && v["connected"] == 0, "{v}");
    }
}
