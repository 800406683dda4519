"""Op definitions. Importing this package registers every op."""
from . import elementwise, indexing, nn, quant, reduce, shape  # noqa: F401
from .registry import OPS, Node, get  # noqa: F401
