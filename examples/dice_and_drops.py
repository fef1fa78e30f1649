"""Probability: the distribution of a sum of independent variables is a convolution.

Two fair dice: the chance that they sum to ``s`` adds up ``P(a) P(b)`` over
every pair with ``a + b = s``, which is the convolution of the two
distributions at ``s``.  The same holds for a ball dropped twice (each drop
lands at a random offset from where it was released): the final position's
distribution is the convolution of the two offsets' distributions, here
discretised on a grid of 0.1.

Run ``python examples/dice_and_drops.py --save docs/gallery`` to write the
bar plot.
"""
from __future__ import annotations

import collections
import itertools
from fractions import Fraction

import numpy as np

import numbaconv
from _gallery import new_figure, parser, save_figure

#: grid step of the discretised drops, and the two drops' standard deviations
STEP = 0.1
SIGMA_FIRST, SIGMA_SECOND = 1.0, 0.5


def dice_sum_counts(dice):
    """Count the ways of rolling each total with ``dice`` fair six-sided dice, by convolution.

    Parameters
    ----------
    dice : int
        How many dice (at least 1).

    Returns
    -------
    ndarray of int64
        ``counts[i]`` is the number of the ``6**dice`` outcomes whose total
        is ``dice + i``.

    Examples
    --------
    >>> dice_sum_counts(2)
    array([1, 2, 3, 4, 5, 6, 5, 4, 3, 2, 1])
    """
    die = np.ones(6, dtype=np.int64)        # one way to roll each face: exact in integers
    counts = die
    for _ in range(dice - 1):
        counts = numbaconv.convolve(counts, die)
    return counts


def enumerate_dice(dice):
    """Return the exact distribution of the total of ``dice`` dice, by listing every outcome.

    Parameters
    ----------
    dice : int
        How many dice.

    Returns
    -------
    dict
        Total -> probability as a :class:`fractions.Fraction`.

    Examples
    --------
    >>> enumerate_dice(2)[7]
    Fraction(1, 6)
    """
    totals = collections.Counter(sum(roll) for roll in itertools.product(range(1, 7), repeat=dice))
    return {total: Fraction(n, 6 ** dice) for total, n in sorted(totals.items())}


def drop_distribution(sigma):
    """Discretise a normal offset of standard deviation ``sigma`` on the grid :data:`STEP`.

    Parameters
    ----------
    sigma : float
        Standard deviation of the offset.

    Returns
    -------
    offsets : ndarray
        Grid points from ``-4 sigma`` to ``4 sigma``, symmetric about 0.
    probabilities : ndarray
        Their probabilities, summing to 1.

    Examples
    --------
    >>> x, p = drop_distribution(0.5)
    >>> len(x), float(x[0]), round(float(p.sum()), 12)
    (41, -2.0, 1.0)
    """
    half = int(round(4 * sigma / STEP))
    offsets = np.arange(-half, half + 1) * STEP
    weights = np.exp(-0.5 * (offsets / sigma) ** 2)
    return offsets, weights / weights.sum()


def enumerate_sum(p, q):
    """Add up ``p[i] q[j]`` for every pair of grid indices: the distribution of ``i + j``.

    Parameters
    ----------
    p, q : ndarray
        Probabilities over the grid indices ``0..len-1``.

    Returns
    -------
    ndarray
        Probability of each index sum ``0..len(p) + len(q) - 2``.

    Examples
    --------
    >>> enumerate_sum(np.array([0.5, 0.5]), np.array([0.5, 0.5]))
    array([0.25, 0.5 , 0.25])
    """
    out = np.zeros(len(p) + len(q) - 1)
    for i, j in itertools.product(range(len(p)), range(len(q))):
        out[i + j] += p[i] * q[j]
    return out


def variance(x, p):
    """Return the variance of a discrete distribution with values ``x`` and probabilities ``p``.

    Parameters
    ----------
    x, p : ndarray
        Values and their probabilities.

    Returns
    -------
    float
        ``E[(X - E X)^2]``.

    Examples
    --------
    >>> variance(np.array([-1.0, 1.0]), np.array([0.5, 0.5]))
    1.0
    """
    mean = np.dot(x, p)
    return float(np.dot((x - mean) ** 2, p))


