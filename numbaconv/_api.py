"""SciPy-compatible public functions.

Each function prepares its inputs as :mod:`scipy.signal` does
(:mod:`numbaconv._inputs`), reduces the call to the canonical correlation of
:mod:`numbaconv._problem` (flips and conjugations are views), lets
:func:`numbaconv._dispatch.select` choose a backend, runs it, and casts the
result to SciPy's dtype.  No backend is imported here.
"""
from __future__ import annotations

import warnings

import numpy as np

from . import _dispatch, _plans
from ._arrays import HostOps, is_gpu_array, result_type
from ._config import resolve_workers
from ._inputs import (arrays, as_array, call_scipy, check_method, check_out, delegate_to_scipy,
                      deliver, empty_message, fill_value, normalise_axes, np_convolve_path,
                      raise_zero_d_error, scipy_direct_unsupported, scipy_signal)
from ._probes import Probes, may_be_separable
from ._problem import (build_problem, check_boundary, check_mode, fft_result_dtype,
                       inputs_swap_needed, window)
from ._timing import median_time

_FFT_NONFINITE = ("Use of fft convolution on input with NAN or inf results in NAN or inf "
                  "output. Consider using method='direct' instead.")


# --------------------------------------------------------------------------
# shared machinery
# --------------------------------------------------------------------------

def _fill_products(multiplies_fill, mode, probes) -> bool:
    """Whether positions outside the signal take part in the products (SciPy's edges).

    Where SciPy multiplies the zero fill (its N-D direct path,
    ``convolve2d``'s fill boundary) and the kernel has a non-finite value,
    the fill region must be multiplied too (``0 * inf`` is NaN).  'valid'
    never reaches the fill, and integer kernels are finite: no scan then.
    """
    if not multiplies_fill or mode == "valid" or probes.k.dtype.kind not in "fc":
        return False
    return not probes.kernel_finite()


def _execute(problem, choice, a, k, workers, ops, out=None):
    """Run ``choice`` (copying host arrays to the GPU if it is there): ``(result, ops)``.

    When the dispatcher sends host arrays to the GPU, the inputs are copied
    there and the GPU's ops are returned: the caller finalises and wraps
    with them, which brings a NumPy array back.  ``out`` (checked, host) is
    offered to a host backend that writes in place (:func:`_plans.writes_out`);
    ``result is out`` when it did.
    """
    if choice.device != ops.device:
        from . import _gpu
        ops = _gpu.ops()
        a, k, problem = ops.asarray(a), ops.asarray(k), _dispatch.on_gpu(problem)
    elif out is not None and _plans.writes_out(choice.module):
        return choice.module.run(problem, a, k, workers=resolve_workers(workers), out=out), ops
    return choice.module.run(problem, a, k, workers=resolve_workers(workers)), ops


def _zero_d(fname, in1, in2, ops, conj=False):
    """Two 0-d inputs: their product, as SciPy returns it (the error saying what they were)."""
    try:
        return ops.wrap(ops.multiply(in1, ops.conj(in2) if conj else in2), in1)
    except Exception as exc:  # noqa: BLE001 -- re-raised, of the same type
        raise_zero_d_error(exc, fname, in1, in2)


def _check_scipy_direct_type(in1, in2, mode, method, dtype):
    """SciPy's ``ValueError`` where its N-D direct method would meet bool or float16."""
    if dtype.char in "?e" and method in ("auto", "direct") and \
            scipy_direct_unsupported(in1, in2, mode):
        if method == "direct" or scipy_signal().choose_conv_method(in1, in2, mode) == "direct":
            raise ValueError(f"Unsupported type: scipy.signal's {in1.ndim}-D direct method "
                             f"rejects {dtype} (numbaconv raises alike, so that code "
                             "behaves the same after switching the import); cast the "
                             "inputs, e.g. x.astype(np.float32), or use method='fft'")


