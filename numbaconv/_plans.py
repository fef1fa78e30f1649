"""Memoised calls: a host call whose shapes were seen before skips validation and dispatch.

A :class:`Plan` holds what one call of ``convolve``/``correlate`` (or their
2-D forms, or ``fftconvolve``/``oaconvolve``) decided
from shapes alone: how to orient the inputs, the backend's prepared
callable, the value questions the choice rested on and their answers.  The
next call with the same key orients its inputs, asks those questions again
(:meth:`numbaconv._probes.Probes.replay`) and runs; if an answer differs,
the plan declines and the call takes the full path, so a plan never
changes a result.  A plan also declines when its backend's predicted peak
no longer fits the memory available, or when memory narrowed its choice.
Plans are keyed by everything the decisions read and are dropped when the
coefficient version changes.
"""
from __future__ import annotations

import functools

import numpy as np

from . import _coefficients as coef
from ._arrays import HostOps, finalize
from ._config import resolve_workers
from . import _dispatch
from ._dispatch import FFT_METHODS
from ._inputs import check_out
from ._memory import still_fits
from ._probes import KERNEL_FACTS, Probes, kernel_bytes

#: plans kept at most; the memo is emptied when full (shapes rarely vary that much)
PLAN_LIMIT = 512

PLANS: dict = {}
_version = [None]


def orient(op, in1, in2, swapped, ops, axes=None):
    """The canonical ``(A, K)`` of convolve/correlate and their 2-D forms (flips and
    conjugations are views).  A swapped ``correlate2d`` correlates the other way round
    and flips its result (:attr:`Plan.flip_out`), as its full path does.  ``axes``: the
    convolved axes where not all are (the FFT family's: an axis of length 1 on one side
    broadcasts, and its kernel is not flipped along it)."""
    all_axes = tuple(range(in1.ndim)) if axes is None else axes
    if op in ("convolve", "convolve2d", "fftconvolve", "oaconvolve"):
        a, k = (in2, in1) if swapped else (in1, in2)
        return a, ops.flip(k, all_axes)
    if op == "correlate2d":
        a, k = (in2, in1) if swapped else (in1, in2)
        return a, ops.conj(k)
    if swapped:  # correlate(x, y) = convolve(x, flip(conj(y))), then commute
        return ops.flip(ops.conj(in2), all_axes), ops.flip(in1, all_axes)
    return in1, ops.conj(in2)


class Plan:
    """One memoised call shape (see the module docstring)."""

    __slots__ = ("op", "swapped", "problem", "asked", "run", "into", "dtype", "rounding", "peak",
                 "kernel_only", "kbytes", "flip_out", "axes", "reversed", "as_is")

    def __init__(self, op, swapped, problem, choice, asked, workers, dtype):
        self.op, self.swapped, self.problem, self.asked = op, swapped, problem, asked
        module = choice.module
        prepare = getattr(module, "prepare", None)
        self.run = (prepare(problem, workers=workers) if prepare is not None
                    else functools.partial(module.run, problem, workers=workers))
        # a swapped correlate2d's result is flipped afterwards: it cannot be written in place
        self.flip_out = op == "correlate2d" and swapped
        self.into = writes_out(module) and not self.flip_out
        # fftconvolve/oaconvolve convolve only the axes where neither operand has length 1
        # (the others broadcast); None for the functions that convolve every axis
        self.axes = problem.axes if op in ("fftconvolve", "oaconvolve") else None
        self.dtype = dtype
        self.rounding = choice.method in FFT_METHODS
        # -1: the memory available narrowed the choice, which is made again on every call
        self.peak = -1 if choice.memory_bound else choice.peaks.get(choice.backend)
        # questions about the kernel alone: the same kernel bytes give the same answers
        self.kernel_only = bool(asked) and all(name in KERNEL_FACTS for name, _ in asked)
        self.kbytes = None
        # the most common call, a convolution the right way round, orients by one index;
        # a result already in the caller's dtype and layout is returned as it is
        self.reversed = ((slice(None, None, -1),) * problem.ndim
                         if op in ("convolve", "convolve2d") and not swapped else None)
        self.as_is = self.axes is None and not self.flip_out

    def call(self, a, k, out=None):
        """Run the backend on the oriented inputs, offering it ``out`` (checked).

        A backend that writes in place returns ``out`` itself.
        """
        return self.run(a, k, out=out) if out is not None and self.into else self.run(a, k)

    def __call__(self, in1, in2, out=None):
        if self.peak is not None and (self.peak < 0 or not still_fits(self.peak)):
            return None                 # the dispatcher decides what fits now
        if self.reversed is not None:
            a, k = in1, in2[self.reversed]
        else:
            a, k = orient(self.op, in1, in2, self.swapped, HostOps, self.axes)
        if self.asked and not self._replay(a, k):
            return None
        return self.finish(self.call(a, k, out))

    def finish(self, result):
        """The backend's ``result`` as the caller gets it: cast to the result dtype (FFT
        results rounded for integers), flipped where :attr:`flip_out` says; the FFT
        family's a C-contiguous copy of the window, as their full path returns."""
        if self.as_is and result.dtype == self.dtype:
            return result
        result = finalize(result, self.dtype, rounding=self.rounding)
        if self.axes is not None:
            return np.ascontiguousarray(result)
        return HostOps.flip(result, (0, 1)) if self.flip_out else result

    def _replay(self, a, k) -> bool:
        """Ask the plan's questions again (True: the same answers).

        A plan that asked only about a small kernel skips them when the kernel
        has the bytes of the last one it answered for (the key fixes its shape
        and dtype): a kernel applied to image after image costs a byte
        comparison, not 3-4 µs of questions.
        """
        values = kernel_bytes(k) if self.kernel_only else None
        if values is not None and values == self.kbytes:
            return True
        if not Probes(HostOps, a, k).replay(self.asked):
            return False
        if values is not None:
            self.kbytes = values
        return True


