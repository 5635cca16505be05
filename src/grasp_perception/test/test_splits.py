"""Reproducible, leak-free dataset splits."""
from __future__ import annotations

import numpy as np
import pytest

from grasp_perception.datasets import image_wise_split, k_folds, object_wise_split


def _check_partition(parts, n):
    all_idx = np.concatenate(parts)
    assert len(all_idx) == n and set(all_idx.tolist()) == set(range(n))


def test_image_wise_split():
    tr, va, te = image_wise_split(100, (0.8, 0.1, 0.1), seed=3)
    assert (len(tr), len(va), len(te)) == (80, 10, 10)
    _check_partition((tr, va, te), 100)
    again = image_wise_split(100, (0.8, 0.1, 0.1), seed=3)
    assert all(np.array_equal(a, b) for a, b in zip((tr, va, te), again))
    other = image_wise_split(100, (0.8, 0.1, 0.1), seed=4)
    assert not np.array_equal(te, other[2])
    with pytest.raises(ValueError):
        image_wise_split(10, (0.5, 0.2, 0.2))
    with pytest.raises(ValueError):
        image_wise_split(2, (0.2, 0.4, 0.4))


def _ids(n_objects=30, per=(3, 7)):
    rng = np.random.default_rng(0)
    return [f"obj{k:02d}" for k in range(n_objects) for _ in range(rng.integers(*per))]


def _objects(ids, idx):
    return {ids[i] for i in idx}


def test_object_wise_split_keeps_objects_together():
    ids = _ids()
    tr, va, te = object_wise_split(ids, (0.8, 0.1, 0.1), seed=1)
    _check_partition((tr, va, te), len(ids))
    otr, ova, ote = _objects(ids, tr), _objects(ids, va), _objects(ids, te)
    assert not (otr & ova) and not (otr & ote) and not (ova & ote)
    assert (len(otr), len(ova), len(ote)) == (24, 3, 3)
    # depends on the set of objects and the seed, not on the sample order
    perm = np.random.default_rng(5).permutation(len(ids))
    shuffled = [ids[i] for i in perm]
    s_te = object_wise_split(shuffled, (0.8, 0.1, 0.1), seed=1)[2]
    assert _objects(shuffled, s_te) == ote


@pytest.mark.parametrize("by_object", [False, True])
def test_k_folds_cover_everything_once(by_object):
    ids = _ids(20)
    n = len(ids)
    arg = ids if by_object else n
    tested = []
    for fold in range(5):
        tr, va, te = k_folds(arg, 5, fold, seed=7, by_object=by_object, val_fraction=0.1)
        _check_partition((tr, va, te), n)
        assert len(va) > 0
        if by_object:
            otr, ova, ote = _objects(ids, tr), _objects(ids, va), _objects(ids, te)
            assert not (otr & ova) and not (otr & ote) and not (ova & ote)
        again = k_folds(arg, 5, fold, seed=7, by_object=by_object, val_fraction=0.1)
        assert all(np.array_equal(a, b) for a, b in zip((tr, va, te), again))
        tested.append(te)
    _check_partition(tested, n)  # each sample is in exactly one test fold


def test_k_folds_errors():
    with pytest.raises(ValueError, match="object ids"):
        k_folds(10, 5, 0, by_object=True)
    with pytest.raises(ValueError):
        k_folds(10, 5, 5)
    with pytest.raises(ValueError):
        k_folds(3, 5, 0)
