"""Small models with pruned constant weights for the sparse-weight tests (tests/unit, e2e and targets): every
layer kind the sparse pass rewrites, with the epilogues it fuses, and each column-index type."""
import numpy as np
from onnx import TensorProto as TP, helper as h, numpy_helper as nh

from sdk.sparse.pruning import prune_matrix


def _model(nodes, inputs, outputs, inits):
    g = h.make_graph(nodes, "sparse_layers", inputs, [h.make_tensor_value_info(o, TP.FLOAT, None) for o in outputs],
                     [nh.from_array(a, n) for n, a in inits.items()])
    m = h.make_model(g, opset_imports=[h.make_opsetid("", 17)])
    m.ir_version = 8
    return m


def partly_blocked(S, sparsity=0.85, extra=0.04, seed=0):
    """S pruned in 8x1 blocks, plus a fraction ``extra`` of its other values kept: dense blocks for a hybrid
    format's BSR part (8 rows: whole blocks for every target's 2, 4 or 8 block rows) and scattered values for its
    CSR remainder."""
    rng = np.random.default_rng(seed)
    B = prune_matrix(S, sparsity, (8, 1))
    return np.where((B != 0) | (rng.random(S.shape) < extra), S, 0).astype(S.dtype)


def layers_model(seed=0, sparsity=0.85, block=(1, 1), nm=None, mixed=False):
    """MatMul + bias + Relu (K=40: uint8 indices, symbolic batch), Gemm (transB, alpha, beta, C) + residual Add +
    Clip (K=300: uint16), 1x1 Conv + bias + Sigmoid, 1-D 1x1 Conv + HardSwish; dims: {"batch": 4}.
    ``mixed``: weights ``partly_blocked`` (for the hybrid format)."""
    rng = np.random.default_rng(seed)

    def pruned(o, k):
        S = rng.standard_normal((o, k)).astype(np.float32)
        return partly_blocked(S, sparsity, seed=seed) if mixed else prune_matrix(S, sparsity, block, nm)

    inits = {
        "W1": pruned(70, 40).T.copy(), "b1": rng.standard_normal(70).astype(np.float32),
        "W2": pruned(33, 300), "c2": rng.standard_normal((1, 33)).astype(np.float32),
        "Wc": pruned(50, 24).reshape(50, 24, 1, 1), "bc": rng.standard_normal(50).astype(np.float32),
        "Wd": pruned(20, 24).reshape(20, 24, 1),
        "lo": np.array(-1.0, np.float32), "hi": np.array(2.0, np.float32),
    }
    nodes = [
        h.make_node("MatMul", ["x", "W1"], ["mm"]), h.make_node("Add", ["mm", "b1"], ["a1"]),
        h.make_node("Relu", ["a1"], ["y1"]),
        h.make_node("Gemm", ["g", "W2", "c2"], ["gm"], transB=1, alpha=0.5, beta=2.0),
        h.make_node("Add", ["gm", "r"], ["gr"]), h.make_node("Clip", ["gr", "lo", "hi"], ["y2"]),
        h.make_node("Conv", ["img", "Wc", "bc"], ["cv"]), h.make_node("Sigmoid", ["cv"], ["y3"]),
        h.make_node("Conv", ["seq", "Wd"], ["cd"]), h.make_node("HardSwish", ["cd"], ["y4"]),
    ]
    inputs = [h.make_tensor_value_info("x", TP.FLOAT, ["batch", 5, 40]),
              h.make_tensor_value_info("g", TP.FLOAT, [6, 300]), h.make_tensor_value_info("r", TP.FLOAT, [6, 33]),
              h.make_tensor_value_info("img", TP.FLOAT, [2, 24, 7, 9]),
              h.make_tensor_value_info("seq", TP.FLOAT, [1, 24, 19])]
    return _model(nodes, inputs, ["y1", "y2", "y3", "y4"], inits)


