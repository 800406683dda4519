"""C generator for scheduled GEMM and convolution kernels.

A schedule (``dict`` of decisions, see ``space.py``) fixes the register tile (``mr`` rows x ``nv`` vectors
of ``lanes`` floats), the cache blocks (``kc`` x ``mc`` x ``nc``), whether A and/or B are packed into
contiguous panels (scratch memory from the planner), the order of the tile loops and the unroll factor
of the k loop. The generated code is C99 plus GCC/clang vector extensions (``lanes == 1``: plain
floats); every extent (M, N, K, image sizes) stays a run-time argument, so one kernel serves every
value of a symbolic dim. A convolution is the same GEMM with B packed straight from the image
(implicit im2col), per image and group; a pointwise convolution reads the image as the B matrix.

Threads (profiles built with OpenMP): where a thread's packing buffers fit its stack (``own_floats``, with narrower
column blocks if need be, ``own_nc``), Y is cut into one part per thread and each runs the one-thread loops on its
part with its own panels (``_parts``: one wait, at the region's end); else every thread walks the same cache blocks
and packing a panel and the register tiles of a block are split across them (``omp for``, a barrier after each), so
the packed panels stay the one shared scratch the planner sized. Either way each output tile is computed exactly as
on one thread (docs/threads.md).
"""
from __future__ import annotations

import re
from typing import Dict, Optional

from ..kernels import tunable

PRELUDE = """#ifndef SDK_TUNED_PRELUDE
#define SDK_TUNED_PRELUDE
#include <stddef.h>
#include <stdint.h>
#include <string.h>
static inline int64_t sdk_t_min(int64_t a, int64_t b) { return a < b ? a : b; }
#endif
#include "sdk_kernel_defs.h" /* SDK_OMP, SDK_PAR_MIN_WORK (every bundle ships it) */
#ifndef SDK_TUNED_PREFETCH /* into L2 on x86, where weight panels streamed from memory were measured; else nothing
                              (and with -DSDK_TUNED_NO_PREFETCH: bench/steps_ab.py's A/B of one tree) */
#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__)) && !defined(SDK_TUNED_NO_PREFETCH)
#define SDK_TUNED_PREFETCH(a) __builtin_prefetch((const void *)(a), 0, 2)
#else
#define SDK_TUNED_PREFETCH(a) ((void)(a))
#endif
#endif
#ifndef SDK_TUNED_PREFETCH_L1 /* into L1 on x86 (an image read in place: the next register tile's lines); else nothing
                                 (and with -DSDK_TUNED_NO_PREFETCH_L1: bench/steps_ab.py's A/B of one tree) */
#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__)) && !defined(SDK_TUNED_NO_PREFETCH_L1)
#define SDK_TUNED_PREFETCH_L1(a) __builtin_prefetch((const void *)(a), 0, 3)
#else
#define SDK_TUNED_PREFETCH_L1(a) ((void)(a))
#endif
#endif
#ifndef SDK_TUNED_PART /* partial column panels straight into Y (_ukr's part); -DSDK_TUNED_NO_PART: through a stack tile */
#if defined(SDK_TUNED_NO_PART)
#define SDK_TUNED_PART 0
#else
#define SDK_TUNED_PART 1
#endif
#endif
#if defined(_OPENMP) && !defined(SDK_TUNED_OMP_H)
#define SDK_TUNED_OMP_H
#include <omp.h>
#endif
"""


def vec_prelude(lanes: int) -> str:
    guard = f"SDK_TUNED_VF{lanes}"
    if lanes == 1:
        body = ("typedef float sdk_vf1;\n"
                "#define SDK_VLOAD1(p) (*(p))\n#define SDK_VSTORE1(p, v) (*(p) = (v))\n#define SDK_VSPLAT1(x) (x)\n")
    else:
        body = (f"typedef float sdk_vf{lanes} __attribute__((vector_size({4 * lanes}), aligned(4), may_alias));\n"
                f"#define SDK_VLOAD{lanes}(p) (*(const sdk_vf{lanes} *)(const void *)(p))\n"
                f"#define SDK_VSTORE{lanes}(p, v) (*(sdk_vf{lanes} *)(void *)(p) = (v))\n"
                f"#define SDK_VSPLAT{lanes}(x) ((x) - (sdk_vf{lanes}){{0}})\n")  # x - (+0) is x exactly: no add left
        # the first n (1..lanes) floats of a vector at p, the others 0 / untouched (``_ukr``'s partial last vector):
        # one masked load / store with AVX-512, else through memcpy (a statement expression: a vector returned by a
        # function warns, -Wpsabi, in builds without the vector ISA)
        part = (f"#define SDK_VLOADN{lanes}(p, n) __extension__ ({{ sdk_vf{lanes} v_ = SDK_VSPLAT{lanes}(0.0f); "
                f"memcpy(&v_, (p), sizeof(float) * (size_t)(n)); v_; }})\n"
                f"#define SDK_VSTOREN{lanes}(p, v, n) do {{ const sdk_vf{lanes} v_ = (v); "
                f"memcpy((p), &v_, sizeof(float) * (size_t)(n)); }} while (0)\n")
        if lanes == 16:
            part = ("#if defined(__AVX512F__)\n#include <immintrin.h>\n"
                    "#define SDK_VLOADN16(p, n) ((sdk_vf16)_mm512_maskz_loadu_ps((__mmask16)((1u << (n)) - 1u), (p)))\n"
                    "#define SDK_VSTOREN16(p, v, n) _mm512_mask_storeu_ps((p), (__mmask16)((1u << (n)) - 1u), "
                    "(__m512)(v))\n#else\n" + part + "#endif\n")
        body += part
    return f"#ifndef {guard}\n#define {guard}\n{body}#endif\n"


def panel_floats(s: Dict, b_packed: bool = False) -> int:
    """Floats of a GEMM schedule's packed panels: one A block (``pack_a``) and one B block (``pack_b``, unless B
    comes packed). With ``a_tail`` (A read in place, M ragged) the C kernel packs no A, but the in-process LLVM
    kernel of the same schedule does (``llvm_kernels.KernelGen``): the scratch keeps room for its A block."""
    pa = s["pack_a"] or s.get("a_tail")
    return (s["mc"] * s["kc"] if pa else 0) + (s["kc"] * s["nc"] if s["pack_b"] and not b_packed else 0)


def scratch_floats(s: Dict, b_packed: bool = False) -> int:
    """Floats of packing scratch the schedule needs (0: none); ``b_packed``: B comes packed (``pack_b_const``)."""
    if s.get("direct"):
        return s["scratch"] + 16  # phase planes / padded planes of one group's input (sdk/tune/gconv*.py)
    nr = s["nv"] * s["lanes"]
    if s.get("trans"):
        return 16 + s.get("col", 0)  # the tile goes through the kernel's stack; "col": a 3x3 layer's im2col [K, P]
    # an edge tile (now on each thread's stack; kept: plans unchanged); 16: panel alignment; "planes": a strided
    # convolution's tap planes and row offsets (_fill_planes)
    return panel_floats(s, b_packed) + (s["mr"] * nr) + 16 + s.get("planes", 0)


def _act_fn(name: str, s: Dict, epilogue) -> Optional[str]:
    """``{name}_act``: the epilogue's activation of a whole vector with compares and bitwise selects, which gcc
    and clang turn into max/min/blend instructions (a loop over lanes stays scalar inside a large register tile);
    None for activations with no such form here (tanh GELU: their tile epilogue pass runs instead). Sigmoid and
    SiLU take ``_vexp``'s exp (sdk_expf's operations lane by lane) and sdk_math.h's ``SDK_VDIV1P`` (sdk_div1pf lane
    by lane), the erf GELU ``_vgelu`` (sdk_geluf lane by lane): the same floats as the tile epilogue pass."""
    if not epilogue or epilogue[0] is None or s["lanes"] == 1:
        return None
    from ..codegen.c import const_c
    act, a, b = epilogue[:3]
    A, B = const_c(a, "float32"), const_c(b, "float32")
    L = s["lanes"]
    V, VI = f"sdk_vf{L}", f"sdk_vi{L}"
    body = {
        "relu": "x = SEL(x > Z, x, Z);",  # NaN -> 0, as the scalar form
        "clip": f"x = SEL(x < SP({A}), SP({A}), x); x = SEL(x > SP({B}), SP({B}), x);",
        "leakyrelu": f"x = SEL(x < Z, x * SP({A}), x);",
        "hardsigmoid": f"{V} t = SP({A}) * x + SP({B}); t = SEL(t < Z, Z, t); x = SEL(t > SP(1.0f), SP(1.0f), t);",
        "hardswish": f"{V} t = x * SP(1.0f / 6.0f) + SP(0.5f); t = SEL(t < Z, Z, t); t = SEL(t > SP(1.0f), SP(1.0f), t); "
                     "x = x * t;",
        "sigmoid": f"{V} d_; SDK_VEXP1PF{L}(d_, -x); SDK_VDIV1P(x, SP(1.0f), d_, {V}, {VI});",
        "silu": f"{V} d_; SDK_VEXP1PF{L}(d_, -x); SDK_VDIV1P(x, x, d_, {V}, {VI});",
        "gelu": f"SDK_VGELUF{L}(x);",
    }.get(act)
    if body is None:
        return None
    exp = _vexp(L) if act in ("sigmoid", "silu") else _vgelu(L) if act == "gelu" else ""
    body = body.replace("SP(", f"SDK_VSPLAT{L}(").replace("Z", f"SDK_VSPLAT{L}(0.0f)")
    # a statement macro on an lvalue, not a function: a vector passed or returned by value warns (-Wpsabi) in
    # builds without the vector ISA enabled
    return f"""#ifndef SDK_TUNED_VI{L}
#define SDK_TUNED_VI{L}
typedef int32_t {VI} __attribute__((vector_size({4 * L})));
#define SDK_VSEL{L}(m, p, q) (({V})(((({VI})(m)) & (({VI})(p))) | ((~({VI})(m)) & (({VI})(q)))))
#endif
{exp}#define {name}_ACT(x) do {{ {body.replace("SEL(", f"SDK_VSEL{L}(")} }} while (0)
"""


