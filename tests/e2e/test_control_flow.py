"""Control flow compiled to C: If (branches as guarded steps), Loop and Scan (a C loop over the body's steps,
carried values in planned slots), compared with onnxruntime on onnx.helper-built models."""
import numpy as np
import pytest
from onnx import TensorProto as T
from onnx import helper as h

import sdk
from sdk.errors import BuildError
from test_runtime_dims import RNG, check, model


def graph(name, nodes, inputs, outputs, inits=()):
    return h.make_graph(nodes, name, [h.make_tensor_value_info(n, t, s) for n, t, s in inputs],
                        [h.make_tensor_value_info(n, t, None) for n, t in outputs], list(inits))


def test_if_both_branches_taken():
    then_g = graph("then", [h.make_node("Mul", ["x", "x"], ["t0"]), h.make_node("Relu", ["t0"], ["t"])], [],
                   [("t", T.FLOAT)])
    else_g = graph("else", [h.make_node("Neg", ["x"], ["e"])], [], [("e", T.FLOAT)])
    m = model([h.make_node("ReduceSum", ["x"], ["s"], keepdims=0), h.make_node("Greater", ["s", "zero"], ["c"]),
               h.make_node("If", ["c"], ["y"], then_branch=then_g, else_branch=else_g),
               h.make_node("Add", ["y", "x"], ["z"])],
              [("x", T.FLOAT, ["n", 4])], [("z", T.FLOAT)], [h.make_tensor("zero", T.FLOAT, [], [0.0])], opset=13)
    b = sdk.compile(m, dims={"n": 5})
    for n, shift in ((3, 1.0), (5, -1.0), (1, 2.0), (2, -3.0)):
        check(b, m, {"x": RNG.standard_normal((n, 4)).astype(np.float32) + shift})


def test_if_branches_of_different_shapes_give_a_runtime_dim():
    then_g = graph("then", [h.make_node("Slice", ["x", "st", "en"], ["t"])], [], [("t", T.FLOAT)],
                   [h.make_tensor("st", T.INT64, [1], [0]), h.make_tensor("en", T.INT64, [1], [2])])
    else_g = graph("else", [h.make_node("Neg", ["x"], ["e"])], [], [("e", T.FLOAT)])
    m = model([h.make_node("If", ["c"], ["y"], then_branch=then_g, else_branch=else_g)],
              [("x", T.FLOAT, [6, 3]), ("c", T.BOOL, [])], [("y", T.FLOAT)])
    b = sdk.compile(m)
    assert "y_dim0" in b.func.runtime_syms
    for c in (True, False):
        check(b, m, {"x": RNG.standard_normal((6, 3)).astype(np.float32), "c": np.array(c)})


def loop_model():
    """acc = 0.9 * acc + x while iter < M and sum(acc) < lim; scan output: acc * iter per iteration."""
    body = graph("body", [h.make_node("Mul", ["acc_in", "k"], ["a1"]), h.make_node("Add", ["a1", "x"], ["acc_out"]),
                          h.make_node("ReduceSum", ["acc_out"], ["s"], keepdims=0),
                          h.make_node("Less", ["s", "lim"], ["c_out"]), h.make_node("Cast", ["i"], ["fi"], to=T.FLOAT),
                          h.make_node("Mul", ["acc_out", "fi"], ["row"])],
                 [("i", T.INT64, []), ("c_in", T.BOOL, []), ("acc_in", T.FLOAT, ["n"])],
                 [("c_out", T.BOOL), ("acc_out", T.FLOAT), ("row", T.FLOAT)], [h.make_tensor("k", T.FLOAT, [], [0.9])])
    return model([h.make_node("Loop", ["M", "c0", "a0"], ["acc", "rows"], body=body)],
                 [("M", T.INT64, []), ("c0", T.BOOL, []), ("a0", T.FLOAT, ["n"]), ("x", T.FLOAT, ["n"]),
                  ("lim", T.FLOAT, [])], [("acc", T.FLOAT), ("rows", T.FLOAT)])


def loop_feeds(n, m, lim):
    return {"M": np.array(m, np.int64), "c0": np.array(True), "a0": RNG.standard_normal(n).astype(np.float32),
            "x": RNG.random(n).astype(np.float32), "lim": np.array(lim, np.float32)}


