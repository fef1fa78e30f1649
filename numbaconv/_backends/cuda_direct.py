"""Direct (gather) correlation on a CUDA GPU with ``numba.cuda``.

One kernel covers ranks 1 to 3: arrays are viewed as ``(depth, rows,
columns)`` and each block of ``BLOCK = (by, bx)`` threads computes an output
tile of ``by*py`` rows by ``bx*px`` columns of one output plane, every thread
``py*px`` outputs (``PER_THREAD = (py, px)``): ``py`` consecutive rows, so
that a tile value loaded once serves several rows, and ``px`` columns
``bx`` apart, so that the threads of a warp touch consecutive addresses.

For each kernel plane (and each chunk of kernel taps, see below) the block

1. stages the taps in shared memory,
2. stages the input tile plus its halo in shared memory with coalesced
   loads; the boundary rule (fill value, wrap, symmetric) is applied here,
   by mapping each index into the signal or substituting the fill value,
3. accumulates, reading the tile and the taps from shared memory,

and finally stores the outputs that fall inside the result (the tail path
of ragged edges is a bounds test on the store; loads past the edges read
the boundary values).  Kernels whose tile and taps do not fit into
``SHARED_BYTES`` of shared memory are processed in rectangular chunks of
taps, each with its own halo.  When the whole kernel fits and has at most
``UNROLL_TAPS`` taps, a variant is compiled with the kernel size as a
compile-time constant, so the tap loops unroll and the tile loads are
shared between the rows a thread owns.  Images with few rows (1-D signals
above all) use a one-row block, ``BLOCK_1D`` threads of ``PER_THREAD_1D``
outputs each.

The block shapes are module globals read at launch time (kernels are
compiled per shape and cached), so tests can shrink them to exercise
multi-block grids and ragged tails in the CUDA simulator.

Arithmetic types are those of :mod:`.cpu_direct`: float32 stays float32 (no
float64 constant enters a float32 kernel), float16 is computed in float32,
integers and bool in int64 (wrapping modulo 2**64; the API's cast wraps to
the result dtype).  Boundaries other than zero fill are supported up to rank
2 (only ``convolve2d``/``correlate2d`` have them).
"""
from __future__ import annotations

import math

import numpy as np

from .. import _coefficients as coef
from .._kernels.layout import work_dtype
from .._problem import Problem

NAME = "cuda_direct"
DEVICE = "cuda"
METHOD = "direct"

#: threads per block (rows, columns) of the 2-D/3-D kernel, read at launch time
BLOCK = (8, 32)
#: outputs per thread (rows, columns) of the 2-D/3-D kernel
PER_THREAD = (4, 2)
#: threads per block for images of few rows and for 1-D signals
BLOCK_1D = 256
#: outputs per thread along the row for those
PER_THREAD_1D = 4
#: dynamic shared memory per block, in bytes (tile + halo + taps)
SHARED_BYTES = 40 * 1024
#: kernels with at most this many taps get a variant with unrolled tap loops
UNROLL_TAPS = 64

BOUNDARY_CODES = {"fill": 0, "wrap": 1, "symm": 2}

_kernels: dict = {}

#: ``numba.cuda``, bound on first use; kernels reach it as a module global
#: (the simulator swaps such globals for its fake module)
nbcuda = None


def _bind():
    global nbcuda
    if nbcuda is None:
        from .. import _gpu
        nbcuda = _gpu.cuda()
    return nbcuda


_compiles = None


def compile_check():
    """Compile the float32 kernel for the current device (raises when it does not compile)."""
    import numba
    cu = _bind()
    kern = corr_kernel(np.dtype(np.float32), tuple(BLOCK), tuple(PER_THREAD), 0, None)
    arr = numba.types.Array(numba.float32, 3, "C")
    i64, f32 = numba.int64, numba.float32
    cc = cu.get_current_device().compute_capability
    cu.compile_ptx(kern.py_func, (arr, arr, arr, i64, i64, i64, i64, i64, f32, f32), cc=cc)


