"""Helpers of numbaconv's differential test suite (``import helpers``).

SciPy is the oracle: every test computes the same call with
``scipy.signal`` and with ``numbaconv`` and compares the outcome.

* :func:`run_both` -- both libraries raise the same exception type, or both
  succeed (like CuPy's ``accept_error``); numbaconv never raises a Numba error.
* :func:`assert_matches_scipy` -- dtype, shape and values, with the one
  tolerance table :mod:`numbaconv._tools.tolerance`: integers and bool
  exactly, floats within a bound per element that comes from the same
  operation applied to ``np.abs`` of the inputs (in float64), plus the
  spread of FFT rounding where an FFT method may have run.
* :func:`check_conv` / :func:`check_fft` / :func:`check_2d` -- one call of a
  family through both libraries, compared.
* :func:`make_array` -- reproducible data for any dtype.

Only numbaconv's public functions and its tolerance table are imported
here, so that the same tests can run against an older tree.
"""
from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import scipy.signal as ss

import naive
from numbaconv._tools import tolerance

# --------------------------------------------------------------------------
# dtypes, modes, methods
# --------------------------------------------------------------------------

#: every dtype numbaconv must handle like scipy.signal
DTYPES = [np.bool_, np.int8, np.uint8, np.int16, np.uint16, np.int32, np.uint32,
          np.int64, np.uint64, np.float16, np.float32, np.float64, np.longdouble,
          np.complex64, np.complex128, np.clongdouble]

#: mixed pairs (in1 dtype, in2 dtype); the result dtype is np.result_type
MIXED = [(np.int8, np.float32), (np.int64, np.uint64), (np.float32, np.complex128),
         (np.uint8, np.int8), (np.bool_, np.int16), (np.float16, np.float32),
         (np.int32, np.float32), (np.uint16, np.complex64), (np.float64, np.longdouble),
         (np.float16, np.int8)]

#: (dtype1, dtype2) pairs: every dtype with itself, then the mixed pairs
DTYPE_PAIRS = [(d, d) for d in DTYPES] + MIXED

MODES = ["full", "same", "valid"]
METHODS = ["auto", "direct", "fft", "oa"]
#: numbaconv-only methods: SciPy's outcome is taken from method='fft'
EXTENSION_METHODS = ("oa", "separable")
INT_KINDS = "biu"
#: the public functions and the family each belongs to
FAMILIES = {"convolve": "conv", "correlate": "conv", "fftconvolve": "fft", "oaconvolve": "fft",
            "convolve2d": "2d", "correlate2d": "2d"}


def dtype_id(pair) -> str:
    """Readable test id for a dtype or a dtype pair."""
    if isinstance(pair, tuple):
        a, b = (np.dtype(x).name for x in pair)
        return a if a == b else f"{a}+{b}"
    return np.dtype(pair).name


DTYPE_PAIR_IDS = [dtype_id(p) for p in DTYPE_PAIRS]


def shape_id(sa, sb) -> str:
    """Readable test id for a pair of shapes."""
    def fmt(s):
        return "x".join(map(str, s)) if s else "0d"
    return f"a{fmt(sa)}-k{fmt(sb)}"


# --------------------------------------------------------------------------
# the tolerance: numbaconv._tools.tolerance, per element
# --------------------------------------------------------------------------

def _abs64(x) -> np.ndarray:
    """``|x|`` in float64 with NaN and inf as 0 (a finite output never summed them)."""
    x = np.asarray(x)
    if x.dtype.kind == "O":
        x = x.astype(np.complex128)
    y = np.abs(x.astype(np.complex128 if x.dtype.kind == "c" else np.float64))
    return np.nan_to_num(y, nan=0.0, posinf=0.0, neginf=0.0)


def magnitude(op, a, b, mode="full", *, axes=None, boundary="fill", fillvalue=0) -> np.ndarray:
    """``(|a| * |b|)`` over the output window of ``op``: the same operation on ``np.abs``
    of the inputs, in float64 (what every output's rounding error scales with)."""
    A, B = _abs64(a), _abs64(b)
    if A.ndim == 0 or A.size == 0 or B.size == 0:
        return A * B
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if op in ("convolve2d", "correlate2d"):
            fill = 0.0
            if boundary in ("fill", "pad") and fillvalue is not None and np.size(fillvalue) == 1:
                fill = float(np.nan_to_num(np.abs(np.asarray(fillvalue, dtype=np.complex128)).reshape(())))
            out = getattr(ss, op)(A, B, mode, boundary, fill)
        elif op == "correlate" and axes is None:
            out = ss.correlate(A, B, mode, method="fft")
        elif op == "correlate":
            ax = [int(x) for x in np.atleast_1d(axes)]
            out = ss.fftconvolve(A, np.flip(B, axis=tuple(ax)), mode, axes=ax)
        else:                                # convolve, fftconvolve, oaconvolve
            out = ss.fftconvolve(A, B, mode, axes=axes)
    return np.maximum(np.asarray(out, dtype=np.float64), 0.0)


