"""Generation (``<name>_generate``) on the targets: android-arm64 (cross-built with aarch64-linux-gnu-gcc, run under
qemu-aarch64) and wasm32 (emcc, the JS ``generate`` of ``<name>.mjs`` in node): the tokens equal the Python
reference loop over onnxruntime (greedy, seeded sampling, beam search)."""
import os

import numpy as np
import onnx

import sdk
from sdk.generate import GenerateParams
from sdk.generate.reference import reference_generate
import pytest
from test_arm64 import require_arm64_toolchain

TINY = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "models", "generate", "tiny_gpt_step.ts.onnx")


@pytest.mark.parametrize("target", ["android-arm64", "wasm32-browser"])
def test_generate_on_target_matches_onnxruntime(target):
    if target == "android-arm64":
        require_arm64_toolchain()
    b = sdk.compile(TINY, target=target, dims={"batch": 3, "max_len": 24}, generate=True, name="gpt")
    model = onnx.load(TINY)
    cases = [([[5, 8, 11], [1, 2, 3]], dict(max_new_tokens=20)),
             ([[5, 8, 11], [1, 2, 3]], dict(max_new_tokens=12, do_sample=True, top_k=5, top_p=0.9, temperature=1.5,
                                            seed=42)),
             ([[5, 9]], dict(num_beams=3, max_new_tokens=20, stop_tokens=(63,)))]
    for prompt, params in cases:
        got = b.generate(prompt, **params)
        assert got == reference_generate(model, np.array(prompt), 24, GenerateParams(**params)), params
    assert got[0][-1] == 63 and len(got) == 3


