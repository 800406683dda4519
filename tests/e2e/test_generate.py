"""Generation in the bundle (``<name>_generate``, sdk/generate/): the tokens of the C loop equal those of the same
loop in Python over onnxruntime (sdk/generate/reference.py) for greedy decoding, stop tokens, seeded top-k/top-p
sampling and beam search with a length penalty, on decoder steps from both PyTorch exporters.

tests/models/generate/tiny_gpt_step.*.onnx: a tiny GPT-2-style step trained on arithmetic sequences
(make_tiny_gpt.py, needs torch); tests/models/text/gpt2_step.*.onnx: Hugging Face's GPT-2 (random weights) with an
attention-mask input."""
import os

import numpy as np
import onnx
import pytest

import sdk
from conftest import FAST_CFLAGS, SANITIZE
from sdk.backends.host.runner import HostRunner
from sdk.errors import BoundError, SdkError
from sdk.generate import GenerateParams
from sdk.generate.reference import reference_generate

MODELS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "models")
TINY = os.path.join(MODELS, "generate", "tiny_gpt_step.{}.onnx")
GPT2 = os.path.join(MODELS, "text", "gpt2_step.{}.onnx")
END = 63  # the tiny model's end-of-sequence token
FAST_BUILD = HostRunner(cflags=FAST_CFLAGS)
PROMPTS = np.array([[5, 8, 11], [1, 2, 3], [40, 45, 50]])
SAMPLING = dict(do_sample=True, top_k=5, top_p=0.9, temperature=1.5, seed=42)


def both(bundle, path, prompt, max_len, runner=FAST_BUILD, **params):
    got = bundle.generate(prompt, max_len=max_len, runner=runner, **params)
    ref = reference_generate(onnx.load(path), np.atleast_2d(prompt), max_len, GenerateParams(**params))
    return got, ref[0] if np.ndim(prompt) == 1 and params.get("num_beams", 1) == 1 else ref


@pytest.fixture(scope="module", params=["dynamo", "ts"])
def tiny(request):
    path = TINY.format(request.param)
    return path, sdk.compile(path, dims={"batch": 3, "max_len": 32}, generate=True, name="tiny")


def test_greedy_matches_onnxruntime_and_continues_sequences(tiny):
    path, b = tiny
    got, ref = both(b, path, PROMPTS, 32, max_new_tokens=20)
    assert got == ref
    assert got[0][:13] == [5, 8, 11, 14, 17, 20, 23, 26, 29, 32, 35, 38, END]  # the model learned its task
    assert all(len(r) == 23 for r in got)                                     # 20 new tokens each


def test_stop_token_ends_each_row(tiny):
    path, b = tiny
    got, ref = both(b, path, PROMPTS, 32, max_new_tokens=20, stop_tokens=(END,))
    assert got == ref
    assert [r[-1] for r in got] == [END] * 3 and all(END not in r[:-1] for r in got)


def test_seeded_sampling_matches_the_python_mirror(tiny):
    path, b = tiny
    got, ref = both(b, path, PROMPTS, 32, max_new_tokens=12, **SAMPLING)
    assert got == ref
    greedy = b.generate(PROMPTS, runner=FAST_BUILD, max_new_tokens=12)
    assert got != greedy  # temperature 1.5 over the top 5 does leave the arg-max path
    other = b.generate(PROMPTS, runner=FAST_BUILD, max_new_tokens=12, **{**SAMPLING, "seed": 7})
    assert other != got


def test_repeated_generation_in_one_process_gives_the_same_tokens(tiny):
    """The demo's --repeat (bench/generate.py times warm runs with it): the seed is reset for every run, so sampling
    draws the same tokens; the info has the medians and the first (cold) run's times."""
    path, b = tiny
    once = b.generate(PROMPTS, runner=FAST_BUILD, max_new_tokens=12, **SAMPLING)
    got, info = b.generate(PROMPTS, runner=FAST_BUILD, max_new_tokens=12, repeat=3, with_info=True, **SAMPLING)
    assert got == once
    assert {"total_ms", "first_token_ms", "cold_total_ms", "cold_first_token_ms"} <= set(info)
    assert 0 < float(info["first_token_ms"]) <= float(info["total_ms"]) and int(info["new_tokens"]) == 12


