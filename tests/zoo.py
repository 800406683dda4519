"""The nine light model-zoo models shipped inside the onnx package."""
import glob
import os

import onnx

ZOO_DIR = os.path.join(os.path.dirname(onnx.__file__), "backend", "test", "data", "light")
ZOO = sorted(os.path.basename(p)[len("light_"):-len(".onnx")] for p in glob.glob(os.path.join(ZOO_DIR, "light_*.onnx")))


def zoo_path(name):
    return os.path.join(ZOO_DIR, f"light_{name}.onnx")


def randomized(name, seed=0):
    """The model with its ConstantOfShape-filled weights replaced by random ones.

    The light models fill every weight with one constant, which makes the
    softmax output uniform whatever the input; random weights (scaled by
    1/sqrt(fan-in), 1-D tensors in [0.5, 1.5] so BatchNorm variances stay
    positive) make the comparison with onnxruntime meaningful."""
    import numpy as np
    from onnx import numpy_helper

    m = onnx.load(zoo_path(name))
    rng = np.random.default_rng(seed)
    inits = {t.name: numpy_helper.to_array(t) for t in m.graph.initializer}
    keep = []
    for node in m.graph.node:
        if node.op_type == "ConstantOfShape" and node.input[0] in inits:
            shape = [int(d) for d in inits[node.input[0]]]
            if len(shape) <= 1:
                arr = rng.uniform(0.5, 1.5, shape)
            else:
                arr = rng.standard_normal(shape) / np.sqrt(max(1, int(np.prod(shape[1:]))))
            m.graph.initializer.append(numpy_helper.from_array(arr.astype(np.float32), node.output[0]))
        else:
            keep.append(node)
    del m.graph.node[:]
    m.graph.node.extend(keep)
    return m
