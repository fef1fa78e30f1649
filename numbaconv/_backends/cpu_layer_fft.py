"""Convolutional layers by FFT: real transforms per plane, channel sums in the spectrum.

Every (image, channel) plane of the input and every (output, input)
plane of the weight is transformed once with :mod:`scipy.fft` (real
transforms, :func:`scipy.fft.next_fast_len` lengths, ``workers`` passed
on, on the calling thread: the backend the caller made active with
:func:`scipy.fft.set_backend` runs them); then, per frequency, each output
spectrum is the sum over its group's input channels of input spectrum times
weight spectrum, ``Y[n, o, f] = sum_c X[n, c, f] W[o, c, f]`` (a small complex matrix
product per frequency, run by a Numba kernel over frequency tiles); one
inverse transform per (image, output channel) plane finishes.  The
multiply-adds no longer grow with the kernel's taps, only the transform
lengths do, which is why it wins for large kernels and loses for 3x3.

Both operations are linear convolutions read through a window:

* forward: the correlation with ``w`` is the convolution with ``w``
  flipped (a view).  Zero padding is never written: the input is
  transformed as received and the window starts ``left padding`` earlier,
  at ``dilated extent - 1 - left padding``; the other padding modes are
  padded first.  A stride keeps every ``stride``-th output (the stride-1
  result is computed and sliced; :func:`cost` charges the waste).  The
  transforms are only as long as the window needs (see :func:`_plan`):
  'same' with a 31x31 kernel on 128x128 transforms 144x144, not the
  160x160 that the padded input would take.
* transposed: the adjoint is the convolution of the input spread out by
  the stride with the weight's channel axes swapped, cropped to
  ``[start, start + out_shape)``.  The spread input is never built: the
  transform of a sequence with ``s - 1`` zeros between samples, at length
  ``L = s * M``, is the length-``M`` transform of the samples repeated
  ``s`` times, so the input is transformed at ``M`` and its spectrum tiled.

Transforms run one axis at a time, the last (real) axis first, each padding
only its own axis: the zero rows of a padded kernel are never transformed
and the inverse crops each axis before the next, so only the rows the
window keeps reach the last (real) axis.  Dilation is zero insertion along
an axis just before that axis is transformed.  The batch is processed in
pieces so that the spectra of one piece stay under :data:`PIECE_BYTES`.

Non-finite values spread over a whole plane here; the dispatcher keeps
such inputs away from FFT methods for ``method='auto'``.
"""
from __future__ import annotations

import functools
import math

import numpy as np
import scipy.fft as sp_fft

from .. import _coefficients as coef
from .._config import resolve_workers
from .._jit import jit
from .._kernels import padding
from .._kernels.calls import run_items
from .._kernels.layout import parallel_pays
from .._problem import LayerProblem
from .cpu_fft import FFT_PARALLEL_MIN

NAME = "cpu_layer_fft"
DEVICE = "cpu"
METHOD = "fft"
OPERATION = "layer"

#: bytes of input and output spectra held at once; larger batches go in pieces
#: (the weight's spectra are held for the whole call)
PIECE_BYTES = 1 << 27

#: bytes of one work item's accumulators in the contraction kernel: the
#: accumulator rows of a frequency tile stay in L1 while the channels stream
TILE_BYTES = 32768


def available() -> bool:
    return True


def supports(problem: LayerProblem) -> bool:
    return problem.device == "cpu" and problem.dtype.kind == "f"


# ---------------------------------------------------------------- the plan

