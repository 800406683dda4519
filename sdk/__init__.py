"""sdk: compile ONNX models (with symbolic dims) to self-contained C bundles."""
from .api import Bundle, compile  # noqa: F401
from .errors import SdkError  # noqa: F401
