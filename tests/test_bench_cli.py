"""Tests of the tools tier: ``numbaconv bench`` / ``info`` / ``calibrate``, its timers,
formatter and peers, and the asv suites.

The benchmarks run on the hidden ``--tiny`` grid (signals of at most 1000
samples, images of at most 32x32), so the cost is the JIT compile.
"""
from __future__ import annotations

import json
import os
import sys

import numpy as np
import pytest

from numbaconv import _api, cli
from numbaconv._tools import bench as _bench
from numbaconv._tools import grids, peers, timing
from numbaconv._tools.formatting import seconds
from numbaconv._tools.tolerance import compare

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
    real = _api.convolve

    def wrong(*args, **kwargs):
        return real(*args, **kwargs) + 1

    monkeypatch.setattr(_api, "convolve", wrong)
    js = tmp_path / "bad.json"
    status = _bench.main(["--quick", "--tiny", "--dim", "1", "--repeat", "1",
                          "--max-time", "0.1", "--json", str(js)])
    assert status == 1
    rows = json.loads(js.read_text())["rows"]
    assert rows and not any(r["agree"] for r in rows)
    assert all("allowed" in r["error"] for r in rows)


def test_bench_check_catches_a_dropped_tap():
    """The bench's allowance (the one tolerance table) passes SciPy's own FFT result and
    fails a result that lost one tap of the kernel."""
    from numbaconv._tools.checks import bound
    import scipy.signal
    a, kern = grids.inputs((2000,), (31,), "float32")
    ref = scipy.signal.convolve(a, kern, method="direct")
    allowed = bound(a, kern, "full", ref.dtype)
    assert compare(scipy.signal.convolve(a, kern, method="fft"), ref, allowed)["agree"]
    short = kern.copy()
    short[15] = 0
    check = compare(scipy.signal.convolve(a, short, method="direct"), ref, allowed)
    assert not check["agree"] and "allowed" in check["reason"]
    assert bound(a.astype(np.int32), kern.astype(np.int32), "full", np.int32) == 0.0


def test_measure_reports_median_and_first_call():
    calls = []
    t, out = timing.measure(lambda: calls.append(1) or 42, repeat=3, max_time=0.05)
    assert out == 42
    assert t.median > 0 and t.first_call >= 0
    assert len(t.samples) <= 3
    assert len(calls) >= 2 + len(t.samples)


def test_measure_batches_short_calls_to_min_sample():
    """Calls far shorter than a sample are batched so a sample lasts min_sample."""
    import time
    t, _ = timing.measure(lambda: time.sleep(1e-4), repeat=2, min_sample=5e-3, max_time=1.0)
    # a loaded machine stretches sleep(1e-4) past 1 ms, and the batch is sized before the
    # samples are taken: ask for batching and about min_sample, not exact figures
    assert t.number >= 2 and t.number * t.median >= 2.5e-3


def _spinner(seconds):
    """A thread that burns CPU for ``seconds`` (as a peer's pool does after a call)."""
    import threading
    import time

    started = threading.Event()

    def spin():
        started.set()
        end = time.perf_counter() + seconds
        while time.perf_counter() < end:
            pass

    thread = threading.Thread(target=spin)
    thread.start()
    started.wait()
    return thread


def test_quiesce_waits_for_spinning_threads():
    """A sample starts only once the process's other threads stop burning CPU, and the
    wait is bounded."""
    thread = _spinner(0.06)
    waited = timing.quiesce(step=2e-3, limit=1.0)
    thread.join()
    assert 0.05 <= waited < 0.5
    thread = _spinner(0.5)
    waited = timing.quiesce(step=2e-3, limit=0.05)
    thread.join()
    assert 0.05 <= waited < 0.3
    assert timing.quiesce(step=2e-3, limit=1.0) < 0.2     # idle: a step or a few


def test_batch_is_not_shrunk_by_one_slow_sample(monkeypatch):
    """A busy moment during the doubling (the 8-call sample at 1 ms a call) does not
    end it: the batch is sized on the fastest rate seen, 0.2 ms, so 32 calls for 5 ms."""
    from numbaconv import _timing

    per_call = {1: 2e-4, 2: 2e-4, 4: 2e-4, 8: 1e-3, 16: 2e-4, 32: 2e-4, 64: 2e-4}
    seen = []

    def fake_sample(fn, number):
        seen.append(number)
        return per_call[number]

    monkeypatch.setattr(_timing, "sample", fake_sample)
    number, est = _timing.batch(lambda: None, 5e-3)
    assert (number, est) == (32, 2e-4)
    assert seen == [1, 2, 4, 8, 16, 32]


