"""Particle shapes: one builder per base habit (``build_<habit>``, :func:`build`), aging
(:func:`add_rime`), aggregation (:func:`assemble_aggregate`) and :func:`construct`, the
geometry of one particle from its construction row.

Builders return a geometry centred at the origin whose bounding-sphere diameter is the
requested maximum dimension D (um), with the crystal's c-axis along z. Shapes follow
docs/science.md §2 and §4; every aspect-ratio range is a [default] unless stated.
"""

from __future__ import annotations

import numpy as np

from .geometry import _HEX, SPHERICAL_CODES, Geometry, box, bullet, polytope, prism
from .rotations import _rot_z, random_rotation

# ----------------------------------------------------------------------------- habits


def column_aspect(length_um: float, rng: np.random.Generator) -> float:
    """Width/length of a column, decreasing with length (Auer-Veal-like power law) [default]."""
    return float(np.clip(0.7 * (length_um / 100.0) ** -0.45 * rng.uniform(0.75, 1.25), 0.16, 0.95))


def build_column(d: float, rng) -> Geometry:
    ar = column_aspect(d, rng)
    g = Geometry([prism(0.5 * ar, 1.0)])
    if rng.random() < 0.35:  # hollow ends: a thinner, clearer inner prism shows as inner lines
        g.pieces.append(prism(0.3 * ar, 0.7, clarity=1.0))
    return g


def build_needle(d: float, rng) -> Geometry:
    ar = rng.uniform(0.05, 0.14)
    g = Geometry([prism(0.5 * ar, 1.0)])
    if rng.random() < 0.25:  # sheath / split needle
        g.pieces.append(prism(0.35 * ar, 0.6, center=(0.3 * ar, 0, 0.25)))
    return g


def build_plate(d: float, rng) -> Geometry:
    a = 1.0
    h = max(rng.uniform(0.04, 0.15), 0.02)
    g = Geometry([prism(a, h)])
    if rng.random() < 0.6:  # inner hexagonal ridge / thicker centre seen on many plates
        g.pieces.append(prism(a * rng.uniform(0.45, 0.75), h * 1.3))
    return g


def build_stellar(d: float, rng) -> Geometry:
    """Stellar or dendritic plate: small hexagonal centre, six arms, optional side branches."""
    rc = rng.uniform(0.12, 0.28)
    t = rng.uniform(0.02, 0.05)
    w = rng.uniform(0.06, 0.14)
    g = Geometry([prism(rc, t)])
    dendritic = rng.random() < 0.55
    for k in range(6):
        ang = k * np.pi / 3 + np.pi / 6 * 0  # arms point at the hexagon corners
        R = _rot_z(ang)
        L = rng.uniform(0.85, 1.0)
        g.pieces.append(box(L / 2, w / 2, t / 2, center=R @ np.array([L / 2, 0, 0]), rot=R))
        if dendritic:
            for j in range(2):
                pos = rng.uniform(0.35, 0.55) + 0.25 * j
                bl = (1.0 - pos) * rng.uniform(0.4, 0.7)
                for sgn in (-1, 1):
                    Rb = _rot_z(ang + sgn * np.pi / 3)
                    base = R @ np.array([pos, 0, 0])
                    g.pieces.append(box(bl / 2, w * 0.35, t / 2, center=base + Rb @ np.array([bl / 2, 0, 0]), rot=Rb))
    return g


def build_cpc(d: float, rng) -> Geometry:
    """Columns on a capped column: column with a plate at each end, columns on the plate rims."""
    L = 1.0
    wc = column_aspect(300.0, rng) * 0.6
    ap = rng.uniform(1.2, 2.2) * wc
    tp = rng.uniform(0.04, 0.08)
    g = Geometry([prism(wc / 2, L)])
    for sgn in (-1, 1):
        z0 = sgn * (L / 2 + tp / 2)
        g.pieces.append(prism(ap, tp, center=(0, 0, z0)))
        corners = rng.choice(6, size=int(rng.integers(1, 4)), replace=False)
        for k in corners:
            ls = rng.uniform(0.25, 0.7) * L
            ws = rng.uniform(0.3, 0.6) * wc
            xy = _HEX[k] * ap * 0.8
            g.pieces.append(prism(ws / 2, ls, center=(xy[0], xy[1], z0 + sgn * (ls / 2 + tp / 2))))
    return g


