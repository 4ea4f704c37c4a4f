#!/usr/bin/env bash
# Azurite (Azure Blob Storage emulator, npm) into a folder the tests own: tests/.azurite/node_modules/.bin/azurite-blob.
# Run by the Azure remote-state tests' session fixture when missing; needs Node 20 (scripts/ci_system_deps.sh).
set -euo pipefail
DIR="${1:-$(cd "$(dirname "$0")/.." && pwd)/tests/.azurite}"
VERSION="${AZURITE_VERSION:-3.37.0}"
if [ -x "$DIR/node_modules/.bin/azurite-blob" ] && grep -q "\"version\": \"$VERSION\"" "$DIR/node_modules/azurite/package.json"; then
  exit 0
fi
mkdir -p "$DIR"
# A lock, so parallel test workers install once.
exec 9>"$DIR/.install.lock"
flock 9
[ -x "$DIR/node_modules/.bin/azurite-blob" ] && exit 0
npm install --prefix "$DIR" --no-audit --no-fund --loglevel=error "azurite@$VERSION"
