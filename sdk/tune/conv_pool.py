"""A stem convolution fused with the max pooling after it (ResNet's 7x7/2 stem + 3x3/2 pool, SqueezeNet's 3x3/2
stem + 3x3/2 pool).

The pass (``fuse_conv_maxpool``, Program -> Program, run by ``apply_schedules`` after the schedules are given) takes a
convolution that runs the direct kernel with one group (``gconv.py``: a stem's few input channels), its activation
folded in, followed by a float32 ``sdk_pool2d_f32`` max pooling (dilation 1, static dims) that is the only reader of
its output, and replaces the two calls by one generated kernel (declaration ``CONV_MAXPOOL_F32``). The kernel fills
the stem's phase planes once, as the direct kernel does, then walks the pooled output in bands of ``rows`` pooled
rows: the convolution rows a band's windows read are computed (the direct kernel's tiles over those grid rows, bias
and activation on the registers) into a small band buffer of all channels, pooled from there at once (column maxima
down the window's rows, then across its columns, NaN sticking, in the runtime's order: the same floats as
``sdk_pool2d_f32``), and the rows the next band's windows share are moved to the buffer's top instead of computed
again. The convolution's output (ResNet-18: 3.2 MB, more than the 2 MiB L2 of the Xeon it was measured on) never
goes to memory whole, and the arena no longer holds it. Threads split the pooled rows, each with its own band buffer
(``BAND_THREADS`` of them in the plan's scratch; more threads than that: that many run it), after filling the phase
planes together.
"""
from __future__ import annotations

from typing import Dict, Optional

from ..kernels.interface import LibKernel, Param
from ..tir.expr import Buffer, Kernel, LibCall

BAND_THREADS = 4   # band buffers in the scratch: threads that run a fused kernel at most
BAND_ROWS = 8      # pooled rows a band (the default schedule)


def _i64(*names):
    return tuple(Param(n, "int64_t") for n in names)


CONV_MAXPOOL_F32 = LibKernel(
    "sdk_conv2d_maxpool_f32",  # generated only (sdk/tune/conv_pool.py): no runtime_c implementation
    _i64("N", "C", "H", "W", "M", "OH", "OW", "KH", "KW", "SH", "SW", "PH", "PW", "DH", "DW", "groups")
    + (Param("X", "const float *"), Param("Wt", "const float *"), Param("bias", "const float *", nullable=True))
    + _i64("POH", "POW", "PKH", "PKW", "PSH", "PSW", "PPH", "PPW")
    + (Param("Y", "float *"), Param("scratch", "float *")))


