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
