"""Fused attention (sdk/transform/attention.py -> sdk_attention_f32): the pass matches the exporters' attention
graphs (BERT's q/k/v head transposes and padding mask, ViT's scalar factors on q and kT over [b*h, s, d], a
GPT-2 decoder step's cache Concat), only for fp16/bf16 CUDA builds; the fused op computes the same function as the
graph it replaces (the portable C kernel on the host, against onnx's float64 reference evaluator); the CUDA kernel
runs on a GPU only (bench/attention_gpu.py), here it is compiled."""
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto as T
from onnx import helper as h
from onnx import numpy_helper

import sdk
import sdk.pipeline
from cuda_objects import check_flags, target_check_flags

# the cuda-sm90 profile's -D flags (targets/cuda-sm90.toml; the store leaves out those the attention never names)
PROFILE_DEFINES = [f for f in target_check_flags("cuda-sm90") if f.startswith("-D")]

HD = 64


def _const(name, arr):
    return numpy_helper.from_array(np.asarray(arr), name)


def bert_like(heads=2, mask=True, out_transpose=True):
    """x [b, s, heads*HD] -> q, k, v projections, [b, s, h, d] -> heads, scores / 8 (+ padding mask), softmax,
    @ v, back to [b, s, h*d], as torch.onnx exports a BERT layer."""
    D = heads * HD
    rng = np.random.default_rng(0)
    inits = [_const(f"w{c}", (rng.standard_normal((D, D)) / np.sqrt(D)).astype(np.float32)) for c in "qkv"]
    inits += [_const("shape4", np.array([0, 0, heads, HD], np.int64)), _const("shape3", np.array([0, 0, D], np.int64)),
              _const("eight", np.array(8.0, np.float32)), _const("neg", np.array(-10000.0, np.float32)),
              _const("one", np.array(1.0, np.float32)), _const("axes12", np.array([1, 2], np.int64))]
    nodes = []
    for c, perm in (("q", [0, 2, 1, 3]), ("k", [0, 2, 3, 1]), ("v", [0, 2, 1, 3])):
        nodes += [h.make_node("MatMul", ["x", f"w{c}"], [f"{c}p"]),
                  h.make_node("Reshape", [f"{c}p", "shape4"], [f"{c}r"]),
                  h.make_node("Transpose", [f"{c}r"], [f"{c}t"], perm=perm)]
    nodes += [h.make_node("MatMul", ["qt", "kt"], ["s"]), h.make_node("Div", ["s", "eight"], ["sd"])]
    last = "sd"
    inputs = [h.make_tensor_value_info("x", T.FLOAT, ["batch", "seq", D])]
    if mask:
        inputs.append(h.make_tensor_value_info("mask", T.FLOAT, ["batch", "seq"]))
        nodes += [h.make_node("Sub", ["one", "mask"], ["inv"]), h.make_node("Mul", ["inv", "neg"], ["bias2"]),
                  h.make_node("Unsqueeze", ["bias2", "axes12"], ["bias"]), h.make_node("Add", ["sd", "bias"], ["sm"])]
        last = "sm"
    nodes += [h.make_node("Softmax", [last], ["p"], axis=-1), h.make_node("MatMul", ["p", "vt"], ["o"])]
    if out_transpose:
        nodes += [h.make_node("Transpose", ["o"], ["ot"], perm=[0, 2, 1, 3]), h.make_node("Reshape", ["ot", "shape3"], ["y"])]
        out = h.make_tensor_value_info("y", T.FLOAT, ["batch", "seq", D])
    else:
        out = h.make_tensor_value_info("o", T.FLOAT, ["batch", heads, "seq", HD])
    g = h.make_graph(nodes, "bert_like", inputs, [out], inits)
    return h.make_model(g, opset_imports=[h.make_opsetid("", 17)])


