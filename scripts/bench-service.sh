#!/usr/bin/env bash
# Load-tests the tokengate service on 127.0.0.1 with wrk and prints a
# markdown report on stdout (also written to docs/bench-service.md); progress
# goes to stderr.
#
#   scripts/bench-service.sh                      # build, then about 3 minutes of measurements
#   scripts/bench-service.sh --duration 6         # seconds per measurement (default 10)
#   scripts/bench-service.sh --algorithms "ES256 HS256"   # default: ES256 (the default key) HS256 EdDSA
#   scripts/bench-service.sh --no-build           # use the binaries already built
#   scripts/bench-service.sh --no-write           # do not write docs/bench-service.md
#   scripts/bench-service.sh --keep-logs          # keep the servers' logs and wrk outputs
#
# Once: the bare_axum example (a bare axum app: /api/public's JSON, and
# /api/private's behind the library's AccessToken extractor on a bare
# TokenGate, with a token of its own of the same claims and length), the
# anchors of the service's plumbing.
# Per algorithm: a fresh data dir and server, one registered user and its
# access token, a warm-up, then wrk -t2 -c32 on the bare app's two routes,
# /api/public, /api/private
# (Bearer token; the revocation check runs on every request) and
# /auth/verify (forward auth, what nginx auth_request / Caddy forward_auth
# call for every proxied request: the same Bearer token and
# X-Forwarded-Method: GET, as a proxy sends it), alternated in two rounds
# of half the duration each so that a change in the machine's load hits all
# three alike; /auth/verify is reported against /api/private (same token
# check) and /api/public. scripts/bench-forward-auth.sh measures it through
# a real nginx. The first algorithm (the default key) also gets:
#  - bare argon2id hashes/s: the bare_argon2 example (the argon2 crate at the
#    service's parameters, each thread hashing into its own 19 MiB again and
#    again, as the service's hashing threads do) on as many threads as the
#    service hashes on (its threads named tokengate-argon2-*; if it has
#    none, available_parallelism), half the duration before the logins and
#    half after, averaged; for information also allocating 19 MiB per hash
#    (argon2's own hash_password), and on every core;
#  - logins/s: wrk -t1 -c8 POSTing /auth/login (HTTP 200 only);
#  - /api/private while a login wrk keeps hashing saturated: closed loop
#    (-t2 -c32), and paced (-t1 -c8, 5 ms between a connection's requests).
# RSS: VmRSS 2 s after start, before any request (idle); VmRSS after one
# register and one login; VmHWM (peak) over the JWT load and over the
# logins (reset with /proc/PID/clear_refs before each); VmRSS 2 s after the
# logins. CPU: the server's CPU time per request, and "others": the machine's
# busy CPU minus the server's and wrk's (other processes; above ~0.1 core
# the throughput numbers are disturbed).
#
# Targets: /api/public and /api/private >= 0.8 x the bare route's
# requests/s, and <= 1.25 x its server CPU per request; /api/private >= 0.90 x /api/public requests/s for every
# algorithm; logins/s >= 0.90 x bare argon2id hashes/s; /api/private p99 < 10
# ms during a login storm; idle RSS < 20 MB; RSS 2 s after the storms <=
# idle + hashing threads x 20 MiB + 20 MB. /auth/verify: no target, the
# ratios verify/private and verify/public are reported.
#
# Environment: BENCH_THREADS (2), BENCH_CONNECTIONS (32),
# BENCH_LOGIN_CONNECTIONS (8), BENCH_WARMUP (2 s), BENCH_ROUNDS (2),
# BENCH_RUST_LOG (unset: the service's default filter, info, one line per
# request; the servers' stderr goes to /dev/null unless --keep-logs).
set -euo pipefail

cd "$(dirname "$0")/.."
source scripts/bench-common.sh

duration=10
algorithms="ES256 HS256 EdDSA"
command_line="scripts/bench-service.sh${*:+ $*}"
while [[ $# -gt 0 ]]; do
    case "$1" in
        --algorithms) algorithms="$2"; shift 2 ;;
        *) common_option "$@"; shift "$nargs" ;;
    esac
done
load_settings 2
login_conns=${BENCH_LOGIN_CONNECTIONS:-8}
half=$(( duration / 2 > 0 ? duration / 2 : 1 ))
pace_conns=8
pace_ms=5

