"""The training step as one graph: the model's forward, a loss, its gradients with respect to the trainable
parameters (``sdk/autodiff``) and the optimiser's update, as a Function

    step(inputs..., labels, lr, [adam_c1, adam_c2], params..., slots...) -> (loss, output, params'..., slots'...)

Trainable initializers become inputs (they live in RAM, in the bundle's training state); frozen ones stay constants
(flash). Each parameter's update comes right after the last binding it depends on (its gradient, every other read
of the parameter and its slots), so its gradient dies early and a caller may pass the same memory for a parameter and
its update (``<name>_train_step`` does: the state is updated in place); ``TrainStep.update_deps`` gives reorderings
the same constraint."""
from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from typing import Dict, List, Sequence, Set, Union

import numpy as np

from ..errors import SdkError
from ..ir import sym
from ..ir.graph import Binding, Function, TensorType, Value
from ..autodiff.builder import GraphBuilder
from ..autodiff.reverse import gradients
from ..transform.channel_split import split_channels

LOSSES = ("cross_entropy", "mse")
OPTIMIZERS = ("sgd", "adam")
# ops that start a layer (for --trainable last:N) and the inputs of each op that are parameters
LAYER_OPS = ("Conv", "ConvTranspose", "Gemm", "MatMul")
PARAM_INPUTS = {"Conv": (1, 2), "ConvTranspose": (1, 2), "Gemm": (0, 1, 2), "MatMul": (0, 1), "Add": (0, 1),
                "Sub": (0, 1), "Mul": (0, 1), "Div": (0,), "BatchNormalization": (1, 2),
                "LayerNormalization": (1, 2), "Gather": (0,)}


@dataclass
class TrainOptions:
    """``trainable``: "all", "last:N" (the parameters of the last N layers: a layer starts at a Conv, Gemm or MatMul
    and takes the bias/normalisation parameters that follow it), "re:PATTERN" (initializers whose ONNX name matches),
    or a list of initializer names. ``loss``: cross_entropy (model output [N, C] logits, int64 labels [N]) or mse
    (labels of the output's shape). ``optimizer``: sgd (``momentum``, ``weight_decay``; PyTorch's update) or adam
    (``betas``, ``eps``). ``output``: which model output the loss reads. ``loss_scaling``: the gradients are
    computed for the loss times the input ``loss_scale`` (so that small gradients survive 16-bit matrix products),
    divided by it before the update, and the step is skipped (parameters and slots unchanged, output ``grad_ok``
    0) when any scaled gradient is not finite; the caller adjusts the scale (``LossScaler``)."""
    trainable: Union[str, Sequence[str]] = "last:1"
    loss: str = "cross_entropy"
    optimizer: str = "sgd"
    momentum: float = 0.0
    weight_decay: float = 0.0
    betas: tuple = (0.9, 0.999)
    eps: float = 1e-8
    output: int = 0
    loss_scaling: bool = False

    def check(self):
        if self.loss not in LOSSES:
            raise SdkError(f"loss '{self.loss}': expected one of {', '.join(LOSSES)}")
        if self.optimizer not in OPTIMIZERS:
            raise SdkError(f"optimizer '{self.optimizer}': expected one of {', '.join(OPTIMIZERS)}")
        if not 0.0 <= self.momentum < 1.0:
            raise SdkError(f"momentum {self.momentum}: expected 0 <= momentum < 1")


@dataclass
class Param:
    name: str           # the initializer's ONNX name
    value: Value        # the step's input holding it
    init: np.ndarray    # its value in the model (the state's initial contents)
    slots: List[Value] = field(default_factory=list)  # optimiser state inputs (momentum; Adam's m and v)
    update: List[str] = field(default_factory=list)  # names of the optimiser's bindings writing its new value, slots


