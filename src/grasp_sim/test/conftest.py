import math

import grasp_sim  # noqa: F401  (sets MUJOCO_GL before mujoco is imported)
import mujoco
import numpy as np
import pytest

from grasp_sim.trial import GraspPose


def _across_box(cell, size, dx=0.0, depth=None) -> GraspPose:
    """Top-down grasp at the resting box's top-face centre (shifted ``dx`` in x), closing across its narrower
    horizontal side; ``depth`` is the fingertip depth (None = the protocol's default)."""
    p, q = cell.object_pose(0)
    R = np.zeros(9)
    mujoco.mju_quat2Mat(R, q)
    R = R.reshape(3, 3)
    up = int(np.argmax(np.abs(R[2])))
    across = min((i for i in range(3) if i != up), key=lambda i: size[i])
    yaw = math.atan2(R[1, across], R[0, across])
    return GraspPose((p[0] + dx, p[1], p[2] + size[up] / 2), yaw, float(size[across]), depth_m=depth)


@pytest.fixture
def across_box():
    return _across_box
