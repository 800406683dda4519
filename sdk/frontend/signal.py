"""ONNX's signal ops as the linear maps they are, before import.

With the transform length known at build time, a DFT is a product with a constant basis, and an STFT is a
strided 1-d convolution whose output channels are the windowed cosine and sine rows: the compiler's GEMM and conv
kernels (and their tuning) then run spectrograms too, with symbolic signal lengths (frames = (N - L) // step + 1,
the convolution's own rule). Torch's dynamo exporter writes ``torch.stft`` / ``torch.fft.*`` this way
(audio front-ends: log-mel spectrograms before a keyword-spotting net).

Covered: DFT over a real or complex input, forward or inverse, one-sided for real input, ``dft_length`` equal,
longer (zero padding) or shorter (truncation) than the axis; STFT of a real signal ([batch, N, 1], or [batch, N] as
TorchScript writes it) with constant ``frame_step``, window and ``frame_length``, one- or two-sided. A node outside
that fails its guard: a DFT whose length is a symbolic axis goes to sdk/ops/dft.py (computed in the kernel), others
(a complex STFT signal) are reported unsupported with the node named. The windows (HannWindow, ...)
and MelWeightMatrix of constant inputs become Constant nodes (onnx's reference implementation) first, so an STFT
reading a HannWindow sees a constant window.
"""
from __future__ import annotations

from typing import Callable, Dict, Optional

import numpy as np

from .node_fields import node_attr as _attr
from .node_fields import node_input as _ins


def _scalar(e, name: str) -> Optional[int]:
    a = e.array(name) if name else None
    return None if a is None or a.size != 1 else int(a.reshape(-1)[0])


def dft_basis(n: int, length: int, bins: int, inverse: bool, complex_in: bool) -> np.ndarray:
    """[n * (2 if complex_in else 1), 2 * bins] float32: input samples (real parts, then imaginary parts) times it
    give the transform's bins as interleaved (real, imaginary) columns. Samples at or past ``length`` get zero
    rows (truncation); ``length > n`` is zero padding."""
    sgn = 1.0 if inverse else -1.0
    t = np.arange(n, dtype=np.float64)[:, None]
    k = np.arange(bins, dtype=np.float64)[None, :]
    theta = 2.0 * np.pi * ((t * k) % length) / length
    c, s = np.cos(theta), sgn * np.sin(theta)
    c[length:], s[length:] = 0.0, 0.0
    scale = 1.0 / length if inverse else 1.0
    re_rows = np.stack([c, s], axis=-1).reshape(n, 2 * bins)          # x_r * (c + i s)
    if not complex_in:
        return (scale * re_rows).astype(np.float32)
    im_rows = np.stack([-s, c], axis=-1).reshape(n, 2 * bins)         # i x_i * (c + i s)
    return (scale * np.concatenate([re_rows, im_rows], axis=0)).astype(np.float32)


def _dft_axis(n, e) -> Optional[int]:
    info = e.info(n.input[0])
    if not info:
        return None
    r = len(info[1])
    if e.opset >= 20:
        a = _scalar(e, _ins(n, 2)) if _ins(n, 2) else -2
    else:
        a = int(_attr(n, "axis", 1))
    if a is None:  # an axis known only at run time
        return None
    a = a + r if a < 0 else a
    return a if 0 <= a <= r - 2 else None


def _dft_guard(n, e) -> bool:
    info = e.info(n.input[0])
    a = _dft_axis(n, e)
    if a is None or not isinstance(info[1][-1], int) or info[1][-1] not in (1, 2) or not isinstance(info[1][a], int):
        return False
    if _ins(n, 1) and _scalar(e, n.input[1]) is None:
        return False
    inverse, onesided = int(_attr(n, "inverse", 0)), int(_attr(n, "onesided", 0))
    return not (onesided and (inverse or info[1][-1] == 2))


