"""Cost model: predicted seconds for each backend on a :class:`Problem`.

Each backend's cost is a small formula in operation counts with
coefficients that :func:`numbaconv.calibrate` fits on the user's machine.
The shipped defaults were measured on a 2-core AMD EPYC (Zen 4): the
per-operation rates by :func:`numbaconv.calibrate`, the structural factors
(multi-axis FFTs, overlap-add's fixed cost and cache spill, kernel rows) by
a search that maximised the share of grid cells where the predicted
cheapest method was within 10% of the measured fastest (225 of 240 cells
over three runs of ``numbaconv bench --methods``).  They are a starting
point; ``calibrate()`` refits the rates on the user's machine.
"""
from __future__ import annotations

import math

import numpy as np

from ._config import resolve_workers

#: seconds per multiply-add of the direct kernel, by arithmetic type, at one
#: thread, for long kernel rows; float rows of fewer taps than a vector has
#: lanes pay up to ``direct_phase`` more (:func:`_phase`), and rows shorter
#: than 8 taps ``direct_short`` on top.
DEFAULTS = {
    "direct_mac": {"f4": 1.6e-11, "f8": 3.2e-11, "c8": 2.4e-10, "c16": 4.7e-10, "i8": 6.7e-11},
    # float kernel rows shorter than a vector: every phase of cpu_direct._taps has one
    # tap, so no input load is shared and each FMA waits for its own (unaligned) load
    "direct_phase": 0.65,
    "direct_short": 2.5,        # penalty factor for rows shorter than 8 taps
    "direct_kernel_row": 0.015,  # extra cost per kernel row beyond the first (input rows leave L1)
    "direct_overhead": 1.2e-5,
    "pass_byte": 2.5e-10,       # seconds per byte streamed in + out by one pass, one thread
    # share of pass_byte a direct kernel pays: fitted on the 1-D grid (n 1e5-1e7); the
    # same in 2-D, where 4096^2 float64 3x3 was predicted at 44 ms with the whole
    # pass_byte and took 18.8 ms (17.8 predicted with 0.25)
    "direct_stream": 0.25,
    "fft_nlogn": {"f4": 3.0e-10, "f8": 5.3e-10, "c8": 1.05e-9, "c16": 1.1e-9},  # one thread
    "fft_overhead": 4.2e-5,
    "fft_nd_factor": 0.8,       # N log N of a multi-axis transform costs this much of a 1-D one
    "oa_nd_byte": 6.0e-10,      # overlap-add: seconds per byte of block spectra beyond the cache
    "oa_overhead": 3.0e-4,      # N-D overlap-add's extra fixed cost over plain FFT (x5 for multi-axis blocking)
    # 1-D overlap-add (batches of blocks): fixed cost, a transform's time in a batch
    # relative to fft_nlogn's single transform, the slow-down per doubling of its
    # buffers past 1 MiB, and the hand-off to block-group threads.  Fitted on one
    # thread over 24 cells x 1-6 block lengths (n 3e3-3e6, k 301-30001), the rates
    # on the cells above 1 ms; the hand-off from 2-thread runs (0.15-0.25 ms, more
    # where a 1 ms job gained little: 0.4 ms keeps those on one thread)
    "oa_fixed": 1.8e-5,
    "oa_row": {"f4": 0.66, "f8": 0.58, "c8": 0.66, "c16": 0.58},
    "oa_spill": 0.13,
    "oa_byte": 3.0e-10,         # per byte of blocks (1-D) or block spectra (N-D)
    "oa_thread_sync": 4.0e-4,
    # 2-D tiles (cpu_oa._oa_2d): a tile's two transforms relative to fft_nlogn's rate
    # (with the product and the add into the output), and its Python-level calls
    "oa_tile": 0.56,
    "oa_tile_call": 5.8e-5,
    "parallel_efficiency": 0.9,
}

_coeffs = None


