"""Families whose shapes are arithmetic on the input's dims (helper xf46, 2026-12-07): Hugging Face CANINE
(characters downsampled by a strided conv, upsampled by repeat), EnCodec's encoder and Wav2Vec2-BERT (conv lengths
of a dynamic audio / frame axis), XGLM (sinusoidal positions from the mask), PVTv2 and GLPN (spatial-reduction
attention: strided convs of a dynamic height / width reshaped back into tokens), the Descript audio codec's encoder,
ViTDet and Swin2SR (windows padded
to a multiple of the window size: mod arithmetic on the dims), FocalNet (focal modulation, dynamic height / width).
Tiny widths, random non-degenerate weights (export.py's randomize), fixed seeds (4601+). Tried and dropped:
Depth Anything (its ReLU depth head gives all zeros at these widths).

Each entry of ``ZOO`` has export.py's keys.
"""
from torch import nn

from zoo_more import AUDIO, IMG_HW, TEXT, VOCAB, Encoder, _floats, _hf


class Last(nn.Module):
    """A model's last_hidden_state (or another named output) from one positional input."""
    def __init__(self, model, key="last_hidden_state", **kw):
        super().__init__()
        self.model, self.key, self.kw = model, key, kw

    def forward(self, x):
        return getattr(self.model(x, **self.kw), self.key)


def canine():
    # characters hashed into embeddings, a local transformer, downsampled by a stride-4 conv, a deep transformer,
    # upsampled by repeat_interleave (+ the remainder) and a final conv over the concatenation
    return Encoder(_hf("CanineConfig", "CanineModel", hidden_size=16, num_hidden_layers=2, num_attention_heads=2,
                       intermediate_size=32, num_hash_functions=2, num_hash_buckets=64, downsampling_rate=4,
                       upsampling_kernel_size=3, local_transformer_stride=8, max_position_embeddings=128,
                       initializer_range=0.1))


class EncodecEncoder(nn.Module):
    """EnCodec's SEANet encoder (causal padding computed from the length, strided convs, an LSTM) on [batch,
    samples] audio."""
    def __init__(self):
        super().__init__()
        self.model = _hf("EncodecConfig", "EncodecModel", audio_channels=1, num_filters=4, hidden_size=16,
                         upsampling_ratios=[4, 2], num_residual_layers=1, codebook_size=16, codebook_dim=16,
                         num_lstm_layers=1, kernel_size=5, last_kernel_size=5, residual_kernel_size=3,
                         compress=2, use_causal_conv=True).encoder

    def forward(self, audio):
        return self.model(audio.unsqueeze(1)).transpose(1, 2)


def wav2vec2_bert():
    # log-mel features [batch, frames, 160] projected, conformer layers (depthwise conv module, relative_key
    # position embeddings), an adapter that strides the frames
    return Last(_hf("Wav2Vec2BertConfig", "Wav2Vec2BertModel", hidden_size=16, num_hidden_layers=2,
                    num_attention_heads=2, intermediate_size=32, feature_projection_input_dim=160,
                    conv_depthwise_kernel_size=5, position_embeddings_type="relative_key",
                    left_max_position_embeddings=8, right_max_position_embeddings=4, add_adapter=True,
                    adapter_kernel_size=3, adapter_stride=2, num_adapter_layers=1, output_hidden_size=16,
                    initializer_range=0.1))


def xglm():
    # sinusoidal positions offset by the padding (from the mask's cumsum), pre-LayerNorm decoder
    return Encoder(_hf("XGLMConfig", "XGLMModel", vocab_size=VOCAB, d_model=16, num_layers=2, attention_heads=2,
                       ffn_dim=32, max_position_embeddings=64, init_std=0.1, pad_token_id=1))


def pvt_v2():
    # overlapping patch embeddings (strided convs), attention over keys reduced by a strided conv of the token
    # grid, a depthwise conv inside the MLP
    return Last(_hf("PvtV2Config", "PvtV2Model", num_encoder_blocks=2, depths=[1, 1], sr_ratios=[4, 2],
                    hidden_sizes=[8, 16], num_attention_heads=[1, 2], patch_sizes=[7, 3], strides=[4, 2],
                    mlp_ratios=[2, 2], initializer_range=0.1))


