"""Tunable workloads: the library calls a schedule can replace, with their sizes at the dims' bounds.

A workload's structural hash (kind, sizes, layout, target) keys the tuning database: the same GEMM in
two models shares its tuning record, and a changed kernel no longer matches its old record.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Dict, Optional

from ..ir import sym
from ..tir.expr import Buffer, LibCall

GEMM_ARGS = ("batch", "M", "N", "K", "alpha", "A", "a_bs", "a_rs", "a_cs", "B", "b_bs", "b_rs", "b_cs",
             "beta", "C", "c_rs", "c_cs", "Y")
CONV_ARGS = ("N", "C", "H", "W", "M", "OH", "OW", "KH", "KW", "SH", "SW", "PH", "PW", "DH", "DW", "groups",
             "X", "Wt", "bias", "Y")
TUNABLE = {"sdk_gemm_f32": ("gemm", GEMM_ARGS), "sdk_conv2d_f32": ("conv2d", CONV_ARGS)}


@dataclass(frozen=True)
class Workload:
    kind: str                 # "gemm" | "conv2d"
    params: tuple             # sorted (name, int) pairs at the bounds; buffers: whether present (0/1)

    def __getitem__(self, k):
        return dict(self.params)[k]

    @property
    def p(self) -> Dict[str, int]:
        return dict(self.params)

    @property
    def pointwise(self) -> bool:
        p = self.p
        return self.kind == "conv2d" and (p["KH"], p["KW"], p["SH"], p["SW"], p["PH"], p["PW"]) == (1, 1, 1, 1, 0, 0)

    def gemm_shape(self):
        """(batches, M, N, K) of the matrix product(s) the workload runs."""
        p = self.p
        if self.kind == "gemm":
            return p["batch"], p["M"], p["N"], p["K"]
        g = p["groups"]
        return p["N"] * g, p["M"] // g, p["OH"] * p["OW"], p["C"] // g * p["KH"] * p["KW"]

    def flops(self) -> int:
        b, m, n, k = self.gemm_shape()
        return 2 * b * m * n * k

    @property
    def b_contiguous(self) -> bool:
        """Can the micro-kernel read B rows in place (no packing)?"""
        if self.kind == "gemm":
            return self["b_cs"] == 1
        return self.pointwise

    def key(self) -> str:
        return json.dumps({"kind": self.kind, **self.p}, sort_keys=True)

    def hash(self, target: str) -> str:
        return hashlib.sha1(f"{target}|{self.key()}".encode()).hexdigest()[:16]

    def __str__(self):
        b, m, n, k = self.gemm_shape()
        extra = f" {self['KH']}x{self['KW']}/s{self['SH']} g{self['groups']}" if self.kind == "conv2d" else ""
        return f"{self.kind} {b}x[{m}x{k}]*[{k}x{n}]{extra}"


def workload_of(step, bounds: Dict[str, int]) -> Optional[Workload]:
    """The workload of a library call, or None if it is not tunable."""
    if not isinstance(step, LibCall) or step.fn not in TUNABLE:
        return None
    kind, names = TUNABLE[step.fn]
    if any(not sym.is_static(a) and set(sym.free_vars(a)) - set(bounds)
           for a in step.args if not isinstance(a, (Buffer, float)) and a is not None):
        return None  # a dim without a bound: the memory planner reports it
    params = {}
    for n, a in zip(names, step.args):
        if isinstance(a, Buffer) or a is None:
            if n not in ("Y", "A", "B", "X", "Wt"):
                params["has_" + n] = int(a is not None)
        elif isinstance(a, float):
            params[n] = int(a != (1.0 if n == "alpha" else 0.0))  # only "is it the identity" matters
        else:
            params[n] = int(sym.evaluate(a, bounds) if not sym.is_static(a) else a)
    return Workload(kind, tuple(sorted(params.items())))
