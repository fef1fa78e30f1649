"""Property tests: random problems, numbaconv against scipy.signal.

Problems are drawn from regimes that reach every code path:

* ``small``: rank 1-3, 0-12 elements per axis (empty axes, the kernel the
  larger input), every dtype pair (each dtype with itself, and any two of
  bool, the integers, float16/32/64 and complex64/128) and memory layout
  (C, Fortran, strided, reversed, big-endian);
* ``long``: 1-D signals of up to 4000 samples and kernels of up to 40 taps
  (register blocks, ragged tails, padded edge columns);
* ``wide``: 1-D signals of up to 4000 samples and kernels of 100-1500 taps
  (FFT and overlap-add);
* ``image``: 2-D images up to 100 x 100 and kernels up to 40 x 40 (the
  parallel direct kernel, FFT);
* ``rank1``: 2-D images with rank-1 kernels (the separable path);
* special values (:func:`test_fuzz_special_values`): NaN, +-inf, +-0, huge
  (near the dtype's maximum), tiny and subnormal numbers sprinkled into or
  scaling the inputs of every array function, 2-D fill values among them.

numbaconv and SciPy must raise the same exception type or agree within the
tolerance table.  With special values the reference is SciPy's direct
method: numbaconv's direct results keep NaN and inf exactly where it puts
them, FFT methods may spread them further but never hide one, and outputs
whose sums come near the dtype's maximum (where the order of summation
decides between a number and inf) are left out.
:func:`test_fuzz_explain` checks that ``explain`` raises exactly where
``convolve`` does, and :func:`test_fuzz_auto_reaches_every_backend` that
``method='auto'`` chose each CPU backend at least once, and that the direct
kernel ran padded rows and its parallel variant.

The runs are derandomised and use no example database, so CI is
reproducible, and bounded (a few seconds per test).  For a longer run set
``NUMBACONV_FUZZ_EXAMPLES``, the number of examples every test draws::

    NUMBACONV_FUZZ_EXAMPLES=2000 python -m pytest -q tests/test_fuzz.py
"""
from __future__ import annotations

import collections
import math
import os
import warnings

import numpy as np
import pytest
import scipy.signal as ss
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import naive
import numbaconv
from helpers import (DTYPE_PAIRS, METHODS, MODES, call_ours, call_ref, call_scipy, check_2d,
                     check_conv, check_fft, magnitude, make_array, native, run_both)
from numbaconv import _dispatch, _plans
from numbaconv._backends import cpu_direct
from numbaconv._tools import tolerance

#: examples every test draws when set (a longer run); unset, each test's own bound
EXAMPLES = os.environ.get("NUMBACONV_FUZZ_EXAMPLES")


def fuzz(examples):
    """Hypothesis settings of one fuzz test: ``examples`` (or ``NUMBACONV_FUZZ_EXAMPLES``)."""
    return settings(max_examples=int(EXAMPLES) if EXAMPLES else examples, deadline=None,
                    derandomize=True, database=None, suppress_health_check=list(HealthCheck),
                    print_blob=False)


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
#: the dtypes numbaconv computes itself (the others go to SciPy): any two make a pair
NUMERIC = [np.bool_, np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16, np.uint32,
           np.uint64, np.float16, np.float32, np.float64, np.complex64, np.complex128]
#: every dtype with itself (long double and the chosen mixed pairs too), or any two numeric ones
dtype_pairs = st.one_of(st.sampled_from(DTYPE_PAIRS),
                        st.tuples(st.sampled_from(NUMERIC), st.sampled_from(NUMERIC)))

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
        dt1, dt2 = draw(dtype_pairs)
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
    """convolve/correlate over every regime and method, against SciPy."""
    regime, a, b = problem
    if method == "separable" and (regime != "rank1" or mode == "valid"):
        method = "auto"              # rejections and 'valid' swaps: test_cpu_separable
    _untouched(a, b, lambda: check_conv(fname, a, b, mode, method))


@fuzz(300)
@given(problem=problems(("small", "long", "wide", "image")),
       fname=st.sampled_from(["fftconvolve", "oaconvolve"]),
       mode=st.sampled_from(MODES), axes_seed=st.integers(0, 2 ** 16), use_axes=st.booleans())
