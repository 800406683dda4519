"""Python mirror of the C sampler (``runtime_c/src/sdk_generate.c``): the same xorshift64* stream, the same
sort order and the same double-precision sums, so a reference loop draws the tokens the bundle draws."""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import List, Sequence

import numpy as np

MASK64 = (1 << 64) - 1
MAX_BEAMS = 64  # SDK_MAX_BEAMS


@dataclass
class GenerateParams:
    """What ``<name>_generate`` takes (``sdk_generate_params`` in C), with the same defaults."""
    max_new_tokens: int = 16
    do_sample: bool = False
    temperature: float = 1.0
    top_k: int = 0
    top_p: float = 1.0
    seed: int = 1                       # the RNG's initial state (non-zero)
    stop_tokens: Sequence[int] = field(default_factory=tuple)
    num_beams: int = 1
    length_penalty: float = 1.0

    def check(self):
        from ..errors import SdkError
        if self.max_new_tokens < 1:
            raise SdkError(f"max_new_tokens={self.max_new_tokens}: at least 1")
        if self.do_sample and not self.temperature > 0:
            raise SdkError(f"temperature={self.temperature}: must be > 0")
        if not 0 < self.top_p <= 1:
            raise SdkError(f"top_p={self.top_p}: must be in (0, 1]")
        if self.top_k < 0:
            raise SdkError(f"top_k={self.top_k}: must be >= 0 (0: off)")
        if not 0 < self.seed <= MASK64:
            raise SdkError(f"seed={self.seed}: must be in 1..2**64-1")
        if not 1 <= self.num_beams <= MAX_BEAMS:
            raise SdkError(f"num_beams={self.num_beams}: 1..{MAX_BEAMS}")
        if self.num_beams > 1 and self.do_sample:
            raise SdkError("beam search is deterministic: do_sample with num_beams > 1 is not supported")


class Rng:
    """xorshift64* with the state in the object, as ``sdk_rng_next``."""

    def __init__(self, seed: int):
        self.state = seed & MASK64

    def next(self) -> int:
        x = self.state
        x ^= x >> 12
        x ^= (x << 25) & MASK64
        x ^= x >> 27
        self.state = x
        return (x * 0x2545F4914F6CDD1D) & MASK64

    def uniform(self) -> float:
        return (self.next() >> 11) * (1.0 / 9007199254740992.0)


def argmax(x: np.ndarray) -> int:
    """First index of the maximum (``sdk_argmax_f32``): NaN never wins (index 0 when every value is NaN), where
    ``np.argmax`` would return the first NaN."""
    x = np.asarray(x)
    ok = np.flatnonzero(x == x)
    return int(ok[np.argmax(x[ok])]) if len(ok) else 0


def sorted_desc(x: np.ndarray) -> List[int]:
    """Indices by value descending, index ascending on ties (``sdk_sort_desc_f32``)."""
    return sorted(range(len(x)), key=lambda i: (-float(x[i]), i))


def sample(logits: np.ndarray, p: GenerateParams, rng: Rng) -> int:
    """``sdk_sample_f32``: temperature, top-k, top-p, then one draw."""
    n = len(logits)
    order = sorted_desc(logits)
    k = p.top_k if 0 < p.top_k < n else n
    t = float(np.float32(p.temperature)) if p.temperature > 0 else 1.0  # the C field is a float
    m = float(logits[order[0]])
    e = [math.exp((float(logits[i]) - m) / t) for i in order[:k]]
    total = 0.0
    for v in e:
        total += v
    top_p = float(np.float32(p.top_p))  # the C field is a float
    if top_p < 1.0:
        target, cum = top_p * total, 0.0
        for j, v in enumerate(e):
            cum += v
            if cum >= target:
                k = j + 1
                break
        total = cum
    u = rng.uniform() * total
    acc = 0.0
    for j in range(k):
        acc += e[j]
        if u < acc:
            return order[j]
    return order[k - 1]


@dataclass
class Beam:
    """``sdk_beam``: sum of log-probabilities, tokens generated, ended with a stop token."""
    score: float
    length: int = 0
    done: bool = False


def _norm(b: Beam, length_penalty: float) -> float:
    return b.score / (float(b.length) ** length_penalty) if b.length > 0 else b.score


def beam_step(logits: np.ndarray, beams: List[Beam], p: GenerateParams):
    """``sdk_beam_step``: (new beams, parents, tokens with -1 for a finished beam kept)."""
    lp = float(np.float32(p.length_penalty))
    n, vocab = len(beams), logits.shape[1]
    best = []  # (norm, score, token, parent, length, done), best first; earlier candidates win ties

    def insert(c):
        if len(best) == n and not c[0] > best[-1][0]:
            return
        i = len(best)
        while i > 0 and c[0] > best[i - 1][0]:
            i -= 1
        best.insert(i, c)
        del best[n:]
    for j, b in enumerate(beams):
        if b.done:
            insert((_norm(b, lp), b.score, -1, j, b.length, True))
            continue
        if b.score == -math.inf:
            continue
        x = logits[j]
        m = float(x[argmax(x)])
        lane = [0.0] * 8  # sum_exp_shifted's eight running sums, added in its order
        for v in range(vocab):
            lane[v % 8] += math.exp(float(x[v]) - m)
        lse = math.log(((lane[0] + lane[4]) + (lane[2] + lane[6])) + ((lane[1] + lane[5]) + (lane[3] + lane[7])))
        for v in range(vocab):
            s = b.score + ((float(x[v]) - m) - lse)
            c = Beam(s, b.length + 1)
            insert((_norm(c, lp), s, v, j, b.length + 1, v in p.stop_tokens))
    out = [Beam(c[1], c[4], c[5]) for c in best] + [Beam(-math.inf, 0, True)] * (n - len(best))
    parents = [c[3] for c in best] + [0] * (n - len(best))
    tokens = [c[2] for c in best] + [-1] * (n - len(best))
    return out, parents, tokens


def beam_order(beams: List[Beam], length_penalty: float) -> List[int]:
    """``sdk_beam_order``: beams best first, index ascending on ties."""
    lp = float(np.float32(length_penalty))
    return sorted(range(len(beams)), key=lambda i: (-_norm(beams[i], lp), i))
