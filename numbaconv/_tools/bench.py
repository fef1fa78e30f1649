"""``numbaconv bench``: time numbaconv against SciPy (and peers) on a grid.

For every cell of a grid (:mod:`numbaconv._tools.grids`) the command

1. asks :func:`numbaconv.explain` which method ``method='auto'`` picks,
2. times ``numbaconv.convolve`` with ``method='auto'`` and with the fixed
   method that auto chose, and ``scipy.signal.convolve`` (its own ``auto``),
   with :func:`numbaconv._tools.timing.measure` (the first call, which pays
   the JIT compile, is reported apart as ``first_call``),
3. checks every numbaconv result against SciPy's with the tolerance table
   (:func:`numbaconv._tools.checks.bound`); a row that disagrees is marked
   and makes the command exit with status 1,
4. optionally times the peers of :data:`numbaconv._tools.peers.OPTIONAL`
   (``--peers``) in one round-robin with numbaconv's ``auto``, and every
   method with the FMA peak and the regret summaries (``--methods``,
   :mod:`numbaconv._tools.report`),

then prints a table (rich when installed) and writes ``--json`` / ``--plot``.
``--device cuda`` hands over to :mod:`numbaconv._tools.bench_cuda`, ``--nn``
to :mod:`numbaconv._tools.bench_nn` (numbaconv.nn on layer shapes against torch),
``--opencv`` to :mod:`numbaconv._tools.bench_opencv` (2-D 'same' against
``cv2.filter2D`` and ``cv2.sepFilter2D``).  Every table starts with the
machine line: CPU model, ISA and the measured FMA peak
(:func:`numbaconv._tools.formatting.machine_line`).

Exit status: 0 when every row agrees, 1 when one does not (or raised), 2 on
a usage error.
"""
from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import sys
import time

import numpy as np
import scipy.signal

from .. import _api
from .._config import resolve_workers
from . import checks, grids, machine, report
from .formatting import machine_line, seconds
from .grids import Cell
from .peers import OPTIONAL
from .peers import checked as checked_peers
from .peers import make as make_peer
from .timing import interleaved, measure
from .tolerance import compare

# --------------------------------------------------------------------------
# one cell
# --------------------------------------------------------------------------


def bench_cell(cell: Cell, *, repeat: int = 5, max_time: float = 10.0, workers=None,
               peers: bool = False, methods: bool = False) -> dict:
    """Time and check one cell; return its JSON row."""
    a, kern = grids.make_inputs(cell)
    mode = cell.mode
    kwargs = {} if workers is None else {"workers": workers}
    row = {
        "ndim": cell.ndim, "n": cell.n, "k": cell.k, "size": cell.size, "taps": cell.taps,
        "shape_a": list(cell.shape_a), "shape_k": list(cell.shape_k),
        "dtype": cell.dtype, "mode": mode, "separable_kernel": cell.separable,
        "auto_method": None, "auto_backend": None, "scipy_method": None,
        "t_numbaconv": None, "t_numbaconv_method": None, "t_scipy": None, "ratio": None,
        "first_call_numbaconv": None, "agree": False, "max_abs_err": None, "tol": None,
        "error": None, "peers": {},
    }
    row["scipy_method"] = scipy.signal.choose_conv_method(a, kern, mode=mode)

    t_ref, ref = measure(make_peer("scipy.auto", a, kern, mode, workers=workers), repeat,
                         max_time=max_time)
    row["t_scipy"] = t_ref.median
    bound = checks.bound(a, kern, mode, ref.dtype)
    row["tol"] = float(np.max(bound))      # the largest per-element allowance

    def auto_call():
        return _api.convolve(a, kern, mode=mode, method="auto", **kwargs)

    reasons = []
    try:
        choice = _api.explain(a, kern, mode=mode, method="auto", **kwargs)
        method = row["auto_method"] = choice.method
        row["auto_backend"] = choice.backend
        t_auto, out = measure(auto_call, repeat, max_time=max_time)
        row["t_numbaconv"] = t_auto.median
        row["first_call_numbaconv"] = t_auto.first_call
        row["ratio"] = t_ref.median / t_auto.median
        check = compare(out, ref, bound)
        row["max_abs_err"] = check["max_abs_err"]
        if not check["agree"]:
            reasons.append("auto: " + check["reason"])
        t_fix, out_fix = measure(
            lambda: _api.convolve(a, kern, mode=mode, method=method, **kwargs),
            repeat, max_time=max_time)
        row["t_numbaconv_method"] = t_fix.median
        check = compare(out_fix, ref, bound)
        if not check["agree"]:
            reasons.append(f"{method}: " + check["reason"])
        row["agree"] = not reasons
    except Exception as exc:  # noqa: BLE001 - recorded, and the exit status says so
        row["error"] = f"{type(exc).__name__}: {exc}"
        row["agree"] = False
    if reasons:
        row["error"] = "; ".join(reasons)

    if methods:
        try:
            row["t_auto_interleaved"], row["methods"], row["scipy_methods"] = report.time_methods(
                cell, a, kern, repeat=repeat, max_time=max_time, workers=workers,
                predicted=report.predicted_costs(a, kern, mode, workers))
        except Exception as exc:  # noqa: BLE001 - recorded, and the exit status says so
            row["error"] = f"methods: {type(exc).__name__}: {exc}"
            row["agree"] = False
        if (cell.ndim == 1 and cell.taps >= report.PEAK_MIN_TAPS
                and isinstance((row.get("methods") or {}).get("direct"), float)):
            _time_direct_alone(row, a, kern, mode, kwargs, ref, bound, repeat, max_time)

    if peers:
        _time_peers(row, a, kern, ref, bound, auto_call, repeat, max_time, workers)
    return row


