"""``numbaconv bench``: time numbaconv against SciPy (and peers) on a grid.

For every grid cell (signal size x kernel size x dtype) the command

1. asks :func:`numbaconv.explain` which method ``method='auto'`` picks,
2. times ``numbaconv.convolve`` with ``method='auto'`` and with the fixed
   method that auto chose, and ``scipy.signal.convolve`` (its own ``auto``),
   all in this process: one warm-up call first (it absorbs the JIT compile,
   whose duration is reported as ``first_call``), then the median of
   ``--repeat`` samples of a small :func:`time.perf_counter` harness,
3. checks that every numbaconv result agrees with SciPy's within a tolerance
   scaled to the dtype (see :func:`tolerance`); a row that disagrees is marked
   and makes the command exit with status 1,
4. optionally times peers (``--peers``): ``numpy.convolve`` (1-D),
   OpenCV's ``cv2.filter2D`` (2-D ``'same'``) and SciPy's ``fftconvolve`` on
   the pyFFTW backend, each when importable, all in one round-robin with
   numbaconv's ``auto`` (the table shows both: ``peer (ours t)``),

then prints a table (rich when installed), and writes ``--json`` / ``--plot``.

The helpers here (:func:`measure`, :func:`compare`, :func:`make_inputs`,
:func:`build_grid`, :func:`write_plot`) are meant to be reused by the CUDA
benchmark in :mod:`numbaconv._bench_cuda`.

Exit status: 0 when every row agrees, 1 when one does not (or raised), 2 on
a usage error.
"""
from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import math
import os
import platform
import statistics
import sys
import time
from typing import Callable

import numpy as np

# --------------------------------------------------------------------------
# grids
# --------------------------------------------------------------------------

#: (1-D signal lengths, 1-D kernel lengths, 2-D image sides, 2-D kernel sides)
GRIDS = {
    "full": ((10**3, 10**4, 10**5, 10**6, 10**7), (3, 31, 301, 3001, 30001),
             (256, 1024, 4096), (3, 5, 7, 15, 31, 63)),
    "quick": ((10**3, 10**4, 10**5), (3, 31, 301),
              (128, 512), (3, 7, 15)),
    # hidden, for the test-suite: a few milliseconds of work plus the JIT
    "tiny": ((100, 1000), (3, 7), (16, 32), (3,)),
}

#: peers whose cost grows like n*k are skipped above this many multiply-adds
MAX_DIRECT_OPS = 5e9

SEED = 20240601


@dataclasses.dataclass(frozen=True)
class Cell:
    """One grid cell: a signal of ``n`` (1-D) or ``n x n`` (2-D) samples."""

    ndim: int
    n: int
    k: int
    dtype: str
    mode: str
    separable: bool = False

    @property
    def shape_a(self) -> tuple:
        return (self.n,) * self.ndim

    @property
    def shape_k(self) -> tuple:
        return (self.k,) * self.ndim

    @property
    def size(self) -> int:
        return self.n ** self.ndim

    @property
    def taps(self) -> int:
        return self.k ** self.ndim

    def label(self) -> str:
        if self.ndim == 1:
            return f"1-D n={self.n:,} k={self.k}"
        return f"2-D {self.n}\u00b2 k={self.k}\u00b2"


def build_grid(grid: str = "quick", dtypes=("float64",), ndims=(1, 2), modes=(None, None),
               separable: bool = False) -> list:
    """The cells of a named grid (``'full'``, ``'quick'``, ``'tiny'``).

    ``modes`` is ``(mode_1d, mode_2d)``; ``None`` takes the defaults
    ``'full'`` for 1-D (SciPy's default) and ``'same'`` for 2-D (images).
    Cells with a kernel longer than the signal are left out.
    """
    ns, ks, sides, kks = GRIDS[grid]
    mode1 = modes[0] or "full"
    mode2 = modes[1] or "same"
    cells = []
    for dt in dtypes:
        if 1 in ndims:
            cells += [Cell(1, n, k, dt, mode1) for n in ns for k in ks if k <= n]
        if 2 in ndims:
            cells += [Cell(2, s, k, dt, mode2, separable) for s in sides for k in kks if k <= s]
    return cells


