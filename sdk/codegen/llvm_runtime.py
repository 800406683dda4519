"""Runtime library kernels as LLVM IR, so the in-process engine runs them without a C compiler.

Each function has the C kernel's parameters (pointers as ``i8*``), so a call site passes what it passes the C
kernel (``runtime_c/src``), and computes the same sums in the same order (float multiply-adds carry
``contract``: the C path's ``-ffp-contract=fast``):

- ``sdk_epilogue_f32``: ``Y = act(Y + R)``, one loop per activation code (each vectorises).
- ``sdk_dwconv2d_f32``: the input plane copied into a zero-padded plane (at stride 2 split by column parity, or
  into four phase planes for narrow outputs, as the C kernel does), so every tap's loads are contiguous along
  the output row; K x K taps (3, 5, 7; stride 1 or 2) are unrolled with the weights held in registers, outputs
  go ``<lanes x float>`` vectors at a time (``host_lanes``: four independent chains, then one, then a last vector
  overlapping the previous ones instead of a scalar remainder); narrow planes run as one long row (then
  compacted). Other geometries (dilation, stride 3, non-square kernels) use the C kernel's generic loop. Each
  output sums the bias, then the taps in order.
- ``sdk_gemv_f32``: the packed weight (``sdk/tune/gemv.py``) streamed panel by panel, each panel's 32 (or 8)
  outputs a ``<32 x float>`` (``<8 x float>``) accumulator pair (even and odd k, summed at the end, as the C
  kernel's two k steps per iteration), then bias, residual and activation; ``sdk_gemv_f16w_f32`` the same over a
  float16 weight (``<P x half>`` loads extended to float).
- ``sdk_pool2d_f32``: ``llvm_kernels.emit_pool2d``.
- ``sdk_dwconv2d_nhwc_f32`` and ``sdk_conv2d_stem_nhwc_f32`` (the layout pass's channels-last kernels): output
  channels ``<lanes x float>`` at a time, then one by one; the depthwise kernel's interior columns (square 3/5/7
  kernels) with a channel vector's weights in registers across the row, border pixels with their taps clipped;
  the stem's padded taps add 0 * w, as the C kernel's gathered patches; ``sdk_gap_nhwc_f32`` (global average
  pooling of an NHWC tensor) with the C kernel's four-pixel partial sums.

All run on one thread (the C kernels split channels or panels across OpenMP threads).
"""
from __future__ import annotations

import llvmlite.ir as ir

from ..transform.epilogue import ACT_CODE
from .llvm_kernels import F32, FP, FL, I64, PTR, _f, _Fn, _i, _Vec, act_ir, emit_pool2d


def _at(b, p, i):
    return b.gep(p, [i], inbounds=True)


def _fn(module, name, params, names, linkage):
    f = _Fn(module, name, ir.VoidType(), params, None, names.split())
    f.fn.linkage = linkage
    return f


# ---------------------------------------------------------------- epilogue
def _act_loops(module, math):
    """internal ``sdk_ir_act(n, Y, R, act, a, b)`` on float pointers: the body of ``sdk_epilogue_f32``."""
    name = "sdk_ir_act"
    fn = module.globals.get(name)
    if fn is not None:
        return fn
    f = _Fn(module, name, ir.VoidType(), [I64, FP, FP, I64, F32, F32], "noinline", "n Y R act a b".split())
    n, Y, R, act, a, c = f.fn.args
    Y.add_attribute("noalias")
    R.add_attribute("noalias")
    b = f.b

    def loop(kind, with_r):
        def body(i):
            p = _at(b, Y, i)
            v = b.load(p)
            if with_r:
                v = b.fadd(v, b.load(_at(b, R, i)))
            b.store(act_ir(b, math, kind, a, c, v), p)
        return lambda: f.loop(_i(0), n, 1, body, "e")

    def dispatch(with_r):
        chain = loop(None, with_r)
        for kind, code in sorted(ACT_CODE.items(), key=lambda kv: -kv[1]):
            chain = (lambda kind=kind, code=code, rest=chain:
                     f.if_(b.icmp_signed("==", act, _i(code)), loop(kind, with_r), rest))
        chain()
    f.if_(f.nonnull(R), lambda: dispatch(True), lambda: dispatch(False))
    return f.done()


def emit_epilogue(module, math, name: str = "sdk_epilogue_f32", linkage: str = "internal") -> ir.Function:
    """``sdk_epilogue_f32(n, Y, R, act, a, b)``: Y[i] = act(Y[i] + R[i]) (R may be NULL)."""
    core = _act_loops(module, math)
    f = _fn(module, name, [I64, PTR, PTR, I64, F32, F32], "n Y R act a b", linkage)
    n, Y, R, act, a, c = f.fn.args
    f.b.call(core, [n, f.b.bitcast(Y, FP), f.b.bitcast(R, FP), act, a, c])
    return f.done()


# ---------------------------------------------------------------- depthwise convolution
DW_TAPS = (3, 5, 7)  # K x K kernels with unrolled taps (the C kernel's row/flat forms); others: the generic loop


def host_lanes() -> int:
    """float lanes of this machine's widest vector registers (what the JIT compiles for: LLVM's host features)."""
    import llvmlite.binding as llvm
    feats = {k for k, on in llvm.get_host_cpu_features().items() if on}
    return 16 if "avx512f" in feats else 8 if "avx" in feats else 4


