"""``numbaconv bench --opencv``: numbaconv's ``auto`` against OpenCV on 2-D images, ``'same'``.

The grid (:data:`numbaconv._tools.grids.OPENCV_GRIDS`): square images of
256², 1024² and 4096², kernels of 3², 7², 15² and 31², each once as a
Gaussian (separable and symmetric, :func:`numbaconv._tools.grids.gaussian_kernel`)
and once as a random (dense) kernel, float32 and float64; ``--quick`` and
``--tiny`` are smaller.  For each cell

1. ``numbaconv.convolve(a, k, 'same', method='auto')`` and the OpenCV calls
   that apply -- ``cv2.filter2D`` always, ``cv2.sepFilter2D`` for the rank-1
   Gaussian (:mod:`numbaconv._tools.peers`) -- are checked against
   ``scipy.signal.convolve`` with the tolerance table,
2. all of them are timed in one shuffled round-robin in this process
   (:func:`numbaconv._tools.timing.interleaved`), medians, every library on
   the same number of threads (numbaconv's ``workers``, ``cv2.setNumThreads``),
3. the row names the fastest OpenCV call (the *best peer*) and the ratio
   best peer time / auto time; a ratio below 1 is a cell that auto loses.

The table starts with the machine line (CPU model, ISA, FMA peak) and ends
with the geometric means of the ratios.  Exit status: 1 when numbaconv's
result disagrees with SciPy's in a cell, 2 on a usage error.
"""
from __future__ import annotations

import datetime
import json
import math
import sys
import time

import numpy as np
import scipy.signal

from .. import _api
from .._config import resolve_workers
from . import checks, grids, machine, report
from .formatting import machine_line, seconds
from .grids import Cell
from .peers import checked as checked_peers
from .timing import interleaved
from .tolerance import compare

#: the OpenCV calls timed, in table order
PEERS = ("cv2.filter2D", "cv2.sepFilter2D")
#: the goal of issue 20's first criterion: geometric mean of best peer / auto
GOAL_GEOMEAN = 1.5


def bench_cell(cell: Cell, *, repeat: int = 5, max_time: float = 10.0, workers: int = 1) -> dict:
    """Check and time one cell; return its JSON row."""
    a, kern = grids.make_inputs(cell)
    row = {"n": cell.n, "k": cell.k, "kernel": cell.kernel, "dtype": cell.dtype, "mode": "same",
           "workers": workers, "auto_method": None, "auto_backend": None, "t_auto": None,
           "peers": {}, "best_peer": None, "t_best_peer": None, "ratio": None,
           "agree": False, "max_abs_err": None, "tol": None, "error": None}
    ref = scipy.signal.convolve(a, kern, mode="same")
    bound = checks.bound(a, kern, "same", ref.dtype)
    row["tol"] = float(np.max(bound))

    def auto():
        return _api.convolve(a, kern, mode="same", method="auto", workers=workers)

    try:
        choice = _api.explain(a, kern, mode="same", method="auto", workers=workers)
        row["auto_method"], row["auto_backend"] = choice.method, choice.backend
        check = compare(auto(), ref, bound)
        row["max_abs_err"], row["agree"] = check["max_abs_err"], check["agree"]
        if not check["agree"]:
            row["error"] = "auto: " + check["reason"]
    except Exception as exc:  # noqa: BLE001 - recorded, and the exit status says so
        row["error"] = f"{type(exc).__name__}: {exc}"
        return row

    fns, row["peers"] = checked_peers(PEERS, a, kern, "same", ref, bound, workers=workers)
    times = interleaved({"numbaconv.auto": auto, **fns}, repeat, max_time)
    row["t_auto"] = times.pop("numbaconv.auto")
    for name, t in times.items():
        row["peers"][name]["time"] = t
    _add_best(row)
    return row


