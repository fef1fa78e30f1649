"""Overlap-add correlation on the CPU (overlap-save for 2-D tiles).

2-D problems may be cut into tiles along both axes, by overlap-save
(:func:`_os_2d`): each tile's transforms stay in a core's cache, each
output tile is written once, and groups of tiles run on separate threads.
Otherwise the longer operand is cut into blocks along the axis where it is
longest relative to the other operand.  The blocks are
transformed as one batch by :mod:`scipy.fft` with ``workers`` threads (so the
blocks run in parallel), the other operand's spectrum is computed once per
call, and the blocks' tails are added back with strided views.  Other
correlated axes are transformed only as long as the output window needs
(:meth:`Problem.window_fft_shape`).  The block length minimises
``N log N / (N - K)`` per output, the classic optimum ``N = -K W_{-1}(-1 / (2 e K))`` for overlap ``K``.
"""
from __future__ import annotations

import functools
import math
from concurrent.futures import Future, wait

import numpy as np
import scipy.fft as sp_fft
from scipy.special import lambertw

from .. import _coefficients as coef
from .._config import resolve_workers
from .._problem import Problem, fft_result_dtype
from . import _pool, _spectra, cpu_fft

NAME = "cpu_oa"
DEVICE = "cpu"
METHOD = "oa"


def available() -> bool:
    return True


def supports(problem: Problem) -> bool:
    return cpu_fft.supports(problem)


def cost(problem: Problem, workers=None) -> float:
    """The cheapest blocking's cost (:func:`plan`), or a little above plain FFT's when none pays."""
    p = plan(problem, workers)
    if p is None:
        return cpu_fft.cost(problem, workers) * 1.05
    return p[3]


