"""Every CUDA kernel variant compiled to PTX for sm_80 and sm_90, without a GPU.

The simulator runs the kernels' Python; only NVVM shows what a real GPU
would get.  Each variant (dtype x kernel of ``cuda_direct``: the tile
kernel per kernel size, the generic one; ranks 1 to 3 through the 3-D
kernels; the layer kernels of ``cuda_layer``, one per dtype for every
rank, stride and padding; and the elementwise kernels of
``numbaconv._gpu``) is compiled with
numba-cuda's NVVM and must

* compile,
* hold no float64 instruction (``.f64``) when its arithmetic is single
  precision (a float64 constant in a float32 kernel costs 1/64 of the rate),
* use no local memory (``.local``, ``ld.local``/``st.local``: a per-thread
  array that stayed in memory instead of registers).

Run it where numba-cuda and its NVVM wheel are installed (``pip install
-e ".[cuda]"``), with the simulator off::

    NUMBA_ENABLE_CUDASIM=0 python -m pytest tests/test_cuda_ptx.py

It skips, saying why, where the simulator is on or NVVM is missing.
"""
from __future__ import annotations

import importlib.util
import os
import re

import numpy as np
import pytest

if os.environ.get("NUMBA_ENABLE_CUDASIM", "0") not in ("", "0"):
    pytest.skip("NUMBA_ENABLE_CUDASIM is set: the simulator compiles nothing "
                "(run NUMBA_ENABLE_CUDASIM=0 python -m pytest tests/test_cuda_ptx.py)",
                allow_module_level=True)
if importlib.util.find_spec("numba_cuda") is None:
    pytest.skip("the PTX check needs numba-cuda and its NVVM (pip install -e '.[cuda]')",
                allow_module_level=True)

import numba  # noqa: E402
from numba import cuda, types  # noqa: E402

try:
    from numba.cuda.cudadrv import nvvm  # noqa: E402
    nvvm.NVVM()
except Exception as exc:  # noqa: BLE001 -- no NVVM library: nothing to compile with
    pytest.skip(f"numba-cuda's NVVM is not loadable here ({exc})", allow_module_level=True)

from numbaconv import _gpu  # noqa: E402
from numbaconv._backends import cuda_direct, cuda_layer  # noqa: E402

CCS = ((8, 0), (9, 0))
#: the arithmetic dtypes of the direct kernel (``_kernels.layout.work_dtype``)
DIRECT_TYPES = ("float32", "float64", "complex64", "complex128", "int64")
SINGLE = ("float32", "complex64", "float16")


class _Device:
    def __init__(self, cc):
        self.compute_capability = cc


@pytest.fixture(scope="module", autouse=True)
def no_device_needed():
    """Device functions compile for the current device's cc: pretend one of the target's.

    (``compile_ptx`` itself takes ``cc``, but a device function called from
    a kernel asks the current context, which needs a driver.)
    """
    dispatcher = importlib.import_module(cuda.__name__ + ".dispatcher")
    with pytest.MonkeyPatch.context() as mp:
        state = {"cc": CCS[-1]}
        mp.setattr(dispatcher, "get_current_device", lambda: _Device(state["cc"]))
        yield state


def arr(dtype, ndim, layout="C"):
    return types.Array(numba.from_dtype(np.dtype(dtype)), ndim, layout)


def scalar(dtype):
    return numba.from_dtype(np.dtype(dtype))


#: kernel sizes of the direct variants: those of the tile kernel (compiled per
#: size) where the planner picks it, and the generic kernel (``None``)
DIRECT_SIZES = {"2d": [None, (3, 3), (5, 5), (7, 7), (8, 8)],
                "1d": [None, (1, 3), (1, 31), (1, 64)]}


def direct_shapes():
    """``shape -> (block, per)`` of the shipped launch shapes."""
    return {"2d": (tuple(cuda_direct.BLOCK), tuple(cuda_direct.PER_THREAD)),
            "1d": ((1, cuda_direct.BLOCK_1D), (1, cuda_direct.PER_THREAD_1D))}


def direct_variants():
    """(id, kernel, signature, single) of every cuda_direct variant the planner can choose.

    The boundary rule and the block shape are run-time arguments; the
    dtype, the outputs per thread and (tile kernel) the kernel size are not.
    """
    out = []
    out_shapes = {"2d": (1, 4096, 4096), "1d": (1, 1, 1 << 20)}
    for dtype in DIRECT_TYPES:
        dt = np.dtype(dtype)
        for shape, (block, per) in direct_shapes().items():
            for kfix in DIRECT_SIZES[shape]:
                k_shape = (1,) + (kfix or (99, 99) if shape == "2d" else kfix or (1, 999))
                chosen = cuda_direct.plan(out_shapes[shape], k_shape, dt.itemsize, dt.kind == "c")
                if chosen[3] != kfix:
                    continue                    # e.g. complex128 8x8: too many bytes to unroll
                kern, sig = cuda_direct.variant(dt, chosen[1], kfix)
                name = f"direct-{dtype}-{shape}-" + (
                    "generic" if kfix is None else "x".join(map(str, kfix)))
                out.append((name, kern, sig, dtype in SINGLE))
    return out


