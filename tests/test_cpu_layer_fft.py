"""The FFT layer backend against the BLAS cores and plain loops written here.

Two oracles that share no code with the backend: the im2col/scatter cores
of :mod:`numbaconv._kernels.columns` (in float64) for every shape, and the
loops below, which spell the definitions out, for tiny ones.  Results must
agree within :func:`numbaconv._tools.tolerance.allowed_error`: ``eps`` per
element times the magnitude ``|x| * |w|`` behind it, plus FFT rounding
spread over the transform (``eps log2 n`` of the largest magnitude), which
a dropped tap or a shifted window exceeds by orders of magnitude
(:func:`test_the_tolerance_catches_a_dropped_tap`).
"""
from __future__ import annotations

import dataclasses
import itertools
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import numbaconv.nn as nn
from numbaconv._backends import REGISTRY
from numbaconv._backends import cpu_layer_fft as fft
from numbaconv._kernels import columns
from numbaconv._problem import LayerProblem
from numbaconv._tools import tolerance

DTYPES = [np.float32, np.float64]


# ---------------------------------------------------------------- references

def loop_forward(xp, w, stride, dilation, groups):
    """``out[n, o, p] = sum_{c, t} xp[n, c, p * stride + t * dilation] * w[o, c, t]``."""
    batch, channels = xp.shape[:2]
    out_ch, cg = w.shape[:2]
    kernel = w.shape[2:]
    og = out_ch // groups
    size = tuple((s - d * (k - 1) - 1) // st + 1
                 for s, d, k, st in zip(xp.shape[2:], dilation, kernel, stride))
    out = np.zeros((batch, out_ch) + size)
    for n, o in itertools.product(range(batch), range(out_ch)):
        g = o // og
        for pos in np.ndindex(*size):
            acc = 0.0
            for c in range(cg):
                for tap in np.ndindex(*kernel):
                    where = tuple(p * st + t * d for p, st, t, d in zip(pos, stride, tap, dilation))
                    acc += float(xp[(n, g * cg + c) + where]) * float(w[(o, c) + tap])
            out[(n, o) + pos] = acc
    return out


def loop_adjoint(y, w, stride, dilation, groups, start, size):
    """Scatter ``y[n, c, p] * w[c, o, t]`` to ``p * stride + t * dilation - start``."""
    batch, channels = y.shape[:2]
    og = w.shape[1]
    cg = channels // groups
    out = np.zeros((batch, og * groups) + tuple(size))
    for n, c in itertools.product(range(batch), range(channels)):
        g = c // cg
        for pos in np.ndindex(*y.shape[2:]):
            for tap in np.ndindex(*w.shape[2:]):
                to = tuple(p * s + t * d - b for p, s, t, d, b in
                           zip(pos, stride, tap, dilation, start))
                if all(0 <= v < z for v, z in zip(to, size)):
                    for o in range(og):
                        out[(n, g * og + o) + to] += float(y[(n, c) + pos]) * float(w[(c, o) + tap])
    return out


# ---------------------------------------------------------------- problems

def forward_problem(x_shape, w_shape, stride, dilation, groups, dtype):
    """Return the LayerProblem of correlating an input of ``x_shape`` that needs no padding."""
    kernel = tuple(w_shape[2:])
    nd = len(kernel)
    stride, dilation = _axes(stride, nd), _axes(dilation, nd)
    out = tuple((s - d * (k - 1) - 1) // st + 1
                for s, d, k, st in zip(x_shape[2:], dilation, kernel, stride))
    return LayerProblem(x_shape[0], x_shape[1], w_shape[0], groups, tuple(x_shape[2:]), kernel,
                        stride, dilation, out, np.dtype(dtype))


def transposed_problem(y_shape, w_shape, stride, dilation, groups, padding, output_padding,
                       dtype):
    """Return the LayerProblem of ``conv_transpose`` (torch's output size)."""
    kernel = tuple(w_shape[2:])
    nd = len(kernel)
    stride, dilation = _axes(stride, nd), _axes(dilation, nd)
    padding, output_padding = _axes(padding, nd), _axes(output_padding, nd)
    size = tuple((n - 1) * s - 2 * p + d * (k - 1) + op + 1 for n, s, p, d, k, op in
                 zip(y_shape[2:], stride, padding, dilation, kernel, output_padding))
    return LayerProblem(y_shape[0], y_shape[1], w_shape[1] * groups, groups, tuple(y_shape[2:]),
                        kernel, stride, dilation, size, np.dtype(dtype), transposed=True,
                        start=padding)