def test_fuzz_fftconvolve_oaconvolve(problem, fname, mode, axes_seed, use_axes):
    """fftconvolve/oaconvolve, with and without axes, against SciPy."""
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
    """convolve2d/correlate2d with every boundary and its aliases, against SciPy."""
    _, a, b = problem
    # scipy.signal's wrap/symm kernels crash the process (SIGFPE) on empty inputs
    assume(boundary in ("fill", "pad") or (a.size and b.size))
    _untouched(a, b, lambda: check_2d(fname, a, b, mode, boundary, fillvalue))


@fuzz(150)
@given(problem=problems(), mode=st.sampled_from(MODES))
def test_fuzz_choose_conv_method(problem, mode):
    """choose_conv_method raises where SciPy's does, and otherwise answers in its words."""
    _, a, b = problem
    out = run_both(lambda: numbaconv.choose_conv_method(a, b, mode),
                   lambda: ss.choose_conv_method(native(a), native(b), mode))
    if out.ok:
        assert out.ours in ("direct", "fft")


def test_fuzz_auto_reaches_every_backend(monkeypatch):
    """method='auto' over the regimes chooses every CPU backend at least once.

    The direct kernel runs padded rows and its parallel variant too, each
    call checked against SciPy.
    """
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


# --------------------------------------------------------------------------
# special values
# --------------------------------------------------------------------------

#: the values sprinkled into floating inputs (per dtype: see _special)
SPECIALS = ("nan", "inf", "-inf", "zero", "-zero", "huge", "-huge", "tiny", "subnormal")
#: dtypes that hold special values, and the ones they meet in mixed pairs
SPECIAL_DTYPES = [np.float16, np.float32, np.float64, np.complex64, np.complex128]
PARTNER_DTYPES = SPECIAL_DTYPES + [np.bool_, np.int8, np.uint8, np.int32, np.int64]
ARRAY_FUNCS = ("convolve", "correlate", "fftconvolve", "oaconvolve", "convolve2d", "correlate2d")


def _real(dtype):
    dtype = np.dtype(dtype)
    return np.dtype(dtype.char.lower()) if dtype.kind == "c" else dtype


def _special(name, dtype, rng):
    """Return the value ``name`` in ``dtype``'s range (huge: a random share of its maximum)."""
    fi = np.finfo(_real(dtype))
    return {"nan": np.nan, "inf": np.inf, "-inf": -np.inf, "zero": 0.0, "-zero": -0.0,
            "huge": float(fi.max) * rng.choice([0.3, 0.9, 1e-3]),
            "-huge": -float(fi.max) * rng.choice([0.3, 0.9, 1e-3]),
            "tiny": float(fi.tiny) * rng.choice([1.0, 3.0]),
            "subnormal": float(fi.smallest_subnormal) * rng.choice([1.0, 7.0])}[name]


def _sprinkle(draw, x, rng):
    """``x`` with a few special values, and sometimes scaled to the tiny or huge end."""
    if x.dtype.kind not in "fc" or x.size == 0:
        return x
    fi = np.finfo(_real(x.dtype))
    scale = draw(st.sampled_from(["one", "one", "one", "tiny", "huge"]))
    with np.errstate(all="ignore"):
        if scale == "tiny":
            x = (x * (float(fi.tiny) * 4)).astype(x.dtype)
        elif scale == "huge":
            x = (x * (float(fi.max) / (4 * x.size))).astype(x.dtype)
    flat = x.reshape(-1)
    for _ in range(draw(st.integers(0, 3))):
        i = int(rng.integers(flat.size))
        value = _special(draw(st.sampled_from(SPECIALS)), x.dtype, rng)
        if x.dtype.kind == "c" and draw(st.booleans()):
            flat[i] = complex(flat[i].real, value)
        else:
            flat[i] = value
    return x


@st.composite
def special_problems(draw, ndim=None):
    """Draw ``(a, b)``: small (or, now and then, long 1-D) inputs holding special values."""
    seed = draw(st.integers(0, 2 ** 32 - 1))
    rng = np.random.default_rng(seed)
    nd = draw(st.integers(1, 2)) if ndim is None else ndim
    dt1 = draw(st.sampled_from(SPECIAL_DTYPES))
    dt2 = draw(st.sampled_from(PARTNER_DTYPES))
    if draw(st.booleans()):
        dt1, dt2 = dt2, dt1
    if nd == 1 and draw(st.integers(0, 4)) == 0:     # long enough for 'auto' to weigh an FFT
        sa, sb = (draw(st.integers(500, 3000)),), (draw(st.integers(30, 300)),)
    else:
        sa = tuple(draw(st.lists(st.integers(1, 12), min_size=nd, max_size=nd)))
        sb = tuple(draw(st.lists(st.integers(1, 6), min_size=nd, max_size=nd)))
    a = _sprinkle(draw, make_array(sa, dt1, rng), rng)
    b = _sprinkle(draw, make_array(sb, dt2, rng), rng)
    a = LAYOUTS[draw(st.sampled_from(sorted(LAYOUTS)))](a)
    b = LAYOUTS[draw(st.sampled_from(sorted(LAYOUTS)))](b)
    return a, b


