"""Convolution of Dask arrays: SciPy's modes and boundaries, numbaconv's dispatcher per chunk.

``numbaconv.dask.convolve(x, kernel)`` and :func:`correlate` take a
:class:`dask.array.Array` (of any rank) and a NumPy kernel of the same rank
and return a lazy Dask array equal to ``numbaconv.convolve(x.compute(),
kernel)`` -- the same shapes, 'same' centring (even kernels included), dtype
and values -- computed chunk by chunk, so that the signal, image or volume
never has to fit in memory.

How a chunk is computed
-----------------------
Every mode is a window of the full convolution, and every output needs the
``k`` input samples (per axis) below it.  Each chunk is extended by a halo
of ``D`` samples on both sides (:func:`dask.array.overlap.overlap`, which
also pads the whole array's edges with the boundary rule); each extended
block is cut to exactly the samples its outputs need and handed to
``numbaconv.convolve``/``correlate`` with ``mode='valid'`` and the
``method`` given, so that large kernels take the FFT or overlap-add inside
each chunk.  ``D`` is ``max(k // 2, samples of padding the mode needs)``:
``k // 2`` for 'same' and 'valid', ``k - 1`` for 'full'.  Dask's halos are
symmetric (asymmetric depths work only without a boundary rule), so even
kernels and 'full' take the larger depth and the block is trimmed.  Chunks
smaller than ``D`` are merged with their neighbours first
(:func:`dask.array.overlap.ensure_minimum_chunksize`).

The kernel is one key of the graph (:func:`dask.delayed`): each worker
receives it once, not once per task.

Boundaries
----------
``boundary`` is :func:`scipy.signal.convolve2d`'s, in every rank: the
samples beyond each edge of each axis are

* ``'fill'`` (or ``'pad'``): ``fillvalue`` (cast to the result dtype, as
  SciPy does) -- Dask's constant boundary;
* ``'wrap'`` (or ``'circular'``): the array continued periodically -- Dask's
  ``'periodic'``, which wraps the whole array, not each chunk;
* ``'symm'`` (or ``'symmetric'``): the array mirrored with its edge sample
  repeated (``d c b a | a b c d | d c b a``) -- Dask's ``'reflect'``.

In N-D the rule is applied per axis, exactly as :func:`numpy.pad` with
``'constant'``, ``'wrap'`` or ``'symmetric'`` does (corners included);
in 2-D this is ``convolve2d``'s result.  ``boundary='fill'`` with
``fillvalue=0`` is :func:`numbaconv.convolve`'s (and SciPy's) zero padding.
'valid' never reaches the boundary.  Where an axis is shorter than the halo
(a kernel longer than the array along it), that axis is kept in one chunk
and padded with :func:`numpy.pad` inside the task, which wraps and mirrors
more than once as SciPy does.

Chunks of the result
--------------------
'same' returns the input's chunks.  'full' and 'valid' keep the input's
chunk boundaries, shifted by the kernel's centre: inner chunks keep their
size; 'full' adds ``(k - 1) // 2`` samples to the first chunk and ``k // 2``
to the last, 'valid' takes ``k // 2`` from the first and ``(k - 1) // 2``
from the last (so a 'valid' edge chunk may be empty).  Chunks first merged
because they were smaller than the halo stay merged there.
When 'valid' swaps the inputs (the kernel is larger in every axis) the
result is one chunk per axis.

Memory
------
Dask orders an overlap graph so that it may read most input chunks before
the first output is stored (``dask_image`` alike); to bound the memory of a
result larger than RAM, store it a band of chunk rows at a time
(as ``examples/out_of_core.py`` does; docs/performance.md has its figures).

Install with ``pip install "numbaconv[dask]"``; ``import numbaconv`` does not
import Dask.
"""
from __future__ import annotations

import functools

import numpy as np

from ._arrays import result_type
from ._inputs import fill_value
from ._problem import check_boundary, check_mode, inputs_swap_needed

__all__ = ["convolve", "correlate"]

#: SciPy's boundary (canonical name) -> numpy.pad's mode, for axes padded inside a task
_NUMPY_PAD = {"fill": "constant", "wrap": "wrap", "symm": "symmetric"}
#: SciPy's boundary -> Dask's boundary (the constant is the fill value itself)
_DASK_BOUNDARY = {"wrap": "periodic", "symm": "reflect"}
#: Dask's and scipy.ndimage's names, and what to pass instead
_OTHER_NAMES = {"reflect": "'symm'", "periodic": "'wrap'", "constant": "'fill'",
                "nearest": None, "mirror": None, "none": None}


