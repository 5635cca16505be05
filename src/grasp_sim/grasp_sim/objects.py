"""Graspable objects for the sim cell: seeded procedural shapes and mesh files (e.g. the EGAD set).

Every object is described in its own frame in **metres**. Primitive objects collide with MuJoCo's
analytic shapes (fast, exact). Mesh objects render their original mesh and collide with convex
parts from CoACD, which are cached outside the repository because decomposition takes seconds to
minutes per mesh.

Objects that do not fit the gripper: :func:`load_mesh_object` raises :class:`DoesNotFit` (a
``ValueError``) and :func:`load_mesh_objects` lists them in ``does_not_fit`` when given a list (the trials
report them), else skips them with a ``UserWarning``, so that one large mesh does not stop a whole
directory from loading. An object does not fit when no part of it fits between the open fingers: the
narrowest of its convex parts (collision geometry: CoACD parts or primitives) is wider, across its
thinnest direction, than ``fit_ratio * max_opening`` (:meth:`ObjectSpec.can_fit`). At print size most
EGAD objects are wider than an 8 cm gripper as a whole (their bounding boxes are 6-10 cm across) but have
narrower features the fingers can close on, so the whole-body test would drop nearly all of them.
Procedural objects are built so that the whole body fits (:meth:`ObjectSpec.fits_gripper`).

Sizes, densities, friction, the fit ratio and the collision model default to the sim settings
(``physics.*`` and ``grippers.*`` of config/sim/realistic.yaml, or the ``settings`` passed).
"""
from __future__ import annotations

import hashlib
import importlib.metadata
import json
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
import trimesh

PRIMITIVE_KINDS = ("box", "cylinder", "capsule", "ellipsoid", "sphere")
MESH_SUFFIXES = (".obj", ".stl")
# Fast CoACD settings (measured on EGAD, 2 cores, threshold 0.1 / 12 hulls): 3-20 s per mesh, 8-12 parts,
# hull volume within ~1.2-1.5x of the mesh (its single convex hull is 1.6-3.4x). seed fixed for reproducible
# parts. threshold and max_convex_hull come from physics.coacd_threshold / physics.max_convex_hulls.
COACD_SEARCH_PARAMS = dict(preprocess_mode="off", resolution=500, mcts_iterations=30, mcts_max_depth=2,
                           mcts_nodes=10, max_ch_vertex=64, seed=0)
_UNIT_SCALE = {"m": 1.0, "cm": 0.01, "mm": 0.001}


class DoesNotFit(ValueError):
    """The object cannot be grasped by the gripper: its middle extent exceeds fit_ratio x max opening."""

    def __init__(self, path, extents, limit: float):
        self.path, self.extents, self.limit = Path(path), np.asarray(extents, float), float(limit)
        super().__init__(f"{path}: object does not fit the gripper: every convex part is wider than {limit:.3f} m "
                         f"(fit_ratio x max_opening; bounding box {np.round(self.extents, 3).tolist()} m)")


def _sim_settings(settings):
    from .settings import load_sim_settings
    return settings if settings is not None else load_sim_settings()


def coacd_params_of(settings=None) -> dict:
    """The CoACD parameters of the settings' collision model."""
    ph = _sim_settings(settings).physics
    return dict(COACD_SEARCH_PARAMS, threshold=ph.coacd_threshold, max_convex_hull=ph.max_convex_hulls)


