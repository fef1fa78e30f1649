"""Separable 2-D correlation: a rank-1 kernel as two 1-D passes.

A kernel ``K = u v^T`` (numerically: its second singular value is below the
dtype's rounding level times the first) is applied as a pass of ``v`` along
the rows followed by a pass of ``u`` along the columns, fused per tile
(:func:`_fused_item`): the row pass (:mod:`cpu_direct`'s register blocks)
fills a ring of rows that stays in L2, and the column pass reads it there.
That costs ``kh + kw`` multiply-adds per output instead of ``kh * kw``.
Complex kernels run the two passes with :func:`cpu_direct.corr2d`.  Zero fill
factors exactly (the region outside the signal is a product region); other
boundaries are padded first.
Integers never take this path: the factors are not integers.
"""
from __future__ import annotations

import math

import numpy as np
from .. import _coefficients as coef
from .._config import resolve_workers, thread_count
from .._jit import jit
from .._kernels.blocks import (NACC, phase_slowdown, row_edges, short_slowdown, store_block, taps,
                               zero_block)
from .._kernels.calls import run_items
from .._kernels.layout import destination, pad_boundary, parallel_pays, streams, work_dtype
from .._kernels.simd import (BLOCK_BYTES, LINE_BYTES, flat, lanes, prefetch_at,
                             quarter_fma_at, quarter_put_at, quarter_zeros, store_fence,
                             vec_zeros)
from .._probes import separable_factors
from .._problem import Problem
from . import cpu_direct

NAME = "cpu_separable"
DEVICE = "cpu"
METHOD = "separable"
#: run() takes the caller's ``out=`` and writes the result there (see :func:`run`)
WRITES_OUT = True


def available() -> bool:
    return True


def supports(problem: Problem) -> bool:
    return (problem.device == "cpu" and problem.separable and problem.ndim == 2
            and problem.all_axes and problem.kind in "fc"
            and problem.dtype not in (np.dtype(np.longdouble), np.dtype(np.clongdouble)))


def cost(problem: Problem, workers=None) -> float:
    """Two passes fused: ``kw`` taps over (H, OW), then ``kh`` taps over (OH, OW)."""
    c = coef.coefficients()
    H = problem.shape_a[0]
    (OH, OW), (kh, kw) = problem.out_shape, problem.shape_k
    key = coef.direct_key(problem.dtype)
    mac = c["direct_mac"][key]
    item = work_dtype(problem.dtype).itemsize
    row = H * OW * kw * mac * phase_slowdown(c, key, kw) * short_slowdown(c, kw)
    col = OH * OW * kh * mac                  # kh rows, four output rows per load
    # one fused pass: the row pass's results stay in cache, and the streams overlap the
    # arithmetic as the direct kernel's do
    stream = ((math.prod(problem.shape_a) + problem.outputs) * item * c["pass_byte"]
              * c["direct_stream"])
    threads = _threads(problem.out_shape, problem.shape_k, item, resolve_workers(workers))
    return (2 * c["direct_overhead"]
            + ((row + col) * c["separable_slowdown"] + stream) / coef.effective_threads(threads))


def _threads(out_shape, shape_k, itemsize, workers) -> int:
    """``workers``, or 1 where the two passes' multiply-adds do not pay for a launch
    (:func:`numbaconv._kernels.layout.parallel_pays`)."""
    macs = math.prod(out_shape) * sum(shape_k)
    return workers if workers > 1 and parallel_pays(macs, itemsize) else 1


