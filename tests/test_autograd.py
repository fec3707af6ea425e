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
from handbuilt import build as build_graph
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


def _lse(x: Any, axis: int) -> Any:
    return anp.log(anp.sum(anp.exp(x), axis=axis))


def _softmax(x: Any, axis: int) -> Any:
    e = anp.exp(x)
    return e / anp.sum(e, axis=axis, keepdims=True)


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
    "transpose": (anp.transpose, lambda x: True),
    "softmax": (lambda x: _softmax(x, -1), lambda x: np.ndim(x) > 0),
    "log_softmax": (lambda x: anp.log(_softmax(x, -1)), lambda x: np.ndim(x) > 0),
    "logsumexp": (lambda x: _lse(x, -1), lambda x: np.ndim(x) > 0),
    # the forms written with axis=, .T or an index (see WRITTEN)
    "sum0": (lambda x: anp.sum(x, axis=0), lambda x: np.ndim(x) > 0),
    "mean_last": (lambda x: anp.mean(x, axis=-1), lambda x: np.ndim(x) > 0),
    "max_all": (anp.max, lambda x: np.ndim(x) > 0 and _clear_winner(x, None)),
    "min1": (lambda x: anp.min(x, axis=1), lambda x: np.ndim(x) == 2 and _clear_winner(-x, 1)),
    "lse0": (lambda x: _lse(x, 0), lambda x: np.ndim(x) == 2),
    ".T": (anp.transpose, lambda x: True),
    "[0]": (lambda x: x[0], lambda x: np.ndim(x) > 0),
    "[:, -1]": (lambda x: x[:, -1], lambda x: np.ndim(x) == 2),
    "[1:]": (lambda x: x[1:], lambda x: np.ndim(x) > 0),
    "[-1, 0]": (lambda x: x[-1, 0], lambda x: np.ndim(x) == 2),
}
WRITTEN = {"sum0": "sum({}, axis=0)", "mean_last": "mean({}, axis=-1)", "max_all": "max({})",
           "min1": "min({}, axis=1)", "lse0": "logsumexp({}, axis=0)"}
POSTFIX = {".T", "[0]", "[:, -1]", "[1:]", "[-1, 0]"}


def _clear_winner(x: Any, axis: int | None) -> bool:
    """The largest element leads the next one by MARGIN (a tie would split the gradient)."""
    top = np.sort(np.asarray(x), axis=axis)
    top = top.reshape(-1) if axis is None else top
    return bool(np.all(top[..., -1] - top[..., -2] > MARGIN)) if np.shape(top)[-1] > 1 else True

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


def op_fits(x: Any, y: Any) -> bool:
    """The two shapes broadcast together."""
    try:
        np.broadcast_shapes(np.shape(x), np.shape(y))
    except ValueError:
        return False
    return True


def leaf(name: str, env: Env) -> Expr:
    return Expr(name, lambda e: e[name], env[name], leaf=True)


def unary(name: str, x: Expr) -> Expr:
    f, _ = UNARY[name]
    if name == "-":
        text = f"-{x.wrapped}"
    elif name in POSTFIX:
        text = f"{x.wrapped}{name}"
    else:
        text = WRITTEN.get(name, "{}").format(x.text) if name in WRITTEN else f"{name}({x.text})"
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


