"""The camera pose from TF and from the easy_handeye2 calibration file give the same grasp pose.

Needs tf2_ros (a ROS 2 Jazzy install; the simulated camera then publishes base -> camera_link ->
camera_color_optical_frame as static TF); skipped where ROS 2 comes from PyPI wheels without it.
"""
import os
import threading
import time

import numpy as np
import pytest

pytest.importorskip("rclpy", reason="ROS 2 (rclpy) is installed by make setup")
pytest.importorskip("tf2_ros", reason="tf2_ros is not installed (ROS 2 from PyPI wheels has no TF)")
pytest.importorskip("grasp_interfaces", reason="grasp_interfaces is built by make setup (colcon)")
os.environ.setdefault("MUJOCO_GL", "egl")
pytest.importorskip("mujoco", reason="the simulated cell needs mujoco")

import rclpy  # noqa: E402
from rclpy.executors import MultiThreadedExecutor  # noqa: E402

from grasp_interfaces.srv import PlanGrasp  # noqa: E402
from grasp_perception.handeye import save_calibration  # noqa: E402
from grasp_perception.nodes.conversions import pose_to_transform  # noqa: E402
from grasp_perception.nodes.perception_node import create_node as perception_node  # noqa: E402
from grasp_sim.cell_setup import CellSettings, sim_calibration  # noqa: E402
from grasp_sim.nodes.sim_camera_node import create_node as sim_camera_node  # noqa: E402

BASE = "wx250s/base_link"


def test_tf_and_calibration_file_agree(tmp_path):
    os.environ["ROS_DOMAIN_ID"] = str(120 + os.getpid() % 30)
    os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
    settings = CellSettings(arm="widowx", n_objects=2, camera_tilt_deg=20.0, depth_noise=False)
    calib = save_calibration(tmp_path / "sim.calib", sim_calibration(settings, BASE))
    rclpy.init()
    camera = sim_camera_node(**{k: getattr(settings, k) for k in CellSettings.__dataclass_fields__},
                             base_frame=BASE)
    poses = {}
    try:
        for source in ("calibration", "tf"):
            perception = perception_node(base_frame=BASE, calibration=str(calib) if source == "calibration" else "")
            client_node = rclpy.create_node(f"client_{source}")
            client = client_node.create_client(PlanGrasp, "/plan_grasp")
            ex = MultiThreadedExecutor(num_threads=3)
            for n in (camera, perception, client_node):
                ex.add_node(n)
            th = threading.Thread(target=ex.spin, daemon=True)
            th.start()
            try:
                assert client.wait_for_service(timeout_sec=10)
                res, deadline = None, time.monotonic() + 20
                while time.monotonic() < deadline and not (res and res.success):
                    res = client.call(PlanGrasp.Request(max_grasps=1))
                    time.sleep(0.2)
                assert res.success, res.message
                poses[source] = (pose_to_transform(res.grasps[0].pose.pose), res.grasps[0].center_u,
                                 res.grasps[0].center_v)
            finally:
                ex.shutdown()
                perception.destroy_node()
                client_node.destroy_node()
    finally:
        camera.destroy_node()
        rclpy.shutdown()
    (T_cal, u_cal, v_cal), (T_tf, u_tf, v_tf) = poses["calibration"], poses["tf"]
    assert (u_cal, v_cal) == (u_tf, v_tf)  # same scene, same depth (no noise): the same image grasp
    np.testing.assert_allclose(T_tf, T_cal, atol=1e-6)
