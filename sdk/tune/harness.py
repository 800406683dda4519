"""What every tuning measurer's harness shares: the C call of a workload's kernel on its operands A, B, C and Y,
and the operands' sizes. The harnesses themselves (how candidates are built, run and timed) belong to the
backends (``sdk/backends/<kind>/measure.py``)."""
from __future__ import annotations

from typing import Dict

import numpy as np

from ..kernels import tunable
from .workload import Workload


def kernel_call(wl: Workload, fn: str, scratch: bool) -> str:
    """C statement calling ``fn`` (the workload's library kernel, or a scheduled kernel taking ``scratch`` last) on
    the operands A, B, C (or NULL) and Y, its arguments in the order the kernel's declaration gives
    (``sdk/kernels/library.py``)."""
    p, decl = wl.p, tunable(wl.kind)
    operand = dict(decl.tune.operands)
    args = []
    for q in decl.params:
        if q.pointer:
            present = not q.nullable or p["has_" + q.name]
            args.append(operand[q.name] if present else "NULL")
        elif q.ctype == "float":  # the workload only knows whether it is the identity (its default)
            args.append("0.5f" if p[q.name] else f"{q.default:.1f}f")
        else:
            args.append(str(p[q.name]))
    return f"{fn}({', '.join(args)}{', scratch' if scratch else ''});"


def _extent(dims_strides) -> int:
    return 1 + sum((n - 1) * s for n, s in dims_strides if n > 0)


def operand_sizes(wl: Workload) -> Dict[str, int]:
    """Floats of each operand the workload's call reads (A, B, C) or writes (Y), at least 1."""
    p = wl.p
    if wl.kind == "gemm":
        n = {"A": _extent([(p["batch"], p["a_bs"]), (p["M"], p["a_rs"]), (p["K"], p["a_cs"])]),
             "B": _extent([(p["batch"], p["b_bs"]), (p["K"], p["b_rs"]), (p["N"], p["b_cs"])]),
             "C": _extent([(p["M"], p["c_rs"]), (p["N"], p["c_cs"])]), "Y": p["batch"] * p["M"] * p["N"]}
    else:
        n = {"A": p["N"] * p["C"] * p["H"] * p["W"], "B": p["M"] * (p["C"] // p["groups"]) * p["KH"] * p["KW"],
             "C": p["M"], "Y": p["N"] * p["M"] * p["OH"] * p["OW"]}
    return {k: max(v, 1) for k, v in n.items()}


def operands(wl: Workload, rng: np.random.Generator) -> Dict[str, np.ndarray]:
    """Random operands of the workload's sizes (A, B, C; Y is separate)."""
    n = operand_sizes(wl)
    f = lambda k: rng.standard_normal(n[k]).astype(np.float32)  # noqa: E731
    return {"A": f("A"), "B": f("B"), "C": f("C"), "Y": np.zeros(n["Y"], np.float32)}
