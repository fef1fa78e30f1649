"""Convolutional-layer functions with ``torch.nn.functional``'s semantics, on NumPy arrays.

Each function checks its arguments as torch does, pads the input
(``np.pad`` for the padding modes), describes the call as an array-free
:class:`~numbaconv._problem.LayerProblem` and lets the dispatcher choose a
layer backend by cost, as for SciPy's functions: a direct Numba kernel,
BLAS on im2col columns, a depthwise kernel, or FFT for large kernels.
Bias and the dtype of the result are applied here.  :func:`explain` says
what a call would run.
"""
from __future__ import annotations

import dataclasses
import operator

import numpy as np

from .. import _dispatch, _plans
from .._arrays import HostOps, is_gpu_array
from .._inputs import check_out, deliver
from .._kernels import columns
from .._kernels.padding import NP_PAD_MODES, pad as pad_input
from .._probes import Probes
from .._problem import LayerProblem

__all__ = ["conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d",
           "conv1d_input", "conv1d_weight", "conv2d_input", "conv2d_weight", "explain"]

#: the ``method`` values of the layer functions: 'auto' or a backend family
METHODS = ("auto", "direct", "gemm", "fft")

#: torch's padding_mode names and the np.pad mode each one is
PADDING_MODES = NP_PAD_MODES

_FLOATS = (np.float16, np.float32, np.float64)


# ---------------------------------------------------------------- checks

def _as_float(a, what):
    """Return ``a`` as an array of float16/32/64, else raise TypeError (as torch does on CPU)."""
    if not is_gpu_array(a):
        a = np.asarray(a)
    if _dtype(a).type not in _FLOATS:
        raise TypeError(f"{what} has dtype {a.dtype}; convolution layers compute in float16, "
                        f"float32 or float64: convert it, e.g. {what}.astype(np.float32)")
    return a


def _dtype(a) -> np.dtype:
    """NumPy's dtype of a NumPy or GPU array (PyTorch names its dtypes ``torch.float32``)."""
    dt = a.dtype
    if type(dt).__module__ == "torch":
        try:
            return np.dtype(str(dt).removeprefix("torch."))
        except TypeError:           # bfloat16 and the other types NumPy lacks
            return np.dtype(object)
    return np.dtype(dt)


def _compute_dtype(dtype):
    """float16 is computed in float32 (as Numba would), the others in themselves."""
    return np.dtype(np.float32) if dtype == np.float16 else np.dtype(dtype)


def _ints(value, n, name, *, minimum):
    """Expand an int or a sequence of 1 or ``n`` ints to an ``n``-tuple, each at least ``minimum``."""
    seq = value if isinstance(value, (tuple, list)) else (value,)
    if len(seq) not in (1, n):
        raise ValueError(f"{name} must be an int or a sequence of {n} ints, got {value!r}")
    out = []
    for v in seq:
        if isinstance(v, (bool, np.bool_)):
            raise TypeError(f"{name} must be made of ints, got {value!r}")
        try:
            out.append(operator.index(v))
        except TypeError:
            raise TypeError(f"{name} must be made of ints, got {value!r}") from None
    if len(out) == 1:
        out = out * n
    if any(v < minimum for v in out):
        word = "positive" if minimum == 1 else "non-negative"
        raise ValueError(f"{name} must be {word}, got {value!r}")
    return tuple(out)


def _groups(groups):
    if isinstance(groups, (bool, np.bool_)):
        raise TypeError(f"groups must be an int, got {groups!r}")
    try:
        groups = operator.index(groups)
    except TypeError:
        raise TypeError(f"groups must be an int, got {groups!r}") from None
    if groups < 1:
        raise ValueError(f"groups must be positive, got {groups}")
    return groups


def _batched(x, n, name):
    """``(x with a batch axis, whether one was added)``; NC+spatial or C+spatial only."""
    if x.ndim == n + 2:
        return x, False
    if x.ndim == n + 1:
        if is_gpu_array(x):         # Numba's device arrays take no None index
            from . import _cuda
            return _cuda.batched(x), True
        return x[None], True
    raise ValueError(f"{name} expects a {n + 1}-D (unbatched) or {n + 2}-D (batched) input, "
                     f"got shape {x.shape}")


def _check_weight(w, n, name):
    if w.ndim != n + 2:
        raise ValueError(f"{name} expects a {n + 2}-D weight (out_channels, in_channels/groups, "
                         f"{n} kernel sizes), got shape {w.shape}")
    if any(s == 0 for s in w.shape):
        raise ValueError(f"weight has an empty axis: shape {w.shape}")


def _check_bias(bias, channels):
    """Check ``bias`` as torch does (a float vector, one value per output channel)."""
    if bias is None:
        return
    _as_float(bias, "bias")
    shape = tuple(bias.shape) if is_gpu_array(bias) else np.shape(bias)
    if shape != (channels,):
        raise ValueError(f"bias must have shape ({channels},), one value per output channel, "
                         f"got {shape}")