def qkv_split_like(heads=2, out_proj=False):
    """BERT/GPT-2 style: one QKV projection [b, s, 3 * D] (+ bias) split into q, k and v along the last axis, each
    reshaped to [b, s, h, d] and transposed to heads; padding mask; output transposed back (``out_proj``: and
    multiplied by an output projection)."""
    D = heads * HD
    rng = np.random.default_rng(2)
    inits = [_const("wqkv", (rng.standard_normal((D, 3 * D)) / np.sqrt(D)).astype(np.float32)),
             _const("bqkv", rng.standard_normal(3 * D).astype(np.float32)),
             _const("sizes", np.array([D, D, D], np.int64)), _const("shape4", np.array([0, 0, heads, HD], np.int64)),
             _const("shape3", np.array([0, 0, D], np.int64)), _const("eight", np.array(8.0, np.float32)),
             _const("neg", np.array(-10000.0, np.float32)), _const("one", np.array(1.0, np.float32)),
             _const("axes12", np.array([1, 2], np.int64))]
    nodes = [h.make_node("MatMul", ["x", "wqkv"], ["p0"]), h.make_node("Add", ["p0", "bqkv"], ["p"]),
             h.make_node("Split", ["p", "sizes"], ["qp", "kp", "vp"], axis=-1)]
    for c, perm in (("q", [0, 2, 1, 3]), ("k", [0, 2, 3, 1]), ("v", [0, 2, 1, 3])):
        nodes += [h.make_node("Reshape", [f"{c}p", "shape4"], [f"{c}r"]),
                  h.make_node("Transpose", [f"{c}r"], [f"{c}t"], perm=perm)]
    nodes += [h.make_node("MatMul", ["qt", "kt"], ["s"]), h.make_node("Div", ["s", "eight"], ["sd"]),
              h.make_node("Sub", ["one", "mask"], ["inv"]), h.make_node("Mul", ["inv", "neg"], ["bias2"]),
              h.make_node("Unsqueeze", ["bias2", "axes12"], ["bias"]), h.make_node("Add", ["sd", "bias"], ["sm"]),
              h.make_node("Softmax", ["sm"], ["pr"], axis=-1), h.make_node("MatMul", ["pr", "vt"], ["o"]),
              h.make_node("Transpose", ["o"], ["ot"], perm=[0, 2, 1, 3]),
              h.make_node("Reshape", ["ot", "shape3"], ["yr" if out_proj else "y"])]
    if out_proj:
        inits.append(_const("wo", (rng.standard_normal((D, D)) / np.sqrt(D)).astype(np.float32)))
        nodes.append(h.make_node("MatMul", ["yr", "wo"], ["y"]))
    inputs = [h.make_tensor_value_info("x", T.FLOAT, ["batch", "seq", D]),
              h.make_tensor_value_info("mask", T.FLOAT, ["batch", "seq"])]
    g = h.make_graph(nodes, "qkv_split_like", inputs, [h.make_tensor_value_info("y", T.FLOAT, ["batch", "seq", D])],
                     inits)
    return h.make_model(g, opset_imports=[h.make_opsetid("", 17)])


def vit_like(heads=2):
    """[b*h, s, d] heads with the scale split over q and kT (q * s^0.5, transpose(k) * s^0.5), as
    nn.MultiheadAttention exports."""
    sq = np.array(HD ** -0.25, np.float32)
    nodes = [h.make_node("Mul", ["q", "sq"], ["qs"]), h.make_node("Transpose", ["k"], ["kt"], perm=[0, 2, 1]),
             h.make_node("Mul", ["kt", "sq"], ["kts"]), h.make_node("MatMul", ["qs", "kts"], ["s"]),
             h.make_node("Softmax", ["s"], ["p"], axis=-1), h.make_node("MatMul", ["p", "v"], ["y"])]
    ins = [h.make_tensor_value_info(n, T.FLOAT, ["bh", "seq", HD]) for n in "qkv"]
    g = h.make_graph(nodes, "vit_like", ins, [h.make_tensor_value_info("y", T.FLOAT, ["bh", "seq", HD])],
                     [_const("sq", sq)])
    return h.make_model(g, opset_imports=[h.make_opsetid("", 17)])


