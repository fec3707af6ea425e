"""The engine: values, broadcasting, reuse of a parsed graph, and every bad value."""

from __future__ import annotations

import numpy as np
import pytest

import backviz

W = np.array([[1.0, -2.0, 0.5], [3.0, 0.25, -1.0]])
X = np.array([0.5, -1.5, 2.0])
B = np.array([0.1, -0.2])


# --- broadcasting, with gradients reduced to each input's shape ---------------------------

def test_affine_layer_w_at_x_plus_b() -> None:
    t = backviz.trace("sum(relu(W@x + b))", W=W, x=X, b=B)
    z = W @ X + B
    mask = (z > 0).astype(float)
    assert t.value == pytest.approx(float(np.maximum(z, 0).sum()))
    np.testing.assert_allclose(t.gradients["W"], np.outer(mask, X))
    np.testing.assert_allclose(t.gradients["x"], W.T @ mask)
    np.testing.assert_allclose(t.gradients["b"], mask)
    assert [np.shape(t.gradients[n]) for n in "Wxb"] == [(2, 3), (3,), (2,)]


def test_scalar_bias_broadcast_over_a_vector() -> None:
    t = backviz.trace("sum(W@x + b)", W=W, x=X, b=0.5)
    assert t.gradients["b"] == 2.0  # the scalar was added to both elements
    assert isinstance(t.gradients["b"], float)


def test_scalar_times_matrix() -> None:
    t = backviz.trace("sum(a*M)", a=3.0, M=W)
    assert t.gradients["a"] == pytest.approx(W.sum())
    np.testing.assert_array_equal(t.gradients["M"], np.full((2, 3), 3.0))
    t = backviz.trace("sum(M*a)", a=3.0, M=W)
    assert t.gradients["a"] == pytest.approx(W.sum())


def test_vector_plus_matrix() -> None:
    N = np.arange(6.0).reshape(2, 3)
    t = backviz.trace("sum((v + M) * N)", v=X, M=W, N=N)
    np.testing.assert_allclose(t.gradients["v"], N.sum(axis=0))  # summed over the rows it was copied to
    np.testing.assert_allclose(t.gradients["M"], N)
    np.testing.assert_allclose(t.gradients["N"], X + W)


def test_column_plus_row() -> None:
    col = [[1.0], [2.0]]
    row = [[10.0, 20.0, 30.0]]
    N = np.arange(6.0).reshape(2, 3)
    t = backviz.trace("sum((c + r) * N)", c=col, r=row, N=N)
    np.testing.assert_allclose(t.gradients["c"], N.sum(axis=1, keepdims=True))
    np.testing.assert_allclose(t.gradients["r"], N.sum(axis=0, keepdims=True))


@pytest.mark.parametrize(("a_shape", "b_shape", "da", "db"), [
    ((2, 3), (3,), 3.0, 4.0),  # matrix @ vector
    ((3,), (3, 4), 12.0, 2.0),  # vector @ matrix
    ((2, 3), (3, 4), 12.0, 4.0),  # matrix @ matrix
    ((3,), (3,), 3.0, 2.0),  # vector @ vector
])
def test_matmul_shapes(a_shape: tuple[int, ...], b_shape: tuple[int, ...], da: float, db: float) -> None:
    # With a = 2 and b = 3 everywhere, d sum(a@b) / da sums b over the output's other
    # axis, and d / db sums a.
    t = backviz.trace("sum(a@b)", a=np.full(a_shape, 2.0), b=np.full(b_shape, 3.0))
    np.testing.assert_array_equal(t.gradients["a"], np.full(a_shape, da))
    np.testing.assert_array_equal(t.gradients["b"], np.full(b_shape, db))


def test_mean_and_sum_reduce() -> None:
    t = backviz.trace("mean(x) + sum(M)", x=[1.0, 2.0, 3.0, 4.0], M=W)
    assert t.value == pytest.approx(2.5 + W.sum())
    np.testing.assert_allclose(t.gradients["x"], [0.25] * 4)
    np.testing.assert_allclose(t.gradients["M"], np.ones((2, 3)))


# --- values: Python numbers, nested lists, numpy arrays --------------------------------

