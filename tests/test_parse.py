"""The expression language: grammar, slide labels, the graph it builds, and its errors."""

from __future__ import annotations

import pytest

import backviz
from backviz.errors import caret_lines
from backviz.graph import INPUT


def shape(expression: str) -> list[tuple[str, tuple[int, ...]]]:
    """Each node as (label, input ids): the whole graph, order included."""
    return [(n.label, n.inputs) for n in backviz.parse(expression).nodes]


def labels(expression: str) -> list[str]:
    return [n.label for n in backviz.parse(expression).gates]


def value(expression: str, **values: float) -> float:
    return backviz.trace(expression, **values).value


# --- grammar ----------------------------------------------------------------------------

def test_multiplication_binds_tighter_than_addition() -> None:
    assert shape("x+y*z") == [("x", ()), ("y", ()), ("z", ()), ("*", (1, 2)), ("+", (0, 3))]
    assert shape("x*y+z") == [("x", ()), ("y", ()), ("*", (0, 1)), ("z", ()), ("+", (2, 3))]
    assert value("x+y*z", x=1, y=2, z=3) == 7
    assert value("(x+y)*z", x=1, y=2, z=3) == 9


def test_left_associative_operators() -> None:
    assert value("x-y-z", x=10, y=3, z=2) == 5
    assert value("x/y/z", x=12, y=3, z=2) == 2
    assert shape("x-y-z") == [("x", ()), ("y", ()), ("-", (0, 1)), ("z", ()), ("-", (2, 3))]


def test_power_is_right_associative_and_binds_tightest() -> None:
    assert shape("x**y**z") == [("x", ()), ("y", ()), ("z", ()), ("^", (1, 2)), ("^", (0, 3))]
    assert value("x**y**z", x=2, y=3, z=2) == 512  # 2 ** 9, not (2 ** 3) ** 2 = 64
    assert value("x*y**z", x=3, y=2, z=3) == 24


def test_caret_is_power() -> None:
    assert shape("x^y^z") == shape("x**y**z")
    assert value("x^y", x=2, y=10) == 1024
    assert labels("u^2") == ["^2"]


def test_unary_minus_is_a_times_minus_one_gate() -> None:
    assert shape("-x") == [("x", ()), ("*-1", (0,))]
    assert shape("--x") == [("x", ()), ("*-1", (0,)), ("*-1", (1,))]
    assert value("-x", x=3) == -3
    # As in Python: -x**2 is -(x**2), and x**-y is x**(-y).
    assert labels("-x**2") == ["^2", "*-1"]
    assert value("-x**2", x=3) == -9
    assert value("x**-y", x=2, y=1) == 0.5
    assert value("x - -y", x=1, y=2) == 3
    assert labels("-x*y") == ["*-1", "*"]


def test_unary_plus_makes_no_gate() -> None:
    assert shape("+x") == [("x", ())]
    assert shape("x*+y") == shape("x*y")
    assert shape("+-x") == shape("-x")
    t = backviz.trace("+x", x=4)
    assert (t.value, t.gradients) == (4.0, {"x": 1.0})


def test_whitespace_anywhere() -> None:
    assert shape(" ( x +\ty ) *\n z ") == shape("(x+y)*z")
    assert shape("max( x ,  y )") == shape("max(x,y)")
    assert shape("exp (x)") == shape("exp(x)")
    assert shape("x ** 2") == shape("x**2")


@pytest.mark.parametrize(("text", "number"), [
    ("1", 1.0), ("2.5", 2.5), ("1e-3", 1e-3), (".5", 0.5), ("5.", 5.0), ("1E3", 1000.0),
    ("1.5e+2", 150.0), ("007", 7.0),
])
def test_numbers(text: str, number: float) -> None:
    graph = backviz.parse(f"x*{text}")
    (gate,) = graph.gates
    assert gate.op == "mul_c" and gate.const == number


def test_variables_are_case_sensitive_identifiers() -> None:
    graph = backviz.parse("w0*x + W*X + q_1 + _t")
    assert graph.variables == ("w0", "x", "W", "X", "q_1", "_t")


# --- slide labels for the gates that carry a constant --------------------------------------

