#!/usr/bin/env bash
# Load-tests forward auth through a real nginx on 127.0.0.1 with wrk: what
# the shipped nginx snippet, deploy/nginx/tokengate.conf (`auth_request` to
# tokengate's GET /auth/verify), costs a proxied request. Prints a markdown
# report on stdout (also written to docs/bench-forward-auth.md); progress
# goes to stderr.
#
#   scripts/bench-forward-auth.sh                 # build, then about 40 s of measurements
#   scripts/bench-forward-auth.sh --duration 6    # seconds per target (default 10)
#   scripts/bench-forward-auth.sh --no-build      # use the binary already built
#   scripts/bench-forward-auth.sh --no-write      # do not write docs/bench-forward-auth.md
#   scripts/bench-forward-auth.sh --keep-logs     # keep nginx's config and logs, tokengate's log, wrk outputs
#
# One tokengate (release build, the default ES256 key, a fresh data dir,
# 127.0.0.1:0) with one registered user and its access token, and one nginx
# (a child, `daemon off;`, prefix, pid, logs and temp files in a scratch
# dir, worker_processes 1, access_log off) with three servers on 127.0.0.1:
#  - backend: `return 200 "ok"`, the protected application's stand-in (it
#    echoes the X-Auth-Subject it received in X-Seen-Subject, checked once);
#  - front with auth: the shipped snippet itself, a server with
#    `include deploy/nginx/tokengate.conf;` and, as deploy/nginx/site.conf,
#    `upstream tokengate { server <tokengate>; keepalive 32; }`, plus
#    `upstream app { server <backend>; keepalive 32; }`: the snippet's
#    `location /` asks /auth/verify by `auth_request` (HTTP/1.1, kept alive:
#    its 200 has an empty body), then proxies to `app` with the X-Auth-*
#    headers;
#  - front without auth: the snippet's own `location /` block, read from the
#    file, without its auth_request, auth_request_set and error_page lines:
#    the same proxy_set_header lines and the same HTTP version to `app`
#    (HTTP/1.1, connections kept), so that the two fronts differ ONLY by the
#    auth subrequest.
# Every request carries the same Bearer token, the front without auth
# included.
#
# Measured with wrk -t2 -c32 --latency after a warm-up per target, alternated
# in two rounds of half the duration each so that a change in the machine's
# load hits every target alike: front without auth, front with auth, and
# (for information) tokengate's /auth/verify directly, without nginx (with
# X-Forwarded-Method: GET, as a proxy sends it). Reported: req/s, p50 (mean
# of the rounds) and p99 (worst round), the ratio with auth / without auth,
# the CPU time per request of nginx (master + worker) and of tokengate
# (utime + stime from /proc/PID/stat), the TCP connections opened per 1000
# requests (machine-wide ActiveOpens in /proc/net/snmp; with auth minus
# without auth = the connections to tokengate per 1000 checks, about 0 when
# nginx keeps them alive, about 1000 when it opens one per check), and
# "others": the
# machine's busy CPU minus nginx's, tokengate's and wrk's (other processes;
# above ~0.1 core the throughput numbers are disturbed).
#
# Environment: BENCH_THREADS (2), BENCH_CONNECTIONS (32), BENCH_WARMUP
# (2 s), BENCH_ROUNDS (2), BENCH_KEEPALIVE (32: `keepalive` of `upstream
# tokengate`, as deploy/nginx/site.conf; 0: none, a new TCP connection per
# check, to see what keep-alive saves), BENCH_RUST_LOG (unset: tokengate's
# default filter, info, one line per request, as scripts/bench-service.sh;
# its stderr goes to /dev/null unless --keep-logs). Shared helpers:
# scripts/bench-common.sh.
set -euo pipefail

cd "$(dirname "$0")/.."
source scripts/bench-common.sh

