"""sdk: compile ONNX models (with symbolic dims) to self-contained C bundles."""
from importlib import metadata as _metadata

from .errors import SdkError  # noqa: F401

# The compiler (sdk.compile, sdk.Bundle, sdk.prune) is imported on first use: it pulls in onnx, whose import
# (ml_dtypes' ufunc registration) costs ~1.2 s of CPU, which commands that only run a built bundle (`sdk run`,
# `sdk generate`, `sdk vq`) do not need.
_LAZY = {"Bundle": "api", "compile": "api", "prune": "sparse"}


def __getattr__(name):
    from importlib import import_module
    from importlib.util import find_spec
    if name in _LAZY:
        value = getattr(import_module(f".{_LAZY[name]}", __name__), name)
    elif not name.startswith("_") and find_spec(f"{__name__}.{name}") is not None:
        value = import_module(f".{name}", __name__)  # a submodule (e.g. sdk.api), as when `import sdk` loaded them all
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_LAZY))


try:
    __version__ = _metadata.version("sdk")
except _metadata.PackageNotFoundError:  # a source checkout on PYTHONPATH, not installed
    __version__ = "0+unknown"
