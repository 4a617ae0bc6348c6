//! `constload`: an open-loop, constant-rate HTTP/1.1 GET load generator for `bench/http.sh`
//! (a stand-in for wrk2, which Debian does not package; Debian's wrk 4.1 has no `-R`).
//!
//! ```text
//! constload --url http://127.0.0.1:8080/ --rate 42000 --duration 10 --connections 32
//! ```
//!
//! # Method
//!
//! Request *i* is due at *t0 + i / rate*, for *floor(rate × duration)* requests. When it comes
//! due it goes out at once on an idle keep-alive connection (one request in flight per
//! connection, no pipelining); when every connection is busy it waits in a FIFO queue. Its
//! latency runs from its *due* time to the end of its response, so a server that stalls is
//! charged for every request queued behind the stall (no coordinated omission).
//!
//! One thread drives everything: non-blocking sockets (`TCP_NODELAY`) on epoll (mio), the
//! monotonic clock ([`std::time::Instant`]). epoll's timeout has millisecond resolution, so the
//! loop sleeps only whole milliseconds and polls with a zero timeout (spins) through the last
//! one, sending each request within microseconds of its due time; run it on a core of its own.
//! Responses are parsed incrementally (status line and headers with httparse, then a
//! `Content-Length`, chunked or until-close body), whatever way reads split them.
//!
//! A response with `Connection: close`, or the server closing or resetting a connection, makes
//! the loader open a replacement with a non-blocking connect, so the loop never stalls on a
//! reconnect (`reconnects`). A request in flight on a connection that closed before answering is
//! sent again on another connection, keeping its due time (`retried`), as HTTP clients retry an
//! idempotent request on a reused keep-alive connection.
//!
//! The loader measures its own lag so that its limits show: for a request that found a free
//! connection when it came due, how late it was written after its due time; for one that had
//! to queue, how late the loader noticed it was due. `loader_late_sends` counts lags over 1 ms.
//!
//! When the schedule is over the loader waits for outstanding responses up to `--grace`
//! seconds, then prints one line, `CONSTJSON {...}`: counts, latency percentiles (µs; the p-th
//! percentile is the value at rank *round(p/100 × n + 0.5)*, rounding half to even, clamped to
//! 1..n) and the loader's lag.

mod http;
mod load;
mod stats;

use std::net::{SocketAddr, ToSocketAddrs};
use std::process::ExitCode;

use clap::Parser;

/// Open-loop, constant-rate HTTP/1.1 GET load generator; prints `CONSTJSON {...}`.
#[derive(Debug, Parser)]
#[command(name = "constload")]
struct Args {
    /// Target URL (plain http only), e.g. http://127.0.0.1:8080/
    #[arg(long)]
    url: String,
    /// Requests per second.
    #[arg(long)]
    rate: f64,
    /// Seconds of scheduled load.
    #[arg(long, default_value_t = 10.0)]
    duration: f64,
    /// Keep-alive connections.
    #[arg(long, default_value_t = 32)]
    connections: usize,
    /// Seconds to wait for outstanding responses after the last request is due.
    #[arg(long, default_value_t = 2.0)]
    grace: f64,
}

