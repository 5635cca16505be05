"""Reproducible train/val/test splits (image-wise, object-wise, k-fold).

All functions return ``(train, val, test)`` sorted int64 index arrays and depend only on their
arguments (``seed`` included), never on global random state. Validation is always carved from
the non-test part, so the test set is never used for model selection (ORANGE reused its test set
as validation; we do not).
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

Split = tuple[np.ndarray, np.ndarray, np.ndarray]


def _check_fractions(fractions) -> tuple[float, float, float]:
    f = tuple(float(x) for x in fractions)
    if len(f) != 3 or min(f) < 0 or abs(sum(f) - 1.0) > 1e-6 or f[0] <= 0:
        raise ValueError(f"fractions must be (train, val, test) >= 0 summing to 1 with "
                         f"train > 0, got {fractions}")
    return f  # type: ignore[return-value]


def _split_units(n_units: int, fractions, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Partition ``range(n_units)`` into shuffled train/val/test unit arrays."""
    _, f_val, f_test = _check_fractions(fractions)
    if n_units < 1:
        raise ValueError("cannot split an empty dataset")
    perm = np.random.default_rng(seed).permutation(n_units)
    n_test = int(round(n_units * f_test))
    n_val = int(round(n_units * f_val))
    if n_test + n_val >= n_units:
        raise ValueError(f"{n_units} items are too few for fractions {fractions}: "
                         f"nothing would be left for training")
    return perm[n_test + n_val:], perm[n_test:n_test + n_val], perm[:n_test]


def _units_to_indices(codes: np.ndarray, parts) -> Split:
    return tuple(np.flatnonzero(np.isin(codes, p)).astype(np.int64) for p in parts)  # type: ignore


def image_wise_split(n: int, fractions=(0.8, 0.1, 0.1), seed: int = 0) -> Split:
    """Random split of ``n`` samples by the given (train, val, test) fractions."""
    return tuple(np.sort(p).astype(np.int64) for p in _split_units(int(n), fractions, seed))  # type: ignore


def object_wise_split(object_ids: Sequence[str], fractions=(0.8, 0.1, 0.1), seed: int = 0) -> Split:
    """Random split by object: every sample of an object lands in the same split.

    The fractions apply to the number of objects (not samples); the result does not depend on
    the order of first appearance of the objects, only on the set of ids and ``seed``.
    """
    objects, codes = np.unique(np.asarray(object_ids, dtype=str), return_inverse=True)
    return _units_to_indices(codes, _split_units(len(objects), fractions, seed))


def k_folds(n_or_object_ids: int | Sequence[str], k: int, fold: int, seed: int = 0,
            by_object: bool = False, val_fraction: float = 0.1) -> Split:
    """Fold ``fold`` of a ``k``-fold cross-validation.

    Units (samples, or objects when ``by_object``) are shuffled once by ``seed`` and cut into
    ``k`` near-equal folds; fold ``fold`` is the test set, and ``val_fraction`` of the remaining
    units (rounded) is the validation set. Over ``fold = 0..k-1`` every unit is tested once.
    """
    if isinstance(n_or_object_ids, (int, np.integer)):
        if by_object:
            raise ValueError("by_object=True needs the list of object ids, not a sample count")
        codes = np.arange(int(n_or_object_ids))
        n_units = int(n_or_object_ids)
    elif by_object:
        _, codes = np.unique(np.asarray(n_or_object_ids, dtype=str), return_inverse=True)
        n_units = int(codes.max()) + 1 if len(codes) else 0
    else:
        n_units = len(n_or_object_ids)
        codes = np.arange(n_units)
    if k < 2 or not 0 <= fold < k:
        raise ValueError(f"need k >= 2 and 0 <= fold < k, got k={k} fold={fold}")
    if n_units < k:
        raise ValueError(f"cannot make {k} folds from {n_units} {'objects' if by_object else 'samples'}")
    if not 0 <= val_fraction < 1:
        raise ValueError(f"val_fraction must be in [0, 1), got {val_fraction}")
    perm = np.random.default_rng(seed).permutation(n_units)
    folds = np.array_split(perm, k)
    test = folds[fold]
    rest = np.concatenate([f for i, f in enumerate(folds) if i != fold])
    n_val = int(round(len(rest) * val_fraction))
    if n_val >= len(rest):
        raise ValueError("val_fraction leaves nothing for training")
    return _units_to_indices(codes, (rest[n_val:], rest[:n_val], test))
