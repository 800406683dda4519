"""Graph pass: an inverted-residual block's depthwise convolution and the pointwise projection that reads it become
one ``DwProjectNHWC`` (``sdk/ops/fused.py``, runtime kernel ``sdk_dwpw_nhwc_f32`` in ``runtime_c/src/sdk_fused.c``).

MobileNetV2's projections (e.g. 144 -> 24 channels on 56 x 56) and its depthwise layers are bound by moving data:
the depthwise result, the block's widest tensor (1.8 MB there), went to memory and was read back by the 1x1 GEMM.
The fused kernel computes a band of output rows of the depthwise convolution (all channels) into a scratch slot that
stays in cache and multiplies it by the projection weights at once. The residual ``Add`` and an activation after the
projection fold into the fused call as any library kernel's epilogue does (``sdk/transform/epilogue.py``).

Matched, after the layout pass (``nhwc_layout``): ``ConvNHWC`` (depthwise, float32, constant weights, dilation 1,
static spatial dims and channels) -> [an activation the kernels implement: ReLU, Clip, HardSwish, HardSigmoid,
LeakyReLU, sigmoid] -> ``ConvNHWC`` (pointwise), each intermediate read only by the next and not a graph output.
A squeeze-excite between them (EfficientNet, RegNetY, most of MobileNetV3's blocks) breaks the chain: left alone.

Which blocks, by their shape (the profile's ``[fuse]`` options; each absent one does not restrict): the depthwise
result at least ``min_bytes``; the depthwise stride in ``dw_strides`` and its kernel size in ``dw_kernels``; the
projection weight (``C * M`` floats) at most ``max_weight_bytes``. The measurements behind the host's values
(bench/RESULTS_zoo.md, fuse44): the fused step beat the pair it replaces where the depthwise is 3x3 stride 2 (the
unfused depthwise runs the same per-row code there, and the fused call saves the result's trip through memory) and
the projection weight is small (it is read again for every band: MobileNetV2's 576 -> 160 after a stride-2
depthwise on 14 x 14 ran 1.24x the pair); at stride 1 the runtime's strip kernel (``dws_plane``) makes the unfused
depthwise faster than the fused call's per-row form.

Planned here, as attributes of the new binding (so ``sdk inspect`` shows them): ``band_rows``, the output rows of
one band (the most whose scratch fits ``band_bytes`` and whose ``slots`` fit in half the depthwise result, at least
one), and ``slots``, the scratch slots (one per thread that may run bands at once; the arena holds
``slots * band_rows * OW * C`` floats for the call, in place of the whole depthwise result). The pass is on where the
profile's ``[fuse] dw_project`` is true: off on the host, which sets the rule's values (the fused blocks gained
3-9 % each, the whole models nothing readable; bench/RESULTS_zoo.md fuse44).

Where the pass is off and the profile's ``[tune] dw_project_choice`` is true (``choice_options``), each block the
pass could fuse is a per-layer tuning decision instead (``sdk/tune/kernel_choice.py``): candidates ``{"kernel":
"pair"}`` (the two steps, the default) and ``{"kernel": "fused"}``, keyed by the block's workload (``block_workload``:
the depthwise geometry, the activation between, the projection's width and whether a residual ``Add`` reads it).
A build fuses a block only where the database's kernel-choice records measured the fused step faster than the pair
by the profile's ``[tune] tie_margin`` (or the measurement's A/A noise); the rule's shape limits do not apply (the
measurement decides, per block and CPU). The decision of each block is kept on the function (``Function.choices``:
binding name -> ``ChoicePoint``) so the lowered steps of either form carry it (``apply.attach_graph_choices``) and
``sdk tune`` times the pair's two steps against the fused one in its variant builds."""
from __future__ import annotations

import shutil
from typing import Optional

from ..ir import sym
from ..ir.graph import Binding, Function
from ..ops.nn import conv_nhwc_form
from ..ops.registry import Node
from .chain import Chains, rewrite_chains
from .epilogue import _activation

DW_ACTS = ("relu", "clip", "hardswish", "hardsigmoid", "leakyrelu", "sigmoid")  # the kernel's depthwise activations


