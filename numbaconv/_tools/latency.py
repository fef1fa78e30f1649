"""``numbaconv bench --latency``: the first call of every public path, cold and warm.

Each case runs twice in a fresh interpreter that shares one new, empty
``NUMBA_CACHE_DIR``: first with the cache empty (*cold*: the first call
compiles), then with the cache the first run filled (*warm*: it loads).
Reported per case: the import time, the first call's wall time, and the
child's CPU seconds (``resource.getrusage(RUSAGE_CHILDREN)``, which a shared
machine's other load does not inflate).  :data:`CASES` is also the parameter
list of ``benchmarks/bench_compile.py``.
"""
from __future__ import annotations

import argparse
import fnmatch
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
from typing import NamedTuple

from . import machine


class Case(NamedTuple):
    """One first call: ``setup`` builds the inputs (untimed), ``stmt`` is the call."""

    path: str
    setup: str
    stmt: str


_NP = "import numpy as np\nrng = np.random.default_rng(0)\n"
_SIG1 = _NP + "a = rng.standard_normal(20_000).astype({dt!r})\nk = rng.standard_normal(65).astype({dt!r})\n"
_SIG2 = _NP + ("a = rng.standard_normal((256, 256)).astype({dt!r})\n"
               "k = rng.standard_normal((7, 7)).astype({dt!r})\n")
_SEP = _NP + ("a = rng.standard_normal((256, 256)).astype({dt!r})\n"
              "k = np.outer(np.hanning(9), np.hanning(7)).astype({dt!r})\n")
_LAYER1 = _NP + "x = rng.standard_normal((2, 8, 256))\nw = rng.standard_normal((8, 8, 3))\n"
_LAYER2 = _NP + "x = rng.standard_normal((2, 8, 32, 32))\nw = rng.standard_normal((8, 8, 3, 3))\n"
_DEPTH = _NP + "x = rng.standard_normal((2, 8, 32, 32))\nw = rng.standard_normal((8, 1, 3, 3))\n"
_BIG = _NP + "x = rng.standard_normal((1, 4, 64, 64))\nw = rng.standard_normal((4, 4, 17, 17))\n"
_TRANS = _NP + "x = rng.standard_normal((2, 8, 16, 16))\nw = rng.standard_normal((8, 4, 3, 3))\n"
_GRAD = _NP + "x = rng.standard_normal((2, 8, 32, 32))\ng = rng.standard_normal((2, 8, 30, 30))\n"

#: name -> case, in the order of the table
CASES = {
    **{f"convolve-1d-direct-{dt}": Case("direct", _SIG1.format(dt=dt),
                                        "numbaconv.convolve(a, k, method='direct')")
       for dt in ("float32", "float64")},
    **{f"convolve-2d-direct-{dt}": Case("direct", _SIG2.format(dt=dt),
                                        "numbaconv.convolve(a, k, mode='same', method='direct')")
       for dt in ("float32", "float64")},
    **{f"convolve-2d-separable-{dt}": Case(
        "separable", _SEP.format(dt=dt), "numbaconv.convolve(a, k, mode='same', method='separable')")
       for dt in ("float32", "float64")},
    "fftconvolve-1d": Case("fft", _SIG1.format(dt="float64"), "numbaconv.fftconvolve(a, k)"),
    "oaconvolve-1d": Case("oa", _SIG1.format(dt="float64"), "numbaconv.oaconvolve(a, k)"),
    **{f"convolve2d-{b}": Case("convolve2d", _SIG2.format(dt="float64"),
                               f"numbaconv.convolve2d(a, k, mode='same', boundary={b!r})")
       for b in ("fill", "wrap", "symm")},
    "choose_conv_method": Case("choose", _SIG1.format(dt="float64"),
                               "numbaconv.choose_conv_method(a, k)"),
    "nn-conv1d-direct": Case("nn", _LAYER1, "numbaconv.nn.conv1d(x, w, method='direct')"),
    "nn-conv2d-direct": Case("nn", _LAYER2, "numbaconv.nn.conv2d(x, w, method='direct')"),
    "nn-conv2d-gemm": Case("nn", _LAYER2, "numbaconv.nn.conv2d(x, w, method='gemm')"),
    "nn-conv2d-depthwise": Case("nn", _DEPTH, "numbaconv.nn.conv2d(x, w, groups=8, method='direct')"),
    "nn-conv2d-fft": Case("nn", _BIG, "numbaconv.nn.conv2d(x, w, method='fft')"),
    "nn-conv_transpose2d": Case("nn", _TRANS, "numbaconv.nn.conv_transpose2d(x, w, stride=2)"),
    "nn-conv2d_weight": Case("nn", _GRAD, "numbaconv.nn.conv2d_weight(x, (8, 8, 3, 3), g)"),
}

