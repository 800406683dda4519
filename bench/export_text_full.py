"""Export full-width Hugging Face text models to ONNX for bench/text_latency.py (needs torch + transformers; run it
with the torch venv: ``/work/torchenv/bin/pip install transformers``).

    /work/torchenv/bin/python bench/export_text_full.py [--out bench/data/text_full] [--models bert_base,gpt2]
        [--exporters ts,dynamo]

Models (random weights from config objects; the Hugging Face hub is not needed):
- ``bert_base``: BERT-base (768 wide, 12 layers, 12 heads, erf GELU), ``(ids, mask) -> last_hidden_state``.
- ``distilbert``: DistilBERT-base (768, 6 layers), same interface.
- ``minilm``: all-MiniLM-L6-like (BERT, 384 wide, 6 layers, 12 heads, 1536 FFN).
- ``gpt2``: GPT-2 small (768, 12 layers, tanh GELU) with its LM head, prefill: ``(ids, mask) -> logits``.
- ``gpt2_step``: one GPT-2 decoder step: one new token, a mask over past + 1, 12 layers' past keys/values
  (``past`` tokens each) in, logits and the new keys/values out.
- ``t5_encoder``: the T5-small encoder (512 wide, 6 layers, 8 heads, RMSNorm, relative position bias).
- not in the default set (``--models``): ``roberta_base`` (RoBERTa-base, positions from the cumsum of the padding),
  ``gpt_neox_160m`` (Pythia-160M's body: partial rotary, parallel residual), ``(ids, mask) -> last_hidden_state``,
  vocabularies of 1000 (the ids the benchmark draws).
Batch 1 (static), ``seq`` (and ``past``) dynamic, up to 512. Both exporters: ``NAME.ts.onnx`` (``dynamo=False``,
TorchScript, opset 17) and ``NAME.dynamo.onnx`` (torch.export, opset 18, onnxscript's optimizer), where each works.
The wrappers are those of tests/models/text/export_text_models.py (the tiny versions the tests compile). Weights:
std 0.05 normal (HF's 0.02 makes attention nearly uniform), norm weights 1 + 0.1 N(0, 1), norm biases 0.1 N(0, 1).
The output folder is git-ignored: these files are large (BERT-base ~440 MB).
"""
from __future__ import annotations

import argparse
import importlib.util
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MODELS = ("bert_base", "distilbert", "minilm", "gpt2", "gpt2_step", "t5_encoder")
SEQ, PAST, MAX = 16, 16, 512  # example lengths for the trace (not the benchmark's); the dims' upper bound


def _tiny():
    """tests/models/text/export_text_models.py as a module: its wrappers and TorchScript symbolics."""
    spec = importlib.util.spec_from_file_location("export_text_models",
                                                  ROOT / "tests" / "models" / "text" / "export_text_models.py")
    mod = importlib.util.module_from_spec(spec)
    saved = sys.argv
    sys.argv = [saved[0]]  # the module reads its output folder from argv at import
    try:
        spec.loader.exec_module(mod)
    finally:
        sys.argv = saved
    return mod


def init_weights(m, std=0.05, seed=0):
    import torch
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in m.named_parameters():
            r = torch.randn(p.shape, generator=g)
            if "norm" in name.lower() and p.dim() == 1:
                p.copy_(1 + 0.1 * r if "weight" in name else 0.1 * r)
            else:
                p.copy_(std * r)
    return m.eval()


