"""Build-time constants of a lowered program that a kernel rewrite replaces by a transformed copy (packed GEMM panels,
Winograd-transformed or GEMV-packed weights): finding a float32 constant, storing the derived one."""
from __future__ import annotations

from typing import Optional, Tuple

import numpy as np

from ..tir.expr import Buffer


def readers(prog, buf) -> int:
    """How many steps read ``buf`` (library call arguments, kernel inputs)."""
    return sum(any(a is buf for a in getattr(st, "args", None) or getattr(st, "inputs", None) or ())
               for st in prog.steps)


def float_const(prog, buf) -> Optional[Tuple[int, np.ndarray]]:
    """(index in prog.consts, array as stored) of a float32 constant buffer, or None."""
    at = next((k for k, (c, _) in enumerate(prog.consts) if c is buf), None)
    if at is None or prog.consts[at][1].dtype != np.float32:
        return None
    return at, prog.consts[at][1]


def store_derived(prog, at: int, data: np.ndarray, suffix: str) -> Buffer:
    """A constant derived from ``prog.consts[at]`` (read by the step being rewritten): in its place when no other
    step reads it, else next to it; one already derived the same way (a weight shared by two products) is reused.
    The buffer has ``data``'s element type (float32; uint16 for a GEMV weight stored as float16 bit patterns)."""
    old = prog.consts[at][0]
    last = readers(prog, old) == 1
    same = next((c for c, d in prog.consts if c.name == old.name + suffix and np.array_equal(d, data)), None)
    if same is not None:
        if last:
            del prog.consts[at]
        return same
    buf = Buffer(old.name + suffix, (data.size,), data.dtype.name)
    if last:
        prog.consts[at] = (buf, data)
    else:
        prog.consts.append((buf, data))
    return buf
