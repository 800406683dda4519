"""CUDA bundles of real models on a GPU against onnxruntime (fp32, CPU): build with nvcc, run, compare, print a table.

    python bench/gpu_models.py                      # everything, on the GPU machine (needs nvcc, numpy, onnx,
                                                    # onnxruntime and the sdk's own deps; no network)
    python bench/gpu_models.py prepare --work DIR   # CPU side only: bundles, inputs, onnxruntime references
    python bench/gpu_models.py measure --work DIR   # GPU side only: nvcc + run + compare (numpy only)

Models: ResNet-50 from the onnx light zoo (its ConstantOfShape weights replaced by random ones, as tests/zoo.py does,
so the comparison means something), the other light-zoo CNNs, and tests/models/torch_names.onnx (a PyTorch
TorchScript export: names with '/' and '.'). Error: max |y - ref| / max |ref| per output; limit 1e-3 (fp32 GPU
arithmetic in a different summation order than onnxruntime's)."""
from __future__ import annotations

import argparse
import json
import shutil
import struct
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
LIMIT = 1e-3
REPEAT = 20
ZOO = ("resnet50", "squeezenet", "densenet121", "inception_v1", "inception_v2", "shufflenet", "vgg19", "zfnet512",
       "bvlc_alexnet")
NVCC_FLAGS = "-O3 -std=c++17 -arch=sm_90"
DTYPES = {1: np.float32, 2: np.uint8, 3: np.int8, 4: np.uint16, 5: np.int16, 6: np.int32, 7: np.int64, 9: np.bool_,
          11: np.float64, 12: np.uint32, 13: np.uint64}


def models():
    """{name: (ModelProto, dims bounds)}."""
    import onnx
    sys.path.insert(0, str(ROOT / "tests"))
    from zoo import ZOO as AVAILABLE, randomized
    out = {"torch_names": (onnx.load(ROOT / "tests" / "models" / "torch_names.onnx"), {"batch": 2})}
    for name in ZOO:
        if name in AVAILABLE:
            out[name] = (randomized(name), {})
    return out


def write_sdkt(path, a):
    code = {np.dtype(v): k for k, v in DTYPES.items()}[a.dtype]
    with open(path, "wb") as f:
        f.write(b"SDKT" + struct.pack("<Iii", 1, code, a.ndim) + struct.pack(f"<{a.ndim}q", *a.shape))
        f.write(np.ascontiguousarray(a).tobytes())


def read_sdkt(path):
    data = Path(path).read_bytes()
    _, code, rank = struct.unpack_from("<Iii", data, 4)
    dims = struct.unpack_from(f"<{rank}q", data, 16)
    return np.frombuffer(data, DTYPES[code], int(np.prod(dims)) if dims else 1, 16 + 8 * rank).reshape(dims)


def prepare(work: Path, only=None):
    """Bundles (cuda-sm90, fp32), random inputs, and onnxruntime's fp32 outputs."""
    import onnxruntime as ort
    sys.path.insert(0, str(ROOT))
    import sdk
    work.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    cases = []
    for name, (model, bounds) in models().items():
        if only and name not in only:
            continue
        t0 = time.perf_counter()
        try:
            b = sdk.compile(model, target="cuda-sm90", dims=bounds)
        except sdk.SdkError as e:
            print(f"{name}: does not compile: {e}")
            cases.append(dict(name=name, error=f"compile: {e}"))
            continue
        out = b.save(work / name)
        compile_s = time.perf_counter() - t0
        feeds = {}
        for vi in model.graph.input:
            if vi.name in {t.name for t in model.graph.initializer}:
                continue
            shape = [d.dim_value if d.HasField("dim_value") else bounds[d.dim_param]
                     for d in vi.type.tensor_type.shape.dim]
            feeds[vi.name] = rng.standard_normal(shape).astype(np.float32)
        so = ort.SessionOptions()
        so.log_severity_level = 3
        sess = ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])
        refs = sess.run(None, feeds)
        for k, a in enumerate(feeds.values()):
            write_sdkt(out / f"in{k}.sdkt", a)
        np.savez(out / "ref.npz", *refs)
        cases.append(dict(name=name, inputs=len(feeds), outputs=len(refs), compile_s=round(compile_s, 1),
                          model_cu_bytes=(out / "model.cu").stat().st_size,
                          weights_bytes=(out / "model_weights.bin").stat().st_size))
        print(f"{name}: bundle in {compile_s:.1f} s, model.cu {cases[-1]['model_cu_bytes']} bytes")
    (work / "cases.json").write_text(json.dumps(cases, indent=1))