def _vexp(L: int) -> str:
    """``SDK_VEXPF{L}(e, x)``: e = sdk_expf (sdk_math.h) of each lane of x, operation for operation (the same floats).
    16 lanes with AVX-512: intrinsics (min/max clamps, masked moves: about 0.37 instead of 0.47 ns an element of SiLU
    on Zen 4, where gcc keeps each bitwise select as a compare and two masked xors). A statement macro on lvalues (a
    vector passed by value warns, -Wpsabi, in builds without the vector ISA)."""
    V, VI, SP, SEL = f"sdk_vf{L}", f"sdk_vi{L}", f"SDK_VSPLAT{L}", f"SDK_VSEL{L}"
    generic = (f"#define SDK_VEXPF{L}(e, x) do {{ const {V} x_ = (x); "
               f"{V} c_ = {SEL}(x_ < {SP}(-87.0f), {SP}(-87.0f), x_); c_ = {SEL}(c_ > {SP}(88.72283f), {SP}(88.72283f), c_); "
               f"const {V} n_ = (c_ * {SP}(1.44269504088896341f) + {SP}(12582912.0f)) - {SP}(12582912.0f); "
               f"const {V} r_ = c_ - n_ * {SP}(0.693359375f) + n_ * {SP}(2.12194440e-4f); "
               f"{V} p_ = {SP}(1.9875691500e-4f); p_ = p_ * r_ + {SP}(1.3981999507e-3f); "
               f"p_ = p_ * r_ + {SP}(8.3334519073e-3f); p_ = p_ * r_ + {SP}(4.1665795894e-2f); "
               f"p_ = p_ * r_ + {SP}(1.6666665459e-1f); p_ = p_ * r_ + {SP}(5.0000001201e-1f); "
               f"p_ = p_ * r_ * r_ + r_ + {SP}(1.0f); "
               f"const {VI} s_ = (__builtin_convertvector(n_, {VI}) + 126) << 23; p_ = p_ * ({V})s_ * {SP}(2.0f); "
               f"p_ = {SEL}(x_ > {SP}(88.72283f), {SP}(__builtin_inff()), p_); p_ = {SEL}(x_ < {SP}(-87.0f), {SP}(0.0f), p_); "
               f"(e) = {SEL}(x_ != x_, x_, p_); }} while (0)\n")
    # 1 + exp(x), the denominator of sigmoid / SiLU, as 1.0f + sdk_expf(x) rounds it
    generic += f"#define SDK_VEXP1PF{L}(d, x) do {{ {V} e1_; SDK_VEXPF{L}(e1_, x); (d) = {SP}(1.0f) + e1_; }} while (0)\n"
    if L != 16:
        return f"#ifndef SDK_TUNED_VEXP{L}\n#define SDK_TUNED_VEXP{L}\n{generic}#endif\n"
    m = "_mm512_"
    avx = (f"#define SDK_VEXPF{L}(e, x) do {{ const __m512 x_ = (__m512)(x); "
           f"const __m512 c_ = {m}min_ps({m}max_ps(x_, {m}set1_ps(-87.0f)), {m}set1_ps(88.72283f)); "
           f"const __m512 n_ = {m}sub_ps({m}fmadd_ps(c_, {m}set1_ps(1.44269504088896341f), {m}set1_ps(12582912.0f)), "
           f"{m}set1_ps(12582912.0f)); "
           f"const __m512 r_ = {m}fmadd_ps(n_, {m}set1_ps(2.12194440e-4f), {m}fnmadd_ps(n_, {m}set1_ps(0.693359375f), c_)); "
           f"__m512 p_ = {m}set1_ps(1.9875691500e-4f); p_ = {m}fmadd_ps(p_, r_, {m}set1_ps(1.3981999507e-3f)); "
           f"p_ = {m}fmadd_ps(p_, r_, {m}set1_ps(8.3334519073e-3f)); p_ = {m}fmadd_ps(p_, r_, {m}set1_ps(4.1665795894e-2f)); "
           f"p_ = {m}fmadd_ps(p_, r_, {m}set1_ps(1.6666665459e-1f)); p_ = {m}fmadd_ps(p_, r_, {m}set1_ps(5.0000001201e-1f)); "
           f"p_ = {m}add_ps({m}fmadd_ps({m}mul_ps(p_, r_), r_, r_), {m}set1_ps(1.0f)); "
           f"const __m512i s_ = {m}slli_epi32({m}add_epi32({m}cvttps_epi32(n_), {m}set1_epi32(126)), 23); "
           f"p_ = {m}mul_ps({m}mul_ps(p_, {m}castsi512_ps(s_)), {m}set1_ps(2.0f)); "
           f"p_ = {m}mask_mov_ps(p_, {m}cmp_ps_mask(x_, {m}set1_ps(88.72283f), _CMP_GT_OQ), {m}set1_ps(__builtin_inff())); "
           f"p_ = {m}mask_mov_ps(p_, {m}cmp_ps_mask(x_, {m}set1_ps(-87.0f), _CMP_LT_OQ), {m}setzero_ps()); "
           f"(e) = ({V}){m}mask_mov_ps(p_, {m}cmp_ps_mask(x_, x_, _CMP_UNORD_Q), x_); }} while (0)\n")
    # SDK_VEXP1PF16 with AVX-512: 1 + exp(x) in ~19 instead of ~28 vector operations, the same floats as 1.0f +
    # sdk_expf(x). The reduction and polynomial are sdk_expf's; 2^n is applied by one vscalefps (exact, as the two
    # multiplies by 2^(n-1) and 2 are) instead of building 2^(n-1) from the integer n (convert, add, shift, two
    # multiplies); lanes with |x| <= 87 (all of them, in practice) skip the clamps and the selects: the clamps are
    # the identity there and no select fires. Where sdk_expf's result differs from this (n = -126: sdk_expf's
    # 2^(n-1) field underflows to 0, here ~1e-38; x < -87: 0, here ~1e-38) it is below 2^-24, so 1 + e rounds to
    # 1.0f either way. x > 88.72283 gives inf and a NaN stays that NaN, as sdk_expf. The sigmoid / SiLU epilogues
    # of GEMM and convolution tiles are bound by these operations where K is small: EfficientNet-B0's 16 -> 96
    # pointwise layer on 112x112 spent 339 us of its 659 us in SiLU, 251 us after this (one thread, Intel Xeon,
    # bench/RESULTS_zoo.md)
    core = (lambda c: f"const __m512 n_ = {m}sub_ps({m}fmadd_ps({c}, {m}set1_ps(1.44269504088896341f), "
            f"{m}set1_ps(12582912.0f)), {m}set1_ps(12582912.0f)); "
            f"const __m512 r_ = {m}fmadd_ps(n_, {m}set1_ps(2.12194440e-4f), {m}fnmadd_ps(n_, {m}set1_ps(0.693359375f), {c})); "
            f"__m512 p_ = {m}set1_ps(1.9875691500e-4f); p_ = {m}fmadd_ps(p_, r_, {m}set1_ps(1.3981999507e-3f)); "
            f"p_ = {m}fmadd_ps(p_, r_, {m}set1_ps(8.3334519073e-3f)); p_ = {m}fmadd_ps(p_, r_, {m}set1_ps(4.1665795894e-2f)); "
            f"p_ = {m}fmadd_ps(p_, r_, {m}set1_ps(1.6666665459e-1f)); p_ = {m}fmadd_ps(p_, r_, {m}set1_ps(5.0000001201e-1f)); "
            f"p_ = {m}scalef_ps({m}add_ps({m}fmadd_ps({m}mul_ps(p_, r_), r_, r_), {m}set1_ps(1.0f)), n_); ")
    avx += (f"#define SDK_VEXP1PF{L}(d, x) do {{ const __m512 x_ = (__m512)(x); __m512 q_; "
            f"if (__builtin_expect(!{m}cmp_ps_mask({m}abs_ps(x_), {m}set1_ps(87.0f), _CMP_NLE_UQ), 1)) {{ {core('x_')}q_ = p_; }} "
            f"else {{ const __m512 c_ = {m}min_ps({m}max_ps(x_, {m}set1_ps(-87.0f)), {m}set1_ps(88.72283f)); {core('c_')}"
            f"p_ = {m}mask_mov_ps(p_, {m}cmp_ps_mask(x_, {m}set1_ps(88.72283f), _CMP_GT_OQ), {m}set1_ps(__builtin_inff())); "
            f"q_ = {m}mask_mov_ps(p_, {m}cmp_ps_mask(x_, x_, _CMP_UNORD_Q), x_); }} "
            f"(d) = ({V}){m}add_ps(q_, {m}set1_ps(1.0f)); }} while (0)\n")
    return (f"#ifndef SDK_TUNED_VEXP{L}\n#define SDK_TUNED_VEXP{L}\n#if defined(__AVX512F__)\n#include <immintrin.h>\n"
            f"{avx}#else\n{generic}#endif\n#endif\n")


# sdk_math.h sdk_geluf: h = x / 2 clamped to [-GELU_C, GELU_C], P's coefficients (in t = h^2) from t^6 down, then Q's
# from t^4 down (sdk_erff's rational form with sqrt 2 and the powers of 2 folded in)
_GELU_C = "2.82842612f"
_GELU_P = ("-2.467422355e-08f", "1.253867254e-06f", "-4.754074689e-05f", "-6.440336001e-04f", "-4.157735035e-03f",
           "-8.356870152e-03f", "-2.276322804e-02f")
_GELU_Q = ("-2.330571442e-04f", "-1.706992392e-03f", "-6.731308065e-03f", "-1.474665850e-02f", "-1.426473912e-02f")


def _vgelu(L: int) -> str:
    """``SDK_VGELUF{L}(x)``: x = sdk_geluf (sdk_math.h) of each lane of x, operation for operation (the same floats as
    the tile epilogue pass and the Gelu op's loops), so that full register tiles apply the exact GELU before their
    store: h = x / 2, a = h clamped, t = a^2, p and q by Horner, s = a p + q, s = min(s, -0), x = h (s / q): 18
    vector operations (the former erf-then-GELU form took 21). 16 lanes with AVX-512: intrinsics (min / max for
    the clamps with the value second, so that a NaN stays NaN as the scalar compares keep it); otherwise compares and
    selects."""
    V, SP, SEL = f"sdk_vf{L}", f"SDK_VSPLAT{L}", f"SDK_VSEL{L}"
    C = _GELU_C
    p0, *ps = _GELU_P
    q0, *qs = _GELU_Q
    generic = (f"#define SDK_VGELUF{L}(x) do {{ const {V} h_ = {SP}(0.5f) * (x); "
               f"{V} a_ = {SEL}(h_ < {SP}(-{C}), {SP}(-{C}), h_); a_ = {SEL}(a_ > {SP}({C}), {SP}({C}), a_); "
               f"const {V} t_ = a_ * a_; {V} p_ = t_ * {SP}({p0}) + {SP}({ps[0]}); "
               + "".join(f"p_ = t_ * p_ + {SP}({c}); " for c in ps[1:]) + f"{V} q_ = t_ * {SP}({q0}) + {SP}({qs[0]}); "
               + "".join(f"q_ = t_ * q_ + {SP}({c}); " for c in qs[1:])
               + f"{V} s_ = a_ * p_ + q_; s_ = {SEL}(s_ > {SP}(-0.0f), {SP}(-0.0f), s_); "
               f"(x) = h_ * (s_ / q_); }} while (0)\n")
    if L != 16:
        return f"#ifndef SDK_TUNED_VGELU{L}\n#define SDK_TUNED_VGELU{L}\n{generic}#endif\n"
    m = "_mm512_"
    avx = (f"#define SDK_VGELUF{L}(x) do {{ const __m512 h_ = {m}mul_ps({m}set1_ps(0.5f), (__m512)(x)); "
           f"const __m512 a_ = {m}min_ps({m}set1_ps({C}), {m}max_ps({m}set1_ps(-{C}), h_)); "
           f"const __m512 t_ = {m}mul_ps(a_, a_); __m512 p_ = {m}fmadd_ps(t_, {m}set1_ps({p0}), {m}set1_ps({ps[0]})); "
           + "".join(f"p_ = {m}fmadd_ps(t_, p_, {m}set1_ps({c})); " for c in ps[1:])
           + f"__m512 q_ = {m}fmadd_ps(t_, {m}set1_ps({q0}), {m}set1_ps({qs[0]})); "
           + "".join(f"q_ = {m}fmadd_ps(t_, q_, {m}set1_ps({c})); " for c in qs[1:])
           + f"const __m512 s_ = {m}min_ps({m}set1_ps(-0.0f), {m}fmadd_ps(a_, p_, q_)); "
           f"(x) = ({V}){m}mul_ps(h_, {m}div_ps(s_, q_)); }} while (0)\n")
    return (f"#ifndef SDK_TUNED_VGELU{L}\n#define SDK_TUNED_VGELU{L}\n#if defined(__AVX512F__)\n#include <immintrin.h>\n"
            f"{avx}#else\n{generic}#endif\n#endif\n")


