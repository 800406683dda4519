"""ONNX -> graph IR.

``dim_param`` becomes a symbol; every node's output type comes from the op's
own shape rule, so symbolic expressions survive Reshape/Concat/Slice/etc.
Nodes whose inputs are all constant are folded with onnx's reference
evaluator; small int tensors derived from shapes keep symbolic values.
"""
from __future__ import annotations

import contextvars
import os
import re
from types import SimpleNamespace
from typing import Dict, Optional, Tuple, Union

import numpy as np
import onnx
from onnx import helper, numpy_helper
from onnx.external_data_helper import uses_external_data

from ..errors import ImportError_, SdkError, ShapeError, UnsupportedOp
from ..ir import sym
from ..ir.dtypes import DTYPES, LOWBIT, dtype_name
from ..ir.graph import Binding, Function, RuntimeSym, TensorType, Value
from ..ops import HINTS as OP_HINTS, OPS, Node, get
from ..ops.common import onnx_dtype
from ..ops.lowbit import LOWBIT_OPS
from . import legacy as legacy_forms
from .contrib import expand_contrib_ops, refusal as contrib_refusal
from .sequences import resolve_sequences

MIN_OPSET = 1  # opsets 1-6 are read as opset 7 (sdk/frontend/legacy.py)
# input symbols that may be 0 during one import_onnx call (its ``empty_dims``)
_EMPTY_DIMS: contextvars.ContextVar = contextvars.ContextVar("empty_dims", default=frozenset())


def _control_flow():
    from .control_flow import CONTROL_FLOW
    return CONTROL_FLOW


def load_model(model: Union[str, os.PathLike, bytes, onnx.ModelProto]) -> onnx.ModelProto:
    if isinstance(model, onnx.ModelProto):
        return model
    try:
        if isinstance(model, (bytes, bytearray)):
            m = onnx.load_from_string(bytes(model))
        else:
            path = os.fspath(model)
            if not os.path.exists(path):
                raise ImportError_(f"{path}: no such file")
            m = onnx.load(path)
    except SdkError:
        raise
    except Exception as e:  # protobuf DecodeError, truncated files, missing external data
        where = "" if isinstance(model, (bytes, bytearray)) else f"{os.fspath(model)}: "
        raise ImportError_(f"{where}not a valid ONNX model ({type(e).__name__}: {str(e).splitlines()[0] if str(e) else 'parse error'})") from None
    if not m.HasField("graph") or (not m.graph.node and not m.graph.output):
        raise ImportError_("not a valid ONNX model (no graph; truncated or not an ONNX file?)")
    _check_names(m.graph)
    return m


def _check_names(g):
    """Protobuf hands back bytes for a string field that is not UTF-8 (a corrupt file): name it here
    rather than fail later on a bytes name (found by bench/fuzz.py)."""
    names = [g.name] + [vi.name for vi in list(g.input) + list(g.output)] + [t.name for t in g.initializer]
    names += [d.dim_param for vi in list(g.input) + list(g.output) for d in vi.type.tensor_type.shape.dim]
    for n in g.node:
        names += [n.name, n.op_type, n.domain, *n.input, *n.output, *(a.name for a in n.attribute)]
        for a in n.attribute:  # If/Loop/Scan bodies
            for sub in ([a.g] if a.HasField("g") else []) + list(a.graphs):
                _check_names(sub)
    bad = next((x for x in names if not isinstance(x, str)), None)
    if bad is not None:
        raise ImportError_(f"not a valid ONNX model (a name is not UTF-8 text: {bad[:40]!r}; corrupt file?)")


def attr_value(a: onnx.AttributeProto):
    try:
        v = helper.get_attribute_value(a)
        if isinstance(v, bytes):
            return v.decode()
        if isinstance(v, onnx.TensorProto):
            return numpy_helper.to_array(v)
        if isinstance(v, list) and v and isinstance(v[0], bytes):
            return [s.decode() for s in v]
    except Exception as e:  # noqa: BLE001 - onnx's readers on corrupt attribute data (bench/fuzz.py found
        # UnicodeDecodeError, ValueError, TypeError, and KeyError for a tensor of an unknown data type)
        raise ImportError_(f"attribute '{a.name}': cannot read its value ({type(e).__name__}: {e})") from None
    if isinstance(v, onnx.GraphProto):
        raise UnsupportedOp("subgraph attribute", a.name)
    return v