def test_values_in_every_form_agree() -> None:
    forms = [
        {"W": W.tolist(), "x": X.tolist()},
        {"W": W, "x": X},
        {"W": W.astype(np.float32), "x": tuple(X)},
        {"W": [list(r) for r in W], "x": list(X)},
    ]
    results = [backviz.trace("l2(W@x)", f) for f in forms]
    for t in results[1:]:
        assert t.value == pytest.approx(results[0].value, rel=1e-6)
        np.testing.assert_allclose(t.gradients["W"], results[0].gradients["W"], rtol=1e-6)


@pytest.mark.parametrize("x", [3, 3.0, np.float64(3), np.float32(3), np.int64(3), np.array(3.0), np.array(3)])
def test_scalar_forms(x: object) -> None:
    t = backviz.trace("x*x", x=x)
    assert t.value == 9.0 and t.gradients == {"x": 6.0}
    assert type(t.value) is float and type(t.gradients["x"]) is float


def test_integer_lists_become_float_arrays() -> None:
    t = backviz.trace("sum(x*x)", x=[1, 2, 3])
    g = t.gradients["x"]
    assert isinstance(g, np.ndarray) and g.dtype == np.float64
    np.testing.assert_array_equal(g, [2.0, 4.0, 6.0])


@pytest.mark.parametrize("value", [[5.0], [[5.0]], [[1.0, 2.0]], [[1.0], [2.0]]])
def test_gradient_keeps_the_shape_of_a_one_element_axis(value: list[object]) -> None:
    t = backviz.trace("sum(x*x)", x=value)
    assert np.shape(t.gradients["x"]) == np.shape(value)
    np.testing.assert_array_equal(t.gradients["x"], 2 * np.array(value))


def test_float64_arrays_are_shared_read_only_and_gradients_are_the_callers() -> None:
    x = np.array([1.0, 2.0])
    t = backviz.trace("sum(x*x)", x=x)
    assert not t.values[0].flags.writeable  # backviz never writes into the caller's array
    assert np.shares_memory(t.values[0], x)  # not copied (documented): W may be large
    g = t.gradients["x"]
    g[0] = -1.0  # the caller's copy
    np.testing.assert_array_equal(t.gradients["x"], [2.0, 4.0])
    x[0] = 100.0
    np.testing.assert_array_equal(t.inputs["x"], [100.0, 2.0])
    assert t.value == 5.0
    # Lists and integer arrays are converted, so the trace holds its own float64 copy.
    xs = [1.0, 2.0]
    ints = np.array([1, 2])
    t = backviz.trace("sum(x*y)", x=xs, y=ints)
    xs[0], ints[0] = 100.0, 100
    np.testing.assert_array_equal(t.inputs["x"], [1.0, 2.0])
    np.testing.assert_array_equal(t.inputs["y"], [1.0, 2.0])


def test_values_by_mapping_and_keyword() -> None:
    # A mapping takes names that are Python keywords; keywords win over the mapping.
    t = backviz.trace("lambda*2 + x", {"lambda": 3, "x": 100}, x=1)
    assert t.value == 7.0
    assert t.gradients == {"lambda": 2.0, "x": 1.0}


# --- a parsed graph is evaluated again without parsing -------------------------------------

def test_parse_once_trace_many() -> None:
    graph = backviz.parse("(x+y)*z")
    first = backviz.trace(graph, {"x": -2, "y": 5, "z": -4})
    second = backviz.trace(graph, x=1, y=2, z=3)
    assert (first.value, first.gradients) == (-12.0, {"x": -4.0, "y": -4.0, "z": 3.0})
    assert (second.value, second.gradients) == (9.0, {"x": 3.0, "y": 3.0, "z": 3.0})
    assert first.graph is graph and second.graph is graph
    assert first.value == -12.0  # the earlier trace is not touched by the later one


def test_forward_and_backward_directly() -> None:
    graph = backviz.parse("x*y+x")
    values = backviz.forward(graph, {"x": 3.0, "y": -4.0})
    assert [float(v) for v in values] == [3.0, -4.0, -12.0, -9.0]
    grads = backviz.backward(graph, values)
    assert [float(g) for g in grads] == [-3.0, 3.0, 1.0, 1.0]
    edges = backviz.edge_gradients(graph, values, grads)
    assert [tuple(float(s) for s in e) for e in edges] == [(), (), (-4.0, 3.0), (1.0, 1.0)]


