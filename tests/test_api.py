"""The public functions against scipy.signal (the oracle): dtypes, modes, shapes, axes,
layouts, byte orders, integers, non-finite values, empty inputs and errors.

Every test computes the same call with both libraries and compares the
outcome: the same exception type, or the same dtype, shape and values
(integers exactly, floats within the tolerance table
:mod:`numbaconv._tools.tolerance`, per element).  Where SciPy's own result
is inexact (its FFT path for integers rounds through float64) the exact
reference comes from :mod:`naive` or from SciPy's ``method='direct'``.
"""
from __future__ import annotations

import warnings

import numpy as np
import pytest
import scipy.signal as ss

import naive
import numbaconv
from helpers import (DTYPE_PAIR_IDS, DTYPE_PAIRS, DTYPES, METHODS, MODES, assert_matches_scipy,
                     call_ours, call_ref, check_2d, check_call, check_conv, check_fft, make_array,
                     native, run_both, shape_id)


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
SHAPE_IDS = [shape_id(*s) for s in SHAPES]


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
@pytest.mark.parametrize("shapes", SHAPES_2D, ids=[shape_id(*s) for s in SHAPES_2D])
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
@pytest.mark.parametrize("shapes", LARGE, ids=[shape_id(*s) for s in LARGE])
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
AXES_IDS = [f"{shape_id(a, b)}-axes{ax}".replace(" ", "") for a, b, ax in AXES_CASES]


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
    out = run_both(lambda: getattr(numbaconv, fname)(a, b, mode, method=method, axes=axes),
                   lambda: ss.fftconvolve(a, kern, mode, axes=axes),
                   context=f"[{fname} axes={axes} mode={mode}]")
    if out.ok:
        expected = getattr(naive, fname)(a, b, mode, axes=axes)
        assert expected.shape == out.ref.shape  # the oracle agrees with scipy's shape
        if dtype == np.float64:
            np.testing.assert_allclose(expected, out.ref, atol=1e-10 * (1 + np.abs(out.ref).max()))
        assert_matches_scipy(out.ours, expected, a, b, fname, mode, axes=axes, fft=method != "direct")


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


#: (call, rank): the 2-D functions take 2-D inputs only (other ranks: test_same_exception_as_scipy)
LAYOUT_CALLS = [(call, ndim) for call in CALLS for ndim in (1, 2) if CALLS[call][0] != "2d" or ndim == 2]


@pytest.mark.parametrize("which", ["in1", "in2", "both"])
@pytest.mark.parametrize("layout", list(LAYOUTS))
@pytest.mark.parametrize("dtype", [np.float64, np.int32], ids=["float64", "int32"])
@pytest.mark.parametrize("call, ndim", LAYOUT_CALLS, ids=[f"{c}-{n}d" for c, n in LAYOUT_CALLS])
def test_layouts_and_inputs_untouched(call, ndim, dtype, layout, which, rng):
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


BYTE_ORDER_CALLS = ["convolve-auto", "convolve-direct", "convolve-fft", "correlate-auto",
                    "correlate-direct", "correlate-fft", "convolve1d-auto", "convolve1d-fft",
                    "correlate1d-direct", "fftconvolve", "oaconvolve", "convolve2d", "correlate2d",
                    "choose_conv_method", "explain"]


#: (call, size): 'large' is where an FFT method would win, so that the value probes
#: (finite scan, integer bound, rank test) read the arrays
BYTE_ORDER_CASES = [(call, "small") for call in BYTE_ORDER_CALLS] + [
    (call, "large") for call in ("convolve-auto", "correlate-auto", "convolve2d",
                                 "choose_conv_method", "explain")]
BYTE_ORDER_SHAPES = {"small": ((6, 7), (3, 2)), "large": ((128, 128), (40, 40))}


