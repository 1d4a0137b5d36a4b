#!/usr/bin/env bash
# Runs every test of the workspace: unit, integration, black-box and doc tests.
# Self-sufficient on a fresh machine: it starts what the tests need.
set -euo pipefail
cd "$(dirname "$0")/.."

# The builds below (tests, release, fuzzing) take about 12 GB of disk: say
# so at once rather than fail deep in a build with "No space left on device".
free_kb=$(df -Pk . | awk 'NR == 2 { print $4 }')
if [ "${free_kb:-0}" -lt $((15 * 1024 * 1024)) ]; then
  echo "warning: $((free_kb / 1024)) MB free on this disk; the test run needs about 12 GB" >&2
fi

# PostgreSQL and Redis: started if down (later suites need them; cheap to check).
if command -v pg_ctlcluster >/dev/null 2>&1 && ! pg_isready -h 127.0.0.1 -q 2>/dev/null; then
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql)" main start || true
fi
if command -v redis-server >/dev/null 2>&1 && ! redis-cli -h 127.0.0.1 ping >/dev/null 2>&1; then
  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no || true
fi

# The Python interop tests make their own virtualenv; they need python3 with venv.
command -v python3 >/dev/null || { echo "python3 is required for the interop tests" >&2; exit 1; }

# The trusted-issuer (and OIDC) tests run a real OpenID Provider on Node:
# install its locked dependencies when missing or older than the lockfile
# (npm writes node_modules/.package-lock.json at every install).
oidc=testing/oidc-provider
if [ ! -f "$oidc/node_modules/.package-lock.json" ] \
  || [ "$oidc/package-lock.json" -nt "$oidc/node_modules/.package-lock.json" ]; then
  npm ci --prefix "$oidc" --no-audit --no-fund \
    || { echo "npm ci in $oidc failed: the OIDC provider tests need it (Node 20+, npm)" >&2; exit 1; }
fi

# The demo page's browser test drives Debian's chromium through playwright-core.
./scripts/install-chromium.sh
./scripts/install-proxies.sh
browser=testing/browser
if [ ! -f "$browser/node_modules/.package-lock.json" ] \
  || [ "$browser/package-lock.json" -nt "$browser/node_modules/.package-lock.json" ]; then
  npm ci --prefix "$browser" --no-audit --no-fund \
    || { echo "npm ci in $browser failed: the browser test needs it (Node 20+, npm)" >&2; exit 1; }
fi

# One build shared by every suite; two cores, so no more than two test threads.
cargo build --workspace --all-targets --locked
# The release build, once: the Debian package (its test unpacks and runs
# it) and the benchmarks use it. Installs cargo-deb when missing.
./scripts/package.sh >/dev/null
cargo nextest run --workspace --locked --test-threads 2
# The service's black-box tests again, each on a fresh PostgreSQL database
# (the cluster tests always use PostgreSQL and Redis; the proxy's own tests
# and the package's use neither: they ran above).
# --workspace with a filter reuses the build above (one package alone would
# resolve features anew and rebuild).
TOKENGATE_TEST_DATABASE=postgres cargo nextest run --workspace --locked --test-threads 2 \
  -E 'binary(service) and not (test(/^cluster::/) | test(/^dpop::cluster_/) | test(/^proxy::/) | test(/^browser_demo::/) | test(/^package::/))'
cargo test --workspace --doc --locked

# Hardening. The dependency audit: licenses, bans (one crypto
# backend) and sources always; advisories only where the RustSec database
# (a git repository on GitHub) can be fetched, which this machine cannot.
if ! cargo deny --version >/dev/null 2>&1; then
  cargo install cargo-deny --version 0.20.2 --locked
fi
cargo deny --workspace check licenses bans sources
if timeout 120 cargo deny fetch db >/dev/null 2>&1; then
  cargo deny --workspace check advisories
else
  echo "cargo deny: the RustSec advisory database could not be fetched (github.com is out of reach): advisories NOT checked" >&2
fi
# Coverage-guided fuzzing, bounded: every target for a minute over its corpus.
./scripts/fuzz.sh --time "${TOKENGATE_FUZZ_SECONDS:-60}"
