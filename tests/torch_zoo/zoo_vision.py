"""Vision architectures for the zoo beyond the classifiers in export.py: torchvision segmentation (DeepLabV3 and
LR-ASPP on MobileNetV3, FCN on a dilated ResNet), video (R3D / MC3 / R(2+1)D, an S3D-style net, MViTv2), Swin V2,
ViT at other patch and image sizes, EfficientNetV2, ConvNeXt with four stages, RAFT (correlation volume,
grid_sample), SSDlite and RetinaNet heads (without the box decoding and NMS), and a few timm families
(EfficientFormer, RepVGG, CSPDarknet, ConvMixer, PoolFormer, LeViT). All at small widths and depths with the
library's own building blocks; export.py randomizes and exports them like the rest of the zoo.

Each entry of ``ZOO`` has export.py's keys. Models whose graph allows it take a dynamic image size
(``height``/``width`` dims), the others a dynamic batch only.
"""
from functools import partial

import torch
from torch import nn


def _image_hw(name="image", c=3):
    return {"name": name, "dtype": "float32", "shape": ["batch", c, "height", "width"], "range": "normal"}


def _image(name="image", c=3, hw=64):
    return {"name": name, "dtype": "float32", "shape": ["batch", c, hw, hw], "range": "normal"}


# ---------------------------------------------------------------------------------------------------------------
# segmentation
class SegOut(nn.Module):
    """torchvision's segmentation models return {"out": ...}; the exporters want tensors."""
    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, image):
        return self.model(image)["out"]


def _mobilenet_v3_large_backbone(width_mult=0.0625, dilated=True):
    from torchvision.models.mobilenetv3 import MobileNetV3, _mobilenet_v3_conf
    setting, last = _mobilenet_v3_conf("mobilenet_v3_large", width_mult=width_mult, dilated=dilated)
    return MobileNetV3(setting, last).features


def _mnv3_stages(backbone):
    """(indices of the blocks that end a stage) as torchvision's segmentation builders find them."""
    stage = [0] + [i for i, b in enumerate(backbone) if getattr(b, "_is_cn", False)] + [len(backbone) - 1]
    return stage[-4], stage[-1]


def deeplabv3_mobilenet_v3():
    from torchvision.models._utils import IntermediateLayerGetter
    from torchvision.models.segmentation.deeplabv3 import ASPP, DeepLabV3
    backbone = _mobilenet_v3_large_backbone()
    _, out_pos = _mnv3_stages(backbone)
    out_ch = backbone[out_pos].out_channels
    backbone = IntermediateLayerGetter(backbone, return_layers={str(out_pos): "out"})
    # torchvision's DeepLabHead with an 8-wide ASPP instead of 256
    head = nn.Sequential(ASPP(out_ch, [12, 24, 36], 8), nn.Conv2d(8, 8, 3, padding=1, bias=False),
                         nn.BatchNorm2d(8), nn.ReLU(), nn.Conv2d(8, 5, 1))
    return SegOut(DeepLabV3(backbone, head))


def lraspp_mobilenet_v3():
    from torchvision.models._utils import IntermediateLayerGetter
    from torchvision.models.segmentation.lraspp import LRASPP
    backbone = _mobilenet_v3_large_backbone()
    low_pos, high_pos = _mnv3_stages(backbone)
    low_ch, high_ch = backbone[low_pos].out_channels, backbone[high_pos].out_channels
    backbone = IntermediateLayerGetter(backbone, return_layers={str(low_pos): "low", str(high_pos): "high"})
    return SegOut(LRASPP(backbone, low_ch, high_ch, num_classes=5, inter_channels=8))