def _scipy_call(fname, mode, method, boundary, fillvalue):
    sp = getattr(ss, fname)
    if fname in ("convolve", "correlate"):
        return lambda x, y: sp(x, y, mode, method=method)
    if fname in ("convolve2d", "correlate2d"):
        return lambda x, y: sp(x, y, mode, boundary, fillvalue)
    return lambda x, y: sp(x, y, mode)


def _widest(dtype):
    return np.complex128 if np.dtype(dtype).kind == "c" else np.float64


def _naive(fname, a, b, mode, dtype):
    """Sum directly in double precision (no zero fill multiplied), cast to ``dtype``.

    None where the oracle has no answer (fftconvolve's 'valid' over axes of length 1).
    """
    wide = _widest(np.result_type(a, b))
    op = naive.correlate if fname == "correlate" else naive.convolve
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return op(a.astype(wide), b.astype(wide), mode).astype(dtype)
        except ValueError:
            return None


def _nonfinite_agree(ours, ref, where):
    """NaN and inf at the same positions among ``where`` (complex: non-finite alike)."""
    if ours.dtype.kind == "c":
        return np.array_equal(~np.isfinite(ours) & where, ~np.isfinite(ref) & where)
    return (np.array_equal(np.isnan(ours) & where, np.isnan(ref) & where)
            and np.array_equal(np.isposinf(ours) & where, np.isposinf(ref) & where)
            and np.array_equal(np.isneginf(ours) & where, np.isneginf(ref) & where))


