"""Models users bring (helper xf47, 2026-12-07): torch ops exported as users write them (resampling modes, grid_sample
modes, scatter reductions and index_put, integer arithmetic on shapes, boolean selection) and Hugging Face /
torchvision families whose shapes are arithmetic on the input's dims (blocks padded to a multiple of the block
length, TensorFlow SAME padding, conv feature encoders over audio, variable numbers of patches, multi-scale
deformable attention, 3-d shifted windows). Tiny widths, random non-degenerate weights (export.py's randomize),
fixed seeds (4701+).

Each entry of ``ZOO`` has export.py's keys.
"""
import torch
from torch import nn
from torch.nn import functional as F

from zoo_more import AUDIO, IMG, IMG_HW, TEXT, VOCAB, Encoder, _floats, _hf, _ids, _mask


# ---------------------------------------------------------------------------------------------------------------
# torch ops
class ResampleModes(nn.Module):
    """F.interpolate and F.grid_sample in the modes the zoo lacked: nearest-exact x2 then area back, bilinear with
    antialias to half size, bilinear align_corners to an explicit size, trilinear on a 5-d tensor, grid_sample
    nearest / reflection / align_corners and bilinear border at a sampling grid the caller gives (a grid computed
    in the model would put nearest sampling at the mercy of last-bit differences between engines), at a dynamic
    height and width. ``ts``: what TorchScript can export (nearest for nearest-exact, average pooling for area, no antialias)."""
    def __init__(self, ts=False):
        super().__init__()
        self.ts = ts
        self.conv = nn.Conv2d(3, 4, 3, 1, 1)
        self.head = nn.Conv2d(4 * 5, 8, 1)

    def forward(self, image, grid):
        x = torch.tanh(self.conv(image))
        h, w = x.shape[-2:]
        if self.ts:
            a = F.avg_pool2d(F.interpolate(x, scale_factor=2.0, mode="nearest"), 2)
        else:
            a = F.interpolate(F.interpolate(x, scale_factor=2.0, mode="nearest-exact"), size=(h, w), mode="area")
        b = F.interpolate(F.interpolate(x, scale_factor=0.5, mode="bilinear", antialias=not self.ts), size=(h, w),
                          mode="bilinear", align_corners=True)
        c = F.interpolate(x.unsqueeze(2), scale_factor=(2.0, 0.5, 0.5), mode="trilinear").mean(2)
        c = F.interpolate(c, size=(h, w), mode="bilinear")
        d = F.grid_sample(x, grid * 1.25, mode="nearest", padding_mode="reflection", align_corners=True)
        e = F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)
        return self.head(torch.cat([a, b, c, d, e], 1))


class ScatterOps(nn.Module):
    """scatter_reduce (amax, amin, prod, mean with include_self), index_add / index_put(accumulate=True) with
    computed indices, index_select, gather of a computed permutation: the bookkeeping of users' pooling and
    graph code, at a dynamic batch and sequence length. A mean is a sum over counts: the dynamo exporter's
    reduce="mean" file differs from torch (onnxruntime 1.32). ``ts``: what TorchScript can export
    (include_self=True; index_put(accumulate=True) for index_add, whose TorchScript file drops repeated indices)."""
    def __init__(self, ts=False):
        super().__init__()
        self.ts = ts
        self.proj = nn.Linear(16, 16)
        self.bucket = nn.Linear(16, 5)

    def forward(self, x):
        h = self.proj(x)                                                         # [b, s, 16]
        b, s, _ = h.shape
        idx = self.bucket(x).argmax(-1)                                          # [b, s] in 0..4
        ix = idx.unsqueeze(-1).expand(-1, -1, 16)
        base = torch.zeros(b, 5, 16)
        mx = base.scatter_reduce(1, ix, h, reduce="amax", include_self=self.ts)
        mn = base.scatter_reduce(1, ix, h, reduce="amin", include_self=True)
        pr = torch.ones(b, 5, 16).scatter_reduce(1, ix, torch.sigmoid(h) + 0.5, reduce="prod")
        count = base.scatter_add(1, ix, torch.ones_like(h))
        mean = base.scatter_reduce(1, ix, h, reduce="sum") / count.clamp(min=1.0)
        rows = torch.arange(b).unsqueeze(1).expand(-1, s)
        acc = torch.zeros(b, 5, 16).index_put((rows, idx), h, accumulate=True)
        at = (rows * 5 + idx).reshape(-1)
        if self.ts:
            flat = torch.zeros(b * 5, 16).index_put((at,), h.reshape(-1, 16), accumulate=True)
        else:
            flat = torch.zeros(b * 5, 16).index_add(0, at, h.reshape(-1, 16))
        rev = torch.index_select(h, 1, torch.arange(s - 1, -1, -1))
        order = torch.argsort(h[..., 0], dim=1)
        sorted_rows = torch.gather(h, 1, order.unsqueeze(-1).expand(-1, -1, 16))
        pooled = torch.cat([mx, mn, pr, mean, acc, flat.view(b, 5, 16)], -1)      # [b, 5, 96]
        return pooled, rev + sorted_rows