def _axes(value, nd):
    return tuple(value) if isinstance(value, (tuple, list)) else (value,) * nd


def reference(problem, x, w):
    """``(value, magnitude, top)`` from the BLAS cores in float64.

    ``value`` on the inputs, ``magnitude`` the same on ``|inputs|``, ``top``
    the largest ``|x| * |w|`` of the whole (stride 1, uncropped) convolution:
    an FFT spreads its rounding over all of it, also where the window reads
    only padding (a result of exact zeros may come back as 1e-9).
    """
    def apply(a, b):
        a, b = a.astype(np.float64), b.astype(np.float64)
        if problem.transposed:
            return columns.adjoint(a, b, problem.stride, problem.dilation, problem.groups,
                                   problem.start, problem.out_shape)
        return columns.forward(a, b, problem.stride, problem.dilation, problem.groups)

    ax, aw = np.abs(x).astype(np.float64), np.abs(w).astype(np.float64)
    ones = (1,) * problem.ndim
    if problem.transposed:
        full = columns.adjoint(ax, aw, problem.stride, problem.dilation, problem.groups,
                               (0,) * problem.ndim,
                               tuple((n - 1) * s + e for n, s, e in
                                     zip(x.shape[2:], problem.stride, problem.dilated_kernel)))
    else:
        reach = tuple((e - 1, e - 1) for e in problem.dilated_kernel)
        full = columns.forward(np.pad(ax, ((0, 0), (0, 0)) + reach), aw, ones,
                               problem.dilation, problem.groups)
    top = float(full.max()) if full.size else 0.0
    return apply(x, w), apply(ax, aw), top


def assert_fft_close(got, want, magnitude, problem, top):
    """Dtype, shape and values within the one tolerance table, for this problem's transforms."""
    assert got.dtype == problem.dtype
    assert got.shape == (problem.batch, problem.out_channels) + tuple(problem.out_shape)
    plan = fft._plan(problem)
    taps = problem.channels // problem.groups * problem.taps
    bound = tolerance.allowed_error(magnitude, tolerance.eps(problem.dtype), taps,
                                    math.prod(plan["lengths"]), top=top)
    verdict = tolerance.compare(got, want.astype(problem.dtype), bound)
    assert verdict["agree"], verdict["reason"]


def make(shape, dtype, rng):
    """Return standard normal values of ``shape`` in ``dtype``."""
    return rng.standard_normal(shape).astype(dtype)


def check(problem, x, w, *, loops=False):
    """Run the backend and compare with the BLAS cores (and the loops: tiny shapes only)."""
    got = fft.run(problem, x, w)
    want, magnitude, top = reference(problem, x, w)
    assert_fft_close(got, want, magnitude, problem, top)
    if loops:
        if problem.transposed:
            looped = loop_adjoint(x, w, problem.stride, problem.dilation, problem.groups,
                                  problem.start, problem.out_shape)
        else:
            looped = loop_forward(x, w, problem.stride, problem.dilation, problem.groups)
        assert_fft_close(got, looped, magnitude, problem, top)
    return got


# ---------------------------------------------------------------- forward

FORWARD_CASES = [
    # (x shape, w shape, stride, dilation, groups)
    ((2, 3, 17), (4, 3, 5), 1, 1, 1),
    ((2, 4, 20), (4, 2, 4), 2, 1, 2),               # even kernel, groups
    ((1, 3, 23), (6, 1, 3), 3, 2, 3),               # depthwise, multiplier 2
    ((3, 2, 9, 11), (3, 2, 3, 4), 1, 1, 1),
    ((2, 4, 12, 10), (2, 2, 4, 3), (2, 3), (1, 2), 2),
    ((1, 3, 11, 13), (3, 1, 5, 5), 2, 2, 3),         # depthwise
    ((1, 2, 7, 6, 8), (2, 2, 3, 2, 3), (1, 2, 1), (2, 1, 1), 1),
    ((2, 2, 6, 7, 6), (2, 1, 2, 3, 2), 2, 1, 2),
]


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("x_shape, w_shape, stride, dilation, groups", FORWARD_CASES)
def test_forward_against_columns_and_loops(x_shape, w_shape, stride, dilation, groups, dtype,
                                           rng):
    problem = forward_problem(x_shape, w_shape, stride, dilation, groups, dtype)
    x, w = make(x_shape, dtype, rng), make(w_shape, dtype, rng)
    check(problem, x, w, loops=True)


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("shape, kernel", [((300,), (64,)), ((40, 37), (15, 12))])
def test_large_kernels_with_many_channels(shape, kernel, dtype, rng):
    problem = forward_problem((3, 6) + shape, (6, 3) + kernel, 1, 1, 2, dtype)
    check(problem, make((3, 6) + shape, dtype, rng), make((6, 3) + kernel, dtype, rng))


