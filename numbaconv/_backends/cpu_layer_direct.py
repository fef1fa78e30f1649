"""Convolutional layers by the direct Numba kernel (:mod:`numbaconv._kernels.layer`).

An implicit GEMM: blocks of six output channels times one register block
of flat positions stay in registers while every (input channel, tap) adds
one load times six broadcast weights; strides become phase planes, so
stride, dilation, groups and 1-D to 3-D share one kernel.  Work items are
(image, position range) pairs over ``prange``.

The transposed operation runs as the forward one on the input spread out
by the stride (``stride - 1`` zeros between samples), padded for the full
result, with the kernel flipped and its channel axes swapped: simple, at
``prod(stride)`` times the multiply-adds, which :func:`cost` charges.
"""
from __future__ import annotations

import math

import numpy as np

from .. import _coefficients as coef
from .._config import resolve_workers
from .._kernels import layer
from .._kernels.layout import parallel_pays
from .._problem import LayerProblem

NAME = "cpu_layer_direct"
DEVICE = "cpu"
METHOD = "direct"
OPERATION = "layer"
#: run() takes the caller's ``out=`` (see :func:`run`)
WRITES_OUT = True
#: run() adds the bias itself (``bias=``), as the result leaves the registers
ADDS_BIAS = True


def available() -> bool:
    return True


def supports(problem: LayerProblem) -> bool:
    return problem.device == "cpu"


def _lowered(problem: LayerProblem) -> tuple:
    """``(input spatial shape, stride)`` of the forward problem the kernel runs."""
    if not problem.transposed:
        return problem.shape, problem.stride
    shape = tuple(z + d * (k - 1) for z, d, k in
                  zip(problem.out_shape, problem.dilation, problem.kernel))
    return shape, (1,) * problem.ndim


