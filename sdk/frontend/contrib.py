"""onnxruntime's contrib ops (domain ``com.microsoft``) rewritten into standard ONNX before import.

Models quantized by onnxruntime in its QOperator format (``quantize_static(..., quant_format=QOperator)``), and
many int8 files shipped in model zoos, hold QLinearAdd, QLinearMul, QLinearConcat, QLinearSigmoid, QGemm,
QLinearGlobalAveragePool ... next to the standard QLinearConv / QLinearMatMul. Each is by definition "dequantize
the inputs, apply the float op, quantize the result", so each becomes exactly that subgraph of standard
DequantizeLinear -> op -> QuantizeLinear nodes, and the compiler's QDQ handling takes it from there (one op set
to lower, no second copy of each kernel). Transformer-optimizer ops with a short float meaning (Gelu,
FastGelu, BiasGelu, QuickGelu, SkipLayerNormalization, SimplifiedLayerNormalization (RMSNorm), its Skip form)
become their standard formulas; the attention family (Attention, MultiHeadAttention, EmbedLayerNormalization,
RotaryEmbedding, FusedMatMul, MatMulNBits, ...) is in ``contrib_attention.py``. Anything else in the domain, or a
node whose guard fails (a form not covered), is left alone and reported by the importer as unsupported.
"""
from __future__ import annotations

import math
from typing import Callable, Dict, List

import numpy as np
import onnx
from onnx import helper, numpy_helper

from . import contrib_attention as _attention_family
from . import signal as _signal
from .node_fields import node_attr as _attr
from .node_fields import node_input as _ins

DOMAIN = "com.microsoft"


class _Context:
    """What the rewrites may know of the graph's tensors: (elem type, dims) from initializers, inputs, value_info
    and onnx's shape inference (dims are ints, names or None), constant values of initializers, and what the
    rewrites themselves note for the outputs they make."""

    def __init__(self, model: onnx.ModelProto):
        self.infos, self.arrays = {}, {}
        self.opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 17)
        try:
            inferred = onnx.shape_inference.infer_shapes(model).graph
        except Exception:  # noqa: BLE001 - inference is a help, not a requirement
            inferred = model.graph
        for g in (inferred, model.graph):
            for v in list(g.input) + list(g.value_info) + list(g.output):
                t = v.type.tensor_type
                if t.HasField("shape") and v.name not in self.infos:
                    dims = [d.dim_value if d.HasField("dim_value") else (d.dim_param or None) for d in t.shape.dim]
                    self.infos[v.name] = (t.elem_type, dims)
        for i in model.graph.initializer:
            self.infos[i.name] = (i.data_type, list(i.dims))
            self.arrays[i.name] = i
        for n in model.graph.node:  # Constant nodes' values (the dynamo exporter's scalars)
            if n.op_type == "Constant" and n.domain in ("", "ai.onnx") and len(n.attribute) == 1:
                a = n.attribute[0]
                v = {"value": lambda: a.t, "value_float": lambda: np.float32(a.f), "value_int": lambda: np.int64(a.i),
                     "value_ints": lambda: np.asarray(a.ints, np.int64),
                     "value_floats": lambda: np.asarray(a.floats, np.float32)}.get(a.name)
                if v is not None:
                    self.arrays[n.output[0]] = np.asarray(v()) if a.name != "value" else v()

    def info(self, name: str):
        return self.infos.get(name)

    def array(self, name: str):
        t = self.arrays.get(name)
        if t is not None and not isinstance(t, np.ndarray):
            t = self.arrays[name] = numpy_helper.to_array(t)
        return t

    def note(self, name: str, elem_type: int, dims):
        self.infos[name] = (elem_type, list(dims))


