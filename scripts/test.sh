#!/usr/bin/env bash
# Everything the tests need (toolchain, QEMU, Python packages), then the whole suite,
# slow end-to-end tests included.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh test
export PLATFORMIO_SETTING_ENABLE_TELEMETRY=no PLATFORMIO_DISABLE_UPGRADE_CHECK=true
exec .venv/bin/python -m pytest -n 2 -q "$@"