@pytest.mark.parametrize(("expression", "label"), [
    ("1+u", "+1"), ("u+1", "+1"), ("2*u", "*2"), ("u*2", "*2"), ("-u", "*-1"), ("1/u", "1/x"),
    ("u**2", "^2"), ("u^2", "^2"), ("u-3", "-3"), ("3-u", "3-x"), ("u/2", "/2"), ("2**u", "2^x"),
    ("max(u,0)", "max(x,0)"), ("max(0,u)", "max(x,0)"), ("min(u,1)", "min(x,1)"),
    ("u*0.5", "*0.5"), ("u+(-3)", "+(-3)"), ("u-(-3)", "-(-3)"), ("u/(-2)", "/(-2)"),
    ("u**-1", "^(-1)"), ("(-2)**u", "(-2)^x"), ("1e-5*u", "*1e-05"),
])
def test_constant_gate_labels(expression: str, label: str) -> None:
    graph = backviz.parse(expression)
    assert [(n.label, n.inputs) for n in graph.gates] == [(label, (0,))]


def test_constant_gates_compute_what_is_written() -> None:
    for expression, expected in [("1+u", 5), ("u-3", 1), ("3-u", -1), ("u/2", 2), ("2**u", 16),
                                 ("1/u", 0.25), ("u**2", 16), ("max(u,5)", 5), ("min(u,5)", 4)]:
        assert value(expression, u=4) == expected, expression


def test_constants_are_folded() -> None:
    assert labels("x*(2*3)") == ["*6"]
    assert labels("x+2*3") == ["+6"]
    assert labels("x*-(2)") == ["*-2"]
    assert labels("--2*x") == ["*2"]
    assert labels("x*exp(0)") == ["*1"]
    assert labels("x*(1/4)") == ["*0.25"]
    assert labels("x**(1/2)") == ["^0.5"]
    assert labels("(2+3)*(x+1)") == ["+1", "*5"]


def test_no_algebraic_rewriting() -> None:
    # A multiplication by one, an addition of zero and x - x all stay as typed.
    assert labels("x*1") == ["*1"]
    assert labels("x+0") == ["+0"]
    assert shape("x-x") == [("x", ()), ("-", (0, 0))]
    assert labels("1/(1+exp(-u))") == ["*-1", "exp", "+1", "1/x"]
    assert [n.op for n in backviz.parse("sigmoid(u)").gates] == ["sigmoid"]


# --- the graph mirrors what was typed ----------------------------------------------------

def test_graph_keeps_the_typed_order() -> None:
    assert shape("y+x") == [("y", ()), ("x", ()), ("+", (0, 1))]
    assert shape("b*a+a") == [("b", ()), ("a", ()), ("*", (0, 1)), ("+", (2, 1))]
    assert shape("z*(x+y)") == [("z", ()), ("x", ()), ("y", ()), ("+", (1, 2)), ("*", (0, 3))]
    assert backviz.parse("c*b+a").variables == ("c", "b", "a")


def test_node_ids_are_positions_in_topological_order() -> None:
    graph = backviz.parse("1/(1+exp(-(w0*x0+w1*x1+w2)))")
    for i, node in enumerate(graph.nodes):
        assert node.id == i
        assert all(j < i for j in node.inputs)
    assert graph.output is graph.nodes[-1]
    assert backviz.parse("1/(1+exp(-(w0*x0+w1*x1+w2)))") == graph  # same on every run


def test_columns_point_at_the_operator() -> None:
    graph = backviz.parse("a + exp(b)")
    a, plus_gate_input, exp_gate, plus = graph.nodes
    assert (a.column, plus_gate_input.column, exp_gate.column, plus.column) == (0, 8, 4, 2)


def test_variable_used_twice_is_one_input_with_two_edges() -> None:
    graph = backviz.parse("x*x")
    assert shape("x*x") == [("x", ()), ("*", (0, 0))]
    assert sum(1 for n in graph.nodes if n.op == INPUT) == 1
    t = backviz.trace(graph, x=3)
    assert [float(s) for s in t.edge_grads[1]] == [3.0, 3.0]
    assert t.gradients == {"x": 6.0}  # gradients add at branches


