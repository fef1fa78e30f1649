"""numbaconv.dask against SciPy, numbaconv and NumPy's padding, on every scheduler.

The oracle of a boundary is its definition: the array padded per axis by
:func:`numpy.pad` ('constant', 'wrap', 'symmetric') and convolved 'valid' by
:mod:`scipy.signal`; in 2-D also :func:`scipy.signal.convolve2d` itself.
"""
from __future__ import annotations

import pickle
import subprocess
import sys

import numpy as np
import pytest
import scipy.signal

import numbaconv

da = pytest.importorskip("dask.array")
nd = pytest.importorskip("numbaconv.dask")
hypothesis = pytest.importorskip("hypothesis")
st = hypothesis.strategies

OPS = ("convolve", "correlate")
MODES = ("full", "same", "valid")
BOUNDARIES = ("fill", "wrap", "symm")
NP_PAD = {"fill": "constant", "wrap": "wrap", "symm": "symmetric"}


def reference(op, a, k, mode, boundary="fill", fillvalue=0):
    """The definition: pad per axis as the mode needs, then SciPy's 'valid'."""
    if mode == "valid":
        return getattr(scipy.signal, op)(a, k, "valid")
    pads = [(n - 1, n - 1) if mode == "full" else (n // 2, (n - 1) // 2) for n in k.shape]
    dtype = np.result_type(a, k)
    kwargs = {"constant_values": np.array(fillvalue).astype(dtype)} if boundary == "fill" else {}
    padded = np.pad(a.astype(dtype), pads, mode=NP_PAD[boundary], **kwargs)
    return getattr(scipy.signal, op)(padded, k, "valid")


def close(result, expected):
    assert result.shape == expected.shape
    assert result.dtype == expected.dtype
    tol = 1e-4 if np.dtype(result.dtype).char in "fF" else 1e-10
    np.testing.assert_allclose(result, expected, rtol=tol, atol=tol * max(1.0, np.abs(expected).max()))


def rand(rng, shape, dtype=np.float64):
    return rng.standard_normal(shape).astype(dtype)


# shape, chunks, kernel shape: odd and even kernels, chunks smaller than the kernel,
# uneven chunks, a kernel longer than the array along an axis, 1-D to 3-D
CASES = [
    ((20,), 6, (5,)),
    ((21,), (4, 9, 3, 5), (4,)),
    ((9,), 2, (7,)),
    ((5,), 2, (8,)),
    ((17, 13), (5, 4), (4, 3)),
    ((16, 15), ((3, 9, 4), (7, 8)), (5, 5)),
    ((8, 7), 3, (9, 2)),
    ((6, 5, 7), (2, 3, 4), (3, 2, 3)),
]


@pytest.mark.parametrize("shape, chunks, kshape", CASES)
@pytest.mark.parametrize("op", OPS)
def test_modes_and_boundaries_match_definition(shape, chunks, kshape, op):
    rng = np.random.default_rng(len(shape) * 100 + sum(kshape))
    a, k = rand(rng, shape), rand(rng, kshape)
    x = da.from_array(a, chunks=chunks)
    for mode in MODES:
        if mode == "valid" and not all(n >= m for n, m in zip(shape, kshape)):
            continue
        for boundary in BOUNDARIES:
            y = getattr(nd, op)(x, k, mode, boundary=boundary,
                                fillvalue=0.5 if boundary == "fill" else 0)
            close(y.compute(), reference(op, a, k, mode, boundary, 0.5))


@pytest.mark.parametrize("shape, chunks, kshape", CASES)
@pytest.mark.parametrize("op", OPS)
def test_zero_fill_equals_numbaconv_and_scipy(shape, chunks, kshape, op):
    rng = np.random.default_rng(7)
    a, k = rand(rng, shape), rand(rng, kshape)
    x = da.from_array(a, chunks=chunks)
    for mode in MODES:
        try:
            expected = getattr(scipy.signal, op)(a, k, mode)
        except ValueError:          # 'valid' with neither larger: both raise
            with pytest.raises(ValueError):
                getattr(nd, op)(x, k, mode)
            continue
        y = getattr(nd, op)(x, k, mode).compute()
        close(y, expected)
        close(y, getattr(numbaconv, op)(a, k, mode))


def test_valid_swaps_like_scipy():
    rng = np.random.default_rng(3)
    a, k = rand(rng, (4, 5)), rand(rng, (9, 8))
    for op in OPS:
        y = getattr(nd, op)(da.from_array(a, chunks=2), k, "valid")
        close(y.compute(), getattr(scipy.signal, op)(a, k, "valid"))


@pytest.mark.parametrize("boundary", BOUNDARIES)
@pytest.mark.parametrize("mode", ("full", "same"))
def test_2d_boundaries_equal_convolve2d(mode, boundary):
    rng = np.random.default_rng(11)
    a = rand(rng, (19, 23))
    x = da.from_array(a, chunks=(6, 7))
    for kshape in ((5, 3), (4, 6), (1, 8)):
        k = rand(rng, kshape)
        y = nd.convolve(x, k, mode, boundary=boundary, fillvalue=-1.5)
        close(y.compute(), scipy.signal.convolve2d(a, k, mode, boundary=boundary, fillvalue=-1.5))
    k = rand(rng, (5, 3))     # correlate2d's 'same' centres even kernels otherwise
    y = nd.correlate(x, k, mode, boundary=boundary, fillvalue=2.0)
    close(y.compute(), scipy.signal.correlate2d(a, k, mode, boundary=boundary, fillvalue=2.0))


def test_dtypes_follow_scipy():
    rng = np.random.default_rng(5)
    ai = rng.integers(-50, 50, (12, 10)).astype(np.int16)
    xi = da.from_array(ai, chunks=4)
    # integer array, float kernel, a fill the integers cannot hold: SciPy fills in float
    kf = rand(rng, (3, 3))
    y = nd.convolve(xi, kf, boundary="fill", fillvalue=0.5)
    close(y.compute(), scipy.signal.convolve2d(ai, kf, "same", fillvalue=0.5))
    # integers stay exact (and wrap like SciPy's direct method)
    ki = rng.integers(-90, 90, (4, 3)).astype(np.int16)
    for mode in MODES:
        y = nd.convolve(xi, ki, mode, boundary="wrap" if mode != "valid" else "fill")
        expected = (scipy.signal.convolve(ai, ki, "valid") if mode == "valid" else
                    scipy.signal.convolve2d(ai, ki, mode, boundary="wrap"))
        assert y.dtype == expected.dtype == np.int16
        np.testing.assert_array_equal(y.compute(), expected)
    # float32 stays float32; complex correlation conjugates the kernel
    a32 = rand(rng, (30,), np.float32)
    y = nd.convolve(da.from_array(a32, chunks=7), rand(rng, (6,), np.float32))
    assert y.dtype == y.compute().dtype == np.float32
    ac = rand(rng, (9, 8)) + 1j * rand(rng, (9, 8))
    kc = rand(rng, (3, 2)) - 1j * rand(rng, (3, 2))
    close(nd.correlate(da.from_array(ac, chunks=3), kc, "full").compute(),
          scipy.signal.correlate(ac, kc, "full"))


@pytest.mark.parametrize("method", ("direct", "fft", "oa"))
def test_method_is_passed_to_each_chunk(method):
    rng = np.random.default_rng(2)
    a, k = rand(rng, (300,)), rand(rng, (41,))
    y = nd.convolve(da.from_array(a, chunks=70), k, "same", method=method, boundary="symm")
    close(y.compute(), reference("convolve", a, k, "same", "symm"))


def test_chunks_of_the_result():
    x = da.zeros((50, 40), chunks=((10, 20, 20), (2, 18, 20)))
    k = np.ones((7, 4))
    # 'same': the input's chunks, also where chunks smaller than the halo were merged
    assert nd.convolve(x, k).chunks == x.chunks
    assert nd.convolve(da.zeros(30, chunks=(2, 2, 26)), np.ones(9)).chunks == ((2, 2, 26),)
    # 'full' and 'valid': the input's boundaries, shifted by the kernel's centre
    full = nd.convolve(x, k, "full").chunks
    assert full[0] == (10 + 3, 20, 20 + 3)
    merged = da.overlap.ensure_minimum_chunksize(3, (2, 18, 20))   # 'full' reads 3 beyond
    assert merged != (2, 18, 20)
    assert full[1] == (merged[0] + 1, *merged[1:-1], merged[-1] + 2)
    valid = nd.convolve(x, k, "valid").chunks
    assert valid == ((10 - 3, 20, 20 - 3), (2 - 2, 18, 20 - 1))


def test_kernel_is_one_key_of_the_graph():
    rng = np.random.default_rng(0)
    k = rand(rng, (5, 6))
    x = da.from_array(rand(rng, (40, 36)), chunks=(10, 9))
    y = nd.correlate(x, k, boundary="symm")
    graph = dict(y.__dask_graph__())
    holding = [key for key, task in graph.items() if k.tobytes() in pickle.dumps(task)]
    assert len(holding) == 1
    assert y.npartitions == 16


@hypothesis.settings(max_examples=25, deadline=None, derandomize=True)
@hypothesis.given(data=st.data())
def test_shapes_and_chunks_sweep(data):
    ndim = data.draw(st.integers(1, 3))
    shape = tuple(data.draw(st.integers(1, 14 if ndim < 3 else 7)) for _ in range(ndim))
    kshape = tuple(data.draw(st.integers(1, 6)) for _ in range(ndim))
    chunks = []
    for n in shape:
        cuts = sorted(set(data.draw(st.lists(st.integers(1, max(n - 1, 1)), max_size=3))))
        cuts = [c for c in cuts if 0 < c < n]
        chunks.append(tuple(np.diff([0, *cuts, n])))
    op = data.draw(st.sampled_from(OPS))
    mode = data.draw(st.sampled_from(MODES))
    boundary = data.draw(st.sampled_from(BOUNDARIES))
    rng = np.random.default_rng(sum(shape) * 31 + sum(kshape))
    a, k = rand(rng, shape), rand(rng, kshape)
    x = da.from_array(a, chunks=tuple(chunks))
    try:
        expected = reference(op, a, k, mode, boundary, 1.25)
    except ValueError:
        with pytest.raises(ValueError, match="at least as large"):
            getattr(nd, op)(x, k, mode)
        return
    y = getattr(nd, op)(x, k, mode, boundary=boundary, fillvalue=1.25)
    close(y.compute(), expected)
    if mode == "same":
        assert y.chunks == x.chunks


def test_threads_processes_and_a_local_cluster():
    rng = np.random.default_rng(9)
    a, k = rand(rng, (64, 48)), rand(rng, (9, 9))
    x = da.from_array(a, chunks=16)
    expected = reference("convolve", a, k, "same", "wrap")
    y = nd.convolve(x, k, boundary="wrap", workers=1)
    close(y.compute(scheduler="threads", num_workers=4), expected)
    close(y.compute(scheduler="processes", num_workers=2), expected)
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None, silence_logs=40) as cluster, \
            distributed.Client(cluster) as client:
        future = client.compute(y)
        close(future.result(timeout=120), expected)
        assert len(client.scheduler_info()["workers"]) == 2


@pytest.mark.parametrize("kernel, kwargs, exc, fragment", [
    (np.ones(3), {}, ValueError, "same dimensionality"),
    (np.ones((3, 3)), {"mode": "middle"}, ValueError, "'valid', 'same', or 'full'"),
    (np.ones((3, 3)), {"boundary": "reflect"}, ValueError, "boundary='symm'"),
    (np.ones((3, 3)), {"boundary": "periodic"}, ValueError, "boundary='wrap'"),
    (np.ones((3, 3)), {"boundary": "nearest"}, ValueError, "dask.array.pad"),
    (np.ones((3, 3)), {"boundary": "edge"}, ValueError, "Acceptable boundary flags"),
    (np.ones((3, 3)), {"method": "fastest"}, ValueError, "method"),
    (np.ones((3, 3)), {"fillvalue": "x"}, ValueError, "fillvalue"),
    (np.ones((9, 2)), {"mode": "valid"}, ValueError, "at least as large"),
    (np.ones((0, 2)), {}, ValueError, "empty"),
])
def test_bad_input_says_what_to_change(kernel, kwargs, exc, fragment):
    x = da.ones((6, 5), chunks=3)
    before = kernel.copy()
    with pytest.raises(exc, match=fragment):
        nd.convolve(x, kernel, **kwargs)
    np.testing.assert_array_equal(kernel, before)


def test_dask_kernel_is_a_type_error():
    x = da.ones((6, 5), chunks=3)
    with pytest.raises(TypeError, match=r"kernel.compute\(\)"):
        nd.correlate(x, da.ones((3, 3), chunks=3))


def test_numbaconv_import_does_not_import_dask():
    code = "import sys, numbaconv; assert 'dask' not in sys.modules, 'dask imported'"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_out_of_core_example_small(tmp_path):
    import importlib.util
    import pathlib
    zarr = pytest.importorskip("zarr")
    path = pathlib.Path(__file__).resolve().parents[1] / "examples" / "out_of_core.py"
    spec = importlib.util.spec_from_file_location("example_out_of_core", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    result = module.main(["--small", "--dir", str(tmp_path)])
    src = zarr.open_array(str(tmp_path / "image.zarr"), mode="r")[...]
    dst = zarr.open_array(str(tmp_path / "blurred.zarr"), mode="r")[...]
    assert result["shape"] == src.shape == dst.shape == (512, 1024)
    assert dst.dtype == np.float32
    kernel = module.gaussian_kernel(module.KERNEL_SIDE, 5.0).astype(np.float64)
    expected = scipy.signal.convolve2d(src.astype(np.float64), kernel, "same", boundary="symm")
    np.testing.assert_allclose(dst, expected, atol=1e-5)


TINY_BENCH = ["bench", "--dask", "--tiny", "--repeat", "1", "--max-time", "0.05"]


def test_bench_dask_agrees_with_dask_image(tmp_path, capsys):
    import json
    from numbaconv import cli
    from numbaconv._tools import bench_dask
    js = tmp_path / "dask.json"
    assert cli.main([*TINY_BENCH, "--dtype", "float64", "--json", str(js)]) == 0
    rows = json.loads(js.read_text())["rows"]
    assert [r["k"] for r in rows] == list(bench_dask.KERNELS["tiny"])
    peer = bench_dask.import_dask_image() is not None
    for r in rows:
        assert r["agree"] and r["numbaconv_s"] > 0
        assert (r["speedup"] is not None) == peer
    assert "numbaconv.dask" in capsys.readouterr().out


def test_bench_dask_marks_a_wrong_result(monkeypatch, tmp_path, capsys):
    from numbaconv import cli
    from numbaconv._tools import bench_dask
    if bench_dask.import_dask_image() is None:
        pytest.skip("dask-image is not installed: nothing to compare with")
    real = bench_dask.numbaconv_call
    monkeypatch.setattr(bench_dask, "numbaconv_call",
                        lambda x, k, workers=None: real(x * 1.001, k, workers))
    assert cli.main([*TINY_BENCH, "--dtype", "float32"]) == 1
    out = capsys.readouterr().out
    assert out.count("DISAGREES") == len(bench_dask.KERNELS["tiny"])


def test_bench_dask_usage_errors(capsys):
    from numbaconv import cli
    assert cli.main([*TINY_BENCH, "--dtype", "int8"]) == 2
    assert "--dtype" in capsys.readouterr().err