# C (C99 / C11) and C++ keywords and the names the runtime's headers define: an ONNX name spelled like one of them
# ('int', 'for', 'return', 'static', 'class') gets a trailing '_' where it becomes a C identifier
C_RESERVED = frozenset("""auto break case char const continue default do double else enum extern float for goto if
inline int long register restrict return short signed sizeof static struct switch typedef union unsigned void volatile
while _Alignas _Alignof _Atomic _Bool _Complex _Generic _Imaginary _Noreturn _Static_assert _Thread_local bool true
false asm alignas alignof and and_eq bitand bitor catch char16_t char32_t class compl concept constexpr const_cast
decltype delete dynamic_cast explicit export friend mutable namespace new noexcept not not_eq nullptr operator or
or_eq private protected public reinterpret_cast requires static_assert static_cast template this thread_local throw
try typeid typename using virtual wchar_t xor xor_eq NULL EOF errno assert offsetof main""".split())


def c_ident(name: str, empty: str = "v") -> str:
    """``name`` as a C identifier: other characters '_', a leading digit prefixed, a keyword suffixed by '_'."""
    base = re.sub(r"[^A-Za-z0-9_]", "_", name) or empty
    if base[0].isdigit():
        base = empty + base
    return base + "_" if base in C_RESERVED else base


def c_name(name: str, used: set) -> str:
    base = c_ident(name)
    s, k = base, 1
    while s in used:
        s, k = f"{base}_{k}", k + 1
    used.add(s)
    return s


def _sym_name(dim_param: str) -> str:
    """The IR symbol of an ONNX dim_param that names a dim ('batch.size' -> 'batch_size', '0d' -> 'd0d',
    'int' -> 'int_'): a C identifier, since it names a field of the bundle's ``<model>_dims``."""
    return c_ident(dim_param, "d")


def ir_dims(model, dims: Optional[Dict[str, int]]) -> Tuple[onnx.ModelProto, Dict[str, int]]:
    """(loaded model, ``dims`` keyed by IR symbols): a bound may be given by the ONNX spelling of its
    dim_param ('batch.size', 'seq-len') as well as by the symbol the importer makes of it ('batch_size')."""
    m = load_model(model)
    spelled = {d.dim_param for vi in m.graph.input if vi.type.HasField("tensor_type")
               for d in vi.type.tensor_type.shape.dim if d.dim_param}
    return m, {(_sym_name(k) if k in spelled else k): v for k, v in (dims or {}).items()}


def _input_dim(name: str):
    """The symbol of an input dim: at least 1, or at least 0 when named in ``import_onnx``'s ``empty_dims``."""
    return sym.var(name, lo=0 if name in _EMPTY_DIMS.get() else 1)


def _value_type(vi: onnx.ValueInfoProto, syms_seen, bounded=()) -> TensorType:
    t = vi.type.tensor_type
    if not vi.type.HasField("tensor_type"):
        raise UnsupportedOp("non-tensor input", vi.name)
    if not t.HasField("shape"):
        raise ShapeError(f"input '{vi.name}' has no shape in the model (not even a rank); give it one, e.g. "
                         "onnx.tools.update_model_dims.update_inputs_outputs_dims or re-export with input shapes")
    dims = []
    for k, d in enumerate(t.shape.dim):
        if d.HasField("dim_value"):
            if not 0 <= d.dim_value <= 2**31 - 1:
                raise ShapeError(f"input '{vi.name}': dim {k} is {d.dim_value}, outside 0..2147483647")
            dims.append(int(d.dim_value))
        else:
            # a dim_param bounded by name ('seq-len') is a name, not an expression of dims ('seq - len')
            plain = not d.dim_param or _sym_name(d.dim_param) in bounded
            expr = None if plain else _dim_expr(d.dim_param)
            if expr is None:
                expr = _input_dim(_sym_name(d.dim_param or f"{vi.name}_dim{k}"))
            dims.append(expr)
    return TensorType(tuple(dims), onnx_dtype(t.elem_type))


