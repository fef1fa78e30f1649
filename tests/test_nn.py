"""numbaconv.nn against references written here: plain loops, finite differences, SciPy.

The loop references spell out torch's definitions: pad (np.pad is the
definition of each padding mode), then for every output element sum
``x[n, group's channel, pos * stride + tap * dilation] * w[o, c, tap]``; the
transposed convolution scatters ``x[n, c, i] * w[c, o, tap]`` to
``i * stride + tap * dilation - padding``.  Validity is decided here from
torch's rules, so the library must raise exactly where these say it should.
"""
from __future__ import annotations

import itertools

import numpy as np
import pytest
import scipy.signal
from hypothesis import event, given, settings
from hypothesis import strategies as st

import numbaconv.nn as nn
from numbaconv._backends import REGISTRY

NP_MODES = {"zeros": "constant", "reflect": "reflect", "replicate": "edge", "circular": "wrap"}
FORWARD = {1: nn.conv1d, 2: nn.conv2d, 3: nn.conv3d}
TRANSPOSE = {1: nn.conv_transpose1d, 2: nn.conv_transpose2d}
GRAD_INPUT = {1: nn.conv1d_input, 2: nn.conv2d_input}
GRAD_WEIGHT = {1: nn.conv1d_weight, 2: nn.conv2d_weight}
RTOL = {np.dtype(np.float32): 1e-5, np.dtype(np.float64): 1e-12}
#: 'auto' and every method family a CPU layer backend provides: the sweeps run each
METHODS = ["auto"] + sorted({mod.METHOD for mod in REGISTRY.values()
                             if getattr(mod, "OPERATION", "signal") == "layer"
                             and mod.DEVICE == "cpu"})


# ---------------------------------------------------------------- references

def _per_axis(value, n):
    return tuple(value) if isinstance(value, tuple) else (value,) * n


