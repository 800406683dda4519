"""Control-flow ops that the importer creates (``sdk/frontend/control_flow.py``).

``IfMerge(cond, then..., else...)``: each output is a planned slot that the taken branch's value is copied
into (the copies run under ``if (cond)`` / ``if (!cond)``). Dims that differ between the branches become
run-time dims, bounded by the larger branch.
"""
from __future__ import annotations

from ..ir import sym
from ..ir.graph import TensorType
from ..tir.expr import Compute, Const, as_expr
from .common import out, same_dim
from .registry import register


def _role(k, a):
    return f"dim{a}" if k == 0 else f"out{k}_dim{a}"


def _ifmerge_infer(n):
    k = n.n_outputs
    thens, elses = n.inputs[1:1 + k], n.inputs[1 + k:1 + 2 * k]
    outs = []
    for j, (t, e) in enumerate(zip(thens, elses)):
        if t.dtype != e.dtype or t.rank != e.rank:  # legal ONNX, but one slot cannot hold either
            raise n.unsupported(f"output {j} is {t.type} in one branch and {e.type} in the other")
        shape = [a if same_dim(a, b) else n.runtime_sym(_role(j, i), bound=sym.smax(a, b))
                 for i, (a, b) in enumerate(zip(t.shape, e.shape))]
        outs.append(TensorType(tuple(shape), t.dtype))
    return outs


def _ifmerge_lower(ctx, n):
    k = n.n_outputs
    cond = ctx.buffer(n.inputs[0])
    outs = []
    for j in range(k):
        y = ctx.new_buffer(f"{n.name}_{j}", n.out_types[j].shape, n.out_types[j].dtype)
        for flag, src_v in ((True, n.inputs[1 + j]), (False, n.inputs[1 + k + j])):
            ctx.guards.append((cond, flag))
            defs = [(n.rt[_role(j, i)], as_expr(d)) for i, d in enumerate(src_v.shape) if _role(j, i) in n.rt]
            if defs:
                ctx.bind_dims(f"{n.name}_{j}_{'then' if flag else 'else'}", defs)
            src = ctx.tensor(src_v)
            ctx.materialize(Compute(f"{n.name}_{j}_{'then' if flag else 'else'}", y.shape, y.dtype,
                                    lambda i, src=src: src[i]), into=y)
            ctx.guards.pop()
        outs.append(y)
    return outs


register("IfMerge", _ifmerge_infer, _ifmerge_lower, "opaque")


# ---------------------------------------------------------------- Loop / Scan
# LoopBegin(M, cond, carried..., scan inputs...) -> (iter, cond_in, carried_in..., scan slices...)
# LoopEnd(iter, cond_in, carried_in..., cond_out, carried_out..., scan values...) -> (carried..., scan outputs...)
def _begin_infer(n):
    nc = n.attr("n_carried")
    carried = n.inputs[2:2 + nc]
    scans = n.inputs[2 + nc:]
    n.runtime_sym("iter", is_dim=False)
    outs = [TensorType((), "int64"), TensorType((), "bool")] + [v.type for v in carried]
    for v, ax in zip(scans, n.attr("axes", [])):
        outs.append(TensorType(tuple(d for a, d in enumerate(v.shape) if a != ax), v.dtype))
    return outs


def _copy(ctx, name, src_v, dst):
    src = ctx.tensor(src_v) if not hasattr(src_v, "read") else src_v
    ctx.materialize(Compute(name, dst.shape, dst.dtype, lambda i: src[i]), into=dst)


def _begin_lower(ctx, n):
    from ..tir.expr import Const, LoopHead
    nc = n.attr("n_carried")
    counter = ctx.new_buffer(n.name + "_iter", (), "int64")
    cond_in = ctx.new_buffer(n.name + "_cond", (), "bool")
    if n.input(1) is not None:
        _copy(ctx, n.name + "_cond_init", n.inputs[1], cond_in)
    else:
        ctx.materialize(Compute(n.name + "_cond_init", (), "bool", lambda i: Const(1, "bool")), into=cond_in)
    carried = []
    for k, v in enumerate(n.inputs[2:2 + nc]):
        b = ctx.new_buffer(f"{n.name}_carried{k}", v.shape, v.dtype)
        _copy(ctx, f"{n.name}_init{k}", v, b)
        carried.append(b)
    trip = n.attr("trip")
    if trip is None and n.input(0) is not None:
        trip = ctx.buffer(n.inputs[0])
    rows = n.attr("rows")
    bound = None
    if rows is not None:
        r = ctx.prog.func.runtime_syms[rows]
        if r.bound is None:
            from ..ir.runtime_syms import bound_error
            raise bound_error(r)
        bound = r.bound
    it_name = n.rt["iter"]
    ctx.add_step(LoopHead(n.name, counter, trip, cond_in, it_name, bound))
    it = as_expr(sym.var(it_name, lo=0))  # the iteration index counts from 0
    slices = []
    for v, ax, rev in zip(n.inputs[2 + nc:], n.attr("axes", []), n.attr("directions", [])):
        x = ctx.tensor(v)
        row = (as_expr(v.shape[ax]) - 1 - it) if rev else it
        slices.append(Compute(f"{n.name}_slice", tuple(d for a, d in enumerate(v.shape) if a != ax), v.dtype,
                              lambda i, x=x, ax=ax, row=row: x[list(i[:ax]) + [row] + list(i[ax:])]))
    return [counter, cond_in] + carried + slices


