"""Depthwise convolutional layers (``groups == channels``) on the CPU with Numba.

Each output channel reads one input plane, so there is no channel
contraction to hand to BLAS (its im2col products would be ``taps`` long):
the work is a small correlation per plane, done here in register blocks.

The kernels see every plane as a flat run.  With stride 1 the output at
``(z, y, c)`` reads the input at ``(z * Hq + y) * Wq + c`` plus a fixed
offset per tap.  Planes whose rows hold at least a vector run in *bands*
(:func:`_band`): four output rows times four vectors of each, sixteen
accumulators, while a schedule walks the distinct input vectors the band
reads -- each is loaded once and multiplied into every one of the four rows
whose window holds it, so a 7 x 7 kernel loads 70 vectors per 196 row
products instead of one per product.  Narrower planes of few channels, and 1-D,
run as flat runs through the plane (:func:`_group`): the ``Wq - Wo`` columns between
rows are computed and dropped, so blocks stay full whatever the width.

Planes with short rows (under three vectors, four when strided) and enough
channels run in *channel blocks* instead (:func:`_item_chans`): a vector's
worth of planes laid out lane by lane, one position of each per vector, so
that every tap is one multiply-add of a vector of weights whatever the
plane's width, stride or dilation; the layout in and out is a transpose of
vectors in registers.  MobileNet's 7² to 28² planes run 1.2-3x faster so.

A stride is reduced to stride 1 by splitting the input into its phases
first (input sample ``r * s + p`` goes to phase ``p``, position ``r``): each
tap then reads one phase at unit stride.  1-D and 2-D problems run as 3-D
ones with leading axes of size 1, so one serial and one parallel kernel per
dtype cover every rank, stride and dilation.  Work items are (plane, row
tile) pairs; planes are cut into row tiles only when there are few.
"""
from __future__ import annotations

import functools
import math

import numpy as np

from .. import _coefficients as coef
from .._config import resolve_workers, thread_count
from .._jit import jit
from .._kernels import padding
from .._kernels.blocks import fma4
from .._kernels.calls import run_items
from .._kernels.layout import destination, parallel_pays, per_channel
from .._kernels.simd import (LINE_BYTES, VEC_BYTES, address_of, block_load_at, block_zeros, fma_at,
                             half_fma_at, half_load_at, half_store_at, half_zeros, lanes,
                             prefetch_at, prefetch_write_at, quarter_fma_at, quarter_load_at,
                             quarter_store_at, quarter_zeros, store_at, vec_fma_at,
                             vec_fma_pair_at, vec_load_at, vec_store_at, vec_transpose_at,
                             vec_zeros)
from .._problem import LayerProblem

NAME = "cpu_layer_depthwise"
DEVICE = "cpu"
METHOD = "direct"
OPERATION = "layer"
#: run() takes the caller's ``out=`` (see :func:`run`)
WRITES_OUT = True
#: run() adds the bias itself (``bias=``): the accumulators start from it
ADDS_BIAS = True

#: output rows per work item are cut so that there are at least this many
#: items per thread (only planes that are few and large are cut at all)
ITEMS_PER_THREAD = 4

#: work items per thread: plane tiles run in groups of ``tiles / (this x threads)``,
#: each group in one work item with one phase buffer
GROUPS_PER_THREAD = 8

#: output rows of a band (:func:`_band` names one accumulator per row and vector)
BAND_ROWS = 4

#: how a plane's outputs are computed (``geom[4]``): flat runs (:func:`_group`), bands
#: (:func:`_band`) or channel blocks (:func:`_item_chans`)
RUNS, BANDS, CHANS = 0, 1, 2

#: planes whose output rows are shorter than this many vectors run in channel blocks
#: (:func:`_item_chans`), where a band would repeat columns to fill its four vectors and a
#: flat run computes the columns between rows: 0.45-0.90x the time of those up to rows of
#: 2.5 vectors, 0.93-1.00x at three, 1.1-1.25x at 3.5 (float32 and float64, 3x3-7x7,
#: one thread, in cache; docs/performance.md); strided layers, which split their
#: planes into phases for bands, up to rows of four (0.46-0.98x at stride 2)
CHAN_ROW_VECTORS = 3
CHAN_ROW_VECTORS_STRIDED = 4

#: the largest padded input plane of a channel block, in bytes of its vectors (a 112²
#: plane at stride 2: 830 kB, in L2 while the block's rows are computed)
CHAN_MAX_BYTES = 1 << 20

#: outputs of one row a channel-block step computes at once (:func:`_chan_row`)
CHAN_STEP = 4

#: what moving one element in or out of a channel block costs, in multiply-adds: 8-9
#: fitted on 20²-28² planes (3x3-7x7, float32 and float64), 20 on 7² ones
CHAN_MOVE_MACS = 9

#: unsigned offsets of a band's rows in the weight schedule
ONE, TWO, THREE = np.uint64(1), np.uint64(2), np.uint64(3)

#: what splitting the input into stride phases costs, as a share of ``copy_byte`` per
#: byte of input split (5.1 ms of 6.4 ms for 8 x 64 planes of 114^2 float32, stride 2)
SPLIT_SHARE = 0.75

#: what a work item (a plane, or a tile of one) costs beyond its multiply-adds, in
#: multiply-adds: about 50 ns (1024 planes of 7 x 7 outputs, 3 x 3 taps, float32)
ITEM_MACS = 2000


def available() -> bool:
    return True


def supports(problem: LayerProblem) -> bool:
    return (problem.device == "cpu" and not problem.transposed and problem.depthwise
            and 1 <= problem.ndim <= 3
            and problem.dtype in (np.dtype(np.float32), np.dtype(np.float64)))


# ---------------------------------------------------------------- kernels
#
# Every kernel takes the flat input ``x`` (N * C planes), the flat result ``out``
# (N * C_out planes) and the weights as 1-D arrays and works with absolute
# positions in them: views of planes made inside the loops would each cost an
# atomic reference count.

