"""Op definitions. Importing this package registers every op."""
from . import dynamic, elementwise, nn, quant, reduce, shape  # noqa: F401
from .registry import OPS, Node, get  # noqa: F401
