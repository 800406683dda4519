"""A log-power spectrogram front-end (torch.stft with a Hann window, then a Linear) as torch's dynamo exporter
writes it (an STFT node), for tests/e2e/test_signal_ops.py. The TorchScript exporter refuses torch.stft ("STFT does
not currently support complex types"). Needs torch:

    /work/torchenv/bin/python tests/models/signal/export.py
"""
import warnings
from pathlib import Path

import torch
from torch import nn

HERE = Path(__file__).resolve().parent


class LogSpectrogram(nn.Module):
    def __init__(self):
        super().__init__()
        self.register_buffer("win", torch.hann_window(64))
        self.fc = nn.Linear(33, 8)

    def forward(self, x):
        spec = torch.stft(x, n_fft=64, hop_length=16, win_length=64, window=self.win, center=False,
                          return_complex=True)
        return self.fc(torch.log(spec.abs() ** 2 + 1e-6).transpose(1, 2))


def main():
    warnings.filterwarnings("ignore")
    torch.manual_seed(0)
    n = torch.export.Dim("n", min=64, max=4096)
    torch.onnx.export(LogSpectrogram().eval(), (torch.randn(2, 400),), str(HERE / "log_spectrogram.dynamo.onnx"),
                      input_names=["x"], output_names=["y"], opset_version=18, dynamo=True,
                      dynamic_shapes=({0: torch.export.Dim("b"), 1: n},))


if __name__ == "__main__":
    main()