def _dim_expr(text: str):
    """A dim_param that is an expression of other dims ("past + 1", "2*s0", as the dynamo
    exporter writes them) -> Sym; None for a plain name or anything else."""
    import ast
    try:
        tree = ast.parse(text, mode="eval").body
    except SyntaxError:
        return None
    if isinstance(tree, ast.Name):
        return None

    def ev(e):
        if isinstance(e, ast.Name):
            return _input_dim(e.id)
        if isinstance(e, ast.Constant) and type(e.value) is int:
            return e.value
        if isinstance(e, ast.UnaryOp) and isinstance(e.op, ast.USub):
            return sym.mul(-1, ev(e.operand))
        if isinstance(e, ast.BinOp):
            fn = {ast.Add: sym.add, ast.Sub: sym.sub, ast.Mult: sym.mul, ast.FloorDiv: sym.floordiv}.get(type(e.op))
            if fn is not None:
                return fn(ev(e.left), ev(e.right))
        if isinstance(e, ast.Call) and isinstance(e.func, ast.Name) and e.func.id in ("min", "max") and len(e.args) == 2:
            return (sym.smin if e.func.id == "min" else sym.smax)(ev(e.args[0]), ev(e.args[1]))
        raise ValueError(text)

    try:
        v = ev(tree)
    except (ValueError, ZeroDivisionError):
        return None
    return v if isinstance(v, sym.Sym) else None


def _constant_node(node) -> np.ndarray:
    if not node.attribute or not node.output:  # found by bench/fuzz.py
        raise ImportError_(f"Constant node '{node.name}': no value attribute or no output")
    a = node.attribute[0]
    v = attr_value(a)
    if a.name == "value":
        if not isinstance(v, np.ndarray):
            raise ImportError_(f"Constant node '{node.name}': 'value' is not a tensor")
        return v
    if a.name in ("value_float", "value_int"):
        return np.array(v, np.float32 if a.name == "value_float" else np.int64)
    if a.name in ("value_floats", "value_ints"):
        return np.array(v, np.float32 if a.name == "value_floats" else np.int64)
    raise UnsupportedOp("Constant", node.name, f"attribute {a.name}")


def _op_key(node: onnx.NodeProto) -> str:
    """The registry's name of a node's op: the op type, or ``domain.type`` outside ai.onnx (ai.onnx.ml.Scaler)."""
    return node.op_type if node.domain in ("", "ai.onnx") else f"{node.domain}.{node.op_type}"


def fold_node(node: onnx.NodeProto, arrays, opset: int):
    """Run one node on constant inputs with onnx's reference evaluator."""
    from onnx.reference import ReferenceEvaluator
    ins = [helper.make_tensor_value_info(f"i{k}", helper.np_dtype_to_tensor_dtype(a.dtype), a.shape)
           for k, a in enumerate(arrays) if a is not None]
    names, k = [], 0
    for a in arrays:
        if a is None:
            names.append("")
        else:
            names.append(f"i{k}")
            k += 1
    outs = [helper.make_tensor_value_info(f"o{j}", onnx.TensorProto.UNDEFINED, None) for j in range(len(node.output))]
    n = helper.make_node(node.op_type, names, [f"o{j}" for j in range(len(node.output))], domain=node.domain)
    n.attribute.extend(node.attribute)
    g = helper.make_graph([n], "fold", ins, outs)
    feeds = {f"i{k}": a for k, a in enumerate(x for x in arrays if x is not None)}
    for version in range(opset, max(opset, onnx.defs.onnx_opset_version()) + 1):
        m = helper.make_model(g, opset_imports=[helper.make_opsetid("", version), helper.make_opsetid("ai.onnx.ml", 3)])
        try:
            res = ReferenceEvaluator(m).run(None, feeds)
            break
        except Exception as e:
            # the reference evaluator implements some ops only at later versions (DequantizeLinear from 19):
            # the next version that has one (same meaning for what import accepts) folds the node
            if "No implementation for operator" not in str(e) or version == max(opset, onnx.defs.onnx_opset_version()):
                raise
    return [np.asarray(r) for r in res]


