"""Symbolic integer expressions for tensor dimensions (Relax-style).

A dimension is either a Python ``int`` or a :class:`Sym`. A ``Sym`` is a
polynomial with integer coefficients over *atoms*; an atom is a variable or
an opaque term (floordiv, mod, min, max) that could not be simplified. Every
operation returns a plain ``int`` when the result is constant, so static
shapes stay plain tuples of ints.
"""
from __future__ import annotations

from typing import Dict, Mapping, Tuple, Union

Dim = Union[int, "Sym"]


class Atom:
    """An indivisible term: a variable or an opaque function of Syms."""

    __slots__ = ("kind", "args", "key")

    def __init__(self, kind: str, args: tuple):
        self.kind, self.args = kind, args
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


def var(name: str) -> Sym:
    return Sym({(Atom("var", (name,)),): 1})


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
    return Sym.make(t)


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
    if not isinstance(b, Sym):
        ta = _terms(a)
        if all(c % b == 0 for c in ta.values()):
            return Sym.make({m: c // b for m, c in ta.items()})
    if isinstance(b, Sym) and isinstance(a, Sym):
        # exact division by a single monomial, e.g. (4*n*s) // (n*s) == 4
        tb = _terms(b)
        if len(tb) == 1:
            (mb, cb), = tb.items()
            out = {}
            for m, c in _terms(a).items():
                rest = list(m)
                for atom in mb:
                    if atom not in rest:
                        break
                    rest.remove(atom)
                else:
                    if c % cb == 0:
                        out[tuple(rest)] = c // cb
                        continue
                break
            else:
                return Sym.make(out)
    return Sym.make({(Atom("floordiv", (a, b)),): 1})


def mod(a: Dim, b: Dim) -> Dim:
    if not isinstance(a, Sym) and not isinstance(b, Sym):
        return int(a) % int(b)
    return sub(a, mul(floordiv(a, b), b))


def sub(a: Dim, b: Dim) -> Dim:
    return add(a, mul(-1, b))


def smin(a: Dim, b: Dim) -> Dim:
    d = sub(a, b)
    if not isinstance(d, Sym):
        return a if d <= 0 else b
    return Sym.make({(Atom("min", tuple(sorted((a, b), key=_key))),): 1})


def smax(a: Dim, b: Dim) -> Dim:
    d = sub(a, b)
    if not isinstance(d, Sym):
        return a if d >= 0 else b
    return Sym.make({(Atom("max", tuple(sorted((a, b), key=_key))),): 1})


def is_static(x) -> bool:
    return not isinstance(x, Sym)


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
    """C expression (int64 arithmetic). Floordiv of non-negative dims is C '/'."""
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
        return f"({x} {div} {y})"
    return f"{fmin if a.kind == 'min' else fmax}({x}, {y})"
