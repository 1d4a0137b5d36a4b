#!/usr/bin/env bash
# Installs Debian's nginx (nginx-light) and Caddy when `nginx` or `caddy` is
# missing: the forward-auth tests (crates/tokengate-server/tests/service/
# forward_auth.rs) run them in front of tokengate with the configs shipped
# in deploy/. Never downloads a proxy of its own.
set -euo pipefail

# nginx is in /usr/sbin, which a non-root PATH may lack.
have() {
  command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ]
}

packages=()
have nginx || packages+=(nginx-light)
have caddy || packages+=(caddy)
if [ "${#packages[@]}" -eq 0 ]; then
  exit 0
fi
echo "installing ${packages[*]} (apt-get) for the forward-auth tests" >&2
command -v apt-get >/dev/null \
  || { echo "apt-get is missing: install nginx (with auth_request) and caddy yourself" >&2; exit 1; }
sudo=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "${packages[*]} missing and this is not root: run as root or install sudo" >&2; exit 1; }
  sudo="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update \
  || { echo "apt-get update failed: cannot install ${packages[*]}" >&2; exit 1; }
$sudo apt-get install -y --no-install-recommends "${packages[@]}" \
  || { echo "apt-get install ${packages[*]} failed: the forward-auth tests need nginx and caddy" >&2; exit 1; }
have nginx || { echo "nginx-light installed but nginx is missing" >&2; exit 1; }
have caddy || { echo "caddy installed but caddy is missing" >&2; exit 1; }
