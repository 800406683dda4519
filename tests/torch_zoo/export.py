"""Export the PyTorch model zoo that tests/e2e/test_torch_zoo.py runs (needs torch, torchvision, transformers).

    /work/torchenv/bin/python tests/torch_zoo/export.py            # every model, both exporters
    /work/torchenv/bin/python tests/torch_zoo/export.py bert gpt2  # only these

Real architectures (torchvision, Hugging Face transformers, torch.nn recurrent and control-flow modules) at
reduced widths and depths, random weights (no downloads), fixed seeds, made non-degenerate: constant
parameters (zero biases, unit norms, ViT's zero head, ConvNeXt's 1e-6 layer scale) are re-drawn and BatchNorm
statistics come from train-mode forwards on random inputs. Each model goes through both exporters,
``torch.onnx.export(dynamo=True)`` and ``dynamo=False`` (TorchScript), into ``models/<arch>.<dynamo|ts>.onnx``
with dynamic batch (and sequence) axes; ``manifest.json`` says per model what its inputs are (dtype, value
range), the bounds for ``sdk.compile(dims=...)`` and two dim sets below them to run. An exporter that fails
is recorded under ``export_failed`` with its first error line, and the script moves on.
"""
import json
import os
import sys
import traceback
import warnings
from pathlib import Path

import onnx
import torch
from torch import nn

import zoo_fam
import zoo_more
import zoo_shipped
import zoo_users
import zoo_xf
import zoo_vision
# the input specs and Hugging Face wrappers that every zoo file uses
from zoo_more import BERTLIKE, VOCAB, Encoder, Seq2SeqStep, _hf
from zoo_more import _floats as floats
from zoo_more import _ids as ids
from zoo_more import _image as image
from zoo_more import _mask as mask

HERE = Path(__file__).resolve().parent
MODELS = HERE / "models"
MANIFEST = HERE / "manifest.json"
EXPORTERS = ("dynamo", "ts")

warnings.filterwarnings("ignore")


def example(spec, dims, gen):
    shape = [dims[d] if isinstance(d, str) else d for d in spec["shape"]]
    if spec["dtype"] in ("float32", "float16"):
        return torch.randn(*shape, generator=gen).to(getattr(torch, spec["dtype"]))
    if spec.get("kind") == "mask":
        m = torch.ones(*shape, dtype=torch.int64)
        m[..., -1] = 0  # some padding so the exporter does not see an all-ones constant pattern
        m[..., 0] = 1
        return m
    lo, hi = spec["range"]
    return torch.randint(lo, hi, shape, generator=gen, dtype=torch.int64)


# ---------------------------------------------------------------------------------------------------------------
# making random weights non-degenerate
def randomize(model, make_inputs, seed):
    """Re-draw constant parameters; set BatchNorm statistics by train-mode forwards on random inputs."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            if p.numel() > 1 and float(p.std()) == 0.0 or p.numel() == 1:
                c = float(p.flatten()[0])
                noise = torch.randn(p.shape, generator=gen)
                p.copy_(c * (1 + 0.2 * noise) if abs(c) > 0.5 else c + 0.1 * noise)
        bns = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
        if bns:
            for m in bns:
                m.reset_running_stats()
                m.momentum = None  # cumulative average over the calibration forwards
            model.train()
            for _ in range(4):
                model(*make_inputs(gen))
    return model.eval()


# ---------------------------------------------------------------------------------------------------------------
# vision
def small_resnet(block, layers, widths, num_classes=10):
    """torchvision's ResNet topology (stem, four stages of BasicBlock/Bottleneck, pool, fc) at small widths."""
    from torchvision.models.resnet import conv1x1

    class SmallResNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.inplanes = widths[0]
            self.conv1 = nn.Conv2d(3, self.inplanes, 7, 2, 3, bias=False)
            self.bn1 = nn.BatchNorm2d(self.inplanes)
            self.relu = nn.ReLU(inplace=True)
            self.maxpool = nn.MaxPool2d(3, 2, 1)
            stages = []
            for i, (w, n) in enumerate(zip(widths, layers)):
                stride = 1 if i == 0 else 2
                down = None
                if stride != 1 or self.inplanes != w * block.expansion:
                    down = nn.Sequential(conv1x1(self.inplanes, w * block.expansion, stride),
                                         nn.BatchNorm2d(w * block.expansion))
                blocks = [block(self.inplanes, w, stride, down)]
                self.inplanes = w * block.expansion
                blocks += [block(self.inplanes, w) for _ in range(1, n)]
                stages.append(nn.Sequential(*blocks))
            self.layer1, self.layer2, self.layer3, self.layer4 = stages
            self.avgpool = nn.AdaptiveAvgPool2d(1)
            self.fc = nn.Linear(self.inplanes, num_classes)

        def forward(self, x):
            x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
            x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
            return self.fc(torch.flatten(self.avgpool(x), 1))

    return SmallResNet()


def resnet_basic():
    from torchvision.models.resnet import BasicBlock
    return small_resnet(BasicBlock, [2, 1, 1, 1], [8, 16, 24, 32])


def resnet_bottleneck():
    from torchvision.models.resnet import Bottleneck
    return small_resnet(Bottleneck, [1, 2, 1, 1], [4, 8, 12, 16])


def mobilenet_v2():
    from torchvision.models.mobilenetv2 import MobileNetV2
    m = MobileNetV2(num_classes=10, width_mult=0.25,
                    inverted_residual_setting=[[1, 16, 1, 1], [6, 24, 2, 2], [6, 32, 2, 2], [6, 64, 1, 2], [6, 96, 1, 1]])
    last = m.features[-1][0].in_channels
    m.features[-1] = nn.Sequential(nn.Conv2d(last, 64, 1, bias=False), nn.BatchNorm2d(64), nn.ReLU6())
    m.classifier[1] = nn.Linear(64, 10)
    return m


def mobilenet_v3_small():
    from torchvision.models.mobilenetv3 import MobileNetV3, _mobilenet_v3_conf
    setting, last_channel = _mobilenet_v3_conf("mobilenet_v3_small", width_mult=0.25)
    return MobileNetV3(setting[:7], 32, num_classes=10)


def efficientnet_b0():
    from torchvision.models.efficientnet import EfficientNet, _efficientnet_conf
    setting, last_channel = _efficientnet_conf("efficientnet_b0", width_mult=0.125, depth_mult=0.34)
    return EfficientNet(setting[:5], dropout=0.2, num_classes=10, last_channel=48)


def shufflenet_v2():
    from torchvision.models.shufflenetv2 import ShuffleNetV2
    return ShuffleNetV2([2, 1, 1], [8, 16, 32, 48, 64], num_classes=10)


def squeezenet():
    from torchvision.models.squeezenet import Fire

    class SmallSqueezeNet(nn.Module):
        """torchvision SqueezeNet 1.1's layout (conv, max-pools, Fire modules, conv head, avg-pool) at small widths."""
        def __init__(self, num_classes=10):
            super().__init__()
            self.features = nn.Sequential(
                nn.Conv2d(3, 16, 3, 2), nn.ReLU(inplace=True), nn.MaxPool2d(3, 2, ceil_mode=True),
                Fire(16, 4, 8, 8), Fire(16, 4, 8, 8), nn.MaxPool2d(3, 2, ceil_mode=True),
                Fire(16, 8, 16, 16), Fire(32, 8, 16, 16))
            self.classifier = nn.Sequential(nn.Dropout(0.5), nn.Conv2d(32, num_classes, 1), nn.ReLU(inplace=True),
                                            nn.AdaptiveAvgPool2d(1))

        def forward(self, x):
            return torch.flatten(self.classifier(self.features(x)), 1)

    return SmallSqueezeNet()


def regnet_y():
    from torchvision.models.regnet import BlockParams, RegNet
    params = BlockParams.from_init_params(depth=4, w_0=8, w_a=8.0, w_m=2.0, group_width=8, se_ratio=0.25)
    return RegNet(params, num_classes=10, stem_width=8)