def _ukr(name: str, s: Dict, nv: Optional[int] = None, act: bool = False, pf: bool = False,
         rows: Optional[int] = None, part: bool = False) -> str:
    """The register tile: c[mr][nv] vectors accumulate over kc; optional += y (acc), alpha and bias (last); the full
    tiles (all ``nv`` vectors) with ``last == 2`` also take the caller's tile epilogue in registers: + ``res`` (a
    residual tile, row stride ldy, or NULL; prefetched before the k loop), then the activation (``act``).
    ``nv`` below the schedule's: a narrower tile ``{name}_ukr_w{nv}`` for the last, partial column panel;
    ``rows`` below ``mr``: a shorter tile ``{name}_ukr_h{rows}`` for the last, partial row of tiles (``a_tail``).
    ``pf``: each k step also prefetches the byte ``pfa + k * pfs`` into L2 (``_mm``: the tile's share of the next
    weight panel; x86 only, a no-op elsewhere); ``pf == "next"`` (B read in place): the lines of row k of the next
    column tile, ``pfa + k * pfs`` and the nr floats after it, into L1.
    ``part`` (with ``nv``): ``{name}_ukr_p{nv}``, the tile of a partial column panel of zero-padded packed B whose
    last vector holds ``n`` (1..lanes) of the columns: the epilogue in registers as the full tile's (``last == 2``),
    the last vector's Y / residual lines read and written ``n`` floats wide (``SDK_VLOADN`` / ``SDK_VSTOREN``), so
    the tile goes straight to Y instead of through a stack tile, a scalar copy and the epilogue pass."""
    full = nv is None
    mr, nv, L = s["mr"] if rows is None else rows, s["nv"] if full else nv, s["lanes"]
    fn = (f"{name}_ukr" if full and rows is None else f"{name}_ukr_p{nv}" if part else
          f"{name}_ukr_w{nv}" if rows is None else f"{name}_ukr_h{rows}")
    V, LD, ST, SP = f"sdk_vf{L}", f"SDK_VLOAD{L}", f"SDK_VSTORE{L}", f"SDK_VSPLAT{L}"
    epi_in = full or part  # the caller's epilogue (residual, activation) in registers
    acc = [f"c{r}_{v}" for r in range(mr) for v in range(nv)]

    def ld(r, v, base):  # the vector of row r, vector v at base (a partial last vector in ukr_p)
        return (f"SDK_VLOADN{L}({base} + {r} * ldy + {v * L}, n)" if part and v == nv - 1 else
                f"{LD}({base} + {r} * ldy + {v * L})")
    o = [f"static inline void {fn}(int64_t kc, const float *restrict a, int64_t a_rs, int64_t a_cs,",
         "    const float *restrict b, int64_t b_rs, float *restrict y, int64_t ldy, int acc, int last,",
         "    float alpha, const float *bias, const float *cbias" + (", const float *res" if epi_in else "") +
         (", int n" if part else "") + (", uintptr_t pfa, uintptr_t pfs) {" if pf else ") {")]
    o.append(f"  {V} " + ", ".join(f"{c} = {SP}(0.0f)" for c in acc) + ";")
    if epi_in:  # the residual tile, wanted after the k loop: its lines on their way meanwhile (into L2, x86)
        o.append("  if (res) {")
        for r in range(mr):
            o.append("    " + " ".join(f"SDK_TUNED_PREFETCH(res + {r} * ldy + {v * L});" for v in range(nv)))
        o.append("  }")
    if s["unroll"] > 1:
        o.append(f"  _Pragma(\"GCC unroll {s['unroll']}\")")
    o.append("  for (int64_t k = 0; k < kc; ++k) {")
    if pf == "next":  # every line of the next tile's row k (nr floats from pfa + k * pfs: one more when unaligned)
        o.append("    { const uintptr_t pk = pfa + (uintptr_t)k * pfs; " +
                 " ".join(f"SDK_TUNED_PREFETCH_L1(pk + {v * 64});" for v in range(nv)) +
                 f" SDK_TUNED_PREFETCH_L1(pk + {nv * L * 4 - 1}); }}")
    elif pf:
        o.append("    SDK_TUNED_PREFETCH(pfa + (uintptr_t)k * pfs);")
    o.append("    const float *bk = b + k * b_rs;")
    o.append(f"    const {V} " + ", ".join(f"b{v} = {LD}(bk + {v * L})" for v in range(nv)) + ";")
    for r in range(mr):
        o.append(f"    {{ const {V} ar = {SP}(a[{r} * a_rs + k * a_cs]); " +
                 " ".join(f"c{r}_{v} += ar * b{v};" for v in range(nv)) + " }")
    o.append("  }")
    o.append("  if (acc) {")
    for r in range(mr):
        o.append("    " + " ".join(f"c{r}_{v} += {ld(r, v, 'y')};" for v in range(nv)))
    o.append("  }")
    o.append("  if (last) {")
    o.append(f"    const {V} al = {SP}(alpha);")
    o.append("    " + " ".join(f"{c} *= al;" for c in acc))
    o.append("    if (bias) {")
    for r in range(mr):
        o.append(f"      {{ const {V} bb = {SP}(bias[{r}]); " + " ".join(f"c{r}_{v} += bb;" for v in range(nv)) + " }")
    o.append("    }")
    o.append("    if (cbias) {")  # a bias per column (a GEMM's C operand of one row): in registers, no pass over Y
    o.append(f"      const {V} " + ", ".join(f"cb{v} = " + (f"SDK_VLOADN{L}(cbias + {v * L}, n)" if part and v == nv - 1
                                                             else f"{LD}(cbias + {v * L})") for v in range(nv)) + ";")
    for r in range(mr):
        o.append("      " + " ".join(f"c{r}_{v} += cb{v};" for v in range(nv)))
    o.append("    }")
    if epi_in:  # last == 2: the caller's epilogue but a C operand, here instead of a pass over the stored tile
        o.append("    if (last == 2) {")
        o.append("      if (res) {")  # a residual: added before the activation, as the tile epilogue pass does
        for r in range(mr):
            o.append("        " + " ".join(f"c{r}_{v} += {ld(r, v, 'res')};" for v in range(nv)))
        o.append("      }")
        if act:
            o.append("      " + " ".join(f"{name}_ACT({c});" for c in acc))
        o.append("    }")
    o.append("  }")
    for r in range(mr):
        o.append("  " + " ".join((f"SDK_VSTOREN{L}(y + {r} * ldy + {v * L}, c{r}_{v}, n);" if part and v == nv - 1
                                  else f"{ST}(y + {r} * ldy + {v * L}, c{r}_{v});") for v in range(nv)))
    o.append("}")
    return "\n".join(o) + "\n"


def _edge(name: str) -> str:
    """Any rows x cols tile straight from unpacked operands (B columns contiguous)."""
    return f"""static void {name}_edge(int64_t rows, int64_t cols, int64_t kc, const float *a, int64_t a_rs,
    int64_t a_cs, const float *b, int64_t b_rs, float *y, int64_t ldy, int acc, int last, float alpha,
    const float *bias, const float *cbias) {{
  for (int64_t r = 0; r < rows; ++r) {{
    float *restrict yr = y + r * ldy;
    if (!acc)
      for (int64_t j = 0; j < cols; ++j) yr[j] = 0.0f;
    for (int64_t k = 0; k < kc; ++k) {{
      const float av = a[r * a_rs + k * a_cs];
      const float *restrict bk = b + k * b_rs;
      for (int64_t j = 0; j < cols; ++j) yr[j] += av * bk[j];
    }}
    if (last) {{
      const float bb = bias ? bias[r] : 0.0f;
      for (int64_t j = 0; j < cols; ++j) yr[j] = yr[j] * alpha + bb + (cbias ? cbias[j] : 0.0f);
    }}
  }}
}}
"""


def _pack_a(name: str, s: Dict) -> str:
    mr = s["mr"]
    return f"""static void {name}_pack_a(int64_t mc, int64_t kc, const float *A, int64_t a_rs, int64_t a_cs,
    float *restrict ap) {{
  SDK_OMP(for schedule(static))
  for (int64_t i0 = 0; i0 < mc; i0 += {mr}) {{
    const int64_t rows = sdk_t_min({mr}, mc - i0);
    float *restrict dst = ap + i0 * kc;
    for (int64_t k = 0; k < kc; ++k)
      for (int64_t r = 0; r < {mr}; ++r)
        dst[k * {mr} + r] = r < rows ? A[(i0 + r) * a_rs + k * a_cs] : 0.0f;
  }}
}}
"""


def _one_thread_copy(src: str, name: str, own: int) -> str:
    """``src`` (a packing function, or none) and, when threads pack their own panels (``own``), a copy named
    ``..1`` without its ``omp for`` for them to call inside the parallel region."""
    m = re.search(rf"static void ({name}_pack_[ab])\(", src)
    if not own or not m:
        return src
    fn = src[m.start():]
    omp_for = re.compile(r"^[ ]*SDK_OMP\(for schedule\(static\)\)\n", re.M)
    assert omp_for.search(fn) and "SDK_OMP(" not in omp_for.sub("", fn), fn
    one = omp_for.sub("", fn.replace(f"{m.group(1)}(", f"{m.group(1)}1(", 1))
    return src + "#if defined(_OPENMP) /* only the threaded branch calls it */\n" + one + "#endif\n"


def _transpose_block(L: int) -> str:
    """``sdk_tuned_tr{L}(src, ss, dst, ds)``: dst rows = src columns of an L x L block (rows ss and ds floats apart),
    in log2(L) stages of two-vector shuffles (stage d swaps element (r, c + d) with (r + d, c) for c, r without bit
    d), where the compiler has ``__builtin_shufflevector`` (GCC >= 12, clang); ``SDK_TUNED_TR{L}`` says which."""
    if L == 1:
        return ""
    rows = [f"r{i}" for i in range(L)]
    body = [f"  sdk_vf{L} " + ", ".join(f"r{i} = SDK_VLOAD{L}(src + {i} * ss)" for i in range(L)) + ";"]
    d = L // 2
    while d >= 1:
        lo = ", ".join(str(L + c - d if c & d else c) for c in range(L))
        hi = ", ".join(str(L + c if c & d else c + d) for c in range(L))
        for r in range(L):
            if not r & d:
                body.append(f"  {{ const sdk_vf{L} t = __builtin_shufflevector({rows[r]}, {rows[r + d]}, {lo}); "
                            f"{rows[r + d]} = __builtin_shufflevector({rows[r]}, {rows[r + d]}, {hi}); {rows[r]} = t; }}")
        d //= 2
    body.append("  " + " ".join(f"SDK_VSTORE{L}(dst + {i} * ds, r{i});" for i in range(L)))
    fn = "\n".join(body)
    return f"""#ifndef SDK_TUNED_TR{L}
#if defined(__clang__) || (defined(__GNUC__) && __GNUC__ >= 12)
#define SDK_TUNED_TR{L} 1
static inline void sdk_tuned_tr{L}(const float *src, int64_t ss, float *dst, int64_t ds) {{
{fn}
}}
#else
#define SDK_TUNED_TR{L} 0
#endif
#endif
"""


def even_lanes(L: int) -> str:
    """``sdk_tuned_ev{L}(src, dst)``: dst[u] = src[2 u] for u < L (reads src[0 .. 2 L)): two vector loads and one
    two-vector shuffle, where the compiler has ``__builtin_shufflevector`` (GCC >= 12, clang; ``SDK_TUNED_EV{L}``
    says which). The stride-2 copies of the tap / phase plane fills: gcc left them scalar (a load and a store an
    element: ResNet-18's 64 -> 128 3x3/2 layer spent ~11 % of its time filling its tap planes)."""
    if L == 1:
        return ""
    idx = ", ".join(str(2 * u) for u in range(L))
    return f"""#ifndef SDK_TUNED_EV{L}
#if defined(__clang__) || (defined(__GNUC__) && __GNUC__ >= 12)
#define SDK_TUNED_EV{L} 1
static inline void sdk_tuned_ev{L}(const float *src, float *dst) {{
  const sdk_vf{L} a = SDK_VLOAD{L}(src), b = SDK_VLOAD{L}(src + {L});
  SDK_VSTORE{L}(dst, __builtin_shufflevector(a, b, {idx}));
}}
#else
#define SDK_TUNED_EV{L} 0
#endif
#endif
"""


def even_copy(L: int, d: str, src: str, lo: str, hi: str, room) -> str:
    """C statements: ``{d}[u] = {src}[2 u]`` for u in [lo, hi), whole vectors (``even_lanes``) where ``room(e)``, a C
    condition on the C expression e, says src[2 e + 2 L - 1] may be read: from lo on, then one vector ending at hi - 1
    (overlapping the last one: the same values again) where the row holds it; the rest one element at a time. ``u``
    must be declared."""
    vec = "" if L == 1 else f"""
#if SDK_TUNED_EV{L}
        for (; u + {L} <= {hi} && {room("u")}; u += {L}) sdk_tuned_ev{L}({src} + 2 * u, {d} + u);
        if (u < {hi} && {hi} - {lo} >= {L} && {room(f"({hi} - {L})")}) {{
          sdk_tuned_ev{L}({src} + 2 * ({hi} - {L}), {d} + {hi} - {L});
          u = {hi};
        }}
#endif"""
    return f"""u = {lo};{vec}
        for (; u < {hi}; ++u) {d}[u] = {src}[2 * u];"""


