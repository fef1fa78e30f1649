"""numbaconv.nn on GPU arrays against the same functions on NumPy arrays.

The host functions are tested against loop references in ``test_nn.py``;
here every layer function is called twice, on NumPy arrays and on device
arrays, and must give the same result (within the dtype's rounding), the
same kind of array back, and the same error for bad input.  Without a
CUDA driver the kernels run in Numba's simulator (the root ``conftest.py``
switches it on), which runs one Python thread per CUDA thread: shapes are
tiny, and the launch shapes are shrunk so that they still span several
blocks, loop grid-stride and end in ragged tails.
"""
from __future__ import annotations

import numpy as np
import pytest

from numba import cuda

if not cuda.is_available():
    pytest.skip("numba.cuda is not available (no GPU, and NUMBA_ENABLE_CUDASIM was not "
                "set before numba.cuda was imported)", allow_module_level=True)

import numbaconv.nn as nn  # noqa: E402
from numbaconv import _gpu  # noqa: E402
from numbaconv._backends import cuda_layer  # noqa: E402
from numbaconv._problem import LayerProblem  # noqa: E402
from numbaconv.nn import _cuda  # noqa: E402

SIM = _gpu.simulator()
FORWARD = {1: nn.conv1d, 2: nn.conv2d, 3: nn.conv3d}
TRANSPOSE = {1: nn.conv_transpose1d, 2: nn.conv_transpose2d}
GRAD_INPUT = {1: nn.conv1d_input, 2: nn.conv2d_input}
GRAD_WEIGHT = {1: nn.conv1d_weight, 2: nn.conv2d_weight}
TOL = {np.dtype(np.float16): 2e-3, np.dtype(np.float32): 2e-6, np.dtype(np.float64): 1e-13}


@pytest.fixture(autouse=True)
def tiny_launches(monkeypatch):
    """A few threads in at most three blocks: multi-block grid-stride loops on tiny inputs."""
    monkeypatch.setattr(cuda_layer, "THREADS", 8)
    monkeypatch.setattr(cuda_layer, "REDUCE_THREADS", 4)
    monkeypatch.setattr(cuda_layer, "MAX_BLOCKS", 3)
    monkeypatch.setattr(_gpu, "THREADS", 16)
    monkeypatch.setattr(_gpu, "MAX_BLOCKS", 2)


def dev(a):
    return None if a is None else cuda.to_device(np.ascontiguousarray(a))


def rand(rng, shape, dtype):
    return rng.standard_normal(shape).astype(dtype)


def check(got, want):
    """A device array equal to the host result within the dtype's rounding."""
    assert _gpu.is_device_array(got), type(got)
    got = got.copy_to_host()
    assert got.shape == want.shape and got.dtype == want.dtype, (got.shape, got.dtype,
                                                                 want.shape, want.dtype)
    tol = TOL[want.dtype]
    scale = max(float(np.abs(want.astype(np.float64)).max(initial=0.0)), 1.0)
    np.testing.assert_allclose(got.astype(np.float64), want.astype(np.float64), rtol=tol,
                               atol=tol * scale)


# ---------------------------------------------------------------- forward

FORWARD_CASES = [  # (rank, input shape, weight shape, keyword arguments)
    (1, (2, 4, 9), (6, 2, 3), dict(stride=2, padding=1, groups=2)),
    (1, (3, 7), (4, 3, 2), dict(padding="same", dilation=2)),            # unbatched, even kernel
    (1, (2, 3, 8), (3, 1, 3), dict(groups=3, padding="valid", bias=True)),   # depthwise
    (2, (2, 4, 5, 6), (6, 2, 3, 2), dict(stride=(2, 1), padding=(2, 1), dilation=(1, 2),
                                         groups=2, bias=True)),
    (2, (3, 5, 4), (2, 3, 3, 3), dict(padding="same")),                  # unbatched
    (2, (1, 4, 5, 5), (4, 1, 3, 3), dict(groups=4, padding=1, bias=True)),   # depthwise
    (3, (1, 2, 4, 5, 4), (3, 2, 2, 3, 2), dict(stride=(1, 2, 1), padding=(1, 0, 1), bias=True)),
    (3, (2, 3, 3, 4), (2, 1, 2, 2, 3), dict(groups=2, dilation=(1, 2, 1))),  # unbatched
]