class ShapeArith(nn.Module):
    """Integer arithmetic on shapes and positions the way hand-written local attention does it: the sequence
    padded to a multiple of 4 ((-s) % 4), split into blocks for block-local attention with a key padding mask,
    cropped back; relative distances clamped into a bias table; floor division / remainder of negative positions,
    bit operations and shifts on int64 positions; a where with broadcast scalar fills."""
    def __init__(self):
        super().__init__()
        self.qkv = nn.Linear(16, 48)
        self.rel = nn.Embedding(9, 2)
        self.pos = nn.Embedding(16, 16)
        self.out = nn.Linear(16, 16)

    def forward(self, x, mask):
        b, s, _ = x.shape
        pad = (-s) % 4
        xp = F.pad(x, (0, 0, 0, pad))
        mp = F.pad(mask, (0, pad))                                            # padding is masked out
        nb = xp.shape[1] // 4
        q, k, v = self.qkv(xp).view(b, nb, 4, 3, 2, 8).unbind(3)                # [b, nb, 4, heads, 8]
        att = torch.einsum("bnqhd,bnkhd->bnhqk", q, k) / 8 ** 0.5
        i = torch.arange(4)
        bias = self.rel((i[None, :] - i[:, None]).clamp(-4, 4) + 4).permute(2, 0, 1)   # [heads, 4, 4]
        keep = mp.view(b, nb, 1, 1, 4) > 0
        att = (att + bias).masked_fill(~keep, -1e9).softmax(-1)
        y = torch.einsum("bnhqk,bnkhd->bnqhd", att, v).reshape(b, nb * 4, 16)[:, :s]
        p = torch.arange(s) - s // 2                                             # negative positions too
        code = (torch.div(p, 3, rounding_mode="floor") * 3 + torch.remainder(p, 3) - p
                + ((p + s) & 1) + ((p + s) >> 1) % 4 + (p.abs() << 1) % 5)
        code = torch.where(code > 7, 7, code) % 16
        return self.out(y + self.pos(code)) * mask.unsqueeze(-1).to(x.dtype)


class MaskSelect(nn.Module):
    """Boolean selection of tokens (x[mask]: a data-dependent count), their mean per row through
    index_put(accumulate=True) at the nonzero rows (index_add's TorchScript file drops repeated indices), masked_fill with a broadcast [b, 1, 1, s] key mask, tril / triu with offsets, logical ops,
    any / all, nan_to_num of a masked division."""
    def __init__(self):
        super().__init__()
        self.proj = nn.Linear(16, 16)

    def forward(self, x, mask):
        h = self.proj(x)
        b, s, _ = h.shape
        keep = mask > 0
        sel = h[keep]                                                            # [n, 16]
        row = keep.nonzero()[:, 0]
        sums = torch.zeros(b, 16).index_put((row,), sel, accumulate=True)
        mean = sums / keep.sum(1, keepdim=True).to(h.dtype)
        scores = torch.einsum("bqd,bkd->bqk", h, h).unsqueeze(1) / 4.0            # [b, 1, s, s]
        band = torch.tril(torch.ones(s, s, dtype=torch.bool), diagonal=1) & torch.triu(
            torch.ones(s, s, dtype=torch.bool), diagonal=-2)
        allowed = band & keep[:, None, None, :]
        att = scores.masked_fill(~allowed, float("-inf")).softmax(-1).nan_to_num(0.0)
        ctx = (att.squeeze(1) @ h)
        flags = torch.stack([(h > 1).any(-1), (h > -2).all(-1), torch.logical_xor(keep, h[..., 0] > 0)], -1)
        ratio = torch.nan_to_num(h[..., :4] / (h[..., 4:8] * keep.unsqueeze(-1)), nan=0.0, posinf=5.0, neginf=-5.0)
        return ctx + mean.unsqueeze(1), flags.to(h.dtype).sum(-1) + ratio.clamp(-5, 5).sum(-1)


