#!/usr/bin/env bash
# The web client's Node dependencies (clients/web, npm workspace): `npm ci` from the committed
# lockfile, only when the lockfile changed since the last install (its hash is kept next to
# node_modules, which is gitignored). Also the sqlite3 command-line tool, which the client's unit
# tests use to take a table away from a running daemon (a real 503). Idempotent.
set -euo pipefail
. "$(dirname "$0")/lib/debian.sh"
cd "$(dirname "$0")/../../clients/web"

if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  echo "web: node and npm are required (Node >= 20.19)" >&2
  exit 1
fi

debian_install sqlite3 sqlite3

hash=$(sha256sum package-lock.json | cut -d' ' -f1)
stamp=node_modules/.sessiond-lock-hash
if [ -d node_modules ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$hash" ]; then
  exit 0
fi
echo "web: npm ci (lockfile changed)"
npm ci --no-audit --no-fund --loglevel=error
echo "$hash" > "$stamp"
