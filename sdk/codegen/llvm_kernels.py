"""Scheduled GEMM and convolution kernels as LLVM IR (llvmlite's IR builder), for the in-process engine and the tuner.

The same kernel ``sdk/tune/kernels.py`` writes as C, from the same schedule (register tile ``mr`` x ``nv``
vectors of ``lanes`` floats, cache blocks ``kc``/``mc``/``nc``, packing of A and B, tile-loop order, k-loop
unroll), the same blocking, packing, edge handling and epilogue, operation for operation: the register tile
is ``<lanes x float>`` vectors (plain floats when ``lanes`` is 1) whose multiply-adds carry ``contract`` (the
C path's ``-ffp-contract=fast``: LLVM forms FMAs), the tile's operand pointers are ``noalias`` (the C's
``restrict``) and the k loop is unrolled ``unroll`` times by the generator (the C's ``GCC unroll`` pragma).

The kernel has the C kernel's parameters (the library kernel's, then ``scratch``, then ``R`` with a fused
epilogue), pointers as ``i8*``, so a call site passes what it would pass the C kernel. It runs on one thread:
the C kernel's OpenMP splitting is not reproduced (the JIT's tir kernels are single-threaded too).
"""
from __future__ import annotations

from typing import Dict, List, Optional

import llvmlite.ir as ir
import numpy as np

from ..kernels import tunable

I1, I32, I64, F32 = ir.IntType(1), ir.IntType(32), ir.IntType(64), ir.FloatType()
PTR = ir.PointerType(ir.IntType(8))
FP = ir.PointerType(F32)
FL = ("contract",)


def _i(v):
    return ir.Constant(I64, int(v))


def _f(v):
    return ir.Constant(F32, float(np.float32(v)))


class _Fn:
    """One internal function under construction: allocas go to the entry block, code after it."""

    def __init__(self, module, name, ret, params: List[ir.Type], inline: Optional[str] = None, names=()):
        self.fn = ir.Function(module, ir.FunctionType(ret, params), name)
        self.fn.linkage = "internal"
        self.fn.attributes.add("nounwind")
        if inline:
            self.fn.attributes.add(inline)
        for a, n in zip(self.fn.args, names):
            a.name = n
        self.entry = self.fn.append_basic_block("entry")
        self.ab = ir.IRBuilder(self.entry)
        body = self.fn.append_basic_block("body")
        self.b = ir.IRBuilder(body)

    def done(self):
        if not self.b.block.is_terminated:
            self.b.ret_void()
        self.ab.branch(self.fn.basic_blocks[1])
        return self.fn

    # ---- helpers
    def var(self, ty, init=None, name=""):
        p = self.ab.alloca(ty, name=name)
        if init is not None:
            self.b.store(init, p)
        return p

    def min(self, a, c):
        return self.b.select(self.b.icmp_signed("<", a, c), a, c)

    def at(self, p, i):
        return self.b.gep(p, [i])

    def loop(self, start, stop, step, body, name="i"):
        """for (v = start; v < stop; v += step) body(v)  (step > 0, an int or a value)"""
        b = self.b
        v = self.var(I64, start if isinstance(start, ir.Value) else _i(start), name)
        head, blk, end = (self.fn.append_basic_block(f"{name}.{x}") for x in ("head", "body", "end"))
        b.branch(head)
        b.position_at_end(head)
        cur = b.load(v)
        b.cbranch(b.icmp_signed("<", cur, stop if isinstance(stop, ir.Value) else _i(stop)), blk, end)
        b.position_at_end(blk)
        body(cur)
        b.store(b.add(cur, step if isinstance(step, ir.Value) else _i(step)), v)
        b.branch(head)
        b.position_at_end(end)

    def if_(self, cond, then, other=None):
        b = self.b
        t, e = self.fn.append_basic_block("then"), self.fn.append_basic_block("else")
        j = self.fn.append_basic_block("join")
        b.cbranch(cond, t, e)
        for blk, part in ((t, then), (e, other)):
            b.position_at_end(blk)
            if part is not None:
                part()
            if not b.block.is_terminated:
                b.branch(j)
        b.position_at_end(j)

    def nonnull(self, p):
        return self.b.icmp_unsigned("!=", p, ir.Constant(p.type, None))


class _Vec:
    """``lanes`` floats as one value: splat, load, store (unaligned, as the C's ``aligned(4)`` vector type)."""

    def __init__(self, lanes):
        self.L = lanes
        self.ty = F32 if lanes == 1 else ir.VectorType(F32, lanes)

    def splat(self, b, x):
        if self.L == 1:
            return x
        v = b.insert_element(ir.Constant(self.ty, ir.Undefined), x, ir.Constant(I32, 0))
        return b.shuffle_vector(v, ir.Constant(self.ty, ir.Undefined), ir.Constant(ir.VectorType(I32, self.L), [0] * self.L))

    def load(self, b, p):
        return b.load(b.bitcast(p, self.ty.as_pointer()), align=4)

    def store(self, b, v, p):
        b.store(v, b.bitcast(p, self.ty.as_pointer()), align=4)

    def zero(self):
        return ir.Constant(self.ty, 0.0) if self.L == 1 else ir.Constant(self.ty, [0.0] * self.L)


