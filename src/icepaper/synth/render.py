"""Imaging model: orthographic projection of a :class:`~.geometry.Geometry` into an 8-bit ROI.

Two instruments:

``CPI`` (Cloud Particle Imager) [fact: 2.3 um/px, 8-bit, 1024 px frame; artefacts as in
science.md sec. 1]: a dark particle on a bright, slightly mottled background, facets that
transmit light (brighter when seen face-on) separated by dark edges, defocus blur with a
bright halo outside the edge, a bright centre spot on drops (lens effect), horizontal
streak noise, particles cut off by the frame edge.

``HOLIMO`` (holographic imager HOLIMO3B, seed 002): the reconstructed amplitude is a grey
image with a dark particle, weak facet contrast, granular speckle noise and ringing
fringes around the edges; pixels are coarser (3.5 um [default]) and the optics blur more.

A particle is placed at a random position in the instrument's frame (near the trigger
point; it is cut off where it leaves the frame); its ROI is a square around the visible
part with a margin. The ROI is drawn at the instrument's native pixel size when that is
smaller than the stored size S and then upsampled (small particles look blocky and
blurry, as real upsampled ROIs do); larger ROIs are drawn directly at S x S. So the
stored image covers ``S * pixel_um`` um and ``pixel_um = roi_um / S``.

Noise comes from per-chunk noise banks (:class:`NoiseBank`) cropped at random offsets,
which keeps generation fast and deterministic.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from .geometry import Geometry

SHIFT = 4  # fixed-point bits for OpenCV drawing
_ONE = 1 << SHIFT


@dataclass(frozen=True)
class Instrument:
    """Imaging parameters of one probe (grey levels are 0-255; transmittances are fractions
    of the background). Ranges are drawn uniformly per image."""

    name: str
    pixel_um: float  # native um per pixel
    frame_px: int  # sensor frame side (px)
    psf_px: float  # optical blur sigma (native px)
    background: tuple[float, float]  # background grey level
    edge: tuple[float, float]  # transmittance of silhouettes/edges (dark)
    facet: tuple[float, float]  # transmittance of a clear face seen face-on
    noise: tuple[float, float]  # pixel noise sigma (grey levels, native px)
    rows: tuple[float, float]  # horizontal streak noise sigma (grey levels)
    mottle: float  # low-frequency background variation (fraction)
    halo: float  # bright out-of-focus halo amplitude (fraction of background)
    fringe: float  # holographic ringing amplitude (fraction of background)
    fringe_period_px: float  # native px
    fringe_decay_px: float  # native px
    highlight: float  # brightness added along internal facet edges (fraction)
    centre_spot: bool  # bright centre spot on drops
    speckle: bool  # granular (smoothed) noise instead of white noise


INSTRUMENTS: dict[str, Instrument] = {
    "CPI": Instrument(
        "CPI", pixel_um=2.3, frame_px=1024, psf_px=0.9, background=(168.0, 215.0),
        edge=(0.04, 0.14), facet=(0.5, 0.9), noise=(2.0, 6.5), rows=(0.5, 4.0), mottle=0.035,
        halo=0.16, fringe=0.0, fringe_period_px=1.0, fringe_decay_px=1.0, highlight=0.3, centre_spot=True,
        speckle=False,
    ),
    "HOLIMO": Instrument(
        "HOLIMO", pixel_um=3.5, frame_px=2000, psf_px=0.9, background=(105.0, 150.0),
        edge=(0.12, 0.3), facet=(0.3, 0.55), noise=(5.0, 10.0), rows=(0.0, 0.0), mottle=0.09,
        halo=0.0, fringe=0.2, fringe_period_px=3.2, fringe_decay_px=4.5, highlight=0.0, centre_spot=False,
        speckle=True,
    ),
}


def instrument(name: str) -> Instrument:
    try:
        return INSTRUMENTS[name]
    except KeyError:
        raise ValueError(f"unknown instrument {name!r}; valid: {', '.join(INSTRUMENTS)}") from None


class NoiseBank:
    """Pre-drawn noise fields; ``crop`` returns a random (h, w) window (a view)."""

    def __init__(self, rng: np.random.Generator, size: int = 256):
        self.size = n = int(size)
        self.white = rng.standard_normal((n, n), dtype=np.float32)
        sm = cv2.GaussianBlur(rng.standard_normal((n, n), dtype=np.float32), (0, 0), 10.0)
        self.smooth = sm / sm.std()
        sp = cv2.GaussianBlur(self.white, (0, 0), 0.8)
        self.speckle = sp / sp.std()
        self.rows = rng.standard_normal(8 * n).astype(np.float32)
        self._mottle: dict[float, np.ndarray] = {}

    def crop(self, field: np.ndarray, h: int, w: int, rng: np.random.Generator) -> np.ndarray:
        y, x = rng.integers(0, self.size - max(h, w) + 1, 2)
        return field[y : y + h, x : x + w]

    def mottle(self, amplitude: float) -> np.ndarray:
        """Multiplicative low-frequency background field 1 + amplitude * smooth noise."""
        f = self._mottle.get(amplitude)
        if f is None:
            f = self._mottle[amplitude] = (1.0 + amplitude * self.smooth).astype(np.float32)
        return f

    def row(self, h: int, rng: np.random.Generator) -> np.ndarray:
        y = int(rng.integers(0, len(self.rows) - h + 1))
        return self.rows[y : y + h]


# ----------------------------------------------------------------------------- projection


@dataclass
class Projected:
    """A geometry seen along -z (x right, y down, um), flattened for fast drawing.

    ``v2``: all piece vertices (n, 2); ``vstart``: first vertex of each piece (+ end);
    ``fidx``/``fw``: padded face vertex ids (global) and centroid weights; ``fpiece``: the
    piece of each face; ``nz``: z component of each face's unit normal; ``clarity`` per
    piece; ``ops``: (depth, kind, payload) far-to-near, kind 0 = piece (payload = piece
    index), 1 = sphere (centre, radius, kind), 2 = ellipse (centre, semi-axes, angle);
    ``rime``: rime-droplet centres and radii (drawn last); ``pts``/``lo``/``hi``: extreme
    points and bounding box.
    """

    v2: np.ndarray
    vstart: np.ndarray
    fidx: np.ndarray
    fw: np.ndarray
    fpiece: np.ndarray
    nz: np.ndarray
    clarity: np.ndarray
    ops: list
    rime: tuple[np.ndarray, np.ndarray]
    pts: np.ndarray
    lo: np.ndarray
    hi: np.ndarray

    def shifted(self, shift: np.ndarray) -> Projected:
        ops = [(d, k, pay if k == 0 else (pay[0] + shift,) + tuple(pay[1:])) for d, k, pay in self.ops]
        return Projected(self.v2 + shift, self.vstart, self.fidx, self.fw, self.fpiece, self.nz,
                         self.clarity, ops, (self.rime[0] + shift, self.rime[1]), self.pts + shift,
                         self.lo + shift, self.hi + shift)


def project(g: Geometry) -> Projected:
    """Orthographic projection along z; draw ops sorted far-to-near (painter's order)."""
    pieces = g.pieces
    ops = []
    pts = []
    if pieces:
        nv = np.fromiter((len(p.v) for p in pieces), np.intp, len(pieces))
        vstart = np.zeros(len(pieces) + 1, np.intp)
        np.cumsum(nv, out=vstart[1:])
        V = np.concatenate([p.v for p in pieces])
        fidx = np.concatenate([p.t.fpad + o for p, o in zip(pieces, vstart[:-1].tolist())])
        fw = np.concatenate([p.t.fw for p in pieces])
        nf = np.fromiter((len(p.t.fpad) for p in pieces), np.intp, len(pieces))
        fpiece = np.repeat(np.arange(len(pieces)), nf)
        a = V[fidx[:, 1]] - V[fidx[:, 0]]
        b = V[fidx[:, 2]] - V[fidx[:, 0]]
        nx = a[:, 1] * b[:, 2] - a[:, 2] * b[:, 1]
        ny = a[:, 2] * b[:, 0] - a[:, 0] * b[:, 2]
        nz = a[:, 0] * b[:, 1] - a[:, 1] * b[:, 0]
        nz = nz / (np.sqrt(nx * nx + ny * ny + nz * nz) + 1e-12)
        depth = np.add.reduceat(V[:, 2], vstart[:-1]) / nv
        ops = [(d, 0, i) for i, d in enumerate(depth.tolist())]
        v2 = V[:, :2]
        pts.append(v2)
        clarity = np.array([p.clarity for p in pieces])
    else:
        v2 = np.zeros((0, 2))
        vstart = np.zeros(1, np.intp)
        fidx = np.zeros((0, 6), np.intp)
        fw = np.zeros((0, 6))
        fpiece = np.zeros(0, np.intp)
        nz = np.zeros(0)
        clarity = np.zeros(0)
    rime = g.sk == 1
    if len(g.sc):
        for c, r, k in zip(g.sc[~rime].tolist(), g.sr[~rime].tolist(), g.sk[~rime].tolist()):
            ops.append((c[2], 1, (np.array(c[:2]), r, k)))
        pts.append((g.sc[:, None, :2] + g.sr[:, None, None] * _OCT2).reshape(-1, 2))
    for c, A in g.ellipsoids:
        M = A[:2] @ A[:2].T
        w, V2 = np.linalg.eigh(M)
        ax = np.sqrt(np.maximum(w, 1e-12))
        ang = float(np.degrees(np.arctan2(V2[1, 1], V2[0, 1])))
        ops.append((float(c[2]), 2, (c[:2], ax[::-1], ang)))
        pts.append(c[:2] + ax[1] * _OCT2)
    ops.sort(key=lambda o: o[0])
    P = np.concatenate(pts) if pts else np.zeros((1, 2))
    return Projected(v2, vstart, fidx, fw, fpiece, nz, clarity, ops, (g.sc[rime, :2], g.sr[rime]),
                     P, P.min(axis=0), P.max(axis=0))


_OCT2 = np.stack([np.cos(np.arange(8) * np.pi / 4), np.sin(np.arange(8) * np.pi / 4)], axis=1)


def max_feret(points: np.ndarray) -> float:
    """Maximum Feret diameter of a 2-D point set (same units as the points)."""
    if len(points) < 2:
        return 0.0
    h = cv2.convexHull(points.astype(np.float32)).reshape(-1, 2)
    d = h[:, None, :] - h[None, :, :]
    return float(np.sqrt((d**2).sum(axis=2).max()))


# ----------------------------------------------------------------------------- drawing


def _fp(xy: np.ndarray) -> np.ndarray:
    return np.rint(xy * _ONE).astype(np.int32)


def _draw(img: np.ndarray, proj: Projected, origin: np.ndarray, scale: float, look: dict) -> None:
    """Paint the particle's transmittance into ``img`` (float32, background = 1).

    Each convex piece: its silhouette filled with the dark edge value, then every visible
    face, shrunk by ``inset`` px so dark edges remain between faces, filled with a
    transmittance that grows with how face-on it is and how clear the ice is, with a
    bright line along its boundary (the bright internal edges of CPI images).
    """
    t_edge, t_facet, spot = look["edge"], look["facet"], look["spot"]
    inset = look["inset"]
    hl = look["highlight"]
    aa = cv2.LINE_AA
    if len(proj.v2):
        P = (proj.v2 - origin) * scale
        Pi = np.rint(P * _ONE).astype(np.int32)
        vs = proj.vstart
        ext = np.minimum(np.maximum.reduceat(P, vs[:-1]) - np.minimum.reduceat(P, vs[:-1]), 1e9).min(axis=1)
        Q = P[proj.fidx]  # (F, 6, 2)
        c = np.einsum("fk,fkd->fd", proj.fw, Q)
        d = Q - c[:, None, :]
        rad = np.einsum("fk,fk->f", proj.fw, np.sqrt((d * d).sum(axis=2)))
        f = 1.0 - inset / np.maximum(rad, 1e-6)
        Qi = np.rint((c[:, None, :] + d * f[:, None, None]) * _ONE).astype(np.int32)
        gain = (t_facet - t_edge) * proj.clarity
        nz = proj.nz
        t = (t_edge + gain[proj.fpiece] * np.maximum(nz, 0.0) ** 1.5).tolist()
        big = (ext >= 2.5 * inset + 1.0) & (proj.clarity > 0.05)
        draw = (nz > 0.08) & (rad >= 1.5 * inset) & big[proj.fpiece]
        bright = draw & (nz > 0.25) & (rad > 4.0) & (proj.clarity[proj.fpiece] > 0.5) & (hl > 0)
        dl = np.flatnonzero(draw)
        per_piece = np.split(dl, np.searchsorted(proj.fpiece[dl], np.arange(1, len(vs) - 1)))
        hl_val = np.minimum(1.0, t_edge + gain * 0.7 + hl).tolist()
        vsl = vs.tolist()
    for _, kind, pay in proj.ops:
        if kind == 0:
            i = pay
            cv2.fillConvexPoly(img, cv2.convexHull(Pi[vsl[i] : vsl[i + 1]]), t_edge, aa, SHIFT)
            faces = per_piece[i]
            if len(faces):
                for j in faces.tolist():
                    cv2.fillConvexPoly(img, Qi[j], t[j], aa, SHIFT)
                b = faces[bright[faces]]
                if len(b):
                    cv2.polylines(img, list(Qi[b]), True, hl_val[i], 1, aa, SHIFT)
        elif kind == 1:
            c0, r, k = pay
            C = tuple(_fp((c0 - origin) * scale).tolist())
            R = r * scale
            cv2.circle(img, C, max(int(R * _ONE), _ONE // 2), t_edge * (0.8 if k == 0 else 1.15), -1, aa, SHIFT)
            if k == 0 and spot and R >= 2.0:
                cv2.circle(img, C, max(int(0.16 * R * _ONE), _ONE // 2), 0.85, -1, aa, SHIFT)
        else:
            c0, ax, ang = pay
            C = tuple(_fp((c0 - origin) * scale).tolist())
            A = ax * scale
            axes = (max(int(A[0] * _ONE), 1), max(int(A[1] * _ONE), 1))
            cv2.ellipse(img, C, axes, ang, 0, 360, t_edge * 0.8, -1, aa, SHIFT)
            if spot and A.min() >= 2.0:
                cv2.circle(img, C, max(int(0.14 * A.min() * _ONE), _ONE // 2), 0.8, -1, aa, SHIFT)
    rc, rr = proj.rime
    if len(rr):
        C = _fp((rc - origin) * scale).tolist()
        R = np.maximum(np.rint(rr * scale * _ONE), _ONE // 2).astype(int).tolist()
        tr = t_edge + 0.2 * (t_facet - t_edge)  # rime: granular, a little lighter than edges
        for (x, y), r in zip(C, R):
            cv2.circle(img, (x, y), r, tr, -1, aa, SHIFT)


def _silhouette_inside_fraction(proj: Projected, frame_um: float) -> float:
    """Fraction of the projected particle area inside [0, frame_um]^2 (low-res raster)."""
    n = 48
    lo, hi = proj.lo, proj.hi
    span = float(max(hi - lo)) + 1e-9
    sc = (n - 1) / span
    m = np.zeros((n, n), np.uint8)
    _draw_mask(m, proj, lo, sc)
    total = int(m.sum())
    if total == 0:
        return 1.0
    xs = lo[0] + np.arange(n) / sc
    ys = lo[1] + np.arange(n) / sc
    inx = (xs >= 0) & (xs <= frame_um)
    iny = (ys >= 0) & (ys <= frame_um)
    return float(m[np.ix_(iny, inx)].sum()) / total


def _draw_mask(m: np.ndarray, proj: Projected, origin: np.ndarray, scale: float) -> None:
    """Binary silhouette (value 1) of the projected particle."""
    if len(proj.v2):
        Pi = _fp((proj.v2 - origin) * scale)
        vs = proj.vstart.tolist()
        for a, b in zip(vs[:-1], vs[1:]):
            cv2.fillConvexPoly(m, cv2.convexHull(Pi[a:b]), 1, cv2.LINE_8, SHIFT)
    for _, kind, pay in proj.ops:
        if kind == 1:
            C = tuple(_fp((pay[0] - origin) * scale).tolist())
            cv2.circle(m, C, max(int(pay[1] * scale * _ONE), 1), 1, -1, cv2.LINE_8, SHIFT)
        elif kind == 2:
            C = tuple(_fp((pay[0] - origin) * scale).tolist())
            A = pay[1] * scale
            axes = (max(int(A[0] * _ONE), 1), max(int(A[1] * _ONE), 1))
            cv2.ellipse(m, C, axes, pay[2], 0, 360, 1, -1, cv2.LINE_8, SHIFT)
    rc, rr = proj.rime
    for c, r in zip(_fp((rc - origin) * scale).tolist(), (rr * scale * _ONE).astype(int).tolist()):
        cv2.circle(m, tuple(c), max(r, 1), 1, -1, cv2.LINE_8, SHIFT)


# ----------------------------------------------------------------------------- imaging


def render(
    g: Geometry | None,
    inst: Instrument,
    size: int,
    rng: np.random.Generator,
    bank: NoiseBank,
    defocus_px: float = 0.0,
    blank_um: float | None = None,
    native: bool = False,
) -> tuple[np.ndarray, dict]:
    """Image one particle (or a blank frame when ``g`` is None).

    Returns ``(img, info)``: ``img`` is (size, size) uint8 (or the native-resolution
    rectangular ROI when ``native``), ``info`` has ``pixel_um`` (um per stored pixel),
    ``roi_um`` (ROI side), ``dmax_um`` (maximum Feret diameter of the visible part, um),
    ``cutoff_frac`` (fraction of the projected area outside the frame) and ``render_px``.
    """
    pix = inst.pixel_um
    frame = inst.frame_px * pix
    u = rng.random(12).tolist()  # all scalar draws of this image at once (fast)
    cutoff = 0.0
    dmax = float("nan")
    if g is None:
        L = float(blank_um if blank_um is not None else 40.0 + 210.0 * u[0])
        Lx = Ly = L
        proj = None
        ox = oy = 0.0
    else:
        proj = project(g)
        (lx, ly), (hx, hy) = proj.lo.tolist(), proj.hi.tolist()
        # position in the frame: near the trigger point, cut where it leaves the frame
        cx, cy = (frame / 2 + frame / 5 * rng.standard_normal(2)).tolist()
        cx, cy = min(max(cx, 0.0), frame), min(max(cy, 0.0), frame)
        sx, sy = cx - 0.5 * (lx + hx), cy - 0.5 * (ly + hy)
        lx, hx, ly, hy = lx + sx, hx + sx, ly + sy, hy + sy
        vlx, vhx, vly, vhy = max(lx, 0.0), min(hx, frame), max(ly, 0.0), min(hy, frame)
        shift = np.array([sx, sy])
        vis = proj.pts + shift
        if lx < 0 or ly < 0 or hx > frame or hy > frame:
            vis = np.clip(vis, 0.0, frame)
            cutoff = 1.0 - _silhouette_inside_fraction(proj.shifted(shift), frame)
        dmax = max_feret(vis)
        margin = 1.1 + 0.35 * u[0]
        if native:
            Lx = min((vhx - vlx) * margin + 6 * pix, frame)
            Ly = min((vhy - vly) * margin + 6 * pix, frame)
        else:
            Lx = Ly = min(max(vhx - vlx, vhy - vly) * margin + 6 * pix, frame)
        x0 = min(max(0.5 * (vlx + vhx) - Lx / 2, 0.0), frame - Lx)
        y0 = min(max(0.5 * (vly + vhy) - Ly / 2, 0.0), frame - Ly)
        ox, oy = x0 - sx, y0 - sy  # ROI origin in particle coordinates
        L = max(Lx, Ly)
    if native:
        W, H = max(int(round(Lx / pix)), 4), max(int(round(Ly / pix)), 4)
        scale = 1.0 / pix
        out_px = None
    else:
        W = H = min(max(int(round(L / pix)), 8), size)
        scale = W / L
        out_px = size
    info = {"cutoff_frac": cutoff, "dmax_um": dmax, "roi_um": L,
            "pixel_um": pix if native else L / size, "render_px": W}
    ratio = scale * pix  # render px per native px (<= 1)

    img = np.ones((H, W), np.float32)
    look = {
        "edge": inst.edge[0] + (inst.edge[1] - inst.edge[0]) * u[1],
        "facet": inst.facet[0] + (inst.facet[1] - inst.facet[0]) * u[2],
        "spot": inst.centre_spot,
        "inset": max(0.7, 2.2 * ratio),  # dark rims ~2 native px wide between facets
        "highlight": inst.highlight,
    }
    if proj is not None:
        _draw(img, proj, np.array([ox, oy]), scale, look)
    else:
        _blank_smears(img, rng)

    sigma = (inst.psf_px**2 + defocus_px**2) ** 0.5 * ratio
    if proj is not None and (inst.halo > 0 or inst.fringe > 0):
        _, mf = cv2.threshold(img, 0.985, 1.0, cv2.THRESH_BINARY_INV)  # 1 on the particle
    if inst.halo > 0 and proj is not None:
        # diffraction halo: bright just outside the edge, darker just inside; added before
        # the defocus blur, which then spreads it (a wide soft halo when out of focus)
        a = inst.halo * (0.4 + min(defocus_px, 3.0) / 2.0) * (0.6 + 0.6 * u[3])
        ring = cv2.GaussianBlur(mf, (0, 0), max(0.8, 1.5 * ratio))
        img = cv2.scaleAdd(cv2.subtract(ring, mf), a, img)
    if inst.fringe > 0 and proj is not None:
        # holographic ringing: damped cosine of the distance to the particle (native px)
        d = cv2.distanceTransform(cv2.threshold(mf, 0.5, 1, cv2.THRESH_BINARY_INV)[1].astype(np.uint8),
                                  cv2.DIST_L2, 3)
        period = inst.fringe_period_px * (0.85 + 0.35 * u[3])
        a = inst.fringe * (0.6 + 0.7 * u[4])
        lut = _fringe_lut(period, inst.fringe_decay_px, ratio, a)
        fr = cv2.LUT(cv2.convertScaleAbs(d, alpha=4.0), lut)
        img = cv2.scaleAdd(mf, -0.3 * a, cv2.add(img, fr))
    if sigma > 0.3:
        img = cv2.GaussianBlur(img, (0, 0), sigma)

    bg = inst.background[0] + (inst.background[1] - inst.background[0]) * u[5]
    field = bank.speckle if inst.speckle else bank.white
    noise = inst.noise[0] + (inst.noise[1] - inst.noise[0]) * u[6]
    if H <= bank.size and W <= bank.size:
        m = bank.size - max(H, W) + 1
        y, x = int(u[7] * m), int(u[8] * m)
        mottle = bank.mottle(inst.mottle)[y : y + H, x : x + W]
        y, x = int(u[9] * m), int(u[10] * m)
        grain = field[y : y + H, x : x + W]
    else:  # very large native ROIs (sheets only)
        mottle = cv2.resize(bank.mottle(inst.mottle), (W, H))
        grain = rng.standard_normal((H, W), dtype=np.float32)
    out = cv2.scaleAdd(grain, noise, cv2.multiply(img, mottle, scale=bg))
    if inst.rows[1] > 0:
        rs = (inst.rows[0] + (inst.rows[1] - inst.rows[0]) * u[11]) * (3.0 if g is None else 1.0)
        out += rs * bank.row(H, rng)[:, None]
    if inst.fringe > 0 and u[11] < 0.3:  # fringes of an out-of-plane neighbour
        out += _ring_pattern(H, W, rng) * (bg * 0.05)
    img8 = cv2.convertScaleAbs(np.maximum(out, 0.0, out=out))
    if out_px is not None and W != out_px:
        img8 = cv2.resize(img8, (out_px, out_px), interpolation=cv2.INTER_LINEAR)
    return img8, info


def _blank_smears(img: np.ndarray, rng: np.random.Generator) -> None:
    """Blank frame: faint dark horizontal smears (background-subtraction residue)."""
    H, W = img.shape
    for _ in range(int(rng.integers(0, 4))):
        c = (int(rng.uniform(0, W) * _ONE), int(rng.uniform(0, H) * _ONE))
        ax = (int(rng.uniform(0.1, 0.5) * W * _ONE), int(rng.uniform(0.02, 0.08) * H * _ONE) + _ONE)
        cv2.ellipse(img, c, ax, float(rng.normal(0, 4)), 0, 360, float(rng.uniform(0.6, 0.92)), -1, cv2.LINE_AA, SHIFT)


def _fringe_lut(period_px: float, decay_px: float, ratio: float, amp: float) -> np.ndarray:
    """Damped cosine fringe profile at quarter render pixels, as a (1, 256) float32 LUT."""
    d = np.arange(256, dtype=np.float32) / (4.0 * ratio)  # native px
    lut = amp * np.cos(d * (2 * np.pi / period_px)) * np.exp(-d / decay_px)
    return lut.astype(np.float32).reshape(1, 256)


def _ring_pattern(H: int, W: int, rng: np.random.Generator) -> np.ndarray:
    """Concentric Fresnel rings of an out-of-focus particle outside the ROI."""
    cy, cx = rng.uniform(-H, 2 * H), rng.uniform(-W, 2 * W)
    y = (np.arange(H, dtype=np.float32) - cy)[:, None]
    x = (np.arange(W, dtype=np.float32) - cx)[None, :]
    k = rng.uniform(0.002, 0.01) * 64.0 / max(H, W)
    return np.cos((x * x + y * y) * k).astype(np.float32)
