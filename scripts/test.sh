#!/usr/bin/env bash
# The README's test command: sets up a fresh machine (scripts/setup.sh), then runs lint,
# the unit tests and the kernel (BPF) tests. The BPF tests need root; they fail loudly
# without it rather than skip.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
npm run lint
npm test
