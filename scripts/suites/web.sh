#!/usr/bin/env bash
# The web client (clients/web, issue 18): build every package and the demo (with the OpenAPI
# drift check and the bundle-size budget), type check, Vitest unit tests of @sessiond/client
# against a real sessiond, and the React demo end to end in real Chromium. Node dependencies and
# Chromium come from scripts/provision/{web,chromium}.sh. Every step is bounded by `timeout`.
set -uo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
out=$root/target/web-suite
mkdir -p "$out"
started=$(date +%s)
passed=0
failed=0
ok() { passed=$((passed + ${1:-1})); }
bad() { failed=$((failed + ${1:-1})); echo "FAILED: $2"; }

# The daemon and console binaries the tests drive, as test-all's `cargo test` built them (a
# no-op after it; built alone, `cargo build --bin …` resolves other dependency features and
# rebuilds them: see conformance.sh).
echo "-- cargo test --no-run (target/debug/sessiond and sessionctl)"
if ! timeout 1200 cargo test --quiet --workspace --all-targets --no-run; then
  bad 1 "cargo build"
  echo "$passed passed, $failed failed"
  exit 1
fi

cd clients/web
echo "-- npm run build (OpenAPI drift check, packages, demo, bundle size)"
if timeout 300 npm run --silent build; then ok; else bad 1 "npm run build"; fi

echo "-- typecheck"
if timeout 300 npm run --silent typecheck; then ok; else bad 1 "typecheck"; fi

echo "-- unit tests (Vitest, real sessiond)"
rm -f "$out/vitest.json"
timeout 300 npx vitest run --root packages/client --reporter=default --reporter=json --outputFile="$out/vitest.json"
unit_rc=$?
if [ -f "$out/vitest.json" ]; then
  read -r up uf < <(node -e 'const r=require(process.argv[1]);console.log(r.numPassedTests, r.numFailedTests)' "$out/vitest.json")
  ok "$up"
  [ "$uf" -gt 0 ] && bad "$uf" "unit tests"
  [ "$unit_rc" -ne 0 ] && [ "$uf" -eq 0 ] && bad 1 "vitest exited $unit_rc"
else
  bad 1 "vitest produced no report (exit $unit_rc)"
fi

echo "-- end to end (Chromium, real sessiond)"
e2e_started=$(date +%s)
timeout 420 node --test --test-concurrency=1 --test-reporter=spec --test-reporter-destination=stdout \
  --test-reporter=tap --test-reporter-destination="$out/e2e.tap" e2e/
e2e_rc=$?
echo "e2e took $(( $(date +%s) - e2e_started )) s"
if [ -f "$out/e2e.tap" ]; then
  ep=$(grep -E '^# pass ' "$out/e2e.tap" | awk '{print $3}')
  ef=$(grep -E '^# fail ' "$out/e2e.tap" | awk '{print $3}')
  ok "${ep:-0}"
  [ "${ef:-0}" -gt 0 ] && bad "$ef" "e2e tests"
  [ "$e2e_rc" -ne 0 ] && [ "${ef:-0}" -eq 0 ] && bad 1 "e2e exited $e2e_rc"
else
  bad 1 "e2e produced no report (exit $e2e_rc)"
fi

echo "web suite: $(( $(date +%s) - started )) s"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
