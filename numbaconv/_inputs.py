"""Input preparation shared by every public function: SciPy's checks, in SciPy's words.

Each family (convolve/correlate, fftconvolve/oaconvolve, convolve2d/
correlate2d, choose_conv_method/explain) starts with :func:`arrays`: the
call's :class:`~numbaconv._arrays.ArrayOps`, both inputs as arrays of that
device, and SciPy's rank rule.  The other helpers are SciPy's rules for
modes, methods, axes, fill values, and the dtypes SciPy computes itself.

Errors keep SciPy's exception types (code that catches them keeps working
after switching the import) but say what to change: the shapes, dtypes or
values that were given and what would be accepted.  Where SciPy's own
message says neither (an empty input, a string array), :func:`call_scipy`
raises the same type with such a message; ``docs/errors.md`` lists every case.
"""
from __future__ import annotations

import collections.abc
import operator
import warnings

import numpy as np

from ._arrays import HostOps, is_gpu_array
from ._dispatch import METHODS

DEVICES = ("auto", "cpu", "cuda")


def ops_for(device, in1, in2):
    """The :class:`~numbaconv._arrays.ArrayOps` of a call, from ``device`` and the inputs' kind."""
    if device == "auto" and type(in1) is np.ndarray and type(in2) is np.ndarray:
        return HostOps      # the common case, without the attribute probes below
    if not isinstance(device, str) or device not in DEVICES:
        raise ValueError(f"device must be one of {DEVICES}, not {device!r}")
    gpu_in = is_gpu_array(in1) or is_gpu_array(in2)
    if device == "cuda" or (device == "auto" and gpu_in):
        from . import _gpu
        return _gpu.ops()
    if gpu_in:
        raise ValueError("device='cpu' was given GPU arrays; copy them to the host first")
    return HostOps


def arrays(in1, in2, device, rank_message="in1 and in2 should have the same dimensionality",
           ndim=None):
    """``(ops, in1, in2)``: the call's array operations and both inputs as its arrays.

    Raises SciPy's ``ValueError`` (``rank_message``, followed by the shapes
    given and what to do) when the ranks differ, or when ``ndim`` is given
    and either input has another rank.
    """
    ops = ops_for(device, in1, in2)
    a1, a2 = as_array(in1, "in1", ops), as_array(in2, "in2", ops)
    if (a1.ndim != a2.ndim) if ndim is None else not (a1.ndim == a2.ndim == ndim):
        if ndim is None:
            fix = ("give both the same number of dimensions (np.atleast_2d, np.expand_dims "
                   "or x[np.newaxis])")
        else:
            fix = (f"reshape both to {ndim}-D (np.atleast_2d), or use convolve/correlate "
                   "for inputs of any other rank")
        raise ValueError(f"{rank_message}: in1 {what(in1, a1)}, in2 {what(in2, a2)}; "
                         f"{non_array_fix(in1, in2) or fix}")
    return ops, a1, a2


def as_array(x, name, ops=HostOps):
    """``ops.asarray(x)``; NumPy's error for a ragged sequence is raised again saying what to do."""
    try:
        return ops.asarray(x)
    except ValueError as exc:
        if "inhomogeneous" not in str(exc):
            raise
        raise ValueError(f"{name} is a ragged sequence (rows of different lengths), which "
                         f"NumPy cannot make an array of ({exc}); give rows of equal length, "
                         "e.g. pad the short ones") from None


def not_numbers(x) -> str | None:
    """Name what ``x`` is when NumPy can only wrap it in a 0-d object array (else None)."""
    if x is None:
        return "None"
    if isinstance(x, (set, frozenset, dict)) or (
            isinstance(x, collections.abc.Iterator) and not hasattr(x, "shape")):
        return f"a {type(x).__name__}"
    return None


def what(x, arr) -> str:
    """``x`` described for a message: its shape, or what it is if it is not numbers."""
    name = not_numbers(x)
    return f"is {name}" if name else f"has shape {tuple(arr.shape)}"


