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


def machine_line(env: dict, peak: dict | None, workers=None) -> str:
    """The line every benchmark table starts with: CPU model, ISA, cores and FMA peak.

    ``env`` is :func:`numbaconv._tools.machine.environment` (or the copy a
    JSON file kept), ``peak`` maps a dtype to GFLOP/s
    (:func:`numbaconv._tools.report.machine_peaks`).

    Examples
    --------
    >>> from numbaconv._tools.formatting import machine_line
    >>> machine_line({"cpu": "Xeon", "isa": "AVX2", "cpu_count": 2},
    ...              {"float32": 160.04, "float64": 80.0}, workers=2)
    'machine: Xeon, AVX2, 2 CPUs, 2 workers; FMA peak 160 GFLOP/s float32, 80.0 float64'
    >>> machine_line({"cpu": "Xeon", "isa": "AVX2"}, None)
    'machine: Xeon, AVX2; FMA peak not measured'
    """
    parts = [str(env.get("cpu", "unknown CPU")), str(env.get("isa", "unknown ISA"))]
    if env.get("cpu_count"):
        parts.append(f"{env['cpu_count']} CPUs")
    if workers:
        parts.append(f"{workers} workers")
    if peak:
        figs = [f"{_gflops(p)} {d}" for d, p in peak.items()]
        figs[0] = figs[0].replace(" ", " GFLOP/s ", 1)
        text = "FMA peak " + ", ".join(figs)
    else:
        text = "FMA peak not measured"
    return "machine: " + ", ".join(parts) + "; " + text


def _gflops(x) -> str:
    """Three significant figures, no exponent."""
    return f"{x:.0f}" if x >= 100 else f"{x:.1f}" if x >= 10 else f"{x:.2f}"