def _dw_taps(module, K: int, cs: int, lanes: int) -> ir.Function:
    """``rows`` x ``cols`` outputs, y[oh * ldy + ow] = b0 + sum_t w[t] * xp[oh * pitch + ow * cs + off(t)], the
    taps t = (kh, kw) in order, off(kh, kw) = (kh >> 1) rA + (kh & 1) rB + (kw >> 1) cA + (kw & 1) cB: one
    formula for the plain padded plane and the column-split and four-phase layouts. Contiguous loads (cs 1) go
    ``lanes`` outputs a vector, four vectors (independent multiply-add chains) at a time, then one; a last
    partial vector is recomputed ending at ``cols`` (storing some outputs again, as the C kernel's flat form);
    strided ones (cs 2) are a scalar loop that LLVM vectorises."""
    name = f"sdk_ir_dw_k{K}c{cs}"
    fn = module.globals.get(name)
    if fn is not None:
        return fn
    f = _Fn(module, name, ir.VoidType(), [I64, I64, FP, I64, I64, I64, I64, I64, FP, F32, FP, I64], "noinline",
            "rows cols xp pitch rA rB cA cB w b0 y ldy".split())
    rows, cols, xp, pitch, rA, rB, cA, cB, w, b0, y, ldy = f.fn.args
    for p in (xp, w, y):
        p.add_attribute("noalias")
    b = f.b
    wk = [b.load(_at(b, w, _i(t))) for t in range(K * K)]  # the weights in registers across the plane
    offs = []
    for kh in range(K):
        for kw in range(K):
            o = b.add(b.add(b.mul(_i(kh >> 1), rA), b.mul(_i(kh & 1), rB)),
                      b.add(b.mul(_i(kw >> 1), cA), b.mul(_i(kw & 1), cB)))
            offs.append(o)
    V = _Vec(lanes)
    wv, b0v = [V.splat(b, x) for x in wk], V.splat(b, b0)

    def row(oh):
        xr = _at(b, xp, b.mul(oh, pitch))
        yr = _at(b, y, b.mul(oh, ldy))

        def one(ow):
            base = b.mul(ow, _i(cs)) if cs != 1 else ow
            acc = b0
            for t in range(K * K):
                acc = b.fadd(acc, b.fmul(wk[t], b.load(_at(b, xr, b.add(base, offs[t]))), flags=FL), flags=FL)
            b.store(acc, _at(b, yr, ow))
        if cs != 1:
            f.loop(_i(0), cols, 1, one, "ow")
            return

        def vectors(nv):
            def at(ow):
                accs = [b0v] * nv
                for t in range(K * K):
                    xt = _at(b, xr, b.add(ow, offs[t]))
                    for v in range(nv):
                        x = V.load(b, _at(b, xt, _i(v * lanes)))
                        accs[v] = b.fadd(accs[v], b.fmul(wv[t], x, flags=FL), flags=FL)
                for v in range(nv):
                    V.store(b, accs[v], _at(b, yr, b.add(ow, _i(v * lanes))))
            return at
        n4 = b.mul(b.sdiv(cols, _i(4 * lanes)), _i(4 * lanes))
        n1 = b.add(n4, b.mul(b.sdiv(b.sub(cols, n4), _i(lanes)), _i(lanes)))
        f.loop(_i(0), n4, 4 * lanes, vectors(4), "ow4")
        f.loop(n4, n1, lanes, vectors(1), "ow1")
        f.if_(b.icmp_signed("<", n1, cols),
              lambda: f.if_(b.icmp_signed(">=", cols, _i(lanes)), lambda: vectors(1)(b.sub(cols, _i(lanes))),
                            lambda: f.loop(n1, cols, 1, one, "owr")))
    f.loop(_i(0), rows, 1, row, "oh")
    return f.done()


def _copy_row(f, d, src, n):
    """``dw_copy_row`` of sdk_kernels.c: n floats in 8-float moves, the last one overlapping (short rows of 7, 14,
    28 cost a few vector moves, not a scalar loop), 4-float moves for 4 <= n < 8, else one at a time."""
    b = f.b

    def moves(w):
        V = _Vec(w)

        def mv(i):
            V.store(b, V.load(b, _at(b, src, i)), _at(b, d, i))
        return lambda: (f.loop(_i(0), b.sub(n, _i(w - 1)), w, mv, f"cp{w}"), mv(b.sub(n, _i(w))))
    small = lambda: f.loop(_i(0), n, 1, lambda i: b.store(b.load(_at(b, src, i)), _at(b, d, i)), "cp1")  # noqa: E731
    f.if_(b.icmp_signed(">=", n, _i(8)), moves(8), lambda: f.if_(b.icmp_signed(">=", n, _i(4)), moves(4), small))


