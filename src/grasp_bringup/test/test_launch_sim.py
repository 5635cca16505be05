"""`ros2 launch grasp_bringup widowx.launch.py use_sim:=true` starts and answers /plan_grasp.

Runs where launch_pytest and launch_ros exist (a ROS 2 Jazzy install, the Docker image) and the
workspace is built with colcon (``ros2 run`` must find the executables); skipped otherwise. The same
nodes and parameters are exercised without launch by test_run.py through grasp_bringup.run.
"""
import os
import time

import pytest

launch_pytest = pytest.importorskip("launch_pytest", reason="launch_pytest is not installed (no ROS 2 distro)")
pytest.importorskip("launch_ros", reason="launch_ros is not installed (no ROS 2 distro)")
ament_index = pytest.importorskip("ament_index_python.packages")
try:
    ament_index.get_package_share_directory("grasp_bringup")
except Exception:  # PackageNotFoundError: the workspace is not colcon-built and sourced
    pytest.skip("grasp_bringup is not installed in a sourced colcon workspace", allow_module_level=True)

import rclpy  # noqa: E402
from launch import LaunchDescription  # noqa: E402
from launch.actions import IncludeLaunchDescription  # noqa: E402
from launch.launch_description_sources import PythonLaunchDescriptionSource  # noqa: E402

from grasp_interfaces.srv import PlanGrasp  # noqa: E402


@launch_pytest.fixture
def widowx_sim(tmp_path_factory):
    share = ament_index.get_package_share_directory("grasp_bringup")
    out = tmp_path_factory.mktemp("launch")
    return LaunchDescription([IncludeLaunchDescription(
        PythonLaunchDescriptionSource(os.path.join(share, "launch", "widowx.launch.py")),
        launch_arguments={"use_sim": "true", "output_dir": str(out)}.items())])


@pytest.mark.launch(fixture=widowx_sim)
def test_widowx_sim_answers_plan_grasp():
    rclpy.init()
    node = rclpy.create_node("launch_test_client")
    try:
        client = node.create_client(PlanGrasp, "/plan_grasp")
        assert client.wait_for_service(timeout_sec=60)
        deadline, res = time.monotonic() + 30, None
        while time.monotonic() < deadline:
            future = client.call_async(PlanGrasp.Request(max_grasps=1))
            rclpy.spin_until_future_complete(node, future, timeout_sec=10)
            res = future.result()
            if res is not None and res.success:
                break
            time.sleep(0.5)
        assert res is not None and res.success, res.message if res else "no answer"
        assert res.grasps[0].pose.header.frame_id == "wx250s/base_link"
    finally:
        node.destroy_node()
        rclpy.shutdown()
