"""One declaration per runtime library kernel (what each computes: the comment above its prototype in the header).

``tests/unit/test_kernel_interface.py`` checks these against the C prototypes of ``runtime_c/include``, the CUDA
launchers of ``runtime_c/cuda/sdk_cuda.h`` and the arch variants under ``runtime_c/src/arch/``."""
from __future__ import annotations

from .interface import EPILOGUE_ARGS, CudaImpl, LibKernel, Param, Tuning, Variant


def _p(spec: str, **kw):
    """``"int64_t M"`` / ``"const float *A"`` -> Param."""
    ctype, _, name = spec.rpartition("*") if "*" in spec else spec.rpartition(" ")
    return Param(name.strip(), (ctype.strip() + " *") if "*" in spec else ctype.strip(), **kw)


def _i64(*names):
    return tuple(Param(n, "int64_t") for n in names)


NULL = dict(nullable=True, default=None)
_CUDA_PREC = (Param("stream", "cudaStream_t"), Param("precision", "int"))  # precision: SDK_GEMM_* (mixed_precision.py)
WASM_SIMD = Variant("arch/wasm32/sdk_kernels_wasm.c", when="simd.simd128")
ARM64_NEON = Variant("arch/arm64/sdk_kernels_neon.c", when="cpu.neon")
_CONV_GEOMETRY = _i64("N", "C", "H", "W", "M", "OH", "OW", "KH", "KW", "SH", "SW", "PH", "PW", "DH", "DW")
_POOL_S8_GEOMETRY = _i64("N", "C", "H", "W", "OH", "OW", "KH", "KW", "SH", "SW", "PH", "PW")

GEMM_F32 = LibKernel(
    "sdk_gemm_f32",
    _i64("batch", "M", "N", "K") + (_p("float alpha", default=1.0), _p("const float *A")) + _i64("a_bs", "a_rs", "a_cs")
    + (_p("const float *B"),) + _i64("b_bs", "b_rs", "b_cs")
    + (_p("float beta", default=0.0), _p("const float *C", **NULL), _p("int64_t c_rs", default=0),
       _p("int64_t c_cs", default=0), _p("float *Y")),
    variants=(WASM_SIMD,),
    cuda=CudaImpl("sdk_cuda_gemm_f32", _CUDA_PREC, EPILOGUE_ARGS),
    tune=Tuning("gemm", (("A", "A"), ("B", "B"), ("C", "C"), ("Y", "Y"))),
    tensor_cores=True, epilogue="step")

CONV2D_F32 = LibKernel(
    "sdk_conv2d_f32",
    _CONV_GEOMETRY + (_p("int64_t groups"), _p("const float *X"), _p("const float *Wt"),
                      _p("const float *bias", **NULL), _p("float *Y")),
    variants=(WASM_SIMD, ARM64_NEON), cuda=CudaImpl("sdk_cuda_conv2d_f32", _CUDA_PREC, EPILOGUE_ARGS),
    tune=Tuning("conv2d", (("X", "A"), ("Wt", "B"), ("bias", "C"), ("Y", "Y"))), tensor_cores=True, epilogue="step")

CONV2D_GRAD_WEIGHT_F32 = LibKernel(  # sdk/ops/grad.py: sdk.ConvGradWeight as im2col panels times dY (GEMMs)
    "sdk_conv2d_grad_weight_f32",
    _CONV_GEOMETRY + _i64("groups", "P") + (_p("const float *X"), _p("const float *dY"),
                                             _p("const float *acc", **NULL), _p("float beta", default=0.0),
                                             _p("float *dW"), _p("float *scratch")))

POOL2D_F32 = LibKernel(
    "sdk_pool2d_f32",
    _i64("N", "C", "H", "W", "OH", "OW", "KH", "KW", "SH", "SW", "PH", "PW", "DH", "DW", "PH_END", "PW_END", "mode")
    + (_p("const float *X"), _p("float *Y")),
    variants=(WASM_SIMD,), cuda=CudaImpl("sdk_cuda_pool2d_f32"))

EPILOGUE_F32 = LibKernel(
    "sdk_epilogue_f32",
    (_p("int64_t n"), _p("float *Y"), _p("const float *R", **NULL), _p("int64_t act"), _p("float a"), _p("float b")),
    cuda=CudaImpl("sdk_cuda_epilogue_f32"))