@pytest.mark.parametrize("order", ["<", ">"], ids=["little", "big"])
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("call, size", BYTE_ORDER_CASES, ids=[f"{c}-{s}" for c, s in BYTE_ORDER_CASES])
def test_every_dtype_in_both_byte_orders(call, size, dtype, order, rng):
    """Byte order carries no meaning: every public function gives SciPy's result (or
    SciPy's exception type) for every dtype in either byte order, and never a Numba
    error.  Where SciPy itself cannot take the byte order (its pocketfft rejects
    '>f2') the reference is SciPy on the native-order copies."""
    sa, sb = BYTE_ORDER_SHAPES[size]
    a0 = make_array(sa, dtype, rng)
    b0 = make_array(sb, dtype, rng)
    a, b = a0.astype(a0.dtype.newbyteorder(order)), b0.astype(b0.dtype.newbyteorder(order))
    fname, _, method = call.partition("-")
    if fname.endswith("1d"):
        fname, a, b, a0, b0 = fname[:-2], a[0], b[0], a0[0], b0[0]
    if fname == "choose_conv_method":
        out = run_both(lambda: numbaconv.choose_conv_method(a, b),
                       lambda: ss.choose_conv_method(native(a), native(b)), context=f"[{a.dtype.str}]")
        if out.ok:
            assert out.ours in ("direct", "fft")
            assert out.ours == numbaconv.choose_conv_method(a0, b0)   # as for native order
    elif fname == "explain":
        # no SciPy twin: the same choice as for the native-order arrays, or the same error
        out = run_both(lambda: numbaconv.explain(a, b), lambda: numbaconv.explain(a0, b0),
                       context=f"[{a.dtype.str}]")
        if out.ok:
            assert (out.ours.backend, out.ours.method, out.ours.vetoes) == \
                (out.ref.backend, out.ref.method, out.ref.vetoes)
    else:
        check_call(fname, a, b, "full", method or None)


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
        f_ours = lambda: getattr(numbaconv, fname)(a, b, method=method)  # noqa: E731
        f_ref = lambda: getattr(ss, fname)(a, b, method=method)  # noqa: E731
    else:
        f_ours = lambda: getattr(numbaconv, fname)(a, b)  # noqa: E731
        f_ref = lambda: getattr(ss, fname)(a, b)  # noqa: E731
    out = run_both(f_ours, f_ref, context=f"[{call}]")
    if out.ok:
        assert_matches_scipy(out.ours, out.ref, a, b, fname, "full")


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
    out = run_both(lambda: getattr(numbaconv, fname)(a, b, **kw), lambda: getattr(ss, fname)(a, b, **kw),
                   context=f"[{call}]")
    if out.ok:
        assert_matches_scipy(out.ours, out.ref, a, b, fname, "full")
    assert (a, b) == pair, "input sequences were modified"


# --------------------------------------------------------------------------
# 6. integer exactness and wrapping (must equal SciPy's direct method)
# --------------------------------------------------------------------------

INT_DTYPES = [np.int8, np.uint8, np.int16, np.uint16, np.int32, np.uint32, np.int64, np.uint64]


@pytest.mark.parametrize("shapes", [((20,), (5,)), ((5,), (20,)), ((6, 7), (3, 2)), ((3, 4, 5), (2, 2, 3))],
                         ids=lambda s: shape_id(*s))
