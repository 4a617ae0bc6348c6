//! The open-loop core: a fixed schedule, a pool of keep-alive connections, one epoll loop.
//!
//! Times are nanoseconds since `origin` (an [`Instant`], so the monotonic clock); the schedule
//! starts at `t0`, [`START_DELAY`] after the initial connections are up. Each turn of the loop:
//!
//! 1. every request that has come due joins the back of the FIFO queue (as its due time);
//! 2. queued requests go out, oldest first, on idle connections (one request in flight per
//!    connection); the rest wait for a response to free a connection;
//! 3. loader lag is recorded for the requests that came due in step 1 (see `Loader::record_lag`);
//! 4. epoll waits for the next due time in whole milliseconds (epoll's resolution; mio rounds a
//!    timeout *up* to whole ms, so only whole ms are passed) and with a zero timeout when less
//!    than 1 ms is left, so the loop spins through the last millisecond and sends on time;
//! 5. readiness events: connects completing, responses arriving (latency = arrival − due time),
//!    connections closing.
//!
//! A connection that ends with `Connection: close`, or that the server closes or resets, is
//! replaced by a new non-blocking connect (its completion is an epoll writable event), so a
//! reconnect never stalls the loop; a request in flight on a connection closed before it was
//! answered goes back to the front of the queue with its original due time (`retried`).

use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use mio::event::Event;
use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token};
use serde::Serialize;

use crate::http::{Response, ResponseParser};
use crate::stats::{Schedule, percentile};

/// From the initial connections being up to the first request's due time.
const START_DELAY: u64 = 50_000_000;
/// How long the initial connections may take to open.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// A request the loader sent (or noticed) later than this after its due time is a late send.
const LATE: u64 = 1_000_000;
/// Poll timeout once every request has been scheduled (only responses are awaited then).
const DRAIN_POLL: Duration = Duration::from_millis(50);
/// Read buffer shared by all connections.
const READ_CHUNK: usize = 256 * 1024;

#[derive(Debug, Clone)]
pub struct Config {
    pub addr: SocketAddr,
    /// The request, sent as is on every connection.
    pub request: Vec<u8>,
    /// Requests per second.
    pub rate: f64,
    /// Seconds of scheduled load.
    pub duration: f64,
    pub connections: usize,
    /// Seconds to wait for responses after the last request is due.
    pub grace: f64,
}

/// The result, printed as `CONSTJSON {...}` (the keys `bench/http.sh` reads).
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub target_rps: f64,
    pub scheduled: u64,
    pub completed: u64,
    /// Completed requests ÷ the scheduled duration.
    pub achieved_rps: f64,
    /// From the first due time to the end of the run (capped at the drain deadline).
    pub elapsed_s: f64,
    pub p50_us: f64,
    pub p90_us: f64,
    pub p99_us: f64,
    pub p999_us: f64,
    pub max_us: f64,
    /// Connections that could not be opened, and responses that could not be parsed (or that
    /// arrived with no request in flight); a request whose response was malformed is not retried.
    pub errors: u64,
    pub non2xx: u64,
    /// Connections the server closed, reset, or ended with `Connection: close`.
    pub reconnects: u64,
    /// Requests in flight on a connection that closed before answering, sent again.
    pub retried: u64,
    pub loader_lag_max_us: f64,
    pub loader_lag_mean_us: f64,
    pub loader_late_sends: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Non-blocking connect in progress (writable when it completes).
    Connecting,
    Idle,
    /// A request is in flight (possibly not all written yet).
    Busy,
}

struct Conn {
    stream: TcpStream,
    state: State,
    /// Due time of the request in flight.
    due: u64,
    /// Bytes of the request in flight written so far.
    written: usize,
    /// Received bytes not yet consumed by the parser.
    buf: Vec<u8>,
    parser: ResponseParser,
}

/// What a complete response means for its connection.
enum Next {
    Keep,
    Close,
    /// Nothing was in flight: a protocol error.
    Unsolicited,
}

