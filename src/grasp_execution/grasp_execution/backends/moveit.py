"""MoveIt 2 execution on the real (or mock-hardware) WidowX / Kinova through ``moveit_py`` (ROS 2 Jazzy).

Needs ``ros-jazzy-moveit-py`` and a running robot + controllers (the Docker image or a Jazzy install);
``moveit_py`` is imported only when a :class:`MoveItBackend` is built, so the rest of the stack imports
without it. Every pose, opening and unit conversion comes from :mod:`grasp_execution.arms` (unit-tested);
this file only turns them into moveit_py calls. It has not been run in this repository's CI (no moveit_py
there); the API used is Jazzy's: ``MoveItPy``, ``PlanningComponent.set_goal_state(pose_stamped_msg=,
pose_link=)`` / ``(robot_state=)``, ``plan(single_plan_parameters=PlanRequestParameters)``,
``MoveItPy.execute(trajectory, controllers=[])``, ``PlanningSceneMonitor.read_write()`` +
``apply_collision_object``, ``RobotState.set_joint_group_active_positions``.

One grasp: plan to the pre-grasp (OMPL pose goal on ``ee_link``; both 180-degree gripper flips are tried)
-> execute -> open the gripper to width + margin -> straight approach (Pilz ``LIN``; OMPL if Pilz fails,
said in the message) -> close -> straight lift (same) -> read the gripper joint: not fully closed = held.

MoveItPy parameters: pass ``config_dict`` (e.g. ``MoveItConfigsBuilder(...).to_moveit_configs().to_dict()``
merged with :func:`grasp_execution.arms.moveit_cpp_params`), or leave it ``None`` to use the parameters
the launch file gave this process (as in the moveit2 tutorials). The Pilz pipeline must be among
``planning_pipelines.pipeline_names`` and its ``robot_description_planning.cartesian_limits`` loaded,
otherwise every approach falls back to OMPL (not guaranteed straight). Interbotix's own MoveIt launch
uses Humble-style pipeline parameters; on Jazzy pass a config in the Jazzy format.

Gripper: a joint goal for the gripper group through MoveIt (WidowX: FollowJointTrajectory on
``left_finger``; Kinova: MoveIt's GripperCommand handler on ``robotiq_gripper_controller``). Closing on an
object stalls the gripper; a trajectory controller may then report the execution as failed, so closing
is judged by the joint reading after the lift, not by the execution status. The direct alternative for
the Kinova is the ``control_msgs/action/GripperCommand`` action ``/robotiq_gripper_controller/gripper_cmd``
(position in knuckle rad: :func:`grasp_execution.arms.opening_to_command`).
"""
from __future__ import annotations

import numpy as np

from grasp_perception.geometry import GraspPose6D

from .. import arms
from . import ExecutionResult

MOVEIT_MISSING = ("moveit_py is not installed: run inside the Docker image or a ROS 2 Jazzy install with "
                  "ros-jazzy-moveit-py")