def act_ir(b, math, act, a, c, v):
    """``sdk.transform.epilogue.act_c`` as IR (the same comparisons and operation order)."""
    if act is None:
        return v
    A, B = (x if isinstance(x, ir.Value) else _f(x) for x in (a, c))  # constants or run-time values
    zero, one = _f(0.0), _f(1.0)

    def clamp01(x):
        return b.select(b.fcmp_ordered("<", x, zero), zero, b.select(b.fcmp_ordered(">", x, one), one, x))

    def exp(x):
        return b.call(math.helper("exp"), [x])
    if act == "relu":
        return b.select(b.fcmp_ordered(">", v, zero), v, zero)
    if act == "clip":
        return b.select(b.fcmp_ordered("<", v, A), A, b.select(b.fcmp_ordered(">", v, B), B, v))
    if act == "hardsigmoid":
        return clamp01(b.fadd(b.fmul(A, v, flags=FL), B, flags=FL))
    if act == "hardswish":
        return b.fmul(v, clamp01(b.fadd(b.fmul(v, _f(1.0 / 6.0), flags=FL), _f(0.5), flags=FL)))
    if act == "sigmoid":
        return b.fdiv(one, b.fadd(one, exp(b.fneg(v))))
    if act == "silu":
        return b.fdiv(v, b.fadd(one, exp(b.fneg(v))))
    if act == "leakyrelu":
        return b.select(b.fcmp_ordered("<", v, zero), b.fmul(v, A), v)
    if act == "gelu":  # sdk_geluf: v / 2 (1 + erf(v / sqrt 2)) in its folded form
        return b.call(math.helper("gelu"), [v])
    if act == "gelu_tanh":  # sdk_gelu_tanhf: 0.5 v (1 + tanh(sqrt(2 / pi) (v + 0.044715 v^3)))
        cube = b.fmul(b.fmul(b.fmul(_f(0.044715), v), v), v)
        t = b.call(math.helper("tanh"), [b.fmul(_f(np.sqrt(2.0 / np.pi)), b.fadd(v, cube))])
        return b.fmul(b.fmul(_f(0.5), v), b.fadd(one, t))
    raise ValueError(f"unknown activation {act}")


