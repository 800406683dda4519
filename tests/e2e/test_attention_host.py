"""A ViT-S attention core on the host profile (6 heads of 64, 197 tokens): q k^T -> Softmax -> p v, with the
default schedules of batched products (6 x 4 vector tiles where the register file has them) and the softmax
library kernel; one and two threads against onnxruntime, bit-equal to each other."""
import numpy as np
from onnx import TensorProto, helper

import sdk
from conftest import assert_c_threads_agree, ort_run
from sdk.targets import load_target
from sdk.tune.space import target_facts

H, S, D = 6, 197, 64


def _attention():
    nodes = [helper.make_node("Transpose", ["k"], ["kt"], perm=[0, 1, 3, 2]),
             helper.make_node("MatMul", ["q", "kt"], ["s"]),
             helper.make_node("Softmax", ["s"], ["p"], axis=-1),
             helper.make_node("MatMul", ["p", "v"], ["o"])]
    io = lambda n: helper.make_tensor_value_info(n, TensorProto.FLOAT, [1, H, S, D])  # noqa: E731
    graph = helper.make_graph(nodes, "attn", [io("q"), io("k"), io("v")], [io("o")])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def test_vit_attention_core_matches_onnxruntime(tmp_path):
    model = _attention()
    b = sdk.compile(model, target="host")
    assert "sdk_softmax_f32" in [s.fn for s in b.program.steps if hasattr(s, "fn")]
    scheds = [s.schedule for s in b.program.steps if getattr(s, "workload", None) is not None]
    assert len(scheds) == 2
    facts = target_facts(load_target("host"))
    if facts.lanes == 16 and facts.registers >= 32:  # AVX-512: both products take the 6 x 4 tile
        assert all((s["mr"], s["nv"]) == (6, 4) for s in scheds), scheds
    rng = np.random.default_rng(7)
    feeds = {n: rng.standard_normal((1, H, S, D)).astype(np.float32) for n in "qkv"}
    assert_c_threads_agree(b.save(tmp_path / "attn"), feeds, ort_run(model, feeds), 1e-4, 1e-5)
