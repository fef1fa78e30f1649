"""Compile ahead: tiny calls that push every public path through its kernels.

Numba compiles a kernel on its first call for each argument type and keeps
the machine code in its on-disk cache, so the first call of a path in a
fresh environment pays seconds.  :func:`warmup` makes those first calls
ahead, through the public functions (so that exactly the kernels a user's
call needs are compiled, with the same types), each on a small problem for
the serial kernels and on one above the thread threshold for the parallel
ones.  Importing this module registers the compile notice
(:mod:`numbaconv._compile_notice`).
"""
from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np

from . import _compile_notice
from ._backends import cpu_direct
from ._config import cpu_count

#: path name -> what it warms
PATHS = {
    "direct": "convolve/correlate with method='direct' (1-, 2- and 3-D)",
    "separable": "convolve/correlate with method='separable' (2-D rank-1 kernels)",
    "fft": "fftconvolve",
    "oa": "oaconvolve",
    "convolve2d": "convolve2d/correlate2d with boundary 'fill', 'wrap' and 'symm'",
    "nn": "numbaconv.nn: conv1d/2d/3d by 'direct', 'gemm' and 'fft', depthwise groups, "
          "conv_transpose1d/2d, and the gradients",
}

DEFAULT_DTYPES = ("float32", "float64")
DEFAULT_NDIMS = (1, 2, 3)

# (input shape, kernel shape) per rank: small enough for the serial kernels, and large
# enough for the parallel ones (above numbaconv._kernels.layout's thresholds)
_SIGNAL = {1: [((64,), (5,)), ((40_000,), (65,))],
           2: [((16, 16), (3, 3)), ((192, 192), (5, 5))],
           3: [((6, 6, 6), (2, 2, 2)), ((24, 24, 24), (3, 3, 3))]}
# the 2-D four-row kernel has an item of its own per width in cpu_direct.QUAD_WIDTHS and
# one shared by the other widths: one small call each (4 kernel rows, never square, and 96
# columns); square kernels have their own on some builds (cpu_direct.QUAD_SQUARES)
_QUAD_WIDTHS = (*cpu_direct.QUAD_WIDTHS, max(cpu_direct.QUAD_WIDTHS) + 2)
_SEPARABLE = [((32, 32), (5, 5)), ((384, 384), (9, 9))]
# (input, weight) of a layer per rank: (batch, channels, *size), (out, in, *kernel)
_LAYER = {1: [((1, 2, 24), (3, 2, 3)), ((4, 16, 4096), (16, 16, 3))],
          2: [((1, 2, 10, 10), (3, 2, 3, 3)), ((2, 16, 48, 48), (16, 16, 3, 3))],
          3: [((1, 2, 6, 6, 6), (2, 2, 2, 2, 2)), ((1, 8, 16, 16, 16), (8, 8, 3, 3, 3))]}
# (2-D: channel blocks for 16 planes of short rows, bands for wide ones; 1-D: flat runs)
_DEPTHWISE = {1: [((1, 4, 32), (4, 1, 3)), ((4, 64, 4096), (64, 1, 3))],
              2: [((1, 16, 12, 12), (16, 1, 3, 3)), ((2, 32, 64, 64), (32, 1, 3, 3))],
              3: [((1, 2, 6, 6, 6), (2, 1, 2, 2, 2)), ((1, 16, 24, 24, 24), (16, 1, 3, 3, 3))]}


def _sizes(table):
    """Return the small problem, and the large one where a second thread can run."""
    return table if cpu_count() > 1 else table[:1]


def _ones(shape, dtype):
    return np.ones(shape, dtype=dtype)


