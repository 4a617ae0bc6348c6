#!/usr/bin/env python3
"""Open-loop, constant-rate HTTP/1.1 GET load generator (a stand-in for wrk2,
which Debian does not package and Debian's wrk 4.1 has no -R).

Request i is due at t0 + i/RATE. It goes out on the first idle keep-alive
connection; if all connections are busy it waits in a queue. Latency is
measured from the time the request was *due*, not from when it was sent, so a
stalled server is charged for the requests queued behind it (no coordinated
omission). The loader also reports its own lag (how late it sent requests
while a connection was free), so a saturated loader is visible rather than
silently blamed on the server.

  constload.py --url http://127.0.0.1:8080/ --rate 10000 --duration 10 --connections 32

Prints one line: CONSTJSON {...} with counts and latency percentiles in µs.
"""
import argparse
import collections
import json
import select
import socket
import sys
import time
from urllib.parse import urlsplit


def percentile(sorted_vals, p):
    if not sorted_vals:
        return 0.0
    k = min(len(sorted_vals) - 1, max(0, int(round(p / 100.0 * len(sorted_vals) + 0.5)) - 1))
    return sorted_vals[k]


class Conn:
    __slots__ = ("sock", "fd", "buf", "due", "sent_at", "busy")

    def __init__(self, addr):
        s = socket.create_connection(addr)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        s.setblocking(False)
        self.sock = s
        self.fd = s.fileno()
        self.buf = b""
        self.due = 0.0
        self.busy = False


def response_complete(buf):
    """Length of the first complete response in buf, or 0 (Content-Length or chunked)."""
    end = buf.find(b"\r\n\r\n")
    if end < 0:
        return 0
    head = buf[:end].lower()
    body_start = end + 4
    i = head.find(b"\r\ncontent-length:")
    if i >= 0:
        j = head.find(b"\r\n", i + 2)
        cl = int(head[i + 17 : j if j >= 0 else len(head)].strip())
        total = body_start + cl
        return total if len(buf) >= total else 0
    if b"transfer-encoding: chunked" in head or b"transfer-encoding:chunked" in head:
        pos = body_start
        while True:
            nl = buf.find(b"\r\n", pos)
            if nl < 0:
                return 0
            size = int(buf[pos:nl].split(b";")[0], 16)
            pos = nl + 2 + size + 2
            if len(buf) < pos:
                return 0
            if size == 0:
                return pos
    return body_start  # no body


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", required=True)
    ap.add_argument("--rate", type=float, required=True, help="requests per second")
    ap.add_argument("--duration", type=float, default=10.0, help="seconds of scheduled load")
    ap.add_argument("--connections", type=int, default=32)
    ap.add_argument("--grace", type=float, default=2.0, help="seconds to wait for stragglers")
    a = ap.parse_args()

    u = urlsplit(a.url)
    addr = (u.hostname, u.port or 80)
    req = (f"GET {u.path or '/'} HTTP/1.1\r\nHost: {u.netloc}\r\n\r\n").encode()
    conns = [Conn(addr) for _ in range(a.connections)]
    by_fd = {c.fd: c for c in conns}
    idle = collections.deque(conns)
    ep = select.epoll()
    for c in conns:
        ep.register(c.fd, select.EPOLLIN)

    def replace(c):
        """Close c and put a fresh connection in its place (idle)."""
        ep.unregister(c.fd)
        del by_fd[c.fd]
        conns.remove(c)
        c.sock.close()
        try:
            n = Conn(addr)
        except OSError:
            nonlocal errors
            errors += 1
            return
        conns.append(n)
        by_fd[n.fd] = n
        ep.register(n.fd, select.EPOLLIN)
        idle.append(n)

    interval = 1.0 / a.rate
    total = int(a.rate * a.duration)
    queue = collections.deque()  # due times of requests waiting for a connection
    lat = []                      # µs, from due time to complete response
    loader_lag_max = 0.0
    loader_lag_sum = 0.0
    late_sends = 0                # requests the loader noticed >1 ms after they were due
    errors = 0                    # connections that could not be (re)opened
    reconnects = 0                # connections the server closed (or said "Connection: close")
    retried = 0                   # requests in flight when the server closed: sent again
    non2xx = 0
    scheduled = 0
    now = time.perf_counter
    t0 = now() + 0.05
    end_sched = t0 + total * interval
    deadline = end_sched + a.grace

    while True:
        t = now()
        # Enqueue every request that has come due.
        while scheduled < total and t0 + scheduled * interval <= t:
            due = t0 + scheduled * interval
            lag = t - due  # how late the loader noticed it: the loader's own lag
            loader_lag_sum += lag
            if lag > loader_lag_max:
                loader_lag_max = lag
            if lag > 0.001:
                late_sends += 1
            queue.append(due)
            scheduled += 1
        # Send queued requests on idle connections.
        while queue and idle:
            due = queue.popleft()
            c = idle.popleft()
            c.due = due
            c.busy = True
            try:
                c.sock.send(req)
            except OSError:
                reconnects += 1
                retried += 1
                queue.appendleft(due)
                replace(c)
        if scheduled >= total and not queue and len(idle) == len(conns):
            break
        if t > deadline or not conns:
            break
        if scheduled < total:
            # epoll rounds its timeout up to whole ms: wait only whole ms and
            # spin (timeout 0) for the rest, so requests go out on time.
            timeout = int(max(0.0, t0 + scheduled * interval - now()) * 1000) / 1000
        else:
            timeout = 0.05
        for fd, ev in ep.poll(timeout):
            c = by_fd.get(fd)
            if c is None:
                continue
            try:
                data = c.sock.recv(262144)
            except BlockingIOError:
                continue
            except OSError:
                data = b""
            if not data:
                # The server closed the connection. A request in flight on it
                # is retried on a new connection (as HTTP clients do for an
                # idempotent request on a reused keep-alive connection),
                # keeping its due time, so the retry counts in its latency.
                reconnects += 1
                replace(c)
                if c.busy:
                    retried += 1
                    queue.appendleft(c.due)
                else:
                    idle.remove(c)
                continue
            c.buf += data
            n = response_complete(c.buf)
            if n:
                head = c.buf[: c.buf.find(b"\r\n\r\n")].lower()
                if not head.startswith(b"http/1.1 2"):
                    non2xx += 1
                c.buf = c.buf[n:]
                lat.append((now() - c.due) * 1e6)
                c.busy = False
                if b"\r\nconnection: close" in head:
                    reconnects += 1
                    replace(c)
                else:
                    idle.append(c)

    elapsed = min(now(), deadline) - t0
    lat.sort()
    out = {
        "target_rps": a.rate,
        "scheduled": total,
        "completed": len(lat),
        "achieved_rps": len(lat) / (total * interval) if total else 0.0,
        "elapsed_s": elapsed,
        "p50_us": percentile(lat, 50),
        "p90_us": percentile(lat, 90),
        "p99_us": percentile(lat, 99),
        "p999_us": percentile(lat, 99.9),
        "max_us": lat[-1] if lat else 0.0,
        "errors": errors,
        "non2xx": non2xx,
        "reconnects": reconnects,
        "retried": retried,
        "loader_lag_max_us": loader_lag_max * 1e6,
        "loader_lag_mean_us": (loader_lag_sum / scheduled * 1e6) if scheduled else 0.0,
        "loader_late_sends": late_sends,
    }
    print("CONSTJSON " + json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
