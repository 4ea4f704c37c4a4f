#!/usr/bin/env bash
# Installs the Debian packages the test suite needs (a PostgreSQL server, Chromium) when they are missing.
# Needs root or sudo; without them it says which tests will skip (under CI=true those tests fail instead).
set -uo pipefail
here="$(cd "$(dirname "$0")" && pwd)"

if [ "$(id -u)" -ne 0 ] && ! sudo -n true 2>/dev/null; then
  ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || echo "note: no PostgreSQL server binaries and no root: PostgreSQL tests will skip"
  [ -x /usr/bin/chromium ] || echo "note: no /usr/bin/chromium and no root: the Dagster UI browser test will skip"
  exit 0
fi
status=0
for script in ci_system_deps.sh ci_browser_deps.sh; do
  if [ -f "$here/$script" ]; then
    bash "$here/$script" || { echo "system_deps.sh: $script failed" >&2; status=1; }
  fi
done
exit $status
