"""The label search's gripper for each simulated gripper, and the approach depth of a predicted grasp.

The network predicts where, at what angle and how wide to grasp, not how deep. PLGP's label search
(:func:`grasp_sim.labels.generate_labels`) finds, for a pixel and angle, the deepest fingertip level at
which the open fingers do not collide and the contacts hold (its ``approach_m``, the paper's d). The
executors go to that depth (``protocol.approach_depth: label``): :func:`label_approach_depths` runs the
search at the predicted pixel on the depth the robot sees, with the executing gripper's geometry.
"""
from __future__ import annotations

import math

import numpy as np

from .labels import GripperSpec, LabelParams, angle_classes, generate_labels
from .settings import SimSettings

# Arm pads (robots/widowx250.py, robots/kinova_gen3.py pad boxes): thickness along the closing axis, size
# across it (the jaw) and length along the approach axis (how far below the grasp point they can reach).
_ARM_PADS = {"widowx": (0.008, 0.024, 0.036), "kinova": (0.007, 0.022, 0.034)}


def label_gripper(settings: SimSettings, gripper: str = "floating") -> GripperSpec:
    """The label search's gripper matching the simulated ``gripper`` (opening, pads, reach, tolerance)."""
    tol = settings.labels.width_tolerance
    if gripper == "floating":
        g = settings.grippers.floating
        return GripperSpec(max_opening_m=g.max_opening, finger_width_m=g.finger_thickness,
                           finger_depth_m=g.jaw_width, finger_length_m=g.finger_length, width_tolerance_m=tol)
    from .robots import get_arm
    thickness, jaw, length = _ARM_PADS[gripper]
    return GripperSpec(max_opening_m=get_arm(gripper).gripper_max_width, finger_width_m=thickness,
                       finger_depth_m=jaw, finger_length_m=length, width_tolerance_m=tol)


# The depth is the search's geometric part (open fingers collision-free, reach): the surface checks
# (flatness, friction cone, contact area) judge whether a grasp is good, which is the network's call, and on a
# noisy depth image they reject most grasps. Holes (NaN) are free space: the dropout sits on the edges the
# fingers pass, and a real planner sees the same holes.
DEPTH_SEARCH = LabelParams(same_object=False, invalid_as_obstacle=False, flatness_tol_m=1.0, mu=1e3,
                           min_contact_fraction=0.0)


def label_approach_depths(depth: np.ndarray, intrinsics, us, vs, angles, spec: GripperSpec,
                          params: LabelParams | None = None) -> list[tuple[float | None, int]]:
    """For each grasp at pixel (``us[k]``, ``vs[k]``) and image angle ``angles[k]`` (the nearest of the search's
    angle classes): (approach depth in m, or None when the search rejects the grasp; the Reject flags), on
    ``depth`` (what the camera sees; no segmentation: any surface counts) with ``params`` (default
    :data:`DEPTH_SEARCH`). One search for all of them: it costs about as much as for one, since it runs every
    angle class over the whole image whatever the candidates."""
    params = params or DEPTH_SEARCH
    h, w = depth.shape
    pix = [(int(round(u)), int(round(v))) for u, v in zip(us, vs)]
    inside = [0 <= ui < w and 0 <= vi < h for ui, vi in pix]
    if not any(inside):
        return [(None, 0)] * len(pix)
    cand = np.zeros((h, w), bool)
    for (ui, vi), ok in zip(pix, inside):
        cand[vi, ui] |= ok
    k = intrinsics
    res = generate_labels(depth, k.fx, k.fy, k.cx, k.cy, np.ones((h, w), np.int32), gripper=spec, params=params,
                          candidates=cand)
    classes = angle_classes(params.n_angles)
    out = []
    for (ui, vi), ok, angle in zip(pix, inside, angles):
        c = int(np.argmin(np.abs((classes - angle + math.pi / 2) % math.pi - math.pi / 2)))
        if not ok:
            out.append((None, 0))
        elif not res.positive[c, vi, ui]:
            out.append((None, int(res.reject[c, vi, ui])))
        else:
            out.append((float(res.approach_m[c, vi, ui]), 0))
    return out
