"""LLVM IR generation (llvmlite's IR builder) from the same tir program and memory plan as ``codegen/c.py``.

The module has one internal function per tir kernel (same parameters as the C kernel: the symbols, then
input and output pointers; ``noalias`` on every pointer whose storage no other parameter shares) and an
entry point::

    int32_t <name>_entry(const int64_t *syms, void *const *ptrs, int64_t *out_dims)

``syms``: the bound values of the input symbols (``prog.func.symbols()`` order; run-time symbols are
computed inside, by the program's ``BindDims`` steps); ``ptrs``: the base address of every
storage (``Layout.keys`` order: inputs, outputs, weights, arena slots); ``out_dims``: receives the dims of
every output (rank-major, ``SDK_MAX_RANK`` per output), so outputs whose dims are known only at run time can
report them. Library calls (runtime kernels, tuned kernels) are external functions the engine binds.

Expressions follow C's rules exactly (types of literals, integer promotion, usual arithmetic conversions,
truncating division, ``fminf``/``fmaxf``, only the chosen side of ``?:`` and ``&&``/``||`` evaluated), so
both paths compute the same values. Float ops carry ``contract`` (the C path's ``-ffp-contract=fast``);
float sums and NaN-ignoring maxima of loops marked as SIMD reductions also carry ``reassoc``/``nnan``,
which is what the C path's ``omp simd reduction`` allows.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Dict, List

import llvmlite.ir as ir
import numpy as np

from ..errors import SdkError
from ..resources import RUNTIME
from ..ir import sym
from ..ir.dtypes import HALF, LOWBIT, compute_type, itemsize
from ..tir.expr import (Assign, Bin, BindDims, Buffer, Call, Cast, Const, DimE, For, IfThen, Kernel, Let, LibCall,
                        Load, LoopHead, LoopTail, Select, Seq, Store, Var)
from ..tir.build import walk
from .c import CEmitter, flat_index

MAX_RANK = 8  # SDK_MAX_RANK
I1, I8, I16, I32, I64 = ir.IntType(1), ir.IntType(8), ir.IntType(16), ir.IntType(32), ir.IntType(64)
F16, F32, F64 = ir.HalfType(), ir.FloatType(), ir.DoubleType()
PTR = ir.PointerType(I8)
LL = {"float32": F32, "float64": F64, "int8": I8, "uint8": I8, "int16": I16, "uint16": I16, "int32": I32,
      "uint32": I32, "int64": I64, "uint64": I64, "bool1": I1}
CONTRACT = ("contract",)
_C = CEmitter()  # index expressions as C text: a structural key for "the same load"


# ---------------------------------------------------------------- C's type rules
def storage_type(dtype: str) -> str:
    """The C type name (as a dtype) a tir dtype is stored as: ``bool`` and low-bit types are ``uint8_t``, half
    types ``uint16_t``."""
    return "uint8" if dtype == "bool" or dtype in LOWBIT else "uint16" if dtype in HALF else dtype


def value_type(dtype: str) -> str:
    """The C type of a scalar (local, cast, loaded value) of ``dtype``: half types compute in float."""
    return storage_type(compute_type(dtype))


def _is_float(t): return t in ("float32", "float64")
def _signed(t): return t.startswith("int") or t == "bool1"
def _bits(t): return 1 if t == "bool1" else int(re.sub(r"\D", "", t))


def promote(t: str) -> str:
    """Integer promotion: anything narrower than int (and comparison results) becomes int."""
    return "int32" if not _is_float(t) and _bits(t) < 32 else t


def common(a: str, b: str) -> str:
    """C's usual arithmetic conversions."""
    if _is_float(a) or _is_float(b):
        return "float64" if "float64" in (a, b) else "float32"
    a, b = promote(a), promote(b)
    if a == b:
        return a
    if _signed(a) == _signed(b):
        return a if _bits(a) >= _bits(b) else b
    s, u = (a, b) if _signed(a) else (b, a)
    if _bits(u) >= _bits(s):
        return u
    return s  # the signed type is wider: it holds every value of the unsigned one


def const_ctype(v, dtype) -> str:
    """The C type of the literal ``codegen.c.const_c`` prints."""
    dtype = compute_type(dtype)
    if _is_float(dtype):
        return dtype
    v = int(v)
    if dtype in ("int64", "uint64") and not -2**31 < v < 2**31:
        return dtype
    if dtype == "int64" and v == -2**63:
        return "int64"
    if dtype == "uint32" and v >= 2**31:
        return "uint32"
    return "int32"


@dataclass
class Proto:
    """A C function's parameters as dtypes, ``ptr`` for pointers (from its ``sdk/kernels`` declaration)."""
    name: str
    ret: str
    params: List[str]


