"""Orthographic projection of a :class:`~.geometry.Geometry` along -z (:func:`project`) and
its rasterisation with OpenCV in fixed point: transmittance painting (facets, edges, drops,
rime) and binary silhouettes; also the maximum Feret diameter of a point set."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from .geometry import Geometry

SHIFT = 4  # fixed-point bits for OpenCV drawing
_ONE = 1 << SHIFT


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
