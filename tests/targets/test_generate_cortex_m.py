"""Generation on a Cortex-M7 (emulated MPS2 AN500 board) over the serial protocol: the firmware of a bundle built
with --generate runs the whole token loop on the device (GENERATE, after the context inputs' SET_INPUT). The
question generator (examples/qgen/: encoder firmware, then the decoder's loop) gives the Python reference loop's
tokens over onnxruntime, greedy and with 4 beams, and the workspace comes from the RAM left under the budget."""
import json
import os

import numpy as np
import onnx
import pytest

import sdk
from conftest import ort_run
from sdk.errors import SdkError
from sdk.generate import GenerateParams
from sdk.generate.reference import reference_generate
from sdk.serial_protocol import DeviceError
from sdk.text import WordPiece
from test_cortex_m import require_toolchain

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
QGEN = os.path.join(ROOT, "examples", "qgen")
S2S = os.path.join(ROOT, "tests", "models", "generate", "tiny_s2s_{}.onnx")


def test_question_generator_on_cortex_m7(tmp_path):
    require_toolchain()
    tok = WordPiece.from_file(os.path.join(QGEN, "vocab.txt"))
    enc_path, dec_path = os.path.join(QGEN, "qgen_encoder.onnx"), os.path.join(QGEN, "qgen_decoder_step.onnx")
    enc = sdk.compile(enc_path, target="cortex-m7", dims={"batch": 1, "src": 80}, name="qenc")
    dec = sdk.compile(dec_path, target="cortex-m7", dims={"batch": 4, "src": 80, "max_len": 32}, generate=True,
                      name="qdec")
    enc.save(tmp_path / "enc")
    dec.save(tmp_path / "dec")
    src = np.array([tok.encode("The event loop is the core of every asyncio application.")])
    states = enc.run({"src": src})["enc"]
    np.testing.assert_allclose(states, ort_run(onnx.load(enc_path), {"src": src})["enc"], rtol=1e-4, atol=1e-5)
    stop = dict(stop_tokens=(tok.sep_id,), max_new_tokens=31)
    greedy, info = dec.generate([tok.cls_id], context={"enc": states}, with_info=True, **stop)
    ref = reference_generate(onnx.load(dec_path), np.array([[tok.cls_id]]), 32, GenerateParams(**stop),
                             context={"enc": states})
    assert greedy == ref[0] and tok.decode(greedy) == "what is the event loop ?"
    assert info["new_tokens"] == len(greedy) - 1 and 0 < info["first_token_cycles"] < info["cycles"]
    beams, binfo = dec.generate([tok.cls_id], context={"enc": states}, num_beams=4, with_info=True, **stop)
    assert beams == reference_generate(onnx.load(dec_path), np.array([[tok.cls_id]]), 32,
                                       GenerateParams(num_beams=4, **stop), context={"enc": np.repeat(states, 4, 0)})
    rep = json.loads((tmp_path / "dec" / "build_report.json").read_text())
    assert rep["ram_bytes"] + binfo["workspace_bytes"] <= rep["budget"]["ram_bytes"]  # static + the loop's arena
    assert rep["flash_bytes"] <= rep["budget"]["flash_bytes"]


def test_question_generator_text_path_on_cortex_m7(tmp_path):
    """One firmware with the encoder, the C tokenizer and <name>_generate_text (GENERATE_TEXT over the serial line):
    the text the Python pipeline gives (WordPiece ids, the encoder and the reference loop over onnxruntime,
    decoded), greedy and 4 beams, within the flash and RAM budget."""
    require_toolchain()
    tok = WordPiece.from_file(os.path.join(QGEN, "vocab.txt"))
    enc_path, dec_path = os.path.join(QGEN, "qgen_encoder.onnx"), os.path.join(QGEN, "qgen_decoder_step.onnx")
    texts = ["The argument must be an instance of PyDateTime_Delta, including subclasses.",
             "The event loop is the core of every asyncio application."]
    b = sdk.compile(dec_path, target="cortex-m7", dims={"batch": 4, "src": 80, "max_len": 32}, generate=True,
                    name="qgen", vocab=os.path.join(QGEN, "vocab.txt"), encoder=enc_path)
    b.save(tmp_path / "qgen")
    for beams in (1, 4):
        want = []
        for t in texts:
            states = ort_run(onnx.load(enc_path), {"src": np.array([tok.encode(t, max_length=80)])})["enc"]
            ref = reference_generate(onnx.load(dec_path), np.array([[tok.cls_id]]), 32,
                                     GenerateParams(num_beams=beams, max_new_tokens=31, stop_tokens=(tok.sep_id,)),
                                     context={"enc": np.repeat(states, beams, 0)})
            want.append(tok.decode(ref[0]))
        got, info = b.generate(texts, num_beams=beams, max_new_tokens=31, with_info=True)
        assert got == want, beams
        assert len(info["cycles"]) == 2 and all(c > 0 for c in info["cycles"])
        if beams == 1:
            assert got == ["what must the argument be ?", "what is the event loop ?"]
    rep = json.loads((tmp_path / "qgen" / "build_report.json").read_text())
    assert rep["ram_bytes"] + info["workspace_bytes"] <= rep["budget"]["ram_bytes"]
    assert rep["flash_bytes"] <= rep["budget"]["flash_bytes"]
    with pytest.raises(SdkError, match="at most 4096"):  # the request's text must fit the receive buffer
        b.generate("x" * 5000)


