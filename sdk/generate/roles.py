"""Which input and output of a decoder-step model is what, for ``<name>_generate``.

A decoder step (GPT-2 style, as exported with past key/values) has:

- ``ids``: an integer input ``[batch, 1]`` whose name contains "ids" (the token fed at this step), or
  ``[batch, seq]`` (several tokens per run: the prompt goes in with the first run),
- optionally a ``mask``: an integer input ``[batch, past + 1]`` whose name contains "mask" (all ones: no padding),
- optionally ``position``: an integer input ``[batch, 1]`` whose name contains "position" (the past length),
- the cache: the float inputs named like "past" (every float input when none is), each with one dim that is the
  past length (a symbol, e.g. ``past``),
- context: any other input without the past length (an encoder-decoder's encoder states and their mask), given
  by the caller with the batch first and passed unchanged to every step, and
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
    context: Tuple[int, ...] = ()  # inputs passed through unchanged every step (encoder states, their mask)
    prefill: bool = False     # ids [batch, seq]: the prompt goes in with one run
    parent: Optional[int] = None  # input index of sdk_beam_parent (generate/gather.py), when the model has it
    capacity: Optional[int] = None  # rows per cache block when the step appends in place (transform/kv_cache.py)


def _is_int(dtype: str) -> bool:
    return dtype.startswith("int") or dtype.startswith("uint") or dtype == "bool"


def _is_float(dtype: str) -> bool:
    return dtype.startswith("float") or dtype == "bfloat16"


def _uses(d, name: str) -> bool:
    """Dim text ``d`` ("past + 1", "past") mentions symbol ``name``."""
    return isinstance(d, str) and re.search(rf"(?<![A-Za-z0-9_]){re.escape(name)}(?![A-Za-z0-9_])", d) is not None


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
    if len(ids_shape) != 2 or not isinstance(ids_shape[0], str) or ids_shape[1] not in (1,) and \
            not isinstance(ids_shape[1], str):
        fail(f"ids input '{inputs[ids_k][0]}' has shape {list(ids_shape)}, expected [batch, 1] or [batch, seq]")
    batch = ids_shape[0]
    # the cache: float inputs named like "past" (or every float input when none is)
    named = [k for k, (n, dt, s) in enumerate(inputs) if _is_float(dt) and "past" in n.lower()]
    cache = named or [k for k, (n, dt, s) in enumerate(inputs) if _is_float(dt)]
    axes, past = [], None
    for k in cache:
        n, _, s = inputs[k]
        syms = [(a, d) for a, d in enumerate(s) if isinstance(d, str) and d != batch]
        if len(syms) != 1 or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.\-]*", syms[0][1]):
            fail(f"cache input '{n}' {list(s)}: expected one past-length dim besides the batch")
        if past is not None and syms[0][1] != past:
            fail(f"cache inputs disagree on the past-length dim ('{past}', '{syms[0][1]}')")
        past = syms[0][1]
        axes.append(syms[0][0])
    if not cache:
        fail("no past key/value inputs")
    mask = position = None
    context = []
    for k, (n, dt, s) in enumerate(inputs):
        if k == ids_k or k in cache:
            continue
        others = [d for j, (_, _, t) in enumerate(inputs) if j != k for d in t]
        # the step's own mask covers past + 1 (dynamo: "past + 1"; TorchScript: a symbol of its own, e.g. "total")
        if _is_int(dt) and "mask" in n.lower() and mask is None and len(s) == 2 and \
                (_uses(s[1], past) or (isinstance(s[1], str) and s[1] not in others)):
            mask = k
        elif _is_int(dt) and "position" in n.lower() and position is None:
            position = k
        elif any(_uses(d, past) for d in s):
            fail(f"input '{n}' ({dt}{list(s)}) has a past-length dim but no role")
        else:  # passed through unchanged every step: encoder states, their mask
            context.append(k)
    if len(outputs) != 1 + len(cache):
        fail(f"{len(outputs)} outputs for {len(cache)} past inputs")
    logits = outputs[0][2]
    if not logits or not isinstance(logits[-1], int) or any(isinstance(d, int) and d != 1 for d in logits[1:-1]):
        fail(f"logits '{outputs[0][0]}' {list(logits)}: expected [batch, 1, vocab] or [batch, vocab]")
    for j, k in enumerate(cache):
        ps, cs = outputs[1 + j][2], inputs[k][2]
        if len(ps) != len(cs) or any(isinstance(a, int) and a != b for a, b in zip(cs, ps)):
            fail(f"present '{outputs[1 + j][0]}' {list(ps)} does not match past '{inputs[k][0]}' {list(cs)}")
    for k in context:
        if not inputs[k][2] or inputs[k][2][0] != batch:
            fail(f"context input '{inputs[k][0]}' {list(inputs[k][2])}: its first dim must be the batch")
    prefill = isinstance(ids_shape[1], str)
    if prefill and len(logits) != 3:
        fail(f"logits '{outputs[0][0]}' {list(logits)}: a step over [batch, seq] tokens needs [batch, seq, vocab]")
    return DecoderRoles(ids_k, mask, position, tuple(cache), tuple(axes), batch, past, 0,
                        tuple(range(1, 1 + len(cache))), int(logits[-1]), tuple(context), prefill)


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
            # an output may be declared without a type (elem_type 0: shape inference gives it): dtype "" (unknown)
            out.append((vi.name, onnx_dtype(t.elem_type) if t.elem_type else "", shape))
        return out
    return rows(model.graph.input), rows(model.graph.output)


def empty_cache_dims(model) -> Tuple[str, ...]:
    """The past-length symbols of a model that takes a key/value cache: float inputs named like "past" with one
    symbolic dim besides the first (batch). Such a dim may be 0 at run time (the first step runs with an empty
    cache), so ``sdk.compile`` lets it be 0 without being told. A symbol that is also a dim of an input that is not
    a cache is left out (0 there would empty that input)."""
    inputs, _ = onnx_io(model)
    found, others = set(), set()
    for n, dt, s in inputs:
        if _is_float(dt) and "past" in n.lower() and len(s) >= 2:
            syms = [d for d in s[1:] if isinstance(d, str) and d != s[0]]
            if len(syms) == 1 and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.\-]*", syms[0]):
                found.add(syms[0])
                continue
        others.update(d for d in s if isinstance(d, str))
    return tuple(sorted(found - others))