def gpt_step_like(heads=2):
    """One query over a cache: k/v = Concat(past, new) on the sequence axis, scores / 8, no mask."""
    nodes = [h.make_node("Concat", ["past_k", "k"], ["kc"], axis=2), h.make_node("Concat", ["past_v", "v"], ["vc"], axis=2),
             h.make_node("Transpose", ["kc"], ["kt"], perm=[0, 1, 3, 2]), h.make_node("MatMul", ["q", "kt"], ["s"]),
             h.make_node("Div", ["s", "eight"], ["sd"]), h.make_node("Softmax", ["sd"], ["p"], axis=-1),
             h.make_node("MatMul", ["p", "vc"], ["y"])]
    ins = [h.make_tensor_value_info(n, T.FLOAT, ["batch", heads, 1, HD]) for n in "qkv"]
    ins += [h.make_tensor_value_info(n, T.FLOAT, ["batch", heads, "past", HD]) for n in ("past_k", "past_v")]
    g = h.make_graph(nodes, "gpt_step_like", ins, [h.make_tensor_value_info("y", T.FLOAT, ["batch", heads, 1, HD])],
                     [_const("eight", np.array(8.0, np.float32))])
    return h.make_model(g, opset_imports=[h.make_opsetid("", 17)])


def _calls(b):
    return [getattr(s, "fn", None) for s in b.program.steps]


@pytest.mark.parametrize("make,dims", [(bert_like, {"batch": 2, "seq": 40}), (vit_like, {"bh": 4, "seq": 50}),
                                       (gpt_step_like, {"batch": 2, "past": 30}),
                                       (qkv_split_like, {"batch": 2, "seq": 40})])
def test_fused_only_for_16_bit_cuda_builds(make, dims):
    model = make()
    for prec in ("fp16", "bf16"):
        calls = _calls(sdk.compile(model, target="cuda-sm90", dims=dims, precision=prec))
        assert calls.count("sdk_attention_f32") == 1 and "sdk_softmax_f32" not in calls
    assert "sdk_attention_f32" not in _calls(sdk.compile(model, target="cuda-sm90", dims=dims))  # fp32: exact GEMMs
    assert "sdk_attention_f32" not in _calls(sdk.compile(model, dims=dims))  # host profile: off


def test_head_transposes_become_strides():
    """BERT-like: no kernel is left for the q/k/v/output head transposes; the mask is read with broadcast strides."""
    b = sdk.compile(bert_like(), target="cuda-sm90", dims={"batch": 2, "seq": 40}, precision="fp16")
    assert not [s for s in b.program.steps if "Transpose" in getattr(s, "name", "")]
    call = next(s for s in b.program.steps if getattr(s, "fn", None) == "sdk_attention_f32")
    from sdk.ir import sym
    seq = sym.var("seq")
    assert [call.arg(a) for a in ("q_hs", "q_rs", "k_hs", "k_rs", "o_hs", "o_rs", "m_hs", "m_qs", "m_ks")] == \
        [HD, 2 * HD, HD, 2 * HD, HD, 2 * HD, 0, 0, 1]
    assert sym.sub(call.arg("m_bs"), seq) == 0 and call.arg("scale") == 0.125


def test_split_heads_read_in_place():
    """One QKV projection split into q, k and v: the kernel reads the projection itself (q, k, v at column offsets
    0, D, 2D of its rows of 3D), so no Split / Reshape copy kernel is left, and the arena holds no q/k/v copies."""
    D = 2 * HD
    b = sdk.compile(qkv_split_like(), target="cuda-sm90", dims={"batch": 2, "seq": 40}, precision="fp16")
    from sdk.tir.expr import Kernel
    steps = b.program.steps
    call = next(s for s in steps if getattr(s, "fn", None) == "sdk_attention_f32")
    before = [s.name for s in steps[:steps.index(call)] if isinstance(s, Kernel)]
    assert len(before) == 1 and "Unsqueeze" in before[0], before  # the mask's; q, k, v: no copies
    gemm = next(s for s in b.program.steps if getattr(s, "fn", None) == "sdk_gemm_f32")
    proj = gemm.arg("Y")
    assert all(b.program.root(call.arg(a)) is proj for a in "QKV")
    assert [b.program.offset_of(call.arg(a)) for a in "QKV"] == [0, D, 2 * D]
    assert [call.arg(a) for a in ("q_hs", "q_rs", "k_hs", "k_rs", "v_hs", "v_rs")] == [HD, 3 * D, HD, 3 * D, HD, 3 * D]


