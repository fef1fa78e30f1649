"""The direct backend (numbaconv._backends.cpu_direct) and its kernels (numbaconv._kernels).

Register blocks and their ragged tails, padded edge columns, the N-D row
kernel, the serial/parallel and padding decisions, broadcast axes, and
``run()``/``supports()`` themselves, all against SciPy with the tolerance
table.  The register-block runs use ``method='direct'`` so that both sides
are direct sums and no FFT rounding is allowed: a dropped or doubled tap
fails them for every dtype, float16 included.
"""
from __future__ import annotations

import copy
import functools

import numba
import numpy as np
import pytest
import scipy.signal as ss

import naive
import numbaconv
from numbaconv import _coefficients
from helpers import MODES, assert_matches_scipy, check_2d, check_conv, make_array, shape_id
from numbaconv._backends import cpu_direct
from numbaconv._kernels.blocks import block_width
from numbaconv._kernels import layout
from numbaconv._kernels.layout import CHUNK_BYTES
from numbaconv._kernels.simd import STREAM_MIN_BYTES
from numbaconv._problem import build_problem


# --------------------------------------------------------------------------
# run() and supports()
# --------------------------------------------------------------------------

RUN_CASES = [((50,), (7,)), ((7,), (50,)), ((300,), (31,)), ((20, 30), (3, 5)), ((6, 5, 7), (2, 3, 3))]


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.complex128, np.int64],
                         ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("shapes", RUN_CASES, ids=lambda s: shape_id(*s))
def test_run_is_scipys_correlation(shapes, mode, dtype, rng):
    """``run(problem, a, k)`` is the canonical correlation of ``a`` with ``k``: SciPy's
    ``correlate`` with the kernel conjugated back (the API conjugates before)."""
    sa, sk = shapes
    a, k = make_array(sa, dtype, rng), make_array(sk, dtype, rng)
    if mode == "valid" and a.size < k.size:
        a, k = k, a                                  # the API swaps before the backend
    problem = build_problem(a.shape, k.shape, mode, np.dtype(dtype))
    got = cpu_direct.run(problem, a, k, workers=2).astype(dtype)
    ref = ss.correlate(a, np.conj(k), mode, method="direct")
    assert_matches_scipy(got, ref, a, k, "correlate", mode, fft=False)


@pytest.mark.parametrize("dtype, ok", [(np.float64, True), (np.int8, True), (np.bool_, True),
                                       (np.complex64, True), (np.longdouble, False),
                                       (np.clongdouble, False)], ids=lambda x: str(x))
def test_supports(dtype, ok):
    assert cpu_direct.supports(build_problem((30, 30), (3, 3), "same", np.dtype(dtype))) is ok
    assert not cpu_direct.supports(build_problem((30,), (3,), "same", np.dtype(np.float64),
                                                 device="cuda"))


def test_a_candidate_of_every_host_problem():
    a, k = np.ones((40, 40)), np.arange(9.0).reshape(3, 3)
    assert "cpu_direct" in numbaconv.explain(a, k).costs
    assert numbaconv.explain(a, k, method="direct").backend == "cpu_direct"