# ---------------------------------------------------------------------------------------------------------------
# Hugging Face / torchvision families
def pegasus_x():
    # block-local attention (blocks of 4, the sequence padded to a multiple) plus global tokens, staggered blocks
    return Encoder(_hf("PegasusXConfig", "PegasusXModel", vocab_size=VOCAB, d_model=16, encoder_layers=2,
                       decoder_layers=1, encoder_attention_heads=2, decoder_attention_heads=2, encoder_ffn_dim=32,
                       decoder_ffn_dim=32, num_global_tokens=2, block_size=4, stagger_local_blocks=True,
                       max_position_embeddings=64, init_std=0.1).get_encoder())


def longt5():
    # transient-global attention: local blocks of 3 (radius 2) padded to a multiple, global tokens made from the
    # sequence's blocks of 4 (one_hot of the block ids, masked by the padding)
    return Encoder(_hf("LongT5Config", "LongT5EncoderModel", vocab_size=VOCAB, d_model=16, d_kv=8, d_ff=32,
                       num_layers=2, num_heads=2, local_radius=2, global_block_size=4,
                       encoder_attention_type="transient-global", relative_attention_num_buckets=8,
                       relative_attention_max_distance=16, initializer_factor=1.0))


class Last(nn.Module):
    def __init__(self, model, key="last_hidden_state"):
        super().__init__()
        self.model, self.key = model, key

    def forward(self, x):
        return getattr(self.model(x), self.key)


def mobilenet_v1():
    # TensorFlow SAME padding computed from the input's height and width in every strided conv (tf_padding)
    return Last(_hf("MobileNetV1Config", "MobileNetV1Model", num_channels=3, image_size=64, depth_multiplier=0.0625,
                    min_depth=4, tf_padding=True, initializer_range=0.2))


class SpeechT5Encoder(nn.Module):
    """SpeechT5's speech encoder: the wav2vec-style conv feature encoder, a conv position embedding, sinusoidal
    positions, an encoder with a relative position bias over the frames."""
    def __init__(self):
        super().__init__()
        from transformers.models.speecht5.modeling_speecht5 import SpeechT5EncoderWithSpeechPrenet
        cfg = _hf_config("SpeechT5Config", hidden_size=16, encoder_layers=2, encoder_attention_heads=2,
                         encoder_ffn_dim=32, conv_dim=(8, 8, 8), conv_stride=(5, 2, 2), conv_kernel=(10, 3, 3),
                         num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=2,
                         encoder_max_relative_position=8, max_speech_positions=512, initializer_range=0.1)
        self.model = SpeechT5EncoderWithSpeechPrenet(cfg)

    def forward(self, audio):
        return self.model(audio).last_hidden_state


def _hf_config(config_name, **cfg):
    import transformers
    return getattr(transformers, config_name)(**cfg)


class UnivNet(nn.Module):
    """UnivNet's vocoder: location-variable convolutions whose kernels a predictor makes from the spectrogram
    (unfold + einsum per hop), at a dynamic number of frames; the noise is an input."""
    def __init__(self):
        super().__init__()
        self.model = _hf("UnivNetConfig", "UnivNetModel", model_in_channels=4, model_hidden_channels=4,
                         num_mel_bins=8, resblock_kernel_sizes=[3, 3], resblock_stride_sizes=[4, 4],
                         resblock_dilation_sizes=[[1, 3], [1, 3]], kernel_predictor_num_blocks=1,
                         kernel_predictor_hidden_channels=4,  # = model_in_channels (its blocks use that)
                         kernel_predictor_conv_size=3,
                         initializer_range=0.1)

    def forward(self, mel, noise):  # [batch, frames, mels], [batch, frames, channels]
        return self.model(mel, noise_sequence=noise).waveforms