def available() -> bool:
    """A GPU (or the simulator) whose ``numba.cuda`` compiles the kernel; never raises.

    With numba-cuda installed the kernels are known to compile; Numba's
    deprecated built-in CUDA target is asked to compile one first, so that
    ``device='auto'`` falls back to the CPU where it cannot.
    """
    global _compiles
    from .. import _gpu
    if not _gpu.available():
        return False
    if _gpu.simulator() or _gpu.numba_cuda_installed():
        return True
    if _compiles is None:
        try:
            compile_check()
            _compiles = True
        except Exception:  # noqa: BLE001 -- any compile error means: not usable here
            _compiles = False
    return _compiles


def supports(problem: Problem) -> bool:
    return (problem.device == "cuda" and problem.all_axes and 1 <= problem.ndim <= 3
            and problem.kind in "biufc"
            and problem.dtype not in (np.dtype(np.longdouble), np.dtype(np.clongdouble))
            and (problem.zero_fill or problem.ndim <= 2))


def costs() -> dict:
    """This backend's coefficients in force (``_coefficients.DEFAULTS['cuda']['cuda_direct']``)."""
    return coef.coefficients()["cuda"][NAME]


def transfer_cost(problem: Problem, coeffs=None) -> float:
    """Seconds to copy the inputs to the device and the result back.

    Counted only when the problem says its arrays are on the host
    (``problem.host_io``, when the API sets such a field); GPU arrays stay
    where they are.
    """
    if not getattr(problem, "host_io", False):
        return 0.0
    c = coeffs or costs()
    isz = problem.dtype.itemsize
    nbytes = (math.prod(problem.shape_a) + math.prod(problem.shape_k) + problem.outputs) * isz
    return 3 * c["h2d_latency"] + nbytes / c["h2d_bandwidth"]


def work(problem: Problem):
    """What the cost model counts: ``(multiply-adds, bytes of device memory traffic)``."""
    isz = work_dtype(problem.dtype).itemsize
    return problem.macs, (math.prod(problem.shape_a) + problem.outputs) * isz


def cost(problem: Problem, workers=None) -> float:
    """Predicted seconds: launch + max(memory traffic, multiply-adds) + transfers.

    ``workers`` (host threads) does not matter on the GPU.
    """
    c = costs()
    macs, nbytes = work(problem)
    traffic = nbytes / c["bandwidth"]
    compute = macs * c["mac"][coef.direct_key(problem.dtype)]
    return c["launch"] + max(traffic, compute) + transfer_cost(problem)


# --------------------------------------------------------------------------
# kernels
# --------------------------------------------------------------------------

def _make_index(boundary: int):
    """Device function mapping a signal index to its source (-1: the fill value)."""
    _bind()

    if boundary == 1:
        @nbcuda.jit(device=True)
        def _dev_index(i, n):
            return i % n
    elif boundary == 2:
        @nbcuda.jit(device=True)
        def _dev_index(i, n):
            m = i % (2 * n)
            if m >= n:
                m = 2 * n - 1 - m
            return m
    else:
        @nbcuda.jit(device=True)
        def _dev_index(i, n):
            if i >= 0 and i < n:
                return i
            return -1
    return _dev_index


