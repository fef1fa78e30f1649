"""Register-resident accumulator blocks for the direct kernels.

A direct correlation is fastest when a block of contiguous outputs stays in
vector registers while every kernel tap is added to it::

    acc = 0                                  # W outputs, in registers
    for each tap (p, q):
        acc += k[p, q] * a[y + p, c + q : c + q + W]   # 1 load, 1 FMA per vector
    out[y, c : c + W] = acc                  # one store per block

Numba cannot express that directly: a scalar accumulator per lane would need
LLVM's SLP vectoriser, which Numba disables (``NUMBA_SLP_VECTORIZE=0`` since
numba#8705), and an accumulator held in an array is reloaded and stored on
every tap because LLVM cannot prove that it does not alias the input.
:func:`_block_ops` makes intrinsics that emit the vector IR themselves, for
blocks of any byte width (full blocks of :data:`BLOCK_BYTES`, quarter
blocks, single vectors of :data:`VEC_BYTES`, which the direct kernels'
``_taps`` names one by one); at full width:

* :func:`block_zeros` allocates the accumulator on the stack (an ``alloca``
  of one LLVM vector, which SROA promotes to registers),
* :func:`fma_at` adds ``kj * src[start : start + W]`` to it as one
  ``llvm.fmuladd`` on ``<W x T>`` (``mul`` + ``add`` for integers), and
* :func:`store_at` writes it to ``dst[start : start + W]`` (and the ``load``
  of the same factory fills a block from ``src[start : start + W]``).

``W`` is :data:`BLOCK_BYTES` of accumulator (16 zmm registers on AVX-512,
8 ymm on AVX2: enough independent FMA chains to hide the FMA latency while
leaving registers for the loads; LLVM splits the vector to the target's
width).  Only real floats and 64-bit
integers have blocks; complex types use the array kernels.

Callers guarantee ``start >= 0`` and ``start + W <= len`` for every access:
there is no bounds check.
"""
from __future__ import annotations

import functools
import platform

import numpy as np
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

from .. import _cache_guard
from .._jit import target

#: the instruction-set class the kernels are built for (:func:`numbaconv._jit.target`:
#: Numba's compilation target, which ``NUMBACONV_ISA`` may narrow)
ISA = target().isa


def _block_bytes(isa: str) -> int:
    """Accumulator bytes per block: half the vector register file of the class.

    AVX-512 (32 zmm): 16 registers of 64 bytes, leaving 16 for loads and the
    broadcast tap (4-10% faster than 8 registers on Zen 4); AVX2 (16 ymm): 8
    registers of 32 bytes; anything else: 256 bytes, which LLVM splits to what
    it has.
    """
    return 1024 if isa == "avx512" else 256


#: accumulator bytes per block (read when a kernel is compiled)
BLOCK_BYTES = _block_bytes(ISA)

#: bytes of a cache line (the step of software prefetches)
LINE_BYTES = 64

#: bytes of one vector register (AVX-512: 64; otherwise 32, what AVX2 has)
VEC_BYTES = 64 if ISA == "avx512" else 32

# cached kernels are keyed on the sizes too: code built for other blocks never loads
_cache_guard.LAYOUT = ("blocks", BLOCK_BYTES, VEC_BYTES)


@functools.lru_cache(maxsize=None)
def lanes(dtype, nbytes=None) -> int:
    """Elements of ``dtype`` in a block of ``nbytes`` (default :data:`BLOCK_BYTES`;
    :data:`VEC_BYTES`: one vector register), or 0 when blocks are not supported."""
    dtype = np.dtype(dtype)
    if dtype.kind == "f" and dtype.itemsize in (4, 8) or dtype == np.int64:
        return (nbytes or BLOCK_BYTES) // dtype.itemsize
    return 0


def blockable(ty) -> bool:
    return isinstance(ty, types.Float) or (isinstance(ty, types.Integer) and ty.bitwidth == 64)


