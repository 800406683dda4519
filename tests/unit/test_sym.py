from sdk.ir import sym


def test_polynomial_canonical_form():
    n, s = sym.var("n"), sym.var("s")
    assert (n * 4 + s) - s == 4 * n
    assert sym.sub(n * s, s * n) == 0
    assert (n * s * 4) // (n * s) == 4
    assert (n * 8) // 4 == 2 * n
    assert sym.is_static(n - n)


def test_opaque_terms_evaluate():
    n = sym.var("n")
    e = sym.floordiv(n + 1, 2) + sym.smax(n, 3) + sym.mod(n, 3)
    for v in (1, 2, 5, 10):
        assert sym.evaluate(e, {"n": v}) == (v + 1) // 2 + max(v, 3) + v % 3


def test_min_max_simplify_when_difference_is_constant():
    n = sym.var("n")
    assert sym.smax(n + 2, n) == n + 2
    assert sym.smin(n + 2, n) == n


def test_to_c_and_substitute():
    n, s = sym.var("n"), sym.var("s")
    assert sym.to_c(2 * n - s + 3, lambda x: f"d_{x}") == "(2*d_n - d_s + 3)"
    assert sym.substitute(n * s, {"s": 3}) == 3 * n
    assert sym.upper_bound(n * s + 1, {"n": 4, "s": 8}) == 33


def test_dims_are_at_least_one():
    seq = sym.var("seq")
    # the GPT-2 (no mask) pair from issue 13: both are seq for seq >= 1
    a = -sym.smin(-sym.smin(0, seq) + sym.smin(1, seq) + seq, 1) + seq + 1
    b = -sym.smin(-sym.smin(0, seq) + sym.smin(1, seq) + seq, 0) + seq
    assert a == seq and b == seq
    assert sym.smax(seq, 1) == seq and sym.smax(0, seq - 1) == seq - 1
    assert sym.smin(seq, 0) == 0


def test_range_of_polynomials_and_opaque_terms():
    n, s = sym.var("n"), sym.var("s")
    assert sym.range_of(n * s - s) == (0, sym.INF)  # s*(n-1) >= 0 needs the shift, not plain intervals
    assert sym.range_of(-n) == (-sym.INF, -1)
    assert sym.range_of(sym.floordiv(n + 1, 2) + sym.smin(n, s)) == (2, sym.INF)
    assert sym.prove_le(s, n * s) and not sym.prove_le(n * s, s)
    assert sym.prove_lt(n, n * s + 1) and sym.prove_ne(n, n + 1)
    assert not sym.prove_eq(n, s) and not sym.prove_ne(n, s)  # unknown either way


def test_floordiv_splits_divisible_part():
    n = sym.var("n")
    assert sym.floordiv(2 * n + 1, 2) == n
    assert sym.floordiv(4 * n + 7, 4) == n + 1
    assert sym.floordiv(n + 1, n + 2) == 0
    assert sym.mod(2 * n + 1, 2) == 1
    e = sym.floordiv(n + 3, 2)  # genuinely opaque: keeps its value
    for v in range(1, 9):
        assert sym.evaluate(e, {"n": v}) == (v + 3) // 2


def test_bounds_decide_min_and_zero_dims_opt_out():
    seq = sym.var("seq")
    assert sym.smin(seq, 64) != seq  # unbounded: unknown
    with sym.assume_bounds({"seq": 64}):
        assert sym.smin(seq, 64) == seq
        assert sym.smin(seq, 63) != seq
    k = sym.var("k", lo=0)  # a data-dependent count may be zero
    assert sym.smax(k, 1) != k and sym.smax(k, 0) == k