def writes_out(module) -> bool:
    """Whether a backend's ``run`` (and ``prepare``'s callable) take ``out=``.

    Such a backend writes the result into ``out`` when it can (the caller
    checked its shape and dtype and that it shares no memory with the
    inputs) and returns ``out``; otherwise it returns its own array, and the
    caller copies.
    """
    return getattr(module, "WRITES_OUT", False)


def adds_bias(module) -> bool:
    """Whether a layer backend's ``run`` adds a ``bias=`` itself (else its caller does)."""
    return getattr(module, "ADDS_BIAS", False)


def _plain_host_call(in1, in2, mode, device, workers) -> bool:
    """Whether a call's arrays, mode, device and workers are of the kinds a key holds."""
    return (type(in1) is np.ndarray and type(in2) is np.ndarray and type(mode) is str
            and device in ("auto", "cpu") and (workers is None or type(workers) is int))


def key(op, in1, in2, mode, method, axes, device, workers):
    """The memo key of a host call, or None when the call cannot be memoised."""
    if axes is not None or type(method) is not str or not _plain_host_call(in1, in2, mode,
                                                                            device, workers):
        return None
    return (op, mode, method, device, resolve_workers(workers), in1.shape, in2.shape,
            in1.dtype, in2.dtype)


def first_call(plan_key, op, swapped, problem, choice, asked, workers, dtype, a, k, out):
    """Store the plan of a call the dispatcher sent to a CPU backend, and run it on the
    oriented ``a``, ``k``: the call's result (``out`` checked, offered as :meth:`Plan.call`
    offers it)."""
    plan = store(plan_key, Plan(op, swapped, problem, choice, asked, workers, dtype))
    return plan.finish(plan.call(a, k, out))


def replay(plan_key, in1, in2, out, fname):
    """The result of a memoised call (``out`` checked first, as the full path checks it),
    or None: no key, no plan, or the plan declined.  The caller delivers it into ``out``."""
    plan = None if plan_key is None else lookup(plan_key)
    if plan is None:
        return None
    if out is not None and not plan.flip_out:
        check_out(out, plan.problem.out_shape, plan.dtype, (("in1", in1), ("in2", in2)), fname)
    return plan(in1, in2, out)


def key2d(op, in1, in2, mode, boundary, fillvalue, device, workers):
    """The memo key of a host ``convolve2d``/``correlate2d`` call (``op`` without the
    ``2d``), or None when the call cannot be memoised.  The fill value's type is part of
    the key: it decides, with its value, the fill in the work dtype."""
    if (type(boundary) is not str or type(fillvalue) not in (int, float, complex)
            or not _plain_host_call(in1, in2, mode, device, workers)):
        return None
    return (op + "2d", mode, boundary, type(fillvalue), fillvalue, device,
            resolve_workers(workers), in1.shape, in2.shape, in1.dtype, in2.dtype)


def lookup(plan_key):
    """The plan stored under ``plan_key`` for the coefficients in force, or None."""
    if _version[0] != coef.version():
        PLANS.clear()
        _version[0] = coef.version()
    return PLANS.get(plan_key)


def forget():
    """Forget every memoised choice and plan.

    Needed only when the registry of backends changes (a test registering a
    fake); new coefficients need not: choices and plans are keyed by their version.
    """
    _dispatch.clear_cache()
    PLANS.clear()


def store(plan_key, plan):
    """Keep ``plan`` under ``plan_key``; returns it."""
    if len(PLANS) >= PLAN_LIMIT:
        PLANS.clear()
    PLANS[plan_key] = plan
    return plan
