#!/usr/bin/env bash
# A whole Outpost cluster on this machine (what `make run` starts): a control
# plane and two edge nodes in two regions on loopback, serving the examples
# that need no build step. Ctrl-C stops all three.
#
#   bash scripts/run-cluster.sh          after `make build` (or cargo build --release)
#
# Settings (environment):
#   OUTPOST_BIN         the binary (default ./target/release/outpost)
#   OUTPOST_API_PORT    the control plane's API port (default 8700; QUIC uses the next one)
#   OUTPOST_NODE_PORTS  the nodes' HTTP ports (default "8787 8788")
#
# Everything lives in .run/cluster/ (data folders and logs), which is cleared
# at each start so every run begins with a fresh cluster.
set -euo pipefail
cd "$(dirname "$0")/.."

BIN=${OUTPOST_BIN:-./target/release/outpost}
API_PORT=${OUTPOST_API_PORT:-8700}
read -r -a PORTS <<<"${OUTPOST_NODE_PORTS:-8787 8788}"
REGIONS=(fra sfo)
EXAMPLES=(hello json-api form streaming webcrypto)
RUN=.run/cluster

if [ ! -x "$BIN" ]; then
  echo "error: $BIN is missing: run \`make build\` first" >&2
  exit 1
fi
if [ "${#PORTS[@]}" -ne 2 ]; then
  echo "error: OUTPOST_NODE_PORTS must name two ports, e.g. \"8787 8788\"" >&2
  exit 1
fi

pids=()
stop() {
  trap - EXIT INT TERM
  if [ "${#pids[@]}" -gt 0 ]; then
    echo
    echo "stopping the nodes and the control plane"
    kill -TERM "${pids[@]}" 2>/dev/null || true
    wait "${pids[@]}" 2>/dev/null || true
  fi
}
trap stop EXIT
# Ctrl-C: stop the three and end without an error.
trap 'exit 0' INT TERM

# Waits for a line starting with $2 in log $1 of process $3; prints the rest of the line.
wait_line() {
  local log=$1 prefix=$2 pid=$3
  for _ in $(seq 600); do
    local line
    line=$(grep -m1 "^$prefix" "$log" 2>/dev/null || true)
    if [ -n "$line" ]; then
      echo "${line#"$prefix"}"
      return 0
    fi
    if ! kill -0 "$pid" 2>/dev/null; then
      echo "error: it exited before printing \"$prefix\"; its log ($log):" >&2
      cat "$log" >&2
      return 1
    fi
    sleep 0.1
  done
  echo "error: no \"$prefix\" line in $log within 60 s" >&2
  return 1
}

rm -rf "$RUN"
mkdir -p "$RUN"

"$BIN" control-plane --data "$RUN/cp" --api "127.0.0.1:$API_PORT" >"$RUN/control-plane.log" 2>&1 &
cp_pid=$!
pids+=("$cp_pid")
api=$(wait_line "$RUN/control-plane.log" "api on " "$cp_pid")
quic=$(wait_line "$RUN/control-plane.log" "quic on " "$cp_pid")
token=$(wait_line "$RUN/control-plane.log" "join token: " "$cp_pid")
echo "control plane: api $api, quic $quic"

for i in 0 1; do
  region=${REGIONS[$i]}
  # The token goes in the environment, not on the command line other users' `ps` shows.
  OUTPOST_JOIN_TOKEN=$token "$BIN" node --control "$quic" --region "$region" --name "$region-1" \
    --listen "127.0.0.1:${PORTS[$i]}" --data "$RUN/node-$region" >"$RUN/node-$region.log" 2>&1 &
  node_pid=$!
  pids+=("$node_pid")
  addr=$(wait_line "$RUN/node-$region.log" "ready on " "$node_pid")
  echo "node $region-1 ($region): $addr"
done

export OUTPOST_API=$api
OUTPOST_TOKEN=$(cat "$RUN/cp/admin.token")
export OUTPOST_TOKEN

# Deploy once both nodes are connected, so each deploy waits until both serve it.
for _ in $(seq 300); do
  if "$BIN" nodes --json 2>/dev/null | grep -q '"connected": 2,'; then
    break
  fi
  sleep 0.1
done
"$BIN" nodes

for example in "${EXAMPLES[@]}"; do
  echo
  "$BIN" deploy "examples/$example"
done

cat <<EOF

A control plane and two nodes serve the examples on loopback. Try:

  curl http://hello.localhost:${PORTS[0]}/          # node fra-1
  curl http://hello.localhost:${PORTS[1]}/          # node sfo-1
  curl http://json-api.localhost:${PORTS[0]}/v1/todos
  curl 'http://streaming.localhost:${PORTS[1]}/?lines=5'
  open http://form.localhost:${PORTS[0]}/ in a browser

Deploy, roll back and watch the nodes from another shell:

  export OUTPOST_API=$api OUTPOST_TOKEN=\$(cat $RUN/cp/admin.token)
  ./target/release/outpost deploy examples/hello --env staging   # http://hello--staging.localhost:${PORTS[0]}/
  ./target/release/outpost nodes

Logs are in $RUN/. Ctrl-C stops all three.
EOF

# Until Ctrl-C, or until one of the three exits on its own. A Ctrl-C reaches the
# three too, and each exits 0 (or 130) once it has stopped: that is no error.
set +e
wait -n "${pids[@]}"
status=$?
if [ "$status" -eq 0 ] || [ "$status" -eq 130 ]; then
  exit 0
fi
echo "error: a process of the cluster exited with status $status; see the logs in $RUN/" >&2
exit 1
