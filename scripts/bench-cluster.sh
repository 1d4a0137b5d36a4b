#!/usr/bin/env bash
# Benchmarks tokengate as several instances sharing PostgreSQL and Redis,
# on 127.0.0.1, and prints a markdown report on stdout (also
# written to docs/bench-cluster.md); progress goes to stderr.
#
#   scripts/bench-cluster.sh                     # build, then about 8 minutes of measurements
#   scripts/bench-cluster.sh --samples 100       # propagation samples of (a) and (b) (default 200)
#   scripts/bench-cluster.sh --quiet-samples 20  # samples 2-4 s apart through Redis (default 40; 0: none)
#   scripts/bench-cluster.sh --duration 6        # seconds of wrk per route and server (default 9)
#   scripts/bench-cluster.sh --shared-key file   # A and B share a PEM key file instead of
#                                                # keys kept in PostgreSQL (key_encryption_secret)
#   scripts/bench-cluster.sh --no-build          # use the binaries already built
#   scripts/bench-cluster.sh --no-write          # do not write docs/bench-cluster.md
#   scripts/bench-cluster.sh --keep-logs         # keep the servers' logs and outputs
#   scripts/bench-cluster.sh --only storm        # only these scenarios, comma-separated:
#                                                # redis (a), poll (b), throughput (c), storm (d)
#   scripts/bench-cluster.sh --storm-rate 500    # background logouts per second of (d) (default 1000)
#   scripts/bench-cluster.sh --storm-seconds 10  # seconds of that load (default 20)
#   scripts/bench-cluster.sh --storm-check 0     # logged-out tokens of (d) checked on B
#                                                # afterwards (default 500 drawn at random; 0: all)
#
# Every scenario gets a fresh PostgreSQL database (dropped afterwards), a
# fresh data dir per instance and its own Redis key prefix.
#
# (a) Revocation propagation with Redis: instances A and B on one database
#     and one Redis (pub/sub fan-out); the propagation example (see
#     crates/tokengate-server/examples/propagation.rs) logs in on A, checks
#     that B accepts the token, logs it out on A, then polls /api/private on
#     B without pause on one keep-alive connection until the first 401
#     token_revoked. Delay: B's first 401 minus A's logout 200. Then, on
#     the same instances, fewer samples with 2-4 s between logouts, so that
#     the Redis channel is quiet between them (as it mostly is in use).
# (b) The same without Redis: B learns of the revocation by reading the
#     database every revocation_poll_interval (default 1 s); a random wait
#     of 0..interval before each logout spreads the logouts over the poll
#     phase.
# (c) /api/private and /api/public throughput of one instance on
#     PostgreSQL + Redis next to one on SQLite (default settings), both
#     running at once, wrk -t2 -c32 alternated (public, private; PG+Redis,
#     SQLite) in rounds of duration/rounds seconds after a warm-up, as
#     scripts/bench-service.sh does.
# (d) Propagation with Redis under a storm of logouts (issue 17: p99 of
#     50 ms or less at 1,000 logouts/s): instances A and B as in (a), on
#     their own database and Redis prefix, always with one shared ES256 PEM
#     key file (--shared-key file is forced for this scenario, whatever
#     --shared-key says for the others: the example signs with it). The
#     propagation example (--storm-rate) sends A a background load of
#     --storm-rate logouts per second for --storm-seconds, open loop
#     (logout i is due at start + i/rate and sent then whatever the earlier
#     ones' answers, on a pool of keep-alive connections, from a thread of
#     its own; at most 1000 in flight, a logout due beyond that is counted
#     as not sent), each with the access token of a distinct login. A
#     password login costs an argon2 hash (~20 ms of CPU), so those logins
#     are not made through /auth/login: one real login on A gives an
#     access and a refresh token as templates, verified with the PEM key;
#     the example mints rate x seconds copies of them with the tokengate
#     library (same sub, iss, aud, scope, roles, fresh and lifetimes; a new
#     login id and new jti per pair, as TokenGate::login issues them) and
#     inserts their rows into refresh_families (what a real login writes:
#     login id, sub, refresh jti, expiry) in one statement before the load.
#     Each background logout then does what a real one does: ends the
#     token's login (an UPDATE of the login's row, one revocation row for
#     the login under PostgreSQL's advisory lock, one Redis publish). Meanwhile the samples of (a) run back to back (login on
#     A, logout on A, B polled until its first 401), from 1 s after the
#     load starts until it ends (--samples does not apply). The report
#     gives the achieved rates (sent, answered 200), the logouts that were
#     not 200, failed or not sent, their latency from when they were due,
#     and the CPU of the load's window: A, B, the example (which competes
#     with the servers for the same 2 cores), the rest (PostgreSQL, Redis,
#     anything else running). Nothing lost: --storm-check tokens, drawn
#     before the load and accepted by B then, must all be refused by B
#     (401 token_revoked) after it; those accepted are counted (and checked
#     again 3 s later). pg_stat_activity of the scenario's database is
#     sampled every 0.5 s during the load (what its sessions wait on).
#
# A and B share the issuer and the signing key: by default keys kept in
# PostgreSQL, sealed with one key_encryption_secret (A starts first and
# creates the key; B starts once A listens); with --shared-key file, one
# ES256 PEM file generated with openssl. The script checks that both publish
# the same JWKS.
#
# Targets: propagation p99 under 50 ms with Redis.
#
# Environment: BENCH_THREADS (2), BENCH_CONNECTIONS (32), BENCH_WARMUP (2 s),
# BENCH_ROUNDS (3), BENCH_PG_URL (postgres://postgres@127.0.0.1:5432),
# BENCH_REDIS_URL (redis://127.0.0.1:6379/), BENCH_POLL_INTERVAL (unset:
# the default, 1s), BENCH_RUST_LOG (unset: the service's default filter,
# info, one line per request). The stderr of the instances of (a) and (b)
# goes to files in a scratch directory, which are searched for WARN/ERROR
# lines and 5xx answers; that of (c) to /dev/null, as in
# scripts/bench-service.sh, unless --keep-logs (writing one line per request
# to a file costs throughput).
set -euo pipefail

