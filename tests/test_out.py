"""``out=``: every public array function writes its result into the caller's array.

The rules are NumPy's for a ufunc's ``out=``: exactly the result's shape
(``ValueError``) and dtype (``TypeError``: the dtype SciPy returns, taken
here from SciPy's own result), writeable (``ValueError``), and, as the
design asks, no memory shared with an input (``ValueError``).  The result
must equal SciPy's (or the loop references of ``test_nn.py``), ``out``
itself is returned, strided views are written correctly, the inputs are
never changed, and an ``out`` that is rejected is left untouched.
"""
from __future__ import annotations

import tracemalloc

import numpy as np
import pytest
import scipy.signal as ss
from hypothesis import given, settings
from hypothesis import strategies as st

import helpers
import numbaconv
import numbaconv.nn as nn
from numbaconv._backends import cpu_direct
from test_nn import ref_conv, ref_conv_transpose

FUNCTIONS = ["convolve", "correlate", "fftconvolve", "oaconvolve", "convolve2d", "correlate2d"]
#: dtype classes: float32, float64, complex, int, bool, mixed
DTYPES = [(np.float32, np.float32), (np.float64, np.float64), (np.complex128, np.complex128),
          (np.int16, np.int16), (np.bool_, np.bool_), (np.int8, np.float32),
          (np.uint8, np.int8), (np.float16, np.float16)]
SENTINEL = 77


def _inputs(fname, dtypes, rng, shape_a=None, shape_k=None):
    two_d = helpers.FAMILIES[fname] == "2d"
    shape_a = shape_a or ((7, 6) if two_d else (20,))
    shape_k = shape_k or ((3, 2) if two_d else (4,))
    return (helpers.make_array(shape_a, dtypes[0], rng),
            helpers.make_array(shape_k, dtypes[1], rng))


def _call(fname, a, b, mode, **kw):
    return getattr(numbaconv, fname)(a, b, mode, **kw)


def _scipy(fname, a, b, mode):
    return helpers.call_ref(lambda: getattr(ss, fname)(a, b, mode))


def _fill(shape, dtype):
    out = np.empty(shape, dtype)
    out[...] = SENTINEL if np.dtype(dtype).kind != "b" else True
    return out


def _expected(fname, a, b, mode, ref):
    """SciPy's result, or for integers the exact (wrapped) sum SciPy's direct method gives."""
    if fname in ("convolve", "correlate") and ref.dtype.kind in helpers.INT_KINDS:
        return helpers.exact_reference(fname, a, b, mode, "auto", ref)
    return ref


# ---------------------------------------------------------------- results


@pytest.mark.parametrize("mode", helpers.MODES)
@pytest.mark.parametrize("dtypes", DTYPES, ids=helpers.dtype_id)
@pytest.mark.parametrize("fname", FUNCTIONS)
def test_result_is_written_into_out(fname, dtypes, mode):
    """Each function and dtype class: SciPy's result, written into out, out returned."""
    rng = np.random.default_rng(1)
    a, b = _inputs(fname, dtypes, rng)
    ref, exc = _scipy(fname, a, b, mode)
    if exc is not None:             # SciPy rejects these inputs: so does numbaconv, out or not
        with pytest.raises(type(exc)):
            _call(fname, a, b, mode, out=np.empty(1))
        return
    a0, b0 = a.copy(), b.copy()
    for attempt in range(2):        # the second call of the same shapes replays a memoised plan
        out = _fill(ref.shape, ref.dtype)
        got = _call(fname, a, b, mode, out=out)
        assert got is out, f"call {attempt}"
        helpers.assert_matches_scipy(out, _expected(fname, a, b, mode, ref), a, b, fname, mode,
                                     err_msg=f"call {attempt}")
    np.testing.assert_array_equal(a, a0)
    np.testing.assert_array_equal(b, b0)


@pytest.mark.parametrize("method", ["direct", "fft", "oa"])
@pytest.mark.parametrize("fname", ["convolve", "correlate"])
def test_every_method_writes_out(fname, method):
    """Every method of convolve/correlate, in every mode."""
    rng = np.random.default_rng(2)
    a, b = (rng.standard_normal((9, 8)), rng.standard_normal((3, 4)))
    for mode in helpers.MODES:
        ref = getattr(ss, fname)(a, b, mode)
        out = _fill(ref.shape, ref.dtype)
        assert getattr(numbaconv, fname)(a, b, mode, method=method, out=out) is out
        helpers.assert_matches_scipy(out, ref, a, b, fname, mode)


