"""Parallel kernels under Numba's ``omp`` and ``tbb`` threading layers, side by side.

Numba fixes its threading layer once per process, so every measurement runs
in a fresh interpreter with ``NUMBA_THREADING_LAYER`` set.  One warm-up run
per layer fills Numba's cache first (compile time is left out); then each
round runs one process per layer, in a new random order, and each process
times every workload round-robin (:func:`numbaconv._tools.timing.interleaved`).
The table gives the medians over rounds::

    python benchmarks/threading_layers.py               # 5 rounds, markdown table
    python benchmarks/threading_layers.py --rounds 9 --layers omp tbb workqueue

Two more rows time ``scipy.fft.fft`` of 2**18 points right after a parallel
kernel and 20 ms later: a layer whose threads spin after a kernel slows the
first.  Variables set outside are passed on, e.g. libgomp's default spin
count instead of numbaconv's::

    GOMP_SPINCOUNT=300000 python benchmarks/threading_layers.py --layers omp tbb

A layer that cannot load here (Numba would fall back to another) is reported
and left out.  Not an asv suite: asv runs every cell under one layer.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys


def _workloads():
    """``{label: zero-argument callable}``: the parallel paths worth comparing."""
    import numpy as np

    import numbaconv
    import numbaconv.nn

    rng = np.random.default_rng(0)
    x1 = rng.standard_normal(1_000_000).astype(np.float32)
    k1 = rng.standard_normal(31).astype(np.float32)
    a2 = rng.standard_normal((1024, 1024))
    k2 = rng.standard_normal((7, 7))
    a2f = a2.astype(np.float32)
    g = np.exp(-0.5 * (np.arange(15) - 7.0) ** 2 / 9.0)
    gauss = np.outer(g, g).astype(np.float32)
    layer_x = rng.standard_normal((8, 64, 56, 56)).astype(np.float32)
    layer_w = rng.standard_normal((64, 64, 3, 3)).astype(np.float32)
    xo = rng.standard_normal(1_000_000)
    ko = rng.standard_normal(4001)
    small = rng.standard_normal((64, 64))
    mid = rng.standard_normal((256, 256))
    k3 = rng.standard_normal((3, 3))
    return {
        "1-D direct, n = 1e6, k = 31, float32":
            lambda: numbaconv.convolve(x1, k1, method="direct"),
        "2-D direct, 1024² * 7x7, float64, same":
            lambda: numbaconv.convolve(a2, k2, mode="same", method="direct"),
        "separable, 1024² * 15x15 Gaussian, float32, same":
            lambda: numbaconv.convolve(a2f, gauss, mode="same", method="separable"),
        "nn.conv2d, 8x64x56² * 64x64x3x3, float32, pad 1":
            lambda: numbaconv.nn.conv2d(layer_x, layer_w, padding=1),
        "oaconvolve, 1e6 * 4001, float64":
            lambda: numbaconv.oaconvolve(xo, ko),
        "convolve2d, 64² * 3x3, float64, same (serial)":
            lambda: numbaconv.convolve2d(small, k3, mode="same"),
        "convolve2d, 256² * 3x3, float64, same (one launch)":
            lambda: numbaconv.convolve2d(mid, k3, mode="same"),
    }


#: the rows of :func:`_fft_after_kernel`
FFT_AFTER = "scipy.fft.fft 2¹⁸ complex, workers=2, right after the 1-D direct kernel"
FFT_QUIET = "scipy.fft.fft 2¹⁸ complex, workers=2, 20 ms after it"


def _fft_after_kernel(rounds: int) -> dict:
    """Whether the layer's threads keep the cores after a kernel: an FFT right after, and later."""
    import time

    import numpy as np
    import scipy.fft

    import numbaconv

    rng = np.random.default_rng(1)
    x, k = rng.standard_normal(1_000_000).astype(np.float32), rng.standard_normal(31).astype(np.float32)
    z = rng.standard_normal(2 ** 18) + 0j
    after, quiet = [], []
    for _ in range(rounds):
        numbaconv.convolve(x, k, method="direct")
        t = time.perf_counter()
        scipy.fft.fft(z, workers=2)
        after.append(time.perf_counter() - t)
        time.sleep(0.02)
        t = time.perf_counter()
        scipy.fft.fft(z, workers=2)
        quiet.append(time.perf_counter() - t)
    return {FFT_AFTER: statistics.median(after), FFT_QUIET: statistics.median(quiet)}


def _child(repeat: int, max_time: float) -> None:
    """Time every workload in this process; print ``{"layer": ..., "seconds": {...}}``."""
    import numba

    from numbaconv._tools.timing import interleaved

    fns = _workloads()
    seconds = interleaved(fns, repeat=repeat, max_time=max_time)
    seconds.update(_fft_after_kernel(4 * repeat))
    print(json.dumps({"layer": numba.threading_layer(), "seconds": seconds}))


def _run(layer: str, repeat: int, max_time: float) -> dict:
    env = dict(os.environ, NUMBA_THREADING_LAYER=layer)
    out = subprocess.run([sys.executable, __file__, "--child", "--repeat", str(repeat),
                          "--max-time", str(max_time)],
                         env=env, capture_output=True, text=True, check=True, timeout=900)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv=None) -> int:
    """Run the comparison and print a markdown table (medians in ms, ratio to the first layer)."""
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--layers", nargs="+", default=["omp", "tbb"])
    p.add_argument("--rounds", type=int, default=5, help="processes per layer (default 5)")
    p.add_argument("--repeat", type=int, default=7, help="samples per workload and process")
    p.add_argument("--max-time", type=float, default=10.0, help="seconds per process, about")
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        _child(args.repeat, args.max_time)
        return 0

    layers = []
    for layer in args.layers:          # warm-up: fills the cache, finds the layers that load
        got = _run(layer, 1, 0.0)["layer"]
        if got == layer:
            layers.append(layer)
        else:
            print(f"{layer}: not available here (Numba chose {got}); left out", file=sys.stderr)
    if not layers:
        return 1
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    results = {layer: [] for layer in layers}
    for r in range(args.rounds):
        order = random.Random(r).sample(layers, len(layers))
        for layer in order:
            results[layer].append(_run(layer, args.repeat, args.max_time)["seconds"])
        print(f"round {r + 1}/{args.rounds} done", file=sys.stderr)

    from numbaconv._tools import machine

    base = layers[0]
    end = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"{machine.cpu_model()}, {machine.isa()}, {os.cpu_count()} CPUs, load average "
          f"{load:.1f} -> {end:.1f}; median of {args.rounds} processes per layer, each the "
          f"median of its samples\n")
    head = " | ".join(f"{layer} (ms)" for layer in layers)
    ratios = " | ".join(f"{layer} / {base}" for layer in layers[1:])
    print(f"| workload | {head} | {ratios} |")
    print("|---" * (1 + 2 * len(layers) - 1) + "|")
    for name in results[base][0]:
        med = {layer: statistics.median(run[name] for run in results[layer]) for layer in layers}
        cells = " | ".join(f"{1e3 * med[layer]:.3g}" for layer in layers)
        rel = " | ".join(f"{med[layer] / med[base]:.2f}" for layer in layers[1:])
        print(f"| {name} | {cells} | {rel} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
