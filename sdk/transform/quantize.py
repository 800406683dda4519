"""int8 post-training quantization (``Function -> Function``), TFLite / CMSIS-NN scheme.

- Activations: per-tensor *asymmetric* int8, ``real = scale * (q - zp)``; ranges from calibration data
  (min/max, widened to include 0 so zero padding and ReLU are exact).
- Weights: per-output-channel *symmetric* int8 in [-127, 127]; bias int32 at ``scale_x * scale_w[c]``.
- Requantization: the real factor ``scale_x * scale_w[c] / scale_y`` becomes an int32 Q31 multiplier and a
  power-of-two shift (``sdk_requantize``: saturating rounding doubling high multiply, rounding shift).
- Conv (+BatchNorm folded) (+Relu/Clip fused), Gemm/MatMul (+bias Add) (+Relu), MaxPool, AveragePool,
  GlobalAveragePool (or a ReduceMean over H, W), Add (+Relu), Flatten/Reshape are quantized; the graph input is
  quantized on device; the first op outside this set starts a float tail (e.g. Softmax) behind a Dequantize.

``reference_int8(f, inputs)`` evaluates the quantized Function with numpy integers, bit-exact with the C kernels.
"""
from __future__ import annotations

import math
from typing import Dict

import numpy as np

from ..errors import SdkError
from ..ir import sym
from ..ir.graph import Binding, Function, TensorType, Value

QMIN, QMAX = -128, 127


def quantize_multiplier(real: float):
    """real -> (int32 Q31 multiplier, shift) with real ~= mult * 2^(shift - 31)."""
    if real <= 0:
        return 0, 0
    m, e = math.frexp(real)
    q = int(round(m * (1 << 31)))
    if q == 1 << 31:
        q //= 2
        e += 1
    if e < -31:
        return 0, 0
    return q, e


def _qparams(lo, hi):
    lo, hi = min(float(lo), 0.0), max(float(hi), 0.0)
    scale = float(np.float32((hi - lo) / 255.0)) if hi > lo else 1.0
    zp = int(np.clip(round(QMIN - lo / scale), QMIN, QMAX))
    return scale, zp


# ------------------------------------------------------------ calibration
def calibrate(model, calibration: Dict[str, np.ndarray]) -> Dict[str, tuple]:
    """(min, max) of every tensor of the float model over the calibration inputs."""
    import onnx
    from onnx import helper
    m = onnx.load(model) if isinstance(model, str) or hasattr(model, "__fspath__") else model
    if isinstance(m, bytes):
        m = onnx.load_from_string(m)
    m = onnx.ModelProto.FromString(m.SerializeToString())
    have = {o.name for o in m.graph.output}
    for node in m.graph.node:
        for o in node.output:
            if o and o not in have:
                m.graph.output.append(helper.make_empty_tensor_value_info(o))
    # float inputs as float32; integer ones (token ids, masks) keep their type: ORT checks it
    feeds = {k: np.asarray(v) if np.asarray(v).dtype.kind in "iub" else np.asarray(v, np.float32)
             for k, v in calibration.items()}
    try:
        import onnxruntime as ort
        so = ort.SessionOptions()
        so.log_severity_level = 3
        sess = ort.InferenceSession(m.SerializeToString(), so, providers=["CPUExecutionProvider"])
        names = [o.name for o in sess.get_outputs()]
        vals = sess.run(None, feeds)
    except ImportError:
        from onnx.reference import ReferenceEvaluator
        names = [o.name for o in m.graph.output]
        vals = ReferenceEvaluator(m).run(None, feeds)
    ranges = {n: (float(np.min(v)), float(np.max(v))) for n, v in zip(names, vals) if np.asarray(v).size}
    for k, v in feeds.items():
        ranges[k] = (float(v.min()), float(v.max()))
    return ranges


