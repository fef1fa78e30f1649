"""Direct (gather) correlation on a CUDA GPU with ``numba.cuda``.

Two kernels cover ranks 1 to 3: arrays are viewed as ``(depth, rows,
columns)`` and each block of ``BLOCK = (by, bx)`` threads computes an output
tile of ``by*py`` rows by ``bx*px`` columns of one output plane, every thread
``py*px`` outputs (``PER_THREAD = (py, px)``).  For each kernel plane the
block stages the input tile plus its halo in shared memory with coalesced
loads, applying the boundary rule there (the modulo of wrap/symm only for
indices outside the signal), then accumulates, and finally stores the
outputs that fall inside the result.

* ``tile_kernel`` (kernels of at most ``UNROLL_TAPS`` taps and
  ``UNROLL_BYTES`` bytes): the kernel size is a compile-time constant, the
  taps sit in registers, and each thread owns ``py`` rows of ``px``
  adjacent columns; every tile value it needs is loaded once from shared
  memory and multiplied into every output it touches (straight-line code,
  one ``ld.shared`` at a constant offset from the thread's base).
* ``generic_kernel`` (larger kernels): chunks of ``cy x cx`` taps staged in
  shared memory next to the tile, ``px`` columns ``bx`` apart.

Images with few rows (1-D signals above all) use a one-row block,
``BLOCK_1D`` threads of ``PER_THREAD_1D`` outputs each.  The block shapes
are module globals read at launch time (run-time values in the kernels;
outputs per thread and kernel size are compile-time, see ``_tag``), so
tests can shrink them to exercise multi-block grids and ragged tails in the
CUDA simulator.

Arithmetic types are those of :mod:`.cpu_direct`: float32 stays float32 (no
float64 constant enters a float32 kernel), float16 is computed in float32,
integers and bool in int64 (wrapping modulo 2**64; the API's cast wraps to
the result dtype).  Boundaries other than zero fill are supported up to rank
2 (only ``convolve2d``/``correlate2d`` have them).
"""
from __future__ import annotations

import functools
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
#: kernels with at most this many taps, and at most UNROLL_BYTES of them (complex
#: counted twice), run in the tile kernel (taps in registers, loops unrolled);
#: larger ones in the generic one
UNROLL_TAPS = 64
UNROLL_BYTES = 512

BOUNDARY_CODES = {"fill": 0, "wrap": 1, "symm": 2}

_kernels: dict = {}

#: ``numba.cuda``, bound on first use; kernels reach it as a module global
#: (the simulator swaps such globals for its fake module)
nbcuda = None


def _bind():
    global nbcuda
    if nbcuda is None:
        from .. import _gpu
        cu = _gpu.cuda()
        if not _gpu.simulator():
            _register_overloads()
        nbcuda = cu
    return nbcuda


_compiles = None


def variant(dtype, per, kfix):
    """``(kernel, argument types)`` of one compiled variant: ``kfix=(kh, kw)`` for the tile kernel."""
    import numba
    from numba import types
    kern = kernel("generic" if kfix is None else "tile")
    nbt = numba.from_dtype(np.dtype(dtype))
    i64 = types.int64
    a3 = types.Array(nbt, 3, "C")
    if kfix is None:
        tag = numba.typeof(_tag(*per))
        return kern, (a3, a3, a3, i64, i64, i64, i64, i64, i64, nbt, nbt, tag)
    tag = numba.typeof(_tag(*kfix, *per))
    return kern, (a3, types.Array(nbt, 2, "C"), a3, i64, i64, i64, i64, nbt, nbt, tag)


def compile_check():
    """Compile the float32 3x3 kernel for the current device (raises when it does not compile)."""
    cu = _bind()
    kern, sig = variant(np.float32, tuple(PER_THREAD), (3, 3))
    cu.compile_ptx(kern.py_func, sig, cc=cu.get_current_device().compute_capability)


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
#
# The kernels are module-level functions, compiled by ``_bind`` with
# ``cache=True``.  What must be known at compile time (kernel and per-thread
# sizes) travels as the *type* of the argument ``tag``: a tuple of tuples of
# empty tuples whose lengths are the sizes (``_tag``), so that one cached
# kernel serves every size.  The loops over those sizes are written out by
# ``_generate`` (each accumulator a scalar, each offset a constant from the
# thread's base) and reach the kernels as the ``_dev_`` stubs below: Python
# functions that run the same generated source in the simulator, and
# ``overload``s of it for NVVM.  Index arithmetic is unsigned
# (``np.uint64``): Numba adds a negative-index fix-up to signed indices.

