"""``numbaconv bench --device cuda``: the GPU benchmark (hook, to be filled in).

:func:`numbaconv._bench.main` calls :func:`bench_cuda` with the parsed
command-line namespace when ``--device cuda`` is given and returns what it
returns as the exit status.  The namespace has the same fields as for the CPU
run: ``quick``, ``tiny``, ``json``, ``plot``, ``peers``, ``dtype``, ``dim``,
``mode``, ``separable``, ``repeat``, ``max_time``, ``workers``.

Reusable pieces live in :mod:`numbaconv._bench`: ``build_grid`` (cells),
``make_inputs`` (reproducible host arrays), ``measure`` (warm-up + median;
synchronise the device inside the timed callable), ``tolerance`` and
``compare`` (check against ``scipy.signal`` on the host), ``print_table`` and
``write_plot`` (take the same row dicts as the CPU run).
"""
from __future__ import annotations

import sys


def bench_cuda(args) -> int:
    """Run the CUDA benchmark described by ``args``; return the exit status."""
    print("numbaconv bench --device cuda: the CUDA benchmark is not implemented yet",
          file=sys.stderr)
    return 2
