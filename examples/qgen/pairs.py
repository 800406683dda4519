"""Sentence -> question pairs for the question generator, derived from Python's documentation (Debian's
``python3.11-doc``: the reST sources under /usr/share/doc/python3.11/html/_sources).

    python examples/qgen/pairs.py [SOURCES_DIR]      # prints counts and a few pairs

Sentences: the prose paragraphs of every ``.rst.txt`` (directives' bodies kept; tables, code and literal blocks
dropped), inline markup reduced to its text (``:func:`len``` -> ``len``, ````x```` -> ``x``), split at
``. `` + capital letter (and at ``; `` + capital letter); kept when 6..30 words long, starting with a capital letter and ending with a period.

The pairing rule (explicit, first match wins; SUBJ is the 1..6 words before the first verb below, with no comma
and not starting with a pronoun or conjunction; "it" is allowed):

  SUBJ is|are used to|for ...        -> what is|are SUBJ used for ?
  SUBJ is|are raised when|if ...     -> when is|are SUBJ raised ?
  SUBJ is|are called when|if ...     -> when is|are SUBJ called ?
  SUBJ is|are <not a past participle> ... -> what is|are SUBJ ?
  SUBJ returns|return ...            -> what does|do SUBJ return ?
  SUBJ raises|raise ...              -> what does|do SUBJ raise ?
  SUBJ contains|takes|accepts|provides|creates|defines|supports|specifies|represents|determines|has|requires|
       uses|allows|implements|produces|describes|includes (or the plural form, after a subject with a plural-looking
       word) ...                     -> what does|do SUBJ contain|take|... ?
  SUBJ can|must|should|will|may VERB ... -> what can|must|... SUBJ VERB ?
  SUBJ was|were added in ...         -> when was|were SUBJ added ?

A question is lower-cased, with ``?`` as its own word. The split into train/validation/test is by source file
(hashed), so held-out questions come from pages the model never saw.
"""
import hashlib
import re
import sys
from pathlib import Path

SOURCES = Path("/usr/share/doc/python3.11/html/_sources")
SKIP_DIRECTIVES = ("code-block", "code", "sourcecode", "doctest", "testcode", "testoutput", "productionlist",
                   "csv-table", "list-table", "table", "literalinclude", "highlight", "toctree", "raw", "image",
                   "figure", "include", "only", "index", "audit-event", "impl-detail", "grammar-snippet")
PRONOUNS = {"this", "these", "that", "those", "there", "here", "they", "we", "you", "he", "she", "i", "if", "when",
            "while", "although", "because", "since", "as", "for", "but", "and", "or", "so", "in", "on", "at", "by",
            "with", "to", "from", "of", "also", "however", "note", "otherwise", "then", "thus", "what", "which",
            "whether", "how", "why", "where", "who", "each", "both", "either", "neither", "such", "all", "any", "some",
            "most", "many", "only", "not", "no", "it's", "let's"}
IMPERATIVES = {"return", "test", "get", "set", "create", "add", "remove", "use", "see", "call", "raise", "change",
               "make", "note", "read", "write", "open", "close", "run", "find", "list", "print", "check", "try",
               "compare", "convert", "apply", "send", "wait", "start", "stop", "register", "format", "parse",
               "construct", "initialize", "update", "delete", "insert", "load", "save", "build", "install"}
ADVERBS = {"not", "also", "only", "always", "never", "now", "then", "still", "just", "even", "usually", "often",
           "already", "either", "both", "no", "therefore", "thus", "instead", "first", "safely"}
VERBS_3 = {"contains": "contain", "takes": "take", "accepts": "accept", "provides": "provide", "creates": "create",
           "defines": "define", "supports": "support", "specifies": "specify", "represents": "represent",
           "determines": "determine", "returns": "return", "raises": "raise", "has": "have", "requires": "require",
           "uses": "use", "allows": "allow", "implements": "implement", "produces": "produce", "describes": "describe",
           "includes": "include"}
VERBS_PL = {v: v for v in VERBS_3.values()}
MODALS = {"can", "must", "should", "will", "may"}


def clean_inline(text: str) -> str:
    text = re.sub(r":[\w:.-]+:`~?([^`<]*?)\s*(?:<[^>]*>)?`", lambda m: m.group(1).split(".")[-1]
                  if m.group(0).split("`")[1].startswith("~") else m.group(1), text)
    text = re.sub(r"``([^`]+)``", r"\1", text)
    text = re.sub(r"`([^`<]+?)\s*<[^>]+>`_+", r"\1", text)
    text = re.sub(r"`([^`]+)`_*", r"\1", text)
    text = re.sub(r"\*\*([^*]+)\*\*|\*([^*\s][^*]*)\*", lambda m: m.group(1) or m.group(2), text)
    text = re.sub(r"\|[\w-]+\|_?", "", text)
    text = re.sub(r"\[#?\w*\]_", "", text)
    return re.sub(r"\s+", " ", text).strip()


