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

FLOAT_TYPES = ("float16", "bfloat16", "float32", "float64")


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
    ub: Optional[int] = None  # largest value (loop vars of static extent), for index simplification
    ext: Optional["Expr"] = None  # the loop's extent (a dim), for index simplification


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
    if op == "+" and is_int:
        r = _join_divmod(a, b, dtype)
        if r is not None:
            return r
    if op in ("//", "%") and is_int and ca is None:
        r = _simplify_divmod(op, a, b, dtype)
        if r is not None:
            return r
    if ca is not None and cb is not None and dtype == "int64" and op in ("+", "-", "*", "//", "%", "min", "max"):
        import operator
        f = {"+": operator.add, "-": operator.sub, "*": operator.mul, "//": operator.floordiv,
             "%": operator.mod, "min": min, "max": max}[op]
        return Const(f(int(ca), int(cb)), dtype)
    return Bin(op, a, b, dtype)


def _join_divmod(a, b, dtype):
    """``... + (x // c) * c + x % c`` -> ``... + x`` (c a positive constant): the flat index of a loop var split into
    (row, column) by a flattened view, e.g. a reduction over H*W in one loop, reads as the plain loop var."""
    if not (isinstance(b, Bin) and b.op == "%" and (const_value(b.b) or 0) > 0):
        return None
    c = const_value(b.b)
    ts = _terms(a)
    for k, t in enumerate(ts):
        f, fs = _factors(t)
        if f == c and len(fs) == 1 and isinstance(fs[0], Bin) and fs[0].op == "//" and fs[0].a is b.a \
                and const_value(fs[0].b) == c:
            return _sum(ts[:k] + ts[k + 1:] + [b.a], dtype)
    return None


def _nonneg(e) -> bool:
    """Provably >= 0: loop vars, dims, non-negative constants and their sums/products/quotients."""
    if isinstance(e, (Var, DimE)):
        return True
    if isinstance(e, Const):
        return isinstance(e.value, (int, float)) and e.value >= 0
    return isinstance(e, Bin) and e.op in ("+", "*", "//", "%") and _nonneg(e.a) and _nonneg(e.b)


def _same(a, b) -> bool:
    if a is b:
        return True
    ca, cb = const_value(a), const_value(b)
    if ca is not None or cb is not None:
        return ca is not None and ca == cb
    return isinstance(a, DimE) and isinstance(b, DimE) and sym.sub(a.dim, b.dim) == 0


def _factors(m):
    """(constant, [other factors]) of a product."""
    if isinstance(m, Bin) and m.op == "*":
        ca, fa = _factors(m.a)
        cb, fb = _factors(m.b)
        return ca * cb, fa + fb
    c = const_value(m)
    return (c, []) if c is not None else (1, [m])