@pytest.mark.parametrize("dtype", [np.int16, np.float64], ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("axes", [1, [1, 2], -1])
def test_direct_with_axes_runs_the_direct_kernel(axes, dtype, rng, monkeypatch):
    """method='direct' with ``axes`` runs cpu_direct on the broadcast axes (exact integers)."""
    ran = []
    run = cpu_direct.run
    monkeypatch.setattr(cpu_direct, "run", lambda *args, **kw: ran.append(1) or run(*args, **kw))
    a = make_array((3, 9, 8), dtype, rng)
    b = make_array({1: (3, 4, 8), -1: (1, 9, 3)}.get(axes if np.ndim(axes) == 0 else 0, (1, 4, 3)),
                   dtype, rng)
    for mode in MODES:
        ran.clear()
        got = numbaconv.convolve(a, b, mode, method="direct", axes=axes)
        assert ran
        ref = naive.convolve(a, b, mode, axes=axes)
        assert_matches_scipy(got, ref, a, b, "convolve", mode, axes=axes, fft=False)


# --------------------------------------------------------------------------
# register blocks: run lengths around the block width W
# --------------------------------------------------------------------------

def _block_lengths(dtype, kernel):
    """Output-run lengths that straddle the register block width and a chunk."""
    w = block_width(np.dtype(dtype)) or 64
    chunk = CHUNK_BYTES // np.dtype(dtype).itemsize
    return sorted({w - 1 + kernel - 1, w + kernel - 1, w + kernel, 2 * w + 3 + kernel,
                   chunk + w // 2 + kernel})


BLOCK_DTYPES = [np.float32, np.float64, np.int64, np.int8, np.uint64, np.float16, np.complex64]


@pytest.mark.parametrize("kernel", [1, 3, 8, 31], ids=lambda k: f"k{k}")
@pytest.mark.parametrize("dtype", BLOCK_DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("fname", ["convolve", "correlate"])
def test_register_block_runs_1d(fname, dtype, kernel, rng):
    b = make_array((kernel,), dtype, rng)
    for n in _block_lengths(dtype, kernel):
        a = make_array((n,), dtype, rng)
        for mode in MODES:
            check_conv(fname, a, b, mode, "direct")


@pytest.mark.parametrize("kshape", [(3, 3), (1, 9), (9, 1), (5, 2)], ids=lambda s: f"k{s[0]}x{s[1]}")
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int16, np.complex128],
                         ids=lambda d: np.dtype(d).name)
def test_register_block_runs_2d(dtype, kshape, rng):
    b = make_array(kshape, dtype, rng)
    for width in _block_lengths(dtype, kshape[1])[:4]:
        a = make_array((kshape[0] + 4, width), dtype, rng)
        for mode in MODES:
            check_2d("convolve2d", a, b, mode)
            check_2d("correlate2d", a, b, mode, "wrap")
            check_conv("convolve", a, b, mode, "direct")


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int32], ids=lambda d: np.dtype(d).name)
def test_register_block_runs_nd(dtype, rng):
    a = make_array((3, 4, 2 * 128 + 9), dtype, rng)
    b = make_array((2, 3, 7), dtype, rng)
    for mode in MODES:
        check_conv("convolve", a, b, mode, "direct")
        check_conv("correlate", a, b, mode, "direct")


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=lambda d: np.dtype(d).name)
def test_wide_kernel_short_rows_padded(dtype, mode, rng):
    """Edge columns dominate (kernel wider than a third of the row): padded rows."""
    for sa, sb in [((700,), (301,)), ((5, 130), (3, 61)), ((40,), (333,))]:
        a = make_array(sa, dtype, rng)
        b = make_array(sb, dtype, rng)
        check_conv("convolve", a, b, mode, "direct")
        if a.ndim == 2:
            check_2d("convolve2d", a, b, mode)


# --------------------------------------------------------------------------
# shape-only decisions: threads and padding
# --------------------------------------------------------------------------

@pytest.mark.parametrize("floor", [1.0e6, 3.2e6])
@pytest.mark.parametrize("shape_a, shape_k, itemsize, work", [
    ((1, 1000), (1, 301), 4, 1.2e6),
    ((1, 10000), (1, 31), 8, 2.5e6),
    ((1, 30000), (1, 31), 4, 3.7e6),
    ((1, 100000), (1, 3), 4, 1.2e6),
    ((1, 300000), (1, 3), 4, 3.6e6),
    ((1, 30000), (1, 3), 4, 0.36e6),
])
def test_one_dimensional_rows_thread_from_their_own_threshold(shape_a, shape_k, itemsize,
                                                               work, floor):
    """A 1-D signal (one row) takes threads from ``direct_row_parallel`` of multiply-adds,
    the coefficient in force (1 MB on Zen 4, 3.2 MB on Emerald Rapids)."""
    table = copy.deepcopy(_coefficients.coefficients())
    table["direct_row_parallel"] = floor
    before = _coefficients.coefficients()
    _coefficients.set_coefficients(table)
    try:
        threads, serial = _threads_of(shape_a, shape_k, itemsize, 2), _threads_of(
            shape_a, shape_k, itemsize, 1)
    finally:
        _coefficients.set_coefficients(before)
    assert threads == (min(2, numba.config.NUMBA_NUM_THREADS) if work >= floor else 1)
    assert serial == 1


