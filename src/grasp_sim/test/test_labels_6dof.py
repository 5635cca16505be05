"""GraspNet-style 6-DoF labels on hand-checkable shapes: a box grasped across its faces, a ball whose contact
angle (and so score) follows the approach depth, and the tolerance of a grasp among equally good neighbours."""
import math

import numpy as np
import pytest
import torch
import trimesh

from grasp_perception.pointcloud.graspnet6dof import DEPTHS, approach_frames, approach_views
from grasp_sim.labels_6dof import Grasp6DLabelParams, object_grasp_labels

DOWN = np.array([0.0, 0.0, -1.0])


def nearest_view(direction) -> int:
    return int(np.argmax(approach_views().numpy() @ np.asarray(direction, float)))


def angle_closing_along(view: int, axis) -> int:
    """The rotation bin whose closing axis is nearest +-axis for that view."""
    v = approach_views()[view].double()
    frames = approach_frames(v.expand(12, 3), torch.arange(12, dtype=torch.float64) * math.pi / 12).numpy()
    return int(np.argmax(np.abs(frames[:, :, 0] @ np.asarray(axis, float))))


def test_a_box_from_above_holds_across_either_side_and_is_as_wide_as_that_side():
    box = trimesh.creation.box(extents=(0.04, 0.07, 0.03))
    top = np.array([[0.0, 0.0, 0.015]])
    lab = object_grasp_labels(box, grasp_points=top)
    v = nearest_view(DOWN)
    for axis, side in (([1, 0, 0], 0.04), ([0, 1, 0], 0.07)):
        a = angle_closing_along(v, axis)
        for k, depth in enumerate(DEPTHS[:2]):                     # fingertips 1 and 2 cm into the 3 cm box
            assert lab.scores[0, v, a, k] >= 0.9, (axis, depth)   # the view is ~6 deg off vertical: mu <= 0.1
            assert lab.widths[0, v, a, k] == pytest.approx(side + 0.01, abs=0.004)
        assert lab.scores[0, v, a, 3] == 0.0                       # 4 cm down is below the box: nothing to hold
    up = nearest_view(-DOWN)                                       # from inside the box: the palm is in it
    assert lab.scores[0, up].max() == 0.0


def test_a_ball_from_above_scores_by_its_contact_angle():
    ball = trimesh.creation.icosphere(subdivisions=4, radius=0.02)
    lab = object_grasp_labels(ball, grasp_points=[[0.0, 0.0, 0.02]])
    v = nearest_view(DOWN)
    s = lab.scores[0, v].max(axis=0)                               # best rotation bin per depth (all alike)
    # depth 1 cm and 3 cm: contacts 1 cm off the equator, 30 deg -> mu 0.58 -> 0.6 -> s = 0.5;
    # 2 cm: on the equator -> s = 1.0 (the view's tilt and the facets take it down at most one step)
    assert s[1] >= 0.9
    for k in (0, 2):
        assert s[k] == pytest.approx(0.5, abs=0.11), (k, s)


def test_a_grasp_among_equally_good_neighbours_tolerates_their_distance():
    box = trimesh.creation.box(extents=(0.04, 0.09, 0.03))
    along = np.array([[0.0, y, 0.015] for y in np.arange(-0.02, 0.021, 0.01)])  # 5 points along the top
    lab = object_grasp_labels(box, Grasp6DLabelParams(max_tolerance=0.03), grasp_points=along)
    v = nearest_view(DOWN)
    a = angle_closing_along(v, [1, 0, 0])
    assert np.all(lab.scores[:, v, a, 0] >= 0.9)
    # the middle point's neighbours 1 and 2 cm away all hold; 3 cm away there are no points: still 2 cm+
    assert lab.tolerances[2, v, a, 0] >= 0.02
    assert lab.tolerances[0, v, a, 0] >= 0.01   # the end point: the next point 1 cm in holds too
    assert np.all(lab.tolerances[lab.scores <= 0.5] == 0.0)
