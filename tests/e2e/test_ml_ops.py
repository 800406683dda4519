"""ai.onnx.ml ops of scikit-learn exports (sdk/ops/ml.py) against onnxruntime: Scaler, Normalizer, Binarizer,
ArrayFeatureExtractor, LinearRegressor, alone and as a skl2onnx-style pipeline (StandardScaler -> column pick ->
LinearRegression) with a symbolic batch, through the JIT and the C demo program."""
import numpy as np
import pytest
from onnx import TensorProto as T
from onnx import helper as h
from onnx import numpy_helper as nh

import sdk
from conftest import ort_run

RNG = np.random.default_rng(12)
ML = "ai.onnx.ml"


def _model(nodes, inputs, outputs, inits=(), onnx_opset=None):
    g = h.make_graph(nodes, "pipeline", [h.make_tensor_value_info(n, t, s) for n, t, s in inputs],
                     [h.make_tensor_value_info(n, t, None) for n, t in outputs],
                     [nh.from_array(a, n) for n, a in inits])
    ops = [h.make_opsetid(ML, 3)] + ([h.make_opsetid("", onnx_opset)] if onnx_opset else [])
    return h.make_model(g, opset_imports=ops)


def _check(m, feeds, dims=None, engines=("llvm",)):
    b = sdk.compile(m, dims=dims)
    ref = ort_run(m, feeds)
    for engine in engines:
        got = b.run(feeds, engine=engine)
        for k, r in ref.items():
            assert got[k].shape == r.shape and got[k].dtype == r.dtype, (engine, k, got[k].shape, r.shape, got[k].dtype)
            np.testing.assert_allclose(got[k], r, rtol=1e-5, atol=1e-6, err_msg=f"{engine} {k}")


@pytest.mark.parametrize("dtype", [T.FLOAT, T.DOUBLE, T.INT64])
def test_scaler(dtype):
    x = (RNG.standard_normal((5, 4)) * 10).astype({T.FLOAT: np.float32, T.DOUBLE: np.float64, T.INT64: np.int64}[dtype])
    node = h.make_node("Scaler", ["x"], ["y"], domain=ML, offset=[1.0, -2.0, 0.5, 3.0], scale=[0.5, 2.0, 1.0, 0.1])
    _check(_model([node], [("x", dtype, [5, 4])], [("y", T.FLOAT)]), {"x": x})


@pytest.mark.parametrize("norm", ["MAX", "L1", "L2"])
def test_normalizer(norm):
    x = RNG.standard_normal((6, 5)).astype(np.float32) + 0.5
    node = h.make_node("Normalizer", ["x"], ["y"], domain=ML, norm=norm)
    _check(_model([node], [("x", T.FLOAT, [6, 5])], [("y", T.FLOAT)]), {"x": x})


def test_binarizer_and_feature_extractor():
    x = RNG.standard_normal((4, 6)).astype(np.float32)
    nodes = [h.make_node("Binarizer", ["x"], ["b"], domain=ML, threshold=0.2),
             h.make_node("ArrayFeatureExtractor", ["x", "cols"], ["y"], domain=ML)]
    m = _model(nodes, [("x", T.FLOAT, [4, 6])], [("b", T.FLOAT), ("y", T.FLOAT)],
               [("cols", np.array([5, 0, 2, 2], np.int64))])
    _check(m, {"x": x}, engines=("llvm", "c"))


def test_pipeline_scaler_columns_linear_regressor():
    F, T_ = 6, 2
    coef = RNG.standard_normal(T_ * 3).astype(np.float32)
    nodes = [h.make_node("Scaler", ["x"], ["s"], domain=ML, offset=list(RNG.standard_normal(F)), scale=list(RNG.uniform(0.5, 2, F))),
             h.make_node("ArrayFeatureExtractor", ["s", "cols"], ["c"], domain=ML),
             h.make_node("LinearRegressor", ["c"], ["y"], domain=ML, coefficients=list(coef), intercepts=[0.5, -1.0],
                         targets=T_),
             h.make_node("Relu", ["y"], ["z"])]
    m = _model(nodes, [("x", T.FLOAT, ["n", F])], [("z", T.FLOAT)], [("cols", np.array([[1, 4, 5]], np.int64))],
               onnx_opset=17)
    for n in (1, 7):
        _check(m, {"x": RNG.standard_normal((n, F)).astype(np.float32)}, dims={"n": 8}, engines=("llvm", "c"))


