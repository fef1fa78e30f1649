"""The one timing harness: medians of calls, each sample long enough for the clock.

The library uses it for ``choose_conv_method(measure=True)``; the tools
(``numbaconv._tools.timing``: benchmarks, calibration) build on these
primitives.
"""
from __future__ import annotations

import statistics
import time


def sample(fn, number: int) -> float:
    """Seconds per call of ``fn`` over ``number`` back-to-back calls."""
    t0 = time.perf_counter()
    for _ in range(number):
        fn()
    return (time.perf_counter() - t0) / number


def batch(fn, min_time: float = 0.02, max_calls: int = 1 << 12):
    """Size a batch: ``(number, seconds per call)`` of back-to-back calls of ``fn``.

    ``number`` is the smallest power of two of calls that lasts ``min_time``
    (at most ``max_calls``) at the fastest rate any of the doubling samples
    measured, which is the seconds per call returned: one sample slowed by a
    busy machine must not end the doubling early and shrink every later sample.
    """
    number, per_call = 1, float("inf")
    while True:
        per_call = min(per_call, sample(fn, number))
        if per_call * number >= min_time or number >= max_calls:
            return number, per_call
        number *= 2


def calls_per_sample(fn, min_time: float = 0.02, max_calls: int = 1 << 12) -> int:
    """How many back-to-back calls of ``fn`` take at least ``min_time`` seconds (doubling)."""
    return batch(fn, min_time, max_calls)[0]


def median_time(fn, repeat: int = 5, min_time: float = 0.02) -> float:
    """Median seconds per call of ``fn`` over ``repeat`` samples, after a warm-up call.

    Examples
    --------
    >>> from numbaconv._timing import median_time
    >>> median_time(lambda: sum(range(100)), repeat=3, min_time=1e-4) > 0
    True
    """
    fn()
    number = calls_per_sample(fn, min_time)
    return statistics.median(sample(fn, number) for _ in range(repeat))