def _dft(e, n):
    info = e.info(n.input[0])
    r, a = len(info[1]), _dft_axis(n, e)
    size, cplx = info[1][a], info[1][-1] == 2
    length = _scalar(e, _ins(n, 1)) if _ins(n, 1) else size
    bins = length // 2 + 1 if int(_attr(n, "onesided", 0)) else length
    basis = dft_basis(size, length, bins, bool(int(_attr(n, "inverse", 0))), cplx)
    rest = [d for d in range(r - 1) if d != a]
    x = e.op("Transpose", [n.input[0]], perm=rest + [r - 1, a])                    # [..., 1|2, N]
    x = e.op("Reshape", [x, e.const([0] * len(rest) + [1, -1], np.int64)])          # [..., 1, (1|2) N]
    y = e.op("MatMul", [x, e.fconst(basis, n.input[0])])                             # [..., 1, 2 K]
    y = e.op("Reshape", [y, e.const([0] * len(rest) + [bins, 2], np.int64)])        # [..., K, 2]
    # K sits after the other axes; move it back to ``a``
    order = rest + [a]                     # the original axis each position of y (but the last) holds
    perm = [order.index(d) for d in range(r - 1)] + [r - 1]
    e.op("Transpose", [y], n.output[0], perm=perm)


def _stft_guard(n, e) -> bool:
    info = e.info(n.input[0])
    # [batch, N, 1], or [batch, N] as TorchScript writes a real signal (onnxruntime takes both); a complex signal
    # ([batch, N, 2]) is not covered
    if not info or not (len(info[1]) == 2 or (len(info[1]) == 3 and info[1][2] == 1)):
        return False
    if _scalar(e, n.input[1]) is None:
        return False
    win = e.array(_ins(n, 2)) if _ins(n, 2) else None
    if _ins(n, 2) and win is None:
        return False
    length = _scalar(e, _ins(n, 3)) if _ins(n, 3) else (win.size if win is not None else None)
    return length is not None and (win is None or win.size == length)


def _stft(e, n):
    step = _scalar(e, n.input[1])
    win = e.array(_ins(n, 2)) if _ins(n, 2) else None
    length = _scalar(e, _ins(n, 3)) if _ins(n, 3) else win.size
    w = np.ones(length) if win is None else win.astype(np.float64).reshape(-1)
    bins = length // 2 + 1 if int(_attr(n, "onesided", 1)) else length
    basis = dft_basis(length, length, bins, False, False)                            # [L, 2 K]
    kernel = (basis * w[:, None]).T.reshape(2 * bins, 1, length)                     # [2 K, 1, L]
    if len(e.info(n.input[0])[1]) == 2:                                              # [B, N]
        x = e.op("Unsqueeze", [n.input[0], e.const([1], np.int64)])
    else:
        x = e.op("Transpose", [n.input[0]], perm=[0, 2, 1])                          # [B, 1, N]
    y = e.op("Conv", [x, e.fconst(kernel.astype(np.float32), n.input[0])], strides=[step])  # [B, 2 K, F]
    y = e.op("Reshape", [y, e.const([0, bins, 2, -1], np.int64)])
    e.op("Transpose", [y], n.output[0], perm=[0, 3, 1, 2])                           # [B, F, K, 2]


def _constant_inputs(n, e) -> bool:
    return all(not x or e.array(x) is not None for x in n.input)


def _fold(e, n):
    """A window / mel matrix of constant inputs: its value (onnx's reference implementation) as a Constant node,
    so the STFT or MatMul reading it sees a constant."""
    from onnx import helper, numpy_helper
    from onnx.reference import ReferenceEvaluator
    feeds = {x: np.asarray(e.array(x)) for x in n.input if x}
    g = helper.make_graph([n], "fold", [helper.make_tensor_value_info(x, helper.np_dtype_to_tensor_dtype(v.dtype),
                                                                      list(v.shape)) for x, v in feeds.items()],
                          [helper.make_tensor_value_info(o, 0, None) for o in n.output])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", max(e.opset, 17))])
    for out, value in zip(n.output, ReferenceEvaluator(m).run(None, feeds)):
        e.nodes.append(helper.make_node("Constant", [], [out], name=e.name("Constant"),
                                        value=numpy_helper.from_array(np.asarray(value), out)))


REWRITES: Dict[str, Callable] = {"DFT": _dft, "STFT": _stft, "HannWindow": _fold, "HammingWindow": _fold,
                                 "BlackmanWindow": _fold, "MelWeightMatrix": _fold}
GUARDS: Dict[str, Callable] = {"DFT": _dft_guard, "STFT": _stft_guard, "HannWindow": _constant_inputs,
                               "HammingWindow": _constant_inputs, "BlackmanWindow": _constant_inputs,
                               "MelWeightMatrix": _constant_inputs}
