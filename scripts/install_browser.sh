#!/usr/bin/env bash
# Debian's Chromium for the browser test (tests/test_browser.py). Idempotent: does nothing when it is there.
# Playwright's own `playwright install` downloads a browser at run time, which this kit avoids; Playwright
# drives the system one instead (executable_path="/usr/bin/chromium").
set -euo pipefail
if [ -x /usr/bin/chromium ]; then
    exit 0
fi
if [ "$(id -u)" != 0 ]; then
    echo "install_browser.sh: /usr/bin/chromium is missing and installing it needs root:" >&2
    echo "    sudo apt-get update && sudo apt-get install -y chromium" >&2
    echo "(without it the browser test is skipped)" >&2
    exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --no-install-recommends chromium