def ref_pairs(padding, n, kernel, dilation):
    """torch's padding as (left, right) per axis; 'same' puts the odd element on the right."""
    if padding == "valid":
        return ((0, 0),) * n
    if padding == "same":
        return tuple((d * (k - 1) // 2, d * (k - 1) - d * (k - 1) // 2)
                     for k, d in zip(kernel, dilation))
    return tuple((p, p) for p in _per_axis(padding, n))


def ref_conv(x, w, b, stride, pairs, dilation, groups, mode="zeros"):
    """Loops over batch, out channel, output position and kernel tap (channels as a dot)."""
    n = w.ndim - 2
    xp = np.pad(x, ((0, 0), (0, 0)) + tuple(pairs), mode=NP_MODES[mode])
    kernel = w.shape[2:]
    cg, og = x.shape[1] // groups, w.shape[0] // groups
    size = tuple((p - d * (k - 1) - 1) // s + 1
                 for p, d, k, s in zip(xp.shape[2:], dilation, kernel, stride))
    out = np.zeros((x.shape[0], w.shape[0]) + size)
    for i, o in itertools.product(range(x.shape[0]), range(w.shape[0])):
        g = o // og
        for pos in np.ndindex(*size):
            acc = 0.0 if b is None else float(b[o])
            for tap in np.ndindex(*kernel):
                where = tuple(p * s + t * d for p, s, t, d in zip(pos, stride, tap, dilation))
                acc += np.dot(xp[(i, slice(g * cg, (g + 1) * cg)) + where],
                              w[(o, slice(None)) + tap])
            out[(i, o) + pos] = acc
    assert out.ndim == n + 2
    return out


def ref_conv_transpose(x, w, b, stride, padding, output_padding, dilation, groups):
    """Scatter every input value times every tap to ``i * s + t * d - p``."""
    kernel = w.shape[2:]
    cg, og = x.shape[1] // groups, w.shape[1]
    size = tuple((lo - 1) * s - 2 * p + d * (k - 1) + op + 1 for lo, s, p, d, k, op in
                 zip(x.shape[2:], stride, padding, dilation, kernel, output_padding))
    out = np.zeros((x.shape[0], og * groups) + size)
    for i, c in itertools.product(range(x.shape[0]), range(x.shape[1])):
        g = c // cg
        for pos in np.ndindex(*x.shape[2:]):
            for tap in np.ndindex(*kernel):
                to = tuple(q * s + t * d - p for q, s, t, d, p in
                           zip(pos, stride, tap, dilation, padding))
                if all(0 <= v < z for v, z in zip(to, size)):
                    out[(i, slice(g * og, (g + 1) * og)) + to] += \
                        x[(i, c) + pos] * w[(c, slice(None)) + tap]
    if b is not None:
        out += b.reshape((1, -1) + (1,) * len(kernel))
    return out


def assert_close(got, want, scale, dtype):
    """Within the dtype's tolerance relative to the sum of |x||w| behind each value."""
    assert got.shape == want.shape
    assert got.dtype == dtype
    tol = RTOL[np.dtype(dtype)] * (scale + 1.0)
    err = np.abs(got.astype(np.float64) - want)
    assert np.all(err <= tol), f"max error {err.max()} (tolerance {tol.max()})"


# ---------------------------------------------------------------- strategies

def padding_strategy(n, limit=2):
    ints = st.integers(0, limit)
    return st.one_of(ints, st.tuples(*[ints] * n), st.sampled_from(["valid", "same"]))


@st.composite
def forward_case(draw, n):
    big = n < 3
    groups = draw(st.integers(1, 3 if big else 2))
    cg, og = draw(st.integers(1, 2)), draw(st.integers(1, 2))
    kernel = tuple(draw(st.integers(1, 3 if big else 2)) for _ in range(n))
    size = tuple(draw(st.integers(1, 6 if big else 4)) for _ in range(n))
    stride = draw(st.one_of(st.just(1), st.integers(1, 3), st.tuples(*[st.integers(1, 3)] * n)))
    dilation = draw(st.one_of(st.integers(1, 2), st.tuples(*[st.integers(1, 2)] * n)))
    return dict(batch=draw(st.integers(1, 2)), groups=groups, cg=cg, og=og, kernel=kernel,
                size=size, stride=stride, dilation=dilation, padding=draw(padding_strategy(n)),
                mode=draw(st.sampled_from(list(NP_MODES))),
                dtype=draw(st.sampled_from([np.float32, np.float64])),
                bias=draw(st.booleans()), unbatched=draw(st.booleans()),
                strided=draw(st.booleans()), seed=draw(st.integers(0, 2**32 - 1)),
                method=draw(st.sampled_from(METHODS)))


def _arrays(case, x_shape, w_shape):
    rng = np.random.default_rng(case["seed"])
    dtype = case["dtype"]
    x = rng.standard_normal(x_shape).astype(dtype)
    if case["strided"]:     # a non-contiguous view of the same values
        x = np.repeat(x, 2, axis=-1)[..., ::2]
        assert not x.flags.c_contiguous or x.shape[-1] == 1
    w = rng.standard_normal(w_shape).astype(dtype)
    b = rng.standard_normal(w_shape[0] if len(w_shape) else 0).astype(dtype)
    return x, w, b


def _forward_is_valid(case, n, pairs_or_none):
    stride = _per_axis(case["stride"], n)
    dilation = _per_axis(case["dilation"], n)
    if case["padding"] == "same" and any(s != 1 for s in stride):
        return False
    pairs = pairs_or_none
    for (lo, r), z, k, d in zip(pairs, case["size"], case["kernel"], dilation):
        if z + lo + r < d * (k - 1) + 1:
            return False
        if case["mode"] == "reflect" and max(lo, r) >= z:
            return False
        if case["mode"] == "circular" and max(lo, r) > z:
            return False
    return True


def check_forward(case, n):
    groups = case["groups"]
    channels, out_ch = case["cg"] * groups, case["og"] * groups
    x, w, b = _arrays(case, (case["batch"], channels) + case["size"],
                      (out_ch, case["cg"]) + case["kernel"])
    b = b if case["bias"] else None
    stride, dilation = _per_axis(case["stride"], n), _per_axis(case["dilation"], n)
    pairs = ref_pairs(case["padding"], n, case["kernel"], dilation)
    xin = x[0] if case["unbatched"] else x
    kwargs = dict(stride=case["stride"], padding=case["padding"], dilation=case["dilation"],
                  groups=groups, padding_mode=case["mode"], method=case["method"])
    if not _forward_is_valid(case, n, pairs):
        event("torch would raise")
        with pytest.raises(ValueError):
            FORWARD[n](xin, w, b, **kwargs)
        return
    event(f"computed, padding {'string' if isinstance(case['padding'], str) else 'numbers'}")
    event(f"method {case['method']}")
    before = xin.copy()
    got = FORWARD[n](xin, w, b, **kwargs)
    np.testing.assert_array_equal(xin, before)
    want = ref_conv(x.astype(np.float64), w.astype(np.float64), b, stride, pairs, dilation,
                    groups, case["mode"])
    scale = ref_conv(np.abs(x.astype(np.float64)), np.abs(w.astype(np.float64)),
                     None if b is None else np.abs(b), stride, pairs, dilation, groups,
                     case["mode"])
    if case["unbatched"]:
        want, scale = want[:1], scale[:1]
        got = got[None]
    assert_close(got, want, scale, x.dtype)


# ---------------------------------------------------------------- the sweeps

@settings(max_examples=120, deadline=None)
@given(forward_case(1))
def test_conv1d_sweep(case):
    check_forward(case, 1)


@settings(max_examples=100, deadline=None)
@given(forward_case(2))
def test_conv2d_sweep(case):
    check_forward(case, 2)


@settings(max_examples=40, deadline=None)
@given(forward_case(3))
def test_conv3d_sweep(case):
    check_forward(case, 3)


@st.composite
def transpose_case(draw, n):
    ints = lambda lo, hi: st.one_of(st.integers(lo, hi), st.tuples(*[st.integers(lo, hi)] * n))  # noqa: E731
    groups = draw(st.integers(1, 3))
    return dict(batch=draw(st.integers(1, 2)), groups=groups, cg=draw(st.integers(1, 2)),
                og=draw(st.integers(1, 2)),
                kernel=tuple(draw(st.integers(1, 3)) for _ in range(n)),
                size=tuple(draw(st.integers(1, 4)) for _ in range(n)),
                stride=draw(ints(1, 3)), dilation=draw(ints(1, 2)), padding=draw(ints(0, 2)),
                output_padding=draw(st.one_of(st.just(0), ints(0, 2))),
                dtype=draw(st.sampled_from([np.float32, np.float64])),
                bias=draw(st.booleans()), unbatched=draw(st.booleans()),
                strided=draw(st.booleans()), seed=draw(st.integers(0, 2**32 - 1)),
                method=draw(st.sampled_from(METHODS)))


def check_transpose(case, n):
    groups = case["groups"]
    channels = case["cg"] * groups
    x, w, b = _arrays(case, (case["batch"], channels) + case["size"],
                      (channels, case["og"]) + case["kernel"])
    b = np.resize(b, case["og"] * groups)
    b = b if case["bias"] else None
    stride, dilation = _per_axis(case["stride"], n), _per_axis(case["dilation"], n)
    padding, output_padding = _per_axis(case["padding"], n), _per_axis(case["output_padding"], n)
    size = [(z - 1) * s - 2 * p + d * (k - 1) + op + 1 for z, s, p, d, k, op in
            zip(case["size"], stride, padding, dilation, case["kernel"], output_padding)]
    valid = (all(op < max(s, d) for op, s, d in zip(output_padding, stride, dilation))
             and all(z >= 1 for z in size))
    xin = x[0] if case["unbatched"] else x
    kwargs = dict(stride=case["stride"], padding=case["padding"],
                  output_padding=case["output_padding"], groups=groups,
                  dilation=case["dilation"], method=case["method"])
    event("computed" if valid else "torch would raise")
    event(f"method {case['method']}")
    if not valid:
        with pytest.raises(ValueError):
            TRANSPOSE[n](xin, w, b, **kwargs)
        return
    got = TRANSPOSE[n](xin, w, b, **kwargs)
    x64, w64 = x.astype(np.float64), w.astype(np.float64)
    want = ref_conv_transpose(x64, w64, b, stride, padding, output_padding, dilation, groups)
    scale = ref_conv_transpose(np.abs(x64), np.abs(w64), None if b is None else np.abs(b),
                               stride, padding, output_padding, dilation, groups)
    if case["unbatched"]:
        want, scale, got = want[:1], scale[:1], got[None]
    assert_close(got, want, scale, x.dtype)


@settings(max_examples=100, deadline=None)
@given(transpose_case(1))
def test_conv_transpose1d_sweep(case):
    check_transpose(case, 1)


@settings(max_examples=80, deadline=None)
@given(transpose_case(2))
def test_conv_transpose2d_sweep(case):
    check_transpose(case, 2)


# ---------------------------------------------------------------- gradients

@st.composite
def grad_case(draw, n):
    case = draw(forward_case(n))
    case.update(mode="zeros", dtype=np.float64, unbatched=False)
    return case


def _grad_setup(case, n):
    groups = case["groups"]
    channels, out_ch = case["cg"] * groups, case["og"] * groups
    x, w, _ = _arrays(case, (case["batch"], channels) + case["size"],
                      (out_ch, case["cg"]) + case["kernel"])
    dilation = _per_axis(case["dilation"], n)
    pairs = ref_pairs(case["padding"], n, case["kernel"], dilation)
    kwargs = dict(stride=case["stride"], padding=case["padding"], dilation=case["dilation"],
                  groups=groups)
    return x, w, pairs, kwargs


@pytest.mark.parametrize("n", [1, 2])
@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_gradients_satisfy_the_adjoint_identity(n, data):
    """<conv(x, w), g> = <x, conv_input(g)> = <w, conv_weight(g)>."""
    case = data.draw(grad_case(n))
    x, w, pairs, kwargs = _grad_setup(case, n)
    if not _forward_is_valid(case, n, pairs):
        return
    y = FORWARD[n](x, w, **kwargs)
    g = np.random.default_rng(case["seed"] + 1).standard_normal(y.shape)
    gx = GRAD_INPUT[n](x.shape, w, g, **kwargs)
    gw = GRAD_WEIGHT[n](x, w.shape, g, **kwargs)
    assert gx.shape == x.shape and gw.shape == w.shape
    lhs = np.vdot(y, g)
    scale = np.vdot(np.abs(FORWARD[n](np.abs(x), np.abs(w), **kwargs)), np.abs(g)) + 1.0
    assert abs(lhs - np.vdot(x, gx)) <= 1e-12 * scale
    assert abs(lhs - np.vdot(w, gw)) <= 1e-12 * scale


@pytest.mark.parametrize("n, kwargs", [
    (1, dict(stride=2, padding=1, dilation=2, groups=2)),
    (1, dict(padding="same", dilation=1, groups=1)),
    (2, dict(stride=(2, 1), padding=(1, 0), dilation=(1, 2), groups=2)),
    (2, dict(padding="same", groups=1)),
    (2, dict(stride=3, padding=2)),
])
def test_gradients_against_finite_differences(n, kwargs, rng):
    size = (7,) if n == 1 else (5, 6)
    x = rng.standard_normal((2, 4) + size)
    w = rng.standard_normal((4, 4 // kwargs.get("groups", 1)) + (2,) * n)
    g = rng.standard_normal(FORWARD[n](x, w, **kwargs).shape)

    def loss(xx, ww):
        return float(np.sum(FORWARD[n](xx, ww, **kwargs) * g))

    h = 1e-6
    for array, grad in ((x, GRAD_INPUT[n](x.shape, w, g, **kwargs)),
                        (w, GRAD_WEIGHT[n](x, w.shape, g, **kwargs))):
        numeric = np.zeros_like(array)
        for idx in np.ndindex(*array.shape):
            old = array[idx]
            array[idx] = old + h
            up = loss(x, w)
            array[idx] = old - h
            down = loss(x, w)
            array[idx] = old
            numeric[idx] = (up - down) / (2 * h)
        np.testing.assert_allclose(grad, numeric, rtol=1e-6, atol=1e-6)


def test_conv_input_is_conv_transpose_with_output_padding(rng):
    x = rng.standard_normal((1, 2, 8, 9))
    w = rng.standard_normal((3, 2, 3, 3))
    g = rng.standard_normal(nn.conv2d(x, w, stride=2, padding=1).shape)
    got = nn.conv2d_input(x.shape, w, g, stride=2, padding=1)
    want = nn.conv_transpose2d(g, w, stride=2, padding=1, output_padding=(1, 0))
    np.testing.assert_allclose(got, want, rtol=1e-13, atol=1e-13)


# ---------------------------------------------------------------- SciPy per channel

def test_conv2d_matches_scipy_correlate2d_per_channel(rng):
    x = rng.standard_normal((2, 3, 9, 11))
    w = rng.standard_normal((4, 3, 3, 4))
    got = nn.conv2d(x, w)
    want = np.array([[sum(scipy.signal.correlate2d(x[i, c], w[o, c], mode="valid")
                          for c in range(3)) for o in range(4)] for i in range(2)])
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
    full = nn.conv2d(x, w, padding=(2, 3))
    want = np.array([[sum(scipy.signal.correlate2d(x[i, c], w[o, c], mode="full")
                          for c in range(3)) for o in range(4)] for i in range(2)])
    np.testing.assert_allclose(full, want, rtol=1e-12, atol=1e-12)


def test_depthwise_conv2d_matches_scipy_per_channel(rng):
    x = rng.standard_normal((1, 5, 8, 8)).astype(np.float32)
    w = rng.standard_normal((5, 1, 3, 3)).astype(np.float32)
    got = nn.conv2d(x, w, padding=1, groups=5)
    for c in range(5):
        want = scipy.signal.correlate2d(x[0, c].astype(np.float64), w[c, 0], mode="same")
        np.testing.assert_allclose(got[0, c], want, rtol=1e-5, atol=1e-5)


def test_conv1d_matches_scipy_correlate_with_dilation(rng):
    x = rng.standard_normal((1, 1, 20))
    w = rng.standard_normal((1, 1, 3))
    dilated = np.zeros(5)
    dilated[::2] = w[0, 0]
    got = nn.conv1d(x, w, dilation=2)
    want = scipy.signal.correlate(x[0, 0], dilated, mode="valid")
    np.testing.assert_allclose(got[0, 0], want, rtol=1e-12, atol=1e-12)


# ---------------------------------------------------------------- dtypes, inputs

def test_float16_in_float16_out(rng):
    x = rng.standard_normal((2, 3, 10)).astype(np.float16)
    w = rng.standard_normal((4, 3, 3)).astype(np.float16)
    b = rng.standard_normal(4).astype(np.float16)
    got = nn.conv1d(x, w, b, padding=1)
    assert got.dtype == np.float16
    want = nn.conv1d(x.astype(np.float32), w.astype(np.float32), b.astype(np.float32), padding=1)
    np.testing.assert_allclose(got.astype(np.float32), want, rtol=2e-3, atol=2e-2)
    assert nn.conv_transpose2d(np.ones((1, 2, 2), np.float16),
                               np.ones((1, 1, 2, 2), np.float16)).dtype == np.float16


@pytest.mark.parametrize("dtype", [np.int32, np.int64, np.bool_, np.complex128])
def test_non_floating_input_is_a_type_error(dtype):
    with pytest.raises(TypeError, match="float16, float32 or float64"):
        nn.conv1d(np.ones((1, 1, 4), dtype), np.ones((1, 1, 2)))
    with pytest.raises(TypeError, match="weight has dtype"):
        nn.conv2d(np.ones((1, 1, 4, 4)), np.ones((1, 1, 2, 2), dtype))


def test_results_take_the_inputs_dtype():
    x = np.ones((1, 1, 5), np.float32)
    assert nn.conv1d(x, np.ones((1, 1, 2))).dtype == np.float32
    assert nn.conv1d(x.astype(np.float64), np.ones((1, 1, 2), np.float32)).dtype == np.float64


def test_inputs_are_never_modified(rng):
    arrays = [rng.standard_normal(s) for s in [(2, 4, 6, 6), (4, 2, 3, 3), (4,)]]
    for a in arrays:
        a.setflags(write=False)
    x, w, b = arrays
    nn.conv2d(x, w, b, padding=1, groups=2, padding_mode="reflect")
    nn.conv_transpose2d(x, w[:, :, :2], None, stride=2, groups=2)
    g = nn.conv2d(x, w, stride=2, groups=2)
    g.setflags(write=False)
    nn.conv2d_input(x.shape, w, g, stride=2, groups=2)
    nn.conv2d_weight(x, w.shape, g, stride=2, groups=2)


def test_unbatched_and_non_contiguous_inputs(rng):
    x = rng.standard_normal((3, 9, 10))
    w = rng.standard_normal((2, 3, 3, 3))
    batched = nn.conv2d(x[None], w, padding="same")
    np.testing.assert_array_equal(nn.conv2d(x, w, padding="same"), batched[0])
    xt = np.ascontiguousarray(x.transpose(0, 2, 1)).transpose(0, 2, 1)   # Fortran-like order
    assert not xt.flags.c_contiguous
    np.testing.assert_allclose(nn.conv2d(xt, w, padding="same"), batched[0], rtol=1e-14)
    np.testing.assert_allclose(nn.conv2d(x[:, ::2, ::-1], w), nn.conv2d(x[:, ::2, ::-1].copy(), w),
                               rtol=1e-14)
    assert nn.conv_transpose1d(x[:, 0], rng.standard_normal((3, 2, 2))).shape == (2, 11)


def test_an_empty_batch_gives_an_empty_batch():
    x, w = np.ones((0, 2, 5, 5)), np.ones((3, 2, 3, 3))
    g = np.ones((0, 3, 3, 3))
    assert nn.conv2d(x, w).shape == (0, 3, 3, 3)
    assert nn.conv_transpose2d(x, np.ones((2, 3, 3, 3))).shape == (0, 3, 7, 7)
    assert nn.conv2d_input(x.shape, w, g).shape == x.shape
    np.testing.assert_array_equal(nn.conv2d_weight(x, w.shape, g), np.zeros(w.shape))


def test_same_padding_with_an_even_kernel_pads_the_extra_element_on_the_right():
    x = np.arange(1.0, 6.0).reshape(1, 1, 5)
    w = np.array([[[0.0, 1.0, 0.0, 0.0]]])          # picks x[pos + 1 - left]; left = 1
    np.testing.assert_array_equal(nn.conv1d(x, w, padding="same"), x)
    w = np.array([[[0.0, 0.0, 0.0, 1.0]]])          # right = 2: the last two read zeros
    np.testing.assert_array_equal(nn.conv1d(x, w, padding="same"), [[[3.0, 4.0, 5.0, 0.0, 0.0]]])


def test_padding_modes_fill_like_np_pad():
    x = np.arange(1.0, 5.0).reshape(1, 1, 4)
    ident = np.array([[[1.0, 0.0, 0.0]]])            # output = the padded input's first taps
    for mode, want in [("zeros", [0, 1, 2, 3]), ("reflect", [2, 1, 2, 3]),
                       ("replicate", [1, 1, 2, 3]), ("circular", [4, 1, 2, 3])]:
        np.testing.assert_array_equal(nn.conv1d(x, ident, padding=1, padding_mode=mode),
                                      [[want]])


# ---------------------------------------------------------------- errors

X1, W1 = np.ones((1, 2, 5)), np.ones((4, 2, 3))
X2, W2 = np.ones((1, 2, 5, 5)), np.ones((4, 2, 3, 3))


@pytest.mark.parametrize("call, error, match", [
    (lambda: nn.conv1d(X1, W1, stride=0), ValueError, "stride must be positive"),
    (lambda: nn.conv2d(X2, W2, stride=(1, -1)), ValueError, "stride must be positive"),
    (lambda: nn.conv1d(X1, W1, dilation=0), ValueError, "dilation must be positive"),
    (lambda: nn.conv1d(X1, W1, padding=-1), ValueError, "padding must be non-negative"),
    (lambda: nn.conv2d(X2, W2, padding=(1, 2, 3)), ValueError, "sequence of 2 ints"),
    (lambda: nn.conv1d(X1, W1, stride=1.5), TypeError, "stride must be made of ints"),
    (lambda: nn.conv1d(X1, W1, padding="full"), ValueError, "'valid' or 'same'"),
    (lambda: nn.conv1d(X1, np.ones((4, 1, 3)), groups=2.0), TypeError, "groups must be an int"),
    (lambda: nn.conv1d(X1, W1, groups=0), ValueError, "groups must be positive"),
    (lambda: nn.conv1d(np.ones((1, 3, 5)), np.ones((3, 1, 3)), groups=2), ValueError,
     r"input channels \(3\) must be divisible by groups \(2\)"),
    (lambda: nn.conv1d(X1, np.ones((3, 1, 3)), groups=2), ValueError,
     r"out_channels \(3, weight.shape\[0\]\) must be divisible"),
    (lambda: nn.conv1d(X1, np.ones((4, 3, 3))), ValueError, "expects 3 input channels"),
    (lambda: nn.conv1d(X1, W1, stride=2, padding="same"), ValueError, "strided convolutions"),
    (lambda: nn.conv1d(X1, np.ones((4, 2, 6))), ValueError, "larger than the padded input"),
    (lambda: nn.conv1d(X1, W1, dilation=3), ValueError, r"dilated to 7\) is larger"),
    (lambda: nn.conv1d(X1, W1, padding=5, padding_mode="reflect"), ValueError,
     "reflect padding must be smaller than the input"),
    (lambda: nn.conv1d(X1, W1, padding=6, padding_mode="circular"), ValueError, "at most once"),
    (lambda: nn.conv1d(X1, W1, padding_mode="mirror"), ValueError, "padding_mode must be one of"),
    (lambda: nn.conv1d(X1, W1, np.ones(3)), ValueError, r"bias must have shape \(4,\)"),
    (lambda: nn.conv1d(np.ones(5), W1), ValueError, "2-D .unbatched. or 3-D"),
    (lambda: nn.conv2d(np.ones((2, 5)), W2), ValueError, "3-D .unbatched. or 4-D"),
    (lambda: nn.conv2d(X2, W1), ValueError, "expects a 4-D weight"),
    (lambda: nn.conv_transpose1d(X1, np.ones((2, 1, 3)), stride=2, output_padding=2),
     ValueError, "output_padding .2. must be smaller than either stride"),
    (lambda: nn.conv_transpose1d(np.ones((1, 2, 1)), np.ones((2, 1, 1)), padding=1),
     ValueError, "output of spatial size"),
    (lambda: nn.conv_transpose1d(X1, np.ones((3, 1, 3))), ValueError, "expects 3 input channels"),
    (lambda: nn.conv_transpose1d(np.ones((1, 3, 5)), np.ones((3, 1, 3)), groups=2), ValueError,
     "divisible by groups"),
    (lambda: nn.conv_transpose2d(X2, np.ones((2, 1, 3, 3)), padding="same"), ValueError,
     "padding as an int or a tuple"),
    (lambda: nn.conv1d_input((1, 2, 5), W1, np.ones((1, 4, 2))), ValueError,
     r"grad_output has shape \(1, 4, 2\).*gives \(1, 4, 3\)"),
    (lambda: nn.conv2d_weight(X2, (4, 2, 3, 3), np.ones((1, 4, 3))), ValueError,
     "batched 4-D input size and grad_output"),
    (lambda: nn.conv2d_input((1, 3, 5, 5), W2, np.ones((1, 4, 3, 3))), ValueError,
     "expects 2 input channels"),
])
def test_errors_where_torch_errs(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_a_checked_call_is_remembered_and_errors_still_raise(rng):
    """A call on the shapes, dtypes and arguments of one checked before skips the checks;
    the same shapes with a bool, list, NumPy or invalid argument are checked again (a
    bool stride is an error though ``True == 1``), and an invalid call is never stored."""
    from numbaconv.nn import _functional as F
    x = rng.standard_normal((2, 3, 11, 9)).astype(np.float32)
    w = rng.standard_normal((4, 3, 3, 3)).astype(np.float32)
    F._CHECKED.clear()
    want = nn.conv2d(x, w, stride=1, padding=1)
    assert len(F._CHECKED) == 1
    np.testing.assert_array_equal(nn.conv2d(x, w, stride=1, padding=1), want)
    np.testing.assert_array_equal(nn.conv2d(x[0], w, stride=1, padding=1), want[0])
    with pytest.raises(TypeError, match="stride must be made of ints"):
        nn.conv2d(x, w, stride=True, padding=1)
    np.testing.assert_array_equal(nn.conv2d(x, w, stride=[1, 1], padding=1), want)
    np.testing.assert_array_equal(nn.conv2d(x, w, stride=np.int64(1), padding=1), want)
    with pytest.raises(ValueError, match="stride must be positive"):
        nn.conv2d(x, w, stride=0, padding=1)
    with pytest.raises(ValueError, match="stride must be positive"):
        nn.conv2d(x, w, stride=0, padding=1)
    with pytest.raises(ValueError, match=r"bias must have shape \(4,\)"):
        nn.conv2d(x, w, np.ones(3, np.float32), padding=1)
    assert len(F._CHECKED) == 2         # the unbatched call; no failed one


# ---------------------------------------------------------------- layers

@pytest.mark.parametrize("cls, fn, kernel, shape", [(nn.Conv1d, nn.conv1d, 5, (2, 6, 30)),
                                                    (nn.Conv2d, nn.conv2d, (3, 2), (2, 6, 9, 8))])
def test_layers_hold_torch_initialised_parameters(cls, fn, kernel, shape):
    layer = cls(6, 4, kernel, stride=2, padding=1, groups=2, rng=1)
    k = (kernel,) if isinstance(kernel, int) else kernel
    fan_in = 3 * int(np.prod(k))
    assert layer.weight.shape == (4, 3) + k and layer.weight.dtype == np.float32
    assert layer.bias.shape == (4,) and layer.bias.dtype == np.float32
    bound = 1 / np.sqrt(fan_in)
    assert np.all(np.abs(layer.weight) <= bound) and np.all(np.abs(layer.bias) <= bound)
    assert np.abs(layer.weight).max() > 0.7 * bound          # uniform over the whole range
    assert layer.parameter_count == layer.weight.size + 4
    x = np.random.default_rng(2).standard_normal(shape).astype(np.float32)
    np.testing.assert_array_equal(layer(x), fn(x, layer.weight, layer.bias, 2, 1, 1, 2))
    np.testing.assert_array_equal(cls(6, 4, kernel, rng=1).weight,
                                  cls(6, 4, kernel, rng=1).weight)


def test_layer_options():
    layer = nn.Conv2d(2, 2, 3, padding="same", bias=False, padding_mode="circular",
                      dtype=np.float64, rng=0)
    assert layer.bias is None and layer.parameter_count == 36 and layer.weight.dtype == np.float64
    x = np.random.default_rng(0).standard_normal((2, 7, 7))
    np.testing.assert_array_equal(layer(x), nn.conv2d(x, layer.weight, padding="same",
                                                      padding_mode="circular"))
    assert "Conv2d(2, 2, kernel_size=(3, 3)" in repr(layer)


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(in_channels=3, out_channels=4, kernel_size=3, groups=2), ValueError, "divisible by groups"),
    (dict(in_channels=2, out_channels=4, kernel_size=0), ValueError, "kernel_size must be"),
    (dict(in_channels=2, out_channels=4, kernel_size=3, stride=2, padding="same"), ValueError,
     "strided"),
    (dict(in_channels=2, out_channels=4, kernel_size=3, padding_mode="mirror"), ValueError,
     "padding_mode"),
    (dict(in_channels=2, out_channels=4, kernel_size=3, dtype=np.int32), TypeError, "dtype"),
])
def test_layer_errors(kwargs, error, match):
    with pytest.raises(error, match=match):
        nn.Conv2d(**kwargs)


def test_import_is_numpy_only():
    import subprocess
    import sys
    code = ("import sys; import numbaconv.nn; "
            "bad = [m for m in ('torch', 'cupy') if m in sys.modules]; "
            "assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True)


# ---------------------------------------------------------------- backends

@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n, x_shape, w_shape, kwargs", [
    # more channels, positions and output blocks than one register block holds
    (2, (3, 16, 20, 23), (13, 16, 3, 3), dict(padding=1)),
    (2, (2, 12, 19, 17), (9, 4, 3, 2), dict(stride=(1, 2), dilation=2, groups=3, padding=2)),
    (2, (2, 3, 40, 38), (7, 3, 7, 7), dict(stride=2, padding=3)),
    (1, (2, 10, 300), (9, 10, 9), dict(padding=4)),
    (1, (1, 8, 97), (8, 2, 5), dict(stride=3, dilation=3, groups=4)),
    (3, (1, 4, 7, 8, 9), (5, 4, 2, 3, 2), dict(stride=(2, 1, 1), padding=1)),
    # pointwise (1x1, unit stride, no padding): one BLAS product per batch item and group
    (2, (3, 16, 9, 11), (24, 16, 1, 1), dict()),
    (2, (2, 12, 5, 7), (9, 4, 1, 1), dict(groups=3, dilation=2)),
    (1, (2, 10, 33), (7, 10, 1), dict()),
    (3, (1, 6, 3, 4, 5), (4, 3, 1, 1, 1), dict(groups=2)),
    (2, (2, 8, 9, 9), (5, 8, 1, 1), dict(stride=2)),          # strided: the columns path
])
def test_every_method_on_layers_larger_than_a_register_block(n, x_shape, w_shape, kwargs, dtype,
                                                             method, rng):
    x = rng.standard_normal(x_shape).astype(dtype)
    w = rng.standard_normal(w_shape).astype(dtype)
    pairs = ref_pairs(kwargs.get("padding", 0), n, w_shape[2:], _per_axis(kwargs.get("dilation", 1), n))
    stride, dilation = _per_axis(kwargs.get("stride", 1), n), _per_axis(kwargs.get("dilation", 1), n)
    try:
        got = FORWARD[n](x, w, method=method, **kwargs)
    except ValueError as err:       # a method no backend offers for this layer
        assert "method=" in str(err)
        pytest.skip(str(err))
    groups = kwargs.get("groups", 1)
    want = ref_conv(x.astype(np.float64), w.astype(np.float64), None, stride, pairs, dilation,
                    groups)
    scale = ref_conv(np.abs(x.astype(np.float64)), np.abs(w.astype(np.float64)), None, stride,
                     pairs, dilation, groups)
    assert_close(got, want, scale, np.dtype(dtype))


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("n, x_shape, w_shape, kwargs", [
    (2, (2, 12, 9, 11), (12, 5, 4, 4), dict(stride=2, padding=1)),
    (2, (1, 6, 8, 7), (6, 4, 3, 3), dict(stride=(2, 3), padding=(1, 0), output_padding=(1, 2),
                                         groups=3, dilation=(1, 2))),
    (1, (2, 16, 50), (16, 9, 5), dict(stride=3, padding=2, output_padding=1)),
])
def test_every_method_on_transposed_layers(n, x_shape, w_shape, kwargs, method, rng):
    x = rng.standard_normal(x_shape)
    w = rng.standard_normal(w_shape)
    try:
        got = TRANSPOSE[n](x, w, method=method, **kwargs)
    except ValueError as err:
        assert "method=" in str(err)
        pytest.skip(str(err))
    args = [_per_axis(kwargs.get(k, d), n) for k, d in
            (("stride", 1), ("padding", 0), ("output_padding", 0), ("dilation", 1))]
    want = ref_conv_transpose(x, w, None, *args, kwargs.get("groups", 1))
    scale = ref_conv_transpose(np.abs(x), np.abs(w), None, *args, kwargs.get("groups", 1))
    assert_close(got, want, scale, np.dtype(np.float64))