def _forest_attrs():
    """Two trees over 3 features (a GradientBoosting / RandomForest regressor's shape), 2 targets."""
    return dict(
        nodes_treeids=[0, 0, 0, 0, 0, 1, 1, 1], nodes_nodeids=[0, 1, 2, 3, 4, 0, 1, 2],
        nodes_featureids=[0, 2, 0, 0, 0, 1, 0, 0], nodes_values=[0.1, -0.3, 0.0, 0.0, 0.0, 0.5, 0.0, 0.0],
        nodes_modes=["BRANCH_LEQ", "BRANCH_LT", "LEAF", "LEAF", "LEAF", "BRANCH_GT", "LEAF", "LEAF"],
        nodes_truenodeids=[1, 2, 0, 0, 0, 1, 0, 0], nodes_falsenodeids=[4, 3, 0, 0, 0, 2, 0, 0],
        nodes_missing_value_tracks_true=[1, 0, 0, 0, 0, 0, 0, 0],
        target_treeids=[0, 0, 0, 0, 1, 1, 1], target_nodeids=[2, 3, 4, 4, 1, 2, 2], target_ids=[0, 0, 0, 1, 0, 0, 1],
        target_weights=[1.5, -2.0, 0.25, 3.0, 0.7, -0.4, 1.1], n_targets=2, base_values=[0.3, -0.1])


@pytest.mark.parametrize("aggregate", ["SUM", "AVERAGE"])
def test_tree_ensemble_regressor(aggregate):
    node = h.make_node("TreeEnsembleRegressor", ["x"], ["y"], domain=ML, aggregate_function=aggregate,
                       **_forest_attrs())
    m = _model([node], [("x", T.FLOAT, ["n", 3])], [("y", T.FLOAT)])
    x = RNG.standard_normal((9, 3)).astype(np.float32)
    x[0, 0] = np.nan  # missing: tree 0's root sends it to the true branch
    x[1, 0], x[2, 2], x[3, 1] = 0.1, -0.3, 0.5  # on the thresholds
    _check(m, {"x": x}, dims={"n": 16}, engines=("llvm", "c") if aggregate == "SUM" else ("llvm",))


def test_random_forest_regressor():
    """Five random complete trees of depth 4 over 6 features (BRANCH_LEQ, as scikit-learn's trees), one target."""
    a = {k: [] for k in ("nodes_treeids", "nodes_nodeids", "nodes_featureids", "nodes_values", "nodes_modes",
                         "nodes_truenodeids", "nodes_falsenodeids", "target_treeids", "target_nodeids", "target_ids",
                         "target_weights")}
    for t in range(5):
        for i in range(31):  # heap order: children 2i+1, 2i+2; 15 branches, 16 leaves
            leaf = i >= 15
            a["nodes_treeids"].append(t)
            a["nodes_nodeids"].append(i)
            a["nodes_featureids"].append(0 if leaf else int(RNG.integers(0, 6)))
            a["nodes_values"].append(0.0 if leaf else float(RNG.standard_normal() * 0.7))
            a["nodes_modes"].append("LEAF" if leaf else "BRANCH_LEQ")
            a["nodes_truenodeids"].append(0 if leaf else 2 * i + 1)
            a["nodes_falsenodeids"].append(0 if leaf else 2 * i + 2)
            if leaf:
                a["target_treeids"].append(t)
                a["target_nodeids"].append(i)
                a["target_ids"].append(0)
                a["target_weights"].append(float(RNG.standard_normal()))
    node = h.make_node("TreeEnsembleRegressor", ["x"], ["y"], domain=ML, n_targets=1, **a)
    m = _model([node], [("x", T.FLOAT, ["n", 6])], [("y", T.FLOAT)])
    _check(m, {"x": RNG.standard_normal((50, 6)).astype(np.float32)}, dims={"n": 64})


def _random_trees(n_trees, depth, n_features, leaf_entries):
    """Complete trees in heap order; ``leaf_entries(tree)`` -> [(class or target id, weight)] for each leaf."""
    a = {k: [] for k in ("nodes_treeids", "nodes_nodeids", "nodes_featureids", "nodes_values", "nodes_modes",
                         "nodes_truenodeids", "nodes_falsenodeids", "w_treeids", "w_nodeids", "w_ids", "w_weights")}
    branches = 2 ** depth - 1
    for t in range(n_trees):
        for i in range(2 * branches + 1):
            leaf = i >= branches
            a["nodes_treeids"].append(t)
            a["nodes_nodeids"].append(i)
            a["nodes_featureids"].append(0 if leaf else int(RNG.integers(0, n_features)))
            a["nodes_values"].append(0.0 if leaf else float(RNG.standard_normal() * 0.7))
            a["nodes_modes"].append("LEAF" if leaf else "BRANCH_LEQ")
            a["nodes_truenodeids"].append(0 if leaf else 2 * i + 1)
            a["nodes_falsenodeids"].append(0 if leaf else 2 * i + 2)
            if leaf:
                for cid, w in leaf_entries(t):
                    a["w_treeids"].append(t)
                    a["w_nodeids"].append(i)
                    a["w_ids"].append(cid)
                    a["w_weights"].append(w)
    return a


