#!/usr/bin/env bash
# Debian's Chromium for the browser test (tests/browser/test_browser.py): one of the system packages `make test` installs.
exec bash "$(dirname "$0")/install_system_packages.sh" chromium
