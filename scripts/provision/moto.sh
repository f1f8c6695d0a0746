#!/usr/bin/env bash
# moto: an S3-compatible server the upload tests start on loopback (tests/src/s3.rs). Installed
# into a venv under $SESSIOND_TEST_TOOLS (default target/test-tools). Idempotent: does nothing
# when `moto_server` is already there.
set -euo pipefail
cd "$(dirname "$0")/../.."
tools=${SESSIOND_TEST_TOOLS:-$PWD/target/test-tools}
venv="$tools/venv"
if [ -x "$venv/bin/moto_server" ]; then
  exit 0
fi
echo "provision: installing moto[server] into $venv"
mkdir -p "$tools"
python3 -m venv "$venv"
"$venv/bin/pip" install --quiet --upgrade pip
"$venv/bin/pip" install --quiet 'moto[server]'
test -x "$venv/bin/moto_server"
