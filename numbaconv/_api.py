"""SciPy-compatible public functions.

Each function validates and normalises its inputs exactly as
:mod:`scipy.signal` does, reduces the call to the canonical correlation of
:mod:`numbaconv._problem` (flips and conjugations are views), asks the
dispatcher for a backend, runs it, and casts the result to SciPy's dtype.
"""
from __future__ import annotations

import dataclasses
import functools
import operator
import timeit
import warnings

import numpy as np

from . import _dispatch
from ._backends.cpu_separable import MAX_KERNEL as _SEPARABLE_MAX_KERNEL
from ._config import resolve_workers
from ._problem import (build_problem, check_boundary, check_mode,
                       fft_result_dtype, inputs_swap_needed)

_METHODS = ("auto", "direct", "fft", "oa", "separable")
_DEVICES = ("auto", "cpu", "cuda")


# --------------------------------------------------------------------------
# array operations on the host; numbaconv._gpu provides the same on a GPU
# --------------------------------------------------------------------------

class _HostOps:
    device = "cpu"

    @staticmethod
    def asarray(x):
        return np.asarray(x)

    @staticmethod
    def native(x):
        """Native byte order (the kernels read raw memory)."""
        if x.dtype.byteorder not in "=|":
            x = x.astype(x.dtype.newbyteorder("="))
        return x

    @staticmethod
    def flip(x, axes):
        if x.ndim == 1 and axes:
            return x[::-1]
        idx = [slice(None)] * x.ndim
        for ax in axes:
            idx[ax] = slice(None, None, -1)
        return x[tuple(idx)]

    @staticmethod
    def conj(x):
        return np.conj(x) if x.dtype.kind == "c" else x

    @staticmethod
    def all_finite(x):
        from ._backends.cpu_direct import all_finite
        return all_finite(x)

    @staticmethod
    def abs_max(x):
        return int(np.abs(x).max()) if x.size else 0

    @staticmethod
    def zeros(shape, dtype):
        return np.zeros(shape, dtype)

    @staticmethod
    def astype(x, dtype):
        return x.astype(dtype)

    @staticmethod
    def finalize(out, dtype, rounding):
        return _finalize(out, dtype, rounding=rounding)

    @staticmethod
    def wrap(result, like):
        return result


@functools.lru_cache(maxsize=256)
def _result_type(dt1, dt2) -> np.dtype:
    """``np.result_type`` of two dtypes, memoised (it is on every call's path)."""
    return np.result_type(dt1, dt2)


def _ops_for(device, in1, in2):
    """Host or GPU array operations, from ``device`` and the inputs' kind."""
    if device == "auto" and type(in1) is np.ndarray and type(in2) is np.ndarray:
        return _HostOps      # the common case, without the attribute probes below
    if device not in _DEVICES:
        raise ValueError(f"device must be one of {_DEVICES}, not {device!r}")
    gpu_in = _is_gpu_array(in1) or _is_gpu_array(in2)
    if device == "cuda" or (device == "auto" and gpu_in):
        from . import _gpu
        return _gpu.ops()
    if gpu_in:
        raise ValueError("device='cpu' was given GPU arrays; copy them to the host first")
    return _HostOps


def _is_gpu_array(x) -> bool:
    if getattr(x, "__cuda_ndarray__", False):  # numba device arrays, the simulator's too
        return True
    if hasattr(x, "__cuda_array_interface__"):
        return True
    dev = getattr(x, "__dlpack_device__", None)
    if dev is not None and not isinstance(x, np.ndarray):
        try:
            return dev()[0] in (2, 3, 13)  # kDLCUDA, kDLCUDAHost, kDLCUDAManaged
        except Exception:
            return False
    return False


# --------------------------------------------------------------------------
# shared machinery
# --------------------------------------------------------------------------

def _delegate_to_scipy(in1, in2) -> bool:
    """Dtypes Numba cannot compute (object, long double, strings): SciPy runs them."""
    return not (_numba_dtype(in1.dtype) and _numba_dtype(in2.dtype))


def _numba_dtype(dt) -> bool:
    """Whether Numba can compute in ``dt`` (any byte order): not object, string, long double."""
    return dt.kind in "biu" or (dt.kind == "f" and dt.itemsize <= 8) or (
        dt.kind == "c" and dt.itemsize <= 16)


def _scipy():
    import scipy.signal
    return scipy.signal


def _finalize(out, dtype, *, rounding):
    """Cast a backend's result to ``dtype``: wrap integers, round FFT results."""
    if out.dtype == dtype:
        return out
    if dtype.kind == "b":
        return (np.rint(out) if rounding else out) != 0
    if dtype.kind in "iu":
        if out.dtype.kind in "fc":
            out = np.rint(out.real if out.dtype.kind == "c" else out)
            with np.errstate(invalid="ignore"):
                return out.astype(dtype)
        if dtype.itemsize == 8 and out.dtype.itemsize == 8:
            return out.view(dtype)
        return out.astype(dtype)
    return out.astype(dtype)


