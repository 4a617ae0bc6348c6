//! The commands that talk to a control plane's deploy API: read the
//! arguments, call the API client, print the answer as text (or as the
//! API's JSON with `--json`). `deploy`, `rollback` and `promote` then wait
//! for the nodes ([`crate::rollout`]).

use std::io::{IsTerminal, Read};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use outpost_control_plane::client::Client;
use outpost_control_plane::validate::Upload;
use serde_json::Value;

/// Where the API is and how to authenticate.
#[derive(Args, Debug, Clone)]
pub struct ApiArgs {
    /// Control plane API: http://HOST:PORT, https://HOST:PORT, or HOST:PORT
    /// (http on a loopback address, https elsewhere).
    #[arg(long = "api", env = "OUTPOST_API", default_value = outpost_control_plane::DEFAULT_API)]
    pub url: String,
    /// API token (the admin token is in the control plane's DATA/admin.token).
    #[arg(long, env = "OUTPOST_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// CA certificate to trust for an https API (the control plane's DATA/ca.pem).
    #[arg(long, env = "OUTPOST_CA")]
    pub ca: Option<PathBuf>,
    /// Print the API's JSON answer instead of text.
    #[arg(long)]
    pub json: bool,
}

impl ApiArgs {
    fn client(&self) -> anyhow::Result<Client> {
        let token = self.token.as_deref().map(str::trim).filter(|t| !t.is_empty());
        let Some(token) = token else {
            return Err(outpost_control_plane::client::ClientError::NoToken.into());
        };
        Ok(Client::new(&self.url, Some(token.to_string()), self.ca.as_deref())?)
    }

    /// Prints `value` as JSON when `--json`; returns whether it did.
    fn print_json(&self, value: &Value) -> bool {
        if self.json {
            println!("{}", serde_json::to_string_pretty(value).unwrap_or_default());
        }
        self.json
    }
}

/// How long to wait for the nodes after a change of what they serve.
#[derive(Args, Debug, Clone)]
pub struct WaitArgs {
    /// Seconds to wait for every connected node to serve the version.
    #[arg(long, default_value_t = 60, value_name = "SECONDS")]
    pub timeout: u64,
    /// Do not wait for the nodes: exit once the control plane accepted the change.
    #[arg(long)]
    pub no_wait: bool,
}

/// After the API accepted `answer` (a deploy, rollback or promotion): waits for the nodes unless
/// `--no-wait`, prints the answer as JSON with the rollout under `"rollout"` when `--json`.
async fn wait_for_nodes(
    api: &ApiArgs,
    wait: &WaitArgs,
    client: &Client,
    mut answer: Value,
    accepted: Instant,
) -> anyhow::Result<()> {
    let (name, env) = (s(&answer["name"]), s(&answer["env"]));
    let (Some(version), Some(revision)) = (answer["version"].as_u64(), answer["revision"].as_u64()) else {
        bail!("the control plane's answer names no version or revision: {answer}");
    };
    if wait.no_wait {
        api.print_json(&answer);
        return Ok(());
    }
    let target = crate::rollout::Target {
        name: &name,
        env: &env,
        version,
        revision,
    };
    let timeout = Duration::from_secs(wait.timeout);
    let (rollout, result) = crate::rollout::wait(client, &target, accepted, timeout, !api.json).await;
    if api.json {
        if let Some(rollout) = rollout {
            answer["rollout"] = rollout;
        }
        api.print_json(&answer);
    }
    result
}

/// `outpost secret …`
#[derive(Subcommand, Debug)]
pub enum SecretCommand {
    /// Set a secret; the value is read from standard input.
    Put {
        /// Deployment name.
        name: String,
        /// Key on `env`, e.g. API_KEY.
        key: String,
        /// Only for this environment (default: every environment).
        #[arg(long)]
        env: Option<String>,
        #[command(flatten)]
        api: ApiArgs,
    },
    /// List secret names (values are never shown).
    List {
        /// Deployment name.
        name: String,
        #[command(flatten)]
        api: ApiArgs,
    },
    /// Delete a secret.
    Delete {
        /// Deployment name.
        name: String,
        /// Key.
        key: String,
        /// The environment-specific secret (default: the one for every environment).
        #[arg(long)]
        env: Option<String>,
        #[command(flatten)]
        api: ApiArgs,
    },
}

