#!/usr/bin/env bash
# User-space instructions per request, under callgrind (valgrind), for a
# warm server: deterministic where timings on a shared machine are not.
#
#   bash bench/callgrind.sh [hello|json] [outpost|deno ...]
#
# Each server runs under callgrind with the handler from bench/peers/;
# 8 keep-alive connections send 4,000 requests to warm it up, then 4,000
# more are counted (callgrind_control dumps before and after). Prints one
# line per server: instructions per counted request. CALLGRIND_CACHE=1 also
# simulates the caches (slower) and adds level-1 data-cache read and write
# misses per request to the line. CALLGRIND_LOCKS=1 also counts the locked
# instructions executed per request (x86 `lock`-prefixed ones and `xchg`
# with memory: atomic read-modify-writes, each a full barrier) in every
# object the server ran, and lists the functions with most.
# CALLGRIND_CALLS=NAME also counts the calls per request to functions whose
# name contains NAME (say `clock_gettime`), by caller. OUTPOST_BIN picks the
# Outpost binary (default: `make build`'s; `make release`'s is
# target/pgo/outpost). Needs valgrind
# (Debian package `valgrind`); Deno comes from bench/http.sh's npm cache
# (run `make bench` or `BENCH_SERVERS=deno bash bench/http.sh` once).
set -euo pipefail
cd "$(dirname "$0")/.."
handler=${1:-hello}
shift || true
servers=${*:-outpost deno}
command -v valgrind >/dev/null || { echo "valgrind is not installed" >&2; exit 1; }
h=bench/peers/handlers/$handler.js
[[ -f $h ]] || { echo "no handler $h" >&2; exit 1; }
export DENO_DIR=bench/.cache/deno DENO_NO_UPDATE_CHECK=1 DENO_NO_PROMPT=1 DO_NOT_TRACK=1
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# ROUNDS rounds of one request on each of 8 connections.
load() {
  python3 - "$1" "$2" "$handler" <<'PY'
import socket, sys
port, rounds, handler = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
if handler == "json":
    body = open("bench/peers/body.json", "rb").read()
    req = (b"POST / HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nContent-Type: application/json\r\n"
           b"Content-Length: %d\r\n\r\n" % (port, len(body))) + body
else:
    req = b"GET / HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nUser-Agent: bench\r\nAccept: */*\r\n\r\n" % port
socks = [socket.create_connection(("127.0.0.1", port)) for _ in range(8)]
for _ in range(rounds):
    for s in socks:
        s.sendall(req)
    for s in socks:
        buf = b""
        while True:
            got = s.recv(65536)
            if not got:
                sys.exit(f"the server closed a connection after {len(buf)} bytes of a response")
            buf += got
            head, sep, rest = buf.partition(b"\r\n\r\n")
            if not sep:
                continue
            length = [int(l.split(b":")[1]) for l in head.split(b"\r\n") if l.lower().startswith(b"content-length:")]
            if length and len(rest) >= length[0]:
                break
PY
}

for server in $servers; do
  port=$(free_port)
  case $server in
    outpost)
      bin=${OUTPOST_BIN:-target/release/outpost}
      [[ -n ${OUTPOST_BIN:-} || -x $bin ]] || make -s build
      cmd=("$bin" dev "$h" --listen "127.0.0.1:$port" --no-watch --relax-limits) ;;
    deno)
      deno=$(ls bench/.cache/npm/deno/node_modules/@deno/linux-x64-glibc/deno 2>/dev/null || true)
      [[ -n $deno ]] || { echo "deno: not in bench/.cache (run make bench first)" >&2; continue; }
      cmd=("$deno" serve --host 127.0.0.1 --port "$port" "$h") ;;
    *) echo "unknown server $server" >&2; continue ;;
  esac
  cache=()
  [[ ${CALLGRIND_CACHE:-0} == 1 ]] && cache=(--cache-sim=yes)
  [[ ${CALLGRIND_LOCKS:-0} == 1 ]] && cache+=(--dump-instr=yes)
  valgrind --tool=callgrind "${cache[@]}" --callgrind-out-file="$out/$server" --smc-check=all-non-file \
    "${cmd[@]}" >"$out/$server.log" 2>&1 &
  pid=$!
  for _ in $(seq 600); do curl -s -o /dev/null "http://127.0.0.1:$port/" && break; sleep 0.2; done
  loaded=1
  load "$port" 500 || loaded=0
  callgrind_control -d "$pid" >/dev/null 2>&1
  ((loaded)) && { load "$port" 500 || loaded=0; }
  callgrind_control -d "$pid" >/dev/null 2>&1
  kill "$pid"; wait "$pid" 2>/dev/null || true
  ((loaded)) || { echo "$server: the load did not complete; no count" >&2; continue; }
  total=$(callgrind_annotate "$out/$server.2" 2>/dev/null | awk '/PROGRAM TOTALS/ {gsub(",", "", $1); print $1}')
  [[ -n $total ]] || { echo "$server: no callgrind dump (see the server's output above)" >&2; cat "$out/$server.log" >&2; continue; }
  misses=
  if [[ ${CALLGRIND_CACHE:-0} == 1 ]]; then
    # The dump's own totals, in the order of its `events:` line.
    misses=$(awk '/^events:/ { for (i = 2; i <= NF; i++) col[$i] = i }
      /^summary:/ { printf "; L1 data-cache misses per request: %.1f read, %.1f write", $col["D1mr"] / 4000, $col["D1mw"] / 4000 }' "$out/$server.2")
  fi
  echo "$server $handler: $((total / 4000)) instructions per request ($total for 4,000)$misses"
  # The dump's analyses: bench/callgrind-dump.py.
  if [[ ${CALLGRIND_LOCKS:-0} == 1 ]]; then python3 bench/callgrind-dump.py locked "$out/$server.2" "$server"; fi
  if [[ -n ${CALLGRIND_CALLS:-} ]]; then
    python3 bench/callgrind-dump.py calls "$out/$server.2" "$server" "$CALLGRIND_CALLS"
  fi
done