def test_fp16_storage_between_projections():
    """QKV projection -> attention -> output projection in a CUDA fp16 build (sdk/backends/cuda/linear.py): the QKV
    GEMM writes its output as fp16 into the second scratch area, the attention runs on fp16 storage reading q, k, v
    there (offsets 0, D, 2D) and writes its output as fp16 into the first, which the output projection reads without
    converting."""
    import re
    from sdk.backends.cuda.codegen import generate_cuda
    D = 2 * HD
    b = sdk.compile(qkv_split_like(out_proj=True), target="cuda-sm90", dims={"batch": 2, "seq": 40}, precision="fp16")
    cu = generate_cuda(b.program, b.plan, "model", b.bounds, "fp16")["model.cu"]
    assert "sdk_cuda_attention_f32" not in cu
    att = re.findall(r"st = sdk_cuda_attention_f16\((.*)\); if \(st\) return st;", cu)
    assert len(att) == 1
    assert [f"((__half *)H2 + {o})" in att[0] for o in (0, D, 2 * D)] == [True] * 3 and "((__half *)H + 0)" in att[0]
    qkv = re.findall(r"st = sdk_cuda_linear_f16_h\((.*)\); if \(st\) return st;", cu)
    assert len(qkv) == 1 and ", H2, NULL, 0, " in qkv[0]
    proj = re.findall(r"st = sdk_cuda_linear_f16\(stream, (.*)\); if \(st\) return st;", cu)
    assert len(proj) == 1 and ", H, 0, " in proj[0]  # reads the scratch as it is
    assert "H2 = " in cu


def test_no_fusion_when_a_head_axis_is_strided():
    """kT given as a plain [b, h, d, s] input (not a Transpose): the kernel cannot read it; the graph stays."""
    nodes = [h.make_node("MatMul", ["q", "kt"], ["s"]), h.make_node("Softmax", ["s"], ["p"], axis=-1),
             h.make_node("MatMul", ["p", "v"], ["y"])]
    ins = [h.make_tensor_value_info("q", T.FLOAT, ["b", 2, "s", HD]), h.make_tensor_value_info("kt", T.FLOAT, ["b", 2, HD, "s"]),
           h.make_tensor_value_info("v", T.FLOAT, ["b", 2, "s", HD])]
    g = h.make_graph(nodes, "g", ins, [h.make_tensor_value_info("y", T.FLOAT, ["b", 2, "s", HD])])
    m = h.make_model(g, opset_imports=[h.make_opsetid("", 17)])
    assert "sdk_attention_f32" not in _calls(sdk.compile(m, target="cuda-sm90", dims={"b": 2, "s": 8}, precision="fp16"))


def _reference(model, feeds):
    from onnx.reference import ReferenceEvaluator
    m = onnx.ModelProto()
    m.CopyFrom(model)
    for i, t in enumerate(m.graph.initializer):
        if t.data_type == T.FLOAT:
            m.graph.initializer[i].CopyFrom(numpy_helper.from_array(numpy_helper.to_array(t).astype(np.float64), t.name))
    for vi in list(m.graph.input) + list(m.graph.output):
        vi.type.tensor_type.elem_type = T.DOUBLE
    return ReferenceEvaluator(m).run(None, {k: v.astype(np.float64) for k, v in feeds.items()})[0]


@pytest.mark.parametrize("make,bounds,run", [
    (bert_like, {"batch": 3, "seq": 48}, {"batch": 3, "seq": 37}),
    (vit_like, {"bh": 4, "seq": 50}, {"bh": 3, "seq": 50}),
    (gpt_step_like, {"batch": 2, "past": 30}, {"batch": 2, "past": 17}),
    (qkv_split_like, {"batch": 3, "seq": 48}, {"batch": 3, "seq": 37}),
])
def test_fused_op_matches_float64(monkeypatch, make, bounds, run):
    """The pass forced on for the host profile: the fused op (portable C sdk_attention_f32, fp32) against the
    unfused graph in float64, at run dims below the bounds (strides are symbolic)."""
    monkeypatch.setattr(sdk.pipeline, "attention_options", lambda tgt, precision: {})
    model = make()
    b = sdk.compile(model, dims=bounds)
    assert _calls(b).count("sdk_attention_f32") == 1
    rng = np.random.default_rng(1)
    feeds = {}
    for vi in model.graph.input:
        shape = [d.dim_value if d.HasField("dim_value") else run[d.dim_param] for d in vi.type.tensor_type.shape.dim]
        feeds[vi.name] = rng.standard_normal(shape).astype(np.float32)
    if "mask" in feeds:  # padding at the end of every other row
        feeds["mask"] = np.ones_like(feeds["mask"])
        feeds["mask"][1::2, -9:] = 0.0
    y = b.run(feeds)
    y = y[0] if isinstance(y, (list, tuple)) else next(iter(y.values())) if isinstance(y, dict) else y
    ref = _reference(model, feeds)
    err = np.linalg.norm(y.astype(np.float64) - ref) / np.linalg.norm(ref)
    assert err < 1e-5, err


