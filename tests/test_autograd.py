"""Random expressions, checked against central differences and against HIPS autograd.

hypothesis builds a random tree of gates over scalars, vectors and a matrix. The same
tree is written twice: as backviz expression text, and as an autograd.numpy function
written here (not taken from backviz's operator table), so autograd differentiates it
independently. The tree is built bottom-up with the values known, so every gate is
chosen only where its inputs are away from kinks and domain edges.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import autograd.numpy as anp
import numpy as np
import pytest
from autograd import grad
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import backviz

Env = dict[str, Any]

SHAPES: dict[str, tuple[int, ...]] = {"a": (), "b": (), "c": (), "u": (3,), "v": (3,), "M": (3, 3)}
MARGIN = 0.05  # distance kept from every kink and domain edge
BOUND = 1e3  # every intermediate value stays below this, so differences stay accurate


@dataclass(frozen=True)
class Expr:
    text: str
    fn: Callable[[Env], Any]  # the same function in autograd.numpy
    value: Any  # its value at the example's point, in plain numpy
    leaf: bool = False

    @property
    def wrapped(self) -> str:
        return self.text if self.leaf else f"({self.text})"


def sigmoid(x: Any) -> Any:
    # Deliberately not 1/(1+exp(-x)), backviz's formula: the tanh form is the same function.
    return 0.5 * (anp.tanh(0.5 * x) + 1.0)


# name -> (autograd function, when its input is allowed)
UNARY: dict[str, tuple[Callable[[Any], Any], Callable[[Any], bool]]] = {
    "exp": (anp.exp, lambda x: np.max(x) < 4),
    "log": (anp.log, lambda x: np.min(x) > 0.1),
    "sqrt": (anp.sqrt, lambda x: np.min(x) > 0.1),
    "abs": (anp.abs, lambda x: np.min(np.abs(x)) > MARGIN),
    "relu": (lambda x: anp.where(x > 0, x, 0.0), lambda x: np.min(np.abs(x)) > MARGIN),
    "sin": (anp.sin, lambda x: True),
    "cos": (anp.cos, lambda x: True),
    "tanh": (anp.tanh, lambda x: True),
    "sigmoid": (sigmoid, lambda x: True),
    "sum": (anp.sum, lambda x: True),
    "mean": (anp.mean, lambda x: True),
    "l2": (lambda x: anp.sum(x**2), lambda x: True),
    "-": (lambda x: -x, lambda x: True),
}

# symbol or function -> (autograd function, when its inputs are allowed)
BINARY: dict[str, tuple[Callable[[Any, Any], Any], Callable[[Any, Any], bool]]] = {
    "+": (lambda x, y: x + y, lambda x, y: True),
    "-": (lambda x, y: x - y, lambda x, y: True),
    "*": (lambda x, y: x * y, lambda x, y: True),
    "/": (lambda x, y: x / y, lambda x, y: np.min(np.abs(y)) > 0.1),
    "**": (anp.power, lambda x, y: np.min(x) > 0.1),
    "^": (anp.power, lambda x, y: np.min(x) > 0.1),
    "max": (anp.maximum, lambda x, y: np.min(np.abs(np.subtract(x, y))) > MARGIN),
    "min": (anp.minimum, lambda x, y: np.min(np.abs(np.subtract(x, y))) > MARGIN),
    "@": (anp.matmul, lambda x, y: np.ndim(x) > 0 and np.ndim(y) > 0 and np.shape(x)[-1] == np.shape(y)[0]),
}

CONSTANTS = [2.0, 0.5, 3.0, -1.0, 1.5]


def bounded(value: Any) -> bool:
    return bool(np.all(np.isfinite(value)) and np.max(np.abs(value)) < BOUND)


def leaf(name: str, env: Env) -> Expr:
    return Expr(name, lambda e: e[name], env[name], leaf=True)


def unary(name: str, x: Expr) -> Expr:
    f, _ = UNARY[name]
    text = f"-{x.wrapped}" if name == "-" else f"{name}({x.text})"
    return Expr(text, lambda e: f(x.fn(e)), f(x.value))


def binary(op: str, x: Expr, y: Expr) -> Expr:
    f, _ = BINARY[op]
    text = f"{op}({x.text}, {y.text})" if op in ("max", "min") else f"{x.wrapped} {op} {y.wrapped}"
    return Expr(text, lambda e: f(x.fn(e), y.fn(e)), f(x.value, y.value))


def with_constant(op: str, c: float, x: Expr, left: bool) -> Expr:
    """A binary operation with one constant operand: the parser's constant-carrying gates."""
    f, _ = BINARY[op]
    const = Expr(f"({c:g})" if c < 0 else f"{c:g}", lambda e: c, np.float64(c), leaf=True)
    a, b = (const, x) if left else (x, const)
    text = f"{op}({a.text}, {b.text})" if op in ("max", "min") else f"{a.wrapped} {op} {b.wrapped}"
    return Expr(text, lambda e: f(a.fn(e), b.fn(e)), f(a.value, b.value))


@st.composite
def points(draw: st.DrawFn) -> Env:
    """Values with |x| in [0.2, 2] for every variable."""
    magnitude = st.floats(0.2, 2.0)
    env = {}
    for name, shape in SHAPES.items():
        n = int(np.prod(shape))
        mags = draw(st.lists(magnitude, min_size=n, max_size=n))
        signs = draw(st.lists(st.sampled_from([-1.0, 1.0]), min_size=n, max_size=n))
        x = np.array(mags) * np.array(signs)
        env[name] = np.float64(x[0]) if shape == () else x.reshape(shape)
    return env


