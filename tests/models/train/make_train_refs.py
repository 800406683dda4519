"""Reference training steps from PyTorch for tests/e2e/test_train.py (run with the torch venv; CI has no torch):

    /work/torchenv/bin/python tests/models/train/make_train_refs.py [NAME...]   (NAME: small_cnn, ..., cnn_example)

Writes, per model, <name>.onnx (exported in eval mode: BatchNorm uses its running statistics, as sdk's training
step) and <name>_<optimizer>.npz: the batches, labels, learning rate, each step's loss and every parameter after
each step (keyed by ONNX initializer names), with the gradients of the first step and the peak memory PyTorch's
step allocated (torch.profiler, CPU)."""
import os
import sys

import numpy as np
import onnx
import torch
from onnx import numpy_helper

HERE = os.path.dirname(os.path.abspath(__file__))
STEPS = 3


class SmallCNN(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = torch.nn.Conv2d(1, 4, 3, padding=1)
        self.pool = torch.nn.MaxPool2d(2)
        self.bn = torch.nn.BatchNorm2d(4)
        self.conv2 = torch.nn.Conv2d(4, 8, 3, stride=2, padding=1)
        self.fc = torch.nn.Linear(8, 5)

    def forward(self, x):
        x = self.bn(self.pool(torch.relu(self.conv1(x))))
        x = torch.relu(self.conv2(x))
        x = torch.nn.functional.adaptive_avg_pool2d(x, 1).flatten(1)
        return self.fc(x)


class DeepCNN(torch.nn.Module):
    """The rematerialisation example: a stem and six Conv-BatchNorm-ReLU layers at one resolution (the stashed
    activations grow with depth), global average pool, Linear."""

    def __init__(self, width=8, depth=6):
        super().__init__()
        layers = []
        for k in range(depth + 1):
            layers += [torch.nn.Conv2d(3 if k == 0 else width, width, 3, padding=1), torch.nn.BatchNorm2d(width),
                       torch.nn.ReLU()]
        self.body = torch.nn.Sequential(*layers)
        self.fc = torch.nn.Linear(width, 10)

    def forward(self, x):
        return self.fc(torch.nn.functional.adaptive_avg_pool2d(self.body(x), 1).flatten(1))


class ExampleCNN(torch.nn.Module):
    """examples/make_examples.py's cnn.onnx (its parameters named as the initializers they load from); returns the
    logits: the ONNX model's final Softmax is not part of the cross-entropy (sdk's step reads the Softmax's input)."""

    def __init__(self):
        super().__init__()
        p = torch.nn.Parameter
        self.w1, self.w2, self.w6 = p(torch.zeros(8, 1, 3, 3)), p(torch.zeros(8)), p(torch.zeros(16, 8, 3, 3))
        self.w8, self.w9 = p(torch.ones(16)), p(torch.zeros(16))  # BatchNorm scale, bias
        self.register_buffer("w10", torch.zeros(16))  # running mean, variance
        self.register_buffer("w11", torch.ones(16))
        self.w17, self.w18 = p(torch.zeros(16, 10)), p(torch.zeros(10))  # Gemm B [16, 10], C

    def forward(self, x):
        f = torch.nn.functional
        x = f.max_pool2d(torch.relu(f.conv2d(x, self.w1, self.w2, padding=1)), 2)
        x = f.batch_norm(f.conv2d(x, self.w6, stride=2, padding=1), self.w10, self.w11, self.w8, self.w9,
                         training=False, eps=1e-5)
        x = f.avg_pool2d(torch.relu(x), 3, 1, 1, count_include_pad=False)  # ONNX's default count_include_pad=0
        return x.mean((2, 3)) @ self.w17 + self.w18


def run_example_cnn(batch=8, seed=3):
    """cnn_example_sgd.npz: three SGD steps (momentum 0.9, every parameter) of the CNN example from its own
    initializers (examples/make_examples.py, generated here), as ``run`` writes them."""
    sys.path.insert(0, os.path.join(HERE, "..", "..", "..", "examples"))
    from make_examples import cnn
    model = ExampleCNN()
    inits = {i.name: torch.from_numpy(numpy_helper.to_array(i).copy()) for i in cnn().graph.initializer}
    model.load_state_dict({k: inits[k] for k in model.state_dict()})
    rng = np.random.default_rng(seed)
    xs = rng.standard_normal((STEPS, batch, 1, 28, 28)).astype(np.float32)
    ts = rng.integers(0, 10, (STEPS, batch)).astype(np.int64)
    lr = 0.05
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    out = {"x": xs, "labels": ts, "lr": np.float32(lr), "loss": np.zeros(STEPS, np.float32)}
    for s in range(STEPS):
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(torch.from_numpy(xs[s])), torch.from_numpy(ts[s]))
        loss.backward()
        opt.step()
        out["loss"][s] = loss.item()
        for pname, p in model.named_parameters():
            out[f"step{s}:{pname}"] = p.detach().numpy().copy()
    np.savez_compressed(os.path.join(HERE, "cnn_example_sgd.npz"), **out)
    print("cnn_example sgd", out["loss"])


