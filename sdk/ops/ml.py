"""ai.onnx.ml ops of scikit-learn exports (skl2onnx): Scaler, Normalizer, Binarizer, ArrayFeatureExtractor,
LinearRegressor, LinearClassifier, TreeEnsembleRegressor / TreeEnsembleClassifier, Imputer, OneHotEncoder,
FeatureVectorizer, as onnxruntime computes them. Registered as ``ai.onnx.ml.<op>`` (the importer's key for ops
outside ai.onnx)."""
from __future__ import annotations

import numpy as np

from ..ir import sym
from ..ir.dtypes import FLOATS
from ..ir.graph import TensorType
from ..tir.expr import Compute, Const, Reduction, as_expr, binop, call, cast, emax, emin, select
from .common import out
from .registry import register

ML = "ai.onnx.ml."
_NUMERIC = ("float32", "float64", "int64", "int32")


def _numeric(n):
    x = n.inputs[0]
    if x.dtype not in _NUMERIC or x.rank not in (1, 2):
        raise n.unsupported(f"input {x.dtype}[rank {x.rank}] (float/double/int32/int64, rank 1 or 2)")
    return x


def _feature_const(ctx, n, name, vals, default):
    vals = [float(v) for v in (vals if vals is not None else [default])] or [default]
    if len(vals) == 1:
        return lambda f: Const(vals[0], "float32")
    F = n.inputs[0].shape[-1]
    if sym.is_static(F) and len(vals) != F:
        raise n.unsupported(f"{name} has {len(vals)} values for {F} features")
    buf = ctx.const(np.array(vals, np.float32), f"{n.name}_{name}")
    return lambda f: buf[[f]]


# ---------------------------------------------------------------- Scaler: (x - offset) * scale, float output
def _scaler_infer(n):
    return out(_numeric(n).shape, "float32")


def _scaler_lower(ctx, n):
    x = ctx.tensor(n.inputs[0])
    off = _feature_const(ctx, n, "offset", n.attr("offset"), 0.0)
    sc = _feature_const(ctx, n, "scale", n.attr("scale"), 1.0)
    return [Compute(n.name, x.shape, "float32", lambda i: (cast(x[i], "float32") - off(i[-1])) * sc(i[-1]))]


register(ML + "Scaler", _scaler_infer, _scaler_lower)


# ---------------------------------------------------------------- Normalizer: rows by their MAX / L1 / L2 norm
def _normalizer_infer(n):
    x = _numeric(n)
    if n.attr("norm", "MAX") not in ("MAX", "L1", "L2"):
        raise n.unsupported(f"norm {n.attr('norm')}")
    return out(x.shape, "float32")


def _normalizer_lower(ctx, n):
    x = ctx.tensor(n.inputs[0])
    norm = n.attr("norm", "MAX")
    F = x.shape[-1]
    row = (lambda i: list(i[:-1])) if len(x.shape) == 2 else (lambda i: [])

    def term(i, r):  # i: the row (the norm's index)
        v = cast(x[list(i) + [r[0]]], "float32")
        return {"MAX": v, "L1": call("abs", v), "L2": v * v}[norm]

    comb = "max" if norm == "MAX" else "sum"
    init = float("-inf") if norm == "MAX" else 0.0
    red = ctx.materialize(Compute(n.name + "_norm", x.shape[:-1], "float32", term, Reduction([F], comb, init)))

    def body(i):
        d = red[row(i)]
        if norm == "L2":
            d = call("sqrt", d)
        # onnxruntime divides by the norm as is (MAX: the largest value, not the largest magnitude)
        return cast(x[i], "float32") / d
    return [Compute(n.name, x.shape, "float32", body)]


register(ML + "Normalizer", _normalizer_infer, _normalizer_lower, "opaque")


# ---------------------------------------------------------------- Binarizer
def _binarizer_infer(n):
    x = n.inputs[0]
    if x.dtype not in _NUMERIC:
        raise n.unsupported(f"dtype {x.dtype}")
    return out(x.shape, x.dtype)


