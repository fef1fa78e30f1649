"""Calibration of the cost model on this machine.

:func:`calibrate` times each CPU backend on a small grid of problems, fits
the coefficients of :mod:`numbaconv._costs` (seconds per multiply-add of the
direct kernel by type, per ``N log N`` of the FFT, the fixed overheads, the
short-row penalty and the parallel efficiency) and stores them as JSON in the
user cache directory.  The file carries a format version and the machine it
was measured on; a corrupt file or one from another version or machine is
ignored with a warning, never trusted.

With a CUDA GPU the steps of :mod:`numbaconv._calibrate_cuda` are appended:
they fit the GPU backends' ``COSTS``, which are stored in the same file
under ``coefficients["cuda"]``, validated alike and put back in force by
:func:`load`.
"""
from __future__ import annotations

import copy
import json
import math
import os
import platform
import time
import warnings

import numpy as np

#: version of the coefficient set (5: ``direct_stream`` for every rank); part of the file's name
FORMAT = 5


def cache_path() -> str:
    """Where calibrated coefficients live (``$NUMBACONV_CACHE_DIR`` overrides)."""
    base = os.environ.get("NUMBACONV_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"),
        "numbaconv")
    return os.path.join(base, f"costs-v{FORMAT}.json")


def _machine() -> dict:
    import numba
    return {"cpu": platform.processor() or platform.machine(), "cpus": os.cpu_count(),
            "numba": numba.__version__, "numbaconv_format": FORMAT}


def load():
    """Calibrated coefficients for this machine, or None (with a warning if unusable)."""
    path = cache_path()
    if not os.path.exists(path):
        return None
    try:
        with open(path) as f:
            data = json.load(f)
        if data.get("format") != FORMAT or data.get("machine") != _machine():
            warnings.warn(f"ignoring numbaconv calibration {path}: made for another version or "
                          "machine; run numbaconv.calibrate() again", RuntimeWarning, stacklevel=3)
            return None
        coeffs = data["coefficients"]
        _validate(coeffs)
        _apply_cuda(coeffs)
        return coeffs
    except (OSError, ValueError, KeyError, TypeError) as exc:
        warnings.warn(f"ignoring corrupt numbaconv calibration {path}: {exc}", RuntimeWarning,
                      stacklevel=3)
        return None


def _validate(c):
    from ._costs import DEFAULTS
    for key, val in DEFAULTS.items():
        got = c[key]
        if isinstance(val, dict):
            for sub in val:
                x = float(got[sub])
                if not (math.isfinite(x) and x > 0):
                    raise ValueError(f"{key}[{sub}] = {x!r}")
        else:
            x = float(got)
            if not (math.isfinite(x) and x > 0):
                raise ValueError(f"{key} = {x!r}")
    if "cuda" in c:
        from ._calibrate_cuda import validate
        validate(c["cuda"])


def _cuda_tasks(coeffs, quick):
    """The GPU's calibration steps, with their section in ``coeffs``; none without a GPU."""
    from . import _calibrate_cuda
    if not _calibrate_cuda.enabled():
        return []
    coeffs["cuda"] = _calibrate_cuda.defaults()
    return _calibrate_cuda.tasks(quick)


def _apply_cuda(coeffs):
    """Put a validated GPU section (if any) in force in the GPU backends' ``COSTS``."""
    if "cuda" in coeffs:
        from ._calibrate_cuda import apply
        apply(coeffs["cuda"])


def _median_time(fn, repeat=5, min_time=0.02):
    fn()
    number = 1
    while True:
        t0 = time.perf_counter()
        for _ in range(number):
            fn()
        dt = time.perf_counter() - t0
        if dt >= min_time or number >= 1 << 12:
            break
        number *= 2
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        for _ in range(number):
            fn()
        times.append((time.perf_counter() - t0) / number)
    return float(np.median(times))


