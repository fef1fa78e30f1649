"""Array operations on a CUDA GPU: the device twin of ``_arrays.HostOps``.

:func:`ops` returns an object with the interface of ``_arrays.HostOps``
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

import functools
import math
import threading

import numpy as np

from . import _driver
from ._arrays import is_gpu_array
from ._kernels.layout import work_dtype

#: threads per block of the elementwise kernels (read at launch time)
THREADS = 256
#: most blocks of an elementwise launch; threads then loop grid-stride
MAX_BLOCKS = 4096


_kernels: dict = {}


# --------------------------------------------------------------------------
# lazy imports and availability
# --------------------------------------------------------------------------

#: ``numba.cuda`` once :func:`cuda` has imported it.  Kernels must reach it
#: as a module global: the simulator swaps such globals for its fake module.
nbcuda = None


def cuda():
    """``numba.cuda``, imported on first use."""
    global nbcuda
    if nbcuda is None:
        from numba import cuda as _cuda
        nbcuda = _cuda
    return nbcuda


def simulator() -> bool:
    """True when Numba runs CUDA kernels in its Python simulator."""
    from numba import config
    return bool(config.ENABLE_CUDASIM)


_available = None


@functools.lru_cache(maxsize=None)
def driver_present() -> bool:
    """:func:`numbaconv._driver.driver_present`, once per process.

    ``device='auto'`` asks this before importing ``numba.cuda`` so that a
    CPU-only machine never pays that import.
    """
    return _driver.driver_present()


def numba_cuda_installed() -> bool:
    """Whether the ``numba-cuda`` package (the maintained CUDA target) is installed.

    Without it ``numba.cuda`` is Numba's deprecated built-in target, which
    lacks parts of the language the kernels use: the backends then compile a
    kernel before they call themselves available (``cuda_direct.available``).
    """
    import importlib.util
    return importlib.util.find_spec("numba_cuda") is not None


def _probe_available() -> bool:
    return bool(cuda().is_available())


def available() -> bool:
    """Whether CUDA kernels can run here (a GPU, or the simulator); never raises."""
    global _available
    if _available is None:
        try:
            _available = bool(_probe_available())
        except Exception:  # noqa: BLE001 -- no driver, no toolkit, an old CUDA target, broken install
            _available = False
    return _available


def _cupy():
    try:
        import cupy
    except Exception:  # noqa: BLE001 -- not installed, or no CUDA libraries for it
        return None
    return cupy


# --------------------------------------------------------------------------
# streams and allocation: the producer's stream, CuPy's pool
# --------------------------------------------------------------------------

#: the stream and allocator of the call in progress on this thread (set by CudaOps)
_state = threading.local()


def stream_pointer(kind: str, x) -> int:
    """The handle of the stream that produced ``x`` (0: the default stream).

    Kernels are launched on it, so that they run after the producer's work
    without a host synchronisation and before the consumer's next kernel.
    The simulator has no streams.
    """
    if simulator():
        return 0
    if kind == "torch":
        import torch
        return int(torch.cuda.current_stream(x.device).cuda_stream)
    if kind in ("cupy", "dlpack"):
        cp = _cupy()
        if cp is not None:
            return int(cp.cuda.get_current_stream().ptr)
    return 0


def stream_for(kind: str, x):
    """The producer's stream of ``x`` as a Numba stream (0: the default stream)."""
    ptr = stream_pointer(kind, x)
    return cuda().external_stream(ptr) if ptr else 0


def launch_stream():
    """The stream of this call's kernels and copies (0 outside a GPU call)."""
    return getattr(_state, "stream", 0)


def begin_call(kind: str = "numpy", like=None):
    """Set the stream and allocator of a new call (CudaOps does, per call and input kind)."""
    _state.stream = stream_for(kind, like) if kind != "numpy" else 0
    _state.stream_ptr = stream_pointer(kind, like) if _state.stream else 0
    _state.pool = kind in ("cupy", "dlpack") and not simulator() and _cupy() is not None


def empty(shape, dtype):
    """A new contiguous device array: from CuPy's memory pool for CuPy callers, else Numba's.

    CuPy allocates on its current stream, the one the kernels then run on;
    Numba's ``set_memory_manager`` would switch every allocation of the
    process, so the array is allocated by CuPy and wrapped instead.
    """
    shape = (shape,) if isinstance(shape, (int, np.integer)) else tuple(shape)
    dtype = np.dtype(dtype)
    if getattr(_state, "pool", False):
        return wrap_cai(_cupy().empty(shape, dtype))
    stream = launch_stream()
    return cuda().device_array(shape, dtype, stream=stream) if stream else \
        cuda().device_array(shape, dtype)