def build_lollipop(d: float, rng) -> Geometry:
    """A drizzle drop frozen on the end of a column (Chu et al. 2025, Table 2)."""
    ar = column_aspect(d, rng)
    r = 0.5 * ar * rng.uniform(1.1, 2.2)
    g = Geometry([prism(0.5 * ar, 1.0)])
    g.add_spheres(np.array([0.0, 0.0, 0.5 + 0.6 * r]), np.array([r]), kind=0)
    return g


def build_frozen_droplet(d: float, rng) -> Geometry:
    """A frozen drop: slightly non-spherical ellipsoid, sometimes with a bulge."""
    A = np.diag([1.0, rng.uniform(0.82, 1.0), rng.uniform(0.72, 0.97)]) @ random_rotation(rng)
    g = Geometry(ellipsoids=[(np.zeros(3), A)])
    if rng.random() < 0.4:
        u = rng.normal(size=3)
        u /= np.linalg.norm(u)
        rb = rng.uniform(0.2, 0.4)
        g.add_spheres(A @ u * 0.95, np.array([rb]), kind=2)
    return g


def build_liquid_droplet(d: float, rng) -> Geometry:
    g = Geometry()
    g.add_spheres(np.zeros(3), np.array([1.0]), kind=0)
    return g


def build_small(d: float, rng) -> Geometry:
    """A particle too small to show a habit: one compact, near-isometric polytope."""
    return Geometry([polytope(rng, 1.0, (1.0, rng.uniform(0.7, 1.0), rng.uniform(0.6, 1.0)), clarity=0.35)])


def build_irregular(d: float, rng) -> Geometry:
    """Irregular crystal: 2-5 overlapping compact polytopes of different sizes."""
    k = int(rng.integers(2, 6))
    g = Geometry()
    for _ in range(k):
        r = rng.uniform(0.5, 1.0)
        c = rng.normal(size=3) * 0.22
        g.pieces.append(polytope(rng, r, (1.0, rng.uniform(0.6, 1.0), rng.uniform(0.5, 1.0)), c, clarity=0.35))
    return g


def build_bullet_rosette(d: float, rng, n_arms: int | None = None, budding: bool = False) -> Geometry:
    """Bullet rosette after docs/science.md §4: centre sphere r0, n hexagonal bullets.

    Published sampling [fact]: n = 4..10, a in [9.4, 33.9] um, c/a in [1.19, 5.75],
    r0 = f a (0.5 + 0.5 (n-4)/8), hp = f r0 (1 + 0.5 (n-4)/8), h0 = f r0 / 2, f ~ U(0.8, 1.2),
    per-arm a, c scaled by U(0.8, 1.2); arm directions a spherical code jittered within a
    cone of a third of the minimum angle. Budding rosettes: short arms, c/a 0.4-1.1 [default].
    """
    n = int(n_arms if n_arms is not None else rng.integers(5, 11) if budding else rng.integers(4, 11))
    a = rng.uniform(9.4, 33.9)
    ca = rng.uniform(0.4, 1.1) if budding else rng.uniform(1.19, 5.75)
    c = ca * a
    f = rng.uniform(0.8, 1.2, 3)
    r0 = f[0] * a * (0.5 + 0.5 * (n - 4) / 8) * (1.4 if budding else 1.0)
    hp = f[1] * r0 * (1 + 0.5 * (n - 4) / 8) * (0.6 if budding else 1.0)
    h0 = f[2] * r0 / 2
    dirs = SPHERICAL_CODES[n] @ random_rotation(rng).T
    cosmin = np.max(dirs @ dirs.T - 2 * np.eye(n), axis=1)
    theta_min = np.arccos(np.clip(cosmin.max(), -1, 1))
    g = Geometry()
    for i in range(n):
        jitter = rng.normal(size=3)
        jitter -= jitter.dot(dirs[i]) * dirs[i]
        jitter /= np.linalg.norm(jitter) + 1e-12
        ang = rng.uniform(0, theta_min / 3)
        di = np.cos(ang) * dirs[i] + np.sin(ang) * jitter
        s = rng.uniform(0.8, 1.2, 2)
        g.pieces.append(bullet(a * s[0], r0 - h0, c * s[1], hp, di, rng.uniform(0, np.pi)))
    g.add_spheres(np.zeros(3), np.array([r0]), kind=2)
    return g