def check_special(fname, a, b, mode, method, boundary="fill", fillvalue=0):
    """Check numbaconv on inputs with special values against SciPy (see the module docstring)."""
    ctx = f"[{fname} mode={mode} method={method} boundary={boundary} fillvalue={fillvalue} " \
          f"{a.dtype.str}{a.shape} {b.dtype.str}{b.shape}]"
    kw = {"method": method} if fname in ("convolve", "correlate") else {}
    if fname.endswith("2d"):
        kw = {"boundary": boundary, "fillvalue": fillvalue}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ours, ours_exc = call_ours(lambda: getattr(numbaconv, fname)(a, b, mode, **kw))
    sp_method = "fft" if method in ("oa", "separable") else method
    ref, ref_exc = call_scipy(_scipy_call(fname, mode, sp_method, boundary, fillvalue), a, b)
    if ref_exc is not None and method in ("auto", "oa", "separable"):
        for alt in ("fft", "direct"):      # SciPy's own choice raised; another method may not
            ref, alt_exc = call_scipy(_scipy_call(fname, mode, alt, boundary, fillvalue), a, b)
            if alt_exc is None:
                ref_exc = None if ours_exc is None else ref_exc
                break
    if ref_exc is not None:
        assert ours_exc is not None, f"scipy raised {ref_exc!r}, numbaconv returned {ctx}"
        assert isinstance(ours_exc, type(ref_exc)) or method in ("oa", "separable"), \
            f"scipy raised {ref_exc!r}, numbaconv {ours_exc!r} {ctx}"
        return
    if ours_exc is not None:
        raise AssertionError(f"scipy returned, numbaconv raised {ours_exc!r} {ctx}") from ours_exc
    ref = np.asarray(ref)
    assert ours.dtype == ref.dtype and ours.shape == ref.shape, \
        f"{ours.dtype}{ours.shape} != scipy's {ref.dtype}{ref.shape} {ctx}"
    if ours.size == 0:
        return
    na, nb = native(a), native(b)
    fft_like = fname in ("fftconvolve", "oaconvolve") or method in ("fft", "oa")
    # the strong reference: SciPy's direct method, where it has one for these inputs
    direct = None
    if fname in ("convolve2d", "correlate2d"):
        direct = ref
    elif fname in ("convolve", "correlate"):
        direct, exc = call_ref(lambda: getattr(ss, fname)(na, nb, mode, method="direct"))
        direct = None if exc is not None else np.asarray(direct)
    weak = _naive(fname, na, nb, mode, ours.dtype) if not fname.endswith("2d") else ref
    op = "convolve" if fname in ("fftconvolve", "oaconvolve") else fname
    mag, rms, top = _magnitudes(op, na, nb, mode, boundary, fillvalue)
    big = float(np.finfo(_real(ours.dtype)).max) / 2 if ours.dtype.kind in "fc" else math.inf
    # where the sum of |terms| passes the maximum, one order of summation may overflow and
    # another not: left out, unless the direct result and the terms' spread (partial sums
    # wander about as far as the root of the summed squares) stay well below it
    certain = mag <= big
    if direct is not None and direct.dtype.kind in "fc":
        with np.errstate(invalid="ignore"):
            certain |= (np.abs(direct) <= big / 16) & (8 * rms <= big)
    # an FFT's inverse sums N products of spectra, each up to sum|a| * sum|b|: past the
    # maximum it may overflow anywhere (for 'auto' too: see test_auto_fft_may_overflow)
    spectra = _abs_sum(na) * _abs_sum(nb) * (na.size + nb.size)
    if not spectra <= big and (fft_like or (method == "auto" and explain_method(
            fname, na, nb, mode) in _dispatch.FFT_METHODS)):
        certain[...] = False
    reference = direct if (direct is not None and not fft_like) else weak
    if reference is None:
        return
    if direct is not None and not fft_like:
        assert _nonfinite_agree(ours, direct, certain), \
            f"NaN/inf at other places than SciPy's direct method {ctx}"
    else:
        hidden = ~np.isfinite(weak) & np.isfinite(ours) & certain
        assert not hidden.any(), f"a finite output where the direct sum is NaN/inf {ctx}"
    if ours.dtype.kind not in "fc":
        np.testing.assert_array_equal(ours, reference, err_msg=ctx)
        return
    check = certain & np.isfinite(ours) & np.isfinite(reference)
    if not check.any():
        return
    taps = max(1, min(na.size, nb.size))
    n_fft = max(2, na.size + nb.size) if (fft_like or method == "auto") else 2
    e = tolerance.eps(ours.dtype, na.dtype, nb.dtype)
    finite_mag = np.where(np.isfinite(mag), mag, 0.0)
    bound = tolerance.allowed_error(finite_mag, e, taps, n_fft, top if n_fft > 2 else None)
    # subnormal numbers keep only absolute precision: a few of the smallest steps per term,
    # and in an FFT each step is multiplied by the other input's spectrum, up to sum|x|
    step = float(np.finfo(_real(ours.dtype)).smallest_subnormal)
    bound = bound + 4 * (taps + n_fft.bit_length()) * step
    if n_fft > 2:
        bound = bound + 4 * n_fft.bit_length() * step * (_abs_sum(na) + _abs_sum(nb))
    with np.errstate(all="ignore"):
        err = np.abs(ours.astype(_widest(ours.dtype)) - reference.astype(_widest(ours.dtype)))
    bad = check & ~(err <= bound)
    assert not bad.any(), \
        f"|error| {err[bad].max():.3g} > allowed {bound[bad].min():.3g} at " \
        f"{np.argwhere(bad)[0].tolist()} {ctx}"


def _abs_sum(x) -> float:
    """``sum |x|`` of the finite values, in double precision (inf where it overflows)."""
    with np.errstate(all="ignore"):
        y = np.abs(x.astype(_widest(x.dtype)))
        return float(np.where(np.isfinite(y), y, 0.0).sum())


def _magnitudes(op, a, b, mode, boundary, fillvalue):
    """Return ``(|a| * |b|, sqrt(|a|^2 * |b|^2), top)`` over ``op``'s output window.

    Computed on inputs scaled to at most 1 and scaled back, so that an FFT of
    huge values cannot overflow in the oracle itself (the results may still
    be inf: those outputs are near the maximum anyway).  Non-finite inputs
    count as 0; ``top`` is the largest magnitude of the full result, over
    which an FFT spreads its rounding.
    """
    fill = complex(fillvalue) if boundary in ("fill", "pad") else 0
    fill = abs(fill) if np.isfinite(fill) else 0.0
    A, B = (np.nan_to_num(np.abs(x.astype(_widest(x.dtype))), nan=0.0, posinf=0.0, neginf=0.0)
            for x in (a, b))
    sa, sb = max(float(A.max(initial=0.0)), fill) or 1.0, float(B.max(initial=0.0)) or 1.0
    A, B, fill = A / sa, B / sb, fill / sa
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mag = magnitude(op, A, B, mode, boundary=boundary, fillvalue=fill) * (sa * sb)
        rms = np.sqrt(np.maximum(magnitude(op, A * A, B * B, mode, boundary=boundary,
                                           fillvalue=fill * fill), 0.0)) * (sa * sb)
        full = magnitude(op, A, B, "full", boundary=boundary, fillvalue=fill) * (sa * sb)
    top = float(np.where(np.isfinite(full), full, 0.0).max(initial=0.0))
    return mag, rms, top


