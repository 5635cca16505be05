"""Cornell grasping dataset reader.

Layout (after extraction): folders ``01..10/`` holding, per scene ``pcdNNNN``:
``pcdNNNNr.png`` (RGB, 640x480), ``pcdNNNN.txt`` (PCD v0.7 ASCII point cloud, ``x y z rgb index``
in mm, ``index = row * 640 + col``) and ``pcdNNNNcpos.txt`` (positive rectangles, 4 lines
``x y`` per rectangle, x = column; a rectangle with a NaN corner is skipped).

Depth: we use the point's **z** (metres), because that is what a depth camera delivers at run
time. GG-CNN wrote the Euclidean range sqrt(x^2+y^2+z^2) instead (a few % larger off-axis), so
its ``pcdNNNNd.tiff`` files are not what we train on; our cache is therefore named
``pcdNNNNdz.tiff``. A GG-CNN ``d.tiff`` is read (with a warning) only when the PCD is missing.

Object ids: Cornell file names carry no object identity (several images show the same object),
so by default every scene is its own "object" (``<folder>_<NNNN>``) and object-wise splits
degenerate to image-wise ones. Pass ``object_ids={sample_id: object_id}`` for true object-wise
splits.
"""
from __future__ import annotations

import os
import uuid
import warnings
from pathlib import Path

import cv2
import numpy as np

from ..grasp import ImageGrasp
from .jacquard import read_depth_tiff
from .sample import DatasetError, GraspSample

HEIGHT, WIDTH = 480, 640
CPOS_SUFFIX = "cpos.txt"
DEPTH_CACHE_SUFFIX = "dz.tiff"


def parse_cornell_rectangles(path: str | os.PathLike) -> list[ImageGrasp]:
    """Read a ``cpos``/``cneg`` file; rectangles with any NaN corner are skipped."""
    path = Path(path)
    try:
        lines = [(n, line) for n, line in enumerate(path.read_text().splitlines(), start=1)
                 if line.strip()]
    except OSError as exc:
        raise DatasetError(f"{path}: cannot read rectangle file ({exc})") from exc
    if len(lines) % 4:
        raise DatasetError(f"{path}: has {len(lines)} non-empty lines, expected a multiple of 4 "
                           f"(4 'x y' corner lines per rectangle)")
    points = np.empty((len(lines), 2))
    for k, (lineno, line) in enumerate(lines):
        fields = line.split()
        try:
            if len(fields) != 2:
                raise ValueError(f"{len(fields)} fields")
            points[k] = [float(f) for f in fields]
        except ValueError as exc:
            raise DatasetError(f"{path}:{lineno}: expected 'x y' (two numbers, x = column), "
                               f"got {line.strip()!r} ({exc})") from None
    grasps = []
    for corners in points.reshape(-1, 4, 2):
        if np.isnan(corners).any():
            continue
        grasps.append(ImageGrasp.from_rectangle(corners))
    return grasps


def pcd_to_depth(path: str | os.PathLike, shape: tuple[int, int] = (HEIGHT, WIDTH)) -> np.ndarray:
    """Depth image (metres, z component, NaN where no point) from a Cornell ASCII PCD file."""
    path = Path(path)
    try:
        lines = path.read_text().splitlines()
    except OSError as exc:
        raise DatasetError(f"{path}: cannot read point cloud ({exc})") from exc
    fields = None
    start = None
    for n, line in enumerate(lines):
        tokens = line.split()
        if not tokens or tokens[0].startswith("#"):
            continue
        key = tokens[0].upper()
        if key == "FIELDS":
            fields = tokens[1:]
        elif key == "DATA":
            if len(tokens) < 2 or tokens[1].lower() != "ascii":
                raise DatasetError(f"{path}:{n + 1}: only 'DATA ascii' PCD files are supported, "
                                   f"got {line.strip()!r}")
            start = n + 1
            break
    if fields is None or start is None:
        raise DatasetError(f"{path}: not a PCD file (expected 'FIELDS ...' and 'DATA ascii' "
                           f"header lines)")
    missing = [f for f in ("x", "y", "z", "index") if f not in fields]
    if missing:
        raise DatasetError(f"{path}: FIELDS line lacks {missing}; expected 'x y z rgb index'")
    body = [(n, line) for n, line in enumerate(lines[start:], start=start + 1) if line.strip()]
    for lineno, line in body:  # a short/long line would shift every later value silently
        if len(line.split()) != len(fields):
            raise DatasetError(f"{path}:{lineno}: expected {len(fields)} values "
                               f"({' '.join(fields)}), got {line.strip()!r}")
    try:
        data = np.array(" ".join(line for _, line in body).split(), dtype=np.float64)
    except ValueError as exc:
        raise DatasetError(f"{path}: non-numeric value in point data ({exc})") from None
    data = data.reshape(-1, len(fields))
    z = data[:, fields.index("z")] / 1000.0  # mm -> m
    index = data[:, fields.index("index")].astype(np.int64)
    h, w = shape
    bad = (index < 0) | (index >= h * w)
    if bad.any():
        k = int(np.argmax(bad))
        raise DatasetError(f"{path}:{body[k][0]}: point index {index[k]} outside a {w}x{h} image")
    depth = np.full(h * w, np.nan, dtype=np.float32)
    ok = np.isfinite(z) & (z > 0)
    depth[index[ok]] = z[ok]
    depth = depth.reshape(h, w)
    if np.isnan(depth).all():
        raise DatasetError(f"{path}: point cloud gives no valid depth pixel")
    return depth