def coefficients():
    """The coefficients in force: calibrated ones if present, else defaults."""
    global _coeffs
    if _coeffs is None:
        from ._calibrate import load
        _coeffs = load() or DEFAULTS
    return _coeffs


def set_coefficients(c):
    """Put ``c`` in force (``None``: reload calibrated or default) and forget past choices."""
    global _coeffs
    _coeffs = c
    from ._dispatch import clear_cache
    clear_cache()


def _key_direct(dtype) -> str:
    if dtype.kind in "biu":
        return "i8"
    if dtype.kind == "c":
        return "c8" if dtype.itemsize <= 8 else "c16"
    return "f4" if dtype.itemsize <= 4 else "f8"


def _key_fft(dtype) -> str:
    if dtype.kind == "c":
        return "c8" if dtype.itemsize <= 8 else "c16"
    return "f4" if dtype.kind == "f" and dtype.itemsize <= 4 else "f8"


def _threads(workers=None) -> float:
    w = resolve_workers(workers)
    return 1 + (w - 1) * coefficients()["parallel_efficiency"]


def direct_cost(problem, workers=None) -> float:
    c = coefficients()
    # multiply-adds actually done: edges of 'full' do fewer
    macs = 1.0
    for ax in problem.axes:
        n, k, o = problem.shape_a[ax], problem.shape_k[ax], problem.out_shape[ax]
        macs *= max(min(o * k, n * k), 1)
    kw = problem.shape_k[-1] if problem.ndim else 1
    item = np.dtype(_work_item(problem.dtype)).itemsize
    # one sequential read and write, which the prefetcher overlaps with the FMAs
    stream = ((math.prod(problem.shape_a) + problem.outputs) * item * c["pass_byte"]
              * c["direct_stream"])
    key = _key_direct(problem.dtype)
    return c["direct_overhead"] + (macs * c["direct_mac"][key] * _phase(c, key, kw) * _short(c, kw)
                                   * _rows(c, problem) + stream) / _threads(workers)


def _phase(c, key, kw) -> float:
    """Slow-down of float rows of ``kw`` taps against long ones in ``cpu_direct._taps``.

    The taps run by phase ``q mod L`` (``L`` lanes per vector); a phase of
    ``T`` taps loads ``7 + T`` vectors for ``8 T`` FMAs, so load sharing
    fades as ``L / kw``.  ``direct_mac`` is the long-row rate (1-D float32 at
    88-95% of the FMA peak for k = 301-3001, n = 1e6); rows of at most ``L``
    taps share nothing and run at the rate of the kernel before load sharing
    (``1 + direct_phase`` times slower; 0.65 is the old float32 coefficient
    2.9e-11 over the first refit 1.75e-11, before the grid lowered the
    long-row rate to 1.6e-11).
    """
    if key not in ("f4", "f8"):
        return 1.0
    from ._simd import VEC_BYTES, lanes
    per_vector = lanes(np.float32 if key == "f4" else np.float64, VEC_BYTES)
    return 1.0 + c["direct_phase"] * min(1.0, per_vector / max(kw, 1))


def _rows(c, problem) -> float:
    """Slow-down of kernels with many rows: each output block reads ``kh`` input rows."""
    kh = math.prod(problem.shape_k[:-1]) if problem.ndim > 1 else 1
    return 1.0 + c["direct_kernel_row"] * (kh - 1)


def _short(c, kw) -> float:
    """Slow-down of rows shorter than the 8-tap inner loop (accumulator traffic)."""
    return 1.0 + (c["direct_short"] - 1.0) * (8 - kw) / 7 if kw < 8 else 1.0


def _work_item(dtype):
    return np.int64 if dtype.kind in "biu" else (np.float32 if dtype == np.float16 else dtype)


