"""Shape and data-movement ops. Symbolic dims flow through all of them."""
from __future__ import annotations

import numpy as np

from ..errors import ShapeError
from ..ir import sym
from ..ir.graph import TensorType
from ..tir.expr import Compute, Const, Load, as_expr, binop, emax, emin, select
from .common import assume_equal, bcast_read, broadcast_shapes, norm_axis, nth_unflagged, out, ravel, require_le, runtime_axes, unravel
from .registry import register

BIG = 2 ** 62


def _numel(shape):
    n = 1
    for d in shape:
        n = sym.mul(n, d)
    return n


def _remap(ctx, n, shape):
    """Compute for a reshape-like op: same elements in row-major order."""
    x = ctx.tensor(n.inputs[0])
    if tuple(x.shape) == tuple(shape):
        return [Compute(n.name, shape, x.dtype, lambda i: x[i])]
    return [Compute(n.name, shape, x.dtype, lambda i: x[unravel(ravel(i, shape), x.shape)])]


def _view(name, shape_fn, symbolic=None, bind=None):
    def infer(n):
        return out(shape_fn(n), n.inputs[0].dtype)

    def lower(ctx, n):
        if bind is not None:
            bind(ctx, n)
        return _remap(ctx, n, n.out_types[0].shape)

    def sym_eval(n):
        vals = n.inputs[0].known_ints()
        return None if vals is None else [list(vals)]

    register(name, infer, lower, "view", symbolic=symbolic or sym_eval)


def _reshape_shape(n):
    x = n.inputs[0]
    if n.input(1) is not None and n.inputs[1].known_ints() is None:
        return _reshape_runtime_shape(n)
    target = n.const_ints(1, "shape")
    allowzero = n.attr("allowzero", 0)
    dims, infer_at = [], None
    for k, d in enumerate(target):
        if d == -1:
            infer_at = k
            dims.append(1)
        elif d == 0 and not allowzero:
            dims.append(x.shape[k])
        else:
            dims.append(d)
    if infer_at is not None and sym.is_static(_numel(dims)) and int(_numel(dims)) == 0:
        raise ShapeError(f"Reshape '{n.name}': cannot infer the -1 dim next to a zero-sized dim")  # bench/fuzz.py
    got = _reshape_fit(x.shape, dims, infer_at)
    if got is None:  # the target's dims from the input's Shape by another formula (the dynamo exporter's own)
        got = _reshape_fit(x.shape, [sym.reduce_by(d, n.equalities) for d in dims], infer_at)
    if got is None:
        # a target dim at an input dim's position that may equal it at run time (one length, two formulas that
        # agree on part of the bounds): matched when the element counts then agree, checked at run time
        pos = [k for k, d in enumerate(dims[:x.rank]) if k != infer_at and not sym.is_static(d)
               and not sym.is_static(x.shape[k]) and not sym.same_dim(d, x.shape[k]) and not sym.prove_ne(d, x.shape[k])]
        if pos and _reshape_fit(x.shape, [x.shape[k] if k in pos else d for k, d in enumerate(dims)], infer_at):
            error = f"Reshape '{n.name}': cannot reshape {TensorType(x.shape, x.dtype)} to {[sym.to_str(d) for d in dims]}"
            for k in pos:
                dims[k] = assume_equal(n, x.shape[k], dims[k], error)
            got = _reshape_fit(x.shape, dims, infer_at)
    if got is None:
        got = _reshape_merge_match(n, x.shape, dims, infer_at)
    if got is None:
        shown = list(dims)
        if infer_at is not None:
            shown[infer_at] = sym.floordiv(_numel(x.shape), _numel(dims))
        raise ShapeError(f"Reshape '{n.name}': cannot reshape {TensorType(x.shape, x.dtype)} to {[sym.to_str(d) for d in shown]}")
    return got


def _reshape_merge_match(n, shape, dims, infer_at):
    """A Reshape that keeps the leading and trailing dims and merges the input dims between them into one target
    dim given by another formula (PVTv2's tokens: ``(max(h - 1, 0) + 1) * (max(w - 1, 0) + 1)`` for the conv
    output's ``h * w``, equal whenever h, w >= 1), or splits one input dim into target dims whose product is
    given by another formula (Swin2SR: ``16*((h + 3) // 4)*((w + 3) // 4)`` tokens into ``h`` rows of ``w``, equal
    when the image needs no padding to the window): the two products are matched (checked at run time); None
    when the dims do not have this form or the products provably differ."""
    if infer_at is not None:
        return None
    lo = 0
    while lo < min(len(shape), len(dims)) and sym.same_dim(shape[lo], dims[lo]):
        lo += 1
    hi = 0
    while hi < min(len(shape), len(dims)) - lo and sym.same_dim(shape[-1 - hi], dims[-1 - hi]):
        hi += 1
    mid, src = dims[lo:len(dims) - hi], shape[lo:len(shape) - hi]
    if not mid or not src or (len(mid) != 1 and len(src) != 1):
        return None
    p_src, p_mid = _numel(src), _numel(mid)
    if sym.is_static(p_src) or sym.is_static(p_mid) or sym.prove_ne(p_src, p_mid):
        return None
    error = f"Reshape '{n.name}': cannot reshape {TensorType(shape, n.inputs[0].dtype)} to {[sym.to_str(d) for d in dims]}"
    if len(mid) == 1:
        mid = [assume_equal(n, p_src, mid[0], error)]
    else:  # one input dim split into the target's (Swin2SR's tokens of the window-padded image into its rows)
        assume_equal(n, p_mid, p_src, error)
    return list(dims[:lo]) + list(mid) + list(dims[len(dims) - hi:])


def _reshape_fit(shape, dims, infer_at):
    """``dims`` with the -1 at ``infer_at`` (a 1 there) inferred, when the element counts agree; else None."""
    dims = list(dims)
    if infer_at is not None:
        dims[infer_at] = sym.floordiv(_numel(shape), _numel(dims))
    return dims if sym.sub(_numel(dims), _numel(shape)) == 0 else None


