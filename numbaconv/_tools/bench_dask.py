"""``numbaconv bench --dask``: numbaconv.dask against dask-image on a large chunked image.

For a square 2-D image of :data:`SIDES` (4096² by default: four times the
side of the other grids' largest 2-D cell but one) in chunks of a quarter
side, kernels of :data:`KERNELS` (15², 31², 63²), float32 and float64, the
command

1. builds the same Dask array for both libraries, with the same chunks,
2. computes :func:`numbaconv.dask.convolve` (``boundary='symm'``, ``mode='same'``)
   and ``dask_image.ndfilters.convolve`` (``mode='reflect'``: the same
   mirrored edge) on Dask's threaded scheduler, and checks one against the
   other with the tolerance table
   (:func:`numbaconv._tools.tolerance.allowed_error`), marking a row that
   disagrees and making the exit status 1,
3. times both round-robin (:func:`numbaconv._tools.timing.interleaved`,
   medians) and reports dask-image's time over numbaconv's.

dask-image is a benchmark peer, not a dependency: without it numbaconv.dask
is timed alone, with a message.  ``--quick`` takes a 1024² image, the
hidden ``--tiny`` a 128² image and small kernels (the tests).  The asv suite
``benchmarks/bench_dask.py`` times the same cells.

Exit status: 0 when every row agrees, 1 when one does not, 2 on a usage error.
"""
from __future__ import annotations

import datetime
import importlib.util
import json
import sys
import time

import numpy as np

from . import checks, grids, machine
from .formatting import seconds
from .timing import interleaved
from .tolerance import allowed_error, compare, eps

#: image side per grid
SIDES = {"full": 4096, "quick": 1024, "tiny": 128}
#: kernel sides per grid
KERNELS = {"full": (15, 31, 63), "quick": (15, 31, 63), "tiny": (3, 7)}
#: chunks per side
CHUNKS_PER_SIDE = 4
#: the scheduler both libraries run on
SCHEDULER = "threads"


def import_dask_image():
    """``dask_image.ndfilters``, or ``None`` when dask-image is not installed."""
    try:
        import dask_image.ndfilters as ndfilters
    except ImportError:
        return None
    return ndfilters


