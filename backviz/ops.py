"""THE operator table: one entry per gate, and nothing about gates anywhere else.

Each gate is an :class:`Op`: its forward function, its vector-Jacobian product (the
slides' "local gradient x upstream gradient"), the label drawn in its circle, and how
it appears in the expression language. Adding a gate is adding one entry to ``OPS``;
the parser, the engine, the renderer and the tests all read this table.

Rule signatures use math names: ``forward(x, y)`` or ``forward(x, c)`` for a gate that
carries a constant ``c``; ``vjp(g, out, x, y)`` / ``vjp(g, out, x, c)`` returns one
gradient per graph input, where ``g`` is the upstream gradient and ``out`` the forward
result. Gradients may come back in a broadcast shape: the engine sums them back to the
shape of each input (see ``evaluate.unbroadcast``).

``local(fmt, out, x, y)`` / ``local(fmt, out, x, c)`` writes the local gradient with
the numbers substituted, one text per input, for the teaching mode's chain-rule
products "(local)(upstream) = result": at ``1/x`` it gives ``-1/1.37^2``, at ``exp``
``e^-1.00``. ``fmt`` writes a value as the figure does; constants of the rule itself
(the 1 of an add gate, the -1 of ``*-1``) are written exactly.

Kinks follow PyTorch: relu'(0) = 0, abs'(0) = 0, and max/min of equal inputs send half
of the upstream gradient to each side.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["BINARY", "FUNCTIONS", "OPS", "UPSTREAM", "Op", "format_constant"]

Array = Any  # np.float64 or np.ndarray: numpy's own typing of mixed scalars is too loose to help
Fmt = Callable[[Array], str]

UPSTREAM = "{upstream}"
"""Marks where the upstream gradient goes in a local-gradient text that does not simply
multiply it from the left (the matrix product's first input: ``(upstream)(y^T)``)."""


def format_constant(c: float) -> str:
    """Write a constant the way a person would in a gate label: 1, 0.5, -1, 1e-05."""
    if float(c).is_integer() and abs(c) < 1e15:
        return str(int(c))
    return f"{c:g}"


def _paren(c: float) -> str:
    """A constant after another sign: ``+(-3)`` rather than ``+-3``."""
    s = format_constant(c)
    return f"({s})" if c < 0 else s


@dataclass(frozen=True)
class Op:
    """One gate of the computational graph."""

    name: str
    label: Callable[[float | None], str]
    arity: int  # 1 or 2: the engine unpacks a gate's inputs itself
    forward: Callable[..., Array]
    vjp: Callable[..., tuple[Array, ...]]
    # How the gate is written: a function name ("exp"), or None for operators and for
    # the unary gates the parser makes from an operator with one constant operand.
    function: str | None = None
    # For a binary operator: the gate to use when the left / right operand is a
    # constant (``2*u`` is the unary gate ``*2``); None when that is not allowed.
    const_left: str | None = None
    const_right: str | None = None
    # The slides' name for the gate's gradient pattern, drawn by --annotate.
    pattern: str | None = None
    # True when the gate carries a constant: forward(x, c), vjp(g, out, x, c).
    has_const: bool = False
    # The local gradient as text, numbers substituted, one per input (see the module's
    # docstring); every entry has one, so the chain rule can be written at every gate.
    local: Callable[..., tuple[str, ...]] | None = None
    # True when the inputs can trade places (u + v is v + u): the figure may then draw
    # them in either order, which lets Graphviz avoid crossings; others keep their order.
    commutative: bool = False


def _fixed(text: str) -> Callable[[float | None], str]:
    return lambda c: text


def _with_const(make: Callable[[float], str]) -> Callable[[float | None], str]:
    return lambda c: make(0.0 if c is None else c)


def _neg(text: str) -> str:
    """A written value under a power or after a sign: ``(-1.37)^2``, not ``-1.37^2``."""
    return f"({text})" if text.startswith("-") else text


def _exact(fmt: Fmt, x: Array) -> str:
    """A 0/1 mask, a sign or a tie's 1/2, written exactly (1, 0, 0.5) when it is a scalar."""
    return format_constant(float(x)) if np.ndim(x) == 0 else fmt(x * 1.0)


def _times(*factors: str) -> str:
    """A product written as the slides do: (1 - 0.73)(0.73)."""
    return "".join(f"({f})" for f in factors)


def _scaled(k: str, text: str) -> str:
    """k times a written value: 2[0.22, 0.26], 2(0.50)."""
    return f"{k}{text}" if text.startswith("[") else f"{k}({text})"


def _pow_const_local(fmt: Fmt, out: Array, x: Array, c: float) -> tuple[str]:
    if c == 0:
        return ("0",)
    power = "" if c == 2 else "^" + _paren(c - 1)
    return (_scaled(format_constant(c), fmt(x)) + power,)


def _tie(a: Array, b: Array) -> Array:
    """1 where a wins, 0 where it loses, 1/2 on a tie (PyTorch's convention)."""
    return (a > b) + 0.5 * (a == b)


def _matmul_vjp(g: Array, out: Array, x: Array, y: Array) -> tuple[Array, Array]:
    # Treat a vector on the left as a row and on the right as a column, so one
    # formula (dx = g y^T, dy = x^T g) covers matrix@vector, vector@matrix,
    # matrix@matrix and vector@vector.
    x2 = x if x.ndim == 2 else x[None, :]
    y2 = y if y.ndim == 2 else y[:, None]
    g2 = np.reshape(g, (x2.shape[0], y2.shape[1]))
    # Where the product's inner size is 1 it is an outer product, which numpy does
    # faster as a broadcast multiply (5 ms instead of 6.6 ms for 2000x2000).
    dx = g2 * y2.T if y2.shape[1] == 1 else g2 @ y2.T
    dy = x2.T * g2 if x2.shape[0] == 1 else x2.T @ g2
    return dx.reshape(x.shape), dy.reshape(y.shape)


def _pow_vjp(g: Array, out: Array, x: Array, y: Array) -> tuple[Array, Array]:
    # d(x^y)/dy = x^y log x; PyTorch takes it as 0 where x == 0 (and the limit is 0
    # for y > 0), nan where x < 0.
    safe = np.where(x > 0, x, 1.0)
    log_x = np.where(x > 0, np.log(safe), np.where(x == 0, 0.0, np.nan))
    return g * y * x ** (y - 1), g * out * log_x


def _pow_const_vjp(g: Array, out: Array, x: Array, c: float) -> tuple[Array]:
    if c == 0:  # x^0 is constant: its gradient is 0 even at x = 0
        return (g * np.zeros_like(x),)
    return (g * c * x ** (c - 1),)


_ENTRIES = [
    # --- binary operators -------------------------------------------------------
    Op("add", _fixed("+"), 2, lambda x, y: x + y,
       lambda g, out, x, y: (g, g),
       const_left="add_c", const_right="add_c", pattern="distributor",
       local=lambda f, out, x, y: ("1", "1"), commutative=True),
    Op("sub", _fixed("-"), 2, lambda x, y: x - y,
       lambda g, out, x, y: (g, -g),
       const_left="rsub_c", const_right="sub_c",
       local=lambda f, out, x, y: ("1", "-1")),
    Op("mul", _fixed("*"), 2, lambda x, y: x * y,
       lambda g, out, x, y: (g * y, g * x),
       const_left="mul_c", const_right="mul_c", pattern="switcher",
       local=lambda f, out, x, y: (f(y), f(x)), commutative=True),
    Op("div", _fixed("/"), 2, lambda x, y: x / y,
       lambda g, out, x, y: (g / y, -g * out / y),
       const_left="rdiv_c", const_right="div_c",
       local=lambda f, out, x, y: (f"1/{_neg(f(y))}", f"-{_neg(f(x))}/{_neg(f(y))}^2")),
    Op("pow", _fixed("^"), 2, lambda x, y: x ** y, _pow_vjp,
       const_left="rpow_c", const_right="pow_c",
       local=lambda f, out, x, y: (_times(f(y), f(x)) + "^" + _neg(f(y - 1)),
                                   _times(f(out), "ln " + f(x)))),
    # The lecture's vectorized slide draws the matrix product as "*".
    # dx = (upstream)(y^T) and dy = (x^T)(upstream): the upstream gradient multiplies
    # the first input's local gradient from the left.
    Op("matmul", _fixed("*"), 2, lambda x, y: x @ y, _matmul_vjp,
       local=lambda f, out, x, y: (f"({UPSTREAM})({f(y)}^T)", f"{f(x)}^T")),
    Op("max", _fixed("max"), 2, np.maximum,
       lambda g, out, x, y: (g * _tie(x, y), g * _tie(y, x)),
       function="max", const_left="max_c", const_right="max_c", pattern="router",
       local=lambda f, out, x, y: (_exact(f, _tie(x, y)), _exact(f, _tie(y, x))),
       commutative=True),
    Op("min", _fixed("min"), 2, np.minimum,
       lambda g, out, x, y: (g * _tie(y, x), g * _tie(x, y)),
       function="min", const_left="min_c", const_right="min_c", pattern="router",
       local=lambda f, out, x, y: (_exact(f, _tie(y, x)), _exact(f, _tie(x, y))),
       commutative=True),
    # --- an operator with one constant operand: a unary gate carrying it --------
    Op("add_c", _with_const(lambda c: "+" + _paren(c)), 1, lambda x, c: x + c,
       lambda g, out, x, c: (g,), has_const=True,
       local=lambda f, out, x, c: ("1",)),
    Op("sub_c", _with_const(lambda c: "-" + _paren(c)), 1, lambda x, c: x - c,
       lambda g, out, x, c: (g,), has_const=True,
       local=lambda f, out, x, c: ("1",)),
    Op("rsub_c", _with_const(lambda c: format_constant(c) + "-x"), 1, lambda x, c: c - x,
       lambda g, out, x, c: (-g,), has_const=True,
       local=lambda f, out, x, c: ("-1",)),
    Op("mul_c", _with_const(lambda c: "*" + format_constant(c)), 1, lambda x, c: x * c,
       lambda g, out, x, c: (g * c,), has_const=True,
       local=lambda f, out, x, c: (format_constant(c),)),
    Op("div_c", _with_const(lambda c: "/" + _paren(c)), 1, lambda x, c: x / c,
       lambda g, out, x, c: (g / c,), has_const=True,
       local=lambda f, out, x, c: ("1/" + _paren(c),)),
    Op("rdiv_c", _with_const(lambda c: format_constant(c) + "/x"), 1, lambda x, c: c / x,
       lambda g, out, x, c: (-g * out / x,), has_const=True,
       local=lambda f, out, x, c: (f"{format_constant(-c)}/{_neg(f(x))}^2",)),
    Op("pow_c", _with_const(lambda c: "^" + _paren(c)), 1, lambda x, c: x ** c,
       _pow_const_vjp, has_const=True, local=_pow_const_local),
    Op("rpow_c", _with_const(lambda c: _paren(c) + "^x"), 1, lambda x, c: c ** x,
       lambda g, out, x, c: (g * out * np.log(c),), has_const=True,
       local=lambda f, out, x, c: (_times(f(out), "ln " + format_constant(c)),)),
    Op("max_c", _with_const(lambda c: f"max(x,{format_constant(c)})"), 1,
       lambda x, c: np.maximum(x, c),
       lambda g, out, x, c: (g * _tie(x, c),), has_const=True,
       local=lambda f, out, x, c: (_exact(f, _tie(x, c)),)),
    Op("min_c", _with_const(lambda c: f"min(x,{format_constant(c)})"), 1,
       lambda x, c: np.minimum(x, c),
       lambda g, out, x, c: (g * _tie(c, x),), has_const=True,
       local=lambda f, out, x, c: (_exact(f, _tie(c, x)),)),
    # --- functions --------------------------------------------------------------
    Op("exp", _fixed("exp"), 1, np.exp, lambda g, out, x: (g * out,), function="exp",
       local=lambda f, out, x: ("e^" + f(x),)),
    Op("log", _fixed("log"), 1, np.log, lambda g, out, x: (g / x,), function="log",
       local=lambda f, out, x: ("1/" + _neg(f(x)),)),
    Op("sqrt", _fixed("sqrt"), 1, np.sqrt, lambda g, out, x: (g * 0.5 / out,), function="sqrt",
       local=lambda f, out, x: ("0.5/" + f(out),)),
    Op("abs", _fixed("abs"), 1, np.abs, lambda g, out, x: (g * np.sign(x),), function="abs",
       local=lambda f, out, x: (_exact(f, np.sign(x)),)),
    Op("sin", _fixed("sin"), 1, np.sin, lambda g, out, x: (g * np.cos(x),), function="sin",
       local=lambda f, out, x: (f"cos({f(x)})",)),
    Op("cos", _fixed("cos"), 1, np.cos, lambda g, out, x: (-g * np.sin(x),), function="cos",
       local=lambda f, out, x: (f"-sin({f(x)})",)),
    Op("tanh", _fixed("tanh"), 1, np.tanh,
       lambda g, out, x: (g * (1 - out * out),), function="tanh",
       local=lambda f, out, x: (f"1 - {_neg(f(out))}^2",)),
    Op("sigmoid", _fixed("σ"), 1, lambda x: 1 / (1 + np.exp(-x)),
       lambda g, out, x: (g * (1 - out) * out,), function="sigmoid",
       local=lambda f, out, x: (_times(f"1 - {_neg(f(out))}", f(out)),)),
    Op("relu", _fixed("relu"), 1, lambda x: np.maximum(x, 0.0),
       lambda g, out, x: (g * (x > 0),), function="relu",
       local=lambda f, out, x: (_exact(f, x > 0),)),
    # The local gradient of a sum is 1 for every element: the upstream gradient is copied.
    Op("sum", _fixed("sum"), 1, np.sum,
       lambda g, out, x: (np.full(np.shape(x), g),), function="sum",
       local=lambda f, out, x: ("1",)),
    Op("mean", _fixed("mean"), 1, np.mean,
       lambda g, out, x: (np.full(np.shape(x), g / np.size(x)),), function="mean",
       local=lambda f, out, x: (f"1/{np.size(x)}",)),
    # The lecture's squared L2 norm gate: f(q) = ||q||^2 = sum_i q_i^2.
    Op("l2", _fixed("L2"), 1, lambda x: np.sum(x * x),
       lambda g, out, x: (2 * g * x,), function="l2",
       local=lambda f, out, x: (_scaled("2", f(x)),)),
]

OPS: dict[str, Op] = {op.name: op for op in _ENTRIES}
"""Every gate, by name."""

FUNCTIONS: dict[str, Op] = {op.function: op for op in _ENTRIES if op.function}
"""The functions of the expression language, by the name they are called with."""

BINARY: dict[str, Op] = {
    "+": OPS["add"], "-": OPS["sub"], "*": OPS["mul"], "/": OPS["div"],
    "**": OPS["pow"], "^": OPS["pow"], "@": OPS["matmul"],
}
"""The binary operators of the expression language, by symbol."""
