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
