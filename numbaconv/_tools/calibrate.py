"""Calibration of the cost model on this machine: it times and fits, nothing else.

:func:`calibrate` times each CPU backend on a small set of problems and
solves that backend's own ``cost()`` formula for the coefficient the
problem exercises (seconds per multiply-add of the direct kernel per type,
per ``N log N`` of the FFT, the fixed overheads, the rate of a copy, the
phase, short-row and kernel-row slow-downs, the parallel efficiency, the work from which
the four-row kernel takes threads); with a
CUDA GPU the steps of :mod:`numbaconv._tools.calibrate_cuda` fit the
``"cuda"`` section too.
The table's layout, its validation and the calibration file belong to
:mod:`numbaconv._coefficients`, which :func:`calibrate` hands the result to.
"""
from __future__ import annotations

import copy
import math

import numpy as np

from .. import _api
from .. import _coefficients as coef
from .._backends import REGISTRY, cpu_direct, cpu_fft, cpu_separable
from .._config import resolve_workers
from .._kernels import columns
from .._kernels.simd import VEC_BYTES, lanes
from .._problem import LayerProblem, build_problem
from .._timing import median_time
from . import calibrate_cuda
from .calibrate_cuda import FLOOR
from .grids import draw
from .machine import gpu_name


def _leaf(coeffs, path):
    """``(the table holding the coefficient at path, its key)``."""
    *parents, key = path
    table = coeffs
    for p in parents:
        table = table[p]
    return table, key


def solve(coeffs, path, predict, seconds, lo=0.0, hi=math.inf) -> float:
    """Set the coefficient at ``path`` so that ``predict()`` returns ``seconds``.

    ``predict`` is a backend's ``cost()`` of the timed problem, evaluated with
    ``coeffs`` in force; it must be affine in that coefficient (every
    coefficient the CPU formulas multiply is), so two evaluations give its
    intercept and slope.  The residual is floored at :data:`FLOOR` and the
    solution clipped to ``[lo, hi]``.

    Parameters
    ----------
    coeffs : dict
        The table in force (changed in place).
    path : tuple of str
        Keys down to the coefficient, e.g. ``("direct_mac", "f8")``.
    predict : callable
        ``predict() -> float``, predicted seconds.
    seconds : float
        The measured time.
    lo, hi : float, optional
        Bounds of the solution.

    Returns
    -------
    float
        The coefficient set.

    Examples
    --------
    >>> from numbaconv._tools.calibrate import solve
    >>> c = {"rate": 1.0, "fixed": 2.0}
    >>> solve(c, ("rate",), lambda: c["fixed"] + 10 * c["rate"], 7.0)
    0.5
    """
    table, key = _leaf(coeffs, path)
    base = fixed_part(coeffs, path, predict)
    table[key] = 1.0
    slope = predict() - base
    value = max(seconds - base, FLOOR) / slope if slope > 0 else hi
    table[key] = float(min(max(value, lo), hi))
    return table[key]


