"""The op registry: one entry per ONNX op type.

An op is a shape/type rule (``infer``), a lowering to tir tensors or a
library call (``lower``), optionally a symbolic evaluator for small int
tensors known at compile time (``symbolic``), and a ``kind`` that the fusion
and memory passes read:

- ``injective``: each output element is a function of input elements; may be
  inlined into its consumer.
- ``view``: output shares the input's memory (reshape-like).
- ``reduce``: has a reduction; always materialised.
- ``opaque``: needs its own steps (library calls, multi-stage kernels).

The numpy reference of every op is onnx's ReferenceEvaluator, used for
constant folding and as the oracle in tests.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Dict, Optional

from ..errors import UnsupportedOp


@dataclass
class OpDef:
    name: str
    infer: Callable       # (node) -> list[TensorType]
    lower: Callable       # (ctx, node) -> list[Tensor]
    kind: str = "injective"
    symbolic: Optional[Callable] = None  # (node) -> list[list[Dim]] or None


OPS: Dict[str, OpDef] = {}


def register(name: str, infer, lower, kind="injective", symbolic=None):
    OPS[name] = OpDef(name, infer, lower, kind, symbolic)


def op(name: str, kind="injective", symbolic=None):
    """Decorator for a class with static ``infer`` and ``lower``."""
    def wrap(cls):
        register(name, cls.infer, cls.lower, kind, symbolic or getattr(cls, "symbolic", None))
        return cls
    return wrap


# what to do instead, for unsupported ops that converters add by default and that a user can switch off
HINTS = {
    "ai.onnx.ml.ZipMap": "it turns class probabilities into a sequence of maps, which a bundle cannot return; "
                         "export without it (skl2onnx: options={id(model): {'zipmap': False}}) to get the "
                         "probabilities as a tensor",
}


def get(name: str, node_name: str = "") -> OpDef:
    if name not in OPS:
        raise UnsupportedOp(name, node_name, HINTS.get(name, ""))
    return OPS[name]


class Node:
    """What an op's rules see: inputs (Values or None), attrs, outputs count."""

    def __init__(self, op_type, name, inputs, attrs, n_outputs, opset):
        self.op_type, self.name, self.inputs, self.attrs = op_type, name, inputs, attrs
        self.n_outputs, self.opset = n_outputs, opset
        self.rt = {}                # role -> run-time symbol name (kept on the Binding for lowering)
        self.new_runtime_sym = None  # set by the importer: (node, role, bound, is_dim) -> name
        self.products = []           # (symbol names, expr): prod(symbols) == expr, checked at run time
        self.dim_checks = []         # (dim, why): must be >= 0 at run time (dims matched without a proof)
        self.equalities = []         # (other, kept): dims matched so far (the importer shares one list)
        self.out_types = None        # at lowering: the outputs' inferred types (None while shapes are inferred)
        self.out_base = name         # set by the importer: the C-safe stem of run-time symbol names it makes

    def runtime_sym(self, role, bound=None, is_dim=True):
        """The run-time symbol this node defines for ``role`` (e.g. "dim1"): a dim only known once the
        data is (Relax's match_cast). ``bound``: an inferred upper bound (int or expression), or None."""
        from ..ir import sym
        if role not in self.rt:
            if self.new_runtime_sym is None:
                raise self.unsupported(f"run-time symbol '{role}' was not created at import")
            self.rt[role] = self.new_runtime_sym(self, role, bound, is_dim)
        return sym.var(self.rt[role], lo=0 if is_dim else -sym.INF)  # a count may be 0; an index any int

    def require_nonneg(self, d, why):
        """Dim ``d`` (of input and run-time symbols) must be >= 0 when the model runs: a condition the shape rule
        could not prove at compile time (see ``ops.common.match_dim``); the generated code checks it."""
        if (d, why) not in self.dim_checks:
            self.dim_checks.append((d, why))

    def attr(self, key, default=None):
        return self.attrs.get(key, default)

    def input(self, i):
        return self.inputs[i] if i < len(self.inputs) else None

    def const_ints(self, i, what="input"):
        """Compile-time int values of input i (constant or symbolic), or fail clearly."""
        v = self.input(i)
        if v is None:
            return None
        vals = v.known_ints()
        if vals is None:
            raise UnsupportedOp(self.op_type, self.name,
                                f"{what} {i} must be known at compile time (data-dependent shapes are not supported)")
        return vals

    def unsupported(self, detail):
        return UnsupportedOp(self.op_type, self.name, detail)
