"""The training step's memory and time, sdk vs PyTorch, for the same models, batches, trainable parameters and
optimiser (SGD, momentum 0.9):

    python bench/train_memory.py [--torch-python /work/torchenv/bin/python] [--repeat 20]

sdk: the step's planned arena (every temporary of forward, backward and update, at the bounds) and its training
state (trainable parameters + momentum), host step time in process (one thread). PyTorch (run by the torch
interpreter in a subprocess, same run): peak bytes the CPU allocator holds during a steady-state step (the
profiler's per-op allocations and frees in time order; the model's weights, and the gradients' and momentum buffers' first allocation
before it, not counted), the trainable parameters + momentum, and its step time (one thread). Prints a table."""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
os.environ.setdefault("OMP_NUM_THREADS", "1")

# name: (onnx, torch module "file:Class", input name, batch shape, classes, trainable)
CASES = {
    "small_cnn all": ("tests/models/train/small_cnn.onnx", "tests/models/train/make_train_refs.py:SmallCNN", "x",
                      (4, 1, 12, 12), 5, "all"),
    "small_cnn last:1": ("tests/models/train/small_cnn.onnx", "tests/models/train/make_train_refs.py:SmallCNN", "x",
                         (4, 1, 12, 12), 5, "last:1"),
    "kws all": ("examples/finetune/kws_backbone.onnx", "examples/finetune/make_backbone.py:KWS", "mfcc",
                (8, 1, 49, 10), 5, "all"),
    "kws last:1": ("examples/finetune/kws_backbone.onnx", "examples/finetune/make_backbone.py:KWS", "mfcc",
                   (8, 1, 49, 10), 5, "last:1"),
}

TORCH_SIDE = r'''
import importlib.util, json, sys, time
import numpy as np, onnx, torch
from onnx import numpy_helper
torch.set_num_threads(1)
case = json.loads(sys.argv[1])
path, cls = case["module"].split(":")
sys.path.insert(0, case["root"] + "/" + path.rsplit("/", 1)[0])
spec = importlib.util.spec_from_file_location("m", case["root"] + "/" + path)
mod = importlib.util.module_from_spec(spec); spec.loader.exec_module(mod)
m = getattr(mod, cls)()
inits = {i.name: torch.from_numpy(numpy_helper.to_array(i).copy()) for i in onnx.load(case["root"] + "/" + case["onnx"]).graph.initializer}
m.load_state_dict({k: inits[k] for k in m.state_dict() if k in inits}, strict=False)
m.eval()
train = set(case["params"])
for n, p in m.named_parameters():
    p.requires_grad_(n in train)
opt = torch.optim.SGD([p for n, p in m.named_parameters() if n in train], lr=0.01, momentum=0.9)
rng = np.random.default_rng(0)
x = torch.from_numpy(rng.standard_normal(case["shape"]).astype(np.float32))
y = torch.from_numpy(rng.integers(0, case["classes"], case["shape"][0]).astype(np.int64))
def step():
    opt.zero_grad()
    torch.nn.functional.cross_entropy(m(x), y).backward()
    opt.step()
for _ in range(3):
    step()
from torch.profiler import ProfilerActivity, profile
with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
    step()
cur = peak = 0
for e in sorted(prof.events(), key=lambda e: e.time_range.start):  # each op's own allocations and frees
    cur += e.self_cpu_memory_usage
    peak = max(peak, cur)
ts = []
for _ in range(case["repeat"]):
    t0 = time.perf_counter(); step(); ts.append(time.perf_counter() - t0)
state = sum(p.numel() * 4 * 2 for n, p in m.named_parameters() if n in train)
print(json.dumps({"peak": int(peak), "state": state, "ms": 1e3 * float(np.median(ts))}))
'''


def sdk_side(onnx_path, inp, shape, classes, trainable, repeat):
    from sdk.train import compile_train
    tb = compile_train(os.path.join(ROOT, onnx_path), trainable=trainable, momentum=0.9)
    rng = np.random.default_rng(0)
    x = rng.standard_normal(shape).astype(np.float32)
    y = rng.integers(0, classes, shape[0]).astype(np.int64)
    st = tb.init_state()
    for _ in range(3):
        tb.step(st, {inp: x}, y, 0.01)
    ts = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        tb.step(st, {inp: x}, y, 0.01)
        ts.append(time.perf_counter() - t0)
    m = tb.memory()
    return tb.params, m["arena_bytes"], m["state_bytes"], 1e3 * float(np.median(ts))


def main():
    ap = argparse.ArgumentParser(description="training step memory and time: sdk vs PyTorch")
    ap.add_argument("--torch-python", default="/work/torchenv/bin/python")
    ap.add_argument("--repeat", type=int, default=20)
    a = ap.parse_args()
    print(f"{'model, trainable':20} | {'sdk arena':>10} | {'sdk state':>9} | {'torch peak':>10} | {'torch state':>11} | "
          f"{'arena/peak':>10} | {'sdk ms':>7} | {'torch ms':>8}")
    print("-" * 106)
    for name, (onnx_path, module, inp, shape, classes, trainable) in CASES.items():
        params, arena, state, ms = sdk_side(onnx_path, inp, shape, classes, trainable, a.repeat)
        case = {"root": ROOT, "onnx": onnx_path, "module": module, "shape": list(shape), "classes": classes,
                "params": params, "repeat": a.repeat}
        r = subprocess.run([a.torch_python, "-c", TORCH_SIDE, json.dumps(case)], capture_output=True, text=True,
                           env={**os.environ, "OMP_NUM_THREADS": "1"})
        if r.returncode != 0:
            raise SystemExit(f"torch side of {name} failed: {r.stderr[-2000:]}")
        t = json.loads([ln for ln in r.stdout.splitlines() if ln.startswith("{")][-1])
        print(f"{name:20} | {arena:>10} | {state:>9} | {t['peak']:>10} | {t['state']:>11} | "
              f"{arena / max(t['peak'], 1):>10.2f} | {ms:>7.3f} | {t['ms']:>8.3f}")


if __name__ == "__main__":
    main()
