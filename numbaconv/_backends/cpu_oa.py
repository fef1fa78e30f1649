"""Overlap-add correlation on the CPU.

The longer operand is cut into blocks along the axis where it is longest
relative to the other operand.  The blocks are transformed as one batch by
:mod:`scipy.fft` with ``workers`` threads (so the blocks run in parallel), the
other operand's spectrum is computed once per call, and the blocks' tails
are added back with strided views.  Other correlated axes are transformed at
full length.  The block length minimises ``N log N / (N - K)`` per output,
the classic optimum ``N = -K W_{-1}(-1 / (2 e K))`` for overlap ``K``.
"""
from __future__ import annotations

import math

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


def block_length(n: int, m: int):
    """FFT length for blocking a length-``n`` signal against ``m`` taps, or None.

    None means one block would cover everything: plain FFT is then as good.
    """
    if m <= 1 or n == m or 2 * m >= n:
        return None
    overlap = m - 1
    opt = -overlap * lambertw(-1 / (2 * math.e * overlap), k=-1).real
    nfft = sp_fft.next_fast_len(math.ceil(opt), True)
    if nfft >= n:
        return None
    return nfft


def plan(problem: Problem):
    """(axis, fft length) of the blocking, or None to fall back to plain FFT."""
    best = None
    for ax in problem.axes:
        n, m = problem.shape_a[ax], problem.shape_k[ax]
        if m > n:
            n, m = m, n
        nfft = block_length(n, m)
        if nfft is not None and (best is None or n / m > best[2]):
            best = (ax, nfft, n / m)
    return None if best is None else best[:2]


def _overlap_add(a, h, ax, nfft, axes, workers, dtype):
    """Full convolution of ``a`` (the longer along ``ax``) with ``h``."""
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
    shape = [blocks.shape[x] + h.shape[x] - 1 for x in baxes[:-1]]
    if dtype.kind == "c":
        fshape = [sp_fft.next_fast_len(s, False) for s in shape] + [nfft]
        fwd, inv = sp_fft.fftn, sp_fft.ifftn
    else:
        fshape = [sp_fft.next_fast_len(s, True) for s in shape] + [nfft]
        fwd, inv = sp_fft.rfftn, sp_fft.irfftn
    spec = fwd(blocks, fshape, axes=baxes, workers=workers) * fwd(h, fshape, axes=baxes,
                                                                  workers=workers)
    y = inv(spec, fshape, axes=baxes, workers=workers, overwrite_x=True)
    # crop the other correlated axes to their full length
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


def run(problem: Problem, a, k, *, workers: int):
    """Correlate ``a`` with ``k`` by overlap-add; plain FFT when blocking can't help."""
    p = plan(problem)
    if p is None:
        return cpu_fft.run(problem, a, k, workers=workers)
    ax, nfft = p
    dtype = fft_result_dtype(a.dtype, k.dtype)
    a = cpu_fft.as_fft_input(a, dtype)
    h = cpu_fft.as_fft_input(cpu_fft.flip_axes(k, problem.axes), dtype)
    if h.shape[ax] > a.shape[ax]:
        a, h = h, a
    # broadcast axes: the blocked operand keeps its own sizes, fine for rfftn
    full = _overlap_add(a, h, ax, nfft, list(problem.axes), workers, dtype)
    return cpu_fft.window(full, problem)