def convnext():
    from torchvision.models.convnext import CNBlockConfig, ConvNeXt
    return ConvNeXt([CNBlockConfig(8, 16, 1), CNBlockConfig(16, 24, 1), CNBlockConfig(24, None, 1)], num_classes=10)


def vit():
    from torchvision.models.vision_transformer import VisionTransformer
    return VisionTransformer(image_size=64, patch_size=16, num_layers=2, num_heads=2, hidden_dim=16, mlp_dim=32,
                             num_classes=10)


class TinyDetector(nn.Module):
    """A one-stage detector: conv backbone, a box + score head per cell, decoded boxes, batched NMS over the batch."""
    def __init__(self):
        super().__init__()
        self.backbone = nn.Sequential(nn.Conv2d(3, 8, 3, 2, 1), nn.BatchNorm2d(8), nn.ReLU(),
                                      nn.Conv2d(8, 16, 3, 2, 1), nn.BatchNorm2d(16), nn.ReLU(),
                                      nn.Conv2d(16, 16, 3, 2, 1), nn.BatchNorm2d(16), nn.ReLU())
        self.head = nn.Conv2d(16, 5, 1)

    def forward(self, image):
        from torchvision.ops import batched_nms
        out = self.head(self.backbone(image))                       # [b, 5, h, w]
        b, _, h, w = out.shape
        out = out.flatten(2).transpose(1, 2)                        # [b, h*w, 5]
        ys = torch.arange(h, dtype=torch.float32).repeat_interleave(w) * 8 + 4
        xs = torch.arange(w, dtype=torch.float32).repeat(h) * 8 + 4
        cx = xs + torch.tanh(out[..., 0]) * 8
        cy = ys + torch.tanh(out[..., 1]) * 8
        bw = torch.exp(out[..., 2].clamp(-2, 2)) * 8
        bh = torch.exp(out[..., 3].clamp(-2, 2)) * 8
        boxes = torch.stack([cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2], -1).reshape(-1, 4)
        scores = torch.sigmoid(out[..., 4]).reshape(-1)
        which = torch.arange(b).repeat_interleave(h * w)
        keep = batched_nms(boxes, scores, which, 0.3)
        return boxes[keep], scores[keep], which[keep]


# ---------------------------------------------------------------------------------------------------------------
# text (Hugging Face transformers, tiny random configs)
def bert():
    from transformers import BertConfig, BertModel
    cfg = BertConfig(vocab_size=VOCAB, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                     intermediate_size=64, max_position_embeddings=64, initializer_range=0.1)
    return Encoder(BertModel(cfg, add_pooling_layer=False))


def minilm():
    # MiniLM is BERT with a narrow hidden size and many small heads (head dim 4 here, 32 in the real one)
    from transformers import BertConfig, BertModel
    cfg = BertConfig(vocab_size=VOCAB, hidden_size=24, num_hidden_layers=2, num_attention_heads=6,
                     intermediate_size=48, max_position_embeddings=64, initializer_range=0.1, hidden_act="gelu")
    return Encoder(BertModel(cfg, add_pooling_layer=False))


def distilbert():
    from transformers import DistilBertConfig, DistilBertModel
    cfg = DistilBertConfig(vocab_size=VOCAB, dim=32, n_layers=2, n_heads=2, hidden_dim=64,
                           max_position_embeddings=64, initializer_range=0.1)
    return Encoder(DistilBertModel(cfg))


def gpt2_config():
    from transformers import GPT2Config
    return GPT2Config(vocab_size=VOCAB, n_embd=32, n_layer=2, n_head=2, n_positions=64, initializer_range=0.1)


class GPT2NoMask(nn.Module):
    """GPT-2 body + LM head on token ids only (no mask, no cache)."""
    def __init__(self):
        super().__init__()
        from transformers import GPT2LMHeadModel
        self.model = GPT2LMHeadModel(gpt2_config())

    def forward(self, ids):
        return self.model(input_ids=ids, use_cache=False).logits


class GPT2Past(nn.Module):
    """One decoding step of GPT-2 with a KV cache: ids [b, seq], mask [b, past+seq], 2 layers of past k/v."""
    def __init__(self):
        super().__init__()
        from transformers import GPT2LMHeadModel
        self.model = GPT2LMHeadModel(gpt2_config())

    def forward(self, ids, mask, k0, v0, k1, v1):
        from transformers import DynamicCache
        cache = DynamicCache([(k0, v0), (k1, v1)])
        out = self.model(input_ids=ids, attention_mask=mask, past_key_values=cache, use_cache=True)
        kv = out.past_key_values
        return (out.logits, kv.layers[0].keys, kv.layers[0].values, kv.layers[1].keys, kv.layers[1].values)


def t5_config(attn=None):
    from transformers import T5Config
    cfg = T5Config(vocab_size=VOCAB, d_model=32, d_kv=16, d_ff=64, num_layers=2, num_decoder_layers=2, num_heads=2,
                    relative_attention_num_buckets=8, relative_attention_max_distance=16, decoder_start_token_id=0,
                    initializer_factor=2.0)
    if attn:
        cfg._attn_implementation = attn
    return cfg


# The dynamo exporter fails on T5 with the default (sdpa) attention: "ValueError: Cannot view a tensor with shape
# torch.Size([s23, s27, 2, 16]) and strides (32*s27, 16, 16*s27, 1) as a tensor with shape (s23, s27, 32)!" (the
# reshape after attention, in torch.export's decompositions); with eager attention it exports. TorchScript gets sdpa.
def t5_encoder(attn=None):
    from transformers import T5EncoderModel
    return Encoder(T5EncoderModel(t5_config(attn)))


def t5_decoder(attn=None):
    from transformers import T5ForConditionalGeneration
    return Seq2SeqStep(T5ForConditionalGeneration(t5_config(attn)))


def bart_config():
    from transformers import BartConfig
    return BartConfig(vocab_size=VOCAB, d_model=32, encoder_layers=2, decoder_layers=2, encoder_attention_heads=2,
                      decoder_attention_heads=2, encoder_ffn_dim=64, decoder_ffn_dim=64, max_position_embeddings=64,
                      init_std=0.1)


def bart_encoder():
    from transformers import BartModel
    return Encoder(BartModel(bart_config()).get_encoder())


def bart_decoder():
    from transformers import BartForConditionalGeneration
    return Seq2SeqStep(BartForConditionalGeneration(bart_config()))


# ---------------------------------------------------------------------------------------------------------------
# recurrent and control flow
class LSTMNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.rnn = nn.LSTM(16, 32, num_layers=2, batch_first=True)
        self.fc = nn.Linear(32, 8)

    def forward(self, x):
        y, _ = self.rnn(x)
        return self.fc(y)


class GRUNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.rnn = nn.GRU(16, 24, batch_first=True, bidirectional=True)
        self.fc = nn.Linear(48, 8)

    def forward(self, x):
        y, h = self.rnn(x)
        return self.fc(y), h


class IfNet(nn.Module):
    """Branch on the data: positive-mean inputs through one MLP, the others through another (ONNX If)."""
    def __init__(self):
        super().__init__()
        self.a = nn.Sequential(nn.Linear(16, 32), nn.ReLU(), nn.Linear(32, 8))
        self.b = nn.Sequential(nn.Linear(16, 32), nn.Tanh(), nn.Linear(32, 8))

    def forward(self, x):
        if bool(x.mean() > 0):
            return self.a(x)
        return self.b(x) * 2.0


class IfNetCond(IfNet):
    """The same model with torch.cond, the form the dynamo exporter turns into ONNX If."""
    def forward(self, x):
        return torch.cond(x.mean() > 0, lambda t: self.a(t), lambda t: self.b(t) * 2.0, (x,))


