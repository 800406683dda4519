"""Tunable workloads: the library calls a schedule can replace, with their sizes at the dims' bounds.

A workload's structural hash (kind, sizes, layout, fused epilogue, target) keys the tuning database: the same GEMM
in two models shares its tuning record, and a changed kernel no longer matches its old record. The epilogue the build
fuses into the kernel (activation, residual) is part of it: SiLU after a pointwise convolution took 40 % of the
step's time in EfficientNet-B0's bundle, and which register tile is fastest changes with it (bench/RESULTS_zoo.md).
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
    kind: str                 # "gemm" | "conv2d" (the graph passes' block decisions: "dwpw" | "pwdw")
    params: tuple             # sorted (name, int) pairs at the bounds; buffers: whether present (0/1)
    epilogue: tuple = ()      # (act or "", a, b, has residual) fused into the kernel by the build; () none

    def with_epilogue(self, epi) -> "Workload":
        """This workload with the epilogue ``epi`` ((act or None, a, b, R or None), ``epilogue_after``) fused in."""
        if epi is None:
            return self
        act, a, b, R = epi
        return Workload(self.kind, self.params, (act or "", float(a or 0.0), float(b or 0.0), int(R is not None)))

    def epilogue_arg(self):
        """The epilogue in ``kernel_source``'s form ((act or None, a, b, has R)), or None."""
        if not self.epilogue:
            return None
        act, a, b, r = self.epilogue
        return (act or None, a, b, bool(r))

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
        d = {"kind": self.kind, **self.p}
        if self.epilogue:
            d["epilogue"] = list(self.epilogue)
        return json.dumps(d, sort_keys=True)

    def hash(self, target: str) -> str:
        return hashlib.sha1(f"{target}|{self.key()}".encode()).hexdigest()[:16]

    def __str__(self):
        if self.kind == "pwdw":  # an expansion + depthwise chain (sdk/transform/fuse_dw_project.py fuse_pw_dw)
            p = self.p
            return f"pwdw {p['H']}x{p['W']}x{p['K']} -> {p['C']} {p['KH']}x{p['KW']}/s{p['SH']}"
        if self.kind == "dwpw":  # a depthwise + projection block (sdk/transform/fuse_dw_project.py)
            p = self.p
            return (f"dwpw {p['H']}x{p['W']}x{p['C']} {p['KH']}x{p['KW']}/s{p['SH']} -> {p['M']}"
                    + ("+R" if self.epilogue and self.epilogue[3] else ""))
        b, m, n, k = self.gemm_shape()
        extra = f" {self['KH']}x{self['KW']}/s{self['SH']} g{self['groups']}" if self.kind == "conv2d" else ""
        epi = ""
        if self.epilogue:
            epi = "+" + "+".join(x for x in (self.epilogue[0], "R" if self.epilogue[3] else "") if x)
        return f"{self.kind} {b}x[{m}x{k}]*[{k}x{n}]{extra}{epi if epi != '+' else ''}"


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
