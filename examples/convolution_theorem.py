"""The convolution theorem: convolving is multiplying spectra, and which way is faster.

The Fourier transform turns a convolution into a pointwise product: with
both signals padded to the output's length ``L``,
``a * b = ifft(fft(a, L) fft(b, L))``.  Summing products directly costs
``len(a) len(b)`` multiply-adds; the FFT route costs a few transforms of
``L log L``.  For short signals the direct sum wins (no transforms to pay
for, and it vectorises well); as they grow the FFT overtakes it.  The
script times both methods of :func:`numbaconv.convolve` on two signals of
``n`` samples each, as ``n`` grows, and marks where
:func:`numbaconv.choose_conv_method` predicts the change.

Timings depend on the machine and on what else runs on it: they are
printed and plotted, never checked.  ``--save docs/gallery`` writes the plot.
"""
from __future__ import annotations

import statistics
import time

import numpy as np

import numbaconv
from _gallery import new_figure, parser, save_figure

#: the signal lengths: half-octave steps from 64 to 32768
SIZES = tuple(int(round(2 ** (e / 2))) for e in range(12, 31))
METHODS = ("direct", "fft")


def by_the_theorem(a, b):
    """Convolve ``a`` and ``b`` as the theorem says: multiply their spectra, transform back.

    Parameters
    ----------
    a, b : ndarray
        Real 1-D signals.

    Returns
    -------
    ndarray
        The full convolution, ``len(a) + len(b) - 1`` samples.

    Examples
    --------
    >>> np.round(by_the_theorem(np.array([1.0, 2.0]), np.array([1.0, 1.0, 1.0])), 12)
    array([1., 3., 3., 2.])
    """
    length = len(a) + len(b) - 1
    return np.fft.irfft(np.fft.rfft(a, length) * np.fft.rfft(b, length), length)


def median_times(a, b, repeat=5):
    """Median seconds of ``numbaconv.convolve(a, b, method=m)`` for each method, taken in turns.

    The methods are timed one call each, round after round, so that a
    slower spell of a shared machine falls on both alike.

    Parameters
    ----------
    a, b : ndarray
        The inputs.
    repeat : int, optional
        Calls of each method.

    Returns
    -------
    dict
        Method -> median seconds.

    Examples
    --------
    >>> sorted(median_times(np.ones(8), np.ones(8), repeat=1))
    ['direct', 'fft']
    """
    samples = {method: [] for method in METHODS}
    for _ in range(repeat):
        for method in METHODS:
            start = time.perf_counter()
            numbaconv.convolve(a, b, method=method)
            samples[method].append(time.perf_counter() - start)
    return {method: statistics.median(seconds) for method, seconds in samples.items()}


def first_size(sizes, wins):
    """Return the first size from which ``wins`` holds for every larger size too, or ``None``.

    Parameters
    ----------
    sizes : sequence of int
        Increasing sizes.
    wins : sequence of bool
        Whether the FFT wins at each size.

    Returns
    -------
    int or None
        The crossover size.

    Examples
    --------
    >>> first_size([1, 2, 3, 4], [False, True, False, True])
    4
    """
    crossover = None
    for size, win in zip(sizes, wins):
        crossover = (crossover or size) if win else None
    return crossover


def plot(sample, sizes, times, predicted, directory):
    """Draw both methods' results side by side, then their times against the length; return the PNG."""
    fig = new_figure(10, 4.0)
    ax_values, ax = fig.subplots(1, 2, width_ratios=(1, 1.6))
    direct, fft = sample
    ax_values.plot(direct, color="C0", linewidth=2.5, label="method='direct'")
    ax_values.plot(fft, color="C1", linewidth=1, label="method='fft'")
    ax_values.set(title=f"the same result (max difference {np.abs(direct - fft).max():.0e})",
                  xlabel="output sample")
    ax_values.title.set_fontsize("medium")
    ax_values.legend(fontsize="small", loc="lower center")
    for method, colour in zip(METHODS, ("C0", "C1")):
        ax.loglog(sizes, [t[method] * 1e3 for t in times], "o-", color=colour, markersize=4,
                  label=f"method='{method}', measured (median)")
        ax.loglog(sizes, [c[method] * 1e3 for c in predicted], "--", color=colour, linewidth=1,
                  label=f"method='{method}', predicted by explain()")
    crossover = first_size(sizes, [c["fft"] < c["direct"] for c in predicted])
    if crossover:
        ax.axvline(crossover, color="k", linestyle=":", linewidth=1)
        ax.text(crossover, ax.get_ylim()[0], f" choose_conv_method:\n 'fft' from n = {crossover}\n",
                ha="left", va="bottom", fontsize="small")
    ax.set(xlabel="n (both signals)", ylabel="time per call (ms)",
           title=f"convolve(a, b) for len(a) = len(b) = n, workers={numbaconv.get_workers()}")
    ax.title.set_fontsize("medium")
    ax.legend(fontsize="small", loc="upper left")
    return save_figure(fig, directory, "convolution_theorem.png")


