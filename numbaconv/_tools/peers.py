"""Other libraries' convolutions, as zero-argument callables: one definition for bench and asv.

:func:`make` returns a callable that computes what
``numbaconv.convolve(a, kern, mode)`` does, or raises :class:`Skip` (a
``NotImplementedError``, which asv shows as a skipped cell) when the peer is
not installed, cannot compute that problem, or would take too long.

OpenCV and torch correlate: their peers flip the kernel, and reproduce
SciPy's modes with OpenCV's anchor (:func:`same_anchor`, zero border) and
torch's padding (:func:`torch_geometry`); ``cv2.sepFilter2D`` runs only
kernels that numbaconv's own rank-1 test factors (:func:`rank1_taps`).
Both run on numbaconv's worker count, set at every call.
"""
from __future__ import annotations

import numpy as np

from .._config import resolve_workers
from .._probes import separable_factors
from .._problem import build_problem
from .tolerance import compare

#: peers whose work grows like outputs x taps
DIRECT_LIKE = frozenset({"scipy.direct", "scipy.convolve2d", "numpy.convolve", "cv2.filter2D",
                         "torch.conv1d", "torch.conv2d"})
#: direct-like peers are skipped above this many multiply-adds (SciPy's, single-threaded: minutes)
MAX_DIRECT_OPS = 2e10
#: the optional peers ``numbaconv bench --peers`` times next to numbaconv
OPTIONAL = ("numpy.convolve", "cv2.filter2D", "cv2.sepFilter2D", "torch.conv1d",
            "torch.conv2d", "pyfftw.fftconvolve")
#: peers that run on threads of their own: ``workers`` sets their thread count
THREADED = frozenset({"cv2.filter2D", "cv2.sepFilter2D", "torch.conv1d", "torch.conv2d"})


class Skip(NotImplementedError):
    """This peer cannot run this cell (asv shows the cell as skipped)."""


def direct_ops(a, kern, mode) -> float:
    """Multiply-adds a direct method does on ``a`` and ``kern`` (:attr:`Problem.macs`)."""
    return build_problem(a.shape, kern.shape, mode, np.result_type(a, kern)).macs


def make(name: str, a, kern, mode: str, *, workers=None, max_direct_ops=MAX_DIRECT_OPS):
    """A zero-argument callable running peer ``name`` on ``a`` and ``kern``.

    Parameters
    ----------
    name : str
        ``'scipy.auto'``, ``'scipy.direct'``, ``'scipy.fft'``,
        ``'scipy.oaconvolve'``, ``'scipy.convolve2d'``, or one of
        :data:`OPTIONAL`.
    a, kern : ndarray
        Signal and kernel.
    mode : str
        SciPy's mode.
    workers : int, optional
        Threads for ``scipy.fft`` (SciPy's direct paths are single-threaded),
        OpenCV (``cv2.setNumThreads``) and torch (``torch.set_num_threads``),
        set at each call; OpenCV and torch default to numbaconv's worker
        count (every core unless :func:`numbaconv.set_workers` says otherwise).
    max_direct_ops : float, optional
        Skip a :data:`DIRECT_LIKE` peer above this many multiply-adds.

    Raises
    ------
    Skip
        Not installed, not this kind of problem, or too slow.
    """
    if name not in _FACTORIES:
        raise ValueError(f"unknown peer {name!r}; known: {sorted(_FACTORIES)}")
    if name in DIRECT_LIKE and direct_ops(a, kern, mode) > max_direct_ops:
        raise Skip(f"{name}: more than {max_direct_ops:.3g} multiply-adds (outputs x taps)")
    if name in THREADED:
        return _FACTORIES[name](a, kern, mode, resolve_workers(workers))
    fn = _FACTORIES[name](a, kern, mode)
    if workers is None or not name.startswith("scipy."):
        return fn
    import scipy.fft

    def with_workers():
        with scipy.fft.set_workers(workers):
            return fn()
    return with_workers