# ---------------------------------------------------------------- transposed

TRANSPOSED_CASES = [
    # (y shape, w shape, stride, dilation, groups, padding, output_padding)
    ((2, 3, 7), (3, 2, 4), 1, 1, 1, 0, 0),
    ((2, 4, 6), (4, 1, 3), 2, 1, 2, 1, 1),
    ((1, 3, 5), (3, 2, 5), 3, 2, 3, 2, 2),          # depthwise-like, multiplier 2
    ((2, 2, 5, 4), (2, 3, 3, 2), (2, 1), 1, 1, (1, 0), (1, 0)),
    ((1, 4, 4, 5), (4, 1, 2, 3), 3, (1, 2), 2, 0, (2, 1)),
    ((1, 2, 3, 3, 4), (2, 2, 2, 3, 2), (2, 1, 3), (1, 2, 1), 1, (0, 1, 1), (1, 0, 2)),
]


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("y_shape, w_shape, stride, dilation, groups, padding, output_padding",
                         TRANSPOSED_CASES)
def test_transposed_against_columns_and_loops(y_shape, w_shape, stride, dilation, groups,
                                              padding, output_padding, dtype, rng):
    problem = transposed_problem(y_shape, w_shape, stride, dilation, groups, padding,
                                 output_padding, dtype)
    y, w = make(y_shape, dtype, rng), make(w_shape, dtype, rng)
    check(problem, y, w, loops=True)


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("call, y_shape, w_shape, kwargs", [
    (nn.conv_transpose1d, (2, 4, 33), (4, 3, 16),
     dict(stride=3, padding=5, output_padding=2, groups=2, dilation=2)),
    (nn.conv_transpose2d, (2, 2, 9, 8), (2, 3, 7, 6),
     dict(stride=(2, 3), padding=(3, 1), output_padding=(1, 2), dilation=(1, 2))),
    (nn.conv_transpose2d, (1, 3, 6, 6), (3, 1, 5, 5),
     dict(stride=2, padding=2, output_padding=1, groups=3)),
])
def test_conv_transpose_with_method_fft(call, y_shape, w_shape, kwargs, dtype, rng):
    y, w = make(y_shape, dtype, rng), make(w_shape, dtype, rng)
    got = call(y, w, method="fft", **kwargs)
    assert nn.explain(call, y, w, method="fft", **kwargs).backend == "cpu_layer_fft"
    nd = len(w_shape) - 2
    problem = transposed_problem(y_shape, w_shape, kwargs.get("stride", 1),
                                 kwargs.get("dilation", 1), kwargs.get("groups", 1),
                                 kwargs.get("padding", 0), kwargs.get("output_padding", 0), dtype)
    assert problem.ndim == nd
    want, magnitude, top = reference(problem, y, w)
    assert_fft_close(got, want, magnitude, problem, top)


NP_MODES = {"zeros": "constant", "reflect": "reflect", "replicate": "edge", "circular": "wrap"}


@pytest.mark.parametrize("mode", list(NP_MODES))
@pytest.mark.parametrize("x_shape, w_shape, padding, stride, dilation", [
    ((2, 3, 19), (2, 3, 6), 4, 1, 2),
    ((1, 2, 11), (3, 2, 2), 7, 2, 1),              # padding beyond the kernel's reach
    ((2, 2, 9, 12), (4, 1, 5, 4), (3, 2), (1, 2), (2, 1)),
    ((1, 2, 8, 7), (2, 2, 1, 3), (4, 6), 3, 1),     # ... on both axes, odd stride
])
def test_padding_modes_through_the_window(x_shape, w_shape, padding, stride, dilation, mode,
                                          rng):
    nd = len(w_shape) - 2
    pads = _axes(padding, nd)
    if mode == "reflect" and any(p >= n for p, n in zip(pads, x_shape[2:])):
        pads = tuple(min(p, n - 1) for p, n in zip(pads, x_shape[2:]))
    groups = x_shape[1] // w_shape[1]
    x, w = make(x_shape, np.float64, rng), make(w_shape, np.float64, rng)
    padded_shape = x_shape[:2] + tuple(n + 2 * p for n, p in zip(x_shape[2:], pads))
    problem = dataclasses.replace(
        forward_problem(padded_shape, w_shape, stride, dilation, groups, np.float64),
        pad=tuple((p, p) for p in pads), padding_mode=mode)
    got = fft.run(problem, x, w)
    xp = np.pad(x, ((0, 0), (0, 0)) + tuple((p, p) for p in pads), mode=NP_MODES[mode])
    want, magnitude, top = reference(dataclasses.replace(problem, pad=()), xp, w)
    assert_fft_close(got, want, magnitude, problem, top)
    call = {1: nn.conv1d, 2: nn.conv2d}[nd]
    public = call(x, w, padding=pads, stride=stride, dilation=dilation, groups=groups,
                  padding_mode=mode, method="fft")
    np.testing.assert_array_equal(public, got)


