"""Op definitions. Importing this package registers every op."""
from . import (attention, control, dft, dynamic, einsum, elementwise, grad, image, index, indexing,  # noqa: F401
               fused, kv_cache, linalg, loss, ml, nn, qdq, quant, reduce, resize, rnn, shape, sparse, ssm)
# after image: roi's RoiAlign (adaptive sampling) and sample's AffineGrid (symbolic size) replace image's
from . import roi, sample  # noqa: F401,E402
from .registry import HINTS, OPS, Node, get  # noqa: F401
