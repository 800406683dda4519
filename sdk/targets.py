"""Target profiles: plain data in ``targets/*.toml``, checked against a typed spec.

``SPEC`` declares every key a profile may set, section by section, with its type; a profile with an unknown key or a
value of the wrong type fails to load with one line naming the file and the key (a misspelt ``[codegen]
loop_pragma`` used to be ignored silently). Adding a key means declaring it here and reading it where it acts."""
from __future__ import annotations

import tomllib
from dataclasses import dataclass, field

from .errors import SdkError
from .resources import TARGETS_DIR

_num = (int, float)
# section -> {key: type(s)}; top-level scalars under "".
SPEC = {
    "": {"name": str, "description": str, "backend": str, "arch": str,          # backend: sdk.backends.BACKENDS
         "base": str},                      # another profile this one starts from: its sections, key by key overridden
    "toolchain": {"cc": str, "cflags": list, "ldflags": list, "ldlibs": list, "size": str},
    "codegen": {"loop_pragma": str, "outer_pragma": str, "parallel_min_work": int, "kernel_units": bool,  # c.generate options
                "reduce_pragma": str},
    "lower": {"depthwise_kernel": (bool, str), "fuse_epilogues": bool,          # sdk.transform.lower_to_tir
              "row_kernels": bool,                                              # softmax/layernorm library calls
              "softmax_kernel": bool,                                           # softmax library call only
              "layernorm_kernel": bool,                                         # layer norm library call only
              "conv_grad_weight_kernel": bool,                  # sdk.ConvGradWeight as a library call (sdk/ops/grad.py)
              "concat_in_place": bool,                          # sdk/transform/concat_in_place.py
              "epilogue_gelu": bool,                            # Gelu in GEMM/conv epilogues (host C, CUDA kernels)
              "partition_selects": bool,                        # sdk/tir/partition.py (default on)
              "split_divmod": bool,                             # sdk/tir/split_divmod.py (default on)
              "fused_attention": bool,                          # sdk.transform.attention (fp16/bf16 builds)
              "matmul_views": bool,                             # sdk/transform/matmul_views.py
              "fp16_nhwc_convs": bool,                          # sdk/backends/cuda/nhwc.py (fp16 CUDA builds)
              "sparse": str},                                                   # sdk.transform.sparsify mode
    "memory": {"flash_bytes": int, "flash_origin": int, "ram_bytes": int, "ram_origin": int, "stack_bytes": int,
               "max_arena_bytes": int, "align": int,
               "order": str,                                    # sdk.pipeline.plan: "smaller" (default) | "other"
               "cache_bytes": int},                             # sdk.memory.plan: placement by modelled misses
    "budget": {"flash_bytes": int, "ram_bytes": int},                           # MCU budget (sdk/backends/mcu)
    "cpu": {"arch": str, "core": str, "clock_hz": int, "dotprod": bool, "dsp": bool, "fp16": bool, "fpu": str,
            "helium": bool, "neon": bool, "threads": int,                       # compile flags, kernels, threads
            "threading": str},                              # "openmp" | "pool" (sdk_pool.c): sdk.backends.project
    "board": {"baud": int, "frame_timeout_ms": int, "machine": str, "qemu": str, "qemu_args": list, "uart": str,
              "uart_base": int},                                                # sdk/backends/mcu/runner.py
    "emulator": {"cpu": str, "qemu": str, "sysroot": str},                      # sdk/backends/phone/runner.py
    "cmake": {"android_abi": str, "android_platform": str},                     # phone CMakeLists.txt
    "apple": {"cflags": list, "deployment_target": str},                        # Xcode settings, documented in the bundle
    "simd": {"relaxed_simd": bool, "simd128": bool},                            # wasm flags; kernel variants
    "weights": {"storage": str,                                                 # sdk.codegen.weights.embed_blob
                "precision": str},                                  # fp32 | fp16: sdk.transform.weights_fp16
    "tune": {"default": str, "vector_lanes": (int, str), "vector_registers": (int, str),
             "tie_margin": (float, int),                                   # sdk.tune.apply.pick_record,
             "kernel_choice": bool, "kernel_choice_share": (float, int),  # sdk.tune.kernel_choice
             "winograd_cache_bytes": list,                                 # sdk.tune.kernel_choice.candidates
             "spatial_rows_gain": (float, int),                            # sdk.tune.space._spatial_rows
             "pointwise_ij": bool,                                         # sdk.tune.space.GemmSpace.default
             "conv_pool": bool,                                            # sdk.tune.conv_pool (apply_schedules)
             "dw_project_choice": bool,                                    # sdk.transform.fuse_dw_project
             "pw_dw_choice": bool, "pw_dw_choice_min_bytes": int,          # sdk.transform.fuse_dw_project.fuse_pw_dw
             "confirm_neighbours": int,                                    # sdk.tune.search.Search.confirm
             "bundle_check": bool, "bundle_check_share": (float, int),     # sdk.tune.tuner.check_schedules
             "whole_model": bool, "whole_model_share": (float, int),       # sdk.tune.tuner.measure_wholes,
             "whole_model_margin": (float, int),                           # sdk.tune.whole_model.decide
             "whole_model_knobs": list},                                   # sdk.tune.whole_model.knobs_of
    "winograd": {"enabled": bool, "min_channels": int, "min_tiles": int,     # sdk.tune.winograd.choose
                 "tile4_min_plane": int, "min_plane": int, "cache_bytes": int, "max_weight_bytes": int,
                 "chain_layouts": bool, "streamed_cache_bytes": int,
                 "streamed_weight_bytes": int},
    "layout": {"nhwc": bool,                                                    # sdk.transform.layout
               "scale_into_weights": (float, int),                              # sdk.transform.channel_scale
               "pointwise_branches_last": bool,                                 # sdk.transform.branch_order
               "split_concat_readers": list,                                    # sdk.transform.concat_readers
               "split_concat_readers_min_bytes": int},
    "fuse": {"dw_project": bool, "band_bytes": int, "slots": int, "min_bytes": int,  # sdk.transform.fuse_dw_project
             "dw_strides": list, "dw_kernels": list, "max_weight_bytes": int,
             "pw_dw": bool, "pw_dw_band_bytes": int, "pw_dw_min_bytes": int, "pw_dw_strides": list,
             "pw_dw_kernels": list, "pw_dw_max_k": int, "pw_dw_silu_min_bytes": int,
             "stem_dw": bool, "stem_dw_band_bytes": int, "stem_dw_min_bytes": int},
    "llvm": {"triple": str, "cpu": str, "features": str, "reloc": str},         # sdk.codegen.llvm_object
}


