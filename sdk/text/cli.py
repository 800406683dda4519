"""`sdk tokenize VOCAB TEXT...`: WordPiece ids of texts (one line each); `--export DIR` writes the tokenizer for a
bundle (C vocab table + runtime files + demo program, JS module + vocab.txt). add_subcommand() hooks it into the
main CLI."""
from pathlib import Path

from ..errors import SdkError


def cmd_tokenize(a):
    from .bundle import write_tokenizer
    from .wordpiece import WordPiece
    if not Path(a.vocab).is_file():
        raise SdkError(f"{a.vocab}: no such file (a vocab.txt or a tokenizer.json with a WordPiece model)")
    tok = WordPiece.from_file(a.vocab, **({"lowercase": False} if a.cased else {}))
    for t in a.text:
        ids = tok.encode(t, add_special_tokens=not a.no_special, max_length=a.max_len)
        print(" ".join(map(str, ids)))
    if a.export:
        write_tokenizer(a.export, tok, a.name)
        print(f"wrote {a.export}: {a.name}_vocab.c ({len(tok.vocab)} tokens), {a.name}_tokenize.c, sdk_text.c, "
              f"{a.name}_vocab.txt, wordpiece.mjs")
    return 0


def add_subcommand(sub):
    p = sub.add_parser("tokenize", help="WordPiece token ids of texts; export the C/JS tokenizer",
                       description="WordPiece token ids (BERT's basic tokenization: lower-casing, accent stripping, "
                                   "punctuation split) of each TEXT, one line each.\n\nexample:\n"
                                   "  sdk tokenize vocab.txt 'Hello, world!' --export out/tok")
    p.add_argument("vocab", help="vocab.txt (one token a line) or a Hugging Face tokenizer.json (WordPiece)")
    p.add_argument("text", nargs="*", help="texts to tokenize")
    p.add_argument("--no-special", action="store_true", help="no [CLS] ... [SEP]")
    p.add_argument("--max-len", type=int, help="truncate to this many ids ([SEP] kept)")
    p.add_argument("--cased", action="store_true", help="keep case and accents (a cased vocab)")
    p.add_argument("--export", metavar="DIR", help="write the C and JS tokenizer files into DIR")
    p.add_argument("--name", default="model", help="C prefix of the vocab table (<name>_vocab)")
    p.set_defaults(fn=cmd_tokenize)
    return p
