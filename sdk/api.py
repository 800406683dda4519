"""Python API: ``sdk.compile(model, target, dims) -> Bundle``."""
from __future__ import annotations

import dataclasses

import os
import re
import tempfile
from pathlib import Path
from typing import Dict, Optional

import numpy as np

from .backends import backend_of
from .backends.folder import write as write_bundle
from .errors import BoundError, SdkError, ShapeError
from .feeds import check_dim_conditions, check_feeds
from .frontend.onnx import ir_dims
from .ir import sym
from . import pipeline
from .targets import load_target
from .transform.sparsify import sparse_options
from .transform.weights_fp16 import with_weights_precision
from .tune.database import TuningDatabase

DIM_MAX = 2**31 - 1  # dims are int32 in the C API's bounds checks and index arithmetic


def check_dims(dims) -> Dict[str, int]:
    """Validate ``dims`` ({name: upper bound}): names are strings, bounds are ints in [1, 2**31-1]."""
    if dims is None:
        return {}
    if not isinstance(dims, dict):
        raise BoundError(f"dims must be a dict {{name: upper bound}}, got {type(dims).__name__}")
    out = {}
    for k, v in dims.items():
        if not isinstance(k, str) or not k:
            raise BoundError(f"dim name {k!r} must be a non-empty string")
        if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, np.integer)):
            raise BoundError(f"dim '{k}': bound {v!r} must be a positive integer")
        if not 1 <= int(v) <= DIM_MAX:
            raise BoundError(f"dim '{k}': bound {int(v)} is outside 1..{DIM_MAX}")
        out[k] = int(v)
    return out


def check_arena(plan, tgt, max_arena: Optional[int] = None):
    """An arena at the bounds over the limit (``max_arena``, else the profile's ``[memory] max_arena_bytes``)
    is an error with the number, before any code is generated."""
    limit = max_arena if max_arena is not None else tgt.data.get("memory", {}).get("max_arena_bytes")
    if limit is not None and plan.arena_bytes > limit:
        raise BoundError(f"the arena at the bounds {plan.bounds} needs {plan.arena_bytes} B "
                         f"({plan.arena_bytes / 2**30:.1f} GiB), over the limit of {limit} B for target "
                         f"'{tgt.name}': lower the --dim bounds or raise --max-arena")


ENGINES = ("llvm", "c")


def default_engine(target) -> str:
    """How ``Bundle.run`` runs a target's bundles by default: in process (LLVM JIT) where the backend has an
    in-process engine (host); ``SDK_ENGINE=c`` in the environment keeps them on the process path (e.g. to time
    the test suite)."""
    if backend_of(target).jit is None:
        return "c"
    engine = os.environ.get("SDK_ENGINE", "llvm")
    if engine not in ENGINES:
        raise SdkError(f"SDK_ENGINE={engine}: expected one of {', '.join(ENGINES)}")
    return engine