def _add_best(row: dict) -> None:
    """The fastest timed peer (a peer whose result differs still counts) and best / auto."""
    timed = {p: v["time"] for p, v in row["peers"].items() if "time" in v}
    if timed and row["t_auto"]:
        best = min(timed, key=timed.get)
        row["best_peer"], row["t_best_peer"] = best, timed[best]
        row["ratio"] = timed[best] / row["t_auto"]


# --------------------------------------------------------------------------
# output
# --------------------------------------------------------------------------

def table(rows) -> tuple:
    """Header and body lines of the table (strings)."""
    header = ["cell", "kernel", "dtype", "auto chose", "numbaconv auto", *PEERS, "best peer",
              "best / auto", ""]
    body = []
    for r in rows:
        line = [f"{r['n']}\u00b2 k={r['k']}\u00b2", r["kernel"], r["dtype"],
                r["auto_method"] or "?", seconds(r["t_auto"])]
        for p in PEERS:
            info = r["peers"].get(p, {})
            line.append(seconds(info["time"]) + ("" if info["agree"] else " (differs)")
                        if "time" in info else "-")
        line += [r["best_peer"] or "-", f"{r['ratio']:.2f}" if r["ratio"] else "-",
                 "auto loses" if r["ratio"] and r["ratio"] < 1 else ""]
        body.append(line)
    return header, body


def geomean(rows) -> float:
    """Geometric mean of the rows' ratios (NaN without one)."""
    return report.geomean([r["ratio"] for r in rows if r.get("ratio")])


def summary(rows) -> list:
    """The closing lines: geometric means overall, per dtype and per kernel, and the losses."""
    rated = [r for r in rows if r.get("ratio")]
    if not rated:
        return ["no OpenCV call was timed (pip install opencv-python-headless): no ratios"]
    lines = []
    groups = [("all cells", rated)]
    groups += [(dt, [r for r in rated if r["dtype"] == dt])
               for dt in sorted({r["dtype"] for r in rated})]
    groups += [(f"{kind} kernels", [r for r in rated if r["kernel"] == kind])
               for kind in grids.OPENCV_KERNELS if any(r["kernel"] == kind for r in rated)]
    for name, rs in groups:
        worst = min(rs, key=lambda r: r["ratio"])
        lines.append(f"geometric mean best peer / auto, {name} ({len(rs)}): {geomean(rs):.2f}x; "
                     f"slowest cell {worst['ratio']:.2f}x ({_label(worst)})")
    lost = [r for r in rated if r["ratio"] < 1]
    met = not lost and geomean(rated) >= GOAL_GEOMEAN
    lines.append(f"auto loses {len(lost)} of {len(rated)} cells; goal: none, and a geometric "
                 f"mean of at least {GOAL_GEOMEAN}x ({'met' if met else 'not met'})")
    return lines


def _label(r) -> str:
    return f"{r['n']}\u00b2 k={r['k']}\u00b2 {r['kernel']} {r['dtype']}"


def print_report(data: dict, *, file=None) -> None:
    """The machine line, the table, the summary and any disagreement."""
    file = sys.stdout if file is None else file
    meta, rows = data["meta"], data["rows"]
    print(machine_line(meta.get("environment", {}), meta.get("fma_peak_gflops"),
                       meta.get("workers")), file=file)
    print("numbaconv auto vs OpenCV, 2-D 'same' (median per call, one round-robin per cell; "
          "best / auto > 1: auto is faster)", file=file)
    header, body = table(rows)
    widths = [max(len(h), *(len(b[i]) for b in body)) if body else len(h)
              for i, h in enumerate(header)]
    print("  ".join(h.ljust(w) for h, w in zip(header, widths)).rstrip(), file=file)
    for line in body:
        print("  ".join(c.ljust(w) for c, w in zip(line, widths)).rstrip(), file=file)
    for line in summary(rows):
        print(line, file=file)
    for r in rows:
        if not r["agree"]:
            print(f"DISAGREES: {_label(r)}: {r['error']}", file=file)


