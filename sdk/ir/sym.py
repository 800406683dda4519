"""Symbolic integer expressions for tensor dimensions (Relax-style).

A dimension is either a Python ``int`` or a :class:`Sym`. A ``Sym`` is a
polynomial with integer coefficients over *atoms*; an atom is a variable or
an opaque term (floordiv, mod, min, max) that could not be simplified. Every
operation returns a plain ``int`` when the result is constant, so static
shapes stay plain tuples of ints.

Every variable has a range: a tensor dim is at least 1 (the runtime rejects
smaller dims) and at most its compile-time bound when one is known
(:func:`assume_bounds`). ``min``/``max``/``floordiv`` simplify when the ranges
decide them, e.g. ``min(seq + 1, 1) == 1``, and :func:`prove_le` /
:func:`prove_eq` answer comparisons that hold for every value in range.
"""
from __future__ import annotations

import contextlib
import contextvars
import math
from typing import Dict, Mapping, Optional, Tuple, Union

Dim = Union[int, "Sym"]


class Atom:
    """An indivisible term: a variable or an opaque function of Syms."""

    __slots__ = ("kind", "args", "key", "lo", "hi")

    def __init__(self, kind: str, args: tuple, lo: int = 1, hi: Optional[int] = None):
        self.kind, self.args = kind, args
        self.lo, self.hi = lo, hi  # range of a variable (hi None: only the compile-time bound, if any)
        self.key = kind + "(" + ",".join(_key(a) for a in args) + ")" if kind != "var" else args[0]

    def __eq__(self, other):
        return isinstance(other, Atom) and self.key == other.key

    def __hash__(self):
        return hash(self.key)

    def __lt__(self, other):
        return self.key < other.key


def _key(x) -> str:
    return x.key if isinstance(x, (Atom, Sym)) else str(x)


Mono = Tuple[Atom, ...]  # sorted product of atoms; () is the constant term


class Sym:
    """A polynomial over atoms. Build with :func:`var` and arithmetic."""

    __slots__ = ("terms", "key")

    def __init__(self, terms: Dict[Mono, int]):
        self.terms = {m: c for m, c in terms.items() if c != 0}
        self.key = " + ".join(f"{c}*{'*'.join(a.key for a in m)}" for m, c in sorted(
            self.terms.items(), key=lambda t: [a.key for a in t[0]]))

    # -- construction helpers
    @staticmethod
    def make(terms: Dict[Mono, int]) -> Dim:
        terms = {m: c for m, c in terms.items() if c != 0}
        if not terms:
            return 0
        if list(terms) == [()]:
            return terms[()]
        return Sym(terms)

    def __eq__(self, other):
        return isinstance(other, Sym) and self.key == other.key

    def __hash__(self):
        return hash(self.key)

    def __bool__(self):
        return True  # a non-constant polynomial is never identically zero

    # -- arithmetic
    def __add__(self, other):
        return add(self, other)

    __radd__ = __add__

    def __sub__(self, other):
        return add(self, mul(-1, other))

    def __rsub__(self, other):
        return add(other, mul(-1, self))

    def __mul__(self, other):
        return mul(self, other)

    __rmul__ = __mul__

    def __neg__(self):
        return mul(-1, self)

    def __floordiv__(self, other):
        return floordiv(self, other)

    def __rfloordiv__(self, other):
        return floordiv(other, self)

    def __mod__(self, other):
        return mod(self, other)

    def __repr__(self):
        return to_str(self)


def var(name: str, lo: float = 1, hi: Optional[int] = None) -> Sym:
    """A symbolic dim. Tensor dims are >= 1; a symbol that may be 0 (a data-dependent
    count) passes ``lo=0``, one that may be any integer ``lo=-INF``; ``hi`` is a known
    upper bound. All uses of one name must agree on its range."""
    return Sym({(Atom("var", (name,), lo, hi),): 1})


def _terms(x: Dim) -> Dict[Mono, int]:
    if isinstance(x, Sym):
        return dict(x.terms)
    return {(): int(x)}


def add(a: Dim, b: Dim) -> Dim:
    if not isinstance(a, Sym) and not isinstance(b, Sym):
        return int(a) + int(b)
    t = _terms(a)
    for m, c in _terms(b).items():
        t[m] = t.get(m, 0) + c
    return Sym.make(_fold_min_max(t))