def launch_stream_pointer() -> int:
    """The handle of :func:`launch_stream` (0: the default stream), for CuPy's ExternalStream."""
    return getattr(_state, "stream_ptr", 0)


def launch(kern, blocks, threads, *args, shared=0):
    """Launch ``kern`` on this call's stream."""
    kern[blocks, threads, launch_stream(), shared](*args)


def to_host_small(x) -> np.ndarray:
    """Copy a small device array (a probe's result) back: the one wait of a value probe."""
    stream = launch_stream()
    if not stream:
        return x.copy_to_host()
    out = x.copy_to_host(stream=stream)
    stream.synchronize()
    return out


# --------------------------------------------------------------------------
# recognising arrays
# --------------------------------------------------------------------------

def is_device_array(x) -> bool:
    """True for a Numba device array (real or simulated)."""
    return bool(getattr(x, "__cuda_ndarray__", False))


def _has_cai(x) -> bool:
    try:
        return hasattr(x, "__cuda_array_interface__")
    except Exception:  # noqa: BLE001 -- torch raises for tensors that require grad
        return bool(getattr(x, "is_cuda", False))


def _kind_of(x) -> str:
    """'numba', 'cupy', 'torch', 'cai' (other CUDA array interface), 'dlpack' or 'numpy'."""
    if is_device_array(x):
        return "numba"
    mod = type(x).__module__.split(".")[0]
    if mod == "torch" and getattr(x, "is_cuda", False):
        return "torch"
    if mod == "cupy":
        return "cupy"
    if _has_cai(x):
        return "cai"
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
        return wrap_cai(x)
    if kind == "dlpack":
        cp = _cupy()
        if cp is None:
            raise TypeError(f"{type(x).__name__} is a DLPack GPU array without "
                            "__cuda_array_interface__: install CuPy to pass it to numbaconv")
        return wrap_cai(cp.from_dlpack(x))
    return to_device(x)


def wrap_cai(x):
    """A Numba view of an object with ``__cuda_array_interface__``, without a host sync.

    ``as_cuda_array`` synchronises the producer's stream on the host by
    default (``sync=True``); numbaconv instead launches its kernels on that
    stream (:func:`stream_of`), which orders them after the producer's work.
    """
    return cuda().as_cuda_array(x, sync=False)


def to_device(x):
    """Copy a host array (anything ``numpy.asarray`` takes) to the GPU."""
    h = np.asarray(x)
    if h.dtype.kind not in "biufc" or h.dtype in (np.dtype(np.longdouble), np.dtype(np.clongdouble)):
        raise TypeError(f"dtype {h.dtype} is not supported on the GPU")
    if h.dtype.byteorder not in "=|":
        h = h.astype(h.dtype.newbyteorder("="))
    if not h.flags.c_contiguous:
        h = h.copy()
    return cuda().to_device(h)


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
    cuda()

    if conj:
        @nbcuda.jit(device=True)
        def _dev_value(v):
            return v.conjugate()
    else:
        @nbcuda.jit(device=True)
        def _dev_value(v):
            return v

    if nd == 1:
        @nbcuda.jit
        def copy1_kernel(src, dst, f0):
            n0 = dst.shape[0]
            i = nbcuda.grid(1)
            step = nbcuda.gridsize(1)
            while i < n0:
                s0 = n0 - 1 - i if f0 else i
                dst[i] = _dev_value(src[s0])
                i += step
        return copy1_kernel

    if nd == 2:
        @nbcuda.jit
        def copy2_kernel(src, dst, f0, f1):
            n0, n1 = dst.shape
            i = nbcuda.grid(1)
            step = nbcuda.gridsize(1)
            while i < n0 * n1:
                i0 = i // n1
                i1 = i - i0 * n1
                s0 = n0 - 1 - i0 if f0 else i0
                s1 = n1 - 1 - i1 if f1 else i1
                dst[i0, i1] = _dev_value(src[s0, s1])
                i += step
        return copy2_kernel

    @nbcuda.jit
    def copy3_kernel(src, dst, f0, f1, f2):
        n0, n1, n2 = dst.shape
        i = nbcuda.grid(1)
        step = nbcuda.gridsize(1)
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
    cuda()

    @nbcuda.jit
    def fill_kernel(dst, value):
        i = nbcuda.grid(1)
        step = nbcuda.gridsize(1)
        while i < dst.shape[0]:
            dst[i] = value
            i += step
    return fill_kernel


