"""FFT correlation on the CPU through :mod:`scipy.fft`.

The canonical correlation of ``A`` with ``K`` is the convolution of ``A``
with ``K`` flipped along the correlated axes; the flip is a view.  Real input
uses ``rfftn``/``irfftn`` at :func:`scipy.fft.next_fast_len` sizes, and
``workers`` is passed on.  Integers and bool are transformed in float64,
float16 in float32, and single and long double precision are kept.

Every transform is a call of :mod:`scipy.fft`'s public functions on the
calling thread, so it goes to the backend the caller made active
(:func:`scipy.fft.set_backend`, :func:`scipy.fft.set_global_backend`:
pyFFTW, mkl_fft), SciPy's pocketfft by default.  The cost model's rates
(``fft_nlogn``) were fitted on pocketfft.
"""
from __future__ import annotations

import math
from concurrent.futures import wait

import numpy as np
import scipy.fft as sp_fft

from .. import _coefficients as coef
from .._config import resolve_workers
from .._problem import Problem, fft_result_dtype, window
from . import _pool

NAME = "cpu_fft"
DEVICE = "cpu"
METHOD = "fft"


def available() -> bool:
    return True


def supports(problem: Problem) -> bool:
    return problem.device == "cpu" and problem.zero_fill and problem.kind in "biufc"


def cost(problem: Problem, workers=None) -> float:
    """Predicted seconds: three transforms of the window's length (two forward, one inverse).

    pocketfft threads split a batch of 1-D transforms, never one transform,
    so a single 1-D transform runs on one thread whatever ``workers`` says;
    the others count at ``fft_parallel_efficiency`` a thread beyond the first.
    Where every transform runs on one thread, the two forward ones run side
    by side (:func:`beside`), also at that efficiency.
    """
    c = coef.coefficients()
    fshape = problem.window_fft_shape(real=problem.kind != "c")
    batch = math.prod(max(problem.shape_a[ax], problem.shape_k[ax])
                      for ax in range(problem.ndim) if ax not in problem.axes)
    nd = c["fft_nd_factor"] if len(fshape) > 1 else 1.0
    workers = resolve_workers(workers)
    single = len(fshape) == 1 and batch == 1
    threads = 1.0 if single else coef.fft_threads(fft_workers(fshape, workers))
    transforms = 3.0 / threads
    if beside(fshape, workers, batch):
        transforms = 1.0 + 2.0 / coef.fft_threads(2)
    return c["fft_overhead"] + (transforms * batch * coef.nlogn(fshape) * nd
                                * c["fft_nlogn"][coef.fft_key(problem.dtype)])