def build_budding_rosette(d: float, rng) -> Geometry:
    return build_bullet_rosette(d, rng, budding=True)


def build_planar_polycrystal(d: float, rng) -> Geometry:
    """Plate-like polycrystal / side planes: 2-5 thin plates joined at random angles."""
    k = int(rng.integers(2, 6))
    g = Geometry()
    for _ in range(k):
        a = rng.uniform(0.35, 0.75)
        u = rng.normal(size=3)
        u /= np.linalg.norm(u)
        g.pieces.append(prism(a, a * rng.uniform(0.06, 0.14), center=u * a * rng.uniform(0.2, 0.7),
                              rot=random_rotation(rng), clarity=0.8))
    if rng.random() < 0.4:  # a columnar core the planes grew on
        g.pieces.append(prism(0.12, 0.6, rot=random_rotation(rng)))
    return g


def build_fragment(d: float, rng) -> Geometry:
    """A tiny piece of a broken crystal (imaging artefact class 'fragment')."""
    g = Geometry()
    for _ in range(int(rng.integers(1, 3))):
        if rng.random() < 0.5:
            g.pieces.append(box(1.0, rng.uniform(0.2, 0.6), rng.uniform(0.1, 0.4), center=rng.normal(size=3) * 0.4,
                                rot=random_rotation(rng), clarity=0.4))
        else:
            g.pieces.append(polytope(rng, rng.uniform(0.4, 1.0), (1.0, rng.uniform(0.3, 0.8), 0.5),
                                     rng.normal(size=3) * 0.4))
    return g


BUILDERS = {
    "column": build_column,
    "needle": build_needle,
    "plate": build_plate,
    "stellar": build_stellar,
    "cpc": build_cpc,
    "lollipop": build_lollipop,
    "frozen_droplet": build_frozen_droplet,
    "liquid_droplet": build_liquid_droplet,
    "small": build_small,
    "irregular": build_irregular,
    "bullet_rosette": build_bullet_rosette,
    "budding_rosette": build_budding_rosette,
    "planar_polycrystal": build_planar_polycrystal,
    "fragment": build_fragment,
}


def build(habit: str, d_um: float, rng: np.random.Generator) -> Geometry:
    """Single crystal of base ``habit`` with bounding-sphere diameter ``d_um``, c-axis on z."""
    try:
        fn = BUILDERS[habit]
    except KeyError:
        raise ValueError(f"unknown habit {habit!r}; known: {', '.join(BUILDERS)}") from None
    return fn(d_um, rng).normalise(d_um)


# ----------------------------------------------------------------------------- processes