def _taps(a, b, axes=None) -> int:
    a, b = np.asarray(a), np.asarray(b)
    if a.ndim == 0:
        return 1
    ax = range(a.ndim) if axes is None else [int(x) % a.ndim for x in np.atleast_1d(axes)]
    return max(1, math.prod(min(a.shape[i], b.shape[i]) for i in ax))


def _full_size(a, b, axes=None) -> int:
    a, b = np.asarray(a), np.asarray(b)
    if a.ndim == 0:
        return 1
    ax = range(a.ndim) if axes is None else [int(x) % a.ndim for x in np.atleast_1d(axes)]
    return max(2, math.prod(a.shape[i] + b.shape[i] - 1 for i in ax))


def allowed(ref, a, b, op="convolve", mode="full", *, axes=None, boundary="fill", fillvalue=0,
            fft=True):
    """:func:`numbaconv._tools.tolerance.allowed_error` of ``op`` on ``a`` and ``b``
    (0 where the result must be exact).  ``fft=False``: both sides are direct sums,
    so no FFT spread is allowed."""
    ref = np.asarray(ref)
    if tolerance.exact(ref.dtype) or ref.size == 0:
        return 0.0
    dts = [ref.dtype] + [np.asarray(x).dtype for x in (a, b)]
    # numbaconv hands long double to SciPy, whose methods are not all long-double accurate
    # (two SciPy methods differ by a double's eps): count it as float64
    e = tolerance.eps(*[np.float64 if d.kind in "fc" and d.itemsize > (16 if d.kind == "c" else 8)
                        else d for d in dts if d.kind != "O"])
    if np.size(a) == 0 or np.size(b) == 0:
        mag = _abs64(ref)                    # only fill values: their own scale
    else:
        mag = magnitude(op, a, b, mode, axes=axes, boundary=boundary, fillvalue=fillvalue)
    assert mag.shape == ref.shape, f"magnitude {mag.shape} of {op} is not the window {ref.shape}"
    n_fft = _full_size(a, b, axes) if fft else 2
    top = None
    if fft and mode != "full" and mag.size and np.size(a) and np.size(b):
        top = max(float(mag.max()), float(magnitude(op, a, b, "full", axes=axes, boundary=boundary,
                                                    fillvalue=fillvalue).max(initial=0.0)))
    return tolerance.allowed_error(mag, e, _taps(a, b, axes), n_fft, top)


def assert_matches_scipy(ours, ref, a, b, op="convolve", mode="full", *, axes=None,
                         boundary="fill", fillvalue=0, fft=True, err_msg=""):
    """Assert that numbaconv's ``ours`` equals SciPy's ``ref`` for ``op(a, b, mode)``.

    The array type, the dtype (exactly, byte order included), the shape and
    the values: integers and bool identical, floats within
    :func:`allowed` per element, NaN at the same places and infinities alike.
    """
    if isinstance(ref, np.ndarray):
        assert isinstance(ours, np.ndarray), \
            f"expected an ndarray, got {type(ours).__name__} {err_msg}"
    ours_a, ref_a = np.asarray(ours), np.asarray(ref)
    assert ours_a.dtype == ref_a.dtype, f"dtype {ours_a.dtype.str} != scipy's {ref_a.dtype.str} {err_msg}"
    assert ours_a.shape == ref_a.shape, f"shape {ours_a.shape} != scipy's {ref_a.shape} {err_msg}"
    if ref_a.dtype.kind == "O":
        ours_a, ref_a = ours_a.astype(np.complex128), ref_a.astype(np.complex128)
    bound = allowed(ref_a, a, b, op, mode, axes=axes, boundary=boundary, fillvalue=fillvalue, fft=fft)
    with np.errstate(invalid="ignore"):        # inf - inf where both are infinite
        verdict = tolerance.compare(ours_a, ref_a, bound)
    assert verdict["agree"], f"{verdict['reason']} {err_msg}"


# --------------------------------------------------------------------------
# run both libraries
# --------------------------------------------------------------------------

class Outcome:
    """What :func:`run_both` saw: both results, or both exceptions."""

    def __init__(self, ours=None, ref=None, ours_exc=None, ref_exc=None):
        self.ours, self.ref = ours, ref
        self.ours_exc, self.ref_exc = ours_exc, ref_exc

    @property
    def ok(self) -> bool:
        """True when both succeeded (results are in ``ours`` and ``ref``)."""
        return self.ref_exc is None


