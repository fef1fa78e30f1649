"""GPU backends against scipy.signal: in Numba's CUDA simulator, or on a real GPU.

Without a CUDA driver the module switches on ``NUMBA_ENABLE_CUDASIM`` before
``numba.cuda`` is first imported (tests/conftest.py may do it earlier), and
shrinks the block shapes so that tiny inputs still span several blocks and
end in ragged tails.  The simulator runs one Python thread per CUDA thread:
every shape here is tiny.  On a real GPU the same tests run unchanged (plus
one with the default block shapes).
"""
from __future__ import annotations

import os
import sys

if "numba.cuda" not in sys.modules and "NUMBA_ENABLE_CUDASIM" not in os.environ:
    # run without the root conftest: make the same choice it makes
    from numbaconv import _driver  # noqa: E402  (imports numba; numba.cuda comes later)
    if not _driver.driver_present():
        os.environ["NUMBA_ENABLE_CUDASIM"] = "1"
        sys.modules["numba"].config.reload_config()

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import scipy.signal as ss  # noqa: E402

from numba import cuda  # noqa: E402

if not cuda.is_available():
    pytest.skip("numba.cuda is not available (no GPU, and NUMBA_ENABLE_CUDASIM was not "
                "set before numba.cuda was imported)", allow_module_level=True)

import numbaconv  # noqa: E402
from numbaconv import _gpu  # noqa: E402
from numbaconv._backends import REGISTRY  # noqa: E402
from numbaconv._backends import cuda_direct  # noqa: E402

SIM = _gpu.simulator()
# the simulator computes with NumPy scalars, which warn when int64 products wrap
pytestmark = pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")
MODES = ("full", "same", "valid")
#: the shipped launch shapes, taken before the fixture below shrinks them
DEFAULTS = {name: getattr(cuda_direct, name)
            for name in ("BLOCK", "PER_THREAD", "BLOCK_1D", "PER_THREAD_1D")}


@pytest.fixture(autouse=True)
def tiny_blocks(monkeypatch):
    """Blocks of a few threads: multi-block grids and ragged tails on tiny inputs."""
    monkeypatch.setattr(cuda_direct, "BLOCK", (4, 4))
    monkeypatch.setattr(cuda_direct, "PER_THREAD", (2, 2))
    monkeypatch.setattr(cuda_direct, "BLOCK_1D", 8)
    monkeypatch.setattr(cuda_direct, "PER_THREAD_1D", 2)
    monkeypatch.setattr(_gpu, "THREADS", 16)


def rand(shape, dtype, rng, lo=-9, hi=10):
    dtype = np.dtype(dtype)
    if dtype.kind == "b":
        return rng.integers(0, 2, shape).astype(bool)
    if dtype.kind in "iu":
        lo = max(lo, np.iinfo(dtype).min)
        return rng.integers(lo, hi, shape).astype(dtype)
    x = rng.standard_normal(shape)
    if dtype.kind == "c":
        x = x + 1j * rng.standard_normal(shape)
    return x.astype(dtype)


def check(got, ref):
    """Equal for integers and bool, close (by dtype) for floating results."""
    got = np.asarray(got)
    assert got.shape == ref.shape
    assert got.dtype == ref.dtype, (got.dtype, ref.dtype)
    if ref.dtype.kind in "biu":
        np.testing.assert_array_equal(got, ref)
        return
    single = ref.dtype in (np.float16, np.float32, np.complex64)
    tol = {2: 2e-2, 4: 2e-5, 8: 1e-12}[2 if ref.dtype == np.float16 else (4 if single else 8)]
    scale = max(float(np.max(np.abs(ref.astype(np.complex128)))), 1.0) if ref.size else 1.0
    np.testing.assert_allclose(got.astype(np.complex128), ref.astype(np.complex128),
                               rtol=tol, atol=tol * scale)


def on_device(x):
    return cuda.to_device(np.ascontiguousarray(x))


# --------------------------------------------------------------------------
# convolve / correlate
# --------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", ["float32", "float64", "complex64", "complex128", "int32"])
@pytest.mark.parametrize("shapes", [(37, 4), (5, 9), (1, 1)])
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("op", ["convolve", "correlate"])
def test_1d(op, mode, shapes, dtype):
    rng = np.random.default_rng(1)
    a, k = rand(shapes[0], dtype, rng), rand(shapes[1], dtype, rng)
    got = getattr(numbaconv, op)(a, k, mode=mode, device="cuda")
    assert isinstance(got, np.ndarray)
    check(got, getattr(ss, op)(a, k, mode=mode, method="direct"))


@pytest.mark.parametrize("dtype", ["float64", "complex64", "int64"])
@pytest.mark.parametrize("shapes", [((9, 11), (3, 4)), ((4, 5), (5, 7))])
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("op", ["convolve", "correlate"])
def test_2d(op, mode, shapes, dtype):
    rng = np.random.default_rng(2)
    a, k = rand(shapes[0], dtype, rng), rand(shapes[1], dtype, rng)
    if mode == "valid" and not (all(x >= y for x, y in zip(*shapes))
                                or all(x <= y for x, y in zip(*shapes))):
        pytest.skip("'valid' needs one input at least as large as the other")
    got = getattr(numbaconv, op)(a, k, mode=mode, device="cuda", method="direct")
    check(got, getattr(ss, op)(a, k, mode=mode, method="direct"))


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("op", ["convolve", "correlate"])
def test_3d(op, mode):
    rng = np.random.default_rng(3)
    a, k = rand((5, 4, 6), "float64", rng), rand((2, 3, 2), "float64", rng)
    got = getattr(numbaconv, op)(a, k, mode=mode, device="cuda")
    check(got, getattr(ss, op)(a, k, mode=mode, method="direct"))


