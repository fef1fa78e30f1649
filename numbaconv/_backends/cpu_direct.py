"""Direct (gather) correlation on the CPU with Numba.

Every output element is owned by exactly one parallel iteration.  Work items
are (output row, column chunk) pairs, so a 1-D signal (one long row) and a
2-D image (many rows) both spread over every core.  Real floats and int64
keep blocks of 8 vectors of outputs in registers while every tap is added
(:func:`_taps`: taps by phase, the input vectors shared between the taps of
a phase); other types add eight taps at a time to a run of outputs
(:func:`_row_accumulate`), which LLVM vectorises over the run.  Output columns whose window
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

import functools
import math

import numpy as np
from numba import prange

from numba.extending import overload

from .._config import numba_threads, thread_count
from .._jit import JIT_OPTIONS, jit, jit_parallel
from .._problem import Problem
from .._simd import (VEC_BYTES, _blockable, block_zeros, fma_at, lanes, vec_fma_at, vec_load_at,
                     vec_store_at, vec_zeros)

NAME = "cpu_direct"
DEVICE = "cpu"
METHOD = "direct"

#: bytes of outputs per work item along a row: big enough to amortise the
#: edge logic, small enough that the accumulator run and its input stay in L1.
CHUNK_BYTES = 16384


@functools.lru_cache(maxsize=1024)
def chunk_for(width: int, itemsize: int, rows: int = 1, threads: int = 1) -> int:
    """Even split of a row into chunks of about :data:`CHUNK_BYTES` (no ragged sliver).

    With ``threads`` > 1 the ``rows x pieces`` work items are made a multiple
    of ``threads`` where a few more pieces do it: ``prange`` gives each thread
    one contiguous share of the items, so 3 items on 2 threads run as 2 + 1
    (a 1-D float32 row of 10,300 outputs, k = 301, 2 threads: 3 chunks of
    3,434 take 44.1 us, 4 of 2,575 take 37.0 us).
    """
    target = max(64, CHUNK_BYTES // itemsize)
    pieces = max(1, -(-width // target))
    for extra in range(threads):
        if rows * (pieces + extra) % threads == 0:
            pieces += extra
            break
    return max(1, -(-width // pieces))


def available() -> bool:
    return True


def supports(problem: Problem) -> bool:
    return (problem.device == "cpu" and problem.all_axes and problem.kind in "biufc"
            and problem.dtype not in (np.dtype(np.longdouble), np.dtype(np.clongdouble)))


def cost(problem: Problem, workers=None) -> float:
    from .._costs import direct_cost
    return direct_cost(problem, workers)


# --------------------------------------------------------------------------
# kernels
# --------------------------------------------------------------------------

@jit
def _row_accumulate(ov, av, krow):
    """ov[c] += sum_q krow[q] * av[c + q] for c in range(len(ov)).

    Eight taps per pass (then four, then a 3/2/1 tail): each pass loads the
    accumulator once per eight FMAs.  Slices keep every index non-negative,
    which lets Numba drop its wraparound check and LLVM vectorise over ``c``.
    """
    kw = krow.shape[0]
    m = ov.shape[0]
    q = 0
    while q + 8 <= kw:
        a = av[q:]
        k0, k1, k2, k3 = krow[q], krow[q + 1], krow[q + 2], krow[q + 3]
        k4, k5, k6, k7 = krow[q + 4], krow[q + 5], krow[q + 6], krow[q + 7]
        for c in range(m):
            ov[c] += ((k0 * a[c] + k1 * a[c + 1] + k2 * a[c + 2] + k3 * a[c + 3])
                      + (k4 * a[c + 4] + k5 * a[c + 5] + k6 * a[c + 6] + k7 * a[c + 7]))
        q += 8
    if q + 4 <= kw:
        a = av[q:]
        k0, k1, k2, k3 = krow[q], krow[q + 1], krow[q + 2], krow[q + 3]
        for c in range(m):
            ov[c] += k0 * a[c] + k1 * a[c + 1] + k2 * a[c + 2] + k3 * a[c + 3]
        q += 4
    rem = kw - q
    a = av[q:]
    if rem == 3:
        k0, k1, k2 = krow[q], krow[q + 1], krow[q + 2]
        for c in range(m):
            ov[c] += k0 * a[c] + k1 * a[c + 1] + k2 * a[c + 2]
    elif rem == 2:
        k0, k1 = krow[q], krow[q + 1]
        for c in range(m):
            ov[c] += k0 * a[c] + k1 * a[c + 1]
    elif rem == 1:
        k0 = krow[q]
        for c in range(m):
            ov[c] += k0 * a[c]


@jit
def _row_edges(orow, arow, krow, c0, c1, shift):
    """Bounds-checked version of :func:`_row_accumulate` for edge columns."""
    n = arow.shape[0]
    kw = krow.shape[0]
    for c in range(c0, c1):
        q0 = max(0, -(c + shift))
        q1 = min(kw, n - (c + shift))
        acc = orow[c]
        for q in range(q0, q1):
            acc += krow[q] * arow[c + shift + q]
        orow[c] = acc


def _per_dtype(blocks, rows):
    """A compiled-only function: ``blocks(*args)`` where register blocks exist
    for the dtype of the first argument (real floats, int64), else ``rows(*args)``."""
    def dispatch(*args):
        raise NotImplementedError("callable from compiled code only")

    @overload(dispatch, jit_options=JIT_OPTIONS)
    def _resolve(*args):
        body = blocks if _blockable(args[0].dtype) else rows

        def impl(*args):
            body(*args)
        return impl

    dispatch.__doc__ = f"{blocks.__name__} or {rows.__name__}, chosen by dtype at compile time."
    return dispatch


@jit
def _edge_columns(orow, a, k, y, p0, p1, c0, lo, hi, c1, ox):
    """Zero then fill the edge columns ``[c0, lo)`` and ``[hi, c1)`` (bounds-checked)."""
    for c in range(c0, lo):
        orow[c] = 0
    for c in range(hi, c1):
        orow[c] = 0
    for p in range(p0, p1):
        if c0 < lo:
            _row_edges(orow, a[y + p], k[p], c0, lo, ox)
        if hi < c1:
            _row_edges(orow, a[y + p], k[p], hi, c1, ox)


@jit
def _item_rows(a, k, out, oy, ox, chunk, ncx, item):
    """One work item (output row ``item // ncx``, one column chunk), array accumulator."""
    H, W = a.shape
    kh, kw = k.shape
    r = item // ncx
    c0 = (item - r * ncx) * chunk
    c1 = min(c0 + chunk, out.shape[1])
    orow = out[r]
    lo = min(max(-ox, c0), c1)                 # first column whose window starts inside a
    hi = max(min(W - kw + 1 - ox, c1), lo)     # one past the last whose window ends inside
    y = r + oy
    p0 = max(0, -y)
    p1 = min(kh, H - y)
    for c in range(lo, hi):
        orow[c] = 0
    if lo < hi:
        for p in range(p0, p1):
            _row_accumulate(orow[lo:hi], a[y + p][lo + ox:], k[p])
    _edge_columns(orow, a, k, y, p0, p1, c0, lo, hi, c1, ox)


#: vector accumulators of one output block of :func:`_taps`
NACC = 8


def block_width(dtype) -> int:
    """Outputs per register block of the direct kernels (0: no blocks for ``dtype``)."""
    return NACC * lanes(dtype, VEC_BYTES)


@jit(inline=True)
def _zero_block(like):
    """The ``NACC`` zeroed vector accumulators of one block, for :func:`_taps`."""
    return (vec_zeros(like), vec_zeros(like), vec_zeros(like), vec_zeros(like),
            vec_zeros(like), vec_zeros(like), vec_zeros(like), vec_zeros(like))


@jit(inline=True)
def _taps(arow, krow, base, a0, a1, a2, a3, a4, a5, a6, a7):
    """``a_i[l] += sum_q krow[q] * arow[base + i L + l + q]``: 8 vectors of ``L`` outputs.

    Taps are taken by phase ``r = q mod L``.  Within a phase, tap ``q + L``
    needs the input vectors of tap ``q`` shifted by one vector, so a window
    of 8 loaded vectors moves along by one load per tap::

        w_j = arow[base + r + j L : ... + L]        j = 0..7 (one phase's start)
        a_i += krow[q] * w_i                         8 FMAs per tap
        w_0..w_6 = w_1..w_7; w_7 = next vector      1 load per tap

    One load per 8 FMAs in the steady state, against one per FMA when every
    tap reloads its (unaligned) inputs: 1-D float32 n = 1e6, k = 301 went
    from 132 to 216 GFLOP/s on 2 cores (92% of the FMA peak).  Registers: 8 accumulators, 8
    window vectors and the broadcast tap.  Reads ``arow[base : base + 8 L +
    kw - 1]``.
    """
    kw = krow.shape[0]
    L = a0.shape[0]
    w0, w1, w2, w3, w4, w5, w6, w7 = _zero_block(a0)
    for r in range(min(L, kw)):
        s = base + r
        _load_block(arow, s, w0, w1, w2, w3, w4, w5, w6, w7)
        q = r
        nxt = s + 8 * L
        while True:
            kq = krow[q]
            vec_fma_at(a0, kq, w0, 0)
            vec_fma_at(a1, kq, w1, 0)
            vec_fma_at(a2, kq, w2, 0)
            vec_fma_at(a3, kq, w3, 0)
            vec_fma_at(a4, kq, w4, 0)
            vec_fma_at(a5, kq, w5, 0)
            vec_fma_at(a6, kq, w6, 0)
            vec_fma_at(a7, kq, w7, 0)
            q += L
            if q >= kw:
                break
            vec_store_at(w1, w0, 0)       # w0 = w1, ..., w6 = w7
            vec_store_at(w2, w1, 0)
            vec_store_at(w3, w2, 0)
            vec_store_at(w4, w3, 0)
            vec_store_at(w5, w4, 0)
            vec_store_at(w6, w5, 0)
            vec_store_at(w7, w6, 0)
            vec_load_at(w7, arow, nxt)
            nxt += L


@jit(inline=True)
def _load_block(src, c, a0, a1, a2, a3, a4, a5, a6, a7):
    """``a0 .. a7 = src[c : c + 8 L]`` (the inverse of :func:`_store_block`)."""
    L = a0.shape[0]
    vec_load_at(a0, src, c)
    vec_load_at(a1, src, c + L)
    vec_load_at(a2, src, c + 2 * L)
    vec_load_at(a3, src, c + 3 * L)
    vec_load_at(a4, src, c + 4 * L)
    vec_load_at(a5, src, c + 5 * L)
    vec_load_at(a6, src, c + 6 * L)
    vec_load_at(a7, src, c + 7 * L)


@jit(inline=True)
def _store_block(dst, c, a0, a1, a2, a3, a4, a5, a6, a7):
    """``dst[c : c + 8 L] = a0 .. a7``."""
    L = a0.shape[0]
    vec_store_at(a0, dst, c)
    vec_store_at(a1, dst, c + L)
    vec_store_at(a2, dst, c + 2 * L)
    vec_store_at(a3, dst, c + 3 * L)
    vec_store_at(a4, dst, c + 4 * L)
    vec_store_at(a5, dst, c + 5 * L)
    vec_store_at(a6, dst, c + 6 * L)
    vec_store_at(a7, dst, c + 7 * L)


@jit
def _item_blocks(a, k, out, oy, ox, chunk, ncx, item):
    """:func:`_item_rows` with register blocks: every tap added to W outputs in registers.

    The interior run ``[lo, hi)`` is covered by blocks of W outputs; the last
    block is moved back to end at ``hi`` (it recomputes a few outputs, to the
    same values), so no scalar tail is left.  Runs shorter than W take the
    array accumulator.
    """
    H, W = a.shape
    kh, kw = k.shape
    r = item // ncx
    c0 = (item - r * ncx) * chunk
    c1 = min(c0 + chunk, out.shape[1])
    orow = out[r]
    lo = min(max(-ox, c0), c1)
    hi = max(min(W - kw + 1 - ox, c1), lo)
    y = r + oy
    p0 = max(0, -y)
    p1 = min(kh, H - y)
    nl = NACC * vec_zeros(orow).shape[0]
    if hi - lo < nl:
        _item_rows(a, k, out, oy, ox, chunk, ncx, item)
        return
    c = lo
    while True:
        a0, a1, a2, a3, a4, a5, a6, a7 = _zero_block(orow)
        for p in range(p0, p1):
            _taps(a[y + p], k[p], c + ox, a0, a1, a2, a3, a4, a5, a6, a7)
        _store_block(orow, c, a0, a1, a2, a3, a4, a5, a6, a7)
        if c == hi - nl:
            break
        c = min(c + nl, hi - nl)
    _edge_columns(orow, a, k, y, p0, p1, c0, lo, hi, c1, ox)


_item = _per_dtype(_item_blocks, _item_rows)


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


@jit_parallel
def _corr2d_par(a, k, out, oy, ox, chunk, pad_lo, pad_hi):
    """out[r, c] = sum_{p,q} k[p, q] * a[r + oy + p, c + ox + q], zero outside a.

    ``a`` is first zero-padded by ``pad_lo``/``pad_hi`` columns (see
    :func:`_padded`), here rather than in Python: one compiled call, where
    NumPy's pad and the kernel's finiteness scan cost 3-5 us a call.
    """
    a, shift = _padded(a, k, pad_lo, pad_hi)
    ox += shift
    ncx = (out.shape[1] + chunk - 1) // chunk
    for item in prange(out.shape[0] * ncx):
        _item(a, k, out, oy, ox, chunk, ncx, item)


@jit
def _corr2d_ser(a, k, out, oy, ox, chunk, pad_lo, pad_hi):
    """Serial twin of :func:`_corr2d_par` (no thread launch for small work)."""
    a, shift = _padded(a, k, pad_lo, pad_hi)
    ox += shift
    ncx = (out.shape[1] + chunk - 1) // chunk
    for item in range(out.shape[0] * ncx):
        _item(a, k, out, oy, ox, chunk, ncx, item)


@jit
def _nd_item_rows(aflat, k2, kofs, out2, obase, chunk, ncx, item):
    """One work item of the general-rank kernel (every window is in bounds)."""
    r = item // ncx
    c0 = (item - r * ncx) * chunk
    c1 = min(c0 + chunk, out2.shape[1])
    orow = out2[r]
    for c in range(c0, c1):
        orow[c] = 0
    for t in range(k2.shape[0]):
        _row_accumulate(orow[c0:c1], aflat[obase[r] + kofs[t] + c0:], k2[t])


@jit
def _nd_item_blocks(aflat, k2, kofs, out2, obase, chunk, ncx, item):
    """:func:`_nd_item_rows` with register blocks (last block moved back, as in 2-D)."""
    r = item // ncx
    c0 = (item - r * ncx) * chunk
    c1 = min(c0 + chunk, out2.shape[1])
    orow = out2[r]
    nl = NACC * vec_zeros(orow).shape[0]
    if c1 - c0 < nl:
        _nd_item_rows(aflat, k2, kofs, out2, obase, chunk, ncx, item)
        return
    c = c0
    while True:
        a0, a1, a2, a3, a4, a5, a6, a7 = _zero_block(orow)
        for t in range(k2.shape[0]):
            _taps(aflat, k2[t], obase[r] + kofs[t] + c, a0, a1, a2, a3, a4, a5, a6, a7)
        _store_block(orow, c, a0, a1, a2, a3, a4, a5, a6, a7)
        if c == c1 - nl:
            break
        c = min(c + nl, c1 - nl)


_corr_rows_item = _per_dtype(_nd_item_blocks, _nd_item_rows)


@jit_parallel
def _corr_rows_par(aflat, k2, kofs, out2, obase, chunk):
    """out2[r, c] = sum_t sum_q k2[t, q] * aflat[obase[r] + kofs[t] + c + q]."""
    ncx = (out2.shape[1] + chunk - 1) // chunk
    for item in prange(out2.shape[0] * ncx):
        _corr_rows_item(aflat, k2, kofs, out2, obase, chunk, ncx, item)


@jit
def _corr_rows_ser(aflat, k2, kofs, out2, obase, chunk):
    """Serial twin of :func:`_corr_rows_par`."""
    ncx = (out2.shape[1] + chunk - 1) // chunk
    for item in range(out2.shape[0] * ncx):
        _corr_rows_item(aflat, k2, kofs, out2, obase, chunk, ncx, item)


#: below this many multiply-adds a thread launch costs more than it saves
PARALLEL_MIN_MACS = 200_000

#: rows of at least this many taps run near the FMA peak (one load per eight FMAs in
#: :func:`_taps`), so a launch pays only for more work: a single-row kernel that long
#: goes parallel from ``PARALLEL_MIN_ROW_BYTES / itemsize`` multiply-adds.  1-D calls,
#: 1 thread against 2 (25 interleaved rounds, session 8): float32 n = 1e3, k = 301
#: 13.7 against 20.2 us; n = 1e4, k = 31 11.9 against 15.5; n = 2e4, k = 31 18.4
#: against 18.9; n = 3e4, k = 31 25.4 against 18.9; float64 n = 1e3, k = 301 20.8
#: against 25.3; n = 1e4, k = 31 16.8 against 16.0; n = 2e4, k = 31 29.6 against
#: 23.9.  Short rows (k = 3-15) and 2-D kernels still gain from 2 threads at
#: 200,000 (float32 n = 1e5, k = 3: 22.7 against 17.6 us; 64^2 7x7: 35.8 against 27.4)
LONG_ROW_TAPS = 31
PARALLEL_MIN_ROW_BYTES = 3_200_000


def _parallel_pays(macs, kshape, itemsize) -> bool:
    """Whether a kernel of shape ``kshape`` doing ``macs`` multiply-adds gains from threads
    (every direct kernel's serial/parallel choice goes through here)."""
    if math.prod(kshape[:-1]) == 1 and kshape[-1] >= LONG_ROW_TAPS:
        return macs * itemsize >= PARALLEL_MIN_ROW_BYTES
    return macs >= PARALLEL_MIN_MACS


#: a signal this small is padded in cache, from a reused heap block: four times
#: cheaper a byte than a large one (fresh pages, and a second thread reading
#: what the first just wrote).  Pad against no pad, same kernel, 25 interleaved
#: rounds (session 9): float64 n = 2,000, k = 31 'full' 10.4 against 11.6 us;
#: 256^2 'same' float64 7x7 167 against 175, float32 5x5 89 against 99; float64
#: n = 1e5, k = 301 662 against 692.  Larger, padding lost where these ratios
#: hold: float64 1024^2 7x7 3.0 against 2.2 ms.
PAD_CHEAP_BYTES = 1 << 20


def _corr2d_layout(shape_a, shape_k, out_shape, ox, itemsize, workers, blocks):
    """Shape-only decisions of :func:`corr2d`: ``(pad_lo, pad_hi, chunk, threads)``.

    Edge columns (windows that stick out of ``a`` sideways) take a scalar
    bounds-checked loop.  When register blocks exist for the dtype
    (``blocks``, the block width) and that scalar work is large -- edges
    more than a ninth of a row (a wide kernel on a short row), scalar
    multiply-adds per row (``edges * kh * kw``) beyond a quarter of the
    row's bytes (what copying it costs; a sixteenth for signals of at most
    :data:`PAD_CHEAP_BYTES`), or an interior just short of one
    block in a row that has one -- the rows are zero-padded by
    ``pad_lo``/``pad_hi`` columns first so that every column runs in blocks
    (both 0: no padding).  Measured, 'same' on 2 cores: float32 256^2 with
    15x15 0.71 -> 0.27 ms, with 7x7 0.16 -> 0.10 ms, 1024^2 with 31x31
    26.7 -> 15.5 ms; float64 256^2 with 7x7 no gain (0.17 ms either way:
    not padded).  ``threads`` is 1 (the serial kernel) unless the work pays
    for a launch (:func:`_parallel_pays`).
    """
    kh, kw, OW = shape_k[0], shape_k[1], out_shape[1]
    pad_lo = max(0, -ox)
    pad_hi = max(0, OW + ox + kw - 1 - shape_a[1])
    edges = min(OW, pad_lo) + min(OW, pad_hi)
    per_byte = 16 if shape_a[0] * shape_a[1] * itemsize <= PAD_CHEAP_BYTES else 4
    wide = (8 * edges > OW - edges or per_byte * edges * kh * kw > shape_a[1] * itemsize
            or OW - edges < blocks <= OW)        # padded, the row fills a whole block
    if not (edges and kw > 1 and wide and blocks):
        pad_lo = pad_hi = 0
    macs = out_shape[0] * OW * shape_k[0] * kw
    threads = thread_count(workers) if _parallel_pays(macs, shape_k, itemsize) else 1
    return pad_lo, pad_hi, chunk_for(OW, itemsize, out_shape[0], threads), threads


def _launch(threads, par, ser, *args):
    """``par(*args)`` on ``threads`` threads, or ``ser(*args)`` (no thread switch) for 1."""
    if threads > 1:
        with numba_threads(threads):
            par(*args)
    else:
        ser(*args)


def corr2d(a, k, out, oy, ox, workers):
    """Run the 2-D kernel as :func:`_corr2d_layout` decides."""
    pad_lo, pad_hi, chunk, threads = _corr2d_layout(a.shape, k.shape, out.shape, ox,
                                                    out.itemsize, workers, block_width(out.dtype))
    _launch(threads, _corr2d_par, _corr2d_ser, a, k, out, oy, ox, chunk, pad_lo, pad_hi)


# --------------------------------------------------------------------------
# host side
# --------------------------------------------------------------------------

@functools.lru_cache(maxsize=None)
def work_dtype(dtype: np.dtype) -> np.dtype:
    """The arithmetic type of the direct kernels for a result dtype."""
    if dtype.kind in "biu":
        return np.dtype(np.int64)
    if dtype == np.float16:
        return np.dtype(np.float32)
    return dtype


def _as_work(x: np.ndarray, wt: np.dtype) -> np.ndarray:
    if x.dtype == wt and x.flags.c_contiguous:
        return x
    if x.dtype.kind == "u" and x.dtype.itemsize == 8:
        # uint64 arithmetic is int64 arithmetic modulo 2**64: reinterpret
        x = np.ascontiguousarray(x).view(np.int64)
    return np.ascontiguousarray(x, dtype=wt)


def _pad_boundary(a: np.ndarray, problem: Problem):
    """Materialise the boundary so that the kernel sees a zero-fill problem.

    Returns the padded signal and the new per-axis offsets (origin - (k-1)).
    """
    offs = list(problem.offsets)
    if problem.zero_fill:
        return a, offs
    pads = []
    for ax in range(a.ndim):
        lo = max(0, -offs[ax])
        hi = max(0, problem.out_shape[ax] + problem.shape_k[ax] - 1 + offs[ax] - a.shape[ax])
        pads.append((lo, hi))
    if problem.boundary == "fill":
        a = np.pad(a, pads, mode="constant", constant_values=problem.fillvalue)
    elif problem.boundary == "wrap":
        a = np.pad(a, pads, mode="wrap")
    else:
        a = np.pad(a, pads, mode="symmetric")
    return a, [o + p[0] for o, p in zip(offs, pads)]


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
    threads = (thread_count(workers) if _parallel_pays(out.size * k.size, k.shape, out.itemsize)
               else 1)
    out2 = out.reshape(-1, out.shape[-1])
    _launch(threads, _corr_rows_par, _corr_rows_ser, ap.reshape(-1),
            np.ascontiguousarray(k.reshape(-1, k.shape[-1])), np.ascontiguousarray(kofs, np.int64),
            out2, np.ascontiguousarray(obase, np.int64),
            chunk_for(out2.shape[1], out.itemsize, out2.shape[0], threads))


def run(problem: Problem, a, k, *, workers: int):
    """Correlate ``a`` with the prepared kernel ``k`` (see :mod:`numbaconv._problem`)."""
    wt = work_dtype(problem.dtype)
    out = np.empty(problem.out_shape, wt)
    if out.size == 0:
        return out
    if k.size == 0 or (a.size == 0 and problem.zero_fill):
        out[...] = 0
        return out
    a = _as_work(a, wt)
    k = _as_work(k, wt)
    if problem.zero_fill:
        offs = problem.offsets
    else:
        a, offs = _pad_boundary(a, problem)
        a = np.ascontiguousarray(a)
    _run_any_rank(a, k, out, offs, workers)
    return out


def prepare(problem: Problem, *, workers: int):
    """:func:`run` for ``problem`` with its shape-only decisions taken once.

    Returns a callable ``(a, k) -> out``.  1-D and 2-D zero-fill problems
    get a closure that allocates the output and calls the kernel chosen by
    :func:`_corr2d_layout`; the others run :func:`run` itself.
    """
    wt = work_dtype(problem.dtype)
    if (problem.ndim > 2 or not problem.zero_fill or problem.outputs == 0
            or 0 in problem.shape_a or 0 in problem.shape_k):
        return functools.partial(run, problem, workers=workers)
    out_shape = problem.out_shape
    shape2 = lambda s: (1,) + s if len(s) == 1 else s   # noqa: E731 - 1-D as one row
    a2, k2, o2 = shape2(problem.shape_a), shape2(problem.shape_k), shape2(out_shape)
    offs = problem.offsets
    oy, ox = (0, offs[0]) if problem.ndim == 1 else offs
    pad_lo, pad_hi, chunk, threads = _corr2d_layout(a2, k2, o2, ox, wt.itemsize, workers,
                                                    block_width(wt))
    def call(a, k):
        out = np.empty(out_shape, wt)
        _launch(threads, _corr2d_par, _corr2d_ser, _as_work(a, wt).reshape(a2),
                _as_work(k, wt).reshape(k2), out.reshape(o2), oy, ox, chunk, pad_lo, pad_hi)
        return out

    return call


def _run_any_rank(a, k, out, offs, workers):
    if a.ndim == 1:
        corr2d(a.reshape(1, -1), k.reshape(1, -1), out.reshape(1, -1), 0, offs[0], workers)
    elif a.ndim == 2:
        corr2d(a, k, out, offs[0], offs[1], workers)
    else:
        _run_nd(a, k, out, offs, workers)


@jit
def _all_finite_ser(x):
    """No NaN/inf in the 1-D contiguous float array ``x``.

    ``0 * v`` is 0 for finite ``v`` and NaN otherwise, so one register block
    accumulates ``0 * x`` (packed FMAs at load speed); a NaN lane anywhere
    means a non-finite value.  Chunks of 64 Ki elements stop early.
    """
    n = x.shape[0]
    w = block_zeros(x).shape[0]
    zero = x.dtype.type(0)
    i = 0
    while i < n:
        acc = block_zeros(x)
        end = min(n, i + 65536)
        while i + w <= end:
            fma_at(acc, zero, x, i)
            i += w
        s = zero
        for j in range(w):
            s += acc[j]
        while i < end:
            s += zero * x[i]
            i += 1
        if s != s:
            return False
    return True


def all_finite(x) -> bool:
    """True when no element of ``x`` is NaN or infinite (no temporaries)."""
    x = np.asarray(x)
    if x.dtype.kind not in "fc" or x.size == 0:
        return True
    if x.dtype.kind == "c":
        x = np.ascontiguousarray(x).view(x.real.dtype)
    if x.dtype == np.float16 or not x.flags.c_contiguous:
        return bool(np.isfinite(x).all())
    # serial on purpose: this scan runs right before an FFT, and the threads of a
    # parallel region (OpenMP layer) spin-wait afterwards, halving the speed of
    # scipy.fft's own workers on a small machine (measured: 6.4 -> 12.4 ms at 1024^2,
    # before numbaconv._jit set GOMP_SPINCOUNT; whether a parallel scan pays again
    # with that setting is not measured yet -- it also protects users who set it)
    return bool(_all_finite_ser(x.reshape(-1)))
