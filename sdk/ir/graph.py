"""Graph IR: typed values with symbolic shapes, and a Function of bindings.

A binding is one graph op (``Binding.op`` names a registered op). After
lowering, the same Function carries, per binding, the tir kernel or runtime
library call that implements it (``Binding.impl``), so one IR holds graph ops,
loop-level kernels and library calls side by side, as in Relax.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Tuple

import numpy as np

from . import sym
from .dtypes import DTYPES, itemsize  # noqa: F401  (DTYPES re-exported)
from .sym import Dim


@dataclass(frozen=True)
class TensorType:
    shape: Tuple[Dim, ...]
    dtype: str

    @property
    def rank(self) -> int:
        return len(self.shape)

    def numel(self) -> Dim:
        n: Dim = 1
        for d in self.shape:
            n = sym.mul(n, d)
        return n

    def nbytes(self) -> Dim:
        return sym.mul(self.numel(), itemsize(self.dtype))

    def is_static(self) -> bool:
        return all(sym.is_static(d) for d in self.shape)

    def __str__(self):
        return f"{self.dtype}[{', '.join(sym.to_str(d) for d in self.shape)}]"


@dataclass(eq=False, slots=True)
class Value:
    """An SSA value. ``const`` holds the data of a constant (weights);
    ``sym_value`` holds the element values of a small int tensor that is
    known symbolically (e.g. the result of Shape), as a flat list of dims."""

    name: str
    type: TensorType
    const: Optional[np.ndarray] = None
    sym_value: Optional[List[Dim]] = None
    onnx_name: Optional[str] = None  # the tensor's name in the ONNX graph (``name`` is a unique identifier made
    # from it at import): feeds, calibration ranges and outputs are keyed by it

    @property
    def shape(self):
        return self.type.shape

    @property
    def dtype(self):
        return self.type.dtype

    @property
    def rank(self):
        return len(self.type.shape)

    def known_ints(self) -> Optional[List[Dim]]:
        """Element values as dims if known at compile time (const or symbolic)."""
        if self.const is not None and self.const.dtype.kind in "iub" and self.const.size <= 64:
            return [int(v) for v in self.const.reshape(-1)]
        if (self.sym_value is None and self.dtype.startswith(("int", "uint"))
                and any(isinstance(d, int) and d == 0 for d in self.type.shape)):
            return []  # no elements: nothing to know at run time (an empty axes input)
        if self.sym_value is not None and any(isinstance(d, sym.Ratio) for d in self.sym_value):
            return None  # a float value that is not an integer (see known_values)
        return self.sym_value

    def known_values(self) -> Optional[list]:
        """Like ``known_ints``, and for float tensors their values as exact ratios of dims (``sym.Ratio``: the
        length arithmetic of ``math.ceil((n - k) / s + 1)`` traced in float tensors), or None."""
        if self.const is not None and self.const.dtype.kind == "f" and self.const.size <= 64:
            vals = [sym.ratio_of_float(float(v)) for v in self.const.reshape(-1)]
            return None if any(v is None for v in vals) else vals
        return self.sym_value if self.sym_value is not None else self.known_ints()


@dataclass(slots=True)
class RuntimeSym:
    """A symbol whose value a data-dependent op computes at run time (Relax's match_cast).

    ``bound`` is its upper bound: an int (given with ``--dim NAME=MAX``) or an expression of the input
    symbols (inferred, e.g. NonZero's count <= numel); None until the user gives one. The generated code
    checks ``0 <= value <= bound`` and returns SDK_ERR_DYNAMIC_DIM_OUT_OF_BOUNDS otherwise. Symbols with
    ``is_dim=False`` are values used only in index arithmetic (a Slice start), clamped by construction."""
    name: str
    bound: Optional[Dim]
    origin: str
    is_dim: bool = True


@dataclass(eq=False, slots=True)
class Binding:
    op: str
    inputs: List[Optional[Value]]
    outputs: List[Value]
    attrs: Dict[str, Any] = field(default_factory=dict)
    name: str = ""
    impl: Any = None  # filled by lowering: a tir kernel or a library call
    rt: Dict[str, str] = field(default_factory=dict)  # role -> name of a run-time symbol this op defines
    guard: List[Tuple["Value", bool]] = field(default_factory=list)  # runs only if each bool value == flag (If)


@dataclass(eq=False, slots=True)
class Function:
    name: str
    inputs: List[Value]
    outputs: List[Value]
    bindings: List[Binding]
    bounds: Dict[str, int] = field(default_factory=dict)  # symbol -> upper bound
    runtime_syms: Dict[str, RuntimeSym] = field(default_factory=dict)  # defined by data-dependent ops
    # prod(symbols) == expr, known from a run-time Reshape: sizes use expr instead of the product of bounds
    runtime_products: List[Tuple[Tuple[str, ...], Dim]] = field(default_factory=list)
    # (dim, why): must be >= 0 when the model runs, for dims a shape rule matched without a proof (two NonZero
    # counts broadcast together; expressions of the input dims equal only on part of the bounds)
    dim_checks: List[Tuple[Dim, str]] = field(default_factory=list)
    # the ONNX names of the graph's inputs/outputs (identity for feeds, tensor files, calibration data; C names
    # are made from them in codegen only) and the model's ai.onnx opset
    input_names: List[str] = field(default_factory=list)
    output_names: List[str] = field(default_factory=list)
    opset: Optional[int] = None
    # per-layer tuning decisions a graph pass made (binding name -> sdk.tune.kernel_choice.ChoicePoint): the lowered
    # steps of those bindings carry them (sdk/tune/apply.py attach_graph_choices; fuse_dw_project's blocks)
    choices: Dict[str, object] = field(default_factory=dict)

    def with_bindings(self, bindings: List["Binding"], **changes) -> "Function":
        """A copy with other bindings (and any other field changed): passes build their result with this, so no
        field is lost on the way."""
        return dataclasses.replace(self, bindings=list(bindings), bounds=dict(self.bounds), **changes)

    def all_symbols(self) -> List[str]:
        """Input symbols, then run-time symbols: the dims every kernel may read."""
        return self.symbols() + [s for s in self.runtime_syms if s not in self.symbols()]

    def symbols(self) -> List[str]:
        """Symbols appearing in input shapes, in first-seen order."""
        seen: List[str] = []
        for v in self.inputs:
            for d in v.shape:
                for s in sorted(sym.free_vars(d)):
                    if s not in seen:
                        seen.append(s)
        return seen

    def empty_dims(self) -> List[str]:
        """Input symbols that may be 0 (``import_onnx(empty_dims=...)``: an empty KV cache); the others are >= 1."""
        out: List[str] = []
        for v in self.inputs:
            for d in v.shape:
                if isinstance(d, sym.Sym):
                    for m in d.terms:
                        for a in m:
                            if a.kind == "var" and a.lo == 0 and a.key not in out:
                                out.append(a.key)
        return out

    def dim_conditions(self) -> List[Tuple[Dim, str]]:
        """(dim, tensor name) for each distinct symbolic dim of a tensor the function makes that is not provably
        >= 0 for every input dims within the bounds: a conv's output length (L - k) // s + 1 over too short an
        input. The run checks each (dims of input symbols only; run-time symbols are checked where they are made)
        and refuses inputs too small for the model; ``dim_checks`` of input symbols only are added as they are."""
        inputs = set(self.symbols())
        seen, out = set(), []
        for d, why in self.dim_checks:
            if sym.free_vars(d) <= inputs and d not in seen:
                seen.add(d)
                out.append((d, why))
        with sym.assume_bounds(self.bounds):
            for b in self.bindings:
                for v in b.outputs:
                    for d in (v.shape if v is not None else ()):
                        if not isinstance(d, sym.Sym) or d in seen or not sym.free_vars(d) <= inputs:
                            continue
                        seen.add(d)
                        if sym.range_of(d)[0] < 0:
                            out.append((d, v.name))
        return out

    def consumers(self) -> Dict[int, List[Binding]]:
        out: Dict[int, List[Binding]] = {}
        for b in self.bindings:
            for v in b.inputs:
                if v is not None:
                    out.setdefault(id(v), []).append(b)
        return out

    def constants(self) -> List[Value]:
        seen, out = set(), []
        for b in self.bindings:
            for v in b.inputs:
                if v is not None and v.const is not None and id(v) not in seen:
                    seen.add(id(v))
                    out.append(v)
        return out

    def __str__(self):
        return print_function(self)


def print_function(f: Function) -> str:
    """Readable text form, in the spirit of TVMScript."""
    lines = []
    syms = f.symbols()
    if syms:
        lines.append("# symbols: " + ", ".join(
            f"{s} <= {f.bounds[s]}" if s in f.bounds else f"{s} (unbounded)" for s in syms))
    for r in f.runtime_syms.values():
        b = "" if not r.is_dim else f" <= {sym.to_str(r.bound)}" if r.bound is not None else " (unbounded: --dim NAME=MAX)"
        lines.append(f"# run-time {'dim' if r.is_dim else 'value'}: {r.name}{b}  ({r.origin})")
    args = ", ".join(f"%{v.name}: {v.type}" for v in f.inputs)
    lines.append(f"def {f.name}({args}):")
    for b in f.bindings:
        outs = ", ".join(f"%{v.name}: {v.type}" for v in b.outputs)
        ins = ", ".join(_operand(v) for v in b.inputs)
        attrs = "".join(f", {k}={_short(v)}" for k, v in sorted(b.attrs.items()))
        impl = f"  # {b.impl}" if b.impl is not None else ""
        if b.guard:
            impl = "  # if " + " and ".join(("" if pos else "not ") + "%" + v.name for v, pos in b.guard) + impl
        lines.append(f"    {outs} = {b.op}({ins}{attrs}){impl}")
    lines.append("    return " + ", ".join(f"%{v.name}" for v in f.outputs))
    return "\n".join(lines)


def _operand(v: Optional[Value]) -> str:
    if v is None:
        return "None"
    if v.const is not None:
        if v.const.size <= 4:
            return f"const({v.const.reshape(-1).tolist()})"
        return f"%{v.name}: const {v.type}"
    return f"%{v.name}"


def _short(v):
    if isinstance(v, np.ndarray):
        return f"array{list(v.shape)}"
    if isinstance(v, (list, tuple)) and len(v) > 8:
        return f"[{len(v)} items]"
    return repr(v)