@dataclass
class TrainStep:
    func: Function
    params: List[Param]
    options: TrainOptions
    n_model_inputs: int
    slot_names: List[str]  # per parameter: the optimiser slots' suffixes ("momentum"; "m", "v")
    updates: List[Binding] = field(default_factory=list)  # the optimiser's bindings (each parameter's: Param.update)
    forward: Set[str] = field(default_factory=set)  # names of the forward and loss bindings (the rest: backward)
    flipped: int = 0  # input gradients computed as convolutions of a flipped weight (``conv_dx="conv"``)
    split: Set[str] = field(default_factory=set)  # forward bindings of channel groups (``split_channels``)

    def order_deps(self, f: Function = None) -> Dict[int, Set[int]]:
        """The dependences besides data a reordering of ``f`` (default: the step) keeps: ``update_deps`` (needed for
        the in-place state) and those of ``floating_deps`` that close no cycle."""
        f = f or self.func
        deps = {k: set(v) for k, v in self.update_deps(f).items()}
        producer = {id(v): b for b in f.bindings for v in b.outputs}
        data = {id(b): {id(producer[id(v)]) for v in b.inputs if v is not None and id(v) in producer}
                for b in f.bindings}

        def reaches(start: int, goal: int) -> bool:  # does ``start`` depend on ``goal``?
            seen, todo = set(), [start]
            while todo:
                u = todo.pop()
                if u == goal:
                    return True
                if u not in seen:
                    seen.add(u)
                    todo.extend(data.get(u, ()) | deps.get(u, set()))
            return False

        for b, wait in floating_deps(f, self.forward).items():
            for p in wait:
                if not reaches(p, b):
                    deps.setdefault(b, set()).add(p)
        return deps

    def update_deps(self, f: Function = None) -> Dict[int, Set[int]]:
        """{id(update binding): ids of the bindings it must follow} in ``f`` (default: the step): a parameter and its
        slots are updated in place, so each binding of its update follows every other read of them (the data
        dependences give the rest)."""
        f = f or self.func
        chain_of = {n: k for k, p in enumerate(self.params) for n in p.update}
        deps: Dict[int, Set[int]] = {}
        for k, p in enumerate(self.params):
            state = {id(p.value)} | {id(s) for s in p.slots}
            readers = {id(b) for b in f.bindings if chain_of.get(b.name) != k
                       and any(v is not None and id(v) in state for v in b.inputs)}
            for b in f.bindings:
                if chain_of.get(b.name) == k:
                    deps[id(b)] = readers
        return deps


def floating_deps(f: Function, forward: Set[str]) -> Dict[int, Set[int]]:
    """{id(binding): ids of bindings it must follow} for the backward bindings reading only the step's inputs and
    constants (a trainable weight flipped for an input gradient): each waits for the producers of the other values
    its readers take, so a memory-aware order, which runs small allocations first, does not compute them at the
    start of the step and keep them to the end."""
    producer = {id(v): b for b in f.bindings for v in b.outputs}
    consumers = f.consumers()
    deps: Dict[int, Set[int]] = {}
    for b in f.bindings:
        if b.name in forward or any(v is not None and id(v) in producer for v in b.inputs):
            continue
        below, todo = set(), [b]  # everything computed from b: never a dependence of b
        while todo:
            c = todo.pop()
            for o in c.outputs:
                for r in consumers.get(id(o), []):
                    if id(r) not in below:
                        below.add(id(r))
                        todo.append(r)
        found: Set[int] = set()
        chain, frontier = {id(b)}, [b]
        while frontier and not found:
            nxt = []
            for c in frontier:
                for o in c.outputs:
                    for r in consumers.get(id(o), []):
                        others = {id(producer[id(v)]) for v in r.inputs if v is not None and id(v) in producer
                                  and id(producer[id(v)]) not in chain and id(producer[id(v)]) not in below}
                        if others:
                            found |= others
                        elif id(r) not in chain:
                            chain.add(id(r))
                            nxt.append(r)
            frontier = nxt
        if found:
            deps[id(b)] = found
    return deps