def _block_args(acc, arr, start) -> bool:
    """Typing check: a block, a contiguous 1-D array of its dtype, an integer start."""
    return (isinstance(acc, types.Array) and isinstance(arr, types.Array)
            and blockable(acc.dtype) and arr.dtype == acc.dtype and arr.ndim == 1
            and arr.layout == "C" and isinstance(start, types.Integer))


def _vector_type(context, dtype, nbytes):
    elem = context.get_value_type(dtype)
    return elem, ir.VectorType(elem, nbytes * 8 // dtype.bitwidth)


def _vector_ptr(context, builder, arrty, arr, start, vty):
    """Pointer to ``arr[start]`` seen as a ``<W x T>`` (1-D contiguous ``arr``)."""
    ary = context.make_array(arrty)(context, builder, arr)
    elem_ptr = builder.gep(ary.data, [start])
    return builder.bitcast(elem_ptr, vty.as_pointer())


def _block_and_array(context, builder, sig, args, dtype, nbytes):
    """Codegen prologue of the block/array intrinsics ``(block, ..., array, start)``:
    ``(vector type, element alignment, block pointer, pointer to array[start])``."""
    blk_v, arr_v, start_v = args[0], args[-2], args[-1]
    elem, vty = _vector_type(context, dtype, nbytes)
    start_v = context.cast(builder, start_v, sig.args[-1], types.intp)
    p_blk = _vector_ptr(context, builder, sig.args[0], blk_v,
                        context.get_constant(types.intp, 0), vty)
    p_arr = _vector_ptr(context, builder, sig.args[-2], arr_v, start_v, vty)
    return vty, context.get_abi_sizeof(elem), p_blk, p_arr


def _mul_add(builder, dtype, vty, k, x, a):
    """``k * x + a`` on vectors of ``vty``: ``llvm.fmuladd`` for floats, ``mul`` + ``add`` else."""
    if isinstance(dtype, types.Float):
        name = "llvm.fmuladd.v%d%s" % (vty.count, "f32" if dtype.bitwidth == 32 else "f64")
        fn = cgutils.get_or_insert_function(builder.module, ir.FunctionType(vty, [vty] * 3),
                                            name)
        return builder.call(fn, [k, x, a])
    return builder.add(a, builder.mul(k, x))


def _block_ops(nbytes: int):
    """``(zeros, fma, store, load, add)`` intrinsics for blocks of ``nbytes`` bytes."""

    @intrinsic
    def zeros(typingctx, like):
        if not isinstance(like, types.Array) or not blockable(like.dtype):
            return None
        dtype = like.dtype
        arrty = types.Array(dtype, 1, "C")

        def codegen(context, builder, sig, args):
            elem, vty = _vector_type(context, dtype, nbytes)
            ptr = cgutils.alloca_once(builder, vty)
            builder.store(ir.Constant(vty, None), ptr)
            ary = context.make_array(arrty)(context, builder)
            itemsize = context.get_abi_sizeof(elem)

            def intp(v):
                return context.get_constant(types.intp, v)

            context.populate_array(
                ary, data=builder.bitcast(ptr, elem.as_pointer()),
                shape=cgutils.pack_array(builder, [intp(vty.count)]),
                strides=cgutils.pack_array(builder, [intp(itemsize)]),
                itemsize=intp(itemsize), meminfo=None)
            return ary._getvalue()

        return arrty(like), codegen

    @intrinsic
    def fma(typingctx, acc, kj, src, start):
        if not _block_args(acc, src, start):
            return None
        dtype = acc.dtype

        def codegen(context, builder, sig, args):
            vty, align, pa, ps = _block_and_array(context, builder, sig, args, dtype, nbytes)
            kj_v = args[1]
            a = builder.load(pa, align=align)
            s = builder.load(ps, align=align)
            kv = context.cast(builder, kj_v, sig.args[1], dtype)
            kb = builder.insert_element(ir.Constant(vty, None), kv,
                                        ir.Constant(ir.IntType(32), 0))
            kb = builder.shuffle_vector(kb, ir.Constant(vty, None),
                                        ir.Constant(ir.VectorType(ir.IntType(32), vty.count),
                                                    [0] * vty.count))
            builder.store(_mul_add(builder, dtype, vty, kb, s, a), pa, align=align)
            return context.get_dummy_value()

        return types.void(acc, kj, src, start), codegen

    def _move(direction):
        """Intrinsic copying one ``nbytes`` vector between a block and ``arr[start:]``:
        ``"store"`` into the array, ``"load"`` out of it into the block."""

        @intrinsic
        def move(typingctx, blk, arr, start):
            if not _block_args(blk, arr, start):
                return None
            dtype = blk.dtype

            def codegen(context, builder, sig, args):
                _, align, p_blk, p_arr = _block_and_array(context, builder, sig, args, dtype,
                                                          nbytes)
                if direction == "load":
                    builder.store(builder.load(p_arr, align=align), p_blk, align=align)
                    return context.get_dummy_value()
                builder.store(builder.load(p_blk, align=align), p_arr, align=align)
                return context.get_dummy_value()

            return types.void(blk, arr, start), codegen

        return move

    store, load = _move("store"), _move("load")

    @intrinsic
    def add(typingctx, acc, src, start):
        """``acc[:W] += src[start : start + W]`` as one ``fadd`` (the FP add pipes: LLVM
        does not turn ``fmuladd(1.0, x, y)`` into an add, which would take an FMA slot)."""
        if not _block_args(acc, src, start):
            return None
        dtype = acc.dtype

        def codegen(context, builder, sig, args):
            _, align, pa, ps = _block_and_array(context, builder, sig, args, dtype, nbytes)
            a = builder.load(pa, align=align)
            b = builder.load(ps, align=align)
            r = builder.fadd(a, b) if isinstance(dtype, types.Float) else builder.add(a, b)
            builder.store(r, pa, align=align)
            return context.get_dummy_value()

        return types.void(acc, src, start), codegen

    return zeros, fma, store, load, add


def _prefetch(write: int):
    @intrinsic
    def prefetch(typingctx, arr, start):
        if not (isinstance(arr, types.Array) and arr.ndim == 1
                and isinstance(start, types.Integer)):
            return None

        def codegen(context, builder, sig, args):
            arr_v, start_v = args
            start_v = context.cast(builder, start_v, sig.args[1], types.intp)
            ptr = _vector_ptr(context, builder, sig.args[0], arr_v, start_v, ir.IntType(8))
            i32 = ir.IntType(32)
            fn = cgutils.get_or_insert_function(
                builder.module, ir.FunctionType(ir.VoidType(), [ptr.type, i32, i32, i32]),
                "llvm.prefetch.p0i8")
            builder.call(fn, [ptr, ir.Constant(i32, write), ir.Constant(i32, 2),
                              ir.Constant(i32, 1)])
            return context.get_dummy_value()

        return types.void(arr, start), codegen

    return prefetch


#: ``prefetch_at(arr, start)``: a hint that ``arr[start]``'s cache line is read soon
#: (into L2; never faults, no bounds check); ``prefetch_write_at``: written soon (the
#: line arrives owned, so the store does not wait for it)
prefetch_at, prefetch_write_at = _prefetch(0), _prefetch(1)


#: outputs of at least this many bytes are written past the caches where a kernel can
#: (:func:`quarter_put_at`): a 64 MiB result cannot stay in them, and a store that
#: misses first reads the line it writes (the copy's read half again)
STREAM_MIN_BYTES = 16 << 20


@intrinsic
def quarter_put_at(typingctx, acc, dst, start, stream):
    """``dst[start : start + W]`` = a quarter block; with ``stream``, where ``dst[start]``
    lies on a 64-byte boundary, stored past the caches (non-temporal).

    Stores that miss the cache first read the line they write; these do not (a 4096²
    float32 copy on two threads: 4.7 ms with plain stores, 3.1 ms with these).  They are
    weakly ordered: a kernel that streams ends its work item with :func:`store_fence`.
    """
    if not (_block_args(acc, dst, start) and isinstance(stream, types.Boolean)):
        return None
    dtype = acc.dtype

    def codegen(context, builder, sig, args):
        _, align, p_blk, p_arr = _block_and_array(context, builder, types.void(*sig.args[:3]),
                                                  args[:3], dtype, BLOCK_BYTES // 4)
        value = builder.load(p_blk)
        i64 = ir.IntType(64)
        boundary = builder.icmp_unsigned(
            "==", builder.and_(builder.ptrtoint(p_arr, i64), ir.Constant(i64, 63)),
            ir.Constant(i64, 0))
        with builder.if_else(builder.and_(args[3], boundary)) as (streamed, plain):
            with streamed:
                store = builder.store(value, p_arr, align=64)
                store.set_metadata("nontemporal", builder.module.add_metadata(
                    [ir.Constant(ir.IntType(32), 1)]))
            with plain:
                builder.store(value, p_arr, align=align)
        return context.get_dummy_value()

    return types.void(acc, dst, start, stream), codegen


_X86 = platform.machine().lower() in ("x86_64", "amd64", "i686", "x86")


@intrinsic
def store_fence(typingctx):
    """Order every store before it, non-temporal ones included, before any after it
    (x86: ``sfence``, which the weakly ordered stores need; elsewhere a full fence)."""
    def codegen(context, builder, sig, args):
        if _X86:
            fn = cgutils.get_or_insert_function(
                builder.module, ir.FunctionType(ir.VoidType(), []), "llvm.x86.sse.sfence")
            builder.call(fn, [])
        else:
            builder.fence("seq_cst")
        return context.get_dummy_value()

    return types.void(), codegen


@intrinsic
def address_of(typingctx, arr):
    """The address of ``arr``'s first element (to find its 64-byte boundaries)."""
    if not isinstance(arr, types.Array):
        return None

    def codegen(context, builder, sig, args):
        ary = context.make_array(sig.args[0])(context, builder, args[0])
        return builder.ptrtoint(ary.data, context.get_value_type(types.intp))

    return types.intp(arr), codegen


@intrinsic
def tap_at(typingctx, arr, i):
    """``arr[i]`` of a 1-D contiguous array with no negative-index test (``0 <= i < len``).

    Numba's ``arr[i]`` for a signed ``i`` that LLVM cannot prove non-negative
    (``kf[k0 - kw + q]``) adds a test and a select per tap: in the direct
    kernels' tap loops that took 1.3-1.5x the loop's time.
    """
    if not (isinstance(arr, types.Array) and arr.ndim == 1 and arr.layout == "C"
            and isinstance(i, types.Integer)):
        return None

    def codegen(context, builder, sig, args):
        arr_v, i_v = args
        i_v = context.cast(builder, i_v, sig.args[1], types.intp)
        ary = context.make_array(sig.args[0])(context, builder, arr_v)
        return builder.load(builder.gep(ary.data, [i_v]))

    return arr.dtype(arr, i), codegen


def _borrowed_view(context, builder, arrty, arr, first, size):
    """A 1-D C view of ``size`` elements of the C-contiguous ``arr`` from flat index
    ``first``, with no memory info (see :func:`flat`)."""
    resty = types.Array(arrty.dtype, 1, "C")
    src = context.make_array(arrty)(context, builder, arr)
    dst = context.make_array(resty)(context, builder)
    itemsize = context.get_constant(types.intp,
                                    context.get_abi_sizeof(context.get_data_type(arrty.dtype)))
    context.populate_array(dst, data=builder.gep(src.data, [first]),
                           shape=cgutils.pack_array(builder, [size]),
                           strides=cgutils.pack_array(builder, [itemsize]),
                           itemsize=itemsize, meminfo=None)
    return dst._getvalue()


@intrinsic
def flat(typingctx, arr):
    """``arr.reshape(-1)`` of a C-contiguous array, as a borrowed view with no reference count.

    Numba's ``reshape`` (and a row view ``arr[r]``) takes a reference on the
    array's memory -- an atomic add, which every thread running a work item
    of the same call contends for -- and calls a C helper: 120-140 ns a work
    item with the three flat views a direct kernel took, several times the
    work of an item of a small image.  This view has no memory info, so it
    costs nothing to make or drop; like the register blocks, it is valid only
    while ``arr`` is, so it must never be returned or stored.
    """
    if not (isinstance(arr, types.Array) and arr.layout == "C"):
        return None

    def codegen(context, builder, sig, args):
        src = context.make_array(sig.args[0])(context, builder, args[0])
        size = context.get_constant(types.intp, 1)
        for extent in cgutils.unpack_tuple(builder, src.shape):
            size = builder.mul(size, extent)
        return _borrowed_view(context, builder, sig.args[0], args[0],
                              context.get_constant(types.intp, 0), size)

    return types.Array(arr.dtype, 1, "C")(arr), codegen


@intrinsic
def row(typingctx, arr, r):
    """``arr[r]`` of a C-contiguous 2-D array as a borrowed view (see :func:`flat`;
    ``0 <= r < len(arr)``, not checked)."""
    if not (isinstance(arr, types.Array) and arr.layout == "C" and arr.ndim == 2
            and isinstance(r, types.Integer)):
        return None

    def codegen(context, builder, sig, args):
        src = context.make_array(sig.args[0])(context, builder, args[0])
        width = cgutils.unpack_tuple(builder, src.shape)[1]
        r_v = context.cast(builder, args[1], sig.args[1], types.intp)
        return _borrowed_view(context, builder, sig.args[0], args[0], builder.mul(r_v, width),
                              width)

    return types.Array(arr.dtype, 1, "C")(arr, r), codegen


#: full blocks (:data:`BLOCK_BYTES`): ``block_zeros(like)`` is a zeroed stack
#: block of ``W`` elements of ``like``'s dtype (a 1-D array);
#: ``fma_at(acc, kj, src, start)`` does ``acc[:W] += kj * src[start : start + W]``
#: as one vector operation; ``store_at(acc, dst, start)`` does
#: ``dst[start : start + W] = acc[:W]``; ``block_load_at(acc, src, start)`` the reverse
block_zeros, fma_at, store_at, block_load_at, _ = _block_ops(BLOCK_BYTES)

#: quarter blocks (``W / 4`` elements), for kernels that keep four blocks in
#: registers at once (the separable column pass: four output rows per load)
quarter_zeros, quarter_fma_at, quarter_store_at, quarter_load_at, _ = _block_ops(BLOCK_BYTES // 4)

#: pair blocks (two vector registers on AVX-512, one on AVX2: ``W / 8`` elements), for
#: kernels that keep a dozen blocks in registers (the folded separable column pass);
#: ``pair_add_at(acc, src, start)`` does ``acc[:W] += src[start : start + W]``
pair_zeros, pair_fma_at, pair_store_at, pair_load_at, pair_add_at = _block_ops(BLOCK_BYTES // 8)

#: single vectors, for kernels that name each register: ``vec_load_at(blk, src,
#: start)`` does ``blk[:L] = src[start : start + L]`` (``L = VEC_BYTES / itemsize``)
vec_zeros, vec_fma_at, vec_store_at, vec_load_at, _ = _block_ops(VEC_BYTES)

#: half vectors (``L / 2`` elements), for a row's last few columns: on Zen 4 a 512-bit
#: multiply-add takes both halves of the FMA units, a 256-bit one only one
half_zeros, half_fma_at, half_store_at, half_load_at, _ = _block_ops(VEC_BYTES // 2)


@intrinsic
def vec_transpose_at(typingctx, src, s0, sstep, dst, d0, dstep):
    """``dst[d0 + j dstep + i] = src[s0 + i sstep + j]`` for ``i, j < L``: ``L`` vectors loaded,
    transposed in registers and stored (``L = VEC_BYTES / itemsize``).

    Stage ``b`` (1, 2, 4, ... ``L / 2``) swaps bit ``b`` of the row index with bit
    ``b`` of the column index, one two-source shuffle a vector: ``L log2(L)``
    shuffles for ``L * L`` elements, where element moves take a load and a store
    each.
    """
    if not (isinstance(src, types.Array) and isinstance(dst, types.Array)
            and src.dtype == dst.dtype and blockable(src.dtype) and src.ndim == dst.ndim == 1
            and src.layout == dst.layout == "C"
            and all(isinstance(t, types.Integer) for t in (s0, sstep, d0, dstep))):
        return None
    dtype = src.dtype

    def codegen(context, builder, sig, args):
        src_v, s0_v, ss_v, dst_v, d0_v, ds_v = args
        elem, vty = _vector_type(context, dtype, VEC_BYTES)
        n = vty.count
        align = context.get_abi_sizeof(elem)

        def at(arr_t, arr_v, first, step, i, sig_first, sig_step):
            first = context.cast(builder, first, sig_first, types.intp)
            step = context.cast(builder, step, sig_step, types.intp)
            start = builder.add(first, builder.mul(step, context.get_constant(types.intp, i)))
            return _vector_ptr(context, builder, arr_t, arr_v, start, vty)

        rows = [builder.load(at(sig.args[0], src_v, s0_v, ss_v, i, sig.args[1], sig.args[2]),
                             align=align) for i in range(n)]
        i32 = ir.IntType(32)
        b = 1
        while b < n:
            lo = [k if not k & b else n + k - b for k in range(n)]
            hi = [k + b if not k & b else n + k for k in range(n)]
            for r0 in range(n):
                if r0 & b:
                    continue
                r1 = r0 | b
                v0, v1 = rows[r0], rows[r1]
                rows[r0] = builder.shuffle_vector(v0, v1, ir.Constant(ir.VectorType(i32, n), lo))
                rows[r1] = builder.shuffle_vector(v0, v1, ir.Constant(ir.VectorType(i32, n), hi))
            b *= 2
        for j in range(n):
            builder.store(rows[j], at(sig.args[3], dst_v, d0_v, ds_v, j, sig.args[4], sig.args[5]),
                          align=align)
        return context.get_dummy_value()

    return types.void(src, s0, sstep, dst, d0, dstep), codegen


@intrinsic
def vec_fma_pair_at(typingctx, acc, w, wstart, src, start):
    """``acc[:L] += w[wstart : wstart + L] * src[start : start + L]`` (one vector of each):
    a multiply-add whose factor differs per lane, for kernels whose lanes are channels."""
    if not (_block_args(acc, src, start) and _block_args(acc, w, wstart)):
        return None
    dtype = acc.dtype

    def codegen(context, builder, sig, args):
        acc_v, w_v, ws_v, src_v, s_v = args
        vty, align, pa, ps = _block_and_array(context, builder, sig.replace(
            args=(sig.args[0], sig.args[3], sig.args[4])), (acc_v, src_v, s_v), dtype,
            VEC_BYTES)
        ws_v = context.cast(builder, ws_v, sig.args[2], types.intp)
        pw = _vector_ptr(context, builder, sig.args[1], w_v, ws_v, vty)
        a = builder.load(pa, align=align)
        x = builder.load(ps, align=align)
        k = builder.load(pw, align=align)
        builder.store(_mul_add(builder, dtype, vty, k, x, a), pa, align=align)
        return context.get_dummy_value()

    return types.void(acc, w, wstart, src, start), codegen

