"""Jacquard dataset: reader and writer of its original on-disk format.

Layout: ``<root>/<object_id>/<scene>_<object_id>_{RGB.png, perfect_depth.tiff,
stereo_depth.tiff, mask.png, grasps.txt}``, 1024x1024 images, depth as float32 TIFF in metres
(stereo depth marks invalid pixels with -1). ``grasps.txt`` holds one ``x;y;theta;w;h`` per line:
x = column, y = row (px), theta in degrees **clockwise on screen** (so our anticlockwise angle is
``-radians(theta)``), w = opening (px), h = jaw size (px). Several lines share x, y, theta, w and
differ only in h; all of them are kept because the rectangle metric tests against every jaw size.
"""
from __future__ import annotations

import math
import os
from collections.abc import Iterable, Sequence
from pathlib import Path

import cv2
import numpy as np

from ..grasp import ImageGrasp
from .preprocessing import check_depth_metres
from .sample import DatasetError, GraspSample

GRASPS_SUFFIX = "_grasps.txt"
_DEPTH_SUFFIX = {"perfect": "_perfect_depth.tiff", "stereo": "_stereo_depth.tiff"}
DEPTH_KINDS = tuple(_DEPTH_SUFFIX)  # the depth images of a Jacquard scene
_TIFF_LZW = 5  # libtiff's COMPRESSION_LZW