@pytest.mark.parametrize("method", ["auto", "direct"])
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("dtype", INT_DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("fname", ["convolve", "correlate"])
def test_integer_wrapping(fname, dtype, mode, method, shapes, rng):
    """Full-range integers overflow: results wrap exactly like scipy's direct method."""
    a = make_array(shapes[0], dtype, rng, small=False)
    b = make_array(shapes[1], dtype, rng, small=False)
    ref, exc = call_ref(lambda: getattr(ss, fname)(a, b, mode, method="direct"))
    ours, ours_exc = call_ours(lambda: getattr(numbaconv, fname)(a, b, mode, method=method))
    if exc is not None:
        assert ours_exc is not None and isinstance(ours_exc, type(exc)), (exc, ours_exc)
        return
    assert ours_exc is None, ours_exc
    assert_matches_scipy(ours, ref, a, b, fname, mode)


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
    ours = getattr(numbaconv, fname)(a, b)
    assert_matches_scipy(ours, ref, a, b, fname)
    ours1 = getattr(numbaconv, fname)(a[0:1], b[0:1]) if fname.endswith("2d") else \
        getattr(numbaconv, fname)(a[0], b[0], method="direct")
    ref1 = getattr(ss, fname)(a[0:1], b[0:1]) if fname.endswith("2d") else \
        getattr(ss, fname)(a[0], b[0], method="direct")
    assert_matches_scipy(ours1, ref1, a[0], b[0], fname)


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
@pytest.mark.parametrize("case", BIG_INT,
                         ids=lambda c: f"{np.dtype(c[0]).name}-{shape_id(c[1], c[2])}-{c[3]}")
def test_auto_is_exact_for_large_integers(case, fname, rng):
    """method='auto' must never lose integer precision (scipy picks 'direct'
    when float64 cannot hold the result; the cost model must respect that)."""
    dtype, sa, sb, hi = case
    info = np.iinfo(dtype)
    lo = 0 if info.min == 0 else -hi
    a = rng.integers(lo, hi, sa, dtype=dtype, endpoint=True)
    b = rng.integers(lo, hi, sb, dtype=dtype, endpoint=True)
    ref = getattr(ss, fname)(a, b, method="direct")
    ours = getattr(numbaconv, fname)(a, b)
    assert_matches_scipy(ours, ref, a, b, fname)


@pytest.mark.parametrize("other", [np.int64, np.int8, np.float64], ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("fname", ["convolve", "correlate", "convolve2d"])
def test_uint64_beyond_int64_with_a_float_result(fname, other):
    """np.result_type(uint64, int64) is float64: values past 2**63 keep their sign."""
    a = np.array([[3, 2 ** 63 + 5, 2 ** 64 - 1]], np.uint64)
    b = np.array([[1, 2]], other)
    kw = {} if fname.endswith("2d") else {"method": "direct"}
    ref = getattr(ss, fname)(a, b, **kw)
    assert ref.dtype == np.float64
    assert_matches_scipy(getattr(numbaconv, fname)(a, b, **kw), ref, a, b, fname, fft=False)


@pytest.mark.parametrize("shapes", [((96, 96), (64, 64)), ((4000,), (1500,))], ids=lambda s: shape_id(*s))
@pytest.mark.parametrize("fname", ["convolve", "correlate"])
def test_auto_wraps_int16_sums_beyond_int32(fname, shapes, rng):
    """Full-range int16 sums are exact in float64 (FFT allowed) but overflow int16: the
    result must wrap exactly like SciPy's direct method."""
    a = make_array(shapes[0], np.int16, rng, small=False)
    b = make_array(shapes[1], np.int16, rng, small=False)
    assert numbaconv.explain(a, b).method in ("fft", "oa")
    np.testing.assert_array_equal(getattr(numbaconv, fname)(a, b),
                                  getattr(ss, fname)(a, b, method="direct"))


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
    ours = getattr(numbaconv, fname)(a, b, mode)
    assert_matches_scipy(ours, ref, a, b, fname, mode, fft=False)   # the veto keeps it direct
    np.testing.assert_array_equal(np.isfinite(ours), np.isfinite(ref))


@pytest.mark.parametrize("boundary", ["fill", "wrap", "symm"])
@pytest.mark.parametrize("fname", ["convolve2d", "correlate2d"])
def test_nonfinite_stay_local_2d(fname, boundary, rng):
    a = _poison(make_array((64, 64), np.float64, rng), [(5, 6), (40, 30)], [np.nan, np.inf])
    b = make_array((15, 15), np.float64, rng)
    check_2d(fname, a, b, "same", boundary, 0)
    ours = getattr(numbaconv, fname)(a, b, "same", boundary)
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
        ours = getattr(numbaconv, fname)(a, k, mode, method=method)
        np.testing.assert_array_equal(np.isnan(ours), np.isnan(ref))
        np.testing.assert_array_equal(np.isinf(ours), np.isinf(ref))
        assert_matches_scipy(ours, ref, a, k, fname, mode, fft=False)


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
        ours = getattr(numbaconv, fname)(a, k, mode, boundary)
        ref = getattr(ss, fname)(a, k, mode, boundary)
        np.testing.assert_array_equal(np.isnan(ours), np.isnan(ref))
        np.testing.assert_array_equal(np.isinf(ours), np.isinf(ref))
        assert_matches_scipy(ours, ref, a, k, fname, mode, boundary=boundary)


# --------------------------------------------------------------------------
# 8. empty inputs
# --------------------------------------------------------------------------

EMPTY = [((0,), (3,)), ((3,), (0,)), ((0,), (0,)), ((0, 3), (2, 2)), ((3, 0), (2, 2)),
         ((2, 2), (0, 1)), ((0, 0), (0, 0)), ((2, 0, 3), (1, 1, 1))]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("shapes", EMPTY, ids=[shape_id(*s) for s in EMPTY])
@pytest.mark.parametrize("call", ["convolve-auto", "convolve-direct", "convolve-fft", "correlate-auto",
                                  "correlate-direct", "correlate-fft", "fftconvolve", "oaconvolve",
                                  "convolve2d", "correlate2d"])
def test_empty_inputs(call, shapes, mode):
    a = np.ones(shapes[0])
    b = np.ones(shapes[1])
    fname, _, method = call.partition("-")
    if fname.endswith("2d"):
        # boundary='fill' only: scipy's wrap/symm crash (SIGFPE) on empty inputs
        f_ours = lambda: getattr(numbaconv, fname)(a, b, mode, "fill", 1.5)  # noqa: E731
        f_ref = lambda: getattr(ss, fname)(a, b, mode, "fill", 1.5)  # noqa: E731
    elif method:
        f_ours = lambda: getattr(numbaconv, fname)(a, b, mode, method=method)  # noqa: E731
        f_ref = lambda: getattr(ss, fname)(a, b, mode, method=method)  # noqa: E731
    else:
        f_ours = lambda: getattr(numbaconv, fname)(a, b, mode)  # noqa: E731
        f_ref = lambda: getattr(ss, fname)(a, b, mode)  # noqa: E731
    out = run_both(f_ours, f_ref, context=f"[{call} {shapes} {mode}]")
    if out.ok:
        assert_matches_scipy(out.ours, out.ref, a, b, fname, mode)


# --------------------------------------------------------------------------
# 9. SciPy's warning when method='fft' meets NaN or inf
# --------------------------------------------------------------------------

FFT_WARNING = "Use of fft convolution on input with NAN or inf"


def _fft_warnings(fn) -> int:
    """How many of SciPy's non-finite FFT warnings ``fn()`` gave."""
    with warnings.catch_warnings(record=True) as seen, np.errstate(all="ignore"):
        warnings.simplefilter("always")
        fn()
    return sum(issubclass(w.category, RuntimeWarning) and FFT_WARNING in str(w.message) for w in seen)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf, None], ids=["nan", "inf", "-inf", "finite"])
