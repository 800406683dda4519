"""``compile_train(..., backbone="int8")``: the KWS backbone's frozen convolutions in int8 (weights per output
channel, activations per tensor), the classifier trained in float32 on the dequantised features. Checked: the
compiled backbone equals the numpy integer reference bit for bit; its features are within one quantisation step of
the float32 backbone's (onnxruntime); the head's step equals a float64 numpy step on those int8 features and its
gradients equal central finite differences."""
import os
import sys

import numpy as np
import pytest

from sdk.errors import SdkError
from sdk.train import compile_train
from sdk.train.backbone import backbone_function
from sdk.train.compile import compile_function
from sdk.transform.quantize import reference_int8

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
FINETUNE = os.path.join(ROOT, "examples", "finetune")
MODEL = os.path.join(FINETUNE, "kws_backbone.onnx")
FEATURES = "/ReduceMean_output_0"  # the pooled features the classifier (fc) reads


def _data():
    sys.path.insert(0, FINETUNE)
    from keywords import dataset
    x, y = dataset(range(5), 8, seed=7)  # 40 samples: 5 calibration batches of 8
    xs, ys = dataset(range(5), 4, seed=11)  # 20 other samples for the steps
    return [{"mfcc": x[i:i + 8]} for i in range(0, 40, 8)], xs, ys


def _float_features(x):
    import onnx
    import onnxruntime as ort
    m = onnx.load(MODEL)
    m.graph.output.append(onnx.helper.make_empty_tensor_value_info(FEATURES))
    s = ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"])
    return s.run([FEATURES], {"mfcc": x})[0]


def _ce(feat, w, b, labels):
    """float64 cross-entropy (mean) of the head on ``feat``, and its gradients (dW, db)."""
    z = feat @ w.T + b
    z = z - z.max(1, keepdims=True)
    p = np.exp(z) / np.exp(z).sum(1, keepdims=True)
    n = len(labels)
    loss = -np.log(p[np.arange(n), labels]).mean()
    g = (p - np.eye(w.shape[0])[labels]) / n
    return loss, g.T @ feat, g.sum(0)


