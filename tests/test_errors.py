"""The bad-input table of ``docs/errors.md``: one test per row and public function.

Each :class:`Row` is one kind of bad (or unusual) input; the test runs its
calls through numbaconv and through SciPy's twin of the function (run
here, never hard-coded) and asserts:

* where SciPy raises, numbaconv raises an instance of SciPy's exception
  type, and its message (notes included) matches the row's ``says``: the
  fragment that tells the user what to change;
* where SciPy returns, numbaconv returns the same kind of result, compared
  with the tolerance table (``helpers.assert_matches_scipy``); rows of
  non-finite values compare with SciPy's *direct* method, whose NaN and
  inf numbaconv keeps in place;
* no exception of Numba's reaches the user (``helpers.call_ours``), and no
  input is modified.

Where SciPy has no twin (``device``) or kills the process (2-D 'wrap' and
'symm' of an empty signal) the row names the exception expected instead.
``test_rows_match_the_table`` keeps this file and ``docs/errors.md`` in step.
"""
from __future__ import annotations

import dataclasses
import os
import pathlib
import re
import subprocess
import sys
from typing import Callable

import numpy as np
import pytest
import scipy.fft
import scipy.signal as ss

import numbaconv
from helpers import assert_matches_scipy, call_ours, call_ref, native
from numbaconv import _gpu
from numbaconv._dispatch import Choice

ARRAY_FUNCS = ("convolve", "correlate", "fftconvolve", "oaconvolve", "convolve2d", "correlate2d")
FUNCS = ARRAY_FUNCS + ("choose_conv_method", "explain")
ND = tuple(f for f in FUNCS if not f.endswith("2d"))
TWO_D = ("convolve2d", "correlate2d")
CONV = ("convolve", "correlate")
FFT = ("fftconvolve", "oaconvolve")
#: keyword arguments SciPy's twins do not take
EXTRAS = ("device", "workers")
TABLE = pathlib.Path(__file__).resolve().parents[1] / "docs" / "errors.md"

# overflow, invalid values and np.matrix are what some rows are about
pytestmark = [pytest.mark.filterwarnings("ignore::RuntimeWarning"),
              pytest.mark.filterwarnings("ignore::PendingDeprecationWarning"),
              pytest.mark.filterwarnings("ignore::numpy.exceptions.ComplexWarning")]


@dataclasses.dataclass
class Call:
    """One call of a public function, and what decides its expected outcome.

    ``twin`` is the SciPy call whose outcome numbaconv must match (default:
    the function of the same name; ``explain`` follows ``convolve``);
    ``expect`` an exception type where there is no twin; ``compare`` how
    results are compared: ``'scipy'``, ``'direct'`` (the twin run with
    ``method='direct'``: NaN and inf exactly in place) or ``'spread'`` (FFT
    methods: non-finite at least where the direct method is).
    """

    args: tuple
    kwargs: dict = dataclasses.field(default_factory=dict)
    twin: Callable | None = None
    expect: type | None = None
    compare: str = "scipy"


@dataclasses.dataclass(frozen=True)
class Row:
    """One row of the table: its id, the functions it applies to, its calls, the message."""

    id: str
    funcs: tuple
    calls: Callable[[str], list]
    says: str = ""
    #: ``patch(monkeypatch)``: the machine the row describes (a test session may simulate a GPU)
    patch: Callable | None = None


def _modes(*arrays_, **kwargs):
    return [Call(arrays_, dict(kwargs, mode=m)) for m in ("full", "same", "valid")]


def _per_method(fname, a, b, modes=("full", "same", "valid"), methods=("auto", "direct", "fft"),
                **kwargs):
    """Every mode (and, for convolve/correlate/explain, every SciPy method) of ``a`` and ``b``."""
    if fname in CONV or fname == "explain":
        return [Call((a, b), dict(kwargs, mode=m, method=meth)) for m in modes for meth in methods]
    return [Call((a, b), dict(kwargs, mode=m)) for m in modes]


