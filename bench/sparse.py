"""Sparse weights on the host: at a given unstructured sparsity (default 90%), each BERT-style linear layer and
MobileNetV2-style 1x1 convolution (single-layer ONNX models, magnitude-pruned with sdk.prune's pruning) runs as

- the sdk bundle with the weight dense (``sparse="off"``) and stored sparse (``sparse="auto"``: the cost model's
  format; and each format forced: CSR, BSR, sliced ELL, hybrid BSR + CSR),
- onnxruntime on the same pruned model (it multiplies the zeros; one thread),
- scipy.sparse (CSR times the dense activations; the single-layer peer),

one table, same run, every time the fastest of ``--reps`` interleaved rounds in this process (the bundles through
the in-process LLVM engine: its library calls are the same C kernels), one thread each (``OMP_NUM_THREADS=1`` for
the dense bundle's OpenMP kernels, one intra-op thread for onnxruntime). Also: the format chosen per layer with the
cost model's estimate next to the measured time, the weight bytes against dense, and the goals of issue 19 (BERT
linear layers sparse/dense <= 0.5, MobileNetV2 1x1 convolutions <= 0.6, weights <= 0.35x).

    python bench/sparse.py                 # about 2 minutes on an idle machine
    python bench/sparse.py --quick         # a few layers
"""
from __future__ import annotations

import argparse
import os
import sys

os.environ.setdefault("OMP_NUM_THREADS", "1")  # one thread for every peer (the sparse kernels are single-threaded)
import time
from pathlib import Path

import numpy as np
from onnx import TensorProto as TP, helper as h, numpy_helper as nh

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import sdk  # noqa: E402
from sdk.sparse.pruning import prune_matrix  # noqa: E402
from sdk.transform.sparsify import sparse_options, sparse_reports  # noqa: E402

SEQ = 128  # BERT tokens per call (the MatMul rows)
BERT = [("bert.attn.qkv", 768, 768), ("bert.attn.out", 768, 768), ("bert.ffn.up", 768, 3072),
        ("bert.ffn.down", 3072, 768)]
# MobileNetV2 (224x224 input) 1x1 convolutions: (name, C in, C out, H = W)
MBV2 = [("mbv2.b1.project", 32, 16, 112), ("mbv2.b2.expand", 16, 96, 112), ("mbv2.b2.project", 96, 24, 56),
        ("mbv2.b3.expand", 24, 144, 56), ("mbv2.b3.project", 144, 24, 56), ("mbv2.b4.project", 144, 32, 28),
        ("mbv2.b5.expand", 32, 192, 28), ("mbv2.b5.project", 192, 32, 28), ("mbv2.b7.project", 192, 64, 14),
        ("mbv2.b8.expand", 64, 384, 14), ("mbv2.b8.project", 384, 64, 14), ("mbv2.b11.project", 384, 96, 14),
        ("mbv2.b12.expand", 96, 576, 14), ("mbv2.b14.project", 576, 160, 7), ("mbv2.b15.expand", 160, 960, 7),
        ("mbv2.b17.project", 960, 320, 7), ("mbv2.last", 320, 1280, 7)]
QUICK = {"bert.attn.qkv", "bert.ffn.up", "mbv2.b3.expand", "mbv2.b8.project", "mbv2.last"}
# --mcu: float32 layers that fit a Cortex-M4 (MobileNetV2 at 96x96, a BERT-style linear layer over 16 tokens)
MCU = [("mcu.mbv2.b3.project", "conv", 144, 24, 24), ("mcu.mbv2.b8.project", "conv", 384, 64, 6),
       ("mcu.mbv2.last", "conv", 320, 1280, 3), ("mcu.linear", "linear", 256, 256, 16)]


def _model(node, x, W, b):
    g = h.make_graph([node], "layer", [h.make_tensor_value_info("x", TP.FLOAT, list(x.shape))],
                     [h.make_tensor_value_info("y", TP.FLOAT, None)], [nh.from_array(W, "W"), nh.from_array(b, "b")])
    m = h.make_model(g, opset_imports=[h.make_opsetid("", 17)])
    m.ir_version = 8
    return m


def pruned(S, sparsity, block, mixed):
    """``S`` magnitude-pruned: unstructured or in blocks, or (``mixed``) in 8x1 blocks plus 4% of the other
    values kept (a partly block-structured weight, for the hybrid format)."""
    if mixed:
        keep = prune_matrix(S, sparsity, (8, 1)) != 0
        keep |= np.random.default_rng(1).random(S.shape) < 0.04
        return np.where(keep, S, 0).astype(np.float32)
    return prune_matrix(S, sparsity, block)


