"""ONNX control flow -> graph IR.

``If``: a constant condition imports the taken branch inline. Otherwise both branches' nodes are imported
into the function, each binding guarded by the condition (``Binding.guard``: the generated C runs its steps
under ``if (cond)``), and an ``IfMerge`` binding writes the taken branch's results into one planned slot
(outputs whose shapes differ between branches get run-time dims).

``Loop`` / ``Scan``: the body's nodes are imported between a ``LoopBegin`` binding (the loop counter, the
condition and the loop-carried values, in planned slots; for Scan, the current slices of the scan inputs)
and a ``LoopEnd`` binding (copies the body's results back into the carried slots, appends scan-output rows).
The generated C wraps the steps between them in a ``for`` loop. Scan-output rows are bounded by the trip
count's bound: a constant, the scanned dim, or ``--dim <output>_dim0=MAX``.
"""
from __future__ import annotations

import re

import numpy as np
from onnx import helper

from ..errors import ImportError_, ShapeError, UnsupportedOp
from ..ir.graph import Binding, Value
from ..ops import Node, get


def add_binding(imp, op, nname, ins, out_names, attrs=None, base=None):
    """Append a binding of a registered op (its shape rule gives the output types); returns the outputs."""
    from .onnx import c_name
    nd = Node(op, nname, ins, dict(attrs or {}), len(out_names), imp.opset)
    nd.new_runtime_sym = imp.new_runtime_sym
    nd.equalities = imp.equalities
    nd.out_base = re.sub(r"[^A-Za-z0-9_]", "_", base or (out_names[0] if out_names and out_names[0] else nname))
    types = get(op).infer(nd)
    outs = []
    for k, oname in enumerate(out_names):
        v = Value(c_name(oname or f"{nname}_out{k}", imp.used), types[k])
        v.onnx_name = oname
        if oname:
            imp.values[oname] = v
        outs.append(v)
    imp.bindings.append(Binding(op, list(ins), outs, dict(attrs or {}), nname, rt=dict(nd.rt), guard=list(imp.guard)))
    imp.products.extend(nd.products)
    imp.dim_checks.extend(c for c in nd.dim_checks if c not in imp.dim_checks)
    return outs


def _graph_attr(node, name):
    for a in node.attribute:
        if a.name == name:
            return a.g
    raise ImportError_(f"node '{node.name}' ({node.op_type}): attribute {name} is missing")


def _import_branch(imp, g, nname, scope_vals):
    """Import a subgraph's nodes with the outer values visible; returns its output values. Names defined
    inside are dropped from the scope afterwards (the other branch may reuse them)."""
    from onnx import numpy_helper

    from ..ir.graph import TensorType
    from .onnx import _dt, c_name
    saved = dict(imp.values)
    for name, v in scope_vals.items():
        imp.values[name] = v
    for init in g.initializer:
        arr = numpy_helper.to_array(init)
        imp.values[init.name] = Value(c_name(init.name, imp.used), TensorType(arr.shape, _dt(arr)), const=arr)
    imp.import_nodes(g.node, scope=f"{nname}_")
    try:
        outs = [imp.values[o.name] for o in g.output]
    except KeyError as e:
        raise ImportError_(f"node '{nname}': subgraph output {e} is not produced") from None
    imp.values.clear()
    imp.values.update(saved)
    return outs


