"""Register blocks and window loads of the direct kernels (shared by every CPU backend).

A block is ``NACC`` vector accumulators of ``L`` lanes: :func:`zero_block`
makes one, :func:`taps` adds a kernel row to it, :func:`store_block` writes
it.  :func:`row_accumulate` is the array-accumulator fallback for types
without blocks (complex) and :func:`row_edges` the bounds-checked loop for
windows that leave the signal.  :func:`phase_slowdown`,
:func:`short_slowdown` and :func:`rows_slowdown` are what these kernels cost
beyond the long-row multiply-add rate, for the backends' cost formulas.
"""
from __future__ import annotations

import math

import numpy as np
from .._jit import jit
from .simd import ISA, VEC_BYTES, lanes, tap_at, vec_fma_at, vec_load_at, vec_store_at, vec_zeros

@jit
def row_accumulate(ov, av, krow):
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
def dot_run(kf, k0, src, s0, n, acc):
    """``acc + sum_{q < n} kf[k0 + q] * src[s0 + q]`` in four partial sums: one running
    sum is a chain of dependent multiply-adds, whose latency bounds a loop this short (15
    edge columns of a 31-tap row took longer than the row)."""
    acc1 = acc2 = acc3 = src.dtype.type(0)     # not acc - acc: NaN where acc is infinite
    q = 0
    while q + 4 <= n:
        acc += kf[k0 + q] * src[s0 + q]
        acc1 += kf[k0 + q + 1] * src[s0 + q + 1]
        acc2 += kf[k0 + q + 2] * src[s0 + q + 2]
        acc3 += kf[k0 + q + 3] * src[s0 + q + 3]
        q += 4
    while q < n:
        acc += kf[k0 + q] * src[s0 + q]
        q += 1
    return (acc + acc1) + (acc2 + acc3)


@jit
def row_edges(orow, src, s0, n, kf, k0, kw, c0, c1, shift):
    """Bounds-checked version of :func:`row_accumulate` for edge columns, on the input row
    ``src[s0 : s0 + n]`` and the kernel row ``kf[k0 : k0 + kw]`` (flat offsets, as in
    :func:`taps`)."""
    for c in range(c0, c1):
        q0 = max(0, -(c + shift))
        q1 = min(kw, n - (c + shift))
        if q1 > q0:
            orow[c] = dot_run(kf, k0 + q0, src, s0 + c + shift + q0, q1 - q0, orow[c])


#: vector accumulators of one output block of :func:`taps`
NACC = 8


def block_width(dtype) -> int:
    """Outputs per register block of the direct kernels (0: no blocks for ``dtype``)."""
    return NACC * lanes(dtype, VEC_BYTES)


@jit(inline=True)
def zero_block(like):
    """The ``NACC`` zeroed vector accumulators of one block, for :func:`taps`."""
    return (vec_zeros(like), vec_zeros(like), vec_zeros(like), vec_zeros(like),
            vec_zeros(like), vec_zeros(like), vec_zeros(like), vec_zeros(like))


@jit(inline=True)
def _taps_window(arow, kf, k0, kw, base, a0, a1, a2, a3, a4, a5, a6, a7):
    """``a_i[l] += sum_q krow[q] * arow[base + i L + l + q]``: 8 vectors of ``L`` outputs,
    for the kernel row ``krow = kf[k0 : k0 + kw]``.

    Rows are flat offsets (``arow`` and ``kf`` are whole flat arrays where the
    caller has them), not views: a view's reference count is a call, which
    spills the accumulators, and an atomic on a count every thread shares.

    Taps are taken by phase ``r = q mod L``.  Within a phase, tap ``q + L``
    needs the input vectors of tap ``q`` shifted by one vector, so a window
    of 8 loaded vectors moves along by one load per tap::

        w_j = arow[base + r + j L : ... + L]        j = 0..7 (one phase's start)
        a_i += krow[q] * w_i                         8 FMAs per tap
        w_0..w_6 = w_1..w_7; w_7 = next vector      1 load per tap

    One load per 8 FMAs in the steady state, against one per FMA when every
    tap reloads its (unaligned) inputs.  Registers: 8 accumulators, 8
    window vectors and the broadcast tap, 17: the 32 of AVX-512 hold them,
    the 16 of AVX2 do not (:func:`_taps_narrow`).  Reads ``arow[base : base +
    8 L + kw - 1]``.
    """
    L = a0.shape[0]
    w0, w1, w2, w3, w4, w5, w6, w7 = zero_block(a0)
    for r in range(min(L, kw)):
        s = base + r
        load_block(arow, s, w0, w1, w2, w3, w4, w5, w6, w7)
        q = r
        nxt = s + 8 * L
        while True:
            kq = tap_at(kf, k0 + q)
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
def _slide(arow, at, w0, w1, w2, w3):
    """``w0, w1, w2, w3 = w1, w2, w3, arow[at : at + L]``: a window of 4 vectors moves on."""
    vec_store_at(w1, w0, 0)
    vec_store_at(w2, w1, 0)
    vec_store_at(w3, w2, 0)
    vec_load_at(w3, arow, at)


@jit(inline=True)
def fma4(a0, a1, a2, a3, kq, w0, w1, w2, w3):
    """``a_i += kq * w_i`` for four vectors."""
    vec_fma_at(a0, kq, w0, 0)
    vec_fma_at(a1, kq, w1, 0)
    vec_fma_at(a2, kq, w2, 0)
    vec_fma_at(a3, kq, w3, 0)


