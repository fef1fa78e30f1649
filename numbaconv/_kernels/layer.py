"""The direct convolutional-layer kernel: an implicit GEMM in registers.

A layer sums over input channels *and* taps, and every output channel reads
the same input: a block of ``OUT_BLOCK`` output channels times one quarter
block of positions stays in vector registers while, for every (channel,
tap), one load of the input feeds ``OUT_BLOCK`` FMAs with broadcast weights
(AVX-512: 6 x 4 zmm accumulators; AVX2: 6 x 2 ymm).

Positions are flat: the input plane of each channel is one row of length
``L``, an output position ``q`` reads ``x[q + offset(tap)]``, and the
output row has the padded input's row width (its last ``d(k-1)`` columns
are not outputs and are dropped afterwards).  Strides become unit steps by
splitting the input into ``prod(stride)`` phase planes (``x[i::s]`` per
axis): a tap then reads one plane at a constant offset.  So 1-D, 2-D and
3-D layers, any stride, dilation and groups run through one kernel.
"""
from __future__ import annotations

import functools
import math

import numpy as np

from .._jit import jit
from .calls import run_items
from .layout import destination, per_channel
from .padding import phase_planes
from .simd import BLOCK_BYTES, lanes, quarter_fma_at, quarter_store_at, quarter_zeros

#: output channels per register block (each one a quarter block of accumulators)
OUT_BLOCK = 6
#: quarter blocks of positions per work item: enough to amortise the weight
#: panel, few enough that the item's input stays in L2
ITEM_BLOCKS = 2


_U1, _U2, _U3, _U4, _U5, _U6 = (np.uint64(i) for i in range(1, 7))


