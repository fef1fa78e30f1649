"""``numbaconv bench --opencv`` and the machine line every benchmark table starts with.

The runs use the hidden ``--tiny`` grid (32² images); without OpenCV (CI)
the command times numbaconv alone and says so.
"""
from __future__ import annotations

import json
import os
import sys

import numpy as np
import pytest

from numbaconv._probes import separable_factors
from numbaconv._tools import bench as _bench
from numbaconv._tools import bench_opencv, grids, machine, report
from numbaconv._tools.formatting import machine_line

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HAVE_CV2 = True
try:
    import cv2  # noqa: F401
except Exception:  # noqa: BLE001
    HAVE_CV2 = False


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    js = tmp_path_factory.mktemp("opencv") / "opencv.json"
    return _bench.main(["--opencv", "--tiny", "--repeat", "1", "--max-time", "0.1",
                        "--json", str(js)]), js


def test_the_grid_is_the_goals_grid():
    """--opencv without --quick is exactly issue 20's grid: 3 sides x 4 kernels x 2 kinds x 2 dtypes."""
    cells = grids.build_opencv_grid("full", ("float32", "float64"))
    assert len(cells) == 48
    assert {c.n for c in cells} == {256, 1024, 4096} and {c.k for c in cells} == {3, 7, 15, 31}
    assert {(c.kernel, c.separable) for c in cells} == {("gaussian", True), ("random", False)}
    assert all(c.ndim == 2 and c.mode == "same" for c in cells)
    assert {c.dtype for c in cells} == {"float32", "float64"}


@pytest.mark.parametrize("k", [3, 4, 7, 15, 31])
def test_gaussian_kernel_is_separable_and_symmetric(k):
    for dtype in ("float32", "float64"):
        cell = grids.Cell(2, 64, k, dtype, "same", True, "gaussian")
        a, kern = grids.make_inputs(cell)
        assert a.shape == (64, 64) and a.dtype == kern.dtype == np.dtype(dtype)
        assert kern.shape == (k, k)
        np.testing.assert_array_equal(kern, kern.T)
        np.testing.assert_array_equal(kern, kern[::-1, ::-1])
        assert kern.sum() == pytest.approx(1.0, rel=1e-5)
        assert separable_factors(kern) is not None           # numbaconv may run it separably
    _, dense = grids.make_inputs(grids.Cell(2, 64, 7, "float64", "same", False, "random"))
    assert separable_factors(dense) is None


def test_gaussian_sigma_is_opencvs_formula():
    """OpenCV's sigma for a size (its fixed tables for k <= 7 aside: same sigma given)."""
    cv2 = pytest.importorskip("cv2")
    for k in (3, 7, 15, 31):
        sigma = 0.3 * ((k - 1) * 0.5 - 1) + 0.8
        g = cv2.getGaussianKernel(k, 0 if k > 7 else sigma, cv2.CV_64F)
        np.testing.assert_allclose(grids.gaussian_kernel(k), g @ g.T, rtol=1e-12)


def _row(n, k, kernel, dtype, t_auto, **peer_times):
    row = {"n": n, "k": k, "kernel": kernel, "dtype": dtype, "t_auto": t_auto,
           "auto_method": "separable" if kernel == "gaussian" else "direct",
           "peers": {p: {"time": t, "agree": True} for p, t in peer_times.items()},
           "best_peer": None, "t_best_peer": None, "ratio": None, "agree": True, "error": None}
    bench_opencv._add_best(row)
    return row


def test_best_peer_ratio_marks_and_geomean():
    rows = [_row(256, 3, "gaussian", "float32", 1e-4, **{"cv2.filter2D": 2e-4,
                                                           "cv2.sepFilter2D": 1.5e-4}),
            _row(256, 3, "random", "float32", 4e-4, **{"cv2.filter2D": 2e-4}),
            _row(256, 7, "random", "float64", 1e-3, **{"cv2.filter2D": 2e-3})]
    assert rows[0]["best_peer"] == "cv2.sepFilter2D" and rows[0]["ratio"] == pytest.approx(1.5)
    assert rows[1]["ratio"] == pytest.approx(0.5)
    header, body = bench_opencv.table(rows)
    col = header.index("best / auto")
    assert [b[col] for b in body] == ["1.50", "0.50", "2.00"]
    assert [b[-1] for b in body] == ["", "auto loses", ""]
    assert body[1][header.index("cv2.sepFilter2D")] == "-"
    assert bench_opencv.geomean(rows) == pytest.approx((1.5 * 0.5 * 2.0) ** (1 / 3))
    text = "\n".join(bench_opencv.summary(rows))
    assert "all cells (3): 1.14x" in text and "float64 (1): 2.00x" in text
    assert "random kernels (2)" in text
    assert "auto loses 1 of 3 cells" in text and "(not met)" in text
    won = [_row(256, 3, "random", "float32", 1e-4, **{"cv2.filter2D": 2e-4})]
    assert "(met)" in bench_opencv.summary(won)[-1]


def test_a_peer_whose_result_differs_still_counts():
    row = _row(256, 3, "random", "float32", 1e-4, **{"cv2.filter2D": 5e-5})
    row["peers"]["cv2.filter2D"]["agree"] = False
    header, body = bench_opencv.table([row])
    assert row["best_peer"] == "cv2.filter2D" and row["ratio"] == pytest.approx(0.5)
    assert "(differs)" in body[0][header.index("cv2.filter2D")]