def test_gradients_add_at_branches() -> None:
    assert shape("x*y+x") == [("x", ()), ("y", ()), ("*", (0, 1)), ("+", (2, 0))]
    t = backviz.trace("x*y+x", x=3, y=-4)
    assert t.gradients == {"x": -4.0 + 1.0, "y": 3.0}
    t = backviz.trace("x*x*x + exp(x)", x=0.5)
    assert t.gradients["x"] == pytest.approx(3 * 0.25 + 2.718281828459045 ** 0.5)


# --- size: no recursion anywhere -----------------------------------------------------------

def test_100000_term_sum() -> None:
    n = 100_000
    expression = "+".join(f"w{i % 100}*x" for i in range(n))
    graph = backviz.parse(expression)
    assert len(graph.gates) == 2 * n - 1
    values = {f"w{i}": float(i) for i in range(100)}
    t = backviz.trace(graph, values, x=2.0)
    assert t.value == 2.0 * sum(i % 100 for i in range(n))
    assert t.gradients["x"] == sum(i % 100 for i in range(n))
    assert t.gradients["w7"] == 2.0 * n / 100


@pytest.mark.parametrize("depth", [1_000, 5_000])
def test_deeply_nested_parentheses(depth: int) -> None:
    assert shape("(" * depth + "x" + ")" * depth) == [("x", ())]
    t = backviz.trace("(" * depth + "x" + "+1)" * depth, x=0.5)
    assert len(t.graph.gates) == depth
    assert (t.value, t.gradients) == (depth + 0.5, {"x": 1.0})
    t = backviz.trace("sin(" * depth + "x" + ")" * depth, x=0.5)
    assert len(t.graph.gates) == depth
    assert 0 < t.gradients["x"] < 1
    t = backviz.trace("-(" * depth + "x" + ")" * depth, x=2)
    assert t.value == (2.0 if depth % 2 == 0 else -2.0)


def test_long_chain_of_unary_minus_and_powers() -> None:
    assert backviz.trace("-" * 5_000 + "x", x=1).gradients == {"x": 1.0}
    assert backviz.trace("x" + "**1" * 5_000, x=3).value == 3.0


# --- errors: exact messages with the caret line ----------------------------------------

@pytest.mark.parametrize(("expression", "error", "message"), [
    ("(x+", backviz.ExpressionSyntaxError,
     "the expression ends too early: a value is missing (column 4)\n  (x+\n     ^"),
    ("x y", backviz.ExpressionSyntaxError,
     "expected an operator before 'y': write * to multiply, e.g. 2*x (column 3)\n  x y\n    ^"),
    ("2(x+y)", backviz.ExpressionSyntaxError,
     "expected an operator before '(': write * to multiply, e.g. 2*(x+y) (column 2)\n"
     "  2(x+y)\n   ^"),
    ("x+*y", backviz.ExpressionSyntaxError,
     "expected a number, a variable, a function call or '(' before '*' (column 3)\n  x+*y\n    ^"),
    ("x)", backviz.ExpressionSyntaxError, "unmatched ')' (column 2)\n  x)\n   ^"),
    ("x,y", backviz.ExpressionSyntaxError, "',' outside a function call (column 2)\n  x,y\n   ^"),
    ("(x", backviz.ExpressionSyntaxError, "this '(' is never closed (column 1)\n  (x\n  ^"),
    ("x*(y+(z", backviz.ExpressionSyntaxError,
     "this '(' is never closed (column 6)\n  x*(y+(z\n       ^"),
    ("exp(x", backviz.ExpressionSyntaxError, "this '(' is never closed (column 4)\n  exp(x\n     ^"),
    ("x $ y", backviz.ExpressionSyntaxError, "unexpected character '$' (column 3)\n  x $ y\n    ^"),
    ("exp", backviz.ExpressionSyntaxError,
     "'exp' is a function: call it as exp(...) (column 1)\n  exp\n  ^"),
    ("x.y", backviz.ExpressionSyntaxError,
     "unknown attribute .y: a value has .T, .shape, .size, .ndim and the methods sum, mean, "
     "max, min, var, std, dot, reshape, flatten, ravel, transpose, copy, clip (column 3)"
     "\n  x.y\n    ^"),
    ("x. + 1", backviz.ExpressionSyntaxError,
     "expected an attribute's name after '.' (W.T, X.shape, X.sum(axis=0)) (column 4)"
     "\n  x. + 1\n     ^"),
    ("f = x = y", backviz.ExpressionSyntaxError,
     "unexpected '=': an assignment is a statement of its own (q = x + y), on its own line "
     "or after ';' (column 7)\n  f = x = y\n        ^"),
    ("[1, 2] @ x", backviz.ExpressionSyntaxError,
     "unexpected '[': vectors and matrices are given as values (e.g. --W '[[1,2],[3,4]]'), "
     "not written in the expression (column 1)\n  [1, 2] @ x\n  ^"),
    ("x['a']", backviz.ExpressionSyntaxError,
     "unexpected \"'\" in an index: an index is a whole number (2, -1), a slice (1:3, :), a "
     "variable, arange(n), None (np.newaxis) or ... (column 3)\n  x['a']\n    ^"),
    ("1e999*x", backviz.ExpressionSyntaxError,
     "the number 1e999 is too large for a float64 (column 1)\n  1e999*x\n  ^"),
    ("", backviz.ExpressionSyntaxError, "the expression is empty (column 1)\n  \n  ^"),
    ("1+2", backviz.ExpressionSyntaxError,
     "the expression has no variables, so there is no gradient to draw (column 1)\n  1+2\n  ^"),
    ("sum(x, y)", backviz.ExpressionSyntaxError,
     "sum() takes 1 argument (column 6)\n  sum(x, y)\n       ^"),
    ("exp(x,y)", backviz.ExpressionSyntaxError,
     "exp() takes 1 argument (column 6)\n  exp(x,y)\n       ^"),
    ("max(x,y,z)", backviz.ExpressionSyntaxError,
     "max() takes 1 or 2 arguments (column 8)\n  max(x,y,z)\n         ^"),
    ("2@x", backviz.ShapeError,
     "'@' needs a vector or matrix on both sides, and 2 is a number (column 1)\n  2@x\n  ^"),
    ("W@3", backviz.ShapeError,
     "'@' needs a vector or matrix on both sides, and 3 is a number (column 3)\n  W@3\n    ^"),
])
def test_error_messages(expression: str, error: type[Exception], message: str) -> None:
    with pytest.raises(error) as info:
        backviz.parse(expression)
    assert str(info.value) == message