def _forward_arrays(rng, case, dtype):
    n, xs, ws, kwargs = case
    kwargs = dict(kwargs)
    x, w = rand(rng, xs, dtype), rand(rng, ws, dtype)
    b = rand(rng, ws[0], dtype) if kwargs.pop("bias", False) else None
    return x, w, b, kwargs


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", FORWARD_CASES, ids=lambda c: f"{c[0]}d-{c[1]}-{c[2]}")
def test_forward_matches_the_host(case, dtype, rng):
    x, w, b, kwargs = _forward_arrays(rng, case, dtype)
    fn = FORWARD[case[0]]
    check(fn(dev(x), dev(w), dev(b), **kwargs), fn(x, w, b, **kwargs))


@pytest.mark.parametrize("mode", ["zeros", "reflect", "replicate", "circular"])
@pytest.mark.parametrize("n", [1, 2, 3])
def test_padding_modes_match_the_host(n, mode, rng):
    x = rand(rng, (1, 2) + (5, 4, 3)[:n], np.float64)
    w = rand(rng, (2, 2) + (3, 2, 2)[:n], np.float64)
    padding = (2, 1, 3)[:n] if mode != "reflect" else (2, 1, 2)[:n]   # circular: up to the size
    kwargs = dict(padding=padding, stride=(1, 2, 1)[:n], padding_mode=mode)
    fn = FORWARD[n]
    check(fn(dev(x), dev(w), **kwargs), fn(x, w, **kwargs))


def test_same_padding_modes_with_an_odd_total():
    """'same' with an even kernel pads one more on the right: the kernel maps the left side."""
    x = np.arange(1.0, 6.0).reshape(1, 1, 5)
    w = np.array([[[1.0, 0.0, 0.0, 0.0]]])          # output = the padded input at pos - 1
    for mode in ("zeros", "reflect", "replicate", "circular"):
        check(nn.conv1d(dev(x), dev(w), padding="same", padding_mode=mode),
              nn.conv1d(x, w, padding="same", padding_mode=mode))


# ---------------------------------------------------------------- transposed and gradients

