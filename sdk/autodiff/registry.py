"""Gradient rules, one per op, keyed like the op registry (``sdk/ops/registry.py``).

A rule is ``rule(gb, binding, grads_out, need) -> grads_in``: ``gb`` a ``GraphBuilder`` to emit ops with, ``grads_out``
the gradient of each output (None: the output does not reach the loss), ``need`` which inputs want a gradient; it
returns one gradient Value (or None) per input, of that input's shape. Rules live next to each other by op family
(``rules_math.py``, ``rules_nn.py``, ``rules_shape.py``)."""
from __future__ import annotations

from typing import Callable, Dict

from ..errors import UnsupportedOp

GRADS: Dict[str, Callable] = {}


def grad_rule(*ops: str):
    def wrap(fn):
        for o in ops:
            GRADS[o] = fn
        return fn
    return wrap


def rule_of(op: str, node: str = "") -> Callable:
    from . import rules_math, rules_nn, rules_shape  # noqa: F401  (registers the rules)
    if op not in GRADS:
        raise UnsupportedOp(op, node, "no gradient rule (sdk/autodiff): the op cannot be on the path from a "
                                      "trainable parameter to the loss")
    return GRADS[op]