def build(draw: st.DrawFn, env: Env, depth: int, only: frozenset[str] | None = None) -> Expr:
    """A random tree; ``only`` limits the one-input gates to those names."""
    kind = draw(st.sampled_from(["leaf", "unary", "binary", "const"])) if depth > 0 else "leaf"
    if kind == "leaf":
        return leaf(draw(st.sampled_from(sorted(SHAPES))), env)
    if kind == "unary":
        x = build(draw, env, depth - 1, only)
        names = [n for n, (f, ok) in UNARY.items()
                 if (only is None or n in only) and ok(x.value) and bounded(f(x.value))]
        return unary(draw(st.sampled_from(names)), x) if names else x
    if kind == "binary":
        x = build(draw, env, depth - 1, only)
        y = build(draw, env, depth - 1, only)
        # a slice makes other lengths (M[1:] is 2x3): only shapes that broadcast, or @ them
        fit = op_fits(x.value, y.value)
        ops = [op for op, (f, ok) in BINARY.items()
               if (fit or op == "@") and ok(x.value, y.value) and bounded(f(x.value, y.value))]
        return binary(draw(st.sampled_from(ops)), x, y) if ops else x
    x = build(draw, env, depth - 1, only)
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
def expressions(draw: st.DrawFn, only: frozenset[str] | None = None) -> tuple[Expr, Env]:
    env = draw(points())
    expr = build(draw, env, draw(st.integers(1, 5)), only)
    if np.ndim(expr.value) != 0:
        expr = unary(draw(st.sampled_from(["sum", "mean", "l2"])), expr)
    return expr, env


def used(graph: backviz.Graph, env: Env) -> Env:
    return {name: env[name] for name in graph.variables}


def central_differences(graph: backviz.Graph, env: Env, h: float = 1e-6) -> tuple[Env, Env]:
    """Central differences with steps h and h/2: the estimate at h/2, and how far the two
    estimates disagree, a bound on its error (truncation and rounding alike: on a steep
    composition such as exp(exp(sin(l2(c ** M)))) either reaches 1e-5 of the gradient)."""
    out, spread = {}, {}
    for name, value in env.items():
        arr = np.array(value, dtype=np.float64)
        g, e = np.zeros_like(arr), np.zeros_like(arr)
        for idx in np.ndindex(arr.shape):
            estimates = []
            for step in (h, h / 2):
                vals = []
                for s in (step, -step):
                    moved = arr.copy()
                    moved[idx] += s
                    point = {**env, name: moved[()] if moved.ndim == 0 else moved}
                    vals.append(float(backviz.forward(graph, point)[-1]))
                estimates.append((vals[0] - vals[1]) / (2 * step))
            g[idx], e[idx] = estimates[1], abs(estimates[1] - estimates[0])
        out[name], spread[name] = g, e
    return out, spread


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
    numeric, spread = central_differences(graph, values)
    for name in values:
        got = np.asarray(t.gradients[name])
        scale = max(1.0, float(np.max(np.abs(got))))
        allowed = 1e-5 * np.abs(numeric[name]) + 1e-6 * scale + 2 * spread[name]
        assert np.all(np.abs(got - numeric[name]) <= allowed), (
            f"d/d{name} of {expr.text} (central differences): {got} against {numeric[name]}")


