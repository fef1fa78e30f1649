"""Property tests: random problems, numbaconv against scipy.signal.

Problems are drawn from regimes that reach every code path:

* ``small``: rank 1-3, 0-12 elements per axis (empty axes, the kernel the
  larger input), every dtype pair and memory layout;
* ``long``: 1-D signals of up to 4000 samples and kernels of up to 40 taps
  (register blocks, ragged tails, padded edge columns);
* ``wide``: 1-D signals of up to 4000 samples and kernels of 100-1500 taps
  (FFT and overlap-add);
* ``image``: 2-D images up to 100 x 100 and kernels up to 40 x 40 (the
  parallel direct kernel, FFT);
* ``rank1``: 2-D images with rank-1 kernels (the separable path).

numbaconv and SciPy must raise the same exception type or agree within the
tolerance table.  :func:`test_fuzz_auto_reaches_every_backend` checks that
``method='auto'`` chose each CPU backend at least once, and that the direct
kernel ran padded rows and its parallel variant.  The runs are
derandomised and use no example database, so CI is reproducible.
"""
from __future__ import annotations

import collections

import numpy as np
import scipy.signal as ss
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import numbaconv
from helpers import DTYPE_PAIRS, METHODS, MODES, check_2d, check_conv, check_fft, make_array, native, run_both
from numbaconv import _dispatch, _plans
from numbaconv._backends import cpu_direct


def fuzz(examples):
    return settings(max_examples=examples, deadline=None, derandomize=True, database=None,
                    suppress_health_check=list(HealthCheck), print_blob=False)


LAYOUTS = {
    "c": lambda x: x,
    "reversed": lambda x: x[(slice(None, None, -1),) * x.ndim].copy()[(slice(None, None, -1),) * x.ndim],
    "strided": lambda x: np.repeat(x, 2, axis=-1)[..., ::2] if x.ndim else x,
    "fortran": np.asfortranarray,
    "bigendian": lambda x: x.astype(x.dtype.newbyteorder(">")),
}

#: dtypes of the large regimes (float16 only in 1-D: SciPy's N-D direct path rejects it)
LARGE_DTYPES = [np.float32, np.float64, np.complex64, np.complex128, np.int8, np.int16, np.int32,
                np.int64, np.uint8, np.uint64, np.bool_]
FLOAT_DTYPES = [np.float32, np.float64, np.complex64, np.complex128]

REGIMES = ("small", "long", "wide", "image", "rank1")


def _sizes(lo, hi, *typical):
    """Sizes in ``lo..hi``, often one of ``typical`` (hypothesis favours small values)."""
    return st.one_of(st.sampled_from(typical), st.integers(lo, hi))


@st.composite
def problems(draw, regimes=REGIMES, ndim=None):
    """``(regime, a, b)`` from one of ``regimes``."""
    regime = draw(st.sampled_from(regimes))
    seed = draw(st.integers(0, 2 ** 32 - 1))
    rng = np.random.default_rng(seed)
    small = draw(st.integers(0, 3)) > 0          # sometimes full-range integers (wrapping)
    if regime == "small":
        nd = draw(st.integers(1, 3)) if ndim is None else ndim
        lo = 0 if draw(st.integers(0, 4)) == 0 else 1     # one in five may have empty axes
        size = st.integers(lo, 12)
        sa = tuple(draw(st.lists(size, min_size=nd, max_size=nd)))
        sb = tuple(draw(st.lists(size, min_size=nd, max_size=nd)))
        dt1, dt2 = draw(st.sampled_from(DTYPE_PAIRS))
        a = make_array(sa, dt1, rng, small=small)
        b = make_array(sb, dt2, rng, small=small)
    elif regime in ("long", "wide"):
        dtype = draw(st.sampled_from(LARGE_DTYPES + [np.float16] if regime == "long" else FLOAT_DTYPES))
        n = draw(_sizes(1, 4000, 300, 4000) if regime == "long" else _sizes(500, 4000, 2000, 3000, 4000))
        m = draw(_sizes(1, 40, 8, 31, 40) if regime == "long" else _sizes(100, 1500, 200, 300, 700))
        if draw(st.integers(0, 5)) == 0:
            n, m = m, n                          # the kernel the longer input
        a, b = make_array((n,), dtype, rng, small=small), make_array((m,), dtype, rng, small=small)
    else:
        dtype = draw(st.sampled_from(LARGE_DTYPES if regime == "image" else FLOAT_DTYPES))
        sa = (draw(_sizes(8, 100, 64, 100)), draw(_sizes(8, 100, 64, 100)))
        if regime == "image":
            sb = (draw(_sizes(1, 40, 7, 40)), draw(_sizes(1, 40, 7, 40)))
            b = make_array(sb, dtype, rng, small=small)
        else:
            sb = (draw(_sizes(2, 40, 15, 25)), draw(_sizes(2, 40, 15, 25)))
            u, v = make_array((sb[0],), dtype, rng), make_array((sb[1],), dtype, rng)
            b = np.multiply.outer(u, v) if draw(st.booleans()) else np.multiply.outer(
                np.exp(-np.linspace(-2, 2, sb[0]) ** 2), v).astype(dtype)
        a = make_array(sa, dtype, rng, small=small)
    a = LAYOUTS[draw(st.sampled_from(sorted(LAYOUTS)))](a)
    b = LAYOUTS[draw(st.sampled_from(sorted(LAYOUTS)))](b)
    return regime, a, b


