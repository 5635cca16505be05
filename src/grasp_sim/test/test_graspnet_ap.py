"""GraspNet-1Billion's analytic AP: force closure on hand-made contacts, the simplified gripper's collision and
emptiness, pose-NMS, the AP arithmetic on scripted lists, and the same checks on objects in the cell (MuJoCo
ray contacts)."""
import math

import numpy as np
import pytest

import grasp_sim  # noqa: F401  (sets MUJOCO_GL before mujoco is imported)
from grasp_sim.graspnet_ap import (INVALID, FLIP, GripperBox, graspnet_ap, gripper_checks, pose_nms,
                                   precision_at_k, required_friction, top_per_object)
from grasp_sim.metrics import average_clutter_over_friction, graspnet_measures
from grasp_sim.objects import ObjectSpec, Primitive, box_object
from grasp_sim.scene_geometry import scene_points, score_grasps, select_grasps
from grasp_sim.settings import load_sim_settings
from grasp_sim.sim_trials import make_trial_cell

MUS = [0.2, 0.4, 0.6, 0.8, 1.0]


def top_down(position, yaw=0.0):
    """world_R_grasp and t of a grasp from above closing along ``yaw`` (x closing, z approach = down)."""
    x = np.array([math.cos(yaw), math.sin(yaw), 0.0])
    z = np.array([0.0, 0.0, -1.0])
    return np.stack([x, np.cross(z, x), z], axis=1), np.asarray(position, float)


# ----------------------------------------------------------------------------------------- force closure
def test_an_antipodal_pair_holds_at_any_friction():
    mu = required_friction([-0.02, 0, 0], [-1, 0, 0], [0.02, 0, 0], [1, 0, 0])
    assert mu == pytest.approx(0.0, abs=1e-9)


def test_a_slanted_pair_holds_only_above_its_friction_angle():
    # both normals 30 deg off the line between the contacts: needs mu >= tan 30 = 0.577
    n = lambda sx: [sx * math.cos(math.radians(30)), math.sin(math.radians(30)), 0.0]  # noqa: E731
    mu = required_friction([-0.02, 0, 0], n(-1), [0.02, 0, 0], n(1))
    assert mu == pytest.approx(math.tan(math.radians(30)))
    positive = precision_at_k([mu], MUS, top_k=1)[0]
    assert positive.tolist() == [0, 0, 1, 1, 1]  # fails at 0.2 and 0.4, holds from 0.6


def test_contacts_facing_away_or_coinciding_never_hold():
    assert required_friction([-0.02, 0, 0], [1, 0, 0], [0.02, 0, 0], [1, 0, 0]) == math.inf  # first faces away
    assert required_friction([0, 0, 0], [-1, 0, 0], [0, 0, 0], [1, 0, 0]) == math.inf


# ---------------------------------------------------------------------------------- simplified gripper
def test_points_between_the_fingers_fill_the_grasp_and_points_in_a_finger_or_the_palm_collide():
    R, t = top_down([0, 0, 0.05])
    grasp = dict(R=R[None], t=t[None], width=np.array([0.06]), depth=np.array([0.02]))
    between = np.array([[x, 0.0, 0.04] for x in np.linspace(-0.02, 0.02, 12)])  # 12 points inside
    assert [v.tolist() for v in gripper_checks(between, **grasp)] == [[False], [False]]
    assert gripper_checks(between[:5], **grasp)[1].tolist() == [True]  # < 10 points: empty
    finger = np.vstack([between, [[0.034, 0.0, 0.04]]])      # 4 mm into the right finger (x 0.03..0.04)
    palm = np.vstack([between, [[0.0, 0.0, 0.075]]])        # 2.5 cm above the grasp point: the palm plate
    beside = np.vstack([between, [[0.0, 0.02, 0.04]]])      # 2 cm along the jaw: outside its 2 cm height
    assert gripper_checks(finger, **grasp)[0].tolist() == [True]
    assert gripper_checks(palm, **grasp)[0].tolist() == [True]
    assert gripper_checks(beside, **grasp)[0].tolist() == [False]
    deeper = dict(grasp, depth=np.array([0.005]))             # fingertips stop 5 mm below: above the points
    assert gripper_checks(between, **deeper)[1].tolist() == [True]


