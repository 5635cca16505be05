"""Execution node: ``/execute_grasp`` runs one grasp with a backend (MoveIt or the simulated cell).

Thin: parameters, the service, ``/joint_states``; the motion is the backend's (``backends/``). A grasp
the backend cannot reach comes back ``executed=false`` with the reason, and the arm does not move.
"""
from __future__ import annotations


import numpy as np
from grasp_interfaces.srv import ExecuteGrasp
from grasp_perception.geometry import GraspPose6D
from grasp_perception.nodes import StartupError, overrides, spin
from grasp_perception.nodes.conversions import pose_to_transform
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup
from rclpy.node import Node
from sensor_msgs.msg import JointState

PARAMETERS = {  # name: (default, description)
    "backend": ("moveit", "moveit (a real or MoveIt-simulated arm) or sim (the simulated cell, one process)"),
    "arm": ("widowx", "widowx (WidowX 250s) or kinova (Gen3 + Robotiq 2F-85): config/arms/<arm>.yaml"),
    "base_frame": ("wx250s/base_link", "frame the grasps must be given in"),
    "lift": (0.10, "lift after closing, m (a request's lift_height overrides it)"),
    "joint_state_rate_hz": (20.0, "rate of /joint_states from the sim backend (MoveIt's come from the driver)"),
}


class ExecutionNode(Node):
    def __init__(self, backend=None, **kwargs):
        super().__init__("execution", **kwargs)
        for name, (default, _) in PARAMETERS.items():
            self.declare_parameter(name, default)
        p = {name: self.get_parameter(name).value for name in PARAMETERS}
        self.base_frame, self.lift = p["base_frame"], float(p["lift"])
        if backend is None:
            if p["backend"] != "moveit":
                self.destroy_node()
                raise StartupError(f"execution: parameter 'backend' = {p['backend']!r} needs the simulated cell in "
                                   f"this process (use the sim_cell executable); standalone it must be 'moveit'")
            from ..backends.moveit import MoveItBackend
            try:
                backend = MoveItBackend(p["arm"], node=self)
            except (RuntimeError, ValueError) as exc:
                self.destroy_node()
                raise StartupError(f"execution: backend 'moveit' for arm {p['arm']!r}: {exc}") from exc
        self.backend = backend
        self.srv = self.create_service(ExecuteGrasp, "/execute_grasp", self._on_execute,
                                       callback_group=MutuallyExclusiveCallbackGroup())
        self.joint_pub = None
        if p["backend"] == "sim":
            self.joint_pub = self.create_publisher(JointState, "/joint_states", 10)
            self.create_timer(1.0 / float(p["joint_state_rate_hz"]), self.publish_joint_state,
                              callback_group=MutuallyExclusiveCallbackGroup())
        self.get_logger().info(f"{p['backend']} backend, arm {p['arm']}, grasps in {self.base_frame!r}")

    def publish_joint_state(self) -> None:
        names, positions = self.backend.joint_state()
        msg = JointState(name=names, position=positions)
        msg.header.stamp = self.get_clock().now().to_msg()
        self.joint_pub.publish(msg)

    def _on_execute(self, request: ExecuteGrasp.Request, response: ExecuteGrasp.Response) -> ExecuteGrasp.Response:
        g = request.grasp
        frame = g.pose.header.frame_id
        if frame and frame != self.base_frame:
            response.success, response.executed = False, False
            response.message = f"the grasp is in frame {frame!r}, this arm plans in {self.base_frame!r}"
            response.lift_measured = float("nan")
            return response
        try:
            T = pose_to_transform(g.pose.pose)
            if not (np.isfinite(g.width) and g.width >= 0):
                raise ValueError(f"width must be >= 0 m, got {g.width}")
            if not (np.isfinite(g.grasp_depth) and g.grasp_depth >= 0):
                raise ValueError(f"grasp_depth must be >= 0 m (0 = this arm's default), got {g.grasp_depth}")
        except ValueError as exc:
            response.success, response.executed, response.message = False, False, f"invalid grasp: {exc}"
            response.lift_measured = float("nan")
            return response
        result = self.backend.execute(GraspPose6D(T, float(g.width), float(g.depth), float(g.grasp_depth) or None),
                                      float(request.lift_height) or self.lift)
        response.success, response.executed, response.message = result.success, result.executed, result.message
        response.lift_measured = result.lift_measured
        return response


def create_node(backend_impl=None, **parameters) -> ExecutionNode:
    """``backend_impl``: a ready backend object (the sim cell passes its own); else built from ``backend``."""
    return ExecutionNode(backend_impl, parameter_overrides=overrides(parameters))


def main(args=None) -> None:
    spin(ExecutionNode, num_threads=2, args=args)


if __name__ == "__main__":
    main()
