"""Loaded by pytest before anything else (repository root).

Numba reads ``NUMBA_ENABLE_CUDASIM`` once, when it is first imported, so the
switch to the CUDA simulator must happen here, before any test module, any
doctest of numbaconv or any pytest option imports numba.
"""
import ctypes.util
import os

if "NUMBA_ENABLE_CUDASIM" not in os.environ and ctypes.util.find_library("cuda") is None:
    # no CUDA driver: the GPU tests run in Numba's simulator
    os.environ["NUMBA_ENABLE_CUDASIM"] = "1"
