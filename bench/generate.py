"""Token generation: the bundle's ``<name>_generate`` (C loop, gcc -O3, no Python in the loop) against onnxruntime
running the same decoder step from a Python loop (1 thread), in one run, greedy and beam search (4 beams).

    python bench/generate.py [--repeat 20] [--rounds 3] [--out bench/RESULTS_generate.md] [--only NAME ...]
                             [--weights fp32 fp16]

Models (the three kinds of issue 18):
- **GPT-2-style** decoder steps with a key/value cache: the tiny GPT of the tests (one token per run, and ``.seq``:
  the prompt in one run), Hugging Face's tiny GPT-2 step (tests/models/text/), and ``/tmp/bench_gpt_step.ts.onnx``
  when present (an untrained GPT-2-style step, vocab 2048, 4 layers, width 256:
  ``/work/torchenv/bin/python tests/models/generate/make_tiny_gpt.py /tmp --bench``); a prompt of 8 tokens, 56 new
  tokens (max_len 64), no stop token;
- **T5/BART-style** encoder-decoders: the tiny seq2seq of the tests (its encoder bundle, then the decoder's loop with
  the states as context; source of 5 tokens, 11 new tokens) and Hugging Face's T5 decoder step (random encoder
  states of 5 rows and their mask as context, 31 new tokens; its output is a hidden state, so this times the loop,
  not a language model);
- the **question generator** (examples/qgen: BiGRU encoder + attention GRU decoder, vocab 2000): a held-out
  sentence, [CLS] to [SEP] (7 new tokens).

Per model and mode (greedy: batch 1; beams: 4 rows):
- **TTFT**: time to first token (the encoder run where there is one, the prompt, the first new token);
- **tok/s**: decoding steps (one new token per row) / total time (encoder and prompt included);
- **arena**: ``<name>_generate_workspace_size(rows, max_len)``: the step's workspace, both cache copies, logits, scratch;
- **ORT loop peak growth** (skip with ``--no-memory``): onnxruntime's side of the same number. Per model and mode, a
  child Python process (this script, ``--ort-memory-child``) makes the sessions, runs the encoder where there is one
  (its states are the loop's context, as the bundle's encoder output is the C loop's), resets the kernel's peak-RSS
  mark (``/proc/self/clear_refs`` = 5), reads VmRSS, runs the reference loop (``sdk/generate/reference.py``, the
  loop that is timed) 3 times, and reads VmHWM: the growth is the loop's working memory at its peak (onnxruntime's
  arena and per-run allocations, the cache and feed arrays, the loop's numpy and Python objects). Not in it, as not in
  the sdk arena: the weights, the sessions' setup, the encoder's run, the interpreter. Resident pages only (4 KiB
  granularity; memory reserved but never touched is not counted), and memory the process freed during setup and
  the allocator kept (glibc's heap, after the sessions' setup and the encoder's run) is reused without growing RSS:
  a lower bound on what the loop needs. The sdk arena is exact bytes, computed, not measured.
Both sides are timed warm, in interleaved rounds (per model and mode: sdk, then onnxruntime, --rounds times): sdk
by its demo programs (clock inside the process, --repeat generations in one process, the median; the encoder's from
its demo program the same way), onnxruntime by perf_counter around ``session.run`` of the encoder and the Python loop
(``sdk/generate/reference.py``, sessions made once, --repeat loops, the median; the loop's own Python: feeds, arg-max
over numpy, the beam step in numpy, included: that is the peer the issue names). The peer does the same work as
the C loop: with beams, the prompt runs on one row and the cache rows are reordered (a numpy copy) only in the steps
whose parents are not 0, 1, 2, ... (the C loop appends in place then; before 2026-12-05 06:15 the Python loop ran
the prompt on every beam and copied the cache every step: 13% of its 4-beam time on the 3.7 M step). The table gives
the medians over
the rounds and the range of the per-round ratio. "cold": the sdk demo's first generation in its fresh process
(weights not yet paged in or cached, what a one-shot command pays; the encoder run once in its own process).
"tokens equal": the C loop's tokens are the onnxruntime loop's (every round).
"weights" (``--weights``, default fp32): **fp32**: the bundle built as is, against onnxruntime running the model as
is; **fp16**: the bundle built with ``--weights fp16`` (MatMul/Gemm weights rounded to float16, those of the
matrix-vector products stored as float16 and converted in the kernel, float32 sums), against onnxruntime running
the model with the same weights rounded to float16 values and stored as float32 (``fp16_weights_model`` in
``sdk/generate/reference.py``; its math stays float32, as the bundle's): both sides compute the same function; the
bundle reads those weights as float16 (half the bytes), onnxruntime as float32 initializers. The fp16 rows are not
a float32 result: their tokens are compared with the rounded model's loop only. "sdk weights B": the bundle's
constants (all of them: embeddings and norms stay float32).
"CPU time ORT / sdk": the decoding loop's process CPU time, onnxruntime's Python loop (``time.process_time``)
over the demo's (``cpu_total_ms``: CLOCK_PROCESS_CPUTIME_ID), medians per round, the median and range over the
rounds; the encoder's run is not in it. On a shared machine the wall-clock ratio also measures how often each side
was descheduled; CPU time does not (cache and memory-bandwidth contention from the other load remain in both).
"""
from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse  # noqa: E402
import math  # noqa: E402
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
from sdk.generate.reference import fp16_weights_model, reference_generate  # noqa: E402
from sdk.generate.sampler import Beam  # noqa: E402

