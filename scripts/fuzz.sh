#!/usr/bin/env bash
# Builds the fuzz targets of fuzz/ on the stable toolchain and runs each for
# a bounded time over its corpus. It does what `cargo fuzz build -s none`
# does, without cargo-fuzz or a nightly compiler: SanitizerCoverage through
# stable codegen flags, libFuzzer from the libfuzzer-sys crate.
#
#   scripts/fuzz.sh                 every target, 60 s each
#   scripts/fuzz.sh --time 600 token
#
# A crash stops the run with libFuzzer's report and leaves the input in
# target/fuzz/artifacts/<target>/; reproduce with
# target/fuzz/x86_64-unknown-linux-gnu/release/<target> <file>.
# New inputs that add coverage go to target/fuzz/corpus/<target> (a copy);
# `--keep` merges them into fuzz/corpus/<target>, to be committed.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=60
keep=false
targets=()
while [ $# -gt 0 ]; do
  case "$1" in
    --time) seconds="$2"; shift 2 ;;
    --keep) keep=true; shift ;;
    -*) echo "unknown option $1" >&2; exit 2 ;;
    *) targets+=("$1"); shift ;;
  esac
done
if [ ${#targets[@]} -eq 0 ]; then
  targets=(token authorization_header cookies jwks json_bodies)
fi

triple="$(rustc -vV | sed -n 's/^host: //p')"
out=target/fuzz
# Only the fuzz build gets these flags (its own target directory), and only
# the target's code (--target keeps build scripts and proc macros plain).
export RUSTFLAGS="-Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 \
-Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table \
-Cllvm-args=-sanitizer-coverage-trace-compares --cfg fuzzing -Cdebug-assertions -Coverflow-checks"
cargo build --manifest-path fuzz/Cargo.toml --locked --release \
  --target "$triple" --target-dir "$out" --bins

for target in "${targets[@]}"; do
  corpus="$out/corpus/$target"
  artifacts="$out/artifacts/$target"
  rm -rf "$corpus"
  mkdir -p "$corpus" "$artifacts"
  cp -r "fuzz/corpus/$target/." "$corpus/" 2>/dev/null || true
  log="$out/$target.log"
  echo "fuzz: $target for ${seconds}s (corpus $(ls "$corpus" | wc -l) inputs)"
  # One process, bounded in time, memory per process and input length;
  # -timeout turns a hang on one input into a failure.
  if ! "$out/$triple/release/$target" "$corpus" \
      -max_total_time="$seconds" -rss_limit_mb=2048 -malloc_limit_mb=256 \
      -timeout=10 -print_final_stats=1 \
      -artifact_prefix="$artifacts/" >"$log" 2>&1; then
    tail -n 60 "$log" >&2
    echo "fuzz: $target FAILED (input in $artifacts/)" >&2
    exit 1
  fi
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  echo "fuzz: $target ok, ${runs:-?} executions, corpus $(ls "$corpus" | wc -l) inputs"
  if $keep; then
    mkdir -p "fuzz/corpus/$target"
    "$out/$triple/release/$target" -merge=1 "fuzz/corpus/$target" "$corpus" \
      >>"$log" 2>&1
  fi
done
