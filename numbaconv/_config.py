"""Thread control with SciPy's ``workers`` semantics, mapped onto Numba.

``workers=None`` takes the context default (see :func:`set_workers`), which
is every CPU Numba may use; a negative value counts back from the number of
CPUs (``-1`` is all of them); zero is an error.  Numba's thread count is
thread-local: the kernels' parallel item loop sets and restores it in compiled
code (:func:`numbaconv._kernels.calls.run_items`), and :func:`numba_threads`
does so around any other call.
"""
from __future__ import annotations

import contextlib
import operator
import os
import threading

import numba


class _PerThread(threading.local):
    """This thread's ``set_workers`` value; the class attribute is every thread's default
    (read in 0.1 µs by each memoised call, where ``getattr`` with a default takes 0.7)."""

    workers = None


_local = _PerThread()


_CPUS = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def cpu_count() -> int:
    """The CPUs this process may run on."""
    return _CPUS


#: what every ``workers`` error suggests instead
_WORKERS_FIX = "give a positive count, -1 for every CPU, or None for the default"


def _normalise(workers) -> int:
    """A ``workers`` value other than None as a positive count."""
    try:
        workers = operator.index(workers)
    except TypeError:
        raise TypeError(f"workers must be an integer, not {type(workers).__name__}; "
                        f"{_WORKERS_FIX}") from None
    if workers == 0:
        raise ValueError(f"workers must not be zero; {_WORKERS_FIX}")
    if workers < 0:
        workers += cpu_count() + 1
        if workers <= 0:
            raise ValueError("workers value out of range; got {}, must not be less than {}; {}"
                             .format(workers - cpu_count() - 1, -cpu_count(), _WORKERS_FIX))
    return workers


def resolve_workers(workers=None) -> int:
    """Return the positive number of workers that ``workers`` stands for."""
    if workers is None:             # every memoised call asks: no second call for the default
        return _local.workers or _CPUS
    return _normalise(workers)


def get_workers() -> int:
    """Return the default number of workers in the current context.

    Returns
    -------
    int
        The number of threads numbaconv uses when ``workers=None``.

    Examples
    --------
    >>> import numbaconv
    >>> numbaconv.get_workers() >= 1
    True
    """
    return resolve_workers(None)


@contextlib.contextmanager
def set_workers(workers):
    """Context manager for the default number of workers (SciPy semantics).

    Parameters
    ----------
    workers : int
        The default number of workers inside the context; negative values
        count back from the number of CPUs, zero is an error.

    Examples
    --------
    >>> import numbaconv
    >>> with numbaconv.set_workers(1):
    ...     numbaconv.get_workers()
    1
    """
    if workers is None:
        raise TypeError("'NoneType' object cannot be interpreted as an integer")
    new = _normalise(workers)
    old = _local.workers
    _local.workers = new
    try:
        yield
    finally:
        _local.workers = old


def thread_count(workers) -> int:
    """``workers`` clamped to ``1 .. NUMBA_NUM_THREADS``: the threads a parallel kernel gets."""
    return max(1, min(int(workers), numba.config.NUMBA_NUM_THREADS))


class numba_threads:
    """Context manager: run the body with Numba's thread count set to ``workers`` (clamped).

    A class rather than a generator: it wraps every parallel kernel call, and
    costs half as much as ``contextlib.contextmanager``.
    """

    __slots__ = ("n", "old")

    def __init__(self, workers: int):
        self.n = thread_count(workers)

    def __enter__(self) -> int:
        self.old = numba.get_num_threads()
        if self.n != self.old:
            numba.set_num_threads(self.n)
        return self.n

    def __exit__(self, *exc):
        if self.n != self.old:
            numba.set_num_threads(self.old)
