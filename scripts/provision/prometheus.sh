#!/usr/bin/env bash
# promtool (Debian's `prometheus` package): the multi-instance suite checks the alert rules in
# deploy/prometheus/ with `promtool check rules`. Idempotent: does nothing when `promtool` is
# already installed. The package's prometheus service is not used by any test.
set -euo pipefail
if command -v promtool >/dev/null 2>&1; then
  exit 0
fi
echo "provision: installing promtool (Debian package prometheus)"
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
if ! $sudo apt-get -o DPkg::Lock::Timeout=600 install -y --no-install-recommends prometheus; then
  $sudo apt-get -o DPkg::Lock::Timeout=600 update
  $sudo apt-get -o DPkg::Lock::Timeout=600 install -y --no-install-recommends prometheus
fi
command -v promtool >/dev/null