# ---------------------------------------------------------------- storage layout
class Layout:
    """Where every buffer of a program lives: a storage key per root buffer (its arena slot for temps),
    listed in the order of the entry's ``ptrs`` argument."""

    def __init__(self, prog, plan):
        self.prog, self.plan = prog, plan
        self.keys: list = []   # ("input", k) | ("output", k) | ("const", k) | ("slot", slot.index)
        self.of: Dict[int, int] = {}  # id(root buffer) -> index into keys
        for kind, bufs in (("input", prog.inputs), ("output", prog.outputs), ("const", [b for b, _ in prog.consts])):
            for k, b in enumerate(bufs):
                self.of[id(b)] = len(self.keys)
                self.keys.append((kind, k))
        slot_at = {}
        for b in prog.temps:
            slot = plan.slot_of(b)
            if slot is None:
                continue
            if slot.index not in slot_at:
                slot_at[slot.index] = len(self.keys)
                self.keys.append(("slot", slot.index))
            self.of[id(b)] = slot_at[slot.index]
        # a view at an offset in its root (a Concat's input written in place): its own pointer, the root's plus
        # the offset in bytes (the entry's caller computes it)
        for b in prog.views:
            off = prog.offset_of(b)
            if off and id(prog.root(b)) in self.of:
                self.of[id(b)] = len(self.keys)
                self.keys.append(("view", (self.of[id(prog.root(b))], off * itemsize(b.dtype))))

    def index(self, b: Buffer) -> int:
        while id(b) not in self.of and id(b) in self.prog.alias:  # the nearest buffer with a storage of its own
            b = self.prog.alias[id(b)]
        if id(b) not in self.of:
            raise SdkError(f"llvm codegen: buffer {b.name} has no storage")
        return self.of[id(b)]


