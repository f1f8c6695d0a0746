#!/usr/bin/env bash
# schemathesis 4: property-based API conformance against /api/openapi.json
# (scripts/suites/conformance.sh). Installed into its own venv under $SESSIOND_TEST_TOOLS
# (default target/test-tools), apart from moto's, so neither pins the other's dependencies.
# Idempotent: does nothing when the pinned major version is already there.
set -euo pipefail
cd "$(dirname "$0")/../.."
tools=${SESSIOND_TEST_TOOLS:-$PWD/target/test-tools}
venv="$tools/schemathesis"
if [ -x "$venv/bin/st" ] && "$venv/bin/st" --version 2>/dev/null | grep -q 'version 4\.'; then
  exit 0
fi
echo "provision: installing schemathesis 4 into $venv"
mkdir -p "$tools"
python3 -m venv "$venv"
"$venv/bin/pip" install --quiet --upgrade pip
"$venv/bin/pip" install --quiet 'schemathesis>=4.1,<5'
"$venv/bin/st" --version
