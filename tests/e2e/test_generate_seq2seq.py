"""Encoder-decoder generation: the encoder is a plain bundle run once, its states a context input of every step of
the decoder's ``<name>_generate`` loop. tests/models/generate/tiny_s2s_*.onnx: a tiny T5/BART-style pair trained to
copy its source (make_tiny_seq2seq.py, needs torch)."""
import os

import numpy as np
import onnx
import pytest

import sdk
from conftest import FAST_CFLAGS, ort_run
from sdk.backends.host.runner import HostRunner
from sdk.generate import GenerateParams
from sdk.generate.reference import reference_generate

MODELS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "models")
FAST_BUILD = HostRunner(cflags=FAST_CFLAGS)

S2S = os.path.join(MODELS, "generate", "tiny_s2s_{}.onnx")
SRC = np.array([[3, 9, 4, 17, 25], [30, 2, 2, 8, 11]])


@pytest.fixture(scope="module")
def seq2seq():
    """The tiny encoder-decoder: the encoder compiled as a plain bundle, the decoder step with generation."""
    enc = sdk.compile(S2S.format("encoder"), dims={"batch": 3, "src": 8}, name="enc")
    dec = sdk.compile(S2S.format("decoder_step"), dims={"batch": 3, "src": 8, "max_len": 12}, generate=True,
                      name="dec")
    return enc, dec


def test_encoder_decoder_copies_the_source(seq2seq):
    """Encoder once (its states a context input of every decoder step), then the same C loop: greedy and beams
    equal the reference over onnxruntime, and the trained model copies the source."""
    enc, dec = seq2seq
    states = enc.run({"src": SRC})["enc"]
    ref_states = ort_run(onnx.load(S2S.format("encoder")), {"src": SRC})["enc"]
    np.testing.assert_allclose(states, ref_states, rtol=1e-4, atol=1e-5)
    start, end = 0, 1
    got = dec.generate([[start], [start]], runner=FAST_BUILD, context={"enc": states}, max_new_tokens=10,
                       stop_tokens=(end,))
    ref = reference_generate(onnx.load(S2S.format("decoder_step")), np.array([[start], [start]]), 12,
                             GenerateParams(max_new_tokens=10, stop_tokens=(end,)), context={"enc": states})
    assert got == ref
    assert got == [[start] + list(row) + [end] for row in SRC]
    beams = dec.generate([start], runner=FAST_BUILD, context={"enc": states[:1]}, num_beams=3, max_new_tokens=10,
                         stop_tokens=(end,))
    assert beams == reference_generate(onnx.load(S2S.format("decoder_step")), np.array([[start]]), 12,
                                       GenerateParams(num_beams=3, max_new_tokens=10, stop_tokens=(end,)),
                                       context={"enc": states[:1]})
    assert beams[0] == got[0]