def _dw_fill_split(f, pad, pair, odd, ph, xc, W, PH, PW, r0, r1, c0, c1):
    """``dw_fill_split`` of sdk_kernels.c: padded row r's even columns to pad + (r / 2) pair + (r % 2) odd, its odd
    columns from ``ph`` there."""
    b = f.b
    ja, jb = b.sdiv(b.add(c0, _i(1)), _i(2)), b.sdiv(c1, _i(2))

    def row(r):
        src = _at(b, xc, b.sub(b.mul(b.sub(r, PH), W), PW))
        d0 = _at(b, pad, b.add(b.mul(b.ashr(r, _i(1)), pair), b.mul(b.and_(r, _i(1)), odd)))
        d1 = _at(b, d0, ph)

        def pair_(j):
            b.store(b.load(_at(b, src, b.mul(j, _i(2)))), _at(b, d0, j))
            b.store(b.load(_at(b, src, b.add(b.mul(j, _i(2)), _i(1)))), _at(b, d1, j))
        f.loop(ja, jb, 1, pair_, "j")
        f.if_(b.icmp_signed("!=", b.and_(c0, _i(1)), _i(0)),
              lambda: b.store(b.load(_at(b, src, c0)), _at(b, d1, b.sub(ja, _i(1)))))
        last = b.sub(c1, _i(1))
        f.if_(b.and_(b.icmp_signed("!=", b.and_(c1, _i(1)), _i(0)), b.icmp_signed(">=", last, c0)),
              lambda: b.store(b.load(_at(b, src, last)), _at(b, d0, jb)))
    f.loop(r0, r1, 1, row, "r")


def emit_dwconv2d(module, math, name: str = "sdk_dwconv2d_f32", linkage: str = "internal") -> ir.Function:
    """``sdk_dwconv2d_f32`` (sdk_kernels.h) as IR; see the module docstring."""
    epi = _act_loops(module, math)
    lanes = host_lanes()
    names = "N C H W M OH OW KH KW SH SW PH PW DH DW X Wt bias R act act_a act_b Y pad pad_floats"
    f = _fn(module, name, [I64] * 15 + [PTR] * 4 + [I64, F32, F32, PTR, PTR, I64], names, linkage)
    (N, C, H, W, M, OH, OW, KH, KW, SH, SW, PH, PW, DH, DW, X, Wt, bias, R, act, act_a, act_b, Y, pad,
     pad_floats) = f.fn.args
    b = f.b
    X, Wt, bias, R, Y, pd = (b.bitcast(p, FP) for p in (X, Wt, bias, R, Y, pad))
    sel, eq, lt, le = b.select, (lambda x, y: b.icmp_signed("==", x, y)), (lambda x, y: b.icmp_signed("<", x, y)), \
        (lambda x, y: b.icmp_signed("<=", x, y))
    and_, or_, add, sub, mul, div = b.and_, b.or_, b.add, b.sub, b.mul, b.sdiv
    imin = lambda x, y: sel(lt(x, y), x, y)  # noqa: E731
    mult = div(M, C)
    Hp = add(add(mul(sub(OH, _i(1)), SH), mul(sub(KH, _i(1)), DH)), _i(1))
    Wp = add(add(mul(sub(OW, _i(1)), SW), mul(sub(KW, _i(1)), DW)), _i(1))
    plane = mul(OH, OW)
    k_ok = or_(or_(eq(KH, _i(3)), eq(KH, _i(5))), eq(KH, _i(7)))
    fast = and_(and_(and_(eq(KH, KW), eq(SH, SW)), and_(eq(DH, _i(1)), eq(DW, _i(1)))),
                and_(or_(eq(SW, _i(1)), eq(SW, _i(2))), k_ok))
    narrow = and_(fast, and_(lt(OW, _i(32)), b.icmp_signed(">", OH, _i(1))))
    hq, wq2 = div(add(Hp, _i(1)), _i(2)), div(add(Wp, _i(1)), _i(2))
    pl = mul(hq, wq2)
    quad = and_(and_(narrow, eq(SW, _i(2))), le(add(add(mul(_i(4), pl), mul(sub(OH, _i(1)), wq2)), OW), pad_floats))
    flat = and_(and_(narrow, eq(SW, _i(1))), le(add(add(mul(Hp, Wp), mul(sub(OH, _i(1)), Wp)), OW), pad_floats))
    ph = div(add(Wp, _i(1)), _i(2))
    split = and_(and_(and_(fast, b.not_(quad)), eq(SW, _i(2))),
                 and_(b.icmp_signed(">=", OW, _i(16)), le(mul(Hp, mul(_i(2), ph)), pad_floats)))
    wq = sel(quad, wq2, Wp)
    nq = add(mul(sub(OH, _i(1)), wq), OW)
    wp = sel(split, mul(_i(2), ph), Wp)
    r0, c0 = imin(PH, Hp), imin(PW, Wp)
    r1, c1 = imin(add(PH, H), Hp), imin(add(PW, W), Wp)
    plane_floats = sel(quad, mul(_i(4), pl), mul(Hp, wp))
    tmp = _at(b, pd, plane_floats)
    f.loop(_i(0), plane_floats, 1, lambda i: b.store(_f(0.0), _at(b, pd, i)), "z")
    # tap offsets (rA, rB, cA, cB) and the input pitch per output row of each layout (see _dw_taps)
    two = _i(2)
    lay_quad = (wq, wq, mul(two, pl), _i(1), pl)
    lay_split = (mul(two, wp), mul(two, wp), wp, _i(1), ph)
    lay_plain = (mul(SH, Wp), mul(two, Wp), Wp, two, _i(1))

    def channel(nc):
        n, c = div(nc, C), b.srem(nc, C)
        xc = _at(b, X, mul(mul(nc, H), W))
        f.if_(quad, lambda: _dw_fill_split(f, pd, wq, mul(two, pl), pl, xc, W, PH, PW, r0, r1, c0, c1),
              lambda: f.if_(split, lambda: _dw_fill_split(f, pd, mul(two, wp), wp, ph, xc, W, PH, PW, r0, r1, c0, c1),
                            lambda: f.loop(r0, r1, 1, lambda r: _copy_row(
                                f, _at(b, pd, add(mul(r, Wp), c0)), _at(b, xc, add(mul(sub(r, PH), W), sub(c0, PW))),
                                sub(c1, c0)), "r")))

        def out_channel(m):
            w = _at(b, Wt, mul(m, mul(KH, KW)))
            b0v = f.var(F32, _f(0.0), "b0")
            f.if_(f.nonnull(bias), lambda: b.store(b.load(_at(b, bias, m)), b0v))
            b0 = b.load(b0v)
            y = _at(b, Y, mul(add(mul(n, M), m), plane))

            def by_k(call):  # call(K): the tap kernel for KH == K
                chain = lambda: call(DW_TAPS[-1])  # noqa: E731
                for K in reversed(DW_TAPS[:-1]):
                    chain = (lambda K=K, rest=chain: f.if_(eq(KH, _i(K)), lambda: call(K), rest))
                chain()

            def one_row():  # the plane as one long row at pitch wq, then compacted
                def call(K):
                    pitch, rA, rB, cA, cB = sel(quad, lay_quad[0], lay_plain[0]), *(
                        sel(quad, q, p) for q, p in zip(lay_quad[1:], lay_plain[1:]))
                    b.call(_dw_taps(module, K, 1, lanes), [_i(1), nq, pd, pitch, rA, rB, cA, cB, w, b0, tmp, _i(0)])
                by_k(call)
                f.loop(_i(0), OH, 1, lambda oh: _copy_row(f, _at(b, y, mul(oh, OW)), _at(b, tmp, mul(oh, wq)), OW),
                       "ch")

            def rows():
                def call_cs(K, cs, lay):
                    b.call(_dw_taps(module, K, cs, lanes), [OH, OW, pd, *lay, w, b0, y, OW])
                by_k(lambda K: f.if_(split, lambda: call_cs(K, 1, lay_split),
                                     lambda: f.if_(eq(SW, _i(1)), lambda: call_cs(K, 1, lay_plain),
                                                   lambda: call_cs(K, 2, lay_plain))))

            def generic():
                def px(oh, ow):
                    acc = f.var(F32, b0, "acc")

                    def tap(kh, kw):
                        at = add(mul(add(mul(oh, SH), mul(kh, DH)), Wp), add(mul(ow, SW), mul(kw, DW)))
                        x = b.load(_at(b, pd, at))
                        b.store(b.fadd(b.load(acc), b.fmul(b.load(_at(b, w, add(mul(kh, KW), kw))), x, flags=FL),
                                       flags=FL), acc)
                    f.loop(_i(0), KH, 1, lambda kh: f.loop(_i(0), KW, 1, lambda kw: tap(kh, kw), "kw"), "kh")
                    b.store(b.load(acc), _at(b, y, add(mul(oh, OW), ow)))
                f.loop(_i(0), OH, 1, lambda oh: f.loop(_i(0), OW, 1, lambda ow: px(oh, ow), "ow"), "oh")
            f.if_(or_(flat, quad), one_row, lambda: f.if_(fast, rows, generic))
            rr = sel(f.nonnull(R), _at(b, R, mul(add(mul(n, M), m), plane)), ir.Constant(FP, None))
            f.if_(or_(b.icmp_signed("!=", act, _i(0)), f.nonnull(R)),
                  lambda: b.call(epi, [plane, y, rr, act, act_a, act_b]))
        f.loop(mul(c, mult), mul(add(c, _i(1)), mult), 1, out_channel, "m")
    f.loop(_i(0), mul(N, C), 1, channel, "nc")
    return f.done()