def _warn_nonfinite_fft(method, out, ops):
    """SciPy's warning when ``method='fft'`` met NaN or inf (it looks at the first element)."""
    if method == "fft" and ops is HostOps and out.size:
        first = out.flat[0]
        if np.isnan(first) or np.isinf(first):
            warnings.warn(_FFT_NONFINITE, RuntimeWarning, stacklevel=4)


# --------------------------------------------------------------------------
# convolve / correlate
# --------------------------------------------------------------------------

def _conv_corr(op, in1, in2, mode, method, axes, device, workers, out=None):
    key = _plans.key(op, in1, in2, mode, method, axes, device, workers)
    result = _plans.replay(key, in1, in2, out, op)
    if result is not None:
        _warn_nonfinite_fft(method, result, HostOps)
        return deliver(result, out, (("in1", in1), ("in2", in2)), op)
    result = _conv_corr_full(op, in1, in2, mode, method, axes, device, workers, key, out)
    return deliver(result, out, (("in1", in1), ("in2", in2)), op)


def _conv_corr_full(op, in1, in2, mode, method, axes, device, workers, key, dest):
    """convolve/correlate without a plan; ``dest`` (the caller's ``out``) may be written."""
    ops, in1, in2 = arrays(in1, in2, device,
                           "volume and kernel should have the same dimensionality"
                           if op == "convolve" else
                           "in1 and in2 should have the same dimensionality")
    resolve_workers(workers)
    if in1.ndim == 0:
        return _zero_d(op, in1, in2, ops, conj=op == "correlate")
    check_mode(mode, lookup=op == "correlate")
    check_method(method)
    if ops is HostOps and (delegate_to_scipy(in1, in2) or in1.size == 0 or in2.size == 0):
        # dtypes Numba cannot compute, and empty inputs: SciPy's own answer (or error) is exact
        inputs_swap_needed(mode, in1.shape, in2.shape)      # SciPy's first check, in our words
        sm = method if method in ("auto", "direct", "fft") else "auto"
        return call_scipy(op, lambda: getattr(scipy_signal(), op)(in1, in2, mode=mode, method=sm),
                          in1, in2, mode, method)
    if in1.size == 0 or in2.size == 0:
        raise ValueError(empty_message(op, in1, in2, mode, method))
    if axes is not None:
        return _freq_conv(op, in1, in2, mode, axes, method, workers, ops, exact=True,
                          offload=device == "auto", dest=dest)
    dtype = result_type(in1.dtype, in2.dtype)
    if ops is HostOps:
        _check_scipy_direct_type(in1, in2, mode, method, dtype)
    native = in1.dtype.isnative and in2.dtype.isnative
    in1, in2 = ops.native(in1), ops.native(in2)
    swapped = inputs_swap_needed(mode, in1.shape, in2.shape)
    a, k = _plans.orient(op, in1, in2, swapped, ops)
    probes = Probes(ops, a, k)
    nd_direct = method in ("auto", "direct", "separable") and not np_convolve_path(in1, in2, mode)
    if (nd_direct and mode == "full" and in2.size > in1.size and dtype.kind in "fc"
            and not probes.finite()):
        # SciPy's N-D direct path swaps the inputs here, so its zero fill multiplies in1's
        # values (0 * nan): where that shows, compute in its order ('full' commutes)
        swapped = True
        a, k = _plans.orient(op, in1, in2, swapped, ops)
        probes = Probes(ops, a, k)
        probes.finite()
    fill_products = _fill_products(nd_direct, mode, probes)
    problem = build_problem(a.shape, k.shape, mode, dtype, device=ops.device, finite=None,
                            separable=method in ("auto", "separable") and may_be_separable(k),
                            fill_products=fill_products)
    problem, choice = _dispatch.select(problem, method, workers, probes=probes,
                                       offload=device == "auto", caller=op)
    if dest is not None and ops is HostOps:
        check_out(dest, problem.out_shape, dtype, (("in1", in1), ("in2", in2)), op)
    else:
        dest = None
    if key is not None and native and choice.device == "cpu" and ops is HostOps:
        out = _plans.first_call(key, op, swapped, problem, choice, tuple(probes.asked),
                                key[4], dtype, a, k, dest)
        _warn_nonfinite_fft(method, out, ops)
        return out
    out, ops = _execute(problem, choice, a, k, workers, ops, dest)
    out = ops.finalize(out, dtype, choice.method in _dispatch.FFT_METHODS)
    _warn_nonfinite_fft(method, out, ops)
    return ops.wrap(out, in1)


