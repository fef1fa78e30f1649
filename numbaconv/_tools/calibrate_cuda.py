"""Calibration of the GPU backends' cost model (``numbaconv.calibrate`` on a GPU).

:func:`steps` returns timing steps shaped like those of
:func:`numbaconv._tools.calibrate.cpu_steps`: ``(label, step(coeffs, rng))``
pairs.  Each step times the public call, ``numbaconv.convolve(a, k, mode,
method=..., device='cuda')`` (the device synchronised before the clock
stops), and solves that backend's own cost formula (its public ``work()``
counts) for one coefficient.  Timing the public call rather than
``backend.run`` prices what a user pays: input checks, dispatch, the
output's allocation and cast, and for host arrays the copies, so that
``device='auto'`` does not underprice the GPU.

* ``cuda_direct``: ``launch`` (a tiny problem on device arrays: the launch
  and the host-side work of the call), ``bandwidth`` (a one-tap
  correlation, pure memory traffic), ``mac[key]`` per arithmetic type (a
  2-D correlation with a large kernel, compute bound), ``h2d_latency`` and
  ``h2d_bandwidth`` (the tiny and a large one-tap problem on host arrays,
  less the same on device arrays: the copies there and back);
* ``cuda_fft``, when CuPy can run it: ``overhead`` (a tiny problem),
  ``nlogn[key]`` per type, and ``bandwidth`` (the device bandwidth that the
  direct kernel reached).

Device arrays are CuPy's where CuPy reaches the device (most callers' kind),
else Numba's.  The steps fill ``coeffs["cuda"]``, the layout of
``numbaconv._coefficients.DEFAULTS["cuda"]``, which validates and stores it
with the rest.  Nothing here imports ``numba.cuda`` or CuPy at import time.
"""
from __future__ import annotations

import numpy as np

import math

from .. import _api, _gpu
from .._backends import cuda_direct, cuda_fft
from .._problem import build_problem
from .._timing import median_time
from .bench_cuda import to_device
from .grids import draw
from .machine import gpu_library
from .timing import synchronized

#: problem sizes per grid: 1-D lengths of the launch and streaming problems,
#: the 2-D side and kernel side of the multiply-add problems, float64
#: elements copied for the transfer bandwidth, the 1-D FFT length, and the
#: timer's repeats and minimum time per sample (seconds)
SIZES = {
    "full": {"launch": 256, "stream": 1 << 24, "side": 2048, "taps": 17, "copy": 1 << 23,
             "fft": 1 << 22, "repeat": 5, "min_time": 0.02},
    "quick": {"launch": 256, "stream": 1 << 22, "side": 1024, "taps": 17, "copy": 1 << 21,
              "fft": 1 << 20, "repeat": 3, "min_time": 0.01},
}

#: arithmetic types of the direct kernel and of cuFFT, by cost key
DIRECT_TYPES = {"f4": np.float32, "f8": np.float64, "c8": np.complex64,
                "c16": np.complex128, "i8": np.int64}
FFT_TYPES = {"f4": np.float32, "f8": np.float64, "c8": np.complex64, "c16": np.complex128}

#: the shortest residual time a fit divides (seconds), CPU and GPU alike: keeps
#: every coefficient finite and positive when a measurement is noisier than
#: its signal (as in Numba's CUDA simulator)
FLOOR = 1e-9


def enabled() -> bool:
    """Whether :func:`numbaconv.calibrate` should time the GPU backends here.

    Returns
    -------
    bool
        True with a usable CUDA GPU; False without one and in Numba's CUDA
        simulator (whose timings mean nothing).  Imports ``numba.cuda``.
    """
    return not _gpu.simulator() and _gpu.available()