def _host_bias(bias, dtype):
    """A checked host ``bias`` in the compute dtype, or None."""
    return None if bias is None else np.asarray(bias).astype(dtype, copy=False)


def _padding_pairs(padding, n, kernel, dilation, stride):
    """Return ``padding`` as ``n`` (left, right) pairs; 'same' puts the odd element on the right."""
    if isinstance(padding, str):
        if padding == "valid":
            return ((0, 0),) * n
        if padding == "same":
            if any(s != 1 for s in stride):
                raise ValueError("padding='same' is not supported for strided convolutions: "
                                 "use stride=1 or give the padding as numbers")
            total = [d * (k - 1) for d, k in zip(dilation, kernel)]
            return tuple((t // 2, t - t // 2) for t in total)
        raise ValueError(f"padding must be an int, a tuple, 'valid' or 'same', got {padding!r}")
    return tuple((p, p) for p in _ints(padding, n, "padding", minimum=0))


def _check_padding(size, pairs, padding_mode):
    """Check the padding of spatial ``size`` as torch does for each mode."""
    if padding_mode not in PADDING_MODES:
        raise ValueError(f"padding_mode must be one of {sorted(PADDING_MODES)}, "
                         f"got {padding_mode!r}")
    if padding_mode == "reflect":
        for axis, ((lo, r), s) in enumerate(zip(pairs, size)):
            if max(lo, r) >= s:
                raise ValueError(f"reflect padding must be smaller than the input: padding "
                                 f"{max(lo, r)} on spatial axis {axis} of size {s}; pad less "
                                 f"or use padding_mode='replicate'")
    if padding_mode == "circular":
        for axis, ((lo, r), s) in enumerate(zip(pairs, size)):
            if max(lo, r) > s:
                raise ValueError(f"circular padding may wrap around at most once: padding "
                                 f"{max(lo, r)} on spatial axis {axis} of size {s}")


# ---------------------------------------------------------------- calls

def _on_gpu(*arrays) -> bool:
    """Whether any of the arrays lives on a CUDA device: the call then runs on the GPU."""
    return any(a is not None and is_gpu_array(a) for a in arrays)


def _check_method(method):
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    return method


@dataclasses.dataclass
class _Call:
    """One checked call: its problem, the arrays its backend receives, and how to finish."""

    problem: LayerProblem
    x: object                   # the batched input in the compute dtype (unpadded)
    w: object
    bias: object                # (C_out,) in the compute dtype, or None
    dtype: np.dtype             # of the result
    unbatched: bool
    method: str
    name: str = "the layer"     # the public function, for messages

    def choose(self):
        """``(problem, choice)``: the dispatcher's backend for this call."""
        return _dispatch.select(self.problem, self.method,
                                probes=Probes(HostOps, self.x, self.w))

    def run(self, out=None):
        """Run the chosen backend, add the bias, give the result the input's dtype.

        ``out`` (the caller's) is checked first; a backend that writes in
        place gets its batched view, the others' result is copied into it.
        """
        problem, choice = self.choose()
        inputs = (("input", self.x), ("weight", self.w), ("bias", self.bias))
        shape = (problem.batch, problem.out_channels) + tuple(problem.out_shape)
        dest = None
        if out is not None:
            check_out(out, shape[1:] if self.unbatched else shape, self.dtype, inputs, self.name)
            if _plans.writes_out(choice.module):
                dest = out[None] if self.unbatched else out
        extra = {} if dest is None else {"out": dest}
        fused = self.bias is not None and _plans.adds_bias(choice.module)
        if fused:                   # added as the result leaves the kernel's registers
            extra["bias"] = self.bias
        res = choice.module.run(problem, self.x, self.w, **extra)
        if self.bias is not None and not fused:
            res += self.bias.reshape((1, -1) + (1,) * problem.ndim)
        if res is dest:
            return out
        res = res.astype(self.dtype, copy=False)
        return deliver(res[0] if self.unbatched else res, out, inputs, self.name)


# ---------------------------------------------------------------- forward

#: forward calls checked before, by what the checks read (see :func:`_checked_key`): their
#: problem, whether the input was unbatched, its dtype and the compute dtype
_CHECKED: dict = {}
#: entries :data:`_CHECKED` keeps (it is emptied when full)
CHECKED_MAX = 256


def _plain(value) -> bool:
    """An int, a string or a tuple of ints: values whose equality means the same checks
    (``True == 1``, but a bool stride is an error)."""
    return type(value) in (int, str) or (type(value) is tuple
                                          and all(type(v) is int for v in value))


def _checked_key(n, name, input, weight, bias, stride, padding, dilation, groups,
                 padding_mode, method):
    """The key of a forward call on NumPy arrays with plain arguments, or None.

    Every check of :func:`_conv` reads only shapes, dtypes and these arguments,
    so a call with the same key passes the same checks; a call that failed one
    is never stored.
    """
    if not (type(input) is np.ndarray and type(weight) is np.ndarray
            and (bias is None or type(bias) is np.ndarray)
            and _plain(stride) and _plain(padding) and _plain(dilation)
            and type(groups) is int and type(padding_mode) is str and type(method) is str):
        return None
    return (n, name, input.shape, input.dtype, weight.shape, weight.dtype,
            None if bias is None else (bias.shape, bias.dtype), stride, padding, dilation,
            groups, padding_mode, method)


def _conv(n, name, input, weight, bias, stride, padding, dilation, groups, padding_mode,
          method):
    """Check a forward call as torch does; return it as a :class:`_Call`.

    A call on NumPy arrays whose shapes, dtypes and arguments were checked before
    reuses that problem (:data:`_CHECKED`): the checks took 12 us of a 28 us call.
    """
    key = _checked_key(n, name, input, weight, bias, stride, padding, dilation, groups,
                       padding_mode, method)
    hit = None if key is None else _CHECKED.get(key)
    if hit is not None:
        problem, unbatched, dtype, work = hit
        x = input[None] if unbatched else input
        return _Call(problem, x.astype(work, copy=False), weight.astype(work, copy=False),
                     _host_bias(bias, work), dtype, unbatched, method, name)
    x = _as_float(input, "input")
    w = _as_float(weight, "weight")
    _check_method(method)
    x, unbatched = _batched(x, n, name)
    _check_weight(w, n, name)
    stride = _ints(stride, n, "stride", minimum=1)
    dilation = _ints(dilation, n, "dilation", minimum=1)
    groups = _groups(groups)
    kernel = w.shape[2:]
    channels, out_ch = x.shape[1], w.shape[0]
    if channels % groups:
        raise ValueError(f"input channels ({channels}) must be divisible by groups ({groups})")
    if out_ch % groups:
        raise ValueError(f"out_channels ({out_ch}, weight.shape[0]) must be divisible by "
                         f"groups ({groups})")
    if w.shape[1] * groups != channels:
        raise ValueError(f"weight of shape {w.shape} expects {w.shape[1] * groups} input "
                         f"channels (weight.shape[1] * groups), the input has {channels}")
    pairs = _padding_pairs(padding, n, kernel, dilation, stride)
    padded = tuple(s + lo + r for s, (lo, r) in zip(x.shape[2:], pairs))
    for axis, (p, k, d) in enumerate(zip(padded, kernel, dilation)):
        if d * (k - 1) + 1 > p:
            raise ValueError(f"kernel size {k} (dilated to {d * (k - 1) + 1}) is larger than "
                             f"the padded input ({p}) on spatial axis {axis}: pad more or use "
                             f"a smaller kernel or dilation")
    dtype = _dtype(x)
    work = _compute_dtype(dtype)
    out_shape = tuple((p - d * (k - 1) - 1) // s + 1
                      for p, d, k, s in zip(padded, dilation, kernel, stride))
    problem = LayerProblem(x.shape[0], channels, out_ch, groups, padded, tuple(kernel), stride,
                           dilation, out_shape, work, pad=pairs, padding_mode=padding_mode)
    _check_bias(bias, out_ch)
    _check_padding(x.shape[2:], pairs, padding_mode)
    if _on_gpu(x, w, bias):
        from . import _cuda
        return _cuda.call(problem, x, w, bias, dtype, unbatched, method)
    b = _host_bias(bias, work)
    if key is not None:
        if len(_CHECKED) >= CHECKED_MAX:
            _CHECKED.clear()
        _CHECKED[key] = (problem, unbatched, dtype, work)
    return _Call(problem, x.astype(work, copy=False), w.astype(work, copy=False), b, dtype,
                 unbatched, method, name)


def conv1d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1, *,
           padding_mode="zeros", method="auto", out=None):
    """1-D convolution (cross-correlation) over an ``(N, C_in, L)`` input, like torch's.

    Parameters
    ----------
    input : array_like
        ``(N, C_in, L)``, or ``(C_in, L)`` unbatched; float16, float32 or float64.
    weight : array_like
        ``(C_out, C_in / groups, k)``.
    bias : array_like, optional
        ``(C_out,)``.
    stride, dilation : int or tuple of int, optional
        Positive.
    padding : int, tuple of int, 'valid' or 'same', optional
        Zeros (or ``padding_mode``) added on both sides; ``'same'`` pads
        ``dilation * (k - 1)`` in all, the odd element on the right, and needs
        stride 1.
    groups : int, optional
        Split the channels into ``groups`` independent convolutions.
    padding_mode : {'zeros', 'reflect', 'replicate', 'circular'}, optional
        How the padding is filled (torch has it on its modules only).
    method : {'auto', 'direct', 'gemm', 'fft'}, optional
        The backend family; ``'auto'`` lets the cost model choose (see
        :func:`explain`).
    out : ndarray, optional
        Where to write the result: exactly its shape and dtype (the
        input's), writeable, sharing no memory with the inputs; a strided
        view is fine.  ``out`` itself is returned.  The direct and depthwise
        kernels write a C-contiguous ``out`` themselves (no new array).
        torch's functional convolutions have no ``out=``: NumPy's ufunc
        rules apply (a wrong shape is a ``ValueError``, a wrong dtype a
        ``TypeError``; nothing is resized or cast).

    Returns
    -------
    ndarray
        ``(N, C_out, L_out)`` with ``L_out = (L + 2p - d(k - 1) - 1) // s + 1``,
        in the input's dtype (float16 is computed in float32).

    Raises
    ------
    TypeError
        A non-floating input or weight, or non-integer parameters.
    ValueError
        Where torch raises: bad ranks, non-positive stride or dilation,
        negative padding, channels that do not match the weight or do not
        divide by ``groups``, ``'same'`` with a stride, a kernel larger than
        the padded input, reflect padding not smaller than the input.

    Examples
    --------
    >>> import numpy as np
    >>> from numbaconv.nn import conv1d
    >>> x = np.arange(5.0).reshape(1, 1, 5)
    >>> conv1d(x, np.array([[[1.0, 0.0, -1.0]]]))
    array([[[-2., -2., -2.]]])
    >>> conv1d(x, np.ones((1, 1, 2)), padding="same")
    array([[[1., 3., 5., 7., 4.]]])
    >>> y = np.empty((1, 1, 3))
    >>> conv1d(x, np.array([[[1.0, 0.0, -1.0]]]), out=y) is y
    True
    """
    return _conv(1, "conv1d", input, weight, bias, stride, padding, dilation, groups,
                 padding_mode, method).run(out)


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1, *,
           padding_mode="zeros", method="auto", out=None):
    """2-D convolution (cross-correlation) over an ``(N, C_in, H, W)`` input, like torch's.

    Parameters
    ----------
    input : array_like
        ``(N, C_in, H, W)``, or ``(C_in, H, W)`` unbatched; float16, float32 or float64.
    weight : array_like
        ``(C_out, C_in / groups, kH, kW)``.
    bias : array_like, optional
        ``(C_out,)``.
    stride, dilation : int or tuple of int, optional
        Positive; one value or one per spatial axis.
    padding : int, tuple of int, 'valid' or 'same', optional
        As in :func:`conv1d`, per spatial axis.
    groups : int, optional
        Split the channels into ``groups`` independent convolutions.
    padding_mode : {'zeros', 'reflect', 'replicate', 'circular'}, optional
        How the padding is filled.
    method : {'auto', 'direct', 'gemm', 'fft'}, optional
        As in :func:`conv1d`.
    out : ndarray, optional
        Where to write the result, as in :func:`conv1d`.

    Returns
    -------
    ndarray
        ``(N, C_out, H_out, W_out)`` in the input's dtype.

    Raises
    ------
    TypeError
        A non-floating input or weight, or non-integer parameters.
    ValueError
        Where torch raises (see :func:`conv1d`).

    Examples
    --------
    >>> import numpy as np
    >>> from numbaconv.nn import conv2d
    >>> x = np.arange(16.0).reshape(1, 1, 4, 4)
    >>> conv2d(x, np.ones((1, 1, 2, 2)), stride=2)
    array([[[[10., 18.],
             [42., 50.]]]])
    >>> conv2d(x, np.ones((3, 1, 3, 3)), padding=1).shape
    (1, 3, 4, 4)
    """
    return _conv(2, "conv2d", input, weight, bias, stride, padding, dilation, groups,
                 padding_mode, method).run(out)


