"""Tensor sequences of a length known at compile time -> plain tensors (an ONNX -> ONNX rewrite before import).

The TorchScript exporter writes Python lists of tensors as ONNX sequences: ``torch.tensor_split`` and list
comprehensions become ``SequenceEmpty`` -> a ``Loop`` of constant trip count whose body ``SequenceInsert``s one
slice an iteration -> ``SequenceAt`` with constant positions (torchvision's MViT does this in every pooling
attention). The compiler has no sequence type; where the sequence's length and every position are known at
compile time it needs none:

1. a main-graph ``Loop`` that carries a sequence, with a constant trip count (at most ``MAX_UNROLL``), no
   condition (or a constant true one that the body passes on unchanged) and no nested subgraphs is unrolled:
   its body's nodes copied once per iteration, the iteration number a constant, scan outputs stacked;
2. the sequence ops are then followed as lists of tensor names: ``SequenceEmpty`` / ``SequenceConstruct`` /
   ``SequenceInsert`` / ``SequenceErase`` at constant positions build the lists, ``SequenceAt`` becomes an
   ``Identity`` of one element, ``SequenceLength`` a constant, ``ConcatFromSequence`` a ``Concat`` (of
   ``Unsqueeze``\\ d elements with ``new_axis``), ``SplitToSequence`` with a constant list of lengths a ``Split``.

A sequence op this cannot resolve (a position computed at run time, a sequence into a Loop it cannot unroll)
is refused with UnsupportedOp naming the node and why.
"""
from __future__ import annotations

from typing import Dict, List, Optional

import numpy as np
import onnx
from onnx import helper, numpy_helper

from ..errors import UnsupportedOp
from .node_fields import node_attr as _attr

SEQ_OPS = {"SequenceEmpty", "SequenceConstruct", "SequenceInsert", "SequenceErase", "SequenceAt",
           "SequenceLength", "ConcatFromSequence", "SplitToSequence"}
MAX_UNROLL = 64


def _consts(g: onnx.GraphProto) -> Dict[str, np.ndarray]:
    vals = {i.name: numpy_helper.to_array(i) for i in g.initializer}
    for n in g.node:
        if n.op_type == "Constant" and n.attribute and n.attribute[0].name == "value":
            vals[n.output[0]] = numpy_helper.to_array(n.attribute[0].t)
    return vals


class _Names:
    def __init__(self, g):
        self.taken = {t for n in g.node for t in list(n.input) + list(n.output)} | {i.name for i in g.initializer} \
            | {i.name for i in g.input} | {n.name for n in g.node}

    def __call__(self, stem: str) -> str:
        k, name = 0, stem
        while name in self.taken:
            k += 1
            name = f"{stem}__{k}"
        self.taken.add(name)
        return name


def _const_node(names, value, stem) -> onnx.NodeProto:
    out = names(stem)
    return helper.make_node("Constant", [], [out], name=names(stem + "_node"),
                            value=numpy_helper.from_array(np.asarray(value), out))


def _has_subgraph(g: onnx.GraphProto) -> bool:
    return any(a.type in (onnx.AttributeProto.GRAPH, onnx.AttributeProto.GRAPHS) for n in g.node for a in n.attribute)


def _unrollable(node, consts, seq_names) -> Optional[int]:
    """The trip count of a Loop this pass unrolls, else None."""
    if node.op_type != "Loop" or len(node.input) < 2 or not any(v in seq_names for v in node.input[2:]):
        return None
    body = next(a.g for a in node.attribute if a.name == "body")
    trip = consts.get(node.input[0]) if node.input[0] else None
    if trip is None or trip.size != 1 or not 0 < int(trip.reshape(-1)[0]) <= MAX_UNROLL or _has_subgraph(body):
        return None
    cond = node.input[1]
    if cond and not (cond in consts and bool(consts[cond].reshape(-1)[0])):
        return None
    # the body's condition output: its condition input passed through, or a constant true
    body_consts = _consts(body) | consts
    made = {o: n for n in body.node for o in n.output}
    c_out = body.output[0].name
    while c_out in made and made[c_out].op_type == "Identity":
        c_out = made[c_out].input[0]
    if c_out != body.input[1].name and not (c_out in body_consts and bool(body_consts[c_out].reshape(-1)[0])):
        return None
    return int(trip.reshape(-1)[0])