def _exact_div(m, d):
    """m / d when m is structurally a multiple of d (d a positive constant or a dim), else None."""
    cd = const_value(d)
    c, fs = _factors(m)
    if not isinstance(c, int):
        return None
    if cd is not None:
        if c % cd:
            return None
        rest = [Const(c // cd, "int64")] + fs
    else:
        k = next((i for i, f in enumerate(fs) if _same(f, d)), None)
        if k is None:
            return None
        rest = [Const(c, "int64")] + fs[:k] + fs[k + 1:]
    out = rest[0]
    for f in rest[1:]:
        out = binop("*", out, f)
    return out


def _terms(e) -> list:
    """e as a list of summands, multiplication by a constant distributed over sums."""
    if isinstance(e, Bin) and e.op == "+":
        return _terms(e.a) + _terms(e.b)
    if isinstance(e, Bin) and e.op == "*":
        for x, y in ((e.a, e.b), (e.b, e.a)):
            c = const_value(y)
            if c is not None and isinstance(x, Bin) and x.op == "+":
                return [binop("*", t, y) for t in _terms(x)]
    return [e]


def _upper(e):
    """An upper bound of a non-negative index expression, or None."""
    c = const_value(e)
    if c is not None:
        return c
    if isinstance(e, Var):
        return e.ub
    if isinstance(e, Bin):
        if e.op == "%" and const_value(e.b) is not None:
            return const_value(e.b) - 1
        ua, ub = _upper(e.a), _upper(e.b)
        if ua is None or ub is None:
            return None
        if e.op == "+":
            return ua + ub
        if e.op == "*":
            return ua * ub
        if e.op == "//" and const_value(e.b):
            return ua // const_value(e.b)
    return None


def _sum(ts, dtype):
    out = Const(0, dtype)
    for t in ts:
        out = binop("+", out, t)
    return out


def _simplify_divmod(op, a, b, dtype):
    """Index arithmetic of composed views, for non-negative operands (where C's truncating / and % are
    floor division): multiples of d leave a // d and vanish from a % d; a remainder below d divides to 0;
    (x // c) // d = x // (c*d). Loop vars carry their upper bound (``Var.ub``)."""
    cb = const_value(b)
    if not ((cb is not None and cb > 0) or isinstance(b, DimE)) or not _nonneg(a):
        return None
    if op == "//" and cb is not None and isinstance(a, Bin) and a.op == "//" and (const_value(a.b) or 0) > 0:
        return binop("//", a.a, Const(int(const_value(a.b)) * int(cb), dtype))
    qs, rest = [], []
    for t in _terms(a):
        q = _exact_div(t, b)
        (qs.append(q) if q is not None else rest.append(t))
    u = _upper(_sum(rest, dtype)) if rest else 0
    small = cb is not None and u is not None and u < cb
    if len(rest) == 1 and isinstance(rest[0], Var) and rest[0].ext is not None and _same(rest[0].ext, b):
        small = True  # a loop var over [0, d)
    if not qs and not small:
        return None
    r = _sum(rest, dtype)
    if op == "//":
        tail = Const(0, dtype) if small or not rest else Bin("//", r, b, dtype)
        return binop("+", _sum(qs, dtype), tail)
    return r if small or not rest else Bin("%", r, b, dtype)


def _retype(e: Expr, dtype: str) -> Expr:
    if e.dtype == dtype:
        return e
    if isinstance(e, Const):
        return Const(e.value, dtype)
    return Cast(e, dtype) if dtype in FLOAT_TYPES or e.dtype in FLOAT_TYPES else e


def children(e) -> list:
    """The expressions an expression reads directly (a Load's indices, an operation's operands)."""
    if isinstance(e, Load):
        return e.indices
    if isinstance(e, Bin):
        return [e.a, e.b]
    if isinstance(e, Call):
        return e.args
    if isinstance(e, Select):
        return [e.cond, e.a, e.b]
    if isinstance(e, Cast):
        return [e.x]
    return []


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
        if len(idx) != len(self.shape):
            # An op read an operand with the wrong number of indices: its shape rule let a model through whose
            # operand ranks do not fit the op. That is the model's fault, so it is a ShapeError, not an assertion.
            from ..errors import ShapeError
            raise ShapeError(f"operand '{self.name}' of rank {len(self.shape)} "
                             f"[{', '.join(sym.to_str(d) for d in self.shape)}] does not fit its op "
                             f"(read with {len(idx)} indices)")
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


@dataclass(eq=False, slots=True)
class LibCall:
    """A call to a runtime_c kernel: ``fn(args...)``; args are Buffers, dims or numbers."""
    fn: str
    args: list
    outputs: List[Buffer] = field(default_factory=list)
    header: Optional[str] = "sdk_kernels.h"
    impl: Optional[str] = None  # C source of ``fn`` when it is generated (a scheduled kernel), not in runtime_c
    decl: Optional[object] = None  # its sdk.kernels declaration (parameter names and types, implementations)
    # (output parameter, input parameter) pairs whose buffers may share storage (the implementation reads each
    # element before it writes it): the memory planner may then place the output over an input that dies here
    in_place: tuple = ()
    schedule: Optional[dict] = None    # set by sdk.tune.apply for a scheduled GEMM/conv: the decisions it was built with
    workload: Optional[object] = None  # ... and its sdk.tune.workload.Workload
    epilogue: Optional[object] = None  # sdk.transform.epilogue.Epilogue folded into a GEMM/conv call
    # a scheduled kernel: what ``impl`` was generated from (sdk.tune.kernels.kernel_source's arguments: kind,
    # pointwise, epilogue, b_packed), so another code generator (sdk/codegen/llvm_kernels.py) can emit it too
    generated: Optional[dict] = None
    choice: Optional[object] = None  # sdk.tune.kernel_choice.ChoicePoint: the kernels this convolution could run
    # a schedule taken from a tuning database's schedule records (sdk.tune.apply): {"hash", "workload", "schedule",
    # "default"}, what sdk tune's check in the bundle compares (sdk/backends/host/step_profile.check_schedules)
    tuning: Optional[dict] = None
    guard: list = field(default_factory=list)  # [(bool Buffer, flag)]: runs only if each holds (If branches)
    binding: Optional[str] = None  # the name of the graph binding it was lowered from (Function.choices' key)

    def arg(self, name: str):
        """The argument for the declared parameter ``name``."""
        return self.args[self.decl.index(name)]

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
class IfThen:
    """``if (cond) body``: data-dependent writes (NonZero's compaction)."""
    cond: Expr
    body: object


@dataclass(eq=False)
class BindDims:
    """A step that defines run-time symbols from tensor data (Relax's match_cast): ``d_<sym> = value``
    for each def in order, then every check; a failing check returns its status from ``run``.
    A def's bound check (``0 <= value <= bound``) is one of the checks."""
    name: str
    defs: List[tuple]    # (symbol name, Expr)
    checks: List[tuple]  # (Expr that must hold, status name)
    outputs: List["Buffer"] = field(default_factory=list)  # writes no memory
    guard: list = field(default_factory=list)  # [(bool Buffer, flag)]: runs only if each holds (If branches)

    @property
    def inputs(self):
        from .build import buffers_read
        return buffers_read(Seq([e for _, e in self.defs] + [c for c, _ in self.checks]))

    def __str__(self):
        return f"bind_dims {', '.join(n for n, _ in self.defs)}"


@dataclass(eq=False, slots=True)
class Kernel:
    """A loop-level function writing ``outputs`` from ``inputs``."""
    name: str
    body: object
    inputs: List[Buffer]
    outputs: List[Buffer]
    guard: list = field(default_factory=list)  # [(bool Buffer, flag)]: runs only if each holds (If branches)

    def __str__(self):
        return f"call_kernel {self.name}"


@dataclass(eq=False)
class LoopHead:
    """Opens a C loop over the steps up to the matching LoopTail (ONNX Loop/Scan body):
    ``for (counter = 0; counter < trip && cond; ++counter)``; each iteration sets the run-time value
    ``d_<iter_sym>`` (scan-output rows, scan-input slices). ``row_bound``: iterations at or past it return
    SDK_ERR_DYNAMIC_DIM_OUT_OF_BOUNDS before the body could write a scan-output row past its slot."""
    name: str
    counter: "Buffer"            # int64 [], the body's iteration number
    trip: object                 # int64 Buffer (ONNX M), a dim (Scan), or None (no limit)
    cond: Optional["Buffer"]     # bool [], the loop condition, or None
    iter_sym: str
    row_bound: object = None
    guard: list = field(default_factory=list)  # [(bool Buffer, flag)]: runs only if each holds (If branches)

    @property
    def inputs(self):
        return [b for b in (self.trip, self.cond) if isinstance(b, Buffer)]

    @property
    def outputs(self):
        return [self.counter]

    def __str__(self):
        return f"loop {self.name} {{"


@dataclass(eq=False)
class LoopTail:
    """Closes the loop of the LoopHead named ``name``."""
    name: str
    inputs: list = field(default_factory=list)
    outputs: list = field(default_factory=list)
    guard: list = field(default_factory=list)  # [(bool Buffer, flag)]: runs only if each holds (If branches)

    def __str__(self):
        return f"}} loop {self.name}"


def loop_spans(steps) -> list:
    """[(head index, tail index)] of the loops in a step list, inner loops first."""
    stack, spans = [], []
    for t, s in enumerate(steps):
        if isinstance(s, LoopHead):
            stack.append(t)
        elif isinstance(s, LoopTail):
            spans.append((stack.pop(), t))
    return sorted(spans, key=lambda p: p[1] - p[0])