struct Loader<'a> {
    cfg: &'a Config,
    poll: Poll,
    /// Connections by token; `free` lists the empty slots.
    conns: Vec<Option<Conn>>,
    free: Vec<usize>,
    live: usize,
    idle: VecDeque<usize>,
    busy: usize,
    /// Due times of requests waiting for a connection, oldest first (retries go to the front).
    queue: VecDeque<u64>,
    /// How many requests at the back of `queue` came due in this turn and have no lag recorded.
    fresh: usize,
    origin: Instant,
    scratch: Vec<u8>,
    /// Latencies (ns) of completed requests.
    lat: Vec<u64>,
    lag_sum: u128,
    lag_max: u64,
    late: u64,
    errors: u64,
    non2xx: u64,
    reconnects: u64,
    retried: u64,
    last_error: Option<io::Error>,
}

/// Runs the schedule against `cfg.addr` and reports. Fails only when no connection can be
/// opened at the start (or the poller fails).
pub fn run(cfg: &Config) -> io::Result<Report> {
    let schedule = Schedule::new(cfg.rate, cfg.duration);
    let total = schedule.total();
    let mut l = Loader {
        cfg,
        poll: Poll::new()?,
        conns: Vec::with_capacity(cfg.connections),
        free: Vec::new(),
        live: 0,
        idle: VecDeque::with_capacity(cfg.connections),
        busy: 0,
        queue: VecDeque::with_capacity(4096),
        fresh: 0,
        origin: Instant::now(),
        scratch: vec![0; READ_CHUNK],
        // Reserved up front: growing a large Vec mid-run would stall the loop.
        lat: Vec::with_capacity(total.min(1 << 26) as usize),
        lag_sum: 0,
        lag_max: 0,
        late: 0,
        errors: 0,
        non2xx: 0,
        reconnects: 0,
        retried: 0,
        last_error: None,
    };
    l.connect_all()?;

    let t0 = l.now() + START_DELAY;
    let deadline = t0 + schedule.end_ns() + (cfg.grace * 1e9) as u64;
    let mut scheduled = 0;
    let mut events = Events::with_capacity(1024);
    loop {
        let t = l.now();
        while scheduled < total && t0 + schedule.due_ns(scheduled) <= t {
            l.queue.push_back(t0 + schedule.due_ns(scheduled));
            l.fresh += 1;
            scheduled += 1;
        }
        l.dispatch();
        // Requests that came due but found no free connection: the loader's lag for them is how
        // late it noticed they were due.
        l.record_notice_lag(t);
        if scheduled >= total && l.queue.is_empty() && l.busy == 0 {
            break;
        }
        if t > deadline || l.live == 0 {
            break;
        }
        let now = l.now();
        let timeout = if scheduled < total {
            let next = t0 + schedule.due_ns(scheduled);
            Duration::from_millis(next.saturating_sub(now) / 1_000_000)
        } else {
            Duration::from_nanos(deadline.saturating_sub(now)).min(DRAIN_POLL)
        };
        l.turn(&mut events, timeout)?;
    }
    let end = l.now().min(deadline);

    let mut lat = std::mem::take(&mut l.lat);
    lat.sort_unstable();
    let us = |ns: u64| ns as f64 / 1e3;
    let completed = lat.len() as u64;
    let scheduled_s = total as f64 * (1.0 / cfg.rate);
    Ok(Report {
        target_rps: cfg.rate,
        scheduled: total,
        completed,
        achieved_rps: if total > 0 { completed as f64 / scheduled_s } else { 0.0 },
        elapsed_s: end.saturating_sub(t0) as f64 / 1e9,
        p50_us: us(percentile(&lat, 50.0)),
        p90_us: us(percentile(&lat, 90.0)),
        p99_us: us(percentile(&lat, 99.0)),
        p999_us: us(percentile(&lat, 99.9)),
        max_us: us(lat.last().copied().unwrap_or(0)),
        errors: l.errors,
        non2xx: l.non2xx,
        reconnects: l.reconnects,
        retried: l.retried,
        loader_lag_max_us: us(l.lag_max),
        loader_lag_mean_us: if scheduled > 0 {
            l.lag_sum as f64 / scheduled as f64 / 1e3
        } else {
            0.0
        },
        loader_late_sends: l.late,
    })
}

