#!/usr/bin/env bash
# HTTP benchmark: Outpost against workerd, Deno and Bun, all measured in the
# same run, on the same handlers (bench/peers/handlers/), with the same load.
#
#   bench/http.sh            (bench/run.sh calls it; `make bench`)
#
# Prints Markdown on stdout (bench/run.sh appends it to bench/RESULTS.md);
# progress goes to stderr. Installs what it needs: wrk (apt-get) and the
# peers, pinned below, from the npm registry into bench/.cache/ (gitignored);
# builds the constant-rate loader, `constload` (bench/loadgen), with cargo.
# A peer that cannot be installed or started is reported in the output and
# the run goes on with the others.
#
# Knobs (environment):
#   BENCH_CONNECTIONS=32  BENCH_DURATION=10 (s)  BENCH_WARMUP=2 (s)
#   BENCH_ROUNDS=3        rounds of every server on every handler; the
#                         report gives medians over them
#   BENCH_SERVERS="outpost workerd deno bun"
#   OUTPOST_BIN=path      use this binary instead of `make build`'s
#   CONSTLOAD_BIN=path    use this constant-rate loader instead of building it
#   BENCH_NICE=-10        nice level of servers and load (root only; 0: none)
#   BENCH_PERF=1          also profile Outpost under the hello load
#                         (perf record, top 15 symbols in the output)
set -uo pipefail
cd "$(dirname "$0")/.."

# Pinned peer versions (npm packages).
WORKERD_PKG=@cloudflare/workerd-linux-64 WORKERD_VERSION=1.20261117.1
DENO_PKG=@deno/linux-x64-glibc DENO_VERSION=2.9.6
BUN_PKG=@oven/bun-linux-x64 BUN_VERSION=1.4.5

CONNS=${BENCH_CONNECTIONS:-32}
DURATION=${BENCH_DURATION:-10}
WARMUP=${BENCH_WARMUP:-2}
ROUNDS=${BENCH_ROUNDS:-3}
SERVERS=${BENCH_SERVERS:-outpost workerd deno bun}
HANDLERS="hello json stream"
CACHE=bench/.cache
PEERS=bench/peers
BODY=$PEERS/body.json
SERVER_CPU=0
LOAD_CPU=1
# Server and load generator run at this nice level (root only), to give them
# precedence over other work on a shared machine. BENCH_NICE=0: no change.
NICE=${BENCH_NICE:--10}
[ "$(id -u)" = 0 ] || NICE=0
CLK_TCK=$(getconf CLK_TCK)
WORK=$(mktemp -d)
RESULTS=$WORK/results.jsonl
NOTES=$WORK/notes.md
: >"$RESULTS"
: >"$NOTES"
SPID=
SERVER_LABEL=server

log() { echo "[http.sh] $*" >&2; }
note() { echo "- $*" >>"$NOTES"; log "NOTE: $*"; }
jstr() { python3 -c 'import json,sys; print(json.dumps(sys.argv[1]))' "$1"; }

