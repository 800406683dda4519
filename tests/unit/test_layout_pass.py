"""The channels-last pass (sdk/transform/layout.py) on the committed torch-zoo exports, both exporters: which
convolutions it converts and how many transposes it leaves (numerics: tests/e2e/test_nhwc.py and the zoo tests)."""
from pathlib import Path

import onnx
import pytest

from sdk.frontend.onnx import import_onnx
from sdk.transform.layout import nhwc_layout

ZOO = Path(__file__).resolve().parents[1] / "torch_zoo" / "models"
ON = {"nhwc": True}


def _ops(arch, exporter, layout=ON):
    f = import_onnx(onnx.load(str(ZOO / f"{arch}.{exporter}.onnx")), {"batch": 1}, "m")
    g = nhwc_layout(f, layout=layout)
    return [b.op for b in f.bindings], [b.op for b in g.bindings]


@pytest.mark.parametrize("exporter", ["ts", "dynamo"])
@pytest.mark.parametrize("arch", ["mobilenet_v2", "mobilenet_v3_small", "efficientnet_b0"])
def test_mobile_nets_go_channels_last(arch, exporter):
    before, after = _ops(arch, exporter)
    convs = before.count("Conv")
    # every convolution but the classifier's 1x1s on a 1x1 plane that no region reaches
    assert after.count("ConvNHWC") >= convs - 2 and after.count("ConvNHWC") > 0
    # the stem reads the image itself; transposes only of squeeze-excite scales ([N, C, 1, 1]: a reshape) and where
    # a region's value leaves it
    pools = before.count("GlobalAveragePool") + before.count("ReduceMean")
    assert after.count("Transpose") - before.count("Transpose") <= pools + 2
    # every pooling (squeeze-excite and the head's) reads a region's NHWC tensor: none transposes back for it
    assert after.count("GlobalAveragePoolNHWC") == before.count("GlobalAveragePool") + before.count("ReduceMean") > 0


@pytest.mark.parametrize("exporter", ["ts", "dynamo"])
@pytest.mark.parametrize("arch", ["resnet_basic", "squeezenet", "regnet_y", "shufflenet_v2"])
def test_nets_without_paying_regions_are_unchanged(arch, exporter):
    before, after = _ops(arch, exporter)
    assert after == before  # no depthwise convolution, or ShuffleNet's one per split/concat branch


def test_off_unless_the_profile_asks():
    before, after = _ops("mobilenet_v2", "ts", layout=None)
    assert after == before