def add_rime(g: Geometry, degree: float, rng: np.random.Generator, drop_um=(3.0, 9.0)) -> Geometry:
    """Aging: freeze cloud droplets (radius ``drop_um`` um) on the surface.

    The number of droplets covers about ``degree`` / 2 of the surface (at most 120).
    Centres are uniform on the faces (area-weighted triangles), half out of the face, or
    on the ellipsoid/sphere surface of a drop-like particle. Pieces lose clarity with the
    degree (rimed ice is opaque).
    """
    tris = [p.v[p.t.tris] for p in g.pieces]  # (nt, 3, 3) each
    total = 0.0
    if tris:
        T = np.concatenate(tris)
        a, b = T[:, 1] - T[:, 0], T[:, 2] - T[:, 0]
        cr = np.stack([a[:, 1] * b[:, 2] - a[:, 2] * b[:, 1], a[:, 2] * b[:, 0] - a[:, 0] * b[:, 2],
                       a[:, 0] * b[:, 1] - a[:, 1] * b[:, 0]], axis=1)
        ar = 0.5 * np.sqrt((cr * cr).sum(axis=1))
        total += float(ar.sum())
    for _, A in g.ellipsoids:
        total += 4 * np.pi * abs(np.linalg.det(A)) ** (2 / 3)
    if len(g.sc):
        total += float((4 * np.pi * g.sr**2).sum())
    r_mean = float(np.mean(drop_um))
    n = int(np.clip(degree * total / (np.pi * r_mean**2) * 0.5, 4, 120))
    radii = rng.uniform(*drop_um, n)
    u = rng.normal(size=(n, 3))
    u /= np.linalg.norm(u, axis=1, keepdims=True)
    if tris:
        k = rng.choice(len(T), size=n, p=ar / ar.sum())
        s, t = rng.random(n), rng.random(n)
        flip = s + t > 1
        s[flip], t[flip] = 1 - s[flip], 1 - t[flip]
        P = T[k, 0] + s[:, None] * a[k] + t[:, None] * b[k]
        P += cr[k] / (2 * ar[k, None] + 1e-12) * radii[:, None] * 0.4
    elif g.ellipsoids:
        c, A = g.ellipsoids[0]
        P = c + u @ A.T * 1.02
    elif len(g.sc):
        j = int(np.argmax(g.sr))
        P = g.sc[j] + u * g.sr[j]
    else:
        return g
    g.add_spheres(P, radii, kind=1)
    for p in g.pieces:
        p.clarity *= max(0.0, 1.0 - 1.2 * degree)
    return g


def assemble_aggregate(parts: list[Geometry], d_um: float, rng: np.random.Generator) -> Geometry:
    """Stick crystals together, then scale the cluster to bounding-sphere diameter ``d_um``.

    Each new crystal (randomly rotated) touches the cluster: one of its vertices is put on a
    vertex of a random earlier piece, pushed slightly inside (crystals interlock).
    """
    out = parts[0]
    for g in parts[1:]:
        g.transform(random_rotation(rng))
        anchor = _surface_point(out, rng)
        own = _surface_point(g, rng)
        gc = g.points().mean(axis=0)
        push = (gc - own) * rng.uniform(0.05, 0.25)  # interpenetrate a little
        g.transform(None, anchor - own + push)
        out.merge(g)
    return out.normalise(d_um)


def _surface_point(g: Geometry, rng: np.random.Generator) -> np.ndarray:
    """A random vertex of a random piece (or a point on a sphere/ellipsoid surface)."""
    k = len(g.pieces) + len(g.ellipsoids) + (1 if len(g.sc) else 0)
    i = int(rng.integers(k))
    u = rng.normal(size=3)
    u /= np.linalg.norm(u)
    if i < len(g.pieces):
        v = g.pieces[i].v
        return v[int(rng.integers(len(v)))].copy()
    i -= len(g.pieces)
    if i < len(g.ellipsoids):
        c, A = g.ellipsoids[i]
        return c + A @ u
    j = int(np.argmax(g.sr))
    return g.sc[j] + g.sr[j] * u


def construct(
    habit: str,
    size_um: float,
    rng: np.random.Generator,
    aged: bool = False,
    rime_degree: float = 0.0,
    components: str = "",
) -> Geometry:
    """Geometry of one particle from its construction row (see ``physics.sample_particles``).

    Aggregates: the main crystal (size 0.55-0.8 D) plus the ``+``-separated companion habits
    (0.35-0.75 D each); aging adds rime to every crystal of the particle.
    """
    if not components:
        g = build(habit, size_um, rng)
    else:
        names = [habit] + components.split("+")
        sizes = [size_um * rng.uniform(0.55, 0.8)] + list(size_um * rng.uniform(0.35, 0.75, len(names) - 1))
        g = assemble_aggregate([build(h, s, rng) for h, s in zip(names, sizes)], size_um, rng)
    if aged:
        add_rime(g, rime_degree, rng, drop_um=(3.0, max(8.0, size_um / 25.0)))
    return g
