"""numbaconv.nn against PyTorch: every function, every method, over hypothesis sweeps.

torch is the oracle and decides which calls are valid: where torch raises,
numbaconv must raise ValueError or TypeError; where torch computes, numbaconv
must compute the same, within the one tolerance table
(:func:`numbaconv._tools.tolerance.allowed_error`, keyed by the dtype's eps,
with the magnitude behind each value computed by torch on ``|x|, |w|, |b|``).
torch computes in float64 from the same (float32- or float64-rounded) values.

Non-zero padding modes go through ``torch.nn.functional.pad`` and a
convolution without padding, as torch's ``Conv*d`` modules do.  The forward
and transposed functions run with every ``method``: ``'auto'`` and ``'gemm'``
(im2col on BLAS, every layer) must run every valid call; ``'direct'`` and
``'fft'`` may answer that no backend runs a case (a ValueError that says
so: that example is skipped for that method), and when no backend of the
method exists in this checkout the test is skipped.  A backend that runs a
case must get it right.  The gradient helpers and the layers have no
``method``: they run what ``'auto'`` picks.
"""
from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

import numbaconv.nn as nn
from numbaconv._tools import bench_nn, tolerance

torch = pytest.importorskip("torch")
F = torch.nn.functional

# torch's note that 'same' with an even kernel copies the input is about its own speed
pytestmark = pytest.mark.filterwarnings("ignore:Using padding='same':UserWarning")

METHODS = ("auto", "direct", "gemm", "fft")
#: methods that some backend runs on every valid call
ALWAYS = ("auto", "gemm")
#: what the dispatcher says when no backend of a method runs a call
NO_BACKEND = "no backend can run"
FORWARD = {1: nn.conv1d, 2: nn.conv2d, 3: nn.conv3d}
TRANSPOSED = {1: nn.conv_transpose1d, 2: nn.conv_transpose2d}
GRAD_INPUT = {1: nn.conv1d_input, 2: nn.conv2d_input}
GRAD_WEIGHT = {1: nn.conv1d_weight, 2: nn.conv2d_weight}
LAYERS = {1: (nn.Conv1d, torch.nn.Conv1d), 2: (nn.Conv2d, torch.nn.Conv2d)}
#: calls that torch refuses on purpose: each is one broken argument
BROKEN = ("stride", "dilation", "padding", "channels", "weight")


def require(method):
    """Skip the test when no CPU layer backend of ``method`` is in this checkout."""
    if method in ALWAYS:
        return
    from numbaconv._backends import REGISTRY
    if not any(getattr(mod, "OPERATION", "signal") == "layer" and mod.METHOD == method
               and mod.DEVICE == "cpu" and mod.available() for mod in REGISTRY.values()):
        pytest.skip(f"no CPU layer backend for method={method!r} in this checkout")


# ---------------------------------------------------------------- torch's side

def t(a):
    """A float64 tensor of ``a``'s values (None stays None)."""
    return None if a is None else torch.from_numpy(np.array(a, dtype=np.float64))


def per_axis(value, n):
    return tuple(value) if isinstance(value, (tuple, list)) else (value,) * n


