"""The declared library-kernel interface (sdk/kernels/) against the C it declares, and its call checks."""
import re
import subprocess
import tempfile
from pathlib import Path

import pytest

from sdk import kernels
from sdk.errors import SdkError
from sdk.ir import sym
from sdk.resources import RUNTIME
from sdk.tir.expr import Buffer


def _norm(ctype: str) -> str:
    return re.sub(r"\s+", " ", ctype.replace("*", " * ")).strip().replace("restrict", "").replace("  ", " ").strip()


def c_prototypes(text: str, ret: str = "void"):
    """{name: [(C type, parameter name)]} of the functions declared or defined in C text."""
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    out = {}
    for m in re.finditer(rf"^(?:{ret})\s+(\w+)\s*\(([^)]*)\)", text, re.M):
        params = []
        for p in m.group(2).split(","):
            pm = re.fullmatch(r"\s*(.*?[\s*])(\w+)\s*", p)
            params.append((_norm(pm.group(1)), pm.group(2)))
        out[m.group(1)] = params
    return out


def declared(params):
    return [(_norm(p.ctype), p.name) for p in params]


def test_header_prototypes_match_the_declarations():
    by_header = {}
    for k in kernels.KERNELS.values():
        by_header.setdefault(k.header, {})[k.name] = k
    assert set(by_header) == {"sdk_kernels.h", "sdk_kernels_int8.h", "sdk_detect.h", "sdk_sparse.h",
                              "sdk_sparse_int8.h", "sdk_gemv.h", "sdk_winograd.h", "sdk_fused.h"}
    for header, decls in by_header.items():
        protos = c_prototypes((RUNTIME / "include" / header).read_text())
        assert set(protos) == set(decls), header  # every void kernel of the header is declared, and no more
        for name, k in decls.items():
            assert protos[name] == declared(k.params), name
            assert (RUNTIME / "src" / k.source).is_file()


def _defined_symbols(src):
    """The external functions an object of runtime_c/src/SRC defines (gcc -c, warnings as errors)."""
    with tempfile.TemporaryDirectory() as tmp:
        obj = Path(tmp) / "k.o"
        subprocess.run(["gcc", "-std=c99", "-O1", "-Wall", "-Wextra", "-Werror", "-I", str(RUNTIME / "include"),
                        "-c", str(RUNTIME / "src" / src), "-o", str(obj)], check=True)
        nm = subprocess.run(["nm", "--defined-only", str(obj)], check=True, capture_output=True, text=True).stdout
    return {line.split()[-1] for line in nm.splitlines() if line.split()[1:2] == ["T"]}


def test_portable_definitions_match_the_declarations():
    for src in {k.source for k in kernels.KERNELS.values()}:
        text = (RUNTIME / "src" / src).read_text()
        defs = c_prototypes(text)
        generated = [k for k in kernels.KERNELS.values() if k.source == src and k.name not in defs]
        for k in kernels.KERNELS.values():
            if k.source == src and k.name in defs:
                assert defs[k.name] == declared(k.params), k.name
        if generated:
            # definitions a macro writes (sdk_sparse.c's SP_ENTRY_POINTS): the source includes the header the first
            # test matched to the declarations, so gcc rejects a definition of another type; and it must define them
            assert all(f'#include "{k.header}"' in text for k in generated), src
            assert {k.name for k in generated} <= _defined_symbols(src), src


def test_arch_variants_replace_what_they_declare():
    variants = {}
    for k in kernels.KERNELS.values():
        for v in k.variants:
            assert v.source.startswith("arch/"), v.source
            variants.setdefault(v.source, []).append(k)
    assert variants, "the wasm32 SIMD128 variant is declared"
    for src, decls in variants.items():
        text = (RUNTIME / "src" / src).read_text()
        renamed = set(re.findall(r"#define (\w+) \1_portable", text))
        assert renamed == {k.name for k in decls}, src
        assert f'#include "{decls[0].source}"' in text
        defs = c_prototypes(text)
        for k in decls:
            assert defs[k.name] == declared(k.params), (src, k.name)


def test_cuda_launchers_match_the_declarations():
    protos = c_prototypes((RUNTIME / "cuda" / "sdk_cuda.h").read_text(), ret="sdk_status")
    cuda = {k.cuda.symbol: k for k in kernels.KERNELS.values() if k.cuda}
    assert cuda, "GEMM, conv and pooling have CUDA launchers"
    for symbol, k in cuda.items():
        assert protos[symbol] == declared(k.cuda.leading + k.params + k.cuda.trailing), symbol