def fcn_resnet():
    """FCN on torchvision's ResNet-50 topology (Bottleneck blocks, stages 3 and 4 dilated instead of strided) at
    widths 4-16 and one block a stage."""
    from torchvision.models._utils import IntermediateLayerGetter
    from torchvision.models.resnet import Bottleneck, ResNet
    from torchvision.models.segmentation.fcn import FCN, FCNHead
    r = ResNet(Bottleneck, [1, 1, 1, 1], replace_stride_with_dilation=[False, True, True])
    r.inplanes, r.dilation = 16, 1
    r.conv1, r.bn1 = nn.Conv2d(3, 16, 7, 2, 3, bias=False), nn.BatchNorm2d(16)
    r.layer1 = r._make_layer(Bottleneck, 4, 1)
    r.layer2 = r._make_layer(Bottleneck, 8, 1, stride=2)
    r.layer3 = r._make_layer(Bottleneck, 12, 1, stride=2, dilate=True)
    r.layer4 = r._make_layer(Bottleneck, 16, 1, stride=2, dilate=True)
    backbone = IntermediateLayerGetter(r, return_layers={"layer4": "out"})
    return SegOut(FCN(backbone, FCNHead(64, 5)))


# ---------------------------------------------------------------------------------------------------------------
# video
def _video_resnet(conv_makers, stem):
    """torchvision's VideoResNet (BasicBlock, [1, 1, 1, 1]) with its own stem (16 wide) and stages 4-16 wide."""
    from torchvision.models.video.resnet import BasicBlock, VideoResNet
    m = VideoResNet(BasicBlock, conv_makers, [1, 1, 1, 1], stem, num_classes=10)
    m.inplanes = 16
    for i, (w, s) in enumerate(zip((4, 8, 12, 16), (1, 2, 2, 2))):
        setattr(m, f"layer{i + 1}", m._make_layer(BasicBlock, conv_makers[i], w, 1, stride=s))
    m.fc = nn.Linear(16, 10)
    return m


def _basic_stem():
    """torchvision's BasicStem (Conv3d 3x7x7 stride 1x2x2, BN, ReLU) 16 wide instead of 64."""
    return nn.Sequential(nn.Conv3d(3, 16, (3, 7, 7), (1, 2, 2), (1, 3, 3), bias=False), nn.BatchNorm3d(16),
                         nn.ReLU(inplace=True))


def _r2plus1d_stem():
    """torchvision's R2Plus1dStem (1x7x7 spatial, then 3x1x1 temporal conv) 12 / 16 wide instead of 45 / 64."""
    return nn.Sequential(nn.Conv3d(3, 12, (1, 7, 7), (1, 2, 2), (0, 3, 3), bias=False), nn.BatchNorm3d(12),
                         nn.ReLU(inplace=True), nn.Conv3d(12, 16, (3, 1, 1), 1, (1, 0, 0), bias=False),
                         nn.BatchNorm3d(16), nn.ReLU(inplace=True))


def r3d():
    from torchvision.models.video.resnet import Conv3DSimple
    return _video_resnet([Conv3DSimple] * 4, _basic_stem)


def mc3():
    from torchvision.models.video.resnet import Conv3DNoTemporal, Conv3DSimple
    return _video_resnet([Conv3DSimple] + [Conv3DNoTemporal] * 3, _basic_stem)


def r2plus1d():
    from torchvision.models.video.resnet import Conv2Plus1D
    return _video_resnet([Conv2Plus1D] * 4, _r2plus1d_stem)


class S3DSmall(nn.Module):
    """torchvision's S3D building blocks (temporally separable convs, separable 3-d inception blocks, 3-d max
    pools) in S3D's order, 8-40 wide, global average pool and a 1x1x1 conv classifier."""
    def __init__(self):
        super().__init__()
        from torchvision.models.video.s3d import SepInceptionBlock3D, TemporalSeparableConv
        norm = partial(nn.BatchNorm3d, eps=0.001, momentum=0.001)
        self.features = nn.Sequential(
            TemporalSeparableConv(3, 16, 7, 2, 3, norm),
            nn.MaxPool3d((1, 3, 3), (1, 2, 2), (0, 1, 1)),
            TemporalSeparableConv(16, 16, 1, 1, 0, norm),
            TemporalSeparableConv(16, 24, 3, 1, 1, norm),
            nn.MaxPool3d((1, 3, 3), (1, 2, 2), (0, 1, 1)),
            SepInceptionBlock3D(24, 8, 8, 16, 4, 8, 8, norm),
            nn.MaxPool3d((3, 3, 3), (2, 2, 2), (1, 1, 1)),
            SepInceptionBlock3D(40, 8, 8, 16, 4, 8, 8, norm))
        self.classifier = nn.Conv3d(40, 10, 1)

    def forward(self, clip):
        x = nn.functional.adaptive_avg_pool3d(self.features(clip), 1)
        return torch.flatten(self.classifier(x), 1)