@pytest.mark.parametrize(("expression", "values"), [
    ("x*y + x*sigmoid(y) - x/y", {"x": 1.5, "y": -0.5}),
    ("sum(W@x + b) + l2(x) * mean(b)",
     {"W": [[1.0, 2.0], [3.0, -4.0]], "x": [0.5, -1.0], "b": 2.0}),
])
def test_edge_gradients_add_up_to_each_nodes_gradient(expression: str,
                                                       values: dict[str, object]) -> None:
    t = backviz.trace(expression, values)
    total: dict[int, object] = {}
    for node in t.graph.gates:
        for j, share in zip(node.inputs, t.edge_grads[node.id], strict=True):
            assert np.shape(share) == np.shape(t.values[j])  # summed back to the input's shape
            total[j] = share if j not in total else total[j] + share
    assert sorted(total) == list(range(len(t.graph) - 1))  # every node but the output
    for j, summed in total.items():
        np.testing.assert_allclose(summed, t.grads[j], rtol=1e-12)


def test_same_graph_for_scalars_and_arrays() -> None:
    graph = backviz.parse("sum(x*y)")
    assert backviz.trace(graph, x=2, y=3).value == 6.0
    t = backviz.trace(graph, x=[1.0, 2.0], y=[3.0, 4.0])
    assert t.value == 11.0
    np.testing.assert_array_equal(t.gradients["x"], [3.0, 4.0])


# --- output, missing and unused values ------------------------------------------------

def test_non_scalar_output_suggests_sum() -> None:
    with pytest.raises(backviz.NonScalarOutputError) as info:
        backviz.trace("W@x", W=W, x=X)
    message = str(info.value)
    assert "(2,)" in message and "sum(W@x)" in message
    with pytest.raises(backviz.NonScalarOutputError, match=r"sum\("):
        backviz.trace("x", x=[1.0, 2.0])
    with pytest.raises(backviz.NonScalarOutputError, match=r"\(1,\)"):
        backviz.trace("x*2", x=[1.0])


def test_missing_values_are_all_named() -> None:
    with pytest.raises(backviz.MissingValueError) as info:
        backviz.trace("w0*x0 + w1*x1 + b", w1=1)
    assert info.value.names == ("w0", "x0", "x1", "b")
    message = str(info.value)
    assert message.startswith("no values for w0, x0, x1, b")
    for name in ("w0", "x0", "x1", "b"):
        assert f"--{name} VALUE" in message
    with pytest.raises(backviz.MissingValueError, match=r"^no value for y "):
        backviz.trace("x*y", x=1)


def test_missing_value_message_mentions_a_misspelt_one() -> None:
    with pytest.raises(backviz.MissingValueError, match="given but not in the expression: X"):
        backviz.trace("x*2", X=1)


def test_unused_value_is_a_warning() -> None:
    # Documented decision: a value for a name the expression does not use is not an
    # error (one set of values can serve several expressions) but the trace says so.
    t = backviz.trace("x*2", x=1, q=3, r=[1, 2])
    assert t.value == 2.0
    assert t.gradients == {"x": 2.0}
    assert t.warnings == ("q is given a value but is not in the expression",
                          "r is given a value but is not in the expression")
    assert backviz.trace("x*2", x=1).warnings == ()


# --- non-finite results do not crash -----------------------------------------------------

def test_log_of_negative_is_nan_with_a_warning_naming_the_gate() -> None:
    t = backviz.trace("x*log(y)", x=2, y=-1)
    assert np.isnan(t.value)
    forward_warnings = [w for w in t.warnings if "forward" in w]
    assert forward_warnings == ["the gate 'log' (column 3) gives nan in the forward pass"]


def test_overflow_is_inf_with_a_warning_naming_the_gate() -> None:
    t = backviz.trace("exp(x) + y", x=1000, y=1)
    assert t.value == np.inf
    assert "the gate 'exp' (column 1) gives inf in the forward pass" in t.warnings


def test_infinite_gradient_is_a_warning_naming_the_gate() -> None:
    t = backviz.trace("sqrt(x)", x=0)
    assert t.value == 0.0 and t.gradients["x"] == np.inf
    assert t.warnings == ("the gate 'sqrt' (column 1) sends back a gradient of inf",)


def test_non_finite_input_values() -> None:
    t = backviz.trace("x + y", x=float("nan"), y=np.inf)
    assert np.isnan(t.value)
    assert "the value of x is nan" in t.warnings
    assert "the value of y is inf" in t.warnings
    t = backviz.trace("sum(v)", v=[1.0, np.nan])
    assert t.warnings == ("the value of v is nan",)


