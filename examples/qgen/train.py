"""Train and export the question generator (Du et al., 2017 in spirit): a BiGRU encoder over the sentence and a
GRU decoder with Luong attention over the encoder states, trained on the sentence -> question pairs of
``pairs.py`` (Python's documentation), tokenized by a WordPiece vocab learned from the training split.

    /work/torchenv/bin/python examples/qgen/train.py [--minutes 8 | --epochs N] [--out examples/qgen]

Needs torch (CPU, one thread: the committed model is the best validation epoch of 8 minutes on two loaded cores,
34 epochs; a time budget trains another number of epochs on another machine, --epochs N a fixed number).
Writes into --out:

- ``vocab.txt``: the WordPiece vocab (2000 tokens; ``[CLS]`` starts a question, ``[SEP]`` ends it);
- ``qgen_encoder.onnx``: ``src`` int64 [batch, src] (the sentence's ids, ``[CLS] ... [SEP]``) ->
  ``enc`` float32 [batch, src, 128] (forward and backward GRU states, 64 each);
- ``qgen_decoder_step.onnx``: ``ids`` int64 [batch, 1], ``enc`` float32 [batch, src, 128] (context),
  ``past_h`` float32 [batch, past, 128] -> ``logits`` [batch, 1, 2000], ``present_h`` [batch, past + 1, 128].
  The cache is the decoder's hidden-state history: a step reads the last row (or, on an empty history, the
  initial state tanh(W mean(enc))) and appends its new state, so the bundle's generate loop (which keeps
  past-length caches) drives an RNN decoder unchanged;
- ``pairs_test.tsv``: the held-out pairs (sentence TAB question), for bench/qgen_bleu.py.
"""
import argparse
import math
import os
import random
import sys
import time

import torch
from torch import nn

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", ".."))
from pairs import make_pairs  # noqa: E402
from sdk.text.vocab_train import train_wordpiece  # noqa: E402

V, E, HE, HD = 2000, 64, 64, 128   # vocab, embedding, encoder GRU (per direction), decoder GRU
MAX_SRC, MAX_Q = 80, 32            # ids per sentence / question, [CLS] and [SEP] included


class Encoder(nn.Module):
    def __init__(self, emb):
        super().__init__()
        self.emb = emb
        self.rnn = nn.GRU(E, HE, batch_first=True, bidirectional=True)

    def forward(self, src, lengths=None):
        x = self.emb(src)
        if lengths is None:  # export: one unpadded sentence per row
            return self.rnn(x)[0]
        packed = nn.utils.rnn.pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
        return nn.utils.rnn.pad_packed_sequence(self.rnn(packed)[0], batch_first=True, total_length=src.shape[1])[0]


class DecoderStep(nn.Module):
    def __init__(self, emb):
        super().__init__()
        self.emb = emb
        self.init = nn.Linear(2 * HE, HD)
        self.rnn = nn.GRU(E, HD, batch_first=True)
        self.att = nn.Linear(HD, 2 * HE, bias=False)
        self.comb = nn.Linear(HD + 2 * HE, HD)
        self.out = nn.Linear(HD, V)

    def initial(self, enc, mask=None):
        mean = enc.mean(1) if mask is None else (enc * mask[..., None]).sum(1) / mask.sum(1, keepdim=True)
        return torch.tanh(self.init(mean))

    def decode(self, ids, h, enc, mask=None):
        """Tokens ids [batch, T] from state h [batch, HD]: (logits [batch, T, V], states [batch, T, HD]).
        Training runs it over the whole question at once (teacher forcing), a step over one token."""
        hs = self.rnn(self.emb(ids), h.unsqueeze(0))[0]
        score = hs @ self.att.weight.T @ enc.transpose(1, 2)  # [batch, T, src]: Luong's general score
        if mask is not None:
            score = score.masked_fill(mask[:, None, :] == 0, float("-inf"))
        ctx = score.softmax(-1) @ enc
        return self.out(torch.tanh(self.comb(torch.cat([hs, ctx], -1)))), hs

    def forward(self, ids, enc, past_h):
        hist = torch.cat([self.initial(enc).unsqueeze(1), past_h], 1)
        logits, hs = self.decode(ids, hist[:, -1], enc)
        return logits, torch.cat([past_h, hs], 1)


class QGen(nn.Module):
    def __init__(self):
        super().__init__()
        emb = nn.Embedding(V, E)
        self.enc, self.dec = Encoder(emb), DecoderStep(emb)

    def loss(self, src, lengths, tgt):
        mask = (src != 0).float()
        enc = self.enc(src, lengths)
        logits, _ = self.dec.decode(tgt[:, :-1], self.dec.initial(enc, mask), enc, mask)
        return nn.functional.cross_entropy(logits.reshape(-1, V), tgt[:, 1:].reshape(-1), ignore_index=0)