@pytest.mark.parametrize("where", ["in1", "in2"])
@pytest.mark.parametrize("shapes", [((50,), (7,)), ((12, 10), (3, 4)), ((5, 6, 4), (2, 3, 2))],
                         ids=lambda s: shape_id(*s))
@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.complex128], ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("method", ["fft", "direct", "auto"])
@pytest.mark.parametrize("fname", ["convolve", "correlate"])
def test_fft_nonfinite_warning_like_scipy(fname, method, dtype, shapes, where, bad, rng):
    """method='fft' on NaN or inf warns as SciPy does (SciPy looks at the first output);
    no warning where SciPy gives none (finite input, method='direct').  With 'auto'
    numbaconv keeps NaN local by the direct method, so it may warn less, never more."""
    a = make_array(shapes[0], dtype, rng)
    b = make_array(shapes[1], dtype, rng)
    if bad is not None:
        x = a if where == "in1" else b
        x[(1,) * x.ndim] = bad
    for mode in MODES:
        ref = _fft_warnings(lambda: getattr(ss, fname)(a, b, mode, method=method))
        for _ in range(2):                 # the second call of a shape is a memoised one
            ours = _fft_warnings(lambda: getattr(numbaconv, fname)(a, b, mode, method=method))
            if method == "auto":
                assert ours <= ref, f"numbaconv warned where SciPy did not [{mode}]"
            else:
                assert ours == ref, f"{ours} warnings where SciPy gave {ref} [{mode}]"


@pytest.mark.parametrize("fname", ["convolve", "correlate"])
def test_fft_nonfinite_warns(fname):
    a = np.array([1.0, np.nan, 3.0, 4.0])
    with pytest.warns(RuntimeWarning, match="Use of fft convolution on input with NAN or inf"):
        ss_out = getattr(ss, fname)(a, np.ones(2), method="fft")
    with pytest.warns(RuntimeWarning, match="Use of fft convolution on input with NAN or inf"):
        out = getattr(numbaconv, fname)(a, np.ones(2), method="fft")
    assert np.isnan(out).all() and np.isnan(ss_out).all()


# --------------------------------------------------------------------------
# 10. choose_conv_method, device
# --------------------------------------------------------------------------