def _pairs_for(fname, pair_nd, pair_2d):
    """Pick the N-D pair for N-D functions, the 2-D pair for the 2-D ones."""
    return pair_2d if fname in TWO_D else pair_nd


def _one(fname, a, b, **kwargs):
    return [Call((a, b), kwargs)]


# --------------------------------------------------------------------------
# the rows (the same order and ids as docs/errors.md)
# --------------------------------------------------------------------------

def _rng():
    return np.random.default_rng(19)


def _f64(*shape):
    return _rng().standard_normal(shape)


def _readonly(x):
    x = x.copy()
    x.flags.writeable = False
    return x


def _strided(x):
    return np.repeat(np.repeat(x, 2, axis=0), 3, axis=-1)[::2, ..., ::3] if x.ndim > 1 else \
        np.repeat(x, 3)[::3]


def _reversed(x):
    return x[(slice(None, None, -1),) * x.ndim]


def _big_endian(x):
    return x.astype(x.dtype.newbyteorder(">"))


def _poisoned(shape, where, value):
    x = _f64(*shape)
    x[where] = value
    return x


class _Sub(np.ndarray):
    """An ndarray subclass of no meaning to SciPy."""


def _nonfinite_calls(fname, value):
    """Signal and kernel holding ``value``; 1-D and 2-D, each method."""
    a1, k1 = _poisoned((40,), 17, value), _f64(5)
    a2, k2 = _poisoned((12, 12), (4, 7), value), _f64(3, 3)
    k1b = _f64(5)
    k1b[2] = value
    a, k, kb = (a2, k2, None) if fname in TWO_D else (a1, k1, k1b)
    calls = []
    for kernel in [k] + ([kb] if kb is not None else []):
        for mode in ("full", "same", "valid"):
            if fname in CONV:
                calls += [Call((a, kernel), {"mode": mode, "method": m},
                               compare="spread" if m == "fft" else "direct")
                          for m in ("auto", "direct", "fft")]
            elif fname in FFT:
                calls.append(Call((a, kernel), {"mode": mode}, compare="spread"))
            elif fname in TWO_D:
                calls += [Call((a, kernel), {"mode": mode, "boundary": bd}, compare="direct")
                          for bd in ("fill", "wrap", "symm")]
            else:
                calls.append(Call((a, kernel), {"mode": mode}))
    if fname in CONV:       # 2-D too: SciPy's N-D direct path multiplies its zero padding
        calls += [Call((a2, k2), {"mode": m}, compare="direct") for m in ("full", "same")]
        # ... of the larger input, after swapping them in 'full' when in2 has more elements
        small = _poisoned((3, 3), (1, 1), value)
        calls += [Call(pair, {"mode": m, "method": meth}, compare="direct")
                  for pair in ((small, _f64(5, 6)), (_f64(3, 3), _poisoned((5, 6), (2, 3), value)))
                  for m in ("full", "same") for meth in ("auto", "direct")]
    return calls


FMAX = np.finfo(np.float64).max