# ---------------------------------------------------------------- expressions and statements
class Emitter:
    """Emits one function body: tir statements over ``self.syms`` (name -> i64) and ``self.bufs``
    (id(buffer) -> pointer)."""

    def __init__(self, b: ir.IRBuilder, fn: ir.Function, syms, bufs, math):
        self.b, self.fn, self.syms, self.bufs, self.math = b, fn, syms, bufs, math
        self.vars: Dict[int, tuple] = {}   # id(Var) -> (alloca, ctype)
        self.by_name: Dict[str, tuple] = {}
        self.reduce = None  # ("+"|"max", acc name) inside a loop marked as a SIMD reduction
        self.sym_slots: Dict[str, object] = {}  # run-time symbols of the entry: name -> i64 local

    def sym(self, name):
        slot = self.sym_slots.get(name)
        return self.b.load(slot) if slot is not None else self.syms[name]

    # -- helpers
    def alloca(self, ty, name):
        with self.b.goto_entry_block():
            return self.b.alloca(ty, name=name)

    def convert(self, v, src: str, dst: str):
        """C conversion of value ``v`` of C type ``src`` to ``dst``."""
        b = self.b
        if src == dst:
            return v
        if dst == "bool1":
            return self.truth(v, src)
        if _is_float(src) and _is_float(dst):
            return b.fpext(v, F64) if dst == "float64" else b.fptrunc(v, F32)
        if _is_float(src):
            return b.fptosi(v, LL[dst]) if _signed(dst) else b.fptoui(v, LL[dst])
        if _is_float(dst):
            if src == "bool1":
                return b.uitofp(v, LL[dst])
            return b.sitofp(v, LL[dst]) if _signed(src) else b.uitofp(v, LL[dst])
        sb, db = _bits(src), _bits(dst)
        if sb == db:
            return v
        if sb > db:
            return b.trunc(v, LL[dst])
        return b.sext(v, LL[dst]) if _signed(src) and src != "bool1" else b.zext(v, LL[dst])

    def truth(self, v, t):
        if t == "bool1":
            return v
        if _is_float(t):
            return self.b.fcmp_unordered("!=", v, ir.Constant(LL[t], 0.0))
        return self.b.icmp_unsigned("!=", v, ir.Constant(LL[t], 0))

    def cond(self, e):
        return self.truth(*self.expr(e))

    def fflags(self):
        if self.reduce is None:
            return CONTRACT
        return ("contract", "reassoc", "nsz") + (("nnan", "ninf") if self.reduce[0] == "max" else ())

    # -- expressions: return (value, C type)
    def expr(self, e):
        b = self.b
        if isinstance(e, Var):
            slot, t = self.vars.get(id(e)) or self.by_name[e.name]
            return b.load(slot), t
        if isinstance(e, Const):
            t = const_ctype(e.value, e.dtype)
            if _is_float(t):
                v = float(e.value)
                return ir.Constant(LL[t], float(np.float32(v)) if t == "float32" else v), t
            return ir.Constant(LL[t], int(e.value)), t
        if isinstance(e, DimE):
            return self.dim(e.dim), "int64"
        if isinstance(e, Load):
            return self.load(e.tensor, e.indices)
        if isinstance(e, Bin):
            return self.binop(e)
        if isinstance(e, Call):
            return self.call(e)
        if isinstance(e, Select):
            return self.select(e)
        if isinstance(e, Cast):
            v, t = self.expr(e.x)
            if e.dtype in HALF:  # the value a 16-bit tensor would hold: float -> half -> float
                v = self.convert(v, t, "float32")
                return self.math.from_half(self.b, e.dtype, self.math.to_half(self.b, e.dtype, v)), "float32"
            dst = value_type(e.dtype)
            return self.convert(v, t, dst), dst
        raise TypeError(f"llvm codegen: cannot emit {e!r}")

    def dim(self, d):
        """A symbolic dim as an i64 value (floordiv of non-negative dims: C '/')."""
        if not isinstance(d, sym.Sym):
            return ir.Constant(I64, int(d))
        b, total = self.b, None
        for m, c in sorted(d.terms.items(), key=lambda t: (-len(t[0]), [a.key for a in t[0]])):
            p = ir.Constant(I64, c)
            for atom in m:
                p = b.mul(p, self.atom(atom))
            total = p if total is None else b.add(total, p)
        return total

    def atom(self, a):
        if a.kind == "var":
            return self.sym(a.args[0])
        x, y = (self.dim(v) for v in a.args)
        if a.kind == "floordiv":
            q = self.b.sdiv(x, y)
            if sym.range_of(a.args[0])[0] >= 0:
                return q
            # sdiv truncates: one less where the (positive-divisor) division of a negative numerator is inexact
            inexact = self.b.and_(self.b.icmp_signed("!=", self.b.srem(x, y), ir.Constant(I64, 0)),
                                  self.b.icmp_signed("<", x, ir.Constant(I64, 0)))
            return self.b.sub(q, self.b.zext(inexact, I64))
        less = self.b.icmp_signed("<", x, y)
        return self.b.select(less, x, y) if a.kind == "min" else self.b.select(less, y, x)

    def pointer(self, buf, indices):
        idx, t = self.expr(flat_index(buf, indices))
        idx = self.convert(idx, t, "int64")
        return self.b.gep(self.bufs[id(buf)], [idx], inbounds=True), storage_type(buf.dtype)

    def load(self, buf, indices):
        p, t = self.pointer(buf, indices)
        v = self.b.load(p)
        if buf.dtype in HALF:
            return self.math.from_half(self.b, buf.dtype, v), "float32"
        return v, t

    def binop(self, e: Bin):
        b, op = self.b, e.op
        if op in ("&&", "||"):
            return self.logical(e), "bool1"
        if op in ("min", "max"):
            x, tx = self.expr(e.a)
            y, ty = self.expr(e.b)
            if _is_float(compute_type(e.dtype)):  # fminf/fmaxf (fmin/fmax for double): the non-NaN operand wins
                t = compute_type(e.dtype)
                fn = self.intrinsic(f"llvm.{op}num", t)
                return b.call(fn, [self.convert(x, tx, t), self.convert(y, ty, t)]), t
            x, y = self.convert(x, tx, "int64"), self.convert(y, ty, "int64")  # sdk_imin/sdk_imax
            less = b.icmp_signed("<", x, y)
            return (b.select(less, x, y) if op == "min" else b.select(less, y, x)), "int64"
        x, tx = self.expr(e.a)
        y, ty = self.expr(e.b)
        if op in ("<<", ">>"):  # the type of the promoted left operand
            t = promote(tx)
            x, y = self.convert(x, tx, t), self.convert(y, ty, t)
            return (b.shl(x, y) if op == "<<" else (b.ashr(x, y) if _signed(t) else b.lshr(x, y))), t
        t = common(tx, ty)
        x, y = self.convert(x, tx, t), self.convert(y, ty, t)
        if op in ("<", "<=", ">", ">=", "==", "!="):
            if _is_float(t):
                flags = ("nnan", "ninf", "nsz") if self.reduce and self.reduce[0] == "max" else ()
                if op == "!=":
                    return b.fcmp_unordered(op, x, y, flags=flags), "bool1"
                return b.fcmp_ordered(op, x, y, flags=flags), "bool1"
            cmp = b.icmp_signed if _signed(t) else b.icmp_unsigned
            return cmp(op, x, y), "bool1"
        if _is_float(t):
            f = {"+": b.fadd, "-": b.fsub, "*": b.fmul, "/": b.fdiv, "//": b.fdiv, "%": b.frem}[op]
            return f(x, y, flags=self.fflags()), t
        s = _signed(t)
        if op in ("+", "-", "*"):
            f = {"+": b.add, "-": b.sub, "*": b.mul}[op]
            return (f(x, y, flags=("nsw",)) if s else f(x, y)), t
        if op in ("/", "//"):
            return (b.sdiv(x, y) if s else b.udiv(x, y)), t
        if op == "%":
            return (b.srem(x, y) if s else b.urem(x, y)), t
        f = {"&": b.and_, "|": b.or_, "^": b.xor}[op]
        return f(x, y), t

    def logical(self, e: Bin):
        """C's && and ||: the right side runs only when it decides (it may load what the left side guards)."""
        b = self.b
        lhs = self.cond(e.a)
        if not _may_trap(e.b, _load_keys(e.a)):
            rhs = self.cond(e.b)
            return b.and_(lhs, rhs) if e.op == "&&" else b.or_(lhs, rhs)
        start = b.block
        rhs_bb, done = self.fn.append_basic_block("logic.rhs"), self.fn.append_basic_block("logic.end")
        if e.op == "&&":
            b.cbranch(lhs, rhs_bb, done)
        else:
            b.cbranch(lhs, done, rhs_bb)
        b.position_at_end(rhs_bb)
        rhs = self.cond(e.b)
        rhs_end = b.block
        b.branch(done)
        b.position_at_end(done)
        phi = b.phi(I1)
        phi.add_incoming(ir.Constant(I1, 0 if e.op == "&&" else 1), start)
        phi.add_incoming(rhs, rhs_end)
        return phi

    def select(self, e: Select):
        b = self.b
        c = self.cond(e.cond)
        done_loads = _load_keys(e.cond)  # loads the condition made are safe to repeat (max: x > acc ? x : acc)
        if not (_may_trap(e.a, done_loads) or _may_trap(e.b, done_loads)):
            x, tx = self.expr(e.a)
            y, ty = self.expr(e.b)
            t = tx if tx == ty else common(tx, ty)
            flags = self.fflags()[1:] if _is_float(t) and self.reduce else ()  # a max reduction's select
            return b.select(c, self.convert(x, tx, t), self.convert(y, ty, t), flags=flags), t
        # only the chosen side runs (padding reads out of range on the other side)
        bt, bf, done = (self.fn.append_basic_block(n) for n in ("sel.true", "sel.false", "sel.end"))
        b.cbranch(c, bt, bf)
        b.position_at_end(bt)
        x, tx = self.expr(e.a)
        end_t = b.block
        b.position_at_end(bf)
        y, ty = self.expr(e.b)
        end_f = b.block
        t = tx if tx == ty else common(tx, ty)
        b.position_at_end(end_t)
        x = self.convert(x, tx, t)
        end_t = b.block
        b.branch(done)
        b.position_at_end(end_f)
        y = self.convert(y, ty, t)
        end_f = b.block
        b.branch(done)
        b.position_at_end(done)
        phi = b.phi(LL[t])
        phi.add_incoming(x, end_t)
        phi.add_incoming(y, end_f)
        return phi, t

    def intrinsic(self, name, t):
        return intrinsic(self.b.module, name, t)

    def call(self, e: Call):
        b = self.b
        vals = [self.expr(a) for a in e.args]
        if e.fn == "bitcast":  # BitCast: the same bits as another type of the same size
            v, t = vals[0]
            dst = value_type(e.dtype)
            if t == "bool1":
                v, t = b.zext(v, I8), "uint8"
            return (v if LL[t] == LL[dst] else b.bitcast(v, LL[dst])), dst
        if e.fn in ("isnan", "isinf"):
            v, t = vals[0]
            if not _is_float(t):
                return ir.Constant(I1, 0), "bool1"
            if e.fn == "isnan":
                return b.fcmp_unordered("uno", v, v), "bool1"
            a = b.call(self.intrinsic("llvm.fabs", t), [v])
            return b.fcmp_ordered("==", a, ir.Constant(LL[t], float("inf"))), "bool1"
        adt = compute_type(e.args[0].dtype)
        t = adt if _is_float(adt) else "float64"  # integer pow & co: in double, converted back
        args = [self.convert(v, vt, t) for v, vt in vals]
        r = self.math.call(b, e.fn, t, args)
        if _is_float(adt):
            return r, t
        dst = value_type(e.dtype)
        return self.convert(r, t, dst), dst

    # -- statements
    def stmt(self, s):
        b = self.b
        if isinstance(s, For):
            self.loop(s)
        elif isinstance(s, Store):
            v, t = self.expr(s.value)
            p, pt = self.pointer(s.buffer, s.indices)
            if s.buffer.dtype in HALF:
                b.store(self.math.to_half(b, s.buffer.dtype, self.convert(v, t, "float32")), p)
            else:
                b.store(self.convert(v, t, pt), p)
        elif isinstance(s, IfThen):
            c = self.cond(s.cond)
            then, done = self.fn.append_basic_block("if.then"), self.fn.append_basic_block("if.end")
            b.cbranch(c, then, done)
            b.position_at_end(then)
            self.stmt(s.body)
            b.branch(done)
            b.position_at_end(done)
        elif isinstance(s, Let):
            t = value_type(s.var.dtype)
            slot = self.alloca(LL[t], s.var.name)
            v, vt = self.expr(s.value)
            b.store(self.convert(v, vt, t), slot)
            self.vars[id(s.var)] = self.by_name[s.var.name] = (slot, t)
        elif isinstance(s, Assign):
            slot, t = self.vars.get(id(s.var)) or self.by_name[s.var.name]
            v, vt = self.expr(s.value)
            b.store(self.convert(v, vt, t), slot)
        elif isinstance(s, Seq):
            for x in s.stmts:
                self.stmt(x)
        else:
            raise TypeError(f"llvm codegen: cannot emit {s!r}")

    def loop(self, s: For):
        b = self.b
        ext, et = self.expr(s.extent)
        ext = self.convert(ext, et, "int64")
        iv = self.alloca(I64, s.var.name)
        b.store(ir.Constant(I64, 0), iv)
        saved = self.vars.get(id(s.var)), self.by_name.get(s.var.name)
        self.vars[id(s.var)] = self.by_name[s.var.name] = (iv, "int64")
        head, body, done = (self.fn.append_basic_block(n) for n in ("for.head", "for.body", "for.end"))
        b.branch(head)
        b.position_at_end(head)
        b.cbranch(b.icmp_signed("<", b.load(iv), ext), body, done)
        b.position_at_end(body)
        outer = self.reduce
        if s.kind.startswith("reduce:"):
            _, op, acc = s.kind.split(":")
            self.reduce = (op, acc)
        self.stmt(s.body)
        self.reduce = outer
        b.store(b.add(b.load(iv), ir.Constant(I64, 1), flags=("nsw",)), iv)
        b.branch(head)
        b.position_at_end(done)
        if saved[0] is not None:
            self.vars[id(s.var)] = saved[0]
        if saved[1] is not None:
            self.by_name[s.var.name] = saved[1]