@dataclass(frozen=True)
class Primitive:
    """One MuJoCo primitive geom of an object; ``size`` follows MJCF semantics (half-sizes, radii)."""

    kind: str
    size: tuple[float, ...]
    pos: tuple[float, float, float] = (0.0, 0.0, 0.0)
    quat: tuple[float, float, float, float] = (1.0, 0.0, 0.0, 0.0)

    def __post_init__(self):
        need = {"box": 3, "cylinder": 2, "capsule": 2, "ellipsoid": 3, "sphere": 1}
        if self.kind not in need:
            raise ValueError(f"Primitive.kind must be one of {PRIMITIVE_KINDS}, got {self.kind!r}")
        if len(self.size) != need[self.kind] or min(self.size) <= 0:
            raise ValueError(f"Primitive {self.kind}: size needs {need[self.kind]} positive values, got {self.size}")

    def volume(self) -> float:
        s = self.size
        if self.kind == "box":
            return 8 * s[0] * s[1] * s[2]
        if self.kind == "cylinder":
            return np.pi * s[0] ** 2 * 2 * s[1]
        if self.kind == "capsule":
            return np.pi * s[0] ** 2 * 2 * s[1] + 4 / 3 * np.pi * s[0] ** 3
        if self.kind == "ellipsoid":
            return 4 / 3 * np.pi * s[0] * s[1] * s[2]
        return 4 / 3 * np.pi * s[0] ** 3

    def surface_points(self, n: int = 24) -> np.ndarray:
        """Points on the surface, in the object frame (used for bounding boxes only)."""
        s = self.size
        t = np.linspace(0, 2 * np.pi, n, endpoint=False)
        if self.kind == "box":
            pts = np.array([[x, y, z] for x in (-s[0], s[0]) for y in (-s[1], s[1]) for z in (-s[2], s[2])])
        elif self.kind in ("cylinder", "capsule"):
            ring = np.stack([s[0] * np.cos(t), s[0] * np.sin(t)], 1)
            pts = np.concatenate([np.c_[ring, np.full(n, h)] for h in (-s[1], s[1])])
            if self.kind == "capsule":
                pts = np.concatenate([pts, [[0, 0, s[1] + s[0]], [0, 0, -s[1] - s[0]]]])
        else:
            r = (s[0],) * 3 if self.kind == "sphere" else s
            u, v = np.meshgrid(t, np.linspace(0, np.pi, n // 2))
            pts = np.stack([r[0] * np.cos(u) * np.sin(v), r[1] * np.sin(u) * np.sin(v), r[2] * np.cos(v)], -1)
            pts = pts.reshape(-1, 3)
        w, x, y, z = self.quat
        rot = np.array([[1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)],
                        [2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)],
                        [2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)]])
        return pts @ rot.T + np.asarray(self.pos)


@dataclass
class ObjectSpec:
    """An object of the cell, in its own frame, in metres.

    Either ``primitives`` (procedural objects) or ``vertices``/``faces`` (mesh objects: the visual
    mesh, with ``convex_parts`` as collision geometry) must be given. ``scale`` is the factor that
    was applied to the source file's coordinates (units and fit rescaling), kept for provenance.
    """

    name: str
    mesh_path: Path | None = None
    vertices: np.ndarray | None = None
    faces: np.ndarray | None = None
    scale: float = 1.0
    mass: float = 0.1
    friction: float = 1.0
    primitives: tuple[Primitive, ...] = ()
    convex_parts: tuple[tuple[np.ndarray, np.ndarray], ...] = ()
    rgba: tuple[float, float, float, float] = (0.8, 0.5, 0.2, 1.0)
    _extents: np.ndarray | None = field(default=None, repr=False, compare=False)

    def __post_init__(self):
        if not self.name or not self.name.replace("_", "").replace("-", "").isalnum():
            raise ValueError(f"ObjectSpec.name must be non-empty [A-Za-z0-9_-], got {self.name!r}")
        if not self.primitives and (self.vertices is None or self.faces is None):
            raise ValueError(f"ObjectSpec {self.name}: give primitives or vertices+faces")
        if self.mass <= 0 or self.friction <= 0:
            raise ValueError(f"ObjectSpec {self.name}: mass and friction must be > 0, got {self.mass}, {self.friction}")
        if self.vertices is not None and not self.convex_parts:
            raise ValueError(f"ObjectSpec {self.name}: a mesh object needs convex_parts for collision")

    def points(self) -> np.ndarray:
        if self.primitives:
            return np.concatenate([p.surface_points() for p in self.primitives])
        return np.asarray(self.vertices)

    def extents(self) -> np.ndarray:
        """Sorted (ascending) extents of the oriented bounding box, metres."""
        if self._extents is None:
            self._extents = _obb_extents(self.points())
        return self._extents

    def bounding_radius(self) -> float:
        return float(np.linalg.norm(self.points(), axis=1).max())

    def narrowest_part(self) -> float:
        """The smallest bounding-box extent of any convex part (primitive or collision part), metres."""
        if self.primitives:
            return float(min(_obb_extents(p.surface_points())[0] for p in self.primitives))
        return float(min(_obb_extents(v)[0] for v, _ in self.convex_parts))

    def can_fit(self, max_opening: float, fit_ratio: float | None = None) -> bool:
        """Whether some part of the object fits between fingers open to ``fit_ratio x max_opening``."""
        fit_ratio = _sim_settings(None).grippers.fit_ratio if fit_ratio is None else fit_ratio
        return bool(self.extents()[0] <= fit_ratio * max_opening or self.narrowest_part() <= fit_ratio * max_opening)

    def fits_gripper(self, max_opening: float, fit_ratio: float | None = None) -> bool:
        """Whether the middle extent is <= ``fit_ratio`` (default ``grippers.fit_ratio``) x ``max_opening``."""
        fit_ratio = _sim_settings(None).grippers.fit_ratio if fit_ratio is None else fit_ratio
        return bool(self.extents()[1] <= fit_ratio * max_opening)


