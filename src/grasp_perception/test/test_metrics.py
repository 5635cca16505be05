import math

import cv2
import numpy as np
import pytest

from grasp_perception.grasp import ImageGrasp
from grasp_perception.metrics import RectangleMetric, best_iou, grasp_matches, rectangle_iou

GT = ImageGrasp(u=100, v=100, angle=0.0, width=60, jaw=30)


def rotated_square_iou(theta):
    """Closed form: two equal squares rotated by theta about a common centre."""
    c = 1 / (1 + math.sin(theta) + math.cos(theta))  # hypotenuse of a cut corner triangle
    inter = 1 - 2 * c * c * math.sin(theta) * math.cos(theta)
    return inter / (2 - inter)


def test_identical_and_disjoint():
    assert rectangle_iou(GT, GT) == pytest.approx(1.0)
    assert rectangle_iou(GT, GT.shifted(200, 0)) == 0.0
    assert rectangle_iou(GT, GT.shifted(60, 0)) == pytest.approx(0.0, abs=1e-12)  # touching
    assert not grasp_matches(GT, [GT.shifted(200, 0)], 0.25)


def test_shifted_by_half_is_one_third():
    assert rectangle_iou(GT, GT.shifted(30, 0)) == pytest.approx(1 / 3)
    assert rectangle_iou(GT, GT.shifted(0, 15)) == pytest.approx(1 / 3)
    # corners input and orientation of the corner order do not matter
    assert rectangle_iou(GT.as_rectangle(), GT.shifted(30, 0).as_rectangle()[::-1]) == pytest.approx(1 / 3)


def test_rotated_square_matches_closed_form_and_angle_boundary():
    sq = ImageGrasp(u=50, v=50, angle=0.0, width=40, jaw=40)
    at30 = ImageGrasp(u=50, v=50, angle=math.pi / 6, width=40, jaw=40)
    expected = rotated_square_iou(math.pi / 6)  # 0.732
    assert rectangle_iou(sq, at30) == pytest.approx(expected, rel=1e-12)
    assert rectangle_iou(sq, ImageGrasp(50, 50, 0.3, 40, 40)) == pytest.approx(rotated_square_iou(0.3))
    assert grasp_matches(sq, [at30], 0.25)  # exactly 30°: within
    assert best_iou(sq, [at30]) == pytest.approx(expected)
    at31 = ImageGrasp(u=50, v=50, angle=math.radians(31), width=40, jaw=40)
    assert rectangle_iou(sq, at31) > 0.7  # high IoU ...
    assert not grasp_matches(sq, [at31], 0.25)  # ... but the angle is off
    assert best_iou(sq, [at31]) == 0.0
    # angle difference is modulo pi: 89° vs -89° is 2° apart
    assert grasp_matches(ImageGrasp(0, 0, math.radians(89), 40, 20),
                         [ImageGrasp(0, 0, math.radians(-89), 40, 20)], 0.25)


def test_threshold_is_strict():
    pred = GT.shifted(36, 0)  # overlap 24 of 60 -> IoU = 24 / 96 = 0.25
    iou = rectangle_iou(pred, GT)
    assert iou == pytest.approx(0.25)
    assert not grasp_matches(pred, [GT], iou)
    assert grasp_matches(pred, [GT], iou - 1e-9)


def test_best_over_several_ground_truths():
    far = GT.shifted(300, 0)
    half = GT.shifted(30, 0)
    assert best_iou(GT, [far, half]) == pytest.approx(1 / 3)
    assert best_iou(GT, []) == 0.0
    assert grasp_matches(GT, [far, half], 0.3) and not grasp_matches(GT, [far, half], 0.34)


def test_against_opencv_on_random_rectangles():
    rng = np.random.default_rng(7)
    for _ in range(50):
        a = ImageGrasp(rng.uniform(40, 60), rng.uniform(40, 60), rng.uniform(-1.5, 1.5),
                       rng.uniform(5, 60), rng.uniform(5, 40))
        b = ImageGrasp(rng.uniform(40, 60), rng.uniform(40, 60), rng.uniform(-1.5, 1.5),
                       rng.uniform(5, 60), rng.uniform(5, 40))
        inter, _ = cv2.intersectConvexConvex(a.as_rectangle().astype(np.float32),
                                             b.as_rectangle().astype(np.float32))
        ref = inter / (a.width * a.jaw + b.width * b.jaw - inter)
        assert rectangle_iou(a, b) == pytest.approx(ref, abs=1e-4)


