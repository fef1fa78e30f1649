"""numbaconv: JIT-compiled convolution kernels, a drop-in for scipy.signal.

Importing numbaconv needs only NumPy, SciPy and Numba; CUDA and Dask support
are imported when first used.
"""
from ._api import (choose_conv_method, convolve, convolve2d, correlate, correlate2d,
                   explain, fftconvolve, oaconvolve)
from ._config import get_workers, set_workers
from ._warmup import warmup  # importing it registers the compile notice
from ._memory import set_memory_limit

__version__ = "0.1.0"


def calibrate(*, quick=False, save=True, progress=None):
    """Fit the dispatcher's cost model on this machine.

    Times each backend on a few problems (about a minute; with a CUDA GPU
    its backends too) and solves each backend's cost formula for the
    coefficients it uses.  The fitted table is put in force at once.

    Parameters
    ----------
    quick : bool, optional
        Smaller problems: a few seconds, a rougher fit.
    save : bool, optional
        Store the table in the per-user cache (``$NUMBACONV_CACHE_DIR``
        overrides where), so that later processes on this machine use it.
    progress : callable, optional
        Called as ``progress(done, total, label)`` after each step.

    Returns
    -------
    dict
        The fitted coefficients, in the layout of
        ``numbaconv._coefficients.DEFAULTS`` (the GPU's under ``"cuda"``).

    Examples
    --------
    >>> import numbaconv
    >>> coeffs = numbaconv.calibrate(quick=True, save=False)  # doctest: +SKIP
    >>> coeffs["direct_mac"]["f8"]  # doctest: +SKIP
    3.1e-11
    """
    from ._tools.calibrate import calibrate as fit
    return fit(quick=quick, save=save, progress=progress)


#: subpackages imported on first attribute access, as SciPy does: ``numbaconv.nn`` works
#: after ``import numbaconv``, and ``numbaconv.dask`` imports Dask only when touched
_LAZY = ("nn", "dask")


def __getattr__(name):
    if name in _LAZY:
        import importlib
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_LAZY))


__all__ = ["convolve", "correlate", "fftconvolve", "oaconvolve", "convolve2d", "correlate2d",
           "choose_conv_method", "explain", "calibrate", "get_workers", "set_workers", "warmup",
           "set_memory_limit",
           "__version__"]
