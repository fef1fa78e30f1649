"""The gallery (``examples/``): every script runs, checks itself, and its results hold here too.

Each script's ``main(save)`` asserts its own results; these tests run it
with a temporary picture directory and check the returned values again
against oracles computed here (SciPy, NumPy, enumeration, arithmetic), so
that a script whose checks were weakened would still be caught.  Timings
are never asserted.  The scripts draw with matplotlib's Agg canvas and
never open a window.
"""
from __future__ import annotations

import collections
import doctest
import importlib.util
import itertools
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest
import scipy.io.wavfile
import scipy.ndimage
import scipy.signal

pytest.importorskip("matplotlib")

EXAMPLES_DIR = pathlib.Path(__file__).resolve().parents[1] / "examples"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def load():
    """Import an example by its path (``examples/`` on ``sys.path`` for their shared helpers)."""
    loaded = {}
    with pytest.MonkeyPatch.context() as patch:
        patch.syspath_prepend(str(EXAMPLES_DIR))
        patch.setenv("MPLBACKEND", "Agg")

        def import_example(name):
            if name not in loaded:
                spec = importlib.util.spec_from_file_location(f"gallery_{name}",
                                                              EXAMPLES_DIR / f"{name}.py")
                module = importlib.util.module_from_spec(spec)
                spec.loader.exec_module(module)
                failed, _ = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
                assert failed == 0, f"{name}: {failed} doctest example(s) failed"
                loaded[name] = module
            return loaded[name]

        yield import_example


def check_picture(path, directory, name):
    """Check that the script wrote one small PNG where it was told to."""
    assert path == pathlib.Path(directory) / name
    data = path.read_bytes()
    assert data.startswith(PNG_SIGNATURE)
    assert 2_000 < len(data) < 100_000


def test_importing_runs_and_plots_nothing(tmp_path):
    """Importing every script computes nothing, writes nothing and leaves matplotlib unimported."""
    names = [p.stem for p in sorted(EXAMPLES_DIR.glob("*.py"))]
    assert {"dice_and_drops", "echo_and_reverb", "image_filters", "from_dense_to_conv",
            "convolution_theorem", "make_gallery"} <= set(names)
    code = ("import sys, importlib; sys.path.insert(0, sys.argv[1]); "
            "[importlib.import_module(n) for n in sys.argv[2:]]; "
            "assert 'matplotlib' not in sys.modules, 'matplotlib imported'; "
            "assert 'numba' in sys.modules")
    subprocess.run([sys.executable, "-c", code, str(EXAMPLES_DIR), *names], cwd=tmp_path,
                   check=True, timeout=120, env=dict(os.environ, MPLBACKEND="Agg"))
    assert list(tmp_path.iterdir()) == []


def test_gallery_list_matches_the_scripts(load):
    """make_gallery runs every script the gallery lists, and the list names real scripts."""
    gallery = load("_gallery")
    assert all((EXAMPLES_DIR / f"{name}.py").is_file() for name in gallery.EXAMPLES)
    assert len(set(gallery.EXAMPLES)) == 5


def test_make_gallery_writes_each_picture(load, tmp_path, monkeypatch):
    """The one command that regenerates the pictures runs a script's main and keeps its PNG."""
    make_gallery = load("make_gallery")
    monkeypatch.setattr(make_gallery, "EXAMPLES", ("dice_and_drops",))
    written = make_gallery.main(tmp_path)
    check_picture(written[0], tmp_path, "dice_and_drops.png")


def test_dice_and_drops(load, tmp_path):
    """Dice totals counted by enumeration; the two drops' sum equals NumPy's convolution."""
    result = load("dice_and_drops").main(tmp_path)
    for dice, key in ((2, "dice2"), (3, "dice3")):
        ways = collections.Counter(map(sum, itertools.product(range(1, 7), repeat=dice)))
        assert result[key].tolist() == [ways[t] for t in range(dice, 6 * dice + 1)]
    assert result["dice2"].tolist() == [1, 2, 3, 4, 5, 6, 5, 4, 3, 2, 1]
    p = result["drop_probabilities"]
    offsets = result["drop_offsets"]
    # first drop: 81 grid points (sigma 1, +-4 sigma at step 0.1); second: 41
    assert len(p) == 81 + 41 - 1
    np.testing.assert_allclose(offsets[[0, -1]], [-6.0, 6.0], atol=1e-12)
    np.testing.assert_allclose(p.sum(), 1.0, atol=1e-12)
    np.testing.assert_allclose(p, p[::-1], atol=1e-15)                  # symmetric about 0
    assert offsets[np.argmax(p)] == pytest.approx(0.0, abs=1e-12)
    check_picture(result["figure"], tmp_path, "dice_and_drops.png")