def elementwise_variants():
    """(id, kernel, signature, single) of the elementwise kernels of ``_gpu``."""
    out = []
    dtypes = ("float16", "float32", "float64", "complex64", "complex128", "int8", "int64",
              "uint8", "bool")
    for nd in (1, 2, 3):
        for conj in (False, True):
            for dtype in (("complex64", "complex128") if conj else dtypes):
                kern = _gpu.copy_kernel(nd, conj)
                sig = (arr(dtype, nd, "A"), arr(dtype, nd)) + (types.int64,) * nd
                out.append((f"copy{nd}{'-conj' if conj else ''}-{dtype}", kern, sig,
                            dtype in SINGLE))
    for dtype in dtypes:
        out.append((f"fill-{dtype}", _gpu.fill_kernel(), (arr(dtype, 1), scalar(dtype)),
                    dtype in SINGLE))
    for dtype in ("float32", "float64", "complex64", "complex128"):
        kern = _gpu.nonfinite_kernel(dtype[0] == "c")
        out.append((f"nonfinite-{dtype}", kern, (arr(dtype, 1), arr("int32", 1)),
                    dtype in SINGLE))
    for dtype in ("int64", "int8", "uint64"):
        out.append((f"absmax-{dtype}", _gpu.absmax_kernel(), (arr(dtype, 1), arr("float64", 1)),
                    False))
    for dtype in DIRECT_TYPES:
        out.append((f"multiply-{dtype}", _gpu.multiply_kernel(),
                    (arr(dtype, 3, "A"), arr(dtype, 3, "A"), arr(dtype, 3)), dtype in SINGLE))
    finals = [  # (op, src, dst, take_real, half dtype)
        ("cast", "float32", "float16", False, "float32"),
        ("cast", "complex128", "complex64", False, "float64"),
        ("cast", "int64", "float64", False, "int64"),
        ("int", "int64", "int8", False, "int64"),
        ("int", "int64", "uint16", False, "int64"),
        ("int", "int64", "int32", False, "int64"),
        ("round", "float64", "int16", False, "float64"),
        ("round", "float32", "int8", False, "float32"),
        ("round", "complex128", "int32", True, "float64"),
        ("round_nonzero", "float64", "bool", False, "float64"),
        ("nonzero", "int64", "bool", False, "int64"),
    ]
    for op, src, dst, take_real, half in finals:
        d = np.dtype(dst)
        bits = d.itemsize * 8 if d.kind in "iu" else 64
        kern = _gpu.finalize_kernel(op, take_real, bits, d.kind == "i")
        out.append((f"finalize-{op}-{src}-{dst}", kern,
                    (arr(src, 1), arr(dst, 1), scalar(half)),
                    src in SINGLE and half in SINGLE))
    return out


def layer_variants():
    """(id, kernel, signature, single) of every cuda_layer kernel (``numbaconv.nn`` on the GPU).

    Rank, stride, dilation, padding and padding mode are run-time
    arguments: one variant per compute dtype, and the cast kernel per
    (input dtype, compute dtype).
    """
    out = []
    for name in ("forward", "transposed", "weight_grad"):
        for dtype in ("float32", "float64"):
            kern, sig = cuda_layer.variant(name, dtype)
            out.append((f"layer-{name}-{dtype}", kern, sig, dtype in SINGLE))
    for src in ("float16", "float32", "float64"):
        for dtype in ("float32", "float64"):
            kern, sig = cuda_layer.variant("cast", dtype, src)
            out.append((f"layer-cast-{src}-{dtype}", kern, sig, src in SINGLE and dtype in SINGLE))
    return out


VARIANTS = direct_variants() + elementwise_variants() + layer_variants()


def ptx_of(kern, sig, cc):
    return cuda.compile_ptx(kern.py_func, sig, cc=cc)[0]


def instructions(ptx: str):
    """The instruction lines of a PTX text (no directives, labels, braces or comments)."""
    out = []
    for line in ptx.splitlines():
        line = line.split("//")[0].strip()
        if not line or line[0] in ".{}$)" or line.endswith(":"):
            continue
        out.append(line)
    return out


def per_multiply_add(ptx: str):
    """``(instructions, multiply-adds)`` of the basic blocks that hold multiply-adds.

    The inner loops of a correlation are the blocks with ``fma``/``mad``
    instructions; their instruction count per multiply-add is what each
    multiply-add costs in issue slots.
    """
    total = fmas = 0
    block = []

    def flush():
        nonlocal total, fmas
        n = sum(1 for ins in block if re.match(r"(fma|mad)\.", ins))
        if n:
            total += len(block)
            fmas += n
        block.clear()
    for line in ptx.splitlines():
        line = line.split("//")[0].strip()
        if line.startswith("$") and line.endswith(":"):
            flush()
            continue
        if not line or line[0] in ".{}$)":
            continue
        block.append(line)
        if line.startswith(("bra", "@")) and "bra" in line:
            flush()
    flush()
    return total, fmas


def test_variant_count():
    direct = [name for name, *_ in VARIANTS if name.startswith("direct-")]
    # every dtype has its generic kernels and an unrolled 3x3
    assert len(direct) >= len(DIRECT_TYPES) * 3, direct
    for dtype in DIRECT_TYPES:
        for size in ("2d-generic", "1d-generic", "2d-3x3"):
            assert f"direct-{dtype}-{size}" in direct
    assert len({name for name, *_ in VARIANTS}) == len(VARIANTS)


@pytest.mark.parametrize("cc", CCS, ids=lambda cc: f"sm_{cc[0]}{cc[1]}")
@pytest.mark.parametrize("variant", VARIANTS, ids=lambda v: v[0])
def test_kernel_compiles_to_clean_ptx(no_device_needed, variant, cc):
    name, kern, sig, single = variant
    no_device_needed["cc"] = cc
    ptx = ptx_of(kern, sig, cc)
    assert f".target sm_{cc[0]}{cc[1]}" in ptx
    body = instructions(ptx)
    local = [ins for ins in body if ".local" in ins] + \
        [line.strip() for line in ptx.splitlines() if line.strip().startswith(".local")]
    assert not local, f"{name}: local memory in the PTX: {local[:4]}"
    if single:
        f64 = [ins for ins in body if ".f64" in ins]
        assert not f64, f"{name}: float64 instructions in a single-precision kernel: {f64[:4]}"