@jit(inline=True)
def _copy_out(buf, n, out, k, dbase, Wq, Wo, limit):
    """Write ``buf[:n]``, the run positions ``k .. k + n`` of a group, to its output rows.

    Run position ``k`` is row ``k // Wq``, column ``k % Wq`` of the group (whose
    first output is ``out[dbase]``); columns from ``Wo`` on were computed only to
    keep the run contiguous and are dropped.  A row shorter than a vector is
    written as a whole vector where that stays below ``limit`` (the end of this
    work item's rows): the lanes past the row land on rows written after it.
    """
    v = vec_zeros(buf)
    vl = v.shape[0]
    row = k // Wq
    col = k - row * Wq
    i = 0
    while i < n:
        seg = min(Wq - col, n - i)
        if col < Wo:
            d = dbase + row * Wo + col
            cnt = min(seg, Wo - col)
            if cnt >= vl:                       # vectors, the last one moved back
                for c in range(0, cnt - vl, vl):
                    vec_load_at(v, buf, i + c)
                    vec_store_at(v, out, d + c)
                vec_load_at(v, buf, i + cnt - vl)
                vec_store_at(v, out, d + cnt - vl)
            elif d + vl <= limit and i + vl <= buf.shape[0]:
                vec_load_at(v, buf, i)
                vec_store_at(v, out, d)
            else:
                for e in range(cnt):
                    out[d + e] = buf[i + e]
        i += seg
        row += 1
        col = 0


@jit(inline=True)
def _tail(x, wt, wbase, offs, buf, bb, p, n, reach):
    """``buf[:n]`` = the ``n`` outputs (fewer than a block) whose run starts at ``x[p]``,
    each from the bias (``bb``: a block of the plane's bias).

    Quarter blocks; the rest as one more quarter block where its reads
    (``reach`` past its end) stay inside ``x`` -- the lanes past ``n`` read the
    next plane and are dropped -- else as single vectors, the last one moved
    back to end at ``n``, and scalars when ``n`` is shorter than a vector.
    """
    taps = offs.shape[0]
    qw = quarter_zeros(buf).shape[0]
    vl = vec_zeros(buf).shape[0]
    q = 0
    while q < n and (q + qw <= n or p + q + qw + reach <= x.shape[0]):
        acc = quarter_zeros(buf)
        quarter_load_at(acc, bb, 0)
        for t in range(taps):
            quarter_fma_at(acc, wt[wbase + t], x, p + q + offs[t])
        quarter_store_at(acc, buf, q)
        q += qw
    while q < n:
        if n < vl:              # the whole group is shorter than a vector
            for e in range(q, n):
                acc0 = bb[0]
                for t in range(taps):
                    acc0 += wt[wbase + t] * x[p + e + offs[t]]
                buf[e] = acc0
            return
        q = min(q, n - vl)
        acc = vec_zeros(buf)
        vec_load_at(acc, bb, 0)
        for t in range(taps):
            vec_fma_at(acc, wt[wbase + t], x, p + q + offs[t])
        vec_store_at(acc, buf, q)
        q += vl


@jit
def _group(x, wt, wbase, offs, out, bb, pbase, span, dbase, Wq, Wo, limit, reach):
    """The outputs of one flat run of ``span`` positions starting at ``x[pbase]``.

    ``bb`` is a block of the plane's bias, ``limit`` the end of this work item's
    rows in ``out``, ``reach`` the farthest tap offset (see :func:`_tail`).
    """
    buf = block_zeros(out)      # on the stack: where blocks that cross rows land
    W = buf.shape[0]
    taps = offs.shape[0]
    k = 0
    while k < span:
        n = min(W, span - k)
        if n < W:
            _tail(x, wt, wbase, offs, buf, bb, pbase + k, n, reach)
            _copy_out(buf, n, out, k, dbase, Wq, Wo, limit)
            break
        acc = block_zeros(out)
        block_load_at(acc, bb, 0)
        for t in range(taps):
            fma_at(acc, wt[wbase + t], x, pbase + k + offs[t])
        row = k // Wq
        col = k - row * Wq
        if col + W <= Wo:       # the block lies in one output row: store it in place
            store_at(acc, out, dbase + row * Wo + col)
        else:
            store_at(acc, buf, 0)
            _copy_out(buf, W, out, k, dbase, Wq, Wo, limit)
        k += W


@jit(inline=True)
def _load4(x, u, c0, c1, c2, c3, i0, i1, i2, i3):
    vec_load_at(i0, x, u + c0)
    vec_load_at(i1, x, u + c1)
    vec_load_at(i2, x, u + c2)
    vec_load_at(i3, x, u + c3)


@jit(inline=True)
def _store_row(out, d, c0, c1, c2, c3, a0, a1, a2, a3):
    vec_store_at(a0, out, d + c0)
    vec_store_at(a1, out, d + c1)
    vec_store_at(a2, out, d + c2)
    vec_store_at(a3, out, d + c3)


@jit(inline=True)
def _feed(row, mask, wsch, k, a00, a01, a02, a03, a10, a11, a12, a13, a20, a21, a22, a23,
          a30, a31, a32, a33, i0, i1, i2, i3):
    """Multiply one entry's input vectors into the band rows set in ``mask`` (weights
    ``wsch[k + r]``), each row by ``row`` (:func:`~numbaconv._kernels.blocks.fma4` or
    :func:`_fma_row_h`)."""
    if mask == 15:      # the steady state of tall kernels: no branch per row
        row(a00, a01, a02, a03, wsch[k], i0, i1, i2, i3)
        row(a10, a11, a12, a13, wsch[k + ONE], i0, i1, i2, i3)
        row(a20, a21, a22, a23, wsch[k + TWO], i0, i1, i2, i3)
        row(a30, a31, a32, a33, wsch[k + THREE], i0, i1, i2, i3)
        return
    if mask & 1:
        row(a00, a01, a02, a03, wsch[k], i0, i1, i2, i3)
    if mask & 2:
        row(a10, a11, a12, a13, wsch[k + ONE], i0, i1, i2, i3)
    if mask & 4:
        row(a20, a21, a22, a23, wsch[k + TWO], i0, i1, i2, i3)
    if mask & 8:
        row(a30, a31, a32, a33, wsch[k + THREE], i0, i1, i2, i3)


@jit(inline=True)
def _fma_row_h(a0, a1, a2, h3, kj, i0, i1, i2, j3):
    """:func:`~numbaconv._kernels.blocks.fma4` with a half vector fourth."""
    vec_fma_at(a0, kj, i0, 0)
    vec_fma_at(a1, kj, i1, 0)
    vec_fma_at(a2, kj, i2, 0)
    half_fma_at(h3, kj, j3, 0)


@jit(inline=True)
def _load4_h(x, u, c0, c1, c2, c3, i0, i1, i2, j3):
    vec_load_at(i0, x, u + c0)
    vec_load_at(i1, x, u + c1)
    vec_load_at(i2, x, u + c2)
    half_load_at(j3, x, u + c3)


@jit(inline=True)
def _store_row_h(out, d, c0, c1, c2, c3, a0, a1, a2, h3):
    vec_store_at(a0, out, d + c0)
    vec_store_at(a1, out, d + c1)
    vec_store_at(a2, out, d + c2)
    half_store_at(h3, out, d + c3)