# ---------------------------------------------------------------- GEMV
GEMV_PANEL, GEMV_TAIL = 32, 8  # SDK_GEMV_NR, SDK_GEMV_NT (sdk/tune/gemv.py PANEL, TAIL)


HALF = ir.HalfType()


def _gemv_panel(module, P: int, half: bool = False) -> ir.Function:
    """acc[0..P) = sum_k x[k * x_cs] * w[k * P + j]: even and odd k into two ``<P x float>`` accumulators, summed;
    ``half``: w is float16 (``<P x half>`` loads extended to float: exact, ``vcvtph2ps`` on x86 with F16C)."""
    name = f"sdk_ir_gemv_p{P}" + ("h" if half else "")
    fn = module.globals.get(name)
    if fn is not None:
        return fn
    V = ir.VectorType(F32, P)
    WT = HALF if half else F32
    f = _Fn(module, name, ir.VoidType(), [I64, FP, I64, ir.PointerType(WT), FP], "noinline",
            "K x x_cs w acc".split())
    K, x, x_cs, w, acc = f.fn.args
    for p in (x, w, acc):
        p.add_attribute("noalias")
    b = f.b
    zero = ir.Constant(V, [0.0] * P)
    a0, a1 = f.var(V, zero, "a0"), f.var(V, zero, "a1")

    def splat(s):
        v = b.insert_element(ir.Constant(V, ir.Undefined), s, ir.Constant(ir.IntType(32), 0))
        return b.shuffle_vector(v, ir.Constant(V, ir.Undefined), ir.Constant(ir.VectorType(ir.IntType(32), P), [0] * P))

    def step(k, a):
        wv = b.load(b.bitcast(_at(b, w, b.mul(k, _i(P))), ir.VectorType(WT, P).as_pointer()), align=2 if half else 4)
        if half:
            wv = b.fpext(wv, V)
        xv = splat(b.load(_at(b, x, b.mul(k, x_cs))))
        b.store(b.fadd(b.load(a), b.fmul(xv, wv, flags=FL), flags=FL), a)
    even = b.sub(K, b.srem(K, _i(2)))
    f.loop(_i(0), even, 2, lambda k: (step(k, a0), step(b.add(k, _i(1)), a1)), "k")
    f.if_(b.icmp_signed("<", even, K), lambda: step(even, a0))
    b.store(b.fadd(b.load(a0), b.load(a1)), b.bitcast(acc, V.as_pointer()), align=4)
    return f.done()


