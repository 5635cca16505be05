"""What every executor shares: the depth and opening it carries out, and the success rule.

All figures come from the cell's settings (``cell.settings``, config/sim/*.yaml): ``protocol`` (opening
margin, default approach depth, the success rule).
"""
from __future__ import annotations

import numpy as np

from ..cell import SimCell
from ..world_grasp import GraspPose, TrialResult


def grasp_depth(cell: SimCell, grasp: GraspPose) -> float:
    """The fingertip depth below the grasp point that is executed: the grasp's own, else the default."""
    return cell.settings.protocol.default_grasp_depth if grasp.depth_m is None else grasp.depth_m


def fingertip_target(cell: SimCell, grasp: GraspPose, clearance: float) -> np.ndarray:
    """Where the fingertip centre goes: :func:`grasp_depth` past the grasp point along the approach, but
    stopped (along the approach) ``clearance`` above the table."""
    tip = grasp.along_approach(grasp_depth(cell, grasp))
    floor = cell.table_z + clearance
    if tip[2] < floor:
        tip = grasp.along_approach((grasp.position[2] - floor) / -grasp.approach[2])
    return tip


def planned_opening(cell: SimCell, grasp: GraspPose, max_opening: float) -> tuple[float, bool]:
    """(opening, clipped): the grasp's width + the settings' open margin (``protocol.open_margin``, by default
    ``labels.width_tolerance``), capped at the gripper's max."""
    want = grasp.width_m + cell.settings.open_margin
    return min(want, max_opening), want > max_opening


def executed_geometry(cell: SimCell, grasp: GraspPose) -> tuple[float, float]:
    """(fingertip depth past the grasp point along the approach, opening) that the cell's executor carries
    out for ``grasp``: :func:`fingertip_target` and :func:`planned_opening` with the cell's gripper."""
    g = cell.gripper
    max_opening = cell.arm.gripper_max_width if cell.arm is not None else g.max_opening
    tip = fingertip_target(cell, grasp, g.tip_clearance)
    depth = float((tip - np.asarray(grasp.position)) @ np.asarray(grasp.approach))
    return depth, planned_opening(cell, grasp, max_opening)[0]


def judge_lift(cell: SimCell, z0: dict[int, float], note: str = "") -> TrialResult:
    """The success rule (``protocol.success``): some object rose more than ``min_rise`` (from heights ``z0``)
    and, with ``both_pads``, touches both pads. ``note`` is appended to a failure's reason."""
    rule = cell.settings.protocol.success
    rise = {i: cell.object_pose(i)[0][2] - z0[i] for i in cell.active}
    best = max(rise, key=rise.get)
    dz = float(rise[best])
    if dz <= rule.min_rise:
        return TrialResult(False, dz, f"no object lifted (max rise {dz * 100:.1f} cm <= {rule.min_rise * 100:.0f} cm)"
                           + note, best if dz > 0.005 else None)
    left, right = cell.finger_contacts(best)
    if rule.both_pads and not (left and right):
        return TrialResult(False, dz, "object rose but is not held between both fingers" + note, best)
    return TrialResult(True, dz, "lifted and held", best)
