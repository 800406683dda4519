"""In-browser semantic search over Python's docs (issue 20): query latency in headless Chromium (embed = WordPiece +
all-MiniLM-L6-v2 compiled by sdk to wasm32-browser, search = IRVQ index through sdk_vq.wasm), index bytes, page
weight, and the hits against an exact search; peer in the same run: an exact (flat) search over the float32
embeddings in the same page's JS.

    python bench/vq_web.py prepare                 # passages, token ids, split weights -> bench/data/vqweb/
    python bench/vq_web_device.py ...              # embed + train + index on a GPU machine (see its docstring)
    python bench/vq_web.py run [--sizes 59126,100000] [--screenshot docs/vq_web_search.png]

`run` reads the device job's outputs from bench/data/vqweb/dev/ (web<N>.svq, qemb.npy, log.json with the exact
top-10 of each query, emb16_*.npy: the float16 embeddings of the first passages) and prints a table.
"""
import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
DATA = HERE / "data" / "vqweb"
sys.path[:0] = [str(ROOT), str(ROOT / "examples"), str(HERE)]

QUERIES = [
    "how do I read a file line by line", "sort a list of dictionaries by a key", "what is a generator expression",
    "how to run code concurrently with threads", "parse command line arguments", "convert a string to a date",
    "remove duplicates from a list while keeping order", "how do decorators work", "handle an exception and re-raise it",
    "create a temporary directory", "send an HTTP request", "measure how long a piece of code takes",
    "what does the with statement do", "join paths in a portable way", "serialize an object to JSON",
    "compare floating point numbers safely", "define a class with slots to save memory", "how does garbage collection work",
    "start a subprocess and read its output", "what is the global interpreter lock", "write unit tests",
    "format a number with thousands separators", "regular expression to match an email", "iterate over two lists at once",
    "default values for dictionary keys", "difference between a list and a tuple", "how to make a class iterable",
    "asynchronous functions and await", "compress data with gzip", "read a CSV file",
    "generate random numbers with a seed", "copy a nested object", "log messages to a file",
    "what is a virtual environment", "type hints for a function that returns None", "build a C extension module",
    "reference counting in the C API", "encode text as UTF-8 bytes", "open a socket and listen for connections",
    "schedule a callback on the event loop",
]

# in the page: every query searched 3 times (the first run of each warms V8's tiers), then search alone `reps` times;
# the embed time is the last of the 3 runs
TIME_JS = """async ([queries, reps, flat]) => {
  const out = [];
  let emb32 = null;
  if (flat) emb32 = new Float32Array(await (await fetch(flat)).arrayBuffer());
  for (const q of queries) {
    let r;
    for (let k = 0; k < 3; ++k) r = window.demo.search(q);
    // timed as a block: Chromium's performance.now() is coarsened to 0.1 ms, about one search
    const emb = Float32Array.from(r.embedding), t0 = performance.now();
    for (let k = 0; k < reps; ++k) window.demo.index.search(emb, 10);
    const searchMs = (performance.now() - t0) / reps;
    let flatMs = null, flatIds = null;
    if (emb32) {  // exact peer: all dot products, then the 10 largest
      const t0 = performance.now(), d = emb.length, n = emb32.length / d, s = new Float32Array(n);
      for (let i = 0; i < n; ++i) { let a = 0; const o = i * d; for (let j = 0; j < d; ++j) a += emb32[o + j] * emb[j]; s[i] = a; }
      const top = [];  // the 10 largest, kept sorted by insertion
      for (let i = 0; i < n; ++i) {
        if (top.length === 10 && s[i] <= s[top[9]]) continue;
        let j = Math.min(top.length, 9);
        while (j > 0 && s[top[j - 1]] < s[i]) { top[j] = top[j - 1]; --j; }
        top[j] = i;
      }
      flatIds = top;
      flatMs = performance.now() - t0;
    }
    out.push({ q, embedMs: r.embedMs, searchMs, ids: r.hits.map((h) => h.id), flatMs, flatIds,
               tokens: r.tokens });
  }
  return out;
}"""