def _band_of(half):
    """The band kernel: :func:`_band`, or with ``half`` :func:`_band_half`, one body for both.

    ``_band(x, wsch, wbase, ent_u, ent_mask, out, bb, base, dbase, rows, Wo)``: output
    rows ``rows`` (at most four) of one band, four vectors of each row at a time, each
    from the bias (``bb``: a block of the plane's bias).  Entry ``e`` of the schedule
    is one input vector at ``x[base + ent_u[e]]`` (from the band's first output row)
    and the band rows it feeds (bit ``r`` of ``ent_mask[e]``), with the weights
    ``wsch[wbase + 4 e + r]``: each loaded input vector is multiplied into every
    output row whose window holds it, up to four times fewer loads than multiply-adds.
    A row's vectors start at ``0, L, 2 L, ...``, the last ones moved back to end at
    ``Wo`` (they recompute a few columns).

    ``_band_half``: the same for rows of ``3 L < Wo <= 3.5 L`` columns (56 in float32
    on AVX-512), three vectors and a half vector a row, where a fourth vector moved
    back to end at ``Wo`` recomputed half of it (an eighth of the multiply-adds).
    """
    load4 = _load4_h if half else _load4
    row = _fma_row_h if half else fma4
    store = _store_row_h if half else _store_row
    zero3 = half_zeros if half else vec_zeros

    def band(x, wsch, wbase, ent_u, ent_mask, out, bb, base, dbase, rows, Wo):
        live = (1 << rows) - 1
        i0, i1, i2, i3 = vec_zeros(out), vec_zeros(out), vec_zeros(out), zero3(out)
        L = i0.shape[0]
        last = Wo - L
        for b in range(0, 4 if half else (Wo + L - 1) // L, 4):
            c0, c1, c2 = min(b * L, last), min((b + 1) * L, last), min((b + 2) * L, last)
            c3 = Wo - i3.shape[0] if half else min((b + 3) * L, last)
            a00, a01, a02, a03 = vec_zeros(out), vec_zeros(out), vec_zeros(out), zero3(out)
            a10, a11, a12, a13 = vec_zeros(out), vec_zeros(out), vec_zeros(out), zero3(out)
            a20, a21, a22, a23 = vec_zeros(out), vec_zeros(out), vec_zeros(out), zero3(out)
            a30, a31, a32, a33 = vec_zeros(out), vec_zeros(out), vec_zeros(out), zero3(out)
            # every accumulator starts from the plane's bias (the same vector four times a row)
            load4(bb, 0, 0, 0, 0, 0, a00, a01, a02, a03)
            load4(bb, 0, 0, 0, 0, 0, a10, a11, a12, a13)
            load4(bb, 0, 0, 0, 0, 0, a20, a21, a22, a23)
            load4(bb, 0, 0, 0, 0, 0, a30, a31, a32, a33)
            for e in range(ent_u.shape[0]):
                mask = ent_mask[e] & live
                if mask == 0:   # feeds only rows past a short band's end: never read it
                    continue
                load4(x, base + ent_u[e], c0, c1, c2, c3, i0, i1, i2, i3)
                k = np.uint64(wbase + BAND_ROWS * e)     # unsigned: no negative-index test
                _feed(row, mask, wsch, k, a00, a01, a02, a03, a10, a11, a12, a13,
                      a20, a21, a22, a23, a30, a31, a32, a33, i0, i1, i2, i3)
            store(out, dbase, c0, c1, c2, c3, a00, a01, a02, a03)
            if rows > 1:
                store(out, dbase + Wo, c0, c1, c2, c3, a10, a11, a12, a13)
            if rows > 2:
                store(out, dbase + 2 * Wo, c0, c1, c2, c3, a20, a21, a22, a23)
            if rows > 3:
                store(out, dbase + 3 * Wo, c0, c1, c2, c3, a30, a31, a32, a33)

    band.__name__ = band.__qualname__ = "_band_half" if half else "_band"
    return jit(band)


_band, _band_half = _band_of(False), _band_of(True)


@jit
def _split(x, src, xs, geom):
    """``xs`` = the input plane at ``x[src:]``, zero-padded and split into its stride phases.

    Phase ``(pd, ph, pw)`` holds the padded samples ``(qd sd + pd, qh sh + ph, qw sw + pw)``
    at ``(qd, qh, qw)``; padded sample ``(d, h, w)`` is the plane's ``(d - ld, h - lh,
    w - lw)`` (of ``(D, H, W)``), zero outside it.  Unpadded (an input padded by
    :func:`padding.pad`), ``(ld, lh, lw)`` is zero and ``(D, H, W)`` the padded shape.

    Only the samples inside the plane are written, at the same places for every
    plane of one ``geom``: ``xs`` comes zeroed from its work item and keeps its zeros
    from plane to plane (filling it for every plane took a third of the copy's time).
    """
    sd, sh, sw = geom[11], geom[12], geom[13]
    Dq, Hq, Wq = geom[17], geom[2], geom[3]
    ld, lh, lw, D, H, W = geom[19], geom[20], geom[21], geom[22], geom[23], geom[24]
    v = vec_zeros(xs)
    vl = v.shape[0]
    i = 0
    for pd in range(sd):
        for ph in range(sh):
            for pw in range(sw):
                # the columns qw whose sample qw * sw + pw - lw lies in [0, W)
                c0 = min(Wq, max(0, (lw - pw + sw - 1) // sw))
                c1 = max(c0, min(Wq, (W - 1 + lw - pw) // sw + 1))
                for qd in range(Dq):
                    d = qd * sd + pd - ld
                    for qh in range(Hq):
                        h = qh * sh + ph - lh
                        if 0 <= d < D and 0 <= h < H:
                            at = i + c0
                            row = src + (d * H + h) * W + c0 * sw + pw - lw
                            n = c1 - c0
                            if sw == 1 and n >= vl:     # vectors, the last one moved back
                                for c in range(0, n - vl, vl):
                                    vec_load_at(v, x, row + c)
                                    vec_store_at(v, xs, at + c)
                                vec_load_at(v, x, row + n - vl)
                                vec_store_at(v, xs, at + n - vl)
                            else:                       # strided, or shorter than one
                                for qw in range(n):
                                    xs[np.uint64(at + qw)] = x[np.uint64(row + qw * sw)]
                        i += Wq


@jit(inline=True)
def _source(geom, plane):
    """Where the input plane of output plane ``plane`` (image, output channel) starts in ``x``."""
    n = plane // geom[5]
    o = plane - n * geom[5]
    return (n * (geom[5] // geom[6]) + o // geom[6]) * geom[18]


@jit
def _plane(x, geom, tiles, rows_per_tile, item, buf, bias, bb):
    """Plane tile ``item``: ``(xs, src, dst, r0, r1, o)``, its input (``xs`` from
    ``src``), its output plane's start ``dst`` in ``out``, its output rows ``[r0, r1)``
    and output channel ``o``, whose bias fills the block ``bb``.

    A strided problem, or one whose zero padding is left to the kernel
    (``geom[10]``), first builds the tile's padded input plane, split into its
    phases (:func:`_split`), in ``buf`` (its work item's own).
    """
    Wo, planes, P = geom[1], geom[5], geom[8]
    plane = item // tiles
    tile = item - plane * tiles
    n = plane // planes
    o = plane - n * planes
    for j in range(bb.shape[0]):
        bb[j] = bias[o]
    src = _source(geom, plane)                      # the input plane's start in x
    if geom[10]:
        _split(x, src, buf, geom)
        xs = buf
        src = 0
    else:
        xs = x
    r0 = tile * rows_per_tile
    return xs, src, plane * P, r0, min(P // Wo, r0 + rows_per_tile), o


@jit(inline=True)
def _prefetch(x, start, stop, write):
    """Hint that ``x[start:stop]`` is read soon, or written (``write``: a constant at each
    call, so the branch folds), a line at a time, within ``x``."""
    step = LINE_BYTES // x.itemsize
    for i in range(max(start, 0), min(stop, x.shape[0]), step):
        if write:
            prefetch_write_at(x, i)
        else:
            prefetch_at(x, i)


@jit
def _item_bands(x, wsch, ent_u, ent_mask, out, bias, geom, tiles, rows_per_tile, group, total,
                item):
    """Work item ``item``: plane tiles ``[group item, group (item + 1))`` (those below
    ``total``), each one's output rows ``[r0, r1)`` in bands (:func:`_band`).  The item
    allocates one phase buffer for all its tiles: with one a tile, 8 x 64 planes of 56²
    (3 x 3, float32, 2 threads) took 1.83 ms, with one a group 0.66 ms."""
    Ho, Wo, Hq, Wq = geom[0], geom[1], geom[2], geom[3]
    buf = np.zeros(geom[7] if geom[10] else 0, x.dtype)   # see _split
    bb = block_zeros(out)              # the plane's bias, a block of it
    last = min(total, (item + 1) * group)
    for it in range(item * group, last):
        xs, src, dst, r, r1, o = _plane(x, geom, tiles, rows_per_tile, it, buf, bias, bb)
        wbase = o * ent_u.shape[0] * BAND_ROWS
        # each band prefetches a share of the next tile's input plane, so that it arrives
        # while this one computes (read only when its tile began, a 3 x 3 layer's copies
        # waited on one core's memory latency)
        nxt = _source(geom, (it + 1) // tiles) if it + 1 < last else x.shape[0]
        share = -(-geom[18] // max(1, -(-(r1 - r) // BAND_ROWS)))
        ahead = nxt
        while r < r1:
            z = r // Ho
            ya = r - z * Ho
            yb = min(Ho, ya + r1 - r)      # this tile's rows in depth slice z
            y = ya
            while y < yb:
                nr = min(BAND_ROWS, yb - y)
                if nr < BAND_ROWS and yb - ya >= BAND_ROWS:
                    y = yb - BAND_ROWS     # moved back: recomputes rows, never runs short
                    nr = BAND_ROWS
                _prefetch(x, ahead, min(ahead + share, nxt + geom[18]), False)
                ahead += share
                # the next band's output rows, owned by the time the band stores them
                # (a store's miss waits on memory when the last call's output was evicted)
                nd = dst + (z * Ho + y + nr) * Wo
                _prefetch(out, nd, min(nd + BAND_ROWS * Wo, dst + geom[8]), True)
                if geom[25]:
                    _band_half(xs, wsch, wbase, ent_u, ent_mask, out, bb,
                               src + (z * Hq + y) * Wq, dst + (z * Ho + y) * Wo, nr, Wo)
                else:
                    _band(xs, wsch, wbase, ent_u, ent_mask, out, bb, src + (z * Hq + y) * Wq,
                          dst + (z * Ho + y) * Wo, nr, Wo)
                y += nr
            r += yb - ya


@jit
def _item_runs(x, wt, offs, out, bias, geom, tiles, rows_per_tile, group, total, item):
    """Work item ``item``: plane tiles ``[group item, group (item + 1))`` (those below
    ``total``), each one's output rows ``[r0, r1)`` in flat runs (:func:`_group`)."""
    Ho, Wo, Hq, Wq = geom[0], geom[1], geom[2], geom[3]
    buf = np.zeros(geom[7] if geom[10] else 0, x.dtype)   # see _split
    bb = block_zeros(out)              # the plane's bias, a block of it
    for it in range(item * group, min(total, (item + 1) * group)):
        xs, src, dst, r, r1, o = _plane(x, geom, tiles, rows_per_tile, it, buf, bias, bb)
        wbase = o * offs.shape[0]
        limit = dst + r1 * Wo
        while r < r1:
            z = r // Ho
            y = r - z * Ho
            nr = min(r1 - r, Ho - y)          # rows left in this depth slice
            _group(xs, wt, wbase, offs, out, bb, src + (z * Hq + y) * Wq, (nr - 1) * Wq + Wo,
                   dst + r * Wo, Wq, Wo, limit, geom[9])
            r += nr


@jit(inline=True)
def _aligned_zeros(n, like):
    """``n`` zeros of ``like``'s dtype from a 64-byte boundary (a vector a load, never two
    cache lines)."""
    raw = np.zeros(n + 64 // like.itemsize, like.dtype)
    off = (-address_of(raw)) % 64 // like.itemsize
    return raw[off:off + n]


@jit
def _chan_gather(x, wt, bias, geom, p0, nl, ibuf, wv, bv, srcs, tbuf, flat):
    """Lay the channel block of planes ``p0 .. p0 + nl - 1`` out for :func:`_chan_row`.

    Lane ``c`` of ``ibuf[pos L : pos L + L]`` is the padded input plane of plane
    ``p0 + c`` at flat position ``pos`` of ``(Dp, Hp, Wp)``; ``wv[t L + c]`` its tap
    ``t``, ``bv[c]`` its bias.  Lanes from ``nl`` on repeat the last plane (their
    results are dropped).  Only the positions inside the plane are written: ``ibuf``
    comes zeroed from its work item and keeps the zero padding.

    Where the planes lie a fixed step apart in ``x``, ``L`` positions of each row are
    transposed in registers at a time (:func:`vec_transpose_at`).  Rows shorter than
    a vector go through ``flat``: the whole plane ``L`` positions at a time (a 7² plane
    in 4 transposes, not 7), then each row's vectors into place; or, in planes of fewer
    than ``L`` positions, through ``tbuf``, a chunk that passes the row's end reading on
    into the next row.  Otherwise, and where a chunk would read past ``x``, element by
    element, a position's lanes together.
    """
    L = bv.shape[0]
    taps = wv.shape[0] // L
    planes, Hp, Wp = geom[5], geom[15], geom[16]
    ld, lh, lw, D, H, W = geom[19], geom[20], geom[21], geom[22], geom[23], geom[24]
    for c in range(L):
        p = p0 + min(c, nl - 1)
        o = p % planes
        bv[c] = bias[o]
        for t in range(taps):
            wv[t * L + c] = wt[o * taps + t]
        srcs[c] = _source(geom, p)
    step = srcs[1] - srcs[0]
    even = step > 0
    for c in range(2, L):
        even = even and srcs[c] - srcs[c - 1] == step
    v = vec_zeros(ibuf)
    n_in = D * H * W
    if even and W < L <= n_in:
        for q0 in range(0, n_in, L):            # the last chunk moved back to the plane's end
            q1 = min(q0, n_in - L)
            vec_transpose_at(x, srcs[0] + q1, step, flat, q1 * L, L)
        for d in range(D):
            for h in range(H):
                row = (d * H + h) * W
                dst = (((d + ld) * Hp + h + lh) * Wp + lw) * L
                for w in range(W):
                    vec_load_at(v, flat, (row + w) * L)
                    vec_store_at(v, ibuf, dst + w * L)
        return
    for d in range(D):
        for h in range(H):
            row = (d * H + h) * W
            dst = (((d + ld) * Hp + h + lh) * Wp + lw) * L
            for w0 in range(0, W, L):
                n = min(L, W - w0)
                if even and W >= L:         # the last chunk moved back to end at the row's end
                    w1 = min(w0, W - L)
                    vec_transpose_at(x, srcs[0] + row + w1, step, ibuf, dst + w1 * L, L)
                    continue
                if even and srcs[L - 1] + row + w0 + L <= x.shape[0]:
                    vec_transpose_at(x, srcs[0] + row + w0, step, tbuf, 0, L)
                    for j in range(n):
                        vec_load_at(v, tbuf, j * L)
                        vec_store_at(v, ibuf, dst + (w0 + j) * L)
                    continue
                for w in range(w0, w0 + n):
                    for c in range(L):
                        ibuf[np.uint64(dst + w * L + c)] = x[np.uint64(srcs[c] + row + w)]


@jit
def _chan_scatter(obuf, P, out, d0, nl, tbuf):
    """``out[d0 + c P + pos] = obuf[pos L + c]`` for the block's planes ``c < nl`` and
    positions ``pos < P`` (``obuf`` holds whole chunks of ``L`` positions): ``L``
    positions transposed at a time (:func:`vec_transpose_at`), each plane's stored as a
    vector, or element by element in the last chunk."""
    v = vec_zeros(tbuf)
    L = v.shape[0]
    for pos0 in range(0, P, L):
        n = min(L, P - pos0)
        if nl == L and P >= L:      # straight into the planes, the last chunk moved back
            p1 = min(pos0, P - L)
            vec_transpose_at(obuf, p1 * L, L, out, d0 + p1, P)
            continue
        vec_transpose_at(obuf, pos0 * L, L, tbuf, 0, L)
        for c in range(nl):
            d = d0 + c * P + pos0
            if n == L:
                vec_load_at(v, tbuf, c * L)
                vec_store_at(v, out, d)
            else:
                for j in range(n):
                    out[np.uint64(d + j)] = tbuf[np.uint64(c * L + j)]


@jit
def _chan_row(ibuf, wv, bv, toff, obuf, at, base, sw, kw, Wo):
    """``obuf[at + ox L : at + ox L + L]`` = the channel block's outputs ``ox < Wo`` of one
    output row, whose first window starts at position ``base`` of ``ibuf`` (windows
    ``sw`` positions apart).

    Four outputs at a time, each tap one vector of weights for all four (four
    independent multiply-add chains), the last four moved back to end at ``Wo``.
    Where windows and taps are one position apart (``kw``, the taps a kernel row, is
    not 0; unit stride), a kernel row's ``kw + 3`` input vectors are loaded once and
    slid past the four outputs, not loaded once a tap and output.
    """
    a0, a1, a2, a3 = vec_zeros(obuf), vec_zeros(obuf), vec_zeros(obuf), vec_zeros(obuf)
    L = a0.shape[0]
    taps = toff.shape[0]
    if Wo < CHAN_STEP:
        for ox in range(Wo):
            vec_load_at(a0, bv, 0)
            for t in range(taps):
                vec_fma_pair_at(a0, wv, t * L, ibuf, (base + ox * sw + toff[t]) * L)
            vec_store_at(a0, obuf, at + ox * L)
        return
    x0, x1, x2, x3 = vec_zeros(obuf), vec_zeros(obuf), vec_zeros(obuf), vec_zeros(obuf)
    ox = 0
    while True:
        vec_load_at(a0, bv, 0)
        vec_load_at(a1, bv, 0)
        vec_load_at(a2, bv, 0)
        vec_load_at(a3, bv, 0)
        p = base + ox * sw
        if kw:
            for r in range(taps // kw):
                q = (p + toff[r * kw]) * L
                vec_load_at(x0, ibuf, q)
                vec_load_at(x1, ibuf, q + L)
                vec_load_at(x2, ibuf, q + 2 * L)
                for j in range(kw):
                    w = (r * kw + j) * L
                    vec_load_at(x3, ibuf, q + (j + 3) * L)
                    vec_fma_pair_at(a0, wv, w, x0, 0)
                    vec_fma_pair_at(a1, wv, w, x1, 0)
                    vec_fma_pair_at(a2, wv, w, x2, 0)
                    vec_fma_pair_at(a3, wv, w, x3, 0)
                    vec_load_at(x0, x1, 0)      # the window slides one position
                    vec_load_at(x1, x2, 0)
                    vec_load_at(x2, x3, 0)
        else:
            for t in range(taps):
                q = (p + toff[t]) * L
                vec_fma_pair_at(a0, wv, t * L, ibuf, q)
                vec_fma_pair_at(a1, wv, t * L, ibuf, q + sw * L)
                vec_fma_pair_at(a2, wv, t * L, ibuf, q + 2 * sw * L)
                vec_fma_pair_at(a3, wv, t * L, ibuf, q + 3 * sw * L)
        o = at + ox * L
        vec_store_at(a0, obuf, o)
        vec_store_at(a1, obuf, o + L)
        vec_store_at(a2, obuf, o + 2 * L)
        vec_store_at(a3, obuf, o + 3 * L)
        if ox == Wo - CHAN_STEP:
            return
        ox = min(ox + CHAN_STEP, Wo - CHAN_STEP)


@jit
def _item_chans(x, wt, out, bias, geom, toff, nplanes, group, item):
    """Work item ``item``: channel blocks ``[group item, group (item + 1))``, each of
    ``L`` consecutive planes (a vector's lanes) computed together.

    The block's input planes are laid out lane by lane (:func:`_chan_gather`), so that
    one vector holds one position of ``L`` planes and each tap is one multiply-add of
    a vector of weights (:func:`_chan_row`); strides and dilations are only the
    positions a window reads.  The block's output planes are written back at the end
    (:func:`_chan_scatter`).
    """
    Ho, Wo, P = geom[0], geom[1], geom[8]
    Do = P // (Ho * Wo)
    sd, sh, sw = geom[11], geom[12], geom[13]
    Dp, Hp, Wp = geom[14], geom[15], geom[16]
    bv = _aligned_zeros(vec_zeros(out).shape[0], out)
    L = bv.shape[0]
    ibuf = _aligned_zeros(Dp * Hp * Wp * L, out)
    obuf = _aligned_zeros(-(-P // L) * L * L, out)
    tbuf = _aligned_zeros(L * L, out)
    wv = _aligned_zeros(toff.shape[0] * L, out)
    flat = _aligned_zeros(geom[22] * geom[23] * geom[24] * L if geom[24] < L else 0, out)
    srcs = np.empty(L, np.int64)
    for blk in range(item * group, min(-(-nplanes // L), (item + 1) * group)):
        p0 = blk * L
        nl = min(L, nplanes - p0)
        _chan_gather(x, wt, bias, geom, p0, nl, ibuf, wv, bv, srcs, tbuf, flat)
        for oz in range(Do):
            for oy in range(Ho):
                _chan_row(ibuf, wv, bv, toff, obuf, (oz * Ho + oy) * Wo * L,
                          (oz * sd * Hp + oy * sh) * Wp, sw, geom[26], Wo)
        _chan_scatter(obuf, P, out, p0 * P, nl, tbuf)


def _band_weights(wt, taps, ent_t):
    """``wsch[(o E + e) 4 + r] = wt[o taps + ent_t[4 e + r]]`` for the ``E`` entries of the
    band schedule, zero where ``ent_t`` says ``taps`` (entry ``e`` meets no tap in row
    ``r``).  NumPy, a gather of a few thousand weights not worth a compile: one ``take``
    from the weights with a zero column appended, 0.38-0.47x the time of a gather, a
    select and a cast (64 planes of 3 x 3 taps: 12.3 -> 5.4 us a call)."""
    planes = wt.shape[0] // taps
    table = np.zeros((planes, taps + 1), wt.dtype)
    table[:, :taps] = wt.reshape(planes, taps)
    return np.take(table, ent_t, axis=1).reshape(-1)


def _depthwise(threads, x, wt, offs, ent_u, ent_t, ent_mask, toff, out, bias, geom, tiles,
               rows_per_tile):
    """``out[(n, o), r Wo + c] = bias[o] + sum_t wt[o, t] x[(n, o // m), base(r) + c + offs[t]]``.

    ``x``, ``wt`` and ``out`` are the flat input (``N * C`` planes), weights
    (``C_out`` rows of ``T`` taps) and result (``N * C_out`` planes); ``geom``
    holds, in order: output rows per depth slice ``Ho``, output columns ``Wo``,
    rows per slice ``Hq`` and row pitch ``Wq`` of the (phase) plane the taps
    read, whether rows run in bands (:func:`_band`, with the schedule ``ent_u``,
    ``ent_t``, ``ent_mask``), flat runs (:func:`_group`, with ``offs``) or channel blocks
    (:func:`_item_chans`, with the taps' positions ``toff``: :func:`_chan_offsets`),
    ``C_out``, output channels per input channel ``m``, the sizes of a phase
    plane and of an output plane, the farthest tap offset, whether strides
    split each input plane into phases first (:func:`_split`), the strides
    ``(sd, sh, sw)``, the padded input plane's shape ``(Dp, Hp, Wp)``, ``Dq``,
    the size of an input plane of ``x``, the padding before each axis
    ``(ld, lh, lw)`` and shape ``(D, H, W)`` of that plane (see :func:`_fused`),
    whether band rows run as three vectors and a half (:func:`_band_half`), and the taps
    of a kernel row where windows and taps are one position apart (else 0).
    """
    if geom[4] == CHANS:
        planes = out.shape[0] // geom[8]
        blocks = -(-planes // lanes(out.dtype, VEC_BYTES))
        group = max(1, blocks // (GROUPS_PER_THREAD * threads))
        run_items(_item_chans, (x, wt, out, bias, geom, toff, planes, group),
                  -(-blocks // group), threads)
        return
    total = out.shape[0] // geom[8] * tiles
    # tiles in groups: about GROUPS_PER_THREAD work items a thread
    group = max(1, total // (GROUPS_PER_THREAD * threads))
    n = -(-total // group)
    if geom[4] == BANDS:               # one kernel per layout: a call compiles only its own
        wsch = _band_weights(wt, offs.shape[0], ent_t)
        run_items(_item_bands, (x, wsch, ent_u, ent_mask, out, bias, geom, tiles,
                                rows_per_tile, group, total), n, threads)
    else:
        run_items(_item_runs, (x, wt, offs, out, bias, geom, tiles, rows_per_tile, group,
                               total), n, threads)


# ---------------------------------------------------------------- layout

def _as3(t, fill):
    """A per-axis tuple of a 1-D, 2-D or 3-D problem as three axes (leading ``fill``)."""
    return (fill,) * (3 - len(t)) + tuple(t)


def _half_row(Wo: int, dtype) -> bool:
    """Whether band rows of ``Wo`` columns run as three vectors and a half
    (:func:`_band_half`): ``3 L < Wo <= 3.5 L``."""
    L = lanes(dtype, VEC_BYTES)
    return 3 * L < Wo <= 3 * L + L // 2


def _chan_kind(problem: LayerProblem) -> bool:
    """Whether ``problem`` runs in channel blocks (:func:`_item_chans`): output rows shorter
    than :data:`CHAN_ROW_VECTORS` vectors (:data:`CHAN_ROW_VECTORS_STRIDED` when strided),
    at least a block of planes, and a padded plane of a block within
    :data:`CHAN_MAX_BYTES`."""
    L = lanes(problem.dtype, VEC_BYTES)
    block = math.prod(problem.shape) * L * problem.dtype.itemsize
    rows = (CHAN_ROW_VECTORS_STRIDED if any(s > 1 for s in problem.stride)
            else CHAN_ROW_VECTORS)
    return (problem.ndim >= 2 and problem.out_shape[-1] < rows * L
            and problem.batch * problem.out_channels >= L and block <= CHAN_MAX_BYTES)


@functools.lru_cache(maxsize=256)
def _chan_offsets(problem: LayerProblem):
    """Every tap's first position in the padded plane ``(Dp, Hp, Wp)`` of a channel block."""
    _, Hp, Wp = _as3(problem.shape, 1)
    dil = _as3(problem.dilation, 1)
    toff = np.array([((td * dil[0]) * Hp + th * dil[1]) * Wp + tw * dil[2]
                     for td, th, tw in np.ndindex(*_as3(problem.kernel, 1))], dtype=np.int64)
    toff.flags.writeable = False
    return toff


@functools.lru_cache(maxsize=256)
def _plan(problem: LayerProblem):
    """Shape-only decisions of :func:`run`, memoised per problem.

    Returns ``(q, offs, geom, ent_u, ent_t, ent_mask)``: the phase shape
    ``(Dq, Hq, Wq)``, every tap's offset in the flat phases, the kernels'
    ``geom`` (see :func:`_depthwise`) and the band schedule (``ent_t[4 e + r]``:
    the tap that input vector ``ent_u[e]`` meets in band row ``r``, or the number of
    taps where it meets none; bit ``r`` of ``ent_mask[e]`` set where it meets one).
    Rows run in bands when a row holds a vector and a slice has two rows; planes with
    short rows in channel blocks (:func:`_chan_kind`); otherwise (1-D, narrow planes
    of few channels) as flat runs, whose blocks fill whatever the plane's width.
    """
    shape = _as3(problem.shape, 1)
    stride = _as3(problem.stride, 1)
    dil = _as3(problem.dilation, 1)
    kernel = _as3(problem.kernel, 1)
    out3 = _as3(problem.out_shape, 1)
    q = tuple(-(-n // s) for n, s in zip(shape, stride))
    size = math.prod(q)
    offs = []
    for tap in np.ndindex(*kernel):
        shift = [t * d for t, d in zip(tap, dil)]
        phase = [h % st for h, st in zip(shift, stride)]
        pos = [h // st for h, st in zip(shift, stride)]
        index = (phase[0] * stride[1] + phase[1]) * stride[2] + phase[2]
        offs.append(index * size + (pos[0] * q[1] + pos[1]) * q[2] + pos[2])
    offs = np.asarray(offs, dtype=np.int64)
    bands = out3[2] >= lanes(problem.dtype, VEC_BYTES) and out3[1] >= 2
    kind = CHANS if _chan_kind(problem) else BANDS if bands else RUNS
    # input vectors of a band: band row r meets tap t at offset r * Wq + offs[t]
    where = {}
    for r in range(BAND_ROWS):
        for t, off in enumerate(offs):
            where.setdefault(int(off) + r * q[2], [-1] * BAND_ROWS)[r] = t
    ent_u = np.array(sorted(where), dtype=np.int64)
    ent_t = np.array([where[u] for u in ent_u], dtype=np.int64).reshape(-1, BAND_ROWS)
    mask = ((ent_t >= 0) << np.arange(BAND_ROWS)).sum(axis=1)
    ent_mask = mask.astype(np.int64)
    ent_t = np.where(ent_t >= 0, ent_t, len(offs)).reshape(-1)      # see _band_weights
    plane = math.prod(q) * math.prod(stride)          # one input plane, its phases included
    split = any(st > 1 for st in stride)
    geom = np.array([out3[1], out3[2], q[1], q[2], kind, problem.out_channels,
                     problem.out_channels // problem.channels, plane, math.prod(out3),
                     offs.max(), int(split), *stride, *shape, q[0], math.prod(shape),
                     0, 0, 0, *shape, int(kind == BANDS and _half_row(out3[2], problem.dtype)),
                     kernel[2] if dil[2] == 1 and stride[2] == 1 else 0],
                    dtype=np.int64)
    for a in (offs, ent_u, ent_t, ent_mask, geom):
        a.flags.writeable = False
    return q, offs, geom, ent_u, ent_t, ent_mask


@functools.lru_cache(maxsize=256)
def _fused(problem: LayerProblem):
    """``geom`` of :func:`_plan` for an unpadded input whose zero padding each work item
    writes around its own copy of the plane (:func:`_split`): the padded planes never
    make a round trip through memory (a third of the time of a 3 x 3 layer)."""
    geom = _plan(problem)[2].copy()
    lo = _as3(tuple(a for a, _ in problem.pad), 0)
    src = tuple(n - a - b for n, (a, b) in zip(problem.shape, problem.pad))
    geom[10] = 1
    geom[18] = math.prod(src)
    geom[19:25] = lo + _as3(src, 1)
    geom.flags.writeable = False
    return geom


def _work(problem: LayerProblem) -> float:
    """Multiply-adds the kernel runs, the columns and rows it recomputes included."""
    q, _, geom, *_ = _plan(problem)
    Ho, Wo, Wq, kind = int(geom[0]), int(geom[1]), int(geom[3]), int(geom[4])
    slices = problem.batch * problem.out_channels * _as3(problem.out_shape, 1)[0]
    if kind == CHANS:             # whole blocks of planes, and each element moved once
        L = lanes(problem.dtype, VEC_BYTES)
        planes = -(-problem.batch * problem.out_channels // L) * L
        moved = math.prod(int(n) for n in geom[22:25]) + math.prod(problem.out_shape)
        return float(planes) * (math.prod(problem.out_shape) * problem.taps
                                + moved * CHAN_MOVE_MACS)
    if kind == BANDS:             # four vectors a block, four rows a band (fewer if Ho is)
        L = lanes(problem.dtype, VEC_BYTES)
        blocks = -(-Ho // BAND_ROWS) * -(-(-(-Wo // L)) // 4)
        width = 3.5 * L if geom[25] else 4 * L      # _band_half: three vectors and a half
        return float(slices) * blocks * min(Ho, BAND_ROWS) * width * problem.taps
    span = (Ho - 1) * Wq + Wo     # a flat run through the slice, the columns between rows too
    return float(slices) * span * problem.taps


@functools.lru_cache(maxsize=1024)
def _layout(problem: LayerProblem, workers: int):
    """``(threads, tiles per plane, output rows per tile, fused)`` for ``workers`` (resolved).

    One thread unless the work pays for a launch
    (:func:`numbaconv._kernels.layout.parallel_pays`); planes are cut into row
    tiles only when there are fewer than :data:`ITEMS_PER_THREAD` per thread
    (and never when strides split them into phases).  Zero padding is
    ``fused`` into each work item's copy of its plane (:func:`_fused`) unless
    planes are cut (each tile would pad the whole plane again).
    """
    threads = (thread_count(workers)
               if parallel_pays(problem.macs, problem.dtype.itemsize) else 1)
    rows = math.prod(problem.out_shape[:-1])
    planes = problem.batch * problem.out_channels
    want = ITEMS_PER_THREAD * threads if threads > 1 else 1
    if any(s > 1 for s in problem.stride) or _chan_kind(problem):
        want = 1                # each tile would split (or lay out) the whole plane again
    tiles = max(1, min(rows, -(-want // max(planes, 1))))
    per = -(-rows // tiles)
    fused = (tiles == 1 and problem.padding_mode == "zeros"
             and any(a or b for a, b in problem.pad))
    return threads, -(-rows // per), per, fused


# ---------------------------------------------------------------- contract

def cost(problem: LayerProblem, workers=None) -> float:
    """Predicted seconds: the kernel's multiply-adds at ``depthwise_mac`` a thread (with the
    moves of channel blocks), a start-up per work item (per block of planes in channel
    blocks), the input and output streamed once at a direct kernel's share of the
    layer's ``copy_byte``, and the phase split of strided layers outside channel blocks
    (each plane once per output channel reading it)."""
    top = coef.coefficients()
    c = top["layer"]
    threads, tiles, _, _ = _layout(problem, resolve_workers(workers))
    par = coef.effective_threads(threads) if threads > 1 else 1.0
    items = problem.batch * problem.out_channels * tiles
    moved = (problem.batch * problem.channels * math.prod(problem.shape)
             + problem.batch * problem.out_channels * math.prod(problem.out_shape))
    stream = moved * problem.dtype.itemsize * c["copy_byte"] * top["direct_stream"]
    chans = _plan(problem)[2][4] == CHANS
    if any(s > 1 for s in problem.stride) and not chans:   # the phase split reads it once more
        stream += (problem.batch * problem.out_channels * math.prod(problem.shape)
                   * problem.dtype.itemsize * c["copy_byte"] * SPLIT_SHARE)
    if chans:                   # a start-up per block of planes
        items = -(-problem.batch * problem.out_channels // lanes(problem.dtype, VEC_BYTES))
    rate = c["depthwise_mac"][coef.direct_key(problem.dtype)]
    return c["overhead"] + ((_work(problem) + ITEM_MACS * items) * rate + stream) / par


def memory(problem: LayerProblem, workers=None) -> int:
    """Predicted peak bytes of :func:`run`.

    The output, the padded input (a copy only when padded and not fused), the
    band schedule's weights, and each thread's plane (strided or fused layers) or
    channel block (:func:`_item_chans`).
    """
    item = problem.dtype.itemsize
    _, _, geom, ent_u, _, _ = _plan(problem)
    threads, _, _, fused = _layout(problem, resolve_workers(workers))
    outputs = problem.batch * problem.out_channels * math.prod(problem.out_shape)
    padded = (problem.batch * problem.channels * math.prod(problem.shape)
              if problem.pad and not fused else 0)
    weights = problem.out_channels * (problem.taps + len(ent_u) * BAND_ROWS)
    split = threads * int(geom[7]) if fused or any(s > 1 for s in problem.stride) else 0
    if geom[4] == CHANS:          # a block's padded input (and its staging copy) and output
        L = lanes(problem.dtype, VEC_BYTES)     # planes, taps, bias, scratch, alignment
        P = -(-math.prod(problem.out_shape) // L) * L
        split = threads * (L * (2 * math.prod(problem.shape) + P + problem.taps + L + 1)
                           + L * 8 // item + 6 * 64 // item)
    return int((outputs + padded + weights + split) * item)


def describe(problem: LayerProblem, workers=None) -> str:
    threads, tiles, _, fused = _layout(problem, resolve_workers(workers))
    kind = _plan(problem)[2][4]
    L = lanes(problem.dtype, VEC_BYTES)
    how = ("bands of 4 rows x 4 vectors, one load per input vector" if kind == BANDS
           else f"channel blocks of {L} planes, one position of each a vector" if kind == CHANS
           else "flat runs (rows narrower than a vector, or 1-D)")
    split = ", stride phases split first" if any(s > 1 for s in problem.stride) else ""
    split += ", zero padding written per plane" if fused else ""
    return (f"{problem.batch * problem.out_channels} planes x {tiles} tile(s) in {how}"
            f"{split}, {threads} thread(s)")


def run(problem: LayerProblem, x, w, *, workers=None, out=None, bias=None):
    """Correlate ``x``, padded as ``problem`` says, with the depthwise ``w``.

    Returns ``(N, C_out, *out_shape)``, plus ``bias`` (one value per output
    channel) where given: ``out`` itself when it is
    C-contiguous in the compute dtype (:func:`numbaconv._kernels.layout.destination`).
    """
    dtype = problem.dtype
    out = destination(out, (problem.batch, problem.out_channels) + tuple(problem.out_shape),
                      dtype)
    if out.size == 0:
        return out
    q, offs, geom, ent_u, ent_t, ent_mask = _plan(problem)
    threads, tiles, per, fused = _layout(problem, resolve_workers(workers))
    if fused:
        geom = _fused(problem)
    else:
        x = padding.pad(x, problem.pad, problem.padding_mode)
    xf = np.ascontiguousarray(x, dtype=dtype)
    if not xf.flags.writeable:          # one array type for the input and the phase buffers
        xf = xf.copy()
    wt = np.ascontiguousarray(np.asarray(w, dtype=dtype)).reshape(-1)
    toff = _chan_offsets(problem) if geom[4] == CHANS else offs
    _depthwise(threads, xf.reshape(-1), wt, offs, ent_u, ent_t, ent_mask, toff, out.reshape(-1),
               per_channel(bias, problem.out_channels, dtype), geom, tiles, per)
    return out
