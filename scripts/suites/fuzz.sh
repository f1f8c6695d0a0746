#!/usr/bin/env bash
# Fuzz smoke runs: every cargo-fuzz target in fuzz/ (scripts/provision/cargo-fuzz.sh installs
# cargo-fuzz; the targets need the nightly toolchain) built in one invocation, then each run for
# $FUZZ_SECONDS (default 10) seconds from its committed seed corpus (fuzz/seeds/<target>) into a
# scratch corpus. A crash, leak, timeout or out-of-memory fails the suite; the input is kept in
# fuzz/artifacts/<target>/. Long runs: README "Fuzzing".
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
tools=${SESSIOND_TEST_TOOLS:-$root/target/test-tools}
export PATH="$tools/cargo/bin:$PATH"
secs=${FUZZ_SECONDS:-10}

if ! command -v cargo-fuzz >/dev/null; then
  echo "fuzz: cargo-fuzz missing (run scripts/provision/cargo-fuzz.sh)" >&2
  exit 1
fi
if ! rustup run nightly rustc --version >/dev/null 2>&1; then
  echo "fuzz: the nightly toolchain is missing (rustup toolchain install nightly)" >&2
  exit 1
fi

cd fuzz
started=$SECONDS
echo "fuzz: building every target"
# No sanitizer: sessiond's crates forbid `unsafe`, so AddressSanitizer would only watch the
# dependencies, and it costs half again as much build time (README "Fuzzing" runs long ones with it).
timeout 900 cargo +nightly fuzz build --sanitizer none
echo "fuzz: built in $((SECONDS - started))s"

scratch=$(mktemp -d "${TMPDIR:-/tmp}/sessiond-fuzz.XXXXXX")
trap 'rm -rf "$scratch"' EXIT
failed=0
for target in $(cargo +nightly fuzz list); do
  mkdir -p "$scratch/$target"
  log="$scratch/$target.log"
  if timeout $((secs + 60)) cargo +nightly fuzz run --sanitizer none "$target" "$scratch/$target" "seeds/$target" -- \
      -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 >"$log" 2>&1; then
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n1)
    echo "fuzz: $target ok (${runs:-?} runs in ${secs}s)"
  else
    failed=1
    echo "fuzz: $target FAILED" >&2
    tail -n 60 "$log" >&2
  fi
done
echo "fuzz: suite took $((SECONDS - started))s"
if [ "$failed" -ne 0 ]; then
  echo "fuzz: FAILED (inputs in fuzz/artifacts/)" >&2
  exit 1
fi
echo "fuzz: OK"
