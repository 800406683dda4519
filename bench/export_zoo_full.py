"""Export full-width torchvision models to ONNX for bench/zoo_latency.py (needs torch; run it with the torch venv).

    /work/torchenv/bin/python bench/export_zoo_full.py [--out bench/data/zoo_full] [--models resnet18,vit_s]
    /work/torchenv/bin/python bench/export_zoo_full.py --models wide --dynamo --out bench/data/zoo_wide

Batch 1, 3x224x224 (Inception-v3 3x299x299), TorchScript exporter (``dynamo=False``, opset 17; ``--dynamo``: the default torch.export-based
exporter as well, to ``NAME_dyn.onnx`` next to ``NAME.onnx``), eval mode. ``--models`` takes any torchvision
classification model name (models outside the zoo: ``--out`` another folder, then ``zoo_latency.py --dir``), or
``clip_vit_b32`` (Hugging Face CLIP's ViT-B/32 image tower, needs transformers); ``--models wide``: the models
outside the zoo that bench/RESULTS_zoo.md measures (``WIDE``). Weights are torchvision's random
init, made non-degenerate: parameters that are all zero (ViT's head, zero-init residual scales) are re-drawn, and
BatchNorm statistics are set from the model's own activations on random inputs (otherwise the logits of deep BN nets
vanish). The output folder is git-ignored: these files are large.
"""
from __future__ import annotations

import argparse
import os
import sys

MODELS = ("resnet18", "mobilenet_v2", "mobilenet_v3_small", "efficientnet_b0", "shufflenet_v2_x1_0",
          "squeezenet1_1", "regnet_y_400mf", "convnext_tiny", "vit_s")
# outside the zoo (bench/data/zoo_wide): multi-branch and grouped nets (helper wide16), the classic dense CNNs (wide18)
WIDE = ("inception_v3", "googlenet", "maxvit_t", "regnet_x_400mf", "mnasnet0_5", "resnext50_32x4d", "densenet121",
        "mobilenet_v3_large", "efficientnet_b1", "swin_t",
        "resnet50", "resnet34", "resnet101", "wide_resnet50_2", "alexnet", "vgg16_bn")
SIDE = {"inception_v3": 299}  # input side where the model's own default is not 224


def _clip_vision():
    """Hugging Face CLIP's ViT-B/32 image tower (its default config: 224 x 224, patch 32, 12 layers, width 768,
    quick_gelu) -> last hidden state [1, 50, 768]."""
    import torch
    from transformers import CLIPVisionConfig, CLIPVisionModel

    class CLIPVision(torch.nn.Module):
        def __init__(self):
            super().__init__()
            cfg = CLIPVisionConfig()
            cfg._attn_implementation = "eager"
            self.model = CLIPVisionModel(cfg)

        def forward(self, x):
            return self.model(pixel_values=x).last_hidden_state
    return CLIPVision()


def build(name):
    if name == "clip_vit_b32":  # needs transformers
        return _clip_vision()
    import torchvision
    if name == "vit_s":  # ViT-S/16: 12 layers, 6 heads, width 384
        return torchvision.models.VisionTransformer(image_size=224, patch_size=16, num_layers=12, num_heads=6,
                                                    hidden_dim=384, mlp_dim=1536)
    if name in ("inception_v3", "googlenet"):  # no auxiliary heads: eval mode does not run them anyway
        return getattr(torchvision.models, name)(weights=None, aux_logits=False, init_weights=True)
    return getattr(torchvision.models, name)(weights=None)


def make_non_degenerate(model, seed=0, side=224):
    import torch
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            if p.numel() > 1 and float(p.abs().max()) == 0.0:
                fan = p.shape[-1] if p.dim() > 1 else p.numel()
                p.copy_(torch.randn(p.shape, generator=g) / fan ** 0.5)
        bns = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
        if bns:
            for m in bns:
                m.reset_running_stats()
                m.momentum = None  # cumulative average over the calibration batches
            model.train()
            for _ in range(4):
                model(torch.randn(4, 3, side, side, generator=g))
    model.eval()
    return model


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "data", "zoo_full"))
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--dynamo", action="store_true", help="also export with the torch.export-based exporter")
    a = ap.parse_args(argv)
    import torch
    torch.manual_seed(0)
    torch.set_num_threads(1)
    os.makedirs(a.out, exist_ok=True)
    names = WIDE if a.models == "wide" else a.models.split(",")
    for name in names:
        path = os.path.join(a.out, f"{name}.onnx")
        m = make_non_degenerate(build(name), side=SIDE.get(name, 224))
        side = SIDE.get(name, 224)
        x = torch.randn(1, 3, side, side)
        torch.onnx.export(m, (x,), path, dynamo=False, opset_version=17, input_names=["x"], output_names=["y"])
        if a.dynamo:  # weights in a .data file next to it
            torch.onnx.export(m, (x,), os.path.join(a.out, f"{name}_dyn.onnx"), dynamo=True, input_names=["x"])
        with torch.no_grad():
            y = m(x)
        print(f"{name}: {os.path.getsize(path) / 1e6:.1f} MB, logits std {float(y.std()):.3g}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
