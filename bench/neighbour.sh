#!/usr/bin/env bash
# Neighbour protection: the p99 latency of a well-behaved "hello" deployment
# measured alone, then again while a deployment stuck in a busy loop and a
# memory-bomb deployment are hammered on the same node.
#
#   bench/neighbour.sh       (bench/run.sh calls it; `make bench`)
#
# Goal (issue: multi-tenant safety): p99 under attack <= 2 x p99 alone + the
# 50 ms CPU limit. Prints Markdown on stdout; progress on stderr.
# Knobs: OUTPOST_BIN (default target/release/outpost), BENCH_DURATION=10 (s).
set -uo pipefail
cd "$(dirname "$0")/.."
BIN=${OUTPOST_BIN:-target/release/outpost}
DUR=${BENCH_DURATION:-10}
W=$(mktemp -d)
PID=
cleanup() {
  [ -n "$PID" ] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null
  rm -rf "$W"
}
trap cleanup EXIT
log() { echo "[neighbour.sh] $*" >&2; }

handler() {
  mkdir -p "$W/$1"
  printf 'name = "%s"\nmain = "index.js"\n' "$1" >"$W/$1/outpost.toml"
  echo "$2" >"$W/$1/index.js"
}
handler hello 'export default { fetch() { return new Response("hello"); } };'
handler spin 'export default { fetch() { for (;;) {} } };'
handler bomb 'export default { fetch() { const a = []; for (;;) a.push(new Array(1e5).fill(Math.random())); } };'

"$BIN" dev "$W/hello" "$W/spin" "$W/bomb" --threads 2 --no-watch --listen 127.0.0.1:0 >"$W/out" 2>"$W/err" &
PID=$!
ADDR=
for _ in $(seq 1 200); do
  ADDR=$(sed -n 's|^ready on http://||p' "$W/out" | head -1)
  [ -n "$ADDR" ] && break
  sleep 0.05
done
if [ -z "$ADDR" ]; then
  echo "## Neighbour protection"
  echo
  echo "Not run: outpost did not start ($(head -3 "$W/err"))."
  exit 0
fi

# wrk's latency percentile in ms ("1.23ms", "850.00us", "1.02s").
to_ms() {
  python3 -c '
import re, sys
v = sys.argv[1]
m = re.match(r"([0-9.]+)(us|ms|s)$", v)
if not m: print("nan"); sys.exit()
n, u = float(m.group(1)), m.group(2)
scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}[u]
print("%.2f" % (n * scale))' "$1"
}

# Runs the hello load; prints "p50 p99 req/s".
hello_load() {
  local out
  out=$(wrk -t1 -c8 -d"${DUR}s" --latency -H "Host: hello.localhost" "http://$ADDR/" 2>&1)
  echo "$(to_ms "$(echo "$out" | awk '$1=="50%"{print $2}')") $(to_ms "$(echo "$out" | awk '$1=="99%"{print $2}')") $(echo "$out" | awk '/Requests\/sec/{printf "%d", $2}')"
}

log "hello alone (${DUR}s)"
wrk -t1 -c8 -d2s -H "Host: hello.localhost" "http://$ADDR/" >/dev/null 2>&1
read -r alone_p50 alone_p99 alone_rps <<<"$(hello_load)"

log "hello while spin and bomb are hammered (${DUR}s)"
wrk -t1 -c4 -d"$((DUR + 2))s" -H "Host: spin.localhost" "http://$ADDR/" >"$W/spin.wrk" 2>&1 &
SPIN=$!
wrk -t1 -c4 -d"$((DUR + 2))s" -H "Host: bomb.localhost" "http://$ADDR/" >"$W/bomb.wrk" 2>&1 &
BOMB=$!
sleep 1
read -r under_p50 under_p99 under_rps <<<"$(hello_load)"
rss_kb=$(ps -o rss= -p "$PID" | tr -d ' ')
wait "$SPIN" "$BOMB"
attack() { awk '/requests in/{r=$1} /Non-2xx/{n=$NF} END{printf "%s requests, %s non-2xx", r, (n==""?0:n)}' "$1"; }
stopped=$(grep -c "isolate stopped by a limit" "$W/err")
backed=$(grep -c "backed off" "$W/err")
goal=$(python3 -c "print(f'{2 * float(\"$alone_p99\") + 50:.2f}')")
met=$(python3 -c "print('met' if float('$under_p99') <= float('$goal') else 'NOT met')")

echo "## Neighbour protection (\`bench/neighbour.sh\`)"
echo
echo "One \`outpost dev --threads 2\` serving three deployments: \`hello\`, \`spin\`"
echo "(\`for (;;) {}\`) and \`bomb\` (allocates until the heap limit). The hello"
echo "load is \`wrk -t1 -c8 -d${DUR}s\`; the attack is \`wrk -c4\` on each of spin and"
echo "bomb at the same time. Server and load share the machine's two cores."
echo
echo "| hello | p50 | p99 | req/s |"
echo "|---|---|---|---|"
echo "| alone | ${alone_p50} ms | ${alone_p99} ms | ${alone_rps} |"
echo "| under attack | ${under_p50} ms | ${under_p99} ms | ${under_rps} |"
echo
echo "- Goal: p99 under attack ≤ 2 × p99 alone + 50 ms CPU limit = ${goal} ms: **${met}**."
echo "- spin: $(attack "$W/spin.wrk"); bomb: $(attack "$W/bomb.wrk")."
echo "- Isolates stopped by a limit: ${stopped}; backoff periods started: ${backed}."
echo "- Node RSS under attack: $((rss_kb / 1024)) MiB."