def layers(sparsity, quick, rng, block=(1, 1), mixed=False):
    """(name, kind, ONNX model, input, S[O, K] the weight as a matrix)."""
    out = []
    for name, k, n in BERT:
        if quick and name not in QUICK:
            continue
        S = pruned((rng.standard_normal((n, k)) / np.sqrt(k)).astype(np.float32), sparsity, block, mixed)
        x = rng.standard_normal((SEQ, k)).astype(np.float32)
        b = rng.standard_normal(n).astype(np.float32)
        m = _model(h.make_node("Gemm", ["x", "W", "b"], ["y"], transB=1), x, S, b)
        out.append((name, "bert", m, x, S))
    for name, c, o, hw in MBV2:
        if quick and name not in QUICK:
            continue
        S = pruned((rng.standard_normal((o, c)) / np.sqrt(c)).astype(np.float32), sparsity, block, mixed)
        x = rng.standard_normal((1, c, hw, hw)).astype(np.float32)
        m = _model(h.make_node("Conv", ["x", "W", "b"], ["y"]), x, S.reshape(o, c, 1, 1),
                   rng.standard_normal(o).astype(np.float32))
        out.append((name, "mbv2", m, x, S))
    return out


def mcu_table(sparsity, rng):
    """Cortex-M4 (qemu-system-arm, cycles of the instruction clock): dense and sparse firmware of each layer in
    ``MCU``, float32 and int8 (quantized with the input as calibration): cycles of one run and flash bytes (code +
    weights)."""
    import tempfile
    from sdk.backends.mcu.runner import CortexMRunner
    rows = []
    for name, kind, k, o, hw in MCU:
        S = prune_matrix((rng.standard_normal((o, k)) / np.sqrt(k)).astype(np.float32), sparsity)
        bias = rng.standard_normal(o).astype(np.float32)
        if kind == "conv":
            x = rng.standard_normal((1, k, hw, hw)).astype(np.float32)
            m = _model(h.make_node("Conv", ["x", "W", "b"], ["y"]), x, S.reshape(o, k, 1, 1), bias)
        else:
            x = rng.standard_normal((hw, k)).astype(np.float32)
            m = _model(h.make_node("Gemm", ["x", "W", "b"], ["y"], transB=1), x, S, bias)
        for precision in ("float32", "int8"):
            quant = dict(quantize="int8", calibration={"x": x}) if precision == "int8" else {}
            res = {}
            with tempfile.TemporaryDirectory() as td:
                for mode in ("off", "auto"):
                    b = sdk.compile(m, target="cortex-m4", sparse=mode, **quant)
                    b.save(Path(td) / mode)
                    outs, info = CortexMRunner(timeout=900).run(Path(td) / mode, {"x": x}, repeat=3)
                    fmt = next((s.attrs.get("format", "csr") for s in b.func.bindings
                                if s.op in ("SparseMatMul", "sdk.QSparse")), "dense")
                    res[mode] = (int(info["cycles"]), int(info["flash_bytes"]), outs["y"], fmt)
            if precision == "int8":  # integer sums: bit-exact
                np.testing.assert_array_equal(res["auto"][2], res["off"][2])
            else:
                np.testing.assert_allclose(res["auto"][2], res["off"][2], rtol=1e-3, atol=1e-4)
            (cd, fd, _, _), (cs, fs, _, fmt) = res["off"], res["auto"]
            rows.append((name, precision, f"{o}x{k}", str(hw * hw if kind == "conv" else hw), fmt, str(cd), str(cs),
                         f"{cs / cd:.2f}", str(fd), str(fs), f"{fs / fd:.2f}"))
            print("  " + " | ".join(rows[-1]), file=sys.stderr, flush=True)
    return ("layer", "precision", "S[O,K]", "P", "format", "dense cycles", "sparse cycles", "ratio", "dense flash B",
            "sparse flash B", "ratio"), rows


