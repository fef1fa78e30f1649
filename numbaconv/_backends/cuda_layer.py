"""Convolutional layers (``numbaconv.nn``) on a CUDA GPU with ``numba.cuda``: direct kernels.

Three kernels, each for float32 and float64 and for ranks 1 to 3 (arrays
are viewed as three spatial axes, the missing ones of length 1):

* ``forward_kernel``: one thread per output element ``(n, o, *p)`` sums
  over the taps and, for each tap, the group's input channels.  The input
  is not padded in memory: each tap's index ``p * stride + t * dilation -
  left`` is mapped back into the input by the padding mode (zeros skip the
  tap), so no padded copy is made.  The bias is added in the same pass.
* ``transposed_kernel``: the transposed convolution (and the gradient with
  respect to the input) in gather form, one thread per output element: for
  each tap, the input index is ``(y + start - t * dilation) / stride`` when
  that divides and lies in the input.  Each output is written once, by one
  thread: no atomics, and the result does not depend on scheduling.
* ``weight_grad_kernel``: one block per weight element; its threads stride
  over the batch and the output positions and reduce their partial sums in
  shared memory.  A weight has few elements (a depthwise 3x3 layer of 32
  channels has 288), too few to occupy a GPU with one thread each.

The layer kernels take contiguous arrays of the compute dtype (an input of
another dtype or layout is converted by one copy, ``cast_kernel``), seen
flat with their shapes beside them so that the innermost loop steps an
offset instead of recomputing a 5-D address.

Threads walk the outputs (and weight elements) grid-stride, so the launch
size is bounded by :data:`MAX_BLOCKS`; :data:`THREADS`,
:data:`REDUCE_THREADS` and :data:`MAX_BLOCKS` are read at launch time,
so tests can shrink them to exercise multi-block grids and ragged tails in
the CUDA simulator.  Stride, dilation and padding are run-time arguments:
one compiled kernel per dtype serves every layer.  Index arithmetic is
unsigned where the index cannot be negative (``np.uint64``): Numba adds a
negative-index fix-up to signed indices.
"""
from __future__ import annotations

import math

import numpy as np

from .. import _coefficients as coef
from .._problem import LayerProblem

NAME = "cuda_layer"
DEVICE = "cuda"
METHOD = "direct"
OPERATION = "layer"

#: threads per block of the forward and transposed kernels (read at launch time)
THREADS = 128
#: threads per block of the weight-gradient kernel, a power of two (read at launch time)
REDUCE_THREADS = 128
#: most blocks of a launch; threads then loop grid-stride
MAX_BLOCKS = 32768

#: torch's padding modes as the forward kernel's codes
PADDING_CODES = {"zeros": 0, "reflect": 1, "replicate": 2, "circular": 3}

_kernels: dict = {}

#: ``numba.cuda``, bound on first use; kernels reach it as a module global
#: (the simulator swaps such globals for its fake module)
nbcuda = None

U = np.uint64


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


def compile_check():
    """Compile the float32 forward kernel for the current device (raises when it does not compile)."""
    cu = _bind()
    kern, sig = variant("forward", np.float32)
    cu.compile_ptx(kern.py_func, sig, cc=cu.get_current_device().compute_capability)


def available() -> bool:
    """A GPU (or the simulator) whose ``numba.cuda`` compiles the kernels; never raises.

    As for ``cuda_direct``: with numba-cuda installed the kernels are known
    to compile; Numba's deprecated built-in CUDA target is asked to compile
    one first.
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


def supports(problem: LayerProblem) -> bool:
    return (problem.device == "cuda" and 1 <= problem.ndim <= 3
            and problem.dtype in (np.dtype(np.float32), np.dtype(np.float64)))


def costs() -> dict:
    """This backend's coefficients in force (``_coefficients.DEFAULTS['cuda']['cuda_layer']``)."""
    return coef.coefficients()["cuda"][NAME]


