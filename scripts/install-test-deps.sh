#!/usr/bin/env bash
# What the tests need beyond the build (Debian/Ubuntu): headless Chromium and its driver for the
# dashboard's browser test, and Selenium for Python. Installed only when missing.
set -euo pipefail
"$(dirname "$0")/install-deps.sh" chromium chromium-driver
if ! python3 -c "import selenium" 2>/dev/null; then
    echo "installing: selenium (PyPI)"
    python3 -m pip install --quiet "selenium>=4.10"
fi
