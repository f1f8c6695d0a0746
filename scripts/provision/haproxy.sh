#!/usr/bin/env bash
# HAProxy: the load balancer of the multi-instance suite (scripts/suites/multi.sh), from
# Debian's package. Idempotent. The suite runs its own haproxy process on loopback ports; the
# package's system service is not used.
set -euo pipefail
. "$(dirname "$0")/lib/debian.sh"
debian_install haproxy haproxy
