"""Convolutional layers on BLAS: im2col columns and one matrix product per group.

The forward operation gathers every window into a column matrix
``(N * positions, C/groups * taps)`` and multiplies it by the weight on
BLAS (``np.matmul``, BLAS's own threads); the transposed one multiplies
first and scatters each tap's product into place (no columns at all).
BLAS is fastest when the contraction is long (many channels times taps)
and slow for depthwise layers, whose contraction is one kernel.
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


def cost(problem: LayerProblem, workers=None) -> float:
    """Predicted seconds: BLAS multiply-adds (slower for short contractions) and the gather.

    BLAS runs on its own threads, so ``workers`` does not change it.
    """
    c = coef.coefficients()["layer"]
    key = coef.direct_key(problem.dtype)
    length, width = _contraction(problem)
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


def run(problem: LayerProblem, x, w, *, workers=None):
    """The forward correlation of ``x`` padded as ``problem`` says, or the transposed
    operation; no bias."""
    if problem.transposed:
        return columns.adjoint(x, w, problem.stride, problem.dilation, problem.groups,
                               problem.start, problem.out_shape)
    return columns.forward(padding.pad(x, problem.pad, problem.padding_mode), w, problem.stride,
                           problem.dilation, problem.groups)
