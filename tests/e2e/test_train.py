"""The training step (sdk/train) against PyTorch: the same model, batches and optimiser, step by step (references
made by tests/models/train/make_train_refs.py with PyTorch; CI needs no torch)."""
import os

import numpy as np
import pytest

from sdk.train.bundle import compile_train

HERE = os.path.dirname(os.path.abspath(__file__))
MODELS = os.path.join(os.path.dirname(HERE), "models", "train")


def _ref(name, opt):
    return dict(np.load(os.path.join(MODELS, f"{name}_{opt}.npz")))


@pytest.mark.parametrize("name,opt,loss", [("small_cnn", "sgd", "cross_entropy"), ("small_cnn", "adam", "cross_entropy"),
                                           ("small_mlp", "sgd", "mse")])
def test_steps_match_pytorch(name, opt, loss):
    ref = _ref(name, opt)
    tb = compile_train(os.path.join(MODELS, f"{name}.onnx"), trainable="all", loss=loss, optimizer=opt,
                       momentum=0.9 if opt == "sgd" else 0.0)
    params = [k.split(":", 1)[1] for k in ref if k.startswith("step0:")]
    assert sorted(tb.params) == sorted(params)
    state = tb.init_state()
    for s in range(len(ref["loss"])):
        got, _ = tb.step(state, {"x": ref["x"][s]}, ref["labels"][s], float(ref["lr"]))
        np.testing.assert_allclose(got, ref["loss"][s], rtol=1e-4, err_msg=f"loss of step {s}")
        for p in params:
            np.testing.assert_allclose(state[p], ref[f"step{s}:{p}"], rtol=1e-3, atol=2e-5,
                                       err_msg=f"{p} after step {s}")


@pytest.mark.slow
@pytest.mark.parametrize("opt", ["sgd", "adam"])
def test_c_train_step_matches_in_process(tmp_path, opt):
    """The bundle's C training API built with gcc (-Wall -Wextra -Werror; the state updated in place, arena and
    state static): the same losses and parameters as the in-process steps."""
    import subprocess
    ref = _ref("small_cnn", "sgd")
    tb = compile_train(os.path.join(MODELS, "small_cnn.onnx"), trainable="last:2", optimizer=opt,
                       momentum=0.9 if opt == "sgd" else 0.0, name="cnn")
    out = tb.save(tmp_path / "b")
    subprocess.run(["make", "-s", "cnn_train_demo", "CFLAGS=-O1 -std=c99 -Wall -Wextra -Werror"], cwd=out, check=True)
    ref["x"].tofile(out / "x.bin")
    ref["labels"].tofile(out / "labels.bin")
    (out / "params").mkdir()
    steps = 5
    r = subprocess.run(["./cnn_train_demo", str(steps), "0.05", "x.bin", "labels.bin", "params"], cwd=out, check=True,
                       capture_output=True, text=True)
    c_losses = [float(line.split()[-1]) for line in r.stdout.splitlines()]
    state = tb.init_state()
    py_losses = [tb.step(state, {"x": ref["x"][s % 3]}, ref["labels"][s % 3], 0.05)[0] for s in range(steps)]
    np.testing.assert_allclose(c_losses, py_losses, rtol=1e-5)
    for k, p in enumerate(tb.params):
        got = np.fromfile(out / "params" / f"{k}.bin", np.float32).reshape(state[p].shape)
        np.testing.assert_allclose(got, state[p], rtol=1e-4, atol=1e-6, err_msg=p)


def test_finetune_example_learns_the_new_keyword():
    """examples/finetune: the classifier of a keyword model learns keyword 4 from 16 samples (host steps) and keeps
    keywords 0-3."""
    import sys
    sys.path.insert(0, os.path.join(os.path.dirname(MODELS), "..", "..", "examples", "finetune"))
    from finetune import main
    before, after, losses, _ = main([])
    assert before[4] == 0.0 and after[4] >= 0.8, (before, after)
    assert min(after[c] for c in range(4)) >= 0.8, after
    assert losses[-1] < 0.2 * losses[0]