class Pix2StructVision(nn.Module):
    """Pix2Struct's vision encoder over a variable number of flattened patches: row / column ids (made here from
    the patch index, 4 columns) in the first two features pick embeddings, a padding mask."""
    def __init__(self):
        super().__init__()
        self.model = _hf("Pix2StructVisionConfig", "Pix2StructVisionModel", hidden_size=16, patch_embed_hidden_size=48,
                         d_ff=32, d_kv=8, num_hidden_layers=2, num_attention_heads=2, seq_len=64, patch_size=4,
                         num_channels=3, initializer_range=0.2, initializer_factor=1.0)

    def forward(self, patches, mask):
        b, n, _ = patches.shape
        k = torch.arange(n, dtype=patches.dtype)
        ids = torch.stack([torch.div(k, 4, rounding_mode="floor") + 1, torch.remainder(k, 4) + 1], -1)
        flat = torch.cat([ids.unsqueeze(0).expand(b, -1, -1), patches], -1)
        return self.model(flattened_patches=flat, attention_mask=mask).last_hidden_state


class DeformableDetr(nn.Module):
    """Deformable DETR (two feature levels of a small ResNet): multi-scale deformable attention (grid_sample of
    each level at predicted offsets, level start indices from the feature maps' shapes). 64 x 64 images: at a
    dynamic height and width both exporters' files fail in onnxruntime or differ from torch."""
    def __init__(self):
        super().__init__()
        backbone = _hf_config("ResNetConfig", embedding_size=8, hidden_sizes=[8, 16, 16, 16], depths=[1, 1, 1, 1],
                              layer_type="basic", out_features=["stage2", "stage3"])
        self.model = _hf("DeformableDetrConfig", "DeformableDetrModel", backbone_config=backbone,
                         use_timm_backbone=False, use_pretrained_backbone=False, d_model=32, encoder_layers=1,
                         decoder_layers=1, encoder_attention_heads=2, decoder_attention_heads=2, encoder_ffn_dim=32,
                         decoder_ffn_dim=32, num_feature_levels=2, encoder_n_points=2, decoder_n_points=2,
                         num_queries=6, init_std=0.1)

    def forward(self, image):
        return self.model(pixel_values=image).last_hidden_state


def swin3d():
    # torchvision's video Swin: 3-d windows (frames padded to the window), shifted windows with a mask
    from torchvision.models.video.swin_transformer import SwinTransformer3d
    return SwinTransformer3d(patch_size=[2, 4, 4], embed_dim=8, depths=[2], num_heads=[2],
                             window_size=[2, 4, 4], num_classes=8)