#: where SciPy's choice is not a close call, numbaconv's cost model must agree with it
SCIPY_CLEAR_CHOICES = [
    ((100,), (1,), np.float64, "direct"),
    ((100,), (3,), np.float64, "direct"),
    ((100000,), (2,), np.float32, "direct"),
    ((100000,), (3,), np.complex128, "direct"),
    ((1_000_000,), (10_000,), np.float64, "fft"),
    ((200_000,), (5_000,), np.complex128, "fft"),
    ((20000,), (4001,), np.float64, "fft"),
    ((512, 512), (64, 64), np.float64, "fft"),
]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("case", SCIPY_CLEAR_CHOICES,
                         ids=lambda c: f"{shape_id(c[0], c[1])}-{np.dtype(c[2]).name}-{c[3]}")
def test_choose_conv_method_agrees_where_scipy_is_clear(case, mode):
    sa, sk, dtype, expected = case
    rng = np.random.default_rng(7)
    a, k = make_array(sa, dtype, rng), make_array(sk, dtype, rng)   # (k is not rank 1)
    assert ss.choose_conv_method(a, k, mode) == expected      # the oracle's own answer
    assert numbaconv.choose_conv_method(a, k, mode) == expected


CHOOSE = [((10,), (3,), np.float64), ((10000,), (1000,), np.float64), ((64, 64), (15, 15), np.float32),
          ((5, 5, 5), (3, 3, 3), np.complex128), ((100,), (100,), np.int16), ((7, 7), (3, 3), np.uint8)]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("case", CHOOSE, ids=lambda c: f"{shape_id(c[0], c[1])}-{np.dtype(c[2]).name}")
def test_choose_conv_method_returns_a_scipy_method(case, mode, rng):
    """Close calls may go either way (numbaconv's direct kernels are faster than
    SciPy's): the answer is one of SciPy's words, usable by convolve."""
    a = make_array(case[0], case[2], rng)
    b = make_array(case[1], case[2], rng)
    out = run_both(lambda: numbaconv.choose_conv_method(a, b, mode),
                   lambda: ss.choose_conv_method(a, b, mode))
    if out.ok:
        assert type(out.ours) is type(out.ref) is str
        assert out.ours in ("direct", "fft")
        assert out.ours == numbaconv.explain(a, b, mode).scipy_method
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
        b = rng.integers(-2 ** 30, 2 ** 30, (63, 63)).astype(np.int32)
    assert ss.choose_conv_method(a, b) == "direct"  # the oracle's rule
    assert numbaconv.choose_conv_method(a, b) == "direct"
    # the same shapes with small values: FFT is exact there and the faster
    small = (a != 0).astype(a.dtype) if case != "bool" else a
    if case != "bool":
        assert numbaconv.choose_conv_method(small, (b != 0).astype(b.dtype)) == "fft"


def test_choose_conv_method_measure(rng):
    a = make_array((50,), np.float64, rng)
    b = make_array((5,), np.float64, rng)
    ref = ss.choose_conv_method(a, b, measure=True)
    ours = numbaconv.choose_conv_method(a, b, measure=True)
    assert isinstance(ours, tuple) and len(ours) == 2
    method, times = ours
    assert method in ("direct", "fft")
    assert set(times) >= set(ref[1])  # at least scipy's keys: 'fft' and 'direct'
    assert all(isinstance(t, float) and t > 0 for t in times.values())
    # scipy's rule: 'fft' if it measured faster than 'direct', else 'direct'
    assert method == ("fft" if times["fft"] < times["direct"] else "direct")


@pytest.mark.parametrize("call", ["convolve", "correlate", "fftconvolve", "oaconvolve", "convolve2d",
                                  "correlate2d"])
def test_device_cpu_explicit(call, rng):
    a = make_array((9, 10), np.float64, rng)
    b = make_array((3, 2), np.float64, rng)
    ref = getattr(ss, call)(a, b)
    for device in ("cpu", "auto"):
        ours = getattr(numbaconv, call)(a, b, device=device)
        assert_matches_scipy(ours, ref, a, b, call)



# --------------------------------------------------------------------------
# 11. every error path of scipy.signal raises the same exception type
# --------------------------------------------------------------------------
# Each case is a pair of calls with identical arguments; run_both requires that
# both raise the same exception type (or both succeed, and agree).  Expected
# types are never hard-coded: they come from running SciPy.

A1 = np.arange(1.0, 8.0)
B1 = np.array([1.0, -2.0, 0.5])
A2 = np.arange(20.0).reshape(4, 5)
B2 = np.arange(6.0).reshape(2, 3) - 2
AI = np.arange(20).reshape(4, 5)
A3 = np.ones((3, 4, 5))
TALL, WIDE = np.ones((4, 2)), np.ones((2, 4))
OBJ1 = np.array([1, 2, 3], dtype=object)
OBJ2 = np.ones((3, 3), dtype=object)


