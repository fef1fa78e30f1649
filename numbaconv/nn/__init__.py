"""Convolutional layers with ``torch.nn.functional``'s semantics, on NumPy arrays.

``import numbaconv.nn`` gives the functions ``conv1d``, ``conv2d``, ``conv3d``,
``conv_transpose1d``, ``conv_transpose2d``, the gradient helpers of
``torch.nn.grad`` (``conv1d_input``, ``conv1d_weight``, ``conv2d_input``,
``conv2d_weight``), the small layers ``Conv1d`` and ``Conv2d``, and
``explain``, which says which backend a call would run.
"""
from ._functional import (conv1d, conv1d_input, conv1d_weight, conv2d, conv2d_input,
                          conv2d_weight, conv3d, conv_transpose1d, conv_transpose2d, explain)
from ._layers import Conv1d, Conv2d

__all__ = ["conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d",
           "conv1d_input", "conv1d_weight", "conv2d_input", "conv2d_weight",
           "Conv1d", "Conv2d", "explain"]
