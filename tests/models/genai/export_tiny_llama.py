"""Makes tiny_llama_int4.onnx: a 2-layer Llama (hidden 64, 4 heads, 2 key/value heads, vocab 128, random weights,
seed 0) written by onnxruntime-genai's model builder (0.18.0) for CPU int4, as its "-onnx" repos ship LLMs:
MatMulNBits projections (packed QKV, accuracy_level 4), SkipSimplifiedLayerNormalization, GroupQueryAttention with
do_rotary and the cos / sin caches, seqlens_k / total_sequence_length from the attention mask. The weights are
folded into the one file (no model.onnx.data).

Needs torch, transformers, tokenizers and onnxruntime-genai (e.g. the torch venv with
``pip install --no-deps --target DIR onnxruntime-genai==0.18.0`` and PYTHONPATH=DIR):
    python tests/models/genai/export_tiny_llama.py
"""
import subprocess
import sys
import tempfile
from pathlib import Path

import onnx
import torch
from tokenizers import Tokenizer, models, pre_tokenizers
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

HERE = Path(__file__).resolve().parent

with tempfile.TemporaryDirectory() as tmp:
    hf, out = Path(tmp) / "hf", Path(tmp) / "onnx"
    torch.manual_seed(0)
    cfg = LlamaConfig(vocab_size=128, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                      num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=64, rms_norm_eps=1e-5,
                      tie_word_embeddings=False)
    LlamaForCausalLM(cfg).save_pretrained(hf)
    tok = Tokenizer(models.WordLevel(vocab={f"t{i}": i for i in range(128)}, unk_token="t0"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="t0", bos_token="t1", eos_token="t2").save_pretrained(hf)
    subprocess.run([sys.executable, "-m", "onnxruntime_genai.models.builder", "-i", str(hf), "-o", str(out),
                    "-p", "int4", "-e", "cpu", "-c", str(Path(tmp) / "cache")], check=True)
    onnx.save(onnx.load(out / "model.onnx"), HERE / "tiny_llama_int4.onnx", save_as_external_data=False)