@pytest.mark.parametrize("boundary", ["fill", "wrap", "symm"])
@pytest.mark.parametrize("fname", ["convolve2d", "correlate2d"])
def test_2d_boundaries_and_the_valid_swap(fname, boundary):
    """convolve2d/correlate2d boundaries, and 'valid' with the inputs swapped."""
    rng = np.random.default_rng(3)
    for sa, sb in (((6, 7), (3, 2)), ((2, 3), (4, 5))):     # the second swaps in 'valid'
        a, b = rng.standard_normal(sa), rng.standard_normal(sb)
        for mode in helpers.MODES:
            ref, exc = helpers.call_ref(lambda: getattr(ss, fname)(a, b, mode, boundary, 1.5))
            if exc is not None:
                continue
            out = _fill(ref.shape, ref.dtype)
            got = getattr(numbaconv, fname)(a, b, mode, boundary, 1.5, out=out)
            assert got is out
            helpers.assert_matches_scipy(out, ref, a, b, fname, mode, boundary=boundary,
                                         fillvalue=1.5)


@pytest.mark.parametrize("fname", FUNCTIONS)
def test_strided_out_is_written_and_nothing_beside_it(fname):
    """A reversed, strided view is filled; the elements between are not touched."""
    rng = np.random.default_rng(4)
    a, b = _inputs(fname, (np.float64, np.float64), rng)
    ref = getattr(ss, fname)(a, b, "full")
    for _ in range(2):
        base = np.full(ref.shape + (3,), -1.0)
        view = base[..., 1][::-1]                      # negative and non-unit strides
        got = _call(fname, a, b, "full", out=view)
        assert got is view
        helpers.assert_matches_scipy(view, ref, a, b, fname, "full")
        assert np.all(base[..., 0] == -1) and np.all(base[..., 2] == -1)


def test_fft_functions_with_axes_and_convolve_with_axes():
    """axes= with out=, for the FFT functions and for convolve (exact integers)."""
    rng = np.random.default_rng(5)
    a, b = rng.standard_normal((4, 30)), rng.standard_normal((1, 5))
    for fname in ("fftconvolve", "oaconvolve"):
        ref = getattr(ss, fname)(a, b, "same", axes=1)
        out = _fill(ref.shape, ref.dtype)
        assert getattr(numbaconv, fname)(a, b, "same", axes=1, out=out) is out
        helpers.assert_matches_scipy(out, ref, a, b, fname, "same", axes=1)
    ia, ib = rng.integers(-3, 4, (4, 30)), rng.integers(-3, 4, (1, 5))
    out = np.empty((4, 34), np.int64)
    assert numbaconv.convolve(ia, ib, axes=1, out=out) is out
    np.testing.assert_array_equal(out, np.stack([np.convolve(r, ib[0]) for r in ia]))


def test_zero_d_and_empty_inputs():
    """Two 0-d inputs and an empty one (answers SciPy gives without a kernel)."""
    out = np.empty((), np.int64)
    assert numbaconv.convolve(np.array(3), np.array(4), out=out) is out
    assert out == 12
    ref = ss.fftconvolve(np.ones(0), np.ones(3))
    out = np.empty(ref.shape, ref.dtype)
    assert numbaconv.fftconvolve(np.ones(0), np.ones(3), out=out) is out


def test_out_dtype_follows_scipy_for_every_pair():
    """The dtype out must have is the one SciPy returns: mixed, integer, bool, float16."""
    rng = np.random.default_rng(6)
    for d1, d2 in helpers.MIXED + [(np.float16, np.float16), (np.int32, np.int32)]:
        if np.dtype(d1) == np.longdouble or np.dtype(d2) == np.longdouble:
            continue
        a, b = helpers.make_array((12,), d1, rng), helpers.make_array((3,), d2, rng)
        for fname in ("convolve", "fftconvolve"):
            ref = getattr(ss, fname)(a, b)
            out = np.empty(ref.shape, ref.dtype)
            assert _call(fname, a, b, "full", out=out) is out
            others = {np.dtype(t) for t in (np.float32, np.float64, np.int64, np.complex128)}
            wrong = next(iter(others - {ref.dtype}))
            with pytest.raises(TypeError, match=str(ref.dtype)):
                _call(fname, a, b, "full", out=np.empty(ref.shape, wrong))


