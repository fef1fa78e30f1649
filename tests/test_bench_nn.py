"""Tests of ``numbaconv bench --nn`` and the asv suite ``benchmarks/bench_nn.py``.

The command runs on the hidden ``--tiny`` layers (the same kinds of layer,
a few thousand multiply-adds each), so it takes seconds; torch is the peer
when it is installed, and the NumPy im2col baseline when ``import torch``
fails, which is what CI has.
"""
from __future__ import annotations

import itertools
import json
import math
import os
import sys

import numpy as np
import pytest

import numbaconv.nn as nn
from numbaconv import cli
from numbaconv._tools import bench_nn
from numbaconv._tools.peers import Skip

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY = ["--nn", "--quick", "--tiny", "--repeat", "1", "--max-time", "0.05"]


def _torch_present() -> bool:
    return bench_nn.import_torch() is not None


def _check_rows(data, dtypes, peer):
    rows = data["rows"]
    assert [(r["layer"], r["dtype"]) for r in rows] == [
        (layer.name, d) for layer in bench_nn.layers("tiny") for d in dtypes]
    for r in rows:
        assert r["agree"] is True and r["error"] is None, (r["layer"], r["dtype"], r["error"])
        assert r["peer"] == peer
        assert r["t_peer"] > 0 and r["t_numbaconv"] > 0
        assert r["speedup"] == pytest.approx(r["t_peer"] / r["t_numbaconv"])
        assert r["gflops"] == pytest.approx(2 * r["macs"] / r["t_numbaconv"] / 1e9)
        assert r["auto_backend"] and r["auto_backend"] in r["predicted"]
        assert 0 <= r["max_abs_err"] <= r["tol"]
    assert data["meta"]["peer"] == peer and data["meta"]["batch"] == bench_nn.BATCH["tiny"]
    assert all(data["meta"]["fma_peak_gflops"][d] > 0 for d in dtypes)


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    js = tmp_path_factory.mktemp("bench_nn") / "nn.json"
    return cli.main(["bench", *TINY, "--json", str(js)]), js


def test_cli_runs_every_layer_and_writes_json(tiny_run, capsys):
    status, js = tiny_run
    _check_rows(json.loads(js.read_text()), ["float32", "float64"],
                "torch" if _torch_present() else "numpy.im2col")
    assert status == 0


def test_table_lists_every_layer(tmp_path, capsys):
    status = cli.main(["bench", *TINY, "--dtype", "float64"])
    out = capsys.readouterr().out
    assert status == 0, out[out.find("DISAGREES"):]
    lines = out.splitlines()
    header = lines[next(i for i, line in enumerate(lines) if line.startswith("numbaconv.nn vs")) + 1]
    for column in ("layer", "numbaconv", "auto chose", "speed-up", "GFLOP/s", "of peak"):
        assert column in header
    for layer in bench_nn.layers("tiny"):
        assert f"{layer.name}: {layer.describe()}" in out
    assert "DISAGREES" not in out


def test_without_torch_the_numpy_baseline_is_the_peer(monkeypatch, tmp_path, capsys):
    monkeypatch.setitem(sys.modules, "torch", None)      # import torch raises ImportError
    assert bench_nn.import_torch() is None
    js = tmp_path / "nn.json"
    status = cli.main(["bench", *TINY, "--dtype", "float64", "--json", str(js)])
    data = json.loads(js.read_text())
    _check_rows(data, ["float64"], "numpy.im2col")
    assert status == 0
    assert data["meta"]["torch"] is None
    assert "numbaconv.nn vs numpy.im2col" in capsys.readouterr().out
    with pytest.raises(Skip, match="torch"):
        bench_nn.torch_call(bench_nn.layers("tiny")[0], *bench_nn.inputs(
            bench_nn.layers("tiny")[0], 1, "float64"))


