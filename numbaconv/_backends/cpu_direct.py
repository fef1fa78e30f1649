"""Direct (gather) correlation on the CPU with Numba.

Every output element is owned by exactly one parallel iteration.  Work items
are (output row, column chunk) pairs, so a 1-D signal (one long row) and a
2-D image (many rows) both spread over every core.  Real floats and int64
keep blocks of 8 vectors of outputs in registers while every tap is added
(:func:`numbaconv._kernels.blocks.taps`: taps by phase, the input vectors shared between the taps of
a phase); other types add eight taps at a time to a run of outputs
(:func:`numbaconv._kernels.blocks.row_accumulate`), which LLVM vectorises over the run.  Output columns whose window
leaves the signal (the edges) take a bounds-checked scalar loop; rows of the
kernel that fall outside the signal are skipped, which is zero fill.  Other
boundaries (and a non-zero fill value) are materialised by padding first.

Arithmetic types: float32 stays float32, float16 is computed in float32,
every integer type (and bool) in int64 -- products wrap modulo 2**64 and the
final cast wraps to the result dtype, which equals SciPy's per-step wrapping
because reduction modulo 2**n is a ring homomorphism.  Ranks above two are
zero-padded into 'valid' form and run through the same row kernel with
precomputed row offsets.
"""
from __future__ import annotations

import dataclasses
import functools
import math

import numpy as np
from .. import _coefficients as coef
from .._config import resolve_workers, thread_count
from .._jit import jit
from .._kernels.blocks import (NACC, VEC_REGISTERS, block_width, dot_run, phase_slowdown,
                               row_accumulate, rows_slowdown, short_slowdown, store_block, taps,
                               zero_block)
from .._kernels.calls import run_items
from .._kernels.layout import (PARALLEL_MIN_BYTES, as_work, boundary_pads, chunk_for,
                               destination, pad_boundary, parallel_pays, streams,
                               work_dtype)
from .._kernels.simd import (BLOCK_BYTES, VEC_BYTES, address_of, flat, lanes,
                             quarter_fma_at, quarter_load_at, quarter_put_at, quarter_store_at,
                             quarter_zeros, row, store_fence, tap_at, vec_fma_at, vec_store_at,
                             vec_zeros)
from .._problem import Problem

NAME = "cpu_direct"
DEVICE = "cpu"
METHOD = "direct"
#: run() and prepare()'s callable take the caller's ``out=`` (see :func:`run`)
WRITES_OUT = True


def available() -> bool:
    return True


def supports(problem: Problem) -> bool:
    return (problem.device == "cpu" and problem.kind in "biufc" and len(problem.axes) > 0
            and problem.dtype not in (np.dtype(np.longdouble), np.dtype(np.clongdouble)))


def cost(problem: Problem, workers=None) -> float:
    """Predicted seconds: multiply-adds at the long-row rate, slowed for short or many rows,
    plus one sequential read and write (which the prefetcher mostly overlaps)."""
    c = coef.coefficients()
    kw = problem.shape_k[-1] if problem.ndim else 1
    key = coef.direct_key(problem.dtype)
    item = work_dtype(problem.dtype).itemsize
    stream = ((math.prod(problem.shape_a) + problem.outputs) * item * c["pass_byte"]
              * c["direct_stream"])
    if _takes_quads(problem):       # four rows per step: each input row's overhead over kw taps
        slowdown = 1.0 + c[_quad_key(problem.shape_k)] / kw
    elif key in ("c8", "c16"):
        # complex rows add eight taps at a time to an array run (no register blocks): short
        # and many-row kernels cost no more a product than the long rows the rate is fitted
        # on (1.7-2.4e-10 s against 2.6e-10 for 64 taps, complex128, 2-D 3x3-15x15 and 1-D
        # 7-31 taps), where the block kernels' slow-downs priced 512² 7x7 at 1.8x its time
        slowdown = 1.0
    else:
        slowdown = (phase_slowdown(c, key, kw) * short_slowdown(c, kw)
                    * rows_slowdown(c, problem.shape_k))
    compute = _computed_macs(problem, workers) * c["direct_mac"][key] * slowdown
    threads = workers if _runs_parallel(problem, workers) else 1
    return c["direct_overhead"] + (compute + stream) / coef.effective_threads(threads)


def _quad_key(shape_k) -> str:
    """The coefficient of the four-row slow-down of ``shape_k``'s item (:func:`quads_item`)."""
    kh, kw = shape_k
    if quads_item(kw, kh) is _QUAD_SQUARE_ITEMS.get(kw):
        return "direct_quad_square"
    return "direct_quad_unrolled" if kw in QUAD_WIDTHS else "direct_quad"


def _runs_parallel(problem: Problem, workers=None) -> bool:
    """Whether :func:`run` takes the parallel kernel for ``problem`` (below
    :func:`numbaconv._kernels.layout.parallel_pays`'s threshold it runs on one thread)."""
    if problem.ndim in (1, 2) and problem.zero_fill and problem.all_axes:
        return _layout_of(problem, resolve_workers(workers))[3] > 1
    return parallel_pays(problem.macs, work_dtype(problem.dtype).itemsize)


def _computed_macs(problem: Problem, workers=None) -> float:
    """``problem.macs``, or where the 2-D kernel runs the edge columns in blocks (it
    zero-pads the columns first, or the four-row kernel copies them padded:
    :func:`_corr2d_layout`), the multiply-adds it then runs: every output column takes
    every tap (256² 'full' with a 63x63 kernel: 1.24x the products inside the signal)."""
    if (problem.ndim not in (1, 2) or not problem.zero_fill or not problem.all_axes
            or problem.outputs == 0):
        return problem.macs
    if _takes_quads(problem):
        pad_lo, pad_hi = _edge_widths(*_as_rows(problem), problem.offsets[-1])
    else:
        pad_lo, pad_hi, _, _ = _layout_of(problem, workers)
    cols = problem.macs_along(problem.ndim - 1)
    if not (pad_lo or pad_hi) or not cols:
        return problem.macs
    return problem.macs / cols * problem.out_shape[-1] * problem.shape_k[-1]