def _flags(ops, a, k, dtype, need):
    """Value-dependent flags for the dispatcher (only computed when they matter)."""
    finite, bound = True, 0.0
    if not need:
        return finite, bound
    if dtype.kind in "fc":
        finite = bool(ops.all_finite(a) and ops.all_finite(k))
    elif dtype.kind in "iu":
        bound = float(ops.abs_max(a)) * float(ops.abs_max(k)) * float(min(a.size, k.size))
    return finite, bound


def _maybe_separable(k, method) -> bool:
    """Whether the separable path could run: a small enough 2-D floating kernel.

    Structural only; the rank-1 test itself (:func:`_rank1`) waits until the
    dispatcher would pick the separable path (see :func:`_choose`).
    """
    return (k.ndim == 2 and k.dtype.kind in "fc" and 0 < k.size <= _SEPARABLE_MAX_KERNEL
            and method in ("auto", "separable"))


def _rank1(ops, k) -> bool:
    from ._backends.cpu_separable import is_separable
    return is_separable(ops.to_host(k) if hasattr(ops, "to_host") else k)


def _choose(problem, a, k, method, workers, ops, offload=False):
    """Select a backend; value-dependent flags are settled only if the choice depends on them.

    ``offload`` (``device='auto'``): host arrays may go to the GPU when the
    dispatcher predicts it faster, copies included.

    The first selection is optimistic: a kernel that may be separable is
    assumed rank 1, the values finite and the integers small.  Only when the
    separable path wins is the kernel's rank tested (an SVD), and only when
    an FFT method wins (which non-finite values or large integers veto) are
    the values scanned; each time the selection is repeated with the truth.

    Returns ``(problem, choice, seen)``: ``seen`` lists the value tests that
    ran and their outcomes, ``(name, outcome)`` in order (see
    :func:`_value_test`); a memoised :class:`_Plan` repeats them.
    """
    seen = []
    choice = _dispatch.select(problem, method, workers, offload=offload)
    if problem.separable and choice.method == "separable":
        ok = _value_test("rank1", ops, a, k, problem)
        seen.append(("rank1", ok))
        if not ok:
            problem = dataclasses.replace(problem, separable=False)
            choice = _dispatch.select(problem, method, workers, offload=offload)
    if method == "auto" and choice.method in _dispatch.FFT_METHODS and problem.finite is None:
        finite, bound = flags = _value_test("flags", ops, a, k, problem)
        seen.append(("flags", flags))
        problem = dataclasses.replace(problem, finite=finite, int_bound=bound)
        choice = _dispatch.select(problem, method, workers, offload=offload)
    return problem, choice, tuple(seen)


def _value_test(name, ops, a, k, problem):
    """One value-dependent fact a call may rest on: ``'kernel_finite'``, ``'rank1'``, ``'flags'``."""
    if name == "kernel_finite":
        return bool(ops.all_finite(k))
    if name == "rank1":
        return _rank1(ops, k)
    return _flags(ops, a, k, problem.dtype, True)


def _np_convolve_path(in1, in2, mode) -> bool:
    """Whether SciPy's direct method hands these inputs to ``np.convolve``/``np.correlate``.

    Those leave the products outside the signal out; SciPy's N-D direct
    path (and ``convolve2d``) multiplies the zero fill, which a non-finite
    kernel tap shows (``0 * nan``): see :func:`_fill_products`.
    """
    if in1.ndim == in2.ndim == 1:
        return mode in ("full", "valid") or in1.size >= in2.size
    return False


def _fill_products(multiplies_fill, k, mode, ops):
    """``(fill_products, tests)``: SciPy's semantics at the edges, for a prepared kernel ``k``.

    Where SciPy multiplies the zero fill (``multiplies_fill``: its N-D
    direct path, ``convolve2d``'s fill boundary) and the kernel has a
    non-finite value, the fill region must be multiplied too.  'valid'
    never reaches the fill, and integer kernels are finite: no scan then.
    ``tests`` is the value test that decided it (for a memoised call).
    """
    if not multiplies_fill or mode == "valid" or k.dtype.kind not in "fc":
        return False, ()
    finite = _value_test("kernel_finite", ops, None, k, None)
    return not finite, (("kernel_finite", finite),)


def _execute(problem, choice, a, k, workers, ops):
    """Run ``choice`` (copying host arrays to the GPU if it is there): ``(out, ops)``.

    When the dispatcher sends host arrays to the GPU (``offload``), the
    inputs are copied there and the GPU's ops are returned: the caller
    finalises and wraps with them, which brings a NumPy array back.
    """
    if choice.device != ops.device:
        from . import _gpu
        ops = _gpu.ops()
        a, k, problem = ops.asarray(a), ops.asarray(k), _dispatch.on_gpu(problem)
    return choice.module.run(problem, a, k, workers=resolve_workers(workers)), ops


