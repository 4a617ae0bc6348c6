//! Host (+ path) → deployment. Reads take no lock: the table is an
//! immutable snapshot swapped whole (`arc-swap`) when deployments change.

use std::sync::{Arc, Mutex};

use arc_swap::ArcSwap;

use crate::limits::DeploymentLimits;
use crate::local_copy::LocalCopy;
use crate::worker::WorkerHandle;

/// Where a request goes.
#[derive(Clone)]
pub struct Target {
    /// The deployment's key on its worker.
    pub deployment: Arc<str>,
    /// The isolate thread that serves it.
    pub worker: WorkerHandle,
    /// Its limits (the ingress enforces the body sizes).
    pub limits: DeploymentLimits,
}

impl Target {
    /// `deployment` on `worker`, with the default limits.
    pub fn new(deployment: Arc<str>, worker: WorkerHandle) -> Self {
        Target {
            deployment,
            worker,
            limits: DeploymentLimits::default(),
        }
    }
}

/// A route pattern: `host/path*` as in `api.example.com/v1/*`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RoutePattern {
    /// Host, or `*.example.com` for any subdomain.
    pub host: String,
    /// Path prefix when the pattern ends in `*`, else the exact path.
    pub path: String,
    /// Whether `path` is a prefix.
    pub prefix: bool,
}

impl RoutePattern {
    /// Parses `api.example.com/v1/*` (a scheme is ignored; a bare host
    /// matches every path).
    pub fn parse(pattern: &str) -> Option<Self> {
        let p = pattern.trim();
        let p = p
            .strip_prefix("https://")
            .or_else(|| p.strip_prefix("http://"))
            .unwrap_or(p);
        let (host, path) = match p.find('/') {
            Some(i) => (&p[..i], &p[i..]),
            None => (p, "/*"),
        };
        if host.is_empty() {
            return None;
        }
        let (path, prefix) = match path.strip_suffix('*') {
            Some(pre) => (pre, true),
            None => (path, false),
        };
        Some(RoutePattern {
            host: host.to_ascii_lowercase(),
            path: path.to_string(),
            prefix,
        })
    }

    fn matches(&self, host: &str, path: &str) -> bool {
        let host_ok = match self.host.strip_prefix("*.") {
            Some(suffix) => {
                host.len() > suffix.len() + 1
                    && host.ends_with(suffix)
                    && host.as_bytes()[host.len() - suffix.len() - 1] == b'.'
            }
            None => self.host == "*" || self.host == host,
        };
        host_ok
            && if self.prefix {
                path.starts_with(&self.path)
            } else {
                path == self.path
            }
    }
}

#[derive(Clone, Default)]
struct Table {
    /// Custom routes, most specific (longest path) first.
    routes: Vec<(RoutePattern, Arc<Target>)>,
    /// `NAME` or `NAME--ENV` under the zone.
    names: foldhash::HashMap<String, Arc<Target>>,
    /// Where everything else goes (`outpost dev` serves one deployment on
    /// every host).
    fallback: Option<Arc<Target>>,
}

/// `host` without a port (`:` and digits at the end) or trailing dots.
fn bare_host(host: &str) -> &str {
    let b = host.as_bytes();
    let mut end = b.len();
    let mut i = end;
    while i > 0 && b[i - 1].is_ascii_digit() {
        i -= 1;
    }
    if i > 0 && b[i - 1] == b':' {
        end = i - 1;
    }
    while end > 0 && b[end - 1] == b'.' {
        end -= 1;
    }
    // Both cuts are at ASCII bytes, so on character boundaries.
    &host[..end]
}

/// The routing table.
pub struct Router {
    zone: String,
    /// Shared with the [`RouteCache`]s of connections.
    table: Arc<ArcSwap<Table>>,
    /// Serialises updates (each copies the table and swaps the copy in).
    writer: Mutex<()>,
}