def test_call_checks_names_and_types():
    X = Buffer("x", (1, 3, 8, 8), "float32")
    Y = Buffer("y", (1, 3, 8, 8), "float32")
    geo = dict(N=1, C=3, H=8, W=8, OH=8, OW=8, KH=1, KW=1, SH=1, SW=1, PH=0, PW=0, DH=1, DW=1, PH_END=0, PW_END=0)
    step = kernels.call("sdk_pool2d_f32", **geo, mode=0, X=X, Y=Y)
    assert step.outputs == [Y] and step.arg("mode") == 0 and step.decl is kernels.get("sdk_pool2d_f32")
    with pytest.raises(SdkError, match="missing argument 'mode'"):
        kernels.call("sdk_pool2d_f32", **geo, X=X, Y=Y)
    with pytest.raises(SdkError, match="unknown argument"):
        kernels.call("sdk_pool2d_f32", **geo, mode=0, X=X, Y=Y, Z=Y)
    with pytest.raises(SdkError, match="'X'.*expected a buffer"):
        kernels.call("sdk_pool2d_f32", **geo, mode=0, X=1.5, Y=Y)
    with pytest.raises(SdkError, match="'Y'.*int8, expected float32"):
        kernels.call("sdk_pool2d_f32", **geo, mode=0, X=X, Y=Buffer("q", (1,), "int8"))
    with pytest.raises(SdkError, match="'mode'.*expected an integer"):
        kernels.call("sdk_pool2d_f32", **geo, mode=0.5, X=X, Y=Y)
    with pytest.raises(SdkError, match="may not be NULL"):
        kernels.call("sdk_pool2d_f32", **geo, mode=0, X=None, Y=Y)
    with pytest.raises(SdkError, match="no library kernel named"):
        kernels.call("sdk_gemm_f64")
    q = Buffer("q", (4,), "int8")
    with pytest.raises(SdkError, match="'zp'.*32 bits"):
        kernels.call("sdk_quantize_f32_s8", n=4, x=Buffer("f", (4,), "float32"), inv_scale=1, zp=2 ** 40, y=q)
    with pytest.raises(SdkError, match="symbolic dim"):
        kernels.call("sdk_quantize_f32_s8", n=4, x=Buffer("f", (4,), "float32"), inv_scale=1, zp=sym.var("n"), y=q)


def test_defaults_and_named_updates():
    A, B, Y = (Buffer(n, (4, 4), "float32") for n in "ABY")
    g = kernels.call("sdk_gemm_f32", batch=1, M=4, N=4, K=4, A=A, a_bs=0, a_rs=4, a_cs=1, B=B, b_bs=0, b_rs=4,
                     b_cs=1, Y=Y)
    assert (g.arg("alpha"), g.arg("beta"), g.arg("C")) == (1.0, 0.0, None)
    C = Buffer("C", (4,), "float32")
    g.decl.set(g, beta=1, C=C, c_cs=1)
    assert g.arg("beta") == 1.0 and isinstance(g.arg("beta"), float) and g.arg("C") is C
    assert kernels.named_args(g)["c_cs"] == 1 and g.outputs == [Y]
    scratch = Buffer("s", (64,), "float32")
    g.decl.extend(g, scratch=scratch)  # a scheduled GEMM's extra parameter (Tuning.extra)
    assert g.args[-1] is scratch and g.outputs == [Y, scratch]
    with pytest.raises(SdkError, match="takes 18 arguments"):
        g.decl.extend(g, scratch=scratch, R=None, extra=None)


def test_runtime_sources_pick_the_arch_variant():
    from sdk.targets import load_target
    A, B, Y = (Buffer(n, (4, 4), "float32") for n in "ABY")

    class Prog:
        steps = [kernels.call("sdk_gemm_f32", batch=1, M=4, N=4, K=4, A=A, a_bs=0, a_rs=4, a_cs=1, B=B, b_bs=0,
                              b_rs=4, b_cs=1, Y=Y)]
    assert kernels.runtime_sources(Prog, load_target("host")) == ["sdk_kernels.c"]
    assert kernels.runtime_sources(Prog, load_target("wasm32-browser")) == ["arch/wasm32/sdk_kernels_wasm.c"]
    assert kernels.portable("arch/wasm32/sdk_kernels_wasm.c") == "sdk_kernels.c"


def test_fp16_launcher_parameters_match_the_prototypes():
    """The CUDA code generator passes the fp16 launchers' arguments by these parameter names
    (sdk/backends/cuda/linear.py): they must be the prototypes' names, in order."""
    from sdk.backends.cuda.linear import ATTENTION_F16_PARAMS, LINEAR_F16_PARAMS
    protos = c_prototypes((RUNTIME / "cuda" / "sdk_cuda.h").read_text(), ret="sdk_status")
    for symbol, params in (("sdk_cuda_linear_f16", LINEAR_F16_PARAMS), ("sdk_cuda_linear_f16_h", LINEAR_F16_PARAMS),
                           ("sdk_cuda_attention_f16", ATTENTION_F16_PARAMS)):
        assert tuple(n for _, n in protos[symbol]) == params, symbol
    # every name but the fp16 launcher's own comes from the declared call it replaces
    gemm, att = kernels.KERNELS["sdk_gemm_f32"], kernels.KERNELS["sdk_attention_f32"]
    assert set(LINEAR_F16_PARAMS) - {p.name for p in gemm.cuda.leading + gemm.params + gemm.cuda.trailing} == \
        {"Wt", "scratch", "convert"}
    assert set(ATTENTION_F16_PARAMS) <= {p.name for p in att.cuda.leading + att.params}


def test_args_by_name_reorders_and_replaces():
    from sdk.backends.cuda.linear import args_by_name
    assert args_by_name(["a", "b", "c"], ["1", "2", "3"], ("c", "x", "a"), x="9") == ["3", "9", "1"]
    with pytest.raises(KeyError):
        args_by_name(["a"], ["1"], ("a", "missing"))
