"""How far a benchmarked result may be from SciPy's: the tolerance table applied to a cell.

``numbaconv bench`` (CPU and GPU) checks every result it times against
``scipy.signal`` with :func:`bound` and :func:`numbaconv._tools.tolerance.compare`.
"""
from __future__ import annotations

import math
import sys

import numpy as np

from . import tolerance


def bound(a, kern, mode: str, result_dtype, *, n_fft: int | None = None):
    """The per-element allowance for a convolution of ``a`` and ``kern`` in ``mode``.

    The magnitude is the same convolution of ``|a|`` and ``|kern|`` in
    float64 (SciPy's); :func:`numbaconv._tools.tolerance.allowed_error` turns
    it into a bound for ``result_dtype`` computed from inputs of ``a``'s and
    ``kern``'s dtypes.  Exact dtypes get 0.

    Parameters
    ----------
    a, kern : ndarray
        The inputs (host arrays).
    mode : str
        The mode of the result the bound is for.
    result_dtype : dtype
        The dtype of the result being checked.
    n_fft : int, optional
        Elements of the transform an FFT method would use; default: the
        size of the full result of ``a`` and ``kern`` (pass the whole
        problem's when ``a`` is a patch of it).

    Examples
    --------
    >>> import numpy as np
    >>> from numbaconv._tools.checks import bound
    >>> b = bound(np.ones(8), np.ones(3), "valid", np.float64)
    >>> b.shape, bool((b > 0).all() and (b < 1e-12).all())
    ((6,), True)
    """
    import scipy.signal
    dt = np.dtype(result_dtype)
    if tolerance.exact(dt):
        return 0.0
    mag = scipy.signal.convolve(np.abs(a).astype(np.float64), np.abs(kern).astype(np.float64),
                                mode=mode)
    if n_fft is None:
        n_fft = math.prod(n + k - 1 for n, k in zip(a.shape, kern.shape))
    top = None
    if mode != "full" and mag.size:
        top = float(scipy.signal.convolve(np.abs(a).astype(np.float64),
                                          np.abs(kern).astype(np.float64), mode="full").max())
    return tolerance.allowed_error(mag, tolerance.eps(dt, a.dtype, kern.dtype), kern.size, n_fft,
                                   top)


def exit_status(rows, peer: str) -> int:
    """A bench command's exit status: 1 (saying how many) when a row disagrees with ``peer``.

    >>> exit_status([{"agree": True}, {"agree": True}], "scipy.signal")
    0
    """
    bad = sum(not r["agree"] for r in rows)
    if bad:
        print(f"{bad} of {len(rows)} rows disagree with {peer}", file=sys.stderr)
    return 1 if bad else 0


def inapplicable(args, defaults: dict) -> list:
    """The options of ``args`` changed from ``defaults`` (a mode's unused options), as flags."""
    return ["--" + k.replace("_", "-") for k, v in defaults.items() if getattr(args, k, v) != v]