class _Emitter:
    """Collects the replacement nodes of one contrib node, with fresh tensor names."""

    def __init__(self, node: onnx.NodeProto, taken: set, inits: List[onnx.TensorProto], opset: int = 17,
                 ctx: "_Context" = None):
        self.node, self.taken, self.inits, self.nodes, self.opset = node, taken, inits, [], opset
        self.base = (node.name or node.op_type).replace("/", "_")
        self.ctx = ctx
        self.pins: Dict[str, int] = {}  # dim_params that the op's definition fixes (a cache's head size)
        if ctx is not None:
            self.info, self.array, self.note = ctx.info, ctx.array, ctx.note

    def name(self, what: str) -> str:
        k, n = 0, f"{self.base}_{what}"
        while n in self.taken:
            k += 1
            n = f"{self.base}_{what}{k}"
        self.taken.add(n)
        return n

    def op(self, op_type: str, inputs: List[str], out: str = None, **attrs) -> str:
        out = out or self.name(op_type.lower())
        self.nodes.append(helper.make_node(op_type, inputs, [out], name=self.name(op_type), **attrs))
        return out

    def const(self, value, dtype=np.float32) -> str:
        name = self.name("const")
        self.inits.append(numpy_helper.from_array(np.asarray(value, dtype), name))
        return name

    def fconst(self, value, like: str) -> str:
        """A float constant of ``like``'s type (float16 models): from the known type, else CastLike (opset 15+)."""
        info = self.ctx.info(like) if self.ctx is not None else None
        dt = {onnx.TensorProto.FLOAT16: np.float16, onnx.TensorProto.DOUBLE: np.float64,
              onnx.TensorProto.FLOAT: np.float32}.get(info[0] if info else None)
        if dt is not None:
            return self.const(value, dt)
        c = self.const(value)
        return self.op("CastLike", [c, like]) if self.opset >= 15 else c

    def dq(self, x: str, scale: str, zp: str = "", **attrs) -> str:
        return self.op("DequantizeLinear", [x, scale] + ([zp] if zp else []), **attrs)

    def q(self, y: str, scale: str, zp: str, out: str) -> str:
        return self.op("QuantizeLinear", [y, scale] + ([zp] if zp else []), out)


def _binary(op_type):
    # (A, A_scale, A_zp, B, B_scale, B_zp, C_scale, C_zp) -> C
    def rewrite(e: _Emitter, n):
        a = e.dq(n.input[0], n.input[1], _ins(n, 2))
        b = e.dq(n.input[3], n.input[4], _ins(n, 5))
        e.q(e.op(op_type, [a, b]), n.input[6], _ins(n, 7), n.output[0])
    return rewrite


def _unary(op_type, **fixed):
    # (X, X_scale, X_zp, Y_scale, Y_zp) -> Y
    def rewrite(e: _Emitter, n):
        attrs = dict(fixed)
        if op_type == "LeakyRelu":
            attrs["alpha"] = float(_attr(n, "alpha", 0.01))
        e.q(e.op(op_type, [e.dq(n.input[0], n.input[1], _ins(n, 2))], **attrs), n.input[3], _ins(n, 4), n.output[0])
    return rewrite


def _to_nchw(e: _Emitter, x: str, channels_last: bool, rank: int = 4) -> str:
    return e.op("Transpose", [x], perm=[0, rank - 1] + list(range(1, rank - 1))) if channels_last else x


def _from_nchw(e: _Emitter, y: str, channels_last: bool, rank: int = 4) -> str:
    return e.op("Transpose", [y], perm=[0] + list(range(2, rank)) + [1]) if channels_last else y


def _global_avg_pool(e: _Emitter, n):
    last = bool(_attr(n, "channels_last", 0))
    x = _to_nchw(e, e.dq(n.input[0], n.input[1], _ins(n, 2)), last)
    e.q(_from_nchw(e, e.op("GlobalAveragePool", [x]), last), n.input[3], _ins(n, 4), n.output[0])


def _avg_pool(e: _Emitter, n):
    last = bool(_attr(n, "channels_last", 0))
    attrs = {a.name: helper.get_attribute_value(a) for a in n.attribute if a.name != "channels_last"}
    attrs = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in attrs.items()}
    rank = 2 + len(attrs.get("kernel_shape", (1, 1)))
    x = _to_nchw(e, e.dq(n.input[0], n.input[1], _ins(n, 2)), last, rank)
    y = _from_nchw(e, e.op("AveragePool", [x], **attrs), last, rank)
    e.q(y, n.input[3], _ins(n, 4), n.output[0])


