#!/usr/bin/env bash
# Installs Debian's PostgreSQL server when its binaries are missing (tests start their own cluster). Idempotent.
set -euo pipefail

if ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  echo "postgresql server binaries present: $(ls -d /usr/lib/postgresql/*/bin | tail -1)"
  exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
$SUDO apt-get update -q
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends postgresql
ls -d /usr/lib/postgresql/*/bin
