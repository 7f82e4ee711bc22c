#!/usr/bin/env bash
# Installs the system libraries Guardian builds against, and any Debian packages named as
# arguments, when they are missing (Debian/Ubuntu).
set -euo pipefail
need=()
for pkg in libsodium-dev libgit2-dev libsqlite3-dev pkg-config git curl python3 iproute2 iptables "$@"; do
    dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
done
if [ "${#need[@]}" -gt 0 ]; then
    echo "installing: ${need[*]}"
    SUDO=""
    [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
fi
if ! command -v swift >/dev/null 2>&1; then
    echo "error: the Swift toolchain (6.1 or later) is not on PATH; install it from swift.org" >&2
    exit 2
fi
