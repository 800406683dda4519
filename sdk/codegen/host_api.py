"""The model's host API, shared by every renderer (C, CUDA): dims binding, the memory plan as C expressions of the
dims (offsets, workspace size), output checks and the I/O tables. Plain host C: each renderer prints these pieces
into its own source and adds its own ``<name>_run``."""
from __future__ import annotations

from typing import Dict, List, Tuple

from ..ir import sym
from ..ir.dtypes import DTYPE_ENUM
from ..ir.runtime_syms import planning_size
from ..memory.plan import MemoryPlan, align_slack, nbytes
from . import c as _c  # sym_c; attributes read at call time (c imports this module)


def dims_struct_h(N: str, symbols: List[str]) -> str:
    fields = "".join(f"  int64_t {s};\n" for s in symbols) or "  int64_t unused_;\n"
    return f"/* Actual values of the symbolic dims. */\ntypedef struct {{\n{fields}}} {N}_dims;\n"


def api_h(N: str, prog, plan: MemoryPlan, arena_doc: str = "workspace at the upper bounds",
          extra_bytes: int = 0) -> str:
    """Header declarations common to every renderer: dims struct, counts, I/O info tables, bind_dims and
    workspace_size. ``extra_bytes``: a renderer's scratch after the plan (``host_api_c``'s ``extra``), at the
    bounds."""
    return f"""{dims_struct_h(N, prog.func.symbols())}
#define {N.upper()}_NUM_INPUTS {len(prog.inputs)}
#define {N.upper()}_NUM_OUTPUTS {len(prog.outputs)}
#define {N.upper()}_ARENA_BYTES {plan.arena_bytes + (extra_bytes and extra_bytes + 256)}u /* {arena_doc} */

typedef struct {{
  const char *name;
  int32_t dtype;
  int32_t rank;
  int64_t dims[SDK_MAX_RANK]; /* -1 where symbolic */
  int64_t max_dims[SDK_MAX_RANK]; /* at the upper bounds */
}} {N}_io_info;

extern const {N}_io_info {N}_inputs_info[{max(len(prog.inputs), 1)}];
extern const {N}_io_info {N}_outputs_info[{max(len(prog.outputs), 1)}];

/* Bind the symbolic dims from the inputs' actual dims (checks ranks, dtypes, bounds). Host memory only. */
sdk_status {N}_bind_dims(const sdk_tensor *inputs, {N}_dims *d);

/* Exact arena bytes for these dims; (size_t)-1 if a dim is outside its bounds. */
size_t {N}_workspace_size(const {N}_dims *d);
"""


def io_tables_c(N: str, prog, bounds: Dict[str, int]) -> str:
    f = prog.func

    def rows(bufs, names):
        out = []
        for b, nm in zip(bufs, names):
            dims = [str(d) if not isinstance(d, sym.Sym) else "-1" for d in b.shape]
            mx = [str(sym.upper_bound(planning_size(d, f), bounds)) for d in b.shape]
            out.append(f'  {{"{_esc(nm)}", {DTYPE_ENUM[b.dtype]}, {len(b.shape)}, {{{", ".join(dims) or "0"}}}, '
                       f'{{{", ".join(mx) or "0"}}}}}')
        return ",\n".join(out) or '  {"", 0, 0, {0}, {0}}'
    return (f"const {N}_io_info {N}_inputs_info[{max(len(prog.inputs), 1)}] = {{\n"
            f"{rows(prog.inputs, f.input_names)}\n}};\n"
            f"const {N}_io_info {N}_outputs_info[{max(len(prog.outputs), 1)}] = {{\n"
            f"{rows(prog.outputs, f.output_names)}\n}};\n")


def _c_comment(text: str) -> str:
    return text.replace("*/", "* /")


def _esc(s):
    return s.replace("\\", "\\\\").replace('"', '\\"')


def slot_ref(slot) -> str:
    """The arena slot's index as a name: ``off[SLOT_relu_3]`` (the enum ``slots_c`` prints) rather than off[7]."""
    return f"SLOT_{slot.buffers[0].name}" if slot.buffers else str(slot.index)


def buffer_storage(prog, plan: MemoryPlan, weight) -> dict:
    """Where each buffer of ``prog`` lives while ``<name>_run`` runs, for every renderer: {id(buffer): (buffer, address,
    writable)} with ``inputs[k].data``, ``outputs[k].data``, ``weight(b)`` for a constant and ``(A + off[slot])`` (the
    arena) for a planned temp. The renderers add their pointer casts."""
    where = {}
    for k, b in enumerate(prog.inputs):
        where[id(b)] = (b, f"inputs[{k}].data", False)
    for k, b in enumerate(prog.outputs):
        where[id(b)] = (b, f"outputs[{k}].data", True)
    for b, _ in prog.consts:
        where[id(b)] = (b, weight(b), False)
    for b in prog.temps:
        slot = plan.slot_of(b)
        if slot is not None:
            where[id(b)] = (b, f"(A + off[{slot_ref(slot)}])", True)
    return where


def slots_c(plan: MemoryPlan) -> str:
    """The enum naming each arena slot after the first tensor it holds, with the others in a comment."""
    rows = [f"  {slot_ref(s)} = {s.index},{' /* also ' + ', '.join(b.name for b in s.buffers[1:]) + ' */' if len(s.buffers) > 1 else ''}"
            for s in sorted(plan.slots, key=lambda s: s.index) if s.buffers]
    return "/* Arena slots (offsets computed by *_offsets for the actual dims). */\nenum {\n" + "\n".join(rows) + "\n};\n" \
        if rows else ""


def n_offsets(plan: MemoryPlan) -> int:
    return max(len(plan.slots), 1)


