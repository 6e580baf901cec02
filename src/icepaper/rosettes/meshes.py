"""3-D bullet rosettes with exact volume, surface area and bounding-sphere properties (Ko 2024).

Geometry (docs/science.md §4): a central sphere of radius ``r0`` and ``n`` bullets. Each
bullet is a regular hexagonal prism (circumradius ``a``, half-length ``c``, so length
``2c``) capped on its inner end by a hexagonal pyramid of height ``hp`` whose apex points
at the centre and is sunk ``h0`` into the sphere: along the arm direction ``d`` the apex is
at distance ``r0 - h0``, the pyramid base at ``r0 - h0 + hp`` and the outer basal face at
``r0 - h0 + hp + 2c`` [default reading of "sunk into the sphere by h0"].

Sampling [fact, the published follow-up of Ko 2024]: n = 4..10 (2..10 allowed);
a ~ U(9.4, 33.9) um; c/a ~ U(1.19, 5.75); r0 = f a (0.5 + 0.5 (n-4)/8);
hp = f r0 (1 + 0.5 (n-4)/8); h0 = f r0 / 2, each f ~ U(0.8, 1.2) drawn anew; per arm
a and c are scaled by U(0.8, 1.2). Arm directions are a spherical code (Thomson points from a
short, cached repulsion optimisation) under a random rotation, each jittered uniformly
inside a cone of one third of the code's minimum angle; each hexagon gets a random roll.

Properties: the pieces (a sphere mesh and one convex hull per bullet) are unioned with
manifold3d (``Manifold.batch_boolean``, the engine behind
``trimesh.boolean.union(..., engine="manifold")`` without trimesh's conversions; about ten
times faster). The result is checked watertight with trimesh. The sphere mesh's radius is
enlarged so that its volume equals the true sphere's (area then within 0.1 %). The minimal
bounding sphere (``trimesh.nsphere.minimum_nsphere`` of the bullets' vertices and 400 points
on the true central sphere, so the mesh's facets do not bias it) gives
``rho_eff = V / V_mbs`` and ``sa_eff = SA / (4 pi r_mbs^2)``; mass uses ice at
0.917 g/cm^3. Lengths in um, areas um^2, volumes um^3, mass in ug.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

from icepaper.synth.rotations import random_rotation as _random_rotation

ICE_DENSITY_G_CM3 = 0.917
A_RANGE_UM = (9.4, 33.9)
C_OVER_A_RANGE = (1.19, 5.75)
F_RANGE = (0.8, 1.2)
N_ARMS_RANGE = (4, 10)
SPHERE_SEGMENTS = 24  # volume/area within 0.01 % of 48 segments, twice as fast


# ----------------------------------------------------------------------------- directions
@lru_cache(maxsize=64)
def spherical_code(n: int, iters: int = 400) -> np.ndarray:
    """``n`` well-spread unit vectors (n, 3): Thomson points by projected repulsion (cached).

    Four points spread like a tetrahedron's vertices (109.47 deg apart):

    >>> round(math.degrees(min_angle(spherical_code(4))))
    109
    """
    if n < 1:
        raise ValueError(f"need at least one direction, got n={n}")
    if n == 1:
        return np.array([[0.0, 0.0, 1.0]])
    rng = np.random.default_rng(12345 + n)
    x = rng.normal(size=(n, 3))
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    step = 0.1
    for _ in range(iters):
        diff = x[:, None, :] - x[None, :, :]
        d = np.linalg.norm(diff, axis=-1) + np.eye(n)
        force = (diff / d[..., None] ** 3).sum(1)
        force -= (force * x).sum(1, keepdims=True) * x  # tangential part only
        x = x + step * force / max(np.linalg.norm(force, axis=1).max(), 1e-12) * 0.5
        x /= np.linalg.norm(x, axis=1, keepdims=True)
        step *= 0.99
    x.setflags(write=False)
    return x


def min_angle(directions: np.ndarray) -> float:
    """Smallest angle (radians) between any two of the unit vectors.

    >>> round(min_angle(np.eye(3)), 4)  # pi / 2
    1.5708
    """
    if len(directions) < 2:
        return math.pi
    g = np.clip(directions @ directions.T, -1, 1)
    np.fill_diagonal(g, -1)
    return float(np.arccos(g.max()))


def random_rotation(rng: np.random.Generator) -> np.ndarray:
    """A uniformly random 3x3 rotation matrix (from a random unit quaternion): the synthetic
    generator's sampler, :func:`icepaper.synth.rotations.random_rotation`, with the quaternion
    divided by its norm (``divide=True``), as the rosette sets were always drawn."""
    return _random_rotation(rng, divide=True)


def jitter_in_cone(d: np.ndarray, half_angle: float, rng: np.random.Generator) -> np.ndarray:
    """Unit vector drawn uniformly from the spherical cap of ``half_angle`` around ``d``.

    >>> d = jitter_in_cone(np.array([0.0, 0.0, 1.0]), 0.1, np.random.default_rng(0))
    >>> round(float(d @ d), 6), bool(d[2] >= math.cos(0.1))
    (1.0, True)
    """
    u, v = _basis(d)
    cos_t = 1 - rng.uniform() * (1 - math.cos(half_angle))
    sin_t = math.sqrt(max(0.0, 1 - cos_t**2))
    phi = rng.uniform(0, 2 * math.pi)
    return cos_t * d + sin_t * (math.cos(phi) * u + math.sin(phi) * v)


def _basis(d: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Two unit vectors orthogonal to unit ``d`` and to each other."""
    x, y, z = d
    u = np.array([0.0, z, -y]) if abs(x) < 0.9 else np.array([-z, 0.0, x])  # d x e_x or e_y x d
    u /= math.sqrt(u @ u)
    v = np.array([y * u[2] - z * u[1], z * u[0] - x * u[2], x * u[1] - y * u[0]])
    return u, v