def test_conv2d_with_method_fft_and_padding(rng):
    x, w = make((2, 4, 21, 19), np.float64, rng), make((6, 2, 9, 8), np.float64, rng)
    b = make((6,), np.float64, rng)
    got = nn.conv2d(x, w, b, padding="same", groups=2, method="fft")
    want = nn.conv2d(x, w, b, padding="same", groups=2, method="gemm")
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-12 * np.abs(want).max())


# ---------------------------------------------------------------- the sweep

@st.composite
def cases(draw):
    """Draw one forward or transposed layer call of 1 or 2 spatial axes."""
    nd = draw(st.integers(1, 2))
    groups = draw(st.integers(1, 3))
    cg, og = draw(st.integers(1, 2)), draw(st.integers(1, 2))
    kernel = tuple(draw(st.integers(1, 6)) for _ in range(nd))
    stride = tuple(draw(st.integers(1, 3)) for _ in range(nd))
    dilation = tuple(draw(st.integers(1, 2)) for _ in range(nd))
    size = tuple(draw(st.integers(1, 12)) for _ in range(nd))
    return dict(nd=nd, groups=groups, cg=cg, og=og, kernel=kernel, stride=stride,
                dilation=dilation, size=size, batch=draw(st.integers(0, 2)),
                transposed=draw(st.booleans()),
                padding=tuple(draw(st.integers(0, 3)) for _ in range(nd)),
                output_padding=tuple(draw(st.integers(0, 2)) for _ in range(nd)),
                dtype=draw(st.sampled_from(DTYPES)), seed=draw(st.integers(0, 2**32 - 1)))


@settings(max_examples=60, deadline=None)
@given(cases())
def test_sweep_against_columns(case):
    rng = np.random.default_rng(case["seed"])
    g, nd = case["groups"], case["nd"]
    channels = case["cg"] * g
    dtype = case["dtype"]
    if case["transposed"]:
        op = tuple(min(p, max(s, d) - 1) for p, s, d in
                   zip(case["output_padding"], case["stride"], case["dilation"]))
        problem = transposed_problem((case["batch"], channels) + case["size"],
                                     (channels, case["og"]) + case["kernel"], case["stride"],
                                     case["dilation"], g, case["padding"], op, dtype)
        if any(z < 1 for z in problem.out_shape):
            return
        x = make((case["batch"], channels) + case["size"], dtype, rng)
        w = make((channels, case["og"]) + case["kernel"], dtype, rng)
    else:
        # zero padding, taken by the backend's window (the input arrives unpadded)
        ext = tuple(d * (k - 1) + 1 for d, k in zip(case["dilation"], case["kernel"]))
        pads = case["padding"]
        size = tuple(max(s, e - 2 * p) for s, e, p in zip(case["size"], ext, pads))
        padded = tuple(s + 2 * p for s, p in zip(size, pads))
        problem = dataclasses.replace(
            forward_problem((case["batch"], channels) + padded,
                            (case["og"] * g, case["cg"]) + case["kernel"], case["stride"],
                            case["dilation"], g, dtype),
            pad=tuple((p, p) for p in pads))
        x = make((case["batch"], channels) + size, dtype, rng)
        w = make((case["og"] * g, case["cg"]) + case["kernel"], dtype, rng)
        got = fft.run(problem, x, w)
        xp = np.pad(x, ((0, 0), (0, 0)) + problem.pad)
        want, magnitude, top = reference(dataclasses.replace(problem, pad=()), xp, w)
        assert_fft_close(got, want, magnitude, problem, top)
        return
    assert problem.ndim == nd
    check(problem, x, w)


