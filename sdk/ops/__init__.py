"""Op definitions. Importing this package registers every op."""
from . import (attention, control, dynamic, einsum, elementwise, grad, index, indexing, kv_cache, loss,  # noqa: F401
               nn, qdq, quant, reduce, resize, rnn, sample, shape, sparse)
from .registry import OPS, Node, get  # noqa: F401
