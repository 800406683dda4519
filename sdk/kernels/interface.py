"""What a library-kernel declaration is, and how a call is built and checked from one.

A ``LibKernel`` names a ``runtime_c`` kernel's parameters in order, each with its C type; the header and portable
source it lives in; its implementations on other target kinds (an arch variant file under ``runtime_c/src/arch/``,
a CUDA launcher); its tuning workload; and what mixed precision and epilogue fusion may do with it. A call in the
IR is built with keyword arguments (``LibKernel.call``): a missing, unknown or ill-typed argument raises here, at
compile time, instead of printing a wrong C call. Consumers read arguments by name (``LibCall.arg``).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, Optional, Tuple

import numpy as np

from ..errors import SdkError
from ..ir import sym
from ..tir.expr import Buffer, LibCall

REQUIRED = object()
# C element/scalar type -> dtype of the buffer (pointers) or value (scalars) it takes
C_DTYPE = {"float": "float32", "double": "float64", "int64_t": "int64", "int32_t": "int32", "int16_t": "int16",
           "int8_t": "int8", "uint16_t": "uint16", "uint8_t": "uint8"}
_INT32 = (-2 ** 31, 2 ** 31 - 1)


@dataclass(frozen=True)
class Param:
    """One parameter: its name and C type (``"int64_t"``, ``"float"``, ``"const float *"``, ``"int8_t *"``)."""
    name: str
    ctype: str
    nullable: bool = False      # a pointer that may be NULL (None in the IR)
    default: object = REQUIRED  # value when the call leaves it out; floats: the workload's "identity" value

    @property
    def pointer(self) -> bool:
        return self.ctype.endswith("*")

    @property
    def written(self) -> bool:
        """A non-const pointer: the kernel writes it (an output or a scratch buffer)."""
        return self.pointer and not self.ctype.startswith("const ")

    @property
    def dtype(self) -> str:
        return C_DTYPE[self.ctype.replace("const ", "").replace("*", "").strip()]

    def c(self) -> str:
        return f"{self.ctype}{self.name}" if self.pointer else f"{self.ctype} {self.name}"

    def check(self, kernel: str, value):
        """``value`` as the IR holds it (ints, floats, Syms, Buffers, None), or SdkError naming the argument."""
        where = f"library kernel {kernel}: argument '{self.name}' ({self.ctype.strip()})"
        if self.pointer:
            if value is None:
                if not self.nullable:
                    raise SdkError(f"{where} may not be NULL")
                return None
            if not isinstance(value, Buffer):
                raise SdkError(f"{where}: expected a buffer, got {type(value).__name__}")
            if value.dtype != self.dtype:
                raise SdkError(f"{where}: buffer {value.name} is {value.dtype}, expected {self.dtype}")
            return value
        if value is None or isinstance(value, (Buffer, bool, np.bool_)):
            raise SdkError(f"{where}: got {value!r}")
        if self.ctype == "float":
            if isinstance(value, sym.Sym) or not isinstance(value, (int, float, np.integer, np.floating)):
                raise SdkError(f"{where}: expected a number, got {type(value).__name__}")
            return float(value)
        if isinstance(value, (float, np.floating)):
            if float(value) != int(value):
                raise SdkError(f"{where}: expected an integer, got {value}")
            value = int(value)
        if isinstance(value, sym.Sym):
            if self.ctype != "int64_t":
                raise SdkError(f"{where}: a symbolic dim ({sym.to_str(value)}) needs an int64_t parameter")
            return value
        if not isinstance(value, (int, np.integer)):
            raise SdkError(f"{where}: expected an integer, got {type(value).__name__}")
        value = int(value)
        if self.ctype == "int32_t" and not _INT32[0] <= value <= _INT32[1]:
            raise SdkError(f"{where}: {value} does not fit in 32 bits")
        return value


@dataclass(frozen=True)
class Variant:
    """A per-arch implementation file (under ``runtime_c/src``) that replaces the portable source on targets whose
    profile sets ``when`` (``"section.key"``, e.g. ``"simd.simd128"``). It includes the portable file, renaming
    the kernels it replaces to ``<name>_portable``."""
    source: str
    when: str

    def applies(self, target) -> bool:
        section, key = self.when.split(".")
        return bool(target is not None and target.data.get(section, {}).get(key))


@dataclass(frozen=True)
class CudaImpl:
    """The CUDA launcher of a kernel (``runtime_c/cuda/sdk_cuda.h``): the declared parameters after ``leading``,
    then ``trailing`` ones: a GEMM's/convolution's epilogue (``EPILOGUE_ARGS``), which the CUDA code generator fills
    from the ``sdk_epilogue_f32`` step that follows the call (folding it in), or with no epilogue."""
    symbol: str
    leading: Tuple[Param, ...] = (Param("stream", "cudaStream_t"),)
    trailing: Tuple[Param, ...] = ()


EPILOGUE_ARGS = (Param("R", "const float *", nullable=True, default=None), Param("act", "int64_t", default=0),
                 Param("act_a", "float", default=0.0), Param("act_b", "float", default=0.0))


@dataclass(frozen=True)
class Tuning:
    """A tunable kernel: its workload kind (``sdk/tune/workload.py``), which measurer operand (A, B, C, Y) each
    pointer parameter is, and the parameters a generated (scheduled) kernel takes after the declared ones."""
    kind: str
    operands: Tuple[Tuple[str, str], ...]
    extra: Tuple[Param, ...] = (Param("scratch", "float *"), Param("R", "const float *", nullable=True))


@dataclass(frozen=True)
class LibKernel:
    """One runtime library kernel: ``void name(params...)`` declared in ``runtime_c/include/<header>``, defined in
    the portable ``runtime_c/src/<source>`` and, where a profile selects one, in an arch variant."""
    name: str
    params: Tuple[Param, ...]
    header: str = "sdk_kernels.h"              # runtime_c/include/<header>; the portable source is <header>.c
    variants: Tuple[Variant, ...] = ()
    cuda: Optional[CudaImpl] = None
    tune: Optional[Tuning] = None
    tensor_cores: bool = False                 # mixed precision: may compute in fp16/bf16 (fp32 accumulation)
    epilogue: Optional[str] = None             # "args": takes R/act/act_a/act_b; "step": an sdk_epilogue_f32 follows

    def __post_init__(self):
        names = [p.name for p in self.params]
        assert len(set(names)) == len(names), f"{self.name}: duplicate parameter"

    @property
    def source(self) -> str:
        """The portable C source (relative to ``runtime_c/src``)."""
        return self.header[:-2] + ".c"

    def index(self, name: str) -> int:
        for i, p in enumerate(self.params):
            if p.name == name:
                return i
        raise SdkError(f"library kernel {self.name} has no parameter '{name}'")

    def signature(self, nargs: int) -> Tuple[Param, ...]:
        """Parameters of a call with ``nargs`` arguments: the declared ones, then a scheduled kernel's extras."""
        extra = self.tune.extra if self.tune else ()
        if not len(self.params) <= nargs <= len(self.params) + len(extra):
            raise SdkError(f"library kernel {self.name} takes {len(self.params)} arguments, the call has {nargs}")
        return self.params + extra[:nargs - len(self.params)]

    def call(self, **kwargs) -> LibCall:
        """A checked ``LibCall``: every parameter by name (those with a default may be left out); the written
        pointers are its outputs."""
        unknown = set(kwargs) - {p.name for p in self.params}
        if unknown:
            raise SdkError(f"library kernel {self.name}: unknown argument(s) {', '.join(sorted(unknown))}")
        args = []
        for p in self.params:
            if p.name in kwargs:
                args.append(p.check(self.name, kwargs[p.name]))
            elif p.default is not REQUIRED:
                args.append(p.default)
            else:
                raise SdkError(f"library kernel {self.name}: missing argument '{p.name}'")
        outs = [a for p, a in zip(self.params, args) if p.written and a is not None]
        return LibCall(self.name, args, outs, self.header, decl=self)

    def set(self, step: LibCall, **kwargs):
        """Set arguments of an existing call by name (checked); a newly written buffer becomes an output."""
        for k, v in kwargs.items():
            i = self.index(k)
            p = self.params[i]
            step.args[i] = p.check(self.name, v)
            if p.written and step.args[i] is not None and all(o is not step.args[i] for o in step.outputs):
                step.outputs.append(step.args[i])

    def extend(self, step: LibCall, **kwargs):
        """Append a scheduled kernel's extra arguments (``Tuning.extra``, in order) to a call."""
        for p in self.signature(len(step.args) + len(kwargs))[len(step.args):]:
            if p.name not in kwargs:
                raise SdkError(f"library kernel {self.name}: the scheduled call needs '{p.name}' next")
            v = p.check(self.name, kwargs[p.name])
            step.args.append(v)
            if p.written and v is not None:
                step.outputs.append(v)

    def c_params(self, extra: int = 0, width: int = 100) -> str:
        """The C parameter list (with ``extra`` of the scheduled kernel's parameters), lines of at most about
        ``width`` characters (continued with a 4-space indent)."""
        lines = [""]
        for p in self.signature(len(self.params) + extra):
            part = p.c() if not lines[-1] else f" {p.c()}"
            if lines[-1] and len(lines[-1]) + len(part) + 1 > width:
                lines.append("    " + p.c())
            else:
                lines[-1] += part
            lines[-1] += ","
        return "\n".join(lines)[:-1]

    def c_prototype(self) -> str:
        return f"void {self.name}({self.c_params()});"


def named_args(step: LibCall) -> Dict[str, object]:
    return {p.name: a for p, a in zip(step.decl.signature(len(step.args)), step.args)}