def test_tiny_run(tiny_run, capsys):
    status, js = tiny_run
    assert status == 0
    data = json.loads(js.read_text())
    meta, rows = data["meta"], data["rows"]
    assert meta["environment"]["cpu"] == machine.cpu_model()
    assert set(meta["fma_peak_gflops"]) == {"float32", "float64"}
    assert all(p > 0 for p in meta["fma_peak_gflops"].values())
    assert len(rows) == len(grids.build_opencv_grid("tiny"))
    for r in rows:
        assert r["agree"] is True and r["error"] is None, r
        assert r["t_auto"] > 0 and r["auto_method"]
        sep = r["peers"]["cv2.sepFilter2D"]
        if HAVE_CV2:
            assert r["peers"]["cv2.filter2D"]["agree"] is True
            assert r["ratio"] == pytest.approx(r["t_best_peer"] / r["t_auto"])
            assert ("time" in sep) == (r["kernel"] == "gaussian")
        else:
            assert r["ratio"] is None and "OpenCV" in sep["skipped"]


def test_report_starts_with_the_machine_and_rereads_json(tiny_run, capsys):
    _, js = tiny_run
    capsys.readouterr()
    for argv in (["--opencv", "--from-json", str(js)], ["--from-json", str(js)]):
        assert _bench.main(argv) == 0
        out = capsys.readouterr().out.splitlines()
        assert out[0].startswith(f"machine: {machine.cpu_model()}, {machine.isa()}")
        assert "FMA peak" in out[0] and "GFLOP/s float32" in out[0]
        assert any("geometric mean" in line or "no OpenCV call" in line for line in out)


def test_without_opencv_numbaconv_runs_alone(monkeypatch):
    monkeypatch.setitem(sys.modules, "cv2", None)
    row = bench_opencv.bench_cell(grids.Cell(2, 16, 3, "float64", "same", True, "gaussian"),
                                  repeat=1, max_time=0.05, workers=1)
    assert row["agree"] and row["t_auto"] > 0 and row["ratio"] is None
    assert all("OpenCV" in v["skipped"] for v in row["peers"].values())
    assert bench_opencv.summary([row])[0].startswith("no OpenCV call was timed")


def test_a_wrong_result_fails(monkeypatch, capsys):
    from numbaconv import _api
    real = _api.convolve
    monkeypatch.setattr(_api, "convolve", lambda *a, **kw: real(*a, **kw) + 1)
    assert _bench.main(["--opencv", "--tiny", "--dtype", "float64", "--repeat", "1",
                        "--max-time", "0.05"]) == 1
    assert "DISAGREES" in capsys.readouterr().out


@pytest.mark.parametrize("argv", [["--peers"], ["--methods"], ["--separable"], ["--dim", "1"],
                                  ["--dtype", "int32"], ["--repeat", "0"]])
def test_usage_errors(argv, capsys):
    assert _bench.main(["--opencv", "--tiny", *argv]) == 2
    assert "numbaconv bench" in capsys.readouterr().err


def test_machine_line():
    env = {"cpu": "AMD EPYC 7B13", "isa": "AVX2", "cpu_count": 2}
    line = machine_line(env, {"float32": 159.6, "float64": 79.8}, 2)
    assert line == ("machine: AMD EPYC 7B13, AVX2, 2 CPUs, 2 workers; "
                    "FMA peak 160 GFLOP/s float32, 79.8 float64")
    assert machine_line({}, {}).endswith("FMA peak not measured")


def test_every_bench_table_names_the_machine(tmp_path, capsys):
    """The main table and the --methods summary start with the machine line; the machine's
    FMA peaks are kept in the JSON."""
    js = tmp_path / "b.json"
    assert _bench.main(["--tiny", "--dim", "1", "--repeat", "1", "--max-time", "0.05",
                        "--json", str(js)]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"machine: {machine.cpu_model()}, {machine.isa()}")
    meta = json.loads(js.read_text())["meta"]
    assert set(meta["fma_peak_gflops"]) == {"float32", "float64"} and meta["threads"] >= 1
    text = report.summary([], {"float64": 10.0}, machine_text="machine: X")
    assert text.startswith("machine: X\n")


def test_handed_over_commands_print_the_machine_first(monkeypatch, capsys):
    from numbaconv._tools import bench_nn
    monkeypatch.setattr(bench_nn, "main", lambda args: 0)
    monkeypatch.setattr(report, "machine_peaks", lambda workers, seconds: {"float32": 1.0})
    assert _bench.main(["--nn", "--tiny"]) == 0
    assert capsys.readouterr().out.startswith("machine: ")


def test_asv_opencv_suite_runs(monkeypatch):
    monkeypatch.syspath_prepend(REPO)
    for name in [m for m in sys.modules if m == "benchmarks" or m.startswith("benchmarks.")]:
        monkeypatch.delitem(sys.modules, name)
    from benchmarks import bench_convolve as bc

    ran = []
    for impl in bc.OpenCV2D.params[0]:
        for kernel in bc.OpenCV2D.params[4]:
            bench = bc.OpenCV2D()
            try:
                bench.setup(impl, 32, 3, "float64", kernel)
            except NotImplementedError:
                continue
            bench.time_convolve(impl, 32, 3, "float64", kernel)
            ran.append((impl, kernel))
    assert ("numbaconv.auto", "gaussian") in ran and ("numbaconv.auto", "random") in ran
    assert (("cv2.sepFilter2D", "gaussian") in ran) == HAVE_CV2
    assert ("cv2.sepFilter2D", "random") not in ran