def test_max_len_limits_a_single_prompt(tiny):
    path, b = tiny
    got, ref = both(b, path, [3, 6], 9, max_new_tokens=50)
    assert got == ref == [3, 6, 9, 12, 15, 18, 21, 24, 27]  # 9 tokens: max_len, not max_new_tokens


@pytest.mark.parametrize("params", [dict(num_beams=3, max_new_tokens=20, stop_tokens=(END,)),
                                    dict(num_beams=3, max_new_tokens=20, stop_tokens=(END, 7), length_penalty=0.5),
                                    dict(num_beams=2, max_new_tokens=6)])
def test_beam_search_matches_onnxruntime(tiny, params):
    """Beams (batch rows), reordered with their cache rows each step (by the step's own cache copy, through its
    sdk_beam_parent input: sdk/generate/gather.py), best first; finished beams are kept."""
    path, b = tiny
    assert b.func.input_names[b.generation.parent] == "sdk_beam_parent"
    got, ref = both(b, path, [5, 9], 32, **params)
    assert got == ref and len(got) == params["num_beams"]
    if END in params.get("stop_tokens", ()):
        assert got[0] == [5, 9, 13, 17, 21, 25, 29, 33, 37, 41, 45, 49, END]  # the learned continuation wins
    assert len({tuple(r) for r in got}) == len(got)                        # distinct hypotheses


def test_beam_search_reordering_by_copies(monkeypatch):
    """The loop's own reorder of the cache rows (a step the gather does not apply to, e.g. one with subgraphs)."""
    import sdk.generate.gather as gather
    monkeypatch.setattr(gather, "with_beam_parent", lambda model, roles: (model, roles))
    path = TINY.format("ts")
    b = sdk.compile(path, dims={"batch": 3, "max_len": 32}, generate=True, name="tiny_copy")
    assert b.generation.parent is None and "sdk_beam_parent" not in b.func.input_names
    got, ref = both(b, path, [5, 9], 32, num_beams=3, max_new_tokens=20, stop_tokens=(END,))
    assert got == ref and len({tuple(r) for r in got}) == 3


def test_prompt_in_one_run(tiny):
    """A step over [batch, seq] ids (tiny_gpt_step.seq.ts.onnx, the same weights) takes the whole prompt in its
    first run: tokens equal the reference (which does the same) and the one-token-per-run model's."""
    path = os.path.join(MODELS, "generate", "tiny_gpt_step.seq.ts.onnx")
    b = sdk.compile(path, dims={"batch": 3, "max_len": 32}, generate=True, name="tiny")
    assert b.generation.prefill
    got, ref = both(b, path, PROMPTS, 32, max_new_tokens=20)
    assert got == ref == tiny[1].generate(PROMPTS, runner=FAST_BUILD, max_new_tokens=20)
    for params in (dict(max_new_tokens=12, **SAMPLING), dict(num_beams=3, max_new_tokens=20, stop_tokens=(END,))):
        got, ref = both(b, path, PROMPTS[:1] if "num_beams" in params else PROMPTS, 32, **params)
        assert got == ref, params


@pytest.mark.parametrize("exporter", ["dynamo", "ts"])
def test_hf_gpt2_step_with_attention_mask(exporter):
    path = GPT2.format(exporter)
    b = sdk.compile(path, dims={"batch": 2, "max_len": 16}, generate=True, name="gpt2")
    prompt = np.array([[5, 7, 9], [1, 2, 3]])
    for params in (dict(max_new_tokens=8), dict(max_new_tokens=10, **SAMPLING)):
        got, ref = both(b, path, prompt, 16, **params)
        assert got == ref, params
    got, ref = both(b, path, [5, 8], 16, num_beams=2, max_new_tokens=10)
    assert got == ref


