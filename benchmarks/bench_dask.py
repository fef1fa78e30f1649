"""numbaconv.dask next to dask-image on a chunked image (the cells of ``numbaconv bench --dask``).

A square float image in 4 x 4 chunks, 'same' mode with mirrored edges
(numbaconv's ``boundary='symm'``, dask-image's ``mode='reflect'``), on Dask's
threaded scheduler; inputs and callables are
:mod:`numbaconv._tools.bench_dask`'s.  The default and full grids take the
4096² image with 15², 31² and 63² kernels (dask-image takes minutes per call
at 63²); ``NUMBACONV_ASV_GRID=tiny`` a 128² image with 3² and 7² kernels.
``setup`` builds the graph and computes it once (JIT compile); Dask or
dask-image missing skips the cell.
"""
from __future__ import annotations

from numbaconv._tools import bench_dask

from . import DTYPES, GRID, skip

_GRID = "tiny" if GRID == "tiny" else "full"
SIDE = bench_dask.SIDES[_GRID]


class _DaskSuite:
    params = [["numbaconv.dask", "dask_image"], list(bench_dask.KERNELS[_GRID]), DTYPES]
    param_names = ["impl", "kernel", "dtype"]
    timeout = 1800.0
    number = 1
    repeat = (1, 3, 600.0)

    def setup(self, impl, kernel, dtype):
        try:
            x, kern = bench_dask.inputs(SIDE, kernel, dtype)
        except ImportError:
            skip("dask is not installed")
        if impl == "numbaconv.dask":
            self.fn = bench_dask.numbaconv_call(x, kern)
        else:
            ndfilters = bench_dask.import_dask_image()
            if ndfilters is None:
                skip("dask-image is not installed")
            self.fn = bench_dask.dask_image_call(ndfilters, x, kern)
        self.fn()


class DaskConvolve(_DaskSuite):
    """Seconds per ``compute()`` of the 'same' convolution of the whole image."""

    def time_convolve(self, impl, kernel, dtype):
        """Compute the whole image once."""
        self.fn()