def updates_early(f: Function, ts: "TrainStep") -> Function:
    """``f`` with each parameter's update moved up to just after the last binding it depends on (its gradient, the
    other reads of the parameter): the gradient dies there instead of living until the end of the step."""
    deps = ts.update_deps(f)
    chain_of = {n: k for k, p in enumerate(ts.params) for n in p.update}
    producer = {id(v): b for b in f.bindings for v in b.outputs}
    rest = [b for b in f.bindings if b.name not in chain_of]
    pos = {id(b): i for i, b in enumerate(rest)}
    after: Dict[int, List[Binding]] = {}
    for k in range(len(ts.params)):
        chain = [b for b in f.bindings if chain_of.get(b.name) == k]
        own = {id(b) for b in chain}
        needs = set(deps[id(chain[0])]) if chain else set()
        for b in chain:
            needs |= {id(producer[id(v)]) for v in b.inputs if v is not None and id(v) in producer
                      and id(producer[id(v)]) not in own}
        at = max((pos[i] for i in needs if i in pos), default=-1)
        after.setdefault(at, []).extend(chain)
    order = list(after.get(-1, []))
    for i, b in enumerate(rest):
        order.append(b)
        order.extend(after.get(i, []))
    return f.with_bindings(order)


def accumulate(gb: GraphBuilder, g: Value, acc: Value, beta: float) -> Value:
    """``acc * beta + g``. When ``g`` is a convolution's weight gradient (``sdk.ConvGradWeight``) nothing else
    reads, the sum is folded into that kernel (its ``acc`` input): the gradient is never stored, the kernel writes
    the new momentum, reading each element of ``acc`` just before writing it (so ``acc`` may share the output's
    memory, as the C training API's in-place state does). Not a Gemm's C: the scheduled GEMM adds C after writing
    the product into its output."""
    producer = next((b for b in reversed(gb.bindings) if g in b.outputs), None)
    readers = sum(1 for b in gb.bindings for v in b.inputs if v is g)
    if producer is not None and readers == 0 and len(producer.outputs) == 1:
        if producer.op == "sdk.ConvGradWeight" and len(producer.inputs) == 2:
            gb.bindings.remove(producer)
            return gb.op("sdk.ConvGradWeight", list(producer.inputs) + [acc], stem="grad_acc",
                         **dict(producer.attrs, beta=float(beta)))
    return gb.add(gb.mul(acc, gb.scalar(beta, acc)), g)


def _layers(f: Function) -> List[List[Value]]:
    """The parameters of ``f`` grouped by layer, in binding order."""
    layers: List[List[Value]] = []
    seen = set()
    for b in f.bindings:
        params = []
        for k in PARAM_INPUTS.get(b.op, ()):
            v = b.inputs[k] if k < len(b.inputs) else None
            if v is None or v.const is None or v.dtype != "float32" or id(v) in seen:
                continue
            if b.op in LAYER_OPS or b.op in ("BatchNormalization", "LayerNormalization") or v.rank >= 1:
                params.append(v)  # element-wise ops: a tensor operand (a bias), not a scalar constant
        if not params:
            continue
        if b.op in LAYER_OPS or not layers:
            layers.append([])
        for v in params:
            seen.add(id(v))
            layers[-1].append(v)
    return layers


def select_trainable(f: Function, spec, names=None) -> List[Value]:
    """The constant Values ``spec`` names (see ``TrainOptions.trainable``)."""
    names = names or {}
    layers = _layers(f)
    every = [v for layer in layers for v in layer]
    if isinstance(spec, str) and spec == "all":
        chosen = every
    elif isinstance(spec, str) and spec.startswith("last:"):
        try:
            n = int(spec[5:])
        except ValueError:
            raise SdkError(f"--trainable {spec}: expected last:N with N a positive integer") from None
        if n < 1:
            raise SdkError(f"--trainable {spec}: N must be >= 1")
        chosen = [v for layer in layers[-n:] for v in layer]
    elif isinstance(spec, str) and spec.startswith("re:"):
        pat = re.compile(spec[3:])
        chosen = [v for v in every if pat.search(names.get(v.name, v.name))]
    else:
        wanted = spec.split(",") if isinstance(spec, str) else list(spec)
        by_name = {names.get(v.name, v.name): v for v in every}
        missing = [n for n in wanted if n not in by_name]
        if missing:
            raise SdkError(f"--trainable: no trainable initializer named {missing[0]!r} (parameters: "
                           f"{', '.join(list(by_name)[:12])}{' ...' if len(by_name) > 12 else ''})")
        chosen = [by_name[n] for n in wanted]
    if not chosen:
        raise SdkError(f"--trainable {spec}: selects no parameter")
    return chosen