cleanup() {
  [ -n "$SPID" ] && stop_server
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---------------------------------------------------------------- tools ----
need=()
command -v wrk >/dev/null || need+=(wrk)
command -v curl >/dev/null || need+=(curl)
command -v taskset >/dev/null || need+=(util-linux)
command -v python3 >/dev/null || need+=(python3)
command -v npm >/dev/null || need+=(npm)
command -v ps >/dev/null || need+=(procps)
if ((${#need[@]})); then
  log "installing ${need[*]} with apt-get"
  sudo=
  [ "$(id -u)" = 0 ] || sudo=sudo
  { $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${need[@]}"; } >&2
fi
for t in wrk curl taskset python3; do
  if ! command -v $t >/dev/null; then
    echo "## HTTP (\`bench/http.sh\`)"
    echo
    echo "Not run: \`$t\` is missing and could not be installed."
    exit 1
  fi
done
if [ "$(nproc)" -lt 2 ]; then
  LOAD_CPU=0
  note "Only $(nproc) CPU: server and load generator share CPU 0, so the numbers understate every server."
fi
LOADAVG_START=$(cut -d' ' -f1-3 /proc/loadavg)

# ------------------------------------------------------------- servers ----
# own_binary OVERRIDE BUILT CONSEQUENCE BUILD-COMMAND...: prints the binary to
# run: OVERRIDE when set, else BUILT once BUILD-COMMAND has succeeded. Prints
# nothing, with a note ending in CONSEQUENCE, when there is none to run.
own_binary() {
  local bin=$1 built=$2 consequence=$3
  shift 3
  if [ -z "$bin" ]; then
    log "building: $*"
    if ! "$@" >&2; then
      note "\`$*\` failed, so $consequence."
      return
    fi
    bin=$built
  fi
  if [ ! -x "$bin" ]; then
    note "$bin is not an executable, so $consequence."
    return
  fi
  echo "$bin"
}

OUTPOST= WORKERD= DENO= BUN=
if [[ " $SERVERS " == *" outpost "* ]]; then
  OUTPOST=$(own_binary "${OUTPOST_BIN:-}" ./target/release/outpost "Outpost was not measured" make -s build)
fi

# The constant-rate loader (Rust, bench/loadgen): built here so that
# bench/http.sh run on its own has it too; cargo makes this a no-op when it is
# up to date.
CONSTLOAD=$(own_binary "${CONSTLOAD_BIN:-}" ./target/release/constload "the constant-rate runs were skipped" \
  "${CARGO:-cargo}" build --release -p outpost-loadgen)

# install_peer NAME PKG VERSION PATH-IN-PACKAGE: prints the binary's path.
install_peer() {
  local name=$1 pkg=$2 ver=$3 rel=$4
  local dir=$CACHE/npm/$name
  local bin=$dir/node_modules/$pkg/$rel have
  have=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["version"])' \
    "$dir/node_modules/$pkg/package.json" 2>/dev/null)
  if [ -x "$bin" ] && [ "$have" = "$ver" ]; then
    echo "$bin"
    return 0
  fi
  log "npm install $pkg@$ver into $dir"
  rm -rf "$dir"
  mkdir -p "$dir"
  if ! npm install --prefix "$dir" --no-save --no-package-lock --no-audit --no-fund \
    --ignore-scripts --loglevel=error "$pkg@$ver" >"$WORK/npm-$name.log" 2>&1; then
    note "$name: \`npm install $pkg@$ver\` failed, so $name was not measured: $({ grep -m1 -i 'error' "$WORK/npm-$name.log" || tail -n 1 "$WORK/npm-$name.log"; } | tr '\n' ' ')"
    return 1
  fi
  if [ ! -x "$bin" ]; then
    note "$name: $pkg@$ver installed but has no executable $rel, so $name was not measured."
    return 1
  fi
  echo "$bin"
}
[[ " $SERVERS " == *" workerd "* ]] && WORKERD=$(install_peer workerd $WORKERD_PKG $WORKERD_VERSION bin/workerd)
[[ " $SERVERS " == *" deno "* ]] && DENO=$(install_peer deno $DENO_PKG $DENO_VERSION deno)
[[ " $SERVERS " == *" bun "* ]] && BUN=$(install_peer bun $BUN_PKG $BUN_VERSION bin/bun)

# Keep the peers off the network and out of $HOME.
export DENO_DIR=$CACHE/deno DENO_NO_UPDATE_CHECK=1 DENO_NO_PROMPT=1 DO_NOT_TRACK=1

# Versions (first line of each --version).
ver_line() { "$@" 2>&1 | head -n 1; }
VERSIONS=$WORK/versions.md
{
  if [ -n "$OUTPOST" ]; then
    echo "- Outpost: $(ver_line "$OUTPOST" --version), git $(git rev-parse --short HEAD 2>/dev/null || echo '?')$(git diff --quiet HEAD -- . ':!bench/RESULTS.md' 2>/dev/null || echo ' (+ uncommitted changes)'), release build"
  fi
  [ -n "$WORKERD" ] && echo "- workerd: npm \`$WORKERD_PKG@$WORKERD_VERSION\` ($(ver_line "$WORKERD" --version))"
  [ -n "$DENO" ] && echo "- Deno: npm \`$DENO_PKG@$DENO_VERSION\` ($(ver_line "$DENO" --version))"
  [ -n "$BUN" ] && echo "- Bun: npm \`$BUN_PKG@$BUN_VERSION\` (bun $(ver_line "$BUN" --version))"
  if [ -n "$CONSTLOAD" ]; then
    echo "- Load: $(ver_line wrk -v | sed 's/ Copyright.*//'); constant-rate loader: \`$CONSTLOAD\` (Rust, \`bench/loadgen\`, release build)"
  else
    echo "- Load: $(ver_line wrk -v | sed 's/ Copyright.*//'); constant-rate loader: not built"
  fi
  echo "- Machine: Linux $(uname -r), $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'); load average at start: $LOADAVG_START"
} >"$VERSIONS"

# server_cmd SERVER HANDLER PORT: sets CMD to the server's command line.
server_cmd() {
  local h=$PEERS/handlers/$2.js addr=127.0.0.1:$3
  case $1 in
    outpost) CMD=("$OUTPOST" dev "$h" --listen "$addr" --no-watch) ;;
    workerd) CMD=("$WORKERD" serve "$PEERS/workerd.capnp" "$2" --socket-addr "http=$addr") ;;
    deno) CMD=("$DENO" serve --host 127.0.0.1 --port "$3" "$h") ;;
    bun) CMD=("$BUN" "$PEERS/bun-serve.js" "$h" 127.0.0.1 "$3") ;;
  esac
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# descendants of $1, itself included
tree_pids() {
  ps -e -o pid=,ppid= | awk -v root="$1" '
    { parent[$1] = $2 }
    END { for (p in parent) { q = p; while (q != "" && q + 0 > 1) { if (q == root) { print p; break } q = parent[q] } } }'
}

# utime+stime (+ reaped children's) of the server's process tree, in clock ticks
cpu_ticks() {
  local total=0 p s f
  for p in $(tree_pids "$1"); do
    s=$(cat "/proc/$p/stat" 2>/dev/null) || continue
    s=${s##*) }
    read -r -a f <<<"$s"
    total=$((total + f[11] + f[12] + f[13] + f[14]))
  done
  echo "$total"
}

# "busy total" clock ticks of one CPU, from /proc/stat
cpu_stat() {
  awk -v c="cpu$1" '$1 == c { print $2 + $3 + $4 + $7 + $8 + $9, $2 + $3 + $4 + $5 + $6 + $7 + $8 + $9 }' /proc/stat
}

# peak RSS (VmHWM, kB) of the server's process tree
hwm_kb() {
  local total=0 p v
  for p in $(tree_pids "$1"); do
    v=$(awk '/^VmHWM:/ {print $2}' "/proc/$p/status" 2>/dev/null)
    total=$((total + ${v:-0}))
  done
  echo "$total"
}

stop_server() {
  local pids
  pids=$(tree_pids "$SPID")
  kill -TERM $pids 2>/dev/null
  for _ in $(seq 50); do
    kill -0 "$SPID" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$SPID" 2>/dev/null; then
    note "$SERVER_LABEL did not exit within 5 s of SIGTERM: killed with SIGKILL."
    kill -KILL $pids 2>/dev/null
  fi
  wait "$SPID" 2>/dev/null
  SPID=
}

# wait_ready URL: polls until the server answers any HTTP response (30 s max).
wait_ready() {
  local code
  for _ in $(seq 600); do
    kill -0 "$SPID" 2>/dev/null || return 1
    code=$(curl -s -o /dev/null -m 1 -w '%{http_code}' "$1")
    [ "$code" != "000" ] && return 0
    sleep 0.05
  done
  return 1
}

# check_response HANDLER URL: the handler answers what it should.
check_response() {
  local out
  case $1 in
    hello)
      out=$(curl -s -m 5 -w ' %{http_code}' "$2")
      [ "$out" = "Hello World! 200" ] || { echo "hello answered: ${out:0:200}"; return 1; } ;;
    json)
      out=$(curl -s -m 5 -H 'content-type: application/json' --data-binary "@$BODY" "$2")
      python3 -c 'import json,sys; sys.exit(json.loads(sys.argv[1]) != json.load(open(sys.argv[2])))' \
        "$out" "$BODY" 2>/dev/null || { echo "json echo answered: ${out:0:200}"; return 1; } ;;
    stream)
      out=$(curl -s -m 20 -o /dev/null -w '%{size_download} %{http_code}' "$2")
      [ "$out" = "1048576 200" ] || { echo "stream answered (bytes, status): $out"; return 1; } ;;
  esac
}