@settings(max_examples=40, deadline=None)
@given(n=st.integers(1, 40), m=st.integers(1, 12), mode=st.sampled_from(helpers.MODES),
       op=st.sampled_from(["convolve", "correlate"]),
       dtype=st.sampled_from([np.float32, np.float64, np.int64, np.complex64]),
       step=st.sampled_from([1, 2, -1]), seed=st.integers(0, 2 ** 16))
def test_sweep_1d_against_scipy(n, m, mode, op, dtype, step, seed):
    """Random 1-D shapes, modes and dtypes, contiguous and strided out."""
    rng = np.random.default_rng(seed)
    a, b = helpers.make_array((n,), dtype, rng), helpers.make_array((m,), dtype, rng)
    ref, exc = helpers.call_ref(lambda: getattr(ss, op)(a, b, mode, method="direct"))
    if exc is not None:
        return
    base = _fill((ref.size * abs(step),), ref.dtype)
    out = base[::step]
    assert getattr(numbaconv, op)(a, b, mode, method="direct", out=out) is out
    helpers.assert_matches_scipy(out, _expected(op, a, b, mode, ref), a, b, op, mode, fft=False)


# ---------------------------------------------------------------- in place


def test_the_direct_kernel_writes_a_contiguous_out_itself(monkeypatch):
    """No result array is allocated: the kernel's destination is the caller's array."""
    seen = []
    original = cpu_direct.destination

    def spy(out, shape, dtype):
        res = original(out, shape, dtype)
        seen.append(res is out)
        return res

    monkeypatch.setattr(cpu_direct, "destination", spy)
    rng = np.random.default_rng(7)
    for dtype in (np.float32, np.float64, np.int64, np.complex128):
        a, b = helpers.make_array((300,), dtype, rng), helpers.make_array((31,), dtype, rng)
        ref = ss.convolve(a, b, method="direct")
        for _ in range(2):                          # full path, then the memoised plan
            seen.clear()
            out = _fill(ref.shape, ref.dtype)
            assert numbaconv.convolve(a, b, method="direct", out=out) is out
            assert seen == [True], dtype
            helpers.assert_matches_scipy(out, _expected("convolve", a, b, "full", ref), a, b)
    # int8 is summed in int64 and cast after: the kernel writes its own array
    a8 = np.arange(10, dtype=np.int8)
    seen.clear()
    out = np.empty(12, np.int8)
    numbaconv.convolve(a8, a8[:3], method="direct", out=out)
    assert seen == [False]
    np.testing.assert_array_equal(out, ss.convolve(a8, a8[:3], method="direct"))


def test_no_result_sized_allocation_with_out():
    """Traced allocations stay far below the result's size: nothing result-sized is made."""
    a = np.random.default_rng(8).standard_normal(400_000)
    b = np.ones(31)
    out = np.empty(a.size + b.size - 1)
    numbaconv.convolve(a, b, method="direct", out=out)          # compile, memoise the plan
    tracemalloc.start()
    try:
        numbaconv.convolve(a, b, method="direct", out=out)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < out.nbytes // 4, f"{peak} bytes allocated for a {out.nbytes}-byte result"
    np.testing.assert_allclose(out, np.convolve(a, b), rtol=1e-12, atol=1e-12)


# ---------------------------------------------------------------- rejected out


def _bad_outs(shape, dtype):
    """Return ``(description, out, exception type, message fragment)`` for one result."""
    dtype = np.dtype(dtype)
    other = np.dtype(np.float32 if dtype != np.float32 else np.float64)
    ro = np.zeros(shape, dtype)
    ro.flags.writeable = False
    bigger = tuple(s + 1 for s in shape)
    return [("shape", np.zeros(bigger, dtype), ValueError, "shape"),
            ("rank", np.zeros(shape + (1,), dtype), ValueError, "shape"),
            ("dtype", np.zeros(shape, other), TypeError, f"dtype {dtype}"),
            ("byte order", np.zeros(shape, dtype.newbyteorder()), TypeError, f"dtype {dtype}"),
            ("read-only", ro, ValueError, "read-only"),
            ("list", np.zeros(shape, dtype).tolist(), TypeError, "NumPy array")]


