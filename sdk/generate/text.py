"""Text in, text out in one C call: an encoder-decoder bundle with its tokenizer (``sdk.compile(decoder_step,
generate=True, vocab=..., encoder=...)``).

The encoder is compiled into the decoder's folder as ``<name>_enc``; ``<name>_text.c`` (``templates/c_project/
text_generate.c``) holds ``<name>_generate_text``: WordPiece ids of the text ([CLS] ... [SEP], cut to the encoder's
bound), the encoder run on one row, its states repeated for the rows (beams) as the step's context, the generation
loop from [CLS] until [SEP], and the best row decoded back to text, all in the caller's arena. ``<name>_ask`` is its
demo program; ``Bundle.generate(text)`` runs it (``run_text``)."""
from __future__ import annotations

import subprocess
from pathlib import Path

from ..errors import BuildError, SdkError
from .sampler import GenerateParams


def _onnx_inputs(model):
    from ..frontend.onnx import load_model
    m = load_model(model)
    init = {i.name for i in m.graph.initializer}
    return m, [i for i in m.graph.input if i.name not in init]


def attach_encoder(bundle, encoder, dims, compile_fn):
    """Compile ``encoder`` for ``bundle`` (a decoder step compiled with ``generate=True`` and ``vocab``) with
    ``compile_fn(model, dims, name)`` at one row and the decoder's bounds of the encoder's own dims; checks that its
    one int64 input ``[batch, src]`` gives the step's one context input ``[batch, src, hidden]``."""
    from ..ir import sym
    if bundle.generation is None or bundle.tokenizer is None:
        raise SdkError("encoder=: the text path needs generate=True and vocab= (the tokenizer of the encoder's input)")
    if len(bundle.generation.context) != 1:
        raise SdkError(f"encoder=: the decoder step has {len(bundle.generation.context)} context inputs; the text "
                       "path feeds exactly one (the encoder's states)")
    ctx = bundle.func.inputs[bundle.generation.context[0]]
    hidden = ctx.shape[-1] if len(ctx.shape) == 3 else None
    if hidden is None or not sym.is_static(hidden) or ctx.dtype != "float32":
        raise SdkError(f"encoder=: the context input '{bundle.func.input_names[bundle.generation.context[0]]}' "
                       f"must be float32 [batch, src, hidden] with a fixed hidden size")
    model, ins = _onnx_inputs(encoder)
    if len(ins) != 1 or len(ins[0].type.tensor_type.shape.dim) != 2 or ins[0].type.tensor_type.elem_type != 7:
        raise SdkError("encoder=: the encoder must take one int64 input [batch, src] (token ids)")
    own = {d.dim_param for d in ins[0].type.tensor_type.shape.dim if d.dim_param}
    batch = ins[0].type.tensor_type.shape.dim[0].dim_param
    enc_dims = {k: v for k, v in (dims or {}).items() if k in own and k != batch}
    if batch:
        enc_dims[batch] = 1
    enc = compile_fn(model, enc_dims, f"{bundle.name}_enc")
    out = enc.program.outputs[0]
    if len(out.shape) != 3 or out.dtype != "float32" or out.shape[-1] != int(hidden):
        raise SdkError(f"encoder=: its first output must be float32 [batch, src, {int(hidden)}] (the decoder's "
                       "context)")
    bundle.encoder = enc
    return enc


def text_files(bundle) -> dict:
    """{file name: template} of the text path (rendered by ``sdk/backends/project.py``)."""
    n = bundle.name
    return {f"{n}_text.h": "c_project/text_generate.h", f"{n}_text.c": "c_project/text_generate.c",
            f"{n}_ask.c": "c_project/text_main.c"}


def text_params(bundle) -> dict:
    """The template values of the text path: the encoder's name, its token bound, the hidden size, [PAD]'s id."""
    from ..ir import sym
    enc = bundle.encoder
    src = enc.program.inputs[0].shape[1]
    max_src = src if sym.is_static(src) else enc.bounds[sym.to_str(src)]
    tok = bundle.tokenizer
    return dict(enc=enc.name, enc_upper=enc.name.upper(), max_src=int(max_src),
                hidden=int(enc.program.outputs[0].shape[-1]),
                pad_id=tok.pad_id if tok.pad_id is not None and tok.pad_id >= 0 else -1,
                max_len=bundle.generation_max_len())


def run_text(runner, out: Path, texts, max_len: int, params: GenerateParams, rebuild=False):
    """Run ``<name>_ask`` of the bundle in ``out`` on ``texts`` through ``runner`` (built with its flags, started with
    its command prefix); returns (the generated texts, info dict with workspace_bytes and total_ms)."""
    import json
    out = Path(out)
    name = json.loads((out / "bundle.json").read_text())["name"]
    if not (out / f"{name}_text.c").exists():
        raise SdkError(f"{out}: no text path (compile with generate=True, vocab= and encoder=)")
    if params.stop_tokens:
        raise SdkError("generate(text): the text path stops at [SEP]; stop_tokens are for token-id prompts")
    if hasattr(runner, "generate_text"):  # a device runner (Cortex-M: GENERATE_TEXT over the serial protocol)
        return runner.generate_text(out, list(texts), max_len, params)
    exe = out / f"{name}_ask"
    if rebuild or not exe.exists():
        exe = runner.build(out, f"{name}_ask")
    args = list(runner.command(out, exe)) + [
        "--max-len", str(max_len), "--max-new", str(params.max_new_tokens), "--sample", str(int(params.do_sample)),
        "--temperature", repr(float(params.temperature)), "--top-k", str(params.top_k),
        "--top-p", repr(float(params.top_p)), "--seed", str(params.seed), "--beams", str(params.num_beams),
        "--length-penalty", repr(float(params.length_penalty))] + list(texts)
    r = subprocess.run(args, capture_output=True, text=True)
    if r.returncode != 0:
        raise BuildError(f"text generation failed (exit {r.returncode}): {r.stderr.strip()[-2000:]}")
    lines = r.stdout.splitlines()
    got = [ln[5:] for ln in lines if ln.startswith("text ")]
    info = dict(ln.split(" ", 1) for ln in lines if not ln.startswith("text ") and " " in ln)
    return got, info