def non_array_fix(in1, in2) -> str | None:
    """Return the advice for inputs that are not numbers (None, generators, sets), or None."""
    names = [n for n in (not_numbers(in1), not_numbers(in2)) if n]
    if not names:
        return None
    return ("pass arrays or sequences of numbers (a generator or iterator: list(it) or "
            "np.fromiter(it, float); a set: sorted(s))")


def raise_zero_d_error(exc, fname, in1, in2):
    """Re-raise the error of multiplying two 0-d inputs (SciPy's type) saying what they were."""
    def item(x):   # what NumPy wrapped in a 0-d object array
        return x.item() if isinstance(x, np.ndarray) and x.dtype.kind == "O" and x.ndim == 0 else x
    in1, in2 = item(in1), item(in2)
    described = ", ".join(f"{name} is {not_numbers(x) or repr(x)[:40]}"
                          for name, x in (("in1", in1), ("in2", in2)))
    raise_as(exc, f"{fname} needs numbers or arrays of numbers, and {described}; "
                  f"{non_array_fix(in1, in2) or 'convert them to numbers first'}")


def check_method(method):
    """SciPy's error for an unknown ``method`` (with numbaconv's extra ones named)."""
    if not isinstance(method, str) or method not in METHODS:
        raise ValueError("Acceptable method flags are 'auto', 'direct', 'fft', 'oa' "
                         f"or 'separable', not method={method!r}")


def scipy_signal():
    """:mod:`scipy.signal`, imported when a call is handed to it."""
    import scipy.signal
    return scipy.signal


def delegate_to_scipy(in1, in2) -> bool:
    """Dtypes Numba cannot compute (object, long double, strings): SciPy runs them."""
    return not (numba_dtype(in1.dtype) and numba_dtype(in2.dtype))


def numba_dtype(dt) -> bool:
    """Whether Numba can compute in ``dt`` (any byte order): not object, string, long double."""
    return dt.kind in "biu" or (dt.kind == "f" and dt.itemsize <= 8) or (
        dt.kind == "c" and dt.itemsize <= 16)


#: dtype kinds that hold no numbers: what they are, and how to make numbers of them
NOT_NUMERIC = {
    "U": ("strings", "x.astype(np.float64) if they spell numbers"),
    "S": ("bytes", "x.astype(np.float64) if they spell numbers"),
    "V": ("a structured or void dtype", "one numeric field, x['name']"),
    "M": ("datetimes", "(x - x[0]) / np.timedelta64(1, 's') for seconds"),
    "m": ("timedeltas", "x / np.timedelta64(1, 's') for seconds"),
    "O": ("Python objects, which scipy.signal computes only in some paths",
          "x.astype(np.float64) or x.astype(np.complex128)"),
}


def dtype_message(fname, in1, in2) -> str | None:
    """Why ``fname`` cannot compute these inputs' dtypes, and what to do, or None."""
    for name, x in (("in1", in1), ("in2", in2)):
        kind = x.dtype.kind
        if kind in NOT_NUMERIC:
            words, fix = NOT_NUMERIC[kind]
            return (f"{fname} cannot compute {name} of dtype {x.dtype} ({words}): convert it "
                    f"to a numeric dtype first, e.g. {fix}")
    return None


def empty_message(fname, in1, in2, mode, method=None) -> str:
    """Say what to do when SciPy has no answer for an empty input in this mode."""
    which = " and ".join(f"{name} (shape {tuple(x.shape)})"
                         for name, x in (("in1", in1), ("in2", in2)) if x.size == 0)
    how = f"mode={mode!r}" + ("" if method is None else f", method={method!r}")
    return (f"{fname} has no result for an empty {which} with {how} (scipy.signal raises "
            "here too); check for empty inputs before the call (numbaconv.fftconvolve "
            "returns an empty array for them)")


