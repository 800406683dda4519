"""Train and export the tiny GPT-2-style decoder step the generation tests use (needs torch; not transformers).

    /work/torchenv/bin/python tests/models/generate/make_tiny_gpt.py [OUT_DIR]

The model: vocab 64, 2 layers, 2 heads, width 32, learned positions (up to 64), pre-LayerNorm blocks, tied LM head.
It is trained for a few hundred steps on arithmetic sequences mod 60 (a, a+d, a+2d, ...; token 63 after 12 terms
ends a sequence), so greedy decoding is not degenerate: it continues a sequence and then stops with token 63.

``--bench`` exports an untrained larger step (vocab 2048, 4 layers, 4 heads, width 256; TorchScript only) as
``bench_gpt_step.ts.onnx`` for ``bench/generate.py``.

The exported step: ``ids`` int64 [batch, 1] and ``past_k{l}``/``past_v{l}`` float32 [batch, 2, past, 16] in;
``logits`` [batch, 1, 64] and ``present_k{l}``/``present_v{l}`` [batch, 2, past + 1, 16] out. The position of the
new token is the past length (read from the cache's shape). Both exporters: ``tiny_gpt_step.dynamo.onnx``
(dynamo, opset 18) and ``tiny_gpt_step.ts.onnx`` (TorchScript, opset 17); ``tiny_gpt_step.seq.ts.onnx`` takes
``ids`` [batch, seq] (several new tokens per run, causal among themselves: a whole prompt in one run).
"""
import math
import os
import sys

import torch
from torch import nn

ARGS = [a for a in sys.argv[1:] if not a.startswith("--")]
OUT = ARGS[0] if ARGS else os.path.dirname(os.path.abspath(__file__))
V, D, L, H, P = 64, 32, 2, 2, 64
# --bench: an untrained, larger step for bench/generate.py (not committed): vocab 2048, 4 layers, 4 heads, width 256
BENCH = "--bench" in sys.argv
if BENCH:
    V, D, L, H, P = 2048, 256, 4, 4, 256