@pytest.mark.parametrize("repeat", [2, 15])
def test_interleaved_keeps_min_rounds_past_the_budget(repeat, monkeypatch):
    """A budget far below one round still takes min(repeat, MIN_ROUNDS) rounds,
    and the median is over them: one slow sample among them does not decide it."""
    import itertools
    import time

    calls = {"slow": 0, "fast": 0}
    # 3 ms a call (one call per sample); the first round's timed call takes 50 ms
    durations = itertools.chain([0.003, 0.003, 0.003, 0.05], itertools.repeat(0.003))

    def slow():
        calls["slow"] += 1
        time.sleep(next(durations))

    def fast():
        calls["fast"] += 1
        time.sleep(0.003)

    monkeypatch.setattr(timing, "MIN_ROUNDS", 5)
    res = timing.interleaved({"slow": slow, "fast": fast}, repeat, max_time=1e-9)
    rounds = min(repeat, 5)
    # warm-up, one sizing call, then an untimed and a timed call a round
    assert calls["slow"] == calls["fast"] == 2 + 2 * rounds
    assert res["fast"] < 0.02
    if rounds >= 3:
        assert res["slow"] < 0.02     # the median ignores the one 50 ms sample


def test_cuda_hook_is_called(monkeypatch):
    from numbaconv._tools import bench_cuda

    seen = []
    monkeypatch.setattr(bench_cuda, "bench_cuda", lambda args: seen.append(args) or 0)
    assert _bench.main(["--device", "cuda", "--quick"]) == 0
    assert seen and seen[0].quick and seen[0].device == "cuda"


def test_cli_info(capsys):
    from numbaconv._tools import machine
    assert cli.main(["info"]) == 0
    out = capsys.readouterr().out
    assert "numba_threading_layer" in out and "cpu_direct" in out
    isa = [line.split() for line in out.splitlines() if line.startswith("isa ")]
    assert isa and " ".join(isa[0][1:]) == machine.isa() in ("AVX-512", "AVX2", "other")
    # the kernels' class, their vector and block bytes and the coefficient table in force
    from numbaconv._jit import target
    from numbaconv._kernels import simd
    rows = dict(line.split(None, 1) for line in out.splitlines() if line.strip()
                and not line.startswith(" ") and len(line.split(None, 1)) == 2)
    assert rows["kernel_isa"].startswith(target().isa + " (")
    assert rows["numba_target_cpu"] == target().cpu
    assert (int(rows["vector_bytes"]), int(rows["block_bytes"])) == (simd.VEC_BYTES,
                                                                     simd.BLOCK_BYTES)
    assert rows["coefficients"].startswith(("shipped ", "calibrated "))


def test_isa_names_the_widest_vector_set():
    from numbaconv._tools.machine import isa
    assert isa({"avx512f", "avx2", "fma"}) == "AVX-512"
    assert isa({"avx2", "fma", "sse4.2"}) == "AVX2"
    assert isa({"sse4.2"}) == isa(set()) == "other"


def test_one_time_formatter():
    assert [seconds(x) for x in (3e-8, 4.56e-5, 0.01234, 2.0)] == [
        "30 ns", "45.6 \u00b5s", "12.34 ms", "2.00 s"]
    assert seconds(None) == seconds(float("nan")) == "-"
    assert seconds("skipped: too slow") == "skip"


def test_peers_compute_what_scipy_does():
    """Every peer that can run a cell agrees with scipy.signal; the rest say why not."""
    import scipy.signal
    for shape_a, shape_k, mode in [((300,), (7,), "full"), ((24, 24), (5, 5), "same")]:
        a, kern = grids.inputs(shape_a, shape_k, "float64")
        ref = scipy.signal.convolve(a, kern, mode=mode, method="direct")
        ran = []
        for name in ["scipy.auto", "scipy.direct", "scipy.fft", "scipy.oaconvolve",
                     "scipy.convolve2d", *peers.OPTIONAL]:
            try:
                fn = peers.make(name, a, kern, mode)
            except peers.Skip as exc:
                assert str(exc)
                continue
            np.testing.assert_allclose(fn(), ref, rtol=1e-9, atol=1e-9)
            ran.append(name)
        assert {"scipy.auto", "scipy.fft", "scipy.oaconvolve"} <= set(ran)
        assert ("numpy.convolve" in ran) == (len(shape_a) == 1)
    with pytest.raises(peers.Skip, match="multiply-adds"):
        peers.make("numpy.convolve", np.ones(1000), np.ones(100), "full", max_direct_ops=1e4)


def test_grid_cells_and_inputs():
    cells = grids.build_grid("tiny")
    assert {c.ndim for c in cells} == {1, 2} and all(c.k <= c.n for c in cells)
    a, kern = grids.inputs((16, 16), (5, 5), "float32", separable=True)
    assert a.dtype == kern.dtype == np.float32
    sv = np.linalg.svd(kern.astype(np.float64), compute_uv=False)
    assert sv[1] < 1e-6 * sv[0]                 # rank 1 up to float32 rounding
    ints, _ = grids.inputs((50,), (3,), "int16")
    assert ints.dtype == np.int16


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
    peak = bc.Peak()
    peak.setup("float64")
    assert 0.1 < peak.track_direct_gflops("float64") < 1e4
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
        progress(1, 1, "overheads")
        return {"direct_overhead": 1e-5}

    monkeypatch.setattr(numbaconv, "calibrate", fake)
    assert cli.main(["calibrate", "--quick", "--no-save"]) == 0
    assert seen == [(True, False)]
    out, err = capsys.readouterr()
    assert "direct_overhead" in out and "saved" not in out
    assert "[1/1] overheads" in err and "in force: " in err


