#!/usr/bin/env bash
# Test tool: aiosmtpd (a real SMTP server on loopback that stores mail in a Maildir), used by the
# alert/email tests. Idempotent: creates the shared venv at $SESSIOND_TEST_TOOLS/venv only if it
# does not exist (other provisioning scripts add their own packages to the same venv) and
# installs aiosmtpd only if it is missing.
set -euo pipefail
cd "$(dirname "$0")/../.."
tools=${SESSIOND_TEST_TOOLS:-$PWD/target/test-tools}
venv=$tools/venv
mkdir -p "$tools"
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
fi
if ! "$venv/bin/python" -c 'import aiosmtpd' >/dev/null 2>&1; then
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check 'aiosmtpd>=1.4,<2'
fi
echo "aiosmtpd: $("$venv/bin/python" -c 'import aiosmtpd; print(aiosmtpd.__version__)') in $venv"