def _unroll(node, trip, names) -> List[onnx.NodeProto]:
    """The nodes of ``trip`` copies of the Loop's body; the Loop's outputs named as before."""
    body = next(a.g for a in node.attribute if a.name == "body")
    n_carried = len(node.input) - 2
    carried = list(node.input[2:])
    scans: List[List[str]] = [[] for _ in range(len(body.output) - 1 - n_carried)]
    nodes = []
    for it in range(trip):
        ren: Dict[str, str] = {}
        k = _const_node(names, np.array(it, np.int64), f"{node.name}_iter{it}")
        t = _const_node(names, np.array(True), f"{node.name}_cond{it}")
        nodes += [k, t]
        ren[body.input[0].name] = k.output[0]
        ren[body.input[1].name] = t.output[0]
        for vi, v in zip(body.input[2:], carried):
            ren[vi.name] = v
        for init in body.initializer:
            c = _const_node(names, numpy_helper.to_array(init), f"{init.name}_it{it}")
            ren[init.name] = c.output[0]
            nodes.append(c)
        for bn in body.node:
            m = onnx.NodeProto()
            m.CopyFrom(bn)
            m.name = names(f"{bn.name or bn.op_type}_it{it}")
            for j, i in enumerate(bn.input):
                m.input[j] = ren.get(i, i)
            for j, o in enumerate(bn.output):
                if o:
                    ren[o] = m.output[j] = names(f"{o}_it{it}")
            nodes.append(m)
        outs = [ren.get(o.name, o.name) for o in body.output]
        carried = outs[1:1 + n_carried]
        for s, o in zip(scans, outs[1 + n_carried:]):
            s.append(o)
    for final, v in zip(node.output[:n_carried], carried):
        if final:
            nodes.append(helper.make_node("Identity", [v], [final], name=names(f"{node.name}_out")))
    for final, parts in zip(node.output[n_carried:], scans):
        if not final:
            continue
        axes = _const_node(names, np.array([0], np.int64), f"{node.name}_axes")
        nodes.append(axes)
        rows = []
        for p in parts:
            r = names(f"{p}_row")
            nodes.append(helper.make_node("Unsqueeze", [p, axes.output[0]], [r], name=names(f"{node.name}_unsq")))
            rows.append(r)
        nodes.append(helper.make_node("Concat", rows, [final], name=names(f"{node.name}_scan"), axis=0))
    return nodes