@pytest.mark.parametrize("shape_a, shape_k, itemsize, parallel", [
    ((256, 256), (2, 9), 4, True),       # 2-D, one-row steps: 4.7 MB
    ((128, 128), (2, 9), 4, False),      # 1.2 MB
])
def test_direct_parallel_threshold(shape_a, shape_k, itemsize, parallel):
    """2-D one-row kernels are the parallel ones only from the shared threshold."""
    assert _threads_of(shape_a, shape_k, itemsize, 2) == (
        min(2, numba.config.NUMBA_NUM_THREADS) if parallel else 1)
    assert _threads_of(shape_a, shape_k, itemsize, 1) == 1


def _threads_of(shape_a, shape_k, itemsize, workers):
    """The threads :func:`cpu_direct._corr2d_layout` gives a 'same' problem."""
    *_, threads = cpu_direct._corr2d_layout(shape_a, shape_k, shape_a, -(shape_k[1] // 2),
                                            itemsize, workers,
                                            block_width(np.dtype("f%d" % itemsize)))
    return threads


@pytest.mark.parametrize("floor", [1.0e6, 3.2e6])
@pytest.mark.parametrize("shape_a, shape_k, itemsize, work", [
    ((64, 64), (7, 7), 4, 0.8e6),
    ((256, 256), (3, 3), 4, 2.4e6),      # serial on Emerald Rapids' set, threads on Zen 4's
    ((128, 128), (3, 3), 8, 1.2e6),
    ((512, 512), (3, 3), 4, 9.4e6),
])
def test_four_row_kernel_threads_from_its_own_threshold(shape_a, shape_k, itemsize, work,
                                                        floor):
    """The four-row kernel takes threads from ``direct_quad_parallel`` of multiply-adds, the
    coefficient in force, not from the other kernels' threshold."""
    table = copy.deepcopy(_coefficients.coefficients())
    table["direct_quad_parallel"] = floor
    before = _coefficients.coefficients()
    _coefficients.set_coefficients(table)
    try:
        threads = _threads_of(shape_a, shape_k, itemsize, 2)
    finally:
        _coefficients.set_coefficients(before)
    assert threads == (min(2, numba.config.NUMBA_NUM_THREADS) if work >= floor else 1)


@pytest.mark.parametrize("shape_k, key", [((3, 3), "direct_quad_square"), ((5, 5), "direct_quad_square"),
                                          ((7, 7), "direct_quad_unrolled"), ((5, 3), "direct_quad_unrolled"),
                                          ((9, 9), "direct_quad")])
@pytest.mark.parametrize("squares", [True, False], ids=["square-items", "width-items"])
def test_each_four_row_item_is_priced_by_its_own_slowdown(shape_k, key, squares, monkeypatch):
    """The four-row cost takes the slow-down of the item the kernel runs: the squares' own
    where the build takes their items, else the widths', else the shared one's."""
    monkeypatch.setattr(cpu_direct, "SQUARE_ITEMS", squares)
    if not squares and key == "direct_quad_square":
        key = "direct_quad_unrolled"
    problem = build_problem((512, 512), shape_k, "same", np.dtype(np.float32))
    before = _coefficients.coefficients()
    costs = {}
    for name in ("direct_quad", "direct_quad_unrolled", "direct_quad_square"):
        table = copy.deepcopy(before)
        table[name] *= 4
        _coefficients.set_coefficients(table)
        try:
            costs[name] = cpu_direct.cost(problem, 1)
        finally:
            _coefficients.set_coefficients(before)
    base = cpu_direct.cost(problem, 1)
    assert {name for name, cost in costs.items() if cost > base} == {key}


@pytest.mark.parametrize("shape_a, shape_k, itemsize, padded", [
    ((1, 1000), (1, 31), 8, True),       # small signals pad from a sixteenth of the row's bytes
    ((256, 256), (2, 31), 8, True),
    ((1, 10000), (1, 31), 8, False),
    ((256, 256), (2, 3), 8, False),
    ((1024, 1024), (2, 7), 8, False),    # large ones from a quarter (fresh pages cost more)
    ((1024, 1024), (1, 63), 4, True),
    ((256, 256), (7, 7), 8, False),      # the four-row kernel copies its edges padded in L1
    ((1024, 1024), (15, 15), 4, False),
])
def test_direct_pad_rule(shape_a, shape_k, itemsize, padded):
    """Edge columns of the one-row kernels are padded into register blocks only where the
    copy measured cheaper, the four-row kernel never pads the signal, and both agree with
    SciPy."""
    ox = -(shape_k[1] // 2)
    dt = np.dtype("f%d" % itemsize)
    pad_lo, pad_hi, *_ = cpu_direct._corr2d_layout(shape_a, shape_k, shape_a, ox, itemsize, 2,
                                                   block_width(dt))
    assert (pad_lo + pad_hi > 0) is padded
    if shape_a[0] * shape_a[1] <= 65536:
        rng = np.random.default_rng(1)
        a, k = make_array(shape_a, dt, rng), make_array(shape_k, dt, rng)
        assert_matches_scipy(numbaconv.convolve(a, k, "same", method="direct"),
                             ss.convolve(a, k, "same", method="direct"), a, k, "convolve", "same",
                             fft=False)


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int64, np.complex128],
                         ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("shapes", [((1, 40000), (1, 31)), ((300, 200), (7, 7)), ((20, 30, 400), (2, 3, 5))],
                         ids=lambda s: shape_id(*s))
def test_parallel_kernels(shapes, dtype, rng):
    """Problems large enough for the parallel kernels, on 1 and 2 threads, against SciPy."""
    a, k = make_array(shapes[0], dtype, rng), make_array(shapes[1], dtype, rng)
    ref = ss.correlate(a, k, "same", method="direct")
    for workers in (1, 2):
        got = numbaconv.correlate(a, k, "same", method="direct", workers=workers)
        assert_matches_scipy(got, ref, a, k, "correlate", "same", fft=False)


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int64], ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("kshape", [(3, 3), (5, 5), (7, 7), (4, 3), (11, 5), (9, 4), (6, 13)],
                         ids=lambda s: f"k{s[0]}x{s[1]}")
