"""Learning a WordPiece vocabulary from text: the alphabet (each char plain and as a ``##`` continuation) plus
pieces merged bottom-up, BPE style, most frequent adjacent pair first (Hugging Face's WordPiece trainer works
the same way), until the vocabulary has ``vocab_size`` tokens."""
import heapq
from collections import Counter, defaultdict

from .wordpiece import WordPiece, basic_words

SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


def _merge(a: str, b: str) -> str:
    return a + b[2:]  # b is always a continuation ("##x")


def train_wordpiece_vocab(texts, vocab_size: int, lowercase: bool = True, min_frequency: int = 2,
                          specials=SPECIALS) -> list:
    """Tokens (id = index): ``specials``, the alphabet, then merged pieces in merge order. Deterministic: ties
    go to the lexicographically smallest pair."""
    counts = Counter(w for t in texts for w in basic_words(t, lowercase))
    words = [[w[0]] + ["##" + c for c in w[1:]] for w in counts]
    freq = list(counts.values())
    alphabet = sorted({s for w in words for s in w})
    vocab = list(specials) + [s for s in alphabet if s not in specials]
    have = set(vocab)
    pairs = Counter()
    where = defaultdict(set)
    for i, w in enumerate(words):
        for p in zip(w, w[1:]):
            pairs[p] += freq[i]
            where[p].add(i)
    heap = [(-c, p) for p, c in pairs.items()]
    heapq.heapify(heap)
    while len(vocab) < vocab_size and heap:
        c, best = heapq.heappop(heap)
        if -c != pairs.get(best, 0):
            continue  # stale entry
        if -c < min_frequency:
            break
        new = _merge(*best)
        if new not in have:
            vocab.append(new)
            have.add(new)
        changed = set()
        for i in sorted(where.pop(best, ())):
            w = words[i]
            for p in zip(w, w[1:]):
                pairs[p] -= freq[i]
                changed.add(p)
            out, k = [], 0
            while k < len(w):
                if k + 1 < len(w) and (w[k], w[k + 1]) == best:
                    out.append(new)
                    k += 2
                else:
                    out.append(w[k])
                    k += 1
            words[i] = out
            for p in zip(out, out[1:]):
                pairs[p] += freq[i]
                where[p].add(i)
                changed.add(p)
        pairs.pop(best, None)
        for p in changed:
            if pairs.get(p, 0) > 0:
                heapq.heappush(heap, (-pairs[p], p))
    return vocab


def train_wordpiece(texts, vocab_size: int, lowercase: bool = True, **kw) -> WordPiece:
    return WordPiece(train_wordpiece_vocab(texts, vocab_size, lowercase=lowercase, **kw), lowercase=lowercase)
