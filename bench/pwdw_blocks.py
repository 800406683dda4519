"""Expansion + depthwise fused (``PwDwNHWC``, runtime ``sdk_pwdw_nhwc_f32``) against the unfused pair, block shape by
block shape of the zoo (MobileNetV2, EfficientNet-B0, MobileNetV3-S), in one tree and one run: each block (a 1x1
stem -> expansion -> activation -> depthwise -> activation -> projection) is compiled twice, the fusion forced on and
off (``pipeline.fuse_options``), each bundle's demo built with the step timer (``-DSDK_PROFILE``, the thread's CPU
clock at one thread), and the two demos run in alternating rounds; per step the minimum over every run. The steps
compared: the fused step against the pair it replaces (the depthwise step and the expansion's step before it).
Arena bytes of both builds beside.

    PYTHONPATH=$PWD python bench/pwdw_blocks.py --rounds 6 --repeat 20 [--only mnv2_f3,effb0_f3_0] [--cflags ...]
"""
import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

import numpy as np
from onnx import TensorProto, helper as h, numpy_helper as nh

# name: (C in, E expanded, M out, H = W, K, stride, act between, act after the depthwise)
BLOCKS = {
    "mnv2_f2": (16, 96, 24, 112, 3, 2, "relu6", "relu6"),
    "mnv2_f3": (24, 144, 24, 56, 3, 1, "relu6", "relu6"),
    "mnv2_f4": (24, 144, 32, 56, 3, 2, "relu6", "relu6"),
    "mnv2_f5": (32, 192, 32, 28, 3, 1, "relu6", "relu6"),
    "mnv2_f7": (32, 192, 64, 28, 3, 2, "relu6", "relu6"),
    "mnv2_f8": (64, 384, 64, 14, 3, 1, "relu6", "relu6"),
    "mnv2_f11": (96, 576, 96, 14, 3, 1, "relu6", "relu6"),
    "mnv2_f15": (160, 960, 160, 7, 3, 1, "relu6", "relu6"),
    "effb0_f2_0": (16, 96, 24, 112, 3, 2, "silu", "silu"),
    "effb0_f2_1": (24, 144, 24, 56, 3, 1, "silu", "silu"),
    "effb0_f3_0": (24, 144, 40, 56, 5, 2, "silu", "silu"),
    "effb0_f3_1": (40, 240, 40, 28, 5, 1, "silu", "silu"),
    "effb0_f4_0": (40, 240, 80, 28, 3, 2, "silu", "silu"),
    "effb0_f4_1": (80, 480, 80, 14, 3, 1, "silu", "silu"),
    "effb0_f5_0": (80, 480, 112, 14, 5, 1, "silu", "silu"),
    "effb0_f5_1": (112, 672, 112, 14, 5, 1, "silu", "silu"),
    "effb0_f6_1": (192, 1152, 192, 7, 5, 1, "silu", "silu"),
    "mnv3s_f2": (16, 72, 24, 56, 3, 2, "relu", None),
    "mnv3s_f3": (24, 88, 24, 28, 3, 1, "relu", None),
    "mnv3s_f4": (24, 96, 40, 28, 5, 2, "hardswish", "hardswish"),
    "mnv3s_f5": (40, 240, 40, 14, 5, 1, "hardswish", "hardswish"),
    "mnv3s_f8": (48, 144, 48, 14, 5, 1, "hardswish", "hardswish"),
}
STEP = re.compile(r"step (\S+)\s+([\d.]+) us")


def act_nodes(kind, x, y):
    if kind == "relu6":
        return [h.make_node("Clip", [x, "lo", "hi"], [y])]
    if kind == "relu":
        return [h.make_node("Relu", [x], [y])]
    if kind == "hardswish":
        return [h.make_node("HardSwish", [x], [y])]
    if kind == "silu":
        return [h.make_node("Sigmoid", [x], [y + "_s"]), h.make_node("Mul", [x, y + "_s"], [y])]
    return [h.make_node("Identity", [x], [y])]


def block_model(C, E, M, HW, K, S, act, dw_act, seed=0):
    rng = np.random.default_rng(seed)
    inits = [nh.from_array(np.array(0.0, np.float32), "lo"), nh.from_array(np.array(6.0, np.float32), "hi")]

    def w(name, shape, scale=None):
        fan = int(np.prod(shape[1:])) if len(shape) > 1 else 1
        a = rng.standard_normal(shape) * (scale if scale is not None else 1 / np.sqrt(fan))
        inits.append(nh.from_array(a.astype(np.float32), name))
        return name

    p = K // 2
    nodes = [h.make_node("Conv", ["x", w("Wi", [C, C, 1, 1]), w("bi", [C], 0.1)], ["xi"]),
             h.make_node("Conv", ["xi", w("We", [E, C, 1, 1]), w("be", [E], 0.1)], ["e0"])]
    nodes += act_nodes(act, "e0", "e")
    nodes.append(h.make_node("Conv", ["e", w("Wd", [E, 1, K, K]), w("bd", [E], 0.1)], ["d0"], group=E,
                             pads=[p, p, p, p], strides=[S, S]))
    nodes += act_nodes(dw_act, "d0", "d")
    nodes.append(h.make_node("Conv", ["d", w("Wp", [M, E, 1, 1]), w("bp", [M], 0.1)], ["y"]))
    OH = (HW + 2 * p - K) // S + 1
    g = h.make_graph(nodes, "blk", [h.make_tensor_value_info("x", TensorProto.FLOAT, [1, C, HW, HW])],
                     [h.make_tensor_value_info("y", TensorProto.FLOAT, [1, M, OH, OH])], inits)
    m = h.make_model(g, opset_imports=[h.make_opsetid("", 17)])
    m.ir_version = 8
    return m


