"""The KWS fine-tuning example on an emulated Cortex-M (qemu, serial protocol), float32 backbone against the int8
backbone (``--backbone int8``) in the same run:

    python bench/train_mcu.py [--target cortex-m7] [--steps 60]

Each row is ``examples/finetune/finetune.py --target TARGET --backbone B``: the classifier (float32, the
firmware's RAM state) learns keyword 4 from 16 samples plus 16 of the old keywords (SGD, momentum 0.9, batch 8);
accuracy per keyword on 200 held-out samples before and after (the host-compiled model with the same backbone and
the device's trained classifier), the step's planned arena and training state, the frozen weights, the firmware's
flash and RAM (.data + .bss + stack: arena, receive buffers, state), and the median cycles a step (qemu's
instruction clock, ``-icount shift=5``: deterministic, not a real M7's timing; the machine's load does not change
it)."""
from __future__ import annotations

import argparse
import os
import sys
import tempfile

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "examples", "finetune"))


def _acc(d):
    return " ".join(f"{c}:{v:.2f}" for c, v in d.items())


def main():
    from finetune import main as finetune
    ap = argparse.ArgumentParser(description="KWS fine-tuning on a Cortex-M: fp32 vs int8 backbone")
    ap.add_argument("--target", default="cortex-m7")
    ap.add_argument("--steps", type=int, default=60)
    a = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for backbone in ("fp32", "int8"):
            before, after, losses, info = finetune(["--target", a.target, "--backbone", backbone, "--steps",
                                                    str(a.steps), "--out", tmp])
            rows.append((backbone, before, after, losses, info))
    print()
    print("| backbone | accuracy before | accuracy after | loss first -> last | arena B | state B | frozen weights B "
          "| firmware flash B | firmware RAM B | cycles a step |")
    print("| --- | --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for backbone, before, after, losses, m in rows:
        print(f"| {backbone} | {_acc(before)} | {_acc(after)} | {losses[0]:.3f} -> {losses[-1]:.3f} | "
              f"{m['arena_bytes']} | {m['state_bytes']} | {m['frozen_weight_bytes']} | {m['flash_bytes']} | "
              f"{m['ram_bytes']} | {np.median(m['cycles']):.0f} |")
    f32, i8 = rows[0][4], rows[1][4]
    print(f"\nint8 / fp32: arena {i8['arena_bytes'] / f32['arena_bytes']:.2f}x, flash "
          f"{i8['flash_bytes'] / f32['flash_bytes']:.2f}x, RAM {i8['ram_bytes'] / f32['ram_bytes']:.2f}x, cycles "
          f"{np.median(i8['cycles']) / np.median(f32['cycles']):.2f}x")


if __name__ == "__main__":
    main()
