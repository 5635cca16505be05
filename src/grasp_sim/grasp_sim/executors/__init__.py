"""The executors: one top-down grasp (:class:`~grasp_sim.world_grasp.GraspPose` in,
:class:`~grasp_sim.world_grasp.TrialResult` out) with each gripper a trial can use, and
:func:`make_cell` / :func:`run_grasp`, the one entry point for all of them.

- :mod:`.floating`: the floating gripper (a mocap-driven hand);
- :mod:`.arm`: the WidowX 250s and the Kinova Gen3 + Robotiq 2F-85 (IK, joint-space motion);
- :mod:`.common`: the executed depth and opening, and the success rule, shared by both.
"""
from __future__ import annotations

from typing import Sequence

from ..cell import SimCell
from ..world_grasp import GraspPose, TrialResult
from .arm import execute_grasp_with_arm, pad_tip_offset, plan_arm_grasp
from .common import grasp_depth, judge_lift, planned_opening
from .floating import execute_grasp

GRIPPERS = ("floating", "widowx", "kinova")


def gripper_max_opening(settings, gripper: str) -> float:
    """The widest pad-to-pad opening of ``gripper``: the floating gripper's from the settings, an arm's
    from its model."""
    if gripper == "floating":
        return settings.grippers.floating.max_opening
    from ..robots import get_arm
    return get_arm(gripper).gripper_max_width

__all__ = ["GRIPPERS", "gripper_max_opening", "make_cell", "run_grasp", "execute_grasp", "execute_grasp_with_arm", "plan_arm_grasp",
           "pad_tip_offset", "grasp_depth", "judge_lift", "planned_opening"]


def make_cell(objects: Sequence, gripper: str = "floating", **kwargs) -> SimCell:
    """A SimCell for ``gripper`` ("floating", "widowx" or "kinova"); ``kwargs`` go to SimCell."""
    if gripper not in GRIPPERS:
        raise ValueError(f"make_cell: gripper must be one of {GRIPPERS}, got {gripper!r}")
    return SimCell(objects, arm=None if gripper == "floating" else gripper, **kwargs)


def run_grasp(cell: SimCell, grasp: GraspPose, gripper: str = "floating", **kwargs) -> TrialResult:
    """Execute ``grasp`` with ``gripper`` ("floating", "widowx" or "kinova"), which must be what ``cell`` was
    built with (see :func:`make_cell`); ``kwargs`` go to the executor."""
    if gripper not in GRIPPERS:
        raise ValueError(f"run_grasp: gripper must be one of {GRIPPERS}, got {gripper!r}")
    have = "floating" if getattr(cell, "arm", None) is None else cell.arm.name
    if gripper != have:
        raise ValueError(f"run_grasp: gripper={gripper!r} but the cell was built with "
                         f"{'no arm (floating gripper)' if have == 'floating' else f'arm={have!r}'}; "
                         f"build it with make_cell(objects, {gripper!r})")
    if gripper == "floating":
        return execute_grasp(cell, grasp, **kwargs)
    return execute_grasp_with_arm(cell, grasp, **kwargs)