def separable_cost(problem, workers=None) -> float:
    """Two direct passes: ``kw`` taps over (H, OW) then ``kh`` taps over (OH, OW)."""
    c = coefficients()
    H = problem.shape_a[0]
    (OH, OW), (kh, kw) = problem.out_shape, problem.shape_k
    mac = c["direct_mac"][_key_direct(problem.dtype)]
    item = np.dtype(_work_item(problem.dtype)).itemsize
    row = H * OW * kw * mac * _phase(c, _key_direct(problem.dtype), kw) * _short(c, kw)
    col = OH * OW * kh * mac * _short(c, kh)     # kh rows, four output rows per load
    stream = (math.prod(problem.shape_a) + 2 * H * OW + problem.outputs) * item * c["pass_byte"]
    return 2 * c["direct_overhead"] + (row + col + stream) / _threads(workers)


def _nlogn(shape) -> float:
    n = math.prod(shape)
    return n * math.log2(max(n, 2))


def fft_cost(problem, workers=None) -> float:
    c = coefficients()
    fshape = problem.window_fft_shape(real=problem.kind != "c")
    batch = math.prod(max(problem.shape_a[ax], problem.shape_k[ax])
                      for ax in range(problem.ndim) if ax not in problem.axes)
    from ._backends.cpu_fft import fft_workers
    nd = c["fft_nd_factor"] if len(fshape) > 1 else 1.0
    # pocketfft threads split a batch of 1-D transforms, never one transform:
    # a single 1-D transform runs on one thread whatever ``workers`` says
    single = len(fshape) == 1 and batch == 1
    threads = 1.0 if single else _threads(fft_workers(fshape, resolve_workers(workers)))
    return c["fft_overhead"] + (3 * batch * _nlogn(fshape) * nd * c["fft_nlogn"][_key_fft(problem.dtype)]
                                / threads)


#: bytes of intermediates that stay in the last-level cache (order of magnitude)
CACHE_BYTES = 32e6


def oa_cost(problem, workers=None) -> float:
    """The cheapest blocking's cost (:func:`oa_block_cost`), or plain FFT's when none pays."""
    from ._backends.cpu_oa import plan
    p = plan(problem, workers)
    if p is None:
        return fft_cost(problem, workers) * 1.05
    return p[3]