def main(save=None, sizes=SIZES, repeat=5, workers=1):
    """Check that both methods and the theorem agree, time both, and find the crossovers.

    Parameters
    ----------
    save : str or pathlib.Path, optional
        Directory for ``convolution_theorem.png``; nothing is plotted without it.
    sizes : sequence of int, optional
        Signal lengths, increasing.
    repeat : int, optional
        Timed calls of each method at each size.
    workers : int, optional
        Threads for the calls, the predictions and the timings (through
        :func:`numbaconv.set_workers`).  One by default: on a machine that
        runs other work, a second thread may wait milliseconds for a core,
        and the timing would measure the scheduler rather than the method.

    Returns
    -------
    dict
        ``sizes``; ``times`` and ``predicted`` (per size: method -> seconds,
        measured and as :func:`numbaconv.explain` prices them); ``choices``
        (:func:`numbaconv.choose_conv_method` per size); ``predicted_crossover``
        and ``measured_crossover`` (the first size from which the FFT wins,
        or ``None``); ``figure`` (the PNG's path or ``None``).

    Examples
    --------
    >>> main(sizes=(16, 64), repeat=1)["choices"]   # doctest: +SKIP
    ['direct', 'direct']
    """
    with numbaconv.set_workers(workers):
        return _run(save, sizes, repeat)


def _run(save, sizes, repeat):
    """Carry out :func:`main` with the workers set."""
    rng = np.random.default_rng(0)
    times, predicted, choices, sample = [], [], [], None
    for method in METHODS:                       # compile before timing
        numbaconv.convolve(np.ones(8), np.ones(8), method=method)
    for n in sizes:
        a, b = rng.uniform(-1, 1, n), rng.uniform(-1, 1, n)
        direct = numbaconv.convolve(a, b, method="direct")
        fft = numbaconv.convolve(a, b, method="fft")
        # rounding of an FFT grows with the length and the magnitude of the sums (about sqrt(n))
        atol = 1e-13 * np.sqrt(n) * np.log2(2 * n)
        np.testing.assert_allclose(fft, direct, rtol=0, atol=atol)
        np.testing.assert_allclose(by_the_theorem(a, b), direct, rtol=0, atol=atol)
        sample = sample or (direct, fft)        # the smallest size, to show side by side
        choices.append(numbaconv.choose_conv_method(a, b))
        assert choices[-1] in METHODS, choices[-1]
        predicted.append({m: min(numbaconv.explain(a, b, method=m).costs.values()) for m in METHODS})
        times.append(median_times(a, b, repeat))

    figure = plot(sample, sizes, times, predicted, save) if save else None
    return {"sizes": list(sizes), "times": times, "predicted": predicted, "choices": choices,
            "predicted_crossover": first_size(sizes, [c == "fft" for c in choices]),
            "measured_crossover": first_size(sizes, [t["fft"] < t["direct"] for t in times]),
            "figure": figure}


if __name__ == "__main__":
    cli = parser(__doc__)
    cli.add_argument("--repeat", type=int, default=5, metavar="N",
                     help="timed calls of each method at each size (the median is kept)")
    cli.add_argument("--workers", type=int, default=1, metavar="N",
                     help="threads for numbaconv (default 1; see main's docstring)")
    args = cli.parse_args()
    result = main(args.save, repeat=args.repeat, workers=args.workers)
    print(f"{'n':>6} {'direct ms':>10} {'fft ms':>8}  choose_conv_method")
    for n, t, choice in zip(result["sizes"], result["times"], result["choices"]):
        print(f"{n:>6} {t['direct'] * 1e3:>10.3f} {t['fft'] * 1e3:>8.3f}  {choice}")
    print(f"crossover: predicted n = {result['predicted_crossover']}, "
          f"measured n = {result['measured_crossover']}")
    if result["figure"]:
        print("wrote", result["figure"])