impl Router {
    /// A router answering `NAME.<zone>`.
    pub fn new(zone: &str) -> Self {
        Router {
            zone: zone.trim_matches('.').to_ascii_lowercase(),
            table: Arc::default(),
            writer: Mutex::new(()),
        }
    }

    fn update(&self, f: impl FnOnce(&mut Table)) {
        let _writer = self.writer.lock().unwrap_or_else(|e| e.into_inner());
        let mut next = Table::clone(&self.table.load());
        f(&mut next);
        self.table.store(Arc::new(next));
    }

    /// Serves `NAME.<zone>` (and the custom `routes`) from `target`.
    pub fn set(&self, name_label: &str, routes: &[RoutePattern], target: Target) {
        let target = Arc::new(target);
        self.update(|t| {
            t.names.insert(name_label.to_ascii_lowercase(), target.clone());
            t.routes.retain(|(_, tg)| tg.deployment != target.deployment);
            for r in routes {
                t.routes.push((r.clone(), target.clone()));
            }
            t.routes.sort_by_key(|r| std::cmp::Reverse(r.0.path.len()));
        });
    }

    /// Stops serving `NAME.<zone>` and the custom routes of the deployment that answered it, so
    /// their requests get what any unknown host gets (404, or the fallback). Returns whether the
    /// name was served.
    pub fn remove(&self, name_label: &str) -> bool {
        let mut removed = false;
        self.update(|t| {
            if let Some(target) = t.names.remove(&name_label.to_ascii_lowercase()) {
                t.routes.retain(|(_, tg)| tg.deployment != target.deployment);
                removed = true;
            }
        });
        removed
    }

    /// Sends every request no route or name matches to `target`.
    pub fn set_fallback(&self, target: Option<Target>) {
        let target = target.map(Arc::new);
        self.update(|t| t.fallback = target);
    }

    /// Starts the isolate of the deployment serving `host`, if any — called
    /// with a TLS ClientHello's server name, so the isolate loads while the
    /// handshake completes.
    pub fn prewarm(&self, host: &str) {
        if let Some(t) = self.resolve(host, "/") {
            t.worker.prewarm(&t.deployment);
        }
    }

    /// The target for `host` (port stripped, any case) and `path`.
    pub fn resolve(&self, host: &str, path: &str) -> Option<Arc<Target>> {
        self.lookup(&self.table.load(), host, path).cloned()
    }

    /// [`resolve`](Self::resolve) through a connection's copy of the
    /// table (see [`LocalCopy`]); the target is lent, not counted.
    pub fn resolve_cached<'c>(&self, cache: &'c mut RouteCache, host: &str, path: &str) -> Option<&'c Arc<Target>> {
        let table = cache.0.load(&self.table);
        self.lookup(table, host, path)
    }

    fn lookup<'t>(&self, table: &'t Table, host: &str, path: &str) -> Option<&'t Arc<Target>> {
        let host = bare_host(host);
        let host = match host.bytes().any(|b| b.is_ascii_uppercase()) {
            true => std::borrow::Cow::Owned(host.to_ascii_lowercase()),
            false => std::borrow::Cow::Borrowed(host),
        };
        for (pattern, target) in &table.routes {
            if pattern.matches(&host, path) {
                return Some(target);
            }
        }
        if let Some(label) = host.strip_suffix(&self.zone).and_then(|h| h.strip_suffix('.'))
            && let Some(t) = table.names.get(label)
        {
            return Some(t);
        }
        table.fallback.as_ref()
    }
}