@pytest.mark.parametrize("dtype", ["int8", "uint8", "int16", "uint64", "int64", "bool"])
def test_integer_wraps(dtype):
    rng = np.random.default_rng(4)
    if dtype == "bool":
        a, k = rand(23, dtype, rng), rand(4, dtype, rng)
    else:
        info = np.iinfo(dtype)
        a = rng.integers(info.min, info.max, 23, dtype=dtype, endpoint=True)
        k = rng.integers(info.min, info.max, 4, dtype=dtype, endpoint=True)
    with np.errstate(over="ignore"):
        ref = ss.convolve(a, k, method="direct") if dtype != "bool" else np.convolve(a, k)
    check(numbaconv.convolve(a, k, device="cuda"), ref)


def test_float16():
    rng = np.random.default_rng(5)
    a, k = rand(30, "float16", rng), rand(3, "float16", rng)
    got = numbaconv.convolve(a, k, device="cuda")
    check(got, np.convolve(a.astype(np.float32), k.astype(np.float32)).astype(np.float16))


def test_non_finite_stay_local():
    a = np.arange(20.0)
    a[7], a[12] = np.nan, np.inf
    k = np.array([1.0, -2.0, 0.5])
    got = numbaconv.convolve(a, k, device="cuda")
    ref = ss.convolve(a, k, method="direct")
    np.testing.assert_array_equal(np.isnan(got), np.isnan(ref))
    np.testing.assert_array_equal(np.isinf(got), np.isinf(ref))
    fin = np.isfinite(ref)
    np.testing.assert_allclose(got[fin], ref[fin], rtol=1e-12, atol=1e-12)


# --------------------------------------------------------------------------
# convolve2d / correlate2d boundaries
# --------------------------------------------------------------------------

BOUNDARIES = [("fill", 0), ("fill", 2), ("wrap", 0), ("symm", 0)]


@pytest.mark.parametrize("dtype", ["float64", "complex128", "int32", "float32"])
@pytest.mark.parametrize("boundary", BOUNDARIES, ids=lambda b: f"{b[0]}{b[1]}")
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("op", ["convolve2d", "correlate2d"])
def test_2d_boundaries(op, mode, boundary, dtype):
    rng = np.random.default_rng(6)
    a, k = rand((10, 11), dtype, rng), rand((3, 4), dtype, rng)
    bnd, fill = boundary
    got = getattr(numbaconv, op)(a, k, mode, bnd, fill, device="cuda")
    check(got, getattr(ss, op)(a, k, mode, bnd, fill))


@pytest.mark.parametrize("boundary", BOUNDARIES, ids=lambda b: f"{b[0]}{b[1]}")
@pytest.mark.parametrize("op", ["convolve2d", "correlate2d"])
def test_2d_kernel_larger_than_image(op, boundary):
    rng = np.random.default_rng(7)
    a, k = rand((3, 4), "float64", rng), rand((5, 6), "float64", rng)
    bnd, fill = boundary
    for mode in MODES:
        got = getattr(numbaconv, op)(a, k, mode, bnd, fill, device="cuda")
        check(got, getattr(ss, op)(a, k, mode, bnd, fill))


# --------------------------------------------------------------------------
# launch configurations
# --------------------------------------------------------------------------

@pytest.mark.parametrize("unroll", [0, 64], ids=["generic", "unrolled"])
def test_tap_chunks_and_variants(monkeypatch, unroll):
    """Kernels split into chunks of taps (tiny shared memory), and both kernel variants."""
    monkeypatch.setattr(cuda_direct, "UNROLL_TAPS", unroll)
    rng = np.random.default_rng(8)
    a, k = rand((12, 12), "float64", rng), rand((4, 4), "float64", rng)
    a1, k1 = rand(40, "float64", rng), rand(9, "float64", rng)
    ref2 = ss.convolve2d(a, k, "same", "symm")
    ref1 = ss.convolve(a1, k1)
    check(numbaconv.convolve2d(a, k, "same", "symm", device="cuda"), ref2)
    check(numbaconv.convolve(a1, k1, device="cuda"), ref1)
    # 8x8 tiles need 11x11 + 16 doubles for the whole 4x4 kernel: force 2x2 chunks
    monkeypatch.setattr(cuda_direct, "SHARED_BYTES", 8 * (9 * 9 + 4))
    assert cuda_direct.plan((1, 12, 12), (1, 4, 4), 8)[2] == (2, 2)
    check(numbaconv.convolve2d(a, k, "same", "symm", device="cuda"), ref2)
    monkeypatch.setattr(cuda_direct, "SHARED_BYTES", 8 * (16 + 2 + 3))
    assert cuda_direct.plan((1, 1, 48), (1, 1, 9), 8)[2] == (1, 3)
    check(numbaconv.convolve(a1, k1, device="cuda"), ref1)


def test_plan_shapes():
    block, per, chunk, kfix = cuda_direct.plan((1, 1, 10**6), (1, 1, 31), 4)
    assert block[0] == 1 and per[0] == 1 and chunk == (1, 31) and kfix == (1, 31)
    block, per, chunk, kfix = cuda_direct.plan((1, 100, 100), (1, 3, 3), 4)
    assert block == (4, 4) and per == (2, 2) and kfix == (3, 3)
    block, per, chunk, kfix = cuda_direct.plan((1, 100, 100), (1, 99, 99), 16)
    assert kfix is None and chunk[0] * chunk[1] < 99 * 99


def test_default_blocks(monkeypatch):
    """The shipped block shapes (complex128 7x5 needs two chunks of taps)."""
    for name, value in DEFAULTS.items():
        monkeypatch.setattr(cuda_direct, name, value)
    monkeypatch.setattr(_gpu, "THREADS", 256)
    rng = np.random.default_rng(9)
    # a 256-thread block is 256 Python threads in the simulator: few blocks there
    shape, n = ((40, 70), 2100) if SIM else ((301, 257), 100_003)
    for dtype in (("float32", "complex128") if SIM else
                  ("float32", "float64", "complex64", "complex128", "int64")):
        a, k = rand(shape, dtype, rng), rand((7, 5), dtype, rng)
        check(numbaconv.convolve2d(a, k, "same", "symm", device="cuda"),
              ss.convolve2d(a, k, "same", "symm"))
        a1, k1 = rand(n, dtype, rng), rand(31, dtype, rng)
        check(numbaconv.convolve(a1, k1, device="cuda", method="direct"),
              ss.convolve(a1, k1, method="direct"))


