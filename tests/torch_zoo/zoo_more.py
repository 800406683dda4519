"""More families for the zoo (helper zoo19, 2026-12-06): torch.nn building blocks users write themselves
(nn.MultiheadAttention with masks, nn.TransformerEncoder / nn.TransformerDecoder, F.scaled_dot_product_attention
with boolean / float masks, causal and grouped-query, a bidirectional LSTM over packed variable-length sequences,
einsum / cumsum / gather / scatter / topk / argmax / sort / bucketize / where, grid_sample, roi_align / roi_pool,
EmbeddingBag, unfold / fold, odd pooling and resampling, a weight-normalised dilated TCN, an STFT log-mel front
end, float16), multi-branch CNNs (DenseNet, GoogLeNet, Inception v3, HRNet-style fusion, MobileNetV4 with mobile
multi-query attention), and Hugging Face families not in export.py (DeiT, DETR, HuBERT, Wav2Vec2-Conformer, CodeGen,
Llama with llama3 / YaRN rope scaling, T5 v1.1, mBART, XLNet, SqueezeBERT, GPT-Neo, StableLM, Cohere,
OLMo 2, StarCoder2, FNet, SigLIP, MobileViTV2, Mamba2). Small widths; export.py randomizes and exports them like
the rest of the zoo.
"""
from functools import partial

import torch
from torch import nn

VOCAB = 100


def _floats(name, shape):
    return {"name": name, "dtype": "float32", "shape": list(shape), "range": "normal"}


def _mask(name="mask", shape=("batch", "seq")):
    # 0/1 padding mask; the test makes each row start with a 1 (at least one token attended)
    return {"name": name, "dtype": "int64", "shape": list(shape), "range": [0, 2], "kind": "mask"}


def _ids(name="ids", shape=("batch", "seq"), vocab=VOCAB):
    return {"name": name, "dtype": "int64", "shape": list(shape), "range": [0, vocab]}


def _image(name="image", c=3, hw=64):
    return _floats(name, ["batch", c, hw, hw])


def _image_hw(name="image", c=3):
    return _floats(name, ["batch", c, "height", "width"])


# ---------------------------------------------------------------------------------------------------------------
# torch.nn building blocks
class MHAMasks(nn.Module):
    """nn.MultiheadAttention (batch_first) self-attention with a key padding mask and a causal float mask, then
    cross-attention to the sequence's own mean-pooled summary tokens without masks (kdim/vdim differ)."""
    def __init__(self):
        super().__init__()
        self.inp = nn.Linear(16, 32)
        self.self_attn = nn.MultiheadAttention(32, 4, batch_first=True)
        self.cross = nn.MultiheadAttention(32, 2, batch_first=True, kdim=16, vdim=16)
        self.out = nn.Linear(32, 8)

    def forward(self, x, mask):
        h = self.inp(x)
        s = x.size(1)
        causal = torch.triu(torch.full((s, s), float("-inf")), diagonal=1)
        a, w = self.self_attn(h, h, h, key_padding_mask=mask == 0, attn_mask=causal, need_weights=True)
        mem = x.reshape(x.size(0), -1, 1, 16).mean(2)  # [b, seq, 16]
        c, _ = self.cross(a, mem, mem, need_weights=False)
        return self.out(h + a + c), w


class TransformerEncDec(nn.Module):
    """nn.TransformerEncoder (post-LN, padding mask) feeding an nn.TransformerDecoder (pre-LN, GELU, causal mask,
    memory padding mask), the way users write their own seq2seq models. ``causal_flag``: also pass
    tgt_is_causal=True (else the decoder compares the mask with a causal one, a data-dependent branch the dynamo
    exporter cannot trace)."""
    def __init__(self, causal_flag=False):
        super().__init__()
        self.causal_flag = causal_flag
        self.src_emb = nn.Embedding(VOCAB, 32)
        self.tgt_emb = nn.Embedding(VOCAB, 32)
        enc_layer = nn.TransformerEncoderLayer(32, 4, 64, dropout=0.1, batch_first=True)
        self.encoder = nn.TransformerEncoder(enc_layer, 2, enable_nested_tensor=False)
        dec_layer = nn.TransformerDecoderLayer(32, 4, 64, dropout=0.1, activation="gelu", batch_first=True,
                                               norm_first=True)
        self.decoder = nn.TransformerDecoder(dec_layer, 2, norm=nn.LayerNorm(32))
        self.head = nn.Linear(32, VOCAB)

    def forward(self, src, src_mask, tgt):
        pad = src_mask == 0
        memory = self.encoder(self.src_emb(src), src_key_padding_mask=pad)
        t = tgt.size(1)
        causal = nn.Transformer.generate_square_subsequent_mask(t)
        y = self.decoder(self.tgt_emb(tgt), memory, tgt_mask=causal, memory_key_padding_mask=pad,
                         tgt_is_causal=True if self.causal_flag else None)
        return self.head(y)


class PackedBiLSTM(nn.Module):
    """A bidirectional 2-layer LSTM over variable-length sequences (pack_padded_sequence with the lengths of the
    padding mask, pad_packed_sequence back to the input's length), a masked mean over time."""
    def __init__(self):
        super().__init__()
        self.rnn = nn.LSTM(16, 24, num_layers=2, batch_first=True, bidirectional=True)
        self.fc = nn.Linear(48, 8)

    def forward(self, x, mask):
        from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence
        lengths = mask.sum(1)
        packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
        y, _ = self.rnn(packed)
        y, _ = pad_packed_sequence(y, batch_first=True, total_length=x.size(1))
        m = mask.unsqueeze(-1).to(y.dtype)
        return self.fc(y), (y * m).sum(1) / m.sum(1)