@pytest.mark.skipif(shutil.which("nvcc") is None, reason="nvcc not installed")
@pytest.mark.parametrize("arch,extra", [("sm_90", []), ("sm_80", []), ("sm_90a", ["-DSDK_CUDA_WGMMA"]),
                                        ("sm_90a", PROFILE_DEFINES),
                                        pytest.param("sm_90", ["-DSDK_ATT_OPT=63u"], marks=pytest.mark.slow)])
def test_cuda_kernel_compiles(cuda_objects, arch, extra):
    """The mma.sync kernel alone (-arch=sm_90a -DSDK_CUDA_WGMMA without SDK_ATT_WGMMA), the Hopper wgmma kernel as
    the cuda-sm90 profile builds it (-DSDK_ATT_WGMMA, its -DSDK_ATT_WG_DEFAULT=25 only the cfg that 0 picks: the
    bundles' own object, compiled once a session), and (slow) every option bit of the mma.sync kernel at once
    (bench/attention_variants.py)."""
    assert "-DSDK_ATT_WGMMA" in PROFILE_DEFINES
    r = cuda_objects.runtime("sdk_cuda_attention.cu", check_flags(arch, extra))
    assert r.returncode == 0, r.stderr[-3000:]


@pytest.mark.skipif(shutil.which("nvcc") is None, reason="nvcc not installed")
def test_profile_attention_is_tma_fed(tmp_path):
    """The cuda-sm90 profile's default attention (cfg 25: bench/RESULTS_gpu.md gpu47) is the wgmma kernel fed by the
    Tensor Memory Accelerator: in the PTX built with the profile's -arch and -D flags, the D = 64 and D = 128
    instantiations it launches without a mask (TMA and SPLIT on) bring Q, K and V by 4-D bulk tensor copies that
    complete on an mbarrier, and keep one cp.async (the key-padding mask's) where cfg 12's kernels copy K and V with
    cp.async in every thread."""
    assert "-DSDK_ATT_WG_DEFAULT=25" in PROFILE_DEFINES
    root = Path(__file__).resolve().parents[2]
    arch = next(f for f in target_check_flags("cuda-sm90") if f.startswith("-arch="))
    ptx = tmp_path / "att.ptx"
    cmd = ["nvcc", arch, *PROFILE_DEFINES, "-std=c++17", "-O1", "-Xcicc", "-O1", "-ptx",
           f"-I{root / 'runtime_c' / 'include'}", f"-I{root / 'runtime_c' / 'cuda'}",
           str(root / "runtime_c" / "cuda" / "sdk_cuda_attention.cu"), "-o", str(ptx)]
    r = subprocess.run(cmd, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-3000:]
    entries = {e.split("(")[0]: e for e in re.split(r"\n\.visible \.entry |\n\.entry ", ptx.read_text())[1:]}
    # flash_attention_wgmma_kernel<D, BN, NWG, STAGES, PIPE, MINB, LAZY, TMA, SPLIT>
    for args in ("ILi64ELi64ELi1ELi2ELb0ELi4ELb0ELb1ELb1E", "ILi128ELi128ELi2ELi2ELb0ELi1ELb0ELb1ELb1E"):
        tma = [b for n, b in entries.items() if "flash_attention_wgmma_kernel" + args in n]
        assert len(tma) == 1, args
        assert tma[0].count("cp.async.bulk.tensor.4d.shared::cluster.global") >= 3, args
        assert "mbarrier.try_wait.parity" in tma[0] and "mbarrier.arrive.expect_tx" in tma[0], args
        assert tma[0].count("cp.async.cg.shared.global") == 1, args  # the mask's only
        plain = "flash_attention_wgmma_kernel" + args.replace("ELb1ELb1E", "ELb0ELb0E")
        cp = [b for n, b in entries.items() if plain in n]
        assert len(cp) == 1 and cp[0].count("cp.async.cg.shared.global") > 1, args  # cfg 12 / 5: K, V, Q, mask