def _pack_b_matrix(name: str, s: Dict) -> str:
    nr = s["nv"] * s["lanes"]
    td = f"typedef struct {{ const float *p; int64_t rs, cs; }} {name}_src;\n"
    if not s["pack_b"]:
        return td
    L = s["lanes"]
    tr = "" if L == 1 else f"""
#if SDK_TUNED_TR{L}
      const int64_t kb = kc - kc % {L};
      for (; j + {L} <= cols; j += {L}) {{ /* {L} x {L} blocks through registers */
        for (int64_t k = 0; k < kb; k += {L}) sdk_tuned_tr{L}(p + j * src->cs + k, src->cs, dst + k * {nr} + j, {nr});
        for (int64_t c = 0; c < {L}; ++c)
          for (int64_t k = kb; k < kc; ++k) dst[k * {nr} + j + c] = p[(j + c) * src->cs + k];
      }}
#endif"""
    return td + _transpose_block(L) + f"""static void {name}_pack_b(const {name}_src *src, int64_t j0, int64_t nc, int64_t k0, int64_t kc,
    float *restrict bp) {{
  SDK_OMP(for schedule(static))
  for (int64_t jp = 0; jp < nc; jp += {nr}) {{
    const int64_t cols = sdk_t_min({nr}, nc - jp);
    float *restrict dst = bp + jp * kc;
    if (src->rs == 1 && src->cs != 1) {{ /* B stored transposed (k^T read in place): a panel column is a run */
      const float *p = src->p + k0 + (j0 + jp) * src->cs;
      int64_t j = 0;{tr}
      if (cols < {nr})
        for (int64_t k = 0; k < kc; ++k)
          for (int64_t c = cols; c < {nr}; ++c) dst[k * {nr} + c] = 0.0f;
      for (; j < cols; ++j)
        for (int64_t k = 0; k < kc; ++k) dst[k * {nr} + j] = p[j * src->cs + k];
      continue;
    }}
    for (int64_t k = 0; k < kc; ++k) {{
      const float *row = src->p + (k0 + k) * src->rs + (j0 + jp) * src->cs;
      float *restrict d = dst + k * {nr};
      if (src->cs == 1 && cols == {nr})
        memcpy(d, row, sizeof(float) * {nr});
      else
        for (int64_t j = 0; j < {nr}; ++j) d[j] = j < cols ? row[j * src->cs] : 0.0f;
    }}
  }}
}}
"""


def _pack_b_im2col(name: str, s: Dict) -> str:
    """B[k, p] = image[c, oh*SH - PH + kh*DH, ow*SW - PW + kw*DW] (0 outside), k = (c, kh, kw), p = (oh, ow):
    copied run by run along output rows (no division per element). With tap planes (``s["planes"]``,
    ``_fill_planes``; ``src->pl`` set) B's row k is the contiguous run ``pl + off[k]``: whole-panel copies."""
    nr = s["nv"] * s["lanes"]
    planes = f"""  if (src->pl) {{ /* tap planes: row k of B is pl[off[k] + p], p = oh * OW + ow */
    SDK_OMP(for schedule(static))
    for (int64_t jp = 0; jp < nc; jp += {nr}) {{
      const int64_t cols = sdk_t_min({nr}, nc - jp);
      const float *base = src->pl + j0 + jp;
      float *restrict dst = bp + jp * kc;
      if (cols == {nr})
        for (int64_t k = 0; k < kc; ++k) memcpy(dst + k * {nr}, base + src->off[k0 + k], sizeof(float) * {nr});
      else
        for (int64_t k = 0; k < kc; ++k) {{
          const float *row = base + src->off[k0 + k];
          float *restrict d = dst + k * {nr};
          for (int64_t j = 0; j < {nr}; ++j) d[j] = j < cols ? row[j] : 0.0f;
        }}
    }}
    return;
  }}
""" if s.get("planes") else ""
    fields = " const float *pl; const int32_t *off;" if s.get("planes") else ""
    return f"""typedef struct {{ const float *x; int64_t H, W, OW, KH, KW, SH, SW, PH, PW, DH, DW, plane;{fields} }} {name}_src;
static void {name}_pack_b(const {name}_src *src, int64_t j0, int64_t nc, int64_t k0, int64_t kc,
    float *restrict bp) {{
{planes}  const int64_t taps = src->KH * src->KW, SW = src->SW, W = src->W;
  SDK_OMP(for schedule(static))
  for (int64_t jp = 0; jp < nc; jp += {nr}) {{
    const int64_t cols = sdk_t_min({nr}, nc - jp);
    float *restrict dst = bp + jp * kc;
    const int64_t p0 = j0 + jp, oh0 = p0 / src->OW, ow0 = p0 % src->OW;
    for (int64_t k = 0; k < kc; ++k) {{
      const int64_t kk = k0 + k, c = kk / taps, t = kk % taps, kh = t / src->KW, kw = t % src->KW;
      const float *xc = src->x + c * src->H * W;
      float *restrict d = dst + k * {nr};
      int64_t j = 0, oh = oh0, ow = ow0;
      while (j < cols) {{
        const int64_t run = sdk_t_min(cols - j, src->OW - ow);
        const int64_t ih = oh * src->SH - src->PH + kh * src->DH, iw0 = ow * SW - src->PW + kw * src->DW;
        if (ih < 0 || ih >= src->H) {{
          for (int64_t u = 0; u < run; ++u) d[j + u] = 0.0f;
        }} else {{
          const float *xr = xc + ih * W;
          int64_t lo = 0, hi = run; /* iw0 + u*SW in [0, W) for u in [lo, hi) */
          while (lo < run && iw0 + lo * SW < 0) ++lo;
          while (hi > lo && iw0 + (hi - 1) * SW >= W) --hi;
          for (int64_t u = 0; u < lo; ++u) d[j + u] = 0.0f;
          if (SW == 1)
            for (int64_t u = lo; u < hi; ++u) d[j + u] = xr[iw0 + u];
          else if (SW == 2) /* a constant stride: two loads and a permute per vector, not a gather */
            for (int64_t u = lo; u < hi; ++u) d[j + u] = xr[iw0 + 2 * u];
          else
            for (int64_t u = lo; u < hi; ++u) d[j + u] = xr[iw0 + u * SW];
          for (int64_t u = hi; u < run; ++u) d[j + u] = 0.0f;
        }}
        j += run;
        ow = 0;
        ++oh;
      }}
      for (; j < {nr}; ++j) d[j] = 0.0f;
    }}
  }}
}}
"""


def planes_floats(p: Dict[str, int]) -> int:
    """Floats of a strided convolution's tap planes at workload sizes ``p`` (one image), plus its row offsets."""
    S = p["SH"]
    sy, hq = min(S, p["KH"]), p["OH"] + (p["KH"] - 1) // S
    return p["C"] * sy * p["KW"] * hq * p["OW"] + p["C"] * p["KH"] * p["KW"]


def _fill_planes(name: str, S: int, L: int = 1) -> str:
    """Tap planes of one image for a stride-``S`` convolution (dilation 1): plane (c, py, kw), py < min(S, KH), holds
    ``pl[i * OW + ow] = x[c, i*S + py - PH, ow*S + kw - PW]`` (0 outside) for i < Hq = OH + (KH - 1) / S, so tap
    (c, kh, kw) reads output pixel p = oh * OW + ow at ``pl[off + p]``, ``off`` = plane (c, kh % S, kw) + (kh / S) * OW:
    each row of the im2col matrix is one contiguous run (copied whole into the packed panels), and the image is
    copied min(S, KH) * KW / S^2 times (3x3 stride 2: 1.5) instead of KH * KW / S^2 (2.25), with no gather. Stride 2
    with ``L`` lanes: whole vectors of even elements (``even_lanes``) where the row holds them."""
    if S == 2 and L > 1:  # x[iw0 + 2 (u + L) - 1] within the row: column < W
        copy = even_copy(L, "d", "xr", "lo", "hi", lambda e: f"iw0 + 2 * ({e} + {L}) <= W")
    else:
        copy = f"u = lo;\n        for (; u < hi; ++u) d[u] = xr[u * {S}];"
    return (even_lanes(L) if S == 2 else "") + f"""static void {name}_fill_planes(const float *restrict x, int64_t C, int64_t H, int64_t W, int64_t OW,
    int64_t KH, int64_t KW, int64_t PH, int64_t PW, int64_t Hq, float *restrict pl) {{
  const int64_t sy = KH < {S} ? KH : {S}, pn = Hq * OW;
  SDK_OMP(parallel for schedule(static) if (C * sy * KW * pn >= SDK_PAR_MIN_WORK / 64 && omp_get_max_threads() > 1))
  for (int64_t cp = 0; cp < C * sy; ++cp) {{
    const int64_t c = cp / sy, py = cp % sy;
    const float *xc = x + c * H * W;
    for (int64_t kw = 0; kw < KW; ++kw) {{
      float *restrict d = pl + (cp * KW + kw) * pn;
      const int64_t iw0 = kw - PW;
      int64_t lo = 0, hi = OW; /* iw0 + ow*S in [0, W) for ow in [lo, hi) */
      while (lo < OW && iw0 + lo * {S} < 0) ++lo;
      while (hi > lo && iw0 + (hi - 1) * {S} >= W) --hi;
      for (int64_t i = 0; i < Hq; ++i, d += OW) {{
        const int64_t ih = i * {S} + py - PH;
        if (ih < 0 || ih >= H) {{
          for (int64_t u = 0; u < OW; ++u) d[u] = 0.0f;
          continue;
        }}
        const float *xr = xc + ih * W + iw0;
        int64_t u;
        for (u = 0; u < lo; ++u) d[u] = 0.0f;
        {copy}
        for (u = hi; u < OW; ++u) d[u] = 0.0f;
      }}
    }}
  }}
}}
"""


def _epi(name: str, act: Optional[str]) -> str:
    """The tile epilogue, while the tile is in cache: + beta * C (a GEMM's C operand), + R (residual), act."""
    tail = f"""
    for (int64_t j = 0; j < cols; ++j) {{
      const float v = yr[j];
      yr[j] = {act};
    }}""" if act else ""
    return f"""typedef struct {{ const float *C; int64_t c_rs, c_cs; float beta; const float *R; }} {name}_epi_t;
static void {name}_epi(float *y, int64_t ldy, int64_t rows, int64_t cols, int64_t i0, int64_t j0,
    const {name}_epi_t *e) {{
  for (int64_t r = 0; r < rows; ++r) {{
    float *restrict yr = y + r * ldy;
    if (e->C) {{
      const float *c = e->C + (i0 + r) * e->c_rs + j0 * e->c_cs;
      for (int64_t j = 0; j < cols; ++j) yr[j] += e->beta * c[j * e->c_cs];
    }}
    if (e->R) {{
      const float *restrict rr = e->R + (i0 + r) * ldy + j0;
      for (int64_t j = 0; j < cols; ++j) yr[j] += rr[j];
    }}{tail}
  }}
}}
"""


def _narrow_widths(s: Dict):
    """Vector counts of the narrower tiles a schedule gets: with packed B (zero-padded panels) and more than one
    vector per row, e.g. N = 49 columns in panels of 48 ends with a 1-column panel that one vector covers."""
    return range(1, s["nv"]) if s["pack_b"] and s["nv"] > 1 else ()


def _part_widths(s: Dict):
    """Vector counts of the partial-panel tiles (``_ukr``'s ``part``): with B packed (zero-padded panels) and
    vectors, a full row of tiles whose column panel is partial (N = 24 in panels of 32: MobileNetV2's 144 -> 24
    projections, every tile of them) runs the narrowest tile covering it straight into Y, its last vector stored
    partly; before, it went through a stack tile, a scalar copy and the epilogue pass."""
    return range(1, s["nv"] + 1) if s["pack_b"] and s["lanes"] > 1 else ()


def _pf_mode(s: Dict, b_packed: bool = False):
    """What the register tiles prefetch per k step (``_ukr``'s ``pf``): "panel" (B packed by ``pack_b_const``: the
    next weight panel into L2), "next" (B, a row-major matrix, read in place with vectors, tiles in column order
    "ji": the next column tile's lines into L1) or nothing. In row order ("ij": a row of tiles walks a block of
    columns that the rows before it read, from L2) the prefetches measured 1.07-1.18x slower per step on
    SqueezeNet's 27x27 / 13x13 squeezes, in column order 0.86 on the 16 <- 128 one on 55x55 (bench/RESULTS_zoo.md,
    sq49)."""
    if b_packed and s["pack_b"]:
        return "panel"
    return "next" if not s["pack_b"] and s["order"] == "ji" and s["lanes"] > 1 else ""


def _ukrs(name: str, s: Dict, epilogue=None, pf=False) -> list:
    """The register tiles, and ``{name}_act`` when the full tile applies the activation in registers; ``pf``: they
    prefetch (``_ukr``)."""
    fn = _act_fn(name, s, epilogue)
    tail = [_ukr(name, s, act=bool(fn), pf=pf, rows=s["a_tail"])] if s.get("a_tail") else []
    part = [_ukr(name, s, w, act=bool(fn), pf=pf, part=True) for w in _part_widths(s)]
    return ([fn or "", _ukr(name, s, act=bool(fn), pf=pf)] + [_ukr(name, s, w, pf=pf) for w in _narrow_widths(s)] +
            tail + part)


