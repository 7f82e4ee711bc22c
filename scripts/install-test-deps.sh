#!/usr/bin/env bash
# What the tests need beyond the build (Debian/Ubuntu): headless Chromium and its driver for the
# dashboard's browser test, and Selenium for Python. Installed only when missing.
set -euo pipefail
need=()
for pkg in chromium chromium-driver; do
    dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
done
if [ "${#need[@]}" -gt 0 ]; then
    echo "installing: ${need[*]}"
    SUDO=""
    [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
fi
if ! python3 -c "import selenium" 2>/dev/null; then
    echo "installing: selenium (PyPI)"
    python3 -m pip install --quiet "selenium>=4.10"
fi