def _as_rows(problem: Problem) -> tuple:
    """``(shape_a, shape_k, out_shape)`` of a 1-D or 2-D problem as 2-D (1-D: one row)."""
    lead = (1,) * (2 - problem.ndim)
    return tuple(lead + tuple(s) for s in (problem.shape_a, problem.shape_k, problem.out_shape))


def _layout_of(problem: Problem, workers=None) -> tuple:
    """:func:`_corr2d_layout` of a 1-D or 2-D zero-fill problem:
    ``(pad_lo, pad_hi, chunk, threads)``."""
    wt = work_dtype(problem.dtype)
    return _corr2d_layout(*_as_rows(problem), problem.offsets[-1], wt.itemsize, workers or 1,
                          block_width(wt))


def _takes_quads(problem: Problem) -> bool:
    """Whether :func:`_corr2d` runs ``problem`` four output rows per step (:func:`_item_quads`)."""
    if problem.ndim != 2 or not problem.all_axes:
        return False
    return bool(quad_lanes(problem.shape_k[0], problem.out_shape, work_dtype(problem.dtype)))


def quad_lanes(kh, out_shape, dtype) -> int:
    """Lanes of :func:`_item_quads`'s quarter blocks where it runs a kernel of ``kh`` rows
    into ``out_shape`` (2-D) in ``dtype``, else 0: enough kernel rows, four output rows
    and two quarter blocks of columns, and register blocks for the dtype."""
    quarter = lanes(dtype, BLOCK_BYTES // 4)
    OH, OW = out_shape
    ok = quarter and kh >= QUAD_MIN_ROWS and OH >= QUAD_ROWS and OW >= 2 * quarter
    return quarter if ok else 0


def memory(problem: Problem, workers=None) -> int:
    """Predicted peak bytes of :func:`run`.

    The output in the work dtype, copies of both inputs in it (flipped
    kernels and casts), the padded signal where the kernel reads one, and
    the cast of the output to the result dtype.
    """
    item = work_dtype(problem.dtype).itemsize
    peak = (problem.outputs + math.prod(problem.shape_a) + math.prod(problem.shape_k)) * item
    if not problem.all_axes:          # one correlation per broadcast index, each one's copies
        return int(peak + problem.outputs * (item + problem.dtype.itemsize))
    offs = problem.offsets
    lo = [max(0, -o) for o in offs]
    hi = [max(0, o + m + k - 1 - n) for o, m, k, n in
          zip(offs, problem.out_shape, problem.shape_k, problem.shape_a)]
    if not problem.zero_fill or problem.ndim > 2:
        padded = math.prod(n + a + b for n, a, b in zip(problem.shape_a, lo, hi))
    else:                              # the 2-D kernel pads columns only, when it pays
        rows, cols = _as_rows(problem)[0]
        pad_lo, pad_hi, _, _ = _layout_of(problem, workers)
        padded = rows * (cols + pad_lo + pad_hi) if pad_lo or pad_hi else 0
    result = problem.outputs * problem.dtype.itemsize if item != problem.dtype.itemsize else 0
    return int(peak + padded * item + result)


# --------------------------------------------------------------------------
# kernels
# --------------------------------------------------------------------------


@jit
def _edge_columns(of, o, af, W, kf, kw, y, p0, p1, c0, lo, hi, c1, ox):
    """Fill the edge columns ``[c0, lo)`` and ``[hi, c1)`` (bounds-checked) of the output
    row at ``of[o:]`` whose window starts at input row ``y``, kernel rows ``[p0, p1)``;
    ``of``, ``af``, ``kf``: the flat output, input (rows of ``W``) and kernel (rows of
    ``kw``).  Runs of up to four taps are summed in line; longer ones in four partial
    sums (:func:`numbaconv._kernels.blocks.dot_run`)."""
    for side in range(2):
        e0, e1 = (c0, lo) if side == 0 else (hi, c1)
        for c in range(e0, e1):
            x = c + ox
            q0 = max(0, -x)
            q1 = min(kw, W - x)
            acc = of.dtype.type(0)
            if q1 - q0 > 4:
                for p in range(p0, p1):
                    acc = dot_run(kf, p * kw + q0, af, (y + p) * W + x + q0, q1 - q0, acc)
            elif q1 > q0:
                for p in range(p0, p1):
                    s0 = (y + p) * W + x
                    for q in range(q0, q1):
                        acc += tap_at(kf, p * kw + q) * tap_at(af, s0 + q)
            of[o + c] = acc


@jit
def _item_rows(a, k, out, oy, ox, chunk, ncx, stream, item):
    """One work item (output row ``item // ncx``, one column chunk), array accumulator
    (plain stores whatever ``stream`` says: only the four-row item streams)."""
    H, W = a.shape
    kh, kw = k.shape
    r = item // ncx
    c0 = (item - r * ncx) * chunk
    c1 = min(c0 + chunk, out.shape[1])
    orow = row(out, r)
    lo = min(max(-ox, c0), c1)                 # first column whose window starts inside a
    hi = max(min(W - kw + 1 - ox, c1), lo)     # one past the last whose window ends inside
    y = r + oy
    p0 = max(0, -y)
    p1 = min(kh, H - y)
    for c in range(lo, hi):
        orow[c] = 0
    if lo < hi:
        for p in range(p0, p1):
            row_accumulate(orow[lo:hi], row(a, y + p)[lo + ox:], row(k, p))
    _edge_columns(flat(out), r * out.shape[1], flat(a), W, flat(k), kw, y, p0, p1, c0, lo, hi,
                  c1, ox)



@jit
def _item_blocks(a, k, out, oy, ox, chunk, ncx, stream, item):
    """:func:`_item_rows` with register blocks: every tap added to W outputs in registers.

    The interior run ``[lo, hi)`` is covered by blocks of W outputs; the last
    block is moved back to end at ``hi`` (it recomputes a few outputs, to the
    same values), so no scalar tail is left.  Runs shorter than W take one
    vector at a time, runs shorter than a vector the bounds-checked edge loop.
    """
    H, W = a.shape
    kh, kw = k.shape
    r = item // ncx
    c0 = (item - r * ncx) * chunk
    c1 = min(c0 + chunk, out.shape[1])
    orow = row(out, r)        # borrowed views: no reference count per item
    lo = min(max(-ox, c0), c1)
    hi = max(min(W - kw + 1 - ox, c1), lo)
    y = r + oy
    p0 = max(0, -y)
    p1 = min(kh, H - y)
    nv = vec_zeros(orow).shape[0]
    nl = NACC * nv
    af = flat(a)
    kf = flat(k)
    if hi - lo >= nl:
        c = lo
        while True:
            a0, a1, a2, a3, a4, a5, a6, a7 = zero_block(orow)
            for p in range(p0, p1):
                taps(af, kf, p * kw, kw, (y + p) * W + c + ox, a0, a1, a2, a3, a4, a5, a6, a7)
            store_block(orow, c, a0, a1, a2, a3, a4, a5, a6, a7)
            if c == hi - nl:
                break
            c = min(c + nl, hi - nl)
    elif hi - lo >= nv:
        # shorter than a block: one vector at a time (no fallback to the array
        # accumulator, whose vectorised loops doubled the compile)
        c = lo
        while True:
            v = vec_zeros(orow)
            for p in range(p0, p1):
                for q in range(kw):
                    vec_fma_at(v, kf[p * kw + q], af, (y + p) * W + c + ox + q)
            vec_store_at(v, orow, c)
            if c == hi - nv:
                break
            c = min(c + nv, hi - nv)
    else:
        hi = lo                    # shorter than a vector: every column bounds-checked
    _edge_columns(flat(out), r * out.shape[1], af, W, kf, kw, y, p0, p1, c0, lo, hi, c1, ox)


@jit
def _edge_copy(af, W, s0, nrows, x0, edge, bw):
    """``edge[i bw + j] = af[s0 + i W + x0 + j]`` where ``0 <= x0 + j < W``, else 0, for
    ``i < nrows``, ``j < bw``: input rows (of ``W``) as an edge block reads them,
    zero-padded sideways.  Unsigned indices: no wraparound test, so the copy vectorises."""
    j0 = min(max(0, -x0), bw)
    j1 = max(min(bw, W - x0), j0)
    zero = edge.dtype.type(0)
    for i in range(nrows):
        d = np.uint64(i * bw)
        s = np.uint64(s0 + i * W + x0 + j0)
        for j in range(j0):
            edge[d + np.uint64(j)] = zero
        d += np.uint64(j0)
        for j in range(j1 - j0):
            edge[d + np.uint64(j)] = af[s + np.uint64(j)]
        d += np.uint64(j1 - j0)
        for j in range(bw - j1):
            edge[d + np.uint64(j)] = zero


#: output rows of one step of :func:`_item_quads`
QUAD_ROWS = 4
#: kernels of fewer rows keep :func:`_item_blocks`: with one or two rows most input
#: rows feed only some of the four outputs
QUAD_MIN_ROWS = 3


#: kernel widths whose four-row item is compiled with the width as a constant, so that
#: the tap loops unroll (1.45-1.96x faster serially on 3-7 taps; docs/performance.md); other
#: widths share one item
QUAD_WIDTHS = (3, 5, 7)


#: square kernels with four-row items of their own (height a constant too) where the
#: class has 16 vector registers (:func:`quads_item`); a step of 5 rows reads 8 input rows,
#: what :func:`_quads_factory` unrolls.  7x7 ran as fast either way (AVX2 build on Zen 4)
QUAD_SQUARES = (3, 5)


@jit(inline=True)
def _quad_row(src, at, kf, k0, kw, rows_t, x, a0, a1, a2, a3):
    """Input row ``src[at : ...]`` of a four-row step (``k0 = t kw`` for input row ``t``)
    into the output rows of the mask ``rows_t`` (bit ``i``: output row ``i``, with kernel
    row ``t - i``), one quarter load per tap; nothing for an empty mask.  Inlined with a
    constant ``kw`` and ``rows_t``, the loop unrolls and the tests fold away."""
    if rows_t:
        for q in range(kw):
            quarter_load_at(x, src, at + q)
            if rows_t == 15:                    # a row every output uses
                quarter_fma_at(a0, tap_at(kf, k0 + q), x, 0)
                quarter_fma_at(a1, tap_at(kf, k0 - kw + q), x, 0)
                quarter_fma_at(a2, tap_at(kf, k0 - 2 * kw + q), x, 0)
                quarter_fma_at(a3, tap_at(kf, k0 - 3 * kw + q), x, 0)
                continue
            if rows_t & 1:
                quarter_fma_at(a0, tap_at(kf, k0 + q), x, 0)
            if rows_t & 2:
                quarter_fma_at(a1, tap_at(kf, k0 - kw + q), x, 0)
            if rows_t & 4:
                quarter_fma_at(a2, tap_at(kf, k0 - 2 * kw + q), x, 0)
            if rows_t & 8:
                quarter_fma_at(a3, tap_at(kf, k0 - 3 * kw + q), x, 0)


@jit(inline=True)
def _rows_mask(t, kh):
    """The output rows (bits) that input row ``t`` of a four-row step feeds with a kernel
    of ``kh`` rows: ``i`` with ``0 <= t - i < kh``; 0 past the step's input rows.  Called
    in the items, and in Python (``py_func``) for the square items' constants."""
    if t >= kh + QUAD_ROWS - 1:
        return 0
    return (2 << min(QUAD_ROWS - 1, t)) - (1 << max(0, t - kh + 1))


def _quads_factory(KW, KH=0):
    """:func:`_item_quads` with ``KW`` taps per row (0: any width) and, for square
    kernels of :data:`QUAD_SQUARES`, ``KH`` rows (0: any height).  A constant width lets
    LLVM unroll the tap loops and keep the taps' addresses in registers; a constant height
    unrolls the input rows of a step (:func:`_quad_row`).  Numba keys the cache entries on
    ``KW`` and ``KH`` (closure variables)."""
    if KH + QUAD_ROWS - 1 > 8:
        raise ValueError(f"a four-row step of {KH} kernel rows reads more than the 8 input "
                         "rows the square items unroll")
    M0, M1, M2, M3, M4, M5, M6, M7 = (_rows_mask.py_func(t, KH) for t in range(8))

    def quad_block(src, row0, stride, kf, kh, kw, t0, t1, of, o0, o1, o2, o3, c, rows, stream,
                   nb):
        """One block of :func:`_item_quads`: quarter blocks of output rows ``o0 .. o3``
        (offsets in ``of``; ``rows`` of them written) from column ``c``, over input rows
        ``t0 .. t1 - 1`` of the window, input row ``t`` at ``src[row0 + t stride]``.
        With ``stream``, the rows that start on a 64-byte boundary are stored past the
        caches (:func:`quarter_put_at`).

        Each input load (a quarter block in registers) is multiplied into the rows that
        take it, chosen by a mask per input row: 3x3 float32 in L1, 169 cycles a block
        of 144 vector multiply-adds, where a branch per input row with the loads in each
        branch's tap loop took 288 (5x5: 505 and 600; 7x7: 900 and 955; whole calls on
        1024², where memory sets the pace, 0.86-1.04x the time).  A function of its own, called
        with the input or the item's edge copy: one variable holding either array made
        the item count references around every block, a call that spilled the sixteen
        accumulators."""
        kw = kw if KW == 0 else KW              # a constant in a width's own item
        x = quarter_zeros(of)                   # one input load, fed to up to four rows
        nl = x.shape[0]
        if KH and t0 == 0 and t1 == KH + QUAD_ROWS - 1 and rows == QUAD_ROWS:
            # every input row and four output rows: the rows unrolled, and the four stores
            # unconditional, so that LLVM interleaves the rows' multiply-adds (a store under
            # a test let it sink its row's work after the others', two chains at a time)
            for b in range(nb):
                a0 = quarter_zeros(of)
                a1 = quarter_zeros(of)
                a2 = quarter_zeros(of)
                a3 = quarter_zeros(of)
                at = row0 + b * nl
                _quad_row(src, at, kf, 0, KW, M0, x, a0, a1, a2, a3)
                _quad_row(src, at + stride, kf, KW, KW, M1, x, a0, a1, a2, a3)
                _quad_row(src, at + 2 * stride, kf, 2 * KW, KW, M2, x, a0, a1, a2, a3)
                _quad_row(src, at + 3 * stride, kf, 3 * KW, KW, M3, x, a0, a1, a2, a3)
                _quad_row(src, at + 4 * stride, kf, 4 * KW, KW, M4, x, a0, a1, a2, a3)
                _quad_row(src, at + 5 * stride, kf, 5 * KW, KW, M5, x, a0, a1, a2, a3)
                _quad_row(src, at + 6 * stride, kf, 6 * KW, KW, M6, x, a0, a1, a2, a3)
                _quad_row(src, at + 7 * stride, kf, 7 * KW, KW, M7, x, a0, a1, a2, a3)
                cb = c + b * nl
                if stream:
                    quarter_put_at(a0, of, o0 + cb, True)
                    quarter_put_at(a1, of, o1 + cb, True)
                    quarter_put_at(a2, of, o2 + cb, True)
                    quarter_put_at(a3, of, o3 + cb, True)
                else:
                    quarter_store_at(a0, of, o0 + cb)
                    quarter_store_at(a1, of, o1 + cb)
                    quarter_store_at(a2, of, o2 + cb)
                    quarter_store_at(a3, of, o3 + cb)
            return
        for b in range(nb):
            a0 = quarter_zeros(of)
            a1 = quarter_zeros(of)
            a2 = quarter_zeros(of)
            a3 = quarter_zeros(of)
            for t in range(t0, t1):
                # a branch per row and tap on the mask, none on t
                _quad_row(src, row0 + b * nl + t * stride, kf, t * kw, kw, _rows_mask(t, kh), x,
                          a0, a1, a2, a3)
            cb = c + b * nl
            quarter_put_at(a0, of, o0 + cb, stream)
            if rows > 1:
                quarter_put_at(a1, of, o1 + cb, stream)
            if rows > 2:
                quarter_put_at(a2, of, o2 + cb, stream)
            if rows > 3:
                quarter_put_at(a3, of, o3 + cb, stream)

    quad_block.__name__ = quad_block.__qualname__ = f"_quad_block{KW or ''}{_square(KH)}"
    block = jit(quad_block)

    def item_quads(a, k, out, oy, ox, chunk, ncx, stream, item):
        """Output rows ``4g .. 4g + 3`` (those below ``OH``) x one column chunk, for kernels
        of at least :data:`QUAD_MIN_ROWS` rows: every input load feeds the four rows'
        accumulators.

        Input row ``y = 4g + oy + t`` adds its tap ``q`` to output row ``4g + i``
        with ``k[t - i, q]``, for the ``i`` with ``0 <= t - i < kh``: one load of a
        quarter block feeds up to four quarter blocks of accumulators (16
        registers), where :func:`_item_blocks` loads every input vector once per
        output row.  Rows outside ``a`` add nothing (zero fill).  Blocks cover the
        chunk, the last moved back to end at its end; a block whose windows leave
        ``a`` sideways (an edge) reads a zero-padded copy of its input rows made
        in L1 (:func:`_edge_copy`), as a finite kernel allows, where the
        bounds-checked scalar loop took 43% of a 1024² 7x7 call.  Chunks narrower
        than a block, and kernels with a NaN or an infinity, take that loop.

        With ``stream`` (:func:`~numbaconv._kernels.layout.streams`), blocks that start on
        a 64-byte boundary are
        stored past the caches: after the first block of a row, the next starts on one
        (recomputing a few columns), and the item ends with a fence.
        """
        H, W = a.shape
        kh = k.shape[0]
        kw = k.shape[1] if KW == 0 else KW      # a constant in a width's own item
        OH = out.shape[0]
        g = item // ncx
        r = g * QUAD_ROWS
        c0 = (item - g * ncx) * chunk
        c1 = min(c0 + chunk, out.shape[1])
        lo = min(max(-ox, c0), c1)
        hi = max(min(W - kw + 1 - ox, c1), lo)
        rows = min(QUAD_ROWS, OH - r)
        # flat borrowed views and offsets, no row views: a view's reference count is a
        # call, and the calls spill the sixteen accumulators
        of = flat(out)
        OW = out.shape[1]
        o0 = r * OW
        o1 = min(r + 1, OH - 1) * OW
        o2 = min(r + 2, OH - 1) * OW
        o3 = min(r + 3, OH - 1) * OW
        nl = quarter_zeros(of).shape[0]
        addr = address_of(of)
        af = flat(a)
        kf = flat(k)
        t0 = max(0, -(r + oy))                      # input rows inside a only
        t1 = min(kh + QUAD_ROWS - 1, H - r - oy)
        # edge blocks need the zeros to add nothing: 0 * nan is nan (x - x is 0 unless
        # x is a NaN or an infinity, for every dtype with blocks)
        blocked = (lo > c0 or hi < c1) and c1 - c0 >= nl   # edges in blocks
        if blocked:
            for i in range(kh * kw):
                x = tap_at(kf, i)
                if x - x != 0:
                    blocked = False
                    break
        bw = nl + kw - 1                            # an edge copy's row
        edge = np.empty(max(t1 - t0, 0) * bw if blocked else 0, of.dtype)
        if blocked:
            blo, bhi = c0, c1                       # every column in blocks
        elif hi - lo >= nl:
            blo, bhi = lo, hi                       # the interior in blocks, edges scalar
        else:
            blo = bhi = lo                          # every column bounds-checked
        if bhi > blo:
            c = blo
            while True:
                if lo <= c and c + nl <= hi:        # inside a: read it in place
                    # the whole blocks inside a from c on, in one call; streamed, from the
                    # first on a 64-byte boundary (a quarter block's bytes keep the next on one)
                    nb = (min(hi, bhi) - c) // nl
                    if stream and (addr + (o0 + c) * of.itemsize) % 64:
                        nb = 1
                    block(af, (r + oy) * W + c + ox, W, kf, kh, kw, t0, t1, of, o0, o1, o2,
                          o3, c, rows, stream, nb)
                    c += (nb - 1) * nl              # the run's last block
                else:                               # an edge: a zero-padded copy
                    _edge_copy(af, W, (r + oy + t0) * W, t1 - t0, c + ox, edge, bw)
                    block(edge, -t0 * bw, bw, kf, kh, kw, t0, t1, of, o0, o1, o2, o3, c, rows,
                          stream, 1)
                if c == bhi - nl:
                    break
                nxt = c + nl
                if stream:                          # back to row 0's 64-byte boundary
                    nxt -= (addr + (o0 + nxt) * of.itemsize) % 64 // of.itemsize
                c = min(nxt, bhi - nl)
        if not blocked:
            if bhi == blo:
                hi = lo                             # no blocks: every column scalar
            for i in range(rows):
                y = r + i + oy
                _edge_columns(of, (r + i) * OW, af, W, kf, kw, y, max(0, -y),
                              min(kh, H - y), c0, lo, hi, c1, ox)
        if stream:
            store_fence()

    item_quads.__name__ = item_quads.__qualname__ = f"_item_quads{KW or ''}{_square(KH)}"
    return jit(item_quads)


def _square(kh) -> str:
    return f"x{kh}" if kh else ""


_item_quads = _quads_factory(0)
_QUAD_ITEMS = {kw: _quads_factory(kw) for kw in QUAD_WIDTHS}
_QUAD_SQUARE_ITEMS = {k: _quads_factory(k, k) for k in QUAD_SQUARES}

#: whether square kernels of :data:`QUAD_SQUARES` take their own items: where a quarter
#: block is two 256-bit vectors, a row's two chains of multiply-adds leave the FMA pipes
#: idle unless the rows interleave (AVX2 build on Zen 4, one thread, 256² and 1024²: 3x3
#: 1.43-1.66x faster, 5x5 1.04-1.15x).  With four 512-bit vectors a row, the unrolled rows
#: ran 1.04-1.2x slower.
SQUARE_ITEMS = VEC_REGISTERS < 32


def quads_item(kw, kh=0):
    """The four-row item for kernels of ``kh`` x ``kw`` taps: its own for the squares of
    :data:`QUAD_SQUARES` where :data:`SQUARE_ITEMS`, else its width's for
    :data:`QUAD_WIDTHS`, else the shared one."""
    if SQUARE_ITEMS and kh == kw and kw in _QUAD_SQUARE_ITEMS:
        return _QUAD_SQUARE_ITEMS[kw]
    return _QUAD_ITEMS.get(kw, _item_quads)


@jit
def _padded(a, k, pad_lo, pad_hi):
    """``(a zero-padded by pad_lo/pad_hi columns, pad_lo)``, or ``(a, 0)`` unpadded.

    Only a finite kernel may meet the padding: ``0 * nan`` and ``0 * inf``
    are NaN, where the direct method (SciPy's too) leaves the products
    outside the signal out, so a non-finite tap keeps the scalar edges.
    """
    if pad_lo == 0 and pad_hi == 0:
        return a, 0
    for p in range(k.shape[0]):
        for q in range(k.shape[1]):
            if not np.isfinite(k[p, q]):
                return a, 0
    H, W = a.shape
    padded = np.empty((H, W + pad_lo + pad_hi), a.dtype)
    zero = a.dtype.type(0)
    for r in range(H):     # views indexed from 0: no wraparound test, so the loops vectorise
        lo, mid, hi = padded[r, :pad_lo], padded[r, pad_lo:pad_lo + W], padded[r, pad_lo + W:]
        src = a[r]
        for c in range(pad_lo):
            lo[c] = zero
        for c in range(W):
            mid[c] = src[c]
        for c in range(pad_hi):
            hi[c] = zero
    return padded, pad_lo


def _corr2d(threads, a, k, out, oy, ox, chunk, pad_lo, pad_hi, pick=None, stream=False):
    """out[r, c] = sum_{p,q} k[p, q] * a[r + oy + p, c + ox + q], zero outside a.

    ``a`` is first zero-padded by ``pad_lo``/``pad_hi`` columns (see
    :func:`_padded`): one compiled call instead of NumPy's pad and a
    separate finiteness scan.  Work items are (output row, column chunk), or
    (four output rows, column chunk) for kernels of :data:`QUAD_MIN_ROWS` or more
    rows (:func:`_item_quads`); ``pick``: :func:`_pick_item`'s answer, where the caller
    has it; ``stream``: the four-row item stores past the caches
    (:func:`numbaconv._kernels.layout.streams`).
    """
    if pad_lo or pad_hi:
        a, shift = _padded(a, k, pad_lo, pad_hi)
        ox += shift
    item, items, ncx = pick or _pick_item(k.shape, out.shape, out.dtype, chunk)
    run_items(item, (a, k, out, oy, ox, chunk, ncx, stream), items, threads)


def _pick_item(shape_k, out_shape, dtype, chunk) -> tuple:
    """``(work item, how many, column chunks per row)`` of :func:`_corr2d`: four output
    rows per step where :func:`quad_lanes` allows (groups of four rows x column chunks),
    else one row (register blocks for the dtypes that have them)."""
    OH, OW = out_shape
    ncx = -(-OW // chunk)
    if quad_lanes(shape_k[0], out_shape, dtype):
        return quads_item(shape_k[1], shape_k[0]), -(-OH // QUAD_ROWS) * ncx, ncx
    return (_item_blocks if block_width(dtype) else _item_rows), OH * ncx, ncx


@jit
def _nd_item_rows(aflat, k2, kofs, out2, obase, chunk, ncx, item):
    """One work item of the general-rank kernel (every window is in bounds)."""
    r = item // ncx
    c0 = (item - r * ncx) * chunk
    c1 = min(c0 + chunk, out2.shape[1])
    orow = row(out2, r)
    for c in range(c0, c1):
        orow[c] = 0
    for t in range(k2.shape[0]):
        row_accumulate(orow[c0:c1], aflat[obase[r] + kofs[t] + c0:], k2[t])


@jit(inline=True)
def _nd_short_run(aflat, k2, kofs, orow, base, c0, c1, nv):
    """Columns ``[c0, c1)`` of a run shorter than a block: a vector at a time, else scalar."""
    kw = k2.shape[1]
    if c1 - c0 < nv:
        for c in range(c0, c1):
            acc = orow.dtype.type(0)
            for t in range(k2.shape[0]):
                s = base + kofs[t] + c
                for q in range(kw):
                    acc += k2[t, q] * aflat[s + q]
            orow[c] = acc
        return
    c = c0
    while True:
        v = vec_zeros(orow)
        for t in range(k2.shape[0]):
            for q in range(kw):
                vec_fma_at(v, k2[t, q], aflat, base + kofs[t] + c + q)
        vec_store_at(v, orow, c)
        if c == c1 - nv:
            break
        c = min(c + nv, c1 - nv)


@jit
def _nd_item_blocks(aflat, k2, kofs, out2, obase, chunk, ncx, item):
    """:func:`_nd_item_rows` with register blocks (last block moved back, as in 2-D)."""
    r = item // ncx
    c0 = (item - r * ncx) * chunk
    c1 = min(c0 + chunk, out2.shape[1])
    orow = row(out2, r)
    nv = vec_zeros(orow).shape[0]
    nl = NACC * nv
    if c1 - c0 < nl:
        _nd_short_run(aflat, k2, kofs, orow, obase[r], c0, c1, nv)
        return
    kw = k2.shape[1]
    k2f = flat(k2)
    c = c0
    while True:
        a0, a1, a2, a3, a4, a5, a6, a7 = zero_block(orow)
        for t in range(k2.shape[0]):
            taps(aflat, k2f, t * kw, kw, obase[r] + kofs[t] + c, a0, a1, a2, a3, a4, a5, a6, a7)
        store_block(orow, c, a0, a1, a2, a3, a4, a5, a6, a7)
        if c == c1 - nl:
            break
        c = min(c + nl, c1 - nl)


def _corr_rows(threads, aflat, k2, kofs, out2, obase, chunk):
    """out2[r, c] = sum_t sum_q k2[t, q] * aflat[obase[r] + kofs[t] + c + q]."""
    ncx = -(-out2.shape[1] // chunk)
    item = _nd_item_blocks if block_width(out2.dtype) else _nd_item_rows
    run_items(item, (aflat, k2, kofs, out2, obase, chunk, ncx), out2.shape[0] * ncx, threads)


#: a signal this small is padded in cache, from a reused heap block: four times
#: cheaper a byte than a large one (fresh pages, and a second thread reading
#: what the first just wrote); the timings are in docs/performance.md
PAD_CHEAP_BYTES = 1 << 20


def _corr2d_layout(shape_a, shape_k, out_shape, ox, itemsize, workers, blocks):
    """Shape-only decisions of :func:`corr2d`: ``(pad_lo, pad_hi, chunk, threads)``.

    The four-row kernel (:func:`_item_quads`) runs edge columns (windows that
    stick out of ``a`` sideways) in register blocks on zero-padded copies of
    their rows in L1, so it never pads; measured against padding the signal
    first, 0.22-0.99x the time on 128²-2048² with 5x5-15x15 kernels, 1.03-1.09x
    with 31x31 ones on 128²-256².  The one-row kernels take a scalar
    bounds-checked loop there.  When register blocks exist for the dtype
    (``blocks``, the block width) and that scalar work is large -- edges
    more than a ninth of a row (a wide kernel on a short row), scalar
    multiply-adds per row (``edges * kh * kw``) beyond a quarter of the
    row's bytes (what copying it costs; a sixteenth for signals of at most
    :data:`PAD_CHEAP_BYTES`), or an interior just short of one
    block in a row that has one -- their rows are zero-padded by
    ``pad_lo``/``pad_hi`` columns first so that every column runs in blocks
    (both 0: no padding).  ``threads`` is 1 (the serial kernel) unless the work pays
    for a launch (:func:`numbaconv._kernels.layout.parallel_pays`).
    """
    kh, kw, OW = shape_k[0], shape_k[1], out_shape[1]
    pad_lo, pad_hi = _edge_widths(shape_a, shape_k, out_shape, ox)
    edges = min(OW, pad_lo) + min(OW, pad_hi)
    per_byte = 16 if shape_a[0] * shape_a[1] * itemsize <= PAD_CHEAP_BYTES else 4
    wide = (8 * edges > OW - edges or per_byte * edges * kh * kw > shape_a[1] * itemsize
            or OW - edges < blocks <= OW)        # padded, the row fills a whole block
    # blocks: a real float or int64 work dtype, whose lanes depend on its itemsize only
    quarter = quad_lanes(kh, out_shape, np.dtype(f"f{itemsize}")) if blocks else 0
    if quarter or not (edges and kw > 1 and wide and blocks):
        pad_lo = pad_hi = 0
    macs = out_shape[0] * OW * shape_k[0] * kw
    # the four-row kernel's items are cheap and even, and so are a 1-D signal's (one row):
    # threads pay from less work than the shared threshold there, by a coefficient per set
    c = coef.coefficients()
    floor = (c["direct_quad_parallel"] if quarter else c["direct_row_parallel"]
             if out_shape[0] == 1 else PARALLEL_MIN_BYTES)
    threads = thread_count(workers) if parallel_pays(macs, itemsize, floor) else 1
    if quarter:        # _item_quads: groups of four rows, chunks of two quarter blocks or more
        chunk = chunk_for(OW, itemsize, -(-out_shape[0] // QUAD_ROWS), threads)
        if chunk < 2 * quarter:     # fewer, wider pieces, none of them a sliver
            chunk = -(-OW // max(1, OW // (2 * quarter)))
    else:
        chunk = chunk_for(OW, itemsize, out_shape[0], threads)
    return pad_lo, pad_hi, chunk, threads


def _edge_widths(shape_a, shape_k, out_shape, ox) -> tuple:
    """Output columns before and after the interior (windows that leave ``a`` sideways)."""
    return max(0, -ox), max(0, out_shape[1] + ox + shape_k[1] - 1 - shape_a[1])



def corr2d(a, k, out, oy, ox, workers, stream=False):
    """Run the 2-D kernel as :func:`_corr2d_layout` decides."""
    pad_lo, pad_hi, chunk, threads = _corr2d_layout(a.shape, k.shape, out.shape, ox,
                                                    out.itemsize, workers, block_width(out.dtype))
    _corr2d(threads, a, k, out, oy, ox, chunk, pad_lo, pad_hi, stream=stream)


#: whether the four-row kernel streams a large new output of its own too
#: (:func:`numbaconv._kernels.layout.streams`): 512-bit builds wrote fresh 2048²-4096²
#: outputs up to 1.3x faster past the caches, 256-bit ones up to 1.3x faster with plain
#: stores, which find the pages zeroed into the cache as they are first touched (3x3 and
#: 5x5 float64 and 4096² float32; 2048² float32 ran as fast either way; Zen 4)
STREAM_NEW = VEC_BYTES >= 64


# --------------------------------------------------------------------------
# host side
# --------------------------------------------------------------------------


def _run_nd(a, k, out, offs, workers):
    """Any rank: zero-pad into 'valid' form, then the row kernel."""
    lo = [max(0, -o) for o in offs]
    hi = [max(0, o + n_out + kk - 1 - n) for o, n_out, kk, n in zip(offs, out.shape, k.shape, a.shape)]
    if any(lo) or any(hi):
        ap = np.zeros([n + l_ + h for n, l_, h in zip(a.shape, lo, hi)], a.dtype)
        ap[tuple(slice(l_, l_ + n) for l_, n in zip(lo, a.shape))] = a
    else:
        ap = a
    offs = [o + l_ for o, l_ in zip(offs, lo)]
    st = np.array(ap.strides, dtype=np.int64) // ap.itemsize   # element strides
    base0 = int(np.dot(offs, st))
    lead_out, lead_k = out.shape[:-1], k.shape[:-1]
    obase = base0 + np.indices(lead_out).reshape(len(lead_out), -1).T @ st[:-1]
    kofs = np.indices(lead_k).reshape(len(lead_k), -1).T @ st[:-1]
    threads = (thread_count(workers) if parallel_pays(out.size * k.size, out.itemsize)
               else 1)
    out2 = out.reshape(-1, out.shape[-1])
    _corr_rows(threads, ap.reshape(-1), np.ascontiguousarray(k.reshape(-1, k.shape[-1])),
               np.ascontiguousarray(kofs, np.int64), out2, np.ascontiguousarray(obase, np.int64),
               chunk_for(out2.shape[1], out.itemsize, out2.shape[0], threads))


def run(problem: Problem, a, k, *, workers: int, out=None):
    """Correlate ``a`` with the prepared kernel ``k`` (see :mod:`numbaconv._problem`).

    ``out`` (``problem.out_shape``, sharing no memory with ``a`` or ``k``)
    receives the result when it is C-contiguous in the work dtype, and is
    returned; otherwise a new array is.
    """
    if not problem.all_axes:
        return _run_broadcast(problem, a, k, workers)
    wt = work_dtype(problem.dtype)
    given = out
    out = destination(out, problem.out_shape, wt)
    if out.size == 0:
        return out
    if k.size == 0 or (a.size == 0 and problem.zero_fill):
        out[...] = 0
        return out
    a = as_work(a, wt)
    k = as_work(k, wt)
    if problem.zero_fill:
        offs = problem.offsets
    else:
        a, offs = pad_boundary(a, problem, thread_count(workers))
        a = np.ascontiguousarray(a)
    _run_any_rank(a, k, out, offs, workers, streams(out, given, STREAM_NEW))
    return out


def _run_broadcast(problem: Problem, a, k, workers):
    """Axes that are not correlated broadcast (size 1 or equal): one correlation per index."""
    axes = problem.axes
    sub = dataclasses.replace(
        problem, shape_a=tuple(problem.shape_a[x] for x in axes),
        shape_k=tuple(problem.shape_k[x] for x in axes), axes=tuple(range(len(axes))),
        origin=tuple(problem.origin[x] for x in axes),
        out_shape=tuple(problem.out_shape[x] for x in axes))
    out = np.empty(problem.out_shape, work_dtype(problem.dtype))
    batch = [x for x in range(problem.ndim) if x not in axes]
    for index in np.ndindex(*(problem.out_shape[x] for x in batch)):
        ia, ik, io = [slice(None)] * problem.ndim, [slice(None)] * problem.ndim, [slice(None)] * problem.ndim
        for x, i in zip(batch, index):
            j = i + problem.origin[x]
            ia[x] = 0 if problem.shape_a[x] == 1 else j
            ik[x] = 0 if problem.shape_k[x] == 1 else j
            io[x] = i
        out[tuple(io)] = run(sub, a[tuple(ia)], k[tuple(ik)], workers=workers)
    return out


def prepare(problem: Problem, *, workers: int):
    """:func:`run` for ``problem`` with its shape-only decisions taken once.

    Returns a callable ``(a, k, out=None) -> out`` (``out`` as in :func:`run`).
    1-D and 2-D zero-fill problems, and 2-D ones with another boundary (extended
    first, :func:`numbaconv._kernels.layout.pad_boundary`), get a closure that
    allocates the output and calls the kernel chosen by :func:`_corr2d_layout`;
    the others run :func:`run` itself.
    """
    wt = work_dtype(problem.dtype)
    extend = not problem.zero_fill
    if (problem.ndim > 2 or (extend and problem.ndim != 2) or problem.outputs == 0
            or not problem.all_axes or 0 in problem.shape_a or 0 in problem.shape_k):
        return functools.partial(run, problem, workers=workers)
    out_shape = problem.out_shape
    a2, k2, o2 = _as_rows(problem)
    if extend:                           # the kernel reads the extended signal
        pads, offs = boundary_pads(problem)
        a2 = tuple(n + lo + hi for n, (lo, hi) in zip(a2, pads))
        pad_threads = thread_count(workers)
    else:
        offs = problem.offsets
    oy, ox = (0, offs[0]) if problem.ndim == 1 else offs
    pad_lo, pad_hi, chunk, threads = _corr2d_layout(a2, k2, o2, ox, wt.itemsize, workers,
                                                    block_width(wt))
    pick = _pick_item(k2, o2, wt, chunk)

    rows = problem.ndim == 1             # a 1-D problem runs as one row (2-D: no reshapes)

    def call(a, k, out=None):
        given, out = out, destination(out, out_shape, wt)
        a, k, o = as_work(a, wt), as_work(k, wt), out
        if rows:
            a, k, o = a.reshape(a2), k.reshape(k2), out.reshape(o2)
        elif extend:
            a = pad_boundary(a, problem, pad_threads)[0]
        _corr2d(threads, a, k, o, oy, ox, chunk, pad_lo, pad_hi, pick,
                streams(out, given, STREAM_NEW))
        return out

    return call


def _run_any_rank(a, k, out, offs, workers, stream=False):
    if a.ndim == 1:
        corr2d(a.reshape(1, -1), k.reshape(1, -1), out.reshape(1, -1), 0, offs[0], workers)
    elif a.ndim == 2:
        corr2d(a, k, out, offs[0], offs[1], workers, stream)
    else:
        _run_nd(a, k, out, offs, workers)


