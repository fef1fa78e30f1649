"""Array operations behind one interface, for host arrays here and GPU arrays in ``_gpu``.

The public functions never call NumPy or CUDA directly on their inputs:
they take an :class:`ArrayOps` for the call (``_inputs.ops_for``) and use it
to convert, flip, conjugate, probe, cast and return arrays.  :class:`HostOps`
is NumPy's; :class:`numbaconv._gpu.CudaOps` is the GPU's and is imported
only when a GPU array or ``device='cuda'`` asks for it.  :func:`is_gpu_array`
is the one test of whether an object lives on a GPU.
"""
from __future__ import annotations

import functools
from typing import Protocol

import numpy as np

from ._probes import all_finite

#: DLPack device types of CUDA memory: kDLCUDA, kDLCUDAHost, kDLCUDAManaged
DLPACK_GPU = (2, 3, 13)


class ArrayOps(Protocol):
    """What the public functions need of the arrays of one device."""

    device: str

    def asarray(self, x): ...
    def native(self, x): ...
    def flip(self, x, axes): ...
    def conj(self, x): ...
    def all_finite(self, x) -> bool: ...
    def abs_max(self, x) -> int: ...
    def zeros(self, shape, dtype): ...
    def multiply(self, a, b): ...
    def astype(self, x, dtype): ...
    def to_host(self, x) -> np.ndarray: ...
    def finalize(self, out, dtype, rounding): ...
    def wrap(self, result, like): ...


_REVERSED = slice(None, None, -1)


class HostOps:
    """:class:`ArrayOps` of NumPy arrays (stateless: the class itself is used)."""

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
        if len(axes) == x.ndim:         # every axis (each call's kernel): no index list
            return x[(_REVERSED,) * x.ndim]
        idx = [slice(None)] * x.ndim
        for ax in axes:
            idx[ax] = slice(None, None, -1)
        return x[tuple(idx)]

    @staticmethod
    def conj(x):
        return np.conj(x) if x.dtype.kind == "c" else x

    all_finite = staticmethod(all_finite)

    @staticmethod
    def abs_max(x):
        """``max |x|`` of an integer or bool array as a Python int (exact, even for int64's minimum)."""
        if not x.size:
            return 0
        if x.dtype.kind == "b":
            return 1
        return max(abs(int(x.max())), abs(int(x.min())))

    @staticmethod
    def zeros(shape, dtype):
        return np.zeros(shape, dtype)

    @staticmethod
    def multiply(a, b):
        return a * b

    @staticmethod
    def astype(x, dtype):
        return x.astype(dtype)

    @staticmethod
    def to_host(x):
        return x

    @staticmethod
    def finalize(out, dtype, rounding):
        return finalize(out, dtype, rounding=rounding)

    @staticmethod
    def wrap(result, like):
        return result


def finalize(out, dtype, *, rounding):
    """Cast a backend's result to ``dtype``: wrap integers, round FFT results."""
    if out.dtype == dtype:
        return out
    if dtype.kind == "b":
        return (np.rint(out) if rounding else out) != 0
    if dtype.kind in "iu":
        if out.dtype.kind in "fc":
            out = np.rint(out.real if out.dtype.kind == "c" else out)
            with np.errstate(invalid="ignore"):
                # through int64, whose cast to a narrower integer wraps like SciPy's direct sums
                return out.astype(np.int64).astype(dtype) if dtype.itemsize < 8 else out.astype(dtype)
        if dtype.itemsize == 8 and out.dtype.itemsize == 8:
            return out.view(dtype)
        return out.astype(dtype)
    return out.astype(dtype)


@functools.lru_cache(maxsize=256)
def result_type(dt1, dt2) -> np.dtype:
    """``np.result_type`` of two dtypes, memoised (it is on every call's path)."""
    return np.result_type(dt1, dt2)


def is_gpu_array(x) -> bool:
    """True for arrays that live on a CUDA device.

    Numba device arrays (the simulator's too: ``__cuda_ndarray__``), anything
    exposing ``__cuda_array_interface__``, and DLPack arrays on a CUDA device.
    Never raises: a torch tensor that requires grad raises on
    ``__cuda_array_interface__`` and is recognised by ``is_cuda`` instead.
    """
    if type(x) is np.ndarray:
        return False
    if getattr(x, "__cuda_ndarray__", False):
        return True
    try:
        if hasattr(x, "__cuda_array_interface__"):
            return True
    except Exception:  # noqa: BLE001 -- torch raises for tensors that require grad
        return bool(getattr(x, "is_cuda", False))
    dev = getattr(x, "__dlpack_device__", None)
    if dev is not None:
        try:
            return dev()[0] in DLPACK_GPU
        except Exception:  # noqa: BLE001 -- a foreign object's DLPack query failed: not ours
            return False
    return False