def test_loop_runtime_trip_count_condition_and_scan_output():
    m = loop_model()
    b = sdk.compile(m, dims={"n": 8, "rows_dim0": 10})
    for n, trips, lim in ((4, 5, 100.0), (8, 10, 6.0), (2, 1, 1.0), (3, 7, -1.0), (5, 3, 1e9)):
        check(b, m, loop_feeds(n, trips, lim))   # stops on M, or on the condition after a few iterations
    got = b.run(loop_feeds(3, 0, 1.0))            # zero iterations: the initial value, no rows
    assert got["rows"].shape[0] == 0
    with pytest.raises(BuildError, match="run-time dim out of compiled bounds"):
        b.run(loop_feeds(3, 11, 1e9))             # an 11th scan-output row would pass the bound


def test_loop_under_sanitizers(tmp_path):
    from conftest import SANITIZE
    from sdk.backends.host.runner import HostRunner
    m = loop_model()
    b = sdk.compile(m, dims={"n": 8, "rows_dim0": 10})
    b.save(tmp_path / "loop")
    runner = HostRunner(cflags=" ".join(SANITIZE))
    runner.build(b.path)
    feeds = loop_feeds(8, 10, 1e9)                # exactly the bound: 10 rows
    got, _ = runner.run(b.path, feeds)
    ref = __import__("conftest").ort_run(m, feeds)
    np.testing.assert_allclose(got["rows"], ref["rows"], rtol=1e-5, atol=1e-6)
    with pytest.raises(BuildError, match="run-time dim out of compiled bounds"):
        runner.run(b.path, loop_feeds(8, 50, 1e9))


def test_scan_with_reversed_and_strided_axes():
    body = graph("body", [h.make_node("Add", ["s_in", "xr"], ["s_out"]), h.make_node("Mul", ["s_out", "yr"], ["o"])],
                 [("s_in", T.FLOAT, [3]), ("xr", T.FLOAT, [3]), ("yr", T.FLOAT, [3])], [("s_out", T.FLOAT), ("o", T.FLOAT)])
    m = model([h.make_node("Scan", ["s0", "x", "y"], ["s", "os"], body=body, num_scan_inputs=2,
                           scan_input_directions=[0, 1], scan_input_axes=[0, 1], scan_output_directions=[1])],
              [("s0", T.FLOAT, [3]), ("x", T.FLOAT, ["t", 3]), ("y", T.FLOAT, [3, "t"])], [("s", T.FLOAT), ("os", T.FLOAT)],
              opset=11)
    b = sdk.compile(m, dims={"t": 6})
    for t in (1, 4, 6):
        check(b, m, {"s0": RNG.standard_normal(3).astype(np.float32), "x": RNG.standard_normal((t, 3)).astype(np.float32),
                     "y": RNG.standard_normal((3, t)).astype(np.float32)})


BACKEND = ["test_if", "test_if_opt", "test_if_seq", "test_loop11", "test_loop13_seq", "test_loop16_seq_none",
           "test_scan9_sum", "test_scan_sum", "test_range_float_type_positive_delta_expanded",
           "test_range_int32_type_negative_delta_expanded", "test_nonzero_example", "test_nonmaxsuppression"]


@pytest.mark.slow
def test_onnx_backend_control_flow_and_runtime_dim_cases():
    """The ONNX backend node cases of If/Loop/Scan over tensors (and of the ops with run-time dims) through
    bench/onnx_conformance.py's own runner: none may give a wrong result; these must pass."""
    import os
    import sys
    sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "bench"))
    from onnx_conformance import cases, run_case
    must_pass = {"test_if", "test_scan9_sum", "test_range_float_type_positive_delta_expanded",
                 "test_range_int32_type_negative_delta_expanded", "test_nonzero_example"}
    results = {}
    for c in cases(names=BACKEND + ["test_nonmaxsuppression_"]):
        results[c.name] = run_case(c)[0]
    assert "wrong" not in results.values(), results
    assert all(results.get(n) == "pass" for n in must_pass), results
    assert sum(v == "pass" for k, v in results.items() if k.startswith("test_nonmaxsuppression")) >= 8, results