def _mm(name: str, s: Dict, b_packed: bool = False, act: bool = False, batch: bool = False) -> str:
    """Blocked driver over one [M,K] x [K,N] product into Y (row stride ldy). ``b_packed``: ``src->p`` holds
    B already in panels (``pack_b_const``), read in place instead of packed per (jc, pc) block; ``batch``: also
    ``{name}_mm_own`` for a GEMM's batch split (``_batch_split``)."""
    mr, nr = s["mr"], s["nv"] * s["lanes"]
    KC, MC, NC = s["kc"], s["mc"], s["nc"]
    pa, pb = s["pack_a"], s["pack_b"]
    b_packed = b_packed and pb
    a_ptr = "ap + ir * kc, 1, " + str(mr) if pa else "A + (ic + ir) * a_rs + pc * a_cs, a_rs, a_cs"
    if pb:
        b_ptr = f"bp + jr * kc, {nr}"
    else:
        b_ptr = "src->p + pc * src->rs + (jc + jr), src->rs"
    if b_packed:  # block (jc, pc) of the packed matrix: full column blocks of round_up(NC, nr) before it; a thread's
        # part may start inside a column block (jb: its first column, ncb: its width), at a whole panel of it
        get_b = (f"const float *bp = src->p + (jc / {NC}) * {-(-NC // nr) * nr} * K + "
                 f"pc * ((ncb + {nr - 1}) / {nr} * {nr}) + (jc - jb) * kc; /* read in place */")
        bp_decl = "(void)ap;"
    else:
        get_b = f"{name}_pack_b(src, jc, nc, pc, kc, bp);" if pb else ""
        bp_decl = f"float *bp = scratch + {MC * KC if pa else 0};\n  (void)ap; (void)bp;"
    own = own_floats(s, b_packed)  # a thread's own packing buffers (0: the threads share the block's panels)
    full_ok = []
    if not pa:
        full_ok.append(f"rows == {mr}")
    if not pb:
        full_ok.append(f"cols == {nr}")
    tmp_ok = " && ".join(full_ok) or "1"
    # A packed weight (b_packed) is read from memory by the first row block's tiles and from L2 by the others; a
    # tile also prefetches its share of the next panel into L2 (the panels are one stream: the next one follows
    # in memory, across blocks too), so that tile row finds it there: in tile-column order ("ji") the tiles of a
    # panel split the next one (a line every few k), in row order ("ij") a tile takes a line of it per k.
    # B read in place in column order: a tile brings the next column tile's lines of its k rows into L1 (``_ukr``'s
    # "next"): the rows lie a plane apart, 3-4 lines of each per tile, more streams than the hardware's prefetchers
    # follow (SqueezeNet's 16 <- 128 squeeze on 55x55 reads the Concat of the two expands before it: 167 us in the
    # model, ~121 us alone with its image in L2, ~65 us of FMAs)
    nx = _pf_mode(s, b_packed) == "next"
    pf = ", pfa, pfs" if b_packed or nx else ""
    pf_tile = (f"""
        const uintptr_t pfa = (uintptr_t)(src->p + pc * src->rs + jc + jr) + {nr * 4}, /* the next column tile */
            pfs = (uintptr_t)src->rs * sizeof(float);""" if nx else "") + (f"""
        const uintptr_t pfa = (uintptr_t)(bp + jr * kc) + /* the next panel; the last one prefetches itself */
            (jr + {nr} < nc || pc + kc < K || jc + {NC} < N ? (uintptr_t)kc * {nr * 4} : 0) +
            {"(uintptr_t)(ir / " + str(mr) + ") * (uintptr_t)kc * pfs" if s["order"] == "ji" else "0"};""" if b_packed else "")
    pf_block = ((f"const uintptr_t pfs = (uintptr_t)(({nr} + (mc + {mr - 1}) / {mr} - 1) / ((mc + {mr - 1}) / {mr})) * "
                 f"sizeof(float); /* bytes of the next panel a tile prefetches per k */"
                 if s["order"] == "ji" else "const uintptr_t pfs = 64; /* a line of the next panel per k */")
                if b_packed else "")
    # a partial column panel of packed B (zero-padded) runs the narrowest tile that covers it
    narrow = "".join(f"if (cols <= {w * s['lanes']}) {name}_ukr_w{w}(kc, {a_ptr}, {b_ptr}, t, {nr}, 0, 0, 1.0f, NULL, NULL{pf});\n"
                     f"          else " for w in _narrow_widths(s))
    # A read in place (not packed) with M not a whole number of tiles: the last rows run the shorter tile of the
    # schedule's ``a_tail`` rows straight into Y, or (another M at run time) the full tile on the rows ending at
    # the last one, moved up into the tile before (rows A has; only the new rows are stored)
    T = s.get("a_tail") or 0
    res = "act_in && epi->R ? epi->R + (ic + ir) * ldy + jc + jr : NULL"  # the residual tile, read in registers
    tail_tile = (f""" else if (rows == {T} && cols == {nr}) {{
          {name}_ukr_h{T}(kc, {a_ptr}, {b_ptr}, yt, ldy, acc, last && act_in ? 2 : last, alpha, bt, cbt, {res}{pf});
          if (last && epi && !act_in) {name}_epi(yt, ldy, rows, cols, ic + ir, jc + jr, epi);
        }}""" if T else "")
    up = f"A + (ic + ir - ({mr} - rows)) * a_rs + pc * a_cs, a_rs, a_cs"
    shifted = "" if pa else f""" else if (ic + ir >= {mr} - rows{"" if pb else f" && cols == {nr}"}) {{
          float t[{mr * nr}]; /* per thread */
          {narrow.replace(a_ptr, up)}{name}_ukr(kc, {up}, {b_ptr}, t, {nr}, 0, 0, 1.0f, NULL, NULL, NULL{pf});
          for (int64_t r = 0; r < rows; ++r)
            for (int64_t j = 0; j < cols; ++j) {{
              float v = t[(r + {mr} - rows) * {nr} + j] + (acc ? yt[r * ldy + j] : 0.0f);
              yt[r * ldy + j] = last ? v * alpha + (bt ? bt[r] : 0.0f) + (cbt ? cbt[j] : 0.0f) : v;
            }}
          if (last && epi) {name}_epi(yt, ldy, rows, cols, ic + ir, jc + jr, epi);
        }}"""
    # B read in place (not packed) with N not a whole number of tiles: a partial column tile runs the full tile on
    # the nr columns ending at its last one, moved left into the tile before (columns B has; only the new ones are
    # stored), and up as above where its rows are partial too. The scalar edge tile made unpacked B 2-2.5x slower
    # than packed on 13x13 planes (169 = 3 x 48 + 25 columns; SqueezeNet's squeeze layers, bench/RESULTS_zoo.md)
    du = "0" if pa else f"({mr} - rows)"
    a_left = a_ptr if pa else up
    left = "" if pb else f""" else if ({"1" if pa else f"(rows == {mr} || ic + ir >= {mr} - rows)"} && jc + jr + cols >= {nr}) {{
          float t[{mr * nr}]; /* per thread */
          const int64_t du = {du}, dl = {nr} - cols;
          {name}_ukr(kc, {a_left}, src->p + pc * src->rs + (jc + jr - dl), src->rs, t, {nr}, 0, 0, 1.0f, NULL, NULL, NULL{pf});
          for (int64_t r = 0; r < rows; ++r)
            for (int64_t j = 0; j < cols; ++j) {{
              float v = t[(r + du) * {nr} + dl + j] + (acc ? yt[r * ldy + j] : 0.0f);
              yt[r * ldy + j] = last ? v * alpha + (bt ? bt[r] : 0.0f) + (cbt ? cbt[j] : 0.0f) : v;
            }}
          if (last && epi) {name}_epi(yt, ldy, rows, cols, ic + ir, jc + jr, epi);
        }}"""
    # a full row of tiles on a partial column panel of packed B: the narrowest partial tile, straight into Y
    L = s["lanes"]
    part_tile = "".join(f"if (cols <= {w * L}) {name}_ukr_p{w}(kc, {a_ptr}, {b_ptr}, yt, ldy, acc, "
                        f"last && act_in ? 2 : last, alpha, bt, cbt, {res}, (int)(cols - {(w - 1) * L}){pf});\n"
                        f"          else " for w in _part_widths(s))
    part_tile = (f""" else if (SDK_TUNED_PART && rows == {mr} && cols < {nr}) {{
          {part_tile[:-len("          else ")].rstrip()}
          if (last && epi && !act_in) {name}_epi(yt, ldy, rows, cols, ic + ir, jc + jr, epi);
        }}""" if part_tile else "")
    tile = f"""        const int64_t rows = sdk_t_min({mr}, mc - ir), cols = sdk_t_min({nr}, nc - jr);
        float *yt = Y + (ic + ir) * ldy + jc + jr;
        const float *bt = bias ? bias + ic + ir : NULL, *cbt = cbias ? cbias + jc + jr : NULL;{pf_tile}
        if (rows == {mr} && cols == {nr}) {{
          {name}_ukr(kc, {a_ptr}, {b_ptr}, yt, ldy, acc, last && act_in ? 2 : last, alpha, bt, cbt, {res}{pf});
          if (last && epi && !act_in) {name}_epi(yt, ldy, rows, cols, ic + ir, jc + jr, epi);
        }}{tail_tile}{part_tile} else if ({tmp_ok}) {{
          float t[{mr * nr}]; /* per thread */
          {narrow}{name}_ukr(kc, {a_ptr}, {b_ptr}, t, {nr}, 0, 0, 1.0f, NULL, NULL, NULL{pf});
          for (int64_t r = 0; r < rows; ++r)
            for (int64_t j = 0; j < cols; ++j) {{
              float v = t[r * {nr} + j] + (acc ? yt[r * ldy + j] : 0.0f);
              yt[r * ldy + j] = last ? v * alpha + (bt ? bt[r] : 0.0f) + (cbt ? cbt[j] : 0.0f) : v;
            }}
          if (last && epi) {name}_epi(yt, ldy, rows, cols, ic + ir, jc + jr, epi);
        }}{left}{shifted} else {{
          {name}_edge(rows, cols, kc, {a_ptr}, {b_ptr}, yt, ldy, acc, last, alpha, bt, cbt);
          if (last && epi) {name}_epi(yt, ldy, rows, cols, ic + ir, jc + jr, epi);
        }}"""
    loops = (("ir", "mc", mr), ("jr", "nc", nr)) if s["order"] == "ij" else (("jr", "nc", nr), ("ir", "mc", mr))
    (v1, e1, s1), (v2, e2, s2) = loops
    # no panel packed into the shared scratch: nothing to wait for between blocks. A static schedule over the same
    # tiles hands each thread the same tiles for every k block (OpenMP guarantees it), so a thread accumulates
    # into tiles it wrote itself; the region's end is the only join
    sync = "" if pa or (pb and not b_packed) else " nowait"

    def nest(par: bool, part: bool = False, NC: int = NC) -> str:
        """The blocked loops; ``par``: the threads split each block's tiles; ``part``: this thread's rows
        [i0, i1) and columns [j0, j1) only, with its own panels (packing without ``omp for``) in column blocks of
        ``NC`` (``own_nc``)."""
        omp_for = (f"        SDK_OMP(for collapse(2) schedule(static){sync}) /* disjoint tiles of Y; a barrier frees the"
                   f" panels */\n") if par else ""
        j0, j1, i0, i1, one = ("j0", "j1", "i0", "i1", "1") if part else ("0", "N", "0", "M", "")
        if b_packed and part:  # the part's columns in the packed matrix's column blocks (its ends: whole panels)
            cols = f"""  for (int64_t jc = {j0}, nc; jc < {j1}; jc += nc) {{
    const int64_t jb = jc / {NC} * {NC}, ncb = sdk_t_min({NC}, N - jb);
    nc = sdk_t_min(jb + {NC}, {j1}) - jc;"""
        else:
            cols = f"""  for (int64_t jc = {j0}; jc < {j1}; jc += {NC}) {{
    const int64_t nc = sdk_t_min({NC}, {j1} - jc);{" const int64_t jb = jc, ncb = nc;" if b_packed else ""}"""
        return f"""{cols}
    for (int64_t pc = 0; pc < K; pc += {KC}) {{
      const int64_t kc = sdk_t_min({KC}, K - pc);
      const int acc = pc > 0, last = pc + kc >= K;
      {get_b.replace("_pack_b(", f"_pack_b{one}(")}
      for (int64_t ic = {i0}; ic < {i1}; ic += {MC}) {{
        const int64_t mc = sdk_t_min({MC}, {i1} - ic);
        {pf_block}
        {f'{name}_pack_a{one}(mc, kc, A + ic * a_rs + pc * a_cs, a_rs, a_cs, ap);' if pa else ''}
{omp_for}        for (int64_t {v1} = 0; {v1} < {e1}; {v1} += {s1})
          for (int64_t {v2} = 0; {v2} < {e2}; {v2} += {s2}) {{
{tile}
          }}
      }}
    }}
  }}"""

    par_body = (_parts(nest(False, part=True, NC=own_nc(s, b_packed)), s, own, b_packed) if own else
                "    SDK_OMP(parallel) /* every thread walks the blocks; omp for splits the work */\n" + nest(True))
    return f"""static void {name}_mm(int64_t M, int64_t N, int64_t K, float alpha, const float *A, int64_t a_rs,
    int64_t a_cs, const {name}_src *src, float *Y, int64_t ldy, const float *bias, const float *cbias,
    float *scratch, const {name}_epi_t *epi) {{
  scratch = (float *)(void *)(((uintptr_t)scratch + 63) & ~(uintptr_t)63); /* whole-vector panel loads: no line splits */
  /* the epilogue but a C operand (a residual, the activation): full tiles apply it in registers, the pass skips them */
  const int act_in = {1 if act else 0} && epi && !epi->C;
  (void)act_in;
  float *ap = scratch;
  {bp_decl}
  if (K == 0) {{
    for (int64_t i = 0; i < M; ++i)
      for (int64_t j = 0; j < N; ++j) Y[i * ldy + j] = (bias ? bias[i] : 0.0f) + (cbias ? cbias[j] : 0.0f);
    if (epi) {name}_epi(Y, ldy, M, N, 0, 0, epi);
    return;
  }}
#if defined(_OPENMP)
  if (M * N * K >= SDK_PAR_MIN_WORK && omp_get_max_threads() > 1) {{
{par_body}
    return;
  }}
#endif
  /* one thread or little work: the same loops outside any parallel region (no outlined copy, no barriers) */
{nest(False)}
}}
""" + (_mm_own(name, s, nest(False, part=True, NC=own_nc(s, b_packed)), act) if own and batch else "")


