"""Direct kernel for grouped convolutions with few channels a group (RegNet's 3x3 groups of 8 to 16 channels,
ResNeXt's of 4 to 32).

As an im2col GEMM such a layer is, per group, an [8 x 72] x [72 x plane] product whose B is packed from the image
on every call (nine copies of each input value) and whose register tile is one row of tiles. This kernel instead
copies each group's input channels once into zero-padded *phase planes* (stride S: S x S planes, plane (py, px)
holding the padded image's rows py, py + S, ... and columns px, px + S, ...; stride 1: the padded image itself),
each ``Wq = OW + (KW - 1) / S`` wide. Output pixel (oy, ox) then sits at ``q = oy * Wq + ox`` of a flat grid and
tap (ky, kx) reads phase plane (ky % S, kx % S) at ``q + (ky / S) * Wq + kx / S``: contiguous vector loads, no
bounds checks. The register tile is the group's ``MG`` output channels x ``nv`` vectors of consecutive q; each
loaded input vector feeds ``MG`` multiply-adds with the tap's weights broadcast. The (KW - 1) / S columns past OW
of each grid row are computed and dropped when the tile is stored (with bias, residual and activation).

Chosen by ``schedule`` for a float32 convolution with groups > 1 and at most ``MAX_GROUP`` channels a group in and
out, or one group with a stem's few input channels (``STEM_TAPS`` taps at most, a kernel wider than 1x1, up to 64
output channels: the register tile then takes blocks of the output channels), equal strides, dilation 1 and a C compiler (the kernel is C only, like the spatial-rows schedule): without a
tuning record it replaces the im2col GEMM's default schedule (``sdk/tune/apply.py``). Threads split the
(image, group) pairs; each thread needs its own phase planes: the plan's scratch for the first, a stack copy of
``SDK_DW_PAD_FLOATS`` floats (the profile's depthwise fact) for the others, else one thread. With fewer pairs than
threads (a stem) the threads split each group's tiles over one shared copy instead.
"""
from __future__ import annotations

from typing import Dict, Optional

# channels a group (in and out) up to which the direct kernel is chosen: 32 covers ResNeXt-50 32x4d's last stage
# (32 groups of 32 on 7x7 planes), whose im2col GEMMs (M = 32 rows a group) ran 961 us against 443 us direct at stride
# 1 and 902 against 600 us at stride 2 (1024 channels, one thread, AVX-512, onnxruntime 342 / 398 us in the same
# run; bench/RESULTS_zoo.md); the register tile still takes blocks of at most 16 output channels
MAX_GROUP = 32
STEM_CHANNELS = 16  # one group: input channels up to which it is chosen
STEM_TAPS = 160  # one group: taps (input channels x kernel) up to which it is chosen (3-channel stems: 3x3 27, 7x7 147)


# the thread helpers of the grouped-convolution kernels (gconv_cv.py prints them too; the guard keeps one copy)
THREAD_HELPERS = """#ifndef SDK_GCONV_MAX_THREADS
#define SDK_GCONV_MAX_THREADS
#ifdef _OPENMP
static inline int sdk_gconv_threads(void) { return omp_get_max_threads(); }
static inline int sdk_gconv_tid(void) { return omp_get_thread_num(); }
static inline int sdk_gconv_nth(void) { return omp_get_num_threads(); }
#else
static inline int sdk_gconv_threads(void) { return 1; }
static inline int sdk_gconv_tid(void) { return 0; }
static inline int sdk_gconv_nth(void) { return 1; }
#endif
#endif
"""


def _geometry(p: Dict[str, int]):
    S = p["SH"]
    Wq = p["OW"] + (p["KW"] - 1) // S
    Hq = p["OH"] + (p["KH"] - 1) // S
    return S, Hq, Wq, (p["OH"] - 1) * Wq + p["OW"]