def glpn():
    # SegFormer-style encoder and GLPN's decoder (selective feature fusion, upsampling to the input's size)
    return Last(_hf("GLPNConfig", "GLPNForDepthEstimation", num_encoder_blocks=2, depths=[1, 1], sr_ratios=[4, 2],
                    hidden_sizes=[8, 16], num_attention_heads=[1, 2], patch_sizes=[7, 3], strides=[4, 2],
                    mlp_ratios=[2, 2], decoder_hidden_size=8, head_in_index=-1, initializer_range=0.1),
                key="predicted_depth")


def vitdet():
    # a plain ViT with windowed attention in one layer (the token grid padded to a multiple of the window) and
    # absolute positions interpolated to the grid, relative positions in attention
    return Last(_hf("VitDetConfig", "VitDetModel", hidden_size=16, num_hidden_layers=2, num_attention_heads=2,
                    mlp_ratio=2, image_size=64, patch_size=8, window_size=3, window_block_indices=[0],
                    use_relative_position_embeddings=True, initializer_range=0.1, out_features=["stage2"]),
                key="last_hidden_state")


def swin2sr():
    # image super-resolution: the image padded to a multiple of the window, shifted-window layers, a
    # pixel-shuffle upsampler, cropped back to 2x the input
    return Last(_hf("Swin2SRConfig", "Swin2SRForImageSuperResolution", embed_dim=8, depths=[2], num_heads=[2],
                    window_size=4, upscale=2, upsampler="pixelshuffledirect", img_range=1.0, initializer_range=0.1),
                key="reconstruction")


def focalnet():
    # focal modulation: hierarchical depthwise convs gated and pooled into a modulator, patch-merging stages
    return Last(_hf("FocalNetConfig", "FocalNetModel", embed_dim=8, depths=[1, 1], focal_levels=[2, 2],
                    focal_windows=[3, 3], patch_size=4, initializer_range=0.1), key="last_hidden_state")


class DacEncoder(nn.Module):
    """The Descript audio codec's encoder (snake activations, strided convs with padding from the length) on
    [batch, samples] audio."""
    def __init__(self):
        super().__init__()
        self.model = _hf("DacConfig", "DacModel", encoder_hidden_size=4, downsampling_ratios=[2, 4],
                         decoder_hidden_size=8, n_codebooks=2, codebook_size=16, codebook_dim=4,
                         hidden_size=16).encoder

    def forward(self, audio):
        return self.model(audio.unsqueeze(1)).transpose(1, 2)


FEATS = dict(inputs=[_floats("features", ["batch", "frames", 160])], outputs=["hidden"],
             bounds={"batch": 2, "frames": 48}, dim_sets=[{"batch": 1, "frames": 20}, {"batch": 2, "frames": 33}],
             example_dims={"batch": 2, "frames": 27}, dynamic_outputs={"hidden": {0: "batch", 1: "out_frames"}})
HW = dict(IMG_HW, outputs=["hidden"], dynamic_outputs={"hidden": {0: "batch", 1: "tokens"}})
DENSE = dict(IMG_HW, outputs=["out"], dynamic_outputs={"out": {0: "batch", 2: "out_h", 3: "out_w"}})
ZOO = {
    "canine": dict(TEXT, build=canine, seed=4601, bounds={"batch": 4, "seq": 48},
                   dim_sets=[{"batch": 1, "seq": 12}, {"batch": 3, "seq": 28}], example_dims={"batch": 2, "seq": 20}),
    "encodec_encoder": dict(AUDIO, build=EncodecEncoder, seed=4602),
    "wav2vec2_bert": dict(FEATS, build=wav2vec2_bert, seed=4603),
    "xglm": dict(TEXT, build=xglm, seed=4604),
    "pvt_v2": dict(HW, build=pvt_v2, seed=4605),
    "glpn": dict(DENSE, build=glpn, seed=4606, dynamic_outputs={"out": {0: "batch", 1: "out_h", 2: "out_w"}}),
    "vitdet": dict(HW, build=vitdet, seed=4607, dynamic_outputs={"hidden": {0: "batch", 2: "grid_h", 3: "grid_w"}}),
    "swin2sr": dict(DENSE, build=swin2sr, seed=4608),
    "focalnet": dict(HW, build=focalnet, seed=4609),
    "dac_encoder": dict(AUDIO, build=DacEncoder, seed=4610),
}
