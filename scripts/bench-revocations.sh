#!/usr/bin/env bash
# Benchmarks a restart of tokengate holding many live revocations, beside
# the same service with none, and prints a markdown report on stdout (also
# written to docs/bench-revocations.md); progress goes to stderr.
#
#   scripts/bench-revocations.sh                  # 1M and 10M entries (about 6 minutes)
#   scripts/bench-revocations.sh --sizes 1000000  # entry counts, comma-separated
#   scripts/bench-revocations.sh --duration 6     # seconds of wrk per server (default 6)
#   scripts/bench-revocations.sh --no-build       # use the release binary already built
#   scripts/bench-revocations.sh --no-write       # do not write docs/bench-revocations.md
#   scripts/bench-revocations.sh --keep-logs      # keep the servers' logs
#
# For each size N, on SQLite (the default database):
# 1. a fresh data directory; the service starts once (it creates the
#    database) and stops; N token revocations with random canonical UUIDs
#    (what tokengate issues as `jti`), unexpired, are written straight into
#    the revocations table by sqlite3 (not timed);
# 2. the service starts on it; reported: the time from the start to its
#    first /healthz 200 (it serves), to its first /readyz 200 (every
#    revocation read: the catch-up), the "revocations loaded" log line's own
#    count and milliseconds, and its RSS once ready;
# 3. the anchor: the same binary on a data directory with no revocations,
#    started the same way, its RSS once ready. The growth (RSS with N minus
#    RSS with none) is what N revocations cost; per entry, over N;
# 4. /api/private with a token of each server, wrk -t1 -c16 for --duration
#    seconds per server, alternated (none, N, none, N): what a lookup in a
#    set of N costs a request next to one in an empty set.
#
# Targets (issue 17): 1M revocations in at most 64 MB of RSS; a restart with
# 1M serves within 2 s.
#
# Environment: BENCH_RUST_LOG (unset: info).
set -euo pipefail

cd "$(dirname "$0")/.."
source scripts/bench-common.sh

duration=6
sizes=1000000,10000000
command_line="scripts/bench-revocations.sh${*:+ $*}"
while [[ $# -gt 0 ]]; do
    case "$1" in
        --sizes) sizes="$2"; shift 2 ;;
        *) common_option "$@"; shift "$nargs" ;;
    esac
done
[[ $sizes =~ ^[1-9][0-9]*(,[1-9][0-9]*)*$ ]] || { echo "--sizes needs counts like 1000000,10000000" >&2; exit 2; }
load_settings 2

log() { echo "[bench-revocations] $*" >&2; }

install_tools wrk=wrk sqlite3=sqlite3
require_tools bench-revocations.sh wrk curl jq awk sqlite3

bench_start
cargo_build --release --locked -p tokengate-server --bin tokengate
bin="$target_dir/release/tokengate"
[[ -x $bin ]] || { echo "missing $bin (run without --no-build)" >&2; exit 1; }

work=$(mktemp -d "${TMPDIR:-/tmp}/bench-revocations.XXXXXX")
scratch=("$work")
trap cleanup_pids EXIT
trap 'exit 130' INT TERM
write_bench_lua

rss_mb() { awk '/^VmRSS:/ { printf "%.1f", $2 / 1024 }' "/proc/$1/status"; }
now_ms() { date +%s%3N; }

# prepare NAME N: a data directory $work/NAME whose database holds N revocations.
prepare() {
    local name=$1 n=$2 dir="$work/$1"
    start_tokengate "$dir" "$work/$name.prep.out" "$work/$name.prep.log"
    [[ -n $tg_url ]] || { echo "$name: the service did not start: $(tail -5 "$work/$name.prep.log")" >&2; exit 1; }
    kill -TERM "$tg_pid"; wait "$tg_pid" || true
    if ((n > 0)); then
        local t0=$SECONDS
        # Canonical UUIDs (lowercase, hyphenated): the ids tokengate issues.
        sqlite3 "$dir/tokengate.db" "
            WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $n),
            h(x) AS (SELECT lower(hex(randomblob(16))) FROM n)
            INSERT INTO revocations (kind, value, before_ms, expires_at)
            SELECT 'token', substr(x, 1, 8) || '-' || substr(x, 9, 4) || '-' || substr(x, 13, 4)
                   || '-' || substr(x, 17, 4) || '-' || substr(x, 21, 12), 0, 4102444800 FROM h;"
        log "$name: $n revocations written in $((SECONDS - t0)) s ($(du -h "$dir/tokengate.db" | cut -f1))"
    fi
}

