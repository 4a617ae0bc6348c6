//! A client of the deploy API, for the CLI: one HTTP/1.1 request per
//! connection, TLS trusting the cluster CA (`--ca`) or the public roots.
//!
//! The API address is a URL (`http://127.0.0.1:8700`,
//! `https://cp.example.com:8700`) or a bare `HOST:PORT`, which means
//! `http` on a loopback address and `https` elsewhere, as the control
//! plane serves it.

use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, header};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use serde_json::Value;
use tokio_rustls::TlsConnector;
use url::Url;

use crate::validate::Upload;

/// Time to connect (and finish the TLS handshake).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Time for a whole request, including the server's module check.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(120);
/// Largest response read.
const MAX_RESPONSE: usize = 256 * 1024 * 1024;

/// Why a request failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The API address, token or CA file is unusable.
    #[error("{0}")]
    Config(String),
    /// No token was given.
    #[error(
        "no API token: pass --token or set OUTPOST_TOKEN (the control plane writes the admin token to DATA/admin.token)"
    )]
    NoToken,
    /// The connection failed.
    #[error("cannot reach the control plane at {url}: {message}")]
    Connect {
        /// The API address.
        url: String,
        /// Why.
        message: String,
    },
    /// The API answered with an error.
    #[error("{message} (HTTP {status})")]
    Api {
        /// HTTP status.
        status: u16,
        /// The `code` of the error body.
        code: String,
        /// The `error` of the error body.
        message: String,
        /// The whole error body.
        body: Value,
    },
    /// The answer is not what the API sends.
    #[error("unexpected answer from the control plane: {0}")]
    Protocol(String),
}

/// A deploy API client.
#[derive(Clone)]
pub struct Client {
    base: Url,
    token: Option<String>,
    tls: Option<TlsConnector>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("base", &self.base.as_str())
            .finish_non_exhaustive()
    }
}

/// Parses an API address (see the module docs).
pub fn parse_api_url(api: &str) -> Result<Url, ClientError> {
    let text = if api.contains("://") {
        api.to_string()
    } else {
        let host = api.rsplit_once(':').map_or(api, |(h, _)| h);
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let loopback = host == "localhost" || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback());
        format!("{}://{api}", if loopback { "http" } else { "https" })
    };
    let url = Url::parse(&text).map_err(|e| ClientError::Config(format!("invalid API address '{api}': {e}")))?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err(ClientError::Config(format!(
            "invalid API address '{api}': expected http://HOST:PORT or https://HOST:PORT"
        )));
    }
    Ok(url)
}

impl Client {
    /// A client for the API at `api`, authenticating with `token`; HTTPS
    /// trusts the CA certificate in `ca` if given, else the public roots.
    pub fn new(api: &str, token: Option<String>, ca: Option<&Path>) -> Result<Client, ClientError> {
        let base = parse_api_url(api)?;
        let tls = if base.scheme() == "https" {
            let mut roots = rustls::RootCertStore::empty();
            match ca {
                Some(path) => {
                    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
                        .and_then(|it| it.collect::<Result<_, _>>())
                        .map_err(|e| ClientError::Config(format!("{}: {e}", path.display())))?;
                    if certs.is_empty() {
                        return Err(ClientError::Config(format!(
                            "{}: no certificate in the file",
                            path.display()
                        )));
                    }
                    for cert in certs {
                        roots
                            .add(cert)
                            .map_err(|e| ClientError::Config(format!("{}: {e}", path.display())))?;
                    }
                }
                None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
            }
            let mut config =
                rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
                    .with_safe_default_protocol_versions()
                    .map_err(|e| ClientError::Config(e.to_string()))?
                    .with_root_certificates(roots)
                    .with_no_client_auth();
            config.alpn_protocols = vec![b"http/1.1".to_vec()];
            Some(TlsConnector::from(Arc::new(config)))
        } else {
            None
        };
        Ok(Client { base, token, tls })
    }

    /// The API's base URL.
    pub fn base(&self) -> &Url {
        &self.base
    }