def _obb_extents(points: np.ndarray) -> np.ndarray:
    try:
        _, ext = trimesh.bounds.oriented_bounds(np.asarray(points, float))
    except Exception:  # degenerate hull (e.g. coplanar points): axis-aligned fallback
        ext = np.ptp(points, axis=0)
    return np.sort(np.asarray(ext, dtype=float))


# --------------------------------------------------------------------------------------------------
# Procedural objects
# --------------------------------------------------------------------------------------------------
def _rgba(rng) -> tuple[float, float, float, float]:
    return tuple(float(c) for c in rng.uniform(0.15, 0.95, 3)) + (1.0,)


def _quat_x90() -> tuple[float, float, float, float]:
    return (float(np.cos(np.pi / 4)), float(np.sin(np.pi / 4)), 0.0, 0.0)


# The procedural families. "basic" is the original six shapes (the evaluation pools and ggcnn2-sim-v1's data);
# "wide" adds the shapes unseen meshes have and basic lacks: long thin rods, flat plates, small objects, and
# concave U/C channels (a cup-like gap the pads must not close into).
PROCEDURAL_FAMILIES = {"basic": ("box", "cylinder", "capsule", "ellipsoid", "L", "T"),
                       "wide": ("box", "cylinder", "capsule", "ellipsoid", "L", "T", "rod", "plate", "small", "U")}


