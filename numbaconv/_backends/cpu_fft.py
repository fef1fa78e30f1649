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
(``fft_nlogn``) were fitted on pocketfft.  Under SciPy's own backend a kernel's
spectrum is kept for the next call with the same kernel values
(:mod:`._spectra`); a backend the caller set transforms every time.
"""
from __future__ import annotations

import math
from concurrent.futures import wait

import numpy as np
import scipy.fft as sp_fft

from .. import _coefficients as coef
from .._config import resolve_workers
from .._problem import Problem, fft_result_dtype, window
from . import _pool, _spectra

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
    by side (:func:`beside`), also at that efficiency.  N-D transforms that
    stay in cache run faster (:func:`spill`).
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
    if beside(fshape, workers, batch, problem.dtype):
        transforms = 1.0 + 2.0 / coef.fft_threads(2)
    if len(fshape) > 1:                  # N-D transforms in cache run at the tiles' rate
        nd *= min(1.0, c["oa_tile"] * spill(fshape, problem.dtype, c["fft_spill"]))
    return c["fft_overhead"] + (transforms * batch * coef.nlogn(fshape) * nd
                                * c["fft_nlogn"][coef.fft_key(problem.dtype)])


def spill(fshape, dtype, per_doubling=None) -> float:
    """Slow-down of an N-D transform of ``fshape`` whose input and spectrum outgrow 1 MiB of
    cache: ``per_doubling`` (default ``oa_spill``, the tiles') per doubling.
    ``fft_nlogn`` was fitted on large transforms; ``oa_tile`` times this, where it is
    below 1, prices those that stay in cache (a 256² image's 'same' correlation with a
    31x31 kernel: 288² transforms, which ``fft_nlogn`` priced at 1.5-1.8x their time)."""
    if per_doubling is None:
        per_doubling = coef.coefficients()["oa_spill"]
    size = 2 * math.prod(fshape) * fft_result_dtype(dtype, dtype).itemsize
    return 1.0 + per_doubling * max(0.0, math.log2(size / 2 ** 20))


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
    both = beside(fshape, resolve_workers(workers), bo, problem.dtype)
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


#: bytes of transform input below which the two forward transforms run one after the
#: other: a hand-off to the pool costs 0.1-0.15 ms (2-core Zen 4).  Side by side the two ran
#: 0.71-0.91x the time of one after the other from 1-D 2^17 points and 2-D 288² (float32,
#: 324 KiB: 0.88-0.90x in one run, 1.05x in another) up, but 1.18-2.8x at 1-D 2^12-2^14,
#: 1.51x at 2^16 float32 (256 KiB) and 1.30x at 2-D 192² float32
FFT_BESIDE_MIN_BYTES = 320 << 10


def beside(fshape, workers: int, batch: int, dtype) -> bool:
    """Whether :func:`convolve_full` runs its two forward transforms side by side: each
    runs on one thread (:func:`fft_workers`), ``workers`` allows two, and they are large."""
    size = fft_result_dtype(dtype, dtype).itemsize
    return (workers >= 2 and fft_workers(fshape, workers) == 1
            and batch * math.prod(fshape) * size >= FFT_BESIDE_MIN_BYTES)


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
    if a.ndim == 1:                      # the 1-D functions: a third less call overhead
        fwd, inv = _REAL_1D if real else _COMPLEX_1D
    else:
        fwd, inv = (sp_fft.rfftn, sp_fft.irfftn) if real else (sp_fft.fftn, sp_fft.ifftn)
    batch = math.prod(max(x, y) for i, (x, y) in enumerate(zip(a.shape, h.shape)) if i not in axes)
    spectrum = _spectra.key(h, real, tuple(fshape), tuple(axes))
    hs = _spectra.get(spectrum)
    if hs is None and beside(fshape, workers, batch, dtype):   # the kernel's on the pool meanwhile
        pending = _pool.beside(lambda: fwd(h, fshape, axes=axes, workers=1))
        try:
            sp = fwd(a, fshape, axes=axes, workers=1)
        finally:
            wait([pending])                # done before any error leaves
        hs = _spectra.put(spectrum, pending.result())
        workers = 1
    else:
        workers = fft_workers(fshape, workers)
        sp = fwd(a, fshape, axes=axes, workers=workers)
        if hs is None:
            hs = _spectra.put(spectrum, fwd(h, fshape, axes=axes, workers=workers))
    if sp.shape == hs.shape or sp.shape == np.broadcast_shapes(sp.shape, hs.shape):
        sp *= hs                         # in place: one spectrum-sized allocation less
    else:                                # h is the larger along a broadcast axis
        sp = sp * hs
    ret = inv(sp, fshape, axes=axes, workers=workers, overwrite_x=True)
    return ret[tuple(slice(0, s) if ax in axes else slice(None)
                     for ax, s in zip(range(ret.ndim), _full_shape(a, h, axes)))]


def _one_axis(fwd, inv):
    """``(fwd, inv)`` of one axis called as their ``n``-D forms are (``x, [n], axes=[0]``):
    SciPy's ``rfftn`` checks its shape and axes in Python, 10 µs of a 40 µs 1-D call."""
    def forward(x, s, axes, workers, **kw):
        return fwd(x, s[0], axis=axes[0], workers=workers, **kw)

    def inverse(x, s, axes, workers, **kw):
        return inv(x, s[0], axis=axes[0], workers=workers, **kw)

    return forward, inverse


_REAL_1D = _one_axis(sp_fft.rfft, sp_fft.irfft)
_COMPLEX_1D = _one_axis(sp_fft.fft, sp_fft.ifft)


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
