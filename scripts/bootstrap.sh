#!/usr/bin/env bash
# Set up a fresh machine for ml4f.
#   bash scripts/bootstrap.sh         # .venv with ml4f (enough to compile models)
#   bash scripts/bootstrap.sh test    # + the ARM toolchain, QEMU and the test tools
set -euo pipefail
cd "$(dirname "$0")/.."
mode="${1:-run}"
PY="${PYTHON:-python3}"

if [ "$mode" = "test" ]; then
    # chromium + its driver: the browser tests of the HTML report and of `ml4f serve`;
    # libstdc++ for C++ sketches of the Arduino cores; cmake for cmake/ML4F.cmake
    pkgs="binutils-arm-none-eabi gcc-arm-none-eabi libnewlib-arm-none-eabi libstdc++-arm-none-eabi-newlib qemu-system-arm llvm cmake chromium chromium-driver"
    missing=""
    for p in $pkgs; do dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"; done
    if [ -n "$missing" ]; then
        SUDO=""
        [ "$(id -u)" -ne 0 ] && SUDO="sudo"
        $SUDO apt-get update -qq
        DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing
    fi
fi

[ -x .venv/bin/python ] || "$PY" -m venv .venv
if [ "$mode" = "test" ]; then
    .venv/bin/python -m pip install -q -e ".[test]"
    # Keras 2 (tf_keras) for the Keras-2 file tests; it declares the full tensorflow
    # package as a dependency, which tensorflow-cpu already provides.
    .venv/bin/python -m pip install -q --no-deps "tf_keras==2.21.0"
else
    .venv/bin/python -m pip install -q .
fi
