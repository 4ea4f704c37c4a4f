#!/usr/bin/env bash
# Creates a DAGSTER_HOME with dagster.yaml for cio-retl (from dagster.yaml.example) and prints the export line.
#   scripts/dagster_home.sh [DIR]          queue + pools + per-sync run limits (for `dagster dev`, which runs the daemon)
#   scripts/dagster_home.sh --fast [DIR]   DefaultRunCoordinator: runs start at once, no daemon (tests, CI, demos)
# An existing dagster.yaml is left alone. DIR defaults to $DAGSTER_HOME, else ~/.dagster.
set -euo pipefail

fast=0
if [ "${1:-}" = "--fast" ]; then fast=1; shift; fi
dir="${1:-${DAGSTER_HOME:-$HOME/.dagster}}"
repo="$(cd "$(dirname "$0")/.." && pwd)"

mkdir -p "$dir"
dir="$(cd "$dir" && pwd)"
if [ -e "$dir/dagster.yaml" ]; then
  echo "keeping existing $dir/dagster.yaml" >&2
elif [ "$fast" = 1 ]; then
  printf 'telemetry:\n  enabled: false\nrun_coordinator:\n  module: dagster._core.run_coordinator\n  class: DefaultRunCoordinator\n' \
    > "$dir/dagster.yaml"
else
  cp "$repo/dagster.yaml.example" "$dir/dagster.yaml"
fi
echo "export DAGSTER_HOME=$dir"
