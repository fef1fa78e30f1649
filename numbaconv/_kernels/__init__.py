"""Numba building blocks shared by the CPU backends.

* :mod:`.simd` -- vector intrinsics (register-resident accumulator blocks);
* :mod:`.blocks` -- register blocks, window loads and edge loops of the
  direct kernels, and what they cost beyond the multiply-add rate;
* :mod:`.layout` -- work items, thread thresholds, work dtype, boundary padding.
"""
