"""Learned cost model: gradient-boosted trees (LightGBM) over features of a schedule on its workload.

Features describe the loop nest the schedule produces: sizes, register tile, its arithmetic intensity
and register use, cache-block footprints against L1/L2, padding waste of the edge tiles, packing,
loop order, unroll. The model predicts a workload-normalised score (best time of the workload / time),
so one model learns across workloads; the search ranks candidates by it.
"""
from __future__ import annotations

import math
from typing import Dict, List

import numpy as np

from .workload import Workload


def _waste(extent, tile):
    return (-extent) % tile / max(extent, 1)


def features(wl: Workload, s: Dict) -> List[float]:
    b, M, N, K = wl.gemm_shape()
    L = s["lanes"]
    nr = s["nv"] * L
    mr, kc, mc, nc = s["mr"], s["kc"], s["mc"], s["nc"]
    lg = lambda x: math.log2(max(x, 1))  # noqa: E731
    return [
        lg(b), lg(M), lg(N), lg(K), float(wl.kind == "conv2d"), float(wl.pointwise),
        mr, s["nv"], lg(nr), mr * s["nv"], mr * nr / (mr + nr),            # register tile, intensity
        lg(kc), lg(mc), lg(nc),
        lg(kc * nr * 4), lg(kc * mr * 4), lg(mc * kc * 4), lg(kc * nc * 4),  # panel / block footprints
        _waste(M, mr), _waste(N, nr), _waste(K, kc), _waste(M, mc), _waste(N, nc),
        float(s["pack_a"]), float(s["pack_b"]), float(s["order"] == "ij"), lg(s["unroll"]),
        lg(M / mr * N / nr),                                                  # number of register tiles
    ]


class CostModel:
    """Fit on measured (workload, schedule, seconds); predict a score (higher is faster)."""

    def __init__(self, seed: int = 0, min_samples: int = 16):
        self.seed, self.min_samples = seed, min_samples
        self.model = None
        self.rows: List[tuple] = []  # (workload key, features, seconds)

    def update(self, samples):
        """samples: [(wl, schedule, seconds)]; refits on everything measured so far."""
        for wl, s, t in samples:
            if s is not None and math.isfinite(t):
                self.rows.append((wl.key(), features(wl, s), t))
        if len(self.rows) < self.min_samples:
            return
        best: Dict[str, float] = {}
        for k, _, t in self.rows:
            best[k] = min(best.get(k, t), t)
        X = np.array([f for _, f, _ in self.rows])
        y = np.array([best[k] / t for k, _, t in self.rows])
        import lightgbm as lgb
        params = {"objective": "regression", "learning_rate": 0.1, "num_leaves": 15, "min_data_in_leaf": 3,
                  "seed": self.seed, "deterministic": True, "verbose": -1, "num_threads": 1}
        self.model = lgb.train(params, lgb.Dataset(X, y), num_boost_round=80)

    @property
    def ready(self) -> bool:
        return self.model is not None

    def predict(self, wl: Workload, schedules: List[Dict]) -> np.ndarray:
        if self.model is None:
            return np.zeros(len(schedules))
        return self.model.predict(np.array([features(wl, s) for s in schedules]))
