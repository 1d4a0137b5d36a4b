#!/usr/bin/env bash
# Builds the Debian package of the service:
# target/debian/tokengate_<version>-1_<arch>.deb, its path printed on stdout.
#
#   scripts/package.sh              release build, man page, completions, package
#   scripts/package.sh --no-build   package the release binary already built
#
# The release build is the one scripts/bench-*.sh use (same package, same
# features), so neither builds it twice. cargo-deb is installed (from
# crates.io) when missing. What goes into the package:
# [package.metadata.deb] in crates/tokengate-server/Cargo.toml, and
# deploy/debian/ (the config, the systemd unit, the postinst).
set -euo pipefail
cd "$(dirname "$0")/.."

build=1
case "${1:-}" in
    "") ;;
    --no-build) build=0 ;;
    -h|--help) sed -n '2,/^set -euo/{/^set -euo/d;p}' "$0"; exit 0 ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
esac

cargo_deb_version=3.8.0
if ! cargo deb --version 2>/dev/null | grep -qF "$cargo_deb_version"; then
    echo "[package] installing cargo-deb $cargo_deb_version" >&2
    cargo install cargo-deb --version "$cargo_deb_version" --locked
fi

if [[ $build == 1 ]]; then
    cargo build --release --locked -p tokengate-server --bin tokengate
fi
target_dir=$(cargo metadata --format-version 1 --no-deps --locked \
    | python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
bin="$target_dir/release/tokengate"
[[ -x $bin ]] || { echo "missing $bin (run without --no-build)" >&2; exit 1; }

# The generated assets: what the binary says of itself, so always current.
dist="$target_dir/release/dist"
mkdir -p "$dist"
"$bin" man | gzip -9n > "$dist/tokengate.1.gz"
"$bin" completions bash > "$dist/tokengate.bash"
"$bin" completions zsh > "$dist/_tokengate"
"$bin" completions fish > "$dist/tokengate.fish"

out="$target_dir/debian"
rm -f "$out"/tokengate_*.deb
cargo deb --no-build --locked -p tokengate-server --output "$out/" >&2
deb=$(ls "$out"/tokengate_*.deb)
echo "$deb"
