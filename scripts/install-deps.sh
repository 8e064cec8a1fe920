#!/usr/bin/env bash
# install-deps.sh [PACKAGE...] - installs what supportpulse needs to build, run and test,
# from Debian's packages, plus any PACKAGE named (scripts/leakcheck.sh adds valgrind).
# Skips apt entirely when everything is already there; otherwise needs root.
set -euo pipefail

packages=(build-essential cmake pkg-config librdkafka-dev libjansson-dev libyajl-dev
          libhiredis-dev libcriterion-dev redis-server redis-tools procps libcurl4-openssl-dev
          libmicrohttpd-dev libssl-dev openssl libutf8proc-dev tzdata "$@")

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
  echo "install-deps: missing ${missing[*]}; run as root (or install them) first" >&2
  exit 1
fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --no-install-recommends "${missing[@]}"
