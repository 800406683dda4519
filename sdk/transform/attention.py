"""Graph pass: attention as one fused op (``FusedAttention``, lowered to ``sdk_attention_f32``).

Matches the product exporters write for scaled dot-product attention,

    MatMul(q, kT) [* or / scalar] [+ mask] -> Softmax(last axis) -> MatMul(., v) [-> Transpose]

with the scale folded into the first MatMul's ``alpha`` (``fold_scale.py``) or left as a Mul/Div, scalar factors on
q or kT (ViT's ``q * s``, ``kT * s``) folded into the scale, and the head transposes around it read in place:
``kT = Transpose(k)`` (``perm [0, 2, 3, 1]`` of a [b, s, h, d] tensor, or ``[0, 1, 3, 2]``), ``q``/``v`` as
Transposes of [b, s, h, d] tensors, and an output Transpose (``[0, 2, 1, 3]``) become strides of the kernel, so
those Transposes are no longer materialised. A head tensor that is a Reshape ``[.., C'] -> [.., h, d]`` of one part
of a ``Split`` along the last axis (q, k and v split from one QKV projection, BERT and GPT-2 style) is read in the
Split's input itself: its columns ``off .. off + h * d`` (attribute ``q_view``/``k_view``/``v_view`` = (off, h, d)),
so neither the Split nor the Reshape is a copy kernel. The kernel needs each operand's head axis contiguous in memory; where
it is not (kT not a Transpose whose source ends in the head axis), or the mask does not broadcast by strides, the
graph is left as it is.

It runs only where it pays and keeps accuracy: for CUDA profiles with ``[lower] fused_attention`` at
``--precision fp16|bf16`` (the kernel computes both products on tensor cores; fp32 builds keep the exact GEMMs),
head sizes 64 and 128 (``runtime_c/cuda/sdk_cuda_attention.cu``)."""
from __future__ import annotations

from typing import Optional

from ..ir import sym
from ..ir.graph import Binding, Function, TensorType, Value

HEAD_SIZES = (64, 128)


def _scalar(v: Optional[Value]) -> Optional[float]:
    if v is None or v.const is None or v.const.size != 1 or v.dtype != "float32":
        return None
    return float(v.const.reshape(-1)[0])


class _Matcher:
    def __init__(self, f: Function):
        self.f = f
        self.producer = {id(v): b for b in f.bindings for v in b.outputs}
        self.consumers = f.consumers()
        self.outputs = {id(v) for v in f.outputs}

    def only_use(self, v: Value, user: Binding) -> bool:
        """v is read by ``user`` alone and is not a graph output (it need not exist once fused)."""
        return id(v) not in self.outputs and [id(b) for b in self.consumers.get(id(v), [])] == [id(user)]

    def peel_scalars(self, v: Value, user: Binding, dropped: list, alive: bool = False):
        """(value, factor, its reader, reader kept): v with Mul/Div-by-scalar producers taken off (a product of
        their factors). A producer is dropped when all it feeds is dropped too (``alive``: ``user`` stays)."""
        factor = 1.0
        while True:
            b = self.producer.get(id(v))
            if b is None or b.op not in ("Mul", "Div") or len(b.inputs) != 2:
                return v, factor, user, alive
            for k in ((0, 1) if b.op == "Mul" else (0,)):
                x, c = b.inputs[k], _scalar(b.inputs[1 - k])
                if c is None or c == 0.0 or x is None or len(x.shape) != len(v.shape):
                    continue
                factor *= c if b.op == "Mul" else 1.0 / c
                alive = alive or not self.only_use(v, user)
                if not alive:
                    dropped.append(b)
                v, user = x, b
                break
            else:
                return v, factor, user, alive

    def source(self, v: Value, user: Binding, dropped: list, alive: bool = False, swap_last: bool = False):
        """(tensor read, axes): logical axis a of v (the last two swapped when ``swap_last``: kT) is axis axes[a]
        of the tensor read; v itself, or the input of the Transpose that made it (dropped unless something
        else reads it)."""
        r = len(v.shape)
        b = self.producer.get(id(v))
        perm = list(range(r))
        src = v
        if b is not None and b.op == "Transpose" and b.inputs[0] is not None:
            perm = list(b.attrs.get("perm") or range(r)[::-1])
            src = b.inputs[0]
            if not alive and self.only_use(v, user):
                dropped.append(b)
        if swap_last:
            perm[-1], perm[-2] = perm[-2], perm[-1]
        return src, perm

    def split_view(self, src: Value):
        """(X, (off, h, d)) when ``src`` = Reshape(Split(X, last axis)[k]) dividing that part's last axis into src's
        last two (``[.., C'] -> [.., h, d]``, leading dims equal): src is then columns off .. off + h * d of X's rows
        (static widths); else None. The Reshape and Split are left to dead-code elimination."""
        rs = self.producer.get(id(src))
        if rs is None or rs.op != "Reshape" or rs.guard or rs.inputs[0] is None:
            return None
        y = rs.inputs[0]
        sp = self.producer.get(id(y))
        if sp is None or sp.op != "Split" or sp.guard or sp.inputs[0] is None:
            return None
        X = sp.inputs[0]
        r = len(X.shape)
        if X.dtype != "float32" or len(y.shape) != r or len(src.shape) != r + 1 or sp.attrs.get("axis", 0) not in (-1, r - 1):
            return None
        h, d, C = src.shape[-2], src.shape[-1], X.shape[-1]
        if not all(sym.is_static(t) for t in (h, d, C, y.shape[-1])) or int(y.shape[-1]) != int(h) * int(d):
            return None
        if not all(_dims_equal(a, b) for a, b in zip(src.shape[:-2], X.shape[:-1])):
            return None
        off = 0
        for o in sp.outputs:
            if o is y:
                break
            if o is None or not sym.is_static(o.shape[-1]):
                return None
            off += int(o.shape[-1])
        else:
            return None
        return X, (off, int(h), int(d))