def prepare():
    """Passages (corpus.py windows 3 then 2), their token ids (the model's tokenizer), the weights split in two files
    (each under the device tool's 64 MiB), the queries' ids: what bench/vq_web_device.py needs."""
    from minilm_numpy import MiniLM
    from semantic_search.corpus import passages
    DATA.mkdir(parents=True, exist_ok=True)
    ps = passages((3, 2))
    (DATA / "passages_118k.json").write_text(json.dumps(ps))
    m = MiniLM()
    ids = m.tokenize([p["text"] for p in ps])
    np.savez(DATA / "ids.npz", lens=np.array([len(i) for i in ids], np.int32), ids=np.concatenate(ids).astype(np.uint16))
    (DATA / "query_ids.json").write_text(json.dumps([i.tolist() for i in m.tokenize(QUERIES)]))
    np.save(DATA / "word_emb.npy", m.w["embeddings.word_embeddings.weight"])
    np.savez(DATA / "rest.npz", **{k: v for k, v in m.w.items() if k != "embeddings.word_embeddings.weight"})
    print(f"{len(ps)} passages -> {DATA}")


def minilm_bundle(embed_dtype="float32"):
    out = DATA / ("minilm_web" if embed_dtype == "float32" else f"minilm_web_{embed_dtype}")
    if not (out / "minilm.wasm").exists():
        import sdk
        from semantic_search.minilm_onnx import build_minilm, load_weights
        b = sdk.compile(build_minilm(*load_weights(), embed_dtype=embed_dtype), target="wasm32-browser",
                        dims={"batch": 1, "seq": 128}, name="minilm")
        b.save(out)
    return out


def run(sizes, reps, screenshot, embed_dtype):
    from sdk import vq
    from sdk.backends.wasm.runner import chromium_page, serve_folder
    from sdk.vq.web import page_weight, write_search_page
    from semantic_search.minilm_onnx import vocab_text
    dev = DATA / "dev"
    log = json.loads((dev / "log.json").read_text())
    passages = json.loads((DATA / "passages_118k.json").read_text())
    (DATA / "vocab.txt").write_text(vocab_text(), encoding="utf-8")
    bundle = minilm_bundle(embed_dtype)
    emb16 = np.concatenate([np.load(dev / f"emb16_{k}.npy") for k in range(3)])
    rows = []
    for n in sizes:
        page = write_search_page(DATA / f"page{n}", dev / f"web{n}.svq", passages[:n], bundle, DATA / "vocab.txt",
                                 title="Python docs search")
        weight = page_weight(page)
        flat = None
        if n <= len(emb16):  # the exact peer needs the embeddings (float16 from the device, widened)
            emb16[:n].astype("<f4").tofile(page / "emb_f32.bin")
            flat = "emb_f32.bin"
        with serve_folder(page) as url, chromium_page() as browser:
            t0 = time.perf_counter()
            browser.goto(url + "index.html")
            browser.wait_for_selector("body[data-ready='1']", timeout=120000)
            load_s = time.perf_counter() - t0
            res = browser.evaluate(TIME_JS, [QUERIES, reps, flat])
            if screenshot and n == sizes[0]:
                browser.set_viewport_size({"width": 1100, "height": 900})
                browser.fill("#query", QUERIES[0])
                browser.click("#search")
                browser.wait_for_function("document.getElementById('status').textContent === 'ok'")
                browser.screenshot(path=str(screenshot))
        exact = np.array(log[f"n{n}"]["exact"])
        ids = np.array([r["ids"] for r in res])
        emb_ms, search_ms = np.array([r["embedMs"] for r in res]), np.array([r["searchMs"] for r in res])
        q = vq.load(dev / f"web{n}.svq").quantizer
        row = {"n": n, "index_bytes": weight["index.svq"], "codebook_bytes": q.codebooks.size * 4, "page_bytes": weight["total"],
               "model_bytes": weight["minilm.wasm"], "passages_bytes": weight["passages.json"], "load_s": load_s,
               "embed_ms": np.median(emb_ms), "embed_p90": np.percentile(emb_ms, 90),
               "tokens": np.median([r["tokens"] for r in res]),
               "search_ms": np.median(search_ms), "search_p90": np.percentile(search_ms, 90),
               "flat_ms": np.median([r["flatMs"] for r in res]) if flat else None,
               "flat_top1": np.mean([r["flatIds"][0] == e[0] for r, e in zip(res, exact)]) if flat else None,
               "recall10": np.mean([len(set(a) & set(b)) / 10 for a, b in zip(ids, exact)]),
               "top1_in3": np.mean([a[0] in b[:3] for a, b in zip(ids, exact)]),
               "top1_eq": np.mean(ids[:, 0] == exact[:, 0])}
        rows.append(row)
        (page / "emb_f32.bin").unlink(missing_ok=True)
    return rows, log


