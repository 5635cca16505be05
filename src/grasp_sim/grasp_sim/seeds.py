"""The seeds of the simulated trials, one place for the CLI (``grasp_sim.trials``) and the ROS sim camera, so
a trial re-drops its object at the same pose whichever runs it.

Seeds are keyed by the object's *name* (never its index in a pool), so a resumed run, a run on a subset of
the objects or the ROS runner give each (object, trial) the same drop, noise and hand-eye error.
"""
from __future__ import annotations

import zlib

import numpy as np

# What a seed is for: one stream each, so that e.g. the hand-eye error does not follow the drop pose.
DROP, HAND_EYE, VIEW = 0, 1, 2


def name_key(name: str) -> int:
    """A stable 32-bit key of an object name (CRC-32 of its UTF-8 bytes; Python's hash() is salted)."""
    return zlib.crc32(name.encode("utf-8"))


def trial_seed(seed: int, object_name: str, trial: int, purpose: int = DROP, retry: int = 0) -> int:
    """The seed of one (object, trial) of a run seeded ``seed``; ``retry`` > 0 after an invalid attempt."""
    return int(np.random.SeedSequence([int(seed), name_key(object_name), int(trial), int(purpose),
                                       int(retry)]).generate_state(1)[0])


def scene_seed(seed: int, scene: int, purpose: int = DROP, k: int = 0, retry: int = 0) -> int:
    """The seed of cluttered scene ``scene`` (``k``: which grasp of the scene)."""
    return int(np.random.SeedSequence([int(seed), 1 << 32, int(scene), int(purpose), int(k),
                                       int(retry)]).generate_state(1)[0])