def _run(problem, a, k, method, workers, ops, offload=False):
    """Choose and run a backend: ``(out, choice, ops)`` (see :func:`_execute`)."""
    problem, choice, _ = _choose(problem, a, k, method, workers, ops, offload)
    out, ops = _execute(problem, choice, a, k, workers, ops)
    return out, choice, ops


# --------------------------------------------------------------------------
# memoised calls: repeated shapes skip the validation and the dispatcher
# --------------------------------------------------------------------------

class _Plan:
    """What one call of :func:`convolve`/:func:`correlate` decided from shapes alone.

    Keyed in :data:`numbaconv._dispatch.PLANS` by everything those decisions
    read (operation, mode, method, device, workers, shapes and dtypes), a
    plan turns the next call with the same key into: orient the inputs,
    repeat the value tests the choice rested on (the rank test, the
    finite-value scan), run the backend's prepared callable, cast.  If a
    value test comes out differently this time the plan declines (returns
    None) and the call takes the full path, so a plan never changes a result.
    """

    __slots__ = ("op", "swapped", "problem", "seen", "run", "dtype", "rounding")

    def __init__(self, op, swapped, problem, choice, seen, workers, dtype):
        self.op, self.swapped, self.problem, self.seen = op, swapped, problem, seen
        module = choice.module
        prepare = getattr(module, "prepare", None)
        self.run = (prepare(problem, workers=workers) if prepare is not None
                    else functools.partial(module.run, problem, workers=workers))
        self.dtype = dtype
        self.rounding = choice.method in _dispatch.FFT_METHODS

    def __call__(self, in1, in2):
        a, k = _orient(self.op, in1, in2, self.swapped, _HostOps)
        for name, outcome in self.seen:
            if _value_test(name, _HostOps, a, k, self.problem) != outcome:
                return None
        return _finalize(self.run(a, k), self.dtype, rounding=self.rounding)


#: plans kept at most; the memo is emptied when full (shapes rarely vary that much)
PLAN_LIMIT = 512


def _plan_key(op, in1, in2, mode, method, axes, device, workers):
    """The memo key of a host call, or None when the call cannot be memoised."""
    if (axes is not None or type(in1) is not np.ndarray or type(in2) is not np.ndarray
            or type(mode) is not str or type(method) is not str
            or device not in ("auto", "cpu") or not (workers is None or type(workers) is int)):
        return None
    return (op, mode, method, device, resolve_workers(workers), in1.shape, in2.shape,
            in1.dtype, in2.dtype)


def _orient(op, in1, in2, swapped, ops):
    """The canonical ``(A, K)`` of convolve/correlate (flips and conjugations are views)."""
    all_axes = tuple(range(in1.ndim))
    if op == "convolve":
        a, k = (in2, in1) if swapped else (in1, in2)
        return a, ops.flip(k, all_axes)
    if swapped:  # correlate(x, y) = convolve(x, flip(conj(y))), then commute
        return ops.flip(ops.conj(in2), all_axes), ops.flip(in1, all_axes)
    return in1, ops.conj(in2)


def _check_method(method):
    if method not in _METHODS:
        raise ValueError("Acceptable method flags are 'auto', 'direct', 'fft', 'oa' "
                         "or 'separable'.")


def _scipy_direct_unsupported(in1, in2, mode) -> bool:
    """SciPy's N-D direct path rejects bool, float16 and object ('Unsupported type').

    Only 1-D inputs that take ``np.convolve`` escape it; we raise alike so
    that code behaves the same after switching the import.
    """
    dt = np.result_type(in1, in2)
    if dt.kind != "b" and dt != np.float16:
        return False
    np_path = in1.ndim == in2.ndim == 1 and (mode != "same" or in1.size >= in2.size)
    return not np_path


# --------------------------------------------------------------------------
# convolve / correlate
# --------------------------------------------------------------------------

