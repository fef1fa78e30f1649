"""Peak memory (asv ``peakmem_``) of the FFT-based convolutions.

asv reports the peak resident set size of the whole benchmark process, so
the baseline (interpreter, NumPy, SciPy, Numba, the inputs) is included.
To keep the rows comparable every cell -- SciPy's too -- imports numbaconv
and warms the same numbaconv function on a small input in ``setup``: the
baseline then holds the loaded kernels everywhere, and differences between
rows are the working memory of the call itself.  Inputs are large enough
(tens of MB) for that to dominate.
"""
from __future__ import annotations

import numbaconv
import scipy.signal

from . import DTYPES, GRID, call_or_skip, inputs

_CASES = {
    # name: (signal shape, kernel shape, mode)
    "1d-2M-k1001": ((2_000_000,), (1001,), "full"),
    "1d-2M-k30001": ((2_000_000,), (30_001,), "full"),
    "2d-2048-k31": ((2048, 2048), (31, 31), "same"),
}
if GRID == "tiny":
    _CASES = {"1d-20k-k101": ((20_000,), (101,), "full")}


class PeakMemFFT:
    params = [["numbaconv.fftconvolve", "numbaconv.oaconvolve",
               "scipy.fftconvolve", "scipy.oaconvolve"],
              list(_CASES), DTYPES]
    param_names = ["impl", "case", "dtype"]
    timeout = 600.0

    def setup(self, impl, case, dtype):
        lib, _, func = impl.partition(".")
        shape_a, shape_k, mode = _CASES[case]
        small_a, small_k = inputs(tuple(min(s, 64) for s in shape_a),
                                  tuple(min(s, 5) for s in shape_k), dtype)
        nc_fn = getattr(numbaconv, func)
        call_or_skip(lambda: nc_fn(small_a, small_k, mode=mode))  # same baseline for all
        fn = nc_fn if lib == "numbaconv" else getattr(scipy.signal, func)
        self.a, self.k = inputs(shape_a, shape_k, dtype)
        self.mode = mode
        self.fn = fn

    def peakmem_convolve(self, impl, case, dtype):
        self.fn(self.a, self.k, mode=self.mode)
