"""``numbaconv bench --nn``: numbaconv.nn on common layer shapes, against PyTorch or NumPy.

For every layer of :func:`layers` (a ResNet 3x3 and its 7x7 stem, depthwise
3x3 and 7x7, a dilated 3x3, a 1-D k = 9, a 4x4 transposed upsampling and a
31x31 large kernel), batch :data:`BATCH`, float32 and float64, the command

1. asks :func:`numbaconv.nn.explain` which backend ``method='auto'`` picks,
2. computes the layer with numbaconv and with the peer --
   ``torch.nn.functional`` when torch is importable (``torch.no_grad()``,
   ``torch.set_num_threads(workers)``), else :func:`im2col_conv`, im2col
   columns and ``numpy.matmul`` written here -- and checks numbaconv's result
   against the peer's with the tolerance table
   (:func:`numbaconv._tools.tolerance.allowed_error`); a row that disagrees
   is marked and makes the exit status 1,
3. times the two in one round-robin (:func:`numbaconv._tools.timing.interleaved`,
   medians) and, with ``--methods``, every method some backend supports in a
   second one,
4. reports GFLOP/s, 2 x :attr:`numbaconv._problem.LayerProblem.macs` per
   second, and its share of the machine's measured FMA peak
   (:func:`numbaconv._tools.report.fma_peak`).

``--quick`` takes batch 2 and at most 3 rounds; the hidden ``--tiny`` takes
small layers of the same kinds (the tests).  The asv suite
``benchmarks/bench_nn.py`` times the same layers.

Exit status: 0 when every row agrees, 1 when one does not (or raised), 2 on
a usage error.
"""
from __future__ import annotations

import dataclasses
import datetime
import json
import math
import os
import sys
import time

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from .. import nn
from .._config import resolve_workers, set_workers
from .._problem import LayerProblem
from . import checks, grids, machine, report
from .formatting import percent, seconds
from .peers import Skip
from .timing import interleaved
from .tolerance import allowed_error, compare, eps

#: batch size per grid
BATCH = {"full": 8, "quick": 2, "tiny": 2}
#: the method values of numbaconv.nn that name one backend family
METHODS = ("direct", "gemm", "fft")
#: the NumPy baseline gathers at most this many bytes of im2col columns at a time
CHUNK_BYTES = 64 << 20