def pad(rows):
    n = max(len(r) for r in rows)
    return torch.tensor([r + [0] * (n - len(r)) for r in rows])


def batches(data, size, rng):
    order = list(range(len(data)))
    rng.shuffle(order)
    order.sort(key=lambda i: len(data[i][0]) // 8 + rng.random())  # similar lengths together, shuffled
    chunks = [order[i:i + size] for i in range(0, len(order), size)]
    rng.shuffle(chunks)
    for c in chunks:
        src = [data[i][0] for i in c]
        yield pad(src), torch.tensor([len(s) for s in src]), pad([data[i][1] for i in c])


def greedy(model, ids, cls, sep, max_len=MAX_Q):
    with torch.no_grad():
        enc = model.enc(torch.tensor([ids]))
        h, out = model.dec.initial(enc), [cls]
        while len(out) < max_len and out[-1] != sep:
            logits, hs = model.dec.decode(torch.tensor([[out[-1]]]), h, enc)
            h = hs[:, -1]
            out.append(int(logits[0, -1].argmax()))
    return out


def export(model, out):
    model.eval()
    src = torch.randint(5, V, (2, 7))
    enc = model.enc(src).detach()
    past = torch.randn(2, 3, HD)
    for path, mod, args, ins, outs, dyn in [
        ("qgen_encoder.onnx", model.enc, (src,), ["src"], ["enc"], {"src": {0: "batch", 1: "src"},
                                                                    "enc": {0: "batch", 1: "src"}}),
        ("qgen_decoder_step.onnx", model.dec, (src[:, :1], enc, past), ["ids", "enc", "past_h"],
         ["logits", "present_h"], {"ids": {0: "batch"}, "enc": {0: "batch", 1: "src"},
                                   "past_h": {0: "batch", 1: "past"}, "logits": {0: "batch"},
                                   "present_h": {0: "batch", 1: "past_plus_1"}})]:
        path = os.path.join(out, path)
        torch.onnx.export(mod, args, path, input_names=ins, output_names=outs, dynamic_axes=dyn, dynamo=False,
                          opset_version=17)
        print("wrote", path, os.path.getsize(path))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--minutes", type=float, default=8.0, help="training time budget (default 8)")
    ap.add_argument("--epochs", type=int, help="train exactly this many epochs instead (reproducible weights)")
    ap.add_argument("--out", default=HERE)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    torch.manual_seed(a.seed)
    torch.set_num_threads(1)  # more threads are slower on a loaded 2-core machine (spin-waits)
    rng = random.Random(a.seed)
    pairs = make_pairs()
    tok = train_wordpiece([s for s, _ in pairs["train"]] + [q for _, q in pairs["train"]], V)
    assert len(tok.vocab) == V, len(tok.vocab)

    def encode(split):
        return [(tok.encode(s, max_length=MAX_SRC), tok.encode(q, max_length=MAX_Q)) for s, q in pairs[split]]
    train, valid = encode("train"), encode("valid")
    print({k: len(v) for k, v in pairs.items()}, "pairs")
    model = QGen()
    print(sum(p.numel() for p in model.parameters()), "parameters")
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    start, epoch, best = time.time(), 0, (math.inf, None)
    def more():
        return epoch < a.epochs if a.epochs else time.time() - start < a.minutes * 60

    while more():
        model.train()
        for src, lengths, tgt in batches(train, 32, rng):
            loss = model.loss(src, lengths, tgt)
            opt.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), 5.0)
            opt.step()
            if not a.epochs and time.time() - start > a.minutes * 60:
                break
        model.eval()
        with torch.no_grad():
            vl = sum(float(model.loss(*b)) for b in batches(valid, 64, random.Random(0))) / \
                math.ceil(len(valid) / 64)
        epoch += 1
        print(f"epoch {epoch} train loss {loss.item():.3f} valid loss {vl:.3f} ({time.time() - start:.0f} s)",
              flush=True)
        if vl < best[0]:
            best = (vl, {k: v.clone() for k, v in model.state_dict().items()})
        for g in opt.param_groups:
            g["lr"] *= 0.9
    model.load_state_dict(best[1])
    model.eval()
    for s, q in pairs["test"][:5]:
        got = greedy(model, tok.encode(s, max_length=MAX_SRC), tok.cls_id, tok.sep_id)
        print(f"{s}\n   ref: {q}\n   got: {tok.decode(got)}")
    tok.save_vocab(os.path.join(a.out, "vocab.txt"))
    with open(os.path.join(a.out, "pairs_test.tsv"), "w") as f:
        f.writelines(f"{s}\t{q}\n" for s, q in pairs["test"])
    export(model, a.out)


if __name__ == "__main__":
    main()
