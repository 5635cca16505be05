"""Set-up files and launch files refer only to packages, executables and parameters that exist.

Checked without ``launch`` installed: the launch files are read as text for the set-up they load, and
each node of each set-up (real and simulated) must be a console script of its package whose module
declares every parameter the YAML gives it.
"""
import ast
import re
from pathlib import Path

import numpy as np
import pytest

from grasp_bringup.setups import SetupError, available_setups, config_dir, load_setup, parse_arguments, resolve

REPO = Path(__file__).resolve().parents[3]
LAUNCH_FILES = sorted((REPO / "launch").glob("*.launch.py"))


def test_every_launch_file_loads_an_existing_setup():
    # (test_launch_sim.py starts one with launch_pytest where ROS 2 launch is installed)
    assert {p.name for p in LAUNCH_FILES} >= {"widowx.launch.py", "kinova.launch.py"}
    for path in LAUNCH_FILES:
        tree = ast.parse(path.read_text())
        names = [n.args[0].value for n in ast.walk(tree) if isinstance(n, ast.Call)
                 and getattr(n.func, "id", "") == "launch_description"]
        assert len(names) == 1, f"{path} should call launch_description(<setup>) once"
        assert names[0] in available_setups(), f"{path} loads unknown set-up {names[0]!r}"
        assert any(isinstance(n, ast.FunctionDef) and n.name == "generate_launch_description" for n in tree.body)


@pytest.mark.parametrize("setup_name", ["widowx", "kinova"])
@pytest.mark.parametrize("use_sim", ["false", "true"])
def test_setup_nodes_exist_with_declared_parameters(setup_name, use_sim, tmp_path):
    pytest.importorskip("rclpy", reason="node modules import rclpy")
    from grasp_bringup.nodes import node_module
    setup = load_setup(setup_name)
    specs, values = resolve(setup, {"use_sim": use_sim, "output_dir": str(tmp_path)})
    names = {s.name for s in specs}
    assert names >= ({"sim_cell", "perception"} if use_sim == "true" else {"camera", "execution", "perception"})
    for spec in specs:
        module = node_module(spec.package, spec.executable)
        unknown = set(spec.parameters) - set(module.PARAMETERS)
        assert not unknown, f"{setup_name}: {spec.package}/{spec.executable} does not declare {sorted(unknown)}"
        for name, value in spec.parameters.items():
            default = module.PARAMETERS[name][0]
            assert not isinstance(value, str) or "${" not in value, f"unsubstituted {name}: {value}"
            assert isinstance(value, type(default)) or (isinstance(default, float) and isinstance(value, int)) \
                or (isinstance(default, list) and isinstance(value, list)), \
                f"{spec.executable}.{name}: {value!r} is not of the declared type {type(default).__name__}"
    camera = next(s for s in specs if s.name in ("camera", "sim_cell"))
    assert camera.executable == ("sim_cell" if use_sim == "true" else "realsense_camera")
    perception = next(s for s in specs if s.name == "perception")
    assert perception.parameters["base_frame"] == setup.variables["base_frame"]
    if use_sim == "true":  # the simulated camera's pose is the calibration
        assert perception.parameters["calibration"] == str(tmp_path / "sim_camera.calib")
        assert Path(perception.parameters["calibration"]).is_file()


def test_sim_calibration_is_the_cells_camera_pose(tmp_path):
    from grasp_perception.handeye import link_T_optical, load_calibration
    from grasp_sim.cell_setup import CellSettings, base_T_camera
    specs, _ = resolve(load_setup("kinova"), {"use_sim": "true", "output_dir": str(tmp_path)})
    calib = load_calibration(next(s for s in specs if s.name == "perception").parameters["calibration"])
    assert calib.calibration_type == "eye_on_base" and calib.robot_base_frame == "base_link"
    np.testing.assert_allclose(calib.base_T_optical(link_T_optical()), base_T_camera(CellSettings(arm="kinova")),
                               atol=1e-9)


def test_arguments_are_checked():
    setup = load_setup("widowx")
    with pytest.raises(SetupError, match="no argument"):
        resolve(setup, {"use_simm": "true"})
    with pytest.raises(SetupError, match="use_sim.*true or false"):
        resolve(setup, {"use_sim": "maybe"})
    with pytest.raises(SetupError, match="name:=value"):
        parse_arguments(["use_sim=true"])
    with pytest.raises(SetupError, match="no set-up 'ur5'"):
        load_setup("ur5")
    specs, values = resolve(setup, parse_arguments(["model:=models/ggcnn2-sim-v1"]))
    assert next(s for s in specs if s.name == "perception").parameters["model"] == "models/ggcnn2-sim-v1"


def test_substitution_errors_name_the_node(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("arguments: {}\nnodes:\n  - {name: x, package: grasp_perception, executable: perception, "
                   "parameters: {model: '${nope}'}}\n")
    with pytest.raises(SetupError, match=r"node 'x'.*\$\{nope\}"):
        resolve(load_setup(bad))


def test_packages_are_colcon_packages_of_the_right_type():
    """colcon must see each package with its build type (an invalid maintainer e-mail silently makes an
    ament_python package plain 'python', which then installs no ament index entry)."""
    colcon = pytest.importorskip("colcon_core", reason="colcon is installed by make setup")
    import subprocess
    import sys
    exe = Path(sys.executable).with_name("colcon")
    out = subprocess.run([str(exe) if exe.exists() else "colcon", "list", "--base-paths", str(REPO / "src")],
                         capture_output=True, text=True, cwd=REPO)
    assert colcon and out.returncode == 0, out.stderr
    types = dict(re.findall(r"^(\S+)\s+\S+\s+\((\S+)\)", out.stdout, re.M))
    assert types == {"grasp_bringup": "ros.ament_python", "grasp_execution": "ros.ament_python",
                     "grasp_interfaces": "ros.ament_cmake",
                     "grasp_perception": "ros.ament_python", "grasp_sim": "ros.ament_python"}


def test_config_dir_is_the_repository_config():
    assert config_dir() == REPO / "config"
