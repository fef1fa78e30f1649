"""``numbaconv gpu-check``: what a GPU lent for a few minutes must answer, in one report.

On a machine with a CUDA GPU (never Numba's simulator: with
``NUMBA_ENABLE_CUDASIM`` set, or without a usable GPU, it refuses with exit
status 2 and runs nothing) it runs, each step in a subprocess with a time
limit, all within :data:`BUDGET` seconds:

1. **machine**: GPU name, compute capability, driver and CUDA versions, the
   versions of numba-cuda, CuPy and torch (and whether they reach the GPU);
2. **bench**: ``numbaconv bench --device cuda``: effective bandwidth against
   the measured device copy bandwidth, and the comparisons with
   ``cupyx.scipy.signal`` and torch (cuDNN);
3. **CUDA tests**: ``pytest tests/test_cuda.py`` with
   ``NUMBA_ENABLE_CUDASIM=0``, from the repository checkout numbaconv is
   imported from;
4. **PTX check**: ``pytest tests/test_cuda_ptx.py`` (only sm_90 without
   pytest-xdist or with ``--quick``).

It writes one markdown report (default ``gpu-check.md``), rewritten after
every step so that a session cut short keeps what was done: the machine,
each step's outcome and tables, and the verdict lines of issue 17 (2-D
float32 ``'same'`` 8192² with 3×3, 5×5 and 7×7 kernels at
:data:`BANDWIDTH_BAR` of the copy bandwidth or more, and faster than
``cupyx.scipy.signal.convolve2d`` and cuDNN).  The exit status is 0 when
every step passed, 1 otherwise (the verdict is the report's), 2 when it
refused.
"""
from __future__ import annotations

import dataclasses
import datetime
import importlib.util
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

from .formatting import percent, seconds
from .machine import gpu_library, gpu_name, gpu_unusable

#: the whole check's time box, seconds (a GPU is lent for 15 minutes, start-up included)
BUDGET = 570.0
#: issue 17's bar: 2-D float32 'same' at this share of the device copy bandwidth or more
BANDWIDTH_BAR = 0.70
#: the verdict's cells: image side and kernel sides
VERDICT_SIDE = 8192
VERDICT_KERNELS = (3, 5, 7)
#: the numbaconv row the verdict judges: the default call, as users make it
VERDICT_IMPL = "numbaconv.auto"
#: the peers it must beat: bench implementation name -> what the report calls it
VERDICT_PEERS = {"cupyx.direct": "cupyx.scipy.signal.convolve2d", "torch.conv": "cuDNN"}
#: lines of a step's output kept in the report
TAIL_LINES = 60
JSON_MARK = "GPU-CHECK-JSON "


@dataclasses.dataclass
class Step:
    """One step's outcome: ``status`` is 'passed', 'failed', 'timed out', 'not run' or 'error'."""

    name: str
    status: str
    seconds: float
    summary: str
    details: str = ""
    data: dict = dataclasses.field(default_factory=dict)


@dataclasses.dataclass
class Context:
    """What a step is given: its time limit, the grid, a scratch folder, the machine's facts."""

    timeout: float
    quick: bool
    workdir: str
    facts: dict


def refusal() -> str | None:
    """Why the check cannot run here (the simulator, no GPU), or ``None``."""
    flag = os.environ.get("NUMBA_ENABLE_CUDASIM", "")
    if flag not in ("", "0"):
        return (f"NUMBA_ENABLE_CUDASIM={flag} is set: the check runs on a real GPU, never in "
                "Numba's simulator (unset it)")
    return gpu_unusable()


