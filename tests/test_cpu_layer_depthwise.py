"""The depthwise layer backend (numbaconv._backends.cpu_layer_depthwise) against a loop reference.

The reference below spells out the definition, one kernel tap at a time::

    out[n, o, p] = sum_t x[n, o // m, p * stride + t * dilation] * w[o, 0, t]

(``m`` output channels per input channel) in float64.  Every case calls the
backend's ``run()`` directly on a padded input, as ``numbaconv.nn`` does:
1-D, 2-D and 3-D, both float types, strides and dilations 1-3, channel
multipliers 1 and 2, odd and even kernels, planes narrower than a vector
(flat runs) and wide ones (bands of four rows, several blocks of vectors, the
last one moved back), non-contiguous inputs, one thread and two, planes cut
into row tiles.  Then what the backend claims: ``supports()``, ``cost()``
and the dispatcher's choice for the depthwise layers it is built for.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import math
import mmap
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import numbaconv.nn as nn
from numbaconv._backends import cpu_layer_depthwise as dw
from numbaconv._problem import LayerProblem
from numbaconv._tools import tolerance

DTYPES = [np.float32, np.float64]


# ---------------------------------------------------------------- reference

def out_shape(shape, kernel, stride, dilation):
    return tuple((n - d * (k - 1) - 1) // s + 1
                 for n, k, s, d in zip(shape, kernel, stride, dilation))


def reference(x, w, stride, dilation):
    """The depthwise correlation of ``x`` with ``w`` in float64, one tap at a time."""
    kernel = w.shape[2:]
    size = out_shape(x.shape[2:], kernel, stride, dilation)
    m = w.shape[0] // x.shape[1]
    xs = np.repeat(np.asarray(x, np.float64), m, axis=1)   # output channel o reads o // m
    out = np.zeros(x.shape[:1] + w.shape[:1] + size)
    for tap in np.ndindex(*kernel):
        window = tuple(slice(t * d, t * d + (p - 1) * s + 1, s)
                       for t, d, p, s in zip(tap, dilation, size, stride))
        weight = w[(slice(None), 0) + tap].astype(np.float64)
        out += xs[(Ellipsis,) + window] * weight.reshape((1, -1) + (1,) * len(kernel))
    return out


def problem_for(x, w, stride, dilation):
    kernel = w.shape[2:]
    return LayerProblem(x.shape[0], x.shape[1], w.shape[0], x.shape[1], x.shape[2:], kernel,
                        tuple(stride), tuple(dilation),
                        out_shape(x.shape[2:], kernel, stride, dilation), np.dtype(x.dtype))


def check(x, w, stride, dilation, workers=None, bias=None):
    """``run()`` against :func:`reference` (plus ``bias`` per output channel, which the
    kernel adds itself): dtype, shape, and within the dtype's tolerance."""
    problem = problem_for(x, w, stride, dilation)
    assert dw.supports(problem)
    got = dw.run(problem, x, w, workers=workers, bias=bias)
    want = reference(x, w, stride, dilation)
    scale = reference(np.abs(x), np.abs(w), stride, dilation)
    if bias is not None:
        per_channel = (1, -1) + (1,) * (x.ndim - 2)
        want = want + bias.astype(np.float64).reshape(per_channel)
        scale = scale + np.abs(bias.astype(np.float64)).reshape(per_channel)
    assert got.dtype == x.dtype and got.shape == want.shape
    bound = tolerance.allowed_error(scale, tolerance.eps(x.dtype), problem.taps, 2, top=0.0)
    err = np.abs(got - want)
    assert np.all(err <= bound), f"max error {err.max()} (allowed {bound.max()})"
    return got


def arrays(rng, batch, channels, m, size, kernel, stride, dilation, dtype, extra=0):
    """A padded input whose output is ``size`` (plus ``extra`` unused samples per axis)."""
    shape = tuple((p - 1) * s + d * (k - 1) + 1 + extra
                  for p, k, s, d in zip(size, kernel, stride, dilation))
    x = rng.standard_normal((batch, channels) + shape).astype(dtype)
    w = rng.standard_normal((channels * m, 1) + tuple(kernel)).astype(dtype)
    return x, w


