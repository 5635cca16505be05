"""config/sim/*.yaml: the loader's errors, the realistic default, and the easy profile = the old cell."""
from pathlib import Path

import numpy as np
import pytest
import yaml

import grasp_sim  # noqa: F401  (sets MUJOCO_GL before mujoco is imported)
from grasp_perception.config import ConfigError
from grasp_sim.objects import box_object, procedural_objects
from grasp_sim.cell import SimCell
from grasp_sim.settings import SIM_CONFIG_DIR, load_sim_settings, resolve_sim_config, settings_from_dict


def _values(profile="realistic"):
    return yaml.safe_load((SIM_CONFIG_DIR / f"{profile}.yaml").read_text())


def _write(tmp_path, values) -> Path:
    path = tmp_path / "mine.yaml"
    path.write_text(yaml.safe_dump(values))
    return path


def test_both_profiles_load_and_realistic_is_the_default():
    real, easy = load_sim_settings(), load_sim_settings("easy")
    assert real.source.endswith("config/sim/realistic.yaml") and easy.source.endswith("config/sim/easy.yaml")
    assert load_sim_settings("realistic") == real and real != easy
    assert resolve_sim_config(None) == SIM_CONFIG_DIR / "realistic.yaml"
    with SimCell([box_object((0.03, 0.03, 0.03))]) as cell:
        assert cell.settings == real


@pytest.mark.parametrize("edit, message", [
    (lambda v: v["physics"].update(condimm=3), "unknown key(s) physics.condimm"),
    (lambda v: v["grippers"]["widowx"].pop("grip_force"), "missing key grippers.widowx.grip_force"),
    (lambda v: v["protocol"]["transport"].update(speed="fast"), "protocol.transport.speed must be float"),
    (lambda v: v["physics"].update(condim=5), "physics.condim must be one of 1, 3, 4, 6"),
    (lambda v: v["grippers"]["kinova"].update(force_model="spring"), "grippers.kinova.force_model must be one of"),
    (lambda v: v["protocol"].update(friction=[0.2, -1.0]), "protocol.friction must be distinct values > 0"),
    (lambda v: v["camera"].update(intrinsics="nope"), "camera.intrinsics must be"),
])
def test_a_bad_key_names_the_file_and_the_key_path(tmp_path, edit, message):
    values = _values()
    edit(values)
    path = _write(tmp_path, values)
    with pytest.raises(ConfigError) as err:
        load_sim_settings(path)
    assert str(path.resolve()) in str(err.value) and message in str(err.value)


def test_a_missing_file_names_the_known_profiles():
    with pytest.raises(ConfigError, match="realistic"):
        load_sim_settings("no_such_profile")


def test_settings_from_dict_round_trips():
    s = load_sim_settings()
    assert settings_from_dict(s.to_dict(), "again") == s


def test_easy_profile_reproduces_the_old_constants():
    e = load_sim_settings("easy")
    ph, fl, wx, kn, pr = e.physics, e.grippers.floating, e.grippers.widowx, e.grippers.kinova, e.protocol
    # contacts, friction and sizes before issue 10
    assert (ph.impratio, ph.condim, ph.torsional_friction, ph.rolling_friction) == (10.0, 6, 0.005, 0.001)
    assert ph.solref == [0.004, 1.0] and ph.object_priority and ph.mesh_friction == 1.0
    assert ph.procedural_friction == [0.6, 1.0] and ph.procedural_density == [300.0, 800.0]
    assert ph.mesh_max_extent == 0.06 and ph.mesh_density == 400.0 and ph.max_convex_hulls == 12
    # grippers: P-servos to fully closed
    assert (fl.force_model, fl.servo_kp, fl.grip_force) == ("servo", 1000.0, 20.0)
    assert (fl.max_opening, fl.close_time) == (0.08, 0.5)
    assert (fl.speed, fl.approach_height, fl.tip_clearance) == (0.25, 0.15, 0.002)
    assert (wx.force_model, wx.servo_kp, wx.grip_force, wx.close_time) == ("servo", 2000.0, 15.0, 0.6)
    assert (kn.force_model, kn.servo_kp, kn.grip_force, kn.close_time) == ("servo", 10.0, 5.0, 0.6)
    # execution and protocol
    assert e.open_margin == 0.02 and pr.approach_depth == "fixed" and pr.default_grasp_depth == 0.025
    assert pr.trials_per_object == 10 and pr.friction == [] and (pr.lift, pr.hold_s) == (0.10, 1.0)
    assert pr.transport.distance == 0 and pr.transport.shake_cycles == 0 and pr.success.min_rise == 0.08
    noise, he = e.camera.depth_noise, e.camera.hand_eye
    assert (noise.sigma_base, noise.sigma_z2, noise.gradient_scale, noise.downsample) == (0.001, 0.0, 0.05, 2)
    assert (he.translation_sigma, he.rotation_sigma_deg, e.camera.height) == (0.0, 0.0, 0.6)