# --------------------------------------------------------------------------
# array kinds in and out
# --------------------------------------------------------------------------


@pytest.mark.parametrize("device", ["cuda", "auto"])
@pytest.mark.parametrize("dtype", ["float32", "int8"])
def test_numba_device_arrays_in_and_out(request, device, dtype):
    rng = np.random.default_rng(10)
    a, k = rand((6, 7), dtype, rng), rand((2, 3), dtype, rng)
    got = numbaconv.convolve(on_device(a), on_device(k), mode="same", device=device)
    assert _gpu.is_device_array(got)
    check(got.copy_to_host(), ss.convolve(a, k, mode="same", method="direct"))
    got = numbaconv.correlate2d(on_device(a), on_device(k), "valid", device=device)
    assert _gpu.is_device_array(got)
    check(got.copy_to_host(), ss.correlate2d(a, k, "valid"))


def test_strided_device_input():
    rng = np.random.default_rng(11)
    a, k = rand((6, 14), "float64", rng), rand((3, 3), "float64", rng)
    got = numbaconv.convolve(on_device(a)[:, ::2], on_device(k), device="cuda")
    check(got.copy_to_host(), ss.convolve(a[:, ::2], k, method="direct"))


def test_valid_swap_correlate2d():
    """'valid' with the larger second input: the swapped, flipped path."""
    rng = np.random.default_rng(12)
    a, k = rand((3, 4), "complex128", rng), rand((6, 7), "complex128", rng)
    check(numbaconv.correlate2d(a, k, "valid", device="cuda"), ss.correlate2d(a, k, "valid"))
    check(numbaconv.correlate(a, k, "valid", device="cuda"),
          ss.correlate(a, k, "valid", method="direct"))


def test_explain_picks_cuda_backend():
    choice = numbaconv.explain(np.ones(20), np.ones(3), device="cuda")
    assert choice.backend.startswith("cuda_")
    assert all(name.startswith("cuda_") for name in choice.costs)
    assert all(0 < t < 1 for t in choice.costs.values()), choice.costs


# --------------------------------------------------------------------------
# _gpu helpers
# --------------------------------------------------------------------------

def test_gpu_helpers():
    ops = _gpu.ops()
    x = np.arange(24.0).reshape(2, 3, 4) * (1 + 2j)
    d = ops.asarray(x)
    np.testing.assert_array_equal(ops.flip(d, (0, 2)).copy_to_host(), x[::-1, :, ::-1])
    np.testing.assert_array_equal(ops.conj(d).copy_to_host(), np.conj(x))
    assert ops.all_finite(d)
    y = x.copy()
    y[1, 2, 3] = np.nan
    assert not ops.all_finite(ops.asarray(y))
    assert not ops.all_finite(ops.asarray(np.array([1.0, -np.inf], np.float16)))
    assert ops.abs_max(ops.asarray(np.array([3, -7, 5], np.int8))) == 7
    assert ops.abs_max(ops.asarray(np.array([2**63 + 5], np.uint64))) >= 2**63
    z = ops.zeros((2, 3), np.int16)
    np.testing.assert_array_equal(z.copy_to_host(), np.zeros((2, 3), np.int16))
    assert isinstance(ops.wrap(d, x), np.ndarray)          # numpy in -> numpy out


@pytest.mark.parametrize("src, dst, rounding", [
    ("float64", "int8", True), ("complex128", "int16", True), ("int64", "uint8", False),
    ("int64", "int32", False), ("int64", "uint64", False), ("float64", "bool", True),
    ("int64", "bool", False), ("float32", "float16", False), ("complex128", "complex64", False),
])
def test_finalize_matches_host(src, dst, rounding):
    from numbaconv._arrays import finalize as _finalize
    rng = np.random.default_rng(13)
    x = rand(17, src, rng, lo=-300, hi=300) * (1 if np.dtype(src).kind in "iu" else 100)
    x = x.astype(src)
    if np.dtype(src).kind in "fc":
        x = np.round(x) + (0.2 if np.dtype(src).kind == "f" else 0.2 + 3j)
    with np.errstate(invalid="ignore"):
        ref = _finalize(x, np.dtype(dst), rounding=rounding)
    got = _gpu.finalize(cuda.to_device(x), np.dtype(dst), rounding).copy_to_host()
    np.testing.assert_array_equal(got, ref)


def test_import_does_not_touch_cuda():
    import subprocess
    code = ("import sys, numbaconv, numbaconv._gpu, numbaconv._tools.bench_cuda; "
            "bad = [m for m in ('numba.cuda', 'cupy', 'torch') if m in sys.modules]; "
            "assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True,
                   env=dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path)))


# --------------------------------------------------------------------------
# what the simulator hides: hardware behaviour (issue 17)
# --------------------------------------------------------------------------

class RaisingCai:
    """A tensor whose ``__cuda_array_interface__`` raises, like torch's with requires_grad."""

    def __init__(self, is_cuda):
        self.is_cuda = is_cuda

    @property
    def __cuda_array_interface__(self):
        raise RuntimeError("Can't get __cuda_array_interface__ on Variable that requires grad")


def test_gpu_array_test_survives_a_raising_interface():
    from numbaconv._arrays import is_gpu_array
    assert is_gpu_array(RaisingCai(True))
    assert not is_gpu_array(RaisingCai(False))
    assert _gpu._kind_of(RaisingCai(True)) == "cai"