def emit_gemv(module, math, name: str = "sdk_gemv_f32", linkage: str = "internal", half: bool = False) -> ir.Function:
    """``sdk_gemv_f32`` (sdk_gemv.h) as IR: Y[r, n] = act(sum_k X[r, k] W[n, k] + bias[n * bias_s] + R[r, n]);
    ``half``: ``sdk_gemv_f16w_f32``, W stored as float16."""
    epi = _act_loops(module, math)
    names = "rows N K X x_rs x_cs Wp bias bias_s R act act_a act_b Y"
    f = _fn(module, name, [I64] * 3 + [PTR, I64, I64, PTR, PTR, I64, PTR, I64, F32, F32, PTR], names, linkage)
    rows, N, K, X, x_rs, x_cs, Wp, bias, bias_s, R, act, act_a, act_b, Y = f.fn.args
    b = f.b
    X, bias, R, Y = (b.bitcast(p, FP) for p in (X, bias, R, Y))
    Wp = b.bitcast(Wp, ir.PointerType(HALF if half else F32))
    acc = b.bitcast(f.ab.alloca(ir.ArrayType(F32, GEMV_PANEL), name="acc"), FP)
    nfull = b.sdiv(N, _i(GEMV_PANEL))
    panels = b.add(nfull, b.sdiv(b.add(b.srem(N, _i(GEMV_PANEL)), _i(GEMV_TAIL - 1)), _i(GEMV_TAIL)))
    null = ir.Constant(FP, None)

    def panel(p):
        full = b.icmp_signed("<", p, nfull)
        n0 = b.select(full, b.mul(p, _i(GEMV_PANEL)),
                      b.add(b.mul(nfull, _i(GEMV_PANEL)), b.mul(b.sub(p, nfull), _i(GEMV_TAIL))))
        width = b.select(full, _i(GEMV_PANEL), _i(GEMV_TAIL))
        rest = b.sub(N, n0)
        cnt = b.select(b.icmp_signed("<", rest, width), rest, width)
        w = _at(b, Wp, b.mul(n0, K))

        def row(r):
            x = _at(b, X, b.mul(r, x_rs))
            f.if_(full, lambda: b.call(_gemv_panel(module, GEMV_PANEL, half), [K, x, x_cs, w, acc]),
                  lambda: b.call(_gemv_panel(module, GEMV_TAIL, half), [K, x, x_cs, w, acc]))
            y = _at(b, Y, b.add(b.mul(r, N), n0))

            def store(with_bias):
                def col(j):
                    v = b.load(_at(b, acc, j))
                    if with_bias:
                        v = b.fadd(v, b.load(_at(b, bias, b.mul(b.add(n0, j), bias_s))))
                    b.store(v, _at(b, y, j))
                return lambda: f.loop(_i(0), cnt, 1, col, "j")
            f.if_(f.nonnull(bias), store(True), store(False))
            rr = b.select(f.nonnull(R), _at(b, R, b.add(b.mul(r, N), n0)), null)
            b.call(epi, [cnt, y, rr, act, act_a, act_b])
        f.loop(_i(0), rows, 1, row, "r")
    f.loop(_i(0), panels, 1, panel, "p")
    return f.done()


def _pool2d(module, math, name, linkage="internal"):
    return emit_pool2d(module, name, linkage)


# runtime library kernels the JIT emits as IR (no C compiler): name -> emit(module, math, symbol)
def _gemv16(module, math, name, linkage="internal"):
    return emit_gemv(module, math, name, linkage, half=True)


RUNTIME_IR = {"sdk_pool2d_f32": _pool2d, "sdk_epilogue_f32": emit_epilogue, "sdk_dwconv2d_f32": emit_dwconv2d,
              "sdk_gemv_f32": emit_gemv, "sdk_gemv_f16w_f32": _gemv16}


# ---------------------------------------------------------------- channels-last depthwise convolution and stem
def _ceil_div(b, a, d):
    """``dwn_ceil_div`` of sdk_kernels.c: a <= 0 ? -((-a) / d) : (a + d - 1) / d."""
    return b.select(b.icmp_signed("<=", a, _i(0)), b.neg(b.sdiv(b.neg(a), d)), b.sdiv(b.add(a, b.sub(d, _i(1))), d))


