"""The training step's memory and time, sdk vs PyTorch, for the same models, batches, trainable parameters and
optimiser (SGD, momentum 0.9):

    python bench/train_memory.py [--torch-python /work/torchenv/bin/python] [--repeat 20]

sdk: the step's planned arena (every temporary of forward, backward and update, at the bounds) without
rematerialisation and with it (the case's ``--remat`` mode, or a ``--train-memory`` budget given as a fraction of the
arena without; "fp16": the stash in 16 bits), its training state (trainable parameters + momentum), host step
times in process (one thread; the two builds' steps interleaved; the median CPU time of the thread over
``--repeat`` steps, which a loaded machine disturbs far less than the wall clock). PyTorch (run by the torch
interpreter in a subprocess, same run): peak bytes the CPU allocator holds during a steady-state step (the
profiler's per-op allocations and frees in time order; the model's weights, and the gradients' and momentum
buffers' first allocation before it, not counted), the trainable parameters + momentum, and its median step CPU
time (one thread). Prints a table; its last column is the largest difference of a trained parameter between the
two sdk builds after the same steps (0: rematerialisation changed no bit).

    python bench/train_memory.py --only "cnn example"     (the cases whose name contains it)"""
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

REFS = "tests/models/train/make_train_refs.py"
# name: (onnx, torch module "file:Class", input name, batch shape, classes, trainable, remat: a mode or a budget as
# a fraction of the arena without, [conv_grad: the input gradient of stride-1 convolutions, default auto,
# [stash: the stashed activations' storage, default fp32]])
CASES = {
    "small_cnn all": ("tests/models/train/small_cnn.onnx", f"{REFS}:SmallCNN", "x", (4, 1, 12, 12), 5, "all", "auto"),
    "small_cnn last:1": ("tests/models/train/small_cnn.onnx", f"{REFS}:SmallCNN", "x", (4, 1, 12, 12), 5, "last:1",
                         "auto"),
    "kws all": ("examples/finetune/kws_backbone.onnx", "examples/finetune/make_backbone.py:KWS", "mfcc",
                (8, 1, 49, 10), 5, "all", "auto"),
    "kws last:1": ("examples/finetune/kws_backbone.onnx", "examples/finetune/make_backbone.py:KWS", "mfcc",
                   (8, 1, 49, 10), 5, "last:1", "auto"),
    "deep_cnn all": ("tests/models/train/deep_cnn.onnx", f"{REFS}:DeepCNN", "x", (4, 3, 16, 16), 10, "all", "auto"),
    "deep_cnn all, 0.6x": ("tests/models/train/deep_cnn.onnx", f"{REFS}:DeepCNN", "x", (4, 3, 16, 16), 10, "all",
                           0.6),
    "deep_cnn all, fp16": ("tests/models/train/deep_cnn.onnx", f"{REFS}:DeepCNN", "x", (4, 3, 16, 16), 10, "all",
                           "auto", "auto", "fp16"),
    # the CNN example (examples/make_examples.py cnn, written to a temporary file): its first layer's backward sets
    # the peak, so a 0.6x budget takes channel groups (split:K)
    "cnn example all": ("examples:cnn", f"{REFS}:ExampleCNN", "image", (8, 1, 28, 28), 10, "all", "auto"),
    "cnn example all, 0.6x": ("examples:cnn", f"{REFS}:ExampleCNN", "image", (8, 1, 28, 28), 10, "all", 0.6),
    "kws all, fp16": ("examples/finetune/kws_backbone.onnx", "examples/finetune/make_backbone.py:KWS", "mfcc",
                      (8, 1, 49, 10), 5, "all", "auto", "auto", "fp16"),
    # the same with ConvTranspose input gradients in both builds (no packing scratch, slower)
    "deep_cnn all, T": ("tests/models/train/deep_cnn.onnx", f"{REFS}:DeepCNN", "x", (4, 3, 16, 16), 10, "all", "auto",
                        "transpose"),
    "deep_cnn all, T 0.6x": ("tests/models/train/deep_cnn.onnx", f"{REFS}:DeepCNN", "x", (4, 3, 16, 16), 10, "all",
                             0.6, "transpose"),
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
inits = {i.name: torch.from_numpy(numpy_helper.to_array(i).copy()) for i in onnx.load(case["onnx"]).graph.initializer}
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
    t0 = time.thread_time(); step(); ts.append(time.thread_time() - t0)
state = sum(p.numel() * 4 * 2 for n, p in m.named_parameters() if n in train)
print(json.dumps({"peak": int(peak), "state": state, "ms": 1e3 * float(np.median(ts))}))
'''


def model_path(onnx_path):
    """A file of the case's model: a path under the repository, or ``examples:NAME`` (examples/make_examples.py's
    model, written to a temporary folder)."""
    if not onnx_path.startswith("examples:"):
        return os.path.join(ROOT, onnx_path)
    import tempfile
    import onnx
    sys.path.insert(0, os.path.join(ROOT, "examples"))
    from make_examples import EXAMPLES
    name = onnx_path.split(":", 1)[1]
    out = os.path.join(tempfile.mkdtemp(prefix="train_memory_"), f"{name}.onnx")
    onnx.save(EXAMPLES[name](), out)
    return out


def batch_dims(path, shape):
    """{symbolic dim of the model's first input: the case's size}, e.g. {"batch": 8}."""
    import onnx
    dims = onnx.load(path).graph.input[0].type.tensor_type.shape.dim
    return {d.dim_param: int(n) for d, n in zip(dims, shape) if d.dim_param}


def sdk_side(onnx_path, inp, shape, classes, trainable, remat, repeat, conv_grad="auto", stash="fp32"):
    """(parameters, arena without remat, arena with, remat mode chosen, state bytes, ms without, ms with, the largest
    difference of a parameter between the two builds after the same steps). The build
    without remat has the same convolution input-gradient form as the one with it (``conv_grad``), so the two differ
    by the recomputation only; a budget is a fraction of the default build's arena without remat."""
    from sdk.train import compile_train
    path = model_path(onnx_path)
    kw = dict(trainable=trainable, momentum=0.9, dims=batch_dims(path, shape))
    base = compile_train(path, remat="off", conv_grad=conv_grad, **kw)
    if isinstance(remat, float):
        on = compile_train(path, conv_grad=conv_grad, train_memory=int(remat * base.memory()["arena_bytes"]),
                           stash=stash, **kw)
    else:
        on = compile_train(path, remat=remat, conv_grad=conv_grad, stash=stash, **kw)
    off = base
    if on.train_step_graph.flipped != base.train_step_graph.flipped:
        off = compile_train(path, remat="off", conv_grad="conv" if on.train_step_graph.flipped else "transpose", **kw)
    rng = np.random.default_rng(0)
    x = rng.standard_normal(shape).astype(np.float32)
    y = rng.integers(0, classes, shape[0]).astype(np.int64)
    builds = [(off, off.init_state(), []), (on, on.init_state(), [])]
    for _ in range(3):
        for tb, st, _ in builds:
            tb.step(st, {inp: x}, y, 0.01)
    for _ in range(repeat):
        for tb, st, ts in builds:
            t0 = time.thread_time()
            tb.step(st, {inp: x}, y, 0.01)
            ts.append(time.thread_time() - t0)
    m = on.memory()
    mode = m["remat"] + ("+fp16" if m["stash"] == "fp16" else "")
    # both builds took the same steps: the largest difference of a trained parameter between them
    diff = max(float(np.abs(builds[0][1][p] - builds[1][1][p]).max()) for p in on.params)
    return (on.params, off.memory()["arena_bytes"], m["arena_bytes"], mode, m["state_bytes"],
            1e3 * float(np.median(builds[0][2])), 1e3 * float(np.median(builds[1][2])), diff)


def main():
    ap = argparse.ArgumentParser(description="training step memory and time: sdk vs PyTorch")
    ap.add_argument("--torch-python", default="/work/torchenv/bin/python")
    ap.add_argument("--repeat", type=int, default=20)
    ap.add_argument("--only", default="", help="run the cases whose name contains this")
    a = ap.parse_args()
    print(f"{'model, trainable':22} | {'arena, no remat':>15} | {'remat':>12} | {'arena':>7} | {'with/without':>12} | "
          f"{'torch peak':>10} | {'arena/peak':>10} | {'sdk state':>9} | {'torch state':>11} | {'ms, no remat':>12} | "
          f"{'ms':>6} | {'torch ms':>8} | {'max |dparam|':>12}")
    print("-" * 175)
    for name, (onnx_path, module, inp, shape, classes, trainable, remat, *forms) in CASES.items():
        if a.only not in name:
            continue
        params, arena_off, arena, mode, state, ms_off, ms, diff = sdk_side(onnx_path, inp, shape, classes, trainable,
                                                                      remat, a.repeat, *forms)
        case = {"root": ROOT, "onnx": model_path(onnx_path), "module": module, "shape": list(shape), "classes": classes,
                "params": params, "repeat": a.repeat}
        r = subprocess.run([a.torch_python, "-c", TORCH_SIDE, json.dumps(case)], capture_output=True, text=True,
                           env={**os.environ, "OMP_NUM_THREADS": "1"})
        if r.returncode != 0:
            raise SystemExit(f"torch side of {name} failed: {r.stderr[-2000:]}")
        t = json.loads([ln for ln in r.stdout.splitlines() if ln.startswith("{")][-1])
        print(f"{name:22} | {arena_off:>15} | {mode:>12} | {arena:>7} | {arena / max(arena_off, 1):>12.2f} | "
              f"{t['peak']:>10} | {arena / max(t['peak'], 1):>10.2f} | {state:>9} | {t['state']:>11} | "
              f"{ms_off:>12.3f} | {ms:>6.3f} | {t['ms']:>8.3f} | {diff:>12.2g}")


if __name__ == "__main__":
    main()
