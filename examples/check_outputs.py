"""Compare a bundle's outputs with onnxruntime: check_outputs.py MODEL.onnx IN.npz OUT.npz"""
import sys

import numpy as np
import onnxruntime as ort


def main(model_path, inputs, outputs):
    feeds = dict(np.load(inputs))
    got = np.load(outputs)
    sess = ort.InferenceSession(model_path, providers=["CPUExecutionProvider"])
    ok = True
    for o, ref in zip(sess.get_outputs(), sess.run(None, feeds)):
        err = float(np.max(np.abs(got[o.name] - ref)))
        match = np.allclose(got[o.name], ref, rtol=1e-4, atol=1e-5)
        ok &= match
        print(f"{o.name}: max |bundle - onnxruntime| = {err:.2e} -> {'match' if match else 'MISMATCH'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