class LoopNet(nn.Module):
    """A hand-written RNN over a dynamic number of steps (ONNX Loop with a loop-carried state)."""
    def __init__(self):
        super().__init__()
        self.inp = nn.Linear(16, 32)
        self.rec = nn.Linear(32, 32)
        self.out = nn.Linear(32, 8)

    def forward(self, x):
        h = torch.zeros(x.size(0), 32)
        for t in range(x.size(1)):
            h = torch.tanh(self.inp(x[:, t]) + self.rec(h))
        return self.out(h)


class LoopNetWhile(LoopNet):
    """The same model with torch's while_loop, the form the dynamo exporter could turn into ONNX Loop."""
    def forward(self, x):
        from torch._higher_order_ops.while_loop import while_loop
        h0 = torch.zeros(x.size(0), 32)
        t0 = torch.zeros((), dtype=torch.int64)

        def cond(t, h):
            return t < x.size(1)

        def body(t, h):
            xt = torch.index_select(x, 1, t.reshape(1)).squeeze(1)
            return t + 1, torch.tanh(self.inp(xt) + self.rec(h))

        _, h = while_loop(cond, body, (t0, h0))
        return self.out(h)


# ---------------------------------------------------------------------------------------------------------------
# more architectures users bring: Llama-style decoders, speech encoders, segmentation, video, detection necks
def _gqa_decoder(config_cls, model_cls):
    """A Llama-style decoder body: RMSNorm, rotary position embeddings, SwiGLU MLP, grouped-query attention (4 query
    heads over 2 kv heads)."""
    cfg = config_cls(vocab_size=VOCAB, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                     num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=64, initializer_range=0.1)
    cfg._attn_implementation = "eager"
    return Encoder(model_cls(cfg))


def llama():
    from transformers import LlamaConfig, LlamaModel
    return _gqa_decoder(LlamaConfig, LlamaModel)


def qwen2():
    # Llama's layout with biases on q/k/v and a different rope base
    from transformers import Qwen2Config, Qwen2Model
    return _gqa_decoder(Qwen2Config, Qwen2Model)


class WhisperEncoder(nn.Module):
    """Whisper's audio encoder: two Conv1d (the second stride 2) with GELU, sinusoidal positions, pre-LN blocks."""
    def __init__(self):
        super().__init__()
        from transformers import WhisperConfig
        from transformers.models.whisper.modeling_whisper import WhisperEncoder as Enc
        cfg = WhisperConfig(num_mel_bins=16, d_model=32, encoder_layers=2, encoder_attention_heads=2,
                            encoder_ffn_dim=64, max_source_positions=24, init_std=0.1)
        cfg._attn_implementation = "eager"
        self.enc = Enc(cfg)

    def forward(self, features):
        return self.enc(features).last_hidden_state


class Wav2Vec2(nn.Module):
    """wav2vec 2.0 on raw audio: a strided Conv1d feature extractor (GroupNorm, GELU), feature projection, a
    grouped positional convolution, and post-LN transformer blocks."""
    def __init__(self):
        super().__init__()
        from transformers import Wav2Vec2Config, Wav2Vec2Model
        cfg = Wav2Vec2Config(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
                             conv_dim=(16, 16, 16), conv_stride=(5, 2, 2), conv_kernel=(10, 3, 3),
                             num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=4,
                             initializer_range=0.1, do_stable_layer_norm=False, feat_extract_norm="group")
        cfg._attn_implementation = "eager"
        self.model = Wav2Vec2Model(cfg)

    def forward(self, audio):
        return self.model(audio).last_hidden_state


class UNet(nn.Module):
    """A two-level UNet: strided and dilated convs, a transposed conv and a bilinear upsample back up, skip concats."""
    def __init__(self):
        super().__init__()
        blk = lambda i, o, **kw: nn.Sequential(nn.Conv2d(i, o, 3, padding=kw.get("dilation", 1), **kw),
                                               nn.BatchNorm2d(o), nn.ReLU())
        self.enc1, self.enc2 = blk(3, 8), blk(8, 16, stride=2)
        self.mid = blk(16, 16, dilation=2)
        self.down = nn.MaxPool2d(2)
        self.up1 = nn.ConvTranspose2d(16, 16, 2, stride=2)
        self.dec1 = blk(32, 16)
        self.dec0 = blk(24, 8)
        self.head = nn.Conv2d(8, 4, 1)

    def forward(self, image):
        e1 = self.enc1(image)                          # [b, 8, h, w]
        e2 = self.enc2(e1)                             # [b, 16, h/2, w/2]
        m = self.mid(self.down(e2))                    # [b, 16, h/4, w/4]
        d1 = self.dec1(torch.cat([self.up1(m), e2], 1))
        d0 = nn.functional.interpolate(d1, scale_factor=2.0, mode="bilinear", align_corners=False)
        return self.head(self.dec0(torch.cat([d0, e1], 1)))


class Video3D(nn.Module):
    """A tiny R3D-style video classifier: Conv3d + BatchNorm3d + ReLU, 3-d max pooling, a residual 3-d block."""
    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv3d(3, 8, (3, 5, 5), (1, 2, 2), (1, 2, 2), bias=False),
                                  nn.BatchNorm3d(8), nn.ReLU(), nn.MaxPool3d((1, 3, 3), (1, 2, 2), (0, 1, 1)))
        self.block = nn.Sequential(nn.Conv3d(8, 8, 3, padding=1, bias=False), nn.BatchNorm3d(8), nn.ReLU(),
                                   nn.Conv3d(8, 8, 3, padding=1, bias=False), nn.BatchNorm3d(8))
        self.fc = nn.Linear(8, 10)

    def forward(self, clip):
        x = self.stem(clip)
        x = torch.relu(x + self.block(x))
        return self.fc(torch.flatten(nn.functional.adaptive_avg_pool3d(x, 1), 1))


class YoloNeck(nn.Module):
    """A YOLOv5/v8-style backbone + neck: Conv-BN-SiLU, a C2f block (chunk, bottlenecks, concat), SPPF (three max
    pools), nearest upsampling and two detection heads at strides 8 and 16."""
    def __init__(self):
        super().__init__()
        cbs = lambda i, o, k=3, s=1: nn.Sequential(nn.Conv2d(i, o, k, s, k // 2, bias=False), nn.BatchNorm2d(o),
                                                   nn.SiLU())
        self.s1 = nn.Sequential(cbs(3, 8, 3, 2), cbs(8, 16, 3, 2), cbs(16, 16, 3, 2))   # stride 8
        self.c2f_in, self.c2f_b1, self.c2f_b2 = cbs(16, 16, 1), cbs(8, 8), cbs(8, 8)
        self.c2f_out = cbs(24, 16, 1)
        self.s2 = cbs(16, 32, 3, 2)                                                    # stride 16
        self.sppf_in, self.sppf_out = cbs(32, 16, 1), cbs(64, 32, 1)
        self.pool = nn.MaxPool2d(5, 1, 2)
        self.up = nn.Upsample(scale_factor=2, mode="nearest")
        self.fuse = cbs(48, 16, 1)
        self.head8, self.head16 = nn.Conv2d(16, 9, 1), nn.Conv2d(32, 9, 1)

    def forward(self, image):
        p3 = self.s1(image)
        a, b = self.c2f_in(p3).chunk(2, 1)
        b1 = b + self.c2f_b1(b)
        p3 = self.c2f_out(torch.cat([a, b1, self.c2f_b2(b1)], 1))
        x = self.sppf_in(self.s2(p3))
        y1 = self.pool(x)
        y2 = self.pool(y1)
        p4 = self.sppf_out(torch.cat([x, y1, y2, self.pool(y2)], 1))
        p3 = self.fuse(torch.cat([self.up(p4), p3], 1))
        h8 = self.head8(p3).flatten(2)
        h16 = self.head16(p4).flatten(2)
        return torch.cat([h8, h16], 2).transpose(1, 2).sigmoid()


# ---------------------------------------------------------------------------------------------------------------
# more Hugging Face families: encoders with their own position / attention schemes, decoders (rotary, ALiBi,
# parallel residual, sliding window), seq2seq with past, vision transformers with shifted windows and relative
# position bias, hybrid conv/attention vision models
def _text(config_name, model_name, attn=None, **cfg):
    """An encoder or decoder body on (ids, mask) -> last hidden state."""
    return Encoder(_hf(config_name, model_name, attn, vocab_size=VOCAB, **cfg))


DECODER = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
               max_position_embeddings=64, initializer_range=0.1)