def _resolve(g, consts, names) -> List[onnx.NodeProto]:
    """The main graph's nodes with sequence ops replaced; UnsupportedOp naming the first one that cannot be."""
    seqs: Dict[str, List[str]] = {}
    nodes = []

    unknown = "a position not known at compile time"

    def pos(name, length, insert=False):
        if not name:
            return length if insert else length - 1
        if name not in consts:
            return None
        p = int(consts[name].reshape(-1)[0])
        p = p + length if p < 0 else p
        return p if 0 <= p <= length - (0 if insert else 1) else None

    for n in g.node:
        op = n.op_type
        if op == "Identity" and n.input[0] in seqs:
            seqs[n.output[0]] = seqs[n.input[0]]
            continue
        if op not in SEQ_OPS:
            if any(i in seqs for i in n.input):  # a Loop this pass did not unroll, an If, ...
                raise UnsupportedOp(op, n.name, "a tensor sequence as input (only sequences of a length known at "
                                    "compile time, read at constant positions, are supported)")
            nodes.append(n)
            continue
        if op == "SequenceEmpty":
            seqs[n.output[0]] = []
        elif op == "SequenceConstruct":
            seqs[n.output[0]] = list(n.input)
        elif op in ("SequenceInsert", "SequenceErase"):
            if n.input[0] not in seqs:
                raise UnsupportedOp(op, n.name, "a sequence this compiler cannot follow")
            s = list(seqs[n.input[0]])
            if op == "SequenceInsert":
                p = pos(n.input[2] if len(n.input) > 2 else "", len(s), insert=True)
                if p is None:
                    raise UnsupportedOp(op, n.name, unknown)
                s.insert(p, n.input[1])
            else:
                p = pos(n.input[1] if len(n.input) > 1 else "", len(s))
                if p is None:
                    raise UnsupportedOp(op, n.name, unknown)
                del s[p]
            seqs[n.output[0]] = s
        elif op == "SequenceAt":
            s = seqs.get(n.input[0])
            p = None if s is None else pos(n.input[1], len(s))
            if p is None:
                raise UnsupportedOp(op, n.name, unknown)
            nodes.append(helper.make_node("Identity", [s[p]], [n.output[0]], name=n.name))
        elif op == "SequenceLength":
            if n.input[0] not in seqs:
                raise UnsupportedOp(op, n.name, "a sequence this compiler cannot follow")
            nodes.append(helper.make_node("Constant", [], [n.output[0]], name=n.name,
                                          value=numpy_helper.from_array(np.array(len(seqs[n.input[0]]), np.int64))))
        elif op == "ConcatFromSequence":
            s = seqs.get(n.input[0])
            if not s:
                raise UnsupportedOp(op, n.name, "an empty sequence or one this compiler cannot follow")
            axis = _attr(n, "axis", 0)
            if _attr(n, "new_axis", 0):
                if axis < 0:  # it counts from the output's rank, which this pass does not know
                    raise UnsupportedOp(op, n.name, "new_axis with a negative axis")
                ax = _const_node(names, np.array([axis], np.int64), f"{n.name}_axes")
                nodes.append(ax)
                rows = []
                for e in s:
                    r = names(f"{e}_unsq")
                    nodes.append(helper.make_node("Unsqueeze", [e, ax.output[0]], [r], name=names(f"{n.name}_unsq")))
                    rows.append(r)
                s = rows
            nodes.append(helper.make_node("Concat", s, [n.output[0]], name=n.name, axis=axis))
        elif op == "SplitToSequence":
            split = consts.get(n.input[1]) if len(n.input) > 1 and n.input[1] else None
            if split is None or split.ndim != 1:  # a scalar split: the count depends on the input's length
                raise UnsupportedOp(op, n.name, "only a constant 1-d split (a sequence of known length)")
            parts = [names(f"{n.output[0]}_{k}") for k in range(len(split))]
            nodes.append(helper.make_node("Split", [n.input[0], n.input[1]], parts, name=n.name,
                                          axis=_attr(n, "axis", 0)))
            seqs[n.output[0]] = parts
    out = next((o.name for o in g.output if o.name in seqs), None)
    if out is not None:
        raise UnsupportedOp("sequence output", out, "graph outputs must be tensors")
    return nodes


def _names_used(g: onnx.GraphProto) -> set:
    """Every name read in ``g`` and its subgraphs (their outer-scope reads included)."""
    used = {o.name for o in g.output}
    for n in g.node:
        used.update(n.input)
        for a in n.attribute:
            for sub in ([a.g] if a.type == onnx.AttributeProto.GRAPH else list(a.graphs)):
                used |= _names_used(sub)
    return used


