"""Audio: an echo and a reverb are convolutions with an impulse response.

A room (or a canyon) answers a click with an *impulse response*: the click
itself, then its reflections, delayed and quieter.  What we hear from any
sound is that sound convolved with the impulse response.  A kernel of two
spikes (1 at lag 0, ``g`` at lag ``D``) makes a single echo; a second and a
half of exponentially decaying noise sounds like a hall.  The reverb's
kernel has 24 000 taps, a job for overlap-add (:func:`numbaconv.oaconvolve`).

The script synthesises a few plucked tones at 16 kHz, writes the dry, echoed
and reverberated sounds as WAV files and reads them back (``--wav DIR`` keeps
them; else a temporary directory).  ``--save docs/gallery`` writes the
waveform plot.
"""
from __future__ import annotations

import pathlib
import tempfile

import numpy as np
import scipy.io.wavfile
import scipy.signal

import numbaconv
from _gallery import new_figure, parser, save_figure

RATE = 16_000
#: the echo: delay in seconds and gain
ECHO_DELAY, ECHO_GAIN = 0.45, 0.5
#: the hall: impulse response length and reverberation time (60 dB of decay), in seconds
REVERB_LENGTH, REVERB_T60 = 1.5, 1.0
#: the notes of the dry signal (an A major arpeggio, Hz) and the time between them
NOTES, NOTE_SPACING = (220.0, 277.18, 329.63, 440.0), 0.3


def plucked_tones(duration=1.6, rate=RATE):
    """Pluck a few strings: each note a sum of decaying harmonics, one note after another.

    Parameters
    ----------
    duration : float, optional
        Length in seconds.
    rate : int, optional
        Samples per second.

    Returns
    -------
    ndarray of float64
        The signal, its peak scaled to 0.5.

    Examples
    --------
    >>> x = plucked_tones(1.0)
    >>> x.shape, float(np.abs(x).max())
    ((16000,), 0.5)
    """
    t = np.arange(int(duration * rate)) / rate
    out = np.zeros_like(t)
    for i, freq in enumerate(NOTES):
        since = t - i * NOTE_SPACING
        on = since >= 0
        for harmonic in range(1, 6):
            # higher harmonics die away faster, as on a real string
            decay = np.exp(-since[on] * (3.0 + 2.0 * harmonic))
            out[on] += decay * np.sin(2 * np.pi * harmonic * freq * since[on]) / harmonic
    return 0.5 * out / np.abs(out).max()


def echo_kernel(delay=ECHO_DELAY, gain=ECHO_GAIN, rate=RATE):
    """Return the impulse response of one echo: the sound, then ``gain`` times it ``delay`` later.

    Parameters
    ----------
    delay : float, optional
        Seconds between the sound and its echo.
    gain : float, optional
        The echo's amplitude relative to the sound.
    rate : int, optional
        Samples per second.

    Returns
    -------
    ndarray
        ``delay * rate + 1`` taps: 1 at the first, ``gain`` at the last.

    Examples
    --------
    >>> echo_kernel(0.001, 0.5, rate=3000)
    array([1. , 0. , 0. , 0.5])
    """
    kernel = np.zeros(int(round(delay * rate)) + 1)
    kernel[0], kernel[-1] = 1.0, gain
    return kernel


def hall_impulse_response(length=REVERB_LENGTH, t60=REVERB_T60, rate=RATE, seed=0):
    """Make a synthetic hall: the direct sound, then noise decaying by 60 dB in ``t60`` seconds.

    Parameters
    ----------
    length : float, optional
        Length in seconds.
    t60 : float, optional
        Time for the reflections to decay by 60 dB.
    rate : int, optional
        Samples per second.
    seed : int, optional
        Seed of the noise.

    Returns
    -------
    ndarray of float64
        ``length * rate`` taps, the first one 1.

    Examples
    --------
    >>> h = hall_impulse_response(0.5, 0.25)
    >>> h.shape, float(h[0])
    ((8000,), 1.0)
    """
    t = np.arange(int(length * rate)) / rate
    envelope = 10.0 ** (-3.0 * t / t60)            # -60 dB at t60
    reflections = np.random.default_rng(seed).standard_normal(t.size) * envelope
    reflections[0] = 0.0
    # the reflections carry about as much energy as the direct sound
    reflections /= np.sqrt(np.sum(reflections ** 2))
    reflections[0] = 1.0
    return reflections


def write_and_read(directory, name, signal, rate=RATE):
    """Write ``signal`` as a 32-bit float WAV file, read it back and return ``(path, rate, data)``.

    Parameters
    ----------
    directory : pathlib.Path
        Where to write.
    name : str
        File name, ending in ``.wav``.
    signal : ndarray
        Samples in [-1, 1].
    rate : int, optional
        Samples per second.

    Returns
    -------
    tuple
        The path, the rate read back and the samples read back (float32).

    Examples
    --------
    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as d:
    ...     path, rate, data = write_and_read(pathlib.Path(d), "a.wav", np.array([0.0, 0.5]))
    >>> rate, data
    (16000, array([0. , 0.5], dtype=float32))
    """
    path = directory / name
    scipy.io.wavfile.write(path, rate, signal.astype(np.float32))
    read_rate, data = scipy.io.wavfile.read(path)
    return path, read_rate, data


