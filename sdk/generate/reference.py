"""The generation loop of ``<name>_generate`` in Python over onnxruntime: the oracle the tests compare the bundles
with (same roles, the cache starting empty, the same sampler: ``sampler.py``). Needs onnxruntime."""
from __future__ import annotations

from typing import List

import numpy as np

from .roles import find_roles, onnx_io
from .sampler import Beam, GenerateParams, Rng, argmax, beam_order, beam_step, sample

_NP = {"int64": np.int64, "int32": np.int32, "bool": np.bool_, "uint8": np.uint8, "int8": np.int8,
       "float32": np.float32, "float16": np.float16, "float64": np.float64}


def reference_generate(model, prompt: np.ndarray, max_len: int, params: GenerateParams,
                       threads: int = 1, session=None, context=None, beam_step_fn=None) -> List[List[int]]:
    """Tokens of each row (prompt included, up to and including a stop token), as ``<name>_generate`` makes them:
    every token of the prompt goes through the step, then one new token per step, until every row stopped,
    ``max_new_tokens`` new tokens or ``max_len`` tokens. Beam search (``num_beams > 1``, one prompt): the beams,
    best first. ``session``: an onnxruntime session of ``model`` to reuse (timing loops). ``context``: {name: array}
    of the step's context inputs (encoder states...), one row per prompt (per beam: repeated). ``beam_step_fn``:
    another implementation of ``sampler.beam_step`` (bench/generate.py times a numpy one)."""
    import onnx
    import onnxruntime as ort
    m = model if isinstance(model, onnx.ModelProto) else onnx.load(model)
    ins, outs = onnx_io(m)
    r = find_roles(ins, outs)
    sess = session
    if sess is None:
        so = ort.SessionOptions()
        so.intra_op_num_threads = threads
        sess = ort.InferenceSession(m.SerializeToString(), so, providers=["CPUExecutionProvider"])
    prompt = np.asarray(prompt, np.int64)
    batch, plen = prompt.shape
    if not 1 <= plen < max_len:
        raise ValueError(f"prompt length {plen}: must be in 1..max_len-1 ({max_len - 1})")
    beam = params.num_beams > 1
    if beam:  # one prompt on num_beams rows; the first step extends beam 0 only
        if batch != 1:
            raise ValueError("beam search takes one prompt")
        prompt = np.repeat(prompt, params.num_beams, 0)
        batch = params.num_beams
        beams = [Beam(0.0)] + [Beam(-float("inf")) for _ in range(batch - 1)]
    rows = [list(map(int, p)) for p in prompt]
    ctx = {ins[k][0]: np.asarray((context or {})[ins[k][0]]) for k in r.context}
    if beam:
        ctx = {n: np.repeat(c, batch, 0) if c.shape[0] == 1 else c for n, c in ctx.items()}
    # beam search: the prompt, the same on every beam, runs on one row (as <name>_generate does); the first
    # decoding step extends beam 0 alone and its parents (all 0) spread that row's cache to the beams
    srows = 1 if beam else batch
    cache = []
    for k in r.cache:
        shape = [srows if d == r.batch else 0 if a == r.past_axis[r.cache.index(k)] else d
                 for a, d in enumerate(ins[k][2])]
        cache.append(np.zeros(shape, _NP[ins[k][1]]))
    done, rng, n_new = [False] * batch, Rng(params.seed), 0
    t, n = 0, plen if r.prefill else 1  # n tokens of every row at positions t..t+n-1 (the prompt at once: prefill)
    while True:
        srows = 1 if beam and t + n <= plen else batch
        # a stopped row goes on with its last token (its results are not used)
        feeds = {ins[r.ids][0]: np.array([[row[min(t + j, len(row) - 1)] for j in range(n)] for row in rows[:srows]],
                                         _NP[ins[r.ids][1]])}
        if r.mask is not None:
            feeds[ins[r.mask][0]] = np.ones((srows, t + n), _NP[ins[r.mask][1]])
        if r.position is not None:
            feeds[ins[r.position][0]] = np.tile(np.arange(t, t + n), (srows, 1)).astype(_NP[ins[r.position][1]])
        for k, c in zip(r.cache, cache):
            feeds[ins[k][0]] = c
        feeds.update({name: c[:srows] for name, c in ctx.items()})
        res = sess.run(None, feeds)
        cache = [res[j] for j in r.present]
        t, n = t + n, 1  # t: tokens in the cache, the position of the token to choose
        if t < plen:
            continue
        logits = res[r.logits].reshape(srows, -1, res[r.logits].shape[-1])[:, -1]
        live = 0
        if beam:
            if srows < batch:  # beams 1.. have not started (score -inf): their logits are not read
                logits = np.repeat(logits, batch, 0)
            beams, parents, toks = (beam_step_fn or beam_step)(logits, beams, params)
            rows = [rows[j][:t] + [tok if tok >= 0 else rows[j][t - 1]] for j, tok in zip(parents, toks)]
            if list(parents) != list(range(batch)) or srows < batch:  # reorder the cache rows (a copy) if they moved
                cache = [c[parents] for c in cache]
            live = sum(not b.done for b in beams)
            n_new += 1
            if live == 0 or n_new >= params.max_new_tokens or t + 1 >= max_len:
                break
            continue
        for b in range(batch):
            if done[b]:
                continue
            tok = sample(logits[b], params, rng) if params.do_sample else argmax(logits[b])
            rows[b].append(tok)
            if tok in params.stop_tokens:
                done[b] = True
            else:
                live += 1
        n_new += 1
        if live == 0 or n_new >= params.max_new_tokens or t + 1 >= max_len:
            break
    if beam:  # best first, each as long as its hypothesis
        return [rows[i][:plen + beams[i].length] for i in beam_order(beams, params.length_penalty)]
    return rows