@pytest.mark.slow
def test_silero_vad_shipped_model_with_if_and_lstm():
    """silero-vad's 16 kHz model (PyPI wheel, MIT): three If nodes and an LSTM. With the chunk length fixed (576
    samples, as the package feeds it) every If condition folds at compile time, so only the taken branches
    are compiled; batch stays symbolic."""
    import os

    import onnx
    m = onnx.load(os.path.join(os.path.dirname(__file__), "..", "models", "silero_vad_16k_op15.onnx"))
    assert sum(n.op_type == "If" for n in m.graph.node) == 3
    for d in m.graph.input[0].type.tensor_type.shape.dim:
        if d.dim_param == "sequence":
            d.ClearField("dim_param")
            d.dim_value = 576
    b = sdk.compile(m, dims={"batch": 2})
    assert any(x.op == "LSTM" for x in b.func.bindings)
    for batch in (1, 2):
        feeds = {"input": (RNG.standard_normal((batch, 576)) * 0.3).astype(np.float32),
                 "state": (RNG.standard_normal((2, batch, 128)) * 0.5).astype(np.float32),
                 "sr": np.array(16000, np.int64)}
        got, ref = b.run(feeds), __import__("conftest").ort_run(m, feeds)
        for k, r in ref.items():
            assert got[k].shape == r.shape
            np.testing.assert_allclose(got[k], r, rtol=1e-4, atol=1e-5)


# ------------------------------------------------------------------ sequences of known length (sdk/frontend/sequences.py)
def _ints(name, vals):
    return h.make_tensor(name, T.INT64, [len(vals)] if isinstance(vals, list) else [], vals if isinstance(vals, list) else [vals])


def test_tensor_split_loop_of_sequence_inserts_is_unrolled():
    """TorchScript's torch.tensor_split: SequenceEmpty -> a Loop of constant trip count that SequenceInserts one
    Slice an iteration (bounds gathered from a constant list by the iteration number) -> SequenceInsert of the
    rest -> SequenceAt at constant positions; the slices feed the rest of the graph."""
    body = graph("body", [h.make_node("Gather", ["bounds", "i"], ["lo"], axis=0),
                          h.make_node("Add", ["i", "one"], ["i1"]),
                          h.make_node("Gather", ["bounds", "i1"], ["hi"], axis=0),
                          h.make_node("Slice", ["x", "lo", "hi", "ax"], ["part"]),
                          h.make_node("SequenceInsert", ["seq_in", "part"], ["seq_out"]),
                          h.make_node("Identity", ["c_in"], ["c_out"])],
                 [("i", T.INT64, []), ("c_in", T.BOOL, []), ("seq_in", T.FLOAT, None)],
                 [("c_out", T.BOOL), ("seq_out", T.FLOAT)])
    del body.input[2].type.tensor_type.shape.dim[:]
    body.input[2].type.CopyFrom(h.make_sequence_type_proto(h.make_tensor_type_proto(T.FLOAT, None)))
    body.output[1].type.CopyFrom(h.make_sequence_type_proto(h.make_tensor_type_proto(T.FLOAT, None)))
    m = model([h.make_node("SequenceEmpty", [], ["s0"], dtype=T.FLOAT),
               h.make_node("Loop", ["trip", "", "s0"], ["s1"], body=body),
               h.make_node("Slice", ["x", "last", "end", "ax"], ["rest"]),
               h.make_node("SequenceInsert", ["s1", "rest"], ["s2"]),
               h.make_node("SequenceAt", ["s2", "p0"], ["a"]), h.make_node("SequenceAt", ["s2", "pm1"], ["b"]),
               h.make_node("SequenceAt", ["s2", "p1"], ["c"]),
               h.make_node("ReduceSum", ["b", "ax"], ["bs"]), h.make_node("Mul", ["a", "bs"], ["y"]),
               h.make_node("Relu", ["c"], ["z"]),
               h.make_node("SequenceLength", ["s2"], ["n"])],
              [("x", T.FLOAT, ["b", 7, 4])], [("y", T.FLOAT), ("z", T.FLOAT), ("n", T.INT64)],
              [_ints("trip", 2), h.make_tensor("bounds", T.INT64, [3, 1], [0, 1, 3]), _ints("one", 1), _ints("ax", [1]), _ints("last", [3]),
               _ints("end", [7]), _ints("p0", 0), _ints("pm1", -1), _ints("p1", 1)], opset=17)
    b = sdk.compile(m, dims={"b": 4})
    assert not any(x.op.startswith("Sequence") or x.op == "Loop" for x in b.func.bindings)
    for n in (1, 3):
        check(b, m, {"x": RNG.standard_normal((n, 7, 4)).astype(np.float32)})


