"""What the passes that match chains of element-wise nodes share (``fuse_gelu``, ``fuse_rmsnorm``): a float32
scalar constant's value, and the producer of a value that only the next node of the chain reads."""
from __future__ import annotations

from typing import Optional

import numpy as np

from ..ir.graph import Binding, Function


def scalar(v) -> Optional[float]:
    """The value of a float32 constant with one element (any rank), else None."""
    if v is None or v.const is None or v.const.size != 1 or v.const.dtype != np.float32:
        return None
    return float(v.const.reshape(-1)[0])


class Chains:
    """Producers and readers of a function's values, read once per pass."""

    def __init__(self, f: Function):
        self.producer = {id(v): b for b in f.bindings for v in b.outputs}
        self.consumers = f.consumers()
        self.outputs = {id(v) for v in f.outputs}

    def only(self, v, b: Binding) -> bool:
        """v's one reader is b, and v is not a graph output."""
        users = self.consumers.get(id(v), [])
        return id(v) not in self.outputs and len(users) == 1 and users[0] is b

    def prod(self, v, b: Binding, *ops: str, nargs: Optional[int] = None) -> Optional[Binding]:
        """The unguarded binding (one of ``ops``, with ``nargs`` inputs if given) making v, read only by b."""
        p = self.producer.get(id(v)) if v is not None else None
        if p is None or p.op not in ops or p.guard or (nargs is not None and len(p.inputs) != nargs):
            return None
        return p if self.only(v, b) else None
