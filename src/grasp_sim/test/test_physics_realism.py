"""Friction that matters, grip forces from the grippers' specifications, and execution that follows the label.

Real MuJoCo, realistic settings (config/sim/realistic.yaml) unless a test says otherwise.
"""
import math

import mujoco
import numpy as np
import pytest

import grasp_sim  # noqa: F401  (sets MUJOCO_GL before mujoco is imported)
from grasp_sim.executors import execute_grasp, make_cell, plan_arm_grasp, planned_opening, run_grasp
from grasp_sim.label_depth import label_gripper
from grasp_sim.labels import generate_labels
from grasp_sim.objects import box_object
from grasp_sim.cell import SimCell
from grasp_sim.settings import load_sim_settings
from grasp_sim.world_grasp import GraspPose, image_grasp_to_world

BOX = (0.04, 0.07, 0.03)  # 4 cm across the grasp, 3 cm high


def _place_box(cell: SimCell, xy=(0.0, 0.0)) -> None:
    """The box alone, lying flat at ``xy``, at rest."""
    cell.reset([])
    cell.active = [0]
    cell.model.body_gravcomp[cell._obj_body[0]] = 0.0
    cell.set_object_pose(0, (xy[0], xy[1], BOX[2] / 2))
    cell.step(50)


def _across(xy=(0.0, 0.0), depth=0.015) -> GraspPose:
    return GraspPose((xy[0], xy[1], BOX[2]), 0.0, BOX[0], depth_m=depth)


def test_heavy_box_holds_at_mu_1_and_slips_at_mu_0_2_with_the_same_grasp():
    # 5 kg: Coulomb holds it up to 2 x mu x 70 N / g = 14 kg at mu 1, 2.9 kg at mu 0.2
    with SimCell([box_object(BOX, mass=5.0)]) as cell:
        out = {}
        for mu in (1.0, 0.2):
            cell.set_contact_friction(mu)
            _place_box(cell)
            out[mu] = execute_grasp(cell, _across())
        assert out[1.0].success, out[1.0].reason
        assert not out[0.2].success and out[0.2].lift_height < 0.05, out[0.2]


def test_contact_friction_is_set_on_objects_and_pads_and_restored():
    with SimCell([box_object(BOX, friction=0.9)]) as cell:
        m, pads = cell.model, list(cell._pad_geoms)
        cell.set_contact_friction(0.3)
        assert cell.contact_mu == 0.3
        np.testing.assert_allclose(m.geom_friction[np.r_[cell._obj_geoms, pads], 0], 0.3)
        cell.set_contact_friction(None)
        np.testing.assert_allclose(m.geom_friction[cell._obj_geoms, 0], 0.9)
        np.testing.assert_allclose(m.geom_friction[pads, 0], cell.settings.physics.pad_friction)
        with pytest.raises(ValueError, match="mu must be > 0"):
            cell.set_contact_friction(0.0)


def _pad_normal_force(cell: SimCell, obj: int = 0) -> tuple[float, float]:
    """Normal force (N) of the object on the (left, right) pad now."""
    m, d = cell.model, cell.data
    body = cell._obj_body[obj]
    f6 = np.zeros(6)
    out = [0.0, 0.0]
    for k, c in enumerate(d.contact[:d.ncon]):
        for side, pad in enumerate(cell._pad_geoms):
            if {c.geom1, c.geom2} & {pad} and body in (m.geom_bodyid[c.geom1], m.geom_bodyid[c.geom2]):
                mujoco.mj_contactForce(m, d, k, f6)
                out[side] += abs(f6[0])
    return tuple(out)


@pytest.mark.parametrize("gripper", ["floating", "widowx", "kinova"])
def test_constant_force_model_squeezes_with_the_specified_force(gripper, across_box):
    s = load_sim_settings()
    want = s.grippers.of(gripper).grip_force
    with make_cell([box_object((0.05, 0.05, 0.04))], gripper) as cell:
        if gripper == "floating":
            cell.reset([])
            cell.active = [0]
            cell.set_object_pose(0, (0.0, 0.0, 0.5))  # floating in the air (gravity compensated)
            cell.teleport_gripper((0.0, 0.0, 0.5 - 0.01), 0.0, 0.06)
            cell.close_gripper()
        else:
            cell.reset(0, seed=1)
            plan = plan_arm_grasp(cell, across_box(cell, (0.05, 0.05, 0.04), depth=0.015))
            cell.arm.set_q(cell.model, cell.data, plan.descent[-1])
            cell.set_opening(plan.opening)
            cell.step(100)
            cell.close_gripper()
        left, right = _pad_normal_force(cell)
        assert left == pytest.approx(want, rel=0.15) and right == pytest.approx(want, rel=0.15), (left, right)


def test_executors_open_to_the_width_plus_the_label_tolerance():
    real, easy = load_sim_settings(), load_sim_settings("easy")
    with SimCell([box_object(BOX)], settings=real) as cell:
        g = GraspPose((0, 0, 0.03), 0.0, 0.045)
        assert planned_opening(cell, g, 0.08) == (pytest.approx(0.045 + real.labels.width_tolerance), False)
        assert planned_opening(cell, GraspPose((0, 0, 0.03), 0.0, 0.075), 0.08) == (0.08, True)
    with SimCell([box_object(BOX)], settings=easy) as cell:
        assert planned_opening(cell, GraspPose((0, 0, 0.03), 0.0, 0.045), 0.08)[0] == pytest.approx(0.065)


def test_a_labels_approach_depth_is_the_depth_executed():
    with SimCell([box_object(BOX)]) as cell:
        _place_box(cell)
        obs = cell.render()
        k = obs.intrinsics
        ids = np.where(obs.segmentation >= 0, obs.segmentation + 1, 0).astype(np.int32)
        res = generate_labels(obs.depth, k.fx, k.fy, k.cx, k.cy, ids, gripper=label_gripper(cell.settings))
        # the label nearest the box centre, opening across it (angle ~0: along image +u = world +x)
        best = min((g for g in res.grasps if abs(math.sin(g.angle)) < 0.2),
                   key=lambda g: (g.u - k.cx) ** 2 + (g.v - k.cy) ** 2)
        d = float(res.approach_m[best.angle_bin, int(best.v), int(best.u)])
        assert 0.005 < d <= label_gripper(cell.settings).finger_length_m
        world = image_grasp_to_world(best.u, best.v, best.angle, best.width, obs.depth, k, obs.camera_pose)
        world = GraspPose(world.position, world.yaw, world.width_m, depth_m=d)
        result = execute_grasp(cell, world)
        assert result.fingertip_z == pytest.approx(world.position[2] - d, abs=0.002)
        assert result.success, result.reason
        # and the default depth when the grasp has none
        _place_box(cell)
        other = execute_grasp(cell, GraspPose(world.position, world.yaw, world.width_m))
        assert other.fingertip_z == pytest.approx(world.position[2] - cell.settings.protocol.default_grasp_depth,
                                                  abs=0.002)


@pytest.mark.parametrize("arm", ["widowx", "kinova"])
def test_arms_execute_the_grasps_approach_depth(arm, across_box):
    with make_cell([box_object((0.04, 0.05, 0.035))], arm, seed=0) as cell:
        for depth in (0.01, 0.02):
            cell.reset(0, seed=1)
            grasp = across_box(cell, (0.04, 0.05, 0.035), depth=depth)
            result = run_grasp(cell, grasp, arm)
            assert result.fingertip_z == pytest.approx(grasp.position[2] - depth, abs=0.004), (depth, result)
            assert result.success, result.reason
