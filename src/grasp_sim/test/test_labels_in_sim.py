"""Labels from the PDG generator, executed by the simulated gripper, lift their object.

This closes the loop between label generation (geometry on the depth image) and physics: if the
labels' conventions (pixel frame, angle sign, width in pixels) disagreed with the simulator's, the
grasps would miss or collide.
"""
import numpy as np
import pytest

import grasp_sim  # noqa: F401  (sets MUJOCO_GL before mujoco is imported)
from grasp_sim.generate import label_gripper
from grasp_sim.labels import LabelParams, generate_labels
from grasp_sim.objects import box_object, procedural_objects
from grasp_sim.cell import SimCell
from grasp_sim.executors import execute_grasp
from grasp_sim.world_grasp import image_grasp_to_world


def _label_trials(cell: SimCell, obj: int, seed: int, n: int) -> tuple[int, int]:
    cell.reset(obj, seed=seed)
    obs = cell.render()  # no depth noise in these cells: obs.depth is the clean depth
    k = obs.intrinsics
    ids = np.where(obs.segmentation >= 0, obs.segmentation + 1, 0).astype(np.int32)
    labels = generate_labels(obs.depth, k.fx, k.fy, k.cx, k.cy, ids,
                             gripper=label_gripper(cell.settings), params=LabelParams(stride_px=2)).grasps
    if not labels:
        return 0, 0
    start = cell.snapshot()
    picks = np.random.default_rng(seed).choice(len(labels), size=min(n, len(labels)), replace=False)
    wins = 0
    for i in picks:
        cell.restore(start)
        g = labels[i]
        world = image_grasp_to_world(g.u, g.v, g.angle, g.width, obs.depth, k, obs.camera_pose)
        wins += execute_grasp(cell, world).success
    return wins, len(picks)


def test_generated_labels_lift_their_object():
    cell = SimCell([box_object((0.03, 0.05, 0.04), name="box")] + procedural_objects(3, seed=7), seed=0)
    wins = tries = 0
    for obj in range(len(cell.objects)):
        w, n = _label_trials(cell, obj, seed=100 + obj, n=4)
        wins, tries = wins + w, tries + n
    cell.close()
    assert tries >= 12, "every object should get labels"
    # Labels are geometric (no physics), so a few may still slip; most must hold.
    assert wins / tries >= 0.75, f"only {wins}/{tries} generated labels lifted their object"


def test_a_label_turned_by_90_degrees_fails_on_a_long_box():
    # A label turned by 90 degrees closes along the box's 11 cm side, which no 8 cm opening spans.
    cell = SimCell([box_object((0.11, 0.035, 0.02), name="long_flat_box")], seed=0)
    cell.reset(0, seed=3)
    obs = cell.render()  # no depth noise in these cells: obs.depth is the clean depth
    k = obs.intrinsics
    ids = np.where(obs.segmentation >= 0, 1, 0).astype(np.int32)
    labels = generate_labels(obs.depth, k.fx, k.fy, k.cx, k.cy, ids,
                             gripper=label_gripper(cell.settings), params=LabelParams(stride_px=2)).grasps
    assert labels
    g = labels[len(labels) // 2]
    start = cell.snapshot()
    good = image_grasp_to_world(g.u, g.v, g.angle, g.width, obs.depth, k, obs.camera_pose)
    assert execute_grasp(cell, good).success
    cell.restore(start)
    turned = image_grasp_to_world(g.u, g.v, g.angle + np.pi / 2, g.width, obs.depth, k, obs.camera_pose)
    assert not execute_grasp(cell, turned).success  # 11 cm does not fit an 8 cm opening
    cell.close()
