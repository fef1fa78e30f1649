"""Kernel spectra kept between calls that transform the same kernel values.

Not a backend: the FFT backends' shared store.  A filter is usually applied
to image after image, and its transform is a third of a plain FFT
correlation's work (two forward transforms and an inverse): a 256² image's
'same' correlation with a 31x31 kernel transforms the kernel at 288² on
every call.  A spectrum is kept under the kernel's values (its bytes, shape
and dtype) and the transform that made it (function and lengths), so a
later call finds it whatever memoised plan or path it takes, and a kernel
whose values changed is transformed again.

Kept only:

- for kernels of at most :data:`KERNEL_MAX_BYTES`, whose bytes cost a
  copy and a comparison well below their transform's time;
- while SciPy's own :mod:`scipy.fft` backend is the active one: a user's
  backend (:func:`scipy.fft.set_backend`) transforms every time, as it
  asks;
- up to :data:`BUDGET_BYTES` in all, the least recently used dropped first.

Spectra are handed out read-only: the callers multiply them into their own
spectra and never write them.
"""
from __future__ import annotations

import threading
from collections import OrderedDict

from . import _pool

#: kernels of more bytes are transformed on every call
KERNEL_MAX_BYTES = 256 << 10

#: bytes of spectra kept in all (one spectrum at most a quarter of it)
BUDGET_BYTES = 64 << 20

_kept: OrderedDict = OrderedDict()
_held = [0]                           # bytes in _kept
_lock = threading.Lock()


def key(h, *transform):
    """The store's key for ``h``'s spectrum under ``transform`` (a description of the
    transform: its function and lengths), or None where it is not kept."""
    if h.nbytes > KERNEL_MAX_BYTES or not _pool.scipys_own_backend():
        return None
    return (h.shape, h.dtype.str, transform, h.tobytes())


def get(spectrum_key):
    """The spectrum kept under ``spectrum_key``, or None."""
    if spectrum_key is None:
        return None
    with _lock:
        spec = _kept.get(spectrum_key)
        if spec is not None:
            _kept.move_to_end(spectrum_key)
        return spec


def put(spectrum_key, spec):
    """Keep ``spec`` (made read-only) under ``spectrum_key`` where the budget allows;
    returns it."""
    if spectrum_key is None or spec.nbytes > BUDGET_BYTES // 4:
        return spec
    spec.flags.writeable = False
    with _lock:
        if spectrum_key not in _kept:
            _kept[spectrum_key] = spec
            _held[0] += spec.nbytes
            while _held[0] > BUDGET_BYTES:
                _held[0] -= _kept.popitem(last=False)[1].nbytes
    return spec


def kept(spectrum_key, make):
    """The spectrum under ``spectrum_key``: kept, or ``make()`` kept for later calls."""
    spec = get(spectrum_key)
    return spec if spec is not None else put(spectrum_key, make())


def forget():
    """Drop every kept spectrum."""
    with _lock:
        _kept.clear()
        _held[0] = 0