def plot(dry, wet, hall, reverb, directory):
    """Draw the dry sound, the echo, the hall's impulse response and the reverb; return the PNG."""
    fig = new_figure(9, 5.2)
    axes = fig.subplots(4, 1, sharex=True)
    rows = ((dry, "dry: plucked tones", "C0"), (wet, f"echo: {ECHO_GAIN} × dry, {ECHO_DELAY} s later",
                                                 "C1"),
            (hall, f"hall impulse response ({hall.size} taps)", "C2"),
            (reverb, "reverb: dry ∗ hall (oaconvolve)", "C3"))
    for ax, (signal, title, colour) in zip(axes, rows):
        ax.plot(np.arange(signal.size) / RATE, signal, color=colour, linewidth=0.4)
        ax.set_title(title, fontsize="medium", loc="left")
        ax.set_yticks([])
    axes[1].axvline(ECHO_DELAY, color="k", linestyle=":", linewidth=1)
    axes[-1].set_xlabel("time (s)")
    return save_figure(fig, directory, "echo_and_reverb.png")


def main(save=None, wav_dir=None):
    """Make the echo and the reverb, check them, write and read the WAV files, and plot.

    Parameters
    ----------
    save : str or pathlib.Path, optional
        Directory for ``echo_and_reverb.png``; nothing is plotted without it.
    wav_dir : str or pathlib.Path, optional
        Directory for ``dry.wav``, ``echo.wav`` and ``reverb.wav``; a
        temporary one (removed afterwards) by default.

    Returns
    -------
    dict
        ``lag`` (samples) and ``gain`` of the echo as found in the signal,
        ``dry``, ``echo``, ``hall``, ``reverb`` (the signals), ``wav_rates``
        (the rate read back from each file), ``figure`` (the PNG's path or
        ``None``).

    Examples
    --------
    >>> result = main()                            # doctest: +SKIP
    >>> result["lag"] == round(ECHO_DELAY * RATE)  # doctest: +SKIP
    True
    """
    dry = plucked_tones()
    kernel = echo_kernel()
    delay = kernel.size - 1
    wet = numbaconv.convolve(dry, kernel)

    # the echo leaves the first `delay` samples alone and adds gain x the dry sound after them
    np.testing.assert_allclose(wet[:delay], dry[:delay], rtol=0, atol=1e-12)
    added = wet - np.pad(dry, (0, delay))
    np.testing.assert_allclose(added, ECHO_GAIN * np.pad(dry, (delay, 0)), rtol=0, atol=1e-12)
    # find the copy as a listener's ear would not, but an analyst would: correlate with the dry sound
    similarity = numbaconv.correlate(added, dry)
    lag = int(np.argmax(similarity)) - (dry.size - 1)
    gain = float(similarity.max() / np.dot(dry, dry))
    assert lag == delay, (lag, delay)
    assert abs(gain - ECHO_GAIN) < 1e-9, gain

    hall = hall_impulse_response()
    reverb = numbaconv.oaconvolve(dry, hall)
    expected = scipy.signal.fftconvolve(dry, hall)
    assert reverb.shape == expected.shape == (dry.size + hall.size - 1,)
    np.testing.assert_allclose(reverb, expected, rtol=0, atol=1e-12 * np.abs(expected).max())

    rates = {}
    with tempfile.TemporaryDirectory() as scratch:
        directory = pathlib.Path(wav_dir or scratch)
        directory.mkdir(parents=True, exist_ok=True)
        for name, signal in (("dry", dry), ("echo", wet), ("reverb", reverb)):
            signal = 0.9 * signal / np.abs(signal).max()
            _, rates[name], data = write_and_read(directory, f"{name}.wav", signal)
            # a float32 WAV keeps float32 samples exactly
            np.testing.assert_array_equal(data, signal.astype(np.float32))
    assert set(rates.values()) == {RATE}

    figure = plot(dry, wet, hall, reverb, save) if save else None
    return {"lag": lag, "gain": gain, "dry": dry, "echo": wet, "hall": hall, "reverb": reverb,
            "wav_rates": rates, "figure": figure}


if __name__ == "__main__":
    cli = parser(__doc__)
    cli.add_argument("--wav", type=pathlib.Path, default=None, metavar="DIR",
                     help="keep dry.wav, echo.wav and reverb.wav in DIR")
    args = cli.parse_args()
    result = main(args.save, args.wav)
    print(f"echo found {result['lag']} samples ({result['lag'] / RATE:.3f} s) after the sound, "
          f"gain {result['gain']:.3f}")
    print(f"reverb: {result['dry'].size} samples * {result['hall'].size}-tap hall "
          f"= {result['reverb'].size} samples, equal to scipy.signal.fftconvolve")
    if args.wav:
        print("wrote dry.wav, echo.wav, reverb.wav into", args.wav)
    if result["figure"]:
        print("wrote", result["figure"])
