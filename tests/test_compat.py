"""Differential tests: numbaconv against scipy.signal (the oracle).

Every test computes the same call with both libraries and compares the
outcome: same exception type, or same dtype, shape and values (integers
exactly, floats within :data:`conftest.RTOL`).  Where SciPy's own result is
inexact (its FFT path for integers rounds through float64) the exact
reference comes from :mod:`naive` or from SciPy's ``method='direct'``.
"""
from __future__ import annotations

import numpy as np
import pytest
import scipy.signal as ss

import naive
import numbaconv
from numbaconv import _probes
from compare import (INT_KINDS, METHODS, MODES, check_2d, check_conv, check_fft, exact_reference,
                     shape_id as _shape_id)
from conftest import (DTYPE_PAIR_IDS, DTYPE_PAIRS, DTYPES, assert_matches_scipy, call_ours, call_ref,
                      make_array, nc, run_both)


# --------------------------------------------------------------------------
# 1. every dtype x mode x method x rank
# --------------------------------------------------------------------------

SHAPES_BY_NDIM = {1: ((9,), (4,)), 2: ((6, 5), (3, 2)), 3: ((4, 3, 5), (2, 3, 2))}


@pytest.mark.parametrize("ndim", [1, 2, 3], ids=lambda n: f"{n}d")
@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("dtypes", DTYPE_PAIRS, ids=DTYPE_PAIR_IDS)
@pytest.mark.parametrize("fname", ["convolve", "correlate"])
def test_convolve_correlate_dtypes(fname, dtypes, mode, method, ndim, rng):
    sa, sb = SHAPES_BY_NDIM[ndim]
    a = make_array(sa, dtypes[0], rng)
    b = make_array(sb, dtypes[1], rng)
    check_conv(fname, a, b, mode, method)


@pytest.mark.parametrize("ndim", [1, 2, 3], ids=lambda n: f"{n}d")
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("dtypes", DTYPE_PAIRS, ids=DTYPE_PAIR_IDS)
@pytest.mark.parametrize("fname", ["fftconvolve", "oaconvolve"])
def test_fftconvolve_oaconvolve_dtypes(fname, dtypes, mode, ndim, rng):
    sa, sb = SHAPES_BY_NDIM[ndim]
    a = make_array(sa, dtypes[0], rng)
    b = make_array(sb, dtypes[1], rng)
    check_fft(fname, a, b, mode)


BOUNDARY_CASES = [("fill", 0), ("fill", 2), ("wrap", 0), ("symm", 0)]


@pytest.mark.parametrize("boundary,fillvalue", BOUNDARY_CASES,
                         ids=[f"{b}{f}" if b == "fill" else b for b, f in BOUNDARY_CASES])
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("dtypes", DTYPE_PAIRS, ids=DTYPE_PAIR_IDS)
@pytest.mark.parametrize("fname", ["convolve2d", "correlate2d"])
def test_convolve2d_correlate2d_dtypes(fname, dtypes, mode, boundary, fillvalue, rng):
    a = make_array((6, 5), dtypes[0], rng)
    b = make_array((3, 2), dtypes[1], rng)
    check_2d(fname, a, b, mode, boundary, fillvalue)


# --------------------------------------------------------------------------
# 2. shape classes
# --------------------------------------------------------------------------

SHAPES = [
    ((1,), (1,)),            # length 1
    ((1,), (5,)),            # signal of length 1
    ((5,), (1,)),            # kernel of length 1
    ((9,), (3,)),            # odd kernel
    ((9,), (4,)),            # even kernel
    ((4,), (9,)),            # kernel longer than signal ('valid' swaps)
    ((3,), (8,)),            # even kernel longer than signal ('same' centring)
    ((2,), (7,)),
    ((6,), (6,)),            # equal lengths
    ((17,), (16,)),
    ((5, 6), (2, 3)),
    ((5, 6), (3, 2)),
    ((2, 3), (5, 6)),        # kernel larger on every axis
    ((5, 2), (2, 5)),        # mixed: 'valid' is an error
    ((1, 7), (1, 3)),
    ((7, 1), (3, 1)),
    ((4, 4), (4, 4)),
    ((3, 5), (4, 2)),
    ((1, 1), (1, 1)),
    ((4, 5, 3), (2, 3, 2)),
    ((2, 2, 2), (3, 3, 3)),
    ((6, 1, 5), (1, 4, 2)),
    ((1, 1, 1), (1, 1, 1)),
    ((3, 4, 5), (3, 4, 5)),
]
SHAPE_IDS = [_shape_id(*s) for s in SHAPES]


@pytest.mark.parametrize("dtype", [np.float64, np.int16], ids=["float64", "int16"])
@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("shapes", SHAPES, ids=SHAPE_IDS)
@pytest.mark.parametrize("fname", ["convolve", "correlate"])
def test_convolve_correlate_shapes(fname, shapes, mode, method, dtype, rng):
    a = make_array(shapes[0], dtype, rng)
    b = make_array(shapes[1], dtype, rng)
    check_conv(fname, a, b, mode, method)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("shapes", SHAPES, ids=SHAPE_IDS)
@pytest.mark.parametrize("fname", ["fftconvolve", "oaconvolve"])
def test_fftconvolve_oaconvolve_shapes(fname, shapes, mode, rng):
    a = make_array(shapes[0], np.float64, rng)
    b = make_array(shapes[1], np.complex128 if fname == "oaconvolve" else np.float64, rng)
    check_fft(fname, a, b, mode)


SHAPES_2D = [s for s in SHAPES if len(s[0]) == 2] + [((7, 8), (1, 1)), ((3, 3), (8, 2)),
                                                    ((2, 9), (5, 3)), ((10, 11), (4, 5))]
BOUNDARY_CASES_2D = [("fill", 0), ("fill", -1.5), ("wrap", 0), ("symm", 0)]