def test_a_wrong_result_is_marked_and_fails(monkeypatch, tmp_path, capsys):
    real = nn.conv2d
    monkeypatch.setattr(nn, "conv2d", lambda *a, **k: real(*a, **k) * 1.001)
    js = tmp_path / "bad.json"
    assert cli.main(["bench", *TINY, "--dtype", "float32", "--json", str(js)]) == 1
    rows = json.loads(js.read_text())["rows"]
    wrong = {r["layer"] for r in rows if not r["agree"]}
    assert wrong == {layer.name for layer in bench_nn.layers("tiny")
                     if layer.function == "conv2d"}, [r["error"] for r in rows]
    assert all("allowed" in r["error"] for r in rows if not r["agree"])
    out = capsys.readouterr().out
    assert out.count("DISAGREES") == len(wrong) and " NO" in out


def test_methods_times_every_supported_method(capsys):
    layer = bench_nn.layers("tiny")[0]
    row = bench_nn.bench_layer(layer, "float64", batch=1, repeat=1, max_time=0.05,
                               peer="numpy.im2col", methods=True)
    assert row["agree"], row["error"]
    gemm = row["methods"]["gemm"]
    assert gemm["backend"] == "cpu_layer_gemm" and gemm["time"] > 0
    for m in bench_nn.METHODS:
        assert "time" in row["methods"][m] or "skipped" in row["methods"][m]
    bench_nn.print_table([row], {"float64": 10.0})
    assert "gemm (backend)" in capsys.readouterr().out


@pytest.mark.parametrize("argv", [["--device", "cuda"], ["--dtype", "int8"], ["--peers"],
                                  ["--dtype", "float16"], ["--repeat", "0"]])
def test_usage_errors(argv, capsys):
    assert cli.main(["bench", "--nn", "--tiny", *argv]) == 2
    assert "numbaconv bench" in capsys.readouterr().err


def test_the_numpy_baseline_is_a_layer(rng):
    """The im2col baseline computes torch's definition: against a loop over taps, forward
    and transposed, with groups, stride, dilation, padding larger than the kernel."""
    x = rng.standard_normal((2, 4, 9, 7))
    w = rng.standard_normal((6, 2, 3, 2))
    b = rng.standard_normal(6)
    got = bench_nn.im2col_conv(x, w, b, (2, 1), ((1, 1), (2, 2)), (2, 3), 2)
    xp = np.pad(x, ((0, 0), (0, 0), (1, 1), (2, 2)))
    want = np.zeros(got.shape) + b[:, None, None]
    for o in range(6):
        g = o // 3
        for i, j in np.ndindex(*got.shape[2:]):
            for t, u in np.ndindex(3, 2):
                want[:, o, i, j] += xp[:, 2 * g:2 * g + 2, i * 2 + t * 2, j + u * 3] @ w[o, :, t, u]
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
    # the transposed layer is the adjoint: <conv(z), y> = <z, conv_transpose(y)>
    for padding, stride, dilation in [((1, 0), (2, 3), (1, 2)), ((3, 2), (2, 1), (1, 1))]:
        z = rng.standard_normal((2, 4, 8, 7))
        pairs = tuple((p, p) for p in padding)
        y = bench_nn.im2col_conv(z, w, None, stride, pairs, dilation, 2)
        y = rng.standard_normal(y.shape)
        # the output padding that gives z's size back
        extra = tuple((n + 2 * p - d * (k - 1) - 1) % s for n, p, d, k, s in
                      zip(z.shape[2:], padding, dilation, w.shape[2:], stride))
        zt = bench_nn.im2col_conv_transpose(y, w, None, stride, padding, extra, dilation, 2)
        assert zt.shape == z.shape
        lhs = np.vdot(bench_nn.im2col_conv(z, w, None, stride, pairs, dilation, 2), y)
        assert lhs == pytest.approx(np.vdot(z, zt), rel=1e-12)


def test_baseline_gathers_large_kernels_in_blocks(monkeypatch, rng):
    x = rng.standard_normal((1, 2, 11, 6))
    w = rng.standard_normal((3, 2, 3, 3))
    whole = bench_nn.im2col_conv(x, w, None, (1, 1), ((1, 1), (1, 1)), (1, 1), 1)
    monkeypatch.setattr(bench_nn, "CHUNK_BYTES", 1)      # one output row at a time
    np.testing.assert_array_equal(
        bench_nn.im2col_conv(x, w, None, (1, 1), ((1, 1), (1, 1)), (1, 1), 1), whole)