def paragraphs(rst: str):
    """Prose paragraphs of one reST file, markup removed."""
    lines = rst.split("\n")
    skip_indent = None  # inside a literal block / skipped directive: lines indented more than this
    para, out = [], []

    def flush():
        if para:
            out.append(clean_inline(" ".join(para)))
            para.clear()

    for ln in lines:
        indent = len(ln) - len(ln.lstrip())
        s = ln.strip()
        if skip_indent is not None:
            if not s or indent > skip_indent:
                continue
            skip_indent = None
        if not s:
            flush()
            continue
        if s.startswith(".."):
            flush()
            m = re.match(r"\.\.\s+([\w:-]+)::", s)
            if m is None or m.group(1) in SKIP_DIRECTIVES or m.group(1).startswith("|"):
                skip_indent = indent  # comments, substitutions and non-prose directives: drop their bodies
            continue
        if s[0] in "+|" or s.startswith(">>>") or s.startswith("...") or re.fullmatch(r"([=\-~^\"'*#`:.+_])\1+", s) \
                or re.match(r"^[*-] |^\d+\. |^#\. ", s) or s.startswith(":"):
            flush()
            continue
        para.append(s)
        if s.endswith("::"):
            flush()
            skip_indent = indent
    flush()
    return out


def sentences(paragraph: str):
    """Sentences, and the clauses after '; ' that start with a capital letter (each ended with a period)."""
    parts = []
    for s in re.split(r"(?<=[.!?])\s+(?=[A-Z])", paragraph):
        clauses = s.split("; ")
        parts += [clauses[0] + ("." if len(clauses) > 1 else "")] + [c for c in clauses[1:] if c[:1].isupper()]
    for s in parts:
        words = s.split()
        if 6 <= len(words) <= 30 and s[0].isupper() and s.endswith(".") and not s.endswith("..") \
                and "::" not in s and not re.search(r"[{}\\]|\(\s*\)\s*\.$", s):
            yield s


def question(sentence: str):
    """The rule's question for a sentence, or None."""
    words = sentence[:-1].split()
    for i in range(1, min(7, len(words) - 1)):
        w = words[i].lower()
        if w not in ("is", "are", "was", "were") and w not in VERBS_3 and w not in VERBS_PL and w not in MODALS:
            continue
        subj = words[:i]
        first = subj[0].lower()
        if first in PRONOUNS or first in IMPERATIVES or first.endswith("ed") or \
                any(x.endswith((",", ";", ":", ".")) or x.lower() in PRONOUNS - {"of", "to", "in", "for"}
                    for x in subj) or any(x.lower() in VERBS_3 or x.lower() in MODALS for x in subj):
            return None
        if w in VERBS_PL and not any(x.endswith("s") and not x.endswith(("'s", "ss")) for x in subj):
            continue  # a plural verb needs a plural-looking subject ("the return value" is not one)
        rest = [x.lower().strip(",;") for x in words[i + 1:]]
        if not rest or rest[0] in ADVERBS or rest[0].endswith("ly"):
            return None
        subj_text = " ".join(subj).lower()
        if w in ("is", "are"):
            if rest[0] == "used" and len(rest) > 1 and rest[1] in ("to", "for"):
                return f"what {w} {subj_text} used for ?"
            if rest[0] in ("raised", "called") and len(rest) > 1 and rest[1] in ("when", "if"):
                return f"when {w} {subj_text} {rest[0]} ?"
            if rest[0].endswith("ed"):
                return None
            return f"what {w} {subj_text} ?"
        if w in ("was", "were"):
            if rest[:2] == ["added", "in"]:
                return f"when {w} {subj_text} added ?"
            return None
        if w in MODALS:
            verb = rest[0]
            if verb == "be" and len(rest) > 1 and rest[1].endswith("ed"):
                return None  # passive: "can be used ..."
            return f"what {w} {subj_text} {verb} ?"
        if w in VERBS_3:
            return f"what does {subj_text} {VERBS_3[w]} ?"
        return f"what do {subj_text} {w} ?"
    return None


def split_of(path: Path) -> str:
    h = int(hashlib.sha1(str(path).encode()).hexdigest(), 16) % 10
    return "test" if h == 0 else "valid" if h == 1 else "train"


def make_pairs(root=SOURCES):
    """{split: [(sentence, question)]} over every reST source under root (sorted, deterministic)."""
    out = {"train": [], "valid": [], "test": []}
    seen = set()
    for path in sorted(Path(root).rglob("*.rst.txt")):
        rel = path.relative_to(root)
        for para in paragraphs(path.read_text(encoding="utf-8", errors="replace")):
            for s in sentences(para):
                q = question(s)
                if q is not None and s not in seen:
                    seen.add(s)
                    out[split_of(rel)].append((s, q))
    return out


if __name__ == "__main__":
    pairs = make_pairs(Path(sys.argv[1]) if len(sys.argv) > 1 else SOURCES)
    print({k: len(v) for k, v in pairs.items()})
    import random
    for s, q in random.Random(0).sample(pairs["train"], 25):
        print(f"{s}\n   -> {q}")