GEN, TEXT, QGEN = ROOT / "tests/models/generate", ROOT / "tests/models/text", ROOT / "examples/qgen"
BEAMS = 4
WEIGHTS_LABEL = {"fp32": "fp32 (ORT: fp32)", "fp16": "fp16 storage (ORT: same fp16-rounded weights, fp32 math)"}
SENTENCE = "The event loop is the core of every asyncio application."


def _t5_context():
    rng = np.random.default_rng(0)
    return {"enc": rng.standard_normal((1, 5, 32)).astype(np.float32), "enc_mask": np.ones((1, 5), np.int64)}


def cases():
    """(name, kind, step, encoder or None, dims, prompt, max_len, stop tokens, source ids / context maker)"""
    gpt = dict(prompt=(np.arange(8) * 7 + 3), max_len=64, stop=(), dims={})
    out = [("tiny_gpt_step.ts", "GPT-2-style", GEN / "tiny_gpt_step.ts.onnx", None, gpt),
           ("tiny_gpt_step.seq.ts", "GPT-2-style", GEN / "tiny_gpt_step.seq.ts.onnx", None, gpt),
           ("gpt2_step.ts (HF)", "GPT-2-style", TEXT / "gpt2_step.ts.onnx", None, gpt)]
    if Path("/tmp/bench_gpt_step.ts.onnx").exists():
        out.append(("bench_gpt_step.ts (3.7 M)", "GPT-2-style", Path("/tmp/bench_gpt_step.ts.onnx"), None, gpt))
    out += [("tiny_s2s (enc + dec)", "T5/BART-style", GEN / "tiny_s2s_decoder_step.onnx", GEN / "tiny_s2s_encoder.onnx",
             dict(prompt=np.array([0]), max_len=12, stop=(), dims={"src": 8}, src=np.array([[3, 9, 4, 17, 25]]))),
            ("t5_decoder_step.ts (HF)", "T5/BART-style", TEXT / "t5_decoder_step.ts.onnx", None,
             dict(prompt=np.array([0]), max_len=32, stop=(), dims={"seq": 7}, context=_t5_context()))]
    from sdk.text import WordPiece
    tok = WordPiece.from_file(str(QGEN / "vocab.txt"))
    out.append(("qgen (enc + dec)", "question generator", QGEN / "qgen_decoder_step.onnx", QGEN / "qgen_encoder.onnx",
                dict(prompt=np.array([tok.cls_id]), max_len=32, stop=(tok.sep_id,), dims={"src": 80},
                     src=np.array([tok.encode(SENTENCE)]))))
    return out