# run_wrk HANDLER URL SECONDS OUT: wrk on the load CPU; writes wrk's output to
# OUT and its own user+sys CPU seconds to OUT.cpu.
run_wrk() {
  local post=
  [ "$1" = json ] && post=$BODY
  local TIMEFORMAT='%U %S'
  { time WRK_POST_FILE=$post nice -n "$NICE" taskset -c $LOAD_CPU wrk -t1 -c"$CONNS" -d"$3"s --latency \
      -s "$PEERS/wrk.lua" "$2" >"$4" 2>&1; } 2>"$4.cpu"
}

record() { echo "$1" >>"$RESULTS"; }

HALF_RATE=
PERF_MD=$WORK/perf.md
: >"$PERF_MD"

bench_one() {
  local server=$1 handler=$2 round=$3 port url logf t0 t1 c0 c1 hwm wrkjson wrkcpu msg
  SERVER_LABEL=$server/$handler
  port=$(free_port)
  url=http://127.0.0.1:$port/
  logf=$WORK/$server-$handler.log
  server_cmd "$server" "$handler" "$port"
  log "$server/$handler: nice -n $NICE taskset -c $SERVER_CPU ${CMD[*]}"
  nice -n "$NICE" taskset -c $SERVER_CPU "${CMD[@]}" >"$logf" 2>&1 &
  SPID=$!
  if ! wait_ready "$url"; then
    if kill -0 "$SPID" 2>/dev/null; then
      msg="$server did not answer on $url within 30 s for the $handler handler; its log ends: $(tail -n 3 "$logf" | tr '\n' ' ')"
    else
      msg="$server exited before answering, for the $handler handler; its log begins: $(head -n 3 "$logf" | tr '\n' ' ')"
    fi
    note "$msg"
    record "{\"server\":\"$server\",\"handler\":\"$handler\",\"round\":$round,\"status\":$(jstr "did not start")}"
    stop_server
    return
  fi
  if ! msg=$(check_response "$handler" "$url"); then
    note "$server/$handler: wrong response, so it was not loaded. $msg"
    record "{\"server\":\"$server\",\"handler\":\"$handler\",\"round\":$round,\"status\":$(jstr "wrong response")}"
    stop_server
    return
  fi
  run_wrk "$handler" "$url" "$WARMUP" "$WORK/warm.out"
  t0=$(cpu_ticks "$SPID")
  c0=$(cpu_stat $SERVER_CPU)
  run_wrk "$handler" "$url" "$DURATION" "$WORK/wrk.out"
  t1=$(cpu_ticks "$SPID")
  c1=$(cpu_stat $SERVER_CPU)
  hwm=$(hwm_kb "$SPID")
  wrkjson=$(sed -n 's/^WRKJSON //p' "$WORK/wrk.out")
  wrkcpu=$(awk '{print $1 + $2}' "$WORK/wrk.out.cpu")
  if [ -z "$wrkjson" ]; then
    note "$server/$handler: wrk printed no result: $(tail -n 3 "$WORK/wrk.out" | tr '\n' ' ')"
    record "{\"server\":\"$server\",\"handler\":\"$handler\",\"round\":$round,\"status\":$(jstr "wrk failed")}"
    stop_server
    return
  fi
  if ! kill -0 "$SPID" 2>/dev/null; then
    note "$server/$handler: the server exited during the load: $(tail -n 3 "$logf" | tr '\n' ' ')"
  fi
  record "{\"server\":\"$server\",\"handler\":\"$handler\",\"round\":$round,\"status\":\"ok\",\"wrk\":$wrkjson,\"cpu_ticks\":$((t1 - t0)),\"hwm_kb\":$hwm,\"wrk_cpu_s\":${wrkcpu:-0},\"cpu0\":[${c0// /,},${c1// /,}]}"

  if [ "$handler" = hello ]; then
    # The first round's Outpost peak sets the rate for every round.
    if [ "$server" = outpost ] && [ "$round" = 1 ]; then
      HALF_RATE=$(python3 -c 'import json,sys; w=json.loads(sys.argv[1]); print(int(w["requests"]/(w["duration_us"]/1e6)/2))' "$wrkjson")
      [ "${BENCH_PERF:-0}" = 1 ] && [ "$round" = 1 ] && profile_outpost "$handler" "$url"
    fi
    if [ -n "$CONSTLOAD" ] && [ -n "$HALF_RATE" ] && [ "$HALF_RATE" -gt 0 ]; then
      log "$server/$handler: constant rate $HALF_RATE req/s for ${DURATION}s"
      nice -n "$NICE" taskset -c $LOAD_CPU "$CONSTLOAD" --url "$url" --rate "$HALF_RATE" \
        --duration "$DURATION" --connections "$CONNS" >"$WORK/const.out" 2>&1
      local cj
      cj=$(sed -n 's/^CONSTJSON //p' "$WORK/const.out")
      if [ -n "$cj" ]; then
        record "{\"server\":\"$server\",\"handler\":\"const\",\"round\":$round,\"status\":\"ok\",\"const\":$cj}"
      else
        note "$server: the constant-rate run failed: $(tail -n 3 "$WORK/const.out" | tr '\n' ' ')"
      fi
    fi
  fi
  stop_server
}