def topological(g: onnx.GraphProto) -> list:
    """The graph's nodes in an order where each comes after the nodes making its inputs: the file's order when it
    already is one (the ONNX rule), else a stable sort (ONNX files edited by tools, e.g. onnxruntime's float16
    converter, append the Casts of the graph inputs at the end). Names made by nobody are left to the importer's
    own "not defined" error; a cycle is an error."""
    made = {i.name for i in g.initializer} | {i.name for i in g.input} | {""}
    ok = True
    for n in g.node:
        if any(i not in made for i in n.input):
            ok = False
            break
        made.update(n.output)
    if ok:
        return list(g.node)
    producer = {o: k for k, n in enumerate(g.node) for o in n.output if o}
    order, state = [], [0] * len(g.node)  # 0 new, 1 on the stack, 2 placed
    for root in range(len(g.node)):
        stack = [(root, 0)]
        while stack:
            k, j = stack.pop()
            if j == 0:
                if state[k] == 2:
                    continue
                state[k] = 1
            ins = g.node[k].input
            while j < len(ins) and (ins[j] not in producer or state[producer[ins[j]]] == 2):
                j += 1
            if j < len(ins):
                p = producer[ins[j]]
                if state[p] == 1:
                    raise ImportError_(f"node '{g.node[k].name or g.node[k].op_type}': the graph has a cycle through "
                                       f"'{ins[j]}'")
                stack += [(k, j + 1), (p, 0)]
            else:
                state[k] = 2
                order.append(g.node[k])
    return order


def import_onnx(model, dims: Optional[Dict[str, int]] = None, name: str = "model", empty_dims=()) -> Function:
    """ONNX model -> Function. ``dims`` bounds the symbolic dims; shape rules may use
    the bounds (e.g. ``min(seq, 512) == seq`` when seq <= 512), which the generated
    code checks before running. ``dims`` may name a dim by its ONNX spelling (see ``ir_dims``).
    ``empty_dims``: input symbols that may be 0 (an empty KV cache's ``past``); the others are at least 1."""
    model, dims = ir_dims(model, dims)
    token = _EMPTY_DIMS.set(frozenset(_sym_name(d) for d in empty_dims))
    try:
        with sym.assume_bounds({k: int(v) for k, v in (dims or {}).items() if isinstance(v, (int, np.integer))}):
            return _import(model, dims, name)
    finally:
        _EMPTY_DIMS.reset(token)