def mvit_v2():
    """torchvision's MViTv2 (pooling attention, relative position embeddings, residual pooling) with 3 blocks."""
    from torchvision.models.video.mvit import MSBlockConfig, MViT
    cfg = [MSBlockConfig(1, 8, 8, [3, 3, 3], [3, 3, 3], [1, 1, 1], [1, 4, 4]),
           MSBlockConfig(2, 8, 16, [3, 3, 3], [3, 3, 3], [1, 2, 2], [1, 2, 2]),
           MSBlockConfig(2, 16, 16, [3, 3, 3], [3, 3, 3], [1, 1, 1], [1, 2, 2])]
    return MViT(spatial_size=(32, 32), temporal_size=4, block_setting=cfg, residual_pool=True,
                residual_with_cls_embed=False, rel_pos_embed=True, proj_after_attn=True, num_classes=10)


# ---------------------------------------------------------------------------------------------------------------
# classifiers
def swin_v2():
    from torchvision.models.swin_transformer import PatchMergingV2, SwinTransformer, SwinTransformerBlockV2
    m = SwinTransformer(patch_size=[4, 4], embed_dim=16, depths=[2, 2], num_heads=[2, 4], window_size=[4, 4],
                        block=SwinTransformerBlockV2, downsample_layer=PatchMergingV2, num_classes=10)
    # the continuous position bias MLPs 192 wide instead of torchvision's fixed 512: the dynamo exporter folds the
    # first layer over the 7 x 7 table into the file (100 KB a block at 512); at 49 x 192 > 8192 elements (its
    # constant folding's input limit) the ReLU, second layer, gather and sigmoid stay run-time ops (at 64 wide
    # the whole bias became one constant)
    for blk in m.modules():
        if isinstance(blk, SwinTransformerBlockV2):
            heads = blk.attn.cpb_mlp[2].out_features
            blk.attn.cpb_mlp = nn.Sequential(nn.Linear(2, 192), nn.ReLU(inplace=True),
                                             nn.Linear(192, heads, bias=False))
    return m


def vit_p8():
    from torchvision.models.vision_transformer import VisionTransformer
    return VisionTransformer(image_size=48, patch_size=8, num_layers=2, num_heads=4, hidden_dim=32, mlp_dim=64,
                             num_classes=10)


def vit_p4():
    from torchvision.models.vision_transformer import VisionTransformer
    return VisionTransformer(image_size=32, patch_size=4, num_layers=1, num_heads=2, hidden_dim=24, mlp_dim=48,
                             num_classes=10)


def efficientnet_v2():
    """EfficientNetV2-S's layout (Fused-MBConv stages, then MBConv with squeeze-excitation) at 8-32 wide."""
    from torchvision.models.efficientnet import EfficientNet, FusedMBConvConfig, MBConvConfig
    setting = [FusedMBConvConfig(1, 3, 1, 8, 8, 1), FusedMBConvConfig(2, 3, 2, 8, 16, 1),
               FusedMBConvConfig(2, 3, 2, 16, 16, 1), MBConvConfig(4, 3, 2, 16, 24, 2),
               MBConvConfig(4, 3, 1, 24, 32, 1)]
    return EfficientNet(setting, dropout=0.2, num_classes=10, last_channel=32,
                        norm_layer=partial(nn.BatchNorm2d, eps=1e-3))


def convnext4():
    from torchvision.models.convnext import CNBlockConfig, ConvNeXt
    return ConvNeXt([CNBlockConfig(8, 16, 1), CNBlockConfig(16, 24, 2), CNBlockConfig(24, 32, 1),
                     CNBlockConfig(32, None, 1)], num_classes=10)


