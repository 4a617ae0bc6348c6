//! Ingress settings: protocol limits and timeouts shared by the HTTP/1.1,
//! HTTP/2 and HTTP/3 listeners.
//!
//! | key | default | meaning |
//! |---|---|---|
//! | `max_header_bytes` | 32768 | largest request head (request line + header fields); larger → 431. HTTP/2 and HTTP/3 apply it to the decoded header list (`SETTINGS_MAX_HEADER_LIST_SIZE`, `SETTINGS_MAX_FIELD_SECTION_SIZE`) |
//! | `max_headers` | 100 | most header fields in an HTTP/1.1 request; more → 431 |
//! | `header_read_timeout_ms` | 10000 | time a client gets to send a whole request head, from its first byte; then the connection is closed (slowloris) |
//! | `idle_timeout_ms` | 60000 | a connection with no request in flight for this long is closed (HTTP/2 and HTTP/3 with GOAWAY) |
//! | `max_requests_per_connection` | 1000 | after this many requests the connection is wound down gracefully (`Connection: close`, GOAWAY); 0: no limit |
//! | `max_concurrent_streams` | 100 | HTTP/2 `SETTINGS_MAX_CONCURRENT_STREAMS` and the QUIC bidirectional stream limit of HTTP/3 |
//! | `tls_handshake_timeout_ms` | 10000 | a TLS or QUIC handshake must finish within this |
//! | `drain_timeout_ms` | 30000 | on shutdown, in-flight requests get this long to finish before connections are closed |
//! | `http3` | true | serve HTTP/3 on the UDP port of the TLS listener's number and advertise it with `Alt-Svc` |
//! | `alt_svc_max_age_secs` | 86400 | the `ma=` of the `Alt-Svc` header |
//!
//! `outpost dev` and `outpost node` take them as `--ingress KEY=VALUE`
//! ([`IngressConfig::from_settings`]).

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::IngressError;

/// Protocol limits and timeouts of the node's listeners. Every key has a
/// default (see the module docs); call [`IngressConfig::validate`] before
/// binding anything.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IngressConfig {
    /// Largest request head in bytes (request line and header fields).
    pub max_header_bytes: usize,
    /// Most header fields in one HTTP/1.1 request.
    pub max_headers: usize,
    /// Milliseconds a client gets to send a request head, from its first byte.
    pub header_read_timeout_ms: u64,
    /// Milliseconds a connection may sit with no request in flight.
    pub idle_timeout_ms: u64,
    /// Requests served on one connection before it is wound down; 0: no limit.
    pub max_requests_per_connection: u64,
    /// Concurrent streams per HTTP/2 or HTTP/3 connection.
    pub max_concurrent_streams: u32,
    /// Milliseconds a TLS or QUIC handshake may take.
    pub tls_handshake_timeout_ms: u64,
    /// Milliseconds in-flight requests get to finish on shutdown.
    pub drain_timeout_ms: u64,
    /// Serve HTTP/3 beside the TLS listener and advertise it.
    pub http3: bool,
    /// `ma=` of the `Alt-Svc` header, in seconds.
    pub alt_svc_max_age_secs: u64,
}

impl Default for IngressConfig {
    fn default() -> Self {
        IngressConfig {
            max_header_bytes: 32 * 1024,
            max_headers: 100,
            header_read_timeout_ms: 10_000,
            idle_timeout_ms: 60_000,
            max_requests_per_connection: 1000,
            max_concurrent_streams: 100,
            tls_handshake_timeout_ms: 10_000,
            drain_timeout_ms: 30_000,
            http3: true,
            alt_svc_max_age_secs: 86_400,
        }
    }
}

/// Bounds outside of which a value is a mistake rather than a choice.
const MIN_HEADER_BYTES: usize = 1024;
const MAX_HEADER_BYTES: usize = 1024 * 1024;
const MAX_HEADERS: usize = 10_000;
/// QUIC idle timeouts are carried in a 62-bit varint of milliseconds, and
/// a day is far past anything useful.
const MAX_TIMEOUT_MS: u64 = 24 * 3600 * 1000;

impl IngressConfig {
    /// Checks every value; the error names the key and the allowed range.
    pub fn validate(&self) -> Result<(), IngressError> {
        fn bad(key: &'static str, reason: String) -> Result<(), IngressError> {
            Err(IngressError::Config { key, reason })
        }
        if !(MIN_HEADER_BYTES..=MAX_HEADER_BYTES).contains(&self.max_header_bytes) {
            return bad(
                "max_header_bytes",
                format!(
                    "{} is outside {MIN_HEADER_BYTES}..={MAX_HEADER_BYTES}",
                    self.max_header_bytes
                ),
            );
        }
        if !(1..=MAX_HEADERS).contains(&self.max_headers) {
            return bad(
                "max_headers",
                format!("{} is outside 1..={MAX_HEADERS}", self.max_headers),
            );
        }
        for (key, ms) in [
            ("header_read_timeout_ms", self.header_read_timeout_ms),
            ("idle_timeout_ms", self.idle_timeout_ms),
            ("tls_handshake_timeout_ms", self.tls_handshake_timeout_ms),
            ("drain_timeout_ms", self.drain_timeout_ms),
        ] {
            if !(1..=MAX_TIMEOUT_MS).contains(&ms) {
                return bad(key, format!("{ms} is outside 1..={MAX_TIMEOUT_MS} milliseconds"));
            }
        }
        if self.max_concurrent_streams == 0 {
            return bad("max_concurrent_streams", "must be at least 1".into());
        }
        Ok(())
    }

