"""A Concat's inputs written in place into its output (lowering; no copy step).

SqueezeNet's fire modules concatenate two convolutions' outputs along the channels: as a loop kernel that is one
more pass over both (55x55x128 floats: ~90 us of a 5.5 ms model, one thread). Where every dim before the axis is 1
(batch 1, NCHW channels), each input is one contiguous range of the output, so the steps that computed the inputs
can write there directly: the inputs become views of the output at their element offsets (``Program.alias`` and
``Program.alias_offset``), the output a planned temp, and the code generators (C, LLVM, CUDA) add the offset to
the output's address (``Program.offset_of``). The planner keeps the output alive from the first input's write to
the last read of any of them, and makes no element-wise kernel write a view in place
(``sdk/memory/plan.py``).

Applies when the Concat has no If guard and is not a graph output, all shapes are integers, every dim before the
axis is 1, and each non-empty input is a distinct planned temp that is not a view already (so one tensor is written
into one Concat at most; a second Concat of it copies) or an element-wise result inlined into the Concat (its loop
kernel then writes into the output's range). A function with loops keeps the copy (slot lifetimes across
iterations). A profile's ``[lower] concat_in_place = false`` turns it off."""
from __future__ import annotations

from ..ir.graph import Binding
from ..tir.expr import Buffer, Compute


def concat_in_place(ctx, b: Binding, out_ids) -> bool:
    """Lower Concat binding ``b`` by aliasing its inputs into a new output buffer; False (nothing changed) where it
    does not apply."""
    prog, v = ctx.prog, b.outputs[0]
    if b.guard or id(v) in out_ids or any(x is None for x in b.inputs):
        return False
    ins = [ctx.tensor(x) for x in b.inputs]
    if not all(isinstance(t, (Buffer, Compute)) and (isinstance(t, Buffer) or t.reduce is None) for t in ins):
        return False
    shapes = [v.shape] + [t.shape for t in ins]
    if not all(isinstance(d, int) for s in shapes for d in s):
        return False
    rank = len(v.shape)
    ax = b.attrs.get("axis", 0)
    ax = ax + rank if ax < 0 else ax
    if not 0 <= ax < rank or any(d != 1 for d in v.shape[:ax]):
        return False
    ins = [t for t in ins if t.shape[ax] != 0]
    temps = {id(t) for t in prog.temps}
    bufs = [t for t in ins if isinstance(t, Buffer)]
    if (not ins or len({id(t) for t in bufs}) != len(bufs)
            or any(id(t) not in temps or id(t) in prog.alias for t in bufs)
            or any(t.dtype != v.dtype or len(t.shape) != rank for t in ins)):
        return False
    out = ctx.new_buffer(v.name, v.shape, v.dtype)
    inner = 1
    for d in v.shape[ax + 1:]:
        inner *= d
    off = 0
    for t in ins:
        view = t
        if isinstance(t, Buffer):
            prog.temps.remove(t)  # its storage is the output's now
        else:  # an element-wise result inlined into the Concat: computed straight into its range
            view = Buffer(ctx._uniq("v_" + t.name), t.shape, t.dtype)
        prog.alias[id(view)] = out
        if off:
            prog.alias_offset[id(view)] = off
        prog.views.append(view)
        if view is not t:
            ctx.materialize(t, into=view)
        off += t.shape[ax] * inner
    ctx.tensors[id(v)] = out
    return True