/// A connection's copy of a [`Router`]'s table.
#[derive(Default)]
pub struct RouteCache(LocalCopy<Table>);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bare_hosts_lose_port_and_trailing_dots() {
        for (host, bare) in [
            ("example.com", "example.com"),
            ("example.com:8787", "example.com"),
            ("example.com.:443", "example.com"),
            ("example.com.", "example.com"),
            ("example.com:", "example.com"),
            ("127.0.0.1:18801", "127.0.0.1"),
            ("127.0.0.1", "127.0.0.1"),
            ("[::1]:8080", "[::1]"),
            ("[::1]", "[::1]"),
            ("a:b", "a:b"),
            ("", ""),
        ] {
            assert_eq!(bare_host(host), bare, "{host}");
        }
    }

    #[test]
    fn parses_patterns() {
        let p = RoutePattern::parse("api.example.com/v1/*").unwrap();
        assert_eq!(
            p,
            RoutePattern {
                host: "api.example.com".into(),
                path: "/v1/".into(),
                prefix: true
            }
        );
        assert!(p.matches("api.example.com", "/v1/users"));
        assert!(!p.matches("api.example.com", "/v2/users"));
        let any = RoutePattern::parse("*.example.com").unwrap();
        assert!(any.matches("a.example.com", "/x"));
        assert!(!any.matches("example.com", "/x"));
        assert!(!any.matches("badexample.com", "/x"));
        assert!(RoutePattern::parse("/x").is_none());
    }

    /// A pool of one isolate thread.
    fn pool() -> (WorkerHandle, Vec<std::thread::JoinHandle<()>>) {
        let config = crate::worker::WorkerConfig {
            log_sink: crate::host::LogSink::Tracing,
            runtime: outpost_js::RuntimeOptions::default(),
            outbound: Default::default(),
        };
        crate::worker::spawn_pool(1, config, crate::worker::PoolLimits::default()).expect("isolate threads")
    }

    #[test]
    fn a_removed_deployment_answers_nothing_and_its_neighbours_stay() {
        let (handle, _joins) = pool();
        let router = Router::new("edge.test");
        let api = RoutePattern::parse("api.example.com/v1/*").unwrap();
        router.set("hello", &[api], Target::new("hello--production".into(), handle.clone()));
        router.set("other", &[], Target::new("other--production".into(), handle.clone()));
        let served = |host: &str, path: &str| router.resolve(host, path).map(|t| t.deployment.to_string());
        assert_eq!(served("hello.edge.test", "/").as_deref(), Some("hello--production"));
        assert_eq!(served("api.example.com", "/v1/x").as_deref(), Some("hello--production"));

        assert!(router.remove("HELLO"), "names are case-insensitive");
        assert_eq!(served("hello.edge.test", "/"), None);
        assert_eq!(served("api.example.com", "/v1/x"), None, "its routes go too");
        assert_eq!(
            served("other.edge.test:8787", "/").as_deref(),
            Some("other--production")
        );
        assert!(!router.remove("hello"), "already gone");
    }

    /// A connection's copy answers as the router does after every change,
    /// and a copy of another router's table is replaced on first use.
    #[test]
    fn a_route_cache_follows_the_table() {
        let (handle, _joins) = pool();
        let router = Router::new("edge.test");
        let other = Router::new("other.test");
        let mut cache = RouteCache::default();
        assert!(other.resolve_cached(&mut cache, "a.edge.test", "/").is_none());
        let served = |cache: &mut RouteCache, host: &str| {
            router
                .resolve_cached(cache, host, "/")
                .map(|t| t.deployment.to_string())
        };
        assert_eq!(served(&mut cache, "a.edge.test"), None);
        router.set("a", &[], Target::new("a--production".into(), handle.clone()));
        assert_eq!(served(&mut cache, "a.edge.test").as_deref(), Some("a--production"));
        router.set("a", &[], Target::new("a--v2".into(), handle.clone()));
        assert_eq!(served(&mut cache, "A.edge.test:443").as_deref(), Some("a--v2"));
        router.remove("a");
        assert_eq!(served(&mut cache, "a.edge.test"), None);
        router.set_fallback(Some(Target::new("fallback".into(), handle.clone())));
        assert_eq!(served(&mut cache, "a.edge.test").as_deref(), Some("fallback"));
    }
}