def _mm_own(name: str, s: Dict, nest: str, act: bool) -> str:
    """``{name}_mm_own``: one thread's whole product (K > 0) with its own panels at ``base``, the one-thread loops of a
    ``_parts`` part spanning all of Y: what each thread runs on its own matrices when the threads split a batch."""
    return f"""#if defined(_OPENMP) /* only the batch split calls it */
static void {name}_mm_own(int64_t M, int64_t N, int64_t K, float alpha, const float *A, int64_t a_rs,
    int64_t a_cs, const {name}_src *src, float *Y, int64_t ldy, const float *bias, const float *cbias,
    float *base, const {name}_epi_t *epi) {{
  const int act_in = {1 if act else 0} && epi && !epi->C;
  (void)act_in;
  const int64_t i0 = 0, i1 = M, j0 = 0, j1 = N;
  float *ap = (float *)(void *)(((uintptr_t)base + 63) & ~(uintptr_t)63), *bp = ap + {s["mc"] * s["kc"] if s["pack_a"] else 0};
  (void)ap; (void)bp;
{nest}
}}
#endif
"""


OWN_MAX_FLOATS = 65536  # a thread's own packing buffers live on its stack: at most 256 KiB


def own_nc(s: Dict, b_packed: bool = False) -> int:
    """The column block of a thread's own panels when the threads split a GEMM into parts (``_parts``): the
    schedule's ``nc`` where its panels fit OWN_MAX_FLOATS, else (B packed per call) the most whole register-tile
    columns, at least two panels, whose B panel fits beside the A panel; 0 when none does (the threads then share
    each block's panels, split tile by tile). A column block changes no result: every tile of Y sums the same
    ``kc`` blocks in the same order, and its columns start at the same multiples of ``nr``."""
    def fits(nc):
        return panel_floats(dict(s, nc=nc), b_packed) + 16 <= OWN_MAX_FLOATS  # 16: the panels' 64-byte alignment
    if fits(s["nc"]):
        return s["nc"]
    if b_packed or not s["pack_b"]:
        return 0
    nr = s["nv"] * s["lanes"]
    nc = (OWN_MAX_FLOATS - 16 - (s["mc"] * s["kc"] if s["pack_a"] else 0)) // s["kc"] // nr * nr
    return nc if nc >= 2 * nr and fits(nc) else 0


def own_floats(s: Dict, b_packed: bool = False) -> int:
    """Floats of one thread's own packing buffers when the threads split a GEMM into parts (``_parts``, column
    blocks of ``own_nc``); 0 when the threads share each block's panels instead."""
    nc = own_nc(s, b_packed)
    return panel_floats(dict(s, nc=nc), b_packed) + 16 if nc else 0


def _parts(nest: str, s: Dict, own: int, b_packed: bool) -> str:
    """Threads split Y into parts, each running the one-thread loops over its rows or columns with its own panels:
    no barrier but the region's end (the tile split waits twice per block). Columns in whole panels (where B comes
    packed, a part may start inside one of its column blocks: ViT-S's in-projection, N = 1152 in one block, was cut
    into rows, 13 register-tile rows against 12 on two threads, and ran 3-7 % slower than in halves of 12 panels),
    rows in whole register tiles; the longer side is split, so each part's tiles, and so its results, are those of
    one thread. ``nest`` walks the part in column blocks of ``own_nc``."""
    mr, nr, MC, KC = s["mr"], s["nv"] * s["lanes"], s["mc"], s["kc"]
    un = nr
    return f"""    SDK_OMP(parallel) /* each thread: its part of Y, its own panels */
    {{
      const int64_t nth = omp_get_num_threads(), tid = omp_get_thread_num();
      const int64_t un = (N + {un - 1}) / {un}, um = (M + {mr - 1}) / {mr};
      const int cols = un >= nth && (un * {un} >= um * {mr} || um < nth);
      int64_t i0 = 0, i1 = M, j0 = 0, j1 = N;
      if (cols) {{
        j0 = sdk_t_min(N, un * tid / nth * {un});
        j1 = sdk_t_min(N, un * (tid + 1) / nth * {un});
      }} else {{
        i0 = sdk_t_min(M, um * tid / nth * {mr});
        i1 = sdk_t_min(M, um * (tid + 1) / nth * {mr});
      }}
      float own[{own}]; /* threads other than the first; the first keeps the plan's scratch */
      float *const base = tid ? (float *)(void *)(((uintptr_t)own + 63) & ~(uintptr_t)63) : scratch;
      float *ap = base, *bp = base + {MC * KC if s["pack_a"] else 0};
      (void)ap; (void)bp;
{nest}
    }}"""


def _conv_planes(name: str, s: Dict, epilogue) -> str:
    """The convolution function of an im2col schedule with tap planes (``_fill_planes``): per image the planes are
    filled once into the scratch after the packing area, then ``_mm`` packs B's panels from them. Other dims than the
    bounds' that need more planes than the scratch holds (or dilations, groups) pack from the image as before."""
    S = s["stride"]
    base = scratch_floats(dict(s, planes=0))
    epi = "const {0}_epi_t epi = {{NULL, 0, 0, 0.0f, R ? R + n * M * plane : NULL}};".format(name) if epilogue else ""
    return _fill_planes(name, S, s["lanes"]) + f"""static void {name}({_params("conv2d", epilogue)}) {{
  const int64_t plane = OH * OW, K = C * KH * KW, Hq = OH + (KH - 1) / {S}, sy = KH < {S} ? KH : {S};
  float *pl = scratch + {base};
  int32_t *off = (int32_t *)(void *)(pl + C * sy * KW * Hq * OW);
  const int use = groups == 1 && SH == {S} && SW == {S} && DH == 1 && DW == 1 &&
                  C * sy * KW * Hq * OW + K <= {s["planes"]} && C * sy * KW * Hq * OW <= INT32_MAX;
  if (use)
    for (int64_t k = 0; k < K; ++k) {{
      const int64_t c = k / (KH * KW), kh = k / KW % KH, kw = k % KW;
      off[k] = (int32_t)(((c * sy + kh % {S}) * KW + kw) * Hq * OW + (kh / {S}) * OW);
    }}
  const int64_t cin = C / groups, cout = M / groups, kg = cin * KH * KW;
  for (int64_t n = 0; n < N; ++n)
    for (int64_t g = 0; g < groups; ++g) {{
      if (use)
        {name}_fill_planes(X + n * C * H * W, C, H, W, OW, KH, KW, PH, PW, Hq, pl);
      const {name}_src src = {{X + (n * C + g * cin) * H * W, H, W, OW, KH, KW, SH, SW, PH, PW, DH, DW, plane,
                              use ? pl : NULL, use ? off : NULL}};
      {epi.replace("n * M * plane", "(n * M + g * cout) * plane")}
      {name}_mm(cout, plane, kg, 1.0f, Wt + g * cout * kg, kg, 1, &src, Y + (n * M + g * cout) * plane, plane,
                bias ? bias + g * cout : NULL, NULL, scratch, {"&epi" if epilogue else "NULL"});
    }}
}}
"""


def gemm_source(name: str, s: Dict, epilogue=None, b_packed: bool = False) -> str:
    """``name``: same arguments as ``sdk_gemm_f32`` plus ``float *scratch``; with an ``epilogue``
    ((act or None, a, b, has_R)) also ``const float *R`` (NULL or shaped like Y) and ``Y = act(... + R)``."""
    act = act_expr(epilogue)
    b_packed = b_packed and s["pack_b"]
    own = own_floats(s, b_packed)
    body = [PRELUDE, vec_prelude(s["lanes"]),
            _one_thread_copy(_pack_b_matrix(name, dict(s, pack_b=s["pack_b"] and not b_packed)), name, own),
            *_ukrs(name, s, epilogue, pf=_pf_mode(s, b_packed)), _edge(name), _epi(name, act)]
    if s["pack_a"]:
        body.append(_one_thread_copy(_pack_a(name, s), name, own))
    body.append(_mm(name, s, b_packed, act=_epilogue_in_registers(name, s, epilogue), batch=True))
    r_val = "R ? R + bt * M * N : NULL" if epilogue else "NULL"
    need = "1" if epilogue else "(C && beta != 0.0f && !cb)"
    body.append(f"""static void {name}({_params("gemm", epilogue)}) {{
  /* C of one row (a Linear layer's or a channels-last convolution's bias): added in the register tile, not by a
     pass over each finished tile */
  const int cb = C && beta == 1.0f && c_rs == 0 && c_cs == 1;{_batch_split(name, own, r_val, need)}
  for (int64_t bt = 0; bt < batch; ++bt) {{
    const {name}_src src = {{B + bt * b_bs, b_rs, b_cs}};
    const {name}_epi_t epi = {{beta != 0.0f && !cb ? C : NULL, c_rs, c_cs, beta, {r_val}}};
    {name}_mm(M, N, K, alpha, A + bt * a_bs, a_rs, a_cs, &src, Y + bt * M * N, N, NULL, cb ? C : NULL, scratch,
              {need} ? &epi : NULL);
  }}
}}
""")
    return "".join(body)


def _batch_split(name: str, own: int, r_val: str, need: str) -> str:
    """Threads take whole matrices of a batch (attention's heads: q k^T and p v per head) where the batch is a whole
    number of shares, in one parallel region, each running ``_mm_own`` with its own panels: the per-matrix split
    opened a region per head and cut a head's few tiles unevenly (ViT-S's 6 heads of [197 x 64] x [64 x 197] ran
    1.1x faster on two threads than on one). Each matrix's tiles are those of one thread: the same results."""
    if not own:
        return ""
    return f"""
#if defined(_OPENMP)
  if (batch > 1 && K > 0 && batch * M * N * K >= SDK_PAR_MIN_WORK && omp_get_max_threads() > 1 &&
      batch % omp_get_max_threads() == 0 && !omp_in_parallel()) {{
    SDK_OMP(parallel) /* each thread: whole matrices, its own panels */
    {{
      float own[{own}]; /* threads other than the first; the first keeps the plan's scratch */
      float *const base = omp_get_thread_num() ? own : scratch;
      SDK_OMP(for schedule(static))
      for (int64_t bt = 0; bt < batch; ++bt) {{
        const {name}_src src = {{B + bt * b_bs, b_rs, b_cs}};
        const {name}_epi_t epi = {{beta != 0.0f && !cb ? C : NULL, c_rs, c_cs, beta, {r_val}}};
        {name}_mm_own(M, N, K, alpha, A + bt * a_bs, a_rs, a_cs, &src, Y + bt * M * N, N, NULL, cb ? C : NULL, base,
                      {need} ? &epi : NULL);
      }}
    }}
    return;
  }}
#endif"""