class MoveItBackend:
    """:class:`grasp_execution.backends.GraspBackend` on MoveIt (``arm``: ``widowx`` | ``kinova`` or a YAML)."""

    def __init__(self, arm: str = "widowx", *, config: arms.ArmConfig | None = None,
                 config_dict: dict | None = None, node_name: str = "grasp_moveit",
                 add_table: bool = True, table_size=None, table_center_xy=None, table_top_z=None,
                 controllers: list[str] | None = None, node=None):
        # ``node``: the caller's rclpy node, used for logging only; MoveItPy runs its own rclcpp node
        # (``node_name``) with the MoveIt parameters.
        self._log = node.get_logger() if node is not None else None
        try:
            from moveit.core.robot_state import RobotState
            from moveit.planning import MoveItPy, PlanRequestParameters
        except ImportError as exc:
            raise RuntimeError(f"{MOVEIT_MISSING} ({exc})") from exc
        from geometry_msgs.msg import PoseStamped
        self._RobotState, self._PlanRequestParameters, self._PoseStamped = \
            RobotState, PlanRequestParameters, PoseStamped

        self.cfg = config if config is not None else arms.load_arm_config(arm)
        self.arm = self.cfg.name
        self.base_frame = self.cfg.base_frame
        # [] lets MoveIt pick the controllers that own the trajectory's joints (names: cfg.controllers)
        self._controllers = list(controllers or [])
        self._moveit = (MoveItPy(node_name=node_name, config_dict=config_dict) if config_dict is not None
                        else MoveItPy(node_name=node_name))
        self._arm = self._moveit.get_planning_component(self.cfg.arm_group)
        self._gripper = self._moveit.get_planning_component(self.cfg.gripper_group)
        self._psm = self._moveit.get_planning_scene_monitor()
        self._table_top = None
        if add_table:
            self.add_table(table_size, table_center_xy, table_top_z)

    # ------------------------------------------------------------------------------------------ scene

    def add_table(self, size=None, center_xy=None, top_z=None, object_id: str = "table") -> None:
        """The table as a collision box (base frame); sizes from the arm YAML unless given."""
        from moveit_msgs.msg import CollisionObject
        from geometry_msgs.msg import Pose
        from shape_msgs.msg import SolidPrimitive
        box_size, center = arms.table_box(self.cfg, size, center_xy, top_z)
        co = CollisionObject()
        co.header.frame_id = self.cfg.base_frame
        co.id = object_id
        box = SolidPrimitive()
        box.type = SolidPrimitive.BOX
        box.dimensions = box_size
        pose = Pose()
        pose.position.x, pose.position.y, pose.position.z = center
        pose.orientation.w = 1.0
        co.primitives.append(box)
        co.primitive_poses.append(pose)
        co.operation = CollisionObject.ADD
        with self._psm.read_write() as scene:
            scene.apply_collision_object(co)
            scene.current_state.update()
        self._table_top = center[2] + box_size[2] / 2.0

    # ------------------------------------------------------------------------------------------ helpers

    def _pose_msg(self, T):
        (x, y, z), (qx, qy, qz, qw) = arms.xyz_quat(T)
        msg = self._PoseStamped()
        msg.header.frame_id = self.cfg.base_frame
        msg.pose.position.x, msg.pose.position.y, msg.pose.position.z = x, y, z
        msg.pose.orientation.x, msg.pose.orientation.y = qx, qy
        msg.pose.orientation.z, msg.pose.orientation.w = qz, qw
        return msg

    def _params(self, pipeline: str, planner_id: str):
        p = self.cfg.planning
        params = self._PlanRequestParameters(self._moveit, "")   # loads plan_request_params.*, then overridden
        params.planning_pipeline = pipeline
        params.planner_id = planner_id
        params.planning_time = float(p.planning_time)
        params.planning_attempts = int(p.planning_attempts)
        params.max_velocity_scaling_factor = float(p.max_velocity_scaling)
        params.max_acceleration_scaling_factor = float(p.max_acceleration_scaling)
        return params

    def _plan_pose(self, T, cartesian: bool):
        """Plan ``ee_link`` to ``T`` from the current state. Returns (trajectory or None, note)."""
        p = self.cfg.planning
        attempts = [(p.cartesian_pipeline, p.cartesian_planner_id)] if cartesian else []
        attempts.append((p.pipeline, p.planner_id))
        for i, (pipeline, planner_id) in enumerate(attempts):
            self._arm.set_start_state_to_current_state()
            self._arm.set_goal_state(pose_stamped_msg=self._pose_msg(T), pose_link=self.cfg.ee_link)
            try:
                result = self._arm.plan(single_plan_parameters=self._params(pipeline, planner_id))
            except Exception:   # noqa: BLE001 - an unloaded pipeline raises in some MoveIt versions
                result = None
            if result:
                note = "" if i == 0 or not cartesian else \
                    f"{pipeline} fallback: {p.cartesian_planner_id} found no straight path"
                return result.trajectory, note
        return None, ""

    def _execute(self, trajectory) -> bool:
        status = self._moveit.execute(trajectory, controllers=self._controllers)
        return True if status is None else bool(status)

    def _gripper_to(self, opening_m: float) -> bool:
        """Plan and execute the gripper group to ``opening_m`` (converted to the controller's unit)."""
        command = arms.opening_to_command(self.cfg, opening_m)
        goal = self._RobotState(self._moveit.get_robot_model())
        with self._psm.read_only() as scene:
            goal.joint_positions = scene.current_state.joint_positions
        goal.set_joint_group_active_positions(self.cfg.gripper_group, np.array([command], dtype=float))
        goal.update()
        self._gripper.set_start_state_to_current_state()
        self._gripper.set_goal_state(robot_state=goal)
        result = self._gripper.plan()
        if not result:
            return False
        return self._execute(result.trajectory)

    def _gripper_reading(self) -> float:
        with self._psm.read_only() as scene:
            return float(scene.current_state.joint_positions[self.cfg.gripper.joint])

    # ------------------------------------------------------------------------------------------ backend

    def execute(self, grasp: GraspPose6D, lift: float) -> ExecutionResult:
        cfg, notes = self.cfg, []
        try:
            opening, too_wide = arms.approach_opening(cfg, grasp.width_m)
            candidates = [arms.grasp_waypoints(cfg, grasp.T, lift, opening_m=opening, floor_z=self._table_top,
                                               flip=flip, depth=grasp.approach_depth_m) for flip in (False, True)]
        except ValueError as exc:
            return ExecutionResult(False, False, f"invalid grasp: {exc}")
        if too_wide:
            notes.append(f"width {grasp.width_m * 1000:.0f} mm > max opening {cfg.gripper.max_opening * 1000:.0f} mm")

        # 1. pre-grasp (free motion); no motion yet if neither gripper flip can be reached
        wp, trajectory = None, None
        for cand in candidates:
            trajectory, _ = self._plan_pose(cand["pregrasp"], cartesian=False)
            if trajectory is not None:
                wp = cand
                break
        if wp is None:
            return ExecutionResult(False, False, "; ".join(["unreachable: no IK/plan to the pre-grasp", *notes]))
        if not self._execute(trajectory):
            return ExecutionResult(False, True, "; ".join(["execution failed: pre-grasp", *notes]))

        # 2. open to width + margin before the approach
        if not self._gripper_to(opening):
            return ExecutionResult(False, True, "; ".join(["gripper failed: open", *notes]))

        # 3. straight approach
        trajectory, note = self._plan_pose(wp["grasp"], cartesian=True)
        if trajectory is None:
            return ExecutionResult(False, True, "; ".join(["planning failed: approach", *notes]))
        notes += [f"approach: {note}"] if note else []
        if not self._execute(trajectory):
            return ExecutionResult(False, True, "; ".join(["execution failed: approach", *notes]))

        # 4. close (a stalled close may report failure; the reading after the lift decides)
        if not self._gripper_to(cfg.gripper.min_opening):
            notes.append("close reported not reaching the closed position")

        # 5. straight lift
        trajectory, note = self._plan_pose(wp["lift"], cartesian=True)
        if trajectory is None:
            return ExecutionResult(False, True, "; ".join(["planning failed: lift", *notes]))
        notes += [f"lift: {note}"] if note else []
        if not self._execute(trajectory):
            return ExecutionResult(False, True, "; ".join(["execution failed: lift", *notes]))

        # 6. verify: a gripper that closed fully holds nothing
        measured = arms.command_to_opening(cfg, self._gripper_reading())
        held = not arms.is_fully_closed(cfg, measured)
        verdict = (f"held: gripper at {measured * 1000:.1f} mm after the lift" if held else
                   f"empty: gripper fully closed ({measured * 1000:.1f} mm) after the lift")
        if self._log is not None and notes:
            self._log.info(f"grasp notes: {'; '.join(notes)}")
        return ExecutionResult(held, True, "; ".join([verdict, *notes]), float("nan"))

    def joint_state(self) -> tuple[list[str], list[float]]:
        with self._psm.read_only() as scene:
            positions = dict(scene.current_state.joint_positions)
        names = sorted(positions)
        return names, [float(positions[n]) for n in names]

    def shutdown(self) -> None:
        self._moveit.shutdown()