/// `outpost token …`
#[derive(Subcommand, Debug)]
pub enum TokenCommand {
    /// Create a token (needs an admin token); prints it once.
    Create {
        /// Scope the token to this deployment.
        #[arg(long, required_unless_present = "admin", conflicts_with = "admin")]
        project: Option<String>,
        /// Create an admin token instead.
        #[arg(long)]
        admin: bool,
        /// A note stored with the token, e.g. "ci".
        #[arg(long)]
        label: Option<String>,
        #[command(flatten)]
        api: ApiArgs,
    },
}

fn s(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "-".into(),
        other => other.to_string(),
    }
}

/// Prints rows as columns separated by two spaces.
fn table(header: &[&str], rows: &[Vec<String>]) {
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<String>| {
        let mut out = String::new();
        for (i, (cell, w)) in cells.iter().zip(&widths).enumerate() {
            if i + 1 == cells.len() {
                out.push_str(cell);
            } else {
                out.push_str(&format!("{cell:<w$}  "));
            }
        }
        println!("{}", out.trim_end());
    };
    line(header.iter().map(|h| h.to_string()).collect());
    for row in rows {
        line(row.clone());
    }
}

/// Reads the deployment at `path` into an upload: the modules the node's
/// loader would load, the manifest text, the entry module.
fn read_upload(path: &Path) -> anyhow::Result<(String, Upload)> {
    let loaded = outpost_node::bundle::load_path(path)?;
    let mut manifest = None;
    let mut manifest_file = None;
    if path.is_dir() {
        for file in ["outpost.toml", "wrangler.toml"] {
            let p = path.join(file);
            if p.is_file() {
                manifest = Some(std::fs::read_to_string(&p).with_context(|| p.display().to_string())?);
                manifest_file = Some(file.to_string());
                break;
            }
        }
    }
    let upload = Upload {
        manifest,
        manifest_file,
        main: Some(loaded.bundle.main.clone()),
        files: loaded.bundle.modules.into_iter().map(|(p, m)| (p, m.code)).collect(),
    };
    Ok((loaded.name, upload))
}

/// `outpost deploy PATH [--name] [--env]`
pub async fn deploy(
    api: &ApiArgs,
    wait: &WaitArgs,
    path: &Path,
    name: Option<String>,
    env: Option<String>,
) -> anyhow::Result<()> {
    let (default_name, upload) = read_upload(path)?;
    let name = name.unwrap_or(default_name);
    let client = api.client()?;
    let v = client.deploy(&name, env.as_deref(), &upload).await?;
    let accepted = Instant::now();
    if api.json {
        return wait_for_nodes(api, wait, &client, v, accepted).await;
    }
    let previous = match v["previous"].as_u64() {
        Some(p) => format!(" (previously version {p})"),
        None => String::new(),
    };
    println!(
        "deployed {} version {} to {}{previous}",
        s(&v["name"]),
        v["version"],
        s(&v["env"])
    );
    let hash = s(&v["hash"]);
    println!(
        "  bundle  sha256 {}…, {} files, {} bytes",
        &hash[..hash.len().min(12)],
        v["files"],
        v["size"]
    );
    for host in v["hostnames"].as_array().into_iter().flatten() {
        println!("  serves  {}", s(host));
    }
    let routes: Vec<String> = v["routes"].as_array().into_iter().flatten().map(s).collect();
    if !routes.is_empty() {
        println!("  routes  {}", routes.join(", "));
    }
    wait_for_nodes(api, wait, &client, v, accepted).await
}

