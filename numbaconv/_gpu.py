"""Array operations on a CUDA GPU: the device twin of ``_api._HostOps``.

:func:`ops` returns an object with the interface of ``_api._HostOps``
(``asarray``, ``native``, ``flip``, ``conj``, ``all_finite``, ``abs_max``,
``wrap``) plus ``zeros``, ``astype`` and ``finalize``, all working on the
GPU.  Internally every array is a Numba device array (a ``DeviceNDArray``,
or the simulator's stand-in under ``NUMBA_ENABLE_CUDASIM=1``):

* ``asarray`` accepts Numba device arrays as they are, wraps anything with
  ``__cuda_array_interface__`` (CuPy, PyTorch, ...) without a copy, takes
  other DLPack GPU arrays through CuPy, and copies host arrays to the device;
* ``wrap`` turns a result back into the kind of array the caller gave: CuPy
  in, CuPy out; PyTorch in, PyTorch out (same device); Numba in, Numba out;
  NumPy in (``device='cuda'``), NumPy out.  When the inputs are of mixed
  kinds the GPU kind wins, as with ``device='auto'``.

``flip`` and ``conj`` return contiguous copies (Numba device arrays with
negative strides cannot be copied to the host), made by small elementwise
kernels that also cast; they take arrays of rank 1 to 3 of any layout, and
contiguous arrays of any rank for ``conj``.  Higher ranks go through CuPy
when it is installed.

Nothing here imports ``numba.cuda``, CuPy or PyTorch at module import time:
``import numbaconv`` never touches CUDA.  Kernels are compiled on first use
and cached per configuration.  The launch width of the elementwise kernels
is read from :data:`THREADS` at launch time, so tests can make it tiny.
"""
from __future__ import annotations

import math

import numpy as np

#: threads per block of the elementwise kernels (read at launch time)
THREADS = 256
#: most blocks of an elementwise launch; threads then loop grid-stride
MAX_BLOCKS = 4096

_DLPACK_GPU = (2, 3, 13)   # kDLCUDA, kDLCUDAHost, kDLCUDAManaged

_kernels: dict = {}


# --------------------------------------------------------------------------
# lazy imports and availability
# --------------------------------------------------------------------------

def cuda():
    """``numba.cuda``, imported on first use."""
    from numba import cuda as _cuda
    return _cuda


def simulator() -> bool:
    """True when Numba runs CUDA kernels in its Python simulator."""
    from numba import config
    return bool(config.ENABLE_CUDASIM)


_available = None


def available() -> bool:
    """Whether CUDA kernels can run here (a GPU, or the simulator); never raises."""
    global _available
    if _available is None:
        try:
            _available = bool(cuda().is_available())
        except Exception:  # noqa: BLE001 -- no driver, no toolkit, broken install
            _available = False
    return _available


def _cupy():
    try:
        import cupy
    except ImportError:
        return None
    return cupy


# --------------------------------------------------------------------------
# recognising arrays
# --------------------------------------------------------------------------

def is_device_array(x) -> bool:
    """True for a Numba device array (real or simulated)."""
    return bool(getattr(x, "__cuda_ndarray__", False))


def is_gpu_array(x) -> bool:
    """True for arrays that live on a CUDA device.

    Numba device arrays, anything exposing ``__cuda_array_interface__``, and
    DLPack arrays whose device is a CUDA one.  (The simulator's device arrays
    have no ``__cuda_array_interface__``; they are recognised by
    ``__cuda_ndarray__``.)
    """
    if is_device_array(x) or hasattr(x, "__cuda_array_interface__"):
        return True
    dev = getattr(x, "__dlpack_device__", None)
    if dev is not None and not isinstance(x, np.ndarray):
        try:
            return dev()[0] in _DLPACK_GPU
        except Exception:  # noqa: BLE001
            return False
    return False


def _kind_of(x) -> str:
    """'numba', 'cupy', 'torch', 'cai' (other CUDA array interface), 'dlpack' or 'numpy'."""
    if is_device_array(x):
        return "numba"
    mod = type(x).__module__.split(".")[0]
    if hasattr(x, "__cuda_array_interface__") or (mod == "torch" and is_gpu_array(x)):
        return mod if mod in ("cupy", "torch") else "cai"
    if is_gpu_array(x):
        return "dlpack"
    return "numpy"


