"""``sdk.train.compile_train``: an ONNX model -> a bundle whose ``<name>_run`` is one training step, plus the C
training API (``<name>_train.h/.c``) and, on the host, ``TrainBundle.step`` running it in process."""
from __future__ import annotations

import math
from pathlib import Path
from typing import Dict, Optional, Sequence, Union

import numpy as np

from ..api import check_dims
from ..backends import backend_of
from ..errors import SdkError
from ..frontend.onnx import import_onnx, ir_dims, load_model
from ..ir.graph import Function
from .backbone import BACKBONES, int8_backbone
from .c_api import state_layout, train_sources
from .compile import compile_function, plan_function
from .remat import choose_remat
from .scaler import SCALER, update_scale
from .step import TrainOptions, TrainStep, onnx_names, training_step
from ..targets import load_target
from ..transform.remat import duplicate_broadcasts, half_stash


class TrainBundle:
    """A compiled training step. ``bundle``: the step as an ordinary ``sdk.api.Bundle`` (inputs: the model's, labels,
    lr, [adam_c1, adam_c2], the parameters, their optimiser slots; outputs: loss, the model output, the updated
    parameters and slots). ``step`` runs it on the host and keeps the state in a dict of arrays."""

    def __init__(self, bundle, ts: TrainStep, model, forward: Optional[Function] = None, names=None):
        self.bundle, self.train_step_graph, self.model = bundle, ts, model
        self.options = ts.options
        self.layout = state_layout(ts, bundle.bounds)
        self.forward, self.names = forward, names or {}  # int8 backbone: the model as trained (quantised front)
        self.backbone = "fp32" if forward is None else "int8"

    @property
    def params(self):
        return [p.name for p in self.train_step_graph.params]

    def init_state(self) -> Dict[str, np.ndarray]:
        """The training state: each parameter's initial value, zeroed optimiser slots, the step counter."""
        st = {"step": 0}
        if self.options.loss_scaling:
            st.update(loss_scale=SCALER["init"], good_steps=0, skipped=0)
        for p in self.train_step_graph.params:
            st[p.name] = p.init.copy()
            for s in p.slots:
                st[s.onnx_name] = np.zeros_like(p.init)
        return st

    def step(self, state, inputs: Dict[str, np.ndarray], labels, lr: float):
        """One optimiser step on the host (the bundle's in-process engine): updates ``state`` in place; returns
        (loss, model output before the update)."""
        ts, opts = self.train_step_graph, self.options
        from ..backends import backend_of
        if backend_of(self.bundle.target).jit is None:
            from ..errors import SdkError
            raise SdkError(f"TrainBundle.step runs host bundles; a '{self.bundle.target.name}' bundle trains "
                           "on its target (Cortex-M: CortexMRunner.train; wasm: train_node.mjs), see docs/training.md")
        state["step"] += 1
        feeds = dict(inputs)
        feeds["labels"] = np.asarray(labels)
        feeds["lr"] = np.array(lr, np.float32)
        if opts.optimizer == "adam":
            b1, b2 = opts.betas
            t = state["step"]
            feeds["adam_c1"] = np.array(1.0 / (1.0 - b1 ** t), np.float32)
            feeds["adam_c2"] = np.array(1.0 / math.sqrt(1.0 - b2 ** t), np.float32)
        for p in ts.params:
            feeds[p.name] = state[p.name]
            for s in p.slots:
                feeds[s.onnx_name] = state[s.onnx_name]
        if opts.loss_scaling:
            feeds["loss_scale"] = np.array(state["loss_scale"], np.float32)
        out = self.bundle.run(feeds)
        for p in ts.params:
            state[p.name] = out[f"{p.name}.next"]
            for s in p.slots:
                state[s.onnx_name] = out[f"{s.onnx_name}.next"]
        if opts.loss_scaling and not update_scale(state, bool(out["grad_ok"] > 0.5)):
            state["step"] -= 1  # skipped: parameters and slots unchanged (the step graph's Where)
        return float(out["loss"]), out[ts.func.output_names[1]]

    def export_onnx(self, state, path: Optional[Union[str, Path]] = None):
        """The model with the trained parameters from ``state`` (an ONNX ModelProto; saved when ``path`` is given)."""
        from onnx import numpy_helper
        import onnx
        m = onnx.ModelProto()
        m.CopyFrom(self.model)
        for init in m.graph.initializer:
            if init.name in state and init.name != "step":
                init.CopyFrom(numpy_helper.from_array(np.asarray(state[init.name], np.float32), init.name))
        if path is not None:
            onnx.save(m, str(path))
        return m

    def inference_bundle(self, state, target: str = "host", name: str = "model"):
        """The model with the trained parameters of ``state`` compiled for inference: with an int8 backbone the
        same quantised front as the step (``forward``) and the trained float head; else ``export_onnx``'s model."""
        if self.forward is None:
            from ..api import compile as compile_model
            return compile_model(self.export_onnx(state), target, name=name)
        from .backbone import with_parameters
        params = {p.name: state[p.name] for p in self.train_step_graph.params}
        return compile_function(with_parameters(self.forward, params, self.names), target, self.bundle.bounds, name)

    def memory(self) -> Dict[str, int]:
        """Bytes: the step's arena (at the bounds), the training state (RAM), the frozen weights (flash)."""
        frozen = sum(a.nbytes for _, a in self.bundle.program.consts)
        return {"arena_bytes": self.bundle.plan.arena_bytes, "state_bytes": self.layout["bytes"],
                "frozen_weight_bytes": frozen, "trainable_bytes": sum(p.init.nbytes for p in self.train_step_graph.params),
                "lower_bound_bytes": self.bundle.plan.lower_bound_bytes, "remat": self.bundle.remat.mode,
                "arena_without_remat": self.bundle.remat.arena_without,
                "stash": self.bundle.remat.stash, "backbone": self.backbone}

    def save(self, out, force: bool = False) -> Path:
        return self.bundle.save(out, force=force)


