"""Where a query's time goes in the C runtime's exhaustive ADC and IVF tree searches: the phases of one query, timed
by the time-stamp counter in a copy of runtime_c/src/sdk_vq.c with probes (the runtime itself is not changed).

    python3 bench/vq_phase_profile.py --set sift-like --budget 1187 --margin 60631.5625
    python3 bench/vq_phase_profile.py --set minilm-tokens-all --budget 8500 --margin 0.2507

The set's cached IRVQ (bench/vq_tree_bench.py) gives the exhaustive index and the spilled IVF tree (shipped defaults,
Index(tree="ivf", spill=SPILL)); its test queries (a multiple of 32) are searched with lookup tables 32 at a time
(sdk_vq_search_batch, as the bench), host-profile flags. Each phase's ticks are recorded per call and the MEDIAN over
calls is printed (the machine is shared: a preempted call's ticks are an outlier, a mean is not robust); `per query` is
median x calls per query. The lookup table is computed once per group of 32 queries: its row is the group's median /
32. Also counted: positions (items in the cells visited, a spilled item twice), cells visited, the items that reach
the float sum behind the 8-bit bound tables (`survivors`, incl. the items scored before the top-k is full) and the top-k
insertions (`pushes`). The probes cost a few ticks each; compare phases, not the total with other runs.
"""
import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path[:0] = [str(ROOT), str(HERE)]

PHASES = ["lookup table (per query)", "bound tables", "cell sums + scores (IVF level 0)", "score range",
          "best-first setup",
          "first cell", "each later cell", "exhaustive scan"]

PROBES = [  # (text in sdk_vq.c, replacement): each must occur exactly once
    ("#include <string.h>",
     "#include <string.h>\n#include <x86intrin.h>\nunsigned long long vqp_count[4];\n"
     "unsigned vqp_n[8], vqp_s[8][1 << 18];\n"
     "#define VQP(i, x) do { if (vqp_n[i] < (1u << 18)) vqp_s[i][vqp_n[i]++] = (unsigned)(x); } while (0)\n"),
    ("      lut8_tables(idx, qs, ng, base, stride, q8s, (size_t)q8_bytes(idx));",
     "      { unsigned long long t0 = __rdtsc(); lut8_tables(idx, qs, ng, base, stride, q8s, (size_t)q8_bytes(idx));"
     " VQP(0, (__rdtsc() - t0) / (ng ? ng : 1)); }"),
    ("  if (bound8_applies(idx, p)) bound8_prepare(v, qn);",
     "  { unsigned long long t0 = __rdtsc(); if (bound8_applies(idx, p)) bound8_prepare(v, qn);"
     " VQP(1, __rdtsc() - t0); }"),
    ("  if (t->cells && ivf_level0(idx, t, v->lut, qn, &cur)) {",
     "  t0 = __rdtsc();\n  if (t->cells && ivf_level0(idx, t, v->lut, qn, &cur)) {"),
    ("  if (w > 0u) score_range(cur.score, w, &lo, &hi);",
     "  if (t->cells) VQP(2, __rdtsc() - t0);\n  t0 = __rdtsc();\n"
     "  if (w > 0u) score_range(cur.score, w, &lo, &hi);\n  if (t->cells) VQP(3, __rdtsc() - t0);"),
    ("  real lo = 0, hi = 0; /* score range of the frontier */",
     "  real lo = 0, hi = 0; /* score range of the frontier */\n  unsigned long long t0 = 0;"),
    ("  const real margin = (real)p->margin;\n  const uint32_t k = p->k;",
     "  const unsigned long long t_in = __rdtsc();\n  unsigned visits = 0;\n  const real margin = (real)p->margin;\n"
     "  const uint32_t k = p->k;"),
    ("#define BF_RUN(BODY) fn(&a, pos, end, start);",
     "#define BF_RUN(BODY) { const unsigned long long t1 = __rdtsc(); if (!visits) VQP(4, t1 - t_in);"
     " fn(&a, pos, end, start); VQP(visits ? 6 : 5, __rdtsc() - t1); visits++; vqp_count[0] += end - pos;"
     " vqp_count[1]++; }"),
    ("    adc_items(idx, v, k, count, qn, row, M, idx->codes, M, NULL, NULL, 0, idx->n, 0);",
     "    { unsigned long long t1 = __rdtsc(); adc_items(idx, v, k, count, qn, row, M, idx->codes, M, NULL, NULL, 0,"
     " idx->n, 0); VQP(7, __rdtsc() - t1); }"),
    ("      const uint32_t at = pos + (uint32_t)__builtin_ctzll(keep);\n",
     "      const uint32_t at = pos + (uint32_t)__builtin_ctzll(keep);\n      vqp_count[2]++;\n"),
    ("      if (d > bound) continue;\n      top_push(v, k, count, d, ids ? ld_u32(ids + 4u * (size_t)at) : at);",
     "      if (d > bound) continue;\n      vqp_count[3]++;\n"
     "      top_push(v, k, count, d, ids ? ld_u32(ids + 4u * (size_t)at) : at);"),
]