log() { echo "[bench-service] $*" >&2; }

# --- tools -------------------------------------------------------------------
install_tools wrk=wrk
require_tools bench-service.sh wrk curl jq awk

bench_start
cargo_build --release --locked -p tokengate-server --bin tokengate --example bare_argon2 --example bare_axum
bin="$target_dir/release/tokengate"
bare="$target_dir/release/examples/bare_argon2"
bare_axum="$target_dir/release/examples/bare_axum"
[[ -x $bin && -x $bare && -x $bare_axum ]] || { echo "missing $bin, $bare or $bare_axum (run without --no-build)" >&2; exit 1; }

# --- scratch and cleanup -----------------------------------------------------
work=$(mktemp -d "${TMPDIR:-/tmp}/bench-service.XXXXXX")
scratch=("$work")
trap cleanup_pids EXIT
trap 'exit 130' INT TERM
write_bench_lua

# --- helpers (and those of scripts/bench-common.sh) ----------------------------
status_kb() { awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status"; }
reset_peak() { echo 5 >"/proc/$1/clear_refs" 2>/dev/null || log "cannot reset VmHWM: peaks include earlier phases"; }
mb() { awk -v kb="$1" 'BEGIN { printf "%.1f", kb / 1024 }'; }

# start_server ALG: sets server_pid and url.
start_server() {
    local alg=$1 envs=() errlog=/dev/null
    case "$alg" in
        ES256) ;;   # the service's default: an ES256 key generated on first start
        HS256|HS384|HS512)
            envs+=(TOKENGATE_ALGORITHM="$alg" TOKENGATE_SECRET_KEY="$(head -c 48 /dev/urandom | base64 -w0)") ;;
        *) envs+=(TOKENGATE_ALGORITHM="$alg") ;;
    esac
    [[ $keep_logs == 1 ]] && errlog="$work/server-$alg.log"
    start_tokengate "$work/data-$alg" "$work/server-$alg.out" "$errlog" "${envs[@]}"
    server_pid=$tg_pid
    pids+=("$server_pid")
    url=$tg_url
    [[ -n $url ]] || { echo "the $alg server did not start (rerun with --keep-logs)" >&2; exit 1; }
    check_address "$url"
}

stop_server() {
    kill -TERM "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
}

# What a proxy's forward-auth subrequest carries besides the token.
forwarded_method='X-Forwarded-Method: GET'
# Registers the bench user, logs in, sets token and checks /api/private and
# /auth/verify (200 with X-Auth-Subject).
get_token() {
    register_and_login "$url"
    expect_status "/api/private with the token" 200 -H "Authorization: Bearer $token" "$url/api/private"
    expect_status "/auth/verify with the token" 200 -H "Authorization: Bearer $token" -H "$forwarded_method" "$url/auth/verify"
    [[ -n $(header_value X-Auth-Subject) ]] || { echo "/auth/verify answered 200 without X-Auth-Subject" >&2; exit 1; }
}

# bare_run NAME MODE SECONDS THREADS: NAME.rate (hashes/s), NAME.ms (wall ms
# per hash per thread), NAME.threads and NAME.cpu_ms (CPU ms per hash, if GNU
# time is there).
bare_run() {
    local timer=()
    [[ -x /usr/bin/time ]] && timer=(/usr/bin/time -f '%U %S' -o "$work/$1.time")
    "${timer[@]}" "$bare" "$4" "$3" "$2" >"$work/$1.txt"
    R[$1.rate]=$(field "$work/$1.txt" hashes_per_sec)
    R[$1.ms]=$(field "$work/$1.txt" ms_per_hash)
    R[$1.threads]=$(sed -n 's/.*threads=\([0-9]*\).*/\1/p' "$work/$1.txt")
    R[$1.cpu_ms]=0
    [[ -s $work/$1.time ]] &&
        R[$1.cpu_ms]=$(awk -v n="$(field "$work/$1.txt" hashes)" 'NR == 1 { printf "%.1f", 1000 * ($1 + $2) / n }' "$work/$1.time")
    return 0
}