def _clamp_taps(f, i0, n, dil, K):
    """[k0, k1): the taps k with 0 <= i0 + k * dil <= n - 1, clipped to [0, K) (the C kernel's kh0/kh1, kw0/kw1)."""
    b = f.b
    k0 = b.select(b.icmp_signed("<", i0, _i(0)), _ceil_div(b, b.neg(i0), dil), _i(0))
    k1 = b.select(b.icmp_signed(">", i0, b.sub(n, _i(1))), _i(0), b.add(b.sdiv(b.sub(b.sub(n, _i(1)), i0), dil), _i(1)))
    k1 = f.min(k1, K)
    return f.min(k0, k1), k1


def _dwn_pixel(module, lanes):
    """internal ``dwn_pixel``: one output pixel's C channels from the taps kh in [kh0, kh1), kw in [kw0, kw1) (x + o
    is tap (0, 0)'s input pixel, xr / xc the distance between taps along rows / columns, w the [KH * KW, C] weights):
    ``lanes`` channels a vector, the rest one at a time; each sum is the bias, then the taps in order."""
    name = f"sdk_ir_dwn_pixel{lanes}"
    fn = module.globals.get(name)
    if fn is not None:
        return fn
    f = _Fn(module, name, ir.VoidType(), [I64, FP, I64, I64, I64, FP, I64, I64, I64, I64, I64, FP, FP], "noinline",
            "C x o xr xc w KW kh0 kh1 kw0 kw1 bias y".split())
    C, x, o, xr, xc, w, KW, kh0, kh1, kw0, kw1, bias, y = f.fn.args
    for p in (x, w, bias, y):
        p.add_attribute("noalias")
    b = f.b
    has_bias = f.nonnull(bias)
    nv = b.mul(b.sdiv(C, _i(lanes)), _i(lanes))

    def chans(V, c):
        acc = f.var(V.ty, V.zero(), "acc")
        f.if_(has_bias, lambda: b.store(V.load(b, _at(b, bias, c)), acc))

        def tap(kh, kw):
            wv = V.load(b, _at(b, w, b.add(b.mul(b.add(b.mul(kh, KW), kw), C), c)))
            xv = V.load(b, _at(b, x, b.add(b.add(o, b.add(b.mul(kh, xr), b.mul(kw, xc))), c)))
            b.store(b.fadd(b.load(acc), b.fmul(wv, xv, flags=FL), flags=FL), acc)
        f.loop(kh0, kh1, 1, lambda kh: f.loop(kw0, kw1, 1, lambda kw: tap(kh, kw), "kw"), "kh")
        V.store(b, b.load(acc), _at(b, y, c))
    f.loop(_i(0), nv, lanes, lambda c: chans(_Vec(lanes), c), "cv")
    f.loop(nv, C, 1, lambda c: chans(_Vec(1), c), "cs")
    return f.done()


def _dwn_interior(module, K, lanes):
    """internal ``dwn_interior_k<K>``: the interior pixels [ow0, ow1) of one output row (every K x K tap inside the
    image), a vector of channels at a time with its K * K weights and bias in registers across the row's pixels;
    the remaining channels one at a time. The same sums as ``_dwn_pixel``."""
    name = f"sdk_ir_dwn_k{K}_{lanes}"
    fn = module.globals.get(name)
    if fn is not None:
        return fn
    f = _Fn(module, name, ir.VoidType(), [I64, I64, I64, FP, I64, I64, I64, I64, FP, FP, FP], "noinline",
            "C ow0 ow1 x o xr xc xs w bias y".split())
    C, ow0, ow1, x, o, xr, xc, xs, w, bias, y = f.fn.args
    for p in (x, w, bias, y):
        p.add_attribute("noalias")
    b = f.b
    has_bias = f.nonnull(bias)
    nv = b.mul(b.sdiv(C, _i(lanes)), _i(lanes))
    offs = [b.add(b.mul(_i(kh), xr), b.mul(_i(kw), xc)) for kh in range(K) for kw in range(K)]

    def chans(V, c):
        wv = [V.load(b, _at(b, w, b.add(b.mul(_i(t), C), c))) for t in range(K * K)]
        bv = f.var(V.ty, V.zero(), "b0")
        f.if_(has_bias, lambda: b.store(V.load(b, _at(b, bias, c)), bv))
        b0 = b.load(bv)

        def px(ow):
            xp = _at(b, x, b.add(b.add(o, b.mul(ow, xs)), c))
            acc = b0
            for t in range(K * K):
                acc = b.fadd(acc, b.fmul(wv[t], V.load(b, _at(b, xp, offs[t])), flags=FL), flags=FL)
            V.store(b, acc, _at(b, y, b.add(b.mul(ow, C), c)))
        f.loop(ow0, ow1, 1, px, "ow")
    f.loop(_i(0), nv, lanes, lambda c: chans(_Vec(lanes), c), "cv")
    f.loop(nv, C, 1, lambda c: chans(_Vec(1), c), "cs")
    return f.done()