def test_easy_cell_compiles_the_old_model():
    objs = [box_object((0.04, 0.07, 0.03))] + procedural_objects(2, seed=3, settings=load_sim_settings("easy"))
    with SimCell(objs, settings=load_sim_settings("easy")) as cell:
        m = cell.model
        assert m.opt.impratio == 10.0 and m.opt.timestep == 0.002
        geoms = cell._obj_geoms
        assert (m.geom_condim[geoms] == 6).all() and (m.geom_priority[geoms] == 1).all()
        np.testing.assert_allclose(m.geom_friction[geoms, 1:], [[0.005, 0.001]] * len(geoms))
        np.testing.assert_allclose(m.geom_solref[geoms], [[0.004, 1.0]] * len(geoms))
        assert 0.6 <= m.geom_friction[geoms, 0].min() and m.geom_friction[geoms, 0].max() <= 1.0
        a = cell.grip.aid
        assert m.actuator_gainprm[a, 0] == 1000.0 and tuple(m.actuator_forcerange[a]) == (-20.0, 20.0)
        np.testing.assert_allclose(m.actuator_ctrlrange[a], [0.0, 0.04])


def test_realistic_cell_applies_its_contact_model():
    s = load_sim_settings()
    with SimCell([box_object((0.04, 0.07, 0.03))], settings=s) as cell:
        m = cell.model
        geoms = np.concatenate([cell._obj_geoms, cell._pad_geoms])
        assert m.opt.impratio == s.physics.impratio
        assert (m.geom_condim[geoms] == s.physics.condim).all() and (m.geom_priority[cell._obj_geoms] == 0).all()
        np.testing.assert_allclose(m.geom_friction[cell._pad_geoms, 0], s.physics.pad_friction)


def test_easy_profile_replays_the_old_cells_trajectories():
    """Figures recorded with the code before issue 10 (commit 50bf62b): same objects, seeds and grasps."""
    from grasp_sim.executors import make_cell, run_grasp
    from grasp_sim.world_grasp import GraspPose
    easy = load_sim_settings("easy")
    objs = [box_object((0.04, 0.05, 0.035))] + procedural_objects(2, seed=5, settings=easy)
    old = {0: (0.099836, [-0.06419, -0.017413, 0.124832], 0.052796),
           1: (0.098907, [-0.07342, -0.025124, 0.121952], 0.024902)}
    with make_cell(objs, "floating", seed=0, settings=easy) as cell:
        for obj, (lift, pos, opening) in old.items():
            cell.reset(obj, seed=3)
            p = cell.object_pose(obj)[0]
            r = run_grasp(cell, GraspPose((p[0], p[1], 2 * p[2]), 0.3, 0.035), "floating")
            assert r.success and r.lift_height == pytest.approx(lift, abs=2e-6)
            np.testing.assert_allclose(cell.object_pose(obj)[0], pos, atol=2e-6)
            assert cell.gripper_opening() == pytest.approx(opening, abs=2e-6)
