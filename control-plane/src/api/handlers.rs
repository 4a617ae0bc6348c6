//! The API's endpoints: routing, authentication, and one function per
//! endpoint. Store calls run on blocking threads; the V8 module check runs
//! on a blocking thread under a semaphore.

use std::sync::Arc;

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use hyper::body::Incoming;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use super::nodes::{self, RolloutQuery};
use super::{ApiError, ApiState, json_response};
use crate::bundle::{BundleArchive, hex, sha256};
use crate::names::{self, PRODUCTION};
use crate::store::{Activation, DeploymentInfo, NewVersion, Store, StoreError, VersionInfo, now_ms, rfc3339};
use crate::tokens::{self, Scope};
use crate::validate::{Refusal, Upload, check_modules, check_upload};

pub(super) type ApiResult = Result<Response<Full<Bytes>>, ApiError>;

/// Dispatches a request to its endpoint after checking its token.
pub(super) async fn route(state: &Arc<ApiState>, req: Request<Incoming>) -> ApiResult {
    let scope = authenticate(state, &req).await?;
    let path = req.uri().path().to_string();
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let method = req.method().clone();
    if let ["v1", "deployments", name, "rollout"] = segments.as_slice() {
        if method != Method::GET {
            return Err(ApiError::MethodNotAllowed(format!("{method} {path}: allowed: GET")));
        }
        let query = RolloutQuery::parse(req.uri().query())?;
        return nodes::rollout(state, &scope, name, query).await;
    }
    let query = Query::parse(req.uri().query())?;
    match (&method, segments.as_slice()) {
        (&Method::GET, ["v1", "cluster"]) => cluster(state),
        (&Method::GET, ["v1", "deployments"]) => list(state, &scope).await,
        (&Method::GET, ["v1", "deployments", name]) => show(state, &scope, name).await,
        (&Method::DELETE, ["v1", "deployments", name]) => delete(state, &scope, name).await,
        (&Method::POST, ["v1", "deployments", name, "versions"]) => deploy(state, &scope, name, &query, req).await,
        (&Method::GET, ["v1", "deployments", name, "versions"]) => versions(state, &scope, name).await,
        (&Method::GET, ["v1", "deployments", name, "versions", v]) => version(state, &scope, name, v, false).await,
        (&Method::GET, ["v1", "deployments", name, "versions", v, "bundle"]) => {
            version(state, &scope, name, v, true).await
        }
        (&Method::POST, ["v1", "deployments", name, "rollback"]) => rollback(state, &scope, name, req).await,
        (&Method::POST, ["v1", "deployments", name, "promote"]) => promote(state, &scope, name, req).await,
        (&Method::GET, ["v1", "deployments", name, "secrets"]) => secrets(state, &scope, name).await,
        (&Method::PUT, ["v1", "deployments", name, "secrets", key]) => {
            put_secret(state, &scope, name, key, &query, req).await
        }
        (&Method::DELETE, ["v1", "deployments", name, "secrets", key]) => {
            delete_secret(state, &scope, name, key, &query).await
        }
        (&Method::POST, ["v1", "tokens"]) => create_token(state, &scope, req).await,
        (&Method::GET, ["v1", "nodes"]) => nodes::nodes(state, &scope),
        (_, segments) => Err(match allowed_methods(segments) {
            Some(allowed) => ApiError::MethodNotAllowed(format!("{method} {path}: allowed: {allowed}")),
            None => ApiError::NotFound(format!("no endpoint {path}")),
        }),
    }
}

/// The methods a known path shape accepts.
fn allowed_methods(segments: &[&str]) -> Option<&'static str> {
    Some(match segments {
        ["v1", "cluster"] | ["v1", "deployments"] | ["v1", "nodes"] => "GET",
        ["v1", "deployments", _] => "GET, DELETE",
        ["v1", "deployments", _, "versions"] => "GET, POST",
        ["v1", "deployments", _, "versions", _] | ["v1", "deployments", _, "versions", _, "bundle"] => "GET",
        ["v1", "deployments", _, "rollback" | "promote"] | ["v1", "tokens"] => "POST",
        ["v1", "deployments", _, "secrets"] => "GET",
        ["v1", "deployments", _, "secrets", _] => "PUT, DELETE",
        _ => return None,
    })
}