def fuse_options(tgt) -> Optional[dict]:
    """The profile's ``[fuse]`` table when ``dw_project`` or ``pw_dw`` (the expansion + depthwise fusion,
    ``fuse_pw_dw``) is on, else None (the pass is off). Off too where the
    profile's C compiler is missing: the fused kernel is C only (no LLVM IR form), and the in-process engine builds
    the runtime's C kernels with that compiler (``sdk/backends/host/kernel_lib.py``); without it, the unfused
    kernels (each with an IR form) run."""
    opts = (tgt.data.get("fuse") or {}) if tgt is not None else {}
    if not (opts.get("dw_project") or opts.get("pw_dw") or opts.get("stem_dw")) or shutil.which(tgt.cc or "") is None:
        return None
    return dict(opts)


PAIR, FUSED = {"kernel": "pair"}, {"kernel": "fused"}


def choice_options(tgt, db=None) -> Optional[dict]:
    """The pass's options where each block is a tuning decision (``[tune] dw_project_choice``, the pass itself off,
    a C compiler present): the profile's ``[fuse]`` table without the shape rule and the ``pw_dw`` options (the
    build adds those from ``fuse_options``: ``sdk/pipeline.py``), with the tuning database ``db``
    (None: every block keeps the pair, as untuned), the target's name and the decision's margin; else None."""
    from ..tune import kernel_choice
    tune = (tgt.data.get("tune") or {}) if tgt is not None else {}
    if (tgt is None or not (tune.get("dw_project_choice") or tune.get("pw_dw_choice"))
            or (tgt.data.get("fuse") or {}).get("dw_project")):
        return None
    if shutil.which(tgt.cc or "") is None:
        return None
    opts = {k: v for k, v in (tgt.data.get("fuse") or {}).items()
            if k not in ("dw_project", "dw_strides", "dw_kernels", "max_weight_bytes", "min_bytes")
            and not k.startswith(("pw_dw", "stem_dw"))}
    return dict(opts, choice=True, db=db, target=tgt.name, margin=kernel_choice.margin_of(tgt),
                dw_project_choice=bool(tune.get("dw_project_choice")), pw_dw_choice=bool(tune.get("pw_dw_choice")),
                pw_dw_choice_min_bytes=int(tune.get("pw_dw_choice_min_bytes", 0)))


def block_workload(d: Binding, p: Binding, act, residual: bool):
    """The tuning workload of a depthwise + projection block (``sdk.tune.workload.Workload`` of kind "dwpw"): the
    depthwise geometry, the activation between (its kernel code), the projection's output channels and whether a
    residual ``Add`` reads the projection (both forms fold it in as their epilogue)."""
    from ..tune.workload import Workload
    from .epilogue import ACT_CODE
    x, y = d.inputs[0], d.outputs[0]
    ks, ss = list(d.attrs.get("kernel_shape") or d.inputs[1].shape[2:]), list(d.attrs.get("strides") or [1, 1])
    pads = list(d.attrs.get("pads") or [0, 0, 0, 0])
    params = {"H": int(x.shape[1]), "W": int(x.shape[2]), "C": int(x.shape[3]), "OH": int(y.shape[1]),
              "OW": int(y.shape[2]), "KH": int(ks[0]), "KW": int(ks[1]), "SH": int(ss[0]), "SW": int(ss[1]),
              "PH": int(pads[0]), "PW": int(pads[1]), "M": int(p.outputs[0].shape[3]),
              "has_bias": int(len(d.inputs) > 2 and d.inputs[2] is not None),
              "act": int(ACT_CODE.get(act[0], 0)) if act is not None else 0}
    return Workload("dwpw", tuple(sorted(params.items())), ("", 0.0, 0.0, int(residual)) if residual else ())


def expansion_workload(p: Binding, d: Binding, act):
    """The tuning workload of an expansion + depthwise chain (``Workload`` of kind "pwdw"): the expansion's input
    (H x W x K), the expanded channels, the depthwise geometry and the activation between (its kernel code)."""
    from ..tune.workload import Workload
    from .epilogue import ACT_CODE
    x, y = p.inputs[0], d.outputs[0]
    ks, ss = list(d.attrs.get("kernel_shape") or d.inputs[1].shape[2:]), list(d.attrs.get("strides") or [1, 1])
    pads = list(d.attrs.get("pads") or [0, 0, 0, 0])
    params = {"H": int(x.shape[1]), "W": int(x.shape[2]), "K": int(x.shape[3]), "C": int(y.shape[3]),
              "OH": int(y.shape[1]), "OW": int(y.shape[2]), "KH": int(ks[0]), "KW": int(ks[1]), "SH": int(ss[0]),
              "SW": int(ss[1]), "PH": int(pads[0]), "PW": int(pads[1]),
              "act": int(ACT_CODE.get(act[0], 0)) if act is not None else 0}
    return Workload("pwdw", tuple(sorted(params.items())))


