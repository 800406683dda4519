"""Error types. The CLI prints one line for any SdkError and exits non-zero."""


class SdkError(Exception):
    """Base class of every error the SDK raises on purpose."""


class ImportError_(SdkError):
    """The model could not be imported (not ONNX, truncated, bad graph)."""


class UnsupportedOp(ImportError_):
    """An op (or an attribute value of it) that the compiler does not support."""

    def __init__(self, op, node="", detail=""):
        self.op, self.node = op, node
        where = f" (node '{node}')" if node else ""
        super().__init__(f"unsupported op {op}{where}" + (f": {detail}" if detail else ""))


class ShapeError(SdkError):
    """Shapes or dtypes do not agree (at import or at run time)."""


class BoundError(SdkError):
    """A symbolic dimension needs an upper bound (--dim NAME=MAX) or exceeds it."""


class BuildError(SdkError):
    """Compiling or running a generated bundle failed."""


class FormatError(SdkError):
    """A file (index, tensor file) is corrupt, truncated or of the wrong version."""
