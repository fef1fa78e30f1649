"""Threads that run :mod:`scipy.fft` calls beside the calling thread.

Not a backend: the FFT backends' shared pool.  pocketfft releases the
interpreter's lock while it transforms, so transforms on separate threads
run at once: overlap-add's block groups and tiles (:mod:`.cpu_oa`), and the
two forward transforms of a plain FFT correlation whose transforms each run
on one thread (:mod:`.cpu_fft`).  Work runs under the caller's
:mod:`scipy.fft` backends (:func:`scipy.fft.set_backend` is local to the
thread that sets it, so the pool's threads would otherwise transform with
SciPy's own).
"""
from __future__ import annotations

import os
import threading
from concurrent.futures import Future

from .._config import cpu_count

try:        # uarray's own way to hand the backends set in one thread to another
    from scipy._lib.uarray import get_state as _backend_state, set_state as _set_backend_state
    from scipy.fft._backend import _ScipyBackend
except ImportError:                     # pragma: no cover - present since SciPy 1.4
    _backend_state = _set_backend_state = _ScipyBackend = None

#: prefix of the pool threads' names
PREFIX = "numbaconv-oa"


def carries_backend() -> bool:
    """Whether work on the pool can run under the caller's :mod:`scipy.fft` backends."""
    return _backend_state is not None


#: the uarray domain of :mod:`scipy.fft`'s backends
_DOMAIN = "numpy.scipy.fft"


def scipys_own_backend() -> bool:
    """Whether the calling thread's :mod:`scipy.fft` calls go to SciPy's own backend:
    no backend set for this thread (:func:`scipy.fft.set_backend`) and SciPy's the
    global one.  False where the state cannot be read."""
    if _backend_state is None:
        return False
    try:
        glob, local = _backend_state()._pickle()[:2]
        here = local.get(_DOMAIN)            # (backends skipped, backends set) in this thread
        return glob[_DOMAIN][0][0] is _ScipyBackend and not (here and (here[0] or here[1]))
    except Exception:  # noqa: BLE001 -- uarray's private state changed: assume a user's backend
        return False


def in_callers_backend(fn):
    """``fn`` wrapped to run under the calling thread's :mod:`scipy.fft` backends."""
    state = _backend_state()

    def wrapped(*args):
        with _set_backend_state(state):
            return fn(*args)

    return wrapped


def beside(fn, *args) -> Future:
    """``fn(*args)`` started on the pool under the caller's backends (run here where they
    cannot be carried over); the caller must wait for the returned future before it
    returns, error or not."""
    if not carries_backend():
        done = Future()
        try:
            done.set_result(fn(*args))
        except BaseException as exc:        # noqa: BLE001 - handed to the waiter
            done.set_exception(exc)
        return done
    return pool().submit(in_callers_backend(fn), *args)


_POOL = None
_POOL_LOCK = threading.Lock()


def pool():
    """Return the pool's threads (made on first use)."""
    global _POOL
    with _POOL_LOCK:                  # calls from several threads share one pool
        if _POOL is None:
            from concurrent.futures import ThreadPoolExecutor

            _POOL = ThreadPoolExecutor(max_workers=cpu_count(), thread_name_prefix=PREFIX)
        return _POOL


def _forget_pool():
    """In a forked child: drop the parent's pool, whose threads were not copied.

    Work submitted to it would wait forever; the child makes its own pool on
    first use.  The lock too may have been held by a parent thread at the fork.
    """
    global _POOL, _POOL_LOCK
    _POOL = None
    _POOL_LOCK = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_pool)