# ----------------------------------------------------------------------------- geometry
@dataclass
class Rosette:
    """One bullet rosette: sphere radius, apex distance and per-arm bullets (um).

    Two opposite arms along x: sphere radius 10, apex 5 inside it, pyramid height 8, prism
    circumradius 4 and length 12; the outer faces lie at 10 - 5 + 8 + 12 = 25 um:

    >>> ros = Rosette(r0=10.0, h0=5.0, hp=8.0, directions=[[1, 0, 0], [-1, 0, 0]], a=4.0, c=6.0)
    >>> ros.n_arms, [v.shape for v in ros.bullet_vertices()]
    (2, [(13, 3), (13, 3)])
    >>> round(outer_radius(ros), 3)  # sqrt(25^2 + 4^2)
    25.318
    """

    r0: float
    h0: float
    hp: float
    directions: np.ndarray  # (n, 3) unit vectors
    a: np.ndarray  # (n,) hexagon circumradius per arm
    c: np.ndarray  # (n,) prism half-length per arm
    roll: np.ndarray = field(default=None)  # (n,) hexagon roll angle (rad)

    def __post_init__(self):
        self.directions = np.asarray(self.directions, float)
        self.a = np.broadcast_to(np.asarray(self.a, float), (self.n_arms,)).copy()
        self.c = np.broadcast_to(np.asarray(self.c, float), (self.n_arms,)).copy()
        if self.roll is None:
            self.roll = np.zeros(self.n_arms)

    @property
    def n_arms(self) -> int:
        return len(self.directions)

    def bullet_vertices(self) -> list[np.ndarray]:
        """Per arm, the 13 vertices (apex, 6 pyramid-base, 6 outer-face) of its convex bullet."""
        out = []
        ang = np.arange(6) * (math.pi / 3)
        tip = self.r0 - self.h0
        for d, a, c, roll in zip(self.directions, self.a, self.c, self.roll):
            u, v = _basis(d)
            ring = a * (np.cos(ang + roll)[:, None] * u + np.sin(ang + roll)[:, None] * v)
            base = (tip + self.hp) * d
            top = (tip + self.hp + 2 * c) * d
            out.append(np.vstack([tip * d, base + ring, top + ring]))
        return out