class KernelGen:
    """Emits one scheduled kernel (``kind`` "gemm" or "conv2d") into ``module`` as function ``name``."""

    def __init__(self, module, math, name: str, kind: str, s: Dict, pointwise: bool = False, epilogue=None,
                 b_packed: bool = False):
        self.m, self.math, self.name, self.kind, self.s = module, math, name, kind, s
        self.pointwise = pointwise
        self.act = None if not epilogue or epilogue[0] is None else tuple(epilogue[:3])
        self.has_r = bool(epilogue)
        # a_tail (A read in place, M ragged: the C kernel's shorter last tile) packs A here, as before it
        self.pa, self.pb = s["pack_a"] or bool(s.get("a_tail")), s["pack_b"]
        self.b_packed = bool(b_packed and self.pb and kind == "gemm")
        self.mr, self.nv, self.L = s["mr"], s["nv"], s["lanes"]
        self.nr = self.nv * self.L
        self.V = _Vec(self.L)
        self.im2col = kind == "conv2d" and not pointwise
        # B source: a matrix (p, rs, cs) or an image (x, H, W, OW, KH, KW, SH, SW, PH, PW, DH, DW, plane)
        self.src_types = [FP] + [I64] * (12 if self.im2col else 2)
        self._ukr: Dict[int, ir.Function] = {}
        # the blocked product and its helpers depend on the code-shaping decisions only (the cache blocks are
        # arguments): kernels of one module that share them share one copy (ResNet-50: 12 kernels, 4 copies)
        core = [self.im2col, self.mr, self.nv, self.L, int(s.get("unroll", 1)), bool(self.pa), bool(self.pb),
                self.b_packed, s["order"], self.act, self.has_r or kind == "gemm"]
        import hashlib
        self.core = "sdk_mm_" + hashlib.sha256(repr(core).encode()).hexdigest()[:12]

    # ------------------------------------------------------------ the register tile
    def ukr(self, nv: int) -> ir.Function:
        """c[mr][nv] vectors over kc, then += y (acc), * alpha and + bias (last), stored to y."""
        if nv in self._ukr:
            return self._ukr[nv]
        mr, L, V = self.mr, self.L, self.V
        f = _Fn(self.m, f"{self.core}_ukr{nv}", ir.VoidType(),
                [I64, FP, I64, I64, FP, I64, FP, I64, I1, I1, F32, FP], "noinline",
                ["kc", "a", "a_rs", "a_cs", "b", "b_rs", "y", "ldy", "acc", "last", "alpha", "bias"])
        kc, a, a_rs, a_cs, bp, b_rs, y, ldy, acc, last, alpha, bias = f.fn.args
        for p in (a, bp, y):
            p.add_attribute("noalias")
        b = f.b
        cs = [[f.var(V.ty, V.zero(), f"c{r}_{v}") for v in range(nv)] for r in range(mr)]

        def step(k):
            bk = f.at(bp, b.mul(k, b_rs))
            bv = [V.load(b, f.at(bk, _i(v * L))) for v in range(nv)]
            ak = b.mul(k, a_cs)
            for r in range(mr):
                ar = V.splat(b, b.load(f.at(a, b.add(b.mul(_i(r), a_rs), ak))))
                for v in range(nv):
                    c = cs[r][v]
                    b.store(b.fadd(b.load(c), b.fmul(ar, bv[v], flags=FL), flags=FL), c)
        u = max(int(self.s.get("unroll", 1)), 1)
        if u > 1:  # kc - kc % u in steps of u, unrolled; then the rest
            main = b.sub(kc, b.srem(kc, _i(u)))
            f.loop(_i(0), main, u, lambda k: [step(b.add(k, _i(j))) for j in range(u)], "k")
            f.loop(main, kc, 1, step, "kr")
        else:
            f.loop(_i(0), kc, 1, step, "k")

        def add_y():
            for r in range(mr):
                for v in range(nv):
                    c = cs[r][v]
                    b.store(b.fadd(b.load(c), V.load(b, f.at(y, b.add(b.mul(_i(r), ldy), _i(v * L))))), c)
        f.if_(acc, add_y)

        def scale():
            al = V.splat(b, alpha)
            for row in cs:
                for c in row:
                    b.store(b.fmul(b.load(c), al), c)

            def add_bias():
                for r in range(mr):
                    bb = V.splat(b, b.load(f.at(bias, _i(r))))
                    for c in cs[r]:
                        b.store(b.fadd(b.load(c), bb), c)
            f.if_(f.nonnull(bias), add_bias)
        f.if_(last, scale)
        for r in range(mr):
            for v in range(nv):
                V.store(b, b.load(cs[r][v]), f.at(y, b.add(b.mul(_i(r), ldy), _i(v * L))))
        self._ukr[nv] = f.done()
        return self._ukr[nv]

    def edge(self) -> ir.Function:
        """Any rows x cols tile straight from unpacked operands (B columns contiguous)."""
        f = _Fn(self.m, f"{self.core}_edge", ir.VoidType(),
                [I64, I64, I64, FP, I64, I64, FP, I64, FP, I64, I1, I1, F32, FP], "noinline",
                ["rows", "cols", "kc", "a", "a_rs", "a_cs", "b", "b_rs", "y", "ldy", "acc", "last", "alpha", "bias"])
        rows, cols, kc, a, a_rs, a_cs, bp, b_rs, y, ldy, acc, last, alpha, bias = f.fn.args
        b = f.b

        def row(r):
            yr = f.at(y, b.mul(r, ldy))
            f.if_(b.not_(acc), lambda: f.loop(_i(0), cols, 1, lambda j: b.store(_f(0.0), f.at(yr, j)), "z"))

            def kstep(k):
                av = b.load(f.at(a, b.add(b.mul(r, a_rs), b.mul(k, a_cs))))
                bk = f.at(bp, b.mul(k, b_rs))

                def col(j):
                    p = f.at(yr, j)
                    b.store(b.fadd(b.load(p), b.fmul(av, b.load(f.at(bk, j)), flags=FL), flags=FL), p)
                f.loop(_i(0), cols, 1, col, "j")
            f.loop(_i(0), kc, 1, kstep, "k")

            def fin():
                bbv = f.var(F32, _f(0.0), "bb")
                f.if_(f.nonnull(bias), lambda: b.store(b.load(f.at(bias, r)), bbv))
                bb = b.load(bbv)

                def col(j):
                    p = f.at(yr, j)
                    b.store(b.fadd(b.fmul(b.load(p), alpha, flags=FL), bb, flags=FL), p)
                f.loop(_i(0), cols, 1, col, "j2")
            f.if_(last, fin)
        f.loop(_i(0), rows, 1, row, "r")
        return f.done()

    def epi(self) -> ir.Function:
        """+ beta * C (a GEMM's C operand), + R (residual), act, on a tile while it is in cache."""
        f = _Fn(self.m, f"{self.core}_epi", ir.VoidType(),
                [FP, I64, I64, I64, I64, I64, FP, I64, I64, F32, FP], "noinline",
                ["y", "ldy", "rows", "cols", "i0", "j0", "C", "c_rs", "c_cs", "beta", "R"])
        y, ldy, rows, cols, i0, j0, C, c_rs, c_cs, beta, R = f.fn.args
        b = f.b

        def row(r):
            yr = f.at(y, b.mul(r, ldy))

            def add_c():
                c = f.at(C, b.add(b.mul(b.add(i0, r), c_rs), b.mul(j0, c_cs)))

                def col(j):
                    p = f.at(yr, j)
                    b.store(b.fadd(b.load(p), b.fmul(beta, b.load(f.at(c, b.mul(j, c_cs))), flags=FL), flags=FL), p)
                f.loop(_i(0), cols, 1, col, "jc")
            f.if_(f.nonnull(C), add_c)

            def add_r():
                rr = f.at(R, b.add(b.mul(b.add(i0, r), ldy), j0))

                def col(j):
                    p = f.at(yr, j)
                    b.store(b.fadd(b.load(p), b.load(f.at(rr, j))), p)
                f.loop(_i(0), cols, 1, col, "jr")
            f.if_(f.nonnull(R), add_r)
            if self.act:
                def col(j):
                    p = f.at(yr, j)
                    b.store(act_ir(b, self.math, *self.act, b.load(p)), p)
                f.loop(_i(0), cols, 1, col, "ja")
        f.loop(_i(0), rows, 1, row, "r")
        return f.done()

    # ------------------------------------------------------------ packing
    def pack_a(self) -> ir.Function:
        mr = self.mr
        f = _Fn(self.m, f"{self.core}_pack_a", ir.VoidType(), [I64, I64, FP, I64, I64, FP], "noinline",
                ["mc", "kc", "A", "a_rs", "a_cs", "ap"])
        mc, kc, A, a_rs, a_cs, ap = f.fn.args
        ap.add_attribute("noalias")
        b = f.b

        def panel(i0):
            rows = f.min(_i(mr), b.sub(mc, i0))
            dst = f.at(ap, b.mul(i0, kc))

            def k_(k):
                for r in range(mr):
                    ok = b.icmp_signed("<", _i(r), rows)
                    src = f.at(A, b.select(ok, b.add(b.mul(b.add(i0, _i(r)), a_rs), b.mul(k, a_cs)), _i(0)))
                    val = f.var(F32, _f(0.0), "v")
                    f.if_(ok, lambda: b.store(b.load(src), val))
                    b.store(b.load(val), f.at(dst, b.add(b.mul(k, _i(mr)), _i(r))))
            f.loop(_i(0), kc, 1, k_, "k")
        f.loop(_i(0), mc, mr, panel, "i0")
        return f.done()

    def pack_b(self) -> ir.Function:
        nr = self.nr
        f = _Fn(self.m, f"{self.core}_pack_b", ir.VoidType(), self.src_types + [I64, I64, I64, I64, FP], "noinline")
        args = list(f.fn.args)
        src, (j0, nc, k0, kc, bp) = args[:len(self.src_types)], args[len(self.src_types):]
        bp.add_attribute("noalias")
        b = f.b
        zero = _f(0.0)
        if not self.im2col:
            p, rs, cs = src

            def panel(jp):
                cols = f.min(_i(nr), b.sub(nc, jp))
                dst = f.at(bp, b.mul(jp, kc))

                def k_(k):
                    row = f.at(p, b.add(b.mul(b.add(k0, k), rs), b.mul(b.add(j0, jp), cs)))
                    d = f.at(dst, b.mul(k, _i(nr)))
                    full = b.and_(b.icmp_signed("==", cs, _i(1)), b.icmp_signed("==", cols, _i(nr)))

                    def copy():
                        V = _Vec(nr)  # memcpy of one panel row
                        V.store(b, V.load(b, row), d)

                    def gather():
                        def col(j):
                            ok = b.icmp_signed("<", j, cols)
                            val = f.var(F32, zero, "v")
                            f.if_(ok, lambda: b.store(b.load(f.at(row, b.mul(j, cs))), val))
                            b.store(b.load(val), f.at(d, j))
                        f.loop(_i(0), nr, 1, col, "j")
                    f.if_(full, copy, gather)
                f.loop(_i(0), kc, 1, k_, "k")
            f.loop(_i(0), nc, nr, panel, "jp")
            return f.done()
        x, H, W, OW, KH, KW, SH, SW, PH, PW, DH, DW, _plane = src
        taps = b.mul(KH, KW)

        def panel(jp):
            cols = f.min(_i(nr), b.sub(nc, jp))
            dst = f.at(bp, b.mul(jp, kc))
            p0 = b.add(j0, jp)
            oh0, ow0 = b.sdiv(p0, OW), b.srem(p0, OW)

            def k_(k):
                kk = b.add(k0, k)
                c, t = b.sdiv(kk, taps), b.srem(kk, taps)
                kh, kw = b.sdiv(t, KW), b.srem(t, KW)
                xc = f.at(x, b.mul(b.mul(c, H), W))
                d = f.at(dst, b.mul(k, _i(nr)))
                j, oh, ow = f.var(I64, _i(0), "j"), f.var(I64, oh0, "oh"), f.var(I64, ow0, "ow")
                head, body, end = (f.fn.append_basic_block(n) for n in ("run.head", "run.body", "run.end"))
                b.branch(head)
                b.position_at_end(head)
                b.cbranch(b.icmp_signed("<", b.load(j), cols), body, end)
                b.position_at_end(body)
                jv, ohv, owv = b.load(j), b.load(oh), b.load(ow)
                run = f.min(b.sub(cols, jv), b.sub(OW, owv))
                ih = b.add(b.sub(b.mul(ohv, SH), PH), b.mul(kh, DH))
                iw0 = b.add(b.sub(b.mul(owv, SW), PW), b.mul(kw, DW))
                dj = f.at(d, jv)
                outside = b.or_(b.icmp_signed("<", ih, _i(0)), b.icmp_signed(">=", ih, H))

                def zeros(lo_, hi_):
                    f.loop(lo_, hi_, 1, lambda u: b.store(zero, f.at(dj, u)), "u0")

                def inside():
                    xr = f.at(xc, b.mul(ih, W))
                    lo, hi = f.var(I64, _i(0), "lo"), f.var(I64, run, "hi")
                    # lo: first u with iw0 + u*SW >= 0; hi: one past the last with iw0 + u*SW < W
                    self._while(f, lambda: b.and_(b.icmp_signed("<", b.load(lo), run),
                                                  b.icmp_signed("<", b.add(iw0, b.mul(b.load(lo), SW)), _i(0))),
                                lambda: b.store(b.add(b.load(lo), _i(1)), lo))
                    self._while(f, lambda: b.and_(b.icmp_signed(">", b.load(hi), b.load(lo)),
                                                  b.icmp_signed(">=", b.add(iw0, b.mul(b.sub(b.load(hi), _i(1)), SW)), W)),
                                lambda: b.store(b.sub(b.load(hi), _i(1)), hi))
                    lov, hiv = b.load(lo), b.load(hi)
                    zeros(_i(0), lov)

                    def copy(stride):
                        def one(u):
                            sw = stride if stride is not None else SW
                            b.store(b.load(f.at(xr, b.add(iw0, b.mul(u, sw)))), f.at(dj, u))
                        return lambda: f.loop(lov, hiv, 1, one, "u")
                    # constant strides 1 and 2 as their own loops (contiguous / two loads and a permute a vector)
                    f.if_(b.icmp_signed("==", SW, _i(1)), copy(_i(1)),
                          lambda: f.if_(b.icmp_signed("==", SW, _i(2)), copy(_i(2)), copy(None)))
                    zeros(hiv, run)
                f.if_(outside, lambda: zeros(_i(0), run), inside)
                b.store(b.add(jv, run), j)
                b.store(_i(0), ow)
                b.store(b.add(ohv, _i(1)), oh)
                b.branch(head)
                b.position_at_end(end)
                f.loop(b.load(j), nr, 1, lambda jj: b.store(zero, f.at(d, jj)), "jz")
            f.loop(_i(0), kc, 1, k_, "k")
        f.loop(_i(0), nc, nr, panel, "jp")
        return f.done()

    @staticmethod
    def _while(f, cond, body):
        b = f.b
        head, blk, end = (f.fn.append_basic_block(n) for n in ("w.head", "w.body", "w.end"))
        b.branch(head)
        b.position_at_end(head)
        b.cbranch(cond(), blk, end)
        b.position_at_end(blk)
        body()
        b.branch(head)
        b.position_at_end(end)

    # ------------------------------------------------------------ the blocked product
    def mm(self) -> ir.Function:
        """Blocked driver over one [M,K] x [K,N] product into Y (row stride ldy), as ``tune/kernels.py`` ``_mm``
        (the one-thread loop nest)."""
        s, mr, nr = self.s, self.mr, self.nr
        pa, pb = self.pa, self.pb
        f = _Fn(self.m, f"{self.core}_mm", ir.VoidType(), self.mm_type().args, "noinline")
        args = list(f.fn.args)
        M, N, K, alpha, A, a_rs, a_cs = args[:7]
        ns = len(self.src_types)
        src = args[7:7 + ns]
        Y, ldy, bias, scratch, has_epi, eC, c_rs, c_cs, beta, R, KC, MC, NC = args[7 + ns:]
        b = f.b
        epi = self.epi()
        edge = self.edge()
        ukr = self.ukr(self.nv)
        narrow = [(w, self.ukr(w)) for w in (range(1, self.nv) if pb and self.nv > 1 else ())]
        pack_b = self.pack_b() if pb and not self.b_packed else None
        pack_a = self.pack_a() if pa else None
        # scratch to the next 64 bytes (whole-vector panel loads)
        si = b.ptrtoint(scratch, I64)
        scratch = b.inttoptr(b.and_(b.add(si, _i(63)), _i(~63)), FP)
        ap = scratch
        bp_scratch = f.at(scratch, b.mul(MC, KC) if pa else _i(0))
        epi_args = lambda yt, rows, cols, i0, j0: [yt, ldy, rows, cols, i0, j0, eC, c_rs, c_cs, beta, R]  # noqa: E731

        def k_zero():
            def row(i):
                bv = f.var(F32, _f(0.0), "bv")
                f.if_(f.nonnull(bias), lambda: b.store(b.load(f.at(bias, i)), bv))
                val = b.load(bv)
                f.loop(_i(0), N, 1, lambda j: b.store(val, f.at(Y, b.add(b.mul(i, ldy), j))), "j")
            f.loop(_i(0), M, 1, row, "i")
            f.if_(has_epi, lambda: b.call(epi, epi_args(Y, M, N, _i(0), _i(0))))
            b.ret_void()
        f.if_(b.icmp_signed("==", K, _i(0)), k_zero)
        tmp = f.ab.alloca(ir.ArrayType(F32, mr * nr), name="t")
        tmp.align = 64
        t = f.ab.bitcast(tmp, FP)
        nrp = b.mul(b.sdiv(b.add(NC, _i(nr - 1)), _i(nr)), _i(nr))

        def jc_(jc):
            nc = f.min(NC, b.sub(N, jc))

            def pc_(pc):
                kc = f.min(KC, b.sub(K, pc))
                acc = b.icmp_signed(">", pc, _i(0))
                last = b.icmp_signed(">=", b.add(pc, kc), K)
                if self.b_packed:  # block (jc, pc) of the weight packed at build time, read in place
                    ncp = b.mul(b.sdiv(b.add(nc, _i(nr - 1)), _i(nr)), _i(nr))
                    bp = f.at(src[0], b.add(b.mul(b.mul(b.sdiv(jc, NC), nrp), K), b.mul(pc, ncp)))
                else:
                    bp = bp_scratch
                    if pack_b is not None:
                        b.call(pack_b, src + [jc, nc, pc, kc, bp])

                def ic_(ic):
                    mc = f.min(MC, b.sub(M, ic))
                    if pa:
                        b.call(pack_a, [mc, kc, f.at(A, b.add(b.mul(ic, a_rs), b.mul(pc, a_cs))), a_rs, a_cs, ap])

                    def tile(ir_, jr):
                        rows = f.min(_i(mr), b.sub(mc, ir_))
                        cols = f.min(_i(nr), b.sub(nc, jr))
                        yt = f.at(Y, b.add(b.add(b.mul(b.add(ic, ir_), ldy), jc), jr))
                        bt = b.select(f.nonnull(bias), f.at(bias, b.add(ic, ir_)), ir.Constant(FP, None))
                        if pa:
                            a_op = [f.at(ap, b.mul(ir_, kc)), _i(1), _i(mr)]
                        else:
                            a_op = [f.at(A, b.add(b.mul(b.add(ic, ir_), a_rs), b.mul(pc, a_cs))), a_rs, a_cs]
                        if pb:
                            b_op = [f.at(bp, b.mul(jr, kc)), _i(nr)]
                        else:
                            b_op = [f.at(src[0], b.add(b.mul(pc, src[1]), b.add(jc, jr))), src[1]]
                        full = b.and_(b.icmp_signed("==", rows, _i(mr)), b.icmp_signed("==", cols, _i(nr)))
                        ok = ir.Constant(I1, 1)
                        if not pa:
                            ok = b.and_(ok, b.icmp_signed("==", rows, _i(mr)))
                        if not pb:
                            ok = b.and_(ok, b.icmp_signed("==", cols, _i(nr)))
                        no, yes, one, nul = ir.Constant(I1, 0), ir.Constant(I1, 1), _f(1.0), ir.Constant(FP, None)
                        del yes

                        def whole():
                            b.call(ukr, [kc] + a_op + b_op + [yt, ldy, acc, last, alpha, bt])

                        def via_tmp():
                            def into_t(fn):
                                return lambda: b.call(fn, [kc] + a_op + b_op + [t, _i(nr), no, no, one, nul])
                            chain = into_t(ukr)
                            for w, fn in reversed(narrow):  # the narrowest tile that covers the columns
                                chain = (lambda w=w, fn=fn, rest=chain:
                                         f.if_(b.icmp_signed("<=", cols, _i(w * self.L)), into_t(fn), rest))
                            chain()

                            def row(r):
                                def col(j):
                                    yp = f.at(yt, b.add(b.mul(r, ldy), j))
                                    v = b.load(f.at(t, b.add(b.mul(r, _i(nr)), j)))
                                    accv = f.var(F32, _f(0.0), "acc")
                                    f.if_(acc, lambda: b.store(b.load(yp), accv))
                                    v = b.fadd(v, b.load(accv))
                                    out = f.var(F32, v, "out")

                                    def fin():
                                        bb = f.var(F32, _f(0.0), "bb")
                                        f.if_(f.nonnull(bt), lambda: b.store(b.load(f.at(bt, r)), bb))
                                        b.store(b.fadd(b.fmul(v, alpha, flags=FL), b.load(bb), flags=FL), out)
                                    f.if_(last, fin)
                                    b.store(b.load(out), yp)
                                f.loop(_i(0), cols, 1, col, "tj")
                            f.loop(_i(0), rows, 1, row, "tr")

                        def ragged():
                            b.call(edge, [rows, cols, kc] + a_op + b_op + [yt, ldy, acc, last, alpha, bt])
                        f.if_(full, whole, lambda: f.if_(ok, via_tmp, ragged))
                        f.if_(b.and_(last, has_epi), lambda: b.call(epi, epi_args(yt, rows, cols, b.add(ic, ir_),
                                                                                   b.add(jc, jr))))
                    if s["order"] == "ij":
                        f.loop(_i(0), mc, mr, lambda i_: f.loop(_i(0), nc, nr, lambda j_: tile(i_, j_), "jr"), "ir")
                    else:
                        f.loop(_i(0), nc, nr, lambda j_: f.loop(_i(0), mc, mr, lambda i_: tile(i_, j_), "ir"), "jr")
                f.loop(_i(0), M, MC, ic_, "ic")
            f.loop(_i(0), K, KC, pc_, "pc")
        f.loop(_i(0), N, NC, jc_, "jc")
        return f.done()

    # ------------------------------------------------------------ the kernel itself
    def params(self):
        decl = tunable(self.kind)
        sig = decl.signature(len(decl.params) + (2 if self.has_r else 1))
        return sig, [PTR if p.pointer else {"int64_t": I64, "float": F32}[p.ctype] for p in sig]

    def mm_type(self) -> ir.FunctionType:
        return ir.FunctionType(ir.VoidType(), [I64, I64, I64, F32, FP, I64, I64] + self.src_types +
                               [FP, I64, FP, FP, I1, FP, I64, I64, F32, FP] + [I64] * 3)

    def emit_core(self) -> str:
        """Only the blocked product ``<core>_mm`` (external), for a module that others declare it from."""
        if self.m.globals.get(f"{self.core}_mm") is None:
            self.mm().linkage = "external"
        return f"{self.core}_mm"

    def emit(self, linkage: str = "external", declare_core: bool = False) -> ir.Function:
        """The kernel; ``declare_core``: its blocked product is declared, defined elsewhere (``emit_core``)."""
        sig, types = self.params()
        shared = self.m.globals.get(f"{self.core}_mm")
        if shared is None and declare_core:
            shared = ir.Function(self.m, self.mm_type(), f"{self.core}_mm")
            shared.attributes.add("nounwind")
        mm = shared if shared is not None else self.mm()
        blocks = [_i(self.s["kc"]), _i(self.s["mc"]), _i(self.s["nc"])]
        f = _Fn(self.m, self.name, ir.VoidType(), types, None, [p.name for p in sig])
        f.fn.linkage = linkage
        a = {p.name: arg for p, arg in zip(sig, f.fn.args)}
        b = f.b
        fp = {n: b.bitcast(v, FP) for n, v in a.items() if v.type == PTR}
        null = ir.Constant(FP, None)
        R = fp.get("R", null)
        if self.kind == "gemm":
            M, N, K = a["M"], a["N"], a["K"]
            need = ir.Constant(I1, 1) if self.has_r else b.and_(f.nonnull(fp["C"]), b.fcmp_unordered("!=", a["beta"], _f(0.0)))
            eC = b.select(b.fcmp_unordered("!=", a["beta"], _f(0.0)), fp["C"], null)

            def batch(bt):
                src = [f.at(fp["B"], b.mul(bt, a["b_bs"])), a["b_rs"], a["b_cs"]]
                r = b.select(f.nonnull(R), f.at(R, b.mul(b.mul(bt, M), N)), null) if self.has_r else null
                b.call(mm, [M, N, K, a["alpha"], f.at(fp["A"], b.mul(bt, a["a_bs"])), a["a_rs"], a["a_cs"]] + src +
                       [f.at(fp["Y"], b.mul(b.mul(bt, M), N)), N, null, fp["scratch"], need, eC, a["c_rs"],
                        a["c_cs"], a["beta"], r] + blocks)
            f.loop(_i(0), a["batch"], 1, batch, "bt")
            return f.done()
        g_ = a["groups"]
        C, M, H, W = a["C"], a["M"], a["H"], a["W"]
        cin, cout = b.sdiv(C, g_), b.sdiv(M, g_)
        plane = b.mul(a["OH"], a["OW"])
        kg = b.mul(b.mul(cin, a["KH"]), a["KW"])

        def image(n):
            def group(g):
                x = f.at(fp["X"], b.mul(b.add(b.mul(n, C), b.mul(g, cin)), b.mul(H, W)))
                if self.im2col:
                    src = [x, H, W, a["OW"], a["KH"], a["KW"], a["SH"], a["SW"], a["PH"], a["PW"], a["DH"], a["DW"],
                           plane]
                else:
                    src = [x, b.mul(H, W), _i(1)]
                out_off = b.mul(b.add(b.mul(n, M), b.mul(g, cout)), plane)
                r = b.select(f.nonnull(R), f.at(R, out_off), null) if self.has_r else null
                bias = b.select(f.nonnull(fp["bias"]), f.at(fp["bias"], b.mul(g, cout)), null)
                b.call(mm, [cout, plane, kg, _f(1.0), f.at(fp["Wt"], b.mul(b.mul(g, cout), kg)), kg, _i(1)] + src +
                       [f.at(fp["Y"], out_off), plane, bias, fp["scratch"], ir.Constant(I1, int(self.has_r)), null,
                        _i(0), _i(0), _f(0.0), r] + blocks)
            f.loop(_i(0), g_, 1, group, "g")
        f.loop(_i(0), a["N"], 1, image, "n")
        return f.done()