class TensorOps(nn.Module):
    """Index and reduction ops as users write them: einsum (batched bilinear, attention scores), cumsum,
    argmax / topk, gather and scatter_add with computed indices, where with broadcasting, masked_fill."""
    def __init__(self):
        super().__init__()
        self.proj = nn.Linear(16, 16)
        self.bil = nn.Parameter(torch.randn(4, 16, 16) * 0.2)

    def forward(self, x):
        h = self.proj(x)                                                    # [b, s, 16]
        bil = torch.einsum("bsi,kij,bsj->bsk", h, self.bil, x)              # [b, s, 4]
        scores = torch.einsum("bqd,bkd->bqk", h, x) / 4.0                   # [b, s, s]
        cum = torch.cumsum(h, dim=1) / torch.arange(1, x.size(1) + 1, dtype=x.dtype).unsqueeze(-1)
        best = scores.argmax(-1)                                            # [b, s]
        picked = torch.gather(x, 1, best.unsqueeze(-1).expand(-1, -1, 16))  # [b, s, 16]
        vals, idx = torch.topk(h, 3, dim=-1)                                # [b, s, 3]
        hist = torch.zeros(x.size(0), 16, dtype=x.dtype).scatter_add(1, idx.flatten(1), vals.flatten(1))
        gate = torch.where(h > 0, h, 0.1 * x.mean(-1, keepdim=True))        # broadcast [b,s,1] into [b,s,16]
        masked = scores.masked_fill(scores < 0, -1e4).softmax(-1)
        out = torch.cat([bil, cum + picked + gate, masked @ x], -1)
        return out, hist, idx


class SpatialTransformer(nn.Module):
    """A spatial transformer: a localization net predicts an affine transform, affine_grid + grid_sample
    (bilinear, zeros padding) warp the image, and a second grid_sample (bicubic, border) samples the features at a
    learned offset field (nearest mode would flip pixels at rounding ties between engines)."""
    def __init__(self):
        super().__init__()
        self.loc = nn.Sequential(nn.Conv2d(3, 8, 3, 2, 1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                                 nn.Linear(8, 6))
        self.feat = nn.Sequential(nn.Conv2d(3, 8, 3, 1, 1), nn.BatchNorm2d(8), nn.ReLU())
        self.offset = nn.Conv2d(8, 2, 3, 1, 1)
        self.head = nn.Conv2d(16, 4, 1)

    def forward(self, image):
        ident = torch.tensor([1.0, 0.0, 0.0, 0.0, 1.0, 0.0])
        theta = (ident + 0.2 * torch.tanh(self.loc(image))).view(-1, 2, 3)
        grid = nn.functional.affine_grid(theta, list(image.shape), align_corners=False)
        warped = nn.functional.grid_sample(image, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
        f = self.feat(warped)
        off = 0.3 * torch.tanh(self.offset(f)).permute(0, 2, 3, 1)        # [b, h, w, 2]
        g2 = nn.functional.grid_sample(f, grid + off, mode="bicubic", padding_mode="border", align_corners=True)
        return self.head(torch.cat([f, g2], 1))


class RoIHeads(nn.Module):
    """Two-stage detector pieces: a conv backbone, boxes predicted per image from pooled features (so valid,
    data-dependent boxes), torchvision's roi_align (aligned) and roi_pool over them, a box head."""
    def __init__(self, pool=True):
        super().__init__()
        self.pool = pool
        self.backbone = nn.Sequential(nn.Conv2d(3, 8, 3, 2, 1), nn.BatchNorm2d(8), nn.ReLU(),
                                      nn.Conv2d(8, 16, 3, 2, 1), nn.BatchNorm2d(16), nn.ReLU())  # stride 4
        self.box = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(16, 4 * 4))
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(16 * 4 * 4 + 16 * 2 * 2, 32), nn.ReLU(), nn.Linear(32, 5))

    def forward(self, image):
        from torchvision.ops import roi_align, roi_pool
        f = self.backbone(image)
        b = image.size(0)
        p = torch.sigmoid(self.box(f)).view(b * 4, 4) * 64.0               # 4 boxes an image, 64 x 64 image
        x1 = torch.minimum(p[:, 0], p[:, 2])
        x2 = torch.maximum(p[:, 0], p[:, 2])
        y1 = torch.minimum(p[:, 1], p[:, 3])
        y2 = torch.maximum(p[:, 1], p[:, 3])
        which = torch.arange(b, dtype=image.dtype).repeat_interleave(4)
        rois = torch.stack([which, x1, y1, x2, y2], 1)
        a = roi_align(f, rois, (4, 4), spatial_scale=0.25, sampling_ratio=2, aligned=True)
        m = roi_pool(f, rois, (2, 2), spatial_scale=0.25) if self.pool else \
            roi_align(f, rois, (2, 2), spatial_scale=0.25, sampling_ratio=-1, aligned=False)
        return self.head(torch.cat([a.flatten(1), m.flatten(1)], 1)), rois


class PoolResample(nn.Module):
    """Pooling and resampling users meet: adaptive pools to sizes that do not divide the input, max-pool with
    ceil_mode and dilation, avg-pool without padding counted, reflection / replicate padding, pixel shuffle and
    unshuffle, a transposed conv with output_padding, bicubic and fractional-scale upsampling, InstanceNorm,
    GroupNorm, LocalResponseNorm."""
    def __init__(self, odd_adaptive=True):
        super().__init__()
        self.odd_adaptive = odd_adaptive
        self.c1 = nn.Conv2d(3, 8, 3, 1, 0)
        self.c2 = nn.Conv2d(32, 8, 3, 1, 1, padding_mode="replicate")
        self.inorm = nn.InstanceNorm2d(8, affine=True)
        self.gnorm = nn.GroupNorm(2, 8)
        self.lrn = nn.LocalResponseNorm(3)
        self.up = nn.ConvTranspose2d(8, 8, 3, stride=2, padding=1, output_padding=1, dilation=1)
        self.head = nn.Linear(8 * 3 * 5 + 8 * 2 * 2 + 8 if odd_adaptive else 8 * 4 * 2 + 8 * 2 * 2 + 8, 10)

    def forward(self, image):
        x = self.c1(nn.functional.pad(image, (1, 1, 1, 1), mode="reflect"))            # [b, 8, h, w]
        x = self.inorm(x).relu()
        y = nn.functional.pixel_unshuffle(x, 2)                                         # [b, 32, h/2, w/2]
        y = self.gnorm(self.c2(y))
        y = nn.functional.max_pool2d(y, 3, 2, 1, dilation=2, ceil_mode=True)
        y = nn.functional.avg_pool2d(y, 3, 2, 1, ceil_mode=False, count_include_pad=False)
        z = self.lrn(self.up(y))
        z = nn.functional.interpolate(z, scale_factor=1.5, mode="bicubic", align_corners=False)
        s = nn.functional.pixel_shuffle(torch.cat([z, z * 0.5, -z, z.abs()], 1), 2).mean(1, keepdim=True)
        if self.odd_adaptive:  # 24 x 24 -> 3 x 5: overlapping bins of 4 and 5 columns
            a = nn.functional.adaptive_avg_pool2d(z, (3, 5)).flatten(1)
        else:
            a = nn.functional.avg_pool2d(y, (2, 4)).flatten(1)
        m = (nn.functional.adaptive_max_pool2d(y, 2) if self.odd_adaptive else nn.functional.max_pool2d(y, 4)).flatten(1)
        g = z.amax((2, 3)) + s.mean((1, 2, 3)).unsqueeze(1)
        return self.head(torch.cat([a, m, g], 1))


