"""Op definitions. Importing this package registers every op."""
from . import (attention, control, dynamic, einsum, elementwise, grad, image, index, indexing, kv_cache,  # noqa: F401
               linalg, loss, ml, nn, qdq, quant, reduce, resize, rnn, sample, shape, sparse, ssm)
from .registry import OPS, Node, get  # noqa: F401