def conv3d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1, *,
           padding_mode="zeros", method="auto", out=None):
    """3-D convolution (cross-correlation) over an ``(N, C_in, D, H, W)`` input, like torch's.

    Parameters
    ----------
    input : array_like
        ``(N, C_in, D, H, W)``, or ``(C_in, D, H, W)`` unbatched.
    weight : array_like
        ``(C_out, C_in / groups, kD, kH, kW)``.
    bias : array_like, optional
        ``(C_out,)``.
    stride, padding, dilation, groups, padding_mode, method
        As in :func:`conv2d`, per spatial axis.
    out : ndarray, optional
        Where to write the result, as in :func:`conv1d`.

    Returns
    -------
    ndarray
        ``(N, C_out, D_out, H_out, W_out)`` in the input's dtype.

    Raises
    ------
    TypeError
        A non-floating input or weight, or non-integer parameters.
    ValueError
        Where torch raises (see :func:`conv1d`).

    Examples
    --------
    >>> import numpy as np
    >>> from numbaconv.nn import conv3d
    >>> x = np.ones((2, 4, 4, 4))          # unbatched: (C, D, H, W)
    >>> conv3d(x, np.ones((1, 2, 3, 3, 3)), padding="valid")
    array([[[[54., 54.],
             [54., 54.]],
    <BLANKLINE>
            [[54., 54.],
             [54., 54.]]]])
    """
    return _conv(3, "conv3d", input, weight, bias, stride, padding, dilation, groups,
                 padding_mode, method).run(out)