def test_zero_area_and_bad_corners():
    assert rectangle_iou(ImageGrasp(0, 0, 0, 0, 10), ImageGrasp(0, 0, 0, 0, 10)) == 0.0
    assert rectangle_iou(GT, ImageGrasp(100, 100, 0, 60, 0)) == 0.0
    with pytest.raises(ValueError, match="b"):
        rectangle_iou(GT, np.zeros((3, 2)))
    with pytest.raises(ValueError, match="convex"):
        rectangle_iou(np.array([[0, 0], [10, 10], [10, 0], [0, 10]]), GT)  # crossed order
    with pytest.raises(ValueError, match="pred"):
        best_iou("not a grasp", [GT])


def test_rectangle_metric_summary():
    m = RectangleMetric()
    m.update([GT], [GT])                                  # IoU 1
    m.update([GT.shifted(30, 0), GT], [GT])               # top-1 IoU 1/3
    m.update([ImageGrasp(100, 100, 1.0, 60, 30)], [GT])   # 57° off: 0
    m.update([], [GT])                                    # no prediction: failure, IoU 0
    s = m.summary()
    assert s["n_images"] == 4
    assert s["iou_0.25"] == pytest.approx(0.5) and s["iou_0.30"] == pytest.approx(0.5)
    assert s["iou_0.50"] == pytest.approx(0.25) and s["iou_0.75"] == pytest.approx(0.25)
    assert s["iou_avg"] == pytest.approx((1 + 1 / 3) / 4)
    assert set(s) == {"n_images", "n_no_gt", "iou_0.25", "iou_0.30", "iou_0.50", "iou_0.75", "iou_avg"}
    assert s["n_no_gt"] == 0


def test_images_without_ground_truth_are_counted_not_scored():
    m = RectangleMetric()
    m.update([GT], [GT])                    # success
    m.update([GT], [])                      # nothing to match: skipped, not a failure
    m.update([], [])
    m.update([GT.shifted(60, 0)], [GT])     # disjoint: a failure
    s = m.summary()
    assert (s["n_images"], s["n_no_gt"]) == (2, 2)
    assert s["iou_0.25"] == pytest.approx(0.5) and s["iou_avg"] == pytest.approx(0.5)
    m.reset()
    m.update([GT], [])
    s = m.summary()
    assert (s["n_images"], s["n_no_gt"]) == (0, 1) and math.isnan(s["iou_0.25"])  # nothing scored: no result


def test_merge_summaries_sums_counts_and_weights_rates_by_scored_images():
    from grasp_perception.evaluation import format_table, merge_summaries
    a = {"n_images": 3, "n_no_gt": 1, "iou_0.25": 1.0, "iou_0.30": 1.0, "iou_0.50": 1.0, "iou_0.75": 0.0,
         "iou_avg": 0.6, "ms_per_image": 10.0}
    b = {"n_images": 1, "n_no_gt": 0, "iou_0.25": 0.0, "iou_0.30": 0.0, "iou_0.50": 0.0, "iou_0.75": 0.0,
         "iou_avg": 0.2, "ms_per_image": 20.0}
    empty = {"n_images": 0, "n_no_gt": 2, **{k: float("nan") for k in a if k.startswith("iou")},
             "ms_per_image": 5.0}
    m = merge_summaries([a, b, empty])
    assert (m["n_images"], m["n_no_gt"]) == (4, 3)
    assert isinstance(m["n_images"], int) and isinstance(m["n_no_gt"], int)
    assert m["iou_0.25"] == pytest.approx(3 / 4)          # a process that scored nothing adds no weight
    assert m["iou_avg"] == pytest.approx((3 * 0.6 + 0.2) / 4)
    assert m["ms_per_image"] == pytest.approx((4 * 10 + 1 * 20 + 2 * 5) / 7)  # every image ran
    table = format_table(m)
    assert "| 4 | 3 | 75.0 %" in table and "no GT" in table and "3 image(s) without a ground-truth" in table


def test_rectangle_metric_top_n_and_reset():
    m = RectangleMetric(thresholds=(0.5,), top_n=2)
    m.update([GT.shifted(30, 0), GT], [GT])  # second prediction matches
    m.update([GT.shifted(30, 0), GT.shifted(30, 0), GT], [GT])  # only the 3rd would
    s = m.summary()
    assert s["iou_0.50"] == pytest.approx(0.5)
    assert s["iou_avg"] == pytest.approx(1 / 3)  # iou_avg always uses the top-1 prediction
    m.reset()
    assert m.summary()["n_images"] == 0 and math.isnan(m.summary()["iou_0.50"])
    with pytest.raises(ValueError, match="top_n"):
        RectangleMetric(top_n=0)
    with pytest.raises(ValueError, match="thresholds"):
        RectangleMetric(thresholds=(1.5,))
