"""The question generator (examples/qgen/): BLEU-4 on the held-out pairs (examples/qgen/pairs_test.tsv, pages of
Python's documentation the model never saw) of the bundle's C loop (greedy, and beam search with 4 beams) next to
two baselines, and its speed next to onnxruntime running the same encoder + decoder step from a Python loop
(1 thread), in one run.

    python bench/qgen_bleu.py [--limit N] [--out bench/RESULTS_generate.md]

- **copy the sentence**: the question is the sentence itself (the baseline the issue names);
- **template**: ``what is`` + the sentence's first two words + ``?`` (the most frequent question form);
- BLEU-4: corpus level, uniform weights, brevity penalty, no smoothing (Papineni et al. 2002, as multi-bleu),
  over BERT basic-tokenized words (lower-case, punctuation split) of the WordPiece-decoded output and the reference;
- speed: per sentence, the encoder run + greedy decoding until ``[SEP]`` (sdk: the two bundles' demo programs,
  timed inside the process; onnxruntime: perf_counter around ``session.run`` of the encoder and the Python loop of
  sdk/generate/reference.py). The C tokens are checked equal to the onnxruntime loop's.
"""
from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse  # noqa: E402
import math  # noqa: E402
import re  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from collections import Counter  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import onnx  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import sdk  # noqa: E402
from sdk.generate import GenerateParams  # noqa: E402
from sdk.generate.reference import reference_generate  # noqa: E402
from sdk.text import WordPiece  # noqa: E402
from sdk.text.wordpiece import basic_words  # noqa: E402

QGEN = ROOT / "examples" / "qgen"
MAX_SRC, MAX_LEN, BEAMS = 80, 32, 4
SECTION = "## Question generator (examples/qgen)"


def corpus_bleu(hyps, refs, n=4) -> float:
    """Corpus BLEU-n in percent: lists of word lists, one reference each."""
    match, total = [0] * n, [0] * n
    hl = rl = 0
    for h, r in zip(hyps, refs):
        hl, rl = hl + len(h), rl + len(r)
        for k in range(1, n + 1):
            hc = Counter(tuple(h[i:i + k]) for i in range(len(h) - k + 1))
            rc = Counter(tuple(r[i:i + k]) for i in range(len(r) - k + 1))
            match[k - 1] += sum(min(c, rc[g]) for g, c in hc.items())
            total[k - 1] += max(0, len(h) - k + 1)
    if min(match) == 0:
        return 0.0
    bp = 1.0 if hl > rl else math.exp(1 - rl / max(hl, 1))
    return 100 * bp * math.exp(sum(math.log(m / t) for m, t in zip(match, total)) / n)