# ---------------------------------------------------------------- transposed

def _conv_transpose(n, name, input, weight, bias, stride, padding, output_padding, groups,
                    dilation, method):
    """Check a transposed call as torch does; return it as a :class:`_Call`."""
    x = _as_float(input, "input")
    w = _as_float(weight, "weight")
    _check_method(method)
    x, unbatched = _batched(x, n, name)
    if w.ndim != n + 2:
        raise ValueError(f"{name} expects a {n + 2}-D weight (in_channels, "
                         f"out_channels/groups, {n} kernel sizes), got shape {w.shape}")
    if any(s == 0 for s in w.shape):
        raise ValueError(f"weight has an empty axis: shape {w.shape}")
    stride = _ints(stride, n, "stride", minimum=1)
    dilation = _ints(dilation, n, "dilation", minimum=1)
    if isinstance(padding, str):
        raise ValueError(f"{name} takes padding as an int or a tuple of ints, got {padding!r}")
    padding = _ints(padding, n, "padding", minimum=0)
    output_padding = _ints(output_padding, n, "output_padding", minimum=0)
    groups = _groups(groups)
    channels = x.shape[1]
    if channels % groups:
        raise ValueError(f"input channels ({channels}) must be divisible by groups ({groups})")
    if w.shape[0] != channels:
        raise ValueError(f"weight of shape {w.shape} expects {w.shape[0]} input channels "
                         f"(weight.shape[0]), the input has {channels}")
    for op, s, d in zip(output_padding, stride, dilation):
        if op >= max(s, d):
            raise ValueError(f"output_padding ({op}) must be smaller than either stride ({s}) "
                             f"or dilation ({d})")
    kernel = w.shape[2:]
    size = tuple((lo - 1) * s - 2 * p + d * (k - 1) + op + 1 for lo, s, p, d, k, op in
                 zip(x.shape[2:], stride, padding, dilation, kernel, output_padding))
    if any(z < 1 for z in size):
        raise ValueError(f"{name} would give an output of spatial size {size}: padding "
                         f"{padding} is too large for this input and kernel")
    out_ch = w.shape[1] * groups
    dtype = _dtype(x)
    work = _compute_dtype(dtype)
    problem = LayerProblem(x.shape[0], channels, out_ch, groups, tuple(x.shape[2:]),
                           tuple(kernel), stride, dilation, size, work, transposed=True,
                           start=padding)
    _check_bias(bias, out_ch)
    if _on_gpu(x, w, bias):
        from . import _cuda
        return _cuda.call(problem, x, w, bias, dtype, unbatched, method)
    b = _host_bias(bias, work)
    return _Call(problem, x.astype(work, copy=False), w.astype(work, copy=False), b, dtype,
                 unbatched, method, name)


