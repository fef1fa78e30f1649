"""Overlap-add correlation on the CPU.

The longer operand is cut into blocks along the axis where it is longest
relative to the other operand.  The blocks are transformed as one batch by
:mod:`scipy.fft` with ``workers`` threads (so the blocks run in parallel), the
other operand's spectrum is computed once per call, and the blocks' tails
are added back with strided views.  Other correlated axes are transformed
only as long as the output window needs (:meth:`Problem.window_fft_shape`).  The block length minimises ``N log N / (N - K)`` per output,
the classic optimum ``N = -K W_{-1}(-1 / (2 e K))`` for overlap ``K``.
"""
from __future__ import annotations

import functools
import math
from concurrent.futures import Future

import numpy as np
import scipy.fft as sp_fft
from scipy.special import lambertw

from .._problem import Problem, fft_result_dtype
from . import cpu_fft

NAME = "cpu_oa"
DEVICE = "cpu"
METHOD = "oa"


def available() -> bool:
    return True


def supports(problem: Problem) -> bool:
    return cpu_fft.supports(problem)


def cost(problem: Problem, workers=None) -> float:
    from .._costs import oa_cost
    return oa_cost(problem, workers)


def block_length(n: int, m: int, real: bool = True):
    """Serial-optimal FFT length for blocking a length-``n`` signal against ``m`` taps, or None.

    None means one block would cover everything: plain FFT is then as good.
    """
    if m <= 1 or n == m or 2 * m >= n:
        return None
    overlap = m - 1
    opt = -overlap * lambertw(-1 / (2 * math.e * overlap), k=-1).real
    nfft = sp_fft.next_fast_len(math.ceil(opt), real)
    if nfft >= n:
        return None
    return nfft


#: shortest block transform priced: below it the per-row costs of a batch, which the
#: cost model leaves out, dominate (the serial optimum for a 3-tap kernel is ~10)
MIN_BLOCK = 512