def schedule(wl, facts, cv: bool = True) -> Optional[Dict]:
    """The direct kernel's schedule for conv workload ``wl`` (``{"direct": True, "mb", "nv", "lanes",
    "scratch"}``: blocks of ``mb`` output channels x ``nv`` vectors), or None when the layer is not one it takes.
    Groups whose output channels fill whole vectors take the channel-vector form (``gconv_cv``) unless ``cv`` is
    False (its weights are not a constant to pack)."""
    from . import gconv_cv
    s = gconv_cv.schedule(wl, facts) if cv else None
    if s is not None:
        return s
    if wl.kind != "conv2d" or facts.lanes == 1:
        return None
    p = wl.p
    g = p["groups"]
    if p["C"] % g or p["M"] % g:
        return None
    cg, mg = p["C"] // g, p["M"] // g
    if g > 1 and (cg > MAX_GROUP or mg > MAX_GROUP or cg == 1 and mg == 1 and g == p["C"]):
        return None  # depthwise layers have their own kernel
    if g == 1 and (cg > STEM_CHANNELS or p["KH"] * p["KW"] == 1 or cg * p["KH"] * p["KW"] > STEM_TAPS or mg > 64):
        return None  # one group: a stem's few input channels (deeper and pointwise layers are GEMMs worth the name)
    if p["SH"] != p["SW"] or (p["DH"], p["DW"]) != (1, 1) or p["KH"] * p["KW"] > 49:
        return None
    L, R = facts.lanes, facts.registers
    S, Hq, Wq, nq = _geometry(p)
    cands = [(mb, v) for mb in range(1, min(mg, 16) + 1) if mg % mb == 0  # at most 16 accumulator rows
             for v in range(1, 5) if mb * v + v + 1 <= R]
    if not cands:
        return None
    # the largest register tile among those that pad the flat grid (a 7x7 plane: 61 lanes of work) within 2 % of the
    # least padding, more output channels (fewer loads a multiply-add) on a tie
    def used(c):
        return nq / (-(-nq // (c[1] * L)) * c[1] * L)
    top = max(used(c) for c in cands)
    mb, nv = max((c for c in cands if used(c) >= top - 0.02), key=lambda c: (c[0] * c[1], c[0]))
    return {"direct": True, "mb": mb, "nv": nv, "lanes": L, "scratch": cg * S * S * Hq * Wq + nv * L}


def source(name: str, s: Dict, wl, epilogue=None, entry: bool = True) -> str:
    """C source of the direct kernel ``name`` (the scheduled conv2d parameters: ``sdk_conv2d_f32``'s, scratch and,
    with an ``epilogue`` (act, a, b, R), the residual R). ``entry`` False: only its ``{name}_fill`` and
    ``{name}_group`` helpers (a fused kernel's parts: ``conv_pool.py``)."""
    from .kernels import PRELUDE, _act_fn, _params, act_expr, even_copy, even_lanes, vec_prelude
    p = wl.p
    L, nv, mb = s["lanes"], s["nv"], s["mb"]
    g = p["groups"]
    cg, mg, KH, KW = p["C"] // g, p["M"] // g, p["KH"], p["KW"]
    S = p["SH"]
    act = act_expr(epilogue)
    V = f"sdk_vf{L}"
    T = nv * L
    r_arg = f"R ? R + (n * groups + g) * {mg} * plane : NULL" if epilogue else "NULL"
    taps = []
    for ky in range(KH):
        for kx in range(KW):
            off = f"{(ky % S) * S + kx % S} * pl + {ky // S} * Wq + {kx // S}"
            loads = "".join(f"      const {V} x{v} = SDK_VLOAD{L}(xp + {off} + {v * L});\n" for v in range(nv))
            fmas = "".join(f"      a{m}_{v} += x{v} * SDK_VSPLAT{L}(wc[{m * cg * KH * KW + ky * KW + kx}]);\n"
                           for m in range(mb) for v in range(nv))
            taps.append(f"    {{\n{loads}{fmas}    }}\n")
    decl = "".join(f"    {V} " + ", ".join(f"a{m}_{v} = zero" for v in range(nv)) + ";\n" for m in range(mb))
    spill = "".join(f"    SDK_VSTORE{L}(t + {m * T + v * L}, a{m}_{v});\n" for m in range(mb) for v in range(nv))
    res = "\n          if (R) v += R[o + k];" if epilogue else ""
    # a tile inside one output row (no grid column past OW in it) is stored from the registers: bias, residual and
    # activation on the vectors, in the scalar path's order (the same floats). SqueezeNet's 3x3 stem (27 taps a
    # tile) spent about a third of its time in the scalar store path
    vact = _act_fn(name, s, epilogue) if act else ""
    fast = masks = ""
    if vact is not None:
        rows = []
        for m in range(mb):
            rows.append(f"      {{ const {V} bb = SDK_VSPLAT{L}(bias ? bias[m0 + {m}] : 0.0f);\n"
                        f"        float *yo = y + (m0 + {m}) * ys + (oy0 - yr0) * OW + ox0;\n")
            for v in range(nv):
                r_add = (f" if (R) x += SDK_VLOAD{L}(R + (yo - y) + {v * L});" if epilogue else "")
                a_fn = f" {name}_ACT(x);" if act else ""
                rows.append(f"        {{ {V} x = a{m}_{v} + bb;{r_add}{a_fn} SDK_VSTORE{L}(yo + {v * L}, x); }}\n")
            rows.append("      }\n")
        fast = (f"    if (ox0 + {T} <= OW) {{ /* one run of one output row: stored from the registers */\n"
                + "".join(rows) + "      continue;\n    }\n")
        if L == 16:
            # a tile across output rows, 16 lanes (AVX-512), no residual: each vector's pixels are at most two runs
            # (the row's rest, then the next row's start; the grid columns past OW between them dropped), each one
            # masked store from the registers (kmask: the tile's masks and offsets, computed once per tile). The
            # scalar path below was ~45% of SqueezeNet's stem (3 of 7 tiles of 48 cross a 112-column grid row)
            rows = []
            for m in range(mb):
                rows.append(f"      {{ const {V} bb = SDK_VSPLAT{L}(bias ? bias[m0 + {m}] : 0.0f);\n"
                            f"        float *ym = y + (m0 + {m}) * ys;\n")
                for v in range(nv):
                    a_fn = f" {name}_ACT(x);" if act else ""
                    rows.append(f"        {{ {V} x = a{m}_{v} + bb;{a_fn} _mm512_mask_storeu_ps(ym + o1[{v}], k1[{v}], "
                                f"(__m512)x); _mm512_mask_storeu_ps(ym + o2[{v}], k2[{v}], (__m512)x); }}\n")
                rows.append("      }\n")
            fast += ("#if SDK_GCONV_MASKED16\n    if (kmask) { /* across rows: two masked stores a vector */\n"
                     + "".join(rows) + "      continue;\n    }\n#endif\n")
            masks = f"""#if SDK_GCONV_MASKED16
    /* lanes [0, a) of vector v are pixels of grid row oy, lanes [b, lanes) of row oy + 1 (b = Wq - ox: 16 - b <= OW
     * pixels, so one row crossing at most); their outputs start at o1 and, shifted down by b, o2 */
    __mmask16 k1[{nv}], k2[{nv}];
    int64_t o1[{nv}], o2[{nv}];
    const int kmask = !R && OW >= 16 && !(ox0 + {T} <= OW);
    for (int64_t v = 0; kmask && v < {nv}; ++v) {{
      const int64_t gq = q0 + v * 16, oy = gq / Wq, ox = gq % Wq, b = Wq - ox;
      const int64_t lanes = n - v * 16 < 0 ? 0 : n - v * 16 > 16 ? 16 : n - v * 16;
      const int64_t a = OW - ox < 0 ? 0 : OW - ox < lanes ? OW - ox : lanes;
      k1[v] = (__mmask16)((1u << a) - 1u);
      o1[v] = (oy - yr0) * OW + ox;
      k2[v] = b < lanes ? (__mmask16)(((1u << lanes) - 1u) & ~((1u << b) - 1u)) : 0;
      o2[v] = b < lanes ? (oy + 1 - yr0) * OW - b : o1[v];
    }}
#endif
"""
    fin = f"\n          v = {act};" if act else ""
    # stride 2: the phase planes' even columns in whole vectors where the image row holds them (column 2 (j + L) - 1
    # + px - PW < W); the stem's scalar fill was ~3 % of ResNet-18's 7x7/2 stem
    ev = S == 2 and L > 1
    copy = (even_copy(L, "dr", "xr", "j0", "j1", lambda e: f"2 * ({e} + {L}) + px - PW <= W").replace("\n        ", "\n      ")
            if ev else f"for (int64_t j = j0; j < j1; ++j) dr[j] = xr[j * {S}];")
    parts = f"""{PRELUDE}{vec_prelude(L)}{even_lanes(L) if ev else ""}{vact or ""}
#ifndef SDK_DW_PAD_FLOATS
#define SDK_DW_PAD_FLOATS 0
#endif
#ifndef SDK_GCONV_MASKED16 /* AVX-512 masked stores for 16-lane tiles across output rows (-DSDK_GCONV_MASKED16=0: off) */
#if defined(__AVX512F__)
#include <immintrin.h>
#define SDK_GCONV_MASKED16 1
#else
#define SDK_GCONV_MASKED16 0
#endif
#endif
{THREAD_HELPERS}/* direct grouped convolution, {cg} -> {mg} channels a group, {KH}x{KW} stride {S} (sdk/tune/gconv.py) */
/* phase planes [p0, p1) of the {cg * S * S} (channel, row phase, column phase) planes */
static void {name}_fill(float *restrict pd, const float *restrict x, int64_t H, int64_t W, int64_t PH,
    int64_t PW, int64_t Hq, int64_t Wq, int64_t p0, int64_t p1) {{
  const int64_t pl = Hq * Wq;
  for (int64_t p = p0; p < p1; ++p) {{
    const int64_t c = p / {S * S}, py = p / {S} % {S}, px = p % {S};
    float *restrict d = pd + p * pl;
    const float *restrict xc = x + c * H * W;
    /* columns j in [j0, j1) read the image (col = j S + px - PW in [0, W)); the others and rows outside it are 0 */
    int64_t j0 = PW - px > 0 ? (PW - px + {S - 1}) / {S} : 0, j1 = W + PW - px > 0 ? (W + PW - px + {S - 1}) / {S} : 0;
    j1 = j1 < Wq ? j1 : Wq;
    j0 = j0 < j1 ? j0 : j1;
    for (int64_t i = 0; i < Hq; ++i) {{
      const int64_t r = i * {S} + py - PH;
      float *restrict dr = d + i * Wq;
      if (r < 0 || r >= H) {{
        for (int64_t j = 0; j < Wq; ++j) dr[j] = 0.0f;
        continue;
      }}
      const float *restrict xr = xc + r * W + px - PW;
      for (int64_t j = 0; j < j0; ++j) dr[j] = 0.0f;
      {"int64_t u;" if ev else ""}
      {copy}
      for (int64_t j = j1; j < Wq; ++j) dr[j] = 0.0f;
    }}
  }}
}}

/* the tiles q0 = qa, qa + {T}, ... below qb of one group (a tile's grid positions from qb on are not stored); output
 * row oy of channel m at y + m * ys + (oy - yr0) * OW (the whole plane: ys = OH * OW, yr0 = 0) */
static void {name}_group(const float *restrict pd, const float *restrict wg, const float *bias, float *y,
    const float *R, int64_t OH, int64_t OW, int64_t Hq, int64_t Wq, int64_t qa, int64_t qb, int64_t ys, int64_t yr0) {{
  const int64_t pl = Hq * Wq, nq = (OH - 1) * Wq + OW;
  const {V} zero = SDK_VSPLAT{L}(0.0f);
  qb = qb < nq ? qb : nq;
  /* blocks of {mb} output channels outermost: a block's tiles write {mb} output planes at a time (all {mg} at once
   * cost RegNetX's 3 -> 32 stem 430 against 360 us in the model, where its 1.6 MB output starts cold) and re-read
   * the phase planes from cache */
  for (int64_t mo = 0; mo < {mg}; mo += {mb}) {{
  for (int64_t q0 = qa; q0 < qb; q0 += {T}) {{
    float t[{mb * T}];
    const int64_t n = qb - q0 < {T} ? qb - q0 : {T}, oy0 = q0 / Wq, ox0 = q0 % Wq;
{masks}    for (int64_t m0 = mo; m0 < mo + {mb}; m0 += {mb}) {{
{decl}    for (int64_t c = 0; c < {cg}; ++c) {{
      const float *xp = pd + c * {S * S} * pl + q0;
      const float *wc = wg + m0 * {cg * KH * KW} + c * {KH * KW};
{"".join(taps)}    }}
{fast}{spill}    /* the tile's grid positions q0 .. q0 + {T} - 1 that are output pixels, with bias, residual, activation */
    for (int64_t m = 0; m < {mb}; ++m) {{
      const float b = bias ? bias[m0 + m] : 0.0f;
      const float *restrict tm = t + m * {T};
      int64_t oy = oy0, ox = ox0;
      for (int64_t j = 0; j < n;) {{ /* runs of the tile along one grid row; the first OW - ox of each are pixels */
        const int64_t run = Wq - ox < n - j ? Wq - ox : n - j;
        const int64_t cnt = ox >= OW ? 0 : OW - ox < run ? OW - ox : run;
        const int64_t o = (m0 + m) * ys + (oy - yr0) * OW + ox;
        for (int64_t k = 0; k < cnt; ++k) {{
          float v = tm[j + k] + b;{res}{fin}
          y[o + k] = v;
        }}
        j += run;
        ox += run;
        if (ox == Wq) {{
          ox = 0;
          ++oy;
        }}
      }}
    }}
    }}
  }}
  }}
}}
{{entry_fn}}"""
    if not entry:
        return parts.replace("{entry_fn}", "")
    return parts.replace("{entry_fn}", f"""
static void {name}({_params("conv2d", epilogue)}) {{
  const int64_t Hq = OH + (KH - 1) / SH, Wq = OW + (KW - 1) / SW, plane = OH * OW;
  const int64_t need = {cg * S * S} * Hq * Wq + {T};
  const int big = N * M * plane * {cg * KH * KW} >= SDK_PAR_MIN_WORK && sdk_gconv_threads() > 1;
  const int64_t nq = (OH - 1) * Wq + OW;
  (void)C; (void)DH; (void)DW;
  if (big && N * groups < sdk_gconv_threads()) {{
    /* fewer images x groups than threads (a stem): the threads split each group's tiles over one shared copy */
    SDK_OMP(parallel)
    {{
      const int64_t nth = sdk_gconv_nth(), per = (nq + {T} * nth - 1) / ({T} * nth) * {T}, qa = sdk_gconv_tid() * per;
      for (int64_t ng = 0; ng < N * groups; ++ng) {{
        const int64_t n = ng / groups, g = ng % groups;
        SDK_OMP(single nowait)
        for (int64_t i = need - {T}; i < need; ++i) scratch[i] = 0.0f;
        SDK_OMP(for schedule(static)) /* the threads fill the phase planes together; its barrier ends the fill */
        for (int64_t p = 0; p < {cg * S * S}; ++p)
          {name}_fill(scratch, X + (n * groups + g) * {cg} * H * W, H, W, PH, PW, Hq, Wq, p, p + 1);
        {name}_group(scratch, Wt + g * {mg * cg * KH * KW}, bias ? bias + g * {mg} : NULL,
                     Y + (n * groups + g) * {mg} * plane, {r_arg}, OH, OW, Hq, Wq, qa, qa + per, plane, 0);
        SDK_OMP(barrier) /* the copy is refilled for the next group */
      }}
    }}
    return;
  }}
  /* threads take whole groups, each with its own phase planes, where a stack copy holds them; else one thread
   * runs the layer (splitting each group's tiles over a shared copy measured 16x slower on two threads than on one
   * for RegNetY's first grouped layer, 357 us -> 5.6 ms: a fill and a barrier per group of 8 channels) */
  const int par = big && need <= SDK_DW_PAD_FLOATS;
  (void)par;
  SDK_OMP(parallel if(par))
  {{
#if SDK_DW_PAD_FLOATS > 0 && defined(_OPENMP)
    float own[SDK_DW_PAD_FLOATS];
    float *const pd = par && omp_get_thread_num() > 0 ? own : scratch;
#else
    float *const pd = scratch;
#endif
    /* the over-read past the last phase plane (the last tile's unused lanes) reads zeros */
    for (int64_t i = need - {T}; i < need; ++i) pd[i] = 0.0f;
    SDK_OMP(for schedule(static))
    for (int64_t ng = 0; ng < N * groups; ++ng) {{
      const int64_t n = ng / groups, g = ng % groups;
      {name}_fill(pd, X + (n * groups + g) * {cg} * H * W, H, W, PH, PW, Hq, Wq, 0, {cg * S * S});
      {name}_group(pd, Wt + g * {mg * cg * KH * KW}, bias ? bias + g * {mg} : NULL,
                   Y + (n * groups + g) * {mg} * plane, {r_arg}, OH, OW, Hq, Wq, 0, nq, plane, 0);
    }}
  }}
}}
""")
