"""An obviously-correct pure-NumPy convolution oracle.

It loops over the kernel's offsets and adds shifted, scaled copies of the
signal -- no FFTs, no clever indexing -- in the result dtype
``np.result_type(in1, in2)``.  Integer products and sums therefore wrap
exactly like SciPy's direct method; bool is OR-of-AND like ``np.convolve``.

It is the second oracle for cases where SciPy itself is inexact (SciPy's
FFT path for integers, which rounds through float64).  Modes follow
``scipy.signal.convolve``/``correlate``: 'same' is centred on
``(k - 1) // 2`` and 'valid' works whichever input is larger.
"""
from __future__ import annotations

import operator

import numpy as np

__all__ = ["convolve", "correlate", "full_convolve", "crop"]


def _axes(ndim, axes):
    if axes is None:
        return tuple(range(ndim))
    if np.ndim(axes) == 0:
        axes = [axes]
    out = tuple(sorted(operator.index(a) % ndim for a in axes))
    if len(set(out)) != len(out):
        raise ValueError("duplicate axes")
    return out


def full_convolve(a, b, axes=None, dtype=None):
    """Full N-D convolution of ``a`` and ``b`` along ``axes`` (others broadcast)."""
    a = np.asarray(a)
    b = np.asarray(b)
    if a.ndim != b.ndim:
        raise ValueError("ndim mismatch")
    dt = np.result_type(a, b) if dtype is None else np.dtype(dtype)
    if a.size == 0 or b.size == 0:
        raise ValueError("naive oracle does not handle empty inputs")
    axes = _axes(a.ndim, axes)
    out_shape = []
    for ax in range(a.ndim):
        n, k = a.shape[ax], b.shape[ax]
        if ax in axes:
            out_shape.append(n + k - 1)
        else:
            if n != k and 1 not in (n, k):
                raise ValueError("incompatible non-convolved axes")
            out_shape.append(max(n, k))
    A = a.astype(dt)
    B = b.astype(dt)
    out = np.zeros(out_shape, dt)
    with np.errstate(all="ignore"):
        for idx in np.ndindex(*(b.shape[ax] for ax in axes)):
            osl = [slice(None)] * a.ndim
            bsl = [slice(None)] * a.ndim
            for ax, i in zip(axes, idx):
                osl[ax] = slice(i, i + a.shape[ax])
                bsl[ax] = slice(i, i + 1)
            term = A * B[tuple(bsl)]
            # broadcast the term to the output block (non-convolved axes)
            out[tuple(osl)] += np.broadcast_to(term, out[tuple(osl)].shape)
    return out


def crop(full, shape1, shape2, mode, axes=None, same_start=None):
    """Cut SciPy's 'full'/'same'/'valid' window out of a full result.

    ``same_start(n, k)`` gives the 'same' offset (default ``(k - 1) // 2``,
    SciPy's convolve/correlate/convolve2d centring).  'same' crops *every*
    axis to ``shape1`` (as ``fftconvolve`` does, broadcast axes included).
    With explicit ``axes`` (``fftconvolve`` semantics) axes where either
    input has length 1 are broadcast, not convolved, for 'valid'.
    """
    if mode == "full":
        return full
    ndim = len(shape1)
    if axes is None:
        axes = tuple(range(ndim))
    else:
        axes = tuple(ax for ax in _axes(ndim, axes) if shape1[ax] != 1 and shape2[ax] != 1)
    sl = [slice(None)] * full.ndim
    if mode == "same":
        for ax in range(ndim):
            n, k = shape1[ax], full.shape[ax] - shape1[ax] + 1
            start = (k - 1) // 2 if same_start is None else same_start(n, k)
            sl[ax] = slice(start, start + n)
    elif mode == "valid":
        ok1 = all(shape1[ax] >= shape2[ax] for ax in axes)
        ok2 = all(shape2[ax] >= shape1[ax] for ax in axes)
        if not (ok1 or ok2):
            raise ValueError("'valid' needs one input at least as large in every axis")
        for ax in axes:
            n, k = shape1[ax], shape2[ax]
            sl[ax] = slice(min(n, k) - 1, max(n, k))
    else:
        raise ValueError(f"bad mode {mode!r}")
    return full[tuple(sl)]


def convolve(a, b, mode="full", axes=None, dtype=None):
    """``scipy.signal.convolve(a, b, mode)`` computed naively (exact for ints)."""
    a = np.asarray(a)
    b = np.asarray(b)
    return crop(full_convolve(a, b, axes, dtype), a.shape, b.shape, mode, axes)


def correlate(a, b, mode="full", axes=None, dtype=None):
    """``scipy.signal.correlate(a, b, mode)`` computed naively (exact for ints)."""
    a = np.asarray(a)
    b = np.asarray(b)
    ax = _axes(a.ndim, axes)
    kernel = np.conj(b) if b.dtype.kind == "c" else b
    kernel = kernel[tuple(slice(None, None, -1) if i in ax else slice(None)
                          for i in range(b.ndim))]
    return crop(full_convolve(a, kernel, axes, dtype), a.shape, b.shape, mode, axes)


def exact_bound(a, b) -> int:
    """An upper bound of ``|result|`` in exact integer arithmetic."""
    a = np.asarray(a)
    b = np.asarray(b)
    if a.size == 0 or b.size == 0:
        return 0
    ma = max(abs(int(x)) for x in (a.min(), a.max())) if a.dtype.kind in "biu" else None
    mb = max(abs(int(x)) for x in (b.min(), b.max())) if b.dtype.kind in "biu" else None
    if ma is None or mb is None:
        raise TypeError("exact_bound needs integer or bool inputs")
    return ma * mb * min(a.size, b.size)