def emit_kernel(module, math, name: str, kind: str, schedule: Dict, pointwise: bool = False, epilogue=None,
                b_packed: bool = False, linkage: str = "external", declare_core: bool = False) -> ir.Function:
    """Define the scheduled kernel ``name`` in ``module`` (see the module docstring); ``epilogue``: (act or None,
    a, b, R or None) as ``sdk.tune.kernels.kernel_source`` takes it. ``declare_core``: the blocked product it
    calls is only declared (``emit_core`` defined it in another module of the same engine/process)."""
    return KernelGen(module, math, name, kind, schedule, pointwise, epilogue, b_packed).emit(linkage, declare_core)


def emit_core(module, math, kind: str, schedule: Dict, pointwise: bool = False, epilogue=None,
              b_packed: bool = False) -> str:
    """Define the blocked product a kernel of this spec calls (external, named by its code-shaping decisions:
    kernels that differ only in cache blocks share it); returns its name."""
    return KernelGen(module, math, "", kind, schedule, pointwise, epilogue, b_packed).emit_core()


def spec_of(step) -> Optional[dict]:
    """The emit_kernel arguments of a scheduled library call (``LibCall.generated``), or None when the call is
    not one (a runtime library kernel)."""
    g = getattr(step, "generated", None)
    if not g or step.schedule is None or any(step.schedule.get(k) for k in ("trans", "direct", "planes")):
        return None  # spatial-rows, tap-plane and direct grouped convolutions (sdk/tune/kernels.py, gconv.py): C only
    epi = g["epilogue"]
    return {"kind": g["kind"], "schedule": dict(step.schedule), "pointwise": bool(g["pointwise"]),
            "epilogue": None if not epi else (epi[0], float(epi[1]), float(epi[2]), None),
            "b_packed": bool(g["b_packed"])}


