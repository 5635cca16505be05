"""PLGP's bin-picking procedure in the real cell (MuJoCo, realistic settings): scripted scenes with a perfect
detector and a hopeless one, object removal, settling, invalid attempts, name-keyed seeds."""
import dataclasses

import numpy as np
import pytest

import grasp_sim  # noqa: F401  (sets MUJOCO_GL before mujoco is imported)
from grasp_sim.cell import SEG_BACKGROUND
from grasp_sim.executors import judge_lift
from grasp_sim.metrics import clutter_measures
from grasp_sim.objects import box_object
from grasp_sim.protocol import summarise
from grasp_sim.seeds import trial_seed
from grasp_sim.settings import load_sim_settings
from grasp_sim.sim_trials import SimTrialExecutor, make_trial_cell, run_clutter_scene

BOX = (0.04, 0.06, 0.03)


def boxes(names=("box0", "box1", "box2")):
    return [box_object(BOX, name=n, mass=0.1) for n in names]


def settings(ap_top_k: int = 6, **physics):
    """The realistic settings with AP over fewer grasps (each costs a simulated grasp; the arithmetic is the
    same as at 50)."""
    s = load_sim_settings()
    clutter = dataclasses.replace(s.protocol.clutter, ap_top_k=ap_top_k)
    return s.replace(protocol=dataclasses.replace(s.protocol, clutter=clutter),
                     physics=dataclasses.replace(s.physics, **physics))


@pytest.fixture
def cell():
    c = make_trial_cell(boxes(), "floating", settings(), seed=0)
    yield c
    c.close()


def test_a_perfect_detector_clears_the_scene_and_ap_counts_its_two_real_grasps_of_six(cell, top_face_oracle):
    oracle = top_face_oracle(cell)
    r = run_clutter_scene(cell, oracle, 0, n_objects=2, gripper="floating", seed=0)
    assert "invalid" not in r, r.get("invalid")
    assert (r["picked"], r["attempts"], r["n_objects"]) == (2, 2, 2)
    # The oracle ranks its two box grasps first, then 4 misses on the empty tray floor.
    assert (r["ap_hits"], r["ap_top_k"], r["ap_ranked"]) == (2, 6, 6)
    m = clutter_measures([r])
    assert (m["SR"], m["PC"], m["AP"]) == (1.0, 1.0, pytest.approx(2 / 6))
    assert cell.active == []
    # GraspNet's analytic AP of the same first image: 1000 candidates (two box grasps, then copies of one miss)
    # that pose-NMS reduces to three; the miss encloses nothing. (Whether a box grasp holds depends on how the
    # box landed: the oracle's width is its visible top, so a tilted box can meet the open fingers;
    # test_graspnet_ap checks the scoring on placed objects.)
    gn = r["graspnet"]
    assert (gn["candidates"], gn["after_nms"], gn["empty"], len(gn["required_mu"])) == (1000, 3, 1, 3)
    assert gn["required_mu"][-1] == -1.0 and 0 < m["GN_AP"] <= np.mean([1, 1] + [2 / k for k in range(3, 51)])


def test_a_detector_that_always_misses_stops_after_max_failures_in_a_row(cell, top_face_oracle):
    oracle = top_face_oracle(cell, good=False)
    r = run_clutter_scene(cell, oracle, 1, n_objects=3, gripper="floating", seed=0)
    assert "invalid" not in r, r.get("invalid")
    assert (r["attempts"], r["picked"], r["ap_hits"]) == (cell.settings.protocol.clutter.max_failures, 0, 0)
    assert sorted(cell.active) == [0, 1, 2]
    m = clutter_measures([r])
    assert (m["SR"], m["PC"], m["AP"], m["GN_AP"]) == (0.0, 0.0, 0.0, 0.0)


def test_remove_object_takes_it_out_of_view_and_the_rest_settle(cell):
    cell.reset([0, 1, 2], seed=3)
    before = cell.render().segmentation
    assert {0, 1, 2} <= set(np.unique(before).tolist())
    cell.remove_object(1)
    assert cell.active == [0, 2]
    assert cell.settle() and cell.last_settled
    seg = cell.render().segmentation
    assert 1 not in np.unique(seg) and {0, 2} <= set(np.unique(seg).tolist())
    parked = cell.object_pose(1)[0]
    cell.step(200)  # parked objects float where they were put
    assert np.allclose(cell.object_pose(1)[0], parked, atol=1e-6)
    with pytest.raises(ValueError, match="not in the scene"):
        cell.remove_object(1)


def test_an_object_that_rose_but_is_not_between_the_pads_is_a_failure(cell):
    cell.reset([0], seed=4)
    z0 = {0: float(cell.object_pose(0)[0][2])}
    p, q = cell.object_pose(0)
    cell.set_object_pose(0, (p[0], p[1], p[2] + 0.12), q)  # lifted, but no finger touches it
    result = judge_lift(cell, z0)
    assert not result.success and result.object_index == 0
    assert result.reason.startswith("object rose but is not held between both fingers")
    assert result.lift_height == pytest.approx(0.12, abs=1e-6)


def test_an_attempt_whose_physics_broke_is_rerun_and_never_counted(cell, top_face_oracle):
    def break_physics(call):  # during the first attempt only: a non-finite velocity, as a blow-up gives
        if call == 1:
            cell.data.qvel[:] = np.nan

    oracle = top_face_oracle(cell, on_predict=break_physics)
    executor = SimTrialExecutor(cell, oracle, "floating", seed=0)
    executor.reset(0, 0)
    record = executor.attempt(0, 0)
    assert len(record["invalid_runs"]) == 1 and record["invalid_runs"][0]["retry"] == 0
    assert "BADQVEL" in record["invalid_runs"][0]["reason"] or "non-finite" in record["invalid_runs"][0]["reason"]
    assert "invalid" not in record and oracle.calls == 2
    record.update(object="box0", object_index=0, trial=0)
    broken = {**{k: v for k, v in record.items() if k != "invalid_runs"}, "trial": 1,
              "invalid": "non-finite state (qpos/qvel)", "success": True}
    s = summarise([record, broken], ["box0"])
    assert s["n_trials"] == 1 and s["n_invalid"] == 1 and s["n_invalid_attempts"] == 1
    assert s["successes"] == int(record["success"])  # the invalid "success" is not counted


def test_a_scene_that_never_settles_is_invalid(top_face_oracle):
    s = settings(ap_top_k=1, settle_max_time=0.02)  # 10 steps: no drop comes to rest
    c = make_trial_cell(boxes(), "floating", s, seed=0)
    try:
        with pytest.warns(UserWarning, match="still moving"):
            r = run_clutter_scene(c, top_face_oracle(c), 0, n_objects=2, gripper="floating",
                                  seed=0)
        assert "never came to rest" in r["invalid"]
        assert len(r["invalid_runs"]) == s.protocol.invalid_retries + 1
        assert clutter_measures([r])["n_scenes"] == 0
    finally:
        c.close()


def test_trial_seeds_follow_the_object_name_not_its_place_in_the_pool(top_face_oracle):
    assert trial_seed(0, "box1", 3) == trial_seed(0, "box1", 3) != trial_seed(0, "box2", 3)
    poses = []
    for names in (("box0", "box1"), ("box1",)):
        c = make_trial_cell(boxes(names), "floating", settings(), seed=0)
        try:
            ex = SimTrialExecutor(c, None, "floating", seed=7)
            ex.reset(names.index("box1"), 2)
            poses.append(np.concatenate(c.object_pose(names.index("box1"))))
        finally:
            c.close()
    assert np.allclose(poses[0], poses[1], atol=1e-9)