class SmallMLP(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = torch.nn.Linear(12, 16)
        self.ln = torch.nn.LayerNorm(16)
        self.fc2 = torch.nn.Linear(16, 4)

    def forward(self, x):
        return self.fc2(torch.tanh(self.ln(self.fc1(x))))


def export(model, x, path):
    model.eval()
    # PRESERVE (the model is in eval mode): EVAL would fold each BatchNorm into the Conv before it
    torch.onnx.export(model, (x,), path, input_names=["x"], output_names=["y"], opset_version=17, dynamo=False,
                      training=torch.onnx.TrainingMode.PRESERVE)
    m = onnx.load(path)
    inits = {i.name: numpy_helper.to_array(i) for i in m.graph.initializer}
    names = {}
    for pname, p in model.named_parameters():  # the initializer holding each parameter
        hits = [k for k, a in inits.items() if a.shape == tuple(p.shape) and np.array_equal(a, p.detach().numpy())]
        assert len(hits) == 1, (pname, hits)
        names[pname] = hits[0]
    return names


def run(model_fn, name, shape, classes, optimizer, loss_kind, seed):
    torch.manual_seed(seed)
    model = model_fn()
    with torch.no_grad():  # non-trivial BatchNorm statistics
        for mod in model.modules():
            if isinstance(mod, torch.nn.BatchNorm2d):
                mod.running_mean.uniform_(-0.5, 0.5)
                mod.running_var.uniform_(0.5, 2.0)
                mod.weight.uniform_(0.5, 1.5)
                mod.bias.uniform_(-0.2, 0.2)
    rng = np.random.default_rng(seed)
    xs = rng.standard_normal((STEPS,) + shape).astype(np.float32)
    if loss_kind == "cross_entropy":
        ts = rng.integers(0, classes, (STEPS, shape[0])).astype(np.int64)
    else:
        ts = rng.standard_normal((STEPS, shape[0], classes)).astype(np.float32)
    path = os.path.join(HERE, f"{name}.onnx")
    names = export(model, torch.from_numpy(xs[0]), path)
    model.eval()
    lr = 0.05
    opt = (torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9) if optimizer == "sgd"
           else torch.optim.Adam(model.parameters(), lr=lr))
    lossf = torch.nn.CrossEntropyLoss() if loss_kind == "cross_entropy" else torch.nn.MSELoss()
    out = {"x": xs, "labels": ts, "lr": np.float32(lr), "loss": np.zeros(STEPS, np.float32)}
    for s in range(STEPS):
        opt.zero_grad()
        loss = lossf(model(torch.from_numpy(xs[s])), torch.from_numpy(ts[s]))
        loss.backward()
        if s == 0:
            for pname, p in model.named_parameters():
                out[f"grad:{names[pname]}"] = p.grad.detach().numpy().copy()
        opt.step()
        out["loss"][s] = loss.item()
        for pname, p in model.named_parameters():
            out[f"step{s}:{names[pname]}"] = p.detach().numpy().copy()
    # PyTorch's peak memory for one step of this batch (allocations the profiler sees on the CPU)
    from torch.profiler import ProfilerActivity, profile
    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        opt.zero_grad()
        lossf(model(torch.from_numpy(xs[0])), torch.from_numpy(ts[0])).backward()
        opt.step()
    cur = peak = 0
    for e in sorted(prof.events(), key=lambda e: e.time_range.start):
        cur += e.cpu_memory_usage
        peak = max(peak, cur)
    out["torch_peak_bytes"] = np.int64(peak)
    np.savez_compressed(os.path.join(HERE, f"{name}_{optimizer}.npz"), **out)
    print(name, optimizer, out["loss"], "torch peak", peak)


REFS = [(SmallCNN, "small_cnn", (4, 1, 12, 12), 5, "sgd", "cross_entropy", 0),
        (SmallCNN, "small_cnn", (4, 1, 12, 12), 5, "adam", "cross_entropy", 0),
        (SmallMLP, "small_mlp", (6, 12), 4, "sgd", "mse", 1),
        (DeepCNN, "deep_cnn", (4, 3, 16, 16), 10, "sgd", "cross_entropy", 2)]

if __name__ == "__main__":
    for ref in REFS:  # all, or the models named on the command line
        if len(sys.argv) < 2 or ref[1] in sys.argv[1:]:
            run(*ref)
    if len(sys.argv) < 2 or "cnn_example" in sys.argv[1:]:
        run_example_cnn()
