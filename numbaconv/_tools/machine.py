"""What machine the tools run on: CPU model and instruction set, GPU, library versions.

``numbaconv info`` prints it, ``numbaconv bench --json`` stores it with the
timings, and the GPU benchmark and calibration name the device with it.
"""
from __future__ import annotations

import os
import platform

import numpy as np


def cpu_model() -> str:
    """The CPU's marketing name (``/proc/cpuinfo``), else what :mod:`platform` knows."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _cpu_flags() -> set:
    """The host's instruction-set features: LLVM's view (what Numba compiles for), else Linux's."""
    try:
        from llvmlite import binding
        return {name for name, on in binding.get_host_cpu_features().items() if on}
    except Exception:  # noqa: BLE001 - an unknown host: fall back to the kernel's list
        pass
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.lower().startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def isa(flags=None) -> str:
    """``'AVX-512'``, ``'AVX2'`` or ``'other'``: the vector instruction set the kernels target.

    Examples
    --------
    >>> from numbaconv._tools.machine import isa
    >>> isa({"avx2", "fma"}), isa({"avx512f", "avx2"}), isa({"neon"})
    ('AVX2', 'AVX-512', 'other')
    """
    flags = _cpu_flags() if flags is None else set(flags)
    if "avx512f" in flags:
        return "AVX-512"
    if "avx2" in flags:
        return "AVX2"
    return "other"


def kernel_target() -> dict:
    """What the kernels are built for, as a flat dict.

    Their instruction-set class (and what chose it), Numba's target CPU, the
    vector and accumulator-block bytes, and the coefficient table in force.
    """
    from .. import _coefficients
    from .._jit import target
    from .._kernels import simd
    t = target()
    return {"kernel_isa": f"{t.isa} ({t.source})", "numba_target_cpu": t.cpu,
            "vector_bytes": simd.VEC_BYTES, "block_bytes": simd.BLOCK_BYTES,
            "coefficients": _coefficients.source()}


def numba_threading_layer() -> str:
    """The threading layer Numba uses, or what it is configured to use."""
    import numba
    try:
        return numba.threading_layer()
    except ValueError:  # not initialised: no parallel kernel has run yet
        return f"not initialised (configured: {numba.config.THREADING_LAYER})"


def environment() -> dict:
    """Versions, CPU, the kernels' target and Numba's threading, as a flat dict.

    The CPU's model, instruction set and count; the kernels' class, vector and
    block bytes and coefficient table (:func:`kernel_target`).
    """
    import numba
    import scipy
    from importlib.metadata import PackageNotFoundError, version
    try:
        nc_version = version("numbaconv")
    except PackageNotFoundError:
        nc_version = "unknown (not installed)"
    return {
        "numbaconv": nc_version,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "numba": numba.__version__,
        "platform": platform.platform(),
        "cpu": cpu_model(),
        "isa": isa(),
        **kernel_target(),
        "cpu_count": os.cpu_count(),
        "numba_num_threads": numba.config.NUMBA_NUM_THREADS,
        "numba_threading_layer": numba_threading_layer(),
    }


def gpu_unusable() -> str | None:
    """``None`` when a real CUDA GPU can be timed here, else why not (imports ``numba.cuda``)."""
    try:
        from .. import _gpu
        if _gpu.simulator():
            return "NUMBA_ENABLE_CUDASIM is set: the simulator cannot be benchmarked"
        if not _gpu.available():
            return "no CUDA GPU is available (numba.cuda.is_available() is False)"
    except Exception as exc:  # noqa: BLE001 - a broken CUDA install is a reason too
        return f"numba.cuda cannot be used: {exc}"
    return None


def gpu_name() -> str:
    """The current CUDA device's name, ``'unknown'`` when there is none."""
    try:
        from .. import _gpu
        name = _gpu.cuda().get_current_device().name
        return name.decode() if isinstance(name, bytes) else str(name)
    except Exception:  # noqa: BLE001 - a name is informative only
        return "unknown"


def gpu_library(name: str):
    """``(module, None)`` when CuPy or torch (``name``) is installed and reaches a CUDA device.

    Otherwise ``(None, why)``.  CuPy imports without a driver and fails only
    at its first call (``cudaErrorInsufficientDriver``), so a tiny array is
    made and read back: a library that cannot do that is an absent peer.
    """
    import importlib
    try:
        mod = importlib.import_module(name)
    except Exception as exc:  # noqa: BLE001 - missing, or built for another CUDA
        return None, f"{name} is not importable ({type(exc).__name__}: {exc})"
    try:
        if name == "torch":
            if not mod.cuda.is_available():
                return None, "torch.cuda.is_available() is False"
            mod.zeros(1, device="cuda").cpu()
        else:
            mod.asnumpy(mod.asarray(np.zeros(1)))
    except Exception as exc:  # noqa: BLE001 - no driver, no device, a broken install
        return None, f"{name} cannot reach a CUDA device ({type(exc).__name__}: {exc})"
    return mod, None
