"""Where the package's data folders are: ``runtime_c/``, ``targets/`` and ``templates/``.

They live at the top level of the repository (the design card fixes that layout); ``pyproject.toml`` maps them into
the wheel as ``sdk/_data/<name>``. A wheel or ``pip install .`` finds them there; a source checkout or an editable
install finds them next to the ``sdk`` folder."""
from __future__ import annotations

from importlib import resources
from pathlib import Path

from .errors import SdkError

DATA = ("runtime_c", "targets", "templates")


def data_dir(name: str) -> Path:
    """The folder ``name`` (one of ``DATA``) of this installation."""
    installed = Path(str(resources.files("sdk"))) / "_data" / name
    if installed.is_dir():
        return installed
    checkout = Path(__file__).resolve().parent.parent / name
    if checkout.is_dir():
        return checkout
    raise SdkError(f"this sdk installation has no '{name}' folder (looked in {installed} and {checkout}): "
                   "reinstall it (pip install .)")


RUNTIME = data_dir("runtime_c")
TARGETS_DIR = data_dir("targets")
TEMPLATES = data_dir("templates")
