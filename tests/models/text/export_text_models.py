"""Re-export the tiny Hugging Face text models in this folder (needs torch + transformers).

    python tests/models/text/export_text_models.py [OUT_DIR]

Random-init configs (hidden 32, 2 layers, vocab 100), dynamic ``batch``/``seq``
(and ``past`` for decoder steps), both exporters: ``<name>.dynamo.onnx``
(torch.onnx.export dynamo=True, opset 18) and ``<name>.ts.onnx`` (dynamo=False,
opset 17). Weights are tiny so each file stays well under 300 KB.
"""
import os
import sys

import torch
import transformers as tf

OUT = sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(os.path.abspath(__file__))
V, H, L = 100, 32, 2
B, S, P = 2, 5, 3  # example batch, seq, past length


def _init(m):
    """Weights with std 0.2 (HF's 0.02 makes attention nearly uniform, which hides mask bugs)."""
    torch.manual_seed(0)
    with torch.no_grad():
        for name, p in m.named_parameters():
            if "norm" in name.lower() and p.dim() == 1:
                p.copy_(1 + 0.1 * torch.randn_like(p) if "weight" in name else 0.1 * torch.randn_like(p))
            else:
                p.normal_(0, 0.2)
    return m.eval()


def _diff_symbolic(g, x, n, dim, prepend, append):
    """aten::diff (n=1, used by transformers' packed-sequence check) for the TorchScript exporter."""
    from torch.onnx import symbolic_helper as sh
    axis = sh._get_const(dim, "i", "dim")
    parts = [v for v in (prepend, x, append) if not sh._is_none(v)]
    x = g.op("Concat", *parts, axis_i=axis) if len(parts) > 1 else x
    c = lambda v: g.op("Constant", value_t=torch.tensor([v]))
    hi = g.op("Slice", x, c(1), c(2 ** 62), c(axis))
    lo = g.op("Slice", x, c(0), c(-1), c(axis))
    return g.op("Sub", hi, lo)


class Encoder(torch.nn.Module):
    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, ids, mask):
        return self.model(input_ids=ids, attention_mask=mask).last_hidden_state


class GPT2(torch.nn.Module):
    def __init__(self, model, with_mask):
        super().__init__()
        self.model, self.with_mask = model, with_mask

    def forward(self, ids, mask=None):
        return self.model(input_ids=ids, attention_mask=mask if self.with_mask else None, use_cache=False).logits