def _binarizer_lower(ctx, n):
    x = ctx.tensor(n.inputs[0])
    dt = x.dtype
    th = float(n.attr("threshold", 0.0))
    one, zero = (Const(1.0, dt), Const(0.0, dt)) if dt in FLOATS else (Const(1, dt), Const(0, dt))
    t = Const(th, dt) if dt in FLOATS else Const(th, "float64")
    return [Compute(n.name, x.shape, dt, lambda i: select(binop(">", x[i] if dt in FLOATS else cast(x[i], "float64"), t),
                                                          one, zero))]


register(ML + "Binarizer", _binarizer_infer, _binarizer_lower)


# ---------------------------------------------------------------- ArrayFeatureExtractor
def _afe_infer(n):
    """Output: X's shape with the last dim replaced by the number of indices ([1, k] for a 1-D X); the indices
    themselves may be known only at run time."""
    x, ind = n.inputs[:2]
    if ind.dtype not in ("int64", "int32") or not all(sym.is_static(d) for d in ind.shape):
        raise n.unsupported(f"indices {ind.dtype} of shape {[sym.to_str(d) for d in ind.shape]}")
    k = int(np.prod([int(d) for d in ind.shape]))
    shape = [1, k] if x.rank == 1 else list(x.shape[:-1]) + [k]
    return out(shape, x.dtype)


def _afe_lower(ctx, n):
    x, ind = ctx.tensor(n.inputs[0]), ctx.tensor(n.inputs[1])
    F = x.shape[-1]
    ishape = [int(d) for d in n.inputs[1].shape]

    def body(i):
        k, idx = i[-1], []
        for d in reversed(ishape):  # the k-th index, row-major over the indices' shape
            idx.insert(0, k % Const(d) if d != 1 else Const(0))
            k = k // Const(d)
        j = emin(emax(cast(ind[idx], "int64"), 0), as_expr(F) - 1)  # out of range: clamped
        return x[[j]] if len(x.shape) == 1 else x[list(i[:-1]) + [j]]
    return [Compute(n.name, n.out_types[0].shape, x.dtype, body)]


register(ML + "ArrayFeatureExtractor", _afe_infer, _afe_lower)


# ---------------------------------------------------------------- LinearRegressor
def _linreg_infer(n):
    x = _numeric(n)
    T = int(n.attr("targets", 1))
    if n.attr("post_transform", "NONE") != "NONE":
        raise n.unsupported(f"post_transform {n.attr('post_transform')}")
    F = x.shape[-1]
    if not sym.is_static(F) or len(n.attr("coefficients", [])) != T * F:
        raise n.unsupported(f"{len(n.attr('coefficients', []))} coefficients for {T} targets x {F} features")
    return out([x.shape[0] if x.rank == 2 else 1, T], "float32")


def _linreg_lower(ctx, n):
    x = ctx.tensor(n.inputs[0])
    T, F = int(n.attr("targets", 1)), int(n.inputs[0].shape[-1])
    W = ctx.const(np.array(n.attr("coefficients"), np.float32).reshape(T, F), n.name + "_coef")
    b = list(n.attr("intercepts", [])) or [0.0] * T
    B = ctx.const(np.array(b, np.float32), n.name + "_intercepts")
    row = (lambda i: [i[0]]) if len(x.shape) == 2 else (lambda i: [])
    return [Compute(n.name, n.out_types[0].shape, "float32",
                    lambda i, r: cast(x[row(i) + [r[0]]], "float32") * W[[i[1], r[0]]],
                    Reduction([F], "sum", 0.0, post=lambda acc, i: acc + B[[i[1]]]))]


register(ML + "LinearRegressor", _linreg_infer, _linreg_lower, "reduce")


# ---------------------------------------------------------------- LinearClassifier
def _lincls_dims(n):
    x = _numeric(n)
    labels = n.attr("classlabels_ints")
    if labels is None:
        raise n.unsupported("string class labels")
    F = x.shape[-1]
    coef = n.attr("coefficients", [])
    if not sym.is_static(F) or len(coef) % int(F):
        raise n.unsupported(f"{len(coef)} coefficients for {F} features")
    C = len(coef) // int(F)
    if C != len(labels) or C < 2:
        # onnxruntime's binary form (one score column for two labels) is not covered
        raise n.unsupported(f"{C} coefficient rows for {len(labels)} class labels")
    if n.attr("post_transform", "NONE") not in ("NONE", "LOGISTIC", "SOFTMAX"):
        raise n.unsupported(f"post_transform {n.attr('post_transform')}")
    return C, int(F)


