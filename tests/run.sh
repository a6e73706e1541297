#!/usr/bin/env bash
# The whole test suite from a fresh Debian 12 machine: installs the package
# with its test extras (building the native module), the wasm toolchains
# (edgehost setup: apt, idempotent), then runs pytest. Extra args go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m pip install -q --disable-pip-version-check -e '.[test]'
python3 -m host setup --quiet
exec python3 -m pytest -q "$@"
