#!/usr/bin/env bash
# What the tests need beyond the build (Debian/Ubuntu): headless Chromium and its driver for the
# dashboard's browser test, Selenium for Python, aiosmtpd (a real SMTP server for the alert email
# test) and openssl (its certificate); for the operations kit's test (tests/ops): promtool
# (prometheus), amtool (prometheus-alertmanager), docker-compose (it validates the compose file; no
# container runs), PyYAML (PyPI), systemd-analyze (systemd) and kubernetes-validate (PyPI). Installed only
# when missing.
set -euo pipefail
"$(dirname "$0")/install-deps.sh" chromium chromium-driver python3-aiosmtpd openssl \
    prometheus prometheus-alertmanager docker-compose systemd
if ! python3 -c "import selenium" 2>/dev/null; then
    echo "installing: selenium (PyPI)"
    python3 -m pip install --quiet "selenium>=4.10"
fi
if ! python3 -c "import yaml" 2>/dev/null; then
    echo "installing: PyYAML (PyPI)"
    python3 -m pip install --quiet "PyYAML>=6"
fi
if ! command -v kubernetes-validate >/dev/null 2>&1; then
    echo "installing: kubernetes-validate (PyPI)"
    python3 -m pip install --quiet "kubernetes-validate>=1.31"
fi
