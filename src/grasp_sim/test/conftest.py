import math

import grasp_sim  # noqa: F401  (sets MUJOCO_GL before mujoco is imported)
import mujoco
import numpy as np
import pytest

from grasp_perception.inference import GraspPredictor
from grasp_perception.model_io import ModelFileError, default_model_path
from grasp_sim.world_grasp import GraspPose


@pytest.fixture(scope="session")
def default_predictor():
    """The shipped default model (models/default) on the CPU; skips when none is shipped."""
    try:
        path = default_model_path()
    except ModelFileError as exc:
        pytest.skip(f"no default model shipped: {exc}")
    return GraspPredictor(path, device="cpu")


def _across_box(cell, size, dx=0.0, depth=None) -> GraspPose:
    """Top-down grasp at the resting box's top-face centre (shifted ``dx`` in x), closing across its narrower
    horizontal side; ``depth`` is the fingertip depth (None = the protocol's default)."""
    p, q = cell.object_pose(0)
    R = np.zeros(9)
    mujoco.mju_quat2Mat(R, q)
    R = R.reshape(3, 3)
    up = int(np.argmax(np.abs(R[2])))
    across = min((i for i in range(3) if i != up), key=lambda i: size[i])
    yaw = math.atan2(R[1, across], R[0, across])
    return GraspPose((p[0] + dx, p[1], p[2] + size[up] / 2), yaw, float(size[across]), depth_m=depth)


@pytest.fixture
def across_box():
    return _across_box


class TopFaceOracle:
    """A stand-in for a grasp network with the predictor's ``predict`` interface, for tests of the protocol
    and the geometry rather than of a model: it deprojects the depth image with the cell camera's pose, takes the
    points more than 5 mm above the table, and for each blob (largest first) grasps its top across the
    narrower horizontal axis, projected back into the image (so tilted cameras work too); the tray walls are
    left out. ``good=False``
    grasps an empty spot of the tray instead; ``top_k`` beyond the blobs is padded with such misses."""

    MISS_XY = (0.15, 0.15)  # on the tray floor, outside the drop area (+-0.08 m) of every test scene

    def __init__(self, cell, good: bool = True, on_predict=None):
        self.cell, self.good, self.on_predict = cell, good, on_predict  # the camera: the cell's, now
        self.calls = 0

    def _image_grasp(self, centre, axis, width):
        from grasp_perception.grasp import ImageGrasp
        cam_T_world = np.linalg.inv(self.cell.camera_pose)
        ends = np.array([centre - axis * width / 2, centre + axis * width / 2, centre])
        uv = self.cell.intrinsics.project((cam_T_world[:3, :3] @ ends.T).T + cam_T_world[:3, 3])
        d = uv[1] - uv[0]
        return ImageGrasp(u=float(uv[2, 0]), v=float(uv[2, 1]), angle=math.atan2(-d[1], d[0]),
                          width=float(np.hypot(*d)), jaw=10.0, quality=1.0)

    def predict(self, depth, rgb=None, top_k=1, dense=False, **_):
        import cv2
        from types import SimpleNamespace
        self.calls += 1
        if self.on_predict is not None:
            self.on_predict(self.calls)
        pose = self.cell.camera_pose
        world = self.cell.intrinsics.deproject_image(depth) @ pose[:3, :3].T + pose[:3, 3]
        inside = np.nan_to_num(np.abs(world[..., :2]), nan=1.0).max(-1) < 0.18  # within the tray walls (0.2 m)
        mask = (np.nan_to_num(world[..., 2], nan=0.0) > 0.005) & inside
        n, labels, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
        grasps = []
        for k in sorted(range(1, n), key=lambda k: -stats[k, cv2.CC_STAT_AREA]):
            if not self.good or stats[k, cv2.CC_STAT_AREA] < 50:
                continue
            p = world[labels == k]
            xy = p[:, :2] - p[:, :2].mean(0)
            _, vecs = np.linalg.eigh(xy.T @ xy)
            axis = np.array([*vecs[:, 0], 0.0])  # the narrower horizontal direction
            extent = float(np.ptp(xy @ vecs[:, 0]))
            top = float(np.percentile(p[:, 2], 90))
            grasps.append(self._image_grasp(np.array([*p[:, :2].mean(0), top]), axis, extent))
        miss = self._image_grasp(np.array([*self.MISS_XY, 0.0]), np.array([1.0, 0.0, 0.0]), 0.04)
        grasps = (grasps + [miss] * top_k)[:top_k]
        return SimpleNamespace(grasps=grasps)


@pytest.fixture
def top_face_oracle():
    return TopFaceOracle
