"""Input preparation shared by every public function: SciPy's checks, in SciPy's words.

Each family (convolve/correlate, fftconvolve/oaconvolve, convolve2d/
correlate2d, choose_conv_method/explain) starts with :func:`arrays`: the
call's :class:`~numbaconv._arrays.ArrayOps`, both inputs as arrays of that
device, and SciPy's rank rule.  The other helpers are SciPy's rules for
modes, methods, axes, fill values, and the dtypes SciPy computes itself.
"""
from __future__ import annotations

import operator
import warnings

import numpy as np

from ._arrays import HostOps, is_gpu_array
from ._dispatch import METHODS

DEVICES = ("auto", "cpu", "cuda")


def ops_for(device, in1, in2):
    """The :class:`~numbaconv._arrays.ArrayOps` of a call, from ``device`` and the inputs' kind."""
    if device == "auto" and type(in1) is np.ndarray and type(in2) is np.ndarray:
        return HostOps      # the common case, without the attribute probes below
    if not isinstance(device, str) or device not in DEVICES:
        raise ValueError(f"device must be one of {DEVICES}, not {device!r}")
    gpu_in = is_gpu_array(in1) or is_gpu_array(in2)
    if device == "cuda" or (device == "auto" and gpu_in):
        from . import _gpu
        return _gpu.ops()
    if gpu_in:
        raise ValueError("device='cpu' was given GPU arrays; copy them to the host first")
    return HostOps


def arrays(in1, in2, device, rank_message="in1 and in2 should have the same dimensionality",
           ndim=None):
    """``(ops, in1, in2)``: the call's array operations and both inputs as its arrays.

    Raises SciPy's ``ValueError`` (``rank_message``) when the ranks differ,
    or when ``ndim`` is given and either input has another rank.
    """
    ops = ops_for(device, in1, in2)
    in1, in2 = ops.asarray(in1), ops.asarray(in2)
    if (in1.ndim != in2.ndim) if ndim is None else not (in1.ndim == in2.ndim == ndim):
        raise ValueError(rank_message)
    return ops, in1, in2


def check_method(method):
    """SciPy's error for an unknown ``method`` (with numbaconv's extra ones named)."""
    if not isinstance(method, str) or method not in METHODS:
        raise ValueError("Acceptable method flags are 'auto', 'direct', 'fft', 'oa' "
                         "or 'separable'.")


def scipy_signal():
    """:mod:`scipy.signal`, imported when a call is handed to it."""
    import scipy.signal
    return scipy.signal


def delegate_to_scipy(in1, in2) -> bool:
    """Dtypes Numba cannot compute (object, long double, strings): SciPy runs them."""
    return not (numba_dtype(in1.dtype) and numba_dtype(in2.dtype))


def numba_dtype(dt) -> bool:
    """Whether Numba can compute in ``dt`` (any byte order): not object, string, long double."""
    return dt.kind in "biu" or (dt.kind == "f" and dt.itemsize <= 8) or (
        dt.kind == "c" and dt.itemsize <= 16)


def np_convolve_path(in1, in2, mode) -> bool:
    """Whether SciPy's direct method hands these inputs to ``np.convolve``/``np.correlate``.

    Those leave the products outside the signal out; SciPy's N-D direct
    path (and ``convolve2d``) multiplies the zero fill, which a non-finite
    kernel tap shows (``0 * nan``): see :mod:`numbaconv._api`.
    """
    if in1.ndim == in2.ndim == 1:
        return mode in ("full", "valid") or in1.size >= in2.size
    return False


def scipy_direct_unsupported(in1, in2, mode) -> bool:
    """SciPy's N-D direct path rejects bool, float16 and object ('Unsupported type').

    Only 1-D inputs that take ``np.convolve`` escape it; we raise alike so
    that code behaves the same after switching the import.
    """
    dt = np.result_type(in1, in2)
    if dt.kind != "b" and dt != np.float16:
        return False
    return not np_convolve_path(in1, in2, mode)


def normalise_axes(in1, in2, axes, keep_length_one=False):
    """SciPy's axes rules (``_init_freq_conv_axes``), returning a sorted list."""
    ndim = in1.ndim
    noaxes = axes is None
    if noaxes:
        axes = list(range(ndim))
    else:
        try:
            axes = [operator.index(axes)] if np.ndim(axes) == 0 else [operator.index(a) for a in axes]
        except TypeError:
            raise ValueError("axes must be a scalar or iterable of integers") from None
        if any(a >= ndim or a < -ndim for a in axes):
            raise ValueError("axes exceeds dimensionality of input")
        axes = [a % ndim for a in axes]
        if len(set(axes)) != len(axes):
            raise ValueError("all axes must be unique")
        if not axes:
            raise ValueError("when provided, axes cannot be empty")
    s1, s2 = in1.shape, in2.shape
    if keep_length_one:
        return sorted(axes)
    axes = sorted(a for a in axes if s1[a] != 1 and s2[a] != 1)
    if not all(s1[a] == s2[a] or s1[a] == 1 or s2[a] == 1
               for a in range(ndim) if a not in axes):
        raise ValueError(f"incompatible shapes for in1 and in2: {s1} and {s2}")
    return axes


_CAST_MSG = ("could not cast `fillvalue` directly to the output type "
             "(it was first converted to complex).")


def fill_value(fillvalue, dtype):
    """SciPy's rules: one element, cast from the Python value; None becomes NaN."""
    if type(fillvalue) is int and fillvalue == 0:   # the default: zero in every dtype
        return 0
    arr = np.asarray(fillvalue)
    if arr.size != 1:
        raise ValueError("`fillvalue` must be scalar or an array with one element.")
    if arr.dtype.kind == "c" and dtype.kind != "c":
        raise ValueError(_CAST_MSG)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if isinstance(fillvalue, (np.generic, np.ndarray)):
                value = arr.reshape(()).astype(dtype)        # NumPy values cast (and wrap)
            else:
                value = np.array(arr.reshape(()).item(), dtype=dtype)
    except (TypeError, ValueError, OverflowError):
        raise ValueError(_CAST_MSG) from None
    return value.item() if dtype.kind != "c" else complex(value)
