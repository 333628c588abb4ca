#!/usr/bin/env bash
# Install headless Chromium and its WebDriver for the report's browser test
# (tests/python/test_report_browser.py), from the Debian packages `chromium`
# and `chromium-driver`. Idempotent: does nothing when both are on PATH.
#
#   scripts/install_chromium.sh        # as root, or with sudo rights
#
# Exit codes: 0 installed (or already there), 1 cannot install (no apt-get,
# no root and no usable sudo, or apt failed). Debian and derivatives only;
# Ubuntu's `chromium` package is a snap stub, install Chrome/Chromium yourself
# there (or set REPORT_BROWSER_TEST=skip, see README.md "Segment report").
set -euo pipefail

have() { command -v "$1" >/dev/null 2>&1; }

if have chromium && have chromedriver; then
    echo "chromium and chromedriver already installed: $(command -v chromium), $(command -v chromedriver)"
    exit 0
fi

if ! have apt-get; then
    echo "install_chromium.sh: apt-get not found; install chromium and chromedriver yourself" \
         "(or set REPORT_BROWSER_TEST=skip)" >&2
    exit 1
fi

if [ "$(id -u)" -eq 0 ]; then
    SUDO=()
elif have sudo; then
    # never wait for a password prompt when run by a test or CI (no terminal)
    if [ -t 0 ]; then SUDO=(sudo); else SUDO=(sudo -n); fi
else
    echo "install_chromium.sh: not root and sudo not found; run it as root" \
         "(or set REPORT_BROWSER_TEST=skip)" >&2
    exit 1
fi

export DEBIAN_FRONTEND=noninteractive
APT=(apt-get -y -q -o DPkg::Lock::Timeout=300)
PACKAGES=(chromium chromium-driver)

start=$(date +%s)
# A fresh container has no package lists; an old one may have stale ones.
# Try with what is there first, update and retry once on failure.
if ! "${SUDO[@]}" "${APT[@]}" install --no-install-recommends "${PACKAGES[@]}"; then
    echo "install_chromium.sh: install failed; updating the package lists and retrying" >&2
    "${SUDO[@]}" "${APT[@]}" update
    "${SUDO[@]}" "${APT[@]}" install --no-install-recommends "${PACKAGES[@]}"
fi

if ! have chromium || ! have chromedriver; then
    echo "install_chromium.sh: apt-get finished but chromium or chromedriver is still not on PATH" >&2
    exit 1
fi
echo "installed $(chromium --version 2>/dev/null || echo chromium) and chromedriver in $(( $(date +%s) - start )) s"
