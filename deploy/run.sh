#!/usr/bin/env bash
# One command to set up and run LocalZure: installs the Debian packages, builds, and starts the
# broker in the foreground on LOCALZURE_HTTP_HOST:LOCALZURE_HTTP_PORT (127.0.0.1:5300).
# Until persistd lands (its own issue) the broker runs with LOCALZURE_DURABILITY=none: state
# lives in memory and is gone when the broker stops. Ctrl-C / SIGTERM stops it cleanly.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
"$root/deploy/install-deps.sh"
cmake -S "$root" -B "$root/build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$root/build" -j"$(nproc 2>/dev/null || echo 2)" --target localzure-broker

export LOCALZURE_DURABILITY="${LOCALZURE_DURABILITY:-none}"
exec "$root/build/broker/localzure-broker" "$@"