TRANSPOSE_CASES = [  # (rank, input shape, weight shape, keyword arguments)
    (1, (2, 4, 5), (4, 3, 3), dict(stride=2, padding=1, output_padding=1, groups=2, bias=True)),
    (1, (3, 4), (3, 2, 2), dict(dilation=2, stride=3, output_padding=2)),   # unbatched
    (2, (2, 4, 3, 4), (4, 3, 3, 2), dict(stride=(2, 3), padding=(1, 0), output_padding=(1, 2),
                                         groups=2, dilation=(1, 2))),
    (2, (3, 3, 3), (3, 1, 3, 3), dict(groups=3, padding=1, bias=True)),    # unbatched depthwise
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", TRANSPOSE_CASES, ids=lambda c: f"{c[0]}d-{c[1]}-{c[2]}")
def test_transposed_matches_the_host(case, dtype, rng):
    x, w, b, kwargs = _forward_arrays(rng, case, dtype)
    b = None if b is None else rand(rng, case[2][1] * kwargs.get("groups", 1), dtype)
    fn = TRANSPOSE[case[0]]
    check(fn(dev(x), dev(w), dev(b), **kwargs), fn(x, w, b, **kwargs))


GRAD_CASES = [  # (rank, input shape, weight shape, keyword arguments)
    (1, (2, 4, 9), (6, 2, 3), dict(stride=2, padding=1, groups=2)),
    (1, (1, 2, 7), (3, 2, 2), dict(padding="same", dilation=3)),
    (2, (2, 2, 5, 6), (4, 1, 3, 2), dict(stride=(2, 1), padding=(1, 0), dilation=(1, 2),
                                         groups=2)),
    (2, (1, 3, 4, 4), (3, 1, 3, 3), dict(groups=3, padding="same")),       # depthwise
]


def _grad_arrays(rng, case, dtype):
    n, xs, ws, kwargs = case
    x, w = rand(rng, xs, dtype), rand(rng, ws, dtype)
    g = rand(rng, FORWARD[n](x, w, **kwargs).shape, dtype)
    return x, w, g, kwargs


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", GRAD_CASES, ids=lambda c: f"{c[0]}d-{c[1]}-{c[2]}")
def test_input_gradient_matches_the_host(case, dtype, rng):
    x, w, g, kwargs = _grad_arrays(rng, case, dtype)
    fn = GRAD_INPUT[case[0]]
    check(fn(x.shape, dev(w), dev(g), **kwargs), fn(x.shape, w, g, **kwargs))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", GRAD_CASES, ids=lambda c: f"{c[0]}d-{c[1]}-{c[2]}")
def test_weight_gradient_matches_the_host(case, dtype, rng):
    x, w, g, kwargs = _grad_arrays(rng, case, dtype)
    fn = GRAD_WEIGHT[case[0]]
    check(fn(dev(x), w.shape, dev(g), **kwargs), fn(x, w.shape, g, **kwargs))


def test_float16_in_float16_out(rng):
    x, w = rand(rng, (1, 2, 5, 4), np.float16), rand(rng, (3, 2, 2, 2), np.float16)
    b = rand(rng, 3, np.float16)
    check(nn.conv2d(dev(x), dev(w), dev(b), padding=1), nn.conv2d(x, w, b, padding=1))
    check(nn.conv_transpose2d(dev(x), dev(w.transpose(1, 0, 2, 3)), stride=2),
          nn.conv_transpose2d(x, w.transpose(1, 0, 2, 3), stride=2))
    g = rand(rng, (1, 3, 4, 3), np.float16)
    check(nn.conv2d_weight(dev(x), w.shape, dev(g)), nn.conv2d_weight(x, w.shape, g))


def test_an_empty_batch_gives_an_empty_batch():
    x, w = np.ones((0, 2, 5), np.float32), np.ones((3, 2, 3), np.float32)
    check(nn.conv1d(dev(x), dev(w), np.ones(3, np.float32), padding=1),
          nn.conv1d(x, w, np.ones(3, np.float32), padding=1))
    wt = np.ones((2, 3, 3), np.float32)
    check(nn.conv_transpose1d(dev(x), dev(wt)), nn.conv_transpose1d(x, wt))
    check(nn.conv1d_weight(dev(x), w.shape, dev(np.ones((0, 3, 3), np.float32))),
          nn.conv1d_weight(x, w.shape, np.ones((0, 3, 3), np.float32)))
    x = np.ones((1, 2, 0), np.float32)                       # no input: bias only
    check(nn.conv_transpose1d(dev(x), dev(wt), dev(np.arange(3.0, dtype=np.float32))),
          nn.conv_transpose1d(x, wt, np.arange(3.0, dtype=np.float32)))


# ---------------------------------------------------------------- kinds of arrays

def test_mixed_host_and_device_arrays_give_device_arrays(rng):
    x, w = rand(rng, (2, 2, 6), np.float64), rand(rng, (3, 2, 3), np.float64)
    b = rand(rng, 3, np.float64)
    want = nn.conv1d(x, w, b, padding=1)
    check(nn.conv1d(x, dev(w), b, padding=1), want)          # host input, device weight
    check(nn.conv1d(dev(x), w, b, padding=1), want)          # device input, host weight, bias
    check(nn.conv1d(x, w, dev(b), padding=1), want)          # only the bias on the device
    b32 = b.astype(np.float32)                               # cast to the input's dtype
    check(nn.conv1d(dev(x), dev(w), b32, padding=1), nn.conv1d(x, w, b32, padding=1))
    x32, w16 = x.astype(np.float32), w.astype(np.float16)   # the weight takes x's dtype
    check(nn.conv1d(dev(x32), dev(w16)), nn.conv1d(x32, w16))


def test_strided_and_sliced_device_inputs(rng):
    x, w = rand(rng, (2, 3, 5, 8), np.float32), rand(rng, (2, 3, 2, 2), np.float32)
    check(nn.conv2d(dev(x)[:, :, :, ::2], dev(w), padding=1), nn.conv2d(x[:, :, :, ::2], w, padding=1))
    check(nn.conv2d(dev(x)[0], dev(w)), nn.conv2d(x[0], w))          # an unbatched view


def test_unit_axes_are_views_in_any_layout():
    h = np.arange(24.0).reshape(2, 3, 4)
    for view, want in [(dev(h), h), (dev(h)[:, :, ::2], h[:, :, ::2]), (dev(h)[:, 1:], h[:, 1:])]:
        b = _cuda.batched(view)
        assert _gpu.is_device_array(b)
        np.testing.assert_array_equal(b.copy_to_host(), want[None])
        e = cuda_layer.insert_axes(view, 2, 2)
        assert e.shape == want.shape[:2] + (1, 1) + want.shape[2:]
        np.testing.assert_array_equal(e.copy_to_host(), want[:, :, None, None])


@pytest.mark.skipif(SIM, reason="CuPy needs a real GPU")
def test_cupy_in_cupy_out(rng):
    cp = pytest.importorskip("cupy")
    x, w = rand(rng, (2, 4, 9, 9), np.float32), rand(rng, (4, 2, 3, 3), np.float32)
    got = nn.conv2d(cp.asarray(x), cp.asarray(w), padding=1, groups=2)
    assert isinstance(got, cp.ndarray)
    check(cuda.to_device(cp.asnumpy(got)), nn.conv2d(x, w, padding=1, groups=2))
    got = nn.conv2d_weight(cp.asarray(x), w.shape, cp.asarray(got), padding=1, groups=2)
    assert isinstance(got, cp.ndarray)


@pytest.mark.skipif(SIM, reason="PyTorch CUDA tensors need a real GPU")
def test_torch_in_torch_out(rng):
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("torch has no CUDA")
    x, w = rand(rng, (2, 4, 9, 9), np.float32), rand(rng, (4, 2, 3, 3), np.float32)
    got = nn.conv2d(torch.from_numpy(x).cuda(), torch.from_numpy(w).cuda(), padding=1, groups=2)
    assert isinstance(got, torch.Tensor) and got.is_cuda
    check(cuda.to_device(got.cpu().numpy()), nn.conv2d(x, w, padding=1, groups=2))
    want = torch.nn.functional.conv2d(torch.from_numpy(x), torch.from_numpy(w), padding=1,
                                      groups=2)
    np.testing.assert_allclose(got.cpu().numpy(), want.numpy(), rtol=1e-4, atol=1e-4)


# ---------------------------------------------------------------- dispatch

def test_explain_names_the_gpu_backend(rng):
    x, w = dev(rand(rng, (1, 2, 6, 6), np.float32)), dev(rand(rng, (4, 2, 3, 3), np.float32))
    for choice in (nn.explain(nn.conv2d, x, w, padding=1),
                   nn.explain(nn.conv2d, x, w, method="direct"),
                   nn.explain(nn.conv_transpose2d, x, dev(rand(rng, (2, 3, 3, 3), np.float32)),
                              stride=2)):
        assert choice.backend == "cuda_layer" and choice.device == "cuda"
        assert set(choice.costs) == {"cuda_layer"} and 0 < choice.costs["cuda_layer"] < 1


def test_a_method_without_a_gpu_backend_is_refused():
    x, w = dev(np.ones((1, 2, 6, 6), np.float32)), dev(np.ones((4, 2, 3, 3), np.float32))
    with pytest.raises(ValueError, match="no backend can run method='gemm' on device 'cuda'"):
        nn.conv2d(x, w, method="gemm")


def test_backend_contract():
    p = LayerProblem(8, 64, 64, 1, (58, 58), (3, 3), (1, 1), (1, 1), (56, 56),
                     np.dtype(np.float32), device="cuda")
    assert cuda_layer.available() and cuda_layer.supports(p)
    assert not cuda_layer.supports(LayerProblem(1, 1, 1, 1, (4,), (3,), (1,), (1,), (2,),
                                                np.dtype(np.float32)))      # device='cpu'
    t = cuda_layer.cost(p)
    bigger = LayerProblem(8, 128, 64, 1, (58, 58), (3, 3), (1, 1), (1, 1), (56, 56),
                          np.dtype(np.float32), device="cuda")
    double = LayerProblem(8, 64, 64, 1, (58, 58), (3, 3), (1, 1), (1, 1), (56, 56),
                          np.dtype(np.float64), device="cuda")
    assert 0 < t < cuda_layer.cost(bigger) and t < cuda_layer.cost(double)


# ---------------------------------------------------------------- errors

X1, W1 = np.ones((1, 2, 5)), np.ones((4, 2, 3))
X2, W2 = np.ones((1, 2, 5, 5)), np.ones((4, 2, 3, 3))

ERROR_CALLS = [  # (function, arguments, keyword arguments): arrays go to the device
    (nn.conv1d, (X1, W1), dict(padding=5, padding_mode="reflect")),
    (nn.conv1d, (X1, W1), dict(padding=6, padding_mode="circular")),
    (nn.conv2d, (X2, W2), dict(padding=(0, 6), padding_mode="circular")),
    (nn.conv1d, (X1, W1), dict(padding_mode="mirror")),
    (nn.conv1d, (X1, W1, np.ones(3)), {}),
    (nn.conv1d, (X1, W1, np.ones(4, np.int32)), {}),
    (nn.conv1d, (X1.astype(np.int64), W1), {}),
    (nn.conv1d, (np.ones(5), W1), {}),
    (nn.conv1d, (X1, W1), dict(stride=0)),
    (nn.conv1d, (X1, W1), dict(method="bogus")),
    (nn.conv1d, (X1, np.ones((4, 3, 3))), {}),
    (nn.conv1d, (X1, W1), dict(stride=2, padding="same")),
    (nn.conv2d, (X2, W1), {}),
    (nn.conv_transpose1d, (X1, np.ones((2, 1, 3)), np.ones(2)), dict(stride=2)),
    (nn.conv_transpose1d, (X1, np.ones((2, 1, 3))), dict(stride=2, output_padding=2)),
    (nn.conv_transpose1d, (np.ones((1, 2, 1)), np.ones((2, 1, 1))), dict(padding=1)),
    (nn.conv1d_input, ((1, 2, 5), W1, np.ones((1, 4, 2))), {}),
    (nn.conv2d_input, ((1, 3, 5, 5), W2, np.ones((1, 4, 3, 3))), {}),
    (nn.conv2d_weight, (X2, (4, 2, 3, 3), np.ones((1, 4, 3))), {}),
    (nn.conv1d_weight, (X1, (4, 2, 3), np.ones((1, 4, 3))), dict(groups=3)),
]


def _outcome(fn, args, kwargs):
    try:
        out = fn(*args, **kwargs)
    except (TypeError, ValueError) as exc:
        return type(exc), str(exc)
    return "ok", tuple(out.shape)


@pytest.mark.parametrize("call", ERROR_CALLS, ids=lambda c: f"{c[0].__name__}-{sorted(c[2])}")
def test_errors_are_the_host_paths(call):
    fn, args, kwargs = call
    host = _outcome(fn, args, kwargs)
    on_device = tuple(dev(a) if isinstance(a, np.ndarray) else a for a in args)
    assert host[0] in (TypeError, ValueError)
    assert _outcome(fn, on_device, kwargs) == host


# ---------------------------------------------------------------- the shipped launch shapes

@pytest.mark.skipif(SIM, reason="the shipped launch shapes are too slow for the simulator")
def test_shipped_launch_shapes(monkeypatch, rng):
    monkeypatch.undo()
    x, w = rand(rng, (4, 16, 33, 31), np.float32), rand(rng, (32, 8, 3, 3), np.float32)
    b = rand(rng, 32, np.float32)
    check(nn.conv2d(dev(x), dev(w), dev(b), padding=1, groups=2),
          nn.conv2d(x, w, b, padding=1, groups=2))
    check(nn.conv_transpose2d(dev(x), dev(w[:16]), stride=2, padding=1, output_padding=1),
          nn.conv_transpose2d(x, w[:16], stride=2, padding=1, output_padding=1))
    g = rand(rng, (4, 32, 33, 31), np.float32)
    check(nn.conv2d_weight(dev(x), w.shape, dev(g), padding=1, groups=2),
          nn.conv2d_weight(x, w.shape, g, padding=1, groups=2))