def _work(problem: LayerProblem) -> float:
    """Multiply-adds the kernel performs: padded output blocks, flat rows, spread input."""
    shape, stride = _lowered(problem)
    # the lowered forward pass reads problem.channels and writes problem.out_channels either way
    cg = problem.channels // problem.groups
    og = problem.out_channels // problem.groups
    phase = [-(-n // s) for n, s in zip(shape, stride)]
    flat = problem.out_shape[0] * math.prod(phase[1:])
    blocks = -(-og // layer.OUT_BLOCK) * layer.OUT_BLOCK
    return float(problem.batch) * problem.groups * blocks * flat * cg * problem.taps


def _threads(problem: LayerProblem, workers) -> int:
    workers = resolve_workers(workers)
    if workers > 1 and parallel_pays(_work(problem), problem.dtype.itemsize):
        return workers
    return 1


def cost(problem: LayerProblem, workers=None) -> float:
    """Predicted seconds: the kernel's multiply-adds on its threads, plus its copies.

    The input is copied once into flat phase planes (and the weight into
    panels), and every output goes through a register block's scratch row; both are
    priced at the layer's ``copy_byte`` a byte.
    """
    c = coef.coefficients()
    lay = c["layer"]
    threads = _threads(problem, workers)
    compute = _work(problem) * lay["direct_mac"][coef.direct_key(problem.dtype)]
    compute /= coef.effective_threads(threads)
    shape, _ = _lowered(problem)
    moved = problem.batch * (problem.channels * math.prod(shape)
                             + problem.out_channels * math.prod(problem.out_shape))
    return lay["overhead"] + compute + moved * problem.dtype.itemsize * lay["copy_byte"]


def memory(problem: LayerProblem, workers=None) -> int:
    """Predicted peak bytes of :func:`run`.

    The input in the kernel's flat phase layout (padded), the weight in
    output-channel panels (and its reordering), the output; transposed,
    the stride-spread input and its window's copy before that.
    """
    item = problem.dtype.itemsize
    shape, stride = _lowered(problem)
    phase_shape, bases = layer.plan(tuple(shape), tuple(problem.kernel), tuple(stride),
                                    tuple(problem.dilation))
    step = layer.quarter(problem.dtype)
    span = problem.out_shape[0] * math.prod(phase_shape[1:])
    length = max(int(bases.max()) + -(-span // step) * step,
                 math.prod(stride) * math.prod(phase_shape))
    flat = problem.batch * problem.channels * length
    og = problem.out_channels // problem.groups
    panels = 2 * problem.groups * -(-og // layer.OUT_BLOCK) * layer.OUT_BLOCK * (
        problem.channels // problem.groups) * problem.taps
    outputs = problem.batch * problem.out_channels * math.prod(problem.out_shape)
    extra = 0
    if problem.transposed:          # the spread input and the copy of its window
        spread = math.prod(max((n - 1) * s + 1 + d * (k - 1), b + z + d * (k - 1))
                           for n, s, d, k, b, z in zip(problem.shape, problem.stride,
                                                       problem.dilation, problem.kernel,
                                                       problem.start, problem.out_shape))
        extra = problem.batch * problem.channels * (spread + math.prod(shape))
    elif problem.padding_mode != "zeros" and problem.pad:   # padded before the layout copy
        extra = problem.batch * problem.channels * math.prod(problem.shape)
    return int((flat + panels + outputs + extra) * item)


def describe(problem: LayerProblem, workers=None) -> str:
    waste = _work(problem) / max(problem.macs, 1.0)
    how = "transposed as a forward pass on the stride-spread input, " if problem.transposed else ""
    return (f"{how}{layer.OUT_BLOCK} output channels x {layer.quarter(problem.dtype)} positions "
            f"per register block, {_threads(problem, workers)} thread(s), "
            f"{waste:.2f}x the layer's multiply-adds")


def run(problem: LayerProblem, x, w, *, workers=None, out=None, bias=None):
    """Run the forward correlation of ``x``, or the transposed operation, plus ``bias``.

    ``x`` is padded on the way into the kernel's flat layout.  The result is
    written into ``out`` (and ``out`` returned) when it is C-contiguous in
    the compute dtype.
    """
    threads = _threads(problem, workers)     # the kernels' run_items sets Numba's threads
    if not problem.transposed:
        return layer.correlate(x, np.ascontiguousarray(w), problem.stride, problem.dilation,
                               problem.groups, problem.out_shape, threads, problem.pad,
                               problem.padding_mode, out=out, bias=bias)
    return layer.correlate(*_transposed_inputs(problem, x, w), (1,) * problem.ndim,
                           problem.dilation, problem.groups, problem.out_shape, threads,
                           out=out, bias=bias)


def _transposed_inputs(problem: LayerProblem, y, w):
    """The forward problem of the adjoint: spread, padded input and flipped, swapped weight."""
    n = problem.ndim
    batch, channels = y.shape[:2]
    groups = problem.groups
    cg, og = channels // groups, w.shape[1]
    reach = [d * (k - 1) for d, k in zip(problem.dilation, problem.kernel)]
    # the full adjoint's index i reads spread[i - reach .. i]: pad reach on the left,
    # then keep the window [start, start + size + reach) of it
    full = [(L - 1) * s + 1 for L, s in zip(y.shape[2:], problem.stride)]
    size = [b + z + r for b, z, r in zip(problem.start, problem.out_shape, reach)]
    spread = np.zeros((batch, channels) + tuple(max(f + r, sz) for f, r, sz in
                                                 zip(full, reach, size)), dtype=y.dtype)
    spread[(slice(None), slice(None)) + tuple(slice(r, r + f, s) for r, f, s in
                                              zip(reach, full, problem.stride))] = y
    xin = spread[(slice(None), slice(None)) + tuple(slice(b, b + z + r) for b, z, r in
                                                    zip(problem.start, problem.out_shape,
                                                        reach))]
    flip = (slice(None), slice(None)) + (slice(None, None, -1),) * n
    wf = w.reshape((groups, cg, og) + tuple(problem.kernel))[(slice(None),) + flip]
    wf = wf.swapaxes(1, 2).reshape((groups * og, cg) + tuple(problem.kernel))
    return np.ascontiguousarray(xin), np.ascontiguousarray(wf)