ROWS = [
    # -- ranks -------------------------------------------------------------
    Row("rank-mismatch", FUNCS,
        lambda f: _one(f, _f64(5), _f64(3, 3)) + _one(f, _f64(4, 4), _f64(3)),
        r"in1 has shape \(\d.*\), in2 has shape \(\d.*\); (give both the same number of "
        r"dimensions|reshape both to 2-D)"),
    Row("rank-zero-d-with-n-d", FUNCS,
        lambda f: _one(f, np.array(2.0), _f64(3)) + _one(f, _f64(3), 2.0),
        r"has shape \(\)"),
    Row("rank-both-zero-d", FUNCS,
        lambda f: _one(f, np.array(2.0), np.array(3.0)) + _one(f, np.array(2, np.int8), 3j),
        r"reshape both to 2-D"),
    Row("rank-not-2d", TWO_D,
        lambda f: _one(f, _f64(5), _f64(3)) + _one(f, _f64(3, 3, 3), _f64(2, 2, 2)),
        r"in1 has shape .*reshape both to 2-D \(np.atleast_2d\), or use convolve/correlate"),
    # -- empty inputs ------------------------------------------------------
    Row("empty-signal", FUNCS,
        lambda f: _per_method(f, *_pairs_for(f, (np.ones(0), _f64(3)), (np.ones((0, 3)), _f64(2, 2)))),
        r"empty in1 \(shape \(0.*check for empty inputs|one must be at least as large.*use mode="),
    Row("empty-kernel", FUNCS,
        lambda f: _per_method(f, *_pairs_for(f, (_f64(5), np.ones(0)), (_f64(3, 3), np.ones((2, 0))))),
        r"empty in2 \(shape \(.*check for empty inputs"),
    Row("empty-axis-n-d", ND,
        lambda f: _per_method(f, np.ones((0, 3)), _f64(2, 2)) + _per_method(f, _f64(3, 0, 2), _f64(1, 1, 1))
        + _per_method(f, np.ones((0, 3), np.int32), np.ones((2, 2), np.int32)),
        r"empty in1 \(shape \(.*check for empty inputs|one must be at least as large.*use mode="),
    Row("empty-wrap-symm", TWO_D,
        lambda f: [Call((np.ones(sa), np.ones(sb)), {"mode": "full", "boundary": bd}, expect=ValueError)
                   for sa, sb in [((0, 3), (2, 2)), ((3, 0), (2, 2)), ((0, 0), (2, 2)), ((0, 3), (2, 0))]
                   for bd in ("wrap", "symm", "circular", "symmetric")],
        r"cannot extend an empty in1 .*use boundary='fill', or check for empty inputs"),
    # -- dtypes ------------------------------------------------------------
    Row("dtype-object", FUNCS,
        lambda f: (_per_method(f, np.arange(6).astype(object), np.array([1, -2, 3], dtype=object))
                   if f not in TWO_D else [])
        + _per_method(f, np.ones((3, 3), object), np.ones((2, 2), object), methods=("auto", "direct")),
        r"dtype object \(Python objects.*convert it to a numeric dtype"),
    Row("dtype-str", FUNCS,
        lambda f: _one(f, np.array([["a", "b"], ["c", "d"]]), np.array([["a"]])),
        r"dtype <U1 \(strings\): convert it to a numeric dtype first"),
    Row("dtype-bytes", FUNCS,
        lambda f: _one(f, np.array([[b"a", b"b"]]), np.array([[b"a"]])),
        r"dtype \|S1 \(bytes\): convert it to a numeric dtype first"),
    Row("dtype-structured", FUNCS,
        lambda f: _one(f, np.zeros((2, 2), "f8,i4"), np.zeros((1, 1), "f8,i4")),
        r"\(a structured or void dtype\): convert it to a numeric dtype first, e.g. one numeric field"),
    Row("dtype-datetime", FUNCS,
        lambda f: _one(f, np.arange(4).reshape(2, 2).astype("M8[s]"), np.ones((1, 2), "M8[s]")),
        r"dtype datetime64\[s\] \(datetimes\): convert it .*np.timedelta64"),
    Row("dtype-timedelta", FUNCS,
        lambda f: _one(f, np.arange(4).reshape(2, 2).astype("m8[s]"), np.ones((1, 2), "m8[s]")),
        r"dtype timedelta64\[s\] \(timedeltas\): convert it .*np.timedelta64"),
    Row("dtype-bool-float16-n-d", FUNCS,
        lambda f: [Call((_f64(4, 4).astype(dt), _f64(2, 2).astype(dt)), {"mode": m} | (
            {"method": "direct"} if f in CONV or f == "explain" else {}))
            for dt in (np.bool_, np.float16) for m in ("full", "same")],
        r"Unsupported type: scipy.signal's 2-D direct method rejects .*cast the inputs|"
        r"not available for this type \((bool|float16)\).*cast the inputs"),
    Row("dtype-long-double", FUNCS,
        lambda f: _per_method(f, *_pairs_for(f, (_f64(9).astype(np.longdouble), _f64(3)),
                                             (_f64(5, 5).astype(np.clongdouble), _f64(2, 2))),
                              methods=("auto", "direct"))),
    # -- invalid arguments --------------------------------------------------
    Row("mode", FUNCS,
        lambda f: [Call(_pairs_for(f, (_f64(5), _f64(3)), (_f64(3, 3), _f64(2, 2))), {"mode": m})
                   for m in ("bad", "FULL", None, 1, b"full", ["full"])],
        r"Acceptable mode flags are 'valid', 'same', or 'full'.*not mode=|"
        r"acceptable mode flags are 'valid', 'same', or 'full', not mode=|mode must be one of"),
    Row("method", ("convolve", "correlate", "explain"),
        lambda f: [Call((_f64(5), _f64(3)), {"method": m}) for m in ("bad", "FFT", None, 1)],
        r"Acceptable method flags are 'auto', 'direct', 'fft', 'oa' or 'separable', not method="),
    Row("boundary", TWO_D,
        lambda f: [Call((_f64(3, 3), _f64(2, 2)), {"boundary": b})
                   for b in ("bad", "reflect", "FILL", None, 1)],
        r"Acceptable boundary flags are .*, not boundary="),
    Row("fillvalue-size", TWO_D,
        lambda f: [Call((_f64(3, 3), _f64(2, 2)), {"fillvalue": v})
                   for v in ([1, 2], np.ones((2, 2)), (), [[]])],
        r"one element, not an array of shape|cannot be an empty array; give one number"),
    Row("fillvalue-not-a-number", TWO_D,
        lambda f: [Call((_f64(3, 3), _f64(2, 2)), {"fillvalue": v})
                   for v in ("abc", object(), np.array("x"), np.array(None), [1, "a"], {1: 2})],
        r"`fillvalue` must be (a|one) number, not"),
    Row("fillvalue-cast", TWO_D,
        lambda f: [Call((a, a[:2, :2]), {"fillvalue": v}) for a, v in [
            (_f64(3, 3), 1j), (_f64(3, 3), [2 + 1j]), (np.ones((3, 3), int), 1.5),
            (np.ones((3, 3), int), np.nan), (np.ones((3, 3), np.int8), 1000),
            (np.ones((3, 3), np.uint8), -1), (np.ones((3, 3), int), np.array([1.5])),
            (np.ones((3, 3), np.float32), np.array(3))]],
        r"could not cast `fillvalue` directly to the output type .*cannot hold fillvalue="),
    Row("device", FUNCS,
        lambda f: [Call(_pairs_for(f, (_f64(5), _f64(3)), (_f64(3, 3), _f64(2, 2))), {"device": d},
                        expect=ValueError) for d in ("gpu", "CPU", None, 1, ["cpu"])],
        r"device must be one of \('auto', 'cpu', 'cuda'\), not"),
    Row("device-cuda-unavailable", FUNCS,
        lambda f: [Call(_pairs_for(f, (_f64(5), _f64(3)), (_f64(3, 3), _f64(2, 2))),
                        {"device": "cuda"}, expect=RuntimeError)],
        r"device='cuda' needs a CUDA GPU with a working driver and numba-cuda \(pip install",
        patch=lambda mp: mp.setattr(_gpu, "available", lambda: False)),
    Row("workers", ARRAY_FUNCS + ("explain",),
        lambda f: [Call(_pairs_for(f, (_f64(5), _f64(3)), (_f64(3, 3), _f64(2, 2))), {"workers": w},
                        twin=lambda w=w: scipy.fft.fft(np.ones(4), workers=w))
                   for w in (0, -1000, 1.5, "2", [1])],
        r"workers (must|value).*give a positive count, -1 for every CPU, or None"),
    Row("axes-out-of-range", FFT + CONV,
        lambda f: [Call((_f64(4, 5), _f64(4, 3)), {"axes": ax}) for ax in (2, -3, [0, 5])],
        r"axes exceeds dimensionality of input: axes=.* give axes in -2..1"),
    Row("axes-repeated", FFT + CONV,
        lambda f: [Call((_f64(4, 5), _f64(4, 3)), {"axes": ax}) for ax in ([0, 0], [1, -1])],
        r"all axes must be unique, and axes=.* names an axis twice"),
    Row("axes-not-integer", FFT + CONV,
        lambda f: [Call((_f64(4, 5), _f64(4, 3)), {"axes": ax}) for ax in (1.5, [1.0], "a", [[0]])],
        r"axes must be a scalar or iterable of integers, not"),
    Row("axes-empty", FFT + CONV,
        lambda f: [Call((_f64(4, 5), _f64(4, 3)), {"axes": ax}) for ax in ([], ())],
        r"axes cannot be empty; give axes=None"),
    Row("axes-incompatible-shapes", FFT + CONV,
        lambda f: [Call((_f64(4, 5), _f64(2, 3)), {"axes": ax}) for ax in (0, -1, [1])],
        r"incompatible shapes for in1 and in2: \(4, 5\) and \(2, 3\); along the axes not "
        r"convolved the lengths must be equal or 1"),
    # -- 'valid' shapes ----------------------------------------------------
    Row("valid-kernel-larger", FUNCS,
        lambda f: _per_method(f, *_pairs_for(f, (_f64(3), _f64(7)), (_f64(3, 3), _f64(5, 6))),
                              modes=("valid",))
        + (_per_method(f, _f64(2, 3, 2), _f64(4, 5, 3), modes=("valid",)) if f not in TWO_D else [])),
    Row("valid-neither-larger", FUNCS,
        lambda f: _per_method(f, _f64(4, 2), _f64(2, 4), modes=("valid",)),
        r"one must be at least as large as the other in every dimension: in1 has shape "
        r"\(4, 2\), in2 \(2, 4\); use mode='same' or 'full'"),
    # -- inputs that are not arrays ----------------------------------------
    Row("sequences", FUNCS,
        lambda f: _per_method(f, *_pairs_for(f, ([1, 2, 3, 4], (1.0, -1.0)),
                                             ([[1, 2], [3, 4]], ((0.5,), (1.5,))))),
        ),
    Row("range-and-array-like", ND,
        lambda f: _one(f, range(6), np.array([1, 1])) + _one(f, memoryview(np.arange(4.0)), [2.0])),
    Row("python-scalars", FUNCS,
        lambda f: _one(f, 2.0, 3) + _one(f, 2, 1j) + _one(f, True, 5),
        r"reshape both to 2-D"),
    Row("none", FUNCS,
        lambda f: _one(f, None, _pairs_for(f, _f64(3), _f64(2, 2))) + _one(f, None, None),
        r"in1 is None.*pass arrays or sequences of numbers"),
    Row("iterators-and-sets", FUNCS,
        lambda f: _one(f, (x for x in range(3)), _pairs_for(f, _f64(3), _f64(2, 2)))
        + _one(f, iter([1.0, 2.0]), iter([3.0])) + _one(f, {1.0, 2.0}, {3.0}),
        r"in1 is a (generator|list_iterator|set).*(np.fromiter|sorted)"),
    Row("ragged-sequence", FUNCS,
        lambda f: _one(f, [[1, 2], [3]], _pairs_for(f, [[1]], [[1]])),
        r"in1 is a ragged sequence .*give rows of equal length"),
    # -- ndarray subclasses --------------------------------------------------
    Row("masked-array", FUNCS,
        lambda f: _per_method(f, *_pairs_for(
            f, (np.ma.array(_f64(9), mask=np.arange(9) % 3 == 0), np.ma.array(_f64(3), mask=[0, 1, 0])),
            (np.ma.masked_greater(_f64(5, 5), 0.5), np.ma.array(_f64(2, 2)))))),
    Row("matrix", FUNCS,
        lambda f: _per_method(f, np.matrix(_f64(5, 5)), np.matrix(_f64(2, 3)))),
    Row("ndarray-subclass", FUNCS,
        lambda f: _per_method(f, *_pairs_for(f, (_f64(9).view(_Sub), _f64(3)),
                                             (_f64(5, 5).view(_Sub), _f64(2, 2).view(_Sub))))),
    # -- values ------------------------------------------------------------
    Row("nan", FUNCS, lambda f: _nonfinite_calls(f, np.nan)),
    Row("inf", FUNCS,
        lambda f: _nonfinite_calls(f, np.inf) + _nonfinite_calls(f, -np.inf)),
    Row("huge-values", FUNCS,
        lambda f: [
            Call((np.full(s, FMAX * 0.6, dt), np.ones(k, dt)), kw,
                 compare="spread" if f in FFT or kw.get("method") == "fft" else "direct")
            for dt in (np.float64, np.float32) for s, k in (_pairs_for(f, ((30,), (3,)), ((6, 7), (2, 2))),)
            for kw in ([{"method": m} for m in ("auto", "direct", "fft")] if f in CONV else [{}])]),
    Row("integer-overflow", FUNCS,
        lambda f: [Call((np.full(s, v, dt), np.full(k, w, dt)), kw)
                   for dt, v, w in ((np.int8, 100, 100), (np.uint8, 200, 3), (np.int16, -30000, 7),
                                    (np.int64, 2 ** 62, 3), (np.uint64, 2 ** 63 + 5, 3))
                   for s, k in (_pairs_for(f, ((20,), (4,)), ((6, 5), (3, 2))),)
                   for kw in ([{"method": m} for m in ("auto", "direct")] if f in CONV else [{}])]),
    # -- memory layouts ----------------------------------------------------
    Row("read-only", FUNCS,
        lambda f: _per_method(f, *_pairs_for(f, (_readonly(_f64(30)), _readonly(_f64(4))),
                                             (_readonly(_f64(9, 8)), _readonly(_f64(3, 2)))))),
    Row("non-contiguous", FUNCS,
        lambda f: _per_method(f, *_pairs_for(f, (_strided(_f64(30)), _strided(_f64(4))),
                                             (_strided(_f64(9, 8)), np.asfortranarray(_f64(3, 2)))))),
    Row("negative-strides", FUNCS,
        lambda f: _per_method(f, *_pairs_for(f, (_reversed(_f64(30)), _reversed(_f64(4))),
                                             (_reversed(_f64(9, 8)), _f64(3, 4)[::-2, ::-1])))),
    Row("big-endian", FUNCS,
        lambda f: [c for dt in (np.float64, np.float32, np.int32, np.complex128, np.uint64)
                   for c in _per_method(f, *_pairs_for(f, (_big_endian(_f64(12).astype(dt)),
                                                           _big_endian(_f64(3).astype(dt))),
                                                       (_big_endian((_f64(6, 5) * 4).astype(dt)),
                                                        (_f64(2, 3) * 4).astype(dt))))]
        + _per_method(f, *_pairs_for(f, (_big_endian(_f64(12).astype(np.float16)),
                                         _big_endian(_f64(3).astype(np.float16))),
                                     (_big_endian(_f64(6, 5).astype(np.int16)),
                                      _big_endian(_f64(2, 3).astype(np.int16)))),
                      methods=("auto", "fft"))),
]