def _conv_corr(op, in1, in2, mode, method, axes, device, workers):
    key = _plan_key(op, in1, in2, mode, method, axes, device, workers)
    if key is not None:
        plan = _dispatch.PLANS.get(key)
        if plan is not None:
            out = plan(in1, in2)
            if out is not None:
                return out
    ops = _ops_for(device, in1, in2)
    in1 = ops.asarray(in1)
    in2 = ops.asarray(in2)
    if in1.ndim == in2.ndim == 0:
        return in1 * (in2.conj() if op == "correlate" else in2)
    if in1.ndim != in2.ndim:
        raise ValueError("volume and kernel should have the same dimensionality"
                         if op == "convolve" else
                         "in1 and in2 should have the same dimensionality")
    check_mode(mode)
    _check_method(method)
    if ops is _HostOps and _delegate_to_scipy(in1, in2):
        sm = method if method in ("auto", "direct", "fft") else "auto"
        return getattr(_scipy(), op)(in1, in2, mode=mode, method=sm)
    if in1.size == 0 or in2.size == 0:
        if ops is _HostOps:  # nothing to compute: SciPy's own answer (result or error) is exact
            sm = method if method in ("auto", "direct", "fft") else "auto"
            return getattr(_scipy(), op)(in1, in2, mode=mode, method=sm)
        raise ValueError("a cannot be empty" if in1.size == 0 else "v cannot be empty")
    if axes is not None:
        return _freq_conv(op, in1, in2, mode, axes, method, workers, ops, exact=True,
                          offload=device == "auto")
    dtype = _result_type(in1.dtype, in2.dtype)
    if ops is _HostOps and dtype.char in "?e" and method in ("auto", "direct"):
        if _scipy_direct_unsupported(in1, in2, mode):
            if method == "direct" or _scipy().choose_conv_method(in1, in2, mode) == "direct":
                raise ValueError("Unsupported type")
    native = in1.dtype.isnative and in2.dtype.isnative
    in1, in2 = ops.native(in1), ops.native(in2)
    swapped = inputs_swap_needed(mode, in1.shape, in2.shape)
    a, k = _orient(op, in1, in2, swapped, ops)
    fill_products, tests = _fill_products(
        method in ("auto", "direct", "separable") and not _np_convolve_path(in1, in2, mode),
        k, mode, ops)
    problem = build_problem(a.shape, k.shape, mode, dtype, device=ops.device, finite=None,
                            separable=_maybe_separable(k, method), fill_products=fill_products)
    problem, choice, seen = _choose(problem, a, k, method, workers, ops, device == "auto")
    seen = tests + seen
    if key is not None and native and choice.device == "cpu" and ops is _HostOps:
        if len(_dispatch.PLANS) >= PLAN_LIMIT:
            _dispatch.PLANS.clear()
        plan = _dispatch.PLANS[key] = _Plan(op, swapped, problem, choice, seen, key[4], dtype)
        return _finalize(plan.run(a, k), dtype, rounding=plan.rounding)
    out, ops = _execute(problem, choice, a, k, workers, ops)
    return ops.wrap(ops.finalize(out, dtype, choice.method in _dispatch.FFT_METHODS), in1)


def convolve(in1, in2, mode="full", method="auto", *, axes=None, device="auto", workers=None):
    """Convolve two N-dimensional arrays.

    Drop-in for :func:`scipy.signal.convolve`: same arguments, result dtype
    (``np.result_type(in1, in2)``), shapes, 'same' centring and errors.

    Parameters
    ----------
    in1 : array_like
        First input.
    in2 : array_like
        Second input, with the same number of dimensions as ``in1``.
    mode : {'full', 'valid', 'same'}, optional
        Size of the output, as in SciPy.  'valid' swaps the inputs when
        ``in2`` is the larger one in every dimension.
    method : {'auto', 'direct', 'fft', 'oa', 'separable'}, optional
        'auto' lets the calibrated dispatcher choose (see :func:`explain`);
        'direct' sums products (exact for integers, NaN stays local), 'fft'
        multiplies spectra, 'oa' uses overlap-add, 'separable' runs a
        rank-1 2-D kernel as two 1-D passes.
    axes : int or sequence of int, optional
        Convolve only over these axes (the others broadcast), as in
        :func:`scipy.signal.fftconvolve`; FFT methods only.
    device : {'auto', 'cpu', 'cuda'}, optional
        Where to compute.  'auto' follows the inputs: GPU arrays stay on the
        GPU and come back as the same kind of array; host arrays run on a
        GPU only where the cost model predicts it faster, the copies to the
        device and back included (:func:`explain` shows both devices), and
        come back as NumPy arrays.  'cpu' never uses a GPU, 'cuda' always.
    workers : int, optional
        Threads to use; ``None`` takes :func:`get_workers`, negative values
        count back from the number of CPUs.

    Returns
    -------
    out : ndarray
        The discrete linear convolution of ``in1`` with ``in2``.

    Raises
    ------
    ValueError
        For an unknown mode or method, inputs of different rank, empty
        inputs, or 'valid' with neither input at least as large as the other.

    Examples
    --------
    >>> import numpy as np
    >>> import numbaconv
    >>> numbaconv.convolve([1, 2, 3], [0, 1, 0.5])
    array([0. , 1. , 2.5, 4. , 1.5])
    >>> numbaconv.convolve(np.array([1, 2, 3], np.int8), np.array([1, 1], np.int8), mode="same")
    array([1, 3, 5], dtype=int8)
    """
    return _conv_corr("convolve", in1, in2, mode, method, axes, device, workers)