@settings(max_examples=150, deadline=timedelta(seconds=5),
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(expressions())
def test_random_expressions(case: tuple[Expr, Env]) -> None:
    check(*case)


# hypothesis draws the first choices of a list more often: the tensor gates get their own run.
TENSOR_FORMS = frozenset({"transpose", "softmax", "log_softmax", "logsumexp", *WRITTEN, *POSTFIX,
                          "exp", "tanh", "-"})


@settings(max_examples=150, deadline=timedelta(seconds=5),
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(expressions(TENSOR_FORMS))
def test_random_tensor_expressions(case: tuple[Expr, Env]) -> None:
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
    "sum(softmax(M) * M) + logsumexp(u) - log_softmax(v) @ u",
    "sum(transpose(M) @ u * v) + u @ transpose(M) @ v",
    "mean(log_softmax(M @ u + v) * softmax(a * u))",
    # the matrix product's four cases, with transposes written .T
    "sum(M.T @ u * v)", "u @ M.T @ v", "sum(M.T @ M * M)", "sum(M @ M.T - M.T)", "u.T @ v",
    "sum(transpose(M) @ M.T)",
    "sum(max(M, axis=1) * mean(M, axis=0)) + min(M) - logsumexp(M, axis=0)[1]",
    "sum(softmax(M, axis=0)[:, 0] * u) + M[2, 1] * M[1][2] + sum(M[1:] * M[:2])",
    "sum(log_softmax(M * u)[::2, -1]) + max(u) - min(v)",
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
             "max": lambda *a, axis=None: anp.maximum(*a) if len(a) == 2 else anp.max(*a, axis=axis),
             "min": lambda *a, axis=None: anp.minimum(*a) if len(a) == 2 else anp.min(*a, axis=axis),
             "transpose": anp.transpose,
             "softmax": lambda x, axis=-1: _softmax(x, axis),
             "log_softmax": lambda x, axis=-1: anp.log(_softmax(x, axis)),
             "logsumexp": lambda x, axis=-1: _lse(x, axis)}
    code = compile(text.replace("^", "**"), "<expression>", "eval")
    fn = lambda e: eval(code, {"__builtins__": {}}, {**scope, **e})
    check(Expr(text, fn, fn(used(graph, env))), env)


# --- the tensor gates, gate by gate, at random shapes and parameters ------------------------
#
# Each is written here with autograd.numpy in the textbook way (softmax as exp(x)/sum(exp(x)),
# not backviz's shifted formula) and traced through backviz's engine as sum(G * gate(X)), with a
# random upstream gradient G. Graphs are built by hand from the table's entries.

def _last(x: Any, c: Any) -> int:
    return -1 if c is None else c


TENSOR_GATES: dict[str, Callable[[Any, Any], Any]] = {
    "sum": lambda x, c: anp.sum(x, axis=c),
    "mean": lambda x, c: anp.mean(x, axis=c),
    "amax": lambda x, c: anp.max(x, axis=c),
    "amin": lambda x, c: anp.min(x, axis=c),
    "logsumexp": lambda x, c: _lse(x, _last(x, c)),
    "softmax": lambda x, c: _softmax(x, _last(x, c)),
    "log_softmax": lambda x, c: anp.log(_softmax(x, _last(x, c))),
    "transpose": lambda x, c: anp.transpose(x),
}


@st.composite
def tensor_cases(draw: st.DrawFn) -> tuple[str, Any, np.ndarray, np.ndarray]:
    name = draw(st.sampled_from(sorted(TENSOR_GATES)))
    ndim = draw(st.integers(1, 2))
    shape = tuple(draw(st.lists(st.integers(1, 5), min_size=ndim, max_size=ndim)))
    axis = None if name == "transpose" else draw(st.sampled_from([None, *range(-ndim, ndim)]))
    # Small integers make ties in max and min, which split evenly in both.
    ties = name in ("amax", "amin") and draw(st.booleans())
    elements = st.integers(-2, 2).map(float) if ties else st.floats(-3, 3)
    n = int(np.prod(shape))
    x = np.array(draw(st.lists(elements, min_size=n, max_size=n))).reshape(shape)
    return name, axis, x, np.zeros(0)


@settings(max_examples=300, deadline=timedelta(seconds=5),
          suppress_health_check=[HealthCheck.too_slow])
@given(tensor_cases(), st.randoms(use_true_random=False))
def test_tensor_gates_against_autograd(case: tuple[str, Any, np.ndarray, np.ndarray],
                                       random: Any) -> None:
    name, axis, x, _ = case
    f = TENSOR_GATES[name]
    out = f(x, axis)
    rng = np.random.default_rng(random.randint(0, 2**32 - 1))
    g = rng.uniform(-1.5, 1.5, np.shape(out))
    graph = build_graph(("sum", None, ("mul", None, "G", (name, axis, "X"))))
    t = backviz.trace(graph, X=x, G=g)
    np.testing.assert_allclose(t.values[-2], g * out, rtol=1e-10, atol=1e-12)
    want = grad(lambda X: anp.sum(g * f(X, axis)))(x)
    np.testing.assert_allclose(t.gradients["X"], want, rtol=1e-8, atol=1e-10,
                               err_msg=f"{name} axis={axis} at {x.tolist()}")


def _numpy_index(spec: tuple[Any, ...], y: np.ndarray | None) -> tuple[Any, ...]:
    """The index as numpy takes it, built here from the spec (not by backviz)."""
    out: list[Any] = []
    for item in spec:
        if isinstance(item, int):
            out.append(item)
        elif item[0] == "slice":
            out.append(slice(item[1], item[2], item[3]))
        elif item[0] == "arange":
            out.append(np.arange(item[1]))
        else:
            assert y is not None
            out.append(y.astype(int))
    return tuple(out)


@st.composite
def index_cases(draw: st.DrawFn) -> tuple[np.ndarray, tuple[Any, ...], np.ndarray | None]:
    rows, cols = draw(st.integers(1, 5)), draw(st.integers(1, 5))
    vector = draw(st.booleans())
    shape = (cols,) if vector else (rows, cols)
    x = np.array(draw(st.lists(st.floats(-3, 3), min_size=int(np.prod(shape)),
                               max_size=int(np.prod(shape))))).reshape(shape)
    within = lambda n: st.integers(-n, n - 1)
    bound = lambda n: st.one_of(st.none(), st.integers(-n, n))
    slices = lambda n: st.builds(lambda a, b, s: ("slice", a, b, s), bound(n), bound(n),
                                 st.sampled_from([None, 1, 2, -1]))
    labels = lambda n, k: st.lists(st.integers(0, n - 1), min_size=k, max_size=k).map(
        lambda v: np.array(v, dtype=float))
    n0 = shape[0]
    kind = draw(st.sampled_from(["int", "slice", "input"] if vector else
                                ["int", "slice", "input", "column", "pair", "rows", "pick"]))
    if kind == "int":
        return x, (draw(within(n0)),), None
    if kind == "slice":
        return x, (draw(slices(n0)),), None
    if kind == "input":
        return x, (("input", "y"),), draw(labels(n0, draw(st.integers(1, 6))))
    if kind == "column":
        return x, (("slice", None, None, None), draw(within(cols))), None
    if kind == "pair":
        return x, (draw(within(rows)), draw(within(cols))), None
    if kind == "rows":
        return x, (draw(slices(rows)), draw(slices(cols))), None
    return x, (("arange", rows), ("input", "y")), draw(labels(cols, rows))


@settings(max_examples=300, deadline=timedelta(seconds=5),
          suppress_health_check=[HealthCheck.too_slow])
@given(index_cases(), st.randoms(use_true_random=False))
def test_indexing_against_autograd(case: tuple[np.ndarray, tuple[Any, ...], np.ndarray | None],
                                   random: Any) -> None:
    x, spec, y = case
    where = _numpy_index(spec, y)
    out = x[where]
    gate = ("index", spec, "X", *(["y"] if y is not None else []))
    values = {"X": x, "G": np.ones(np.shape(out)), **({"y": y} if y is not None else {})}
    if out.size == 0:  # an empty slice: backviz has no empty values
        with pytest.raises(backviz.InvalidIndexError, match="picks no element"):
            backviz.trace(build_graph(("sum", None, gate)), values)
        return
    rng = np.random.default_rng(random.randint(0, 2**32 - 1))
    g = rng.uniform(-1.5, 1.5, np.shape(out))
    values["G"] = g
    t = backviz.trace(build_graph(("sum", None, ("mul", None, "G", gate))), values)
    want = grad(lambda X: anp.sum(g * X[where]))(x)
    np.testing.assert_allclose(t.gradients["X"], want, rtol=1e-12, atol=1e-12,
                               err_msg=f"{spec} {y}")
    assert "y" not in t.gradients


# The matrix product's four cases with transposes, as a student writes them for a layer.
A = np.array([[0.5, -1.2, 0.8], [1.5, 0.2, -0.6]])
B = np.array([[0.3, -0.7, 1.1], [0.9, 0.4, -1.3]])
U = np.array([0.3, -1.1])
V = np.array([-0.4, 0.9])
R = np.array([-0.4, 0.9, 0.2])
TRANSPOSED = [
    ("W.T @ x", ("matmul", None, ("transpose", None, "A"), "U"), lambda e: e["A"].T @ e["U"]),
    ("x @ W.T", ("matmul", None, "R", ("transpose", None, "B")), lambda e: e["R"] @ e["B"].T),
    ("A.T @ B", ("matmul", None, ("transpose", None, "A"), "B"), lambda e: e["A"].T @ e["B"]),
    ("A @ B.T", ("matmul", None, "A", ("transpose", None, "B")), lambda e: e["A"] @ e["B"].T),
    ("A.T.T @ B.T", ("matmul", None, ("transpose", None, ("transpose", None, "A")),
                     ("transpose", None, "B")), lambda e: e["A"] @ e["B"].T),
    ("u.T @ v", ("matmul", None, ("transpose", None, "U"), "V"), lambda e: e["U"] @ e["V"]),
]


@pytest.mark.parametrize(("text", "tree", "fn"), TRANSPOSED, ids=[c[0] for c in TRANSPOSED])
def test_matmul_with_transposes(text: str, tree: Any, fn: Callable[[Env], Any]) -> None:
    env = {"A": A, "B": B, "U": U, "V": V, "R": R}
    out = fn(env)
    g = np.linspace(-1.0, 1.5, int(np.size(out))).reshape(np.shape(out))
    graph = build_graph(("sum", None, ("mul", None, "G", tree)), text)
    values = {name: env[name] for name in graph.variables if name != "G"}
    t = backviz.trace(graph, {**values, "G": g})
    expected = grad(lambda e: anp.sum(g * fn(e)))(values)
    numeric, _ = central_differences(graph, {**values, "G": g})
    for name in values:
        np.testing.assert_allclose(t.gradients[name], expected[name], rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(t.gradients[name], numeric[name], rtol=1e-6, atol=1e-8)


# --- numpy's reductions: keepdims, negative axes and tuples of axes, var and std -----------

REDUCTIONS: dict[str, Callable[..., Any]] = {
    "sum": anp.sum, "mean": anp.mean, "amax": anp.max, "amin": anp.min,
    "var": anp.var, "std": anp.std}


@st.composite
def reduction_cases(draw: st.DrawFn) -> tuple[str, Any, np.ndarray]:
    name = draw(st.sampled_from(sorted(REDUCTIONS)))
    ndim = draw(st.integers(1, 2))
    shape = tuple(draw(st.lists(st.integers(2, 4), min_size=ndim, max_size=ndim)))
    axes = draw(st.one_of(st.none(), st.integers(-ndim, ndim - 1),
                          st.lists(st.integers(0, ndim - 1), min_size=1, max_size=ndim,
                                   unique=True).map(tuple)))
    keepdims = draw(st.booleans())
    ties = name in ("amax", "amin") and draw(st.booleans())
    elements = st.integers(-2, 2).map(float) if ties else st.floats(-3, 3)
    n = int(np.prod(shape))
    x = np.array(draw(st.lists(elements, min_size=n, max_size=n))).reshape(shape)
    if name == "std" and np.any(np.std(x, axis=axes) < 1e-3):
        name = "var"  # std's gradient at equal elements is 0/0 (nan in PyTorch, in autograd inf)
    return name, (axes, keepdims), x


@settings(max_examples=300, deadline=timedelta(seconds=5),
          suppress_health_check=[HealthCheck.too_slow])
@given(reduction_cases(), st.randoms(use_true_random=False))
def test_reductions_with_keepdims_and_axes_against_autograd(
        case: tuple[str, Any, np.ndarray], random: Any) -> None:
    name, (axes, keepdims), x = case
    f = lambda X: REDUCTIONS[name](X, axis=axes, keepdims=keepdims)
    out = f(x)
    g = np.random.default_rng(random.randint(0, 2**32 - 1)).uniform(-1.5, 1.5, np.shape(out))
    graph = build_graph(("sum", None, ("mul", None, "G", (name, (axes, keepdims), "X"))))
    t = backviz.trace(graph, X=x, G=g)
    np.testing.assert_allclose(t.values[-2], g * out, rtol=1e-10, atol=1e-12)
    want = grad(lambda X: anp.sum(g * f(X)))(x)
    np.testing.assert_allclose(t.gradients["X"], want, rtol=1e-7, atol=1e-9,
                               err_msg=f"{name} axis={axes} keepdims={keepdims} at {x.tolist()}")