def _cache(kv):
    c = tf.DynamicCache()
    for layer in range(len(kv) // 2):
        c.update(kv[2 * layer], kv[2 * layer + 1], layer)
    return c


class GPT2Step(torch.nn.Module):
    """One decoder step: new tokens + mask over past+new, past keys/values in, logits + new keys/values out."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, ids, mask, past_k0, past_v0, past_k1, past_v1):  # explicit: torch.export rejects *args
        kv = (past_k0, past_v0, past_k1, past_v1)
        o = self.model(input_ids=ids, attention_mask=mask, past_key_values=_cache(kv), use_cache=True)
        outs = [o.logits]
        for layer in o.past_key_values.layers:
            outs += [layer.keys, layer.values]
        return tuple(outs)


class T5Enc(torch.nn.Module):
    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, ids, mask):
        return self.model.encoder(input_ids=ids, attention_mask=mask).last_hidden_state


class DecStep(torch.nn.Module):
    """Encoder-decoder (T5, BART) decoder step with self-attention past keys/values; encoder states are an input."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, ids, enc, enc_mask, past_k0, past_v0, past_k1, past_v1):
        kv = (past_k0, past_v0, past_k1, past_v1)
        cache = tf.EncoderDecoderCache(_cache(kv), tf.DynamicCache())
        o = self.model.decoder(input_ids=ids, encoder_hidden_states=enc, encoder_attention_mask=enc_mask,
                               past_key_values=cache, use_cache=True)
        outs = [o.last_hidden_state]
        for layer in o.past_key_values.self_attention_cache.layers:
            outs += [layer.keys, layer.values]
        return tuple(outs)


def _kv(n_layers, heads, dh):
    names, args, dyn = [], [], {}
    for layer in range(n_layers):
        for kind in ("k", "v"):
            name = f"past_{kind}{layer}"
            names.append(name)
            args.append(torch.randn(B, heads, P, dh))
            dyn[name] = {0: "batch", 2: "past"}
    return names, args, dyn


def models():
    bert = tf.BertConfig(vocab_size=V, hidden_size=H, num_hidden_layers=L, num_attention_heads=2,
                         intermediate_size=64, max_position_embeddings=64)
    mini = tf.BertConfig(vocab_size=V, hidden_size=H, num_hidden_layers=L, num_attention_heads=4,
                         intermediate_size=48, max_position_embeddings=64, hidden_act="gelu_new")
    dist = tf.DistilBertConfig(vocab_size=V, dim=H, n_layers=L, n_heads=2, hidden_dim=64, max_position_embeddings=64)
    gpt2 = tf.GPT2Config(vocab_size=V, n_embd=H, n_layer=L, n_head=2, n_positions=64)
    t5 = tf.T5Config(vocab_size=V, d_model=H, d_kv=8, d_ff=64, num_layers=L, num_heads=4,
                     relative_attention_num_buckets=8, relative_attention_max_distance=16, decoder_start_token_id=0,
                     attn_implementation="eager")  # sdpa: the dynamo exporter fails to decompose a view
    bart = tf.BartConfig(vocab_size=V, d_model=H, encoder_layers=L, decoder_layers=L, encoder_attention_heads=2,
                         decoder_attention_heads=2, encoder_ffn_dim=64, decoder_ffn_dim=64, max_position_embeddings=64)
    ids = torch.randint(0, V, (B, S))
    mask = torch.ones(B, S, dtype=torch.int64)
    mask[1, -2:] = 0
    seq = {"ids": {0: "batch", 1: "seq"}, "mask": {0: "batch", 1: "seq"}}
    yield "bert", Encoder(_init(tf.BertModel(bert))), ("ids", "mask"), (ids, mask), seq
    yield "minilm", Encoder(_init(tf.BertModel(mini))), ("ids", "mask"), (ids, mask), seq
    yield "distilbert", Encoder(_init(tf.DistilBertModel(dist))), ("ids", "mask"), (ids, mask), seq
    bm = _init(tf.BartModel(bart))
    yield "bart_encoder", Encoder(bm.get_encoder()), ("ids", "mask"), (ids, mask), seq
    names, kv, dyn = _kv(L, 2, H // 2)
    yield ("bart_decoder_step", DecStep(bm), ("ids", "enc", "enc_mask", *names), (ids[:, :1], torch.randn(B, S, H), mask, *kv),
           {"ids": {0: "batch"}, "enc": {0: "batch", 1: "seq"}, "enc_mask": {0: "batch", 1: "seq"}, **dyn})
    g = _init(tf.GPT2LMHeadModel(gpt2))
    yield "gpt2", GPT2(g, True), ("ids", "mask"), (ids, mask), seq
    yield "gpt2_nomask", GPT2(g, False), ("ids",), (ids,), {"ids": seq["ids"]}
    names, kv, dyn = _kv(L, 2, H // 2)
    step_mask = torch.ones(B, P + 1, dtype=torch.int64)
    step_mask[1, 0] = 0
    yield ("gpt2_step", GPT2Step(g), ("ids", "mask", *names), (ids[:, :1], step_mask, *kv),
           {"ids": {0: "batch"}, "mask": {0: "batch", 1: "total"}, **dyn})
    t = _init(tf.T5Model(t5))
    yield "t5_encoder", T5Enc(t), ("ids", "mask"), (ids, mask), seq
    names, kv, dyn = _kv(L, 4, 8)
    enc = torch.randn(B, S, H)
    yield ("t5_decoder_step", DecStep(t), ("ids", "enc", "enc_mask", *names), (ids[:, :1], enc, mask, *kv),
           {"ids": {0: "batch"}, "enc": {0: "batch", 1: "seq"}, "enc_mask": {0: "batch", 1: "seq"}, **dyn})


def _cumsum_symbolic(g, x, dim, dtype):
    """aten::cumsum that casts a bool input to int64 (torch does; the stock symbolic emits an invalid bool CumSum)."""
    from torch.onnx import symbolic_helper as sh
    if x.type().scalarType() == "Bool":
        x = g.op("Cast", x, to_i=7)
    return g.op("CumSum", x, g.op("Constant", value_t=torch.tensor(sh._get_const(dim, "i", "dim"))))


def main():
    only = set(sys.argv[2:])
    torch.onnx.register_custom_op_symbolic("aten::diff", _diff_symbolic, 17)
    torch.onnx.register_custom_op_symbolic("aten::cumsum", _cumsum_symbolic, 17)
    for name, m, in_names, args, dyn in models():
        m.eval()
        if only and name not in only:
            continue
        with torch.no_grad():
            n_out = len(m(*args)) if isinstance(m(*args), tuple) else 1
        out_names = ["out"] if n_out == 1 else ["out"] + [f"present{k}" for k in range(n_out - 1)]
        for kind, dynamo in (("dynamo", True), ("ts", False)):
            path = os.path.join(OUT, f"{name}.{kind}.onnx")
            try:
                kw = dict(dynamic_axes=dyn) if not dynamo else dict(dynamic_shapes=_shapes(dyn, in_names))
                torch.onnx.export(m, args, path, input_names=list(in_names), output_names=out_names,
                                  dynamo=dynamo, opset_version=18 if dynamo else 17, external_data=False,
                                  **({"optimize": True} if dynamo else {}), **kw)
                _strip(path)
                print("ok", path, os.path.getsize(path))
            except Exception as e:  # report and go on: one failing export must not stop the rest
                print("FAILED", path, type(e).__name__, str(e).splitlines()[0][:300])


def _strip(path):
    """Drop per-node metadata (stack traces, source lines) and doc strings: they are most of a dynamo file."""
    import onnx
    m = onnx.load(path)
    for n in m.graph.node:
        del n.metadata_props[:]
        n.doc_string = ""
    for vi in list(m.graph.value_info) + list(m.graph.input) + list(m.graph.output):
        del vi.metadata_props[:]
    del m.graph.value_info[:]
    del m.metadata_props[:]
    onnx.save(m, path)


def _dim(dims, name):
    from torch.export import Dim
    if name == "total":  # the mask of a decoder step covers past + new tokens
        return _dim(dims, "past") + 1
    return dims.setdefault(name, Dim(name, min=1, max=16 if name == "batch" else 64))


def _shapes(dyn, in_names):
    from torch.export import Dim
    dims = {}
    out = []
    for n in in_names:
        spec = dyn.get(n, {})
        out.append({ax: _dim(dims, nm) for ax, nm in spec.items()} or None)
    return tuple(out)


if __name__ == "__main__":
    main()
