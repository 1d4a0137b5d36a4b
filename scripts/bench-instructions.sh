#!/usr/bin/env bash
# Counts the instructions the service spends on one request, next to the
# bare axum route (examples/bare_axum.rs), under valgrind's callgrind: the
# count does not depend on what else the machine is doing, so two builds
# can be compared to a fraction of a percent where wrk's requests per
# second move by ±10 % between identical runs. User-space instructions
# only: the kernel's share of a request (TCP, scheduling) is not counted.
#
#   scripts/bench-instructions.sh                # build, then count
#   scripts/bench-instructions.sh --no-build     # use target/release as it is
#   scripts/bench-instructions.sh --bin PATH     # another tokengate binary (A/B)
#
# Each server runs under callgrind; 300 requests warm it up (the token
# cache, the per-thread metrics), the counters are zeroed, then N requests
# (BENCH_REQUESTS, 2000) go over one kept-alive connection, and the count
# is dumped. Routes: the bare route, /api/public, /api/private (a cached
# ES256 token), /auth/verify, and the bare route again sent /api/private's
# Authorization header (which it ignores: what carrying the token costs
# hyper, apart from the service), and the bare app's /api/private (the
# library's AccessToken extractor, its own token). The dumps stay in the work directory
# (printed) for `callgrind_annotate --inclusive=yes --tree=calling`.
# BENCH_CALLGRIND_OPTIONS adds options to callgrind's, e.g.
# `--cache-sim=yes --branch-sim=yes` for simulated cache misses and
# mispredicted branches (the table still counts instructions).
set -euo pipefail
cd "$(dirname "$0")/.."
# For `printed` (it defines functions and variables only: nothing runs).
source scripts/bench-common.sh

build=1
bin=target/release/tokengate
bare=target/release/examples/bare_axum
while [ $# -gt 0 ]; do
    case "$1" in
        --no-build) build=0; shift ;;
        --bin) bin=$2; build=0; shift 2 ;;
        -h|--help) sed -n '2,/^set -euo/{/^set -euo/d;p}' "$0"; exit 0 ;;
        *) echo "unknown argument: $1" >&2; exit 2 ;;
    esac
done
requests=${BENCH_REQUESTS:-2000}
for tool in valgrind callgrind_control callgrind_annotate python3 curl jq; do
    command -v "$tool" >/dev/null || { echo "bench-instructions.sh needs $tool" >&2; exit 1; }
done
if [ "$build" = 1 ]; then
    cargo build --release --locked -p tokengate-server --bin tokengate --example bare_axum >&2
fi
work=$(mktemp -d /tmp/tokengate-instructions.XXXXXX)
echo "dumps in $work" >&2

# client.py PORT PATH N [TOKEN]: N GETs on one connection, each must be 200.
cat >"$work/client.py" <<'EOF'
import http.client, sys
port, path, n = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
headers = {"Authorization": "Bearer " + sys.argv[4]} if len(sys.argv) > 4 else {}
headers["X-Forwarded-Method"] = "GET"
connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
for _ in range(n):
    connection.request("GET", path, headers=headers)
    response = connection.getresponse()
    response.read()
    if response.status != 200:
        sys.exit(f"{path}: HTTP {response.status}")
EOF

# count NAME BINARY PATH [token]: prints the instructions per request.
count() {
    local name=$1 binary=$2 path=$3 with_token=${4:-} args=() url="" token="" pid i
    local dir="$work/$name"
    mkdir -p "$dir"
    [[ $binary == *tokengate ]] && args=(--data-dir "$dir/data" --listen 127.0.0.1:0)
    # shellcheck disable=SC2086 # BENCH_CALLGRIND_OPTIONS is a list of options
    valgrind --tool=callgrind --callgrind-out-file="$dir/callgrind.%p" ${BENCH_CALLGRIND_OPTIONS:-} \
        "$binary" "${args[@]}" >"$dir/stdout" 2>"$dir/stderr" &
    pid=$!
    for ((i = 0; i < 600; i++)); do
        url=$(sed -n 's/^tokengate listening on //p' "$dir/stdout" 2>/dev/null)
        [[ -n $url ]] && break
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.2
    done
    [[ -n $url ]] || { echo "$name did not start: $(tail -3 "$dir/stderr")" >&2; exit 1; }
    if [[ $with_token == header ]]; then
        # The token /api/private was sent, to a route that ignores it.
        token=$(cat "$work/token")
    elif [[ $with_token == own ]]; then
        # The bare app's own token and /api/private's listener, printed
        # after its address.
        token=$(printed "$dir/stdout" "access token: ")
        url=$(printed "$dir/stdout" "private listening on ")
    elif [[ -n $with_token ]]; then
        local credentials='{"username":"bench","password":"bench-password-123"}'
        curl -sf -H 'Content-Type: application/json' -d "$credentials" "$url/auth/register" >/dev/null
        token=$(curl -sf -H 'Content-Type: application/json' -d "$credentials" "$url/auth/login" | jq -r .access_token)
        echo "$token" >"$work/token"
    fi
    python3 "$work/client.py" "${url##*:}" "$path" 300 $token
    callgrind_control -z "$pid" >/dev/null 2>&1
    python3 "$work/client.py" "${url##*:}" "$path" "$requests" $token
    callgrind_control -d "$pid" >/dev/null 2>&1
    kill -TERM "$pid"
    wait "$pid" 2>/dev/null || true
    local total
    total=$(callgrind_annotate "$dir/callgrind.$pid.1" 2>/dev/null | awk '/PROGRAM TOTALS/ { gsub(",", "", $1); print $1; exit }')
    [[ -n $total ]] || { echo "$name: no callgrind dump" >&2; exit 1; }
    echo $((total / requests))
}

bare_count=$(count bare "$bare" /api/public)
echo "| route | instructions / request | x bare route |"
echo "|---|---:|---:|"
echo "| bare axum route | $bare_count | 1.000 |"
for route in public private verify; do
    case $route in
        public) n=$(count public "$bin" /api/public) ;;
        private) n=$(count private "$bin" /api/private token) ;;
        verify) n=$(count verify "$bin" /auth/verify token) ;;
    esac
    echo "| \`/$([ $route = verify ] && echo auth || echo api)/$route\` | $n | $(awk -v a="$n" -v b="$bare_count" 'BEGIN { printf "%.3f", a / b }') |"
    [[ $route == private ]] && private_count=$n
done
# The bare route sent /api/private's request (its Authorization header):
# what carrying the token costs hyper, apart from the service.
bare_header=$(count bare-header "$bare" /api/public header)
echo "| bare axum route, sent \`/api/private\`'s Authorization header | $bare_header | $(awk -v a="$bare_header" -v b="$bare_count" 'BEGIN { printf "%.3f", a / b }') |"
# The bare app's /api/private: the library's extractor without the service.
bare_private=$(count bare-private "$bare" /api/private own)
echo "| bare app's \`/api/private\` (the library's \`AccessToken\`, no service around it) | $bare_private | $(awk -v a="$bare_private" -v b="$bare_count" 'BEGIN { printf "%.3f", a / b }') |"
echo
echo "\`/api/private\` / the bare route with that header: $(awk -v a="$private_count" -v b="$bare_header" 'BEGIN { printf "%.3f", a / b }')"
echo "\`/api/private\` / the bare app's \`/api/private\`: $(awk -v a="$private_count" -v b="$bare_private" 'BEGIN { printf "%.3f", a / b }')"