# ---------------------------------------------------------------- the pass
class _Q:
    def __init__(self, f, ranges, keep_float=frozenset()):
        self.f, self.ranges = f, ranges  # ranges: {ONNX tensor name: (min, max)}
        self.keep_float = keep_float  # ids of constants whose readers stay float (a trainable head)
        self.public = {}  # {ONNX name of the float tensor: (scale, zero point)}: what Bundle.quant reports
        self.cons = f.consumers()
        self.bindings, self.qv, self.params = [], {}, {}  # qv: id(float value) -> int8 Value
        self.k = 0

    def name(self, base):
        self.k += 1
        return f"q{self.k}_{base}"

    def const(self, arr, base):
        arr = np.ascontiguousarray(arr)
        return Value(self.name(base), TensorType(tuple(arr.shape), arr.dtype.name), const=arr)

    def new(self, v, dtype="int8", qp=None):
        nv = Value(v.name + "_q" if dtype == "int8" else v.name, TensorType(v.shape, dtype))
        if qp is not None:
            self.params[nv.name] = qp
            self.public[v.onnx_name or nv.name] = qp
        return nv

    def single_consumer(self, v, ops):
        users = self.cons.get(id(v), [])
        if len(users) == 1 and users[0].op in ops and id(v) not in {id(o) for o in self.f.outputs} \
                and not self.reads_float(users[0]):
            return users[0]
        return None

    def reads_float(self, b):
        """Does ``b`` read a constant that must stay float (it is then neither quantized nor fused)?"""
        return any(v is not None and id(v) in self.keep_float for v in b.inputs)

    def act_range(self, v):
        """(final value, act_min, act_max) after fusing a following Relu/Clip."""
        nxt = self.single_consumer(v, ("Relu", "Clip"))
        if nxt is None:
            return v, None
        if nxt.op == "Clip":
            lo = nxt.inputs[1].const if len(nxt.inputs) > 1 and nxt.inputs[1] is not None else None
            hi = nxt.inputs[2].const if len(nxt.inputs) > 2 and nxt.inputs[2] is not None else None
            if (len(nxt.inputs) > 1 and nxt.inputs[1] is not None and lo is None) or \
                    (len(nxt.inputs) > 2 and nxt.inputs[2] is not None and hi is None):
                return v, None
            return nxt.outputs[0], (None if lo is None else float(lo), None if hi is None else float(hi), nxt)
        return nxt.outputs[0], (0.0, None, nxt)

    def out_qparams(self, v):
        lo, hi = self.ranges[v.onnx_name]  # the ONNX name, never the C name: 'a.b' and 'a_b' are both 'a_b' in C
        return _qparams(lo, hi)

    def clamp_range(self, act, scale, zp):
        if act is None:
            return QMIN, QMAX
        lo, hi, _ = act
        amin = QMIN if lo is None else max(QMIN, zp + int(round(lo / scale)))
        amax = QMAX if hi is None else min(QMAX, zp + int(round(hi / scale)))
        return amin, amax