def run_command(cmd, timeout: float, cwd=None):
    """Run ``cmd`` with the simulator off; return ``(exit status or None if timed out, output)``.

    The command gets a process group of its own, killed whole at the time
    limit (pytest-xdist's workers included).
    """
    env = {**os.environ, "NUMBA_ENABLE_CUDASIM": "0", "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        out, _ = proc.communicate(timeout=max(timeout, 0.1))
        return proc.returncode, out
    except subprocess.TimeoutExpired:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except (AttributeError, OSError):   # no process groups (Windows), or gone already
            proc.kill()
        out, _ = proc.communicate()
        return None, out


def _tail(text: str, lines: int = TAIL_LINES) -> str:
    kept = (text or "").rstrip().splitlines()[-lines:]
    return "```\n" + "\n".join(kept) + "\n```" if kept else "(no output)"


def _cell(text, limit: int = 300) -> str:
    """``text`` on one line, fit for a markdown table cell (driver errors span lines)."""
    flat = " ".join(str(text).split()).replace("|", "\\|")
    return flat if len(flat) <= limit else flat[:limit - 3] + "..."


def repository() -> Path | None:
    """The source checkout numbaconv is imported from, when it holds ``tests/test_cuda.py``."""
    import numbaconv
    root = Path(numbaconv.__file__).resolve().parent.parent
    return root if (root / "tests" / "test_cuda.py").is_file() else None


# --------------------------------------------------------------------------
# the steps
# --------------------------------------------------------------------------

def machine_facts() -> dict:
    """The GPU, its driver and CUDA versions, and the GPU libraries' versions (imports them)."""
    from importlib.metadata import version

    from .. import _gpu
    facts = {}

    def put(key, fn):
        try:
            facts[key] = fn()
        except Exception as exc:  # noqa: BLE001 - a fact that cannot be had is reported as such
            facts[key] = _cell(f"unknown ({type(exc).__name__}: {exc})")

    cu = _gpu.cuda()
    put("gpu", gpu_name)
    put("compute capability", lambda: "sm_%d%d" % cu.get_current_device().compute_capability)
    put("memory", lambda: f"{cu.current_context().get_memory_info()[1] / 2**30:.1f} GiB")
    put("nvidia driver", lambda: subprocess.run(
        ["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
        capture_output=True, text=True, timeout=20, check=True).stdout.strip())
    put("cuda driver api", lambda: "%d.%d" % cu.cudadrv.driver.driver.get_version())
    put("cuda runtime (numba)", lambda: "%d.%d" % cu.runtime.get_version())
    put("numbaconv", lambda: version("numbaconv"))
    put("numbaconv commit", lambda: subprocess.run(
        ["git", "-C", str(repository()), "rev-parse", "--short", "HEAD"], capture_output=True,
        text=True, timeout=10, check=True).stdout.strip() if repository() else "not a checkout")
    put("numba", lambda: version("numba"))
    put("numba-cuda", lambda: version("numba-cuda"))
    for name in ("cupy", "torch"):
        mod, why = gpu_library(name)
        if mod is None:
            facts[name] = why
        elif name == "cupy":
            put("cupy", lambda: f"{mod.__version__} (CUDA runtime "
                                f"{mod.cuda.runtime.runtimeGetVersion()})")
        else:
            put("torch", lambda: f"{mod.__version__} (CUDA {mod.version.cuda}, cuDNN "
                                 f"{mod.backends.cudnn.version()})")
    put("python", lambda: sys.version.split()[0])
    return facts


def step_machine(ctx: Context) -> Step:
    code = ("import json; from numbaconv._tools.gpu_check import machine_facts, JSON_MARK; "
            "print(JSON_MARK + json.dumps(machine_facts()))")
    t0 = time.perf_counter()
    rc, out = run_command([sys.executable, "-c", code], ctx.timeout)
    took = time.perf_counter() - t0
    facts = next((json.loads(line[len(JSON_MARK):]) for line in out.splitlines()
                  if line.startswith(JSON_MARK)), None)
    if rc is None:
        return Step("machine", "timed out", took, f"no answer within {ctx.timeout:.0f} s",
                    _tail(out))
    if rc != 0 or facts is None:
        return Step("machine", "failed", took, f"exit status {rc}", _tail(out))
    ctx.facts.update(facts)
    return Step("machine", "passed", took, f"{facts.get('gpu')}, {facts.get('compute capability')}",
                data={"facts": facts})


def _pytest_counts(out: str) -> dict:
    """``{'passed': 12, 'failed': 1, ...}`` from pytest's last summary line."""
    counts = {}
    for line in reversed((out or "").splitlines()):
        found = re.findall(r"(\d+) (passed|failed|skipped|errors?|xfailed|xpassed|deselected)",
                           line)
        if found:
            for n, what in found:
                counts["error" if what.startswith("error") else what] = int(n)
            return counts
    # no summary (stopped at the time limit): count the progress characters of -q
    progress = "".join(line.split("[")[0].strip() for line in (out or "").splitlines()
                       if re.fullmatch(r"[.FEsxX]+\s*(\[\s*\d+%\])?", line.strip()))
    if progress:
        counts = {"run": len(progress), "failed": progress.count("F") + progress.count("E")}
    return counts


def _pytest_step(name, ctx, test_file, extra=()) -> Step:
    """``pytest`` on one test file of the checkout, the simulator off, in a subprocess."""
    repo = repository()
    if repo is None:
        import numbaconv
        where = Path(numbaconv.__file__).resolve().parent
        return Step(name, "not run", 0.0,
                    f"numbaconv is installed without its tests ({where}): run the check from "
                    "a source checkout installed with pip install -e '.[cuda,test]'")
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rfEs",
           f"tests/{test_file}", *extra]
    t0 = time.perf_counter()
    rc, out = run_command(cmd, ctx.timeout, cwd=str(repo))
    took = time.perf_counter() - t0
    counts = _pytest_counts(out)
    summary = ", ".join(f"{n} {k}" for k, n in counts.items()) or "no summary line"
    command = f"`python {' '.join(cmd[1:])}` in {repo}"
    if rc is None:
        return Step(name, "timed out", took, f"stopped after {ctx.timeout:.0f} s ({summary} "
                    "when stopped)", f"{command}\n\n{_tail(out)}", counts)
    ok = rc == 0 and counts.get("passed", 0) > 0    # all skipped: nothing ran on the GPU
    return Step(name, "passed" if ok else "failed", took, f"{summary} (exit status {rc})",
                f"{command}\n\n{_tail(out)}", counts)


def _xdist(ctx) -> list:
    if importlib.util.find_spec("xdist") is None:
        return []
    return ["-n", str(max(1, min(8, (os.cpu_count() or 2) // 2)))]


def step_cuda_tests(ctx: Context) -> Step:
    return _pytest_step("CUDA tests", ctx, "test_cuda.py", _xdist(ctx))


def step_ptx(ctx: Context) -> Step:
    if importlib.util.find_spec("numba_cuda") is None:
        return Step("PTX check", "not run", 0.0, "numba-cuda is not installed (the cuda extra)")
    workers = _xdist(ctx)
    # one architecture where a single process would take minutes (about 0.5 s per variant)
    only = [] if workers and not ctx.quick else ["-k", "not sm_80"]
    return _pytest_step("PTX check", ctx, "test_cuda_ptx.py", workers + only)


def step_bench(ctx: Context) -> Step:
    js = os.path.join(ctx.workdir, "bench-cuda.json")
    cmd = [sys.executable, "-m", "numbaconv.cli", "bench", "--device", "cuda", "--json", js]
    cmd += ["--quick"] if ctx.quick else []
    t0 = time.perf_counter()
    rc, out = run_command(cmd, ctx.timeout)
    took = time.perf_counter() - t0
    try:
        with open(js) as fh:
            data = json.load(fh)
    except (OSError, ValueError):
        data = {}
    rows = data.get("rows", [])
    bad = [r for r in rows if not r.get("ok")]
    summary = f"{len(rows)} rows, {len(bad)} with an error or a wrong result"
    if data.get("skipped"):
        summary += f", {len(data['skipped'])} peers absent"
    status = {0: "passed", None: "timed out"}.get(rc, "failed")
    if rc is None:
        summary = f"stopped after {ctx.timeout:.0f} s: {summary} measured before"
    elif rc not in (0, 1):
        summary += f" (exit status {rc})"
    return Step("bench", status, took, summary,
                f"`numbaconv bench --device cuda{' --quick' if ctx.quick else ''}`\n\n"
                + _bench_table(data) + "\n\nOutput:\n\n" + _tail(out, 30), data)


STEPS = (("machine", step_machine, 45.0), ("bench", step_bench, 210.0),
         ("CUDA tests", step_cuda_tests, 240.0), ("PTX check", step_ptx, 75.0))


# --------------------------------------------------------------------------
# the verdict and the report
# --------------------------------------------------------------------------

def _bench_table(data: dict) -> str:
    rows = data.get("rows", [])
    lines = []
    for nbytes, bw in sorted((data.get("copy_bandwidth") or {}).items(), key=lambda x: int(x[0])):
        lines.append(f"Device copy bandwidth ({int(nbytes) / 2**20:.0f} MiB): {bw / 1e9:.0f} GB/s")
    for impl, why in (data.get("skipped") or {}).items():
        lines.append(f"{impl}: skipped ({why})")
    if not rows:
        return "\n\n".join(lines + ["(no rows measured)"])
    table = ["| cell | implementation | time | GB/s | of copy | first call | check |",
             "|---|---|---:|---:|---:|---:|---|"]
    for r in rows:
        if r.get("time") is None:
            table.append(f"| {r['cell']} | {r['impl']} | - | - | - | - | "
                         f"ERROR {_cell(r.get('error'))} |")
            continue
        check = "ok" if r.get("ok") else f"MISMATCH {_cell(r.get('reason'))}"
        table.append(f"| {r['cell']} | {r['impl']} | {seconds(r['time'])} | "
                     f"{r['bandwidth'] / 1e9:.0f} | {percent(r['of_copy'])} | "
                     f"{seconds(r.get('first_call'))} | {check} |")
    return "\n\n".join(lines + ["\n".join(table)])


def verdicts(data: dict) -> list:
    """Issue 17's verdict per kernel side: ``(label, 'PASS' | 'FAIL' | 'OPEN', why)``."""
    rows = data.get("rows", [])
    skipped = data.get("skipped") or {}
    out = []
    for k in VERDICT_KERNELS:
        label = f"{VERDICT_SIDE}² {k}×{k} float32 'same'"
        cell = {r["impl"]: r for r in rows if r.get("ndim") == 2 and r.get("n") == VERDICT_SIDE
                and r.get("k") == k and r.get("dtype") == "float32"}
        ours = cell.get(VERDICT_IMPL)
        if ours is None or ours.get("time") is None:
            why = "not measured" if ours is None else f"{VERDICT_IMPL} failed: {ours.get('error')}"
            out.append((label, "OPEN" if ours is None else "FAIL", why))
            continue
        fails, opens, notes = [], [], []
        if not ours.get("ok"):
            fails.append(f"wrong result ({ours.get('reason')})")
        share = ours["of_copy"]
        notes.append(f"{VERDICT_IMPL} {seconds(ours['time'])} = {percent(share)} of the copy "
                     f"bandwidth (bar {percent(BANDWIDTH_BAR)})")
        if share < BANDWIDTH_BAR:
            fails.append("below the bandwidth bar")
        for impl, name in VERDICT_PEERS.items():
            peer = cell.get(impl)
            if peer is None or peer.get("time") is None:
                why = skipped.get(impl) or (peer or {}).get("error")
                opens.append(f"{name} not measured" + (f" ({why})" if why else ""))
            elif ours["time"] < peer["time"]:
                notes.append(f"faster than {name} ({seconds(peer['time'])})")
            else:
                fails.append(f"not faster than {name} ({seconds(peer['time'])})")
        status = "FAIL" if fails else ("OPEN" if opens else "PASS")
        out.append((label, status, "; ".join(notes + fails + opens)))
    return out


def write_report(path, steps, planned, facts, verdict_lines, started, quick, final=True):
    """Write the markdown report: verdict, machine, steps table, each step's details."""
    now = datetime.datetime.now(datetime.timezone.utc)
    done = {s.name for s in steps}
    overall = ("PASS" if verdict_lines and all(v[1] == "PASS" for v in verdict_lines) else
               "FAIL" if any(v[1] == "FAIL" for v in verdict_lines) else "OPEN")
    lines = ["# numbaconv GPU check", "",
             f"- {started:%Y-%m-%d %H:%M} UTC, `numbaconv gpu-check{' --quick' if quick else ''}`, "
             f"{(now - started).total_seconds():.0f} s of a {BUDGET:.0f} s time box"
             + ("" if final else " (still running: this report is rewritten after every step)"),
             f"- GPU: {facts.get('gpu', 'unknown')}", "",
             "## Verdict (issue 17: >= 70% of copy bandwidth, faster than "
             "cupyx.scipy.signal.convolve2d and cuDNN)", ""]
    lines += [f"- **{status}** {label}: {why}" for label, status, why in verdict_lines]
    if quick:
        lines.append("- the --quick grid stops at 2048²: the verdict needs the full run")
    lines += [f"- **{overall}** overall" + ("" if overall != "OPEN" else
              ": the hardware figures are still open"), "", "## Machine", "",
              "| | |", "|---|---|"]
    lines += [f"| {key} | {_cell(value)} |" for key, value in facts.items()] or ["| (unknown) | |"]
    lines += ["", "## Steps", "", "| step | outcome | time | summary |", "|---|---|---:|---|"]
    lines += [f"| {s.name} | **{s.status}** | {s.seconds:.0f} s | {_cell(s.summary)} |"
              for s in steps]
    lines += [f"| {name} | **not reached** | - | the check stopped before it |"
              for name in planned if name not in done]
    for s in steps:
        lines += ["", f"## {s.name}: {s.status}", "", s.summary]
        if s.details:
            lines += ["", s.details]
    Path(path).write_text("\n".join(lines) + "\n", encoding="utf-8")


def run(out="gpu-check.md", quick=False, steps=STEPS, budget=BUDGET) -> int:
    """Run ``steps`` within ``budget`` seconds, writing the report to ``out``; the exit status.

    ``steps`` is a sequence of ``(name, step(ctx) -> Step, seconds reserved)``;
    a step gets its reservation plus what the earlier steps left unused.
    """
    started = datetime.datetime.now(datetime.timezone.utc)
    deadline = time.monotonic() + budget
    facts, results, bench = {}, [], {}
    planned = [name for name, _, _ in steps]
    with tempfile.TemporaryDirectory(prefix="numbaconv-gpu-check-") as workdir:
        for i, (name, fn, _) in enumerate(steps):
            later = sum(cap for _, _, cap in steps[i + 1:])
            timeout = deadline - time.monotonic() - later
            print(f"[gpu-check] {name} (up to {max(timeout, 0):.0f} s)", flush=True)
            if timeout <= 1:
                result = Step(name, "not run", 0.0, "no time left in the time box")
            else:
                t0 = time.perf_counter()
                try:
                    result = fn(Context(timeout, quick, workdir, facts))
                except Exception as exc:  # noqa: BLE001 - a broken step is reported, not fatal
                    result = Step(name, "error", time.perf_counter() - t0,
                                  f"{type(exc).__name__}: {exc}",
                                  _tail(traceback.format_exc()))
            results.append(result)
            if name == "bench":
                bench = result.data
            print(f"[gpu-check] {name}: {result.status}: {result.summary}", flush=True)
            write_report(out, results, planned, facts, verdicts(bench), started, quick,
                         final=False)
    lines = verdicts(bench)
    write_report(out, results, planned, facts, lines, started, quick)
    for label, status, why in lines:
        print(f"{status} {label}: {why}")
    print(f"report: {os.path.abspath(out)}")
    return 0 if all(r.status == "passed" for r in results) else 1


def main(out="gpu-check.md", quick=False) -> int:
    """``numbaconv gpu-check``: refuse (status 2) without a real GPU, else :func:`run`."""
    why = refusal()
    if why:
        print(f"numbaconv gpu-check: {why}. Nothing was run and no report was written.",
              file=sys.stderr)
        return 2
    return run(out, quick)
