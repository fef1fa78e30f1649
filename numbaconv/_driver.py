"""Is an NVIDIA driver here?  Answered with the standard library only.

The test suite asks before Numba is imported (to choose Numba's CUDA
simulator when there is no driver), so this module imports nothing of
numbaconv's or Numba's; the suite loads it by its path.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import os

#: device nodes of the NVIDIA driver (Linux, and WSL's /dev/dxg)
DRIVER_NODES = ("/dev/nvidiactl", "/dev/nvidia0", "/dev/dxg")
#: the driver's library, opened by name where the linker's search path misses it
DRIVER_LIBRARIES = ("libcuda.so.1", "libcuda.so", "nvcuda.dll")


def driver_present() -> bool:
    """Cheap test for an NVIDIA driver (no CUDA import): its device node or library.

    ``ctypes.util.find_library`` misses drivers outside the linker's search
    path (containers that mount only ``libcuda.so.1``), so the library is
    also opened by name.
    """
    if any(os.path.exists(node) for node in DRIVER_NODES):
        return True
    if ctypes.util.find_library("cuda") is not None or ctypes.util.find_library("nvcuda") is not None:
        return True
    for name in DRIVER_LIBRARIES:
        try:
            ctypes.CDLL(name)
        except OSError:
            continue
        return True
    return False