def memory(problem: Problem, workers=None) -> int:
    """Predicted peak bytes of :func:`plan`'s blocking (plain FFT's where none pays).

    2-D tiles need the output and, per thread, one tile's padded copy,
    spectrum and inverse: far less than one transform of the whole.
    Blocks along an axis are transformed as one batch: every block's padded
    copy, spectrum and inverse at once, as large as the whole signal's.
    """
    p = plan(problem, workers)
    if p is None:
        return cpu_fft.memory(problem, workers)
    ax, nfft, threads, _ = p
    dtype = fft_result_dtype(problem.dtype, problem.dtype)
    real = dtype.kind != "c"
    size = dtype.itemsize
    csize = 2 * size if real else size
    result = cast = 0
    if problem.dtype != dtype:           # inputs cast to the transform dtype, result back
        cast = (math.prod(problem.shape_a) + math.prod(problem.shape_k)) * size
        result = problem.outputs * problem.dtype.itemsize
    if ax is None:
        t0, t1 = nfft
        spec = t0 * (t1 // 2 + 1 if real else t1) * csize
        # a tile's padded copy, its spectrum (and the inverse's copy of it), its inverse; or
        # a pair's complex tile and its transform: as many bytes
        per_thread = 2 * t0 * t1 * size + 2 * spec
        paired = real and pairs_pay(math.prod(_tile_counts(problem, nfft)), threads)
        # computed while the threads start their tiles (in full for pairs)
        kernel = t0 * t1 * size + (t0 * t1 * csize if paired else spec)
        return int(cast + kernel + threads * per_thread + problem.outputs * size + result)
    n, m = _signal_kernel(problem)[ax]
    step = nfft - m + 1
    nblocks = -(-n // step)
    half = nfft // 2 + 1 if real else nfft
    if batched_1d(problem.ndim, m, nfft):       # blocks, spectra, inverses, output, kernel
        return int(cast + (2 * nblocks * nfft + (nblocks + 1) * step + nfft) * size
                   + (nblocks + 2 + threads) * half * csize + result)
    lengths = dict(zip(problem.axes, problem.window_fft_shape(real=real)))
    across = math.prod(lengths[x] if x in problem.axes else max(problem.shape_a[x],
                                                                 problem.shape_k[x])
                       for x in range(problem.ndim) if x != ax)
    rest = math.prod(max(a, k) for x, (a, k) in enumerate(zip(problem.shape_a,
                                                               problem.shape_k)) if x != ax)
    points = nblocks * nfft * across
    freqs = nblocks * half * across
    # np.pad's copy, rfftn's padded copy, the spectra and their product, the inverse,
    # the overlap-added output and its window's copy
    return int(cast + nblocks * step * rest * size + 2 * points * size + 3 * freqs * csize
               + ((nblocks + 1) * step + nfft) * across * size
               + problem.outputs * max(size, problem.dtype.itemsize))


def block_cost(problem: Problem, ax, nfft, workers=None) -> float:
    """Overlap-add with blocks of FFT length ``nfft`` along axis ``ax`` on ``workers`` threads.

    1-D (:func:`_oa_1d`): ``2 * nblocks + 1`` transforms in batches, each at
    ``oa_row`` times the single-transform rate (pocketfft runs a batch's rows
    together in SIMD lanes), more once its buffers leave L2 (``oa_spill`` per
    doubling past 1 MiB), plus ``oa_byte`` per byte of blocks and
    ``oa_nd_byte`` per byte beyond the last-level cache; on several threads
    the block groups share that work, for ``oa_thread_sync`` more.  Other
    ranks: every block transform and the kernel's over ``workers`` threads,
    with overlap-add's fixed cost, ``oa_byte`` per byte of block spectra and
    their cache spill.
    """
    c = coef.coefficients()
    n, m = sorted((problem.shape_a[ax], problem.shape_k[ax]), reverse=True)
    step = nfft - m + 1
    nblocks = -(-n // step)
    key = coef.fft_key(problem.dtype)
    rate = c["fft_nlogn"][key]
    if batched_1d(problem.ndim, m, nfft):
        item = problem.dtype.itemsize
        spill = 1.0 + c["oa_spill"] * max(0.0, math.log2(2 * nfft * item / 2 ** 20))
        body = ((2 * nblocks + 1) * coef.nlogn([nfft]) * rate * c["oa_row"][key] * spill
                + nblocks * nfft * item * c["oa_byte"])
        # block buffers beyond the last-level cache: memory bandwidth, which threads share
        spill_mem = max(0.0, nblocks * nfft * item - coef.CACHE_BYTES) * c["oa_nd_byte"]
        threads = min(resolve_workers(workers), nblocks)
        if threads > 1:
            return c["oa_fixed"] + c["oa_thread_sync"] + body / coef.effective_threads(threads) + spill_mem
        return c["oa_fixed"] + body + spill_mem
    other = [n_x for x, n_x in zip(problem.axes, problem.window_fft_shape(problem.kind != "c"))
             if x != ax]
    batch = math.prod(max(problem.shape_a[x], problem.shape_k[x])
                      for x in range(problem.ndim) if x not in problem.axes)
    per_block = coef.nlogn([nfft] + other)
    nd = c["fft_nd_factor"] if other else 1.0
    elems = nblocks * nfft * batch * math.prod(other)
    # block spectra beyond the last-level cache: the passes over them run at memory speed
    spill = max(0.0, 2 * elems * problem.dtype.itemsize - coef.CACHE_BYTES) * c["oa_nd_byte"]
    # 2 transforms per block + the kernel's once + the overlap-add pass
    fixed = c["fft_overhead"] + c["oa_overhead"] * (5 if other else 1)
    return (fixed + (2 * nblocks + 1) * batch * per_block * nd * rate
            / coef.fft_threads(workers) + elems * problem.dtype.itemsize * c["oa_byte"]
            + spill)


def tile_cost(problem: Problem, tile, workers=None) -> float:
    """2-D overlap-save in ``tile``-shaped transforms (:func:`_os_2d`) on ``workers`` threads.

    Each output tile costs two transforms of its shape at ``oa_tile`` times
    the FFT rate (tiles stay in cache; ``oa_spill`` more per doubling of a
    tile's buffers past 1 MiB; ``oa_pair`` of that in pairs, :func:`pairs_pay`)
    and ``oa_tile_call`` of Python-level calls.  The tiles are dealt to the
    threads in contiguous groups, so the busiest thread has ``ceil(tiles /
    threads)`` transforms; the calls hold the interpreter's lock, so every
    tile's count.  The kernel's transform comes first, and the output is
    written once (``pass_byte`` per byte).
    """
    c = coef.coefficients()
    tiles = math.prod(_tile_counts(problem, tile))
    threads = max(1, min(resolve_workers(workers), tiles))
    busiest = -(-tiles // threads)
    if problem.kind != "c" and pairs_pay(tiles, threads):    # whole pairs per thread
        busiest = 2 * -(-tiles // (2 * threads)) * c["oa_pair"]
    transforms = busiest * _tile_transforms(tile, problem.dtype)
    rate = c["fft_nlogn"][coef.fft_key(problem.dtype)] * c["fft_nd_factor"]
    fixed = c["fft_overhead"] + coef.nlogn(tile) * rate
    if threads > 1:
        fixed += c["oa_thread_sync"]
    out_bytes = problem.outputs * problem.dtype.itemsize
    return (fixed + transforms * threads / coef.effective_threads(threads)
            + tiles * c["oa_tile_call"] + out_bytes * c["pass_byte"])


def _tile_transforms(tile, dtype) -> float:
    """Seconds of one tile's forward and inverse transform on one thread (:func:`tile_cost`)."""
    c = coef.coefficients()
    return (2 * coef.nlogn(tile) * c["fft_nlogn"][coef.fft_key(dtype)] * c["fft_nd_factor"]
            * c["oa_tile"] * cpu_fft.spill(tile, dtype)
            * math.sqrt(side_factor(tile[0], dtype) * side_factor(tile[1], dtype)))


#: per tile dtype's width: a 2-D transform's time per ``N log N`` on sides that are a power
#: of two, and on sides with one factor 2 or none, or two, against the others'.  pocketfft
#: ``fft2`` + ``ifft2`` on one thread, 256-576 a side (2-core Zen 4): complex128 1.15-1.18
#: ns on 256 and 512 (their rows' stride a multiple of 4 KiB), 0.96-1.01 on 250, 270, 375,
#: 0.90-0.91 on 300, 324, 500, 0.81-0.87 on 288, 320, 360, 384, 400, 480; complex64 0.53-0.56,
#: 0.57-0.59, 0.55-0.56 and 0.50-0.54
SIDE_FACTORS = {8: (1.35, 1.18, 1.08), 4: (1.08, 1.12, 1.06)}


def side_factor(t: int, dtype) -> float:
    """:data:`SIDE_FACTORS`' slow-down of a tile side ``t`` for real tiles of ``dtype``
    (their transforms: complex of twice its width); 1 for the sides that transform best."""
    dtype = np.dtype(dtype)
    width = dtype.itemsize // 2 if dtype.kind == "c" else dtype.itemsize
    pow2, few, two = SIDE_FACTORS.get(width, (1.0, 1.0, 1.0))
    twos = (t & -t).bit_length() - 1
    if t == 1 << twos:
        return pow2
    return few if twos <= 1 else two if twos == 2 else 1.0


def block_length(n: int, m: int, real: bool = True):
    """Serial-optimal FFT length for blocking a length-``n`` signal against ``m`` taps, or None.

    None means one block would cover everything: plain FFT is then as good.
    """
    if m <= 1 or n == m or 2 * m >= n:
        return None
    overlap = m - 1
    opt = -overlap * lambertw(-1 / (2 * math.e * overlap), k=-1).real
    nfft = fast_block_length(math.ceil(opt), real)
    if nfft >= n:
        return None
    return nfft


def fast_block_length(n: int, real: bool = True) -> int:
    """Return the smallest multiple of 4, at least ``n``, of :func:`scipy.fft.next_fast_len`'s lengths.

    Odd lengths (19683 = 3^9 is ``next_fast_len(19000)``) ran 1.2x slower
    per ``n log n`` than their neighbours on pocketfft and 2.3x on FFTW, and
    lengths with a single factor 2 about 1.2x; a block length is free to
    move that little (``N log N / (N - K)`` is flat at its optimum).
    """
    return 4 * sp_fft.next_fast_len(-(-n // 4), real)


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
            nfft = fast_block_length(max(step + m - 1, MIN_BLOCK), real)
            if nfft < n + m - 1:
                out.add(nfft)
    return sorted(out)


#: the longest tile side priced: longer tiles' transforms leave a core's L2, where
#: ``oa_tile`` no longer holds
TILE_MAX = 1024

#: per axis, how many tile sides with the least transform work are priced
TILE_SIDES_KEPT = 4


def tile_sides(n: int, m: int, real: bool = True, dtype=np.dtype(np.float64)):
    """Tile sides worth pricing for an axis of ``n`` outputs against ``m`` taps.

    Each cuts the axis into ``k`` equal tiles (step ``ceil(n / k)``) at the
    :func:`scipy.fft.next_fast_len` side that holds a step and the kernel's
    overlap: 1024 outputs against 31 taps in 4 tiles of 288, not 5 of 256.
    Kept: the :data:`TILE_SIDES_KEPT` that would cost least as square tiles
    (:func:`tile_cost`'s transforms and calls), and the fewest tiles.  A
    step must be at least the overlap ``m - 1`` (half the tile or more is
    new output).
    """
    call = coef.coefficients()["oa_tile_call"]
    sides = {}
    for k in range(1, 129):
        t = sp_fft.next_fast_len(-(-n // k) + m - 1, real)
        if t < 2 * (m - 1) or t < 16:
            break
        if t <= TILE_MAX and t not in sides:
            count = -(-n // (t - m + 1))
            sides[t] = count ** 2 * (_tile_transforms((t, t), dtype) + call)
    kept = sorted(sides, key=sides.get)[:TILE_SIDES_KEPT]
    if sides:
        kept.append(max(sides))
    return sorted(set(kept))


def tile_candidates(problem: Problem):
    """``(T0, T1)`` FFT shapes worth pricing for 2-D overlap-save tiles, or ``[]``.

    Tiles need a 2-D problem (both axes correlated) where one operand is at
    least as large as the other on both axes; their sides per axis come from
    :func:`tile_sides`.  A single tile is plain FFT unless it is smaller than
    plain FFT's transform: the window of a small operand's 'same' correlation
    with a large one needs only the large one's part around it.
    """
    if problem.ndim != 2 or not problem.all_axes:
        return []
    sa, sk = problem.shape_a, problem.shape_k
    if not (all(n >= m for n, m in zip(sa, sk)) or all(m >= n for n, m in zip(sa, sk))):
        return []
    real = problem.kind != "c"
    kernel = [m for _, m in _signal_kernel(problem)]
    sides = [tile_sides(n, m, real, problem.dtype) for n, m in zip(problem.out_shape, kernel)]
    whole = math.prod(problem.window_fft_shape(real))
    return [(t0, t1) for t0 in sides[0] for t1 in sides[1]
            if _tile_counts(problem, (t0, t1)) != (1, 1) or t0 * t1 < whole]


def _signal_kernel(problem: Problem):
    """Per axis ``(n, m)``: the longer and the shorter operand's length."""
    return [(max(n, m), min(n, m)) for n, m in zip(problem.shape_a, problem.shape_k)]


def _tile_counts(problem: Problem, tile):
    """Output tiles along each axis of :func:`_os_2d` for the tile shape ``tile``."""
    return _os_counts(problem.out_shape, [m for _, m in _signal_kernel(problem)], tile)


def batched_1d(ndim: int, m: int, nfft: int) -> bool:
    """Whether blocks of length ``nfft`` against ``m`` taps take :func:`_oa_1d`.

    That needs a 1-D problem and each block's tail (``m - 1``) no longer
    than a block's step, so that it reaches the next block only.
    """
    return ndim == 1 and 2 * (m - 1) <= nfft


def plan(problem: Problem, workers=None):
    """``(axis, fft length, threads, predicted seconds)`` of the cheapest blocking, or None.

    None means plain FFT: no blocking is priced below it.  The blocked axis is
    the one where the longer operand is longest relative to the other; its
    block length and thread count (1-D: one or ``workers`` block groups) are
    the cheapest by :func:`block_cost` among :func:`block_candidates`.  2-D problems also
    price 2-D tiles (:func:`tile_candidates`, by :func:`tile_cost`): a tile
    plan is ``(None, (T0, T1), threads, seconds)``.  Memoised per
    coefficient version (the dispatcher prices it and every run needs it).
    """
    return _plan(problem, resolve_workers(workers), coef.version())


def describe(problem: Problem, workers=None) -> str:
    """:func:`plan` in words, for :func:`numbaconv.explain`."""
    p = plan(problem, workers)
    if p is None:
        return "no blocking pays: plain FFT"
    ax, nfft, threads, _ = p
    if ax is None:
        nt = _tile_counts(problem, nfft)
        pairs = " in pairs" if problem.kind != "c" and pairs_pay(nt[0] * nt[1], threads) else ""
        return f"{nfft[0]} x {nfft[1]} tiles ({nt[0]} x {nt[1]}){pairs} on {threads} thread(s)"
    return f"blocks of {nfft} points along axis {ax} on {threads} thread(s)"


@functools.lru_cache(maxsize=1024)
def _plan(problem: Problem, workers: int, version: int):
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
    plans = []
    if best is not None:
        ax = best[0]
        threads = sorted({1, workers}) if problem.ndim == 1 else [workers]
        plans += [(ax, nfft, t, block_cost(problem, ax, nfft, t)) for nfft in best[1]
                  for t in threads]
    plans += [(None, tile, min(workers, math.prod(_tile_counts(problem, tile))),
               tile_cost(problem, tile, workers)) for tile in tile_candidates(problem)]
    best = min(plans, key=lambda p: p[3]) if plans else None
    # as SciPy's oaconvolve falls back to fftconvolve: a blocking no cheaper than plain FFT
    # is not taken (64² 'same' 5x5 ran in two tiles on the pool in 0.5 ms)
    if best is not None and best[3] >= cpu_fft.cost(problem, workers):
        return None
    return best


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
    spec_h = _spectra.kept(_spectra.key(h, dtype.kind != "c", tuple(fshape), tuple(baxes)),
                           lambda: fwd(h, fshape, axes=baxes, workers=workers))
    spec = fwd(blocks, fshape, axes=baxes, workers=workers) * spec_h
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


def _os_2d(a, h, tile, threads, dtype, origin, out_shape):
    """The window ``out_shape`` at ``origin`` of ``a``'s 2-D convolution with ``h``, by overlap-save.

    ``h`` is no larger than ``a`` on either axis.  Output tile ``(i, j)``
    covers window rows ``i S0 .. (i + 1) S0`` and columns ``j S1 ..``
    (``S = T - m + 1``); it is the part of the circular convolution of the
    input tile starting ``m - 1`` before it with ``h`` that does not wrap.
    Nothing is added up, so the tiles are dealt to ``threads`` contiguous
    groups (:func:`_os_tiles`) that write their own parts of the output,
    against the kernel's spectrum computed once.  Each tile's transforms stay
    in a core's cache, where one transform of the whole image streams from
    memory on every pass; and only the window is computed.  Real tiles go
    in pairs where :func:`pairs_pay` says so.
    """
    out = np.empty(out_shape, dtype)
    if out.size == 0:
        return out
    tiles = math.prod(_os_counts(out_shape, h.shape, tile))
    paired = dtype.kind != "c" and pairs_pay(tiles, threads)
    step = 2 if paired else 1               # tiles a group's bounds keep together
    groups = [(step * g0, min(tiles, step * g1))
              for g0, g1 in _groups(0, -(-tiles // step), threads)]
    fwd = sp_fft.rfft2 if dtype.kind != "c" and not paired else sp_fft.fft2
    spectrum = _spectra.key(h, fwd is sp_fft.rfft2, tile)
    _in_groups(lambda spec_h, t0, t1: _os_tiles(a, spec_h, tile, h.shape, origin, out, t0, t1,
                                                paired),
               groups, lambda: _spectra.kept(spectrum, lambda: fwd(h, tile, workers=ONE)))
    return out


#: tiles a thread must have for :func:`_os_2d` to pair them
PAIR_MIN_TILES = 4


def pairs_pay(tiles: int, threads: int) -> bool:
    """Whether :func:`_os_2d` transforms real tiles two at a time: as the real and the
    imaginary part of one complex tile, whose transform costs as much as both real ones
    and ran 0.75-0.95x their time (288² tiles on 1024² and 4096², float64 and float32;
    2-core Zen 4).  Each thread needs :data:`PAIR_MIN_TILES` (a pair's packing costs
    more than it saves on 256² images in four tiles)."""
    return tiles >= PAIR_MIN_TILES * max(1, threads)


def _os_counts(out_shape, kshape, tile):
    """Output tiles along each axis of :func:`_os_2d`."""
    return tuple(-(-n // (t - m + 1)) for n, m, t in zip(out_shape, kshape, tile))


def _os_tiles(a, spec_h, tile, kshape, origin, out, t0, t1, paired=False):
    """Tiles ``t0 .. t1 - 1`` (row-major) of :func:`_os_2d`, written into the window ``out``.

    A tile whose input starts ``d`` before the image (``d <= m - 1``: the
    window starts at the full result's first row or later) is transformed
    from the image's first row: its circular convolution is the zero-led
    tile's shifted by ``d``, so its outputs are read ``d`` earlier.  The
    transform's zero fill covers input past the image's end.  ``paired``:
    tiles ``t0, t0 + 1`` are the real and imaginary part of one complex tile
    (``spec_h`` the kernel's full spectrum), and so on.
    """
    T0, T1 = tile
    (m0, m1), (H, W) = kshape, out.shape
    S0, S1 = T0 - m0 + 1, T1 - m1 + 1
    nt1 = -(-W // S1)

    def where(t):
        i, j = divmod(t, nt1)
        y0, x0 = i * S0, j * S1                        # the tile's first output, in the window
        q0, q1 = origin[0] + y0 - m0 + 1, origin[1] + x0 - m1 + 1    # its first input
        d0, d1 = max(0, -q0), max(0, -q1)
        return y0, x0, a[q0 + d0:q0 + T0, q1 + d1:q1 + T1], m0 - 1 - d0, m1 - 1 - d1

    def put(y, y0, x0, r0, c0):
        r, c = min(S0, H - y0), min(S1, W - x0)
        out[y0:y0 + r, x0:x0 + c] = y[r0:r0 + r, c0:c0 + c]

    if paired:
        ctype = np.result_type(out.dtype, np.complex64)
        for t in range(t0, t1, 2):
            z = np.zeros(tile, ctype)
            parts = [where(u) for u in range(t, min(t + 2, t1))]
            for (_, _, src, _, _), part in zip(parts, (z.real, z.imag)):
                part[:src.shape[0], :src.shape[1]] = src
            spec = sp_fft.fft2(z, overwrite_x=True, workers=ONE)
            spec *= spec_h.result()
            y = sp_fft.ifft2(spec, overwrite_x=True, workers=ONE)
            for (y0, x0, _, r0, c0), part in zip(parts, (y.real, y.imag)):
                put(part, y0, x0, r0, c0)
        return None
    real = out.dtype.kind != "c"
    fwd, inv = (sp_fft.rfft2, sp_fft.irfft2) if real else (sp_fft.fft2, sp_fft.ifft2)
    for t in range(t0, t1):
        y0, x0, src, r0, c0 = where(t)
        spec = fwd(src, tile, workers=ONE)
        spec *= spec_h.result()
        put(inv(spec, tile, overwrite_x=True, workers=ONE), y0, x0, r0, c0)
    return None


def _forward(x, nfft, real, **kw):
    """Transform along the last axis at length ``nfft`` on one thread (:data:`ONE`).

    Real input gives the half spectrum.
    """
    return (sp_fft.rfft if real else sp_fft.fft)(x, nfft, axis=-1, workers=ONE, **kw)


def _inverse(spec, nfft, real):
    """Inverse of :func:`_forward`, in place where the backend can."""
    return (sp_fft.irfft if real else sp_fft.ifft)(spec, nfft, axis=-1, overwrite_x=True,
                                                   workers=ONE)


def _oa_1d(a, h, nfft, threads, dtype):
    """Full 1-D convolution of ``a`` (the longer) with ``h`` (``m - 1 <= step``) by overlap-add.

    The blocks are cut into ``threads`` contiguous groups, each run by one
    thread as a batch (:func:`_oa_blocks`), against the kernel's spectrum
    computed once, by the calling thread while the groups transform their
    blocks.  A group writes its blocks' heads and the tails that
    fall inside it; the tail of each group's last block, which falls on the
    next group's first head, is added after all groups are done.

    The transforms are always asked for one thread (:data:`ONE`): pocketfft
    spreads a batch over its threads only in bundles of SIMD width (8 or 16
    rows), and measured on 2 cores its ``workers=2`` was never faster for
    these batches and up to 2.5x slower; whole groups on separate threads
    scale (1.5-2x at n = 1e6), with any :mod:`scipy.fft` backend.
    """
    n, m = a.shape[0], h.shape[0]
    step = nfft - m + 1
    nb = -(-n // step)
    real = dtype.kind != "c"
    out = np.empty((nb + 1) * step, dtype)
    out[nb * step:] = 0
    groups = _groups(0, nb, threads)
    spectrum = _spectra.key(h, real, nfft)
    tails = _in_groups(lambda spec_h, b0, b1: _oa_blocks(a, spec_h, nfft, step, b0, b1, out),
                       groups, lambda: _spectra.kept(spectrum, lambda: _forward(h, nfft, real)))
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


#: ``workers`` of every transform of :func:`_oa_1d` and :func:`_os_2d`: their threads
#: are the block or tile groups; a backend whose default is every core (mkl_fft)
#: would otherwise start that many more per group
ONE = 1


def _groups(lo: int, hi: int, threads: int):
    """``[lo, hi)`` cut into at most ``threads`` contiguous ``(start, stop)`` groups."""
    parts = max(1, min(threads, hi - lo))
    bounds = [lo + (hi - lo) * i // parts for i in range(parts + 1)]
    return list(zip(bounds[:-1], bounds[1:]))


def _in_groups(job, groups, spectrum):
    """``[job(spec_h, start, stop) for each group]``, on the pool when there are several.

    ``spec_h`` is a :class:`~concurrent.futures.Future` of ``spectrum()``
    (the kernel's), which the calling thread computes while the groups
    transform their own data; a job waits for it only when it needs it.

    The jobs run under the caller's :mod:`scipy.fft` backends
    (:func:`scipy.fft.set_backend` is local to the thread that sets it, so
    the pool's threads would otherwise transform with SciPy's own).  Where
    that state cannot be carried over, the groups run on the calling thread.
    """
    spec_h = Future()
    if len(groups) == 1 or not _pool.carries_backend():
        spec_h.set_result(spectrum())
        return [job(spec_h, *g) for g in groups]
    in_backend = _pool.in_callers_backend(lambda g0, g1: job(spec_h, g0, g1))
    jobs = [_pool.pool().submit(in_backend, g0, g1) for g0, g1 in groups]
    try:
        spec = spectrum()
    except BaseException as exc:
        spec_h.set_exception(exc)
        for j in jobs:                # let every group stop before the error leaves
            j.exception()
        raise
    spec_h.set_result(spec)
    wait(jobs)                        # every group done before any error leaves
    return [j.result() for j in jobs]


def run(problem: Problem, a, k, *, workers: int):
    """Correlate ``a`` with ``k`` by overlap-add; plain FFT when blocking can't help."""
    p = plan(problem, workers)
    if p is None:
        return cpu_fft.run(problem, a, k, workers=workers)
    ax, nfft, threads, _ = p
    dtype = fft_result_dtype(a.dtype, k.dtype)
    a = cpu_fft.as_fft_input(a, dtype)
    h = cpu_fft.as_fft_input(cpu_fft.flip_axes(k, problem.axes), dtype)
    lead = 0 if ax is None else ax       # tiles: one operand is the larger on both axes
    if h.shape[lead] > a.shape[lead]:
        a, h = h, a
    if ax is None:                       # 2-D tiles: the window straight from the tiles
        return _os_2d(a, h, nfft, threads, dtype, problem.origin, problem.out_shape)
    if batched_1d(a.ndim, h.shape[0], nfft):
        full = _oa_1d(a, h, nfft, threads, dtype)
    else:
        # broadcast axes: the blocked operand keeps its own sizes, fine for rfftn
        lengths = dict(zip(problem.axes, problem.window_fft_shape(real=dtype.kind != "c")))
        full = _overlap_add(a, h, ax, nfft, list(problem.axes), workers, dtype, lengths)
    return cpu_fft.window(full, problem)
