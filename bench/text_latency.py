"""Latency of sdk bundles on full-width Hugging Face text models against onnxruntime, one thread and all threads.

    python bench/text_latency.py [--models bert_base.ts,gpt2.dynamo] [--seqs 128,64] [--bound 128] [--repeat 20]
        [--write]
    python bench/text_latency.py --profile bert_base.ts [--seq 128] [--threads 1] [--top 25]

Models: every ``*.onnx`` in bench/data/text_full/ (``NAME.ts.onnx`` / ``NAME.dynamo.onnx``, made by
``bench/export_text_full.py`` with the torch venv). Batch 1. Each model is compiled once (``sdk.compile(model,
target="host")``, the untuned default build) with its dynamic dims bounded by the largest of ``--seqs``, and that one
build runs at every length in ``--seqs``: the dims stay symbolic.

Inputs (seed 0): ``ids`` uniform in [0, 1000), ``mask`` ones with the last eighth of the tokens zero (padding, so
the mask arithmetic matters for the outputs), decoder steps (``gpt2_step``): one new token, ``seq`` past tokens of
keys/values (standard normal), a mask of ones over past + 1.

Timing is bench/zoo_latency.py's ``--interleave`` machinery: the bundle's C sources as a shared library, its
``model_run`` and onnxruntime's ``session.run`` (CPUExecutionProvider, all graph optimizations, sequential) alternating
in this process: one thread run by run on the thread's CPU clock, all threads in blocks on the wall clock; median
and min of each. ``sdk=ort``: every output within 1e-3 + 1e-3 |ort| of onnxruntime's (one-thread session), both sdk
runs. ``load``: the 1-minute load average before-after the row; ``c2c``: the cache-line round trip between the two
vCPUs before-after the row (see zoo_latency.py: all-thread times move with it).

``--profile NAME``: the bundle built with ``-DSDK_PROFILE``; time per step kind and the slowest steps.
"""
from __future__ import annotations

import argparse
import datetime
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import onnx

sys.path.insert(0, str(Path(__file__).resolve().parent))
import zoo_latency as zl  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
TEXT = ROOT / "bench" / "data" / "text_full"
VOCAB = 1000


def find_models(folder=None):
    d = Path(folder) if folder else TEXT
    return {p.name[:-len(".onnx")]: p for p in sorted(d.glob("*.onnx"))} if d.is_dir() else {}


def _dims(v):
    return [d.dim_param if d.dim_param else d.dim_value for d in v.type.tensor_type.shape.dim]


