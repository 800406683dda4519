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
