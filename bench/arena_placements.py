"""Same binary, different arena placements: one build of a zoo model whose ``<name>_offsets`` can be replaced at run
time (a file named by SDK_ARENA_OFFSETS: one offset per slot, then the arena's end), timed in alternating rounds
over placements of the same arena size: the placement without the cache model (the default), the same again (the A/A
control), the one the cache model keeps (``[memory] cache_bytes``), the one it would rank worst, random ones, and a
skew of every slot by a few bytes a level of the stack (rs47's planner skew).
Prints each placement's modelled misses (``sdk/memory/plan.py`` ``_misses``) beside its measured time, so the model
is checked against the machine without a rebuild between placements (the code, the weights and the binary stay).

    PYTHONPATH=$PWD python bench/arena_placements.py resnet18 [--rounds 8] [--repeat 10] [--random 3]
"""
import argparse
import os
import random
import re
import statistics
import tempfile
from pathlib import Path

import numpy as np
import onnx

import sdk
from sdk.backends.host.runner import HostRunner
from sdk.memory import plan as P

STEP = re.compile(r"step (\S+)\s+([\d.]+) us")
ZOO = Path(__file__).resolve().parent / "data" / "zoo_full"

WRAP = """
#include <stdio.h>
#include <stdlib.h>
static size_t {N}_offsets(const {N}_dims *d, size_t *off) {{
  size_t end = {N}_offsets_planned(d, off), v = 0;
  const char *e = getenv("SDK_ARENA_OFFSETS");
  FILE *f = e && *e ? fopen(e, "r") : NULL;
  if (f) {{
    for (int i = 0; i < {n} && fscanf(f, "%zu", &v) == 1; ++i) off[i] = v;
    if (fscanf(f, "%zu", &v) == 1) end = v;
    fclose(f);
  }}
  return end;
}}
"""


def patch(out: Path, name: str, n: int):
    src = (out / "model.c").read_text()
    head = f"static size_t {name}_offsets(const {name}_dims *d, size_t *off) {{"
    assert src.count(head) == 1
    i = src.index(head)
    j = src.index("\n}\n", i) + 3
    src = src[:i] + head.replace("_offsets(", "_offsets_planned(") + src[i + len(head):j] + \
        WRAP.format(N=name, n=n) + src[j:]
    (out / "model.c").write_text(src)


