"""Synthetic CPI-like and holographic-imager-like ice-particle dataset (3-D geometry, physics, imaging)."""

GENERATOR_VERSION = "2"  # bump when generated images or metadata change