def _import_dask():
    try:
        import dask
        import dask.array as da
    except ImportError as exc:     # pragma: no cover - the extra is installed where tested
        raise ImportError("numbaconv.dask needs Dask: pip install 'numbaconv[dask]' "
                          "(dask[array] and distributed)") from exc
    return dask, da


def _check_boundary(boundary) -> str:
    """SciPy's canonical boundary name; a Dask or ndimage name gets a pointer to SciPy's."""
    if isinstance(boundary, str) and boundary in _OTHER_NAMES:
        hint = _OTHER_NAMES[boundary]
        fix = (f"use boundary={hint} (its scipy.signal.convolve2d name)" if hint else
               "no convolve2d boundary repeats or mirrors that way: use 'fill', 'wrap' or "
               "'symm', or pad the array yourself (dask.array.pad) and use mode='valid'")
        raise ValueError(f"Acceptable boundary flags are 'fill', 'circular' (or 'wrap'), and "
                         f"'symmetric' (or 'symm'), not boundary={boundary!r}; {fix}")
    return check_boundary(boundary)


def _kernel_array(kernel, dask):
    if dask.is_dask_collection(kernel):
        raise TypeError("kernel must be a NumPy array, not a Dask collection: it is sent whole "
                        "to every chunk; call kernel.compute() (or np.asarray(kernel)) first")
    return np.asarray(kernel)