# Row kernels: lowered to only where a profile's [lower] row_kernels is on (CUDA: one warp per row, one pass)
SOFTMAX_F32 = LibKernel(
    "sdk_softmax_f32", _i64("rows", "cols") + (_p("const float *X"), _p("float *Y")),
    cuda=CudaImpl("sdk_cuda_softmax_f32"))

LAYERNORM_F32 = LibKernel(
    "sdk_layernorm_f32",
    _i64("rows", "cols") + (_p("const float *X"), _p("const float *scale"), _p("const float *bias", **NULL),
                            _p("float eps"), _p("float *Y")),
    cuda=CudaImpl("sdk_cuda_layernorm_f32"))

# Fused attention (sdk/transform/attention.py matches MatMul -> [Add mask] -> Softmax -> MatMul): strided Q/K/V/O
# rows, so the head transposes around it are read and written in place
ATTENTION_F32 = LibKernel(
    "sdk_attention_f32",
    _i64("B", "H", "Sq", "Sk", "D", "Dv") + (_p("float scale"), _p("const float *Q")) + _i64("q_bs", "q_hs", "q_rs")
    + (_p("const float *K"),) + _i64("k_bs", "k_hs", "k_rs") + (_p("const float *V"),) + _i64("v_bs", "v_hs", "v_rs")
    + (_p("const float *mask", **NULL),) + _i64("m_bs", "m_hs", "m_qs", "m_ks", "causal") + (_p("float *O"),)
    + _i64("o_bs", "o_hs", "o_rs"),
    cuda=CudaImpl("sdk_cuda_attention_f32", _CUDA_PREC), tensor_cores=True)

DWCONV2D_F32 = LibKernel(
    "sdk_dwconv2d_f32",
    _CONV_GEOMETRY + (_p("const float *X"), _p("const float *Wt"), _p("const float *bias", **NULL),
                      _p("const float *R", **NULL), _p("int64_t act", default=0), _p("float act_a", default=0.0),
                      _p("float act_b", default=0.0), _p("float *Y"), _p("float *pad"), _p("int64_t pad_floats")),
    epilogue="args")

DWCONV2D_NHWC_F32 = LibKernel(  # sdk/transform/layout.py
    "sdk_dwconv2d_nhwc_f32",
    _i64("N", "H", "W", "C", "OH", "OW", "KH", "KW", "SH", "SW", "PH", "PW", "DH", "DW")
    + (_p("const float *X"), _p("const float *Wt"), _p("const float *bias", **NULL), _p("const float *R", **NULL),
       _p("int64_t act", default=0), _p("float act_a", default=0.0), _p("float act_b", default=0.0),
       _p("float *Y")),
    epilogue="args")

GAP_NHWC_F32 = LibKernel(  # sdk/transform/layout.py: a global average pooling of an NHWC tensor
    "sdk_gap_nhwc_f32", _i64("N", "HW", "C") + (_p("const float *X"), _p("float *Y")))

CONV2D_STEM_NHWC_F32 = LibKernel(  # sdk/transform/layout.py: NCHW in, NHWC out, C * KH * KW <= 64
    "sdk_conv2d_stem_nhwc_f32",
    _CONV_GEOMETRY + (_p("const float *X"), _p("const float *Wt"), _p("const float *bias", **NULL),
                      _p("const float *R", **NULL), _p("int64_t act", default=0), _p("float act_a", default=0.0),
                      _p("float act_b", default=0.0), _p("float *Y")),
    epilogue="args")

DWPW_NHWC_F32 = LibKernel(  # sdk/transform/fuse_dw_project.py: depthwise + pointwise projection, band by band
    "sdk_dwpw_nhwc_f32",
    _i64("N", "H", "W", "C", "OH", "OW", "KH", "KW", "SH", "SW", "PH", "PW")
    + (_p("const float *X"), _p("const float *Wd"), _p("const float *bd", **NULL), _p("int64_t dw_act"),
       _p("float dw_a"), _p("float dw_b")) + _i64("M", "Mp")
    + (_p("const float *B"), _p("const float *bp", **NULL)) + _i64("BH", "slots")
    + (_p("const float *R", **NULL), _p("int64_t act", default=0), _p("float act_a", default=0.0),
       _p("float act_b", default=0.0), _p("float *Y"), _p("float *scratch")),
    "sdk_fused.h", epilogue="args")