def _form(b: Binding) -> Optional[str]:
    if b.op != "ConvNHWC" or b.attrs.get("nchw_input", 0) or len(b.outputs) != 1 or b.outputs[0].dtype != "float32":
        return None
    x, w = b.inputs[0], b.inputs[1]
    if len(b.inputs) > 2 and b.inputs[2] is not None and b.inputs[2].const is None:
        return None
    n = Node(b.op, b.name, b.inputs, b.attrs, 1, None)
    return conv_nhwc_form(n, [x.shape[0], x.shape[3], x.shape[1], x.shape[2]], w)


def fuse_dw_project(f: Function, opts: Optional[dict] = None) -> Function:
    if opts is None:
        return f
    if opts.get("stem_dw"):
        f = fuse_stem_dw(f, opts)
    if opts.get("pw_dw"):
        f = fuse_pw_dw(f, opts)
    pw_points = set(f.choices or {})
    choose = bool(opts.get("choice")) and bool(opts.get("dw_project_choice", True))
    if not choose and not opts.get("dw_project", True):
        return f
    points = {}  # binding name -> ChoicePoint (choice mode)
    band_bytes = int(opts.get("band_bytes", 65536))
    slots = max(1, int(opts.get("slots", 2)))
    min_bytes = int(opts.get("min_bytes", 0))
    strides, kernels = opts.get("dw_strides"), opts.get("dw_kernels")
    max_weight = opts.get("max_weight_bytes")
    ch = Chains(f)

    def match(p: Binding):
        if _form(p) != "pw":
            return None
        v = p.inputs[0]
        act, chain = None, [p]
        a = ch.producer.get(id(v))
        if a is not None and a.op != "ConvNHWC" and ch.only(v, p) and not a.guard:
            act = _activation(a)
            if act is None or act[0] not in DW_ACTS or len(a.outputs) != 1:
                return None
            chain.insert(0, a)
            v = a.inputs[0]
            p_reader = a
        else:
            p_reader = p
        d = ch.producer.get(id(v))
        if d is None or d.guard or _form(d) != "dw" or not ch.only(v, p_reader):
            return None
        if d.name in pw_points:  # the expansion + depthwise choice's block: one decision a step
            return None
        if any(int(x) != 1 for x in (d.attrs.get("dilations") or [1, 1])):
            return None
        y = d.outputs[0]
        N, OH, OW, C = y.shape
        if not all(sym.is_static(s) for s in (OH, OW, C)) or not all(sym.is_static(s) for s in d.inputs[0].shape[1:]):
            return None
        row = int(OW) * int(C) * 4
        if int(OH) * row < min_bytes:
            return None
        ks, ss = list(d.attrs.get("kernel_shape") or d.inputs[1].shape[2:]), list(d.attrs.get("strides") or [1, 1])
        if strides is not None and any(int(x) not in strides for x in ss):
            return None
        if kernels is not None and any(int(x) not in kernels for x in ks):
            return None
        if max_weight is not None and int(C) * int(p.outputs[0].shape[3]) * 4 > int(max_weight):
            return None
        fused_name = f"{d.name}+{p.name}"
        if choose:  # a tuning decision: fused only where the database measured it faster than the pair
            from ..tune import kernel_choice as kc
            users = ch.consumers.get(id(p.outputs[0]), [])
            residual = len(users) == 1 and users[0].op == "Add" and id(p.outputs[0]) not in ch.outputs
            wl = block_workload(d, p, act, residual)
            h, site = wl.hash(opts["target"]), f"{f.name}:{fused_name}"
            chosen = kc.pick(opts.get("db"), h, opts["target"], PAIR, [PAIR, FUSED], float(opts.get("margin", 0.0)),
                             site)
            recorded = bool(kc.records_for(opts.get("db"), h, opts["target"], site, warn=False))
            pt = kc.ChoicePoint(site, wl, [dict(PAIR), dict(FUSED)], chosen, recorded)
            if kc.key(chosen) != kc.key(FUSED):
                points[d.name] = points[p.name] = pt
                return None
            points[fused_name] = pt
        # the slots' scratch at most half the depthwise result (the call holds X, the scratch and Y at once, where
        # the pair held X and the result, then the result and Y): a 14 x 14 block's 12-row bands in 2 slots
        # outgrew the result it replaced
        band = max(1, min(int(OH), band_bytes // row, int(OH) // (2 * slots)))
        wd, bd = d.inputs[1], d.inputs[2] if len(d.inputs) > 2 else None
        wp, bp = p.inputs[1], p.inputs[2] if len(p.inputs) > 2 else None
        attrs = {k: d.attrs[k] for k in ("kernel_shape", "strides", "pads", "dilations", "group") if k in d.attrs}
        name, a_, b_ = act if act is not None else ("", 0.0, 0.0)
        attrs.update(dw_act=name, dw_a=a_, dw_b=b_, band_rows=band, slots=slots)
        chain.insert(0, d)
        return Binding("DwProjectNHWC", [d.inputs[0], wd, bd, wp, bp], list(p.outputs), attrs,
                       name=fused_name), chain

    g = rewrite_chains(f, match)
    if points:
        g = g.with_bindings(g.bindings, choices={**g.choices, **points})
    return g


PW_DW_ACTS = DW_ACTS + ("silu",)  # the expansion's activations sdk_pwdw_nhwc_f32 applies (SiLU: x * Sigmoid(x))


def _silu(ch: Chains, m: Binding):
    """(x, the Sigmoid binding) where m is Mul(x, Sigmoid(x)) and x is read by those two only, else None."""
    if m.op != "Mul" or len(m.inputs) != 2 or len(m.outputs) != 1:
        return None
    for x, sg in (m.inputs, m.inputs[::-1]):
        s = ch.producer.get(id(sg))
        if (s is not None and s.op == "Sigmoid" and not s.guard and s.inputs[0] is x and ch.only(sg, m)
                and id(x) not in ch.outputs
                and sorted(id(b) for b in ch.consumers.get(id(x), [])) == sorted([id(s), id(m)])):
            return x, s
    return None


def _square_dw(d: Binding):
    """(kernel_shape, strides) of a depthwise ``d`` with a square 3x3 / 5x5 kernel, equal strides and dilation 1
    (what the band-fused depthwise kernels take); None for any other binding."""
    if _form(d) != "dw" or any(int(x) != 1 for x in (d.attrs.get("dilations") or [1, 1])):
        return None
    ks = list(d.attrs.get("kernel_shape") or d.inputs[1].shape[2:])
    ss = list(d.attrs.get("strides") or [1, 1])
    if ks[0] != ks[1] or int(ks[0]) not in (3, 5) or ss[0] != ss[1]:
        return None
    return ks, ss


def _activation_before(ch: Chains, d: Binding):
    """What feeds the depthwise ``d``: (activation or None, the activation's bindings, the producer before it or None
    where that producer has other readers); None where an activation sits there that a fused kernel cannot apply.
    The activations: those of ``PW_DW_ACTS``, SiLU as x * Sigmoid(x) (EfficientNet: x read by those two only)."""
    v = d.inputs[0]
    a = ch.producer.get(id(v))
    silu = _silu(ch, a) if a is not None and ch.only(v, d) and not a.guard else None
    if silu is not None:
        return ("silu", 0.0, 0.0), [silu[1], a], ch.producer.get(id(silu[0]))
    if a is not None and a.op != "ConvNHWC" and ch.only(v, d) and not a.guard:
        act = _activation(a)
        if act is None or act[0] not in PW_DW_ACTS or len(a.outputs) != 1:
            return None
        u = a.inputs[0]
        return act, [a], ch.producer.get(id(u)) if ch.only(u, a) else None
    return None, [], ch.producer.get(id(v)) if ch.only(v, d) else None


def fuse_pw_dw(f: Function, opts: dict) -> Function:
    """A pointwise expansion -> [activation] -> depthwise convolution chain as one ``PwDwNHWC`` (the profile's
    ``[fuse] pw_dw``): the expanded tensor (MobileNetV2's and EfficientNet-B0's 16 -> 96 channels on 112 x 112:
    4.8 MB, more than a core's L2) is computed band by band into a scratch slot that the depthwise rows read while it
    is in cache (the depthwise at stride 1 and 5x5 in strips of 7 pixels x 2 rows, as the unfused kernel runs it; 3x3
    stride 2 row by row). Which chains (each absent option does not restrict): the expanded tensor at least
    ``pw_dw_min_bytes`` (``pw_dw_silu_min_bytes`` with a SiLU or sigmoid between); the depthwise stride in
    ``pw_dw_strides`` and its kernel (3x3 or 5x5) in ``pw_dw_kernels``; ``pw_dw_max_k`` input channels at most. The activation between: ReLU, Clip, HardSwish,
    HardSigmoid, LeakyReLU, sigmoid or SiLU (x * Sigmoid(x), x read by those two only).
    In the choice mode (``choice_options``) with the profile's ``[tune] pw_dw_choice``, each chain of an expanded
    tensor of at least ``pw_dw_choice_min_bytes`` is a per-layer tuning decision instead (a "pwdw" workload,
    candidates ``FUSED`` and ``PAIR``, the rule's form the default): the database's kernel-choice records make
    another form only where it was measured faster by the margin (as ``fuse_dw_project``'s blocks); the pair's
    steps (the expansion, the depthwise) carry the point, and its depthwise is then no depthwise + projection point.
    The band: the output rows whose expanded rows fit ``pw_dw_band_bytes``, and at most half of the expanded tensor
    in the ``slots`` scratch slots (the call holds X, the slots and Y at once, where the pair held X and the
    expanded tensor, then it and Y)."""
    band_bytes = int(opts.get("pw_dw_band_bytes", 524288))
    slots = max(1, int(opts.get("slots", 2)))
    min_bytes = int(opts.get("pw_dw_min_bytes", 0))
    silu_min = int(opts.get("pw_dw_silu_min_bytes", 0))
    strides, kernels, max_k = opts.get("pw_dw_strides"), opts.get("pw_dw_kernels"), opts.get("pw_dw_max_k")
    # a tuning decision per chain (``[tune] pw_dw_choice``): chains of an expanded tensor of at least
    # ``pw_dw_choice_min_bytes``, the rule's form the default
    choose = bool(opts.get("choice")) and bool(opts.get("pw_dw_choice"))
    choice_min = int(opts.get("pw_dw_choice_min_bytes", 0))
    points = {}  # binding name -> ChoicePoint
    ch = Chains(f)

    def match(d: Binding):
        sq = _square_dw(d)
        if sq is None:
            return None
        ks, ss = sq
        rule = not ((strides is not None and int(ss[0]) not in strides)
                    or (kernels is not None and int(ks[0]) not in kernels))
        if not rule and not choose:
            return None
        found = _activation_before(ch, d)
        if found is None:
            return None
        act, before, p = found
        chain = before + [d]
        if p is None or p.guard or _form(p) != "pw":
            return None
        x = p.inputs[0]
        N, H, W, K = x.shape
        if not all(sym.is_static(s) for s in (H, W, K)) or not all(sym.is_static(s) for s in d.outputs[0].shape[1:]):
            return None
        C = int(d.outputs[0].shape[3])
        row = int(W) * C * 4
        rule = (rule and not (max_k is not None and int(K) > int(max_k)) and int(H) * row >= min_bytes
                and (act is None or act[0] not in ("silu", "sigmoid") or int(H) * row >= silu_min))
        we, be = p.inputs[1], p.inputs[2] if len(p.inputs) > 2 else None
        wd, bd = d.inputs[1], d.inputs[2] if len(d.inputs) > 2 else None
        if (be is not None and be.const is None) or (bd is not None and bd.const is None):
            return None
        fused_name = f"{p.name}+{d.name}"
        if choose and int(H) * row >= choice_min:
            from ..tune import kernel_choice as kc
            default, other = (FUSED, PAIR) if rule else (PAIR, FUSED)
            wl = expansion_workload(p, d, act)
            h, site = wl.hash(opts["target"]), f"{f.name}:{fused_name}"
            chosen = kc.pick(opts.get("db"), h, opts["target"], default, [default, other],
                             float(opts.get("margin", 0.0)), site)
            recorded = bool(kc.records_for(opts.get("db"), h, opts["target"], site, warn=False))
            pt = kc.ChoicePoint(site, wl, [dict(default), dict(other)], chosen, recorded)
            if kc.key(chosen) != kc.key(FUSED):  # the pair: its steps (the expansion, the depthwise) carry the point
                for b in [p] + chain:
                    points[b.name] = pt
                return None
            points[fused_name] = pt
        elif not rule:
            return None
        OH, S, KH = int(d.outputs[0].shape[1]), int(ss[0]), int(ks[0])
        band = max(1, min(OH, (band_bytes // row - KH) // S + 1))
        while band > 1 and 2 * slots * ((band - 1) * S + KH) > int(H):
            band -= 1
        attrs = {k: d.attrs[k] for k in ("kernel_shape", "strides", "pads", "dilations", "group") if k in d.attrs}
        name, a_, b_ = act if act is not None else ("", 0.0, 0.0)
        attrs.update(e_act=name, e_a=a_, e_b=b_, band_rows=band, slots=slots)
        chain.insert(0, p)
        return Binding("PwDwNHWC", [x, we, be, wd, bd], list(d.outputs), attrs, name=fused_name), chain

    g = rewrite_chains(f, match)
    if points:
        g = g.with_bindings(g.bindings, choices={**g.choices, **points})
    return g


def _stem_form(b: Binding) -> Optional[str]:
    """``conv_nhwc_form`` of a ``ConvNHWC`` that reads an NCHW image (``nchw_input``: the layout pass's stem)."""
    if b.op != "ConvNHWC" or not b.attrs.get("nchw_input", 0) or len(b.outputs) != 1 or b.outputs[0].dtype != "float32":
        return None
    n = Node(b.op, b.name, b.inputs, b.attrs, 1, None)
    return conv_nhwc_form(n, list(b.inputs[0].shape), b.inputs[1])


def fuse_stem_dw(f: Function, opts: dict) -> Function:
    """A network's first convolution (``ConvNHWC`` of the "stem" form: an NCHW image, few taps) -> [activation] ->
    depthwise ``ConvNHWC`` as one ``StemDwNHWC`` (the profile's ``[fuse] stem_dw``): the stem's result
    (MobileNetV2's and EfficientNet-B0's 112 x 112 x 32, 1.6 MB; MobileNetV3-S's 112 x 112 x 16) is computed band
    by band into a scratch slot that the depthwise reads while it is in cache, instead of being written whole into
    arena lines the previous run (or another program) evicted and read back (mb50: after onnxruntime's run the two
    layers took 405 + 338 us against 272 + 226 alone). The same kernels compute each band (the same floats). Which
    chains: the stem's result at least ``stem_dw_min_bytes``, the depthwise square, 3x3 / 5x5, stride 1 or 2,
    dilation 1, static dims. The activation between: those of ``PW_DW_ACTS`` (SiLU as x * Sigmoid(x)). The band:
    the output rows whose stem rows fit ``stem_dw_band_bytes``, with at most half of the stem's result in the
    ``slots`` scratch slots."""
    band_bytes = int(opts.get("stem_dw_band_bytes", 131072))
    slots = max(1, int(opts.get("slots", 2)))
    min_bytes = int(opts.get("stem_dw_min_bytes", 0))
    ch = Chains(f)

    def match(d: Binding):
        sq = _square_dw(d)
        if sq is None or int(sq[1][0]) not in (1, 2):
            return None
        ks, ss = sq
        found = _activation_before(ch, d)
        if found is None:
            return None
        act, before, s = found
        chain = before + [d]
        if s is None or s.guard or _stem_form(s) != "stem":
            return None
        if any(int(x) != 1 for x in (s.attrs.get("dilations") or [1, 1])) or int(s.attrs.get("group", 1)) != 1:
            return None
        x, e, y = s.inputs[0], s.outputs[0], d.outputs[0]
        if not all(sym.is_static(t) for t in list(x.shape[1:]) + list(e.shape[1:]) + list(y.shape[1:])):
            return None
        EH, EW, M = (int(t) for t in e.shape[1:])
        row = EW * M * 4
        if EH * row < min_bytes:
            return None
        ws, bs = s.inputs[1], s.inputs[2] if len(s.inputs) > 2 else None
        wd, bd = d.inputs[1], d.inputs[2] if len(d.inputs) > 2 else None
        if (bs is not None and bs.const is None) or (bd is not None and bd.const is None):
            return None
        OH, S, KH = int(y.shape[1]), int(ss[0]), int(ks[0])
        band = max(1, min(OH, (band_bytes // row - KH) // S + 1))
        while band > 1 and 2 * slots * ((band - 1) * S + KH) > EH:
            band -= 1
        attrs = {k: d.attrs[k] for k in ("kernel_shape", "strides", "pads", "dilations", "group") if k in d.attrs}
        attrs.update({"s_" + k: s.attrs[k] for k in ("strides", "pads", "dilations") if k in s.attrs})
        name, a_, b_ = act if act is not None else ("", 0.0, 0.0)
        attrs.update(e_act=name, e_a=a_, e_b=b_, band_rows=band, slots=slots)
        chain.insert(0, s)
        return Binding("StemDwNHWC", [x, ws, bs, wd, bd], list(d.outputs), attrs, name=f"{s.name}+{d.name}"), chain

    return rewrite_chains(f, match)
