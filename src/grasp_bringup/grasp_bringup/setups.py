"""Set-up files: ``config/<setup>.yaml`` says which nodes run with which parameters (no ROS imports).

A set-up has ``arguments`` (launch arguments with defaults), ``variables`` (fixed values) and ``nodes``
(package, executable, name, ``if:``/``unless:`` a boolean argument, parameters in which ``${name}`` is
replaced by an argument or variable). :func:`resolve` applies the user's ``name:=value`` arguments and
returns the node list that both the launch files and the one-process runner start.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

_SUBST = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
TRUE, FALSE = ("true", "1", "yes", "on"), ("false", "0", "no", "off")


class SetupError(ValueError):
    """A set-up file or argument that cannot be used (names the file, node or argument)."""


@dataclass(frozen=True)
class Argument:
    default: object
    description: str = ""


@dataclass(frozen=True)
class NodeSpec:
    name: str
    package: str
    executable: str
    parameters: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Setup:
    name: str
    path: Path
    arguments: dict
    variables: dict
    nodes: list


def config_dir() -> Path:
    """The repository's ``config/`` when running from a checkout, else the installed share folder."""
    repo = Path(__file__).resolve().parents[3] / "config"
    if repo.is_dir():
        return repo
    from ament_index_python.packages import get_package_share_directory
    return Path(get_package_share_directory("grasp_bringup")) / "config"


def available_setups() -> list[str]:
    return sorted(p.stem for p in config_dir().glob("*.yaml"))


def load_setup(name_or_path: str | Path) -> Setup:
    path = Path(name_or_path)
    if path.suffix != ".yaml":
        path = config_dir() / f"{name_or_path}.yaml"
    if not path.is_file():
        raise SetupError(f"no set-up {name_or_path!r}: {path} does not exist (available: {available_setups()})")
    doc = yaml.safe_load(path.read_text()) or {}
    for key in ("arguments", "nodes"):
        if key not in doc:
            raise SetupError(f"{path}: missing top-level field '{key}'")
    args = {}
    for k, v in doc["arguments"].items():
        if not isinstance(v, dict) or "default" not in v:
            raise SetupError(f"{path}: argument '{k}' must be a mapping with a 'default'")
        args[k] = Argument(v["default"], v.get("description", ""))
    for i, n in enumerate(doc["nodes"]):
        for key in ("name", "package", "executable"):
            if key not in n:
                raise SetupError(f"{path}: nodes[{i}] has no '{key}'")
    return Setup(path.stem, path, args, dict(doc.get("variables") or {}), list(doc["nodes"]))


def parse_arguments(argv: list[str]) -> dict[str, str]:
    """``name:=value`` words (the ros2 launch syntax) -> a dict."""
    out = {}
    for word in argv:
        if ":=" not in word:
            raise SetupError(f"argument {word!r} is not of the form name:=value")
        k, v = word.split(":=", 1)
        out[k] = v
    return out


def as_bool(value, name: str) -> bool:
    if isinstance(value, bool):
        return value
    s = str(value).strip().lower()
    if s in TRUE or s in FALSE:
        return s in TRUE
    raise SetupError(f"argument '{name}' must be true or false, got {value!r}")


def _typed(value, default, name: str):
    """A ``name:=value`` string as the type of the argument's default (launch arguments are text)."""
    if isinstance(default, bool):
        return as_bool(value, name)
    for typ in (int, float):
        if isinstance(default, typ) and isinstance(value, str):
            try:
                return typ(value)
            except ValueError:
                raise SetupError(f"argument '{name}' must be {typ.__name__}, got {value!r}") from None
    return value


def _substitute(value, values: dict, where: str):
    if isinstance(value, dict):
        return {k: _substitute(v, values, f"{where}.{k}") for k, v in value.items()}
    if isinstance(value, list):
        return [_substitute(v, values, where) for v in value]
    if not isinstance(value, str):
        return value
    for name in _SUBST.findall(value):
        if name not in values:
            raise SetupError(f"{where}: ${{{name}}} is neither an argument nor a variable of the set-up")
    whole = _SUBST.fullmatch(value)
    if whole:  # a lone ${x} keeps the argument's type (numbers, booleans)
        return values[whole.group(1)]
    return _SUBST.sub(lambda m: str(values[m.group(1)]), value)


def argument_values(setup: Setup, given: dict[str, str]) -> dict:
    unknown = sorted(set(given) - set(setup.arguments))
    if unknown:
        raise SetupError(f"set-up {setup.name!r} has no argument(s) {unknown}; it has {sorted(setup.arguments)}")
    values = {k: a.default for k, a in setup.arguments.items()}
    for k, v in given.items():
        default = setup.arguments[k].default
        values[k] = _typed(v, default, k)
    if "calibration" in values and isinstance(values["calibration"], str):
        values["calibration"] = os.path.expanduser(values["calibration"])
    return {**setup.variables, **values}


def resolve(setup: Setup, given: dict[str, str] | None = None) -> tuple[list[NodeSpec], dict]:
    """The nodes to start for ``given`` arguments, and the final argument values.

    With ``use_sim`` the simulated camera's known pose replaces the calibration: it is written (easy_handeye2
    format) to ``<output_dir>/sim_camera.calib`` and that path becomes the ``calibration`` argument.
    """
    values = argument_values(setup, given or {})
    chosen = []
    for n in setup.nodes:
        where = f"{setup.path}: node {n['name']!r}"
        if "if" in n and not as_bool(values.get(n["if"], False), n["if"]):
            continue
        if "unless" in n and as_bool(values.get(n["unless"], False), n["unless"]):
            continue
        chosen.append((n, where))
    if as_bool(values.get("use_sim", False), "use_sim"):
        sim = [n for n, _ in chosen if n["executable"] in ("sim_camera", "sim_cell")]
        if sim:
            values["calibration"] = str(write_sim_calibration(_substitute(sim[0].get("parameters", {}), values, "sim"),
                                                              Path(values.get("output_dir", "."))))
    specs = [NodeSpec(n["name"], n["package"], n["executable"], _substitute(n.get("parameters") or {}, values, where))
             for n, where in chosen]
    return specs, values


def write_sim_calibration(sim_parameters: dict, output_dir: Path) -> Path:
    from grasp_perception.handeye import save_calibration
    from grasp_sim.cell_setup import CellSettings, sim_calibration
    fields = {k: v for k, v in sim_parameters.items() if k in CellSettings.__dataclass_fields__}
    base = sim_parameters.get("base_frame")
    if not base:
        raise SetupError("the sim_camera node needs a 'base_frame' parameter for the simulated calibration")
    return save_calibration(Path(output_dir) / "sim_camera.calib", sim_calibration(CellSettings(**fields), base))