fn main() -> ExitCode {
    let args = Args::parse();
    match config(&args).and_then(|cfg| load::run(&cfg).map_err(|e| e.to_string())) {
        Ok(report) => match serde_json::to_string(&report) {
            Ok(json) => {
                println!("CONSTJSON {json}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("constload: {e}");
                ExitCode::FAILURE
            }
        },
        Err(e) => {
            eprintln!("constload: {e}");
            ExitCode::from(2)
        }
    }
}

fn config(args: &Args) -> Result<load::Config, String> {
    if !(args.rate.is_finite() && args.rate > 0.0) {
        return Err(format!("--rate must be a positive number, not {}", args.rate));
    }
    if !(args.duration.is_finite() && args.duration >= 0.0) {
        return Err(format!(
            "--duration must be a non-negative number, not {}",
            args.duration
        ));
    }
    if !(args.grace.is_finite() && args.grace >= 0.0) {
        return Err(format!("--grace must be a non-negative number, not {}", args.grace));
    }
    if args.connections == 0 {
        return Err("--connections must be at least 1".into());
    }
    let (addr, request) = target(&args.url)?;
    Ok(load::Config {
        addr,
        request,
        rate: args.rate,
        duration: args.duration,
        connections: args.connections,
        grace: args.grace,
    })
}

/// The address to connect to and the request to send for an `http://` URL.
fn target(url: &str) -> Result<(SocketAddr, Vec<u8>), String> {
    let u = url::Url::parse(url).map_err(|e| format!("invalid --url {url:?}: {e}"))?;
    if u.scheme() != "http" {
        return Err(format!(
            "--url {url:?}: only plain http:// URLs are supported, not {}://",
            u.scheme()
        ));
    }
    let host = u
        .host_str()
        .filter(|h| !h.is_empty())
        .ok_or_else(|| format!("--url {url:?} has no host"))?;
    let port = u.port_or_known_default().unwrap_or(80);
    let addr = (host.trim_start_matches('[').trim_end_matches(']'), port)
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve {host}: {e}"))?
        .next()
        .ok_or_else(|| format!("{host} has no address"))?;
    let authority = match u.port() {
        Some(p) => format!("{host}:{p}"),
        None => host.to_string(),
    };
    let mut path = u.path().to_string();
    if let Some(q) = u.query() {
        path.push('?');
        path.push_str(q);
    }
    Ok((
        addr,
        format!("GET {path} HTTP/1.1\r\nHost: {authority}\r\n\r\n").into_bytes(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_to_address_and_request() {
        let (addr, req) = target("http://127.0.0.1:8080/").unwrap();
        assert_eq!(addr, "127.0.0.1:8080".parse().unwrap());
        assert_eq!(req, b"GET / HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n\r\n");

        let (addr, req) = target("http://127.0.0.1").unwrap();
        assert_eq!(addr, "127.0.0.1:80".parse().unwrap());
        assert_eq!(req, b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");

        let (addr, req) = target("http://[::1]:9000/a/b?x=1&y=2").unwrap();
        assert_eq!(addr, "[::1]:9000".parse().unwrap());
        assert_eq!(req, b"GET /a/b?x=1&y=2 HTTP/1.1\r\nHost: [::1]:9000\r\n\r\n");
    }

    #[test]
    fn other_schemes_and_bad_arguments_are_rejected() {
        let err = target("https://127.0.0.1:8443/").unwrap_err();
        assert!(err.contains("only plain http://"), "{err}");
        assert!(target("127.0.0.1:8080").is_err());
        assert!(target("not a url").is_err());

        let args = |rate: f64, connections: usize| Args {
            url: "http://127.0.0.1:1/".into(),
            rate,
            duration: 1.0,
            connections,
            grace: 2.0,
        };
        assert!(config(&args(1000.0, 4)).is_ok());
        assert!(config(&args(0.0, 4)).unwrap_err().contains("--rate"));
        assert!(config(&args(f64::NAN, 4)).unwrap_err().contains("--rate"));
        assert!(config(&args(1000.0, 0)).unwrap_err().contains("--connections"));
    }

    #[test]
    fn cli_matches_the_old_script() {
        let a = Args::try_parse_from([
            "constload",
            "--url",
            "http://127.0.0.1:1234/",
            "--rate",
            "42000",
            "--duration",
            "10",
            "--connections",
            "32",
        ])
        .unwrap();
        assert_eq!((a.rate, a.duration, a.connections, a.grace), (42000.0, 10.0, 32, 2.0));
        let a = Args::try_parse_from(["constload", "--url", "http://h/", "--rate", "0.5"]).unwrap();
        assert_eq!((a.duration, a.connections), (10.0, 32));
        assert!(Args::try_parse_from(["constload", "--rate", "5"]).is_err());
    }
}