def make_inputs(cell: Cell, seed: int = SEED):
    """Signal and kernel for ``cell``, reproducible (standard normal values)."""
    rng = np.random.default_rng(seed)
    dt = np.dtype(cell.dtype)

    def draw(shape):
        if dt.kind == "c":
            x = rng.standard_normal(shape) + 1j * rng.standard_normal(shape)
        elif dt.kind in "iu":
            x = rng.integers(-8 if dt.kind == "i" else 0, 8, size=shape)
        else:
            x = rng.standard_normal(shape)
        return x.astype(dt)

    a = draw(cell.shape_a)
    if cell.ndim == 2 and cell.separable:
        col, row = draw((cell.k, 1)), draw((1, cell.k))
        kern = (col * row).astype(dt)
    else:
        kern = draw(cell.shape_k)
    return a, kern


# --------------------------------------------------------------------------
# timing and checking
# --------------------------------------------------------------------------

@dataclasses.dataclass
class Timing:
    median: float
    best: float
    first_call: float
    number: int
    samples: list

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)


def measure(fn: Callable[[], object], repeat: int = 5, *, min_sample: float = 2e-3,
            max_time: float = 10.0):
    """Time ``fn()``; return ``(Timing, first result)``.

    The first call is the warm-up (JIT compile, caches, page faults) and is
    reported separately as ``first_call``.  A second call estimates the
    steady time; calls shorter than ``min_sample`` are batched ``number`` at
    a time so one sample lasts about ``min_sample``.  At most ``repeat``
    samples are taken, fewer when they would exceed ``max_time`` seconds;
    the per-call median is the headline number.
    """
    clock = time.perf_counter
    t0 = clock()
    out = fn()
    first = clock() - t0
    t0 = clock()
    fn()
    est = max(clock() - t0, 1e-9)
    number = 1 if est >= min_sample else min(10_000, max(1, int(min_sample / est)))
    reps = max(1, min(int(repeat), int(max_time / (est * number)) or 1))
    samples = []
    for _ in range(reps):
        t0 = clock()
        for _ in range(number):
            fn()
        samples.append((clock() - t0) / number)
    return Timing(statistics.median(samples), min(samples), first, number, samples), out


def tolerance(dtype, a, kern) -> float:
    """Absolute tolerance for comparing two convolutions of ``a`` and ``kern``.

    ``max|a| * sum|kern|`` bounds every output element, and both exact
    (direct) and FFT methods err by a small multiple of ``eps`` of that; the
    factor grows slowly with the number of taps for long float32 sums.
    """
    dt = np.dtype(dtype)
    if dt.kind in "biu":
        return 0.0
    eps = float(np.finfo(dt).eps)
    scale = float(np.max(np.abs(a))) * float(np.sum(np.abs(kern)))
    return 128.0 * eps * max(1.0, math.sqrt(kern.size) / 16.0) * max(scale, 1e-300)


def compare(result, reference, tol: float) -> dict:
    """``{'agree', 'max_abs_err', 'reason'}`` for ``result`` vs ``reference``."""
    res = np.asarray(result)
    ref = np.asarray(reference)
    if res.shape != ref.shape:
        return {"agree": False, "max_abs_err": None,
                "reason": f"shape {res.shape} != scipy's {ref.shape}"}
    if res.dtype != ref.dtype:
        return {"agree": False, "max_abs_err": None,
                "reason": f"dtype {res.dtype} != scipy's {ref.dtype}"}
    if res.size == 0:
        return {"agree": True, "max_abs_err": 0.0, "reason": ""}
    diff = np.abs(res.astype(np.complex128 if res.dtype.kind == "c" else np.float64)
                  - ref.astype(np.complex128 if ref.dtype.kind == "c" else np.float64))
    err = float(np.max(diff))
    if not math.isfinite(err) or err > tol:
        return {"agree": False, "max_abs_err": err,
                "reason": f"max |error| {err:.3g} > tolerance {tol:.3g}"}
    return {"agree": True, "max_abs_err": err, "reason": ""}