def test_echo_and_reverb(load, tmp_path):
    """The echo sits 0.45 s x 16 kHz = 7200 samples late at half the gain; the reverb is SciPy's."""
    module = load("echo_and_reverb")
    result = module.main(tmp_path, wav_dir=tmp_path / "wav")
    assert result["lag"] == 7200
    assert result["gain"] == pytest.approx(0.5, abs=1e-9)
    dry, wet = result["dry"], result["echo"]
    np.testing.assert_allclose(wet, np.convolve(dry, np.r_[1.0, np.zeros(7199), 0.5]), atol=1e-12)
    assert result["hall"].size == 24_000                                 # 1.5 s at 16 kHz
    expected = scipy.signal.fftconvolve(dry, result["hall"])
    np.testing.assert_allclose(result["reverb"], expected, atol=1e-12 * np.abs(expected).max())
    for name in ("dry", "echo", "reverb"):
        rate, data = scipy.io.wavfile.read(tmp_path / "wav" / f"{name}.wav")
        assert rate == 16_000 and data.dtype == np.float32
        assert data.size == result[name].size
        assert np.abs(data).max() == pytest.approx(0.9, rel=1e-6)
    check_picture(result["figure"], tmp_path, "echo_and_reverb.png")


def test_image_filters(load, tmp_path):
    """Blurs and edges against SciPy; the Gaussian ran the separable path."""
    result = load("image_filters").main(tmp_path)
    img = result["image"]
    np.testing.assert_allclose(result["box"], scipy.ndimage.uniform_filter(img, 3, mode="constant"),
                               atol=1e-13)
    np.testing.assert_allclose(result["difference"], img[:, 1:] - img[:, :-1], atol=1e-15)
    np.testing.assert_allclose(result["sobel"],
                               np.hypot(scipy.ndimage.sobel(img, 1), scipy.ndimage.sobel(img, 0)),
                               atol=1e-12)
    np.testing.assert_allclose(result["gaussian"],
                               scipy.ndimage.gaussian_filter(img, 3.0, mode="constant", truncate=3.0),
                               atol=1e-12)
    assert result["gaussian_backend"] == "cpu_separable"
    # steps are at most 1, and no 3x3 pattern of 0s and 1s beats a square's convex corner on 0s
    # (gx = gy = 1 + 2): the checkerboard's white squares meet the gradient's black first column
    assert result["sobel"].max() == pytest.approx(3 * np.sqrt(2), rel=1e-12)
    check_picture(result["figure"], tmp_path, "image_filters.png")


def test_from_dense_to_conv(load, tmp_path):
    """Parameter counts by arithmetic, output shapes by torch's formula, a learnt Sobel kernel."""
    module = load("from_dense_to_conv")
    result = module.main(tmp_path)
    assert result["counts"] == {"dense": 1_000_000_000_000, "shared": 3_996_001, "local": 121}
    # floor((n + 2p - d(k - 1) - 1) / s) + 1 per axis, worked out by hand for the three layers
    assert result["shapes"] == [(2, 8, 32, 16), (1, 6, 31, 31), (3, 4, 12, 31)]
    losses = result["losses"]
    assert losses[-1] < 1e-8 * losses[0]
    assert np.all(np.diff(losses) < 0)
    np.testing.assert_allclose(result["weight"][0, 0], [[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]], atol=1e-3)
    check_picture(result["figure"], tmp_path, "from_dense_to_conv.png")


def test_convolution_theorem(load, tmp_path):
    """Predictions are methods (direct for tiny signals, FFT for huge ones); no timing is checked."""
    module = load("convolution_theorem")
    result = module.main(tmp_path, repeat=1)
    sizes = result["sizes"]
    assert sizes[0] == 64 and sizes[-1] == 32768
    assert set(result["choices"]) <= {"direct", "fft"}
    # 64 x 64 multiply-adds cannot lose to transforms; 32768^2 = 1e9 cannot beat them
    assert result["choices"][0] == "direct" and result["choices"][-1] == "fft"
    crossover = result["predicted_crossover"]
    assert crossover in sizes and result["choices"][sizes.index(crossover)] == "fft"
    assert all(c == "fft" for c in result["choices"][sizes.index(crossover):])
    assert all(set(t) == {"direct", "fft"} and min(t.values()) > 0 for t in result["times"])
    check_picture(result["figure"], tmp_path, "convolution_theorem.png")
