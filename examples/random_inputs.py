"""Write random inputs for a model to an .npz: random_inputs.py MODEL.onnx OUT.npz [NAME=VALUE ...]"""
import sys

import numpy as np
import onnx


def main(model_path, out, *dims):
    values = dict(d.split("=") for d in dims)
    m = onnx.load(model_path)
    inits = {t.name for t in m.graph.initializer}
    rng = np.random.default_rng(0)
    feeds = {}
    for vi in m.graph.input:
        if vi.name in inits:
            continue
        shape = [d.dim_value if d.HasField("dim_value") else int(values[d.dim_param]) for d in vi.type.tensor_type.shape.dim]
        feeds[vi.name] = rng.standard_normal(shape).astype(np.float32)
    np.savez(out, **feeds)
    print(f"wrote {out}: " + ", ".join(f"{k}{list(v.shape)}" for k, v in feeds.items()))


if __name__ == "__main__":
    main(*sys.argv[1:])