@pytest.fixture
def device_arrays_without_arithmetic(monkeypatch):
    """Numba's DeviceNDArray has no ``*`` or ``conj``: take them from the simulator's stand-in."""
    cls = type(cuda.to_device(np.zeros(1)))

    def refuse(*args, **kwargs):
        raise TypeError("device arrays have no arithmetic")
    for name in ("__mul__", "__rmul__", "conj", "conjugate"):
        monkeypatch.setattr(cls, name, refuse, raising=False)


@pytest.mark.parametrize("dtype", ["float64", "complex64", "int8"])
def test_zero_d_and_length_one_axes_on_device(device_arrays_without_arithmetic, dtype):
    rng = np.random.default_rng(20)
    a0, k0 = rand((), dtype, rng), rand((), dtype, rng)
    for op in ("convolve", "correlate", "fftconvolve"):
        got = getattr(numbaconv, op)(cuda.to_device(a0), cuda.to_device(k0), device="cuda")
        assert _gpu.is_device_array(got) and got.shape == ()
        ref = getattr(ss, op)(a0, k0)
        np.testing.assert_allclose(got.copy_to_host(), ref, rtol=1e-6)
        assert got.dtype == np.asarray(ref).dtype
    # every axis has length 1 on one side: SciPy multiplies (broadcasting), then takes the window
    a, k = rand((5, 1), dtype, rng), rand((1, 4), dtype, rng)
    for mode in MODES:
        if mode == "valid":
            continue            # neither input is at least as large as the other
        got = numbaconv.fftconvolve(on_device(a), on_device(k), mode, device="cuda")
        ref = ss.fftconvolve(a, k, mode)
        np.testing.assert_allclose(got.copy_to_host(), ref, rtol=1e-6)
        assert got.dtype == ref.dtype


def test_driver_found_by_opening_the_library(monkeypatch):
    """A container with only libcuda.so.1 mounted: find_library misses, dlopen finds it."""
    import ctypes
    import ctypes.util
    opened = []

    def fake_cdll(name, *args, **kwargs):
        opened.append(name)
        if name != "libcuda.so.1":
            raise OSError(name)
        return object()
    monkeypatch.setattr(os.path, "exists", lambda path: False)
    monkeypatch.setattr(ctypes.util, "find_library", lambda name: None)
    monkeypatch.setattr(ctypes, "CDLL", fake_cdll)
    assert _gpu.driver_present.__wrapped__()
    assert opened[0] == "libcuda.so.1"
    monkeypatch.setattr(ctypes, "CDLL", lambda name, *a, **kw: (_ for _ in ()).throw(OSError(name)))
    assert not _gpu.driver_present.__wrapped__()


def test_suite_detects_the_driver_like_the_library(monkeypatch):
    """The test switch to the simulator and numbaconv see the same driver (no silent fallback)."""
    import ctypes
    import importlib.util
    import pathlib
    from numbaconv import _driver
    path = pathlib.Path(__file__).resolve().parents[1] / "conftest.py"   # the root conftest
    spec = importlib.util.spec_from_file_location("root_conftest", path)
    root = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(root)
    assert root._driver_present() == _gpu.driver_present() == _driver.driver_present()
    monkeypatch.setattr(os.path, "exists", lambda path: False)
    monkeypatch.setattr(ctypes.util, "find_library", lambda name: None)
    monkeypatch.setattr(ctypes, "CDLL", lambda name, *a, **kw: object())
    assert root._driver_present() and _driver.driver_present()


def test_old_cuda_target_falls_back_to_the_cpu(offload, monkeypatch):
    """Numba's built-in numba.cuda without numba-cuda: a kernel that does not compile
    makes cuda_direct unavailable, and device='auto' runs on the CPU instead of raising."""
    from numbaconv import _dispatch

    def no_compile():
        raise TypeError("min() of these types is not supported by this CUDA target")
    monkeypatch.setattr(_gpu, "simulator", lambda: False)
    monkeypatch.setattr(_gpu, "numba_cuda_installed", lambda: False)
    monkeypatch.setattr(_dispatch, "gpu_ready", lambda: True)
    monkeypatch.setattr(cuda_direct, "compile_check", no_compile)
    monkeypatch.setattr(cuda_direct, "_compiles", None)
    gpu_cheap()
    assert not cuda_direct.available()
    a, k = np.arange(40.0), np.ones(5)
    check(numbaconv.convolve(a, k), ss.convolve(a, k, method="direct"))
    assert offload and all(name.startswith("cpu_") for name in offload), offload


class CaiArray:
    """A CuPy-like array: only ``__cuda_array_interface__`` (over a simulated device array)."""

    def __init__(self, dev):
        self.dev = dev

    @property
    def __cuda_array_interface__(self):
        return self.dev.__cuda_array_interface__ if hasattr(self.dev, "__cuda_array_interface__") \
            else {"shape": self.dev.shape}


@pytest.fixture
def cai_views(monkeypatch):
    """``as_cuda_array`` for :class:`CaiArray` (the simulator has none); records its keywords."""
    calls = []

    def as_cuda_array(obj, sync=True, **kwargs):
        calls.append(dict(sync=sync, **kwargs))
        return obj.dev
    monkeypatch.setattr(cuda, "as_cuda_array", as_cuda_array, raising=False)
    return calls


def test_cai_inputs_without_host_sync(cai_views):
    """CuPy/torch inputs are wrapped with sync=False: no host synchronisation in a call."""
    rng = np.random.default_rng(21)
    a, k = rand((9, 10), "float32", rng), rand((3, 3), "float32", rng)
    strided = on_device(np.ascontiguousarray(np.repeat(a, 2, axis=1)))[:, ::2]
    got = numbaconv.convolve2d(CaiArray(strided), CaiArray(on_device(k)), "same", "symm")
    assert _gpu.is_device_array(got)
    check(got.copy_to_host(), ss.convolve2d(a, k, "same", "symm"))
    assert cai_views and all(call["sync"] is False for call in cai_views), cai_views


