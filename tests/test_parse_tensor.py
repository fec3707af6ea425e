"""The tensor operations as typed: .T, axis=, one-input max/min, indexing, and the losses."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import svggeom
from click.testing import CliRunner

import backviz
from backviz.cli import cli

S = np.array([[0.2, -1.0, 0.5], [1.5, 0.3, -0.4], [-0.7, 0.9, 0.1], [0.0, 0.4, 2.0]])
Y = [2, 0, 1, 2]


def gates(expression: str) -> list[tuple[str, object]]:
    return [(n.op, n.const) for n in backviz.parse(expression).gates]


# --- the syntax, to gates and their parameters ----------------------------------------------

@pytest.mark.parametrize(("expression", "expected"), [
    ("W.T", [("transpose", None)]),
    ("transpose(W)", [("transpose", None)]),
    ("(W @ x).T", [("matmul", None), ("transpose", None)]),
    ("sum(X, axis=0)", [("sum", 0)]),
    ("mean(X, axis=1)", [("mean", 1)]),
    ("sum(X, axis=-1)", [("sum", -1)]),
    ("sum(X)", [("sum", None)]),
    ("max(X)", [("amax", None)]),
    ("min(X)", [("amin", None)]),
    ("max(X, axis=1)", [("amax", 1)]),
    ("min(X, axis=0)", [("amin", 0)]),
    ("max(a, b)", [("max", None)]),
    ("max(a, 0)", [("max_c", 0.0)]),
    ("softmax(s)", [("softmax", None)]),
    ("log_softmax(S, axis=0)", [("log_softmax", 0)]),
    ("logsumexp(S, axis=-1)", [("logsumexp", -1)]),
    ("s[2]", [("index", (2,))]),
    ("s[-1]", [("index", (-1,))]),
    ("s[y]", [("index", (("input", "y"),))]),
    ("X[1]", [("index", (1,))]),
    ("X[:, 0]", [("index", (("slice", None, None, None), 0))]),
    ("X[i, j]", [("index", (("input", "i"), ("input", "j")))]),
    ("X[1, -2]", [("index", (1, -2))]),
    ("X[1:3]", [("index", (("slice", 1, 3, None),))]),
    ("X[::-1, 1:]", [("index", (("slice", None, None, -1), ("slice", 1, None, None)))]),
    ("S[arange(4), y]", [("index", (("arange", 4), ("input", "y")))]),
    ("log_softmax(S)[arange(4), y]",
     [("log_softmax", None), ("index", (("arange", 4), ("input", "y")))]),
    ("X[0][1]", [("index", (0,)), ("index", (1,))]),
    ("(a * s)[0]", [("mul", None), ("index", (0,))]),
    ("W.T[0]", [("transpose", None), ("index", (0,))]),
    ("-s[y]", [("index", (("input", "y"),)), ("mul_c", -1.0)]),
    ("2 ** s[0]", [("index", (0,)), ("rpow_c", 2.0)]),
])
def test_written_forms_make_these_gates(expression: str, expected: list[tuple[str, object]]) -> None:
    assert gates(expression) == expected


def test_an_index_gate_is_drawn_where_its_bracket_is() -> None:
    graph = backviz.parse("log_softmax(S)[arange(4), y]")
    index = graph.gates[-1]
    assert index.column == 14 and index.label == "[arange(4), y]"
    assert graph.variables == ("S", "y")


@pytest.mark.parametrize(("expression", "expected"), [
    ("sum(X.T @ W)", lambda X, W, s, y: np.sum(X.T @ W)),
    ("sum(X, axis=0) @ s", lambda X, W, s, y: X.sum(axis=0) @ s),
    ("mean(X, axis=1)[1]", lambda X, W, s, y: X.mean(axis=1)[1]),
    ("max(X) - min(X, axis=0)[2]", lambda X, W, s, y: X.max() - X.min(axis=0)[2]),
    ("sum(X[:, 0]) + X[1, 2] + sum(X[1:3]) + sum(X[::2, 1:])",
     lambda X, W, s, y: X[:, 0].sum() + X[1, 2] + X[1:3].sum() + X[::2, 1:].sum()),
    ("s[y[0]]", None),
])
def test_values_follow_numpy(expression: str, expected: object) -> None:
    rng = np.random.default_rng(3)
    X, W, s = rng.normal(size=(4, 3)), rng.normal(size=(4, 2)), rng.normal(size=3)
    if expected is None:  # an index of an index: not a form the language has
        with pytest.raises(backviz.ExpressionSyntaxError):
            backviz.parse(expression)
        return
    used = {"X": X, "W": W, "s": s, "y": [1, 0]}
    graph = backviz.parse(expression)
    t = backviz.trace(graph, {k: v for k, v in used.items() if k in graph.variables})
    assert t.value == pytest.approx(expected(X, W, s, [1, 0]))  # type: ignore[operator]


# --- the losses of a first course -------------------------------------------------------------

def test_softmax_cross_entropy_with_an_integer_label() -> None:
    s = np.array([3.2, 5.1, -1.7])
    t = backviz.trace("-log_softmax(s)[y]", s=s, y=0)
    p = np.exp(s) / np.exp(s).sum()
    assert t.value == pytest.approx(-np.log(p[0]))
    np.testing.assert_allclose(t.gradients["s"], p - [1, 0, 0])
    assert set(t.gradients) == {"s"}  # y is an index: no gradient


def test_svm_hinge_loss() -> None:
    s = np.array([3.2, 5.1, -1.7])
    t = backviz.trace("sum(max(0, s - s[y] + 1)) - 1", s=s, y=0)
    assert t.value == pytest.approx(2.9)
    np.testing.assert_allclose(t.gradients["s"], [-1.0, 1.0, 0.0])


def test_batch_mean_cross_entropy_with_per_row_picking() -> None:
    t = backviz.trace("-mean(log_softmax(S)[arange(4), y])", S=S, y=Y)
    p = np.exp(S) / np.exp(S).sum(axis=1, keepdims=True)
    assert t.value == pytest.approx(-np.mean(np.log(p[np.arange(4), Y])))
    onehot = np.eye(3)[Y]
    np.testing.assert_allclose(t.gradients["S"], (p - onehot) / 4)


def test_normalisation_by_the_column_means() -> None:
    X = S
    t = backviz.trace("l2(X - mean(X, axis=0))", X=X)
    centred = X - X.mean(axis=0)
    assert t.value == pytest.approx(np.sum(centred**2))
    np.testing.assert_allclose(t.gradients["X"], 2 * centred)


# --- bad indexes and keywords: one message, the caret at the bracket --------------------------

@pytest.mark.parametrize(("expression", "values", "error", "message"), [
    ("s[y]", {"s": [1.0, 2.0], "y": 1.5}, backviz.InvalidIndexError,
     "s[y]: the index y must hold integers, and it holds 1.5 (column 2)\n  s[y]\n   ^"),
    ("sum(s[y])", {"s": [1.0, 2.0], "y": [0, 2]}, backviz.InvalidIndexError,
     "s[y]: index 2 is out of bounds for axis 0 with size 2 (column 6)\n  sum(s[y])\n       ^"),
    ("s[5]", {"s": [1.0, 2.0]}, backviz.InvalidIndexError,
     "s[5]: index 5 is out of bounds for axis 0 with size 2 (column 2)\n  s[5]\n   ^"),
    ("s[1.5]", {"s": [1.0, 2.0]}, backviz.InvalidIndexError,
     "the index 1.5 is not a whole number (column 2)\n  s[1.5]\n   ^"),
    ("s[0, 1]", {"s": [1.0, 2.0]}, backviz.InvalidIndexError,
     "s[0, 1]: a vector (2,) has 1 axis, and [0, 1] indexes 2 (column 2)\n  s[0, 1]\n   ^"),
    ("sum(S[arange(4), y])", {"S": S, "y": [0, 1, 3, 2]}, backviz.InvalidIndexError,
     "S[arange(4), y]: index 3 is out of bounds for axis 1 with size 3 (column 6)"),
    ("sum(S[arange(5), y])", {"S": S, "y": [0, 1, 2, 2, 1]}, backviz.InvalidIndexError,
     "S[arange(5), y]: index 4 is out of bounds for axis 0 with size 4 (column 6)"),
    ("3[0] * x", {"x": 1.0}, backviz.InvalidIndexError,
     "a number cannot be indexed (column 2)\n  3[0] * x\n   ^"),
    ("sum(X, axis=2)", {"X": S}, backviz.ShapeError,
     "sum(X, axis=2): X is a matrix (4, 3), which has no axis 2 (its axes are 0 and 1, or -2 "
     "and -1) (column 1)\n  sum(X, axis=2)\n  ^"),
    ("sum(X, axis=x)", {}, backviz.ExpressionSyntaxError,
     "axis= takes a whole number, such as axis=0 or axis=-1, or a tuple of them, axis=(0, 1) "
     "(column 13)"),
    ("exp(X, axis=0)", {}, backviz.ExpressionSyntaxError, "exp() takes no keyword axis="),
    ("max(a, b, axis=0)", {}, backviz.ExpressionSyntaxError,
     "max() with 2 arguments takes no keyword axis= (column 11)"),
    ("sum(X, axis=0, 1)", {}, backviz.ExpressionSyntaxError,
     "a positional argument after a keyword argument: keywords come last, as in Python "
     "(column 16)"),
    ("sum(X, keepdims=1)", {}, backviz.ExpressionSyntaxError,
     "keepdims= takes True or False (column 17)"),
    ("exp(X, keepdims=True)", {}, backviz.ExpressionSyntaxError,
     "exp() takes no keyword keepdims= (column 8)"),
    ("softmax(X, keepdims=True)", {}, backviz.ExpressionSyntaxError,
     "softmax() takes no keyword keepdims= (it takes axis=) (column 12)"),
    ("sum(X, axis=0, axis=1)", {}, backviz.ExpressionSyntaxError,
     "axis= is given twice (column 16)"),
    ("arange(3) @ x", {}, backviz.ExpressionSyntaxError,
     "arange(n) is only for indexing: it gives the row numbers of S[arange(N), y] (column 1)"),
    ("S[arange(1.5), y]", {}, backviz.ExpressionSyntaxError,
     "arange(n) takes one positive whole number, the number of rows, or a name given one "
     "(N = X.shape[0]) (column 3)"),
    ("s[", {}, backviz.ExpressionSyntaxError, "this '[' is never closed (column 2)"),
    ("s[1 2]", {}, backviz.ExpressionSyntaxError, "expected ',' or ']' in the index"),
    ("s[exp]", {}, backviz.ExpressionSyntaxError, "unexpected 'exp' in an index"),
    ("W.X", {}, backviz.ExpressionSyntaxError, "unknown attribute .X: a value has .T, .shape"),
])
def test_bad_index_or_keyword(expression: str, values: dict[str, object],
                              error: type[Exception], message: str) -> None:
    with pytest.raises(error) as info:
        backviz.trace(expression, values)
    assert message in str(info.value)
    assert "Traceback" not in str(info.value)


# --- the figure and the command -------------------------------------------------------------

def test_an_index_input_is_drawn_as_one_without_a_gradient() -> None:
    t = backviz.trace("-log_softmax(s)[y]", s=[3.2, 5.1, -1.7], y=0)
    dot = t.to_dot()
    assert ">index</FONT>" in dot  # y is labelled as an index input
    assert dot.count("style=dashed") == 2  # both halves of its edge
    fig = svggeom.read(t.to_svg())
    edges = svggeom.labelled_edges(fig)
    index_edge = [k for k, (green, red) in edges.items() if green == ["0"]]
    assert len(index_edge) == 1 and edges[index_edge[0]][1] == []  # its value 0, no red number
    assert svggeom.problems(fig) == []


def test_a_reduction_along_an_axis_shows_its_result_shape() -> None:
    t = backviz.trace("l2(X - mean(X, axis=0))", X=S)
    dot = t.to_dot()
    # The gate is μ₀ in its circle, mean axis=0 in the key under the figure.
    assert '"μ₀"' in dot and "μ₀: mean axis=0" in dot and ">shape (3,)</FONT>" in dot
    assert svggeom.problems(svggeom.read(t.to_svg())) == []


def test_the_command_writes_the_loss_and_skips_the_index(tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    loss = ["--s", "[3.2, 5.1, -1.7]", "--y", "0", "--", "-log_softmax(s)[y]"]
    result = runner.invoke(cli, ["-o", "-", "-f", "json", *loss])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["value"] == pytest.approx(2.0404, abs=1e-4)
    assert set(data["gradients"]) == {"s"}
    result = runner.invoke(cli, ["--check", "--explain", *loss])
    assert result.exit_code == 0, result.output
    assert "  s  largest relative error" in result.stdout
    assert "  y  " not in result.stdout
    assert "(-1.00) placed at [y] in zeros(3) = [-1.00, 0.00, 0.00]" in result.stdout
    result = runner.invoke(cli, ["s[y]", "--s", "[1, 2]", "--y", "0.5"])
    assert result.exit_code == 2
    assert result.stderr == ("Error: s[y]: the index y must hold integers, and it holds 0.5 "
                             "(column 2)\n  s[y]\n   ^\n")


# --- in programs: named values, example values and gates of your own -------------------------

def test_a_loss_as_a_program_with_example_values() -> None:
    t = backviz.trace("S = [[1.0, 2.0], [0.5, -1.0], [0.0, 0.3]]\n"
                      "y = [1, 0, 1]\n"
                      "logp = log_softmax(S)\n"
                      "loss = -mean(logp[arange(3), y])")
    S_ = np.array([[1.0, 2.0], [0.5, -1.0], [0.0, 0.3]])
    p = np.exp(S_) / np.exp(S_).sum(axis=1, keepdims=True)
    assert t.value == pytest.approx(-np.mean(np.log(p[np.arange(3), [1, 0, 1]])))
    np.testing.assert_allclose(t.gradients["S"], (p - np.eye(2)[[1, 0, 1]]) / 3)
    assert set(t.gradients) == {"S"}
    assert [n.label for n in t.graph.gates] == ["log_softmax", "[arange(3), y]", "mean", "*-1"]


def test_an_index_parameter_of_a_user_gate() -> None:
    t = backviz.trace("pick(v, i) = v[i]\ns = [1.0, 2.0, 3.0]\nk = 1\n"
                      "f = pick(s, k) * pick(s, 2) + pick(s, k + 1)")
    assert t.value == 2.0 * 3.0 + 3.0
    np.testing.assert_array_equal(t.gradients["s"], [0.0, 3.0, 3.0])
    # the index is named as the call wrote it; a number goes into the index itself
    assert [n.label for n in t.graph.gates if n.op == "index"] == ["[k]", "[2]", "[k+1]"]
    with pytest.raises(backviz.InvalidIndexError, match=r"the index 0\.5 is not a whole number"):
        backviz.parse("pick(v, i) = v[i]\nf = pick(s, 0.5)")


def test_transposes_and_axes_in_a_program() -> None:
    t = backviz.trace("X = [[1.0, 2.0], [3.0, 4.0]]\nmu = mean(X, axis=0)\nXc = X - mu\n"
                      "f = np.sum(Xc.T @ Xc)")
    X = np.array([[1.0, 2.0], [3.0, 4.0]])
    Xc = X - X.mean(axis=0)
    assert t.value == pytest.approx(np.sum(Xc.T @ Xc))
    assert [n.label for n in t.graph.gates] == ["mean axis=0", "-", "T", "*", "sum"]


def test_explain_names_the_matrix_product_as_the_figure_draws_it() -> None:
    from backviz.teach import explain

    W, x = np.array([[1.0, 2.0], [3.0, 4.0]]), np.array([1.0, -1.0])
    gates_written = [line.split()[0] for line in explain(backviz.trace("sum((W@x) * (W@x))",
                                                                       W=W, x=x))[2:-1]]
    assert gates_written == ["sum", "*", "@", "@"]
    alone = [line.split()[0] for line in explain(backviz.trace("l2(W@x)", W=W, x=x))[2:-1]]
    assert alone == ["L2", "*"]  # figure 5: the slides' *