def plot(counts2, counts3, drops, directory):
    """Draw bar plots of the dice totals and of the two drops; return the PNG's path."""
    fig = new_figure(9, 3.2)
    ax_dice, ax_drop = fig.subplots(1, 2)
    for counts, dice, colour in ((counts2, 2, "C0"), (counts3, 3, "C1")):
        totals = np.arange(dice, 6 * dice + 1)
        ax_dice.bar(totals, counts / 6 ** dice, width=0.8 if dice == 2 else 0.4, color=colour,
                    alpha=0.8, label=f"{dice} dice")
    ax_dice.set(title="Total of fair dice", xlabel="total", ylabel="probability",
                xticks=range(2, 19, 2))
    ax_dice.legend()
    (x1, p1), (x2, p2), (x, both) = drops
    ax_drop.bar(x, both, width=STEP, color="C2", alpha=0.6, label="both drops: first ∗ second")
    ax_drop.step(x1, p1, where="mid", color="C0", label=f"first drop (σ = {SIGMA_FIRST})")
    ax_drop.step(x2, p2, where="mid", color="C1", label=f"second drop (σ = {SIGMA_SECOND})")
    ax_drop.set(title="A ball dropped twice", xlabel="offset from the start", ylabel="probability")
    ax_drop.legend(fontsize="small")
    return save_figure(fig, directory, "dice_and_drops.png")


def main(save=None):
    """Compute both distributions by convolution, check them by enumeration, and plot.

    Parameters
    ----------
    save : str or pathlib.Path, optional
        Directory for ``dice_and_drops.png``; nothing is plotted without it.

    Returns
    -------
    dict
        ``dice2``/``dice3`` (counts of each total), ``drop_offsets`` and
        ``drop_probabilities`` (the sum of both drops), ``figure`` (the
        PNG's path or ``None``).

    Examples
    --------
    >>> int(main()["dice2"][5])   # 6 of the 36 rolls of two dice total 7
    6
    """
    counts2, counts3 = dice_sum_counts(2), dice_sum_counts(3)
    for counts, dice in ((counts2, 2), (counts3, 3)):
        exact = enumerate_dice(dice)
        assert counts.dtype == np.int64 and counts.sum() == 6 ** dice
        assert [Fraction(int(c), 6 ** dice) for c in counts] == list(exact.values()), dice
        assert list(exact) == list(range(dice, 6 * dice + 1))

    (x1, p1), (x2, p2) = drop_distribution(SIGMA_FIRST), drop_distribution(SIGMA_SECOND)
    both = numbaconv.convolve(p1, p2)
    # the grids share the step, so offsets add as indices do: the sum starts at x1[0] + x2[0]
    offsets = x1[0] + x2[0] + np.arange(len(both)) * STEP
    np.testing.assert_allclose(both, enumerate_sum(p1, p2), rtol=1e-12, atol=1e-15)
    assert abs(both.sum() - 1.0) < 1e-12
    # variances of independent offsets add, exactly for the discrete distributions too
    assert abs(variance(offsets, both) - (variance(x1, p1) + variance(x2, p2))) < 1e-12

    figure = plot(counts2, counts3, ((x1, p1), (x2, p2), (offsets, both)), save) if save else None
    return {"dice2": counts2, "dice3": counts3, "drop_offsets": offsets,
            "drop_probabilities": both, "figure": figure}


if __name__ == "__main__":
    args = parser(__doc__).parse_args()
    result = main(args.save)
    print("two dice, ways of rolling 2..12:", result["dice2"].tolist())
    print("three dice, ways of rolling 3..18:", result["dice3"].tolist())
    print(f"two drops: offsets {result['drop_offsets'][0]:.1f}..{result['drop_offsets'][-1]:.1f}, "
          f"variance {variance(result['drop_offsets'], result['drop_probabilities']):.4f}")
    if result["figure"]:
        print("wrote", result["figure"])
