"""The card of a point-cloud grasp model: what ``model_io.load_model`` needs to rebuild and run it.

A point-cloud model folder is laid out like an image model's (``card.yaml`` + ``model.safetensors``); its
card says ``kind: point_cloud``, which is how the loader tells the two apart (a card without ``kind`` is an
image model's). The image card's fields (input size, crop, width scale, bins) mean nothing for a network that
takes a cloud, so this card has its own: the cloud size, the network's options and how many seeds
OperationNet runs on at inference.
"""
from __future__ import annotations

import dataclasses
from dataclasses import InitVar, dataclass, field

from torch import nn

from .. import card_checks
from .graspnet6dof import GraspNet6DoF

KIND = "point_cloud"
# Point-cloud networks by the name a card gives (the image networks have their own registry).
NETWORKS: dict[str, type[nn.Module]] = {"graspnet6dof": GraspNet6DoF}


@dataclass
class PointCloudCard:
    name: str
    architecture: str                 # a name in NETWORKS
    n_points: int                     # points drawn from the aligned depth for one plan (the paper: 20,000)
    arch_kwargs: dict = field(default_factory=dict)     # options of the network class (sample_sizes, ...)
    operation_seeds: int | None = 256  # OperationNet on the most graspable seeds only (None: all, as the paper)
    training_data: str = ""
    training_config: dict = field(default_factory=dict)
    metrics: dict = field(default_factory=dict)
    notes: str = ""
    format_version: int = 2
    source: InitVar[str] = "point-cloud model card"

    # What the frame checks of the planner ask of every card: the cloud comes from depth alone.
    inputs = "depth"

    def __post_init__(self, source: str):
        def bad(path, expected, value):
            return card_checks.bad(source, path, expected, value)

        for name in ("name", "training_data", "notes"):
            if not isinstance(getattr(self, name), str):
                raise bad(name, "a string", getattr(self, name))
        for name in ("arch_kwargs", "training_config", "metrics"):
            if not isinstance(getattr(self, name), dict):
                raise bad(name, "a mapping", getattr(self, name))
        if self.architecture not in NETWORKS:
            raise bad("architecture", f"one of {sorted(NETWORKS)}", self.architecture)
        if isinstance(self.n_points, bool) or not isinstance(self.n_points, int) or self.n_points < 1:
            raise bad("n_points", "an integer >= 1", self.n_points)
        s = self.operation_seeds
        if s is not None and (isinstance(s, bool) or not isinstance(s, int) or s < 1):
            raise bad("operation_seeds", "null or an integer >= 1", s)
        card_checks.check_network_options(NETWORKS[self.architecture], self.architecture, self.arch_kwargs, source)
        first = self.arch_kwargs.get("sample_sizes", (2048,))[0]
        if self.n_points < first:
            raise card_checks.ModelFileError(f"{source}: n_points {self.n_points} is below the first set abstraction's "
                                      f"{first} samples (arch_kwargs.sample_sizes)")

    def to_dict(self) -> dict:
        return {"kind": KIND, **dataclasses.asdict(self)}

    @staticmethod
    def from_dict(values: dict, source: str) -> "PointCloudCard":
        values = {k: v for k, v in values.items() if k != "kind"}
        # format_version has a default for cards built in code; a file must say which format it is.
        card_checks.check_fields(values, PointCloudCard, source,
                                 card_checks.required_fields(PointCloudCard) | {"format_version"})
        return PointCloudCard(**values, source=source)

    def build(self) -> nn.Module:
        kwargs = dict(self.arch_kwargs)
        for key in ("sample_sizes", "depths"):  # YAML lists stand for the tuples the network takes
            if key in kwargs:
                kwargs[key] = tuple(kwargs[key])
        return NETWORKS[self.architecture](**kwargs)
