#!/usr/bin/env bash
# Installs Debian's chromium when /usr/bin/chromium is missing: the browser
# test (crates/tokengate-server/tests/service/browser_demo.rs) drives it
# headless through playwright-core. Never downloads a browser of its own.
set -euo pipefail

if [ -x /usr/bin/chromium ]; then
  exit 0
fi
echo "installing chromium (apt-get) for the browser test" >&2
sudo=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "chromium is missing and this is not root: run as root or install sudo" >&2; exit 1; }
  sudo="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update \
  || { echo "apt-get update failed: cannot install chromium" >&2; exit 1; }
$sudo apt-get install -y --no-install-recommends chromium \
  || { echo "apt-get install chromium failed: the browser test needs /usr/bin/chromium" >&2; exit 1; }
[ -x /usr/bin/chromium ] || { echo "chromium installed but /usr/bin/chromium is missing" >&2; exit 1; }