def correlate(in1, in2, mode="full", method="auto", *, axes=None, device="auto", workers=None):
    """Cross-correlate two N-dimensional arrays.

    Drop-in for :func:`scipy.signal.correlate`: ``in2`` is conjugated,
    'same' is centred like SciPy, 'valid' swaps like SciPy.

    Parameters
    ----------
    in1 : array_like
        First input.
    in2 : array_like
        Second input, with the same number of dimensions as ``in1``.
    mode : {'full', 'valid', 'same'}, optional
        Size of the output, as in SciPy.
    method : {'auto', 'direct', 'fft', 'oa', 'separable'}, optional
        See :func:`convolve`.
    axes : int or sequence of int, optional
        Correlate only over these axes (FFT methods only).
    device : {'auto', 'cpu', 'cuda'}, optional
        See :func:`convolve`.
    workers : int, optional
        See :func:`convolve`.

    Returns
    -------
    out : ndarray
        The cross-correlation of ``in1`` with ``in2``.

    Raises
    ------
    ValueError
        As :func:`convolve`.

    Examples
    --------
    >>> import numbaconv
    >>> numbaconv.correlate([1, 2, 3], [0, 1, 0.5])
    array([0.5, 2. , 3.5, 3. , 0. ])
    """
    return _conv_corr("correlate", in1, in2, mode, method, axes, device, workers)


# --------------------------------------------------------------------------
# fftconvolve / oaconvolve
# --------------------------------------------------------------------------

def _normalise_axes(in1, in2, axes, keep_length_one=False):
    """SciPy's axes rules (``_init_freq_conv_axes``), returning a sorted list."""
    ndim = in1.ndim
    noaxes = axes is None
    if noaxes:
        axes = list(range(ndim))
    else:
        try:
            axes = [operator.index(axes)] if np.ndim(axes) == 0 else [operator.index(a) for a in axes]
        except TypeError:
            raise ValueError("axes must be a scalar or iterable of integers") from None
        if any(a >= ndim or a < -ndim for a in axes):
            raise ValueError("axes exceeds dimensionality of input")
        axes = [a % ndim for a in axes]
        if len(set(axes)) != len(axes):
            raise ValueError("all axes must be unique")
        if not axes:
            raise ValueError("when provided, axes cannot be empty")
    s1, s2 = in1.shape, in2.shape
    if keep_length_one:
        return sorted(axes)
    axes = sorted(a for a in axes if s1[a] != 1 and s2[a] != 1)
    if not all(s1[a] == s2[a] or s1[a] == 1 or s2[a] == 1
               for a in range(ndim) if a not in axes):
        raise ValueError(f"incompatible shapes for in1 and in2: {s1} and {s2}")
    return axes


def _freq_conv(op, in1, in2, mode, axes, method, workers, ops, exact=False, offload=False):
    """fftconvolve/oaconvolve (and convolve/correlate with ``axes``)."""
    if not isinstance(mode, str) or mode not in ("full", "same", "valid"):
        raise ValueError("acceptable mode flags are 'valid', 'same', or 'full'")
    if op == "correlate":
        # correlate(x, y) = convolve(x, flip(conj(y))) over the requested axes, flipped
        # before length-1 axes are dropped (SciPy flips them too)
        requested = list(range(in1.ndim)) if axes is None else _normalise_axes(
            in1, in2, axes, keep_length_one=True)
        in2, op = ops.flip(ops.conj(in2), requested), "convolve"
    axes = _normalise_axes(in1, in2, axes)
    if inputs_swap_needed(mode, in1.shape, in2.shape, axes=axes):
        in1, in2 = in2, in1
    in1, in2 = ops.native(in1), ops.native(in2)
    k = ops.flip(in2, axes) if op == "convolve" else ops.conj(in2)
    if not axes:
        # every axis has length 1 on one side: SciPy multiplies, in the inputs' dtype
        problem = build_problem(in1.shape, k.shape, mode, np.result_type(in1.dtype, k.dtype),
                                axes=axes, device=ops.device)
        from ._backends.cpu_fft import window
        return ops.wrap(np.ascontiguousarray(window(in1 * k, problem)) if ops is _HostOps
                        else window(in1 * k, problem), in1)
    rdtype = _result_type(in1.dtype, in2.dtype) if exact else fft_result_dtype(in1.dtype, in2.dtype)
    problem = build_problem(in1.shape, k.shape, mode, rdtype, axes=axes, device=ops.device)
    # only FFT-family backends correlate over a subset of axes
    fam = method if method in ("fft", "oa", "auto") else "fft"
    if fam == "oa" and ops.device == "cuda":
        fam = "fft"  # no GPU overlap-add backend: cuFFT on the whole signal
    out, choice, ops = _run(problem, in1, k, fam, workers, ops, offload)
    if exact:
        out = ops.finalize(out, rdtype, True)
    elif out.dtype != rdtype:
        out = ops.astype(out, rdtype)
    return ops.wrap(np.ascontiguousarray(out) if ops is _HostOps else out, in1)


