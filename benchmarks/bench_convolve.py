"""Run time of numbaconv's methods next to SciPy's and NumPy's own functions.

Every suite has an ``impl`` parameter, so the asv dashboard draws numbaconv
(``numbaconv.auto`` and each fixed method) and the reference implementations
(``scipy.*``, ``numpy.convolve``) as lines of the same graph.  Inputs are
built in ``setup`` with a fixed seed, and ``setup`` also makes one call, so
the JIT compile (or the load from Numba's cache) is never timed.  A cell
that cannot run -- kernel longer than the signal, backend unavailable,
direct method too costly for the grid (see ``benchmarks/__init__.py``) --
raises ``NotImplementedError`` in ``setup`` and is shown as skipped.

1-D cells use ``mode='full'`` (SciPy's default), 2-D cells ``mode='same'``.
"""
from __future__ import annotations

import numpy as np
import scipy.signal

from . import (DTYPES, K_1D, K_2D, MAX_DIRECT_OPS, N_1D, SIDE_2D, call_or_skip, inputs,
               method_available, numbaconv_or_skip, skip)

#: implementations whose cost grows like outputs * taps
_DIRECT_LIKE = {"numbaconv.direct", "scipy.direct", "numpy.convolve", "scipy.convolve2d"}


def _factory(impl, a, kern, mode):
    """Return a zero-argument callable running ``impl`` on ``a`` and ``kern``."""
    lib, _, what = impl.partition(".")
    if lib == "numbaconv":
        nc = numbaconv_or_skip()
        if what == "convolve2d":
            return lambda: nc.convolve2d(a, kern, mode=mode)
        if not method_available(what):
            skip(f"no available CPU backend for method {what!r}")
        return lambda: nc.convolve(a, kern, mode=mode, method=what)
    if impl == "numpy.convolve":
        if a.ndim != 1:
            skip("numpy.convolve is 1-D only")
        return lambda: np.convolve(a, kern, mode=mode)
    if impl == "scipy.oaconvolve":
        return lambda: scipy.signal.oaconvolve(a, kern, mode=mode)
    if impl == "scipy.convolve2d":
        return lambda: scipy.signal.convolve2d(a, kern, mode=mode)
    if lib == "scipy":
        return lambda: scipy.signal.convolve(a, kern, mode=mode, method=what)
    raise ValueError(impl)


class _ConvolveSuite:
    timeout = 900.0  # the full grid has cells of tens of seconds per call
    mode = "full"
    separable = False

    def _setup(self, impl, shape_a, shape_k, dtype):
        outputs = float(np.prod(shape_a)) if self.mode == "same" else float(
            np.prod([n + k - 1 for n, k in zip(shape_a, shape_k)]))
        if any(k > n for n, k in zip(shape_a, shape_k)):
            skip("kernel longer than the signal")
        if impl in _DIRECT_LIKE and outputs * float(np.prod(shape_k)) > MAX_DIRECT_OPS:
            skip("direct method above NUMBACONV_ASV_MAX_DIRECT_OPS")
        a, kern = inputs(shape_a, shape_k, dtype, separable=self.separable)
        self.fn = _factory(impl, a, kern, self.mode)
        call_or_skip(self.fn)  # warm-up: JIT compile / cache load, plans, page faults


class Convolve1D(_ConvolveSuite):
    """``convolve(a, k, mode='full')`` for 1-D signals, every method vs SciPy."""

    params = [
        ["numbaconv.auto", "numbaconv.direct", "numbaconv.fft", "numbaconv.oa",
         "scipy.auto", "scipy.direct", "scipy.fft", "scipy.oaconvolve", "numpy.convolve"],
        N_1D, K_1D, DTYPES,
    ]
    param_names = ["impl", "n", "k", "dtype"]
    mode = "full"

    def setup(self, impl, n, k, dtype):
        self._setup(impl, (n,), (k,), dtype)

    def time_convolve(self, impl, n, k, dtype):
        self.fn()


class Convolve2D(_ConvolveSuite):
    """``convolve(a, k, mode='same')`` for square images, every method vs SciPy."""

    params = [
        ["numbaconv.auto", "numbaconv.direct", "numbaconv.fft", "numbaconv.oa",
         "numbaconv.convolve2d", "scipy.auto", "scipy.direct", "scipy.fft",
         "scipy.oaconvolve", "scipy.convolve2d"],
        SIDE_2D, K_2D, DTYPES,
    ]
    param_names = ["impl", "side", "k", "dtype"]
    mode = "same"

    def setup(self, impl, side, k, dtype):
        self._setup(impl, (side, side), (k, k), dtype)

    def time_convolve(self, impl, side, k, dtype):
        self.fn()


class Separable2D(_ConvolveSuite):
    """Rank-1 (separable) kernels: the separable method and auto vs SciPy."""

    params = [
        ["numbaconv.auto", "numbaconv.separable", "scipy.auto", "scipy.convolve2d"],
        SIDE_2D, K_2D, DTYPES,
    ]
    param_names = ["impl", "side", "k", "dtype"]
    mode = "same"
    separable = True

    def setup(self, impl, side, k, dtype):
        self._setup(impl, (side, side), (k, k), dtype)

    def time_convolve(self, impl, side, k, dtype):
        self.fn()


class Overhead:
    """Per-call overhead of every public entry point on tiny inputs."""

    params = [["convolve", "correlate", "fftconvolve", "oaconvolve", "convolve2d",
               "correlate2d", "choose_conv_method"],
              ["numbaconv", "scipy.signal"]]
    param_names = ["function", "library"]

    def setup(self, function, library):
        if library == "numbaconv":
            lib = numbaconv_or_skip()
        else:
            lib = scipy.signal
        fn = getattr(lib, function, None)
        if fn is None:
            skip(f"{library} has no {function}")
        two_d = function.endswith("2d")
        a, kern = inputs((16, 16) if two_d else (64,), (3, 3) if two_d else (5,), "float64")
        self.fn = lambda: fn(a, kern, mode="same")
        call_or_skip(self.fn)

    def time_call(self, function, library):
        self.fn()


class Direct1D(_ConvolveSuite):
    """The direct kernel alone on a small fixed 1-D grid: a cheap regression canary.

    Independent of ``NUMBACONV_ASV_GRID`` (CI runs it with ``--quick``).
    """

    params = [["numbaconv.direct", "scipy.direct", "numpy.convolve"],
              [10**3, 10**4, 10**5], [3, 31], ["float64"]]
    param_names = ["impl", "n", "k", "dtype"]
    mode = "full"
    timeout = 120.0

    def setup(self, impl, n, k, dtype):
        self._setup(impl, (n,), (k,), dtype)

    def time_convolve(self, impl, n, k, dtype):
        self.fn()
