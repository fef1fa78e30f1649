"""Shared helpers for numbaconv's differential test suite.

SciPy is the oracle: every test computes the same thing with
``scipy.signal`` and with ``numbaconv`` and compares dtype, shape and values.

* :data:`RTOL` / :func:`tolerance` -- allowed error per *result* dtype,
  relative to a magnitude scale (integers and bool: exact).
* :func:`assert_matches_scipy` -- dtype, shape and value comparison.
* :func:`run_both` -- call both libraries; they must raise the same
  exception type or both succeed (like CuPy's ``accept_error``).
* :func:`make_array` -- reproducible test data for any dtype.

This file deliberately stays small and importable without numbaconv being
complete: the library is imported lazily (see :func:`nc`).
"""
from __future__ import annotations


import os
import sys
import warnings

import numpy as np
import pytest

sys.path.insert(0, os.path.dirname(__file__))  # so tests can `import naive`

# --------------------------------------------------------------------------
# dtypes
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


def dtype_id(pair) -> str:
    """Readable test id for a dtype or a dtype pair."""
    if isinstance(pair, tuple):
        a, b = (np.dtype(x).name for x in pair)
        return a if a == b else f"{a}+{b}"
    return np.dtype(pair).name


DTYPE_PAIR_IDS = [dtype_id(p) for p in DTYPE_PAIRS]

# --------------------------------------------------------------------------
# tolerances
# --------------------------------------------------------------------------

#: relative tolerance (times the magnitude scale) per result dtype;
#: 0 means the comparison is exact.
RTOL = {
    np.dtype(np.float16): 1e-2,
    np.dtype(np.float32): 1e-4,
    np.dtype(np.complex64): 1e-4,
    np.dtype(np.float64): 1e-10,
    np.dtype(np.complex128): 1e-10,
    np.dtype(np.longdouble): 1e-10,
    np.dtype(np.clongdouble): 1e-10,
}


def tolerance(dtype) -> float:
    """Relative tolerance for results of ``dtype`` (0: exact)."""
    dtype = np.dtype(dtype)
    if dtype.kind in "biu":
        return 0.0
    if dtype.kind == "O":
        return 1e-10
    return RTOL[np.dtype(dtype.newbyteorder("="))]


def magnitude(*arrays) -> float:
    """Scale for absolute errors: the product of the 2-norms of the inputs.

    By Cauchy-Schwarz this bounds every element of a zero-filled
    convolution of the inputs, and it is the natural scale of FFT errors.
    Non-finite values are ignored.
    """
    scale = 1.0
    for x in arrays:
        x = np.asarray(x)
        if x.dtype.kind == "O":
            x = x.astype(np.complex128)
        x = np.abs(x.astype(np.complex128 if x.dtype.kind == "c" else np.float64))
        x = x[np.isfinite(x)]
        scale *= float(np.sqrt(np.sum(x * x))) if x.size else 0.0
    return scale


def _maxabs(x) -> float:
    x = np.asarray(x)
    if x.size == 0 or x.dtype.kind in "bO":
        return 0.0
    y = np.abs(x.astype(np.complex128 if x.dtype.kind == "c" else np.float64))
    y = y[np.isfinite(y)]
    return float(y.max()) if y.size else 0.0


def assert_matches_scipy(ours, ref, *inputs, rtol=None, equal_nan=True,
                         check_dtype=True, scale=None, err_msg=""):
    """Assert that numbaconv's ``ours`` equals SciPy's ``ref``.

    Checks the array type, dtype (exactly, byte order included), shape and
    values.  Integer and bool results must be identical.  Floating results
    may differ by ``tolerance(dtype) * scale`` where ``scale`` defaults to
    ``max(max|ref|, magnitude(*inputs), tiny)``.  NaN must appear at exactly
    the same positions in both (``equal_nan``), infinities with the same sign.
    """
    if isinstance(ref, np.ndarray):
        assert isinstance(ours, np.ndarray), \
            f"expected an ndarray, got {type(ours).__name__} {err_msg}"
    ours_a = np.asarray(ours)
    ref_a = np.asarray(ref)
    if check_dtype:
        assert ours_a.dtype == ref_a.dtype, \
            f"dtype {ours_a.dtype.str} != scipy's {ref_a.dtype.str} {err_msg}"
    assert ours_a.shape == ref_a.shape, \
        f"shape {ours_a.shape} != scipy's {ref_a.shape} {err_msg}"
    tol = tolerance(ref_a.dtype) if rtol is None else rtol
    if rtol is None:
        # SciPy transforms each input in its own precision (float16 as float32), so a
        # float64 result of a float32 input is only float32-accurate: the least precise
        # floating input sets the tolerance too.
        for x in inputs:
            kind = np.asarray(x).dtype.kind
            if kind in "fc":
                item = np.asarray(x).dtype.itemsize // (2 if kind == "c" else 1)
                tol = max(tol, tolerance(np.float32 if item <= 4 else np.float64))
    if tol == 0 and ref_a.dtype.kind in "biu":
        np.testing.assert_array_equal(ours_a, ref_a, err_msg=err_msg)
        return
    if scale is None:
        scale = max(_maxabs(ref_a), magnitude(*inputs) if inputs else 0.0)
    scale = max(scale, np.finfo(np.float64).tiny)
    if ref_a.dtype.kind == "O":
        ours_a, ref_a = ours_a.astype(np.complex128), ref_a.astype(np.complex128)
    # compare in the widest type so a low-precision dtype does not round the check
    wide = np.clongdouble if ref_a.dtype.kind == "c" or ours_a.dtype.kind == "c" else np.longdouble
    np.testing.assert_allclose(ours_a.astype(wide), ref_a.astype(wide), rtol=0,
                               atol=tol * scale, equal_nan=equal_nan, err_msg=err_msg)


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
    """``x`` in native byte order (SciPy's pocketfft rejects e.g. '>f4' with
    RuntimeError; byte order carries no meaning, so references use this)."""
    if isinstance(x, np.ndarray) and not x.dtype.isnative:
        return x.astype(x.dtype.newbyteorder("="))
    return x


def call_ref(fn):
    """Call a reference (SciPy / naive) callable quietly; return (result, exc)."""
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        try:
            return fn(), None
        except Exception as exc:  # noqa: BLE001 - any exception is an outcome
            return None, exc


def call_ours(fn):
    """Call numbaconv; return (result, exc)."""
    try:
        return fn(), None
    except Exception as exc:  # noqa: BLE001
        return None, exc


def run_both(ours_fn, ref_fn, *, context="") -> Outcome:
    """Run ``ref_fn`` (SciPy) and ``ours_fn`` (numbaconv).

    If SciPy raises ``E``, numbaconv must raise an instance of ``type(E)``.
    If SciPy succeeds, numbaconv must succeed.  Returns an :class:`Outcome`;
    when ``outcome.ok`` the caller compares ``outcome.ours``/``outcome.ref``.
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


@pytest.fixture
def rng(request):
    """A generator seeded from the test id, so each test is reproducible."""
    import zlib
    return np.random.default_rng(zlib.crc32(request.node.nodeid.encode()))


def nc():
    """The numbaconv module (imported lazily so collection never fails)."""
    import numbaconv
    return numbaconv