def _concat(e: _Emitter, n):
    # (Y_scale, Y_zp, X0, X0_scale, X0_zp, X1, ...) -> Y
    parts = [e.dq(n.input[k], n.input[k + 1], _ins(n, k + 2)) for k in range(2, len(n.input), 3)]
    e.q(e.op("Concat", parts, axis=int(_attr(n, "axis"))), n.input[0], _ins(n, 1), n.output[0])


def _softmax(e: _Emitter, n):
    axis, opset = int(_attr(n, "axis", -1)), int(_attr(n, "opset", 13))
    x = e.dq(n.input[0], n.input[1], _ins(n, 2))
    if opset >= 13:
        y = e.op("Softmax", [x], axis=axis)
    else:  # Softmax-1/11: over the input flattened to 2-d at ``axis``
        y = e.op("Reshape", [e.op("Softmax", [e.op("Flatten", [x], axis=axis)], axis=1), e.op("Shape", [x])])
    e.q(y, n.input[3], _ins(n, 4), n.output[0])


def _qgemm(e: _Emitter, n):
    # (A, a_scale, a_zp, B, b_scale, b_zp, C (int32 bias, scale a_scale * b_scale), y_scale, y_zp) -> Y
    trans_b = int(_attr(n, "transB", 0))
    per_channel = {"axis": 0 if trans_b else 1}
    a = e.dq(n.input[0], n.input[1], _ins(n, 2))
    b = e.dq(n.input[3], n.input[4], _ins(n, 5), **per_channel)
    ins = [a, b]
    if _ins(n, 6):
        ins.append(e.dq(n.input[6], e.op("Mul", [n.input[1], n.input[4]]), axis=0))
    attrs = dict(alpha=float(_attr(n, "alpha", 1.0)), transA=int(_attr(n, "transA", 0)), transB=trans_b)
    if _ins(n, 7):
        e.q(e.op("Gemm", ins, **attrs), n.input[7], _ins(n, 8), n.output[0])
    else:  # no output scale: a float output
        e.op("Gemm", ins, n.output[0], **attrs)


def _standard(op_type):
    # com.microsoft.QuantizeLinear / DequantizeLinear: the standard op (same inputs and axis)
    def rewrite(e: _Emitter, n):
        attrs = {a.name: helper.get_attribute_value(a) for a in n.attribute if a.name == "axis"}
        e.op(op_type, list(n.input), n.output[0], **attrs)
    return rewrite


def _gelu_erf(e: _Emitter, x: str, out: str):
    half_x = e.op("Mul", [x, e.fconst(0.5, x)])
    erf = e.op("Erf", [e.op("Mul", [x, e.fconst(1 / math.sqrt(2), x)])])
    e.op("Mul", [half_x, e.op("Add", [erf, e.fconst(1.0, x)])], out)


def _gelu(e: _Emitter, n):
    _gelu_erf(e, n.input[0], n.output[0])


def _bias_gelu(e: _Emitter, n):
    _gelu_erf(e, e.op("Add", [n.input[0], n.input[1]]), n.output[0])


def _fast_gelu(e: _Emitter, n):
    # 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))), x = X (+ bias)
    x = e.op("Add", [n.input[0], n.input[1]]) if _ins(n, 1) else n.input[0]
    inner = e.op("Add", [x, e.op("Mul", [e.op("Mul", [e.op("Mul", [x, x]), x]), e.fconst(0.044715, x)])])
    t = e.op("Tanh", [e.op("Mul", [inner, e.fconst(math.sqrt(2 / math.pi), x)])])
    e.op("Mul", [e.op("Mul", [x, e.fconst(0.5, x)]), e.op("Add", [t, e.fconst(1.0, x)])], n.output[0])


def _quick_gelu(e: _Emitter, n):
    x = n.input[0]
    s = e.op("Sigmoid", [e.op("Mul", [x, e.fconst(float(_attr(n, "alpha", 1.702)), x)])])
    e.op("Mul", [x, s], n.output[0])


