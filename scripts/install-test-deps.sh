#!/usr/bin/env bash
# What the tests need beyond the build (Debian/Ubuntu): headless Chromium and its driver for the
# dashboard's browser test, Selenium for Python, aiosmtpd (a real SMTP server for the alert email
# test) and openssl (its certificate). Installed only when missing.
set -euo pipefail
"$(dirname "$0")/install-deps.sh" chromium chromium-driver python3-aiosmtpd openssl
if ! python3 -c "import selenium" 2>/dev/null; then
    echo "installing: selenium (PyPI)"
    python3 -m pip install --quiet "selenium>=4.10"
fi