def cpu_steps(quick: bool = False) -> list:
    """The CPU's calibration steps: ``(label, step(coeffs, rng))`` pairs, in order.

    Each step times one problem and fits one coefficient (or one per type)
    through the backend's own cost formula; the overheads and the parallel
    efficiency come first, as the later fits rest on them.
    """
    workers = resolve_workers(None)
    scale = 0.25 if quick else 1.0
    n1 = int(2 ** 18 * scale)
    side = int(512 * math.sqrt(scale))

    def fit(c, path, backend, a, b, mode, method, lo=0.0, hi=math.inf, repeat=5):
        """Time one problem, solve ``backend.cost`` for the coefficient at ``path``;
        return ``(problem, seconds)`` for a later refit."""
        t = median_time(lambda: _api.convolve(a, b, mode, method=method), repeat=repeat)
        problem = build_problem(a.shape, b.shape, mode, np.result_type(a, b))
        solve(c, path, lambda: backend.cost(problem, workers), t, lo, hi)
        return problem, t

    long_rows = {}          # "f4" / "f8" -> (problem, seconds) of its direct_mac fit

    def overheads(c, rng):
        a, b = np.ones(16), np.ones(3)
        fit(c, ("direct_overhead",), cpu_direct, a, b, "full", "direct")
        fit(c, ("fft_overhead",), cpu_fft, a, b, "full", "fft")

    def parallel(c, rng):
        if workers == 1:
            c["parallel_efficiency"] = 1.0
            return
        a, b = rng.standard_normal(4 * n1), rng.standard_normal(64)
        ratios = []
        for _ in range(5):   # interleaved pairs: a noisy moment spoils one pair, not the fit
            t1 = median_time(lambda: _api.convolve(a, b, "valid", method="direct", workers=1),
                             repeat=3)
            tn = median_time(lambda: _api.convolve(a, b, "valid", method="direct",
                                                   workers=workers), repeat=3)
            ratios.append(t1 / tn)
        c["parallel_efficiency"] = float(np.clip((np.median(ratios) - 1) / (workers - 1),
                                                 0.05, 1.0))

    def passes(c, rng):
        # one thread streaming a few MiB in and out (np.copyto), the rate every copy and
        # padding pass is priced at; a fixed 2.5e-10 was 10-25x a Zen 5 core's
        a = rng.standard_normal(int(2 ** 19 * scale))
        b = np.empty_like(a)
        t = median_time(lambda: np.copyto(b, a), repeat=9)
        c["pass_byte"] = float(max(t, FLOOR) / (2 * a.nbytes))

    def direct_mac(key, dtype):
        def step(c, rng):
            timed = fit(c, ("direct_mac", key), cpu_direct, draw(rng, n1, dtype),
                        draw(rng, 64, dtype), "valid", "direct")
            if key in ("f4", "f8"):     # the rates the phase slow-down applies to
                long_rows[key] = timed
        return step

    # short rows and extra kernel rows are priced where the four-row kernel does not run:
    # signals, and kernels of one or two rows
    def short_rows(c, rng):
        a, b = rng.standard_normal(side * side), rng.standard_normal(3)
        fit(c, ("direct_short",), cpu_direct, a, b, "same", "direct", lo=1.0, hi=50.0)

    def row_phases(c, rng):
        # rows of one vector of taps share no input load (cpu_direct's phase slow-down at
        # its largest); the mean of float32 and float64.  The 64-tap rows of the long-row
        # rates pay a little of it too, so the two are solved again in turn from their times
        short = [fit(c, ("direct_phase",), cpu_direct, draw(rng, n1, dtype),
                     draw(rng, lanes(dtype, VEC_BYTES), dtype), "valid", "direct")
                 for dtype in (np.float32, np.float64)]
        for _ in range(4):
            fits = [solve(c, ("direct_phase",), lambda p=p: cpu_direct.cost(p, workers), t,
                          0.0, 20.0) for p, t in short]
            c["direct_phase"] = float(np.mean(fits))
            for key, (p, t) in long_rows.items():
                solve(c, ("direct_mac", key), lambda p=p: cpu_direct.cost(p, workers), t)

    def kernel_rows(c, rng):
        a, b = rng.standard_normal((side, side)), rng.standard_normal((2, 31))
        fit(c, ("direct_kernel_row",), cpu_direct, a, b, "valid", "direct", lo=1e-4, hi=1.0,
            repeat=3)

    def quad_rows(c, rng):
        # medians of four and six fits (two and four in a quick run): the slow-down's
        # 1 / kw form is 0.73-1.54x the four-row kernel's from 3x3 to 31x31, and float32
        # and float64 differ; the widths compiled as constants (cpu_direct.QUAD_WIDTHS, on
        # kernels two rows taller) and the squares with items of their own
        # (cpu_direct.QUAD_SQUARES, where the build takes them) have their own
        own = cpu_direct.QUAD_WIDTHS
        squares = cpu_direct.QUAD_SQUARES if cpu_direct.SQUARE_ITEMS else ()
        for key, shapes in (("direct_quad", [(k, k) for k in ((15,) if quick else (9, 15))]),
                            ("direct_quad_unrolled",
                             [(k + 2, k) for k in ((own[0], own[-1]) if quick else own)]),
                            ("direct_quad_square", [(k, k) for k in squares])):
            fits = []
            for shape in shapes:
                for dtype in (np.float32, np.float64):
                    a = rng.standard_normal((side, side)).astype(dtype)
                    b = rng.standard_normal(shape).astype(dtype)
                    fit(c, (key,), cpu_direct, a, b, "same", "direct", lo=0.0, hi=200.0)
                    fits.append(c[key])
            if fits:
                c[key] = float(np.median(fits))

    def quad_threads(c, rng):
        # the four-row kernel on one thread and on all, interleaved, on 3x3 'same' images
        # of growing sides: threads pay from the first side where they won, as they did at
        # every larger side but one (a noisy moment on a shared host); the larger of
        # float32's and float64's answer
        if workers == 1:
            return
        # a quick run times five sides, fewer and shorter rounds: under half a second
        sides = (96, 128, 192, 256, 384) if quick else (64, 96, 128, 160, 192, 256, 320, 384)
        floors = []
        for dtype in (np.float32, np.float64):
            work = [s * s * 9 * np.dtype(dtype).itemsize for s in sides]
            wins = [_threads_win(rng.standard_normal((s, s)).astype(dtype),
                                 rng.standard_normal((3, 3)).astype(dtype), workers, quick)
                    for s in sides]
            first = next((i for i, won in enumerate(wins)
                          if won and wins[i + 1:].count(False) <= 1), None)
            if first is None:
                floors.append(work[-1] * 2)
            elif first == 0:
                floors.append(work[0] / 2)
            else:
                floors.append(math.sqrt(work[first - 1] * work[first]))
        c["direct_quad_parallel"] = float(max(floors))

    def separable(c, rng):
        # Gaussians of 7 and 9 taps (7 in a quick run), where the separable path starts to
        # beat the direct one
        fits = []
        for kh in (7,) if quick else (7, 9):
            g = np.exp(-0.5 * ((np.arange(kh) - kh // 2) / (kh / 6)) ** 2)
            for dtype in (np.float32, np.float64):
                a = rng.standard_normal((side, side)).astype(dtype)
                fit(c, ("separable_slowdown",), cpu_separable, a, np.outer(g, g).astype(dtype),
                    "same", "separable", lo=0.2, hi=20.0)
                fits.append(c["separable_slowdown"])
        c["separable_slowdown"] = float(np.median(fits))

    def fft_nlogn(key, dtype):
        def step(c, rng):
            a = draw(rng, n1, dtype)
            fit(c, ("fft_nlogn", key), cpu_fft, a, a[: n1 // 2], "full", "fft")
        return step

    steps = [("overheads", overheads), ("memory passes", passes),
             ("parallel efficiency", parallel)]
    steps += [(f"direct {key}", direct_mac(key, dt)) for key, dt in
              (("f4", np.float32), ("f8", np.float64), ("c8", np.complex64),
               ("c16", np.complex128), ("i8", np.int64))]
    steps += [("row phases", row_phases), ("short rows", short_rows),
              ("kernel rows", kernel_rows), ("four-row steps", quad_rows),
              ("four-row threads", quad_threads),
              ("separable passes", separable)]
    steps += [(f"fft {key}", fft_nlogn(key, dt)) for key, dt in
              (("f4", np.float32), ("f8", np.float64), ("c8", np.complex64),
               ("c16", np.complex128))]
    return steps + layer_steps(quick)


def _threads_win(a, k, workers, quick) -> bool:
    """Whether the direct backend correlates ``a`` with ``k`` ('same') faster on ``workers``
    threads than on one: medians of interleaved rounds of the callable a memoised call
    runs (:func:`cpu_direct.prepare`, its layout decided once), prepared with the
    four-row threshold in force set to 0 (threads) or infinity (one thread), then put
    back."""
    table = coef.coefficients()
    kept = table["direct_quad_parallel"]
    problem = build_problem(a.shape, k.shape, "same", a.dtype)
    out = np.empty_like(a)
    repeat, min_time = (3, 1e-3) if quick else (5, 2e-3)

    def timed(floor):
        table["direct_quad_parallel"] = floor
        call = cpu_direct.prepare(problem, workers=workers)
        return median_time(lambda: call(a, k, out), repeat=repeat, min_time=min_time)

    try:
        ratios = [timed(0.0) / timed(math.inf) for _ in range(3 if quick else 5)]
    finally:
        table["direct_quad_parallel"] = kept
    return float(np.median(ratios)) < 1.0


#: the layers each layer coefficient is fitted on: (coefficient, backend,
#: N, C_in, C_out, groups, size, kernel), 2-D, padding keeping the size
LAYER_FITS = (
    ("direct_mac", "cpu_layer_direct", 4, 32, 48, 1, 40, 3),
    ("gemm_mac", "cpu_layer_gemm", 4, 64, 64, 1, 32, 3),
    ("depthwise_mac", "cpu_layer_depthwise", 4, 64, 64, 64, 56, 3),
    ("fft_cmac", "cpu_layer_fft", 2, 8, 8, 1, 96, 31),
)


#: a layer's rate is fitted only where the rest of its cost formula (copies, transforms,
#: the fixed overhead) leaves at least this share of the measured time to it.  On a 2-core
#: Zen 4 VM those parts came to 72-115% of the depthwise, FFT and im2col layers' times
#: (shipped table, a second process loading the machine), and in three full calibrations
#: the rates solved from the remainder fell to the 1e-14 floor 6 times of 6 (depthwise),
#: 2 of 6 (FFT) and 1 of 6 (im2col), pricing those layers at their copies alone
RATE_SHARE_MIN = 0.2


def fixed_part(coeffs, path, predict) -> float:
    """``predict()`` with the coefficient at ``path`` set to 0 (then restored): the
    seconds a cost formula predicts without the term that coefficient multiplies."""
    table, key = _leaf(coeffs, path)
    kept = table[key]
    table[key] = 0.0
    try:
        return predict()
    finally:
        table[key] = kept


def layer_steps(quick: bool = False) -> list:
    """The steps of :mod:`numbaconv.nn`'s coefficients: one layer per backend and type.

    Each times the backend's ``run()`` on a padded input (as the layer functions
    call it) and solves its ``cost()`` for its rate, where the rate's term is at least
    :data:`RATE_SHARE_MIN` of the time (else the rate in force stays); an absent backend
    is skipped.
    """
    workers = resolve_workers(None)
    shrink = 2 if quick else 1

    def step(key, name, batch, cin, cout, groups, size, kernel, tkey, dtype):
        def fit(c, rng):
            backend = REGISTRY[name]
            side = max(size // shrink, kernel)
            pad = kernel // 2
            xp = rng.standard_normal((batch, cin, side + 2 * pad, side + 2 * pad)).astype(dtype)
            w = rng.standard_normal((cout, cin // groups, kernel, kernel)).astype(dtype)
            problem = LayerProblem(batch, cin, cout, groups, xp.shape[2:], (kernel, kernel),
                                   (1, 1), (1, 1), (side, side), np.dtype(dtype))
            if not backend.supports(problem):
                return
            if name == "cpu_layer_gemm" and tkey == "f4":
                # the im2col gather alone first: the rate of the bytes its cost charges
                k2 = (kernel, kernel)
                tc = median_time(lambda: columns.columns(xp, k2, (1, 1), (1, 1), groups),
                                 repeat=5)
                gathered = batch * side * side * cin * kernel * kernel * xp.itemsize
                c["layer"]["column_byte"] = float(max(tc, FLOOR) / gathered)
            t = median_time(lambda: backend.run(problem, xp, w, workers=workers), repeat=5)
            path = ("layer", key, tkey)
            predict = lambda: backend.cost(problem, workers)      # noqa: E731
            if t - fixed_part(c, path, predict) < RATE_SHARE_MIN * t:
                return      # the rate is not what this layer's time measures: keep the table's
            solve(c, path, predict, t, lo=1e-14, hi=1e-6)
        return fit

    return [(f"layer {fit[0]} {tkey}", step(*fit, tkey, dt)) for fit in LAYER_FITS
            if fit[1] in REGISTRY
            for tkey, dt in (("f4", np.float32), ("f8", np.float64))]


def calibrate(*, quick: bool = False, save: bool = True, progress=None) -> dict:
    """Fit the cost model of the dispatcher on this machine; see :func:`numbaconv.calibrate`."""
    coeffs = copy.deepcopy(coef.DEFAULTS)
    steps = cpu_steps(quick)
    if calibrate_cuda.enabled():
        coeffs["cuda"]["device"] = gpu_name()
        steps += calibrate_cuda.steps(quick)
    rng = np.random.default_rng(12345)
    old = coef.coefficients()
    try:
        coef.set_coefficients(coeffs)     # each fit reads the coefficients fitted before it
        for i, (label, step) in enumerate(steps):
            step(coeffs, rng)
            if progress is not None:
                progress(i + 1, len(steps), label)
    finally:
        coef.set_coefficients(old)
    coef.validate(coeffs)
    if save:
        coef.save(coeffs)
    coef.set_coefficients(coeffs, source=f"calibrated on this machine, {coef.today()}"
                          + ("" if save else " (not saved)"))
    return coeffs