def convolve(in1, in2, mode="full", method="auto", *, axes=None, device="auto", workers=None,
             out=None):
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
    out : ndarray, optional
        Where to write the result: exactly its shape and dtype (the dtype
        this call returns, never cast), writeable, sharing no memory with
        the inputs; a strided view is fine.  The result is written there
        and ``out`` itself is returned.  A C-contiguous ``out`` is written
        by the direct kernel itself, saving the new array's allocation.
        GPU results go into a C-contiguous GPU array of the same kind.

    Returns
    -------
    out : ndarray
        The discrete linear convolution of ``in1`` with ``in2`` (``out``
        itself when given).

    Raises
    ------
    ValueError
        For an unknown mode or method, inputs of different rank, empty
        inputs, or 'valid' with neither input at least as large as the other;
        an ``out`` of another shape, read-only, or sharing memory with an input.
    TypeError
        An ``out`` that is not an array of the result's dtype.

    Examples
    --------
    >>> import numpy as np
    >>> import numbaconv
    >>> numbaconv.convolve([1, 2, 3], [0, 1, 0.5])
    array([0. , 1. , 2.5, 4. , 1.5])
    >>> numbaconv.convolve(np.array([1, 2, 3], np.int8), np.array([1, 1], np.int8), mode="same")
    array([1, 3, 5], dtype=int8)

    Reusing one output array (streaming the same shapes again and again):

    >>> y = np.empty(5)
    >>> numbaconv.convolve([1.0, 2.0, 3.0], [0.0, 1.0, 0.5], out=y) is y
    True
    >>> y
    array([0. , 1. , 2.5, 4. , 1.5])
    """
    return _conv_corr("convolve", in1, in2, mode, method, axes, device, workers, out)


def correlate(in1, in2, mode="full", method="auto", *, axes=None, device="auto", workers=None,
              out=None):
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
    out : ndarray, optional
        See :func:`convolve`.

    Returns
    -------
    out : ndarray
        The cross-correlation of ``in1`` with ``in2`` (``out`` itself when given).

    Raises
    ------
    ValueError, TypeError
        As :func:`convolve`.

    Examples
    --------
    >>> import numpy as np
    >>> import numbaconv
    >>> numbaconv.correlate([1, 2, 3], [0, 1, 0.5])
    array([0.5, 2. , 3.5, 3. , 0. ])
    >>> y = np.zeros(3, np.int64)
    >>> numbaconv.correlate([1, 2, 3], [1, 1], mode="same", out=y)
    array([1, 3, 5])
    """
    return _conv_corr("correlate", in1, in2, mode, method, axes, device, workers, out)


# --------------------------------------------------------------------------
# fftconvolve / oaconvolve (and convolve / correlate with axes)
# --------------------------------------------------------------------------