U = np.uint64


def _tag(*sizes):
    """The ``tag`` argument carrying ``sizes`` in its type."""
    return tuple(((),) * int(n) for n in sizes)


def _sizes(tag) -> tuple:
    """The sizes of a tag (its value in the simulator, its Numba type when compiling)."""
    return tuple(len(t) for t in tag)


def _source(kind: str, sizes: tuple, cplx: bool) -> str:
    """Python source of one generated device function (see :func:`_generate`).

    Complex sums are written out as real multiply-adds (four per term):
    Numba's complex ``a += t * v`` costs seven float instructions.  Every
    accumulator is touched at least once (so ``{a}n`` is always set).
    """
    *taps, py, px = sizes
    accs = [f"a{i}_{j}" for i in range(py) for j in range(px)]
    tup = "(" + ", ".join(accs) + ",)"
    body = []

    started = set()

    def mac(acc, tap, v):
        if not cplx:
            return [f"{acc} += {tap} * {v}"]
        # the negative products summed apart: NVVM does not fuse a - t * v
        neg = f"{acc}n += {tap}i * {v}i" if acc in started else f"{acc}n = {tap}i * {v}i"
        started.add(acc)
        return [f"{acc}r += {tap}r * {v}r", neg,
                f"{acc}i += {tap}r * {v}i", f"{acc}i += {tap}i * {v}r"]

    def split(name):
        return [f"{name}r = {name}.real", f"{name}i = {name}.imag"] if cplx else []

    def joined():
        if not cplx:
            return f"return {tup}"
        return "return (" + ", ".join(f"complex({a}r - {a}n, {a}i)" for a in accs) + ",)"

    if kind == "zeros":
        head = "def f(zero, tag):"
        body.append("return (" + "zero, " * (py * px) + ")")
    elif kind == "store":
        head = "def f(out, oz, y, x, xstep, acc, tag):"
        body += [f"{tup} = acc", "oh = U(out.shape[1])", "ow = U(out.shape[2])"]
        for i in range(py):
            body.append(f"if y + U({i}) < oh:")
            for j in range(px):
                body.append(f"    if x + U({j}) * xstep < ow:")
                body.append(f"        out[oz, y + U({i}), x + U({j}) * xstep] = a{i}_{j}")
    elif kind == "step":
        # generic kernel: one tap w times the outputs' tile values
        head = "def f(sh, b, pitch, bx, w, acc, tag):"
        body += [f"{tup} = acc"] + split("w")
        for a in accs:
            body += split(a)
        for i in range(py):
            for j in range(px):
                body.append(f"v = sh[b + U({i}) * pitch + U({j}) * bx]")
                body += split("v") + mac(f"a{i}_{j}", "w", "v")
        body.append(joined())
    else:  # "macs": the whole kernel plane, each tile value loaded once
        kh, kw = taps
        head = "def f(sh, b, pitch, sub, k, kz, acc, tag):"
        body.append(f"{tup} = acc")
        for a in accs:
            body += split(a)
        for p in range(kh):
            for q in range(kw):
                body.append(f"t{p}_{q} = k[kz, U({p * kw + q})]")
                body += split(f"t{p}_{q}")
        for s in range(px):
            body.append(f"c{s} = b + U({s}) * sub")
        for r in range(py + kh - 1):
            for m in range(px + kw - 1):
                # tile column m of the thread's row r: sub-row m % px, column m // px
                body.append(f"v = sh[c{m % px} + U({r}) * pitch + U({m // px})]")
                body += split("v")
                for i in range(max(0, r - kh + 1), min(py, r + 1)):
                    for j in range(max(0, m - kw + 1), min(px, m + 1)):
                        body += mac(f"a{i}_{j}", f"t{r - i}_{m - j}", "v")
        body.append(joined())
    return "\n    ".join([head] + body) + "\n"