def steps(quick: bool = False, sizes=None) -> list:
    """The GPU calibration steps.

    Parameters
    ----------
    quick : bool, optional
        Use the ``'quick'`` grid of :data:`SIZES` instead of ``'full'``.
    sizes : dict, optional
        A grid of one's own, with the keys of :data:`SIZES` entries (tests
        use tiny ones in the CUDA simulator).

    Returns
    -------
    list of (str, callable)
        ``(label, step)`` pairs; ``step(coeffs, rng)`` fills
        ``coeffs["cuda"]``, in order: the direct kernel's launch time
        first, as the later fits subtract it.
    """
    sz = dict(SIZES["quick" if quick else "full"] if sizes is None else sizes)
    peers = {"cupy": gpu_library("cupy")}

    def case(shape_a, shape_k, mode, dtype, rng):
        """A problem on ``device='cuda'`` and its two inputs on the host."""
        problem = build_problem(shape_a, shape_k, mode, np.dtype(dtype), device="cuda")
        return problem, draw(rng, shape_a, dtype), draw(rng, shape_k, dtype)

    def call(method, mode, a, k):
        """Median seconds of the public call, the device synchronised inside the timed call."""
        fn = synchronized(lambda: _api.convolve(a, k, mode, method=method, device="cuda"),
                          _gpu.cuda().synchronize)
        return median_time(fn, repeat=sz["repeat"], min_time=sz["min_time"])

    def on_device(method, mode, a, k):
        return call(method, mode, to_device(a, peers), to_device(k, peers))

    def launch(c, rng):
        p, a, k = case((sz["launch"],), (3,), "valid", np.float32, rng)
        c["cuda"]["cuda_direct"]["launch"] = on_device("direct", "valid", a, k)

    def bandwidth(c, rng):
        d = c["cuda"]["cuda_direct"]
        p, a, k = case((sz["stream"],), (1,), "valid", np.float32, rng)
        t = on_device("direct", "valid", a, k)
        d["bandwidth"] = cuda_direct.work(p)[1] / max(t - d["launch"], FLOOR)
        c["cuda"]["cuda_fft"]["bandwidth"] = d["bandwidth"]

    def mac(key, dtype):
        def step(c, rng):
            d = c["cuda"]["cuda_direct"]
            side, taps = sz["side"], sz["taps"]
            p, a, k = case((side, side), (taps, taps), "valid", dtype, rng)
            t = on_device("direct", "valid", a, k)
            d["mac"][key] = max(t - d["launch"], FLOOR) / cuda_direct.work(p)[0]
        return step

    def transfers(c, rng):
        # host arrays less device arrays: what cuda_direct.transfer_cost adds, 3 copies' latency
        # plus the bytes of the inputs and the output over the bus
        d = c["cuda"]["cuda_direct"]
        p, a, k = case((sz["launch"],), (3,), "valid", np.float32, rng)   # launch's problem
        latency = max((call("direct", "valid", a, k) - d["launch"]) / 3, FLOOR)
        p, a, k = case((sz["copy"],), (1,), "valid", np.float64, rng)
        big = call("direct", "valid", a, k) - on_device("direct", "valid", a, k)
        nbytes = (math.prod(p.shape_a) + math.prod(p.shape_k) + p.outputs) * a.itemsize
        d["h2d_latency"] = latency
        d["h2d_bandwidth"] = nbytes / max(big - 3 * latency, FLOOR)

    def fft_overhead(c, rng):
        p, a, k = case((sz["launch"],), (8,), "full", np.float64, rng)
        c["cuda"]["cuda_fft"]["overhead"] = on_device("fft", "full", a, k)

    def fft_nlogn(key, dtype):
        def step(c, rng):
            f = c["cuda"]["cuda_fft"]
            n = sz["fft"]
            p, a, k = case((n,), (n // 2,), "full", dtype, rng)
            t = on_device("fft", "full", a, k)
            transforms, passes, _ = cuda_fft.work(p)
            rest = f["overhead"] + passes / f["bandwidth"]
            f["nlogn"][key] = max(t - rest, FLOOR) / transforms
        return step

    out = [("cuda launch", launch), ("cuda bandwidth", bandwidth)]
    out += [(f"cuda direct {key}", mac(key, dt)) for key, dt in DIRECT_TYPES.items()]
    out.append(("cuda transfers", transfers))
    if cuda_fft.available():
        out.append(("cuda fft overhead", fft_overhead))
        out += [(f"cuda fft {key}", fft_nlogn(key, dt)) for key, dt in FFT_TYPES.items()]
    return out