def native(x):
    """``x`` in native byte order: SciPy's pocketfft rejects e.g. '>f4' (RuntimeError), and
    byte order carries no meaning, so references run on this copy."""
    if isinstance(x, np.ndarray) and not x.dtype.isnative:
        return x.astype(x.dtype.newbyteorder("="))
    return x


def call_ref(fn):
    """Call a reference (SciPy / naive) quietly; return ``(result, exc)``."""
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        try:
            return fn(), None
        except Exception as exc:  # noqa: BLE001 - any exception is an outcome
            return None, exc


def call_scipy(fn, a, b):
    """``fn(a, b)`` through SciPy: ``(result, exc)``.  Where SciPy cannot take the byte
    order of the inputs (its pocketfft rejects e.g. '>f2') but takes their native-order
    copies, the reference is SciPy's result on those copies."""
    ref, exc = call_ref(lambda: fn(a, b))
    if exc is not None and (native(a) is not a or native(b) is not b):
        alt, alt_exc = call_ref(lambda: fn(native(a), native(b)))
        if alt_exc is None:
            return alt, None
    return ref, exc


def call_ours(fn):
    """Call numbaconv; return ``(result, exc)``.  A Numba error fails the test at once:
    it is never an answer numbaconv may give."""
    try:
        return fn(), None
    except Exception as exc:  # noqa: BLE001
        if type(exc).__module__.startswith("numba"):
            raise AssertionError(f"numbaconv raised a Numba error: {type(exc).__name__}: "
                                 f"{str(exc)[:500]}") from exc
        return None, exc


def run_both(ours_fn, ref_fn, *, context="") -> Outcome:
    """Run ``ref_fn`` (SciPy) and ``ours_fn`` (numbaconv).

    If SciPy raises ``E``, numbaconv must raise an instance of ``type(E)``.
    If SciPy succeeds, numbaconv must succeed.  When ``outcome.ok`` the
    caller compares ``outcome.ours`` with ``outcome.ref``.
    """
    ref, ref_exc = call_ref(ref_fn)
    ours, ours_exc = call_ours(ours_fn)
    if ref_exc is not None:
        if ours_exc is None:
            pytest.fail(f"scipy raised {type(ref_exc).__name__}({ref_exc}) but numbaconv "
                        f"returned {_describe(ours)} {context}")
        if not isinstance(ours_exc, type(ref_exc)):
            pytest.fail(f"scipy raised {type(ref_exc).__name__}({ref_exc}) but numbaconv "
                        f"raised {type(ours_exc).__name__}({ours_exc}) {context}")
        return Outcome(ours_exc=ours_exc, ref_exc=ref_exc)
    if ours_exc is not None:
        raise AssertionError(f"scipy returned {_describe(ref)} but numbaconv raised "
                             f"{type(ours_exc).__name__}({ours_exc}) {context}") from ours_exc
    return Outcome(ours=ours, ref=ref)


def _describe(x) -> str:
    try:
        a = np.asarray(x)
        return f"{type(x).__name__} dtype={a.dtype} shape={a.shape}"
    except Exception:  # noqa: BLE001
        return repr(x)[:80]


# --------------------------------------------------------------------------
# data
# --------------------------------------------------------------------------

def make_array(shape, dtype, rng, *, small=True):
    """Random array of ``shape``/``dtype``.

    With ``small=True`` integers are tiny (|x| <= 2, unsigned <= 3) so that
    convolutions of the sizes used here neither overflow nor lose FFT
    precision; floats are standard normal, complex have both parts normal.
    """
    dtype = np.dtype(dtype)
    if dtype.kind == "b":
        return rng.integers(0, 2, size=shape).astype(bool)
    if dtype.kind in "iu":
        info = np.iinfo(dtype)
        lo, hi = ((0, 3) if dtype.kind == "u" else (-2, 2)) if small else (info.min, info.max)
        return rng.integers(lo, hi, size=shape, endpoint=True, dtype=np.int64 if small else dtype
                            ).astype(dtype)
    if dtype.kind == "c":
        return (rng.standard_normal(shape) + 1j * rng.standard_normal(shape)).astype(dtype)
    if dtype.kind == "O":
        return rng.integers(-3, 4, size=shape).astype(object)
    return rng.standard_normal(shape).astype(dtype)


def rank1(shape, dtype, rng):
    """A kernel of numerical rank 1: the outer product of random vectors."""
    vecs = [make_array((n,), dtype, rng) for n in shape]
    k = vecs[0]
    for v in vecs[1:]:
        k = np.multiply.outer(k, v)
    return k


def gaussian(shape, dtype=np.float64):
    """A 2-D Gaussian kernel (rank 1, symmetric factors)."""
    u = np.exp(-np.linspace(-2, 2, shape[0]) ** 2)
    v = np.exp(-np.linspace(-2, 2, shape[1]) ** 2)
    return np.outer(u, v).astype(dtype)


