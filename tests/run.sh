#!/usr/bin/env bash
# The whole test suite from a fresh Debian 12 machine, against what users
# install: the Debian packages the build and the tests need
# (tests/system-packages.txt), the package built as a wheel the way the
# README installs it and installed into a FRESH virtual environment with the
# test and benchmark extras, the wasm toolchains (edgehost setup), then
# pytest from that environment. Nothing from the source tree is importable
# as ``edgehost``, so a file missing from the wheel fails here.
# Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD
VENV=${EDGEHOST_TEST_VENV:-$REPO/.venv-test}

need=()
while read -r pkg; do
    [[ -z $pkg || $pkg == \#* ]] && continue
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" \
        || need+=("$pkg")
done < tests/system-packages.txt
if ((${#need[@]})); then
    echo "tests/run.sh: installing ${need[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

rm -rf "$VENV" "$REPO/dist"
python3 -m venv "$VENV"
"$VENV/bin/python" -m pip install -q --disable-pip-version-check --upgrade pip
"$VENV/bin/python" -m pip wheel -q --disable-pip-version-check --no-deps -w "$REPO/dist" .
wheel=$(ls "$REPO"/dist/edgehost-*.whl)
"$VENV/bin/python" -m pip install -q --disable-pip-version-check "$wheel[test,bench]"
"$VENV/bin/edgehost" setup --quiet
export PATH="$VENV/bin:$PATH"
exec "$VENV/bin/python" -m pytest -q "$@"
