#!/bin/bash
# Entrypoint of the grasp image (docker/Dockerfile): the environment every command runs in, then the command.
# Same layers as scripts/ros_env.sh on a machine with a distro: ROS 2 Jazzy, the arm drivers' workspace (only
# in an image built with WITH_ARM_DRIVERS=1), this workspace's install/, then the venv with the pinned deps.
# `docker compose exec` skips the entrypoint: run `grasp-entrypoint bash` there (docker/README.md).
set -e
source /opt/ros/jazzy/setup.bash --
if [ -f /opt/arm_ws/install/setup.bash ]; then source /opt/arm_ws/install/setup.bash --; fi
source /ws/install/setup.bash --
# Last, so that its python and its `ros2` wrapper (see the Dockerfile) come first on PATH.
source /opt/venv/bin/activate
# Larger Fast DDS shared-memory segments for RGB-D images between processes (config/dds/fastdds_shm.xml).
export FASTDDS_DEFAULT_PROFILES_FILE="${FASTDDS_DEFAULT_PROFILES_FILE:-/ws/config/dds/fastdds_shm.xml}"
exec "$@"
