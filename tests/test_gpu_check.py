"""``numbaconv gpu-check`` without a GPU: the refusal, the time box and the report.

The steps themselves need a GPU; here their runner is faked (a step
function, or :func:`numbaconv._tools.gpu_check.run_command`), so that the
report's content is checked: every step, the verdict lines, and a failing
step reported as failed.
"""
from __future__ import annotations

import json
import sys
import time

import pytest

from numbaconv import _gpu, cli
from numbaconv._tools import gpu_check
from numbaconv._tools.gpu_check import Step


# --------------------------------------------------------------------------
# refusal: never the simulator, never without a GPU
# --------------------------------------------------------------------------

def test_refuses_in_the_simulator(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("NUMBA_ENABLE_CUDASIM", "1")
    monkeypatch.setattr(gpu_check, "run", lambda *a, **kw: pytest.fail("a step ran"))
    out = tmp_path / "report.md"
    assert cli.main(["gpu-check", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "NUMBA_ENABLE_CUDASIM=1 is set" in err and "never in Numba's simulator" in err
    assert not out.exists()


def test_refuses_without_a_gpu(monkeypatch, tmp_path, capsys):
    monkeypatch.delenv("NUMBA_ENABLE_CUDASIM", raising=False)
    monkeypatch.setattr(_gpu, "simulator", lambda: False)
    monkeypatch.setattr(_gpu, "available", lambda: False)
    monkeypatch.setattr(gpu_check, "run", lambda *a, **kw: pytest.fail("a step ran"))
    out = tmp_path / "report.md"
    assert cli.main(["gpu-check", "--quick", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "no CUDA GPU is available" in err and "no report was written" in err
    assert not out.exists()


def test_cli_forwards_to_the_check(monkeypatch, tmp_path):
    seen = []
    monkeypatch.setattr(gpu_check, "refusal", lambda: None)
    monkeypatch.setattr(gpu_check, "run", lambda out, quick: seen.append((out, quick)) or 0)
    assert cli.main(["gpu-check", "--quick", "--out", str(tmp_path / "r.md")]) == 0
    assert seen == [(str(tmp_path / "r.md"), True)]
    assert cli.build_parser().parse_args(["gpu-check"]).out == "gpu-check.md"


# --------------------------------------------------------------------------
# the report, with faked steps
# --------------------------------------------------------------------------

def bench_row(impl, k, t, of_copy=0.8, ok=True):
    return {"cell": f"8192x8192 * {k}x{k} float32", "impl": impl, "ndim": 2, "n": 8192, "k": k,
            "dtype": "float32", "time": t, "first_call": 1.0, "ok": ok, "reason": "",
            "max_abs_err": 1e-6, "bandwidth": of_copy * 3e12, "copy_bandwidth": 3e12,
            "of_copy": of_copy}


BENCH = {
    "device": "Fake H100",
    "copy_bandwidth": {"268435456": 3e12},
    "skipped": {},
    "rows": [
        # 3x3: passes every bar
        bench_row("numbaconv.auto", 3, 1e-4, 0.85), bench_row("cupyx.direct", 3, 2e-3),
        bench_row("torch.conv", 3, 3e-4),
        # 5x5: below the bandwidth bar
        bench_row("numbaconv.auto", 5, 1e-4, 0.5), bench_row("cupyx.direct", 5, 2e-3),
        bench_row("torch.conv", 5, 3e-4),
        # 7x7: fast, but cuDNN was not measured
        bench_row("numbaconv.auto", 7, 1e-4, 0.75), bench_row("cupyx.direct", 7, 2e-3),
    ],
}


def fake_steps(record):
    def machine(ctx):
        record.append(("machine", ctx.timeout))
        ctx.facts.update({"gpu": "Fake H100", "nvidia driver": "999.1",
                          "memory": "unknown (CudaSupportError: at init:\n\nno | driver)"})
        return Step("machine", "passed", 1.0, "Fake H100")

    def bench(ctx):
        record.append(("bench", ctx.timeout))
        return Step("bench", "passed", 2.0, "8 rows", "the bench table", BENCH)

    def tests(ctx):
        record.append(("CUDA tests", ctx.timeout))
        return Step("CUDA tests", "failed", 3.0, "2 failed, 300 passed (exit status 1)",
                    "FAILED tests/test_cuda.py::test_1d")

    def ptx(ctx):
        record.append(("PTX check", ctx.timeout))
        raise RuntimeError("NVVM exploded")

    return (("machine", machine, 10.0), ("bench", bench, 10.0), ("CUDA tests", tests, 10.0),
            ("PTX check", ptx, 10.0))


def test_report_has_every_step_and_the_verdicts(tmp_path, capsys):
    record = []
    out = tmp_path / "gpu-check.md"
    status = gpu_check.run(str(out), steps=fake_steps(record), budget=100.0)
    assert status == 1                           # a step failed
    assert [name for name, _ in record] == ["machine", "bench", "CUDA tests", "PTX check"]
    # unused time passes on: the first step may use all but the later steps' reservations
    assert record[0][1] == pytest.approx(70.0, abs=1.0)
    report = out.read_text()
    for name in ("machine", "bench", "CUDA tests", "PTX check"):
        assert f"| {name} |" in report and f"## {name}: " in report
    assert "| CUDA tests | **failed** |" in report and "2 failed, 300 passed" in report
    assert "FAILED tests/test_cuda.py::test_1d" in report
    assert "| PTX check | **error** |" in report and "RuntimeError: NVVM exploded" in report
    assert "| nvidia driver | 999.1 |" in report
    assert "| memory | unknown (CudaSupportError: at init: no \\| driver) |" in report  # one row
    verdict = [line for line in report.splitlines() if "float32 'same'" in line]
    assert len(verdict) == 3, verdict
    assert verdict[0].startswith("- **PASS** 8192² 3×3") and "85% of the copy" in verdict[0]
    assert verdict[1].startswith("- **FAIL** 8192² 5×5") and "below the bandwidth bar" in verdict[1]
    assert verdict[2].startswith("- **OPEN** 8192² 7×7") and "cuDNN not measured" in verdict[2]
    assert "- **FAIL** overall" in report
    assert "FAIL 8192² 5×5" in capsys.readouterr().out


def test_all_passing_steps_exit_zero(tmp_path):
    def ok(name):
        return name, lambda ctx: Step(name, "passed", 0.0, "fine", data=BENCH), 1.0
    out = tmp_path / "r.md"
    assert gpu_check.run(str(out), steps=[ok("machine"), ok("bench")], budget=10.0) == 0
    assert "| bench | **passed** |" in out.read_text()


def test_a_step_past_the_time_box_is_not_run(tmp_path):
    def slow(ctx):
        time.sleep(0.3)
        return Step("slow", "passed", 0.3, "done")

    def never(ctx):
        pytest.fail("ran without time left")
    out = tmp_path / "r.md"
    steps = [("slow", slow, 0.0), ("late", never, 0.0)]
    assert gpu_check.run(str(out), steps=steps, budget=1.2) == 1
    report = out.read_text()
    assert "| late | **not run** |" in report and "no time left" in report
    assert "**OPEN** overall: the hardware figures are still open" in report


def test_verdict_without_the_full_grid_is_open():
    lines = gpu_check.verdicts({"rows": [], "skipped": {}})
    assert [status for _, status, _ in lines] == ["OPEN"] * 3
    wrong = {"rows": [bench_row("numbaconv.auto", 3, 1e-4, 0.9, ok=False)]}
    assert gpu_check.verdicts(wrong)[0][1] == "FAIL"


# --------------------------------------------------------------------------
# the real steps with a faked command runner
# --------------------------------------------------------------------------

def ctx(tmp_path, timeout=30.0, quick=False):
    return gpu_check.Context(timeout, quick, str(tmp_path), {})


def test_cuda_tests_step_runs_pytest_without_the_simulator(monkeypatch, tmp_path):
    seen = []

    def fake(cmd, timeout, cwd=None):
        seen.append((cmd, cwd))
        return 1, "F....\nFAILED tests/test_cuda.py::test_1d - boom\n1 failed, 4 passed in 2.0s\n"
    monkeypatch.setattr(gpu_check, "run_command", fake)
    step = gpu_check.step_cuda_tests(ctx(tmp_path))
    assert step.status == "failed" and step.data == {"failed": 1, "passed": 4}
    assert "FAILED tests/test_cuda.py::test_1d" in step.details
    cmd, cwd = seen[0]
    assert cmd[1:3] == ["-m", "pytest"] and "tests/test_cuda.py" in cmd
    assert cwd == str(gpu_check.repository())


@pytest.mark.parametrize("rc, output, status", [
    (0, "....\n4 passed in 1.0s\n", "passed"),
    (0, "s\n1 skipped in 0.1s\n", "failed"),          # nothing ran on the GPU
    (None, "....F [ 50%]\n..", "timed out"),
])
def test_pytest_step_outcomes(monkeypatch, tmp_path, rc, output, status):
    monkeypatch.setattr(gpu_check, "run_command", lambda cmd, timeout, cwd=None: (rc, output))
    step = gpu_check.step_cuda_tests(ctx(tmp_path))
    assert step.status == status
    if rc is None:      # what ran before the time limit, from pytest's progress characters
        assert step.data == {"run": 7, "failed": 1} and "7 run, 1 failed" in step.summary


def test_tests_missing_from_the_install_are_named(monkeypatch, tmp_path):
    monkeypatch.setattr(gpu_check, "repository", lambda: None)
    monkeypatch.setattr(gpu_check, "run_command", lambda *a, **kw: pytest.fail("ran"))
    step = gpu_check.step_cuda_tests(ctx(tmp_path))
    assert step.status == "not run" and "installed without its tests" in step.summary


def test_bench_step_reads_the_rows_of_a_run_cut_short(monkeypatch, tmp_path):
    def fake(cmd, timeout, cwd=None):
        assert cmd[1:6] == ["-m", "numbaconv.cli", "bench", "--device", "cuda"]
        with open(cmd[cmd.index("--json") + 1], "w") as fh:
            json.dump({**BENCH, "rows": BENCH["rows"][:2]}, fh)
        return None, "partial output"
    monkeypatch.setattr(gpu_check, "run_command", fake)
    step = gpu_check.step_bench(ctx(tmp_path))
    assert step.status == "timed out" and "2 rows" in step.summary
    assert "| 8192x8192 * 3x3 float32 | cupyx.direct |" in step.details
    assert gpu_check.verdicts(step.data)[0][1] == "OPEN"      # cuDNN missing


def test_run_command_turns_the_simulator_off_and_times_out():
    code = "import os; print(os.environ['NUMBA_ENABLE_CUDASIM'])"
    assert gpu_check.run_command([sys.executable, "-c", code], 30) == (0, "0\n")
    t0 = time.perf_counter()
    rc, _ = gpu_check.run_command([sys.executable, "-c", "import time; time.sleep(30)"], 0.5)
    assert rc is None and time.perf_counter() - t0 < 10


def test_machine_step_runs_in_a_subprocess(tmp_path):
    context = ctx(tmp_path, timeout=120)
    step = gpu_check.step_machine(context)
    assert step.status == "passed", step.details
    assert {"gpu", "cuda driver api", "numba", "cupy", "torch"} <= set(context.facts)


@pytest.mark.skipif(_gpu.driver_present(), reason="a GPU here: the real bench would run")
def test_bench_step_reports_the_refusal_of_a_machine_without_a_gpu(tmp_path):
    step = gpu_check.step_bench(ctx(tmp_path, timeout=120))
    assert step.status == "failed" and "exit status 2" in step.summary
    assert "no CUDA GPU is available" in step.details