def _import(model, dims, name) -> Function:
    m = load_model(model)
    opset = next((o.version for o in m.opset_import if o.domain in ("", "ai.onnx")), None)
    if opset is None and not any(n.domain in ("", "ai.onnx") for n in m.graph.node):
        opset = onnx.defs.onnx_opset_version()  # only ai.onnx.ml ops (a scikit-learn pipeline): any version
    if opset is None or opset < MIN_OPSET:
        raise UnsupportedOp(f"opset {opset}", "", f"ai.onnx opset >= {MIN_OPSET} is supported")
    legacy = opset < legacy_forms.LEGACY_OPSET  # opsets 1-6: their attribute forms as opset 7's
    if legacy:
        m = legacy_forms.upgrade(m, opset)
        opset = legacy_forms.LEGACY_OPSET
    m = resolve_sequences(expand_contrib_ops(m))
    g = m.graph
    for node in g.node:
        if node.domain not in ("", "ai.onnx") and _op_key(node) not in OPS:
            key = f"{node.domain}.{node.op_type}"
            raise UnsupportedOp(key, node.name, contrib_refusal(m, node) or OP_HINTS.get(key, ""))
    used: set = set()
    values: Dict[str, Value] = {}
    for init in g.initializer:
        try:
            arr = numpy_helper.to_array(init)
        except Exception as e:
            ext = {kv.key: kv.value for kv in init.external_data} if uses_external_data(init) else {}
            hint = (f"; its data is in the external file '{ext.get('location', '?')}': pass the .onnx file's path, "
                    "or onnx.load() the model from its folder (or with onnx.load_external_data_for_model)"
                    if ext else "")
            raise ImportError_(f"initializer '{init.name}': cannot read data ({str(e).strip()}){hint}") from None
        values[init.name] = Value(c_name(init.name, used), TensorType(arr.shape, _dt(arr)), const=arr)
    inputs = []
    for vi in g.input:
        if vi.name in values:
            continue
        t = _value_type(vi, used, dims or {})
        if t.dtype not in DTYPES:
            raise UnsupportedOp(f"input dtype {t.dtype}", vi.name)
        v = Value(c_name(vi.name, used), t)
        v.onnx_name = vi.name
        values[vi.name] = v
        inputs.append(v)
    bindings = []
    runtime_syms: Dict[str, RuntimeSym] = {}
    products: list = []
    dim_checks: list = []  # (dim, why): >= 0 at run time (ops.common.match_dim)
    equalities: list = []  # (other, kept): the dims those checks make equal, for later shape rules

    def new_runtime_sym(nd, role, bound, is_dim):
        name = c_name(f"{nd.out_base}_{role}", used)
        if is_dim and dims and name in dims:
            bound = int(dims[name])
        what = "dim" if is_dim else "value"
        runtime_syms[name] = RuntimeSym(name, bound, f"{nd.op_type} '{nd.name}' {role}, {what} known at run time", is_dim)
        return name

    guard: list = []  # [(bool Value, flag)] of the If branches being imported

    def fresh(base):
        out, k = base, 0
        while out in values:
            k += 1
            out = f"{base}{k}"
        return out

    def import_nodes(nodes, scope=""):
        for idx, node in enumerate(nodes):
            nname = node.name or f"{scope}{node.op_type}_{idx}"
            if node.domain not in ("", "ai.onnx") and _op_key(node) not in OPS:
                key = f"{node.domain}.{node.op_type}"
                raise UnsupportedOp(key, nname, OP_HINTS.get(key, ""))
            if node.op_type == "Constant":
                arr = _constant_node(node)
                values[node.output[0]] = Value(c_name(node.output[0], used), TensorType(arr.shape, _dt(arr)), const=arr)
                continue
            if legacy and node.op_type in legacy_forms.BROADCAST_OPS:
                pre, node = legacy_forms.align_broadcast(node, lambda t: values[t].rank if t in values else 0, fresh)
                import_nodes(pre, scope)
            try:
                ins = [values[i] if i else None for i in node.input]
            except KeyError as e:
                raise ImportError_(f"node '{nname}' ({node.op_type}): input {e} is not defined") from None
            while ins and ins[-1] is None:
                ins.pop()
            outs_names = list(node.output)
            n_out = len(outs_names)
            while n_out and not outs_names[n_out - 1]:
                n_out -= 1
            if node.op_type in _control_flow():
                _control_flow()[node.op_type](imp, node, nname, ins)
                continue
            key = _op_key(node)
            opdef = get(key, nname)
            attrs = {a.name: attr_value(a) for a in node.attribute}
            nd = Node(key, nname, ins, attrs, n_out, opset)
            nd.new_runtime_sym = new_runtime_sym
            nd.equalities = equalities
            nd.out_base = re.sub(r"[^A-Za-z0-9_]", "_", outs_names[0] if outs_names and outs_names[0] else nname)
            if ins and all(v is None or v.const is not None for v in ins) and node.op_type not in ("RandomNormal", "RandomUniform"):
                try:
                    res = fold_node(node, [v.const if v is not None else None for v in ins], opset)
                except Exception as e:
                    raise ImportError_(f"node '{nname}' ({node.op_type}): constant folding failed: {e}") from None
                for oname, arr in zip(outs_names, res):
                    if oname:
                        values[oname] = Value(c_name(oname, used), TensorType(arr.shape, _dt(arr)), const=arr)
                continue
            try:
                _check_lowbit(nd, [v.dtype for v in ins if v is not None])
                types = opdef.infer(nd)
                _check_lowbit(nd, [t.dtype for t in types])
                symv = opdef.symbolic(nd) if opdef.symbolic else None
            except SdkError as e:
                rt = sorted({s for v in ins if v is not None for d in v.shape for s in sym.free_vars(d)} & set(runtime_syms))
                if isinstance(e, ShapeError) and rt:  # symbols equal at run time may differ at compile time
                    raise UnsupportedOp(node.op_type, nname, f"run-time dims cannot be matched at compile time "
                                        f"({', '.join(rt)}): {e}") from None
                if isinstance(e, ShapeError) or isinstance(e, UnsupportedOp):
                    raise
                raise ImportError_(f"node '{nname}' ({node.op_type}): {e}") from None
            except (KeyError, IndexError, TypeError, ValueError, AttributeError, AssertionError) as e:
                raise ImportError_(f"node '{nname}' ({node.op_type}): cannot infer output types ({type(e).__name__}: {e})") from None
            if len(types) < n_out:  # more outputs named than the op has (found by bench/fuzz.py)
                raise ImportError_(f"node '{nname}' ({node.op_type}): {n_out} outputs, the op has {len(types)}")
            dim_checks.extend(c for c in nd.dim_checks if c not in dim_checks)
            for d, _ in nd.dim_checks:  # r <= e checked at run time bounds an unbounded run-time dim r by e
                order = list(runtime_syms)  # e's run-time symbols must be defined before r (its bound check)
                for r in sorted(sym.free_vars(d) & set(runtime_syms)):
                    rs = runtime_syms[r]
                    e = sym.add(d, sym.var(r, lo=0))
                    if (rs.is_dim and rs.bound is None and r not in sym.free_vars(e)
                            and all(order.index(x) < order.index(r) for x in sym.free_vars(e) & set(runtime_syms))):
                        rs.bound = e
            outs = []
            for k, oname in enumerate(outs_names[:n_out]):
                v = Value(c_name(oname or f"{nname}_unused{k}", used), types[k])
                if symv is not None and k < len(symv) and symv[k] is not None:
                    vals = symv[k]
                    if all(sym.is_static(d) for d in vals):
                        try:
                            v.const = np.array(vals, dtype=types[k].dtype).reshape(_static(types[k].shape))
                        except (ValueError, TypeError) as e:  # found by bench/fuzz.py
                            raise ImportError_(f"node '{nname}' ({node.op_type}): values do not fit the output "
                                               f"shape ({e})") from None
                    else:
                        v.sym_value = list(vals)
                if oname:
                    v.onnx_name = oname  # calibration ranges are keyed by ONNX names
                    values[oname] = v
                outs.append(v)
            if all(v.const is not None for v in outs):
                continue  # fully known at compile time (e.g. Shape of a static tensor)
            bindings.append(Binding(key, ins, outs, attrs, nname, rt=dict(nd.rt), guard=list(guard)))
            products.extend(nd.products)

    imp = SimpleNamespace(values=values, used=used, bindings=bindings, guard=guard, import_nodes=import_nodes,
                          new_runtime_sym=new_runtime_sym, opset=opset, dims=dims or {}, products=products,
                          dim_checks=dim_checks, equalities=equalities)
    import_nodes(topological(g))
    outputs = []
    for vi in g.output:
        if vi.name not in values:
            raise ImportError_(f"graph output '{vi.name}' is not produced by any node")
        v = values[vi.name]
        outputs.append(v)
    f = Function(name, inputs, outputs, bindings, {k: v for k, v in (dims or {}).items() if k not in runtime_syms},
                 runtime_syms, products, dim_checks, input_names=[v.onnx_name for v in inputs],
                 output_names=[vi.name for vi in g.output], opset=opset)
    known = f.symbols() + [r.name for r in runtime_syms.values() if r.is_dim]
    unknown = set(dims or {}) - set(known) - _inferred_runtime_dims(g, set(dims or {}) - set(known))
    if unknown:
        raise ShapeError(f"--dim {sorted(unknown)[0]}: the model has no symbolic dim of that name "
                         f"(it has: {', '.join(known) or 'none'})")
    return f


