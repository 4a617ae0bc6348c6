#!/usr/bin/env bash
# Runs Outpost's benchmarks and writes bench/RESULTS.md.
#   bench/run.sh            (what `make bench` runs)
set -euo pipefail
cd "$(dirname "$0")/.."
out=bench/RESULTS.md
# The runtime bench measures the Hono example's cold start when the example
# is bundled (examples/hono/dist/worker.js): packages from the npm registry
# and esbuild, by the script the e2e tests use.
if [ ! -f examples/hono/dist/worker.js ]; then
  echo "[run.sh] bundling examples/hono (npm ci, npm run build)" >&2
  if ! scripts/bundle-hono.sh >&2; then
    echo "[run.sh] examples/hono could not be bundled: the runtime table has no Hono row" >&2
  fi
fi
runtime_table=$(cargo bench --quiet -p outpost-js --bench runtime 2>/dev/null | grep '^|')
{
  echo "# Benchmark results"
  echo
  echo "Written by \`make bench\` (\`bench/run.sh\`) on $(date -u +%Y-%m-%d), $(nproc) cores,"
  echo "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'). Shared machine: compare ratios, not absolute times."
  echo
  if [ -n "${OUTPOST_BIN:-}" ]; then
    echo "Outpost binary: \`$OUTPOST_BIN\`$( [ "$OUTPOST_BIN" = target/pgo/outpost ] && echo " (\`make release\`: built with a profile of the HTTP benchmark's handlers, PGO)")."
  else
    echo "Outpost binary: \`target/release/outpost\` (\`make build\`, no profile)."
  fi
  echo
  echo "## Runtime (\`cargo bench -p outpost-js --bench runtime\`)"
  echo
  echo "In-process, release build, one thread. \"Warm call\" is Request in → Response out"
  echo "on a warm isolate: building the lazy \`Request\`, calling \`fetch\`, reading the"
  echo "\`Response\` back into Rust."
  echo
  echo "$runtime_table"
  echo
  # Outpost against workerd, Deno and Bun over HTTP (installs them from npm).
  bench/http.sh
  echo
  # Isolate density: memory per idle deployment at 1,000 deployments.
  echo "## Density (\`cargo bench -p outpost-node --bench density\`)"
  echo
  cargo bench --quiet -p outpost-node --bench density 2>/dev/null | grep '^|'
  echo
  # A well-behaved deployment's latency while its neighbours misbehave.
  bench/neighbour.sh
  echo
  # Deploy to the edge: control plane and three nodes on loopback.
  echo "## Deploy to the edge (\`bash scripts/rollout-latency.sh\`)"
  echo
  echo "Goal: ≤ 300 ms p50 from a deploy accepted to every node serving it (3 nodes, 100 KB bundle)."
  echo
  echo "- $(bash scripts/rollout-latency.sh 2>/dev/null | tail -1)"
  echo
  # Fan-out: one 1 MB bundle to 100 simulated nodes over real QUIC.
  echo "## Fan-out (\`cargo bench -p outpost-control-plane --bench fanout\`)"
  echo
  cargo bench --quiet -p outpost-control-plane --bench fanout 2>/dev/null | grep -v '^$'
} > "$out"
cat "$out"
