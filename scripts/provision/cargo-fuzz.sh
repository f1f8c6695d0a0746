#!/usr/bin/env bash
# cargo-fuzz (libFuzzer targets in fuzz/, run by scripts/suites/fuzz.sh), installed with
# `cargo install --locked` into $SESSIOND_TEST_TOOLS/cargo (default target/test-tools/cargo).
# The targets build with the nightly toolchain (`cargo +nightly fuzz`), which must be installed
# (`rustup toolchain install nightly`); with CI=true a missing nightly is a failure.
# Idempotent: does nothing when the pinned version is already there.
set -euo pipefail
cd "$(dirname "$0")/../.."
tools=${SESSIOND_TEST_TOOLS:-$PWD/target/test-tools}
root="$tools/cargo"
version=0.13.2
if ! rustup run nightly rustc --version >/dev/null 2>&1; then
  if [ "${CI:-}" = "true" ]; then
    echo "provision: installing the nightly toolchain for the fuzz targets"
    rustup toolchain install nightly --profile minimal
  else
    echo "provision: no nightly toolchain; the fuzz suite needs it (rustup toolchain install nightly)" >&2
  fi
fi
if [ -x "$root/bin/cargo-fuzz" ] && "$root/bin/cargo-fuzz" --version 2>/dev/null | grep -q " $version"; then
  exit 0
fi
echo "provision: installing cargo-fuzz $version into $root"
cargo install --locked --quiet --root "$root" --version "$version" cargo-fuzz
"$root/bin/cargo-fuzz" --version
