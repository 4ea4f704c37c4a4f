#!/usr/bin/env bash
# Installs Debian's Chromium for the Dagster UI browser test (tests/dagster/test_ui_browser.py). Idempotent.
# Playwright (the Python package, from pyproject's test extra) drives /usr/bin/chromium; never run
# `playwright install`, which downloads its own browser.
set -euo pipefail

if [ -x /usr/bin/chromium ]; then
  echo "chromium already installed: $(/usr/bin/chromium --version 2>/dev/null | tail -1)"
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "ci_browser_deps.sh: need root or sudo to apt-get install chromium" >&2; exit 1; }
  SUDO="sudo"
fi

$SUDO apt-get update -q
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends chromium
/usr/bin/chromium --version 2>/dev/null | tail -1
