#!/usr/bin/env bash
# Build the rosidl package grasp_interfaces with colcon into install/ (called by scripts/setup.sh).
# On a ROS 2 Jazzy install this is plain `colcon build`; with ROS from PyPI wheels it needs the two
# fixes of shared/notes/ros2-from-pypi.md: the venv on the ament/CMake prefix paths, and the
# wheels' CMake exports naming the manylinux build interpreter's include dirs under /opt/python.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
. "$VENV/bin/activate"
export AMENT_PREFIX_PATH="$VIRTUAL_ENV${AMENT_PREFIX_PATH:+:$AMENT_PREFIX_PATH}"
export CMAKE_PREFIX_PATH="$VIRTUAL_ENV${CMAKE_PREFIX_PATH:+:$CMAKE_PREFIX_PATH}"
if [ ! -f "$VENV/.use-distro" ]; then
    pyinc=$(python -c "import sysconfig; print(sysconfig.get_paths()['include'])")
    npinc=$(python -c "import numpy; print(numpy.get_include())")
    prefix=/opt/python/cp311-cp311
    SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    if [ "$(readlink "$prefix/include/python3.11" 2>/dev/null)" != "$pyinc" ] || \
       [ "$(readlink "$prefix/lib/python3.11/site-packages/numpy/_core/include" 2>/dev/null)" != "$npinc" ]; then
        echo "setup: linking $prefix include dirs to this venv (the ROS wheels' CMake exports name them)"
        $SUDO mkdir -p "$prefix/include" "$prefix/lib/python3.11/site-packages/numpy/_core"
        $SUDO ln -sfn "$pyinc" "$prefix/include/python3.11"
        $SUDO ln -sfn "$npinc" "$prefix/lib/python3.11/site-packages/numpy/_core/include"
    fi
fi
mkdir -p build
echo "setup: colcon build grasp_interfaces"
colcon --log-base build/log build --base-paths src --build-base build/colcon --install-base install \
    --packages-select grasp_interfaces --event-handlers console_cohesion- summary- >build/colcon-interfaces.log 2>&1 \
    || { tail -40 build/colcon-interfaces.log; echo "setup: colcon build of grasp_interfaces failed (log: build/colcon-interfaces.log)"; exit 1; }
