"""Convolutional layers on BLAS: im2col columns and one matrix product per group.

The forward operation gathers every window into a column matrix
``(N * positions, C/groups * taps)`` and multiplies it by the weight on
BLAS (``np.matmul``, BLAS's own threads); the transposed one multiplies
first and scatters each tap's product into place (no columns at all).
BLAS is fastest when the contraction is long (many channels times taps)
and slow for depthwise layers, whose contraction is one kernel.  A pointwise
layer (1x1 kernel, unit stride, no padding) is the product itself: the weight
times each batch item's channels, straight into the output's layout, with no
columns gathered (:func:`numbaconv._kernels.columns.pointwise`).
"""
from __future__ import annotations

import math

from .. import _coefficients as coef
from .._kernels import columns, padding
from .._problem import LayerProblem

NAME = "cpu_layer_gemm"
DEVICE = "cpu"
METHOD = "gemm"
OPERATION = "layer"


def available() -> bool:
    return True


def supports(problem: LayerProblem) -> bool:
    return problem.device == "cpu"


def _contraction(problem: LayerProblem) -> tuple:
    """(length of the contracted axis, outputs per group) of the BLAS products."""
    if problem.transposed:          # y (P, C/g) @ w (C/g, O/g * taps)
        return problem.channels // problem.groups, problem.out_channels // problem.groups * problem.taps
    return problem.channels // problem.groups * problem.taps, problem.out_channels // problem.groups


#: a pointwise layer's fixed cost against the im2col path's (one BLAS call and a reshape)
POINTWISE_OVERHEAD_SHARE = 6.0


def cost(problem: LayerProblem, workers=None) -> float:
    """Predicted seconds: BLAS multiply-adds (slower for short contractions) and the gather.

    BLAS runs on its own threads, so ``workers`` does not change it.
    """
    c = coef.coefficients()["layer"]
    key = coef.direct_key(problem.dtype)
    length, width = _contraction(problem)
    if pointwise(problem):
        # one product per batch item and group, weight times channels (positions wide):
        # measured 1.2-2.4e-11 s a float32 product on 7²-112² with 32-256 channels, one
        # BLAS call each, where the im2col formula (its gather, short rows, Python steps)
        # priced them at 2-3x the time and sent them to the direct kernel, 2-3.7x slower
        return (c["overhead"] / POINTWISE_OVERHEAD_SHARE
                + problem.macs * c["gemm_mac"][key] * (1.0 + c["gemm_thin"] / 4 / length))
    thin = 1.0 + c["gemm_thin"] / length + c["gemm_thin"] / 4 / width
    t = c["overhead"] + problem.macs * c["gemm_mac"][key] * thin
    if problem.transposed:          # the scatter-add reads and writes every product once
        moved = problem.batch * problem.channels * math.prod(problem.shape) * width
    else:                           # the columns are gathered once and read by BLAS
        moved = (problem.batch * math.prod(problem.out_shape) * problem.groups * length)
    return t + moved * problem.dtype.itemsize * c["column_byte"]


def memory(problem: LayerProblem, workers=None) -> int:
    """Predicted peak bytes of :func:`run`.

    Forward: the padded input, the im2col columns (every window of the
    input in one matrix), BLAS's product and its reordered copy.
    Transposed: every tap's products, the full adjoint and its cropped copy.
    """
    item = problem.dtype.itemsize
    outputs = problem.batch * problem.out_channels * math.prod(problem.out_shape)
    if problem.transposed:
        full = (problem.batch * problem.out_channels
                * math.prod((n - 1) * s + d * (k - 1) + 1 + b for n, s, d, k, b in
                            zip(problem.shape, problem.stride, problem.dilation,
                                problem.kernel, problem.start)))
        parts = problem.batch * problem.out_channels * problem.taps * math.prod(problem.shape)
        return int((parts + full + outputs) * item)
    padded = problem.batch * problem.channels * math.prod(problem.shape) if problem.pad else 0
    positions = problem.batch * math.prod(problem.out_shape)
    cols = positions * problem.channels * problem.taps
    return int((padded + cols + 2 * outputs) * item)


def describe(problem: LayerProblem, workers=None) -> str:
    length, width = _contraction(problem)
    return (f"{problem.groups} BLAS product(s) per call, contraction length {length}, "
            f"{width} outputs per row")


def pointwise(problem: LayerProblem) -> bool:
    """Whether ``problem`` is a forward layer of 1x1 kernels, unit stride and no padding."""
    return (not problem.transposed and all(k == 1 for k in problem.kernel)
            and all(s == 1 for s in problem.stride) and not any(any(p) for p in problem.pad))


def run(problem: LayerProblem, x, w, *, workers=None):
    """The forward correlation of ``x`` padded as ``problem`` says, or the transposed
    operation; no bias."""
    if pointwise(problem):
        return columns.pointwise(x, w, problem.groups)
    if problem.transposed:
        return columns.adjoint(x, w, problem.stride, problem.dilation, problem.groups,
                               problem.start, problem.out_shape)
    return columns.forward(padding.pad(x, problem.pad, problem.padding_mode), w, problem.stride,
                           problem.dilation, problem.groups)
