"""Loop-level tensor IR: expressions, tensors and statements.

Tensors are either *buffers* (memory: inputs, weights, planned intermediates)
or *computes* (an element-wise definition ``fn(indices) -> Expr``, optionally
with a reduction). Reading a compute that is not materialised substitutes its
definition, which is how injective ops fuse into their consumers (TVM's
compute_inline).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, List, Optional, Sequence

from ..ir import sym

FLOAT_TYPES = ("float32", "float64")


class Expr:
    dtype: str = "int64"

    def _bin(self, op, other, rev=False):
        other = as_expr(other, self.dtype)
        a, b = (other, self) if rev else (self, other)
        return binop(op, a, b)

    def __add__(self, o): return self._bin("+", o)
    def __radd__(self, o): return self._bin("+", o, True)
    def __sub__(self, o): return self._bin("-", o)
    def __rsub__(self, o): return self._bin("-", o, True)
    def __mul__(self, o): return self._bin("*", o)
    def __rmul__(self, o): return self._bin("*", o, True)
    def __truediv__(self, o): return self._bin("/", o)
    def __rtruediv__(self, o): return self._bin("/", o, True)
    def __floordiv__(self, o): return self._bin("//", o)
    def __mod__(self, o): return self._bin("%", o)
    def __neg__(self): return binop("-", Const(0, self.dtype), self)
    def __lt__(self, o): return self._bin("<", o)
    def __le__(self, o): return self._bin("<=", o)
    def __gt__(self, o): return self._bin(">", o)
    def __ge__(self, o): return self._bin(">=", o)


@dataclass(eq=False)
class Var(Expr):
    name: str
    dtype: str = "int64"


@dataclass(eq=False)
class Const(Expr):
    value: object
    dtype: str = "int64"


@dataclass(eq=False)
class DimE(Expr):
    """A symbolic dimension used as an index expression."""
    dim: object
    dtype: str = "int64"


@dataclass(eq=False)
class Bin(Expr):
    op: str  # + - * / // % min max < <= > >= == != && || & | ^ << >>
    a: Expr
    b: Expr
    dtype: str = "int64"


@dataclass(eq=False)
class Call(Expr):
    fn: str  # a math function name: exp, log, sqrt, tanh, erf, abs, floor, ...
    args: List[Expr]
    dtype: str = "float32"


@dataclass(eq=False)
class Select(Expr):
    cond: Expr
    a: Expr
    b: Expr
    dtype: str = "float32"


@dataclass(eq=False)
class Cast(Expr):
    x: Expr
    dtype: str = "float32"


@dataclass(eq=False)
class Load(Expr):
    tensor: "Tensor"
    indices: List[Expr]
    dtype: str = "float32"


CMP = ("<", "<=", ">", ">=", "==", "!=", "&&", "||")


def as_expr(x, dtype="int64") -> Expr:
    if isinstance(x, Expr):
        return x
    if isinstance(x, sym.Sym):
        return DimE(x)
    if isinstance(x, bool):
        return Const(int(x), "bool")
    return Const(x, dtype)


def const_value(e: Expr):
    if isinstance(e, Const):
        return e.value
    if isinstance(e, DimE) and sym.is_static(e.dim):
        return e.dim
    return None


def binop(op: str, a, b) -> Expr:
    a, b = as_expr(a), as_expr(b)
    if op in CMP:
        dtype = "bool"
    elif isinstance(a, Const) and a.dtype == "int64":
        dtype = b.dtype  # a Python literal takes the other side's type
    else:
        dtype = a.dtype
    ca, cb = const_value(a), const_value(b)
    is_int = dtype not in FLOAT_TYPES
    # algebraic simplification that keeps index arithmetic readable
    if op == "+" and ca == 0 and cb is None: return _retype(b, dtype)
    if op in ("+", "-") and cb == 0: return _retype(a, dtype)
    if op == "*" and (ca == 0 or cb == 0) and is_int: return Const(0, dtype)
    if op == "*" and ca == 1: return _retype(b, dtype)
    if op in ("*", "/", "//") and cb == 1: return _retype(a, dtype)
    if op == "%" and cb == 1 and is_int: return Const(0, dtype)
    if isinstance(a, DimE) and isinstance(b, DimE) and op in ("+", "-", "*", "//"):
        f = {"+": sym.add, "-": sym.sub, "*": sym.mul, "//": sym.floordiv}[op]
        return as_expr(f(a.dim, b.dim))
    if ca is not None and cb is not None and dtype == "int64" and op in ("+", "-", "*", "//", "%", "min", "max"):
        import operator
        f = {"+": operator.add, "-": operator.sub, "*": operator.mul, "//": operator.floordiv,
             "%": operator.mod, "min": min, "max": max}[op]
        return Const(f(int(ca), int(cb)), dtype)
    return Bin(op, a, b, dtype)


def _retype(e: Expr, dtype: str) -> Expr:
    if e.dtype == dtype:
        return e
    if isinstance(e, Const):
        return Const(e.value, dtype)
    return Cast(e, dtype) if dtype in FLOAT_TYPES or e.dtype in FLOAT_TYPES else e


def emin(a, b): return binop("min", a, b)
def emax(a, b): return binop("max", a, b)


def select(cond, a, b) -> Expr:
    a, b = as_expr(a), as_expr(b)
    return Select(as_expr(cond), a, b, a.dtype if not isinstance(a, Const) else b.dtype)


def call(fn, *args, dtype=None) -> Expr:
    args = [as_expr(x) for x in args]
    return Call(fn, args, dtype or args[0].dtype)


def cast(x, dtype) -> Expr:
    x = as_expr(x)
    if x.dtype == dtype:
        return x
    if isinstance(x, Const):
        return Const(x.value, dtype)
    return Cast(x, dtype)


# ----------------------------------------------------------------- tensors
class Tensor:
    shape: tuple
    dtype: str
    name: str

    def __getitem__(self, idx) -> Expr:
        if not isinstance(idx, (tuple, list)):
            idx = (idx,)
        idx = [as_expr(i) for i in idx]
        assert len(idx) == len(self.shape), (self.name, len(idx), self.shape)
        return self.read(idx)


@dataclass(eq=False)
class Buffer(Tensor):
    """Memory with a row-major layout. ``storage`` is set by codegen."""
    name: str
    shape: tuple
    dtype: str

    def read(self, idx):
        return Load(self, list(idx), self.dtype)


@dataclass(eq=False)
class Compute(Tensor):
    """out[idx] = fn(idx); with ``reduce``, out[idx] = post(fold(combiner, fn(idx, r) for r))."""
    name: str
    shape: tuple
    dtype: str
    fn: Callable
    reduce: Optional["Reduction"] = None

    def read(self, idx):
        if self.reduce is not None:
            raise ValueError(f"reduction {self.name} must be materialised before it is read")
        return self.fn(list(idx))


@dataclass
class Reduction:
    extents: Sequence  # dims of the reduction axes
    combiner: str      # "sum" | "max" | "min" | "prod"
    init: object       # initial value (python number)
    post: Optional[Callable] = None  # (acc, idx) -> Expr


@dataclass(eq=False)
class LibCall:
    """A call to a runtime_c kernel: ``fn(args...)``; args are Buffers, dims or numbers."""
    fn: str
    args: list
    outputs: List[Buffer] = field(default_factory=list)
    header: str = "sdk_kernels.h"

    def __str__(self):
        return f"call_lib {self.fn}"


# -------------------------------------------------------------- statements
@dataclass(eq=False)
class For:
    var: Var
    extent: Expr
    body: object
    kind: str = "serial"  # serial | vectorize | unroll | parallel


@dataclass(eq=False)
class Store:
    buffer: Buffer
    indices: List[Expr]
    value: Expr


@dataclass(eq=False)
class Let:
    """Declare a scalar local: ``dtype var = value``."""
    var: Var
    value: Expr


@dataclass(eq=False)
class Assign:
    var: Var
    value: Expr


@dataclass(eq=False)
class Seq:
    stmts: list


@dataclass(eq=False)
class Kernel:
    """A loop-level function writing ``outputs`` from ``inputs``."""
    name: str
    body: object
    inputs: List[Buffer]
    outputs: List[Buffer]

    def __str__(self):
        return f"call_kernel {self.name}"