def test_finite_results_have_no_warnings() -> None:
    assert backviz.trace("1/(1+exp(-(w0*x0+w1*x1+w2)))", w0=2, x0=-1, w1=-3, x1=-2, w2=-3).warnings == ()


# --- bad values ---------------------------------------------------------------------------

@pytest.mark.parametrize(("value", "fragment"), [
    ("1.5", "not '1.5' (str)"),
    (b"1", "not b'1' (bytes)"),
    (None, "not None (NoneType)"),
    (True, "not True (bool)"),
    (np.bool_(False), "not"),
    ({"a": 1}, "(dict)"),
    ({1, 2}, "(set)"),
    (1 + 2j, "(complex)"),
    ([[1, 2], [3]], "must be rectangular and hold only numbers"),
    ([1, "a"], "must be rectangular and hold only numbers"),
    ([None], "must be rectangular and hold only numbers"),
    ([[1, 2], 3], "must be rectangular and hold only numbers"),
    (np.array(["a"]), "must be rectangular and hold only numbers"),
    (np.array([1 + 1j]), "must be rectangular and hold only numbers"),
    (np.ones((1, 1, 1, 1, 2)), "has 5 dimensions (1, 1, 1, 1, 2); backviz takes scalars, vectors, "
                               "matrices and arrays of up to 4 dimensions"),
    ([[[[[1.0]]]]], "has 5 dimensions"),
    ([], "is empty (0,)"),
    (np.zeros((2, 0)), "is empty (2, 0)"),
    (object(), "(object)"),
    (10**400, "too large"),
])
def test_invalid_values(value: object, fragment: str) -> None:
    with pytest.raises(backviz.InvalidValueError) as info:
        backviz.trace("x*2", x=value)
    message = str(info.value)
    assert message.startswith("the value of x ")
    assert fragment in message


def test_a_long_bad_value_is_cut_in_the_message() -> None:
    with pytest.raises(backviz.InvalidValueError) as info:
        backviz.trace("x*2", x="a" * 10_000)
    assert len(str(info.value)) < 200


BROADCAST = "the shapes do not broadcast (sizes must match from the right, or be 1)"


@pytest.mark.parametrize(("expression", "values", "first_line"), [
    ("sum(x+y)", {"x": [1.0, 2.0], "y": [1.0, 2.0, 3.0]},
     f"x+y: cannot add x (2,) and y (3,): {BROADCAST}"),
    ("sum(x*y)", {"x": np.ones((2, 3)), "y": np.ones((3, 2))},
     f"x*y: cannot multiply x (2, 3) and y (3, 2) elementwise: {BROADCAST}"),
    # the operator as typed (@, not the slide label *) and the variables involved
    ("sum(W@x)", {"W": np.ones((2, 3)), "x": [1.0, 2.0]},
     "W@x: cannot multiply W (2, 3) by x (2,): the inner sizes 3 and 2 differ"),
    ("x@y", {"x": [1.0, 2.0], "y": [1.0, 2.0, 3.0]},
     "x@y: cannot multiply x (2,) by y (3,): the inner sizes 2 and 3 differ"),
    ("sum(max(x, y))", {"x": [1.0, 2.0], "y": [1.0, 2.0, 3.0]},
     f"max(x, y): cannot compare x (2,) and y (3,): {BROADCAST}"),
    ("x @ y", {"x": 1.0, "y": 2.0},
     "x @ y: cannot multiply x () by y (): x is a number, and @ needs a vector or matrix on "
     "both sides (write * to scale)"),
    # subexpressions, with the brackets they were typed in and their folded constants
    ("sum((W1 @ x + b) @ W2)", {"W1": np.ones((2, 3)), "x": np.ones(3), "b": np.ones(2),
                                "W2": np.ones((3, 2))},
     "(W1 @ x + b) @ W2: cannot multiply (W1 @ x + b) (2,) by W2 (3, 2): the inner sizes "
     "2 and 3 differ"),
    ("sum(2*x @ W)", {"W": np.ones((2, 3)), "x": np.ones(3)},
     "2*x @ W: cannot multiply 2*x (3,) by W (2, 3): the inner sizes 3 and 2 differ"),
    ("sum(exp(x) / (y - 1))", {"x": np.ones(3), "y": np.ones(2)},
     f"exp(x) / (y - 1): cannot divide exp(x) (3,) by (y - 1) (2,): {BROADCAST}"),
    ("sum(exp(x - y))", {"x": np.ones(3), "y": np.ones(2)},
     f"x - y: cannot subtract y (2,) from x (3,): {BROADCAST}"),
    ("sum(x ** y)", {"x": np.ones(3), "y": np.ones(2)},
     f"x ** y: cannot raise x (3,) to the power y (2,): {BROADCAST}"),
])
def test_shape_error_names_what_was_written(expression: str, values: dict[str, object],
                                            first_line: str) -> None:
    with pytest.raises(backviz.ShapeError) as info:
        backviz.trace(expression, values)
    message = str(info.value)
    column = info.value.column
    assert message.split("\n")[0] == f"{first_line} (column {column + 1})"
    source, caret = message.split("\n")[1:]
    assert source == "  " + expression
    assert caret.index("^") - 2 == column
    assert expression[column] in "+-*@/m"  # the caret is under the operator (or max)