# profile_outpost HANDLER URL: perf record of the server under an extra wrk run
# (not the measured one), flat profile, top 15 symbols.
profile_outpost() {
  if ! command -v perf >/dev/null; then
    note "BENCH_PERF=1 but perf is not installed: no profile."
    return
  fi
  log "outpost/$1: perf record under ${DURATION}s of wrk"
  perf record -q -F 999 -p "$SPID" -o "$WORK/perf.data" -- sleep "$DURATION" >/dev/null 2>&1 &
  local ppid=$!
  run_wrk "$1" "$2" "$DURATION" "$WORK/perf-wrk.out"
  wait $ppid
  {
    echo "### Where Outpost's time goes (hello, \`perf record -F 999 -p PID\` under the same wrk load)"
    echo
    echo "By thread: $(perf report -i "$WORK/perf.data" --no-children --sort comm -g none --stdio 2>/dev/null |
      grep -v '^#' | grep -v '^$' | awk '{pct = $1; $1 = ""; sub(/^ /, ""); printf "%s%s %s", sep, $0, pct; sep = ", "}')."
    echo
    echo '```'
    perf report -i "$WORK/perf.data" --no-children --sort dso,symbol -g none --stdio 2>/dev/null |
      grep -v '^#' | grep -v '^$' | sed -E 's/[[:space:]]+$//; s/[[:space:]]+-[[:space:]]+-$//' |
      cut -c1-160 | head -n 15
    echo '```'
    echo
  } >"$PERF_MD"
}