def _contiguous_last(src: Value, axes) -> bool:
    return axes[-1] == len(src.shape) - 1


def _dims_equal(a, b) -> bool:
    return sym.sub(a, b) == 0


def fuse_attention(f: Function, opts: Optional[dict] = None) -> Function:
    """``opts``: None (off) or {} (on; ``attention_options`` decides)."""
    if opts is None:
        return f
    m = _Matcher(f)
    replace, drop = {}, set()
    for b in f.bindings:
        if b.op != "Softmax" or id(b) in drop:
            continue
        got = _match(m, b)
        if got is None:
            continue
        new, removed = got
        if any(id(x) in drop or id(x) in replace for x in removed):
            continue
        for x in removed:
            drop.add(id(x))
        replace[id(removed[-1])] = new  # the fused op sits where the last matched binding was
        drop.discard(id(removed[-1]))
    if not replace:
        return f
    return f.with_bindings([replace.get(id(b), b) for b in f.bindings if id(b) not in drop])


def _match(m: _Matcher, sm: Binding):
    x = sm.inputs[0]
    r = len(x.shape)
    if r not in (3, 4) or x.dtype != "float32":
        return None
    ax = sm.attrs.get("axis", -1 if (m.f.opset or 13) >= 13 else 1)
    if ax not in (-1, r - 1):
        return None
    consumers = m.consumers.get(id(sm.outputs[0]), [])
    if len(consumers) != 1 or id(sm.outputs[0]) in m.outputs:
        return None
    mm2 = consumers[0]
    if mm2.op != "MatMul" or mm2.inputs[0] is not sm.outputs[0] or mm2.attrs.get("alpha", 1.0) != 1.0:
        return None
    removed = [sm, mm2]
    dropped: list = []
    scale, mask = 1.0, None
    s = x
    user = sm
    while True:  # back from the softmax: [Add mask] [Mul/Div scalar] MatMul
        if not m.only_use(s, user):
            return None
        b = m.producer.get(id(s))
        if b is None:
            return None
        if b.op == "MatMul":
            mm1 = b
            break
        if b.op == "Add" and mask is None and len(b.inputs) == 2:
            k = 1 if _scores_like(m, b.inputs[1], b) and not _scores_like(m, b.inputs[0], b) else 0
            mask, s = b.inputs[1 - k], b.inputs[k]
            if mask is None or mask.dtype != "float32" or len(mask.shape) > r or not _same_shape(s, b.outputs[0]):
                return None
        elif b.op in ("Mul", "Div") and len(b.inputs) == 2:
            k = 0 if _scalar(b.inputs[1]) is not None else (1 if b.op == "Mul" and _scalar(b.inputs[0]) is not None
                                                             else None)
            if k is None:
                return None
            c = _scalar(b.inputs[1 - k])
            if c == 0.0:
                return None
            scale *= c if b.op == "Mul" else 1.0 / c
            s = b.inputs[k]
            if mask is not None:  # (s + mask) * c: the mask would be scaled too
                return None
        else:
            return None
        removed.insert(0, b)
        user = b
    removed.insert(0, mm1)
    scale *= float(mm1.attrs.get("alpha", 1.0))
    qv, kt = mm1.inputs
    vv = mm2.inputs[1]
    if any(t is None or len(t.shape) != r or t.dtype != "float32" for t in (qv, kt, vv)):
        return None
    if qv is kt:
        return None
    qv, fq, qu, qa = m.peel_scalars(qv, mm1, dropped)
    kt, fk, ku, ka = m.peel_scalars(kt, mm1, dropped)
    scale *= fq * fk
    q_src, q_axes = m.source(qv, qu, dropped, qa)
    k_src, k_axes = m.source(kt, ku, dropped, ka, swap_last=True)
    v_src, v_axes = m.source(vv, mm2, dropped)
    if not all(_contiguous_last(t, a) for t, a in ((q_src, q_axes), (k_src, k_axes), (v_src, v_axes))):
        return None
    # logical dims: q [.., Sq, D], k [.., Sk, D], v [.., Sk, Dv]; batch (and head) dims equal, no broadcasting
    qd = [q_src.shape[a] for a in q_axes]
    kd = [k_src.shape[a] for a in k_axes]
    vd = [v_src.shape[a] for a in v_axes]
    if not all(_dims_equal(qd[i], kd[i]) and _dims_equal(qd[i], vd[i]) for i in range(r - 2)):
        return None
    if not (_dims_equal(kd[-2], vd[-2]) and _dims_equal(qd[-1], kd[-1])):
        return None
    D, Dv = qd[-1], vd[-1]
    if not (sym.is_static(D) and sym.is_static(Dv) and int(D) == int(Dv) and int(D) in HEAD_SIZES):
        return None
    if mask is not None and not _mask_broadcasts(mask, qd[:-2] + [qd[-2], kd[-2]]):
        return None
    # the output: mm2's, or the Transpose after it (written with its strides)
    out = mm2.outputs[0]
    o_perm = list(range(r))
    t = m.consumers.get(id(out), [])
    if (len(t) == 1 and t[0].op == "Transpose" and id(out) not in m.outputs
            and list(t[0].attrs.get("perm") or range(r)[::-1])[-1] == r - 1):
        o_perm = list(t[0].attrs.get("perm") or range(r)[::-1])
        removed.append(t[0])
        out = t[0].outputs[0]
    attrs = dict(scale=scale, causal=0, q_axes=q_axes, k_axes=k_axes, v_axes=v_axes, o_perm=o_perm)
    srcs = []
    for name, t in (("q_view", q_src), ("k_view", k_src), ("v_view", v_src)):
        sv = m.split_view(t)
        if sv is not None:  # read the QKV projection in place
            t, attrs[name] = sv
        srcs.append(t)
    inputs = srcs + ([mask] if mask is not None else [])
    fused = Binding("FusedAttention", inputs, [out], attrs, name=mm2.name + "_attention")
    return fused, dropped + removed


