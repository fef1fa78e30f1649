"""Smoke tests of ``numbaconv bench`` / ``numbaconv info`` and the asv suites.

Everything runs on the hidden ``--tiny`` grid (signals of at most 1000
samples, images of at most 32x32), so the cost is the JIT compile.
"""
from __future__ import annotations

import json
import os
import sys

import numpy as np
import pytest

from numbaconv import _bench, cli

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench")
    js, png = out / "bench.json", out / "bench.png"
    status = _bench.main(["--quick", "--tiny", "--repeat", "1", "--max-time", "0.2",
                          "--json", str(js), "--plot", str(png)])
    return status, js, png


def test_tiny_run_agrees_and_writes_json(tiny_run):
    status, js, _ = tiny_run
    assert status == 0
    data = json.loads(js.read_text())
    rows = data["rows"]
    assert rows, "no rows benchmarked"
    assert {r["ndim"] for r in rows} == {1, 2}
    for r in rows:
        assert r["agree"] is True, r
        assert r["error"] is None
        assert isinstance(r["ratio"], float) and r["ratio"] > 0
        assert r["t_numbaconv"] > 0 and r["t_scipy"] > 0
        assert r["auto_method"] in ("direct", "fft", "oa", "separable")
        assert r["t_numbaconv_method"] > 0
        assert r["max_abs_err"] <= r["tol"]
    env = data["meta"]["environment"]
    assert env["numba"] and env["scipy"] and env["numbaconv"]


def test_tiny_run_writes_png(tiny_run):
    _, _, png = tiny_run
    assert png.read_bytes()[:8] == PNG_MAGIC


def test_replot_from_json(tiny_run, tmp_path, capsys):
    _, js, _ = tiny_run
    png = tmp_path / "again.png"
    assert _bench.main(["--from-json", str(js), "--plot", str(png)]) == 0
    assert png.read_bytes()[:8] == PNG_MAGIC
    assert "speed-up" in capsys.readouterr().out


def test_disagreement_fails(monkeypatch, tmp_path):
    import numbaconv

    real = numbaconv.convolve

    def wrong(*args, **kwargs):
        return real(*args, **kwargs) + 1

    monkeypatch.setattr(numbaconv, "convolve", wrong)
    js = tmp_path / "bad.json"
    status = _bench.main(["--quick", "--tiny", "--dim", "1", "--repeat", "1",
                          "--max-time", "0.1", "--json", str(js)])
    assert status == 1
    rows = json.loads(js.read_text())["rows"]
    assert rows and not any(r["agree"] for r in rows)
    assert all("tolerance" in r["error"] for r in rows)


def test_compare_checks_shape_dtype_and_values():
    ref = np.arange(4.0)
    assert _bench.compare(ref, ref, 0.0)["agree"]
    assert not _bench.compare(ref[:3], ref, 1.0)["agree"]
    assert not _bench.compare(ref.astype(np.float32), ref, 1.0)["agree"]
    assert not _bench.compare(ref + 1e-3, ref, 1e-4)["agree"]
    assert not _bench.compare(ref * np.nan, ref, 1.0)["agree"]


def test_measure_reports_median_and_first_call():
    calls = []
    timing, out = _bench.measure(lambda: calls.append(1) or 42, repeat=3, max_time=0.05)
    assert out == 42
    assert timing.median > 0 and timing.first_call >= 0
    assert len(timing.samples) <= 3
    assert len(calls) >= 2 + len(timing.samples)


@pytest.mark.parametrize("repeat", [2, 15])
def test_interleaved_keeps_min_rounds_past_the_budget(repeat, monkeypatch):
    """A budget far below one round still takes min(repeat, MIN_ROUNDS) rounds,
    and the median is over them: one slow sample among them does not decide it."""
    import itertools
    import time

    from numbaconv import _bench_report
    calls = {"slow": 0, "fast": 0}
    # 3 ms a call (one call per sample); the first timed round's call takes 50 ms
    durations = itertools.chain([0.003, 0.003, 0.05], itertools.repeat(0.003))

    def slow():
        calls["slow"] += 1
        time.sleep(next(durations))

    def fast():
        calls["fast"] += 1
        time.sleep(0.003)

    monkeypatch.setattr(_bench_report, "MIN_ROUNDS", 5)
    res = _bench_report.interleaved({"slow": slow, "fast": fast}, repeat, max_time=1e-9)
    rounds = min(repeat, 5)
    assert calls["slow"] == calls["fast"] == 2 + rounds   # warm-up, one sizing call, rounds
    assert res["fast"] < 0.02
    if rounds >= 3:
        assert res["slow"] < 0.02     # the median ignores the one 50 ms sample


def test_cuda_hook_is_called(monkeypatch):
    from numbaconv import _bench_cuda

    seen = []
    monkeypatch.setattr(_bench_cuda, "bench_cuda", lambda args: seen.append(args) or 0)
    assert _bench.main(["--device", "cuda", "--quick"]) == 0
    assert seen and seen[0].quick and seen[0].device == "cuda"


def test_cli_info(capsys):
    assert cli.main(["info"]) == 0
    out = capsys.readouterr().out
    assert "numba_threading_layer" in out and "cpu_direct" in out


def test_cli_bench_forwards(monkeypatch):
    seen = []
    monkeypatch.setattr(_bench, "main", lambda argv: seen.append(argv) or 0)
    assert cli.main(["bench", "--quick", "--tiny"]) == 0
    assert seen == [["--quick", "--tiny"]]