# ---------------------------------------------------------------- values

#: (stride, dilation) pairs: each of 1, 2, 3 for both
STEPS = [(1, 1), (1, 2), (2, 1), (2, 3), (3, 2), (3, 3)]
#: output sizes per rank: narrower than a vector (flat runs), and wide (bands of four rows,
#: blocks of four vectors in both types, the last one moved back; rows not a multiple of four)
SIZES = {1: {"narrow": (5,), "wide": (150,)}, 2: {"narrow": (6, 7), "wide": (7, 150)},
         3: {"narrow": (3, 2, 5), "wide": (2, 5, 70)}}
KERNELS = {1: {"odd": (3,), "even": (4,)}, 2: {"odd": (3, 5), "even": (4, 2)},
           3: {"odd": (3, 1, 3), "even": (2, 2, 4)}}


@pytest.mark.parametrize("width", ["narrow", "wide"])
@pytest.mark.parametrize("kind", ["odd", "even"])
@pytest.mark.parametrize("m", [1, 2])
@pytest.mark.parametrize("steps", STEPS, ids=lambda p: "s%d-d%d" % p)
@pytest.mark.parametrize("ndim", [1, 2, 3])
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_matches_reference(dtype, ndim, steps, m, kind, width, rng):
    s, d = steps
    kernel = KERNELS[ndim][kind]
    batch = 1 + (s + d + m) % 3
    x, w = arrays(rng, batch, 3, m, SIZES[ndim][width], kernel, (s,) * ndim, (d,) * ndim,
                  dtype, extra=s - 1)
    # a bias where output channels outnumber input channels: each takes its own
    bias = 10 + rng.standard_normal(w.shape[0]).astype(dtype) if m == 2 else None
    check(x, w, (s,) * ndim, (d,) * ndim, bias=bias)


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("cols", [1, 15, 16, 17, 27, 30, 31, 33, 51, 58, 59, 64, 65, 100])
def test_every_row_width(dtype, cols, rng):
    """Rows of one sample, of a vector and one more or less, of four vectors and past them:
    the flat runs below a vector's width, the bands (and their last blocks) above it, and
    rows of three vectors and a half or less (_band_half: 25-28 float64 and 49-56 float32
    outputs on AVX-512, 13-14 and 25-28 on AVX2)."""
    x, w = arrays(rng, 2, 2, 1, (9, cols), (3, 3), (1, 1), (1, 1), dtype)
    check(x, w, (1, 1), (1, 1))
    # the bias starts every accumulator: bands, flat runs, their tails and scalars
    check(x, w, (1, 1), (1, 1), bias=np.array([3.0, -7.0], dtype))


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("rows", [1, 2, 3, 4, 5, 9])
def test_every_band_height(dtype, rows, rng):
    """Slices of fewer rows than a band (the band runs short) and of more (the last band is
    moved back), for 2-D planes and for each depth slice of a 3-D one."""
    x, w = arrays(rng, 1, 2, 1, (rows, 40), (3, 3), (1, 1), (1, 1), dtype)
    check(x, w, (1, 1), (1, 1))
    x, w = arrays(rng, 1, 2, 1, (3, rows, 40), (2, 3, 3), (1, 1, 1), (1, 1, 1), dtype)
    check(x, w, (1, 1, 1), (1, 1, 1))


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_non_contiguous_input(dtype, rng):
    """A transposed and a strided view give what their contiguous copies give."""
    base = rng.standard_normal((4, 30, 3, 2)).astype(dtype)
    x = base.transpose(3, 2, 0, 1)                    # (2, 3, 4, 30), no axis contiguous
    w = rng.standard_normal((3, 1, 2, 3)).astype(dtype)
    assert not x.flags.c_contiguous
    got = check(x, w, (1, 2), (1, 1))
    np.testing.assert_array_equal(got, dw.run(problem_for(x, w, (1, 2), (1, 1)),
                                              np.ascontiguousarray(x), w))
    x = rng.standard_normal((2, 6, 12, 50)).astype(dtype)[:, ::2, 1::, ::2]
    w = rng.standard_normal((6, 1, 3, 3)).astype(dtype)
    check(x, w, (1, 1), (2, 1))