def _lincls_infer(n):
    C, _ = _lincls_dims(n)
    N = n.inputs[0].shape[0] if n.inputs[0].rank == 2 else 1
    return [TensorType((N,), "int64"), TensorType((N, C), "float32")]


def _lincls_lower(ctx, n):
    """scores = X W^T + intercepts; the label of the first largest score; scores after post_transform."""
    x = ctx.tensor(n.inputs[0])
    C, F = _lincls_dims(n)
    N = n.out_types[1].shape[0]
    W = ctx.const(np.array(n.attr("coefficients"), np.float32).reshape(C, F), n.name + "_coef")
    B = ctx.const(np.array(list(n.attr("intercepts", [])) or [0.0] * C, np.float32), n.name + "_intercepts")
    row = (lambda i: [i[0]]) if len(x.shape) == 2 else (lambda i: [])
    Y = ctx.materialize(Compute(n.name + "_raw", (N, C), "float32",
                                lambda i, r: cast(x[row(i) + [r[0]]], "float32") * W[[i[1], r[0]]],
                                Reduction([F], "sum", 0.0, post=lambda acc, i: acc + B[[i[1]]])))
    return _classify(ctx, n, Y, C, labels_attr="classlabels_ints")


register(ML + "LinearClassifier", _lincls_infer, _lincls_lower, "opaque")


# ---------------------------------------------------------------- TreeEnsembleRegressor
_MODES = {"BRANCH_LEQ": 0, "BRANCH_LT": 1, "BRANCH_GTE": 2, "BRANCH_GT": 3, "BRANCH_EQ": 4, "BRANCH_NEQ": 5, "LEAF": 6}


def _forest(n):
    """The trees as flat tables (global node numbers): feature, threshold, mode, true / false successors, NaN goes
    true, the leaf weights per target; each tree's root and the deepest path (the traversal's step count)."""
    a = n.attr
    trees, ids = list(a("nodes_treeids", [])), list(a("nodes_nodeids", []))
    vals = a("nodes_values_as_tensor")
    vals = list(vals.reshape(-1)) if vals is not None else list(a("nodes_values", []))
    modes = [m.decode() if isinstance(m, bytes) else m for m in a("nodes_modes", [])]
    if any(m not in _MODES for m in modes):
        raise n.unsupported(f"node modes {sorted(set(modes) - set(_MODES))}")
    cls = n.op_type.endswith("Classifier")
    post = ("NONE", "LOGISTIC", "SOFTMAX") if cls else ("NONE",)
    if a("aggregate_function", "SUM") not in ("SUM", "AVERAGE") or a("post_transform", "NONE") not in post:
        raise n.unsupported(f"aggregate_function {a('aggregate_function', 'SUM')}, post_transform {a('post_transform')}")
    g = {(t, i): k for k, (t, i) in enumerate(zip(trees, ids))}
    G = len(g)
    pre = "class" if cls else "target"
    if cls:
        if a("classlabels_int64s") is None:
            raise n.unsupported("string class labels")
        T = len(a("classlabels_int64s"))
        if T == 2 and sorted(set(a("class_ids", []))) == [0]:
            T = 1  # the binary form: one score column for two labels (_classify_binary)
        elif sorted(set(a("class_ids", []))) != list(range(T)):
            raise n.unsupported(f"class weights for classes {sorted(set(a('class_ids', [])))} of {T} labels")
    else:
        T = int(a("n_targets", 1))
    miss = list(a("nodes_missing_value_tracks_true", [])) or [0] * G
    true = [g.get((t, int(i)), k) for k, (t, i) in enumerate(zip(trees, a("nodes_truenodeids", [])))]
    false = [g.get((t, int(i)), k) for k, (t, i) in enumerate(zip(trees, a("nodes_falsenodeids", [])))]
    weights = np.zeros((max(G, 1), 2 * T), np.float32)  # per target: the weight, 1 where the leaf has an entry
    tw = a(f"{pre}_weights_as_tensor")
    tw = list(tw.reshape(-1)) if tw is not None else list(a(f"{pre}_weights", []))
    for t, i, tid, w in zip(a(f"{pre}_treeids", []), a(f"{pre}_nodeids", []), a(f"{pre}_ids", []), tw):
        weights[g[(t, i)], tid] += w
        weights[g[(t, i)], T + tid] = 1.0
    tree_list = sorted(set(trees))
    children = set(true[k] for k in range(G) if modes[k] != "LEAF") | set(false[k] for k in range(G) if modes[k] != "LEAF")
    roots = [min(k for k in range(G) if trees[k] == t and k not in children) for t in tree_list]

    def depth(k, seen=0):
        if modes[k] == "LEAF" or seen > G:
            return 0
        return 1 + max(depth(true[k], seen + 1), depth(false[k], seen + 1))
    D = max((depth(r) for r in roots), default=0)
    table = np.stack([np.array(a("nodes_featureids", []), np.int64), np.array([_MODES[m] for m in modes], np.int64),
                      np.array(true, np.int64), np.array(false, np.int64), np.array(miss, np.int64)], 1) if G else None
    return table, np.array(vals, np.float32), weights, roots, D, T


