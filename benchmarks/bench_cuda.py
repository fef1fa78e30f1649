"""GPU run time: numbaconv's CUDA backends next to CuPy's and PyTorch's convolutions.

Every cell needs a real CUDA GPU; without one (or under the CUDA simulator)
``setup`` raises ``NotImplementedError`` and asv shows the cell as skipped.
The sizes and the implementations are those of ``numbaconv bench --device
cuda`` (:mod:`numbaconv._tools.bench_cuda`: its ``'full'`` sizes with
``NUMBACONV_ASV_GRID=full``, ``'tiny'`` with ``tiny``, else ``'quick'``).
Inputs live on the device and are built in ``setup``, which also makes one
call so that compilation is never timed.  Each timed call synchronises the
device.

* ``ConvolveCuda2D``: float32 'same', a square image times 3x3, 5x5 and 7x7
  kernels;
* ``ConvolveCuda1D``: float32 'same', a long signal times a 31-tap kernel.
"""
from __future__ import annotations

import numpy as np
from numbaconv import _gpu
from numbaconv._tools import bench_cuda
from numbaconv._tools.machine import gpu_unusable

from . import GRID, SEED, skip

SIDE_2D_CUDA, _, N_1D_CUDA, _ = bench_cuda.SIZES.get(GRID, bench_cuda.SIZES["quick"])


class _CudaSuite:
    timeout = 600.0

    def _setup(self, impl, shape_a, shape_k):
        reason = gpu_unusable()
        if reason:
            skip(reason)
        rng = np.random.default_rng(SEED)
        a = rng.standard_normal(shape_a, dtype=np.float32)
        k = rng.standard_normal(shape_k, dtype=np.float32)
        fns = bench_cuda.implementations(a.ndim, a, k, bench_cuda.to_device(a),
                                         bench_cuda.to_device(k))
        if impl not in fns:
            skip(f"{impl} is not installed or cannot run here")
        self.fn = fns[impl]
        self.sync = _gpu.cuda().synchronize
        self.fn()      # compile, plan, pick the cuDNN algorithm
        self.sync()

    def _time(self):
        self.fn()
        self.sync()


class ConvolveCuda2D(_CudaSuite):
    """float32 'same' 2-D convolution of a square image on the GPU."""

    params = (list(bench_cuda.IMPLS), [3, 5, 7])
    param_names = ["impl", "k"]

    def setup(self, impl, k):
        self._setup(impl, (SIDE_2D_CUDA, SIDE_2D_CUDA), (k, k))

    def time_convolve(self, impl, k):
        self._time()


class ConvolveCuda1D(_CudaSuite):
    """float32 'same' 1-D convolution of a long signal on the GPU."""

    params = (list(bench_cuda.IMPLS), [31])
    param_names = ["impl", "k"]

    def setup(self, impl, k):
        self._setup(impl, (N_1D_CUDA,), (k,))

    def time_convolve(self, impl, k):
        self._time()