def test_symbolic_batch_step_matches_static(tmp_path):
    """A model with a symbolic batch (examples/kws.py, --dim batch=8) trains on a batch of 5: the same loss and
    parameters as the step compiled for a static batch of 5 (the cross-entropy mean divides by the actual batch)."""
    import onnx
    from kws import kws
    m = kws()
    onnx.save(m, tmp_path / "sym.onnx")
    for vi in list(m.graph.input) + list(m.graph.output):
        vi.type.tensor_type.shape.dim[0].dim_value = 5
    onnx.save(m, tmp_path / "static.onnx")
    sym_tb = compile_train(tmp_path / "sym.onnx", dims={"batch": 8}, trainable="last:2", momentum=0.9)
    static_tb = compile_train(tmp_path / "static.onnx", trainable="last:2", momentum=0.9)
    rng = np.random.default_rng(0)
    s1, s2 = sym_tb.init_state(), static_tb.init_state()
    for _ in range(2):
        x = rng.standard_normal((5, 1, 49, 10)).astype(np.float32)
        y = rng.integers(0, 12, 5)
        l1, l2 = sym_tb.step(s1, {"mfcc": x}, y, 0.05)[0], static_tb.step(s2, {"mfcc": x}, y, 0.05)[0]
        np.testing.assert_allclose(l1, l2, rtol=1e-5)
    for p in sym_tb.params:
        np.testing.assert_allclose(s1[p], s2[p], rtol=1e-4, atol=1e-6, err_msg=p)


@pytest.mark.slow
def test_remat_same_steps_smaller_arena():
    """Rematerialisation on the CNN example (deep_cnn: seven Conv-BatchNorm-ReLU layers): recomputing the
    BatchNorm + ReLU outputs (auto), or also convolution segments (a --train-memory budget of 0.6x the arena
    without), gives PyTorch's steps as without it, in an arena of at most 0.6x with the budget; the stash in
    16 bits (--stash fp16) shrinks it further and stays within the tolerances of PyTorch's steps."""
    ref = _ref("deep_cnn", "sgd")
    path = os.path.join(MODELS, "deep_cnn.onnx")
    kw = dict(trainable="all", momentum=0.9, conv_grad="conv")
    off = compile_train(path, remat="off", **kw)
    auto = compile_train(path, **kw)
    budget = int(0.6 * off.memory()["arena_bytes"])
    tight = compile_train(path, train_memory=budget, **kw)
    half = compile_train(path, stash="fp16", **kw)  # the stash in 16 bits on top of auto
    assert auto.bundle.remat.mode == "cheap" and auto.memory()["arena_bytes"] < off.memory()["arena_bytes"]
    assert tight.bundle.remat.mode.startswith("checkpoint") and tight.memory()["arena_bytes"] <= budget
    assert tight.memory()["arena_without_remat"] == off.memory()["arena_bytes"]
    assert half.memory()["stash"] == "fp16" and half.memory()["arena_bytes"] < auto.memory()["arena_bytes"]
    params = [k.split(":", 1)[1] for k in ref if k.startswith("step0:")]
    states = {tb.bundle.remat.mode + "/" + tb.bundle.remat.stash: (tb, tb.init_state())
              for tb in (off, auto, tight, half)}
    for s in range(len(ref["loss"])):
        for mode, (tb, state) in states.items():
            got, _ = tb.step(state, {"x": ref["x"][s]}, ref["labels"][s], float(ref["lr"]))
            np.testing.assert_allclose(got, ref["loss"][s], rtol=1e-4, err_msg=f"{mode}: loss of step {s}")
            for p in params:
                np.testing.assert_allclose(state[p], ref[f"step{s}:{p}"], rtol=1e-3, atol=2e-5,
                                           err_msg=f"{mode}: {p} after step {s}")
    base = states["off/fp32"][1]
    for mode, (_, state) in states.items():  # the same kernels on the same values: equal to float rounding
        if mode.endswith("fp16"):
            continue  # (gradients from rounded activations: PyTorch's steps within the tolerances above)
        for p in params:
            np.testing.assert_allclose(state[p], base[p], rtol=1e-6, atol=1e-7, err_msg=f"{mode}: {p}")


