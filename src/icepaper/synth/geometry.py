"""3-D geometry of ice particles as unions of convex pieces, spheres and ellipsoids (um).

A :class:`Geometry` is what the imaging model projects: convex polyhedral *pieces*
(hexagonal prisms, bullets, boxes, random convex polytopes) with outward-oriented faces
for facet shading, *spheres* (drops, rime droplets, rosette centres) and *ellipsoids*
(frozen drops). Keeping every piece convex makes projection cheap: a piece's silhouette
is the 2-D convex hull of its projected vertices, its visible faces are those whose
normal points at the viewer, and both are filled with OpenCV.

This module holds the piece templates, the :class:`Geometry` container and the primitive
pieces (:func:`prism`, :func:`bullet`, :func:`box`, :func:`polytope`). The habit builders,
aging and aggregation that assemble particles from them are in :mod:`.habits`; rotations
in :mod:`.rotations`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .rotations import _rot_z, _rot_z_to, random_rotation

# ----------------------------------------------------------------------------- templates


@dataclass(frozen=True)
class Template:
    """Topology of a convex piece: faces (CCW seen from outside), first three vertex
    indices of each face (for normals) and a triangulation (for surface sampling)."""

    faces: tuple[np.ndarray, ...]
    f3: np.ndarray  # (n_faces, 3)
    tris: np.ndarray  # (n_tris, 3)
    fpad: np.ndarray  # (n_faces, 6) vertex ids, short faces padded by repeating the last one
    fw: np.ndarray  # (n_faces, 6) 1/k for a face's k real vertices, 0 for the padding


def _make_template(verts: np.ndarray, faces: list[list[int]]) -> Template:
    """Orient every face outward (w.r.t. the centroid) and triangulate it as a fan."""
    c = verts.mean(axis=0)
    out = []
    for f in faces:
        f = np.asarray(f, dtype=np.int32)
        p = verts[f]
        n = np.cross(p[1] - p[0], p[2] - p[0])
        if np.dot(n, p.mean(axis=0) - c) < 0:
            f = f[::-1].copy()
        out.append(f)
    f3 = np.stack([f[:3] for f in out])
    tris = np.asarray([[f[0], f[i], f[i + 1]] for f in out for i in range(1, len(f) - 1)], dtype=np.int32)
    fpad = np.stack([np.r_[f, np.repeat(f[-1], 6 - len(f))] for f in out]).astype(np.intp)
    fw = np.stack([np.r_[np.full(len(f), 1.0 / len(f)), np.zeros(6 - len(f))] for f in out])
    return Template(tuple(out), f3, tris, fpad, fw)


_ANG6 = np.arange(6) * np.pi / 3
_HEX = np.stack([np.cos(_ANG6), np.sin(_ANG6)], axis=1)  # unit circumradius hexagon


def _prism_unit() -> tuple[np.ndarray, Template]:
    """Hexagonal prism, circumradius 1, from z=-0.5 to z=+0.5."""
    v = np.concatenate([np.c_[_HEX, np.full(6, 0.5)], np.c_[_HEX, np.full(6, -0.5)]])
    faces = [list(range(6)), list(range(11, 5, -1))]
    faces += [[6 + k, 6 + (k + 1) % 6, (k + 1) % 6, k] for k in range(6)]
    return v, _make_template(v, faces)


def _bullet_topology() -> Template:
    """Hexagonal prism capped by a pyramid: 6 base + 6 shoulder vertices + tip."""
    v = np.concatenate([np.c_[_HEX, np.zeros(6)], np.c_[_HEX, np.ones(6)], [[0, 0, 1.5]]])
    faces = [list(range(5, -1, -1))]
    faces += [[k, (k + 1) % 6, 6 + (k + 1) % 6, 6 + k] for k in range(6)]
    faces += [[6 + k, 6 + (k + 1) % 6, 12] for k in range(6)]
    return _make_template(v, faces)


def _box_unit() -> tuple[np.ndarray, Template]:
    """Axis-aligned box with half-sizes 1 (8 vertices, 6 quads)."""
    v = np.array([[x, y, z] for z in (-1, 1) for y in (-1, 1) for x in (-1, 1)], dtype=float)
    faces = [[0, 1, 3, 2], [4, 5, 7, 6], [0, 1, 5, 4], [2, 3, 7, 6], [0, 2, 6, 4], [1, 3, 7, 5]]
    return v, _make_template(v, faces)


def _polytope_library(n: int = 64, seed: int = 20240917) -> list[tuple[np.ndarray, Template]]:
    """Random convex polytopes (convex hulls of 8-13 points on a lumpy sphere), radius ~1."""
    from scipy.spatial import ConvexHull

    rng = np.random.default_rng(seed)
    lib = []
    for _ in range(n):
        k = int(rng.integers(8, 14))
        p = rng.normal(size=(k, 3))
        p /= np.linalg.norm(p, axis=1, keepdims=True)
        p *= rng.uniform(0.75, 1.0, (k, 1))
        hull = ConvexHull(p)
        used = np.unique(hull.simplices)
        remap = -np.ones(k, dtype=int)
        remap[used] = np.arange(len(used))
        v = p[used]
        v = v - v.mean(axis=0)
        lib.append((v, _make_template(v, [remap[s].tolist() for s in hull.simplices])))
    return lib


PRISM_V, PRISM_T = _prism_unit()
BULLET_T = _bullet_topology()
BOX_V, BOX_T = _box_unit()
POLYTOPES = _polytope_library()


def _spread_directions(n: int, seed: int = 7, iters: int = 300) -> np.ndarray:
    """n well-spread unit vectors (a spherical code from Coulomb repulsion)."""
    rng = np.random.default_rng(seed + n)
    x = rng.normal(size=(n, 3))
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    for _ in range(iters):
        d = x[:, None, :] - x[None, :, :]
        r = np.linalg.norm(d, axis=2) + np.eye(n)
        f = (d / r[..., None] ** 3).sum(axis=1)
        x = x + 0.05 * f
        x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x


SPHERICAL_CODES = {n: _spread_directions(n) for n in range(2, 13)}


# ----------------------------------------------------------------------------- geometry


@dataclass
class Piece:
    """One convex piece: vertices (k, 3) in um, its topology and how clear the ice is
    (1 = pristine transparent facets, 0 = opaque)."""

    v: np.ndarray
    t: Template
    clarity: float = 1.0


@dataclass
class Geometry:
    """A particle: convex pieces, spheres (centre, radius, kind) and ellipsoids.

    Sphere kinds: 0 = drop (bright centre spot in the CPI), 1 = rime droplet,
    2 = rosette centre / opaque lump. Ellipsoids are ``(centre (3,), A (3, 3))`` with
    surface points ``centre + A @ u`` for unit ``u``.
    """

    pieces: list[Piece] = field(default_factory=list)
    sc: np.ndarray = field(default_factory=lambda: np.zeros((0, 3)))
    sr: np.ndarray = field(default_factory=lambda: np.zeros(0))
    sk: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int8))
    ellipsoids: list[tuple[np.ndarray, np.ndarray]] = field(default_factory=list)

    def add_spheres(self, c: np.ndarray, r: np.ndarray, kind: int) -> None:
        c = np.atleast_2d(c)
        self.sc = np.concatenate([self.sc, c])
        self.sr = np.concatenate([self.sr, np.broadcast_to(r, (len(c),))])
        self.sk = np.concatenate([self.sk, np.full(len(c), kind, dtype=np.int8)])

    def transform(self, rot: np.ndarray | None = None, shift=None, scale: float = 1.0) -> Geometry:
        """In place: x -> scale * rot @ x + shift. Returns self."""
        M = None if rot is None else rot.T * scale
        s = None if shift is None else np.asarray(shift, dtype=float)
        for p in self.pieces:
            v = p.v @ M if M is not None else (p.v * scale if scale != 1.0 else p.v)
            p.v = v + s if s is not None else v
        if len(self.sc):
            sc = self.sc @ M if M is not None else self.sc * scale
            self.sc = sc + s if s is not None else sc
            self.sr = self.sr * scale
        if self.ellipsoids:
            R = np.eye(3) if rot is None else rot
            self.ellipsoids = [
                ((c @ M if M is not None else c * scale) + (s if s is not None else 0.0), (R @ A) * scale)
                for c, A in self.ellipsoids
            ]
        return self

    def merge(self, other: Geometry) -> Geometry:
        self.pieces.extend(other.pieces)
        self.sc = np.concatenate([self.sc, other.sc])
        self.sr = np.concatenate([self.sr, other.sr])
        self.sk = np.concatenate([self.sk, other.sk])
        self.ellipsoids.extend(other.ellipsoids)
        return self

    def points(self) -> np.ndarray:
        """Vertices plus sphere/ellipsoid extreme points (for extents), (m, 3)."""
        pts = [p.v for p in self.pieces]
        if len(self.sc):
            pts.append(self.sc[:, None, :] + self.sr[:, None, None] * _OCTA[None])
        for c, A in self.ellipsoids:
            pts.append(c + _OCTA @ A.T)
        return np.concatenate([p.reshape(-1, 3) for p in pts])

    def normalise(self, d_um: float) -> Geometry:
        """Centre on the bounding-box centre and scale so the bounding-sphere diameter is d_um."""
        p = self.points()
        c = 0.5 * (p.min(axis=0) + p.max(axis=0))
        r = np.sqrt(((p - c) ** 2).sum(axis=1).max())
        return self.transform(None, -c * (0.5 * d_um / r), 0.5 * d_um / r)

    @property
    def n_pieces(self) -> int:
        return len(self.pieces) + len(self.sc) + len(self.ellipsoids)


_OCTA = np.array([[1, 0, 0], [-1, 0, 0], [0, 1, 0], [0, -1, 0], [0, 0, 1], [0, 0, -1]], dtype=float)


# ----------------------------------------------------------------------------- primitives


def prism(a: float, h: float, center=(0, 0, 0), rot: np.ndarray | None = None, clarity: float = 1.0) -> Piece:
    """Hexagonal prism, circumradius a, length h (um), c-axis along z (or rot @ z)."""
    v = PRISM_V * np.array([a, a, h])
    if rot is not None:
        v = v @ rot.T
    return Piece(v + np.asarray(center, float), PRISM_T, clarity)


def bullet(a: float, z0: float, c: float, hp: float, direction: np.ndarray, spin: float) -> Piece:
    """Bullet along ``direction``: prism of circumradius a from z0 to z0 + c, then a pyramid
    of height hp (um)."""
    v = np.concatenate([np.c_[_HEX * a, np.full(6, z0)], np.c_[_HEX * a, np.full(6, z0 + c)],
                        [[0, 0, z0 + c + hp]]])
    R = _rot_z_to(direction) @ _rot_z(spin)
    return Piece(v @ R.T, BULLET_T, 0.8)


def box(hx: float, hy: float, hz: float, center=(0, 0, 0), rot: np.ndarray | None = None, clarity: float = 1.0) -> Piece:
    """Box with half-sizes (hx, hy, hz) um."""
    v = BOX_V * np.array([hx, hy, hz])
    if rot is not None:
        v = v @ rot.T
    return Piece(v + np.asarray(center, float), BOX_T, clarity)


def polytope(rng: np.random.Generator, radius: float, stretch=(1.0, 1.0, 1.0), center=(0, 0, 0), clarity: float = 0.5) -> Piece:
    """Random convex polytope from the library, scaled by radius * stretch, random pose."""
    v, t = POLYTOPES[int(rng.integers(len(POLYTOPES)))]
    v = (v * (radius * np.asarray(stretch))) @ random_rotation(rng).T
    return Piece(v + np.asarray(center, float), t, clarity)