# Round by round, handler by handler, every server in turn, so a slow spell
# on the machine hits all servers. Outpost and Deno, the pair the goals
# compare, run back to back, and swap places every other round so that
# neither always has the later (or earlier) minute; Outpost goes first in
# the first round, where its hello peak sets the constant rate.
for server in $SERVERS; do
  case $server in
    outpost | workerd | deno | bun) ;;
    *) note "unknown server '$server' in BENCH_SERVERS" ;;
  esac
done
ORDER=
for server in outpost deno $SERVERS; do
  [[ " $SERVERS " == *" $server "* && " $ORDER " != *" $server "* ]] && ORDER+=" $server"
done
for round in $(seq "$ROUNDS"); do
  order=$ORDER
  if ((round % 2 == 0)) && [[ $ORDER == " outpost deno"* ]]; then
    order=" deno outpost${ORDER# outpost deno}"
  fi
  for h in $HANDLERS; do
    for server in $order; do
      case $server in
        outpost) bin=$OUTPOST ;; workerd) bin=$WORKERD ;; deno) bin=$DENO ;; bun) bin=$BUN ;; *) continue ;;
      esac
      if [ -z "$bin" ]; then
        record "{\"server\":\"$server\",\"handler\":\"$h\",\"round\":$round,\"status\":\"not installed\"}"
        continue
      fi
      log "round $round of $ROUNDS"
      bench_one "$server" "$h" "$round"
    done
  done
done

# ------------------------------------------------------------- report ----
export OUTPOST ROUNDS CONNS DURATION WARMUP SERVER_CPU LOAD_CPU CLK_TCK HALF_RATE PEERS NICE LOADAVG_START CONSTLOAD
python3 - "$RESULTS" "$NOTES" "$VERSIONS" "$PERF_MD" <<'PY'
import json, os, sys