@functools.lru_cache(maxsize=None)
def _generate(kind: str, sizes: tuple, cplx: bool = False):
    """The generated device function ``kind`` for ``sizes`` (a plain Python function)."""
    scope = {"U": U}
    exec(compile(_source(kind, sizes, cplx), f"<cuda_direct {kind} {sizes}>", "exec"), scope)
    return scope["f"]


def _is_complex(x) -> bool:
    """Whether ``x`` (an array or scalar, or its Numba type) is complex."""
    dtype = getattr(x, "dtype", x)
    if hasattr(dtype, "bitwidth") or type(dtype).__module__.startswith("numba"):
        return type(dtype).__name__ == "Complex"
    return np.dtype(dtype).kind == "c"


def _dev_zeros(zero, tag):
    """A tuple of ``py * px`` zeros (the accumulators)."""
    return _generate("zeros", _sizes(tag))(zero, tag)


def _dev_store(out, oz, y, x, xstep, acc, tag):
    """Store the accumulators at rows ``y + i``, columns ``x + j * xstep`` that lie in ``out``."""
    return _generate("store", _sizes(tag))(out, oz, y, x, xstep, acc, tag)


def _dev_step(sh, b, pitch, bx, w, acc, tag):
    """Add tap ``w`` times the tile values of each output (generic kernel)."""
    return _generate("step", _sizes(tag), _is_complex(w))(sh, b, pitch, bx, w, acc, tag)


def _dev_macs(sh, b, pitch, sub, k, kz, acc, tag):
    """Add kernel plane ``kz`` correlated with the thread's tile window (tile kernel)."""
    return _generate("macs", _sizes(tag), _is_complex(k))(sh, b, pitch, sub, k, kz, acc, tag)


#: the generated stubs: kind, and the argument whose type says complex (None: never)
GENERATED = {_dev_zeros: ("zeros", None), _dev_store: ("store", None),
             _dev_step: ("step", 4), _dev_macs: ("macs", 4)}


def _dev_source(i, n, boundary):
    """Index of the signal sample at index ``i`` of the extended signal (-1: the fill value).

    The modulo is taken only outside the signal.
    """
    if i >= 0 and i < n:
        return i
    if boundary == 1:
        return i % n
    if boundary == 2:
        m = i % (2 * n)
        if m >= n:
            m = 2 * n - 1 - m
        return m
    return -1


def _dev_stage(sh, a, z, gy0, gx0, rows, cols, pitch, sub, px, boundary, fill):
    """Stage ``rows x cols`` samples of plane ``z`` from ``(gy0, gx0)`` on, boundary applied.

    Column ``c`` of row ``r`` goes to ``r * pitch + (c % px) * sub + c // px``:
    with ``px`` outputs side by side per thread, the threads of a warp then
    read consecutive words.
    """
    h = a.shape[1]
    w = a.shape[2]
    by = U(nbcuda.blockDim.y)
    bx = U(nbcuda.blockDim.x)
    r = U(nbcuda.threadIdx.y)
    while r < rows:
        gy = _dev_source(gy0 + np.int64(r), h, boundary)
        c = U(nbcuda.threadIdx.x)
        while c < cols:
            gx = _dev_source(gx0 + np.int64(c), w, boundary)
            dst = r * pitch + (c % px) * sub + c // px
            if gy >= 0 and gx >= 0:
                sh[dst] = a[z, U(gy), U(gx)]
            else:
                sh[dst] = fill
            c += bx
        r += by


JITABLE = (_dev_source, _dev_stage)


