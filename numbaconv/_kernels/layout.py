"""Shape-only decisions the direct kernels share: work items, threads, work dtype, padding.

Every serial/parallel choice of a direct kernel goes through
:func:`parallel_pays`; every row is cut into work items by
:func:`chunk_for`; every kernel computes in :func:`work_dtype`.
"""
from __future__ import annotations

import functools

import numpy as np

from .._problem import Problem
from .padding import extend_2d
from .simd import STREAM_MIN_BYTES

#: bytes of outputs per work item along a row: big enough to amortise the
#: edge logic, small enough that the accumulator run and its input stay in L1.
CHUNK_BYTES = 16384


@functools.lru_cache(maxsize=1024)
def chunk_for(width: int, itemsize: int, rows: int = 1, threads: int = 1) -> int:
    """Even split of a row into chunks of about :data:`CHUNK_BYTES` (no ragged sliver).

    With ``threads`` > 1 the ``rows x pieces`` work items are made a multiple
    of ``threads`` where a few more pieces do it: ``prange`` gives each thread
    one contiguous share of the items, so 3 items on 2 threads run as 2 + 1
    (measured in ``docs/performance.md``).
    """
    target = max(64, CHUNK_BYTES // itemsize)
    pieces = max(1, -(-width // target))
    for extra in range(threads):
        if rows * (pieces + extra) % threads == 0:
            pieces += extra
            break
    return max(1, -(-width // pieces))


#: a direct kernel goes parallel from this many bytes of multiply-adds (``macs x
#: itemsize``): below it, a thread launch and the second thread's start cost more than
#: the half of the work they take.  Measured (1 against 2 threads, interleaved minima, on
#: 1-D rows of 3-15 taps and 3x3-7x7 images; docs/performance.md): the serial kernel is
#: faster up to 1.2-3.6 MB of float32 and 0.7-3.6 MB of float64 work, about 30-50 µs
#: serially.  One rule for every kernel shape: long rows, which run near the FMA peak,
#: and short ones, whose serial work items are cheap since they take no reference counts.
PARALLEL_MIN_BYTES = 3_200_000


def parallel_pays(macs, itemsize, min_bytes=PARALLEL_MIN_BYTES) -> bool:
    """Whether a direct kernel doing ``macs`` multiply-adds on items of ``itemsize`` bytes
    gains from threads (every direct kernel's serial/parallel choice goes through here;
    ``min_bytes``: a kernel's own threshold, where it has one)."""
    return macs * itemsize >= min_bytes


@functools.lru_cache(maxsize=None)
def work_dtype(dtype: np.dtype) -> np.dtype:
    """The arithmetic type of the direct kernels for a result dtype."""
    if dtype.kind in "biu":
        return np.dtype(np.int64)
    if dtype == np.float16:
        return np.dtype(np.float32)
    return dtype


def as_work(x: np.ndarray, wt: np.dtype) -> np.ndarray:
    """``x`` as a C-contiguous array of the work dtype ``wt`` (no copy when it is one)."""
    if x.dtype == wt and x.flags.c_contiguous:
        return x
    if x.dtype.kind == "u" and x.dtype.itemsize == 8 and wt.kind == "i":
        # uint64 arithmetic is int64 arithmetic modulo 2**64: reinterpret (not for float work)
        x = np.ascontiguousarray(x).view(np.int64)
    return np.ascontiguousarray(x, dtype=wt)


def boundary_pads(problem: Problem):
    """``(pads, offsets)`` of :func:`pad_boundary`: per axis the ``(before, after)`` widths
    that hold every window, and the offsets into the padded signal (shape only)."""
    offs = list(problem.offsets)
    pads = []
    for ax in range(len(offs)):
        lo = max(0, -offs[ax])
        hi = max(0, problem.out_shape[ax] + problem.shape_k[ax] - 1 + offs[ax]
                 - problem.shape_a[ax])
        pads.append((lo, hi))
    return pads, [o + p[0] for o, p in zip(offs, pads)]


def pad_boundary(a: np.ndarray, problem: Problem, threads: int = 1):
    """Materialise the boundary so that the kernel sees a zero-fill problem.

    Returns the padded signal and the new per-axis offsets (origin - (k-1)).
    2-D signals are extended by :func:`numbaconv._kernels.padding.extend_2d`
    (on ``threads`` threads when large), others by ``np.pad``.
    """
    if problem.zero_fill:
        return a, list(problem.offsets)
    pads, offs = boundary_pads(problem)
    if a.ndim == 2 and a.dtype.kind in "biufc":
        return extend_2d(np.ascontiguousarray(a), pads, problem.boundary, problem.fillvalue,
                         threads), offs
    if problem.boundary == "fill":
        a = np.pad(a, pads, mode="constant", constant_values=problem.fillvalue)
    elif problem.boundary == "wrap":
        a = np.pad(a, pads, mode="wrap")
    else:
        a = np.pad(a, pads, mode="symmetric")
    return a, offs


def destination(out, shape, dtype) -> np.ndarray:
    """Return the caller's ``out`` if a kernel can write it directly, else a new array.

    A kernel writes ``out`` itself when it is C-contiguous of ``dtype``;
    otherwise it gets a new array of ``shape``.  The API checked ``out``'s
    shape and that it shares no memory with the inputs.
    """
    if out is not None and out.dtype == dtype and out.flags.c_contiguous:
        return out
    return np.empty(shape, dtype)


def streams(out, given, own=False) -> bool:
    """Whether a kernel stores ``out`` past the caches
    (:func:`numbaconv._kernels.simd.quarter_put_at`): outputs of
    :data:`~numbaconv._kernels.simd.STREAM_MIN_BYTES` or more, which come from memory (a
    plain store first reads the line it writes), where they are the caller's (``given``),
    or with ``own`` a new array of the kernel's own too (whose pages are zeroed into the
    cache as they are first touched: the kernel's choice, measured per kernel).

    Examples
    --------
    >>> import numpy as np
    >>> from numbaconv._kernels.layout import streams
    >>> out = np.empty(1 << 22, np.float32)        # 16 MiB
    >>> streams(out, out), streams(out, None), streams(out, None, own=True)
    (True, False, True)
    """
    return out.nbytes >= STREAM_MIN_BYTES and (out is given or own)


def per_channel(bias, channels: int, dtype) -> np.ndarray:
    """A layer kernel's bias: ``channels`` contiguous values of ``dtype`` (zeros for None).

    Examples
    --------
    >>> import numpy as np
    >>> from numbaconv._kernels.layout import per_channel
    >>> per_channel(None, 2, np.float32), per_channel([1, 2], 2, np.float64)
    (array([0., 0.], dtype=float32), array([1., 2.]))
    """
    if bias is None:
        return np.zeros(channels, dtype)
    return np.ascontiguousarray(bias, dtype=dtype).reshape(-1)
