"""Padding: torch's padding modes for the layer kernels, SciPy's boundaries for 2-D signals.

The direct layer kernel reads its input as flat phase planes (``x[p::s]``
per axis, so that every tap reads at unit stride); :func:`phase_planes`
writes them straight from the unpadded input, zeros included, over planes
in parallel.  :func:`pad` is the same pass with stride 1, for the backends
that read a padded input.  :func:`extend_2d` extends a 2-D signal by
``convolve2d``'s boundaries ('fill', 'wrap', 'symm') in one pass of row copies.
"""
from __future__ import annotations

import math

import numba
import numpy as np

from .._jit import jit
from .calls import run_items

_KERNEL_TYPES = (np.dtype(np.float32), np.dtype(np.float64))


#: torch's padding modes and the ``np.pad`` mode each one is
NP_PAD_MODES = {"zeros": "constant", "reflect": "reflect", "replicate": "edge",
                "circular": "wrap"}


def pad(x, pairs, mode="zeros"):
    """The batched ``x`` padded on its spatial axes by ``pairs`` in torch's ``mode``.

    No copy without padding.  Zero padding of float32/float64 up to 3
    spatial axes is one parallel pass (:func:`phase_planes` with stride 1:
    zeros around row copies, about 4x NumPy's strided copy on two threads);
    the other modes and types are ``np.pad``'s.
    """
    if not any(lo or r for lo, r in pairs):
        return x
    if mode != "zeros" or x.dtype not in _KERNEL_TYPES or not 1 <= x.ndim - 2 <= 3:
        return np.pad(x, ((0, 0), (0, 0)) + tuple(pairs), mode=NP_PAD_MODES[mode])
    shape = tuple(n + lo + r for n, (lo, r) in zip(x.shape[2:], pairs))
    flat = phase_planes(x, pairs, mode, (1,) * len(shape), shape, math.prod(shape),
                        numba.get_num_threads())
    return flat.reshape(x.shape[:2] + shape)


