"""One ONNX model whose outputs are dense and grouped 2-D convolutions of many geometries, for the target tests of
the NEON and wasm SIMD conv kernels (one build and one run cover them all): k x k kernels (3, 5, 7) at strides 1
and 2, 1x1 at strides 1 and 2, dilation 2, asymmetric pads, groups, output-channel counts that are not multiples of the
register tile (3, 7, 9, 12), odd image sizes (columns that straddle output rows, edge columns), and K = C*KH*KW
above one packed block (288) and with a remainder of 4 (45); each followed by an activation or a residual Add
that the epilogue fuses (ReLU, Sigmoid, HardSwish, SiLU as x * Sigmoid(x), Clip, LeakyRelu, HardSigmoid), element
counts not a multiple of 4 included, depthwise convs (3/5/7, strides 1/2, wide and narrow rows, a channel
multiplier of 2, a fused SiLU) and a 1x1 conv on one pixel (a
squeeze-excite FC, K = 6, 13 outputs)."""
import numpy as np
from onnx import TensorProto, helper, numpy_helper

C, H, W = 5, 11, 40
# name: (input, out channels, kernel, stride, begin/end pads, dilation, group, bias, what follows)
BRANCHES = {
    "k3s1": ("x", 12, 3, 1, [1, 1, 1, 1], 1, 1, True, "Relu"),
    "k3s2": ("x", 9, 3, 2, [1, 1, 1, 1], 1, 1, False, "Sigmoid"),
    "k5s1": ("x", 8, 5, 1, [2, 2, 2, 2], 1, 1, True, "HardSwish"),
    "k7s2": ("x", 16, 7, 2, [3, 3, 3, 3], 1, 1, True, "SiLU"),
    "k1s1": ("x", 11, 1, 1, [0, 0, 0, 0], 1, 1, True, None),
    "k1s2": ("x", 7, 1, 2, [0, 0, 0, 0], 1, 1, True, "Clip"),
    "k3d2": ("x", 10, 3, 1, [0, 0, 0, 0], 2, 1, True, "LeakyRelu"),
    "k3asym": ("x", 3, 3, 1, [0, 1, 2, 0], 1, 1, True, "HardSigmoid"),
    "k3g2": ("p6", 10, 3, 1, [1, 1, 1, 1], 1, 2, True, None),
    "k3deep": ("p32", 8, 3, 1, [1, 1, 1, 1], 1, 1, True, "AddRelu"),  # + k5s1's output, then ReLU
    "k3s2deep": ("p32", 16, 3, 2, [1, 1, 1, 1], 1, 1, True, None),
    "fc": ("pool", 13, 1, 1, [0, 0, 0, 0], 1, 1, True, "Sigmoid"),  # a squeeze-excite FC: 1x1 on one pixel
    "dw3": ("x", 5, 3, 1, [1, 1, 1, 0], 1, C, True, "SiLU"),  # depthwise, 11 x 39 outputs a plane
    "dw5s2": ("x", 5, 5, 2, [2, 2, 2, 2], 1, C, True, None),  # stride 2 on 20-wide rows: the parity-split plane
    "dw7": ("x2", 5, 7, 1, [3, 3, 3, 3], 1, C, False, None),  # 5 x 20: narrow, the plane as one long row
    "dw3s2": ("x2", 10, 3, 2, [1, 1, 1, 1], 1, C, True, "Relu"),  # 10-wide rows, 2 outputs per channel
}


def conv_cases_model():
    rng = np.random.default_rng(3)
    inits, nodes, outs = [], [], []

    def weight(name, *shape, scale=None):
        a = rng.standard_normal(shape).astype(np.float32)
        if scale is None:
            scale = 1.0 / np.sqrt(np.prod(shape[1:]))
        inits.append(numpy_helper.from_array((a * scale).astype(np.float32), name))
        return name

    channels = {"x": C, "p6": 6, "p32": 32, "pool": 6, "x2": C}
    nodes.append(helper.make_node("MaxPool", ["x"], ["x2"], kernel_shape=[2, 2], strides=[2, 2]))
    for p in ("p6", "p32"):  # 1x1 convs make the inputs of the grouped and the deep branches
        nodes.append(helper.make_node("Conv", ["x", weight(f"w_{p}", channels[p], C, 1, 1)], [p]))
    nodes.append(helper.make_node("GlobalAveragePool", ["p6"], ["pool"]))
    for name, (src, m, k, s, pads, d, g, bias, then) in BRANCHES.items():
        ins = [src, weight(f"w_{name}", m, channels[src] // g, k, k)]
        if bias:
            ins.append(weight(f"b_{name}", m, scale=0.1))
        y = name if then is None else f"{name}_conv"
        nodes.append(helper.make_node("Conv", ins, [y], kernel_shape=[k, k], strides=[s, s], pads=pads,
                                      dilations=[d, d], group=g))
        if then == "SiLU":
            nodes += [helper.make_node("Sigmoid", [y], [f"{name}_sig"]), helper.make_node("Mul", [y, f"{name}_sig"], [name])]
        elif then == "AddRelu":
            nodes += [helper.make_node("Add", [y, "k5s1"], [f"{name}_sum"]), helper.make_node("Relu", [f"{name}_sum"], [name])]
        elif then == "Clip":
            inits += [numpy_helper.from_array(np.float32(0.0), "lo"), numpy_helper.from_array(np.float32(6.0), "hi")]
            nodes.append(helper.make_node("Clip", [y, "lo", "hi"], [name]))
        elif then == "LeakyRelu":
            nodes.append(helper.make_node("LeakyRelu", [y], [name], alpha=0.1))
        elif then is not None:
            nodes.append(helper.make_node(then, [y], [name]))
        outs.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, None))
    g = helper.make_graph(nodes, "conv_cases", [helper.make_tensor_value_info("x", TensorProto.FLOAT,
                                                                              ["batch", C, H, W])], outs, inits)
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])