DUMP = r"""
#include <stdio.h>
#include <stdlib.h>
extern unsigned long long vqp_count[4];
extern unsigned vqp_n[8], vqp_s[8][1 << 18];
static int cmp(const void *a, const void *b) {
  const unsigned x = *(const unsigned *)a, y = *(const unsigned *)b;
  return x < y ? -1 : x > y;
}
void vq_prof_dump(unsigned nq, unsigned rounds) {
  unsigned i;
  for (i = 0; i < 8; i++) {
    unsigned med = 0;
    if (vqp_n[i]) qsort(vqp_s[i], vqp_n[i], sizeof(unsigned), cmp), med = vqp_s[i][vqp_n[i] / 2];
    printf("phase %u %u %u\n", i, med, vqp_n[i]);
    vqp_n[i] = 0;
  }
  printf("counts %.1f %.1f %.1f %.1f\n", (double)vqp_count[0] / nq / rounds, (double)vqp_count[1] / nq / rounds,
         (double)vqp_count[2] / nq / rounds, (double)vqp_count[3] / nq / rounds);
  for (i = 0; i < 4; i++) vqp_count[i] = 0;
}
"""


def instrumented(src):
    for old, new in PROBES:
        if src.count(old) != 1:
            sys.exit(f"probe site not found once in sdk_vq.c (the runtime changed; update PROBES): {old[:60]!r}")
        src = src.replace(old, new)
    return src


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--set", default="sift-like")
    ap.add_argument("--budget", type=int, default=1187)
    ap.add_argument("--margin", type=float, default=60631.5625)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    import numpy as np
    import vq_tree_bench as tb
    from sdk.vq import Index
    from sdk.vq.index import SPILL
    desc, make, base_n, train = tb.SETS[args.set]
    xq, xb, xt = tb.split(args.set, make(), base_n, train)
    q, codes = tb.quantizer(args.set, xt, xb)
    nq = len(xq) // 32 * 32
    flags = tb.host_flags()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for name, kw in (("flat", {}), ("ivf", dict(tree="ivf", spill=SPILL))):
            idx = Index(q, **kw)
            idx.add_codes(codes)
            (tmp / f"{name}.svq").write_bytes(idx.to_bytes())
        np.ascontiguousarray(xq[:nq], "<f4").tofile(tmp / "q.f32")
        (tmp / "sdk_vq_probed.c").write_text(instrumented((ROOT / "runtime_c/src/sdk_vq.c").read_text()))
        (tmp / "dump.c").write_text(DUMP)
        driver = (HERE / "vq_ab_driver.c").read_text()
        hook = "  for (i = 0; i < nq * 10u; i++) cs = cs * 31u + oi[i];"
        assert driver.count(hook) == 1
        (tmp / "driver.c").write_text(driver.replace(
            hook, "  { extern void vq_prof_dump(unsigned, unsigned); vq_prof_dump(nq, rounds); }\n" + hook))
        rt = ROOT / "runtime_c"
        subprocess.run(["gcc", "-std=c99", *flags.split(), f"-I{rt / 'include'}", "-o", str(tmp / "drv"),
                        str(tmp / "driver.c"), str(tmp / "sdk_vq_probed.c"), str(tmp / "dump.c"),
                        str(rt / "src/sdk_status.c")], check=True)
        rows = {}
        for only, label in ((1, "exhaustive"), (2, "tree")):
            out = subprocess.run([str(tmp / "drv"), str(tmp / "flat.svq"), str(tmp / "ivf.svq"), str(tmp / "q.f32"),
                                  str(nq), str(args.budget), repr(args.margin), str(args.rounds), str(only)],
                                 check=True, capture_output=True, text=True).stdout.split("\n")
            ph = {int(l.split()[1]): (int(l.split()[2]), int(l.split()[3])) for l in out if l.startswith("phase")}
            counts = [float(x) for x in next(l for l in out if l.startswith("counts")).split()[1:]]
            us = next(l for l in out if l.startswith("exhaustive_us")).split()
            rows[label] = (ph, counts, float(us[1] if only == 1 else us[3]))
    calls = nq * args.rounds
    print(f"{args.set}: {len(codes):,} items, {nq} test queries, spilled IVF tree margin {args.margin:g} budget "
          f"{args.budget}; gcc {flags}; ticks of the time-stamp counter, medians over calls\n")
    print("| phase | exhaustive ADC: median ticks | per query | tree: median ticks | per query |")
    print("|---|---|---|---|---|")
    for i, name in enumerate(PHASES):
        cells = []
        for label in ("exhaustive", "tree"):
            med, n = rows[label][0].get(i, (0, 0))
            per = med if i == 0 else med * n / calls
            cells += [f"{med}" if n else "-", f"{per:.0f}" if n else "-"]
        print(f"| {name} | " + " | ".join(cells) + " |")
    for label in ("exhaustive", "tree"):
        c = rows[label][1]
        print(f"\n{label}: {rows[label][2]:.2f} us a query by the thread's CPU clock (best of {args.rounds}); "
              f"positions {c[0]:.0f}, cells {c[1]:.1f}, survivors {c[2]:.0f}, top-k pushes {c[3]:.1f} a query")


if __name__ == "__main__":
    main()