def _rms_norm(e: _Emitter, x: str, scale: str, eps: float, out: str):
    """x / sqrt(mean(x^2 over the last axis) + eps) * scale."""
    sq = e.op("Mul", [x, x])
    if e.opset >= 18:
        ms = e.op("ReduceMean", [sq, e.const([-1], np.int64)], keepdims=1)
    else:
        ms = e.op("ReduceMean", [sq], axes=[-1], keepdims=1)
    rms = e.op("Sqrt", [e.op("Add", [ms, e.fconst(eps, x)])])
    e.op("Mul", [e.op("Div", [x, rms]), scale], out)


def _skip_sum(e: _Emitter, n, bias_at: int) -> str:
    """input + skip (+ bias), into the node's input_skip_bias_sum output when that is used (output 3)."""
    x = e.op("Add", [n.input[0], n.input[1]])
    if _ins(n, bias_at):
        x = e.op("Add", [x, n.input[bias_at]])
    if len(n.output) > 3 and n.output[3]:
        x = e.op("Identity", [x], n.output[3])
    return x


def _skip_layer_norm(e: _Emitter, n):
    # (input, skip, gamma, beta?, bias?) -> (output, mean?, inv_std_var?, input_skip_bias_sum?)
    x = _skip_sum(e, n, 4)
    ins = [x, n.input[2]] + ([n.input[3]] if _ins(n, 3) else [])
    e.op("LayerNormalization", ins, n.output[0], axis=-1, epsilon=float(_attr(n, "epsilon", 1e-12)))


def _skip_simplified_layer_norm(e: _Emitter, n):
    # (input, skip, gamma, bias?) -> (output, mean?, inv_std_var?, input_skip_bias_sum?)
    _rms_norm(e, _skip_sum(e, n, 3), n.input[2], float(_attr(n, "epsilon", 1e-12)), n.output[0])


def _simplified_layer_norm(e: _Emitter, n):
    # (X, scale) -> (Y, inv_std_var?), over the last axis
    _rms_norm(e, n.input[0], n.input[1], float(_attr(n, "epsilon", 1e-5)), n.output[0])


def _image_scaler(e: _Emitter, n):
    # ImageScaler (experimental, removed in opset 10; early model-zoo files start with it): scale * x + bias[c]
    bias = np.asarray(_attr(n, "bias", []), np.float32).reshape(1, -1, 1, 1)
    y = e.op("Mul", [n.input[0], e.fconst(float(_attr(n, "scale", 1.0)), n.input[0])])
    e.op("Add", [y, e.fconst(bias, n.input[0])], n.output[0]) if bias.size else e.op("Identity", [y], n.output[0])


def _only_outputs(*used):
    """A guard: the node uses no output but these (mean / inv_std_var outputs are not rewritten)."""
    return lambda n: all(not o or k in used for k, o in enumerate(n.output))


# guards for rewrites that cover only part of an op's attributes or outputs: a node failing its guard is left
# as it is (and reported unsupported)
# (called with the node and the _Context)
GUARDS: Dict[str, Callable] = {
    "SkipLayerNormalization": lambda n, _: _only_outputs(0, 3)(n),
    "SkipSimplifiedLayerNormalization": lambda n, _: _only_outputs(0, 3)(n),
    "SimplifiedLayerNormalization": lambda n, _: _only_outputs(0)(n) and int(_attr(n, "axis", -1)) == -1,
}


