"""Shared synthetic data for the vq tests: a Gaussian mixture (fixed mixture, varying samples), the quantizer of the
C runtime's 8-stage, 256-codeword paths, and queries with the awkward cases."""
import numpy as np


def gaussian_mixture(n, d=16, comps=12, seed=0, mix_seed=99):
    mr = np.random.default_rng(mix_seed)
    means = mr.standard_normal((comps, d)) * 3.0
    scales = mr.uniform(0.4, 1.2, (comps, d))
    rng = np.random.default_rng(seed)
    lab = rng.integers(comps, size=n)
    return (means[lab] + rng.standard_normal((n, d)) * scales[lab]).astype(np.float32)


def rvq8(n, d, seed):
    """An RVQ of 8 stages of 256 codewords (the case of the C runtime's bound-8 tables and ivf_level0), trained
    briefly (3 iterations) on ``gaussian_mixture(n, d, seed=seed)``."""
    from sdk import vq
    return vq.train(gaussian_mixture(n, d=d, seed=seed), method="rvq", stages=8, bits=8, beam=1, seed=0,
                    progress=False, iters=3)


def edge_queries(n, d, seed):
    """``gaussian_mixture(n, d, seed=seed)`` with a zero query (row 0), a far one (row 1, 1e4 times: large terms and
    distances) and two nearly equal ones (rows 2 and 3)."""
    q = gaussian_mixture(n, d=d, seed=seed)
    q[0] = 0
    q[1] *= 1e4
    q[2] = q[3] * (1 + 1e-7)
    return q