_BINARY_INTRINSICS = ("llvm.minnum", "llvm.maxnum", "llvm.pow")


def intrinsic(module, name, t):
    """Declare (once) the float intrinsic ``name`` (e.g. llvm.sqrt) for type ``t``."""
    full = f"{name}.{'f32' if t == 'float32' else 'f64'}"
    f = module.globals.get(full)
    if f is None:
        n = 2 if name in _BINARY_INTRINSICS else 1
        f = ir.Function(module, ir.FunctionType(LL[t], [LL[t]] * n), full)
    return f


def _load_key(e: Load):
    return id(e.tensor), _C.expr(flat_index(e.tensor, e.indices))


def _load_keys(e) -> set:
    out = set()
    walk(e, lambda x: out.add(_load_key(x)) if isinstance(x, Load) else None)
    return out


def _may_trap(e, safe=frozenset()) -> bool:
    """True when evaluating ``e`` may fault: a load other than those in ``safe`` (already made), an integer
    division. C evaluates such an operand only when it is needed, so must we."""
    if isinstance(e, Load):
        return _load_key(e) not in safe
    if isinstance(e, Bin):
        if e.op in ("/", "//", "%") and not _is_float(e.dtype):
            return True
        return _may_trap(e.a, safe) or _may_trap(e.b, safe)
    if isinstance(e, Select):
        return _may_trap(e.cond, safe) or _may_trap(e.a, safe) or _may_trap(e.b, safe)
    if isinstance(e, Cast):
        return _may_trap(e.x, safe)
    if isinstance(e, Call):
        return any(_may_trap(a, safe) for a in e.args)
    return False