# --------------------------------------------------------------------------
# peers
# --------------------------------------------------------------------------

def _peer_numpy(cell: Cell, a, kern):
    if cell.ndim != 1:
        return None
    if float(cell.n) * cell.k > MAX_DIRECT_OPS:
        return "skipped: n*k too large for a direct method"
    return lambda: np.convolve(a, kern, mode=cell.mode)


def _peer_cv2(cell: Cell, a, kern):
    if cell.ndim != 2 or cell.mode != "same":
        return None
    try:
        import cv2
    except Exception:  # noqa: BLE001 - any import failure means "absent"
        return None
    if np.dtype(cell.dtype) not in (np.dtype(np.float32), np.dtype(np.float64)):
        return "skipped: cv2.filter2D takes real float32/float64"
    # filter2D correlates: flip the kernel; SciPy's 'same' window starts at
    # (k-1)//2 of the full result, which is anchor k//2 of the flipped kernel.
    flipped = np.ascontiguousarray(kern[::-1, ::-1])
    anchor = (kern.shape[1] // 2, kern.shape[0] // 2)
    src = np.ascontiguousarray(a)
    return lambda: cv2.filter2D(src, -1, flipped, anchor=anchor, delta=0,
                                borderType=cv2.BORDER_CONSTANT)


def _peer_pyfftw(cell: Cell, a, kern):
    try:
        import pyfftw.interfaces.cache
        import pyfftw.interfaces.scipy_fft as fftw_backend
    except Exception:  # noqa: BLE001
        return None
    import scipy.fft
    import scipy.signal
    pyfftw.interfaces.cache.enable()

    def run():
        with scipy.fft.set_backend(fftw_backend, only=True):
            return scipy.signal.fftconvolve(a, kern, mode=cell.mode)
    return run


PEERS = {
    "numpy.convolve": _peer_numpy,
    "cv2.filter2D": _peer_cv2,
    "pyfftw": _peer_pyfftw,
}


# --------------------------------------------------------------------------
# one cell
# --------------------------------------------------------------------------

def _explain(numbaconv, a, kern, mode, kwargs):
    explain = getattr(numbaconv, "explain", None)
    if explain is None:
        return None, None
    try:
        info = explain(a, kern, mode=mode, method="auto", **kwargs)
    except TypeError:  # explain may not take every keyword
        info = explain(a, kern, mode=mode, method="auto")
    return getattr(info, "method", None), getattr(info, "backend", None)


def bench_cell(cell: Cell, *, repeat: int = 5, max_time: float = 10.0, workers=None,
               peers: bool = False, methods: bool = False) -> dict:
    """Time and check one cell; return its JSON row."""
    import scipy.fft
    import scipy.signal

    import numbaconv

    a, kern = make_inputs(cell)
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
    try:
        row["scipy_method"] = scipy.signal.choose_conv_method(a, kern, mode=mode)
    except Exception:  # noqa: BLE001 - informative only
        pass

    def scipy_call():
        if workers is None:
            return scipy.signal.convolve(a, kern, mode=mode)
        with scipy.fft.set_workers(workers):
            return scipy.signal.convolve(a, kern, mode=mode)

    t_ref, ref = measure(scipy_call, repeat, max_time=max_time)
    row["t_scipy"] = t_ref.median
    tol = tolerance(cell.dtype, a, kern)
    row["tol"] = tol

    def auto_call():
        return numbaconv.convolve(a, kern, mode=mode, method="auto", **kwargs)

    reasons = []
    try:
        method, backend = _explain(numbaconv, a, kern, mode, kwargs)
        row["auto_method"], row["auto_backend"] = method, backend
        t_auto, out = measure(auto_call, repeat, max_time=max_time)
        row["t_numbaconv"] = t_auto.median
        row["first_call_numbaconv"] = t_auto.first_call
        row["ratio"] = t_ref.median / t_auto.median
        check = compare(out, ref, tol)
        row["max_abs_err"] = check["max_abs_err"]
        if not check["agree"]:
            reasons.append("auto: " + check["reason"])
        if method is not None:
            t_fix, out_fix = measure(
                lambda: numbaconv.convolve(a, kern, mode=mode, method=method, **kwargs),
                repeat, max_time=max_time)
            row["t_numbaconv_method"] = t_fix.median
            check = compare(out_fix, ref, tol)
            if not check["agree"]:
                reasons.append(f"{method}: " + check["reason"])
        row["agree"] = not reasons
    except Exception as exc:  # noqa: BLE001 - recorded, and the exit status says so
        row["error"] = f"{type(exc).__name__}: {exc}"
        row["agree"] = False
    if reasons:
        row["error"] = "; ".join(reasons)

    if methods:
        from ._bench_report import PEAK_MIN_TAPS, predicted_costs, time_methods
        try:
            row["t_auto_interleaved"], row["methods"], row["scipy_methods"] = time_methods(
                cell, a, kern, repeat=repeat, max_time=max_time, workers=workers,
                predicted=predicted_costs(a, kern, mode, workers))
        except Exception as exc:  # noqa: BLE001 - recorded, and the exit status says so
            row["error"] = f"methods: {type(exc).__name__}: {exc}"
            row["agree"] = False
        if (cell.ndim == 1 and cell.taps >= PEAK_MIN_TAPS
                and isinstance((row.get("methods") or {}).get("direct"), float)):
            _time_direct_alone(row, a, kern, mode, kwargs, ref, tol, repeat, max_time)

    if peers:
        _time_peers(row, cell, a, kern, ref, tol, auto_call, repeat, max_time)
    return row


def _time_direct_alone(row, a, kern, mode, kwargs, ref, tol, repeat, max_time):
    """The direct method timed on its own, back to back, for the GFLOP/s table.

    In the methods round-robin each direct call follows an FFT or overlap-add
    call that evicted its input and output from the caches: run M1 (session 9)
    had float32 n = 1e5, k = 31 direct at 65.9 us there against 49.0 us as
    auto's choice.  A kernel's throughput is measured warm, as the FMA peak is;
    but timed back to back, a noisy minute of the shared host hits every
    sample.  The table takes the faster of the two medians and shows both.
    """
    import numbaconv
    t, out = measure(lambda: numbaconv.convolve(a, kern, mode=mode, method="direct", **kwargs),
                     repeat, max_time=max_time)
    check = compare(out, ref, tol)
    row["t_direct_alone"] = t.median
    if not check["agree"]:
        row["error"] = "; ".join(filter(None, [row["error"], "direct alone: " + check["reason"]]))
        row["agree"] = False


def _time_peers(row, cell, a, kern, ref, tol, auto_call, repeat, max_time):
    """Check each importable peer against SciPy's result, then time all of them in one
    round-robin with numbaconv's auto, so that they share the machine's drifts (timed
    one after the other, a shared host's slow minute can make either look faster)."""
    from ._bench_report import interleaved
    fns = {}
    for name, factory in PEERS.items():
        try:
            fn = factory(cell, a, kern)
            if fn is None:
                continue
            if isinstance(fn, str):
                row["peers"][name] = {"skipped": fn}
                continue
            check = compare(np.asarray(fn(), dtype=ref.dtype), ref, tol)
            row["peers"][name] = {"agree": check["agree"], "max_abs_err": check["max_abs_err"]}
            fns[name] = fn
        except Exception as exc:  # noqa: BLE001 - a broken peer is not our failure
            row["peers"][name] = {"skipped": f"{type(exc).__name__}: {exc}"}
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
# environment description
# --------------------------------------------------------------------------

def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def numba_threading_layer() -> str:
    """The threading layer Numba uses, or what it is configured to use."""
    import numba
    try:
        return numba.threading_layer()
    except ValueError:  # not initialised: no parallel kernel has run yet
        return f"not initialised (configured: {numba.config.THREADING_LAYER})"


def environment() -> dict:
    import numba
    import scipy

    import numbaconv
    try:
        from importlib.metadata import version
        nc_version = getattr(numbaconv, "__version__", None) or version("numbaconv")
    except Exception:  # noqa: BLE001
        nc_version = "unknown"
    return {
        "numbaconv": nc_version,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "numba": numba.__version__,
        "platform": platform.platform(),
        "cpu": cpu_model(),
        "cpu_count": os.cpu_count(),
        "numba_num_threads": numba.config.NUMBA_NUM_THREADS,
        "numba_threading_layer": numba_threading_layer(),
    }


# --------------------------------------------------------------------------
# output
# --------------------------------------------------------------------------

def fmt_time(t) -> str:
    if t is None:
        return "-"
    if t < 1e-3:
        return f"{t * 1e6:.1f} \u00b5s"
    if t < 1:
        return f"{t * 1e3:.2f} ms"
    return f"{t:.2f} s"


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
                r["auto_method"] or "?", fmt_time(r["t_numbaconv"]),
                fmt_time(r["t_numbaconv_method"]), fmt_time(r["t_scipy"]),
                r["scipy_method"] or "?",
                f"{r['ratio']:.2f}" if r["ratio"] else "-", ok]
        for p in peer_names:
            info = r["peers"].get(p)
            if info is None or "time" not in info:
                line.append("-")
            else:
                ours = info.get("numbaconv_time")     # absent in JSON from before 2026-11
                line.append(fmt_time(info["time"])
                            + (f" (ours {fmt_time(ours)})" if ours else "")
                            + ("" if info["agree"] else " (differs)"))
        body.append(line)
    return header, body


