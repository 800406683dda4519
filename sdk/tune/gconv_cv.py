"""Direct grouped convolution with vectors along a group's output channels (RegNetX's 3x3 groups of 16 channels,
ResNeXt's of 16 and 32): the form for groups whose output channels fill whole vectors.

``sdk/tune/gconv.py`` puts its vectors along a flat grid of output pixels, which on small planes leaves lanes empty
(a 7x7 plane: 49 pixels in 64 lanes, and every tile through the scalar store) and at stride 2 needs S x S phase
planes. Here a register tile is ``rb`` output rows x ``pw`` output columns x ``nvec`` vectors of output channels:
each tap loads ``nvec`` weight vectors (the weights packed per group as [channel block][input channel][tap][block
lanes], ``pack_const``) and broadcasts one input value a pixel, so every lane is an output and any stride reads the
image directly. The group's input is copied once into a zero-padded plane per channel (``Hp x Wp``: whole tiles
read zeros past the image, so no bounds checks); a tile past the output's last row or column is computed and the
rest dropped. The tile is stored transposed (a pixel's channels are one vector, the output is NCHW) through a small
stack buffer, with bias and activation on the vectors, a residual after the transpose.

Threads take whole (image, group) pairs with their own padded planes where a stack copy of ``SDK_DW_PAD_FLOATS``
floats holds them; otherwise (fewer pairs than threads, or planes larger than that) they split each group's tiles
over one shared copy, filled together.
"""
from __future__ import annotations

from typing import Dict, Optional

MIN_TAPS = 64  # input channels x kernel taps a group from which the transposed store is worth it (RegNetX: 144)
MAX_NVEC = 2  # vectors of output channels a tile