def quarter(dtype) -> int:
    """Positions per register block for ``dtype``."""
    return lanes(dtype, BLOCK_BYTES // 4)


def _body(xf, wt, out, dest, runs, scratch, bias, bases, x0, w0, o0, ch0, valid, cg, chan,
          taps, outputs, q_lo, q_hi, step):
    """One output block (six channels, the first at ``out[o0]``, channel ``ch0`` of
    ``bias``) over the flat positions ``[q_lo, q_hi)`` (multiples of ``step``).

    Every array is flat and addressed by absolute position: views made in the
    loops would each cost an atomic reference count, which threads contend
    for.  ``x0`` is where the group's first input channel starts in ``xf``
    (channels ``chan`` apart), ``w0`` where the block's contiguous weight panel
    starts in ``wt`` (six weights per channel and tap).  Each register block
    goes to ``scratch`` and from there to the positions ``dest`` names (``-1``:
    not an output), so no padded result is written: by runs of consecutive outputs
    (``runs[q]`` long from position ``q``), each a loop LLVM vectorises.  The bias is
    added on the way (a pass of its own over the result took as long as a depthwise
    layer).
    """
    for q0 in range(q_lo, q_hi, step):
        a0 = quarter_zeros(out)
        a1 = quarter_zeros(out)
        a2 = quarter_zeros(out)
        a3 = quarter_zeros(out)
        a4 = quarter_zeros(out)
        a5 = quarter_zeros(out)
        # unsigned weight positions: a signed index is tested for wrap-around on every load
        w = np.uint64(w0)
        for c in range(cg):
            xc = x0 + c * chan + q0
            for t in range(taps):
                at = xc + bases[t]
                quarter_fma_at(a0, wt[w], xf, at)
                quarter_fma_at(a1, wt[w + _U1], xf, at)
                quarter_fma_at(a2, wt[w + _U2], xf, at)
                quarter_fma_at(a3, wt[w + _U3], xf, at)
                quarter_fma_at(a4, wt[w + _U4], xf, at)
                quarter_fma_at(a5, wt[w + _U5], xf, at)
                w += _U6
        quarter_store_at(a0, scratch, 0)
        quarter_store_at(a1, scratch, step)
        quarter_store_at(a2, scratch, 2 * step)
        quarter_store_at(a3, scratch, 3 * step)
        quarter_store_at(a4, scratch, 4 * step)
        quarter_store_at(a5, scratch, 5 * step)
        for b in range(valid):
            row = o0 + b * outputs
            add = bias[ch0 + b]
            src = b * step
            j = 0
            while j < step:
                n = min(runs[q0 + j], step - j)
                if n == 0:                      # a padded column: not an output
                    j += 1
                    continue
                d = row + dest[q0 + j]
                for e in range(n):              # unsigned: no negative-index test
                    out[np.uint64(d + e)] = scratch[np.uint64(src + j + e)] + add
                j += n


_body_inline = jit(_body, inline=True)


@jit
def _tile(xf, wt, out, dest, runs, bias, bases, channels, out_ch, groups, chan, outputs, item,
          step, per_image, it):
    """Work item ``it``: one image's flat positions ``[q_lo, q_hi)``, all groups and blocks.

    ``xf`` holds ``batch * channels`` flat inputs of ``chan`` elements, ``out``
    ``batch * out_ch`` outputs of ``outputs``; ``dest`` maps each flat position
    to its output index or ``-1`` (``runs``: see :func:`destinations`); ``bias`` has
    one value per output channel; ``wt`` is the weight panels of every group and
    output block, one after the other.
    """
    cg = channels // groups
    og = out_ch // groups
    nblocks = (og + OUT_BLOCK - 1) // OUT_BLOCK
    taps = bases.shape[0]
    panel = cg * taps * OUT_BLOCK
    length = dest.shape[0]
    n = it // per_image
    q_lo = (it % per_image) * item
    q_hi = min(q_lo + item, length)
    scratch = np.empty(OUT_BLOCK * step, dtype=out.dtype)
    for g in range(groups):
        x0 = (n * channels + g * cg) * chan
        for b in range(nblocks):
            o0 = (n * out_ch + g * og + b * OUT_BLOCK) * outputs
            valid = min(OUT_BLOCK, og - b * OUT_BLOCK)
            _body_inline(xf, wt, out, dest, runs, scratch, bias, bases, x0,
                         (g * nblocks + b) * panel, o0, g * og + b * OUT_BLOCK, valid, cg, chan,
                         taps, outputs, q_lo, q_hi, step)


@functools.lru_cache(maxsize=256)
def plan(shape, kernel, stride, dilation):
    """The flat layout of a padded input ``shape``: phase planes and per-tap offsets.

    Returns
    -------
    phase_shape : tuple of int
        Per axis, ``ceil(n / s)``: the size of one phase plane.
    bases : ndarray of int64
        Per tap (row-major over ``kernel``), where it reads in the flattened
        planes of one channel: ``plane * plane_size + flat offset``.
    """
    phase_shape = tuple(-(-n // s) for n, s in zip(shape, stride))
    plane_size = math.prod(phase_shape)
    row = [math.prod(phase_shape[i + 1:]) for i in range(len(shape))]
    prow = [math.prod(stride[i + 1:]) for i in range(len(shape))]
    bases = []
    for tap in np.ndindex(*kernel):
        reach = [t * d for t, d in zip(tap, dilation)]
        plane = sum((r % s) * p for r, s, p in zip(reach, stride, prow))
        offset = sum((r // s) * w for r, s, w in zip(reach, stride, row))
        bases.append(plane * plane_size + offset)
    bases = np.asarray(bases, dtype=np.int64)
    bases.flags.writeable = False           # memoised: shared by every call of this shape
    return phase_shape, bases


@functools.lru_cache(maxsize=256)
def destinations(out_shape, phase_shape, length):
    """Per flat position (row widths of the phase plane), its flat output index or -1, and
    how many consecutive outputs start there (0 where it is not an output)."""
    grids = np.meshgrid(*[np.arange(m) for m in (out_shape[0],) + tuple(phase_shape[1:])],
                        indexing="ij")
    inside = np.ones(grids[0].shape, dtype=bool)
    for axis in range(1, len(out_shape)):
        inside &= grids[axis] < out_shape[axis]
    index = np.ravel_multi_index(tuple(np.minimum(gr, m - 1) for gr, m in zip(grids, out_shape)),
                                 out_shape)
    dest = np.full(length, -1, dtype=np.int64)
    dest[:inside.size] = np.where(inside, index, -1).ravel()
    valid = dest >= 0
    # a run ends where the next position is not the next output
    ends = valid & ~np.append(valid[1:] & (dest[1:] == dest[:-1] + 1), False)
    at = np.arange(length)
    last = np.minimum.accumulate(np.where(ends, at, length)[::-1])[::-1]
    runs = np.where(valid, last - at + 1, 0).astype(np.int64)
    for a in (dest, runs):
        a.flags.writeable = False           # memoised: shared by every call of this shape
    return dest, runs


def correlate(x, w, stride, dilation, groups, out_shape, threads, pairs=None, mode="zeros",
              out=None, bias=None):
    """The forward layer: ``(N, O, *out_shape)`` from ``x``, padded, and ``w``, plus ``bias``.

    Parameters
    ----------
    x : ndarray
        ``(N, C, *shape)``, float32 or float64.
    w : ndarray
        ``(O, C / groups, *kernel)`` of the same dtype.
    stride, dilation : tuple of int
    groups : int
    out_shape : tuple of int
        The spatial shape of the result.
    threads : int
        1 runs the serial kernel, more the parallel one.
    pairs : tuple of (int, int), optional
        The padding of each spatial axis (default none), in torch's ``mode``.
    out : ndarray, optional
        ``(N, O, *out_shape)``: written and returned when it is C-contiguous
        of ``x``'s dtype (:func:`numbaconv._kernels.layout.destination`).
    bias : ndarray, optional
        ``(O,)``, added to every output of its channel (default none).
    """
    n = x.ndim - 2
    pairs = tuple(pairs) if pairs else ((0, 0),) * n
    padded = tuple(z + lo + r for z, (lo, r) in zip(x.shape[2:], pairs))
    batch = x.shape[0]
    out_ch, cg = w.shape[:2]
    kernel = w.shape[2:]
    dtype = x.dtype
    og = out_ch // groups
    nblocks = -(-og // OUT_BLOCK)
    phase_shape, bases = plan(padded, tuple(kernel), tuple(stride), tuple(dilation))
    step = quarter(dtype)
    span = out_shape[0] * math.prod(phase_shape[1:])     # flat positions with outputs
    length = -(-span // step) * step
    flat = phase_planes(x, pairs, mode, stride, phase_shape,
                        max(int(bases.max()) + length, math.prod(stride) * math.prod(phase_shape)),
                        threads)
    taps = bases.shape[0]
    # (group, output block, channel x tap, 6): one block's panel is contiguous (L1-resident)
    wt = np.zeros((groups, nblocks * OUT_BLOCK, cg * taps), dtype=dtype)
    wt[:, :og] = w.reshape(groups, og, cg * taps)
    wt = np.ascontiguousarray(
        wt.reshape(groups, nblocks, OUT_BLOCK, cg * taps).transpose(0, 1, 3, 2))
    outputs = math.prod(out_shape)
    result = destination(out, (batch, out_ch) + tuple(out_shape), dtype)
    if batch and result.size:
        dest, runs = destinations(tuple(out_shape), phase_shape, length)
        # work items: (image, range of flat positions), every group and output block
        item = step * ITEM_BLOCKS
        per_image = -(-dest.shape[0] // item)
        run_items(_tile, (flat.reshape(-1), wt.reshape(-1), result.reshape(-1), dest, runs,
                          per_channel(bias, out_ch, dtype),
                          bases, x.shape[1], out_ch, groups, flat.shape[2], outputs, item, step,
                          per_image), batch * per_image, threads)
    return result