@pytest.mark.parametrize("dtype", [np.float64, np.int32], ids=["float64", "int32"])
@pytest.mark.parametrize("boundary,fillvalue", BOUNDARY_CASES_2D,
                         ids=[f"{b}{f}" if b == "fill" else b for b, f in BOUNDARY_CASES_2D])
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("shapes", SHAPES_2D, ids=[_shape_id(*s) for s in SHAPES_2D])
@pytest.mark.parametrize("fname", ["convolve2d", "correlate2d"])
def test_convolve2d_correlate2d_shapes(fname, shapes, mode, boundary, fillvalue, dtype, rng):
    a = make_array(shapes[0], dtype, rng)
    b = make_array(shapes[1], dtype, rng)
    check_2d(fname, a, b, mode, boundary, fillvalue)


@pytest.mark.parametrize("alias,fillvalue", [("pad", 0), ("pad", 3.25), ("circular", 0),
                                             ("symmetric", 0), ("fill", 1 - 2j)])
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("fname", ["convolve2d", "correlate2d"])
def test_boundary_aliases_and_fillvalues(fname, mode, alias, fillvalue, rng):
    a = make_array((7, 6), np.complex128 if isinstance(fillvalue, complex) else np.float64, rng)
    b = make_array((4, 3), np.float64, rng)
    check_2d(fname, a, b, mode, alias, fillvalue)


@pytest.mark.parametrize("fillvalue", [2, np.int8(-3), 2.0, True, np.float32(1.5), [7]],
                         ids=["int", "np.int8", "float", "bool", "np.float32", "list1"])
@pytest.mark.parametrize("dtype", [np.uint8, np.int16, np.float32, np.complex64])
def test_fillvalue_types(dtype, fillvalue, rng):
    a = make_array((5, 6), dtype, rng)
    b = make_array((3, 3), dtype, rng)
    check_2d("convolve2d", a, b, "same", "fill", fillvalue)
    check_2d("correlate2d", a, b, "full", "fill", fillvalue)


# --------------------------------------------------------------------------
# 3. larger problems (where FFT / overlap-add / parallel paths kick in)
# --------------------------------------------------------------------------

LARGE = [((2000,), (63,)), ((500,), (500,)), ((64, 48), (7, 5)), ((40, 40), (40, 40)),
         ((12, 10, 9), (3, 4, 2)), ((9,), (300,))]


@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.complex128], ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("shapes", LARGE, ids=[_shape_id(*s) for s in LARGE])
def test_large_all_functions(shapes, mode, dtype, rng):
    a = make_array(shapes[0], dtype, rng)
    b = make_array(shapes[1], dtype, rng)
    for method in METHODS:
        check_conv("convolve", a, b, mode, method)
    check_conv("correlate", a, b, mode, "auto")
    check_fft("fftconvolve", a, b, mode)
    check_fft("oaconvolve", a, b, mode)
    if a.ndim == 2:
        check_2d("convolve2d", a, b, mode)
        check_2d("correlate2d", a, b, mode, "symm")


# --------------------------------------------------------------------------
# 3b. register blocks: run lengths around the block width W (numbaconv._simd)
# --------------------------------------------------------------------------

def _block_lengths(dtype, kernel):
    """Output-run lengths that straddle the register block width and a chunk."""
    from numbaconv._kernels.blocks import block_width
    from numbaconv._kernels.layout import CHUNK_BYTES
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


@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.complex64], ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("threads", [1, 2, 3, 7])
@pytest.mark.parametrize("n, m, nfft", [(1000, 31, 64), (1000, 31, 90), (997, 50, 128),
                                        (5000, 301, 600), (300, 33, 64), (128, 33, 64)])
def test_overlap_add_block_groups(n, m, nfft, threads, dtype, rng):
    """The 1-D overlap-add for every split of its blocks into thread groups (ragged last block,
    a group of one block, more groups than blocks), against SciPy's full convolution."""
    from numbaconv._backends.cpu_oa import _oa_1d
    a = make_array((n,), dtype, rng)
    h = make_array((m,), dtype, rng)
    got = _oa_1d(a, h, nfft, threads, np.dtype(dtype))
    assert_matches_scipy(got, ss.fftconvolve(a, h), a, h)


TILE_CASES = [((300, 310), (31, 17)), ((97, 260), (5, 40)), ((5, 260), (3, 40)),
              ((64, 64), (33, 33)), ((200, 130), (1, 7)), ((130, 200), (9, 1))]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.complex64], ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("threads", [1, 2, 5])
