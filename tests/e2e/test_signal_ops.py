"""DFT and STFT (sdk/frontend/signal.py: products with constant bases, the STFT a strided convolution) against
onnxruntime on random signals: real and complex, forward and inverse, one- and two-sided, transform lengths equal,
longer and shorter than the axis, symbolic signal lengths; a window made by HannWindow (folded at import); torch's
dynamo export of a log-spectrogram front-end; forms not covered refused with the node named."""
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto as T
from onnx import helper as h

import sdk
from conftest import onnx_model as model, ort_run
from sdk.frontend.signal import dft_basis

RNG = np.random.default_rng(3)


def c(name, value, dt=np.float32):
    return onnx.numpy_helper.from_array(np.asarray(value, dt), name)


def check(m, feeds, dims, tol=2e-5):
    got = sdk.compile(m, dims=dims).run(feeds)
    for k, r in ort_run(m, feeds).items():
        assert got[k].shape == r.shape, (k, got[k].shape, r.shape)
        assert np.abs(got[k].astype(np.float64) - r).max() <= tol * max(1.0, np.abs(r).max()), k


def test_basis_is_numpy_fft():
    x = RNG.standard_normal(12) + 1j * RNG.standard_normal(12)
    got = np.concatenate([x.real, x.imag]) @ dft_basis(12, 12, 12, False, True).astype(np.float64)
    np.testing.assert_allclose(got[0::2] + 1j * got[1::2], np.fft.fft(x), atol=1e-4)
    got = x.real @ dft_basis(12, 16, 9, True, False).astype(np.float64)  # inverse, zero-padded to 16, 9 bins
    np.testing.assert_allclose(got[0::2] + 1j * got[1::2], np.fft.ifft(x.real, 16)[:9], atol=1e-6)


@pytest.mark.parametrize("axis,cplx,inverse,onesided,length", [
    (1, False, 0, 1, None), (1, False, 0, 0, None), (2, True, 0, 0, None), (1, True, 1, 0, None),
    (-2, False, 0, 1, 20), (1, False, 0, 0, 10), (2, True, 1, 0, 12)])
def test_dft_opset17(axis, cplx, inverse, onesided, length):
    ins = ["x"] + (["n"] if length else [])
    m = model([h.make_node("DFT", ins, ["y"], axis=axis, inverse=inverse, onesided=onesided)],
              [("x", T.FLOAT, ["b", 16, 6, 2 if cplx else 1])], [("y", T.FLOAT)],
              [c("n", length, np.int64)] if length else [])
    check(m, {"x": RNG.standard_normal((3, 16, 6, 2 if cplx else 1)).astype(np.float32)}, {"b": 4})


def test_dft_opset20_axis_input():
    m = model([h.make_node("DFT", ["x", "", "ax"], ["y"], onesided=1)], [("x", T.FLOAT, ["b", 10, 1])],
              [("y", T.FLOAT)], [c("ax", -2, np.int64)], opset=20)
    check(m, {"x": RNG.standard_normal((2, 10, 1)).astype(np.float32)}, {"b": 2})


@pytest.mark.parametrize("window,onesided", [("hann", 1), ("given", 0), (None, 1)])
def test_stft(window, onesided):
    """Symbolic signal length (frames = (n - 32) // 8 + 1), run at two lengths."""
    nodes, inits = [], [c("step", 8, np.int64)]
    ins = ["x", "step"]
    if window == "hann":
        nodes.append(h.make_node("HannWindow", ["wl"], ["w"], periodic=1))
        inits.append(c("wl", 32, np.int64))
        ins.append("w")
    elif window == "given":
        inits.append(c("w", RNG.random(32)))
        ins.append("w")
    else:
        ins += ["", "fl"]
        inits.append(c("fl", 32, np.int64))
    nodes.append(h.make_node("STFT", ins, ["y"], onesided=onesided))
    m = model(nodes, [("x", T.FLOAT, ["b", "n", 1])], [("y", T.FLOAT)], inits)
    b = sdk.compile(m, dims={"b": 2, "n": 300})
    for n in (300, 45):
        x = RNG.standard_normal((2, n, 1)).astype(np.float32)
        got, want = b.run({"x": x})["y"], ort_run(m, {"x": x})["y"]
        assert got.shape == want.shape
        assert np.abs(got - want).max() <= 2e-5 * np.abs(want).max()


