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

Times are medians of :func:`numbaconv._tools.timing.measure` with the
device synchronised inside the timed call.  Next to each time the table
shows the effective bandwidth, ``(bytes in + bytes out) / time``, and its
ratio to the bandwidth of a plain device-to-device copy of the same size:
a memory-bound kernel cannot beat that copy.  Every result is checked on a
64 x 64 (or 4096-sample) patch at the centre against ``scipy.signal`` on the
host, with the tolerance table (:func:`numbaconv._tools.checks.bound`); a
row that disagrees makes the exit status 1.  A peer whose library is missing
or cannot reach the device (CuPy installed without a driver, say) is absent:
its rows are listed as skipped, with the reason.  ``--json`` is rewritten
after every row, so a run cut short keeps what it measured.  Without a CUDA
GPU the command says so and exits with status 2.
"""
from __future__ import annotations

import json
import math
import sys

import numpy as np

from .. import _api, _gpu
from .._backends import REGISTRY
from . import checks, grids
from .formatting import seconds
from .machine import gpu_library, gpu_name, gpu_unusable
from .timing import measure, synchronized
from .tolerance import compare

#: (2-D side, 2-D kernel sides, 1-D length, 1-D kernel length) per grid
SIZES = {
    "full": (8192, (3, 5, 7), 10**8, 31),
    "quick": (2048, (3, 5, 7), 10**7, 31),
    "tiny": (256, (3, 5), 10**5, 31),
}
#: every implementation timed, where installed: numbaconv's GPU methods, CuPy's direct
#: (convolve2d / convolve) and FFT paths, PyTorch's conv1d/conv2d (cuDNN, TF32 off)
IMPLS = ("numbaconv.direct", "numbaconv.fft", "numbaconv.auto", "cupyx.direct",
         "cupyx.fftconvolve", "torch.conv")
PATCH_2D = 64
PATCH_1D = 4096
SEED = grids.SEED


# --------------------------------------------------------------------------
# device plumbing
# --------------------------------------------------------------------------

def _try_import(name):
    try:
        return __import__(name, fromlist=["_"])
    except Exception:  # noqa: BLE001 -- missing, or no CUDA build
        return None


#: the peer libraries and the implementations of :data:`IMPLS` each one runs
PEERS = {"cupy": ("cupyx.direct", "cupyx.fftconvolve"), "torch": ("torch.conv",)}


def peer_libraries() -> dict:
    """``{library: (module, None) or (None, why absent)}`` for every library of :data:`PEERS`."""
    return {name: gpu_library(name) for name in PEERS}


def to_device(x, peers=None):
    """A host array on the GPU: CuPy when it reaches the device (the cupyx peers need it), else Numba."""
    cp = (peers or peer_libraries())["cupy"][0]
    if cp is not None and not _gpu.simulator():
        return cp.asarray(x)
    return _gpu.cuda().to_device(x)


def _patch_to_host(result, sl):
    """The slice ``sl`` of a device result, on the host."""
    # by the result's own module: an installed CuPy that cannot reach the device is never asked
    library = type(result).__module__.split(".")[0]
    if library == "torch":
        return result.reshape(result.shape[2:])[sl].cpu().numpy()
    if library == "cupy":
        return sys.modules["cupy"].asnumpy(result[sl])
    return _gpu.to_host(result)[sl]


def copy_bandwidth(nbytes: int, repeat: int, max_time: float) -> float:
    """Bytes/s of a device-to-device copy of ``nbytes`` (read + write counted)."""
    cu = _gpu.cuda()
    n = max(1, nbytes // 4)
    src = cu.device_array(n, np.float32)
    dst = cu.device_array(n, np.float32)
    timing, _ = measure(synchronized(lambda: dst.copy_to_device(src), cu.synchronize),
                        repeat, max_time=max_time)
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


def implementations(ndim, a, k, a_d, k_d, peers=None):
    """``{name: zero-argument callable}`` of every implementation of :data:`IMPLS` usable here.

    ``a``, ``k`` are the host inputs and ``a_d``, ``k_d`` the same on the
    device (:func:`to_device`); every callable computes ``'same'``.
    ``peers`` is :func:`peer_libraries`'s answer (asked when not given).
    """
    peers = peers or peer_libraries()
    impls = {"numbaconv.direct": lambda: _api.convolve(a_d, k_d, mode="same", method="direct",
                                                         device="cuda")}
    fft = REGISTRY.get("cuda_fft")
    if fft is not None and fft.available():
        impls["numbaconv.fft"] = lambda: _api.convolve(a_d, k_d, mode="same", method="fft",
                                                         device="cuda")
    impls["numbaconv.auto"] = lambda: _api.convolve(a_d, k_d, mode="same", device="cuda")
    cp = peers["cupy"][0]
    cusig = _try_import("cupyx.scipy.signal") if cp is not None else None
    if cusig is not None and isinstance(a_d, cp.ndarray):
        if ndim == 2:
            impls["cupyx.direct"] = lambda: cusig.convolve2d(a_d, k_d, mode="same")
        else:
            impls["cupyx.direct"] = lambda: cusig.convolve(a_d, k_d, mode="same", method="direct")
        impls["cupyx.fftconvolve"] = lambda: cusig.fftconvolve(a_d, k_d, mode="same")
    torch = peers["torch"][0]
    if torch is not None:
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
        impls["torch.conv"] = torch_conv
    return impls


def _reference(a, k, ndim):
    """SciPy's 'same' result on a patch at the centre (float64), its slice, and its allowance."""
    import scipy.signal
    h = (k.shape[0] - 1) // 2
    p = PATCH_2D if ndim == 2 else PATCH_1D
    c0 = a.shape[0] // 2 - p // 2
    sl = (slice(c0, c0 + p),) * ndim
    src = a[(slice(c0 - h, c0 + p + (k.shape[0] - 1 - h)),) * ndim]
    ref = scipy.signal.convolve(src.astype(np.float64), k.astype(np.float64), mode="valid",
                                method="direct")
    n_fft = math.prod(n + m - 1 for n, m in zip(a.shape, k.shape))
    return ref, sl, checks.bound(src, k, "valid", a.dtype, n_fft=n_fft)


