"""Dense 3x3 convolution layers (issue 15): Winograd F(4x4, 3x3) and F(2x2, 3x3) against sdk's im2col GEMM and
onnxruntime, one thread, in the same run.

    python bench/winograd.py [--trials 200] [--layers resnet18,squeezenet]
    python bench/winograd.py --zoo resnet18,squeezenet1_1,regnet_y_400mf [--rounds 4] [--trials 20]

One single-layer ONNX model (Conv 3x3, stride 1, pad 1, bias, ReLU: as in the networks) per shape: ResNet-18's
3x3 stride-1 layers and SqueezeNet 1.1's expand3x3 layers at 224x224 input. Each is built four ways:
- **im2col**: the default scheduled conv kernel (implicit im2col + packed GEMM), the Winograd rule switched off;
- **wino4** / **wino2**: ``sdk_winograd_f32`` with 4x4 / 2x2 output tiles (forced, tile block from the default rule);
- **default**: what the profile's ``[winograd]`` rule picks;
and onnxruntime (1 intra-op thread, all graph optimizations). Times: the fastest of ``--trials`` runs (sdk: the demo
program's clock around ``<name>_run``, ``--threads 1``; onnxruntime: perf_counter around ``session.run``).
Max relative error: max |y - y_ort| / max |y_ort| for each sdk build.

``--zoo``: whole models from ``bench/data/zoo_full`` (``bench/export_zoo_full.py``), one thread, built with the
Winograd rule off (before) and on (after), measured in alternating order over ``--rounds`` rounds next to
onnxruntime (``bench/zoo_latency.py``'s feeds and timers); the minimum over all rounds, the arena of each build and
the max relative error against onnxruntime.
"""
from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
import argparse  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import onnx  # noqa: E402
from onnx import TensorProto as T  # noqa: E402
from onnx import helper as h  # noqa: E402
from onnx import numpy_helper as nh  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import sdk  # noqa: E402
from gemv import time_ort  # noqa: E402
from sdk.backends.host.runner import HostRunner  # noqa: E402
from sdk.tune import winograd  # noqa: E402

# (label, C in, M out, plane, count in the network)
LAYERS = {
    "resnet18": [("ResNet-18 layer1", 64, 64, 56, 4), ("ResNet-18 layer2", 128, 128, 28, 3),
                 ("ResNet-18 layer3", 256, 256, 14, 3), ("ResNet-18 layer4", 512, 512, 7, 3)],
    "squeezenet": [("SqueezeNet fire2/3 expand3x3", 16, 64, 55, 2), ("SqueezeNet fire4/5 expand3x3", 32, 128, 27, 2),
                   ("SqueezeNet fire6/7 expand3x3", 48, 192, 13, 2), ("SqueezeNet fire8/9 expand3x3", 64, 256, 13, 2)],
}


def layer_model(C: int, M: int, P: int):
    rng = np.random.default_rng(0)
    w = (rng.standard_normal((M, C, 3, 3)) / np.sqrt(9 * C)).astype(np.float32)
    b = (rng.standard_normal(M) * 0.1).astype(np.float32)
    nodes = [h.make_node("Conv", ["x", "W", "b"], ["z"], pads=[1, 1, 1, 1], kernel_shape=[3, 3]),
             h.make_node("Relu", ["z"], ["y"])]
    g = h.make_graph(nodes, "layer", [h.make_tensor_value_info("x", T.FLOAT, [1, C, P, P])],
                     [h.make_tensor_value_info("y", T.FLOAT, [1, M, P, P])],
                     [nh.from_array(w, "W"), nh.from_array(b, "b")])
    m = h.make_model(g, opset_imports=[h.make_opsetid("", 17)])
    m.ir_version = 8
    return m, {"x": rng.standard_normal((1, C, P, P)).astype(np.float32)}