results_path, notes_path, versions_path, perf_path = sys.argv[1:5]
E = os.environ
conns, dur, warm = E["CONNS"], E["DURATION"], E["WARMUP"]
scpu, lcpu, tck = E["SERVER_CPU"], E["LOAD_CPU"], int(E["CLK_TCK"])
nice = E["NICE"]
pre = f"nice -n {nice} " if nice != "0" else ""
peers = E["PEERS"]
half = E.get("HALF_RATE") or ""

rows = [json.loads(l) for l in open(results_path) if l.strip()]
names = {"outpost": "Outpost", "workerd": "workerd", "deno": "Deno", "bun": "Bun"}
order = [s for s in ["outpost", "workerd", "deno", "bun"] if any(r["server"] == s for r in rows)]
handlers = [("hello", "hello"), ("json", "JSON echo"), ("stream", "1 MiB stream")]

runs = {}
for r in rows:
    if r["handler"] in ("hello", "json", "stream") and r["status"] == "ok":
        w = r["wrk"]
        secs = w["duration_us"] / 1e6
        errs = ", ".join(f"{w['err_' + k]} {k}" for k in ("connect", "read", "write", "status", "timeout")
                         if w["err_" + k]) or "0"
        runs.setdefault((r["server"], r["handler"]), {})[r["round"]] = {
            "rps": w["requests"] / secs,
            "p50": w["p50_us"], "p99": w["p99_us"],
            "cpu_us": r["cpu_ticks"] * 1e6 / tck / w["requests"] if w["requests"] else float("nan"),
            "cpu_pct": 100.0 * r["cpu_ticks"] / tck / secs,
            # CPU time on the server's CPU not spent by the server: other
            # processes, and kernel work (softirq) not charged to it.
            "other_pct": 100.0 * ((r["cpu0"][2] - r["cpu0"][0]) / max(1, r["cpu0"][3] - r["cpu0"][1]))
                         - 100.0 * r["cpu_ticks"] / tck / secs,
            "wrk_pct": 100.0 * r["wrk_cpu_s"] / secs,
            "rss": r["hwm_kb"] / 1024.0,
            "errs": errs, "reqs": w["requests"], "mbps": w["bytes"] / secs / 2**20,
        }
status = {(r["server"], r["handler"]): r["status"] for r in rows}

