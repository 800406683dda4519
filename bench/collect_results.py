"""Rebuild bench/RESULTS.md from the per-area records bench/RESULTS_<area>.md."""
from pathlib import Path

HERE = Path(__file__).resolve().parent
PARTS = [("Host: latency against onnxruntime and TVM, memory plans (issues 2, 3)", "RESULTS_host.md"),
         ("Quantized vector search (issue 4)", "RESULTS_vq.md"),
         ("Browser / wasm (issue 6)", "RESULTS_wasm.md"),
         ("GPU / CUDA (issue 7)", "RESULTS_gpu.md"),
         ("Phone / ARM64 instruction counts (issue 8)", "RESULTS_phone.md"),
         ("Auto-tuning: untuned vs tuned against onnxruntime, numpy, TVM (issue 9)", "RESULTS_tune.md"),
         ("In-process execution: LLVM JIT against onnxruntime and the process path (issue 17)", "RESULTS_inprocess.md"),
         ("Sparse weights: sparse / dense, onnxruntime, scipy.sparse (issue 19)", "RESULTS_sparse.md"),
         ("Zoo latency: sdk against onnxruntime, one thread and all threads (issue 15)", "RESULTS_zoo.md"),
         ("Hugging Face text models: sdk against onnxruntime on the host CPU (issue 15)", "RESULTS_text.md"),
         ("LLVM objects for ARM64, Cortex-M and wasm against the C path (issue 17)", "RESULTS_llvm_objects.md"),
         ("Generation: the C decode loop against onnxruntime driven from Python (issue 18)", "RESULTS_generate.md"),
         ("GPU: real models on the H200 (issue 14)", "RESULTS_gpu_models.md"),
         ("Batch-1 GEMV layers against onnxruntime (issues 15, 18)", "RESULTS_gemv.md"),
         ("Test suite time (issue 17)", "RESULTS_tests.md"),
         ("ONNX backend node tests (conformance)", "RESULTS_conformance.md"),
         ("Fuzzing the parsers and the importer (issue 16)", "RESULTS_fuzz.md"),
         ("On-device training: the step's arena against PyTorch's peak (issue 21)", "RESULTS_train.md")]
HEADER = """# Benchmark results

Every table below was printed by a script under `bench/` (runs from 2026-11-25 to 2026-12-05), with the peer measured
in the same run. Each section is a copy of the per-area record next to it (`bench/RESULTS_<area>.md`, which
the scripts or their authors write; `python bench/collect_results.py` rebuilds this file from them); the
machine and method are stated in each. The ONNX conformance run (`python bench/onnx_conformance.py`) has its own
section below (`bench/RESULTS_conformance.md`): cases passed, wrong (none allowed), errors and the reasons of the
unsupported ones.
"""


def main():
    out = [HEADER]
    for title, f in PARTS:
        text = (HERE / f).read_text().strip().splitlines()
        body = ["#" + ln if ln.startswith("#") else ln for ln in text[1:]]  # headings one level down
        out += [f"## {title}", "", f"(from `bench/{f}`: {text[0].lstrip('# ')})"] + body + [""]
    (HERE / "RESULTS.md").write_text("\n".join(out))
    print(f"wrote {HERE / 'RESULTS.md'}")


if __name__ == "__main__":
    main()
