"""``numbaconv bench --methods``: every method timed, the machine's FMA peak, the summaries.

For each grid cell :func:`time_methods` times every numbaconv method that can
run it (``direct``, ``fft``, ``oa``, and ``separable`` for rank-1 kernels) and
SciPy's ``direct``, ``fft`` and ``oa`` paths, so that the report can say

* how far ``method='auto'`` is from the fastest numbaconv method (the
  *regret*: ``t_auto / t_fastest - 1``),
* how fast each SciPy path is next to ours, and
* what fraction of the machine's FMA peak the direct kernel reaches
  (GFLOP/s = 2 x :attr:`numbaconv._problem.Problem.macs` / time: the
  products with the zero fill at the edges are not counted).

:func:`fma_peak` measures that peak with a Numba kernel of independent FMA
chains (one register block of :mod:`numbaconv._kernels.simd` per thread: 16
vector chains on AVX-512, one thread per core).

Methods that the cost model predicts far slower than the best method are
recorded as skipped rather than timed for minutes: they cannot be the fastest.
"""
from __future__ import annotations

import math
import statistics

import numpy as np

from .. import _api
from .._config import numba_threads, resolve_workers
from .._kernels.simd import lanes
from .._probes import is_separable
from .._problem import build_problem
from .._timing import sample
from .formatting import percent, seconds
from .peers import Skip
from .peers import make as make_peer
from .timing import interleaved

#: a method predicted this many times slower than the best prediction is skipped
SKIP_PREDICTED = 30.0
#: ...but only when its predicted time also exceeds this many seconds
SKIP_MIN_SECONDS = 0.5
#: SciPy's direct method is not run above this many multiply-adds (single-threaded, minutes)
SCIPY_DIRECT_MAX_OPS = 1e9


# --------------------------------------------------------------------------
# FMA peak
# --------------------------------------------------------------------------

_peak_kernels = {}


def _peak_kernel():
    if "k" not in _peak_kernels:
        from numba import prange

        from .._jit import jit
        from .._kernels.simd import block_zeros, fma_at, store_at

        @jit(parallel=True)
        def chains(src, out, iters):
            """Per thread: one block of W accumulators, ``iters`` x 8 FMAs into it."""
            for t in prange(out.shape[0]):
                acc = block_zeros(src)
                row = out[t]
                for _ in range(iters):
                    for j in range(8):
                        fma_at(acc, src[j], src, 0)
                store_at(acc, row, 0)

        _peak_kernels["k"] = chains
    return _peak_kernels["k"]


def fma_peak(dtype="float32", threads=None, seconds=0.3) -> float:
    """Measured peak GFLOP/s of packed FMAs on ``threads`` cores (default: all).

    Parameters
    ----------
    dtype : str or numpy.dtype
        ``float32`` or ``float64``.
    threads : int, optional
        Parallel chains; defaults to numbaconv's worker count.
    seconds : float
        Rough duration of one timed run.

    Returns
    -------
    float
        The best of five runs, in GFLOP/s (one FMA = 2 flops).

    Examples
    --------
    >>> from numbaconv._tools.report import fma_peak
    >>> fma_peak("float32", threads=1, seconds=0.01) > 0.1
    True
    """
    dt = np.dtype(dtype)
    nl = lanes(dt)
    threads = resolve_workers(threads)
    kern = _peak_kernel()
    # small positive taps near 1/4 keep the sums bounded (no inf/denormal slow paths)
    src = np.full(nl, 1e-3, dt)
    src[:8] = (0.25, -0.25, 0.125, -0.125, 0.25, -0.25, 0.125, -0.125)
    out = np.empty((threads, nl), dt)
    with numba_threads(threads):
        kern(src, out, 10)
        iters = 1000      # the chains' length, not a batch of calls: one call is one run
        while sample(lambda: kern(src, out, iters), 1) <= seconds / 4 and iters <= 1 << 30:
            iters *= 4
        best = min(sample(lambda: kern(src, out, iters), 1) for _ in range(5))
    flops = 2.0 * threads * iters * 8 * nl
    return flops / best / 1e9


def machine_peaks(workers=None, seconds=0.1, dtypes=("float32", "float64")) -> dict:
    """:func:`fma_peak` of each dtype on ``workers`` threads: the figure every table names."""
    return {d: fma_peak(d, workers, seconds=seconds) for d in dtypes}


# --------------------------------------------------------------------------
# every method of one cell
# --------------------------------------------------------------------------

