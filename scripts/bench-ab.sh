#!/usr/bin/env bash
# A/B of two tokengate binaries on the routes of the service benchmark: both
# servers run side by side on 127.0.0.1, and wrk -t2 -c32 runs on
# /api/public, /api/private and /auth/verify of A, then of B, route by
# route, round after round, so that a change in the machine's load hits
# both alike. A markdown report on stdout, progress on stderr.
#
#   scripts/bench-ab.sh A-BINARY B-BINARY                # 4 rounds of 4 s per route and binary
#   scripts/bench-ab.sh --duration 24 A-BINARY B-BINARY  # seconds per route and binary, split into rounds
#
# For a refactoring that should cost nothing: build the old commit's binary
# in a worktree (CARGO_TARGET_DIR shared, then copy the binary out), and
# compare it with the new one. Reported per route: req/s of each (and each
# round's), B/A, and the server's CPU µs per request.
#
# What a setting costs: the same binary twice, B started with the setting,
#
#   BENCH_B_ENV="TOKENGATE_ACCESS_LOG=false" scripts/bench-ab.sh BIN BIN
#
# Environment: BENCH_THREADS (2), BENCH_CONNECTIONS (32), BENCH_WARMUP
# (2 s), BENCH_ROUNDS (4); BENCH_A_ENV and BENCH_B_ENV, space-separated
# NAME=VALUE settings of A's and B's server (none).
set -euo pipefail

cd "$(dirname "$0")/.."
source scripts/bench-common.sh

duration=16
command_line="scripts/bench-ab.sh${*:+ $*}"
binaries=()
while [[ $# -gt 0 ]]; do
    case "$1" in
        --duration | --no-build | --no-write | --keep-logs | -h | --help) common_option "$@"; shift "$nargs" ;;
        *) binaries+=("$1"); shift ;;
    esac
done
[[ ${#binaries[@]} == 2 ]] || { echo "usage: scripts/bench-ab.sh [--duration N] A-BINARY B-BINARY" >&2; exit 2; }
for b in "${binaries[@]}"; do [[ -x $b ]] || { echo "$b is not an executable" >&2; exit 2; }; done
load_settings 4

log() { echo "[bench-ab] $*" >&2; }

install_tools wrk=wrk
require_tools bench-ab.sh wrk curl jq awk
bench_start

work=$(mktemp -d "${TMPDIR:-/tmp}/bench-ab.XXXXXX")
scratch=("$work")
pids=()
trap cleanup_pids EXIT
trap 'exit 130' INT TERM
write_bench_lua

declare -A url tok srv
names=(A B)
for i in 0 1; do
    name=${names[$i]}
    bin=${binaries[$i]}
    envs_var=BENCH_${name}_ENV
    # shellcheck disable=SC2206 # a space-separated list of NAME=VALUE
    envs=(${!envs_var:-})
    start_tokengate "$work/$name" "$work/$name.out" /dev/null "${envs[@]}"
    [[ -n $tg_url ]] || { echo "$name ($bin) did not start" >&2; exit 1; }
    check_address "$tg_url"
    pids+=("$tg_pid")
    srv[$name]=$tg_pid
    url[$name]=$tg_url
    register_and_login "$tg_url" "$name"
    tok[$name]=$token
done

routes=(public private verify)
declare -A path=([public]=/api/public [private]=/api/private [verify]=/auth/verify)
wrk_on() { # NAME ROUTE SECONDS OUTPUT-NAME
    local name=$1 route=$2 secs=$3 out=$4 token=""
    [[ $route != public ]] && token=${tok[$name]}
    BENCH_TOKEN=$token measure "$out" "${srv[$name]}" "$out" \
        run_wrk "$out" "${url[$name]}${path[$route]}" -t"$threads" -c"$conns" -d"${secs}s" \
        -H "X-Forwarded-Method: GET"
}

log "warm-up"
for route in "${routes[@]}"; do for name in "${names[@]}"; do wrk_on "$name" "$route" "$warmup" "warm.$name.$route"; done; done
for ((round = 1; round <= rounds; round++)); do
    for route in "${routes[@]}"; do
        for name in "${names[@]}"; do
            log "round $round: $name $route"
            wrk_on "$name" "$route" "$round_secs" "$name.$route.$round"
        done
    done
done
for name in "${names[@]}"; do
    for route in "${routes[@]}"; do
        combine "$name.$route" "$rounds"
        awk "BEGIN { exit !(${R[$name.$route.non2xx]} == 0) }" ||
            { echo "$name $route: ${R[$name.$route.non2xx]} non-2xx" >&2; exit 1; }
    done
done

machine_facts
echo "## A/B ($started_at)"
echo
echo "Command: \`$command_line\` at $commit; $(machine_text); $(tools_text). A: \`${binaries[0]}\`${BENCH_A_ENV:+ with \`$BENCH_A_ENV\`}, B: \`${binaries[1]}\`${BENCH_B_ENV:+ with \`$BENCH_B_ENV\`}."
echo "wrk -t$threads -c$conns, $rounds rounds of ${round_secs} s per route and binary, alternated; load average before: $load_before."
echo
echo "| route | A req/s (rounds) | B req/s (rounds) | B/A | server CPU µs/req A / B |"
echo "|---|---|---|---|---|"
for route in "${routes[@]}"; do
    echo "| ${path[$route]} | ${R[A.$route.rps]} (${R[A.$route.rounds]}) | ${R[B.$route.rps]} (${R[B.$route.rounds]}) | $(calc %.3f "${R[B.$route.rps]} / ${R[A.$route.rps]}") | ${R[A.$route.us_per_req]} / ${R[B.$route.us_per_req]} |"
done