def onnx_names(model) -> dict:
    """{IR name: ONNX name} of the model's initializers: the importer names them first, in order, with ``c_name``."""
    from ..frontend.onnx import c_name
    used: set = set()
    return {c_name(i.name, used): i.name for i in model.graph.initializer}


def training_step(f: Function, opts: TrainOptions, names=None, conv_dx: str = "conv", split: int = 1) -> TrainStep:
    """Build the step Function (see the module docstring) from an imported model; ``names``: {IR name: ONNX name}
    of its initializers (``onnx_names(model)``). ``split``: the largest convolution segments computed in that many
    groups of output channels (``sdk.transform.channel_split``; the parameters stay whole), so that rematerialisation
    can recompute one group at a time."""
    opts.check()
    names = names or {}
    chosen = select_trainable(f, opts.trainable, names)
    # parameters become inputs
    params, swap = [], {}
    for w in chosen:
        v = Value(w.name, w.type, onnx_name=names.get(w.name, w.name))
        swap[id(w)] = v
        params.append(Param(v.onnx_name, v, np.array(w.const, np.float32)))
    bindings = [dataclasses.replace(b, inputs=[swap.get(id(v), v) if v is not None else None for v in b.inputs])
                for b in f.bindings]
    outs = [swap.get(id(v), v) for v in f.outputs]
    base = f.with_bindings(bindings, outputs=outs)
    grouped: Set[str] = set()
    if split > 1:
        base, grouped = split_channels(base, split, f.bounds)
        outs = list(base.outputs)
    y = outs[opts.output]
    gb = GraphBuilder(base)
    # labels and the loss
    if opts.loss == "cross_entropy":
        if y.rank != 2:
            raise SdkError(f"loss cross_entropy reads [N, C] logits; output {opts.output} is {y.type} "
                           "(use --loss mse, or a model whose output is the logits)")
        labels = Value(gb.name("labels"), TensorType((y.shape[0],), "int64"))
        loss = gb.op("SoftmaxCrossEntropyLoss", [_logits(base, y), labels], stem="loss", reduction="mean")
    else:
        labels = Value(gb.name("labels"), TensorType(tuple(y.shape), y.dtype))
        d = gb.op("Sub", [y, labels], stem="loss")
        n = 1
        for s in y.shape:
            n = sym.mul(n, s)
        if not sym.is_static(n):
            raise SdkError("loss mse with a symbolic output size is not supported yet")
        loss = gb.mul(gb.reduce_sum(gb.mul(d, d), list(range(y.rank)), keepdims=False), gb.scalar(1.0 / int(n), y))
    scale = Value(gb.name("loss_scale"), TensorType((), "float32")) if opts.loss_scaling else None
    with_loss = base.with_bindings(gb.bindings)
    if scale is not None:  # differentiate loss * scale (a forward binding: the seed of the backward is the scale)
        with_loss = base.with_bindings(gb.bindings + [Binding("Mul", [loss, scale], [
            Value(gb.name("loss_scaled"), loss.type)], {}, gb.name("loss_scaled"))])
    gb2, grads = gradients(with_loss, with_loss.bindings[-1].outputs[0] if scale is not None else loss,
                           [p.value for p in params], conv_dx)
    ok = _unscale(gb2, grads, [p.value for p in params], scale) if scale is not None else None
    # the optimiser: new values of every parameter and slot, after all of the gradient graph
    lr = Value(gb2.name("lr"), TensorType((), "float32"))
    extra_in, slot_names = [], []
    if opts.optimizer == "adam":
        c1 = Value(gb2.name("adam_c1"), TensorType((), "float32"))  # lr-free bias corrections: 1/(1-b1^t)
        c2 = Value(gb2.name("adam_c2"), TensorType((), "float32"))  # 1/sqrt(1-b2^t)
        extra_in = [c1, c2]
        slot_names = ["m", "v"]
    elif opts.momentum > 0:
        slot_names = ["momentum"]
    new_params, new_slots = [], []
    first_update = len(gb2.bindings)
    for p in params:
        start = len(gb2.bindings)
        w = p.value
        g = grads[id(w)]
        p.slots = [Value(gb2.name(f"{w.name}_{s}"), w.type, onnx_name=f"{p.name}.{s}") for s in slot_names]
        if opts.weight_decay:
            g = gb2.add(g, gb2.mul(w, gb2.scalar(opts.weight_decay, w)))
        if opts.optimizer == "adam":
            b1, b2 = opts.betas
            m, v = p.slots
            m2 = gb2.add(gb2.mul(m, gb2.scalar(b1, w)), gb2.mul(g, gb2.scalar(1 - b1, w)))
            v2 = gb2.add(gb2.mul(v, gb2.scalar(b2, w)), gb2.mul(gb2.mul(g, g), gb2.scalar(1 - b2, w)))
            den = gb2.add(gb2.mul(gb2.op("Sqrt", [v2]), c2), gb2.scalar(opts.eps, w))
            step = gb2.op("Div", [gb2.mul(m2, gb2.mul(lr, c1)), den])
            new_slots.append([m2, v2])
        elif slot_names:
            (mom,) = p.slots
            step_dir = accumulate(gb2, g, mom, opts.momentum)
            new_slots.append([step_dir])
            step = gb2.mul(step_dir, lr)
        else:
            step = gb2.mul(g, lr)
            new_slots.append([])
        new_params.append(gb2.op("Sub", [w, step], stem=f"update_{w.name}"))
        if ok is not None:  # a step with a non-finite gradient changes nothing
            new_params[-1] = gb2.op("Where", [ok, new_params[-1], w], stem=f"update_{w.name}")
            new_slots[-1] = [gb2.op("Where", [ok, n, o], stem=f"update_{w.name}") for n, o in zip(new_slots[-1], p.slots)]
        p.update = [b.name for b in gb2.bindings[start:]]
    inputs = list(f.inputs) + [labels, lr] + extra_in + [p.value for p in params] + [s for p in params for s in p.slots]
    in_names = list(f.input_names) + ["labels", "lr"] + ["adam_c1", "adam_c2"][:len(extra_in)] + \
        [p.name for p in params] + [s.onnx_name for p in params for s in p.slots]
    outputs = [loss, y] + new_params + [s for ss in new_slots for s in ss]
    out_names = ["loss", f.output_names[opts.output]] + [f"{p.name}.next" for p in params] + \
        [f"{s.onnx_name}.next" for p in params for s in p.slots]
    if scale is not None:  # last input and output: the loss scale, whether the step was taken (1.0) or skipped
        inputs.append(scale)
        in_names.append("loss_scale")
        outputs.append(gb2.op("Cast", [ok], stem="grad_ok", to=1))
        out_names.append("grad_ok")
    step_f = dataclasses.replace(with_loss, bindings=list(gb2.bindings), inputs=inputs, outputs=outputs,
                                 input_names=in_names, output_names=out_names, bounds=dict(f.bounds))
    ts = TrainStep(step_f, params, opts, len(f.inputs), slot_names, list(gb2.bindings[first_update:]),
                   {b.name for b in with_loss.bindings}, gb2.flipped, grouped)
    ts.func = updates_early(step_f, ts)
    return ts