def test_encoder_decoder_in_wasm_matches_onnxruntime(tmp_path):
    """wasm32: the encoder's Model.run output goes straight into the decoder's Model.generate as its context
    (node, the JS API, streaming every token to onToken), and Bundle.generate with context (generate_node.mjs
    --context): the reference's tokens."""
    import json
    import subprocess
    s2s = os.path.join(os.path.dirname(TINY), "tiny_s2s_{}.onnx")
    src = np.array([[3, 9, 4, 17, 25]])
    enc = sdk.compile(s2s.format("encoder"), target="wasm32-browser", dims={"batch": 3, "src": 8}, name="enc")
    dec = sdk.compile(s2s.format("decoder_step"), target="wasm32-browser", dims={"batch": 3, "src": 8, "max_len": 12},
                      generate=True, name="dec")
    states = enc.run({"src": src})["enc"]
    ref = reference_generate(onnx.load(s2s.format("decoder_step")), np.array([[0]]), 12,
                             GenerateParams(max_new_tokens=10, stop_tokens=(1,)), context={"enc": states})
    beams = reference_generate(onnx.load(s2s.format("decoder_step")), np.array([[0]]), 12,
                               GenerateParams(num_beams=3, max_new_tokens=10, stop_tokens=(1,)),
                               context={"enc": np.repeat(states, 3, 0)})
    assert ref[0] == [0, 3, 9, 4, 17, 25, 1]
    assert dec.generate([0], context={"enc": states}, max_new_tokens=10, stop_tokens=(1,)) == ref[0]
    enc.save(tmp_path / "enc")
    dec.save(tmp_path / "dec")
    (tmp_path / "check.mjs").write_text(
        "import { Model as Enc } from './enc/enc.mjs';\nimport { Model as Dec } from './dec/dec.mjs';\n"
        "const enc = await Enc.load(), dec = await Dec.load();\n"
        "const states = enc.run({ src: new BigInt64Array([3n, 9n, 4n, 17n, 25n]) }, { batch: 1 }).enc;\n"
        "const steps = [];\n"
        "const greedy = dec.generate([0], { context: { enc: states }, maxNewTokens: 10, stopTokens: [1],\n"
        "                                   onToken: (pos, rows) => steps.push([pos, rows[0]]) });\n"
        "const beams = dec.generate([0], { context: { enc: states }, numBeams: 3, maxNewTokens: 10, stopTokens: [1] });\n"
        "process.stdout.write(JSON.stringify({ greedy, beams, steps }));\n")
    r = subprocess.run(["node", "check.mjs"], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    got = json.loads(r.stdout)
    assert got["greedy"] == ref and got["beams"] == beams
    # streaming: one call per new token, each with the row so far
    assert got["steps"] == [[k, ref[0][:k + 1]] for k in range(1, len(ref[0]))]


ROOT = os.path.join(os.path.dirname(TINY), "..", "..", "..")
S2S = os.path.join(os.path.dirname(TINY), "tiny_s2s_{}.onnx")
QGEN = os.path.join(ROOT, "examples", "qgen")


def _encoder_decoder(kind):
    """(encoder path, decoder step path, dims, source ids, start, stop, max_len) of the tiny T5/BART-style pair or
    the question generator (a held-out sentence)."""
    if kind == "tiny_s2s":
        return (S2S.format("encoder"), S2S.format("decoder_step"), {"src": 8}, np.array([[3, 9, 4, 17, 25]]), 0, 1, 12)
    from sdk.text import WordPiece
    tok = WordPiece.from_file(os.path.join(QGEN, "vocab.txt"))
    src = np.array([tok.encode("The argument must be an instance of PyDateTime_Delta, including subclasses.")])
    return (os.path.join(QGEN, "qgen_encoder.onnx"), os.path.join(QGEN, "qgen_decoder_step.onnx"), {"src": 80}, src,
            tok.cls_id, tok.sep_id, 32)


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["tiny_s2s", "qgen"])
def test_encoder_decoder_on_android_arm64_matches_onnxruntime(kind):
    """android-arm64 (qemu-aarch64): the encoder bundle's states feed the decoder's C loop; greedy and 4 beams give
    the reference loop's tokens over onnxruntime (the tiny T5/BART-style pair and the question generator)."""
    require_arm64_toolchain()
    from conftest import ort_run
    from sdk.backends.phone.runner import Arm64Runner
    quick = Arm64Runner(cflags="-O1 -std=c99 -DSDK_POOL_PAD_FLOATS=4096 -Wall -Wextra -Werror")  # builds dominate
    enc_path, dec_path, dims, src, start, stop, max_len = _encoder_decoder(kind)
    enc = sdk.compile(enc_path, target="android-arm64", dims={"batch": 1, **dims}, name="enc")
    dec = sdk.compile(dec_path, target="android-arm64", dims={"batch": 4, "max_len": max_len, **dims}, generate=True,
                      name="dec")
    states = enc.run({"src": src}, runner=quick)["enc"]
    np.testing.assert_allclose(states, ort_run(onnx.load(enc_path), {"src": src})["enc"], rtol=1e-4, atol=1e-5)
    model = onnx.load(dec_path)
    for beams in (1, 4):
        params = dict(max_new_tokens=max_len - 1, stop_tokens=(stop,), num_beams=beams)
        got = dec.generate([start], context={"enc": states}, runner=quick, **params)
        ref = reference_generate(model, np.array([[start]]), max_len, GenerateParams(**params),
                                 context={"enc": np.repeat(states, beams, 0)})
        assert got == (ref if beams > 1 else ref[0]), beams
        assert (got[0] if beams > 1 else got)[-1] == stop  # each ends its output (not a cut-off degenerate run)


@pytest.mark.slow
def test_question_generator_in_wasm_node_matches_onnxruntime():
    """wasm32 in node (Bundle.generate through generate_node.mjs): the question generator's greedy and 4-beam
    tokens equal the reference loop's (the page test, test_qgen_web.py, does the same in Chromium)."""
    enc_path, dec_path, dims, src, start, stop, max_len = _encoder_decoder("qgen")
    enc = sdk.compile(enc_path, target="wasm32-browser", dims={"batch": 1, **dims}, name="enc")
    dec = sdk.compile(dec_path, target="wasm32-browser", dims={"batch": 4, "max_len": max_len, **dims},
                      generate=True, name="dec")
    states = enc.run({"src": src})["enc"]
    model = onnx.load(dec_path)
    for beams in (1, 4):
        params = dict(max_new_tokens=max_len - 1, stop_tokens=(stop,), num_beams=beams)
        got = dec.generate([start], context={"enc": states}, **params)
        ref = reference_generate(model, np.array([[start]]), max_len, GenerateParams(**params),
                                 context={"enc": np.repeat(states, beams, 0)})
        assert got == (ref if beams > 1 else ref[0]), beams