# --------------------------------------------------------------------------
# the check
# --------------------------------------------------------------------------

def _scipy_kwargs(kwargs):
    return {k: v for k, v in kwargs.items() if k not in EXTRAS}


def _twin(fname, call):
    """Return the SciPy call whose outcome numbaconv's must match (a zero-argument callable)."""
    if call.twin is not None:
        return call.twin
    kwargs = _scipy_kwargs(call.kwargs)
    if call.compare == "direct" and fname in CONV:
        kwargs["method"] = "direct"
    # SciPy's FFTs reject some byte orders (pocketfft: '>f2'); byte order carries no
    # meaning, so SciPy answers for the native-order copies
    args = tuple(native(x) for x in call.args)
    if "axes" in kwargs and fname in CONV:
        fn = ss.fftconvolve                  # SciPy's convolve/correlate take no axes
    elif fname == "explain":
        fn = ss.convolve
    else:
        fn = getattr(ss, fname)
    return lambda: fn(*args, **kwargs)


def _message(exc) -> str:
    return " ".join([str(exc)] + list(getattr(exc, "__notes__", [])))


def _snapshots(args):
    return [(x, np.array(x, copy=True)) for x in args if isinstance(x, np.ndarray)]


def _untouched(snapshots, ctx):
    for x, snap in snapshots:
        assert np.array_equal(np.asarray(x), snap, equal_nan=snap.dtype.kind in "fc"), \
            f"an input was modified {ctx}"