def _unscale(gb: GraphBuilder, grads: Dict[int, Value], params: List[Value], scale: Value) -> Value:
    """Replace each gradient of the scaled loss by it divided by ``scale``; returns the boolean scalar "every scaled
    gradient is finite" (the largest magnitude below float32's maximum: false for inf and NaN)."""
    inv = gb.op("Reciprocal", [scale])
    peak = None
    for w in params:
        g = grads[id(w)]
        a = gb.op("ReduceMax", [gb.op("Abs", [g])], keepdims=0)
        peak = a if peak is None else gb.op("Max", [peak, a])
        grads[id(w)] = gb.mul(g, inv)
    return gb.op("Less", [peak, gb.const(np.array(np.finfo(np.float32).max, np.float32))])


def _logits(f: Function, y: Value) -> Value:
    """The logits of a model output: the input of the Softmax (over the classes) that computes ``y``, else ``y``
    itself. A model ending in Softmax (the CNN example's ``probs``) is trained by the cross-entropy of its logits,
    as PyTorch's ``cross_entropy`` of the layer before the softmax."""
    b = next((b for b in f.bindings if y in b.outputs), None)
    if b is not None and b.op == "Softmax" and int(b.attrs.get("axis", -1)) % 2 == 1:
        return b.inputs[0]
    return y