@pytest.mark.parametrize("tile", [(64, 64), (64, 96), (96, 64)], ids=lambda t: "x".join(map(str, t)))
@pytest.mark.parametrize("sa, sk", TILE_CASES, ids=[_shape_id(a, b) for a, b in TILE_CASES])
def test_overlap_add_tiles(sa, sk, tile, threads, dtype, mode, rng):
    """The 2-D tiled overlap-add for tiles that cut both axes or span one (the 5-row image),
    kernels as long as a tile's step, more thread groups than tile rows, and each mode's
    window (tiles outside 'valid' skipped, groups' tails clipped), against SciPy."""
    from numbaconv._backends.cpu_oa import _oa_2d
    from numbaconv._problem import build_problem
    a = make_array(sa, dtype, rng)
    k = make_array(sk, dtype, rng)
    p = build_problem(sa, sk, mode, np.dtype(dtype))
    got = _oa_2d(a, k, tile, threads, np.dtype(dtype), p.origin, p.out_shape)
    assert_matches_scipy(got, ss.convolve(a, k, mode), a, k)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("dtype", [np.float64, np.complex64], ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("sa, sk", [((1100, 1000), (31, 31)), ((700, 2800), (21, 9)),
                                    ((31, 17), (1000, 1100))])
def test_overlap_add_tiles_through_the_api(sa, sk, dtype, mode, rng):
    """method='oa' on 2-D shapes where the plan is tiles (the kernel the larger operand too)."""
    from numbaconv._backends import cpu_oa
    from numbaconv._problem import build_problem
    assert cpu_oa.plan(build_problem(sa, sk, mode, np.dtype(dtype)), 2)[0] is None
    a = make_array(sa, dtype, rng)
    b = make_array(sk, dtype, rng)
    check_conv("convolve", a, b, mode, "oa")
    check_conv("correlate", a, b, mode, "oa")


# --------------------------------------------------------------------------
# 4. axes (fftconvolve/oaconvolve, and numbaconv's convolve/correlate extension)
# --------------------------------------------------------------------------

AXES_CASES = [
    ((3, 1, 4), (1, 5, 2), None),
    ((3, 1, 4), (1, 5, 2), [0, 2]),
    ((3, 1, 4), (1, 5, 2), [2]),
    ((3, 1, 4), (1, 5, 2), -1),
    ((3, 1, 4), (1, 5, 2), [0, 1, 2]),
    ((4, 6), (4, 3), 1),
    ((4, 6), (1, 3), 1),
    ((4, 6), (1, 3), [-1]),
    ((6, 4), (2, 4), 0),
    ((5, 6, 7), (5, 2, 7), 1),
    ((5, 6, 7), (1, 9, 3), [1, 2]),
    ((2, 7), (2, 9), 1),
]
AXES_IDS = [f"{_shape_id(a, b)}-axes{ax}".replace(" ", "") for a, b, ax in AXES_CASES]


@pytest.mark.parametrize("dtype", [np.float64, np.complex64, np.int16], ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("case", AXES_CASES, ids=AXES_IDS)
@pytest.mark.parametrize("fname", ["fftconvolve", "oaconvolve"])
def test_fft_axes(fname, case, mode, dtype, rng):
    sa, sb, axes = case
    a = make_array(sa, dtype, rng)
    b = make_array(sb, dtype, rng)
    check_fft(fname, a, b, mode, axes=axes)


@pytest.mark.parametrize("method", ["auto", "direct", "fft"])
@pytest.mark.parametrize("dtype", [np.float64, np.int16], ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("case", [c for c in AXES_CASES if c[2] is not None],
                         ids=[i for i, c in zip(AXES_IDS, AXES_CASES) if c[2] is not None])
@pytest.mark.parametrize("fname", ["convolve", "correlate"])
def test_convolve_axes_extension(fname, case, mode, dtype, method, rng):
    """convolve/correlate(axes=...) follow fftconvolve's axes rules, with
    convolve's result dtype (np.result_type) and exact integers."""
    sa, sb, axes = case
    a = make_array(sa, dtype, rng)
    b = make_array(sb, dtype, rng)
    if fname == "correlate":
        ax = range(a.ndim) if axes is None else np.atleast_1d(axes)
        kern = np.flip(np.conj(b) if b.dtype.kind == "c" else b, axis=tuple(int(x) for x in ax))
    else:
        kern = b
    out = run_both(lambda: getattr(nc(), fname)(a, b, mode, method=method, axes=axes),
                   lambda: ss.fftconvolve(a, kern, mode, axes=axes),
                   context=f"[{fname} axes={axes} mode={mode}]")
    if out.ok:
        expected = getattr(naive, fname)(a, b, mode, axes=axes)
        assert expected.shape == out.ref.shape  # the oracle agrees with scipy's shape
        if dtype == np.float64:
            np.testing.assert_allclose(expected, out.ref, atol=1e-10 * (1 + np.abs(out.ref).max()))
        assert_matches_scipy(out.ours, expected, a, b)


# --------------------------------------------------------------------------
# 5. memory layouts, odd inputs, and no modification of inputs
# --------------------------------------------------------------------------

def _strided(x):
    big = np.zeros(tuple(2 * n for n in x.shape), x.dtype)
    view = big[(slice(None, None, 2),) * x.ndim]
    view[...] = x
    return view


def _unaligned(x):
    buf = np.zeros(x.nbytes + 1, np.uint8)[1:]
    y = buf.view(x.dtype).reshape(x.shape)
    y[...] = x
    return y


LAYOUTS = {
    "contiguous": lambda x: x,
    "strided": _strided,
    "negative": lambda x: x[(slice(None, None, -1),) * x.ndim].copy()[(slice(None, None, -1),) * x.ndim],
    "fortran": np.asfortranarray,
    "transposed": lambda x: x.T.copy().T,
    "bigendian": lambda x: x.astype(x.dtype.newbyteorder(">")),
    "readonly": lambda x: _readonly(x.copy()),
    "broadcast": lambda x: np.broadcast_to(x[(slice(0, 1),) * x.ndim], x.shape),
    "unaligned": _unaligned,
    "list": lambda x: x.tolist(),
}


def _readonly(x):
    x.flags.writeable = False
    return x


CALLS = {
    "convolve-auto": ("conv", "convolve", "auto"),
    "convolve-direct": ("conv", "convolve", "direct"),
    "convolve-fft": ("conv", "convolve", "fft"),
    "correlate-auto": ("conv", "correlate", "auto"),
    "correlate-direct": ("conv", "correlate", "direct"),
    "fftconvolve": ("fft", "fftconvolve", None),
    "oaconvolve": ("fft", "oaconvolve", None),
    "convolve2d": ("2d", "convolve2d", "fill"),
    "correlate2d-symm": ("2d", "correlate2d", "symm"),
    "convolve2d-wrap": ("2d", "convolve2d", "wrap"),
}


def _snapshot(x):
    return x if isinstance(x, list) else np.array(x, copy=True)


def _same(x, snap):
    if isinstance(x, list):
        return x == snap
    return np.array_equal(np.asarray(x), snap, equal_nan=True) and np.asarray(x).dtype == snap.dtype


def _dispatch(call, a, b, mode):
    kind, fname, extra = CALLS[call]
    if kind == "conv":
        return check_conv(fname, a, b, mode, extra)
    if kind == "fft":
        out = check_fft(fname, a, b, mode)
        return out.ours
    out = check_2d(fname, a, b, mode, extra, 0.5 if extra == "fill" else 0)
    return out.ours


@pytest.mark.parametrize("which", ["in1", "in2", "both"])
@pytest.mark.parametrize("layout", list(LAYOUTS))
@pytest.mark.parametrize("ndim", [1, 2], ids=["1d", "2d"])
@pytest.mark.parametrize("dtype", [np.float64, np.int32], ids=["float64", "int32"])
@pytest.mark.parametrize("call", list(CALLS))
def test_layouts_and_inputs_untouched(call, dtype, ndim, layout, which, rng):
    if CALLS[call][0] == "2d" and ndim != 2:
        pytest.skip("2-D functions need 2-D inputs (covered by test_errors)")
    sa, sb = ((11,), (4,)) if ndim == 1 else ((7, 8), (3, 4))
    a0 = make_array(sa, dtype, rng)
    b0 = make_array(sb, dtype, rng)
    f = LAYOUTS[layout]
    a = f(a0) if which in ("in1", "both") else a0
    b = f(b0) if which in ("in2", "both") else b0
    snaps = (_snapshot(a), _snapshot(b))
    mode = "same" if call.startswith("correlate") else "full"
    ours = _dispatch(call, a, b, mode)
    assert _same(a, snaps[0]), "in1 was modified"
    assert _same(b, snaps[1]), "in2 was modified"
    if isinstance(ours, np.ndarray):
        for x in (a, b):
            if isinstance(x, np.ndarray):
                assert not np.shares_memory(ours, x), "result shares memory with an input"
        assert ours.flags.writeable, "result is read-only"


BIG_ENDIAN_CALLS = ["convolve-auto", "convolve-direct", "convolve-fft", "convolve1d-auto", "correlate1d-direct",
                    "fftconvolve", "oaconvolve", "convolve2d", "correlate2d", "choose_conv_method"]


@pytest.mark.parametrize("call", BIG_ENDIAN_CALLS)
@pytest.mark.parametrize("dtype", [d for d in DTYPES if np.dtype(d).itemsize > 1],
                         ids=lambda d: np.dtype(d).name)
def test_big_endian_every_dtype(dtype, call, rng):
    """Byte order carries no meaning: '>' inputs give what native ones give."""
    a0 = make_array((6, 7), dtype, rng)
    b0 = make_array((3, 2), dtype, rng)
    a, b = a0.astype(a0.dtype.newbyteorder(">")), b0.astype(b0.dtype.newbyteorder(">"))
    fname, _, method = call.partition("-")
    if fname.endswith("1d"):
        fname, a, b, a0, b0 = fname[:-2], a[0], b[0], a0[0], b0[0]
    kw = {"method": method} if method else {}
    # the reference runs on native copies (scipy's pocketfft rejects e.g. '>f4')
    out = run_both(lambda: getattr(nc(), fname)(a, b, **kw), lambda: getattr(ss, fname)(a0, b0, **kw),
                   context=f"[{call} {a.dtype.str}]")
    if out.ok and fname == "choose_conv_method":
        assert out.ours in ("direct", "fft")
    elif out.ok:
        ref = out.ref
        if np.asarray(ref).dtype.kind in INT_KINDS and fname in ("convolve", "correlate"):
            ref = exact_reference(fname, a0, b0, "full", "direct", ref)
        assert_matches_scipy(out.ours, ref, a0, b0)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("fname", ["convolve", "correlate"])
def test_inputs_untouched_valid_swap(fname, method, mode, rng):
    """'valid' with the kernel larger than the signal swaps the inputs internally."""
    a = make_array((3, 4), np.complex128, rng)
    b = make_array((6, 7), np.complex128, rng)
    snaps = (a.copy(), b.copy())
    check_conv(fname, a, b, mode, method)
    np.testing.assert_array_equal(a, snaps[0])
    np.testing.assert_array_equal(b, snaps[1])


ZERO_D = [
    (np.array(2.0), np.array(3.0)),
    (np.array(2), np.array(-3)),
    (np.array(2), np.array(3j)),
    (np.float32(2), np.float32(3)),
    (2, 3),
    (2.5, 1j),
    (np.array(True), np.array(True)),
    (np.array(100, np.int8), np.array(2, np.int8)),
]


@pytest.mark.parametrize("pair", ZERO_D, ids=lambda p: f"{type(p[0]).__name__}-{np.asarray(p[0]).dtype}"
                         f"-{np.asarray(p[1]).dtype}")
@pytest.mark.parametrize("call", ["convolve-auto", "convolve-direct", "convolve-fft", "correlate-auto",
                                  "correlate-fft", "fftconvolve", "oaconvolve", "convolve2d",
                                  "correlate2d"])
def test_zero_d_and_scalars(call, pair):
    a, b = pair
    fname, _, method = call.partition("-")
    if method:
        f_ours = lambda: getattr(nc(), fname)(a, b, method=method)  # noqa: E731
        f_ref = lambda: getattr(ss, fname)(a, b, method=method)  # noqa: E731
    else:
        f_ours = lambda: getattr(nc(), fname)(a, b)  # noqa: E731
        f_ref = lambda: getattr(ss, fname)(a, b)  # noqa: E731
    out = run_both(f_ours, f_ref, context=f"[{call}]")
    if out.ok:
        assert_matches_scipy(out.ours, out.ref, a, b)


LISTS = [
    ([1, 2, 3], [0, 1, 1]),
    ([1.0, 2.0, 3.0, 4.0], [0.5, 1.0]),
    ([1, 2, 3], [0.5j]),
    ([[1, 2], [3, 4]], [[1, -1]]),
    ([True, False, True], [True, True]),
    ((1, 2, 3, 4, 5), (1, 2)),
]


@pytest.mark.parametrize("pair", LISTS, ids=[str(i) for i in range(len(LISTS))])
@pytest.mark.parametrize("call", ["convolve-auto", "convolve-fft", "correlate-direct", "fftconvolve",
                                  "oaconvolve", "convolve2d", "correlate2d"])
def test_python_sequences(call, pair):
    import copy
    a, b = copy.deepcopy(pair)
    fname, _, method = call.partition("-")
    kw = {"method": method} if method else {}
    out = run_both(lambda: getattr(nc(), fname)(a, b, **kw), lambda: getattr(ss, fname)(a, b, **kw),
                   context=f"[{call}]")
    if out.ok:
        assert_matches_scipy(out.ours, out.ref, a, b)
    assert (a, b) == pair, "input sequences were modified"


# --------------------------------------------------------------------------
# 6. integer exactness and wrapping (must equal SciPy's direct method)
# --------------------------------------------------------------------------

INT_DTYPES = [np.int8, np.uint8, np.int16, np.uint16, np.int32, np.uint32, np.int64, np.uint64]


@pytest.mark.parametrize("shapes", [((20,), (5,)), ((5,), (20,)), ((6, 7), (3, 2)), ((3, 4, 5), (2, 2, 3))],
                         ids=lambda s: _shape_id(*s))
@pytest.mark.parametrize("method", ["auto", "direct"])
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("dtype", INT_DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("fname", ["convolve", "correlate"])
def test_integer_wrapping(fname, dtype, mode, method, shapes, rng):
    """Full-range integers overflow: results wrap exactly like scipy's direct method."""
    a = make_array(shapes[0], dtype, rng, small=False)
    b = make_array(shapes[1], dtype, rng, small=False)
    ref, exc = call_ref(lambda: getattr(ss, fname)(a, b, mode, method="direct"))
    ours, ours_exc = call_ours(lambda: getattr(nc(), fname)(a, b, mode, method=method))
    if exc is not None:
        assert ours_exc is not None and isinstance(ours_exc, type(exc)), (exc, ours_exc)
        return
    assert ours_exc is None, ours_exc
    assert_matches_scipy(ours, ref)


@pytest.mark.parametrize("boundary", ["fill", "wrap", "symm"])
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("dtype", INT_DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("fname", ["convolve2d", "correlate2d"])
def test_integer_wrapping_2d(fname, dtype, mode, boundary, rng):
    a = make_array((7, 6), dtype, rng, small=False)
    b = make_array((3, 4), dtype, rng, small=False)
    check_2d(fname, a, b, mode, boundary, 0)


@pytest.mark.parametrize("fname", ["convolve", "correlate", "convolve2d", "correlate2d"])
def test_int8_100_times_2_wraps(fname):
    a = np.full((3, 4), 100, np.int8)
    b = np.full((2, 2), 2, np.int8)
    ref = getattr(ss, fname)(a, b)  # 2-D: scipy's direct path
    assert ref.dtype == np.int8 and ref[1, 1] == np.int8(32)  # 800 mod 256
    ours = getattr(nc(), fname)(a, b)
    assert_matches_scipy(ours, ref)
    ours1 = getattr(nc(), fname)(a[0:1], b[0:1]) if fname.endswith("2d") else \
        getattr(nc(), fname)(a[0], b[0], method="direct")
    ref1 = getattr(ss, fname)(a[0:1], b[0:1]) if fname.endswith("2d") else \
        getattr(ss, fname)(a[0], b[0], method="direct")
    assert_matches_scipy(ours1, ref1)


BIG_INT = [
    (np.int64, (3000,), (300,), 2 ** 40),
    (np.int64, (80, 80), (9, 9), 2 ** 35),
    (np.uint64, (2000,), (129,), 2 ** 62),
    (np.int32, (4000,), (257,), 2 ** 30),
    (np.int16, (3000,), (301,), 2 ** 14),
    (np.uint8, (128, 128), (15, 15), 255),
    (np.int64, (3000,), (300,), 2 ** 20),  # exact in float64 (< 2**52): fft allowed, still exact
]


@pytest.mark.parametrize("fname", ["convolve", "correlate"])
@pytest.mark.parametrize("case", BIG_INT, ids=lambda c: f"{np.dtype(c[0]).name}-{_shape_id(c[1], c[2])}-{c[3]}")
def test_auto_is_exact_for_large_integers(case, fname, rng):
    """method='auto' must never lose integer precision (scipy picks 'direct'
    when float64 cannot hold the result; the cost model must respect that)."""
    dtype, sa, sb, hi = case
    info = np.iinfo(dtype)
    lo = 0 if info.min == 0 else -hi
    a = rng.integers(lo, hi, sa, dtype=dtype, endpoint=True)
    b = rng.integers(lo, hi, sb, dtype=dtype, endpoint=True)
    ref = getattr(ss, fname)(a, b, method="direct")
    ours = getattr(nc(), fname)(a, b)
    assert_matches_scipy(ours, ref)


# --------------------------------------------------------------------------
# 7. non-finite values stay local with method='auto' (like scipy's direct)
# --------------------------------------------------------------------------

def _poison(x, where, values):
    x = x.copy()
    for idx, v in zip(where, values):
        x[idx] = v
    return x


NONFINITE = [
    ("1d-signal", (20000,), (1001,), [(100,), (5000,), (5003,)], [np.nan, np.inf, -np.inf], "a"),
    ("1d-kernel", (20000,), (1001,), [(7,)], [np.nan], "b"),
    ("2d", (96, 96), (11, 11), [(10, 10), (50, 60)], [np.nan, np.inf], "a"),
    # (no N-D kernel case: scipy's N-D direct path multiplies its zero padding
    # by the kernel, so 0 * inf = NaN appears at the edges; 1-D np.convolve does not)
    ("3d", (24, 24, 24), (5, 5, 5), [(3, 4, 5), (20, 20, 20)], [np.nan, -np.inf], "a"),
]


@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.complex128], ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("mode", ["full", "same"])
@pytest.mark.parametrize("case", NONFINITE, ids=[c[0] for c in NONFINITE])
@pytest.mark.parametrize("fname", ["convolve", "correlate"])
def test_nonfinite_stay_local_auto(fname, case, mode, dtype, rng):
    _, sa, sb, where, values, target = case
    if np.dtype(dtype).kind == "c":  # complex inf arithmetic is ill-defined: NaN only
        values = [np.nan] * len(values)
    a = make_array(sa, dtype, rng)
    b = make_array(sb, dtype, rng)
    if target == "a":
        a = _poison(a, where, values)
    else:
        b = _poison(b, where, values)
    ref = getattr(ss, fname)(a, b, mode, method="direct")
    if target == "a":
        assert np.isfinite(ref).sum() > ref.size // 2  # the oracle keeps most outputs finite
    ours = getattr(nc(), fname)(a, b, mode)
    assert_matches_scipy(ours, ref, a, b, equal_nan=True)
    np.testing.assert_array_equal(np.isfinite(ours), np.isfinite(ref))


@pytest.mark.parametrize("boundary", ["fill", "wrap", "symm"])
@pytest.mark.parametrize("fname", ["convolve2d", "correlate2d"])
def test_nonfinite_stay_local_2d(fname, boundary, rng):
    a = _poison(make_array((64, 64), np.float64, rng), [(5, 6), (40, 30)], [np.nan, np.inf])
    b = make_array((15, 15), np.float64, rng)
    check_2d(fname, a, b, "same", boundary, 0, equal_nan=True)
    ours = getattr(nc(), fname)(a, b, "same", boundary)
    ref = getattr(ss, fname)(a, b, "same", boundary)
    np.testing.assert_array_equal(np.isnan(ours), np.isnan(ref))
    np.testing.assert_array_equal(np.isinf(ours), np.isinf(ref))


@pytest.mark.parametrize("bad", [np.nan, np.inf])
@pytest.mark.parametrize("shapes", [((40,), (31,)), ((300,), (31,)), ((5000,), (301,)),
                                    ((20, 40), (3, 31)), ((64, 256), (15, 15)), ((64, 64), (3, 3))],
                         ids=lambda s: "x".join(map(str, s)))
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("fname", ["convolve", "correlate"])
def test_nonfinite_kernel_taps(fname, mode, shapes, bad, rng):
    """A non-finite tap, in the regimes where the direct kernel zero-pads the rows
    (wide kernels, many scalar edges): products with the region outside the
    signal are left out, as SciPy's direct method does, so NaN stays local."""
    sa, sk = shapes
    a = make_array(sa, np.float64, rng)
    k = make_array(sk, np.float64, rng)
    k[(0,) * (k.ndim - 1) + (0,)] = bad
    ref = getattr(ss, fname)(a, k, mode, method="direct")
    for method in ("auto", "direct"):
        ours = getattr(nc(), fname)(a, k, mode, method=method)
        np.testing.assert_array_equal(np.isnan(ours), np.isnan(ref))
        np.testing.assert_array_equal(np.isinf(ours), np.isinf(ref))
        assert_matches_scipy(ours, ref, a, k, equal_nan=True)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("kshape", [(3, 3), (3, 31), (15, 15)], ids=lambda s: "x".join(map(str, s)))
@pytest.mark.parametrize("boundary", ["fill", "wrap", "symm"])
@pytest.mark.parametrize("fname", ["convolve2d", "correlate2d"])
def test_nonfinite_kernel_2d_fill_products(fname, boundary, kshape, bad, rng):
    """SciPy's convolve2d multiplies the fill value too: ``0 * inf`` is NaN at the edges."""
    a = make_array((20, 40), np.float64, rng)
    k = make_array(kshape, np.float64, rng)
    k[kshape[0] // 2, 0] = bad
    for mode in MODES:
        ours = getattr(nc(), fname)(a, k, mode, boundary)
        ref = getattr(ss, fname)(a, k, mode, boundary)
        np.testing.assert_array_equal(np.isnan(ours), np.isnan(ref))
        np.testing.assert_array_equal(np.isinf(ours), np.isinf(ref))
        assert_matches_scipy(ours, ref, a, k, equal_nan=True)


# --------------------------------------------------------------------------
# 8. empty inputs
# --------------------------------------------------------------------------

EMPTY = [((0,), (3,)), ((3,), (0,)), ((0,), (0,)), ((0, 3), (2, 2)), ((3, 0), (2, 2)),
         ((2, 2), (0, 1)), ((0, 0), (0, 0)), ((2, 0, 3), (1, 1, 1))]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("shapes", EMPTY, ids=[_shape_id(*s) for s in EMPTY])
@pytest.mark.parametrize("call", ["convolve-auto", "convolve-direct", "convolve-fft", "correlate-auto",
                                  "correlate-direct", "correlate-fft", "fftconvolve", "oaconvolve",
                                  "convolve2d", "correlate2d"])
def test_empty_inputs(call, shapes, mode):
    a = np.ones(shapes[0])
    b = np.ones(shapes[1])
    fname, _, method = call.partition("-")
    if fname.endswith("2d"):
        # boundary='fill' only: scipy's wrap/symm crash (SIGFPE) on empty inputs
        f_ours = lambda: getattr(nc(), fname)(a, b, mode, "fill", 1.5)  # noqa: E731
        f_ref = lambda: getattr(ss, fname)(a, b, mode, "fill", 1.5)  # noqa: E731
    elif method:
        f_ours = lambda: getattr(nc(), fname)(a, b, mode, method=method)  # noqa: E731
        f_ref = lambda: getattr(ss, fname)(a, b, mode, method=method)  # noqa: E731
    else:
        f_ours = lambda: getattr(nc(), fname)(a, b, mode)  # noqa: E731
        f_ref = lambda: getattr(ss, fname)(a, b, mode)  # noqa: E731
    out = run_both(f_ours, f_ref, context=f"[{call} {shapes} {mode}]")
    if out.ok:
        assert_matches_scipy(out.ours, out.ref)


# --------------------------------------------------------------------------
# 9. workers: 1 and 2 threads agree (and agree with scipy)
# --------------------------------------------------------------------------

WORKER_CALLS = ["convolve-auto", "convolve-direct", "convolve-fft", "convolve-oa", "correlate-auto",
                "fftconvolve", "oaconvolve", "convolve2d", "correlate2d"]


@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.int32, np.complex128],
                         ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("shapes", [((5000,), (33,)), ((96, 80), (7, 6)), ((20, 18, 16), (3, 4, 3))],
                         ids=lambda s: _shape_id(*s))
@pytest.mark.parametrize("call", WORKER_CALLS)
def test_workers_agree(call, shapes, dtype, rng):
    fname, _, method = call.partition("-")
    if fname.endswith("2d") and len(shapes[0]) != 2:
        pytest.skip("2-D functions need 2-D inputs")
    a = make_array(shapes[0], dtype, rng)
    b = make_array(shapes[1], dtype, rng)
    kw = {"method": method} if method else {}
    res = {w: getattr(nc(), fname)(a, b, "same", workers=w, **kw) for w in (1, 2, -1)}
    for w in (2, -1):
        assert_matches_scipy(res[w], res[1], a, b, err_msg=f"workers={w} vs workers=1")
    ref_kw = {"method": "fft"} if method == "oa" else kw
    ref = getattr(ss, fname)(a, b, "same", **ref_kw)
    if np.asarray(ref).dtype.kind in INT_KINDS and fname in ("convolve", "correlate"):
        ref = exact_reference(fname, a, b, "same", "direct", ref)
    assert_matches_scipy(res[1], ref, a, b)
    with nc().set_workers(2):
        inside = getattr(nc(), fname)(a, b, "same", **kw)
    assert_matches_scipy(inside, res[1], a, b)


# --------------------------------------------------------------------------
# 10. choose_conv_method, explain, separable, device
# --------------------------------------------------------------------------

CHOOSE = [((10,), (3,), np.float64), ((10000,), (1000,), np.float64), ((64, 64), (15, 15), np.float32),
          ((5, 5, 5), (3, 3, 3), np.complex128), ((100,), (100,), np.int16), ((7, 7), (3, 3), np.uint8)]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("case", CHOOSE, ids=lambda c: f"{_shape_id(c[0], c[1])}-{np.dtype(c[2]).name}")
def test_choose_conv_method_returns_a_scipy_method(case, mode, rng):
    a = make_array(case[0], case[2], rng)
    b = make_array(case[1], case[2], rng)
    out = run_both(lambda: nc().choose_conv_method(a, b, mode),
                   lambda: ss.choose_conv_method(a, b, mode))
    if out.ok:
        assert type(out.ours) is type(out.ref) is str
        assert out.ours in ("direct", "fft")
        # whatever it chose must be usable by scipy-compatible convolve
        check_conv("convolve", a, b, mode, out.ours)


@pytest.mark.parametrize("case", ["bool", "int64-huge", "uint64-huge", "int32-huge-2d"])
def test_choose_conv_method_forced_direct(case, rng):
    """SciPy's hard rules: bool, and integers whose exact result exceeds 2**52."""
    if case == "bool":
        a, b = rng.random(10000) > 0.5, rng.random(1000) > 0.5
    elif case == "int64-huge":
        a = rng.integers(-2 ** 40, 2 ** 40, 10000)
        b = rng.integers(-2 ** 40, 2 ** 40, 1000)
    elif case == "uint64-huge":
        a = rng.integers(0, 2 ** 63, 10000, dtype=np.uint64)
        b = rng.integers(0, 2 ** 63, 1000, dtype=np.uint64)
    else:
        a = rng.integers(-2 ** 30, 2 ** 30, (200, 200)).astype(np.int32)
        b = rng.integers(-2 ** 30, 2 ** 30, (31, 31)).astype(np.int32)
    assert ss.choose_conv_method(a, b) == "direct"  # the oracle's rule
    assert nc().choose_conv_method(a, b) == "direct"


def test_choose_conv_method_measure(rng):
    a = make_array((50,), np.float64, rng)
    b = make_array((5,), np.float64, rng)
    ref = ss.choose_conv_method(a, b, measure=True)
    ours = nc().choose_conv_method(a, b, measure=True)
    assert isinstance(ours, tuple) and len(ours) == 2
    method, times = ours
    assert method in ("direct", "fft")
    assert set(times) >= set(ref[1])  # at least scipy's keys: 'fft' and 'direct'
    assert all(isinstance(t, float) and t > 0 for t in times.values())
    # scipy's rule: 'fft' if it measured faster than 'direct', else 'direct'
    assert method == ("fft" if times["fft"] < times["direct"] else "direct")


@pytest.mark.parametrize("case", ["float64-2d", "bool-2d", "int64-huge"])
def test_explain_describes_a_backend(case, rng):
    if case == "float64-2d":
        a, b = make_array((32, 32), np.float64, rng), make_array((3, 3), np.float64, rng)
    elif case == "bool-2d":
        a, b = rng.random((32, 32)) > 0.5, rng.random((3, 3)) > 0.5
    else:
        a = rng.integers(-2 ** 40, 2 ** 40, 5000)
        b = rng.integers(-2 ** 40, 2 ** 40, 500)
    a_copy, b_copy = a.copy(), b.copy()
    info = nc().explain(a, b, "same")
    text = str(info)
    assert text.strip(), "explain() must describe something"
    assert any(word in text.lower() for word in ("direct", "fft", "oa", "overlap", "separable"))
    if case != "float64-2d":  # precision/dtype rules force an exact direct method
        assert "direct" in text.lower()
    np.testing.assert_array_equal(a, a_copy)
    np.testing.assert_array_equal(b, b_copy)


def _rank1(shape, dtype, rng):
    vecs = [make_array((n,), dtype, rng) for n in shape]
    k = vecs[0]
    for v in vecs[1:]:
        k = np.multiply.outer(k, v)
    return k


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("shapes", [((20, 30), (5, 4)), ((9, 8, 7), (3, 2, 4)), ((50,), (7,)), ((4, 5), (6, 7))],
                         ids=lambda s: _shape_id(*s))
@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.complex128], ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("fname", ["convolve", "correlate"])
def test_separable_method_rank1_kernel(fname, dtype, shapes, mode, rng):
    """method='separable' with a rank-1 2-D kernel must match scipy; other ranks have no
    separable backend and are rejected with a ValueError that names the method."""
    a = make_array(shapes[0], dtype, rng)
    b = _rank1(shapes[1], dtype, rng)
    if mode == "valid" and a.size < b.size:
        a = _rank1(shapes[0], dtype, rng)  # 'valid' swaps: then in1 is the kernel
    if len(shapes[0]) != 2:
        with pytest.raises(ValueError, match="separable"):
            getattr(numbaconv, fname)(a, b, mode, method="separable")
        return
    check_conv(fname, a, b, mode, "separable")


@pytest.mark.parametrize("tiles", [(5, 30), (8, 70), (64, 300)], ids=lambda t: "band%d-chunk%d" % t)
@pytest.mark.parametrize("kh", [2, 3, 4, 7])
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("prefetch", [False, True], ids=["plain", "prefetch"])
def test_separable_fused_tiles(prefetch, dtype, mode, kh, tiles, rng, monkeypatch):
    """The fused separable kernel on forced tiles: bands that leave 1-3 rows after the
    four-row column steps, column chunks narrower than a quarter block (scalar path),
    of one block step plus an overlapping last one, and of several; kernels of 2 (the
    row-by-row fallback), 3 and more rows.  ``prefetch``: the row pass prefetches
    the row it reads two rows later (large inputs), up to and past the last row."""
    from numbaconv._backends import cpu_separable
    if prefetch:
        monkeypatch.setattr(cpu_separable, "PREFETCH_MIN_BYTES", 0)
    band, chunk = tiles
    monkeypatch.setattr(cpu_separable, "_tiles", lambda *args: (
        band, chunk, cpu_separable._ring_stride(chunk, np.dtype(dtype).itemsize)))
    a = make_array((37, 300), dtype, rng)
    b = _rank1((kh, 5), dtype, rng)
    check_conv("correlate", a, b, mode, "separable")
    check_conv("convolve", a, b, mode, "separable")


@pytest.mark.parametrize("tiles", [(6, 10), (9, 70), (64, 300)], ids=lambda t: "band%d-chunk%d" % t)
@pytest.mark.parametrize("kh", [3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 15, 31])
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=lambda d: np.dtype(d).name)
def test_separable_symmetric_column_factor(dtype, mode, kh, tiles, rng, monkeypatch):
    """Kernels whose column factor is symmetric (every Gaussian) take the folded
    column pass (one multiply-add per pair of taps): odd and even ``kh``, pair
    counts that leave 0-3 steps after the loop unrolled by four, column chunks
    narrower than one pair block (the plain fallback), bands that leave 1-3 rows."""
    from numbaconv._backends import cpu_separable
    band, chunk = tiles
    monkeypatch.setattr(cpu_separable, "_tiles", lambda *args: (
        band, chunk, cpu_separable._ring_stride(chunk, np.dtype(dtype).itemsize)))
    half = make_array((kh + 1) // 2, np.float64, rng) + 2.0
    col = np.concatenate([half, half[::-1][kh % 2:]])            # symmetric, length kh
    b = np.multiply.outer(col, make_array(5, np.float64, rng)).astype(dtype)
    u, _ = _probes.separable_factors(b)
    assert _probes._symmetrised(u)[1]                      # the folded pass runs
    a = make_array((40, 300), dtype, rng)
    check_conv("correlate", a, b, mode, "separable")
    check_conv("convolve", a, b, mode, "separable")


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=lambda d: np.dtype(d).name)
def test_separable_symmetrised_factor(dtype):
    """A factor symmetric to rounding is made exactly symmetric; one that is not
    is left alone."""
    from numbaconv._backends import cpu_separable
    eps = np.finfo(dtype).eps
    g = np.array([1.0, 2.0, 3.5, 2.0, 1.0], dtype)
    near = g.copy()
    near[0] *= 1 + eps
    sym, ok = _probes._symmetrised(near)
    assert ok and sym.dtype == g.dtype
    np.testing.assert_array_equal(sym, sym[::-1])
    np.testing.assert_allclose(sym, g, rtol=2 * eps)
    skew = g.copy()
    skew[0] = 1.01
    same, ok = _probes._symmetrised(skew)
    assert not ok and same is skew


@pytest.mark.parametrize("dtype", [np.float64, np.int32], ids=["float64", "int32"])
@pytest.mark.parametrize("fname", ["convolve", "correlate"])
def test_separable_method_other_kernels(fname, dtype, rng):
    """A kernel that is not rank 1 (or an integer one): either a clear
    ValueError, or the right answer -- never a silently wrong result."""
    a = make_array((12, 13), dtype, rng)
    for b in (make_array((3, 4), dtype, rng), _rank1((3, 4), dtype, rng)):
        ref = getattr(ss, fname)(a, b, "same", method="direct")
        ours, exc = call_ours(lambda: getattr(nc(), fname)(a, b, "same", method="separable"))
        if exc is not None:
            assert isinstance(exc, ValueError), exc
            continue
        assert_matches_scipy(ours, ref, a, b)


@pytest.mark.parametrize("call", ["convolve", "correlate", "fftconvolve", "oaconvolve", "convolve2d",
                                  "correlate2d"])
def test_device_cpu_explicit(call, rng):
    a = make_array((9, 10), np.float64, rng)
    b = make_array((3, 2), np.float64, rng)
    ref = getattr(ss, call)(a, b)
    for device in ("cpu", "auto"):
        ours = getattr(nc(), call)(a, b, device=device)
        assert_matches_scipy(ours, ref, a, b)