def roberta():
    # position ids from the cumsum of (ids != pad id 1) after padding_idx (XLM-RoBERTa is the same code)
    return _text("RobertaConfig", "RobertaModel", **BERTLIKE)


def albert():
    # one layer's weights shared by every layer, factorised embeddings (embedding_size < hidden_size)
    return _text("AlbertConfig", "AlbertModel", embedding_size=16, hidden_size=32, num_hidden_layers=3,
                 num_attention_heads=2, intermediate_size=64, max_position_embeddings=64, initializer_range=0.1)


def electra():
    return _text("ElectraConfig", "ElectraModel", embedding_size=16, **BERTLIKE)


def deberta_v2():
    # disentangled attention: log-bucketed relative positions, gathers of c2p / p2c scores
    return _text("DebertaV2Config", "DebertaV2Model", relative_attention=True, position_buckets=8,
                 max_relative_positions=16, pos_att_type=["p2c", "c2p"], position_biased_input=False,
                 norm_rel_ebd="layer_norm", share_att_key=True, **BERTLIKE)


def clip_text():
    # causal mask plus padding mask, quick_gelu, pre-LN
    return _text("CLIPTextConfig", "CLIPTextModel", hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                 intermediate_size=64, max_position_embeddings=64, initializer_range=0.1, bos_token_id=0, eos_token_id=2, pad_token_id=1)


def gpt_neox():
    # Pythia: partial rotary (rotary_pct), parallel attention + MLP residual
    return _text("GPTNeoXConfig", "GPTNeoXModel", rotary_pct=0.5, use_parallel_residual=True, **DECODER)


def opt():
    # learned positions from cumsum of the mask (offset 2), pre-LN
    return _text("OPTConfig", "OPTModel", hidden_size=32, num_hidden_layers=2, num_attention_heads=2, ffn_dim=64,
                 word_embed_proj_dim=32, max_position_embeddings=64, init_std=0.1)


def bloom():
    # ALiBi position biases (slopes per head), embedding LayerNorm, fused qkv
    return _text("BloomConfig", "BloomModel", hidden_size=32, n_layer=2, n_head=4, initializer_range=0.1)


def falcon():
    # multi-query attention (one kv head), rotary, parallel attention + MLP
    return _text("FalconConfig", "FalconModel", hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                 num_kv_heads=1, multi_query=True, new_decoder_architecture=False, parallel_attn=True, alibi=False,
                 initializer_range=0.1, max_position_embeddings=64)


def phi():
    # partial rotary, parallel attention + MLP after one LayerNorm, gelu_new
    return _text("PhiConfig", "PhiModel", partial_rotary_factor=0.5, **DECODER)


def mistral():
    # Llama's layout with a sliding attention window (4 here, so the test's sequences cross it), GQA
    return _text("MistralConfig", "MistralModel", attn="eager", hidden_size=32, intermediate_size=64,
                 num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2, sliding_window=4,
                 max_position_embeddings=64, initializer_range=0.1)


SEQ2SEQ_CFG = dict(vocab_size=VOCAB, d_model=32, encoder_layers=2, decoder_layers=2, encoder_attention_heads=2,
                   decoder_attention_heads=2, encoder_ffn_dim=64, decoder_ffn_dim=64, max_position_embeddings=64,
                   init_std=0.1)


def marian_decoder():
    # sinusoidal positions, post-LN (BART's layout without the embedding LayerNorm), shared embeddings
    return Seq2SeqStep(_hf("MarianConfig", "MarianMTModel", pad_token_id=0, decoder_start_token_id=0,
                           **SEQ2SEQ_CFG))


def pegasus_decoder():
    # sinusoidal positions, pre-LN with a final LayerNorm
    return Seq2SeqStep(_hf("PegasusConfig", "PegasusForConditionalGeneration", pad_token_id=0,
                           decoder_start_token_id=0, **SEQ2SEQ_CFG))


class Vision(nn.Module):
    """A Hugging Face vision model on pixel values -> its last hidden state (or logits)."""
    def __init__(self, model, out="last_hidden_state"):
        super().__init__()
        self.model, self.out = model, out

    def forward(self, image):
        return getattr(self.model(pixel_values=image), self.out)


VIT_CFG = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64, image_size=32,
               patch_size=8, initializer_range=0.1)


def clip_vision():
    # class embedding, pre-LayerNorm, quick_gelu
    return Vision(_hf("CLIPVisionConfig", "CLIPVisionModel", **VIT_CFG))


def dinov2():
    # layer scale, position embeddings interpolated to the image size (bicubic)
    return Vision(_hf("Dinov2Config", "Dinov2Model", mlp_ratio=2, **VIT_CFG))


def beit(attn=None):
    # relative position bias per layer (a table gathered by a constant index), layer scale, mean pooling
    return Vision(_hf("BeitConfig", "BeitModel", attn, use_relative_position_bias=True, use_absolute_position_embeddings=False,
                      **VIT_CFG))


def swin(attn=None):
    # patch merging, windows of 4 x 4 shifted by 2 (torch.roll) every other block, relative position bias
    return Vision(_hf("SwinConfig", "SwinModel", attn, image_size=32, patch_size=2, embed_dim=16, depths=[2, 2],
                      num_heads=[2, 4], window_size=4, mlp_ratio=2.0, initializer_range=0.1))


def segformer():
    # overlapping patch embeddings, efficient self-attention (spatial reduction conv), Mix-FFN (depthwise conv),
    # all-MLP decode head with bilinear upsampling
    return Vision(_hf("SegformerConfig", "SegformerForSemanticSegmentation", num_channels=3, num_encoder_blocks=2,
                      depths=[1, 1], sr_ratios=[2, 1], hidden_sizes=[16, 32], patch_sizes=[7, 3], strides=[4, 2],
                      num_attention_heads=[1, 2], mlp_ratios=[2, 2], decoder_hidden_size=32, num_labels=5,
                      initializer_range=0.1), out="logits")


def mobilevit():
    # MobileNetV2 blocks, then unfold into 2 x 2 patches, transformer over patches, fold back (reshapes/transposes)
    return Vision(_hf("MobileViTConfig", "MobileViTModel", image_size=64, patch_size=2, hidden_sizes=[8, 8, 16],
                      neck_hidden_sizes=[4, 4, 8, 8, 8, 8, 16], num_attention_heads=2, mlp_ratio=2.0,
                      expand_ratio=2.0, initializer_range=0.1), out="last_hidden_state")


GQA = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
           head_dim=8, max_position_embeddings=64, initializer_range=0.1)


def gemma2():
    # RMSNorm with (1 + weight), scaled embeddings, tanh-approximated GELU, attention and final logit soft-capping,
    # sliding-window layers (window 4) alternating with global ones
    return _text("Gemma2Config", "Gemma2Model", attn="eager", sliding_window=4, query_pre_attn_scalar=8,
                 pad_token_id=0, bos_token_id=2, eos_token_id=1, **GQA)


def qwen3():
    # Qwen2 with RMSNorm on the per-head queries and keys, no q/k/v biases
    return _text("Qwen3Config", "Qwen3Model", **GQA)


def phi3():
    # fused qkv and gate/up projections (split by slicing), rotary on the full head
    return _text("Phi3Config", "Phi3Model", pad_token_id=0, bos_token_id=2, eos_token_id=1,
                 **{k: v for k, v in GQA.items() if k != "head_dim"})


