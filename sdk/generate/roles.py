"""Which input and output of a decoder-step model is what, for ``<name>_generate``.

A decoder step (GPT-2 style, as exported with past key/values) has:

- ``ids``: an integer input ``[batch, 1]`` whose name contains "ids" (the token fed at this step),
- optionally a ``mask``: an integer input ``[batch, past + 1]`` whose name contains "mask" (all ones: no padding),
- optionally ``position``: an integer input ``[batch, 1]`` whose name contains "position" (the past length),
- the cache: the float inputs, each with one dim that is the past length (a symbol, e.g. ``past``), and
- outputs: the logits first (``[batch, 1, vocab]`` or ``[batch, vocab]``), then one present per cache input, in the
  same order, each the cache input's shape with ``past + 1`` rows.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import List, Optional, Sequence, Tuple

from ..errors import SdkError

Shape = Sequence  # ints and symbol texts ("batch", "past + 1")


@dataclass(frozen=True)
class DecoderRoles:
    ids: int                  # input index
    mask: Optional[int]
    position: Optional[int]
    cache: Tuple[int, ...]    # input indices of the past tensors
    past_axis: Tuple[int, ...]  # the past-length axis of each
    batch: str                # the batch symbol
    past: str                 # the past-length symbol
    logits: int               # output index
    present: Tuple[int, ...]  # output index of each cache input's present
    vocab: int


def _is_int(dtype: str) -> bool:
    return dtype.startswith("int") or dtype.startswith("uint") or dtype == "bool"


def find_roles(inputs: List[Tuple[str, str, Shape]], outputs: List[Tuple[str, str, Shape]],
               model: str = "model") -> DecoderRoles:
    """``inputs``/``outputs``: (name, dtype, shape with symbols as text) in the model's order."""
    def fail(msg):
        raise SdkError(f"generation: {model}: {msg} (a decoder step needs an integer 'ids' input [batch, 1], past "
                       "key/value inputs with a past-length dim, and outputs: logits, then one present per past input)")

    ids = [k for k, (n, dt, s) in enumerate(inputs) if _is_int(dt) and "ids" in n.lower() and "position" not in n.lower()]
    if len(ids) != 1:
        fail(f"{len(ids)} integer inputs named like 'ids'")
    ids_k = ids[0]
    ids_shape = inputs[ids_k][2]
    if len(ids_shape) != 2 or not isinstance(ids_shape[0], str):
        fail(f"ids input '{inputs[ids_k][0]}' has shape {list(ids_shape)}, expected [batch, 1]")
    batch = ids_shape[0]
    mask = position = None
    cache, axes, past = [], [], None
    for k, (n, dt, s) in enumerate(inputs):
        if k == ids_k:
            continue
        if _is_int(dt) and "mask" in n.lower() and mask is None:
            mask = k
        elif _is_int(dt) and "position" in n.lower() and position is None:
            position = k
        elif dt.startswith("float") or dt == "bfloat16":
            syms = [(a, d) for a, d in enumerate(s) if isinstance(d, str) and d != batch]
            if len(syms) != 1 or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.\-]*", syms[0][1]):
                fail(f"cache input '{n}' {list(s)}: expected one past-length dim besides the batch")
            if past is not None and syms[0][1] != past:
                fail(f"cache inputs disagree on the past-length dim ('{past}', '{syms[0][1]}')")
            past = syms[0][1]
            cache.append(k)
            axes.append(syms[0][0])
        else:
            fail(f"input '{n}' ({dt}{list(s)}) has no role")
    if not cache:
        fail("no past key/value inputs")
    if len(outputs) != 1 + len(cache):
        fail(f"{len(outputs)} outputs for {len(cache)} past inputs")
    logits = outputs[0][2]
    if not logits or not isinstance(logits[-1], int) or any(isinstance(d, int) and d != 1 for d in logits[1:-1]):
        fail(f"logits '{outputs[0][0]}' {list(logits)}: expected [batch, 1, vocab] or [batch, vocab]")
    for j, k in enumerate(cache):
        ps, cs = outputs[1 + j][2], inputs[k][2]
        if len(ps) != len(cs) or any(isinstance(a, int) and a != b for a, b in zip(cs, ps)):
            fail(f"present '{outputs[1 + j][0]}' {list(ps)} does not match past '{inputs[k][0]}' {list(cs)}")
    return DecoderRoles(ids_k, mask, position, tuple(cache), tuple(axes), batch, past, 0,
                        tuple(range(1, 1 + len(cache))), int(logits[-1]))


def onnx_io(model) -> Tuple[list, list]:
    """(inputs, outputs) of an ONNX model as ``find_roles`` takes them (initializers are not inputs)."""
    from ..ops.common import onnx_dtype
    inits = {i.name for i in model.graph.initializer}

    def rows(vis):
        out = []
        for vi in vis:
            if vi.name in inits:
                continue
            t = vi.type.tensor_type
            shape = [d.dim_value if d.HasField("dim_value") else (d.dim_param or "?") for d in t.shape.dim]
            out.append((vi.name, onnx_dtype(t.elem_type), shape))
        return out
    return rows(model.graph.input), rows(model.graph.output)
