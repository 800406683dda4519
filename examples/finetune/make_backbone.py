"""Train the keyword model's backbone on keywords 0-3 with PyTorch and export it (run with the torch venv; the
committed kws_backbone.onnx is its output, so the example needs no torch):

    /work/torchenv/bin/python examples/finetune/make_backbone.py

The classifier has 5 outputs; row 4 (the new keyword) is left at its random initialisation and its bias at -2, so
the exported model never predicts it: fine-tuning (finetune.py) teaches it from a handful of samples."""
import os
import sys

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from keywords import CLASSES, dataset  # noqa: E402

BATCH = 8


class KWS(torch.nn.Module):
    def __init__(self, ch=16):
        super().__init__()
        self.conv = torch.nn.Conv2d(1, ch, (10, 4), stride=2, padding=(4, 1))
        self.dw = torch.nn.Conv2d(ch, ch, 3, padding=1, groups=ch)
        self.pw = torch.nn.Conv2d(ch, ch, 1)
        self.fc = torch.nn.Linear(ch, CLASSES)

    def forward(self, x):
        x = torch.relu(self.conv(x))
        x = x + torch.relu(self.pw(torch.relu(self.dw(x))))
        return self.fc(x.mean(dim=(2, 3)))


def main():
    torch.manual_seed(0)
    m = KWS()
    x, y = dataset([0, 1, 2, 3], 200, seed=1)
    opt = torch.optim.Adam(m.parameters(), lr=3e-3)
    for epoch in range(8):
        perm = np.random.default_rng(epoch).permutation(len(y))
        for i in range(0, len(y), 32):
            idx = perm[i:i + 32]
            loss = torch.nn.functional.cross_entropy(m(torch.from_numpy(x[idx])), torch.from_numpy(y[idx]))
            opt.zero_grad()
            loss.backward()
            opt.step()
    with torch.no_grad():
        m.fc.bias[4] = -2.0
        xt, yt = dataset([0, 1, 2, 3], 50, seed=99)
        acc = (m(torch.from_numpy(xt)).argmax(1).numpy() == yt).mean()
    print(f"backbone accuracy on keywords 0-3: {acc:.3f}")
    m.eval()
    torch.onnx.export(m, (torch.from_numpy(x[:BATCH]),), os.path.join(HERE, "kws_backbone.onnx"),
                      input_names=["mfcc"], output_names=["logits"], opset_version=17, dynamo=False)


if __name__ == "__main__":
    main()