def _tree_infer(n):
    x = n.inputs[0]
    if x.dtype != "float32" or x.rank != 2:
        raise n.unsupported(f"input {x.dtype}[rank {x.rank}] (float32 [N, F])")
    _, _, _, roots, _, T = _forest(n)
    if not roots:
        raise n.unsupported("no trees")
    if n.op_type.endswith("Classifier"):
        if T == 1:
            _binary_rule(n)
        return [TensorType((x.shape[0],), "int64"), TensorType((x.shape[0], max(T, 2)), "float32")]
    return out([x.shape[0], T], "float32")


def _tree_lower(ctx, n):
    """One kernel: per row, each tree walked from its root for the deepest path's number of steps (a leaf stays
    put), its leaf's weights added per target; then base_values (and the average over trees). A target no reached
    leaf has an entry for is 0 (onnxruntime's rule)."""
    from ..tir.build import buffers_read
    from ..tir.expr import Assign, For, Kernel, Let, Load, Seq, Store, Var
    table, vals, weights, roots, D, T = _forest(n)
    X = ctx.buffer(n.inputs[0])
    F = X.shape[1]
    tab = ctx.const(table, n.name + "_nodes")
    thr = ctx.const(vals, n.name + "_thresholds")
    W = ctx.const(weights, n.name + "_leaf_weights")
    R = ctx.const(np.array(roots, np.int64), n.name + "_roots")
    base = list(n.attr("base_values", [])) or [0.0] * T
    avg = n.attr("aggregate_function", "SUM") == "AVERAGE"
    shape = (n.inputs[0].shape[0], T)  # the scores (a classifier's second output)
    Y = ctx.new_buffer(n.name, shape, "float32")
    hit = ctx.new_buffer(n.name + "_hit", shape, "float32")  # leaves with an entry, per target
    r, t, s, j, node = (Var(v, "int64") for v in ("r", "tree", "step", "tgt", "node"))

    def col(c):
        return Load(tab, [node, Const(c)], "int64")

    x = Load(X, [r, emin(emax(col(0), 0), as_expr(F) - 1)], "float32")
    v = Load(thr, [node], "float32")
    mode = col(1)
    tests = [binop("<=", x, v), binop("<", x, v), binop(">=", x, v), binop(">", x, v), binop("==", x, v),
             binop("!=", x, v)]
    cond = tests[5]
    for k in (4, 3, 2, 1, 0):
        cond = select(binop("==", mode, Const(k)), tests[k], cond)
    cond = select(binop("&&", call("isnan", x, dtype="bool"), binop("!=", col(4), Const(0))), Const(1, "bool"), cond)
    step = select(binop("==", mode, Const(6)), node, select(cond, col(2), col(3)))
    walk = Seq([Let(node, Load(R, [t], "int64")), For(s, Const(max(D, 1)), Assign(node, step)),
                For(j, Const(T), Seq([Store(Y, [r, j], Load(Y, [r, j], "float32") + Load(W, [node, j], "float32")),
                                      Store(hit, [r, j], Load(hit, [r, j], "float32") + Load(W, [node, j + Const(T)],
                                                                                               "float32"))]))])
    scale = Const(1.0 / len(roots), "float32") if avg else Const(1.0, "float32")
    body = For(r, as_expr(X.shape[0]), Seq([
        For(j, Const(T), Seq([Store(Y, [r, j], Const(0.0, "float32")), Store(hit, [r, j], Const(0.0, "float32"))])),
        For(t, Const(len(roots)), walk),
        For(j, Const(T), Store(Y, [r, j], select(binop(">", Load(hit, [r, j], "float32"), Const(0.0, "float32")),
                                                 Load(Y, [r, j], "float32") * scale + Load(
            ctx.const(np.array(base, np.float32), n.name + "_base"), [j], "float32"), Const(0.0, "float32"))))]))
    ctx.kernel(Kernel("k_" + n.name, body, [b for b in buffers_read(body) if b is not Y and b is not hit], [Y, hit]))
    if not n.op_type.endswith("Classifier"):
        return [Y]
    return _classify(ctx, n, Y, T) if T > 1 else _classify_binary(ctx, n, Y)