def test_errors_are_backviz_errors() -> None:
    for cls in (backviz.ShapeError, backviz.InvalidValueError, backviz.MissingValueError,
                backviz.InvalidIndexError,
                backviz.NonScalarOutputError, backviz.ExpressionSyntaxError,
                backviz.UnknownFunctionError):
        assert issubclass(cls, backviz.BackvizError) and issubclass(cls, ValueError)


# --- the trace's nodes ------------------------------------------------------------------

def test_trace_has_every_node_in_topological_order() -> None:
    t = backviz.trace("sigmoid(w*x + b)", w=0.5, x=2.0, b=-1.0)
    assert len(t.values) == len(t.grads) == len(t.edge_grads) == len(t.graph.nodes)
    assert [n.label for n in t.graph.nodes] == ["w", "x", "*", "b", "+", "σ"]
    assert [float(v) for v in t.values] == [0.5, 2.0, 1.0, -1.0, 0.0, 0.5]
    assert [float(g) for g in t.grads] == [0.5, 0.125, 0.25, 0.25, 0.25, 1.0]
    assert t.expression == "sigmoid(w*x + b)"
    assert t.inputs == {"w": 0.5, "x": 2.0, "b": -1.0}


def test_deterministic() -> None:
    a = backviz.trace("sum(relu(W@x + b))", W=W, x=X, b=B)
    b = backviz.trace("sum(relu(W@x + b))", W=W, x=X, b=B)
    assert a.graph == b.graph
    for va, vb in zip(a.values + a.grads, b.values + b.grads, strict=True):
        np.testing.assert_array_equal(va, vb)


def test_values_that_are_not_a_mapping_are_one_clear_error() -> None:
    with pytest.raises(backviz.InvalidValueError, match=r"the values must be a mapping from names"):
        backviz.trace("x*2", [1.0])  # type: ignore[arg-type]


def test_the_non_scalar_message_stays_short_for_long_expressions() -> None:
    expression = " + ".join(f"x{i}" for i in range(500)) + " + v"
    values = {f"x{i}": 1.0 for i in range(500)} | {"v": [1.0, 2.0]}
    with pytest.raises(backviz.NonScalarOutputError) as err:
        backviz.trace(expression, values)
    assert str(err.value).endswith("e.g. sum(...)")
    with pytest.raises(backviz.NonScalarOutputError) as err:
        backviz.trace("2*v", v=[1.0, 2.0])
    assert str(err.value).endswith("e.g. sum(2*v)")


def test_trace_leaves_the_garbage_collector_as_it_found_it() -> None:
    import gc

    assert gc.isenabled()
    backviz.trace("x*y", x=1.0, y=2.0)
    assert gc.isenabled()
    with pytest.raises(backviz.BackvizError):
        backviz.trace("x*", x=1.0)
    assert gc.isenabled()
    gc.disable()
    try:
        backviz.trace("x*y", x=1.0, y=2.0)
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_minus_infinity_is_named_as_such() -> None:
    t = backviz.trace("sum(x*2)", x=[-np.inf, 1.0])
    assert "the value of x is -inf" in t.warnings
    t = backviz.trace("x*2", x=np.inf)
    assert "the value of x is inf" in t.warnings
