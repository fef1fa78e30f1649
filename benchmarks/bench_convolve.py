"""Run time of numbaconv's methods next to SciPy's and NumPy's own functions.

Every suite has an ``impl`` parameter, so the asv dashboard draws numbaconv
(``numbaconv.auto`` and each fixed method) and the reference implementations
(``scipy.*``, ``numpy.convolve``, OpenCV and torch, on numbaconv's worker
count) as lines of the same graph.  Inputs are
built in ``setup`` with a fixed seed, and ``setup`` also makes one call, so
the JIT compile (or the load from Numba's cache) is never timed.  A cell
that cannot run -- kernel longer than the signal, backend unavailable,
direct method too costly for the grid (see ``benchmarks/__init__.py``) --
raises ``NotImplementedError`` in ``setup`` and is shown as skipped.

1-D cells use ``mode='full'`` (SciPy's default), 2-D cells ``mode='same'``.
"""
from __future__ import annotations

import numbaconv
import scipy.signal
from numbaconv._tools import grids, peers

from . import (DTYPES, K_1D, K_2D, MAX_DIRECT_OPS, N_1D, SIDE_2D, call_or_skip, inputs,
               method_available, skip)


def _factory(impl, a, kern, mode):
    """A zero-argument callable running ``impl`` on ``a`` and ``kern``; skips what cannot run."""
    lib, _, what = impl.partition(".")
    if lib != "numbaconv":
        return peers.make(impl, a, kern, mode, max_direct_ops=MAX_DIRECT_OPS)
    if what == "convolve2d":
        return lambda: numbaconv.convolve2d(a, kern, mode=mode)
    if not method_available(what):
        skip(f"no available CPU backend for method {what!r}")
    if what == "direct" and peers.direct_ops(a, kern, mode) > MAX_DIRECT_OPS:
        skip("direct method above NUMBACONV_ASV_MAX_DIRECT_OPS")
    return lambda: numbaconv.convolve(a, kern, mode=mode, method=what)


class _ConvolveSuite:
    timeout = 900.0  # the full grid has cells of tens of seconds per call
    mode = "full"
    separable = False

    def _setup(self, impl, shape_a, shape_k, dtype):
        if any(k > n for n, k in zip(shape_a, shape_k)):
            skip("kernel longer than the signal")
        a, kern = inputs(shape_a, shape_k, dtype, separable=self.separable)
        self.fn = _factory(impl, a, kern, self.mode)
        call_or_skip(self.fn)  # warm-up: JIT compile / cache load, plans, page faults


class Convolve1D(_ConvolveSuite):
    """``convolve(a, k, mode='full')`` for 1-D signals, every method vs SciPy."""

    params = [
        ["numbaconv.auto", "numbaconv.direct", "numbaconv.fft", "numbaconv.oa",
         "scipy.auto", "scipy.direct", "scipy.fft", "scipy.oaconvolve", "numpy.convolve",
         "torch.conv1d", "pyfftw.fftconvolve"],
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
         "numbaconv.convolve2d", "scipy.auto", "scipy.direct",
         "scipy.fft", "scipy.oaconvolve", "scipy.convolve2d", "cv2.filter2D",
         "torch.conv2d", "pyfftw.fftconvolve"],
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
        ["numbaconv.auto", "numbaconv.separable", "numbaconv.direct", "scipy.auto",
         "scipy.convolve2d", "cv2.filter2D", "cv2.sepFilter2D", "torch.conv2d"],
        SIDE_2D, K_2D, DTYPES,
    ]
    param_names = ["impl", "side", "k", "dtype"]
    mode = "same"
    separable = True

    def setup(self, impl, side, k, dtype):
        self._setup(impl, (side, side), (k, k), dtype)

    def time_convolve(self, impl, side, k, dtype):
        self.fn()


class OpenCV2D:
    """``numbaconv bench --opencv`` on asv's grid: auto against OpenCV, Gaussian and random kernels.

    ``cv2.sepFilter2D`` runs the Gaussian only (a random kernel is not rank 1).
    """

    params = [["numbaconv.auto", "cv2.filter2D", "cv2.sepFilter2D"], SIDE_2D, K_2D, DTYPES,
              list(grids.OPENCV_KERNELS)]
    param_names = ["impl", "side", "k", "dtype", "kernel"]
    timeout = 300.0

    def setup(self, impl, side, k, dtype, kernel):
        if k > side:
            skip("kernel longer than the image")
        a, kern = grids.make_inputs(grids.Cell(2, side, k, dtype, "same", kernel == "gaussian",
                                               kernel))
        self.fn = _factory(impl, a, kern, "same")
        call_or_skip(self.fn)

    def time_convolve(self, impl, side, k, dtype, kernel):
        self.fn()


class Overhead:
    """Per-call overhead of every public entry point on tiny inputs."""

    params = [["convolve", "correlate", "fftconvolve", "oaconvolve", "convolve2d",
               "correlate2d", "choose_conv_method"],
              ["numbaconv", "scipy.signal"]]
    param_names = ["function", "library"]

    def setup(self, function, library):
        fn = getattr(numbaconv if library == "numbaconv" else scipy.signal, function)
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


class Peak:
    """GFLOP/s tracked over time: the machine's packed-FMA peak and the direct kernel's rate.

    ``track_fma_peak`` runs independent FMA chains on every core (see
    :func:`numbaconv._tools.report.fma_peak`); ``track_direct_gflops`` is
    2 x multiply-adds / best time of ``convolve(method='direct')``, 1-D
    n = 1e6, 'valid', so the two lines can be read against each other.
    """

    params = [["float32", "float64"]]
    param_names = ["dtype"]
    unit = "GFLOP/s"
    timeout = 300.0

    def setup(self, dtype):
        self.a, self.k = inputs((10**6,), (301,), dtype)
        self.fn = lambda: numbaconv.convolve(self.a, self.k, "valid", method="direct")
        call_or_skip(self.fn)

    def track_fma_peak(self, dtype):
        from numbaconv._tools.report import fma_peak
        return fma_peak(dtype)

    def track_direct_gflops(self, dtype):
        from numbaconv._tools.timing import measure
        timing, _ = measure(self.fn, repeat=7)
        return 2.0 * peers.direct_ops(self.a, self.k, "valid") / timing.best / 1e9