def test_int8_backbone_features_and_head_gradients():
    cal, xs, ys = _data()
    tb = compile_train(MODEL, trainable="last:1", momentum=0.9, backbone="int8", calibration=cal)
    f = tb.bundle.func
    # the backbone is int8: quantised weights (one scale per output channel), no float convolution, no gradient
    convs = [b for b in f.bindings if b.op == "sdk.QConv"]
    assert len(convs) == 3 and not any(b.op == "Conv" for b in f.bindings)
    for b in convs:
        w, mult = b.inputs[1], b.inputs[3]
        assert w.dtype == "int8" and w.const is not None and mult.const.shape == (w.shape[0],)
    int8_ids = {id(v) for b in f.bindings for v in b.outputs if v.dtype == "int8"}
    assert not any(id(v) in int8_ids for b in f.bindings if b.name not in tb.train_step_graph.forward
                   for v in b.inputs if v is not None), "a backward binding reads an int8 value"
    assert tb.params == ["fc.weight", "fc.bias"] and tb.memory()["backbone"] == "int8"

    bf = backbone_function(tb.forward)
    feat_ref = reference_int8(bf, {"mfcc": xs[:8]})["features"]
    feat_c = compile_function(bf, "host", tb.bundle.bounds, "backbone").run({"mfcc": xs[:8]})["features"]
    np.testing.assert_array_equal(feat_c, feat_ref)  # the compiled int8 kernels: bit for bit
    # against the float32 backbone: within one step of the features' int8 scale (measured: 0.15 of a 0.24 step,
    # 0.7% of the largest feature)
    scale = tb.bundle.quant[FEATURES][0]
    f32 = _float_features(xs[:8])
    assert np.abs(feat_ref - f32).max() <= scale, (np.abs(feat_ref - f32).max(), scale)
    assert np.abs(feat_ref - f32).max() <= 0.02 * np.abs(f32).max()

    # the head's steps (SGD, momentum 0.9) against a float64 numpy step on the int8 features
    state = tb.init_state()
    w, b = state["fc.weight"].astype(np.float64), state["fc.bias"].astype(np.float64)
    vw, vb = np.zeros_like(w), np.zeros_like(b)
    lr = 0.01
    for s in range(3):
        x, y = xs[8 * s % 16:8 * s % 16 + 8], ys[8 * s % 16:8 * s % 16 + 8]
        feat = reference_int8(bf, {"mfcc": x})["features"].astype(np.float64)
        loss_ref, gw, gb = _ce(feat, w, b, y)
        if s == 0:  # gradients vs central finite differences of the float64 loss (random directions)
            rng = np.random.default_rng(0)
            for _ in range(4):
                dw, db = rng.standard_normal(w.shape), rng.standard_normal(b.shape)
                h = 1e-5
                fd = (_ce(feat, w + h * dw, b + h * db, y)[0] - _ce(feat, w - h * dw, b - h * db, y)[0]) / (2 * h)
                np.testing.assert_allclose((gw * dw).sum() + (gb * db).sum(), fd, rtol=1e-6)
            # the compiled step's gradient: (w - w') / lr at the first step (momentum starts at zero)
            before = {k: state[k].copy() for k in tb.params}
        loss, logits = tb.step(state, {"mfcc": x}, y, lr)
        np.testing.assert_allclose(logits, feat @ w.T + b, rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(loss, loss_ref, rtol=1e-5)
        if s == 0:
            g_step = (before["fc.weight"].astype(np.float64) - state["fc.weight"]) / lr
            np.testing.assert_allclose(g_step, gw, rtol=1e-3, atol=1e-3 * np.abs(gw).max())
        vw, vb = 0.9 * vw + gw, 0.9 * vb + gb
        w, b = w - lr * vw, b - lr * vb
        np.testing.assert_allclose(state["fc.weight"], w, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(state["fc.bias"], b, rtol=1e-5, atol=1e-6)


def test_int8_backbone_is_smaller_than_fp32():
    """The int8 step's arena (int8 activations) and frozen weights (int8) against the fp32 backbone's."""
    cal, _, _ = _data()
    m8 = compile_train(MODEL, trainable="last:1", momentum=0.9, backbone="int8", calibration=cal).memory()
    m32 = compile_train(MODEL, trainable="last:1", momentum=0.9).memory()
    assert m8["state_bytes"] == m32["state_bytes"]  # the same float32 head and momentum
    assert m8["frozen_weight_bytes"] < 0.5 * m32["frozen_weight_bytes"]
    assert m8["arena_bytes"] < 0.5 * m32["arena_bytes"]


def test_int8_backbone_needs_a_frozen_front_and_calibration():
    cal, _, _ = _data()
    with pytest.raises(SdkError, match="calibration"):
        compile_train(MODEL, trainable="last:1", backbone="int8")
    with pytest.raises(SdkError, match="no layer in front of the trainable"):
        compile_train(MODEL, trainable="all", backbone="int8", calibration=cal)
    with pytest.raises(SdkError, match="only used with --backbone int8"):
        compile_train(MODEL, trainable="last:1", calibration=cal)


def test_finetune_example_int8_backbone_learns_the_new_keyword():
    """examples/finetune --backbone int8 on the host: keyword 4 learnt, keywords 0-3 kept, accuracy measured with
    the int8 backbone."""
    sys.path.insert(0, FINETUNE)
    from finetune import main
    before, after, losses, mem = main(["--backbone", "int8"])
    assert before[4] == 0.0 and after[4] >= 0.8, (before, after)
    assert min(after[c] for c in range(4)) >= 0.8, after
    assert losses[-1] < 0.2 * losses[0] and mem["backbone"] == "int8"


@pytest.mark.slow
def test_int8_backbone_c_train_step_matches_in_process(tmp_path):
    """The int8-backbone step's C training API built with gcc -Wall -Wextra -Werror (the int8 kernels, the float
    head's state updated in place): the in-process losses and parameters."""
    import subprocess
    cal, xs, ys = _data()
    tb = compile_train(MODEL, trainable="last:1", momentum=0.9, backbone="int8", calibration=cal, name="kws")
    out = tb.save(tmp_path / "b")
    subprocess.run(["make", "-s", "kws_train_demo", "CFLAGS=-O1 -std=c99 -Wall -Wextra -Werror"], cwd=out, check=True)
    xb, yb = xs[:16].reshape(2, 8, 1, 49, 10), ys[:16].reshape(2, 8).astype(np.int64)
    xb.tofile(out / "x.bin")
    yb.tofile(out / "labels.bin")
    (out / "params").mkdir()
    steps = 4
    r = subprocess.run(["./kws_train_demo", str(steps), "0.01", "x.bin", "labels.bin", "params"], cwd=out, check=True,
                       capture_output=True, text=True)
    c_losses = [float(line.split()[-1]) for line in r.stdout.splitlines()]
    state = tb.init_state()
    py_losses = [tb.step(state, {"mfcc": xb[s % 2]}, yb[s % 2], 0.01)[0] for s in range(steps)]
    np.testing.assert_allclose(c_losses, py_losses, rtol=1e-5)
    for k, p in enumerate(tb.params):
        got = np.fromfile(out / "params" / f"{k}.bin", np.float32).reshape(state[p].shape)
        np.testing.assert_allclose(got, state[p], rtol=1e-4, atol=1e-6, err_msg=p)


def test_cli_build_train_backbone_int8(tmp_path, capsys):
    """sdk build --train --backbone int8 --calibration NPZ: 40 samples of a model of batch 8 calibrate as 5 batches;
    --backbone without --train and --calibration without --backbone int8 are errors."""
    from sdk.cli import main
    cal, _, _ = _data()
    np.savez(tmp_path / "cal.npz", mfcc=np.concatenate([c["mfcc"] for c in cal]))
    out = tmp_path / "b"
    assert main(["build", MODEL, "--train", "--backbone", "int8", "--calibration", str(tmp_path / "cal.npz"),
                 "--momentum", "0.9", "-o", str(out), "--name", "kws"]) == 0
    text = capsys.readouterr().out
    assert "frozen backbone int8" in text and "training step of 2 parameters" in text
    assert (out / "kws_train.h").exists()
    # the same ranges (so the same generated code) as the 5 batches given to the Python API
    py = compile_train(MODEL, trainable="last:1", momentum=0.9, backbone="int8", calibration=cal, name="kws")
    py.save(tmp_path / "py")
    assert (out / "kws.c").read_text() == (tmp_path / "py" / "kws.c").read_text()
    assert main(["build", MODEL, "--backbone", "int8", "-o", str(tmp_path / "c")]) != 0
    assert "--backbone is a --train option" in capsys.readouterr().err
    assert main(["build", MODEL, "--train", "--calibration", str(tmp_path / "cal.npz"), "-o", str(tmp_path / "d")]) != 0
    assert "--calibration is only used with" in capsys.readouterr().err
