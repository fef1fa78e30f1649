"""numbaconv: JIT-compiled convolution kernels, a drop-in for scipy.signal.

Importing numbaconv needs only NumPy, SciPy and Numba; CUDA and Dask support
are imported when first used.
"""
from ._api import (choose_conv_method, convolve, convolve2d, correlate, correlate2d,
                   explain, fftconvolve, oaconvolve)
from ._config import get_workers, set_workers

__version__ = "0.1.0"


def calibrate(*args, **kwargs):
    """Fit the cost model on this machine; see :func:`numbaconv._calibrate.calibrate`."""
    from ._calibrate import calibrate as _calibrate
    return _calibrate(*args, **kwargs)


__all__ = ["convolve", "correlate", "fftconvolve", "oaconvolve", "convolve2d", "correlate2d",
           "choose_conv_method", "explain", "calibrate", "get_workers", "set_workers",
           "__version__"]