def _tile_shape(OH: int, OW: int, nvec: int, room: int):
    """(rb, pw): the tile of rb rows x pw columns that computes the fewest pixels past the output's edge, the most
    pixels a tile on a tie, with ``nvec * rb * pw`` accumulators in ``room`` registers."""
    best = None
    for rb in range(1, min(OH, 8) + 1):
        for pw in range(1, min(OW, 32) + 1):
            if nvec * rb * pw > room:
                break
            done = -(-OH // rb) * rb * -(-OW // pw) * pw
            key = (done, -rb * pw, rb)
            if rb * pw >= min(6, OH * OW) and (best is None or key < best[0]):
                best = (key, rb, pw)
    return None if best is None else best[1:]


def schedule(wl, facts) -> Optional[Dict]:
    """The channel-vector form's schedule for conv workload ``wl`` (``{"direct": True, "cv": True, "nvec", "rb",
    "pw", "lanes", "scratch"}``), or None: the layer is not grouped, its groups' output channels are not whole
    vectors, or too few taps a group pay for the transposed store."""
    if wl.kind != "conv2d" or facts.lanes == 1:
        return None
    p = wl.p
    g, L = p["groups"], facts.lanes
    if g == 1 or p["C"] % g or p["M"] % g:
        return None
    cg, mg = p["C"] // g, p["M"] // g
    if mg % L or cg * p["KH"] * p["KW"] < MIN_TAPS or cg == 1 and mg == 1:
        return None
    if p["SH"] != p["SW"] or (p["DH"], p["DW"]) != (1, 1) or p["KH"] * p["KW"] > 49:
        return None
    nvec = max(v for v in range(1, MAX_NVEC + 1) if mg % (v * L) == 0)
    shape = _tile_shape(p["OH"], p["OW"], nvec, facts.registers - nvec * p["KW"] - 2)
    if shape is None:
        return None
    rb, pw = shape
    S = p["SH"]
    Hp, Wp = _padded(p["OH"], p["OW"], p["KH"], p["KW"], S, rb, pw)
    return {"direct": True, "cv": True, "nvec": nvec, "rb": rb, "pw": pw, "lanes": L, "scratch": cg * Hp * Wp}


def _padded(OH, OW, KH, KW, S, rb, pw):
    return -(-OH // rb) * rb * S + KH - S, -(-OW // pw) * pw * S + KW - S


def pack_const(Wt, groups: int, s: Dict):
    """Weights [M, cg, KH, KW] as the kernel reads them: per group, per block of ``nvec * lanes`` output channels,
    per input channel and tap, the block's channels contiguous."""
    M = Wt.shape[0]
    mb = s["nvec"] * s["lanes"]
    mg = M // groups
    w = Wt.reshape(groups, mg // mb, mb, -1)  # [g, block, lane, cg * taps]
    return w.transpose(0, 1, 3, 2).reshape(-1).copy()


def source(name: str, s: Dict, wl, epilogue=None) -> str:
    """C source of the channel-vector kernel ``name`` (``sdk_conv2d_f32``'s parameters, scratch and, with an
    ``epilogue`` (act, a, b, R), the residual R); ``Wt`` comes packed by ``pack_const``."""
    from .gconv import THREAD_HELPERS
    from .kernels import PRELUDE, _act_fn, _params, act_expr, vec_prelude
    p = wl.p
    L, nvec, rb, pw = s["lanes"], s["nvec"], s["rb"], s["pw"]
    g = p["groups"]
    cg, mg, KH, KW, S = p["C"] // g, p["M"] // g, p["KH"], p["KW"], p["SH"]
    taps, mb, P = KH * KW, nvec * L, rb * pw
    V, LD, ST, SP = f"sdk_vf{L}", f"SDK_VLOAD{L}", f"SDK_VSTORE{L}", f"SDK_VSPLAT{L}"
    act = act_expr(epilogue)
    vact = _act_fn(name, s, epilogue) if act else ""
    vec_act = bool(act) and vact is not None and epilogue[3] is None  # on the vectors, else after the residual
    acc = [[[f"a{v}_{r}_{c}" for c in range(pw)] for r in range(rb)] for v in range(nvec)]
    decl = "".join(f"  {V} " + ", ".join(f"{a} = zero" for a in acc[v][r]) + ";\n" for v in range(nvec) for r in range(rb))
    # one loop over (input channel, kernel row): each input value of the tile's rows is broadcast once and feeds
    # every pixel x tap that reads it (KW of them at stride 1) with the row's KW x nvec weight vectors in registers.
    # (One loop over taps, one broadcast a multiply-add, ran at ~60 % of the FMA rate; unrolling all taps let the
    # compiler share broadcasts its own way, and keeping them alive spilled the accumulators.)
    body = ["".join(f"    const {V} w{v}_{kx} = {LD}(wk + {kx * mb + v * L});\n" for kx in range(KW) for v in range(nvec))]
    for r in range(rb):
        for j in range((pw - 1) * S + KW):
            uses = [(kx, (j - kx) // S) for kx in range(KW) if j >= kx and (j - kx) % S == 0 and (j - kx) // S < pw]
            if uses:
                body.append(f"    {{ const {V} x = {SP}(xk[{f'{r * S} * Wp + ' if r else ''}{j}]);"
                            + "".join(f" {acc[v][r][c]} += w{v}_{kx} * x;" for kx, c in uses for v in range(nvec))
                            + " }\n")
    spill = []
    for v in range(nvec):
        spill.append(f"  {{ const {V} bb = bias ? {LD}(bias + {v * L}) : zero;\n")
        for r in range(rb):
            for c in range(pw):
                a_fn = f" {name}_ACT(x);" if vec_act else ""
                spill.append(f"    {{ {V} x = {acc[v][r][c]} + bb;{a_fn} {ST}(t + {(r * pw + c) * mb + v * L}, x); }}\n")
        spill.append("  }\n")
    fin = f"\n        v = {act};" if act and not vec_act else ""
    res = "\n        if (R) v += R[o];" if epilogue else ""
    r_arg = f"R ? R + (n * groups + g) * {mg} * plane : NULL" if epilogue else "NULL"
    return f"""{PRELUDE}{vec_prelude(L)}{vact or ""}
#ifndef SDK_DW_PAD_FLOATS
#define SDK_DW_PAD_FLOATS 0
#endif
#ifndef SDK_GCONV_NO_MEMCPY /* gcc turns a short row copy into a call to memcpy: 7 % of a 14x14 layer's time */
#if defined(__GNUC__) && !defined(__clang__)
#define SDK_GCONV_NO_MEMCPY __attribute__((optimize("no-tree-loop-distribute-patterns")))
#else
#define SDK_GCONV_NO_MEMCPY
#endif
#endif
{THREAD_HELPERS}/* direct grouped convolution, {cg} -> {mg} channels a group, {KH}x{KW} stride {S}, vectors along output channels
 * (sdk/tune/gconv_cv.py): tiles of {rb} rows x {pw} columns x {mb} channels */
/* channels [c0, c1) of one group's image into the interior of zero-padded Hp x Wp planes (row PH, column PW on);
 * ``margins``: also the zeros around it, else they are there (the same for every group: NAME_zero once a call on
 * small planes; a large plane's zeros in one pass cost as much as its copy) */
SDK_GCONV_NO_MEMCPY static void {name}_pad(float *restrict pd, const float *restrict x, int64_t H, int64_t W,
    int64_t PH, int64_t PW, int64_t Hp, int64_t Wp, int64_t c0, int64_t c1, int margins) {{
  const int64_t r1 = PH + H < Hp ? H : Hp - PH, w1 = PW + W < Wp ? W : Wp - PW;
  for (int64_t c = c0; c < c1; ++c) {{
    float *restrict dc = pd + c * Hp * Wp;
    for (int64_t i = 0; margins && i < Hp; ++i)
      if (i < PH || i >= PH + r1)
        for (int64_t j = 0; j < Wp; ++j) dc[i * Wp + j] = 0.0f;
    for (int64_t r = 0; r < r1; ++r) {{
      float *restrict d = dc + (PH + r) * Wp;
      const float *restrict s = x + (c * H + r) * W;
      int64_t j = 0;
      for (; margins && j < PW; ++j) d[j] = 0.0f;
      d += PW;
      for (j = 0; j + {L} <= w1; j += {L}) {ST}(d + j, {LD}(s + j));
      for (; j < w1; ++j) d[j] = s[j];
      for (j = PW + w1; margins && j < Wp; ++j) d[j - PW] = 0.0f;
    }}
  }}
}}

static void {name}_zero(float *restrict pd, int64_t n) {{
  for (int64_t i = 0; i < n; ++i) pd[i] = 0.0f;
}}

/* one tile: xq at the tile's first input (row oy0 * S, column ox0 * S of channel 0), w the channel block's packed
 * weights; the {P} pixels' {mb} channels (bias{" and activation" if vec_act else ""} added) into t, pixel by pixel */
static inline void {name}_tile(const float *restrict xq, const float *restrict w, const float *bias,
    float *restrict t, const int64_t *restrict off, int64_t Wp) {{
  const {V} zero = {SP}(0.0f);
{decl}  for (int64_t k = 0; k < {cg * KH}; ++k) {{ /* input channel x kernel row */
    const float *restrict xk = xq + off[k];
    const float *restrict wk = w + k * {KW * mb};
{"".join(body)}  }}
{"".join(spill)}}}

/* the tiles [ta, tb) (row blocks x column blocks x channel blocks) of one group */
static void {name}_group(const float *restrict pd, const float *restrict wg, const float *bias, float *y,
    const float *R, int64_t OH, int64_t OW, int64_t Hp, int64_t Wp, int64_t ta, int64_t tb) {{
  const int64_t plane = OH * OW, cb = (OW + {pw - 1}) / {pw}, nb = {mg // mb};
  float t[{P * mb}];
  int64_t off[{cg * KH}];
  for (int64_t k = 0; k < {cg * KH}; ++k)
    off[k] = (k / {KH} * Hp + k % {KH}) * Wp;
  for (int64_t k = ta; k < tb; ++k) {{
    const int64_t mblk = k % nb, oy0 = k / nb / cb * {rb}, ox0 = k / nb % cb * {pw}, m0 = mblk * {mb};
    {name}_tile(pd + oy0 * {S} * Wp + ox0 * {S}, wg + mblk * {cg * taps * mb}, bias ? bias + m0 : NULL, t, off, Wp);
    const int64_t nr = OH - oy0 < {rb} ? OH - oy0 : {rb}, nc = OW - ox0 < {pw} ? OW - ox0 : {pw};
    for (int64_t m = 0; m < {mb}; ++m)
      for (int64_t r = 0; r < nr; ++r)
        for (int64_t j = 0; j < nc; ++j) {{
          const int64_t o = (m0 + m) * plane + (oy0 + r) * OW + ox0 + j;
          float v = t[(r * {pw} + j) * {mb} + m];{res}{fin}
          y[o] = v;
        }}
  }}
}}

static void {name}({_params("conv2d", epilogue)}) {{
  const int64_t Hp = (OH + {rb - 1}) / {rb} * {rb * S} + KH - SH, Wp = (OW + {pw - 1}) / {pw} * {pw * S} + KW - SW;
  const int64_t plane = OH * OW, need = {cg} * Hp * Wp;
  const int64_t tiles = (OH + {rb - 1}) / {rb} * ((OW + {pw - 1}) / {pw}) * {mg // mb};
  const int big = N * M * plane * {cg * taps} >= SDK_PAR_MIN_WORK && sdk_gconv_threads() > 1;
  (void)C; (void)DH; (void)DW; (void)SW;
  if (big && (N * groups < sdk_gconv_threads() || need > SDK_DW_PAD_FLOATS)) {{
    /* fewer (image, group) pairs than threads, or planes larger than a thread's stack copy: the threads fill one
     * shared copy together and split its tiles */
    SDK_OMP(parallel)
    {{
      const int64_t nth = sdk_gconv_nth(), per = (tiles + nth - 1) / nth, ta = sdk_gconv_tid() * per;
      for (int64_t ng = 0; ng < N * groups; ++ng) {{
        const int64_t n = ng / groups, g = ng % groups;
        SDK_OMP(for schedule(static)) /* its barrier ends the fill */
        for (int64_t c = 0; c < {cg}; ++c)
          {name}_pad(scratch, X + (n * groups + g) * {cg} * H * W, H, W, PH, PW, Hp, Wp, c, c + 1, 1);
        {name}_group(scratch, Wt + g * {mg * cg * taps}, bias ? bias + g * {mg} : NULL,
                     Y + (n * groups + g) * {mg} * plane, {r_arg}, OH, OW, Hp, Wp, ta, ta + per < tiles ? ta + per : tiles);
        SDK_OMP(barrier) /* the copy is refilled for the next group */
      }}
    }}
    return;
  }}
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
    const int margins = need > SDK_DW_PAD_FLOATS; /* a large plane's zeros with each copy */
    if (!margins)
      {name}_zero(pd, need);
    SDK_OMP(for schedule(static))
    for (int64_t ng = 0; ng < N * groups; ++ng) {{
      const int64_t n = ng / groups, g = ng % groups;
      {name}_pad(pd, X + (n * groups + g) * {cg} * H * W, H, W, PH, PW, Hp, Wp, 0, {cg}, margins);
      {name}_group(pd, Wt + g * {mg * cg * taps}, bias ? bias + g * {mg} : NULL,
                   Y + (n * groups + g) * {mg} * plane, {r_arg}, OH, OW, Hp, Wp, 0, tiles);
    }}
  }}
}}
"""