@dataclasses.dataclass(frozen=True)
class Layer:
    """One layer call: ``function(x, w, b, **kwargs)`` with ``x`` of ``(N, channels, *size)``."""

    name: str
    function: str          # the name in numbaconv.nn and in torch.nn.functional
    channels: int
    out_channels: int
    size: tuple            # spatial shape of the input
    kernel: tuple
    stride: int = 1
    padding: object = 0    # an int or 'same'
    dilation: int = 1
    groups: int = 1
    output_padding: int = 0

    @property
    def transposed(self) -> bool:
        return self.function.startswith("conv_transpose")

    @property
    def ndim(self) -> int:
        return len(self.kernel)

    @property
    def weight_shape(self) -> tuple:
        if self.transposed:
            return (self.channels, self.out_channels // self.groups) + self.kernel
        return (self.out_channels, self.channels // self.groups) + self.kernel

    @property
    def kwargs(self) -> dict:
        kw = dict(stride=self.stride, padding=self.padding, dilation=self.dilation,
                  groups=self.groups)
        if self.transposed:
            kw["output_padding"] = self.output_padding
        return kw

    def pairs(self) -> tuple:
        """Forward: the (left, right) zero padding per spatial axis ('same': odd element right)."""
        if self.padding == "same":
            total = [self.dilation * (k - 1) for k in self.kernel]
            return tuple((t // 2, t - t // 2) for t in total)
        return ((self.padding, self.padding),) * self.ndim

    def out_size(self) -> tuple:
        s, d = self.stride, self.dilation
        if self.transposed:
            return tuple((z - 1) * s - 2 * self.padding + d * (k - 1) + self.output_padding + 1
                         for z, k in zip(self.size, self.kernel))
        return tuple((z + lo + r - d * (k - 1) - 1) // s + 1
                     for z, k, (lo, r) in zip(self.size, self.kernel, self.pairs()))

    def problem(self, batch: int, dtype) -> LayerProblem:
        """Describe the call as the dispatcher sees it (for its multiply-add count)."""
        n = self.ndim
        shape = self.size if self.transposed else tuple(
            z + lo + r for z, (lo, r) in zip(self.size, self.pairs()))
        return LayerProblem(batch, self.channels, self.out_channels, self.groups, shape,
                            self.kernel, (self.stride,) * n, (self.dilation,) * n,
                            self.out_size(), np.dtype(dtype), transposed=self.transposed,
                            start=(self.padding,) * n if self.transposed else ())

    def describe(self) -> str:
        """Return a table label, e.g. ``'7x7/2 3->64 224² p3'``, ``'k9 64->64 L=4096 p4'``."""
        k = "x".join(map(str, self.kernel)) if self.ndim > 1 else f"k{self.kernel[0]}"
        if self.stride != 1:
            k += f"/{self.stride}"
        if self.dilation != 1:
            k += f" d{self.dilation}"
        side = self.size[0]
        size = f"L={side}" if self.ndim == 1 else f"{side}\u00b2"
        pad = "same" if self.padding == "same" else f"p{self.padding}"
        if self.transposed:
            out = self.out_size()[0]
            return (f"T {k} {self.channels}->{self.out_channels} {side}\u00b2->{out}\u00b2 "
                    f"p{self.padding}")
        if self.groups == self.channels == self.out_channels and self.groups > 1:
            return f"dw {k} {self.channels}ch {size} {pad}"
        return f"{k} {self.channels}->{self.out_channels} {size} {pad}"


_FULL = (
    Layer("conv3x3", "conv2d", 64, 64, (56, 56), (3, 3), padding=1),
    Layer("stem7x7", "conv2d", 3, 64, (224, 224), (7, 7), stride=2, padding=3),
    Layer("dw3x3", "conv2d", 64, 64, (56, 56), (3, 3), padding=1, groups=64),
    Layer("dw7x7", "conv2d", 128, 128, (56, 56), (7, 7), padding=3, groups=128),
    Layer("dilated3x3", "conv2d", 64, 64, (56, 56), (3, 3), padding=2, dilation=2),
    Layer("conv1d_k9", "conv1d", 64, 64, (4096,), (9,), padding=4),
    Layer("up4x4", "conv_transpose2d", 64, 32, (28, 28), (4, 4), stride=2, padding=1),
    Layer("large31x31", "conv2d", 16, 16, (128, 128), (31, 31), padding="same"),
    # depthwise layers of a MobileNet: short rows of many channels, a stride-2 one
    Layer("dw3x3_28", "conv2d", 192, 192, (28, 28), (3, 3), padding=1, groups=192),
    Layer("dw3x3_s2", "conv2d", 144, 144, (56, 56), (3, 3), stride=2, padding=1, groups=144),
    Layer("dw3x3_7", "conv2d", 960, 960, (7, 7), (3, 3), padding=1, groups=960),
)

# the same kinds of layer, small enough that the tests and asv's smoke run take seconds
_TINY = (
    Layer("conv3x3", "conv2d", 8, 8, (12, 12), (3, 3), padding=1),
    Layer("stem7x7", "conv2d", 3, 8, (32, 32), (7, 7), stride=2, padding=3),
    Layer("dw3x3", "conv2d", 8, 8, (12, 12), (3, 3), padding=1, groups=8),
    Layer("dw7x7", "conv2d", 8, 8, (14, 14), (7, 7), padding=3, groups=8),
    Layer("dilated3x3", "conv2d", 8, 8, (12, 12), (3, 3), padding=2, dilation=2),
    Layer("conv1d_k9", "conv1d", 8, 8, (128,), (9,), padding=4),
    Layer("up4x4", "conv_transpose2d", 8, 4, (7, 7), (4, 4), stride=2, padding=1),
    Layer("large31x31", "conv2d", 2, 2, (32, 32), (31, 31), padding="same"),
    Layer("dw3x3_28", "conv2d", 16, 16, (10, 10), (3, 3), padding=1, groups=16),
    Layer("dw3x3_s2", "conv2d", 16, 16, (12, 12), (3, 3), stride=2, padding=1, groups=16),
    Layer("dw3x3_7", "conv2d", 32, 32, (5, 5), (3, 3), padding=1, groups=32),
)


def layers(grid: str = "full") -> tuple:
    """Return the layers of ``grid``: ``'tiny'`` has small ones, the others the real shapes.

    Examples
    --------
    >>> from numbaconv._tools.bench_nn import layers
    >>> [layer.describe() for layer in layers()][:3]
    ['3x3 64->64 56² p1', '7x7/2 3->64 224² p3', 'dw 3x3 64ch 56² p1']
    """
    return _TINY if grid == "tiny" else _FULL


def inputs(layer: Layer, batch: int, dtype, seed: int = grids.SEED):
    """Reproducible input, weight and bias of ``layer`` (:func:`numbaconv._tools.grids.draw`)."""
    rng = np.random.default_rng(seed)
    x = grids.draw(rng, (batch, layer.channels) + layer.size, dtype)
    w = grids.draw(rng, layer.weight_shape, dtype)
    b = grids.draw(rng, (layer.out_channels,), dtype)
    return x, w, b


# --------------------------------------------------------------------------
# the NumPy baseline
# --------------------------------------------------------------------------

def im2col_conv(x, w, bias, stride, pairs, dilation, groups):
    """Compute torch's ``conv*d`` on im2col columns and ``numpy.matmul``, without numbaconv.

    ``x`` is ``(N, C, *size)``, ``w`` is ``(O, C/groups, *kernel)``, ``pairs``
    the (left, right) zero padding per spatial axis; ``stride`` and
    ``dilation`` are per axis.  Columns are gathered per sample, a block of
    output rows at a time (at most :data:`CHUNK_BYTES`), as torch's own CPU
    fallback does, so that a large kernel does not need them all at once.
    """
    n = w.ndim - 2
    kernel = w.shape[2:]
    xp = np.pad(x, ((0, 0), (0, 0)) + tuple(pairs))
    extent = tuple(d * (k - 1) + 1 for d, k in zip(dilation, kernel))
    view = sliding_window_view(xp, extent, axis=tuple(range(2, 2 + n)))
    view = view[(slice(None),) * 2 + tuple(slice(None, None, s) for s in stride)
                + tuple(slice(None, None, d) for d in dilation)]     # (N, C, *out, *kernel)
    batch, channels = x.shape[:2]
    out_ch = w.shape[0]
    cg, og, taps = channels // groups, out_ch // groups, math.prod(kernel)
    out_shape = view.shape[2:2 + n]
    out = np.empty((batch, out_ch) + out_shape, dtype=np.result_type(x, w))
    wt = w.reshape(groups, og, cg * taps).transpose(0, 2, 1)              # (g, Cg*K, O/g)
    row = math.prod(out_shape[1:]) * channels * taps * out.itemsize
    step = max(1, CHUNK_BYTES // max(row, 1))
    # (g, Cg, rows, *rest, *kernel) -> (g, rows, *rest, Cg, *kernel)
    order = (0,) + tuple(range(2, 2 + n)) + (1,) + tuple(range(2 + n, 2 + 2 * n))
    for i in range(batch):
        for r0 in range(0, out_shape[0], step):
            part = view[i, :, r0:r0 + step]
            rows = part.shape[1:1 + n]
            cols = part.reshape((groups, cg) + part.shape[1:]).transpose(order).reshape(
                groups, math.prod(rows), cg * taps)
            prod = np.matmul(cols, wt)                                      # (g, P, O/g)
            out[i, :, r0:r0 + step] = prod.transpose(0, 2, 1).reshape((out_ch,) + rows)
    if bias is not None:
        out += bias.reshape((1, -1) + (1,) * n)
    return out


def im2col_conv_transpose(x, w, bias, stride, padding, output_padding, dilation, groups):
    """Compute torch's ``conv_transpose*d`` as a forward :func:`im2col_conv`.

    The input is spread out by the stride (zeros between samples), padded by
    ``dilation * (k - 1) - padding`` on the left and that plus
    ``output_padding`` on the right (cropped where negative), and correlated
    with the weight flipped and its channel axes swapped per group.
    """
    n = w.ndim - 2
    kernel = w.shape[2:]
    batch, channels = x.shape[:2]
    og = w.shape[1]
    spread = tuple((z - 1) * s + 1 for z, s in zip(x.shape[2:], stride))
    z = np.zeros((batch, channels) + spread, dtype=x.dtype)
    z[(slice(None),) * 2 + tuple(slice(None, None, s) for s in stride)] = x
    lo = [d * (k - 1) - p for d, k, p in zip(dilation, kernel, padding)]
    hi = [v + op for v, op in zip(lo, output_padding)]
    z = np.pad(z, ((0, 0), (0, 0)) + tuple((max(a, 0), max(b, 0)) for a, b in zip(lo, hi)))
    z = z[(slice(None),) * 2 + tuple(slice(max(-a, 0), z.shape[2 + i] - max(-b, 0))
                                     for i, (a, b) in enumerate(zip(lo, hi)))]
    wf = w.reshape((groups, channels // groups, og) + kernel).swapaxes(1, 2)
    wf = np.flip(wf.reshape((groups * og, channels // groups) + kernel), tuple(range(2, 2 + n)))
    return im2col_conv(z, np.ascontiguousarray(wf), bias, (1,) * n, ((0, 0),) * n, dilation,
                       groups)


def numpy_layer(layer: Layer, x, w, b):
    """``layer`` on the NumPy baseline (:func:`im2col_conv`, :func:`im2col_conv_transpose`)."""
    n = layer.ndim
    s, d = (layer.stride,) * n, (layer.dilation,) * n
    if layer.transposed:
        return im2col_conv_transpose(x, w, b, s, (layer.padding,) * n,
                                     (layer.output_padding,) * n, d, layer.groups)
    return im2col_conv(x, w, b, s, layer.pairs(), d, layer.groups)


# --------------------------------------------------------------------------
# the callables timed (asv uses them too)
# --------------------------------------------------------------------------

def import_torch():
    """Return the torch module, or None when it is not importable (NumPy is the peer then)."""
    try:
        import torch
    except Exception:  # noqa: BLE001 - missing, or a broken install: no peer
        return None
    return torch


def memory_limit() -> float:
    """Bytes one intermediate array may take: half the memory available now (4 GiB if unknown)."""
    try:
        with open("/proc/meminfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024 / 2
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") / 2
    except (ValueError, OSError, AttributeError):
        return float(4 << 30)


def gemm_bytes(problem: LayerProblem) -> int:
    """Bytes of the largest array the ``cpu_layer_gemm`` backend makes for ``problem``.

    Forward: its im2col columns, every window of the input in one matrix;
    transposed: the products of every input position with every tap.
    """
    if problem.transposed:
        elems = problem.batch * math.prod(problem.shape) * problem.out_channels * problem.taps
    else:
        elems = problem.batch * math.prod(problem.out_shape) * problem.channels * problem.taps
    return elems * problem.dtype.itemsize


#: explain() knows the layer functions by identity: the ones numbaconv.nn had at import
_FUNCTIONS = {name: getattr(nn, name) for name in ("conv1d", "conv2d", "conv_transpose2d")}


def numbaconv_call(layer: Layer, x, w, b, method: str = "auto", *, limit=None):
    """``(callable, choice)`` running ``layer`` in numbaconv.nn with ``method``.

    Raises
    ------
    numbaconv._tools.peers.Skip
        No backend runs ``method`` on this layer, or the chosen backend is
        the im2col one and its columns would pass ``limit`` bytes
        (default :func:`memory_limit`): the machine would swap or the
        process be killed.
    """
    fn_name, kwargs = layer.function, layer.kwargs
    try:
        choice = nn.explain(_FUNCTIONS[fn_name], x, w, b, **kwargs, method=method)
    except ValueError as exc:
        raise Skip(f"method {method!r}: {exc}") from None
    if choice.backend == "cpu_layer_gemm":
        need = gemm_bytes(layer.problem(x.shape[0], x.dtype))
        limit = memory_limit() if limit is None else limit
        if need > limit:
            raise Skip(f"{choice.backend} would allocate {need / 2**30:.1f} GiB "
                       f"(limit {limit / 2**30:.1f} GiB)")

    def call():
        # looked up at each call, so that a test can replace the function
        return getattr(nn, fn_name)(x, w, b, **kwargs, method=method)
    return call, choice


def torch_call(layer: Layer, x, w, b):
    """Return a callable running ``layer`` in ``torch.nn.functional`` on views of ``x, w, b``.

    Raises :class:`numbaconv._tools.peers.Skip` when torch is not importable.
    """
    torch = import_torch()
    if torch is None:
        raise Skip("torch is not installed")
    fn = getattr(torch.nn.functional, layer.function)
    tx, tw, tb = (torch.from_numpy(np.ascontiguousarray(a)) for a in (x, w, b))
    kwargs = layer.kwargs

    def call():
        with torch.no_grad():
            return fn(tx, tw, tb, **kwargs)
    return call


def numpy_call(layer: Layer, x, w, b):
    """Return a callable running ``layer`` on the NumPy baseline."""
    return lambda: numpy_layer(layer, x, w, b)


class _TorchThreads:
    """Set torch's intra-op thread count for a block and restore it (nothing without torch)."""

    def __init__(self, torch, threads):
        self.torch, self.threads, self.old = torch, threads, None

    def __enter__(self):
        if self.torch is not None:
            self.old = self.torch.get_num_threads()
            self.torch.set_num_threads(self.threads)
        return self

    def __exit__(self, *exc):
        if self.torch is not None:
            self.torch.set_num_threads(self.old)


# --------------------------------------------------------------------------
# one row
# --------------------------------------------------------------------------

def bound(layer: Layer, x, w, b, dtype):
    """Return the per-element allowance of ``layer``'s result (the one tolerance table).

    The magnitude is the same layer on ``|x|, |w|, |b|`` in float64 (the
    NumPy baseline); a sum has ``C/groups x taps`` terms, and an FFT method
    would transform the padded input and the kernel's extent.
    """
    mag = numpy_layer(layer, *(np.abs(a).astype(np.float64) for a in (x, w, b)))
    terms = layer.channels // layer.groups * math.prod(layer.kernel)
    sides = layer.out_size() if layer.transposed else layer.problem(1, dtype).shape
    n_fft = math.prod(z + layer.dilation * (k - 1) for z, k in zip(sides, layer.kernel))
    return allowed_error(mag, eps(dtype), terms, n_fft)


def bench_layer(layer: Layer, dtype: str, *, batch: int, repeat: int, max_time: float,
                peer: str, methods: bool = False, limit=None) -> dict:
    """Check and time one layer in one dtype; return its JSON row."""
    x, w, b = inputs(layer, batch, dtype)
    problem = layer.problem(batch, dtype)
    row = {
        "layer": layer.name, "description": layer.describe(), "function": layer.function,
        "dtype": dtype, "batch": batch, "x_shape": list(x.shape), "w_shape": list(w.shape),
        "kwargs": layer.kwargs, "out_shape": [batch, layer.out_channels, *layer.out_size()],
        "macs": problem.macs, "peer": peer, "auto_backend": None, "auto_method": None,
        "predicted": None, "t_peer": None, "t_numbaconv": None, "speedup": None,
        "gflops": None, "gflops_peer": None, "agree": False, "max_abs_err": None, "tol": None,
        "skipped": None, "error": None,
    }
    peer_fn = torch_call(layer, x, w, b) if peer == "torch" else numpy_call(layer, x, w, b)
    try:
        ref = np.asarray(peer_fn()).astype(dtype, copy=False)
        allowed = bound(layer, x, w, b, dtype)
        row["tol"] = float(np.max(allowed))
    except Exception as exc:  # noqa: BLE001 - recorded, and the exit status says so
        row["error"] = f"{peer}: {type(exc).__name__}: {exc}"
        return row
    reasons = []

    def check(name, out):
        verdict = compare(out, ref, allowed)
        if not verdict["agree"]:
            reasons.append(f"{name}: {verdict['reason']}")
        return verdict["max_abs_err"]

    timed = {"peer": peer_fn}
    try:
        ours, choice = numbaconv_call(layer, x, w, b, "auto", limit=limit)
        row.update(auto_backend=choice.backend, auto_method=choice.method,
                   predicted=choice.costs)
        row["max_abs_err"] = check("auto", ours())
        timed["numbaconv"] = ours
    except Skip as exc:
        row["skipped"] = str(exc)
        try:       # still say what auto would run
            choice = nn.explain(_FUNCTIONS[layer.function], x, w, b, **layer.kwargs)
            row.update(auto_backend=choice.backend, auto_method=choice.method,
                       predicted=choice.costs)
        except Exception:  # noqa: BLE001 - said by the skip already
            pass
    except Exception as exc:  # noqa: BLE001 - recorded, and the exit status says so
        reasons.append(f"auto: {type(exc).__name__}: {exc}")
    # a result that disagrees is timed too (the row says so); a call that raised is not
    times = interleaved(timed, repeat, max_time)
    row["t_peer"] = times["peer"]
    row["gflops_peer"] = 2.0 * problem.macs / times["peer"] / 1e9
    if "numbaconv" in times:
        row["t_numbaconv"] = times["numbaconv"]
        row["speedup"] = times["peer"] / times["numbaconv"]
        row["gflops"] = 2.0 * problem.macs / times["numbaconv"] / 1e9
    if methods:
        row["methods"] = _time_methods(layer, x, w, b, repeat, max_time, limit, check, reasons)
    row["agree"] = not reasons
    if reasons:
        row["error"] = "; ".join(reasons)
    return row


def _time_methods(layer, x, w, b, repeat, max_time, limit, check, reasons) -> dict:
    """Every method of :data:`METHODS` some backend runs, checked, then timed round-robin."""
    out, fns = {}, {}
    for m in METHODS:
        try:
            fn, choice = numbaconv_call(layer, x, w, b, m, limit=limit)
            out[m] = {"backend": choice.backend}
            check(m, fn())
            fns[m] = fn
        except Skip as exc:
            out[m] = {"skipped": str(exc)}
        except Exception as exc:  # noqa: BLE001 - recorded, and the exit status says so
            out[m] = {"error": f"{type(exc).__name__}: {exc}"}
            reasons.append(f"{m}: {type(exc).__name__}: {exc}")
    if fns:
        for m, t in interleaved(fns, repeat, max_time).items():
            out[m]["time"] = t
    return out


# --------------------------------------------------------------------------
# output
# --------------------------------------------------------------------------

def _table(rows, peak) -> tuple:
    peer = rows[0]["peer"] if rows else "peer"
    with_methods = any("methods" in r for r in rows)
    header = ["layer", "dtype", peer, "numbaconv", "auto chose", "speed-up \u00d7",
              "GFLOP/s", "of peak", "agree"]
    if with_methods:
        header += [f"{m} (backend)" for m in METHODS]
    body = []
    for r in rows:
        ok = "skip" if r["skipped"] and r["agree"] else ("yes" if r["agree"] else "NO")
        frac = r["gflops"] / peak[r["dtype"]] if r["gflops"] and r["dtype"] in peak else None
        line = [f"{r['layer']}: {r['description']}", r["dtype"], seconds(r["t_peer"]),
                seconds(r["t_numbaconv"]), r["auto_backend"] or "?",
                f"{r['speedup']:.2f}" if r["speedup"] else "-",
                f"{r['gflops']:.1f}" if r["gflops"] else "-", percent(frac), ok]
        for m in METHODS if with_methods else ():
            info = r.get("methods", {}).get(m, {})
            line.append(f"{seconds(info['time'])} ({info['backend']})" if "time" in info
                        else "error" if "error" in info else "skip")
        body.append(line)
    return header, body


def print_table(rows, peak, *, file=None) -> None:
    """Print the rows as an aligned table, then a DISAGREES line per row that does not agree."""
    file = sys.stdout if file is None else file
    header, body = _table(rows, peak)
    widths = [max([len(h)] + [len(line[i]) for line in body]) for i, h in enumerate(header)]
    peer = rows[0]["peer"] if rows else "peer"
    print(f"numbaconv.nn vs {peer} (median per call, round-robin; speed-up = {peer} / "
          f"numbaconv auto; GFLOP/s = 2 x multiply-adds / s, of the measured FMA peak "
          + ", ".join(f"{d} {p:.1f}" for d, p in peak.items()) + " GFLOP/s)", file=file)
    print("  ".join(h.ljust(w) for h, w in zip(header, widths)), file=file)
    for line in body:
        print("  ".join(c.ljust(w) for c, w in zip(line, widths)), file=file)
    for r in rows:
        if r["skipped"]:
            print(f"skipped: {r['layer']} {r['dtype']} numbaconv auto: {r['skipped']}", file=file)
    for r in rows:
        if not r["agree"]:
            print(f"DISAGREES: {r['layer']} {r['dtype']}: {r['error']}", file=file)


def _json_default(obj):
    if isinstance(obj, np.generic):
        return obj.item()
    return str(obj)


# --------------------------------------------------------------------------
# command line (options parsed by numbaconv._tools.bench)
# --------------------------------------------------------------------------

#: ``numbaconv bench`` options that mean nothing to ``--nn``, with their defaults
_NOT_FOR_NN = {"plot": None, "from_json": None, "peers": False, "separable": False,
               "summary": None, "mode": None, "dim": "both", "device": "cpu"}


def main(args) -> int:
    """``numbaconv bench --nn`` with the parsed options of :func:`numbaconv._tools.bench.build_parser`."""
    wrong = checks.inapplicable(args, _NOT_FOR_NN)
    if wrong:
        print("numbaconv bench --nn: these options do not apply: " + ", ".join(wrong),
              file=sys.stderr)
        return 2
    if args.repeat < 1:
        print("numbaconv bench: --repeat must be at least 1", file=sys.stderr)
        return 2
    dtypes = tuple(d.strip() for d in (args.dtype or "float32,float64").split(",") if d.strip())
    if not dtypes or any(d not in ("float32", "float64") for d in dtypes):
        print(f"numbaconv bench --nn: --dtype takes float32 and/or float64, got {args.dtype!r}",
              file=sys.stderr)
        return 2
    grid = "tiny" if args.tiny else "quick" if args.quick else "full"
    repeat = args.repeat if grid == "full" else min(args.repeat, 3)
    max_time = args.max_time if args.max_time is not None else (10.0 if grid == "full" else 1.0)
    workers = resolve_workers(args.workers)
    torch = import_torch()
    peer = "numpy.im2col" if torch is None else "torch"
    started = time.perf_counter()
    peak = {d: report.fma_peak(d, workers, seconds=0.05 if grid == "tiny" else 0.3)
            for d in dtypes}
    cells = [(layer, d) for layer in layers(grid) for d in dtypes]
    data = {"meta": {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "grid": grid, "batch": BATCH[grid], "dtypes": list(dtypes), "repeat": repeat,
        "max_time": max_time, "workers": workers, "peer": peer,
        "torch": None if torch is None else torch.__version__,
        "fma_peak_gflops": peak, "environment": machine.environment(),
        "timing": f"median seconds per call, {peer} and numbaconv auto round-robin; "
                  f"speedup = t_peer / t_numbaconv; gflops = 2 * macs / t_numbaconv",
    }, "rows": []}
    with set_workers(workers), _TorchThreads(torch, workers):
        for i, (layer, dtype) in enumerate(cells, 1):
            t0 = time.perf_counter()
            data["rows"].append(bench_layer(layer, dtype, batch=BATCH[grid], repeat=repeat,
                                            max_time=max_time, peer=peer,
                                            methods=args.methods))
            print(f"[{i}/{len(cells)}] {layer.name} {dtype} ({time.perf_counter() - t0:.1f} s)",
                  file=sys.stderr, flush=True)
            data["meta"]["elapsed_s"] = time.perf_counter() - started
            if args.json:    # rewritten after every row: a run cut short keeps its rows
                with open(args.json, "w", encoding="utf-8") as fh:
                    json.dump(data, fh, indent=1, default=_json_default)
    rows = data["rows"]
    print_table(rows, peak)
    if args.json:
        print(f"results written to {args.json}")
    return checks.exit_status(rows, peer)
