# Shell functions shared by scripts/bench-service.sh, scripts/bench-cluster.sh
# and scripts/bench-forward-auth.sh: sourced by them (from the repository's
# root), not run. It defines functions and a few variables only; nothing
# here starts a process or writes a file until a function is called.
#
# A script that sources it provides: log MESSAGE (progress on stderr) and,
# before calling the functions that use them, duration (its default,
# before common_option), work (its scratch dir), bin (the tokengate binary:
# start_tokengate) and report (a function printing the markdown report:
# publish_report).

# --- results and arithmetic ---------------------------------------------------
declare -A R   # every result, by "name.field"

calc() { awk "BEGIN { printf \"$1\", ($2) }"; }
# Busy CPU ticks of the whole machine (user nice system irq softirq steal).
machine_busy() { awk '$1 == "cpu" { print $2 + $3 + $4 + $7 + $8 + $9; exit }' /proc/stat; }
# utime + stime of processes, in ticks (summed; 0 for none).
proc_ticks() { local p; for p in "$@"; do cat "/proc/$p/stat"; done | awk '{ sub(/.*\) /, ""); t += $12 + $13 } END { print t + 0 }'; }
hz=$(getconf CLK_TCK)
# TCP connections opened by connect() on the whole machine so far.
active_opens() { awk '$1 == "Tcp:" && $6 ~ /^[0-9]+$/ { print $6; exit }' /proc/net/snmp; }
# field FILE KEY: the value of KEY=value in FILE's first line that has it.
field() { sed -n "s/.* $2=\([^ ]*\).*/\1/p" "$1" | head -1; }
loadavg() { cut -d' ' -f1-3 /proc/loadavg; }
# verdict A OP B: "met" if the awk comparison holds, else "**missed**".
verdict() { if awk "BEGIN { exit !($1 $2 $3) }"; then echo met; else echo "**missed**"; fi; }

# --- setup ---------------------------------------------------------------------
# usage: the script's header comment (line 2 up to `set -euo pipefail`).
usage() { sed -n '2,/^set -euo/{/^set -euo/d;p}' "$0"; }

# The options every script takes, their defaults (duration: the script's).
build=1
write=1
keep_logs=0
# common_option ARG...: handles ARG if it is --duration N, --no-build,
# --no-write, --keep-logs or -h/--help and sets nargs to the number of
# arguments it took (for the caller's shift); exits 2 on any other ARG.
common_option() {
    nargs=1
    case "$1" in
        --duration) duration=${2:-}; nargs=$(( $# > 1 ? 2 : 1 )) ;;
        --no-build) build=0 ;;
        --no-write) write=0 ;;
        --keep-logs) keep_logs=1 ;;
        -h|--help) usage; exit 0 ;;
        *) echo "unknown argument: $1" >&2; exit 2 ;;
    esac
}

# load_settings ROUNDS: checks duration; sets threads, conns, warmup and
# rounds from BENCH_THREADS (2), BENCH_CONNECTIONS (32), BENCH_WARMUP (2 s)
# and BENCH_ROUNDS (ROUNDS), and round_secs (duration / rounds, at least 1).
load_settings() {
    [[ $duration =~ ^[1-9][0-9]*$ ]] || { echo "--duration needs a positive number of seconds" >&2; exit 2; }
    threads=${BENCH_THREADS:-2}
    conns=${BENCH_CONNECTIONS:-32}
    warmup=${BENCH_WARMUP:-2}
    rounds=${BENCH_ROUNDS:-$1}
    round_secs=$(( duration / rounds > 0 ? duration / rounds : 1 ))
}