impl Loader<'_> {
    fn now(&self) -> u64 {
        self.origin.elapsed().as_nanos() as u64
    }

    /// Waits up to `timeout` for socket events and handles them (none when
    /// a signal interrupted the wait).
    fn turn(&mut self, events: &mut Events, timeout: Duration) -> io::Result<()> {
        match self.poll.poll(events, Some(timeout)) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => return Ok(()),
            Err(e) => return Err(e),
        }
        for ev in events.iter() {
            self.on_event(ev.token().0, ev);
        }
        Ok(())
    }

    /// Opens the initial connections and waits until each is up or has failed.
    fn connect_all(&mut self) -> io::Result<()> {
        for _ in 0..self.cfg.connections {
            self.open();
        }
        let give_up = Instant::now() + CONNECT_TIMEOUT;
        let mut events = Events::with_capacity(self.cfg.connections.max(16));
        while self.conns.iter().flatten().any(|c| c.state == State::Connecting) {
            let left = give_up.saturating_duration_since(Instant::now());
            if left.is_zero() {
                let msg = format!("connecting to {} timed out after {CONNECT_TIMEOUT:?}", self.cfg.addr);
                return Err(io::Error::new(io::ErrorKind::TimedOut, msg));
            }
            self.turn(&mut events, left)?;
        }
        if self.live == 0 {
            let why = self
                .last_error
                .take()
                .unwrap_or_else(|| io::Error::other("no connections"));
            return Err(io::Error::new(
                why.kind(),
                format!("cannot connect to {}: {why}", self.cfg.addr),
            ));
        }
        Ok(())
    }

    /// Starts a non-blocking connect in a free slot. A connect that fails at once counts as an
    /// error and leaves the pool one connection smaller.
    fn open(&mut self) {
        let result = TcpStream::connect(self.cfg.addr).and_then(|mut stream| {
            let tok = self.free.last().copied().unwrap_or(self.conns.len());
            let interest = Interest::READABLE | Interest::WRITABLE;
            self.poll.registry().register(&mut stream, Token(tok), interest)?;
            Ok((tok, stream))
        });
        match result {
            Ok((tok, stream)) => {
                let conn = Conn {
                    stream,
                    state: State::Connecting,
                    due: 0,
                    written: 0,
                    buf: Vec::new(),
                    parser: ResponseParser::default(),
                };
                if self.free.last() == Some(&tok) {
                    self.free.pop();
                    self.conns[tok] = Some(conn);
                } else {
                    self.conns.push(Some(conn));
                }
                self.live += 1;
            }
            Err(e) => {
                self.errors += 1;
                self.last_error = Some(e);
            }
        }
    }

    /// Closes a connection (already taken out of its slot) and frees the slot.
    fn release(&mut self, tok: usize, mut conn: Conn) {
        // Dropping the stream closes it, which also removes it from epoll.
        let _ = self.poll.registry().deregister(&mut conn.stream);
        if conn.state == State::Idle {
            self.idle.retain(|&t| t != tok);
        }
        if conn.state == State::Busy {
            self.busy -= 1;
        }
        self.free.push(tok);
        self.live -= 1;
    }

    fn replace(&mut self, tok: usize, conn: Conn) {
        self.release(tok, conn);
        self.open();
    }

    /// The server closed or reset the connection (or it failed under a write): a request in
    /// flight on it goes back to the front of the queue, keeping its due time.
    fn lost(&mut self, tok: usize, conn: Conn) {
        self.reconnects += 1;
        if conn.state == State::Busy {
            self.retried += 1;
            self.queue.push_front(conn.due);
        }
        self.replace(tok, conn);
    }

    /// Sends queued requests, oldest first, on idle connections.
    fn dispatch(&mut self) {
        let cfg = self.cfg;
        while !self.queue.is_empty() {
            let Some(tok) = self.idle.pop_front() else { break };
            let Some(mut conn) = self.conns[tok].take() else {
                continue;
            };
            let fresh = self.queue.len() == self.fresh;
            let due = self.queue.pop_front().expect("the queue is not empty");
            conn.state = State::Busy;
            conn.due = due;
            conn.written = 0;
            self.busy += 1;
            if fresh {
                // Came due this turn and a connection is free: the loader's lag is how late the
                // request is written.
                self.fresh -= 1;
                let lag = self.now().saturating_sub(due);
                self.record_lag(lag);
            }
            match write_request(&mut conn, &cfg.request) {
                Ok(()) => self.conns[tok] = Some(conn),
                Err(_) => self.lost(tok, conn),
            }
        }
    }

    fn record_notice_lag(&mut self, noticed: u64) {
        let first = self.queue.len() - self.fresh;
        for i in first..self.queue.len() {
            let lag = noticed.saturating_sub(self.queue[i]);
            self.record_lag(lag);
        }
        self.fresh = 0;
    }

    /// Loader lag of one request: how late it was written after its due time when a connection
    /// was free for it, otherwise how late the loader noticed it was due. Recorded once per
    /// request (not again for a retry).
    fn record_lag(&mut self, lag: u64) {
        self.lag_sum += u128::from(lag);
        self.lag_max = self.lag_max.max(lag);
        if lag > LATE {
            self.late += 1;
        }
    }

    fn on_event(&mut self, tok: usize, ev: &Event) {
        let Some(mut conn) = self.conns.get_mut(tok).and_then(Option::take) else {
            return;
        };
        if conn.state == State::Connecting {
            match connect_result(&conn.stream, ev) {
                Ok(false) => {
                    self.conns[tok] = Some(conn);
                    return;
                }
                Ok(true) => {
                    let _ = conn.stream.set_nodelay(true);
                    conn.state = State::Idle;
                    self.idle.push_back(tok);
                    // Go on: the same event may already report the server closing it.
                }
                Err(e) => {
                    // Could not (re)open it: the pool shrinks by one.
                    self.errors += 1;
                    self.last_error = Some(e);
                    self.release(tok, conn);
                    return;
                }
            }
        }
        let unwritten = conn.state == State::Busy && conn.written < self.cfg.request.len();
        if ev.is_writable() && unwritten && write_request(&mut conn, &self.cfg.request).is_err() {
            self.lost(tok, conn);
            return;
        }
        if !(ev.is_readable() || ev.is_read_closed() || ev.is_error()) {
            self.conns[tok] = Some(conn);
            return;
        }

        // Edge-triggered: read until the socket has nothing more.
        let mut eof = false;
        loop {
            match conn.stream.read(&mut self.scratch) {
                Ok(0) => {
                    eof = true;
                    break;
                }
                Ok(n) => conn.buf.extend_from_slice(&self.scratch[..n]),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => {
                    eof = true; // reset
                    break;
                }
            }
        }
        let now = self.now();
        loop {
            let (used, response) = match conn.parser.parse(&conn.buf) {
                Ok(r) => r,
                Err(_) => {
                    // Malformed: the request in flight fails (it is not retried).
                    self.errors += 1;
                    self.replace(tok, conn);
                    return;
                }
            };
            conn.buf.drain(..used);
            let Some(response) = response else { break };
            match self.on_response(tok, &mut conn, response, now) {
                Next::Keep => {}
                Next::Close => {
                    self.reconnects += 1;
                    self.replace(tok, conn);
                    return;
                }
                Next::Unsolicited => {
                    self.errors += 1;
                    self.replace(tok, conn);
                    return;
                }
            }
        }
        if eof {
            // A body delimited by the end of the connection is complete now.
            if let Some(response) = conn.parser.eof()
                && let Next::Unsolicited = self.on_response(tok, &mut conn, response, now)
            {
                self.errors += 1;
            }
            self.lost(tok, conn);
            return;
        }
        self.conns[tok] = Some(conn);
    }

    fn on_response(&mut self, tok: usize, conn: &mut Conn, response: Response, now: u64) -> Next {
        if conn.state != State::Busy {
            return Next::Unsolicited;
        }
        self.busy -= 1;
        conn.state = State::Idle;
        self.lat.push(now.saturating_sub(conn.due));
        if !(200..300).contains(&response.status) {
            self.non2xx += 1;
        }
        // A response before the whole request was written: start afresh on a new connection.
        if response.close || conn.written < self.cfg.request.len() {
            return Next::Close;
        }
        self.idle.push_back(tok);
        Next::Keep
    }
}