def test_cli_progress_bar_on_a_terminal(monkeypatch, capsys):
    """On a terminal the steps draw a rich bar (gone at the end), not one line each."""
    pytest.importorskip("rich")
    monkeypatch.setattr(cli, "_rich_terminal", lambda stream: True)
    with cli._progress_bar("calibrating") as progress:
        for done in (1, 2):
            progress(done, 2, f"step {done}")
    assert "[1/2]" not in capsys.readouterr().err


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


def test_the_one_multiply_add_count_excludes_edges():
    """The tools count multiply-adds with Problem.macs: 'full' edges do fewer, by brute force."""
    for n, k, mode in [(10, 3, "full"), (10, 3, "valid"), (7, 4, "same"), (3, 8, "full")]:
        full = [(i - (k - 1), i + 1) for i in range(n + k - 1)]
        start = {"full": 0, "same": (k - 1) // 2, "valid": k - 1}[mode]
        length = {"full": n + k - 1, "same": n, "valid": n - k + 1}[mode]
        brute = sum(max(0, min(hi, n) - max(lo, 0)) for lo, hi in full[start:start + length])
        assert peers.direct_ops(np.ones(n), np.ones(k), mode) == brute


def test_peer_timed_round_robin_with_auto():
    """A peer (numpy.convolve is always there for 1-D) is checked against SciPy and
    timed in one round-robin with numbaconv's auto: the row carries both times."""
    row = _bench.bench_cell(grids.Cell(1, 200, 5, "float64", "full"), repeat=1, max_time=0.05,
                            peers=True)
    info = row["peers"]["numpy.convolve"]
    assert info["agree"] is True and info["max_abs_err"] <= row["tol"]
    assert info["time"] > 0 and info["numbaconv_time"] > 0
    header, body = _bench._table_rows([row], ["numpy.convolve"])
    assert "(ours " in body[0][header.index("numpy.convolve")]


def test_peak_table_times_direct_alone():
    """A 1-D cell of >= 31 taps times direct on its own too; the GFLOP/s table shows both
    times and takes the faster median."""
    from numbaconv._tools.report import add_derived, summary
    row = _bench.bench_cell(grids.Cell(1, 2000, 31, "float64", "full"), repeat=1,
                            max_time=0.05, methods=True)
    assert row["agree"] and row["t_direct_alone"] > 0 and row["methods"]["direct"] > 0
    add_derived(row, {"float64": 100.0})
    flops = 2.0 * 2000 * 31          # 'full': every product of a sample and a tap, once
    t_best = min(row["t_direct_alone"], row["methods"]["direct"])
    assert row["gflops_direct"] == pytest.approx(flops / t_best / 1e9)
    assert row["gflops_direct_round_robin"] == pytest.approx(
        flops / row["methods"]["direct"] / 1e9)
    assert row["peak_fraction_direct"] == pytest.approx(row["gflops_direct"] / 100.0)
    table = summary([row], {"float64": 100.0})
    assert "in the round-robin" in table and f"{row['gflops_direct']:.1f}" in table
    small = _bench.bench_cell(grids.Cell(1, 2000, 7, "float64", "full"), repeat=1,
                              max_time=0.05, methods=True)
    assert "t_direct_alone" not in small


@pytest.mark.parametrize("separable", [False, True], ids=["random", "rank-1"])
def test_methods_of_a_2d_cell_time_separable_only_for_rank_1_kernels(separable):
    """A 2-D cell's methods round-robin times 'separable' where the kernel is rank 1 and
    skips it (with the reason) where it is not, instead of failing the whole row."""
    row = _bench.bench_cell(grids.Cell(2, 48, 5, "float64", "same", separable=separable),
                            repeat=1, max_time=0.05, methods=True)
    assert row["agree"] and not row.get("error"), row.get("error")
    assert all(row["methods"][m] > 0 for m in ("direct", "fft", "oa"))
    if separable:
        assert row["methods"]["separable"] > 0
    else:
        assert row["methods"]["separable"] == "skipped: the kernel is not rank 1"


def test_cli_info_in_a_fresh_process_gives_no_compile_notice():
    # its threading-layer probe compiles every time; the notice promises a cached, one-off compile
    import subprocess
    import sys
    code = "import sys, numbaconv.cli as c; sys.exit(c.main(['info']))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "numba_threading_layer" in done.stdout
    assert "compiling" not in done.stderr, done.stderr