def _fold_min_max(t: Dict[Mono, int]) -> Dict[Mono, int]:
    """c*min(p, q) + c*max(p, q) == c*(p + q): one canonical form for SEW's unpadding length,
    n - min(n, 0) (a Slice's clamp) against max(n, 0) (a Pad's)."""
    for m, c in list(t.items()):
        if c == 0 or len(m) != 1 or m[0].kind != "min":
            continue
        twin = (Atom("max", m[0].args),)
        if t.get(twin, 0) == c:
            t[m] = t[twin] = 0
            for arg in m[0].args:
                for m2, c2 in _terms(arg).items():
                    t[m2] = t.get(m2, 0) + c * c2
    return t


def mul(a: Dim, b: Dim) -> Dim:
    if not isinstance(a, Sym) and not isinstance(b, Sym):
        return int(a) * int(b)
    t: Dict[Mono, int] = {}
    for m1, c1 in _terms(a).items():
        for m2, c2 in _terms(b).items():
            m = tuple(sorted(m1 + m2))
            t[m] = t.get(m, 0) + c1 * c2
    return Sym.make(t)


def floordiv(a: Dim, b: Dim) -> Dim:
    if not isinstance(a, Sym) and not isinstance(b, Sym):
        return int(a) // int(b)
    if b == 1:
        return a
    if not isinstance(b, Sym) and b < 0:  # floor(a / b) == floor(-a / -b): (-2*n) // -1 == 2*n (XLNet's rel-shift)
        return floordiv(mul(-1, a), -b)
    if not isinstance(b, Sym) and b > 0:
        for kind, f in (("max", smax), ("min", smin)):
            inner = _sole_atom(a, kind)
            if inner is not None:  # floor(x / b) is monotone: max(p, q) // b == max(p // b, q // b)
                return f(floordiv(inner.args[0], b), floordiv(inner.args[1], b))
        # a == b*q + r  =>  a // b == q + r // b; r // b == 0 when r is in [0, b-1]
        ta = _terms(a)
        q = Sym.make({m: c // b for m, c in ta.items() if c % b == 0 or m == ()})
        r = Sym.make({m: c if m else c % b for m, c in ta.items() if c % b != 0})
        # the constant moved into [0, b): (n - 1) // 2 + 1 and (n + 1) // 2 are one canonical form
        if r == 0:
            return q
        lo, hi = range_of(r)
        if lo >= 0 and hi <= b - 1:
            return q
        if hi <= 0 and lo < 0:
            # a non-positive numerator: floor(r / b) == -ceil(-r / b) == -((-r + b - 1) // b), whose numerator is
            # non-negative (code generators print floordiv as C's truncating '/': (-s) // 4 ran as -(s / 4))
            return sub(q, floordiv(add(mul(-1, r), b - 1), b))
        if lo >= 0 and hi < math.inf and lo // b == hi // b:
            return add(q, lo // b)
        c0 = _terms(r).get((), 0)
        inner = _sole_atom(sub(r, c0), "floordiv")
        if inner is not None and not isinstance(inner.args[1], Sym) and inner.args[1] > 0:
            # (x // d + c) // b == (x + c*d) // (d*b) for positive d, b (a conv stack's ((n // 5) // 2) // 2 ==
            # n // 20; two stride-2 convs' ((n + 1) // 2 + 1) // 2 == (n + 3) // 4)
            return add(q, floordiv(add(inner.args[0], c0 * inner.args[1]), inner.args[1] * b))
        return add(q, Sym.make({(Atom("floordiv", (r, b)),): 1}))
    if isinstance(b, Sym) and isinstance(a, Sym):
        q = _exact_quotient(a, b)  # e.g. (32*b*p + 32*b) // (16*p + 16) == 2*b
        if q is not None:
            return q
    if range_of(a)[0] >= 0 and prove_lt(a, b):
        return 0
    return Sym.make({(Atom("floordiv", (a, b)),): 1})


def _exact_quotient(a: "Sym", b: "Sym") -> Optional[Dim]:
    """q with a == q*b exactly, or None: polynomial long division in graded
    lexicographic order, which leaves no remainder exactly when b divides a."""
    universe = sorted({atom.key for m in list(a.terms) + list(b.terms) for atom in m})

    def order(m):
        keys = [x.key for x in m]
        return len(m), tuple(keys.count(k) for k in universe)

    lead_b = max(b.terms, key=order)
    cb = b.terms[lead_b]
    rem, q = dict(a.terms), {}
    for _ in range(64):  # quotients of shape arithmetic are small
        rem = {m: c for m, c in rem.items() if c}
        if not rem:
            return Sym.make(q)
        lead = max(rem, key=order)
        rest = list(lead)
        for atom in lead_b:
            if atom not in rest:
                return None
            rest.remove(atom)
        if rem[lead] % cb:
            return None
        mq, cq = tuple(sorted(rest)), rem[lead] // cb
        q[mq] = q.get(mq, 0) + cq
        for m, c in b.terms.items():
            mm = tuple(sorted(m + mq))
            rem[mm] = rem.get(mm, 0) - c * cq
    return None


def mod(a: Dim, b: Dim) -> Dim:
    if not isinstance(a, Sym) and not isinstance(b, Sym):
        return int(a) % int(b)
    return sub(a, mul(floordiv(a, b), b))


def sub(a: Dim, b: Dim) -> Dim:
    return add(a, mul(-1, b))


def _sole_atom(x: Dim, kind: str) -> Optional[Atom]:
    """The atom when x is exactly one min/max/... atom of that kind (coefficient 1), else None."""
    if isinstance(x, Sym) and len(x.terms) == 1:
        (m, c), = x.terms.items()
        if c == 1 and len(m) == 1 and m[0].kind == kind:
            return m[0]
    return None


def _nonneg(x: Dim, depth: int = 3) -> bool:
    """x >= 0 for every value in range: by interval, or, for x = r - c*max(p, q) (or r + c*min(p, q)), c > 0, by
    both r - c*p >= 0 and r - c*q >= 0 (torch.roll's Slice lengths: seq - max(seq - 2, 0) >= 0), and for
    x = r + c*max(p, q) (or r - c*min(p, q)) by either."""
    if range_of(x)[0] >= 0:
        return True
    if depth == 0 or not isinstance(x, Sym):
        return False
    for m, c in x.terms.items():
        if len(m) == 1 and m[0].kind in ("max", "min"):
            rest = Sym.make({k: v for k, v in x.terms.items() if k != m})
            bounds = [_nonneg(add(rest, mul(c, t)), depth - 1) for t in m[0].args]
            # c*max(p, q) is at most c*p and c*q for c < 0 (both must hold), at least either for c > 0 (one
            # suffices: min(n, max(n, 0)) == n); min the other way round
            if all(bounds) if (m[0].kind == "max") == (c < 0) else any(bounds):
                return True
    return False


def smin(a: Dim, b: Dim) -> Dim:
    lo, hi = range_of(sub(a, b))
    if hi <= 0 or _nonneg(sub(b, a)):
        return a
    if lo >= 0 or _nonneg(sub(a, b)):
        return b
    # min(a, max(p, q)) = max(p, q) when both p <= a and q <= a (Slice's clamp of an end below the length)
    for x, y in ((a, b), (b, a)):
        inner = _sole_atom(y, "max")
        if inner is not None and all(prove_le(t, x) for t in inner.args):
            return y
    return Sym.make({(Atom("min", tuple(sorted((a, b), key=_key))),): 1})


def smax(a: Dim, b: Dim) -> Dim:
    lo, hi = range_of(sub(a, b))
    if lo >= 0 or _nonneg(sub(a, b)):
        return a
    if hi <= 0 or _nonneg(sub(b, a)):
        return b
    for x, y in ((a, b), (b, a)):
        inner = _sole_atom(y, "min")
        if inner is not None and all(prove_le(x, t) for t in inner.args):
            return y
    return Sym.make({(Atom("max", tuple(sorted((a, b), key=_key))),): 1})


def bare_var(x: Dim) -> Optional[str]:
    """The symbol's name when x is a symbol alone (a dim bound straight from an input), else None."""
    atom = _sole_atom(x, "var")
    return atom.args[0] if atom is not None else None


def same_dim(a: Dim, b: Dim) -> bool:
    """True when two tensor dimensions are equal wherever both are valid (non-negative). Beyond a - b == 0, a
    dimension that is exactly max(e, 0) equals e, because e, being the other dimension, is never negative in a
    valid run (a conv's output length (L - k) // s + 1 against the same length sliced and clamped by Slice)."""
    if sub(a, b) == 0:
        return True
    for x, y in ((a, b), (b, a)):
        clamp = _sole_atom(x, "max")
        if clamp is not None and 0 in clamp.args:
            e = clamp.args[1] if clamp.args[0] == 0 else clamp.args[0]
            if sub(e, y) == 0:
                return True
    return False


class Ratio:
    """An exact rational value ``num / den`` (num a Dim, den an int > 1) of a float tensor holding dim arithmetic.
    Only float symbolic rules (ops/symbolic.py) make and read them; ``ratio`` returns a plain Dim when exact."""

    __slots__ = ("num", "den")

    def __init__(self, num: Dim, den: int):
        self.num, self.den = num, den

    def __float__(self):
        return int(self.num) / self.den  # static values only (the importer stores them as constants)

    def __eq__(self, other):
        return isinstance(other, Ratio) and self.den == other.den and sub(self.num, other.num) == 0

    def __hash__(self):
        return hash((str(self.num), self.den))

    def __repr__(self):
        return f"({to_str(self.num)})/{self.den}"


def ratio(num: Dim, den: int):
    """``num / den`` as a Dim when exact, else a Ratio (den > 0; reduced by a common constant factor)."""
    if den < 0:
        num, den = mul(-1, num), -den
    g = den
    for c in (_terms(num).values()):
        g = math.gcd(g, int(c))
    if g > 1:
        num = Sym.make({m: c // g for m, c in num.terms.items()}) if isinstance(num, Sym) else int(num) // g
        den //= g
    return num if den == 1 else Ratio(num, den)


def ratio_parts(v) -> Tuple:
    return (v.num, v.den) if isinstance(v, Ratio) else (v, 1)


def ratio_of_float(c: float):
    """A float constant as an exact small ratio (1.0 -> 1, 0.5 -> Ratio(1, 2)), or None."""
    if not math.isfinite(c):
        return None
    from fractions import Fraction
    f = Fraction(c).limit_denominator(1 << 16)
    return ratio(f.numerator, f.denominator) if float(f) == c else None


def reduce_by(x: Dim, equalities) -> Dim:
    """``x`` rewritten with equalities known to hold when the model runs ((other, kept) pairs: two dims a shape
    rule matched at compile time, checked at run time): each eliminates the most complex term of ``other -
    kept`` found in ``other`` from ``x``'s terms (as a factor of them), so a length that two exporter formulas
    give differently becomes the kept one (SEW-D's pooled length, 2 * it: Reshape targets from the input's
    Shape). Top-level terms only; atoms (inside min / max / floordiv) are left as they are."""
    for other, kept in equalities:
        z = sub(other, kept)
        if not isinstance(x, Sym) or not isinstance(z, Sym) or not isinstance(other, Sym):
            continue
        own = [(m, c) for m, c in z.terms.items() if m and m in other.terms]
        if not own:
            continue
        pm, pc = max(own, key=lambda t: (len(t[0]), sum(len(a.key) for a in t[0])))
        for _ in range(8):
            hit = None
            for m, c in x.terms.items():
                rest = list(m)
                if c % pc == 0 and all(a in rest and not rest.remove(a) for a in pm):
                    hit = (tuple(rest), c // pc)
                    break
            if hit is None:
                break
            x = sub(x, mul(Sym.make({hit[0]: hit[1]}), z))
            if not isinstance(x, Sym):
                break
    return x


# ---------------------------------------------------------------- ranges
INF = math.inf
_BOUNDS: contextvars.ContextVar = contextvars.ContextVar("sdk_sym_bounds", default={})


@contextlib.contextmanager
def assume_bounds(bounds: Mapping[str, int]):
    """Within the block, variable ``name`` is at most ``bounds[name]`` (the compile-time
    bound, which the generated code checks before running)."""
    token = _BOUNDS.set({**_BOUNDS.get(), **{k: int(v) for k, v in bounds.items()}})
    try:
        yield
    finally:
        _BOUNDS.reset(token)


def _imul(a: Tuple, b: Tuple) -> Tuple:
    def m(x, y):
        return 0 if x == 0 or y == 0 else x * y
    p = [m(x, y) for x in a for y in b]
    return min(p), max(p)


def _fdiv(x, y):
    if math.isinf(x) or math.isinf(y):
        return 0 if math.isinf(y) and not math.isinf(x) else (x if y > 0 else -x)
    return x // y


# ranges of opaque atoms met during one range_of() call: nested min/max/floordiv share their terms,
# so without it the work doubles with each level of nesting
_MEMO: contextvars.ContextVar = contextvars.ContextVar("sdk_sym_range_memo", default=None)


def _atom_range(atom: Atom) -> Tuple:
    if atom.kind not in ("var", "shift"):
        memo = _MEMO.get()
        r = memo.get(atom.key)
        if r is None:
            r = memo[atom.key] = _opaque_range(atom)
        return r
    if atom.kind == "var":
        hi = atom.hi
        bound = _BOUNDS.get().get(atom.args[0])
        if bound is not None:
            hi = bound if hi is None else min(hi, bound)
        return atom.lo, (INF if hi is None else hi)
    lo, hi = _atom_range(atom.args[0])  # "shift": atom - its lower bound, see range_of
    return 0, hi - lo


def _opaque_range(atom: Atom) -> Tuple:
    (la, ha), (lb, hb) = range_of(atom.args[0]), range_of(atom.args[1])
    if atom.kind == "min":
        return min(la, lb), min(ha, hb)
    if atom.kind == "max":
        return max(la, lb), max(ha, hb)
    if lb >= 1:  # floordiv by a positive divisor is monotone in both arguments
        lo = _fdiv(la, hb if la >= 0 else lb)
        hi = _fdiv(ha, lb if ha >= 0 else hb)
        return lo, hi
    return -INF, INF


def _interval(x: Dim) -> Tuple:
    if not isinstance(x, Sym):
        return int(x), int(x)
    lo, hi = 0, 0
    for m, c in x.terms.items():
        r = (c, c)
        for atom in m:
            r = _imul(r, _atom_range(atom))
        lo, hi = lo + r[0], hi + r[1]
    return lo, hi


def range_of(x: Dim) -> Tuple:
    """(lo, hi) with lo <= x <= hi for every value of the variables in their ranges
    (hi may be ``math.inf``). Interval arithmetic, sharpened by rewriting each atom
    as its lower bound plus a non-negative part, which proves e.g. n*s - s >= 0."""
    if not isinstance(x, Sym):
        return int(x), int(x)
    if _MEMO.get() is None:
        token = _MEMO.set({})
        try:
            return range_of(x)
        finally:
            _MEMO.reset(token)
    lo, hi = _interval(x)
    shifted: Dim = 0
    for m, c in x.terms.items():
        p: Dim = c
        for atom in m:
            alo = _atom_range(atom)[0]
            if math.isinf(alo):
                p = mul(p, Sym.make({(atom,): 1}))
            else:
                p = mul(p, Sym.make({(): alo, (Atom("shift", (atom,)),): 1}))
        shifted = add(shifted, p)
    slo, shi = _interval(shifted)
    lo, hi = max(lo, slo), min(hi, shi)
    relaxed = _floordiv_relaxed(x)
    if relaxed is not None:
        lo, hi = max(lo, range_of(relaxed[0])[0]), min(hi, range_of(relaxed[1])[1])
    return lo, hi


def _floordiv_relaxed(x: "Sym") -> Optional[Tuple]:
    """(lower, upper) polynomials bounding x, each term c*(p // d) (d a positive constant dividing c) replaced by
    its bounds (c/d)*(p - d + 1) <= c*(p // d) <= (c/d)*p (the other way round for c < 0), so that p's terms can
    cancel against the rest: 2*((n + 1) // 2) - n >= 0 (a ceil-division rounded back up), which intervals over
    the opaque atom alone do not see. None when x has no such term or nothing else to cancel against."""
    if len(x.terms) < 2:
        return None
    lower, upper, found = 0, 0, False
    for m, c in x.terms.items():
        if len(m) == 1 and m[0].kind == "floordiv" and not isinstance(m[0].args[1], Sym) and m[0].args[1] > 0 \
                and c % m[0].args[1] == 0:
            p, d = m[0].args
            k = c // d
            lo_t, hi_t = mul(k, sub(p, d - 1)), mul(k, p)
            if c < 0:
                lo_t, hi_t = hi_t, lo_t
            lower, upper, found = add(lower, lo_t), add(upper, hi_t), True
        else:
            t = Sym.make({m: c})
            lower, upper = add(lower, t), add(upper, t)
    return (lower, upper) if found else None


def prove_le(a: Dim, b: Dim) -> bool:
    """True when a <= b holds for every value in range (False: unknown or false)."""
    return _nonneg(sub(b, a))


def prove_lt(a: Dim, b: Dim) -> bool:
    return range_of(sub(b, a))[0] >= 1


def prove_eq(a: Dim, b: Dim) -> bool:
    d = sub(a, b)
    return d == 0 or range_of(d) == (0, 0)


def prove_ne(a: Dim, b: Dim) -> bool:
    lo, hi = range_of(sub(a, b))
    return lo >= 1 or hi <= -1


def is_static(x) -> bool:
    return not isinstance(x, Sym) and not (isinstance(x, Ratio) and isinstance(x.num, Sym))


def free_vars(x: Dim) -> set:
    out = set()
    if isinstance(x, Sym):
        for m in x.terms:
            for atom in m:
                if atom.kind == "var":
                    out.add(atom.args[0])
                else:
                    for a in atom.args:
                        out |= free_vars(a)
    return out


def evaluate(x: Dim, env: Mapping[str, int]) -> int:
    if not isinstance(x, Sym):
        return int(x)
    total = 0
    for m, c in x.terms.items():
        p = c
        for atom in m:
            p *= _eval_atom(atom, env)
        total += p
    return total


def _eval_atom(atom: Atom, env) -> int:
    if atom.kind == "var":
        name = atom.args[0]
        if name not in env:
            from ..errors import BoundError
            raise BoundError(f"no value for symbolic dim '{name}'")
        return int(env[name])
    a, b = (evaluate(v, env) for v in atom.args)
    return {"floordiv": lambda: a // b, "min": lambda: min(a, b), "max": lambda: max(a, b)}[atom.kind]()


def substitute(x: Dim, env: Mapping[str, Dim]) -> Dim:
    """Replace variables by dims (ints or Syms)."""
    if not isinstance(x, Sym):
        return x
    total: Dim = 0
    for m, c in x.terms.items():
        p: Dim = c
        for atom in m:
            if atom.kind == "var":
                p = mul(p, env.get(atom.args[0], Sym.make({(atom,): 1})))
            else:
                a, b = (substitute(v, env) for v in atom.args)
                p = mul(p, {"floordiv": floordiv, "min": smin, "max": smax}[atom.kind](a, b))
        total = add(total, p)
    return total


def upper_bound(x: Dim, bounds: Mapping[str, int]) -> int:
    """Value at the upper bounds of all symbols.

    Exact for polynomials with non-negative coefficients (sizes, which grow
    with every dim); for other expressions it evaluates at the bounds and
    at 1 and takes the larger, which covers monotone expressions.
    """
    hi = evaluate(x, bounds)
    lo = evaluate(x, {k: 1 for k in bounds})
    return max(hi, lo)


def to_str(x: Dim) -> str:
    return _render(x, lambda n: n, "//", "min", "max")


def to_c(x: Dim, name_of=lambda n: n) -> str:
    """C expression (int64 arithmetic). Floordiv of non-negative dims is C '/' (rounded down by hand where the
    numerator may be negative; the divisor is a positive dim)."""
    return _render(x, name_of, "/", "sdk_imin", "sdk_imax", c=True)


def _render(x: Dim, name_of, div, fmin, fmax, c=False) -> str:
    if not isinstance(x, Sym):
        return f"(int64_t){x}" if c and not -2**31 < x < 2**31 else str(x)
    out = ""
    for m, coef in sorted(x.terms.items(), key=lambda t: (-len(t[0]), [a.key for a in t[0]])):
        factors = [_render_atom(a, name_of, div, fmin, fmax, c) for a in m]
        mag = abs(coef)
        body = "*".join(([str(mag)] if mag != 1 or not factors else []) + factors)
        if not out:
            out = ("-" if coef < 0 else "") + body
        else:
            out += (" - " if coef < 0 else " + ") + body
    return f"({out})" if len(x.terms) > 1 or out.startswith("-") else out


def _render_atom(a: Atom, name_of, div, fmin, fmax, c) -> str:
    if a.kind == "var":
        return name_of(a.args[0])
    x, y = (_render(v, name_of, div, fmin, fmax, c) for v in a.args)
    if a.kind == "floordiv":
        if isinstance(a.args[1], Sym) and "*" in y and not y.startswith("("):
            y = f"({y})"  # a product divisor: x / b*t would be (x / b)*t
        if c and range_of(a.args[0])[0] < 0:  # C's '/' truncates: floor for a numerator that may be negative
            return f"(({x}) >= 0 ? ({x}) / {y} : -(({y} - 1 - ({x})) / {y}))"
        return f"({x} {div} {y})"
    return f"{fmin if a.kind == 'min' else fmax}({x}, {y})"
