"""The predictor for a model folder, whatever its kind: the one place a card's ``kind`` picks the code that runs
it (the perception node's planner and the simulated trials both come here).
"""
from __future__ import annotations

from pathlib import Path


def load_predictor(model: str | Path, random_weights: int | None = None, **options):
    """``pointcloud.predict.GraspPredictor6D`` for a card of ``kind: point_cloud``, else
    ``inference.GraspPredictor(model, **options)`` (device, backend, precision, input_size, threads; a
    point-cloud model takes none of them). With ``random_weights`` (a seed) the card's network, untrained:
    the floor a trained model is measured against."""
    import torch

    from .inference import GraspPredictor
    from .model_io import build_from_card, load_card
    from .pointcloud.model_card import PointCloudCard
    from .pointcloud.predict import GraspPredictor6D

    card = load_card(model)
    if random_weights is not None:
        torch.manual_seed(random_weights)
    if isinstance(card, PointCloudCard):
        return GraspPredictor6D(model if random_weights is None else (card.build(), card))
    return GraspPredictor(model if random_weights is None else (build_from_card(card).eval(), card), **options)
