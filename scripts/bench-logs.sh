#!/usr/bin/env bash
# What the service's logging costs: one binary, three servers side by side
# on 127.0.0.1, wrk -t2 -c32 on /api/private (a Bearer token; the cached
# token check, the revocation check and one access-log line per request),
# alternated round by round so that a change in the machine's load hits
# all alike; a markdown report on stdout, progress on stderr.
#
#   scripts/bench-logs.sh                  # build, then about 2 minutes
#   scripts/bench-logs.sh --duration 12    # seconds per server (default 12), split into rounds
#   scripts/bench-logs.sh --no-build       # use the binary already built
#   scripts/bench-logs.sh --baseline BIN   # also BIN (an older tokengate) with its text log
#
# The servers: `text` (the default: text lines, access log on), `json`
# (log_format = json) and `off` (access_log = false). Every request gets a
# request id and runs in a span in all three; `off` is the anchor that logs
# no line per request. Each server's stderr goes to a file, as a log does.
# Target: json >= 0.95 x text requests/s.
#
# Environment: BENCH_THREADS (2), BENCH_CONNECTIONS (32), BENCH_WARMUP
# (2 s), BENCH_ROUNDS (3).
set -euo pipefail

cd "$(dirname "$0")/.."
source scripts/bench-common.sh

duration=12
baseline=""
command_line="scripts/bench-logs.sh${*:+ $*}"
while [[ $# -gt 0 ]]; do
    case "$1" in
        --baseline) baseline=${2:-}; shift 2 ;;
        *) common_option "$@"; shift "$nargs" ;;
    esac
done
load_settings 3
write=0 # the report is printed only

log() { echo "[bench-logs] $*" >&2; }

install_tools wrk=wrk
require_tools bench-logs.sh wrk curl jq awk

bench_start
cargo_build --release --locked -p tokengate-server --bin tokengate
bin="$target_dir/release/tokengate"
[[ -x $bin ]] || { echo "missing $bin (run without --no-build)" >&2; exit 1; }
[[ -z $baseline || -x $baseline ]] || { echo "--baseline $baseline is not an executable" >&2; exit 2; }

work=$(mktemp -d "${TMPDIR:-/tmp}/bench-logs.XXXXXX")
scratch=("$work")
pids=()
trap cleanup_pids EXIT
trap 'exit 130' INT TERM
write_bench_lua

names=(text json off)
declare -A envs=([text]="" [json]="TOKENGATE_LOG_FORMAT=json" [off]="TOKENGATE_ACCESS_LOG=false")
declare -A url tok srv
start() { # NAME BINARY [ENV...]
    local name=$1 binary=$2
    shift 2
    local saved=$bin
    bin=$binary
    start_tokengate "$work/$name" "$work/$name.out" "$work/$name.log" "$@"
    bin=$saved
    [[ -n $tg_url ]] || { echo "$name did not start: $(tail -5 "$work/$name.log")" >&2; exit 1; }
    check_address "$tg_url"
    pids+=("$tg_pid")
    srv[$name]=$tg_pid
    url[$name]=$tg_url
    register_and_login "$tg_url" "$name"
    tok[$name]=$token
}
for name in "${names[@]}"; do
    # shellcheck disable=SC2086 # one VAR=value word or none
    start "$name" "$bin" ${envs[$name]}
done
if [[ -n $baseline ]]; then
    # The older binary with its access line, and without (RUST_LOG=warn):
    # what its line cost, beside what ours costs.
    names+=(baseline baseline_quiet)
    start baseline "$baseline"
    start baseline_quiet "$baseline" RUST_LOG=warn
fi

log "warm-up"
for name in "${names[@]}"; do
    BENCH_TOKEN=${tok[$name]} wrk -t"$threads" -c"$conns" -d"${warmup}s" -s "$work/bench.lua" "${url[$name]}/api/private" >/dev/null
done

for ((round = 1; round <= rounds; round++)); do
    for name in "${names[@]}"; do
        log "round $round: $name"
        BENCH_TOKEN=${tok[$name]} measure "$name.$round" "${srv[$name]}" "$name.$round" \
            run_wrk "$name.$round" "${url[$name]}/api/private" -t"$threads" -c"$conns" -d"${round_secs}s"
    done
done
for name in "${names[@]}"; do combine "$name" "$rounds"; done

lines() { grep -c . "$work/$1.log" || true; }
for name in "${names[@]}"; do
    awk "BEGIN { exit !(${R[$name.non2xx]} == 0) }" ||
        { echo "$name: ${R[$name.non2xx]} non-2xx answers" >&2; exit 1; }
done
[[ $(grep -c '"fields":{"message":"request"' "$work/json.log" || true) -gt 0 ]] ||
    { echo "the json server wrote no JSON access line" >&2; exit 1; }

report() {
    local ratio_json ratio_text
    ratio_json=$(calc %.3f "${R[json.rps]} / ${R[text.rps]}")
    ratio_text=$(calc %.3f "${R[text.rps]} / ${R[off.rps]}")
    echo "## Logging cost ($started_at)"
    echo
    echo "Command: \`$command_line\` at $commit; $(machine_text); $(tools_text)."
    echo "wrk -t$threads -c$conns on \`/api/private\`, $rounds rounds of ${round_secs} s per server, alternated; load average before: $load_before."
    echo
    echo "| server | req/s (rounds) | p50 ms | p99 ms | server CPU µs/req | log lines |"
    echo "|---|---|---|---|---|---|"
    for name in "${names[@]}"; do
        echo "| $name | ${R[$name.rps]} (${R[$name.rounds]}) | ${R[$name.p50]} | ${R[$name.p99]} | ${R[$name.us_per_req]} | $(lines "$name") |"
    done
    echo
    echo "- json / text: **${ratio_json}x** (target >= 0.95: $(verdict "$ratio_json" '>=' 0.95))"
    echo "- text / off (what one access-log line per request costs): ${ratio_text}x"
    if [[ -n $baseline ]]; then
        echo "- text / baseline (\`$baseline\`): $(calc %.3f "${R[text.rps]} / ${R[baseline.rps]}")x, json / baseline: $(calc %.3f "${R[json.rps]} / ${R[baseline.rps]}")x"
        echo "- baseline / baseline_quiet (what its access line cost): $(calc %.3f "${R[baseline.rps]} / ${R[baseline_quiet.rps]}")x; off / baseline_quiet (what the request id, its span and the newer code cost without a line): $(calc %.3f "${R[off.rps]} / ${R[baseline_quiet.rps]}")x"
    fi
}
machine_facts
report
