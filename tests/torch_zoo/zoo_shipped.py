"""Files as they are shipped by older tool chains (helper xf48, 2026-12-07): zoo models through the TorchScript
exporter at older opsets (opset 9: Clip with min / max attributes; opset 11: Unsqueeze / ReduceMean with axes
attributes, Softmax 11, eager attention since scaled_dot_product_attention needs opset 14), and a model whose input, output and dim names are not C identifiers
(dots, slashes, a colon, unicode, C keywords, a leading digit). Entries made from export.py's own (``entries``)
keep their source's weights (same seed); ``opset`` is the TorchScript exporter's ``opset_version``,
``initializers_as_inputs`` its ``keep_initializers_as_inputs`` (weights listed as graph inputs too, with defaults).
"""
import torch
from torch import nn

from zoo_more import _floats


def eager(build):
    """``build`` with Hugging Face attention in its eager form (the sdpa op has no ONNX form below opset 14)."""
    def make():
        m = build()
        for mod in m.modules():
            cfg = getattr(mod, "config", None)
            if cfg is not None and hasattr(cfg, "_attn_implementation"):
                cfg._attn_implementation = "eager"
        return m
    return make


class OddNames(nn.Module):
    """Two inputs named 'input.1' and 'pixel/values:0' (dims 'int' and '0d'), three outputs named 'out.0',
    'scores/1' and '结果' (result): a small conv + one attention head over the rows (written out: TorchScript's
    nn.MultiheadAttention keeps the example's length), where every name would be a C
    identifier in a naive bundle."""
    def __init__(self):
        super().__init__()
        self.proj = nn.Linear(8, 16)
        self.conv = nn.Conv1d(16, 16, 3, padding=1)
        self.qkv = nn.Linear(16, 48)
        self.head = nn.Linear(16, 4)

    def forward(self, x, y):
        h = torch.tanh(self.proj(x))                                  # [int, 0d, 16]
        h = h + self.conv(h.transpose(1, 2)).transpose(1, 2)
        q, k, v = self.qkv(h).chunk(3, -1)
        w = torch.softmax(q @ k.transpose(1, 2) / 4.0, -1)              # [int, 0d, 0d]
        a = w @ v
        return self.head(a + y.unsqueeze(-1)), w, (a * a).mean(-1)


def entries(zoo):
    return {
        "mobilenet_v2_opset9": dict(zoo["mobilenet_v2"], exporters=["ts"], opset=9),
        # the weights listed as graph inputs too (IR version 4 files; older exporters' default)
        "lstm_opset9": dict(zoo["lstm"], exporters=["ts"], opset=9, initializers_as_inputs=True),
        "llama_opset11": dict(zoo["llama"], build=eager(zoo["llama"]["build"]), exporters=["ts"], opset=11),
        "odd_names": dict(build=OddNames, seed=4801, exporters=["dynamo", "ts"],
                          inputs=[_floats("input.1", ["int", "0d", 8]), _floats("pixel/values:0", ["int", "0d"])],
                          outputs=["out.0", "scores/1", "结果"], bounds={"int": 3, "0d": 12},
                          dim_sets=[{"int": 1, "0d": 5}, {"int": 3, "0d": 11}], example_dims={"int": 2, "0d": 7},
                          dynamic_outputs={"out.0": {0: "int", 1: "0d"}, "scores/1": {0: "int", 1: "0d", 2: "0d"},
                                           "结果": {0: "int", 1: "0d"}}),
    }