@pytest.mark.slow
def test_generate_workspace_within_ram_budget(tmp_path):
    """A RAM budget that leaves room for greedy decoding of two rows but not for three beams: the device
    refuses the beams with one error (SDK_ERR_ARENA_TOO_SMALL), and bad sizes are refused before any run."""
    require_toolchain()
    dims = {"batch": 3, "src": 8, "max_len": 12}
    states = ort_run(onnx.load(S2S.format("encoder")), {"src": np.array([[3, 9, 4, 17, 25], [30, 2, 2, 8, 11]])})["enc"]
    probe = sdk.compile(S2S.format("decoder_step"), target="cortex-m7", dims=dims, generate=True, name="dec")
    probe.save(tmp_path / "probe")
    static = json.loads((tmp_path / "probe" / "build_report.json").read_text())["ram_bytes"]
    _, g = probe.generate([[0], [0]], context={"enc": states}, max_new_tokens=10, stop_tokens=(1,), with_info=True)
    _, b = probe.generate([0], context={"enc": states[:1]}, num_beams=3, max_new_tokens=10, with_info=True)
    assert g["workspace_bytes"] < b["workspace_bytes"]
    budget = static + 64 + (g["workspace_bytes"] + b["workspace_bytes"]) // 2
    small = sdk.compile(S2S.format("decoder_step"), target="cortex-m7", dims=dims, generate=True, name="dec",
                        budget={"ram_bytes": budget})
    small.save(tmp_path / "small")
    got = small.generate([[0], [0]], context={"enc": states}, max_new_tokens=10, stop_tokens=(1,))
    assert got == [[0, 3, 9, 4, 17, 25, 1], [0, 30, 2, 2, 8, 11, 1]]
    with pytest.raises(DeviceError, match="larger than the free RAM"):
        small.generate([0], context={"enc": states[:1]}, num_beams=3, max_new_tokens=10)
    from sdk.backends.mcu.runner import CortexMRunner
    with CortexMRunner().connect(tmp_path / "small") as dev:
        dev.set_input(1, states)
        with pytest.raises(DeviceError, match="bad sizes"):
            dev.generate(np.zeros((1, 1), np.int64), 13, GenerateParams())  # max_len above the compiled 12


@pytest.mark.slow
def test_gpt_step_and_seq2seq_beams_on_cortex_m7(tmp_path):
    """The other two model kinds on the emulated Cortex-M7 at the profile's own budget: the tiny GPT-2-style step
    (greedy and 3 beams, its key/value cache in the device's workspace) and the tiny T5/BART-style decoder with 3
    beams over the encoder's states, each equal to the reference loop over onnxruntime."""
    require_toolchain()
    tiny = os.path.join(ROOT, "tests", "models", "generate", "tiny_gpt_step.ts.onnx")
    gpt = sdk.compile(tiny, target="cortex-m7", dims={"batch": 3, "max_len": 24}, generate=True, name="gpt")
    for prompt, params in (([[5, 8, 11], [1, 2, 3]], dict(max_new_tokens=20)),
                           ([[5, 9]], dict(num_beams=3, max_new_tokens=20, stop_tokens=(63,)))):
        got = gpt.generate(prompt, **params)
        assert got == reference_generate(onnx.load(tiny), np.array(prompt), 24, GenerateParams(**params)), params
    assert got[0][-1] == 63
    states = ort_run(onnx.load(S2S.format("encoder")), {"src": np.array([[3, 9, 4, 17, 25]])})["enc"]
    dec = sdk.compile(S2S.format("decoder_step"), target="cortex-m7", dims={"batch": 3, "src": 8, "max_len": 12},
                      generate=True, name="dec")
    params = dict(num_beams=3, max_new_tokens=10, stop_tokens=(1,))
    beams = dec.generate([0], context={"enc": states}, **params)
    assert beams == reference_generate(onnx.load(S2S.format("decoder_step")), np.array([[0]]), 12,
                                       GenerateParams(**params), context={"enc": np.repeat(states, 3, 0)})
    assert beams[0] == [0, 3, 9, 4, 17, 25, 1]


def test_decoder_too_big_for_the_budget_is_refused(tmp_path):
    """A decoder step whose weights do not fit the part (here the tiny GPT against a 16 KB flash budget; the
    3.7 M-parameter step of bench/generate.py against the real 4 MB) is refused when the bundle is written, with the
    planned size and the budget in one error, never built and skipped."""
    from sdk.errors import BuildError
    tiny = os.path.join(ROOT, "tests", "models", "generate", "tiny_gpt_step.ts.onnx")
    b = sdk.compile(tiny, target="cortex-m7", dims={"batch": 1, "max_len": 24}, generate=True, name="gpt",
                    budget={"flash_bytes": 16384})
    with pytest.raises(BuildError, match=r"planned flash \d+ B exceeds the cortex-m7 budget of 16384 B"):
        b.save(tmp_path / "gpt")