def as_device(x):
    """``x`` as a Numba device array, without a copy when it is on the GPU already."""
    if is_device_array(x):
        return x
    kind = _kind_of(x)
    if kind == "torch":
        x = x.detach()
    if kind in ("cupy", "torch", "cai"):
        return cuda().as_cuda_array(x)
    if kind == "dlpack":
        cp = _cupy()
        if cp is None:
            raise TypeError(f"{type(x).__name__} is a DLPack GPU array without "
                            "__cuda_array_interface__: install CuPy to pass it to numbaconv")
        return cuda().as_cuda_array(cp.from_dlpack(x))
    return to_device(x)


def to_device(x):
    """Copy a host array (anything ``numpy.asarray`` takes) to the GPU."""
    h = np.asarray(x)
    if h.dtype.kind not in "biufc" or h.dtype in (np.dtype(np.longdouble), np.dtype(np.clongdouble)):
        raise TypeError(f"dtype {h.dtype} is not supported on the GPU")
    if h.dtype.byteorder not in "=|":
        h = h.astype(h.dtype.newbyteorder("="))
    return cuda().to_device(np.ascontiguousarray(h))


def to_host(x) -> np.ndarray:
    """Copy a device array to a NumPy array."""
    return contiguous(as_device(x)).copy_to_host()


# --------------------------------------------------------------------------
# elementwise kernels (compiled on first use)
# --------------------------------------------------------------------------