@pytest.mark.parametrize("fname", FUNCTIONS)
def test_an_unfit_out_is_rejected_and_left_alone(fname):
    """Wrong shape, rank, dtype, byte order, read-only or a list: NumPy's errors."""
    rng = np.random.default_rng(9)
    a, b = _inputs(fname, (np.float64, np.float64), rng)
    ref = getattr(ss, fname)(a, b, "same")
    _call(fname, a, b, "same")                  # a memoised plan checks out= too
    for what, out, error, fragment in _bad_outs(ref.shape, ref.dtype):
        before = np.array(out, copy=True)
        with pytest.raises(error, match=fragment):
            _call(fname, a, b, "same", out=out)
        np.testing.assert_array_equal(np.asarray(out), before, err_msg=what)


@pytest.mark.parametrize("fname", FUNCTIONS)
def test_out_sharing_memory_with_an_input_is_rejected(fname):
    """An out overlapping in1 or in2 is a ValueError, and nothing is written."""
    rng = np.random.default_rng(10)
    two_d = helpers.FAMILIES[fname] == "2d"
    buf = rng.standard_normal((12, 12) if two_d else (60,))
    a = buf[:7, :6] if two_d else buf[:20]
    b = rng.standard_normal((3, 2) if two_d else (4,))
    ref = getattr(ss, fname)(a, b, "full")
    out = buf[2:2 + ref.shape[0], 3:3 + ref.shape[1]] if two_d else buf[10:10 + ref.size]
    before = buf.copy()
    with pytest.raises(ValueError, match="separate array"):
        _call(fname, a, b, "full", out=out)
    np.testing.assert_array_equal(buf, before)
    k = a.copy()
    with pytest.raises(ValueError, match="in2"):                # the kernel too
        _call(fname, a, k, "same", out=k)


def test_interleaved_views_of_one_buffer_do_not_overlap():
    """Bounds that overlap without a shared element: the exact test accepts them."""
    buf = np.arange(40.0)
    a, out = buf[0::2], buf[1::2]
    ref = ss.convolve(a, np.ones(3), "same")
    assert numbaconv.convolve(a, np.ones(3), "same", out=out) is out
    np.testing.assert_allclose(out, ref)
    np.testing.assert_array_equal(buf[0::2], np.arange(0.0, 40.0, 2))


# ---------------------------------------------------------------- numbaconv.nn


