"""Orthographic silhouettes of bullet rosettes at a fixed um per pixel (Ko 2024).

A view is a rotation ``R`` of the rosette followed by an orthographic projection onto the
image plane (x right, y down; the probe looks along +z). Second views rotate the rosette by
``theta`` about the image's vertical axis after ``R``, so the two viewing directions are
``theta`` apart: 90 deg for 2D-S-like probes, 120 deg for PHIPS-like ones.

Rendering needs no mesh rasteriser: every piece of a rosette is convex (the sphere and each
bullet), so its silhouette is the 2-D convex hull of its projected vertices, filled with
``cv2.fillConvexPoly`` (anti-aliased, 1/16-pixel vertex precision); the sphere is a disc.
The union of the pieces' silhouettes is the rosette's silhouette. Images are uint8, dark
particle (40) on a bright background (230), like the probes' images. Every view of one
rosette is centred on the projection of the rosette's centre, so all views share one scale
and a rosette never leaves the frame when ``pixel_um >= default_pixel_um(size)``.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from .meshes import Rosette, max_radius_um

BACKGROUND = 230
PARTICLE = 40
_SHIFT = 4  # fixed-point bits for sub-pixel vertices


def default_pixel_um(image_size: int, n_range: tuple[int, int] = (4, 10)) -> float:
    """The um per pixel at which the largest possible rosette still fits (1 px margin).

    >>> round(default_pixel_um(64), 2)
    18.18
    """
    return fit_pixel_um(max_radius_um(n_range), image_size)


def fit_pixel_um(radius_um: float, image_size: int) -> float:
    """The um per pixel at which a particle of ``radius_um`` around the centre fits (1 px margin).

    >>> fit_pixel_um(31.0, 64)  # a 62 um wide particle in 62 of 64 pixels
    1.0
    """
    if image_size < 4:
        raise ValueError(f"image_size must be at least 4 px, got {image_size}")
    return 2 * float(radius_um) / (image_size - 2)


def rotation_about_y(theta_deg: float) -> np.ndarray:
    """Rotation by ``theta_deg`` about the image's vertical (y) axis.

    >>> (rotation_about_y(90.0) @ [0.0, 0.0, 1.0]).round(6).tolist()
    [1.0, 0.0, 0.0]
    """
    t = math.radians(theta_deg)
    return np.array([[math.cos(t), 0, math.sin(t)], [0, 1, 0], [-math.sin(t), 0, math.cos(t)]])


def view_rotations(R: np.ndarray, angles_deg=(0.0, 90.0, 120.0)) -> list[np.ndarray]:
    """The rotation of each view: the first ``R``, the others ``theta`` apart from it.

    >>> [float(Rv.round(3)[0, 2]) for Rv in view_rotations(np.eye(3), (0.0, 90.0))]
    [0.0, 1.0]
    """
    return [rotation_about_y(a) @ R for a in angles_deg]


def render_silhouette(rosette: Rosette, R: np.ndarray, image_size: int, pixel_um: float,
                      supersample: int = 1) -> np.ndarray:
    """Silhouette (S, S) uint8 of ``rosette`` rotated by ``R`` at ``pixel_um`` um per pixel."""
    s = int(image_size) * supersample
    scale = (1 << _SHIFT) * supersample / pixel_um
    centre = (s / 2 - 0.5 * supersample) * (1 << _SHIFT)
    mask = np.zeros((s, s), np.uint8)
    r = rosette.r0 * scale
    cv2.circle(mask, (int(round(centre)), int(round(centre))), max(int(round(r)), 1), 255,
               -1, cv2.LINE_AA, _SHIFT)
    for v in rosette.bullet_vertices():
        p = (v @ R.T)[:, :2] * scale + centre
        hull = cv2.convexHull(np.round(p).astype(np.int32))
        cv2.fillConvexPoly(mask, hull, 255, cv2.LINE_AA, _SHIFT)
    if supersample > 1:
        mask = cv2.resize(mask, (image_size, image_size), interpolation=cv2.INTER_AREA)
    img = BACKGROUND - (BACKGROUND - PARTICLE) * (mask.astype(np.float32) / 255.0)
    return np.round(img).astype(np.uint8)


def render_views(rosette: Rosette, R: np.ndarray, image_size: int, pixel_um: float,
                 angles_deg=(0.0, 90.0, 120.0)) -> np.ndarray:
    """Views (len(angles), S, S) uint8 of one rosette, the first along ``R``.

    >>> from .meshes import Rosette
    >>> ros = Rosette(r0=10.0, h0=5.0, hp=8.0, directions=[[1, 0, 0], [-1, 0, 0]], a=4.0, c=6.0)
    >>> views = render_views(ros, np.eye(3), image_size=32, pixel_um=2.0, angles_deg=(0.0, 90.0))
    >>> views.shape, views.dtype, int(views.max()), int(views.min())
    ((2, 32, 32), dtype('uint8'), 230, 40)
    >>> bool((views[0] < 135).sum() > (views[1] < 135).sum())  # seen end-on, the arms hide
    True
    """
    return np.stack([render_silhouette(rosette, Rv, image_size, pixel_um)
                     for Rv in view_rotations(R, angles_deg)])


def projected_extent_um(rosette: Rosette, R: np.ndarray) -> tuple[float, float]:
    """Width and height (um) of the exact projection's bounding box (for scale checks).

    >>> from .meshes import Rosette
    >>> ros = Rosette(r0=10.0, h0=5.0, hp=8.0, directions=[[1, 0, 0], [-1, 0, 0]], a=4.0, c=6.0)
    >>> [round(v, 3) for v in projected_extent_um(ros, np.eye(3))]  # 2 x 25 long, 2 a wide
    [50.0, 20.0]
    """
    pts = np.vstack(rosette.bullet_vertices()) @ R.T
    xs = np.concatenate([pts[:, 0], [-rosette.r0, rosette.r0]])
    ys = np.concatenate([pts[:, 1], [-rosette.r0, rosette.r0]])
    return float(xs.max() - xs.min()), float(ys.max() - ys.min())
