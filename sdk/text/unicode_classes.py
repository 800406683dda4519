"""Per-code-point rules of BERT's basic tokenization, as Hugging Face's ``BertNormalizer`` +
``BertPreTokenizer`` apply them, and the tables the C and JS tokenizers read.

Every rule is per code point (no context), so one table answers each:

- ``char_class(c)``: OTHER, CONTROL (removed: NUL, U+FFFD, categories Cc/Cf/Co/Cs except tab/newline/return),
  SPACE (tab, newline, return, categories Zs/Zl/Zp: becomes a word break), PUNCT (ASCII punctuation or
  category P*: a word of its own), CJK (the ideograph blocks of ``is_chinese_char``: a word of its own),
  MARK (category Mn: dropped when accents are stripped).
- ``char_map(c)``: accents stripped and lower-cased (``lowercase=True``): NFD of the code point without its Mn
  marks, then each char's full lower-case mapping (a per-char mapping, as HF's, so no final-sigma rule).
  Hangul syllables decompose algorithmically (not in the table).

``python -m sdk.text.unicode_tables`` writes them into the C and JS tokenizers' generated tables.
"""
import functools
import unicodedata

OTHER, CONTROL, SPACE, PUNCT, CJK, MARK = range(6)
UNICODE_VERSION = unicodedata.unidata_version

# is_chinese_char of HF tokenizers (normalizers/bert.rs), ranges inclusive
CJK_RANGES = ((0x4E00, 0x9FFF), (0x3400, 0x4DBF), (0x20000, 0x2A6DF), (0x2A700, 0x2B73F), (0x2B740, 0x2B81F),
              (0x2B920, 0x2CEAF), (0xF900, 0xFAFF), (0x2F800, 0x2FA1F))
HANGUL_FIRST, HANGUL_LAST = 0xAC00, 0xD7A3


def _is_cjk(o: int) -> bool:
    for a, b in CJK_RANGES:
        if a <= o <= b:
            return True
    return False


@functools.lru_cache(maxsize=65536)
def char_class(c: str) -> int:
    o = ord(c)
    if c in "\t\n\r":
        return SPACE
    cat = unicodedata.category(c)
    if o == 0 or o == 0xFFFD or cat in ("Cc", "Cf", "Co", "Cs"):  # not Cn: HF keeps unassigned code points
        return CONTROL
    if cat in ("Zs", "Zl", "Zp"):
        return SPACE
    if (33 <= o <= 47) or (58 <= o <= 64) or (91 <= o <= 96) or (123 <= o <= 126) or cat[0] == "P":
        return PUNCT
    if o >= 0x3400 and _is_cjk(o):
        return CJK
    if cat == "Mn":
        return MARK
    return OTHER


def hangul_nfd(o: int) -> str:
    s = o - HANGUL_FIRST
    out = chr(0x1100 + s // 588) + chr(0x1161 + (s % 588) // 28)
    return out + chr(0x11A7 + s % 28) if s % 28 else out


@functools.lru_cache(maxsize=65536)
def char_map(c: str) -> str:
    """Accent-stripped, lower-cased text of one code point (for a non-CONTROL, non-MARK, non-SPACE c)."""
    o = ord(c)
    d = hangul_nfd(o) if HANGUL_FIRST <= o <= HANGUL_LAST else unicodedata.normalize("NFD", c)
    return "".join(x.lower() for x in d if unicodedata.category(x) != "Mn")