def quantize_int8(f: Function, model, calibration: Dict[str, np.ndarray], keep_float=()):
    """Quantize ``f`` (imported from ``model``) with ``calibration`` ({input name: float array}, or a list of such
    batches: the union of their ranges).
    ``keep_float``: constant Values (a trainable head's parameters) whose readers start the float tail: they are
    neither quantized nor folded into a quantized producer (a BatchNorm, a bias Add).
    Returns (quantized Function, {ONNX tensor name: [scale, zero point]})."""
    from ..feeds import check_feeds
    types = [(v.dtype, [int(d) if sym.is_static(d) else sym.to_str(d) for d in v.shape]) for v in f.inputs]
    batches = list(calibration) if isinstance(calibration, (list, tuple)) else [calibration]
    ranges: Dict[str, tuple] = {}
    for feeds in batches:  # several batches (a model of a fixed batch size): the union of their ranges
        check_feeds(f.input_names, types, feeds, {}, what="calibration input", finite=True)
        for k, (lo, hi) in calibrate(model, feeds).items():
            ranges[k] = (min(lo, ranges[k][0]), max(hi, ranges[k][1])) if k in ranges else (lo, hi)
    q = _Q(f, ranges, frozenset(id(v) for v in keep_float))  # ranges keyed by ONNX names (Value.onnx_name)
    skip = set()
    tail = False
    for v in f.inputs:
        if v.dtype == "float32":
            s, z = q.out_qparams(v)
            qv = q.new(v, qp=(s, z))
            q.bindings.append(Binding("sdk.Quantize", [v], [qv], {"scale": s, "zp": z}, q.name("quantize")))
            q.qv[id(v)] = qv
    for b in f.bindings:
        if id(b) in skip:
            continue
        if not tail and not q.reads_float(b) and _quantizable(q, b):
            _emit(q, b, skip)
            continue
        tail = True
        ins = []
        for v in b.inputs:
            if v is not None and id(v) in q.qv and v.const is None:
                ins.append(_dequantize(q, v))
            else:
                ins.append(v)
        q.bindings.append(Binding(b.op, ins, b.outputs, dict(b.attrs), b.name))
    outs = []
    for v in f.outputs:
        outs.append(_dequantize(q, v) if id(v) in q.qv else v)
    g = f.with_bindings(q.bindings, inputs=list(f.inputs), outputs=outs)
    return g, {k: [float(s), int(z)] for k, (s, z) in q.public.items()}


def _dequantize(q, v):
    qv = q.qv[id(v)]
    key = ("deq", id(v))
    if key in q.qv:
        return q.qv[key]
    s, z = q.params[qv.name]
    fv = Value(v.name, TensorType(v.shape, "float32"))
    q.bindings.append(Binding("sdk.Dequantize", [qv], [fv], {"scale": s, "zp": z}, q.name("dequantize")))
    q.qv[key] = fv
    return fv


def _is_q(q, v):
    return v is not None and id(v) in q.qv


def _quantizable(q, b):
    x = b.inputs[0] if b.inputs else None
    if b.op == "Conv":
        w = b.inputs[1]
        return (_is_q(q, x) and w.const is not None and len(w.shape) == 4 and
                (len(b.inputs) < 3 or b.inputs[2] is None or b.inputs[2].const is not None) and
                list(b.attrs.get("dilations", [1, 1])) == [1, 1] and
                b.attrs.get("auto_pad", "NOTSET") in ("NOTSET", b"NOTSET"))
    if b.op == "Gemm":
        return (_is_q(q, x) and b.inputs[1].const is not None and not b.attrs.get("transA", 0) and
                b.attrs.get("alpha", 1.0) == 1.0 and b.attrs.get("beta", 1.0) == 1.0 and
                (len(b.inputs) < 3 or b.inputs[2] is None or (b.inputs[2].const is not None and
                                                                 b.inputs[2].const.size == b.outputs[0].shape[1])))
    if b.op == "MatMul":
        return _is_q(q, x) and len(x.shape) == 2 and b.inputs[1].const is not None and len(b.inputs[1].shape) == 2
    if b.op in ("MaxPool", "AveragePool"):
        p = list(b.attrs.get("pads", [0, 0, 0, 0]))
        if b.op == "AveragePool" and b.attrs.get("count_include_pad", 0) and p[:2] != p[2:]:
            return False
        return (_is_q(q, x) and len(x.shape) == 4 and not b.attrs.get("ceil_mode", 0) and
                list(b.attrs.get("dilations", [1, 1])) == [1, 1] and
                b.attrs.get("auto_pad", "NOTSET") in ("NOTSET", b"NOTSET") and len(b.outputs) == 1)
    if b.op == "GlobalAveragePool":
        return _is_q(q, x) and len(x.shape) == 4
    if b.op == "ReduceMean":
        return _is_q(q, x) and len(x.shape) == 4 and _spatial_mean(b)
    if b.op == "Add":
        return _is_q(q, x) and _is_q(q, b.inputs[1]) and x.shape == b.inputs[1].shape
    if b.op in ("Flatten", "Reshape"):
        return _is_q(q, x) and all(v is None or v.const is not None or v is x for v in b.inputs)
    return False