#: the child: imports numbaconv, builds the inputs, times the first call; prints JSON
_CHILD = """
import json, time
t0 = time.perf_counter()
import numbaconv, numbaconv.nn
t1 = time.perf_counter()
{setup}
t2 = time.perf_counter()
{stmt}
t3 = time.perf_counter()
print(json.dumps({{"import_s": t1 - t0, "first_call_s": t3 - t2}}))
"""


def select(patterns=None) -> dict:
    """Return the cases whose name or path matches one of ``patterns`` (shell patterns); all for None.

    Examples
    --------
    >>> from numbaconv._tools.latency import select
    >>> list(select(["convolve2d", "*separable-float32"]))
    ['convolve-2d-separable-float32', 'convolve2d-fill', 'convolve2d-wrap', 'convolve2d-symm']
    """
    if not patterns:
        return dict(CASES)
    return {name: c for name, c in CASES.items()
            if any(fnmatch.fnmatchcase(name, p) or c.path == p for p in patterns)}


def child_code(case: Case) -> str:
    """Return the whole program a fresh interpreter runs for ``case``."""
    return _CHILD.format(setup=case.setup, stmt=case.stmt)


def run_child(case: Case, cache: str, timeout: float = 900.0) -> dict:
    """Run ``case`` in a fresh interpreter on ``cache``: its timings and its CPU seconds."""
    env = dict(os.environ, NUMBA_CACHE_DIR=cache)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    proc = subprocess.run([sys.executable, "-c", child_code(case)], env=env, capture_output=True,
                          text=True, timeout=timeout)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise RuntimeError(f"the child failed:\n{proc.stderr}")
    row = json.loads(proc.stdout.strip().splitlines()[-1])
    row["cpu_s"] = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return row


def measure(name: str, case: Case) -> dict:
    """Cold, then warm, on a new temporary cache removed afterwards."""
    cache = tempfile.mkdtemp(prefix="numbaconv-latency-")
    try:
        cold = run_child(case, cache)
        warm = run_child(case, cache)
    finally:
        shutil.rmtree(cache, ignore_errors=True)
    return {"case": name, "cold": cold, "warm": warm}


def table(rows) -> str:
    """Markdown table of :func:`measure`'s rows."""
    lines = ["| case | import s | cold first call s (CPU s) | warm first call s (CPU s) |",
             "|---|---|---|---|"]
    for r in rows:
        c, w = r["cold"], r["warm"]
        lines.append(f"| {r['case']} | {c['import_s']:.2f} | {c['first_call_s']:.2f} "
                     f"({c['cpu_s']:.1f}) | {w['first_call_s']:.2f} ({w['cpu_s']:.1f}) |")
    return "\n".join(lines)


def cpu_line() -> str:
    """``numbaconv info``'s CPU facts on one line."""
    return f"cpu: {machine.cpu_model()}, {machine.isa()}, {os.cpu_count()} CPUs"


def main(args: argparse.Namespace) -> int:
    """``numbaconv bench --latency [--paths ...] [--json FILE]``."""
    patterns = [p.strip() for p in (args.paths or "").split(",") if p.strip()]
    cases = select(patterns)
    if not cases:
        print(f"numbaconv bench --latency: no case matches {patterns}; cases: "
              + ", ".join(CASES) + "; paths: " + ", ".join(sorted({c.path for c in CASES.values()})),
              file=sys.stderr)
        return 2
    rows = []
    for i, (name, case) in enumerate(cases.items(), 1):
        rows.append(measure(name, case))
        print(f"[{i}/{len(cases)}] {name}: cold {rows[-1]['cold']['first_call_s']:.2f} s, "
              f"warm {rows[-1]['warm']['first_call_s']:.2f} s", file=sys.stderr, flush=True)
    print(cpu_line())
    print("(wall seconds of the first call; the child's whole CPU seconds in brackets)")
    print(table(rows))
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump({"environment": machine.environment(), "rows": rows}, fh, indent=1)
    return 0