@pytest.mark.slow
def test_remat_channel_groups_on_the_cnn_example():
    """The CNN example (examples/make_examples.py cnn: its first convolution's 28x28 activation and gradient set
    the step's peak, so checkpoints cannot shrink it): under a --train-memory budget of 0.6x the arena without
    rematerialisation the planner computes that segment in channel groups, each recomputed just before its own
    backward; the arena fits the budget and the steps are PyTorch's (the loss reads the logits before the model's
    final Softmax) and those of the build without it."""
    import sys
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(HERE)), "examples"))
    from make_examples import cnn
    ref = _ref("cnn_example", "sgd")
    kw = dict(dims={"batch": ref["x"].shape[1]}, trainable="all", momentum=0.9)
    off = compile_train(cnn(), remat="off", **kw)
    budget = int(0.6 * off.memory()["arena_bytes"])
    tight = compile_train(cnn(), train_memory=budget, **kw)
    assert off.bundle.remat.tried == {"off": off.memory()["arena_bytes"]}
    assert tight.bundle.remat.mode.startswith("split:"), tight.bundle.remat.tried
    assert tight.memory()["arena_bytes"] <= budget
    assert tight.memory()["arena_without_remat"] == off.memory()["arena_bytes"]
    # the checkpoints alone leave the peak where it is: the groups are what fits
    assert all(a > budget for m, a in tight.bundle.remat.tried.items() if not m.startswith("split:"))
    params = [k.split(":", 1)[1] for k in ref if k.startswith("step0:")]
    assert sorted(off.params) == sorted(tight.params) == sorted(params)
    states = [(tb, tb.init_state()) for tb in (off, tight)]
    for s in range(len(ref["loss"])):
        for tb, state in states:
            got, probs = tb.step(state, {"image": ref["x"][s]}, ref["labels"][s], float(ref["lr"]))
            np.testing.assert_allclose(got, ref["loss"][s], rtol=1e-4, err_msg=f"{tb.bundle.remat.mode}: step {s}")
            np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)  # the model output: probabilities
            for p in params:
                np.testing.assert_allclose(state[p], ref[f"step{s}:{p}"], rtol=1e-3, atol=2e-5,
                                           err_msg=f"{tb.bundle.remat.mode}: {p} after step {s}")
    for p in params:  # the same kernels on the same values, channel by channel
        np.testing.assert_allclose(states[1][1][p], states[0][1][p], rtol=1e-6, atol=1e-7, err_msg=p)


def test_loss_scaling_same_steps_and_skips_non_finite():
    """Loss scaling (the fp16 GPU step's, here in fp32 on the host): with a power-of-two scale the scaled
    gradients, divided back, give the unscaled steps bit for bit; a step whose scaled gradients are not finite
    (an infinite scale) changes no parameter or slot, does not count, and halves the scale."""
    ref = _ref("small_cnn", "sgd")
    kw = dict(trainable="all", momentum=0.9)
    plain = compile_train(os.path.join(MODELS, "small_cnn.onnx"), **kw)
    scaled = compile_train(os.path.join(MODELS, "small_cnn.onnx"), loss_scaling=True, **kw)
    f = scaled.bundle.func
    assert f.input_names[-1] == "loss_scale" and f.output_names[-1] == "grad_ok"
    a, b = plain.init_state(), scaled.init_state()
    assert b["loss_scale"] == 65536.0
    for s in range(len(ref["loss"])):
        la, _ = plain.step(a, {"x": ref["x"][s]}, ref["labels"][s], float(ref["lr"]))
        lb, _ = scaled.step(b, {"x": ref["x"][s]}, ref["labels"][s], float(ref["lr"]))
        assert la == lb
        np.testing.assert_allclose(lb, ref["loss"][s], rtol=1e-4)
    for p in plain.params:
        np.testing.assert_array_equal(b[p], a[p], err_msg=p)
        np.testing.assert_array_equal(b[f"{p}.momentum"], a[f"{p}.momentum"], err_msg=p)
    assert (b["step"], b["good_steps"], b["skipped"]) == (3, 3, 0)
    b["loss_scale"] = np.float32(np.inf)
    before = {k: np.copy(v) for k, v in b.items()}
    scaled.step(b, {"x": ref["x"][0]}, ref["labels"][0], float(ref["lr"]))
    assert (b["step"], b["good_steps"], b["skipped"]) == (3, 0, 1)
    for k in before:
        if k not in ("good_steps", "skipped", "loss_scale"):
            np.testing.assert_array_equal(b[k], before[k], err_msg=k)
