"""Sparse weights: storage formats (``formats``), the cost model that picks one per weight (``cost``), and
``prune`` (magnitude pruning of an ONNX model, for experiments). The graph pass is ``sdk/transform/sparsify.py``;
the kernels are ``runtime_c/src/sdk_sparse.c``. See docs/sparse.md."""
from .formats import SPARSE_TILE, Encoded, encode, index_dtype  # noqa: F401
from .pruning import prune, prune_matrix  # noqa: F401