# ---------------------------------------------------------------------------------------------------------------
# optical flow, detection heads
class RaftSmall(nn.Module):
    """torchvision's RAFT with raft_small's blocks (residual encoders, 4-level correlation pyramid sampled with
    grid_sample, conv-GRU updates, upsampling by 8) at 8-32 wide (GRU state 16) and 2 flow updates; returns the last flow."""
    def __init__(self):
        super().__init__()
        from torchvision.models.optical_flow.raft import BottleneckBlock, _raft
        self.model = _raft(feature_encoder_layers=(8, 8, 16, 16, 32), feature_encoder_block=BottleneckBlock,
                           feature_encoder_norm_layer=nn.InstanceNorm2d,
                           context_encoder_layers=(8, 8, 16, 16, 32), context_encoder_block=BottleneckBlock,
                           context_encoder_norm_layer=None, corr_block_num_levels=3, corr_block_radius=2,
                           motion_encoder_corr_layers=(24,), motion_encoder_flow_layers=(16, 8),
                           motion_encoder_out_channels=16, recurrent_block_hidden_state_size=16,
                           recurrent_block_kernel_size=(3,), recurrent_block_padding=(1,),
                           flow_head_hidden_size=16, use_mask_predictor=False)

    def forward(self, image1, image2):
        return self.model(image1, image2, num_flow_updates=2)[-1]


class SSDLiteHeads(nn.Module):
    """torchvision's SSDlite feature extractor (MobileNetV3-Large split at C4, four extra blocks) and SSDLiteHead:
    per-anchor box regressions and class logits, before box decoding and NMS."""
    def __init__(self):
        super().__init__()
        from torchvision.models.detection.ssdlite import SSDLiteFeatureExtractorMobileNet, SSDLiteHead
        from torchvision.models.mobilenetv3 import MobileNetV3, _mobilenet_v3_conf
        norm = partial(nn.BatchNorm2d, eps=0.001, momentum=0.03)
        setting, last = _mobilenet_v3_conf("mobilenet_v3_large", width_mult=0.0625, reduced_tail=True)
        backbone = MobileNetV3(setting, last, norm_layer=norm).features
        c4 = [i for i, b in enumerate(backbone) if getattr(b, "_is_cn", False)][-2]
        self.features = SSDLiteFeatureExtractorMobileNet(backbone, c4, norm, width_mult=0.0625, min_depth=8)
        with torch.no_grad():
            chans = [t.shape[1] for t in self.features.eval()(torch.zeros(1, 3, 128, 128)).values()]
        self.head = SSDLiteHead(chans, [6] * len(chans), 5, norm)

    def forward(self, image):
        out = self.head(list(self.features(image).values()))
        return out["bbox_regression"], out["cls_logits"]


class SSDLiteNMS(nn.Module):
    """torchvision's whole SSD detector in eval mode (SSDLiteHeads' network): its transform (normalisation, resize
    to 128x128), then per image softmax scores, per-class score threshold and top-k, box decoding against the
    default boxes, batched NMS, the best 20; the first image's boxes, scores and labels (torchvision loops over
    the images in Python: one image keeps the exported graph free of the batch size)."""
    def __init__(self):
        super().__init__()
        from torchvision.models.detection.anchor_utils import DefaultBoxGenerator
        from torchvision.models.detection.ssd import SSD
        heads = SSDLiteHeads()
        self.model = SSD(heads.features, DefaultBoxGenerator([[2, 3] for _ in range(6)], min_ratio=0.2, max_ratio=0.95),
                         (128, 128), 5, head=heads.head, score_thresh=0.2, nms_thresh=0.5, detections_per_img=20,
                         topk_candidates=40, image_mean=[0.5, 0.5, 0.5], image_std=[0.5, 0.5, 0.5])

    def forward(self, image):
        if self.training:  # randomize()'s BatchNorm calibration: the network alone
            return self.model.head(list(self.model.backbone(image).values()))
        d = self.model(image[:1])[0]
        return d["boxes"], d["scores"], d["labels"]