/// `outpost list`
pub async fn list(api: &ApiArgs) -> anyhow::Result<()> {
    let v = api.client()?.deployments().await?;
    if api.print_json(&v) {
        return Ok(());
    }
    let list = v["deployments"].as_array().cloned().unwrap_or_default();
    if list.is_empty() {
        println!("no deployments");
        return Ok(());
    }
    let rows: Vec<Vec<String>> = list
        .iter()
        .map(|d| {
            let envs = d["environments"]
                .as_object()
                .map(|m| {
                    m.iter()
                        .map(|(env, e)| format!("{env}=v{}", e["version"]))
                        .collect::<Vec<_>>()
                        .join(" ")
                })
                .unwrap_or_default();
            vec![s(&d["name"]), s(&d["latest_version"]), envs, s(&d["created_at"])]
        })
        .collect();
    table(&["NAME", "LATEST", "ENVIRONMENTS", "CREATED"], &rows);
    Ok(())
}

/// `outpost versions NAME`
pub async fn versions(api: &ApiArgs, name: &str) -> anyhow::Result<()> {
    let v = api.client()?.versions(name).await?;
    if api.print_json(&v) {
        return Ok(());
    }
    let rows: Vec<Vec<String>> = v["versions"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|ver| {
            let hash = s(&ver["hash"]);
            let active: Vec<String> = ver["active_in"].as_array().into_iter().flatten().map(s).collect();
            vec![
                s(&ver["version"]),
                s(&ver["created_at"]),
                hash[..hash.len().min(12)].to_string(),
                s(&ver["size"]),
                s(&ver["files"]),
                s(&ver["env"]),
                active.join(" "),
            ]
        })
        .collect();
    table(
        &[
            "VERSION",
            "CREATED",
            "SHA256",
            "BYTES",
            "FILES",
            "DEPLOYED TO",
            "ACTIVE IN",
        ],
        &rows,
    );
    Ok(())
}

/// `outpost rollback NAME [--to V] [--env ENV]`
pub async fn rollback(
    api: &ApiArgs,
    wait: &WaitArgs,
    name: &str,
    to: Option<u64>,
    env: Option<String>,
) -> anyhow::Result<()> {
    let client = api.client()?;
    let v = client.rollback(name, env.as_deref(), to).await?;
    let accepted = Instant::now();
    if !api.json {
        print_activation(&v, &format!("rolled back {name} in {}", s(&v["env"])));
    }
    wait_for_nodes(api, wait, &client, v, accepted).await
}

/// `outpost promote NAME --from ENV [--to ENV]`
pub async fn promote(api: &ApiArgs, wait: &WaitArgs, name: &str, from: &str, to: &str) -> anyhow::Result<()> {
    let client = api.client()?;
    let v = client.promote(name, from, to).await?;
    let accepted = Instant::now();
    if !api.json {
        print_activation(&v, &format!("promoted {name} from {from} to {to}"));
    }
    wait_for_nodes(api, wait, &client, v, accepted).await
}

fn print_activation(v: &Value, headline: &str) {
    let (name, env, version) = (s(&v["name"]), s(&v["env"]), &v["version"]);
    match v["previous"].as_u64() {
        Some(p) if Some(p) == version.as_u64() => println!("{name} in {env} already serves version {version}"),
        Some(p) => println!("{headline}: version {p} → version {version}"),
        None => println!("{headline}: now version {version}"),
    }
    println!("  serves  {}", s(&v["hostname"]));
}

/// `outpost delete NAME --yes`
pub async fn delete(api: &ApiArgs, name: &str, yes: bool) -> anyhow::Result<()> {
    if !yes {
        bail!("refusing to delete '{name}' without --yes: this deletes every version and secret of it");
    }
    let v = api.client()?.delete(name).await?;
    if api.print_json(&v) {
        return Ok(());
    }
    println!("deleted {name}");
    Ok(())
}