# storm NAME DELAY-MS WRK-ARGS...: /api/private (paced if DELAY-MS > 0)
# while a login wrk, started a second before and ending a second after,
# keeps the hasher saturated.
storm() {
    local name=$1 delay=$2; shift 2
    BENCH_BODY=$credentials run_wrk "$name-login" "$url/auth/login" -t1 -c"$login_conns" -d"$((duration + 2))s" &
    local login_wrk=$!
    sleep 1
    BENCH_TOKEN=$token BENCH_DELAY_MS=$delay run_wrk "$name" "$url/api/private" "$@"
    wait "$login_wrk"
}

route_path() { case "$1" in verify) echo /auth/verify ;; *) echo "/api/$1" ;; esac; }

# --- measurements ------------------------------------------------------------
# The anchor: a bare axum route answering /api/public's JSON, measured in
# the same rounds as the service's routes.
saved_bin=$bin
bin=$bare_axum
start_tokengate "$work/bare-axum" "$work/bare-axum.out" /dev/null
bin=$saved_bin
[[ -n $tg_url ]] || { echo "bare_axum did not start" >&2; exit 1; }
check_address "$tg_url"
axum_pid=$tg_pid
axum_url=$tg_url
pids+=("$axum_pid")
# Printed after the address: the bare app's /api/private (a listener of
# its own) and its own access token.
axum_token=$(printed "$work/bare-axum.out" "access token: ")
axum_private_url=$(printed "$work/bare-axum.out" "private listening on ")
check_address "$axum_private_url"
expect_status "the bare app's /api/private with its token" 200 -H "Authorization: Bearer $axum_token" "$axum_private_url/api/private"