def procedural_objects(n: int, seed: int | None = 0, *, settings=None, max_opening: float | None = None,
                       fit_ratio: float | None = None, density: Sequence[float] | None = None,
                       friction: Sequence[float] | None = None, family: str = "basic") -> list[ObjectSpec]:
    """``n`` seeded objects of ``family`` (:data:`PROCEDURAL_FAMILIES`): boxes, cylinders, capsules,
    ellipsoids and L/T compounds of boxes; "wide" adds rods, plates, small objects and U channels.

    Every object fits the gripper (see module docstring): at least two of its three extents are at
    most ``fit_ratio * max_opening`` (largest extent up to ~12 cm), and its thinnest extent is >= 1.5 cm
    so that the pads have something to hold. Unset arguments come from ``settings`` (default: realistic):
    the floating gripper's max opening, ``grippers.fit_ratio``, ``physics.procedural_density`` (kg/m^3)
    and ``physics.procedural_friction`` (uniform ranges).
    """
    s = _sim_settings(settings)
    max_opening = s.grippers.floating.max_opening if max_opening is None else max_opening
    fit_ratio = s.grippers.fit_ratio if fit_ratio is None else fit_ratio
    density = s.physics.procedural_density if density is None else density
    friction = s.physics.procedural_friction if friction is None else friction
    if n < 0:
        raise ValueError(f"procedural_objects: n must be >= 0, got {n}")
    rng = np.random.default_rng(seed)
    g = fit_ratio * max_opening  # largest graspable extent
    if g < 0.03:
        raise ValueError(f"procedural_objects: fit_ratio*max_opening = {g:.3f} m; need >= 0.03 m for these shapes")

    def uni(lo: float, hi: float) -> float:  # uniform that tolerates lo > hi for small grippers
        return float(rng.uniform(min(lo, hi), hi))

    if family not in PROCEDURAL_FAMILIES:
        raise ValueError(f"procedural_objects: family must be one of {sorted(PROCEDURAL_FAMILIES)}, got {family!r}")
    kinds = PROCEDURAL_FAMILIES[family]
    out = []
    for i in range(n):
        kind = kinds[int(rng.integers(len(kinds)))]
        if kind == "box":
            prims = (Primitive("box", (uni(0.015, g) / 2, uni(0.015, g) / 2, uni(0.015, 0.12) / 2)),)
        elif kind == "cylinder":
            upright = rng.random() < 0.5
            prims = (Primitive("cylinder", (uni(0.015, g) / 2, uni(0.02, 0.12) / 2),
                               quat=(1.0, 0.0, 0.0, 0.0) if upright else _quat_x90()),)
        elif kind == "capsule":
            prims = (Primitive("capsule", (uni(0.015, min(g, 0.05)) / 2, uni(0.01, 0.08) / 2), quat=_quat_x90()),)
        elif kind == "ellipsoid":
            prims = (Primitive("ellipsoid", (uni(0.015, g) / 2, uni(0.015, g) / 2, uni(0.02, 0.10) / 2)),)
        elif kind == "rod":  # long and thin, lying down: only a grasp across it holds
            prims = (Primitive("cylinder", (uni(0.015, 0.025) / 2, uni(0.10, 0.16) / 2), quat=_quat_x90()),)
        elif kind == "plate":  # flat: barely above the table, the approach depth matters
            prims = (Primitive("box", (uni(0.03, g) / 2, uni(0.04, 0.12) / 2, uni(0.015, 0.02) / 2)),)
        elif kind == "small":
            side = uni(0.015, 0.03) / 2
            prims = ((Primitive("sphere", (side,)),) if rng.random() < 0.5
                     else (Primitive("box", (side, side, uni(0.015, 0.03) / 2)),))
        elif kind == "U":
            # A channel: a base bar and two walls, open upwards or sideways; the gap is what the pads must avoid.
            t = uni(0.012, 0.02) / 2          # wall half-thickness
            a = uni(0.04, g) / 2              # outer half-width
            d = uni(0.03, 0.08) / 2           # half-depth along the channel
            h = uni(0.03, 0.05) / 2           # wall half-height above the base
            base = Primitive("box", (a, d, t))
            walls = tuple(Primitive("box", (t, d, h), pos=(sx * (a - t), 0.0, t + h)) for sx in (-1.0, 1.0))
            prims = (base,) + walls
        else:
            # Two boxes in a plane, touching (no overlap, so volumes add up for the mass); every
            # extent of the compound stays <= g.
            t = uni(0.015, 0.025) / 2          # arm half-thickness
            h = uni(0.015, 0.035) / 2          # half-height
            a = uni(0.045, g) / 2              # bar half-length
            b = uni(0.015, g - 2 * t) / 2      # stem half-length
            bar = Primitive("box", (a, t, h))
            stem_x = (a - t) if kind == "L" else 0.0
            stem = Primitive("box", (t, b, h), pos=(stem_x, t + b, 0.0))
            prims = (bar, stem)
        vol = sum(p.volume() for p in prims)
        out.append(ObjectSpec(name=f"proc_{i:03d}_{kind}", primitives=prims,
                              mass=max(0.01, float(vol * rng.uniform(*density))),  # very light bodies jitter
                              friction=float(rng.uniform(*friction)), rgba=_rgba(rng)))
    return out