def print_table(rows, *, file=None) -> None:
    file = sys.stdout if file is None else file
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
    """x where log(ratio) crosses 0 between (x0, r0) and (x1, r1), log-x."""
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
                   help="also time numpy.convolve, cv2.filter2D and pyFFTW when importable")
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

    if args.device == "cuda":
        from ._bench_cuda import bench_cuda
        return int(bench_cuda(args) or 0)

    if args.repeat < 1:
        print("numbaconv bench: --repeat must be at least 1", file=sys.stderr)
        return 2

    if args.from_json:
        with open(args.from_json, encoding="utf-8") as fh:
            data = json.load(fh)
        rows = data["rows"]
    else:
        grid = "tiny" if args.tiny else "quick" if args.quick else "full"
        if args.dtype:
            dtypes = tuple(d.strip() for d in args.dtype.split(",") if d.strip())
        else:
            dtypes = ("float64",) if grid != "full" else ("float32", "float64")
        try:
            for d in dtypes:
                np.dtype(d)
        except TypeError as exc:
            print(f"numbaconv bench: bad --dtype: {exc}", file=sys.stderr)
            return 2
        ndims = (1, 2) if args.dim == "both" else (int(args.dim),)
        cells = build_grid(grid, dtypes, ndims, (args.mode, args.mode), args.separable)
        max_time = args.max_time if args.max_time is not None else (
            10.0 if grid == "full" else 1.0)
        started = time.perf_counter()
        peak = None
        if args.methods:
            from ._bench_report import fma_peak
            peak = {d: fma_peak(d, args.workers) for d in dtypes if d in ("float32", "float64")}
        rows = _progress(cells, lambda c: bench_cell(c, repeat=args.repeat, max_time=max_time,
                                                     workers=args.workers, peers=args.peers,
                                                     methods=args.methods))
        data = {
            "meta": {
                "date": datetime.datetime.now(datetime.timezone.utc).isoformat(
                    timespec="seconds"),
                "grid": grid, "dtypes": list(dtypes), "repeat": args.repeat,
                "max_time": max_time, "workers": args.workers, "device": "cpu",
                "peers": bool(args.peers), "elapsed_s": time.perf_counter() - started,
                "fma_peak_gflops": peak,
                "environment": environment(),
                "timing": "median seconds per call after one warm-up call; "
                          "ratio = t_scipy / t_numbaconv (auto)",
            },
            "rows": rows,
        }

    print_table(rows)
    if any("methods" in r for r in rows):
        from ._bench_report import add_derived, summary
        peak = data["meta"].get("fma_peak_gflops")
        for r in rows:
            add_derived(r, peak)
        text = summary(rows, peak)
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
    bad = [r for r in rows if not r["agree"]]
    if bad:
        print(f"{len(bad)} of {len(rows)} rows disagree with scipy.signal", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