ACTIVATIONS = ("Relu", "Sigmoid", "HardSwish", "SiLU", "Clip", "LeakyRelu", "HardSigmoid")


def epilogue_model(n=37):
    """Per activation, a 1x1 conv with weight 1 (its output is its input, exactly) followed by that activation,
    which the epilogue fuses: the vector epilogues against the portable one on special values."""
    inits = [numpy_helper.from_array(np.ones((1, 1, 1, 1), np.float32), "one"),
             numpy_helper.from_array(np.float32(-1.5), "lo"), numpy_helper.from_array(np.float32(2.5), "hi")]
    nodes, outs = [], []
    for act in ACTIVATIONS:
        y = f"{act}_conv"
        nodes.append(helper.make_node("Conv", ["x", "one"], [y]))
        if act == "SiLU":
            nodes += [helper.make_node("Sigmoid", [y], [f"{act}_sig"]), helper.make_node("Mul", [y, f"{act}_sig"], [act])]
        elif act == "Clip":
            nodes.append(helper.make_node("Clip", [y, "lo", "hi"], [act]))
        else:
            nodes.append(helper.make_node(act, [y], [act]))
        outs.append(helper.make_tensor_value_info(act, TensorProto.FLOAT, None))
    g = helper.make_graph(nodes, "epilogues", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, 1, n])],
                          outs, inits)
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])


def epilogue_input(n=37):
    """Special values (NaN, infinities, exp's overflow/underflow bounds, signed zeros) then random ones."""
    x = np.random.default_rng(2).standard_normal(n).astype(np.float32) * 4
    x[:12] = [np.nan, np.inf, -np.inf, 88.8, -87.5, 100.0, -100.0, 0.0, -0.0, 3.0, -3.0, 1e-30]
    return x.reshape(1, 1, 1, n)


def _expf(x):
    """runtime_c/include/sdk_math.h sdk_expf, operation for operation in float32."""
    f = np.float32
    with np.errstate(all="ignore"):
        xc = np.where(x < f(-87.0), f(-87.0), np.where(x > f(88.72283), f(88.72283), x)).astype(f)
        n = (xc * f(1.44269504088896341) + f(12582912.0)) - f(12582912.0)
        r = (xc - n * f(0.693359375)) + n * f(2.12194440e-4)
        p = f(1.9875691500e-4)
        for c in (1.3981999507e-3, 8.3334519073e-3, 4.1665795894e-2, 1.6666665459e-1, 5.0000001201e-1):
            p = p * r + f(c)
        p = ((p * r) * r + r) + f(1.0)
        scale = ((np.nan_to_num(n).astype(np.int32) + 126) << 23).view(f)
        p = (p * scale) * f(2.0)
        p = np.where(x > f(88.72283), f(np.inf), p)
        p = np.where(x < f(-87.0), f(0.0), p)
        return np.where(np.isnan(x), x, p).astype(f)


def epilogue_reference(x, act):
    """The portable sdk_epilogue_f32 of ``act`` (ACTIVATIONS, the parameters of epilogue_model) in float32 numpy."""
    f = np.float32

    def clamp01(v):
        return np.where(v < 0, f(0.0), np.where(v > 1, f(1.0), v))
    with np.errstate(all="ignore"):
        v = x.astype(f)
        return {"Relu": lambda: np.where(v > 0, v, f(0.0)),
                "Clip": lambda: np.where(v < f(-1.5), f(-1.5), np.where(v > f(2.5), f(2.5), v)),
                "HardSigmoid": lambda: clamp01(f(0.2) * v + f(0.5)),
                "HardSwish": lambda: v * clamp01(v * f(1.0 / 6.0) + f(0.5)),
                "Sigmoid": lambda: f(1.0) / (f(1.0) + _expf(-v)),
                "SiLU": lambda: v / (f(1.0) + _expf(-v)),
                "LeakyRelu": lambda: np.where(v < 0, v * f(0.01), v)}[act]().astype(f)


def assert_epilogues_exact(got, x):
    """Every activation of epilogue_model equals the float32 reference exactly (zeros and NaNs of either sign alike:
    compilers may turn v * 0 from a select into +0)."""
    for act in ACTIVATIONS:
        g, r = got[act].ravel(), epilogue_reference(x, act).ravel()
        np.testing.assert_array_equal(g, r, err_msg=act)