def _make_nonfinite(is_complex: bool):
    cuda()

    if is_complex:
        @nbcuda.jit(device=True)
        def _dev_finite(v):
            return math.isfinite(v.real) and math.isfinite(v.imag)
    else:
        @nbcuda.jit(device=True)
        def _dev_finite(v):
            return math.isfinite(v)

    @nbcuda.jit
    def nonfinite_kernel(x, flag):
        i = nbcuda.grid(1)
        step = nbcuda.gridsize(1)
        while i < x.shape[0]:
            if not _dev_finite(x[i]):
                flag[0] = 1
            i += step
    return nonfinite_kernel


def _make_absmax():
    cuda()

    @nbcuda.jit
    def absmax_kernel(x, res):
        i = nbcuda.grid(1)
        step = nbcuda.gridsize(1)
        m = 0.0
        while i < x.shape[0]:
            v = abs(float(x[i]))
            if v > m:
                m = v
            i += step
        nbcuda.atomic.max(res, 0, m)
    return absmax_kernel


def _make_multiply():
    """out = a * b with NumPy's broadcasting over 3-D views (a length-1 axis repeats)."""
    cuda()

    @nbcuda.jit
    def multiply_kernel(a, b, out):
        n0, n1, n2 = out.shape
        i = nbcuda.grid(1)
        step = nbcuda.gridsize(1)
        while i < n0 * n1 * n2:
            i0 = i // (n1 * n2)
            rest = i - i0 * (n1 * n2)
            i1 = rest // n2
            i2 = rest - i1 * n2
            va = a[i0 if a.shape[0] > 1 else 0, i1 if a.shape[1] > 1 else 0,
                   i2 if a.shape[2] > 1 else 0]
            vb = b[i0 if b.shape[0] > 1 else 0, i1 if b.shape[1] > 1 else 0,
                   i2 if b.shape[2] > 1 else 0]
            out[i0, i1, i2] = va * vb
            i += step
    return multiply_kernel


def _make_finalize(op: str, take_real: bool, bits: int, signed: bool):
    """The cast of a result to the user's dtype.

    ``op``: 'cast' (a plain conversion), 'int' (wrap an integer modulo
    2**bits), 'round' (round a float to the nearest integer, then wrap),
    'nonzero' / 'round_nonzero' (bool results).  Integer narrowing is done
    with explicit masks so that it wraps like NumPy's ``astype`` on the
    device and in the simulator alike.
    """
    cuda()
    mask = (1 << bits) - 1 if bits < 64 else -1
    half_range = 1 << (bits - 1) if bits < 64 else 0
    full_range = 1 << bits if bits < 64 else 0
    narrow = bits < 64

    if take_real:
        @nbcuda.jit(device=True)
        def _dev_real(v):
            return v.real
    else:
        @nbcuda.jit(device=True)
        def _dev_real(v):
            return v

    @nbcuda.jit(device=True)
    def _dev_wrap(w):
        if narrow:
            w = w & mask
            if signed and w >= half_range:
                w -= full_range
        return w

    if op == "cast":
        @nbcuda.jit
        def finalize_kernel(src, dst, half):
            i = nbcuda.grid(1)
            step = nbcuda.gridsize(1)
            while i < src.shape[0]:
                dst[i] = src[i]
                i += step
    elif op == "int":
        @nbcuda.jit
        def finalize_kernel(src, dst, half):
            i = nbcuda.grid(1)
            step = nbcuda.gridsize(1)
            while i < src.shape[0]:
                dst[i] = _dev_wrap(src[i])
                i += step
    elif op == "round":
        @nbcuda.jit
        def finalize_kernel(src, dst, half):
            i = nbcuda.grid(1)
            step = nbcuda.gridsize(1)
            while i < src.shape[0]:
                dst[i] = _dev_wrap(int(math.floor(_dev_real(src[i]) + half)))
                i += step
    elif op == "round_nonzero":
        @nbcuda.jit
        def finalize_kernel(src, dst, half):
            i = nbcuda.grid(1)
            step = nbcuda.gridsize(1)
            while i < src.shape[0]:
                dst[i] = math.floor(_dev_real(src[i]) + half) != 0
                i += step
    else:  # nonzero
        @nbcuda.jit
        def finalize_kernel(src, dst, half):
            i = nbcuda.grid(1)
            step = nbcuda.gridsize(1)
            while i < src.shape[0]:
                dst[i] = src[i] != 0
                i += step
    return finalize_kernel