def import_if(imp, node, nname, ins):
    if not ins or ins[0] is None:  # found by bench/fuzz.py: was an IndexError
        raise ImportError_(f"node '{nname}' (If): no condition input")
    cond = ins[0]
    then_g, else_g = _graph_attr(node, "then_branch"), _graph_attr(node, "else_branch")
    outs_names = list(node.output)
    if cond.const is not None:  # decided at compile time: the taken branch only
        taken = then_g if bool(np.asarray(cond.const).reshape(-1)[0]) else else_g
        res = _import_branch(imp, taken, nname, {})
        for oname, v in zip(outs_names, res):
            if oname:
                imp.values[oname] = v
        return
    if cond.dtype != "bool":
        raise ShapeError(f"If '{nname}': the condition must be bool, not {cond.dtype}")
    branches = []
    for flag, g in ((True, then_g), (False, else_g)):
        imp.guard.append((cond, flag))
        try:
            branches.append(_import_branch(imp, g, nname, {}))
        finally:
            imp.guard.pop()
    if len(branches[0]) != len(branches[1]) or len(branches[0]) != len(outs_names):
        raise ImportError_(f"If '{nname}': branches have {len(branches[0])} and {len(branches[1])} outputs, "
                           f"the node {len(outs_names)}")
    add_binding(imp, "IfMerge", nname, [cond] + branches[0] + branches[1], outs_names)


def _loop(imp, node, nname, trip_ins, carried, scans, body, begin_attrs, end_attrs):
    """LoopBegin, the body's nodes, LoopEnd; returns nothing (the node's outputs are registered)."""
    nc = len(carried)
    body_in = [i.name for i in body.input]
    names = ([f"{nname}_iter", f"{nname}_cond"] + body_in) if len(body_in) == nc + len(scans) else body_in
    begin_name = f"{nname}_begin"
    begin = add_binding(imp, "LoopBegin", begin_name, list(trip_ins) + list(carried) + list(scans), names,
                        dict(begin_attrs, n_carried=nc))
    begin_b = imp.bindings[-1]
    steps = _counter_values(imp, body, begin, begin_b, trip_ins[0] if trip_ins else None, carried, len(scans))
    res = _import_branch(imp, body, nname, {})
    _check_counters(nname, steps, begin, res)
    if len(body_in) == nc + len(scans):  # Scan: no condition output
        res = [None] + res
    if len(res) < 1 + nc:
        raise ImportError_(f"{node.op_type} '{nname}': the body has {len(res)} outputs, expected at least {1 + nc}")
    add_binding(imp, "LoopEnd", nname, begin[:2] + begin[2:2 + nc] + res, list(node.output),
                dict(end_attrs, n_carried=nc, begin=begin_name, iter_sym=begin_b.rt["iter"]),
                base=node.output[nc] if len(node.output) > nc else None)  # rows: named after the first scan output
    end_b = imp.bindings[-1]
    if "dim0" in end_b.rt:
        begin_b.attrs["rows"] = end_b.rt["dim0"]


def _const_scalar(imp, name, made, inits, depth=4):
    """The integer a body-local name holds when it is a constant scalar (a Constant node, an initializer, an outer
    constant, through Cast / CastLike / Identity / Reshape / Squeeze / Unsqueeze), else None."""
    if depth < 0:
        return None
    if name in inits:
        arr = inits[name]
    elif name in made:
        n = made[name]
        if n.op_type == "Constant":
            from .onnx import _constant_node
            arr = _constant_node(n)
        elif n.op_type in ("Cast", "CastLike", "Identity", "Reshape", "Squeeze", "Unsqueeze") and n.input:
            return _const_scalar(imp, n.input[0], made, inits, depth - 1)
        else:
            return None
    else:
        v = imp.values.get(name)
        arr = v.const if v is not None else None
    if arr is None or np.asarray(arr).size != 1 or np.asarray(arr).dtype.kind not in "iu":
        return None
    return int(np.asarray(arr).reshape(-1)[0])