def inputs(side: int, k: int, dtype, chunks_per_side: int = CHUNKS_PER_SIDE):
    """``(dask image, NumPy kernel)``: reproducible, the image in ``chunks_per_side``² chunks."""
    import dask.array as da
    a, kern = grids.inputs((side, side), (k, k), dtype)
    return da.from_array(a, chunks=max(1, side // chunks_per_side)), kern


def numbaconv_call(x, kern, workers=None):
    """numbaconv.dask's 'same' convolution with mirrored edges, computed on :data:`SCHEDULER`."""
    from .. import dask as nc_dask
    y = nc_dask.convolve(x, kern, mode="same", boundary="symm", workers=workers)
    return lambda: y.compute(scheduler=SCHEDULER)


def dask_image_call(ndfilters, x, kern):
    """dask-image's convolution with the same edges (``mode='reflect'``), same chunks and scheduler."""
    y = ndfilters.convolve(x, kern, mode="reflect")
    return lambda: y.compute(scheduler=SCHEDULER)


def _remember(fn, store, name):
    """``fn`` that keeps its last result in ``store[name]`` (the check needs no extra call)."""
    def call():
        store[name] = fn()
        return store[name]
    return call


def bench_cell(side, k, dtype, *, repeat, max_time, workers, ndfilters) -> dict:
    """Time and check one image side, kernel side and dtype."""
    x, kern = inputs(side, k, dtype)
    results = {}
    fns = {"numbaconv": _remember(numbaconv_call(x, kern, workers), results, "numbaconv")}
    if ndfilters is not None:
        fns["dask-image"] = _remember(dask_image_call(ndfilters, x, kern), results, "dask-image")
    times = interleaved(fns, repeat, max_time)
    row = {"side": side, "k": k, "dtype": dtype, "chunks": x.chunksize,
           "numbaconv_s": times["numbaconv"], "dask_image_s": times.get("dask-image"),
           "speedup": None, "agree": True, "error": ""}
    if ndfilters is not None:
        row["speedup"] = times["dask-image"] / times["numbaconv"]
        magnitude = numbaconv_call(abs(x).astype(np.float64), np.abs(kern).astype(np.float64))()
        bound = allowed_error(magnitude, eps(dtype), k * k, int(np.prod(x.chunksize)))
        check = compare(results["numbaconv"], results["dask-image"], bound)
        row["agree"], row["error"] = check["agree"], check["reason"]
    return row


def print_table(rows, *, file=None) -> None:
    """Print the rows as an aligned text table, then every disagreement."""
    head = ("image", "kernel", "dtype", "chunks", "numbaconv.dask", "dask-image", "speed-up", "agree")
    lines = [head]
    for r in rows:
        lines.append((f"{r['side']}²", f"{r['k']}²", r["dtype"], "x".join(map(str, r["chunks"])),
                      seconds(r["numbaconv_s"]), seconds(r["dask_image_s"]),
                      "-" if r["speedup"] is None else f"{r['speedup']:.1f}x",
                      "yes" if r["agree"] else "NO"))
    widths = [max(len(str(line[i])) for line in lines) for i in range(len(head))]
    for line in lines:
        print("  ".join(str(c).rjust(w) for c, w in zip(line, widths)), file=file)
    for r in rows:
        if not r["agree"]:
            print(f"DISAGREES: {r['side']}² k={r['k']} {r['dtype']}: {r['error']}", file=file)


def _usage_error(args):
    """Why these options cannot run (a message), or ``None``; also the dtypes asked for."""
    dtypes = tuple(d.strip() for d in (args.dtype or "float32,float64").split(",") if d.strip())
    if args.repeat < 1:
        return "--repeat must be at least 1", dtypes
    if not dtypes or not set(dtypes) <= {"float32", "float64"}:
        return f"--dtype takes float32 and/or float64, got {args.dtype!r}", dtypes
    if importlib.util.find_spec("dask") is None:
        return "Dask is missing: pip install 'numbaconv[dask]'", dtypes
    return None, dtypes


def main(args) -> int:
    """``numbaconv bench --dask`` with the parsed options of :func:`numbaconv._tools.bench.build_parser`."""
    error, dtypes = _usage_error(args)
    if error:
        print(f"numbaconv bench --dask: {error}", file=sys.stderr)
        return 2
    import dask
    grid = "tiny" if args.tiny else "quick" if args.quick else "full"
    repeat = min(args.repeat, 3)     # dask-image takes minutes per call at 4096² x 63²
    max_time = args.max_time if args.max_time is not None else 1.0
    ndfilters = import_dask_image()
    if ndfilters is None:
        print("dask-image is not installed (pip install dask-image): timing numbaconv.dask alone",
              file=sys.stderr)
    data = {"meta": {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "grid": grid, "dtypes": list(dtypes), "repeat": repeat, "scheduler": SCHEDULER,
        "dask": dask.__version__, "workers": args.workers,
        "dask_image": None if ndfilters is None else _version("dask-image"),
        "environment": machine.environment(),
        "timing": "median seconds per compute(), numbaconv.dask and dask-image round-robin; "
                  "speedup = t_dask_image / t_numbaconv",
    }, "rows": []}
    cells = [(k, d) for d in dtypes for k in KERNELS[grid]]
    for i, (k, dtype) in enumerate(cells, 1):
        t0 = time.perf_counter()
        data["rows"].append(bench_cell(SIDES[grid], k, dtype, repeat=repeat, max_time=max_time,
                                       workers=args.workers, ndfilters=ndfilters))
        print(f"[{i}/{len(cells)}] {SIDES[grid]}² k={k}² {dtype} ({time.perf_counter() - t0:.1f} s)",
              file=sys.stderr, flush=True)
        if args.json:    # rewritten after every row: a run cut short keeps its rows
            with open(args.json, "w", encoding="utf-8") as fh:
                json.dump(data, fh, indent=1, default=str)
    print_table(data["rows"])
    return checks.exit_status(data["rows"], "dask-image")


def _version(dist: str) -> str:
    from importlib.metadata import version
    return version(dist)