def gpt_j():
    # rotary on the first 8 dims of each head with interleaved (every-two) pairs, parallel attention + MLP
    return _text("GPTJConfig", "GPTJModel", n_embd=32, n_layer=2, n_head=2, rotary_dim=8, n_positions=64,
                 n_inner=64, initializer_range=0.1, bos_token_id=0, eos_token_id=0)


def gpt_bigcode():
    # StarCoder: multi-query attention (one kv head) with the query heads folded into the sequence axis
    return _text("GPTBigCodeConfig", "GPTBigCodeModel", n_embd=32, n_layer=2, n_head=4, n_positions=64,
                 n_inner=64, multi_query=True, initializer_range=0.1, bos_token_id=0, eos_token_id=0)


# Mixtral's experts implementations: the default (grouped_mm) exports with neither exporter (dynamo: "No ONNX
# function found for <OpOverload(op='transformers.grouped_mm_fallback', ...)>", TorchScript: "Exporting the
# operator 'aten::histc' to ONNX opset version 20 is not supported"); "eager" (a loop over the experts hit) fails
# in dynamo ("Could not guard on data-dependent expression Eq(u0, 0)") and TorchScript bakes the example's
# per-expert token counts into Split sizes (onnxruntime fails on other inputs); "batched_mm" (each token's
# top-k experts' weights gathered, batched matmuls) exports with both.
def mixtral():
    # sparse mixture of experts: softmax router, top-2 of 4 experts per token, per-token gathered expert weights
    from transformers import MixtralConfig, MixtralModel
    cfg = MixtralConfig(vocab_size=VOCAB, num_local_experts=4, num_experts_per_tok=2,
                        **{k: v for k, v in GQA.items() if k != "intermediate_size"}, intermediate_size=16)
    cfg._attn_implementation, cfg._experts_implementation = "eager", "batched_mm"
    return Encoder(MixtralModel(cfg))


def convbert():
    # span-based dynamic convolution next to self-attention (unfold of a 3-wide window, per-position kernels)
    return _text("ConvBertConfig", "ConvBertModel", embedding_size=32, head_ratio=2, conv_kernel_size=3,
                 **dict(BERTLIKE, num_attention_heads=4))


def mpnet():
    # T5-style relative position buckets (bidirectional, log-spaced) added to every layer's scores (32 buckets:
    # the model computes buckets for 32 whatever relative_attention_num_buckets says)
    return _text("MPNetConfig", "MPNetModel", **BERTLIKE)


def roformer():
    # sinusoidal rotary position embeddings inside an encoder
    return _text("RoFormerConfig", "RoFormerModel", embedding_size=32, **BERTLIKE)


def esm():
    # protein language model: rotary, pre-LN, position ids from the padding
    return _text("EsmConfig", "EsmModel", position_embedding_type="rotary", token_dropout=False,
                 emb_layer_norm_before=False, pad_token_id=1, mask_token_id=2, **BERTLIKE)


def modernbert():
    # rotary, GLU MLP, bias-free LayerNorms, local (window 4) attention in two of every three layers
    return _text("ModernBertConfig", "ModernBertModel", hidden_size=32, intermediate_size=32, num_hidden_layers=3,
                 num_attention_heads=2, local_attention=4, global_attn_every_n_layers=3, max_position_embeddings=64,
                 initializer_range=0.1, pad_token_id=0, bos_token_id=2, eos_token_id=1, cls_token_id=2,
                 sep_token_id=1)


def mobilebert():
    # bottleneck layers, stacked feed-forwards, "NoNorm" (an element-wise affine), trigram embedding input
    return _text("MobileBertConfig", "MobileBertModel", hidden_size=32, embedding_size=16, true_hidden_size=16,
                 intra_bottleneck_size=16, intermediate_size=32, num_feedforward_networks=2, num_attention_heads=2,
                 num_hidden_layers=2, max_position_embeddings=64, initializer_range=0.1)


def funnel():
    # the sequence pooled (strided mean, the CLS token kept apart) between blocks and upsampled again at the end,
    # relative-shift attention
    return _text("FunnelConfig", "FunnelModel", block_sizes=[1, 1], block_repeats=[1, 1], num_decoder_layers=1,
                 d_model=32, n_head=2, d_head=16, d_inner=64, initializer_range=0.1)


class WhisperStep(nn.Module):
    """One step of Whisper's decoder with a self-attention cache: ids, encoder states, 2 layers of past k/v."""
    def __init__(self):
        super().__init__()
        self.model = _hf("WhisperConfig", "WhisperForConditionalGeneration", attn="eager", vocab_size=VOCAB,
                         num_mel_bins=16, d_model=32, encoder_layers=1, decoder_layers=2, encoder_attention_heads=2,
                         decoder_attention_heads=2, encoder_ffn_dim=64, decoder_ffn_dim=64, max_source_positions=32,
                         max_target_positions=64, init_std=0.1, pad_token_id=0, bos_token_id=2, eos_token_id=1,
                         decoder_start_token_id=3, suppress_tokens=None, begin_suppress_tokens=None)

    def forward(self, ids, enc, k0, v0, k1, v1):
        from transformers import DynamicCache, EncoderDecoderCache
        cache = EncoderDecoderCache(DynamicCache([(k0, v0), (k1, v1)]), DynamicCache())
        out = self.model(encoder_outputs=(enc,), decoder_input_ids=ids, past_key_values=cache, use_cache=True)
        kv = out.past_key_values.self_attention_cache
        return (out.logits, kv.layers[0].keys, kv.layers[0].values, kv.layers[1].keys, kv.layers[1].values)


def m2m100_decoder():
    # sinusoidal positions from the padding (cumsum), pre-LN, scaled embeddings
    return Seq2SeqStep(_hf("M2M100Config", "M2M100ForConditionalGeneration", pad_token_id=1, bos_token_id=0,
                           eos_token_id=2, decoder_start_token_id=2, **SEQ2SEQ_CFG))


class Speech2TextEncoder(nn.Module):
    """Speech2Text's encoder: two strided Conv1d + GLU subsampling the frames, sinusoidal positions, pre-LN."""
    def __init__(self):
        super().__init__()
        m = _hf("Speech2TextConfig", "Speech2TextModel", vocab_size=VOCAB, d_model=32, encoder_layers=2,
                decoder_layers=1, encoder_attention_heads=2, decoder_attention_heads=2, encoder_ffn_dim=64,
                decoder_ffn_dim=64, conv_channels=32, input_feat_per_channel=16, max_source_positions=64,
                max_target_positions=64, init_std=0.1, pad_token_id=1, bos_token_id=0, eos_token_id=2,
                decoder_start_token_id=2)
        self.enc = m.get_encoder()

    def forward(self, features):
        return self.enc(features).last_hidden_state


class WavLM(nn.Module):
    """WavLM: wav2vec 2.0's layout with gated relative position bias (buckets) in every attention layer."""
    def __init__(self):
        super().__init__()
        self.model = _hf("WavLMConfig", "WavLMModel", hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                         intermediate_size=64, conv_dim=(16, 16, 16), conv_stride=(5, 2, 2), conv_kernel=(10, 3, 3),
                         num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=4, num_buckets=32,
                         max_bucket_distance=64, initializer_range=0.1, feat_extract_norm="group")

    def forward(self, audio):
        return self.model(audio).last_hidden_state


def levit():
    # conv stem, attention with a learned bias per head gathered by a constant relative-offset index, shrinking
    # (subsample) attention between stages, BatchNorm after every linear
    return Vision(_hf("LevitConfig", "LevitModel", image_size=64, patch_size=16, hidden_sizes=[8, 12, 16],
                      num_attention_heads=[2, 3, 4], depths=[1, 1, 1], key_dim=[8, 8, 8], mlp_ratio=[2, 2, 2],
                      attention_ratio=[2, 2, 2], down_ops=[["Subsample", 8, 2, 4, 2, 2], ["Subsample", 8, 3, 4, 2, 2]],
                      initializer_range=0.1))