@pytest.mark.parametrize("stride, dilation", [(2, 1), (3, 1), (2, 2), (4, 2)])
def test_transposed_direct_layer_runs_its_own_multiply_adds(stride, dilation):
    """One forward pass per output phase: the direct kernel's work is the layer's
    multiply-adds (and its blocks' padding), not ``prod(stride)`` times them as a pass
    over the stride-spread input was."""
    # 12 output channels: two whole register blocks of six, no channel padding
    x, w = np.ones((2, 16, 28, 28), np.float32), np.ones((16, 12, 4, 4), np.float32)
    choice = nn.explain(nn.conv_transpose2d, x, w, stride=stride, padding=1,
                        dilation=dilation, method="direct")
    note = next(n for n in choice.notes if n.startswith("cpu_layer_direct"))
    waste = float(note.split("x the layer's multiply-adds")[0].rsplit(" ", 1)[1])
    assert waste < 1.3, note


def test_explain_prices_every_layer_backend_and_obeys_a_method():
    x, w = np.ones((8, 64, 56, 56), np.float32), np.ones((64, 64, 3, 3), np.float32)
    choice = nn.explain(nn.conv2d, x, w, padding=1)
    assert {"cpu_layer_gemm", "cpu_layer_direct"} <= set(choice.costs)
    assert choice.backend == min(choice.costs, key=choice.costs.get)
    assert all(t > 0 for t in choice.costs.values())
    assert nn.explain(nn.conv2d, x, w, padding=1, method="gemm").backend == "cpu_layer_gemm"
    assert "chosen:" in str(choice)
    with pytest.raises(ValueError, match="method must be one of"):
        nn.explain(nn.conv2d, x, w, method="separable")
    with pytest.raises(TypeError, match="layer functions"):
        nn.explain(np.convolve, x, w)
    # the checks run first: explain raises where the call would
    with pytest.raises(ValueError, match="groups"):
        nn.explain(nn.conv2d, x, w, groups=3)