def emit_dwconv2d_nhwc(module, math, name: str = "sdk_dwconv2d_nhwc_f32", linkage: str = "internal") -> ir.Function:
    """``sdk_dwconv2d_nhwc_f32`` (sdk_kernels.h) as IR: per output row, the interior columns of square 3/5/7 kernels
    through ``_dwn_interior``, the border pixels (and other geometries) through ``_dwn_pixel``, then the row's
    epilogue; the same sums in the same order as the C kernel, so the same floats."""
    epi = _act_loops(module, math)
    lanes = host_lanes()
    pixel = _dwn_pixel(module, lanes)
    names = "N H W C OH OW KH KW SH SW PH PW DH DW X Wt bias R act act_a act_b Y"
    f = _fn(module, name, [I64] * 14 + [PTR] * 4 + [I64, F32, F32, PTR], names, linkage)
    N, H, W, C, OH, OW, KH, KW, SH, SW, PH, PW, DH, DW, X, Wt, bias, R, act, act_a, act_b, Y = f.fn.args
    b = f.b
    X, Wt, bias, R, Y = (b.bitcast(p, FP) for p in (X, Wt, bias, R, Y))
    add, sub, mul, div = b.add, b.sub, b.mul, b.sdiv
    lt = lambda x, y: b.icmp_signed("<", x, y)  # noqa: E731
    eq = lambda x, y: b.icmp_signed("==", x, y)  # noqa: E731
    # output columns [owa, owb) have every kw tap inside the image
    owa = f.min(_ceil_div(b, PW, SW), OW)
    last = sub(add(sub(W, _i(1)), PW), mul(sub(KW, _i(1)), DW))
    owb = f.min(b.select(lt(last, _i(0)), _i(0), add(div(last, SW), _i(1))), OW)
    owb = b.select(lt(owb, owa), owa, owb)
    xr, xc, xs = mul(mul(W, C), DH), mul(C, DW), mul(SW, C)
    square = b.and_(eq(KH, KW), b.or_(b.or_(eq(KH, _i(3)), eq(KH, _i(5))), eq(KH, _i(7))))
    null = ir.Constant(FP, None)

    def row(r):
        n, oh = div(r, OH), b.srem(r, OH)
        ih0 = sub(mul(oh, SH), PH)
        kh0, kh1 = _clamp_taps(f, ih0, H, DH, KH)
        o = mul(sub(mul(add(mul(n, H), ih0), W), PW), C)
        yr = _at(b, Y, mul(mul(r, OW), C))

        def border(ow):
            iw0 = sub(mul(ow, SW), PW)
            kw0, kw1 = _clamp_taps(f, iw0, W, DW, KW)
            b.call(pixel, [C, X, add(o, mul(ow, xs)), xr, xc, Wt, KW, kh0, kh1, kw0, kw1, bias,
                           _at(b, yr, mul(ow, C))])
        interior = b.and_(b.and_(square, b.and_(eq(kh0, _i(0)), eq(kh1, KH))), lt(owa, owb))

        def split():
            f.loop(_i(0), owa, 1, border, "owl")
            chain = lambda: b.call(_dwn_interior(module, 7, lanes), [C, owa, owb, X, o, xr, xc, xs, Wt, bias, yr])  # noqa: E731
            for K in (5, 3):
                chain = (lambda K=K, rest=chain: f.if_(
                    eq(KH, _i(K)),
                    lambda: b.call(_dwn_interior(module, K, lanes), [C, owa, owb, X, o, xr, xc, xs, Wt, bias, yr]),
                    rest))
            chain()
            f.loop(owb, OW, 1, border, "owr")
        f.if_(interior, split, lambda: f.loop(_i(0), OW, 1, border, "ow"))
        rr = b.select(f.nonnull(R), _at(b, R, mul(mul(r, OW), C)), null)
        f.if_(b.or_(b.icmp_signed("!=", act, _i(0)), f.nonnull(R)),
              lambda: b.call(epi, [mul(OW, C), yr, rr, act, act_a, act_b]))
    f.loop(_i(0), mul(N, OH), 1, row, "r")
    return f.done()