def test_four_row_kernel_edges_and_chunks(dtype, kshape, rng):
    """The four-row kernel (kernels of three or more rows; widths 3, 5 and 7 each have
    their own item, the others share one): edge columns, rows not a multiple of four,
    chunks that end inside a quarter block or hold no whole one, on 1 and 2 threads, and
    a non-finite tap (whose products outside the signal SciPy leaves out), against
    SciPy's direct sum."""
    kh, kw = kshape
    assert (cpu_direct.quads_item(kw) is cpu_direct._item_quads) == (
        kw not in cpu_direct.QUAD_WIDTHS)
    quarter = cpu_direct.quad_lanes(kh, (8, 1 << 12), np.dtype(dtype))
    assert quarter, "the four-row kernel runs these kernels"
    for H, W in [(kh + 5, 2 * quarter + kw), (kh + 2, 3 * quarter - 1), (13, 5 * quarter + 3)]:
        a = make_array((H, W), dtype, rng)
        k = make_array(kshape, dtype, rng)
        if dtype != np.int64:
            kinf = k.copy()
            kinf[kh // 2, kw - 1] = np.inf
            with np.errstate(invalid="ignore"):
                for mode in MODES:
                    assert_matches_scipy(numbaconv.correlate(a, kinf, mode, method="direct"),
                                         ss.correlate(a, kinf, mode, method="direct"),
                                         a, kinf, "correlate", mode, fft=False)
        for mode in MODES:
            ref = ss.correlate(a, k, mode, method="direct")
            oy = -(kh - 1) if mode == "full" else (-(kh // 2) if mode == "same" else 0)
            ox = -(kw - 1) if mode == "full" else (-(kw // 2) if mode == "same" else 0)
            for chunk in (quarter + 3, 2 * quarter, W + kw):
                for threads in (1, 2):
                    out = np.empty(ref.shape, np.float64 if dtype == np.float64 else
                                   (np.float32 if dtype == np.float32 else np.int64))
                    cpu_direct._corr2d(threads, np.ascontiguousarray(a, out.dtype),
                                       np.ascontiguousarray(k, out.dtype), out, oy, ox, chunk, 0, 0)
                    assert_matches_scipy(out.astype(ref.dtype), ref, a, k, "correlate", mode,
                                         fft=False)


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int64], ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("kh", cpu_direct.QUAD_SQUARES, ids=lambda k: f"k{k}x{k}")
def test_square_items_unroll_every_input_row(kh, dtype, rng):
    """The items of square kernels (their input rows unrolled, taken on 16-register
    builds), run on this build whatever it takes: whole four-row steps, the edge rows and
    columns and chunks around them, on 1 and 2 threads, against SciPy's direct sum."""
    assert (cpu_direct.quads_item(kh, kh) is cpu_direct._QUAD_SQUARE_ITEMS[kh]) == (
        cpu_direct.SQUARE_ITEMS)
    item = cpu_direct._QUAD_SQUARE_ITEMS[kh]
    quarter = cpu_direct.quad_lanes(kh, (8, 1 << 12), np.dtype(dtype))
    k = make_array((kh, kh), dtype, rng)
    for H, W in [(kh + 9, 2 * quarter + kh), (19, 5 * quarter + 3)]:
        a = make_array((H, W), dtype, rng)
        for mode in MODES:
            ref = ss.correlate(a, k, mode, method="direct")
            oy = -(kh - 1) if mode == "full" else (-(kh // 2) if mode == "same" else 0)
            for chunk in (quarter + 3, W + kh):
                for threads in (1, 2):
                    out = np.empty(ref.shape, a.dtype)
                    ncx = -(-ref.shape[1] // chunk)
                    pick = (item, -(-ref.shape[0] // cpu_direct.QUAD_ROWS) * ncx, ncx)
                    cpu_direct._corr2d(threads, a, k, out, oy, oy, chunk, 0, 0, pick)
                    assert_matches_scipy(out, ref, a, k, "correlate", mode, fft=False)


def test_square_items_stream_a_large_output(rng):
    """A square item writing an output of STREAM_MIN_BYTES or more (stores past the caches
    from each 64-byte boundary on), against the sum of shifted slices."""
    kh = cpu_direct.QUAD_SQUARES[0]
    W = 4100
    H = -(-STREAM_MIN_BYTES // (4 * W)) + 2
    a = rng.standard_normal((H + kh - 1, W + kh - 1)).astype(np.float32)
    k = rng.standard_normal((kh, kh)).astype(np.float32)
    out = np.full((H, W), np.nan, np.float32)
    assert out.nbytes >= STREAM_MIN_BYTES
    pick = (cpu_direct._QUAD_SQUARE_ITEMS[kh], -(-H // cpu_direct.QUAD_ROWS), 1)
    cpu_direct._corr2d(2, a, k, out, 0, 0, W, 0, 0, pick, stream=True)
    ref = sum(np.float64(k[p, q]) * a[p:p + H, q:q + W] for p in range(kh) for q in range(kh))
    np.testing.assert_allclose(out, ref, rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int64], ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("shape_a, shape_k", [
    ((9, 130), (3, 3)),        # one chunk of two blocks and a sliver
    ((21, 200), (7, 7)),
    ((13, 97), (5, 31)),       # edges of 15 columns on a row of under two blocks
    ((10, 300), (4, 71)),      # edges wider than a float64 block: several edge blocks a side
    ((7, 64), (3, 9)),         # a row of one float32 block
])
@pytest.mark.parametrize("mode", ["same", "full", "valid"])
def test_four_row_edges_in_blocks(shape_a, shape_k, mode, dtype, rng):
    """The four-row kernel's edge blocks (windows leaving the signal sideways, read from a
    zero-padded copy in L1) give SciPy's direct result."""
    a, k = make_array(shape_a, dtype, rng), make_array(shape_k, dtype, rng)
    if mode == "valid" and any(m < n for m, n in zip(shape_a, shape_k)):
        pytest.skip("valid needs the kernel inside the signal")
    assert_matches_scipy(numbaconv.correlate(a, k, mode, method="direct"),
                         ss.correlate(a, k, mode, method="direct"), a, k, "correlate", mode,
                         fft=False)


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_four_row_edges_with_a_nonfinite_tap(bad, rng):
    """A NaN or infinite tap must not meet the edge copies' zeros (0 * nan is nan, where
    SciPy leaves the products outside the signal out): those edges stay bounds-checked."""
    a = make_array((40, 150), np.float64, rng)
    k = make_array((5, 7), np.float64, rng)
    k[2, 0] = bad
    got = numbaconv.correlate(a, k, "same", method="direct")
    ref = ss.correlate(a, k, "same", method="direct")
    np.testing.assert_array_equal(np.isnan(got), np.isnan(ref))
    assert_matches_scipy(got, ref, a, k, "correlate", "same", fft=False)



def test_large_outputs_stream_where_the_class_does_better():
    """The caller's large ``out`` is stored past the caches; a new output of the kernel's own
    only where the build streams its own (:data:`cpu_direct.STREAM_NEW`); small ones never."""
    streams = functools.partial(layout.streams, own=cpu_direct.STREAM_NEW)  # the kernel's call
    big = np.empty(STREAM_MIN_BYTES // 4, np.float32)
    small = np.empty(STREAM_MIN_BYTES // 4 - 1, np.float32)
    assert streams(big, big)
    assert streams(big, None) == cpu_direct.STREAM_NEW
    assert not streams(small, small) and not streams(small, None)
    assert not layout.streams(big, None)          # the separable path's: the caller's only
    assert cpu_direct.STREAM_NEW == (cpu_direct.VEC_BYTES == 64)


@pytest.mark.parametrize("dtype, shape_a, shape_k", [
    (np.float32, (2049, 2051), (3, 3)),     # rows start at every 4-byte offset of a line
    (np.float64, (2049, 1030), (5, 7)),     # rows 48 bytes apart modulo 64
])
@pytest.mark.parametrize("given", ["new", "misaligned out"])
def test_four_row_kernel_streams_large_outputs(dtype, shape_a, shape_k, given, rng):
    """Outputs of STREAM_MIN_BYTES or more are stored past the caches where a block starts on
    a 64-byte boundary (the caller's, and on 512-bit builds new ones); the block after a
    row's first moves back to one.  Every column must still be written once with the right
    value, whatever the output's alignment."""
    a, k = make_array(shape_a, dtype, rng), make_array(shape_k, dtype, rng)
    ref = ss.correlate(a, k, "same", method="direct")
    assert ref.nbytes >= STREAM_MIN_BYTES
    out = None
    if given == "misaligned out":
        buf = np.full(ref.size + 3, np.nan, dtype)
        out = buf[1:1 + ref.size].reshape(ref.shape)
        assert out.ctypes.data % 64 != 0
    got = numbaconv.correlate(a, k, "same", method="direct", out=out)
    assert out is None or got is out
    assert_matches_scipy(got, ref, a, k, "correlate", "same", fft=False)


@pytest.mark.parametrize("boundary, np_mode", [("fill", "constant"), ("wrap", "wrap"),
                                               ("symm", "symmetric")])
@pytest.mark.parametrize("dtype", ["float32", "float64", "int64", "complex128"])
@pytest.mark.parametrize("threads", [1, 2])
def test_boundary_extension_is_np_pad(boundary, np_mode, dtype, threads, monkeypatch):
    """convolve2d's boundaries extend the signal as np.pad does, for pads longer than the
    axis too (a kernel larger than the image), on one thread or several."""
    from numbaconv._kernels import padding
    monkeypatch.setattr(padding, "EXTEND_PARALLEL_BYTES", 0)     # threads even when small
    rng = np.random.default_rng(7)
    for shape in [(1, 1), (1, 4), (3, 1), (2, 5), (6, 6)]:
        a = (rng.standard_normal(shape) * 10).astype(dtype)
        for pads in [((0, 0), (0, 0)), ((1, 2), (3, 0)), ((7, 11), (5, 9)), ((0, 13), (13, 0))]:
            kw = {"constant_values": 7} if np_mode == "constant" else {}
            want = np.pad(a, pads, mode=np_mode, **kw)
            got = padding.extend_2d(a, pads, boundary, 7, threads)
            assert got.dtype == a.dtype
            np.testing.assert_array_equal(got, want, err_msg=f"{shape} {pads}")


@pytest.mark.parametrize("dtype", [np.complex64, np.complex128])
def test_complex_rows_cost_the_same_per_product_for_any_kernel_shape(dtype):
    """Complex rows run no register blocks: the block kernels' short-row and kernel-row
    slow-downs do not price them (they priced 512² 7x7 complex128 at 1.8x its time)."""
    from numbaconv._backends import cpu_direct
    before = _coefficients.coefficients()
    table = copy.deepcopy(before)
    table.update(direct_overhead=0.0, pass_byte=0.0)
    _coefficients.set_coefficients(table)
    try:
        per_mac = []
        for sa, sk, mode in [((200000,), (64,), "valid"), ((512, 512), (7, 7), "same"),
                             ((600, 600), (3, 3), "same"), ((300, 300), (15, 15), "full")]:
            problem = build_problem(sa, sk, mode, np.dtype(dtype))
            assert cpu_direct._runs_parallel(problem, 2)
            per_mac.append(cpu_direct.cost(problem, 2) / problem.macs)
    finally:
        _coefficients.set_coefficients(before)
    assert max(per_mac) == pytest.approx(min(per_mac), rel=1e-9)


# --------------------------------------------------------------------------
# the two register forms of a block's taps (each ISA class builds one; both tested here)
# --------------------------------------------------------------------------

def _taps_runner(form):
    """A compiled ``(arow, kf, base, out)`` that adds ``kf`` to one zeroed block with ``form``
    and stores the block in ``out`` (``8 L`` outputs)."""
    from numbaconv._kernels.blocks import store_block, zero_block

    @numba.njit
    def run(arow, kf, base, out):
        a0, a1, a2, a3, a4, a5, a6, a7 = zero_block(out)
        form(arow, kf, 0, kf.shape[0], base, a0, a1, a2, a3, a4, a5, a6, a7)
        store_block(out, 0, a0, a1, a2, a3, a4, a5, a6, a7)

    return run


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("form", ["_taps_window", "_taps_narrow", "_taps_lagged"])
def test_both_register_forms_add_every_tap(form, dtype):
    """Every row length from 1 tap to phases of 10 (the 16-register form runs rows of
    ``4 L`` taps or more with the second half of the block 4 taps behind the first, the
    lagged form alone only those): the block's ``8 L`` outputs are the row's correlation
    with the input, as NumPy sums them up to rounding."""
    from numbaconv._kernels import blocks
    run = _taps_runner(getattr(blocks, form))
    width = block_width(np.dtype(dtype))
    lanes = width // blocks.NACC
    rng = np.random.default_rng(3)
    shortest = 4 * lanes if form == "_taps_lagged" else 1
    for kw in list(range(shortest, 4 * lanes + 2)) + [10 * lanes - 1, 10 * lanes + 3]:
        base = int(rng.integers(0, 5))
        arow = rng.standard_normal(base + width + kw - 1).astype(dtype)
        kf = rng.standard_normal(kw).astype(dtype)
        out = np.full(width, np.nan, dtype)
        run(arow, kf, base, out)
        windows = np.lib.stride_tricks.sliding_window_view(arow[base:], kw)[:width]
        want = windows.astype(np.float64) @ kf.astype(np.float64)
        scale = np.abs(windows).astype(np.float64) @ np.abs(kf).astype(np.float64)
        assert np.all(np.abs(out - want) <= 4 * kw * np.finfo(dtype).eps * scale), (form, kw)


def test_the_register_form_follows_the_class():
    from numbaconv._kernels import blocks
    wide = blocks.ISA == "avx512"
    assert blocks.VEC_REGISTERS == (32 if wide else 16)
    assert blocks.taps is (blocks._taps_window if wide else blocks._taps_narrow)