@dataclass
class Target:
    name: str
    backend: str   # the name of its backend in sdk.backends.BACKENDS
    cc: str
    cflags: list
    ldlibs: list
    data: dict = field(default_factory=dict)  # the checked profile, section by section


def available():
    return sorted(p.stem for p in TARGETS_DIR.glob("*.toml"))


def check_profile(data: dict, where: str) -> dict:
    """Raise SdkError for a key ``SPEC`` does not declare or a value of the wrong type; return ``data``."""
    for key, value in data.items():
        section, entries = (key, value) if isinstance(value, dict) else ("", {key: value})
        if section not in SPEC:
            raise SdkError(f"{where}: unknown section [{section}] (known: {', '.join(s for s in SPEC if s)})")
        for k, v in entries.items():
            spec = SPEC[section]
            label = f"[{section}] {k}" if section else k
            if k not in spec:
                raise SdkError(f"{where}: unknown key {label} (known: {', '.join(spec)})")
            types = spec[k] if isinstance(spec[k], tuple) else (spec[k],)
            if not isinstance(v, types) or (isinstance(v, bool) and bool not in types):
                raise SdkError(f"{where}: {label} = {v!r}: expected {' or '.join(t.__name__ for t in types)}")
    return data


def _profile_data(name: str, seen=()) -> dict:
    """The checked data of ``targets/NAME.toml``; a profile with ``base = "other"`` starts from other's data, its own
    sections overriding key by key (a variant names only what differs: targets/host-openmp.toml)."""
    path = TARGETS_DIR / f"{name}.toml"
    if not path.exists():
        raise SdkError(f"unknown target '{name}' (available: {', '.join(available())})")
    data = check_profile(tomllib.loads(path.read_text()), f"targets/{name}.toml")
    base = data.get("base")
    if base is None:
        return data
    if base == name or base in seen:
        raise SdkError(f"targets/{name}.toml: base = {base!r} makes a cycle")
    merged = {k: (dict(v) if isinstance(v, dict) else v) for k, v in _profile_data(base, seen + (name,)).items()}
    for k, v in data.items():
        merged[k] = {**merged.get(k, {}), **v} if isinstance(v, dict) else v
    return merged


def load_target(name: str) -> Target:
    data = _profile_data(name)
    tc = data.get("toolchain", {})
    return Target(data.get("name", name), data.get("backend", "host"), tc.get("cc", "gcc"),
                  list(tc.get("cflags", [])), list(tc.get("ldlibs", [])), data)