def _check(got, dtype, ref, bound) -> dict:
    """:func:`numbaconv._tools.tolerance.compare` of a patch, after checking its dtype."""
    if got.dtype != dtype:
        return {"agree": False, "max_abs_err": None, "reason": f"dtype {got.dtype} != {dtype}"}
    return compare(got.astype(np.float64), ref, bound)


def bench_cuda(args) -> int:
    """Run the CUDA benchmark described by ``args``; return the exit status."""
    reason = gpu_unusable()
    if reason:
        print(f"numbaconv bench --device cuda: {reason}", file=sys.stderr)
        return 2
    repeat = max(1, int(getattr(args, "repeat", 5) or 5))
    max_time = getattr(args, "max_time", None) or (1.0 if args.quick else 10.0)
    sync = _gpu.cuda().synchronize
    device = gpu_name()
    print(f"device: {device}")
    peers = peer_libraries()
    absent = {impl: why for lib, (mod, why) in peers.items() if mod is None
              for impl in PEERS[lib]}
    for impl, why in absent.items():
        print(f"{impl}: skipped ({why})")
    print(f"{'cell':<28} {'implementation':<20} {'time':>10} {'GB/s':>8} "
          f"{'of copy':>8} {'first call':>11}  check")

    def save():
        if args.json:
            with open(args.json, "w") as fh:
                json.dump({"device": device, "copy_bandwidth": bandwidths, "rows": rows,
                           "skipped": absent}, fh, indent=1, default=str)

    rng = np.random.default_rng(SEED)
    rows, bandwidths, failed = [], {}, False
    save()
    for ndim, n, kn, dtype in _cells(args):
        a = rng.standard_normal((n,) * ndim, dtype=np.dtype(dtype))
        k = rng.standard_normal((kn,) * ndim, dtype=np.dtype(dtype))
        a_d, k_d = to_device(a, peers), to_device(k, peers)
        if a.nbytes not in bandwidths:
            bandwidths[a.nbytes] = copy_bandwidth(a.nbytes, repeat, max_time)
        copy_bw = bandwidths[a.nbytes]
        ref, sl, bound = _reference(a, k, ndim)
        label = f"{'x'.join([str(n)] * ndim)} * {'x'.join([str(kn)] * ndim)} {dtype}"
        for name, fn in implementations(ndim, a, k, a_d, k_d, peers).items():
            row = {"cell": label, "impl": name, "ndim": ndim, "n": n, "k": kn, "dtype": dtype}
            try:
                timing, out = measure(synchronized(fn, sync), repeat, max_time=max_time)
                check = _check(_patch_to_host(out, sl), np.dtype(dtype), ref, bound)
                bw = (a.nbytes + k.nbytes + a.nbytes) / timing.median
                row.update(time=timing.median, first_call=timing.first_call,
                           max_abs_err=check["max_abs_err"], ok=check["agree"],
                           reason=check["reason"], bandwidth=bw, copy_bandwidth=copy_bw,
                           of_copy=bw / copy_bw)
                del out
            except Exception as exc:  # noqa: BLE001 -- a peer that fails is reported, not fatal
                row.update(time=None, ok=False, error=f"{type(exc).__name__}: {exc}")
            failed |= not row["ok"]
            rows.append(row)
            _print_row(row)
            save()   # a run cut short (numbaconv gpu-check's time box) keeps its rows
        del a_d, k_d
    return 1 if failed else 0


def _print_row(row):
    if row.get("time") is None:
        print(f"{row['cell']:<28} {row['impl']:<20} {'-':>10} {'-':>8} {'-':>8} {'-':>11}  "
              f"ERROR {row.get('error', '')}")
    else:
        check = "ok" if row["ok"] else f"MISMATCH {row['reason']}"
        err = row["max_abs_err"]
        print(f"{row['cell']:<28} {row['impl']:<20} {seconds(row['time']):>10} "
              f"{row['bandwidth'] / 1e9:8.1f} {row['of_copy']:8.0%} "
              f"{seconds(row['first_call']):>11}  "
              f"{check} (|error| {'-' if err is None else f'{err:.1e}'})")
    sys.stdout.flush()