# ---------------------------------------------------------------- math functions
class MathLib:
    """Float functions of tir ``Call``s: LLVM intrinsics where they are exact, the vectorisable float32
    ``sdk_math.h`` functions (exp, erf, tanh, gelu) as IR, libm otherwise (resolved in the process)."""

    INTRINSIC = {"abs": "llvm.fabs", "sqrt": "llvm.sqrt", "floor": "llvm.floor", "ceil": "llvm.ceil",
                 "rint": "llvm.rint", "fmin": "llvm.minnum", "fmax": "llvm.maxnum", "round": "llvm.round",
                 "trunc": "llvm.trunc"}

    def __init__(self, module: ir.Module):
        self.module = module
        self.helpers: Dict[str, ir.Function] = {}

    def call(self, b: ir.IRBuilder, fn: str, t: str, args):
        if fn == "fmod":
            return b.frem(args[0], args[1])
        if fn in self.INTRINSIC:
            return b.call(intrinsic(self.module, self.INTRINSIC[fn], t), args)
        if t == "float32" and fn in ("exp", "erf", "tanh", "gelu"):
            return b.call(self.helper(fn), args)
        name = fn + ("f" if t == "float32" else "")
        f = self.module.globals.get(name)
        if f is None:
            f = ir.Function(self.module, ir.FunctionType(LL[t], [LL[t]] * len(args)), name)
            f.attributes.add("nounwind")
        return b.call(f, args)

    def from_half(self, b, dtype, v):
        """sdk_f16_to_f32 / sdk_bf16_to_f32 of the 16-bit pattern ``v`` (exact)."""
        if dtype == "float16":
            return b.fpext(b.bitcast(v, F16), F32)
        return b.bitcast(b.shl(b.zext(v, I32), ir.Constant(I32, 16)), F32)

    def to_half(self, b, dtype, f):
        """sdk_f32_to_f16 / sdk_f32_to_bf16: the 16-bit pattern of float ``f``, rounded to nearest even,
        NaN made quiet."""
        if dtype == "float16":
            return b.bitcast(b.fptrunc(f, F16), I16)
        u = b.bitcast(f, I32)
        k = lambda x: ir.Constant(I32, x)  # noqa: E731
        rounded = b.lshr(b.add(b.add(u, k(0x7fff)), b.and_(b.lshr(u, k(16)), k(1))), k(16))
        nan = b.icmp_unsigned(">", b.and_(u, k(0x7fffffff)), k(0x7f800000))
        return b.trunc(b.select(nan, b.or_(b.lshr(u, k(16)), k(0x40)), rounded), I16)

    def helper(self, fn):
        if fn not in self.helpers:
            f = ir.Function(self.module, ir.FunctionType(F32, [F32]), f"sdk_{fn}f")
            f.linkage = "internal"
            f.attributes.add("alwaysinline")
            f.attributes.add("nounwind")
            self.helpers[fn] = f
            b = ir.IRBuilder(f.append_basic_block())
            b.ret(getattr(self, "_" + fn)(b, f.args[0]))
        return self.helpers[fn]

    @staticmethod
    def _c(v):
        return ir.Constant(F32, float(np.float32(v)))

    def _exp(self, b, x):
        """sdk_expf of sdk_math.h, operation for operation."""
        c, fl = self._c, CONTRACT
        lt = b.fcmp_ordered("<", x, c(-87.0))
        gt = b.fcmp_ordered(">", x, c(88.72283))
        xc = b.select(lt, c(-87.0), b.select(gt, c(88.72283), x))
        n = b.fsub(b.fadd(b.fmul(xc, c(1.44269504088896341), flags=fl), c(12582912.0), flags=fl), c(12582912.0))
        r = b.fadd(b.fsub(xc, b.fmul(n, c(0.693359375)), flags=fl), b.fmul(n, c(2.12194440e-4)), flags=fl)
        p = c(1.9875691500e-4)
        for k in (1.3981999507e-3, 8.3334519073e-3, 4.1665795894e-2, 1.6666665459e-1, 5.0000001201e-1):
            p = b.fadd(b.fmul(p, r, flags=fl), c(k), flags=fl)
        p = b.fadd(b.fadd(b.fmul(b.fmul(p, r, flags=fl), r, flags=fl), r, flags=fl), c(1.0), flags=fl)
        scale = b.bitcast(b.shl(b.add(b.fptosi(n, I32), ir.Constant(I32, 126)), ir.Constant(I32, 23)), F32)
        p = b.fmul(b.fmul(p, scale), c(2.0))
        p = b.select(gt, c(float("inf")), p)
        p = b.select(lt, c(0.0), p)
        return b.select(b.fcmp_unordered("uno", x, x), x, p)

    def _tanh(self, b, x):
        c, fl = self._c, CONTRACT
        neg = b.fcmp_ordered("<", x, c(0.0))
        a = b.select(neg, b.fneg(x), x)
        x2 = b.fmul(x, x)
        poly = b.fadd(c(0.133333333), b.fmul(x2, c(-0.053968254), flags=fl), flags=fl)
        poly = b.fadd(c(-0.333333333), b.fmul(x2, poly, flags=fl), flags=fl)
        small = b.fmul(x, b.fadd(c(1.0), b.fmul(x2, poly, flags=fl), flags=fl))
        e = b.call(self.helper("exp"), [b.fmul(c(2.0), a)])
        big = b.fsub(c(1.0), b.fdiv(c(2.0), b.fadd(e, c(1.0))))
        big = b.select(neg, b.fneg(big), big)
        return b.select(b.fcmp_unordered("uno", x, x), x, b.select(b.fcmp_ordered("<", a, c(0.0625)), small, big))

    def _erf(self, b, x):
        """sdk_erff of sdk_math.h, operation for operation: x P(x^2) / Q(x^2) on [-4, 4], clamped to [-1, 1]."""
        c, fl = self._c, CONTRACT
        a = b.select(b.fcmp_ordered("<", x, c(-4.0)), c(-4.0), b.select(b.fcmp_ordered(">", x, c(4.0)), c(4.0), x))
        x2 = b.fmul(a, a)
        p = b.fadd(b.fmul(x2, c(-2.72614225801306e-10), flags=fl), c(2.77068142495902e-08), flags=fl)
        for k in (-2.10102402082508e-06, -5.69250639462346e-05, -7.34990630326855e-04, -2.95459980854025e-03,
                  -1.60960333262415e-02):
            p = b.fadd(b.fmul(x2, p, flags=fl), c(k), flags=fl)
        q = b.fadd(b.fmul(x2, c(-1.45660718464996e-05), flags=fl), c(-2.13374055278905e-04), flags=fl)
        for k in (-1.68282697438203e-03, -7.37332916720468e-03, -1.42647390514189e-02):
            q = b.fadd(b.fmul(x2, q, flags=fl), c(k), flags=fl)
        r = b.fdiv(b.fmul(a, p), q)
        return b.select(b.fcmp_ordered(">", r, c(1.0)), c(1.0), b.select(b.fcmp_ordered("<", r, c(-1.0)), c(-1.0), r))

    def _gelu(self, b, x):
        """sdk_geluf of sdk_math.h, operation for operation: h = x / 2 clamped, s = Q + h P, h (s / Q)."""
        from ..tune.kernels import _GELU_C, _GELU_P, _GELU_Q
        c, fl = self._c, CONTRACT
        k = lambda s: c(float(s.rstrip("f")))  # noqa: E731
        h = b.fmul(c(0.5), x)
        a = b.select(b.fcmp_ordered("<", h, k("-" + _GELU_C)), k("-" + _GELU_C), h)
        a = b.select(b.fcmp_ordered(">", a, k(_GELU_C)), k(_GELU_C), a)
        t = b.fmul(a, a)
        p = b.fadd(b.fmul(t, k(_GELU_P[0]), flags=fl), k(_GELU_P[1]), flags=fl)
        for s in _GELU_P[2:]:
            p = b.fadd(b.fmul(t, p, flags=fl), k(s), flags=fl)
        q = b.fadd(b.fmul(t, k(_GELU_Q[0]), flags=fl), k(_GELU_Q[1]), flags=fl)
        for s in _GELU_Q[2:]:
            q = b.fadd(b.fmul(t, q, flags=fl), k(s), flags=fl)
        s = b.fadd(b.fmul(a, p, flags=fl), q, flags=fl)
        s = b.select(b.fcmp_ordered(">", s, c(-0.0)), c(-0.0), s)
        return b.fmul(h, b.fdiv(s, q))