def lanes(dtype):
    """Planes a channel block holds (a vector's lanes on the kernels' instruction set)."""
    return dw.lanes(dtype, dw.VEC_BYTES)


#: channel-block cases, as (batch, planes per image in blocks, m, output size, kernel,
#: stride, dilation): whole blocks and a part block; rows shorter than a vector (laid out
#: through a scratch block) and longer (chunks moved back to the row's end), fewer
#: outputs than one step of four, planes of fewer positions than a vector, a channel
#: multiplier (lanes not a fixed step apart: element by element), strides, dilations, 3-D
CHAN_CASES = {
    "whole-blocks": (2, 1.0, 1, (9, -1), (3, 3), (1, 1), (1, 1)),       # -1: 2 L + 2 columns
    "part-block": (3, 0.7, 1, (6, 5), (3, 3), (1, 1), (1, 1)),
    "narrow-rows": (2, 1.0, 1, (4, 7), (5, 5), (1, 1), (1, 1)),
    "one-position": (2, 1.0, 1, (1, 1), (3, 3), (1, 1), (1, 1)),
    "three-columns": (1, 1.5, 1, (5, 3), (3, 2), (1, 1), (1, 1)),
    "multiplier": (2, 1.0, 2, (5, 9), (3, 3), (1, 1), (1, 1)),
    "strided": (2, 1.0, 1, (7, 13), (3, 3), (2, 2), (1, 1)),
    "dilated": (1, 2.0, 1, (6, 9), (3, 3), (1, 1), (2, 3)),
    "mixed": (2, 1.0, 1, (5, 10), (4, 2), (3, 1), (1, 2)),
    "3-D": (2, 1.0, 1, (3, 4, 6), (2, 3, 3), (1, 2, 1), (2, 1, 1)),
}


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("case", list(CHAN_CASES.values()), ids=list(CHAN_CASES))
def test_channel_blocks(dtype, case, rng):
    """Planes with short rows and many channels run a vector of planes at a time (their
    input laid out lane by lane, their output written back): against the reference,
    with and without a bias, on one thread and on two."""
    batch, blocks, m, size, kernel, stride, dilation = case
    size = tuple(2 * lanes(dtype) + 2 if n == -1 else n for n in size)
    channels = max(1, round(blocks * lanes(dtype)) // m)
    x, w = arrays(rng, batch, channels, m, size, kernel, stride, dilation, dtype, extra=1)
    assert dw._plan(problem_for(x, w, stride, dilation))[2][4] == dw.CHANS
    bias = rng.standard_normal(w.shape[0]).astype(dtype)
    one = check(x, w, stride, dilation, workers=1, bias=bias)
    np.testing.assert_array_equal(one, check(x, w, stride, dilation, workers=2, bias=bias))
    check(x, w, stride, dilation)


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("cols", [3, 12, 20, 40, 60])
def test_channel_blocks_read_only_their_input(dtype, cols, rng):
    """The last block (three planes) ends at the input's last element: its lanes past the
    planes are not read as further planes, and a chunk of a row that would read on past
    the input is laid out element by element."""
    x, w = arrays(rng, 1, lanes(dtype) + 3, 1, (3, cols), (3, 3), (1, 1), (1, 1), dtype)
    if dw._plan(problem_for(x, w, (1, 1), (1, 1)))[2][4] != dw.CHANS:
        pytest.skip("rows this wide run in bands on this instruction set")
    xg = guarded(x)
    if xg is None:
        pytest.skip("needs mmap and mprotect")
    np.testing.assert_array_equal(check(xg, w, (1, 1), (1, 1)), check(x, w, (1, 1), (1, 1)))


def test_channel_blocks_only_where_they_pay():
    """Short rows and enough planes for a block; wide rows, few planes, 1-D and planes too
    large for L2 keep the bands and flat runs."""
    def kind(batch, channels, size, stride=1, dtype=np.float32):
        out = tuple((n - 3) // stride + 1 for n in size)
        p = LayerProblem(batch, channels, channels, channels, size, (3,) * len(size),
                         (stride,) * len(size), (1,) * len(size), out, np.dtype(dtype))
        return dw._plan(p)[2][4]
    L = lanes(np.float32)
    assert kind(8, 128, (L + 4, L + 4)) == dw.CHANS == kind(8, 960, (9, 9))
    small = LayerProblem(8, 960, 960, 960, (9, 9), (3, 3), (1, 1), (1, 1), (7, 7),
                         np.dtype(np.float32))
    assert f"channel blocks of {L} planes" in dw.describe(small)
    assert kind(8, 64, (3 * L + 2, 3 * L + 2)) == dw.BANDS            # rows of three vectors
    assert kind(8, 64, (6 * L + 1, 6 * L + 1), stride=2) == dw.CHANS  # three, strided
    assert kind(1, L - 1, (L + 4, L + 4)) != dw.CHANS                # fewer planes than lanes
    assert kind(8, 64, (30,)) == dw.RUNS                               # 1-D
    assert kind(8, 64, (2000, 20)) != dw.CHANS                        # a plane past L2


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int64],
                         ids=lambda d: np.dtype(d).name)
