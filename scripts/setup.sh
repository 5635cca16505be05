#!/usr/bin/env bash
# Idempotent environment set-up for the grasp stack (called by `make setup`).
# Creates .venv with the pinned dependencies and installs the packages under src/ in editable mode.
# On a fresh Debian 12 it first installs the few system packages Python needs (as root, or via sudo).
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
PYTHON=${PYTHON:-python3}

need_apt=()
if ! "$PYTHON" -c "import venv, ensurepip" >/dev/null 2>&1; then
    need_apt+=(python3-venv)
fi
# Offscreen rendering for the simulator (MuJoCo with EGL on Mesa's CPU renderer).
if ! ldconfig -p 2>/dev/null | grep -q "libEGL.so.1"; then need_apt+=(libegl1 libgl1-mesa-dri); fi
if ! ldconfig -p 2>/dev/null | grep -q "libOpenGL.so.0"; then need_apt+=(libopengl0); fi
if [ ${#need_apt[@]} -gt 0 ]; then
    echo "setup: installing system packages: ${need_apt[*]}"
    SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

stamp="$VENV/.setup-stamp"
want=$(cat requirements.txt src/*/setup.py | sha256sum | cut -d' ' -f1)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
    echo "setup: $VENV is up to date"
    exit 0
fi
[ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
"$VENV/bin/python" -m pip install -q --upgrade pip
echo "setup: installing pinned dependencies (first run downloads ~1 GB, mostly torch CPU)"
"$VENV/bin/python" -m pip install -q -r requirements.txt
for pkg in src/*/; do
    if [ -f "$pkg/setup.py" ]; then
        "$VENV/bin/python" -m pip install -q --no-deps --no-build-isolation -e "$pkg"
    fi
done
echo "$want" > "$stamp"
echo "setup: done. Enter the environment with: source $VENV/bin/activate"
