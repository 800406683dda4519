"""Train and export the tiny encoder-decoder the generation tests use (needs torch; not transformers).

    /work/torchenv/bin/python tests/models/generate/make_tiny_seq2seq.py [OUT_DIR]

A T5/BART-style pair, width 32, 2 heads, one encoder and one decoder layer (self-attention over a key/value cache,
cross-attention over the encoder states), vocab 32: token 0 starts the output, token 1 ends it, 2..31 are symbols.
Trained for a few hundred steps to copy the source (``[3, 9, 31] -> 0, 3, 9, 31, 1``), so greedy decoding is
checkable. Exports (TorchScript, opset 17):

- ``tiny_s2s_encoder.onnx``: ``src`` int64 [batch, src] -> ``enc`` float32 [batch, src, 32];
- ``tiny_s2s_decoder_step.onnx``: ``ids`` int64 [batch, 1], ``enc`` float32 [batch, src, 32], ``past_k``/``past_v``
  float32 [batch, 2, past, 16] -> ``logits`` [batch, 1, 32], ``present_k``/``present_v`` [batch, 2, past + 1, 16].
  The new token's position is the past length; cross-attention keys/values are computed from ``enc`` every step.
"""
import math
import os
import sys

import torch
from torch import nn

OUT = sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(os.path.abspath(__file__))
V, D, H, P = 32, 32, 2, 32
START, END = 0, 1


def heads(x):
    b, s, _ = x.shape
    return x.reshape(b, s, H, D // H).transpose(1, 2)


def attend(q, k, v, causal=False):
    att = q @ k.transpose(-1, -2) / math.sqrt(D // H)
    if causal:
        s, n = q.shape[2], k.shape[2]
        att = att.masked_fill(~torch.ones(s, n, dtype=torch.bool).tril(n - s), float("-inf"))
    y = att.softmax(-1) @ v
    return y.transpose(1, 2).reshape(q.shape[0], q.shape[2], D)


class Encoder(nn.Module):
    def __init__(self, emb):
        super().__init__()
        self.emb, self.pos = emb, nn.Embedding(P, D)
        self.ln1, self.ln2 = nn.LayerNorm(D), nn.LayerNorm(D)
        self.qkv, self.proj = nn.Linear(D, 3 * D), nn.Linear(D, D)
        self.fc, self.out = nn.Linear(D, 4 * D), nn.Linear(4 * D, D)

    def forward(self, src):
        x = self.emb(src) + self.pos(torch.arange(src.shape[1]))
        q, k, v = self.qkv(self.ln1(x)).split(D, -1)
        x = x + self.proj(attend(heads(q), heads(k), heads(v)))
        return x + self.out(nn.functional.gelu(self.fc(self.ln2(x))))


class DecoderStep(nn.Module):
    def __init__(self, emb):
        super().__init__()
        self.emb, self.pos = emb, nn.Embedding(P, D)
        self.ln1, self.ln2, self.ln3, self.ln = nn.LayerNorm(D), nn.LayerNorm(D), nn.LayerNorm(D), nn.LayerNorm(D)
        self.qkv, self.proj = nn.Linear(D, 3 * D), nn.Linear(D, D)
        self.cq, self.ckv, self.cproj = nn.Linear(D, D), nn.Linear(D, 2 * D), nn.Linear(D, D)
        self.fc, self.out = nn.Linear(D, 4 * D), nn.Linear(4 * D, D)

    def forward(self, ids, enc, past_k, past_v):
        start = past_k.shape[2]
        x = self.emb(ids) + self.pos(torch.arange(start, start + ids.shape[1]))
        q, k, v = self.qkv(self.ln1(x)).split(D, -1)
        k, v = torch.cat([past_k, heads(k)], 2), torch.cat([past_v, heads(v)], 2)
        x = x + self.proj(attend(heads(q), k, v, causal=True))
        ck, cv = self.ckv(enc).split(D, -1)
        x = x + self.cproj(attend(heads(self.cq(self.ln2(x))), heads(ck), heads(cv)))
        x = x + self.out(nn.functional.gelu(self.fc(self.ln3(x))))
        return self.ln(x) @ self.emb.weight.T, k, v


class Seq2Seq(nn.Module):
    def __init__(self):
        super().__init__()
        emb = nn.Embedding(V, D)
        self.enc, self.dec = Encoder(emb), DecoderStep(emb)


def data(n, g):
    length = int(torch.randint(3, 9, (1,), generator=g))
    src = torch.randint(2, V, (n, length), generator=g)
    tgt = torch.cat([torch.full((n, 1), START), src, torch.full((n, 1), END)], 1)
    return src, tgt


def train(m, steps=800):
    g = torch.Generator().manual_seed(0)
    opt = torch.optim.AdamW(m.parameters(), lr=5e-3)
    for it in range(steps):
        src, tgt = data(64, g)
        empty = torch.zeros(64, H, 0, D // H)
        logits, _, _ = m.dec(tgt[:, :-1], m.enc(src), empty, empty)
        loss = nn.functional.cross_entropy(logits.reshape(-1, V), tgt[:, 1:].reshape(-1))
        opt.zero_grad()
        loss.backward()
        opt.step()
        if it % 100 == 0 or it == steps - 1:
            print(f"step {it} loss {loss.item():.3f}")
    return m.eval()


def greedy(m, src):
    with torch.no_grad():
        enc = m.enc(src)
        out = torch.full((src.shape[0], 1), START)
        for _ in range(src.shape[1] + 1):
            empty = torch.zeros(src.shape[0], H, 0, D // H)
            logits, _, _ = m.dec(out, enc, empty, empty)
            out = torch.cat([out, logits[:, -1].argmax(-1, keepdim=True)], 1)
    return out


def export(m):
    src = torch.randint(2, V, (2, 5))
    enc = m.enc(src).detach()
    pk = torch.randn(2, H, 3, D // H)
    for path, mod, args, ins, outs, dyn in [
        ("tiny_s2s_encoder.onnx", m.enc, (src,), ["src"], ["enc"], {"src": {0: "batch", 1: "src"}}),
        ("tiny_s2s_decoder_step.onnx", m.dec, (src[:, :1], enc, pk, pk), ["ids", "enc", "past_k", "past_v"],
         ["logits", "present_k", "present_v"],
         {"ids": {0: "batch"}, "enc": {0: "batch", 1: "src"}, "past_k": {0: "batch", 2: "past"},
          "past_v": {0: "batch", 2: "past"}})]:
        path = os.path.join(OUT, path)
        torch.onnx.export(mod, args, path, input_names=ins, output_names=outs, dynamic_axes=dyn, dynamo=False,
                          opset_version=17)
        print("wrote", path, os.path.getsize(path))


if __name__ == "__main__":
    torch.manual_seed(0)
    model = train(Seq2Seq())
    test = torch.tensor([[3, 9, 4, 17, 25], [30, 2, 2, 8, 11]])
    print("greedy:", greedy(model, test).tolist())
    export(model)