@pytest.mark.skipif(not SIM, reason="records launches of the simulator's kernels")
def test_kernels_run_on_the_producers_stream(cai_views, monkeypatch):
    """GPU inputs: every kernel on the producer's stream, no host synchronisation."""
    producer = cuda.stream()
    monkeypatch.setattr(_gpu, "stream_for", lambda kind, x: 0 if kind == "numpy" else producer)
    seen = []
    kernel_type = type(_gpu.fill_kernel())
    real = kernel_type.__getitem__
    monkeypatch.setattr(kernel_type, "__getitem__", lambda self, config: seen.append(
        config[2] if len(config) > 2 else None) or real(self, config))

    def no_sync(*args, **kwargs):
        raise AssertionError("a host synchronisation inside a call")
    monkeypatch.setattr(cuda, "synchronize", no_sync)
    monkeypatch.setattr(type(producer), "synchronize", no_sync)
    rng = np.random.default_rng(22)
    a, k = rand((9, 10), "float32", rng), rand((3, 3), "float32", rng)
    got = numbaconv.correlate2d(CaiArray(on_device(a)), CaiArray(on_device(k)), "same", "wrap")
    check(got.copy_to_host(), ss.correlate2d(a, k, "same", "wrap"))
    assert seen and all(stream is producer for stream in seen), seen
    seen.clear()
    check(numbaconv.convolve(a, k, device="cuda"), ss.convolve(a, k, method="direct"))
    assert seen and all(stream == 0 for stream in seen), seen     # host arrays: default stream


def test_value_probes_stay_on_the_device(monkeypatch):
    """all_finite / abs_max: no host-to-device copy, one small copy back."""
    cls = type(cuda.to_device(np.zeros(1)))
    x = on_device(np.array([1.0, 2.0, np.nan]))
    n = on_device(np.array([3, -9, 4], np.int16))
    back = []
    real = cls.copy_to_host
    monkeypatch.setattr(cls, "copy_to_host", lambda self, *a, **kw: back.append(self.size)
                        or real(self, *a, **kw))

    def refuse(*args, **kwargs):
        raise AssertionError("a host-to-device copy in a value probe")
    monkeypatch.setattr(cuda, "to_device", refuse)
    assert not _gpu.all_finite(x)
    assert _gpu.abs_max(n) == 9
    assert back == [1, 1]


# --------------------------------------------------------------------------
# cuFFT backend (real GPU with CuPy only)
# --------------------------------------------------------------------------

fft_available = pytest.mark.skipif(
    "cuda_fft" not in REGISTRY or not REGISTRY["cuda_fft"].available(),
    reason="cuda_fft needs CuPy and a real GPU")


def fft_inputs(dtype):
    """The inputs of test_cuda_fft: a 2-D pair, and a pair that broadcasts over axis 0."""
    rng = np.random.default_rng(14)
    a, k = rand((40, 33), dtype, rng), rand((5, 6), dtype, rng)
    return a, k, rand((1, 6), dtype, rng)


@pytest.mark.parametrize("mode", MODES)
def test_cuda_fft_inputs_are_valid(mode):
    """What test_cuda_fft asks of the GPU, SciPy answers (its axes=1 call once took (5, 6))."""
    a, k, k1 = fft_inputs("float64")
    assert ss.convolve(a, k, mode=mode, method="direct").ndim == 2
    assert ss.fftconvolve(a, k1, mode=mode, axes=1).shape[0] == 40


@fft_available
@pytest.mark.parametrize("dtype", ["float32", "float64", "complex64", "int16"])
@pytest.mark.parametrize("mode", MODES)
def test_cuda_fft(mode, dtype):
    import cupy as cp
    a, k, k1 = fft_inputs(dtype)
    got = numbaconv.convolve(cp.asarray(a), cp.asarray(k), mode=mode, method="fft")
    assert isinstance(got, cp.ndarray)
    check(cp.asnumpy(got), ss.convolve(a, k, mode=mode, method="direct"))
    got = numbaconv.fftconvolve(a, k1, mode=mode, axes=1, device="cuda")
    check(got, ss.fftconvolve(a, k1, mode=mode, axes=1))


@pytest.mark.skipif(SIM, reason="needs a real GPU")
def test_torch_in_torch_out():
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("torch has no CUDA")
    rng = np.random.default_rng(15)
    a, k = rand((20, 21), "float32", rng), rand((3, 3), "float32", rng)
    got = numbaconv.convolve2d(torch.from_numpy(a).cuda(), torch.from_numpy(k).cuda(), "same")
    assert isinstance(got, torch.Tensor) and got.is_cuda
    check(got.cpu().numpy(), ss.convolve2d(a, k, "same"))


def test_bench_cuda_runs(monkeypatch, capsys):
    """The GPU benchmark's plumbing, on a micro grid (in the simulator too)."""
    import argparse

    from numbaconv._tools import bench_cuda

    monkeypatch.setattr(bench_cuda, "gpu_unusable", lambda: None)
    monkeypatch.setitem(bench_cuda.SIZES, "tiny", (20, (3,), 300, 5))
    monkeypatch.setattr(bench_cuda, "PATCH_2D", 8)
    monkeypatch.setattr(bench_cuda, "PATCH_1D", 64)
    args = argparse.Namespace(quick=True, tiny=True, json=None, dtype="float64", dim="both",
                              repeat=1, max_time=0.01)
    assert bench_cuda.bench_cuda(args) == 0
    out = capsys.readouterr().out
    assert "numbaconv.direct" in out and "MISMATCH" not in out and "ERROR" not in out
    # a wrong result is caught by the tolerance table
    real = bench_cuda._api.convolve
    monkeypatch.setattr(bench_cuda._api, "convolve",
                        lambda *a, **kw: _gpu.to_device(_gpu.to_host(real(*a, **kw)) * 1.001))
    assert bench_cuda.bench_cuda(args) == 1
    assert "MISMATCH" in capsys.readouterr().out


