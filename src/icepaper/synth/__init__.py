"""Synthetic CPI-like, holographic-imager-like and optical-array-probe ice-particle datasets
(3-D geometry, physics, imaging)."""

GENERATOR_VERSION = "2"  # bump when generated images or metadata change
OAP_VERSION = "1"  # bump when the OAP imaging model (oap.py) or its dataset changes