def _nn_case(n, dtype, rng, groups=1):
    x = rng.standard_normal((2, 4) + ((7,) * n if n < 3 else (4,) * n)).astype(dtype)
    w = rng.standard_normal((6, 4 // groups) + (3,) * n).astype(dtype)
    bias = rng.standard_normal(6).astype(dtype)
    return x, w, bias


def _scale(x, w, bias, **kw):
    """Return the sum of |x||w| behind each output (the loop reference on absolute values)."""
    return ref_conv(np.abs(x).astype(np.float64), np.abs(w).astype(np.float64),
                    np.abs(bias).astype(np.float64), **kw)


def _assert_close(got, want, scale, dtype):
    rtol = {np.dtype(np.float16): 2e-3, np.dtype(np.float32): 1e-5,
            np.dtype(np.float64): 1e-12}[np.dtype(dtype)]
    assert got.dtype == dtype and got.shape == want.shape
    err = np.abs(got.astype(np.float64) - want)
    assert np.all(err <= rtol * (scale + 1.0)), f"max error {err.max()}"


FORWARD = {1: nn.conv1d, 2: nn.conv2d, 3: nn.conv3d}


@pytest.mark.parametrize("method", ["auto", "direct", "gemm", "fft"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.float16])
@pytest.mark.parametrize("n", [1, 2, 3])
def test_nn_forward_writes_out(n, dtype, method):
    """conv1d/2d/3d with every method and dtype, into C, Fortran and strided outs."""
    rng = np.random.default_rng(11)
    x, w, bias = _nn_case(n, dtype, rng)
    kw = dict(stride=(1,) * n, pairs=((1, 1),) * n, dilation=(1,) * n, groups=1)
    want = ref_conv(x.astype(np.float64), w.astype(np.float64), bias.astype(np.float64), **kw)
    scale = _scale(x, w, bias, **kw)
    x0, w0 = x.copy(), w.copy()
    for out in (np.full(want.shape, 9, dtype), np.asfortranarray(np.full(want.shape, 9, dtype)),
                np.full(want.shape + (2,), 9, dtype)[..., 0]):
        got = FORWARD[n](x, w, bias, padding=1, method=method, out=out)
        assert got is out
        _assert_close(out, want, scale, dtype)
    np.testing.assert_array_equal(x, x0)
    np.testing.assert_array_equal(w, w0)


def test_nn_unbatched_depthwise_and_strided_layers():
    """Depthwise layers, strided, and an unbatched input's out."""
    rng = np.random.default_rng(12)
    x, w, bias = _nn_case(2, np.float32, rng, groups=4)
    w = rng.standard_normal((4, 1, 3, 3)).astype(np.float32)
    bias = bias[:4]
    for kwargs in (dict(groups=4), dict(groups=4, stride=2, padding=1)):
        st_ = kwargs.get("stride", 1)
        pad = kwargs.get("padding", 0)
        want = ref_conv(x.astype(np.float64), w.astype(np.float64), bias.astype(np.float64),
                        (st_, st_), ((pad, pad),) * 2, (1, 1), 4)
        scale = ref_conv(np.abs(x).astype(np.float64), np.abs(w).astype(np.float64),
                         np.abs(bias).astype(np.float64), (st_, st_), ((pad, pad),) * 2,
                         (1, 1), 4)
        out = np.empty(want.shape, np.float32)
        assert nn.conv2d(x, w, bias, method="direct", out=out, **kwargs) is out
        _assert_close(out, want, scale, np.float32)
        single = np.empty(want.shape[1:], np.float32)             # unbatched input
        assert nn.conv2d(x[1], w, bias, out=single, **kwargs) is single
        _assert_close(single, want[1], scale[1], np.float32)


@pytest.mark.parametrize("n", [1, 2])
def test_nn_transposed_and_gradients_write_out(n):
    """conv_transpose and the input and weight gradients against loop references."""
    rng = np.random.default_rng(13)
    x = rng.standard_normal((2, 4) + (5,) * n)
    w = rng.standard_normal((4, 3) + (3,) * n)
    bias = rng.standard_normal(3)
    transposed = {1: nn.conv_transpose1d, 2: nn.conv_transpose2d}[n]
    want = ref_conv_transpose(x, w, bias, (2,) * n, (1,) * n, (1,) * n, (1,) * n, 1)
    for method in ("direct", "gemm", "fft"):
        out = np.full(want.shape, 5.0)
        assert transposed(x, w, bias, stride=2, padding=1, output_padding=1, method=method,
                          out=out) is out
        np.testing.assert_allclose(out, want, rtol=1e-10, atol=1e-10)
    # the input gradient of a stride-1 convolution is the transposed convolution of grad_output
    wf = rng.standard_normal((6, 4) + (3,) * n)
    g = rng.standard_normal((2, 6) + (5,) * n)
    grad_input = {1: nn.conv1d_input, 2: nn.conv2d_input}[n]
    want = ref_conv_transpose(g, wf, None, (1,) * n, (1,) * n, (0,) * n, (1,) * n, 1)
    out = np.full(want.shape, 5.0)
    assert grad_input(want.shape, wf, g, padding=1, out=out) is out
    np.testing.assert_allclose(out, want, rtol=1e-10, atol=1e-10)
    # the weight gradient, summed by loops: dW[o, c, t] = sum g[n, o, p] * xpad[n, c, p + t]
    grad_weight = {1: nn.conv1d_weight, 2: nn.conv2d_weight}[n]
    xpad = np.pad(x, ((0, 0), (0, 0)) + ((1, 1),) * n)
    want = np.zeros(wf.shape)
    for o, c in np.ndindex(6, 4):
        for tap in np.ndindex(*(3,) * n):
            window = xpad[(slice(None), c) + tuple(slice(t, t + 5) for t in tap)]
            want[(o, c) + tap] = np.sum(g[:, o] * window)
    base = np.full(wf.shape + (2,), 5.0)
    out = base[..., 1]
    assert grad_weight(x, wf.shape, g, padding=1, out=out) is out
    np.testing.assert_allclose(out, want, rtol=1e-10, atol=1e-10)
    assert np.all(base[..., 0] == 5.0)


def test_nn_unfit_out_is_rejected_and_left_alone():
    """The layer functions reject an unfit out as the SciPy-style ones do."""
    rng = np.random.default_rng(14)
    x, w, bias = _nn_case(2, np.float32, rng)
    shape = (2, 6, 5, 5)
    calls = [lambda out: nn.conv2d(x, w, bias, out=out),
             lambda out: nn.conv_transpose2d(np.zeros((2, 6, 3, 3), np.float32), w, out=out),
             lambda out: nn.conv2d_input(x.shape, w, np.ones(shape, np.float32), out=out),
             lambda out: nn.conv2d_weight(x, w.shape, np.ones(shape, np.float32), out=out)]
    shapes = [shape, (2, 4, 5, 5), x.shape, w.shape]
    for call, want_shape in zip(calls, shapes):
        for what, out, error, fragment in _bad_outs(want_shape, np.float32):
            before = np.array(out, copy=True)
            with pytest.raises(error, match=fragment):
                call(out)
            np.testing.assert_array_equal(np.asarray(out), before, err_msg=what)
    buf = np.zeros((2, 6, 7, 7), np.float32)
    buf[:, :4] = x
    with pytest.raises(ValueError, match="input"):
        nn.conv2d(buf[:, :4], w, out=buf[:, :6, :5, :5])


def test_nn_direct_and_depthwise_kernels_write_out_themselves(monkeypatch):
    """The layer kernels' destination is the caller's array."""
    from numbaconv._backends import cpu_layer_depthwise
    from numbaconv._kernels import layer
    seen = []

    def spying(original):
        def spy(out, shape, dtype):
            res = original(out, shape, dtype)
            seen.append(res is out)
            return res
        return spy

    monkeypatch.setattr(layer, "destination", spying(layer.destination))
    monkeypatch.setattr(cpu_layer_depthwise, "destination",
                        spying(cpu_layer_depthwise.destination))
    rng = np.random.default_rng(15)
    x = rng.standard_normal((2, 4, 9, 9)).astype(np.float32)
    for w, groups in ((rng.standard_normal((6, 4, 3, 3)), 1), (rng.standard_normal((4, 1, 3, 3)), 4)):
        w = w.astype(np.float32)
        want = ref_conv(x.astype(np.float64), w.astype(np.float64), None, (1, 1), ((1, 1),) * 2,
                        (1, 1), groups)
        scale = ref_conv(np.abs(x).astype(np.float64), np.abs(w).astype(np.float64), None,
                         (1, 1), ((1, 1),) * 2, (1, 1), groups)
        seen.clear()
        out = np.full(want.shape, 9, np.float32)
        assert nn.conv2d(x, w, padding=1, groups=groups, method="direct", out=out) is out
        assert seen == [True]
        _assert_close(out, want, scale, np.float32)


def test_gpu_out_receives_a_copy_of_the_gpu_result():
    """Numba device arrays (the simulator's without a GPU): out is one of them, or rejected."""
    from numbaconv import _gpu
    if not _gpu.available():
        pytest.skip("no CUDA device or simulator")
    from numba import cuda
    a, b = np.arange(8.0), np.array([1.0, -2.0, 0.5])
    d_a, d_b = cuda.to_device(a), cuda.to_device(b)
    d_out = cuda.device_array(10, np.float64)
    assert numbaconv.convolve(d_a, d_b, out=d_out) is d_out
    np.testing.assert_allclose(d_out.copy_to_host(), ss.convolve(a, b), atol=1e-12)
    with pytest.raises(TypeError, match="float64"):
        numbaconv.convolve(d_a, d_b, out=cuda.device_array(10, np.float32))
    with pytest.raises(ValueError, match="shape"):
        numbaconv.convolve(d_a, d_b, out=cuda.device_array(9, np.float64))
    with pytest.raises(TypeError, match="kind of array"):
        numbaconv.convolve(d_a, d_b, out=np.empty(10))