def conv_transpose1d(input, weight, bias=None, stride=1, padding=0, output_padding=0,
                     groups=1, dilation=1, *, method="auto", out=None):
    """1-D transposed convolution (the adjoint of :func:`conv1d`), like torch's.

    Parameters
    ----------
    input : array_like
        ``(N, C_in, L)`` or ``(C_in, L)``.
    weight : array_like
        ``(C_in, C_out / groups, k)``.
    bias : array_like, optional
        ``(C_out,)``.
    stride, padding, output_padding, dilation : int or tuple of int, optional
        ``output_padding`` must be smaller than the stride or the dilation.
    groups : int, optional
        Split the channels into ``groups`` independent convolutions.
    method : {'auto', 'direct', 'gemm', 'fft'}, optional
        As in :func:`conv1d`.
    out : ndarray, optional
        Where to write the result, as in :func:`conv1d`.

    Returns
    -------
    ndarray
        ``(N, C_out, L_out)``, ``L_out = (L - 1)s - 2p + d(k - 1) + output_padding + 1``.

    Raises
    ------
    TypeError
        A non-floating input or weight, or non-integer parameters.
    ValueError
        Where torch raises, and for an output size below 1.

    Examples
    --------
    >>> import numpy as np
    >>> from numbaconv.nn import conv_transpose1d
    >>> conv_transpose1d(np.array([[[1.0, 2.0]]]), np.array([[[1.0, 10.0, 100.0]]]), stride=2)
    array([[[  1.,  10., 102.,  20., 200.]]])
    """
    return _conv_transpose(1, "conv_transpose1d", input, weight, bias, stride, padding,
                           output_padding, groups, dilation, method).run(out)