def raise_as(exc, message):
    """Raise ``message`` as an exception of ``exc``'s type (SciPy's), from inside its handler.

    Types that cannot be made from a message alone (NumPy's
    ``UFuncTypeError``) keep their own text, with ``message`` added as a
    note (shown under it in the traceback).
    """
    try:
        new = type(exc)(message)
        ok = str(new) == message
    except Exception:  # noqa: BLE001 -- a type with another constructor: keep the original
        ok = False
    if ok:
        raise new from None
    exc.add_note(message)
    raise exc


def call_scipy(fname, call, in1, in2, mode=None, method=None):
    """``call()``, a :mod:`scipy.signal` function on these inputs, with its errors made clear.

    SciPy raises for dtypes it cannot compute and for many empty inputs,
    often in words that name neither the input nor the fix ("Unsupported
    type", "index 0 is out of bounds"): those are raised again, of the same
    type, saying which input and what to do.
    """
    try:
        return call()
    except Exception as exc:  # noqa: BLE001 -- re-raised below, of the same type
        message = dtype_message(fname, in1, in2)
        if message is None and in1.ndim != in2.ndim:
            message = (f"in1 and in2 should have the same dimensionality: in1 has shape "
                       f"{in1.shape}, in2 has shape {in2.shape}; give both the same number "
                       "of dimensions (np.atleast_2d, np.expand_dims or x[np.newaxis])")
        if message is None and (in1.size == 0 or in2.size == 0):
            message = empty_message(fname, in1, in2, mode, method)
        if message is None:
            raise
        raise_as(exc, message)


def np_convolve_path(in1, in2, mode) -> bool:
    """Whether SciPy's direct method hands these inputs to ``np.convolve``/``np.correlate``.

    Those leave the products outside the signal out; SciPy's N-D direct
    path (and ``convolve2d``) multiplies the zero fill, which a non-finite
    kernel tap shows (``0 * nan``): see :mod:`numbaconv._api`.
    """
    if in1.ndim == in2.ndim == 1:
        return mode in ("full", "valid") or in1.size >= in2.size
    return False


def scipy_direct_unsupported(in1, in2, mode) -> bool:
    """SciPy's N-D direct path rejects bool, float16 and object ('Unsupported type').

    Only 1-D inputs that take ``np.convolve`` escape it; we raise alike so
    that code behaves the same after switching the import.
    """
    dt = np.result_type(in1, in2)
    if dt.kind != "b" and dt != np.float16:
        return False
    return not np_convolve_path(in1, in2, mode)


def normalise_axes(in1, in2, axes, keep_length_one=False):
    """SciPy's axes rules (``_init_freq_conv_axes``), returning a sorted list."""
    ndim = in1.ndim
    noaxes = axes is None
    if noaxes:
        axes = list(range(ndim))
    else:
        given = axes
        try:
            axes = [operator.index(axes)] if np.ndim(axes) == 0 else [operator.index(a) for a in axes]
        except TypeError:
            raise ValueError(f"axes must be a scalar or iterable of integers, not {given!r}") from None
        if any(a >= ndim or a < -ndim for a in axes):
            raise ValueError(f"axes exceeds dimensionality of input: axes={given!r} for "
                             f"{ndim}-D inputs; give axes in {-ndim}..{ndim - 1}")
        axes = [a % ndim for a in axes]
        if len(set(axes)) != len(axes):
            raise ValueError(f"all axes must be unique, and axes={given!r} names an axis twice "
                             f"(for {ndim}-D inputs, -1 is axis {ndim - 1})")
        if not axes:
            raise ValueError("when provided, axes cannot be empty; give axes=None for all axes")
    s1, s2 = in1.shape, in2.shape
    if keep_length_one:
        return sorted(axes)
    axes = sorted(a for a in axes if s1[a] != 1 and s2[a] != 1)
    if not all(s1[a] == s2[a] or s1[a] == 1 or s2[a] == 1
               for a in range(ndim) if a not in axes):
        raise ValueError(f"incompatible shapes for in1 and in2: {s1} and {s2}; along the axes "
                         "not convolved the lengths must be equal or 1 (add those axes to "
                         "axes, or broadcast the inputs first)")
    return axes


