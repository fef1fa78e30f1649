"""The one tolerance table: how far two convolutions of the same inputs may differ.

Direct sums and FFTs both err by a small multiple of the arithmetic's
``eps``.  A direct sum's error at an output is bounded by that output's own
magnitude ``(|a| * |b|)[i]`` (the convolution of the absolute values); an
FFT spreads its rounding over the whole output, as ``eps log2(N)`` times the
largest magnitude.  :func:`allowed_error` allows both, per element, and
nothing more: a dropped or doubled tap changes an output by about
``magnitude / taps``, far above either term.  Integers and bool are exact.

The benchmark checks every result with it, and the test suite too.
"""
from __future__ import annotations

import math

import numpy as np

#: per-element allowance, in ``eps`` of the arithmetic, times ``sqrt(taps)``
ELEMENT_EPS = 8.0
#: global allowance of FFT rounding, in ``eps * log2(N)`` of the largest magnitude
FFT_EPS = 8.0


def eps(*dtypes) -> float:
    """The ``eps`` of the least precise floating dtype among ``dtypes`` (0: all exact)."""
    e = 0.0
    for dt in dtypes:
        dt = np.dtype(dt)
        if dt.kind in "fc":
            e = max(e, float(np.finfo(dt).eps))
    return e


def exact(dtype) -> bool:
    """Whether results of ``dtype`` must match exactly (integers and bool)."""
    return np.dtype(dtype).kind in "biu"


def allowed_error(magnitude, eps_, taps: int, n_fft: int, top=None):
    """The largest ``|ours - reference|`` allowed at each output.

    Parameters
    ----------
    magnitude : ndarray
        ``(|a| * |b|)`` over the same window as the outputs (float64), e.g.
        the same convolution of ``np.abs`` of the inputs.
    eps_ : float
        :func:`eps` of the result and input dtypes.
    taps : int
        Kernel elements summed per output.
    n_fft : int
        Elements of the transform an FFT method would use (the full
        result's size is a fine upper bound).
    top : float, optional
        The largest magnitude of the whole transform's result: an FFT
        spreads its rounding over all of it, also where a 'same' or
        'valid' window leaves it out (default: the window's largest).

    Returns
    -------
    ndarray
        Per-element bound, broadcastable to ``magnitude``.
    """
    magnitude = np.asarray(magnitude, dtype=np.float64)
    if top is None:
        top = float(np.max(magnitude)) if magnitude.size else 0.0
    element = ELEMENT_EPS * eps_ * math.sqrt(max(taps, 1)) * magnitude
    spread = FFT_EPS * eps_ * math.log2(max(n_fft, 2)) * top
    return element + spread + np.finfo(np.float64).tiny


def compare(result, reference, bound) -> dict:
    """``{'agree', 'max_abs_err', 'reason'}`` for ``result`` against ``reference``.

    ``bound`` is :func:`allowed_error`'s array (or a scalar; 0 for exact
    comparison).  Dtype and shape must match; NaN must sit where the
    reference has NaN and infinities must agree.
    """
    res, ref = np.asarray(result), np.asarray(reference)
    if res.shape != ref.shape:
        return {"agree": False, "max_abs_err": None,
                "reason": f"shape {res.shape} != reference's {ref.shape}"}
    if res.dtype != ref.dtype:
        return {"agree": False, "max_abs_err": None,
                "reason": f"dtype {res.dtype} != reference's {ref.dtype}"}
    if res.size == 0:
        return {"agree": True, "max_abs_err": 0.0, "reason": ""}
    wide = np.complex128 if res.dtype.kind == "c" or ref.dtype.kind == "c" else np.float64
    r, f = res.astype(wide), ref.astype(wide)
    same_special = (np.isnan(r) == np.isnan(f)) & (np.isinf(r) == np.isinf(f))
    if not same_special.all():
        return {"agree": False, "max_abs_err": math.inf,
                "reason": "NaN or inf at other positions than the reference's"}
    finite = np.isfinite(f)
    diff = np.where(finite, np.abs(r - f), 0.0)
    inf_mismatch = (~finite & ~np.isnan(f)) & (r != f)
    if inf_mismatch.any():
        return {"agree": False, "max_abs_err": math.inf, "reason": "infinities of another sign"}
    excess = diff - np.broadcast_to(bound, diff.shape)
    err = float(diff.max())
    if (excess > 0).any():
        i = np.unravel_index(int(np.argmax(excess)), diff.shape)
        b = float(np.broadcast_to(bound, diff.shape)[i])
        return {"agree": False, "max_abs_err": err,
                "reason": f"|error| {float(diff[i]):.3g} > allowed {b:.3g} at {tuple(map(int, i))}"}
    return {"agree": True, "max_abs_err": err, "reason": ""}