def _inferred_runtime_dims(g, names) -> set:
    """Of ``names`` (``dims`` the model does not have), those naming a run-time dim of a node's output
    (``<output>_dim<k>``) that this compiler no longer makes: its length became an expression of the input dims
    (a Range to a Shape product), so the bound given for it is not needed."""
    outs, stack = set(), [g]
    while stack:
        for node in stack.pop().node:
            outs.update(re.sub(r"[^A-Za-z0-9_]", "_", o) for o in node.output)
            stack.extend(a.g for a in node.attribute if a.type == onnx.AttributeProto.GRAPH)
    found = (re.fullmatch(r"(\w+)_(dim|out|red|start)\d+", n) for n in names)
    return {m.group(0) for m in found if m and m.group(1) in outs}


def _check_lowbit(nd, dtypes):
    """Low-bit tensors (int4, float8, ...) are bytes to every op but those of ``LOWBIT_OPS``: refuse the others."""
    low = next((d for d in dtypes if d in LOWBIT), None)
    if low is not None and nd.op_type not in LOWBIT_OPS:
        raise nd.unsupported(f"dtype {low} (low-bit tensors are read by Cast, CastLike, QuantizeLinear and "
                             "DequantizeLinear, and moved by reshapes and Transpose)")


def _dt(arr: np.ndarray) -> str:
    name = dtype_name(arr.dtype)
    if name not in DTYPES:
        raise UnsupportedOp(f"dtype {name}")
    return name


def _static(shape):
    return tuple(int(d) for d in shape)
