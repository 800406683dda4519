"""Op definitions. Importing this package registers every op."""
from . import attention, control, dynamic, elementwise, index, loss, nn, quant, reduce, shape  # noqa: F401
from .registry import OPS, Node, get  # noqa: F401
