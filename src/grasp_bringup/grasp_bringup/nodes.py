"""Where each (package, executable) of a set-up lives: the console-script entry points of the packages,
the same table ``ros2 run`` uses, so a set-up can only name executables that really exist."""
from __future__ import annotations

import importlib
from importlib.metadata import entry_points

from .setups import SetupError


def _norm(name: str) -> str:
    return name.replace("-", "_").lower()


def entry_point(package: str, executable: str):
    for ep in entry_points(group="console_scripts"):
        if ep.name == executable and ep.dist is not None and _norm(ep.dist.name) == _norm(package):
            return ep
    raise SetupError(f"package {package!r} has no executable {executable!r} (its setup.py console_scripts)")


def node_module(package: str, executable: str):
    """The node module behind an executable; it has ``create_node(**parameters)`` and ``PARAMETERS``."""
    module = importlib.import_module(entry_point(package, executable).module)
    if not hasattr(module, "create_node"):
        raise SetupError(f"{package}/{executable}: module {module.__name__} has no create_node()")
    return module
