"""numpy as a first course writes it: each program is real numpy, run three ways.

The same text is (1) traced by backviz, (2) run by Python with numpy itself, whose value
backviz must give, and (3) run by Python with HIPS autograd's numpy, whose gradients backviz
must give; then backviz's gradients are checked against central differences of its own
forward pass. A program that assigns to an index (which autograd cannot differentiate) is
checked against central differences and against numpy alone.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import autograd.numpy as anp
import numpy as np
import pytest
from autograd import grad
from autograd.extend import VSpace
from autograd.numpy.numpy_boxes import ArrayBox
from autograd.numpy.numpy_vspaces import ArrayVSpace

import backviz
from backviz.gallery import load

RNG = np.random.default_rng(19)
X = RNG.normal(size=(4, 3))
W = RNG.normal(size=(3, 5))
V = RNG.normal(size=(3,))
YC = np.array([2, 0, 2, 1])  # a class per row of X, one repeated
VALUES: dict[str, Any] = {"X": X, "W": W, "v": V, "yc": YC, "reg": 0.1, "a": 0.7, "b": -1.3,
                          "M": RNG.normal(size=(4, 3)), "delta": 0.8}

# Programs whose last statement assigns ``loss``, a number.
PROGRAMS = [
    # 1. products and methods
    "loss = np.sum(X.dot(W))",
    "loss = np.dot(X, W).sum()",
    "loss = np.matmul(X, v).mean()",
    "loss = np.sum(X.dot(W).max(axis=1, keepdims=True) * X)",
    "loss = X.sum(axis=0).dot(v)",
    "loss = np.sum(X.mean(axis=-1, keepdims=True) - X)",
    "loss = X.min(axis=0).sum() + X.max()",
    "loss = X.var() + X.std(axis=0).sum()",
    "loss = np.sum(X.var(axis=1, keepdims=True) * X)",
    "loss = np.sum(X.sum(axis=(0, 1), keepdims=True) * X)",
    "loss = np.sum(np.mean(X, axis=-2) * v)",
    "loss = np.max(X, axis=1, keepdims=True).sum()",
    "loss = np.sum(X, keepdims=True, axis=0).dot(v).sum()",
    "loss = np.sum(X * np.sum(X, axis=1, keepdims=True))",
    "loss = -X.sum(axis=1).dot(X.mean(axis=1))",
    # 2. new functions, broadcasting and numbers
    "loss = np.sum(np.var(X, axis=0)) + np.std(X)",
    "loss = np.sum(np.square(X - v))",
    "loss = np.sum(np.power(X, 2)) + pow(a, 3)",
    "loss = np.sum(np.power(np.abs(X) + 1, v))",
    "loss = np.sum(np.maximum(0, X - v)) + np.sum(np.minimum(X, 0.5))",
    "loss = np.sum(np.maximum(X, M)) + np.sum(np.minimum(M, v))",
    "loss = np.sum(np.clip(X, -0.5, 0.5) * M)",
    "loss = np.linalg.norm(v) + np.linalg.norm(X)",
    "loss = np.sum(np.log1p(np.abs(X))) + np.sum(np.expm1(X * 0.5))",
    # 3. shapes as numbers
    "N = X.shape[0]\nloss = np.sum(X) / N",
    "loss = np.sum(X) / X.size + X.ndim * a + len(X) * b",
    "N, D = X.shape\nloss = np.sum(X.reshape(D, N).T * M) / (N * D)",
    "N = X.shape[0]\nD = X.shape[1]\nloss = np.sum(X.reshape(N * D, -1)[:, 0] * 2) / D",
    "loss = np.sum(X.reshape(-1) * X.flatten()) + X.ravel().dot(X.ravel())",
    "loss = np.sum(X.reshape(3, 4) @ X)",
    "loss = np.sum(X.transpose() @ X) + np.sum(X.T.copy())",
    "c = X[np.arange(4), yc]\nloss = np.sum(X - c[:, np.newaxis])",
    "c = X[:, 1]\nloss = np.sum(c[:, None] * X)",
    "N = X.shape[0]\nloss = np.sum(np.log(np.abs(M[np.arange(N), yc]) + 1)) / N",
    "loss = np.sum(X[..., 1]) + np.sum(M[1, ...])",
    # the forward passes of a first course: layer norm, an attention head, an RNN step,
    # a clipped cross-entropy
    "mu = X.mean(axis=-1, keepdims=True)\nvar = X.var(axis=-1, keepdims=True)\n"
    "xh = (X - mu) / np.sqrt(var + 1e-5)\nloss = np.sum((v * xh + a) * M)",
    "d = X.shape[-1]\nscores = X @ M.T / np.sqrt(d)\n"
    "w = np.exp(scores - scores.max(axis=-1, keepdims=True))\nw /= w.sum(axis=-1, keepdims=True)"
    "\nloss = np.sum((w @ X) ** 2)",
    "h = np.tanh(np.dot(X, v) + a)\nloss = np.sum(h * h) * 0.5",
    "p = np.clip(1 / (1 + np.exp(-X)), 1e-7, 1 - 1e-7)\n"
    "loss = -np.mean(M * np.log(p) + (1 - M) * np.log(1 - p))",
    # 4. masks
    "loss = np.sum((X > 0) * X)",
    "loss = np.sum(np.where(X > 0, X, 0.1 * X))",
    "r = X - M\nloss = np.sum(np.where(np.abs(r) < delta, 0.5 * r ** 2, delta * (np.abs(r) - 0.5 * delta)))",
    "loss = np.sum(np.where(X <= v, X, 0)) + np.sum(np.where(0 >= X, 1, M))",
    "loss = np.sum(np.where(1 > 0, X, 0.1 * X)) + np.sum(np.where(0 > 1, 0.5 * X, 2 * X))",
    "loss = np.sum((X != M) * X + (X == X) * M)",
]

# Index assignment: autograd cannot differentiate it, numpy and central differences can.
ASSIGNING = [
    "m = X * 1\nm[np.arange(4), yc] = 0\nloss = np.sum(m * M)",
    "m = X * 2\nm[yc, 1] = v[0] * 3\nloss = np.sum(m * M)",  # repeated rows: the last one stays
    "m = X + 0\nm[:, 0] = v[:3].sum()\nm[0] += v\nloss = np.sum(m ** 2)",
    "m = X - 1\nm[yc] += a * v\nloss = np.sum(m * M)",  # += adds once at a repeated index
    "m = np.zeros_like(X)\nm[np.arange(4), yc] = X[np.arange(4), yc]\nloss = np.sum(m * M)",
    "m = X * a\nm[1, ...] = b\nloss = np.sum(m * M)",
]


# autograd's boxed arrays lack two methods of numpy's arrays: the same functions, added.
ArrayBox.dot = lambda self, other: anp.dot(self, other)  # type: ignore[attr-defined]
ArrayBox.copy = lambda self: self * 1.0  # type: ignore[attr-defined]


class _Held(np.ndarray):
    """An input held fixed while autograd differentiates another: numpy's own X.dot(W)
    would make an array of autograd's boxes of W, so its dot is autograd's."""

    def dot(self, other: Any) -> Any:  # type: ignore[override]
        return anp.dot(np.asarray(self), other)


VSpace.register(_Held, ArrayVSpace)  # its gradients are numpy arrays like any other
ArrayBox.register(_Held)


def _run(program: str, module: Any, values: dict[str, Any]) -> Any:
    """The program run by Python with ``module`` as np (test code, not user input)."""
    if module is anp:
        values = {k: v.view(_Held) if type(v) is np.ndarray else v for k, v in values.items()}
    scope: dict[str, Any] = {"np": module, **values}
    exec(program, scope)  # the tests' own programs, never user text
    return scope["loss"]


def _central(graph: backviz.Graph, values: dict[str, Any], name: str, h: float = 1e-6) -> Any:
    x = np.array(values[name], dtype=np.float64)
    out = np.zeros_like(x)
    for idx in np.ndindex(x.shape):
        plus, minus = x.copy(), x.copy()
        plus[idx] += h
        minus[idx] -= h
        out[idx] = (backviz.forward(graph, {**values, name: plus[()]})[-1]
                    - backviz.forward(graph, {**values, name: minus[()]})[-1]) / (2 * h)
    return out


def _checked(program: str) -> tuple[backviz.Trace, dict[str, Any]]:
    graph = backviz.parse(program)
    values = {name: VALUES[name] for name in graph.variables}
    t = backviz.trace(graph, values)
    assert t.value == pytest.approx(float(_run(program, np, values)), rel=1e-12, abs=1e-12)
    for name, got in t.gradients.items():
        np.testing.assert_allclose(got, _central(graph, values, name), rtol=1e-5, atol=1e-6,
                                   err_msg=f"d/d{name} (central differences)")
    return t, values


# A threshold such as v in np.where(X <= v, X, 0) has the gradient 0, which autograd gives
# with this warning: the gradient is right, and checked like the others.
@pytest.mark.filterwarnings("ignore:Output seems independent of input:UserWarning")
@pytest.mark.parametrize("program", PROGRAMS)
def test_numpy_programs_against_numpy_and_autograd(program: str) -> None:
    t, values = _checked(program)
    for name in t.gradients:
        others = {k: v for k, v in values.items() if k != name}
        expected = grad(lambda x, others=others, name=name: _run(
            program, anp, {**others, name: x}))(np.array(values[name], dtype=np.float64))
        np.testing.assert_allclose(t.gradients[name], expected, rtol=1e-9, atol=1e-10,
                                   err_msg=f"d/d{name} (autograd)")


@pytest.mark.parametrize("program", ASSIGNING)
def test_index_assignment_against_numpy_and_central_differences(program: str) -> None:
    t, _ = _checked(program)
    assert "X" in t.gradients


def test_index_assignment_zeroes_the_replaced_places() -> None:
    t = backviz.trace("m = X * 1\nm[np.arange(4), yc] = 0\nloss = np.sum(m)",
                      X=X, yc=YC)
    expected = np.ones_like(X)
    expected[np.arange(4), YC] = 0
    np.testing.assert_array_equal(t.gradients["X"], expected)
    # A repeated index: numpy writes both, and the last write stays; only it has a gradient.
    t = backviz.trace("m = x * 1\nm[i] = v * 1\nloss = np.sum(m * w)",
                      x=[1.0, 2.0, 3.0], i=[1, 1], v=[5.0, 7.0], w=[1.0, 10.0, 100.0])
    assert t.value == 1 + 70 + 300
    np.testing.assert_array_equal(t.gradients["v"], [0.0, 10.0])
    np.testing.assert_array_equal(t.gradients["x"], [1.0, 0.0, 100.0])


def test_masks_have_no_gradient() -> None:
    t = backviz.trace("loss = np.sum((x > y) * x)", x=[1.0, -2.0], y=[0.0, 0.0])
    np.testing.assert_array_equal(t.gradients["x"], [1.0, 0.0])
    np.testing.assert_array_equal(t.gradients["y"], [0.0, 0.0])
    assert [g.op for g in t.graph.gates][:1] == ["compare"]


@pytest.mark.parametrize(("program", "ops"), [
    ("np.sum(X.dot(W))", ["matmul", "sum"]),
    ("np.sum(np.square(X))", ["pow_c", "sum"]),
    ("np.sum(np.maximum(0, X))", ["max_c", "sum"]),
    ("np.sum(X.copy())", ["sum"]),
    ("np.sum(X) / X.shape[0]", ["sum", "shape", "div"]),
    ("np.sum(X > 0)+np.sum(X)", ["compare_c", "sum", "sum", "add"]),
])
def test_numpy_spellings_are_the_gates_of_the_table(program: str, ops: list[str]) -> None:
    assert [g.op for g in backviz.parse(program).gates] == ops


def test_kinks_follow_pytorch() -> None:
    # clip passes the gradient at its bounds (torch.clamp), norm sends 0 at 0
    t = backviz.trace("np.sum(np.clip(x, -1, 1))", x=[-2.0, -1.0, 0.0, 1.0, 2.0])
    np.testing.assert_array_equal(t.gradients["x"], [0, 1, 1, 1, 0])
    assert backviz.trace("np.linalg.norm(x)", x=[0.0, 0.0]).gradients["x"].tolist() == [0, 0]
    t = backviz.trace("np.sum(np.maximum(x, 0))", x=[0.0])
    assert t.gradients["x"].tolist() == [0.5]


def test_example_values_as_numpy_writes_them() -> None:
    t = backviz.trace("x = np.array(2.0)\nz = np.zeros((2, 3))\no = np.ones(3)\n"
                      "loss = x * np.sum(z + o)")
    assert t.value == 12.0
    assert t.inputs["z"].shape == (2, 3)


# --- the gallery's numpy: the same text, run by numpy, gives the same numbers -------------

GALLERY = Path(__file__).parent.parent / "expressions"


@pytest.mark.parametrize("name", ["cs231n_softmax_loss", "cs231n_svm_loss", "batch_norm_numpy"])
def test_the_pasted_gallery_losses_are_what_numpy_computes(name: str) -> None:
    figure = load(GALLERY / f"{name}.toml")
    values = {k: np.array(v) if isinstance(v, list) else v for k, v in figure.values.items()}
    t = backviz.trace(figure.expression, values)
    assert t.warnings == ()
    assert t.value == pytest.approx(float(_run(figure.expression, np, values)), rel=1e-14)
    graph = t.graph
    floats = {k: np.asarray(v, dtype=np.float64) for k, v in values.items()}
    for var, got in t.gradients.items():
        np.testing.assert_allclose(got, _central(graph, floats, var), rtol=1e-5, atol=1e-7,
                                   err_msg=f"d/d{var} (central differences)")
        if "] = " in figure.expression:  # index assignment: autograd cannot take it
            continue
        others = {k: v for k, v in values.items() if k != var}
        expected = grad(lambda x, others=others, var=var: _run(
            figure.expression, anp, {**others, var: x}))(floats[var])
        np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-12,
                                   err_msg=f"d/d{var} (autograd)")


def test_a_constant_condition_leaves_the_other_branch_out() -> None:
    """np.where(1 > 0, W, 0.1 * W) is W: the branch 0.1 * W, made before the condition is
    known to be a number, is left out of the graph (its gradient was None: a crash)."""
    t = backviz.trace("np.sum(np.where(1 > 0, W, 0.1 * W))", W=[1.0, 2.0])
    assert [n.op for n in t.graph.nodes] == ["input", "sum"]
    t = backviz.trace("np.sum(np.where(0 > 1, M, 2 * X))", X=[1.0, 2.0])
    assert t.graph.variables == ("X",)
    np.testing.assert_array_equal(t.gradients["X"], [2.0, 2.0])


def test_numpy_names_may_name_values_as_in_python() -> None:
    t = backviz.trace("var = x.var()\nnorm = np.linalg.norm(x)\nloss = var * norm + np.var(x)",
                      x=[1.0, 2.0, 4.0])
    x = np.array([1.0, 2.0, 4.0])
    assert t.value == pytest.approx(np.var(x) * np.linalg.norm(x) + np.var(x), rel=1e-14)
    assert backviz.trace("len * 2", len=3.0).gradients == {"len": 2.0}  # an input named len
    with pytest.raises(backviz.ExpressionSyntaxError, match="'exp' is a function of backviz"):
        backviz.parse("exp = 3\nexp")