def conv_transpose2d(input, weight, bias=None, stride=1, padding=0, output_padding=0,
                     groups=1, dilation=1, *, method="auto", out=None):
    """2-D transposed convolution (the adjoint of :func:`conv2d`), like torch's.

    Parameters
    ----------
    input : array_like
        ``(N, C_in, H, W)`` or ``(C_in, H, W)``.
    weight : array_like
        ``(C_in, C_out / groups, kH, kW)``.
    bias : array_like, optional
        ``(C_out,)``.
    stride, padding, output_padding, dilation : int or tuple of int, optional
        As in :func:`conv_transpose1d`, per spatial axis.
    groups : int, optional
        Split the channels into ``groups`` independent convolutions.
    method : {'auto', 'direct', 'gemm', 'fft'}, optional
        As in :func:`conv1d`.
    out : ndarray, optional
        Where to write the result, as in :func:`conv1d`.

    Returns
    -------
    ndarray
        ``(N, C_out, H_out, W_out)`` in the input's dtype.

    Raises
    ------
    TypeError
        A non-floating input or weight, or non-integer parameters.
    ValueError
        Where torch raises, and for an output size below 1.

    Examples
    --------
    >>> import numpy as np
    >>> from numbaconv.nn import conv_transpose2d
    >>> x = np.ones((1, 1, 2, 2))
    >>> conv_transpose2d(x, np.ones((1, 1, 2, 2)), stride=2)
    array([[[[1., 1., 1., 1.],
             [1., 1., 1., 1.],
             [1., 1., 1., 1.],
             [1., 1., 1., 1.]]]])
    >>> conv_transpose2d(x, np.ones((1, 4, 3, 3)), stride=2, padding=1, output_padding=1).shape
    (1, 4, 4, 4)
    """
    return _conv_transpose(2, "conv_transpose2d", input, weight, bias, stride, padding,
                           output_padding, groups, dilation, method).run(out)


# ---------------------------------------------------------------- gradients

def _grad_setup(n, name, shape, w_shape, grad_output, stride, padding, dilation, groups):
    """Check what the gradient helpers share; return the padding pairs and grad_output."""
    g = _as_float(grad_output, "grad_output")
    shape = tuple(operator.index(s) for s in shape)
    w_shape = tuple(operator.index(s) for s in w_shape)
    if len(shape) != n + 2 or g.ndim != n + 2:
        raise ValueError(f"{name} expects a batched {n + 2}-D input size and grad_output, got "
                         f"{shape} and {g.shape}")
    if len(w_shape) != n + 2:
        raise ValueError(f"{name} expects a {n + 2}-D weight, got shape {w_shape}")
    stride = _ints(stride, n, "stride", minimum=1)
    dilation = _ints(dilation, n, "dilation", minimum=1)
    groups = _groups(groups)
    if shape[1] % groups or w_shape[0] % groups:
        raise ValueError(f"channels ({shape[1]} in, {w_shape[0]} out) must be divisible by "
                         f"groups ({groups})")
    if w_shape[1] * groups != shape[1]:
        raise ValueError(f"weight of shape {w_shape} expects {w_shape[1] * groups} input "
                         f"channels, the input has {shape[1]}")
    pairs = _padding_pairs(padding, n, w_shape[2:], dilation, stride)
    expect = (shape[0], w_shape[0]) + tuple(
        (s + lo + r - d * (k - 1) - 1) // st + 1
        for s, (lo, r), d, k, st in zip(shape[2:], pairs, dilation, w_shape[2:], stride))
    if g.shape != expect:
        raise ValueError(f"grad_output has shape {g.shape}; the convolution of an input of "
                         f"shape {shape} with a weight of shape {w_shape} gives {expect}")
    return g, stride, dilation, groups, pairs


def _conv_input(n, name, input_size, weight, grad_output, stride, padding, dilation, groups,
                out):
    w = _as_float(weight, "weight")
    g, stride, dilation, groups, pairs = _grad_setup(
        n, name, input_size, w.shape, grad_output, stride, padding, dilation, groups)
    dtype = _dtype(g)
    work = _compute_dtype(dtype)
    size = tuple(input_size)[2:]
    problem = LayerProblem(g.shape[0], g.shape[1], w.shape[1] * groups, groups,
                           tuple(g.shape[2:]), tuple(w.shape[2:]), stride, dilation, size, work,
                           transposed=True, start=tuple(lo for lo, _ in pairs))
    if _on_gpu(g, w):
        from . import _cuda
        return _cuda.call(problem, g, w, None, dtype, False, "auto").run(out)
    return _Call(problem, g.astype(work, copy=False), w.astype(work, copy=False), None, dtype,
                 False, "auto", name).run(out)