def _reshape_runtime_shape(n):
    """Reshape to a shape tensor known only at run time: one run-time symbol per dim, each <= numel(x),
    with prod(dims) == numel(x) (checked at run time; the planner sizes what follows at numel(x))."""
    x, s = n.inputs
    if s.rank != 1 or not sym.is_static(s.shape[0]):
        raise n.unsupported("a run-time shape tensor must be 1-D of a fixed length")
    numel = _numel(x.shape)
    if s.shape[0] == 1:
        return [numel]
    empty = sym.is_static(numel) and numel == 0  # then any dims with a 0 fit: the user bounds them
    dims = [n.runtime_sym(f"dim{k}", bound=None if empty else numel) for k in range(s.shape[0])]
    n.products.append((tuple(n.rt[f"dim{k}"] for k in range(len(dims))), numel))
    return dims


SAT = 2 ** 31  # products of untrusted shape values saturate here: no int64 overflow in the checks


def _reshape_runtime_bind(ctx, n):
    """Bind a run-time Reshape's dims: 0 copies the input dim (unless allowzero), -1 is inferred."""
    from ..tir.expr import binop
    x, s = n.inputs
    numel = _numel(x.shape)
    sb = ctx.buffer(s)
    allowzero = n.attr("allowzero", 0)
    lim = Const(SAT)  # untrusted values: clamped so the products below cannot overflow (bounds check the rest)
    raw = []
    for k in range(s.shape[0]):
        v = emin(emax(Load(sb, [Const(k)], "int64"), -1), lim)  # beyond numel is invalid anyway
        if not allowzero and k < x.rank:
            v = select(_eq(v, 0), as_expr(x.shape[k]), v)
        raw.append(v)

    def prod(vals):
        p = Const(1)
        for v in vals:
            p = emin(p, SAT) * v
        return p

    known = prod([select(_eq(v, -1), Const(1), v) for v in raw])
    dims = [select(_eq(v, -1), as_expr(numel) // emax(known, 1), v) for v in raw]
    if s.shape[0] == 1:
        ctx.bind_dims(n.name, [], [(_eq(dims[0], as_expr(numel)), "SDK_ERR_BAD_VALUE")])
        return
    names = [n.rt[f"dim{k}"] for k in range(len(dims))]
    ctx.bind_dims(n.name, list(zip(names, dims)),
                  [(_eq(prod([as_expr(sym.var(m, lo=0)) for m in names]), as_expr(numel)), "SDK_ERR_BAD_VALUE")])


def _flatten_shape(n):
    x = n.inputs[0]
    ax = n.attr("axis", 1)
    ax = ax + x.rank if ax < 0 else ax
    return [_numel(x.shape[:ax]), _numel(x.shape[ax:])]


def _axes(n, idx=1):
    if n.opset >= 13 and n.input(idx) is not None:
        return n.const_ints(idx, "axes")
    return n.attr("axes")


def _runtime_axes_input(n):
    """Squeeze / Unsqueeze whose axes are a tensor known only at run time (1-D, of a fixed length)."""
    if not (n.opset >= 13 and n.input(1) is not None and n.inputs[1].known_ints() is None):
        return None
    a = n.inputs[1]
    if a.rank != 1 or not sym.is_static(a.shape[0]):
        raise n.unsupported("run-time axes must be 1-D of a fixed length")
    return int(a.shape[0])


def _smax(dims):
    b = 1
    for d in dims:
        b = sym.smax(b, d)
    return b


def _squeeze_shape(n):
    x = n.inputs[0]
    m = _runtime_axes_input(n)
    if m is not None:  # output dim j: the j-th input dim not named, one of dims j .. j + m
        if m > x.rank:
            raise n.unsupported(f"{m} axes for rank {x.rank}")
        return [n.runtime_sym(f"dim{j}", bound=_smax(x.shape[j:j + m + 1])) for j in range(x.rank - m)]
    axes = _axes(n)
    if axes is None:
        return [d for d in x.shape if d != 1]
    axes = {norm_axis(a, x.rank, n) for a in axes}
    return [d for k, d in enumerate(x.shape) if k not in axes]


def _unsqueeze_shape(n):
    x = n.inputs[0]
    m = _runtime_axes_input(n)
    if m is not None:  # output dim j: 1 if named, else input dim j - (axes named before j), one of j - m .. j
        return [n.runtime_sym(f"dim{j}", bound=_smax(x.shape[max(0, j - m):j + 1])) for j in range(x.rank + m)]
    axes = _axes(n)
    r = x.rank + len(axes)
    axes = sorted(norm_axis(a, r, n) for a in axes)
    dims, it = [], iter(x.shape)
    for k in range(r):
        dims.append(1 if k in axes else next(it))
    return dims


def _reshape_bind(ctx, n):
    if n.input(1) is not None and n.inputs[1].known_ints() is None:
        _reshape_runtime_bind(ctx, n)


_view("Reshape", _reshape_shape, bind=_reshape_bind)
_view("Flatten", _flatten_shape)
def _squeeze_bind(ctx, n):
    m = _runtime_axes_input(n)
    if m is None:
        return
    x = n.inputs[0]
    flags, checks = runtime_axes(ctx, n, 1, x.rank)
    for f, d in zip(flags, x.shape):  # a squeezed dim must be 1
        checks.append((binop("||", binop("==", select(f, Const(1), Const(0)), Const(0)),
                              binop("==", as_expr(d), Const(1))), "SDK_ERR_BAD_VALUE"))
    ctx.bind_dims(n.name, [(n.rt[f"dim{j}"], nth_unflagged(flags, x.shape, j)) for j in range(x.rank - m)], checks)


def _unsqueeze_bind(ctx, n):
    m = _runtime_axes_input(n)
    if m is None:
        return
    x = n.inputs[0]
    r = x.rank + m
    flags, checks = runtime_axes(ctx, n, 1, r)
    defs, before = [], Const(0)
    for j in range(r):
        d = Const(0)
        for k, xd in enumerate(x.shape):
            d = d + select(binop("==", Const(j) - before, Const(k)), as_expr(xd), Const(0))
        defs.append((n.rt[f"dim{j}"], select(flags[j], Const(1), d)))
        before = before + select(flags[j], Const(1), Const(0))
    ctx.bind_dims(n.name, defs, checks)


_view("Squeeze", _squeeze_shape, bind=_squeeze_bind)
_view("Unsqueeze", _unsqueeze_shape, bind=_unsqueeze_bind)


def _dropout_infer(n):
    x = n.inputs[0]
    outs = [TensorType(x.shape, x.dtype)]
    if n.n_outputs > 1:
        outs.append(TensorType(x.shape, "bool"))
    return outs


def _dropout_lower(ctx, n):
    if n.input(2) is not None and (n.inputs[2].const is None or bool(n.inputs[2].const)):
        raise n.unsupported("training_mode=True is not supported (inference only)")
    x = ctx.tensor(n.inputs[0])
    outs = [Compute(n.name, x.shape, x.dtype, lambda i: x[i])]
    if n.n_outputs > 1:
        outs.append(Compute(n.name + "_mask", x.shape, "bool", lambda i: Const(1, "bool")))
    return outs


register("Dropout", _dropout_infer, _dropout_lower, "view")


# ---------------------------------------------------------------- Shape, Size
def _shape_range(n):
    r = n.inputs[0].rank
    start = n.attr("start", 0)
    end = n.attr("end", r)
    start = min(max(start + r if start < 0 else start, 0), r)
    end = min(max(end + r if end < 0 else end, 0), r)
    return list(n.inputs[0].shape[start:end])


def _dims_compute(name, dims):
    def body(i):
        e = as_expr(dims[-1])
        for k in range(len(dims) - 2, -1, -1):
            e = select(_eq(i[0], k), as_expr(dims[k]), e)
        return e
    return Compute(name, (len(dims),), "int64", body)


def _eq(a, k):
    from ..tir.expr import binop
    return binop("==", a, k)


register("Shape", lambda n: out((len(_shape_range(n)),), "int64"),
         lambda ctx, n: [_dims_compute(n.name, _shape_range(n))], "injective",
         symbolic=lambda n: [_shape_range(n)])
register("Size", lambda n: out((), "int64"),
         lambda ctx, n: [Compute(n.name, (), "int64", lambda i: as_expr(_numel(n.inputs[0].shape)))],
         "injective", symbolic=lambda n: [[_numel(n.inputs[0].shape)]])


# ---------------------------------------------------------------- Transpose
def _perm(n):
    r = n.inputs[0].rank
    p = n.attr("perm")
    return list(range(r - 1, -1, -1)) if p is None else [norm_axis(a, r, n) for a in p]


def _transpose_lower(ctx, n):
    x = ctx.tensor(n.inputs[0])
    p = _perm(n)
    inv = [p.index(k) for k in range(len(p))]
    return [Compute(n.name, n.out_types[0].shape, x.dtype, lambda i: x[[i[inv[k]] for k in range(len(p))]])]


def _transpose_sym(n):
    arr = _known_array(n.inputs[0])
    return None if arr is None else [list(np.transpose(arr, _perm(n)).reshape(-1))]


register("Transpose", lambda n: out([n.inputs[0].shape[k] for k in _perm(n)], n.inputs[0].dtype), _transpose_lower,
         symbolic=_transpose_sym)


# ---------------------------------------------------------------- Concat, Split
def _concat_infer(n):
    ins = [v for v in n.inputs if v is not None]
    r = ins[0].rank
    ax = norm_axis(n.attr("axis"), r, n)
    total = 0
    for v in ins:
        if v.rank != r:
            raise ShapeError(f"Concat '{n.name}': inputs of different rank")
        total = sym.add(total, v.shape[ax])
    shape = list(ins[0].shape)
    shape[ax] = total
    return out(shape, ins[0].dtype)


def _concat_lower(ctx, n):
    ins = [ctx.tensor(v) for v in n.inputs if v is not None]
    ax = norm_axis(n.attr("axis"), len(ins[0].shape), n)
    ins = [t for t in ins if t.shape[ax] != 0]
    offs, o = [], 0
    for t in ins:
        offs.append(o)
        o = sym.add(o, t.shape[ax])

    def body(i):
        def read(k):
            j = list(i)
            j[ax] = i[ax] - as_expr(offs[k])
            return ins[k][j]
        e = read(len(ins) - 1)
        for k in range(len(ins) - 2, -1, -1):
            e = select(i[ax] < as_expr(offs[k + 1]), read(k), e)
        return e

    return [Compute(n.name, n.out_types[0].shape, ins[0].dtype, body)]


def _concat_sym(n):
    vals = [v.known_ints() for v in n.inputs if v is not None]
    if any(v is None for v in vals) or n.inputs[0].rank != 1:
        return None
    return [[d for v in vals for d in v]]


register("Concat", _concat_infer, _concat_lower, symbolic=_concat_sym)


def _split_sizes(n):
    x = n.inputs[0]
    ax = norm_axis(n.attr("axis", 0), x.rank, n)
    sizes = None
    if n.input(1) is not None and n.inputs[1].known_ints() is None:  # sizes known at run time (_split_bind)
        sp = n.inputs[1]
        if sp.rank != 1 or not sym.is_static(sp.shape[0]) or int(sp.shape[0]) != n.n_outputs:
            raise n.unsupported("run-time split sizes must be 1-D, one per output")
        sizes = [n.runtime_sym(f"part{k}", bound=x.shape[ax]) for k in range(n.n_outputs)]
    elif n.input(1) is not None:
        sizes = n.const_ints(1, "split")
    elif n.attr("split") is not None:
        sizes = list(n.attr("split"))
    if sizes is None:
        k = n.attr("num_outputs", n.n_outputs)
        d = x.shape[ax]
        if not sym.is_static(d):
            sizes = [sym.floordiv(d, k)] * k
        else:
            chunk = -(-d // k)
            sizes = [chunk] * (k - 1) + [d - chunk * (k - 1)]
    return ax, sizes


def _split_infer(n):
    x = n.inputs[0]
    ax, sizes = _split_sizes(n)
    outs = []
    for s in sizes:
        shape = list(x.shape)
        shape[ax] = s
        outs.append(TensorType(tuple(shape), x.dtype))
    return outs


def _split_bind(ctx, n, ax):
    """Run-time split sizes: each part's length (0 <= it <= the axis, checked by bind_dims), summing to the axis."""
    from ..tir.expr import binop, cast
    b = ctx.buffer(n.inputs[1])
    vals = [cast(Load(b, [Const(k)], b.dtype), "int64") for k in range(n.n_outputs)]
    total = Const(0)
    for v in vals:
        total = total + emax(emin(v, Const(SAT)), Const(-1))  # clamped: no overflow before the bounds checks
    ctx.bind_dims(n.name, [(n.rt[f"part{k}"], v) for k, v in enumerate(vals)],
                  [(binop("==", total, as_expr(n.inputs[0].shape[ax])), "SDK_ERR_BAD_VALUE")])


def _split_lower(ctx, n):
    x = ctx.tensor(n.inputs[0])
    ax, sizes = _split_sizes(n)
    if n.input(1) is not None and n.inputs[1].known_ints() is None:
        _split_bind(ctx, n, ax)
    outs, off = [], 0
    for k, s in enumerate(sizes):
        def body(i, off=off):
            j = list(i)
            j[ax] = i[ax] + as_expr(off)
            return x[j]
        outs.append(Compute(f"{n.name}_{k}", n.out_types[k].shape, x.dtype, body))
        off = sym.add(off, s)
    return outs


register("Split", _split_infer, _split_lower)


# ---------------------------------------------------------------- Slice
def _slice_runtime(n):
    """starts/ends known only at run time: per sliced axis a run-time start (a value) and length (a dim,
    bounded by the input dim); steps and axes must be constants."""
    x = n.inputs[0]
    k = n.inputs[1].shape[0]
    if not sym.is_static(k):
        raise n.unsupported("run-time starts must be 1-D of a fixed length")
    axes = n.const_ints(3, "axes") if n.input(3) is not None else list(range(k))
    steps = n.const_ints(4, "steps") if n.input(4) is not None else [1] * k
    res = {}
    for j, (a, st) in enumerate(zip(axes, steps)):
        a = norm_axis(a, x.rank, n)
        if not sym.is_static(st) or st == 0:
            raise n.unsupported("steps must be non-zero constants")
        res[a] = (n.runtime_sym(f"start{a}", is_dim=False), st, n.runtime_sym(f"dim{a}", bound=x.shape[a]), j)
    return res


def _slice_bind(ctx, n):
    """start/length of each run-time sliced axis, clamped as ONNX says (negative counts from the end)."""
    from ..tir.expr import cast
    x = n.inputs[0]
    defs = []
    for a, (_, st, _, j) in _slice_runtime(n).items():
        d = as_expr(x.shape[a])

        def val(i, default):
            v = n.input(i)
            if v is None:
                return Const(default)
            known = v.known_ints()
            if known is not None:
                return as_expr(known[j])
            b = ctx.buffer(v)
            return cast(Load(b, [Const(j)], b.dtype), "int64")

        s, e = val(1, 0), val(2, 0)
        s, e = select(s < 0, s + d, s), select(e < 0, e + d, e)
        if st > 0:
            s, e = emin(emax(s, 0), d), emin(emax(e, 0), d)
            length = (e - s + (st - 1)) // st
        else:
            s, e = emin(emax(s, -1), d - 1), emin(emax(e, -1), d - 1)
            length = (s - e + (-st - 1)) // (-st)
        defs += [(n.rt[f"start{a}"], s), (n.rt[f"dim{a}"], emax(length, 0))]
    ctx.bind_dims(n.name, defs)


def _slice_is_runtime(n):
    return n.opset >= 10 and any(n.input(i) is not None and n.inputs[i].known_ints() is None for i in (1, 2, 3, 4))


def _slice_all_runtime(n):
    """axes or steps known only at run time: every dim gets a run-time start and step (values) and length."""
    return n.opset >= 10 and any(n.input(i) is not None and n.inputs[i].known_ints() is None for i in (3, 4))


def _slice_all_params(n):
    x = n.inputs[0]
    k = n.inputs[1].shape[0]
    if not sym.is_static(k) or any(n.input(i) is not None and n.inputs[i].shape[0] != k for i in (2, 3, 4)):
        raise n.unsupported("run-time starts / ends / axes / steps must be 1-D of one fixed length")
    return {a: (n.runtime_sym(f"start{a}", is_dim=False), n.runtime_sym(f"step{a}", is_dim=False),
                n.runtime_sym(f"dim{a}", bound=x.shape[a])) for a in range(x.rank)}


def _slice_all_bind(ctx, n):
    """Per dim: the entry of axes naming it (none: the whole dim), its start / end / step clamped as ONNX says."""
    from ..tir.expr import binop, cast
    x = n.inputs[0]
    r, k = x.rank, int(n.inputs[1].shape[0])

    def vals(i, default):
        v = n.input(i)
        if v is None:
            return [Const(default(j)) for j in range(k)]
        known = v.known_ints()
        if known is not None:
            return [as_expr(known[j]) for j in range(k)]
        b = ctx.buffer(v)
        return [cast(Load(b, [Const(j)], b.dtype), "int64") for j in range(k)]

    starts, ends, axes, steps = vals(1, None), vals(2, None), vals(3, lambda j: j), vals(4, lambda j: 1)
    checks = [(binop("&&", a >= -r, a < r), "SDK_ERR_BAD_VALUE") for a in axes]
    checks += [(binop("!=", st, Const(0)), "SDK_ERR_BAD_VALUE") for st in steps]
    defs = []
    for a in range(r):
        d = as_expr(x.shape[a])
        named, s, e, st = None, Const(0), d, Const(1)
        times = Const(0)
        for j in range(k):
            hit = binop("||", binop("==", axes[j], Const(a)), binop("==", axes[j], Const(a - r)))
            named = hit if named is None else binop("||", named, hit)
            s, e, st = select(hit, starts[j], s), select(hit, ends[j], e), select(hit, steps[j], st)
            times = times + select(hit, Const(1), Const(0))
        checks.append((times <= 1, "SDK_ERR_BAD_VALUE"))  # an axis named twice
        s, e = select(s < 0, s + d, s), select(e < 0, e + d, e)
        st = emin(emax(st, -SAT), SAT)  # a step beyond the dim takes one element: no overflow below
        up = st > 0
        s = select(up, emin(emax(s, 0), d), emin(emax(s, -1), d - 1))
        e = select(up, emin(emax(e, 0), d), emin(emax(e, -1), d - 1))
        length = select(up, (e - s + st - 1) // emax(st, 1), (s - e + (Const(0) - st) - 1) // emax(Const(0) - st, 1))
        defs += [(n.rt[f"start{a}"], s), (n.rt[f"step{a}"], st), (n.rt[f"dim{a}"], emax(length, 0))]
    ctx.bind_dims(n.name, defs, checks)


def _slice_params(n):
    x = n.inputs[0]
    if _slice_all_runtime(n):
        return _slice_all_params(n)
    if _slice_is_runtime(n):
        return {a: (s, st, ln) for a, (s, st, ln, _) in _slice_runtime(n).items()}
    if n.opset < 10:
        starts, ends, axes, steps = n.attr("starts"), n.attr("ends"), n.attr("axes"), None
    else:
        starts, ends = n.const_ints(1, "starts"), n.const_ints(2, "ends")
        axes = n.const_ints(3, "axes") if n.input(3) is not None else None
        steps = n.const_ints(4, "steps") if n.input(4) is not None else None
    axes = list(range(len(starts))) if axes is None else [norm_axis(a, x.rank, n) for a in axes]
    steps = [1] * len(starts) if steps is None else steps
    res = {}
    for s, e, a, st in zip(starts, ends, axes, steps):
        d = x.shape[a]
        if not sym.is_static(st) or st == 0:
            raise n.unsupported("steps must be non-zero constants")
        res[a] = _slice_axis(s, e, st, d, n)
    return res


def _clampidx(v, d, lo, hi_off):
    """Clamp v (int or dim, negative counts from the end) into [lo, d + hi_off]."""
    if sym.is_static(v) and v >= BIG:
        return sym.add(d, hi_off)
    vlo, vhi = sym.range_of(v)
    if vhi < 0:
        v = sym.add(d, v)
    elif vlo < 0:
        return v  # sign unknown at compile time (kept as before: a symbolic index is taken as is)
    return sym.smin(sym.smax(v, lo), sym.add(d, hi_off))


def _slice_axis(s, e, st, d, n):
    if sym.range_of(d)[0] < 0:
        # a dim whose formula may go negative (SEW's pooled length (samples + 20) // 40 - 1) is >= 0 in every
        # valid run: clamping by max(d, 0) gives the same indices there, and the length the same form as a
        # Slice of a tensor whose dim already is max(d, 0)
        d = sym.smax(d, 0)
    if st > 0:
        start = _clampidx(s, d, 0, 0)
        if sym.is_static(e) and e <= -BIG:
            end = 0
        else:
            end = _clampidx(e, d, 0, 0)
        length = sym.floordiv(sym.add(sym.sub(end, start), st - 1), st)
    else:
        start = _clampidx(s, d, -1, -1) if not (sym.is_static(s) and s >= BIG) else sym.sub(d, 1)
        if sym.is_static(e) and e <= -BIG:
            end = -1
        else:
            end = _clampidx(e, d, -1, -1)
        length = sym.floordiv(sym.add(sym.sub(start, end), -st - 1), -st)
    return start, st, sym.smax(length, 0)  # an empty slice, never a negative length


def _slice_infer(n):
    x = n.inputs[0]
    p = _slice_params(n)
    return out([p[a][2] if a in p else d for a, d in enumerate(x.shape)], x.dtype)


def _slice_lower(ctx, n):
    if _slice_all_runtime(n):
        _slice_all_bind(ctx, n)
    elif _slice_is_runtime(n):
        _slice_bind(ctx, n)
    x = ctx.tensor(n.inputs[0])
    p = _slice_params(n)

    def body(i):
        return x[[as_expr(p[a][0]) + i[a] * as_expr(p[a][1]) if a in p else i[a] for a in range(len(i))]]

    return [Compute(n.name, n.out_types[0].shape, x.dtype, body)]


def _known_array(v):
    """A small int tensor known at compile time (constant or symbolic entries) as a numpy object array of its
    static shape, or None."""
    vals = v.known_ints()
    if vals is None or not all(sym.is_static(d) for d in v.shape):
        return None
    arr = np.empty(len(vals), dtype=object)
    arr[:] = list(vals)
    return arr.reshape([int(d) for d in v.shape])


def _slice_sym(n):
    """Any rank (TorchScript's F.pad reverses a [k, 2] table of pads with a step -1 Slice along axis 0)."""
    x = n.inputs[0]
    arr = _known_array(x)
    if arr is None or x.rank == 0 or _slice_is_runtime(n):
        return None
    params = _slice_params(n)
    idx = []
    for a in range(x.rank):
        start, st, length = params.get(a, (0, 1, x.shape[a]))
        if not all(sym.is_static(v) for v in (start, length)):
            return None
        idx.append([start + k * st for k in range(length)])
    return [list(arr[np.ix_(*idx)].reshape(-1))]


register("Slice", _slice_infer, _slice_lower, symbolic=_slice_sym)


# ---------------------------------------------------------------- Gather
def _gather_infer(n):
    x, ind = n.inputs
    ax = norm_axis(n.attr("axis", 0), x.rank, n)
    return out(list(x.shape[:ax]) + list(ind.shape) + list(x.shape[ax + 1:]), x.dtype)


def _safe_index(v, d):
    """Negative indices count from the end; clamp so bad data never reads out of bounds."""
    v = select(v < 0, v + as_expr(d), v)
    return emin(emax(v, 0), as_expr(d) - 1)


def _gather_lower(ctx, n):
    x, ind = ctx.tensor(n.inputs[0]), ctx.tensor(n.inputs[1])
    ax = norm_axis(n.attr("axis", 0), len(x.shape), n)
    r = len(ind.shape)

    def body(i):
        k = ind[i[ax:ax + r]]
        if k.dtype != "int64":
            from ..tir.expr import cast
            k = cast(k, "int64")
        return x[list(i[:ax]) + [_safe_index(k, x.shape[ax])] + list(i[ax + r:])]

    return [Compute(n.name, n.out_types[0].shape, x.dtype, body)]


def _gather_sym(n):
    vals = n.inputs[0].known_ints()
    ind = n.inputs[1].const
    if vals is None or ind is None or n.inputs[0].rank != 1:
        return None
    return [[vals[int(k)] for k in ind.reshape(-1)]]


register("Gather", _gather_infer, _gather_lower, symbolic=_gather_sym)


def _gather_elements_lower(ctx, n):
    x, ind = ctx.tensor(n.inputs[0]), ctx.tensor(n.inputs[1])
    ax = norm_axis(n.attr("axis", 0), len(x.shape), n)

    def body(i):
        from ..tir.expr import cast
        j = list(i)
        j[ax] = _safe_index(cast(ind[i], "int64"), x.shape[ax])
        return x[j]

    return [Compute(n.name, n.out_types[0].shape, x.dtype, body)]


def _gather_elements_infer(n):
    """Output shaped like the indices, which must have the data's rank and, off the axis, dims no larger than the
    data's (each output element reads the data at its own position there: a larger dim would read out of bounds)."""
    x, ind = n.inputs[0], n.inputs[1]
    if ind.dtype not in ("int32", "int64"):
        raise ShapeError(f"GatherElements '{n.name}': indices must be int32 or int64, got {ind.dtype}")
    if x.rank < 1 or ind.rank != x.rank:
        raise ShapeError(f"GatherElements '{n.name}': indices of rank {ind.rank} for data of rank {x.rank} "
                         "(both must have the same rank >= 1)")
    ax = norm_axis(n.attr("axis", 0), x.rank, n)
    for k, (di, dx) in enumerate(zip(ind.shape, x.shape)):
        if k != ax:  # a run-time indices dim (an Expand to a shape from data) is checked at run time
            require_le(n, di, dx, f"GatherElements '{n.name}': indices dim {k} = {sym.to_str(di)} exceeds the "
                                  f"data's {sym.to_str(dx)}")
    return out(ind.shape, x.dtype)


register("GatherElements", _gather_elements_infer, _gather_elements_lower)


# ---------------------------------------------------------------- Expand, Tile
def _expand_runtime_shape(n):
    """A run-time target shape: an output dim is the input dim where that is not 1 (the value is checked to be
    1 or equal at run time), else a run-time symbol (its bound comes from --dim)."""
    x, s = n.inputs
    if s.rank != 1 or not sym.is_static(s.shape[0]):
        raise n.unsupported("a run-time shape must be 1-D of a fixed length")
    r = max(s.shape[0], x.rank)
    xs = [1] * (r - x.rank) + list(x.shape)
    return [n.runtime_sym(f"dim{j}") if xs[j] == 1 else xs[j] for j in range(r)]


def _expand_bind(ctx, n):
    from ..tir.expr import binop, cast
    x, s = n.inputs
    sb = ctx.buffer(s)
    r = n.out_types[0].rank
    off = r - s.shape[0]
    defs, checks = [], []
    for j, d in enumerate(n.out_types[0].shape):
        if j < off:
            continue
        v = cast(Load(sb, [Const(j - off)], sb.dtype), "int64")
        if f"dim{j}" in n.rt:
            defs.append((n.rt[f"dim{j}"], v))
        else:
            checks.append((binop("||", _eq(v, 1), _eq(v, as_expr(d))), "SDK_ERR_BAD_VALUE"))
    ctx.bind_dims(n.name, defs, checks)


def _expand_infer(n):
    if n.inputs[1].known_ints() is None:
        return out(_expand_runtime_shape(n), n.inputs[0].dtype)
    return out(broadcast_shapes([n.inputs[0].shape, n.const_ints(1, "shape")], f"Expand '{n.name}'", n), n.inputs[0].dtype)


def _expand_lower(ctx, n):
    if n.inputs[1].known_ints() is None:
        _expand_bind(ctx, n)
    x = ctx.tensor(n.inputs[0])
    shape = n.out_types[0].shape
    return [Compute(n.name, shape, x.dtype, lambda i: bcast_read(x, shape, i))]


register("Expand", _expand_infer, _expand_lower)


def _tile_infer(n):
    x = n.inputs[0]
    if n.inputs[1].known_ints() is None:  # run-time repeats: each output dim is a run-time symbol (--dim bound)
        return out([n.runtime_sym(f"dim{k}") for k in range(x.rank)], x.dtype)
    reps = n.const_ints(1, "repeats")
    return out([sym.mul(d, r) for d, r in zip(x.shape, reps)], x.dtype)


def _tile_lower(ctx, n):
    if n.inputs[1].known_ints() is None:
        from .dynamic import bind_runtime_shape
        bind_runtime_shape(ctx, n, 1, value=lambda k, rep: as_expr(n.inputs[0].shape[k]) * emin(emax(rep, 0), SAT))
    x = ctx.tensor(n.inputs[0])
    return [Compute(n.name, n.out_types[0].shape, x.dtype,
                    lambda i: x[[i[k] % as_expr(d) for k, d in enumerate(x.shape)]])]


register("Tile", _tile_infer, _tile_lower)


# ---------------------------------------------------------------- constants
def _cos_value(n):
    v = n.attr("value")
    return np.zeros(1, np.float32) if v is None else v.reshape(-1)


def _cos_infer(n):
    from .dynamic import runtime_shape
    dt = _cos_value(n).dtype
    return out(runtime_shape(n, 0)[0], "bool" if dt == np.bool_ else dt.name)


def _cos_lower(ctx, n):
    if n.inputs[0].known_ints() is None:
        from .dynamic import bind_runtime_shape
        bind_runtime_shape(ctx, n, 0)
    return [Compute(n.name, n.out_types[0].shape, n.out_types[0].dtype,
                    lambda i: Const(_cos_value(n)[0].item(), n.out_types[0].dtype))]


def _cos_sym(n):
    shape = n.inputs[0].known_ints()
    if _cos_value(n).dtype.kind not in "iu" or shape is None or not all(sym.is_static(d) for d in shape):
        return None
    count = int(np.prod(shape)) if shape else 1
    return [[int(_cos_value(n)[0])] * count] if count <= 64 else None


register("ConstantOfShape", _cos_infer, _cos_lower, symbolic=_cos_sym)


def _range_value(n, k):
    """Input k as a known int (a dim, or a float holding an integer: a float arange from a dim), or None."""
    v = n.inputs[k]
    vals = v.known_ints()
    if vals is None and v.const is not None and v.const.dtype.kind == "f" and v.const.size == 1:
        c = float(v.const.reshape(-1)[0])
        vals = [int(c)] if c.is_integer() else None
    return None if vals is None or len(vals) != 1 else vals[0]


def _range_is_runtime(n):
    """A value unknown at compile time, or a step that is a dim expression not provably positive."""
    if any(_range_value(n, k) is None for k in range(3)):
        return True
    d = _range_value(n, 2)
    return not sym.is_static(d) and sym.range_of(d)[0] < 1


def _range_params(n):
    if _range_is_runtime(n):  # start and delta are read from their tensors; the length is a run-time dim
        return None, None, n.runtime_sym("dim0")
    s, l, d = (_range_value(n, k) for k in range(3))
    if not sym.is_static(d):  # a dim as the step (torch's offsets arange(0, b*n, n)): positive, so ceil division
        span = sym.sub(l, s)
        q = sym.floordiv(span, d)
        length = q if sym.sub(sym.mul(q, d), span) == 0 else sym.floordiv(sym.add(span, sym.sub(d, 1)), d)
        return s, d, sym.smax(length, 0) if sym.range_of(length)[0] < 0 else length
    if d == 0:
        raise n.unsupported("delta must be a non-zero constant")
    length = sym.floordiv(sym.add(sym.sub(l, s), d - 1 if d > 0 else d + 1), d)
    if sym.is_static(length):
        length = max(length, 0)
    return s, d, length


def _scalar(ctx, v):
    t = ctx.tensor(v)
    return t[[0] * v.rank]


def _range_bind(ctx, n):
    """length = max(ceil((limit - start) / delta), 0); delta == 0 is a bad value."""
    from ..tir.expr import binop, call, cast
    s, l, d = (_scalar(ctx, n.inputs[k]) for k in range(3))
    if n.inputs[0].dtype in ("float16", "bfloat16"):  # 16-bit inputs: the length in float32
        s, l, d = (cast(x, "float32") for x in (s, l, d))
    if n.inputs[0].dtype in ("float16", "bfloat16", "float32", "float64"):
        safe = select(binop("==", d, Const(0.0, d.dtype)), Const(1.0, d.dtype), d)
        q = call("ceil", (l - s) / safe)
        length = cast(emin(emax(q, Const(0.0, d.dtype)), Const(float(SAT), d.dtype)), "int64")
    else:
        s, l, d = (cast(x, "int64") for x in (s, l, d))
        mag = emax(select(d > 0, d, Const(0) - d), 1)
        span = select(d > 0, l - s, s - l)
        length = emax((span + mag - 1) // mag, 0)
    ctx.bind_dims(n.name, [(n.rt["dim0"], length)], [(binop("!=", d, Const(0, d.dtype)), "SDK_ERR_BAD_VALUE")])


def _range_lower(ctx, n):
    from ..tir.expr import cast
    dt = n.out_types[0].dtype
    if _range_is_runtime(n):
        _range_bind(ctx, n)
        s, d = _scalar(ctx, n.inputs[0]), _scalar(ctx, n.inputs[2])
        return [Compute(n.name, n.out_types[0].shape, dt, lambda i: s + cast(i[0], dt) * d)]
    s, d, _ = _range_params(n)
    return [Compute(n.name, n.out_types[0].shape, dt, lambda i: cast(as_expr(s) + i[0] * as_expr(d), dt))]


def _range_infer(n):
    if n.inputs[0].dtype not in ("int64", "int32", "int16", "float16", "bfloat16", "float32", "float64"):
        raise n.unsupported(f"{n.inputs[0].dtype} Range")
    return out((_range_params(n)[2],), n.inputs[0].dtype)


def _range_sym(n):
    if _range_is_runtime(n):
        return None
    s, d, length = _range_params(n)
    if not sym.is_static(length) or length > 64:
        return None
    return [[sym.add(s, k * d) for k in range(length)]]


register("Range", _range_infer, _range_lower, symbolic=_range_sym)


# ---------------------------------------------------------------- Pad
def _pad_params(n):
    x = n.inputs[0]
    if n.opset < 11:
        pads, value, axes = n.attr("pads"), n.attr("value", 0.0), None
    else:  # run-time pads (None): padded axes get run-time dims (--dim bounds)
        pads = None if n.inputs[1].known_ints() is None else n.const_ints(1, "pads")
        value = 0
        if n.input(2) is not None:
            if n.inputs[2].const is None:
                value = n.inputs[2]  # read at run time
            elif n.inputs[2].const.size:
                value = n.inputs[2].const.reshape(-1)[0].item()
        if _pad_runtime_axes(n):  # every dim may be padded: all get run-time pads (_pad_bind)
            pads, axes = None, None
        else:
            axes = n.const_ints(3, "axes") if n.input(3) is not None else None
    r = x.rank
    axes = list(range(r)) if axes is None else [norm_axis(a, r, n) for a in axes]
    before, after = [0] * r, [0] * r
    if pads is None:
        for a in axes:
            before[a], after[a] = n.runtime_sym(f"padb{a}", is_dim=False), None
    for k, a in enumerate(axes if pads is not None else ()):
        before[a], after[a] = pads[k], pads[k + len(axes)]
    mode = n.attr("mode", "constant")
    if isinstance(mode, bytes):
        mode = mode.decode()
    if mode not in ("constant", "edge", "reflect", "wrap"):
        raise n.unsupported(f"mode {mode}")
    return before, after, value, mode


def _pad_infer(n):
    x = n.inputs[0]
    b, a, _, _ = _pad_params(n)
    return out([n.runtime_sym(f"dim{k}") if q is None else sym.add(sym.add(d, p), q)
                for k, (d, p, q) in enumerate(zip(x.shape, b, a))], x.dtype)


def _pad_runtime_axes(n):
    return n.opset >= 18 and n.input(3) is not None and n.inputs[3].known_ints() is None


def _pad_bind(ctx, n):
    """pads from a run-time tensor: before[a] (a value) and the padded dim (checked against its bound). With
    run-time axes, each dim takes the pads of the axes entry naming it (none: 0)."""
    from ..tir.expr import binop, cast
    x = n.inputs[0]
    r = x.rank

    def read(i, j):
        known = n.inputs[i].known_ints()
        if known is not None:
            return as_expr(known[j])
        b = ctx.buffer(n.inputs[i])
        return cast(Load(b, [Const(j)], b.dtype), "int64")

    if _pad_runtime_axes(n):
        m = int(n.inputs[3].shape[0])
        if not sym.is_static(n.inputs[1].shape[0]) or int(n.inputs[1].shape[0]) != 2 * m:
            raise n.unsupported("pads must hold two values per axes entry")
        axes = [read(3, j) for j in range(m)]
        checks = [(binop("&&", v >= -r, v < r), "SDK_ERR_BAD_VALUE") for v in axes]
        pads = []
        for a in range(r):
            b, e, times = Const(0), Const(0), Const(0)
            for j, v in enumerate(axes):
                hit = binop("||", binop("==", v, Const(a)), binop("==", v, Const(a - r)))
                b, e = select(hit, read(1, j), b), select(hit, read(1, j + m), e)
                times = times + select(hit, Const(1), Const(0))
            checks.append((times <= 1, "SDK_ERR_BAD_VALUE"))
            pads.append((a, b, e))
    else:
        checks = []
        axes = [k for k in range(r) if f"padb{k}" in n.rt]
        m = len(axes)
        pads = [(a, read(1, j), read(1, j + m)) for j, a in enumerate(axes)]
    defs = []
    for a, b, e in pads:
        b, e = emin(emax(b, -SAT), SAT), emin(emax(e, -SAT), SAT)
        defs += [(n.rt[f"padb{a}"], b), (n.rt[f"dim{a}"], as_expr(x.shape[a]) + b + e)]
    ctx.bind_dims(n.name, defs, checks)


def _pad_lower(ctx, n):
    if n.opset >= 11 and (n.inputs[1].known_ints() is None or _pad_runtime_axes(n)):
        _pad_bind(ctx, n)
    x = ctx.tensor(n.inputs[0])
    before, after, value, mode = _pad_params(n)
    dt = x.dtype
    fill = _scalar(ctx, value) if hasattr(value, "type") else Const(value, dt)

    def body(i):
        src = [i[k] - as_expr(before[k]) for k in range(len(i))]
        if mode == "constant":
            inside = None
            for k, d in enumerate(x.shape):
                if before[k] == 0 and n.out_types[0].shape[k] == d:
                    continue
                c = _and(src[k] >= 0, src[k] < as_expr(d))
                inside = c if inside is None else _and(inside, c)
            safe = [emin(emax(s, 0), as_expr(d) - 1) for s, d in zip(src, x.shape)]
            v = x[safe]
            return v if inside is None else select(inside, v, fill)
        idx = []
        for k, (s, d) in enumerate(zip(src, x.shape)):
            d = as_expr(d)
            if sym.is_static(before[k]) and before[k] == 0 and sym.is_static(after[k]) and after[k] == 0:
                idx.append(s)  # an axis without padding (reflect's period would be 0 where its dim is 1)
            elif mode == "edge":
                idx.append(emin(emax(s, 0), d - 1))
            elif mode == "wrap":
                idx.append(((s % d) + d) % d)
            else:  # reflect
                period = emax((d - 1) * 2, 1)  # a dim of 1 reflects onto itself
                m = ((s % period) + period) % period
                idx.append(select(m < d, m, period - m))
        return x[idx]

    return [Compute(n.name, n.out_types[0].shape, dt, body)]


def _and(a, b):
    from ..tir.expr import binop
    return binop("&&", a, b)


register("Pad", _pad_infer, _pad_lower)


def _d2s(n):
    x = n.inputs[0]
    b = n.attr("blocksize")
    N, C, H, W = x.shape
    if n.op_type == "DepthToSpace":
        return [N, sym.floordiv(C, b * b), sym.mul(H, b), sym.mul(W, b)]
    return [N, sym.mul(C, b * b), sym.floordiv(H, b), sym.floordiv(W, b)]


def _d2s_lower(ctx, n):
    x = ctx.tensor(n.inputs[0])
    b = n.attr("blocksize")
    C = as_expr(x.shape[1])
    oc = as_expr(n.out_types[0].shape[1])
    crd = n.attr("mode", "DCR") == "CRD"

    def body(i):
        nn, c, h, w = i
        if n.op_type == "DepthToSpace":
            bh, bw = h % b, w % b
            ch = c * (b * b) + bh * b + bw if crd else (bh * b + bw) * oc + c
            return x[[nn, ch, h // b, w // b]]
        if crd:
            cc, blk = c // (b * b), c % (b * b)
        else:
            cc, blk = c % C, c // C
        return x[[nn, cc, h * b + blk // b, w * b + blk % b]]

    return [Compute(n.name, n.out_types[0].shape, x.dtype, body)]


register("DepthToSpace", lambda n: out(_d2s(n), n.inputs[0].dtype), _d2s_lower)
register("SpaceToDepth", lambda n: out(_d2s(n), n.inputs[0].dtype), _d2s_lower)

