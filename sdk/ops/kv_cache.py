"""``KVCacheAppend`` (made by ``sdk/transform/kv_cache.py`` in a generation step): the present key/value cache as
the past one grown by one row, in a cache laid out with room for ``cap`` rows per (batch, head) block, so the
generation loop can pass the same memory as past and present and only the new row is written."""
from __future__ import annotations

from ..ir import sym
from ..ir.graph import TensorType
from .registry import register


def _infer(n):
    past = n.inputs[0]
    B, H, P, D = past.shape
    return [TensorType((B, H, sym.add(P, 1), D), past.dtype)]


def _lower(ctx, n):
    """One ``sdk_kv_append_f32`` call: past (a graph input), the new row [B, H, 1, D] (materialised, dense) and the
    parent rows (``sdk_beam_parent``, or none) -> present, a graph output. The output's size check asks for the
    whole capacity (``Program.min_bytes``): the call writes blocks ``cap`` rows apart."""
    from .. import kernels
    past, new = n.inputs[0], n.inputs[1]
    parent = n.input(2)
    B, H, P, D = past.shape
    cap = int(n.attr("cap"))
    Y = ctx.new_buffer(n.name, n.out_types[0].shape, "float32")
    ctx.prog.min_bytes[id(Y)] = sym.mul(sym.mul(B, H), cap * int(D) * 4)
    ctx.lib(kernels.call("sdk_kv_append_f32", B=B, H=H, P=P, D=D, cap=cap, past=ctx.buffer(past),
                         parent=ctx.buffer(parent) if parent is not None else None, Xn=ctx.buffer(new),
                         x_bs=sym.mul(H, D), x_hs=D, present=Y))
    return [Y]


register("KVCacheAppend", _infer, _lower, "opaque")