def test_syntax_errors_are_backviz_errors_and_value_errors() -> None:
    with pytest.raises(backviz.BackvizError) as info:
        backviz.parse("x +")
    assert isinstance(info.value, ValueError)
    assert info.value.column == 3  # type: ignore[attr-defined]
    assert info.value.expression == "x +"  # type: ignore[attr-defined]


@pytest.mark.parametrize(("name", "suggestion"), [
    ("exq", "exp"), ("sigmod", "sigmoid"), ("Exp", "exp"), ("tanhh", "tanh"), ("maxx", "max"),
])
def test_unknown_function_suggests_the_closest_name(name: str, suggestion: str) -> None:
    with pytest.raises(backviz.UnknownFunctionError) as info:
        backviz.parse(f"{name}(x)")
    message = str(info.value)
    assert message.startswith(f"unknown function '{name}'; did you mean {suggestion}? (known: ")
    assert message.endswith(f"(column 1)\n  {name}(x)\n  ^")


@pytest.mark.parametrize("expression", ["y(x)", "y/y(x)", "y * y (x)"])
def test_a_variable_called_like_a_function(expression: str) -> None:
    # The same message whether or not the name was already seen as a variable.
    with pytest.raises(backviz.UnknownFunctionError) as info:
        backviz.parse(expression)
    assert info.value.column == expression.rindex("y")  # type: ignore[attr-defined]
    assert str(info.value).startswith("unknown function 'y' (known: abs, ")


@pytest.mark.parametrize(("expression", "column"), [("exp (x", 4), ("max\t(x,y", 4)])
def test_an_unclosed_call_points_at_its_parenthesis(expression: str, column: int) -> None:
    with pytest.raises(backviz.ExpressionSyntaxError, match="this '\\(' is never closed") as info:
        backviz.parse(expression)
    assert info.value.column == column  # type: ignore[attr-defined]