def _classifier(a, post, labels, base=None):
    attrs = {k: v for k, v in a.items() if not k.startswith("w_")}
    attrs.update(class_treeids=a["w_treeids"], class_nodeids=a["w_nodeids"], class_ids=a["w_ids"],
                 class_weights=a["w_weights"], classlabels_int64s=labels, post_transform=post)
    if base:
        attrs["base_values"] = base
    node = h.make_node("TreeEnsembleClassifier", ["x"], ["label", "prob"], domain=ML, **attrs)
    return _model([node], [("x", T.FLOAT, ["n", 5])], [("label", T.INT64), ("prob", T.FLOAT)])


def test_random_forest_classifier():
    """RandomForestClassifier's form: every leaf holds each class's probability / number of trees."""
    def leaf(t):
        p = RNG.dirichlet(np.ones(3))
        return [(c, float(p[c]) / 4) for c in range(3)]
    m = _classifier(_random_trees(4, 3, 5, leaf), "NONE", [10, 20, 30])
    _check(m, {"x": RNG.standard_normal((40, 5)).astype(np.float32)}, dims={"n": 64}, engines=("llvm", "c"))


def test_gradient_boosting_classifier_softmax():
    """GradientBoostingClassifier's multiclass form: each tree scores one class, base values, SOFTMAX."""
    m = _classifier(_random_trees(6, 2, 5, lambda t: [(t % 3, float(RNG.standard_normal()))]), "SOFTMAX", [0, 1, 2],
                    base=[0.1, -0.2, 0.05])
    _check(m, {"x": RNG.standard_normal((30, 5)).astype(np.float32)}, dims={"n": 32})


@pytest.mark.parametrize("form", ["forest", "boosting"])
def test_binary_one_column_classifier(form):
    """skl2onnx's binary forms: one score column (class 0's weights) for two labels; a forest's probabilities
    (labels[1] above 0.5, scores [1 - s, s]) or boosting's margins under LOGISTIC with a base value."""
    if form == "forest":
        m = _classifier(_random_trees(3, 3, 5, lambda t: [(0, float(RNG.uniform(0, 1)) / 3)]), "NONE", [4, 8])
    else:
        m = _classifier(_random_trees(4, 2, 5, lambda t: [(0, float(RNG.standard_normal()))]), "LOGISTIC", [0, 1],
                        base=[0.2])
    _check(m, {"x": RNG.standard_normal((40, 5)).astype(np.float32)}, dims={"n": 64},
           engines=("llvm", "c") if form == "forest" else ("llvm",))


def test_binary_one_column_softmax_refused():
    m = _classifier(_random_trees(2, 2, 5, lambda t: [(0, 0.5)]), "SOFTMAX", [0, 1])
    with pytest.raises(sdk.errors.UnsupportedOp, match="binary classifier"):
        sdk.compile(m, dims={"n": 4})


@pytest.mark.parametrize("post", ["NONE", "LOGISTIC", "SOFTMAX"])
def test_linear_classifier(post):
    """LogisticRegression's form (zipmap off): three classes, integer labels."""
    F, C = 4, 3
    node = h.make_node("LinearClassifier", ["x"], ["label", "prob"], domain=ML, coefficients=list(RNG.standard_normal(C * F)),
                       intercepts=list(RNG.standard_normal(C)), classlabels_ints=[3, 7, 9], post_transform=post)
    m = _model([node], [("x", T.FLOAT, ["n", F])], [("label", T.INT64), ("prob", T.FLOAT)])
    _check(m, {"x": RNG.standard_normal((12, F)).astype(np.float32)}, dims={"n": 16},
           engines=("llvm", "c") if post == "SOFTMAX" else ("llvm",))


def test_imputer_one_hot_feature_vectorizer():
    """SimpleImputer's Imputer (NaN -> per-feature values; an int64 replaced value), OneHotEncoder on integer
    categories (unknown ones all zeros), FeatureVectorizer joining columns (the second input cut to 2 of 4)."""
    xf = RNG.standard_normal((7, 3)).astype(np.float32)
    xf[::2, 1] = np.nan
    xi = RNG.integers(-1, 4, (7, 2)).astype(np.int64)
    nodes = [h.make_node("Imputer", ["xf"], ["fi"], domain=ML, imputed_value_floats=[0.5, -1.0, 2.0],
                         replaced_value_float=float("nan")),
             h.make_node("Imputer", ["xi"], ["ii"], domain=ML, imputed_value_int64s=[7], replaced_value_int64=-1),
             h.make_node("OneHotEncoder", ["ii"], ["oh"], domain=ML, cats_int64s=[0, 2, 3, 7]),
             h.make_node("FeatureVectorizer", ["fi", "x2"], ["y"], domain=ML, inputdimensions=[3, 2])]  # x2: 2 of 4
    m = _model(nodes, [("xf", T.FLOAT, [7, 3]), ("xi", T.INT64, [7, 2]), ("x2", T.FLOAT, [7, 4])],
               [("fi", T.FLOAT), ("ii", T.INT64), ("oh", T.FLOAT), ("y", T.FLOAT)])
    _check(m, {"xf": xf, "xi": xi, "x2": RNG.standard_normal((7, 4)).astype(np.float32)}, engines=("llvm", "c"))
