"""sdk: compile ONNX models (with symbolic dims) to self-contained C bundles."""
from importlib import metadata as _metadata

from .api import Bundle, compile  # noqa: F401
from .errors import SdkError  # noqa: F401
from .sparse import prune  # noqa: F401

try:
    __version__ = _metadata.version("sdk")
except _metadata.PackageNotFoundError:  # a source checkout on PYTHONPATH, not installed
    __version__ = "0+unknown"