/// The token's scope; join tokens are refused here.
async fn authenticate(state: &Arc<ApiState>, req: &Request<Incoming>) -> Result<Scope, ApiError> {
    let value = req
        .headers()
        .get(header::AUTHORIZATION)
        .ok_or_else(|| ApiError::Unauthorized("missing token: send the header 'Authorization: Bearer TOKEN'".into()))?;
    let token = value
        .to_str()
        .ok()
        .and_then(|v| v.split_once(' '))
        .filter(|(kind, _)| kind.eq_ignore_ascii_case("bearer"))
        .map(|(_, t)| t.trim())
        .filter(|t| !t.is_empty())
        .ok_or_else(|| ApiError::Unauthorized("malformed Authorization header: expected 'Bearer TOKEN'".into()))?;
    let hash = tokens::hash(token);
    match blocking(state, move |s| s.token_scope(&hash)).await? {
        None => Err(ApiError::Unauthorized("invalid token".into())),
        Some(Scope::Join) => Err(ApiError::Forbidden(
            "a join token is for nodes joining the cluster; use an admin or project token".into(),
        )),
        Some(scope) => Ok(scope),
    }
}

/// Checks the name and that `scope` may act on it.
pub(super) fn authorize(scope: &Scope, name: &str) -> Result<(), ApiError> {
    names::check_deployment_name(name).map_err(ApiError::BadRequest)?;
    match scope {
        _ if scope.allows(name) => Ok(()),
        Scope::Project(p) => Err(ApiError::Forbidden(format!(
            "this token is scoped to deployment '{p}' and cannot act on '{name}'"
        ))),
        _ => Err(ApiError::Forbidden(format!("this token cannot act on '{name}'"))),
    }
}

pub(super) fn require_admin(scope: &Scope, what: &str) -> Result<(), ApiError> {
    match scope {
        Scope::Admin => Ok(()),
        _ => Err(ApiError::Forbidden(format!("{what} needs an admin token"))),
    }
}

/// Runs a store operation on a blocking thread.
pub(super) async fn blocking<T: Send + 'static>(
    state: &Arc<ApiState>,
    f: impl FnOnce(&dyn Store) -> Result<T, StoreError> + Send + 'static,
) -> Result<T, ApiError> {
    let store = state.store.clone();
    tokio::task::spawn_blocking(move || f(&*store))
        .await
        .map_err(|e| ApiError::Internal(format!("store task failed: {e}")))?
        .map_err(ApiError::from)
}

/// Runs a store mutation on a blocking thread, then publishes the desired state it leads to, so
/// the nodes have been told by the time the caller hears the change is committed.
async fn mutate<T: Send + 'static>(
    state: &Arc<ApiState>,
    f: impl FnOnce(&dyn Store) -> Result<T, StoreError> + Send + 'static,
) -> Result<T, ApiError> {
    let store = state.store.clone();
    let publisher = state.publisher.clone();
    tokio::task::spawn_blocking(move || {
        let out = f(&*store)?;
        if let Err(e) = publisher.publish() {
            // The change is committed; the next change publishes it along.
            tracing::error!(error = %e, "cannot publish the desired state to the nodes");
        }
        Ok::<T, StoreError>(out)
    })
    .await
    .map_err(|e| ApiError::Internal(format!("store task failed: {e}")))?
    .map_err(ApiError::from)
}

/// The query string's parameters; only `env` is known.
struct Query {
    env: Option<String>,
}

impl Query {
    fn parse(query: Option<&str>) -> Result<Query, ApiError> {
        let mut env = None;
        for (k, v) in url::form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
            match k.as_ref() {
                "env" => env = Some(v.into_owned()),
                other => return Err(ApiError::BadRequest(format!("unknown query parameter '{other}'"))),
            }
        }
        Ok(Query { env })
    }

    /// The named environment, checked, or `None`.
    fn env(&self) -> Result<Option<&str>, ApiError> {
        match self.env.as_deref() {
            None => Ok(None),
            Some(e) => names::check_env(e).map(|()| Some(e)).map_err(ApiError::BadRequest),
        }
    }
}

async fn read_body(req: Request<Incoming>, max: usize) -> Result<Bytes, ApiError> {
    let length = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if let Some(len) = length
        && len > max as u64
    {
        return Err(ApiError::TooLarge(format!(
            "the request body is {len} bytes; the limit is {max}"
        )));
    }
    match Limited::new(req.into_body(), max).collect().await {
        Ok(c) => Ok(c.to_bytes()),
        Err(e) if e.downcast_ref::<LengthLimitError>().is_some() => Err(ApiError::TooLarge(format!(
            "the request body is larger than the limit of {max} bytes"
        ))),
        Err(e) => Err(ApiError::BadRequest(format!("reading the request body: {e}"))),
    }
}