cd "$(dirname "$0")/.."
source scripts/bench-common.sh

samples=200
quiet_samples=40
duration=9
shared_key=secret
only=redis,poll,throughput,storm
storm_rate=1000
storm_seconds=20
storm_check=500
command_line="scripts/bench-cluster.sh${*:+ $*}"
while [[ $# -gt 0 ]]; do
    case "$1" in
        --samples) samples="$2"; shift 2 ;;
        --quiet-samples) quiet_samples="$2"; shift 2 ;;
        --shared-key) shared_key="$2"; shift 2 ;;
        --only) only="${2:-}"; shift $(( $# > 1 ? 2 : 1 )) ;;
        --storm-rate) storm_rate="${2:-}"; shift $(( $# > 1 ? 2 : 1 )) ;;
        --storm-seconds) storm_seconds="${2:-}"; shift $(( $# > 1 ? 2 : 1 )) ;;
        --storm-check) storm_check="${2:-}"; shift $(( $# > 1 ? 2 : 1 )) ;;
        *) common_option "$@"; shift "$nargs" ;;
    esac
done
[[ $samples =~ ^[1-9][0-9]*$ ]] || { echo "--samples needs a positive number" >&2; exit 2; }
[[ $quiet_samples =~ ^[0-9]+$ ]] || { echo "--quiet-samples needs a number" >&2; exit 2; }
quiet_pause_ms=2000
quiet_jitter_ms=2000
load_settings 3
[[ $shared_key == secret || $shared_key == file ]] || { echo "--shared-key is secret or file" >&2; exit 2; }
[[ $storm_rate =~ ^[1-9][0-9]*$ ]] || { echo "--storm-rate needs a positive number" >&2; exit 2; }
[[ $storm_seconds =~ ^[1-9][0-9]*$ ]] || { echo "--storm-seconds needs a positive number" >&2; exit 2; }
[[ $storm_check =~ ^[0-9]+$ ]] || { echo "--storm-check needs a number" >&2; exit 2; }
declare -A RUN=()   # scenario -> 1 if it runs
IFS=, read -ra scenarios <<<"$only"
for s in "${scenarios[@]}"; do
    case $s in
        redis|poll|throughput|storm) RUN[$s]=1 ;;
        *) echo "--only takes redis, poll, throughput and storm, comma-separated (got '$s')" >&2; exit 2 ;;
    esac
done
[[ ${#RUN[@]} -gt 0 ]] || { echo "--only needs at least one scenario" >&2; exit 2; }
runs() { [[ -n ${RUN[$1]:-} ]]; }
# (d) always uses the PEM key file; when it runs alone, so does everything.
if runs storm && [[ ${#RUN[@]} == 1 && $shared_key != file ]]; then
    echo "[bench-cluster] --only storm: --shared-key file (the storm scenario needs the key file)" >&2
    shared_key=file
fi
pg_url=${BENCH_PG_URL:-postgres://postgres@127.0.0.1:5432}
pg_url=${pg_url%/}
redis_url=${BENCH_REDIS_URL:-redis://127.0.0.1:6379/}
poll_interval=${BENCH_POLL_INTERVAL:-}
issuer="http://tokengate-bench-cluster"
run_id="$$"

log() { echo "[bench-cluster] $*" >&2; }

# --- tools -------------------------------------------------------------------
install_tools wrk=wrk
require_tools bench-cluster.sh wrk curl jq awk psql redis-cli openssl
psql "$pg_url/postgres" -qAtc 'SELECT 1' >/dev/null || { echo "PostgreSQL at $pg_url does not answer" >&2; exit 1; }
[[ $(redis-cli -u "$redis_url" PING) == PONG ]] || { echo "Redis at $redis_url does not answer" >&2; exit 1; }

bench_start
cargo_build --release -p tokengate-server --example propagation --bin tokengate
bin="$target_dir/release/tokengate"
prop="$target_dir/release/examples/propagation"
[[ -x $bin && -x $prop ]] || { echo "missing $bin or $prop (run without --no-build)" >&2; exit 1; }

# --- scratch and cleanup -----------------------------------------------------
work=$(mktemp -d "${TMPDIR:-/tmp}/bench-cluster.XXXXXX")
declare -A PID   # server name -> pid
declare -A URL   # server name -> base URL
databases=()
prefixes=()
cleanup() {
    local name db prefix
    for name in "${!PID[@]}"; do kill -TERM "${PID[$name]}" 2>/dev/null || true; done
    for name in "${!PID[@]}"; do wait "${PID[$name]}" 2>/dev/null || true; done
    for db in "${databases[@]}"; do
        psql "$pg_url/postgres" -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 ||
            log "could not drop database $db"
    done
    for prefix in "${prefixes[@]}"; do
        redis-cli -u "$redis_url" --scan --pattern "$prefix*" | xargs -r redis-cli -u "$redis_url" DEL >/dev/null 2>&1 || true
    done
    if [[ $keep_logs == 1 ]]; then log "logs and outputs kept in $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

write_bench_lua

if [[ $shared_key == file ]] || runs storm; then
    openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$work/key.pem" 2>/dev/null
    chmod 600 "$work/key.pem"
fi
key_secret=$(head -c 48 /dev/urandom | base64 -w0)

# --- helpers (and those of scripts/bench-common.sh) ----------------------------

# new_database SCENARIO: creates a fresh database; sets db_url.
new_database() {
    local db="tokengate_bench_cluster_${run_id}_$1"
    PGOPTIONS='-c client_min_messages=warning' psql "$pg_url/postgres" -v ON_ERROR_STOP=1 -q \
        -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" -c "CREATE DATABASE $db" >/dev/null
    databases+=("$db")
    db_url="$pg_url/$db"
}

drop_database() {
    local db="tokengate_bench_cluster_${run_id}_$1" kept=() d
    psql "$pg_url/postgres" -v ON_ERROR_STOP=1 -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null
    for d in "${databases[@]}"; do [[ $d == "$db" ]] || kept+=("$d"); done
    databases=("${kept[@]}")
}

# pg_env URL [KEY]: the environment of an instance on PostgreSQL: database,
# issuer, shared key (KEY: secret or file; default --shared-key's).
pg_env() {
    local envs=(TOKENGATE_DATABASE_URL="$1" TOKENGATE_ISSUER="$issuer")
    if [[ ${2:-$shared_key} == file ]]; then
        envs+=(TOKENGATE_PRIVATE_KEY_FILE="$work/key.pem")
    else
        envs+=(TOKENGATE_KEY_ENCRYPTION_SECRET="$key_secret")
    fi
    [[ -n $poll_interval ]] && envs+=(TOKENGATE_REVOCATION_POLL_INTERVAL="$poll_interval")
    printf '%s\n' "${envs[@]}"
}

# start_server NAME ENV...: starts an instance and waits until it listens
# and /healthz says ok (with Redis: subscribed); sets URL[NAME], PID[NAME].
start_server() {
    local name=$1 url="" health="" i errlog="$work/$1.log"
    shift
    [[ $quiet_logs == 1 && $keep_logs == 0 ]] && errlog=/dev/null
    start_tokengate "$work/data-$name" "$work/$name.out" "$errlog" "$@"
    PID[$name]=$tg_pid
    url=$tg_url
    if [[ -z $url ]]; then
        echo "the $name server did not start; its log:" >&2
        tail -20 "$errlog" >&2
        exit 1
    fi
    check_address "$url"
    URL[$name]=$url
    for ((i = 0; i < 100; i++)); do
        health=$(curl -s --max-time 2 "$url/healthz" | jq -r .status 2>/dev/null || true)
        [[ $health == ok ]] && break
        sleep 0.1
    done
    [[ $health == ok ]] || { echo "$name: /healthz says ${health:-nothing}: $(curl -s "$url/healthz")" >&2; exit 1; }
    log "$name: listening on $url ($(curl -s "$url/healthz" | jq -c .))"
}

stop_server() {
    kill -TERM "${PID[$1]}" 2>/dev/null || true
    wait "${PID[$1]}" 2>/dev/null || true
    unset "PID[$1]"
}

# same_keys A B: A and B publish the same JWKS.
same_keys() {
    local ka kb
    ka=$(curl -s --max-time 5 "${URL[$1]}/.well-known/jwks.json" | jq -S -c .)
    kb=$(curl -s --max-time 5 "${URL[$2]}/.well-known/jwks.json" | jq -S -c .)
    if [[ -z $ka || $ka != "$kb" ]]; then
        echo "$1 and $2 do not publish the same keys (is key_encryption_secret supported? try --shared-key file):" >&2
        echo "  $1: $ka" >&2
        echo "  $2: $kb" >&2
        exit 1
    fi
    R[kids]=$(jq -r '[.keys[].kid] | join(", ")' <<<"$ka")
}

# propagation NAME A B SAMPLES EXTRA-ARGS...: runs the example (SAMPLES may be
# empty: the example's default); its JSON into R.
propagation() {
    local name=$1 a=$2 b=$3 n=$4 status=0 json k
    shift 4
    R[$name.load_before]=$(loadavg)
    "$prop" "${URL[$a]}" "${URL[$b]}" ${n:+"$n"} "$@" >"$work/$name.txt" 2>"$work/$name.err" || status=$?
    R[$name.load_after]=$(loadavg)
    cat "$work/$name.txt" >&2
    [[ -s $work/$name.err ]] && { log "$name: the example's stderr:"; cat "$work/$name.err" >&2; }
    json=$(tail -1 "$work/$name.txt")
    jq -e .samples >/dev/null 2>&1 <<<"$json" || { echo "propagation $name failed (exit $status)" >&2; exit 1; }
    [[ $status == 0 ]] || log "WARNING: propagation $name: exit $status (timeouts or unexpected answers; under the storm, also failed logouts or logged-out tokens B accepted)"
    R[$name.exit]=$status
    for k in samples timeouts unexpected seconds; do R[$name.$k]=$(jq -r ".$k" <<<"$json"); done
    for k in p50 p90 p99 max min mean; do
        R[$name.after.$k]=$(jq -r ".after_logout_ms.$k" <<<"$json")
        R[$name.t0.$k]=$(jq -r ".from_t0_ms.$k" <<<"$json")
        R[$name.logout.$k]=$(jq -r ".logout_ms.$k" <<<"$json")
        R[$name.polls.$k]=$(jq -r ".polls.$k" <<<"$json")
        R[$name.rtt.$k]=$(jq -r ".poll_rtt_ms.$k" <<<"$json")
    done
}

# get_token NAME: registers the bench user on NAME, logs in, sets TOKEN[NAME].
declare -A TOKEN
get_token() {
    local url=${URL[$1]} token
    register_and_login "$url" "$1"
    expect_status "$1: /api/private with the token" 200 -H "Authorization: Bearer $token" "$url/api/private"
    TOKEN[$1]=$token
}

# (wrk_results, run_wrk, measure, cores and combine: scripts/bench-common.sh;
# measure counts PostgreSQL and Redis as others.)

# log_findings NAME: WARN/ERROR lines and 5xx answers in NAME's log.
log_findings() {
    local f="$work/$1.log"
    if [[ ! -f $f ]]; then
        R[$1.lines]="not kept"; R[$1.warn]="–"; R[$1.error]="–"; R[$1.5xx]="–"
        return 0
    fi
    R[$1.warn]=$(grep -c -E '\bWARN\b' "$f" || true)
    R[$1.error]=$(grep -c -E '\bERROR\b' "$f" || true)
    R[$1.5xx]=$(grep -c -E 'status=5[0-9][0-9]\b' "$f" || true)
    R[$1.lines]=$(wc -l <"$f")
    grep -E '\b(WARN|ERROR)\b' "$f" | sed -E 's/^[^ ]+ +//' | sort | uniq -c | sort -rn | head -5 >"$work/$1.findings" || true
}
servers_seen=()
stop_and_check() {
    stop_server "$1"
    log_findings "$1"
    servers_seen+=("$1")
}

interval_text=${poll_interval:-1s}
# The poll interval in ms, for the jitter (the service takes 250ms, 2s, 1m, or seconds).
interval_ms=$(awk -v t="$interval_text" 'BEGIN {
    if (t ~ /ms$/) { sub(/ms$/, "", t); print int(t) }
    else if (t ~ /m$/) { sub(/m$/, "", t); print int(t * 60000) }
    else { sub(/s$/, "", t); print int(t * 1000) } }')
timeout_ms=$(( interval_ms * 3 + 2000 ))

quiet_logs=0
# --- (a) propagation through Redis ------------------------------------------
if runs redis; then
    log "(a) propagation with Redis: load $(loadavg)"
    new_database redis
    prefix="tokengate-bench-cluster-$run_id-redis:"
    prefixes+=("$prefix")
    mapfile -t envs < <(pg_env "$db_url")
    envs+=(TOKENGATE_REDIS_URL="$redis_url" TOKENGATE_REDIS_PREFIX="$prefix")
    start_server redis-A "${envs[@]}"
    start_server redis-B "${envs[@]}"
    same_keys redis-A redis-B
    propagation redis redis-A redis-B "$samples"
    if [[ $quiet_samples -gt 0 ]]; then
        log "(a) the same, logouts $quiet_pause_ms-$((quiet_pause_ms + quiet_jitter_ms)) ms apart: load $(loadavg)"
        propagation quiet redis-A redis-B "$quiet_samples" --pause-ms "$quiet_pause_ms" --jitter-ms "$quiet_jitter_ms"
    fi
    stop_and_check redis-A
    stop_and_check redis-B
    drop_database redis
fi

# --- (b) propagation by polling ---------------------------------------------
if runs poll; then
    log "(b) propagation by polling the database: load $(loadavg)"
    new_database poll
    mapfile -t envs < <(pg_env "$db_url")
    start_server poll-A "${envs[@]}"
    start_server poll-B "${envs[@]}"
    same_keys poll-A poll-B
    propagation poll poll-A poll-B "$samples" --jitter-ms "$interval_ms" --timeout-ms "$timeout_ms"
    stop_and_check poll-A
    stop_and_check poll-B
    drop_database poll
fi

# --- (c) throughput: PostgreSQL + Redis next to SQLite ----------------------
if runs throughput; then
    log "(c) throughput, PostgreSQL + Redis and SQLite: load $(loadavg)"
    new_database throughput
    prefix="tokengate-bench-cluster-$run_id-throughput:"
    prefixes+=("$prefix")
    mapfile -t envs < <(pg_env "$db_url")
    envs+=(TOKENGATE_REDIS_URL="$redis_url" TOKENGATE_REDIS_PREFIX="$prefix")
    quiet_logs=1
    start_server pg "${envs[@]}"
    start_server sqlite
    backends="pg sqlite"
    for s in $backends; do
        get_token "$s"
        log "$s: warm-up, ${warmup} s per route"
        run_wrk "$s.warm-public" "${URL[$s]}/api/public" -t"$threads" -c"$conns" -d"${warmup}s"
        BENCH_TOKEN=${TOKEN[$s]} run_wrk "$s.warm-private" "${URL[$s]}/api/private" -t"$threads" -c"$conns" -d"${warmup}s"
    done
    R[throughput.load_before]=$(loadavg)
    for ((r = 1; r <= rounds; r++)); do
        for s in $backends; do
            log "round $r/$rounds, $s: /api/public ${round_secs} s, /api/private ${round_secs} s"
            measure "$s.public.$r" "${PID[$s]}" "$s.public.$r" \
                run_wrk "$s.public.$r" "${URL[$s]}/api/public" -t"$threads" -c"$conns" -d"${round_secs}s"
            BENCH_TOKEN=${TOKEN[$s]} measure "$s.private.$r" "${PID[$s]}" "$s.private.$r" \
                run_wrk "$s.private.$r" "${URL[$s]}/api/private" -t"$threads" -c"$conns" -d"${round_secs}s"
            for route in public private; do
                (( ${R[$s.$route.$r.non2xx]} + ${R[$s.$route.$r.sockerr]} == 0 )) ||
                    log "WARNING: $s /api/$route: ${R[$s.$route.$r.non2xx]} non-2xx, ${R[$s.$route.$r.sockerr]} socket errors"
            done
        done
    done
    R[throughput.load_after]=$(loadavg)
    for s in $backends; do
        combine "$s.public" "$rounds"
        combine "$s.private" "$rounds"
        R[$s.ratio]=$(calc %.3f "${R[$s.private.rps]} / ${R[$s.public.rps]}")
    done
    R[pg_vs_sqlite]=$(calc %.3f "${R[pg.private.rps]} / ${R[sqlite.private.rps]}")
    stop_and_check pg
    stop_and_check sqlite
    drop_database throughput
fi

# --- (d) propagation under a storm of logouts --------------------------------
# pg_waits DB SECONDS: once the example says on stderr ($work/storm.err)
# that the load starts, what the non-idle sessions of DB wait on, every
# 0.5 s for SECONDS, a line "--" after each sample.
pg_waits() {
    local db=$1 secs=$2 end i
    for ((i = 0; i < 1200; i++)); do
        grep -q '^storm: .* logouts/s on A for' "$work/storm.err" 2>/dev/null && break
        sleep 0.1
    done
    end=$((SECONDS + secs))
    while ((SECONDS < end)); do
        psql "$pg_url/postgres" -qAt -c "SELECT state || ' ' || coalesce(wait_event_type || ':' || wait_event, '(no wait: on CPU)') FROM pg_stat_activity WHERE datname = '$db' AND state <> 'idle' AND pid <> pg_backend_pid()" 2>/dev/null || true
        echo --
        sleep 0.5
    done
}

if runs storm; then
    quiet_logs=0
    log "(d) propagation with Redis under $storm_rate logouts/s on A for $storm_seconds s: load $(loadavg)"
    new_database storm
    prefix="tokengate-bench-cluster-$run_id-storm:"
    prefixes+=("$prefix")
    mapfile -t envs < <(pg_env "$db_url" file)
    envs+=(TOKENGATE_REDIS_URL="$redis_url" TOKENGATE_REDIS_PREFIX="$prefix")
    start_server storm-A "${envs[@]}"
    start_server storm-B "${envs[@]}"
    kids_before=${R[kids]:-}
    same_keys storm-A storm-B
    R[storm.kids]=${R[kids]}
    [[ -z $kids_before ]] || R[kids]=$kids_before
    : >"$work/storm.err"
    pg_waits "tokengate_bench_cluster_${run_id}_storm" "$storm_seconds" >"$work/pg-waits.txt" &
    PID[pg-waits]=$!
    propagation storm storm-A storm-B "" --storm-rate "$storm_rate" --storm-seconds "$storm_seconds" \
        --storm-check "$storm_check" --key-file "$work/key.pem" --database-url "$db_url" \
        --cpu-pid "${PID[storm-A]}" --cpu-pid "${PID[storm-B]}" --clk-tck "$hz"
    stop_server pg-waits
    json=$(tail -1 "$work/storm.txt")
    for k in target_rate seconds logins_minted mint_s due sent ok errors not_sent failed sent_rate ok_rate \
        max_lag_ms max_inflight drained_s checked check_drawn accepted accepted_after_recheck; do
        R[storm.$k]=$(jq -r ".storm.$k" <<<"$json")
    done
    R[storm.rows]=$(jq -r '.storm.login_rows_inserted // "none"' <<<"$json")
    R[storm.not_200]=$(jq -r '.storm.not_200 | to_entries | map("\(.value) × HTTP \(.key)") | join(", ") | if . == "" then "0" else . end' <<<"$json")
    R[storm.first_errors]=$(jq -r '.storm.first_errors | join("; ")' <<<"$json")
    R[storm.sent_pps]=$(jq -r '.storm.sent_per_second_min_max | join("–")' <<<"$json")
    R[storm.ok_pps]=$(jq -r '.storm.ok_per_second_min_max | join("–")' <<<"$json")
    for k in p50 p99 max; do R[storm.lat.$k]=$(jq -r ".storm.latency_ms.$k" <<<"$json"); done
    R[storm.cpu.window]=$(jq -r '.storm.cpu.window_s' <<<"$json")
    R[storm.cpu.machine]=$(jq -r '.storm.cpu.machine_busy_cores' <<<"$json")
    R[storm.cpu.A]=$(jq -r '.storm.cpu.pids[0].cores' <<<"$json")
    R[storm.cpu.B]=$(jq -r '.storm.cpu.pids[1].cores' <<<"$json")
    R[storm.cpu.self]=$(jq -r '.storm.cpu.self_cores' <<<"$json")
    R[storm.cpu.others]=$(calc %.2f "${R[storm.cpu.machine]} - ${R[storm.cpu.A]} - ${R[storm.cpu.B]} - ${R[storm.cpu.self]}")
    # What the database holds afterwards: revocation rows, logins ended.
    R[storm.revocations]=$(psql "$db_url" -qAtc 'SELECT count(*) FROM revocations' 2>/dev/null || echo '?')
    R[storm.ended]=$(psql "$db_url" -qAtc 'SELECT count(*) FILTER (WHERE ended = 1) FROM refresh_families' 2>/dev/null || echo '?')
    R[storm.pg_samples]=$(grep -c '^--$' "$work/pg-waits.txt" || true)
    awk -v n="${R[storm.pg_samples]}" '$0 != "--" { c[$0]++ } END { for (k in c) printf "%.2f %s\n", c[k] / (n > 0 ? n : 1), k }' \
        "$work/pg-waits.txt" | sort -rn | head -8 >"$work/pg-waits.summary"
    stop_and_check storm-A
    stop_and_check storm-B
    drop_database storm
fi

load_after=$(loadavg)
bench_secs=$((SECONDS - t_start - build_secs))

# --- report ------------------------------------------------------------------
machine_facts
pg_version=$(psql "$pg_url/postgres" -qAtc 'SHOW server_version' 2>/dev/null || echo '?')
redis_version=$(redis-cli -u "$redis_url" INFO server 2>/dev/null | tr -d '\r' | sed -n 's/^redis_version://p')
if [[ $shared_key == file ]]; then
    key_text="one ES256 PEM file (private_key_file), generated with openssl"
else
    key_text="kept in PostgreSQL, sealed with one key_encryption_secret"
fi

# storm_verdict: p99 ≤ 50 ms, unless A did not sustain the load (failures,
# or fewer than 95 % of the target rate answered 200): then not measured.
storm_verdict() {
    local v
    v=$(verdict "${R[storm.after.p99]}" '<=' 50)
    if (( R[storm.samples] < 100 )); then v+=" (${R[storm.samples]} samples: p99 is about their max)"; fi
    if (( R[storm.failed] > 0 )) || awk "BEGIN { exit !(${R[storm.ok_rate]} < 0.95 * ${R[storm.target_rate]}) }"; then
        v="**not measured**: A answered $(calc %.0f "${R[storm.ok_rate]}") logouts/s of ${R[storm.target_rate]}, ${R[storm.failed]} failed or not sent; at that rate $v"
    fi
    echo "$v"
}

report() {
    local name label s
    echo "## tokengate cluster benchmark"
    echo
    echo "- Command: \`$command_line\`"
    echo "- When: $started_at, commit $commit"
    echo "- Binary: $bin, built $(date -u -r "$bin" +%Y-%m-%dT%H:%M:%SZ)"
    echo "- Machine: nproc $(nproc), $(machine_text); PostgreSQL $pg_version and Redis $redis_version on the same machine (127.0.0.1)"
    echo "- Tools: $(tools_text)"
    echo "- Load average (1/5/15 min): $load_before before, $load_after after; build ${build_secs} s, measurements ${bench_secs} s"
    echo "- Instances: one PostgreSQL database per scenario (fresh, dropped afterwards), issuer $issuer, signing key $key_text (kid ${R[kids]:-?}); server logs ${BENCH_RUST_LOG:-default filter (info: one line per request)}, stderr to files (throughput instances: $(if [[ $keep_logs == 1 ]]; then echo files; else echo /dev/null; fi))"
    echo
    if runs redis || runs poll; then
        echo "### Revocation propagation, instance A to instance B"
        echo
        echo "Per sample (after 3 unrecorded warm-up samples): log in on A, B answers 200, \`POST /auth/logout\` on A, then \`GET /api/private\` on B without pause on one keep-alive connection until the first 401 \`token_revoked\`. **Delay**: B's first 401 minus A's logout 200; \"from sending\" counts from before the logout request. Resolution: one poll round trip (a delay of one round trip: B knew before A answered)."
        echo
        echo "| fan-out | samples | delay p50 | p90 | **p99** | max | from sending p50 / p99 | logout on A p50 | B's 200s before the 401, p50 / max | poll round trip p50 | timeouts / unexpected | load (1 min) before → after | p99 < 50 ms with Redis |"
        echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|"
        for name in redis quiet poll; do
            [[ -n ${R[$name.samples]:-} ]] || continue
            case $name in
                redis) label="Redis pub/sub (database polled every $interval_text too), logouts back to back (~30 ms apart: a login and a check)" ;;
                quiet) label="Redis pub/sub, the same instances, logouts $((quiet_pause_ms / 1000))-$(((quiet_pause_ms + quiet_jitter_ms) / 1000)) s apart (Redis channel quiet in between)" ;;
                poll) label="no Redis: the database polled every $interval_text; a random 0-${interval_ms} ms wait before each logout" ;;
            esac
            printf '| %s | %s | %.2f ms | %.2f ms | **%.2f ms** | %.2f ms | %.2f / %.2f ms | %.2f ms | %.0f / %.0f | %.3f ms | %s / %s | %s → %s | %s |\n' \
                "$label" "${R[$name.samples]}" "${R[$name.after.p50]}" "${R[$name.after.p90]}" "${R[$name.after.p99]}" "${R[$name.after.max]}" \
                "${R[$name.t0.p50]}" "${R[$name.t0.p99]}" "${R[$name.logout.p50]}" "${R[$name.polls.p50]}" "${R[$name.polls.max]}" \
                "${R[$name.rtt.p50]}" "${R[$name.timeouts]}" "${R[$name.unexpected]}" \
                "${R[$name.load_before]%% *}" "${R[$name.load_after]%% *}" \
                "$(if [[ $name == poll ]]; then echo '–'; else verdict "${R[$name.after.p99]}" '<' 50; fi)"
        done
        echo
    fi
    if runs storm; then
        echo "### Revocation propagation under a storm of logouts (issue 17)"
        echo
        echo "Instances storm-A and storm-B on one fresh database and one Redis prefix, as in the first table, signing key one ES256 PEM file (forced for this scenario; kid ${R[storm.kids]}). **Background load**: ${R[storm.target_rate]} \`POST /auth/logout\`/s on A for ${R[storm.seconds]} s, open loop (logout i due at start + i/rate, sent then whatever the earlier answers; keep-alive pool; at most 1000 in flight), each with the access token of a distinct login: ${R[storm.logins_minted]} logins minted in ${R[storm.mint_s]} s by the example with the tokengate library and the instances' key file, copying the claims of a real login's tokens (new login id and jti per pair), their rows inserted into refresh_families before the load (${R[storm.rows]} rows), so each logout ends a login (and with it its tokens) as a real one does. **Samples** as in the first table (login on A, logout on A, B polled until its first 401), back to back from 1 s after the load's start to its end. **Lost**: ${R[storm.check_drawn]} background tokens drawn at random (B accepted them before the load); after it, B must refuse those logged out with a 200. The example runs on the same machine as the servers, PostgreSQL and Redis, and competes with them for the CPU."
        echo
        echo "| background: target | sent per s of the window / answered 200 per s until the last answer (200s per whole second of the window, min–max) | not 200 / errors / not sent | background logout latency from due p50 / p99 / max | sender late by, max | samples | delay p50 | p90 | **p99** | max | from sending p50 / p99 | sample's logout on A p50 / p99 | poll round trip p50 | timeouts / unexpected | lost: checked / accepted by B | p99 ≤ 50 ms |"
        echo "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"
        printf '| %s/s × %s s | %.1f / **%.1f** (%s) | %s / %s / %s | %.1f / %.1f / %.1f ms | %.1f ms | %s | %.2f ms | %.2f ms | **%.2f ms** | %.2f ms | %.2f / %.2f ms | %.2f / %.2f ms | %.3f ms | %s / %s | %s / **%s**%s | %s |\n' \
            "${R[storm.target_rate]}" "${R[storm.seconds]}" "${R[storm.sent_rate]}" "${R[storm.ok_rate]}" "${R[storm.ok_pps]}" \
            "${R[storm.not_200]}" "${R[storm.errors]}" "${R[storm.not_sent]}" \
            "${R[storm.lat.p50]}" "${R[storm.lat.p99]}" "${R[storm.lat.max]}" "${R[storm.max_lag_ms]}" \
            "${R[storm.samples]}" "${R[storm.after.p50]}" "${R[storm.after.p90]}" "${R[storm.after.p99]}" "${R[storm.after.max]}" \
            "${R[storm.t0.p50]}" "${R[storm.t0.p99]}" "${R[storm.logout.p50]}" "${R[storm.logout.p99]}" "${R[storm.rtt.p50]}" \
            "${R[storm.timeouts]}" "${R[storm.unexpected]}" "${R[storm.checked]}" "${R[storm.accepted]}" \
            "$(if [[ ${R[storm.accepted_after_recheck]} != null ]]; then echo " (${R[storm.accepted_after_recheck]} 3 s later)"; fi)" \
            "$(storm_verdict)"
        echo
        echo "- CPU over the load's ${R[storm.cpu.window]} s, in cores of $(nproc): machine busy **${R[storm.cpu.machine]}**; A ${R[storm.cpu.A]}, B ${R[storm.cpu.B]}, the example (load, samples) ${R[storm.cpu.self]}, the rest ${R[storm.cpu.others]} (PostgreSQL, Redis, anything else running). Load average (1 min) ${R[storm.load_before]%% *} → ${R[storm.load_after]%% *}."
        echo "- Background logouts: ${R[storm.due]} due, ${R[storm.sent]} sent, ${R[storm.ok]} answered 200, the last answer ${R[storm.drained_s]} s after the start; at most ${R[storm.max_inflight]} in flight; sent per whole second ${R[storm.sent_pps]}.${R[storm.first_errors]:+ First errors: ${R[storm.first_errors]}.}"
        echo "- Afterwards the database holds ${R[storm.revocations]} revocation rows and ${R[storm.ended]} ended logins (one of each per logout that got a 200, samples' included)."
        if [[ -s $work/pg-waits.summary ]]; then
            echo "- PostgreSQL sessions of the scenario's database during the load (pg_stat_activity every 0.5 s, ${R[storm.pg_samples]} samples), mean number of non-idle sessions by state and wait event: $(awk '{ n = $1; $1 = ""; sub(/^ /, ""); printf "%s%s %s", (NR > 1 ? "; " : ""), n, $0 }' "$work/pg-waits.summary")."
        fi
        echo
    fi
    if runs throughput; then
        echo "### Throughput of one instance: PostgreSQL + Redis next to SQLite"
        echo
        echo "Both instances running at once; wrk -t$threads -c$conns --latency, $rounds rounds of ${round_secs} s per route and instance, alternated (public, private; PG+Redis, SQLite) after a ${warmup} s warm-up each. Load average ${R[throughput.load_before]%% *} → ${R[throughput.load_after]%% *}."
        echo
        echo "| instance | public req/s (rounds) | public p99 | private req/s (rounds) | private p99 | private/public | server CPU µs/req public / private | others' CPU, cores (incl. PostgreSQL, Redis) | non-2xx / socket errors |"
        echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|"
        for s in $backends; do
            if [[ $s == pg ]]; then label="PostgreSQL + Redis"; else label="SQLite (default settings)"; fi
            printf '| %s | %.0f (%s) | %.2f ms | %.0f (%s) | %.2f ms | %.3f | %s / %s | %s / %s | %.0f / %.0f |\n' \
                "$label" "${R[$s.public.rps]}" "${R[$s.public.rounds]}" "${R[$s.public.p99]}" \
                "${R[$s.private.rps]}" "${R[$s.private.rounds]}" "${R[$s.private.p99]}" "${R[$s.ratio]}" \
                "${R[$s.public.us_per_req]}" "${R[$s.private.us_per_req]}" \
                "$(cores "$s.public" other_cpu)" "$(cores "$s.private" other_cpu)" \
                "$(calc %.0f "${R[$s.public.non2xx]} + ${R[$s.private.non2xx]}")" \
                "$(calc %.0f "${R[$s.public.sockerr]} + ${R[$s.private.sockerr]}")"
        done
        echo
        echo "/api/private on PostgreSQL + Redis / on SQLite: **${R[pg_vs_sqlite]}**."
        echo
    fi
    echo "### Service logs"
    echo
    echo "The instances of the throughput runs log to /dev/null unless --keep-logs; wrk counts their non-2xx answers above."
    echo
    echo "| instance | log lines | WARN | ERROR | 5xx answers |"
    echo "|---|---:|---:|---:|---:|"
    for s in "${servers_seen[@]}"; do
        printf '| %s | %s | %s | %s | %s |\n' "$s" "${R[$s.lines]}" "${R[$s.warn]}" "${R[$s.error]}" "${R[$s.5xx]}"
    done
    for s in "${servers_seen[@]}"; do
        if [[ -s $work/$s.findings ]]; then
            echo
            echo "Most frequent WARN/ERROR lines of $s (count, line without its timestamp):"
            echo
            echo '```'
            cut -c1-300 "$work/$s.findings"
            echo '```'
        fi
    done
}

publish_report docs/bench-cluster.md
