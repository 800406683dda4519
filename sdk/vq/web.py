"""The vq search runtime for browsers: runtime_c/src/sdk_vq.c built with emcc as a standalone wasm module
(`sdk_vq.wasm`, no emscripten JS glue) plus its ES module `vq.mjs` (templates/vq/web/), flags from the
wasm32-browser target profile."""
import shutil
import subprocess
from pathlib import Path

from ..errors import BuildError
from ..resources import RUNTIME, TEMPLATES

EXPORTS = ["sdk_vq_open", "sdk_vq_scratch_size", "sdk_vq_search", "sdk_vq_search_batch", "sdk_vq_batch_scratch_size",
           "sdk_status_str", "sdk_vq_heap_base", "sdk_vq_index_bytes"]


def build_vq_wasm(out, target="wasm32-browser"):
    """Write `sdk_vq.wasm` and `vq.mjs` into the folder `out`; returns the .wasm path."""
    from ..backends.wasm.bundle import EMCC_HINT
    from ..backends.wasm.flags import compile_flags
    from ..targets import load_target
    t = load_target(target)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    if shutil.which(t.cc) is None:
        raise BuildError(EMCC_HINT)
    ldflags = [f for f in t.data.get("toolchain", {}).get("ldflags", []) if "TOTAL_STACK" not in f]
    srcs = [RUNTIME / "src/sdk_vq.c", RUNTIME / "src/sdk_status.c", TEMPLATES / "vq/web/vq_glue.c"]
    cmd = [t.cc, *compile_flags(t), f"-I{RUNTIME / 'include'}", *map(str, srcs), *ldflags, "-sTOTAL_STACK=65536",
           "-sEXPORTED_FUNCTIONS=" + ",".join("_" + f for f in EXPORTS), "-o", str(out / "sdk_vq.wasm")]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode:
        raise BuildError(f"building sdk_vq.wasm failed:\n{(r.stderr or r.stdout)[-4000:]}")
    shutil.copyfile(TEMPLATES / "vq/web/vq.mjs", out / "vq.mjs")
    return out / "sdk_vq.wasm"


PAGE_FILES = ["index.html", "app.mjs"]
TOKENIZER_FILES = ["wordpiece.mjs", "unicode_tables.mjs"]


def write_search_page(out, index, passages, model_bundle, vocab, title="Semantic search", k=10,
                      names=("ids", "mask", "emb"), symbols=("batch", "seq")):
    """Write a static semantic-search page into `out`: serve the folder (e.g. `sdk serve OUT`) and open it.

    index: a vq.Index (or .svq path) over the passages' embeddings, passage i = item i; passages: [(text, source)]
    or [{"text", "src"}]; model_bundle: an sdk wasm32-browser bundle folder of a sentence-embedding model with inputs
    names[0] (token ids) and names[1] (mask), int64 [batch, seq], and output names[2], float32 [batch, dim] (unit
    length); vocab: the path of its WordPiece vocab.txt. The page tokenizes (templates/text/wordpiece.mjs),
    embeds and searches in the browser. Returns the folder."""
    import json

    from .index import Index, load
    out, model_bundle = Path(out), Path(model_bundle)
    out.mkdir(parents=True, exist_ok=True)
    index = index if isinstance(index, Index) else load(index)
    if index.ntotal != len(passages):
        raise BuildError(f"the index has {index.ntotal} items but there are {len(passages)} passages")
    meta = json.loads((model_bundle / "bundle.json").read_text())
    if list(meta["inputs"]) != list(names[:2]) or names[2] not in meta["outputs"] or set(symbols) - set(meta["bounds"]):
        raise BuildError(f"{model_bundle}: expected inputs {list(names[:2])}, output {names[2]!r} and dims "
                         f"{list(symbols)}; the bundle has {meta['inputs']} -> {meta['outputs']}, {meta['bounds']}")
    wasm = model_bundle / meta["wasm"]
    if not wasm.exists():
        raise BuildError(f"{wasm} missing (build the bundle with emcc first)")
    for f in (meta["wasm"], meta["module"]):
        shutil.copyfile(model_bundle / f, out / f)
    build_vq_wasm(out)
    (out / "index.svq").write_bytes(index.to_bytes())
    rows = [[p["text"], p.get("src", "")] if isinstance(p, dict) else [p[0], p[1]] for p in passages]
    (out / "passages.json").write_text(json.dumps(rows, ensure_ascii=False, separators=(",", ":")))
    shutil.copyfile(vocab, out / "vocab.txt")
    for f in TOKENIZER_FILES:
        shutil.copyfile(TEMPLATES / "text" / f, out / f)
    shutil.copyfile(TEMPLATES / "vq/web/app.mjs", out / "app.mjs")
    (out / "index.html").write_text((TEMPLATES / "vq/web/index.html").read_text().replace("@TITLE@", title))
    (out / "page.json").write_text(json.dumps({
        "module": meta["module"], "index": "index.svq", "k": k, "ids": names[0], "mask": names[1], "output": names[2],
        "batchSym": symbols[0], "seqSym": symbols[1], "maxTokens": int(meta["bounds"][symbols[1]]),
        "modelName": meta["name"], "modelBytes": wasm.stat().st_size, "method": index.quantizer.method.upper()},
        indent=1))
    return out


def page_weight(out):
    """{file: bytes} of a search page folder, and the total under "total"."""
    sizes = {p.name: p.stat().st_size for p in sorted(Path(out).iterdir()) if p.is_file()}
    return {**sizes, "total": sum(sizes.values())}