def _make_corr(dtype, block, per, boundary, kfix):
    """Compile the tiled correlation kernel for one configuration.

    ``kfix``: ``(kh, kw)`` to make the kernel size a compile-time constant
    (the whole kernel is then one chunk), or ``None``.
    """
    import numba
    _bind()

    nbt = numba.from_dtype(dtype)
    BY, BX = block
    PY, PX = per
    NT = BY * BX
    TY, TX = BY * PY, BX * PX
    NACC = PY * PX
    FY, FX = kfix if kfix else (0, 0)
    _dev_index = _make_index(boundary)

    @nbcuda.jit
    def corr_kernel(a, k, out, offz, offy, offx, cy, cx, fill, zero):
        """out[z, y, x] = sum k[r, p, q] * a[z + offz + r, y + offy + p, x + offx + q]."""
        sh = nbcuda.shared.array(0, nbt)
        tx = nbcuda.threadIdx.x
        ty = nbcuda.threadIdx.y
        tid = ty * BX + tx
        x0 = nbcuda.blockIdx.x * TX
        y0 = nbcuda.blockIdx.y * TY
        oz = nbcuda.blockIdx.z
        D = a.shape[0]
        H = a.shape[1]
        W = a.shape[2]
        KD = k.shape[0]
        KH = FY if FY > 0 else k.shape[1]
        KW = FX if FX > 0 else k.shape[2]
        OH = out.shape[1]
        OW = out.shape[2]
        if FY > 0:
            cy = FY
            cx = FX
        pitch = TX + cx - 1
        tap0 = (TY + cy - 1) * pitch
        acc = nbcuda.local.array(NACC, nbt)
        for i in range(NACC):
            acc[i] = zero
        for kz in range(KD):
            z = oz + offz + kz
            if z >= 0 and z < D:          # the same for the whole block
                for ky0 in range(0, KH, cy):
                    ny = FY if FY > 0 else min(cy, KH - ky0)
                    for kx0 in range(0, KW, cx):
                        nx = FX if FX > 0 else min(cx, KW - kx0)
                        # 1. the taps of this chunk
                        t = tid
                        while t < ny * nx:
                            p = t // nx
                            sh[tap0 + t] = k[kz, ky0 + p, kx0 + t - p * nx]
                            t += NT
                        # 2. the input tile and its halo, boundary applied
                        r = ty
                        while r < TY + ny - 1:
                            gy = _dev_index(y0 + offy + ky0 + r, H)
                            c = tx
                            while c < TX + nx - 1:
                                gx = _dev_index(x0 + offx + kx0 + c, W)
                                if gy >= 0 and gx >= 0:
                                    sh[r * pitch + c] = a[z, gy, gx]
                                else:
                                    sh[r * pitch + c] = fill
                                c += BX
                            r += BY
                        nbcuda.syncthreads()
                        # 3. accumulate
                        for p in range(ny):
                            for q in range(nx):
                                w = sh[tap0 + p * nx + q]
                                for i in range(PY):
                                    base = (ty * PY + i + p) * pitch + tx + q
                                    for j in range(PX):
                                        acc[i * PX + j] += w * sh[base + j * BX]
                        nbcuda.syncthreads()
        for i in range(PY):
            y = y0 + ty * PY + i
            if y < OH:
                for j in range(PX):
                    x = x0 + tx + j * BX
                    if x < OW:
                        out[oz, y, x] = acc[i * PX + j]

    return corr_kernel


def corr_kernel(dtype, block, per, boundary, kfix):
    """The compiled kernel of one configuration (see :func:`_make_corr`), memoised."""
    key = (dtype.str, block, per, boundary, kfix)
    kern = _kernels.get(key)
    if kern is None:
        kern = _kernels[key] = _make_corr(dtype, block, per, boundary, kfix)
    return kern


# --------------------------------------------------------------------------
# host side
# --------------------------------------------------------------------------

def _shared_need(ty, tx, cy, cx, itemsize) -> int:
    return ((ty + cy - 1) * (tx + cx - 1) + cy * cx) * itemsize


