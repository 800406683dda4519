"""Where a tuning database's changes go in the bundle: per-step A/B of the untuned and the tuned build.

    python bench/tune_steps_ab.py MODEL.onnx DB.jsonl [ROUNDS]

Both bundles are built with -DSDK_PROFILE (the bundle's step timer, on the thread's CPU clock) and run alternately on one thread (ROUNDS x 10
runs each, the demo program); for every step whose schedule or kernel (kernel-choice records) the database changed: the untuned and tuned step's
median time, their ratio, and what the database predicted (its confirmation records' tuned / default cost, where it
has them). Ends with the sums over the changed steps and over all steps. The machine is shared: only the same-run
ratios count.
"""
import os, sys, re, json, statistics, time
os.environ["OMP_NUM_THREADS"] = "1"
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from collections import defaultdict
import onnx
import sdk
from zoo_latency import feeds_for
from sdk.backends.host.runner import HostRunner

class ProfRunner(HostRunner):
    def extra_info(self, proc, info):
        info["stderr"] = proc.stderr

model_path, db = sys.argv[1], sys.argv[2]
rounds = int(sys.argv[3]) if len(sys.argv) > 3 else 6
model = onnx.load(model_path)
feed = feeds_for(model)
bs = {"default": sdk.compile(model, target="host", name="model"),
      "tuned": sdk.compile(model, target="host", name="model", tuning_db=db)}
# the step timer on the thread's CPU clock (time other processes take the core does not count)
runner = ProfRunner(extra_cflags=["-DSDK_PROFILE", "-DSDK_PROF_CLOCK=CLOCK_THREAD_CPUTIME_ID"], threads=1)
def steps(b):
    out = {}
    for s in b.program.steps:
        if hasattr(s, "fn"):
            out[s.outputs[0].name] = s
    return out
st = {k: steps(b) for k, b in bs.items()}
for b in bs.values():
    b.run_with_info(feed, runner=runner)
times = {k: defaultdict(list) for k in bs}
tot = {k: [] for k in bs}
for r in range(rounds):
    for k, b in bs.items():
        _, info = b.run_with_info(feed, runner=runner, repeat=10)
        per = defaultdict(list)
        for ln in info["stderr"].splitlines():
            m = re.match(r"step (\S+)\s+([\d.]+) us", ln)
            if m:
                out = m.group(1).split("->")[-1]
                per[out].append(float(m.group(2)))
        for o, v in per.items():
            times[k][o].extend(v)
        tot[k].append(float(info["median_ms"]))
# predicted: db records
recs = [json.loads(l) for l in open(db)]
byh = defaultdict(list)
for r in recs:
    if r["cost"] is not None: byh[r["hash"]].append(r)
from sdk.targets import load_target
tgt = load_target("host")
rows = []
sd = st["default"]; stt = st["tuned"]
for o, s in stt.items():
    d = sd.get(o)
    ss = getattr(s, "schedule", None); ds = getattr(d, "schedule", None) if d else None
    if d is not None and s.fn == "sdk_winograd_f32":  # a kernel choice: Winograd and its tile
        ss = {"kernel": f"winograd{s.arg('m')}"}
    if d is not None and d.fn == "sdk_winograd_f32":
        ds = {"kernel": f"winograd{d.arg('m')}"}
    if d is None or ss == ds:
        continue
    td = statistics.median(times["default"][o]); tt = statistics.median(times["tuned"][o])
    wl = getattr(s, "workload", None)
    pred, pd, pb = "", float("nan"), float("nan")
    pt = getattr(s, "choice", None)
    if pt is not None and pt.recorded:  # a kernel choice: its records' chosen / default cost
        key = lambda x: json.dumps(x, sort_keys=True)
        rs = [r for r in byh[pt.hash(tgt.name)] if "choice" in r]
        mine = [r["cost"] for r in rs if key(r["schedule"]) == key(pt.chosen)]
        dfl = [r["cost"] for r in rs if key(r["schedule"]) == key(pt.candidates[0])]
        if mine and dfl:
            pd, pb = min(dfl) * 1e6, min(mine) * 1e6
            pred = f"{pb / pd:.3f}"
    elif wl is not None:
        fw = wl.with_epilogue(s.generated["epilogue"])
        rs = [r for r in byh[fw.hash(tgt.name)] if r.get("confirm")]
        key = lambda x: json.dumps(x, sort_keys=True)
        mine = [r["cost"] for r in rs if key(r["schedule"]) == key(ss)]
        dfl = [r["cost"] for r in rs if key(r["schedule"]) == key(ds)]
        if mine and dfl:
            pd, pb = min(dfl) * 1e6, min(mine) * 1e6
            pred = f"{pb / pd:.3f}"
    rows.append((o, td, tt, tt / td, pred, pd, pb, ds, ss))
rows.sort(key=lambda r: -r[1])
print(f"model total median ms: default {statistics.median(tot['default']):.3f} tuned {statistics.median(tot['tuned']):.3f}")
print(f"{'step':50} {'def us':>8} {'tuned us':>8} {'ratio':>6} {'pred':>6} {'srch def':>8} {'srch best':>9}")
sd_sum = st_sum = 0
for o, td, tt, r, pred, pd, pb, ds, ss in rows:
    sd_sum += td; st_sum += tt
    print(f"{o[-50:]:50} {td:8.1f} {tt:8.1f} {r:6.3f} {pred:>6} {pd:8.1f} {pb:9.1f}")
print(f"changed steps: {len(rows)}; sum default {sd_sum:.1f} us, tuned {st_sum:.1f} us, ratio {st_sum/sd_sum:.3f}")
alld = sum(statistics.median(v) for v in times["default"].values()); allt = sum(statistics.median(v) for v in times["tuned"].values())
print(f"all steps sum: default {alld:.1f} tuned {allt:.1f}")
if "-v" in sys.argv:
    for o, td, tt, r, pred, pd, pb, ds, ss in rows:
        print(o[-40:], "\n   D", ds, "\n   T", ss)