def test_bench_cuda_skips_a_cupy_without_a_device(monkeypatch, capsys, tmp_path):
    """CuPy installed without a driver (its calls raise cudaErrorInsufficientDriver): an absent peer."""
    import argparse
    import json
    import types

    from numbaconv._tools import bench_cuda

    class CUDARuntimeError(RuntimeError):
        """Named like cupy_backends.cuda.api.runtime.CUDARuntimeError."""
    CUDARuntimeError.__module__ = "cupy_backends.cuda.api.runtime"
    calls = []

    def no_driver(*args, **kwargs):
        calls.append(args)
        raise CUDARuntimeError("cudaErrorInsufficientDriver: CUDA driver version is "
                               "insufficient for CUDA runtime version")
    for name in ("cupy", "cupyx", "cupyx.scipy", "cupyx.scipy.signal"):
        fake = types.ModuleType(name)
        fake.__getattr__ = lambda attr: no_driver      # every function of the fake raises
        monkeypatch.setitem(sys.modules, name, fake)
    monkeypatch.setattr(bench_cuda, "gpu_unusable", lambda: None)
    monkeypatch.setitem(bench_cuda.SIZES, "tiny", (20, (3,), 300, 5))
    monkeypatch.setattr(bench_cuda, "PATCH_2D", 8)
    monkeypatch.setattr(bench_cuda, "PATCH_1D", 64)
    js = tmp_path / "bench.json"
    args = argparse.Namespace(quick=True, tiny=True, json=str(js), dtype="float32", dim="2",
                              repeat=1, max_time=0.01)
    assert bench_cuda.bench_cuda(args) == 0
    assert calls, "the fake CuPy was never asked"
    out = capsys.readouterr().out
    assert "numbaconv.direct" in out and "ERROR" not in out
    assert "cupyx.direct: skipped (cupy cannot reach a CUDA device (CUDARuntimeError" in out
    data = json.loads(js.read_text())
    assert {"cupyx.direct", "cupyx.fftconvolve"} <= set(data["skipped"])
    assert data["rows"] and all(r["impl"].startswith("numbaconv.") for r in data["rows"])


# --------------------------------------------------------------------------
# device='auto' with host arrays: the GPU only where the cost model says it wins
# --------------------------------------------------------------------------

@pytest.fixture
def offload(monkeypatch):
    """The simulator stands in for a GPU; every size is worth a look at it.

    Yields a list that records the backends that ran.
    """
    from numbaconv import _coefficients, _dispatch
    monkeypatch.setattr(_dispatch, "OFFLOAD_TO_SIMULATOR", True)
    monkeypatch.setattr(_dispatch, "OFFLOAD_MIN_SECONDS", 0.0)
    shipped = _coefficients.coefficients()
    ran = []
    for name, mod in REGISTRY.items():
        monkeypatch.setattr(mod, "run", lambda *a, _run=mod.run, _n=name, **kw:
                            ran.append(_n) or _run(*a, **kw))
        if hasattr(mod, "prepare"):   # the API's memoised calls run what prepare returns
            monkeypatch.setattr(mod, "prepare", lambda *a, _prep=mod.prepare, _n=name, **kw:
                                lambda *x, _f=_prep(*a, **kw): ran.append(_n) or _f(*x))
    yield ran
    _coefficients.set_coefficients(shipped)


def set_gpu_costs(**changes):
    """Put in force the table in force with ``changes`` to cuda_direct's coefficients."""
    import copy

    from numbaconv import _coefficients
    table = copy.deepcopy(_coefficients.coefficients())
    table["cuda"]["cuda_direct"].update(changes)
    _coefficients.set_coefficients(table)


def gpu_cheap():
    """Coefficients that make the direct GPU kernel (copies included) nearly free."""
    set_gpu_costs(launch=1e-12, bandwidth=1e20, h2d_bandwidth=1e20, h2d_latency=1e-12,
                  mac={key: 1e-20 for key in cuda_direct.costs()["mac"]})


def gpu_dear():
    """Copies so slow that the GPU never pays off."""
    set_gpu_costs(h2d_latency=10.0)


CASES = [  # (function, in1, in2, args, scipy reference)
    ("convolve", (17,), (4,), ("full",), lambda a, k: ss.convolve(a, k, method="direct")),
    ("correlate", (3, 4), (5, 6), ("valid",),
     lambda a, k: ss.correlate(a, k, "valid", method="direct")),
    ("convolve2d", (6, 7), (3, 2), ("same", "symm"), lambda a, k: ss.convolve2d(a, k, "same", "symm")),
    ("correlate2d", (3, 4), (5, 6), ("valid",), lambda a, k: ss.correlate2d(a, k, "valid")),
]


@pytest.mark.parametrize("dtype", ["float64", "int16", "complex64"])
@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
@pytest.mark.parametrize("gpu_wins", [True, False], ids=["gpu-cheap", "gpu-dear"])
def test_auto_host_arrays_follow_the_cost_model(offload, gpu_wins, case, dtype):
    fn, sa, sk, args, ref = case
    rng = np.random.default_rng(16)
    a, k = rand(sa, dtype, rng), rand(sk, dtype, rng)
    (gpu_cheap if gpu_wins else gpu_dear)()
    if fn in ("convolve", "correlate"):
        choice = numbaconv.explain(a, k, *args)
        assert choice.device == ("cuda" if gpu_wins else "cpu")
        assert {n.split("_")[0] for n in choice.costs} == {"cpu", "cuda"}, choice.costs
        assert "GPU costs include the copies" in str(choice)
    got = getattr(numbaconv, fn)(a, k, *args)
    assert isinstance(got, np.ndarray)
    check(got, ref(a, k))
    if gpu_wins:
        assert offload == ["cuda_direct"]
    else:
        assert offload and all(name.startswith("cpu_") for name in offload), offload


def test_auto_host_arrays_transfers_decide(offload):
    """A kernel that is cheap on the device still loses when the copies are dear."""
    a, k = np.arange(40.0), np.ones(5)
    gpu_cheap()
    set_gpu_costs(h2d_bandwidth=1.0)      # 1 byte/s over the bus
    choice = numbaconv.explain(a, k)
    assert choice.device == "cpu" and choice.costs["cuda_direct"] > 100
    check(numbaconv.convolve(a, k), ss.convolve(a, k, method="direct"))
    assert offload and offload[0].startswith("cpu_")