def spec_key(spec: dict) -> str:
    """A stable name part for a kernel spec: calls with the same spec share one function."""
    import hashlib
    import json
    epi = spec["epilogue"]
    k = dict(spec, epilogue=None if epi is None else [epi[0], epi[1], epi[2], True])
    return hashlib.sha256(json.dumps(k, sort_keys=True).encode()).hexdigest()[:16]


# ---------------------------------------------------------------- runtime kernels as IR
def _ceil_div(b, a, d):
    """sdk_kernels.c ``ceil_div`` (d > 0): a >= 0 ? (a + d - 1) / d : -((-a) / d)."""
    pos = b.sdiv(b.add(a, b.sub(d, _i(1))), d)
    neg = b.neg(b.sdiv(b.neg(a), d))
    return b.select(b.icmp_signed(">=", a, _i(0)), pos, neg)


def _tap_range(f, base, D, K, lo, hi):
    """sdk_kernels.c ``tap_range``: taps k in [k0, k1) with lo <= base + k*D < hi."""
    b = f.b
    a_, b_ = _ceil_div(b, b.sub(lo, base), D), _ceil_div(b, b.sub(hi, base), D)
    k0 = b.select(b.icmp_signed("<", a_, _i(0)), _i(0), a_)
    k1 = b.select(b.icmp_signed(">", b_, K), K, b_)
    return k0, b.select(b.icmp_signed("<", k1, k0), k0, k1)