@pytest.mark.parametrize("new_axis", [0, 1])
def test_split_to_sequence_and_concat_from_sequence(new_axis):
    m = model([h.make_node("SplitToSequence", ["x", "split"], ["s"], axis=1),
               h.make_node("SequenceErase", ["s", "p1"], ["s1"]),
               h.make_node("SequenceConstruct", ["x2", "x2"], ["t"]),
               h.make_node("SequenceAt", ["t", "p1"], ["x2b"]),
               h.make_node("SequenceInsert", ["s1", "x2b", "p0"], ["s2"]),
               h.make_node("ConcatFromSequence", ["s2"], ["y"], axis=1, new_axis=new_axis)],
              [("x", T.FLOAT, ["b", 6]), ("x2", T.FLOAT, ["b", 2])], [("y", T.FLOAT)],
              [_ints("split", [2, 3, 1]) if not new_axis else _ints("split", [2, 2, 2]), _ints("p0", 0), _ints("p1", 1)])
    b = sdk.compile(m, dims={"b": 3})
    check(b, m, {"x": RNG.standard_normal((3, 6)).astype(np.float32),
                 "x2": RNG.standard_normal((3, 2)).astype(np.float32)})


def test_sequence_at_a_runtime_position_is_refused_by_name():
    m = model([h.make_node("SplitToSequence", ["x", "split"], ["s"], axis=0),
               h.make_node("SequenceAt", ["s", "k"], ["y"], name="pick")],
              [("x", T.FLOAT, [4, 3]), ("k", T.INT64, [])], [("y", T.FLOAT)], [_ints("split", [2, 2])])
    with pytest.raises(sdk.errors.UnsupportedOp, match="SequenceAt \\(node 'pick'\\): a position not known"):
        sdk.compile(m)


@pytest.mark.parametrize("new_axis", [0, 1])
def test_while_loop_appending_to_a_sequence_becomes_a_scan_output(new_axis):
    """The dynamo exporter's form of a Python loop that appends one tensor a step (EmbeddingBag's per-bag sums):
    SequenceEmpty -> a Loop with no trip count, a counter c (c + 1 < n the condition) and SequenceInsert(seq, t)
    -> ConcatFromSequence along axis 0. It becomes a scan output (its rows bounded by n, here the input's batch,
    so no --dim) and the concatenation a reshape of it."""
    body = graph("body", [h.make_node("Gather", ["x", "c"], ["row"], axis=0),
                          h.make_node("ReduceSum", ["row", "ax0"], ["t"], keepdims=1),
                          h.make_node("SequenceInsert", ["seq_in", "t"], ["seq_out"]),
                          h.make_node("CastLike", ["one", "c"], ["one_c"]),
                          h.make_node("Add", ["c", "one_c"], ["c_next"]),
                          h.make_node("Less", ["c_next", "n"], ["cond_out"])],
                 [("i", T.INT64, []), ("cond_in", T.BOOL, []), ("c", T.INT64, []), ("seq_in", T.FLOAT, None)],
                 [("cond_out", T.BOOL), ("c_next", T.INT64), ("seq_out", T.FLOAT)])
    body.input[3].type.CopyFrom(h.make_sequence_type_proto(h.make_tensor_type_proto(T.FLOAT, None)))
    body.output[2].type.CopyFrom(h.make_sequence_type_proto(h.make_tensor_type_proto(T.FLOAT, None)))
    m = model([h.make_node("Shape", ["x"], ["sh"]), h.make_node("Gather", ["sh", "zero"], ["n"], axis=0),
               h.make_node("SequenceEmpty", [], ["s0"], dtype=T.FLOAT),
               h.make_node("Less", ["zero", "n"], ["cond0"]),
               h.make_node("Loop", ["", "cond0", "zero", "s0"], ["c_fin", "s1"], body=body),
               h.make_node("ConcatFromSequence", ["s1"], ["y"], axis=0, new_axis=new_axis),
               h.make_node("Relu", ["y"], ["z"])],
              [("x", T.FLOAT, ["b", 5, 3])], [("z", T.FLOAT), ("c_fin", T.INT64)],
              [_ints("zero", 0), _ints("one", 1), _ints("ax0", [0])], opset=17)
    b = sdk.compile(m, dims={"b": 6})
    assert not any(x.op.startswith("Sequence") for x in b.func.bindings)
    assert not any(r.bound is None for r in b.func.runtime_syms.values() if r.is_dim)
    for n in (1, 4, 6):
        check(b, m, {"x": RNG.standard_normal((n, 5, 3)).astype(np.float32)})