def box_object(size_xyz: Sequence[float], name: str = "box", mass: float = 0.1, friction: float = 1.0) -> ObjectSpec:
    """A single box with full side lengths ``size_xyz`` (metres)."""
    if len(size_xyz) != 3 or min(size_xyz) <= 0:
        raise ValueError(f"box_object: size_xyz must be 3 positive lengths, got {size_xyz}")
    return ObjectSpec(name=name, primitives=(Primitive("box", tuple(float(s) / 2 for s in size_xyz)),),
                      mass=mass, friction=friction, rgba=(0.85, 0.3, 0.2, 1.0))


# --------------------------------------------------------------------------------------------------
# Mesh objects
# --------------------------------------------------------------------------------------------------
def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "grasp_sim" / "convex"


def _load_trimesh(path: Path) -> trimesh.Trimesh:
    try:
        mesh = trimesh.load(str(path), force="mesh", process=True)
    except Exception as exc:  # trimesh raises many types for bad files
        raise ValueError(f"{path}: cannot load mesh ({type(exc).__name__}: {exc})") from exc
    if not isinstance(mesh, trimesh.Trimesh) or len(mesh.vertices) < 4 or len(mesh.faces) < 4:
        raise ValueError(f"{path}: not a usable triangle mesh (needs >= 4 vertices and faces)")
    if not np.isfinite(mesh.vertices).all():
        raise ValueError(f"{path}: mesh has non-finite vertex coordinates")
    ext = mesh.extents
    if ext.min() <= 1e-9 * max(ext.max(), 1e-12) or ext.max() <= 0:
        raise ValueError(f"{path}: degenerate mesh (flat or zero-size; extents {ext})")
    return mesh


def _decompose(mesh: trimesh.Trimesh, mesh_bytes: bytes, params: dict, cache_dir: Path | None,
               path: Path) -> tuple[list[tuple[np.ndarray, np.ndarray]], bool]:
    """Convex parts of ``mesh`` in file units; returns (parts, loaded_from_cache)."""
    import coacd

    try:
        version = importlib.metadata.version("coacd")
    except importlib.metadata.PackageNotFoundError:
        version = "unknown"
    # Parts are cached in file units, so the same entry serves any units/max_extent_m choice.
    key = hashlib.sha256(mesh_bytes + json.dumps([params, version], sort_keys=True).encode()).hexdigest()[:32]
    entry = cache_dir / key if cache_dir is not None else None
    if entry is not None and (entry / "parts.npz").is_file():
        try:
            with np.load(entry / "parts.npz") as z:
                n = int(z["count"])
                return [(z[f"v{i}"], z[f"f{i}"]) for i in range(n)], True
        except Exception as exc:  # corrupt entry: recompute and overwrite
            warnings.warn(f"{entry}: unreadable convex cache ({exc}); recomputing", stacklevel=3)
    coacd.set_log_level("error")
    try:
        raw = coacd.run_coacd(coacd.Mesh(np.asarray(mesh.vertices, float), np.asarray(mesh.faces, np.int32)),
                              **params)
    except Exception as exc:
        raise ValueError(f"{path}: convex decomposition failed ({exc})") from exc
    parts = []
    for v, f in raw:
        v, f = np.asarray(v, np.float64), np.asarray(f, np.int32)
        if len(v) >= 4 and trimesh.Trimesh(v, f, process=False).convex_hull.volume > 1e-12 * mesh.volume:
            parts.append((v, f))
    if not parts:
        raise ValueError(f"{path}: convex decomposition produced no solid parts")
    if entry is not None:
        entry.mkdir(parents=True, exist_ok=True)
        arrays = {"count": np.array(len(parts))}
        for i, (v, f) in enumerate(parts):
            arrays[f"v{i}"], arrays[f"f{i}"] = v, f
        tmp = entry / f"parts.{os.getpid()}.tmp.npz"
        np.savez_compressed(tmp, **arrays)
        os.replace(tmp, entry / "parts.npz")  # atomic: concurrent loaders never see a partial file
        (entry / "meta.json").write_text(json.dumps({"source": str(path), "params": params, "parts": len(parts)}))
    return parts, False


