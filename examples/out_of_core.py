"""Out of core: blur an image several times larger than the memory the process uses.

The input is a Zarr store on disk (written chunk by chunk from Dask's random
generator, so it never exists in memory either); ``numbaconv.dask.convolve``
reads it a chunk and its halo at a time, runs numbaconv's dispatcher on each
(the 31x31 Gaussian here is rank 1: two 1-D passes), and the result goes
back to a Zarr store chunk by chunk (:func:`dask.array.store`, one band of
chunk rows at a time), under Dask's progress bar.  At the end the script reads a few windows of both stores
back, checks them against :func:`scipy.signal.convolve2d` on the same
window of the input (its halo included, the image's mirrored edge where the
window touches it), and prints the peak resident memory of the process
(``getrusage``) next to the array's size.

Run ``python examples/out_of_core.py`` for a 16384 x 32768 float32 image
(2 GiB in, 2 GiB out; about a minute on two cores), ``--size 8192`` for a
smaller one, ``--small`` for a quick 512 x 1024 check; ``--dir`` picks where
the stores go (a temporary directory by default, removed afterwards).
"""
from __future__ import annotations

import argparse
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import scipy.signal

KERNEL_SIDE = 31
#: chunk rows and columns: 4 MiB of float32, the halo of 15 rows a small share
CHUNK = (256, 4096)


def gaussian_kernel(side, sigma):
    """Return a normalised ``side x side`` Gaussian (float32)."""
    t = np.arange(side) - (side - 1) / 2
    g = np.exp(-0.5 * (t / sigma) ** 2)
    k = np.outer(g, g)
    return (k / k.sum()).astype(np.float32)


def peak_rss_bytes() -> int:
    """Peak resident set size of this process (Linux reports KiB, macOS bytes)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024


def write_input(path, shape, chunk, seed=0):
    """Write a reproducible random image to a Zarr store chunk by chunk."""
    import dask.array as da
    rng = da.random.default_rng(seed)
    image = rng.standard_normal(shape, dtype=np.float32, chunks=chunk)
    image.to_zarr(str(path), overwrite=True)


def write_in_bands(result, path, band_rows):
    """Store ``result`` to a new Zarr array band by band of rows, each band one computation.

    Dask's ordering of an overlap graph may read most input chunks before it
    writes the first output (a plain ``to_zarr`` of the whole result held
    about the whole array here); one band at a time holds that band and the
    halo rows around it.
    """
    import dask.array as da
    import zarr
    from dask.diagnostics import ProgressBar
    out = zarr.open_array(str(path), mode="w", shape=result.shape, dtype=result.dtype,
                          chunks=result.chunksize)
    with ProgressBar(dt=1.0):
        for r0 in range(0, result.shape[0], band_rows):
            band = slice(r0, min(r0 + band_rows, result.shape[0]))
            da.store(result[band], out, regions=(band,), lock=False)
    return out


def check_windows(src, dst, kernel, windows):
    """Largest |error| of ``dst`` against convolve2d on each window of ``src`` (mirrored edges)."""
    h = kernel.shape[0] // 2
    worst = 0.0
    for r0, c0, size in windows:
        rows = np.arange(r0 - h, r0 + size + h)
        cols = np.arange(c0 - h, c0 + size + h)
        n, m = src.shape
        # 'symm' past the edges: index -1 reads 0, -2 reads 1, n reads n - 1 ...
        rows = np.where(rows < 0, -rows - 1, np.where(rows >= n, 2 * n - rows - 1, rows))
        cols = np.where(cols < 0, -cols - 1, np.where(cols >= m, 2 * m - cols - 1, cols))
        block = np.asarray(src[rows.min():rows.max() + 1, cols.min():cols.max() + 1])
        block = block[np.ix_(rows - rows.min(), cols - cols.min())].astype(np.float64)
        expected = scipy.signal.convolve2d(block, kernel.astype(np.float64), "valid")
        got = np.asarray(dst[r0:r0 + size, c0:c0 + size], dtype=np.float64)
        assert got.shape == expected.shape
        worst = max(worst, float(np.abs(got - expected).max()))
    return worst


def main(argv=None):
    """Run the example; returns the sizes, peak memory, time and largest error found."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--size", type=int, default=16384,
                   help="rows of the image (twice as many columns; default 16384: 2 GiB)")
    p.add_argument("--small", action="store_true", help="a 512 x 1024 image in 64 x 128 chunks")
    p.add_argument("--dir", default=None, help="where to write the Zarr stores")
    args = p.parse_args(argv)

    import dask
    import dask.array as da
    import numbaconv.dask

    rows = 512 if args.small else args.size
    chunk = (64, 128) if args.small else CHUNK
    shape = (rows, 2 * rows)
    workdir = Path(args.dir) if args.dir else Path(tempfile.mkdtemp(prefix="numbaconv-ooc-"))
    workdir.mkdir(parents=True, exist_ok=True)
    src_path, dst_path = workdir / "image.zarr", workdir / "blurred.zarr"
    kernel = gaussian_kernel(KERNEL_SIDE, sigma=5.0)
    array_bytes = int(np.prod(shape)) * 4
    try:
        with dask.config.set(scheduler="threads"):
            write_input(src_path, shape, chunk)
            image = da.from_zarr(str(src_path))
            # chunks run in parallel already: one numbaconv thread each
            blurred = numbaconv.dask.convolve(image, kernel, mode="same", boundary="symm",
                                              workers=1)
            t0 = time.perf_counter()
            write_in_bands(blurred, dst_path, chunk[0])
            elapsed = time.perf_counter() - t0
        peak = peak_rss_bytes()
        import zarr
        src, dst = zarr.open_array(str(src_path), mode="r"), zarr.open_array(str(dst_path), mode="r")
        assert dst.shape == src.shape and dst.dtype == np.float32
        last_r, last_c = shape[0] - 40, shape[1] - 40
        windows = [(0, 0, 40), (chunk[0] - 20, chunk[1] - 20, 40), (last_r, last_c, 40),
                   (shape[0] // 2, 0, 40)]
        worst = check_windows(src, dst, kernel, windows)
        assert worst < 1e-4, f"out-of-core result differs from convolve2d by {worst}"
    finally:
        if args.dir is None:
            shutil.rmtree(workdir, ignore_errors=True)
    result = {"shape": shape, "chunks": chunk, "array_bytes": array_bytes,
              "peak_rss_bytes": peak, "seconds": elapsed, "max_abs_error": worst}
    print(f"image {shape[0]} x {shape[1]} float32 = {array_bytes / 2**20:,.0f} MiB "
          f"(and as much written); peak resident memory {peak / 2**20:,.0f} MiB; "
          f"convolution and write {elapsed:.1f} s; largest error {worst:.2g}")
    return result


if __name__ == "__main__":
    main()
