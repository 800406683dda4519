"""The issue-22 GPU model table's models as PyTorch modules with random weights, their ONNX exports and inputs.

    python bench/gpu_zoo.py OUT_DIR [--models resnet50 bert_base gpt2_step vit_b16] [--small]

Exports ``<name>.onnx`` (TorchScript exporter, opset 17, dynamic batch / sequence / past length) into OUT_DIR.
``--small`` shrinks every model (a few layers, narrow) for a quick check of the whole pipeline on a CPU.

- ``resnet50``: torchvision ResNet-50, batch-norm statistics randomised (the exporter folds them into the convs).
- ``bert_base``: a BERT-base encoder (12 layers, width 768, 12 heads, FFN 3072, erf GELU, post-LayerNorm) over
  token ids with a padding mask (``ids`` int64 [batch, seq], ``mask`` float [batch, seq], 1 = token, 0 = padding).
- ``gpt2_step``: one GPT-2-small decoder step with a KV cache (12 layers, width 768, 12 heads, vocab 50257, tanh
  GELU, pre-LayerNorm, tied LM head): ``ids``/``pos`` int64 [batch, 1] and ``past_k{l}``/``past_v{l}`` float
  [batch, 12, past, 64] in; ``logits`` [batch, 1, 50257] and ``present_k{l}``/``present_v{l}`` out.
- ``vit_b16``: torchvision ViT-B/16 at 224 x 224.
- ``attention``: one attention product softmax(q k^T / 8) v over ``q``/``k``/``v`` [batch, 16, seq, 64] (the issue's
  seq-2048 attention measurement: 4 * batch * 16 * seq^2 * 64 FLOP).

The same modules give the PyTorch eager / ``torch.compile`` peers and the float64 reference (``bench/gpu.py``)."""
from __future__ import annotations

import argparse
import math
import os
import sys

import torch
from torch import nn

SMALL = False


def cfg():
    return dict(D=64, L=2, H=2, F=256, V=1000, P=128) if SMALL else dict(D=768, L=12, H=12, F=3072, V=50257, P=1024)