CONV_SLACK = 1.02  # conv_grad "auto": the flipped convolutions (faster) unless ConvTranspose saves more arena


def _pick_conv_grad(results, budget):
    """Within a budget: the first variant that fits (else the smallest arena); without one, the flipped
    convolutions unless the ConvTranspose form's arena is more than ``CONV_SLACK`` smaller (its loop nest needs
    no packing scratch, but is several times slower)."""
    if len(results) == 1:
        return results[0]
    arena = [r[2].arena_bytes for r in results]
    if budget is not None:
        return next((r for r, a in zip(results, arena) if a <= budget), results[arena.index(min(arena))])
    return results[0] if arena[0] <= CONV_SLACK * min(arena) else results[arena.index(min(arena))]


def compile_train(model, target: str = "host", dims: Optional[Dict[str, int]] = None, name: str = "model",
                  trainable: Union[str, Sequence[str]] = "last:1", loss: str = "cross_entropy",
                  optimizer: str = "sgd", momentum: float = 0.0, weight_decay: float = 0.0,
                  betas=(0.9, 0.999), eps: float = 1e-8, output: int = 0, max_arena: Optional[int] = None,
                  budget=None, remat: str = "auto", train_memory: Optional[int] = None,
                  conv_grad: str = "auto", stash: str = "fp32", precision: str = "fp32",
                  loss_scaling: Optional[bool] = None, backbone: str = "fp32",
                  calibration: Optional[Dict[str, np.ndarray]] = None) -> TrainBundle:
    """Compile the training step of an ONNX model (see ``TrainOptions`` for the options). Each parameter's update
    follows every read of it in any order planned, which the in-place update of the state needs. ``remat`` /
    ``train_memory``: which forward values the backward recomputes instead of keeping (``sdk/train/remat.py``).
    ``conv_grad``: a stride-1 convolution's input gradient as a convolution of the flipped weight ("conv": the
    scheduled kernels, faster), a ConvTranspose loop nest ("transpose": no packing scratch), or "auto": both
    planned (``_pick_conv_grad``). ``stash="fp16"``: the activations kept for the backward are stored in 16 bits
    (``sdk.transform.remat.half_stash``; the forward, the gradients and the parameters stay float32) when that
    shrinks the planned arena. ``precision="fp16"|"bf16"`` (CUDA targets): the step's matrix products and
    convolutions, forward and backward, on tensor cores with fp32 accumulation; parameters, optimiser state and
    every other op stay fp32 (``sdk/transform/mixed_precision.py``). ``loss_scaling`` (default: on for fp16):
    dynamic loss scaling (``TrainOptions``, ``SCALER``). ``backbone="int8"`` with ``calibration`` ({input name:
    float array}): the frozen layers in front of the first trainable parameter quantised to int8 (weights and
    activations; ``sdk/train/backbone.py``), the trainable head float32."""
    if loss_scaling is None:
        loss_scaling = precision == "fp16"
    if stash not in ("fp32", "fp16"):
        raise SdkError(f"stash {stash!r}: expected fp32 or fp16")
    if conv_grad not in ("auto", "conv", "transpose"):
        raise SdkError(f"conv_grad {conv_grad!r}: expected auto, conv or transpose")
    model = load_model(model)
    model, bounds = ir_dims(model, check_dims(dims))
    f = import_onnx(model, bounds, name)
    forward = None
    if backbone not in BACKBONES:
        raise SdkError(f"backbone {backbone!r}: expected one of {', '.join(BACKBONES)}")
    if backbone == "int8":
        if precision != "fp32":
            raise SdkError("--backbone int8 is an fp32 head on int8 layers: drop --precision")
        f, quant, trainable = int8_backbone(f, model, calibration, trainable, onnx_names(model))
        forward = f
    elif calibration is not None:
        raise SdkError("calibration inputs are only used with --backbone int8")
    opts = TrainOptions(trainable, loss, optimizer, momentum, weight_decay, tuple(betas), eps, output, loss_scaling)
    tgt = load_target(target) if isinstance(target, str) else target
    if precision != "fp32" and precision not in backend_of(tgt).precisions:
        raise SdkError(f"precision '{precision}' needs a CUDA target (e.g. --target cuda-sm90); '{tgt.name}' is fp32")
    results = []  # (step, its function with the recomputation chosen, RematChoice), flipped convolutions first
    for conv_dx in (["conv", "transpose"] if conv_grad == "auto" else [conv_grad]):
        if results and not results[0][0].flipped:
            break  # no stride-1 convolution gradient: the same step
        ts = training_step(f, opts, onnx_names(model), conv_dx)
        ts.func = duplicate_broadcasts(ts.func, bounds)
        # arenas are needed to compare: two convolution-gradient forms, or the 16-bit stash against float32
        measure = stash == "fp16" or bool(results) or ts.flipped > 0 and conv_grad == "auto"
        def split_step(k, conv_dx=conv_dx):  # the same step with k channel groups (a remat candidate)
            sts = training_step(f, opts, onnx_names(model), conv_dx, split=k)
            sts.func = duplicate_broadcasts(sts.func, bounds)
            return sts
        g, choice = choose_remat(ts, tgt, bounds, name, remat, train_memory, measure, split_step)
        results.append((choice.step or ts, g, choice))
    ts, func, choice = _pick_conv_grad(results, train_memory)
    ts.func = func
    if stash == "fp16":  # kept where it shrinks the arena: a reader that cannot inline the widening needs a float32
        half = half_stash(func, ts.forward, bounds)  # copy next to the 16-bit one (small_cnn's MaxPool)
        arena = plan_function(half, tgt, bounds, name, after=ts.order_deps(half))[2].arena_bytes
        if arena < choice.arena_bytes:
            ts.func, choice.arena_bytes, choice.stash = half, arena, "fp16"
    bundle = compile_function(ts.func, tgt, bounds, name, max_arena=max_arena, budget=budget, after=ts.order_deps(),
                              precision=precision)
    if choice.arena_bytes is None:  # nothing was recomputed or compared: this plan is the one
        choice.arena_bytes = choice.arena_without = bundle.plan.arena_bytes
        choice.tried = {"off": choice.arena_bytes}
    bundle.remat = choice
    ts.func = bundle.func
    bundle.training = ts
    if backend_of(tgt).name == "cuda":  # the state in device memory (sdk/train/cuda_api.py)
        from .cuda_api import cuda_train_sources
        bundle.sources.update(cuda_train_sources(ts, name, bounds))
    else:
        bundle.sources.update(train_sources(ts, name, bounds))
    if forward is not None:
        bundle.quant = quant
    return TrainBundle(bundle, ts, model, forward, onnx_names(model))

