"""A WordPiece vocabulary as C source: the const ``sdk_wordpiece_vocab`` a bundle's tokenizer reads
(``runtime_c/include/sdk_text.h``)."""
from .wordpiece import WordPiece


def c_string(s: str) -> str:
    """A C string literal of s's UTF-8 bytes (octal escapes for anything but printable ASCII)."""
    out = []
    for b in s.encode("utf-8"):
        ch = chr(b)
        out.append(ch if 32 <= b < 127 and ch not in '"\\?' else f"\\{b:03o}")
    return '"' + "".join(out) + '"'


def render_vocab_c(tok: WordPiece, name: str) -> str:
    """C source defining ``const sdk_wordpiece_vocab <name>_vocab`` (declare it ``extern`` to use it)."""
    order = sorted(range(len(tok.vocab)), key=lambda i: tok.vocab[i].encode("utf-8"))
    lines = [f"/* WordPiece vocabulary of {name}: {len(tok.vocab)} tokens (written by sdk.text.vocab_c). */",
             '#include "sdk_text.h"', "",
             f"static const char *const {name}_vocab_tokens[{len(tok.vocab)}] = {{"]
    row = []
    for t in tok.vocab:
        row.append(c_string(t))
        if len(row) == 8:
            lines.append("    " + ", ".join(row) + ",")
            row = []
    if row:
        lines.append("    " + ", ".join(row) + ",")
    lines += ["};", "", f"/* ids sorted by token bytes (binary search) */",
              f"static const uint32_t {name}_vocab_sorted[{len(order)}] = {{"]
    lines += ["    " + ", ".join(f"{i}u" for i in order[k:k + 16]) + "," for k in range(0, len(order), 16)]
    lines += ["};", "",
              f"extern const sdk_wordpiece_vocab {name}_vocab;",
              f"const sdk_wordpiece_vocab {name}_vocab = {{",
              f"    {name}_vocab_tokens, {name}_vocab_sorted, {len(tok.vocab)}u,",
              f"    {tok.unk_id}, {tok.cls_id}, {tok.sep_id}, /* unk, cls, sep */",
              f"    {int(tok.lowercase)}, {tok.max_chars_per_word}, /* lowercase, max_chars_per_word */",
              "};", ""]
    return "\n".join(lines)