def _case(fname, *args, **kwargs):
    return (fname, args, kwargs)


CASES = {
    # -- bad mode --------------------------------------------------------
    "convolve-mode-bad": _case("convolve", A1, B1, "bad"),
    "convolve-mode-int": _case("convolve", A1, B1, 1),
    "convolve-mode-None": _case("convolve", A1, B1, None),
    "convolve-mode-bad-fft": _case("convolve", A1, B1, "bad", method="fft"),
    "convolve-mode-bad-2d-direct": _case("convolve", A2, B2, "bad", method="direct"),
    "convolve-mode-upper": _case("convolve", A1, B1, "FULL"),
    "correlate-mode-bad": _case("correlate", A1, B1, "bad"),
    "correlate-mode-int": _case("correlate", A1, B1, 2),
    "correlate-mode-bad-fft": _case("correlate", A1, B1, "bad", method="fft"),
    "fftconvolve-mode-bad": _case("fftconvolve", A1, B1, "bad"),
    "oaconvolve-mode-bad": _case("oaconvolve", A2, B2, "bad"),
    "convolve2d-mode-bad": _case("convolve2d", A2, B2, "bad"),
    "convolve2d-mode-int": _case("convolve2d", A2, B2, 2),
    "correlate2d-mode-int0": _case("correlate2d", A2, B2, 0),
    "choose-mode-bad": _case("choose_conv_method", A1, B1, "bad"),
    # -- bad method ------------------------------------------------------
    "convolve-method-bad": _case("convolve", A1, B1, method="bad"),
    "convolve-method-None": _case("convolve", A1, B1, method=None),
    "convolve-method-upper": _case("convolve", A1, B1, method="FFT"),
    "correlate-method-bad": _case("correlate", A1, B1, method="bad"),
    "correlate-method-bad-2d": _case("correlate", A2, B2, method="bad"),
    # -- bad boundary / fillvalue ----------------------------------------
    "convolve2d-boundary-bad": _case("convolve2d", A2, B2, boundary="bad"),
    "convolve2d-boundary-None": _case("convolve2d", A2, B2, boundary=None),
    "convolve2d-boundary-int": _case("convolve2d", A2, B2, boundary=1),
    "correlate2d-boundary-bad": _case("correlate2d", A2, B2, boundary="reflect"),
    "convolve2d-fill-list2": _case("convolve2d", A2, B2, fillvalue=[1, 2]),
    "convolve2d-fill-2d": _case("convolve2d", A2, B2, fillvalue=np.ones((2, 2))),
    "convolve2d-fill-list1": _case("convolve2d", A2, B2, fillvalue=[1]),
    "convolve2d-fill-str": _case("convolve2d", A2, B2, fillvalue="abc"),
    "convolve2d-fill-None": _case("convolve2d", A2, B2, fillvalue=None),
    "convolve2d-fill-None-int": _case("convolve2d", AI, AI, fillvalue=None),
    "convolve2d-fill-complex-real": _case("convolve2d", A2, B2, fillvalue=1j),
    "convolve2d-fill-float-int": _case("convolve2d", AI, AI, fillvalue=1.5),
    "convolve2d-fill-nan-int": _case("convolve2d", AI, AI, fillvalue=np.nan),
    "convolve2d-fill-big-int8": _case("convolve2d", AI.astype(np.int8), AI.astype(np.int8), fillvalue=1000),
    "convolve2d-fill-neg-uint8": _case("convolve2d", AI.astype(np.uint8), AI.astype(np.uint8), fillvalue=-1),
    "convolve2d-fill-complex-complex": _case("convolve2d", A2 + 0j, B2, fillvalue=1j),
    "convolve2d-fill-0d-array": _case("convolve2d", A2, B2, fillvalue=np.array(2.0)),
    "convolve2d-fill-list2-wrap": _case("convolve2d", A2, B2, boundary="wrap", fillvalue=[1, 2]),
    "correlate2d-fill-list2": _case("correlate2d", A2, B2, fillvalue=[1, 2]),
    "correlate2d-fill-complex-real": _case("correlate2d", A2, B2, fillvalue=2 + 1j),
    # -- dimensionality --------------------------------------------------
    "convolve-ndim-mismatch": _case("convolve", A2, A1),
    "convolve-ndim-mismatch-0d": _case("convolve", np.array(1.0), A1),
    "correlate-ndim-mismatch": _case("correlate", A2, A1),
    "correlate-ndim-mismatch-direct": _case("correlate", A2, A1, method="direct"),
    "fftconvolve-ndim-mismatch": _case("fftconvolve", A2, A1),
    "oaconvolve-ndim-mismatch": _case("oaconvolve", A2, A1),
    "choose-ndim-mismatch": _case("choose_conv_method", A2, A1),
    "convolve2d-1d": _case("convolve2d", A1, B1),
    "convolve2d-3d": _case("convolve2d", A3, A3),
    "convolve2d-0d": _case("convolve2d", 1.0, 2.0),
    "convolve2d-2d-1d": _case("convolve2d", A2, B1),
    "correlate2d-1d": _case("correlate2d", A1, B1),
    "correlate2d-3d": _case("correlate2d", A3, A3),
    # -- 'valid' with incompatible shapes --------------------------------
    "convolve-valid-incompatible": _case("convolve", TALL, WIDE, "valid"),
    "convolve-valid-incompatible-fft": _case("convolve", TALL, WIDE, "valid", method="fft"),
    "convolve-valid-incompatible-direct": _case("convolve", TALL, WIDE, "valid", method="direct"),
    "correlate-valid-incompatible": _case("correlate", TALL, WIDE, "valid"),
    "correlate-valid-incompatible-direct": _case("correlate", TALL, WIDE, "valid", method="direct"),
    "fftconvolve-valid-incompatible": _case("fftconvolve", TALL, WIDE, "valid"),
    "oaconvolve-valid-incompatible": _case("oaconvolve", TALL, WIDE, "valid"),
    "convolve2d-valid-incompatible": _case("convolve2d", TALL, WIDE, "valid"),
    "correlate2d-valid-incompatible": _case("correlate2d", TALL, WIDE, "valid"),
    "convolve-valid-incompatible-3d": _case("convolve", np.ones((3, 4, 5)), np.ones((4, 3, 5)), "valid"),
    # -- fftconvolve / oaconvolve axes -----------------------------------
    "fftconvolve-axes-out-of-range": _case("fftconvolve", A2, B2, axes=2),
    "fftconvolve-axes-negative-out-of-range": _case("fftconvolve", A2, B2, axes=-3),
    "fftconvolve-axes-duplicate": _case("fftconvolve", A2, B2, axes=[0, 0]),
    "fftconvolve-axes-duplicate-negative": _case("fftconvolve", A2, B2, axes=[1, -1]),
    "fftconvolve-axes-empty": _case("fftconvolve", A2, B2, axes=[]),
    "fftconvolve-axes-empty-tuple": _case("fftconvolve", A2, B2, axes=()),
    "fftconvolve-axes-float": _case("fftconvolve", A2, B2, axes=1.5),
    "fftconvolve-axes-float-list": _case("fftconvolve", A2, B2, axes=[1.0]),
    "fftconvolve-axes-str": _case("fftconvolve", A2, B2, axes="a"),
    "fftconvolve-axes-nested": _case("fftconvolve", A2, B2, axes=[[0]]),
    "fftconvolve-axes-incompatible": _case("fftconvolve", A2, B2, axes=0),
    "fftconvolve-axes-incompatible-neg": _case("fftconvolve", A2, B2, axes=-1),
    "fftconvolve-axes-broadcast-ok": _case("fftconvolve", A2, np.ones((1, 3)), axes=1),
    "fftconvolve-axes-np-int": _case("fftconvolve", A2, np.ones((4, 3)), axes=np.int64(1)),
    "fftconvolve-axes-array": _case("fftconvolve", A2, np.ones((4, 3)), axes=np.array([1])),
    "oaconvolve-axes-out-of-range": _case("oaconvolve", A2, B2, axes=2),
    "oaconvolve-axes-duplicate": _case("oaconvolve", A2, B2, axes=[0, 0]),
    "oaconvolve-axes-empty": _case("oaconvolve", A2, B2, axes=[]),
    "oaconvolve-axes-float": _case("oaconvolve", A2, B2, axes=1.5),
    "oaconvolve-axes-incompatible": _case("oaconvolve", A2, B2, axes=0),
    "oaconvolve-axes-incompatible-3d": _case("oaconvolve", A3, np.ones((2, 3, 5)), axes=[1]),
    # -- unsupported dtypes (scipy's C paths) ----------------------------
    "convolve2d-bool": _case("convolve2d", A2 > 5, B2 > 0),
    "convolve2d-float16": _case("convolve2d", A2.astype(np.float16), B2.astype(np.float16)),
    "convolve2d-object": _case("convolve2d", OBJ2, OBJ2),
    "correlate2d-bool": _case("correlate2d", A2 > 5, B2 > 0),
    "correlate2d-float16": _case("correlate2d", A2.astype(np.float16), B2.astype(np.float16)),
    "convolve-2d-direct-bool": _case("convolve", A2 > 5, B2 > 0, method="direct"),
    "convolve-2d-direct-float16": _case("convolve", A2.astype(np.float16), B2.astype(np.float16),
                                        method="direct"),
    "convolve-3d-direct-float16": _case("convolve", A3.astype(np.float16), A3.astype(np.float16),
                                        method="direct"),
    "correlate-2d-direct-bool": _case("correlate", A2 > 5, B2 > 0, method="direct"),
    "convolve-2d-direct-object": _case("convolve", OBJ2, OBJ2, method="direct"),
    "convolve-1d-object": _case("convolve", OBJ1, OBJ1),
    "convolve-1d-object-fft": _case("convolve", OBJ1, OBJ1, method="fft"),
    "fftconvolve-object": _case("fftconvolve", OBJ1, OBJ1),
    "convolve-str": _case("convolve", np.array(["a", "b"]), np.array(["a"])),
    "convolve-datetime": _case("convolve", np.ones(3, "M8[s]"), np.ones(3, "M8[s]")),
    "convolve-ragged": _case("convolve", [[1, 2], [3]], [1]),
    # -- choose_conv_method quirks (scipy checks neither shapes nor emptiness) --
    "choose-valid-incompatible": _case("choose_conv_method", TALL, WIDE, "valid"),
    "choose-empty-int": _case("choose_conv_method", np.array([], np.int8), np.array([], np.int8)),
    "choose-empty-float": _case("choose_conv_method", np.array([]), B1),
    # -- empty inputs ----------------------------------------------------
    "convolve-empty": _case("convolve", np.array([]), B1),
    "convolve-empty-kernel": _case("convolve", A1, np.array([])),
    "convolve-empty-fft": _case("convolve", np.array([]), B1, method="fft"),
    "convolve-empty-same": _case("convolve", np.array([]), B1, "same"),
    "correlate-empty-direct": _case("correlate", np.array([]), B1, method="direct"),
    "correlate-empty-kernel-fft": _case("correlate", A1, np.array([]), method="fft"),
    "fftconvolve-empty": _case("fftconvolve", np.array([]), B1),
    "oaconvolve-empty": _case("oaconvolve", np.ones((0, 3)), np.ones((2, 2))),
    "convolve2d-empty-fill": _case("convolve2d", np.ones((0, 3)), np.ones((2, 2)), fillvalue=5),
    "correlate2d-empty-kernel": _case("correlate2d", np.ones((2, 2)), np.ones((0, 1))),
}