def mcu_models_table(sparsity, mbv2_full=None):
    """Cortex-M4, whole models: the MobileNetV2-style and BERT-style examples (tests/torch_zoo, tests/models/text)
    pruned with sdk.prune, quantized int8 (the input as calibration), as firmware with the weights dense
    (``sparse="off"``) and as ``auto`` stores them: cycles of one run, flash (code + weights) and the weight bytes
    alone, the sparse layers of each kind. int8 outputs are checked bit-identical, float ones within 1e-4.
    ``mbv2_full``: also a full-width MobileNetV2 at 96x96 (``bench/sparse_mcu_export.py`` writes it: 3.5 M
    parameters, the weights most of the firmware)."""
    import tempfile
    from sdk.backends.mcu.runner import CortexMRunner
    tests = Path(__file__).resolve().parents[1] / "tests"
    sys.path[:0] = [str(tests), str(tests / "e2e")]
    from conftest import random_inputs
    from test_text_models import feeds_for
    mbv2 = sdk.prune(tests / "torch_zoo" / "models" / "mobilenet_v2.ts.onnx", sparsity=sparsity, min_size=64)
    bert = sdk.prune(tests / "models" / "text" / "bert.ts.onnx", sparsity=sparsity, min_size=64)
    models = [("mobilenet_v2 (64x64)", mbv2, {"batch": 1}, random_inputs(mbv2, {"batch": 1}, seed=1)),
              ("bert (seq 16)", bert, {"batch": 1, "seq": 16}, feeds_for(bert, {"batch": 1, "seq": 16}, seed=2))]
    if mbv2_full:
        full = sdk.prune(mbv2_full, sparsity=sparsity, min_size=64)
        image = np.random.default_rng(1).standard_normal((1, 3, 96, 96)).astype(np.float32)
        models.append(("mobilenet_v2 1.0 (96x96)", full, {}, {full.graph.input[0].name: image}))
    rows = []
    for name, m, dims, feeds in models:
        res = {}
        with tempfile.TemporaryDirectory() as td:
            for mode in ("off", "auto"):
                b = sdk.compile(m, target="cortex-m4", dims=dims, quantize="int8", calibration=feeds, sparse=mode)
                b.save(Path(td) / mode)
                outs, info = CortexMRunner(timeout=900).run(Path(td) / mode, feeds, repeat=1)
                ops = [s.op for s in b.func.bindings]
                kinds = (f"{ops.count('sdk.QSparse')} int8, {ops.count('SparseMatMul')} f32 sparse; "
                         f"{ops.count('sdk.QConv') + ops.count('sdk.QFC')} int8, "
                         f"{sum(o in ('MatMul', 'Gemm', 'Conv') for o in ops)} f32 dense")
                wb = sum(a.nbytes for _, a in b.program.consts)
                res[mode] = (int(info["cycles"]), int(info["flash_bytes"]), wb, outs, kinds)
        for k, v in res["off"][3].items():
            if v.dtype == np.int8:
                np.testing.assert_array_equal(res["auto"][3][k], v)
            else:
                np.testing.assert_allclose(res["auto"][3][k], v, rtol=1e-4, atol=1e-4)
        (cd, fd, wd, _, kd), (cs, fs, ws, _, ks) = res["off"], res["auto"]
        rows.append((name, ks, kd, str(cd), str(cs), f"{cs / cd:.2f}", str(fd), str(fs), f"{fs / fd:.2f}", str(wd),
                     str(ws), f"{ws / wd:.2f}"))
        print("  " + " | ".join(rows[-1]), file=sys.stderr, flush=True)
    return ("model", "auto: layers", "off: layers", "dense cycles", "sparse cycles", "ratio", "dense flash B",
            "sparse flash B", "ratio", "dense weights B", "sparse weights B", "ratio"), rows


def print_table(head, rows):
    widths = [max(len(x) for x in col) for col in zip(head, *rows)]
    print("| " + " | ".join(x.ljust(w) for x, w in zip(head, widths)) + " |")
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for row in rows:
        print("| " + " | ".join(x.ljust(w) for x, w in zip(row, widths)) + " |")


def timed(fns, reps):
    """{label: microseconds}: the fastest of ``reps`` rounds, each round running every function once (on a loaded
    machine the minimum is the least disturbed run, and interleaving spreads load changes over all of them)."""
    best = {k: float("inf") for k in fns}
    for fn in fns.values():
        fn()
    for _ in range(reps):
        for k, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            best[k] = min(best[k], time.perf_counter() - t0)
    return {k: v * 1e6 for k, v in best.items()}


def ort_session(m):
    import onnxruntime as ort
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.log_severity_level = 3
    return ort.InferenceSession(m.SerializeToString(), so, providers=["CPUExecutionProvider"])