def test_the_channel_block_intrinsics(dtype):
    """``vec_transpose_at``: vectors ``sstep`` apart, transposed into vectors ``dstep`` apart,
    nothing else written; ``vec_fma_pair_at``: a lane-by-lane multiply-add."""
    from numba import njit
    from numbaconv._kernels.simd import (vec_fma_pair_at, vec_load_at, vec_store_at,
                                         vec_transpose_at, vec_zeros)

    @njit
    def transpose(a, s0, ss, b, d0, ds):
        vec_transpose_at(a, s0, ss, b, d0, ds)

    @njit
    def pair(acc, w, i, x, j):
        v = vec_zeros(acc)
        vec_load_at(v, acc, 0)
        vec_fma_pair_at(v, w, i, x, j)
        vec_store_at(v, acc, 0)

    L = lanes(dtype)
    a = np.arange(40 * L, dtype=dtype)
    b = np.zeros(8 * L * L, dtype)
    transpose(a, 3, 2 * L + 1, b, 5, L + 2)
    want = np.zeros_like(b)
    for i in range(L):
        for j in range(L):
            want[5 + j * (L + 2) + i] = a[3 + i * (2 * L + 1) + j]
    np.testing.assert_array_equal(b, want)
    acc = np.arange(L, dtype=dtype)
    w, x = np.arange(2 * L, dtype=dtype) + 1, np.arange(3 * L, dtype=dtype) - 5
    pair(acc, w, 1, x, 2)
    np.testing.assert_array_equal(acc, np.arange(L, dtype=dtype) + w[1:L + 1] * x[2:L + 2])


@pytest.fixture
def fresh_layouts():
    """Layout decisions made under a patched threshold are forgotten afterwards."""
    dw._layout.cache_clear()
    yield
    dw._layout.cache_clear()


@pytest.mark.parametrize("cols", [9, 90], ids=["flat", "bands"])
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_one_thread_two_threads_and_row_tiles(dtype, cols, rng, monkeypatch, fresh_layouts):
    """The serial and the parallel kernel agree; a single plane is cut into row tiles (rows
    narrower than a vector are written as whole vectors only inside their own tile)."""
    x, w = arrays(rng, 1, 1, 1, (61, cols), (5, 5), (1, 1), (1, 1), dtype)
    one = check(x, w, (1, 1), (1, 1), workers=1)
    monkeypatch.setattr(dw, "parallel_pays", lambda *args: True)
    threads, tiles, rows, _ = dw._layout(problem_for(x, w, (1, 1), (1, 1)), 2)
    assert tiles * rows >= 61 and (tiles > 1) == (threads > 1)
    for _ in range(5):
        two = check(x, w, (1, 1), (1, 1), workers=2)
        np.testing.assert_array_equal(one, two)


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_inputs_are_not_modified(dtype, rng):
    x, w = arrays(rng, 2, 4, 2, (9, 40), (3, 3), (2, 1), (1, 2), dtype)
    x0, w0 = x.copy(), w.copy()
    check(x, w, (2, 1), (1, 2))
    np.testing.assert_array_equal(x, x0)
    np.testing.assert_array_equal(w, w0)