def load_pairs(limit=None):
    rows = [ln.split("\t") for ln in (QGEN / "pairs_test.tsv").read_text().splitlines()]
    return rows[:limit] if limit else rows


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--limit", type=int, help="first N held-out pairs only")
    ap.add_argument("--out", type=Path, help="write the results as a section of this markdown file")
    a = ap.parse_args()
    pairs = load_pairs(a.limit)
    tok = WordPiece.from_file(QGEN / "vocab.txt")
    enc_path, dec_path = QGEN / "qgen_encoder.onnx", QGEN / "qgen_decoder_step.onnx"
    enc = sdk.compile(str(enc_path), dims={"batch": BEAMS, "src": MAX_SRC}, name="qenc")
    dec = sdk.compile(str(dec_path), dims={"batch": BEAMS, "src": MAX_SRC, "max_len": MAX_LEN}, generate=True,
                      name="qdec")
    import onnxruntime as ort
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    ort_enc = ort.InferenceSession(str(enc_path), so, providers=["CPUExecutionProvider"])
    ort_dec = ort.InferenceSession(str(dec_path), so, providers=["CPUExecutionProvider"])
    dec_model = onnx.load(str(dec_path))
    stop = dict(stop_tokens=(tok.sep_id,), max_new_tokens=MAX_LEN - 1)
    greedy, beam, refs, same = [], [], [], 0
    sdk_ms, ort_ms, new_tokens, workspace = [], [], 0, 0
    for s, q in pairs:
        src = np.array([tok.encode(s, max_length=MAX_SRC)])
        outs, enc_info = enc.run_with_info({"src": src}, engine="c")  # the C demo program, timed inside
        states = outs["enc"]
        g, info = dec.generate([tok.cls_id], context={"enc": states}, with_info=True, **stop)
        b = dec.generate([tok.cls_id], context={"enc": states}, num_beams=BEAMS, **stop)
        t0 = time.perf_counter()
        ort_states = ort_enc.run(None, {"src": src})[0]
        ref = reference_generate(dec_model, np.array([[tok.cls_id]]), MAX_LEN, GenerateParams(**stop),
                                 context={"enc": ort_states}, session=ort_dec)[0]
        ort_ms.append(1e3 * (time.perf_counter() - t0))
        sdk_ms.append(float(enc_info["median_ms"]) + float(info["total_ms"]))
        new_tokens += int(info["new_tokens"])
        workspace = max(workspace, int(info["workspace_bytes"]))
        same += g == ref
        greedy.append(basic_words(tok.decode(g)))
        beam.append(basic_words(tok.decode(b[0])))
        refs.append(basic_words(q))
    copy = [basic_words(s) for s, _ in pairs]
    template = [["what", "is"] + basic_words(s)[:2] + ["?"] for s, _ in pairs]
    exact = sum(h == r for h, r in zip(greedy, refs))
    lines = ["| system | BLEU-4 | exact match |", "|---|---|---|",
             f"| copy the sentence | {corpus_bleu(copy, refs):.1f} | {sum(h == r for h, r in zip(copy, refs))} |",
             f"| template `what is` + 2 words | {corpus_bleu(template, refs):.1f} | "
             f"{sum(h == r for h, r in zip(template, refs))} |",
             f"| qgen, C loop, greedy | {corpus_bleu(greedy, refs):.1f} | {exact} |",
             f"| qgen, C loop, beam {BEAMS} | {corpus_bleu(beam, refs):.1f} | {sum(h == r for h, r in zip(beam, refs))} |"]
    n = len(pairs)
    speed = ["| per question (encoder + greedy decoding) | sdk (C) | onnxruntime + Python loop |", "|---|---|---|",
             f"| median ms | {statistics.median(sdk_ms):.3f} | {statistics.median(ort_ms):.3f} |",
             f"| tokens/s (all {n}) | {new_tokens / (sum(sdk_ms) / 1e3):.0f} | {new_tokens / (sum(ort_ms) / 1e3):.0f} |"]
    text = (f"{n} held-out pairs; greedy tokens equal to the onnxruntime loop's: {same}/{n}. Largest greedy "
            f"generate workspace (batch 1, max_len {MAX_LEN}, the sentence's src): {workspace} B; encoder arena at "
            f"the bounds (src <= {MAX_SRC}, batch <= {BEAMS}): {enc.plan.arena_bytes} B.\n\n" + "\n".join(lines) + "\n\n" + "\n".join(speed))
    print(text)
    if a.out:
        load = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
        commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True,
                                text=True).stdout.strip()
        section = (f"{SECTION}\n\nDate: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}. Commit: `{commit}`. "
                   f"Machine: 2 shared cores, `uptime` at the end: {load}.\n"
                   f"Command: `python bench/qgen_bleu.py --out {a.out}`\n\n"
                   f"{__doc__.split(chr(10) * 2, 2)[2].strip()}\n\n{text}\n")
        write_section(a.out, section)


def write_section(path: Path, section: str):
    """Replace (or append) the SECTION of a results file, keeping the rest."""
    old = path.read_text() if path.exists() else ""
    pat = re.compile(re.escape(SECTION) + r".*?(?=\n## (?!#)|\Z)", re.S)
    new = pat.sub(lambda m: section.rstrip("\n"), old) if pat.search(old) else old.rstrip("\n") + "\n\n" + section
    path.write_text(new.rstrip("\n") + "\n")


if __name__ == "__main__":
    main()