/// Writes what is left of the request; Ok with bytes still unwritten when the socket is full
/// (the rest goes on the next writable event).
fn write_request(conn: &mut Conn, request: &[u8]) -> io::Result<()> {
    while conn.written < request.len() {
        match conn.stream.write(&request[conn.written..]) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => conn.written += n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Whether a non-blocking connect has completed (true), is still in progress (false) or failed.
fn connect_result(stream: &TcpStream, ev: &Event) -> io::Result<bool> {
    if let Ok(Some(e)) | Err(e) = stream.take_error() {
        return Err(e);
    }
    match stream.peer_addr() {
        Ok(_) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::NotConnected => {
            if ev.is_error() || ev.is_read_closed() || ev.is_write_closed() {
                Err(io::Error::new(
                    io::ErrorKind::ConnectionAborted,
                    "connection closed while connecting",
                ))
            } else {
                Ok(false)
            }
        }
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use std::io::{BufRead, BufReader};
    use std::net::{TcpListener, TcpStream as StdStream};
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, Ordering::SeqCst};
    use std::thread;

    use super::*;

    /// What the test server did, counted before it did it.
    #[derive(Default)]
    struct Counts {
        requests: AtomicU64,
        close_responses: AtomicU64,
        silent_closes: AtomicU64,
        not_found: AtomicU64,
    }

    /// How the test server misbehaves.
    #[derive(Clone, Copy)]
    struct Plan {
        /// Every n-th response on a connection says `Connection: close` (then the server closes).
        close_every: u64,
        /// Every n-th request the server receives (server-wide) is not answered: the server
        /// closes the connection instead.
        silent_every: u64,
        /// Every n-th request (server-wide) is answered 404.
        not_found_every: u64,
        /// Answer with something that is not HTTP.
        garbage: bool,
    }

    impl Plan {
        /// Every request answered 200, no connection closed.
        fn well_behaved() -> Plan {
            Plan {
                close_every: u64::MAX,
                silent_every: u64::MAX,
                not_found_every: u64::MAX,
                garbage: false,
            }
        }
    }

    /// A thread-per-connection HTTP/1.1 server on an ephemeral loopback port.
    fn spawn_server(plan: Plan) -> (SocketAddr, Arc<Counts>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let counts = Arc::new(Counts::default());
        let c = counts.clone();
        thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let c = c.clone();
                thread::spawn(move || serve(stream, plan, &c));
            }
        });
        (addr, counts)
    }

    fn serve(stream: StdStream, plan: Plan, counts: &Counts) {
        let mut out = stream.try_clone().unwrap();
        let mut reader = BufReader::new(stream);
        let mut line = String::new();
        for k in 1u64.. {
            // A request head: lines up to an empty one.
            loop {
                line.clear();
                match reader.read_line(&mut line) {
                    Ok(0) | Err(_) => return,
                    Ok(_) if line == "\r\n" => break,
                    Ok(_) => {}
                }
            }
            let n = counts.requests.fetch_add(1, SeqCst) + 1;
            if n.is_multiple_of(plan.silent_every) {
                counts.silent_closes.fetch_add(1, SeqCst);
                return; // drops (closes) the socket without answering
            }
            let status = if n.is_multiple_of(plan.not_found_every) {
                counts.not_found.fetch_add(1, SeqCst);
                "404 Not Found"
            } else {
                "200 OK"
            };
            let close = k.is_multiple_of(plan.close_every);
            let connection = if close { "Connection: close\r\n" } else { "" };
            let response = if plan.garbage {
                "NOT HTTP AT ALL\r\n\r\n".to_string()
            } else if k.is_multiple_of(2) {
                format!(
                    "HTTP/1.1 {status}\r\n{connection}Transfer-Encoding: chunked\r\n\r\n5\r\nHello\r\n7\r\n World!\r\n0\r\n\r\n"
                )
            } else {
                format!("HTTP/1.1 {status}\r\n{connection}Content-Length: 12\r\n\r\nHello World!")
            };
            if close {
                counts.close_responses.fetch_add(1, SeqCst);
            }
            if out.write_all(response.as_bytes()).is_err() || close {
                return;
            }
        }
    }

    fn config(addr: SocketAddr, rate: f64, duration: f64, connections: usize) -> Config {
        Config {
            addr,
            request: format!("GET / HTTP/1.1\r\nHost: {addr}\r\n\r\n").into_bytes(),
            rate,
            duration,
            connections,
            // Generous: the run ends as soon as every request is answered.
            grace: 60.0,
        }
    }

    #[test]
    fn every_request_completes_through_closes_and_resets() {
        let plan = Plan {
            close_every: 20,
            silent_every: 50,
            not_found_every: 13,
            garbage: false,
        };
        let (addr, counts) = spawn_server(plan);
        let r = run(&config(addr, 2_000.0, 0.5, 8)).unwrap();

        assert_eq!(r.scheduled, 1_000);
        assert_eq!(r.completed, r.scheduled, "{r:?}");
        assert_eq!(r.errors, 0, "{r:?}");
        let silent = counts.silent_closes.load(SeqCst);
        let closes = counts.close_responses.load(SeqCst);
        assert!(
            silent >= 20 && closes >= 5,
            "server: {silent} silent closes, {closes} close responses"
        );
        // Every unanswered request was sent again, and every close was followed by a new connection.
        assert_eq!(r.retried, silent, "{r:?}");
        assert_eq!(r.reconnects, silent + closes, "{r:?}");
        assert_eq!(counts.requests.load(SeqCst), r.completed + silent);
        assert_eq!(r.non2xx, counts.not_found.load(SeqCst));
        assert!(r.non2xx > 0);
        assert!(r.p50_us > 0.0 && r.p50_us <= r.p90_us && r.p90_us <= r.p99_us && r.p99_us <= r.max_us);
        assert!(r.loader_lag_mean_us <= r.loader_lag_max_us);
        assert!(r.elapsed_s >= 0.49, "{r:?}");
        assert_eq!(r.target_rps, 2_000.0);
    }

    #[test]
    fn malformed_responses_are_errors_and_the_run_ends() {
        let plan = Plan {
            garbage: true,
            ..Plan::well_behaved()
        };
        let (addr, _) = spawn_server(plan);
        let r = run(&config(addr, 200.0, 0.1, 2)).unwrap();
        assert_eq!(r.scheduled, 20);
        assert_eq!(r.completed, 0);
        assert_eq!(r.errors, 20, "{r:?}");
        assert_eq!(r.p99_us, 0.0);
    }

    #[test]
    fn no_server_is_an_error() {
        let addr = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
        // The listener is closed: connecting is refused.
        let err = run(&config(addr, 100.0, 0.1, 2)).unwrap_err();
        assert!(err.to_string().contains("cannot connect"), "{err}");
    }

    #[test]
    fn empty_schedule_reports_zeros() {
        let plan = Plan::well_behaved();
        let (addr, _) = spawn_server(plan);
        let r = run(&config(addr, 100.0, 0.0, 1)).unwrap();
        assert_eq!((r.scheduled, r.completed, r.errors), (0, 0, 0));
        assert_eq!(r.achieved_rps, 0.0);
    }
}