def block_candidates(n: int, m: int, workers: int, real: bool = True):
    """FFT lengths worth pricing for one blocked axis (``n`` the longer, ``m`` taps).

    The serial optimum of :func:`block_length`, and the lengths that cut the
    signal into a multiple of ``workers`` blocks (1 to 4 rounds): on ``P``
    threads a batch of ``P`` blocks takes as long as one, so fewer, longer
    blocks that keep every thread busy can beat the serial optimum -- even
    where one block would cover the whole signal (a single 1-D transform
    runs on one thread).
    """
    out = set()
    serial = block_length(n, m, real)
    if serial is not None:
        out.add(max(serial, MIN_BLOCK))
    if m > 1:
        for nb in sorted({workers * j for j in range(1, 5)} | {2}):
            step = -(-n // nb)
            if step < m - 1:
                continue
            nfft = sp_fft.next_fast_len(max(step + m - 1, MIN_BLOCK), real)
            if nfft < n + m - 1:
                out.add(nfft)
    return sorted(out)


def batched_1d(ndim: int, m: int, nfft: int) -> bool:
    """Whether blocks of length ``nfft`` against ``m`` taps take :func:`_oa_1d`.

    That needs a 1-D problem and each block's tail (``m - 1``) no longer
    than a block's step, so that it reaches the next block only.
    """
    return ndim == 1 and 2 * (m - 1) <= nfft


def plan(problem: Problem, workers=None):
    """``(axis, fft length, threads, predicted seconds)`` of the cheapest blocking, or None.

    None means plain FFT.  The blocked axis is the one where the longer
    operand is longest relative to the other; its block length and thread
    count (1-D: one or ``workers`` block groups) are the cheapest by
    :func:`numbaconv._costs.oa_block_cost` among :func:`block_candidates`.
    Memoised (the dispatcher prices it, every run needs it; 12-33 us to
    compute); :func:`clear_cache` forgets it when the coefficients change.
    """
    from .._config import resolve_workers
    return _plan(problem, resolve_workers(workers))


def clear_cache():
    """Forget the memoised plans (called by ``numbaconv._dispatch.clear_cache``)."""
    _plan.cache_clear()


@functools.lru_cache(maxsize=1024)
def _plan(problem: Problem, workers: int):
    from .._costs import oa_block_cost
    real = problem.kind != "c"
    best = None
    for ax in problem.axes:
        n, m = problem.shape_a[ax], problem.shape_k[ax]
        if m > n:
            n, m = m, n
        if m <= 1 or n == m:
            continue
        if best is None or n / m > best[2]:
            best = (ax, block_candidates(n, m, workers, real), n / m)
    if best is None or not best[1]:
        return None
    ax = best[0]
    threads = sorted({1, workers}) if problem.ndim == 1 else [workers]
    return min(((ax, nfft, t, oa_block_cost(problem, ax, nfft, t)) for nfft in best[1]
                for t in threads), key=lambda p: p[3])


def _overlap_add(a, h, ax, nfft, axes, workers, dtype, lengths):
    """Convolution of ``a`` (the longer along ``ax``) with ``h``, full along ``ax``.

    Every other correlated axis ``x`` is transformed at ``lengths[x]``
    (:meth:`Problem.window_fft_shape`): the result along it is exact on the
    output window only, and is cut at that length.
    """
    n, m = a.shape[ax], h.shape[ax]
    step = nfft - m + 1
    nblocks = -(-n // step)
    others = [x for x in axes if x != ax]
    # blocks as a new axis in front of `ax`: (..., nblocks, step, ...)
    pad = nblocks * step - n
    if pad:
        widths = [(0, 0)] * a.ndim
        widths[ax] = (0, pad)
        a = np.pad(a, widths)
    blocks = a.reshape(a.shape[:ax] + (nblocks, step) + a.shape[ax + 1:])
    h = np.expand_dims(h, ax)
    baxes = [x + 1 if x > ax else x for x in others] + [ax + 1]
    fshape = [lengths[x] for x in others] + [nfft]
    shape = [min(blocks.shape[x] + h.shape[x] - 1, n_x) for x, n_x in zip(baxes[:-1], fshape)]
    fwd, inv = (sp_fft.fftn, sp_fft.ifftn) if dtype.kind == "c" else (sp_fft.rfftn, sp_fft.irfftn)
    spec = fwd(blocks, fshape, axes=baxes, workers=workers) * fwd(h, fshape, axes=baxes,
                                                                  workers=workers)
    y = inv(spec, fshape, axes=baxes, workers=workers, overwrite_x=True)
    # crop the other correlated axes to their full length (or their transform's)
    crop = [slice(None)] * y.ndim
    for x, s in zip(baxes[:-1], shape):
        crop[x] = slice(0, s)
    y = y[tuple(crop)]
    # overlap-add along the block axis
    full_len = n + m - 1
    out_shape = list(y.shape)
    del out_shape[ax]
    out_shape[ax] = (nblocks + 1) * step + nfft
    out = np.zeros(out_shape, y.dtype)
    for t0 in range(0, nfft, step):
        t1 = min(t0 + step, nfft)
        dst = np.moveaxis(out, ax, 0)[t0:t0 + nblocks * step]
        dst = dst.reshape((nblocks, step) + dst.shape[1:])[:, :t1 - t0]
        src = np.moveaxis(y, (ax, ax + 1), (0, 1))[:, t0:t1]
        dst += src
    idx = [slice(None)] * out.ndim
    idx[ax] = slice(0, full_len)
    return out[tuple(idx)]


def _forward(x, nfft, real, **kw):
    """Transform along the last axis at length ``nfft``: real input gives the half spectrum."""
    return (sp_fft.rfft if real else sp_fft.fft)(x, nfft, axis=-1, **kw)


def _inverse(spec, nfft, real):
    """Inverse of :func:`_forward`, in place where pocketfft can."""
    return (sp_fft.irfft if real else sp_fft.ifft)(spec, nfft, axis=-1, overwrite_x=True)


def _oa_1d(a, h, nfft, threads, dtype):
    """Full 1-D convolution of ``a`` (the longer) with ``h`` (``m - 1 <= step``) by overlap-add.

    The blocks are cut into ``threads`` contiguous groups, each run by one
    thread as a batch (:func:`_oa_blocks`), against the kernel's spectrum
    computed once, by the calling thread while the groups transform their
    blocks.  A group writes its blocks' heads and the tails that
    fall inside it; the tail of each group's last block, which falls on the
    next group's first head, is added after all groups are done.

    pocketfft is always asked for one thread: it spreads a batch over its
    threads only in bundles of SIMD width (8 or 16 rows), and measured on 2
    cores its ``workers=2`` was never faster for these batches and up to 2.5x
    slower; whole groups on separate threads scale (1.5-2x at n = 1e6).
    """
    n, m = a.shape[0], h.shape[0]
    step = nfft - m + 1
    nb = -(-n // step)
    real = dtype.kind != "c"
    out = np.empty((nb + 1) * step, dtype)
    out[nb * step:] = 0
    threads = max(1, min(threads, nb))
    bounds = [nb * i // threads for i in range(threads + 1)]
    groups = list(zip(bounds[:-1], bounds[1:]))
    spec_h = Future()
    if threads == 1:
        spec_h.set_result(_forward(h, nfft, real))
        tails = [_oa_blocks(a, spec_h, nfft, step, 0, nb, out)]
    else:
        # the groups transform their blocks while this thread transforms the kernel
        jobs = [_pool().submit(_oa_blocks, a, spec_h, nfft, step, b0, b1, out)
                for b0, b1 in groups]
        try:
            spec = _forward(h, nfft, real)
        except BaseException as exc:
            spec_h.set_exception(exc)
            for job in jobs:          # let every group stop before the error leaves
                job.exception()
            raise
        spec_h.set_result(spec)
        tails = [job.result() for job in jobs]
    for (_, b1), tail in zip(groups, tails):
        out[b1 * step:b1 * step + nfft - step] += tail
    return out[:n + m - 1]


def _oa_blocks(a, spec_h, nfft, step, b0, b1, out):
    """Blocks ``b0 .. b1 - 1`` of :func:`_oa_1d`: transform, multiply, transform back, add.

    ``spec_h`` is a :class:`~concurrent.futures.Future` of the kernel's
    spectrum: the blocks' forward transform does not wait for it.

    Writes ``out[b0 * step : b1 * step]`` (heads, plus the tails that fall
    inside) and returns the last block's tail, which belongs to the next
    group's range.
    """
    n = a.shape[0]
    rows = b1 - b0
    lo, hi = b0 * step, min(n, b1 * step)
    buf = np.zeros((rows, nfft), out.dtype)
    whole = (hi - lo) // step
    buf[:whole, :step] = a[lo:lo + whole * step].reshape(whole, step)
    if whole < rows:
        buf[whole, :hi - lo - whole * step] = a[lo + whole * step:hi]
    real = out.dtype.kind != "c"
    spec = _forward(buf, nfft, real, overwrite_x=True)
    spec *= spec_h.result()
    y = _inverse(spec, nfft, real)
    out[lo:b1 * step].reshape(rows, step)[...] = y[:, :step]
    if rows > 1:
        out[lo + step:b1 * step].reshape(rows - 1, step)[:, :nfft - step] += y[:-1, step:]
    return y[-1, step:]


_POOL = None


def _pool():
    """The threads that run :func:`_oa_1d`'s block groups (made on first use)."""
    global _POOL
    if _POOL is None:
        from concurrent.futures import ThreadPoolExecutor

        from .._config import _cpu_count
        _POOL = ThreadPoolExecutor(max_workers=_cpu_count(), thread_name_prefix="numbaconv-oa")
    return _POOL


def run(problem: Problem, a, k, *, workers: int):
    """Correlate ``a`` with ``k`` by overlap-add; plain FFT when blocking can't help."""
    p = plan(problem, workers)
    if p is None:
        return cpu_fft.run(problem, a, k, workers=workers)
    ax, nfft, threads, _ = p
    dtype = fft_result_dtype(a.dtype, k.dtype)
    a = cpu_fft.as_fft_input(a, dtype)
    h = cpu_fft.as_fft_input(cpu_fft.flip_axes(k, problem.axes), dtype)
    if h.shape[ax] > a.shape[ax]:
        a, h = h, a
    if batched_1d(a.ndim, h.shape[0], nfft):
        full = _oa_1d(a, h, nfft, threads, dtype)
    else:
        # broadcast axes: the blocked operand keeps its own sizes, fine for rfftn
        lengths = dict(zip(problem.axes, problem.window_fft_shape(real=dtype.kind != "c")))
        full = _overlap_add(a, h, ax, nfft, list(problem.axes), workers, dtype, lengths)
    return cpu_fft.window(full, problem)