def sample_rosette(rng: np.random.Generator, n_arms: int | None = None,
                   n_range: tuple[int, int] = N_ARMS_RANGE) -> Rosette:
    """Draw one rosette with the published sampling (module docstring); sizes in um.

    >>> ros = sample_rosette(np.random.default_rng(0), n_arms=6)
    >>> ros.n_arms, bool(outer_radius(ros) <= max_radius_um())
    (6, True)
    """
    n = int(rng.integers(n_range[0], n_range[1] + 1)) if n_arms is None else int(n_arms)
    if n < 1:
        raise ValueError(f"a rosette needs at least one arm, got {n}")

    def f() -> float:
        return float(rng.uniform(*F_RANGE))

    a = float(rng.uniform(*A_RANGE_UM))
    c = a * float(rng.uniform(*C_OVER_A_RANGE))
    s = (n - 4) / 8
    r0 = f() * a * (0.5 + 0.5 * s)
    hp = f() * r0 * (1 + 0.5 * s)
    h0 = f() * r0 / 2
    code = spherical_code(n) @ random_rotation(rng).T
    cone = min_angle(code) / 3
    dirs = np.stack([jitter_in_cone(d, cone, rng) for d in code])
    return Rosette(r0=r0, h0=h0, hp=hp, directions=dirs,
                   a=a * rng.uniform(*F_RANGE, n), c=c * rng.uniform(*F_RANGE, n),
                   roll=rng.uniform(0, math.pi / 3, n))


# ----------------------------------------------------------------------------- meshes
@lru_cache(maxsize=8)
def _sphere_volume_scale(segments: int) -> float:
    """Radius factor that gives the sphere mesh the volume of the true sphere."""
    from manifold3d import Manifold

    v = Manifold.sphere(1.0, segments).volume()
    return (4 / 3 * math.pi / v) ** (1 / 3)


def bullet_manifold(vertices: np.ndarray):
    """The convex bullet (manifold3d ``Manifold``) spanned by its vertices."""
    from manifold3d import Manifold

    return Manifold.hull_points(np.ascontiguousarray(vertices, dtype=np.float64))


def rosette_manifold(rosette: Rosette, segments: int = SPHERE_SEGMENTS):
    """Union (manifold3d) of the volume-corrected sphere and every bullet."""
    from manifold3d import Manifold, OpType

    pieces = [Manifold.sphere(rosette.r0 * _sphere_volume_scale(segments), segments)]
    pieces += [bullet_manifold(v) for v in rosette.bullet_vertices()]
    return Manifold.batch_boolean(pieces, OpType.Add)


def to_trimesh(manifold):
    """A ``trimesh.Trimesh`` of a manifold3d solid (for export, plots and checks)."""
    import trimesh

    m = manifold.to_mesh()
    return trimesh.Trimesh(np.asarray(m.vert_properties)[:, :3], np.asarray(m.tri_verts),
                           process=False)


def minimal_bounding_sphere(points: np.ndarray) -> tuple[np.ndarray, float]:
    """Centre and radius of the smallest sphere enclosing ``points`` (trimesh.nsphere).

    The corners of a cube of side 2:

    >>> from itertools import product
    >>> centre, radius = minimal_bounding_sphere(list(product([-1, 1], repeat=3)))
    >>> centre.round(6).tolist(), round(radius, 4)  # sqrt(3)
    ([0.0, 0.0, 0.0], 1.7321)
    """
    import trimesh

    centre, radius = trimesh.nsphere.minimum_nsphere(np.asarray(points, float))
    return np.asarray(centre), float(radius)