# install_tools COMMAND=PACKAGE...: apt-get installs the packages of the
# commands that are not found.
install_tools() {
    local pair missing=()
    for pair in "$@"; do command -v "${pair%%=*}" >/dev/null || missing+=("${pair#*=}"); done
    if [[ ${#missing[@]} -gt 0 ]]; then
        log "installing ${missing[*]}"
        apt-get update >/dev/null && apt-get install -y "${missing[@]}" >/dev/null
    fi
    return 0
}

# require_tools SCRIPT TOOL...: exits unless every TOOL is found.
require_tools() {
    local script=$1 tool
    shift
    for tool in "$@"; do
        command -v "$tool" >/dev/null || { echo "$script needs $tool" >&2; exit 1; }
    done
}

# bench_start: started_at, load_before and t_start (for build_secs).
bench_start() {
    started_at=$(date -u +%Y-%m-%dT%H:%M:%SZ)
    load_before=$(loadavg)
    t_start=$SECONDS
}

# cargo_build CARGO-BUILD-ARGS...: `cargo build` them unless --no-build;
# sets build_secs (since bench_start) and target_dir.
cargo_build() {
    if [[ $build == 1 ]]; then
        log "cargo build $*"
        cargo build "$@" >&2
    fi
    build_secs=$((SECONDS - t_start))
    target_dir=$(cargo metadata --format-version 1 --no-deps | jq -r .target_directory)
}

# One Lua script for every wrk run, written to $work/bench.lua: the
# Authorization header (BENCH_TOKEN), a JSON POST body (BENCH_BODY) and
# pacing (BENCH_DELAY_MS between a connection's requests) come from the
# environment; done() prints one line, BENCH key=value..., for wrk_results.
write_bench_lua() {
    cat >"$work/bench.lua" <<'LUA'
local token = os.getenv("BENCH_TOKEN")
if token and token ~= "" then
  wrk.headers["Authorization"] = "Bearer " .. token
end
local body = os.getenv("BENCH_BODY")
if body and body ~= "" then
  wrk.method = "POST"
  wrk.body = body
  wrk.headers["Content-Type"] = "application/json"
end
local pace = tonumber(os.getenv("BENCH_DELAY_MS") or "")
if pace and pace > 0 then
  function delay() return pace end
end
function done(summary, latency, requests)
  local e = summary.errors
  local secs = summary.duration / 1e6
  local ok = summary.requests - e.status
  io.write(string.format(
    "BENCH requests=%d secs=%.3f rps=%.2f ok=%d ok_rps=%.2f p50=%.3f p90=%.3f p99=%.3f max=%.3f non2xx=%d sockerr=%d\n",
    summary.requests, secs, summary.requests / secs, ok, ok / secs,
    latency:percentile(50) / 1000, latency:percentile(90) / 1000,
    latency:percentile(99) / 1000, latency.max / 1000,
    e.status, e.connect + e.read + e.write + e.timeout))
end
LUA
}

# --- processes -------------------------------------------------------------------
# The pids that cleanup_pids stops, and the dirs it removes (or keeps with
# --keep-logs). bench-cluster.sh has its own cleanup (databases, Redis keys).
pids=()
scratch=()
cleanup_pids() {
    local pid
    for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
    if [[ $keep_logs == 1 ]]; then log "logs and wrk outputs kept in ${scratch[*]}"; else rm -rf "${scratch[@]}"; fi
}

# start_tokengate DATA-DIR OUT ERRLOG [ENV...]: $bin --data-dir DATA-DIR
# --listen 127.0.0.1:0 in the background, with ENV (and
# RUST_LOG=$BENCH_RUST_LOG if that is set), stdout to OUT and stderr to
# ERRLOG; waits (20 s at most, while it lives) for its "tokengate listening
# on URL" line. Sets tg_pid and tg_url (empty if it did not start).
start_tokengate() {
    local dir=$1 out=$2 errlog=$3 i
    shift 3
    local envs=("$@")
    mkdir -p "$dir"
    [[ -n ${BENCH_RUST_LOG:-} ]] && envs+=(RUST_LOG="$BENCH_RUST_LOG")
    : >"$out"
    env "${envs[@]}" "$bin" --data-dir "$dir" --listen 127.0.0.1:0 >"$out" 2>"$errlog" &
    tg_pid=$!
    tg_url=""
    for ((i = 0; i < 200; i++)); do
        tg_url=$(sed -n 's/^tokengate listening on //p' "$out")
        [[ -n $tg_url ]] && break
        kill -0 "$tg_pid" 2>/dev/null || break
        sleep 0.1
    done
    return 0
}

# printed FILE PREFIX: the rest of FILE's first line that starts with
# PREFIX, once it is there (up to 10 s: a server prints such lines as it
# starts); empty if it never is.
printed() {
    local i value=""
    for ((i = 0; i < 100; i++)); do
        value=$(sed -n "s/^$2//p" "$1" 2>/dev/null | head -1)
        [[ -n $value ]] && break
        sleep 0.1
    done
    echo "$value"
}

# check_address URL: exits unless URL is http://127.0.0.1:PORT.
check_address() { [[ $1 == http://127.0.0.1:* ]] || { echo "unexpected address $1" >&2; exit 1; }; }

credentials='{"username":"bench","password":"bench-password-123"}'
# register_and_login URL [WHO]: registers the bench user at URL, logs in and
# sets token (its access token); WHO prefixes the error messages.
register_and_login() {
    local url=$1 who=${2:+$2: } code
    code=$(curl -s --max-time 10 -o "$work/register.json" -w '%{http_code}' \
        -H 'Content-Type: application/json' -d "$credentials" "$url/auth/register")
    [[ $code == 201 ]] || { echo "${who}register: HTTP $code $(cat "$work/register.json")" >&2; exit 1; }
    token=$(curl -s --max-time 10 -H 'Content-Type: application/json' -d "$credentials" "$url/auth/login" | jq -r .access_token)
    [[ -n $token && $token != null ]] || { echo "${who}login gave no access token" >&2; exit 1; }
}

# expect_status WHAT CODE CURL-ARGS...: exits unless curl CURL-ARGS answers
# HTTP CODE; the body and headers stay in $work/check.body and
# $work/check.headers.
expect_status() {
    local what=$1 want=$2 code
    shift 2
    code=$(curl -s --max-time 10 -o "$work/check.body" -D "$work/check.headers" -w '%{http_code}' "$@")
    [[ $code == "$want" ]] || { echo "$what: HTTP $code, expected $want: $(head -c 300 "$work/check.body")" >&2; exit 1; }
}

# header_value NAME: the value of header NAME in $work/check.headers.
header_value() { awk -v h="$(tr '[:upper:]' '[:lower:]' <<<"$1"):" 'tolower($1) == h { sub(/^[^:]*: */, ""); sub(/\r$/, ""); print; exit }' "$work/check.headers"; }

# --- wrk -----------------------------------------------------------------------------
# wrk_results NAME: reads NAME's wrk output (and its CPU time) into R.
wrk_results() {
    local name=$1 out="$work/$1.txt" k
    grep -q '^BENCH ' "$out" || { log "wrk $name printed no result:"; cat "$out" >&2; exit 1; }
    for k in requests secs rps ok ok_rps p50 p90 p99 max non2xx sockerr; do R[$name.$k]=$(field "$out" "$k"); done
    R[$name.wrk_cpu]=0
    [[ -s $work/$name.time ]] && R[$name.wrk_cpu]=$(awk 'NR == 1 { print $1 + $2 }' "$work/$name.time")
    return 0
}

# run_wrk NAME URL WRK-ARGS...: wrk under GNU time (for its CPU time).
run_wrk() {
    local name=$1 url=$2; shift 2
    local timer=()
    [[ -x /usr/bin/time ]] && timer=(/usr/bin/time -f '%U %S' -o "$work/$name.time")
    timeout $((duration + warmup + 60)) "${timer[@]}" \
        wrk --latency --timeout 10s -s "$work/bench.lua" "$@" "$url" >"$work/$name.txt" 2>&1 ||
        { log "wrk $name failed:"; cat "$work/$name.txt" >&2; exit 1; }
}

# Processes measured besides the server, with their own CPU column (nginx
# in bench-forward-auth.sh); none elsewhere.
proxy_pids=()

# measure NAME SERVER-PID WRK-NAMES CMD...: runs CMD, then reads the wrk
# results of WRK-NAMES (space-separated) and records NAME.wall, the CPU
# seconds of the server (NAME.server_cpu) and of proxy_pids
# (NAME.proxy_cpu), the TCP connections opened on the machine meanwhile
# (NAME.opens) and the others' CPU seconds (NAME.other_cpu: the machine's
# busy CPU minus the server's, proxy_pids' and those wrk runs').
measure() {
    local name=$1 spid=$2 wrks=$3; shift 3
    local b0 s0 p0 o0 t0 b1 s1 p1 o1 t1 w=0 n
    b0=$(machine_busy); s0=$(proc_ticks "$spid"); p0=$(proc_ticks "${proxy_pids[@]}"); o0=$(active_opens); t0=$(date +%s.%N)
    "$@"
    b1=$(machine_busy); s1=$(proc_ticks "$spid"); p1=$(proc_ticks "${proxy_pids[@]}"); o1=$(active_opens); t1=$(date +%s.%N)
    for n in $wrks; do wrk_results "$n"; w=$(calc %.3f "$w + ${R[$n.wrk_cpu]}"); done
    R[$name.wall]=$(calc %.3f "$t1 - $t0")
    R[$name.server_cpu]=$(calc %.3f "($s1 - $s0) / $hz")
    R[$name.proxy_cpu]=$(calc %.3f "($p1 - $p0) / $hz")
    R[$name.opens]=$((o1 - o0))
    R[$name.other_cpu]=$(calc %.3f "(($b1 - $b0) - ($s1 - $s0) - ($p1 - $p0)) / $hz - $w")
}

# cores NAME FIELD: NAME.FIELD (CPU seconds, 0 if negative) per second of NAME.wall.
cores() { calc %.2f "(${R[$1.$2]} < 0 ? 0 : ${R[$1.$2]}) / ${R[$1.wall]}"; }

# combine NAME N [FIELD...]: from the rounds NAME.1 .. NAME.N, NAME.requests,
# .secs, .server_cpu, .other_cpu, .wall, .non2xx, .sockerr and the FIELDs
# summed; NAME.p50 the rounds' mean, NAME.p99 the worst round's;
# NAME.rounds their req/s (a/b/...), NAME.rps and NAME.us_per_req (server
# CPU µs per request).
combine() {
    local name=$1 n=$2 i f
    shift 2
    local sums="requests secs server_cpu other_cpu wall non2xx sockerr p50 $*"
    for f in $sums; do R[$name.$f]=0; done
    R[$name.p99]=0
    R[$name.rounds]=""
    for ((i = 1; i <= n; i++)); do
        for f in $sums; do
            R[$name.$f]=$(calc %.3f "${R[$name.$f]} + ${R[$name.$i.$f]}")
        done
        R[$name.p99]=$(calc %.3f "${R[$name.$i.p99]} > ${R[$name.p99]} ? ${R[$name.$i.p99]} : ${R[$name.p99]}")
        R[$name.rounds]+="${R[$name.$i.rps]%.*}/"
    done
    R[$name.rounds]=${R[$name.rounds]%/}
    R[$name.p50]=$(calc %.3f "${R[$name.p50]} / $n")
    R[$name.rps]=$(calc %.2f "${R[$name.requests]} / ${R[$name.secs]}")
    R[$name.us_per_req]=$(calc %.1f "1e6 * ${R[$name.server_cpu]} / ${R[$name.requests]}")
}

# --- report ----------------------------------------------------------------------
# machine_facts: cpu_model and commit (with "+ uncommitted changes").
machine_facts() {
    cpu_model=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
    commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
    git diff --quiet HEAD 2>/dev/null || commit+=" + uncommitted changes"
}

# machine_text: CPU, kernel and RAM, for the report's "Machine:" line.
machine_text() { echo "CPU \"$cpu_model\", Linux $(uname -r), $(awk '/^MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo) RAM"; }

# tools_text: wrk's and rustc's versions, for the report's "Tools:" line.
tools_text() { echo "$(wrk -v 2>&1 | head -1 | cut -d' ' -f1-2), $(rustc -V 2>/dev/null || echo 'rustc ?'), release profile"; }

# publish_report DOC: runs report into $work/report.md, prints it on stdout
# and, unless --no-write, copies it to DOC.
publish_report() {
    report >"$work/report.md"
    cat "$work/report.md"
    if [[ $write == 1 ]]; then
        mkdir -p "$(dirname "$1")"
        cp "$work/report.md" "$1"
        log "written to $1"
    fi
}