def guarded(values):
    """A copy of ``values`` that ends where an unreadable page begins (Linux), or None.

    A kernel that reads past the end of its input then faults instead of
    reading whatever memory follows.
    """
    libc = ctypes.util.find_library("c")
    if not sys.platform.startswith("linux") or not libc:
        return None
    page = mmap.PAGESIZE
    nbytes = values.nbytes
    span = -(-nbytes // page) * page
    region = mmap.mmap(-1, span + page, prot=mmap.PROT_READ | mmap.PROT_WRITE)
    base = ctypes.addressof(ctypes.c_char.from_buffer(region))
    mprotect = ctypes.CDLL(libc, use_errno=True).mprotect
    mprotect.argtypes = (ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int)
    if mprotect(base + span, page, 0) != 0:           # PROT_NONE
        return None
    GUARDS.append(region)                      # the mapping outlives the test's arrays
    out = np.frombuffer(region, dtype=values.dtype, count=values.size,
                        offset=span - nbytes).reshape(values.shape)
    out[...] = values
    return out


#: guarded mappings stay mapped for the session (an array may still view them)
GUARDS = []


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("case", [((2, 3), (3, 3), 1), ((3, 40), (3, 3), 1), ((2, 7), (3, 3), 2),
                                  ((3, 58), (3, 3), 1), ((3, 30), (3, 3), 1),
                                  ((1, 150), (5, 4), 1), ((9, 9), (3, 3), 3), ((61,), (7,), 1),
                                  ((2, 3, 20), (2, 3, 3), 1)],
                         ids=lambda c: "x".join(map(str, c[0])) + "-k" + "x".join(map(str, c[1]))
                         + "-s%d" % c[2])
def test_reads_stay_inside_the_input(dtype, case, rng):
    """The last plane's windows end at the input's last element: nothing past it is read
    (bands shorter than four rows, the quarter block that reads into the next plane)."""
    size, kernel, s = case
    step = (s,) * len(kernel)
    x, w = arrays(rng, 2, 2, 2, size, kernel, step, (1,) * len(kernel), dtype)
    xg = guarded(x)
    if xg is None:
        pytest.skip("needs mmap and mprotect")
    np.testing.assert_array_equal(check(xg, w, step, (1,) * len(kernel)),
                                  check(x, w, step, (1,) * len(kernel)))


def test_empty_batch():
    x = np.zeros((0, 3, 10, 10), np.float32)
    w = np.ones((3, 1, 3, 3), np.float32)
    out = dw.run(problem_for(x, w, (1, 1), (1, 1)), x, w)
    assert out.shape == (0, 3, 8, 8) and out.dtype == np.float32


def test_non_finite_values_stay_local():
    """NaN and inf reach only the outputs whose windows hold them."""
    x = np.ones((1, 1, 12, 40))
    x[0, 0, 5, 20] = np.nan
    x[0, 0, 1, 3] = np.inf
    w = np.ones((1, 1, 3, 3))
    got = dw.run(problem_for(x, w, (1, 1), (1, 1)), x, w)
    want = reference(np.nan_to_num(x, nan=0.0, posinf=0.0), w, (1, 1), (1, 1))
    want[0, 0, 3:6, 18:21] = np.nan
    want[0, 0, 0:2, 1:4] = np.inf
    np.testing.assert_array_equal(got, want)


@st.composite
def cases(draw):
    ndim = draw(st.integers(1, 3))
    kernel = tuple(draw(st.lists(st.integers(1, 5), min_size=ndim, max_size=ndim)))
    stride = tuple(draw(st.lists(st.integers(1, 3), min_size=ndim, max_size=ndim)))
    dilation = tuple(draw(st.lists(st.integers(1, 3), min_size=ndim, max_size=ndim)))
    limit = {1: 80, 2: 40, 3: 12}[ndim]
    size = tuple(draw(st.lists(st.integers(1, limit), min_size=ndim, max_size=ndim)))
    return dict(dtype=draw(st.sampled_from(DTYPES)), batch=draw(st.integers(1, 3)),
                channels=draw(st.integers(1, 3)), m=draw(st.integers(1, 3)), size=size,
                kernel=kernel, stride=stride, dilation=dilation,
                extra=draw(st.integers(0, 2)), seed=draw(st.integers(0, 2**16)))


@settings(max_examples=60, deadline=None)
@given(cases())
def test_sweep(case):
    """Any rank, per-axis kernels, strides and dilations, channel multipliers, batches."""
    rng = np.random.default_rng(case.pop("seed"))
    stride, dilation = case["stride"], case["dilation"]
    x, w = arrays(rng, **case)
    check(x, w, stride, dilation)


# ---------------------------------------------------------------- contract

def test_supports_only_forward_depthwise_on_the_cpu():
    def lp(channels, out_channels, groups, **kw):
        return LayerProblem(2, channels, out_channels, groups, (10, 10), (3, 3), (1, 1), (1, 1),
                            (8, 8), np.dtype(np.float32), **kw)
    assert dw.supports(lp(4, 4, 4))
    assert dw.supports(lp(4, 8, 4))
    assert dw.supports(lp(1, 3, 1))                     # one channel: groups == channels
    assert not dw.supports(lp(4, 4, 1))                 # a dense layer
    assert not dw.supports(lp(4, 4, 2))                 # two channels per group
    assert not dw.supports(lp(4, 4, 4, transposed=True, start=(0, 0)))
    assert not dw.supports(lp(4, 4, 4, device="cuda"))
    assert not dw.supports(dataclass_replace(lp(4, 4, 4), dtype=np.dtype(np.float16)))


def dataclass_replace(problem, **kw):
    import dataclasses
    return dataclasses.replace(problem, **kw)


def test_cost_and_describe():
    def lp(batch, kernel, dtype=np.float32, stride=1):
        size = 56 + kernel - 1
        out = (size - kernel) // stride + 1
        return LayerProblem(batch, 64, 64, 64, (size, size), (kernel, kernel), (stride, stride),
                            (1, 1), (out, out), np.dtype(dtype))
    small, large = dw.cost(lp(1, 3)), dw.cost(lp(8, 3))
    assert 0 < small < large
    assert dw.cost(lp(8, 3)) < dw.cost(lp(8, 7)) < dw.cost(lp(8, 7, np.float64))
    assert dw.cost(lp(8, 7), workers=1) > dw.cost(lp(8, 7), workers=2)
    assert isinstance(dw.describe(lp(8, 3, stride=2)), str)
    assert "phase" in dw.describe(lp(8, 3, stride=2))


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("layer", [(64, 3, 1), (128, 7, 3)], ids=["3x3-64", "7x7-128"])
def test_the_dispatcher_chooses_it_for_depthwise_layers(dtype, layer):
    channels, k, pad = layer
    x = np.zeros((8, channels, 56, 56), dtype)
    w = np.zeros((channels, 1, k, k), dtype)
    for method in ("auto", "direct"):
        choice = nn.explain(nn.conv2d, x, w, padding=pad, groups=channels, method=method)
        assert choice.backend == "cpu_layer_depthwise", str(choice)


def test_through_the_layer_function(rng):
    """``numbaconv.nn.conv2d`` with ``groups == channels`` (padding, bias, the dispatcher)."""
    x = rng.standard_normal((2, 6, 20, 33)).astype(np.float32)
    w = rng.standard_normal((12, 1, 3, 3)).astype(np.float32)
    b = rng.standard_normal(12).astype(np.float32)
    got = nn.conv2d(x, w, b, padding=1, groups=6)
    want = reference(np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1))), w, (1, 1), (1, 1))
    want += b.reshape(1, -1, 1, 1)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-4)
    assert math.isfinite(nn.explain(nn.conv2d, x, w, b, padding=1, groups=6).costs[dw.NAME])