    fn url(&self, segments: &[&str], env: Option<&str>) -> Url {
        let mut url = self.base.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty().extend(segments);
        }
        url.set_query(None);
        if let Some(env) = env {
            url.query_pairs_mut().append_pair("env", env);
        }
        url
    }

    /// Uploads a bundle as the next version of `name` in `env`.
    pub async fn deploy(&self, name: &str, env: Option<&str>, upload: &Upload) -> Result<Value, ClientError> {
        let body = serde_json::to_vec(upload).map_err(|e| ClientError::Config(e.to_string()))?;
        self.json(
            Method::POST,
            self.url(&["v1", "deployments", name, "versions"], env),
            Some(body),
        )
        .await
    }

    /// Every deployment the token may see.
    pub async fn deployments(&self) -> Result<Value, ClientError> {
        self.json(Method::GET, self.url(&["v1", "deployments"], None), None)
            .await
    }

    /// The versions of `name`.
    pub async fn versions(&self, name: &str) -> Result<Value, ClientError> {
        self.json(
            Method::GET,
            self.url(&["v1", "deployments", name, "versions"], None),
            None,
        )
        .await
    }

    /// Rolls `env` of `name` back (to `to`, or the previous version it served).
    pub async fn rollback(&self, name: &str, env: Option<&str>, to: Option<u64>) -> Result<Value, ClientError> {
        let body = serde_json::json!({ "env": env, "to": to });
        self.json(
            Method::POST,
            self.url(&["v1", "deployments", name, "rollback"], None),
            Some(body.to_string().into_bytes()),
        )
        .await
    }

    /// Points `to` at the version `from` serves.
    pub async fn promote(&self, name: &str, from: &str, to: &str) -> Result<Value, ClientError> {
        let body = serde_json::json!({ "from": from, "to": to });
        self.json(
            Method::POST,
            self.url(&["v1", "deployments", name, "promote"], None),
            Some(body.to_string().into_bytes()),
        )
        .await
    }

    /// Deletes `name`.
    pub async fn delete(&self, name: &str) -> Result<Value, ClientError> {
        self.json(Method::DELETE, self.url(&["v1", "deployments", name], None), None)
            .await
    }

    /// Writes a secret of `name` for `env` (or every environment).
    pub async fn put_secret(
        &self,
        name: &str,
        key: &str,
        env: Option<&str>,
        value: &str,
    ) -> Result<Value, ClientError> {
        let body = serde_json::json!({ "value": value });
        self.json(
            Method::PUT,
            self.url(&["v1", "deployments", name, "secrets", key], env),
            Some(body.to_string().into_bytes()),
        )
        .await
    }

    /// Deletes a secret of `name` for `env` (or every environment).
    pub async fn delete_secret(&self, name: &str, key: &str, env: Option<&str>) -> Result<Value, ClientError> {
        self.json(
            Method::DELETE,
            self.url(&["v1", "deployments", name, "secrets", key], env),
            None,
        )
        .await
    }

    /// The names of `name`'s secrets.
    pub async fn secrets(&self, name: &str) -> Result<Value, ClientError> {
        self.json(
            Method::GET,
            self.url(&["v1", "deployments", name, "secrets"], None),
            None,
        )
        .await
    }

    /// Creates a token: admin when `project` is `None`.
    pub async fn create_token(&self, project: Option<&str>, label: Option<&str>) -> Result<Value, ClientError> {
        let scope = if project.is_some() { "project" } else { "admin" };
        let body = serde_json::json!({ "scope": scope, "project": project, "label": label });
        self.json(
            Method::POST,
            self.url(&["v1", "tokens"], None),
            Some(body.to_string().into_bytes()),
        )
        .await
    }

    /// The nodes seen since the control plane started.
    pub async fn nodes(&self) -> Result<Value, ClientError> {
        self.json(Method::GET, self.url(&["v1", "nodes"], None), None).await
    }

    /// Which connected node serves `version` of `name` in `env`, and which failed, judging failures
    /// acknowledged at `revision` or later; the control plane answers once something changed, or
    /// after `wait` (at most 30 s) when nothing did.
    pub async fn rollout(
        &self,
        name: &str,
        env: &str,
        version: u64,
        revision: u64,
        wait: Duration,
    ) -> Result<Value, ClientError> {
        let mut url = self.url(&["v1", "deployments", name, "rollout"], Some(env));
        url.query_pairs_mut()
            .append_pair("version", &version.to_string())
            .append_pair("revision", &revision.to_string())
            .append_pair("wait_ms", &wait.as_millis().to_string());
        self.json(Method::GET, url, None).await
    }

    /// Sends a request and reads a JSON answer; an error status becomes
    /// [`ClientError::Api`].
    pub async fn json(&self, method: Method, url: Url, body: Option<Vec<u8>>) -> Result<Value, ClientError> {
        let token = self.token.as_deref().ok_or(ClientError::NoToken)?;
        let (status, bytes) = tokio::time::timeout(REQUEST_TIMEOUT, self.send(method, &url, token, body))
            .await
            .map_err(|_| ClientError::Connect {
                url: self.base.to_string(),
                message: format!("no answer within {} s", REQUEST_TIMEOUT.as_secs()),
            })??;
        let value: Value = serde_json::from_slice(&bytes).map_err(|_| {
            ClientError::Protocol(format!(
                "HTTP {status} with a body that is not JSON: {}",
                String::from_utf8_lossy(&bytes[..bytes.len().min(200)])
            ))
        })?;
        if (200..300).contains(&status) {
            return Ok(value);
        }
        Err(ClientError::Api {
            status,
            code: value["code"].as_str().unwrap_or("").to_string(),
            message: value["error"].as_str().unwrap_or("request failed").to_string(),
            body: value,
        })
    }

    async fn send(
        &self,
        method: Method,
        url: &Url,
        token: &str,
        body: Option<Vec<u8>>,
    ) -> Result<(u16, Bytes), ClientError> {
        let host = url.host_str().unwrap_or_default().to_string();
        let port = url.port_or_known_default().unwrap_or(80);
        let connect_error = |message: String| ClientError::Connect {
            url: self.base.to_string(),
            message,
        };
        let dial_host = host.trim_start_matches('[').trim_end_matches(']').to_string();
        let tcp = tokio::time::timeout(
            CONNECT_TIMEOUT,
            tokio::net::TcpStream::connect((dial_host.as_str(), port)),
        )
        .await
        .map_err(|_| connect_error("connection timed out".into()))?
        .map_err(|e| connect_error(e.to_string()))?;
        let _ = tcp.set_nodelay(true);
        let mut target = url.path().to_string();
        if let Some(q) = url.query() {
            target.push('?');
            target.push_str(q);
        }
        let host_header = match url.port() {
            Some(p) => format!("{host}:{p}"),
            None => host.clone(),
        };
        let has_body = body.is_some();
        let mut request = Request::builder()
            .method(method)
            .uri(target)
            .header(header::HOST, host_header)
            .header(header::AUTHORIZATION, format!("Bearer {token}"))
            .header(header::USER_AGENT, concat!("outpost/", env!("CARGO_PKG_VERSION")))
            .header(header::ACCEPT, "application/json");
        if has_body {
            request = request.header(header::CONTENT_TYPE, "application/json");
        }
        let request = request
            .body(Full::new(Bytes::from(body.unwrap_or_default())))
            .map_err(|e| ClientError::Config(format!("building the request: {e}")))?;
        let result = match &self.tls {
            None => exchange(TokioIo::new(tcp), request).await.map_err(|e| match e {
                // A TLS server answering a plain request looks like garbage to HTTP.
                ClientError::Connect { message, .. } if message.contains("invalid HTTP") => ClientError::Connect {
                    url: String::new(),
                    message: format!("{message} (does the API speak HTTPS? use --api https://HOST:PORT)"),
                },
                other => other,
            }),
            Some(connector) => {
                let name = ServerName::try_from(dial_host.clone())
                    .map_err(|e| ClientError::Config(format!("invalid TLS server name '{dial_host}': {e}")))?;
                let tls = tokio::time::timeout(CONNECT_TIMEOUT, connector.connect(name, tcp))
                    .await
                    .map_err(|_| connect_error("TLS handshake timed out".into()))?
                    .map_err(|e| {
                        connect_error(format!(
                            "TLS: {e} (pass the cluster's CA certificate with --ca or OUTPOST_CA)"
                        ))
                    })?;
                exchange(TokioIo::new(tls), request).await
            }
        };
        result.map_err(|e| match e {
            ClientError::Connect { message, .. } => connect_error(message),
            other => other,
        })
    }
}