def forced(tile):
    """A ``winograd.choose`` that always picks ``tile`` (0: never), with the default rule's tile block."""
    def choose(wl, rule):
        if not tile:
            return None
        p = wl.p
        tiles = -(-p["OH"] // tile) * -(-p["OW"] // tile)
        cache = (rule or {}).get("cache_bytes", 1 << 20)
        return {"algorithm": "winograd", "tile": tile, "tb": winograd.tile_block(tile, p["C"], p["M"], tiles, cache)}
    return choose


def time_sdk(model, feeds, trials, td: Path, tag: str, tile=None):
    """(min ms, output, kernel) of the build with Winograd tile ``tile`` (0: off, None: the profile's rule)."""
    choose = winograd.choose
    if tile is not None:
        winograd.choose = forced(tile)
    try:
        b = sdk.compile(model)
    finally:
        winograd.choose = choose
    fn = next(("winograd" if s.fn == "sdk_winograd_f32" else "im2col") for s in b.program.steps
              if getattr(s, "fn", "").startswith(("sdk_winograd", "model_tk", "sdk_conv")))
    if fn == "winograd":
        fn += str(next(s.arg("m") for s in b.program.steps if s.fn == "sdk_winograd_f32"))
    out = b.save(td / tag)
    got, info = HostRunner(threads=1).run(out, feeds, repeat=trials, rebuild=True)
    return float(info["min_ms"]), got["y"], fn


def zoo(models, rounds: int, trials: int):
    from zoo_latency import FULL, feeds_for, ort_times, sdk_times
    print(f"uptime: {os.popen('uptime').read().strip()}")
    print("| model | winograd convs | sdk before ms | sdk after ms | ort ms | before / after | before / ort | "
          "after / ort | arena KiB before / after | max rel err before / after |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for name in models:
        model = onnx.load(str(FULL / f"{name}.onnx"))
        feed = feeds_for(model)
        ref, _, _ = ort_times(model, feed, 1, 1)
        choose = winograd.choose
        builds = {}
        for mode in ("before", "after"):
            if mode == "before":
                winograd.choose = forced(0)
            try:
                builds[mode] = sdk.compile(model, target="host")
            finally:
                winograd.choose = choose
        best = {"before": 1e9, "after": 1e9, "ort": 1e9}
        err = {}
        for r in range(rounds):
            for mode in (("before", "after") if r % 2 == 0 else ("after", "before")):
                got, _, t = sdk_times(builds[mode], feed, trials, threads=1)
                best[mode] = min(best[mode], t)
                err[mode] = max(float(np.abs(got[k] - v).max() / np.abs(v).max()) for k, v in ref.items())
            best["ort"] = min(best["ort"], ort_times(model, feed, 1, trials)[2])
        n = sum(getattr(s, "fn", "") == "sdk_winograd_f32" for s in builds["after"].program.steps)
        ar = [builds[m].plan.arena_bytes / 1024 for m in ("before", "after")]
        print(f"| {name} | {n} | {best['before']:.2f} | {best['after']:.2f} | {best['ort']:.2f} | "
              f"{best['before'] / best['after']:.2f} | {best['before'] / best['ort']:.2f} | "
              f"{best['after'] / best['ort']:.2f} | {ar[0]:.0f} / {ar[1]:.0f} | "
              f"{err['before']:.1e} / {err['after']:.1e} |", flush=True)
    print(f"uptime: {os.popen('uptime').read().strip()}")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--trials", type=int, default=200)
    ap.add_argument("--layers", default="resnet18,squeezenet")
    ap.add_argument("--zoo", default="", help="comma-separated zoo_full models: whole-model before/after instead")
    ap.add_argument("--rounds", type=int, default=4)
    a = ap.parse_args(argv)
    if a.zoo:
        zoo(a.zoo.split(","), a.rounds, a.trials)
        return 0
    print(f"uptime: {os.popen('uptime').read().strip()}")
    print("| layer | C -> M, plane | im2col ms | wino4 ms | wino2 ms | ort ms | default (kernel) ms | "
          "im2col / wino4 | default / ort | max rel err im2col / wino4 / wino2 |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as td:
        for net in a.layers.split(","):
            for k, (label, C, M, P, count) in enumerate(LAYERS[net]):
                model, feeds = layer_model(C, M, P)
                t_o, y_o = time_ort(model, feeds, a.trials)
                res = {t: time_sdk(model, feeds, a.trials, Path(td), f"{net}{k}_{t}", t) for t in (0, 4, 2)}
                t_d, _, fn_d = time_sdk(model, feeds, a.trials, Path(td), f"{net}{k}_d")
                err = [float(np.abs(res[t][1] - y_o).max() / np.abs(y_o).max()) for t in (0, 4, 2)]
                print(f"| {label} (x{count}) | {C} -> {M}, {P}x{P} | {res[0][0]:.3f} | {res[4][0]:.3f} | "
                      f"{res[2][0]:.3f} | {t_o:.3f} | {t_d:.3f} ({fn_d}) | {res[0][0] / res[4][0]:.2f} | "
                      f"{t_d / t_o:.2f} | {' / '.join(f'{e:.1e}' for e in err)} |", flush=True)
    print(f"uptime: {os.popen('uptime').read().strip()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