# ---------------------------------------------------------------- properties

def test_an_empty_batch_gives_an_empty_result():
    x, w = np.ones((0, 2, 9, 9), np.float32), np.ones((3, 2, 5, 5), np.float32)
    problem = forward_problem(x.shape, w.shape, 1, 1, 1, np.float32)
    assert fft.supports(problem)
    out = fft.run(problem, x, w)
    assert out.shape == (0, 3, 5, 5) and out.dtype == np.float32
    assert nn.conv2d(x, w, padding="same", method="fft").shape == (0, 3, 9, 9)
    assert nn.conv_transpose2d(x, np.ones((2, 3, 3, 3)), stride=2,
                               method="fft").shape == (0, 3, 19, 19)


def test_outputs_no_product_reaches_are_exact_zeros(rng):
    # transposed: stride 3 with a 2-tap kernel leaves every third output empty
    y, w = make((2, 3, 9, 7), np.float32, rng), make((3, 2, 2, 1), np.float32, rng)
    got = nn.conv_transpose2d(y, w, stride=3, padding=1, method="fft")
    want = nn.conv_transpose2d(y, w, stride=3, padding=1, method="gemm")
    assert (want == 0).any()
    np.testing.assert_array_equal(got == 0, want == 0)
    # forward: padding beyond the kernel's reach gives windows over zeros only
    x, w = make((1, 2, 6, 6), np.float64, rng), make((2, 2, 2, 2), np.float64, rng)
    got = nn.conv2d(x, w, padding=3, method="fft")        # 11 x 11; 2..8 see the input
    assert (got[:, :, :2] == 0).all() and (got[:, :, :, 9:] == 0).all()
    assert (got[:, :, 2:9, 2:9] != 0).all()


def test_float32_stays_float32_and_is_computed_in_single_precision(rng):
    x, w = make((2, 3, 40, 40), np.float32, rng), make((4, 3, 9, 9), np.float32, rng)
    problem = forward_problem(x.shape, w.shape, 1, 1, 1, np.float32)
    out = fft.run(problem, x, w)
    assert out.dtype == np.float32 and out.flags.c_contiguous
    want, _, _ = reference(problem, x, w)
    err = np.abs(out - want).max() / np.abs(want).max()
    # single precision rounding, neither exact in float64 nor worse than float32's
    assert np.finfo(np.float32).eps / 100 < err < 100 * np.finfo(np.float32).eps


def test_inputs_are_not_modified(rng):
    x, w = make((2, 4, 16, 16), np.float64, rng), make((4, 2, 5, 5), np.float64, rng)
    x.setflags(write=False)
    w.setflags(write=False)
    before = x.copy(), w.copy()
    fft.run(forward_problem(x.shape, w.shape, 2, 2, 2, np.float64), x, w)
    fft.run(transposed_problem(x.shape, w.shape, 2, 1, 2, 1, 1, np.float64), x, w)
    np.testing.assert_array_equal(x, before[0])
    np.testing.assert_array_equal(w, before[1])


def test_non_contiguous_inputs(rng):
    x = make((2, 3, 20, 22), np.float64, rng)[:, :, ::-1, ::2]
    w = np.ascontiguousarray(make((4, 3, 5, 5), np.float64, rng).transpose(0, 1, 3, 2)).transpose(
        0, 1, 3, 2)
    problem = forward_problem(x.shape, w.shape, 1, 1, 1, np.float64)
    np.testing.assert_array_equal(fft.run(problem, x, w),
                                  fft.run(problem, x.copy(), np.ascontiguousarray(w)))
    check(problem, x, w)


def test_a_batch_in_pieces_gives_the_same_result(rng, monkeypatch):
    x, w = make((5, 2, 24, 24), np.float64, rng), make((3, 2, 7, 7), np.float64, rng)
    problem = forward_problem(x.shape, w.shape, 1, 1, 1, np.float64)
    whole = fft.run(problem, x, w)
    monkeypatch.setattr(fft, "PIECE_BYTES", 1)
    assert fft._piece(problem, fft._plan(problem)["freqs"]) == 1
    np.testing.assert_array_equal(fft.run(problem, x, w), whole)


def test_workers_do_not_change_the_result(rng):
    x, w = make((4, 8, 64, 64), np.float32, rng), make((8, 8, 15, 15), np.float32, rng)
    problem = forward_problem(x.shape, w.shape, 1, 1, 1, np.float32)
    one = fft.run(problem, x, w, workers=1)
    assert fft._contract_threads(problem, 2) == 2
    np.testing.assert_allclose(fft.run(problem, x, w, workers=2), one, rtol=0,
                               atol=1e-5 * np.abs(one).max())


