#!/usr/bin/env bash
# Runs the tokengate JWT benchmarks and prints a markdown report on stdout
# (the benchmark's own output goes to stderr).
#
#   scripts/bench-report.sh                 # build and run `cargo bench -p tokengate --bench jwt` once, then report
#   scripts/bench-report.sh --runs 3        # build once, run 3 times; report the median of the 3 means
#   scripts/bench-report.sh --no-run        # report on the results already in target/criterion
#   scripts/bench-report.sh -- HS256        # extra arguments go to the bench binary (a filter here)
#
# Each number is criterion's mean point estimate (<group>/<bench>/new/estimates.json);
# with several runs, the median of the runs' means. The "spread" columns are
# half the 95% confidence interval of the mean (one run) or min-max over the
# runs (several runs).
#
# Targets checked: verify at most 1.1x the bare aws-lc-rs signature check for
# every algorithm; HS256 verification of a typical access token under 2 µs.
set -euo pipefail

cd "$(dirname "$0")/.."

run=1
runs=1
bench_args=()
while [[ $# -gt 0 ]]; do
    case "$1" in
        --no-run) run=0 ;;
        --runs) runs="$2"; shift ;;
        --) shift; bench_args=("$@"); break ;;
        -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
        *) echo "unknown argument: $1" >&2; exit 2 ;;
    esac
    shift
done
[[ $runs =~ ^[1-9][0-9]*$ ]] || { echo "--runs needs a positive number" >&2; exit 2; }
[[ $run == 1 ]] || runs=1

command -v jq >/dev/null || { echo "bench-report.sh needs jq" >&2; exit 1; }

algorithms=(HS256 HS384 HS512 RS256 RS384 RS512 PS256 PS384 PS512 ES256 ES384 ES512 EdDSA)
profile_steps=(engine_verify_signature split_b64_header_sig header_scan_rules hmac_verify
    payload_b64 payload_scan payload_scan_claims clock_now drop_verified_token
    alt_tree_header_payload alt_typed_borrowed_header_payload)

target_dir=$(cargo metadata --format-version 1 --no-deps | jq -r .target_directory)
crit="$target_dir/criterion"
snap=$(mktemp -d)
trap 'rm -rf "$snap"' EXIT

# Copies this run's estimates to $snap/<run>/<group>/<bench>.json.
snapshot() {
    local dir="$snap/$1" group bench f
    for group in "${algorithms[@]}" HS256_profile; do
        for f in "$crit/$group"/*/new/estimates.json; do
            [[ -f $f ]] || continue
            bench=$(basename "$(dirname "$(dirname "$f")")")
            mkdir -p "$dir/$group"
            cp "$f" "$dir/$group/$bench.json"
        done
    done
}

load_before=$(cut -d' ' -f1-3 /proc/loadavg)
load_max=''
started=$(date -u +%Y-%m-%dT%H:%MZ)
if [[ $run == 1 ]]; then
    # Build once, so every run measures the same code even while src/ changes.
    exe=$(cargo bench -p tokengate --bench jwt --no-run --message-format=json |
        jq -r 'select(.reason == "compiler-artifact" and .target.name == "jwt" and .executable != null) | .executable')
    [[ -x $exe ]] || { echo "could not build the jwt bench" >&2; exit 1; }
    built="$(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
    changed=$(git status --porcelain -- crates/tokengate/src 2>/dev/null | wc -l)
    [[ $changed == 0 ]] || built="$built + $changed uncommitted change(s) in crates/tokengate/src"
    # Other work on the machine skews the numbers: sample the load meanwhile.
    samples="$snap/load"
    (while sleep 5; do cut -d' ' -f1 /proc/loadavg; done) >"$samples" &
    sampler=$!
    for ((i = 1; i <= runs; i++)); do
        echo "== run $i of $runs" >&2
        status=0
        # As `cargo bench` runs it: from the package directory, with --bench.
        (cd crates/tokengate && CRITERION_HOME="$crit" "$exe" --bench "${bench_args[@]}") >&2 || status=$?
        if [[ $status != 0 ]]; then
            kill "$sampler" 2>/dev/null || true
            exit "$status"
        fi
        snapshot "$i"
    done
    kill "$sampler" 2>/dev/null || true
    wait "$sampler" 2>/dev/null || true
    load_max=$(sort -g "$samples" | tail -1)
else
    snapshot 1
fi
load_after=$(cut -d' ' -f1-3 /proc/loadavg)

# The runs' means of <group> <bench>, in ns, one a line, sorted.
means() {
    local f
    for f in "$snap"/*/"$1/$2.json"; do
        if [[ -f $f ]]; then jq -r '.mean.point_estimate' "$f"; fi
    done | sort -g
}
# The median of the runs' means, or nothing when the benchmark has no result.
value() {
    means "$1" "$2" | awk '{ v[NR] = $1 } END {
        if (NR == 0) exit;
        if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2;
    }'
}
# Half the 95% CI of the mean (one run), or min-max over the runs.
spread() {
    if [[ $runs == 1 ]]; then
        local f="$snap/1/$1/$2.json"
        [[ -f $f ]] || { printf 'n/a'; return; }
        printf '± %s' "$(fmt "$(jq -r '(.mean.confidence_interval.upper_bound - .mean.confidence_interval.lower_bound) / 2' "$f")")"
    else
        local all
        all=$(means "$1" "$2")
        [[ -n $all ]] || { printf 'n/a'; return; }
        printf '%s – %s' "$(fmt "$(head -1 <<<"$all")")" "$(fmt "$(tail -1 <<<"$all")")"
    fi
}
# A duration in ns, in a readable unit.
fmt() {
    [[ -n ${1:-} ]] || { printf 'n/a'; return; }
    awk -v t="$1" 'BEGIN {
        if (t < 1000) printf "%.0f ns", t;
        else if (t < 1e6) printf "%.2f µs", t / 1e3;
        else printf "%.3f ms", t / 1e6;
    }'
}
# The spread of verify_ratio_x1000, as ratios.
ratio_spread() {
    if [[ $runs == 1 ]]; then
        local f="$snap/1/$1/verify_ratio_x1000.json"
        [[ -f $f ]] || { printf 'n/a'; return; }
        jq -r '"± " + ((.mean.confidence_interval.upper_bound - .mean.confidence_interval.lower_bound) / 2000 * 100 | round / 100 | tostring)' "$f"
    else
        local all
        all=$(means "$1" verify_ratio_x1000)
        [[ -n $all ]] || { printf 'n/a'; return; }
        awk -v lo="$(head -1 <<<"$all")" -v hi="$(tail -1 <<<"$all")" 'BEGIN { printf "%.2f – %.2f", lo / 1000, hi / 1000 }'
    fi
}
ratio() {
    [[ -n ${1:-} && -n ${2:-} ]] || { printf 'n/a'; return; }
    awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'
}

cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')
how="the median of $runs runs' means; spread: min – max over the runs"
[[ $runs == 1 ]] && how="one run's means; spread: ± half the 95% confidence interval of the mean"
echo "## Results"
echo
if [[ $run == 1 ]]; then
    echo "- Command: \`scripts/bench-report.sh --runs $runs${bench_args[*]:+ -- ${bench_args[*]}}\`: builds \`cargo bench -p tokengate --bench jwt\` once, runs it $runs time(s); started $started"
    echo "- Code measured: $built"
else
    echo "- Results already in $crit (\`scripts/bench-report.sh --no-run\`)"
fi
echo "- Machine: $(nproc) CPUs, ${cpu:-unknown CPU} ($(uname -sm)), $(rustc --version)"
echo "- Load average (1/5/15 min) before: $load_before; after: $load_after${load_max:+; highest 1-min load sampled during the runs: $load_max}"
echo "- Criterion: warm-up 1 s, measurement 3 s, 50 samples. Numbers: $how"
echo
echo "verify / bare: from \`verify_ratio_x1000\`, where verify and the bare check are timed in alternating chunks of about 5 µs within each sample; this is the ratio the 1.1x target is judged on. \"plain ratio\" divides the two separate benchmarks' means, which were taken seconds apart."
echo
echo "| Algorithm | verify | spread | bare signature | spread | verify / bare | spread | ≤ 1.1x | plain ratio | sign | bare sign | sign / bare sign |"
echo "|---|---:|---:|---:|---:|---:|---:|:---:|---:|---:|---:|---:|"

met_ratio=0
missed_ratio=()
for alg in "${algorithms[@]}"; do
    v=$(value "$alg" verify)
    b=$(value "$alg" bare_signature)
    x=$(value "$alg" verify_ratio_x1000)
    s=$(value "$alg" sign)
    bs=$(value "$alg" bare_sign)
    [[ -n $v || -n $s ]] || continue
    plain=$(ratio "$v" "$b")
    r=$plain
    [[ -n $x ]] && r=$(awk -v x="$x" 'BEGIN { printf "%.2f", x / 1000 }')
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
    printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n' \
        "$alg" "$(fmt "$v")" "$(spread "$alg" verify)" "$(fmt "$b")" "$(spread "$alg" bare_signature)" \
        "$r" "$(ratio_spread "$alg")" "$ok" "$plain" \
        "$(fmt "$s")" "$(fmt "$bs")" "$(ratio "$s" "$bs")"
done

echo
echo "### Targets"
echo
if [[ ${#missed_ratio[@]} -eq 0 ]]; then
    echo "- verify ≤ 1.1x bare signature check: **met** for all $met_ratio algorithms measured."
else
    joined=$(printf '%s, ' "${missed_ratio[@]}")
    echo "- verify ≤ 1.1x bare signature check: **not met** for ${#missed_ratio[@]} algorithm(s): ${joined%, }; met for $met_ratio."
fi
hs=$(value HS256 verify)
if [[ -n $hs ]]; then
    if awk -v t="$hs" 'BEGIN { exit !(t < 2000) }'; then
        echo "- HS256 verify < 2 µs: **met** ($(fmt "$hs"))."
    else
        echo "- HS256 verify < 2 µs: **not met** ($(fmt "$hs"))."
    fi
fi

if compgen -G "$snap/*/HS256_profile/*.json" >/dev/null; then
    echo
    echo "### HS256 verification, step by step (\`HS256_profile\` group)"
    echo
    echo "| Step | time | spread | vs HS256 verify |"
    echo "|---|---:|---:|---:|"
    for step in "${profile_steps[@]}"; do
        m=$(value HS256_profile "$step")
        [[ -n $m ]] || continue
        share='n/a'
        [[ -n $hs ]] && share=$(awk -v a="$m" -v b="$hs" 'BEGIN { printf "%.0f %%", 100 * a / b }')
        printf '| %s | %s | %s | %s |\n' "$step" "$(fmt "$m")" "$(spread HS256_profile "$step")" "$share"
    done
fi