def build(m, fused: bool, out: Path, cflags):
    import sdk
    from sdk import pipeline
    from sdk.transform import fuse_dw_project as fdp, layout
    layout.BORDER_PER_DEPTHWISE = 8  # a lone block has more layout borders than a net's (tests do the same)
    host = fdp.fuse_options(sdk.targets.load_target("host")) or {}
    opts = dict(host, pw_dw=True, dw_project=False)
    for k in ("pw_dw_strides", "pw_dw_kernels", "pw_dw_min_bytes", "pw_dw_max_k", "pw_dw_silu_min_bytes"):
        opts.pop(k, None)
    pipeline.fuse_options = (lambda tgt: opts) if fused else (lambda tgt: dict(host, pw_dw=False) if host else None)
    b = sdk.compile(m, target="host", name="model")
    ops = [x.op for x in b.program.func.bindings]
    assert ("PwDwNHWC" in ops) == fused, ops
    b.save(out, force=True)
    base = next(ln.split("=", 1)[1].strip() for ln in (out / "Makefile").read_text().splitlines()
                if ln.startswith("CFLAGS ="))
    subprocess.run(["make", "-s", "-B", "-C", str(out), "CFLAGS=" + " ".join([base, *cflags])], check=True,
                   capture_output=True)
    return b.plan.arena_bytes


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=6)
    ap.add_argument("--repeat", type=int, default=20)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--only", default="")
    ap.add_argument("--cflags", default="", help="extra CFLAGS for both builds (e.g. -DFZ_STRIP_K3S2=1)")
    a = ap.parse_args()
    from sdk.backends.host.runner import run_demo
    names = [n for n in BLOCKS if not a.only or n in a.only.split(",")]
    clock = ["-DSDK_PROF_CLOCK=CLOCK_THREAD_CPUTIME_ID"] if a.threads == 1 else []
    print(f"{a.threads} thread(s), {a.rounds} alternating rounds x {a.repeat} runs, per-step minima; "
          f"load {os.getloadavg()[0]:.1f}; extra cflags: {a.cflags or '-'}\n")
    print("| block | C -> E on HxW, dw | pair us (steps) | fused us | fused/pair | arena pair / fused | max diff |")
    print("|---|---|---:|---:|---:|---|---:|")
    for n in names:
        C, E, M, HW, K, S, act, dw_act = BLOCKS[n]
        m = block_model(C, E, M, HW, K, S, act, dw_act)
        feed = {"x": np.random.default_rng(1).standard_normal((1, C, HW, HW)).astype(np.float32)}
        with tempfile.TemporaryDirectory() as td:
            out = {k: Path(td) / k for k in ("pair", "fused")}
            arena = {k: build(m, k == "fused", out[k], a.cflags.split() + ["-DSDK_PROFILE", *clock]) for k in out}
            steps = {k: defaultdict(list) for k in out}
            res = {}
            for r in range(a.rounds):
                for k in (("pair", "fused") if r % 2 == 0 else ("fused", "pair")):
                    meta = json.loads((out[k] / "bundle.json").read_text())
                    o, _, proc = run_demo([str(out[k] / "model_main")], meta, feed, repeat=a.repeat, threads=a.threads)
                    res[k] = o["y"]
                    for ln in proc.stderr.splitlines():
                        mt = STEP.match(ln)
                        if mt:
                            steps[k][mt.group(1)].append(float(mt.group(2)))
        mins = {k: {s: min(v) for s, v in st.items()} for k, st in steps.items()}
        # the fused step; the pair: the depthwise step and the step before it (the expansion)
        order = list(mins["pair"])
        dw = next(i for i, s in enumerate(order) if s.startswith("sdk_dwconv2d_nhwc_f32"))
        only = {"pair": order[dw - 1: dw + 1], "fused": [s for s in mins["fused"] if s.startswith("sdk_pwdw")]}
        tp, tf = sum(mins["pair"][s] for s in only["pair"]), sum(mins["fused"][s] for s in only["fused"])
        diff = float(np.abs(res["pair"] - res["fused"]).max())
        parts = " + ".join(f"{mins['pair'][s]:.1f}" for s in only["pair"])
        print(f"| {n} | {C} -> {E} on {HW}x{HW}, {K}x{K}/{S} {act}/{dw_act} | {tp:.1f} ({parts}) | {tf:.1f} | "
              f"{tf / tp:.3f} | "
              f"{arena['pair']} / {arena['fused']} | {diff:.1e} |", flush=True)
    print(f"\nload at the end {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