def _tasks(quick):
    """(label, function(coeffs, rng)) pairs; each sets some coefficients."""
    from . import _api, _costs
    from ._config import resolve_workers
    workers = resolve_workers(None)
    scale = 0.25 if quick else 1.0
    n1 = int(2 ** 18 * scale)

    def direct_mac(key, dtype):
        def task(c, rng):
            a = rng.standard_normal(n1).astype(dtype)
            b = rng.standard_normal(64).astype(dtype)
            if np.dtype(dtype).kind == "c":
                a = a + 1j * a
                b = b + 1j * b
            if key == "i8":
                a = rng.integers(-100, 100, n1)
                b = rng.integers(-100, 100, 64)
            t = _median_time(lambda: _api.convolve(a, b, "valid", method="direct"))
            threads = 1 + (workers - 1) * c["parallel_efficiency"]
            per = max(t - c["direct_overhead"], 1e-9) * threads / ((n1 - 63) * 64)
            c["direct_mac"][key] = per / _costs._phase(c, key, 64)   # the long-row rate
        return task

    def fft_nlogn(key, dtype):
        def task(c, rng):
            a = rng.standard_normal(n1).astype(dtype)
            if np.dtype(dtype).kind == "c":
                a = a + 1j * a
            b = a[: n1 // 2]
            t = _median_time(lambda: _api.convolve(a, b, "full", method="fft"))
            fl = 3 * 1.5 * n1 * math.log2(1.5 * n1)
            # one 1-D transform: pocketfft runs it on one thread (see _costs.fft_cost)
            c["fft_nlogn"][key] = max(t - c["fft_overhead"], 1e-9) / fl
        return task

    def overheads(c, rng):
        a, b = np.ones(16), np.ones(3)
        c["direct_overhead"] = _median_time(lambda: _api.convolve(a, b, method="direct"))
        c["fft_overhead"] = _median_time(lambda: _api.convolve(a, b, method="fft"))

    def parallel(c, rng):
        if workers == 1:
            c["parallel_efficiency"] = 1.0
            return
        a = rng.standard_normal(4 * n1)
        b = rng.standard_normal(64)
        ratios = []
        for _ in range(5):   # interleaved pairs: a noisy moment spoils one pair, not the fit
            t1 = _median_time(lambda: _api.convolve(a, b, "valid", method="direct", workers=1),
                              repeat=3)
            tn = _median_time(lambda: _api.convolve(a, b, "valid", method="direct",
                                                    workers=workers), repeat=3)
            ratios.append(t1 / tn)
        c["parallel_efficiency"] = float(np.clip((np.median(ratios) - 1) / (workers - 1), 0.05, 1.0))

    def short(c, rng):
        side = int(512 * math.sqrt(scale))
        a = rng.standard_normal((side, side))
        b = rng.standard_normal((3, 3))
        t = _median_time(lambda: _api.convolve(a, b, "same", method="direct"))
        threads = 1 + (workers - 1) * c["parallel_efficiency"]
        per = max(t - c["direct_overhead"], 1e-9) * threads / (side * side * 9)
        # the model charges a row of kw < 8 taps 1 + (direct_short - 1) * (8 - kw) / 7 times
        # the long-row cost (numbaconv._costs._short); invert that for kw = 3
        slowdown = per / (c["direct_mac"]["f8"] * _costs._phase(c, "f8", 3))
        c["direct_short"] = float(np.clip(1 + (slowdown - 1) * 7 / 5, 1.0, 50.0))

    def kernel_rows(c, rng):
        side = int(512 * math.sqrt(scale))
        a = rng.standard_normal((side, side))
        b = rng.standard_normal((31, 31))
        t = _median_time(lambda: _api.convolve(a, b, "valid", method="direct"), repeat=3)
        threads = 1 + (workers - 1) * c["parallel_efficiency"]
        per = max(t - c["direct_overhead"], 1e-9) * threads / ((side - 30) ** 2 * 31 * 31)
        # the model charges 1 + direct_kernel_row * (kh - 1) times the 1-D cost; invert for kh = 31
        long_row = c["direct_mac"]["f8"] * _costs._phase(c, "f8", 31)
        c["direct_kernel_row"] = float(np.clip((per / long_row - 1) / 30, 1e-4, 1.0))

    tasks = [("overheads", overheads), ("parallel efficiency", parallel)]
    for key, dt in (("f4", np.float32), ("f8", np.float64), ("c8", np.complex64),
                    ("c16", np.complex128), ("i8", np.int64)):
        tasks.append((f"direct {key}", direct_mac(key, dt)))
    tasks.append(("short rows", short))
    tasks.append(("kernel rows", kernel_rows))
    for key, dt in (("f4", np.float32), ("f8", np.float64), ("c8", np.complex64),
                    ("c16", np.complex128)):
        tasks.append((f"fft {key}", fft_nlogn(key, dt)))
    return tasks


def calibrate(*, quick=False, save=True, progress=None):
    """Fit the cost model of the dispatcher on this machine.

    Parameters
    ----------
    quick : bool, optional
        Smaller problems (a few seconds instead of about a minute).
    save : bool, optional
        Store the coefficients in :func:`cache_path` so that later processes
        use them.
    progress : callable, optional
        Called as ``progress(done, total, label)`` after each step.

    Returns
    -------
    dict
        The fitted coefficients, in the layout of ``numbaconv._costs.DEFAULTS``;
        with a CUDA GPU also ``"cuda"``, the GPU backends' fitted ``COSTS``
        (see :mod:`numbaconv._calibrate_cuda`).

    Examples
    --------
    >>> import numbaconv
    >>> coeffs = numbaconv.calibrate(quick=True, save=False)  # doctest: +SKIP
    >>> sorted(coeffs)  # doctest: +SKIP
    ['direct_mac', 'direct_overhead', 'direct_short', 'fft_nlogn', 'fft_overhead', ...]
    """
    from . import _costs
    coeffs = copy.deepcopy(_costs.DEFAULTS)
    rng = np.random.default_rng(12345)
    tasks = _tasks(quick) + _cuda_tasks(coeffs, quick)
    old = _costs.coefficients()
    try:
        _costs.set_coefficients(coeffs)
        for i, (label, task) in enumerate(tasks):
            task(coeffs, rng)
            if progress is not None:
                progress(i + 1, len(tasks), label)
    finally:
        _costs.set_coefficients(old)
    _validate(coeffs)
    if save:
        path = cache_path()
        os.makedirs(os.path.dirname(path), exist_ok=True)
        tmp = path + ".tmp"
        with open(tmp, "w") as f:
            json.dump({"format": FORMAT, "machine": _machine(), "coefficients": coeffs}, f, indent=1)
        os.replace(tmp, path)
    _apply_cuda(coeffs)
    _costs.set_coefficients(coeffs)
    return coeffs
