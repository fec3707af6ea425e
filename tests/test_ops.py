"""Every entry of the operator table against central differences, for scalars and arrays.

The cases are generated from ``OPS`` itself, so a gate added to the table is tested the
moment it exists. A gate that needs positive inputs, that is not elementwise, or whose
parameter is an axis or an index, has to be named below: otherwise its test fails, which
is the point.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from handbuilt import build

import backviz
from backviz.evaluate import unbroadcast
from backviz.ops import BINARY, FUNCTIONS, OPS, OVERLOADS, GateError, Op, Param, index_label

# Arguments (by position) that must be positive: log and sqrt, and a power's base.
POSITIVE_ARGS: dict[str, tuple[int, ...]] = {
    "log": (0,), "sqrt": (0,), "pow": (0,), "pow_c": (0,), "log1p": (0,)}
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

# Gates whose parameter is not a constant: the shapes and parameters to try, and for an
# index gate the values of its index inputs (integers, repeated to test the scatter-add).
AXES: list[tuple[tuple[int, ...], Param]] = [
    ((), None), ((3,), None), ((2, 3), None), ((4, 5), None),
    ((3,), 0), ((3,), -1), ((2, 3), 0), ((2, 3), 1), ((2, 3), -1), ((4, 5), -2)]
SLICE_ALL = ("slice", None, None, None)
INDEXES: list[tuple[tuple[int, ...], Param, tuple[Any, ...]]] = [
    ((5,), (2,), ()), ((5,), (-1,), ()), ((5,), (("slice", 1, 4, None),), ()),
    ((5,), (("slice", None, None, -2),), ()),
    ((5,), (("input", "y"),), (np.float64(3),)),
    ((5,), (("input", "y"),), (np.array([1.0, 4.0, 1.0, 1.0]),)),  # repeats add up
    ((3, 4), (1,), ()), ((3, 4), (-1,), ()), ((3, 4), (SLICE_ALL, 0), ()), ((3, 4), (1, 2), ()),
    ((3, 4), (("slice", 1, 3, None),), ()), ((3, 4), (SLICE_ALL, ("slice", 2, None, None)), ()),
    ((3, 4), (("arange", 3), ("input", "y")), (np.array([0.0, 3.0, 3.0]),)),
    ((3, 4), (("input", "i"), 2), (np.array([2.0, 0.0, 2.0]),)),
    ((3, 4), (("input", "y"),), (np.array([2.0, 2.0]),)),  # rows, one picked twice
]
# numpy's keepdims and tuples of axes, for the reductions: the parameter is (axis, keepdims).
KEEPDIMS: list[tuple[tuple[int, ...], Param]] = [
    ((2, 3), (None, True)), ((2, 3), (1, True)), ((2, 3), (-2, True)), ((2, 3), ((0, 1), False)),
    ((2, 3), ((-1,), True)), ((4, 5), ((1, 0), True)), ((3,), (0, True))]
PARAMETERS: dict[str, list[tuple[tuple[int, ...], Param, tuple[Any, ...]]]] = {
    name: [(shape, axis, ()) for shape, axis in AXES]
    for name in ("sum", "mean", "amax", "amin", "logsumexp", "softmax", "log_softmax")}
for _name in ("sum", "mean", "amax", "amin"):
    PARAMETERS[_name] += [(shape, param, ()) for shape, param in KEEPDIMS]
# var and std of one element are 0; std's gradient there is 0/0, as in PyTorch.
PARAMETERS["var"] = [(shape, axis, ()) for shape, axis in [*AXES, *KEEPDIMS]]
PARAMETERS["std"] = [(shape, axis, ()) for shape, axis in [*AXES, *KEEPDIMS] if shape != ()]
PARAMETERS["index"] = [
    *INDEXES, ((3,), (SLICE_ALL, ("newaxis",)), ()), ((2, 3), (("newaxis",), 1), ()),
    ((2, 3), (("ellipsis",), 0), ()), ((3, 4), (("arange_input", "n"), ("input", "y")),
                                        (np.float64(3), np.array([1.0, 1.0, 3.0])))]
PARAMETERS["clip"] = [((), (-1.0, 1.0), ()), ((3,), (-1.0, 1.0), ()), ((2, 3), (-0.2, 0.9), ())]
PARAMETERS["compare_c"] = [((3,), ("<", 0.0), ()), ((2, 3), (">=", 0.2), ()),
                           ((), ("!=", 1.0), ())]
PARAMETERS["shape"] = [((2, 3), ("shape", 0), ()), ((2, 3), ("shape", -1), ()),
                       ((3,), ("len",), ()), ((2, 3), ("size",), ()), ((2, 3), ("ndim",), ()),
                       ((2, 3), ("shape",), ()), ((), ("size",), ())]
PARAMETERS["zeros_like"] = [((2, 3), (0.0,), ()), ((3,), (1.0,), ())]
PARAMETERS["reshape"] = [((2, 3), (-1,), ()), ((2, 3), (3, 2), ()),
                         ((2, 3), (("input", "n"), -1), (np.float64(3),))]
PARAMETERS["fill"] = [
    ((3, 4), (0.0, (("arange", 3), ("input", "y"))), (np.array([0.0, 3.0, 3.0]),)),
    ((5,), (2.5, (("input", "y"),)), (np.array([1.0, 1.0, 4.0]),)),  # a repeated index
    ((3, 4), (-1.0, (SLICE_ALL, 0)), ())]
# Gates with two inputs and a parameter: the shapes of both, the parameter, the indices.
PAIRS_WITH_PARAMETER: dict[str, list[tuple[tuple[tuple[int, ...], ...], Param, tuple[Any, ...]]]] = {
    "compare": [(((2, 3), (3,)), ("<",), ()), (((3,), (3,)), ("==",), ()),
                (((), (2, 3)), (">=",), ())],
    "where": [(((2, 3), (2, 3)), (None, None), (np.array([[1.0, 0, 1], [0, 0, 1]]),)),
              (((2, 3), (3,)), (None, None), (np.array([1.0, 0.0, 1.0]),)),
              (((), (3,)), (None, None), (np.array([[1.0], [0.0]]),))],
    "setitem": [
        (((3, 4), (3,)), (("arange", 3), ("input", "y")), (np.array([0.0, 3.0, 3.0]),)),
        (((5,), ()), (("input", "y"),), (np.array([1.0, 1.0, 4.0]),)),  # last write wins
        (((3, 4), (4,)), (("input", "y"),), (np.array([2.0, 2.0]),)),
        (((3, 4), (3, 1)), (SLICE_ALL, ("slice", 1, 3, None)), ()),
    ],
    # an image and a filter bank, (stride, padding): one image, a batch, strided and padded
    "conv2d": [(((1, 5, 5), (2, 1, 3, 3)), (1, 0), ()),
               (((2, 2, 5, 6), (3, 2, 2, 3)), (2, 1), ()),
               (((1, 1, 4, 4), (2, 1, 3, 3)), (1, 1), ())]}
# The pools' (kernel, stride): windows side by side, overlapping, and apart.
POOLS = [((2, 4, 4), (2, 2), ()), ((1, 2, 5, 5), (3, 2), ()), ((1, 1, 4, 6), (2, 3), ())]
PARAMETERS["max_pool2d"] = PARAMETERS["avg_pool2d"] = POOLS
# A collapsed call's parameter is the call of a user gate, as a collapsed view makes it.
SIG_CALL = backviz.trace("sig(u) = 1/(1+exp(-u))\nf = sig(x)", x=0.5).collapse("sig").graph.consts[-1]
PARAMETERS["call"] = [(shape, SIG_CALL, ()) for shape in UNARY_SHAPES]

H = 1e-6


def cases() -> list[Any]:
    out = []
    for name, op in OPS.items():
        if name in PAIRS_WITH_PARAMETER:
            for shapes, param, indices in PAIRS_WITH_PARAMETER[name]:
                out.append(pytest.param(name, shapes, param, indices,
                                        id=f"{name}-{shapes}-{param}"))
        elif name in PARAMETERS:
            for shape, param, indices in PARAMETERS[name]:
                out.append(pytest.param(name, (shape,), param, indices,
                                        id=f"{name}-{shape}-{param}"))
        elif op.arity == 1:
            consts = [c for c in CONSTANTS if c > 0 or name not in POSITIVE_CONST] if op.has_const else [None]
            for shape in UNARY_SHAPES:
                for c in consts:
                    out.append(pytest.param(name, (shape,), c, (), id=f"{name}-{shape}-c={c}"))
        else:
            for shapes in SPECIAL_PAIRS.get(name, ELEMENTWISE_PAIRS):
                out.append(pytest.param(name, shapes, None, (),
                                        id=f"{name}-{shapes[0]}-{shapes[1]}"))
    return out


def draw(name: str, shapes: tuple[tuple[int, ...], ...], c: Param) -> list[Any]:
    """Inputs with |x| in [0.5, 1.5], positive where the gate needs it, and no near-ties."""
    rng = np.random.default_rng(zlib.crc32(f"{name}{shapes}{c}".encode()))
    while True:
        args = []
        for k, shape in enumerate(shapes):
            x = rng.uniform(0.5, 1.5, shape)
            if k not in POSITIVE_ARGS.get(name, ()):
                x = x * rng.choice([-1.0, 1.0], shape)
            args.append(np.float64(x) if shape == () else x)
        if len(args) < 2 or name in SPECIAL_PAIRS or name in PAIRS_WITH_PARAMETER or np.all(
                np.abs(np.subtract(*args)) > 0.1):
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


@pytest.mark.parametrize(("name", "shapes", "c", "indices"), cases())
def test_vjp_matches_central_differences(name: str, shapes: tuple[tuple[int, ...], ...],
                                         c: Param, indices: tuple[Any, ...]) -> None:
    op = OPS[name]
    args = draw(name, shapes, c)
    extra = [c] if op.has_const else []
    # Index inputs are integers: they are held fixed, and get zeros.
    f = lambda *xs: op.forward(*xs, *indices, *extra)
    out = f(*args)
    assert np.all(np.isfinite(out)), f"{name} is not finite at the test point"
    # A random upstream gradient, so that every output element is weighed differently.
    rng = np.random.default_rng(7)
    g = rng.uniform(-1.5, 1.5, np.shape(out))
    g = np.float64(g) if np.ndim(out) == 0 else g
    vjps = op.vjp(g, out, *args, *indices, *extra)
    assert len(vjps) == op.arity + len(indices)
    for index, zero in zip(indices, vjps[op.arity:], strict=True):
        assert np.shape(zero) == np.shape(index) and not np.any(zero)
    vjps = vjps[:op.arity]
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
        if op.arity == 2 and name not in SPECIAL_PAIRS and name not in PAIRS_WITH_PARAMETER:
            x, y = draw(name, ((2, 3), (3,)), None)
            assert np.shape(op.forward(x, y)) == (2, 3), f"{name} does not broadcast elementwise"
        # A gate with a parameter that is not a constant must say which parameters it takes.
        if op.has_const and op.const_left is None and not any(
                name in (parent.const_left, parent.const_right) for parent in OPS.values()):
            assert name in PARAMETERS or name in PAIRS_WITH_PARAMETER, \
                f"{name} needs sample parameters"


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


def graph_for(name: str, c: Param, n_indices: int) -> backviz.Graph:
    """``sum(gate(x[, y]))``: parsed where the language writes the gate, else built by hand."""
    if name in PAIRS_WITH_PARAMETER:
        return build(("sum", None, (name, c, "x", "y", *[f"i{k}" for k in range(n_indices)])))
    if name not in PARAMETERS:
        graph = backviz.parse(f"sum({expression_for(name, c)})")
        assert [n.op for n in graph.gates] == [name, "sum"]
        if OPS[name].has_const:
            assert graph.gates[0].const == c
        return graph
    index_names = [f"i{k}" for k in range(n_indices)]
    return build(("sum", None, (name, c, "x", *index_names)))


@pytest.mark.parametrize(("name", "shapes", "c", "indices"), cases())
def test_gate_through_the_engine(name: str, shapes: tuple[tuple[int, ...], ...],
                                 c: Param, indices: tuple[Any, ...]) -> None:
    graph = graph_for(name, c, len(indices))
    args = draw(name, shapes, c)
    names = "xy"[: len(args)]
    values = dict(zip(names, args, strict=True))
    fixed = {f"i{k}": index for k, index in enumerate(indices)}
    t = backviz.trace(graph, {**values, **fixed})
    # Index inputs have no gradient; nor has a value only read for its shape.
    assert set(t.gradients) == (set() if OPS[name].index_from == 0 else set(names))
    f = lambda *xs: backviz.forward(graph, {**dict(zip(names, xs, strict=True)), **fixed})[-1]
    expected = numeric_vjp(f, args, 1.0)
    for var, want in zip(names, expected, strict=True):
        got = t.gradients.get(var, np.zeros(np.shape(values[var])))
        assert np.shape(got) == np.shape(values[var])
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-8, err_msg=var)
    assert t.warnings == ()


def test_table_is_consistent() -> None:
    for name, op in OPS.items():
        assert op.name == name
        assert op.arity in (1, 2)
        param = PARAMETERS[name][-1][1] if name in PARAMETERS else \
            PAIRS_WITH_PARAMETER[name][-1][1] if name in PAIRS_WITH_PARAMETER else \
            2.0 if op.has_const else None
        assert isinstance(op.label(param), str)
        assert op.label(param)
        for const_gate in (op.const_left, op.const_right):
            if const_gate is not None:
                assert OPS[const_gate].has_const and OPS[const_gate].arity == 1
        if op.has_const:
            assert op.arity == 1 or name in PAIRS_WITH_PARAMETER
    for fn, op in FUNCTIONS.items():
        assert OPS[op.name] is op and op.function == fn
        assert OVERLOADS[fn][0] is op
    for fn, overloads in OVERLOADS.items():
        # A name means one gate per number of arguments: max(a, b) and max(X).
        assert len({op.arity for op in overloads}) == len(overloads)
        assert all(op.function == fn for op in overloads)
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


# --- PyTorch's conventions where its gradient is finite (issue 10, item 6) -----------------

def test_power_at_zero_base_follows_pytorch() -> None:
    # d(x^y)/dx with y = 0 is 0 at x = 0 (x^0 is constant), not 0 * 0^-1 = nan.
    assert backviz.trace("x**y", x=0, y=0).gradients == {"x": 0.0, "y": 0.0}
    # d(x^y)/dy = x^y log x at x = 0: 0 for y >= 0, -inf for y < 0 (not inf * 0 = nan).
    assert backviz.trace("x**y", x=0, y=2).gradients["y"] == 0.0
    t = backviz.trace("x**y", x=0, y=-1)
    assert t.gradients["y"] == -np.inf
    t = backviz.trace("sum(x**y)", x=[0.0, 0.0, 2.0], y=[3.0, -2.0, 0.0])
    np.testing.assert_array_equal(t.gradients["y"], [0.0, -np.inf, np.log(2.0)])
    np.testing.assert_array_equal(t.gradients["x"], [0.0, -np.inf, 0.0])


def test_constant_base_zero_follows_pytorch() -> None:
    # c**y with c = 0: d/dy is 0 where y > 0 (and y = 0), -inf where y < 0.
    assert backviz.trace("0**y", y=2).gradients == {"y": 0.0}
    assert backviz.trace("0**y", y=0).gradients == {"y": 0.0}
    assert backviz.trace("0**y", y=-1).gradients == {"y": -np.inf}
    t = backviz.trace("sum(0**y)", y=[0.5, 3.0])
    np.testing.assert_array_equal(t.gradients["y"], [0.0, 0.0])
    assert t.warnings == ()


@pytest.mark.parametrize(("expression", "values", "expected"), [
    # relu's off side stops the infinite gradient of sqrt at 0
    ("sqrt(relu(x))", {"x": -1.0}, {"x": 0.0}),
    ("sum(sqrt(relu(x)))", {"x": [-1.0, 0.0, 4.0]}, {"x": [0.0, 0.0, 0.25]}),
    # the losing side of max and min
    ("sqrt(max(x, y))", {"x": 0.0, "y": -1.0}, {"x": np.inf, "y": 0.0}),
    ("sqrt(min(x, y))", {"x": 0.0, "y": 1.0}, {"x": np.inf, "y": 0.0}),
    ("sqrt(max(x, 0))", {"x": -1.0}, {"x": 0.0}),
    ("sqrt(min(x, 0))", {"x": 1.0}, {"x": 0.0}),
    # x**0 is constant
    ("sqrt(x**0 - 1)", {"x": 2.0}, {"x": 0.0}),
    ("sqrt(x**y - 1)", {"x": 2.0, "y": 0.0}, {"x": 0.0, "y": np.inf}),
    # the reductions max/min: the elements that do not win get 0
    ("sqrt(max(x))", {"x": [0.0, -1.0]}, {"x": [np.inf, 0.0]}),
    ("sqrt(min(x))", {"x": [0.0, 1.0]}, {"x": [np.inf, 0.0]}),
])
def test_zero_local_gradient_stops_an_infinite_one(expression: str, values: dict[str, Any],
                                                   expected: dict[str, Any]) -> None:
    """PyTorch masks these gradients rather than multiplying: 0, not 0 * inf = nan."""
    if expression.startswith("sqrt(max(x))") or expression.startswith("sqrt(min(x))"):
        op = "amax" if "max" in expression else "amin"
        graph = build(("sqrt", None, (op, None, "x")), expression)
    else:
        graph = backviz.parse(expression)
    t = backviz.trace(graph, values)
    for name, want in expected.items():
        np.testing.assert_array_equal(t.gradients[name], want, err_msg=name)


# --- the reductions, the softmax family and indexing: known answers -----------------------

def test_logsumexp_is_numerically_stable() -> None:
    lse = OPS["logsumexp"]
    assert lse.forward(np.array([1000.0, 1000.0])) == pytest.approx(1000 + np.log(2), rel=1e-15)
    assert lse.forward(np.array([-1000.0, -1000.0])) == pytest.approx(-1000 + np.log(2))
    np.testing.assert_allclose(OPS["softmax"].forward(np.array([1000.0, 1000.0, -np.inf])),
                               [0.5, 0.5, 0.0])
    np.testing.assert_allclose(OPS["log_softmax"].forward(np.array([1000.0, 0.0])),
                               [0.0, -1000.0])
    rows = OPS["logsumexp"].forward(np.array([[1000.0, 1000.0], [0.0, np.log(3.0)]]))
    np.testing.assert_allclose(rows, [1000 + np.log(2), np.log(4)])
    t = backviz.trace(build(("logsumexp", None, "s")), s=[1000.0, 1000.0])
    np.testing.assert_allclose(t.gradients["s"], [0.5, 0.5])
    assert t.warnings == ()


def test_softmax_family_default_axis_is_the_last() -> None:
    S = np.array([[1.0, 2.0, 3.0], [0.0, 0.0, 0.0]])
    p = OPS["softmax"].forward(S)
    np.testing.assert_allclose(p.sum(axis=1), [1.0, 1.0])
    np.testing.assert_allclose(p[1], [1 / 3] * 3)
    np.testing.assert_allclose(OPS["softmax"].forward(S, 0).sum(axis=0), [1.0, 1.0, 1.0])
    np.testing.assert_allclose(OPS["log_softmax"].forward(S, -1), np.log(p))
    assert OPS["softmax"].label(None) == "softmax"
    assert OPS["softmax"].label(0) == "softmax axis=0"


@pytest.mark.parametrize("op", ["amax", "amin"])
def test_reductions_split_ties_evenly(op: str) -> None:
    X = np.array([[1.0, 3.0, 3.0], [2.0, 2.0, 2.0]])
    pick = X if op == "amax" else -X
    t = backviz.trace(build(("sum", None, (op, None, "X"))), X=pick)
    np.testing.assert_allclose(t.gradients["X"], [[0, 0.5, 0.5], [0, 0, 0]])
    t = backviz.trace(build(("sum", None, (op, 1, "X"))), X=pick)
    np.testing.assert_allclose(t.gradients["X"], [[0, 0.5, 0.5], [1 / 3, 1 / 3, 1 / 3]])
    t = backviz.trace(build(("sum", None, (op, 0, "X"))), X=pick)
    np.testing.assert_allclose(t.gradients["X"], [[0, 1, 1], [1, 0, 0]])


def test_per_row_picking_scatters_and_repeats_add() -> None:
    S = np.arange(12.0).reshape(4, 3)
    spec = (("arange", 4), ("input", "y"))
    t = backviz.trace(build(("sum", None, ("index", spec, "S", "y"))), S=S, y=[2, 0, 2, 1])
    assert t.value == 2 + 3 + 8 + 10
    np.testing.assert_array_equal(t.gradients["S"], [[0, 0, 1], [1, 0, 0], [0, 0, 1], [0, 1, 0]])
    assert set(t.gradients) == {"S"}
    t = backviz.trace(build(("sum", None, ("index", (("input", "y"),), "s", "y"))),
                      s=[1.0, 2.0, 3.0], y=[2, 2, -1, 0])
    np.testing.assert_array_equal(t.gradients["s"], [1.0, 0.0, 3.0])


@pytest.mark.parametrize(("spec", "values", "message"), [
    ((("input", "y"),), {"s": [1.0, 2.0, 3.0], "y": 1.5},
     "the index y must hold integers, and it holds 1.5"),
    ((("input", "y"),), {"s": [1.0, 2.0, 3.0], "y": 3}, "index 3 is out of bounds for axis 0"),
    ((5,), {"s": [1.0, 2.0, 3.0]}, "index 5 is out of bounds for axis 0 with size 3"),
    ((0, 1), {"s": [1.0, 2.0, 3.0]}, "a vector (3,) has 1 axis, and [0, 1] indexes 2"),
    ((("arange", 4), ("input", "y")), {"s": np.ones((3, 3)), "y": [0, 1, 2]},
     "the index arrays of [arange(4), y] have the shapes (4,) and (3,): they must have the same "
     "length (or be a single number)"),
    ((("arange", 4), ("input", "y")), {"s": np.ones((3, 3)), "y": [0, 1, 2, 0]},
     "index 3 is out of bounds for axis 0 with size 3"),
])
def test_bad_indexes_are_errors(spec: Param, values: dict[str, Any], message: str) -> None:
    text = "s" + index_label(spec)
    graph = build(("sum", None, ("index", spec, "s", *(["y"] if "y" in values else []))), text)
    with pytest.raises(backviz.InvalidIndexError) as info:
        backviz.trace(graph, values)
    assert message in str(info.value)


def test_bad_axes_are_shape_errors() -> None:
    with pytest.raises(backviz.ShapeError) as info:
        backviz.trace(build(("sum", None, ("sum", 1, "x")), "sum(sum(x, axis=1))"), x=[1.0, 2.0])
    assert "x is a vector (2,), which has no axis 1 (it has only axis 0, or -1)" in str(info.value)
    with pytest.raises(GateError):
        OPS["softmax"].forward(np.ones((2, 3)), 2)


# --- a small CNN's gates: known answers and shapes that do not fit ------------------------

def test_conv2d_is_pytorchs_cross_correlation_and_max_pool_its_first_max() -> None:
    x = np.arange(16.0).reshape(1, 1, 4, 4)
    w = np.array([[[[1.0, 0.0], [0.0, -1.0]]]])  # x[i, j] - x[i + 1, j + 1]
    np.testing.assert_array_equal(OPS["conv2d"].forward(x, w, (1, 0)), np.full((1, 1, 3, 3), -5.0))
    # stride 2 over the padded 6x6, as torch's F.conv2d(x, w, stride=2, padding=1) gives
    np.testing.assert_array_equal(OPS["conv2d"].forward(x, w, (2, 1))[0, 0],
                                  [[0.0, -2.0, 0.0], [-8.0, -5.0, 7.0], [0.0, 13.0, 15.0]])
    ties = np.array([[[1.0, 3.0], [3.0, 0.0]]])
    assert OPS["max_pool2d"].forward(ties, (2, 2)).tolist() == [[[3.0]]]
    np.testing.assert_array_equal(OPS["max_pool2d"].vjp(np.array([[[2.0]]]), None, ties, (2, 2))[0],
                                  [[[0.0, 2.0], [0.0, 0.0]]])
    np.testing.assert_array_equal(OPS["avg_pool2d"].forward(x, (2, 2))[0, 0],
                                  [[2.5, 4.5], [10.5, 12.5]])


@pytest.mark.parametrize(("spec", "values", "message"), [
    (("conv2d", (1, 0), "x", "W"), {"x": np.ones((2, 5, 5)), "W": np.ones((2, 1, 3, 3))},
     "cannot convolve x (2, 5, 5) with the filters W (2, 1, 3, 3): conv2d takes an image"),
    (("conv2d", (1, 0), "x", "W"), {"x": np.ones((1, 2, 2)), "W": np.ones((2, 1, 3, 3))},
     "no larger than the image and its padding"),
    (("max_pool2d", (2, 2), "x"), {"x": np.ones((2, 5))},
     "x is (2, 5), not an image (C, H, W) or a batch of them (N, C, H, W)"),
    (("avg_pool2d", (3, 3), "x"), {"x": np.ones((1, 2, 2))}, "x is (1, 2, 2), smaller than a 3x3"),
    (("matmul", None, "x", "W"), {"x": np.ones((2, 2, 3)), "W": np.ones((3, 2))},
     "cannot multiply x (2, 2, 3) by W (3, 2): @ multiplies vectors and matrices"),
])
def test_shapes_a_cnn_gate_cannot_take_are_shape_errors(spec: Any, values: dict[str, Any],
                                                        message: str) -> None:
    with pytest.raises(backviz.ShapeError) as info:
        backviz.trace(build(("sum", None, spec), "f"), values)
    assert message in str(info.value)