def memory(problem: Problem, workers=None) -> int:
    """Predicted peak bytes of :func:`run`.

    Both operands zero-padded to the transform size and their spectra, the
    inverse transform, then the output window's copy.

    Casts to the transform dtype are counted where the result dtype is not
    it (integers, float16); pocketfft's line buffer on each thread that has
    a line to transform is added.
    """
    dtype = fft_result_dtype(problem.dtype, problem.dtype)
    real = dtype.kind != "c"
    fshape = problem.window_fft_shape(real=real)
    size = dtype.itemsize
    csize = size * 2 if real else size
    points = math.prod(fshape)
    freqs = math.prod(fshape[:-1]) * (fshape[-1] // 2 + 1 if real else fshape[-1])
    other = [ax for ax in range(problem.ndim) if ax not in problem.axes]
    ba = math.prod(problem.shape_a[ax] for ax in other)
    bk = math.prod(problem.shape_k[ax] for ax in other)
    bo = math.prod(max(problem.shape_a[ax], problem.shape_k[ax]) for ax in other)
    cast = 0
    if problem.dtype != dtype:
        cast = (math.prod(problem.shape_a) + math.prod(problem.shape_k)) * size
    spec_a, spec_k = ba * freqs * csize, bk * freqs * csize
    product = bo * freqs * csize if bo > ba else 0
    inverse = bo * points * size
    # the forward transforms one after the other, or side by side (both padded copies at once)
    both = beside(fshape, resolve_workers(workers), bo)
    peak = cast + max(ba * points * size + spec_a + (bk * points * size + spec_k if both else 0),
                      spec_a + bk * points * size + spec_k,
                      spec_a + spec_k + product + inverse,
                      inverse + problem.outputs * max(size, problem.dtype.itemsize))
    lines = bo * points // max(fshape)
    return int(peak + min(resolve_workers(workers), lines) * max(fshape) * csize)


def flip_axes(x, axes):
    """View of ``x`` reversed along ``axes``."""
    idx = [slice(None)] * x.ndim
    for ax in axes:
        idx[ax] = slice(None, None, -1)
    return x[tuple(idx)]


#: transforms of fewer elements run on one thread: pocketfft's thread start-up
#: costs more than it saves there (rfft2 of 576² on 2 workers: 0.93-1.23x the speed of
#: one on a 2-core Zen 4; 1056²: 1.27-1.42x)
FFT_PARALLEL_MIN = 1 << 20


def fft_workers(fshape, workers: int) -> int:
    """Threads for a transform of shape ``fshape``: 1 below :data:`FFT_PARALLEL_MIN`."""
    return workers if math.prod(fshape) >= FFT_PARALLEL_MIN else 1


#: transforms of fewer elements run their two forward transforms one after the other: a
#: hand-off to the pool costs 0.1-0.15 ms (2-core Zen 4; one 1-D float32 transform of 2^16
#: points takes 0.3 ms), and side by side the two ran 0.76-0.91x the time of one after the
#: other from 2^17 points (1-D and 2-D, float32 and float64)
FFT_BESIDE_MIN = 1 << 17


def beside(fshape, workers: int, batch: int = 1) -> bool:
    """Whether :func:`convolve_full` runs its two forward transforms side by side: each
    runs on one thread (:func:`fft_workers`), ``workers`` allows two, and they are large."""
    return (workers >= 2 and fft_workers(fshape, workers) == 1
            and batch * math.prod(fshape) >= FFT_BESIDE_MIN)


def as_fft_input(x, dtype):
    """``x`` cast to the transform dtype (a no-op when it already is)."""
    return np.asarray(x, dtype=dtype)


def convolve_full(a, h, axes, workers, dtype, fshape=None):
    """Full linear convolution of ``a`` and ``h`` along ``axes`` (others broadcast).

    ``fshape`` (transform lengths along ``axes``) may be shorter than the
    full result, as :meth:`Problem.window_fft_shape` allows: the result is
    then circular beyond the window that length keeps exact, and shorter.
    """
    a = as_fft_input(a, dtype)
    h = as_fft_input(h, dtype)
    if not axes:
        return a * h
    real = dtype.kind != "c"
    if fshape is None:
        fshape = [sp_fft.next_fast_len(a.shape[ax] + h.shape[ax] - 1, real) for ax in axes]
    fshape = list(fshape)
    fwd, inv = (sp_fft.rfftn, sp_fft.irfftn) if real else (sp_fft.fftn, sp_fft.ifftn)
    batch = math.prod(max(x, y) for i, (x, y) in enumerate(zip(a.shape, h.shape)) if i not in axes)
    if beside(fshape, workers, batch):     # the kernel's transform on the pool meanwhile
        pending = _pool.beside(lambda: fwd(h, fshape, axes=axes, workers=1))
        try:
            sp = fwd(a, fshape, axes=axes, workers=1)
        finally:
            wait([pending])                # done before any error leaves
        hs = pending.result()
        workers = 1
    else:
        workers = fft_workers(fshape, workers)
        sp = fwd(a, fshape, axes=axes, workers=workers)
        hs = fwd(h, fshape, axes=axes, workers=workers)
    if sp.shape == np.broadcast_shapes(sp.shape, hs.shape):
        sp *= hs                         # in place: one spectrum-sized allocation less
    else:                                # h is the larger along a broadcast axis
        sp = sp * hs
    ret = inv(sp, fshape, axes=axes, workers=workers, overwrite_x=True)
    return ret[tuple(slice(0, s) if ax in axes else slice(None)
                     for ax, s in zip(range(ret.ndim), _full_shape(a, h, axes)))]


def _full_shape(a, h, axes):
    return [a.shape[ax] + h.shape[ax] - 1 if ax in axes else max(a.shape[ax], h.shape[ax])
            for ax in range(a.ndim)]


def run(problem: Problem, a, k, *, workers: int):
    """Correlate ``a`` with ``k`` by FFT and return the requested window.

    The transforms are only as long as the window needs
    (:meth:`Problem.window_fft_shape`): 256^2 'same' with a 63^2 kernel
    transforms 288^2 points where the full result needs 320^2.
    """
    dtype = fft_result_dtype(a.dtype, k.dtype)
    fshape = problem.window_fft_shape(real=dtype.kind != "c")
    full = convolve_full(a, flip_axes(k, problem.axes), list(problem.axes), workers, dtype,
                         fshape)
    return window(full, problem)