def test_simplifications_agree_with_evaluation():
    """Random expressions built with simplification match plain integer arithmetic,
    and each value lies inside range_of()."""
    import itertools
    import random
    ops = {"add": (sym.add, lambda a, b: a + b), "sub": (sym.sub, lambda a, b: a - b),
           "mul": (sym.mul, lambda a, b: a * b), "min": (sym.smin, min), "max": (sym.smax, max),
           "div3": (lambda a, b: sym.floordiv(a, 3), lambda a, b: a // 3),
           "divs": (lambda a, b: sym.floordiv(a, sym.var("s")), None)}
    leaves = [("n",), ("s",), (1,), (0,), (2,), ("n+1",), ("s-1",)]
    leaf_sym = {"n": sym.var("n"), "s": sym.var("s"), "n+1": sym.var("n") + 1, "s-1": sym.var("s") - 1}
    rnd = random.Random(0)
    for _ in range(150):
        tree = rnd.choice(leaves)
        for _ in range(3):
            tree = (rnd.choice(sorted(ops)), tree, rnd.choice(leaves))
        e = _build(tree, ops, leaf_sym)
        for nv, sv in itertools.product((1, 2, 5), (1, 3, 8)):
            env = {"n": nv, "s": sv}
            ref = _ref(tree, ops, env)
            assert sym.evaluate(e, env) == ref, (tree, e, env)
            lo, hi = sym.range_of(e)
            assert lo <= ref <= hi, (tree, e, env)


def _build(t, ops, leaf_sym):
    if len(t) == 1:
        return leaf_sym.get(t[0], t[0])
    return ops[t[0]][0](_build(t[1], ops, leaf_sym), _build(t[2], ops, leaf_sym))


def _ref(t, ops, env):
    if len(t) == 1:
        return {"n": env["n"], "s": env["s"], "n+1": env["n"] + 1, "s-1": env["s"] - 1}.get(t[0], t[0])
    a, b = _ref(t[1], ops, env), _ref(t[2], ops, env)
    return a // env["s"] if t[0] == "divs" else ops[t[0]][1](a, b)


def test_exact_division_by_a_polynomial():
    b, p = sym.var("batch"), sym.var("past")
    assert sym.floordiv(32 * b * p + 32 * b, 16 * p + 16) == 2 * b  # GPT-2 step (dynamo): Reshape of [b, 2, p+1, 16]
    assert sym.floordiv((b + 1) * (p + 2), p + 2) == b + 1
    assert sym.floordiv((b + p) * (b + p), b + p) == b + p
    e = sym.floordiv(b * p + 1, p + 1)  # not exact: stays opaque, value right
    assert sym.evaluate(e, {"batch": 3, "past": 2}) == 7 // 3


def test_deeply_nested_min_stays_fast_and_right():
    """Each level uses the previous expression twice; range analysis must not redo shared terms
    (it did: depth 5 took ~100 s)."""
    n, s = sym.var("n"), sym.var("s")
    e, ref = n, lambda nv, sv: nv
    for k in range(14):
        e = sym.smin(e + s, sym.floordiv(e, 2) + k * n)
        ref = (lambda r, k: lambda nv, sv: min(r(nv, sv) + sv, r(nv, sv) // 2 + k * nv))(ref, k)
    for nv, sv in ((1, 1), (3, 7), (9, 2)):
        assert sym.evaluate(e, {"n": nv, "s": sv}) == ref(nv, sv)


def test_nested_floordiv_by_constants_folds():
    n = sym.var("n")
    assert ((n // 5) // 2) // 2 == n // 20
    for v in (0, 1, 19, 20, 39, 41, 1333):
        assert sym.evaluate(((n // 5) // 2) // 2, {"n": v}) == v // 20
    # a remainder that is not a lone floordiv stays as it was
    assert sym.evaluate((n // 3 + n) // 2, {"n": 7}) == (7 // 3 + 7) // 2


def test_min_of_a_clamp_below_it_is_the_clamp():
    # Slice's end -1 on a length L: min(L, max(L - 1, 0)) is max(L - 1, 0)
    L = sym.var("n") // 20
    clamp = sym.smax(L - 1, 0)
    assert sym.smin(L, clamp) == clamp
    assert sym.smin(clamp, L) == clamp
    # and max(a, min(p, q)) with p, q >= a is min(p, q)
    low = sym.smin(L + 1, L + 2 * sym.var("m"))
    assert sym.smax(L, low) == low
    # not when one side may fall below
    assert sym.smin(L, sym.smax(L - 1, sym.var("m"))) != sym.smax(L - 1, sym.var("m"))


def test_same_dim_treats_a_zero_clamp_as_the_dim():
    n = sym.var("n")
    e = n // 20 - 1
    assert sym.same_dim(sym.smax(e, 0), e) and sym.same_dim(e, sym.smax(e, 0))
    assert not sym.same_dim(sym.smax(e, 0) + 1, e)
    assert not sym.same_dim(sym.smax(e, 1), e)
    assert sym.bare_var(n) == "n" and sym.bare_var(2 * n) is None and sym.bare_var(e) is None


def test_to_c_parenthesises_a_product_divisor():
    """floordiv(x, b*t) must print x / (b*t): C reads x / b*t as (x / b)*t."""
    x, b, t = sym.var("x"), sym.var("b"), sym.var("t")
    c = sym.to_c(sym.floordiv(x, b * t), lambda v: f"d_{v}")
    assert c == "(d_x / (d_b*d_t))", c
    assert sym.evaluate(sym.floordiv(x, b * t), {"x": 23, "b": 2, "t": 5}) == 2


def test_c_expression_divides_by_a_whole_symbolic_dim():
    """A TIR index i % (b*t) (a Transpose then Reshape over a product of symbols: WavLM's attention output) must
    print the dim in parentheses."""
    from sdk.codegen.c import CEmitter
    from sdk.tir.expr import Bin, DimE, Var
    b, t = sym.var("b"), sym.var("t")
    em = CEmitter()
    assert em.expr(Bin("%", Var("i0"), DimE(b * t))) == "(i0 % (d_b*d_t))"
    assert em.expr(Bin("//", Var("i0"), DimE(b * t))) == "(i0 / (d_b*d_t))"
    assert em.expr(Bin("%", Var("i0"), DimE(b))) == "(i0 % d_b)"


def test_floordiv_constant_moves_into_the_divisor_range():
    """(n - 1) // 2 + 1 and (n + 1) // 2 are one canonical form (Funnel's pooled lengths, exported two ways)."""
    n = sym.var("n")
    assert sym.floordiv(n - 1, 2) + 1 == sym.floordiv(n + 1, 2)
    assert sym.floordiv(n + 5, 4) == sym.floordiv(n + 1, 4) + 1
    # two stride-2 convs (Speech2Text's subsampler) against the exporter's own (n + 3) // 4
    assert sym.floordiv(sym.floordiv(n + 1, 2) + 1, 2) == sym.floordiv(n + 3, 4)
    for c in range(-3, 4):
        e = sym.floordiv(sym.floordiv(n - 1, 3) + c, 2)
        assert all(sym.evaluate(e, {"n": v}) == ((v - 1) // 3 + c) // 2 for v in range(1, 40)), (c, e)
    for a in (1, 2, 3):
        for c in range(-9, 10):
            for b in (2, 3, 5):
                e = sym.floordiv(a * n + c, b)
                assert all(sym.evaluate(e, {"n": v}) == (a * v + c) // b for v in range(1, 30)), (a, c, b, e)


def test_range_sees_a_rounded_up_ceil_division():
    """2*((n + 1) // 2) - n is 0 or 1: so min(n - 1, 2*((n + 1) // 2) - 1) + 1 is n (Funnel's upsampled length)."""
    n = sym.var("n")
    assert sym.range_of(2 * sym.floordiv(n + 1, 2) - n) == (0, 1)
    assert sym.range_of(3 * sym.floordiv(n, 3) - n) == (-2, 0)
    assert sym.smin(n - 1, 2 * sym.floordiv(n + 1, 2) - 1) + 1 == n
    with sym.assume_bounds({"n": 40}):
        for c1 in (-4, -2, 2, 6):
            for d in (2, 3):
                for k in (-3, 0, 1, 4):
                    for c2 in (-1, 0, 1):
                        e = c1 * sym.floordiv(n + k, d) + c2 * n
                        lo, hi = sym.range_of(e)
                        vals = [c1 * ((v + k) // d) + c2 * v for v in range(1, 41)]
                        assert lo <= min(vals) and max(vals) <= hi, (e, lo, hi)


def test_floordiv_by_a_negative_constant():
    """a // -c == (-a) // c: (-2*n) // -1 is 2*n, so XLNet's rel-shift length max(0, 2n - min(1, 2n)) is 2n - 1
    (TorchScript writes a ceil division with negated operands)."""
    n = sym.var("n")
    assert sym.floordiv(-2 * n, -1) == 2 * n
    assert sym.smax(0, sym.floordiv(-2 * n, -1) - sym.smin(1, sym.floordiv(-2 * n, -1))) == 2 * n - 1
    for a, c, b in ((-2, 0, -1), (3, 1, -2), (-5, 2, -3), (1, -7, -4)):
        e = sym.floordiv(a * n + c, b)
        assert all(sym.evaluate(e, {"n": v}) == (a * v + c) // b for v in range(1, 30)), (a, c, b, e)


def test_floordiv_of_a_non_positive_numerator_has_a_non_negative_one():
    """(-s) // 4 == -((s + 3) // 4): code generators print floordiv as C's truncating '/', exact for non-negative
    numerators only (TorchScript's pad-to-a-multiple length s + (4 - s % 4) % 4 was 4 short at s = 5); a numerator
    of either sign is printed rounding down."""
    s = sym.var("s")
    e = sym.add(s, sym.mod(sym.sub(4, sym.mod(s, 4)), 4))
    assert e == 4 * sym.floordiv(s + 3, 4)
    assert sym.floordiv(-s, 4) == -sym.floordiv(s + 3, 4)
    t = sym.var("t")
    c = sym.to_c(sym.floordiv(s - 2 * t, 4))  # either sign
    assert "?" in c, c
    src = "#include <stdio.h>\n#include <stdint.h>\nint main(void){for(int64_t s=1;s<20;++s) for(int64_t t=1;t<6;++t)" \
          " printf(\"%lld \", (long long)(" + c + "));return 0;}\n"
    import os
    import subprocess
    import tempfile
    with tempfile.TemporaryDirectory() as d:
        open(os.path.join(d, "t.c"), "w").write(src)
        subprocess.run(["gcc", "-std=c99", "-Wall", "-Werror", "-o", os.path.join(d, "t"), os.path.join(d, "t.c")], check=True)
        got = [int(v) for v in subprocess.run([os.path.join(d, "t")], capture_output=True, text=True).stdout.split()]
    assert got == [(v - 2 * w) // 4 for v in range(1, 20) for w in range(1, 6)], (c, got)


def test_max_below_a_bound_of_both_arguments():
    """x - max(p, q) >= 0 when x >= p and x >= q: torch.roll(x, 2, 1) through TorchScript concatenates Slices of
    lengths max(seq - max(seq - 2, 0), 0) and max(seq - 2, 0), which now add up to seq."""
    s = sym.var("s")
    a = sym.smax(s - 2, 0)
    assert sym.smax(s - a, 0) + a == s
    assert sym.prove_le(a, s) and not sym.prove_le(s, a)
    cases = ((sym.smax(s - a, 0) + a, lambda v: v), (sym.smin(s, sym.smax(s - 3, 1)), lambda v: min(v, max(v - 3, 1))),
             (sym.smax(s - sym.smin(s, 5), 0), lambda v: max(v - min(v, 5), 0)))
    for e, ref in cases:
        assert all(sym.evaluate(e, {"s": v}) == ref(v) for v in range(1, 31)), e


def test_min_max_absorption_and_pairs():
    """min(n, max(n, 0)) == n (max(n, 0) >= n), n - min(n, 0) >= 0, and min(p, q) + max(p, q) == p + q: SEW's
    TorchScript file unpads to max(-min(n, 0) + min(n, max(n, 0)), 0) with n = (samples + 20) // 40 - 1 and adds
    it to a tensor of length max(n, 0); both are now one form."""
    s = sym.var("samples")
    n = sym.floordiv(s + 20, 40) - 1
    assert sym.smin(n, sym.smax(n, 0)) == n and sym.smax(sym.smax(n, 0), n) == sym.smax(n, 0)
    e = sym.smax(-sym.smin(n, 0) + sym.smin(n, sym.smax(n, 0)), 0)
    assert e == n - sym.smin(n, 0) and sym.same_dim(e, sym.smax(n, 0))
    assert sym.smin(n, 3) + sym.smax(n, 3) == n + 3 and 2 * sym.smax(n, 0) + 2 * sym.smin(0, n) - 2 * n == 0
    for v in range(1, 200):
        assert sym.evaluate(e, {"samples": v}) == max(min(v + 20, 10**9) // 40 - 1, 0)
    # not folded: different coefficients or arguments
    assert sym.smin(n, 3) + 2 * sym.smax(n, 3) != n + 3 + sym.smax(n, 3)


def test_reduce_by_a_matched_equality():
    """SEW-D's dynamo file gives the pooled length by two formulas, n = (samples + 20) // 40 - 1 and X (a Slice
    end the exporter computed), equal from 60 samples on; once a Reshape matched X with n (checked at run time),
    2*X (the next view's length) and batch*X reduce to 2*n and batch*n; terms without X are left alone."""
    s, b = sym.var("samples"), sym.var("batch")
    n = sym.floordiv(s + 20, 40) - 1
    x = sym.smax(sym.floordiv(s + 20, 40) - 2, 0) - sym.smax(0, sym.floordiv(-sym.floordiv(s, 20) + 1, 2) + 1) + 1
    eqs = [(x, n)]
    assert sym.reduce_by(2 * x, eqs) == 2 * n
    assert sym.reduce_by(16 * b * x + 3, eqs) == 16 * b * n + 3
    assert sym.reduce_by(b + 4, eqs) == b + 4 and sym.reduce_by(7, eqs) == 7
    for v in range(60, 400, 7):  # the equality holds there, so the reduced forms have the same values
        assert sym.evaluate(2 * x, {"samples": v}) == sym.evaluate(sym.reduce_by(2 * x, eqs), {"samples": v})
