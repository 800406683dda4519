"""Token generation: the bundle's ``<name>_generate`` (C loop, gcc -O3, no Python in the loop) against onnxruntime
running the same decoder step from a Python loop (1 thread, ``sdk/generate/reference.py``), in one run.

    python bench/generate.py [--repeat 5] [--out bench/RESULTS_generate.md] [MODEL.onnx ...]

Default models: the tiny GPT step of the tests (one token per run, and ``.seq``: the prompt in one run) and Hugging
Face's tiny GPT-2 step (tests/models/), plus
``/tmp/bench_gpt_step.ts.onnx`` when present (an untrained GPT-2-style step, vocab 2048, 4 layers, width 256:
``/work/torchenv/bin/python tests/models/generate/make_tiny_gpt.py /tmp --bench``).
Per model, greedy, batch 1, a prompt of 8 tokens, 56 new tokens (max_len 64), no stop token:
- **TTFT**: time to first token (the prompt's 8 steps, or one run for ``.seq``, + the first new token);
- **tok/s**: new tokens / total time (prompt included);
- **arena**: ``<name>_generate_workspace_size(1, 64)``: the step's workspace, both cache copies, logits, scratch.
sdk times come from the demo program (clock inside the process; the median of --repeat runs); onnxruntime's from
perf_counter around the Python loop with the session made once (median of --repeat; the loop's own Python: feeds,
arg-max over numpy, included: that is the peer the issue names). Both produce the same tokens (checked).
"""
from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import onnx  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import sdk  # noqa: E402
from sdk.generate import GenerateParams  # noqa: E402
from sdk.generate.reference import reference_generate  # noqa: E402

MODELS = [ROOT / "tests/models/generate/tiny_gpt_step.ts.onnx", ROOT / "tests/models/generate/tiny_gpt_step.seq.ts.onnx",
          ROOT / "tests/models/text/gpt2_step.ts.onnx", Path("/tmp/bench_gpt_step.ts.onnx")]
MAX_LEN, PROMPT, NEW = 64, 8, 56


def bench_model(path: Path, repeat: int):
    model = onnx.load(str(path))
    b = sdk.compile(model, dims={"batch": 1, "max_len": MAX_LEN}, generate=True, name="step")
    vocab = b.generation.vocab
    prompt = (np.arange(PROMPT) * 7 + 3) % vocab
    p = GenerateParams(max_new_tokens=NEW)
    runs = [b.generate(prompt, with_info=True, max_new_tokens=NEW) for _ in range(repeat)]
    toks, info = runs[0]
    total = statistics.median(float(i["total_ms"]) for _, i in runs)
    first = statistics.median(float(i["first_token_ms"]) for _, i in runs)
    import onnxruntime as ort
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    sess = ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])
    ort_total, ort_first, ref = [], [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        reference_generate(model, prompt[None], MAX_LEN, GenerateParams(max_new_tokens=1), session=sess)
        ort_first.append(1e3 * (time.perf_counter() - t0))
        t0 = time.perf_counter()
        ref = reference_generate(model, prompt[None], MAX_LEN, p, session=sess)[0]
        ort_total.append(1e3 * (time.perf_counter() - t0))
    ot, of = statistics.median(ort_total), statistics.median(ort_first)
    return dict(model=path.name, vocab=vocab, arena=int(info["workspace_bytes"]), ttft=first, ort_ttft=of,
                tps=NEW / total * 1e3, ort_tps=NEW / ot * 1e3, same=toks == ref)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("models", nargs="*", type=Path)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--out", type=Path)
    a = ap.parse_args()
    rows = [bench_model(m, a.repeat) for m in (a.models or [m for m in MODELS if m.exists()])]
    lines = ["| model | vocab | sdk TTFT ms | ORT loop TTFT ms | sdk tok/s | ORT loop tok/s | sdk / ORT tok/s | "
             "sdk arena B | tokens equal |", "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['model']} | {r['vocab']} | {r['ttft']:.3f} | {r['ort_ttft']:.3f} | {r['tps']:.0f} | "
                     f"{r['ort_tps']:.0f} | {r['tps'] / r['ort_tps']:.1f}x | {r['arena']} | "
                     f"{'yes' if r['same'] else 'NO'} |")
    table = "\n".join(lines)
    print(table)
    if a.out:
        load = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
        commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True,
                                text=True).stdout.strip()
        kept = a.out.read_text().split("\n## Question generator", 1) if a.out.exists() else [""]
        tail = "\n## Question generator" + kept[1] if len(kept) > 1 else ""  # bench/qgen_bleu.py's section
        a.out.write_text(f"# Token generation: the bundle's C loop vs onnxruntime from a Python loop\n\n"
                         f"Date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}. Commit: `{commit}`. "
                         f"Machine: 2 shared cores, `uptime` at the end: {load}.\n"
                         f"Command: `python bench/generate.py --repeat {a.repeat} --out {a.out}`\n\n"
                         f"{__doc__.split(chr(10), 4)[4].strip()}\n\n{table}\n{tail}")


if __name__ == "__main__":
    main()
