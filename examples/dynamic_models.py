"""Models with run-time dims and control flow, for docs/compiler.md: writes to examples/models/
nonzero.onnx (NonZero -> Transpose: a data-dependent count), loop.onnx (Loop with a run-time trip count,
a condition and a scan output) and an input file for each (nonzero_in.npz, loop_in.npz)."""
import os

import numpy as np
import onnx
from onnx import TensorProto as T
from onnx import helper as h

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "models")


def vi(name, dt, shape):
    return h.make_tensor_value_info(name, dt, shape)


def nonzero():
    g = h.make_graph([h.make_node("NonZero", ["x"], ["nz"]), h.make_node("Transpose", ["nz"], ["idx"])], "nonzero",
                     [vi("x", T.FLOAT, ["n", 5])], [vi("idx", T.INT64, None)])
    return h.make_model(g, opset_imports=[h.make_opsetid("", 17)])


def loop():
    """acc = 0.9 * acc + x, at most M times and while sum(acc) < lim; rows: acc * iteration, one per iteration."""
    body = h.make_graph(
        [h.make_node("Mul", ["acc_in", "k"], ["a1"]), h.make_node("Add", ["a1", "x"], ["acc_out"]),
         h.make_node("ReduceSum", ["acc_out"], ["s"], keepdims=0), h.make_node("Less", ["s", "lim"], ["c_out"]),
         h.make_node("Cast", ["i"], ["fi"], to=T.FLOAT), h.make_node("Mul", ["acc_out", "fi"], ["row"])], "body",
        [vi("i", T.INT64, []), vi("c_in", T.BOOL, []), vi("acc_in", T.FLOAT, ["n"])],
        [vi("c_out", T.BOOL, []), vi("acc_out", T.FLOAT, ["n"]), vi("row", T.FLOAT, ["n"])],
        [h.make_tensor("k", T.FLOAT, [], [0.9])])
    g = h.make_graph([h.make_node("Loop", ["M", "c0", "a0"], ["acc", "rows"], body=body)], "loop",
                     [vi("M", T.INT64, []), vi("c0", T.BOOL, []), vi("a0", T.FLOAT, ["n"]), vi("x", T.FLOAT, ["n"]),
                      vi("lim", T.FLOAT, [])], [vi("acc", T.FLOAT, None), vi("rows", T.FLOAT, None)])
    return h.make_model(g, opset_imports=[h.make_opsetid("", 17)])


def main():
    os.makedirs(OUT, exist_ok=True)
    rng = np.random.default_rng(0)
    onnx.save(nonzero(), os.path.join(OUT, "nonzero.onnx"))
    x = rng.standard_normal((6, 5)).astype(np.float32)
    x[rng.random((6, 5)) < 0.7] = 0
    np.savez(os.path.join(OUT, "nonzero_in.npz"), x=x)
    onnx.save(loop(), os.path.join(OUT, "loop.onnx"))
    np.savez(os.path.join(OUT, "loop_in.npz"), M=np.array(20, np.int64), c0=np.array(True),
             a0=np.zeros(4, np.float32), x=np.ones(4, np.float32), lim=np.array(30.0, np.float32))
    print(f"wrote nonzero.onnx, loop.onnx and their inputs to {OUT}")


if __name__ == "__main__":
    main()
