"""PLGP's SR / PC / AP and the friction average, as the paper defines them (plain arithmetic)."""
import pytest

from grasp_sim.metrics import average_clutter_over_friction, average_over_friction, clutter_measures, valid


def scene(attempts, picked, n_objects=5, ap_hits=0, ap_top_k=50, **extra):
    return {"scene": extra.pop("scene", 0), "attempts": attempts, "picked": picked, "n_objects": n_objects,
            "ap_hits": ap_hits, "ap_top_k": ap_top_k, **extra}


def test_sr_is_successes_over_attempts_pooled_not_a_mean_of_scene_ratios():
    # Scene A: 5 picks in 5 attempts; scene B: 1 pick, then 5 failures in a row (6 attempts).
    m = clutter_measures([scene(5, 5, ap_hits=40), scene(6, 1, ap_hits=10)])
    assert m["SR"] == pytest.approx(6 / 11)            # the mean of ratios would be (1 + 1/6) / 2 = 0.583
    assert m["PC"] == pytest.approx(6 / 10)
    assert m["AP"] == pytest.approx(50 / 100)
    assert (m["attempts"], m["picked"], m["objects"], m["n_scenes"], m["n_invalid"]) == (11, 6, 10, 2, 0)


def test_pc_pools_objects_when_scenes_differ_in_size():
    m = clutter_measures([scene(3, 3, n_objects=3), scene(15, 5, n_objects=15)])
    assert m["PC"] == pytest.approx(8 / 18)


def test_invalid_scenes_are_reported_and_never_counted():
    scenes = [scene(5, 5, ap_hits=50), scene(9, 0, ap_hits=0, invalid="MuJoCo warning mjWARN_BADQACC x1")]
    m = clutter_measures(scenes)
    assert (m["SR"], m["PC"], m["AP"], m["n_scenes"], m["n_invalid"]) == (1.0, 1.0, 1.0, 1, 1)
    assert valid(scenes) == scenes[:1]


def test_no_valid_scene_gives_no_figure_rather_than_zero():
    m = clutter_measures([scene(1, 0, invalid="non-finite state")])
    assert m["SR"] is None and m["PC"] is None and m["AP"] is None


@pytest.mark.parametrize("bad", [dict(attempts=2, picked=3), dict(attempts=9, picked=6, n_objects=5),
                                 dict(attempts=1, picked=0, ap_hits=51)])
def test_impossible_counts_are_refused(bad):
    with pytest.raises(ValueError, match="must be between"):
        clutter_measures([scene(**bad)])


def test_the_reported_figure_is_the_mean_over_mu():
    per_mu = {"0.2": clutter_measures([scene(10, 2, ap_hits=5)]), "1": clutter_measures([scene(5, 5, ap_hits=45)])}
    avg = average_clutter_over_friction(per_mu)
    assert avg["SR"] == pytest.approx((0.2 + 1.0) / 2)
    assert avg["PC"] == pytest.approx((0.4 + 1.0) / 2)
    assert avg["AP"] == pytest.approx((0.1 + 0.9) / 2)
    assert (avg["attempts"], avg["picked"], avg["n_scenes"]) == (15, 7, 2)


def test_per_object_rates_average_over_mu_and_counts_sum():
    def summary(s, n):
        return {"per_object": {"A0": {"successes": s, "attempts": n, "rate": s / n}}, "n_trials": n,
                "successes": s, "success_rate": s / n, "n_invalid": 1}
    avg = average_over_friction({"0.2": summary(1, 4), "1": summary(4, 4)}, ["A0"])
    assert avg["success_rate"] == pytest.approx(0.625) and avg["per_object"]["A0"]["rate"] == pytest.approx(0.625)
    assert (avg["n_trials"], avg["successes"], avg["n_invalid"]) == (8, 5, 2)