/// Parses a JSON body; an empty body reads as `{}`.
fn parse_json<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    let body = if body.iter().all(u8::is_ascii_whitespace) {
        &b"{}"[..]
    } else {
        body
    };
    serde_json::from_slice(body).map_err(|e| ApiError::BadRequest(format!("invalid JSON body: {e}")))
}

pub(super) fn ok(body: Value) -> ApiResult {
    Ok(json_response(StatusCode::OK, &body))
}

fn version_json(v: &VersionInfo) -> Value {
    json!({
        "version": v.version,
        "hash": hex(&v.hash),
        "size": v.size,
        "files": v.files,
        "main": v.main,
        "manifest_file": v.manifest_file,
        "env": v.env,
        "created_at": rfc3339(v.created_at),
        "active_in": v.active_in,
    })
}

fn deployment_json(d: &DeploymentInfo, zone: &str) -> Value {
    let envs: serde_json::Map<String, Value> = d
        .environments
        .iter()
        .map(|(env, s)| {
            (
                env.clone(),
                json!({
                    "version": s.version,
                    "updated_at": rfc3339(s.updated_at),
                    "hostname": names::hostname(&d.name, env, zone),
                }),
            )
        })
        .collect();
    json!({
        "name": d.name,
        "created_at": rfc3339(d.created_at),
        "latest_version": d.latest_version,
        "environments": envs,
    })
}

fn activation_json(state: &ApiState, a: &Activation) -> Value {
    json!({
        "name": a.name,
        "env": a.env,
        "version": a.version,
        "previous": a.previous,
        "hostname": names::hostname(&a.name, &a.env, &state.config.zone),
        "revision": a.revision,
        "nodes_connected": nodes::connected(state),
    })
}

fn cluster(state: &Arc<ApiState>) -> ApiResult {
    ok(json!({
        "zone": state.config.zone,
        "signing_public_key": hex(state.identity.signing_public_key()),
        "ca_certificate": state.identity.ca_pem(),
        "version": env!("CARGO_PKG_VERSION"),
    }))
}

async fn list(state: &Arc<ApiState>, scope: &Scope) -> ApiResult {
    let only = scope.project().map(str::to_string);
    let list = blocking(state, move |s| s.deployments(only.as_deref())).await?;
    let zone = &state.config.zone;
    ok(json!({ "deployments": list.iter().map(|d| deployment_json(d, zone)).collect::<Vec<_>>() }))
}

async fn show(state: &Arc<ApiState>, scope: &Scope, name: &str) -> ApiResult {
    authorize(scope, name)?;
    let owned = name.to_string();
    let found = blocking(state, move |s| s.deployments(Some(&owned))).await?;
    match found.first() {
        Some(d) => ok(deployment_json(d, &state.config.zone)),
        None => Err(StoreError::NoDeployment(name.to_string()).into()),
    }
}

async fn delete(state: &Arc<ApiState>, scope: &Scope, name: &str) -> ApiResult {
    authorize(scope, name)?;
    let owned = name.to_string();
    mutate(state, move |s| s.delete_deployment(&owned)).await?;
    tracing::info!(deployment = name, "deployment deleted");
    ok(json!({ "deleted": name }))
}

async fn deploy(state: &Arc<ApiState>, scope: &Scope, name: &str, query: &Query, req: Request<Incoming>) -> ApiResult {
    authorize(scope, name)?;
    let env = query.env()?.unwrap_or(PRODUCTION).to_string();
    names::check_hostname_fits(name, &env).map_err(ApiError::BadRequest)?;
    let body = read_body(req, state.config.max_body_bytes).await?;
    let upload: Upload = parse_json(&body)?;
    drop(body);
    let limits = state.config.upload;
    let checked = {
        let _permit = state
            .validations
            .acquire()
            .await
            .map_err(|_| ApiError::Internal("the validator is shut down".into()))?;
        tokio::task::spawn_blocking(move || {
            let checked = check_upload(upload, &limits)?;
            check_modules(&checked.archive, &checked.manifest)?;
            Ok::<_, Refusal>(checked)
        })
        .await
        .map_err(|e| ApiError::Internal(format!("validation task failed: {e}")))??
    };
    let routes = checked.manifest.route_patterns();
    let bytes = checked.archive.to_bytes();
    let hash = sha256(&bytes);
    let new = NewVersion {
        name: name.to_string(),
        env: env.clone(),
        hash,
        files: u32::try_from(checked.archive.files.len()).unwrap_or(u32::MAX),
        manifest_file: checked.archive.manifest_file,
        manifest: checked.archive.manifest,
        main: checked.archive.main,
        bundle: bytes,
        at: now_ms(),
    };
    let (info, activation) = mutate(state, move |s| s.create_version(new)).await?;
    tracing::info!(deployment = name, env = %env, version = info.version, hash = %hex(&info.hash), "version deployed");
    let mut body = version_json(&info);
    body["name"] = json!(name);
    body["env"] = json!(env);
    body["previous"] = json!(activation.previous);
    body["hostnames"] = json!([names::hostname(name, &env, &state.config.zone)]);
    body["routes"] = json!(routes);
    body["revision"] = json!(activation.revision);
    body["nodes_connected"] = json!(nodes::connected(state));
    Ok(json_response(StatusCode::CREATED, &body))
}

