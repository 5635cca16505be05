"""Images people look at: grasp overlays and quality heatmaps (OpenCV only, no display needed)."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from .datasets.transforms import invert
from .grasp import ImageGrasp


def depth_to_bgr(depth: np.ndarray) -> np.ndarray:
    """Colour-mapped depth (near = warm) with invalid pixels black."""
    valid = np.isfinite(depth) & (depth > 0)
    out = np.zeros(depth.shape + (3,), np.uint8)
    if valid.any():
        lo, hi = np.percentile(depth[valid], [1, 99])
        scaled = np.clip((depth - lo) / max(hi - lo, 1e-6), 0, 1)
        coloured = cv2.applyColorMap((255 * (1 - np.nan_to_num(scaled))).astype(np.uint8), cv2.COLORMAP_TURBO)
        out[valid] = coloured[valid]
    return out


def draw_grasps(image_bgr: np.ndarray, grasps: list[ImageGrasp], colour=(0, 255, 0),
                thickness: int = 2, label: bool = True) -> np.ndarray:
    """Draw each grasp as its rectangle, with the jaw edges (where the fingers are) thicker."""
    out = image_bgr.copy()
    for rank, g in enumerate(grasps):
        corners = np.round(g.as_rectangle()).astype(np.int32)
        # p1->p2 and p3->p0 are the jaw edges: the fingers sit there.
        cv2.polylines(out, [corners], True, colour, 1, cv2.LINE_AA)
        cv2.line(out, tuple(corners[1]), tuple(corners[2]), colour, thickness + 1, cv2.LINE_AA)
        cv2.line(out, tuple(corners[3]), tuple(corners[0]), colour, thickness + 1, cv2.LINE_AA)
        cv2.circle(out, (int(round(g.u)), int(round(g.v))), 2, (0, 0, 255), -1)
        if label:
            cv2.putText(out, f"{rank + 1}:{g.quality:.2f}", (int(g.u) + 4, int(g.v) - 4),
                        cv2.FONT_HERSHEY_SIMPLEX, 0.4, colour, 1, cv2.LINE_AA)
    return out


def quality_heatmap(quality: np.ndarray, size: tuple[int, int] | None = None) -> np.ndarray:
    """Max over angle bins of the quality map, colour-mapped (BGR)."""
    q = np.max(np.asarray(quality), axis=0) if np.ndim(quality) == 3 else np.asarray(quality)
    img = cv2.applyColorMap((255 * np.clip(q, 0, 1)).astype(np.uint8), cv2.COLORMAP_INFERNO)
    return cv2.resize(img, size, interpolation=cv2.INTER_NEAREST) if size else img


def map_to_original(quality: np.ndarray, info) -> np.ndarray:
    """Max-over-bins quality map warped from network-input pixels back onto the original image
    (``info``: the ``InputInfo`` of the prepared input); zero outside the network's window."""
    q = np.max(np.asarray(quality), axis=0) if np.ndim(quality) == 3 else np.asarray(quality)
    h, w = info.original_shape
    back = invert(info.matrix)
    return cv2.warpAffine(q.astype(np.float32), back, (w, h), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=0)


def overlay_figure(rgb: np.ndarray | None, depth: np.ndarray, grasps: list[ImageGrasp],
                   quality: np.ndarray | None = None, gt: list[ImageGrasp] | None = None) -> np.ndarray:
    """Side-by-side panel: image with predicted (green) and ground-truth (blue) grasps, and the quality map."""
    base = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR) if rgb is not None else depth_to_bgr(depth)
    if gt:
        base = draw_grasps(base, gt, colour=(255, 128, 0), thickness=1, label=False)
    panels = [draw_grasps(base, grasps)]
    if quality is not None:
        panels.append(quality_heatmap(quality, (base.shape[1], base.shape[0])))
    return np.concatenate(panels, axis=1)


def write_image(path: str | Path, image_bgr: np.ndarray) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(path), image_bgr):
        raise OSError(f"could not write image {path} (is the extension .png or .jpg?)")
    return path