MOD, END, TERMS = 60, 63, 12


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.ln1, self.ln2 = nn.LayerNorm(D), nn.LayerNorm(D)
        self.qkv, self.proj = nn.Linear(D, 3 * D), nn.Linear(D, D)
        self.fc, self.out = nn.Linear(D, 4 * D), nn.Linear(4 * D, D)

    def forward(self, x, past_k, past_v):
        """x [b, s, D] (s new tokens after the past ones); returns (x, k, v) with k/v [b, H, past + s, D/H]."""
        b, s, _ = x.shape
        q, k, v = self.qkv(self.ln1(x)).split(D, dim=-1)
        q, k, v = (t.reshape(b, s, H, D // H).transpose(1, 2) for t in (q, k, v))
        k, v = torch.cat([past_k, k], 2), torch.cat([past_v, v], 2)
        att = q @ k.transpose(-1, -2) / math.sqrt(D // H)
        n = k.shape[2]
        causal = torch.ones(s, n, dtype=torch.bool).tril(n - s)  # new token i sees past + tokens <= i
        att = att.masked_fill(~causal, float("-inf")).softmax(-1)
        y = (att @ v).transpose(1, 2).reshape(b, s, D)
        x = x + self.proj(y)
        x = x + self.out(nn.functional.gelu(self.fc(self.ln2(x))))
        return x, k, v


class TinyGPT(nn.Module):
    def __init__(self):
        super().__init__()
        self.tok, self.pos = nn.Embedding(V, D), nn.Embedding(P, D)
        self.blocks = nn.ModuleList(Block() for _ in range(L))
        self.ln = nn.LayerNorm(D)

    def forward(self, ids, past):
        """ids [b, s]; past: [k0, v0, k1, v1]; returns logits [b, s, V] and the presents."""
        start = past[0].shape[2]
        x = self.tok(ids) + self.pos(torch.arange(start, start + ids.shape[1]))
        presents = []
        for layer, blk in enumerate(self.blocks):
            x, k, v = blk(x, past[2 * layer], past[2 * layer + 1])
            presents += [k, v]
        return self.ln(x) @ self.tok.weight.T, presents


class Step(nn.Module):
    def __init__(self, m):
        super().__init__()
        self.m = m

    def forward(self, ids, past_k0, past_v0, past_k1, past_v1):  # explicit: torch.export rejects *args
        logits, pr = self.m(ids, [past_k0, past_v0, past_k1, past_v1])
        return (logits, *pr)


class StepN(Step):
    """--bench: any number of layers (TorchScript export only)."""

    def forward(self, ids, *past):
        logits, pr = self.m(ids, list(past))
        return (logits, *pr)


def batch_of_sequences(n, g):
    a = torch.randint(0, MOD, (n, 1), generator=g)
    d = torch.randint(1, 7, (n, 1), generator=g)
    seq = (a + d * torch.arange(TERMS)) % MOD
    return torch.cat([seq, torch.full((n, 1), END)], 1)  # [n, 13]


def train(m, steps=600):
    g = torch.Generator().manual_seed(0)
    opt = torch.optim.AdamW(m.parameters(), lr=3e-3)
    empty = [torch.zeros(64, H, 0, D // H) for _ in range(2 * L)]
    for it in range(steps):
        x = batch_of_sequences(64, g)
        logits, _ = m(x[:, :-1], empty)
        loss = nn.functional.cross_entropy(logits.reshape(-1, V), x[:, 1:].reshape(-1))
        opt.zero_grad()
        loss.backward()
        opt.step()
        if it % 100 == 0 or it == steps - 1:
            print(f"step {it} loss {loss.item():.3f}")
    return m.eval()


def export(m):
    step = (StepN if BENCH else Step)(m).eval()
    b, past = 2, 3
    args = (torch.randint(0, V, (b, 1)),) + tuple(torch.randn(b, H, past, D // H) for _ in range(2 * L))
    names = ["ids"] + [f"past_{kv}{layer}" for layer in range(L) for kv in "kv"]
    outs = ["logits"] + [f"present_{kv}{layer}" for layer in range(L) for kv in "kv"]
    from torch.export import Dim
    batch, pastd = Dim("batch", min=1, max=16), Dim("past", min=1, max=P - 1)
    shapes = ({0: batch},) + tuple({0: batch, 2: pastd} for _ in range(2 * L))
    dyn = {"ids": {0: "batch"}, **{n: {0: "batch", 2: "past"} for n in names[1:]}}
    for kind, dynamo in (("dynamo", True), ("ts", False), ("seq.ts", False)):
        if BENCH and kind != "ts":
            continue  # one export is enough for timing
        path = os.path.join(OUT, f"{'bench_gpt' if BENCH else 'tiny_gpt'}_step.{kind}.onnx")
        kw = dict(dynamic_shapes=shapes, optimize=True) if dynamo else dict(dynamic_axes=dyn)
        if kind == "seq.ts":  # several new tokens per step (the prompt in one run)
            kw = dict(dynamic_axes={**dyn, "ids": {0: "batch", 1: "seq"}})
        torch.onnx.export(step, args, path, input_names=names, output_names=outs, dynamo=dynamo,
                          opset_version=18 if dynamo else 17, external_data=False, **kw)
        _strip(path)
        print("wrote", path, os.path.getsize(path))


def _strip(path):
    """Drop per-node metadata and doc strings (most of a dynamo file)."""
    import onnx
    mp = onnx.load(path)
    for n in mp.graph.node:
        del n.metadata_props[:]
        n.doc_string = ""
    for vi in list(mp.graph.value_info) + list(mp.graph.input) + list(mp.graph.output):
        del vi.metadata_props[:]
    del mp.graph.value_info[:]
    del mp.metadata_props[:]
    onnx.save(mp, path)


def check_greedy(m):
    """Greedy continuation of 5, 8, 11 (d = 3) with the full model: the sequence and then END."""
    ids = torch.tensor([[5, 8, 11]])
    with torch.no_grad():
        for _ in range(11):
            logits, _ = m(ids, [torch.zeros(1, H, 0, D // H) for _ in range(2 * L)])
            ids = torch.cat([ids, logits[:, -1].argmax(-1, keepdim=True)], 1)
    print("greedy:", ids.tolist())


if __name__ == "__main__":
    torch.manual_seed(0)
    if BENCH:
        export(TinyGPT().eval())
        sys.exit(0)
    model = train(TinyGPT())
    check_greedy(model)
    export(model)