@jit(inline=True)
def _taps_lagged(arow, kf, k0, kw, base, a0, a1, a2, a3, a4, a5, a6, a7):
    """:func:`_taps_window` in 16 vector registers: one window of 4 vectors for both halves
    of the block, the second half 4 taps behind the first.

    In a phase, tap ``t`` of the first half (``a0 .. a3``) reads the vectors
    ``V_t .. V_t+3`` and tap ``t`` of the second half ``V_t+4 .. V_t+7``, which
    the first half reads at its tap ``t + 4``: at step ``t`` the window holds
    ``V_t .. V_t+3``, the first half adds tap ``t`` and the second tap ``t - 4``.
    Registers: 8 accumulators (8 independent FMA chains, what two FMA pipes of
    4 cycles' latency need), 4 window vectors and two broadcast taps, 14 of 16,
    one load per 8 FMAs.  (One 8-vector window needs 17 and spilled accumulators
    to the stack in every tap on AVX2; two halves in turn, 4 chains each, ran at
    half the FMA rate.)  For rows of at least ``4 L`` taps (:func:`_taps_narrow`).
    """
    L = a0.shape[0]
    w0, w1, w2, w3 = vec_zeros(a0), vec_zeros(a0), vec_zeros(a0), vec_zeros(a0)
    for r in range(L):
        s = base + r
        q = k0 + r
        T = (kw - r + L - 1) // L                 # this phase's taps, at least 4
        vec_load_at(w0, arow, s)
        vec_load_at(w1, arow, s + L)
        vec_load_at(w2, arow, s + 2 * L)
        vec_load_at(w3, arow, s + 3 * L)
        for t in range(4):                        # the first half alone
            fma4(a0, a1, a2, a3, tap_at(kf, q + t * L), w0, w1, w2, w3)
            _slide(arow, s + (t + 4) * L, w0, w1, w2, w3)
        for t in range(4, T):                     # both halves
            fma4(a0, a1, a2, a3, tap_at(kf, q + t * L), w0, w1, w2, w3)
            fma4(a4, a5, a6, a7, tap_at(kf, q + (t - 4) * L), w0, w1, w2, w3)
            _slide(arow, s + (t + 4) * L, w0, w1, w2, w3)
        for t in range(T, T + 4):                 # the second half's last 4 taps
            fma4(a4, a5, a6, a7, tap_at(kf, q + (t - 4) * L), w0, w1, w2, w3)
            if t < T + 3:
                _slide(arow, s + (t + 4) * L, w0, w1, w2, w3)


@jit(inline=True)
def _taps_narrow(arow, kf, k0, kw, base, a0, a1, a2, a3, a4, a5, a6, a7):
    """:func:`_taps_window` for 16 vector registers: rows of ``4 L`` taps or more by
    :func:`_taps_lagged` (256-bit blocks on Zen 4: 1.3-3.1x faster than the spilling
    8-vector window, 16-301 taps); shorter ones, whose phases of at most 4 taps share
    few loads, by :func:`_taps_window`, whose spills cost less there than the lagged
    window's moves (3-13 taps: 1.05-2.4x faster) or the halves in turn (1.09-1.28x)."""
    if kw < 4 * a0.shape[0]:
        _taps_window(arow, kf, k0, kw, base, a0, a1, a2, a3, a4, a5, a6, a7)
    else:
        _taps_lagged(arow, kf, k0, kw, base, a0, a1, a2, a3, a4, a5, a6, a7)


#: ``taps(arow, kf, k0, kw, base, a0, ..., a7)``: ``a_i[l] += sum_q krow[q] * arow[base + i L
#: + l + q]`` for the kernel row ``krow = kf[k0 : k0 + kw]`` (8 vectors of ``L`` outputs),
#: in the form that fits the vector registers of the class the kernels are built for
VEC_REGISTERS = 32 if ISA == "avx512" else 16
taps = _taps_window if VEC_REGISTERS >= 32 else _taps_narrow


@jit(inline=True)
def load_block(src, c, a0, a1, a2, a3, a4, a5, a6, a7):
    """``a0 .. a7 = src[c : c + 8 L]`` (the inverse of :func:`store_block`)."""
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
def store_block(dst, c, a0, a1, a2, a3, a4, a5, a6, a7):
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


def phase_slowdown(c, key, kw) -> float:
    """Slow-down of float rows of ``kw`` taps against long ones in :func:`taps`.

    The taps run by phase ``q mod L``; a phase of ``T`` taps loads ``7 + T``
    vectors for ``8 T`` FMAs (in either form), so load sharing fades as ``L / kw``, and
    rows of at most ``L`` taps share nothing (``1 + direct_phase`` times slower).
    """
    if key not in ("f4", "f8"):
        return 1.0
    per_vector = lanes(np.float32 if key == "f4" else np.float64, VEC_BYTES)
    return 1.0 + c["direct_phase"] * min(1.0, per_vector / max(kw, 1))


def short_slowdown(c, kw) -> float:
    """Slow-down of rows shorter than the 8-tap inner loop (accumulator traffic)."""
    return 1.0 + (c["direct_short"] - 1.0) * (8 - kw) / 7 if kw < 8 else 1.0


def rows_slowdown(c, shape_k) -> float:
    """Slow-down of kernels with many rows: each output block reads every kernel row's inputs."""
    kh = math.prod(shape_k[:-1]) if len(shape_k) > 1 else 1
    return 1.0 + c["direct_kernel_row"] * (kh - 1)