class Bundle:
    """A compiled model: generated sources, memory plan, and how to run them."""

    def __init__(self, name, func, program, plan, sources, target, bounds, file_order_plan=None, budget=None,
                 quant=None, precision="fp32"):
        self.name, self.func, self.program, self.plan = name, func, program, plan
        self.sources, self.target, self.bounds = sources, target, bounds
        self.file_order_plan = file_order_plan
        self.budget = dict(budget or {})  # MCU budget overrides ({"ram_bytes": ..., "flash_bytes": ...})
        self.quant = quant                # int8: {ONNX tensor name: [scale, zero point]}; None when not quantized
        self.precision = precision        # "fp32" | "fp16" | "bf16" (CUDA matrix products)
        self._input_types = None
        self._dim_conditions = None
        self._empty = None  # symbols that may be 0 (check_inputs)
        self.path: Optional[Path] = None
        self._tmp = None
        self._jit = None
        self.engine = default_engine(target)
        self.generation = None  # DecoderRoles when compiled with generate=True (sdk/generate/)
        self.training = None    # sdk.train.step.TrainStep when compiled with sdk.train.compile_train
        self.tokenizer = None   # sdk.text.WordPiece when compiled with vocab= (written into the folder, C and JS)
        self.encoder = None     # the encoder Bundle of a text-to-text bundle (compile(..., encoder=), generate/text.py)

    def save(self, out, force: bool = False) -> Path:
        """Write the bundle folder. ``out`` must be missing, empty or an earlier sdk bundle (replaced
        completely); ``force=True`` writes into any folder."""
        self.path = write_bundle(Path(out), self, force=force)
        return self.path

    def _ensure_saved(self) -> Path:
        if self.path is None:
            self._tmp = tempfile.TemporaryDirectory(prefix=f"sdk_{self.name}_")
            self.save(self._tmp.name)
        return self.path

    def input_types(self):
        """[(dtype, shape)] of the inputs, symbolic dims as text."""
        if self._input_types is None:  # cached: every run checks its feeds
            self._input_types = [(v.dtype, [int(d) if sym.is_static(d) else sym.to_str(d) for d in v.shape])
                                 for v in self.func.inputs]
        return self._input_types

    def check_inputs(self, inputs: Dict[str, np.ndarray]):
        if self._empty is None:
            self._empty = set(self.program.func.empty_dims())
        check_feeds(self.func.input_names, self.input_types(), inputs, self.bounds, empty=self._empty)
        if self._dim_conditions is None:
            self._dim_conditions = self.program.func.dim_conditions()
        if self._dim_conditions:
            check_dim_conditions(self._dim_conditions, self.func, inputs)

    def _check_runnable(self):
        if self.generation is not None and self.generation.capacity:
            raise SdkError(f"bundle '{self.name}': its step appends the key/value cache in place (caches with room for "
                           f"{self.generation.capacity} rows per block: sdk/transform/kv_cache.py), for its generation "
                           "loop: use generate(), or compile the step without generate=True to run it by itself")

    def run(self, inputs: Dict[str, np.ndarray], **kw) -> Dict[str, np.ndarray]:
        self._check_runnable()
        if self._jit is not None and not kw.get("runner") and (kw.get("engine") or self.engine) == "llvm":
            # the fast path of a compiled JIT model: no info dict; feeds checked for shapes not seen before
            return self._jit.run(inputs, info=False, check=self.check_inputs,
                                 **{k: v for k, v in kw.items() if k != "engine"})
        return self.run_with_info(inputs, **kw)[0]

    def run_with_info(self, inputs, runner=None, engine=None, **kw):
        """Run on this machine; returns (outputs, info). ``engine="llvm"`` (the default for host targets):
        JIT-compiled in this process on the first call; ``engine="c"``: build and start the bundle's demo
        program (every target; ``runner`` picks another runner of that kind)."""
        self._check_runnable()
        self.check_inputs(inputs)
        engine = engine or self.engine
        if engine not in ENGINES:
            raise SdkError(f"engine '{engine}': expected one of {', '.join(ENGINES)}")
        if engine == "llvm" and runner is None:
            if backend_of(self.target).jit is None:
                raise SdkError(f"engine 'llvm' runs host bundles; target '{self.target.name}' runs with engine='c'")
            return self.jit().run(inputs, **kw)
        runner = runner or backend_of(self.target).runner()
        return runner.run(self._ensure_saved(), inputs, **kw)

    def jit(self):
        """The in-process JIT-compiled model (the backend's ``jit``: ``sdk/backends/host/inprocess.py``), made on
        first use."""
        if self._jit is None:
            make = backend_of(self.target).jit
            if make is None:
                raise SdkError(f"target '{self.target.name}' has no in-process engine; run it with engine='c'")
            self._jit = make(self)
        return self._jit

    def generate(self, prompt_ids, max_len: Optional[int] = None, runner=None, with_info: bool = False,
                 context: Optional[Dict[str, np.ndarray]] = None, repeat: int = 1, **params):
        """Generate tokens with the bundle's ``<name>_generate`` (compiled with ``generate=True``), built and run on
        this machine through a runner of its target (``runner``: another one of that kind).

        ``prompt_ids``: one prompt (a list of ids) or a batch of equally long prompts ([batch, prompt_len]).
        ``max_len``: tokens per row, prompt included (default: the compiled bound). ``params``: the fields of
        ``sdk.generate.GenerateParams`` (``max_new_tokens``, ``do_sample``, ``temperature``, ``top_k``, ``top_p``,
        ``seed``, ``stop_tokens``, ``num_beams``, ``length_penalty``). Returns the tokens of each row (prompt
        included; a single prompt: one list) or, with ``num_beams > 1`` (one prompt), every beam's tokens best first;
        with ``with_info`` also the demo's timing line values. ``context``: {input name: array} of the step's
        context inputs (an encoder-decoder's encoder states: one row per prompt; one row for beam search).
        ``repeat``: generate that many times in the demo's process; the info's times are then medians (warm), with
        ``cold_first_token_ms``/``cold_total_ms`` the first run's (C demo programs)."""
        from .frontend.onnx import _sym_name
        from .generate import GenerateParams
        from .generate.runner import run_generate
        if self.generation is None:
            raise SdkError(f"bundle '{self.name}' was not compiled for generation (sdk.compile(..., generate=True))")
        if isinstance(prompt_ids, str) or (isinstance(prompt_ids, (list, tuple)) and prompt_ids
                                           and all(isinstance(t, str) for t in prompt_ids)):
            return self._generate_text(prompt_ids, max_len, runner, with_info, context, params)
        p = GenerateParams(**params)
        p.check()
        ids = np.asarray(prompt_ids, dtype=np.int64)
        single = ids.ndim == 1
        ids = ids.reshape(1, -1) if single else ids
        bound = self.generation_max_len()
        max_len = bound if max_len is None else int(max_len)
        if p.num_beams > 1 and (ids.shape[0] != 1 or p.num_beams > self.bounds[_sym_name(self.generation.batch)]):
            raise BoundError(f"beam search takes one prompt and num_beams <= the batch bound "
                             f"{self.bounds[_sym_name(self.generation.batch)]}, got {ids.shape[0]} prompts and "
                             f"num_beams={p.num_beams}")
        if ids.ndim != 2 or not 1 <= ids.shape[1] < max_len or max_len > bound:
            raise BoundError(f"prompt {list(ids.shape)} and max_len {max_len}: need 1 <= prompt length < max_len "
                             f"<= {bound} (the compiled max_len)")
        runner = runner or backend_of(self.target).runner()
        names = [self.func.input_names[k] for k in self.generation.context]
        missing = [n for n in names if n not in (context or {})]
        if missing or set(context or {}) - set(names):
            raise SdkError(f"context: the step's context inputs are {names or 'none'}, got {sorted(context or {})}")
        rows_n = p.num_beams if p.num_beams > 1 else ids.shape[0]
        ctx = []
        for n in names:
            c = np.asarray(context[n])
            if c.shape[0] != rows_n and c.shape[0] == 1:
                c = np.repeat(c, rows_n, 0)  # one encoder row for all beams
            if c.shape[0] != rows_n:
                raise ShapeError(f"context '{n}': {c.shape[0]} rows for {rows_n} prompts/beams")
            ctx.append(c)
        rows, info = run_generate(runner, self._ensure_saved(), ids, max_len, p, context=ctx, repeat=repeat)
        rows = rows[0] if single and p.num_beams == 1 else rows
        return (rows, info) if with_info else rows

    def _generate_text(self, texts, max_len, runner, with_info, context, params):
        """``generate(text)``: the bundle's ``<name>_ask`` (``sdk/generate/text.py``): one C call per text."""
        from .generate import GenerateParams
        from .generate.text import run_text
        if self.encoder is None:
            raise SdkError(f"bundle '{self.name}': generate(text) needs the text path (sdk.compile(..., generate=True, "
                           "vocab=..., encoder=...)); without it pass token ids")
        if context:
            raise SdkError("generate(text): the context is the encoder's output; pass no context")
        max_len = self.generation_max_len() if max_len is None else int(max_len)
        p = GenerateParams(**{"max_new_tokens": max_len - 1, **params})
        p.check()
        single = isinstance(texts, str)
        got, info = run_text(runner or backend_of(self.target).runner(), self._ensure_saved(),
                             [texts] if single else list(texts), max_len, p)
        got = got[0] if single else got
        return (got, info) if with_info else got

    def generation_max_len(self) -> int:
        """Tokens per row the bundle's ``<name>_generate`` was compiled for (``max_len``)."""
        from .frontend.onnx import _sym_name
        return self.bounds[_sym_name(self.generation.past)] + 1

    def workspace_size(self, dims: Dict[str, int]) -> int:
        from .memory.plan import workspace_at
        return workspace_at(self.plan, dims)


