"""Op definitions. Importing this package registers every op."""
from . import (attention, control, dynamic, einsum, elementwise, index, indexing, loss, nn, quant, reduce, rnn,  # noqa: F401
               sample, shape)
from .registry import OPS, Node, get  # noqa: F401