class HalfCNN(nn.Module):
    """A small CNN + attention-style head run in float16 (model.half(), float16 input and output)."""
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(3, 16, 3, 2, 1), nn.BatchNorm2d(16), nn.ReLU(),
                                  nn.Conv2d(16, 16, 3, 1, 1, groups=4), nn.BatchNorm2d(16), nn.SiLU(),
                                  nn.Conv2d(16, 32, 3, 2, 1), nn.BatchNorm2d(32), nn.GELU())
        self.norm = nn.LayerNorm(32)
        self.q = nn.Linear(32, 32)
        self.fc = nn.Linear(32, 10)

    def forward(self, image):
        t = self.body(image).flatten(2).transpose(1, 2)                                 # [b, hw, 32]
        t = self.norm(t)
        w = (self.q(t) @ t.transpose(1, 2) / 32 ** 0.5).softmax(-1)
        return self.fc((w @ t).mean(1))


# ---------------------------------------------------------------------------------------------------------------
# multi-branch CNNs
def densenet():
    from torchvision.models.densenet import DenseNet
    return DenseNet(growth_rate=8, block_config=(2, 2, 2), num_init_features=16, bn_size=2, num_classes=10)


def _scaled_conv(div):
    """torchvision's BasicConv2d with every width divided by ``div`` (the RGB input kept): the inception blocks'
    concatenations stay consistent since every branch is divided alike."""
    from torchvision.models.inception import BasicConv2d

    def make(i, o, **kw):
        return BasicConv2d(i if i == 3 else i // div, o // div, **kw)
    return make


def googlenet():
    # torchvision's GoogLeNet (inception blocks with 1x1 / 3x3 / 3x3 ("5x5") / pool branches) at 1/16 width
    from torchvision.models.googlenet import GoogLeNet, Inception, InceptionAux
    conv = _scaled_conv(16)
    m = GoogLeNet(num_classes=10, aux_logits=False, transform_input=True, init_weights=True,
                  blocks=[conv, partial(Inception, conv_block=conv), InceptionAux])
    m.fc = nn.Linear(1024 // 16, 10)
    return m


def inception_v3():
    # torchvision's Inception3 (factorised 7x7 as 1x7 + 7x1, grid reductions, the expanded-filter E blocks) at
    # 1/32 width, 96 x 96 input
    from torchvision.models.inception import (Inception3, InceptionA, InceptionAux, InceptionB, InceptionC,
                                              InceptionD, InceptionE)
    conv = _scaled_conv(32)
    blocks = [conv] + [partial(c, conv_block=conv) for c in (InceptionA, InceptionB, InceptionC, InceptionD,
                                                             InceptionE)] + [InceptionAux]
    m = Inception3(num_classes=10, aux_logits=False, transform_input=False, init_weights=True,
                   inception_blocks=blocks)
    m.fc = nn.Linear(2048 // 32, 10)
    return m


class HRNetSmall(nn.Module):
    """HRNet's multi-resolution fusion: two branches (strides 4 and 8) exchanging features every stage, the low
    branch upsampled (1x1 conv + nearest) into the high, the high downsampled (strided 3x3) into the low, a third
    branch added, heads concatenated at the highest resolution (bilinear)."""
    def __init__(self):
        super().__init__()
        cbr = lambda i, o, s=1: nn.Sequential(nn.Conv2d(i, o, 3, s, 1, bias=False), nn.BatchNorm2d(o), nn.ReLU())
        self.stem = nn.Sequential(cbr(3, 16, 2), cbr(16, 16, 2))
        self.b1, self.b2 = cbr(16, 8), cbr(16, 16, 2)
        self.f12 = nn.Sequential(nn.Conv2d(8, 16, 3, 2, 1, bias=False), nn.BatchNorm2d(16))
        self.f21 = nn.Sequential(nn.Conv2d(16, 8, 1, bias=False), nn.BatchNorm2d(8))
        self.b1b, self.b2b, self.b3 = cbr(8, 8), cbr(16, 16), cbr(16, 24, 2)
        self.f31 = nn.Sequential(nn.Conv2d(24, 8, 1, bias=False), nn.BatchNorm2d(8))
        self.head = nn.Conv2d(8 + 16 + 24, 6, 1)

    def forward(self, image):
        x = self.stem(image)
        h, l = self.b1(x), self.b2(x)
        h, l = (h + nn.functional.interpolate(self.f21(l), scale_factor=2.0, mode="nearest")).relu(), \
            (l + self.f12(h)).relu()
        h, l = self.b1b(h), self.b2b(l)
        v = self.b3(l)
        h = (h + nn.functional.interpolate(self.f31(v), scale_factor=4.0, mode="nearest")).relu()
        size = h.shape[-2:]
        up = lambda t: nn.functional.interpolate(t, size=size, mode="bilinear", align_corners=False)
        return self.head(torch.cat([h, up(l), up(v)], 1))


def mobilenetv4_hybrid():
    # timm's MobileNetV4 hybrid: universal inverted residual blocks (optional depthwise before and after the
    # expansion), layer scale, mobile multi-query attention (keys and values downsampled by a strided depthwise conv)
    from timm.models.mobilenetv3 import _gen_mobilenet_v4
    m = _gen_mobilenet_v4("mobilenetv4_hybrid_medium", 0.125, pretrained=False, num_classes=10)
    # fewer blocks: of stage 3 two UIRs (one FFN-only) and the first attention block (keys and values downsampled),
    # of stage 4 the first UIR
    m.blocks[2] = nn.Sequential(*[m.blocks[2][i] for i in (0, 1, 4)])
    m.blocks[3] = m.blocks[3][:1]
    # timm keeps the stem 32 wide below multiplier 1 (and the first fused block expands it to 128): 8 wide, x4
    from timm.layers import BatchNormAct2d
    m.conv_stem, m.bn1 = nn.Conv2d(3, 8, 3, 2, 1, bias=False), BatchNormAct2d(8, act_layer=nn.ReLU)
    b0 = m.blocks[0][0]
    b0.conv_exp, b0.bn1 = nn.Conv2d(8, 32, 3, 2, 1, bias=False), BatchNormAct2d(32, act_layer=nn.ReLU)
    b0.conv_pwl = nn.Conv2d(32, b0.conv_pwl.out_channels, 1, bias=False)
    m.conv_head = nn.Conv2d(m.conv_head.in_channels, 32, 1)   # the 1280-wide head: most of the weights
    m.norm_head = nn.Sequential(nn.BatchNorm2d(32), nn.ReLU())
    m.classifier = nn.Linear(32, 10)
    return m


# ---------------------------------------------------------------------------------------------------------------
# Hugging Face
def _hf(config_name, model_name, attn=None, **cfg):
    import transformers
    config = getattr(transformers, config_name)(**cfg)
    if attn:
        config._attn_implementation = attn
    return getattr(transformers, model_name)(config)


class Encoder(nn.Module):
    """HF encoders take keyword arguments; the exporters want positional ones."""
    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, ids, mask):
        return self.model(input_ids=ids, attention_mask=mask).last_hidden_state


class Vision(nn.Module):
    def __init__(self, model, out="last_hidden_state"):
        super().__init__()
        self.model, self.out = model, out

    def forward(self, image):
        return getattr(self.model(pixel_values=image), self.out)


class Audio(nn.Module):
    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, audio):
        return self.model(audio).last_hidden_state


BERTLIKE = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
                max_position_embeddings=64, initializer_range=0.1)
