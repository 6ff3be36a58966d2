#!/bin/sh
# Install Debian's headless Chromium and its WebDriver for the browser tests (tests/browser),
# only when one of them is missing. No browser downloads: Debian packages only.
# Needs root (or sudo) and network the first time; a no-op afterwards.
set -eu

if [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; then
    exit 0
fi

if [ "$(id -u)" -eq 0 ]; then
    SUDO=""
elif command -v sudo >/dev/null 2>&1; then
    SUDO="sudo"
else
    echo "error: chromium/chromedriver missing and not root (no sudo):" \
         "apt-get install chromium chromium-driver, or set CHEDAITONG_SKIP_BROWSER=1" >&2
    exit 1
fi

echo "installing chromium and chromium-driver (Debian packages) for the browser tests" >&2
export DEBIAN_FRONTEND=noninteractive
if ! $SUDO apt-get update -q || ! $SUDO apt-get install -y -q \
        chromium chromium-driver; then
    echo "error: could not install chromium/chromium-driver (no network?);" \
         "set CHEDAITONG_SKIP_BROWSER=1 to skip the browser tests" >&2
    exit 1
fi
/usr/bin/chromium --version >&2
