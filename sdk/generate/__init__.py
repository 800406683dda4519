"""Text generation in the bundle: ``sdk.compile(step.onnx, generate=True, dims={"batch": B, "max_len": L})`` adds
``<name>_generate`` (C, ``codegen.py``) around a decoder step with a key/value cache (``roles.py``), the demo
program ``<name>_generate`` and ``Bundle.generate``; ``reference.py`` is the same loop over onnxruntime."""
from __future__ import annotations

from typing import Dict, Tuple

from ..errors import BoundError
from .roles import DecoderRoles, find_roles, onnx_io
from .sampler import GenerateParams

__all__ = ["DecoderRoles", "GenerateParams", "find_roles", "prepare", "sources"]


def prepare(model, dims: Dict[str, int]) -> Tuple[DecoderRoles, Dict[str, int]]:
    """The step's roles and the dims to compile it with: ``max_len`` (tokens per row, prompt included) bounds the
    past length at ``max_len - 1`` and a mask's own length symbol (TorchScript's ``total``) at ``max_len``."""
    roles = find_roles(*onnx_io(model), model=getattr(model.graph, "name", "model") or "model")
    dims = dict(dims)
    if "max_len" not in dims:
        raise BoundError("generation needs --dim max_len=N (tokens per row, prompt included; Python: "
                         "dims={'max_len': N})")
    max_len = dims.pop("max_len")
    if max_len < 2:
        raise BoundError(f"max_len={max_len}: at least 2 (one prompt token and one new token)")
    dims.setdefault(roles.past, max_len - 1)
    if roles.prefill:  # the prompt in one run: at most max_len - 1 tokens
        dims.setdefault(onnx_io(model)[0][roles.ids][2][1], max_len - 1)
    if roles.batch not in dims:
        dims[roles.batch] = 1
    if roles.mask is not None:
        inputs, _ = onnx_io(model)
        d = inputs[roles.mask][2][1]
        if isinstance(d, str) and d.isidentifier() and d != roles.past:
            dims.setdefault(d, max_len)
    return roles, dims


def sources(bundle) -> Dict[str, str]:
    """``<name>_generate.h`` and ``<name>_generate.c`` of a compiled step."""
    from ..frontend.onnx import _sym_name
    from .codegen import generate_c, generate_h
    r, N = bundle.generation, bundle.name
    max_batch, max_len = bundle.bounds[_sym_name(r.batch)], bundle.bounds[_sym_name(r.past)] + 1
    doc = ", ".join(f"{bundle.func.input_names[k]}" for k in r.context) or "none"
    return {f"{N}_generate.h": generate_h(N, r, max_batch, max_len, doc),
            f"{N}_generate.c": generate_c(N, bundle.func, r)}