# --------------------------------------------------------------------------
# command line (options parsed by numbaconv._tools.bench)
# --------------------------------------------------------------------------

#: ``numbaconv bench`` options that mean nothing to ``--opencv``, with their defaults
_NOT_FOR_OPENCV = {"plot": None, "peers": False, "separable": False, "summary": None,
                   "mode": None, "dim": "both", "device": "cpu", "methods": False}


def main(args) -> int:
    """``numbaconv bench --opencv`` with the parsed options of :func:`numbaconv._tools.bench.build_parser`."""
    wrong = checks.inapplicable(args, _NOT_FOR_OPENCV)
    if wrong:
        print(f"numbaconv bench --opencv: these options do not apply: {', '.join(wrong)}",
              file=sys.stderr)
        return 2
    if args.from_json:
        with open(args.from_json, encoding="utf-8") as fh:
            data = json.load(fh)
        print_report(data)
        return checks.exit_status(data["rows"], "scipy.signal")
    if args.repeat < 1:
        print("numbaconv bench: --repeat must be at least 1", file=sys.stderr)
        return 2
    dtypes = tuple(d.strip() for d in (args.dtype or "float32,float64").split(",") if d.strip())
    if not dtypes or not set(dtypes) <= {"float32", "float64"}:
        print(f"numbaconv bench --opencv: --dtype takes float32 and/or float64, got {args.dtype!r}",
              file=sys.stderr)
        return 2
    grid = "tiny" if args.tiny else "quick" if args.quick else "full"
    max_time = args.max_time if args.max_time is not None else (10.0 if grid == "full" else 1.0)
    workers = resolve_workers(args.workers)
    try:
        import cv2
        cv2_version = cv2.__version__
    except Exception:  # noqa: BLE001 - any import failure means "absent"
        cv2_version = None
        print("OpenCV is not installed (pip install opencv-python-headless): timing numbaconv "
              "alone", file=sys.stderr)
    started = time.perf_counter()
    data = {"meta": {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "grid": grid, "sides": list(grids.OPENCV_GRIDS[grid][0]),
        "kernel_sides": list(grids.OPENCV_GRIDS[grid][1]),
        "kernels": list(grids.OPENCV_KERNELS), "dtypes": list(dtypes), "mode": "same",
        "repeat": args.repeat, "max_time": max_time, "workers": workers, "opencv": cv2_version,
        "fma_peak_gflops": report.machine_peaks(workers, seconds=0.02 if grid == "tiny" else 0.1),
        "environment": machine.environment(),
        "timing": "median seconds per call, numbaconv auto and the OpenCV calls round-robin, "
                  "one process, every library on `workers` threads; "
                  "ratio = t_best_peer / t_auto",
    }, "rows": []}
    cells = grids.build_opencv_grid(grid, dtypes)
    for i, cell in enumerate(cells, 1):
        t0 = time.perf_counter()
        data["rows"].append(bench_cell(cell, repeat=args.repeat, max_time=max_time,
                                       workers=workers))
        print(f"[{i}/{len(cells)}] {cell.n}\u00b2 k={cell.k}\u00b2 {cell.kernel} {cell.dtype} "
              f"({time.perf_counter() - t0:.1f} s)", file=sys.stderr, flush=True)
        data["meta"]["elapsed_s"] = time.perf_counter() - started
        if args.json:    # rewritten after every row: a run cut short keeps its rows
            _write(data, args.json)
    data["meta"]["geomean_ratio"] = None if math.isnan(g := geomean(data["rows"])) else g
    print_report(data)
    if args.json:
        _write(data, args.json)
        print(f"results written to {args.json}")
    return checks.exit_status(data["rows"], "scipy.signal")


def _write(data, path) -> None:
    with open(path, "w", encoding="utf-8") as fh:
        json.dump(data, fh, indent=1, default=str)