def test_unknown_function_without_a_close_name_lists_the_known_ones() -> None:
    with pytest.raises(backviz.UnknownFunctionError) as info:
        backviz.parse("2*qqqqqq(x)")
    assert str(info.value) == (
        "unknown function 'qqqqqq' (known: abs, clip, copy, cos, dot, exp, expm1, flatten, l2, "
        "len, linalg.norm, log, log1p, log_softmax, logsumexp, matmul, max, maximum, mean, min, "
        "minimum, norm, ones_like, pow, power, ravel, relu, reshape, sigmoid, sin, softmax, "
        "sqrt, square, std, sum, tanh, transpose, var, where, zeros_like) (column 3)"
        "\n  2*qqqqqq(x)\n    ^")


def test_empty_and_blank_expressions() -> None:
    for text in ["", "   ", "\t\n"]:
        with pytest.raises(backviz.ExpressionSyntaxError, match="the expression is empty"):
            backviz.parse(text)


@pytest.mark.parametrize("expression", ["1", "2*3", "exp(0)", "(1+2)*-4", "max(1,2)"])
def test_no_variables(expression: str) -> None:
    with pytest.raises(backviz.ExpressionSyntaxError, match="the expression has no variables"):
        backviz.parse(expression)


@pytest.mark.parametrize("expression", ["exp()", "max(x,)", "max(,x)", "()", "x+()", "exp(x)(y)",
                                        "x**", "*x", "(,)", "sum(x)(", "x)(", "f(x)"])
def test_more_syntax_errors_point_inside_the_expression(expression: str) -> None:
    with pytest.raises(backviz.BackvizError) as info:
        backviz.parse(expression)
    *_, source, caret = str(info.value).split("\n")
    assert source == "  " + expression
    assert caret.strip() == "^" and len(caret) - 1 <= len(source)


def test_not_a_string() -> None:
    with pytest.raises(backviz.ExpressionSyntaxError, match="must be a string, not int"):
        backviz.parse(42)  # type: ignore[arg-type]


def test_caret_counts_wide_characters_as_two_cells() -> None:
    # 中 and 文 each take two cells of a terminal, so '$' is in the sixth cell, not the fourth.
    assert caret_lines("中文+$", 3) == "  中文+$\n       ^"
    assert caret_lines("x+中", 2) == "  x+中\n    ^"
    # A combining mark takes no cell: the caret goes under the letter it sits on.
    assert caret_lines("x+e\u0301+!", 3) == "  x+e\u0301+!\n    ^"
    assert caret_lines("x+e\u0301+!", 5) == "  x+e\u0301+!\n      ^"


def test_caret_lines_window_long_lines() -> None:
    assert caret_lines("x+y", 2) == "  x+y\n    ^"
    long = "a" * 200 + "$" + "b" * 200
    source, caret = caret_lines(long, 200).split("\n")
    assert source.startswith("  ...") and source.endswith("...")
    assert source[caret.index("^")] == "$"
    assert len(source) < 140


def test_caret_under_a_late_column_of_a_long_expression() -> None:
    expression = "+".join(["x"] * 1000) + "+)"
    with pytest.raises(backviz.ExpressionSyntaxError) as info:
        backviz.parse(expression)
    source, caret = str(info.value).split("\n")[1:]
    assert source[caret.index("^")] == ")"
    assert info.value.column == len(expression) - 1  # type: ignore[attr-defined]


@pytest.mark.parametrize(("expression", "label"), [
    ("x*(1/0)", "*inf"), ("x*10**400", "*inf"), ("x*0**-1", "*inf"), ("x+(-8)**(1/3)", "+nan"),
    ("x*log(0)", "*-inf"), ("x*(1e308*10)", "*inf"),
])
def test_constant_folding_follows_float64_arithmetic(expression: str, label: str) -> None:
    # A constant part is computed like the engine computes values: in float64, where a
    # division by zero or an overflow is inf and not a Python exception.
    assert labels(expression) == [label]
    t = backviz.trace(expression, x=1)
    assert any(f"'{label}'" in w for w in t.warnings)


def test_control_characters_do_not_break_the_caret_line() -> None:
    with pytest.raises(backviz.ExpressionSyntaxError) as err:
        backviz.parse("x +\t\r* y")
    assert str(err.value).endswith("(column 6)\n  x +  * y\n       ^")
    with pytest.raises(backviz.ExpressionSyntaxError) as err:  # a line break: the line at fault
        backviz.parse("x +\r\n* y")
    assert str(err.value).endswith("(line 2, column 1)\n  * y\n  ^")