# start NAME: starts the service on $work/NAME and waits until it is ready;
# records NAME.serve_ms, NAME.ready_ms, NAME.loaded, NAME.load_ms, NAME.rss;
# leaves its pid in PID_NAME and a token in TOKEN_NAME.
start() {
    local name=$1 dir="$work/$1" t0 i code served=""
    t0=$(now_ms)
    start_tokengate "$dir" "$work/$name.out" "$work/$name.log"
    [[ -n $tg_url ]] || { echo "$name: the service did not start: $(tail -5 "$work/$name.log")" >&2; exit 1; }
    check_address "$tg_url"
    pids+=("$tg_pid")
    for ((i = 0; i < 6000; i++)); do
        if [[ -z $served ]]; then
            code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$tg_url/healthz" || true)
            [[ $code == 200 ]] && served=$(($(now_ms) - t0))
        fi
        code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$tg_url/readyz" || true)
        [[ $code == 200 ]] && break
        sleep 0.02
    done
    [[ $code == 200 ]] || { echo "$name: never ready: $(curl -s "$tg_url/readyz")" >&2; exit 1; }
    R[$name.ready_ms]=$(($(now_ms) - t0))
    R[$name.serve_ms]=${served:-${R[$name.ready_ms]}}
    R[$name.loaded]=$(sed -n 's/.*revocations loaded revocations=\([0-9]*\).*/\1/p' "$work/$name.log" | head -1)
    R[$name.load_ms]=$(sed -n 's/.*revocations loaded revocations=[0-9]* ms=\([0-9]*\).*/\1/p' "$work/$name.log" | head -1)
    sleep 1
    R[$name.rss]=$(rss_mb "$tg_pid")
    register_and_login "$tg_url" "$name"
    printf -v "PID_$name" %s "$tg_pid"
    printf -v "URL_$name" %s "$tg_url"
    printf -v "TOKEN_$name" %s "$token"
}

# private NAME ROUND: wrk on NAME's /api/private.
private() {
    local name=$1 round=$2 pid_var="PID_$1" url_var="URL_$1" token_var="TOKEN_$1"
    export BENCH_TOKEN="${!token_var}"
    measure "$name.$round" "${!pid_var}" "$name.$round" \
        run_wrk "$name.$round" "${!url_var}/api/private" -t1 -c16 -d"${duration}s"
}

# warm NAME: a short wrk on NAME's /api/private, not measured.
warm() {
    local url_var="URL_$1" token_var="TOKEN_$1"
    BENCH_TOKEN="${!token_var}" run_wrk warm "${!url_var}/api/private" -t1 -c16 -d"${warmup}s"
}

IFS=, read -r -a counts <<<"$sizes"
for n in "${counts[@]}"; do
    name="n$n"
    rm -rf "${work:?}/none"
    prepare none 0
    prepare "$name" "$n"
    start none
    start "$name"
    log "$name: serves after ${R[$name.serve_ms]} ms, ready after ${R[$name.ready_ms]} ms, RSS ${R[$name.rss]} MB (none: ${R[none.rss]} MB)"
    warm none
    warm "$name"
    for round in 1 2; do
        private none "$round"
        private "$name" "$round"
    done
    combine none 2
    combine "$name" 2
    for f in rps us_per_req; do R[$name.none_$f]=${R[none.$f]}; done
    R[$name.rss_none]=${R[none.rss]}
    kill -TERM "${pids[@]}" 2>/dev/null || true
    wait "${pids[@]}" 2>/dev/null || true
    pids=()
    grep -h -E ' (WARN|ERROR) ' "$work"/*.log >&2 || true
    rm -rf "${work:?}/$name"
done

report() {
    machine_facts
    echo "# Revocations at restart: $sizes entries"
    echo
    echo "Command: \`$command_line\`, $started_at, commit $commit."
    echo "Machine: $(machine_text); load before: $load_before."
    echo "Tools: $(tools_text)."
    echo
    echo "| entries | serves after | ready after (catch-up) | read (log) | RSS ready | RSS, none | growth | bytes / entry | /api/private req/s (none) | server µs/req (none) |"
    echo "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    local n name
    for n in "${counts[@]}"; do
        name="n$n"
        echo "| $n | ${R[$name.serve_ms]} ms | ${R[$name.ready_ms]} ms | ${R[$name.loaded]:-?} in ${R[$name.load_ms]:-?} ms | ${R[$name.rss]} MB | ${R[$name.rss_none]} MB | $(calc %.1f "${R[$name.rss]} - ${R[$name.rss_none]}") MB | $(calc %.0f "(${R[$name.rss]} - ${R[$name.rss_none]}) * 1048576 / $n") | ${R[$name.rps]} (${R[$name.none_rps]}) | ${R[$name.us_per_req]} (${R[$name.none_us_per_req]}) |"
    done
    echo
    n=1000000
    if [[ -n ${R[n$n.rss]:-} ]]; then
        echo "Targets for 1M: growth ≤ 64 MB: $(verdict "${R[n$n.rss]} - ${R[n$n.rss_none]}" '<=' 64); serves within 2 s: $(verdict "${R[n$n.serve_ms]}" '<=' 2000)."
    fi
}
publish_report docs/bench-revocations.md