def swinv2(attn=None):
    # scaled cosine attention, log-spaced continuous relative position bias (an MLP over a constant table),
    # post-norm residuals; windows of 2 x 2 shifted by 1 (the bias MLP is 512 wide whatever the model's width: the
    # dynamo exporter folds its first layer over the (2w-1)^2 table into the file, 100 KB a layer for w = 4)
    return Vision(_hf("Swinv2Config", "Swinv2Model", attn, image_size=32, patch_size=2, embed_dim=16, depths=[2, 2],
                      num_heads=[2, 4], window_size=2, mlp_ratio=2.0, initializer_range=0.1))


def convnextv2():
    # ConvNeXt blocks with global response normalisation (an L2 norm over the spatial axes)
    return Vision(_hf("ConvNextV2Config", "ConvNextV2Model", hidden_sizes=[8, 16, 24, 32], depths=[1, 1, 1, 1],
                      initializer_range=0.1))


def poolformer():
    # token mixing by 3 x 3 average pooling (count_include_pad=False) minus the input, GroupNorm, layer scale
    return Vision(_hf("PoolFormerConfig", "PoolFormerModel", hidden_sizes=[8, 16, 24, 32], depths=[1, 1, 1, 1],
                      initializer_range=0.1))


def bit():
    # Big Transfer: weight-standardised convolutions, GroupNorm, pre-activation bottlenecks, dynamic "SAME" padding
    return Vision(_hf("BitConfig", "BitModel", embedding_size=8, hidden_sizes=[8, 16, 24, 32], depths=[1, 1, 1, 1],
                      num_groups=2, global_padding="SAME", layer_type="preactivation"))


def yolos(attn=None):
    # ViT with detection tokens; the position embeddings bicubic-interpolated to the patch grid (every layer)
    return Vision(_hf("YolosConfig", "YolosModel", attn, num_detection_tokens=4, use_mid_position_embeddings=True,
                      **dict(VIT_CFG, image_size=[32, 32])))


def dpt(attn=None):
    # ViT backbone, reassembled feature maps (transposed convs, a strided conv), fusion blocks with bilinear
    # upsampling (align_corners), a depth head
    return Vision(_hf("DPTConfig", "DPTForDepthEstimation", attn, backbone_out_indices=[0, 1, 2, 3],
                      neck_hidden_sizes=[4, 8, 12, 16], fusion_hidden_size=8,
                      # initializer_range 0.2: at 0.1 the 16-wide model's depth is ~1e-3 (std 0.8 at 0.2)
                      **dict(VIT_CFG, num_hidden_layers=4, hidden_size=16, intermediate_size=32,
                             initializer_range=0.2)), out="predicted_depth")


# ---------------------------------------------------------------------------------------------------------------
# the zoo: name -> how to build it, its inputs, outputs, bounds and the two dim sets the test runs
IMG = dict(inputs=[image()], outputs=["logits"], bounds={"batch": 4}, dim_sets=[{"batch": 1}, {"batch": 3}],
           example_dims={"batch": 2})
TEXT = dict(inputs=[ids(), mask()], outputs=["hidden"], bounds={"batch": 4, "seq": 32},
            dim_sets=[{"batch": 1, "seq": 5}, {"batch": 3, "seq": 11}], example_dims={"batch": 2, "seq": 7})
KV = [floats(n, ["batch", 2, "past", 16]) for n in ("past_k0", "past_v0", "past_k1", "past_v1")]
PRESENT = ["present_k0", "present_v0", "present_k1", "present_v1"]
SEQ2SEQ = dict(inputs=[ids(), floats("enc", ["batch", "enc_seq", 32]), mask("enc_mask", ("batch", "enc_seq"))] + KV,
               outputs=["logits"] + PRESENT, bounds={"batch": 4, "seq": 8, "past": 24, "enc_seq": 32},
               dim_sets=[{"batch": 1, "seq": 1, "past": 5, "enc_seq": 7}, {"batch": 2, "seq": 3, "past": 9, "enc_seq": 12}],
               example_dims={"batch": 2, "seq": 3, "past": 5, "enc_seq": 6})
SEQ = dict(inputs=[floats("x", ["batch", "seq", 16])], bounds={"batch": 4, "seq": 16},
           dim_sets=[{"batch": 1, "seq": 5}, {"batch": 3, "seq": 11}], example_dims={"batch": 2, "seq": 7})

ZOO = {
    "resnet_basic": dict(build=resnet_basic, **IMG),
    "resnet_bottleneck": dict(build=resnet_bottleneck, **IMG),
    "mobilenet_v2": dict(build=mobilenet_v2, **IMG),
    "mobilenet_v3_small": dict(build=mobilenet_v3_small, **IMG),
    "efficientnet_b0": dict(build=efficientnet_b0, **IMG),
    "shufflenet_v2": dict(build=shufflenet_v2, **IMG),
    "squeezenet": dict(build=squeezenet, **IMG),
    "regnet_y": dict(build=regnet_y, **IMG),
    "convnext": dict(build=convnext, **IMG),
    "vit": dict(build=vit, **IMG),
    "detector_nms": dict(build=TinyDetector, inputs=[image()], outputs=["boxes", "scores", "batch_index"],
                         bounds={"batch": 2}, dim_sets=[{"batch": 1}, {"batch": 2}], example_dims={"batch": 2},
                         dynamic_outputs={"boxes": {0: "detections"}, "scores": {0: "detections"},
                                          "batch_index": {0: "detections"}}),
    "bert": dict(build=bert, **TEXT),
    "minilm": dict(build=minilm, **TEXT),
    "distilbert": dict(build=distilbert, **TEXT),
    "gpt2_nomask": dict(build=GPT2NoMask, inputs=[ids()], outputs=["logits"], bounds={"batch": 4, "seq": 32},
                        dim_sets=[{"batch": 1, "seq": 5}, {"batch": 3, "seq": 11}], example_dims={"batch": 2, "seq": 7}),
    "gpt2_past": dict(build=GPT2Past, inputs=[ids(), mask(shape=("batch", "total"))] + KV,
                      outputs=["logits"] + PRESENT, bounds={"batch": 4, "seq": 8, "past": 24, "total": 32},
                      dim_sets=[{"batch": 1, "seq": 1, "past": 5, "total": 6}, {"batch": 2, "seq": 3, "past": 9, "total": 12}],
                      example_dims={"batch": 2, "seq": 3, "past": 5, "total": 8},
                      dynamic_outputs={n: {0: "batch", 2: "total"} for n in PRESENT}),
    "t5_encoder": dict(build=t5_encoder, build_dynamo=lambda: t5_encoder("eager"), **TEXT),
    "t5_decoder": dict(build=t5_decoder, build_dynamo=lambda: t5_decoder("eager"), dynamic_outputs={n: {0: "batch", 2: "total"} for n in PRESENT}, **SEQ2SEQ),
    "bart_encoder": dict(build=bart_encoder, **TEXT),
    "bart_decoder": dict(build=bart_decoder, dynamic_outputs={n: {0: "batch", 2: "total"} for n in PRESENT},
                         **SEQ2SEQ),
    "lstm": dict(build=LSTMNet, outputs=["y"], **SEQ),
    "gru": dict(build=GRUNet, outputs=["y", "h"], dynamic_outputs={"h": {1: "batch"}}, **SEQ),
    # the two runs take the two branches: x ~ N(+1, 1) in the first, N(-1, 1) in the second
    "if_branch": dict(build=IfNet, build_dynamo=IfNetCond, script=True,
                      inputs=[dict(floats("x", ["batch", 16]), mean_per_dim_set=[1.0, -1.0])],
                      outputs=["y"], bounds={"batch": 8}, dim_sets=[{"batch": 2}, {"batch": 5}],
                      example_dims={"batch": 3}),
    "loop_rnn": dict(build=LoopNet, build_dynamo=LoopNetWhile, script=True, outputs=["y"],
                     dynamic_outputs={"y": {0: "batch"}}, **SEQ),
    "llama": dict(build=llama, **TEXT),
    "qwen2": dict(build=qwen2, **TEXT),
    # Whisper's encoder wants exactly 2 x max_source_positions frames: the time axis is fixed, the batch is not
    "whisper_encoder": dict(build=WhisperEncoder, inputs=[floats("features", ["batch", 16, 48])],
                            outputs=["hidden"], bounds={"batch": 4}, dim_sets=[{"batch": 1}, {"batch": 3}],
                            example_dims={"batch": 2}),
    "wav2vec2": dict(build=Wav2Vec2, inputs=[floats("audio", ["batch", "samples"])], outputs=["hidden"],
                     bounds={"batch": 2, "samples": 1600}, dim_sets=[{"batch": 1, "samples": 800},
                                                                     {"batch": 2, "samples": 1333}],
                     example_dims={"batch": 2, "samples": 1000},
                     dynamic_outputs={"hidden": {0: "batch", 1: "frames"}}),
    "unet": dict(IMG, build=UNet, outputs=["mask"]),
    "video3d": dict(build=Video3D, inputs=[floats("clip", ["batch", 3, 4, 32, 32])], outputs=["logits"],
                    bounds={"batch": 4}, dim_sets=[{"batch": 1}, {"batch": 3}], example_dims={"batch": 2}),
    "yolo_neck": dict(IMG, build=YoloNeck, outputs=["preds"]),
}
ZOO.update(zoo_vision.ZOO)