duration=10
command_line="scripts/bench-forward-auth.sh${*:+ $*}"
while [[ $# -gt 0 ]]; do
    common_option "$@"
    shift "$nargs"
done
load_settings 2
keepalive=${BENCH_KEEPALIVE:-32}
[[ $keepalive =~ ^[0-9]+$ ]] || { echo "BENCH_KEEPALIVE needs a number" >&2; exit 2; }
snippet="$PWD/deploy/nginx/tokengate.conf"
[[ -r $snippet ]] || { echo "missing $snippet" >&2; exit 1; }

log() { echo "[bench-forward-auth] $*" >&2; }

# --- tools -------------------------------------------------------------------
PATH=$PATH:/usr/sbin:/sbin
install_tools wrk=wrk nginx=nginx-light
require_tools bench-forward-auth.sh wrk nginx curl jq awk
nginx -V 2>&1 | grep -q -- --with-http_auth_request_module ||
    { echo "this nginx has no auth_request module (Debian's nginx-light has it)" >&2; exit 1; }

bench_start
# The same build as scripts/bench-service.sh: one release profile for both.
cargo_build --release --locked -p tokengate-server --bin tokengate --example bare_argon2
bin="$target_dir/release/tokengate"
[[ -x $bin ]] || { echo "missing $bin (run without --no-build)" >&2; exit 1; }

# --- scratch and cleanup -----------------------------------------------------
work=$(mktemp -d "${TMPDIR:-/tmp}/bench-forward-auth.XXXXXX")
# nginx's prefix: config, pid, logs, temp files (its own dir: see "nginx" below).
ngx=$(mktemp -d "${TMPDIR:-/tmp}/bench-forward-auth-nginx.XXXXXX")
scratch=("$work" "$ngx")
trap cleanup_pids EXIT
trap 'exit 130' INT TERM
write_bench_lua

# A TCP port below the ephemeral range (whose ports outgoing connections,
# and their TIME_WAITs, occupy) that no socket uses, and not one already
# taken here.
ports=()
ephemeral_low=$(awk '{ print $1 }' /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || echo 32768)
(( ephemeral_low > 12000 )) || ephemeral_low=65000
free_port() {
    local p i
    for ((i = 0; i < 200; i++)); do
        p=$(( 10000 + RANDOM % (ephemeral_low - 10000) ))
        [[ " ${ports[*]} " == *" $p "* ]] && continue
        (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null && continue
        if command -v ss >/dev/null; then
            [[ -z $(ss -Htan "( sport = :$p )" 2>/dev/null) ]] || continue
        fi
        ports+=("$p")
        echo "$p"
        return 0
    done
    echo "no free port found" >&2
    exit 1
}

# wait_http URL PID: until URL answers (any HTTP status), at most 10 s,
# while PID lives.
wait_http() {
    local i
    for ((i = 0; i < 100; i++)); do
        curl -s --max-time 1 -o /dev/null "$1" && return 0
        kill -0 "$2" 2>/dev/null || return 1
        sleep 0.1
    done
    return 1
}

# --- tokengate -----------------------------------------------------------------
log "starting tokengate"
errlog=/dev/null
[[ $keep_logs == 1 ]] && errlog="$work/tokengate.log"
start_tokengate "$work/data" "$work/tokengate.out" "$errlog"
server_pid=$tg_pid
pids+=("$server_pid")
url=$tg_url
[[ -n $url ]] || { echo "tokengate did not start (rerun with --keep-logs)" >&2; exit 1; }
check_address "$url"
tokengate_addr=${url#http://}

register_and_login "$url"
expect_status "/auth/verify with the token" 200 -H "Authorization: Bearer $token" -H 'X-Forwarded-Method: GET' "$url/auth/verify"
subject=$(header_value X-Auth-Subject)
[[ -n $subject ]] || { echo "/auth/verify answered 200 without X-Auth-Subject" >&2; exit 1; }
# nginx keeps an upstream connection only if it read the whole answer, and
# it reads no body of an auth_request answer: the 200 must have none.
verify_length=$(header_value Content-Length)
[[ $verify_length == 0 && ! -s $work/check.body ]] ||
    log "WARNING: /auth/verify's 200 has a body (Content-Length: ${verify_length:-none}): nginx will close the connection after every check"

# --- nginx ---------------------------------------------------------------------
mkdir -p "$ngx/temp"
backend_port=$(free_port)
plain_port=$(free_port)
auth_port=$(free_port)
upstream_keepalive=""
keepalive_label="none (a new connection per check)"
if [[ $keepalive -gt 0 ]]; then
    upstream_keepalive="keepalive $keepalive;"
    keepalive_label="keepalive $keepalive"
fi
nginx_user=""
# Root's nginx runs its worker as nobody, who must reach the temp dirs (the
# tokengate data stays in $work, private).
if [[ $(id -u) == 0 ]]; then
    chmod 755 "$ngx"
    id -g nogroup >/dev/null 2>&1 && nginx_user="user nobody nogroup;"
fi

# The front without auth: the snippet's `location /`, comments and the
# auth_request, auth_request_set and error_page lines left out.
plain_location=$(awk '
    /^location \/ \{/ { on = 1 }
    on && !/^[[:space:]]*#/ && !/^[[:space:]]*(auth_request|auth_request_set|error_page)[[:space:]]/ { print "        " $0 }
    on && /^\}/ { exit }' "$snippet")
grep -q 'proxy_pass http://app;' <<<"$plain_location" && ! grep -q auth_request <<<"$plain_location" ||
    { echo "cannot find the location / that proxies to app in $snippet:" >&2; echo "$plain_location" >&2; exit 1; }

cat >"$ngx/nginx.conf" <<NGINX
$nginx_user
daemon off;
master_process on;
worker_processes 1;
pid $ngx/nginx.pid;
error_log $ngx/error.log warn;
events { worker_connections 1024; }
http {
    access_log off;
    client_body_temp_path $ngx/temp/body;
    proxy_temp_path $ngx/temp/proxy;
    fastcgi_temp_path $ngx/temp/fastcgi;
    uwsgi_temp_path $ngx/temp/uwsgi;
    scgi_temp_path $ngx/temp/scgi;

    upstream tokengate {
        server $tokengate_addr;
        $upstream_keepalive
    }
    upstream app {
        server 127.0.0.1:$backend_port;
        keepalive 32;
    }

    # The protected application's stand-in.
    server {
        listen 127.0.0.1:$backend_port;
        location / {
            add_header X-Seen-Subject \$http_x_auth_subject;
            return 200 "ok";
        }
    }

    # Front with auth: the shipped snippet.
    server {
        listen 127.0.0.1:$auth_port;
        include "$snippet";
    }

    # Front without auth: the snippet's location / without the auth lines.
    server {
        listen 127.0.0.1:$plain_port;
$plain_location
    }
}
NGINX

log "starting nginx (backend :$backend_port, without auth :$plain_port, with auth :$auth_port)"
nginx -t -q -p "$ngx" -c "$ngx/nginx.conf" -e "$ngx/error.log" 2>"$work/nginx-test.txt" ||
    { echo "nginx rejects the config:" >&2; cat "$work/nginx-test.txt" >&2; exit 1; }
nginx -p "$ngx" -c "$ngx/nginx.conf" -e "$ngx/error.log" >"$work/nginx.out" 2>&1 &
nginx_pid=$!
pids+=("$nginx_pid")
for port in "$backend_port" "$plain_port" "$auth_port"; do
    wait_http "http://127.0.0.1:$port/" "$nginx_pid" ||
        { echo "nginx does not answer on 127.0.0.1:$port:" >&2; cat "$work/nginx.out" "$ngx/error.log" >&2 2>/dev/null; exit 1; }
done
mapfile -t workers < <(pgrep -P "$nginx_pid" || true)
proxy_pids=("$nginx_pid" "${workers[@]}")
[[ ${#proxy_pids[@]} == 2 ]] || log "WARNING: nginx has ${#proxy_pids[@]} processes, expected a master and one worker"

# The setup works: the token passes and its subject, not the client's,
# reaches the backend; no token or a bad one is refused; the front without
# auth passes no X-Auth-Subject either.
plain="http://127.0.0.1:$plain_port"
auth="http://127.0.0.1:$auth_port"
expect_status "front without auth" 200 -H "Authorization: Bearer $token" -H 'X-Auth-Subject: 999' "$plain/"
[[ -z $(header_value X-Seen-Subject) ]] || { echo "front without auth: the backend saw X-Auth-Subject '$(header_value X-Seen-Subject)'" >&2; exit 1; }
expect_status "front with auth" 200 -H "Authorization: Bearer $token" -H 'X-Auth-Subject: 999' "$auth/some/path?q=1"
[[ $(cat "$work/check.body") == ok ]] || { echo "front with auth: body $(head -c 300 "$work/check.body")" >&2; exit 1; }
[[ $(header_value X-Seen-Subject) == "$subject" ]] ||
    { echo "front with auth: the backend saw X-Auth-Subject '$(header_value X-Seen-Subject)', expected '$subject'" >&2; exit 1; }
expect_status "front with auth, no token" 401 "$auth/"
expect_status "front with auth, a bad token" 401 -H "Authorization: Bearer ${token%?????}AAAAA" "$auth/"

# --- measurements ------------------------------------------------------------
targets="plain auth direct"
target_url() {
    case "$1" in
        plain) echo "$plain/" ;;
        auth) echo "$auth/" ;;
        direct) echo "$url/auth/verify" ;;
    esac
}
target_args() { [[ $1 == direct ]] && echo "-H" && echo "X-Forwarded-Method: GET"; return 0; }

log "warm-up, ${warmup} s per target"
for t in $targets; do
    mapfile -t extra < <(target_args "$t")
    BENCH_TOKEN=$token run_wrk "warm-$t" "$(target_url "$t")" "${extra[@]}" -t"$threads" -c"$conns" -d"${warmup}s"
done
for ((r = 1; r <= rounds; r++)); do
    log "round $r/$rounds: without auth, with auth, /auth/verify directly, ${round_secs} s each"
    for t in $targets; do
        mapfile -t extra < <(target_args "$t")
        BENCH_TOKEN=$token measure "$t.$r" "$server_pid" "$t.$r" \
            run_wrk "$t.$r" "$(target_url "$t")" "${extra[@]}" -t"$threads" -c"$conns" -d"${round_secs}s"
        (( ${R[$t.$r.non2xx]} + ${R[$t.$r.sockerr]} == 0 )) ||
            log "WARNING: $t: ${R[$t.$r.non2xx]} non-2xx, ${R[$t.$r.sockerr]} socket errors"
    done
done
for t in $targets; do
    combine "$t" "$rounds" proxy_cpu wrk_cpu opens
    R[$t.nginx_us]=$(calc %.1f "1e6 * ${R[$t.proxy_cpu]} / ${R[$t.requests]}")
    R[$t.wrk_us]=$(calc %.1f "1e6 * ${R[$t.wrk_cpu]} / ${R[$t.requests]}")
    R[$t.opens_per_k]=$(calc %.1f "1000 * ${R[$t.opens]} / ${R[$t.requests]}")
done
R[ratio]=$(calc %.3f "${R[auth.rps]} / ${R[plain.rps]}")
R[p50_added]=$(calc %.2f "${R[auth.p50]} - ${R[plain.p50]}")
R[tokengate_opens_per_k]=$(calc %.1f "${R[auth.opens_per_k]} - ${R[plain.opens_per_k]}")
[[ -s $ngx/error.log ]] && R[nginx_errors]=$(grep -c '\[\(error\|crit\|alert\|emerg\)\]' "$ngx/error.log" || true)
load_after=$(loadavg)
bench_secs=$((SECONDS - t_start - build_secs))

# --- report ------------------------------------------------------------------
machine_facts

report() {
    local t label
    echo "## tokengate forward auth through nginx"
    echo
    echo "- Command: \`$command_line\`"
    echo "- Machine: nproc $(nproc), $(machine_text)"
    echo "- When: $started_at, commit $commit"
    echo "- Binary: $bin, built $(date -u -r "$bin" +%Y-%m-%dT%H:%M:%SZ); tokengate's default key (ES256), logs: ${BENCH_RUST_LOG:-default filter (info: one line per request)}, stderr to /dev/null; /auth/verify's 200: Content-Length ${verify_length:-none}"
    echo "- Tools: $(nginx -v 2>&1 | sed 's/^nginx version: //'), $(tools_text)"
    echo "- nginx: one process tree (master + 1 worker), access_log off. Front with auth: a server with \`include deploy/nginx/tokengate.conf;\` (the shipped snippet), \`upstream tokengate\` with $keepalive_label (deploy/nginx/site.conf: keepalive 32), \`upstream app\` with keepalive 32. Front without auth: the snippet's \`location /\` without its auth_request, auth_request_set and error_page lines (the same headers and HTTP version to the backend)"
    echo "- Load: wrk -t$threads -c$conns --latency, the same Bearer token on every request (${#token} bytes); the targets alternated in $rounds rounds of ${round_secs} s after a ${warmup} s warm-up each"
    echo "- Load average (1/5/15 min): $load_before before, $load_after after; build ${build_secs} s, measurements ${bench_secs} s"
    echo
    echo "| path | req/s (rounds) | p50 | p99 | vs without auth | nginx CPU µs/req | tokengate CPU µs/req | wrk CPU µs/req | TCP connects per 1000 req | others' CPU, cores |"
    echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    for t in $targets; do
        case "$t" in
            plain) label="nginx → backend, without auth" ;;
            auth) label="nginx \`auth_request\` → tokengate /auth/verify, then → backend (deploy/nginx/tokengate.conf)" ;;
            direct) label="(info) tokengate /auth/verify directly, no nginx" ;;
        esac
        printf '| %s | %.0f (%s) | %.2f ms | %.2f ms | %s | %s | %s | %s | %s | %s |\n' \
            "$label" "${R[$t.rps]}" "${R[$t.rounds]}" "${R[$t.p50]}" "${R[$t.p99]}" \
            "$(if [[ $t == direct ]]; then echo –; else calc %.3f "${R[$t.rps]} / ${R[plain.rps]}"; fi)" \
            "$(if [[ $t == direct ]]; then echo –; else echo "${R[$t.nginx_us]}"; fi)" \
            "${R[$t.us_per_req]}" "${R[$t.wrk_us]}" "${R[$t.opens_per_k]}" "$(cores "$t" other_cpu)"
    done
    echo
    printf '**With auth / without auth: %.3f× the requests/s**; p50 %+.2f ms (%.2f → %.2f ms), p99 %.2f → %.2f ms. **TCP connects to tokengate per 1000 checks: %.1f** (with auth minus without auth).\n' \
        "${R[ratio]}" "${R[p50_added]}" "${R[plain.p50]}" "${R[auth.p50]}" "${R[plain.p99]}" "${R[auth.p99]}" "${R[tokengate_opens_per_k]}"
    echo
    echo "Errors: $(for t in $targets; do printf '%s %.0f non-2xx, %.0f socket errors; ' "$t" "${R[$t.non2xx]}" "${R[$t.sockerr]}"; done)nginx error log: ${R[nginx_errors]:-0} error lines."
    echo "TCP connects: the machine's connect()s (ActiveOpens, /proc/net/snmp) per 1000 requests. Both fronts keep their connections to the backend, and wrk reconnects to nginx every 1000 requests (keepalive_requests), about 1; what the front with auth opens beyond that goes to tokengate: about 0 when nginx keeps those connections alive, about 1000 when it opens one per check."
    echo "CPU: utime + stime from /proc/PID/stat over each round (nginx: master + worker), divided by the requests. Others' CPU: the machine's busy CPU (incl. steal) minus nginx's, tokengate's and wrk's; well above 0.1 core, other processes disturbed the run. With $(nproc) cores, wrk, nginx and tokengate share the CPU: the requests/s are those of the whole chain on this machine, the CPU per request is what each part costs."
}

publish_report docs/bench-forward-auth.md
