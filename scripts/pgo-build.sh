#!/usr/bin/env bash
# Builds the release binary with profile-guided optimisation (what
# `make release` runs; `make bench` measures its result):
#
#   1. an instrumented build of `outpost` (target/pgo/gen);
#   2. a training run: `outpost dev` serves each handler in
#      bench/peers/handlers/ (hello, JSON echo, 1 MiB stream) under wrk
#      load for a few seconds, then stops on SIGTERM, which writes the
#      counts; hello is also loaded over HTTPS (wrk) and over HTTP/2 with
#      and without TLS (h2load), so that those paths are not laid out as
#      cold code;
#   3. the counts merged with llvm-profdata into one profile;
#   4. the optimised build with that profile (target/pgo/use), copied to
#      target/pgo/outpost.
#
# The profile covers Outpost's own Rust code and the crates it links
# (hyper, tokio, http, rustls, …), not V8, which comes prebuilt.
#
# Needs llvm-profdata of the LLVM that rustc uses (`rustc -vV`): rustup's
# llvm-tools component, or Debian's llvm-N package, installed here with
# apt-get when missing. Knobs: PGO_SECONDS=4 (training load per handler).
set -euo pipefail
cd "$(dirname "$0")/.."

log() { echo "[pgo-build] $*" >&2; }
apt_install() {
  local sudo=
  [ "$(id -u)" = 0 ] || sudo=sudo
  log "installing $* with apt-get"
  { $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "$@"; } >&2
}

CARGO=${CARGO:-cargo}
SECONDS_PER_HANDLER=${PGO_SECONDS:-4}
host=$(rustc -vV | sed -n 's/^host: //p')
llvm_major=$(rustc -vV | sed -n 's/^LLVM version: \([0-9]*\).*/\1/p')
out=target/pgo
mkdir -p "$out"
root=$(pwd)

# llvm-profdata that reads what this rustc's LLVM writes.
profdata=
for cand in "$(rustc --print sysroot)/lib/rustlib/$host/bin/llvm-profdata" "llvm-profdata-$llvm_major" \
  "/usr/lib/llvm-$llvm_major/bin/llvm-profdata"; do
  if command -v "$cand" >/dev/null 2>&1; then
    profdata=$cand
    break
  fi
done
if [ -z "$profdata" ]; then
  apt_install "llvm-$llvm_major"
  profdata=llvm-profdata-$llvm_major
fi
command -v wrk >/dev/null || apt_install wrk
command -v curl >/dev/null || apt_install curl
command -v h2load >/dev/null || apt_install nghttp2-client

# RUSTFLAGS replaces the config's target flags, so the linker flag from
# .cargo/config.toml is repeated. `--target` keeps the flags off build
# scripts and proc macros, which the profile is not about.
link="-C link-arg=-fuse-ld=lld"

log "1/4 instrumented build (target/pgo/gen)"
raw=$root/$out/raw
rm -rf "$raw"
RUSTFLAGS="$link -Cprofile-generate=$raw" \
  "$CARGO" build --release --bin outpost --target "$host" --target-dir "$out/gen"
gen=$out/gen/$host/release/outpost

log "2/4 training: ${SECONDS_PER_HANDLER}s of load per handler"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
port=$(free_port)
tls_port=$(free_port)
for handler in hello json stream; do
  "$gen" dev "bench/peers/handlers/$handler.js" --listen "127.0.0.1:$port" --https "127.0.0.1:$tls_port" \
    --no-watch --relax-limits >"$out/train-$handler.log" 2>&1 &
  pid=$!
  ready=
  for _ in $(seq 300); do
    if curl -s -o /dev/null "http://127.0.0.1:$port/" && curl -sk -o /dev/null "https://127.0.0.1:$tls_port/"; then
      ready=1
      break
    fi
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if [ -z "$ready" ]; then
    kill "$pid" 2>/dev/null || true
    log "the instrumented server did not start for $handler (see $out/train-$handler.log)"
    exit 1
  fi
  post=
  [ "$handler" = json ] && post=bench/peers/body.json
  WRK_POST_FILE=$post wrk -t1 -c32 -d"${SECONDS_PER_HANDLER}s" -s bench/peers/wrk.lua \
    "http://127.0.0.1:$port/" | sed -n 's/^Requests\/sec: */  '"$handler"': req\/s /p' >&2
  if [ "$handler" = hello ]; then
    wrk -t1 -c32 -d"${SECONDS_PER_HANDLER}s" "https://127.0.0.1:$tls_port/" |
      sed -n 's/^Requests\/sec: */  hello over HTTPS: req\/s /p' >&2
    for url in "http://127.0.0.1:$port/" "https://127.0.0.1:$tls_port/"; do
      h2load -n $((SECONDS_PER_HANDLER * 5000)) -c 8 -m 4 "$url" | sed -n 's/^finished in .*, \(.* req\/s\).*/  hello over HTTP\/2 ('"${url%%:*}"'): \1/p' >&2
    done
  fi
  kill -TERM "$pid"
  wait "$pid"
done

log "3/4 merging the counts"
"$profdata" merge -o "$out/merged.profdata" "$raw"
# Named by content: a new profile changes RUSTFLAGS, so cargo rebuilds every
# crate with it rather than keep ones optimised with the last profile.
sum=$(sha256sum "$out/merged.profdata" | cut -c1-16)
profile=$root/$out/outpost-$sum.profdata
mv "$out/merged.profdata" "$profile"
find "$out" -maxdepth 1 -name 'outpost-*.profdata' ! -name "outpost-$sum.profdata" -delete

log "4/4 optimised build (target/pgo/use)"
# With the profile, LLVM puts hot functions in `.text.hot.*` sections and
# cold ones in `.text.unlikely.*`; lld keeps each group together only when
# asked (`-z keep-text-section-prefix`), otherwise it lays them out as they
# come, hot code scattered among cold. Grouped, a request's code spans
# fewer cache lines and pages.
RUSTFLAGS="$link -C link-arg=-Wl,-z,keep-text-section-prefix -Cprofile-use=$profile" \
  "$CARGO" build --release --bin outpost --target "$host" --target-dir "$out/use"
cp "$out/use/$host/release/outpost" "$out/outpost"
log "built $out/outpost"
