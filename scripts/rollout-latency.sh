#!/usr/bin/env bash
# How long a deploy takes to reach the edge: starts a control plane and N nodes
# on loopback (ephemeral ports, a temporary folder), deploys a bundle of about
# SIZE_KB kilobytes ROUNDS times (new content each time, so every node fetches,
# verifies and activates a new bundle), and prints, per round, the time from the
# API accepting the version to every node serving it (as `outpost deploy`
# reports it) and the whole `outpost deploy` command (upload, validation,
# store, distribution); then the medians.
#
#   bash scripts/rollout-latency.sh                 # 3 nodes, 100 KB, 20 rounds
#   NODES=5 SIZE_KB=1000 ROUNDS=10 bash scripts/rollout-latency.sh
#
# Uses ./target/release/outpost (make build), or OUTPOST_BIN.
set -euo pipefail
cd "$(dirname "$0")/.."

BIN=${OUTPOST_BIN:-./target/release/outpost}
NODES=${NODES:-3}
SIZE_KB=${SIZE_KB:-100}
ROUNDS=${ROUNDS:-20}
[ -x "$BIN" ] || { echo "error: $BIN is missing: run \`make build\` first" >&2; exit 1; }

dir=$(mktemp -d "${TMPDIR:-/tmp}/outpost-rollout.XXXXXX")
pids=()
cleanup() {
  if [ "${#pids[@]}" -gt 0 ]; then
    kill -TERM "${pids[@]}" 2>/dev/null || true
    wait "${pids[@]}" 2>/dev/null || true
  fi
  rm -rf "$dir"
}
trap cleanup EXIT

wait_line() { # log prefix pid
  for _ in $(seq 600); do
    local line
    line=$(grep -m1 "^$2" "$1" 2>/dev/null || true)
    if [ -n "$line" ]; then echo "${line#"$2"}"; return 0; fi
    kill -0 "$3" 2>/dev/null || { cat "$1" >&2; return 1; }
    sleep 0.1
  done
  return 1
}

"$BIN" control-plane --data "$dir/cp" --api 127.0.0.1:0 >"$dir/cp.log" 2>&1 &
cp_pid=$!
pids+=("$cp_pid")
api=$(wait_line "$dir/cp.log" "api on " "$cp_pid")
quic=$(wait_line "$dir/cp.log" "quic on " "$cp_pid")
token=$(wait_line "$dir/cp.log" "join token: " "$cp_pid")
for i in $(seq "$NODES"); do
  OUTPOST_JOIN_TOKEN=$token "$BIN" node --control "$quic" --region "r$i" --name "node-$i" \
    --listen 127.0.0.1:0 --data "$dir/node-$i" >"$dir/node-$i.log" 2>&1 &
  node_pid=$!
  pids+=("$node_pid")
  wait_line "$dir/node-$i.log" "ready on " "$node_pid" >/dev/null
done
export OUTPOST_API=$api
OUTPOST_TOKEN=$(cat "$dir/cp/admin.token")
export OUTPOST_TOKEN
for _ in $(seq 300); do
  "$BIN" nodes --json | grep -q "\"connected\": $NODES," && break
  sleep 0.1
done

mkdir -p "$dir/app"
printf 'name = "latency"\nmain = "index.js"\n' >"$dir/app/outpost.toml"
# A comment line of SIZE_KB kilobytes pads the module to the bundle size asked for.
padding=$(head -c $((SIZE_KB * 1000)) /dev/zero | tr '\0' 'x')

edge=()
whole=()
for round in $(seq "$ROUNDS"); do
  printf 'export default { fetch() { return new Response("round %s"); } };\n// %s\n' "$round" "$padding" \
    >"$dir/app/index.js"
  start=$(date +%s%N)
  out=$("$BIN" deploy "$dir/app")
  end=$(date +%s%N)
  ms=$(sed -n 's/.*, \([0-9]*\) ms after it was accepted.*/\1/p' <<<"$out")
  [ -n "$ms" ] || { echo "$out" >&2; echo "error: the deploy did not reach every node" >&2; exit 1; }
  edge+=("$ms")
  whole+=($(((end - start) / 1000000)))
  echo "round $round: every node serves it ${ms} ms after it was accepted; outpost deploy took ${whole[-1]} ms"
done

median() { printf '%s\n' "$@" | sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
size=$(stat -c %s "$dir/app/index.js")
echo "$NODES nodes, bundle of $((size / 1000)) KB, $ROUNDS rounds: median $(median "${edge[@]}") ms from accepted to every node serving, median $(median "${whole[@]}") ms for the whole outpost deploy"