def compile(model, target: str = "host", dims: Optional[Dict[str, int]] = None, name: str = "model",
            reorder: bool = True, budget: Optional[Dict[str, int]] = None, quantize: Optional[str] = None,
            calibration: Optional[Dict[str, np.ndarray]] = None, precision: str = "fp32",
            progress=None, tuning_db=None, schedule_default: Optional[str] = None,
            max_arena: Optional[int] = None, engine: Optional[str] = None, empty_dims=(),
            generate: bool = False, sparse: Optional[str] = None, codegen: str = "c", vocab=None,
            encoder=None, weights: Optional[str] = None) -> Bundle:
    """Compile an ONNX model (path, bytes or ModelProto) into a bundle for ``target``.

    ``dims`` gives the upper bound of each symbolic dim (``{"seq": 128}``).
    ``budget`` overrides the MCU profile's budget (``{"ram_bytes": 65536, "flash_bytes": ...}``).
    ``quantize="int8"`` with ``calibration`` ({input name: float array}) quantizes after import
    (``sdk/transform/quantize.py``).
    ``precision="fp16"|"bf16"`` (CUDA targets): matrix products on tensor cores, the rest in fp32
    (``sdk/transform/mixed_precision.py``).
    ``weights="fp16"`` (CPU targets; default: the profile's ``[weights] precision``, fp32): the weights of
    MatMul/Gemm rounded to float16 values, and those of the matrix-vector products (<= 8 rows: decoding steps)
    stored as float16 and converted in the kernel, float32 sums (``sdk/transform/weights_fp16.py``).
    ``tuning_db`` (path or ``sdk.tune.TuningDatabase``): schedules found by ``sdk tune`` for the GEMMs and
    convolutions; the others (and every one without a database) get the profile's ``[tune] default``:
    the default schedule, or the runtime library kernels (``schedule_default`` overrides: "heuristic" |
    "library").
    ``max_arena`` (bytes): fail when the arena at the bounds is larger (default: the profile's
    ``[memory] max_arena_bytes``).
    ``engine`` ("llvm" | "c"): how ``Bundle.run`` runs it on this machine (default: "llvm", in process, for
    host targets; "c": the bundle's demo program, as every other target).
    ``empty_dims``: symbols that may be 0 at run time; every other input dim is at least 1. The past length of
    float inputs named like "past" (a key/value cache: ``generation.roles.empty_cache_dims``) is added by itself.
    ``generate=True``: the model is a decoder step with a key/value cache (``sdk/generate/roles.py``); the bundle
    gets ``<name>_generate`` (greedy or top-k/top-p sampling, stop tokens) and ``Bundle.generate``. ``dims`` then
    needs ``max_len`` (tokens per row, prompt included), which bounds the past length (``docs/generation.md``).
    ``sparse`` ("off" | "auto" | "csr" | "bsr" | "ell" | "hyb" | "nm"): constant weights that are mostly zeros stored and
    multiplied in a sparse format (docs/sparse.md); default: the profile's ``[lower] sparse``, else "auto".
    ``codegen`` ("c" | "llvm"): how the bundle's steps are compiled: C sources (default), or an LLVM object for
    the profile's ``[llvm]`` target next to the same header (``sdk/codegen/llvm_object.py``; ARM64, Cortex-M,
    wasm32, host).
    ``vocab`` (a vocab.txt or a Hugging Face tokenizer.json with a WordPiece model, or an ``sdk.text.WordPiece``):
    ``Bundle.tokenizer``, and the folder gets the tokenizer in C (``<name>_vocab.c``, ``sdk_text.c``, the
    ``<name>_tokenize`` demo) and JS (``wordpiece.mjs``, ``<name>_vocab.txt``; wasm: ``Model.tokenizer()``);
    ``docs/text.md``.
    ``encoder`` (with ``generate=True`` and ``vocab``; an ONNX path/model whose one int64 input ``[batch, src]`` gives
    the decoder step's one context input ``[batch, src, hidden]``): compiled into the same folder as ``<name>_enc``,
    with ``<name>_generate_text`` (``<name>_text.h``: text in, tokenizer, encoder, the generation loop, text out, one
    C call), its ``<name>_ask`` demo and ``Bundle.generate(text)`` (``sdk/generate/text.py``)."""
    if codegen not in ("c", "llvm"):
        raise SdkError(f"codegen '{codegen}': expected c or llvm")
    if engine is not None and engine not in ENGINES:
        raise SdkError(f"engine '{engine}': expected one of {', '.join(ENGINES)}")
    dims = check_dims(dims)
    if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
        raise SdkError(f"bundle name '{name}' must be a C identifier")
    tgt = load_target(target)
    if precision not in ("fp32", "fp16", "bf16"):
        raise SdkError(f"precision '{precision}': expected fp32, fp16 or bf16")
    if precision not in backend_of(tgt).precisions:
        raise SdkError(f"precision '{precision}' needs a CUDA target (e.g. --target cuda-sm90); '{tgt.name}' is fp32")
    if weights is not None:
        tgt = with_weights_precision(tgt, weights)
        if weights == "fp16" and quantize is not None:
            raise SdkError("--weights fp16 and --quantize int8 are two weight formats: pick one")
    if quantize is not None:
        if quantize != "int8":
            raise SdkError(f"quantize='{quantize}': only 'int8' is supported")
        if not calibration:
            raise SdkError("quantize='int8' needs calibration data ({input name: array}, --calibration data.npz)")
    db = tuning_db
    if db is not None and not isinstance(db, TuningDatabase):
        if not Path(db).exists():
            raise SdkError(f"tuning database '{db}' not found (make one with: sdk tune MODEL --db {db})")
        db = TuningDatabase(db)
    sparse_opts = sparse_options(tgt, sparse, db)  # auto: sparse formats that `sdk tune` recorded win
    roles, kv_cache = None, None
    from .frontend.contrib import expand_contrib_ops
    from .frontend.onnx import load_model
    model = load_model(model)
    if db is not None:  # the whole-model stage's pick among the complete builds (sdk/tune/whole_model.py)
        from .tune import whole_model
        tgt, db, _ = whole_model.applied(model, dims, tgt, db)
    model = expand_contrib_ops(model)  # roles / cache dims read after contrib ops pin dims (a head size)
    if generate:
        from .generate import prepare
        roles, dims = prepare(model, dims)
        from .generate.gather import with_beam_parent
        model, roles = with_beam_parent(model, roles)  # beam order by the step's own cache copy
        empty_dims = tuple(empty_dims) + (roles.past,)  # the cache starts empty
        if (roles.parent is not None and tgt.backend != "cuda" and codegen == "c" and precision == "fp32"
                and quantize is None):  # the cache appended in place (sdk/transform/kv_cache.py): C loops
            kv_cache = {"cap": dims[roles.past] + 1}
    else:  # a key/value cache may start empty: its past length may be 0 without being declared
        from .generate.roles import empty_cache_dims
        empty_dims = tuple(empty_dims) + tuple(d for d in empty_cache_dims(model) if d not in empty_dims)
    model, bounds = ir_dims(model, dims)  # loaded once; bounds keyed by the IR's symbols ('batch.size' -> 'batch_size')
    c, quant = pipeline.run(model, tgt, bounds, name, quantize=quantize, calibration=calibration, db=db,
                            schedule_default=schedule_default, reorder=reorder, precision=precision,
                            check=lambda plan: check_arena(plan, tgt, max_arena), say=progress,
                            empty_dims=tuple(empty_dims), sparse=sparse_opts, codegen_kind=codegen,
                            kv_cache=kv_cache)
    f, prog, plan, sources, file_plan = c.func, c.program, c.plan, c.sources, c.file_order_plan
    bundle = Bundle(name, f, prog, plan, sources, tgt, bounds, file_plan, budget=budget, quant=quant,
                    precision=precision)
    if engine is not None:
        bundle.engine = engine
    if vocab is not None:
        from .text import WordPiece
        if not isinstance(vocab, WordPiece) and not Path(vocab).is_file():
            raise SdkError(f"vocab '{vocab}': no such file (a vocab.txt or a tokenizer.json with a WordPiece model)")
        bundle.tokenizer = vocab if isinstance(vocab, WordPiece) else WordPiece.from_file(vocab)
    if roles is not None:
        from .generate import sources
        from .transform.kv_cache import applied
        if kv_cache is not None and applied(f) == len(roles.cache):  # the loop passes one buffer as past and present
            roles = dataclasses.replace(roles, capacity=kv_cache["cap"])
        bundle.generation = roles
        bundle.sources.update(sources(bundle))
    if encoder is not None:
        from .generate.text import attach_encoder
        attach_encoder(bundle, encoder, dims, lambda m, d, n: compile(m, target, dims=d, name=n, budget=budget,
                                                                      tuning_db=db, codegen=codegen))
    return bundle