PWDW_NHWC_F32 = LibKernel(  # sdk/transform/fuse_dw_project.py: pointwise expansion + depthwise, band by band
    "sdk_pwdw_nhwc_f32",
    _i64("N", "H", "W", "K", "C", "Cp")
    + (_p("const float *X"), _p("const float *B"), _p("const float *be", **NULL), _p("int64_t e_act"),
       _p("float e_a"), _p("float e_b")) + _i64("OH", "OW", "KH", "KW", "SH", "SW", "PH", "PW")
    + (_p("const float *Wd"), _p("const float *bd", **NULL)) + _i64("BH", "slots")
    + (_p("const float *R", **NULL), _p("int64_t act", default=0), _p("float act_a", default=0.0),
       _p("float act_b", default=0.0), _p("float *Y"), _p("float *scratch")),
    "sdk_fused.h", epilogue="args")

STEMDW_NHWC_F32 = LibKernel(  # sdk/transform/fuse_dw_project.py fuse_stem_dw: stem + depthwise, band by band
    "sdk_stemdw_nhwc_f32",
    _i64("N", "C", "H", "W", "M", "EH", "EW", "SKH", "SKW", "SSH", "SSW", "SPH", "SPW")
    + (_p("const float *X"), _p("const float *Ws"), _p("const float *bs", **NULL), _p("int64_t s_act"),
       _p("float s_a"), _p("float s_b")) + _i64("OH", "OW", "KH", "KW", "SH", "SW", "PH", "PW")
    + (_p("const float *Wd"), _p("const float *bd", **NULL)) + _i64("BH", "slots")
    + (_p("const float *R", **NULL), _p("int64_t act", default=0), _p("float act_a", default=0.0),
       _p("float act_b", default=0.0), _p("float *Y"), _p("float *scratch")),
    epilogue="args")

GEMV_F32 = LibKernel(
    "sdk_gemv_f32",
    _i64("rows", "N", "K") + (_p("const float *X"),) + _i64("x_rs", "x_cs")
    + (_p("const float *Wp"), _p("const float *bias", **NULL), _p("int64_t bias_s", default=0),
       _p("const float *R", **NULL), _p("int64_t act", default=0), _p("float act_a", default=0.0),
       _p("float act_b", default=0.0), _p("float *Y")),
    "sdk_gemv.h", epilogue="args")

GEMV_F16W_F32 = LibKernel(  # sdk/tune/gemv.py: the same over a float16 packed weight (--weights fp16; Wp: uint16 bits)
    "sdk_gemv_f16w_f32",
    _i64("rows", "N", "K") + (_p("const float *X"),) + _i64("x_rs", "x_cs")
    + (_p("const uint16_t *Wp"), _p("const float *bias", **NULL), _p("int64_t bias_s", default=0),
       _p("const float *R", **NULL), _p("int64_t act", default=0), _p("float act_a", default=0.0),
       _p("float act_b", default=0.0), _p("float *Y")),
    "sdk_gemv.h", epilogue="args")

GEMM_SMALLM_F32 = LibKernel(  # sdk/tune/gemv.py: a few rows times a run-time operand (attention over a KV cache)
    "sdk_gemm_smallm_f32",
    _i64("batch", "M", "N", "K") + (_p("float alpha"), _p("const float *A")) + _i64("a_bs", "a_rs", "a_cs")
    + (_p("const float *B"),) + _i64("b_bs", "b_rs", "b_cs") + (_p("float *Y"),),
    "sdk_gemv.h")

KV_APPEND_F32 = LibKernel(  # sdk/transform/kv_cache.py: the key/value cache grown in place while generating
    "sdk_kv_append_f32",
    _i64("B", "H", "P", "D", "cap") + (_p("const float *past"), _p("const int64_t *parent", **NULL),
                                       _p("const float *Xn")) + _i64("x_bs", "x_hs") + (_p("float *present"),),
    "sdk_gemv.h")

WINOGRAD_F32 = LibKernel(  # sdk/tune/winograd.py
    "sdk_winograd_f32",
    _i64("N", "C", "H", "W", "M", "OH", "OW", "PH", "PW", "m", "tb")
    + (_p("const float *X"), _p("const float *U"), _p("const float *bias", **NULL), _p("const float *R", **NULL),
       _p("int64_t act", default=0), _p("float act_a", default=0.0), _p("float act_b", default=0.0),
       _p("int64_t layout", default=0), _p("float *Y"), _p("float *scratch")),
    "sdk_winograd.h", epilogue="args")

_S8 = "sdk_kernels_int8.h"
QUANTIZE_F32_S8 = LibKernel(
    "sdk_quantize_f32_s8",
    (_p("int64_t n"), _p("const float *x"), _p("float inv_scale"), _p("int32_t zp"), _p("int8_t *y")), _S8)

