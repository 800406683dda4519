"""Which input/output of a decoder step is what (sdk/generate/roles.py), and the Python mirror of the C sampler's
pieces that need no model (RNG stream, sort order, top-k/top-p truncation)."""
import numpy as np
import pytest

from sdk.errors import SdkError
from sdk.generate import GenerateParams
from sdk.generate.roles import find_roles
from sdk.generate.sampler import Rng, sample, sorted_desc

KV = [("past_k0", "float32", ["batch", 2, "past", 16]), ("past_v0", "float32", ["batch", 2, "past", 16])]
OUT = [("logits", "float32", ["batch", 1, 50]), ("present_k0", "float32", ["batch", 2, "past + 1", 16]),
       ("present_v0", "float32", ["batch", 2, "past + 1", 16])]
IDS = ("ids", "int64", ["batch", 1])


def test_gpt_step_roles():
    r = find_roles([IDS] + KV, OUT)
    assert (r.ids, r.mask, r.position, r.cache, r.past_axis, r.past, r.vocab, r.context) == \
        (0, None, None, (1, 2), (2, 2), "past", 50, ())


@pytest.mark.parametrize("mask_dim", ["past + 1", "total"])  # dynamo's expression, TorchScript's own symbol
def test_attention_mask_and_positions(mask_dim):
    r = find_roles([IDS, ("attention_mask", "int64", ["batch", mask_dim]), ("position_ids", "int64", ["batch", 1])]
                   + KV, OUT)
    assert (r.mask, r.position, r.context) == (1, 2, ())


def test_encoder_states_and_their_mask_are_context():
    r = find_roles([IDS, ("enc", "float32", ["batch", "seq", 32]), ("enc_mask", "int64", ["batch", "seq"])] + KV, OUT)
    assert (r.cache, r.context, r.mask) == ((3, 4), (1, 2), None)


@pytest.mark.parametrize("inputs, outputs, match", [
    (KV, OUT, "0 integer inputs named like 'ids'"),
    ([IDS], OUT[:1], "no past key/value inputs"),
    ([IDS] + KV, OUT[:2], "3 outputs|2 outputs"),
    ([IDS] + KV, [OUT[0], ("p", "float32", ["batch", 3, "past + 1", 16]), OUT[2]], "does not match"),
    ([IDS] + KV, [("logits", "float32", ["batch", 1, "vocab"])] + OUT[1:], "logits"),
    ([IDS, ("past_x", "float32", ["batch", "past", "other"])] + KV, OUT, "one past-length dim"),
    ([IDS, ("bias", "float32", ["batch", "past"])] + KV, OUT, "has a past-length dim but no role"),
])
def test_refusals_name_the_input(inputs, outputs, match):
    with pytest.raises(SdkError, match=match):
        find_roles(inputs, outputs)


def test_rng_stream_and_sort_order():
    rng = Rng(1)
    assert [rng.next() for _ in range(2)] == [5180492295206395165, 12380297144915551517]  # xorshift64* from state 1
    assert 0 <= Rng(42).uniform() < 1
    assert sorted_desc(np.array([1.0, 3.0, 3.0, -1.0], np.float32)) == [1, 2, 0, 3]  # ties: lower index first


def test_top_k_and_top_p_truncate():
    logits = np.array([0.0, 5.0, 4.0, 1.0], np.float32)
    draws = {sample(logits, GenerateParams(do_sample=True, top_k=2, seed=s), Rng(s)) for s in range(1, 200)}
    assert draws == {1, 2}                                   # the two most likely only
    draws = {sample(logits, GenerateParams(do_sample=True, top_p=0.5, seed=s), Rng(s)) for s in range(1, 50)}
    assert draws == {1}                                      # token 1 alone holds > half the mass


def test_empty_cache_dims_of_a_model_with_an_untyped_output():
    """Graph outputs may be declared without a type (elem_type 0); finding the cache dims reads the inputs only and
    must not fail on them (sdk.compile runs it on every model)."""
    from onnx import TensorProto, helper

    from sdk.generate.roles import empty_cache_dims, onnx_io
    g = helper.make_graph([helper.make_node("Relu", ["past_key"], ["y"]), helper.make_node("Abs", ["x"], ["z"])], "g",
                          [helper.make_tensor_value_info("past_key", TensorProto.FLOAT, ["b", "past", 4]),
                           helper.make_tensor_value_info("x", TensorProto.FLOAT, [2])],
                          [helper.make_tensor_value_info("y", 0, None), helper.make_tensor_value_info("z", 0, None)])
    m = helper.make_model(g)
    assert empty_cache_dims(m) == ("past",)
    assert [dt for _, dt, _ in onnx_io(m)[1]] == ["", ""]