/// `outpost secret …`
pub async fn secret(command: SecretCommand) -> anyhow::Result<()> {
    match command {
        SecretCommand::Put { name, key, env, api } => {
            let client = api.client()?;
            let stdin = std::io::stdin();
            if stdin.is_terminal() {
                eprintln!("value for {key} (end with Ctrl-D):");
            }
            let mut value = String::new();
            stdin
                .lock()
                .read_to_string(&mut value)
                .context("reading the secret from standard input")?;
            // One trailing newline is the shell's (echo, a heredoc), not the value's.
            if let Some(v) = value.strip_suffix('\n') {
                value = v.strip_suffix('\r').unwrap_or(v).to_string();
            }
            if value.is_empty() {
                bail!(
                    "the secret value is empty: pass it on standard input, e.g. echo VALUE | outpost secret put {name} {key}"
                );
            }
            let v = client.put_secret(&name, &key, env.as_deref(), &value).await?;
            if !api.print_json(&v) {
                let scope = env.map_or_else(|| "every environment".to_string(), |e| format!("environment {e}"));
                println!("secret {key} of {name} written for {scope}");
            }
        }
        SecretCommand::List { name, api } => {
            let v = api.client()?.secrets(&name).await?;
            if !api.print_json(&v) {
                let rows: Vec<Vec<String>> = v["secrets"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|x| {
                        let env = x["env"].as_str().unwrap_or("(every environment)").to_string();
                        vec![s(&x["key"]), env, s(&x["updated_at"])]
                    })
                    .collect();
                if rows.is_empty() {
                    println!("{name} has no secrets");
                } else {
                    table(&["KEY", "ENVIRONMENT", "UPDATED"], &rows);
                }
            }
        }
        SecretCommand::Delete { name, key, env, api } => {
            let v = api.client()?.delete_secret(&name, &key, env.as_deref()).await?;
            if !api.print_json(&v) {
                println!("secret {key} of {name} deleted");
            }
        }
    }
    Ok(())
}

/// `outpost token create …`
pub async fn token(command: TokenCommand) -> anyhow::Result<()> {
    let TokenCommand::Create {
        project,
        admin: _,
        label,
        api,
    } = command;
    let v = api.client()?.create_token(project.as_deref(), label.as_deref()).await?;
    if api.print_json(&v) {
        return Ok(());
    }
    // The token alone on stdout, so `TOKEN=$(outpost token create …)` works.
    println!("{}", s(&v["token"]));
    match project {
        Some(p) => eprintln!("token for deployment {p}; it is not shown again"),
        None => eprintln!("admin token; it is not shown again"),
    }
    Ok(())
}

/// `outpost nodes`
pub async fn nodes(api: &ApiArgs) -> anyhow::Result<()> {
    let v = api.client()?.nodes().await?;
    if api.print_json(&v) {
        return Ok(());
    }
    let list = v["nodes"].as_array().cloned().unwrap_or_default();
    if list.is_empty() {
        println!(
            "no node has joined since the control plane started: start one with \
             outpost node --control HOST:PORT --token TOKEN --region NAME"
        );
        return Ok(());
    }
    let desired = v["revision"].as_u64().unwrap_or(0);
    println!(
        "{} of {} nodes connected; desired revision {desired}",
        v["connected"],
        list.len()
    );
    let rows: Vec<Vec<String>> = list
        .iter()
        .map(|n| {
            let state = match (n["connected"].as_bool(), n["in_sync"].as_bool()) {
                (Some(true), Some(true)) => "in sync".to_string(),
                (Some(true), _) => "syncing".to_string(),
                _ => "offline".to_string(),
            };
            let health = match n["health"]["status"].as_str() {
                Some("healthy") | None => String::new(),
                Some(other) => format!(" ({other})"),
            };
            let heartbeat = match n["last_heartbeat_age_ms"].as_u64() {
                Some(ms) => format!("{:.1} s ago", ms as f64 / 1000.0),
                None => "-".into(),
            };
            let load = &n["load"];
            let load = format!(
                "{} in flight, {} isolates, {} MiB heap, cpu {:.1}%",
                load["in_flight"],
                load["isolates"],
                load["heap_bytes"].as_u64().unwrap_or(0) >> 20,
                load["cpu_permille"].as_u64().unwrap_or(0) as f64 / 10.0
            );
            vec![
                s(&n["id"]),
                s(&n["region"]),
                format!("{state}{health}"),
                s(&n["revision"]),
                heartbeat,
                s(&n["address"]),
                load,
            ]
        })
        .collect();
    table(
        &["ID", "REGION", "STATE", "REVISION", "HEARTBEAT", "ADDRESS", "LOAD"],
        &rows,
    );
    Ok(())
}