def memory(problem: Problem, workers=None) -> int:
    """Predicted peak bytes of :func:`run`.

    The output, a copy of the signal in the work dtype (padded for other
    boundaries), and each thread's ring of row-pass results (complex: the
    row pass's whole result instead).
    """
    wt = work_dtype(problem.dtype)
    item = wt.itemsize
    (H, W), (kh, _), (OH, OW) = problem.shape_a, problem.shape_k, problem.out_shape
    signal = H * W
    if not problem.zero_fill:
        signal += math.prod(m + k - 1 for m, k in zip(problem.out_shape, problem.shape_k))
    if not lanes(wt):
        rows = (H if problem.zero_fill else OH + kh - 1) * OW
    else:
        threads = resolve_workers(workers)
        stride = _split(OH, OW, kh, item, threads)[2]
        rows = threads * ((kh + COL_ROWS - 1) * stride + LINE_BYTES // item)
    return int((problem.outputs + signal + rows + sum(problem.shape_k)) * item)


# --------------------------------------------------------------------------
# fused kernel: the row pass of a band of rows stays in cache for the column pass
# --------------------------------------------------------------------------

@jit(inline=True)
def _row_pass(af, a0, W, v, rf, d0, cw, c0, ox, pf0, prefetch, seg):
    """``rf[d0 + j] = sum_q v[q] * af[a0 + c0 + j + ox + q]`` for ``j < cw``, zero outside
    the input row ``af[a0 : a0 + W]``.

    Rows are flat offsets, not views, and the pass is inlined: a view's (and a
    call's array arguments') reference counts cost more than a short row's
    blocks.  A row whose windows leave the input is first copied, zero-padded,
    into ``seg`` (``cw + len(v) - 1`` elements, in L1), so that every column
    runs in register blocks: the bounds-checked edge columns cost more than
    the row's blocks (256 rows of 256 float32, 15 taps: 278 us with the
    edges, 95 us for the interior alone).  The factors of a separable kernel
    are finite, so the zeros add nothing.  With ``prefetch``, the same columns
    of the row at ``af[pf0:]`` (read soon) are prefetched block by block."""
    kw = v.shape[0]
    nl = NACC * vec_zeros(rf).shape[0]
    pl = max(1, LINE_BYTES // rf.itemsize)
    s0 = c0 + ox                          # where output 0's window starts in the row
    lo = min(max(0, -s0), cw)
    hi = max(min(cw, W - kw + 1 - s0), lo)
    src = af
    base = a0 + s0
    if (lo > 0 or hi < cw) and cw >= nl:
        n = cw + kw - 1
        i0 = min(max(0, -s0), n)          # seg[i] = row[s0 + i] for i in [i0, i1)
        i1 = max(min(n, W - s0), i0)
        zero = rf.dtype.type(0)
        for i in range(i0):               # unsigned: no negative-index test
            seg[np.uint64(i)] = zero
        for i in range(i0, i1):
            seg[np.uint64(i)] = af[np.uint64(base + i)]
        for i in range(i1, n):
            seg[np.uint64(i)] = zero
        src = seg
        base = 0
        lo, hi = 0, cw
    if hi - lo >= nl:
        j = lo
        while True:
            b0, b1, b2, b3, b4, b5, b6, b7 = zero_block(rf)
            taps(src, v, 0, kw, base + j, b0, b1, b2, b3, b4, b5, b6, b7)
            if prefetch:
                for t in range(0, nl, pl):
                    prefetch_at(af, pf0 + s0 + j + t)
            store_block(rf, d0 + j, b0, b1, b2, b3, b4, b5, b6, b7)
            if j == hi - nl:
                break
            j = min(j + nl, hi - nl)
    else:
        hi = lo                           # too short for a block: all scalar
    if lo > 0 or hi < cw:
        dst = rf[d0:d0 + cw]
        for j in range(0, lo):
            dst[j] = 0
        for j in range(hi, cw):
            dst[j] = 0
        row_edges(dst, af, a0, W, v, 0, kw, 0, lo, s0)    # bounds-checked edges
        row_edges(dst, af, a0, W, v, 0, kw, hi, cw, s0)


#: output rows per column-pass step of :func:`_col_pass4`
COL_ROWS = 4


@jit
def _col_pass4(rf, stride, nring, cw, s0, u, of, OW, r, c0, stream):
    """``out[r + i, c0 + j] = sum_p u[p] * ring[(s0 + i + p) % nring, j]`` for the four
    output rows ``i < 4`` and ``j < cw``; ``rf``: the ring's rows, ``stride`` apart,
    flat; ``of``: the output (rows of ``OW``), flat.  With ``stream``, blocks that start
    on a 64-byte boundary are stored past the caches (:func:`quarter_put_at`).

    Output row ``r + i`` needs ring rows ``s0 + i .. s0 + i + kh - 1``: each
    of the ``kh + 3`` ring rows is loaded once and feeds up to four
    accumulators (quarter blocks, 16 registers in all), so the pass makes
    about one load per four FMAs where row by row it made one per FMA.
    Rows are flat offsets, not views: a view's reference count is a call,
    which spilled the sixteen accumulators on every ring row.
    Callers guarantee ``kh >= 3`` and ``cw`` of at least a quarter block.
    """
    kh = u.shape[0]
    nl = quarter_zeros(of).shape[0]
    o0, o1, o2, o3 = r * OW + c0, (r + 1) * OW + c0, (r + 2) * OW + c0, (r + 3) * OW + c0
    j = 0
    while True:
        a0 = quarter_zeros(of)
        a1 = quarter_zeros(of)
        a2 = quarter_zeros(of)
        a3 = quarter_zeros(of)
        # ring rows s0, s0 + 1, s0 + 2: before output r + 3's first tap (straight-line:
        # branches in this loop cost more than its FMAs for kh ~ 15)
        row = s0 * stride + j
        quarter_fma_at(a0, u[0], rf, row)
        row = (s0 + 1) % nring * stride + j
        quarter_fma_at(a0, u[1], rf, row)
        quarter_fma_at(a1, u[0], rf, row)
        row = (s0 + 2) % nring * stride + j
        quarter_fma_at(a0, u[2], rf, row)
        quarter_fma_at(a1, u[1], rf, row)
        quarter_fma_at(a2, u[0], rf, row)
        slot = (s0 + 3) % nring
        for i in range(3, kh):                      # rows every output uses
            row = slot * stride + j
            quarter_fma_at(a0, u[i], rf, row)
            quarter_fma_at(a1, u[i - 1], rf, row)
            quarter_fma_at(a2, u[i - 2], rf, row)
            quarter_fma_at(a3, u[i - 3], rf, row)
            slot = slot + 1 if slot + 1 < nring else 0
        # ring rows s0 + kh .. s0 + kh + 2: past output r's last tap
        row = slot * stride + j
        quarter_fma_at(a1, u[kh - 1], rf, row)
        quarter_fma_at(a2, u[kh - 2], rf, row)
        quarter_fma_at(a3, u[kh - 3], rf, row)
        row = (slot + 1) % nring * stride + j
        quarter_fma_at(a2, u[kh - 1], rf, row)
        quarter_fma_at(a3, u[kh - 2], rf, row)
        row = (slot + 2) % nring * stride + j
        quarter_fma_at(a3, u[kh - 1], rf, row)
        quarter_put_at(a0, of, o0 + j, stream)
        quarter_put_at(a1, of, o1 + j, stream)
        quarter_put_at(a2, of, o2 + j, stream)
        quarter_put_at(a3, of, o3 + j, stream)
        if j == cw - nl:
            break
        j = min(j + nl, cw - nl)


@jit
def _fused_item(a, v, u, out, oy, ox, nb, stride, prefetch, stream, ncx, item):
    """Band ``item // ncx`` of the ``nb`` bands of output rows x column chunk ``item % ncx``
    of the ``ncx`` chunks, of the separable result.

    The row pass of input row ``y`` goes to slot ``y % nring`` of a ring of
    ``nring = kh + 3`` rows; output rows ``r .. r + 3`` then need the ring
    rows of ``y = r + oy ... r + oy + kh + 2``, read from cache by the
    column pass four output rows at a time, so the intermediate never
    reaches memory.  A band's last group is moved back to end at the band's
    end (it recomputes up to three rows, to the same values), so every group
    has four rows: :func:`_split` makes bands of at least four rows and
    chunks of at least a quarter block.  Ring rows are ``stride`` elements
    apart (:func:`_ring_stride`).  ``prefetch``: the input comes from memory,
    and the row pass prefetches the row it reads two rows later.
    """
    kh = u.shape[0]
    OH, OW = out.shape
    b = item // ncx
    cx = item - b * ncx
    r0 = b * OH // nb                     # proportional splits: no short last band or chunk
    r1 = (b + 1) * OH // nb
    c0 = cx * OW // ncx
    cw = (cx + 1) * OW // ncx - c0
    nring = kh + COL_ROWS - 1
    # rows aligned to cache lines (the stride is whole lines): a vector load that
    # straddles two lines costs two, and the column pass is one load per two FMAs
    per_line = LINE_BYTES // out.itemsize
    seg = np.empty(cw + v.shape[0] - 1, out.dtype)   # a padded row (_row_pass)
    raw = np.empty(nring * stride + per_line, out.dtype)
    skip = (-raw.ctypes.data % LINE_BYTES) // out.itemsize
    rf = raw[skip:skip + nring * stride]
    H, W = a.shape
    af = flat(a)          # borrowed views: no reference count per item
    of = flat(out)
    y_next = r0 + oy                      # first input row not yet in the ring
    r = r0
    while r < r1:
        r = min(r, r1 - COL_ROWS)
        while y_next <= r + COL_ROWS - 1 + oy + kh - 1:
            d0 = y_next % nring * stride       # Python's % is non-negative for nring > 0
            if 0 <= y_next < H:
                _row_pass(af, y_next * W, W, v, rf, d0, cw, c0, ox, min(y_next + 2, H - 1) * W,
                          prefetch, seg)
            else:
                for j in range(cw):
                    rf[d0 + j] = 0
            y_next += 1
        _col_pass4(rf, stride, nring, cw, (r + oy) % nring, u, of, OW, r, c0, stream)
        r += COL_ROWS
    if stream:
        store_fence()


#: bytes of one ring row (a column chunk), and of the whole ring at most: the ring
#: stays in L2 (a 1 MiB L2 was measured; docs/performance.md)
RING_ROW_BYTES = 32768
RING_BYTES = 640 * 1024

#: inputs of at least this many bytes (beyond the last-level cache) come from memory,
#: and the row pass prefetches its row two ahead.  An output of its own is written with
#: plain stores (its just-zeroed pages are in cache); the caller's ``out=`` of at least
#: :data:`~numbaconv._kernels.simd.STREAM_MIN_BYTES`, which comes from memory, past the
#: caches (a plain store reads the line it writes)
PREFETCH_MIN_BYTES = 32 << 20

#: L1 geometry the ring stride is chosen for (with :data:`LINE_BYTES`): bytes one way
#: of the cache spans (sets x line; 32 KiB 8-way and 48 KiB 12-way L1s both have 4 KiB)
WAY_BYTES = 4096


def _ring_stride(chunk: int, itemsize: int) -> int:
    """Elements between ring rows: at least ``chunk``, an odd number of cache lines.

    The column pass reads the same columns of all ``kh + 3`` ring rows one
    after another.  Rows a multiple of :data:`WAY_BYTES` apart (any width of
    1024 float32) fall into the same L1 sets, more of them than the cache has
    ways, and evict each other; an odd number of lines puts each row's
    columns in a different set.
    """
    per_line = LINE_BYTES // itemsize
    lines = -(-chunk // per_line)
    return (lines | 1) * per_line


def _tiles(OH, OW, kh, itemsize, workers):
    """(bands, chunks): ring rows of about RING_ROW_BYTES; bands tall enough (16 kh) to
    amortise the kh-1 rows each band recomputes, and enough tiles for every thread."""
    nring = kh + COL_ROWS - 1
    chunk = max(64, min(RING_ROW_BYTES, RING_BYTES // nring) // itemsize)
    ncx = -(-OW // chunk)
    band = max(16 * kh, 64)
    while band > 8 and -(-OH // band) * ncx < 4 * workers:
        band //= 2
    return -(-OH // band), ncx


def _split(OH, OW, kh, itemsize, workers):
    """:func:`_tiles`, clamped to what :func:`_fused_item` needs (bands of at least
    :data:`COL_ROWS` rows, chunks of at least a quarter block; ``OH >= COL_ROWS`` and
    ``OW >= quarter_lanes(itemsize)``, which :func:`run` checks), and the ring stride:
    ``(bands, chunks, stride)``."""
    nb, ncx = _tiles(OH, OW, kh, itemsize, workers)
    nb = max(1, min(nb, OH // COL_ROWS))
    ncx = max(1, min(ncx, OW // quarter_lanes(itemsize)))
    return nb, ncx, _ring_stride(-(-OW // ncx), itemsize)


def quarter_lanes(itemsize: int) -> int:
    """Elements of one quarter block (the column pass's accumulator) of ``itemsize`` bytes."""
    return BLOCK_BYTES // 4 // itemsize


def run(problem: Problem, a, k, *, workers: int, out=None):
    """Correlate ``a`` with the rank-1 ``k``: fused row and column passes.

    ``out`` (``problem.out_shape``, sharing no memory with ``a`` or ``k``)
    receives the result when it is C-contiguous in the work dtype, and is
    returned; otherwise a new array is.
    """
    factors = separable_factors(k)
    if factors is None:  # not separable after all: direct is always right
        return cpu_direct.run(problem, a, k, workers=workers, out=out)
    u, v = factors
    wt = work_dtype(problem.dtype)
    OH, OW = problem.out_shape
    if lanes(wt) and (len(u) < 3 or OH < COL_ROWS or OW < quarter_lanes(wt.itemsize)):
        # shorter than the column pass's register blocks: the direct kernel is as good
        return cpu_direct.run(problem, a, k, workers=workers, out=out)
    a = np.ascontiguousarray(a, dtype=wt)
    if problem.zero_fill:
        oy, ox = problem.offsets
    else:
        a, (oy, ox) = pad_boundary(a, problem, thread_count(workers))
        a = np.ascontiguousarray(a)
    given = out
    out = destination(out, (OH, OW), wt)
    if out.size == 0:
        return out
    u = np.ascontiguousarray(u, wt)
    v = np.ascontiguousarray(v, wt)
    # run_items sets Numba's threads for the parallel kernels: setting them here too cost
    # 3-5 µs a call
    workers = _threads(out.shape, (len(u), len(v)), out.itemsize, workers)
    if not lanes(wt):  # complex: no register blocks, two passes of the 2-D kernel
        tmp = np.empty((a.shape[0], OW), wt)
        cpu_direct.corr2d(a, v[None, :], tmp, 0, ox, workers)
        cpu_direct.corr2d(tmp, np.ascontiguousarray(u[:, None]), out, oy, 0, workers)
        return out
    nb, ncx, stride = _split(OH, OW, len(u), out.itemsize, workers)
    prefetch = a.nbytes >= PREFETCH_MIN_BYTES
    stream = streams(out, given)       # the caller's only: its own pages are in cache
    run_items(_fused_item, (a, v, u, out, oy, ox, nb, stride, prefetch, stream, ncx), nb * ncx,
              workers)
    return out
