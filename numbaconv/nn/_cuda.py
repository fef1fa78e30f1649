"""numbaconv.nn on GPU arrays: the calls of :mod:`numbaconv.nn._functional` that stay on the device.

The layer functions check their arguments as they do for NumPy arrays and,
when the input, the weight or the bias lives on a GPU, hand the call here
before any host conversion.  What remains is done on the device: the
conversion to the compute dtype, the padding (mapped inside the kernels,
never copied), the bias, the unbatching and the cast back to the input's
dtype.  The result is the kind of array that came in (CuPy in, CuPy out;
PyTorch in, PyTorch out; Numba device arrays in, Numba device arrays out),
as with the SciPy-style functions (:class:`numbaconv._gpu.CudaOps`).

Every argument is checked by the layer functions before a call comes here,
so a call raises alike on either device.
Nothing here is imported until a GPU array reaches a layer function.
"""
from __future__ import annotations

import dataclasses

import numpy as np

from .. import _dispatch, _gpu
from .._backends import cuda_layer
from .._inputs import deliver
from .._problem import LayerProblem


def batched(x):
    """``x`` with a leading batch axis of length 1: a view, of the same kind of GPU array.

    ``x[None]`` serves CuPy and PyTorch; Numba's device arrays take no
    ``None`` index.
    """
    if not _gpu.is_device_array(x):
        return x[None]
    return cuda_layer.insert_axes(x, 0, 1)


@dataclasses.dataclass
class GpuCall:
    """One checked layer call on GPU arrays: :class:`numbaconv.nn._functional._Call`'s twin.

    ``x`` is the batched input as the caller's kind of array (unpadded: the
    forward kernel maps indices by ``problem.pad`` and ``problem.padding_mode``);
    the arrays are converted when the call runs, not when it is explained.
    """

    problem: LayerProblem       # device='cuda'
    x: object
    w: object
    bias: object
    dtype: np.dtype             # of the result
    unbatched: bool
    method: str

    def choose(self):
        """``(problem, choice)``: the dispatcher's backend for this call."""
        return _dispatch.select(self.problem, self.method)

    def run(self, out=None):
        """Run the chosen backend on the device; the result is the kind of array that came in.

        A caller's ``out`` receives a copy of it (:func:`numbaconv._inputs.deliver`).
        """
        problem, choice = self.choose()
        ops = _gpu.ops()
        x, w = ops.asarray(self.x), ops.asarray(self.w)
        bias = None if self.bias is None else ops.asarray(self.bias)
        res = choice.module.run(problem, x, w, bias=bias)
        res = _gpu.astype(res, self.dtype)
        if self.unbatched:
            res = res.reshape(tuple(res.shape[1:]))
        return deliver(ops.wrap(res, self.x), out, (), "the layer")


def call(problem, x, w, bias, dtype, unbatched, method):
    """A checked layer call (forward or transposed) on GPU arrays.

    Parameters
    ----------
    problem : LayerProblem
        The host path's description, padding included; it is moved to
        ``device='cuda'`` here.
    x : GPU or host array
        The batched, unpadded input in its own dtype.
    w, bias : GPU or host arrays
        Weight and bias (or None).
    dtype : numpy.dtype
        The result's dtype (the input's).
    unbatched : bool
        Whether the batch axis was added by the caller (and is removed again).
    method : str
        'auto' or a backend family.

    Returns
    -------
    GpuCall
    """
    return GpuCall(dataclasses.replace(problem, device="cuda"), x, w, bias, np.dtype(dtype),
                   unbatched, method)


def weight_grad(x, g, weight_size, stride, dilation, groups, pairs):
    """``conv*d_weight`` on GPU arrays: the weight's gradient, the kind and dtype of ``x``.

    Parameters
    ----------
    x, g : GPU or host arrays
        The batched input and the output's gradient, checked by the caller.
    weight_size : tuple of int
        ``(C_out, C / groups, *kernel)``.
    stride, dilation : tuple of int
        Per spatial axis.
    groups : int
        Implied by ``weight_size`` and ``x``; kept for the caller's symmetry.
    pairs : tuple of (int, int)
        The zero padding per spatial axis (only the left one matters).

    Returns
    -------
    GPU array
        ``weight_size`` in ``x``'s dtype.
    """
    ops = _gpu.ops()
    xd, gd = ops.asarray(x), ops.asarray(g)
    dtype = np.dtype(xd.dtype)
    work = np.dtype(np.float32) if dtype == np.float16 else dtype
    out = cuda_layer.weight_grad(xd, gd, tuple(weight_size), stride, dilation,
                                 tuple(lo for lo, _ in pairs), work)
    return ops.wrap(_gpu.astype(out, dtype), x)