def test_question_generator_text_path_in_wasm(tmp_path):
    """wasm32 in node: the module's one-call text path (Model.generateText: the C tokenizer, the encoder and the
    generation loop compiled into the one .wasm, <name>_generate_text) gives the Python pipeline's text (WordPiece
    ids, the encoder and the reference loop over onnxruntime, decoded), greedy and 4 beams, and streams its tokens;
    Bundle.generate(text) runs it in node."""
    import json
    import subprocess
    from conftest import ort_run
    from sdk.text import WordPiece
    tok = WordPiece.from_file(os.path.join(QGEN, "vocab.txt"))
    enc_path, dec_path = os.path.join(QGEN, "qgen_encoder.onnx"), os.path.join(QGEN, "qgen_decoder_step.onnx")
    texts = ["The argument must be an instance of PyDateTime_Delta, including subclasses.",
             "The event loop is the core of every asyncio application."]
    b = sdk.compile(dec_path, target="wasm32-browser", dims={"batch": 4, "src": 80, "max_len": 32}, generate=True,
                    name="qgen", vocab=os.path.join(QGEN, "vocab.txt"), encoder=enc_path)
    want = {}
    for beams in (1, 4):
        for t in texts:
            states = ort_run(onnx.load(enc_path), {"src": np.array([tok.encode(t, max_length=80)])})["enc"]
            ref = reference_generate(onnx.load(dec_path), np.array([[tok.cls_id]]), 32,
                                     GenerateParams(num_beams=beams, max_new_tokens=31, stop_tokens=(tok.sep_id,)),
                                     context={"enc": np.repeat(states, beams, 0)})
            want.setdefault(beams, []).append(tok.decode(ref[0]))
    b.save(tmp_path / "qgen")
    (tmp_path / "check.mjs").write_text(
        "import { Model } from './qgen/qgen.mjs';\n"
        "const m = await Model.load(), texts = JSON.parse(process.argv[2]), steps = [];\n"
        "const greedy = m.generateText(texts, { maxNewTokens: 31 });\n"
        "const beams = m.generateText(texts, { maxNewTokens: 31, numBeams: 4 });\n"
        "m.generateText(texts[1], { maxNewTokens: 31, onToken: (pos, rows) => steps.push(rows[0]) });\n"
        "process.stdout.write(JSON.stringify({ greedy, beams, steps }));\n")
    r = subprocess.run(["node", "check.mjs", json.dumps(texts)], cwd=tmp_path, capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0, r.stderr
    got = json.loads(r.stdout)
    assert got["greedy"] == want[1] and got["beams"] == want[4]
    assert got["greedy"] == ["what must the argument be ?", "what is the event loop ?"]
    assert tok.decode(got["steps"][-1]) == want[1][1] and len(got["steps"]) == len(got["steps"][-1]) - 1
    assert b.generate(texts, num_beams=4, max_new_tokens=31) == want[4]  # Bundle.generate(text): ask_node.mjs


@pytest.mark.slow
@pytest.mark.parametrize("target", ["android-arm64", "wasm32-browser", "cortex-m7"])
def test_fp16_weights_on_target_match_onnxruntime_over_the_rounded_weights(target):
    """``--weights fp16`` off the host: android-arm64 (qemu-aarch64; its profile keeps the library GEMM for float32
    weights, the float16 ones go to ``sdk_gemv_f16w_f32``: NEON ``fcvtl``), wasm32 (node; no ``[tune]`` table: the
    float16 products alone become GEMV calls; the vector bit arithmetic) and the Cortex-M7 (qemu, GENERATE over the
    serial protocol; the same C in scalar code): greedy and 3 beams equal onnxruntime's loop over the rounded model."""
    if target == "android-arm64":
        require_arm64_toolchain()
    from sdk.generate.reference import fp16_weights_model
    b = sdk.compile(TINY, target=target, dims={"batch": 3, "max_len": 24}, generate=True, name="gpt16",
                    weights="fp16")
    assert sum(getattr(s, "fn", None) == "sdk_gemv_f16w_f32" for s in b.program.steps) == 9
    model = fp16_weights_model(onnx.load(TINY))
    for prompt, params in (([[5, 8, 11], [1, 2, 3]], dict(max_new_tokens=20)),
                           ([[5, 9]], dict(num_beams=3, max_new_tokens=20, stop_tokens=(63,)))):
        assert b.generate(prompt, **params) == reference_generate(model, np.array(prompt), 24,
                                                                  GenerateParams(**params)), params