def explain_method(fname, a, b, mode):
    """Return the method ``explain`` names for ``method='auto'`` (None for the 2-D functions)."""
    if fname not in ("convolve", "correlate"):
        return None
    if fname == "correlate":
        b = np.conj(b[(slice(None, None, -1),) * b.ndim]) if b.ndim else b
    return numbaconv.explain(a, b, mode).method


@fuzz(500)
@given(problem=special_problems(), fname=st.sampled_from(ARRAY_FUNCS), mode=st.sampled_from(MODES),
       method=st.sampled_from(METHODS), boundary=st.sampled_from(["fill", "wrap", "symm"]),
       fillvalue=st.sampled_from([0, 1.5, -0.0, np.nan, np.inf, -np.inf, 1e300, 3e38, 2 - 1j]))
@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_fuzz_special_values(problem, fname, mode, method, boundary, fillvalue):
    """Every array function on inputs holding special values, against SciPy's direct method.

    NaN, inf, signed zeros, huge, tiny and subnormal values, in any layout and
    byte order, with special 2-D fill values too.
    """
    a, b = problem
    if fname.endswith("2d"):
        a, b = (a if a.ndim == 2 else a[None, :]), (b if b.ndim == 2 else b[None, :])
    elif a.ndim != b.ndim:
        b = b.reshape((1,) * (a.ndim - b.ndim) + b.shape)
    _untouched(a, b, lambda: check_special(fname, a, b, mode, method, boundary, fillvalue))


# --------------------------------------------------------------------------
# explain
# --------------------------------------------------------------------------

@fuzz(250)
@given(problem=st.one_of(problems(("small", "long", "image")), special_problems().map(
           lambda ab: ("special", *ab))),
       mode=st.sampled_from(MODES), method=st.sampled_from(METHODS + ["separable"]))
@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_fuzz_explain(problem, mode, method):
    """``explain`` raises the type ``convolve`` raises, and otherwise names a SciPy method.

    Where the inputs hold NaN or inf, the method it names for 'auto' keeps
    them local (no FFT method) unless every candidate is one.
    """
    _, a, b = problem
    if a.ndim != b.ndim:
        b = b.reshape((1,) * (a.ndim - b.ndim) + b.shape)
    choice, exc = call_ours(lambda: numbaconv.explain(a, b, mode, method))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _, conv_exc = call_ours(lambda: numbaconv.convolve(a, b, mode, method))
    if conv_exc is not None:
        assert exc is not None and isinstance(exc, type(conv_exc)), \
            f"convolve raised {conv_exc!r}, explain {exc!r} [{mode} {method}]"
        return
    assert exc is None, f"convolve returned, explain raised {exc!r} [{mode} {method}]"
    assert choice.scipy_method in ("direct", "fft")
    finite = all(x.dtype.kind not in "fc" or bool(np.isfinite(native(x)).all()) for x in (a, b))
    if method == "auto" and not finite and choice.backend != "scipy" and a.size and b.size:
        assert choice.method not in _dispatch.FFT_METHODS or any(
            "every candidate" in note for note in choice.vetoes), str(choice)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_auto_fft_may_overflow():
    """Finite sums of values far below the maximum, where 'auto' picks overlap-add.

    Every direct sum is finite (a thousand times below the float maximum), so
    the result should be too.
    """
    rng = np.random.default_rng(5)
    a, b = rng.standard_normal(20000) * 1e303, rng.standard_normal(2000)
    ref = ss.convolve(a, b, method="direct")
    assert np.isfinite(ref).all() and np.abs(ref).max() < np.finfo(np.float64).max / 100
    assert np.isfinite(numbaconv.convolve(a, b)).all()