def _freq_conv(op, in1, in2, mode, axes, method, workers, ops, exact=False, offload=False,
               dest=None, key=None):
    """fftconvolve/oaconvolve (and convolve/correlate with ``axes``, where ``exact``).

    ``dest`` (the caller's ``out``) is checked and offered to the backend;
    the caller delivers the result into it when the backend did not write there.
    ``key``: the memo key of an fftconvolve/oaconvolve call, whose plan is stored here.
    """
    given = (("in1", in1), ("in2", in2))
    caller = op if exact else "fftconvolve" if method == "fft" else "oaconvolve"
    check_mode(mode, "acceptable mode flags are 'valid', 'same', or 'full'")
    if op == "correlate":
        # correlate(x, y) = convolve(x, flip(conj(y))) over the requested axes, flipped
        # before length-1 axes are dropped (SciPy flips them too)
        requested = list(range(in1.ndim)) if axes is None else normalise_axes(
            in1, in2, axes, keep_length_one=True)
        in2, op = ops.flip(ops.conj(in2), requested), "convolve"
    axes = normalise_axes(in1, in2, axes)
    swapped = inputs_swap_needed(mode, in1.shape, in2.shape, axes=axes)
    if swapped:
        in1, in2 = in2, in1
    native = in1.dtype.isnative and in2.dtype.isnative
    in1, in2 = ops.native(in1), ops.native(in2)
    k = ops.flip(in2, axes) if op == "convolve" else ops.conj(in2)
    if not axes:
        # every axis has length 1 on one side: SciPy multiplies, in the inputs' dtype
        problem = build_problem(in1.shape, k.shape, mode, np.result_type(in1.dtype, k.dtype),
                                axes=axes, device=ops.device)
        prod = ops.multiply(in1, k)
        return ops.wrap(np.ascontiguousarray(window(prod, problem)) if ops is HostOps
                        else window(prod, problem), in1)
    rdtype = result_type(in1.dtype, in2.dtype) if exact else fft_result_dtype(in1.dtype, in2.dtype)
    problem = build_problem(in1.shape, k.shape, mode, rdtype, axes=axes, device=ops.device,
                            finite=None if exact else True)
    probes = Probes(ops, in1, k)
    problem, choice = _dispatch.select(problem, method, workers, probes=probes, offload=offload,
                                       caller=caller)
    if dest is not None and ops is HostOps:
        check_out(dest, problem.out_shape, rdtype, given, "fftconvolve" if method == "fft"
                  else "oaconvolve" if method == "oa" else op)
    else:
        dest = None
    if key is not None and native and choice.device == "cpu" and ops is HostOps:
        return _plans.first_call(key, caller, swapped, problem, choice, tuple(probes.asked),
                                 resolve_workers(workers), rdtype, in1, k, dest)
    out, ops = _execute(problem, choice, in1, k, workers, ops, dest)
    if exact:
        out = ops.finalize(out, rdtype, choice.method in _dispatch.FFT_METHODS)
    elif out.dtype != rdtype:
        out = ops.astype(out, rdtype)
    return ops.wrap(np.ascontiguousarray(out) if ops is HostOps else out, in1)


def _fft_family(in1, in2, mode, axes, device, workers, method, out):
    fname = "fftconvolve" if method == "fft" else "oaconvolve"
    key = _plans.key(fname, in1, in2, mode, method, axes, device, workers)
    result = _plans.replay(key, in1, in2, out, fname)
    if result is not None:
        return deliver(result, out, (("in1", in1), ("in2", in2)), fname)
    ops, a1, a2 = arrays(in1, in2, device)
    result = _fft_family_result(fname, ops, a1, a2, mode, axes, device, workers, method, out,
                                key)
    return deliver(result, out, (("in1", a1), ("in2", a2)), fname)


def _fft_family_result(fname, ops, in1, in2, mode, axes, device, workers, method, dest,
                       key=None):
    resolve_workers(workers)
    if in1.ndim == 0:
        return _zero_d(fname, in1, in2, ops)
    if in1.size == 0 or in2.size == 0:
        return np.array([])
    if ops is HostOps and (in1.dtype.kind not in "biufc" or in2.dtype.kind not in "biufc"):
        return call_scipy(fname, lambda: getattr(scipy_signal(), fname)(in1, in2, mode=mode,
                                                                         axes=axes), in1, in2, mode)
    return _freq_conv("convolve", in1, in2, mode, axes, method, workers, ops,
                      offload=device == "auto", dest=dest, key=key)


