"""What the passes that match chains of element-wise nodes share (``fuse_gelu``, ``fuse_rmsnorm``): a float32
scalar constant's value, the producer of a value that only the next node of the chain reads, and the rewrite of each
matched chain into one binding."""
from __future__ import annotations

from typing import Callable, List, Optional, Tuple

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


def rewrite_chains(f: Function, match: Callable[[Binding], Optional[Tuple[Binding, List[Binding]]]]) -> Function:
    """Each binding b that ``match`` recognises as the last node of a chain (``match(b)`` returns the binding that
    replaces b and the chain's bindings, b included) is replaced and the rest of its chain dropped; a chain that
    shares a binding with one matched before it is left as it is."""
    drop, replace = set(), {}
    for b in f.bindings:
        if id(b) in drop:
            continue
        m = match(b)
        if m is None or any(id(c) in drop for c in m[1]):
            continue
        drop.update(id(c) for c in m[1])
        replace[id(b)] = m[0]
    if not replace:
        return f
    return f.with_bindings([replace.get(id(b), b) for b in f.bindings if id(b) not in drop or id(b) in replace])