REWRITES: Dict[str, Callable] = {
    "QLinearAdd": _binary("Add"),
    "QLinearMul": _binary("Mul"),
    "QLinearSigmoid": _unary("Sigmoid"),
    "QLinearLeakyRelu": _unary("LeakyRelu"),
    "QLinearSoftmax": _softmax,
    "QLinearConcat": _concat,
    "QLinearGlobalAveragePool": _global_avg_pool,
    "QLinearAveragePool": _avg_pool,
    "QGemm": _qgemm,
    "QuantizeLinear": _standard("QuantizeLinear"),
    "DequantizeLinear": _standard("DequantizeLinear"),
    "Gelu": _gelu,
    "BiasGelu": _bias_gelu,
    "FastGelu": _fast_gelu,
    "QuickGelu": _quick_gelu,
    "SkipLayerNormalization": _skip_layer_norm,
    "SkipSimplifiedLayerNormalization": _skip_simplified_layer_norm,
    "SimplifiedLayerNormalization": _simplified_layer_norm,
    "ImageScaler": _image_scaler,
}
# the transformer optimizer's attention family (Attention, MultiHeadAttention, EmbedLayerNormalization, ...)
REWRITES.update(_attention_family.REWRITES)
GUARDS.update(_attention_family.GUARDS)
# (node, _Context) -> why its guard refuses it (None: it does not), for the importer's error
REFUSALS: Dict[str, Callable] = dict(_attention_family.REFUSALS)
# standard ops rewritten here too (default domain): onnxruntime registers SimplifiedLayerNormalization there;
# ImageScaler is an old experimental op; DFT / STFT with a known length are products with constant bases (signal.py)
REWRITES.update(_signal.REWRITES)
GUARDS.update(_signal.GUARDS)
DEFAULT_DOMAIN = {"SimplifiedLayerNormalization", "ImageScaler"} | set(_signal.REWRITES)


def _candidate(n) -> bool:
    return (n.domain == DOMAIN and n.op_type in REWRITES) or (n.domain in ("", "ai.onnx") and n.op_type in DEFAULT_DOMAIN)


def _rewritable(n, ctx: "_Context") -> bool:
    return _candidate(n) and GUARDS.get(n.op_type, lambda *_: True)(n, ctx)


def refusal(model: onnx.ModelProto, node: onnx.NodeProto) -> str:
    """Why ``node`` (left in ``model`` by ``expand_contrib_ops``) was not rewritten, when its op says."""
    why = REFUSALS.get(node.op_type) if node.domain == DOMAIN else None
    return (why(node, _Context(model)) or "") if why else ""


def expand_contrib_ops(model: onnx.ModelProto) -> onnx.ModelProto:
    """``model`` with each rewritable com.microsoft node of its main graph replaced by standard ONNX nodes (a
    copy; the same object when there is none).

    Some guards need shapes that only exist once earlier contrib nodes are standard ops (an Attention fed by a
    SkipLayerNormalization, a mask made by EmbedLayerNormalization), so rewriting repeats, with shapes inferred
    again, until a pass rewrites nothing. A rewrite may pin a dim_param that its op fixes (GroupQueryAttention: the
    cache's head size, which onnxruntime-genai names): it becomes that value in the graph's inputs and outputs."""
    if not any(_candidate(n) for n in model.graph.node):
        return model
    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 17)
    m = onnx.ModelProto()
    m.CopyFrom(model)
    while _rewrite_pass(m, opset):
        pass
    if not any(n.domain == DOMAIN for n in m.graph.node):
        keep = [o for o in m.opset_import if o.domain != DOMAIN]
        del m.opset_import[:]
        m.opset_import.extend(keep)
    return m


def _rewrite_pass(m: onnx.ModelProto, opset: int) -> int:
    """Rewrite (in place) every node of ``m``'s main graph whose guard passes; how many were rewritten."""
    g = m.graph
    taken = {t for n in g.node for t in list(n.input) + list(n.output)} | {i.name for i in g.initializer} \
        | {n.name for n in g.node}
    inits: List[onnx.TensorProto] = []
    nodes = []
    ctx = _Context(m)
    done, pins = 0, {}
    for n in g.node:
        if _rewritable(n, ctx):
            e = _Emitter(n, taken, inits, opset, ctx)
            REWRITES[n.op_type](e, n)
            nodes.extend(e.nodes)
            pins.update(e.pins)
            done += 1
        else:
            nodes.append(n)
    del g.node[:]
    g.node.extend(nodes)
    g.initializer.extend(inits)
    for v in list(g.input) + list(g.output) + list(g.value_info):  # a pinned dim_param becomes its value
        for d in v.type.tensor_type.shape.dim if v.type.HasField("tensor_type") else ():
            if d.HasField("dim_param") and d.dim_param in pins:
                d.dim_value = pins[d.dim_param]
    return done