DEQUANTIZE_S8_F32 = LibKernel(
    "sdk_dequantize_s8_f32",
    (_p("int64_t n"), _p("const int8_t *x"), _p("float scale"), _p("int32_t zp"), _p("float *y")), _S8)

_REQUANT_OUT = (_p("const int32_t *mult"), _p("const int32_t *shift"), _p("int32_t y_zp"), _p("int32_t act_min"),
                _p("int32_t act_max"), _p("int8_t *Y"), _p("int16_t *scratch"))
CONV2D_S8 = LibKernel(
    "sdk_conv2d_s8",
    _i64("N", "C", "H", "W", "M", "OH", "OW", "KH", "KW", "SH", "SW", "PH", "PW", "groups")
    + (_p("const int8_t *X"), _p("int32_t x_zp"), _p("const int8_t *Wt"), _p("const int32_t *bias", **NULL))
    + _REQUANT_OUT, _S8)

FC_S8 = LibKernel(
    "sdk_fc_s8",
    _i64("M", "N", "K") + (_p("const int8_t *X"), _p("int32_t x_zp"), _p("const int8_t *Wt"),
                           _p("const int32_t *bias", **NULL)) + _REQUANT_OUT, _S8)

MAXPOOL2D_S8 = LibKernel("sdk_maxpool2d_s8", _POOL_S8_GEOMETRY + (_p("const int8_t *X"), _p("int8_t *Y")), _S8)

AVGPOOL2D_S8 = LibKernel(
    "sdk_avgpool2d_s8",
    _POOL_S8_GEOMETRY + (_p("int64_t count_include_pad"), _p("int32_t zp"), _p("const int8_t *X"), _p("int8_t *Y")),
    _S8)

ADD_S8 = LibKernel(
    "sdk_add_s8",
    (_p("int64_t n"), _p("const int8_t *A"), _p("int32_t a_zp"), _p("int32_t a_mult"), _p("int32_t a_shift"),
     _p("const int8_t *B"), _p("int32_t b_zp"), _p("int32_t b_mult"), _p("int32_t b_shift"), _p("int32_t y_mult"),
     _p("int32_t y_shift"), _p("int32_t y_zp"), _p("int32_t act_min"), _p("int32_t act_max"), _p("int8_t *Y")), _S8)

NMS_F32 = LibKernel(
    "sdk_nms_f32",
    (_p("const float *boxes"), _p("const float *scores")) + _i64("B", "C", "N")
    + (_p("const int64_t *max_out", **NULL), _p("const float *iou_thr", **NULL), _p("const float *score_thr", **NULL),
       _p("int64_t center_point_box", default=0), _p("uint8_t *alive"), _p("int64_t *selected"), _p("int64_t cap"),
       _p("int64_t *count")),
    "sdk_detect.h")

# Sparse weights (sdk/transform/sparsify.py): one kernel per format and column-index type
SPARSE_INDEX = {"uint8": ("uint8_t", "u8"), "uint16": ("uint16_t", "u16"), "int32": ("int32_t", "i32")}


def _weight(fmt: str, ctype: str) -> tuple:
    """A format's block/slice rows and arrays, in the kernels' parameter order (sdk_sparse.h)."""
    arrays = {"csr": ("const int32_t *rowptr",), "bsr": ("const int32_t *rowptr",), "ell": ("const int32_t *sliceptr",),
              "hyb": ("const int32_t *rowptr",)}[fmt]
    arrays += (f"const {ctype} *cols", "const float *vals")
    if fmt == "hyb":
        arrays += ("const int32_t *crowptr", f"const {ctype} *ccols", "const float *cvals")
    return (_i64("BR") if fmt != "csr" else ()) + tuple(_p(a) for a in arrays)


def _spmm(fmt: str, index: str) -> LibKernel:
    ctype, suffix = SPARSE_INDEX[index]
    return LibKernel(
        f"sdk_spmm_{fmt}_f32_{suffix}",
        _i64("batch", "O", "P", "K") + _weight(fmt, ctype) + (_p("const float *X"),)
        + _i64("x_bs", "x_ks", "x_ps")
        + (_p("const float *bias", **NULL), _p("const float *R", **NULL), _p("int64_t act", default=0),
           _p("float act_a", default=0.0), _p("float act_b", default=0.0), _p("float *Y"))
        + _i64("y_bs", "y_os", "y_ps") + (_p("float *scratch"),),
        "sdk_sparse.h", epilogue="args")


