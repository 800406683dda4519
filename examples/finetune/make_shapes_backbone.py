"""Train the shape classifier's backbone on circles, squares and triangles with PyTorch and export it (run with the
torch venv; the committed shapes_backbone.onnx is its output, so the demo needs no torch):

    /work/torchenv/bin/python examples/finetune/make_shapes_backbone.py

The classifier has 4 outputs; row 3 (cross) is left at its random initialisation and its bias at -2, so the
exported model never predicts it: the browser demo (web.py) fine-tunes the classifier on shapes the page draws."""
import os
import sys

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from shapes import dataset  # noqa: E402

BATCH = 16


class Shapes(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = torch.nn.Conv2d(1, 8, 3, padding=1)
        self.conv2 = torch.nn.Conv2d(8, 16, 3, padding=1)
        self.fc1 = torch.nn.Linear(16 * 7 * 7, 32)
        self.fc = torch.nn.Linear(32, 4)

    def forward(self, x):
        x = torch.nn.functional.max_pool2d(torch.relu(self.conv1(x)), 2)
        x = torch.nn.functional.max_pool2d(torch.relu(self.conv2(x)), 2)
        return self.fc(torch.relu(self.fc1(x.flatten(1))))


def main():
    torch.manual_seed(0)
    m = Shapes()
    x, y = dataset([0, 1, 2], 3000, seed=1)
    opt = torch.optim.Adam(m.parameters(), lr=2e-3)
    sched = torch.optim.lr_scheduler.StepLR(opt, 5, 0.3)
    for epoch in range(12):
        perm = np.random.default_rng(epoch).permutation(len(y))
        for i in range(0, len(y), 32):
            idx = perm[i:i + 32]
            loss = torch.nn.functional.cross_entropy(m(torch.from_numpy(x[idx])), torch.from_numpy(y[idx]))
            opt.zero_grad()
            loss.backward()
            opt.step()
        sched.step()
    with torch.no_grad():
        m.fc.bias[3] = -2.0
        xt, yt = dataset([0, 1, 2, 3], 400, seed=99)
        pred = m(torch.from_numpy(xt)).argmax(1).numpy()
    for k in range(4):
        print(f"backbone accuracy on class {k}: {(pred[yt == k] == k).mean():.3f}")
    m.eval()
    torch.onnx.export(m, (torch.from_numpy(x[:BATCH]),), os.path.join(HERE, "shapes_backbone.onnx"),
                      input_names=["image"], output_names=["logits"], opset_version=17, dynamo=False)


if __name__ == "__main__":
    main()