def _conv_weight(n, name, input, weight_size, grad_output, stride, padding, dilation, groups,
                 out):
    x = _as_float(input, "input")
    g, stride, dilation, groups, pairs = _grad_setup(
        n, name, x.shape, weight_size, grad_output, stride, padding, dilation, groups)
    work = _compute_dtype(_dtype(x))
    inputs = (("input", x), ("grad_output", g))
    if _on_gpu(x, g):
        from . import _cuda
        return deliver(_cuda.weight_grad(x, g, tuple(weight_size), stride, dilation, groups,
                                         pairs), out, inputs, name)
    if out is not None:
        check_out(out, tuple(weight_size), x.dtype, inputs, name)
    xp = pad_input(x.astype(work, copy=False), pairs)
    res = columns.weight_grad(xp, g.astype(work, copy=False), tuple(weight_size)[2:], stride,
                              dilation, groups)
    return deliver(res.astype(x.dtype, copy=False), out, inputs, name)


def conv1d_input(input_size, weight, grad_output, stride=1, padding=0, dilation=1, groups=1, *,
                 out=None):
    """Compute the gradient of :func:`conv1d` with respect to its input (``torch.nn.grad.conv1d_input``).

    Parameters
    ----------
    input_size : tuple of int
        The input's shape ``(N, C_in, L)``.
    weight : array_like
        The weight ``(C_out, C_in / groups, k)``.
    grad_output : array_like
        The gradient of a loss with respect to the convolution's output,
        ``(N, C_out, L_out)``.
    stride, padding, dilation, groups
        The convolution's parameters (zero padding: an int, a tuple, 'valid'
        or 'same').
    out : ndarray, optional
        Where to write the result, as in :func:`conv1d` (of the input's shape
        and grad_output's dtype).

    Returns
    -------
    ndarray
        The gradient, shaped like the input, in the dtype of grad_output.

    Raises
    ------
    ValueError
        Shapes that do not belong to one convolution, or bad parameters.

    Examples
    --------
    >>> import numpy as np
    >>> from numbaconv.nn import conv1d_input
    >>> w = np.array([[[1.0, 2.0]]])
    >>> conv1d_input((1, 1, 3), w, np.ones((1, 1, 2)))
    array([[[1., 3., 2.]]])
    """
    return _conv_input(1, "conv1d_input", input_size, weight, grad_output, stride, padding,
                       dilation, groups, out)


def conv1d_weight(input, weight_size, grad_output, stride=1, padding=0, dilation=1, groups=1, *,
                  out=None):
    """Compute the gradient of :func:`conv1d` with respect to its weight (``torch.nn.grad.conv1d_weight``).

    Parameters
    ----------
    input : array_like
        The input ``(N, C_in, L)``.
    weight_size : tuple of int
        The weight's shape ``(C_out, C_in / groups, k)``.
    grad_output : array_like
        The gradient of a loss with respect to the convolution's output,
        ``(N, C_out, L_out)``.
    stride, padding, dilation, groups
        The convolution's parameters (zero padding: an int, a tuple, 'valid'
        or 'same').
    out : ndarray, optional
        Where to write the result, as in :func:`conv1d` (of the weight's shape
        and the input's dtype).

    Returns
    -------
    ndarray
        The gradient, shaped like the weight, in the dtype of the input.

    Raises
    ------
    ValueError
        Shapes that do not belong to one convolution, or bad parameters.

    Examples
    --------
    >>> import numpy as np
    >>> from numbaconv.nn import conv1d_weight
    >>> x = np.array([[[1.0, 2.0, 3.0]]])
    >>> conv1d_weight(x, (1, 1, 2), np.ones((1, 1, 2)))
    array([[[3., 5.]]])
    """
    return _conv_weight(1, "conv1d_weight", input, weight_size, grad_output, stride, padding,
                        dilation, groups, out)


def conv2d_input(input_size, weight, grad_output, stride=1, padding=0, dilation=1, groups=1, *,
                 out=None):
    """Compute the gradient of :func:`conv2d` with respect to its input (``torch.nn.grad.conv2d_input``).

    Parameters
    ----------
    input_size : tuple of int
        The input's shape ``(N, C_in, H, W)``.
    weight : array_like
        The weight ``(C_out, C_in / groups, kH, kW)``.
    grad_output : array_like
        The gradient of a loss with respect to the convolution's output,
        ``(N, C_out, H_out, W_out)``.
    stride, padding, dilation, groups
        The convolution's parameters (zero padding: an int, a tuple, 'valid'
        or 'same').
    out : ndarray, optional
        Where to write the result, as in :func:`conv1d` (of the input's shape
        and grad_output's dtype).

    Returns
    -------
    ndarray
        The gradient, shaped like the input, in the dtype of grad_output.

    Raises
    ------
    ValueError
        Shapes that do not belong to one convolution, or bad parameters.

    Examples
    --------
    >>> import numpy as np
    >>> from numbaconv.nn import conv2d_input
    >>> conv2d_input((1, 1, 3, 3), np.ones((1, 1, 2, 2)), np.ones((1, 1, 2, 2)))
    array([[[[1., 2., 1.],
             [2., 4., 2.],
             [1., 2., 1.]]]])
    """
    return _conv_input(2, "conv2d_input", input_size, weight, grad_output, stride, padding,
                       dilation, groups, out)


