"""A tokenizer for a bundle folder: the vocabulary as C (``<name>_vocab.c``), the C tokenizer's runtime files, the
``<name>_tokenize`` demo program, and for JS the vocab text with ``wordpiece.mjs`` + ``unicode_tables.mjs``."""
import shutil
from pathlib import Path

from ..resources import RUNTIME, TEMPLATES
from .vocab_c import render_vocab_c
from .wordpiece import WordPiece

C_RUNTIME = ["sdk_text.c", "sdk_text_tables.c", "sdk_status.c"]
HEADERS = ["sdk_text.h", "sdk_status.h"]
JS_FILES = ["wordpiece.mjs", "unicode_tables.mjs"]


def write_tokenizer(out, tok: WordPiece, name: str, js: bool = True) -> list:
    """Write the tokenizer files into ``out``; returns the C sources of the library half (the vocab and the
    runtime files; ``<name>_tokenize.c`` holds the demo's main)."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{name}_vocab.c").write_text(render_vocab_c(tok, name))
    for f in C_RUNTIME:
        shutil.copy(RUNTIME / "src" / f, out / f)
    for h in HEADERS:
        shutil.copy(RUNTIME / "include" / h, out / h)
    from ..backends.project import _render  # the templates' one environment
    (out / f"{name}_tokenize.c").write_text(_render("text/tokenize_main.c", name=name))
    if js:
        tok.save_vocab(out / f"{name}_vocab.txt")
        for f in JS_FILES:
            shutil.copy(TEMPLATES / "text" / f, out / f)
    return [f"{name}_vocab.c"] + C_RUNTIME