def fftconvolve(in1, in2, mode="full", axes=None, *, device="auto", workers=None, out=None):
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
    out : ndarray, optional
        Where to write the result, as in :func:`convolve`; its dtype is the
        floating dtype this function returns (float64 for integer inputs).

    Returns
    -------
    out : ndarray
        The convolution of ``in1`` and ``in2`` along ``axes`` (``out``
        itself when given).

    Examples
    --------
    >>> import numpy as np
    >>> import numbaconv
    >>> np.round(numbaconv.fftconvolve([1.0, 2.0, 3.0], [1.0, 1.0]), 12)
    array([1., 3., 5., 3.])
    >>> y = np.empty(4)
    >>> numbaconv.fftconvolve([1, 2, 3], [1, 1], out=y) is y
    True
    """
    return _fft_family(in1, in2, mode, axes, device, workers, "fft", out)


def oaconvolve(in1, in2, mode="full", axes=None, *, device="auto", workers=None, out=None):
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
    out : ndarray, optional
        Where to write the result, as in :func:`fftconvolve`.

    Returns
    -------
    out : ndarray
        The convolution of ``in1`` and ``in2`` (``out`` itself when given).

    Examples
    --------
    >>> import numpy as np
    >>> import numbaconv
    >>> x = np.ones(1000)
    >>> y = numbaconv.oaconvolve(x, np.ones(10), mode="valid")
    >>> y.shape, bool(np.allclose(y, 10))
    ((991,), True)
    >>> z = np.zeros((991, 2))          # a strided column takes the result too
    >>> _ = numbaconv.oaconvolve(x, np.ones(10), mode="valid", out=z[:, 1])
    >>> bool(np.allclose(z[:, 1], 10)), bool(z[:, 0].any())
    (True, False)
    """
    return _fft_family(in1, in2, mode, axes, device, workers, "oa", out)


# --------------------------------------------------------------------------
# convolve2d / correlate2d
# --------------------------------------------------------------------------

def _conv2d(op, in1, in2, mode, boundary, fillvalue, device, workers, out):
    name = f"{op}2d"
    key = _plans.key2d(op, in1, in2, mode, boundary, fillvalue, device, workers)
    result = _plans.replay(key, in1, in2, out, name)
    if result is not None:
        return deliver(result, out, (("in1", in1), ("in2", in2)), name)
    ops, a1, a2 = arrays(in1, in2, device, f"{name} inputs must both be 2-D arrays", ndim=2)
    result = _conv2d_result(op, ops, a1, a2, mode, boundary, fillvalue, device, workers, out, key)
    return deliver(result, out, (("in1", a1), ("in2", a2)), name)


def _conv2d_result(op, ops, in1, in2, mode, boundary, fillvalue, device, workers, dest,
                   key=None):
    resolve_workers(workers)
    swapped = inputs_swap_needed(mode, in1.shape, in2.shape)
    check_mode(mode, "Acceptable mode flags are 'valid', 'same', or 'full'.", lookup=True)
    bnd = check_boundary(boundary)
    dtype = result_type(in1.dtype, in2.dtype)
    if ops is HostOps and (in1.size == 0 or in2.size == 0 or delegate_to_scipy(in1, in2)):
        if bnd != "fill" and _scipy_2d_crashes(mode, *((in2, in1) if swapped else (in1, in2))):
            raise ValueError(f"{op}2d cannot extend an empty in1 (shape {in1.shape}) with "
                             f"boundary={boundary!r}: there is nothing to wrap or reflect "
                             f"(scipy.signal.{op}2d kills the process with SIGFPE here); use "
                             "boundary='fill', or check for empty inputs before the call")
        return call_scipy(f"{op}2d", lambda: getattr(scipy_signal(), f"{op}2d")(
            in1, in2, mode, boundary, fillvalue), in1, in2, mode)
    if dtype.kind not in "iufc" or dtype == np.float16:
        raise ValueError(f"{op}2d not available for this type ({dtype}): {op}2d computes "
                         "integers, float32, float64 and complex; cast the inputs, e.g. "
                         "x.astype(np.float32)")
    fill = fill_value(fillvalue, dtype) if bnd == "fill" else 0
    native = in1.dtype.isnative and in2.dtype.isnative
    in1, in2 = ops.native(in1), ops.native(in2)
    if swapped:
        in1, in2 = in2, in1
    if op == "convolve":
        a, k, same_odd = in1, ops.flip(in2, (0, 1)), True
    else:
        a, k, same_odd = in1, ops.conj(in2), False
    probes = Probes(ops, a, k)
    problem = build_problem(a.shape, k.shape, mode, dtype, same_odd_centre=same_odd,
                            boundary=bnd, fillvalue=fill, device=ops.device, finite=None,
                            separable=may_be_separable(k),
                            fill_products=_fill_products(bnd == "fill", mode, probes))
    if a.size == 0 or k.size == 0:
        return ops.wrap(ops.zeros(problem.out_shape, dtype), in1)
    problem, choice = _dispatch.select(problem, "auto", workers, probes=probes,
                                       offload=device == "auto", caller=f"{op}2d")
    # the swapped correlation is flipped afterwards: it cannot be written in place
    if dest is not None and ops is HostOps and not (op == "correlate" and swapped):
        check_out(dest, problem.out_shape, dtype, (("in1", in1), ("in2", in2)), f"{op}2d")
    else:
        dest = None
    if key is not None and native and choice.device == "cpu" and ops is HostOps:
        return _plans.first_call(key, f"{op}2d", swapped, problem, choice, tuple(probes.asked),
                                 resolve_workers(workers), dtype, a, k, dest)
    out, ops = _execute(problem, choice, a, k, workers, ops, dest)
    out = ops.finalize(out, dtype, choice.method in _dispatch.FFT_METHODS)
    if op == "correlate" and swapped:
        out = ops.flip(out, (0, 1))
    return ops.wrap(out, in1)


