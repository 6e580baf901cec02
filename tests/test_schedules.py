"""The shared schedules (icepaper.ssl.schedules) reproduce the formulas they replaced exactly."""

from __future__ import annotations

import math

import numpy as np

from icepaper.ssl.schedules import warmup_cosine, warmup_cosine_factor
from icepaper.synth.rotations import random_rotation


def _cssl_heads_warmup_cosine(step, total, base_lr, warmup, start_lr=1e-5):  # cssl/heads.py before the move
    if step < warmup:
        return start_lr + (base_lr - start_lr) * step / max(1, warmup)
    t = (step - warmup) / max(1, total - warmup)
    return 0.5 * base_lr * (1.0 + math.cos(math.pi * min(1.0, t)))


def _rosettes_warmup_cosine(total_steps, warmup_frac=0.2):  # rosettes/shape_models.py before the move
    warm = max(1, int(round(warmup_frac * total_steps)))

    def factor(step):
        if step < warm:
            return (step + 1) / warm
        t = (step - warm) / max(1, total_steps - warm)
        return 0.5 * (1 + math.cos(math.pi * min(t, 1.0)))

    return factor


def test_warmup_cosine_equals_the_cssl_formula_bit_for_bit():
    for total in (1, 2, 7, 100, 1000):
        for warmup in (0, 1, 3, 10, 150):
            for base in (1e-3, 0.1, 0.37):
                for start in (1e-5, 0.0):
                    for step in range(0, total + 3):
                        assert warmup_cosine(step, total, base, warmup, start) == \
                            _cssl_heads_warmup_cosine(step, total, base, warmup, start)


def test_warmup_cosine_factor_equals_the_rosettes_formula_bit_for_bit():
    for total in (1, 2, 3, 10, 97, 1000):
        for frac in (0.0, 0.1, 0.2, 0.5):
            new, old = warmup_cosine_factor(total, frac), _rosettes_warmup_cosine(total, frac)
            for step in range(0, total + 3):
                assert new(step) == old(step)


def _rosettes_random_rotation(rng):  # rosettes/meshes.py before the move
    q = rng.normal(size=4)
    w, x, y, z = q / np.linalg.norm(q)
    return np.array([
        [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
        [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
        [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
    ])


def test_rotation_sampler_keeps_the_rosettes_numbers():
    from icepaper.rosettes.meshes import random_rotation as rosette_rotation

    a, b = np.random.default_rng(3), np.random.default_rng(3)
    for _ in range(2000):
        assert np.array_equal(rosette_rotation(a), _rosettes_random_rotation(b))
    a, b = np.random.default_rng(4), np.random.default_rng(4)
    same = [np.array_equal(random_rotation(a), _rosettes_random_rotation(b)) for _ in range(2000)]
    assert not all(same)  # why the generator keeps its own normalisation (divide=False)