def test_cpu_never_and_cuda_always(offload):
    a, k = np.arange(30.0), np.ones(4)
    gpu_cheap()
    check(numbaconv.convolve(a, k, device="cpu"), ss.convolve(a, k))
    assert offload[-1].startswith("cpu_")
    assert all(n.startswith("cpu_") for n in numbaconv.explain(a, k, device="cpu").costs)
    gpu_dear()
    check(numbaconv.convolve(a, k, device="cuda"), ss.convolve(a, k))
    assert offload[-1] == "cuda_direct"


def test_auto_without_a_gpu_backend_stays_on_cpu(offload):
    """fftconvolve needs cuFFT on the GPU (not in the simulator): the CPU runs it."""
    rng = np.random.default_rng(17)
    a, k = rand(30, "float64", rng), rand(5, "float64", rng)
    gpu_cheap()
    check(numbaconv.fftconvolve(a, k), ss.fftconvolve(a, k))
    if not REGISTRY["cuda_fft"].available():
        assert offload == ["cpu_fft"]


def test_small_calls_do_not_look_for_a_gpu(monkeypatch):
    """Below OFFLOAD_MIN_SECONDS the GPU is not even checked for."""
    from numbaconv import _dispatch

    def boom():
        raise AssertionError("the GPU was looked for")
    monkeypatch.setattr(_dispatch, "OFFLOAD_TO_SIMULATOR", True)
    monkeypatch.setattr(_dispatch, "gpu_ready", boom)
    _dispatch.clear_cache()
    a, k = np.arange(50.0), np.ones(3)
    choice = numbaconv.explain(a, k)
    assert choice.device == "cpu" and "GPU not considered" in str(choice)
    check(numbaconv.convolve(a, k), ss.convolve(a, k))


