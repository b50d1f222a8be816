#!/usr/bin/env bash
# The README's demo command: sets up a fresh machine, then runs the standalone demo.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec node dist/cli.js demo "$@"
