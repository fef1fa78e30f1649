"""Separable 2-D correlation: a rank-1 kernel as two 1-D passes.

A kernel ``K = u v^T`` (numerically: its second singular value is below the
dtype's rounding level times the first) is applied as a pass of ``v`` along
the rows followed by a pass of ``u`` along the columns, both with the direct
2-D kernel of :mod:`cpu_direct` (a ``1 x kw`` and a ``kh x 1`` kernel; both
keep blocks of outputs in registers across their taps).  That costs ``kh + kw`` multiply-adds per
output instead of ``kh * kw``.  Zero fill factors exactly (the region outside
the signal is a product region); other boundaries are padded first.
Integers never take this path: the factors are not integers.
"""
from __future__ import annotations

import numpy as np

from .._problem import Problem
from . import cpu_direct

NAME = "cpu_separable"
DEVICE = "cpu"
METHOD = "separable"

#: kernels larger than this (elements) are not tested for separability
MAX_KERNEL = 256 * 256


def available() -> bool:
    return True


def supports(problem: Problem) -> bool:
    return (problem.device == "cpu" and problem.separable and problem.ndim == 2
            and problem.all_axes and problem.kind in "fc"
            and problem.dtype not in (np.dtype(np.longdouble), np.dtype(np.clongdouble)))


def cost(problem: Problem, workers=None) -> float:
    from .._costs import separable_cost
    return separable_cost(problem, workers)


def rank1_factors(k):
    """``(u, v)`` with ``outer(u, v) == k`` to the dtype's precision, or None.

    The test is relative: ``s[1] <= s[0] * eps * sqrt(k.size)`` with ``eps``
    the machine epsilon of ``k``'s dtype, so that the two passes reproduce
    the direct result within that dtype's rounding.
    """
    k = np.asarray(k)
    if k.ndim != 2 or k.dtype.kind not in "fc" or k.size > MAX_KERNEL or min(k.shape) < 2:
        return None
    if not np.isfinite(k).all():
        return None
    work = k.astype(np.complex128 if k.dtype.kind == "c" else np.float64)
    try:
        u, s, vt = np.linalg.svd(work, full_matrices=False)
    except np.linalg.LinAlgError:
        return None
    if s[0] == 0:
        return None
    eps = np.finfo(k.dtype).eps
    if s[1] > s[0] * eps * np.sqrt(k.size):
        return None
    root = np.sqrt(s[0])
    return (u[:, 0] * root).astype(k.dtype), (vt[0] * root).astype(k.dtype)


def is_separable(k) -> bool:
    return rank1_factors(k) is not None


def run(problem: Problem, a, k, *, workers: int):
    """Correlate ``a`` with the rank-1 ``k`` as a row pass then a column pass."""
    from .._config import numba_threads
    factors = rank1_factors(k)
    if factors is None:  # not separable after all: direct is always right
        return cpu_direct.run(problem, a, k, workers=workers)
    u, v = factors
    wt = cpu_direct.work_dtype(problem.dtype)
    a = np.ascontiguousarray(a, dtype=wt)
    if problem.zero_fill:
        oy, ox = (o - (kk - 1) for o, kk in zip(problem.origin, problem.shape_k))
    else:
        a, (oy, ox) = cpu_direct._pad_boundary(a, problem)
        a = np.ascontiguousarray(a)
    H = a.shape[0]
    OH, OW = problem.out_shape
    tmp = np.empty((H, OW), wt)
    out = np.empty((OH, OW), wt)
    with numba_threads(workers):
        cpu_direct.corr2d(a, np.ascontiguousarray(v[None, :], wt), tmp, 0, ox, workers)
        cpu_direct.corr2d(tmp, np.ascontiguousarray(u[:, None], wt), out, oy, 0, workers)
    return out