def test_the_tolerance_catches_a_dropped_tap(rng):
    x, w = make((1, 3, 30, 30), np.float32, rng), make((2, 3, 11, 11), np.float32, rng)
    problem = forward_problem(x.shape, w.shape, 1, 1, 1, np.float32)
    want, magnitude, top = reference(problem, x, w)
    dropped = w.copy()
    dropped[1, 2, 5, 7] = 0
    with pytest.raises(AssertionError, match="allowed"):
        assert_fft_close(fft.run(problem, x, dropped), want, magnitude, problem, top)


# ---------------------------------------------------------------- the contract and the cost

def test_backend_contract():
    assert REGISTRY["cpu_layer_fft"] is fft
    assert (fft.NAME, fft.DEVICE, fft.METHOD, fft.OPERATION) == ("cpu_layer_fft", "cpu", "fft",
                                                                  "layer")
    assert fft.available()
    problem = forward_problem((4, 16, 158, 158), (16, 16, 31, 31), 1, 1, 1, np.float32)
    assert fft.supports(problem)
    assert "real transforms of 160x160" in fft.describe(problem)
    strided = forward_problem((1, 2, 30), (2, 2, 9), 3, 1, 1, np.float64)
    assert "stride by slicing (3x" in fft.describe(strided)


def test_zero_padding_is_not_transformed():
    # 'same' with 31x31 on 128x128: the window needs 128 + 15 points per axis, not 158
    padded = forward_problem((4, 16, 158, 158), (16, 16, 31, 31), 1, 1, 1, np.float32)
    same = dataclasses.replace(padded, pad=((15, 15), (15, 15)))
    assert fft._plan(padded)["lengths"] == (160, 160)
    assert fft._plan(same)["lengths"] == (144, 144)
    assert fft.cost(same) < fft.cost(padded)
    reflect = dataclasses.replace(same, padding_mode="reflect")
    assert fft._plan(reflect)["lengths"] == (160, 160)


def test_cost_grows_with_the_transform_not_the_taps():
    small = forward_problem((4, 16, 134, 134), (16, 16, 7, 7), 1, 1, 1, np.float32)
    large = forward_problem((4, 16, 158, 158), (16, 16, 31, 31), 1, 1, 1, np.float32)
    ratio = fft.cost(large) / fft.cost(small)
    assert 1.0 < ratio < 2.5          # 19.6x the taps, 1.4x the transform
    assert fft.cost(large, workers=1) > fft.cost(large, workers=2)


def test_auto_picks_fft_for_a_large_kernel_only():
    x = np.ones((4, 16, 128, 128), np.float32)
    large = nn.explain(nn.conv2d, x, np.ones((16, 16, 31, 31), np.float32), padding="same")
    assert large.backend == "cpu_layer_fft", str(large)
    small = nn.explain(nn.conv2d, x, np.ones((16, 16, 3, 3), np.float32), padding="same")
    assert small.backend != "cpu_layer_fft" and "cpu_layer_fft" in small.costs, str(small)
    long = nn.explain(nn.conv1d, np.ones((8, 16, 16384), np.float32),
                   np.ones((16, 16, 257), np.float32), padding="same")
    assert long.backend == "cpu_layer_fft", str(long)


def test_a_nan_stays_local_with_method_auto(rng):
    x = make((1, 2, 64, 64), np.float32, rng)
    w = make((2, 2, 31, 31), np.float32, rng)
    clean = nn.explain(nn.conv2d, x, w, padding="same")
    assert clean.backend == "cpu_layer_fft", str(clean)
    x[0, 1, 5, 7] = np.nan
    choice = nn.explain(nn.conv2d, x, w, padding="same")
    assert choice.method != "fft" and choice.vetoes, str(choice)
    out = nn.conv2d(x, w, padding="same")
    # torch: NaN wherever the 31x31 window reaches (5, 7), finite elsewhere
    reach = np.zeros((64, 64), bool)
    reach[max(0, 5 - 15):5 + 16, max(0, 7 - 15):7 + 16] = True
    assert np.isnan(out[0][:, reach]).all()
    assert np.isfinite(out[0][:, ~reach]).all()
    assert np.isnan(nn.conv2d(x, w, padding="same", method="fft")).all()
