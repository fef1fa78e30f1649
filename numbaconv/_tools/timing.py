"""The tools' timers, built on the library's harness (:mod:`numbaconv._timing`).

:func:`measure` times one callable (first call reported apart: it pays the
JIT compile); :func:`interleaved` times several in a shuffled round-robin,
so that a shared machine's slow minutes hit all of them alike.  Every
benchmark and calibration step times through one of the two.
"""
from __future__ import annotations

import dataclasses
import statistics
import time
from typing import Callable

import numpy as np

from .. import _timing

#: a sample lasts at least this long (seconds): calls shorter are batched
MIN_SAMPLE = 2e-3
#: most calls batched into one sample
MAX_CALLS = 10_000
#: rounds :func:`interleaved` takes whatever its time budget (at most ``repeat``)
MIN_ROUNDS = 5
#: :func:`quiesce` sleeps in steps of this many seconds, for at most QUIET_LIMIT
QUIET_STEP = 2e-3
QUIET_LIMIT = 0.1


@dataclasses.dataclass
class Timing:
    """What :func:`measure` found: per-call seconds and how they were taken."""

    median: float
    best: float
    first_call: float
    number: int
    samples: list

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)


def measure(fn: Callable[[], object], repeat: int = 5, *, min_sample: float = MIN_SAMPLE,
            max_time: float = 10.0):
    """Time ``fn()``; return ``(Timing, the first call's result)``.

    The first call is the warm-up (JIT compile, caches, page faults),
    reported as ``first_call``.  Calls are then batched so one sample lasts
    ``min_sample`` (:func:`numbaconv._timing.batch`), and at most
    ``repeat`` samples are taken, fewer when they would pass ``max_time``
    seconds; the median per call is the headline number.

    Examples
    --------
    >>> from numbaconv._tools.timing import measure
    >>> timing, out = measure(lambda: sum(range(100)), repeat=3, max_time=0.1)
    >>> out, timing.median > 0
    (4950, True)
    """
    t0 = time.perf_counter()
    out = fn()
    first = time.perf_counter() - t0
    number, est = _timing.batch(fn, min_sample, MAX_CALLS)
    reps = max(1, min(int(repeat), int(max_time / max(est * number, 1e-9)) or 1))
    samples = [_timing.sample(fn, number) for _ in range(reps)]
    return Timing(statistics.median(samples), min(samples), first, number, samples), out


def quiesce(step: float = QUIET_STEP, limit: float = QUIET_LIMIT) -> float:
    """Sleep until this process's other threads are idle; return the seconds waited.

    Thread pools keep spinning after their work: after a call, torch's OpenMP
    threads were measured to burn 6-8 ms of CPU, OpenCV's 20-28 ms, numbaconv's
    1 ms.  On a machine of a few cores, a sample started meanwhile shares a
    core with them, so whatever follows a peer in a round-robin ran slower.
    Idle means that the process's CPU time advanced by less than a tenth of a
    ``step`` while it slept one; the wait ends after ``limit`` seconds anyway.

    Examples
    --------
    >>> from numbaconv._tools.timing import quiesce
    >>> quiesce() < 0.1 + 0.05      # nothing spins here: about one step
    True
    """
    t0 = time.perf_counter()
    while True:
        c0 = time.process_time()
        time.sleep(step)
        waited = time.perf_counter() - t0
        if time.process_time() - c0 < 0.1 * step or waited >= limit:
            return waited


def interleaved(fns: dict, repeat: int, max_time: float) -> dict:
    """Median seconds per call of each ``fns[name]()``, measured round-robin.

    Each function is called once (warm-up) and up to three times more to
    size its batch (one sample lasts about :data:`MIN_SAMPLE`); then each
    round takes one sample of every function, in a new seeded random order,
    so that drifts of a shared machine hit all alike.  Each sample follows
    an untimed call of its own function, once the threads of that call are
    idle (:func:`quiesce`): what is timed is the function called again, as
    a user's loop calls it.  Without that call the first call of a sample
    paid for what the function before it left (a large FFT's freed
    temporaries: a fresh 8 MB output faulted in again, 0.8 ms a call), and
    only a function slow enough to be sampled one call at a time paid it
    in full.  Fewer than ``repeat`` rounds are taken when
    they would pass ``max_time`` seconds, but never fewer than
    :data:`MIN_ROUNDS` (or ``repeat``).
    """
    number, est = {}, {}
    for name, fn in fns.items():
        fn()
        runs = []
        for _ in range(3):   # the fastest of three: one call that page-faults must not shrink the batch
            runs.append(_timing.sample(fn, 1))
            if runs[-1] > max_time / 4:
                break
        est[name] = max(min(runs), 1e-9)
        number[name] = 1 if est[name] >= MIN_SAMPLE else max(1, int(MIN_SAMPLE / est[name]))
    per_round = sum(est[n] * number[n] for n in fns)
    # a "median" of one sample would let a single slow call decide
    rounds = max(1, min(int(repeat), max(MIN_ROUNDS, int(max_time / max(per_round, 1e-9)))))
    samples = {n: [] for n in fns}
    names = list(fns)
    order = np.random.default_rng(len(names) * 7919 + rounds)
    for _ in range(rounds):
        # a fresh order every round: a rotation would keep each function after the same one
        for name in order.permutation(names):
            fns[name]()
            quiesce()
            samples[name].append(_timing.sample(fns[name], number[name]))
    return {n: statistics.median(v) for n, v in samples.items()}


def synchronized(fn: Callable[[], object], sync: Callable[[], object]) -> Callable[[], object]:
    """``fn`` followed by ``sync()`` (a device synchronisation) inside the timed call."""
    def call():
        out = fn()
        sync()
        return out
    return call