def emit_pool2d(module, name: str = "sdk_pool2d_f32", linkage: str = "internal") -> ir.Function:
    """``sdk_pool2d_f32`` (max: mode 0; average: 1 without, 2 with the padding counted) as IR: the runtime
    kernel's general path (tap by tap over output rows, the inner loop a plain max/add over output columns,
    NaN sticking in maxima; averages divided by their tap count), without its unrolled 2x2/3x3 blocks."""
    f = _Fn(module, name, ir.VoidType(), [I64] * 17 + [PTR, PTR], None,
            "N C H W OH OW KH KW SH SW PH PW DH DW PH_END PW_END mode X Y".split())
    f.fn.linkage = linkage
    N, C, H, W, OH, OW, KH, KW, SH, SW, PH, PW, DH, DW, PH_END, PW_END, mode = f.fn.args[:17]
    b = f.b
    X, Y = b.bitcast(f.fn.args[17], FP), b.bitcast(f.fn.args[18], FP)
    nc_all = b.mul(N, C)
    is_max = b.icmp_signed("==", mode, _i(0))
    init = b.select(is_max, _f(float("-inf")), _f(0.0))
    f.loop(_i(0), b.mul(b.mul(nc_all, OH), OW), 1, lambda p: b.store(init, f.at(Y, p)), "p")

    def kw_(kw):
        a0 = _ceil_div(b, b.sub(PW, b.mul(kw, DW)), SW)
        b0 = _ceil_div(b, b.sub(b.add(W, PW), b.mul(kw, DW)), SW)
        a0 = b.select(b.icmp_signed("<", a0, _i(0)), _i(0), b.select(b.icmp_signed(">", a0, OW), OW, a0))
        b0 = b.select(b.icmp_signed("<", b0, a0), a0, b.select(b.icmp_signed(">", b0, OW), OW, b0))

        def nc_(nc):
            x = f.at(X, b.mul(b.mul(nc, H), W))
            y = f.at(Y, b.mul(b.mul(nc, OH), OW))

            def oh_(oh):
                h0 = b.sub(b.mul(oh, SH), PH)
                kh0, kh1 = _tap_range(f, h0, DH, KH, _i(0), H)
                yr = f.at(y, b.mul(oh, OW))

                def kh_(kh):
                    xr = f.at(x, b.sub(b.add(b.mul(b.add(h0, b.mul(kh, DH)), W), b.mul(kw, DW)), PW))

                    def cols(stride):
                        def mx(ow):
                            v, c = b.load(f.at(xr, b.mul(ow, stride))), b.load(f.at(yr, ow))
                            take = b.or_(b.fcmp_ordered(">", v, c), b.fcmp_unordered("uno", v, v))
                            b.store(b.select(take, v, c), f.at(yr, ow))

                        def add(ow):
                            p = f.at(yr, ow)
                            b.store(b.fadd(b.load(p), b.load(f.at(xr, b.mul(ow, stride)))), p)
                        return lambda: f.if_(is_max, lambda: f.loop(a0, b0, 1, mx, "owm"),
                                             lambda: f.loop(a0, b0, 1, add, "owa"))
                    f.if_(b.icmp_signed("==", SW, _i(1)), cols(_i(1)), cols(SW))
                f.loop(kh0, kh1, 1, kh_, "kh")
            f.loop(_i(0), OH, 1, oh_, "oh")
        f.loop(_i(0), nc_all, 1, nc_, "nc")
    f.loop(_i(0), KW, 1, kw_, "kw")

    def averages():
        two = b.icmp_signed("==", mode, _i(2))

        def oh_(oh):
            h0 = b.sub(b.mul(oh, SH), PH)
            k0, k1 = _tap_range(f, h0, DH, KH, b.select(two, b.neg(PH), _i(0)), b.select(two, b.add(H, PH_END), H))

            def ow_(ow):
                w0, w1 = _tap_range(f, b.sub(b.mul(ow, SW), PW), DW, KW, b.select(two, b.neg(PW), _i(0)),
                                    b.select(two, b.add(W, PW_END), W))
                cnt = b.mul(b.sub(k1, k0), b.sub(w1, w0))
                div = b.sitofp(b.select(b.icmp_signed(">", cnt, _i(0)), cnt, _i(1)), F32)

                def nc_(nc):
                    p = f.at(Y, b.add(b.mul(b.add(b.mul(nc, OH), oh), OW), ow))
                    b.store(b.fdiv(b.load(p), div), p)
                f.loop(_i(0), nc_all, 1, nc_, "ncd")
            f.loop(_i(0), OW, 1, ow_, "ow")
        f.loop(_i(0), OH, 1, oh_, "oha")
    f.if_(b.not_(is_max), averages)
    return f.done()