# ------------------------------------------------------------------------------------------ pose NMS
def test_pose_nms_drops_near_copies_including_the_half_turn_and_keeps_other_grasps():
    R0, t0 = top_down([0, 0, 0.05], 0.0)
    R = np.stack([R0, R0, R0 @ FLIP, top_down([0, 0, 0], math.radians(60))[0], R0])
    t = np.stack([t0, t0 + [0.01, 0, 0], t0, t0, t0 + [0.05, 0, 0]])
    scores = np.array([0.9, 0.8, 0.7, 0.6, 0.5])
    # 1: 1 cm away, same rotation; 2: the same grasp turned half round; 3: 60 deg off; 4: 5 cm away
    assert pose_nms(R, t, scores).tolist() == [0, 3, 4]


def test_each_object_keeps_its_best_grasps_then_the_scene_its_best_of_those():
    owner = np.array([0, 0, 0, 1, 1, 2])
    scores = np.array([0.9, 0.8, 0.7, 0.95, 0.1, 0.5])
    assert top_per_object(owner, scores, per_object=2, top_k=4).tolist() == [3, 0, 1, 5]


# ------------------------------------------------------------------------------------------ AP arithmetic
def test_precision_at_k_counts_missing_grasps_as_failures_and_ap_averages_k_then_mu():
    required = [0.1, INVALID, 0.5]            # holds from 0.2; never; holds from 0.6
    p = precision_at_k(required, MUS, top_k=4)
    assert p[:, 0].tolist() == pytest.approx([1, 1 / 2, 1 / 3, 1 / 4])
    assert p[:, 2].tolist() == pytest.approx([1, 1 / 2, 2 / 3, 2 / 4])
    ap = graspnet_ap([required, []], MUS, top_k=4)
    low = np.mean([1, 1 / 2, 1 / 3, 1 / 4]) / 2   # the empty scene scores 0 at every k
    high = np.mean([1, 1 / 2, 2 / 3, 2 / 4]) / 2
    assert ap["AP_mu"]["0.2"] == pytest.approx(low) and ap["AP_mu"]["0.4"] == pytest.approx(low)
    assert ap["AP_mu"]["0.6"] == pytest.approx(high)
    assert ap["AP"] == pytest.approx((2 * low + 3 * high) / 5)


def test_graspnet_measures_read_the_scene_records_and_refuse_mixed_setups():
    rec = lambda req, mus=MUS: {"graspnet": {"required_mu": req, "frictions": mus, "top_k": 2}}  # noqa: E731
    m = graspnet_measures([rec([0.3, INVALID]), rec([0.1]), {"scene": 3}])
    # scene 1: P@1, P@2 = (0, 0) at 0.2, (1, 1/2) from 0.4; scene 2: (1, 1/2) everywhere
    assert m["GN_AP_0.4"] == pytest.approx(0.75) and m["GN_AP_0.8"] == pytest.approx(0.75)
    assert m["GN_AP"] == pytest.approx((0.375 + 4 * 0.75) / 5)
    assert graspnet_measures([{"scene": 0}]) == {"GN_AP": None, "GN_AP_0.8": None, "GN_AP_0.4": None}
    with pytest.raises(ValueError, match="different frictions"):
        graspnet_measures([rec([0.1]), rec([0.1], [0.5])])
    avg = average_clutter_over_friction({"0.2": {"SR": 1.0, "PC": 1.0, "AP": 0.5, **m},
                                         "0.6": {"SR": 0.0, "PC": 0.0, "AP": 0.5, "GN_AP": 0.0}})
    assert avg["GN_AP"] == pytest.approx(m["GN_AP"] / 2) and avg["GN_AP_0.4"] == pytest.approx(0.75)


# ----------------------------------------------------------------------------------------- in the cell
@pytest.fixture(scope="module")
def cell():
    ball = ObjectSpec("ball", primitives=(Primitive("sphere", (0.02,)),), mass=0.05)
    c = make_trial_cell([box_object((0.04, 0.07, 0.03)), ball], "floating", load_sim_settings(), seed=0)
    c.reset([0, 1], seed=1)
    c.set_object_pose(0, (0.0, 0.0, 0.015))
    c.set_object_pose(1, (0.0, 0.1, 0.02))
    yield c
    c.close()


def score(cell, grasps, width=0.06, depth=0.015):
    cfg = cell.settings.protocol.clutter.graspnet_ap
    R, t = (np.stack(v) for v in zip(*grasps))
    points = scene_points(cell, cfg.object_voxel, cfg.table_voxel)
    chosen, owner, _ = select_grasps(R, t, np.linspace(1, 0.5, len(t)), cfg, points)
    assert chosen.tolist() == list(range(len(t)))  # these grasps are far enough apart to survive NMS
    n = len(t)
    return score_grasps(cell, R, t, np.full(n, width), np.full(n, depth), owner, cfg, points)


