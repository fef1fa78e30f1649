"""GPU run time: numbaconv's CUDA backends next to CuPy's and PyTorch's convolutions.

Every cell needs a real CUDA GPU; without one (or under the CUDA simulator)
``setup`` raises ``NotImplementedError`` and asv shows the cell as skipped.
Inputs live on the device (CuPy arrays when CuPy is installed, else Numba
device arrays) and are built in ``setup``, which also makes one call so
that compilation is never timed.  Each timed call synchronises the device.

* ``ConvolveCuda2D``: float32 'same', an image of ``SIDE_2D_CUDA`` squared
  (8192 with ``NUMBACONV_ASV_GRID=full``) times 3x3, 5x5 and 7x7 kernels;
* ``ConvolveCuda1D``: float32 'same', ``N_1D_CUDA`` samples (10**8 with the
  full grid) times a 31-tap kernel.

Implementations: ``numbaconv.direct``, ``numbaconv.fft`` (CuPy's cuFFT),
``cupyx.convolve2d`` / ``cupyx.convolve``, ``cupyx.fftconvolve`` and
``torch.conv`` (cuDNN, TF32 off, one channel, kernel flipped).
"""
from __future__ import annotations

import numpy as np

from . import GRID, SEED, skip

SIDE_2D_CUDA = {"full": 8192, "tiny": 256}.get(GRID, 2048)
N_1D_CUDA = {"full": 10**8, "tiny": 10**5}.get(GRID, 10**7)
IMPLS = ["numbaconv.direct", "numbaconv.fft", "cupyx.direct", "cupyx.fftconvolve", "torch.conv"]


def _gpu_or_skip():
    try:
        from numbaconv import _gpu
    except ImportError as exc:
        skip(f"numbaconv not importable: {exc}")
    if _gpu.simulator() or not _gpu.available():
        skip("no CUDA GPU")
    return _gpu


def _import_or_skip(name):
    try:
        return __import__(name, fromlist=["_"])
    except Exception:  # noqa: BLE001 -- missing, or built without CUDA
        skip(f"{name} is not installed")


def _factory(impl, a, k):
    """A zero-argument callable running ``impl`` on host arrays ``a``, ``k`` (moved to the GPU)."""
    gpu = _gpu_or_skip()
    ndim = a.ndim
    lib, _, what = impl.partition(".")
    if lib == "numbaconv":
        import numbaconv
        from numbaconv._backends import REGISTRY
        mod = REGISTRY.get(f"cuda_{what}")
        if mod is None or not mod.available():
            skip(f"no available CUDA backend for method {what!r}")
        try:
            import cupy as cp
            a_d, k_d = cp.asarray(a), cp.asarray(k)
        except ImportError:
            a_d, k_d = gpu.cuda().to_device(a), gpu.cuda().to_device(k)
        return lambda: numbaconv.convolve(a_d, k_d, mode="same", method=what, device="cuda")
    if lib == "cupyx":
        cp = _import_or_skip("cupy")
        sig = _import_or_skip("cupyx.scipy.signal")
        a_d, k_d = cp.asarray(a), cp.asarray(k)
        if what == "fftconvolve":
            return lambda: sig.fftconvolve(a_d, k_d, mode="same")
        if ndim == 2:
            return lambda: sig.convolve2d(a_d, k_d, mode="same")
        return lambda: sig.convolve(a_d, k_d, mode="same", method="direct")
    if impl == "torch.conv":
        torch = _import_or_skip("torch")
        if not torch.cuda.is_available():
            skip("torch has no CUDA")
        torch.backends.cudnn.allow_tf32 = False
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.benchmark = True
        flipped = np.ascontiguousarray(k[(slice(None, None, -1),) * ndim])
        ta = torch.as_tensor(a).cuda().reshape((1, 1) + a.shape)
        tk = torch.as_tensor(flipped).cuda().reshape((1, 1) + k.shape)
        conv = torch.nn.functional.conv2d if ndim == 2 else torch.nn.functional.conv1d

        def run():
            with torch.no_grad():
                return conv(ta, tk, padding="same")
        return run
    raise ValueError(impl)


class _CudaSuite:
    timeout = 600.0

    def _setup(self, impl, shape_a, shape_k):
        gpu = _gpu_or_skip()
        rng = np.random.default_rng(SEED)
        a = rng.standard_normal(shape_a, dtype=np.float32)
        k = rng.standard_normal(shape_k, dtype=np.float32)
        self.fn = _factory(impl, a, k)
        self.sync = gpu.cuda().synchronize
        try:
            self.fn()      # compile, plan, pick the cuDNN algorithm
        except NotImplementedError as exc:
            skip(str(exc))
        self.sync()

    def _time(self):
        self.fn()
        self.sync()


class ConvolveCuda2D(_CudaSuite):
    """float32 'same' 2-D convolution of a square image on the GPU."""

    params = (IMPLS, [3, 5, 7])
    param_names = ["impl", "k"]

    def setup(self, impl, k):
        self._setup(impl, (SIDE_2D_CUDA, SIDE_2D_CUDA), (k, k))

    def time_convolve(self, impl, k):
        self._time()


class ConvolveCuda1D(_CudaSuite):
    """float32 'same' 1-D convolution of a long signal on the GPU."""

    params = (IMPLS, [31])
    param_names = ["impl", "k"]

    def setup(self, impl, k):
        self._setup(impl, (N_1D_CUDA,), (k,))

    def time_convolve(self, impl, k):
        self._time()