def _fft_family(in1, in2, mode, axes, device, workers, method):
    ops = _ops_for(device, in1, in2)
    in1 = ops.asarray(in1)
    in2 = ops.asarray(in2)
    if in1.ndim == in2.ndim == 0:
        return in1 * in2
    if in1.ndim != in2.ndim:
        raise ValueError("in1 and in2 should have the same dimensionality")
    if in1.size == 0 or in2.size == 0:
        return np.array([])
    if ops is _HostOps and (in1.dtype.kind not in "biufc" or in2.dtype.kind not in "biufc"):
        return getattr(_scipy(), "fftconvolve" if method == "fft" else "oaconvolve")(
            in1, in2, mode=mode, axes=axes)
    return _freq_conv("convolve", in1, in2, mode, axes, method, workers, ops,
                      offload=device == "auto")


def fftconvolve(in1, in2, mode="full", axes=None, *, device="auto", workers=None):
    """Convolve two N-dimensional arrays using FFT.

    Drop-in for :func:`scipy.signal.fftconvolve`, with ``workers`` threads
    for the transforms.  Integer and bool inputs give float64, float16 gives
    float32, other floating types keep their precision (as SciPy).

    Parameters
    ----------
    in1 : array_like
        First input.
    in2 : array_like
        Second input, same rank as ``in1``.
    mode : {'full', 'valid', 'same'}, optional
        Size of the output.
    axes : int or array_like of ints or None, optional
        Axes over which to convolve; the others must match or be 1.
    device : {'auto', 'cpu', 'cuda'}, optional
        See :func:`convolve`.
    workers : int, optional
        Threads for the transforms.

    Returns
    -------
    out : ndarray
        The convolution of ``in1`` and ``in2`` along ``axes``.

    Examples
    --------
    >>> import numpy as np
    >>> import numbaconv
    >>> np.round(numbaconv.fftconvolve([1.0, 2.0, 3.0], [1.0, 1.0]), 12)
    array([1., 3., 5., 3.])
    """
    return _fft_family(in1, in2, mode, axes, device, workers, "fft")


def oaconvolve(in1, in2, mode="full", axes=None, *, device="auto", workers=None):
    """Convolve two N-dimensional arrays using the overlap-add method.

    Drop-in for :func:`scipy.signal.oaconvolve`.  Blocks are transformed as
    one batch on ``workers`` threads.

    Parameters
    ----------
    in1 : array_like
        First input.
    in2 : array_like
        Second input, same rank as ``in1``.
    mode : {'full', 'valid', 'same'}, optional
        Size of the output.
    axes : int or array_like of ints or None, optional
        Axes over which to convolve.
    device : {'auto', 'cpu', 'cuda'}, optional
        See :func:`convolve`.
    workers : int, optional
        Threads for the transforms.

    Returns
    -------
    out : ndarray
        The convolution of ``in1`` and ``in2``.

    Examples
    --------
    >>> import numpy as np
    >>> import numbaconv
    >>> x = np.ones(1000)
    >>> y = numbaconv.oaconvolve(x, np.ones(10), mode="valid")
    >>> y.shape, bool(np.allclose(y, 10))
    ((991,), True)
    """
    return _fft_family(in1, in2, mode, axes, device, workers, "oa")


# --------------------------------------------------------------------------
# convolve2d / correlate2d
# --------------------------------------------------------------------------

_CAST_MSG = ("could not cast `fillvalue` directly to the output type "
             "(it was first converted to complex).")


def _fill_value(fillvalue, dtype):
    """SciPy's rules: one element, cast from the Python value; None becomes NaN."""
    if type(fillvalue) is int and fillvalue == 0:   # the default: zero in every dtype
        return 0
    arr = np.asarray(fillvalue)
    if arr.size != 1:
        raise ValueError("`fillvalue` must be scalar or an array with one element.")
    if arr.dtype.kind == "c" and dtype.kind != "c":
        raise ValueError(_CAST_MSG)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if isinstance(fillvalue, (np.generic, np.ndarray)):
                value = arr.reshape(()).astype(dtype)        # NumPy values cast (and wrap)
            else:
                value = np.array(arr.reshape(()).item(), dtype=dtype)
    except (TypeError, ValueError, OverflowError):
        raise ValueError(_CAST_MSG) from None
    return value.item() if dtype.kind != "c" else complex(value)


