"""Models as onnxruntime's transformer optimizer leaves them (com.microsoft Attention, EmbedLayerNormalization,
SkipLayerNormalization, BiasGelu ...), for tests/e2e/test_contrib_attention.py. Tiny random configs, fixed seeds,
no downloads. Needs torch, transformers and onnxruntime:

    /work/torchenv/bin/python tests/models/ort_fused/export.py

The optimizer fuses attention only where it recognises the exported pattern: BERT with
``attn_implementation="eager"`` and the TorchScript exporter (opset 17) gives Attention + EmbedLayerNormalization; the float16 copy is the
optimizer's own `convert_float_to_float16(keep_io_types=True)`.
"""
import logging
import tempfile
import warnings
from pathlib import Path

import torch
from torch import nn

HERE = Path(__file__).resolve().parent


class Encoder(nn.Module):
    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, ids, mask, token_types):
        return self.model(input_ids=ids, attention_mask=mask, token_type_ids=token_types).last_hidden_state


def bert():
    from transformers import BertConfig, BertModel
    cfg = BertConfig(vocab_size=100, hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
                     max_position_embeddings=64, initializer_range=0.1, attn_implementation="eager")
    return Encoder(BertModel(cfg, add_pooling_layer=False)).eval()


def main():
    warnings.filterwarnings("ignore")
    logging.disable(logging.WARNING)
    from onnxruntime.transformers import optimizer
    torch.manual_seed(0)
    m = bert()
    ids = torch.randint(0, 100, (2, 8))
    names = ["input_ids", "attention_mask", "token_type_ids"]
    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / "bert.onnx"
        torch.onnx.export(m, (ids, torch.ones(2, 8, dtype=torch.int64), torch.zeros(2, 8, dtype=torch.int64)),
                          str(raw), input_names=names, output_names=["last_hidden_state"], opset_version=17,
                          dynamic_axes={k: {0: "batch", 1: "seq"} for k in names + ["last_hidden_state"]},
                          dynamo=False)
        opt = optimizer.optimize_model(str(raw), model_type="bert", num_heads=2, hidden_size=32)
        print({k: v for k, v in opt.get_fused_operator_statistics().items() if v})
        opt.save_model_to_file(str(HERE / "bert_eager.ort_opt.onnx"))
        opt.convert_float_to_float16(keep_io_types=True)  # the optimizer's float16 form, float32 inputs / outputs
        opt.save_model_to_file(str(HERE / "bert_eager.ort_opt_fp16.onnx"))


if __name__ == "__main__":
    main()