FROM_SETTINGS = object()  # "not given: take it from the sim settings"


def load_mesh_object(path: str | Path, *, settings=None, units: str = "auto", max_extent_m=FROM_SETTINGS,
                     mass: float | None = None, density: float | None = None, friction: float | None = None,
                     decompose: bool | None = None, coacd_params: dict | None = None,
                     cache_dir: str | Path | None = "default", max_opening: float | None = None,
                     fit_ratio: float | None = None, name: str | None = None) -> ObjectSpec:
    """Load one .obj/.stl mesh as an :class:`ObjectSpec`.

    ``units``: ``"auto"`` treats a file whose largest extent is > 1 as millimetres (EGAD OBJs are in
    mm), otherwise metres; or force ``"m"``, ``"cm"``, ``"mm"``. ``max_extent_m`` shrinks (never
    grows) the object so its largest extent is at most that (EGAD objects were printed at a size
    that suits the test gripper). The object frame is centred on the mesh's centre of mass.
    ``mass`` defaults to ``density`` (kg/m^3, ~400 for 3-D printed PLA with infill) x volume.
    ``decompose=False`` collides with the single convex hull (fast to build, poor for concave shapes).
    ``cache_dir=None`` disables the convex-part cache. Raises ``ValueError`` naming the file when the
    mesh cannot be loaded or is degenerate, :class:`DoesNotFit` when it does not fit the gripper.
    Unset arguments come from ``settings`` (default: realistic): ``physics.mesh_max_extent`` (None = the
    file's size), ``mesh_density``, ``mesh_friction``, ``collision`` (coacd -> decompose), the CoACD
    parameters, the floating gripper's max opening and ``grippers.fit_ratio``.
    """
    s = _sim_settings(settings)
    max_extent_m = s.physics.mesh_max_extent if max_extent_m is FROM_SETTINGS else max_extent_m
    density = s.physics.mesh_density if density is None else density
    friction = s.physics.mesh_friction if friction is None else friction
    decompose = s.physics.collision == "coacd" if decompose is None else decompose
    max_opening = s.grippers.floating.max_opening if max_opening is None else max_opening
    fit_ratio = s.grippers.fit_ratio if fit_ratio is None else fit_ratio
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{path}: mesh file not found")
    if units not in ("auto", *_UNIT_SCALE):
        raise ValueError(f"load_mesh_object units must be 'auto', 'm', 'cm' or 'mm', got {units!r}")
    mesh = _load_trimesh(path)
    unit = (0.001 if mesh.extents.max() > 1.0 else 1.0) if units == "auto" else _UNIT_SCALE[units]
    scale = unit
    if max_extent_m is not None:
        if max_extent_m <= 0:
            raise ValueError(f"load_mesh_object max_extent_m must be > 0, got {max_extent_m}")
        scale *= min(1.0, max_extent_m / (mesh.extents.max() * unit))
    # Volume centroid for watertight meshes; bounding-box centre otherwise (centroid is undefined).
    centre = mesh.center_mass if mesh.is_watertight and mesh.volume > 0 else mesh.bounds.mean(axis=0)
    vertices = (np.asarray(mesh.vertices) - centre) * scale
    ext = _obb_extents(vertices)

    if decompose:
        params = coacd_params_of(s)
        if not mesh.is_watertight:
            params["preprocess_mode"] = "on"  # CoACD needs a manifold; its remeshing makes one
        params.update(coacd_params or {})
        cdir = default_cache_dir() if cache_dir == "default" else (Path(cache_dir) if cache_dir else None)
        parts_raw, _ = _decompose(mesh, path.read_bytes(), params, cdir, path)
    else:
        hull = mesh.convex_hull
        parts_raw = [(np.asarray(hull.vertices), np.asarray(hull.faces))]
    parts = tuple(((v - centre) * scale, f) for v, f in parts_raw)
    limit = fit_ratio * max_opening
    if ext[0] > limit and min(_obb_extents(v)[0] for v, _ in parts) > limit:
        raise DoesNotFit(path, ext, limit)
    volume = mesh.volume if mesh.is_watertight else mesh.convex_hull.volume
    obj = ObjectSpec(name=name or _safe_name(path.stem), mesh_path=path, vertices=vertices,
                     faces=np.asarray(mesh.faces, np.int32), scale=float(scale),
                     mass=float(mass if mass is not None else max(density * abs(volume) * scale ** 3, 1e-3)),
                     friction=friction, convex_parts=parts, rgba=(0.55, 0.6, 0.75, 1.0), _extents=ext)
    return obj


