"""``sdk.prune``: magnitude pruning of an ONNX model's weights, for experiments with sparse bundles (users bring
their own fine-tuned pruned models: pruning without retraining changes a model's outputs)."""
from __future__ import annotations

from pathlib import Path
from typing import Optional, Tuple, Union

import numpy as np

from ..errors import SdkError

PRUNED_OPS = {"MatMul": 1, "Gemm": 1, "Conv": 1}  # op -> input index of its weight


def _as_matrix(op: str, node, w: np.ndarray) -> Tuple[np.ndarray, callable]:
    """(S [outputs, inputs], function that turns S back into w's layout)."""
    if op == "MatMul":
        return w.T, lambda s: s.T
    if op == "Gemm" and not any(a.name == "transB" and a.i for a in node.attribute):
        return w.T, lambda s: s.T
    shape = w.shape
    return w.reshape(shape[0], -1), lambda s: s.reshape(shape)


def prune_nm(S: np.ndarray, N: int, M: int) -> np.ndarray:
    """S with only the N largest magnitudes of every group of M consecutive inputs of each row kept (N:M)."""
    O, K = S.shape
    G = -(-K // M)
    padded = np.zeros((O, G * M), S.dtype)
    padded[:, :K] = S
    groups = padded.reshape(O, G, M)
    drop = np.argsort(np.abs(groups), axis=2, kind="stable")[:, :, :M - N]
    np.put_along_axis(groups, drop, 0, axis=2)
    return groups.reshape(O, G * M)[:, :K].copy()


def prune_matrix(S: np.ndarray, sparsity: float, block=(1, 1), nm=None) -> np.ndarray:
    """S with the ``sparsity`` fraction of its (block-row x block-column) blocks of smallest L2 norm set to zero
    (blocks cut by the matrix edge count as blocks); with ``nm=(N, M)`` instead: N:M pruning (``prune_nm``)."""
    if nm is not None:
        return prune_nm(S, *nm)
    br, bc = block
    O, K = S.shape
    Qo, Qk = -(-O // br), -(-K // bc)
    padded = np.zeros((Qo * br, Qk * bc), np.float64)
    padded[:O, :K] = S
    norms = np.sqrt((padded.reshape(Qo, br, Qk, bc) ** 2).sum(axis=(1, 3)))  # [Qo, Qk]
    drop = int(round(sparsity * norms.size))
    keep = np.ones(norms.size, bool)
    keep[np.argsort(norms, axis=None, kind="stable")[:drop]] = False
    mask = np.repeat(np.repeat(keep.reshape(Qo, Qk), br, axis=0), bc, axis=1)[:O, :K]
    return np.where(mask, S, 0).astype(S.dtype)


def prune(model, sparsity: float = 0.9, block: Tuple[int, int] = (1, 1), out: Optional[Union[str, Path]] = None,
          min_size: int = 1024, nm: Optional[Tuple[int, int]] = None):
    """A copy of ``model`` (path or ModelProto) whose float weights of MatMul, Gemm and (non-grouped) Conv with at
    least ``min_size`` elements have the ``sparsity`` fraction of their smallest-magnitude blocks set to zero.

    ``block=(rows, cols)``: blocks of output x input channels (the weight as a matrix S[outputs, inputs]; a
    convolution's inputs are its C*KH*KW taps); ``(1, 1)`` is unstructured, ``(4, 1)`` suits the BSR kernels.
    ``nm=(N, M)`` (e.g. (2, 4)): N:M pruning instead, the N largest of every M consecutive inputs kept
    (``sparsity`` and ``block`` are then not used).
    ``out``: also save the model there. Returns the ModelProto."""
    import onnx
    from onnx import numpy_helper
    if not 0.0 <= sparsity < 1.0:
        raise SdkError(f"prune: sparsity {sparsity} must be in [0, 1)")
    if len(block) != 2 or min(block) < 1:
        raise SdkError(f"prune: block {block} must be (rows, cols) >= 1")
    m = onnx.load(str(model)) if isinstance(model, (str, Path)) else onnx.ModelProto.FromString(
        model.SerializeToString())
    inits = {t.name: t for t in m.graph.initializer}
    done = set()
    for node in m.graph.node:
        k = PRUNED_OPS.get(node.op_type)
        if k is None or len(node.input) <= k or node.input[k] not in inits or node.input[k] in done:
            continue
        if node.op_type == "Conv" and any(a.name == "group" and a.i != 1 for a in node.attribute):
            continue  # depthwise/grouped: small, and kept dense by the compiler
        t = inits[node.input[k]]
        w = numpy_helper.to_array(t)
        if w.dtype != np.float32 or w.ndim < 2 or w.size < min_size:
            continue
        S, back = _as_matrix(node.op_type, node, w)
        t.CopyFrom(numpy_helper.from_array(np.ascontiguousarray(back(prune_matrix(S, sparsity, block, nm))), t.name))
        done.add(t.name)
    if out is not None:
        onnx.save(m, str(out))
    return m
