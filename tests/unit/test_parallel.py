"""Which generated kernels split across threads (sdk/codegen/parallel.py): only loops whose iterations write
disjoint elements, only when the work reaches the threshold; profiles without threads get no OpenMP at all."""
import pytest

import sdk
from sdk.codegen.c import kernel_c
from sdk.codegen.parallel import MIN_WORK, if_clause, parallel_loops
from sdk.ir import sym
from sdk.tir.expr import Buffer, Const, DimE, For, Kernel, Let, Seq, Store, Var

PRAGMA = "omp parallel for schedule(static)"


def _printed(loop):
    return True


def _nest(extents, body_fn):
    vs = [Var(f"i{k}") for k in range(len(extents))]
    body = body_fn(*vs)
    for v, e in reversed(list(zip(vs, extents))):
        body = For(v, e if not isinstance(e, int) else Const(e), body)
    return body


def test_elementwise_kernel_splits_all_but_the_vector_loop():
    x, y = Buffer("x", (512, 512), "float32"), Buffer("y", (512, 512), "float32")
    body = _nest([512, 512], lambda i, j: Store(y, [i, j], x[i, j] * 2.0))
    n, work = parallel_loops(body, _printed)
    assert n == 1 and if_clause(work, MIN_WORK, str) == ""
    src = kernel_c(Kernel("k", body, [x], [y]), [], outer_pragma=PRAGMA)
    assert src.index(f'_Pragma("{PRAGMA}")') < src.index("for (int64_t i0")


def test_small_kernel_stays_on_one_thread():
    x, y = Buffer("x", (8, 64), "float32"), Buffer("y", (8, 64), "float32")
    body = _nest([8, 64], lambda i, j: Store(y, [i, j], x[i, j]))
    n, work = parallel_loops(body, _printed)
    assert if_clause(work, MIN_WORK, str) is None
    assert "omp parallel" not in kernel_c(Kernel("k", body, [x], [y]), [], outer_pragma=PRAGMA)


def test_scatter_and_recurrences_are_not_split():
    idx, u = Buffer("idx", (1024,), "int64"), Buffer("u", (1024, 1024), "float32")
    y = Buffer("y", (1024, 1024), "float32")
    scatter = _nest([1024, 1024], lambda i, j: Store(y, [idx[i], j], u[i, j]))
    assert parallel_loops(scatter, _printed) is None  # two i may write one row
    recurrence = _nest([1024, 1024], lambda i, j: Store(y, [i, j], y[i - 1, j] + u[i, j]))
    assert parallel_loops(recurrence, _printed) is None  # reads the row another iteration writes
    strided = _nest([1024, 1024], lambda i, j: Store(Buffer("z", (2048,), "float32"), [i + j], u[i, j]))
    assert parallel_loops(strided, _printed) is None  # i + j: not one position per collapsed var


def test_row_reduction_then_in_place_pass_is_split():
    x, y = Buffer("x", (4096, 64), "float32"), Buffer("y", (4096, 64), "float32")
    i, j, k = Var("i"), Var("j"), Var("k")
    s = Var("s", "float32")
    body = For(i, Const(4096), Seq([
        For(j, Const(64), Store(y, [i, j], x[i, j])),
        Let(s, y[i, 0]),
        For(k, Const(64), Store(y, [i, k], y[i, k] / s)),  # same row, same element: one iteration of i owns it
    ]))
    n, work = parallel_loops(body, _printed)
    assert n == 1 and if_clause(work, MIN_WORK, str) == ""


def test_symbolic_work_decides_at_run_time_unless_its_bound_is_small():
    b = sym.var("batch")
    x, y = Buffer("x", (b, 4096), "float32"), Buffer("y", (b, 4096), "float32")
    body = _nest([DimE(b), 4096], lambda i, j: Store(y, [i, j], x[i, j]))
    _, work = parallel_loops(body, _printed)
    assert if_clause(work, MIN_WORK, lambda e: "W", {"batch": 64}) == f" if(W >= {MIN_WORK})"
    assert if_clause(work, MIN_WORK, lambda e: "W", {"batch": 4}) is None


@pytest.mark.parametrize("target,threads", [("host", True), ("android-arm64-mt", True), ("cortex-m4", False),
                                            ("wasm32-browser", False)])
def test_profiles_decide_threads(examples, target, threads):
    model, bounds = examples["transformer"]
    b = sdk.compile(model, target=target, dims={k: v * 4 for k, v in bounds.items()})
    src = "".join(v for k, v in b.sources.items() if k.endswith((".c", ".h")) and isinstance(v, str))
    assert ("omp parallel for" in src) == threads
    assert "int model_set_threads(int n);" in b.sources["model.h"]  # the same API everywhere (1 thread: returns 1)