def test_asv_suites_run_on_small_cells(monkeypatch):
    """Every implementation of the asv run-time suites sets up and runs."""
    monkeypatch.syspath_prepend(REPO)
    for name in [m for m in sys.modules if m == "benchmarks" or m.startswith("benchmarks.")]:
        monkeypatch.delitem(sys.modules, name)
    from benchmarks import bench_convolve as bc

    cases = [(bc.Convolve1D, (200,), (5,)), (bc.Convolve2D, (32,), (3,)),
             (bc.Separable2D, (32,), (3,))]
    for cls, n, k in cases:
        for impl in cls.params[0]:
            bench = cls()
            try:
                bench.setup(impl, *n, *k, "float64")
            except NotImplementedError:
                continue  # a skipped cell (backend not available)
            bench.time_convolve(impl, *n, *k, "float64")
    for function in bc.Overhead.params[0]:
        for library in bc.Overhead.params[1]:
            bench = bc.Overhead()
            try:
                bench.setup(function, library)
            except NotImplementedError:
                continue
            bench.time_call(function, library)


def test_cli_calibrate_forwards_options(monkeypatch, capsys):
    import numbaconv

    seen = []

    def fake(*, quick=False, save=True, progress=None):
        seen.append((quick, save))
        return {"direct_overhead": 1e-5}

    monkeypatch.setattr(numbaconv, "calibrate", fake)
    assert cli.main(["calibrate", "--quick", "--no-save"]) == 0
    assert seen == [(True, False)]
    assert "direct_overhead" in capsys.readouterr().out


def test_methods_run_reports_regret_peak_and_summary(tmp_path, capsys):
    """``--methods`` times every method, fills regret/GFLOP/s and prints the summaries."""
    js, md = tmp_path / "m.json", tmp_path / "m.md"
    status = _bench.main(["--tiny", "--methods", "--dim", "1", "--repeat", "1", "--max-time",
                          "0.2", "--json", str(js), "--summary", str(md)])
    assert status == 0
    data = json.loads(js.read_text())
    peak = data["meta"]["fma_peak_gflops"]
    assert peak["float64"] > 0
    for r in data["rows"]:
        assert set(r["methods"]) >= {"direct", "fft", "oa"}
        assert all(t > 0 for t in r["methods"].values() if isinstance(t, float))
        assert r["scipy_methods"]["auto"] > 0
    text = md.read_text()
    assert "Regret table" in text and "geomean speed-up" in text
    assert "Regret table" in capsys.readouterr().out


def test_direct_macs_counts_edges():
    """'full' edges do fewer multiply-adds: sum of window overlaps, checked by brute force."""
    from numbaconv._bench_report import direct_macs
    for n, k, mode in [(10, 3, "full"), (10, 3, "valid"), (7, 4, "same"), (3, 8, "full")]:
        full = [(i - (k - 1), i + 1) for i in range(n + k - 1)]
        start = {"full": 0, "same": (k - 1) // 2, "valid": k - 1}[mode]
        length = {"full": n + k - 1, "same": n, "valid": n - k + 1}[mode]
        brute = sum(max(0, min(hi, n) - max(lo, 0)) for lo, hi in full[start:start + length])
        assert direct_macs((n,), (k,), mode) == brute


def test_peer_timed_round_robin_with_auto():
    """A peer (numpy.convolve is always there for 1-D) is checked against SciPy and
    timed in one round-robin with numbaconv's auto: the row carries both times."""
    row = _bench.bench_cell(_bench.Cell(1, 200, 5, "float64", "full"), repeat=1, max_time=0.05,
                            peers=True)
    info = row["peers"]["numpy.convolve"]
    assert info["agree"] is True and info["max_abs_err"] <= row["tol"]
    assert info["time"] > 0 and info["numbaconv_time"] > 0
    header, body = _bench._table_rows([row], ["numpy.convolve"])
    assert "(ours " in body[0][header.index("numpy.convolve")]


def test_peak_table_times_direct_alone():
    """A 1-D cell of >= 31 taps times direct on its own too; the GFLOP/s table shows both
    times and takes the faster median."""
    from numbaconv._bench_report import add_derived, direct_macs, summary
    row = _bench.bench_cell(_bench.Cell(1, 2000, 31, "float64", "full"), repeat=1,
                            max_time=0.05, methods=True)
    assert row["agree"] and row["t_direct_alone"] > 0 and row["methods"]["direct"] > 0
    add_derived(row, {"float64": 100.0})
    flops = 2.0 * direct_macs((2000,), (31,), "full")
    t_best = min(row["t_direct_alone"], row["methods"]["direct"])
    assert row["gflops_direct"] == pytest.approx(flops / t_best / 1e9)
    assert row["gflops_direct_round_robin"] == pytest.approx(
        flops / row["methods"]["direct"] / 1e9)
    assert row["peak_fraction_direct"] == pytest.approx(row["gflops_direct"] / 100.0)
    table = summary([row], {"float64": 100.0})
    assert "in the round-robin" in table and f"{row['gflops_direct']:.1f}" in table
    small = _bench.bench_cell(_bench.Cell(1, 2000, 7, "float64", "full"), repeat=1,
                              max_time=0.05, methods=True)
    assert "t_direct_alone" not in small