async fn versions(state: &Arc<ApiState>, scope: &Scope, name: &str) -> ApiResult {
    authorize(scope, name)?;
    let owned = name.to_string();
    let list = blocking(state, move |s| s.versions(&owned)).await?;
    ok(json!({ "name": name, "versions": list.iter().map(version_json).collect::<Vec<_>>() }))
}

async fn version(state: &Arc<ApiState>, scope: &Scope, name: &str, v: &str, raw: bool) -> ApiResult {
    authorize(scope, name)?;
    let number: u64 = v
        .parse()
        .map_err(|_| ApiError::BadRequest(format!("'{}' is not a version number", v.escape_debug())))?;
    let owned = name.to_string();
    let (info, bytes) = blocking(state, move |s| s.version(&owned, number)).await?;
    if sha256(&bytes) != info.hash {
        tracing::error!(
            deployment = name,
            version = number,
            "stored bundle does not match its hash"
        );
        return Err(ApiError::Internal(format!(
            "the stored bundle of {name} version {number} does not match its hash"
        )));
    }
    if raw {
        let mut response = Response::new(Full::new(Bytes::from(bytes)));
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, http::HeaderValue::from_static("application/json"));
        if let Ok(v) = http::HeaderValue::from_str(&hex(&info.hash)) {
            headers.insert("x-outpost-sha256", v);
        }
        return Ok(response);
    }
    let archive = BundleArchive::from_bytes(&bytes).map_err(|e| {
        ApiError::Internal(format!(
            "the stored bundle of {name} version {number} is unreadable: {e}"
        ))
    })?;
    let mut body = version_json(&info);
    body["name"] = json!(name);
    body["manifest"] = json!(info.manifest);
    body["paths"] = archive
        .files
        .iter()
        .map(|(path, code)| json!({ "path": path, "bytes": code.len() }))
        .collect();
    ok(body)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RollbackBody {
    #[serde(default)]
    env: Option<String>,
    #[serde(default)]
    to: Option<u64>,
}