def measure(work: Path):
    cases = json.loads((work / "cases.json").read_text())
    rows = []
    for c in cases:
        row = dict(name=c["name"], cu=c.get("model_cu_bytes"), build_s=None, ms=None, err=None, ok=False,
                   note=c.get("error", ""))
        rows.append(row)
        if "error" in c:
            continue
        d = work / c["name"]
        t0 = time.perf_counter()
        r = subprocess.run(["make", "-s", "-C", str(d), f"NVCCFLAGS={NVCC_FLAGS}"], capture_output=True, text=True)
        row["build_s"] = time.perf_counter() - t0
        if r.returncode != 0:
            row["note"] = "nvcc: " + (r.stderr.strip().splitlines() or ["?"])[-1][:120]
            continue
        ins = [f"in{k}.sdkt" for k in range(c["inputs"])]
        outs = [f"out{k}.sdkt" for k in range(c["outputs"])]
        r = subprocess.run(["./model_main", "--repeat", str(REPEAT), *ins, *outs], cwd=d, capture_output=True,
                           text=True)
        if r.returncode != 0:
            row["note"] = "run: " + (r.stderr.strip().splitlines() or ["?"])[-1][:120]
            continue
        for line in r.stdout.splitlines():
            if line.startswith("median_ms"):
                row["ms"] = float(line.split()[1])
        refs = np.load(d / "ref.npz")
        errs = []
        for k in range(c["outputs"]):
            y, ref = read_sdkt(d / outs[k]).astype(np.float64), refs[f"arr_{k}"].astype(np.float64)
            if y.shape != ref.shape:
                row["note"] = f"output {k}: shape {y.shape}, onnxruntime {ref.shape}"
                errs.append(float("inf"))
                continue
            errs.append(float(np.max(np.abs(y - ref)) / max(float(np.max(np.abs(ref))), 1e-30)))
        row["err"] = max(errs)
        row["ok"] = row["err"] < LIMIT
    gpu = subprocess.run(["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"], capture_output=True,
                         text=True).stdout.strip() if shutil.which("nvidia-smi") else "no nvidia-smi"
    print(f"\nCUDA bundles (cuda-sm90, fp32) vs onnxruntime {ort_version()} fp32 CPU; GPU: {gpu}; "
          f"error = max|y-ref|/max|ref|, limit {LIMIT:g}")
    print(f"| model | model.cu bytes | nvcc s | median ms ({REPEAT} runs) | error | ok | note |")
    print("| --- | ---: | ---: | ---: | ---: | --- | --- |")
    for r in rows:
        f = lambda v, fmt: "" if v is None else format(v, fmt)  # noqa: E731
        print(f"| {r['name']} | {f(r['cu'], 'd')} | {f(r['build_s'], '.1f')} | {f(r['ms'], '.3f')} | "
              f"{f(r['err'], '.2e')} | {'yes' if r['ok'] else 'NO'} | {r['note']} |")
    return all(r["ok"] for r in rows)


def ort_version():
    try:
        import onnxruntime
        return onnxruntime.__version__
    except ImportError:
        return "?"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("step", nargs="?", default="all", choices=["all", "prepare", "measure"])
    ap.add_argument("--work", type=Path, default=ROOT / "bench" / "data" / "gpu_models")
    ap.add_argument("--models", nargs="*", help="a subset of the models")
    a = ap.parse_args(argv)
    if a.step in ("all", "prepare"):
        prepare(a.work, a.models)
    if a.step in ("all", "measure"):
        return 0 if measure(a.work) else 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
