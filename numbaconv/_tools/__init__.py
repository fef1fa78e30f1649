"""The tools tier: benchmarks, calibration and their shared harness.

These modules import the library; nothing in the library imports them
(``numbaconv.calibrate`` and the CLI are the entry points).
"""