VIT_CFG = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64, image_size=32,
               patch_size=8, initializer_range=0.1)
AUDIO_CFG = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
                 conv_dim=(16, 16, 16), conv_stride=(5, 2, 2), conv_kernel=(10, 3, 3), num_conv_pos_embeddings=16,
                 num_conv_pos_embedding_groups=4, initializer_range=0.1)


class DeiTTeacher(nn.Module):
    """DeiT with its distillation token: class and distillation heads averaged (DeiTForImageClassificationWithTeacher)."""
    def __init__(self, attn=None):
        super().__init__()
        self.model = _hf("DeiTConfig", "DeiTForImageClassificationWithTeacher", attn, num_labels=10, **VIT_CFG)

    def forward(self, image):
        return self.model(pixel_values=image).logits


class Detr(nn.Module):
    """DETR: a small ResNet backbone (HF's own), sine position embeddings, transformer encoder-decoder over 8 object
    queries, class and box heads (sigmoid boxes)."""
    def __init__(self, attn=None):
        super().__init__()
        from transformers import ResNetConfig
        backbone = ResNetConfig(embedding_size=8, hidden_sizes=[8, 8, 16, 16], depths=[1, 1, 1, 1],
                                layer_type="basic", out_features=["stage4"])
        self.model = _hf("DetrConfig", "DetrForObjectDetection", attn, use_timm_backbone=False,
                         backbone_config=backbone, use_pretrained_backbone=False, d_model=16, encoder_layers=2,
                         decoder_layers=2, encoder_attention_heads=2, decoder_attention_heads=2,
                         # init_std 0.3: at 0.1 the 16-wide model's boxes vary by ~5e-3 (6e-2 at 0.3)
                         encoder_ffn_dim=32, decoder_ffn_dim=32, num_queries=8, num_labels=5, init_std=0.3,
                         init_xavier_std=1.0)

    def forward(self, image):
        out = self.model(pixel_values=image)
        return out.logits, out.pred_boxes


def hubert():
    # wav2vec 2.0's layout with HuBERT's config (layer-norm feature extractor, stable pre-LN blocks)
    return Audio(_hf("HubertConfig", "HubertModel", feat_extract_norm="layer", do_stable_layer_norm=True,
                     conv_bias=True, **AUDIO_CFG))


def wav2vec2_conformer(kind="rotary"):
    # conformer blocks: half-step feed-forwards, self-attention with rotary (or relative) positions, a convolution
    # module (pointwise, GLU, depthwise, BatchNorm, swish)
    return Audio(_hf("Wav2Vec2ConformerConfig", "Wav2Vec2ConformerModel", position_embeddings_type=kind,
                     conv_depthwise_kernel_size=7, max_source_positions=64, **AUDIO_CFG))


def codegen():
    # rotary on the first 8 dims (interleaved pairs), qkv fused in 4 "mp" groups and re-split, parallel attn + MLP
    return Encoder(_hf("CodeGenConfig", "CodeGenModel", vocab_size=VOCAB, n_embd=32, n_layer=2, n_head=4,
                       rotary_dim=4, n_positions=64, n_ctx=64, n_inner=64, initializer_range=0.1,
                       bos_token_id=0, eos_token_id=0))


GQA = dict(vocab_size=VOCAB, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
           num_key_value_heads=2, max_position_embeddings=64, initializer_range=0.1)


def llama_rope(kind):
    scaling = {"llama3": {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                          "original_max_position_embeddings": 16, "rope_theta": 500000.0},
               "yarn": {"rope_type": "yarn", "factor": 4.0, "original_max_position_embeddings": 16,
                        "rope_theta": 10000.0}}[kind]
    return Encoder(_hf("LlamaConfig", "LlamaModel", rope_parameters=scaling, **GQA))


def t5_v11_encoder(attn=None):
    # T5 v1.1 / mT5: gated-GELU feed-forward, no bias, RMS LayerNorm, relative position buckets
    return Encoder(_hf("T5Config", "T5EncoderModel", attn, vocab_size=VOCAB, d_model=32, d_kv=16, d_ff=48,
                       num_layers=2, num_heads=2, relative_attention_num_buckets=8,
                       relative_attention_max_distance=16, feed_forward_proj="gated-gelu", initializer_factor=2.0,
                       tie_word_embeddings=False))


class Seq2SeqStep(nn.Module):
    """One decoder step of an encoder-decoder model: new ids [b, seq], encoder states [b, enc, d] + mask,
    self-attention past k/v of 2 layers [b, heads, past, d_head]; cross-attention recomputed from the states."""
    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, ids, enc, enc_mask, k0, v0, k1, v1):
        from transformers import DynamicCache, EncoderDecoderCache
        cache = EncoderDecoderCache(DynamicCache([(k0, v0), (k1, v1)]), DynamicCache())
        out = self.model(encoder_outputs=(enc,), attention_mask=enc_mask, decoder_input_ids=ids,
                         past_key_values=cache, use_cache=True)
        kv = out.past_key_values.self_attention_cache
        return (out.logits, kv.layers[0].keys, kv.layers[0].values, kv.layers[1].keys, kv.layers[1].values)