@functools.lru_cache(maxsize=256)
def _plan(problem: LayerProblem) -> dict:
    """Transform lengths, tiling, window and work counts of ``problem`` (shapes only).

    Both operations are a linear convolution of an input of ``extent``
    samples per axis (forward: as received, without its zero padding;
    transposed: spread by the stride) with the dilated kernel, read from
    ``offset`` with ``step`` for ``count`` outputs.  A circular convolution
    of length ``L`` adds ``full[i + L]`` and ``full[i - L]`` to ``full[i]``:
    both vanish in the window when ``L >= full - offset`` and
    ``L >= offset + span``, and ``L`` must hold both operands.  A negative
    offset (padding beyond the kernel's reach) reads the zeros at the end.

    Keys: ``lengths`` (transform length per axis), ``tiles`` (per axis, how
    many times the input's spectrum repeats: the transposed stride, else
    1), ``pad`` (the forward padding taken by the backend itself, before
    the transforms: modes other than zeros), ``dense`` (the input is
    transformed by one ``rfftn``), ``offset``, ``step`` and ``count`` (the
    window, per axis), ``freqs`` (complex values per spectrum plane) and
    ``units`` (1-D transform work per plane of the input, the weight and
    the output, as ``n log2 n`` sums; see :func:`_axis_work`).
    """
    nd = problem.ndim
    ext = problem.dilated_kernel
    pairs = tuple(problem.pad) or ((0, 0),) * nd
    if problem.transposed:
        tiles, step, count = problem.stride, (1,) * nd, problem.out_shape
        offset = tuple(problem.start)
        received = tuple(problem.shape)
        extent = tuple((n - 1) * s + 1 for n, s in zip(received, tiles))
        explicit = False
    else:
        tiles, step, count = (1,) * nd, problem.stride, problem.out_shape
        # zeros cost nothing here: the transforms pad anyway, the window moves
        explicit = problem.padding_mode != "zeros" and any(lo or r for lo, r in pairs)
        if explicit:
            pairs = ((0, 0),) * nd
        received = tuple(n - lo - r for n, (lo, r) in zip(problem.shape, pairs))
        extent = received
        offset = tuple(e - 1 - lo for e, (lo, _) in zip(ext, pairs))
    lengths = []
    for ax in range(nd):
        n, e, a, t = extent[ax], ext[ax], offset[ax], tiles[ax]
        span = (count[ax] - 1) * step[ax] + 1
        need = max(n + e - 1 - a, a + span, n, e)
        # the spread input's samples fit in the shorter length need / t
        lengths.append(t * sp_fft.next_fast_len(-(-need // t), ax == nd - 1))
    lengths = tuple(lengths)
    # one rfftn call beats axis-by-axis transforms (and their padding copies)
    # unless whole rows of the transform are zeros or the spectrum is tiled
    dense = (all(t == 1 for t in tiles)
             and math.prod(received[:-1]) * 4 >= math.prod(lengths[:-1]) * 3)
    units = (_dense_units(lengths) if dense else _axis_work(received, lengths, tiles),
             _axis_work(problem.kernel, lengths, (1,) * nd),
             _axis_work(count, lengths, (1,) * nd, inverse=True))
    freqs = math.prod(lengths[:-1]) * (lengths[-1] // 2 + 1)
    return {"lengths": lengths, "tiles": tuple(tiles),
            "pad": tuple(problem.pad) if explicit else (), "dense": dense,
            "offset": offset, "step": tuple(step), "count": tuple(count), "freqs": freqs,
            "units": units, "unreached": _unreached(problem, received, pairs)}


def _unreached(problem: LayerProblem, received, pairs) -> tuple:
    """Per axis, the outputs that no (input sample, tap) pair reaches, or None if there are none.

    They are exact zeros of the direct sum (a window over padding only, or
    the gaps a stride leaves between a short kernel's taps in the
    transposed operation); the FFT would leave rounding noise of the whole
    plane there, so they are zeroed.
    """
    out = []
    for ax in range(problem.ndim):
        taps = np.arange(problem.kernel[ax]) * problem.dilation[ax]
        pos = np.arange(problem.out_shape[ax])
        s, n = problem.stride[ax], received[ax]
        if problem.transposed:       # output i gathers y[p] w[t] with p * s + t * d = i + start
            q = pos[:, None] + problem.start[ax] - taps[None, :]
            hit = ((q % s == 0) & (q >= 0) & (q < n * s)).any(axis=1)
        else:                        # output p reads x[p * s + t * d - left padding]
            q = pos[:, None] * s + taps[None, :] - pairs[ax][0]
            hit = ((q >= 0) & (q < n)).any(axis=1)
        out.append(None if hit.all() else np.flatnonzero(~hit))
    return tuple(out)


def _axis_work(extent, lengths, tiles, inverse=False) -> float:
    """``sum n log2 n`` of the 1-D transforms of one plane, axis by axis (a real one counts half).

    Forward: the last axis first, over the rows the data has (``extent``;
    a dilation changes no count, only where the rows lie); tiled axes are
    transformed at ``length / tile``.  Inverse: the leading axes first, each
    cropped to ``extent`` (the window) before the next.
    """
    nd = len(lengths)
    half = lengths[-1] // 2 + 1
    sizes = list(extent)
    total = 0.0

    def one(n, real):
        return (0.5 if real else 1.0) * n * math.log2(max(n, 2))

    if inverse:
        for ax in range(nd - 1):
            rows = math.prod(sizes[:ax]) * math.prod(lengths[ax + 1:-1]) * half
            total += rows * one(lengths[ax], False)
        return total + math.prod(sizes[:-1]) * one(lengths[-1], True)
    for ax in reversed(range(nd)):
        n = lengths[ax] // tiles[ax]
        if ax == nd - 1:
            total += math.prod(sizes[:-1]) * one(n, tiles[ax] == 1)
            sizes[ax] = half
        else:
            total += math.prod(sizes[:ax]) * math.prod(sizes[ax + 1:]) * one(n, False)
            sizes[ax] = lengths[ax]
    return total


def _dense_units(lengths) -> float:
    """:func:`_axis_work` of a dense plane: what ``nlogn(lengths)`` prices in ``fft_nlogn``."""
    return _axis_work(lengths, lengths, (1,) * len(lengths))


def _piece(problem: LayerProblem, freqs: int) -> int:
    """Images per piece: their input and output spectra within :data:`PIECE_BYTES`."""
    per_image = (problem.channels + problem.out_channels) * freqs * 2 * problem.dtype.itemsize
    return max(1, min(problem.batch, PIECE_BYTES // max(per_image, 1)))


def _fft_threads(problem: LayerProblem, workers: int) -> int:
    """Threads of the transforms: pocketfft splits a batch of them, worth it for enough elements."""
    plan = _plan(problem)
    planes = problem.batch * (problem.channels + problem.out_channels)
    return workers if planes * math.prod(plan["lengths"]) >= FFT_PARALLEL_MIN else 1


def _contract_threads(problem: LayerProblem, workers: int) -> int:
    """Threads of the channel sums: one below Numba's launch break-even."""
    # a complex multiply-add is four real ones on items of the real dtype
    return workers if parallel_pays(4 * _cmacs(problem), problem.dtype.itemsize) else 1


def _cmacs(problem: LayerProblem) -> float:
    """Complex multiply-adds of the channel sums in the spectrum."""
    cg = problem.channels // problem.groups
    return float(problem.batch) * problem.out_channels * cg * _plan(problem)["freqs"]


# ---------------------------------------------------------------- cost

def cost(problem: LayerProblem, workers=None) -> float:
    """Predicted seconds: the planes' transforms, the channel sums per frequency, the copy out.

    Each plane's 1-D transforms are counted axis by axis (:func:`_axis_work`)
    and priced as that share of a dense ``rfftn`` of the transform shape
    (``fft_nlogn``, ``fft_nd_factor``, as :mod:`cpu_fft` prices it).  The
    channel sums cost ``fft_cmac`` per complex multiply-add whatever the
    threads: they stream the weight's spectra (each value serves one
    multiply-add per image), so memory, not the thread count, sets their pace.
    """
    c = coef.coefficients()
    lay = c["layer"]
    workers = resolve_workers(workers)
    plan = _plan(problem)
    lengths = plan["lengths"]
    ux, uw, uy = plan["units"]
    cg = problem.channels // problem.groups
    n_in = problem.batch * problem.channels
    n_w = problem.out_channels * cg
    n_out = problem.batch * problem.out_channels
    units = n_in * ux + n_w * uw + n_out * uy
    nd = c["fft_nd_factor"] if len(lengths) > 1 else 1.0
    fft = (units / _dense_units(lengths) * coef.nlogn(lengths) * nd
           * c["fft_nlogn"][coef.fft_key(problem.dtype)]
           / coef.effective_threads(_fft_threads(problem, workers)))
    contract = _cmacs(problem) * lay["fft_cmac"][coef.direct_key(problem.dtype)]
    moved = n_out * math.prod(problem.out_shape) * problem.dtype.itemsize
    return (lay["overhead"] + c["fft_overhead"] + fft + contract
            + moved * lay["copy_byte"])


def memory(problem: LayerProblem, workers=None) -> int:
    """Predicted peak bytes of :func:`run`.

    The output, the weight's spectra (and the transform before them), and
    one piece of images' input and output spectra with their inverse
    transforms' intermediates (pieces keep these under :data:`PIECE_BYTES`).
    """
    item = problem.dtype.itemsize
    plan = _plan(problem)
    lengths, freqs = plan["lengths"], plan["freqs"]
    csize = 2 * item
    cg = problem.channels // problem.groups
    outputs = problem.batch * problem.out_channels * math.prod(problem.out_shape)
    padded = problem.batch * problem.channels * math.prod(problem.shape) if plan["pad"] else 0
    dilated = math.prod(d * (k - 1) + 1 for d, k in zip(problem.dilation, problem.kernel))
    weight = problem.out_channels * cg * (2 * freqs * csize + dilated * item)
    piece = _piece(problem, freqs)
    spectra = piece * (problem.channels + problem.out_channels) * freqs * csize
    inverse = piece * problem.out_channels * (freqs * csize + math.prod(lengths) * item)
    return int((outputs + padded) * item + weight + 2 * spectra + inverse)


def describe(problem: LayerProblem, workers=None) -> str:
    """One line for :func:`numbaconv.nn.explain`: the transforms and the channel products."""
    plan = _plan(problem)
    shape = "x".join(map(str, plan["lengths"]))
    cg = problem.channels // problem.groups
    planes = (problem.batch * problem.channels + problem.out_channels * cg
              + problem.batch * problem.out_channels)
    waste = math.prod(plan["step"])
    note = f", stride by slicing ({waste}x the outputs computed)" if waste > 1 else ""
    if problem.transposed and math.prod(plan["tiles"]) > 1:
        note = ", the strided input's spectrum tiled"
    return (f"{planes} real transforms of {shape}, {problem.batch * problem.out_channels * cg} "
            f"channel products of {plan['freqs']} frequencies{note}")


# ---------------------------------------------------------------- run

def run(problem: LayerProblem, x, w, *, workers=None):
    """Correlate ``x`` (padded as ``problem`` says) with ``w``, or apply the transposed operation.

    Parameters
    ----------
    problem : numbaconv._problem.LayerProblem
        The call.
    x : ndarray
        ``(N, C, *spatial)`` in ``problem.dtype``: forward, the input before
        ``problem.pad`` (``problem.shape`` once padded); transposed,
        ``problem.shape``.
    w : ndarray
        Forward ``(O, C / groups, *kernel)``; transposed ``(C, O / groups, *kernel)``.
    workers : int, optional
        Threads of the transforms and of the channel sums.

    Returns
    -------
    ndarray
        ``(N, O, *problem.out_shape)`` in ``problem.dtype``, C-contiguous.
    """
    workers = resolve_workers(workers)
    plan = _plan(problem)
    nd = problem.ndim
    out = np.empty((problem.batch, problem.out_channels) + tuple(problem.out_shape),
                   dtype=problem.dtype)
    if out.size == 0 or x.size == 0:
        out[...] = 0
        return out
    if plan["pad"]:
        x = padding.pad(x, plan["pad"], problem.padding_mode)
    fft_threads = _fft_threads(problem, workers)
    spec_w = _spectrum(_convolution_weight(problem, w), plan["lengths"], (1,) * nd,
                       problem.dilation, fft_threads)
    threads = _contract_threads(problem, workers)
    step = _piece(problem, plan["freqs"])
    for lo in range(0, problem.batch, step):
        hi = min(problem.batch, lo + step)
        if plan["dense"]:
            spec_x = sp_fft.rfftn(x[lo:hi], plan["lengths"], axes=tuple(range(2, 2 + nd)),
                                  workers=fft_threads)
        else:
            spec_x = _spectrum(x[lo:hi], plan["lengths"], plan["tiles"], None, fft_threads)
        spec_y = _contract(spec_x, spec_w, problem.groups, threads)
        del spec_x
        out[lo:hi] = _window(spec_y, plan, fft_threads)
    for ax, where in enumerate(plan["unreached"]):
        if where is not None:
            index = [slice(None)] * out.ndim
            index[2 + ax] = where
            out[tuple(index)] = 0
    return out


def _convolution_weight(problem: LayerProblem, w):
    """Return the weight as ``(O, C / groups, *kernel)`` to *convolve* with (views where possible).

    Forward: ``w`` flipped (correlation is convolution with the flipped
    kernel).  Transposed: ``(C, O / groups)`` regrouped to ``(O, C / groups)``.
    """
    w = np.asarray(w, dtype=problem.dtype)
    nd = problem.ndim
    if not problem.transposed:
        return w[(slice(None), slice(None)) + (slice(None, None, -1),) * nd]
    g = problem.groups
    cg, og = problem.channels // g, problem.out_channels // g
    grouped = w.reshape((g, cg, og) + tuple(problem.kernel)).swapaxes(1, 2)
    return grouped.reshape((problem.out_channels, cg) + tuple(problem.kernel))


def _dilate(a, axis: int, d: int):
    """Return ``a`` with ``d - 1`` zeros inserted between its elements along ``axis``."""
    if d == 1:
        return a
    shape = list(a.shape)
    shape[axis] = d * (shape[axis] - 1) + 1
    out = np.zeros(shape, dtype=a.dtype)
    index = [slice(None)] * a.ndim
    index[axis] = slice(None, None, d)
    out[tuple(index)] = a
    return out


def _spectrum(a, lengths, tiles, dilation, workers):
    """Real-to-complex transform of the trailing ``len(lengths)`` axes of ``a``, axis by axis.

    ``tiles[i] > 1``: the spectrum of ``a`` spread by ``tiles[i]`` along that
    axis (``lengths[i]`` is a multiple of it).  ``dilation``: the spectrum of
    ``a`` dilated by zero insertion.
    """
    nd = len(lengths)
    first = a.ndim - nd
    for i in reversed(range(nd)):
        ax = first + i
        if dilation is not None:
            a = _dilate(a, ax, dilation[i])
        length, t = lengths[i], tiles[i]
        m = length // t
        if i == nd - 1 and t == 1:
            a = sp_fft.rfft(a, n=m, axis=ax, workers=workers)
            continue
        owned = i != nd - 1
        a = sp_fft.fft(a, n=m, axis=ax, workers=workers, overwrite_x=owned)
        if t > 1:           # a spread input's spectrum repeats with period m
            keep = length // 2 + 1 if i == nd - 1 else length
            a = np.take(a, np.arange(keep) % m, axis=ax)
    return a


def _window(spec, plan, workers):
    """Inverse transform of ``spec`` (``(n, O, *freqs)``) and the window the plan keeps."""
    nd = len(plan["lengths"])
    for i in range(nd - 1):
        ax = 2 + i
        spec = sp_fft.ifft(spec, n=plan["lengths"][i], axis=ax, workers=workers,
                           overwrite_x=True)
        spec = _crop(spec, ax, plan, i)
    real = sp_fft.irfft(spec, n=plan["lengths"][-1], axis=-1, workers=workers)
    return _crop(real, real.ndim - 1, plan, nd - 1)


def _crop(a, axis, plan, i):
    """Return the plan's window of axis ``i`` of the circular result ``a`` (along ``axis``)."""
    lo, s, n = plan["offset"][i], plan["step"][i], plan["count"][i]
    if lo < 0:              # the window starts in the zeros at the end of the period
        return np.take(a, (lo + s * np.arange(n)) % a.shape[axis], axis=axis)
    index = [slice(None)] * a.ndim
    index[axis] = slice(lo, lo + (n - 1) * s + 1, s)
    return a[tuple(index)]


# ---------------------------------------------------------------- the channel sums

def _contract(spec_x, spec_w, groups, threads):
    """``Y[n, o, f] = sum_c X[n, group(o) c, f] W[o, c, f]`` over flattened frequencies."""
    batch, channels = spec_x.shape[:2]
    out_channels = spec_w.shape[0]
    fshape = spec_x.shape[2:]
    nf = math.prod(fshape)
    xs = np.ascontiguousarray(spec_x).reshape(batch, channels, nf)
    ws = np.ascontiguousarray(spec_w).reshape(out_channels, spec_w.shape[1], nf)
    out = np.empty((batch, out_channels, nf), dtype=xs.dtype)
    tile = max(16, min(1024, TILE_BYTES // (xs.itemsize * batch)))
    run_items(_contract_tile, (xs, ws, groups, out, tile), -(-nf // tile), threads)
    return out.reshape((batch, out_channels) + fshape)


@jit
def _contract_tile(x, w, groups, out, tile, t):
    """Frequency tile ``t`` of :func:`_contract`: the weight's spectra (the largest operand)
    are read once, each row used for every image of the piece.

    Flat unsigned offsets and plain loops: slice assignments compiled for
    seconds, and a signed index is tested for wraparound on every element.
    """
    batch, channels, nf = x.shape
    out_channels, cg = w.shape[0], w.shape[1]
    og = out_channels // groups
    f0 = t * tile
    n_f = min(nf, f0 + tile) - f0
    xf = x.reshape(-1)
    wf = w.reshape(-1)
    of = out.reshape(-1)
    acc = np.empty(batch * n_f, dtype=x.dtype)
    for o in range(out_channels):
        c0 = (o // og) * cg
        for i in range(batch * n_f):
            acc[np.uint64(i)] = 0
        for c in range(cg):
            wb = (o * cg + c) * nf + f0
            for n in range(batch):
                xb = (n * channels + c0 + c) * nf + f0
                ab = n * n_f
                for f in range(n_f):
                    acc[np.uint64(ab + f)] += xf[np.uint64(xb + f)] * wf[np.uint64(wb + f)]
        for n in range(batch):
            ob = (n * out_channels + o) * nf + f0
            ab = n * n_f
            for f in range(n_f):
                of[np.uint64(ob + f)] = acc[np.uint64(ab + f)]
