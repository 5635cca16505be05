"""Checks shared by the model cards (image: ``model_io.ModelCard``; point cloud:
``pointcloud.model_card.PointCloudCard``): the error they raise, and the checks of a card's fields and of its
``arch_kwargs`` against the network class, so that every card reports a bad field the same way (the card, the
field, what was expected).
"""
from __future__ import annotations

import dataclasses
import inspect
import types
import typing


class ModelFileError(ValueError):
    """A model directory, card or weights file is missing, malformed or inconsistent."""


def bad(source: str, path: str, expected: str, value) -> ModelFileError:
    return ModelFileError(f"{source}: {path} must be {expected}, got {value!r}")


def required_fields(card_class) -> set[str]:
    """The fields of the dataclass ``card_class`` without a default."""
    return {f.name for f in dataclasses.fields(card_class)
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING}


def check_fields(values, card_class, source: str, required: set[str] | None = None) -> None:
    """``values`` (a card file's content) is a mapping with every field of ``required`` (default: those
    ``card_class`` has no default for) and no field ``card_class`` does not have."""
    if not isinstance(values, dict):
        raise ModelFileError(f"{source}: a model card must be a YAML mapping")
    fields = dataclasses.fields(card_class)
    required = required_fields(card_class) if required is None else required
    missing = sorted(set(required) - set(values))
    if missing:
        raise ModelFileError(f"{source}: missing field(s) {missing}")
    names = {f.name for f in fields}
    unknown = sorted(set(values) - names)
    if unknown:
        raise ModelFileError(f"{source}: unknown field(s) {unknown}; expected some of {sorted(names)}")


def check_network_options(network_cls: type, architecture: str, kwargs, source: str,
                          own_fields: tuple[str, ...] = ()) -> None:
    """``kwargs`` (a card's ``arch_kwargs``) names only options the constructor of ``network_cls`` accepts
    (less ``own_fields``, which the card has fields of its own for), with values of their annotated types."""
    if not isinstance(kwargs, dict):
        raise bad(source, "arch_kwargs", "a mapping of network options", kwargs)
    accepted = set(inspect.signature(network_cls.__init__).parameters) - {"self", *own_fields}
    unknown = sorted(set(kwargs) - accepted)
    if unknown:
        raise ModelFileError(f"{source}: arch_kwargs.{unknown[0]} is not an option of network {architecture!r}; "
                             f"expected some of {sorted(accepted)}")
    hints = typing.get_type_hints(network_cls.__init__)
    for name, value in kwargs.items():
        if name in hints and not _matches(value, hints[name]):
            raise bad(source, f"arch_kwargs.{name}", _describe(hints[name]), value)


def _matches(value, hint) -> bool:
    """Whether a YAML value fits a constructor annotation (a YAML list stands for a tuple)."""
    origin, args = typing.get_origin(hint) or hint, typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        return any(_matches(value, a) for a in args)
    if origin is bool:
        return isinstance(value, bool)
    if origin is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if origin is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if origin is str:
        return isinstance(value, str)
    if origin in (tuple, list):
        if not isinstance(value, (list, tuple)):
            return False
        if origin is tuple and args and args[-1] is not Ellipsis:
            return len(value) == len(args) and all(_matches(v, a) for v, a in zip(value, args))
        return all(_matches(v, args[0]) for v in value) if args else True
    return True  # an annotation this check does not model: the constructor checks it


_NAMES = {bool: ("true or false", "booleans"), int: ("an integer", "integers"), float: ("a number", "numbers"),
          str: ("a string", "strings")}


def _describe(hint) -> str:
    origin, args = typing.get_origin(hint) or hint, typing.get_args(hint)
    if origin in (tuple, list) and args:
        count = f"{len(args)} " if origin is tuple and args[-1] is not Ellipsis else ""
        return f"a list of {count}{_NAMES.get(args[0], (None, str(args[0])))[1]}"
    return _NAMES.get(origin, (str(hint),))[0]