def wide_model(seed=0):
    """A MatMul with K = 70000 inputs: int32 column indices."""
    rng = np.random.default_rng(seed)
    W = prune_matrix(rng.standard_normal((3, 70000)).astype(np.float32), 0.95).T.copy()
    return _model([h.make_node("MatMul", ["x", "W"], ["y"])], [h.make_tensor_value_info("x", TP.FLOAT, [2, 70000])],
                  ["y"], {"W": W})


def conv_model(seed=0, sparsity=0.85, nm=None):
    """k x k convolutions the im2col kernels take: 3x3 pad 1 + bias + Relu6, 3x3 stride 2 with dilation 2 and
    asymmetric pads, a strided 1x1, a 1-D kernel 5 with SAME padding; dims: {"batch": 2}."""
    rng = np.random.default_rng(seed)

    def w(*shape):
        S = prune_matrix(rng.standard_normal((shape[0], int(np.prod(shape[1:])))).astype(np.float32), sparsity,
                         nm=nm)
        return S.reshape(shape)

    inits = {"W3": w(20, 8, 3, 3), "b3": rng.standard_normal(20).astype(np.float32), "Wd": w(12, 8, 3, 3),
             "W1": w(16, 8, 1, 1), "W5": w(10, 6, 5), "lo": np.array(0.0, np.float32), "hi": np.array(6.0, np.float32)}
    nodes = [
        h.make_node("Conv", ["img", "W3", "b3"], ["c3"], pads=[1, 1, 1, 1]),
        h.make_node("Clip", ["c3", "lo", "hi"], ["y1"]),
        h.make_node("Conv", ["img", "Wd"], ["y2"], strides=[2, 2], dilations=[2, 2], pads=[2, 1, 0, 2]),
        h.make_node("Conv", ["img", "W1"], ["y3"], strides=[2, 1]),
        h.make_node("Conv", ["seq", "W5"], ["y4"], auto_pad="SAME_UPPER"),
    ]
    inputs = [h.make_tensor_value_info("img", TP.FLOAT, ["batch", 8, 11, 13]),
              h.make_tensor_value_info("seq", TP.FLOAT, [1, 6, 23])]
    return _model(nodes, inputs, ["y1", "y2", "y3", "y4"], inits)


def int8_model(seed=0, sparsity=0.9):
    """For int8 quantization: two Gemm layers (+ bias, Relu) over 8 rows, and two 1x1 convolutions (+ Relu);
    with calibration inputs (``int8_calibration``)."""
    rng = np.random.default_rng(seed)

    def pruned(o, k):
        return prune_matrix((rng.standard_normal((o, k)) / np.sqrt(k)).astype(np.float32), sparsity)

    inits = {"W1": pruned(96, 300), "b1": rng.standard_normal(96).astype(np.float32) * 0.1, "W2": pruned(40, 96),
             "C1": pruned(48, 16).reshape(48, 16, 1, 1), "C2": pruned(24, 48).reshape(24, 48, 1, 1)}
    nodes = [h.make_node("Gemm", ["x", "W1", "b1"], ["g1"], transB=1), h.make_node("Relu", ["g1"], ["r1"]),
             h.make_node("Gemm", ["r1", "W2"], ["y1"], transB=1),
             h.make_node("Conv", ["img", "C1"], ["c1"]), h.make_node("Relu", ["c1"], ["r2"]),
             h.make_node("Conv", ["r2", "C2"], ["y2"])]
    inputs = [h.make_tensor_value_info("x", TP.FLOAT, [8, 300]),
              h.make_tensor_value_info("img", TP.FLOAT, [1, 16, 9, 7])]
    return _model(nodes, inputs, ["y1", "y2"], inits)


def int8_calibration(seed=0, n=8):
    rng = np.random.default_rng(seed)
    return {"x": rng.standard_normal((n * 8, 300)).astype(np.float32)[:8],
            "img": rng.standard_normal((1, 16, 9, 7)).astype(np.float32)}