def _scipy_2d_crashes(mode, a, k) -> bool:
    """Whether SciPy's ``convolve2d`` with 'wrap' or 'symm' divides by zero on these shapes.

    Its C loop takes each kernel row's (and column's) position modulo the
    length of ``a``: with ``a`` empty along that axis, while outputs remain
    and the kernel has rows (and columns) to place, the process dies of
    SIGFPE.  ``a`` and ``k`` are in SciPy's order, after the 'valid' swap.
    """
    out = [(n + m - 1) if mode == "full" else n if mode == "same" else n - m + 1
           for n, m in zip(a.shape, k.shape)]
    if min(out) <= 0:
        return False
    return k.shape[0] > 0 and (a.shape[0] == 0 or (a.shape[1] == 0 and k.shape[1] > 0))


def convolve2d(in1, in2, mode="full", boundary="fill", fillvalue=0, *, device="auto", workers=None,
             out=None):
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
    out : ndarray, optional
        Where to write the result (dtype ``np.result_type(in1, in2)``); see
        :func:`convolve`.

    Returns
    -------
    out : ndarray
        The 2-D convolution, of dtype ``np.result_type(in1, in2)`` (``out``
        itself when given).

    Raises
    ------
    ValueError
        For inputs that are not 2-D, unknown mode or boundary, a fill value
        that is not a scalar or cannot be cast, and bool/float16 inputs
        (which SciPy rejects too); an unfit ``out`` (see :func:`convolve`).
    TypeError
        An ``out`` that is not an array of the result's dtype.

    Examples
    --------
    >>> import numpy as np
    >>> import numbaconv
    >>> numbaconv.convolve2d(np.eye(3), np.ones((2, 2)), mode="same")
    array([[1., 1., 0.],
           [1., 2., 1.],
           [0., 1., 2.]])
    >>> frame = np.empty((3, 3))
    >>> numbaconv.convolve2d(np.eye(3), np.ones((2, 2)), mode="same", out=frame) is frame
    True
    """
    return _conv2d("convolve", in1, in2, mode, boundary, fillvalue, device, workers, out)


def correlate2d(in1, in2, mode="full", boundary="fill", fillvalue=0, *, device="auto",
                workers=None, out=None):
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
    out : ndarray, optional
        Where to write the result; see :func:`convolve2d`.

    Returns
    -------
    out : ndarray
        The 2-D cross-correlation (``out`` itself when given).

    Examples
    --------
    >>> import numpy as np
    >>> import numbaconv
    >>> numbaconv.correlate2d(np.arange(4.0).reshape(2, 2), np.ones((1, 2)))
    array([[0., 1., 1.],
           [2., 5., 3.]])
    >>> try:
    ...     numbaconv.correlate2d(np.ones((2, 2)), np.ones((1, 2)), out=np.empty((2, 3), np.float32))
    ... except TypeError as exc:
    ...     print(str(exc)[:60])
    out has dtype float32, but correlate2d returns float64 for i
    """
    return _conv2d("correlate", in1, in2, mode, boundary, fillvalue, device, workers, out)