def oa_block_cost(problem, ax, nfft, workers=None) -> float:
    """Overlap-add with blocks of FFT length ``nfft`` along axis ``ax`` on ``workers`` threads.

    1-D (``cpu_oa._oa_1d``): ``2 * nblocks + 1`` transforms in batches on
    one thread, each costing ``oa_row`` times the single-transform FFT rate
    (pocketfft runs a batch's rows together in SIMD lanes), more once its
    buffers leave L2 (``oa_spill`` per doubling past 1 MiB), plus
    ``oa_byte`` per byte of blocks (their copies and passes) and
    ``oa_nd_byte`` per byte of them beyond the last-level cache; on several
    threads the block groups share that work, for ``oa_thread_sync`` more
    (a thread hand-off on a VM costs about 0.2 ms).  Other ranks: every
    block transform and the kernel's over ``workers`` threads, with
    overlap-add's fixed cost, ``oa_byte`` per byte of block spectra (the
    padding, products and overlap-add passes) and the cache spill of those
    spectra.  Measured on 2 cores ('same', transforms of window length),
    overlap-add's time over plain FFT's: 1024^2 float64 with 31^2 / 63^2
    kernels 1.17 / 1.20, float32 1.12 / 0.85; 4096^2 (hundreds of MB of
    fresh arrays either way) alone 0.79-0.93, but in two full grid runs,
    interleaved with the other methods, 1.19-2.33 in 7 of 8 measurements
    (float32 and float64, 31^2 and 63^2).  Priced as here, FFT is chosen in
    those four cells.
    """
    c = coefficients()
    n, m = sorted((problem.shape_a[ax], problem.shape_k[ax]), reverse=True)
    step = nfft - m + 1
    nblocks = -(-n // step)
    key = _key_fft(problem.dtype)
    rate = c["fft_nlogn"][key]
    from ._backends.cpu_oa import batched_1d
    if batched_1d(problem.ndim, m, nfft):
        item = problem.dtype.itemsize
        spill = 1.0 + c["oa_spill"] * max(0.0, math.log2(2 * nfft * item / 2 ** 20))
        body = ((2 * nblocks + 1) * _nlogn([nfft]) * rate * c["oa_row"][key] * spill
                + nblocks * nfft * item * c["oa_byte"])
        # block buffers beyond the last-level cache: memory bandwidth, which threads share
        spill_mem = max(0.0, nblocks * nfft * item - CACHE_BYTES) * c["oa_nd_byte"]
        threads = min(resolve_workers(workers), nblocks)
        if threads > 1:
            return c["oa_fixed"] + c["oa_thread_sync"] + body / _threads(threads) + spill_mem
        return c["oa_fixed"] + body + spill_mem
    other = [n_x for x, n_x in zip(problem.axes, problem.window_fft_shape(problem.kind != "c"))
             if x != ax]
    batch = math.prod(max(problem.shape_a[x], problem.shape_k[x])
                      for x in range(problem.ndim) if x not in problem.axes)
    per_block = _nlogn([nfft] + other)
    nd = c["fft_nd_factor"] if other else 1.0
    elems = nblocks * nfft * batch * math.prod(other)
    # block spectra beyond the last-level cache: the passes over them run at memory speed
    spill = max(0.0, 2 * elems * problem.dtype.itemsize - CACHE_BYTES) * c["oa_nd_byte"]
    # 2 transforms per block + the kernel's once + the overlap-add pass
    fixed = c["fft_overhead"] + c["oa_overhead"] * (5 if other else 1)
    return (fixed + (2 * nblocks + 1) * batch * per_block * nd * rate
            / _threads(workers) + elems * problem.dtype.itemsize * c["oa_byte"] + spill)


def oa_tile_cost(problem, tile, workers=None) -> float:
    """2-D overlap-add in ``tile``-shaped transforms (``cpu_oa._oa_2d``) on ``workers`` threads.

    Each tile costs two transforms of its shape at ``oa_tile`` times the FFT
    rate (tiles stay in cache, so no spill term) plus ``oa_tile_call`` of
    Python-level calls; tile rows are dealt to the threads in contiguous
    groups, so the busiest thread has ``ceil(rows / threads)`` of them.  The
    output is zeroed and written once (``pass_byte`` per byte).
    """
    from ._backends.cpu_oa import _tile_counts
    c = coefficients()
    nt0, nt1 = _tile_counts(problem, tile)
    threads = max(1, min(resolve_workers(workers), nt0))
    rate = c["fft_nlogn"][_key_fft(problem.dtype)]
    per_tile = (2 * _nlogn(tile) * c["fft_nd_factor"] * rate * c["oa_tile"] + c["oa_tile_call"])
    busiest = -(-nt0 // threads) * nt1
    fixed = c["fft_overhead"] + _nlogn(tile) * rate
    if threads > 1:
        fixed += c["oa_thread_sync"]
    out_bytes = problem.outputs * problem.dtype.itemsize
    return fixed + busiest * per_tile * threads / _threads(threads) + out_bytes * c["pass_byte"]


def int_exact_limit(problem) -> float:
    """Largest bound ``|A|max * |K|max * taps`` for which a float64 FFT of integers rounds exactly.

    The FFT's absolute error grows like ``eps * bound * log2(N)`` (``N`` the
    transform size); measured worst cases (constant signals, N up to 2**20)
    stay below ``0.18 * eps * bound * log2(N)``.  Rounding is exact while the
    error is under 0.5, so the limit is ``2**52 / log2(N)`` (a margin of about
    2.8 over the worst case seen), and never above SciPy's own ``2**51``.
    """
    n = math.prod(problem.shape_a[ax] + problem.shape_k[ax] - 1 for ax in problem.axes)
    return min(float(2 ** 51), 2.0 ** 52 / max(1.0, math.log2(max(n, 2))))
