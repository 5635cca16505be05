"""grasp_interfaces builds (colcon, rosidl) and every message, service and action round-trips as CDR."""
import math

import pytest

pytest.importorskip("rclpy", reason="ROS 2 (rclpy) is installed by make setup")
pytest.importorskip("grasp_interfaces", reason="grasp_interfaces is built by make setup (colcon)")
from rclpy.serialization import deserialize_message, serialize_message  # noqa: E402

from grasp_interfaces.action import RunTrials  # noqa: E402
from grasp_interfaces.msg import Grasp, TrialResult  # noqa: E402
from grasp_interfaces.srv import ExecuteGrasp, PlanGrasp  # noqa: E402


def _grasp(width=0.042):
    g = Grasp(width=width, quality=0.75, center_u=320.5, center_v=200.25, angle=-0.5, width_px=40.0, jaw_px=20.0,
              depth=0.55)
    g.pose.header.frame_id = "wx250s/base_link"
    g.pose.pose.position.x, g.pose.pose.orientation.w = 0.3, 1.0
    return g


def _round_trip(msg):
    return deserialize_message(serialize_message(msg), type(msg))


def test_grasp_and_trial_result_round_trip():
    back = _round_trip(TrialResult(object_name="A0", trial=3, success=True, reason="lifted and held",
                                   lift_height=float("nan"), grasp=_grasp(), bag_path="bags/A0_03", seconds=4.5))
    assert (back.object_name, back.trial, back.success, back.reason, back.bag_path) == \
        ("A0", 3, True, "lifted and held", "bags/A0_03")
    assert math.isnan(back.lift_height) and math.isclose(back.grasp.width, 0.042, rel_tol=1e-6)
    assert back.grasp.pose.header.frame_id == "wx250s/base_link" and back.grasp.pose.pose.position.x == 0.3


def test_services_round_trip():
    req = _round_trip(PlanGrasp.Request(max_grasps=5, min_quality=0.25))
    assert req.max_grasps == 5 and math.isclose(req.min_quality, 0.25)
    res = PlanGrasp.Response(success=True, message="2 grasp(s)", grasps=[_grasp(0.03), _grasp(0.05)])
    res.image_stamp.sec, res.image_stamp.nanosec = 12, 345
    back = _round_trip(res)
    assert [round(g.width, 3) for g in back.grasps] == [0.03, 0.05] and back.image_stamp.nanosec == 345
    ex = _round_trip(ExecuteGrasp.Response(success=False, message="unreachable: x", executed=False,
                                           lift_measured=float("nan")))
    assert not ex.executed and ex.message.startswith("unreachable")
    assert _round_trip(ExecuteGrasp.Request(grasp=_grasp(), lift_height=0.1)).grasp.center_v == 200.25


def test_run_trials_action_round_trips():
    goal = _round_trip(RunTrials.Goal(objects=["A0", "B1"], trials_per_object=20, output_dir="runs/x", resume=True))
    assert list(goal.objects) == ["A0", "B1"] and goal.trials_per_object == 20 and goal.resume
    fb = _round_trip(RunTrials.Feedback(done=3, total=40, last=TrialResult(object_name="B1", success=False)))
    assert (fb.done, fb.total, fb.last.object_name) == (3, 40, "B1")
    result = _round_trip(RunTrials.Result(success=True, n_trials=40, successes=31, success_rate=0.775,
                                          results_path="runs/x/results.json"))
    assert result.successes == 31 and math.isclose(result.success_rate, 0.775, rel_tol=1e-6)
