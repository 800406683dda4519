"""Paired rounds of two peers on a shared machine, and the median of their per-round ratios with its interval.

A round runs each peer once, in an order that swaps round by round (A B, B A, ...): before each peer's block an
optional pause, one untimed run (it refills the caches the other peer's block evicted), then ``k`` timed runs; the
block's median is that peer's time in that round. The ratio of the two blocks of one round compares the peers under
the same load (they ran a fraction of a second apart); the median of the rounds' ratios, with its distribution-free
interval (order statistics of the binomial), is the number to report. bench/zoo_latency.py uses this for sdk /
onnxruntime (bench/RESULTS_zoo.md, helper hx49: why its run-by-run alternation of 16 pairs disagreed with
bench/tree_ab.py).
"""
from __future__ import annotations

import math
import statistics
import time


def paired_rounds(fa, fb, rounds, k, clock=time.thread_time, pause=0.0, sleep=time.sleep):
    """Per-round block times of ``fa`` and ``fb``: two lists (one per peer) of ``rounds`` lists of ``k`` seconds.
    Round ``r`` runs A then B for even ``r``, B then A for odd ``r``; each block: ``sleep(pause)`` if ``pause``,
    one untimed call, ``k`` calls timed by ``clock``."""
    ta, tb = [], []
    for r in range(rounds):
        order = ((fa, ta), (fb, tb)) if r % 2 == 0 else ((fb, tb), (fa, ta))
        for f, acc in order:
            if pause:
                sleep(pause)
            f()
            ts = []
            for _ in range(k):
                t0 = clock()
                f()
                ts.append(clock() - t0)
            acc.append(ts)
    return ta, tb


def round_ratios(ta, tb):
    """The ratio of the two peers' block medians, round by round."""
    return [statistics.median(a) / statistics.median(b) for a, b in zip(ta, tb)]


def median_ci(xs, conf=0.95):
    """(median, low, high): the sample median and the order-statistic interval that covers the population median
    with probability >= ``conf`` (ranks from the Binomial(n, 1/2) tails); where no narrower interval reaches ``conf``
    (n <= 6 at 95 %: n <= 5 does not reach it at all) the whole range (min, max)."""
    x = sorted(xs)
    n = len(x)
    if n == 0:
        raise ValueError("no samples")
    alpha = (1.0 - conf) / 2
    # P(Binomial(n, 1/2) < j) is the chance that fewer than j samples lie below the median, i.e. that the median is
    # below x[j - 1]: the largest j whose tail stays <= alpha
    tail, j = 0.0, 0
    while j < n and tail + math.comb(n, j) / 2.0 ** n <= alpha:
        tail += math.comb(n, j) / 2.0 ** n
        j += 1
    # j terms of the tail fit under alpha: the interval is x[j - 1] .. x[n - j] (0-based); j == 0: the whole range
    lo, hi = (x[j - 1], x[n - j]) if j > 0 else (x[0], x[-1])
    return statistics.median(x), lo, hi


def geomean(xs):
    return float(math.exp(sum(math.log(v) for v in xs) / len(xs)))