class CornellSource:
    """Index of Cornell scenes (``**/pcd*cpos.txt`` under ``root``, sorted).

    ``cache_depth``: write the converted depth as ``pcdNNNNdz.tiff`` next to the PCD when the
    folder is writable (parsing a PCD takes ~0.5 s); otherwise the depth is kept in memory
    (about 1.2 MB per scene, per DataLoader worker).
    """

    def __init__(self, root: str | os.PathLike, object_ids: dict[str, str] | None = None,
                 cache_depth: bool = True):
        self.root = Path(root)
        if not self.root.is_dir():
            raise DatasetError(f"{self.root}: Cornell root folder does not exist")
        self._cpos = sorted(self.root.glob("**/pcd*" + CPOS_SUFFIX))
        if not self._cpos:
            raise DatasetError(f"{self.root}: no Cornell scene found (expected "
                               f"'<folder>/pcdNNNNcpos.txt' files)")
        self._object_ids = dict(object_ids) if object_ids is not None else None
        if self._object_ids is not None:
            missing = [self.sample_id(i) for i in range(len(self))
                       if self.sample_id(i) not in self._object_ids]
            if missing:
                raise DatasetError(f"object_ids map lacks {len(missing)} Cornell scenes, "
                                   f"e.g. {missing[:3]}")
        self.cache_depth = cache_depth
        self._memory: dict[int, np.ndarray] = {}

    def __len__(self) -> int:
        return len(self._cpos)

    def _stem(self, i: int) -> Path:
        path = self._cpos[i]
        return path.with_name(path.name[: -len(CPOS_SUFFIX)])  # .../pcdNNNN

    def sample_id(self, i: int) -> str:
        """``<folder>_<NNNN>``, e.g. ``01_0100``."""
        stem = self._stem(i)
        return f"{stem.parent.name}_{stem.name[3:]}"

    def object_id(self, i: int) -> str:
        sid = self.sample_id(i)
        return self._object_ids[sid] if self._object_ids is not None else sid

    def object_ids(self) -> list[str]:
        return [self.object_id(i) for i in range(len(self))]

    def load_grasps(self, i: int) -> list[ImageGrasp]:
        return parse_cornell_rectangles(self._cpos[i])

    def _depth(self, i: int, shape: tuple[int, int]) -> np.ndarray:
        stem = str(self._stem(i))
        cache = Path(stem + DEPTH_CACHE_SUFFIX)
        pcd = Path(stem + ".txt")
        if cache.is_file():
            return read_depth_tiff(cache, shape)
        if i in self._memory:
            return self._memory[i].copy()
        if not pcd.is_file():
            legacy = Path(stem + "d.tiff")
            if legacy.is_file():
                warnings.warn(f"{pcd} missing; using {legacy}, which GG-CNN filled with the "
                              f"Euclidean range, not z", stacklevel=3)
                return read_depth_tiff(legacy, shape)
            raise DatasetError(f"{pcd}: missing point-cloud file of the scene")
        depth = pcd_to_depth(pcd, shape)
        if self.cache_depth and os.access(cache.parent, os.W_OK):
            # write-then-rename so parallel DataLoader workers never read a half-written file
            tmp = cache.with_name(f".{cache.name}.{uuid.uuid4().hex}.tiff")
            try:
                if cv2.imwrite(str(tmp), depth):
                    os.replace(tmp, cache)
                    return depth
            except (cv2.error, OSError):
                pass  # e.g. a read-only mount that os.access did not detect: keep it in memory
            finally:
                if tmp.exists():
                    tmp.unlink()
        self._memory[i] = depth
        return depth.copy()

    def load(self, i: int) -> GraspSample:
        stem = str(self._stem(i))
        rgb_path = Path(stem + "r.png")
        if not rgb_path.is_file():
            raise DatasetError(f"{rgb_path}: missing RGB file of the scene")
        bgr = cv2.imread(str(rgb_path), cv2.IMREAD_COLOR)
        if bgr is None:
            raise DatasetError(f"{rgb_path}: cannot decode RGB image")
        if bgr.shape[:2] != (HEIGHT, WIDTH):
            raise DatasetError(f"{rgb_path}: RGB image has shape {bgr.shape[:2]}, expected "
                               f"({HEIGHT}, {WIDTH}) (Cornell point indices assume 640 columns)")
        depth = self._depth(i, (HEIGHT, WIDTH))
        return GraspSample(rgb=cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), depth=depth, mask=None,
                           grasps=self.load_grasps(i), sample_id=self.sample_id(i),
                           object_id=self.object_id(i))