def _without_cuda_modules(code, env_extra=None):
    import subprocess
    env = {key: val for key, val in os.environ.items() if key != "NUMBA_ENABLE_CUDASIM"}
    env["PYTHONPATH"] = os.pathsep.join(sys.path)
    env.update(env_extra or {})
    code += ("\nbad = [m for m in ('numba.cuda', 'cupy') if m in sys.modules]"
             "\nassert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True, env=env)


def _write_calibration(path, coefficients):
    """A calibration file of this machine and format holding ``coefficients``."""
    import json

    from numbaconv import _coefficients
    with open(path, "w") as f:
        json.dump({"format": _coefficients.FORMAT, "machine": _coefficients.machine(),
                   "coefficients": coefficients}, f)


def test_small_cpu_calls_do_not_import_cuda(tmp_path):
    """import numbaconv, small calls and a calibration file with a GPU section: no CUDA."""
    import copy

    from numbaconv import _coefficients
    table = copy.deepcopy(_coefficients.DEFAULTS)
    table["cuda"]["cuda_direct"]["launch"] = 3.25e-5
    _write_calibration(tmp_path / os.path.basename(_coefficients.cache_path()), table)
    _without_cuda_modules(
        "import sys, numpy as np, numbaconv\n"
        "from numbaconv import _coefficients\n"
        "x = numbaconv.convolve(np.arange(100.0), np.ones(5))\n"
        "y = numbaconv.convolve2d(np.eye(20), np.ones((3, 3)), 'same', 'symm')\n"
        "z = numbaconv.fftconvolve(np.ones(200), np.ones(9))\n"
        "s = str(numbaconv.explain(np.ones(300), np.ones(7)))\n"
        "launch = _coefficients.coefficients()['cuda']['cuda_direct']['launch']\n"
        "assert launch == 3.25e-5, 'the calibration file was not read'\n",
        {"NUMBACONV_CACHE_DIR": str(tmp_path)})


# --------------------------------------------------------------------------
# calibration of the GPU backends
# --------------------------------------------------------------------------

TINY = {"launch": 8, "stream": 24, "side": 6, "taps": 3, "copy": 64, "fft": 64,
        "repeat": 1, "min_time": 0.0}


def _all_positive(section):
    from numbaconv import _coefficients
    # raises on a missing, non-finite or non-positive coefficient
    _coefficients.validate(section, _coefficients.DEFAULTS["cuda"], "cuda.")
    return True


@pytest.fixture
def calibration(monkeypatch, tmp_path):
    """A private cache directory; the table in force is restored afterwards."""
    from numbaconv import _coefficients
    monkeypatch.setenv("NUMBACONV_CACHE_DIR", str(tmp_path))
    before = _coefficients.coefficients()
    _coefficients.set_coefficients(None)       # read from the (empty) private directory
    yield tmp_path
    _coefficients.set_coefficients(before)


def test_gpu_calibration_round_trips(calibration, monkeypatch):
    import json

    from numbaconv import _coefficients
    from numbaconv._tools import calibrate, calibrate_cuda
    monkeypatch.setattr(calibrate_cuda, "enabled", lambda: True)   # the simulator stands in
    monkeypatch.setitem(calibrate_cuda.SIZES, "quick", TINY)
    monkeypatch.setattr(calibrate, "cpu_steps", lambda quick: [])  # the CPU steps are slow
    before = json.loads(json.dumps(cuda_direct.costs()))
    labels = []
    coeffs = numbaconv.calibrate(quick=True, progress=lambda i, n, label: labels.append(label))
    assert {"cuda launch", "cuda bandwidth", "cuda direct c16", "cuda transfers"} <= set(labels)
    section = coeffs["cuda"]
    assert _all_positive(section)
    assert section["cuda_direct"] != before             # measured, not the shipped guesses
    assert cuda_direct.costs() == section["cuda_direct"]  # in force at once
    with open(_coefficients.cache_path()) as f:
        stored = json.load(f)["coefficients"]["cuda"]
    assert stored == json.loads(json.dumps(section))
    # a new process starts from nothing and loads the file
    _coefficients.set_coefficients(_coefficients.DEFAULTS)
    assert cuda_direct.costs() == before
    _coefficients.set_coefficients(None)
    assert cuda_direct.costs() == section["cuda_direct"]


def test_gpu_calibration_steps_fit_their_coefficients(calibration, rng):
    import copy

    from numbaconv import _coefficients
    from numbaconv._tools import calibrate_cuda
    coeffs = {"cuda": copy.deepcopy(_coefficients.DEFAULTS["cuda"])}
    poison = {"launch": -1.0, "bandwidth": float("nan"), "h2d_bandwidth": 0.0,
              "h2d_latency": float("inf"), "mac": {key: -1.0 for key in calibrate_cuda.DIRECT_TYPES}}
    coeffs["cuda"]["cuda_direct"].update(poison)
    with pytest.raises(ValueError):
        _all_positive(coeffs["cuda"])
    for label, step in calibrate_cuda.steps(sizes=TINY):
        step(coeffs, rng)
    assert _all_positive(coeffs["cuda"])


def test_gpu_calibration_prices_the_public_call(calibration, monkeypatch, rng):
    """launch and the transfers come from numbaconv.convolve(..., device='cuda'), not backend.run.

    A fake public call advances a virtual clock (the simulator's own times are
    noise): 20 ms of host-side work per call, and for host arrays 30 ms of
    copy latency plus their bytes at 1 GB/s.
    """
    import copy

    from numbaconv import _api, _coefficients, _dispatch
    from numbaconv._problem import build_problem
    from numbaconv._tools import calibrate_cuda
    clock, calls = [0.0], []

    def public_call(in1, in2, mode, *, method, device):
        calls.append((type(in1).__name__, method, device))
        clock[0] += 0.02
        if isinstance(in1, np.ndarray):
            out = in1.size - in2.size + 1 if mode == "valid" else in1.size + in2.size - 1
            clock[0] += 0.03 + (in1.size + in2.size + out) * in1.itemsize / 1e9

    def virtual_time(fn, repeat, min_time):
        start = clock[0]
        fn()
        return clock[0] - start
    monkeypatch.setattr(_api, "convolve", public_call)
    monkeypatch.setattr(calibrate_cuda, "median_time", virtual_time)
    coeffs = {"cuda": copy.deepcopy(_coefficients.DEFAULTS["cuda"])}
    # the large copy dwarfs the tiny one, whose bytes the latency fit neglects
    for label, step in calibrate_cuda.steps(sizes={**TINY, "copy": 1 << 16}):
        step(coeffs, rng)
    assert {device for _, _, device in calls} == {"cuda"}
    assert {kind for kind, _, _ in calls} > {"ndarray"}      # device arrays and host arrays
    d = coeffs["cuda"]["cuda_direct"]
    assert d["launch"] == pytest.approx(0.02)
    assert 3 * d["h2d_latency"] == pytest.approx(0.03, rel=1e-3)   # the tiny copy's bytes ignored
    assert d["h2d_bandwidth"] == pytest.approx(1e9, rel=1e-3)
    # device='auto' prices host arrays on the GPU at what the public call takes
    _coefficients.set_coefficients({**_coefficients.coefficients(), "cuda": coeffs["cuda"]})
    problem = _dispatch.on_gpu(build_problem((TINY["launch"],), (3,), "valid", np.float32))
    assert cuda_direct.cost(problem) == pytest.approx(0.05, rel=1e-3)


def test_cpu_only_calibration_keeps_the_shipped_gpu_section(calibration, monkeypatch):
    from numbaconv import _coefficients
    from numbaconv._tools import calibrate, calibrate_cuda
    monkeypatch.setattr(calibrate, "cpu_steps", lambda quick: [])
    assert not calibrate_cuda.enabled() or not SIM       # the simulator is no GPU
    if SIM:
        coeffs = numbaconv.calibrate(quick=True, save=False)
        assert coeffs["cuda"] == _coefficients.DEFAULTS["cuda"]
        assert not os.listdir(calibration)               # save=False wrote nothing


@pytest.mark.parametrize("bad", [
    {}, {"launch": float("nan")}, {"h2d_bandwidth": -2.0}, {"mac": {"f4": 0.0}},
    {"mac": "fast"}, {"bandwidth": None}, "not a mapping", None, "no-fft",
], ids=["valid", "nan", "negative", "zero-mac", "mac-str", "null", "str", "none", "no-fft"])
def test_corrupt_gpu_section_is_ignored(calibration, bad):
    """A GPU section with a bad coefficient makes the whole file ignored, with a warning."""
    import copy
    import warnings

    from numbaconv import _coefficients
    shipped = copy.deepcopy(_coefficients.DEFAULTS["cuda"]["cuda_direct"])
    fft = copy.deepcopy(_coefficients.DEFAULTS["cuda"]["cuda_fft"])
    layer = copy.deepcopy(_coefficients.DEFAULTS["cuda"]["cuda_layer"])
    if isinstance(bad, dict):
        direct = {**shipped, "launch": 3e-5, **bad}      # a valid file changes the launch time
        if isinstance(bad.get("mac"), dict):
            direct["mac"] = {**shipped["mac"], **bad["mac"]}
        section = {"device": "test", "cuda_direct": direct, "cuda_fft": fft, "cuda_layer": layer}
    elif bad == "no-fft":
        section = {"cuda_direct": shipped}
    else:
        section = bad
    _write_calibration(_coefficients.cache_path(), {**_coefficients.DEFAULTS, "cuda": section})
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        _coefficients.set_coefficients(None)
        in_force = cuda_direct.costs()
    if bad == {}:
        assert not seen
        assert in_force == section["cuda_direct"]
        return
    assert any("corrupt numbaconv calibration" in str(w.message) for w in seen), seen
    assert in_force == shipped