def _signal_steps(path, dtype, ndims):
    """``(label, call)`` pairs of the SciPy-like functions on ``path``."""
    from . import _api as numbaconv     # the public functions, under their public names
    steps = []
    if path == "direct":
        for n in ndims:
            for sa, sk in _sizes(_SIGNAL[n]):
                steps.append((f"convolve {n}-D {sa}", lambda sa=sa, sk=sk: numbaconv.convolve(
                    _ones(sa, dtype), _ones(sk, dtype), method="direct")))
        if 2 in ndims:
            for kh, kw in [(4, kw) for kw in _QUAD_WIDTHS] + [(k, k) for k in cpu_direct.QUAD_SQUARES]:
                steps.append((f"convolve 2-D (8, 96) * ({kh}, {kw})", lambda kh=kh, kw=kw: numbaconv.convolve(
                    _ones((8, 96), dtype), _ones((kh, kw), dtype), method="direct")))
    elif path == "separable" and 2 in ndims:
        for sa, sk in _sizes(_SEPARABLE):
            steps.append((f"convolve separable {sa}", lambda sa=sa, sk=sk: numbaconv.convolve(
                _ones(sa, dtype), _ones(sk, dtype), mode="same", method="separable")))
    elif path in ("fft", "oa"):
        fn = numbaconv.fftconvolve if path == "fft" else numbaconv.oaconvolve
        for n in ndims:
            for sa, sk in _sizes(_SIGNAL[n]):
                steps.append((f"{fn.__name__} {n}-D {sa}", lambda fn=fn, sa=sa, sk=sk: fn(
                    _ones(sa, dtype), _ones(sk, dtype))))
    elif path == "convolve2d" and 2 in ndims:
        for boundary in ("fill", "wrap", "symm"):
            for sa, sk in _sizes(_SIGNAL[2]):
                steps.append((f"convolve2d {boundary} {sa}",
                              lambda sa=sa, sk=sk, b=boundary: numbaconv.convolve2d(
                                  _ones(sa, dtype), _ones(sk, dtype), mode="same", boundary=b)))
    return steps


def _layer_steps(dtype, ndims):
    """``(label, call)`` pairs of :mod:`numbaconv.nn` (float dtypes only: torch's rule)."""
    if np.dtype(dtype).kind != "f":
        return []
    from . import nn
    steps = []
    for n in ndims:
        conv = getattr(nn, f"conv{n}d")
        for (sx, sw) in _sizes(_LAYER[n]):
            for method in ("direct", "gemm", "fft"):
                steps.append((f"nn.conv{n}d {method} {sx}",
                              lambda c=conv, sx=sx, sw=sw, m=method: c(
                                  _ones(sx, dtype), _ones(sw, dtype), padding=1, method=m)))
        for (sx, sw) in _sizes(_DEPTHWISE[n]):
            steps.append((f"nn.conv{n}d depthwise {sx}",
                          lambda c=conv, sx=sx, sw=sw: c(_ones(sx, dtype), _ones(sw, dtype),
                                                         groups=sx[1], method="direct")))
        if n == 3:
            continue
        transposed = getattr(nn, f"conv_transpose{n}d")
        grad_input = getattr(nn, f"conv{n}d_input")
        grad_weight = getattr(nn, f"conv{n}d_weight")
        for (sx, sw) in _sizes(_LAYER[n]):
            wt = (sw[1], sw[0]) + sw[2:]        # (in, out, *kernel)
            for method in ("direct", "gemm"):
                steps.append((f"nn.conv_transpose{n}d {method} {sx}",
                              lambda t=transposed, sx=sx, wt=wt, m=method: t(
                                  _ones(sx, dtype), _ones(wt, dtype), stride=2, method=m)))
            out = (sx[0], sw[0]) + tuple(s - k + 1 for s, k in zip(sx[2:], sw[2:]))
            steps.append((f"nn.conv{n}d_input {sx}", lambda g=grad_input, sx=sx, sw=sw, o=out: g(
                sx, _ones(sw, dtype), _ones(o, dtype))))
            steps.append((f"nn.conv{n}d_weight {sx}", lambda g=grad_weight, sx=sx, sw=sw, o=out: g(
                _ones(sx, dtype), sw, _ones(o, dtype))))
    return steps


def _check(dtypes, ndims, paths):
    """Normalised ``(dtypes, ndims, paths)``; the errors say what to change."""
    if isinstance(paths, str):
        paths = [paths]
    paths = list(PATHS) if paths is None else list(paths)
    unknown = [p for p in paths if p not in PATHS]
    if unknown:
        raise ValueError(f"unknown warmup path(s) {unknown}; valid paths are "
                         f"{', '.join(repr(p) for p in PATHS)}")
    if isinstance(dtypes, (str, type, np.dtype)):
        dtypes = [dtypes]
    out = []
    for d in dtypes:
        dt = np.dtype(d)
        if dt.kind not in "biufc":
            raise ValueError(f"warmup compiles numeric dtypes (bool, integer, float, complex); "
                             f"got {dt}")
        out.append(dt)
    if isinstance(ndims, int):
        ndims = [ndims]
    ndims = sorted(set(ndims))
    bad = [n for n in ndims if n not in DEFAULT_NDIMS]
    if bad or not ndims:
        raise ValueError(f"ndims must be among 1, 2 and 3; got {bad or 'none'}")
    if not paths or not out:
        raise ValueError("give at least one path and one dtype to warm up")
    return list(dict.fromkeys(out)), ndims, paths