def _end_parts(n):
    nc = n.attr("n_carried")
    ins = n.inputs
    return ins[2:2 + nc], ins[2 + nc], ins[3 + nc:3 + 2 * nc], ins[3 + 2 * nc:]


def _end_infer(n):
    carried_in, _, carried_out, scans = _end_parts(n)
    outs = []
    for k, (a, b) in enumerate(zip(carried_in, carried_out)):
        if b is None or a.dtype != b.dtype or a.rank != b.rank or not all(same_dim(x, y) for x, y in zip(a.shape, b.shape)):
            raise n.unsupported(f"loop-carried value {k} changes type or shape in the body "
                                f"({a.type} -> {b.type if b is not None else None})")
        outs.append(a.type)
    trip = n.attr("trip")
    for j, v in enumerate(scans):
        if trip is None:  # a Loop: as many rows as iterations, known at run time
            trip = n.runtime_sym("dim0", bound=n.attr("trip_bound"))
        outs.append(TensorType((trip,) + tuple(v.shape), v.dtype))
    return outs


def _end_lower(ctx, n):
    from ..tir.build import buffers_read
    from ..tir.expr import For, Kernel, Load, LoopTail, Store, Var
    carried_in, cond_out, carried_out, scans = _end_parts(n)
    nc = len(carried_in)
    it = as_expr(sym.var(n.attr("iter_sym"), lo=0))
    ys = []
    for j, v in enumerate(scans):  # this iteration's row of each scan output
        y = ctx.new_buffer(f"{n.name}_scan{j}", n.out_types[nc + j].shape, v.dtype)
        rev = (n.attr("out_directions") or [0] * len(scans))[j]
        row = (as_expr(n.out_types[nc + j].shape[0]) - 1 - it) if rev else it
        src = ctx.tensor(v)
        idx = [Var(f"i{a}", "int64") for a in range(v.rank)]
        body = Store(y, [row] + idx, src[idx])
        for a in range(v.rank - 1, -1, -1):
            body = For(idx[a], as_expr(v.shape[a]), body, "serial")
        ctx.kernel(Kernel(f"k_{n.name}_row{j}", body, buffers_read(body), [y]))
        ys.append(y)
    dst = [ctx.buffer(v) for v in carried_in]
    srcs = []
    for k, v in enumerate(carried_out):  # a body output that is a carried slot itself: copy it aside first
        t = ctx.tensor(v)
        if any(isinstance(t, type(d)) and ctx.prog.root(t) is d for d in dst):
            tmp = ctx.new_buffer(f"{n.name}_swap{k}", t.shape, t.dtype)
            _copy(ctx, f"{n.name}_swap{k}", t, tmp)
            t = tmp
        srcs.append(t)
    for k, (t, d) in enumerate(zip(srcs, dst)):
        if t is not d:
            _copy(ctx, f"{n.name}_carry{k}", t, d)
    if cond_out is not None:
        _copy(ctx, n.name + "_cond_next", cond_out, ctx.buffer(n.inputs[1]))
    ctx.add_step(LoopTail(n.attr("begin")))
    if "dim0" in n.rt:  # rows written = iterations run
        ctx.bind_dims(n.name, [(n.rt["dim0"], Load(ctx.buffer(n.inputs[0]), [], "int64"))])
    return dst + ys


register("LoopBegin", _begin_infer, _begin_lower, "opaque")
register("LoopEnd", _end_infer, _end_lower, "opaque")


# ---------------------------------------------------------------- Optional* on plain tensors
# Optional-typed values (sequence/optional graph inputs) are not supported; what remains is a tensor given where an
# optional is accepted, or no input at all: OptionalHasElement is then a constant, OptionalGetElement the tensor.
def _has_element_infer(n):
    return out((), "bool")


def _has_element_value(n):
    return [[1 if n.input(0) is not None else 0]]


def _has_element_lower(ctx, n):
    flag = 1 if n.input(0) is not None else 0
    return [Compute(n.name, (), "bool", lambda i: Const(flag, "bool"))]


register("OptionalHasElement", _has_element_infer, _has_element_lower, symbolic=_has_element_value)


def _get_element_infer(n):
    if n.input(0) is None:
        raise n.unsupported("an empty optional (no input)")
    return out(n.inputs[0].shape, n.inputs[0].dtype)


def _get_element_lower(ctx, n):
    x = ctx.tensor(n.inputs[0])
    return [Compute(n.name, x.shape, x.dtype, lambda i: x[i])]


register("OptionalGetElement", _get_element_infer, _get_element_lower, "view")