# the families above; each with its own seed so that entries added before it do not change its weights
VISION32 = dict(inputs=[image(hw=32)], outputs=["hidden"], bounds={"batch": 4}, dim_sets=[{"batch": 1}, {"batch": 3}],
                example_dims={"batch": 2})
S2S_PAST = {n: {0: "batch", 2: "total"} for n in PRESENT}
ZOO.update({
    "roberta": dict(build=roberta, seed=2001, **TEXT),
    "albert": dict(build=albert, seed=2003, **TEXT),
    "electra": dict(build=electra, seed=2004, **TEXT),
    "deberta_v2": dict(build=deberta_v2, seed=2005, **TEXT),
    "clip_text": dict(build=clip_text, seed=2006, **TEXT),
    "gpt_neox": dict(build=gpt_neox, seed=2007, **TEXT),
    "opt": dict(build=opt, seed=2008, **TEXT),
    "bloom": dict(build=bloom, seed=2009, **TEXT),
    "falcon": dict(build=falcon, seed=2010, **TEXT),
    "phi": dict(build=phi, seed=2011, **TEXT),
    "mistral": dict(build=mistral, seed=2012, **TEXT),
    "marian_decoder": dict(build=marian_decoder, seed=2013, dynamic_outputs=S2S_PAST, **SEQ2SEQ),
    "pegasus_decoder": dict(build=pegasus_decoder, seed=2014, dynamic_outputs=S2S_PAST, **SEQ2SEQ),
    "clip_vision": dict(build=clip_vision, seed=2015, **VISION32),
    "dinov2": dict(build=dinov2, seed=2016, **VISION32),
    # BEiT and Swin with the default (sdpa) attention fail in the dynamo exporter like T5: "Cannot view a tensor
    # with shape torch.Size([s40, 17, 2, 16]) and strides (544, 16, 272, 1) as a tensor with shape (s40, 17, 32)!"
    # (Swin: [16*s40, 16, 2, 8]); with eager attention they export. TorchScript gets sdpa.
    "beit": dict(build=beit, build_dynamo=lambda: beit("eager"), seed=2017, **VISION32),
    "swin": dict(build=swin, build_dynamo=lambda: swin("eager"), seed=2018, **VISION32),
    "segformer": dict(IMG, build=segformer, seed=2019),
    "mobilevit": dict(IMG, build=mobilevit, seed=2020, outputs=["hidden"]),
    "gemma2": dict(build=gemma2, seed=2021, **TEXT),
    "qwen3": dict(build=qwen3, seed=2022, **TEXT),
    "phi3": dict(build=phi3, seed=2023, **TEXT),
    "gpt_j": dict(build=gpt_j, seed=2024, **TEXT),
    "gpt_bigcode": dict(build=gpt_bigcode, seed=2025, **TEXT),
    "mixtral": dict(build=mixtral, seed=2026, **TEXT),
    "convbert": dict(build=convbert, seed=2027, **TEXT),
    "mpnet": dict(build=mpnet, seed=2028, **TEXT),
    "roformer": dict(build=roformer, seed=2029, **TEXT),
    "esm": dict(build=esm, seed=2030, **TEXT),
    "modernbert": dict(build=modernbert, seed=2031, **TEXT),
    "mobilebert": dict(build=mobilebert, seed=2032, **TEXT),
    # TorchScript bakes the example's 2 * 7 - 1 = 13 into a relative-position slice: the file (onnxruntime too)
    # only works for seq <= 13
    "funnel": dict(TEXT, build=funnel, seed=2033, bounds={"batch": 4, "seq": 13}),
    "whisper_decoder": dict(build=WhisperStep, seed=2034, inputs=[ids(), floats("enc", ["batch", "enc_seq", 32])] + KV,
                            outputs=["logits"] + PRESENT, bounds=SEQ2SEQ["bounds"], dim_sets=SEQ2SEQ["dim_sets"],
                            example_dims=SEQ2SEQ["example_dims"], dynamic_outputs=S2S_PAST),
    "m2m100_decoder": dict(build=m2m100_decoder, seed=2035, dynamic_outputs=S2S_PAST, **SEQ2SEQ),
    "speech2text_encoder": dict(build=Speech2TextEncoder, seed=2036, inputs=[floats("features", ["batch", "frames", 16])],
                                outputs=["hidden"], bounds={"batch": 4, "frames": 64},
                                dim_sets=[{"batch": 1, "frames": 20}, {"batch": 3, "frames": 37}],
                                example_dims={"batch": 2, "frames": 30},
                                dynamic_outputs={"hidden": {0: "batch", 1: "out_frames"}}),
    "wavlm": dict(ZOO["wav2vec2"], build=WavLM, seed=2037),
    "levit": dict(IMG, build=levit, seed=2038, outputs=["hidden"]),
    "swinv2": dict(build=swinv2, seed=2039, **VISION32),
    "convnextv2": dict(IMG, build=convnextv2, seed=2040, outputs=["hidden"]),
    "poolformer": dict(IMG, build=poolformer, seed=2041, outputs=["hidden"]),
    "bit": dict(IMG, build=bit, seed=2042, outputs=["hidden"]),
    "yolos": dict(build=yolos, seed=2043, **VISION32),
    "dpt": dict(build=dpt, seed=2044, **dict(VISION32, outputs=["depth"])),
})


ZOO.update(zoo_more.ZOO)
ZOO.update(zoo_fam.ZOO)
ZOO.update(zoo_xf.ZOO)
ZOO.update(zoo_users.ZOO)
ZOO.update(zoo_shipped.entries(ZOO))


def dynamic_axes(entry):
    """{input/output name: {axis: dim name}} for every symbolic dim."""
    axes = {}
    for spec in entry["inputs"]:
        axes[spec["name"]] = {i: d for i, d in enumerate(spec["shape"]) if isinstance(d, str)}
    ins = {d for spec in entry["inputs"] for d in spec["shape"] if isinstance(d, str)}
    for name in entry["outputs"]:
        axes[name] = {0: "batch"}
        if "seq" in ins and name in ("hidden", "logits", "y"):
            axes[name][1] = "seq"
    axes.update(entry.get("dynamic_outputs", {}))
    return axes


def file_dims(path):
    """The shapes the exported file declares for its inputs and outputs (dim names as the exporter wrote them)."""
    g = onnx.load(str(path), load_external_data=False).graph
    shape = lambda vi: [d.dim_param if d.dim_param else d.dim_value for d in vi.type.tensor_type.shape.dim]
    inits = {i.name for i in g.initializer}  # weights listed as inputs too (keep_initializers_as_inputs) are not inputs
    return {"inputs": {vi.name: shape(vi) for vi in g.input if vi.name not in inits},
            "outputs": {vi.name: shape(vi) for vi in g.output}}