def _compare_result(fname, call, ours, ref, ctx):
    a, b = call.args[:2]
    kw = call.kwargs
    if fname == "explain":
        assert isinstance(ours, Choice), f"explain returned {ours!r} {ctx}"
        assert ours.scipy_method in ("direct", "fft"), ctx
        return
    if fname == "choose_conv_method":
        assert ours == ref, f"choose_conv_method {ours!r} != scipy's {ref!r} {ctx}"
        return
    assert type(ours) is type(ref), f"{type(ours).__name__} != scipy's {type(ref).__name__} {ctx}"
    ref_a, ours_a = np.asarray(ref), np.asarray(ours)
    if call.compare == "spread":
        # FFT methods spread NaN and inf (SciPy's own too, over blocks of its choosing):
        # the same dtype and shape, and never a finite value where the direct sum has none
        assert ours_a.dtype == ref_a.dtype and ours_a.shape == ref_a.shape, ctx
        direct = _direct(fname, native(np.asarray(a)), native(np.asarray(b)), kw.get("mode", "full"))
        if direct is not None:
            hidden = ~np.isfinite(direct) & np.isfinite(ours_a)
            assert not hidden.any(), f"a finite output where the direct sum is NaN/inf {ctx}"
        return
    mode = kw.get("mode", "full")
    op = "convolve" if fname == "explain" else fname
    with np.errstate(all="ignore"):
        assert_matches_scipy(ours, ref, native(np.asarray(a)), native(np.asarray(b)), op, mode,
                             axes=kw.get("axes"), boundary=kw.get("boundary", "fill"),
                             fillvalue=kw.get("fillvalue", 0),
                             fft=call.compare != "direct" and kw.get("method") != "direct",
                             err_msg=ctx)