def test_on_the_box_across_its_narrow_side_holds_through_it_collides_and_over_the_floor_is_empty(cell):
    required, why = score(cell, [top_down([0, 0, 0.03], 0.0),             # across the 4 cm side, 6 cm open
                                 top_down([0.0, 0.0, 0.03], math.pi / 2),    # 7 cm side: the fingers hit it
                                 top_down([0.12, -0.1, 0.06], 0.0)])         # 6 cm over the tray floor
    assert required[0] == pytest.approx(0.0, abs=0.02)
    assert required[1:].tolist() == [INVALID, INVALID]
    assert why == {"collision": 1, "empty": 1, "no_contact": 0}


def test_an_off_centre_grasp_on_a_ball_needs_the_friction_of_its_contact_angle(cell):
    # closing line 1 cm beside the ball's centre (r = 2 cm), at its height: contacts 30 deg off the line
    R, t = top_down([0.0, 0.1, 0.04], 0.0)
    t = t + R[:, 1] * 0.01
    required, why = score(cell, [(R, t)], width=0.05, depth=0.02)
    assert why == {"collision": 0, "empty": 0, "no_contact": 0}
    assert required[0] == pytest.approx(math.tan(math.radians(30)), abs=0.03)


def test_a_scene_scored_from_a_detector_ranks_the_box_grasp_first_and_finds_the_miss_empty(cell, top_face_oracle):
    from grasp_sim.sim_trials import graspnet_scene
    gn = graspnet_scene(cell, cell.render(), top_face_oracle(cell), "floating")
    # the box (larger blob) first, the ball, then one miss left of the padding by pose-NMS
    assert (gn["candidates"], gn["after_nms"], len(gn["required_mu"])) == (1000, 3, 3)
    box, ball, miss = gn["required_mu"]
    assert 0 <= box <= 0.2 and miss == INVALID and gn["empty"] == 1
    assert ball > 0 and gn["collision"] == 0  # scored: its contacts meet a curved surface off the equator


def test_a_point_cloud_model_folder_is_scored_on_its_own_6dof_grasps(cell, tmp_path):
    """make_predictor gives a point-cloud model folder the trials' predict; graspnet_scene scores its 6-DoF
    grasps as they are (their own approach; the depth they predicted), not image grasps lifted through depth.
    Untrained (every seed made graspable): the path is checked, not the figures."""
    import torch
    from grasp_perception.model_io import save_model
    from grasp_perception.pointcloud.predict import untrained
    from grasp_sim.sim_trials import PointCloudSimPredictor, approach_depths, graspnet_scene, make_predictor
    torch.manual_seed(0)
    net, card = untrained((512, 256, 128, 64), n_points=4000, operation_seeds=64)
    with torch.no_grad():  # every seed graspable, approaching along the optical axis (down, for this camera)
        net.approach[-1].bias[1] += 100.0
        net.approach[-1].bias[2 + int(net.view_dirs[:, 2].argmax())] += 100.0
    predictor = make_predictor(str(save_model(tmp_path / "g6", net, card)))
    assert isinstance(predictor, PointCloudSimPredictor) and predictor.card.name == card.name
    obs = cell.render()
    grasps = predictor.predict(obs.depth, top_k=30, intrinsics=obs.intrinsics).grasps
    assert 0 < len(grasps) <= 30 and all(g.camera_pose is not None for g in grasps)
    assert {how for _, how in approach_depths(cell, obs, grasps, "floating")} == {"predicted"}
    gn = graspnet_scene(cell, obs, predictor, "floating")
    assert gn["candidates"] == 64 and gn["lifted"] == 64       # one grasp per operated seed, all from above
    assert 0 < len(gn["required_mu"]) <= min(gn["after_nms"], 50)


def test_the_graspnet_eval_command_tables_a_model_on_the_benchmark_scenes(tmp_path):
    from grasp_perception.model_io import models_dir
    from grasp_sim.graspnet_eval import main
    out = tmp_path / "gn.md"
    assert main(["--model", str(models_dir() / "ggcnn2-sim-v1"), "--scenes", "1", "--sizes", "2", "--out", str(out),
                 "--no-progress"]) == 0
    row = [line for line in out.read_text().splitlines() if line.startswith("| `ggcnn2-sim-v1`")]
    assert len(row) == 1
    cells = [c.strip() for c in row[0].strip("|").split("|")]
    assert cells[1:3] == ["2", "1"] and all(0.0 <= float(c) <= 100.0 for c in cells[3:6])