def _untouched(a, b, fn):
    a0, b0 = a.copy(), b.copy()
    fn()
    np.testing.assert_array_equal(a, a0, err_msg="in1 was modified")
    np.testing.assert_array_equal(b, b0, err_msg="in2 was modified")


@fuzz(600)
@given(problem=problems(), fname=st.sampled_from(["convolve", "correlate"]),
       mode=st.sampled_from(MODES), method=st.sampled_from(METHODS + ["separable"]))
def test_fuzz_convolve_correlate(problem, fname, mode, method):
    regime, a, b = problem
    if method == "separable" and (regime != "rank1" or mode == "valid"):
        method = "auto"              # rejections and 'valid' swaps: test_cpu_separable
    _untouched(a, b, lambda: check_conv(fname, a, b, mode, method))


@fuzz(300)
@given(problem=problems(("small", "long", "wide", "image")),
       fname=st.sampled_from(["fftconvolve", "oaconvolve"]),
       mode=st.sampled_from(MODES), axes_seed=st.integers(0, 2 ** 16), use_axes=st.booleans())
def test_fuzz_fftconvolve_oaconvolve(problem, fname, mode, axes_seed, use_axes):
    _, a, b = problem
    axes = None
    if use_axes:
        rng = np.random.default_rng(axes_seed)
        axes = sorted(set(rng.integers(-a.ndim, a.ndim, rng.integers(1, a.ndim + 1)).tolist()))
        # make the non-convolved axes broadcast-compatible most of the time
        if rng.random() < 0.8:
            norm = {ax % a.ndim for ax in axes}
            for ax in range(a.ndim):
                if ax not in norm and a.shape[ax] != b.shape[ax]:
                    b = np.take(b, [0] * a.shape[ax], axis=ax) if b.shape[ax] else b
    _untouched(a, b, lambda: check_fft(fname, a, b, mode, axes=axes))


@fuzz(300)
@given(problem=problems(("small", "image", "rank1"), ndim=2),
       fname=st.sampled_from(["convolve2d", "correlate2d"]), mode=st.sampled_from(MODES),
       boundary=st.sampled_from(["fill", "wrap", "symm", "pad", "circular", "symmetric"]),
       fillvalue=st.sampled_from([0, 1, -2, 0.5, 3.25]))
def test_fuzz_convolve2d_correlate2d(problem, fname, mode, boundary, fillvalue):
    _, a, b = problem
    # scipy.signal's wrap/symm kernels crash the process (SIGFPE) on empty inputs
    assume(boundary in ("fill", "pad") or (a.size and b.size))
    _untouched(a, b, lambda: check_2d(fname, a, b, mode, boundary, fillvalue))


@fuzz(150)
@given(problem=problems(), mode=st.sampled_from(MODES))
def test_fuzz_choose_conv_method(problem, mode):
    _, a, b = problem
    out = run_both(lambda: numbaconv.choose_conv_method(a, b, mode),
                   lambda: ss.choose_conv_method(native(a), native(b), mode))
    if out.ok:
        assert out.ours in ("direct", "fft")


def test_fuzz_auto_reaches_every_backend(monkeypatch):
    """method='auto' over the regimes chooses every CPU backend at least once, and the
    direct kernel runs padded rows and its parallel variant, each checked against SciPy."""
    chosen = collections.Counter()
    reached = collections.Counter()
    select = _dispatch.select

    def spy_select(*args, **kwargs):
        problem, choice = select(*args, **kwargs)
        chosen[choice.backend] += 1
        return problem, choice

    layout = cpu_direct._corr2d_layout

    def spy_layout(*args):
        pad_lo, pad_hi, chunk, threads = layout(*args)
        reached["padded"] += pad_lo + pad_hi > 0
        reached["parallel"] += threads > 1
        return pad_lo, pad_hi, chunk, threads

    monkeypatch.setattr(_dispatch, "select", spy_select)
    monkeypatch.setattr(cpu_direct, "_corr2d_layout", spy_layout)
    _plans.PLANS.clear()

    @fuzz(200)
    @given(problem=problems(("long", "wide", "image", "rank1")),
           fname=st.sampled_from(["convolve", "correlate"]), mode=st.sampled_from(MODES))
    def sweep(problem, fname, mode):
        _, a, b = problem
        check_conv(fname, a, b, mode, "auto")

    sweep()
    assert set(chosen) >= {"cpu_direct", "cpu_fft", "cpu_oa", "cpu_separable"}, chosen
    assert reached["padded"] and reached["parallel"], reached