def _launch_dims(n: int):
    return max(1, min(MAX_BLOCKS, -(-n // THREADS))), THREADS


def _kernel(key, make):
    k = _kernels.get(key)
    if k is None:
        k = _kernels[key] = make()
    return k


def _make_copy(nd: int, conj: bool):
    """dst[i] = src[flipped i] (conjugated when ``conj``); dst contiguous, src any layout."""
    cu = cuda()

    if conj:
        @cu.jit(device=True)
        def _dev_value(v):
            return v.conjugate()
    else:
        @cu.jit(device=True)
        def _dev_value(v):
            return v

    if nd == 1:
        @cu.jit
        def copy1_kernel(src, dst, f0):
            n0 = dst.shape[0]
            i = cu.grid(1)
            step = cu.gridsize(1)
            while i < n0:
                s0 = n0 - 1 - i if f0 else i
                dst[i] = _dev_value(src[s0])
                i += step
        return copy1_kernel

    if nd == 2:
        @cu.jit
        def copy2_kernel(src, dst, f0, f1):
            n0, n1 = dst.shape
            i = cu.grid(1)
            step = cu.gridsize(1)
            while i < n0 * n1:
                i0 = i // n1
                i1 = i - i0 * n1
                s0 = n0 - 1 - i0 if f0 else i0
                s1 = n1 - 1 - i1 if f1 else i1
                dst[i0, i1] = _dev_value(src[s0, s1])
                i += step
        return copy2_kernel

    @cu.jit
    def copy3_kernel(src, dst, f0, f1, f2):
        n0, n1, n2 = dst.shape
        i = cu.grid(1)
        step = cu.gridsize(1)
        while i < n0 * n1 * n2:
            i0 = i // (n1 * n2)
            rest = i - i0 * (n1 * n2)
            i1 = rest // n2
            i2 = rest - i1 * n2
            s0 = n0 - 1 - i0 if f0 else i0
            s1 = n1 - 1 - i1 if f1 else i1
            s2 = n2 - 1 - i2 if f2 else i2
            dst[i0, i1, i2] = _dev_value(src[s0, s1, s2])
            i += step
    return copy3_kernel


def _make_fill():
    cu = cuda()

    @cu.jit
    def fill_kernel(dst, value):
        i = cu.grid(1)
        step = cu.gridsize(1)
        while i < dst.shape[0]:
            dst[i] = value
            i += step
    return fill_kernel


def _make_nonfinite(is_complex: bool):
    cu = cuda()

    if is_complex:
        @cu.jit(device=True)
        def _dev_finite(v):
            return math.isfinite(v.real) and math.isfinite(v.imag)
    else:
        @cu.jit(device=True)
        def _dev_finite(v):
            return math.isfinite(v)

    @cu.jit
    def nonfinite_kernel(x, flag):
        i = cu.grid(1)
        step = cu.gridsize(1)
        while i < x.shape[0]:
            if not _dev_finite(x[i]):
                flag[0] = 1
            i += step
    return nonfinite_kernel


def _make_absmax():
    cu = cuda()

    @cu.jit
    def absmax_kernel(x, res):
        i = cu.grid(1)
        step = cu.gridsize(1)
        m = res[0] * 0.0
        while i < x.shape[0]:
            v = abs(float(x[i]))
            if v > m:
                m = v
            i += step
        cu.atomic.max(res, 0, m)
    return absmax_kernel


def _make_finalize(op: str, take_real: bool, bits: int, signed: bool):
    """The cast of a result to the user's dtype.

    ``op``: 'cast' (a plain conversion), 'int' (wrap an integer modulo
    2**bits), 'round' (round a float to the nearest integer, then wrap),
    'nonzero' / 'round_nonzero' (bool results).  Integer narrowing is done
    with explicit masks so that it wraps like NumPy's ``astype`` on the
    device and in the simulator alike.
    """
    cu = cuda()
    mask = (1 << bits) - 1 if bits < 64 else -1
    half_range = 1 << (bits - 1) if bits < 64 else 0
    full_range = 1 << bits if bits < 64 else 0
    narrow = bits < 64

    if take_real:
        @cu.jit(device=True)
        def _dev_real(v):
            return v.real
    else:
        @cu.jit(device=True)
        def _dev_real(v):
            return v

    @cu.jit(device=True)
    def _dev_wrap(w):
        if narrow:
            w = w & mask
            if signed and w >= half_range:
                w -= full_range
        return w

    if op == "cast":
        @cu.jit
        def finalize_kernel(src, dst, half):
            i = cu.grid(1)
            step = cu.gridsize(1)
            while i < src.shape[0]:
                dst[i] = src[i]
                i += step
    elif op == "int":
        @cu.jit
        def finalize_kernel(src, dst, half):
            i = cu.grid(1)
            step = cu.gridsize(1)
            while i < src.shape[0]:
                dst[i] = _dev_wrap(src[i])
                i += step
    elif op == "round":
        @cu.jit
        def finalize_kernel(src, dst, half):
            i = cu.grid(1)
            step = cu.gridsize(1)
            while i < src.shape[0]:
                dst[i] = _dev_wrap(math.floor(_dev_real(src[i]) + half))
                i += step
    elif op == "round_nonzero":
        @cu.jit
        def finalize_kernel(src, dst, half):
            i = cu.grid(1)
            step = cu.gridsize(1)
            while i < src.shape[0]:
                dst[i] = math.floor(_dev_real(src[i]) + half) != 0
                i += step
    else:  # nonzero
        @cu.jit
        def finalize_kernel(src, dst, half):
            i = cu.grid(1)
            step = cu.gridsize(1)
            while i < src.shape[0]:
                dst[i] = src[i] != 0
                i += step
    return finalize_kernel


# --------------------------------------------------------------------------
# array operations
# --------------------------------------------------------------------------

def _is_contiguous(x) -> bool:
    return bool(x.is_c_contiguous())


def copy(x, dtype=None, *, flip_axes=(), conj=False):
    """A new contiguous device array: ``x`` cast to ``dtype``, flipped, conjugated."""
    x = as_device(x)
    dtype = np.dtype(x.dtype if dtype is None else dtype)
    if x.dtype.kind == "u" and x.dtype.itemsize == 8 and dtype.kind == "i":
        x = x.view(np.int64)     # uint64 -> int64 is a reinterpretation modulo 2**64
    conj = conj and x.dtype.kind == "c"
    nd = x.ndim
    if nd > 3:
        if not flip_axes and _is_contiguous(x):
            out = copy(x.reshape(-1), dtype, conj=conj)
            return out.reshape(x.shape)
        cp = _cupy()
        if cp is None:
            raise NotImplementedError("flipping or copying a non-contiguous GPU array of rank > 3 "
                                      "needs CuPy (pip install numbaconv[cuda])")
        y = cp.asarray(x)
        if flip_axes:
            y = cp.flip(y, axis=tuple(flip_axes))
        if conj:
            y = cp.conj(y)
        return cuda().as_cuda_array(cp.ascontiguousarray(y.astype(dtype, copy=False)))
    out = cuda().device_array(x.shape, dtype)
    if out.size == 0:
        return out
    flags = [int(ax in flip_axes) for ax in range(nd)]
    kern = _kernel(("copy", nd, conj), lambda: _make_copy(nd, conj))
    blocks, threads = _launch_dims(out.size)
    kern[blocks, threads](x, out, *flags)
    return out


def contiguous(x):
    """``x`` itself when it is C-contiguous, else a contiguous copy."""
    x = as_device(x)
    return x if _is_contiguous(x) else copy(x)


def prepare(x, dtype):
    """``x`` as a contiguous device array of ``dtype`` (no copy when it is one)."""
    x = as_device(x)
    if x.dtype == np.dtype(dtype) and _is_contiguous(x):
        return x
    return copy(x, dtype)


def fill(x, value):
    """Set every element of the contiguous device array ``x`` to ``value``."""
    if x.size == 0:
        return x
    flat = x.reshape(-1)
    blocks, threads = _launch_dims(flat.size)
    _kernel("fill", _make_fill)[blocks, threads](flat, np.asarray(value).astype(x.dtype)[()])
    return x


def zeros(shape, dtype):
    """A device array of zeros."""
    return fill(cuda().device_array(tuple(shape), np.dtype(dtype)), 0)


def all_finite(x) -> bool:
    """True when no element of ``x`` is NaN or infinite."""
    x = as_device(x)
    if x.dtype.kind not in "fc" or x.size == 0:
        return True
    if x.dtype == np.float16:
        x = copy(x, np.float32)
    flat = contiguous(x).reshape(-1)
    flag = cuda().to_device(np.zeros(1, np.int32))
    kern = _kernel(("nonfinite", x.dtype.kind == "c"),
                   lambda: _make_nonfinite(x.dtype.kind == "c"))
    blocks, threads = _launch_dims(flat.size)
    kern[blocks, threads](flat, flag)
    return int(flag.copy_to_host()[0]) == 0


def abs_max(x) -> int:
    """``max(|x|)`` of an integer or bool array, as a Python int (0 when empty)."""
    x = as_device(x)
    if x.size == 0:
        return 0
    flat = contiguous(x).reshape(-1)
    res = cuda().to_device(np.zeros(1, np.float64))
    blocks, threads = _launch_dims(flat.size)
    _kernel("absmax", _make_absmax)[blocks, threads](flat, res)
    return int(res.copy_to_host()[0])


def astype(x, dtype):
    """``x`` converted to ``dtype`` (the same array when it already is)."""
    x = as_device(x)
    dtype = np.dtype(dtype)
    if x.dtype == dtype:
        return x
    return finalize(x, dtype, rounding=False)


def finalize(out, dtype, rounding: bool):
    """Cast a backend's result to ``dtype``: the device twin of ``_api._finalize``.

    Integers wrap modulo 2**bits (like NumPy's ``astype``), FFT results are
    rounded to the nearest integer first (``rounding``), bool results are
    ``!= 0``, and 64-bit integers of the other signedness are reinterpreted.
    """
    out = contiguous(as_device(out))
    dtype = np.dtype(dtype)
    if out.dtype == dtype:
        return out
    src = out.dtype
    if dtype.kind in "iu" and src.kind in "iu" and dtype.itemsize == 8 and src.itemsize == 8:
        return out.view(dtype)
    dst = cuda().device_array(out.shape, dtype)
    if dst.size == 0:
        return dst
    real = src.kind == "c"
    if dtype.kind == "b":
        op = "round_nonzero" if rounding and src.kind in "fc" else "nonzero"
        if op == "nonzero" and real:
            op = "round_nonzero"
            rounding = False
    elif dtype.kind in "iu":
        op = "round" if src.kind in "fc" else "int"
    else:
        op = "cast"
    bits = dtype.itemsize * 8 if dtype.kind in "iu" else 64
    key = ("finalize", op, real, bits, dtype.kind == "i")
    kern = _kernel(key, lambda: _make_finalize(op, real, bits, dtype.kind == "i"))
    rdt = np.dtype(src.char.lower()) if real else src
    if rdt.kind == "c":
        rdt = np.dtype(np.float32) if src.itemsize <= 8 else np.dtype(np.float64)
    half = (rdt.type(0.5) if rounding or op == "round" else rdt.type(0)) if src.kind in "fc" else src.type(0)
    blocks, threads = _launch_dims(dst.size)
    kern[blocks, threads](out.reshape(-1), dst.reshape(-1), half)
    return dst


# --------------------------------------------------------------------------
# the ops object
# --------------------------------------------------------------------------

class CudaOps:
    """GPU array operations for one public call (see the module docstring).

    An instance remembers the kind of the arrays it converted, so that
    :meth:`wrap` can return what the caller passed in.
    """

    device = "cuda"

    def __init__(self):
        self._kind = None        # the first GPU kind seen, else 'numpy'
        self._like = None        # an input of that kind (torch: its device)
        self._seen = {}          # id(device array) -> the input it came from

    def _note(self, x, d):
        kind = _kind_of(x)
        if kind != "numpy" and self._kind in (None, "numpy"):
            self._kind, self._like = kind, x
        elif self._kind is None:
            self._kind, self._like = kind, x
        self._seen[id(d)] = (d, x)

    def asarray(self, x):
        """``x`` as a Numba device array (host arrays are copied to the GPU)."""
        d = as_device(x)
        self._note(x, d)
        return d

    @staticmethod
    def native(x):
        """Device arrays are in native byte order already."""
        return x

    @staticmethod
    def flip(x, axes):
        """A contiguous copy of ``x`` reversed along ``axes``."""
        return copy(x, flip_axes=tuple(axes))

    @staticmethod
    def conj(x):
        """``x`` conjugated (a copy) when complex, else ``x`` itself."""
        return copy(x, conj=True) if x.dtype.kind == "c" else x

    @staticmethod
    def all_finite(x):
        return all_finite(x)

    @staticmethod
    def abs_max(x):
        return abs_max(x)

    @staticmethod
    def zeros(shape, dtype):
        return zeros(shape, dtype)

    @staticmethod
    def astype(x, dtype):
        return astype(x, dtype)

    @staticmethod
    def finalize(out, dtype, rounding):
        return finalize(out, dtype, rounding)

    def wrap(self, result, like):
        """``result`` as the kind of array the caller passed in."""
        if id(like) in self._seen or is_device_array(like) or self._kind is not None:
            kind, orig = self._kind or "numba", self._like
        else:
            kind, orig = _kind_of(like), like
        if not (is_device_array(result) or is_gpu_array(result)):
            return result        # a host scalar or array the API made itself
        if kind == "cai":
            kind = "numba"
        res = contiguous(as_device(result))
        if kind == "numba":
            return res
        if kind == "numpy":
            return res.copy_to_host()
        if kind == "torch":
            import torch
            return torch.as_tensor(res, device=orig.device)
        cp = _cupy()
        if cp is None:  # pragma: no cover - a CuPy/DLPack input implies CuPy
            return res
        y = cp.asarray(res)
        if kind == "dlpack":
            ns = getattr(orig, "__array_namespace__", None)
            if ns is not None:
                try:
                    return ns().from_dlpack(y)
                except Exception:  # noqa: BLE001 -- fall back to the CuPy array
                    pass
        return y


def ops() -> CudaOps:
    """GPU array operations for one call; raises when no CUDA device can be used."""
    if not available():
        raise RuntimeError("device='cuda' needs a CUDA GPU with a working driver and "
                           "numba-cuda (pip install numbaconv[cuda]); "
                           "none is available here")
    return CudaOps()