def _time_direct_alone(row, a, kern, mode, kwargs, ref, bound, repeat, max_time):
    """The direct method timed on its own, back to back, for the GFLOP/s table.

    In the methods round-robin each direct call follows an FFT call that
    evicted its data from the caches; timed back to back it runs warm, as
    the FMA peak does, but a noisy minute of a shared host hits every
    sample.  :func:`numbaconv._tools.report.add_derived` takes the faster.
    """
    t, out = measure(lambda: _api.convolve(a, kern, mode=mode, method="direct", **kwargs),
                     repeat, max_time=max_time)
    check = compare(out, ref, bound)
    row["t_direct_alone"] = t.median
    if not check["agree"]:
        row["error"] = "; ".join(filter(None, [row["error"], "direct alone: " + check["reason"]]))
        row["agree"] = False


def _time_peers(row, a, kern, ref, bound, auto_call, repeat, max_time, workers):
    """Check each optional peer against SciPy's result, then time them with numbaconv's auto.

    One round-robin (:func:`numbaconv._tools.timing.interleaved`) for all,
    so that they share the machine's drifts.
    """
    fns, row["peers"] = checked_peers(OPTIONAL, a, kern, row["mode"], ref, bound,
                                      workers=workers)
    if not fns:
        return
    try:
        t = interleaved({"numbaconv": auto_call, **fns}, repeat, max_time)
    except Exception as exc:  # noqa: BLE001 - a peer that fails when timed
        for name in fns:
            row["peers"][name] = {"skipped": f"{type(exc).__name__}: {exc}"}
        return
    for name in fns:
        row["peers"][name].update(time=t[name], numbaconv_time=t["numbaconv"])


# --------------------------------------------------------------------------
# output
# --------------------------------------------------------------------------

def _json_default(obj):
    """Make NumPy scalars and arrays JSON-serialisable."""
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    return str(obj)


def _use_rich(stream) -> bool:
    if os.environ.get("CI") or os.environ.get("NUMBACONV_PLAIN"):
        return False
    try:
        import rich  # noqa: F401
    except ImportError:
        return False
    return hasattr(stream, "isatty") and stream.isatty()