def copy_kernel(nd: int, conj: bool):
    """The flip/conjugate/cast copy kernel of rank ``nd`` (memoised)."""
    return _kernel(("copy", nd, conj), lambda: _make_copy(nd, conj))


def fill_kernel():
    """The kernel setting every element of a 1-D array to a value."""
    return _kernel("fill", _make_fill)


def nonfinite_kernel(is_complex: bool):
    """The kernel raising a flag on a NaN or infinite element."""
    return _kernel(("nonfinite", is_complex), lambda: _make_nonfinite(is_complex))


def absmax_kernel():
    """The kernel of ``max |x|`` (an atomic maximum in float64)."""
    return _kernel("absmax", _make_absmax)


def multiply_kernel():
    """The broadcasting product of two 3-D views."""
    return _kernel("multiply", _make_multiply)


def finalize_kernel(op: str, take_real: bool, bits: int, signed: bool):
    """The cast of a result to the user's dtype (see :func:`_make_finalize`)."""
    key = ("finalize", op, take_real, bits, signed)
    return _kernel(key, lambda: _make_finalize(op, take_real, bits, signed))


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
    if nd == 0:
        return copy(x.reshape(1), dtype, conj=conj).reshape(())
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
    out = empty(x.shape, dtype)
    if out.size == 0:
        return out
    flags = [int(ax in flip_axes) for ax in range(nd)]
    blocks, threads = _launch_dims(out.size)
    launch(copy_kernel(nd, conj), blocks, threads, x, out, *flags)
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
    launch(fill_kernel(), blocks, threads, flat, np.asarray(value).astype(x.dtype)[()])
    return x


def zeros(shape, dtype):
    """A device array of zeros."""
    return fill(empty(shape, dtype), 0)


def all_finite(x) -> bool:
    """True when no element of ``x`` is NaN or infinite.

    The scan and its flag stay on the device; the one transfer is the
    flag's 4 bytes back to the host.
    """
    x = as_device(x)
    if x.dtype.kind not in "fc" or x.size == 0:
        return True
    if x.dtype == np.float16:
        x = copy(x, np.float32)
    flat = contiguous(x).reshape(-1)
    flag = fill(empty(1, np.int32), 0)     # no host-to-device copy
    blocks, threads = _launch_dims(flat.size)
    launch(nonfinite_kernel(x.dtype.kind == "c"), blocks, threads, flat, flag)
    return int(to_host_small(flag)[0]) == 0


def abs_max(x) -> int:
    """``max(|x|)`` of an integer or bool array, as a Python int (0 when empty)."""
    x = as_device(x)
    if x.size == 0:
        return 0
    if x.dtype.kind == "b":
        return 1         # an upper bound is all the dispatcher needs
    flat = contiguous(x).reshape(-1)
    res = fill(empty(1, np.float64), 0)
    blocks, threads = _launch_dims(flat.size)
    launch(absmax_kernel(), blocks, threads, flat, res)
    return int(to_host_small(res)[0])


def multiply(a, b):
    """``a * b`` with NumPy's broadcasting and result dtype, on the device.

    Numba device arrays have no arithmetic operators (only the simulator's
    stand-in forwards them to NumPy); 0-d inputs and FFT calls whose axes
    all have length 1 on one side reduce to this product.  The product is
    computed in the work dtype (integers in int64, float16 in float32) and
    cast like any result.
    """
    a, b = as_device(a), as_device(b)
    dtype = np.result_type(a.dtype, b.dtype)
    shape = np.broadcast_shapes(tuple(a.shape), tuple(b.shape))
    wt = work_dtype(dtype)
    nd = len(shape)
    if nd > 3:
        raise NotImplementedError("a broadcast product of GPU arrays of rank > 3")
    a = prepare(a, wt).reshape((1,) * (3 - nd) + tuple(a.shape))
    b = prepare(b, wt).reshape((1,) * (3 - nd) + tuple(b.shape))
    out = empty((1,) * (3 - nd) + tuple(shape), wt)
    if out.size:
        blocks, threads = _launch_dims(out.size)
        launch(multiply_kernel(), blocks, threads, a, b, out)
    return finalize(out.reshape(shape), dtype, rounding=False)