def torch_pads(padding, n, kernel, dilation):
    """``F.pad``'s list for ``padding`` (last axis first), as torch's ``Conv*d`` modules build it."""
    dilation = per_axis(dilation, n)
    if padding == "valid":
        pairs = [(0, 0)] * n
    elif padding == "same":
        pairs = [(d * (k - 1) // 2, d * (k - 1) - d * (k - 1) // 2)
                 for d, k in zip(dilation, kernel)]
    else:
        pairs = [(p, p) for p in per_axis(padding, n)]
    return [v for lo, hi in reversed(pairs) for v in (lo, hi)]


def torch_forward(n, x, w, b, stride, padding, dilation, groups, mode):
    """torch's convolution in float64; a non-zero ``mode`` pads with ``F.pad`` first."""
    tx, tw, tb = t(x), t(w), t(b)
    if mode != "zeros":
        if padding == "same" and any(s != 1 for s in per_axis(stride, n)):
            # torch.nn.Conv*d's constructor refuses this before any padding is done
            raise ValueError("padding='same' is not supported for strided convolutions")
        tx = F.pad(tx, torch_pads(padding, n, w.shape[2:], dilation), mode=mode)
        padding = 0
    with torch.no_grad():
        return getattr(F, f"conv{n}d")(tx, tw, tb, stride, padding, dilation, groups).numpy()


def outcome(fn):
    """``(result, None)`` or ``(None, exception)``; a Numba error is never an answer."""
    try:
        return fn(), None
    except Exception as exc:  # noqa: BLE001 - any exception is an outcome
        if type(exc).__module__.startswith("numba"):
            raise AssertionError(f"numbaconv raised a Numba error: {exc!r}"[:800]) from exc
        return None, exc


def both(ours_fn, ref_fn, method="auto"):
    """Run torch and numbaconv; ``(ours, ref)`` when both computed, None when the case ends here.

    torch raises: numbaconv must raise ValueError or TypeError.  torch
    computes: numbaconv must too, except that a method other than
    :data:`ALWAYS` may say that no backend runs the call.
    """
    ref, ref_exc = outcome(ref_fn)
    ours, ours_exc = outcome(ours_fn)
    if ref_exc is not None:
        event("torch raises")
        assert ours_exc is not None, \
            f"torch raised {ref_exc!r} but numbaconv computed a {getattr(ours, 'shape', ours)}"
        assert isinstance(ours_exc, (ValueError, TypeError)), \
            f"torch raised {ref_exc!r}, numbaconv raised {ours_exc!r} (not ValueError/TypeError)"
        return None
    if ours_exc is not None:
        if method not in ALWAYS and isinstance(ours_exc, ValueError) \
                and NO_BACKEND in str(ours_exc):
            event(f"no {method} backend runs this case")
            return None
        raise AssertionError(f"torch computed this call, numbaconv (method={method!r}) "
                             f"raised {ours_exc!r}") from ours_exc
    return ours, ref


def assert_agrees(got, want, magnitude, dtype, terms, n_fft, what=""):
    """numbaconv's ``got`` against torch's float64 ``want``: type, dtype, shape, values."""
    assert isinstance(got, np.ndarray), f"{what}: got a {type(got).__name__}"
    assert got.dtype == np.dtype(dtype), f"{what}: dtype {got.dtype}, expected {np.dtype(dtype)}"
    assert got.shape == want.shape, f"{what}: shape {got.shape}, torch's {want.shape}"
    bound = tolerance.allowed_error(magnitude, tolerance.eps(dtype), terms, n_fft)
    verdict = tolerance.compare(got, want.astype(dtype), bound)
    assert verdict["agree"], f"{what}: {verdict['reason']}"


def check_method(fn, args, kwargs, method, *, note=True):
    """The backend that ran a fixed method is of that method (explain says what ran)."""
    choice = nn.explain(fn, *args, **kwargs, method=method)
    if method == "auto":
        if note:         # hypothesis's statistics: which backends auto ran
            event(f"auto ran {choice.backend}")
    else:
        assert choice.method == method, f"method={method!r} ran {choice.backend}"


# ---------------------------------------------------------------- cases

def padding_strategy(n, limit=3):
    ints = st.integers(0, limit)
    return st.one_of(ints, st.tuples(*[ints] * n), st.sampled_from(["valid", "same"]))


def _broken():
    # one case in eight is broken; shrinking goes to the first element, None
    return st.sampled_from((None,) * 35 + BROKEN)


@st.composite
def forward_case(draw, n):
    """Every argument of a forward call, with torch's rules left to torch."""
    depthwise = draw(st.booleans())
    if depthwise:
        groups, cg = draw(st.integers(1, 8 if n < 3 else 3)), 1
    else:
        groups, cg = draw(st.integers(1, 3 if n < 3 else 2)), draw(st.integers(1, 3))
    kmax, smax = {1: (5, 40), 2: (4, 12), 3: (2, 4)}[n]
    kernel = tuple(draw(st.integers(1, kmax)) for _ in range(n))
    stride = draw(st.one_of(st.just(1), st.just(1), st.integers(1, 3),
                            st.tuples(*[st.integers(1, 3)] * n)))
    dilation = draw(st.one_of(st.integers(1, 2), st.tuples(*[st.integers(1, 2)] * n)))
    # sizes from the dilated kernel's extent less one up: mostly valid without padding
    extent = [d * (k - 1) + 1 for d, k in zip(per_axis(dilation, n), kernel)]
    size = tuple(max(1, e - 1 + draw(st.integers(0, smax + (8 if n == 2 and i == 1 else 0))))
                 for i, e in enumerate(extent))
    case = dict(n=n, batch=draw(st.integers(1, 2)), groups=groups, cg=cg,
                og=draw(st.integers(1, 4)), kernel=kernel, size=size, stride=stride,
                dilation=dilation, padding=draw(padding_strategy(n, 3 if n < 3 else 2)),
                mode=draw(st.sampled_from(["zeros", "reflect", "replicate", "circular"])),
                dtype=draw(st.sampled_from([np.float32, np.float64])),
                bias=draw(st.booleans()), unbatched=draw(st.booleans()),
                strided=draw(st.booleans()), seed=draw(st.integers(0, 2**32 - 1)),
                broken=draw(_broken()))
    _break(case)
    return case


def _break(case):
    """Apply ``case['broken']``: one argument torch refuses (with zero padding, which
    passes a negative padding on to the convolution instead of cropping with it)."""
    broken = case["broken"]
    if broken is None:
        return
    case["mode"] = "zeros"
    if broken in ("stride", "dilation"):
        case[broken] = 0
    elif broken == "padding":
        case["padding"] = -1
    elif broken == "channels":
        case["extra_channel"] = True


def forward_arrays(case):
    rng = np.random.default_rng(case["seed"])
    groups = case["groups"]
    channels = case["cg"] * groups + case.get("extra_channel", 0)
    x = rng.standard_normal((case["batch"], channels) + case["size"]).astype(case["dtype"])
    if case["strided"]:         # a non-contiguous view of the same values
        x = np.repeat(x, 2, axis=-1)[..., ::2]
    w_shape = (case["og"] * groups, case["cg"]) + case["kernel"]
    if case["broken"] == "weight":
        w_shape = w_shape[:-1]
    w = rng.standard_normal(w_shape).astype(case["dtype"])
    b = rng.standard_normal(w_shape[0]).astype(case["dtype"]) if case["bias"] else None
    return x, w, b


def _forward_terms(case):
    return case["cg"] * math.prod(case["kernel"])


def _n_fft(sizes, kernel, dilation):
    """Elements of a transform of a padded input and the kernel's extent (a bound: only
    its logarithm counts)."""
    return math.prod(z + 6 + 2 * d * k for z, k, d in zip(sizes, kernel, dilation))


def check_forward(case, method):
    n = case["n"]
    x, w, b = forward_arrays(case)
    xin = x[0] if case["unbatched"] else x
    kwargs = dict(stride=case["stride"], padding=case["padding"], dilation=case["dilation"],
                  groups=case["groups"], padding_mode=case["mode"])
    args = (case["stride"], case["padding"], case["dilation"], case["groups"], case["mode"])
    before = xin.copy()
    pair = both(lambda: FORWARD[n](xin, w, b, **kwargs, method=method),
                lambda: torch_forward(n, xin, w, b, *args), method)
    if pair is None:
        return
    got, want = pair
    np.testing.assert_array_equal(xin, before)
    magnitude = torch_forward(n, np.abs(xin), np.abs(w), None if b is None else np.abs(b), *args)
    assert_agrees(got, want, magnitude, case["dtype"], _forward_terms(case),
                  _n_fft(case["size"], case["kernel"], per_axis(case["dilation"], n)),
                  f"conv{n}d method={method}")
    check_method(FORWARD[n], (xin, w, b), kwargs, method)


@pytest.mark.parametrize("method", METHODS)
@settings(max_examples=50, deadline=None)
@given(case=forward_case(1))
def test_conv1d_matches_torch(method, case):
    require(method)
    check_forward(case, method)


@pytest.mark.parametrize("method", METHODS)
@settings(max_examples=40, deadline=None)
@given(case=forward_case(2))
def test_conv2d_matches_torch(method, case):
    require(method)
    check_forward(case, method)


@pytest.mark.parametrize("method", METHODS)
@settings(max_examples=20, deadline=None)
@given(case=forward_case(3))
def test_conv3d_matches_torch(method, case):
    require(method)
    check_forward(case, method)


# ---------------------------------------------------------------- transposed

@st.composite
def transpose_case(draw, n):
    def ints(lo, hi):
        return st.one_of(st.integers(lo, hi), st.tuples(*[st.integers(lo, hi)] * n))

    depthwise = draw(st.booleans())
    groups = draw(st.integers(1, 6)) if depthwise else draw(st.integers(1, 3))
    kmax, smax = {1: (5, 24), 2: (4, 8)}[n]
    case = dict(n=n, batch=draw(st.integers(1, 2)), groups=groups,
                cg=1 if depthwise else draw(st.integers(1, 3)), og=draw(st.integers(1, 3)),
                kernel=tuple(draw(st.integers(1, kmax)) for _ in range(n)),
                size=tuple(draw(st.integers(1, smax)) for _ in range(n)),
                stride=draw(ints(1, 3)), dilation=draw(ints(1, 2)), padding=draw(ints(0, 2)),
                output_padding=draw(st.one_of(st.just(0), ints(0, 1))),
                dtype=draw(st.sampled_from([np.float32, np.float64])),
                bias=draw(st.booleans()), unbatched=draw(st.booleans()),
                strided=draw(st.booleans()), seed=draw(st.integers(0, 2**32 - 1)),
                broken=draw(st.sampled_from((None,) * 28 + ("stride", "dilation", "padding",
                                                            "channels"))))
    if case["broken"] in ("stride", "dilation"):
        case[case["broken"]] = 0
    elif case["broken"] == "padding":
        case["padding"] = -1
    return case


def transpose_arrays(case):
    rng = np.random.default_rng(case["seed"])
    groups = case["groups"]
    channels = case["cg"] * groups
    extra = 1 if case["broken"] == "channels" else 0
    x = rng.standard_normal((case["batch"], channels + extra) + case["size"]).astype(case["dtype"])
    if case["strided"]:
        x = np.repeat(x, 2, axis=-1)[..., ::2]
    w = rng.standard_normal((channels, case["og"]) + case["kernel"]).astype(case["dtype"])
    b = (rng.standard_normal(case["og"] * groups).astype(case["dtype"])
         if case["bias"] else None)
    return x, w, b


def torch_transpose(n, x, w, b, stride, padding, output_padding, groups, dilation):
    with torch.no_grad():
        return getattr(F, f"conv_transpose{n}d")(t(x), t(w), t(b), stride, padding,
                                                 output_padding, groups, dilation).numpy()


def check_transpose(case, method):
    n = case["n"]
    x, w, b = transpose_arrays(case)
    xin = x[0] if case["unbatched"] else x
    args = (case["stride"], case["padding"], case["output_padding"], case["groups"],
            case["dilation"])
    kwargs = dict(zip(("stride", "padding", "output_padding", "groups", "dilation"), args))
    pair = both(lambda: TRANSPOSED[n](xin, w, b, **kwargs, method=method),
                lambda: torch_transpose(n, xin, w, b, *args), method)
    if pair is None:
        return
    got, want = pair
    magnitude = torch_transpose(n, np.abs(xin), np.abs(w), None if b is None else np.abs(b),
                                *args)
    full = tuple(s * z for s, z in zip(per_axis(case["stride"], n), case["size"]))
    assert_agrees(got, want, magnitude, case["dtype"], case["cg"] * math.prod(case["kernel"]),
                  _n_fft(full, case["kernel"], per_axis(case["dilation"], n)),
                  f"conv_transpose{n}d method={method}")
    check_method(TRANSPOSED[n], (xin, w, b), kwargs, method)


@pytest.mark.parametrize("method", METHODS)
@settings(max_examples=50, deadline=None)
@given(case=transpose_case(1))
def test_conv_transpose1d_matches_torch(method, case):
    require(method)
    check_transpose(case, method)


@pytest.mark.parametrize("method", METHODS)
@settings(max_examples=40, deadline=None)
@given(case=transpose_case(2))
def test_conv_transpose2d_matches_torch(method, case):
    require(method)
    check_transpose(case, method)


# ---------------------------------------------------------------- gradients

def torch_grads(n, x, w, g, stride, padding, dilation, groups):
    """``(d<y, g>/dx, d<y, g>/dw)`` by torch's autograd."""
    tx, tw = t(x).requires_grad_(), t(w).requires_grad_()
    y = getattr(F, f"conv{n}d")(tx, tw, None, stride, padding, dilation, groups)
    y.backward(t(g))
    return tx.grad.numpy(), tw.grad.numpy()


def _output_shape(case, x, w):
    """The forward output's shape by torch's formula, every size at least 1."""
    n = case["n"]
    pads = torch_pads(case["padding"], n, case["kernel"], case["dilation"])[::-1]
    out = []
    for i, (z, k) in enumerate(zip(x.shape[2:], case["kernel"])):
        hi, lo = pads[2 * i], pads[2 * i + 1]
        s, d = per_axis(case["stride"], n)[i], per_axis(case["dilation"], n)[i]
        out.append(max(1, (z + lo + hi - d * (k - 1) - 1) // max(s, 1) + 1))
    return (x.shape[0], w.shape[0]) + tuple(out)


@pytest.mark.parametrize("n", [1, 2])
@settings(max_examples=50, deadline=None)
@given(data=st.data())
def test_gradients_match_autograd(n, data):
    case = data.draw(forward_case(n))
    case.update(mode="zeros", unbatched=False)
    if case["broken"] == "weight":
        case["broken"] = None
    x, w, _ = forward_arrays(case)
    kwargs = dict(stride=case["stride"], padding=case["padding"], dilation=case["dilation"],
                  groups=case["groups"])
    g = np.random.default_rng(case["seed"] + 1).standard_normal(
        _output_shape(case, x, w)).astype(case["dtype"])
    args = tuple(kwargs.values())
    pair = both(lambda: (GRAD_INPUT[n](x.shape, w, g, **kwargs),
                         GRAD_WEIGHT[n](x, w.shape, g, **kwargs)),
                lambda: torch_grads(n, x, w, g, *args))
    if pair is None:
        return
    (gx, gw), (want_x, want_w) = pair
    mag_x, mag_w = torch_grads(n, np.abs(x), np.abs(w), np.abs(g), *args)
    fft = _n_fft(x.shape[2:], case["kernel"], per_axis(case["dilation"], n))
    out = g.shape[2:]
    assert_agrees(gx, want_x, mag_x, case["dtype"], case["og"] * math.prod(case["kernel"]), fft,
                  f"conv{n}d_input")
    assert_agrees(gw, want_w, mag_w, case["dtype"], case["batch"] * math.prod(out), fft,
                  f"conv{n}d_weight")


# ---------------------------------------------------------------- layers

@pytest.mark.parametrize("n", [1, 2])
@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_layers_match_torch_modules(n, data):
    """Conv1d/Conv2d given torch's module's arguments and the same weights compute what
    the module does (padding modes included); both refuse the same arguments."""
    case = data.draw(forward_case(n))
    if case["broken"] == "weight":
        case["broken"] = None
    ours_cls, torch_cls = LAYERS[n]
    channels = case["cg"] * case["groups"]
    args = dict(in_channels=channels, out_channels=case["og"] * case["groups"],
                kernel_size=case["kernel"], stride=case["stride"], padding=case["padding"],
                dilation=case["dilation"], groups=case["groups"], bias=case["bias"],
                padding_mode=case["mode"])
    x, w, b = forward_arrays(case)
    xin = x[0] if case["unbatched"] else x

    def ours():
        layer = ours_cls(**args, dtype=case["dtype"], rng=case["seed"])
        assert layer.weight.shape == w.shape and layer.weight.dtype == np.dtype(case["dtype"])
        assert (layer.bias is None) == (b is None)
        layer.weight, layer.bias = w, b
        return layer(xin)

    def module(weight, bias):
        layer = torch_cls(**args, dtype=torch.float64)
        with torch.no_grad():
            layer.weight.copy_(t(weight))
            if bias is not None:
                layer.bias.copy_(t(bias))
        return layer

    def theirs(x, weight, bias):
        with torch.no_grad():
            return module(weight, bias)(t(x)).numpy()

    pair = both(ours, lambda: theirs(xin, w, b))
    if pair is None:
        return
    got, want = pair
    magnitude = theirs(np.abs(xin), np.abs(w), None if b is None else np.abs(b))
    assert_agrees(got, want, magnitude, case["dtype"], _forward_terms(case),
                  _n_fft(case["size"], case["kernel"],
                         per_axis(case["dilation"], n)), f"Conv{n}d")


# ---------------------------------------------------------------- the bench's layers

@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("layer", bench_nn.layers("tiny"), ids=lambda layer: layer.name)
def test_benchmarked_layers_match_torch(layer, method):
    """The kinds of layer ``numbaconv bench --nn`` times (depthwise, strided 7x7, dilated,
    1-D, transposed, 31x31), scaled down, with every method that runs them."""
    require(method)
    fn = getattr(nn, layer.function)
    ran = False
    for dtype in ("float32", "float64"):
        x, w, b = bench_nn.inputs(layer, 2, dtype)
        if layer.transposed:
            kw = layer.kwargs
            args = (kw["stride"], kw["padding"], kw["output_padding"], kw["groups"],
                    kw["dilation"])
            want = torch_transpose(2, x, w, b, *args)
            magnitude = torch_transpose(2, np.abs(x), np.abs(w), np.abs(b), *args)
        else:
            args = (layer.stride, layer.padding, layer.dilation, layer.groups, "zeros")
            want = torch_forward(layer.ndim, x, w, b, *args)
            magnitude = torch_forward(layer.ndim, np.abs(x), np.abs(w), np.abs(b), *args)
        got, exc = outcome(lambda: fn(x, w, b, **layer.kwargs, method=method))
        if exc is not None:
            if method in ALWAYS or NO_BACKEND not in str(exc):
                raise exc
            continue
        ran = True
        check_method(fn, (x, w, b), layer.kwargs, method, note=False)
        assert_agrees(got, want, magnitude, dtype,
                      layer.channels // layer.groups * math.prod(layer.kernel),
                      _n_fft(layer.size, layer.kernel, (layer.dilation,) * layer.ndim),
                      f"{layer.name} {dtype} method={method}")
    if not ran:
        pytest.skip(f"no {method} backend runs {layer.name}")
