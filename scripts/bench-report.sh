#!/usr/bin/env bash
# Runs the tokengate JWT benchmarks and prints a markdown report.
#
#   scripts/bench-report.sh                 # run `cargo bench -p tokengate --bench jwt`, then report
#   scripts/bench-report.sh --no-run        # report on the results already in target/criterion
#   scripts/bench-report.sh -- HS256        # extra arguments go to the bench binary (a filter here)
#
# The numbers are criterion's mean point estimates (new/estimates.json), with
# the 95% confidence interval of the mean in the ± column.
#
# Targets checked: verify at most 1.1x the bare aws-lc-rs signature check for
# every algorithm; HS256 verification of a typical access token under 2 µs.
set -euo pipefail

cd "$(dirname "$0")/.."

run=1
bench_args=()
while [[ $# -gt 0 ]]; do
    case "$1" in
        --no-run) run=0 ;;
        --) shift; bench_args=("$@"); break ;;
        -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
        *) echo "unknown argument: $1" >&2; exit 2 ;;
    esac
    shift
done

command -v jq >/dev/null || { echo "bench-report.sh needs jq" >&2; exit 1; }

target_dir=$(cargo metadata --format-version 1 --no-deps | jq -r .target_directory)
crit="$target_dir/criterion"
load_before=$(cut -d' ' -f1-3 /proc/loadavg)

if [[ $run == 1 ]]; then
    # The bench's own progress goes to stderr, so stdout stays the report.
    cargo bench -p tokengate --bench jwt -- "${bench_args[@]}" >&2
fi
load_after=$(cut -d' ' -f1-3 /proc/loadavg)

# Mean in ns, or empty when the benchmark has no result.
mean() {
    local f="$crit/$1/$2/new/estimates.json"
    [[ -f $f ]] && jq -r '.mean.point_estimate' "$f"
}
# Half-width of the 95% confidence interval of the mean, in ns.
half_ci() {
    local f="$crit/$1/$2/new/estimates.json"
    [[ -f $f ]] && jq -r '(.mean.confidence_interval.upper_bound - .mean.confidence_interval.lower_bound) / 2' "$f"
}
# A duration in ns, in a readable unit.
fmt() {
    [[ -z ${1:-} ]] && { printf 'n/a'; return; }
    awk -v t="$1" 'BEGIN {
        if (t < 1000) printf "%.0f ns", t;
        else if (t < 1e6) printf "%.2f µs", t / 1e3;
        else printf "%.3f ms", t / 1e6;
    }'
}
ratio() {
    [[ -z ${1:-} || -z ${2:-} ]] && { printf 'n/a'; return; }
    awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'
}

cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')
echo "## Results"
echo
echo "- Command: \`cargo bench -p tokengate --bench jwt${bench_args:+ -- ${bench_args[*]}}\` (via \`scripts/bench-report.sh\`)"
echo "- Machine: $(nproc) CPUs, ${cpu:-unknown CPU} ($(uname -sm)), $(rustc --version)"
echo "- Load average (1/5/15 min) before: $load_before; after: $load_after"
echo "- Criterion: warm-up 1 s, measurement 3 s, 50 samples; mean point estimates, ± is half the 95% CI of the mean"
echo
echo "| Algorithm | verify | ± | bare signature | ± | verify / bare | ≤ 1.1x | sign | bare sign | sign / bare sign |"
echo "|---|---:|---:|---:|---:|---:|:---:|---:|---:|---:|"

met_ratio=0
missed_ratio=()
for alg in HS256 HS384 HS512 RS256 RS384 RS512 PS256 ES256 ES384 EdDSA; do
    v=$(mean "$alg" verify || true)
    b=$(mean "$alg" bare_signature || true)
    s=$(mean "$alg" sign || true)
    bs=$(mean "$alg" bare_sign || true)
    [[ -z $v && -z $s ]] && continue
    r=$(ratio "$v" "$b")
    ok='n/a'
    if [[ $r != n/a ]]; then
        if awk -v r="$r" 'BEGIN { exit !(r <= 1.1) }'; then
            ok='yes'
            met_ratio=$((met_ratio + 1))
        else
            ok='**no**'
            missed_ratio+=("$alg ($r x)")
        fi
    fi
    printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n' \
        "$alg" "$(fmt "$v")" "$(fmt "$(half_ci "$alg" verify || true)")" \
        "$(fmt "$b")" "$(fmt "$(half_ci "$alg" bare_signature || true)")" \
        "$r" "$ok" "$(fmt "$s")" "$(fmt "$bs")" "$(ratio "$s" "$bs")"
done

echo
echo "### Targets"
echo
if [[ ${#missed_ratio[@]} -eq 0 ]]; then
    echo "- verify ≤ 1.1x bare signature check: **met** for all $met_ratio algorithms measured."
else
    echo "- verify ≤ 1.1x bare signature check: **not met** for ${#missed_ratio[@]} algorithm(s): ${missed_ratio[*]}; met for $met_ratio."
fi
hs=$(mean HS256 verify || true)
if [[ -n $hs ]]; then
    if awk -v t="$hs" 'BEGIN { exit !(t < 2000) }'; then
        echo "- HS256 verify < 2 µs: **met** ($(fmt "$hs"))."
    else
        echo "- HS256 verify < 2 µs: **not met** ($(fmt "$hs"))."
    fi
fi

if [[ -d $crit/HS256_profile ]]; then
    echo
    echo "### HS256 verification, step by step (\`HS256_profile\` group)"
    echo
    echo "| Step | mean | ± | share of HS256 verify |"
    echo "|---|---:|---:|---:|"
    for step in engine_verify_signature split_b64_header_sig header_json_strict header_rules \
        hmac_verify payload_b64 payload_json_strict payload_json_plain_map claims_from_map \
        clock_now drop_payload_map alt_header_payload_typed_borrowed; do
        m=$(mean HS256_profile "$step" || true)
        [[ -z $m ]] && continue
        share='n/a'
        [[ -n $hs ]] && share=$(awk -v a="$m" -v b="$hs" 'BEGIN { printf "%.0f %%", 100 * a / b }')
        printf '| %s | %s | %s | %s |\n' "$step" "$(fmt "$m")" \
            "$(fmt "$(half_ci HS256_profile "$step" || true)")" "$share"
    done
fi