def weight_bytes(b):
    return sum(arr.nbytes for buf, arr in b.program.consts
               if not buf.name.endswith("bias") and arr.ndim and arr.size > 1 and not buf.name.startswith("w_b"))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sparsity", type=float, default=0.9)
    ap.add_argument("--reps", type=int, default=15)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--block", default="1,1", help="prune in blocks of R,C (output x input channels), e.g. 8,1")
    ap.add_argument("--mixed", action="store_true",
                    help="prune in 8x1 blocks and keep 4%% of the other values (a partly block-structured weight)")
    ap.add_argument("--mcu", action="store_true",
                    help="also: float32 and int8 layers on cortex-m4 under qemu (cycles, flash)")
    ap.add_argument("--mcu-only", action="store_true", help="only the cortex-m4 table")
    ap.add_argument("--mcu-models", action="store_true",
                    help="only the cortex-m4 whole-model table (the MobileNetV2 and BERT examples, int8)")
    ap.add_argument("--mbv2-full", metavar="ONNX",
                    help="--mcu-models: also this full-width MobileNetV2 at 96x96 (bench/sparse_mcu_export.py)")
    a = ap.parse_args()
    import scipy.sparse as sp
    rng = np.random.default_rng(0)
    block = tuple(int(v) for v in a.block.split(","))
    opts = sparse_options(sdk.api.load_target("host"))
    pattern = ("in 8x1 blocks + 4% scattered" if a.mixed else
               "unstructured" if block == (1, 1) else f"in {block[0]}x{block[1]} blocks")
    print(f"sparsity {a.sparsity:.0%} " + pattern
          + f", host: {opts.lanes} float lanes, BSR blocks {opts.block}x1, "
          f"load average {os.getloadavg()[0]:.1f} ({os.cpu_count()} cores); times: fastest of {a.reps} interleaved "
          "rounds, us")
    head = ("layer", "S[O,K]", "P", "format", "est us", "sparse us", "dense us", "ratio", "csr us", "bsr us",
            "ell us", "hyb us", "ort us", "scipy us", "bytes ratio")
    if a.mcu_models:
        print(f"cortex-m4 whole models (int8, qemu-system-arm instruction clock), sparsity {a.sparsity:.0%}:")
        print_table(*mcu_models_table(a.sparsity, a.mbv2_full))
        return
    rows, totals = [], {}
    for name, kind, m, x, S in ([] if a.mcu_only else layers(a.sparsity, a.quick, rng, block, a.mixed)):
        feeds = {"x": x}
        bundles = {mode: sdk.compile(m, sparse=mode) for mode in ("off", "auto", "csr", "bsr", "ell", "hyb")}
        ref = bundles["off"].run(feeds)["y"]
        for mode in ("auto", "csr", "bsr", "ell", "hyb"):
            np.testing.assert_allclose(bundles[mode].run(feeds)["y"], ref, rtol=1e-3, atol=1e-4)
        sess = ort_session(m)
        Sc = sp.csr_matrix(S)
        X = x.reshape(-1, x.shape[-1]).T.copy() if kind == "bert" else x.reshape(x.shape[1], -1)
        fns = {mode: (lambda b=b: b.run(feeds)) for mode, b in bundles.items()}
        fns.update(ort=lambda: sess.run(None, feeds), scipy=lambda: Sc @ X)
        t = timed(fns, a.reps)
        t_ort, t_scipy = t["ort"], t["scipy"]
        f = sdk.frontend.onnx.import_onnx(m, {}, "layer")
        r = sparse_reports(f, opts)[0]
        fmt = r["format"]
        est = r["cycles"][fmt] / opts.clock_hz * 1e6
        wb = weight_bytes(bundles["auto"]) / weight_bytes(bundles["off"])
        rows.append((name, f"{S.shape[0]}x{S.shape[1]}", str(r["P"]), fmt, f"{est:.0f}", f"{t['auto']:.0f}",
                     f"{t['off']:.0f}", f"{t['auto'] / t['off']:.2f}", f"{t['csr']:.0f}", f"{t['bsr']:.0f}",
                     f"{t['ell']:.0f}", f"{t['hyb']:.0f}",
                     f"{t_ort:.0f}", f"{t_scipy:.0f}", f"{wb:.2f}"))
        tot = totals.setdefault(kind, np.zeros(5))
        tot += [t["auto"], t["off"], weight_bytes(bundles["auto"]), weight_bytes(bundles["off"]), t_ort]
        print("  " + " | ".join(rows[-1]), file=sys.stderr, flush=True)
    if rows:
        print_table(head, rows)
    goals = {"bert": 0.5, "mbv2": 0.6}
    print()
    for kind, (ts, td, bs, bd, to) in totals.items():
        print(f"{kind}: sparse {ts / 1e3:.2f} ms, dense {td / 1e3:.2f} ms, onnxruntime {to / 1e3:.2f} ms: "
              f"sparse/dense {ts / td:.2f} (goal <= {goals[kind]}), weights {bs / bd:.2f}x dense (goal <= 0.35)")
    if a.mcu or a.mcu_only:
        print(f"\ncortex-m4 (float32 and int8, qemu-system-arm instruction clock; firmware flash = code + weights), "
              f"sparsity {a.sparsity:.0%}:")
        print_table(*mcu_table(a.sparsity, rng))


if __name__ == "__main__":
    main()