def numpy_beam_step(logits, beams, p):
    """``sdk_beam_step`` with numpy (the peer's beam step: the Python mirror in sampler.py loops over the vocab in
    Python, which would make the peer slower than a fair one). Same ranking: norm descending, candidate order on
    ties; only each beam's n best scores can be among the n best, so only those are ranked."""
    lp = float(np.float32(p.length_penalty))
    n, vocab = logits.shape
    norms, keys, meta = [], [], []
    for j, b in enumerate(beams):
        if b.done:
            norms.append(np.array([b.score / float(b.length) ** lp if b.length > 0 else b.score]))
            keys.append(np.array([j * vocab]))
            meta.append((j, None))
            continue
        if b.score == -math.inf:
            continue
        x = logits[j].astype(np.float64)
        m = x.max()
        s = b.score + ((x - m) - math.log(np.exp(x - m).sum()))
        top = np.nonzero(s >= np.partition(s, vocab - n)[vocab - n])[0]  # the n best of this beam (and ties)
        norms.append(s[top] / float(b.length + 1) ** lp)
        keys.append(j * vocab + top)
        meta.append((j, s))
    norm, key = np.concatenate(norms), np.concatenate(keys)
    best = np.lexsort((key, -norm))[:n]
    out, parents, tokens = [], [], []
    for c in best:
        j, v = int(key[c] // vocab), int(key[c] % vocab)
        s = dict(meta)[j]
        if s is None:
            out.append(beams[j])
            tokens.append(-1)
        else:
            out.append(Beam(float(s[v]), beams[j].length + 1, v in p.stop_tokens))
            tokens.append(v)
        parents.append(j)
    while len(out) < n:
        out.append(Beam(-math.inf, 0, True))
        parents.append(0)
        tokens.append(-1)
    return out, parents, tokens


def _session(model):
    import onnxruntime as ort
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    return ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])


def _ort_ms(fn, repeat, cpu=None):
    """Median wall ms of ``fn`` over ``repeat`` calls; ``cpu``: a list that gets the median process CPU ms."""
    times, cpus = [], []
    for _ in range(repeat):
        c0, t0 = time.process_time(), time.perf_counter()
        fn()
        times.append(1e3 * (time.perf_counter() - t0))
        cpus.append(1e3 * (time.process_time() - c0))
    if cpu is not None:
        cpu.append(statistics.median(cpus))
    return statistics.median(times)


def _status_kb(key):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    raise KeyError(key)


def ort_model(step_path, weights):
    """The model onnxruntime runs: as is (fp32), or with its MatMul/Gemm weights rounded to float16 (fp16)."""
    model = onnx.load(str(step_path))
    return fp16_weights_model(model) if weights == "fp16" else model


def ort_memory_child(name, beams, weights="fp32"):
    """In a fresh process (``--ort-memory-child NAME BEAMS WEIGHTS``): the peak-RSS growth of onnxruntime's loop, in
    bytes, printed as the last line (see the docstring, "ORT loop peak growth")."""
    _, _, step_path, enc_path, c = next(x for x in cases() if x[0] == name)
    model = ort_model(step_path, weights)
    sess = _session(model)
    ctx = c.get("context", {})
    if enc_path is not None:
        esess = _session(onnx.load(str(enc_path)))
        ctx = {"enc": esess.run(["enc"], {"src": c["src"]})[0]}
    rctx = {k: np.repeat(v, beams, 0) for k, v in ctx.items()} if ctx else None
    params = GenerateParams(max_new_tokens=c["max_len"] - len(c["prompt"]), stop_tokens=c["stop"], num_beams=beams)
    with open("/proc/self/clear_refs", "w") as f:  # VmHWM := VmRSS (Linux >= 4.0)
        f.write("5")
    before = _status_kb("VmRSS")
    for _ in range(3):
        reference_generate(model, c["prompt"][None], c["max_len"], params, session=sess, context=rctx,
                           beam_step_fn=numpy_beam_step)
    print(1024 * (_status_kb("VmHWM") - before))


def ort_memory(name, beams, weights="fp32"):
    """Peak-RSS growth (bytes) of onnxruntime's loop for one model and mode, measured in a child process."""
    out = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--ort-memory-child", name, str(beams),
                          weights],
                         capture_output=True, text=True, check=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
    return int(out.stdout.split()[-1])