def plan(out_shape, k_shape, itemsize):
    """Launch configuration: ``(block, per, (cy, cx), kfix)``.

    ``(cy, cx)`` is the chunk of kernel taps staged at a time; it is the
    whole kernel when that fits into :data:`SHARED_BYTES`.
    """
    _, oh, _ = out_shape
    _, kh, kw = k_shape
    block, per = tuple(BLOCK), tuple(PER_THREAD)
    if oh * 2 <= block[0] * per[0]:
        block, per = (1, int(BLOCK_1D)), (1, int(PER_THREAD_1D))
    py, px = per
    # outputs per thread shrink only if even a single tap does not fit
    while _shared_need(block[0] * py, block[1] * px, 1, 1, itemsize) > SHARED_BYTES:
        if px > 1:
            px = (px + 1) // 2
        elif py > 1:
            py = (py + 1) // 2
        else:
            raise ValueError(f"a {block} block does not fit into SHARED_BYTES={SHARED_BYTES}")
    per = (py, px)
    ty, tx = block[0] * py, block[1] * px
    cy, cx = kh, kw
    while _shared_need(ty, tx, cy, cx, itemsize) > SHARED_BYTES:
        if cx > 1 and (cx >= cy or cy == 1):
            cx = -(-cx // 2)
        else:
            cy = -(-cy // 2)
    # balance the chunks: same count, sizes as equal as possible
    cy = -(-kh // -(-kh // cy))
    cx = -(-kw // -(-kw // cx))
    kfix = (kh, kw) if (cy, cx) == (kh, kw) and kh * kw <= UNROLL_TAPS else None
    return block, per, (cy, cx), kfix


def _launch(a3, k3, o3, offs, boundary, fill, dtype):
    od, oh, ow = o3.shape
    block, per, (cy, cx), kfix = plan(o3.shape, k3.shape, dtype.itemsize)
    ty, tx = block[0] * per[0], block[1] * per[1]
    grid = (-(-ow // tx), -(-oh // ty), od)
    if grid[1] > 65535 or grid[2] > 65535:
        raise ValueError(f"output of shape {o3.shape} is too large for one launch")
    shared = _shared_need(ty, tx, cy, cx, dtype.itemsize)
    from .. import _gpu
    kern = corr_kernel(dtype, block, per, BOUNDARY_CODES[boundary], kfix)
    _gpu.launch(kern, grid, (block[1], block[0]),
                a3, k3, o3, int(offs[0]), int(offs[1]), int(offs[2]), int(cy), int(cx),
                fill, dtype.type(0), shared=shared)


def run(problem: Problem, a, k, *, workers: int):
    """Correlate ``a`` with the prepared kernel ``k`` on the GPU (see :mod:`numbaconv._problem`).

    ``a`` and ``k`` are device arrays (any layout, any dtype the API
    allows); the result is a new contiguous device array of
    ``problem.out_shape`` in the arithmetic dtype.  Every kernel runs on the
    stream of the call (``_gpu.launch_stream``: the producer's), and
    nothing waits on the host.
    """
    from .. import _gpu
    wt = work_dtype(problem.dtype)
    out = _gpu.empty(problem.out_shape, wt)      # on the call's stream (CuPy's pool for CuPy)
    if out.size == 0:
        return out
    if min(problem.shape_k) == 0 or (min(problem.shape_a) == 0 and problem.zero_fill):
        return _gpu.fill(out, 0)
    if min(problem.shape_a) == 0 and problem.boundary != "fill":
        raise ValueError(f"boundary={problem.boundary!r} needs a non-empty signal")
    if not problem.zero_fill and problem.ndim > 2:
        raise ValueError("boundaries other than zero fill are implemented up to rank 2")
    a = _gpu.prepare(a, wt)
    k = _gpu.prepare(k, wt)
    lead = (1,) * (3 - problem.ndim)
    a3 = a.reshape(lead + tuple(a.shape))
    k3 = k.reshape(lead + tuple(k.shape))
    o3 = out.reshape(lead + tuple(out.shape))
    offs = [0] * len(lead) + list(problem.offsets)
    fill = np.asarray(problem.fillvalue).astype(problem.dtype).astype(wt)[()]
    _launch(a3, k3, o3, offs, problem.boundary, fill, wt)
    return out
