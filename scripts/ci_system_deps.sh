#!/usr/bin/env bash
# Installs Debian's PostgreSQL server when its binaries are missing (tests start their own cluster), and Node with
# npm when missing (the Azure remote-state tests install Azurite with scripts/install_azurite.sh). Idempotent.
set -euo pipefail

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
updated=""
apt_install() {
  [ -n "$updated" ] || { $SUDO apt-get update -q; updated=1; }
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "$@"
}

if command -v node >/dev/null && command -v npm >/dev/null; then
  echo "node $(node --version) and npm $(npm --version) present"
else
  apt_install nodejs npm
fi

if ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  echo "postgresql server binaries present: $(ls -d /usr/lib/postgresql/*/bin | tail -1)"
  exit 0
fi
apt_install postgresql
ls -d /usr/lib/postgresql/*/bin