def test_layers_count_their_multiply_adds():
    """GFLOP/s rest on LayerProblem.macs: N * O * prod(out) * C/g * prod(k) for forward
    layers, N * C * prod(in) * O/g * prod(k) for the transposed one."""
    for layer in bench_nn.layers("full"):
        x = np.empty((8, layer.channels) + layer.size, np.float32)
        w = np.empty(layer.weight_shape, np.float32)
        ours = layer.problem(8, "float32").macs
        taps = math.prod(layer.kernel)
        if layer.transposed:
            assert ours == 8 * layer.channels * math.prod(layer.size) * w.shape[1] * taps
        else:
            assert ours == 8 * w.shape[0] * math.prod(layer.out_size()) * w.shape[1] * taps
        assert nn.explain(getattr(nn, layer.function), x, w, **layer.kwargs).backend


def test_layer_shapes_are_the_ones_asked_for():
    by_name = {layer.name: layer for layer in bench_nn.layers("full")}
    assert by_name["up4x4"].out_size() == (56, 56)
    assert by_name["stem7x7"].out_size() == (112, 112)
    assert by_name["large31x31"].out_size() == (128, 128)
    assert all(by_name[n].out_size() == (56, 56)
               for n in ("conv3x3", "dw3x3", "dw7x7", "dilated3x3"))
    assert by_name["conv1d_k9"].out_size() == (4096,)


def test_gemm_guard_skips_what_would_not_fit_in_memory():
    layer = bench_nn.layers("tiny")[0]
    x, w, b = bench_nn.inputs(layer, 2, "float64")
    need = bench_nn.gemm_bytes(layer.problem(2, "float64"))
    assert need == 2 * 12 * 12 * 8 * 9 * 8          # N * positions * C * taps * 8 bytes
    fn, choice = bench_nn.numbaconv_call(layer, x, w, b, "gemm", limit=need)
    assert choice.backend == "cpu_layer_gemm" and fn().shape == (2, 8, 12, 12)
    with pytest.raises(Skip, match="GiB"):
        bench_nn.numbaconv_call(layer, x, w, b, "gemm", limit=need - 1)
    row = bench_nn.bench_layer(layer, "float64", batch=2, repeat=1, max_time=0.05,
                               peer="numpy.im2col", limit=need - 1)
    if row["auto_backend"] == "cpu_layer_gemm":
        assert row["skipped"] and row["agree"] and row["t_numbaconv"] is None


@pytest.fixture
def asv_suite(monkeypatch):
    """benchmarks.bench_nn imported afresh on the tiny grid."""
    monkeypatch.syspath_prepend(REPO)
    monkeypatch.setenv("NUMBACONV_ASV_GRID", "tiny")
    for name in [m for m in sys.modules if m == "benchmarks" or m.startswith("benchmarks.")]:
        monkeypatch.delitem(sys.modules, name)
    import benchmarks.bench_nn as suite
    yield suite
    for name in [m for m in sys.modules if m == "benchmarks" or m.startswith("benchmarks.")]:
        sys.modules.pop(name)


def test_asv_suite_runs_on_the_tiny_layers(asv_suite):
    assert asv_suite.BATCH == bench_nn.BATCH["tiny"]
    ran = set()
    for cls in (asv_suite.NN, asv_suite.NNTorch, asv_suite.NNNumpy):
        for params in itertools.product(*cls.params):
            bench = cls()
            try:
                bench.setup(*params)
            except NotImplementedError:
                continue
            bench.time_layer(*params)
            ran.add((cls.__name__,) + params[-1:])
    assert ("NN", "auto") in ran and ("NN", "gemm") in ran
    assert any(c == "NNNumpy" for c, *_ in ran)
    assert any(c == "NNTorch" for c, *_ in ran) == _torch_present()


def test_asv_torch_suite_skips_without_torch(asv_suite, monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)
    with pytest.raises(NotImplementedError, match="torch"):
        asv_suite.NNTorch().setup("conv3x3", "float64")
