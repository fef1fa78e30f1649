"""FFT correlation on a CUDA GPU through CuPy's cuFFT plans.

The GPU twin of :mod:`.cpu_fft`: the canonical correlation of ``A`` with
``K`` is the convolution of ``A`` with ``K`` flipped along the correlated
axes.  Real input uses ``cupy.fft.rfftn``/``irfftn`` (half the work and
memory of complex transforms), complex input ``fftn``/``ifftn``, at
5-smooth lengths (:func:`scipy.fft.next_fast_len`, which cuFFT handles with
its fast radix-2/3/5 kernels).  Axes that are not correlated broadcast.
Integers and bool are transformed in float64, float16 in float32, as SciPy
does.  CuPy is imported lazily: without it the backend is unavailable.
"""
from __future__ import annotations

import math

import numpy as np

from .. import _coefficients as coef
from .._problem import Problem, fft_result_dtype
from .cuda_direct import transfer_cost

NAME = "cuda_fft"
DEVICE = "cuda"
METHOD = "fft"

def costs() -> dict:
    """This backend's coefficients in force (``_coefficients.DEFAULTS['cuda']['cuda_fft']``)."""
    return coef.coefficients()["cuda"][NAME]


def _cupy():
    import cupy
    return cupy


_available = None


def available() -> bool:
    """CuPy importable and a CUDA device present (not the simulator)."""
    global _available
    if _available is None:
        try:
            from .. import _gpu
            if not _gpu.available() or _gpu.simulator():
                _available = False
            else:
                cp = _cupy()
                _available = cp.cuda.runtime.getDeviceCount() > 0
        except Exception:  # noqa: BLE001 -- ImportError, no driver, ...
            _available = False
    return _available


def supports(problem: Problem) -> bool:
    return (problem.device == "cuda" and problem.zero_fill and problem.kind in "biufc"
            and problem.dtype not in (np.dtype(np.longdouble), np.dtype(np.clongdouble)))


def work(problem: Problem):
    """What the cost model counts: ``(transform work, bytes of the extra passes, key)``.

    The transform work is ``3 N log2 N`` (halved for real input), to be
    multiplied by ``costs()['nlogn'][key]``.
    """
    real = problem.kind != "c"
    fshape = problem.fft_shape(real=real)
    batch = math.prod(max(problem.shape_a[ax], problem.shape_k[ax])
                      for ax in range(problem.ndim) if ax not in problem.axes)
    n = math.prod(fshape) * batch
    dt = fft_result_dtype(problem.dtype, problem.dtype)
    half = 0.5 if real else 1.0
    nlogn = n * math.log2(max(math.prod(fshape), 2))
    return 3 * nlogn * half, 6 * n * dt.itemsize * half, coef.fft_key(dt)


def cost(problem: Problem, workers=None) -> float:
    """Predicted seconds: three transforms, the padding and product passes, transfers.

    ``workers`` (host threads) does not matter on the GPU.
    """
    c = costs()
    transforms, passes, key = work(problem)
    return (c["overhead"] + transforms * c["nlogn"][key] + passes / c["bandwidth"]
            + transfer_cost(problem))


def run(problem: Problem, a, k, *, workers: int):
    """Correlate ``a`` with ``k`` by FFT on the GPU; return the requested window.

    ``a`` and ``k`` are device arrays; the result is a contiguous Numba
    device array sharing CuPy's memory (from its pool), computed on the
    call's stream without a host synchronisation.
    """
    from .. import _gpu
    cp = _cupy()
    ptr = _gpu.launch_stream_pointer()
    if ptr:          # the producer's stream (torch's, say): cuFFT runs there too
        with cp.cuda.ExternalStream(ptr):
            return _run(cp, problem, a, k)
    return _run(cp, problem, a, k)


def _run(cp, problem, a, k):
    from scipy.fft import next_fast_len

    from .. import _gpu
    dtype = fft_result_dtype(a.dtype, k.dtype)
    axes = list(problem.axes)
    # CuPy views of the inputs (no copy, no host sync; CuPy inputs are CuPy arrays already)
    A = cp.asarray(a).astype(dtype, copy=False)
    K = cp.flip(cp.asarray(k).astype(dtype, copy=False), axis=tuple(axes))
    if not axes:
        full = A * K
    else:
        shape = [A.shape[ax] + K.shape[ax] - 1 for ax in axes]
        if dtype.kind == "c":
            fshape = [next_fast_len(s, False) for s in shape]
            spec = cp.fft.fftn(A, fshape, axes=axes) * cp.fft.fftn(K, fshape, axes=axes)
            full = cp.fft.ifftn(spec, fshape, axes=axes)
        else:
            fshape = [next_fast_len(s, True) for s in shape]
            spec = cp.fft.rfftn(A, fshape, axes=axes) * cp.fft.rfftn(K, fshape, axes=axes)
            del A, K
            full = cp.fft.irfftn(spec, fshape, axes=axes)
        del spec
    full = full.astype(dtype, copy=False)
    idx = tuple(slice(o, o + n) for o, n in zip(problem.origin, problem.out_shape))
    return _gpu.wrap_cai(cp.ascontiguousarray(full[idx]))
