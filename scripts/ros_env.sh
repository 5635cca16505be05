# Source me: the environment every command of the stack runs in (make test/demo source it for you).
#   source scripts/ros_env.sh
# - the venv (.venv) with the pinned Python dependencies and, without a ROS distro, ROS 2 Jazzy's core
# - a sourced /opt/ros/jazzy (if present) underneath
# - this workspace's colcon install/ (grasp_interfaces)
# - the Fast DDS profile for images between processes
_grasp_root="$(cd "$(dirname "${BASH_SOURCE[0]:-$0}")/.." && pwd)"
if [ -z "${ROS_DISTRO:-}" ] && [ -f /opt/ros/jazzy/setup.bash ] && [ -f "$_grasp_root/.venv/.use-distro" ]; then
    . /opt/ros/jazzy/setup.bash
fi
. "$_grasp_root/${VENV:-.venv}/bin/activate"
# The ROS wheels install into the venv, which is not on the ament/CMake paths by itself.
case ":${AMENT_PREFIX_PATH:-}:" in *":$VIRTUAL_ENV:"*) ;; *) export AMENT_PREFIX_PATH="$VIRTUAL_ENV${AMENT_PREFIX_PATH:+:$AMENT_PREFIX_PATH}";; esac
if [ -f "$_grasp_root/install/local_setup.bash" ]; then
    . "$_grasp_root/install/local_setup.bash"
fi
export FASTDDS_DEFAULT_PROFILES_FILE="${FASTDDS_DEFAULT_PROFILES_FILE:-$_grasp_root/config/dds/fastdds_shm.xml}"
export MUJOCO_GL="${MUJOCO_GL:-egl}"
unset _grasp_root
