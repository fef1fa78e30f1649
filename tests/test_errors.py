"""Every error path of scipy.signal raises the same exception type in numbaconv.

Each case is a pair of calls with identical arguments; :func:`run_both`
requires that both raise the same exception type (or both succeed, in which
case the results must agree too).  Expected types are never hard-coded:
they come from running SciPy.
"""
from __future__ import annotations

import numpy as np
import pytest
import scipy.fft
import scipy.signal as ss

from conftest import assert_matches_scipy, nc, run_both

A1 = np.arange(1.0, 8.0)
B1 = np.array([1.0, -2.0, 0.5])
A2 = np.arange(20.0).reshape(4, 5)
B2 = np.arange(6.0).reshape(2, 3) - 2
AI = np.arange(20).reshape(4, 5)
A3 = np.ones((3, 4, 5))
TALL, WIDE = np.ones((4, 2)), np.ones((2, 4))
OBJ1 = np.array([1, 2, 3], dtype=object)
OBJ2 = np.ones((3, 3), dtype=object)


def _case(fname, *args, **kwargs):
    return (fname, args, kwargs)


CASES = {
    # -- bad mode --------------------------------------------------------
    "convolve-mode-bad": _case("convolve", A1, B1, "bad"),
    "convolve-mode-int": _case("convolve", A1, B1, 1),
    "convolve-mode-None": _case("convolve", A1, B1, None),
    "convolve-mode-bad-fft": _case("convolve", A1, B1, "bad", method="fft"),
    "convolve-mode-bad-2d-direct": _case("convolve", A2, B2, "bad", method="direct"),
    "convolve-mode-upper": _case("convolve", A1, B1, "FULL"),
    "correlate-mode-bad": _case("correlate", A1, B1, "bad"),
    "correlate-mode-int": _case("correlate", A1, B1, 2),
    "correlate-mode-bad-fft": _case("correlate", A1, B1, "bad", method="fft"),
    "fftconvolve-mode-bad": _case("fftconvolve", A1, B1, "bad"),
    "oaconvolve-mode-bad": _case("oaconvolve", A2, B2, "bad"),
    "convolve2d-mode-bad": _case("convolve2d", A2, B2, "bad"),
    "convolve2d-mode-int": _case("convolve2d", A2, B2, 2),
    "correlate2d-mode-int0": _case("correlate2d", A2, B2, 0),
    "choose-mode-bad": _case("choose_conv_method", A1, B1, "bad"),
    # -- bad method ------------------------------------------------------
    "convolve-method-bad": _case("convolve", A1, B1, method="bad"),
    "convolve-method-None": _case("convolve", A1, B1, method=None),
    "convolve-method-upper": _case("convolve", A1, B1, method="FFT"),
    "correlate-method-bad": _case("correlate", A1, B1, method="bad"),
    "correlate-method-bad-2d": _case("correlate", A2, B2, method="bad"),
    # -- bad boundary / fillvalue ----------------------------------------
    "convolve2d-boundary-bad": _case("convolve2d", A2, B2, boundary="bad"),
    "convolve2d-boundary-None": _case("convolve2d", A2, B2, boundary=None),
    "convolve2d-boundary-int": _case("convolve2d", A2, B2, boundary=1),
    "correlate2d-boundary-bad": _case("correlate2d", A2, B2, boundary="reflect"),
    "convolve2d-fill-list2": _case("convolve2d", A2, B2, fillvalue=[1, 2]),
    "convolve2d-fill-2d": _case("convolve2d", A2, B2, fillvalue=np.ones((2, 2))),
    "convolve2d-fill-list1": _case("convolve2d", A2, B2, fillvalue=[1]),
    "convolve2d-fill-str": _case("convolve2d", A2, B2, fillvalue="abc"),
    "convolve2d-fill-None": _case("convolve2d", A2, B2, fillvalue=None),
    "convolve2d-fill-None-int": _case("convolve2d", AI, AI, fillvalue=None),
    "convolve2d-fill-complex-real": _case("convolve2d", A2, B2, fillvalue=1j),
    "convolve2d-fill-float-int": _case("convolve2d", AI, AI, fillvalue=1.5),
    "convolve2d-fill-nan-int": _case("convolve2d", AI, AI, fillvalue=np.nan),
    "convolve2d-fill-big-int8": _case("convolve2d", AI.astype(np.int8), AI.astype(np.int8), fillvalue=1000),
    "convolve2d-fill-neg-uint8": _case("convolve2d", AI.astype(np.uint8), AI.astype(np.uint8), fillvalue=-1),
    "convolve2d-fill-complex-complex": _case("convolve2d", A2 + 0j, B2, fillvalue=1j),
    "convolve2d-fill-0d-array": _case("convolve2d", A2, B2, fillvalue=np.array(2.0)),
    "convolve2d-fill-list2-wrap": _case("convolve2d", A2, B2, boundary="wrap", fillvalue=[1, 2]),
    "correlate2d-fill-list2": _case("correlate2d", A2, B2, fillvalue=[1, 2]),
    "correlate2d-fill-complex-real": _case("correlate2d", A2, B2, fillvalue=2 + 1j),
    # -- dimensionality --------------------------------------------------
    "convolve-ndim-mismatch": _case("convolve", A2, A1),
    "convolve-ndim-mismatch-0d": _case("convolve", np.array(1.0), A1),
    "correlate-ndim-mismatch": _case("correlate", A2, A1),
    "correlate-ndim-mismatch-direct": _case("correlate", A2, A1, method="direct"),
    "fftconvolve-ndim-mismatch": _case("fftconvolve", A2, A1),
    "oaconvolve-ndim-mismatch": _case("oaconvolve", A2, A1),
    "choose-ndim-mismatch": _case("choose_conv_method", A2, A1),
    "convolve2d-1d": _case("convolve2d", A1, B1),
    "convolve2d-3d": _case("convolve2d", A3, A3),
    "convolve2d-0d": _case("convolve2d", 1.0, 2.0),
    "convolve2d-2d-1d": _case("convolve2d", A2, B1),
    "correlate2d-1d": _case("correlate2d", A1, B1),
    "correlate2d-3d": _case("correlate2d", A3, A3),
    # -- 'valid' with incompatible shapes --------------------------------
    "convolve-valid-incompatible": _case("convolve", TALL, WIDE, "valid"),
    "convolve-valid-incompatible-fft": _case("convolve", TALL, WIDE, "valid", method="fft"),
    "convolve-valid-incompatible-direct": _case("convolve", TALL, WIDE, "valid", method="direct"),
    "correlate-valid-incompatible": _case("correlate", TALL, WIDE, "valid"),
    "correlate-valid-incompatible-direct": _case("correlate", TALL, WIDE, "valid", method="direct"),
    "fftconvolve-valid-incompatible": _case("fftconvolve", TALL, WIDE, "valid"),
    "oaconvolve-valid-incompatible": _case("oaconvolve", TALL, WIDE, "valid"),
    "convolve2d-valid-incompatible": _case("convolve2d", TALL, WIDE, "valid"),
    "correlate2d-valid-incompatible": _case("correlate2d", TALL, WIDE, "valid"),
    "convolve-valid-incompatible-3d": _case("convolve", np.ones((3, 4, 5)), np.ones((4, 3, 5)), "valid"),
    # -- fftconvolve / oaconvolve axes -----------------------------------
    "fftconvolve-axes-out-of-range": _case("fftconvolve", A2, B2, axes=2),
    "fftconvolve-axes-negative-out-of-range": _case("fftconvolve", A2, B2, axes=-3),
    "fftconvolve-axes-duplicate": _case("fftconvolve", A2, B2, axes=[0, 0]),
    "fftconvolve-axes-duplicate-negative": _case("fftconvolve", A2, B2, axes=[1, -1]),
    "fftconvolve-axes-empty": _case("fftconvolve", A2, B2, axes=[]),
    "fftconvolve-axes-empty-tuple": _case("fftconvolve", A2, B2, axes=()),
    "fftconvolve-axes-float": _case("fftconvolve", A2, B2, axes=1.5),
    "fftconvolve-axes-float-list": _case("fftconvolve", A2, B2, axes=[1.0]),
    "fftconvolve-axes-str": _case("fftconvolve", A2, B2, axes="a"),
    "fftconvolve-axes-nested": _case("fftconvolve", A2, B2, axes=[[0]]),
    "fftconvolve-axes-incompatible": _case("fftconvolve", A2, B2, axes=0),
    "fftconvolve-axes-incompatible-neg": _case("fftconvolve", A2, B2, axes=-1),
    "fftconvolve-axes-broadcast-ok": _case("fftconvolve", A2, np.ones((1, 3)), axes=1),
    "fftconvolve-axes-np-int": _case("fftconvolve", A2, np.ones((4, 3)), axes=np.int64(1)),
    "fftconvolve-axes-array": _case("fftconvolve", A2, np.ones((4, 3)), axes=np.array([1])),
    "oaconvolve-axes-out-of-range": _case("oaconvolve", A2, B2, axes=2),
    "oaconvolve-axes-duplicate": _case("oaconvolve", A2, B2, axes=[0, 0]),
    "oaconvolve-axes-empty": _case("oaconvolve", A2, B2, axes=[]),
    "oaconvolve-axes-float": _case("oaconvolve", A2, B2, axes=1.5),
    "oaconvolve-axes-incompatible": _case("oaconvolve", A2, B2, axes=0),
    "oaconvolve-axes-incompatible-3d": _case("oaconvolve", A3, np.ones((2, 3, 5)), axes=[1]),
    # -- unsupported dtypes (scipy's C paths) ----------------------------
    "convolve2d-bool": _case("convolve2d", A2 > 5, B2 > 0),
    "convolve2d-float16": _case("convolve2d", A2.astype(np.float16), B2.astype(np.float16)),
    "convolve2d-object": _case("convolve2d", OBJ2, OBJ2),
    "correlate2d-bool": _case("correlate2d", A2 > 5, B2 > 0),
    "correlate2d-float16": _case("correlate2d", A2.astype(np.float16), B2.astype(np.float16)),
    "convolve-2d-direct-bool": _case("convolve", A2 > 5, B2 > 0, method="direct"),
    "convolve-2d-direct-float16": _case("convolve", A2.astype(np.float16), B2.astype(np.float16),
                                        method="direct"),
    "convolve-3d-direct-float16": _case("convolve", A3.astype(np.float16), A3.astype(np.float16),
                                        method="direct"),
    "correlate-2d-direct-bool": _case("correlate", A2 > 5, B2 > 0, method="direct"),
    "convolve-2d-direct-object": _case("convolve", OBJ2, OBJ2, method="direct"),
    "convolve-1d-object": _case("convolve", OBJ1, OBJ1),
    "convolve-1d-object-fft": _case("convolve", OBJ1, OBJ1, method="fft"),
    "fftconvolve-object": _case("fftconvolve", OBJ1, OBJ1),
    "convolve-str": _case("convolve", np.array(["a", "b"]), np.array(["a"])),
    "convolve-datetime": _case("convolve", np.ones(3, "M8[s]"), np.ones(3, "M8[s]")),
    "convolve-ragged": _case("convolve", [[1, 2], [3]], [1]),
    # -- choose_conv_method quirks (scipy checks neither shapes nor emptiness) --
    "choose-valid-incompatible": _case("choose_conv_method", TALL, WIDE, "valid"),
    "choose-empty-int": _case("choose_conv_method", np.array([], np.int8), np.array([], np.int8)),
    "choose-empty-float": _case("choose_conv_method", np.array([]), B1),
    # -- empty inputs ----------------------------------------------------
    "convolve-empty": _case("convolve", np.array([]), B1),
    "convolve-empty-kernel": _case("convolve", A1, np.array([])),
    "convolve-empty-fft": _case("convolve", np.array([]), B1, method="fft"),
    "convolve-empty-same": _case("convolve", np.array([]), B1, "same"),
    "correlate-empty-direct": _case("correlate", np.array([]), B1, method="direct"),
    "correlate-empty-kernel-fft": _case("correlate", A1, np.array([]), method="fft"),
    "fftconvolve-empty": _case("fftconvolve", np.array([]), B1),
    "oaconvolve-empty": _case("oaconvolve", np.ones((0, 3)), np.ones((2, 2))),
    "convolve2d-empty-fill": _case("convolve2d", np.ones((0, 3)), np.ones((2, 2)), fillvalue=5),
    "correlate2d-empty-kernel": _case("correlate2d", np.ones((2, 2)), np.ones((0, 1))),
}