def _params(kind: str, epilogue) -> str:
    """C parameters of a scheduled kernel: the library kernel's declared ones, then ``scratch`` (and ``R`` with
    an epilogue), as ``sdk/tune/apply.py`` passes them."""
    return tunable(kind).c_params(extra=2 if epilogue else 1)


def _epilogue_in_registers(name: str, s: Dict, epilogue) -> bool:
    """Whether full register tiles apply the tile epilogue but a C operand themselves (``_ukr``'s ``last == 2``): a
    residual and an activation with a vector form (``_act_fn``; the tanh GELU has none: the epilogue pass). The residual in
    registers, not by a pass over each stored tile: ResNet-50's 64 -> 256 1x1 layers on 56x56 with their residual +
    ReLU ran 1.24-1.55 ms in the model against 0.81 ms for the same layer without one; alone 0.92 -> 0.74 ms, the
    whole model 0.946 of the time before (one thread, Intel Xeon AVX-512; bench/RESULTS_zoo.md, wide19)."""
    return s["lanes"] > 1 and (act_expr(epilogue) is None or _act_fn(name, s, epilogue) is not None)


def act_expr(epilogue):
    if not epilogue or epilogue[0] is None:
        return None
    from ..transform.epilogue import act_c
    return act_c(*epilogue[:3])


def conv_source(name: str, s: Dict, pointwise: bool, epilogue=None) -> str:
    """``name``: same arguments as ``sdk_conv2d_f32`` plus ``float *scratch``. ``pointwise``: 1x1, stride 1,
    no padding (the image is the B matrix); otherwise B is packed from the image (implicit im2col)."""
    parts = [PRELUDE, vec_prelude(s["lanes"])]
    own = own_floats(s)
    parts.append(_one_thread_copy(_pack_b_matrix(name, s) if pointwise else _pack_b_im2col(name, s), name, own))
    parts += [*_ukrs(name, s, epilogue, pf=_pf_mode(s)), _edge(name), _epi(name, act_expr(epilogue))]
    if s["pack_a"]:
        parts.append(_one_thread_copy(_pack_a(name, s), name, own))
    parts.append(_mm(name, s, act=_epilogue_in_registers(name, s, epilogue)))
    if s.get("planes"):
        return "".join(parts) + _conv_planes(name, s, epilogue)
    if pointwise:
        src = f"const {name}_src src = {{X + (n * C + g * cin) * H * W, H * W, 1}};"
    else:
        src = (f"const {name}_src src = {{X + (n * C + g * cin) * H * W, H, W, OW, KH, KW, SH, SW, PH, PW, DH, DW, "
               f"OH * OW}};")
    epi = (f"const {name}_epi_t epi = {{NULL, 0, 0, 0.0f, R ? R + (n * M + g * cout) * plane : NULL}};"
           if epilogue else "")
    parts.append(f"""static void {name}({_params("conv2d", epilogue)}) {{
  const int64_t cin = C / groups, cout = M / groups, plane = OH * OW, kg = cin * KH * KW;
  (void)SH; (void)SW; (void)PH; (void)PW; (void)DH; (void)DW;
  for (int64_t n = 0; n < N; ++n)
    for (int64_t g = 0; g < groups; ++g) {{
      {src}
      {epi}
      {name}_mm(cout, plane, kg, 1.0f, Wt + g * cout * kg, kg, 1, &src, Y + (n * M + g * cout) * plane, plane,
                bias ? bias + g * cout : NULL, NULL, scratch, {"&epi" if epilogue else "NULL"});
    }}
}}
""")
    return "".join(parts)


def kernel_source(kind: str, name: str, s: Dict, workload, epilogue=None, b_packed: bool = False) -> str:
    """C source of the scheduled kernel; ``epilogue``: (act or None, a, b, R or None) fused into it;
    ``b_packed`` (GEMM with ``pack_b``): B is passed already packed by ``pack_b_const``."""
    if kind == "gemm":
        return gemm_source(name, s, epilogue, b_packed)
    if s.get("cv"):
        from .gconv_cv import source
        return source(name, s, workload, epilogue)
    if s.get("direct"):
        from .gconv import source
        return source(name, s, workload, epilogue)
    if s.get("trans"):
        return conv_t_source(name, s, workload, epilogue)
    return conv_source(name, s, pointwise=workload.pointwise, epilogue=epilogue)