async fn rollback(state: &Arc<ApiState>, scope: &Scope, name: &str, req: Request<Incoming>) -> ApiResult {
    authorize(scope, name)?;
    let body: RollbackBody = parse_json(&read_body(req, 64 * 1024).await?)?;
    let env = body.env.unwrap_or_else(|| PRODUCTION.to_string());
    names::check_env(&env).map_err(ApiError::BadRequest)?;
    let (owned, env2) = (name.to_string(), env.clone());
    let a = mutate(state, move |s| s.rollback(&owned, &env2, body.to, now_ms())).await?;
    tracing::info!(deployment = name, env = %env, version = a.version, previous = ?a.previous, "rolled back");
    ok(activation_json(state, &a))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PromoteBody {
    from: String,
    #[serde(default)]
    to: Option<String>,
}

async fn promote(state: &Arc<ApiState>, scope: &Scope, name: &str, req: Request<Incoming>) -> ApiResult {
    authorize(scope, name)?;
    let body: PromoteBody = parse_json(&read_body(req, 64 * 1024).await?)?;
    let to = body.to.unwrap_or_else(|| PRODUCTION.to_string());
    for env in [&body.from, &to] {
        names::check_env(env).map_err(ApiError::BadRequest)?;
    }
    names::check_hostname_fits(name, &to).map_err(ApiError::BadRequest)?;
    if body.from == to {
        return Err(ApiError::BadRequest(format!("cannot promote '{to}' to itself")));
    }
    let (owned, from, to2) = (name.to_string(), body.from.clone(), to.clone());
    let a = mutate(state, move |s| s.promote(&owned, &from, &to2, now_ms())).await?;
    tracing::info!(deployment = name, from = %body.from, to = %to, version = a.version, "promoted");
    ok(activation_json(state, &a))
}

async fn secrets(state: &Arc<ApiState>, scope: &Scope, name: &str) -> ApiResult {
    authorize(scope, name)?;
    let owned = name.to_string();
    let list = blocking(state, move |s| s.secret_names(&owned)).await?;
    let list: Vec<Value> = list
        .iter()
        .map(|s| json!({ "key": s.key, "env": s.env, "updated_at": rfc3339(s.updated_at) }))
        .collect();
    ok(json!({ "name": name, "secrets": list }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SecretBody {
    value: String,
}

async fn put_secret(
    state: &Arc<ApiState>,
    scope: &Scope,
    name: &str,
    key: &str,
    query: &Query,
    req: Request<Incoming>,
) -> ApiResult {
    authorize(scope, name)?;
    names::check_secret_key(key).map_err(ApiError::BadRequest)?;
    let env = query.env()?.map(str::to_string);
    let max = state.config.max_secret_bytes;
    let body: SecretBody = parse_json(&read_body(req, max * 6 + 1024).await?)?;
    if body.value.is_empty() {
        return Err(ApiError::BadRequest("the secret value is empty".into()));
    }
    if body.value.len() > max {
        return Err(ApiError::TooLarge(format!(
            "the secret value is {} bytes; the limit is {max}",
            body.value.len()
        )));
    }
    let (owned, k, e) = (name.to_string(), key.to_string(), env.clone());
    mutate(state, move |s| {
        s.put_secret(&owned, e.as_deref(), &k, &body.value, now_ms())
    })
    .await?;
    tracing::info!(deployment = name, key, env = ?env, "secret written");
    ok(json!({ "name": name, "key": key, "env": env }))
}

async fn delete_secret(state: &Arc<ApiState>, scope: &Scope, name: &str, key: &str, query: &Query) -> ApiResult {
    authorize(scope, name)?;
    names::check_secret_key(key).map_err(ApiError::BadRequest)?;
    let env = query.env()?.map(str::to_string);
    let (owned, k, e) = (name.to_string(), key.to_string(), env.clone());
    if !mutate(state, move |s| s.delete_secret(&owned, e.as_deref(), &k)).await? {
        let where_ = env.map_or_else(
            || "for every environment".to_string(),
            |e| format!("for environment '{e}'"),
        );
        return Err(ApiError::NotFound(format!(
            "deployment '{name}' has no secret '{key}' {where_}"
        )));
    }
    ok(json!({ "name": name, "deleted": key, "env": env }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TokenBody {
    scope: String,
    #[serde(default)]
    project: Option<String>,
    #[serde(default)]
    label: Option<String>,
}

async fn create_token(state: &Arc<ApiState>, scope: &Scope, req: Request<Incoming>) -> ApiResult {
    require_admin(scope, "creating tokens")?;
    let body: TokenBody = parse_json(&read_body(req, 64 * 1024).await?)?;
    let new_scope = match (body.scope.as_str(), body.project) {
        ("admin", None) => Scope::Admin,
        ("project", Some(p)) => {
            names::check_deployment_name(&p).map_err(ApiError::BadRequest)?;
            Scope::Project(p)
        }
        ("admin", Some(_)) => return Err(ApiError::BadRequest("an admin token has no project".into())),
        ("project", None) => return Err(ApiError::BadRequest("a project token needs \"project\"".into())),
        (other, _) => {
            return Err(ApiError::BadRequest(format!(
                "unknown scope '{}': expected \"admin\" or \"project\"",
                other.escape_debug()
            )));
        }
    };
    let label = body.label.unwrap_or_default();
    if label.len() > 200 || label.chars().any(char::is_control) {
        return Err(ApiError::BadRequest(
            "the label must be at most 200 printable bytes".into(),
        ));
    }
    let token = tokens::generate(&new_scope).map_err(|e| ApiError::Internal(e.to_string()))?;
    let hash = tokens::hash(&token);
    let (s, l) = (new_scope.clone(), label.clone());
    blocking(state, move |store| store.add_token(&hash, &s, &l, now_ms())).await?;
    tracing::info!(scope = new_scope.kind(), project = ?new_scope.project(), label = %label, "token created");
    Ok(json_response(
        StatusCode::CREATED,
        &json!({ "token": token, "scope": new_scope.kind(), "project": new_scope.project(), "label": label }),
    ))
}
