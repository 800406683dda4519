"""More families for the zoo (helper zoo20, 2026-12-06): Hugging Face Gemma 3, Qwen2-MoE, DeepSeek-V3
(multi-head latent attention + routed / shared experts), LayoutLM, Perceiver, Data2Vec audio, SEW, SEW-D;
timm GhostNetV2, NFNet, MaxViT, CoAtNet, FastViT, EdgeNeXt, CaiT, XCiT, PiT; torchvision's FCOS head. Tiny widths,
random non-degenerate weights (export.py's randomize), fixed seeds (4001+).

Each entry of ``ZOO`` has export.py's keys.
"""
from functools import partial

import torch
from torch import nn

from zoo_more import AUDIO, GQA, IMG, IMG_HW, SEQ16, TEXT, VOCAB, Audio, Encoder, _hf, _ids, _image, _mask

# 16 wide (the zoo's room is shared): heads of 8
HF_TEXT = dict(vocab_size=VOCAB, hidden_size=16, num_hidden_layers=2, num_attention_heads=2, intermediate_size=32,
               max_position_embeddings=64, initializer_range=0.1)
GQA16 = dict(GQA, hidden_size=16, intermediate_size=32, num_attention_heads=2, num_key_value_heads=1, head_dim=8)


# ---------------------------------------------------------------------------------------------------------------
# Hugging Face decoders
def gemma3():
    # sliding (window 4) and global layers with different rope bases, q/k RMSNorm, (1 + w) RMSNorm, GeGLU,
    # sqrt(hidden)-scaled embeddings
    return Encoder(_hf("Gemma3TextConfig", "Gemma3TextModel", sliding_window=4,
                       layer_types=["sliding_attention", "full_attention"], query_pre_attn_scalar=8,
                       pad_token_id=0, bos_token_id=2, eos_token_id=1, **GQA16))


def qwen2_moe():
    # top-2 of 4 routed experts plus a sigmoid-gated shared expert in every layer
    from transformers import Qwen2MoeConfig, Qwen2MoeModel
    cfg = Qwen2MoeConfig(num_experts=4, num_experts_per_tok=2, moe_intermediate_size=16,
                         shared_expert_intermediate_size=16, decoder_sparse_step=1, norm_topk_prob=True, **GQA16)
    cfg._attn_implementation, cfg._experts_implementation = "eager", "batched_mm"
    return Encoder(Qwen2MoeModel(cfg))


def deepseek_v3():
    # multi-head latent attention (low-rank q and kv, a shared rotary key part), a dense first layer, then
    # sigmoid-scored grouped top-k routing over 4 experts + a shared expert
    from transformers import DeepseekV3Config, DeepseekV3Model
    cfg = DeepseekV3Config(vocab_size=VOCAB, hidden_size=16, intermediate_size=32, moe_intermediate_size=8,
                           num_hidden_layers=2, num_attention_heads=2, num_key_value_heads=2, n_shared_experts=1,
                           n_routed_experts=4, num_experts_per_tok=2, n_group=2, topk_group=1,
                           first_k_dense_replace=1, kv_lora_rank=8, q_lora_rank=8, qk_rope_head_dim=4,
                           qk_nope_head_dim=4, v_head_dim=8, max_position_embeddings=64, initializer_range=0.1,
                           pad_token_id=0, bos_token_id=1, eos_token_id=2)
    cfg._attn_implementation, cfg._experts_implementation = "eager", "batched_mm"
    return Encoder(DeepseekV3Model(cfg))


# ---------------------------------------------------------------------------------------------------------------
# Hugging Face encoders
class LayoutLM(nn.Module):
    """LayoutLM: token + 2-d position embeddings of each word's box (x0, y0, x1, y1 and its width / height); the
    boxes come sorted from two random corners so that widths and heights are not negative."""
    def __init__(self):
        super().__init__()
        self.model = _hf("LayoutLMConfig", "LayoutLMModel", max_2d_position_embeddings=64, **HF_TEXT)

    def forward(self, ids, boxes, mask):
        lo, hi = torch.minimum(boxes[..., :2], boxes[..., 2:]), torch.maximum(boxes[..., :2], boxes[..., 2:])
        return self.model(input_ids=ids, bbox=torch.cat([lo, hi], -1), attention_mask=mask).last_hidden_state


AUDIO_CFG = dict(hidden_size=16, num_hidden_layers=2, num_attention_heads=2, intermediate_size=32,
                 conv_dim=(8, 8, 8), conv_stride=(5, 2, 2), conv_kernel=(10, 3, 3), num_conv_pos_embeddings=16,
                 num_conv_pos_embedding_groups=4, initializer_range=0.1)


def data2vec_audio():
    # wav2vec 2.0's layout with a stack of 5 conv positional layers (LayerNorm over channels, GELU)
    return Audio(_hf("Data2VecAudioConfig", "Data2VecAudioModel", num_conv_pos_embeddings=4, **{
        k: v for k, v in AUDIO_CFG.items() if k != "num_conv_pos_embeddings"}))