def astype(x, dtype):
    """``x`` converted to ``dtype`` (the same array when it already is)."""
    x = as_device(x)
    dtype = np.dtype(dtype)
    if x.dtype == dtype:
        return x
    return finalize(x, dtype, rounding=False)


def finalize(out, dtype, rounding: bool):
    """Cast a backend's result to ``dtype``: the device twin of ``_arrays.finalize``.

    Integers wrap modulo 2**bits (like NumPy's ``astype``), floating results
    for integer dtypes are rounded to the nearest integer first (half-way
    cases round up, not to even: FFT results of integer data are never
    half-way), bool results are ``!= 0`` (after rounding when ``rounding``),
    and 64-bit integers of the other signedness are reinterpreted.
    """
    out = contiguous(as_device(out))
    dtype = np.dtype(dtype)
    src = out.dtype
    if src == dtype:
        return out
    if dtype.kind in "iu" and src.kind in "iu" and dtype.itemsize == 8 and src.itemsize == 8:
        return out.view(dtype)
    dst = empty(out.shape, dtype)
    if dst.size == 0:
        return dst
    floating = src.kind in "fc"
    if dtype.kind == "b":
        op = "round_nonzero" if rounding and floating else "nonzero"
    elif dtype.kind in "iu":
        op = "round" if floating else "int"
    else:
        op = "cast"
    take_real = src.kind == "c" and op.startswith("round")
    bits = dtype.itemsize * 8 if dtype.kind in "iu" else 64
    signed = dtype.kind == "i"
    kern = finalize_kernel(op, take_real, bits, signed)
    if floating:
        single = src in (np.dtype(np.float16), np.dtype(np.float32), np.dtype(np.complex64))
        real = np.dtype(np.float32) if single else np.dtype(np.float64)
        half = real.type(0.5)
    else:
        half = np.int64(0)
    blocks, threads = _launch_dims(dst.size)
    launch(kern, blocks, threads, out.reshape(-1), dst.reshape(-1), half)
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
        begin_call()

    def asarray(self, x):
        """``x`` as a Numba device array (host arrays are copied to the GPU).

        The first GPU input decides the call's stream (its producer's) and
        allocator (CuPy's pool for CuPy inputs).
        """
        kind = _kind_of(x)
        if self._kind is None or (self._kind == "numpy" and kind != "numpy"):
            self._kind, self._like = kind, x
            begin_call(kind, x)
        return as_device(x)

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
    def multiply(a, b):
        return multiply(a, b)

    @staticmethod
    def to_host(x):
        return to_host(x)

    @staticmethod
    def astype(x, dtype):
        return astype(x, dtype)

    @staticmethod
    def finalize(out, dtype, rounding):
        return finalize(out, dtype, rounding)

    def wrap(self, result, like):
        """``result`` as the kind of array the caller passed in.

        The kind is the one :meth:`asarray` saw (the GPU kind when inputs were
        mixed); ``like`` decides only when nothing was converted.
        """
        if self._kind is not None:
            kind, orig = self._kind, self._like
        else:
            kind, orig = _kind_of(like), like
        if not is_gpu_array(result):
            return result        # a host value the API made itself
        res = contiguous(as_device(result))
        if kind in ("numba", "cai"):
            return res
        if kind == "numpy":
            return res.copy_to_host()
        if kind == "torch":
            import torch
            return torch.as_tensor(res, device=orig.device)
        cp = _cupy()
        if cp is None:  # pragma: no cover - a CuPy or DLPack input implies CuPy
            return res
        y = cp.asarray(res)
        if kind == "dlpack":
            ns = getattr(orig, "__array_namespace__", None)
            if ns is not None:
                try:
                    return ns().from_dlpack(y)
                except Exception:  # noqa: BLE001 -- keep the CuPy array
                    pass
        return y


def ops() -> CudaOps:
    """GPU array operations for one call; raises when no CUDA device can be used."""
    if not available():
        raise RuntimeError("device='cuda' needs a CUDA GPU with a working driver and "
                           "numba-cuda (pip install numbaconv[cuda]); "
                           "none is available here")
    return CudaOps()
