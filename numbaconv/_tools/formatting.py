"""The tools' one time formatter (and percentages), for tables and reports."""
from __future__ import annotations

import math


def seconds(t) -> str:
    """A duration in the unit that keeps three or four digits.

    ``None`` or a non-finite value shows as ``'-'``; a string (why a
    measurement was skipped) as ``'skip'``.

    Examples
    --------
    >>> from numbaconv._tools.formatting import seconds
    >>> [seconds(x) for x in (2.5e-8, 3.14159e-5, 0.0123, 4.0, None, "too slow")]
    ['25 ns', '31.4 µs', '12.30 ms', '4.00 s', '-', 'skip']
    """
    if isinstance(t, str):
        return "skip"
    if t is None or not math.isfinite(t):
        return "-"
    if t < 1e-6:
        return f"{t * 1e9:.0f} ns"
    if t < 1e-3:
        return f"{t * 1e6:.1f} \u00b5s"
    if t < 1:
        return f"{t * 1e3:.2f} ms"
    return f"{t:.2f} s"


def percent(x) -> str:
    """``x`` as a whole percentage, ``'-'`` for ``None``."""
    return "-" if x is None else f"{100 * x:.0f}%"