_CAST_MSG = ("could not cast `fillvalue` directly to the output type "
             "(it was first converted to complex).")


def fill_value(fillvalue, dtype):
    """SciPy's rules for ``fillvalue``: one number of the output ``dtype``; None is NaN.

    SciPy asks NumPy for an array of ``dtype``: NumPy arrays must cast
    safely, NumPy scalars cast as ``astype`` does (wrapping, dropping an
    imaginary part), Python values by value; what fails that but converts
    to complex is a ``ValueError``, what does not convert at all a
    ``TypeError`` (or, for a malformed string, a ``ValueError``).  Each
    error names the value and what would be accepted.

    Returns a Python number; for integer dtypes one in int64's range, equal
    to the value modulo 2**64 (integers are computed in int64, so a uint64
    fill past int64's range is its bit pattern there).
    """
    if type(fillvalue) is int and fillvalue == 0:   # the default: zero in every dtype
        return 0
    if isinstance(fillvalue, np.ndarray):
        if not np.can_cast(fillvalue.dtype, np.complex128):
            raise TypeError(f"`fillvalue` must be a number, not an array of dtype {fillvalue.dtype}")
    else:
        try:
            np.asarray(fillvalue, dtype=np.complex128)
        except TypeError:
            raise TypeError(f"`fillvalue` must be a number, not {type(fillvalue).__name__}") from None
        except ValueError:       # a malformed string, or a sequence holding one
            raise ValueError(f"`fillvalue` must be one number, not {fillvalue!r}") from None
    arr = np.asarray(fillvalue)
    if arr.size != 1:
        if arr.size == 0:
            raise ValueError("`fillvalue` cannot be an empty array; give one number")
        raise ValueError("`fillvalue` must be scalar or an array with one element, not an "
                         f"array of shape {arr.shape}")
    cast_error = (f"{_CAST_MSG[:-1]}: the output dtype {dtype} (np.result_type(in1, in2)) "
                  f"cannot hold fillvalue={fillvalue!r}; give a fill value of that type, or "
                  "cast the inputs (e.g. to float64 or complex128)")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if isinstance(fillvalue, np.ndarray):
                if not np.can_cast(arr.dtype, dtype):
                    raise ValueError(cast_error)
                value = arr.reshape(()).astype(dtype)
            elif isinstance(fillvalue, np.generic):
                value = arr.reshape(()).astype(dtype)
            else:
                value = np.array(arr.reshape(()).item(), dtype=dtype)
    except (TypeError, ValueError, OverflowError):
        raise ValueError(cast_error) from None
    if dtype.kind in "iu":
        return int(value.astype(np.int64))
    return value.item() if dtype.kind != "c" else complex(value)


# --------------------------------------------------------------------------
# out=: the caller's destination, checked as NumPy checks a ufunc's out=
# --------------------------------------------------------------------------

#: up to this many bytes (both arrays together) overlap is tested exactly
#: (``np.shares_memory``); larger arrays whose bounds overlap are rejected
#: without the exact test, whose cost grows with the arrays' strides
EXACT_OVERLAP_BYTES = 1 << 22


def overlaps(out, x) -> bool:
    """Whether ``out`` may share memory with the input ``x`` (see :data:`EXACT_OVERLAP_BYTES`)."""
    if not isinstance(x, np.ndarray) or not np.may_share_memory(out, x):
        return False
    return out.nbytes + x.nbytes > EXACT_OVERLAP_BYTES or bool(np.shares_memory(out, x))


def _needed(shape, dtype) -> str:
    return f"np.empty({tuple(shape)}, np.{np.dtype(dtype).name})"