def export_one(name, entry, exporter, seed):
    torch.manual_seed(seed)
    build = entry.get("build_dynamo", entry["build"]) if exporter == "dynamo" else entry["build"]
    model = build()
    dims = entry["example_dims"]

    def make_inputs(gen):
        return tuple(example(s, dims, gen) for s in entry["inputs"])

    if entry.get("half"):  # weights drawn and BatchNorm calibrated in float32, then the model runs in float16
        randomize(model, lambda gen: tuple(t.float() if t.is_floating_point() else t for t in make_inputs(gen)),
                  seed).half()
    else:
        randomize(model, make_inputs, seed)
    # the same example for both exporters, drawn after the weights
    inputs = make_inputs(torch.Generator().manual_seed(seed + 1))
    with torch.no_grad():
        outs = model(*inputs)
    outs = outs if isinstance(outs, tuple) else (outs,)
    for o, oname in zip(outs, entry["outputs"]):
        if o.is_floating_point():
            std = float(o.float().std()) if o.numel() > 1 else 1.0
            assert torch.isfinite(o).all() and std > 1e-3, f"{name}: output {oname} degenerate (std {std:.2e})"
    if exporter == "ts" and entry.get("script"):
        model = torch.jit.script(model)
    path = MODELS / f"{name}.{exporter}.onnx"
    kwargs = dict(input_names=[s["name"] for s in entry["inputs"]], output_names=entry["outputs"],
                  dynamic_axes=dynamic_axes(entry), dynamo=exporter == "dynamo")
    if exporter == "dynamo":
        kwargs["external_data"] = False
    elif entry.get("opset"):  # an older opset, as files of older tool chains have it (zoo_shipped.py)
        kwargs["opset_version"] = entry["opset"]
        kwargs["keep_initializers_as_inputs"] = entry.get("initializers_as_inputs", False)
    torch.onnx.export(model, inputs, str(path), **kwargs)
    strip_trace_metadata(path)
    onnx.checker.check_model(str(path))
    check_against_torch(path, model, entry, make_inputs, seed)
    return path, [f"{float(o.float().std()):.3g}" for o in outs if o.is_floating_point()]


def check_against_torch(path, model, entry, make_inputs, seed):
    """onnxruntime runs the file at the example's dims and at each of the manifest's dim sets like the model does
    (so a file that fails in onnxruntime, or that kept the example's lengths as constants, is an export failure,
    not a zoo file): rtol 1e-3, atol 1e-4 of the output's scale (1e-2 for float16 models)."""
    import numpy as np
    import onnxruntime as ort
    so = ort.SessionOptions()
    so.log_severity_level = 3
    try:
        sess = ort.InferenceSession(path.read_bytes(), so, providers=["CPUExecutionProvider"])
    except Exception as e:  # noqa: BLE001
        raise RuntimeError(f"onnxruntime cannot load the exported file: {str(e).splitlines()[0][:200]}")
    tol = 1e-2 if entry.get("half") else 1e-3
    for k, dims in enumerate([entry["example_dims"]] + list(entry["dim_sets"])):
        dims = dict(entry["example_dims"], **dims)
        gen = torch.Generator().manual_seed(seed + 100 + k)
        inputs = tuple(example(s, dims, gen) for s in entry["inputs"])
        with torch.no_grad():
            ref = model(*inputs)
        ref = ref if isinstance(ref, tuple) else (ref,)
        try:
            got = sess.run(None, {s["name"]: t.numpy() for s, t in zip(entry["inputs"], inputs)})
        except Exception as e:  # noqa: BLE001
            raise RuntimeError(f"onnxruntime fails on the exported file at {dims}: {str(e).splitlines()[0][:200]}")
        for name, r, g in zip(entry["outputs"], ref, got):
            r = r.float().numpy() if r.is_floating_point() else r.numpy()
            scale = float(np.abs(r).max()) if r.size and r.dtype.kind == "f" else 1.0
            if r.shape != g.shape or not np.allclose(g.astype(r.dtype), r, rtol=tol, atol=tol * 0.1 * max(scale, 1.0)):
                raise RuntimeError(f"the exported file differs from the model at {dims} (output {name}: "
                                   f"shape {list(g.shape)} vs {list(r.shape)})")


def strip_trace_metadata(path):
    """Drop the Python stack traces the dynamo exporter stores on every node (metadata_props, doc_string): they
    hold local paths and line numbers (so the bytes would change with every edit of this script) and a third of
    the file."""
    def strip(graph):
        for node in graph.node:
            del node.metadata_props[:]
            node.doc_string = ""
            for attr in node.attribute:
                if attr.type == onnx.AttributeProto.GRAPH:
                    strip(attr.g)
                for g in attr.graphs:
                    strip(g)

    model = onnx.load(str(path))
    strip(model.graph)
    for f in model.functions:
        for node in f.node:
            del node.metadata_props[:]
            node.doc_string = ""
    onnx.save(model, str(path))


def first_line(exc):
    """The line that says what went wrong (the dynamo exporter puts it under "## Exception summary"); for an
    error that only wraps another (onnx_ir's PassError names the pass manager), the causes' lines too."""
    lines = [ln.strip() for ln in f"{type(exc).__name__}: {exc}".splitlines() if ln.strip()]
    if "## Exception summary" in lines:
        lines = lines[lines.index("## Exception summary") + 1:]
    line = lines[0] if lines else type(exc).__name__
    causes, outer = [], type(exc).__name__
    while exc.__cause__ is not None and len(causes) < 4:
        exc = exc.__cause__
        causes.append(f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}")
    if causes:  # the wrapper's own line names objects by address: the two innermost causes say what failed
        line = " <- ".join(causes[-2:]) + f" (raised as {outer})"
    return line[:300]


def export_zoo(names):
    MODELS.mkdir(parents=True, exist_ok=True)
    manifest = json.loads(MANIFEST.read_text()) if MANIFEST.exists() else {"models": {}, "export_failed": {}}
    for i, name in enumerate(ZOO):
        if names and name not in names:
            continue
        entry = ZOO[name]
        seed = entry.get("seed", 1000 + i)
        rec = {k: entry[k] for k in ("inputs", "outputs", "bounds", "dim_sets", "tolerance") if k in entry}
        rec["files"] = {}
        for exporter in entry.get("exporters", EXPORTERS):
            key = f"{name}.{exporter}"
            manifest["export_failed"].pop(key, None)
            try:
                path, stds = export_one(name, entry, exporter, seed)
            except Exception as e:  # noqa: BLE001 -- an exporter failure is a result to record
                msg = first_line(e)
                manifest["export_failed"][key] = msg
                (MODELS / f"{key}.onnx").unlink(missing_ok=True)
                print(f"FAILED {key}: {msg}", flush=True)
                if os.environ.get("ZOO_TRACE"):
                    traceback.print_exc()
                continue
            rec["files"][exporter] = {"path": f"models/{path.name}", **file_dims(path)}
            print(f"ok     {key}: {path.stat().st_size / 1024:.0f} KiB, output std {stds}", flush=True)
        manifest["models"][name] = rec
    # the zoo's order; the int8 files quantize.py made (from these exports) stay, after them
    manifest["models"] = {k: manifest["models"][k] for k in ZOO if k in manifest["models"]} | {
        k: rec for k, rec in manifest["models"].items() if "quantized_from" in rec}
    total = sum(p.stat().st_size for p in MODELS.glob("*.onnx"))
    manifest["total_bytes"] = total
    MANIFEST.write_text(json.dumps(manifest, indent=1) + "\n")
    print(f"{len(list(MODELS.glob('*.onnx')))} files, {total / 1e6:.2f} MB; failed: {len(manifest['export_failed'])}")


if __name__ == "__main__":
    export_zoo(set(sys.argv[1:]))
