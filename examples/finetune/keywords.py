"""A synthetic keyword-spotting set, in numpy (no downloads): each keyword is a fixed 49x10 "MFCC" pattern (smooth
random bands); a sample is its keyword's pattern shifted in time, scaled and noisy. Classes 0-3 are the keywords
the backbone was trained on (make_backbone.py); class 4 is the new keyword fine-tuning teaches it."""
from __future__ import annotations

import numpy as np

FRAMES, COEFFS, CLASSES = 49, 10, 5


def templates(seed: int = 2024) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = rng.standard_normal((CLASSES, FRAMES + 8, COEFFS))
    k = np.ones(5) / 5  # smooth along time: band-like patterns
    t = np.apply_along_axis(lambda v: np.convolve(v, k, mode="same"), 1, t)
    return (t / t.std(axis=(1, 2), keepdims=True)).astype(np.float32)


def samples(cls, n: int, seed: int, noise: float = 0.8) -> np.ndarray:
    """``n`` samples [n, 1, 49, 10] of class ``cls`` (an int or an array of n ints)."""
    rng = np.random.default_rng(seed)
    T = templates()
    cls = np.broadcast_to(np.asarray(cls), (n,))
    out = np.empty((n, 1, FRAMES, COEFFS), np.float32)
    for i, c in enumerate(cls):
        s = rng.integers(0, 9)
        out[i, 0] = T[c, s:s + FRAMES] * rng.uniform(0.7, 1.3) + noise * rng.standard_normal((FRAMES, COEFFS))
    return out


def dataset(classes, per_class: int, seed: int):
    """(x [N, 1, 49, 10], labels int64 [N]) shuffled, ``per_class`` samples of each class."""
    labels = np.repeat(np.asarray(classes, np.int64), per_class)
    rng = np.random.default_rng(seed + 1)
    labels = labels[rng.permutation(len(labels))]
    return samples(labels, len(labels), seed), labels