@pytest.mark.parametrize("case", list(CASES))
def test_same_exception_as_scipy(case):
    fname, args, kwargs = CASES[case]
    out = run_both(lambda: getattr(nc(), fname)(*args, **kwargs),
                   lambda: getattr(ss, fname)(*args, **kwargs), context=f"[{case}]")
    if out.ok:
        if fname == "choose_conv_method":
            assert out.ours in ("direct", "fft")
        else:
            assert_matches_scipy(out.ours, out.ref, err_msg=f"[{case}]")


def test_scipy_really_raises_for_the_documented_quirks():
    """Guard the oracle: if SciPy stops raising, the cases above change meaning."""
    with pytest.raises(ValueError):
        ss.convolve2d(A2 > 5, B2 > 0)
    with pytest.raises(ValueError):
        ss.convolve(A2 > 5, B2 > 0, method="direct")
    with pytest.raises(IndexError):
        ss.convolve(np.array([]), B1, method="fft")
    assert ss.fftconvolve(np.array([]), B1).shape == (0,)


# -- workers keyword: scipy.fft's semantics are the oracle ------------------

WORKERS = [0, -10_000, 1.5, "2", None, 1, 2, -1, np.int64(2)]
CALLS = {
    "convolve": lambda w: nc().convolve(A2, B2, workers=w),
    "convolve-direct": lambda w: nc().convolve(A2, B2, method="direct", workers=w),
    "convolve-fft": lambda w: nc().convolve(A2, B2, method="fft", workers=w),
    "correlate": lambda w: nc().correlate(A1, B1, workers=w),
    "fftconvolve": lambda w: nc().fftconvolve(A2, B2, workers=w),
    "oaconvolve": lambda w: nc().oaconvolve(A2, B2, workers=w),
    "convolve2d": lambda w: nc().convolve2d(A2, B2, workers=w),
    "correlate2d": lambda w: nc().correlate2d(A2, B2, "same", "wrap", workers=w),
}
REFS = {
    "convolve": lambda: ss.convolve(A2, B2),
    "convolve-direct": lambda: ss.convolve(A2, B2, method="direct"),
    "convolve-fft": lambda: ss.convolve(A2, B2, method="fft"),
    "correlate": lambda: ss.correlate(A1, B1),
    "fftconvolve": lambda: ss.fftconvolve(A2, B2),
    "oaconvolve": lambda: ss.oaconvolve(A2, B2),
    "convolve2d": lambda: ss.convolve2d(A2, B2),
    "correlate2d": lambda: ss.correlate2d(A2, B2, "same", "wrap"),
}


@pytest.mark.parametrize("workers", WORKERS, ids=repr)
@pytest.mark.parametrize("call", list(CALLS))
def test_workers_keyword_like_scipy_fft(call, workers):
    """workers=0 -> ValueError, too negative -> ValueError, non-integer ->
    the same exception type as ``scipy.fft.fft(x, workers=...)``."""
    out = run_both(lambda: CALLS[call](workers),
                   lambda: scipy.fft.fft(A1, workers=workers), context=f"[{call} workers={workers!r}]")
    if out.ok:
        assert_matches_scipy(out.ours, REFS[call](), A2, B2)


@pytest.mark.parametrize("workers", [0, -10_000, 1.5, "2", None, 2, -1],
                         ids=repr)
def test_set_workers_rejects_like_scipy_fft(workers):
    def enter(module):
        with module.set_workers(workers):
            return module.get_workers()
    run_both(lambda: enter(nc()), lambda: enter(scipy.fft), context=f"[set_workers({workers!r})]")
