"""Batch-1 GEMV layers (issues 15 and 18): sdk's GEMV kernel against the path it replaces and onnxruntime, 1 thread.

    python bench/gemv.py [--trials 3000]

One single-layer ONNX model per shape (the slow ones of the MobileNetV3-S / RegNet / EfficientNet profiles and the
question generator's output layer), built three ways in the same run:
- **sdk gemv**: the default build (``sdk_gemv_f32``, weight packed at build time, epilogue fused);
- **sdk before**: the same build with the GEMV rewrite switched off (the default scheduled GEMM / conv kernel);
- **ort**: onnxruntime, 1 intra-op thread, all graph optimizations.
Times: the fastest of ``--trials`` runs (short trials, so a loaded machine still gives some uninterrupted ones):
sdk's from its demo program (clock around ``<name>_run`` inside the process, ``--threads 1``), onnxruntime's from
perf_counter around ``session.run`` (its Python call overhead, a few us, included). GB/s: the layer's weight bytes
(float32, read once) over the sdk gemv time; the outputs of all three agree (np.allclose rtol 1e-4, atol 1e-5).
"""
from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import onnx  # noqa: E402
from onnx import TensorProto as T  # noqa: E402
from onnx import helper as h  # noqa: E402
from onnx import numpy_helper as nh  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import sdk  # noqa: E402
from sdk.backends.host.runner import HostRunner  # noqa: E402
from sdk.tune import gemv  # noqa: E402

# (label, form, outputs N, reduction K, activation)
SHAPES = [
    ("MobileNetV3-S classifier fc2", "gemm", 1000, 1024, None),
    ("MobileNetV3-S classifier fc1", "gemm", 1024, 576, "HardSwish"),
    ("RegNetY-400MF SE reduce", "conv", 110, 440, "Relu"),
    ("MobileNetV3-S SE expand", "conv", 576, 144, "HardSigmoid"),
    ("MobileNetV3-S SE reduce", "conv", 144, 576, "Relu"),
    ("question generator output", "gemm", 2000, 128, None),
]


def layer_model(form: str, N: int, K: int, act):
    rng = np.random.default_rng(0)
    w = (rng.standard_normal((N, K)) / np.sqrt(K)).astype(np.float32)
    b = rng.standard_normal(N).astype(np.float32) * 0.1
    if form == "gemm":
        nodes, x, y = [h.make_node("Gemm", ["x", "W", "b"], ["z" if act else "y"], transB=1)], [1, K], [1, N]
        inits = [nh.from_array(w, "W"), nh.from_array(b, "b")]
    else:
        nodes, x, y = [h.make_node("Conv", ["x", "W", "b"], ["z" if act else "y"])], [1, K, 1, 1], [1, N, 1, 1]
        inits = [nh.from_array(w.reshape(N, K, 1, 1), "W"), nh.from_array(b, "b")]
    if act:
        nodes.append(h.make_node(act, ["z"], ["y"]))
    g = h.make_graph(nodes, "layer", [h.make_tensor_value_info("x", T.FLOAT, x)],
                     [h.make_tensor_value_info("y", T.FLOAT, y)], inits)
    m = h.make_model(g, opset_imports=[h.make_opsetid("", 17)])
    m.ir_version = 8
    return m, {"x": rng.standard_normal(x).astype(np.float32)}


def time_sdk(model, feeds, trials: int, td: Path, tag: str, use_gemv: bool):
    rewrite = gemv.rewrite
    if not use_gemv:
        gemv.rewrite = lambda *a, **k: None  # the path before: the default GEMM / conv schedule
    try:
        b = sdk.compile(model)
    finally:
        gemv.rewrite = rewrite
    fns = sorted({"scheduled" if getattr(s, "impl", None) else getattr(s, "fn", "loop") for s in b.program.steps})
    out = b.save(td / tag)
    got, info = HostRunner(threads=1).run(out, feeds, repeat=trials, rebuild=True)
    return float(info["min_ms"]), got["y"], fns


def time_ort(model, feeds, trials: int):
    import onnxruntime as ort
    so = ort.SessionOptions()
    so.intra_op_num_threads = so.inter_op_num_threads = 1
    so.log_severity_level = 3
    sess = ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])
    y = sess.run(None, feeds)[0]
    best = 1e9
    for _ in range(trials):
        t0 = time.perf_counter()
        sess.run(None, feeds)
        best = min(best, time.perf_counter() - t0)
    return 1e3 * best, y


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--trials", type=int, default=3000)
    a = ap.parse_args(argv)
    print("| layer | form | W [N x K] | weight KB | sdk gemv us | sdk before us | ort us | gemv / ort | "
          "before / gemv | gemv GB/s | kernels | equal |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as td:
        for k, (label, form, N, K, act) in enumerate(SHAPES):
            model, feeds = layer_model(form, N, K, act)
            t_g, y_g, fns = time_sdk(model, feeds, a.trials, Path(td), f"g{k}", True)
            t_b, y_b, _ = time_sdk(model, feeds, a.trials, Path(td), f"b{k}", False)
            t_o, y_o = time_ort(model, feeds, a.trials)
            eq = all(np.allclose(v, y_o, rtol=1e-4, atol=1e-5) for v in (y_g, y_b))
            wb = 4 * N * K
            print(f"| {label}{' + ' + act if act else ''} | {form} | {N} x {K} | {wb / 1024:.0f} | "
                  f"{1e3 * t_g:.1f} | {1e3 * t_b:.1f} | {1e3 * t_o:.1f} | {t_g / t_o:.2f} | {t_b / t_g:.2f} | "
                  f"{wb / (t_g * 1e-3) / 1e9:.1f} | {', '.join(fns)} | {'yes' if eq else 'NO'} |", flush=True)
    print(f"\nuptime: {os.popen('uptime').read().strip()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