def _spatial_mean(b):
    """Is ``b`` (a ReduceMean of a 4-D tensor) a mean over the two spatial axes (a global average pool)?"""
    if len(b.inputs) > 1 and b.inputs[1] is not None:
        axes = b.inputs[1].const
        if axes is None:
            return False
        axes = axes.tolist()
    else:
        axes = b.attrs.get("axes")
    return axes is not None and sorted(int(a) % 4 for a in axes) == [2, 3]


def _fc_weights(b):
    """(W [N, K] float, bias [N] or None, consumed Add binding or None)."""
    if b.op == "Gemm":
        w = b.inputs[1].const.astype(np.float64)
        w = w if b.attrs.get("transB", 0) else w.T
        bias = b.inputs[2].const.reshape(-1) if len(b.inputs) > 2 and b.inputs[2] is not None else None
        return w, bias, None
    return b.inputs[1].const.astype(np.float64).T, None, None


def _emit(q, b, skip):
    x = b.inputs[0]
    qx = q.qv[id(x)]
    sx, zx = q.params[qx.name]
    if b.op in ("Conv", "Gemm", "MatMul"):
        out = b.outputs[0]
        if b.op == "Conv":
            w = b.inputs[1].const.astype(np.float64)
            bias = b.inputs[2].const.astype(np.float64) if len(b.inputs) > 2 and b.inputs[2] is not None else None
            bn = q.single_consumer(out, ("BatchNormalization",))
            if bn is not None and all(v.const is not None for v in bn.inputs[1:5]) and len(bn.outputs) == 1:
                gamma, beta, mean, var = (v.const.astype(np.float64) for v in bn.inputs[1:5])
                k = gamma / np.sqrt(var + bn.attrs.get("epsilon", 1e-5))
                w = w * k[:, None, None, None]
                bias = beta + ((bias if bias is not None else 0.0) - mean) * k
                skip.add(id(bn))
                out = bn.outputs[0]
        else:
            w, bias, _ = _fc_weights(b)
            add = q.single_consumer(out, ("Add",))
            if add is not None:
                other = add.inputs[1] if add.inputs[0] is out else add.inputs[0]
                if other.const is not None and other.const.size == w.shape[0]:
                    bias = (bias if bias is not None else 0.0) + other.const.reshape(-1).astype(np.float64)
                    skip.add(id(add))
                    out = add.outputs[0]
        final, act = q.act_range(out)
        if act is not None:
            skip.add(id(act[2]))
        sy, zy = q.out_qparams(final)
        amin, amax = q.clamp_range(act, sy, zy)
        wmax = np.abs(w.reshape(w.shape[0], -1)).max(axis=1)
        sw = np.where(wmax > 0, wmax / 127.0, 1.0)
        wq = np.clip(np.rint(w / sw.reshape((-1,) + (1,) * (w.ndim - 1))), -127, 127).astype(np.int8)
        bq = np.rint((bias if bias is not None else np.zeros(w.shape[0])) / (sx * sw)).astype(np.int64)
        bq = np.clip(bq, -2**31, 2**31 - 1).astype(np.int32)
        ms = [quantize_multiplier(sx * s / sy) for s in sw]
        mult = np.array([m for m, _ in ms], np.int32)
        shift = np.array([s for _, s in ms], np.int32)
        qy = q.new(final, qp=(sy, zy))
        attrs = {"x_zp": zx, "y_zp": zy, "act_min": amin, "act_max": amax}
        if b.op == "Conv":
            pads = list(b.attrs.get("pads", [0, 0, 0, 0]))
            attrs.update(strides=list(b.attrs.get("strides", [1, 1])), pads=pads[:2], group=b.attrs.get("group", 1))
            op = "sdk.QConv"
        else:
            op = "sdk.QFC"
        ins = [qx, q.const(wq, "w"), q.const(bq, "bias"), q.const(mult, "mult"), q.const(shift, "shift")]
        q.bindings.append(Binding(op, ins, [qy], attrs, q.name(b.name or op)))
        q.qv[id(final)] = qy
        return
    out = b.outputs[0]
    if b.op in ("MaxPool", "AveragePool", "GlobalAveragePool", "ReduceMean"):
        if b.op in ("GlobalAveragePool", "ReduceMean"):
            kernel, strides, pads, cip = list(x.shape[2:]), [1, 1], [0, 0], 0
        else:
            kernel = list(b.attrs["kernel_shape"])
            strides = list(b.attrs.get("strides", [1, 1]))
            pads = list(b.attrs.get("pads", [0, 0, 0, 0]))[:2]
            cip = int(b.attrs.get("count_include_pad", 0))
        qy = q.new(out, qp=(sx, zx))  # pooling keeps the input's quantization
        flat = b.op == "ReduceMean" and not b.attrs.get("keepdims", 1)
        pooled = Value(q.name("pooled"), TensorType(tuple(x.shape[:2]) + (1, 1), "int8")) if flat else qy
        op = "sdk.QMaxPool" if b.op == "MaxPool" else "sdk.QAvgPool"
        q.bindings.append(Binding(op, [qx], [pooled], {"kernel": kernel, "strides": strides, "pads": pads,
                                                       "count_include_pad": cip, "zp": zx}, q.name(b.name or op)))
        if flat:  # ReduceMean without keepdims: [N, C, 1, 1] -> [N, C]
            q.bindings.append(Binding("Reshape", [pooled, q.const(np.array([0, -1], np.int64), "shape")], [qy], {},
                                      q.name("reshape")))
        q.qv[id(out)] = qy
        return
    if b.op == "Add":
        qb = q.qv[id(b.inputs[1])]
        sb, zb = q.params[qb.name]
        final, act = q.act_range(out)
        if act is not None:
            skip.add(id(act[2]))
        sy, zy = q.out_qparams(final)
        twice = 2 * max(sx, sb)
        am, ash = quantize_multiplier(sx / twice)
        bm, bsh = quantize_multiplier(sb / twice)
        ym, ysh = quantize_multiplier(twice / ((1 << 20) * sy))
        amin, amax = q.clamp_range(act, sy, zy)
        qy = q.new(final, qp=(sy, zy))
        q.bindings.append(Binding("sdk.QAdd", [qx, qb], [qy], {
            "a_zp": zx, "a_mult": am, "a_shift": ash, "b_zp": zb, "b_mult": bm, "b_shift": bsh,
            "y_mult": ym, "y_shift": ysh, "y_zp": zy, "act_min": amin, "act_max": amax}, q.name(b.name or "add")))
        q.qv[id(final)] = qy
        return
    # Flatten / Reshape: same bytes, same quantization
    qy = q.new(out, qp=(sx, zx))
    q.bindings.append(Binding(b.op, [qx] + list(b.inputs[1:]), [qy], dict(b.attrs), q.name(b.name or b.op)))
    q.qv[id(out)] = qy