def build(name, tx):
    """(module, input names, example args, dynamic axes {input: {axis: dim name}})."""
    import torch
    import transformers as tf
    ids = torch.randint(0, 1000, (1, SEQ))
    mask = torch.ones(1, SEQ, dtype=torch.int64)
    seq = {"ids": {1: "seq"}, "mask": {1: "seq"}}
    if name == "bert_base":
        return tx.Encoder(init_weights(tf.BertModel(tf.BertConfig()))), ("ids", "mask"), (ids, mask), seq
    if name == "minilm":
        cfg = tf.BertConfig(hidden_size=384, num_hidden_layers=6, num_attention_heads=12, intermediate_size=1536)
        return tx.Encoder(init_weights(tf.BertModel(cfg))), ("ids", "mask"), (ids, mask), seq
    if name == "distilbert":
        return tx.Encoder(init_weights(tf.DistilBertModel(tf.DistilBertConfig()))), ("ids", "mask"), (ids, mask), seq
    if name == "gpt2":
        return tx.GPT2(init_weights(tf.GPT2LMHeadModel(tf.GPT2Config())), True), ("ids", "mask"), (ids, mask), seq
    if name == "gpt2_step":
        cfg = tf.GPT2Config()
        m = init_weights(tf.GPT2LMHeadModel(cfg))
        dh = cfg.n_embd // cfg.n_head
        names, kv, dyn = [], [], {}
        for layer in range(cfg.n_layer):
            for kind in ("k", "v"):
                names.append(f"past_{kind}{layer}")
                kv.append(torch.randn(1, cfg.n_head, PAST, dh))
                dyn[names[-1]] = {2: "past"}
        step = _step_class(tx, cfg.n_layer)(m)
        return (step, ("ids", "mask", *names), (ids[:, :1], torch.ones(1, PAST + 1, dtype=torch.int64), *kv),
                {"mask": {1: "total"}, **dyn})
    if name == "roberta_base":  # vocabulary cut to the 1000 ids the benchmark draws (the embedding is a gather)
        cfg = tf.RobertaConfig(vocab_size=1000)
        return tx.Encoder(init_weights(tf.RobertaModel(cfg, add_pooling_layer=False))), ("ids", "mask"), (ids, mask), seq
    if name == "gpt_neox_160m":  # Pythia-160M's body: 768 wide, 12 layers, 12 heads, rotary on a quarter of each head
        cfg = tf.GPTNeoXConfig(vocab_size=1000, hidden_size=768, num_hidden_layers=12, num_attention_heads=12,
                               intermediate_size=3072, rotary_pct=0.25, use_parallel_residual=True)
        return tx.Encoder(init_weights(tf.GPTNeoXModel(cfg))), ("ids", "mask"), (ids, mask), seq
    if name == "t5_encoder":
        cfg = tf.T5Config(d_model=512, d_kv=64, d_ff=2048, num_layers=6, num_heads=8, attn_implementation="eager")
        return tx.T5Enc(init_weights(tf.T5Model(cfg))), ("ids", "mask"), (ids, mask), seq
    raise KeyError(name)


def _step_class(tx, n_layer):
    """tests' GPT2Step takes two layers' past explicitly (torch.export rejects *args): the same for n_layer."""
    import torch
    args = ", ".join(f"past_{k}{i}" for i in range(n_layer) for k in "kv")
    src = (f"def forward(self, ids, mask, {args}):\n"
           f"    kv = ({args},)\n"
           f"    o = self.model(input_ids=ids, attention_mask=mask, past_key_values=_cache(kv), use_cache=True)\n"
           f"    outs = [o.logits]\n"
           f"    for layer in o.past_key_values.layers:\n"
           f"        outs += [layer.keys, layer.values]\n"
           f"    return tuple(outs)\n")
    ns = {"_cache": tx._cache}
    exec(src, ns)  # noqa: S102 - a generated signature, nothing from outside
    return type("GPT2StepN", (tx.GPT2Step,), {"forward": ns["forward"]})


def _shapes(dyn, in_names):
    from torch.export import Dim
    dims = {}

    def dim(nm):
        if nm == "total":  # the mask of a decoder step covers past + new tokens
            return dim("past") + 1
        return dims.setdefault(nm, Dim(nm, min=2, max=MAX))
    return tuple({ax: dim(nm) for ax, nm in dyn.get(n, {}).items()} or None for n in in_names)


def export(name, out, exporters, tx):
    import torch
    m, in_names, args, dyn = build(name, tx)
    # the wrapper too: torch.export (torch 2.14) traces Dropout in training mode (Dropout nodes with training_mode
    # true) when the top-level module is left in training mode, even with the wrapped model in eval mode
    m.eval()
    with torch.no_grad():
        y = m(*args)
    n_out = len(y) if isinstance(y, tuple) else 1
    out_names = ["out"] + [f"present{k}" for k in range(n_out - 1)]
    for kind in exporters:
        path = os.path.join(out, f"{name}.{kind}.onnx")
        try:
            if kind == "ts":
                torch.onnx.export(m, args, path, input_names=list(in_names), output_names=out_names, dynamo=False,
                                  opset_version=17, dynamic_axes=dyn)
            else:
                torch.onnx.export(m, args, path, input_names=list(in_names), output_names=out_names, dynamo=True,
                                  opset_version=18, optimize=True, external_data=False,
                                  dynamic_shapes=_shapes(dyn, in_names))
            tx._strip(path)
            print(f"ok {path} {os.path.getsize(path) / 1e6:.0f} MB", file=sys.stderr, flush=True)
        except Exception as e:  # noqa: BLE001 - one failing export must not stop the rest
            print(f"FAILED {path} {type(e).__name__}: {str(e).splitlines()[0][:300]}", file=sys.stderr, flush=True)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=str(ROOT / "bench" / "data" / "text_full"))
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--exporters", default="ts,dynamo")
    a = ap.parse_args(argv)
    import torch
    torch.manual_seed(0)
    torch.set_num_threads(1)
    tx = _tiny()
    torch.onnx.register_custom_op_symbolic("aten::diff", tx._diff_symbolic, 17)
    torch.onnx.register_custom_op_symbolic("aten::cumsum", tx._cumsum_symbolic, 17)
    os.makedirs(a.out, exist_ok=True)
    for name in a.models.split(","):
        export(name, a.out, a.exporters.split(","), tx)
    return 0


if __name__ == "__main__":
    sys.exit(main())