def _axis_plan(n, k, mode, swapped, chunks):
    """Per axis: ``(depth, in_task, chunks, out_chunks, cuts)``.

    ``p_left``/``p_right`` are the samples beyond the array's edges that the
    requested window of the full result reads; output ``i`` reads input
    samples ``i - p_left .. i - p_left + k - 1``.  ``cuts[b]`` is the slice
    of block ``b`` (extended by ``depth`` on both sides) that its outputs read.
    """
    if mode == "full":
        p_left = p_right = k - 1
    elif mode == "same":
        p_left, p_right = k // 2, (k - 1) // 2
    elif swapped:                 # 'valid' with the kernel the larger: SciPy's window of 'full'
        p_left = p_right = k - n
    else:
        p_left = p_right = 0
    depth = max(p_left, p_right, k // 2)
    length = n + p_left + p_right - k + 1
    in_task = depth > n or swapped
    if in_task:
        chunks = (n,)
        bounds = [0, length]
    else:
        from dask.array.overlap import ensure_minimum_chunksize
        chunks = ensure_minimum_chunksize(depth, chunks) if depth else chunks
        shift = p_left - k // 2
        starts = np.cumsum((0,) + chunks[:-1])
        bounds = [0] + [int(a) + shift for a in starts[1:]] + [length]
    starts = np.cumsum((0,) + tuple(chunks[:-1]))
    cuts = tuple((bounds[b] - p_left - int(a) + depth, bounds[b + 1] - p_left + k - 1 - int(a) + depth)
                 for b, a in enumerate(starts))
    out_chunks = tuple(bounds[b + 1] - bounds[b] for b in range(len(chunks)))
    return depth, in_task, tuple(chunks), out_chunks, cuts


def _block(block, kernel, *, op, method, workers, cuts, out_chunks, pad, dtype, block_id=None):
    """One chunk of the result: the extended block cut to what it reads, correlated 'valid'."""
    shape = tuple(out_chunks[ax][b] for ax, b in enumerate(block_id))
    if 0 in shape:
        return np.empty(shape, dtype)
    if pad is not None:
        widths, mode, kwargs = pad
        block = np.pad(block, widths, mode=mode, **kwargs)
    piece = block[tuple(slice(*cuts[ax][b]) for ax, b in enumerate(block_id))]
    return op(piece, kernel, mode="valid", method=method, workers=workers)


def _conv_corr(name, x, kernel, mode, method, boundary, fillvalue, workers):
    dask, da = _import_dask()
    from . import _api
    op = getattr(_api, name)
    kernel = _kernel_array(kernel, dask)
    if not isinstance(x, da.Array):
        x = da.asarray(x)
    if x.ndim != kernel.ndim or x.ndim == 0:
        what = ("volume and kernel should have the same dimensionality" if name == "convolve"
                else "in1 and in2 should have the same dimensionality")
        raise ValueError(f"{what}: x has shape {x.shape} and kernel {kernel.shape}; give the "
                         "kernel as many dimensions as the array (e.g. kernel[np.newaxis]), "
                         "at least one")
    check_mode(mode, lookup=name == "correlate")
    boundary = _check_boundary(boundary)
    swapped = inputs_swap_needed(mode, x.shape, kernel.shape)
    if x.size == 0 or kernel.size == 0:
        raise ValueError(f"numbaconv.dask.{name} has no result for an empty input (x shape "
                         f"{x.shape}, kernel {kernel.shape}); check for empty arrays first")
    dtype = result_type(x.dtype, kernel.dtype)
    if mode == "valid":
        boundary, fillvalue = "fill", 0       # 'valid' never reads past the edges
    fill = fill_value(fillvalue, dtype) if boundary == "fill" else None
    # SciPy pads in the result dtype: an integer array filled with 0.5 must see 0.5
    x = x.astype(dtype) if x.dtype != dtype else x
    # the same call on one kernel-sized block: method, dtype and value errors now, not in a task
    probe = op(np.zeros(kernel.shape, dtype), kernel, mode="valid", method=method, workers=workers)

    plans = [_axis_plan(n, k, mode, swapped, c)
             for n, k, c in zip(x.shape, kernel.shape, x.chunks)]
    depths, in_task, chunks, out_chunks, cuts = (tuple(p[i] for p in plans) for i in range(5))
    source = x.rechunk(chunks)
    fill_np = None if fill is None else np.array(fill, dtype=np.int64 if dtype.kind in "iu"
                                                  else dtype).astype(dtype)
    dask_boundary = {ax: (fill_np if boundary == "fill" else _DASK_BOUNDARY[boundary])
                     for ax in range(x.ndim) if depths[ax] and not in_task[ax]}
    dask_depth = {ax: depths[ax] if ax in dask_boundary else 0 for ax in range(x.ndim)}
    if dask_boundary:
        source = da.overlap.overlap(source, depth=dask_depth,
                                    boundary={ax: dask_boundary.get(ax, "none")
                                              for ax in range(x.ndim)})
    pad = None
    if any(in_task):
        widths = tuple((d, d) if t else (0, 0) for d, t in zip(depths, in_task))
        kwargs = {"constant_values": fill_np} if boundary == "fill" else {}
        pad = (widths, _NUMPY_PAD[boundary], kwargs)
    block = functools.partial(_block, op=op, method=method, workers=workers, cuts=cuts,
                              out_chunks=out_chunks, pad=pad, dtype=dtype)
    out = da.map_blocks(block, source, dask.delayed(kernel, pure=True), chunks=out_chunks,
                        dtype=dtype, meta=probe[:0], token=f"numbaconv-{name}")
    if mode == "same" and out.chunks != x.chunks:
        out = out.rechunk(x.chunks)
    return out


def convolve(x, kernel, mode="same", method="auto", *, boundary="fill", fillvalue=0,
             workers=None):
    """Convolve a Dask array with a NumPy kernel, chunk by chunk.

    The result equals ``numbaconv.convolve(x.compute(), kernel, mode)``
    (with the default ``boundary='fill'``, ``fillvalue=0``) and
    ``scipy.signal.convolve2d(..., boundary=...)`` in 2-D, as a lazy Dask
    array: nothing is computed until it is (``.compute()``, ``.to_zarr()``,
    ``dask.array.store``), one chunk and its halo at a time.

    Parameters
    ----------
    x : dask.array.Array
        The signal, image or volume, of any rank (other array_likes are
        wrapped with :func:`dask.array.asarray`).
    kernel : array_like
        The kernel, a NumPy array of the same rank as ``x``; not a Dask
        array (it is sent whole to every chunk).
    mode : {'same', 'full', 'valid'}, optional
        SciPy's output sizes and alignment (default 'same', the filter's
        usual choice; SciPy's default is 'full').  'valid' swaps the inputs
        where SciPy does (the kernel larger in every axis).
    method : {'auto', 'direct', 'fft', 'oa', 'separable'}, optional
        Passed to :func:`numbaconv.convolve` for every chunk: 'auto' lets
        its dispatcher choose per chunk (direct for small kernels, FFT or
        overlap-add for large ones).
    boundary : {'fill', 'wrap', 'symm'}, optional
        What lies beyond the array's edges, per axis, as in
        :func:`scipy.signal.convolve2d` (aliases 'pad', 'circular',
        'symmetric' too): ``fillvalue``, the array wrapped around (Dask's
        'periodic'), or the array mirrored with the edge sample repeated
        (Dask's 'reflect').  Ignored by 'valid'.
    fillvalue : scalar, optional
        The value for ``boundary='fill'``, cast to the result dtype as SciPy
        casts it.
    workers : int, optional
        Threads per chunk for numbaconv's kernels (``None``: its default).
        Dask's scheduler already runs several chunks at once; ``workers=1``
        keeps threads from outnumbering the cores.

    Returns
    -------
    dask.array.Array
        The convolution, of dtype ``np.result_type(x, kernel)``.  'same'
        keeps ``x``'s chunks; see :mod:`numbaconv.dask` for 'full' and
        'valid'.

    Raises
    ------
    ValueError
        A kernel of another rank, an unknown mode or boundary (Dask's
        names point to SciPy's), empty inputs, 'valid' with neither input
        the larger, or what :func:`numbaconv.convolve` rejects (method,
        dtype).
    TypeError
        A Dask array as the kernel; a fill value that is not a number.

    Examples
    --------
    >>> import numpy as np, dask.array as da
    >>> import numbaconv.dask
    >>> x = da.arange(10.0, chunks=4)
    >>> y = numbaconv.dask.convolve(x, np.array([1.0, 2.0, 1.0]))
    >>> y.chunks
    ((4, 4, 2),)
    >>> y.compute()
    array([ 1.,  4.,  8., 12., 16., 20., 24., 28., 32., 26.])
    >>> numbaconv.dask.convolve(x, np.array([1.0, 2.0, 1.0]), boundary="symm").compute()[[0, -1]]
    array([ 1., 35.])
    >>> numbaconv.dask.convolve(x, np.ones(3), mode="full").chunks
    ((5, 4, 3),)
    """
    return _conv_corr("convolve", x, kernel, mode, method, boundary, fillvalue, workers)


def correlate(x, kernel, mode="same", method="auto", *, boundary="fill", fillvalue=0,
              workers=None):
    """Cross-correlate a Dask array with a NumPy kernel, chunk by chunk.

    The result equals ``numbaconv.correlate(x.compute(), kernel, mode)``
    (``scipy.signal.correlate``): the kernel is conjugated, and 'same' is
    centred as :func:`scipy.signal.correlate` centres it (for even kernels
    one sample away from :func:`scipy.signal.correlate2d`'s 'same').

    Parameters
    ----------
    x : dask.array.Array
        The signal, image or volume, of any rank.
    kernel : array_like
        A NumPy array of the same rank as ``x``.
    mode : {'same', 'full', 'valid'}, optional
        See :func:`convolve`.
    method : {'auto', 'direct', 'fft', 'oa', 'separable'}, optional
        Passed to :func:`numbaconv.correlate` for every chunk.
    boundary : {'fill', 'wrap', 'symm'}, optional
        See :func:`convolve`.
    fillvalue : scalar, optional
        See :func:`convolve`.
    workers : int, optional
        See :func:`convolve`.

    Returns
    -------
    dask.array.Array
        The cross-correlation, of dtype ``np.result_type(x, kernel)``.

    Raises
    ------
    ValueError
        See :func:`convolve`.
    TypeError
        See :func:`convolve`.

    Examples
    --------
    >>> import numpy as np, dask.array as da
    >>> import numbaconv.dask
    >>> x = da.from_array(np.arange(12.0).reshape(3, 4), chunks=2)
    >>> numbaconv.dask.correlate(x, np.array([[0.0, 0.0, 1.0]]), boundary="wrap").compute()
    array([[ 1.,  2.,  3.,  0.],
           [ 5.,  6.,  7.,  4.],
           [ 9., 10., 11.,  8.]])
    """
    return _conv_corr("correlate", x, kernel, mode, method, boundary, fillvalue, workers)