def mbart_decoder():
    # BART with pre-LN, a LayerNorm after the embeddings and at the end of each stack, learned positions (offset 2)
    return Seq2SeqStep(_hf("MBartConfig", "MBartForConditionalGeneration", vocab_size=VOCAB, d_model=32,
                           encoder_layers=2, decoder_layers=2, encoder_attention_heads=2, decoder_attention_heads=2,
                           encoder_ffn_dim=64, decoder_ffn_dim=64, max_position_embeddings=64, init_std=0.1,
                           pad_token_id=1, decoder_start_token_id=2, scale_embedding=True))


def xlnet():
    # two-stream-free XLNet encoder: relative positional attention with the rel-shift trick, segment biases
    return Encoder(_hf("XLNetConfig", "XLNetModel", vocab_size=VOCAB, d_model=32, n_layer=2, n_head=2, d_inner=64,
                       initializer_range=0.1, mem_len=None, pad_token_id=0, bos_token_id=1, eos_token_id=2))


def squeezebert():
    # BERT with grouped 1x1 Conv1d in place of the q/k/v, output and feed-forward projections
    return Encoder(_hf("SqueezeBertConfig", "SqueezeBertModel", vocab_size=VOCAB, embedding_size=32,
                       q_groups=2, k_groups=2, v_groups=2, post_attention_groups=2, intermediate_groups=4,
                       output_groups=4, **BERTLIKE))


# ---------------------------------------------------------------------------------------------------------------
# second batch: attention through F.scaled_dot_product_attention, more tensor ops, bags, unfold / fold, a dilated
# causal TCN with weight norm, an STFT front end, and more decoder / encoder / vision families
class SDPAForms(nn.Module):
    """F.scaled_dot_product_attention the ways users call it: a boolean padding mask, is_causal with a custom scale,
    grouped-query (enable_gqa, or the kv heads repeated by repeat_interleave where TorchScript cannot export
    enable_gqa) with a float mask."""
    def __init__(self, gqa=True):
        super().__init__()
        self.gqa = gqa
        self.qkv = nn.Linear(16, 48)
        self.kv2 = nn.Linear(16, 16)
        self.out = nn.Linear(48, 8)

    def forward(self, x, mask):
        b, s, _ = x.shape
        q, k, v = self.qkv(x).view(b, s, 3, 4, 4).permute(2, 0, 3, 1, 4)        # [b, 4, s, 4] each
        keep = mask[:, None, None, :] > 0                                        # [b, 1, 1, s] bool
        a1 = nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=keep)
        a2 = nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True, scale=0.3)
        k2, v2 = self.kv2(x).view(b, s, 2, 2, 4).permute(2, 0, 3, 1, 4)         # 2 kv heads
        bias = torch.where(keep, 0.0, -1e4)
        if self.gqa:
            a3 = nn.functional.scaled_dot_product_attention(q, k2, v2, attn_mask=bias, enable_gqa=True)
        else:
            a3 = nn.functional.scaled_dot_product_attention(q, k2.repeat_interleave(2, 1), v2.repeat_interleave(2, 1),
                                                            attn_mask=bias)
        return self.out(torch.cat([a1, a2, a3], -1).transpose(1, 2).reshape(b, s, 48))


class TensorOps2(nn.Module):
    """sort / argsort (an inverse permutation), roll, flip, a causal prefix mean through a dynamic tril, a product
    scan (as exp of a cumsum of logs: cumprod exports with neither exporter),
    logsumexp, bucketize + one_hot, in-place masked assignment, repeat_interleave, clamp with tensor bounds."""
    def __init__(self):
        super().__init__()
        self.register_buffer("edges", torch.tensor([-1.5, -0.5, 0.0, 0.5, 1.5]))
        self.lo = nn.Parameter(torch.full((16,), -0.8))
        self.hi = nn.Parameter(torch.full((16,), 0.9))

    def forward(self, x):
        srt, order = torch.sort(x, dim=-1, descending=True)
        rank = torch.argsort(order, dim=-1)
        s = x.size(1)
        tri = torch.tril(torch.ones(s, s, dtype=x.dtype))
        prefix = (tri @ x) / tri.sum(-1, keepdim=True)
        cp = torch.exp(torch.cumsum(torch.log(torch.sigmoid(x) + 0.5), dim=1))  # cumprod: neither exporter has it
        lse = torch.logsumexp(x, -1, keepdim=True)
        buckets = torch.bucketize(x, self.edges)
        hist = nn.functional.one_hot(buckets, 6).to(x.dtype).sum(2)               # [b, s, 6]
        y = x.clone()
        y[y < -1] = 0.0
        rep = torch.repeat_interleave(x[:, :, :4], 2, dim=2)                     # [b, s, 8]
        clamped = torch.clamp(x, min=self.lo, max=self.hi)
        feats = torch.cat([torch.roll(x, 2, 1) + torch.flip(x, [1]), prefix + cp - lse, y + clamped, srt], -1)
        return torch.cat([feats, hist, rep], -1), rank, buckets


class Bags(nn.Module):
    """nn.EmbeddingBag (mean) over each row of ids and (sum with per-sample weights) over the same rows, an
    embedding with padding_idx, max_norm-free."""
    def __init__(self):
        super().__init__()
        self.mean_bag = nn.EmbeddingBag(VOCAB, 16, mode="mean")
        self.sum_bag = nn.EmbeddingBag(VOCAB, 16, mode="sum")
        self.emb = nn.Embedding(VOCAB, 16, padding_idx=0)
        self.fc = nn.Linear(48, 8)

    def forward(self, ids, mask):
        w = mask.to(torch.float32)
        bag = self.sum_bag(ids, per_sample_weights=w)
        tok = (self.emb(ids) * w.unsqueeze(-1)).sum(1) / w.sum(1, keepdim=True)
        return self.fc(torch.cat([self.mean_bag(ids), bag, tok], -1))