def check_out(out, shape, dtype, inputs, fname):
    """Check the caller's ``out`` for a host result of ``shape`` and ``dtype``; return it.

    NumPy's rules for a ufunc's ``out=``, in its exception types: an
    ndarray (``TypeError``) of exactly that shape (``ValueError``) and dtype
    (``TypeError``), writeable (``ValueError``).  An ``out`` that shares
    memory with an input (``inputs``: ``(name, array)`` pairs) is a
    ``ValueError``: the result is written while the inputs are read.
    """
    # the common case first, in a few attribute reads (a memoised call's whole replay
    # costs microseconds): the checks below only raise, or look at an overlap exactly
    if (type(out) is np.ndarray and out.shape == shape and out.dtype == dtype
            and out.flags.writeable):
        for _, x in inputs:
            if isinstance(x, np.ndarray) and np.may_share_memory(out, x):
                break
        else:
            return out
    if not isinstance(out, np.ndarray):
        where = ("a GPU array, but this call returns a NumPy array (its inputs are on the "
                 "host)" if is_gpu_array(out) else f"a {type(out).__name__}")
        raise TypeError(f"out must be a NumPy array, and it is {where}; pass "
                        f"{_needed(shape, dtype)}, or out=None for a new array")
    if out.shape != tuple(shape):
        raise ValueError(f"out has shape {out.shape}, but {fname} gives shape {tuple(shape)} "
                         f"here; pass an array of that shape, e.g. {_needed(shape, dtype)}")
    if out.dtype != dtype:
        given = " and ".join(f"{name} {getattr(x, 'dtype', type(x).__name__)}"
                             for name, x in inputs if x is not None)
        raise TypeError(f"out has dtype {out.dtype}, but {fname} returns {np.dtype(dtype)} "
                        f"for {given}; pass an array of dtype {np.dtype(dtype)}, e.g. "
                        f"{_needed(shape, dtype)} (out is never cast)")
    if not out.flags.writeable:
        raise ValueError("out is read-only; pass a writeable array (out.flags.writeable)")
    for name, x in inputs:
        if overlaps(out, x):
            raise ValueError(f"out shares memory with {name}, which is read while out is "
                             f"written; pass a separate array, e.g. {_needed(shape, dtype)}")
    return out


def deliver(result, out, inputs, fname):
    """Write ``result`` into the caller's ``out`` (checked) and return ``out``.

    ``out=None`` returns ``result``; so does a backend that wrote into
    ``out`` itself (``result is out``).  A host ``result`` goes into any
    checked ndarray, strided views included; a GPU result into a
    C-contiguous GPU array of the same kind, shape and dtype.
    """
    if out is None or result is out:
        return result
    if not is_gpu_array(result):
        result = np.asarray(result)      # two 0-d inputs give a NumPy scalar
        check_out(out, result.shape, result.dtype, inputs, fname)
        out[...] = result
        return out
    return _deliver_gpu(result, out, fname)


def _deliver_gpu(result, out, fname):
    from . import _gpu
    if type(out) is not type(result):
        raise TypeError(f"out is of type {type(out).__name__}, but {fname} returns type "
                        f"{type(result).__name__} here (the kind of array its GPU inputs "
                        "are); pass an array of that kind, or out=None")
    src, dst = _gpu.as_device(result), _gpu.as_device(out)
    if tuple(dst.shape) != tuple(src.shape):
        raise ValueError(f"out has shape {tuple(dst.shape)}, but {fname} gives shape "
                         f"{tuple(src.shape)} here; pass an array of that shape")
    if dst.dtype != src.dtype:
        raise TypeError(f"out has dtype {dst.dtype}, but {fname} returns {src.dtype} here; "
                        f"pass an array of dtype {src.dtype} (out is never cast)")
    if not dst.is_c_contiguous():
        raise ValueError("a GPU out must be C-contiguous (numbaconv copies the result into "
                         "it in one piece); pass a contiguous array")
    if src.size:
        dst.copy_to_device(_gpu.contiguous(src))
    return out
