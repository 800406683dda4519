"""Op definitions. Importing this package registers every op."""
from . import attention, dynamic, einsum, elementwise, index, loss, nn, quant, reduce, rnn, sample, shape  # noqa: F401
from .registry import OPS, Node, get  # noqa: F401