def tile_kernel(a, k, out, offz, offy, offx, boundary, fill, zero, tag):
    """out[z, y, x] = sum k[r, p*kw + q] * a[z + offz + r, y + offy + p, x + offx + q].

    Kernel sizes ``(kh, kw)`` and outputs per thread ``(py, px)`` come from
    ``tag``; each thread owns ``py`` rows of ``px`` adjacent columns.
    """
    kh, kw, py, px = len(tag[0]), len(tag[1]), len(tag[2]), len(tag[3])
    sh = nbcuda.shared.array(0, k.dtype)
    by = U(nbcuda.blockDim.y)
    bx = U(nbcuda.blockDim.x)
    ty = U(nbcuda.threadIdx.y)
    tx = U(nbcuda.threadIdx.x)
    th = by * U(py)
    tw = bx * U(px)
    rows = th + U(kh - 1)
    cols = tw + U(kw - 1)
    sub = (cols + U(px - 1)) // U(px)
    pitch = sub * U(px)
    y0 = U(nbcuda.blockIdx.y) * th
    x0 = U(nbcuda.blockIdx.x) * tw
    oz = nbcuda.blockIdx.z
    b = ty * U(py) * pitch + tx
    acc = _dev_zeros(zero, tag)
    for kz in range(k.shape[0]):
        z = oz + offz + kz
        if z >= 0 and z < a.shape[0]:          # the same for the whole block
            _dev_stage(sh, a, U(z), offy + np.int64(y0), offx + np.int64(x0), rows, cols,
                       pitch, sub, U(px), boundary, fill)
            nbcuda.syncthreads()
            acc = _dev_macs(sh, b, pitch, sub, k, U(kz), acc, tag)
            nbcuda.syncthreads()
    _dev_store(out, U(oz), y0 + ty * U(py), x0 + tx * U(px), U(1), acc, tag)


def generic_kernel(a, k, out, offz, offy, offx, cy, cx, boundary, fill, zero, tag):
    """The same sum for any kernel size, in chunks of ``cy x cx`` taps staged in shared memory.

    Outputs per thread ``(py, px)`` come from ``tag``; a thread's ``px``
    columns lie ``blockDim.x`` apart.
    """
    py, px = len(tag[0]), len(tag[1])
    sh = nbcuda.shared.array(0, k.dtype)
    by = U(nbcuda.blockDim.y)
    bx = U(nbcuda.blockDim.x)
    ty = U(nbcuda.threadIdx.y)
    tx = U(nbcuda.threadIdx.x)
    th = by * U(py)
    tw = bx * U(px)
    ucy = U(cy)
    ucx = U(cx)
    pitch = tw + ucx - U(1)
    tap0 = (th + ucy - U(1)) * pitch
    tid = ty * bx + tx
    nt = by * bx
    y0 = U(nbcuda.blockIdx.y) * th
    x0 = U(nbcuda.blockIdx.x) * tw
    oz = nbcuda.blockIdx.z
    b = ty * U(py) * pitch + tx
    kh = k.shape[1]
    kw = k.shape[2]
    acc = _dev_zeros(zero, tag)
    for kz in range(k.shape[0]):
        z = oz + offz + kz
        if z >= 0 and z < a.shape[0]:          # the same for the whole block
            for ky0 in range(0, kh, cy):
                ny = U(kh - ky0) if kh - ky0 < cy else ucy
                for kx0 in range(0, kw, cx):
                    nx = U(kw - kx0) if kw - kx0 < cx else ucx
                    t = tid
                    while t < ny * nx:
                        p = t // nx
                        sh[tap0 + t] = k[kz, U(ky0) + p, U(kx0) + t - p * nx]
                        t += nt
                    _dev_stage(sh, a, U(z), offy + np.int64(y0) + ky0, offx + np.int64(x0) + kx0,
                               th + ny - U(1), tw + nx - U(1), pitch, U(0), U(1), boundary, fill)
                    nbcuda.syncthreads()
                    for p in range(ny):
                        for q in range(nx):
                            acc = _dev_step(sh, b + p * pitch + q, pitch, bx,
                                            sh[tap0 + p * nx + q], acc, tag)
                    nbcuda.syncthreads()
    _dev_store(out, U(oz), y0 + ty * U(py), x0 + tx, bx, acc, tag)


KERNELS = {"tile": tile_kernel, "generic": generic_kernel}


