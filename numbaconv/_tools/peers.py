"""Other libraries' convolutions, as zero-argument callables: one definition for bench and asv.

:func:`make` returns a callable that computes what
``numbaconv.convolve(a, kern, mode)`` does, or raises :class:`Skip` (a
``NotImplementedError``, which asv shows as a skipped cell) when the peer is
not installed, cannot compute that problem, or would take too long.
"""
from __future__ import annotations

import numpy as np

from .._problem import build_problem

#: peers whose work grows like outputs x taps
DIRECT_LIKE = frozenset({"scipy.direct", "scipy.convolve2d", "numpy.convolve", "cv2.filter2D"})
#: direct-like peers are skipped above this many multiply-adds (single-threaded: minutes)
MAX_DIRECT_OPS = 2e10
#: the optional peers ``numbaconv bench --peers`` times next to numbaconv
OPTIONAL = ("numpy.convolve", "cv2.filter2D", "pyfftw.fftconvolve")


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
        Threads for ``scipy.fft`` (SciPy's direct paths are single-threaded).
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
        raise Skip(f"{name}: more than {max_direct_ops:.3g} multiply-adds single-threaded")
    fn = _FACTORIES[name](a, kern, mode)
    if workers is None or not name.startswith("scipy."):
        return fn
    import scipy.fft

    def with_workers():
        with scipy.fft.set_workers(workers):
            return fn()
    return with_workers


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


def _cv2_filter2d(a, kern, mode):
    """OpenCV's filter2D as ``convolve(..., 'same')``: it correlates, so the kernel is flipped."""
    try:
        import cv2
    except Exception:  # noqa: BLE001 - any import failure means "absent"
        raise Skip("OpenCV (cv2) is not installed") from None
    if a.ndim != 2 or mode != "same":
        raise Skip("cv2.filter2D is 2-D 'same' only")
    if a.dtype not in (np.float32, np.float64):
        raise Skip("cv2.filter2D takes real float32/float64")
    # SciPy's 'same' window starts at (k-1)//2 of the full result: anchor k//2 of the flipped kernel
    flipped = np.ascontiguousarray(kern[::-1, ::-1])
    anchor = (kern.shape[1] // 2, kern.shape[0] // 2)
    src = np.ascontiguousarray(a)
    return lambda: cv2.filter2D(src, -1, flipped, anchor=anchor, delta=0,
                                borderType=cv2.BORDER_CONSTANT)


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
    "pyfftw.fftconvolve": _pyfftw_fftconvolve,
}