def table(rows, log):
    load = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    lines = [f"uptime: {load}",
             f"device job: embed {log['embed_s']:.1f} s, IRVQ train {log['train_s']:.1f} s (20,000 vectors), encode "
             f"{log['encode_s']:.1f} s, relative MSE {log['rel_mse']:.4f}; torch vs numpy MiniLM max diff "
             f"{log['numpy_maxdiff']:.1e}", "",
             "| passages | index MB (codebooks + per item) | per-item MB / 100k | page weight (model / passages) | load s | embed ms median / p90 "
             "(tokens) | search ms median / p90 | peer: exact JS scan ms | recall@10 | top-1 in exact top-3 | top-1 = exact |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for r in rows:
        items = r["index_bytes"] - r["codebook_bytes"]  # codes, 8-bit norms, header
        flat = f"{r['flat_ms']:.1f}" if r["flat_ms"] is not None else "n/a"
        lines.append(
            f"| {r['n']:,} | {r['index_bytes'] / 1e6:.2f} ({r['codebook_bytes'] / 1e6:.2f} + {items / 1e6:.2f}) | "
            f"{items / r['n'] * 1e5 / 1e6:.3f} | "
            f"{r['page_bytes'] / 1e6:.1f} MB ({r['model_bytes'] / 1e6:.1f} / {r['passages_bytes'] / 1e6:.1f}) | "
            f"{r['load_s']:.1f} | {r['embed_ms']:.1f} / {r['embed_p90']:.1f} ({r['tokens']:.0f}) | "
            f"{r['search_ms']:.2f} / {r['search_p90']:.2f} | {flat} | {r['recall10']:.3f} | {r['top1_in3']:.3f} | "
            f"{r['top1_eq']:.3f} |")
    for r in rows:
        if r["flat_top1"] is not None:
            lines.append(f"\n{r['n']:,} passages: the exact JS scan's top hit equals the device's exact search (torch "
                         f"embeddings of Python-tokenized queries) for {r['flat_top1']:.3f} of the queries.")
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("what", choices=["prepare", "run"])
    ap.add_argument("--sizes", default="59126,100000")
    ap.add_argument("--reps", type=int, default=50, help="timed searches per query")
    ap.add_argument("--screenshot", default=None, help="PNG of the first size's page after one query")
    ap.add_argument("--embed-dtype", choices=["float32", "float16"], default="float32",
                    help="the model's word-piece table (float16: 67 instead of 90 MB of .wasm)")
    a = ap.parse_args()
    if a.what == "prepare":
        return prepare()
    print(f"model word-piece table: {a.embed_dtype}")
    print(table(*run([int(s) for s in a.sizes.split(",")], a.reps, a.screenshot, a.embed_dtype)))


if __name__ == "__main__":
    main()
