"""``numbaconv bench --device cuda``: numbaconv's GPU backends against GPU peers.

Cells (float32; ``--dtype float64`` also works):

* 2-D ``'same'``: an 8192 x 8192 image with 3x3, 5x5 and 7x7 kernels,
* 1-D ``'same'``: 10**8 samples with a 31-tap kernel,

(``--quick``: 2048**2 and 10**7; ``--tiny``: 256**2 and 10**5).  Each cell
times ``numbaconv.convolve`` with ``method='direct'``, ``'fft'`` (when the
CuPy backend is available) and ``'auto'`` on device arrays, and the peers
that are installed: ``cupyx.scipy.signal.convolve2d`` / ``convolve`` and
``fftconvolve``, and ``torch.nn.functional.conv2d`` / ``conv1d`` (cuDNN,
TF32 off, one channel, the kernel flipped so that it convolves).

Times are medians of :func:`numbaconv._bench.measure` samples with the
device synchronised inside the timed call.  Next to each time the table
shows the effective bandwidth, ``(bytes in + bytes out) / time``, and its
ratio to the bandwidth of a plain device-to-device copy measured on the
same buffer size: a memory-bound kernel cannot beat that copy.  Every
result is checked on a 64 x 64 (or 4096-sample) patch at the centre against
``scipy.signal`` on the host; a row that disagrees makes the exit status 1.
Without a CUDA GPU the command says so and exits with status 2.
"""
from __future__ import annotations

import json
import math
import sys

import numpy as np

#: (2-D side, 2-D kernel sides, 1-D length, 1-D kernel length) per grid
SIZES = {
    "full": (8192, (3, 5, 7), 10**8, 31),
    "quick": (2048, (3, 5, 7), 10**7, 31),
    "tiny": (256, (3, 5), 10**5, 31),
}
PATCH_2D = 64
PATCH_1D = 4096
SEED = 20240601


# --------------------------------------------------------------------------
# device plumbing
# --------------------------------------------------------------------------

def _gpu_or_reason():
    """``None`` when a real CUDA GPU is usable, else why not."""
    try:
        from . import _gpu
        if _gpu.simulator():
            return "NUMBA_ENABLE_CUDASIM is set: the simulator cannot be benchmarked"
        if not _gpu.available():
            return "no CUDA GPU is available (numba.cuda.is_available() is False)"
    except Exception as exc:  # noqa: BLE001
        return f"numba.cuda cannot be used: {exc}"
    return None


def _try_import(name):
    try:
        return __import__(name, fromlist=["_"])
    except Exception:  # noqa: BLE001 -- missing, or no CUDA build
        return None


def _sync():
    from . import _gpu
    _gpu.cuda().synchronize()


def _device_name() -> str:
    try:
        from . import _gpu
        dev = _gpu.cuda().get_current_device()
        name = dev.name
        return name.decode() if isinstance(name, bytes) else str(name)
    except Exception:  # noqa: BLE001
        return "unknown"


def _to_device(x):
    """A host array on the GPU: CuPy when installed (zero-copy into the rest), else Numba."""
    cp = _try_import("cupy")
    if cp is not None:
        return cp.asarray(x)
    from . import _gpu
    return _gpu.cuda().to_device(x)


def _patch_to_host(result, sl):
    """The slice ``sl`` of a device result, on the host."""
    torch = sys.modules.get("torch")
    if torch is not None and isinstance(result, torch.Tensor):
        return result.reshape(result.shape[2:])[sl].cpu().numpy()
    cp = sys.modules.get("cupy")
    if cp is not None and isinstance(result, cp.ndarray):
        return cp.asnumpy(result[sl])
    from . import _gpu
    return _gpu.to_host(result)[sl]


def copy_bandwidth(nbytes: int, measure) -> float:
    """Bytes/s of a device-to-device copy of ``nbytes`` (read + write counted)."""
    from . import _gpu
    cu = _gpu.cuda()
    n = max(1, nbytes // 4)
    src = cu.device_array(n, np.float32)
    dst = cu.device_array(n, np.float32)

    def run():
        dst.copy_to_device(src)
        cu.synchronize()
    timing, _ = measure(run)
    return 2.0 * n * 4 / timing.median


# --------------------------------------------------------------------------
# cells and implementations
# --------------------------------------------------------------------------

def _cells(args):
    grid = "tiny" if getattr(args, "tiny", False) else ("quick" if args.quick else "full")
    side, ks, n1, k1 = SIZES[grid]
    dtypes = [d.strip() for d in (args.dtype or "float32").split(",") if d.strip()]
    dim = getattr(args, "dim", "both") or "both"
    cells = []
    for dtype in dtypes:
        if dim in ("2", "both"):
            cells += [(2, side, k, dtype) for k in ks]
        if dim in ("1", "both"):
            cells.append((1, n1, k1, dtype))
    return cells


def _implementations(ndim, a, k, a_d, k_d):
    """``{name: zero-argument callable}`` for every implementation installed."""
    import numbaconv
    from ._backends import REGISTRY

    impls = {"numbaconv.direct": lambda: numbaconv.convolve(a_d, k_d, mode="same", method="direct",
                                                              device="cuda")}
    fft = REGISTRY.get("cuda_fft")
    if fft is not None and fft.available():
        impls["numbaconv.fft"] = lambda: numbaconv.convolve(a_d, k_d, mode="same", method="fft",
                                                              device="cuda")
    impls["numbaconv.auto"] = lambda: numbaconv.convolve(a_d, k_d, mode="same", device="cuda")
    cusig = _try_import("cupyx.scipy.signal")
    cp = sys.modules.get("cupy")
    if cusig is not None and cp is not None and isinstance(a_d, cp.ndarray):
        if ndim == 2:
            impls["cupyx.convolve2d"] = lambda: cusig.convolve2d(a_d, k_d, mode="same")
        else:
            impls["cupyx.convolve"] = lambda: cusig.convolve(a_d, k_d, mode="same", method="direct")
        impls["cupyx.fftconvolve"] = lambda: cusig.fftconvolve(a_d, k_d, mode="same")
    torch = _try_import("torch")
    if torch is not None and torch.cuda.is_available():
        torch.backends.cudnn.allow_tf32 = False
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.benchmark = True
        flipped = np.ascontiguousarray(k[(slice(None, None, -1),) * ndim])
        ta = torch.as_tensor(a).cuda().reshape((1, 1) + a.shape)
        tk = torch.as_tensor(flipped).cuda().reshape((1, 1) + flipped.shape)
        conv = torch.nn.functional.conv2d if ndim == 2 else torch.nn.functional.conv1d

        def torch_conv():
            with torch.no_grad():
                return conv(ta, tk, padding="same")
        impls["torch.conv%dd" % ndim] = torch_conv
    return impls


def _reference(a, k, ndim):
    """Centre patch of scipy's 'same' result, and the slice it covers."""
    import scipy.signal
    h = (k.shape[0] - 1) // 2
    p = PATCH_2D if ndim == 2 else PATCH_1D
    c0 = a.shape[0] // 2 - p // 2
    sl = (slice(c0, c0 + p),) * ndim
    src = a[(slice(c0 - h, c0 + p + (k.shape[0] - 1 - h)),) * ndim].astype(np.float64)
    ref = scipy.signal.convolve(src, k.astype(np.float64), mode="valid", method="direct")
    return ref, sl


def _fmt_time(t) -> str:
    if t is None or not math.isfinite(t):
        return "-"
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("us", 1e-6)):
        if t >= scale:
            return f"{t / scale:.3g} {unit}"
    return f"{t * 1e9:.3g} ns"