def _table_rows(rows, peer_names):
    header = ["cell", "dtype", "auto chose", "numbaconv", "fixed method", "scipy",
              "scipy chose", "speed-up \u00d7", "agree"] + peer_names
    body = []
    for r in rows:
        ok = "yes" if r["agree"] else "NO"
        line = [Cell(r["ndim"], r["n"], r["k"], r["dtype"], r["mode"]).label(), r["dtype"],
                r["auto_method"] or "?", seconds(r["t_numbaconv"]),
                seconds(r["t_numbaconv_method"]), seconds(r["t_scipy"]),
                r["scipy_method"] or "?",
                f"{r['ratio']:.2f}" if r["ratio"] else "-", ok]
        for p in peer_names:
            info = r["peers"].get(p)
            if info is None or "time" not in info:
                line.append("-")
            else:
                ours = info.get("numbaconv_time")
                line.append(seconds(info["time"])
                            + (f" (ours {seconds(ours)})" if ours else "")
                            + ("" if info["agree"] else " (differs)"))
        body.append(line)
    return header, body


def print_table(rows, *, file=None, machine_text=None) -> None:
    """The results table; ``machine_text`` (:func:`machine_line`) is printed above it."""
    file = sys.stdout if file is None else file
    if machine_text:
        print(machine_text, file=file)
    peer_names = sorted({p for r in rows for p, v in r["peers"].items() if "time" in v})
    header, body = _table_rows(rows, peer_names)
    try:
        from rich.console import Console
        from rich.table import Table
    except ImportError:
        Console = None
    if Console is not None:
        console = Console(file=file, no_color=not _use_rich(file), width=200
                          if not _use_rich(file) else None)
        table = Table(title="numbaconv vs scipy.signal (median per call; "
                            "speed-up = scipy / numbaconv auto)")
        for h in header:
            table.add_column(h, justify="left" if h in ("cell", "dtype", "auto chose",
                                                         "scipy chose") else "right")
        for r, line in zip(rows, body):
            style = None if r["agree"] else "bold red"
            table.add_row(*line, style=style)
        console.print(table)
    else:
        widths = [max(len(h), *(len(b[i]) for b in body)) if body else len(h)
                  for i, h in enumerate(header)]
        print("  ".join(h.ljust(w) for h, w in zip(header, widths)), file=file)
        for line in body:
            print("  ".join(c.ljust(w) for c, w in zip(line, widths)), file=file)
    for r in rows:
        if not r["agree"]:
            print(f"DISAGREES: {Cell(r['ndim'], r['n'], r['k'], r['dtype'], r['mode']).label()}"
                  f" {r['dtype']}: {r['error']}", file=file)


def _log_interp_cross(x0, x1, r0, r1):
    """Where log(ratio) crosses 0 between (x0, r0) and (x1, r1), interpolated in log-x."""
    l0, l1 = math.log(r0), math.log(r1)
    f = l0 / (l0 - l1)
    return math.exp(math.log(x0) + f * (math.log(x1) - math.log(x0)))