def _spconv(fmt: str, index: str) -> LibKernel:
    ctype, suffix = SPARSE_INDEX[index]
    return LibKernel(
        f"sdk_spconv2d_{fmt}_f32_{suffix}",
        _i64("N", "C", "H", "W", "O", "OH", "OW", "KH", "KW", "SH", "SW", "PH", "PW", "DH", "DW")
        + _weight(fmt, ctype)
        + (_p("const float *X"),
           _p("const float *bias", **NULL), _p("const float *R", **NULL), _p("int64_t act", default=0),
           _p("float act_a", default=0.0), _p("float act_b", default=0.0), _p("float *Y"), _p("float *scratch")),
        "sdk_sparse.h", epilogue="args")


INDEXED_FORMATS = ("csr", "bsr", "ell", "hyb")  # the formats with column indices: one kernel per index type
SPMM_F32 = {(fmt, ix): _spmm(fmt, ix) for fmt in INDEXED_FORMATS for ix in SPARSE_INDEX}
SPCONV_F32 = {(fmt, ix): _spconv(fmt, ix) for fmt in INDEXED_FORMATS for ix in SPARSE_INDEX}
_SPARSE_EPILOGUE = (_p("const float *bias", **NULL), _p("const float *R", **NULL), _p("int64_t act", default=0),
                    _p("float act_a", default=0.0), _p("float act_b", default=0.0), _p("float *Y"))
SPMM_NM_F32 = LibKernel(
    "sdk_spmm_nm_f32",
    _i64("batch", "O", "P", "K", "NN", "M") + (_p("const uint8_t *idx"), _p("const float *vals"), _p("const float *X"))
    + _i64("x_bs", "x_ks", "x_ps") + _SPARSE_EPILOGUE + _i64("y_bs", "y_os", "y_ps") + (_p("float *scratch"),),
    "sdk_sparse.h", epilogue="args")
SPCONV_NM_F32 = LibKernel(
    "sdk_spconv2d_nm_f32",
    _i64("N", "C", "H", "W", "O", "OH", "OW", "KH", "KW", "SH", "SW", "PH", "PW", "DH", "DW", "NN", "M")
    + (_p("const uint8_t *idx"), _p("const float *vals"), _p("const float *X")) + _SPARSE_EPILOGUE
    + (_p("float *scratch"),), "sdk_sparse.h", epilogue="args")



def _spmm_s8(index: str) -> LibKernel:
    ctype, suffix = SPARSE_INDEX[index]
    return LibKernel(
        f"sdk_spmm_csr_s8_{suffix}",
        _i64("batch", "O", "P", "K") + (_p("const int32_t *rowptr"), _p(f"const {ctype} *cols"),
                                        _p("const int8_t *vals"), _p("const int8_t *X"))
        + _i64("x_bs", "x_ks", "x_ps") + (_p("int32_t x_zp"), _p("const int32_t *bias", **NULL))
        + (_p("const int32_t *mult"), _p("const int32_t *shift"), _p("int32_t y_zp"), _p("int32_t act_min"),
           _p("int32_t act_max"), _p("int8_t *Y")) + _i64("y_bs", "y_os", "y_ps") + (_p("int16_t *scratch"),),
        "sdk_sparse_int8.h")


SPMM_S8 = {ix: _spmm_s8(ix) for ix in SPARSE_INDEX}

KERNELS = {k.name: k for k in (GEMM_F32, CONV2D_F32, POOL2D_F32, EPILOGUE_F32, SOFTMAX_F32, LAYERNORM_F32, ATTENTION_F32,
                               DWCONV2D_F32, DWCONV2D_NHWC_F32, DWPW_NHWC_F32, PWDW_NHWC_F32, STEMDW_NHWC_F32,
                               CONV2D_STEM_NHWC_F32,
                               GAP_NHWC_F32, GEMV_F32, GEMV_F16W_F32, GEMM_SMALLM_F32, KV_APPEND_F32, WINOGRAD_F32, CONV2D_GRAD_WEIGHT_F32,
                               QUANTIZE_F32_S8, DEQUANTIZE_S8_F32, CONV2D_S8, FC_S8, MAXPOOL2D_S8, AVGPOOL2D_S8,
                               ADD_S8, NMS_F32,
                               *SPMM_F32.values(), *SPCONV_F32.values(), SPMM_NM_F32, SPCONV_NM_F32,
                               *SPMM_S8.values())}