def conv2d_weight(input, weight_size, grad_output, stride=1, padding=0, dilation=1, groups=1, *,
                  out=None):
    """Compute the gradient of :func:`conv2d` with respect to its weight (``torch.nn.grad.conv2d_weight``).

    Parameters
    ----------
    input : array_like
        The input ``(N, C_in, H, W)``.
    weight_size : tuple of int
        The weight's shape ``(C_out, C_in / groups, kH, kW)``.
    grad_output : array_like
        The gradient of a loss with respect to the convolution's output,
        ``(N, C_out, H_out, W_out)``.
    stride, padding, dilation, groups
        The convolution's parameters (zero padding: an int, a tuple, 'valid'
        or 'same').
    out : ndarray, optional
        Where to write the result, as in :func:`conv1d` (of the weight's shape
        and the input's dtype).

    Returns
    -------
    ndarray
        The gradient, shaped like the weight, in the dtype of the input.

    Raises
    ------
    ValueError
        Shapes that do not belong to one convolution, or bad parameters.

    Examples
    --------
    >>> import numpy as np
    >>> from numbaconv.nn import conv2d_weight
    >>> x = np.arange(9.0).reshape(1, 1, 3, 3)
    >>> conv2d_weight(x, (1, 1, 2, 2), np.ones((1, 1, 2, 2)))
    array([[[[ 8., 12.],
             [20., 24.]]]])
    >>> grad = np.zeros((1, 1, 2, 2))
    >>> conv2d_weight(x, (1, 1, 2, 2), np.ones((1, 1, 2, 2)), out=grad) is grad
    True
    """
    return _conv_weight(2, "conv2d_weight", input, weight_size, grad_output, stride, padding,
                        dilation, groups, out)


# ---------------------------------------------------------------- explain

def _preparers():
    """The public functions that dispatch, each with the checker that returns its call."""
    def forward(n, name):
        def prepare(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1, *,
                    padding_mode="zeros", method="auto"):
            return _conv(n, name, input, weight, bias, stride, padding, dilation, groups,
                         padding_mode, method)
        return prepare

    def transposed(n, name):
        def prepare(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1,
                    dilation=1, *, method="auto"):
            return _conv_transpose(n, name, input, weight, bias, stride, padding,
                                   output_padding, groups, dilation, method)
        return prepare

    return {conv1d: forward(1, "conv1d"), conv2d: forward(2, "conv2d"),
            conv3d: forward(3, "conv3d"), conv_transpose1d: transposed(1, "conv_transpose1d"),
            conv_transpose2d: transposed(2, "conv_transpose2d")}


def explain(function, *args, **kwargs):
    """Say which backend a call of a layer function would run, and why; nothing is computed.

    Parameters
    ----------
    function : callable
        One of :func:`conv1d`, :func:`conv2d`, :func:`conv3d`,
        :func:`conv_transpose1d`, :func:`conv_transpose2d`.
    *args, **kwargs
        The call's arguments, as they would be passed to ``function``.

    Returns
    -------
    choice : numbaconv._dispatch.Choice
        ``.backend`` and ``.method`` chosen, ``.costs`` (predicted seconds
        of every candidate); ``str(choice)`` is a readable table.

    Raises
    ------
    TypeError, ValueError
        What the call itself would raise; a ``function`` that is not a
        layer function.

    Examples
    --------
    >>> import numpy as np
    >>> from numbaconv import nn
    >>> x, w = np.ones((8, 64, 56, 56), np.float32), np.ones((64, 64, 3, 3), np.float32)
    >>> choice = nn.explain(nn.conv2d, x, w, padding=1)
    >>> sorted(choice.costs) == sorted(set(choice.costs))   # every candidate, priced
    True
    >>> nn.explain(nn.conv2d, x, w, padding=1, method="gemm").backend
    'cpu_layer_gemm'
    """
    prepare = _preparers().get(function)
    if prepare is None:
        raise TypeError(f"explain() takes one of the layer functions {sorted(__all__[:5])}, "
                        f"got {function!r}")
    return prepare(*args, **kwargs).choose()[1].copy()   # the memoised choice stays intact