def _appended_sequences(node, g, made) -> List[int]:
    """Carried values k of Loop ``node`` that are a list built one tensor an iteration: it starts as
    ``SequenceEmpty``, the body's only use of it is one ``SequenceInsert(seq, t)`` at the end which is its next
    value, and after the loop only ``ConcatFromSequence`` along axis 0 reads it (the dynamo exporter's form of
    ``torch.stack`` / ``torch.cat`` over a Python loop, e.g. EmbeddingBag's per-bag sums)."""
    body = next(a.g for a in node.attribute if a.name == "body")
    body_made = {o: n for n in body.node for o in n.output}
    outer_used = _names_used(helper.make_graph([n for n in g.node if n is not node], "rest", [], [], []))
    readers = [n for n in g.node if n is not node]
    out = []
    for k, v in enumerate(node.input[2:]):
        if k >= len(body.input) - 2 or v not in made or made[v].op_type != "SequenceEmpty":
            continue
        s_in, s_out = body.input[2 + k].name, body.output[1 + k].name
        ins = body_made.get(s_out)
        if ins is None or ins.op_type != "SequenceInsert" or len(ins.input) != 2 or ins.input[0] != s_in:
            continue
        rest = helper.make_graph([n for n in body.node if n is not ins], "b", [], [o for o in body.output
                                                                                if o.name != s_out], [])
        if s_in in _names_used(rest) or s_out in _names_used(rest):
            continue
        final = node.output[k] if k < len(node.output) else ""
        users = [n for n in readers if final in n.input]
        if not final or final in {o.name for o in g.output} or final in (outer_used - {
                i for n in users for i in n.input}) or not users or any(
                n.op_type != "ConcatFromSequence" or _attr(n, "axis", 0) != 0 for n in users):
            continue
        out.append(k)
    return out


def _to_scan_outputs(node, ks, g, names):
    """Loop ``node`` with its appended sequences ``ks`` (see ``_appended_sequences``) as scan outputs (the
    inserted tensors stacked on a new axis 0). Returns the new Loop and {name of a ConcatFromSequence that read
    one: its replacement nodes}: an Identity of the stack (``new_axis``), else the stack with its first two axes
    merged (a concatenation along axis 0)."""
    body = onnx.GraphProto()
    body.CopyFrom(next(a.g for a in node.attribute if a.name == "body"))
    scans = []
    for k in ks:
        s_out = body.output[1 + k].name
        ins = next(n for n in body.node if s_out in n.output)
        scans.append(ins.input[1])
        body.node.remove(ins)
    outs = [o for j, o in enumerate(body.output) if j - 1 not in ks]
    ins = [i for j, i in enumerate(body.input) if j - 2 not in ks]
    del body.input[:]
    body.input.extend(ins)
    del body.output[:]
    body.output.extend(outs + [helper.make_tensor_value_info(t, onnx.TensorProto.UNDEFINED, None) for t in scans])
    nc = len(node.input) - 2
    stacked = {node.output[k]: names(f"{node.output[k]}_stacked") for k in ks}
    loop_outs = [o for j, o in enumerate(node.output) if j >= nc or j not in ks] + [stacked[node.output[k]] for k in ks]
    attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute if a.name != "body"}
    loop = helper.make_node("Loop", [i for j, i in enumerate(node.input) if j - 2 not in ks], loop_outs,
                            name=node.name, body=body, **attrs)
    repl = {}
    for n in g.node:
        if n.op_type != "ConcatFromSequence" or n.input[0] not in stacked:
            continue
        src, dst = stacked[n.input[0]], n.output[0]
        if _attr(n, "new_axis", 0):
            repl[n.name] = [helper.make_node("Identity", [src], [dst], name=n.name)]
            continue
        sh, tail, shape = names(f"{dst}_shape"), names(f"{dst}_tail"), names(f"{dst}_target")
        c = [_const_node(names, np.array(v, np.int64), f"{dst}_{k}") for k, v in
             (("start", [2]), ("end", [2 ** 62]), ("lead", [-1]))]
        repl[n.name] = c + [
            helper.make_node("Shape", [src], [sh], name=names(f"{n.name}_shape")),
            helper.make_node("Slice", [sh, c[0].output[0], c[1].output[0]], [tail], name=names(f"{n.name}_tail")),
            helper.make_node("Concat", [c[2].output[0], tail], [shape], name=names(f"{n.name}_target"), axis=0),
            helper.make_node("Reshape", [src, shape], [dst], name=n.name)]
    return loop, repl