def emit_conv2d_stem_nhwc(module, math, name: str = "sdk_conv2d_stem_nhwc_f32",
                          linkage: str = "internal") -> ir.Function:
    """``sdk_conv2d_stem_nhwc_f32`` (sdk_kernels.h) as IR: NCHW input, NHWC output, Wt [C * KH * KW, M]; each output
    sums the bias, then bias + x * w over the taps in (c, kh, kw) order with 0 for a tap in the padding (as the C
    kernel's gathered patches; its in-place form has no padded tap), ``lanes`` output channels a vector."""
    epi = _act_loops(module, math)
    lanes = host_lanes()
    names = "N C H W M OH OW KH KW SH SW PH PW DH DW X Wt bias R act act_a act_b Y"
    f = _fn(module, name, [I64] * 15 + [PTR] * 4 + [I64, F32, F32, PTR], names, linkage)
    N, C, H, W, M, OH, OW, KH, KW, SH, SW, PH, PW, DH, DW, X, Wt, bias, R, act, act_a, act_b, Y = f.fn.args
    b = f.b
    X, Wt, bias, R, Y = (b.bitcast(p, FP) for p in (X, Wt, bias, R, Y))
    add, sub, mul, div = b.add, b.sub, b.mul, b.sdiv
    null = ir.Constant(FP, None)
    has_bias = f.nonnull(bias)
    ge0 = lambda v: b.icmp_signed(">=", v, _i(0))  # noqa: E731
    nv = b.mul(b.sdiv(M, _i(lanes)), _i(lanes))

    def row(r):
        n, oh = div(r, OH), b.srem(r, OH)
        yr = _at(b, Y, mul(mul(r, OW), M))

        def pixel(ow):
            iw0 = sub(mul(ow, SW), PW)
            yp = _at(b, yr, mul(ow, M))

            def chans(V, m):
                acc = f.var(V.ty, V.zero(), "acc")
                f.if_(has_bias, lambda: b.store(V.load(b, _at(b, bias, m)), acc))

                def tap(c, kh, kw):
                    ih, iw = add(sub(mul(oh, SH), PH), mul(kh, DH)), add(iw0, mul(kw, DW))
                    inside = b.and_(b.and_(ge0(ih), b.icmp_signed("<", ih, H)), b.and_(ge0(iw), b.icmp_signed("<", iw, W)))
                    at = b.select(inside, add(mul(add(mul(add(mul(n, C), c), H), ih), W), iw), _i(0))
                    x = b.select(inside, b.load(_at(b, X, at)), _f(0.0))
                    t = add(mul(add(mul(c, KH), kh), KW), kw)
                    wv = V.load(b, _at(b, Wt, add(mul(t, M), m)))
                    b.store(b.fadd(b.load(acc), b.fmul(V.splat(b, x), wv, flags=FL), flags=FL), acc)
                f.loop(_i(0), C, 1, lambda c: f.loop(_i(0), KH, 1, lambda kh: f.loop(
                    _i(0), KW, 1, lambda kw: tap(c, kh, kw), "kw"), "kh"), "c")
                V.store(b, b.load(acc), _at(b, yp, m))
            f.loop(_i(0), nv, lanes, lambda m: chans(_Vec(lanes), m), "mv")
            f.loop(nv, M, 1, lambda m: chans(_Vec(1), m), "ms")
        f.loop(_i(0), OW, 1, pixel, "ow")
        rr = b.select(f.nonnull(R), _at(b, R, mul(mul(r, OW), M)), null)
        f.if_(b.or_(b.icmp_signed("!=", act, _i(0)), f.nonnull(R)),
              lambda: b.call(epi, [mul(OW, M), yr, rr, act, act_a, act_b]))
    f.loop(_i(0), mul(N, OH), 1, row, "r")
    return f.done()


def emit_gap_nhwc(module, math, name: str = "sdk_gap_nhwc_f32", linkage: str = "internal") -> ir.Function:
    """``sdk_gap_nhwc_f32`` (sdk_kernels.h) as IR: Y[n, c] = the mean over HW pixels of X[n, p, c], summed as the C
    kernel sums: y = 0, then y += (x0 + x1) + (x2 + x3) four pixels a pass, the rest one at a time, then y / HW
    (``lanes`` channels a vector, the rest one by one: the same floats)."""
    lanes = host_lanes()
    f = _fn(module, name, [I64, I64, I64, PTR, PTR], "N HW C X Y", linkage)
    N, HW, C, X, Y = f.fn.args
    b = f.b
    X, Y = b.bitcast(X, FP), b.bitcast(Y, FP)
    nv = b.mul(b.sdiv(C, _i(lanes)), _i(lanes))
    p4 = b.mul(b.sdiv(HW, _i(4)), _i(4))

    def image(n):
        y, x0 = _at(b, Y, b.mul(n, C)), _at(b, X, b.mul(b.mul(n, HW), C))

        def chans(V, c):
            acc = f.var(V.ty, V.zero(), "acc")

            def px(p, k):
                return V.load(b, _at(b, x0, b.add(b.mul(b.add(p, _i(k)), C), c)))

            def four(p):
                s = b.fadd(b.fadd(px(p, 0), px(p, 1)), b.fadd(px(p, 2), px(p, 3)))
                b.store(b.fadd(b.load(acc), s), acc)
            f.loop(_i(0), p4, 4, four, "p4")
            f.loop(p4, HW, 1, lambda p: b.store(b.fadd(b.load(acc), px(p, 0)), acc), "p1")
            V.store(b, b.fdiv(b.load(acc), V.splat(b, b.sitofp(HW, F32))), _at(b, y, c))
        f.loop(_i(0), nv, lanes, lambda c: chans(_Vec(lanes), c), "cv")
        f.loop(nv, C, 1, lambda c: chans(_Vec(1), c), "cs")
    f.loop(_i(0), N, 1, image, "n")
    return f.done()


RUNTIME_IR.update({"sdk_dwconv2d_nhwc_f32": emit_dwconv2d_nhwc, "sdk_conv2d_stem_nhwc_f32": emit_conv2d_stem_nhwc,
                   "sdk_gap_nhwc_f32": emit_gap_nhwc})
# IR kernels the engine uses only where the target's C compiler is missing (with one, the gcc-built C kernel: the
# same floats, faster). The channels-last ones: MobileNetV2 / V3-small (torch zoo, batch 1, one thread) ran 1.72x /
# 2.03x the time with them as IR than with them as C (bench/RESULTS_inprocess.md, 2026-12-05).
C_FIRST = frozenset({"sdk_dwconv2d_nhwc_f32", "sdk_conv2d_stem_nhwc_f32", "sdk_gap_nhwc_f32"})