@pytest.mark.parametrize("n", [400, 1000])
def test_log_spectrogram_dynamo_export(n):
    path = Path(__file__).resolve().parents[1] / "models" / "signal" / "log_spectrogram.dynamo.onnx"
    m = onnx.load(str(path))
    assert "STFT" in {x.op_type for x in m.graph.node}
    check(m, {"x": RNG.standard_normal((2, n)).astype(np.float32)}, {"b": 2, "n": 1024}, tol=1e-4)


def test_complex_stft_signal_is_reported():
    m = model([h.make_node("STFT", ["x", "step", "w"], ["y"], name="stft0")], [("x", T.FLOAT, [1, 64, 2])],
              [("y", T.FLOAT)], [c("step", 8, np.int64), c("w", np.ones(16))])
    with pytest.raises(sdk.errors.UnsupportedOp, match="STFT.*stft0"):
        sdk.compile(m)


def test_log_mel_front_end():
    """HannWindow -> STFT -> power -> MelWeightMatrix product -> log: the window and mel matrix fold to constants."""
    nodes = [h.make_node("HannWindow", ["wl"], ["w"]),
             h.make_node("STFT", ["x", "step", "w"], ["s"]),
             h.make_node("ReduceSumSquare", ["s"], ["p"], axes=[-1], keepdims=0),
             h.make_node("MelWeightMatrix", ["mels", "wl", "sr", "lo", "hi"], ["mel"]),
             h.make_node("MatMul", ["p", "mel"], ["m"]),
             h.make_node("Add", ["m", "eps"], ["me"]),
             h.make_node("Log", ["me"], ["y"])]
    inits = [c("wl", 64, np.int64), c("step", 16, np.int64), c("mels", 10, np.int64),
             c("sr", 8000, np.int64), c("lo", 20.0), c("hi", 3800.0), c("eps", 1e-6)]
    m = model(nodes, [("x", T.FLOAT, ["b", "n", 1])], [("y", T.FLOAT)], inits)
    check(m, {"x": RNG.standard_normal((2, 500, 1)).astype(np.float32)}, {"b": 2, "n": 800}, tol=1e-4)


def test_stft_of_a_rank_2_signal():
    """TorchScript's torch.stft writes the real signal as [batch, N] (no trailing 1); onnxruntime takes it."""
    m = model([h.make_node("STFT", ["x", "step", "w"], ["y"], onesided=1)], [("x", T.FLOAT, ["b", "n"])],
              [("y", T.FLOAT)], [c("step", 16, np.int64), c("w", np.hanning(64))])
    b = sdk.compile(m, dims={"b": 2, "n": 500})
    for n in (500, 130):
        x = RNG.standard_normal((2, n)).astype(np.float32)
        got, want = b.run({"x": x})["y"], ort_run(m, {"x": x})["y"]
        assert got.shape == want.shape
        assert np.abs(got - want).max() <= 2e-5 * np.abs(want).max()


@pytest.mark.parametrize("cplx,inverse,onesided,axis", [(False, 0, 0, 1), (False, 0, 1, 1), (True, 1, 0, 1),
                                                        (True, 0, 0, 2)])
def test_dft_over_a_symbolic_axis(cplx, inverse, onesided, axis):
    """A DFT whose length is the input's symbolic axis (FNet's fft over the sequence, dynamo's export): computed in
    the kernel (twiddles from (k * n) mod N), one compile run at two lengths against onnxruntime."""
    shape = ["b", "n", 6, 2 if cplx else 1] if axis == 1 else ["b", 6, "n", 2 if cplx else 1]
    m = model([h.make_node("DFT", ["x", "", "axis"], ["y"], inverse=inverse, onesided=onesided)],
              [("x", T.FLOAT, shape)], [("y", T.FLOAT)], [c("axis", axis, np.int64)], opset=20)
    b = sdk.compile(m, dims={"b": 2, "n": 24})
    for n in (5, 24):
        x = RNG.standard_normal([2 if d == "b" else n if d == "n" else d for d in shape]).astype(np.float32)
        got, want = b.run({"x": x})["y"], ort_run(m, {"x": x})["y"]
        assert got.shape == want.shape
        assert np.abs(got - want).max() <= 1e-5 * np.abs(want).max()