def checked(names, a, kern, mode, ref, bound, *, workers=None):
    """The peers of ``names`` that can run this cell, each run once and checked against ``ref``.

    Returns ``(fns, info)``: ``fns`` maps each runnable peer to its callable,
    ``info`` every name to ``{'agree', 'max_abs_err'}`` or ``{'skipped': why}``
    (``bound`` is :func:`numbaconv._tools.checks.bound`'s allowance).  A peer
    that raises is recorded as skipped: a broken peer is not numbaconv's failure.
    """
    fns, info = {}, {}
    for name in names:
        try:
            fn = make(name, a, kern, mode, workers=workers)
            check = compare(np.asarray(fn(), dtype=ref.dtype), ref, bound)
        except Skip as exc:
            info[name] = {"skipped": str(exc)}
            continue
        except Exception as exc:  # noqa: BLE001 - recorded as the reason
            info[name] = {"skipped": f"{type(exc).__name__}: {exc}"}
            continue
        info[name] = {"agree": check["agree"], "max_abs_err": check["max_abs_err"]}
        fns[name] = fn
    return fns, info


def _scipy(method):
    def factory(a, kern, mode):
        import scipy.signal
        return lambda: scipy.signal.convolve(a, kern, mode=mode, method=method)
    return factory


def _scipy_oaconvolve(a, kern, mode):
    import scipy.signal
    return lambda: scipy.signal.oaconvolve(a, kern, mode=mode)


def _scipy_convolve2d(a, kern, mode):
    import scipy.signal
    if a.ndim != 2:
        raise Skip("scipy.convolve2d is 2-D only")
    return lambda: scipy.signal.convolve2d(a, kern, mode=mode)


def _numpy_convolve(a, kern, mode):
    if a.ndim != 1:
        raise Skip("numpy.convolve is 1-D only")
    return lambda: np.convolve(a, kern, mode=mode)


