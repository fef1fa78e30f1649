"""Comparison helpers shared by the differential tests (test_compat, test_fuzz).

``check_conv`` / ``check_fft`` / ``check_2d`` run one call through
scipy.signal and numbaconv and assert the same outcome: the same exception
type, or the same dtype, shape and values.
"""
from __future__ import annotations

import numpy as np
import pytest
import scipy.signal as ss

import naive
from conftest import _maxabs, assert_matches_scipy, call_ours, call_ref, magnitude, native, nc, run_both

MODES = ["full", "same", "valid"]
METHODS = ["auto", "direct", "fft", "oa"]
#: numbaconv-only methods: SciPy's outcome is taken from method='fft'
EXTENSION_METHODS = ("oa", "separable")
INT_KINDS = "biu"


def shape_id(sa, sb):
    fmt = lambda s: "x".join(map(str, s)) if s else "0d"  # noqa: E731
    return f"a{fmt(sa)}-k{fmt(sb)}"


def _exact_ints_ok(a, b, dtype) -> bool:
    """Whether an FFT-based integer result can be exact (no overflow, < 2**52)."""
    dtype = np.dtype(dtype)
    try:
        bound = naive.exact_bound(a, b)
    except TypeError:
        return False
    if bound >= 2 ** 52:
        return False
    return dtype.kind == "b" or bound <= np.iinfo(dtype).max


def exact_reference(fname, a, b, mode, method, ref, axes=None):
    """The array to compare an integer/bool result with, or None (dtype/shape only).

    For 'auto'/'direct' numbaconv must equal SciPy's direct method, i.e. the
    naive wrapped result.  For FFT-based methods only when the exact result
    survives the round trip through float64 without overflow.
    """
    a, b = np.asarray(a), np.asarray(b)
    if a.size == 0 or b.size == 0 or a.ndim == 0:
        return ref
    if method not in ("auto", "direct") and not _exact_ints_ok(a, b, np.asarray(ref).dtype):
        return None
    func = naive.convolve if fname == "convolve" else naive.correlate
    out = func(a, b, mode, axes=axes)
    return out.astype(np.asarray(ref).dtype)


def check_conv(fname, a, b, mode="full", method="auto", *, equal_nan=True, **ours_kw):
    """Compare ``numbaconv.<fname>`` with ``scipy.signal.<fname>`` (convolve/correlate).

    Returns numbaconv's result (None when both raised).
    """
    sp = getattr(ss, fname)
    ra, rb = native(a), native(b)
    ref_method = "fft" if method in EXTENSION_METHODS else method
    ref, ref_exc = call_ref(lambda: sp(ra, rb, mode, method=ref_method))
    may_succeed = False
    if ref_exc is not None and (method == "auto" or method in EXTENSION_METHODS):
        # SciPy's 'auto' picks a method with a heuristic (and raises when it
        # picks 'direct' for e.g. N-D float16); numbaconv's choice may differ.
        # If another SciPy method handles the input, success is allowed too.
        for alt in ("fft", "direct"):
            alt_ref, alt_exc = call_ref(lambda: sp(ra, rb, mode, method=alt))
            if alt_exc is None:
                ref, may_succeed = alt_ref, True
                break
    ours, ours_exc = call_ours(lambda: getattr(nc(), fname)(a, b, mode, method=method, **ours_kw))
    ctx = f"[{fname} mode={mode} method={method}]"
    if ref_exc is not None and ours_exc is not None:
        allowed = (type(ref_exc),)
        if method in EXTENSION_METHODS:
            allowed = (ValueError, IndexError, TypeError)
        assert isinstance(ours_exc, allowed), \
            f"scipy raised {type(ref_exc).__name__}({ref_exc}), numbaconv raised " \
            f"{type(ours_exc).__name__}({ours_exc}) {ctx}"
        return None
    if ref_exc is not None and not may_succeed:
        pytest.fail(f"scipy raised {type(ref_exc).__name__}({ref_exc}) but numbaconv "
                    f"returned a result {ctx}")
    if ours_exc is not None:
        raise AssertionError(f"scipy succeeded but numbaconv raised "
                             f"{type(ours_exc).__name__}({ours_exc}) {ctx}") from ours_exc
    ref_a = np.asarray(ref)
    expected = ref
    if ref_a.dtype.kind in INT_KINDS:
        expected = exact_reference(fname, a, b, mode, method, ref)
        if expected is None:  # SciPy itself is inexact here: dtype and shape only
            assert np.asarray(ours).dtype == ref_a.dtype, ctx
            assert np.shape(ours) == ref_a.shape, ctx
            return ours
    assert_matches_scipy(ours, expected, a, b, equal_nan=equal_nan, err_msg=ctx)
    return ours


def check_fft(fname, a, b, mode="full", axes=None, **ours_kw):
    """Compare fftconvolve/oaconvolve."""
    out = run_both(lambda: getattr(nc(), fname)(a, b, mode, axes=axes, **ours_kw),
                   lambda: getattr(ss, fname)(native(a), native(b), mode, axes=axes),
                   context=f"[{fname} mode={mode} axes={axes}]")
    if out.ok:
        assert_matches_scipy(out.ours, out.ref, a, b, err_msg=f"[{fname} mode={mode} axes={axes}]")
    return out


def check_2d(fname, a, b, mode="full", boundary="fill", fillvalue=0, *, equal_nan=True, **ours_kw):
    """Compare convolve2d/correlate2d."""
    ctx = f"[{fname} mode={mode} boundary={boundary} fillvalue={fillvalue}]"
    out = run_both(lambda: getattr(nc(), fname)(a, b, mode, boundary, fillvalue, **ours_kw),
                   lambda: getattr(ss, fname)(native(a), native(b), mode, boundary, fillvalue),
                   context=ctx)
    if out.ok:
        # errors scale with the signal, the kernel and the fill value around the signal
        fill = abs(complex(fillvalue)) if np.ndim(fillvalue) == 0 and fillvalue is not None else 0.0
        kernel_l1 = float(np.nansum(np.abs(np.asarray(b, dtype=np.complex128)))) if np.size(b) else 0.0
        scale = max(_maxabs(out.ref), magnitude(a, b) + fill * kernel_l1)
        assert_matches_scipy(out.ours, out.ref, a, b, scale=scale, equal_nan=equal_nan, err_msg=ctx)
    return out