def _direct(fname, a, b, mode):
    """SciPy's direct method on the same inputs (None where it has none)."""
    op = "correlate" if fname == "correlate" else "convolve"
    ref, exc = call_ref(lambda: getattr(ss, op)(a, b, mode, method="direct"))
    return None if exc is not None else np.asarray(ref)


def check(row, fname, call):
    """Run ``call`` through numbaconv and its SciPy twin; assert as the module docstring says."""
    ctx = f"[{row.id}: {fname}(*{[type(x).__name__ for x in call.args]}, **{call.kwargs!r})]"
    snapshots = _snapshots(call.args)
    fn = getattr(numbaconv, fname)
    ours, ours_exc = call_ours(lambda: fn(*call.args, **call.kwargs))
    _untouched(snapshots, ctx)
    if call.expect is not None:
        expected = call.expect
        ref, ref_exc = None, None
    else:
        ref, ref_exc = call_ref(_twin(fname, call))
        expected = type(ref_exc) if ref_exc is not None else None
    if expected is None:
        if ours_exc is not None:
            raise AssertionError(f"scipy returned, numbaconv raised {type(ours_exc).__name__}: "
                                 f"{_message(ours_exc)} {ctx}") from ours_exc
        _compare_result(fname, call, ours, ref, ctx)
        return
    assert ours_exc is not None, f"scipy raised {expected.__name__} ({ref_exc}), numbaconv returned {ctx}"
    assert isinstance(ours_exc, expected), \
        f"scipy raised {expected.__name__} ({ref_exc}), numbaconv {type(ours_exc).__name__} " \
        f"({_message(ours_exc)}) {ctx}"
    assert not type(ours_exc).__module__.startswith("numba"), ctx
    assert row.says and re.search(row.says, _message(ours_exc), re.S), \
        f"the message does not say what to change: {_message(ours_exc)!r} {ctx}"