# ---------------------------------------------------------------- the module
def status_codes() -> Dict[str, int]:
    """{SDK_ERR_...: code} from the runtime's ``sdk_status.h``."""
    text = (RUNTIME / "include" / "sdk_status.h").read_text()
    return {m.group(1): int(m.group(2)) for m in re.finditer(r"(SDK_\w+)\s*=\s*(\d+)", text)}


def _storage_keys(prog, layout, k: Kernel):
    return [layout.index(x) for x in list(k.inputs) + list(k.outputs)]


def kernel_function(module, k: Kernel, symbols, keys, math) -> ir.Function:
    """One function per kernel: the symbols, then one pointer per storage the kernel touches. Buffers that
    share storage (an in-place element-wise kernel reads what it overwrites) share one parameter, so LLVM
    sees the same pointer at the same index instead of two pointers it must check at run time, and every
    parameter is ``noalias``."""
    bufs = list(k.inputs) + list(k.outputs)
    uniq = list(dict.fromkeys(keys))
    first = {key: x for x, key in reversed(list(zip(bufs, keys)))}
    fnty = ir.FunctionType(ir.VoidType(), [I64] * len(symbols) +
                           [ir.PointerType(LL[storage_type(first[key].dtype)]) for key in uniq])
    fn = ir.Function(module, fnty, f"k_{k.name}")
    fn.linkage = "internal"
    fn.attributes.add("nounwind")
    fn.attributes.add("noinline")  # one function per kernel, as the C path: smaller code, faster compile
    params = dict(zip(uniq, fn.args[len(symbols):]))
    for a in params.values():
        a.add_attribute("noalias")
    b = ir.IRBuilder(fn.append_basic_block("entry"))
    start = fn.append_basic_block("start")
    b.position_at_end(start)
    ptrs = {}
    for x, key in zip(bufs, keys):
        p = params[key]
        want = ir.PointerType(LL[storage_type(x.dtype)])
        ptrs[id(x)] = p if p.type == want else b.bitcast(p, want)
    em = Emitter(b, fn, dict(zip(symbols, fn.args)), ptrs, math)
    em.stmt(k.body)
    b.ret_void()
    b.position_at_end(fn.entry_basic_block)
    b.branch(start)
    return fn, uniq


