"""The ``numbaconv`` command: ``info``, ``bench``, ``calibrate``, ``warmup`` and ``gpu-check``.

``numbaconv bench ...`` hands every argument after ``bench`` to
:func:`numbaconv._tools.bench.main` (see ``numbaconv bench --help``).
"""
from __future__ import annotations

import argparse
import contextlib
import os
import sys


def _info() -> int:
    from ._config import get_workers
    from ._tools import machine
    from ._tools.peers import OPTIONAL

    env = machine.environment()
    env["numbaconv_workers"] = get_workers()
    # Numba only fixes its threading layer when a parallel kernel first runs.
    if env["numba_threading_layer"].startswith("not initialised"):
        try:
            import numba
            import numpy as np

            @numba.njit(parallel=True, cache=False)
            def _touch(x):
                s = 0.0
                for i in numba.prange(x.size):
                    s += x[i]
                return s

            from ._compile_notice import watch

            with watch():       # a probe compiled each time: no "stored in the cache" notice
                _touch(np.ones(8))
            env["numba_threading_layer"] = numba.threading_layer()
        except Exception as exc:  # noqa: BLE001
            env["numba_threading_layer"] += f" ({type(exc).__name__}: {exc})"
    from ._jit import LAYER_SAFETY

    layer = env["numba_threading_layer"]
    if layer in LAYER_SAFETY:
        env["numba_threading_layer"] = f"{layer} ({LAYER_SAFETY[layer]})"

    width = max(len(k) for k in env)
    for key, value in env.items():
        print(f"{key.ljust(width)}  {value}")

    print("backends:")
    try:
        from ._backends import REGISTRY
    except Exception as exc:  # noqa: BLE001
        print(f"  (registry not importable: {type(exc).__name__}: {exc})")
    else:
        for name, mod in REGISTRY.items():
            try:
                ok = bool(mod.available())
                why = "available" if ok else "unavailable"
            except Exception as exc:  # noqa: BLE001
                why = f"unavailable ({type(exc).__name__}: {exc})"
            print(f"  {name.ljust(width - 2)}  {why}")

    print("optional peers (numbaconv bench --peers):")
    for peer in OPTIONAL:
        try:
            m = __import__(peer.split(".")[0])
            print(f"  {peer.ljust(width - 2)}  {getattr(m, '__version__', 'installed')}")
        except Exception:  # noqa: BLE001
            print(f"  {peer.ljust(width - 2)}  not installed")
    env_vars = {k: v for k, v in os.environ.items() if k.startswith(("NUMBA_", "NUMBACONV_"))}
    if env_vars:
        print("environment variables:")
        for k, v in sorted(env_vars.items()):
            print(f"  {k}={v}")
    return 0


def _calibrate(args) -> int:
    """Fit the cost model with a progress bar (rich), or one line per step; print the table."""
    import json

    import numbaconv

    from ._coefficients import cache_path, source

    with _progress_bar("calibrating") as progress:
        coeffs = numbaconv.calibrate(quick=args.quick, save=not args.no_save, progress=progress)
    print(json.dumps(coeffs, indent=1))
    if not args.no_save:
        print(f"saved to {cache_path()}")
    print(f"in force: {source()}", file=sys.stderr)
    return 0


@contextlib.contextmanager
def _progress_bar(description, total=None):
    """Yield a ``progress(done, total, label)`` callback for a long command.

    On a terminal it draws a rich bar, which disappears at the end; elsewhere
    it prints one line per step to stderr.
    """
    if not _rich_terminal(sys.stderr):
        def lines(done, n, label):
            print(f"[{done}/{n}] {label}", file=sys.stderr, flush=True)
        yield lines
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task(description, total=total)
        yield lambda done, n, label: bar.update(task, completed=done, total=n, description=label)


def _csv(text):
    return [t.strip() for t in text.split(",") if t.strip()]


def _rich_terminal(stream) -> bool:
    """Whether ``stream`` is a terminal that rich may draw on (not under CI or NUMBACONV_PLAIN)."""
    import importlib.util
    if os.environ.get("CI") or os.environ.get("NUMBACONV_PLAIN") or not stream.isatty():
        return False
    return importlib.util.find_spec("rich") is not None


def _warmup(args) -> int:
    """Compile ahead with a progress bar (rich), or one line per call without rich or a terminal."""
    from ._warmup import plan, warmup

    try:
        ndims = [int(n) for n in _csv(args.ndims)]
        total = len(plan(_csv(args.dtypes), ndims, _csv(args.paths)))
    except (TypeError, ValueError) as exc:
        print(f"numbaconv warmup: {exc}", file=sys.stderr)
        return 2
    kwargs = dict(dtypes=_csv(args.dtypes), ndims=ndims, paths=_csv(args.paths))
    with _progress_bar("compiling", total) as progress:
        summary = warmup(**kwargs, progress=progress)
    for path, row in summary.items():
        state = f"{row['kernels']} kernel(s) compiled" if row["compiled"] else "nothing compiled"
        print(f"{path:<11} {row['seconds']:7.2f} s  {row['calls']} call(s), {state}")
        for why in row["skipped"]:
            print(f"  skipped: {why}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The parser of ``numbaconv`` (``bench`` parses its own arguments)."""
    parser = argparse.ArgumentParser(
        prog="numbaconv",
        description="numbaconv: Numba-accelerated drop-in for scipy.signal's convolutions.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.add_parser("info", help="print versions, CPU, Numba threading layer and backends")
    sub.add_parser("bench", add_help=False,
                   help="time numbaconv against scipy.signal, or numbaconv.nn against torch "
                        "with --nn (see 'numbaconv bench --help')")
    cal = sub.add_parser("calibrate", help="measure this machine and tune the 'auto' dispatcher")
    cal.add_argument("--quick", action="store_true", help="fewer, shorter measurements")
    cal.add_argument("--no-save", action="store_true",
                     help="print the coefficients without storing them")
    from ._warmup import DEFAULT_DTYPES, PATHS
    warm = sub.add_parser("warmup", help="compile the kernels ahead into Numba's cache "
                                         "(minutes once; first calls are then fast)")
    warm.add_argument("--dtypes", default=",".join(DEFAULT_DTYPES), metavar="LIST",
                      help="comma-separated dtypes (default: %(default)s)")
    warm.add_argument("--ndims", default="1,2,3", metavar="LIST",
                      help="comma-separated ranks among 1, 2, 3 (default: %(default)s)")
    warm.add_argument("--paths", default=",".join(PATHS), metavar="LIST",
                      help="comma-separated among " + ", ".join(PATHS) + " (default: all)")
    gpu = sub.add_parser("gpu-check",
                         help="on a CUDA GPU: its tests, the bandwidth table and the peer "
                              "comparisons in one report, within 10 minutes")
    gpu.add_argument("--out", metavar="FILE", default="gpu-check.md",
                     help="the markdown report (default: gpu-check.md)")
    gpu.add_argument("--quick", action="store_true",
                     help="the bench's quick grid (2048²: no verdict) and one PTX architecture")
    return parser


def main(argv=None) -> int:
    """Entry point of the ``numbaconv`` command; returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "bench":
        from ._tools import bench
        return bench.main(argv[1:])
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "info":
        return _info()
    if args.command == "calibrate":
        return _calibrate(args)
    if args.command == "warmup":
        return _warmup(args)
    if args.command == "gpu-check":
        from ._tools import gpu_check
        return gpu_check.main(args.out, args.quick)
    parser.print_help()
    return 0 if args.command is None and not argv else 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