async fn exchange<IO>(io: TokioIo<IO>, request: Request<Full<Bytes>>) -> Result<(u16, Bytes), ClientError>
where
    IO: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let connect = |e: hyper::Error| ClientError::Connect {
        url: String::new(),
        message: e.to_string(),
    };
    let (mut sender, conn) = hyper::client::conn::http1::handshake(io).await.map_err(connect)?;
    let driver = tokio::spawn(async move {
        let _ = conn.await;
    });
    let response = sender.send_request(request).await.map_err(connect)?;
    let status = response.status().as_u16();
    let body = http_body_util::Limited::new(response.into_body(), MAX_RESPONSE)
        .collect()
        .await
        .map_err(|e| ClientError::Protocol(format!("reading the answer: {e}")))?
        .to_bytes();
    driver.abort();
    Ok((status, body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bare_addresses_pick_http_on_loopback_and_https_elsewhere() {
        assert_eq!(
            parse_api_url("127.0.0.1:8700").unwrap().as_str(),
            "http://127.0.0.1:8700/"
        );
        assert_eq!(parse_api_url("localhost:1").unwrap().scheme(), "http");
        assert_eq!(parse_api_url("[::1]:1").unwrap().scheme(), "http");
        assert_eq!(parse_api_url("10.0.0.1:8700").unwrap().scheme(), "https");
        assert_eq!(parse_api_url("cp.example.com:8700").unwrap().scheme(), "https");
        assert_eq!(parse_api_url("http://10.0.0.1:1").unwrap().scheme(), "http");
        assert!(parse_api_url("ftp://x").is_err());
    }

    #[test]
    fn urls_encode_segments_and_the_environment() {
        let c = Client::new("http://127.0.0.1:1/", Some("t".into()), None).unwrap();
        let url = c.url(&["v1", "deployments", "a/../b", "versions"], Some("staging"));
        assert_eq!(
            url.as_str(),
            "http://127.0.0.1:1/v1/deployments/a%2F..%2Fb/versions?env=staging"
        );
    }
}