def _conv2d(op, in1, in2, mode, boundary, fillvalue, device, workers):
    ops = _ops_for(device, in1, in2)
    in1 = ops.asarray(in1)
    in2 = ops.asarray(in2)
    if not in1.ndim == in2.ndim == 2:
        raise ValueError(f"{op}2d inputs must both be 2-D arrays")
    swapped = inputs_swap_needed(mode, in1.shape, in2.shape)
    check_mode(mode, "Acceptable mode flags are 'valid', 'same', or 'full'.")
    bnd = check_boundary(boundary)
    dtype = _result_type(in1.dtype, in2.dtype)
    if ops is _HostOps and (in1.size == 0 or in2.size == 0):
        return getattr(_scipy(), f"{op}2d")(in1, in2, mode, boundary, fillvalue)
    if ops is _HostOps and dtype in (np.dtype(np.longdouble), np.dtype(np.clongdouble)):
        return getattr(_scipy(), f"{op}2d")(in1, in2, mode, boundary, fillvalue)
    if dtype.kind not in "iufc" or dtype == np.float16:
        raise ValueError(f"{op}2d not available for this type.")
    fill = _fill_value(fillvalue, dtype) if bnd == "fill" else 0
    in1, in2 = ops.native(in1), ops.native(in2)
    if swapped:
        in1, in2 = in2, in1
    if op == "convolve":
        a, k, same_odd = in1, ops.flip(in2, (0, 1)), True
    else:
        a, k, same_odd = in1, ops.conj(in2), False
    fill_products, _ = _fill_products(bnd == "fill", k, mode, ops)
    problem = build_problem(a.shape, k.shape, mode, dtype, same_odd_centre=same_odd,
                            boundary=bnd, fillvalue=fill, device=ops.device, finite=None,
                            separable=_maybe_separable(k, "auto"),
                            fill_products=fill_products)
    if a.size == 0 or k.size == 0:
        return ops.wrap(ops.zeros(problem.out_shape, dtype), in1)
    out, choice, ops = _run(problem, a, k, "auto", workers, ops, offload=device == "auto")
    out = ops.finalize(out, dtype, choice.method in _dispatch.FFT_METHODS)
    if op == "correlate" and swapped:
        out = ops.flip(out, (0, 1))
    return ops.wrap(out, in1)


def convolve2d(in1, in2, mode="full", boundary="fill", fillvalue=0, *, device="auto", workers=None):
    """Convolve two 2-dimensional arrays.

    Drop-in for :func:`scipy.signal.convolve2d`, including the boundaries
    'fill' (with ``fillvalue``), 'wrap' and 'symm' and their aliases.

    Parameters
    ----------
    in1 : array_like
        First input, 2-D.
    in2 : array_like
        Second input, 2-D.
    mode : {'full', 'valid', 'same'}, optional
        Size of the output.
    boundary : {'fill', 'wrap', 'symm'}, optional
        How the edges of ``in1`` are extended.
    fillvalue : scalar, optional
        Value outside ``in1`` for ``boundary='fill'``.
    device : {'auto', 'cpu', 'cuda'}, optional
        See :func:`convolve`.
    workers : int, optional
        See :func:`convolve`.

    Returns
    -------
    out : ndarray
        The 2-D convolution, of dtype ``np.result_type(in1, in2)``.

    Raises
    ------
    ValueError
        For inputs that are not 2-D, unknown mode or boundary, a fill value
        that is not a scalar or cannot be cast, and bool/float16 inputs
        (which SciPy rejects too).

    Examples
    --------
    >>> import numpy as np
    >>> import numbaconv
    >>> numbaconv.convolve2d(np.eye(3), np.ones((2, 2)), mode="same")
    array([[1., 1., 0.],
           [1., 2., 1.],
           [0., 1., 2.]])
    """
    return _conv2d("convolve", in1, in2, mode, boundary, fillvalue, device, workers)


def correlate2d(in1, in2, mode="full", boundary="fill", fillvalue=0, *, device="auto", workers=None):
    """Cross-correlate two 2-dimensional arrays.

    Drop-in for :func:`scipy.signal.correlate2d` (its 'same' centring for
    even kernels and its 'valid' swap included).

    Parameters
    ----------
    in1 : array_like
        First input, 2-D.
    in2 : array_like
        Second input, 2-D; it is conjugated.
    mode : {'full', 'valid', 'same'}, optional
        Size of the output.
    boundary : {'fill', 'wrap', 'symm'}, optional
        How the edges of ``in1`` are extended.
    fillvalue : scalar, optional
        Value outside ``in1`` for ``boundary='fill'``.
    device : {'auto', 'cpu', 'cuda'}, optional
        See :func:`convolve`.
    workers : int, optional
        See :func:`convolve`.

    Returns
    -------
    out : ndarray
        The 2-D cross-correlation.

    Examples
    --------
    >>> import numpy as np
    >>> import numbaconv
    >>> numbaconv.correlate2d(np.arange(4.0).reshape(2, 2), np.ones((1, 2)))
    array([[0., 1., 1.],
           [2., 5., 3.]])
    """
    return _conv2d("correlate", in1, in2, mode, boundary, fillvalue, device, workers)


# --------------------------------------------------------------------------
# choose_conv_method / explain
# --------------------------------------------------------------------------

def _time_call(fn, repeat=3):
    """Median seconds of ``fn()`` after one warm-up call."""
    fn()
    timer = timeit.Timer(fn)
    number, _ = timer.autorange()
    return float(np.median([t / number for t in timer.repeat(repeat, number)]))