@pytest.mark.slow
def test_generate_under_sanitizers_in_the_exact_workspace():
    """The demo allocates exactly <name>_generate_workspace_size(rows, max_len, context): ASan sees any access past
    it. One build of the [batch, seq] step (its first run takes the prompt, then one token per run): the longest
    prompt, sampling, and beam search."""
    path = os.path.join(MODELS, "generate", "tiny_gpt_step.seq.ts.onnx")
    b = sdk.compile(path, dims={"batch": 3, "max_len": 12}, generate=True, name="tiny")
    asan = HostRunner(cflags=" ".join(SANITIZE))
    got, ref = both(b, path, np.array([[1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21]] * 3), 12, runner=asan,
                    max_new_tokens=20)  # the longest prompt: max_len - 1
    assert got == ref and all(len(r) == 12 for r in got)
    got, ref = both(b, path, PROMPTS, 12, runner=asan, max_new_tokens=20, **SAMPLING)
    assert got == ref and all(len(r) == 12 for r in got)
    got, ref = both(b, path, [2, 4], 12, runner=asan, num_beams=3, max_new_tokens=20)
    assert got == ref and all(len(r) == 12 for r in got)


def test_generation_errors():
    path = TINY.format("dynamo")
    with pytest.raises(BoundError, match="max_len"):
        sdk.compile(path, dims={"batch": 2}, generate=True)
    with pytest.raises(SdkError, match="not compiled for generation"):
        sdk.compile(path, dims={"batch": 2, "past": 8}).generate([1, 2])
    b = sdk.compile(path, dims={"max_len": 8}, generate=True)
    with pytest.raises(BoundError, match="prompt"):
        b.generate(list(range(8)))   # no room for a new token
    with pytest.raises(SdkError, match="top_p"):
        b.generate([1], top_p=0)
    with pytest.raises(BoundError, match="beam"):
        b.generate([1], num_beams=2)  # the batch bound (default 1) limits the beams
    with pytest.raises(SdkError, match="deterministic"):
        b.generate([1], num_beams=2, do_sample=True)


def test_hf_t5_decoder_step_with_encoder_context():
    """Hugging Face's T5 decoder step (encoder states and mask as context; its output is the last hidden state, so
    the 'tokens' are arg-maxes over 32 features: this checks the loop's mechanics, not a language model): greedy,
    sampling and 2 beams."""
    path = os.path.join(MODELS, "text", "t5_decoder_step.ts.onnx")
    b = sdk.compile(path, dims={"batch": 2, "max_len": 12, "seq": 7}, generate=True, name="dec")
    assert [b.func.input_names[k] for k in b.generation.context] == ["enc", "enc_mask"]
    rng = np.random.default_rng(0)
    ctx = {"enc": rng.standard_normal((2, 5, 32)).astype(np.float32), "enc_mask": np.ones((2, 5), np.int64)}
    ctx["enc_mask"][1, -2:] = 0
    for params in (dict(max_new_tokens=8), dict(max_new_tokens=8, do_sample=True, seed=3)):
        got = b.generate([[0], [0]], runner=FAST_BUILD, context=ctx, **params)
        assert got == reference_generate(onnx.load(path), np.array([[0], [0]]), 12, GenerateParams(**params),
                                         context=ctx)
    one = {k: v[1:] for k, v in ctx.items()}  # beam search: one encoder row (the masked one), repeated for the beams
    got = b.generate([0], runner=FAST_BUILD, context=one, num_beams=2, max_new_tokens=8)
    assert got == reference_generate(onnx.load(path), np.array([[0]]), 12, GenerateParams(num_beams=2, max_new_tokens=8),
                                     context={k: np.repeat(v, 2, 0) for k, v in one.items()})
    with pytest.raises(SdkError, match="context"):
        b.generate([[0], [0]], runner=FAST_BUILD, context={"enc": ctx["enc"]})