def bounding_sphere(rosette: Rosette) -> tuple[np.ndarray, float]:
    """Minimal bounding sphere (centre, radius in um) of the bullets and the true central sphere."""
    return minimal_bounding_sphere(np.vstack([*rosette.bullet_vertices(),
                                              rosette.r0 * _sphere_points()]))


def outer_radius(rosette: Rosette) -> float:
    """Largest distance (um) from the rosette's centre to any point of it."""
    norms = [np.linalg.norm(v, axis=1).max() for v in rosette.bullet_vertices()]
    return float(max([rosette.r0, *norms]))


def rosette_properties(rosette: Rosette, check_watertight: bool = True,
                       segments: int = SPHERE_SEGMENTS) -> dict[str, float]:
    """Exact 3-D properties of the unioned rosette (um, um^2, um^3, ug; ratios unitless).

    Raises RuntimeError if the union is not a watertight solid.

    >>> ros = Rosette(r0=10.0, h0=5.0, hp=8.0, directions=[[1, 0, 0], [-1, 0, 0]], a=4.0, c=6.0)
    >>> p = rosette_properties(ros)
    >>> p["n_arms"], p["watertight"], round(p["dmax_um"], 1), bool(0 < p["rho_eff"] < 1)
    (2, True, 50.6, True)
    """
    solid = rosette_manifold(rosette, segments)
    volume = float(solid.volume())
    area = float(solid.surface_area())
    watertight = True
    if check_watertight:
        watertight = bool(to_trimesh(solid).is_watertight)
        if not watertight:
            raise RuntimeError("rosette union is not watertight")
    centre, r_mbs = bounding_sphere(rosette)
    return {
        "n_arms": rosette.n_arms,
        "r0_um": rosette.r0,
        "hp_um": rosette.hp,
        "h0_um": rosette.h0,
        "a_um": _mean(rosette.a),
        "c_um": _mean(rosette.c),
        "c_over_a": _mean(rosette.c / rosette.a),
        "volume_um3": volume,
        "surface_um2": area,
        "r_mbs_um": r_mbs,
        "dmax_um": 2 * r_mbs,
        "rho_eff": volume / (4 / 3 * math.pi * r_mbs**3),
        "sa_eff": area / (4 * math.pi * r_mbs**2),
        "mass_ug": ICE_DENSITY_G_CM3 * volume * 1e-12 * 1e6,
        "watertight": watertight,
        "mbs_cx_um": float(centre[0]),
        "mbs_cy_um": float(centre[1]),
        "mbs_cz_um": float(centre[2]),
    }


def _mean(x: np.ndarray) -> float:
    return float(np.mean(x)) if len(x) else float("nan")


@lru_cache(maxsize=1)
def _sphere_points(n: int = 400) -> np.ndarray:
    """``n`` Fibonacci points on the unit sphere (the true sphere for the bounding sphere)."""
    i = np.arange(n) + 0.5
    z = 1 - 2 * i / n
    phi = i * math.pi * (3 - math.sqrt(5))
    rr = np.sqrt(1 - z**2)
    return np.stack([rr * np.cos(phi), rr * np.sin(phi), z], axis=1)


def max_radius_um(n_range: tuple[int, int] = N_ARMS_RANGE) -> float:
    """Upper bound of the distance from the centre to any point of a sampled rosette (um).

    >>> round(max_radius_um(), 1), round(max_radius_um((4, 4)), 1)
    (563.6, 514.2)
    """
    n = n_range[1]
    s = (n - 4) / 8
    a = A_RANGE_UM[1]
    r0 = F_RANGE[1] * a * (0.5 + 0.5 * s)
    hp = F_RANGE[1] * r0 * (1 + 0.5 * s)
    c = F_RANGE[1] * a * C_OVER_A_RANGE[1]
    outer = r0 + hp + 2 * c
    return float(math.hypot(outer, F_RANGE[1] * a))
