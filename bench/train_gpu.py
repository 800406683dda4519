"""Mixed-precision training on a CUDA GPU: the CNN example's step (examples/make_examples.py cnn, batch 32, every
parameter, SGD momentum 0.9) built fp32, bf16 and fp16 (tensor-core products, fp32 master weights; fp16 with
dynamic loss scaling), trained on the same batches; loss curves side by side, against the host's fp32 in-process
steps.

    python bench/train_gpu.py build DIR        # here (nvcc, no GPU): bundles, demo programs, data, host losses
                                                (programs already in DIR are kept)
    sh DIR/run.sh DIR OUT                       # where the GPU is: writes OUT/{fp32,fp16}.log, OUT/*_params.bin
    python bench/train_gpu.py report DIR OUT   # here: the table

The data: 8 batches of 32 shapes drawn by examples/finetune/shapes.py (4 classes), step s trains on batch s % 8."""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "examples"))
sys.path.insert(0, os.path.join(ROOT, "examples", "finetune"))

BATCH, BATCHES, STEPS, LR = 32, 8, 300, 0.05
PRECISIONS = ("fp32", "fp16", "bf16")  # bf16: fp32's range, no loss scaling
FLAGS = "-O3 -std=c++17 -arch=sm_90 -Xcompiler -Wall,-Wextra"


def _train(**kw):
    from make_examples import cnn
    from sdk.train import compile_train
    return compile_train(cnn(), dims={"batch": BATCH}, trainable="all", momentum=0.9, **kw)


def build(d: Path):
    from sdk.tensorfile import write_tensor
    from shapes import dataset
    d.mkdir(parents=True, exist_ok=True)
    x, y = dataset([0, 1, 2, 3], BATCH * BATCHES, seed=11)
    write_tensor(d / "x.sdkt", x.reshape(BATCHES, BATCH, 1, 28, 28))
    write_tensor(d / "labels.sdkt", y.reshape(BATCHES, BATCH))
    for p in PRECISIONS:
        if (d / p / "model_train_demo").exists():
            continue  # built before (delete DIR to rebuild)
        out = _train(target="cuda-sm90", precision=p).save(d / p, force=True)
        subprocess.run(["make", "-s", "-C", str(out), "model_train_demo", f"NVCCFLAGS={FLAGS}"], check=True)
    host = _train()
    state = host.init_state()
    losses = [host.step(state, {"image": x[s % BATCHES * BATCH:(s % BATCHES + 1) * BATCH]},
                        y[s % BATCHES * BATCH:(s % BATCHES + 1) * BATCH], LR)[0] for s in range(STEPS)]
    np.save(d / "host_losses.npy", np.array(losses, np.float32))
    np.savez(d / "host_params.npz", **{p: state[p] for p in host.params})
    (d / "run.sh").write_text(f"""#!/bin/sh
# sh run.sh DIR OUT: the demo programs on the same batches; logs and trained parameters into OUT
D=$1; OUT=$2; mkdir -p "$OUT"
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader > "$OUT/gpu.txt" 2>&1
NVCC="$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)"
for p in {' '.join(PRECISIONS)}; do  # built elsewhere: rebuilt here (in parallel) when one does not start
  "$D/$p/model_train_demo" 1 {LR} "$D/x.sdkt" "$D/labels.sdkt" > /dev/null 2>&1 || \
    {{ echo "rebuilding $p"; make -s -C "$D/$p" -B model_train_demo NVCC="$NVCC" NVCCFLAGS="{FLAGS}" & }}
done
wait
for p in {' '.join(PRECISIONS)}; do
  mkdir -p "/tmp/train_gpu_$p"
  "$D/$p/model_train_demo" {STEPS} {LR} "$D/x.sdkt" "$D/labels.sdkt" "/tmp/train_gpu_$p" > "$OUT/$p.log" 2>&1
  echo "$p: exit $?"
  cat $(ls /tmp/train_gpu_$p/*.sdkt | sort -V) > "$OUT/${{p}}_params.bin"
done
""")
    print("built", d)


def _log(path: Path):
    rows = [ln.split() for ln in path.read_text().splitlines() if ln.startswith("step ")]
    return {"loss": np.array([float(r[3]) for r in rows]), "scale": np.array([float(r[5]) for r in rows]),
            "taken": np.array([int(r[7]) for r in rows]), "ms": np.array([float(r[9]) for r in rows])}


def _params(path: Path, shapes):
    """The trained parameters: the demo's OUT_DIR/<k>.sdkt files (float32, rank 1) concatenated."""
    from sdk.tensorfile import parse_tensor
    buf, out, at = path.read_bytes(), [], 0
    for shape in shapes:
        size = 4 + 4 + 4 + 4 + 8 + 4 * int(np.prod(shape))  # SDKT, version, dtype, rank 1, dims[1], data
        out.append(parse_tensor(buf[at:at + size], str(path)).reshape(shape))
        at += size
    return out


def report(d: Path, o: Path):
    host = np.load(d / "host_losses.npy")
    hp = np.load(d / "host_params.npz")
    names = list(hp.keys())
    logs = {p: _log(o / f"{p}.log") for p in PRECISIONS}
    params = {p: _params(o / f"{p}_params.bin", [hp[n].shape for n in names]) for p in PRECISIONS}
    gpu = (o / "gpu.txt").read_text().strip() if (o / "gpu.txt").exists() else "?"
    print(f"GPU: {gpu}; {STEPS} steps, batch {BATCH}, lr {LR}")
    print(f"{'build':6} | {'loss 0':>8} | {'loss 10':>8} | {'loss 50':>8} | {'mean last 50':>12} | {'skipped':>7} | "
          f"{'final scale':>11} | {'max |loss - host fp32|':>22} | {'max rel dparam vs host':>22} | {'median ms':>9}")
    for p in PRECISIONS:
        lg = logs[p]
        rel = max(float(np.abs(a - hp[n]).max() / max(np.abs(hp[n]).max(), 1e-12)) for a, n in zip(params[p], names))
        print(f"{p:6} | {lg['loss'][0]:8.4f} | {lg['loss'][10]:8.4f} | {lg['loss'][50]:8.4f} | "
              f"{lg['loss'][-50:].mean():12.4f} | {int((lg['taken'] == 0).sum()):7d} | {lg['scale'][-1]:11g} | "
              f"{float(np.abs(lg['loss'] - host).max()):22.3g} | {rel:22.3g} | {float(np.median(lg['ms'])):9.3f}")
    print(f"host   | {host[0]:8.4f} | {host[10]:8.4f} | {host[50]:8.4f} | {host[-50:].mean():12.4f}")
    skipped = np.nonzero(logs["fp16"]["taken"] == 0)[0]
    print("fp16 skipped steps:", skipped.tolist(), "scales:", sorted(set(logs["fp16"]["scale"].tolist())))


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("mode", choices=["build", "report"])
    ap.add_argument("dir")
    ap.add_argument("out", nargs="?")
    a = ap.parse_args()
    build(Path(a.dir)) if a.mode == "build" else report(Path(a.dir), Path(a.out))
