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
from ..tir.expr import LibCall


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
    """The workload of a library call (one whose declaration has a ``Tuning``, not yet scheduled), or None.
    Parameters by their declared names: integers at the bounds; a float only as "is it not its default" (the
    identity: alpha 1, beta 0); a pointer that may be NULL as ``has_<name>``."""
    if not isinstance(step, LibCall) or step.decl is None or step.decl.tune is None or step.impl is not None:
        return None
    decl = step.decl
    if any(not p.pointer and not sym.is_static(a) and set(sym.free_vars(a)) - set(bounds)
           for p, a in zip(decl.params, step.args)):
        return None  # a dim without a bound: the memory planner reports it
    params = {}
    for p, a in zip(decl.params, step.args):
        if p.pointer:
            if p.nullable:
                params["has_" + p.name] = int(a is not None)
        elif p.ctype == "float":
            params[p.name] = int(a != p.default)  # only "is it the identity" matters
        else:
            params[p.name] = int(sym.evaluate(a, bounds) if not sym.is_static(a) else a)
    return Workload(decl.tune.kind, tuple(sorted(params.items())))
