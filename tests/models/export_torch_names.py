"""Export tests/models/torch_names.onnx: a tiny PyTorch CNN (TorchScript exporter, opset 17) whose node and tensor
names carry '/' and '.' (``/features/features.1/conv/Conv``, ``features.1.conv.weight``, ``input.1``), as every
PyTorch export does. Run with a PyTorch venv: /work/torchenv/bin/python tests/models/export_torch_names.py"""
from pathlib import Path

import torch
from torch import nn


class Block(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn = nn.BatchNorm2d(cout)
        self.act = nn.ReLU6()

    def forward(self, x):
        return self.act(self.bn(self.conv(x)))


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(Block(3, 8, 2), Block(8, 16, 1), nn.MaxPool2d(2), Block(16, 16, 1))
        self.classifier = nn.Sequential(nn.Dropout(0.1), nn.Linear(16, 10))

    def forward(self, x):
        y = self.features(x)
        y = y + torch.sigmoid(y) * 0.5  # element-wise nodes with '/'-names, fused into one kernel
        y = nn.functional.adaptive_avg_pool2d(y, 1).flatten(1)
        return torch.softmax(self.classifier(y), dim=-1)


if __name__ == "__main__":
    torch.manual_seed(0)
    net = Net()
    with torch.no_grad():  # BatchNorm statistics that are not the identity
        for m in net.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.uniform_(-0.2, 0.2)
                m.running_var.uniform_(0.5, 1.5)
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.2, 0.2)
    net.eval()
    out = Path(__file__).with_name("torch_names.onnx")
    torch.onnx.export(net, torch.randn(2, 3, 32, 32), str(out), dynamo=False, opset_version=17,
                      dynamic_axes={"input.1": {0: "batch"}}, input_names=["input.1"], output_names=["probs"],
                      do_constant_folding=False)
    print(out, out.stat().st_size, "bytes")