def text_feeds(model, seq, seed=0):
    """Inputs at length ``seq`` (see the module's text), and the symbols' values {dim_param: int} they give."""
    rng = np.random.default_rng(seed)
    inits = {t.name for t in model.graph.initializer}
    ins = [v for v in model.graph.input if v.name not in inits]
    step = any(v.name.startswith("past_") for v in ins)
    feed, syms = {}, {}
    for v in ins:
        dims = _dims(v)
        dt = onnx.helper.tensor_dtype_to_np_dtype(v.type.tensor_type.elem_type)
        if v.name == "ids":
            shape = [1, 1 if step else seq]
            feed[v.name] = rng.integers(0, VOCAB, shape).astype(dt)
        elif v.name == "mask":
            shape = [1, seq + 1 if step else seq]
            m = np.ones(shape, dt)
            if not step:
                m[:, seq - seq // 8:] = 0
            feed[v.name] = m
        else:  # past keys / values [1, heads, past, dh]
            shape = [1 if d == "batch" else seq if isinstance(d, str) else d for d in dims]
            feed[v.name] = rng.standard_normal(shape).astype(dt)
        for d, n in zip(dims, shape):
            if isinstance(d, str) and d.isidentifier():
                syms[d] = n
    return feed, syms


def bench_model(name, path, seqs, repeat, budget_s, bound=None):
    """Rows (one per length) for one model: one build bounded at ``bound`` (default: the largest length),
    interleaved with onnxruntime."""
    model = onnx.load(str(path))
    _, bounds = text_feeds(model, bound or max(seqs))
    rows = []
    try:
        t0 = time.perf_counter()
        b = zl.compile_sdk(model, bounds, name="model")
        t_compile = time.perf_counter() - t0
    except Exception as e:  # noqa: BLE001 - a failing model is reported in its row
        return [{"model": name, "seq": s, "ok": f"ERROR {type(e).__name__}: {str(e).splitlines()[0][:80]}"}
                for s in seqs]
    with tempfile.TemporaryDirectory() as tmp:
        lib = zl.shared_library(b, tmp)
        for s in seqs:
            feed, _ = text_feeds(model, s)
            r = {"model": name, "seq": s, "load0": zl.loadavg(), "c2c0": zl.c2c_ns(), "arena": b.plan.arena_bytes,
                 "compile_s": t_compile}
            ref, first, _ = zl.ort_times(model, feed, 1, 1)
            n = max(5, min(repeat, int(budget_s / max(2 * first / 1e3, 1e-6))))
            r["n"] = n
            try:
                got, r["sdk"], r["sdk_min"], r["ort1"], r["ort1_min"] = zl.interleaved(b, lib, model, feed, 1, n)
                cores = len(os.sched_getaffinity(0))
                gotN, r["sdkN"], r["sdkN_min"], r["ortN"], r["ortN_min"] = zl.interleaved(b, lib, model, feed,
                                                                                          cores, n)
                r["ok"] = zl.agree(ref, got, gotN)
            except Exception as e:  # noqa: BLE001
                r["ok"] = f"ERROR {type(e).__name__}: {str(e).splitlines()[0][:80]}"
            r["load1"], r["c2c1"] = zl.loadavg(), zl.c2c_ns()
            rows.append(r)
            print(f"  {name} seq {s}: {r}", file=sys.stderr, flush=True)
    return rows


def table(rows):
    for r in rows:
        r["model"] = f"{r['model']} @{r['seq']}"
    return zl.table(rows)


def profile(name, path, seq, repeat, top, threads):
    """zoo_latency's step profile at one length: the model compiled with its symbols bounded at ``seq``."""
    model = onnx.load(str(path))
    feed, bounds = text_feeds(model, seq)
    orig = zl.feeds_for
    zl.feeds_for = lambda m, seed=0: feed
    try:
        zl.profile(name, path, bounds, repeat, top, threads)
    finally:
        zl.feeds_for = orig


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--models", default="", help="comma-separated NAME.ts / NAME.dynamo (default: all found)")
    ap.add_argument("--seqs", default="128,64", help="lengths to run (one build, bounded by the largest)")
    ap.add_argument("--repeat", type=int, default=20)
    ap.add_argument("--budget-s", type=float, default=10.0, help="seconds per measurement before n is lowered")
    ap.add_argument("--bound", type=int, default=0, help="the build's bound on seq (default: the largest of --seqs)")
    ap.add_argument("--dir", default="", help="the models: every *.onnx in this folder")
    ap.add_argument("--write", action="store_true", help="append the table to bench/RESULTS_text.md")
    ap.add_argument("--profile", default="")
    ap.add_argument("--seq", type=int, default=128, help="--profile: the length")
    ap.add_argument("--threads", type=int, default=1, help="--profile: threads")
    ap.add_argument("--top", type=int, default=20)
    a = ap.parse_args(argv)
    models = find_models(a.dir or None)
    if not models:
        ap.error("no models: run /work/torchenv/bin/python bench/export_text_full.py first")
    if a.profile:
        profile(a.profile, models[a.profile], a.seq, a.repeat, a.top, a.threads)
        return 0
    names = a.models.split(",") if a.models else list(models)
    unknown = [n for n in names if n not in models]
    if unknown:
        ap.error(f"unknown model(s) {', '.join(unknown)} (have: {', '.join(models)})")
    seqs = [int(s) for s in a.seqs.split(",")]
    bound = max(a.bound, *seqs)
    import onnxruntime
    start = datetime.datetime.now(datetime.timezone.utc)
    rows = []
    for n in names:
        rows += bench_model(n, models[n], seqs, a.repeat, a.budget_s, bound)
    text = (f"Run {start:%Y-%m-%d %H:%M} UTC, commit `{zl.commit()}`, {zl.machine()}, onnxruntime "
            f"{onnxruntime.__version__}, sdk and onnxruntime alternating in one process (one thread run by run, CPU "
            f"clock; all threads in blocks, wall clock), one build per model bounded at seq {bound}, load average "
            f"{rows[0].get('load0', 0):.1f} at start\n\n{table(rows)}\n")
    print(text)
    if a.write:
        res = ROOT / "bench" / "RESULTS_text.md"
        old = res.read_text() if res.exists() else HEADER
        res.write_text(old.rstrip("\n") + "\n\n" + text)
    return 0


HEADER = """# Text models: sdk against onnxruntime on the host CPU (`bench/text_latency.py`)

Full-width Hugging Face models with random weights (bench/export_text_full.py): BERT-base, DistilBERT-base, an
all-MiniLM-L6-like BERT (384 wide, 6 layers), GPT-2 small (prefill with its LM head; one decoder step over a KV
cache of `seq` tokens), the T5-small encoder; batch 1, dynamic `seq`, TorchScript (`.ts`) and torch.export (`.dynamo`)
exports. sdk: untuned default build for `host`; ort: onnxruntime CPU, all graph optimizations. Times in ms, median
(min). `@N`: the length the row ran at, from one build per model.
"""

if __name__ == "__main__":
    sys.exit(main())
