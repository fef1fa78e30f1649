"""Convolutional layers by the direct Numba kernel (:mod:`numbaconv._kernels.layer`).

An implicit GEMM: blocks of six output channels times one register block
of flat positions stay in registers while every (input channel, tap) adds
one load times six broadcast weights; strides become phase planes, so
stride, dilation, groups and 1-D to 3-D share one kernel.  Work items are
(image, position range) pairs over ``prange``.

The transposed operation runs one forward pass per output phase (the
outputs ``r + stride * m`` of each axis): only the taps ``t`` with ``t *
dilation`` congruent to ``r + padding`` modulo the stride reach those
outputs, so a phase is a forward correlation of the unspread input with
that sub-kernel, reversed and with its channel axes swapped, written into
the output's strided phase.  The multiply-adds are the layer's own; running
it as one forward pass on the input spread out by the stride took
``prod(stride)`` times as many (0.33-0.41x torch's speed on a 4x4/2 layer).
"""
from __future__ import annotations

import functools
import itertools
import math

import numpy as np

from .. import _coefficients as coef
from .._config import resolve_workers
from .._kernels import layer
from .._kernels.layout import destination, parallel_pays, per_channel
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


def _axis_phases(out, k, s, d, p) -> list:
    """The output phases of one axis of a transposed layer (``out`` outputs, kernel
    ``k``, stride ``s``, dilation ``d``, padding ``p``): ``(r, taps, dilation, offset,
    count)`` per phase ``r < s`` that has outputs.

    Output ``Y = r + s m`` (``m < count``) is ``sum_j x[m + offset + j dilation] *
    w[taps[j]]`` over the input ``x`` (zero outside it): the taps ``t`` with ``t d = Y +
    p - s i`` for an input index ``i``, last one first.
    """
    g = math.gcd(s, d)
    phases = []
    for r in range(min(s, out)):
        count = len(range(r, out, s))
        first = next((t for t in range(min(k, s // g)) if (t * d - r - p) % s == 0), None)
        if first is None:                   # no tap reaches this phase: bias only
            phases.append((r, (), 1, 0, count))
            continue
        taps = tuple(range(first, k, s // g))[::-1]
        dil = d // g
        offset = (r + p - taps[-1] * d) // s - (len(taps) - 1) * dil
        phases.append((r, taps, dil, offset, count))
    return phases


def _phases(problem: LayerProblem) -> list:
    """Per spatial axis, :func:`_axis_phases` of a transposed ``problem``."""
    return [_axis_phases(*a) for a in zip(problem.out_shape, problem.kernel, problem.stride,
                                          problem.dilation, problem.start)]


@functools.lru_cache(maxsize=256)
def _passes(problem: LayerProblem) -> tuple:
    """The forward passes :func:`run` makes: ``(input shape, stride, dilation, kernel,
    out_shape)`` each, the input shape padded as the kernel reads it.  A transposed
    layer makes one per output phase that some tap reaches (:func:`_axis_phases`)."""
    if not problem.transposed:
        return ((problem.shape, problem.stride, problem.dilation, problem.kernel,
                 problem.out_shape),)
    passes = []
    for phase in itertools.product(*_phases(problem)):
        if all(taps for _, taps, _, _, _ in phase):
            kernel = tuple(len(taps) for _, taps, _, _, _ in phase)
            dilation = tuple(dil for _, _, dil, _, _ in phase)
            outs = tuple(count for _, _, _, _, count in phase)
            shape = tuple(m + d * (k - 1) for m, d, k in zip(outs, dilation, kernel))
            passes.append((shape, (1,) * problem.ndim, dilation, kernel, outs))
    return tuple(passes)


def _pass_work(problem: LayerProblem, shape, stride, kernel, out_shape) -> float:
    """Multiply-adds the kernel performs in one pass: padded output blocks, flat rows."""
    # the pass reads problem.channels and writes problem.out_channels either way
    cg = problem.channels // problem.groups
    og = problem.out_channels // problem.groups
    phase = [-(-n // s) for n, s in zip(shape, stride)]
    flat = out_shape[0] * math.prod(phase[1:])
    blocks = -(-og // layer.OUT_BLOCK) * layer.OUT_BLOCK
    return float(problem.batch) * problem.groups * blocks * flat * cg * math.prod(kernel)


def _work(problem: LayerProblem) -> float:
    """Multiply-adds the kernel performs over all its passes."""
    return sum(_pass_work(problem, shape, stride, kernel, outs)
               for shape, stride, _, kernel, outs in _passes(problem))


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
    moved = problem.batch * (problem.channels * sum(math.prod(p[0]) for p in _passes(problem))
                             + problem.out_channels * math.prod(problem.out_shape))
    return lay["overhead"] + compute + moved * problem.dtype.itemsize * lay["copy_byte"]


def memory(problem: LayerProblem, workers=None) -> int:
    """Predicted peak bytes of :func:`run`.

    The output, and for the largest pass: the input in the kernel's flat
    phase layout (padded), the weight in output-channel panels (and its
    reordering); transposed, that pass's result too, before it goes into the
    output's phase.
    """
    item = problem.dtype.itemsize
    og = problem.out_channels // problem.groups
    outputs = problem.batch * problem.out_channels * math.prod(problem.out_shape)
    peak = 0
    for shape, stride, dilation, kernel, outs in _passes(problem):
        phase_shape, bases = layer.plan(tuple(shape), tuple(kernel), tuple(stride),
                                        tuple(dilation))
        step = layer.quarter(problem.dtype)
        span = outs[0] * math.prod(phase_shape[1:])
        length = max(int(bases.max()) + -(-span // step) * step,
                     math.prod(stride) * math.prod(phase_shape))
        flat = problem.batch * problem.channels * length
        panels = 2 * problem.groups * -(-og // layer.OUT_BLOCK) * layer.OUT_BLOCK * (
            problem.channels // problem.groups) * math.prod(kernel)
        part = problem.batch * problem.out_channels * math.prod(outs) if problem.transposed else 0
        peak = max(peak, flat + panels + part)
    extra = 0
    if not problem.transposed and problem.padding_mode != "zeros" and problem.pad:
        extra = problem.batch * problem.channels * math.prod(problem.shape)   # padded first
    return int((peak + outputs + extra) * item)


def describe(problem: LayerProblem, workers=None) -> str:
    waste = _work(problem) / max(problem.macs, 1.0)
    how = (f"transposed as {len(_passes(problem))} forward pass(es), one per output phase, "
           if problem.transposed else "")
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
    return _transposed(problem, x, w, threads, out, bias)


def _transposed(problem: LayerProblem, y, w, threads, out, bias):
    """The transposed layer, one forward pass per output phase (see the module docstring)."""
    n = problem.ndim
    groups, og = problem.groups, w.shape[1]
    cg = y.shape[1] // groups
    result = destination(out, (y.shape[0], problem.out_channels) + tuple(problem.out_shape),
                         y.dtype)
    bias = per_channel(bias, problem.out_channels, y.dtype)
    w = w.reshape((groups, cg, og) + tuple(problem.kernel))
    for phase in itertools.product(*_phases(problem)):
        where = (slice(None), slice(None)) + tuple(slice(r, None, s) for (r, *_), s in
                                                   zip(phase, problem.stride))
        window, pairs = [], []
        for (_, taps, dil, offset, count), size in zip(phase, problem.shape):
            length = count + dil * (len(taps) - 1)   # the input the pass reads, padded
            a0, a1 = max(0, offset), min(size, offset + length)
            window.append(slice(a0, max(a0, a1)))
            pairs.append((a0 - offset, length - (a0 - offset) - max(0, a1 - a0)))
        taps = [t for _, t, _, _, _ in phase]
        if not all(taps) or any(piece.stop == piece.start for piece in window):
            result[where] = bias.reshape((-1,) + (1,) * n)   # no tap reaches it: the bias
            continue
        sub = w[np.ix_(range(groups), range(cg), range(og), *taps)]
        sub = sub.swapaxes(1, 2).reshape((groups * og, cg) + sub.shape[3:])
        result[where] = layer.correlate(
            np.ascontiguousarray(y[(slice(None), slice(None)) + tuple(window)]),
            np.ascontiguousarray(sub), (1,) * n, tuple(dil for _, _, dil, _, _ in phase), groups,
            tuple(count for *_, count in phase), threads, tuple(pairs), bias=bias)
    return result