def write_plot(rows, path: str) -> None:
    """Log-log time vs size, one panel per (rank, kernel size), crossovers marked.

    Lines: numbaconv auto, scipy.signal.convolve and every timed peer.  A
    star marks where numbaconv's and SciPy's lines cross (interpolated in
    log space); a dotted vertical line marks where auto changes method.
    """
    import matplotlib
    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt
    from matplotlib.ticker import NullFormatter

    rows = [r for r in rows if r.get("t_numbaconv") and r.get("t_scipy")]
    panels = sorted({(r["ndim"], r["k"]) for r in rows})
    dtypes = sorted({r["dtype"] for r in rows})
    if not panels:
        panels = [(1, 0)]
    ncols = min(3, len(panels))
    nrows = math.ceil(len(panels) / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(5.2 * ncols, 3.9 * nrows), squeeze=False)
    styles = {"float32": "--", "float64": "-"}
    for ax in axes.flat[len(panels):]:
        ax.set_visible(False)
    for ax, (ndim, k) in zip(axes.flat, panels):
        for dt in dtypes:
            sel = sorted((r for r in rows if r["ndim"] == ndim and r["k"] == k
                          and r["dtype"] == dt), key=lambda r: r["size"])
            if not sel:
                continue
            x = [r["size"] for r in sel]
            ls = styles.get(dt, "-.")
            suffix = f" {dt}" if len(dtypes) > 1 else ""
            ax.plot(x, [r["t_numbaconv"] for r in sel], ls, color="C0", marker="o", ms=3,
                    label="numbaconv auto" + suffix)
            ax.plot(x, [r["t_scipy"] for r in sel], ls, color="C1", marker="s", ms=3,
                    label="scipy.signal" + suffix)
            peer_names = sorted({p for r in sel for p, v in r["peers"].items() if "time" in v})
            for i, p in enumerate(peer_names):
                pts = [(r["size"], r["peers"][p]["time"]) for r in sel
                       if "time" in r["peers"].get(p, {})]
                ax.plot(*zip(*pts), ls, color=f"C{i + 2}", marker="^", ms=3, label=p + suffix)
            # speed crossovers: numbaconv and SciPy swap places
            for r0, r1 in zip(sel, sel[1:]):
                q0, q1 = r0["ratio"], r1["ratio"]
                if q0 and q1 and (q0 - 1) * (q1 - 1) < 0:
                    xc = _log_interp_cross(r0["size"], r1["size"], q0, q1)
                    f = (math.log(xc) - math.log(r0["size"])) / (
                        math.log(r1["size"]) - math.log(r0["size"]))
                    yc = math.exp(math.log(r0["t_numbaconv"]) + f * (
                        math.log(r1["t_numbaconv"]) - math.log(r0["t_numbaconv"])))
                    ax.plot([xc], [yc], marker="*", ms=14, color="k", zorder=5)
                    ax.annotate(f"crossover\n\u2248{xc:.3g}", (xc, yc), textcoords="offset points",
                                xytext=(6, -18), fontsize=7)
                # method crossover of numbaconv's auto
                if r0["auto_method"] and r1["auto_method"] and r0["auto_method"] != r1["auto_method"]:
                    xm = math.sqrt(r0["size"] * r1["size"])
                    ax.axvline(xm, color="grey", ls=":", lw=1)
                    ax.text(xm, 0.02, f" {r0['auto_method']}\u2192{r1['auto_method']}",
                            transform=ax.get_xaxis_transform(), fontsize=7, color="grey",
                            rotation=90, va="bottom")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.grid(True, which="both", alpha=0.25)
        ax.set_title(f"{ndim}-D, kernel {k}" + ("" if ndim == 1 else f"\u00d7{k}"), fontsize=10)
        ax.set_xlabel("signal length" if ndim == 1 else "image pixels")
        ax.set_ylabel("time per call [s]")
        ax.legend(fontsize=7)
    fig.suptitle("numbaconv vs peers (lower is better; \u2605 = crossover vs SciPy)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


# --------------------------------------------------------------------------
# command line
# --------------------------------------------------------------------------

def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="numbaconv bench",
        description="Time numbaconv against scipy.signal (and peers) on a grid of signal "
                    "and kernel sizes, checking that every result agrees with SciPy.")
    p.add_argument("--quick", action="store_true",
                   help="small grid (well under 2 minutes, JIT included)")
    p.add_argument("--tiny", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--json", metavar="FILE", help="write the results as JSON")
    p.add_argument("--plot", metavar="FILE.png",
                   help="write a log-log time-vs-size plot (matplotlib)")
    p.add_argument("--from-json", metavar="FILE",
                   help="do not run: re-read results written by --json (for --plot / table)")
    p.add_argument("--peers", action="store_true",
                   help="also time " + ", ".join(OPTIONAL) + " when importable (cv2.sepFilter2D "
                        "with rank-1 kernels: --separable; OpenCV and torch on --workers threads)")
    p.add_argument("--opencv", action="store_true",
                   help="2-D 'same' against OpenCV instead: images 256², 1024², 4096² x kernels "
                        "3², 7², 15², 31², each a Gaussian and a random kernel, float32 and "
                        "float64; numbaconv auto, cv2.filter2D and cv2.sepFilter2D (Gaussian "
                        "only) round-robin on the same threads, best peer / auto per cell and "
                        "its geometric mean; takes --quick, --dtype, --json, --from-json, "
                        "--repeat, --max-time, --workers")
    p.add_argument("--dtype", default=None,
                   help="comma-separated dtypes (default: float64 with --quick, "
                        "float32,float64 otherwise)")
    p.add_argument("--dim", choices=("1", "2", "both"), default="both",
                   help="1-D signals, 2-D images or both (default)")
    p.add_argument("--mode", choices=("full", "same", "valid"), default=None,
                   help="convolution mode (default: 'full' for 1-D, 'same' for 2-D)")
    p.add_argument("--separable", action="store_true",
                   help="use rank-1 (separable) 2-D kernels")
    p.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    p.add_argument("--nn", action="store_true",
                   help="time numbaconv.nn on common layer shapes against torch.nn.functional "
                        "(a NumPy im2col baseline without torch); takes --quick, --dtype, "
                        "--json, --methods, --repeat, --max-time, --workers")
    p.add_argument("--dask", action="store_true",
                   help="time numbaconv.dask against dask_image.ndfilters.convolve on a 4096² "
                        "image in 16 chunks, kernels 15², 31², 63²; takes --quick, --dtype, "
                        "--json, --repeat, --max-time, --workers")
    p.add_argument("--latency", action="store_true",
                   help="first-call latency instead: each public path's first call in a fresh "
                        "interpreter with an empty Numba cache (cold) and with it filled (warm), "
                        "wall and CPU seconds; takes --paths and --json")
    p.add_argument("--paths", default=None, metavar="LIST",
                   help="with --latency: comma-separated case names, patterns or paths "
                        "(direct, separable, fft, oa, convolve2d, choose, nn)")
    p.add_argument("--repeat", type=int, default=5, metavar="N",
                   help="timed samples per measurement; the median is reported (default 5)")
    p.add_argument("--max-time", type=float, default=None, metavar="S",
                   help="time budget per measurement in seconds (default 1 with --quick, 10)")
    p.add_argument("--methods", action="store_true",
                   help="also time every numbaconv method and SciPy's direct/fft/oa paths, "
                        "measure the FMA peak, and print the regret and peak summaries")
    p.add_argument("--summary", metavar="FILE.md", default=None,
                   help="with --methods: write the summary tables (markdown) to FILE.md")
    p.add_argument("--workers", type=int, default=None,
                   help="threads for numbaconv (and scipy.fft); default: numbaconv's default")
    return p


def _machine_text(workers, tiny=False) -> str:
    """The machine line of this host (the FMA peak measured now, on ``workers`` threads)."""
    workers = resolve_workers(workers)
    return machine_line(machine.environment(),
                        report.machine_peaks(workers, seconds=0.02 if tiny else 0.1), workers)


def _progress(cells, run_one):
    """Run ``run_one`` over ``cells`` with a rich progress bar or plain lines."""
    rows = []
    if _use_rich(sys.stderr):
        from rich.console import Console
        from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn,
                                   TimeElapsedColumn)
        with Progress(TextColumn("[progress.description]{task.description}"), BarColumn(),
                      MofNCompleteColumn(), TimeElapsedColumn(),
                      console=Console(stderr=True), transient=True) as prog:
            task = prog.add_task("benchmarking", total=len(cells))
            for cell in cells:
                prog.update(task, description=f"{cell.label()} {cell.dtype}")
                rows.append(run_one(cell))
                prog.advance(task)
    else:
        for i, cell in enumerate(cells, 1):
            t0 = time.perf_counter()
            rows.append(run_one(cell))
            print(f"[{i}/{len(cells)}] {cell.label()} {cell.dtype} "
                  f"({time.perf_counter() - t0:.1f} s)", file=sys.stderr, flush=True)
    return rows