@pytest.mark.parametrize("row, fname", [(r, f) for r in ROWS for f in r.funcs],
                         ids=[f"{r.id}-{f}" for r in ROWS for f in r.funcs])
def test_bad_input(row, fname, monkeypatch):
    """Every call of ``row`` through ``fname``: SciPy's outcome, and a message that helps."""
    if row.patch is not None:
        row.patch(monkeypatch)
    calls = row.calls(fname)
    assert calls, f"row {row.id} makes no call of {fname}"
    for call in calls:
        check(row, fname, call)


# --------------------------------------------------------------------------
# the table and the rows agree; SciPy still behaves as the table says
# --------------------------------------------------------------------------

def test_rows_match_the_table():
    """Every row here is a row of docs/errors.md, and the other way round, in the same order."""
    ids = re.findall(r"^\| `([a-z0-9-]+)` \|", TABLE.read_text(), re.M)
    assert ids == [r.id for r in ROWS]


def test_scipy_still_raises_as_the_table_says():
    """The oracle's quirks that rows rest on: if SciPy changes, the table must too."""
    with pytest.raises(ValueError, match="cannot be empty"):
        ss.convolve(np.ones(0), np.ones(3))
    with pytest.raises(IndexError):
        ss.convolve(np.ones(0), np.ones(3), method="fft")
    assert ss.convolve(np.ones(0), np.ones(3), mode="same").shape == (0,)
    assert ss.fftconvolve(np.ones(0), np.ones(3)).shape == (0,)
    with pytest.raises(ValueError, match="Unsupported type"):
        ss.convolve(np.array([["a"]]), np.array([["b"]]))
    assert ss.fftconvolve(np.ones(2, "M8[s]"), np.ones(2, "M8[s]")).dtype == np.float64
    with pytest.raises(RuntimeError):
        ss.fftconvolve(np.ones(4, ">f2"), np.ones(2, ">f2"))
    assert ss.choose_conv_method(np.ones(3), np.ones((2, 2))) == "direct"


_CRASH_GRID = r"""
import itertools, numpy as np, numbaconv
for f in ("convolve2d", "correlate2d"):
    for sa in itertools.product(range(3), repeat=2):
        for sb in itertools.product(range(3), repeat=2):
            for mode in ("full", "same", "valid"):
                for bd in ("wrap", "symm", "fill"):
                    try:
                        getattr(numbaconv, f)(np.ones(sa), np.ones(sb), mode, bd)
                    except ValueError:
                        pass
print("survived")
"""


def test_empty_2d_boundaries_never_crash():
    """No empty 2-D input kills the process, whatever the boundary.

    SciPy's 'wrap' and 'symm' die of SIGFPE on some empty signals: numbaconv
    raises there and hands SciPy only what it survives.  Every shape up to
    2 x 2 runs in a child process, so that a crash fails the test.
    """
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    proc = subprocess.run([sys.executable, "-c", _CRASH_GRID], capture_output=True, text=True,
                          timeout=120, env=env)
    assert proc.returncode == 0 and "survived" in proc.stdout, \
        f"exit {proc.returncode}: {proc.stderr[-2000:]}"