class SortSearch(nn.Module):
    """Order statistics users reach for: bucketize into sorted edges (right=True too; searchsorted and kthvalue export
    with neither exporter), the k-th smallest by topk, the median as the
    middle of a sort (its index (s - 1) // 2 from the length), topk smallest, a sliding max, differences of
    neighbours, a descending sort (cummax, median and diff export with neither or one exporter), at a dynamic batch and sequence length."""
    def __init__(self):
        super().__init__()
        self.proj = nn.Linear(16, 16)
        self.register_buffer("edges", torch.linspace(-2.0, 2.0, 9))

    def forward(self, x):
        h = self.proj(x)
        s = h.shape[1]
        b1 = torch.bucketize(h, self.edges)
        b2 = torch.bucketize(h, self.edges, right=True)
        kth = torch.topk(h, 3, dim=-1, largest=False).values[..., 2]         # kthvalue: neither exporter has it
        med = torch.sort(h, dim=1).values[:, (s - 1) // 2]                   # median (neither exporter has it)
        low = torch.topk(h, 2, dim=-1, largest=False).values
        run = F.max_pool1d(h.transpose(1, 2), 3, 1, 1).transpose(1, 2)     # cummax: neither exporter has it
        d = h[:, 1:] - h[:, :-1]                                             # diff: TorchScript cannot export it
        srt = torch.sort(h, dim=1, descending=True).values
        y = torch.cat([run + srt, (b1 + b2).to(h.dtype)], -1)
        return y, torch.cat([kth.unsqueeze(-1), low], -1), med, d


def upernet():
    # ConvNeXt backbone, pyramid pooling (adaptive average pools to 1, 2, 3, 6), FPN fusion; 64 x 64 images (at a
    # dynamic size the dynamo file fails in onnxruntime and TorchScript cannot export the adaptive pools)
    backbone = _hf_config("ConvNextConfig", num_channels=3, hidden_sizes=[8, 8, 16, 16], depths=[1, 1, 1, 1],
                          out_features=["stage1", "stage2", "stage3", "stage4"], layer_scale_init_value=1.0)
    return Last(_hf("UperNetConfig", "UperNetForSemanticSegmentation", backbone_config=backbone, hidden_size=8,
                    num_labels=4, use_auxiliary_head=False, pool_scales=[1, 2, 3, 6], initializer_range=0.1),
                key="logits")


class MoonshineEncoder(nn.Module):
    """Moonshine's audio encoder: three strided convs of the raw audio (group norm, GELU), rotary attention over
    the frames, on [batch, samples]."""
    def __init__(self):
        super().__init__()
        self.model = _hf("MoonshineConfig", "MoonshineModel", vocab_size=VOCAB, hidden_size=16,
                         intermediate_size=32, encoder_num_hidden_layers=2, decoder_num_hidden_layers=1,
                         encoder_num_attention_heads=2, decoder_num_attention_heads=2, attn="eager",
                         encoder_num_key_value_heads=2, decoder_num_key_value_heads=2,
                         max_position_embeddings=256, initializer_range=0.1).get_encoder()

    def forward(self, audio):
        return self.model(audio).last_hidden_state


class MimiEncoder(nn.Module):
    """Mimi's encoder: SEANet convs with causal padding from the length, a sliding-window transformer with rotary
    positions over the frames, a strided downsampling conv."""
    def __init__(self):
        super().__init__()
        m = _hf("MimiConfig", "MimiModel", audio_channels=1, hidden_size=16, num_filters=4, num_residual_layers=1,
                upsampling_ratios=[4, 2], kernel_size=5, last_kernel_size=5, residual_kernel_size=3,
                compress=2, num_hidden_layers=1, num_attention_heads=2, num_key_value_heads=2,
                intermediate_size=32, sliding_window=4, frame_rate=12.5, sampling_rate=800,
                codebook_size=16, codebook_dim=16, num_quantizers=2, upsample_groups=16, initializer_range=0.1)
        self.encoder = m.encoder  # transformers 5: the SEANet convs, the transformer and the downsampling

    def forward(self, audio):
        return self.encoder(audio.unsqueeze(1)).latents.transpose(1, 2)


class SamPrompt(nn.Module):
    """SAM's prompt encoder and mask decoder at a given image embedding: a variable number of points (random
    Fourier positions, label embeddings), the two-way transformer, hypernetwork MLPs and transposed-conv
    upscaling to low-resolution masks and IoU scores."""
    def __init__(self):
        super().__init__()
        vision = dict(hidden_size=16, output_channels=16, num_hidden_layers=1, num_attention_heads=2, image_size=64,
                      patch_size=16, mlp_dim=32, global_attn_indexes=[0], num_pos_feats=8)
        prompt = dict(hidden_size=16, image_size=64, patch_size=16, mask_input_channels=4)
        dec = dict(hidden_size=16, num_hidden_layers=2, num_attention_heads=2, mlp_dim=32,
                   iou_head_hidden_dim=16, num_multimask_outputs=3)
        self.model = _hf("SamConfig", "SamModel", vision_config=vision, prompt_encoder_config=prompt,
                         mask_decoder_config=dec, initializer_range=0.1)

    def forward(self, emb, points, labels):
        out = self.model(image_embeddings=emb, input_points=points, input_labels=labels, multimask_output=True)
        return out.pred_masks, out.iou_scores


class MathOps(nn.Module):
    """Elementwise and small-linear-algebra ops users reach for: einsum with a repeated index (a diagonal, a trace)
    and an ellipsis, circular padding, cdist, cosine_similarity, vector norms (inf, 3), atan2, logaddexp,
    fmod / remainder of negatives, round to decimals, var with a correction, outer, rot90, cross
    products, softplus with beta / threshold, mish, hardswish, celu, selu, GELU (tanh), at a dynamic batch and
    sequence length (hypot, copysign export with neither exporter). The dynamo exporter has no cdist (a broadcast distance
    there), TorchScript no logaddexp (log
    of a sum of exps there) nor rot90 (a flip and a transpose): ``ts`` picks."""
    def __init__(self, ts=False):
        super().__init__()
        self.ts = ts
        self.proj = nn.Linear(16, 16)
        self.sq = nn.Parameter(torch.randn(4, 4) * 0.5)

    def forward(self, x):
        h = self.proj(x)                                                         # [b, s, 16]
        b, s, _ = h.shape
        m = h.view(b, s, 4, 4) @ self.sq                                         # [b, s, 4, 4]
        diag = torch.einsum("...ii->...i", m)                                    # [b, s, 4]
        tr = torch.einsum("bsii->bs", m).unsqueeze(-1)
        circ = F.pad(h.transpose(1, 2), (2, 1), mode="circular").transpose(1, 2)  # [b, s + 3, 16]
        if self.ts:
            dist = torch.cdist(h, h[:, :3])                                      # [b, s, 3]
        else:
            dist = (h.unsqueeze(2) - h[:, None, :3]).pow(2).sum(-1).sqrt()
        cos = F.cosine_similarity(h, x, dim=-1).unsqueeze(-1)
        norms = torch.stack([torch.linalg.vector_norm(h, float("inf"), dim=-1),
                             torch.linalg.vector_norm(h, 3, dim=-1)], -1)
        a, c = h[..., :8], h[..., 8:]
        el = torch.cat([torch.atan2(a, c),
                        torch.log(a.exp() + c.exp()) if self.ts else torch.logaddexp(a, c), torch.fmod(a * 3, 1.3),
                        torch.remainder(a * 3, 1.3), torch.round(a, decimals=1)], -1)
        v = torch.var(h, dim=1, correction=0, keepdim=True).expand(-1, s, -1)
        outer = torch.einsum("bsi,bsj->bsij", a[..., :3], c[..., :3]).flatten(2)  # [b, s, 9]
        rot = (m.flip(3).transpose(2, 3) if self.ts else torch.rot90(m, 1, (2, 3))).flatten(2)  # [b, s, 16]
        cr = torch.linalg.cross(a[..., :3], c[..., :3], dim=-1)
        act = torch.cat([F.softplus(h, beta=2.0, threshold=1.0), F.mish(h), F.hardswish(h), F.celu(h, 0.5),
                         F.selu(h), F.gelu(h, approximate="tanh")], -1)
        y = torch.cat([diag, tr, dist, cos, norms, el, v, outer, rot, cr, act], -1)
        return y, circ


def groupvit():
    # GroupViT's vision tower: learned group tokens, hard (argmax + one-hot, straight-through) assignment of
    # image tokens to groups in two grouping stages
    return Last(_hf("GroupViTVisionConfig", "GroupViTVisionModel", hidden_size=16, intermediate_size=32,
                    depths=[1, 1], num_group_tokens=[4, 2], num_output_groups=[4, 2], num_attention_heads=2,
                    image_size=32, patch_size=8, initializer_range=0.1))


IMG_FEATS = dict(IMG_HW, outputs=["out"], dynamic_outputs={"out": {0: "batch", 2: "out_h", 3: "out_w"}})
SEQ16 = dict(inputs=[_floats("x", ["batch", "seq", 16])], bounds={"batch": 4, "seq": 16},
             dim_sets=[{"batch": 1, "seq": 5}, {"batch": 3, "seq": 11}], example_dims={"batch": 2, "seq": 7})
SEQ16M = dict(SEQ16, inputs=[_floats("x", ["batch", "seq", 16]), _mask()])
ZOO = {
    "resample_modes": dict(IMG_FEATS, build=lambda: ResampleModes(ts=True), build_dynamo=ResampleModes, seed=4701,
                           inputs=IMG_HW["inputs"] + [_floats("grid", ["batch", "height", "width", 2])]),
    "scatter_ops": dict(SEQ16, build=lambda: ScatterOps(ts=True), build_dynamo=ScatterOps, seed=4702, outputs=["pooled", "y"],
                        dynamic_outputs={"pooled": {0: "batch"}, "y": {0: "batch", 1: "seq"}}),
    "shape_arith": dict(SEQ16M, build=ShapeArith, seed=4703, outputs=["y"]),
    "mask_select": dict(SEQ16M, build=MaskSelect, seed=4704, outputs=["y", "flags"],
                        dynamic_outputs={"flags": {0: "batch", 1: "seq"}}),
    "pegasus_x": dict(TEXT, build=pegasus_x, seed=4705),
    "longt5": dict(TEXT, build=longt5, seed=4706),
    "mobilenet_v1": dict(IMG_FEATS, build=mobilenet_v1, seed=4707),
    "speecht5_encoder": dict(AUDIO, build=SpeechT5Encoder, seed=4708),
    "univnet": dict(build=UnivNet, seed=4709, inputs=[_floats("mel", ["batch", "frames", 8]),
                                                       _floats("noise", ["batch", "frames", 4])],
                    outputs=["wave"], bounds={"batch": 2, "frames": 24},
                    dim_sets=[{"batch": 1, "frames": 7}, {"batch": 2, "frames": 19}],
                    example_dims={"batch": 2, "frames": 12}, dynamic_outputs={"wave": {0: "batch", 1: "samples"}}),
    "pix2struct_vision": dict(build=Pix2StructVision, seed=4710,
                              inputs=[_floats("patches", ["batch", "patches", 48]), _mask(shape=("batch", "patches"))],
                              outputs=["hidden"], bounds={"batch": 3, "patches": 40},
                              dim_sets=[{"batch": 1, "patches": 9}, {"batch": 3, "patches": 26}],
                              example_dims={"batch": 2, "patches": 16},
                              dynamic_outputs={"hidden": {0: "batch", 1: "patches"}}),
    # deformable_detr, swin3d: dynamo only (their TorchScript files, 300 and 633 KB of graph, passed too)
    "deformable_detr": dict(IMG, build=DeformableDetr, seed=4711, outputs=["hidden"], exporters=["dynamo"]),
    "swin3d": dict(build=swin3d, seed=4712, exporters=["dynamo"], inputs=[_floats("clip", ["batch", 3, "frames", 32, 32])],
                   outputs=["logits"], bounds={"batch": 2, "frames": 8},
                   dim_sets=[{"batch": 1, "frames": 3}, {"batch": 2, "frames": 8}], example_dims={"batch": 2, "frames": 6}),
    "math_ops": dict(SEQ16, build=lambda: MathOps(ts=True), build_dynamo=MathOps, seed=4718, outputs=["y", "circ"],
                     dynamic_outputs={"circ": {0: "batch", 1: "seq_plus_3"}}),
    # dynamo only (its TorchScript file, 243 KB, passed too)
    "groupvit": dict(build=groupvit, seed=4720, exporters=["dynamo"], inputs=[_floats("image", ["batch", 3, 32, 32])], outputs=["hidden"],
                     bounds={"batch": 4}, dim_sets=[{"batch": 1}, {"batch": 3}], example_dims={"batch": 2}),
    "sort_search": dict(SEQ16, build=SortSearch, seed=4713, outputs=["y", "low", "med", "d"],
                        dynamic_outputs={"low": {0: "batch", 1: "seq"}, "med": {0: "batch"}}),
    "upernet": dict(IMG, build=upernet, seed=4714, outputs=["out"]),
    "moonshine_encoder": dict(AUDIO, build=MoonshineEncoder, seed=4715, bounds={"batch": 2, "samples": 4000},
                              dim_sets=[{"batch": 1, "samples": 1600}, {"batch": 2, "samples": 3333}],
                              example_dims={"batch": 2, "samples": 2400}),
    "mimi_encoder": dict(AUDIO, build=MimiEncoder, seed=4716),
    # dynamo only (its TorchScript file, 387 KB, passed too)
    "sam_prompt": dict(build=SamPrompt, seed=4717, exporters=["dynamo"],
                       inputs=[_floats("emb", ["batch", 16, 4, 4]), _floats("points", ["batch", 1, "points", 2]),
                               {"name": "labels", "dtype": "int64", "shape": ["batch", 1, "points"], "range": [0, 2]}],
                       outputs=["masks", "iou"], bounds={"batch": 2, "points": 6},
                       dim_sets=[{"batch": 1, "points": 1}, {"batch": 2, "points": 5}],
                       example_dims={"batch": 2, "points": 3}, dynamic_outputs={"masks": {0: "batch"}, "iou": {0: "batch"}}),
}