# --------------------------------------------------- numpy integer reference
def _srdhm(a, b):
    a, b = np.asarray(a, np.int64), np.asarray(b, np.int64)
    ab = a * b
    t = ab + np.where(ab >= 0, 1 << 30, 1 - (1 << 30))
    r = np.where(t >= 0, t // (1 << 31), -((-t) // (1 << 31)))
    return np.where((a == b) & (a == -2**31), 2**31 - 1, r).astype(np.int64)


def requantize(acc, mult, shift):
    """numpy twin of sdk_requantize (int32 semantics)."""
    acc, mult, shift = (np.asarray(v, np.int64) for v in (acc, mult, shift))
    left = np.maximum(shift, 0)
    right = np.maximum(-shift, 0)
    x = ((acc << left) & 0xFFFFFFFF).astype(np.uint32).astype(np.int32).astype(np.int64)
    x = _srdhm(x, mult)
    mask = (np.int64(1) << right) - 1
    rem = x & mask
    thr = (mask >> 1) + (x < 0)
    return (x >> right) + (rem > thr)


def _pool_windows(x, kernel, strides, pads, fill):
    n, c, h, w = x.shape
    xp = np.full((n, c, h + 2 * pads[0] + kernel[0], w + 2 * pads[1] + kernel[1]), fill, x.dtype)
    xp[:, :, pads[0]:pads[0] + h, pads[1]:pads[1] + w] = x
    return xp


def _conv_int(x, zx, w, bias, mult, shift, zy, amin, amax, strides, pads, group, out_shape):
    n, c, h, wd = x.shape
    m, cin, kh, kw = w.shape
    oh, ow = out_shape[2], out_shape[3]
    xi = x.astype(np.int64) - zx
    xp = np.zeros((n, c, h + 2 * pads[0] + kh, wd + 2 * pads[1] + kw), np.int64)
    xp[:, :, pads[0]:pads[0] + h, pads[1]:pads[1] + wd] = xi
    cout = m // group
    acc = np.zeros((n, m, oh, ow), np.int64)
    for g in range(group):
        xs = xp[:, g * cin:(g + 1) * cin]
        cols = np.stack([xs[:, :, i:i + strides[0] * oh:strides[0], j:j + strides[1] * ow:strides[1]]
                         for i in range(kh) for j in range(kw)], axis=2)  # n, cin, kh*kw, oh, ow
        wg = w[g * cout:(g + 1) * cout].astype(np.int64).reshape(cout, cin, kh * kw)
        acc[:, g * cout:(g + 1) * cout] = np.einsum("nckhw,mck->nmhw", cols, wg)
    acc = acc + bias.astype(np.int64)[None, :, None, None]
    y = requantize(acc, mult[None, :, None, None], shift[None, :, None, None]) + zy
    return np.clip(y, amin, amax).astype(np.int8)


def reference_int8(f: Function, inputs: Dict[str, np.ndarray]) -> Dict[str, np.ndarray]:
    """Evaluate a quantized Function with numpy integers (bit-exact with the C kernels)."""
    env = {}
    for v, nm in zip(f.inputs, f.input_names):
        env[id(v)] = np.asarray(inputs[nm])

    def val(v):
        return v.const if v.const is not None else env[id(v)]

    for b in f.bindings:
        a = b.attrs
        x = val(b.inputs[0])
        o = b.outputs[0]
        if b.op == "sdk.Quantize":
            inv = np.float32(1) / np.float32(a["scale"])
            r = np.clip(np.rint(x.astype(np.float32) * inv), -1000, 1000).astype(np.int64) + a["zp"]
            y = np.clip(r, QMIN, QMAX).astype(np.int8)
        elif b.op == "sdk.Dequantize":
            y = (x.astype(np.int32) - a["zp"]).astype(np.float32) * np.float32(a["scale"])
        elif b.op == "sdk.QConv":
            w, bias, mult, shift = (val(v) for v in b.inputs[1:])
            oh, ow = int(o.shape[2]), int(o.shape[3])  # static spatial dims (pads may be asymmetric)
            y = _conv_int(x, a["x_zp"], w, bias, mult, shift, a["y_zp"], a["act_min"], a["act_max"], a["strides"],
                          a["pads"], a["group"], (None, None, oh, ow))
        elif b.op == "sdk.QFC":
            w, bias, mult, shift = (val(v) for v in b.inputs[1:])
            acc = (x.astype(np.int64) - a["x_zp"]) @ w.astype(np.int64).T + bias.astype(np.int64)
            y = np.clip(requantize(acc, mult, shift) + a["y_zp"], a["act_min"], a["act_max"]).astype(np.int8)
        elif b.op == "sdk.QSparse":  # a QFC / 1x1 QConv with its weight in CSR (sdk/transform/sparsify.py)
            rowptr, cols, vals, bias, mult, shift = (val(v) for v in b.inputs[1:])
            w = np.zeros((a["O"], a["K"]), np.int64)
            rows = np.repeat(np.arange(a["O"]), np.diff(rowptr))
            w[rows, cols[:rows.size].astype(np.int64)] = vals[:rows.size]
            xz = x.astype(np.int64) - a["x_zp"]
            if a["layout"] == "channels":  # NCHW: outputs on axis 1
                per = (1, -1) + (1,) * (x.ndim - 2)
                acc = np.einsum("ok,nk...->no...", w, xz) + bias.astype(np.int64).reshape(per)
                mult, shift = mult.reshape(per), shift.reshape(per)
            else:
                acc = xz @ w.T + bias.astype(np.int64)
            y = np.clip(requantize(acc, mult, shift) + a["y_zp"], a["act_min"], a["act_max"]).astype(np.int8)
        elif b.op in ("sdk.QMaxPool", "sdk.QAvgPool"):
            kh, kw = a["kernel"]
            sh, sw = a["strides"]
            ph, pw = a["pads"]
            n, c, h, wd = x.shape
            oh, ow = int(o.shape[2]), int(o.shape[3])
            if b.op == "sdk.QMaxPool":
                xp = _pool_windows(x.astype(np.int64), (kh, kw), (sh, sw), (ph, pw), -128)
                win = [xp[:, :, i:i + sh * oh:sh, j:j + sw * ow:sw] for i in range(kh) for j in range(kw)]
                y = np.max(np.stack(win), axis=0).astype(np.int8)
            else:
                xi = x.astype(np.int64) - a["zp"]
                xp = _pool_windows(xi, (kh, kw), (sh, sw), (ph, pw), 0)
                valid = _pool_windows(np.ones_like(xi), (kh, kw), (sh, sw), (ph, pw), 0)
                if a["count_include_pad"]:  # pads count, the area beyond them does not
                    valid[:, :, :h + 2 * ph, :wd + 2 * pw] = 1
                s = sum(xp[:, :, i:i + sh * oh:sh, j:j + sw * ow:sw] for i in range(kh) for j in range(kw))
                cnt = sum(valid[:, :, i:i + sh * oh:sh, j:j + sw * ow:sw] for i in range(kh) for j in range(kw))
                avg = np.where(s >= 0, (s + cnt // 2) // cnt, -((-s + cnt // 2) // cnt))
                y = np.clip(avg + a["zp"], QMIN, QMAX).astype(np.int8)
        elif b.op == "sdk.QAdd":
            bb = val(b.inputs[1])
            ra = requantize((x.astype(np.int64) - a["a_zp"]) * (1 << 20), a["a_mult"], a["a_shift"])
            rb = requantize((bb.astype(np.int64) - a["b_zp"]) * (1 << 20), a["b_mult"], a["b_shift"])
            y = np.clip(requantize(ra + rb, a["y_mult"], a["y_shift"]) + a["y_zp"], a["act_min"],
                        a["act_max"]).astype(np.int8)
        elif b.op in ("Flatten", "Reshape"):
            if b.op == "Flatten":
                ax = a.get("axis", 1)
                y = x.reshape(int(np.prod(x.shape[:ax])), -1)
            else:
                shp = [x.shape[i] if s == 0 else s for i, s in enumerate(val(b.inputs[1]).tolist())]
                y = x.reshape(shp)
        elif b.op == "Softmax":
            ax = a.get("axis", -1)
            e = np.exp(x - x.max(axis=ax, keepdims=True))
            y = (e / e.sum(axis=ax, keepdims=True)).astype(np.float32)
        else:
            raise SdkError(f"reference_int8: op {b.op} of the float tail is not supported here")
        env[id(o)] = y
    return {nm: env[id(v)] for v, nm in zip(f.outputs, f.output_names)}