class BertLayer(nn.Module):
    def __init__(self, D, H, F):
        super().__init__()
        self.H = H
        self.qkv, self.o = nn.Linear(D, 3 * D), nn.Linear(D, D)
        self.ln1, self.ln2 = nn.LayerNorm(D, eps=1e-12), nn.LayerNorm(D, eps=1e-12)
        self.fc1, self.fc2 = nn.Linear(D, F), nn.Linear(F, D)

    def forward(self, x, bias):
        b, s, d = x.shape
        q, k, v = self.qkv(x).split(d, dim=-1)
        q, k, v = (t.reshape(b, s, self.H, d // self.H).transpose(1, 2) for t in (q, k, v))
        att = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(d // self.H) + bias, dim=-1)
        y = (att @ v).transpose(1, 2).reshape(b, s, d)
        x = self.ln1(x + self.o(y))
        return self.ln2(x + self.fc2(nn.functional.gelu(self.fc1(x))))


class Bert(nn.Module):
    def __init__(self):
        super().__init__()
        c = cfg()
        vocab = 30522 if not SMALL else 1000
        self.tok, self.pos, self.typ = nn.Embedding(vocab, c["D"]), nn.Embedding(512, c["D"]), nn.Embedding(2, c["D"])
        self.ln = nn.LayerNorm(c["D"], eps=1e-12)
        self.layers = nn.ModuleList(BertLayer(c["D"], c["H"], c["F"]) for _ in range(c["L"]))

    def forward(self, ids, mask):
        s = ids.shape[1]
        x = self.ln(self.tok(ids) + self.pos.weight[:s] + self.typ.weight[0])
        bias = ((1.0 - mask) * -10000.0)[:, None, None, :]
        for layer in self.layers:
            x = layer(x, bias)
        return x


class GptBlock(nn.Module):
    def __init__(self, D, H):
        super().__init__()
        self.H = H
        self.ln1, self.ln2 = nn.LayerNorm(D), nn.LayerNorm(D)
        self.qkv, self.proj = nn.Linear(D, 3 * D), nn.Linear(D, D)
        self.fc, self.out = nn.Linear(D, 4 * D), nn.Linear(4 * D, D)

    def forward(self, x, past_k, past_v):
        b, s, d = x.shape
        q, k, v = self.qkv(self.ln1(x)).split(d, dim=-1)
        q, k, v = (t.reshape(b, s, self.H, d // self.H).transpose(1, 2) for t in (q, k, v))
        k, v = torch.cat([past_k, k], 2), torch.cat([past_v, v], 2)
        att = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(d // self.H), dim=-1)  # one new token: no mask
        x = x + self.proj((att @ v).transpose(1, 2).reshape(b, s, d))
        x = x + self.out(nn.functional.gelu(self.fc(self.ln2(x)), approximate="tanh"))
        return x, k, v


class Gpt2Step(nn.Module):
    def __init__(self):
        super().__init__()
        c = cfg()
        self.c = c
        self.tok, self.pos = nn.Embedding(c["V"], c["D"]), nn.Embedding(c["P"], c["D"])
        self.blocks = nn.ModuleList(GptBlock(c["D"], c["H"]) for _ in range(c["L"]))
        self.ln = nn.LayerNorm(c["D"])

    def forward(self, ids, pos, *past):
        x = self.tok(ids) + self.pos(pos)
        presents = []
        for i, blk in enumerate(self.blocks):
            x, k, v = blk(x, past[2 * i], past[2 * i + 1])
            presents += [k, v]
        return (self.ln(x) @ self.tok.weight.T, *presents)


class Attention(nn.Module):
    def forward(self, q, k, v):
        return torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1]), dim=-1) @ v


def _randomize_bn(m, g):
    for mod in m.modules():
        if isinstance(mod, nn.BatchNorm2d):
            n = mod.num_features
            mod.running_mean.copy_(0.1 * torch.randn(n, generator=g))
            mod.running_var.copy_(0.5 + torch.rand(n, generator=g))
            mod.weight.data.copy_(1.0 + 0.2 * torch.randn(n, generator=g))
            mod.bias.data.copy_(0.1 * torch.randn(n, generator=g))


def build(name):
    """(module in eval mode, input names, output names, dynamic axes, example-input maker(dims, generator))."""
    import torchvision
    g = torch.Generator().manual_seed(0)
    torch.manual_seed(0)
    if name == "resnet50":
        m = torchvision.models.resnet50(weights=None) if not SMALL else torchvision.models.resnet18(weights=None)
        _randomize_bn(m, g)
        side = 224 if not SMALL else 64
        mk = lambda d, gen: (torch.randn(d["batch"], 3, side, side, generator=gen),)  # noqa: E731
        return m.eval(), ["image"], ["logits"], {"image": {0: "batch"}}, mk
    if name == "vit_b16":
        m = torchvision.models.vit_b_16(weights=None) if not SMALL else torchvision.models.VisionTransformer(
            image_size=64, patch_size=16, num_layers=2, num_heads=2, hidden_dim=64, mlp_dim=128)
        side = 224 if not SMALL else 64
        with torch.no_grad():  # torchvision zero-initialises the head: the logits would all be 0
            m.heads.head.weight.normal_(0, 0.02, generator=g)
        mk = lambda d, gen: (torch.randn(d["batch"], 3, side, side, generator=gen),)  # noqa: E731
        return m.eval(), ["image"], ["logits"], {"image": {0: "batch"}}, mk
    if name == "bert_base":
        m = Bert()
        vocab = m.tok.num_embeddings

        def mk(d, gen):
            ids = torch.randint(0, vocab, (d["batch"], d["seq"]), generator=gen)
            mask = torch.ones(d["batch"], d["seq"])
            for b in range(d["batch"]):  # padding at the end of every other sequence
                if b % 2:
                    mask[b, d["seq"] - d["seq"] // 4:] = 0
            return ids, mask
        return m.eval(), ["ids", "mask"], ["hidden"], {"ids": {0: "batch", 1: "seq"}, "mask": {0: "batch", 1: "seq"},
                                                       "hidden": {0: "batch", 1: "seq"}}, mk
    if name == "gpt2_step":
        m = Gpt2Step()
        c = m.c
        L, H, hd = c["L"], c["H"], c["D"] // c["H"]
        names = ["ids", "pos"] + [f"past_{kv}{i}" for i in range(L) for kv in "kv"]
        outs = ["logits"] + [f"present_{kv}{i}" for i in range(L) for kv in "kv"]
        dyn = {"ids": {0: "batch"}, "pos": {0: "batch"}, **{n: {0: "batch", 2: "past"} for n in names[2:]}}

        def mk(d, gen):
            b, p = d["batch"], d["past"]
            return (torch.randint(0, c["V"], (b, 1), generator=gen), torch.full((b, 1), p, dtype=torch.int64),
                    *(torch.randn(b, H, p, hd, generator=gen) for _ in range(2 * L)))
        return m.eval(), names, outs, dyn, mk
    if name == "attention":
        H, hd = (16, 64) if not SMALL else (2, 16)
        names = ["q", "k", "v"]
        dyn = {n: {0: "batch", 2: "seq"} for n in names}

        def mk(d, gen):
            return tuple(torch.randn(d["batch"], H, d["seq"], hd, generator=gen) for _ in names)
        return Attention().eval(), names, ["out"], dict(dyn, out={0: "batch", 2: "seq"}), mk
    raise KeyError(name)


MODELS = ("resnet50", "bert_base", "gpt2_step", "vit_b16", "attention")


def export(name, out_dir):
    m, ins, outs, dyn, mk = build(name)
    if hasattr(torch.backends, "mha"):
        torch.backends.mha.set_fastpath_enabled(False)  # ViT's nn.MultiheadAttention: plain ops, exportable
    dims = {"batch": 2, "seq": 16, "past": 5}
    path = os.path.join(out_dir, f"{name}.onnx")
    with torch.no_grad():
        torch.onnx.export(m, mk(dims, torch.Generator().manual_seed(1)), path, input_names=ins, output_names=outs,
                          dynamic_axes=dyn, dynamo=False, opset_version=17)
    return path


def main(argv=None):
    global SMALL
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out")
    ap.add_argument("--models", nargs="*", default=list(MODELS))
    ap.add_argument("--small", action="store_true")
    a = ap.parse_args(argv)
    SMALL = a.small
    os.makedirs(a.out, exist_ok=True)
    for n in a.models:
        print("wrote", export(n, a.out), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
