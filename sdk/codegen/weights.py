"""The model's constants as one binary blob: written once, by the backend that knows its toolchain.

Every backend lays the weights out the same way (64-byte aligned, little-endian) and embeds the blob its own way:
``.incbin`` from an assembler file (C bundles above a size, CUDA bundles, whose ``model_init`` copies it to the
device with ``cudaMemcpy``), or a C array where a toolchain has no assembler step."""
from __future__ import annotations

from typing import Dict, Tuple

import numpy as np

WEIGHT_ALIGN = 64


def weights_blob(prog) -> Tuple[bytes, Dict[int, int]]:
    """All of ``prog.consts`` in one blob: (bytes, {id(buffer): byte offset})."""
    blob, offs = bytearray(), {}
    for b, arr in prog.consts:
        blob.extend(b"\0" * ((-len(blob)) % WEIGHT_ALIGN))
        offs[id(b)] = len(blob)
        if arr.dtype.itemsize == 2 and arr.dtype.kind not in "iu":  # float16/bfloat16: their 16-bit patterns
            arr = arr.view(np.uint16)
        blob.extend(np.ascontiguousarray(arr).astype(arr.dtype.newbyteorder("<")).tobytes())
    return bytes(blob), offs


def incbin_asm(symbol: str, bin_name: str) -> str:
    """An assembler file that embeds ``bin_name`` as the read-only, 64-byte aligned array ``symbol``."""
    return f"""/* Weights: {bin_name} embedded as {symbol}[] (assemble with the C compiler: cc -c). */
  .section .rodata
  .balign {WEIGHT_ALIGN}
  .global {symbol}
{symbol}:
  .incbin "{bin_name}"
  .byte 0 /* never empty: a model without weights still defines the symbol */
#if defined(__ELF__)
  .section .note.GNU-stack,"",%progbits
#endif
"""