def median(xs):
    xs = sorted(xs)
    return xs[(len(xs) - 1) // 2] if xs else None

# Each column is its median over the rounds (the lower middle one for an
# even count); errors are summed.
m = {}
for key, by_round in runs.items():
    xs = list(by_round.values())
    m[key] = {k: median([x[k] for x in xs]) for k in xs[0] if k != "errs"}
    errs = [x["errs"] for x in xs if x["errs"] != "0"]
    m[key]["errs"] = "; ".join(errs) or "0"
    m[key]["n"] = len(xs)

def lat(us):
    us = float(us)
    return f"{us / 1000:.2f} ms" if us >= 1000 else f"{us:.0f} µs"

out = []
p = out.append
p("## HTTP (`bench/http.sh`)")
p("")
p(f"Each server is pinned to CPU {scpu} and wrk to CPU {lcpu} (`taskset`); every server gets the same")
p(f"load: wrk, 1 thread, {conns} keep-alive connections, a {warm} s warm-up run, then {dur} s measured.")
p(f"{E['ROUNDS']} rounds: in each, every handler is run on every server in turn, Outpost and Deno back to back")
p("(swapping places every other round); every figure below is the median over the rounds, column by")
p("column, and each ratio the median of the rounds' own ratios.")
if nice != "0":
    p(f"Both run at nice {nice}, for precedence over other work on a shared machine.")
p("A fresh server process per handler; it is polled with curl until it answers, its response is")
p("checked, and it is killed after. Server CPU = utime+stime of the server's process tree over the")
p("measured run (`/proc/PID/stat`) ÷ requests completed; peak RSS = `VmHWM` at the end of that run.")
p("\"server CPU %\" near 100 means the server's core was saturated; in brackets, the rest of that")
p("core's busy time (other processes on this shared machine, and kernel network work not charged")
p("to the server). \"wrk CPU %\" near 100 means the load generator was saturated, and that row's")
p("req/s is then a floor for that server, not its peak. Errors are wrk's: \"read\" is a connection")
p("the server closed or reset (wrk then reconnects), \"status\" a response that was not 2xx/3xx.")
p("")
p("| handler | server | req/s | p50 | p99 | server CPU µs/req | server CPU % | wrk CPU % | peak RSS | errors |")
p("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
for h, hn in handlers:
    for s in order:
        x = m.get((s, h))
        if x:
            p(f"| {hn} | {names[s]} | {x['rps']:,.0f} | {lat(x['p50'])} | {lat(x['p99'])} | {x['cpu_us']:.1f} | "
              f"{x['cpu_pct']:.0f} (+{max(0, x['other_pct']):.0f}) | {x['wrk_pct']:.0f} | {x['rss']:.1f} MiB | {x['errs']} |")
        else:
            p(f"| {hn} | {names[s]} | — | — | — | — | — | — | — | {status.get((s, h), 'not run')} |")
p("")
if m:
    own = [x["cpu_pct"] for x in m.values()]
    other = [max(0.0, x["other_pct"]) for x in m.values()]
    p(f"In this run the servers used {min(own):.0f}–{max(own):.0f}% of their core and the rest of it was busy "
      f"{min(other):.0f}–{max(other):.0f}% of the time (load average at start: {E['LOADAVG_START']}).")
    if max(own) < 80:
        p("No server saturated its core, so req/s and latency are limited by scheduling on a busy machine")
        p("(every request is a wake-up of the server and of wrk) as much as by the servers; CPU µs per")
        p("request is the least disturbed column. Compare ratios within this run, not absolute numbers.")
    p("")
if any(h == "stream" for h in [k[1] for k in m]):
    p("Stream throughput (MiB/s of response bytes): " + ", ".join(
        f"{names[s]} {m[(s, 'stream')]['mbps']:,.0f}" for s in order if (s, "stream") in m) + ".")
    p("")

def ratio(h, s, k):
    """Median over the rounds of Outpost's k ÷ server s's, with the range."""
    o, x = runs.get(("outpost", h), {}), runs.get((s, h), {})
    rs = sorted(o[i][k] / x[i][k] for i in o if i in x and x[i][k])
    if not rs:
        return "—"
    mid = f"{median(rs):.2f}"
    return mid if len(rs) == 1 else f"{mid} ({rs[0]:.2f}–{rs[-1]:.2f})"

p("### Ratios (same rounds; in brackets, the lowest and highest round)")
p("")
p("| handler | Outpost/workerd req/s | Outpost/Deno req/s | Outpost/Bun req/s | Outpost CPU per request ÷ Deno's |")
p("| --- | ---: | ---: | ---: | ---: |")
for h, hn in handlers:
    p(f"| {hn} | {ratio(h, 'workerd', 'rps')} | {ratio(h, 'deno', 'rps')} | "
      f"{ratio(h, 'bun', 'rps')} | {ratio(h, 'deno', 'cpu_us')} |")
p("")
p("Above 1.00 Outpost served more requests per second (or, in the last column, spent more CPU per request).")
p("")

# Per server, the round with the median p99 (its whole row, so that the
# loader's lag shown is that run's).
consts = {}
for s in order:
    cs = sorted((r["const"] for r in rows if r["handler"] == "const" and r["server"] == s), key=lambda c: c["p99_us"])
    if cs:
        consts[s] = cs[(len(cs) - 1) // 2]
        consts[s]["p99_all"] = [c["p99_us"] for c in cs]
p(f"### Latency at a constant rate: half of Outpost's hello peak ({half or '—'} req/s)")
p("")
if consts:
    p("Debian's wrk 4.1 has no `-R` and wrk2 is not packaged, so this run uses `constload`")
    p("(`bench/loadgen`, Rust), an open-loop loader: request *i* is due at *t0 + i/rate*, goes out on a")
    p(f"free one of {conns} keep-alive connections (or waits in a FIFO queue until one is free), and its")
    p("latency counts from when it was *due* (no coordinated omission). It runs one thread, on epoll,")
    p(f"on CPU {lcpu}, spinning through the last millisecond before each due time so that requests leave")
    p("on time; a connection the server closes is replaced with a non-blocking connect. Same hello")
    p("handler, same server process as above, right after its wrk run. \"Loader lag\" is how late the")
    p("loader wrote a request after its due time when a connection was free (or noticed it was due,")
    p("when none was); when its max is more than a few ms, something else had the loader's CPU and")
    p("part of that row's tail is the loader's, not the server's. Each row is the round with the")
    p("median p99; the last column lists every round's p99.")
    p("")
    p("\"closed / retried\": connections the server closed (or ended with `Connection: close`), and")
    p("requests that were in flight on one when it closed, sent again on a new connection (latency")
    p("still from the first due time).")
    p("")
    p("| server | target req/s | achieved req/s | p50 | p90 | p99 | p99.9 | max | errors | closed / retried | loader lag mean / max | p99 by round |")
    p("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    short = []
    for s in order:
        c = consts.get(s)
        if not c:
            p(f"| {names[s]} | — | — | — | — | — | — | — | — | — | — | — |")
            continue
        p(f"| {names[s]} | {c['target_rps']:,.0f} | {c['achieved_rps']:,.0f} | {lat(c['p50_us'])} | {lat(c['p90_us'])} | "
          f"{lat(c['p99_us'])} | {lat(c['p999_us'])} | {lat(c['max_us'])} | {c['errors'] + c['non2xx']} | {c['reconnects']} / {c['retried']} | "
          f"{lat(c['loader_lag_mean_us'])} / {lat(c['loader_lag_max_us'])} | {', '.join(lat(x) for x in c['p99_all'])} |")
        if c["achieved_rps"] < 0.97 * c["target_rps"]:
            short.append(f"{names[s]} completed only {c['completed']:,} of the {c['scheduled']:,} requests "
                         f"({c['achieved_rps']:,.0f} of {c['target_rps']:,.0f} req/s): it cannot sustain this rate here.")
    p("")
    for line in short:
        p(f"- {line}")
    if short:
        p("")
elif not E.get("CONSTLOAD"):
    p("Not run (the constant-rate loader could not be built: see the problems below).")
    p("")
else:
    p("Not run (no Outpost hello result to take the rate from).")
    p("")

perf = open(perf_path).read()
if perf:
    p(perf.rstrip())
    p("")

p("### Commands")
p("")
p("```sh")
p(f"# servers (PORT: a free port per run; one process per handler H in hello, json, stream)")
p(f"{pre}taskset -c {scpu} {E['OUTPOST']} dev {peers}/handlers/H.js --listen 127.0.0.1:PORT --no-watch")
p(f"{pre}taskset -c {scpu} bench/.cache/npm/workerd/node_modules/@cloudflare/workerd-linux-64/bin/workerd serve {peers}/workerd.capnp H --socket-addr http=127.0.0.1:PORT")
p(f"DENO_DIR=bench/.cache/deno {pre}taskset -c {scpu} bench/.cache/npm/deno/node_modules/@deno/linux-x64-glibc/deno serve --host 127.0.0.1 --port PORT {peers}/handlers/H.js")
p(f"{pre}taskset -c {scpu} bench/.cache/npm/bun/node_modules/@oven/bun-linux-x64/bin/bun {peers}/bun-serve.js {peers}/handlers/H.js 127.0.0.1 PORT")
p(f"# load: warm-up, then the measured run (JSON echo: WRK_POST_FILE={peers}/body.json makes it a POST)")
p(f"{pre}taskset -c {lcpu} wrk -t1 -c{conns} -d{warm}s --latency -s {peers}/wrk.lua http://127.0.0.1:PORT/")
p(f"{pre}taskset -c {lcpu} wrk -t1 -c{conns} -d{dur}s --latency -s {peers}/wrk.lua http://127.0.0.1:PORT/")
p(f"# constant rate, hello only (the loader: cargo build --release -p outpost-loadgen)")
p(f"{pre}taskset -c {lcpu} target/release/constload --url http://127.0.0.1:PORT/ --rate {half or 'RATE'} --duration {dur} --connections {conns}")
p("```")
p("")
p("### Versions")
p("")
p(open(versions_path).read().rstrip())
p("")
notes = open(notes_path).read().strip()
if notes:
    p("### Problems in this run")
    p("")
    p(notes)
    p("")
print("\n".join(out))
PY
# Fail (after printing the report) when Outpost itself could not be measured.
if [[ " $SERVERS " == *" outpost "* ]] && ! grep -Eq '"server":"outpost","handler":"hello",("round":[0-9]+,)?"status":"ok"' "$RESULTS"; then
  exit 1
fi
exit 0