first_alg=${algorithms%% *}
for alg in $algorithms; do
    log "$alg: starting the server"
    start_server "$alg"
    sleep 2
    R[$alg.idle_kb]=$(status_kb "$server_pid" VmRSS)
    get_token
    R[$alg.token_len]=${#token}
    R[$alg.after_login_kb]=$(status_kb "$server_pid" VmRSS)
    reset_peak "$server_pid"

    log "$alg: warm-up, ${warmup} s per route"
    run_wrk "$alg.warm-bare" "$axum_url/api/public" -t"$threads" -c"$conns" -d"${warmup}s"
    BENCH_TOKEN=$axum_token run_wrk "$alg.warm-bareprivate" "$axum_private_url/api/private" -t"$threads" -c"$conns" -d"${warmup}s"
    run_wrk "$alg.warm-public" "$url/api/public" -t"$threads" -c"$conns" -d"${warmup}s"
    BENCH_TOKEN=$token run_wrk "$alg.warm-private" "$url/api/private" -t"$threads" -c"$conns" -d"${warmup}s"
    BENCH_TOKEN=$token run_wrk "$alg.warm-verify" "$url/auth/verify" -H "$forwarded_method" -t"$threads" -c"$conns" -d"${warmup}s"

    for ((r = 1; r <= rounds; r++)); do
        log "$alg: round $r/$rounds: the bare app's /api/public and /api/private, /api/public, /api/private, /auth/verify, ${round_secs} s each"
        measure "$alg.bare.$r" "$axum_pid" "$alg.bare.$r" \
            run_wrk "$alg.bare.$r" "$axum_url/api/public" -t"$threads" -c"$conns" -d"${round_secs}s"
        # The library's extractor in the bare app: /api/private without the
        # service around it (its token has the same claims and length).
        BENCH_TOKEN=$axum_token measure "$alg.bareprivate.$r" "$axum_pid" "$alg.bareprivate.$r" \
            run_wrk "$alg.bareprivate.$r" "$axum_private_url/api/private" -t"$threads" -c"$conns" -d"${round_secs}s"
        measure "$alg.public.$r" "$server_pid" "$alg.public.$r" \
            run_wrk "$alg.public.$r" "$url/api/public" -t"$threads" -c"$conns" -d"${round_secs}s"
        BENCH_TOKEN=$token measure "$alg.private.$r" "$server_pid" "$alg.private.$r" \
            run_wrk "$alg.private.$r" "$url/api/private" -t"$threads" -c"$conns" -d"${round_secs}s"
        BENCH_TOKEN=$token measure "$alg.verify.$r" "$server_pid" "$alg.verify.$r" \
            run_wrk "$alg.verify.$r" "$url/auth/verify" -H "$forwarded_method" -t"$threads" -c"$conns" -d"${round_secs}s"
        for route in bareprivate public private verify; do
            (( ${R[$alg.$route.$r.non2xx]} + ${R[$alg.$route.$r.sockerr]} == 0 )) ||
                log "WARNING: $alg $(route_path "$route"): ${R[$alg.$route.$r.non2xx]} non-2xx, ${R[$alg.$route.$r.sockerr]} socket errors"
        done
    done
    combine "$alg.bare" "$rounds"
    combine "$alg.bareprivate" "$rounds"
    combine "$alg.public" "$rounds"
    combine "$alg.private" "$rounds"
    combine "$alg.verify" "$rounds"
    R[$alg.ratio]=$(calc %.3f "${R[$alg.private.rps]} / ${R[$alg.public.rps]}")
    for route in public private; do
        R[$alg.$route.of_bare]=$(calc %.3f "${R[$alg.$route.rps]} / ${R[$alg.bare.rps]}")
        R[$alg.$route.cpu_of_bare]=$(calc %.3f "${R[$alg.$route.us_per_req]} / ${R[$alg.bare.us_per_req]}")
    done
    R[$alg.private.of_bareprivate]=$(calc %.3f "${R[$alg.private.rps]} / ${R[$alg.bareprivate.rps]}")
    R[$alg.private.cpu_of_bareprivate]=$(calc %.3f "${R[$alg.private.us_per_req]} / ${R[$alg.bareprivate.us_per_req]}")
    R[$alg.bareprivate.of_bare]=$(calc %.3f "${R[$alg.bareprivate.rps]} / ${R[$alg.bare.rps]}")
    R[$alg.bareprivate.cpu_of_bare]=$(calc %.3f "${R[$alg.bareprivate.us_per_req]} / ${R[$alg.bare.us_per_req]}")
    R[$alg.verify_private]=$(calc %.3f "${R[$alg.verify.rps]} / ${R[$alg.private.rps]}")
    R[$alg.verify_public]=$(calc %.3f "${R[$alg.verify.rps]} / ${R[$alg.public.rps]}")
    R[$alg.loaded_kb]=$(status_kb "$server_pid" VmHWM)

    if [[ $alg == "$first_alg" ]]; then
        login_alg=$alg
        hashers=$(cat /proc/"$server_pid"/task/*/comm 2>/dev/null | grep -c '^tokengate-argon' || true)
        if [[ $hashers -gt 0 ]]; then
            R[bare.threads_from]="the service's tokengate-argon2-* threads"
        else
            hashers=auto
            R[bare.threads_from]="available_parallelism: no tokengate-argon2-* thread found"
        fi
        log "bare argon2id on $hashers threads (reusing its memory, as the service), ${half} s"
        bare_run bare1 reuse "$half" "$hashers"
        reset_peak "$server_pid"
        log "logins, ${duration} s"
        BENCH_BODY=$credentials measure login "$server_pid" login \
            run_wrk login "$url/auth/login" -t1 -c"$login_conns" -d"${duration}s"
        log "bare argon2id again, ${half} s; then allocating per hash, ${half} s; then on every core, ${half} s"
        bare_run bare2 reuse "$half" "$hashers"
        bare_run alloc hash "$half" "$hashers"
        bare_run allcores reuse "$half" auto
        R[bare.threads]=${R[bare1.threads]}
        R[bare.rate]=$(calc %.2f "(${R[bare1.rate]} + ${R[bare2.rate]}) / 2")
        R[bare.ms]=$(calc %.1f "(${R[bare1.ms]} + ${R[bare2.ms]}) / 2")
        R[login.ratio]=$(calc %.3f "${R[login.ok_rps]} / ${R[bare.rate]}")
        R[bare.cpu_ms]=$(calc %.1f "(${R[bare1.cpu_ms]} + ${R[bare2.cpu_ms]}) / 2")
        R[login.cpu_ms]=$(calc %.1f "1000 * ${R[login.server_cpu]} / ${R[login.ok]}")
        R[login.cpu_ratio]=$(calc %.3f "${R[bare.cpu_ms]} / ${R[login.cpu_ms]}")

        log "login storm + /api/private closed loop (-t$threads -c$conns), ${duration} s"
        measure storm "$server_pid" "storm storm-login" \
            storm storm 0 -t"$threads" -c"$conns" -d"${duration}s"
        log "login storm + /api/private paced (-t1 -c$pace_conns, ${pace_ms} ms apart), ${duration} s"
        measure paced "$server_pid" "paced paced-login" \
            storm paced "$pace_ms" -t1 -c"$pace_conns" -d"${duration}s"
        R[$alg.storm_kb]=$(status_kb "$server_pid" VmHWM)
        sleep 2
        R[$alg.after_storm_kb]=$(status_kb "$server_pid" VmRSS)
        R[threads_after_storm]=$(find "/proc/$server_pid/task" -mindepth 1 -maxdepth 1 | wc -l)
        # idle + hashing threads x 20 MiB + 20 MB, in KiB.
        R[storm_bound_kb]=$(calc %.0f "${R[$alg.idle_kb]} + ${R[bare.threads]} * 20 * 1024 + 20 * 1000")
    fi
    stop_server
done
load_after=$(loadavg)
bench_secs=$((SECONDS - t_start - build_secs))

# --- report ------------------------------------------------------------------
machine_facts
# key_label ALG: the key's name in the tables.
key_label() { if [[ $1 == ES256 ]]; then echo "ES256 (default)"; else echo "$1"; fi; }

report() {
    local alg
    echo "## tokengate service benchmark"
    echo
    echo "- Command: \`$command_line\`"
    echo "- Load: wrk -t$threads -c$conns --latency; /api/public, /api/private and /auth/verify (\`$forwarded_method\`) alternated in $rounds rounds of ${round_secs} s after a ${warmup} s warm-up each; logins wrk -t1 -c$login_conns POST /auth/login for ${duration} s"
    echo "- When: $started_at, commit $commit"
    echo "- Binary: $bin, built $(date -u -r "$bin" +%Y-%m-%dT%H:%M:%SZ)"
    echo "- Machine: nproc $(nproc), available_parallelism ${R[allcores.threads]:-?}, $(machine_text)"
    echo "- Tools: $(tools_text)"
    echo "- Load average (1/5/15 min): $load_before before, $load_after after; build ${build_secs} s, measurements ${bench_secs} s"
    echo "- Server logs: ${BENCH_RUST_LOG:-default filter (info: one line per request)}, stderr to /dev/null"
    echo
    echo "### /api/public vs /api/private"
    echo
    echo "Revocation check on every request; verified tokens cached by their bytes."
    echo
    echo "| key | token bytes | public req/s (rounds) | public p99 | private req/s (rounds) | private p99 | private/public | ≥ 0.90 | server CPU µs/req public / private | others' CPU, cores |"
    echo "|---|---:|---:|---:|---:|---:|---:|---|---:|---:|"
    for alg in $algorithms; do
        printf '| %s | %s | %.0f (%s) | %.2f ms | %.0f (%s) | %.2f ms | %.3f | %s | %s / %s | %s / %s |\n' \
            "$(key_label "$alg")" "${R[$alg.token_len]}" \
            "${R[$alg.public.rps]}" "${R[$alg.public.rounds]}" "${R[$alg.public.p99]}" \
            "${R[$alg.private.rps]}" "${R[$alg.private.rounds]}" "${R[$alg.private.p99]}" \
            "${R[$alg.ratio]}" "$(verdict "${R[$alg.ratio]}" '>=' 0.90)" \
            "${R[$alg.public.us_per_req]}" "${R[$alg.private.us_per_req]}" \
            "$(cores "$alg.public" other_cpu)" "$(cores "$alg.private" other_cpu)"
    done
    echo
    echo "### The service's plumbing against a bare axum route"
    echo
    echo "The bare_axum example's /api/public (axum 0.8, a route answering /api/public's JSON, no state, middleware or log) in the same rounds. Targets: each route ≥ 0.8x the bare route's requests/s, server CPU per request ≤ 1.25x the bare route's."
    echo
    echo "| key | bare req/s (rounds) | bare CPU µs/req | public / bare | ≥ 0.8 | private / bare | ≥ 0.8 | CPU public / bare | ≤ 1.25 | CPU private / bare | ≤ 1.25 |"
    echo "|---|---:|---:|---:|---|---:|---|---:|---|---:|---|"
    for alg in $algorithms; do
        printf '| %s | %.0f (%s) | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n' \
            "$(key_label "$alg")" "${R[$alg.bare.rps]}" "${R[$alg.bare.rounds]}" "${R[$alg.bare.us_per_req]}" \
            "${R[$alg.public.of_bare]}" "$(verdict "${R[$alg.public.of_bare]}" '>=' 0.8)" \
            "${R[$alg.private.of_bare]}" "$(verdict "${R[$alg.private.of_bare]}" '>=' 0.8)" \
            "${R[$alg.public.cpu_of_bare]}" "$(verdict "${R[$alg.public.cpu_of_bare]}" '<=' 1.25)" \
            "${R[$alg.private.cpu_of_bare]}" "$(verdict "${R[$alg.private.cpu_of_bare]}" '<=' 1.25)"
    done
    echo
    echo "/api/private against the bare app's /api/private (the library's AccessToken extractor on a bare TokenGate, a token of the same claims and length), in the same rounds: the service's plumbing around the token check, by the same targets. Last columns (info): what the library's check costs the bare app."
    echo
    echo "| key | bare /api/private req/s (rounds) | CPU µs/req | private / bare private | ≥ 0.8 | CPU private / bare private | ≤ 1.25 | (info) bare private / bare public: req/s, CPU |"
    echo "|---|---:|---:|---:|---|---:|---|---:|"
    for alg in $algorithms; do
        printf '| %s | %.0f (%s) | %s | %s | %s | %s | %s | %s, %s |\n' "$(key_label "$alg")" \
            "${R[$alg.bareprivate.rps]}" "${R[$alg.bareprivate.rounds]}" "${R[$alg.bareprivate.us_per_req]}" \
            "${R[$alg.private.of_bareprivate]}" "$(verdict "${R[$alg.private.of_bareprivate]}" '>=' 0.8)" \
            "${R[$alg.private.cpu_of_bareprivate]}" "$(verdict "${R[$alg.private.cpu_of_bareprivate]}" '<=' 1.25)" \
            "${R[$alg.bareprivate.of_bare]}" "${R[$alg.bareprivate.cpu_of_bare]}"
    done
    echo
    echo "### /auth/verify (forward auth) vs /api/private and /api/public"
    echo
    echo "What nginx \`auth_request\` / Caddy \`forward_auth\` call for every proxied request: the same Bearer token as /api/private and \`$forwarded_method\`, in the same rounds as the table above (no proxy here: scripts/bench-forward-auth.sh measures it through nginx)."
    echo
    echo "| key | verify req/s (rounds) | verify p99 | private p99 | verify/private | verify/public | server CPU µs/req verify / private | others' CPU, cores |"
    echo "|---|---:|---:|---:|---:|---:|---:|---:|"
    for alg in $algorithms; do
        printf '| %s | %.0f (%s) | %.2f ms | %.2f ms | %.3f | %.3f | %s / %s | %s |\n' \
            "$(key_label "$alg")" "${R[$alg.verify.rps]}" "${R[$alg.verify.rounds]}" \
            "${R[$alg.verify.p99]}" "${R[$alg.private.p99]}" \
            "${R[$alg.verify_private]}" "${R[$alg.verify_public]}" \
            "${R[$alg.verify.us_per_req]}" "${R[$alg.private.us_per_req]}" \
            "$(cores "$alg.verify" other_cpu)"
    done
    echo
    echo "### Logins and the login storm ($login_alg)"
    echo
    echo "| measurement | value | target |"
    echo "|---|---:|---|"
    printf '| bare argon2id hashes/s: argon2 0.6, m=19456 KiB t=2 p=1, each thread hashing into its own 19 MiB, on %s threads (%s); before / after the logins | %.2f (%.2f / %.2f), %.1f ms per hash | |\n' \
        "${R[bare.threads]}" "${R[bare.threads_from]}" "${R[bare.rate]}" "${R[bare1.rate]}" "${R[bare2.rate]}" "${R[bare.ms]}"
    printf '| logins/s (HTTP 200; %s non-2xx), p50 %.0f ms, p99 %.0f ms; server %s cores, others %s | %.2f | |\n' \
        "${R[login.non2xx]}" "${R[login.p50]}" "${R[login.p99]}" "$(cores login server_cpu)" "$(cores login other_cpu)" "${R[login.ok_rps]}"
    printf '| **logins / bare hashes** | **%.3f** | ≥ 0.90: %s |\n' "${R[login.ratio]}" "$(verdict "${R[login.ratio]}" '>=' 0.90)"
    printf '| (info) CPU per hash: bare %s ms, per login %s ms (server CPU / logins): bare / login | %.3f | |\n' \
        "${R[bare.cpu_ms]}" "${R[login.cpu_ms]}" "${R[login.cpu_ratio]}"
    printf '| (info) bare argon2id allocating 19 MiB per hash (argon2'"'"'s hash_password), %s threads | %.2f/s, %.1f ms per hash, %s ms CPU | |\n' "${R[alloc.threads]}" "${R[alloc.rate]}" "${R[alloc.ms]}" "${R[alloc.cpu_ms]}"
    printf '| (info) bare argon2id on every core (%s threads) | %.2f/s, %.1f ms per hash | |\n' "${R[allcores.threads]}" "${R[allcores.rate]}" "${R[allcores.ms]}"
    printf '| **/api/private p99 under a login storm**, closed loop -t%s -c%s (saturates the CPU by itself: compare with the p99 without logins above): %.0f req/s, p50 %.2f ms; logins meanwhile %.2f/s; others %s cores | **%.2f ms** | < 10 ms: %s |\n' \
        "$threads" "$conns" "${R[storm.rps]}" "${R[storm.p50]}" "${R[storm-login.ok_rps]}" "$(cores storm other_cpu)" "${R[storm.p99]}" "$(verdict "${R[storm.p99]}" '<' 10)"
    printf '| **/api/private p99 under a login storm**, paced -t1 -c%s every %s ms: %.0f req/s, p50 %.2f ms; logins meanwhile %.2f/s; others %s cores | **%.2f ms** | < 10 ms: %s |\n' \
        "$pace_conns" "$pace_ms" "${R[paced.rps]}" "${R[paced.p50]}" "${R[paced-login.ok_rps]}" "$(cores paced other_cpu)" "${R[paced.p99]}" "$(verdict "${R[paced.p99]}" '<' 10)"
    echo
    echo "### Memory (RSS)"
    echo
    echo "| key | idle (after start) | < 20 MB | after 1 register + 1 login | peak, JWT load | peak, logins + storms | 2 s after the storms |"
    echo "|---|---:|---|---:|---:|---:|---:|"
    for alg in $algorithms; do
        local storm_mb="–" after_mb="–"
        [[ -n ${R[$alg.storm_kb]:-} ]] && storm_mb="$(mb "${R[$alg.storm_kb]}") MB" && after_mb="$(mb "${R[$alg.after_storm_kb]}") MB"
        printf '| %s | %s MB | %s | %s MB | %s MB | %s | %s |\n' "$alg" "$(mb "${R[$alg.idle_kb]}")" \
            "$(verdict "$(mb "${R[$alg.idle_kb]}")" '<' 20)" "$(mb "${R[$alg.after_login_kb]}")" \
            "$(mb "${R[$alg.loaded_kb]}")" "$storm_mb" "$after_mb"
    done
    echo
    echo "Server threads after the storms: ${R[threads_after_storm]:-?}."
    if [[ -n ${R[storm_bound_kb]:-} ]]; then
        echo "RSS 2 s after the storms ($login_alg): $(mb "${R[$login_alg.after_storm_kb]}") MB; bound idle + ${R[bare.threads]} hashing threads x 20 MiB + 20 MB = $(mb "${R[storm_bound_kb]}") MB: $(verdict "${R[$login_alg.after_storm_kb]}" '<=' "${R[storm_bound_kb]}")."
    fi
    echo "Idle: VmRSS 2 s after start, before any request. Peaks: VmHWM, reset (clear_refs) after the login that fetched the token and again before the logins."
    echo "Others' CPU: the machine's busy CPU (incl. steal) during a measurement minus the server's and wrk's; well above 0.1 core, other processes disturbed the run."
}

publish_report docs/bench-service.md