def _counter_values(imp, body, begin, begin_b, trip, carried, n_scans):
    """Give the loop's counters their symbolic values inside the body: the iteration number is ``it``, and a
    carried integer scalar whose body output is itself plus a constant ``s`` (a while loop's own counter, as the
    dynamo exporter writes them) is ``c0 + s*it`` where its initial value c0 is known. With a trip count T >= 1
    known, ``it`` is written ``min(it, T - 1)`` (equal in every iteration), so that Slices at ``c[k] : c[k] + 1``
    of a tensor of T (+ 1) rows keep a length of 1 instead of becoming run-time dims. {carried index: s}."""
    from onnx import numpy_helper

    from ..ir import sym
    it = sym.var(begin_b.rt["iter"], lo=0)
    t = trip.known_ints() if trip is not None else None
    if t is not None and len(t) == 1 and sym.range_of(t[0])[0] >= 1:
        it = sym.smin(it, sym.sub(t[0], 1))
    begin[0].sym_value = [it]
    nc = len(carried)
    if len(body.input) != 2 + nc + n_scans or len(body.output) < 1 + nc:
        return {}
    made = {o: n for n in body.node for o in n.output}
    inits = {i.name: numpy_helper.to_array(i) for i in body.initializer}
    steps = {}
    for k, v in enumerate(carried):
        c0 = v.known_ints() if v is not None else None
        if c0 is None or len(c0) != 1 or not v.dtype.startswith(("int", "uint")) or v.rank > 1:
            continue
        n = made.get(body.output[1 + k].name)
        c_in = body.input[2 + k].name
        if n is None or n.op_type not in ("Add", "Sub") or len(n.input) != 2 or c_in not in n.input:
            continue
        other = n.input[1] if n.input[0] == c_in else n.input[0]
        if other == c_in or (n.op_type == "Sub" and n.input[0] != c_in):
            continue
        s = _const_scalar(imp, other, made, inits)
        if s is None:
            continue
        s = -s if n.op_type == "Sub" else s
        steps[k] = s
        begin[2 + k].sym_value = [sym.add(c0[0], sym.mul(s, it))]
    return steps


def _check_counters(nname, steps, begin, res):
    """Each counter's body output must be its input plus its step (what _counter_values assumed)."""
    from ..ir import sym
    for k, s in steps.items():
        out_v = res[1 + k]
        got = out_v.known_ints() if out_v is not None else None
        if got is None or len(got) != 1 or not sym.prove_eq(sym.sub(got[0], begin[2 + k].sym_value[0]), s):
            raise ImportError_(f"Loop '{nname}': carried counter {k} was taken to step by {s}, its body gives "
                               f"{got}")


def import_loop(imp, node, nname, ins):
    body = _graph_attr(node, "body")
    ins = list(ins) + [None] * max(0, 2 - len(ins))
    m, cond, carried = ins[0], ins[1], ins[2:]
    trip_bound = None
    if m is not None and m.const is not None:
        trip_bound = max(int(np.asarray(m.const).reshape(-1)[0]), 0)
    elif m is not None and m.known_ints() is not None and len(m.known_ints()) == 1:
        from ..ir import sym  # a trip count made from the input dims (a loop over a batch): scan rows <= it
        t = m.known_ints()[0]
        trip_bound = t if sym.range_of(t)[0] >= 0 else sym.smax(t, 0)
    _loop(imp, node, nname, [m, cond], carried, [], body, {}, {"trip_bound": trip_bound})


def import_scan(imp, node, nname, ins):
    if imp.opset < 9:
        raise UnsupportedOp("Scan", nname, "opset 8 Scan (batched, sequence_lens) is not supported; use opset >= 9")
    body = _graph_attr(node, "body")
    attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute if a.name != "body"}
    m = attrs["num_scan_inputs"]
    carried, scans = ins[:len(ins) - m], ins[len(ins) - m:]
    axes = [a + v.rank if a < 0 else a for a, v in zip(attrs.get("scan_input_axes", [0] * m), scans)]
    n_out = len(body.output) - len(carried)
    if any(a != 0 for a in attrs.get("scan_output_axes", [0] * n_out)):
        raise UnsupportedOp("Scan", nname, "scan_output_axes other than 0")
    trip = scans[0].shape[axes[0]]
    _loop(imp, node, nname, [None, None], carried, scans, body,
          {"trip": trip, "axes": axes, "directions": list(attrs.get("scan_input_directions", [0] * m))},
          {"trip": trip, "out_directions": list(attrs.get("scan_output_directions", [0] * n_out))})


CONTROL_FLOW = {"If": import_if, "Loop": import_loop, "Scan": import_scan}
