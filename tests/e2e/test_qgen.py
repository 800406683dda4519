"""The question generator of issue 18 (examples/qgen/: BiGRU encoder + attention GRU decoder trained on sentence ->
question pairs from Python's documentation, train.py): the encoder bundle's states match onnxruntime, and the
decoder step's C generate loop gives the Python reference loop's tokens over onnxruntime, greedy and with 4 beams,
on held-out sentences; the trained model asks the rule's question on them (so it is not degenerate; BLEU over the
whole held-out split: bench/qgen_bleu.py)."""
import os

import numpy as np
import onnx
import pytest

import sdk
from conftest import FAST_CFLAGS, SANITIZE, ort_run
from sdk.backends.host.runner import HostRunner
from sdk.generate import GenerateParams
from sdk.generate.reference import reference_generate
from sdk.text import WordPiece

QGEN = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "examples", "qgen")
FAST_BUILD = HostRunner(cflags=FAST_CFLAGS)
MAX_LEN, BEAMS = 32, 4
# held-out sentences (pairs_test.tsv) and the rule's questions for them
CASES = [("The argument must be an instance of PyDateTime_Delta, including subclasses.",
          "what must the argument be ?"),
         ("The event loop is the core of every asyncio application.", "what is the event loop ?")]


@pytest.fixture(scope="module")
def qgen():
    tok = WordPiece.from_file(os.path.join(QGEN, "vocab.txt"))
    enc = sdk.compile(os.path.join(QGEN, "qgen_encoder.onnx"), dims={"batch": BEAMS, "src": 80}, name="qenc")
    dec = sdk.compile(os.path.join(QGEN, "qgen_decoder_step.onnx"),
                      dims={"batch": BEAMS, "src": 80, "max_len": MAX_LEN}, generate=True, name="qdec")
    return tok, enc, dec


def test_question_generator_matches_onnxruntime(qgen):
    tok, enc, dec = qgen
    enc_model = onnx.load(os.path.join(QGEN, "qgen_encoder.onnx"))
    dec_model = onnx.load(os.path.join(QGEN, "qgen_decoder_step.onnx"))
    stop = dict(stop_tokens=(tok.sep_id,), max_new_tokens=MAX_LEN - 1)
    for sentence, question in CASES:
        src = np.array([tok.encode(sentence)])
        states = enc.run({"src": src})["enc"]
        np.testing.assert_allclose(states, ort_run(enc_model, {"src": src})["enc"], rtol=1e-4, atol=1e-5)
        greedy = dec.generate([tok.cls_id], runner=FAST_BUILD, context={"enc": states}, **stop)
        ref = reference_generate(dec_model, np.array([[tok.cls_id]]), MAX_LEN, GenerateParams(**stop),
                                 context={"enc": states})
        assert greedy == ref[0]
        beams = dec.generate([tok.cls_id], runner=FAST_BUILD, context={"enc": states}, num_beams=BEAMS, **stop)
        assert beams == reference_generate(dec_model, np.array([[tok.cls_id]]), MAX_LEN,
                                           GenerateParams(num_beams=BEAMS, **stop), context={"enc": states})
        assert len(beams) == BEAMS and beams[0][-1] == tok.sep_id
        assert tok.decode(greedy) == question


def test_text_in_question_out_in_one_c_call():
    """sdk.compile(decoder, generate=True, vocab=, encoder=): <name>_generate_text (tokenizer, encoder, generation
    loop, detokenizer in one C call; the <name>_ask demo, built under ASan/UBSan in exactly
    <name>_text_workspace_size) gives what the Python pipeline gives: WordPiece ids, the encoder and the reference
    loop over onnxruntime, decoded; greedy and 4 beams, several texts through one arena, a text longer than the
    encoder's bound (cut, [SEP] kept)."""
    from sdk.errors import SdkError
    tok = WordPiece.from_file(os.path.join(QGEN, "vocab.txt"))
    enc_path, dec_path = os.path.join(QGEN, "qgen_encoder.onnx"), os.path.join(QGEN, "qgen_decoder_step.onnx")
    b = sdk.compile(dec_path, dims={"batch": BEAMS, "src": 80, "max_len": MAX_LEN}, generate=True, name="qgen",
                    vocab=os.path.join(QGEN, "vocab.txt"), encoder=enc_path)
    long = " ".join(["The event loop runs tasks and callbacks, performs network IO and runs subprocesses."] * 8)
    texts = [s for s, _ in CASES] + [long]
    enc_model, dec_model = onnx.load(enc_path), onnx.load(dec_path)
    sanitized = HostRunner(cflags=" ".join(SANITIZE))  # the suite's (runtime objects shared with its other ASan builds)
    for beams in (1, BEAMS):
        want = []
        for t in texts:
            src = np.array([tok.encode(t, max_length=80)])
            states = ort_run(enc_model, {"src": src})["enc"]
            ref = reference_generate(dec_model, np.array([[tok.cls_id]]), MAX_LEN,
                                     GenerateParams(num_beams=beams, max_new_tokens=MAX_LEN - 1,
                                                    stop_tokens=(tok.sep_id,)),
                                     context={"enc": np.repeat(states, beams, 0)})
            want.append(tok.decode(ref[0]))
        got = b.generate(texts, num_beams=beams, runner=sanitized)
        assert got == want, beams
    assert got[:2] == [q for _, q in CASES]
    assert b.generate(CASES[1][0]) == CASES[1][1]  # one text -> one string
    with pytest.raises(SdkError, match="vocab"):
        sdk.compile(dec_path, dims={"batch": 1, "src": 80, "max_len": MAX_LEN}, generate=True, encoder=enc_path)
    with pytest.raises(SdkError, match="token ids"):
        sdk.compile(dec_path, dims={"batch": 1, "src": 80, "max_len": MAX_LEN}, generate=True,
                    vocab=os.path.join(QGEN, "vocab.txt"), encoder=dec_path)