def _binary_rule(n):
    """onnxruntime's binary tree classifier (one score s for two labels): with every class weight >= 0 (a random
    forest's probabilities) the label is labels[1] where s > 0.5 and the scores [1 - s, s]; with mixed signs
    (gradient boosting's margins) labels[1] where s > 0 and the scores [-s, s], or [sigmoid(-s), sigmoid(s)]
    under LOGISTIC."""
    pos = all(w >= 0 for w in n.attr("class_weights", []))
    post = n.attr("post_transform", "NONE")
    if len(n.attr("base_values", []) or []) > 1 or (pos and post != "NONE") or post == "SOFTMAX":
        raise n.unsupported(f"binary classifier with post_transform {post}, base_values {n.attr('base_values')}")
    return pos, post


def _classify_binary(ctx, n, Y):
    pos, post = _binary_rule(n)
    N = Y.shape[0]
    f = "float32"
    lab = [int(v) for v in n.attr("classlabels_int64s")]
    cut = Const(0.5 if pos else 0.0, f)
    label = Compute(n.name + "_label", (N,), "int64", lambda i: select(binop(">", Y[[i[0], Const(0)]], cut),
                                                                       Const(lab[1]), Const(lab[0])))

    def score(i):
        v = Y[[i[0], Const(0)]]
        v = select(binop("==", i[1], Const(0)), (Const(1.0, f) - v) if pos else -v, v)
        return Const(1.0, f) / (Const(1.0, f) + call("exp", -v)) if post == "LOGISTIC" else v
    return [label, Compute(n.name + "_scores", (N, 2), f, score)]


def _classify(ctx, n, Y, C, labels_attr="classlabels_int64s"):
    """(label, scores): the label of the first largest raw score; the scores after post_transform (LOGISTIC each,
    SOFTMAX over the row)."""
    N = Y.shape[0]
    f = "float32"
    m = ctx.materialize(Compute(n.name + "_max", (N,), f, lambda i, r: Y[[i[0], r[0]]], Reduction([C], "max", float("-inf"))))
    first = ctx.materialize(Compute(n.name + "_argmax", (N,), "int64", lambda i, r: select(
        binop("==", Y[[i[0], r[0]]], m[[i[0]]]), r[0], Const(C)), Reduction([C], "min", C)))
    labels = ctx.const(np.array(n.attr(labels_attr), np.int64), n.name + "_labels")
    label = Compute(n.name + "_label", (N,), "int64", lambda i: labels[[emin(first[[i[0]]], Const(C - 1))]])
    post = n.attr("post_transform", "NONE")
    if post == "LOGISTIC":
        scores = Compute(n.name + "_scores", (N, C), f, lambda i: Const(1.0, f) / (Const(1.0, f) + call("exp", -Y[i])))
    elif post == "SOFTMAX":
        tot = ctx.materialize(Compute(n.name + "_sum", (N,), f, lambda i, r: call("exp", Y[[i[0], r[0]]] - m[[i[0]]]),
                                      Reduction([C], "sum", 0.0)))
        scores = Compute(n.name + "_scores", (N, C), f, lambda i: call("exp", Y[i] - m[[i[0]]]) / tot[[i[0]]])
    else:
        scores = Compute(n.name + "_scores", (N, C), f, lambda i: Y[i])
    return [label, scores]