def sew():
    # Squeezed wav2vec: the sequence pooled by 2 before the transformer and upsampled after (repeat + pad)
    return Audio(_hf("SEWConfig", "SEWModel", squeeze_factor=2, **AUDIO_CFG))


def sew_d():
    # SEW with DeBERTa-v2 attention (disentangled relative positions, log buckets)
    return Audio(_hf("SEWDConfig", "SEWDModel", squeeze_factor=2, position_buckets=16, max_relative_positions=32,
                     **AUDIO_CFG))


class Perceiver(nn.Module):
    """Perceiver: 8 learned latents cross-attend to a [batch, seq, 16] input (its length free), then attend to
    themselves; with an input padding mask."""
    def __init__(self):
        super().__init__()
        self.model = _hf("PerceiverConfig", "PerceiverModel", num_latents=8, d_latents=16, d_model=16,
                         num_blocks=1, num_self_attends_per_block=2, num_self_attention_heads=2,
                         num_cross_attention_heads=1, initializer_range=0.1)

    def forward(self, x, mask):
        return self.model(inputs=x, attention_mask=mask).last_hidden_state


# ---------------------------------------------------------------------------------------------------------------
# timm
def ghostnetv2():
    # ghost modules (a cheap depthwise half concatenated), DFC attention (strided avg pool, 1xk / kx1 depthwise,
    # sigmoid, nearest upsampling), squeeze-excite
    from timm.models.ghostnet import _create_ghostnet
    m = _create_ghostnet("ghostnetv2_100", width=0.25, version="v2", num_classes=10)
    # the first six stages (DFC attention from the third on); a 32-wide head instead of 1280
    m.blocks = m.blocks[:6]
    with torch.no_grad():
        chans = m.blocks(m.act1(m.bn1(m.conv_stem(torch.zeros(1, 3, 64, 64))))).shape[1]
    m.conv_head, m.classifier = nn.Conv2d(chans, 32, 1), nn.Linear(32, 10)
    return m


def nfnet():
    # normalizer-free: scaled weight-standardised convs (weights normalised in the graph), skip gains, GELU
    from timm.models.nfnet import NfCfg, NormFreeNet
    cfg = NfCfg(depths=(1, 1, 1, 1), channels=(8, 16, 24, 32), stem_chs=8, stem_type="deep_quad",
                group_size=4, bottle_ratio=0.5, extra_conv=True, num_features=32, act_layer="gelu",
                attn_layer="se", attn_kwargs=dict(rd_ratio=0.5))
    return NormFreeNet(cfg, num_classes=10)


def _maxxvit(block_type, **tcfg):
    from timm.models.maxxvit import MaxxVit, MaxxVitCfg, MaxxVitConvCfg, MaxxVitTransformerCfg
    cfg = MaxxVitCfg(embed_dim=(8, 16, 16, 16), depths=(1, 1, 1, 1), block_type=block_type, stem_width=(8, 16),
                     conv_cfg=MaxxVitConvCfg(expand_ratio=2.0), transformer_cfg=MaxxVitTransformerCfg(dim_head=8,
                                                                                                   **tcfg))
    return MaxxVit(cfg, img_size=64, num_classes=10)


def maxvit(fused=True):
    # MBConv + block (window) attention + grid attention, relative position bias tables
    from timm.layers import set_fused_attn, use_fused_attn
    was = use_fused_attn()
    set_fused_attn(fused)
    try:
        return _maxxvit(("M", "M", "M", "M"), window_size=(2, 2), grid_size=(2, 2))
    finally:
        set_fused_attn(was)


def coatnet():
    # conv stages then transformer stages (relative position bias, downsampling by pooling)
    return _maxxvit(("C", "C", "T", "T"))


def fastvit():
    # FastViT-SA12's layout: RepMixer token mixing (depthwise convs with layer scale), a conditional positional
    # encoding and attention in the last stage, MobileOne stem (branches as in training)
    import timm
    return timm.create_model("fastvit_sa12", pretrained=False, embed_dims=(8, 16, 32, 32), layers=(1, 1, 1, 1),
                             num_classes=10)


def edgenext():
    # convolution encoders (large-kernel depthwise) and split depthwise transposed attention (cross-covariance
    # over channels, L2-normalised q/k, learned temperature)
    import timm
    return timm.create_model("edgenext_xx_small", pretrained=False, dims=(8, 8, 16, 16), depths=(1, 1, 1, 1),
                             heads=(2, 2, 2, 2), num_classes=10)


def cait():
    # talking-heads attention (mixing across heads before and after the softmax), layer scale, class attention
    from timm.models.cait import Cait
    return Cait(img_size=32, patch_size=8, embed_dim=16, depth=2, num_heads=4, depth_token_only=1, init_values=0.1,
                num_classes=10)


