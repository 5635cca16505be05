"""The simulated cell as the ROS stack runs it: one settings object, built from ``config/`` parameters,
that the simulated camera, the simulated arm and the stand-in calibration all derive from.

Frames: the cell's world has z up with the tray centre at the origin; the arm's base frame
(``wx250s/base_link`` or ``base_link``) sits ``ARM_BASE_DISTANCE`` on the -x side, facing +x, so grasps
in the base frame are what a real arm at that spot would be sent.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from grasp_perception.geometry import invert_transform, make_transform
from grasp_perception.handeye import HandEyeCalibration, eye_on_base_from_camera_pose

from .camera import DepthNoise, look_at_camera_pose
from .cell import ARM_BASE_DISTANCE, SimCell


@dataclass(frozen=True)
class CellSettings:
    objects: str = "procedural"      # 'procedural' or a folder of meshes
    n_objects: int = 10              # procedural pool size
    objects_seed: int = 1000         # procedural pool seed (training data used another)
    max_extent: float = 0.0          # meshes are shrunk to this size, m; 0 = physics.mesh_max_extent of sim_config
    arm: str = "widowx"              # widowx | kinova | floating
    camera_height: float = 0.0       # camera height above the tray centre's look-at point, m; 0 = camera.height
    camera_tilt_deg: float = 0.0     # tilt from vertical, towards +x (away from the arm)
    depth_noise: bool = True
    seed: int = 0
    sim_config: str = "realistic"    # config/sim profile or YAML path (grasp_sim.settings)

    def sim_settings(self):
        from .settings import load_sim_settings
        return load_sim_settings(self.sim_config)

    @property
    def height(self) -> float:
        return self.camera_height or self.sim_settings().camera.height

    def __post_init__(self):
        if self.arm not in ("widowx", "kinova", "floating"):
            raise ValueError(f"sim cell parameter 'arm' must be widowx, kinova or floating, got {self.arm!r}")
        if not self.camera_height >= 0 or not 0 <= self.camera_tilt_deg < 80:
            raise ValueError(f"sim cell camera_height must be > 0 and camera_tilt_deg in [0, 80), got "
                             f"{self.camera_height}, {self.camera_tilt_deg}")


def camera_pose(height: float, tilt_deg: float = 0.0) -> np.ndarray:
    """world_T_optical of a camera ``height`` above the tray plane, tilted ``tilt_deg`` from vertical about
    world y and looking at the tray centre; at 0 it is ``top_down_camera_pose(height)``."""
    return look_at_camera_pose((height * math.tan(math.radians(tilt_deg)), 0.0, height))


def world_T_base(arm: str) -> np.ndarray:
    """The arm base frame in the cell's world (identity for the floating gripper: grasps in world)."""
    return np.eye(4) if arm == "floating" else make_transform(None, (-ARM_BASE_DISTANCE[arm], 0.0, 0.0))


def base_T_camera(settings: CellSettings) -> np.ndarray:
    return invert_transform(world_T_base(settings.arm)) @ camera_pose(settings.height, settings.camera_tilt_deg)


def sim_calibration(settings: CellSettings, base_frame: str) -> HandEyeCalibration:
    """The perfect eye-on-base calibration of the simulated camera (tracking frame ``camera_link``)."""
    return eye_on_base_from_camera_pose(base_T_camera(settings), name="sim", robot_base_frame=base_frame)


def object_names(settings: CellSettings) -> list[str]:
    """The names of the cell's objects, without building meshes (what a trial runner iterates over)."""
    from pathlib import Path

    from .objects import MESH_SUFFIXES, procedural_objects
    if settings.objects == "procedural":
        return [o.name for o in procedural_objects(settings.n_objects, seed=settings.objects_seed)]
    folder = Path(settings.objects)
    if not folder.is_dir():
        raise ValueError(f"sim cell parameter 'objects' must be 'procedural' or a folder of meshes, got {folder}")
    return [p.stem for p in sorted(p for p in folder.iterdir() if p.suffix.lower() in MESH_SUFFIXES)]


def build_cell(settings: CellSettings) -> SimCell:
    from .executors import gripper_max_opening
    from .objects import FROM_SETTINGS, load_objects
    sim = settings.sim_settings()
    objects, _ = load_objects(settings.objects, sim, gripper_max_opening(sim, settings.arm),
                              n_procedural=settings.n_objects,
                              seed=settings.objects_seed,
                              max_extent_m=settings.max_extent if settings.max_extent > 0 else FROM_SETTINGS)
    noise = sim.camera.depth_noise
    return SimCell(objects, seed=settings.seed, settings=sim,
                   camera_pose=camera_pose(settings.height, settings.camera_tilt_deg),
                   depth_noise=DepthNoise.from_settings(noise, settings.seed) if settings.depth_noise else None,
                   arm=None if settings.arm == "floating" else settings.arm)
