"""Beam search without a separate reorder of the key/value cache: the step model gets one more input,
``sdk_beam_parent`` (int64 ``[batch]``), and reads every cache input through ``Gather(past, sdk_beam_parent, axis=0)``.

After each beam step, row i of the next step's past is row ``parent[i]`` of the present just written. The loop used
to copy the whole cache into that order (a memcpy per row and cache tensor, every step) before the step copied it
again into its present (``Concat(past, new)``). With the gather in the model the step's own copy does both: lowering
inlines the Gather into the Concat's loop (its only reader), so the present is written in beam order in one pass.
Greedy decoding and sampling pass the identity (0, 1, ..., rows - 1).

``Shape`` readers keep the raw input (same shape). It applies when every cache input has one other reader (its
``Concat``): with two (the question generator's history is also read for its last row) the gathered copy would be
materialised, an extra copy every step even when greedy, so such a model, and one with subgraphs (If, Loop, Scan),
is left as it is (``roles.parent`` stays None: the loop reorders beams by copying the cache rows).
The step's C API (``<name>_run``) then has the extra input last; ``sdk/generate/reference.py`` runs the model as
exported."""
from __future__ import annotations

import dataclasses

from .roles import DecoderRoles

PARENT = "sdk_beam_parent"


def with_beam_parent(model, roles: DecoderRoles):
    """(model, roles): a copy of the ONNX ``model`` whose cache inputs are read through the parent gather, and the
    roles with ``parent`` set to the new input's index; the model and roles unchanged when it does not apply."""
    import onnx
    from onnx import TensorProto, helper
    g = model.graph
    if any(a.type in (onnx.AttributeProto.GRAPH, onnx.AttributeProto.GRAPHS) for n in g.node for a in n.attribute):
        return model, roles
    inits = {i.name for i in g.initializer}
    real = [vi for vi in g.input if vi.name not in inits]
    if any(vi.name == PARENT for vi in real):
        return model, roles
    m = onnx.ModelProto()
    m.CopyFrom(model)
    g = m.graph
    gathered = {}
    for k in roles.cache:
        name = real[k].name
        gathered[name] = f"{name}_sdk_beam_gathered"
    uses = {name: 0 for name in gathered}
    for n in g.node:
        if n.op_type != "Shape":
            for x in n.input:
                if x in uses:
                    uses[x] += 1
    if any(u != 1 for u in uses.values()):  # the gathered copy would be materialised: an extra copy every step
        return model, roles
    for n in g.node:
        if n.op_type == "Shape":
            continue
        for i, x in enumerate(n.input):
            if x in gathered:
                n.input[i] = gathered[x]
    for o in g.output:  # a cache input passed straight through to an output (not a present): keep it raw
        if o.name in gathered:
            return model, roles
    gathers = [helper.make_node("Gather", [raw, PARENT], [out], axis=0, name=f"{raw}_sdk_beam_gather")
               for raw, out in gathered.items()]
    nodes = gathers + list(g.node)
    del g.node[:]
    g.node.extend(nodes)
    g.input.append(helper.make_tensor_value_info(PARENT, TensorProto.INT64, [roles.batch]))
    return m, dataclasses.replace(roles, parent=len(real))
