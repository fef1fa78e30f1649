"""The tools tier: benchmarks, calibration and what they share.

These modules import the library; nothing in the library imports them
(``numbaconv.calibrate`` and ``numbaconv.cli`` are the entry points).

* ``bench`` -- ``numbaconv bench``: the grid timed against SciPy, checked, tabled, plotted
* ``report`` -- ``bench --methods``: every method, the FMA peak, regret summaries
* ``bench_cuda`` -- ``bench --device cuda``: the GPU backends against CuPy and PyTorch
* ``bench_nn`` -- ``bench --nn``: numbaconv.nn's layers against torch (or im2col + matmul)
* ``gpu_check`` -- ``numbaconv gpu-check``: tests, bench and verdict on a GPU, one report
* ``calibrate`` / ``calibrate_cuda`` -- time problems, solve the backends' cost formulas
* ``timing`` -- ``measure`` and ``interleaved`` on :mod:`numbaconv._timing`'s primitives
* ``formatting`` -- the one time formatter
* ``tolerance`` / ``checks`` -- the one tolerance table, applied to a benchmark cell
* ``grids`` / ``peers`` -- the grids and other libraries' convolutions (asv uses them too)
* ``machine`` -- CPU model and instruction set, GPU name, versions
"""