def _lib_arg(a):
    """A library call's scalar argument as the C path prints it (``lib_call_c``)."""
    if isinstance(a, float):
        return Const(a, "float32")
    if isinstance(a, np.floating):
        return Const(float(a), "float64")
    if isinstance(a, sym.Sym):
        return DimE(a)
    return Const(int(a), "int64")


def generate(prog, plan, name: str, externs: Dict[str, Proto], profile: bool = False, kernels=None):
    """(LLVM IR text, Layout) of the program. ``externs``: {library function the program calls: its
    prototype}, where ``Proto.name`` is the symbol to call (tuned kernels get content-derived names).
    ``kernels``: {symbol: ``llvm_kernels.emit_kernel`` arguments}: scheduled kernels defined in the module
    (internal) instead of bound from outside. ``profile``: call ``void sdk_prof_step(int32_t step)`` before
    every step and with -1 at the end (the C path's ``-DSDK_PROFILE``)."""
    module = ir.Module(name)
    math = MathLib(module)
    if kernels:
        from .llvm_kernels import emit_kernel
        from .llvm_runtime import RUNTIME_IR
        for sym_name, spec in kernels.items():
            if "runtime" in spec:  # a runtime library kernel written as IR
                RUNTIME_IR[spec["runtime"]](module, math, sym_name)
            else:
                emit_kernel(module, math, sym_name, linkage="internal", **spec)
    inputs_syms = prog.func.symbols()
    all_syms = getattr(prog.func, "all_symbols", prog.func.symbols)()
    rt_syms = [s for s in all_syms if s not in inputs_syms]  # set during the run (BindDims, loop iterations)
    symbols = inputs_syms + rt_syms
    layout = Layout(prog, plan)
    codes = status_codes()
    entry = ir.Function(module, ir.FunctionType(I32, [ir.PointerType(I64), ir.PointerType(PTR),
                                                      ir.PointerType(I64)]), f"{name}_entry")
    entry.attributes.add("nounwind")  # no unwind tables (an ARM object would pull the C++ unwinder in)
    syms_arg, ptrs_arg, dims_arg = entry.args
    b = ir.IRBuilder(entry.append_basic_block("entry"))
    sym_vals = {s: b.load(b.gep(syms_arg, [ir.Constant(I64, i)]), name=f"d_{s}") for i, s in enumerate(inputs_syms)}
    bases = [b.load(b.gep(ptrs_arg, [ir.Constant(I64, i)])) for i in range(len(layout.keys))]
    em = Emitter(b, entry, sym_vals, {}, math)
    for s in rt_syms:  # mutable: a local each, as the C path's ``int64_t d_<s> = 0``
        slot = b.alloca(I64, name=f"d_{s}")
        b.store(ir.Constant(I64, 0), slot)
        em.sym_slots[s] = slot

    def pointer(x: Buffer, ty=PTR):
        return b.bitcast(bases[layout.index(x)], ty)

    def scalar(x: Buffer):
        return b.load(pointer(x, ir.PointerType(LL[storage_type(x.dtype)])))

    def status_return(cond, status):
        """if (!cond) return status;"""
        fail, ok = entry.append_basic_block("check.fail"), entry.append_basic_block("check.ok")
        b.cbranch(cond, ok, fail)
        b.position_at_end(fail)
        b.ret(ir.Constant(I32, codes[status]))
        b.position_at_end(ok)

    loops = []  # open LoopHeads: (head block, exit block, counter pointer)
    prof = ir.Function(module, ir.FunctionType(ir.VoidType(), [I32]), "sdk_prof_step") if profile else None
    for i, step in enumerate(prog.steps):
        if isinstance(step, LoopTail):
            head, done, counter = loops.pop()
            b.store(b.add(b.load(counter), ir.Constant(I64, 1)), counter)
            b.branch(head)
            b.position_at_end(done)
            continue
        skip = None
        guard = getattr(step, "guard", None)
        if guard:  # a step of an If branch: runs when every (flag buffer, value) holds
            conds = [em.truth(scalar(x), storage_type(x.dtype)) for x, _ in guard]
            c = conds[0] if guard[0][1] else b.not_(conds[0])
            for (_, flag), x in zip(guard[1:], conds[1:]):
                c = b.and_(c, x if flag else b.not_(x))
            run_bb, skip = entry.append_basic_block("guard.run"), entry.append_basic_block("guard.skip")
            b.cbranch(c, run_bb, skip)
            b.position_at_end(run_bb)
        if prof is not None:
            b.call(prof, [ir.Constant(I32, i)])
        if isinstance(step, LoopHead):  # for (it = 0; ; ++it) { if (!(it < trip && cond)) break; ...
            counter = pointer(step.counter, ir.PointerType(I64))
            b.store(ir.Constant(I64, 0), counter)
            head, body = entry.append_basic_block("loop.head"), entry.append_basic_block("loop.body")
            done = skip or entry.append_basic_block("loop.end")
            skip = None  # a guarded loop: its exit is the guard's skip block
            b.branch(head)
            b.position_at_end(head)
            it = b.load(counter)
            c = ir.Constant(I1, 1)
            if isinstance(step.trip, Buffer):
                c = b.and_(c, b.icmp_signed("<", it, scalar(step.trip)))
            elif step.trip is not None:
                c = b.and_(c, b.icmp_signed("<", it, em.dim(step.trip)))
            if step.cond is not None:
                c = b.and_(c, em.truth(scalar(step.cond), storage_type(step.cond.dtype)))
            b.cbranch(c, body, done)
            b.position_at_end(body)
            if step.row_bound is not None:
                status_return(b.icmp_signed("<", it, em.dim(step.row_bound)), "SDK_ERR_DYNAMIC_DIM_OUT_OF_BOUNDS")
            b.store(it, em.sym_slots[step.iter_sym])
            loops.append((head, done, counter))
            continue
        if isinstance(step, BindDims):  # run-time symbols from tensor data; a failed check returns its status
            for x in step.inputs:
                em.bufs[id(x)] = b.bitcast(bases[layout.index(x)], ir.PointerType(LL[storage_type(x.dtype)]))
            for n, e in step.defs:
                v, t = em.expr(e)
                b.store(em.convert(v, t, "int64"), em.sym_slots[n])
            for cond, status in step.checks:
                status_return(em.cond(cond), status)
        elif isinstance(step, Kernel):
            keys = _storage_keys(prog, layout, step)
            fn, uniq = kernel_function(module, step, symbols, keys, math)
            args = [em.sym(s) for s in symbols]
            args += [b.bitcast(bases[key], a.type) for key, a in zip(uniq, fn.args[len(symbols):])]
            b.call(fn, args)
        else:
            _lib_call(b, em, module, step, externs, pointer)
        if skip is not None:
            b.branch(skip)
            b.position_at_end(skip)
    if prof is not None:
        b.call(prof, [ir.Constant(I32, -1)])
    for k, out in enumerate(prog.outputs):
        for a, d in enumerate(out.shape):
            b.store(em.dim(d), b.gep(dims_arg, [ir.Constant(I64, k * MAX_RANK + a)]))
    b.ret(ir.Constant(I32, 0))
    return str(module), layout


def _lib_call(b, em, module, step: LibCall, externs, pointer):
    proto = externs.get(step.fn)
    if proto is None:
        raise SdkError(f"llvm codegen: no prototype for library function {step.fn}")
    if len(proto.params) != len(step.args):
        raise SdkError(f"llvm codegen: {step.fn} takes {len(proto.params)} arguments, the call passes {len(step.args)}")
    fn = module.globals.get(proto.name)
    if fn is None:
        fn = ir.Function(module, ir.FunctionType(ir.VoidType() if proto.ret == "void" else LL[proto.ret],
                                                 [PTR if p == "ptr" else LL[p] for p in proto.params]), proto.name)
        fn.attributes.add("nounwind")
    args = []
    for a, p in zip(step.args, proto.params):
        if isinstance(a, Buffer):
            args.append(pointer(a))
        elif a is None:
            args.append(ir.Constant(PTR, None))
        else:
            v, t = em.expr(_lib_arg(a))
            args.append(em.convert(v, t, p))
    b.call(fn, args)
