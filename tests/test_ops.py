"""Every entry of the operator table against central differences, for scalars and arrays.

The cases are generated from ``OPS`` itself, so a gate added to the table is tested the
moment it exists. A gate that needs positive inputs, or that is not elementwise, has to
be named below: otherwise its test fails, which is the point.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import backviz
from backviz.evaluate import unbroadcast
from backviz.ops import BINARY, FUNCTIONS, OPS, Op

# Arguments (by position) that must be positive: log and sqrt, and a power's base.
POSITIVE_ARGS: dict[str, tuple[int, ...]] = {
    "log": (0,), "sqrt": (0,), "pow": (0,), "pow_c": (0,)}
# Gates whose constant must be positive (c ** x).
POSITIVE_CONST = {"rpow_c"}
# Binary gates that are not elementwise, with the shape pairs they take.
MATMUL_PAIRS = [((2, 3), (3,)), ((3,), (3, 2)), ((2, 3), (3, 4)), ((3,), (3,))]
SPECIAL_PAIRS = {"matmul": MATMUL_PAIRS}

UNARY_SHAPES: list[tuple[int, ...]] = [(), (3,), (2, 3)]
ELEMENTWISE_PAIRS: list[tuple[tuple[int, ...], tuple[int, ...]]] = [
    ((), ()), ((3,), (3,)), ((2, 3), (2, 3)),
    # broadcasting
    ((), (3,)), ((3,), ()), ((), (2, 3)), ((2, 3), (3,)), ((3,), (2, 3)),
    ((2, 1), (1, 3)), ((2, 3), (2, 1)),
]
# Constants for gates that carry one; inputs are drawn with |x| in [0.5, 1.5], so
# none of them is within 0.2 of an input (max(x, c) stays away from its kink).
CONSTANTS = [0.3, -0.7, 2.5]

H = 1e-6


def cases() -> list[Any]:
    out = []
    for name, op in OPS.items():
        if op.arity == 1:
            consts = [c for c in CONSTANTS if c > 0 or name not in POSITIVE_CONST] if op.has_const else [None]
            for shape in UNARY_SHAPES:
                for c in consts:
                    out.append(pytest.param(name, (shape,), c, id=f"{name}-{shape}-c={c}"))
        else:
            for shapes in SPECIAL_PAIRS.get(name, ELEMENTWISE_PAIRS):
                out.append(pytest.param(name, shapes, None, id=f"{name}-{shapes[0]}-{shapes[1]}"))
    return out


def draw(name: str, shapes: tuple[tuple[int, ...], ...], c: float | None) -> list[Any]:
    """Inputs with |x| in [0.5, 1.5], positive where the gate needs it, and no near-ties."""
    rng = np.random.default_rng(zlib.crc32(f"{name}{shapes}{c}".encode()))
    while True:
        args = []
        for k, shape in enumerate(shapes):
            x = rng.uniform(0.5, 1.5, shape)
            if k not in POSITIVE_ARGS.get(name, ()):
                x = x * rng.choice([-1.0, 1.0], shape)
            args.append(np.float64(x) if shape == () else x)
        if len(args) < 2 or name in SPECIAL_PAIRS or np.all(np.abs(np.subtract(*args)) > 0.1):
            return args


def numeric_vjp(f: Callable[..., Any], args: list[Any], g: Any) -> list[Any]:
    """Central differences of sum(g * f(args)) with respect to every argument."""
    grads = []
    for k, arg in enumerate(args):
        arr = np.array(arg, dtype=np.float64)
        grad = np.zeros_like(arr)
        for idx in np.ndindex(arr.shape):
            def at(delta: float, idx: tuple[int, ...] = idx, arr: np.ndarray = arr, k: int = k) -> float:
                moved = arr.copy()
                moved[idx] += delta
                point = list(args)
                point[k] = moved[()] if moved.ndim == 0 else moved
                return float(np.sum(g * f(*point)))
            grad[idx] = (at(H) - at(-H)) / (2 * H)
        grads.append(grad)
    return grads


@pytest.mark.parametrize(("name", "shapes", "c"), cases())
def test_vjp_matches_central_differences(name: str, shapes: tuple[tuple[int, ...], ...],
                                         c: float | None) -> None:
    op = OPS[name]
    args = draw(name, shapes, c)
    extra = [c] if op.has_const else []
    f = lambda *xs: op.forward(*xs, *extra)
    out = f(*args)
    assert np.all(np.isfinite(out)), f"{name} is not finite at the test point"
    # A random upstream gradient, so that every output element is weighed differently.
    rng = np.random.default_rng(7)
    g = rng.uniform(-1.5, 1.5, np.shape(out))
    g = np.float64(g) if np.ndim(out) == 0 else g
    vjps = op.vjp(g, out, *args, *extra)
    assert len(vjps) == op.arity
    expected = numeric_vjp(f, args, g)
    for k, (got, want, arg) in enumerate(zip(vjps, expected, args, strict=True)):
        got = unbroadcast(got, np.shape(arg))
        assert np.shape(got) == np.shape(arg), f"gradient {k} of {name} has the wrong shape"
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-8,
                                   err_msg=f"gradient {k} of {name}")


def test_cases_cover_every_gate() -> None:
    covered = {p.values[0] for p in cases()}
    assert covered == set(OPS)
    for name, op in OPS.items():
        # A binary gate that is not elementwise must say which shapes it takes.
        if op.arity == 2 and name not in SPECIAL_PAIRS:
            x, y = draw(name, ((2, 3), (3,)), None)
            assert np.shape(op.forward(x, y)) == (2, 3), f"{name} does not broadcast elementwise"


# --- the same through the expression language and the engine -----------------------------

def _symbol(op: Op) -> str | None:
    return next((s for s, o in BINARY.items() if o is op), None)


def _written(op: Op, args: list[str]) -> str:
    if op.function is not None:
        return f"{op.function}({', '.join(args)})"
    symbol = _symbol(op)
    assert symbol is not None, f"{op.name} is neither a function nor an operator"
    return f"({args[0]} {symbol} {args[1]})"


def expression_for(name: str, c: float | None) -> str:
    """How a gate is written, with variables x and y (and the constant c)."""
    op = OPS[name]
    if not op.has_const:
        return _written(op, ["x", "y"][: op.arity])
    const = f"({c})" if c is not None and c < 0 else f"{c}"
    for parent in OPS.values():
        if parent.const_right == name:
            return _written(parent, ["x", const])
        if parent.const_left == name:
            return _written(parent, [const, "x"])
    raise AssertionError(f"the gate {name} cannot be written in the expression language")


@pytest.mark.parametrize(("name", "shapes", "c"), cases())
def test_gate_through_the_engine(name: str, shapes: tuple[tuple[int, ...], ...],
                                 c: float | None) -> None:
    expression = f"sum({expression_for(name, c)})"
    graph = backviz.parse(expression)
    assert [n.op for n in graph.gates] == [name, "sum"]
    if OPS[name].has_const:
        assert graph.gates[0].const == c
    args = draw(name, shapes, c)
    names = "xy"[: len(args)]
    values = dict(zip(names, args, strict=True))
    t = backviz.trace(graph, values)
    f = lambda *xs: backviz.forward(graph, dict(zip(names, xs, strict=True)))[-1]
    expected = numeric_vjp(f, args, 1.0)
    for var, want in zip(names, expected, strict=True):
        got = t.gradients[var]
        assert np.shape(got) == np.shape(values[var])
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-8, err_msg=var)
    assert t.warnings == ()


def test_table_is_consistent() -> None:
    for name, op in OPS.items():
        assert op.name == name
        assert op.arity in (1, 2)
        assert isinstance(op.label(None if not op.has_const else 2.0), str)
        assert op.label(None if not op.has_const else 2.0)
        for const_gate in (op.const_left, op.const_right):
            if const_gate is not None:
                assert OPS[const_gate].has_const and OPS[const_gate].arity == 1
        if op.has_const:
            assert op.arity == 1
    for fn, op in FUNCTIONS.items():
        assert OPS[op.name] is op and op.function == fn
    for op in BINARY.values():
        assert OPS[op.name] is op and op.arity == 2


# --- kinks: PyTorch's conventions, as documented in ops.py ----------------------------

def test_relu_kink_is_zero() -> None:
    assert backviz.trace("relu(x)", x=0).gradients["x"] == 0.0
    t = backviz.trace("sum(relu(x))", x=[-1.0, 0.0, 2.0])
    np.testing.assert_array_equal(t.gradients["x"], [0.0, 0.0, 1.0])


def test_abs_kink_is_zero() -> None:
    assert backviz.trace("abs(x)", x=0).gradients["x"] == 0.0
    t = backviz.trace("sum(abs(x))", x=[-1.0, 0.0, 2.0])
    np.testing.assert_array_equal(t.gradients["x"], [-1.0, 0.0, 1.0])


@pytest.mark.parametrize("fn", ["max", "min"])
def test_max_min_ties_split_evenly(fn: str) -> None:
    t = backviz.trace(f"{fn}(x, y)", x=1.5, y=1.5)
    assert t.gradients == {"x": 0.5, "y": 0.5}
    t = backviz.trace(f"sum({fn}(x, y))", x=[1.0, 2.0, 3.0], y=[1.0, 0.0, 5.0])
    winner_x = [0.5, 1.0, 0.0] if fn == "max" else [0.5, 0.0, 1.0]
    np.testing.assert_array_equal(t.gradients["x"], winner_x)
    np.testing.assert_array_equal(t.gradients["y"], [1.0 - w for w in winner_x])
    # Against a constant: half of the gradient goes to the constant.
    assert backviz.trace(f"{fn}(x, 0)", x=0).gradients["x"] == 0.5
    assert backviz.trace(f"{fn}(0, x)", x=0).gradients["x"] == 0.5
    # The same variable on both sides: the halves add back up to 1.
    assert backviz.trace(f"{fn}(x, x)", x=2).gradients["x"] == 1.0


def test_max_min_away_from_ties_route_everything() -> None:
    assert backviz.trace("max(x, y)", x=2, y=1).gradients == {"x": 1.0, "y": 0.0}
    assert backviz.trace("min(x, y)", x=2, y=1).gradients == {"x": 0.0, "y": 1.0}
    assert backviz.trace("max(x, 1)", x=0.5).gradients == {"x": 0.0}
    assert backviz.trace("min(x, 1)", x=0.5).gradients == {"x": 1.0}


def test_power_at_zero_base() -> None:
    # d(x^y)/dy = x^y log x is taken as 0 at x = 0 (its limit for y > 0), as PyTorch does.
    t = backviz.trace("x**y", x=0, y=2)
    assert t.gradients == {"x": 0.0, "y": 0.0}
    assert t.warnings == ()
    # x^0 is constant: gradient 0 even at x = 0.
    assert backviz.trace("x**0", x=0).gradients == {"x": 0.0}