def work(problem: LayerProblem):
    """What the cost model counts: ``(multiply-adds, bytes of device memory traffic)``.

    The transposed (gather) kernel also tests every tap of every output
    for divisibility by the stride; each test is counted as a multiply-add.
    """
    isz = problem.dtype.itemsize
    inputs = problem.batch * problem.channels * math.prod(problem.shape)
    outputs = problem.batch * problem.out_channels * math.prod(problem.out_shape)
    if problem.transposed:
        weights = problem.channels * (problem.out_channels // problem.groups) * problem.taps
        macs = problem.macs + float(outputs) * problem.taps
    else:
        weights = problem.out_channels * (problem.channels // problem.groups) * problem.taps
        macs = problem.macs
    return macs, (inputs + outputs + weights) * isz


def cost(problem: LayerProblem, workers=None) -> float:
    """Predicted seconds: launch + max(memory traffic, multiply-adds).

    ``workers`` (host threads) does not matter on the GPU.
    """
    c = costs()
    macs, nbytes = work(problem)
    return c["launch"] + max(nbytes / c["bandwidth"], macs * c["mac"][coef.direct_key(problem.dtype)])


def describe(problem: LayerProblem, workers=None) -> str:
    if problem.transposed:
        return "one GPU thread per output element, gathering the taps that divide by the stride"
    return "one GPU thread per output element, padding mapped in the kernel (no padded copy)"


# --------------------------------------------------------------------------
# kernels
# --------------------------------------------------------------------------
#
# Module-level functions compiled by ``kernel`` with ``cache=True``; the
# ``_dev_`` function is plain Python in the simulator and an ``overload``
# of itself for NVVM (``_register_overloads``).  The layer kernels take
# contiguous arrays flattened to one axis with their 5-D shapes
# ``(batch, channels, depth, rows, columns)`` beside them: the channel loop
# then steps a flat offset by one plane (a load and a multiply-add per
# step) instead of recomputing a 5-D address.  ``stride``, ``dilation`` and
# ``lo`` (left padding) / ``start`` are 3-tuples of int64.

def _dev_source(i, n, mode):
    """Index into an axis of length ``n`` of index ``i`` of its padded extension (-1: a zero).

    ``mode`` is a :data:`PADDING_CODES` value.  The padding is at most the
    axis length (reflect: less), as the layer functions check, so one
    reflection or wrap is enough.
    """
    if i >= 0 and i < n:
        return i
    if mode == 1:                       # reflect: the edge sample is not repeated
        return -i if i < 0 else 2 * (n - 1) - i
    if mode == 2:                       # replicate
        return 0 if i < 0 else n - 1
    if mode == 3:                       # circular
        return i + n if i < 0 else i - n
    return -1


JITABLE = (_dev_source,)


def forward_kernel(x, xshape, w, wshape, bias, out, oshape, stride, dilation, lo, mode,
                   has_bias, zero):
    """out[n, o, p] = bias[o] + sum_{t, c} x[n, c0 + c, src(p * stride + t * dilation - lo)] * w[o, c, t].

    ``x`` is the unpadded input, ``c0`` the first channel of ``o``'s group
    and ``src`` the padding mode's mapping (:func:`_dev_source`); taps that
    fall on zero padding are skipped.
    """
    sz, sy, sx = stride
    dz, dy, dx = dilation
    lz, ly, lx = lo
    channels, depth, height, width = xshape[1], xshape[2], xshape[3], xshape[4]
    cg, kd, kh, kw = wshape[1], wshape[2], wshape[3], wshape[4]
    og = U(oshape[1] // (channels // cg))
    ucg = U(cg)
    plane = U(depth * height * width)       # x's step from one channel to the next
    taps = U(kd * kh * kw)                  # w's step from one channel to the next
    oc = U(oshape[1])
    od = U(oshape[2])
    oh = U(oshape[3])
    ow = U(oshape[4])
    total = U(out.shape[0])
    i = U(nbcuda.grid(1))
    step = U(nbcuda.gridsize(1))
    while i < total:
        r = i
        ox = r % ow
        r = r // ow
        oy = r % oh
        r = r // oh
        oz = r % od
        r = r // od
        o = r % oc
        n = r // oc
        c0 = o // og * ucg
        xn = (n * U(channels) + c0) * plane     # x[n, c0]
        wo = o * ucg * taps                     # w[o, 0]
        acc = zero
        for kz in range(kd):
            iz = _dev_source(np.int64(oz) * sz + kz * dz - lz, depth, mode)
            if iz < 0:
                continue
            for ky in range(kh):
                iy = _dev_source(np.int64(oy) * sy + ky * dy - ly, height, mode)
                if iy < 0:
                    continue
                row = xn + U(iz * height + iy) * U(width)
                for kx in range(kw):
                    ix = _dev_source(np.int64(ox) * sx + kx * dx - lx, width, mode)
                    if ix < 0:
                        continue
                    xi = row + U(ix)
                    wi = wo + U((kz * kh + ky) * kw + kx)
                    c = U(0)
                    while c < ucg:
                        acc += x[xi] * w[wi]
                        xi += plane
                        wi += taps
                        c += U(1)
        if has_bias:
            acc += bias[o]
        out[i] = acc
        i += step


def transposed_kernel(x, xshape, w, wshape, bias, out, oshape, stride, dilation, start,
                      has_bias, zero):
    """out[n, o, y] = bias[o] + sum over taps t and group channels c of x[n, c, q] * w[c, o', t].

    ``q = (y + start - t * dilation) / stride`` per axis, where that divides
    and lies in ``x``; ``w`` is ``(C, C_out / groups, *kernel)`` and ``o'``
    the index of ``o`` within its group.
    """
    sz, sy, sx = stride
    dz, dy, dx = dilation
    bz, by, bx = start
    channels = xshape[1]
    og, kd, kh, kw = wshape[1], wshape[2], wshape[3], wshape[4]
    cg = channels // (oshape[1] // og)
    uog = U(og)
    ucg = U(cg)
    usz = U(sz)
    usy = U(sy)
    usx = U(sx)
    ld = U(xshape[2])
    lh = U(xshape[3])
    lw = U(xshape[4])
    plane = ld * lh * lw                    # x's step from one channel to the next
    taps = U(kd * kh * kw)
    wstep = uog * taps                      # w's step from one input channel to the next
    oc = U(oshape[1])
    od = U(oshape[2])
    oh = U(oshape[3])
    ow = U(oshape[4])
    total = U(out.shape[0])
    i = U(nbcuda.grid(1))
    step = U(nbcuda.gridsize(1))
    while i < total:
        r = i
        ox = r % ow
        r = r // ow
        oy = r % oh
        r = r // oh
        oz = r % od
        r = r // od
        o = r % oc
        n = r // oc
        grp = o // uog
        c0 = grp * ucg
        xn = (n * U(channels) + c0) * plane     # x[n, c0]
        wc = c0 * wstep + (o - grp * uog) * taps    # w[c0, o']
        acc = zero
        for kz in range(kd):
            z = np.int64(oz) + bz - kz * dz
            if z < 0:
                break                   # later taps reach further left
            if U(z) % usz != U(0):
                continue
            qz = U(z) // usz
            if qz >= ld:
                continue
            for ky in range(kh):
                y = np.int64(oy) + by - ky * dy
                if y < 0:
                    break
                if U(y) % usy != U(0):
                    continue
                qy = U(y) // usy
                if qy >= lh:
                    continue
                row = xn + (qz * lh + qy) * lw
                for kx in range(kw):
                    v = np.int64(ox) + bx - kx * dx
                    if v < 0:
                        break
                    if U(v) % usx != U(0):
                        continue
                    qx = U(v) // usx
                    if qx >= lw:
                        continue
                    xi = row + qx
                    wi = wc + U((kz * kh + ky) * kw + kx)
                    c = U(0)
                    while c < ucg:
                        acc += x[xi] * w[wi]
                        xi += plane
                        wi += wstep
                        c += U(1)
        if has_bias:
            acc += bias[o]
        out[i] = acc
        i += step


def weight_grad_kernel(x, xshape, g, gshape, gw, wshape, stride, dilation, lo, zero):
    """gw[o, c, t] = sum_{n, p} g[n, o, p] * x[n, c0 + c, p * stride + t * dilation - lo].

    One block per weight element (grid-stride over them); ``x`` is the
    unpadded input (zero padding: indices outside it are skipped).  The
    block's size must be a power of two (the shared-memory reduction
    halves it), and its dynamic shared memory one value per thread.
    """
    sh = nbcuda.shared.array(0, gw.dtype)
    sz, sy, sx = stride
    dz, dy, dx = dilation
    lz, ly, lx = lo
    channels, depth, height, width = xshape[1], xshape[2], xshape[3], xshape[4]
    oc = gshape[1]
    cg = U(wshape[1])
    og = U(oc // (channels // wshape[1]))
    kd = U(wshape[2])
    kh = U(wshape[3])
    kw = U(wshape[4])
    pd = U(gshape[2])
    ph = U(gshape[3])
    pw = U(gshape[4])
    per_image = pd * ph * pw
    positions = U(gshape[0]) * per_image
    plane = U(depth * height * width)
    tid = U(nbcuda.threadIdx.x)
    nt = U(nbcuda.blockDim.x)
    e = U(nbcuda.blockIdx.x)
    while e < U(gw.shape[0]):           # the same for the whole block
        r = e
        kx = r % kw
        r = r // kw
        ky = r % kh
        r = r // kh
        kz = r % kd
        r = r // kd
        c = r % cg
        o = r // cg
        ci = o // og * cg + c
        tz = np.int64(kz) * dz - lz
        ty = np.int64(ky) * dy - ly
        tx = np.int64(kx) * dx - lx
        acc = zero
        j = tid
        while j < positions:
            n = j // per_image
            q = j - n * per_image
            r = q
            qx = r % pw
            r = r // pw
            qy = r % ph
            qz = r // ph
            iz = np.int64(qz) * sz + tz
            iy = np.int64(qy) * sy + ty
            ix = np.int64(qx) * sx + tx
            if (iz >= 0 and iz < depth and iy >= 0 and iy < height
                    and ix >= 0 and ix < width):
                acc += (g[(n * U(oc) + o) * per_image + q]
                        * x[(n * U(channels) + ci) * plane + U((iz * height + iy) * width + ix)])
            j += nt
        sh[tid] = acc
        nbcuda.syncthreads()
        half = nt // U(2)
        while half > U(0):
            if tid < half:
                sh[tid] += sh[tid + half]
            nbcuda.syncthreads()
            half = half // U(2)
        if tid == U(0):
            gw[e] = sh[0]
        nbcuda.syncthreads()            # sh is reused by the next element
        e += U(nbcuda.gridDim.x)


def cast_kernel(src, dst):
    """dst[i] = src[i] for 5-D arrays: any layout and floating dtype in, contiguous out."""
    d1 = U(dst.shape[1])
    d2 = U(dst.shape[2])
    d3 = U(dst.shape[3])
    d4 = U(dst.shape[4])
    total = U(dst.size)
    i = U(nbcuda.grid(1))
    step = U(nbcuda.gridsize(1))
    while i < total:
        r = i
        e4 = r % d4
        r = r // d4
        e3 = r % d3
        r = r // d3
        e2 = r % d2
        r = r // d2
        e1 = r % d1
        e0 = r // d1
        dst[e0, e1, e2, e3, e4] = src[e0, e1, e2, e3, e4]
        i += step


KERNELS = {"forward": forward_kernel, "transposed": transposed_kernel,
           "weight_grad": weight_grad_kernel, "cast": cast_kernel}


def _register_overloads():
    """Make the ``_dev_`` functions compilable for NVVM, as they are."""
    from numba.cuda.extending import overload
    for fn in JITABLE:
        overload(fn, target="cuda", strict=False)(lambda *args, fn=fn: fn)


def kernel(name: str):
    """The compiled (cached) kernel ``'forward'``, ``'transposed'``, ``'weight_grad'`` or ``'cast'``."""
    kern = _kernels.get(name)
    if kern is None:
        cu = _bind()
        try:
            kern = cu.jit(cache=True)(KERNELS[name])
        except RuntimeError:  # no writable cache directory for this file: compile per process
            kern = cu.jit(KERNELS[name])
        _kernels[name] = kern
    return kern


def variant(name: str, dtype, src=None):
    """``(kernel, argument types)`` of the kernel ``name`` for ``dtype`` (what a launch compiles).

    ``src``: the cast kernel's source dtype (its source is typed with any layout).
    """
    import numba
    from numba import types
    kern = kernel(name)
    nbt = numba.from_dtype(np.dtype(dtype))
    if name == "cast":
        return kern, (types.Array(numba.from_dtype(np.dtype(src)), 5, "A"),
                      types.Array(nbt, 5, "C"))
    a1 = types.Array(nbt, 1, "C")
    i64 = types.int64
    shape = types.UniTuple(i64, 5)
    triple = types.UniTuple(i64, 3)
    if name == "forward":
        return kern, (a1, shape, a1, shape, a1, a1, shape, triple, triple, triple, i64,
                      types.boolean, nbt)
    if name == "transposed":
        return kern, (a1, shape, a1, shape, a1, a1, shape, triple, triple, triple,
                      types.boolean, nbt)
    return kern, (a1, shape, a1, shape, a1, shape, triple, triple, triple, nbt)


# --------------------------------------------------------------------------
# host side
# --------------------------------------------------------------------------

def insert_axes(a, where, count):
    """A view of the device array ``a`` with ``count`` axes of length 1 inserted before axis ``where``.

    Numba reshapes only contiguous device arrays; axes of length 1 need no
    copy in any layout, so the view is then built from ``a``'s memory.
    """
    shape = tuple(a.shape[:where]) + (1,) * count + tuple(a.shape[where:])
    if not count:
        return a
    try:
        return a.reshape(shape)
    except NotImplementedError:
        strides = (tuple(a.strides[:where]) + (a.dtype.itemsize,) * count
                   + tuple(a.strides[where:]))
        return type(a)(shape, strides, a.dtype, stream=a.stream, gpu_data=a.gpu_data)


def _prepare(a, wt, nd):
    """``a`` (batch, channels, ``nd`` axes) as a contiguous 5-D device array of ``wt``.

    A view when it is one already; otherwise one copy that also converts
    the dtype (``_gpu``'s copies take at most three axes in any layout).
    """
    from .. import _gpu
    v = insert_axes(_gpu.as_device(a), 2, 3 - nd)
    if v.dtype == wt and v.is_c_contiguous():
        return v
    dst = _gpu.empty(tuple(v.shape), wt)
    if dst.size:
        _gpu.launch(kernel("cast"), *_grid(dst.size), v, dst)
    return dst


def _shape5(a):
    """The shape of ``a`` (batch, channels, spatial axes) with three spatial axes, as ints."""
    return (int(a.shape[0]), int(a.shape[1])) + _triple(a.shape[2:], 1)


def _flat(a5):
    """A contiguous 5-D device array as the layer kernels take it: flat, and its shape."""
    return a5.reshape(-1), tuple(int(v) for v in a5.shape)


def _triple(values, fill):
    return (fill,) * (3 - len(values)) + tuple(int(v) for v in values)


def _grid(total: int):
    threads = int(THREADS)
    return max(1, min(int(MAX_BLOCKS), -(-total // threads))), threads


def _bias_arg(bias, wt, out_channels):
    """``(bias, has_bias)``: a contiguous device array of ``wt`` (a 1-element stand-in when none)."""
    from .. import _gpu
    if bias is None:
        return _gpu.empty(1, wt), False
    bias = _gpu.prepare(bias, wt)
    if tuple(bias.shape) != (out_channels,):
        raise ValueError(f"bias must have shape ({out_channels},), got {tuple(bias.shape)}")
    return bias, True


def run(problem: LayerProblem, x, w, *, workers=None, bias=None):
    """The layer operation of ``problem`` on device arrays: a new contiguous device array.

    Parameters
    ----------
    problem : LayerProblem
        ``device='cuda'``, forward or transposed.
    x, w : device arrays
        Input and weight, any layout and floating dtype (converted to
        ``problem.dtype``).  Forward: ``x`` is unpadded; the kernel maps
        each index into it by ``problem.pad`` and ``problem.padding_mode``
        instead of reading a padded copy.
    workers : int, optional
        Ignored (host threads).
    bias : device array, optional
        ``(out_channels,)``, added to every output of its channel.

    Returns
    -------
    device array
        ``(N, out_channels, *problem.out_shape)`` in ``problem.dtype``, on
        the call's stream (``_gpu.launch_stream``); nothing waits on the host.
    """
    from .. import _gpu
    wt = problem.dtype
    nd = problem.ndim
    out = _gpu.empty((problem.batch, problem.out_channels) + tuple(problem.out_shape), wt)
    if out.size == 0:
        return out
    bias, has_bias = _bias_arg(bias, wt, problem.out_channels)
    x5, w5 = _prepare(x, wt, nd), _prepare(w, wt, nd)
    arrays = (*_flat(x5), *_flat(w5), bias, out.reshape(-1), _shape5(out))
    blocks, threads = _grid(out.size)
    if problem.transposed:
        _gpu.launch(kernel("transposed"), blocks, threads, *arrays,
                    _triple(problem.stride, 1), _triple(problem.dilation, 1),
                    _triple(problem.start, 0), has_bias, wt.type(0))
        return out
    lo = tuple(left for left, _ in problem.pad) or (0,) * nd
    _gpu.launch(kernel("forward"), blocks, threads, *arrays,
                _triple(problem.stride, 1), _triple(problem.dilation, 1), _triple(lo, 0),
                PADDING_CODES[problem.padding_mode], has_bias, wt.type(0))
    return out


def weight_grad(x, g, weight_size, stride, dilation, lo, dtype):
    """The gradient of the forward convolution with respect to its weight, on device arrays.

    Parameters
    ----------
    x : device array
        The unpadded input ``(N, C, *size)``.
    g : device array
        The output's gradient ``(N, C_out, *positions)``.
    weight_size : tuple of int
        ``(C_out, C / groups, *kernel)``.
    stride, dilation, lo : tuple of int
        Per spatial axis; ``lo`` is the left zero padding.
    dtype : numpy.dtype
        The compute dtype, float32 or float64.

    Returns
    -------
    device array
        ``weight_size`` in ``dtype``, on the call's stream.
    """
    from .. import _gpu
    dtype = np.dtype(dtype)
    nd = len(weight_size) - 2
    out = _gpu.empty(tuple(weight_size), dtype)
    if out.size == 0:
        return out
    if x.size == 0 or g.size == 0:
        return _gpu.fill(out, 0)
    x5, g5 = _prepare(x, dtype, nd), _prepare(g, dtype, nd)
    positions = g.size // g.shape[1]
    threads = 1
    while threads * 2 <= min(int(REDUCE_THREADS), positions):
        threads *= 2                    # a power of two, no larger than the work
    blocks = max(1, min(int(MAX_BLOCKS), out.size))
    _gpu.launch(kernel("weight_grad"), blocks, threads, *_flat(x5), *_flat(g5),
                out.reshape(-1), _shape5(out), _triple(stride, 1),
                _triple(dilation, 1), _triple(lo, 0), dtype.type(0),
                shared=threads * dtype.itemsize)
    return out
