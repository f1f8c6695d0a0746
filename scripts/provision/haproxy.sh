#!/usr/bin/env bash
# HAProxy: the load balancer of the multi-instance suite (scripts/suites/multi.sh), from
# Debian's package. Idempotent: does nothing when `haproxy` is already installed. The suite
# runs its own haproxy process on loopback ports; the package's system service is not used.
set -euo pipefail
if command -v haproxy >/dev/null 2>&1; then
  exit 0
fi
echo "provision: installing haproxy (Debian package)"
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
if ! $sudo apt-get -o DPkg::Lock::Timeout=600 install -y --no-install-recommends haproxy; then
  $sudo apt-get -o DPkg::Lock::Timeout=600 update
  $sudo apt-get -o DPkg::Lock::Timeout=600 install -y --no-install-recommends haproxy
fi
command -v haproxy >/dev/null