def plan(dtypes=DEFAULT_DTYPES, ndims=DEFAULT_NDIMS, paths=None):
    """List the warmup's steps: ``[(path, dtype, label, call), ...]`` (nothing runs yet).

    Examples
    --------
    >>> from numbaconv._warmup import plan
    >>> [(p, str(d), label) for p, d, label, _ in plan("float64", 1, ["fft"])][:1]
    [('fft', 'float64', 'fftconvolve 1-D (64,)')]
    """
    dtypes, ndims, paths = _check(dtypes, ndims, paths)
    steps = []
    for path in paths:
        for dt in dtypes:
            found = _layer_steps(dt, ndims) if path == "nn" else _signal_steps(path, dt, ndims)
            steps += [(path, dt, label, call) for label, call in found]
    return steps


def warmup(dtypes=DEFAULT_DTYPES, ndims=DEFAULT_NDIMS, paths=None, *,
           progress: Callable | None = None) -> dict:
    """Compile numbaconv's kernels ahead, filling Numba's on-disk cache.

    Runs tiny calls of each public path, for each dtype and rank, so that
    the kernels they need are compiled now (seconds each, once per machine)
    instead of on a user's first call; later processes load them from
    Numba's cache.  Both the serial kernels (small problems) and the
    parallel ones (problems above the thread threshold, where more than one
    CPU is usable) are compiled.  ``numbaconv warmup`` runs it with a
    progress bar.

    Parameters
    ----------
    dtypes : dtype or sequence of dtypes, optional
        Anything :class:`numpy.dtype` accepts: bool, integer, float or
        complex (default float32 and float64).  The layers of ``'nn'`` are
        warmed for float dtypes only, as torch's are defined.
    ndims : int or sequence of int, optional
        Ranks among 1, 2 and 3 (default all); ``'separable'`` and
        ``'convolve2d'`` are 2-D only, the transposed layers and the
        gradients 1- and 2-D.
    paths : str or sequence of str, optional
        Among ``'direct'``, ``'separable'``, ``'fft'``, ``'oa'``,
        ``'convolve2d'`` and ``'nn'`` (default all; see
        ``numbaconv._warmup.PATHS``).
    progress : callable, optional
        Called as ``progress(done, total, label)`` after each call.

    Returns
    -------
    dict
        Per path: ``{"seconds": float, "compiled": bool, "kernels": int,
        "calls": int, "skipped": [str, ...]}`` -- ``kernels`` counts the
        numbaconv kernels compiled (0: all were in the cache already) and
        ``skipped`` the calls a path rejects for a dtype (e.g. integers on
        ``'separable'``), with the reason.

    Raises
    ------
    ValueError
        An unknown path (the message lists the valid ones), a rank outside
        1..3, or a non-numeric dtype.
    TypeError
        Something :class:`numpy.dtype` does not understand.

    Examples
    --------
    A cheap one (FFT paths compile little):

    >>> import numbaconv
    >>> summary = numbaconv.warmup(dtypes="float64", ndims=1, paths=["fft"])
    >>> sorted(summary["fft"])
    ['calls', 'compiled', 'kernels', 'seconds', 'skipped']
    >>> numbaconv.warmup(paths=["fast"])  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: unknown warmup path(s) ['fast']; valid paths are 'direct', 'separable', ...

    Everything, for float32 and float64 (minutes with an empty cache):

    >>> numbaconv.warmup()  # doctest: +SKIP
    """
    steps = plan(dtypes, ndims, paths)
    summary = {p: {"seconds": 0.0, "compiled": False, "kernels": 0, "calls": 0, "skipped": []}
               for p in dict.fromkeys(p for p, *_ in steps)}
    for done, (path, dt, label, call) in enumerate(steps, 1):
        row = summary[path]
        t0 = time.perf_counter()
        with _compile_notice.watch() as seen:
            try:
                call()
                row["calls"] += 1
            except (ValueError, TypeError, NotImplementedError) as exc:
                # the public path rejects this dtype or rank: there is nothing to compile
                row["skipped"].append(f"{label} {dt}: {exc}")
        row["seconds"] += time.perf_counter() - t0
        row["kernels"] += seen.kernels
        row["compiled"] = row["kernels"] > 0
        if progress is not None:
            progress(done, len(steps), f"{path}: {label} {dt}")
    return summary
