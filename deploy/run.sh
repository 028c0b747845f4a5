#!/usr/bin/env bash
# One command to set up and run LocalZure: installs the Debian packages, builds, and runs
# localzure-persistd (sqlite backend) and localzure-broker under the supervisor, in the
# foreground. The broker listens on LOCALZURE_HTTP_HOST:LOCALZURE_HTTP_PORT (127.0.0.1:5300);
# state lives in LOCALZURE_DATA_DIR (./localzure-data) and survives restarts and crashes.
# Ctrl-C / SIGTERM stops both cleanly. Arguments are passed to the supervisor (--config FILE).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
"$root/deploy/install-deps.sh"
cmake -S "$root" -B "$root/build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$root/build" -j"$(nproc 2>/dev/null || echo 2)" --target localzure-broker localzure-persistd

export LOCALZURE_BIN_DIR="$root/build"
exec "$root/deploy/supervisor.sh" "$@"