def pack_b_const(B, s: Dict):
    """A constant B ([K, N] float32) in the panel order the schedule's ``_mm`` reads when ``b_packed``: per
    column block of ``nc`` (padded to whole ``nr``-column panels with zeros), per row block of ``kc``, the
    panels of ``kc`` x ``nr`` floats one after another (what ``_pack_b`` writes per call otherwise). Returns
    a 1-D array."""
    import numpy as np
    K, N = B.shape
    nr, KC, NC = s["nv"] * s["lanes"], s["kc"], s["nc"]
    out = []
    for jc in range(0, N, NC):
        nc = min(NC, N - jc)
        ncp = -(-nc // nr) * nr
        for pc in range(0, K, KC):
            kc = min(KC, K - pc)
            blk = np.zeros((kc, ncp), np.float32)
            blk[:, :nc] = B[pc:pc + kc, jc:jc + nc]
            out.append(blk.reshape(kc, ncp // nr, nr).transpose(1, 0, 2).ravel())
    return np.concatenate(out) if out else np.zeros(0, np.float32)


# ---------------------------------------------------------------------------------------------------------------
# Spatial-rows ("trans") convolutions: Y^T = X^T W^T, vectors along output channels.
#
# A pointwise convolution on a small plane (7x7 = 49 pixels) wastes lanes when vectorised along the plane: 49
# columns take four 16-float vectors. With the plane as the GEMM's rows and the output channels as its columns
# (vectors along channels, the way a channel-blocked layout computes it), every lane works; the register tile is
# written to Y (NCHW) transposed through a small stack tile. The weights are stored transposed and packed at build
# time (``pack_conv_t_const``); K is not blocked (kc = K), so each tile is final when the k loop ends and the
# bias, activation and residual are applied on the way out.
# ---------------------------------------------------------------------------------------------------------------

def _ukr_t(name: str, s: Dict, act: Optional[str], rs: int = 1) -> str:
    """The register tile of a spatial-rows product. A's column k starts at ``a + k * a_cs``, or, with an offset
    table (``s["pad"]``: a padded image), at ``a + off[k]``; a full tile's rows are ``rs`` apart."""
    mr, nv, L = s["mr"], s["nv"], s["lanes"]
    nr = nv * L
    # ``span`` (TW, LS): a tile holds mr / TW whole output rows of TW pixels, LS floats apart in A; its row r is
    # at (r / tw) * a_ls + (r % tw) * a_rs (7x7 planes in tiles of 14 pixels: two rows)
    span = s.get("span") if s.get("pad") else None
    V, LD, ST, SP = f"sdk_vf{L}", f"SDK_VLOAD{L}", f"SDK_VSTORE{L}", f"SDK_VSPLAT{L}"
    o = [f"static inline void {name}_ukr_t(int64_t kc, const float *restrict a, int64_t a_rs, int64_t a_cs,",
         "    const int32_t *restrict off, const float *restrict b, float *restrict y, int64_t ldy, int64_t rows,",
         "    int64_t cols, const float *restrict bias, const float *restrict R, uintptr_t pfa, uintptr_t pfs" +
         (", int64_t tw, int64_t a_ls) {" if span else ") {")]
    o.append(f"  {V} " + ", ".join(f"c{r}_{v} = {SP}(0.0f)" for r in range(mr) for v in range(nv)) + ";")
    col = "off[k]" if s.get("pad") else "k * a_cs"
    o.append("  (void)off; (void)a_cs;")

    def k_loop(row, n=mr):  # row(r): the offset of A's row r from A's column; n: the rows computed
        if s["unroll"] > 1:
            o.append(f"    _Pragma(\"GCC unroll {s['unroll']}\")")
        o.append("    for (int64_t k = 0; k < kc; ++k) {")
        o.append("      SDK_TUNED_PREFETCH(pfa + (uintptr_t)k * pfs); /* the next weight panel, into L2 (_mm_t) */")
        o.append(f"      const float *bk = b + k * {nr}, *ak = a + {col};")
        o.append(f"      const {V} " + ", ".join(f"b{v} = {LD}(bk + {v * L})" for v in range(nv)) + ";")
        for r in range(n):
            o.append(f"      {{ const {V} ar = {SP}(ak[{row(r)}]); " +
                     " ".join(f"c{r}_{v} += ar * b{v};" for v in range(nv)) + " }")
        o.append("    }")
    # a full tile's rows are constant offsets from one pointer (no index register per row); an edge tile's rows
    # past the edge read the last valid row (in bounds; their results are never stored)
    if span:
        TW, LS = span
        o.append(f"  if (rows == {mr} && a_rs == {rs} && tw == {TW} && a_ls == {LS}) {{")
        k_loop(lambda r: str(r // TW * LS + r % TW * rs))
        # a plane's last tile of fewer rows (7x7: 3 tiles of 14 pixels, then 7) computes only its own rows
        o.append(f"  }} else if (rows == {TW} && a_rs == {rs} && tw == {TW}) {{")
        k_loop(lambda r: str(r * rs), TW)
        o.append("  } else {")
        o.append("    " + " ".join(f"const int64_t q{r} = sdk_t_min({r}, rows - 1), o{r} = q{r} / tw * a_ls + "
                                   f"q{r} % tw * a_rs;" for r in range(mr)))
    else:
        o.append(f"  if (rows == {mr} && a_rs == {rs}) {{")
        k_loop(lambda r: str(r * rs))
        o.append("  } else {")
        o.append("    " + " ".join(f"const int64_t o{r} = sdk_t_min({r}, rows - 1) * a_rs;" for r in range(mr)))
    k_loop(lambda r: f"o{r}")
    o.append("  }")
    o.append(f"  float t[{mr * nr}] __attribute__((aligned(64)));")
    for r in range(mr):
        o.append("  " + " ".join(f"{ST}(t + {r * nr + v * L}, c{r}_{v});" for v in range(nv)))
    fin = act if act else "v"
    o.append(f"""  if (bias)
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t j = 0; j < cols; ++j) t[r * {nr} + j] += bias[j];
  if (!R) {{""")
    if act:
        o.append(f"""    for (int64_t r = 0; r < rows; ++r)
      for (int64_t j = 0; j < cols; ++j) {{
        const float v = t[r * {nr} + j];
        t[r * {nr} + j] = {act};
      }}""")
    o.append(f"""    for (int64_t j = 0; j < cols; ++j)
      for (int64_t r = 0; r < rows; ++r) y[j * ldy + r] = t[r * {nr} + j];
  }} else {{
    for (int64_t j = 0; j < cols; ++j)
      for (int64_t r = 0; r < rows; ++r) {{
        const float v = t[r * {nr} + j] + R[j * ldy + r];
        y[j * ldy + r] = {fin};
      }}
  }}
}}
""")
    return "\n".join(o)


def _mm_t(name: str, s: Dict) -> str:
    """Y^T (columns of Y, row stride ldy) = A B over the whole K; B packed by ``pack_b_const`` with kc = K."""
    mr, nr, MC, NC = s["mr"], s["nv"] * s["lanes"], s["mc"], s["nc"]
    loops = (("ir", "mc", mr), ("jr", "nc", nr)) if s["order"] == "ij" else (("jr", "nc", nr), ("ir", "mc", mr))
    (v1, e1, s1), (v2, e2, s2) = loops
    if s.get("pad"):  # a tile's rows lie on one line of pixels (OW % mr == 0, or OW = M): pixel p0 starts at
        a_tile = "A + ((ic + ir) / OW) * row_step + ((ic + ir) % OW) * a_rs"  # its output row's line of A
        off, extra = "off", "const int32_t *off, int64_t OW, int64_t row_step, "
    else:
        a_tile, off, extra = "A + (ic + ir) * a_rs", "NULL", ""

    # Weight panels (K x nr, packed one after another) are read from memory on the first tile that uses them and from
    # L2 by the others; in tile-column order ("ji") each tile also prefetches its share of the next panel (a line
    # every few k), so the panel is in L2 when its first tile starts: ResNet-18's 7x7 512-channel layers stream
    # 9.4 MB of weights each and ran ~1.4x slower in the model than alone with the weights in cache
    if s["order"] == "ji":
        pf = (f"(uintptr_t)(bp + (jr + {nr} < nc || jc + {NC} < N ? jr + {nr} : jr) * K) + (uintptr_t)(ir / {mr} * K * pfs)",
              f"pfs = ({nr} + (mc + {mr - 1}) / {mr} - 1) / ((mc + {mr - 1}) / {mr}) * (int64_t)sizeof(float)")
    else:
        pf = ("(uintptr_t)(bp + jr * K)", "pfs = 0")

    span = ", OW, row_step" if s.get("span") and s.get("pad") else ""

    def nest(par: bool) -> str:
        omp_for = "        SDK_OMP(for collapse(2) schedule(static) nowait) /* disjoint tiles of Y */\n" if par else ""
        return f"""  for (int64_t jc = 0; jc < N; jc += {NC}) {{
    const int64_t nc = sdk_t_min({NC}, N - jc);
    const float *bp = B + (jc / {NC}) * {-(-NC // nr) * nr} * K;
    for (int64_t ic = 0; ic < M; ic += {MC}) {{
      const int64_t mc = sdk_t_min({MC}, M - ic), {pf[1]}; /* bytes of the next panel a tile prefetches per k */
{omp_for}        for (int64_t {v1} = 0; {v1} < {e1}; {v1} += {s1})
          for (int64_t {v2} = 0; {v2} < {e2}; {v2} += {s2}) {{
            const int64_t rows = sdk_t_min({mr}, mc - ir), cols = sdk_t_min({nr}, nc - jr);
            const int64_t yo = (jc + jr) * ldy + ic + ir;
            {name}_ukr_t(K, {a_tile}, a_rs, a_cs, {off}, bp + jr * K, Y + yo, ldy, rows, cols,
                         bias ? bias + jc + jr : NULL, R ? R + yo : NULL, {pf[0]}, (uintptr_t)pfs{span});
          }}
    }}
  }}"""

    return f"""static void {name}_mm_t(int64_t M, int64_t N, int64_t K, const float *A, int64_t a_rs, int64_t a_cs,
    {extra}const float *B, float *Y, int64_t ldy, const float *bias, const float *R) {{
#if defined(_OPENMP)
  if (M * N * K >= SDK_PAR_MIN_WORK && omp_get_max_threads() > 1) {{
    SDK_OMP(parallel)
{nest(True)}
    return;
  }}
#endif
{nest(False)}
}}
"""


def conv_t_floats_per_group(s: Dict, cout: int, kg: int) -> int:
    """Floats of one group's packed transposed weights (``pack_b_const`` of a [kg, cout] matrix, kc = kg)."""
    nr, NC = s["nv"] * s["lanes"], s["nc"]
    return sum(-(-min(NC, cout - jc) // nr) * nr for jc in range(0, cout, NC)) * kg


def _im2col(name: str) -> str:
    """col[k, p] = image[c, oh*SH - PH + kh*DH, ow*SW - PW + kw*DW] (0 outside), k = (c, kh, kw), p = (oh - oh0, ow)
    for the output rows oh0 <= oh < oh0 + rows: the A operand of a spatial-rows convolution (read as A[p, k] =
    col[k * ldc + p]), copied run by run along output rows."""
    return f"""static void {name}_im2col(const float *restrict x, int64_t H, int64_t W, int64_t OW,
    int64_t KH, int64_t KW, int64_t SH, int64_t SW, int64_t PH, int64_t PW, int64_t DH, int64_t DW, int64_t K,
    float *restrict col, int64_t ldc, int64_t oh0, int64_t rows) {{
  const int64_t taps = KH * KW;
  SDK_OMP(parallel for schedule(static) if (K * rows * OW >= SDK_PAR_MIN_WORK / 64 && omp_get_max_threads() > 1))
  for (int64_t k = 0; k < K; ++k) {{
    const int64_t c = k / taps, t = k % taps, kh = t / KW, kw = t % KW, iw0 = kw * DW - PW;
    const float *xc = x + c * H * W;
    float *restrict d = col + k * ldc;
    int64_t lo = 0, hi = OW; /* iw0 + u*SW in [0, W) for u in [lo, hi): the same for every output row */
    while (lo < OW && iw0 + lo * SW < 0) ++lo;
    while (hi > lo && iw0 + (hi - 1) * SW >= W) --hi;
    for (int64_t oh = oh0; oh < oh0 + rows; ++oh, d += OW) {{
      const int64_t ih = oh * SH - PH + kh * DH;
      if (ih < 0 || ih >= H) {{
        for (int64_t u = 0; u < OW; ++u) d[u] = 0.0f;
        continue;
      }}
      const float *xr = xc + ih * W + iw0;
      for (int64_t u = 0; u < lo; ++u) d[u] = 0.0f;
      if (SW == 1)
        for (int64_t u = lo; u < hi; ++u) d[u] = xr[u];
      else if (SW == 2)
        for (int64_t u = lo; u < hi; ++u) d[u] = xr[2 * u];
      else
        for (int64_t u = lo; u < hi; ++u) d[u] = xr[u * SW];
      for (int64_t u = hi; u < OW; ++u) d[u] = 0.0f;
    }}
  }}
}}
"""


def conv_t_source(name: str, s: Dict, workload, epilogue=None) -> str:
    """A convolution computed as Y^T = X^T W^T (see above); ``Wt`` is ``pack_conv_t_const``'s output. A pointwise
    one reads the image as X^T in place; any other (one group) first copies its im2col into the scratch."""
    p = workload.p
    cout, kg = p["M"] // p["groups"], p["C"] // p["groups"] * p["KH"] * p["KW"]
    per_group = conv_t_floats_per_group(s, cout, kg)
    act = act_expr(epilogue)
    pad = bool(s.get("pad")) and not workload.pointwise
    parts = [PRELUDE, vec_prelude(s["lanes"]), _ukr_t(name, dict(s, pad=pad), act, p["SW"] if pad else 1),
             _mm_t(name, dict(s, pad=pad))]
    r_arg = "R ? R + (n * M + g * cout) * plane : NULL" if epilogue else "NULL"
    r_band = "R ? R + n * M * plane + oh0 * OW : NULL" if epilogue else "NULL"
    if workload.pointwise:
        parts.append(f"""static void {name}({_params("conv2d", epilogue)}) {{
  const int64_t cin = C / groups, cout = M / groups, plane = OH * OW;
  (void)H; (void)W; (void)KH; (void)KW; (void)SH; (void)SW; (void)PH; (void)PW; (void)DH; (void)DW; (void)scratch;
  for (int64_t n = 0; n < N; ++n)
    for (int64_t g = 0; g < groups; ++g)
      {name}_mm_t(plane, cout, cin, X + (n * C + g * cin) * plane, 1, plane, Wt + g * {per_group},
                  Y + (n * M + g * cout) * plane, plane, bias ? bias + g * cout : NULL, {r_arg});
}}
""")
        return "".join(parts)
    if p["groups"] != 1:
        raise ValueError("a spatial-rows convolution with a kernel wider than 1x1 has one group")
    parts.insert(2, _im2col(name))
    if pad:
        parts.insert(3, _pad_image(name))
        mr, SW = s["mr"], p["SW"]
        whole = f"{mr} % OW" if s.get("span") and s.get("pad") else f"OW % {mr}"  # tiles of whole rows / rows of whole tiles
        parts.append(f"""static void {name}({_params("conv2d", epilogue)}) {{
  /* the image zero-padded to the lines and columns the taps read; tiles of {mr} pixels of one output row read their
     columns straight from it: A[p, k] = xp[line(p) + off[k]], k = (c, kh, kw) */
  const int64_t plane = OH * OW, g = 0, cout = M, K = C * KH * KW;
  const int64_t HP = (OH - 1) * SH + (KH - 1) * DH + 1, WP = (OW - 1) * SW + (KW - 1) * DW + 1;
  (void)groups;
  if ({whole} != 0 || SW != {SW} || C * HP * WP + K > {s["col"]} || C * HP * WP > INT32_MAX) {{
    /* other dims than the bounds': the im2col copy, in bands of as many output rows as the scratch holds (all of
       them at a stride > 1; at least one, OW <= the bounds' OW) */
    const int64_t fit = ({s["col"]} - K) / (K * OW), band = fit < 1 ? 1 : fit < OH ? fit : OH;
    int32_t *off = (int32_t *)(void *)(scratch + K * band * OW);
    for (int64_t k = 0; k < K; ++k) off[k] = (int32_t)(k * band * OW);
    for (int64_t n = 0; n < N; ++n)
      for (int64_t oh0 = 0; oh0 < OH; oh0 += band) {{
        const int64_t rows = sdk_t_min(band, OH - oh0);
        {name}_im2col(X + n * C * H * W, H, W, OW, KH, KW, SH, SW, PH, PW, DH, DW, K, scratch, band * OW, oh0, rows);
        {name}_mm_t(rows * OW, M, K, scratch, 1, 0, off, rows * OW, 0, Wt, Y + n * M * plane + oh0 * OW, plane, bias,
                    {r_band});
      }}
    return;
  }}
  /* no padding (a 1x1 stride-2 layer): the taps read the image itself, its rows W apart; else the padded copy */
  const int direct = PH == 0 && PW == 0 && C * H * W <= INT32_MAX;
  const int64_t RH = direct ? H : HP, RW = direct ? W : WP;
  int32_t *off = (int32_t *)(void *)(scratch + (direct ? 0 : C * HP * WP));
  for (int64_t k = 0; k < K; ++k) {{
    const int64_t c = k / (KH * KW), t = k % (KH * KW);
    off[k] = (int32_t)(c * RH * RW + (t / KW) * DH * RW + (t % KW) * DW);
  }}
  for (int64_t n = 0; n < N; ++n) {{
    if (!direct)
      {name}_pad(X + n * C * H * W, C, H, W, HP, WP, PH, PW, scratch);
    {name}_mm_t(plane, M, K, direct ? X + n * C * H * W : scratch, SW, 0, off, OW, SH * RW, Wt, Y + n * M * plane,
                plane, bias, {r_arg});
  }}
  (void)g; (void)cout;
}}
""")
        return "".join(parts)
    parts.append(f"""static void {name}({_params("conv2d", epilogue)}) {{
  const int64_t plane = OH * OW, g = 0, cout = M, K = C * KH * KW;
  (void)groups;
  for (int64_t n = 0; n < N; ++n) {{
    {name}_im2col(X + n * C * H * W, H, W, OW, KH, KW, SH, SW, PH, PW, DH, DW, K, scratch, plane, 0, OH);
    {name}_mm_t(plane, M, K, scratch, 1, plane, Wt, Y + n * M * plane, plane, bias, {r_arg});
  }}
  (void)g; (void)cout;
}}
""")
    return "".join(parts)


def _pad_image(name: str) -> str:
    """xp[c, i, j] = x[c, i - PH, j - PW] (0 outside the image) for i < HP, j < WP."""
    return f"""static void {name}_pad(const float *restrict x, int64_t C, int64_t H, int64_t W, int64_t HP, int64_t WP,
    int64_t PH, int64_t PW, float *restrict xp) {{
  const int64_t j0 = PW < WP ? PW : WP, j1 = sdk_t_min(WP, W + PW) > j0 ? sdk_t_min(WP, W + PW) : j0;
  SDK_OMP(parallel for schedule(static) if (C * HP * WP >= SDK_PAR_MIN_WORK / 16 && omp_get_max_threads() > 1))
  for (int64_t c = 0; c < C; ++c)
    for (int64_t i = 0; i < HP; ++i) {{
      float *restrict d = xp + (c * HP + i) * WP;
      const int64_t ih = i - PH;
      if (ih < 0 || ih >= H) {{
        for (int64_t j = 0; j < WP; ++j) d[j] = 0.0f;
        continue;
      }}
      const float *xr = x + (c * H + ih) * W;
      for (int64_t j = 0; j < j0; ++j) d[j] = 0.0f;
      for (int64_t j = j0; j < j1; ++j) d[j] = xr[j - PW];
      for (int64_t j = j1; j < WP; ++j) d[j] = 0.0f;
    }}
}}
"""


def pack_conv_t_const(W, groups: int, s: Dict):
    """Conv weights [M, C/groups, 1, 1] as each group's W_g^T ([kg, cout]) packed for ``_mm_t`` (kc = kg)."""
    import numpy as np
    M = W.shape[0]
    kg = int(np.prod(W.shape[1:]))
    cout = M // groups
    Wm = W.reshape(groups, cout, kg)
    return np.concatenate([pack_b_const(np.ascontiguousarray(Wm[g].T), dict(s, kc=kg)) for g in range(groups)])