def print_steps(steps, top=25):
    mins = {k: {s: min(v) for s, v in st.items()} for k, st in steps.items()}
    ks = list(mins)
    names = sorted(mins["base"], key=lambda s: -mins["base"][s])[:top]
    print("\nper-step minima, us (and / base)\n")
    print("| step | " + " | ".join(ks) + " |")
    print("|---|" + "---:|" * len(ks))
    for n in names:
        b = mins["base"][n]
        print(f"| {n} | {b:.0f} | " + " | ".join(f"{mins[k].get(n, float('nan')) / b:.3f}" for k in ks[1:]) + " |")
    tot = {k: sum(v.values()) for k, v in mins.items()}
    print("| sum | " + " | ".join(f"{tot[k] / 1e3:.3f} ms" for k in ks) + " |")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("model")
    ap.add_argument("--rounds", type=int, default=8)
    ap.add_argument("--repeat", type=int, default=10)
    ap.add_argument("--random", type=int, default=3, help="random placements of the same arena")
    ap.add_argument("--cache", type=int, default=2 << 20, help="the model's cache bytes")
    ap.add_argument("--skew", type=int, default=1088, help="bytes added below every slot in the skewed placement")
    ap.add_argument("--steps", action="store_true", help="the step timer (-DSDK_PROFILE): per-step minima too")
    a = ap.parse_args()
    calls = []
    orig = P._place

    def spy(slots, lower, *args, **kw):
        calls.append((slots, kw.get("touches"), lower))
        return orig(slots, lower, *args, **kw)

    P._place = spy
    path = ZOO / f"{a.model}.onnx"
    m = onnx.load(str(path))
    b = sdk.compile(m, target="host", name="model")
    P._place = orig
    slots, touches, lower = next(c for c in calls if c[0] is b.plan.slots)
    slots = sorted(slots, key=lambda s: s.index)
    cache = a.cache
    P._place(slots, lower)  # without the model (the profile's default, [memory] cache_bytes = 0)
    base = {id(s): s.offset_bound for s in slots}
    P._place(slots, lower, touches=touches, cache_bytes=cache)  # the placement the cache model keeps
    kept = {id(s): s.offset_bound for s in slots}
    peak = max(base[id(s)] + s.size_bound for s in slots)
    overlaps = {id(s): [p for p in slots if p is not s and P._overlap(p, s)] for s in slots}
    rng = random.Random(1)
    variants = {"base": base, "base again": dict(base), "cache": kept}  # "base again": the A/A control
    order = sorted(slots, key=lambda s: -s.size_bound)
    worst, wm = base, P._misses(slots, base, touches, cache)
    for _ in range(300):  # the placement the model ranks worst among swaps of the same arena
        cand = list(order)
        i, j = rng.randrange(len(cand)), rng.randrange(len(cand))
        cand[i], cand[j] = cand[j], cand[i]
        p2, o2 = P._greedy(cand, overlaps)
        if p2 <= peak:
            m2 = P._misses(slots, o2, touches, cache)
            if m2 > wm:
                worst, wm, order = o2, m2, cand
    variants["worst"] = worst
    for k in range(a.random):
        for _ in range(200):
            cand = sorted(slots, key=lambda s: rng.random())
            p2, o2 = P._greedy(cand, overlaps)
            if p2 <= peak:
                variants[f"random{k}"] = o2
                break
    depth = {}  # slots stacked below (time-overlapping, lower in the arena): each moves up skew bytes a level
    for s in sorted(slots, key=lambda s: base[id(s)]):
        depth[id(s)] = 1 + max([depth[id(p)] for p in overlaps[id(s)] if base[id(p)] + p.size_bound <= base[id(s)]],
                               default=0)
    variants["skew"] = {id(s): base[id(s)] + a.skew * depth[id(s)] for s in slots}
    name = "model"
    inp = m.graph.input[0]
    shape = [d.dim_value or 1 for d in inp.type.tensor_type.shape.dim]
    feed = {inp.name: np.random.default_rng(0).standard_normal(shape).astype(np.float32)}
    prof = ["-DSDK_PROFILE", "-DSDK_PROF_CLOCK=CLOCK_THREAD_CPUTIME_ID"] if a.steps else []
    runner = HostRunner(threads=1, extra_cflags=["-DSDK_CPU_CLOCK", *prof])
    steps = {k: {} for k in variants}
    with tempfile.TemporaryDirectory(prefix="arena_pl_") as tmp:
        out = Path(tmp) / "b"
        b.save(out, force=True)
        patch(out, name, len(slots))
        files, misses = {}, {}
        for k, offs in variants.items():
            end = max(offs[id(s)] + s.size_bound for s in slots) + P.align_slack(b.plan)
            f = Path(tmp) / f"{k}.txt"
            f.write_text(" ".join(str(offs[id(s)]) for s in slots) + f" {end}\n")
            files[k] = f
            misses[k] = P._misses(slots, offs, touches, cache)
        ref = None
        t = {k: [] for k in variants}
        mins = {k: [] for k in variants}
        runner.build(out)
        load0 = os.getloadavg()[0]
        for r in range(a.rounds):
            ks = list(variants) if r % 2 == 0 else list(reversed(list(variants)))
            for k in ks:
                os.environ["SDK_ARENA_OFFSETS"] = str(files[k])
                got, info = runner.run(out, feed, repeat=a.repeat)
                if a.steps:
                    exe = out / "model_main"
                    import json
                    from sdk.backends.host.runner import run_demo
                    meta = json.loads((out / "bundle.json").read_text())
                    _, _, proc = run_demo([str(exe)], meta, feed, repeat=a.repeat, threads=1)
                    for ln in proc.stderr.splitlines():
                        mt = STEP.match(ln)
                        if mt:
                            st = steps[k].setdefault(mt.group(1), [])
                            st.append(float(mt.group(2)))
                y = list(got.values())[0]
                ref = y if ref is None else ref
                assert np.array_equal(y, ref), f"{k}: the outputs differ between placements"
                t[k].append(float(info["median_ms"]))
                mins[k].append(float(info.get("min_ms", info["median_ms"])))
        os.environ.pop("SDK_ARENA_OFFSETS", None)
        load1 = os.getloadavg()[0]
    print(f"\n{a.model}: arena {b.plan.arena_bytes} bytes, {len(slots)} slots, {len(touches)} steps; one thread, CPU "
          f"clock, {a.rounds} alternating rounds x {a.repeat} runs, load {load0:.1f}-{load1:.1f}; modelled misses "
          f"with a {cache >> 10} KiB cache\n")
    print("| placement | modelled misses MB | median ms | min ms | / base (median) | / base (min) |")
    print("|---|---|---|---|---|---|")
    mb, nb = statistics.median(t["base"]), min(mins["base"])
    for k in variants:
        md, mn = statistics.median(t[k]), min(mins[k])
        print(f"| {k} | {misses[k] / 1e6:.2f} | {md:.2f} | {mn:.2f} | {md / mb:.3f} | {mn / nb:.3f} |")
    if a.steps:
        print_steps(steps)


if __name__ == "__main__":
    main()