class UnfoldFold(nn.Module):
    """F.unfold into overlapping 3 x 3 patches (stride 2), a per-patch linear map, F.fold back (overlaps summed),
    normalised by folding ones: the sliding-window trick of users' local-attention and inpainting code."""
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, 1, 1)
        self.mix = nn.Linear(8 * 9, 8 * 9)
        self.head = nn.Conv2d(8, 4, 1)

    def forward(self, image):
        f = self.conv(image)
        h, w = f.shape[-2:]
        cols = nn.functional.unfold(f, 3, padding=1, stride=2)                    # [b, 72, L]
        cols = self.mix(cols.transpose(1, 2)).transpose(1, 2)
        y = nn.functional.fold(cols, (h, w), 3, padding=1, stride=2)
        norm = nn.functional.fold(torch.ones_like(cols), (h, w), 3, padding=1, stride=2)
        return self.head(y / norm)


class TCN(nn.Module):
    """A WaveNet/TCN stack on [batch, channels, time]: causal dilated Conv1d (left padding), gated tanh * sigmoid
    activations, weight-normalised convs (parametrizations.weight_norm), residual and skip sums."""
    def __init__(self):
        super().__init__()
        from torch.nn.utils.parametrizations import weight_norm
        self.inp = nn.Conv1d(8, 16, 1)
        self.filt = nn.ModuleList(weight_norm(nn.Conv1d(16, 16, 2, dilation=d)) for d in (1, 2, 4))
        self.gate = nn.ModuleList(weight_norm(nn.Conv1d(16, 16, 2, dilation=d)) for d in (1, 2, 4))
        self.res = nn.ModuleList(nn.Conv1d(16, 16, 1) for _ in range(3))
        self.out = nn.Conv1d(16, 4, 1)

    def forward(self, x):
        h = self.inp(x)
        skip = 0
        for d, f, g, r in zip((1, 2, 4), self.filt, self.gate, self.res):
            p = nn.functional.pad(h, (d, 0))
            z = torch.tanh(f(p)) * torch.sigmoid(g(p))
            skip = skip + z
            h = h + r(z)
        return self.out(torch.relu(skip))


class MelFrontend(nn.Module):
    """A log-mel front end: torch.stft (Hann window, centred with reflect padding), power spectrum, a mel-like
    filterbank matmul, log, then a small conv classifier over frames. ``complex_out=False``: the real/imaginary
    pairs straight from torch.stft (TorchScript cannot export a complex STFT)."""
    def __init__(self, complex_out=True):
        super().__init__()
        self.complex_out = complex_out
        self.register_buffer("window", torch.hann_window(64))
        self.register_buffer("fb", torch.rand(33, 16) / 8)
        self.conv = nn.Sequential(nn.Conv1d(16, 16, 3, padding=1), nn.ReLU(), nn.Conv1d(16, 8, 3, padding=1))

    def forward(self, audio):
        spec = torch.stft(audio, 64, 16, window=self.window, center=True, pad_mode="reflect",
                          return_complex=self.complex_out)
        power = (torch.view_as_real(spec) if self.complex_out else spec).pow(2).sum(-1)   # [b, 33, frames]
        mel = torch.log(torch.matmul(power.transpose(1, 2), self.fb) + 1e-6)     # [b, frames, 16]
        return self.conv(mel.transpose(1, 2))


def gpt_neo():
    # alternating global / local (window 4) attention layers, learned positions, no attention scaling
    return Encoder(_hf("GPTNeoConfig", "GPTNeoModel", vocab_size=VOCAB, hidden_size=32, num_layers=2,
                       num_heads=2, intermediate_size=64, attention_types=[[["global", "local"], 1]],
                       window_size=4, max_position_embeddings=64, initializer_range=0.1, bos_token_id=0,
                       eos_token_id=0))


def stablelm():
    # partial rotary (25 %), LayerNorm per head on q and k, parallel residual off, qkv bias
    return Encoder(_hf("StableLmConfig", "StableLmModel", partial_rotary_factor=0.25, qk_layernorm=True,
                       use_qkv_bias=True, **GQA))


def cohere():
    # interleaved rotary, bias-free LayerNorm, parallel attention + MLP, logit scale (on the head: not here)
    return Encoder(_hf("CohereConfig", "CohereModel", pad_token_id=0, bos_token_id=1, eos_token_id=2, **GQA))


def olmo2():
    # RMSNorm over the whole q and k projections, norms after attention / MLP (post-norm residual)
    return Encoder(_hf("Olmo2Config", "Olmo2Model", pad_token_id=0, bos_token_id=1, eos_token_id=2, **GQA))


def starcoder2():
    # LayerNorm with bias, GELU MLP with biases, sliding window 4, GQA
    return Encoder(_hf("Starcoder2Config", "Starcoder2Model", attn="eager", sliding_window=4, use_bias=True,
                       bos_token_id=0, eos_token_id=0, **GQA))


def fnet():
    # token mixing by a 2-d discrete Fourier transform (real part of fft over hidden and sequence axes)
    return Encoder(_hf("FNetConfig", "FNetModel", vocab_size=VOCAB, hidden_size=32, num_hidden_layers=2,
                       intermediate_size=64, max_position_embeddings=64, initializer_range=0.1,
                       use_tpu_fourier_optimizations=False, pad_token_id=0))


class FNetIds(nn.Module):
    """FNet takes no attention mask: ids and token types only."""
    def __init__(self):
        super().__init__()
        self.model = fnet().model

    def forward(self, ids):
        return self.model(input_ids=ids).last_hidden_state


def siglip_vision():
    # SigLIP's vision tower: patch conv, learned positions, a multi-head attention pooling head (a probe token)
    return Vision(_hf("SiglipVisionConfig", "SiglipVisionModel", **VIT_CFG), out="pooler_output")


def mobilevitv2():
    # separable self-attention (linear in the number of patches), unfold to 2 x 2 patches with GroupNorm
    return Vision(_hf("MobileViTV2Config", "MobileViTV2Model", image_size=64, patch_size=2, width_multiplier=0.0625,
                      expand_ratio=2.0, initializer_range=0.1), out="pooler_output")


def mamba2():
    # a state-space model: gated depthwise conv1d, the SSD scan in chunks of 4 (segment sums by cumsum, exp of
    # masked tril differences, einsums), RMSNorm gated by z
    return Encoder(_hf("Mamba2Config", "Mamba2Model", vocab_size=VOCAB, hidden_size=32, state_size=8,
                       num_heads=4, head_dim=16, expand=2, n_groups=1, chunk_size=4, conv_kernel=4,
                       num_hidden_layers=2, initializer_range=0.1, pad_token_id=0, bos_token_id=1, eos_token_id=2,
                       use_cache=False))