def _problem_for(in1, in2, mode, device):
    ops = _ops_for(device, in1, in2)
    in1, in2 = ops.asarray(in1), ops.asarray(in2)
    if in1.ndim != in2.ndim:
        raise ValueError("in1 and in2 should have the same dimensionality")
    check_mode(mode, f"Acceptable mode flags are 'valid', 'same', or 'full', not mode={mode}")
    if in1.ndim == 0 or in1.size == 0 or in2.size == 0:
        return None, ops, in1, in2
    dtype = _result_type(in1.dtype, in2.dtype)
    if ops is _HostOps and _delegate_to_scipy(in1, in2):
        return None, ops, in1, in2
    if inputs_swap_needed(mode, in1.shape, in2.shape):
        in1, in2 = in2, in1
    return build_problem(in1.shape, in2.shape, mode, dtype, device=ops.device, finite=None,
                         separable=_maybe_separable(in2, "auto")), ops, in1, in2


def choose_conv_method(in1, in2, mode="full", measure=False, *, device="auto"):
    """Find the fastest convolution/correlation method, in SciPy's words.

    Drop-in for :func:`scipy.signal.choose_conv_method`: returns ``'direct'``
    or ``'fft'`` (overlap-add counts as FFT, the separable path as direct).
    With ``measure=True`` both are timed and ``(method, times)`` returned.
    The full choice among numbaconv's backends is given by :func:`explain`.

    Parameters
    ----------
    in1 : array_like
        First input.
    in2 : array_like
        Second input.
    mode : {'full', 'valid', 'same'}, optional
        Size of the output.
    measure : bool, optional
        Time both methods instead of predicting.
    device : {'auto', 'cpu', 'cuda'}, optional
        See :func:`convolve`.

    Returns
    -------
    method : str
        ``'direct'`` or ``'fft'``.
    times : dict, optional
        With ``measure=True``: seconds per method.

    Examples
    --------
    >>> import numpy as np
    >>> import numbaconv
    >>> numbaconv.choose_conv_method(np.ones(100), np.ones(3))
    'direct'
    >>> numbaconv.choose_conv_method(np.ones(10, bool), np.ones(3, bool))
    'direct'
    """
    if measure:
        volume, kernel = np.asarray(in1), np.asarray(in2)
        times = {m: _time_call(lambda m=m: convolve(volume, kernel, mode=mode, method=m,
                                                    device=device))
                 for m in ("fft", "direct")}
        return ("fft" if times["fft"] < times["direct"] else "direct"), times
    if not _is_gpu_array(in1) and not _is_gpu_array(in2):
        v, w = np.asarray(in1), np.asarray(in2)
        degenerate = v.ndim != w.ndim or v.ndim == 0 or v.size == 0 or w.size == 0
        if not degenerate and mode == "valid":
            degenerate = not (all(i >= j for i, j in zip(v.shape, w.shape))
                              or all(j >= i for i, j in zip(v.shape, w.shape)))
        if degenerate or _delegate_to_scipy(v, w):
            return _scipy().choose_conv_method(v, w, mode)  # degenerate input: SciPy's answer
    problem, ops, a, k = _problem_for(in1, in2, mode, device)
    if problem is None:
        return "direct"
    return _choose(problem, a, k, "auto", None, ops, device == "auto")[1].scipy_method


def explain(in1, in2, mode="full", method="auto", *, device="auto", workers=None):
    """Say which backend ``convolve`` would run, and why.

    Parameters
    ----------
    in1 : array_like
        First input.
    in2 : array_like
        Second input.
    mode : {'full', 'valid', 'same'}, optional
        Size of the output.
    method : str, optional
        As in :func:`convolve`; 'auto' compares every candidate.
    device : {'auto', 'cpu', 'cuda'}, optional
        See :func:`convolve`.
    workers : int, optional
        Threads assumed by the cost model.

    Returns
    -------
    choice : numbaconv._dispatch.Choice
        ``.backend`` and ``.method`` chosen, ``.costs`` (predicted seconds of
        every candidate), ``.vetoes`` (correctness rules that applied);
        ``str(choice)`` is a readable table.

    Examples
    --------
    >>> import numpy as np
    >>> import numbaconv
    >>> choice = numbaconv.explain(np.ones(1000), np.ones(5))
    >>> choice.backend
    'cpu_direct'
    >>> choice = numbaconv.explain(np.array([1.0, np.nan] * 50000), np.ones(5001))
    >>> choice.method, len(choice.vetoes)
    ('direct', 1)
    """
    _check_method(method)
    problem, ops, a, k = _problem_for(in1, in2, mode, device)
    if problem is None:
        return _dispatch.Choice("scipy", "direct", {}, ["input handled by scipy.signal itself"])
    return _choose(problem, a, k, method, workers, ops, device == "auto")[1]