def _register_overloads():
    """Make the ``_dev_`` functions compilable: the generated ones per size, the others as they are."""
    from numba.cuda.extending import overload

    def generated(kind, which):
        def typer(*args):
            return _generate(kind, _sizes(args[-1]), which is not None and _is_complex(args[which]))
        return typer
    for stub, (kind, which) in GENERATED.items():
        overload(stub, target="cuda", strict=False)(generated(kind, which))
    for fn in JITABLE:
        overload(fn, target="cuda", strict=False)(lambda *args, fn=fn: fn)


def kernel(name: str):
    """The compiled (cached) kernel ``'tile'`` or ``'generic'``."""
    kern = _kernels.get(name)
    if kern is None:
        cu = _bind()
        try:
            kern = cu.jit(cache=True)(KERNELS[name])
        except RuntimeError:  # no writable cache directory for this file: compile per process
            kern = cu.jit(KERNELS[name])
        _kernels[name] = kern
    return kern


# --------------------------------------------------------------------------
# host side
# --------------------------------------------------------------------------

def _shared_need(ty, tx, cy, cx, itemsize) -> int:
    """Shared bytes of the generic kernel: the tile with its halo, and the chunk of taps."""
    return ((ty + cy - 1) * (tx + cx - 1) + cy * cx) * itemsize


def _tile_need(ty, tx, kh, kw, px, itemsize) -> int:
    """Shared bytes of the tile kernel: the tile with its halo, rows padded to ``px`` sub-rows."""
    return (ty + kh - 1) * (-(-(tx + kw - 1) // px) * px) * itemsize


def plan(out_shape, k_shape, itemsize, complex_=False):
    """Launch configuration: ``(block, per, (cy, cx), kfix)``.

    ``kfix=(kh, kw)`` selects the tile kernel (the whole kernel unrolled,
    its taps in registers: at most :data:`UNROLL_TAPS` taps and
    :data:`UNROLL_BYTES` bytes, complex ones counted twice: four real
    multiply-adds each make large complex kernels slow to compile); otherwise the generic kernel stages chunks
    of ``(cy, cx)`` taps, the whole kernel when that fits into
    :data:`SHARED_BYTES`.
    """
    _, oh, _ = out_shape
    _, kh, kw = k_shape
    block, per = tuple(BLOCK), tuple(PER_THREAD)
    if oh * 2 <= block[0] * per[0]:
        block, per = (1, int(BLOCK_1D)), (1, int(PER_THREAD_1D))
    if (kh * kw <= UNROLL_TAPS and kh * kw * itemsize * (2 if complex_ else 1) <= UNROLL_BYTES
            and _tile_need(block[0] * per[0], block[1] * per[1], kh, kw, per[1],
                           itemsize) <= SHARED_BYTES):
        return block, per, (kh, kw), (kh, kw)
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
    return block, per, (cy, cx), None


def _launch(a3, k3, o3, offs, boundary, fill, dtype):
    od, oh, ow = o3.shape
    kd, kh, kw = k3.shape
    block, per, (cy, cx), kfix = plan(o3.shape, k3.shape, dtype.itemsize, dtype.kind == "c")
    ty, tx = block[0] * per[0], block[1] * per[1]
    grid = (-(-ow // tx), -(-oh // ty), od)
    if grid[1] > 65535 or grid[2] > 65535:
        raise ValueError(f"output of shape {o3.shape} is too large for one launch")
    from .. import _gpu
    offs = tuple(int(o) for o in offs)
    code = BOUNDARY_CODES[boundary]
    if kfix is not None:
        shared = _tile_need(ty, tx, kh, kw, per[1], dtype.itemsize)
        _gpu.launch(kernel("tile"), grid, (block[1], block[0]),
                    a3, k3.reshape(kd, kh * kw), o3, *offs, code, fill, dtype.type(0),
                    _tag(kh, kw, *per), shared=shared)
    else:
        shared = _shared_need(ty, tx, cy, cx, dtype.itemsize)
        _gpu.launch(kernel("generic"), grid, (block[1], block[0]),
                    a3, k3, o3, *offs, int(cy), int(cx), code, fill, dtype.type(0),
                    _tag(*per), shared=shared)


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