def parse_jacquard_grasps(path: str | os.PathLike) -> list[ImageGrasp]:
    """Read a Jacquard ``*_grasps.txt``; a bad line raises :class:`DatasetError` naming file:line."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise DatasetError(f"{path}: cannot read grasp file ({exc})") from exc
    grasps = []
    for lineno, line in enumerate(text.splitlines(), start=1):  # handles the CRLF of the originals
        if not line.strip():
            continue
        fields = line.split(";")
        try:
            if len(fields) != 5:
                raise ValueError(f"{len(fields)} fields")
            x, y, theta, opening, jaw = (float(f) for f in fields)
            grasps.append(ImageGrasp(u=x, v=y, angle=-math.radians(theta), width=opening, jaw=jaw))
        except ValueError as exc:
            raise DatasetError(
                f"{path}:{lineno}: expected 'x;y;theta_deg;opening_px;jaw_px' (5 finite numbers "
                f"separated by ';', opening and jaw >= 0), got {line.strip()!r} ({exc})") from None
    return grasps


def dedupe_jaw(grasps: Iterable[ImageGrasp], mode: str | None = "min") -> list[ImageGrasp]:
    """Collapse grasps that differ only in jaw size, keeping the ``"min"`` or ``"max"`` jaw.

    Meant for training targets (as ORANGE's ``jaw_size_policy``); evaluation keeps all of them.
    ``mode=None`` returns the grasps unchanged. The order of first occurrence is kept.
    """
    grasps = list(grasps)
    if mode is None:
        return grasps
    if mode not in ("min", "max"):
        raise ValueError(f"dedupe_jaw mode must be 'min', 'max' or None, got {mode!r}")
    pick = min if mode == "min" else max
    best: dict[tuple, ImageGrasp] = {}
    for g in grasps:
        key = (g.u, g.v, g.angle, g.width)
        best[key] = pick(best[key], g, key=lambda h: h.jaw) if key in best else g
    return list(best.values())


def _read_image(path: Path, flags: int, what: str) -> np.ndarray:
    if not path.is_file():
        raise DatasetError(f"{path}: missing {what} file of the scene")
    image = cv2.imread(str(path), flags)
    if image is None:
        raise DatasetError(f"{path}: cannot decode {what} image")
    return image


def read_depth_tiff(path: Path, expected_shape: tuple[int, int] | None = None) -> np.ndarray:
    """Float depth image in metres with every invalid pixel (<= 0, NaN, inf) set to NaN."""
    depth = _read_image(path, cv2.IMREAD_UNCHANGED, "depth")
    if depth.ndim != 2 or not np.issubdtype(depth.dtype, np.floating):
        raise DatasetError(f"{path}: expected a single-channel float depth TIFF (metres), "
                           f"got dtype {depth.dtype} shape {depth.shape}")
    if expected_shape is not None and depth.shape != tuple(expected_shape):
        raise DatasetError(f"{path}: depth image has shape {depth.shape}, expected "
                           f"{tuple(expected_shape)} to match the RGB image")
    depth = depth.astype(np.float32)
    with np.errstate(invalid="ignore"):
        depth[~(np.isfinite(depth) & (depth > 0))] = np.nan
    if np.isnan(depth).all():
        raise DatasetError(f"{path}: depth image has no valid pixel (all NaN, zero or negative)")
    check_depth_metres(depth, str(path))  # named here, where the file is known
    return depth


class JacquardSource:
    """Index of Jacquard scenes under ``root`` (any depth of folders; sorted, deterministic).

    ``depth`` picks the ``perfect`` (rendered) or ``stereo`` (simulated sensor) depth image.
    Grasps keep every annotated jaw size (the test set needs them all); training targets collapse the
    duplicates in one place, ``data_setup.target_builder`` (``data.jaw_dedupe``).
    """

    def __init__(self, root: str | os.PathLike, depth: str = "perfect"):
        if depth not in _DEPTH_SUFFIX:
            raise ValueError(f"depth must be 'perfect' or 'stereo', got {depth!r}")
        self.root = Path(root)
        self.depth = depth
        if not self.root.is_dir():
            raise DatasetError(f"{self.root}: Jacquard root folder does not exist")
        self._grasp_files = sorted(self.root.glob("**/*" + GRASPS_SUFFIX))
        if not self._grasp_files:
            raise DatasetError(f"{self.root}: no Jacquard scene found (expected "
                               f"'<object_id>/<scene>_<object_id>_grasps.txt' files)")

    def __len__(self) -> int:
        return len(self._grasp_files)

    def _prefix(self, i: int) -> Path:
        path = self._grasp_files[i]
        return path.with_name(path.name[: -len(GRASPS_SUFFIX)])

    def sample_id(self, i: int) -> str:
        """``<scene>_<object_id>``, the file-name prefix shared by the scene's files."""
        return self._prefix(i).name

    def object_id(self, i: int) -> str:
        sid = self.sample_id(i)
        folder = self._grasp_files[i].parent.name
        if sid.endswith("_" + folder):  # the standard layout: the folder is the object id
            return folder
        return sid.split("_", 1)[1] if "_" in sid else sid

    def object_ids(self) -> list[str]:
        return [self.object_id(i) for i in range(len(self))]

    def grasps_path(self, i: int) -> Path:
        return self._grasp_files[i]

    def load_grasps(self, i: int) -> list[ImageGrasp]:
        return parse_jacquard_grasps(self._grasp_files[i])

    def load(self, i: int) -> GraspSample:
        prefix = str(self._prefix(i))
        rgb = _read_image(Path(prefix + "_RGB.png"), cv2.IMREAD_COLOR, "RGB")
        rgb = cv2.cvtColor(rgb, cv2.COLOR_BGR2RGB)
        shape = rgb.shape[:2]
        depth = read_depth_tiff(Path(prefix + _DEPTH_SUFFIX[self.depth]), shape)
        mask_path = Path(prefix + "_mask.png")
        mask = _read_image(mask_path, cv2.IMREAD_GRAYSCALE, "mask")
        if mask.shape != shape:
            raise DatasetError(f"{mask_path}: mask has shape {mask.shape}, expected {shape} to "
                               f"match the RGB image")
        return GraspSample(rgb=rgb, depth=depth, mask=mask > 0, grasps=self.load_grasps(i),
                           sample_id=self.sample_id(i), object_id=self.object_id(i))


def format_jacquard_grasp(g: ImageGrasp) -> str:
    """One ``x;y;theta;w;h`` line; ``repr`` gives the shortest text that reads back bit-exact."""
    theta = -math.degrees(g.angle)
    return ";".join(repr(float(x)) for x in (g.u, g.v, theta, g.width, g.jaw))


def write_jacquard_scene(out_dir: str | os.PathLike, sample_id: str, object_id: str,
                         rgb: np.ndarray, depth_perfect: np.ndarray,
                         depth_stereo: np.ndarray | None, mask: np.ndarray,
                         grasps: Sequence[ImageGrasp]) -> Path:
    """Write one scene in the exact Jacquard format; returns the path of its grasp file.

    Files go to ``out_dir/<object_id>/<sample_id>_<object_id>_*`` where ``sample_id`` is the
    scene name (e.g. ``"0"``); a ``sample_id`` already ending in ``_<object_id>`` (as returned by
    :meth:`JacquardSource.sample_id`) is accepted too. ``rgb`` is uint8 RGB order; depths are
    metres, NaN/<=0 are written as -1 (the stereo files' invalid marker). ``depth_stereo=None``
    skips the stereo file. Quality and angle_bin of the grasps are not part of the format.
    """
    object_id = str(object_id)
    sample_id = str(sample_id)
    if not object_id or any(s in object_id for s in ("/", "\\", os.sep)):
        raise ValueError(f"object_id must be a non-empty name without path separators, got {object_id!r}")
    if sample_id.endswith("_" + object_id):
        sample_id = sample_id[: -len(object_id) - 1]
    if not sample_id or any(s in sample_id for s in ("/", "\\", os.sep)):
        raise ValueError(f"sample_id must be a non-empty name without path separators, got {sample_id!r}")
    rgb = np.asarray(rgb)
    if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"rgb must be uint8 (H, W, 3), got {rgb.dtype} {rgb.shape}")
    shape = rgb.shape[:2]
    for name, image in (("depth_perfect", depth_perfect), ("depth_stereo", depth_stereo),
                        ("mask", mask)):
        if image is not None and np.shape(image) != shape:
            raise ValueError(f"{name} has shape {np.shape(image)}, expected {shape} (the RGB shape)")

    folder = Path(out_dir) / object_id
    folder.mkdir(parents=True, exist_ok=True)
    prefix = str(folder / f"{sample_id}_{object_id}")

    def write(path: str, image: np.ndarray, params=()):
        if not cv2.imwrite(path, image, list(params)):
            raise OSError(f"{path}: OpenCV could not write the image")

    write(prefix + "_RGB.png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    write(prefix + "_mask.png", np.where(np.asarray(mask) > 0, 255, 0).astype(np.uint8))
    # LZW as in the originals, when this OpenCV build exposes the TIFF compression flag.
    tiff_params = ([cv2.IMWRITE_TIFF_COMPRESSION, _TIFF_LZW]
                   if hasattr(cv2, "IMWRITE_TIFF_COMPRESSION") else [])
    for kind, depth in (("perfect", depth_perfect), ("stereo", depth_stereo)):
        if depth is None:
            continue
        d = np.asarray(depth, dtype=np.float32).copy()
        with np.errstate(invalid="ignore"):
            d[~(np.isfinite(d) & (d > 0))] = -1.0
        write(prefix + _DEPTH_SUFFIX[kind], d, tiff_params)
    grasp_path = Path(prefix + GRASPS_SUFFIX)
    grasp_path.write_text("".join(format_jacquard_grasp(g) + "\n" for g in grasps))
    return grasp_path
