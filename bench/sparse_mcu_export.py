"""Export a full-width MobileNetV2 (torchvision, width 1.0, 1000 classes, random weights made non-degenerate as
tests/torch_zoo/export.py does) at 96x96 for ``bench/sparse.py --mcu-models --mbv2-full PATH``: a MobileNetV2
whose weights, not its code, fill the Cortex-M firmware (3.5 M parameters; int8 about 3.5 MB of flash).

    /work/torchenv/bin/python bench/sparse_mcu_export.py /tmp/mobilenet_v2_96.onnx
"""
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "torch_zoo"))
from export import randomize  # noqa: E402


def main(out):
    from torchvision.models import mobilenet_v2
    torch.manual_seed(0)
    m = mobilenet_v2(width_mult=1.0, num_classes=1000)
    randomize(m, lambda g: (torch.randn(2, 3, 96, 96, generator=g),), 0)
    m.eval()
    x = torch.randn(1, 3, 96, 96)
    torch.onnx.export(m, (x,), out, input_names=["image"], output_names=["logits"], dynamo=False)
    print(out)


if __name__ == "__main__":
    main(sys.argv[1])
