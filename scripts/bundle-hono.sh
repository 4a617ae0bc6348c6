#!/usr/bin/env bash
# Bundles the Hono example into examples/hono/dist/worker.js: its packages
# from the npm registry (`npm ci`, skipped when already installed), then
# esbuild through `npm run build`. Used by `make bench` and the e2e tests.
set -euo pipefail
cd "$(dirname "$0")/../examples/hono"
[ -d node_modules/hono ] || npm ci --no-audit --no-fund --loglevel=error
npm run --silent build
