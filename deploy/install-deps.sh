#!/usr/bin/env bash
# Installs the Debian 12 packages LocalZure needs to build, test and run. Idempotent: packages
# already present are not fetched again, so the test and run scripts call it every time.
set -euo pipefail

PACKAGES=(
	build-essential cmake pkg-config
	libnng-dev libsqlite3-dev libmsgpack-dev libyaml-dev check
	libmicrohttpd-dev libjansson-dev libcjson-dev libexpat1-dev
	libcurl4-openssl-dev curl
	libhiredis-dev redis-server
)

missing=()
for p in "${PACKAGES[@]}"; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
		missing+=("$p")
	fi
done

if [ "${#missing[@]}" -eq 0 ]; then
	exit 0
fi

echo "install-deps: installing ${missing[*]}" >&2
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
	SUDO="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
