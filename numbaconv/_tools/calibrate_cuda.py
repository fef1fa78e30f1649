"""Calibration of the GPU backends' cost model (``numbaconv.calibrate`` on a GPU).

:func:`tasks` returns timing steps shaped like those of
:func:`numbaconv._calibrate._tasks`: ``(label, task(coeffs, rng))`` pairs.
Each step runs a backend's ``run`` on device arrays (the device is
synchronised before the clock stops) and solves that backend's own cost
formula for one coefficient:

* ``cuda_direct``: ``launch`` (a tiny problem: launch and host-side work),
  ``bandwidth`` (a one-tap correlation, pure memory traffic), ``mac[key]``
  per arithmetic type (a 2-D correlation with a large kernel, compute
  bound), ``h2d_latency`` and ``h2d_bandwidth`` (copies of a tiny and of a
  large host array, to the device and back);
* ``cuda_fft``, when CuPy can run it: ``overhead`` (a tiny problem),
  ``nlogn[key]`` per type, and ``bandwidth`` (the device bandwidth that the
  direct kernel reached).

The steps fill ``coeffs["cuda"]``, laid out as :func:`defaults` makes it:
``{"device": name, "cuda_direct": {...}, "cuda_fft": {...}}`` with the
layout of the backends' ``COSTS``.  :mod:`numbaconv._calibrate` stores that
section in its calibration file, checks it with :func:`validate` and puts it
in force with :func:`apply`.  Nothing here imports ``numba.cuda`` or CuPy at
import time: loading a calibration file never touches CUDA.
"""
from __future__ import annotations

import copy
import math

import numpy as np

from ._backends import cuda_direct, cuda_fft
from ._problem import build_problem

#: the GPU backends whose ``COSTS`` are calibrated, by name
BACKENDS = {"cuda_direct": cuda_direct, "cuda_fft": cuda_fft}

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

#: the shortest time a fit subtracts down to (seconds): keeps every
#: coefficient finite and positive when a measurement is noisier than its
#: signal (as in Numba's CUDA simulator)
_FLOOR = 1e-9


def enabled() -> bool:
    """Whether :func:`numbaconv.calibrate` should time the GPU backends here.

    Returns
    -------
    bool
        True with a usable CUDA GPU; False without one and in Numba's CUDA
        simulator (whose timings mean nothing).  Imports ``numba.cuda``.
    """
    from . import _gpu
    return not _gpu.simulator() and _gpu.available()


def defaults() -> dict:
    """The starting point of a GPU calibration: the coefficients in force.

    Returns
    -------
    dict
        ``{"device": name, "cuda_direct": COSTS, "cuda_fft": COSTS}`` (deep
        copies); the steps of :func:`tasks` overwrite what they measure.
    """
    from ._bench_cuda import _device_name
    section = {"device": _device_name()}
    for name, mod in BACKENDS.items():
        section[name] = copy.deepcopy(mod.COSTS)
    return section


def validate(section) -> None:
    """Check a ``"cuda"`` section of a calibration file.

    Parameters
    ----------
    section : object
        What the file holds under ``"cuda"``.

    Raises
    ------
    ValueError
        When a coefficient of the backends' ``COSTS`` layout is missing,
        not a number, not finite or not positive (``KeyError`` and
        ``TypeError`` for missing entries and wrong types).
    """
    if not isinstance(section, dict):
        raise ValueError(f"'cuda' section is a {type(section).__name__}, not a mapping")
    for name, mod in BACKENDS.items():
        got = section[name]
        for key, val in mod.COSTS.items():
            subs = [(f"{key}[{sub}]", got[key][sub]) for sub in val] if isinstance(val, dict) \
                else [(key, got[key])]
            for label, x in subs:
                x = float(x)
                if not (math.isfinite(x) and x > 0):
                    raise ValueError(f"cuda.{name}.{label} = {x!r}")


def apply(section) -> None:
    """Put a validated ``"cuda"`` section in force: update the backends' ``COSTS``.

    Parameters
    ----------
    section : dict
        A section that passed :func:`validate`; keys the backends do not
        know are ignored.
    """
    for name, mod in BACKENDS.items():
        for key, val in mod.COSTS.items():
            got = section[name][key]
            mod.COSTS[key] = ({sub: float(got[sub]) for sub in val} if isinstance(val, dict)
                              else float(got))
    from ._dispatch import clear_cache
    clear_cache()


