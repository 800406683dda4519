"""A two-input Einsum that is a batched matrix product becomes MatMul (sdk/transform/einsum_matmul.py): results match
onnxruntime on random inputs for attention's and other equations (permuted output, batch letters in other places,
a constant operand, symbolic dims); equations that are not a product stay Einsum and still match."""
import numpy as np
import onnx.helper as h
import onnx.numpy_helper as nh
import pytest
from onnx import TensorProto as T

import sdk
from conftest import ort_run
from sdk.frontend.onnx import import_onnx
from sdk.transform.einsum_matmul import einsum_as_matmul

RTOL, ATOL = 1e-4, 1e-5


def _model(eq, shapes, const=None, dims=None):
    """One Einsum over inputs x0, x1, ... of ``shapes`` (``const``: the index of an input given as an initializer;
    ``dims``: symbolic names for some dims, {(input, axis): name})."""
    rng = np.random.default_rng(abs(hash(eq)) % 2 ** 32)
    names = [f"x{k}" for k in range(len(shapes))]
    inits, infos, feeds = [], [], {}
    for k, (nm, s) in enumerate(zip(names, shapes)):
        arr = rng.standard_normal(s).astype(np.float32)
        if k == const:
            inits.append(nh.from_array(arr, nm))
            continue
        feeds[nm] = arr
        shape = [(dims or {}).get((k, a), d) for a, d in enumerate(s)]
        infos.append(h.make_tensor_value_info(nm, T.FLOAT, shape))
    g = h.make_graph([h.make_node("Einsum", names, ["y"], equation=eq)], "g", infos,
                     [h.make_tensor_value_info("y", T.FLOAT, None)], inits)
    m = h.make_model(g, opset_imports=[h.make_opsetid("", 17)])
    m.ir_version = 8
    return m, feeds


CASES = [
    ("bhid,bhjd->bhij", [(2, 3, 5, 8), (2, 3, 7, 8)]),     # q.k^T
    ("bhij,bhjd->bhid", [(2, 3, 5, 7), (2, 3, 7, 8)]),     # p.v
    ("bij,bjk->bik", [(3, 4, 6), (3, 6, 5)]),
    ("ij,jk->ik", [(9, 6), (6, 5)]),
    ("bnd,dk->bnk", [(2, 7, 6), (6, 5)]),
    ("bhid,bhjd->bhji", [(2, 3, 5, 8), (2, 3, 7, 8)]),     # permuted output
    ("ibd,jdb->bij", [(5, 3, 4), (6, 4, 3)]),              # the batch letter in another place per input
    ("abcd,aced->abce", [(2, 3, 4, 5), (2, 4, 6, 5)]),     # MaxViT's grid attention spelling (two batch letters)
    ("ikl,jkl->ij", [(4, 3, 5), (6, 3, 5)]),               # two contracted letters (reshaped into one K)
    ("bi,bj->bij", [(3, 4), (3, 5)]),                       # no contraction: batched outer product
    ("bi,bi->b", [(4, 6), (4, 6)]),                        # no free letter: batched dot
    ("bhid,hjd->bhij", [(2, 3, 5, 8), (3, 7, 8)]),         # b free on the left: M = b * i, batch h in front
    ("ij,jk", [(4, 3), (3, 5)]),                           # implicit output
]


@pytest.mark.parametrize("eq,shapes", CASES, ids=[c[0] for c in CASES])
def test_einsum_as_matmul_matches_onnxruntime(eq, shapes):
    m, feeds = _model(eq, shapes)
    ref = ort_run(m, feeds)["y"]
    b = sdk.compile(m)
    ops = [x.op for x in b.func.bindings]
    assert "MatMul" in ops and "Einsum" not in ops, ops
    got = b.run(feeds)["y"]
    assert got.shape == ref.shape
    np.testing.assert_allclose(got, ref, rtol=RTOL, atol=ATOL)


def test_constant_operand_and_broadcast_batch():
    m, feeds = _model("bnd,dk->bnk", [(2, 7, 6), (6, 5)], const=1)
    b = sdk.compile(m)
    assert "Einsum" not in [x.op for x in b.func.bindings]
    np.testing.assert_allclose(b.run(feeds)["y"], ort_run(m, feeds)["y"], rtol=RTOL, atol=ATOL)
    m, feeds = _model("bhid,bhjd->bhij", [(2, 1, 5, 8), (2, 3, 7, 8)])  # h broadcasts as MatMul's batch dims do
    b = sdk.compile(m)
    assert "Einsum" not in [x.op for x in b.func.bindings]
    np.testing.assert_allclose(b.run(feeds)["y"], ort_run(m, feeds)["y"], rtol=RTOL, atol=ATOL)


def test_symbolic_dims():
    """Symbolic batch and sequence dims: reshapes written with 0 (copied dim) and -1 (the one inferred)."""
    dims = {(0, 0): "n", (1, 0): "n", (0, 2): "s", (1, 2): "s"}
    m, feeds = _model("bhid,bhjd->bhij", [(2, 3, 5, 8), (2, 3, 5, 8)], dims=dims)
    b = sdk.compile(m, dims={"n": 4, "s": 16})
    assert "Einsum" not in [x.op for x in b.func.bindings]
    np.testing.assert_allclose(b.run(feeds)["y"], ort_run(m, feeds)["y"], rtol=RTOL, atol=ATOL)
    # two contracted letters, one symbolic: K = s * 4 is reshaped with -1
    m, feeds = _model("isk,jsk->ij", [(3, 5, 4), (6, 5, 4)], dims={(0, 1): "s", (1, 1): "s"})
    b = sdk.compile(m, dims={"s": 8})
    assert "Einsum" not in [x.op for x in b.func.bindings]
    np.testing.assert_allclose(b.run(feeds)["y"], ort_run(m, feeds)["y"], rtol=RTOL, atol=ATOL)


def test_pass_output_has_matmul_and_no_einsum():
    m, _ = _model("bhid,bhjd->bhij", [(2, 3, 5, 8), (2, 3, 7, 8)])
    f = einsum_as_matmul(import_onnx(m, {}, "g"))
    ops = [x.op for x in f.bindings]
    # k is transposed to [b, h, d, j] (folded into the GEMM's transB later); q and the output are used as they are
    assert ops == ["Transpose", "MatMul"], ops
    assert f.bindings[0].attrs["perm"] == [0, 1, 3, 2] and f.bindings[1].outputs[0] is f.outputs[0]


@pytest.mark.parametrize("eq,shapes", [
    ("ii->i", [(5, 5)]),                       # diagonal
    ("ij->j", [(4, 6)]),                       # one input
    ("ij,jk,kl->il", [(3, 4), (4, 5), (5, 2)]),  # three inputs
    ("ij,jk->i", [(3, 4), (4, 5)]),            # k summed from the second input alone
    ("iij,jk->ik", [(3, 3, 4), (4, 5)]),       # a letter repeated in one term
    ("...ij,...jk->...ik", [(2, 3, 4), (2, 4, 5)]),  # ellipsis: not handled by the pass
])
def test_other_equations_stay_generic(eq, shapes):
    m, feeds = _model(eq, shapes)
    b = sdk.compile(m)
    assert "Einsum" in [x.op for x in b.func.bindings]
    np.testing.assert_allclose(b.run(feeds)["y"], ort_run(m, feeds)["y"], rtol=RTOL, atol=ATOL)