def build(draw: st.DrawFn, env: Env, depth: int) -> Expr:
    kind = draw(st.sampled_from(["leaf", "unary", "binary", "const"])) if depth > 0 else "leaf"
    if kind == "leaf":
        return leaf(draw(st.sampled_from(sorted(SHAPES))), env)
    if kind == "unary":
        x = build(draw, env, depth - 1)
        names = [n for n, (f, ok) in UNARY.items() if ok(x.value) and bounded(f(x.value))]
        return unary(draw(st.sampled_from(names)), x) if names else x
    if kind == "binary":
        x = build(draw, env, depth - 1)
        y = build(draw, env, depth - 1)
        ops = [op for op, (f, ok) in BINARY.items()
               if ok(x.value, y.value) and bounded(f(x.value, y.value))]
        return binary(draw(st.sampled_from(ops)), x, y) if ops else x
    x = build(draw, env, depth - 1)
    c = draw(st.sampled_from(CONSTANTS))
    left = draw(st.booleans())
    choices = []
    for op, (f, ok) in BINARY.items():
        if op == "@":
            continue  # a constant operand of @ is an error, tested in test_parse
        a, b = (np.float64(c), x.value) if left else (x.value, np.float64(c))
        if ok(a, b) and bounded(f(a, b)):
            choices.append(op)
    return with_constant(draw(st.sampled_from(choices)), c, x, left) if choices else x


@st.composite
def expressions(draw: st.DrawFn) -> tuple[Expr, Env]:
    env = draw(points())
    expr = build(draw, env, draw(st.integers(1, 5)))
    if np.ndim(expr.value) != 0:
        expr = unary(draw(st.sampled_from(["sum", "mean", "l2"])), expr)
    return expr, env


def used(graph: backviz.Graph, env: Env) -> Env:
    return {name: env[name] for name in graph.variables}


def central_differences(graph: backviz.Graph, env: Env, h: float = 1e-6) -> Env:
    out = {}
    for name, value in env.items():
        arr = np.array(value, dtype=np.float64)
        g = np.zeros_like(arr)
        for idx in np.ndindex(arr.shape):
            vals = []
            for step in (h, -h):
                moved = arr.copy()
                moved[idx] += step
                point = {**env, name: moved[()] if moved.ndim == 0 else moved}
                vals.append(float(backviz.forward(graph, point)[-1]))
            g[idx] = (vals[0] - vals[1]) / (2 * h)
        out[name] = g
    return out


def check(expr: Expr, env: Env) -> None:
    graph = backviz.parse(expr.text)
    values = used(graph, env)
    t = backviz.trace(graph, values)
    assert t.warnings == ()
    assert t.value == pytest.approx(float(expr.value), rel=1e-12, abs=1e-12)

    # (b) HIPS autograd on the same tree, written with autograd.numpy.
    expected = grad(lambda e: expr.fn(e))(values)
    for name in values:
        got = t.gradients[name]
        assert np.shape(got) == np.shape(values[name]), name
        np.testing.assert_allclose(got, expected[name], rtol=1e-8, atol=1e-10,
                                   err_msg=f"d/d{name} of {expr.text} (autograd)")

    # (a) central differences of backviz's own forward pass.
    numeric = central_differences(graph, values)
    for name in values:
        got = np.asarray(t.gradients[name])
        scale = max(1.0, float(np.max(np.abs(got))))
        np.testing.assert_allclose(got, numeric[name], rtol=1e-5, atol=1e-6 * scale,
                                   err_msg=f"d/d{name} of {expr.text} (central differences)")


@settings(max_examples=150, deadline=timedelta(seconds=5),
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(expressions())
def test_random_expressions(case: tuple[Expr, Env]) -> None:
    check(*case)


# Fixed cases through the same two checks: the slides, broadcasting, branches.
FIXED = [
    "(a+b)*c",
    "1/(1+exp(-(a*b+c*b+a)))",
    "sigmoid(a*b + c)",
    "2*(a*b + max(c, a))",
    "l2(M@u)",
    "sum(relu(M@u + v))",
    "sum(a*M + u)",
    "mean(u*v - M) / b",
    "a*a*a + sin(a)*a",
    "u@v + v@M@u",
    "sum(exp(tanh(M)) ** 2) - log(sqrt(abs(c)))",
    "sum(min(u, 0.5) + max(0.5, v))",
    "3 - a/2 + 2**b - 1/c + (a*b)**2",
]


@pytest.mark.parametrize("text", FIXED)
def test_fixed_expressions(text: str) -> None:
    env = {"a": np.float64(0.7), "b": np.float64(-1.3), "c": np.float64(1.9),
           "u": np.array([0.3, -1.1, 1.4]), "v": np.array([-0.4, 0.9, 1.2]),
           "M": np.array([[0.5, -1.2, 0.8], [1.5, 0.2, -0.6], [-0.9, 1.1, 0.35]])}
    graph = backviz.parse(text)
    # The autograd function comes from evaluating the same text with autograd.numpy in
    # scope: a test-only shortcut (backviz itself never evaluates text).
    scope = {"exp": anp.exp, "log": anp.log, "sqrt": anp.sqrt, "abs": anp.abs, "sin": anp.sin,
             "cos": anp.cos, "tanh": anp.tanh, "sigmoid": sigmoid, "sum": anp.sum, "mean": anp.mean,
             "relu": lambda x: anp.where(x > 0, x, 0.0), "l2": lambda x: anp.sum(x**2),
             "max": anp.maximum, "min": anp.minimum}
    code = compile(text.replace("^", "**"), "<expression>", "eval")
    fn = lambda e: eval(code, {"__builtins__": {}}, {**scope, **e})
    check(Expr(text, fn, fn(used(graph, env))), env)