# --------------------------------------------------------------------------
# choose_conv_method / explain
# --------------------------------------------------------------------------

def _problem_for(in1, in2, mode, device, method=None):
    """Return ``(problem, probes)`` of convolving ``in1`` with ``in2``, or ``(None, None)``.

    ``(None, None)`` where SciPy answers for these inputs (degenerate shapes,
    dtypes Numba cannot compute).  With a ``method`` (explain), the dtypes
    that ``convolve`` rejects with it are rejected alike; choose_conv_method,
    like SciPy's, answers for every dtype.
    """
    ops, in1, in2 = arrays(in1, in2, device)
    check_mode(mode, f"Acceptable mode flags are 'valid', 'same', or 'full', not mode={mode}")
    if in1.ndim == 0 or in1.size == 0 or in2.size == 0:
        return None, None
    if ops is HostOps and delegate_to_scipy(in1, in2):
        return None, None
    dtype = result_type(in1.dtype, in2.dtype)
    if ops is HostOps and method is not None:
        _check_scipy_direct_type(in1, in2, mode, method, dtype)
    if inputs_swap_needed(mode, in1.shape, in2.shape):
        in1, in2 = in2, in1
    problem = build_problem(in1.shape, in2.shape, mode, dtype, device=ops.device, finite=None,
                            separable=may_be_separable(in2))
    return problem, Probes(ops, ops.native(in1), ops.native(in2))


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
        times = {m: median_time(lambda m=m: convolve(volume, kernel, mode=mode, method=m,
                                                      device=device), repeat=3)
                 for m in ("fft", "direct")}
        return ("fft" if times["fft"] < times["direct"] else "direct"), times
    v, w = in1, in2
    if not (is_gpu_array(v) or is_gpu_array(w)):
        v, w = as_array(in1, "in1"), as_array(in2, "in2")
        degenerate = v.ndim != w.ndim or v.ndim == 0 or v.size == 0 or w.size == 0
        if not degenerate and mode == "valid":
            degenerate = not (all(i >= j for i, j in zip(v.shape, w.shape))
                              or all(j >= i for i, j in zip(v.shape, w.shape)))
        if degenerate or delegate_to_scipy(v, w):
            # degenerate input: SciPy's answer (or its error, saying what to change)
            return call_scipy("choose_conv_method",
                              lambda: scipy_signal().choose_conv_method(v, w, mode), v, w, mode)
    problem, probes = _problem_for(v, w, mode, device)
    if problem is None:
        return "direct"
    return _dispatch.select(problem, "auto", None, probes=probes,
                            offload=device == "auto")[1].scipy_method


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
    check_method(method)
    resolve_workers(workers)
    problem, probes = _problem_for(in1, in2, mode, device, method)
    if problem is None:
        # 0-d, empty, or a dtype Numba cannot compute: convolve raises for many of these
        # (SciPy's errors), and explain must say so rather than name a method
        convolve(in1, in2, mode, method, device=device, workers=workers)
        note = ("0-d inputs: their product" if np.ndim(in1) == 0 else
                "input handled by scipy.signal itself (empty, or a dtype Numba cannot compute)")
        return _dispatch.Choice("scipy", "direct", {}, [note])
    # a copy: the dispatcher memoises its choices, and what explain returns is the caller's
    return _dispatch.select(problem, method, workers, probes=probes, offload=device == "auto",
                            settle=True)[1].copy()