# --------------------------------------------------------------------------
# one call of each family through both libraries
# --------------------------------------------------------------------------

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
    """The array to compare an integer/bool result with, or None (dtype and shape only).

    For 'auto'/'direct' numbaconv must equal SciPy's direct method, i.e. the
    naive wrapped result.  For FFT-based methods only when the exact result
    survives the round trip through float64 without overflow.
    """
    a, b = native(np.asarray(a)), native(np.asarray(b))
    if a.size == 0 or b.size == 0 or a.ndim == 0:
        return ref
    if method not in ("auto", "direct") and not _exact_ints_ok(a, b, np.asarray(ref).dtype):
        return None
    func = naive.convolve if fname == "convolve" else naive.correlate
    return func(a, b, mode, axes=axes).astype(np.asarray(ref).dtype)


def check_conv(fname, a, b, mode="full", method="auto", **ours_kw):
    """Compare ``numbaconv.<fname>`` with ``scipy.signal.<fname>`` (convolve/correlate).

    Returns numbaconv's result (None when both raised).
    """
    import numbaconv
    sp = getattr(ss, fname)
    ref_method = "fft" if method in EXTENSION_METHODS else method
    ref, ref_exc = call_scipy(lambda x, y: sp(x, y, mode, method=ref_method), a, b)
    may_succeed = False
    if ref_exc is not None and (method == "auto" or method in EXTENSION_METHODS):
        # SciPy's 'auto' picks a method with its own heuristic (and raises when it
        # picks 'direct' for e.g. N-D float16); numbaconv's choice may differ.
        # If another SciPy method handles the input, success is allowed too.
        for alt in ("fft", "direct"):
            alt_ref, alt_exc = call_scipy(lambda x, y: sp(x, y, mode, method=alt), a, b)
            if alt_exc is None:
                ref, may_succeed = alt_ref, True
                break
    ours, ours_exc = call_ours(lambda: getattr(numbaconv, fname)(a, b, mode, method=method, **ours_kw))
    ctx = f"[{fname} mode={mode} method={method}]"
    if ref_exc is not None and ours_exc is not None:
        allowed_exc = (type(ref_exc),)
        if method in EXTENSION_METHODS:
            allowed_exc = (ValueError, IndexError, TypeError)
        assert isinstance(ours_exc, allowed_exc), \
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
    assert_matches_scipy(ours, expected, a, b, fname, mode, fft=method != "direct", err_msg=ctx)
    return ours


def _raise(outcome):
    """The result of a ``(result, exc)`` pair, or its exception raised."""
    result, exc = outcome
    if exc is not None:
        raise exc
    return result


def check_fft(fname, a, b, mode="full", axes=None, **ours_kw):
    """Compare fftconvolve/oaconvolve; returns the :class:`Outcome`."""
    import numbaconv
    ctx = f"[{fname} mode={mode} axes={axes}]"
    out = run_both(lambda: getattr(numbaconv, fname)(a, b, mode, axes=axes, **ours_kw),
                   lambda: _raise(call_scipy(lambda x, y: getattr(ss, fname)(x, y, mode, axes=axes),
                                             a, b)), context=ctx)
    if out.ok:
        assert_matches_scipy(out.ours, out.ref, a, b, fname, mode, axes=axes, err_msg=ctx)
    return out


def check_2d(fname, a, b, mode="full", boundary="fill", fillvalue=0, **ours_kw):
    """Compare convolve2d/correlate2d; returns the :class:`Outcome`."""
    import numbaconv
    ctx = f"[{fname} mode={mode} boundary={boundary} fillvalue={fillvalue}]"
    out = run_both(lambda: getattr(numbaconv, fname)(a, b, mode, boundary, fillvalue, **ours_kw),
                   lambda: _raise(call_scipy(lambda x, y: getattr(ss, fname)(x, y, mode, boundary,
                                                                             fillvalue), a, b)),
                   context=ctx)
    if out.ok:
        # numbaconv may run an FFT method on a large fill-zero problem
        assert_matches_scipy(out.ours, out.ref, a, b, fname, mode, boundary=boundary,
                             fillvalue=fillvalue, err_msg=ctx)
    return out


def check_call(fname, a, b, mode="full", method=None, **kw):
    """:func:`check_conv`, :func:`check_fft` or :func:`check_2d` by the family of ``fname``;
    returns numbaconv's result (None when both raised)."""
    family = FAMILIES[fname]
    if family == "conv":
        return check_conv(fname, a, b, mode, method or "auto", **kw)
    if family == "fft":
        return check_fft(fname, a, b, mode, **kw).ours
    return check_2d(fname, a, b, mode, **kw).ours