def _safe_name(stem: str) -> str:
    return "".join(c if c.isalnum() or c in "_-" else "_" for c in stem) or "mesh"


def load_mesh_objects(directory: str | Path, *, does_not_fit: list | None = None, **kwargs) -> list[ObjectSpec]:
    """Load every .obj/.stl in ``directory`` (sorted by name), with :func:`load_mesh_object`'s options.

    Objects that do not fit the gripper are appended to ``does_not_fit`` as ``{"name", "file",
    "extents_m", "limit_m"}`` when it is given, else skipped with a ``UserWarning``; unloadable or
    degenerate meshes raise ``ValueError`` naming the file.
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise ValueError(f"load_mesh_objects: {directory} is not a directory")
    files = sorted(p for p in directory.iterdir() if p.suffix.lower() in MESH_SUFFIXES)
    if not files:
        raise ValueError(f"load_mesh_objects: no {'/'.join(MESH_SUFFIXES)} files in {directory}")
    out = []
    for f in files:
        try:
            out.append(load_mesh_object(f, **kwargs))
        except DoesNotFit as exc:
            if does_not_fit is None:
                warnings.warn(f"skipping {exc}", stacklevel=2)
            else:
                does_not_fit.append({"name": kwargs.get("name") or _safe_name(f.stem), "file": str(f),
                                     "extents_m": [round(float(e), 4) for e in exc.extents],
                                     "limit_m": round(exc.limit, 4)})
    return out


def load_objects(objects: str, settings, max_opening: float, *, n_procedural: int = 10, seed: int = 1000,
                 max_extent_m=FROM_SETTINGS) -> tuple[list[ObjectSpec], list[dict]]:
    """(objects that fit a gripper opening ``max_opening`` m, those that do not) for a trial run.

    ``objects``: ``procedural`` (a seeded pool, different from the training pool by default) or a mesh
    folder, sized by ``physics.mesh_max_extent`` (None: the file's size) unless ``max_extent_m`` is given.
    An object fits when its middle extent is at most ``grippers.fit_ratio`` x ``max_opening``; the others are
    listed (name, file, extents, limit) so a report can say "does not fit" instead of dropping them."""
    limit = settings.grippers.fit_ratio * max_opening
    if objects == "procedural":
        pool = procedural_objects(n_procedural, seed=seed, settings=settings)
        fits = [o.can_fit(limit, 1.0) for o in pool]
        unfit = [{"name": o.name, "file": None, "extents_m": [round(float(e), 4) for e in o.extents()],
                  "limit_m": round(limit, 4)} for o, ok in zip(pool, fits) if not ok]
        return [o for o, ok in zip(pool, fits) if ok], unfit
    path = Path(objects)
    if not path.is_dir():
        raise FileNotFoundError(f"--objects must be 'procedural' or a folder of meshes; {path} is neither")
    unfit: list[dict] = []
    specs = load_mesh_objects(path, settings=settings, max_extent_m=max_extent_m, does_not_fit=unfit,
                              max_opening=max_opening)
    if not specs and not unfit:
        raise ValueError(f"--objects {path}: no loadable .obj/.stl meshes found")
    return specs, unfit
