"""``sdk.ConvGradWeight`` (a convolution's weight gradient) through the library kernel
``sdk_conv2d_grad_weight_f32`` (im2col panels times dY as GEMM calls) and through the generated loop nest (the
profile option off, as on CUDA): both equal the float64 reference (``sdk/ops/grad.py``), which
``tests/unit/test_autodiff.py`` checks against finite differences; with an accumulator (SGD's momentum folded in)
also when the accumulator and the output are the same memory."""
import numpy as np
import pytest

from sdk.ir.graph import Binding, Function, TensorType, Value
from sdk.ops.grad import PANEL_FLOATS, _cgw_ref
from sdk.targets import load_target
from sdk.train.compile import compile_function

# N, C, H, W, M, kernel, stride, pad, dilation, groups
CASES = [(2, 6, 9, 7, 8, 3, 2, 1, 1, 2),     # groups, stride 2, padding
         (3, 4, 12, 12, 5, 3, 1, 1, 1, 1),   # 144 positions x K = 36: panels of 56 (a last short one)
         (2, 3, 10, 8, 4, 3, 1, 2, 2, 1),    # dilation
         (2, 4, 6, 6, 4, 3, 1, 1, 1, 4),     # depthwise
         (1, 8, 5, 5, 6, 1, 1, 0, 1, 1),     # pointwise
         (2, 2, 11, 9, 3, (4, 2), (2, 1), 1, 1, 1)]  # non-square kernel and strides


def _function(case, acc):
    N, C, H, W, M, k, s, p, d, groups = case
    k, s = (k, k) if isinstance(k, int) else k, (s, s) if isinstance(s, int) else s
    OH, OW = (H + 2 * p - d * (k[0] - 1) - 1) // s[0] + 1, (W + 2 * p - d * (k[1] - 1) - 1) // s[1] + 1
    x, g = Value("x", TensorType((N, C, H, W), "float32")), Value("g", TensorType((N, M, OH, OW), "float32"))
    ins, names = [x, g], ["x", "g"]
    attrs = dict(kernel_shape=list(k), strides=list(s), dilations=[d, d], begin=[p, p], group=groups)
    wshape = (M, C // groups) + tuple(k)
    if acc:
        ins.append(Value("acc", TensorType(wshape, "float32")))
        names.append("acc")
        attrs["beta"] = 0.9
    y = Value("dw", TensorType(wshape, "float32"))
    return Function("cgw", ins, [y], [Binding("sdk.ConvGradWeight", ins, [y], attrs, "cgw")], input_names=names,
                    output_names=["dw"]), attrs


@pytest.mark.parametrize("k", range(len(CASES)))
def test_library_kernel_equals_the_reference(k):
    f, attrs = _function(CASES[k], acc=k % 2 == 1)  # every other case with the momentum accumulator
    rng = np.random.default_rng(1)
    feeds = {n: rng.standard_normal([int(d) for d in v.shape]).astype(np.float32)
             for n, v in zip(f.input_names, f.inputs)}
    ref = _cgw_ref(*[feeds[n].astype(np.float64) for n in f.input_names], **attrs)
    targets = [load_target("host")]
    if k == 0:  # the profile option off (CUDA's setting): the generated loop nest
        off = load_target("host")
        off.data = {**off.data, "lower": {**off.data.get("lower", {}), "conv_grad_weight_kernel": False}}
        targets.append(off)
    for t in targets:
        b = compile_function(f, t, {}, "cgw")
        fns = [getattr(s, "fn", None) for s in b.program.steps]
        on = t.data.get("lower", {}).get("conv_grad_weight_kernel", True)
        assert ("sdk_conv2d_grad_weight_f32" in fns) == on, fns
        got = b.run(feeds)["dw"]
        np.testing.assert_allclose(got, ref, rtol=1e-4, atol=1e-4 * np.abs(ref).max(), err_msg=str(fns))


def test_accumulator_may_be_the_output():
    """acc and dW the same memory (the C training API's in-place momentum): the kernel reads each element before
    writing it."""
    import ctypes
    from sdk.backends.host.kernel_lib import build_shared
    from sdk.resources import RUNTIME
    case = CASES[1]
    f, attrs = _function(case, True)
    N, C, H, W, M = case[:5]
    rng = np.random.default_rng(2)
    x = rng.standard_normal((N, C, H, W)).astype(np.float32)
    g = rng.standard_normal(tuple(int(d) for d in f.inputs[1].shape)).astype(np.float32)
    acc = rng.standard_normal(tuple(int(d) for d in f.inputs[2].shape)).astype(np.float32)
    ref = _cgw_ref(x.astype(np.float64), g.astype(np.float64), acc.astype(np.float64), **attrs)
    K = C * 9
    P = PANEL_FLOATS // K
    scratch = np.zeros(P * K + 2 * M * K, np.float32)
    inout = acc.copy()
    lib = ctypes.CDLL(str(build_shared((RUNTIME / "src" / "sdk_kernels.c").read_text(), load_target("host"),
                                       "sdk_kernels")))
    fp = lambda a: a.ctypes.data_as(ctypes.c_void_p)  # noqa: E731
    i64 = ctypes.c_int64
    lib.sdk_conv2d_grad_weight_f32(i64(N), i64(C), i64(H), i64(W), i64(M), i64(g.shape[2]), i64(g.shape[3]), i64(3),
                                   i64(3), i64(1), i64(1), i64(1), i64(1), i64(1), i64(1), i64(1), i64(P), fp(x), fp(g),
                                   fp(inout), ctypes.c_float(0.9), fp(inout), fp(scratch))
    np.testing.assert_allclose(inout, ref, rtol=1e-4, atol=1e-4 * np.abs(ref).max())