    /// [`Self::header_read_timeout_ms`] as a duration.
    pub fn header_read_timeout(&self) -> Duration {
        Duration::from_millis(self.header_read_timeout_ms)
    }

    /// [`Self::idle_timeout_ms`] as a duration.
    pub fn idle_timeout(&self) -> Duration {
        Duration::from_millis(self.idle_timeout_ms)
    }

    /// [`Self::tls_handshake_timeout_ms`] as a duration.
    pub fn tls_handshake_timeout(&self) -> Duration {
        Duration::from_millis(self.tls_handshake_timeout_ms)
    }

    /// [`Self::drain_timeout_ms`] as a duration.
    pub fn drain_timeout(&self) -> Duration {
        Duration::from_millis(self.drain_timeout_ms)
    }

    /// The defaults with `KEY=VALUE` settings applied (the command line's
    /// `--ingress`; a later setting of a key wins), validated. The error
    /// names the setting and what is wrong with it.
    pub fn from_settings<S: AsRef<str>>(settings: &[S]) -> Result<Self, String> {
        let mut table = toml::Table::new();
        for setting in settings {
            let setting = setting.as_ref();
            let Some((key, value)) = setting.split_once('=') else {
                return Err(format!("ingress setting `{setting}`: expected KEY=VALUE"));
            };
            let key = key.trim();
            if key.is_empty()
                || !key
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
            {
                return Err(format!("ingress setting `{setting}`: `{key}` is not a key"));
            }
            let value = toml::from_str::<toml::Table>(&format!("v = {}", value.trim()))
                .ok()
                .and_then(|mut t| t.remove("v"))
                .ok_or_else(|| format!("ingress setting `{setting}`: the value must be a number, true or false"))?;
            // Checked alone first, so the error names the setting.
            let alone = toml::Table::from_iter([(key.to_string(), value.clone())]);
            if let Err(e) = toml::Value::Table(alone).try_into::<IngressConfig>() {
                return Err(format!("ingress setting `{setting}`: {}", e.message()));
            }
            table.insert(key.to_string(), value);
        }
        let config: IngressConfig = toml::Value::Table(table)
            .try_into()
            .map_err(|e: toml::de::Error| format!("ingress settings: {}", e.message()))?;
        config.validate().map_err(|e| e.to_string())?;
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_round_trip() {
        let c = IngressConfig::default();
        c.validate().unwrap();
        let text = toml::to_string(&c).unwrap();
        assert_eq!(toml::from_str::<IngressConfig>(&text).unwrap(), c);
        // Every key is optional.
        assert_eq!(toml::from_str::<IngressConfig>("").unwrap(), c);
    }

    #[test]
    fn settings_from_the_command_line() {
        let c =
            IngressConfig::from_settings(&["max_requests_per_connection=0", "http3 = false", "idle_timeout_ms=5000"])
                .unwrap();
        assert_eq!(c.max_requests_per_connection, 0);
        assert!(!c.http3);
        assert_eq!(c.idle_timeout_ms, 5000);
        assert_eq!(c.max_headers, IngressConfig::default().max_headers);
        assert_eq!(
            IngressConfig::from_settings::<&str>(&[]).unwrap(),
            IngressConfig::default()
        );
        for (setting, says) in [
            ("max_requests_per_connection", "expected KEY=VALUE"),
            ("Max=1", "is not a key"),
            ("idle_timeout_ms=soon", "must be a number"),
            ("max_header_byte=4096", "unknown field `max_header_byte`"),
            ("http3=1", "http3"),
            ("idle_timeout_ms=0", "idle_timeout_ms"),
            ("max_headers=-1", "max_headers"),
        ] {
            let err = IngressConfig::from_settings(&[setting]).unwrap_err();
            assert!(err.contains(says), "{setting}: {err}");
        }
    }

    #[test]
    fn rejects_unknown_keys_and_bad_values() {
        let err = toml::from_str::<IngressConfig>("max_header_byte = 10").unwrap_err();
        assert!(err.to_string().contains("unknown field"), "{err}");
        let c = IngressConfig {
            max_header_bytes: 10,
            ..Default::default()
        };
        let err = c.validate().unwrap_err().to_string();
        assert!(err.contains("max_header_bytes"), "{err}");
        let c = IngressConfig {
            idle_timeout_ms: 0,
            ..Default::default()
        };
        assert!(c.validate().unwrap_err().to_string().contains("idle_timeout_ms"));
        let c = IngressConfig {
            max_concurrent_streams: 0,
            ..Default::default()
        };
        assert!(c.validate().is_err());
    }
}
