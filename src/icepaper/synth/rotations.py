"""Rotation matrices: uniformly random 3-D rotations (from a normalised Gaussian quaternion)
and the helpers that point a crystal axis (z onto a direction, spin about z)."""

from __future__ import annotations

import numpy as np


def random_rotation(rng: np.random.Generator, divide: bool = False) -> np.ndarray:
    """Uniformly random 3-D rotation matrix (from a normalised Gaussian quaternion).

    Draws four normals from ``rng``. ``divide`` picks how the quaternion is normalised:
    ``False`` (the particle generator) multiplies by ``1 / sqrt(|q|^2)`` in Python floats,
    ``True`` (the rosette meshes) divides by ``np.linalg.norm(q)``. The two differ by at
    most a few 1e-15 in about 60 % of draws, so each keeps its own for identical numbers.

    >>> R = random_rotation(np.random.default_rng(0))
    >>> bool(np.allclose(R @ R.T, np.eye(3))), round(float(np.linalg.det(R)), 12)
    (True, 1.0)
    >>> S = random_rotation(np.random.default_rng(0), divide=True)
    >>> bool(np.allclose(R, S, rtol=0, atol=1e-14))
    True
    """
    if divide:
        q = rng.normal(size=4)
        w, x, y, z = q / np.linalg.norm(q)
    else:
        w, x, y, z = rng.normal(size=4).tolist()
        n = 1.0 / (w * w + x * x + y * y + z * z) ** 0.5
        w, x, y, z = w * n, x * n, y * n, z * n
    return np.array(
        [
            [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
            [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
            [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
        ]
    )


def _rot_z_to(d: np.ndarray) -> np.ndarray:
    """Rotation taking the z axis onto unit vector d."""
    dx, dy, c = (float(x) for x in d)
    v0, v1 = -dy, dx  # z x d = (-dy, dx, 0)
    if v0 * v0 + v1 * v1 < 1e-18:
        return np.eye(3) if c > 0 else np.diag([1.0, -1.0, -1.0])
    vx = np.array([[0.0, 0.0, v1], [0.0, 0.0, -v0], [-v1, v0, 0.0]])
    return np.eye(3) + vx + vx @ vx / (1 + c)


def _rot_z(angle: float) -> np.ndarray:
    c, s = np.cos(angle), np.sin(angle)
    return np.array([[c, -s, 0], [s, c, 0], [0, 0, 1.0]])