def fp16_weights_model(model):
    """The ONNX model that ``sdk build --weights fp16`` computes (``sdk/transform/weights_fp16.py``), for the
    onnxruntime side of tests and benchmarks: the B operand of every ``MatMul``/``Gemm`` that is a float32
    initializer, or a ``Transpose`` of one, reads a copy rounded to float16 values (stored as float32: the math
    stays float32); other readers of that initializer keep its exact values. Written here on the ONNX graph,
    independently of the compiler's pass on its IR."""
    import onnx
    from onnx import helper, numpy_helper
    m = onnx.ModelProto()
    m.CopyFrom(model if isinstance(model, onnx.ModelProto) else onnx.load(model))
    g = m.graph
    inits = {i.name: i for i in g.initializer}
    producer = {o: n for n in g.node for o in n.output}
    made, front = {}, []

    def rounded(name):
        if name not in made:
            arr = numpy_helper.to_array(inits[name])
            made[name] = name + "_fp16"
            g.initializer.append(numpy_helper.from_array(arr.astype(np.float16).astype(np.float32), made[name]))
        return made[name]

    def is_f32(name):
        return name in inits and inits[name].data_type == onnx.TensorProto.FLOAT

    for n in g.node:
        if n.op_type not in ("MatMul", "Gemm") or len(n.input) < 2:
            continue
        b = n.input[1]
        if is_f32(b):
            n.input[1] = rounded(b)
        elif b in producer and producer[b].op_type == "Transpose" and is_f32(producer[b].input[0]):
            t = producer[b]
            front.append(helper.make_node("Transpose", [rounded(t.input[0])], [b + "_fp16"], name=t.name + "_fp16",
                                          perm=list(next((a.ints for a in t.attribute if a.name == "perm"), []))
                                          or None))
            n.input[1] = b + "_fp16"
    nodes = front + list(g.node)
    del g.node[:]
    g.node.extend(nodes)
    used = {i for n in g.node for i in n.input} | {o.name for o in g.output}
    kept = [i for i in g.initializer if i.name in used]  # the originals only the products read
    del g.initializer[:]
    g.initializer.extend(kept)
    return m
