"""Convolution weight gradients as GEMMs (``sdk_conv2d_grad_weight_f32``: im2col panels times dY) against the
generated loop nest (the profile's ``[lower] conv_grad_weight_kernel = false``, CUDA's setting), in the training
step of each model (every parameter trained, SGD momentum 0.9), the two builds' steps interleaved:

    python bench/train_grad_weight.py [--repeat 20]

Columns: the step's planned arena of each build, the median CPU time of the stepping thread (one thread; a loaded
machine disturbs it far less than the wall clock), and the largest difference of a trained parameter between the
builds after the same steps (summation order only)."""
from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "bench"))
os.environ.setdefault("OMP_NUM_THREADS", "1")

CASES = ["small_cnn all", "kws all", "deep_cnn all", "cnn example all"]


def main():
    from sdk.targets import load_target
    from sdk.train import compile_train
    from train_memory import CASES as MODELS, batch_dims, model_path
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeat", type=int, default=20)
    a = ap.parse_args()
    off = load_target("host")
    off.data = {**off.data, "lower": {**off.data.get("lower", {}), "conv_grad_weight_kernel": False}}
    print("| model, trainable | arena, loop nest | arena, GEMM | ms, loop nest | ms, GEMM | speed-up | "
          "max abs dparam |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for name in CASES:
        onnx_path, _, inp, shape, classes, trainable = MODELS[name][:6]
        path = model_path(onnx_path)
        kw = dict(trainable=trainable, momentum=0.9, dims=batch_dims(path, shape))
        builds = [(compile_train(path, target=t, **kw), []) for t in (off, "host")]
        states = [tb.init_state() for tb, _ in builds]
        rng = np.random.default_rng(0)
        x = rng.standard_normal(shape).astype(np.float32)
        y = rng.integers(0, classes, shape[0]).astype(np.int64)
        for k in range(3 + a.repeat):
            for (tb, ts), st in zip(builds, states):
                t0 = time.thread_time()
                tb.step(st, {inp: x}, y, 0.01)
                if k >= 3:
                    ts.append(time.thread_time() - t0)
        (loop, t_loop), (gemm, t_gemm) = builds
        ms = [1e3 * float(np.median(t)) for t in (t_loop, t_gemm)]
        diff = max(float(np.abs(states[0][p] - states[1][p]).max()) for p in gemm.params)
        print(f"| {name} | {loop.memory()['arena_bytes']} | {gemm.memory()['arena_bytes']} | {ms[0]:.3f} | "
              f"{ms[1]:.3f} | {ms[0] / ms[1]:.2f}x | {diff:.2g} |", flush=True)


if __name__ == "__main__":
    main()