def _case(shape_a, shape_k, mode, dtype, rng):
    """A problem on ``device='cuda'`` and its two inputs as device arrays."""
    from . import _gpu
    dtype = np.dtype(dtype)

    def data(shape):
        if dtype.kind in "iu":
            return rng.integers(-100, 100, shape).astype(dtype)
        x = rng.standard_normal(shape)
        if dtype.kind == "c":
            x = x + 1j * rng.standard_normal(shape)
        return x.astype(dtype)

    problem = build_problem(shape_a, shape_k, mode, dtype, device="cuda")
    return problem, _gpu.to_device(data(shape_a)), _gpu.to_device(data(shape_k))


def tasks(quick: bool = False, sizes=None) -> list:
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
        ``(label, task)`` pairs; ``task(coeffs, rng)`` fills
        ``coeffs["cuda"]`` (see :func:`defaults`), in order: the direct
        kernel's launch time first, as the later fits subtract it.
    """
    from . import _gpu
    from ._calibrate import _median_time
    sz = dict(SIZES["quick" if quick else "full"] if sizes is None else sizes)

    def measure(fn):
        """Median seconds of ``fn()`` with the device synchronised inside the timed call."""
        sync = _gpu.cuda().synchronize

        def call():
            fn()
            sync()
        return _median_time(call, repeat=sz["repeat"], min_time=sz["min_time"])

    def run(mod, problem, a, k):
        return measure(lambda: mod.run(problem, a, k, workers=1))

    def launch(c, rng):
        p, a, k = _case((sz["launch"],), (3,), "valid", np.float32, rng)
        c["cuda"]["cuda_direct"]["launch"] = run(cuda_direct, p, a, k)

    def bandwidth(c, rng):
        d = c["cuda"]["cuda_direct"]
        p, a, k = _case((sz["stream"],), (1,), "valid", np.float32, rng)
        t = run(cuda_direct, p, a, k)
        d["bandwidth"] = cuda_direct.work(p)[1] / max(t - d["launch"], _FLOOR)
        c["cuda"]["cuda_fft"]["bandwidth"] = d["bandwidth"]

    def mac(key, dtype):
        def task(c, rng):
            d = c["cuda"]["cuda_direct"]
            side, taps = sz["side"], sz["taps"]
            p, a, k = _case((side, side), (taps, taps), "valid", dtype, rng)
            t = run(cuda_direct, p, a, k)
            d["mac"][key] = max(t - d["launch"], _FLOOR) / cuda_direct.work(p)[0]
        return task

    def transfers(c, rng):
        d = c["cuda"]["cuda_direct"]
        cuda = _gpu.cuda()
        small, big = np.zeros(1), rng.standard_normal(sz["copy"])
        d_small, d_big = cuda.to_device(small), cuda.to_device(big)
        latency = max((measure(lambda: cuda.to_device(small))
                       + measure(lambda: d_small.copy_to_host())) / 2, _FLOOR)
        t_big = measure(lambda: cuda.to_device(big)) + measure(lambda: d_big.copy_to_host())
        d["h2d_latency"] = latency
        d["h2d_bandwidth"] = 2 * big.nbytes / max(t_big - 2 * latency, _FLOOR)

    def fft_overhead(c, rng):
        p, a, k = _case((sz["launch"],), (8,), "full", np.float64, rng)
        c["cuda"]["cuda_fft"]["overhead"] = run(cuda_fft, p, a, k)

    def fft_nlogn(key, dtype):
        def task(c, rng):
            f = c["cuda"]["cuda_fft"]
            n = sz["fft"]
            p, a, k = _case((n,), (n // 2,), "full", dtype, rng)
            t = run(cuda_fft, p, a, k)
            transforms, passes, _ = cuda_fft.work(p)
            rest = f["overhead"] + passes / f["bandwidth"]
            f["nlogn"][key] = max(t - rest, _FLOOR) / transforms
        return task

    steps = [("cuda launch", launch), ("cuda bandwidth", bandwidth)]
    steps += [(f"cuda direct {key}", mac(key, dt)) for key, dt in DIRECT_TYPES.items()]
    steps.append(("cuda transfers", transfers))
    if cuda_fft.available():
        steps.append(("cuda fft overhead", fft_overhead))
        steps += [(f"cuda fft {key}", fft_nlogn(key, dt)) for key, dt in FFT_TYPES.items()]
    return steps
