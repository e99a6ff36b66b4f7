#!/usr/bin/env bash
# The Debian packages `make test` needs, installed with apt-get when missing. Idempotent: does nothing when they
# are there. With arguments, only those: `bash scripts/install_system_packages.sh bubblewrap`.
#   chromium    the browser test (tests/browser/test_browser.py). Playwright's own `playwright install` downloads a
#               browser at run time, which this kit avoids; Playwright drives this one (/usr/bin/chromium).
#   bubblewrap  the sandbox the autograder runs each student's notebook in (llama_lab/grading/sandbox.py).
set -euo pipefail
declare -A COMMAND=([chromium]=/usr/bin/chromium [bubblewrap]=/usr/bin/bwrap)
declare -A WITHOUT=([chromium]="the browser test is skipped"
                    [bubblewrap]="the grader refuses students' notebooks and the sandbox tests are skipped")
if [ $# -eq 0 ]; then
    set -- chromium bubblewrap
fi
missing=()
for package in "$@"; do
    if [ -z "${COMMAND[$package]:-}" ]; then
        echo "install_system_packages.sh: no package $package here (known: ${!COMMAND[*]})" >&2
        exit 2
    fi
    if [ ! -x "${COMMAND[$package]}" ]; then
        missing+=("$package")
    fi
done
if [ ${#missing[@]} -eq 0 ]; then
    exit 0
fi
if [ "$(id -u)" != 0 ]; then
    echo "install_system_packages.sh: ${missing[*]} missing, and installing needs root:" >&2
    echo "    sudo apt-get update && sudo apt-get install -y ${missing[*]}" >&2
    for package in "${missing[@]}"; do
        echo "(without $package ${WITHOUT[$package]})" >&2
    done
    exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --no-install-recommends "${missing[@]}"