@pytest.mark.parametrize("case", list(CASES))
def test_same_exception_as_scipy(case):
    fname, args, kwargs = CASES[case]
    out = run_both(lambda: getattr(numbaconv, fname)(*args, **kwargs),
                   lambda: getattr(ss, fname)(*args, **kwargs), context=f"[{case}]")
    if out.ok:
        if fname == "choose_conv_method":
            assert out.ours in ("direct", "fft")
        else:
            a, b = args[:2]
            mode = args[2] if len(args) > 2 else kwargs.get("mode", "full")
            assert_matches_scipy(out.ours, out.ref, a, b, fname, mode, axes=kwargs.get("axes"),
                                 boundary=kwargs.get("boundary", "fill"),
                                 fillvalue=kwargs.get("fillvalue", 0), err_msg=f"[{case}]")


def test_scipy_really_raises_for_the_documented_quirks():
    """Guard the oracle: if SciPy stops raising, the cases above change meaning."""
    with pytest.raises(ValueError):
        ss.convolve2d(A2 > 5, B2 > 0)
    with pytest.raises(ValueError):
        ss.convolve(A2 > 5, B2 > 0, method="direct")
    with pytest.raises(IndexError):
        ss.convolve(np.array([]), B1, method="fft")
    assert ss.fftconvolve(np.array([]), B1).shape == (0,)