def _scores_like(m: _Matcher, v: Optional[Value], user: Binding) -> bool:
    """v is a product of the matched chain: made by MatMul/Mul/Div and read only by ``user``."""
    b = m.producer.get(id(v)) if v is not None else None
    return b is not None and b.op in ("MatMul", "Mul", "Div") and m.only_use(v, user)


def _same_shape(a: Value, b: Value) -> bool:
    return len(a.shape) == len(b.shape) and all(_dims_equal(x, y) for x, y in zip(a.shape, b.shape))


def _mask_broadcasts(mask: Value, scores) -> bool:
    off = len(scores) - len(mask.shape)
    return all(d == 1 or _dims_equal(d, scores[off + i]) for i, d in enumerate(mask.shape))


def attention_options(target, precision: str) -> Optional[dict]:
    """The pass's options for a build: on ({}) for a profile with ``[lower] fused_attention`` at fp16/bf16."""
    if target is None or precision not in ("fp16", "bf16"):
        return None
    return {} if target.data.get("lower", {}).get("fused_attention") else None


def view_shape(n, k: int) -> tuple:
    """The shape of the fused op's operand k (0 q, 1 k, 2 v) as its axes attribute names them: the input's, or for
    a ``*_view`` (off, h, d) the input's leading dims and [h, d]."""
    t = n.inputs[k]
    view = n.attr(("q_view", "k_view", "v_view")[k], None)
    return tuple(t.shape) if view is None else tuple(t.shape[:-1]) + (view[1], view[2])


def out_type(n) -> TensorType:
    """The fused op's output: logical [b, (h,) Sq, Dv] permuted by ``o_perm``."""
    qs, vs = view_shape(n, 0), view_shape(n, 2)
    logical = [qs[i] for i in n.attr("q_axes")[:-1]] + [vs[n.attr("v_axes")[-1]]]
    return TensorType(tuple(logical[p] for p in n.attr("o_perm")), "float32")