register(ML + "TreeEnsembleRegressor", _tree_infer, _tree_lower, "opaque")
register(ML + "TreeEnsembleClassifier", _tree_infer, _tree_lower, "opaque")


# ---------------------------------------------------------------- Imputer, FeatureVectorizer, OneHotEncoder
def _imputer_infer(n):
    x = n.inputs[0]
    if x.dtype not in ("float32", "int64"):
        raise n.unsupported(f"dtype {x.dtype}")
    vals = n.attr("imputed_value_floats") if x.dtype == "float32" else n.attr("imputed_value_int64s")
    if not vals:
        raise n.unsupported("no imputed values for the input's type")
    return out(x.shape, x.dtype)


def _imputer_lower(ctx, n):
    """Each element equal to replaced_value_* (0 by default; skl2onnx writes NaN) takes its feature's imputed
    value."""
    x = ctx.tensor(n.inputs[0])
    dt = x.dtype
    if dt == "float32":
        vals, rep = list(n.attr("imputed_value_floats")), float(n.attr("replaced_value_float", 0.0))
    else:
        vals, rep = [int(v) for v in n.attr("imputed_value_int64s")], int(n.attr("replaced_value_int64", 0))
    table = ctx.const(np.array(vals, np.float32 if dt == "float32" else np.int64), n.name + "_values")

    def body(i):
        v = x[i]
        hit = call("isnan", v, dtype="bool") if dt == "float32" and np.isnan(rep) else binop("==", v, Const(rep, dt))
        fill = table[[Const(0)]] if len(vals) == 1 else table[[emin(i[-1], Const(len(vals) - 1))]]
        return select(hit, fill, v)
    return [Compute(n.name, x.shape, dt, body)]


register(ML + "Imputer", _imputer_infer, _imputer_lower)


def _fv_infer(n):
    dims = [int(d) for d in n.attr("inputdimensions", [])]
    ins = [v for v in n.inputs if v is not None]
    if len(dims) != len(ins) or any(v.rank not in (1, 2) or v.dtype not in _NUMERIC for v in ins):
        raise n.unsupported(f"inputdimensions {dims} for {len(ins)} inputs")
    N = next((v.shape[0] for v in ins if v.rank == 2), 1)
    return out([N, sum(dims)], "float32")


def _fv_lower(ctx, n):
    """The inputs' first inputdimensions[k] columns side by side, as float (missing columns are 0)."""
    dims = [int(d) for d in n.attr("inputdimensions", [])]
    ins = [ctx.tensor(v) for v in n.inputs if v is not None]

    def body(i):
        e, start = Const(0.0, "float32"), 0
        for t, d in zip(ins, dims):
            have = t.shape[-1]
            c = i[1] - Const(start)
            inside = binop("&&", c >= 0, binop("&&", c < Const(d), c < as_expr(have)))
            j = emin(emax(c, 0), as_expr(have) - 1)
            v = cast(t[[i[0], j]] if len(t.shape) == 2 else t[[j]], "float32")
            e = select(inside, v, e)
            start += d
        return e
    return [Compute(n.name, n.out_types[0].shape, "float32", body)]


register(ML + "FeatureVectorizer", _fv_infer, _fv_lower)


def _ohe_infer(n):
    x = n.inputs[0]
    cats = n.attr("cats_int64s")
    if cats is None:
        raise n.unsupported("string categories")
    if x.dtype not in ("int64", "int32", "float32", "float64"):
        raise n.unsupported(f"dtype {x.dtype}")
    if not n.attr("zeros", 1):
        raise n.unsupported("zeros=0 (an unknown category is an error at run time)")
    return out(list(x.shape) + [len(cats)], "float32")


def _ohe_lower(ctx, n):
    """1.0 where the element equals the category (floats compared as integers, as onnxruntime truncates them)."""
    x = ctx.tensor(n.inputs[0])
    cats = ctx.const(np.array(n.attr("cats_int64s"), np.int64), n.name + "_cats")
    return [Compute(n.name, n.out_types[0].shape, "float32", lambda i: select(
        binop("==", cast(x[list(i[:-1])], "int64"), cats[[i[-1]]]), Const(1.0, "float32"), Const(0.0, "float32")))]


register(ML + "OneHotEncoder", _ohe_infer, _ohe_lower)