def time_methods(cell, a, kern, *, repeat, max_time, workers=None, predicted=None):
    """Seconds per call of auto, each numbaconv method and each SciPy path for one cell.

    Returns ``(auto, ours, scipy_times)``; ``ours`` and ``scipy_times`` map
    a method to seconds, or to a string saying why it was skipped.  Three
    round-robin groups (:func:`interleaved`): numbaconv's auto with SciPy's
    auto (the speed-up), numbaconv's fixed methods (the regret of auto's
    choice), SciPy's fixed methods.
    """
    kwargs = {} if workers is None else {"workers": workers}
    mode = cell.mode
    ours, theirs = {}, {}
    methods = ["direct", "fft", "oa"]
    if cell.ndim == 2 and cell.dtype.startswith(("float", "complex")):
        if is_separable(kern):
            methods.append("separable")
        else:      # method='separable' refuses a kernel of higher rank (a ValueError)
            ours["separable"] = "skipped: the kernel is not rank 1"
    predicted = predicted or {}
    best_pred = min([v for v in predicted.values() if v], default=None)
    auto_fn = lambda: _api.convolve(a, kern, mode=mode, method="auto", **kwargs)  # noqa: E731
    # the speed-up over SciPy: the two autos alone, round-robin (the large
    # FFT methods of the other group churn memory, which their neighbours pay for)
    head = interleaved({"auto": auto_fn,
                        "scipy.auto": make_peer("scipy.auto", a, kern, mode, workers=workers)},
                       repeat, max_time)
    theirs["auto"] = head["scipy.auto"]
    fns = {}
    for m in methods:
        pred = predicted.get(m)
        if (pred is not None and best_pred is not None and pred > SKIP_PREDICTED * best_pred
                and pred > SKIP_MIN_SECONDS):
            ours[m] = f"skipped: predicted {pred:.3g} s, {pred / best_pred:.0f}x the best"
            continue
        fns[m] = lambda m=m: _api.convolve(a, kern, mode=mode, method=m, **kwargs)
    ours.update(interleaved(fns, repeat, max_time) if fns else {})
    auto = head["auto"]
    scipy_fns = {}
    for m, peer in (("direct", "scipy.direct"), ("fft", "scipy.fft"), ("oa", "scipy.oaconvolve")):
        try:
            scipy_fns[m] = make_peer(peer, a, kern, mode, workers=workers,
                                     max_direct_ops=SCIPY_DIRECT_MAX_OPS)
        except Skip as exc:
            theirs[m] = f"skipped: {exc}"
    theirs.update(interleaved(scipy_fns, repeat, max_time))
    return auto, ours, theirs


def predicted_costs(a, kern, mode, workers=None) -> dict:
    """The dispatcher's predicted seconds per method family (from :func:`numbaconv.explain`)."""
    out = {}
    for m in ("direct", "fft", "oa", "separable"):
        try:
            choice = _api.explain(a, kern, mode=mode, method=m, workers=workers)
        except Exception:  # noqa: BLE001 - a method that cannot run has no prediction
            continue
        if choice.method == m and choice.costs:
            out[m] = min(choice.costs.values())
    return out


# --------------------------------------------------------------------------
# summaries
# --------------------------------------------------------------------------

def _fastest(methods: dict):
    times = {m: t for m, t in methods.items() if isinstance(t, (int, float))}
    if not times:
        return None, None
    m = min(times, key=times.get)
    return m, times[m]


#: 1-D cells from this many taps get the direct kernel's GFLOP/s against the FMA peak
PEAK_MIN_TAPS = 31


def add_derived(row: dict, peak: dict | None) -> None:
    """Regret, fastest method, GFLOP/s of direct and its fraction of peak, in place."""
    methods = dict(row.get("methods") or {})
    if not row.get("separable_kernel"):
        methods.pop("separable", None)   # not rank 1: method='separable' runs the direct path
    best_m, best_t = _fastest(methods)
    row["fastest_method"] = best_m
    t_auto = row.get("t_auto_interleaved") or row.get("t_numbaconv")
    # the choice: the time of the method auto picked, timed as a fixed method
    t_chosen = methods.get(row.get("auto_method"))
    row["regret"] = (t_chosen / best_t - 1.0) if best_t and isinstance(t_chosen, float) else None
    # auto itself: the choice plus auto's own work (value scans, rank test) and noise
    row["regret_auto"] = (t_auto / best_t - 1.0) if best_t and t_auto else None
    t_sp = (row.get("scipy_methods") or {}).get("auto")
    if isinstance(t_sp, (int, float)) and t_auto:
        row["ratio"] = t_sp / t_auto        # the interleaved figure replaces the sequential one
    # the kernel's throughput: the faster of two medians, direct timed on its own (warm
    # caches) and in the round-robin (cold caches); the host's noise only ever adds time
    t_rr = (row.get("methods") or {}).get("direct")
    times = [t for t in (row.get("t_direct_alone"), t_rr) if isinstance(t, (int, float))]
    if times:
        t_dir = min(times)
        macs = build_problem(tuple(row["shape_a"]), tuple(row["shape_k"]), row["mode"],
                             np.dtype(row["dtype"])).macs
        row["gflops_direct"] = 2.0 * macs / t_dir / 1e9
        if isinstance(t_rr, (int, float)):
            row["gflops_direct_round_robin"] = 2.0 * macs / t_rr / 1e9
        if peak and row["dtype"] in peak:
            row["peak_fraction_direct"] = row["gflops_direct"] / peak[row["dtype"]]