class RetinaNetHeads(nn.Module):
    """A small ResNet, torchvision's FeaturePyramidNetwork with P6/P7 and RetinaNetHead (4 convs + GroupNorm a
    branch): per-anchor class logits and box regressions over all levels, before decoding and NMS."""
    def __init__(self):
        super().__init__()
        from torchvision.models.detection.retinanet import RetinaNetHead
        from torchvision.ops import FeaturePyramidNetwork
        from torchvision.ops.feature_pyramid_network import LastLevelP6P7
        blk = lambda i, o, s: nn.Sequential(nn.Conv2d(i, o, 3, s, 1, bias=False), nn.BatchNorm2d(o), nn.ReLU())
        self.c2 = nn.Sequential(blk(3, 8, 2), blk(8, 8, 2))
        self.c3, self.c4, self.c5 = blk(8, 8, 2), blk(8, 12, 2), blk(12, 16, 2)
        self.fpn = FeaturePyramidNetwork([8, 12, 16], 8, extra_blocks=LastLevelP6P7(8, 8))
        self.head = RetinaNetHead(8, 3, 5, norm_layer=partial(nn.GroupNorm, 4))

    def forward(self, image):
        c3 = self.c3(self.c2(image))
        c4 = self.c4(c3)
        feats = self.fpn({"c3": c3, "c4": c4, "c5": self.c5(c4)})
        out = self.head(list(feats.values()))
        return out["cls_logits"], out["bbox_regression"]


# ---------------------------------------------------------------------------------------------------------------
# timm
def efficientformer():
    from timm.models.efficientformer import Attention, EfficientFormer
    # the last stage's attention bias is sized for a 7x7 grid: input 224
    m = EfficientFormer(depths=(1, 1, 1, 2), embed_dims=(8, 16, 24, 32), num_vit=1, num_classes=10)
    # its attention with 2 heads of 8 (keys) / 32 (values) instead of timm's fixed 8 heads of 32 / 128: the same
    # graph, a tenth of the weights
    m.stages[3].blocks[-1].token_mixer = Attention(32, key_dim=8, num_heads=2, attn_ratio=4, resolution=7)
    return m


def repvgg():
    from timm.models.byobnet import ByobNet, ByoModelCfg, _rep_vgg_bcfg
    cfg = ByoModelCfg(blocks=_rep_vgg_bcfg(d=(1, 2, 2, 1), wf=(0.0625, 0.0625, 0.0625, 0.0625)), stem_type="rep",
                      stem_chs=8)
    return ByobNet(cfg, num_classes=10)


def cspdarknet():
    from timm.models.cspnet import CspModelCfg, CspNet, CspStagesCfg, CspStemCfg
    cfg = CspModelCfg(stem=CspStemCfg(out_chs=8, kernel_size=3, stride=1, pool=""),
                      stages=CspStagesCfg(depth=(1, 1, 2), out_chs=(16, 24, 32), stride=2, expand_ratio=(2.,) + (1.,),
                                          bottle_ratio=(0.5,) + (1.,), block_ratio=(1.,) + (0.5,), down_growth=True,
                                          block_type="dark"))
    return CspNet(cfg, num_classes=10)


def convmixer():
    from timm.models.convmixer import ConvMixer
    return ConvMixer(dim=32, depth=3, kernel_size=5, patch_size=4, num_classes=10)


def poolformer():
    from timm.layers import GroupNorm1
    from timm.models.metaformer import MetaFormer
    return MetaFormer(depths=(1, 1, 1, 1), dims=(8, 16, 24, 32), downsample_norm=None, mlp_act=nn.GELU,
                      mlp_bias=True, norm_layers=GroupNorm1, layer_scale_init_values=1e-5,
                      res_scale_init_values=None, use_mlp_head=False, num_classes=10)


def levit():
    from timm.models.levit import Levit
    return Levit(img_size=64, embed_dim=(16, 24), key_dim=8, depth=(1, 1), num_heads=(2, 3), num_classes=10)