# ---------------------------------------------------------------------------------------------------------------
SEQ16 = dict(inputs=[_floats("x", ["batch", "seq", 16])], bounds={"batch": 4, "seq": 16},
             dim_sets=[{"batch": 1, "seq": 5}, {"batch": 3, "seq": 11}], example_dims={"batch": 2, "seq": 7})
TEXT = dict(inputs=[_ids(), _mask()], outputs=["hidden"], bounds={"batch": 4, "seq": 32},
            dim_sets=[{"batch": 1, "seq": 5}, {"batch": 3, "seq": 11}], example_dims={"batch": 2, "seq": 7})
IMG = dict(inputs=[_image()], outputs=["logits"], bounds={"batch": 4}, dim_sets=[{"batch": 1}, {"batch": 3}],
           example_dims={"batch": 2})
IMG_HW = dict(inputs=[_image_hw()], outputs=["logits"], bounds={"batch": 2, "height": 96, "width": 96},
              dim_sets=[{"batch": 1, "height": 64, "width": 64}, {"batch": 2, "height": 96, "width": 64}],
              example_dims={"batch": 2, "height": 64, "width": 96})
VISION32 = dict(inputs=[_image(hw=32)], outputs=["hidden"], bounds={"batch": 4}, dim_sets=[{"batch": 1}, {"batch": 3}],
                example_dims={"batch": 2})
AUDIO = dict(inputs=[_floats("audio", ["batch", "samples"])], outputs=["hidden"],
             bounds={"batch": 2, "samples": 1600}, dim_sets=[{"batch": 1, "samples": 800}, {"batch": 2, "samples": 1333}],
             example_dims={"batch": 2, "samples": 1000}, dynamic_outputs={"hidden": {0: "batch", 1: "frames"}})
AUDIO_FIXED = dict(inputs=[_floats("audio", ["batch", 1000])], outputs=["hidden"], bounds={"batch": 2},
                   dim_sets=[{"batch": 1}, {"batch": 2}], example_dims={"batch": 2})
KV = [_floats(n, ["batch", 2, "past", 16]) for n in ("past_k0", "past_v0", "past_k1", "past_v1")]
PRESENT = ["present_k0", "present_v0", "present_k1", "present_v1"]
SEQ2SEQ = dict(inputs=[_ids(), _floats("enc", ["batch", "enc_seq", 32]), _mask("enc_mask", ("batch", "enc_seq"))] + KV,
               outputs=["logits"] + PRESENT, bounds={"batch": 4, "seq": 8, "past": 24, "enc_seq": 32},
               dim_sets=[{"batch": 1, "seq": 1, "past": 5, "enc_seq": 7}, {"batch": 2, "seq": 3, "past": 9, "enc_seq": 12}],
               example_dims={"batch": 2, "seq": 3, "past": 5, "enc_seq": 6},
               dynamic_outputs={n: {0: "batch", 2: "total"} for n in PRESENT})

