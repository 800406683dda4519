"""WordPiece tokenizer with BERT's basic tokenization (Hugging Face ``BertNormalizer`` + ``BertPreTokenizer`` +
``WordPiece`` + the ``[CLS] ... [SEP]`` template), the reference for the C (``runtime_c/src/sdk_text.c``) and JS
(``templates/text/wordpiece.mjs``) tokenizers, which give the same ids.

    tok = WordPiece.from_file("vocab.txt")            # one token a line, id = line number
    tok.encode("Héllo, world!")                        # [101, 7592, 1010, 2088, 999, 102] with BERT's vocab
"""
import json
from pathlib import Path

from ..errors import SdkError
from .unicode_classes import CJK, CONTROL, MARK, PUNCT, SPACE, char_class, char_map


class TokenizerError(SdkError):
    pass


class WordPiece:
    """vocab: token strings, id = index. lowercase: lower-case and strip accents (BERT uncased).
    Continuation pieces carry ``##``; a word longer than max_chars_per_word chars, or one that does not split
    into vocabulary pieces, is one ``unk`` token."""

    def __init__(self, vocab, lowercase=True, unk="[UNK]", cls="[CLS]", sep="[SEP]", pad="[PAD]",
                 max_chars_per_word=100):
        self.vocab = list(vocab)
        self.ids = {t: i for i, t in enumerate(self.vocab)}
        if len(self.ids) != len(self.vocab):
            raise TokenizerError("WordPiece vocab has duplicate tokens")
        if unk not in self.ids:
            raise TokenizerError(f"WordPiece vocab has no unknown token {unk!r}")
        self.lowercase = lowercase
        self.max_chars_per_word = max_chars_per_word
        self.unk_id = self.ids[unk]
        self.cls_id, self.sep_id, self.pad_id = self.ids.get(cls, -1), self.ids.get(sep, -1), self.ids.get(pad, -1)

    @classmethod
    def from_file(cls, path, **kw):
        """A vocab.txt (one token a line) or a Hugging Face tokenizer.json with a WordPiece model."""
        path = Path(path)
        text = path.read_text(encoding="utf-8")
        if path.suffix == ".json":
            return cls.from_tokenizer_json(text, **kw)
        lines = [t[:-1] if t.endswith("\r") else t for t in text.split("\n")]  # LF or CRLF lines
        return cls(lines[:-1] if lines and lines[-1] == "" else lines, **kw)

    @classmethod
    def from_tokenizer_json(cls, text, **kw):
        spec = json.loads(text)
        model = spec["model"]
        if model.get("type") != "WordPiece" or model.get("continuing_subword_prefix", "##") != "##":
            raise TokenizerError("tokenizer.json: only a WordPiece model with the '##' prefix is supported")
        vocab = [None] * len(model["vocab"])
        for t, i in model["vocab"].items():
            vocab[i] = t
        norm = spec.get("normalizer") or {}
        kw.setdefault("lowercase", bool(norm.get("lowercase", True)))
        kw.setdefault("unk", model.get("unk_token", "[UNK]"))
        kw.setdefault("max_chars_per_word", model.get("max_input_chars_per_word", 100))
        return cls(vocab, **kw)

    def save_vocab(self, path):
        """Write vocab.txt (one token a line, id = line number): what ``from_file`` and the JS
        ``WordPiece.fromVocabText`` read."""
        Path(path).write_text("".join(t + "\n" for t in self.vocab), encoding="utf-8")

    def words(self, text: str) -> list:
        """Basic tokenization: the normalized words and punctuation marks, in order."""
        return basic_words(text, self.lowercase)

    def word_ids(self, word: str) -> list:
        """Greedy longest-match-first pieces of one word (by code points)."""
        if len(word) > self.max_chars_per_word:
            return [self.unk_id]
        out, start = [], 0
        while start < len(word):
            end = len(word)
            while end > start:
                piece = word[start:end] if start == 0 else "##" + word[start:end]
                if piece in self.ids:
                    out.append(self.ids[piece])
                    break
                end -= 1
            else:
                return [self.unk_id]
            start = end
        return out

    def encode(self, text: str, add_special_tokens=True, max_length=None) -> list:
        """Token ids of text; with add_special_tokens, ``[CLS] ... [SEP]``. max_length truncates (the ``[SEP]``
        kept), as Hugging Face's truncation does."""
        ids = [i for w in self.words(text) for i in self.word_ids(w)]
        if add_special_tokens:
            if self.cls_id < 0 or self.sep_id < 0:
                raise TokenizerError("WordPiece vocab has no [CLS]/[SEP] for add_special_tokens")
            if max_length is not None:
                ids = ids[:max(0, max_length - 2)]
            return [self.cls_id] + ids + [self.sep_id]
        return ids if max_length is None else ids[:max_length]

    def decode(self, ids, skip_special_tokens=True) -> str:
        """Tokens joined by spaces, ``##`` pieces glued to the previous one (BERT's decoder, without its cleanup)."""
        special = {self.cls_id, self.sep_id, self.pad_id} if skip_special_tokens else set()
        out = ""
        for i in ids:
            if i in special:
                continue
            t = self.vocab[i]
            out += t[2:] if t.startswith("##") and out else (" " + t if out else t)
        return out


def basic_words(text: str, lowercase: bool = True) -> list:
    """BERT's basic tokenization of text: the normalized words and punctuation marks, in order."""
    words, cur = [], []

    def flush():
        if cur:
            words.append("".join(cur))
            cur.clear()

    for c in text:
        k = char_class(c)
        if k == CONTROL or (k == MARK and lowercase):
            continue
        if k == SPACE or k == CJK:
            flush()
            if k == SPACE:
                continue
        for m in (char_map(c) if lowercase else c):
            mk = char_class(m)
            if mk == SPACE:
                flush()
            elif mk == PUNCT:
                flush()
                words.append(m)
            else:
                cur.append(m)
        if k == CJK:
            flush()
    flush()
    return words