def host_api_c(N: str, prog, plan: MemoryPlan, bounds: Dict[str, int], extra: str = None) -> str:
    """``<name>_offsets`` (static), ``<name>_bind_dims`` and ``<name>_workspace_size``. ``extra``: a C expression
    of the dims (``d_<sym>``) of scratch bytes the renderer's run places after the plan's end, rounded up to 256
    bytes (``<name>_scratch_offset``)."""
    f = prog.func
    symbols = f.symbols()
    # ---- memory plan: each slot on top of every time-overlapping slot placed below it
    plan_lines = [f"  int64_t d_{s} = d->{s};" for s in symbols] + [f"  (void)d_{s};" for s in symbols]
    plan_lines.append("  size_t end = 0;")
    for s in sorted(plan.slots, key=lambda s: s.offset_bound):
        r = slot_ref(s)
        plan_lines.append(f"  off[{r}] = 0;")
        for p in s.below:
            plan_lines.append(f"  off[{r}] = sdk_zmax(off[{r}], off[{slot_ref(p)}] + (size_t)({_c.sym_c(p.size)}));")
        plan_lines.append(f"  end = sdk_zmax(end, off[{r}] + (size_t)({_c.sym_c(s.size)}));")
    # ---- dims binding: symbols from the dims that are a symbol alone, then the derived dims checked
    empty = set(f.empty_dims())  # may be 0: bound with -1 as "not yet bound"
    bind = [f"  int64_t s_{s} = {-1 if s in empty else 0};" for s in symbols] + ["  sdk_status st = SDK_OK;", "  (void)st;"]
    deferred = []
    for k, b in enumerate(prog.inputs):
        bind.append(f"  st = sdk_check_input(&inputs[{k}], {DTYPE_ENUM[b.dtype]}, {len(b.shape)}); if (st) return st;")
        for a, d in enumerate(b.shape):
            s = sym.bare_var(d)
            if s is not None:
                fn = "sdk_bind_dim_or_empty" if s in empty else "sdk_bind_dim"
                bind.append(f"  st = {fn}(inputs[{k}].dims[{a}], &s_{s}, {bounds[s]}); if (st) return st;")
            elif isinstance(d, sym.Sym):
                deferred.append((k, a, d))
            else:
                bind.append(f"  st = sdk_expect_dim(inputs[{k}].dims[{a}], {d}); if (st) return st;")
    for k, a, d in deferred:
        bind.append(f"  st = sdk_expect_dim(inputs[{k}].dims[{a}], {sym.to_c(d, lambda n: f's_{n}')}); if (st) return st;")
    for d, name in f.dim_conditions():  # dims of the model's tensors that too small an input makes negative
        bind.append(f"  if (({sym.to_c(d, lambda n: f's_{n}')}) < 0) return SDK_ERR_DIM_OUT_OF_BOUNDS; /* {_c_comment(name)} */")
    bind += [f"  d->{s} = s_{s};" for s in symbols]
    bound_checks = "".join(f"  if (d->{s} < {0 if s in empty else 1} || d->{s} > {bounds[s]}) return (size_t)-1;\n"
                           for s in symbols)
    nl = "\n"
    tail = f"  return {N}_offsets(d, off);"
    if align_slack(plan):  # the run aligns the caller's arena up to the plan's alignment (sdk/memory/plan.py)
        tail = f"  size_t end = {N}_offsets(d, off);\n  return end ? end + {align_slack(plan)} : 0;"
    scratch = ""
    if extra:
        dims = "".join(f"  const int64_t d_{s} = d->{s};\n  (void)d_{s};\n" for s in symbols)
        scratch = (f"\n/* Scratch after the plan's end (a 256-byte boundary): {extra}. */\n"
                   f"static size_t {N}_scratch_bytes(const {N}_dims *d) {{\n{dims}  return {extra};\n}}\n")
        tail = (f"  size_t end = ({N}_offsets(d, off) + 255) & ~(size_t)255;\n"
                f"  return end + {N}_scratch_bytes(d){f' + {align_slack(plan)}' if align_slack(plan) else ''};")
    return f"""{slots_c(plan)}
static size_t {N}_offsets(const {N}_dims *d, size_t *off) {{
{nl.join(plan_lines)}
  return end;
}}
{scratch}
sdk_status {N}_bind_dims(const sdk_tensor *inputs, {N}_dims *d) {{
  if (inputs == NULL || d == NULL) return SDK_ERR_NULL_ARG;
{nl.join(bind)}
  return SDK_OK;
}}

size_t {N}_workspace_size(const {N}_dims *d) {{
  size_t off[{n_offsets(plan)}];
  if (d == NULL) return (size_t)-1;
{bound_checks}{tail}
}}
"""


def output_checks_c(prog, rt_symbols=()) -> Tuple[List[str], List[str]]:
    """Lines of ``run`` that check the output views and fill in their dtype/rank/dims: (before the steps, after
    them: dims that depend on run-time symbols)."""
    f = prog.func
    outs, late = [], []
    for k, b in enumerate(prog.outputs):
        size = _c.sym_c(planning_size(prog.min_bytes.get(id(b), nbytes(b)), f))  # run-time dims at their bounds
        outs.append(f"  if (outputs[{k}].data == NULL) return SDK_ERR_NULL_ARG;")
        if size != "0":
            outs.append(f"  if (outputs[{k}].size < (size_t)({size})) return SDK_ERR_BAD_ARG;")
        outs.append(f"  outputs[{k}].dtype = {DTYPE_ENUM[b.dtype]}; outputs[{k}].rank = {len(b.shape)};")
        for a, d in enumerate(b.shape):
            (late if sym.free_vars(d) & set(rt_symbols) else outs).append(f"  outputs[{k}].dims[{a}] = {_c.sym_c(d)};")
    return outs, late