def xcit():
    # cross-covariance attention (over channels, L2-normalised q/k), local patch interaction (depthwise convs + BN),
    # Fourier position encoding, conv patch embedding with BN, class attention
    from timm.models.xcit import Xcit
    return Xcit(img_size=32, patch_size=8, embed_dim=16, depth=2, num_heads=2, cls_attn_layers=1, eta=1.0,
                num_classes=10)


def pit():
    # pooling-based ViT: tokens reshaped to a grid and pooled by a strided depthwise conv between stages
    from timm.models.pit import PoolingVisionTransformer
    return PoolingVisionTransformer(img_size=32, patch_size=4, stride=2, base_dims=[8, 8], depth=[1, 1],
                                    heads=[2, 4], mlp_ratio=2, num_classes=10)


# ---------------------------------------------------------------------------------------------------------------
# torchvision
class FCOSHeads(nn.Module):
    """A small conv backbone, FeaturePyramidNetwork with P6/P7 and torchvision's FCOSHead (GroupNorm towers,
    class logits, box regression through ReLU, centerness) over all levels, before decoding."""
    def __init__(self):
        super().__init__()
        from torchvision.models.detection.fcos import FCOSClassificationHead, FCOSHead, FCOSRegressionHead
        from torchvision.ops import FeaturePyramidNetwork
        from torchvision.ops.feature_pyramid_network import LastLevelP6P7
        blk = lambda i, o, s: nn.Sequential(nn.Conv2d(i, o, 3, s, 1, bias=False), nn.BatchNorm2d(o), nn.ReLU())
        self.c3 = nn.Sequential(blk(3, 8, 2), blk(8, 8, 2), blk(8, 8, 2))
        self.c4, self.c5 = blk(8, 12, 2), blk(12, 16, 2)
        self.fpn = FeaturePyramidNetwork([8, 12, 16], 8, extra_blocks=LastLevelP6P7(8, 8))
        # FCOSHead's towers with GroupNorm(4) (its default has 32 groups, too many for 8 channels)
        self.head = FCOSHead(32, 1, 5, num_convs=2)
        gn = partial(nn.GroupNorm, 4)
        self.head.classification_head = FCOSClassificationHead(8, 1, 5, 2, norm_layer=gn)
        self.head.regression_head = FCOSRegressionHead(8, 1, 2, norm_layer=gn)

    def forward(self, image):
        c3 = self.c3(image)
        c4 = self.c4(c3)
        out = self.head(list(self.fpn({"c3": c3, "c4": c4, "c5": self.c5(c4)}).values()))
        return out["cls_logits"], out["bbox_regression"], out["bbox_ctrness"]


# ---------------------------------------------------------------------------------------------------------------
LAYOUT = dict(TEXT, inputs=[_ids(), _ids("boxes", ("batch", "seq", 4), vocab=64), _mask()])
ZOO = {
    "gemma3": dict(TEXT, build=gemma3, seed=4002),
    "qwen2_moe": dict(TEXT, build=qwen2_moe, seed=4003),
    "deepseek_v3": dict(TEXT, build=deepseek_v3, seed=4004),
    "layoutlm": dict(LAYOUT, build=LayoutLM, seed=4005),
    "data2vec_audio": dict(AUDIO, build=data2vec_audio, seed=4008),
    "sew": dict(AUDIO, build=sew, seed=4009),
    "sew_d": dict(AUDIO, build=sew_d, seed=4010),
    "perceiver": dict(SEQ16, build=Perceiver, seed=4022, inputs=SEQ16["inputs"] + [_mask()], outputs=["latents"],
                      dynamic_outputs={"latents": {0: "batch"}}),
    "ghostnetv2": dict(IMG_HW, build=ghostnetv2, seed=4012),
    "nfnet": dict(IMG_HW, build=nfnet, seed=4013),
    # the dynamo exporter fails on timm's fused (sdpa) attention here like on BEiT's ("Cannot view a tensor with
    # shape torch.Size([16*s77, 4, 2, 8]) ..."): its file takes the unfused attention
    "maxvit": dict(IMG, build=maxvit, build_dynamo=lambda: maxvit(False), seed=4014),
    "coatnet": dict(IMG, build=coatnet, seed=4015),
    "fastvit": dict(IMG_HW, build=fastvit, seed=4016),
    "edgenext": dict(IMG, build=edgenext, seed=4017),
    "cait": dict(dict(IMG, inputs=[_image(hw=32)]), build=cait, seed=4018),
    "xcit": dict(dict(IMG, inputs=[_image(hw=32)]), build=xcit, seed=4019),
    "pit": dict(dict(IMG, inputs=[_image(hw=32)]), build=pit, seed=4020),
    "fcos_heads": dict(build=FCOSHeads, seed=4021, inputs=[_image(hw=128)], outputs=["logits", "boxes", "centerness"],
                       bounds={"batch": 2}, dim_sets=[{"batch": 1}, {"batch": 2}], example_dims={"batch": 2}),
}
