"""numbaconv.nn on the layer shapes of ``numbaconv bench --nn``, next to PyTorch and NumPy.

The layers, their inputs and the callables are
:mod:`numbaconv._tools.bench_nn`'s: a ResNet 3x3 and its 7x7 stride-2 stem,
depthwise 3x3 and 7x7, a dilated 3x3, a 1-D k = 9, a 4x4 stride-2 transposed
layer, a 31x31 'same' layer and three depthwise layers of a MobileNet (28² and
7² planes, a stride-2 one), batch 8.  ``NUMBACONV_ASV_GRID=tiny`` takes
small layers of the same kinds and batch 2 (asv's smoke run); the layer
names stay the same.  ``setup`` builds the inputs and makes one call (JIT
compile, page faults); a method that no backend runs on a layer, an im2col
that would not fit in memory, and torch when it is not installed are
skipped by raising ``NotImplementedError`` there.
"""
from __future__ import annotations

from numbaconv._tools import bench_nn

from . import DTYPES, GRID, call_or_skip, skip

_GRID = "tiny" if GRID == "tiny" else "full"
LAYERS = {layer.name: layer for layer in bench_nn.layers(_GRID)}
BATCH = bench_nn.BATCH[_GRID]


class _LayerSuite:
    params = [list(LAYERS), DTYPES]
    param_names = ["layer", "dtype"]
    timeout = 600.0     # the 31x31 layer takes seconds per call on a laptop

    def _inputs(self, layer, dtype):
        return bench_nn.inputs(LAYERS[layer], BATCH, dtype)


class NN(_LayerSuite):
    """numbaconv.nn with ``method='auto'`` and with every method family."""

    params = _LayerSuite.params + [["auto", *bench_nn.METHODS]]
    param_names = _LayerSuite.param_names + ["method"]

    def setup(self, layer, dtype, method):
        x, w, b = self._inputs(layer, dtype)
        self.fn, _ = call_or_skip(lambda: bench_nn.numbaconv_call(LAYERS[layer], x, w, b, method))
        call_or_skip(self.fn)

    def time_layer(self, layer, dtype, method):
        self.fn()


class NNTorch(_LayerSuite):
    """``torch.nn.functional`` on the same layers (torch's default threads)."""

    def setup(self, layer, dtype):
        if bench_nn.import_torch() is None:
            skip("torch is not installed")
        self.fn = bench_nn.torch_call(LAYERS[layer], *self._inputs(layer, dtype))
        self.fn()

    def time_layer(self, layer, dtype):
        self.fn()


class NNNumpy(_LayerSuite):
    """The im2col + ``numpy.matmul`` baseline on the same layers."""

    def setup(self, layer, dtype):
        self.fn = bench_nn.numpy_call(LAYERS[layer], *self._inputs(layer, dtype))
        self.fn()

    def time_layer(self, layer, dtype):
        self.fn()
