"""Fine-tune the keyword model's last layer on a new keyword, on the host or a Cortex-M7 (qemu, serial protocol):

    python examples/finetune/finetune.py [--target host|cortex-m7|cortex-m4] [--shots 16] [--steps 60]
                                         [--backbone fp32|int8]

The backbone (kws_backbone.onnx, make_backbone.py) knows keywords 0-3 and never predicts keyword 4. The training
step (sdk.train.compile_train: the classifier trains, the convolutions stay frozen constants) runs on ``--shots``
samples of the new keyword plus as many of the old ones (so it keeps them); accuracy is measured on held-out
samples of all five before and after, with the trained classifier put back into the model and compiled for the
host. ``--backbone int8``: the frozen convolutions run in int8 (calibrated on the training batches), the classifier
trains in float32 on their dequantised features; accuracy is measured with the same int8 backbone."""
from __future__ import annotations

import argparse
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", ".."))
import sdk  # noqa: E402
from keywords import dataset  # noqa: E402
from sdk.train import compile_train  # noqa: E402

MODEL = os.path.join(HERE, "kws_backbone.onnx")
BATCH = 8


def accuracy(b, x, y):
    pred = np.concatenate([b.run({"mfcc": x[i:i + BATCH]})["logits"].argmax(1) for i in range(0, len(y), BATCH)])
    return {c: float((pred[y == c] == c).mean()) for c in range(5)}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--target", default="host")
    ap.add_argument("--shots", type=int, default=16, help="samples of the new keyword (and of the old ones)")
    ap.add_argument("--steps", type=int, default=60)
    ap.add_argument("--lr", type=float, default=0.005)
    ap.add_argument("--backbone", choices=["fp32", "int8"], default="fp32",
                    help="the frozen layers in float32 or int8 (the trained classifier is float32 either way)")
    ap.add_argument("--out", default=os.path.join("out", "finetune"))
    a = ap.parse_args(argv)
    xt, yt = dataset(range(5), 40, seed=99)
    # training data: the new keyword and the old ones, a few of each, in batches of 8
    x4, y4 = dataset([4], a.shots, seed=5)
    xo, yo = dataset([0, 1, 2, 3], max(1, a.shots // 4), seed=6)
    x, y = np.concatenate([x4, xo]), np.concatenate([y4, yo])
    perm = np.random.default_rng(0).permutation(len(y))
    x, y = x[perm], y[perm]
    nb = len(y) // BATCH
    xb, yb = x[:nb * BATCH].reshape(nb, BATCH, 1, 49, 10), y[:nb * BATCH].reshape(nb, BATCH)
    cal = [{"mfcc": b} for b in xb] if a.backbone == "int8" else None  # the activation ranges: the training data
    tb = compile_train(MODEL, target=a.target, trainable="last:1", optimizer="sgd", momentum=0.9, name="kws",
                       backbone=a.backbone, calibration=cal)
    before = accuracy(tb.inference_bundle(tb.init_state()), xt, yt)
    mem = tb.memory()
    if a.target == "host":
        state = tb.init_state()
        losses = [tb.step(state, {"mfcc": xb[s % nb]}, yb[s % nb], a.lr)[0] for s in range(a.steps)]
        extra = ""
    else:
        from sdk.backends.mcu.runner import CortexMRunner
        out = tb.save(os.path.join(a.out, f"{a.target}-{a.backbone}"), force=True)
        losses, state, info = CortexMRunner().train(out, [xb], yb, a.lr, a.steps)
        extra = (f"; on {a.target}: {np.median(info['cycles']):.0f} cycles a step, firmware RAM "
                 f"{info['ram_bytes']} B, flash {info['flash_bytes']} B")
    after = accuracy(tb.inference_bundle(state), xt, yt)
    print(f"trained {', '.join(tb.params)} ({mem['trainable_bytes']} B) on {len(y)} samples, {a.steps} steps: "
          f"loss {losses[0]:.3f} -> {losses[-1]:.3f}")
    print("accuracy per keyword before: " + " ".join(f"{c}:{v:.2f}" for c, v in before.items()))
    print("accuracy per keyword after:  " + " ".join(f"{c}:{v:.2f}" for c, v in after.items()))
    print(f"{a.backbone} backbone; step memory: arena {mem['arena_bytes']} B + training state "
          f"{mem['state_bytes']} B (RAM), frozen "
          f"weights {mem['frozen_weight_bytes']} B (flash){extra}")
    return before, after, losses, ({**mem, **info} if a.target != "host" else mem)


if __name__ == "__main__":
    main()
