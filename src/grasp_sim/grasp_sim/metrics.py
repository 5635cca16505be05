"""The simulated cell's measures, as the papers define them (plain Python: no MuJoCo or torch here).

Bin picking (PLGP, section V-B and Fig. 8), over the scenes of one contact friction mu:

- **SR** (success rate) "is the percentage of successful grasps out of total grasps": successes over
  attempts, pooled over every scene (not a mean of per-scene ratios, which would weigh a scene of 3
  attempts like one of 20). A scene is picked with the first-ranked grasp until no object is left or 5
  grasps in a row fail.
- **PC** (percent cleared) "is the ratio of the successful grasps number to the objects number in the
  scene": objects lifted over objects placed, pooled over the scenes (equal to the mean of per-scene
  ratios when every scene has the same number of objects).
- **AP** "is the percentage of successful grasps out of the top-50 grasps", each tried from the scene's
  initial state; the 50 are the top of the network's dense candidates (every pixel and angle class,
  :func:`grasp_perception.postprocess.dense_grasps`), not of the peaks left after suppression. A scene
  with fewer candidates counts the missing ones as failures. Pooled over scenes (each has the same 50).

GraspNet-1Billion's analytic AP (section 3.4, :mod:`grasp_sim.graspnet_ap`) on the first image of each
scene, without executing anything: Precision@k of the top-k grasps (after pose-NMS) whose two contacts are
force closure at friction mu, averaged over k = 1..50 (APmu) and over mu = 0.2..1.0 (AP; also AP0.8 and
AP0.4); scenes are averaged with equal weight, as graspnetAPI averages its views. Reported as ``GN_AP``,
``GN_AP_0.8``, ``GN_AP_0.4`` beside PLGP's executed AP (a different measure with the same name).

"We report all metrics as the average of the results at different mu ranging from 0.2 to 1.0, with
delta mu = 0.2": :func:`average_over_friction` is the mean over mu of each measure.

Per-object trials (EGAD, the Gaussian-maps paper): a success rate per object and overall, successes
over attempts (:func:`grasp_sim.protocol.summarise`), also averaged over mu here.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from .graspnet_ap import graspnet_ap

__all__ = ["clutter_measures", "graspnet_measures", "average_clutter_over_friction", "average_over_friction", "valid"]


def valid(records: Sequence[dict]) -> list[dict]:
    """The records that count: an ``invalid`` one (the physics broke, the scene never settled) never does."""
    return [r for r in records if not r.get("invalid")]


def clutter_measures(scenes: Sequence[dict]) -> dict:
    """PLGP's SR, PC and AP over the valid scene records of one mu (as fractions; None without data).

    A scene record has ``attempts``, ``picked`` (objects lifted and removed), ``n_objects``, ``ap_hits``
    and ``ap_top_k``; see the module docstring for the definitions."""
    ok = valid(scenes)
    attempts = sum(int(s["attempts"]) for s in ok)
    picked = sum(int(s["picked"]) for s in ok)
    placed = sum(int(s["n_objects"]) for s in ok)
    ap_tried = sum(int(s["ap_top_k"]) for s in ok)
    ap_hits = sum(int(s["ap_hits"]) for s in ok)
    for s in ok:
        if not 0 <= int(s["picked"]) <= min(int(s["attempts"]), int(s["n_objects"])):
            raise ValueError(f"scene {s.get('scene')}: picked {s['picked']} must be between 0 and "
                             f"min(attempts {s['attempts']}, objects {s['n_objects']})")
        if not 0 <= int(s["ap_hits"]) <= int(s["ap_top_k"]):
            raise ValueError(f"scene {s.get('scene')}: ap_hits {s['ap_hits']} must be between 0 and "
                             f"ap_top_k {s['ap_top_k']}")
    return {"n_scenes": len(ok), "n_invalid": len(scenes) - len(ok), "attempts": attempts, "picked": picked,
            "objects": placed, "ap_hits": ap_hits, "ap_grasps": ap_tried,
            "SR": picked / attempts if attempts else None, "PC": picked / placed if placed else None,
            "AP": ap_hits / ap_tried if ap_tried else None, **graspnet_measures(ok)}


GRASPNET_KEYS = ("GN_AP", "GN_AP_0.8", "GN_AP_0.4")


def graspnet_measures(scenes: Sequence[dict]) -> dict:
    """GraspNet's AP, AP0.8 and AP0.4 over the scene records that carry a ``graspnet`` entry (its
    ``required_mu`` best first, ``frictions``, ``top_k``); all None when none does."""
    entries = [s["graspnet"] for s in scenes if s.get("graspnet")]
    if not entries:
        return dict.fromkeys(GRASPNET_KEYS)
    setup = {(tuple(e["frictions"]), int(e["top_k"])) for e in entries}
    if len(setup) != 1:
        raise ValueError(f"graspnet entries were scored with different frictions / top_k: {sorted(setup)}")
    (frictions, top_k), = setup
    ap = graspnet_ap([e["required_mu"] for e in entries], frictions, top_k)
    at = lambda mu: ap["AP_mu"].get(f"{mu:g}")  # noqa: E731  (None when mu is not in the list)
    return {"GN_AP": ap["AP"], "GN_AP_0.8": at(0.8), "GN_AP_0.4": at(0.4)}


def _mean(values) -> float | None:
    values = [v for v in values if v is not None]
    return float(np.mean(values)) if values else None


def average_clutter_over_friction(per_mu: Mapping[str, dict]) -> dict:
    """PLGP's reported figure: each of SR, PC and AP averaged over the mu of the sweep (counts summed); the
    GraspNet AP too (it does not depend on the physics' mu, so this averages its scenes of every run)."""
    out = {k: _mean(s.get(k) for s in per_mu.values()) for k in ("SR", "PC", "AP", *GRASPNET_KEYS)}
    for k in ("n_scenes", "n_invalid", "attempts", "picked", "objects"):
        out[k] = sum(int(s.get(k, 0)) for s in per_mu.values())
    return out


def average_over_friction(per_mu: Mapping[str, dict], names: Sequence[str]) -> dict:
    """The per-object protocol averaged over the sweep: each rate is the mean of the per-mu rates (overall
    and per object), counts are summed."""
    per_object = {}
    for n in names:
        per_object[n] = {"successes": sum(s["per_object"][n]["successes"] for s in per_mu.values()),
                         "attempts": sum(s["per_object"][n]["attempts"] for s in per_mu.values()),
                         "rate": _mean(s["per_object"][n]["rate"] for s in per_mu.values())}
    return {"per_object": per_object, "n_trials": sum(s["n_trials"] for s in per_mu.values()),
            "successes": sum(s["successes"] for s in per_mu.values()),
            "n_invalid": sum(s.get("n_invalid", 0) for s in per_mu.values()),
            "success_rate": _mean(s["success_rate"] for s in per_mu.values())}