ZOO = {
    "mha_masks": dict(build=MHAMasks, seed=3001, inputs=SEQ16["inputs"] + [_mask()], outputs=["y", "weights"],
                      dynamic_outputs={"weights": {0: "batch", 1: "seq", 2: "seq"}}, exporters=("dynamo",),
                      **{k: v for k, v in SEQ16.items() if k != "inputs"}),
    # TorchScript keeps the example's sequence length in nn.MultiheadAttention's reshapes (onnxruntime fails at
    # other lengths): its file takes a fixed length, the batch dynamic
    "mha_masks_seq7": dict(build=MHAMasks, seed=3001, inputs=[_floats("x", ["batch", 7, 16]), _mask(shape=("batch", 7))],
                           outputs=["y", "weights"], exporters=("ts",), bounds={"batch": 4},
                           dim_sets=[{"batch": 1}, {"batch": 3}], example_dims={"batch": 2}),
    # dynamo: "Could not guard on data-dependent expression Eq(u0, 1)" (the decoder's mask-is-causal check) unless
    # the model says tgt_is_causal=True
    "torch_transformer": dict(build=TransformerEncDec, build_dynamo=lambda: TransformerEncDec(True), seed=3002,
                              exporters=("dynamo",),
                              inputs=[_ids("src", ("batch", "src_seq")), _mask("src_mask", ("batch", "src_seq")),
                                      _ids("tgt", ("batch", "tgt_seq"))], outputs=["logits"],
                              bounds={"batch": 4, "src_seq": 24, "tgt_seq": 16},
                              dim_sets=[{"batch": 1, "src_seq": 6, "tgt_seq": 3},
                                        {"batch": 3, "src_seq": 13, "tgt_seq": 9}],
                              example_dims={"batch": 2, "src_seq": 7, "tgt_seq": 5},
                              dynamic_outputs={"logits": {0: "batch", 1: "tgt_seq"}}),
    # TorchScript keeps the example's source length in nn.MultiheadAttention's reshapes: its file has fixed lengths
    "torch_transformer_fixed": dict(build=TransformerEncDec, seed=3002, exporters=("ts",),
                                    inputs=[_ids("src", ("batch", 7)), _mask("src_mask", ("batch", 7)),
                                            _ids("tgt", ("batch", 5))], outputs=["logits"], bounds={"batch": 4},
                                    dim_sets=[{"batch": 1}, {"batch": 3}], example_dims={"batch": 2}),
    # TorchScript's pad_packed_sequence makes a Range up to the largest length (a value known at run time): its
    # bound comes from the user, as the compiler's error asks (--dim _Range_output_0_dim0=16)
    "lstm_packed": dict(build=PackedBiLSTM, seed=3003, inputs=SEQ16["inputs"] + [_mask()], outputs=["y", "pooled"],
                        dynamic_outputs={"pooled": {0: "batch"}},
                        **dict({k: v for k, v in SEQ16.items() if k != "inputs"},
                               bounds={"batch": 4, "seq": 16, "_Range_output_0_dim0": 16})),
    "tensor_ops": dict(build=TensorOps, seed=3004, outputs=["y", "hist", "top_idx"],
                       dynamic_outputs={"hist": {0: "batch"}, "top_idx": {0: "batch", 1: "seq"}}, **SEQ16),
    "spatial_transformer": dict(IMG_HW, build=SpatialTransformer, seed=3005, outputs=["mask"],
                                dynamic_outputs={"mask": {0: "batch", 2: "height", 3: "width"}}),
    # the dynamo exporter fails on roi_pool (its torchvision_roi_pool function raises); its file takes a second,
    # adaptive-sampling roi_align there
    "roi_heads": dict(build=RoIHeads, build_dynamo=lambda: RoIHeads(pool=False), seed=3006, inputs=[_image()], outputs=["logits", "rois"],
                      bounds={"batch": 4}, dim_sets=[{"batch": 1}, {"batch": 3}], example_dims={"batch": 2},
                      dynamic_outputs={"logits": {0: "rois"}, "rois": {0: "rois"}}),
    # TorchScript cannot export these adaptive pools ("input size not accessible": the sizes after the fractional
    # upsampling and the dilated ceil-mode max-pool are unknown to it; "output size that are not factor of input
    # size" else): its file pools the 8 x 8 map to 4 x 2 (average) and 2 x 2 (max) with fixed kernels instead
    "pool_resample": dict(IMG, build=lambda: PoolResample(odd_adaptive=False), build_dynamo=PoolResample, seed=3007),
    # float16 storage: each engine rounds its own way; 1 % of the output's largest magnitude
    "half_cnn": dict(IMG, build=HalfCNN, seed=3008, half=True, inputs=[dict(_image(), dtype="float16")],
                     tolerance={"dynamo": {"rel": 0.01}, "ts": {"rel": 0.01}}),
    "densenet": dict(IMG_HW, build=densenet, seed=3009),
    "googlenet": dict(IMG, build=googlenet, seed=3010, inputs=[_image(hw=96)]),
    "inception_v3": dict(IMG, build=inception_v3, seed=3011, inputs=[_image(hw=96)]),
    # a fixed image size: at a symbolic height the stride-4 branch has (h + 3) // 4 rows where the upsampled stride-8
    # branch has 2 * ((h + 7) // 8), equal only for multiples of 8 (HRNet wants multiples of 32), which a dim's
    # bounds cannot say
    "hrnet": dict(IMG, build=HRNetSmall, seed=3012, outputs=["mask"]),
    "mobilenetv4_hybrid": dict(IMG, build=mobilenetv4_hybrid, seed=3013),
    "deit": dict(build=DeiTTeacher, build_dynamo=lambda: DeiTTeacher("eager"), seed=3014,
                 **dict(VISION32, outputs=["logits"])),
    "detr": dict(build=Detr, seed=3015, inputs=[_image()], outputs=["logits", "boxes"], bounds={"batch": 2},
                 dim_sets=[{"batch": 1}, {"batch": 2}], example_dims={"batch": 2}),
    "hubert": dict(AUDIO, build=hubert, seed=3016),
    # the conformer's rotary / relative position tables are computed for the example's frame count and kept as
    # constants by both exporters (onnxruntime fails on other lengths): a fixed number of samples
    "wav2vec2_conformer": dict(AUDIO_FIXED, build=wav2vec2_conformer, seed=3017),
    "wav2vec2_conformer_rel": dict(AUDIO_FIXED, build=lambda: wav2vec2_conformer("relative"), seed=3018),
    "codegen": dict(TEXT, build=codegen, seed=3019),
    "llama3_rope": dict(TEXT, build=lambda: llama_rope("llama3"), seed=3020),
    "llama_yarn": dict(TEXT, build=lambda: llama_rope("yarn"), seed=3021),
    "t5_v11_encoder": dict(TEXT, build=t5_v11_encoder, build_dynamo=lambda: t5_v11_encoder("eager"), seed=3022),
    "mbart_decoder": dict(SEQ2SEQ, build=mbart_decoder, seed=3023),
    "xlnet": dict(TEXT, build=xlnet, seed=3024),
    "squeezebert": dict(TEXT, build=squeezebert, seed=3025),
    "sdpa_forms": dict(build=lambda: SDPAForms(gqa=False), build_dynamo=SDPAForms, seed=3027, inputs=SEQ16["inputs"] + [_mask()], outputs=["y"],
                       **{k: v for k, v in SEQ16.items() if k != "inputs"}),
    "tensor_ops2": dict(build=TensorOps2, seed=3028, outputs=["y", "rank", "buckets"],
                        dynamic_outputs={"rank": {0: "batch", 1: "seq"}, "buckets": {0: "batch", 1: "seq"}}, **SEQ16),
    "bags": dict(TEXT, build=Bags, seed=3029, outputs=["y"], dynamic_outputs={"y": {0: "batch"}}),
    "unfold_fold": dict(IMG, build=UnfoldFold, seed=3030, inputs=[_image(hw=32)], outputs=["mask"]),
    "tcn": dict(build=TCN, seed=3031, inputs=[_floats("x", ["batch", 8, "time"])], outputs=["y"],
                bounds={"batch": 4, "time": 64}, dim_sets=[{"batch": 1, "time": 9}, {"batch": 3, "time": 40}],
                example_dims={"batch": 2, "time": 20}, dynamic_outputs={"y": {0: "batch", 2: "time"}}),
    # TorchScript: "STFT does not currently support complex types": its file takes return_complex=False
    "mel_frontend": dict(build=lambda: MelFrontend(False), build_dynamo=MelFrontend, seed=3032, inputs=[_floats("audio", ["batch", "samples"])],
                         outputs=["y"], bounds={"batch": 2, "samples": 1024},
                         dim_sets=[{"batch": 1, "samples": 400}, {"batch": 2, "samples": 1000}],
                         example_dims={"batch": 2, "samples": 640}, dynamic_outputs={"y": {0: "batch", 2: "frames"}}),
    "gpt_neo": dict(TEXT, build=gpt_neo, seed=3033),
    "stablelm": dict(TEXT, build=stablelm, seed=3034),
    "cohere": dict(TEXT, build=cohere, seed=3035),
    "olmo2": dict(TEXT, build=olmo2, seed=3036),
    "starcoder2": dict(TEXT, build=starcoder2, seed=3037),
    "fnet": dict(TEXT, build=FNetIds, seed=3038, inputs=[_ids()]),
    "siglip_vision": dict(VISION32, build=siglip_vision, seed=3040, outputs=["pooled"],
                          dynamic_outputs={"pooled": {0: "batch"}}),
    "mobilevitv2": dict(IMG, build=mobilevitv2, seed=3041, outputs=["pooled"]),
    "mamba2": dict(TEXT, build=mamba2, seed=3042),
}
