"""Shared synthetic data for the vq tests: a Gaussian mixture (fixed mixture, varying samples)."""
import numpy as np


def gaussian_mixture(n, d=16, comps=12, seed=0, mix_seed=99):
    mr = np.random.default_rng(mix_seed)
    means = mr.standard_normal((comps, d)) * 3.0
    scales = mr.uniform(0.4, 1.2, (comps, d))
    rng = np.random.default_rng(seed)
    lab = rng.integers(comps, size=n)
    return (means[lab] + rng.standard_normal((n, d)) * scales[lab]).astype(np.float32)