@pytest.mark.parametrize("counter", ["carried", "iteration"])
def test_loop_counter_slices_keep_a_fixed_length(counter):
    """Ragged bags the way the dynamo exporter writes EmbeddingBag: offsets = [0, cumsum(lens)] (n + 1 entries), a
    Loop over the n bags whose body takes start = offsets[c:c + 1] and end = offsets[c + 1:c + 2] and sums the rows
    x[start:end] (a Slice whose starts are those tensors). c is a carried counter from 0 stepped by CastLike(1, c),
    or the loop's iteration number: known as c0 + it (it < n) inside the body, both offsets Slices are 1 long, so
    the row Slice gets 1-D starts of a fixed length (it failed with "run-time starts must be 1-D of a fixed
    length"). The bags' sums and their lengths (the row Slice's run-time dim) against onnxruntime, ragged and
    empty bags."""
    c = "c" if counter == "carried" else "i"
    body = graph("body", [h.make_node("Reshape", [c, "m1"], ["c1"]),
                          h.make_node("Add", ["c1", "one1"], ["c2"]), h.make_node("Add", ["c1", "two1"], ["c3"]),
                          h.make_node("Slice", ["off", "c1", "c2"], ["st"]),
                          h.make_node("Slice", ["off", "c2", "c3"], ["en"]),
                          h.make_node("Slice", ["xf", "st", "en"], ["rows"]),
                          h.make_node("ReduceSum", ["rows", "ax0"], ["t"], keepdims=1),
                          h.make_node("Sub", ["en", "st"], ["len"]),
                          h.make_node("CastLike", ["one", "c"], ["one_c"]),
                          h.make_node("Add", ["c", "one_c"], ["c_next"]),
                          h.make_node("Identity", ["cond_in"], ["cond_out"])],
                 [("i", T.INT64, []), ("cond_in", T.BOOL, []), ("c", T.INT64, [])],
                 [("cond_out", T.BOOL), ("c_next", T.INT64), ("t", T.FLOAT), ("len", T.INT64)])
    m = model([h.make_node("Shape", ["lens"], ["sh"]), h.make_node("Squeeze", ["sh"], ["n"]),
               h.make_node("Shape", ["x"], ["xs"]), h.make_node("Slice", ["xs", "z1", "two1"], ["nk"]),
               h.make_node("ReduceProd", ["nk"], ["rows_n"], keepdims=1),
               h.make_node("Concat", ["rows_n", "three1"], ["xshape"], axis=0),
               h.make_node("Reshape", ["x", "xshape"], ["xf"]),
               h.make_node("CumSum", ["lens", "zero"], ["cs"]),
               h.make_node("Concat", ["z1", "cs"], ["off"], axis=0),
               h.make_node("Loop", ["n", "true", "zero"], ["c_fin", "sums", "lens_out"], body=body),
               h.make_node("Reshape", ["sums", "m2"], ["y"])],
              [("x", T.FLOAT, ["n", 4, 3]), ("lens", T.INT64, ["n"])],
              [("y", T.FLOAT), ("lens_out", T.INT64), ("c_fin", T.INT64)],
              [_ints("zero", 0), _ints("one", 1), _ints("z1", [0]), _ints("one1", [1]), _ints("two1", [2]),
               _ints("three1", [3]), _ints("m1", [-1]), _ints("m2", [-1, 3]), _ints("ax0", [0]),
               h.make_tensor("true", T.BOOL, [], [True])], opset=17)
    b = sdk.compile(m, dims={"n": 5})
    slices = [x for x in b.func.bindings if x.op == "Slice" and x.inputs[0].name == "off"]
    assert len(slices) == 2 and all(s.outputs[0].shape == (1,) for s in slices)
    for n in (1, 3, 5):
        lens = RNG.integers(0, 5, size=n).astype(np.int64)  # bags of 0 to 4 rows (x has 4 * n)
        check(b, m, {"x": RNG.standard_normal((n, 4, 3)).astype(np.float32), "lens": lens}, exact=False)