def main(argv=None) -> int:
    """Entry point of ``numbaconv bench``; returns the exit status."""
    args = build_parser().parse_args(argv)

    if args.opencv:
        from .bench_opencv import main as bench_opencv
        return bench_opencv(args)

    if args.latency or args.dask or args.nn or args.device == "cuda":
        # their tables are their own: the machine line comes first
        print(_machine_text(args.workers, args.tiny), flush=True)

    if args.latency:
        from .latency import main as latency
        return latency(args)

    if args.dask:
        from .bench_dask import main as bench_dask
        return bench_dask(args)

    if args.nn:
        from .bench_nn import main as bench_nn
        return bench_nn(args)

    if args.device == "cuda":
        from .bench_cuda import bench_cuda
        return int(bench_cuda(args) or 0)

    if args.repeat < 1:
        print("numbaconv bench: --repeat must be at least 1", file=sys.stderr)
        return 2

    if args.from_json:
        with open(args.from_json, encoding="utf-8") as fh:
            data = json.load(fh)
        rows = data["rows"]
        if rows and "best_peer" in rows[0]:      # written by --opencv
            from .bench_opencv import print_report
            print_report(data)
            return checks.exit_status(rows, "scipy.signal")
    else:
        grid = "tiny" if args.tiny else "quick" if args.quick else "full"
        if args.dtype:
            dtypes = tuple(d.strip() for d in args.dtype.split(",") if d.strip())
        else:
            dtypes = grids.DTYPES[grid]
        try:
            for d in dtypes:
                np.dtype(d)
        except TypeError as exc:
            print(f"numbaconv bench: bad --dtype: {exc}", file=sys.stderr)
            return 2
        ndims = (1, 2) if args.dim == "both" else (int(args.dim),)
        cells = grids.build_grid(grid, dtypes, ndims, (args.mode, args.mode), args.separable)
        max_time = args.max_time if args.max_time is not None else (
            10.0 if grid == "full" else 1.0)
        started = time.perf_counter()
        # --methods reads the direct kernel against the peak: measured longer there
        peak = report.machine_peaks(args.workers, seconds=(
            0.3 if args.methods else 0.02 if grid == "tiny" else 0.1))
        rows = _progress(cells, lambda c: bench_cell(c, repeat=args.repeat, max_time=max_time,
                                                     workers=args.workers, peers=args.peers,
                                                     methods=args.methods))
        data = {
            "meta": {
                "date": datetime.datetime.now(datetime.timezone.utc).isoformat(
                    timespec="seconds"),
                "grid": grid, "dtypes": list(dtypes), "repeat": args.repeat,
                "max_time": max_time, "workers": args.workers,
                "threads": resolve_workers(args.workers), "device": "cpu",
                "peers": bool(args.peers), "elapsed_s": time.perf_counter() - started,
                "fma_peak_gflops": peak,
                "environment": machine.environment(),
                "timing": "median seconds per call after one warm-up call; "
                          "ratio = t_scipy / t_numbaconv (auto)",
            },
            "rows": rows,
        }

    meta = data["meta"]
    print_table(rows, machine_text=machine_line(meta.get("environment", {}),
                                                meta.get("fma_peak_gflops"),
                                                meta.get("threads")))
    if any("methods" in r for r in rows):
        peak = data["meta"].get("fma_peak_gflops")
        for r in rows:
            report.add_derived(r, peak)
        text = report.summary(rows, peak, machine_text=machine_line(
            meta.get("environment", {}), peak, meta.get("threads")))
        print(text)
        if args.summary:
            with open(args.summary, "w", encoding="utf-8") as fh:
                fh.write(text + "\n")
    if args.json and not args.from_json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(data, fh, indent=1, default=_json_default)
        print(f"results written to {args.json}")
    if args.plot:
        write_plot(rows, args.plot)
        print(f"plot written to {args.plot}")
    return checks.exit_status(rows, "scipy.signal")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