def bench_case(name, kind, step_path, enc_path, c, repeat, rounds, memory=True, weights="fp32"):
    """Rows (greedy, beams) of one model: ``rounds`` interleaved rounds (sdk, then onnxruntime), each timing
    ``repeat`` generations in one process (sdk: the demo's --repeat; onnxruntime: the loop with its sessions made
    once) and taking the median; the sdk demo's first run in its fresh process is the "cold" figure."""
    rows = []
    model = ort_model(step_path, weights)  # onnxruntime's; the bundle is built from the file as is
    tag = "".join(ch for ch in name if ch.isalnum())[:12]
    dec = sdk.compile(str(step_path), dims={"batch": BEAMS, "max_len": c["max_len"], **c["dims"]}, generate=True,
                      name="step" + tag, weights=weights)
    wbytes = sum(int(a.nbytes) for _, a in dec.program.consts)
    sess = _session(model)
    ctx = c.get("context", {})
    enc = esess = None
    if enc_path is not None:
        enc_model = onnx.load(str(enc_path))
        enc = sdk.compile(enc_model, dims={"batch": 1, **c["dims"]}, name="enc" + tag)
        ctx = {"enc": enc.run({"src": c["src"]}, engine="c")["enc"]}
        esess = _session(enc_model)
    new = c["max_len"] - len(c["prompt"])
    for mode, beams in (("greedy", 1), (f"beam {BEAMS}", BEAMS)):
        params = dict(max_new_tokens=new, stop_tokens=c["stop"], num_beams=beams)
        rctx = {k: np.repeat(v, beams, 0) for k, v in ctx.items()} if ctx else None
        r = {k: [] for k in ("total", "first", "cold_total", "cold_first", "ort_total", "ort_first", "cpu", "ort_cpu")}
        same = []
        for _ in range(rounds):
            enc_ms = cold_enc_ms = ort_enc_ms = 0.0
            if enc is not None:
                enc_ms = float(enc.run_with_info({"src": c["src"]}, engine="c", repeat=repeat)[1]["median_ms"])
                cold_enc_ms = float(enc.run_with_info({"src": c["src"]}, engine="c")[1]["median_ms"])
                ort_enc_ms = _ort_ms(lambda: esess.run(None, {"src": c["src"]}), repeat)
            toks, info = dec.generate(c["prompt"], with_info=True, context=ctx or None, repeat=repeat, **params)
            r["total"].append(enc_ms + float(info["total_ms"]))
            r["first"].append(enc_ms + float(info["first_token_ms"]))
            r["cold_total"].append(cold_enc_ms + float(info["cold_total_ms"]))
            r["cold_first"].append(cold_enc_ms + float(info["cold_first_token_ms"]))
            r["cpu"].append(float(info["cpu_total_ms"]))  # the decoding loop's CPU time (no encoder)
            steps = int(info["new_tokens"])
            ref = None

            def ort_loop(p):
                nonlocal ref
                ref = reference_generate(model, c["prompt"][None], c["max_len"], GenerateParams(**p), session=sess,
                                         context=rctx, beam_step_fn=numpy_beam_step)
            r["ort_first"].append(ort_enc_ms + _ort_ms(lambda: ort_loop({**params, "max_new_tokens": 1}), repeat))
            r["ort_total"].append(ort_enc_ms + _ort_ms(lambda: ort_loop(params), repeat, cpu=r["ort_cpu"]))
            same.append(toks == (ref if beams > 1 else ref[0]))
        med = {k: statistics.median(v) for k, v in r.items()}
        ratios = [o / t for o, t in zip(r["ort_total"], r["total"])]
        cpu_ratios = [o / t for o, t in zip(r["ort_cpu"], r["cpu"])]
        rows.append(dict(model=name, kind=kind, mode=mode, weights=weights, wbytes=wbytes, vocab=dec.generation.vocab, arena=int(info["workspace_bytes"]),
                         ttft=med["first"], ort_ttft=med["ort_first"], cold_ttft=med["cold_first"],
                         tps=steps / med["total"] * 1e3, ort_tps=steps / med["ort_total"] * 1e3,
                         cold_tps=steps / med["cold_total"] * 1e3, ratio_lo=min(ratios), ratio_hi=max(ratios),
                         cpu_ratio=statistics.median(cpu_ratios), cpu_lo=min(cpu_ratios), cpu_hi=max(cpu_ratios),
                         same=all(same), steps=steps, ort_mem=ort_memory(name, beams, weights) if memory else None))
    return rows


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=20, help="generations timed per process and round (median)")
    ap.add_argument("--rounds", type=int, default=3, help="interleaved rounds (sdk, onnxruntime) per model and mode")
    ap.add_argument("--out", type=Path)
    ap.add_argument("--only", nargs="*", default=[], help="substrings of the model names to run")
    ap.add_argument("--no-memory", action="store_true", help="skip onnxruntime's peak-RSS growth (child processes)")
    ap.add_argument("--weights", nargs="+", choices=["fp32", "fp16"], default=["fp32"],
                    help="the bundle's weight storage, each a row pair per model (fp16: against onnxruntime over the "
                         "same rounded weights; see the docstring)")
    ap.add_argument("--ort-memory-child", nargs=3, metavar=("NAME", "BEAMS", "WEIGHTS"), help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.ort_memory_child:
        ort_memory_child(a.ort_memory_child[0], int(a.ort_memory_child[1]), a.ort_memory_child[2])
        return
    rows = []
    for name, kind, step, enc, c in cases():
        if a.only and not any(s in name for s in a.only):
            continue
        for w in a.weights:
            rows += bench_case(name, kind, step, enc, c, a.repeat, a.rounds, memory=not a.no_memory, weights=w)
            print(rows[-2], rows[-1], flush=True)
    lines = ["| model | kind | weights | mode | vocab | steps | sdk TTFT ms | ORT loop TTFT ms | sdk tok/s | ORT loop tok/s | "
             "sdk / ORT tok/s (rounds) | sdk cold TTFT ms | sdk cold tok/s | cold / ORT | sdk arena B | "
             "ORT loop peak growth B | CPU time ORT / sdk (rounds) | tokens equal | sdk weights B |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['model']} | {r['kind']} | {WEIGHTS_LABEL[r['weights']]} | {r['mode']} | {r['vocab']} | {r['steps']} | {r['ttft']:.3f} | "
                     f"{r['ort_ttft']:.3f} | {r['tps']:.0f} | {r['ort_tps']:.0f} | {r['tps'] / r['ort_tps']:.1f}x "
                     f"({r['ratio_lo']:.1f}-{r['ratio_hi']:.1f}) | {r['cold_ttft']:.3f} | {r['cold_tps']:.0f} | "
                     f"{r['cold_tps'] / r['ort_tps']:.1f}x | {r['arena']} | "
                     f"{'-' if r['ort_mem'] is None else r['ort_mem']} | "
                     f"{r['cpu_ratio']:.2f}x ({r['cpu_lo']:.2f}-{r['cpu_hi']:.2f}) | {'yes' if r['same'] else 'NO'} | {r['wbytes']} |")
    table = "\n".join(lines)
    print(table)
    if a.out:
        load = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
        commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True,
                                text=True).stdout.strip()
        section = (f"\n## Greedy and beam search, three model kinds ({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())})"
                   f"\n\nCommit: `{commit}`. Machine: 2 shared cores, `uptime` at the end: {load}.\n"
                   f"Command: `python bench/generate.py --repeat {a.repeat} --rounds {a.rounds}"
                   f"{' --no-memory' if a.no_memory else ''}{' --only ' + ' '.join(a.only) if a.only else ''}"
                   f"{' --weights ' + ' '.join(a.weights) if a.weights != ['fp32'] else ''}"
                   f" --out {a.out}`\n\n"
                   f"{__doc__.split(chr(10), 4)[4].strip()}\n\n{table}\n")
        with open(a.out, "a") as f:
            f.write(section)


if __name__ == "__main__":
    main()