def _counted_trip(node, consts, names) -> Optional[onnx.NodeProto]:
    """A trip count for a Loop without one whose body counts: a carried c from a constant c0, next c + 1, and
    the condition c + 1 < L (L from outside the body; the loop's first condition c0 < L): the loop runs at most
    L - c0 times, so M = L - c0 changes nothing but bounds its scan outputs (the dynamo exporter's while loops).
    The node computing M (its output the trip count), or None."""
    if node.input[0] or len(node.input) < 3:
        return None
    body = next(a.g for a in node.attribute if a.name == "body")
    made = {o: n for n in body.node for o in n.output}
    local = set(made) | {i.name for i in body.input}
    cond = made.get(body.output[0].name)
    if cond is None or cond.op_type != "Less":
        return None
    nxt, lim = cond.input
    if lim in local:
        return None
    for k in range(len(node.input) - 2):
        if 2 + k >= len(body.input) or body.output[1 + k].name != nxt:
            continue
        add = made.get(nxt)
        c_in = body.input[2 + k].name
        if add is None or add.op_type != "Add" or c_in not in add.input:
            return None
        one = add.input[1] if add.input[0] == c_in else add.input[0]
        src = made.get(one)
        if src is not None and src.op_type == "CastLike":
            one = src.input[0]
        c0 = consts.get(node.input[2 + k])
        if one in local or consts.get(one) is None or consts[one].size != 1 or int(consts[one].reshape(-1)[0]) != 1 \
                or c0 is None or c0.size != 1:
            return None
        return helper.make_node("Sub", [lim, node.input[2 + k]], [names(f"{node.name}_trip_count")],
                                name=names(f"{node.name}_trip"))
    return None


def resolve_sequences(model: onnx.ModelProto) -> onnx.ModelProto:
    """``model`` with its sequences resolved as the module says (a copy; ``model`` itself when it has none);
    UnsupportedOp naming the first sequence op that cannot be."""
    g = model.graph
    if not any(n.op_type in SEQ_OPS or (n.op_type == "Loop" and any(
            b.op_type in SEQ_OPS for a in n.attribute if a.name == "body" for b in a.g.node)) for n in g.node):
        return model
    m = onnx.ModelProto()
    m.CopyFrom(model)
    g = m.graph
    names = _Names(g)
    consts = _consts(g)
    made = {o: n for n in g.node for o in n.output}
    nodes, repl = [], {}
    for n in g.node:
        ks = _appended_sequences(n, g, made) if n.op_type == "Loop" else []
        if ks:
            loop, r = _to_scan_outputs(n, ks, g, names)
            repl.update(r)
            trip = _counted_trip(loop, consts, names)
            if trip is not None:
                loop.input[0] = trip.output[0]
                nodes.append(trip)
            n = loop
        nodes += repl.get(n.name, [n]) if n.op_type == "ConcatFromSequence" else [n]
    del g.node[:]
    g.node.extend(nodes)
    seq_names = {o for n in g.node if n.op_type in SEQ_OPS for o in n.output}
    nodes = []
    for n in g.node:
        trip = _unrollable(n, consts, seq_names)
        if trip is None:
            nodes.append(n)
            continue
        new = _unroll(n, trip, names)
        nodes += new
        consts.update(_consts(helper.make_graph(new, "u", [], [])))
        seq_names |= {o for x in new if x.op_type in SEQ_OPS for o in x.output} | set(n.output)
    del g.node[:]
    g.node.extend(nodes)
    resolved = _resolve(g, consts, names)
    del g.node[:]
    g.node.extend(resolved)
    return m