def _up16(n: int) -> int:
    return -(-n // 16) * 16


def band_floats(p: Dict[str, int], pool: Dict[str, int], rows: int) -> int:
    """Floats of one thread's band buffer: the convolution rows ``rows`` pooled rows read, all channels."""
    conv_rows = min(p["OH"], (rows - 1) * pool["SH"] + pool["KH"])
    return _up16(p["M"] * conv_rows * p["OW"])


def scratch_floats(sched: Dict, p: Dict[str, int], pool: Dict[str, int]) -> int:
    return _up16(sched["scratch"] + 16) + BAND_THREADS * band_floats(p, pool, sched["pool_rows"])


def _pool_of(step) -> Optional[Dict[str, int]]:
    """The geometry of a float32 max pooling call that the fused kernel takes (static, dilation 1), or None."""
    if not isinstance(step, LibCall) or step.fn != "sdk_pool2d_f32" or step.impl is not None or step.guard:
        return None
    names = ("N", "C", "H", "W", "OH", "OW", "KH", "KW", "SH", "SW", "PH", "PW", "DH", "DW", "PH_END", "PW_END", "mode")
    g = {n: step.arg(n) for n in names}
    if not all(isinstance(v, int) for v in g.values()) or g["mode"] != 0 or (g["DH"], g["DW"]) != (1, 1):
        return None
    if g["PH"] >= g["KH"] or g["PW"] >= g["KW"] or min(g["OH"], g["OW"]) < 1:
        return None  # a window wholly in the padding has no maximum here
    return g


def _reads(step):
    if isinstance(step, LibCall):
        return [a for a in step.args if isinstance(a, Buffer) and all(a is not o for o in step.outputs)]
    if isinstance(step, Kernel):
        return list(step.inputs)
    return []


def fuse_conv_maxpool(prog, rows: int = BAND_ROWS) -> int:
    """Replace each direct one-group convolution + max pooling pair (see the module's text) by one fused call;
    returns how many. Steps are rewritten in place; the convolution's output leaves the program's temps."""
    n_fused = 0
    i = 0
    while i + 1 < len(prog.steps):
        step, nxt = prog.steps[i], prog.steps[i + 1]
        s, wl = getattr(step, "schedule", None), getattr(step, "workload", None)
        pool = _pool_of(nxt)
        ok = (isinstance(step, LibCall) and s is not None and s.get("direct") and not s.get("cv") and wl is not None
              and pool is not None and not step.guard and step.impl is not None)
        if ok:
            p = wl.p
            y = step.arg("Y")
            epi = (step.generated or {}).get("epilogue")
            ok = (p["groups"] == 1 and nxt.arg("X") is y and (epi is None or epi[3] is None)
                  and all(isinstance(v, int) for v in p.values())
                  and (pool["N"], pool["C"], pool["H"], pool["W"]) == (p["N"], p["M"], p["OH"], p["OW"])
                  and prog.root(y) is y and all(o is not y for o in prog.outputs) and id(y) not in prog.alias.values()
                  and not any(y is b or prog.root(b) is y for j, t in enumerate(prog.steps) if j not in (i, i + 1)
                              for b in _reads(t) + list(getattr(t, "outputs", []))))
        if not ok:
            i += 1
            continue
        old = step.args[len(step.decl.params)]  # the scheduled call's scratch (Tuning.extra)
        # bands of `rows` pooled rows, fewer where the band buffers would take more than the convolution's output
        # they replace (small planes): the arena must not grow; none fit: not fused
        room = old.shape[0] + p["N"] * p["M"] * p["OH"] * p["OW"]
        r = rows
        while r > 1 and scratch_floats(dict(s, pool_rows=r), p, pool) > room:
            r //= 2
        if scratch_floats(dict(s, pool_rows=r), p, pool) > room:
            i += 1
            continue
        sched = dict(s, pool_rows=r)
        scratch = Buffer(old.name, (scratch_floats(sched, p, pool),), "float32")
        prog.temps = [t for t in prog.temps if t is not y and t is not old] + [scratch]
        args = {k: step.arg(k) for k in ("N", "C", "H", "W", "M", "OH", "OW", "KH", "KW", "SH", "SW", "PH", "PW",
                                         "DH", "DW", "groups", "X", "Wt", "bias")}
        args.update(POH=pool["OH"], POW=pool["OW"], PKH=pool["KH"], PKW=pool["KW"], PSH=pool["SH"], PSW=pool["SW"],
                    PPH=pool["PH"], PPW=pool["PW"], Y=nxt.arg("Y"), scratch=scratch)
        call = CONV_MAXPOOL_F32.call(**args)
        call.fn, call.header = step.fn, None
        call.impl = source(step.fn, sched, wl, pool, epi)
        call.schedule = sched
        call.epilogue = step.epilogue
        prog.steps[i:i + 2] = [call]
        origin = prog.origin
        if step.fn in origin or getattr(nxt, "fn", None) in origin:
            origin[step.fn] = origin.get(step.fn, []) + origin.get(nxt.fn, [])
        n_fused += 1
        i += 1
    return n_fused


def _pool_c(name: str, L: int, M: int, OW: int, pool: Dict[str, int]) -> str:
    """``{name}_pool``: pooled rows [p0, p1) of all M channels from the band buffer b (channel stride bs, its first
    row convolution row r0) into y (the pooled planes). Per row: the maxima down the window's rows inside the image
    into a row buffer framed by -inf (PPW cells before the OW columns, more after them for the last windows), then
    each output's maximum across its PKW cells: the runtime's order (``pool_max_rows``), the same floats."""
    KH, KW, SH, SW, PH, PW = (pool[k] for k in ("KH", "KW", "SH", "SW", "PH", "PW"))
    OH_in, POH, POW = pool["H"], pool["OH"], pool["OW"]
    reach = (POW - 1) * SW + KW
    cells = max(reach, PW + OW) + 2 * L + 2
    V = f"sdk_vf{L}"
    maxn = ""
    scalar_down = f"""      for (int64_t j = 0; j < {OW}; ++j) {{
        float c = x[j];
        for (int64_t h = 1; h < rows; ++h) c = {name}_maxn(c, x[h * {OW} + j]);
        v[{PW} + j] = c;
      }}
"""
    scalar_across = f"""      for (int64_t o = 0; o < {POW}; ++o) {{
        float c = v[o * {SW}];
        for (int64_t k = 1; k < {KW}; ++k) c = {name}_maxn(c, v[o * {SW} + k]);
        yr[o] = c;
      }}
"""
    down, across = scalar_down, scalar_across
    cells_fn = regs = ""
    if L > 1:
        maxn = f"""#ifndef SDK_TUNED_VI{L}
#define SDK_TUNED_VI{L}
typedef int32_t sdk_vi{L} __attribute__((vector_size({4 * L})));
#define SDK_VSEL{L}(m, p, q) (({V})((((sdk_vi{L})(m)) & ((sdk_vi{L})(p))) | ((~(sdk_vi{L})(m)) & ((sdk_vi{L})(q)))))
#endif
/* b where b > a or b is NaN, else a: NaN sticks (the runtime's pool_maxn) */
#if {int(L == 16)} && defined(__AVX512F__)
#include <immintrin.h>
#define {name}_VMAXN(a, b) (({V})_mm512_mask_mov_ps(_mm512_max_ps((__m512)(b), (__m512)(a)), _mm512_cmp_ps_mask((__m512)(b), (__m512)(b), _CMP_UNORD_Q), (__m512)(b)))
#else
#define {name}_VMAXN(a, b) SDK_VSEL{L}(((b) > (a)) | ((b) != (b)), (b), (a))
#endif
"""
        if OW >= L:  # the row's last vector overlaps the one before it (the same maxima again)
            down = f"""      for (int64_t j = 0;; j += {L}) {{
        if (j + {L} > {OW}) j = {OW - L};
        {V} c = SDK_VLOAD{L}(x + j);
        for (int64_t h = 1; h < rows; ++h) {{
          const {V} d = SDK_VLOAD{L}(x + h * {OW} + j);
          c = {name}_VMAXN(c, d);
        }}
        SDK_VSTORE{L}(v + {PW} + j, c);
        if (j + {L} >= {OW}) break;
      }}
"""
        if POW >= L and SW == 2 and KW == 3:
            # column maxima kept in registers (the runtime's pool_row16_regs): the row buffer's stores loaded back at
            # once at other offsets stall on store forwarding
            ev = ", ".join(str(2 * u) for u in range(L))
            od = ", ".join(str(2 * u + 1) for u in range(L))
            ev1 = ", ".join([str(2 * u + 2) for u in range(L - 1)] + [str(2 * L - 1)])
            lastn = ", ".join([str(u) for u in range(L - 1)] + [str(L)])
            avx = "" if L != 16 else f"""#if defined(__AVX512F__) /* max + a masked move for NaN, masked loads at the edges (the runtime's pool_cells16) */
  {{
    const __m512 ninf = _mm512_set1_ps(-__builtin_inff());
    __m512 m = ninf;
    if (col >= {OW} || col <= -16) {{
      *out = ({V})m;
      return;
    }}
    if (col < 0) {{
      const int64_t n = {OW} < 16 + col ? {OW} : 16 + col;
      const __mmask16 k = (__mmask16)(((1u << n) - 1u) << -col);
      for (int64_t h = 0; h < rows; ++h) {{
        const __m512 d = _mm512_mask_expandloadu_ps(ninf, k, x + h * {OW});
        m = h ? _mm512_mask_mov_ps(_mm512_max_ps(d, m), _mm512_cmp_ps_mask(d, d, _CMP_UNORD_Q), d) : d;
      }}
    }} else {{
      const __mmask16 k = col + 16 > {OW} ? (__mmask16)((1u << ({OW} - col)) - 1u) : (__mmask16)0xffff;
      for (int64_t h = 0; h < rows; ++h) {{
        const __m512 d = _mm512_mask_loadu_ps(ninf, k, x + h * {OW} + col);
        m = h ? _mm512_mask_mov_ps(_mm512_max_ps(d, m), _mm512_cmp_ps_mask(d, d, _CMP_UNORD_Q), d) : d;
      }}
    }}
    *out = ({V})m;
    return;
  }}
#endif
"""
            cells_fn = f"""/* the maxima down `rows` rows of cells [c, c + {L}) (cell i: column i - {PW}; -inf outside the row) */
static inline void {name}_cells(const float *restrict x, int64_t rows, int64_t c, {V} *out) {{
  const int64_t col = c - {PW};
{avx}  if (col >= 0 && col + {L} <= {OW}) {{
    {V} m = SDK_VLOAD{L}(x + col);
    for (int64_t h = 1; h < rows; ++h) {{
      const {V} d = SDK_VLOAD{L}(x + h * {OW} + col);
      m = {name}_VMAXN(m, d);
    }}
    *out = m;
    return;
  }}
  float t[{L}];
  for (int64_t u = 0; u < {L}; ++u) {{
    const int64_t k = col + u;
    float m = -__builtin_inff();
    if (k >= 0 && k < {OW}) {{
      m = x[k];
      for (int64_t h = 1; h < rows; ++h) m = {name}_maxn(m, x[h * {OW} + k]);
    }}
    t[u] = m;
  }}
  *out = SDK_VLOAD{L}(t);
}}
"""
            regs = f"""#if defined(__clang__) || (defined(__GNUC__) && __GNUC__ >= 12)
      {{
        {V} a, b, nx;
        int64_t at = 0;
        {name}_cells(x, rows, 0, &a);
        for (int64_t o = 0;; o += {L}) {{
          if (o + {L} > {POW}) o = {POW - L};
          const int64_t c = 2 * o;
          if (c != at) {name}_cells(x, rows, c, &a);
          {name}_cells(x, rows, c + {L}, &b);
          {name}_cells(x, rows, c + {2 * L}, &nx);
          const {V} e = __builtin_shufflevector(a, b, {ev}), od = __builtin_shufflevector(a, b, {od});
          {V} mx = {name}_VMAXN(e, od);
          {V} e2 = __builtin_shufflevector(a, b, {ev1});
          e2 = __builtin_shufflevector(e2, nx, {lastn}); /* cells c + 2 .. c + {2 * L}: the last one nx's first */
          mx = {name}_VMAXN(mx, e2);
          SDK_VSTORE{L}(yr + o, mx);
          if (o + {L} >= {POW}) break;
          a = nx, at = c + {2 * L};
        }}
        continue;
      }}
#endif
"""
        if POW >= L and SW == 2 and KW in (2, 3):
            ev = ", ".join(str(2 * u) for u in range(L))
            od = ", ".join(str(2 * u + 1) for u in range(L))
            third = (f"""
          const {V} c = SDK_VLOAD{L}(v + 2 * o + 2), d = SDK_VLOAD{L}(v + 2 * o + 2 + {L});
          const {V} e2 = __builtin_shufflevector(c, d, {ev});
          mx = {name}_VMAXN(mx, e2);""" if KW == 3 else "")
            across = f"""#if defined(__clang__) || (defined(__GNUC__) && __GNUC__ >= 12)
      for (int64_t o = 0;; o += {L}) {{ /* even and odd cells of two vectors; the third tap: the evens one cell on */
        if (o + {L} > {POW}) o = {POW - L};
        const {V} a = SDK_VLOAD{L}(v + 2 * o), b = SDK_VLOAD{L}(v + 2 * o + {L});
        const {V} e = __builtin_shufflevector(a, b, {ev}), od = __builtin_shufflevector(a, b, {od});
        {V} mx = {name}_VMAXN(e, od);{third}
        SDK_VSTORE{L}(yr + o, mx);
        if (o + {L} >= {POW}) break;
      }}
#else
{scalar_across}#endif
"""
        elif POW >= L and SW == 1 and KW in (2, 3):
            third = (f"""
        const {V} e2 = SDK_VLOAD{L}(v + o + 2);
        mx = {name}_VMAXN(mx, e2);""" if KW == 3 else "")
            across = f"""      for (int64_t o = 0;; o += {L}) {{
        if (o + {L} > {POW}) o = {POW - L};
        const {V} a = SDK_VLOAD{L}(v + o), b = SDK_VLOAD{L}(v + o + 1);
        {V} mx = {name}_VMAXN(a, b);{third}
        SDK_VSTORE{L}(yr + o, mx);
        if (o + {L} >= {POW}) break;
      }}
"""
    return f"""{maxn}static inline float {name}_maxn(float a, float b) {{ return (b > a || b != b) ? b : a; }}
{cells_fn}/* max pooling {KH}x{KW} stride {SH}x{SW} pads {PH}/{PW}: pooled rows [p0, p1) from the band buffer bb (channel stride
 * bs, its first row convolution row r0) into the pooled planes y (sdk/tune/conv_pool.py) */
static void {name}_pool(const float *restrict bb, int64_t bs, int64_t r0, float *restrict y, int64_t p0, int64_t p1) {{
  float v[{cells}];
  for (int64_t i = 0; i < {cells}; ++i) v[i] = -__builtin_inff();
  for (int64_t m = 0; m < {M}; ++m)
    for (int64_t p = p0; p < p1; ++p) {{
      int64_t h0 = p * {SH} - {PH}, h1 = h0 + {KH};
      h0 = h0 < 0 ? 0 : h0;
      h1 = h1 > {OH_in} ? {OH_in} : h1;
      const float *restrict x = bb + m * bs + (h0 - r0) * {OW};
      const int64_t rows = h1 - h0;
      float *restrict yr = y + (m * {POH} + p) * {POW};
{regs}{down}{across}    }}
}}
"""


def source(name: str, s: Dict, wl, pool: Dict[str, int], epilogue=None) -> str:
    """C source of the fused kernel ``name`` (``CONV_MAXPOOL_F32``'s parameters)."""
    from . import gconv
    p = wl.p
    L, T = s["lanes"], s["nv"] * s["lanes"]
    S, M, OH, OW = p["SH"], p["M"], p["OH"], p["OW"]
    rows = s["pool_rows"]
    band = band_floats(p, pool, rows)
    conv_rows = min(OH, (rows - 1) * pool["SH"] + pool["KH"])
    planes = _up16(s["scratch"] + 16)
    parts = gconv.source(f"{name}_cv", s, wl, epilogue, entry=False)
    KH, SH, PH = pool["KH"], pool["SH"], pool["PH"]
    return f"""{parts}
{_pool_c(name, L, M, OW, pool)}
/* a one-group {p["C"]} -> {M} {p["KH"]}x{p["KW"]}/{S} convolution and the {KH}x{pool["KW"]}/{SH} max pooling after it, in bands of
 * {rows} pooled rows (sdk/tune/conv_pool.py): the convolution rows a band reads go to the thread's band buffer only */
static void {name}(int64_t N, int64_t C, int64_t H, int64_t W, int64_t M, int64_t OH, int64_t OW, int64_t KH, int64_t KW,
    int64_t SH, int64_t SW, int64_t PH, int64_t PW, int64_t DH, int64_t DW, int64_t groups, const float *X,
    const float *Wt, const float *bias, int64_t POH, int64_t POW, int64_t PKH, int64_t PKW, int64_t PSH, int64_t PSW,
    int64_t PPH, int64_t PPW, float *Y, float *scratch) {{
  const int64_t Hq = OH + (KH - 1) / SH, Wq = OW + (KW - 1) / SW;
  const int64_t need = {p["C"] * S * S} * Hq * Wq + {T};
  const int big = M * OH * OW * {p["C"] * p["KH"] * p["KW"]} >= SDK_PAR_MIN_WORK && sdk_gconv_threads() > 1;
  const int nt = !big ? 1 : sdk_gconv_threads() < {BAND_THREADS} ? sdk_gconv_threads() : {BAND_THREADS};
  (void)C; (void)DH; (void)DW; (void)groups; (void)PKW; (void)PSW; (void)PPW; (void)nt;
  SDK_OMP(parallel num_threads(nt) if(nt > 1))
  {{
    const int64_t nth = sdk_gconv_nth(), tid = sdk_gconv_tid();
    const int64_t per = (POH + nth - 1) / nth, pa = tid * per < POH ? tid * per : POH;
    const int64_t pb = pa + per < POH ? pa + per : POH;
    float *const bb = scratch + {planes} + tid * {band};
    for (int64_t n = 0; n < N; ++n) {{
      SDK_OMP(single nowait)
      for (int64_t i = need - {T}; i < need; ++i) scratch[i] = 0.0f;
      SDK_OMP(for schedule(static)) /* the threads fill the phase planes together; its barrier ends the fill */
      for (int64_t q = 0; q < {p["C"] * S * S}; ++q) {name}_cv_fill(scratch, X + n * {p["C"]} * H * W, H, W, PH, PW, Hq, Wq, q, q + 1);
      int64_t lo = 0, hi = 0; /* convolution rows [lo, hi) held in the band buffer */
      for (int64_t p0 = pa; p0 < pb; p0 += {rows}) {{
        const int64_t p1 = p0 + {rows} < pb ? p0 + {rows} : pb;
        int64_t r0 = p0 * PSH - PPH, r1 = (p1 - 1) * PSH - PPH + PKH;
        r0 = r0 < 0 ? 0 : r0;
        r1 = r1 > OH ? OH : r1;
        const int64_t keep = lo <= r0 && r0 < hi ? hi - r0 : 0; /* rows the previous band's windows read too */
        if (keep && r0 > lo)
          for (int64_t m = 0; m < M; ++m) memmove(bb + m * {conv_rows * OW}, bb + m * {conv_rows * OW} + (r0 - lo) * OW, (size_t)(keep * OW) * sizeof(float));
        if (r0 + keep < r1)
          {name}_cv_group(scratch, Wt, bias, bb, NULL, OH, OW, Hq, Wq, (r0 + keep) * Wq, r1 * Wq, {conv_rows * OW}, r0);
        lo = r0, hi = r1;
        {name}_pool(bb, {conv_rows * OW}, r0, Y + n * M * POH * POW, p0, p1);
      }}
      SDK_OMP(barrier) /* the phase planes are refilled for the next image */
    }}
  }}
}}
"""