@jit
def _fill(x, flat, lo, stride, phase, used, it):
    """Write the zero-padded phase planes of plane ``it`` of ``x`` (``(planes, D, H, W)``)
    into ``flat[it]`` (``flat``: ``(planes, length)``): for each phase ``(pd, ph, pw)``,
    position ``(a, b, c)`` holds ``x[it, a * sd + pd - lo_d, b * sh + ph - lo_h,
    c * sw + pw - lo_w]`` or 0 outside ``x``; zeros from ``used`` on.

    Plain loops on flat offsets, not slice assignments of row views: the same
    vector code, a fraction of the compile, and no reference count per row.
    Indices are unsigned: a signed one is tested for wraparound on every
    element, which stops the loops vectorising.
    """
    _, dd, hh, ww = x.shape
    sd, sh, sw = stride[0], stride[1], stride[2]
    pd_n, ph_n, pw_n = phase[0], phase[1], phase[2]
    size = pd_n * ph_n * pw_n
    xf = x.reshape(-1)
    ff = flat.reshape(-1)
    xbase = it * dd * hh * ww
    fbase = it * flat.shape[1]
    k = 0
    for p0 in range(sd):
        for p1 in range(sh):
            for p2 in range(sw):
                base = fbase + k * size
                # columns c whose source column c * sw + p2 - lo lies in [0, ww)
                c0 = min(pw_n, max(0, (lo[2] - p2 + sw - 1) // sw))
                c1 = max(c0, min(pw_n, (ww - 1 + lo[2] - p2) // sw + 1))
                for a in range(pd_n):
                    i = a * sd + p0 - lo[0]
                    for b in range(ph_n):
                        j = b * sh + p1 - lo[1]
                        d = base + (a * ph_n + b) * pw_n      # the row's start in ff
                        z0, z1 = c0, c1                      # the columns copied from x
                        if i < 0 or i >= dd or j < 0 or j >= hh:
                            z0 = z1 = pw_n                   # none: all zeros
                        for c in range(z0):
                            ff[np.uint64(d + c)] = 0
                        src = xbase + (i * hh + j) * ww + z0 * sw + p2 - lo[2]
                        if sw == 1:                          # a row copy: vectorised
                            for c in range(z1 - z0):
                                ff[np.uint64(d + z0 + c)] = xf[np.uint64(src + c)]
                        else:
                            for c in range(z0, z1):
                                ff[np.uint64(d + c)] = xf[np.uint64(src)]
                                src += sw
                        for c in range(z1, pw_n):
                            ff[np.uint64(d + c)] = 0
                k += 1
    for c in range(fbase + used, fbase + flat.shape[1]):
        ff[np.uint64(c)] = 0


def phase_planes(x, pairs, mode, stride, phase_shape, length, threads=1):
    """Copy ``(N, C, *shape)``, padded by ``pairs`` in ``mode``, into ``(N, C, length)``:
    its phase planes, flattened, then zeros.

    Zero padding is written here, around the copy that the flat layout needs
    anyway (one pass over the input, on every thread); other modes pad first.
    """
    batch, channels = x.shape[:2]
    n = x.ndim - 2
    if mode != "zeros":
        x = pad(x, pairs, mode)
        pairs = ((0, 0),) * n
    x3 = np.ascontiguousarray(x).reshape((batch * channels,) + (1,) * (3 - n) + x.shape[2:])
    widen = (1,) * (3 - n)
    flat = np.empty((batch, channels, length), dtype=x.dtype)
    args = (x3, flat.reshape(batch * channels, length),
            np.array((0,) * (3 - n) + tuple(lo for lo, _ in pairs), dtype=np.int64),
            np.array(widen + tuple(stride), dtype=np.int64),
            np.array(widen + tuple(phase_shape), dtype=np.int64),
            math.prod(stride) * math.prod(phase_shape))
    run_items(_fill, args, batch * channels, threads)
    return flat


#: :func:`extend_2d`'s boundaries, as the code its kernel takes
BOUNDARY_CODES = {"fill": 0, "wrap": 1, "symm": 2}

#: signals of at least this many bytes are extended on several threads
EXTEND_PARALLEL_BYTES = 1 << 20


@jit
def _source(i, n, mode):
    """The index along an axis of ``n`` that position ``i`` (``0 <= i < n`` inside) reads
    under boundary ``mode`` (:data:`BOUNDARY_CODES`), or -1 for the fill value: 'wrap'
    repeats the axis, 'symm' repeats it mirrored (``... 1 0 | 0 1 .. n-1 | n-1 ...``),
    as ``np.pad``'s 'wrap' and 'symmetric' do for pads of any length."""
    if 0 <= i < n:
        return i
    if mode == 0 or n == 0:
        return -1
    if mode == 1:
        return i % n
    j = i % (2 * n)
    return j if j < n else 2 * n - 1 - j


@jit
def _extend_row(a, out, lo0, lo1, mode, fill, r):
    """Row ``r`` of :func:`extend_2d`'s output: the edges index by index, the middle a
    row copy (vectorised: views indexed from 0)."""
    H, W = a.shape
    dst = out[r]
    src_row = _source(r - lo0, H, mode)
    if src_row < 0:
        for c in range(dst.shape[0]):
            dst[c] = fill
        return
    src = a[src_row]
    for c in range(lo1):
        j = _source(c - lo1, W, mode)
        dst[c] = src[j] if j >= 0 else fill
    mid = dst[lo1:lo1 + W]
    for c in range(W):
        mid[c] = src[c]
    for c in range(lo1 + W, dst.shape[0]):
        j = _source(c - lo1, W, mode)
        dst[c] = src[j] if j >= 0 else fill


def extend_2d(a, pads, boundary, fill, threads=1):
    """``a`` (2-D, C-contiguous) extended by ``pads`` (``((top, bottom), (left, right))``)
    under ``boundary`` ('fill' with ``fill``, 'wrap' or 'symm'): ``np.pad``'s 'constant',
    'wrap' and 'symmetric' in one pass of row copies, on ``threads`` threads from
    :data:`EXTEND_PARALLEL_BYTES` (``np.pad`` took 2.7 ms for 'symm' on a 1024² float64
    signal, about seven of its copies).

    Examples
    --------
    >>> import numpy as np
    >>> from numbaconv._kernels.padding import extend_2d
    >>> extend_2d(np.arange(3.0).reshape(1, 3), ((0, 0), (2, 4)), "symm", 0.0)
    array([[1., 0., 0., 1., 2., 2., 1., 0., 0.]])
    """
    (lo0, hi0), (lo1, hi1) = pads
    H, W = a.shape
    out = np.empty((H + lo0 + hi0, W + lo1 + hi1), a.dtype)
    if out.size:
        threads = threads if out.nbytes >= EXTEND_PARALLEL_BYTES else 1
        run_items(_extend_row, (a, out, lo0, lo1, BOUNDARY_CODES[boundary], a.dtype.type(fill)),
                  out.shape[0], threads)
    return out
