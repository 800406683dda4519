"""The training step graph (sdk/train/step.py) without a compiler: which initializers --trainable selects, what
becomes an input, and that the optimiser's updates come last."""
import os

import onnx
import pytest

from sdk.errors import SdkError
from sdk.frontend.onnx import import_onnx
from sdk.train.step import TrainOptions, onnx_names, select_trainable, training_step

MODEL = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "models", "train", "small_cnn.onnx")


@pytest.fixture(scope="module")
def cnn():
    m = onnx.load(MODEL)
    return import_onnx(m), onnx_names(m)


@pytest.mark.parametrize("spec,want", [
    ("last:1", ["fc.weight", "fc.bias"]),
    ("last:2", ["conv2.weight", "conv2.bias", "fc.weight", "fc.bias"]),
    ("all", ["conv1.weight", "conv1.bias", "bn.weight", "bn.bias", "conv2.weight", "conv2.bias", "fc.weight",
             "fc.bias"]),  # BatchNorm's running statistics never train
    ("re:^bn\\.", ["bn.weight", "bn.bias"]),
    ("fc.bias,conv1.weight", ["fc.bias", "conv1.weight"]),
])
def test_trainable_selection(cnn, spec, want):
    f, names = cnn
    assert [names[v.name] for v in select_trainable(f, spec, names)] == want


@pytest.mark.parametrize("spec,msg", [("last:0", "N must be >= 1"), ("last:x", "last:N"), ("re:nothing", "selects no"),
                                      ("fc.kernel", "no trainable initializer named 'fc.kernel'")])
def test_trainable_errors(cnn, spec, msg):
    f, names = cnn
    with pytest.raises(SdkError, match=msg):
        select_trainable(f, spec, names)


@pytest.mark.parametrize("opt,slots", [("sgd", 1), ("adam", 2)])
def test_step_graph(cnn, opt, slots):
    f, names = cnn
    ts = training_step(f, TrainOptions("last:2", optimizer=opt, momentum=0.9 if opt == "sgd" else 0.0), names)
    g = ts.func
    params = ["conv2.weight", "conv2.bias", "fc.weight", "fc.bias"]
    extra = ["adam_c1", "adam_c2"] if opt == "adam" else []
    assert g.input_names == ["x", "labels", "lr"] + extra + params + [
        f"{p}.{s}" for p in params for s in ts.slot_names]
    assert g.output_names == ["loss", "y"] + [f"{p}.next" for p in params] + [
        f"{p}.{s}.next" for p in params for s in ts.slot_names]
    assert len(ts.slot_names) == slots
    # trainable initializers are inputs now; frozen ones (conv1, BatchNorm) stay constants
    consts = {names.get(v.name, v.name) for v in g.constants()}
    assert {"conv1.weight", "bn.running_mean"} <= consts and not consts & set(params)
    # every read of a parameter or slot comes before the binding that produces its update
    produced = {id(v): k for k, b in enumerate(g.bindings) for v in b.outputs}
    n_in = len(g.inputs) - len(params) * (1 + slots)
    for k_in, v_out in zip(g.inputs[n_in:], g.outputs[2:]):
        last_read = max(k for k, b in enumerate(g.bindings) if any(v is k_in for v in b.inputs))
        assert last_read <= produced[id(v_out)]
    # ... and right after it: the last layer's update does not wait for the gradients of the layers before it
    fc_update = min(k for k, b in enumerate(g.bindings) if b.name in ts.params[2].update)
    conv2_update = min(k for k, b in enumerate(g.bindings) if b.name in ts.params[0].update)
    assert fc_update < conv2_update
    # SGD's momentum is folded into the convolution's weight-gradient kernel (no gradient tensor)
    fused = [b for b in g.bindings if b.op == "sdk.ConvGradWeight" and len(b.inputs) == 3]
    assert len(fused) == (1 if opt == "sgd" else 0)


def test_unknown_optimizer(cnn):
    f, names = cnn
    with pytest.raises(SdkError, match="optimizer 'rmsprop'"):
        training_step(f, TrainOptions("last:1", optimizer="rmsprop"), names)