def bench_cuda(args) -> int:
    """Run the CUDA benchmark described by ``args``; return the exit status."""
    global _HEADER
    from ._bench import measure

    _HEADER = False
    reason = _gpu_or_reason()
    if reason:
        print(f"numbaconv bench --device cuda: {reason}", file=sys.stderr)
        return 2
    repeat = max(1, int(getattr(args, "repeat", 5) or 5))
    max_time = getattr(args, "max_time", None) or (1.0 if args.quick else 10.0)

    def timed(fn):
        def run():
            out = fn()
            _sync()
            return out
        return measure(run, repeat=repeat, max_time=max_time)

    rng = np.random.default_rng(SEED)
    rows, bandwidths, failed = [], {}, False
    for ndim, n, kn, dtype in _cells(args):
        a = rng.standard_normal((n,) * ndim, dtype=np.dtype(dtype))
        k = rng.standard_normal((kn,) * ndim, dtype=np.dtype(dtype))
        a_d, k_d = _to_device(a), _to_device(k)
        if a.nbytes not in bandwidths:
            bandwidths[a.nbytes] = copy_bandwidth(a.nbytes, lambda f: measure(
                f, repeat=repeat, max_time=max_time))
        copy_bw = bandwidths[a.nbytes]
        ref, sl = _reference(a, k, ndim)
        scale = float(np.abs(ref).max()) or 1.0
        tol = 1e-4 if np.dtype(dtype).itemsize <= 4 else 1e-10
        label = f"{'x'.join([str(n)] * ndim)} * {'x'.join([str(kn)] * ndim)} {dtype}"
        for name, fn in _implementations(ndim, a, k, a_d, k_d).items():
            row = {"cell": label, "impl": name, "ndim": ndim, "n": n, "k": kn, "dtype": dtype}
            try:
                timing, out = timed(fn)
                got = _patch_to_host(out, sl)
                err = float(np.abs(got.astype(np.float64) - ref).max()) / scale
                ok = err <= tol * max(1.0, math.sqrt(kn ** ndim))
                nbytes = a.nbytes + k.nbytes + a.nbytes
                bw = nbytes / timing.median
                row.update(time=timing.median, first_call=timing.first_call, rel_err=err, ok=ok,
                           bandwidth=bw, copy_bandwidth=copy_bw, of_copy=bw / copy_bw)
                del out
            except Exception as exc:  # noqa: BLE001 -- a peer that fails is reported, not fatal
                row.update(time=None, ok=False, error=f"{type(exc).__name__}: {exc}")
            failed |= not row["ok"]
            rows.append(row)
            _print_row(row)
        del a_d, k_d
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"device": _device_name(), "copy_bandwidth": bandwidths, "rows": rows},
                      fh, indent=1, default=str)
    return 1 if failed else 0


_HEADER = False


def _print_row(row):
    global _HEADER
    if not _HEADER:
        print(f"device: {_device_name()}")
        print(f"{'cell':<28} {'implementation':<20} {'time':>10} {'GB/s':>8} "
              f"{'of copy':>8} {'first call':>11}  check")
        _HEADER = True
    if row.get("time") is None:
        print(f"{row['cell']:<28} {row['impl']:<20} {'-':>10} {'-':>8} {'-':>8} {'-':>11}  "
              f"ERROR {row.get('error', '')}")
    else:
        print(f"{row['cell']:<28} {row['impl']:<20} {_fmt_time(row['time']):>10} "
              f"{row['bandwidth'] / 1e9:8.1f} {row['of_copy']:8.0%} "
              f"{_fmt_time(row['first_call']):>11}  "
              f"{'ok' if row['ok'] else 'MISMATCH'} ({row['rel_err']:.1e})")
    sys.stdout.flush()