def same_anchor(shape_k) -> tuple:
    """OpenCV's ``anchor`` (x, y) that makes a correlation with the flipped kernel SciPy's 'same'.

    SciPy's 'same' window starts at ``(k - 1) // 2`` of the full result, so
    output ``i`` reads input ``i - k // 2 + j`` under tap ``j`` of the
    flipped kernel: the anchor is ``k // 2`` per axis (for even kernels too).

    >>> same_anchor((3, 4))
    (2, 1)
    """
    return (shape_k[1] // 2, shape_k[0] // 2)


def _cv2(a, kern, mode, name):
    """OpenCV and a contiguous float32/float64 image, or :class:`Skip`."""
    try:
        import cv2
    except Exception:  # noqa: BLE001 - any import failure means "absent"
        raise Skip("OpenCV (cv2) is not installed") from None
    if a.ndim != 2 or mode != "same":
        raise Skip(f"{name} is 2-D 'same' only")
    if a.dtype not in (np.float32, np.float64) or kern.dtype != a.dtype:
        raise Skip(f"{name} takes real float32/float64 (image and kernel alike)")
    return cv2, np.ascontiguousarray(a)


def _cv2_filter2d(a, kern, mode, workers):
    """OpenCV's filter2D as ``convolve(..., 'same')``: it correlates, so the kernel is flipped.

    The border is zero fill (``BORDER_CONSTANT``), SciPy's.
    """
    cv2, src = _cv2(a, kern, mode, "cv2.filter2D")
    flipped = np.ascontiguousarray(kern[::-1, ::-1])
    anchor = same_anchor(kern.shape)

    def run():
        cv2.setNumThreads(workers)
        return cv2.filter2D(src, -1, flipped, anchor=anchor, delta=0,
                            borderType=cv2.BORDER_CONSTANT)
    return run


def rank1_taps(kern):
    """``(column, row)`` taps with ``outer(column, row) == kern``, or :class:`Skip`.

    numbaconv's own rank-1 test (:func:`numbaconv._probes.separable_factors`),
    so a peer runs separably exactly where numbaconv's separable path may.
    """
    factors = separable_factors(kern) if kern.ndim == 2 else None
    if factors is None:
        raise Skip("the kernel is not rank 1 (not separable)")
    return factors


def _cv2_sepfilter2d(a, kern, mode, workers):
    """OpenCV's sepFilter2D on the rank-1 factors of ``kern``, as ``convolve(..., 'same')``.

    ``kernelX`` runs along rows (axis 1), ``kernelY`` along columns (axis 0);
    both are flipped (OpenCV correlates), with :func:`same_anchor` and zero fill.
    """
    cv2, src = _cv2(a, kern, mode, "cv2.sepFilter2D")
    col, row = rank1_taps(kern)
    kx = np.ascontiguousarray(row[::-1], dtype=a.dtype)
    ky = np.ascontiguousarray(col[::-1], dtype=a.dtype)
    anchor = same_anchor(kern.shape)

    def run():
        cv2.setNumThreads(workers)
        return cv2.sepFilter2D(src, -1, kx, ky, anchor=anchor, delta=0,
                               borderType=cv2.BORDER_CONSTANT)
    return run


def torch_geometry(shape_a, shape_k, mode):
    """Symmetric padding per axis and the slice of its output that is SciPy's ``mode``.

    torch pads both sides alike; SciPy's 'same' for an even kernel takes
    ``k // 2`` before and ``k // 2 - 1`` after, so ``k // 2`` is padded on
    both sides and the last output dropped.  Returns ``(padding, slices)``.

    >>> torch_geometry((10, 10), (3, 4), "same")
    ((1, 2), (slice(0, 10, None), slice(0, 10, None)))
    >>> torch_geometry((10,), (4,), "full")
    ((3,), (slice(0, 13, None),))
    """
    if mode == "full":
        pad = tuple(k - 1 for k in shape_k)
        length = tuple(n + k - 1 for n, k in zip(shape_a, shape_k))
    elif mode == "same":
        pad = tuple(k // 2 for k in shape_k)
        length = tuple(shape_a)
    elif mode == "valid":
        pad = (0,) * len(shape_k)
        length = tuple(n - k + 1 for n, k in zip(shape_a, shape_k))
    else:
        raise ValueError(f"unknown mode {mode!r}")
    return pad, tuple(slice(0, n) for n in length)


def _torch(ndim):
    name = f"torch.conv{ndim}d"

    def factory(a, kern, mode, workers):
        """torch.nn.functional.conv{1,2}d (a correlation) with the flipped kernel, on CPU."""
        try:
            import torch
            import torch.nn.functional as F
        except Exception:  # noqa: BLE001
            raise Skip("torch is not installed") from None
        if a.ndim != ndim:
            raise Skip(f"{name} is {ndim}-D only")
        if a.dtype not in (np.float32, np.float64) or kern.dtype != a.dtype:
            raise Skip(f"{name} takes real float32/float64 (signal and kernel alike)")
        if mode == "valid" and any(k > n for n, k in zip(a.shape, kern.shape)):
            if not all(k >= n for n, k in zip(a.shape, kern.shape)):
                raise Skip("'valid' needs one input at least as large as the other on every axis")
            a, kern = kern, a   # SciPy swaps the inputs; convolution commutes
        pad, slices = torch_geometry(a.shape, kern.shape, mode)
        conv = F.conv1d if ndim == 1 else F.conv2d
        x = torch.from_numpy(np.array(a, order="C")).reshape(1, 1, *a.shape)
        w = torch.from_numpy(np.flip(kern).copy()).reshape(1, 1, *kern.shape)

        def run():
            torch.set_num_threads(workers)
            with torch.inference_mode():
                return conv(x, w, padding=pad)[0, 0][slices].numpy()
        return run
    return factory


def _pyfftw_fftconvolve(a, kern, mode):
    """SciPy's fftconvolve on the pyFFTW backend (planner cache on)."""
    try:
        import pyfftw.interfaces.cache
        import pyfftw.interfaces.scipy_fft as backend
    except Exception:  # noqa: BLE001
        raise Skip("pyFFTW is not installed") from None
    import scipy.fft
    import scipy.signal
    pyfftw.interfaces.cache.enable()

    def run():
        with scipy.fft.set_backend(backend, only=True):
            return scipy.signal.fftconvolve(a, kern, mode=mode)
    return run


_FACTORIES = {
    "scipy.auto": _scipy("auto"),
    "scipy.direct": _scipy("direct"),
    "scipy.fft": _scipy("fft"),
    "scipy.oaconvolve": _scipy_oaconvolve,
    "scipy.convolve2d": _scipy_convolve2d,
    "numpy.convolve": _numpy_convolve,
    "cv2.filter2D": _cv2_filter2d,
    "cv2.sepFilter2D": _cv2_sepfilter2d,
    "torch.conv1d": _torch(1),
    "torch.conv2d": _torch(2),
    "pyfftw.fftconvolve": _pyfftw_fftconvolve,
}