def geomean(xs) -> float:
    xs = [x for x in xs if x]
    return math.exp(statistics.fmean(math.log(x) for x in xs)) if xs else float("nan")


def summary(rows, peak=None, machine_text=None) -> str:
    """Markdown tables: speed-up vs SciPy auto per grid, the regret table, direct vs peak.

    ``machine_text`` (:func:`numbaconv._tools.formatting.machine_line`) heads them.
    """
    lines = [machine_text, ""] if machine_text else []
    groups = {}
    for r in rows:
        groups.setdefault((r["ndim"], r["dtype"]), []).append(r)
    lines.append("| grid | dtype | cells | geomean speed-up vs scipy auto | slowest cell (x) "
                 "| choice within 10% | within 25% | worst regret |")
    lines.append("|---|---|---|---|---|---|---|---|")
    for (nd, dt), rs in sorted(groups.items()):
        ratios = [r["ratio"] for r in rs if r.get("ratio")]
        worst = min(rs, key=lambda r: r.get("ratio") or math.inf)
        regrets = [r["regret"] for r in rs if r.get("regret") is not None]
        w10 = sum(1 for x in regrets if x <= 0.10)
        w25 = sum(1 for x in regrets if x <= 0.25)
        worst_reg = max(rs, key=lambda r: r.get("regret") if r.get("regret") is not None else -1)
        lines.append(
            f"| {nd}-D | {dt} | {len(rs)} | {geomean(ratios):.2f} | "
            f"{worst.get('ratio') or float('nan'):.2f} ({_label(worst)}) | {w10}/{len(regrets)} | "
            f"{w25}/{len(regrets)} | {100 * (worst_reg.get('regret') or 0):.0f}% ({_label(worst_reg)}) |")
    lines.append("")
    lines.append("Regret table. regret = time of the method auto chose (timed as a fixed method) / "
                 "time of the fastest numbaconv method - 1; auto = time of method='auto' itself "
                 "(its regret in brackets). All numbaconv columns and SciPy's auto are timed "
                 "round-robin in one process; SciPy's fixed methods in a second round-robin.")
    lines.append("")
    lines.append("| cell | dtype | auto chose | auto | fastest | direct | fft | oa | separable "
                 "| regret | scipy auto | scipy direct | scipy fft | scipy oa | vs scipy auto |")
    lines.append("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        ms, ss = r.get("methods") or {}, r.get("scipy_methods") or {}
        lines.append(
            f"| {_label(r)} | {r['dtype']} | {r.get('auto_method')} | "
            f"{seconds(r.get('t_auto_interleaved'))} | {r.get('fastest_method')} | "
            + " | ".join(seconds(ms.get(m)) for m in ("direct", "fft", "oa", "separable"))
            + f" | {percent(r.get('regret'))} ({percent(r.get('regret_auto'))}) | "
            + f"{seconds(ss.get('auto', r.get('t_scipy')))} | "
            + " | ".join(seconds(ss.get(m)) for m in ("direct", "fft", "oa"))
            + f" | {r.get('ratio') or float('nan'):.2f} |")
    fr = [r for r in rows
          if r.get("gflops_direct") and r["ndim"] == 1 and r["k"] >= PEAK_MIN_TAPS]
    if fr:
        lines.append("")
        lines.append(f"Direct 1-D, k >= {PEAK_MIN_TAPS}: GFLOP/s against the measured FMA peak "
                     + (", ".join(f"{d} {p:.1f}" for d, p in (peak or {}).items())) + " GFLOP/s:")
        lines.append("")
        lines.append("direct timed on its own, back to back, and in the methods round-robin "
                     "(after an FFT's call); GFLOP/s from the faster of the two medians:")
        lines.append("")
        lines.append("| cell | dtype | alone | in the round-robin | GFLOP/s | of peak |")
        lines.append("|---|---|---|---|---|---|")
        for r in fr:
            lines.append(f"| {_label(r)} | {r['dtype']} | {seconds(r.get('t_direct_alone'))} | "
                         f"{seconds(r['methods'].get('direct'))} | {r['gflops_direct']:.1f} | "
                         f"{percent(r.get('peak_fraction_direct'))} |")
    return "\n".join(lines)


def _label(r) -> str:
    return (f"n={r['n']:.0e} k={r['k']}" if r["ndim"] == 1 else f"{r['n']}^2 k={r['k']}^2")