# ---------------------------------------------------------------------------------------------------------------
IMG = dict(inputs=[_image()], outputs=["logits"], bounds={"batch": 4}, dim_sets=[{"batch": 1}, {"batch": 3}],
           example_dims={"batch": 2})
# dynamic height and width too (models whose graph works at any size that divides by 32)
IMG_HW = dict(inputs=[_image_hw()], outputs=["logits"], bounds={"batch": 2, "height": 96, "width": 96},
              dim_sets=[{"batch": 1, "height": 64, "width": 64}, {"batch": 2, "height": 96, "width": 64}],
              example_dims={"batch": 2, "height": 64, "width": 96})
SEG = dict(IMG_HW, outputs=["mask"], dynamic_outputs={"mask": {0: "batch", 2: "height", 3: "width"}})
CLIP = dict(inputs=[{"name": "clip", "dtype": "float32", "shape": ["batch", 3, 4, 32, 32], "range": "normal"}],
            outputs=["logits"], bounds={"batch": 2}, dim_sets=[{"batch": 1}, {"batch": 2}], example_dims={"batch": 2})

ZOO = {
    "deeplabv3_mnv3": dict(build=deeplabv3_mobilenet_v3, **SEG),
    "lraspp_mnv3": dict(build=lraspp_mobilenet_v3, **SEG),
    "fcn_resnet": dict(build=fcn_resnet, **SEG),
    "r3d": dict(build=r3d, **CLIP),
    "mc3": dict(build=mc3, **CLIP),
    "r2plus1d": dict(build=r2plus1d, **CLIP),
    "s3d": dict(build=S3DSmall, **CLIP),
    "mvit_v2": dict(build=mvit_v2, **CLIP),
    "swin_v2": dict(build=swin_v2, **IMG),
    "vit_p8": dict(build=vit_p8, **dict(IMG, inputs=[_image(hw=48)])),
    "vit_p4": dict(build=vit_p4, **dict(IMG, inputs=[_image(hw=32)])),
    "efficientnet_v2": dict(build=efficientnet_v2, **IMG_HW),
    "convnext4": dict(build=convnext4, **IMG_HW),
    # a fixed image size: at a symbolic height h the encoders' strided convs give ceil(h / 8) rows where RAFT's
    # coordinate grid takes h // 8, equal only for multiples of 8, which a dim's bounds cannot say
    "raft": dict(build=RaftSmall, inputs=[_image("image1"), _image("image2")], outputs=["flow"],
                 bounds={"batch": 2}, dim_sets=[{"batch": 1}, {"batch": 2}], example_dims={"batch": 2}),
    "ssdlite_heads": dict(build=SSDLiteHeads, inputs=[_image(hw=128)], outputs=["boxes", "logits"],
                          bounds={"batch": 2}, dim_sets=[{"batch": 1}, {"batch": 2}], example_dims={"batch": 2}),
    "ssdlite_nms": dict(build=SSDLiteNMS, inputs=[_image(hw=128)], outputs=["boxes", "scores", "labels"],
                        bounds={"batch": 2}, dim_sets=[{"batch": 1}, {"batch": 2}], example_dims={"batch": 2},
                        dynamic_outputs={o: {0: "detections"} for o in ("boxes", "scores", "labels")}),
    "retinanet_heads": dict(build=RetinaNetHeads, inputs=[_image(hw=128)], outputs=["logits", "boxes"],
                            bounds={"batch": 2}, dim_sets=[{"batch": 1}, {"batch": 2}], example_dims={"batch": 2}),
    "efficientformer": dict(build=efficientformer, **dict(IMG, inputs=[_image(hw=224)], bounds={"batch": 2},
                                                          dim_sets=[{"batch": 1}, {"batch": 2}])),
    "repvgg": dict(build=repvgg, **IMG_HW),
    "cspdarknet": dict(build=cspdarknet, **IMG_HW),
    "convmixer": dict(build=convmixer, **IMG_HW),
    "poolformer_timm": dict(build=poolformer, **IMG_HW),
    "levit_timm": dict(build=levit, **IMG),
}
