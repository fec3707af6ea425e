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

A gate may carry a parameter instead of a constant: the axis of a reduction or of the
softmax family, the index of an index gate (see :data:`Param`). It sits in the same slot,
``Node.const``, and reaches the rules the same way, last.

Kinks and edges follow PyTorch: relu'(0) = 0, abs'(0) = 0, max/min of equal inputs send
half of the upstream gradient to each side (and the reductions max/min share it evenly
between all the elements that tie). Where PyTorch's gradient is finite, so is backviz's:
a zero local gradient (relu's off side, the losing side of max/min, ``x**0``) stops even
an infinite upstream gradient, and ``d(x**y)/dy`` at ``x = 0`` is 0 for ``y >= 0`` and
-inf for ``y < 0``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from operator import attrgetter
from typing import Any

import numpy as np

__all__ = ["ALIASES", "BINARY", "COMPARISONS", "FUNCTIONS", "OPS", "OVERLOADS", "REDUCTIONS",
           "UPSTREAM", "GateError", "Op", "Param", "format_constant", "index_label"]

Array = Any  # np.float64 or np.ndarray: numpy's own typing of mixed scalars is too loose to help
Fmt = Callable[[Array], str]
Shape = tuple[int, ...]

Param = float | tuple[Any, ...] | None
"""What a gate carries in its constant slot: hashable, so graphs stay plain frozen data.

- a float: the constant of ``+1``, ``*2``, ``^2``...;
- an int or None: the axis of ``sum``, ``mean``, the reductions ``max``/``min`` and the
  softmax family (None: every element for a reduction, the last axis for the softmax
  family);
- a tuple: the index of an index gate, one item per axis, each an int, a slice
  ``("slice", start, stop, step)``, ``("arange", n)``, or ``("input", name)`` for an index
  that comes from the gate's next graph input (``s[y]``).
"""


class GateError(ValueError):
    """A gate's input does not fit it (an axis it does not have, an index out of range).

    The message describes the problem itself; the engine adds what the user wrote and
    where.
    """

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
    label: Callable[[Param], str]
    # 1 or 2: the graph inputs. An index gate has one more input for each index that
    # comes from an input (see ``index_from``).
    arity: int
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
    # True when the gate carries a constant or a parameter: forward(x, c), vjp(g, out, x, c).
    has_const: bool = False
    # The local gradient as text, numbers substituted, one per input (see the module's
    # docstring); every entry has one, so the chain rule can be written at every gate.
    local: Callable[..., tuple[str, ...]] | None = None
    # True when the inputs can trade places (u + v is v + u): the figure may then draw
    # them in either order, which lets Graphviz avoid crossings; others keep their order.
    commutative: bool = False
    # The keyword a call may give the parameter with (``sum(X, axis=0)``).
    keyword: str | None = None
    # Inputs from this position on are indices: integers that get no gradient.
    index_from: int | None = None
    # The label drawn instead where another gate of the figure has the same one: the
    # slides draw the matrix product as "*", and beside an elementwise "*" it is "@".
    distinct_label: str | None = None
    # For a binary gate: why two shapes do not fit, from the two operands as written
    # and their shapes ("cannot multiply W (2, 3) by x (2,): the inner sizes 3 and 2 differ").
    mismatch: Callable[[str, str, Shape, Shape], str] | None = None
    # The slide notation drawn in the circle where the label is too long for it
    # (``lse`` for logsumexp, ``Σ₀`` for ``sum axis=0``); the figure's key gives the label.
    short: Callable[[Param], str] | None = None


def _fixed(text: str) -> Callable[[Param], str]:
    return lambda c: text


def _with_const(make: Callable[[float], str]) -> Callable[[Param], str]:
    return lambda c: make(0.0 if not isinstance(c, (int, float)) else c)


def _with_axis(text: str) -> Callable[[Param], str]:
    """``sum`` over everything, ``sum axis=0`` along an axis (the renderer breaks the line);
    ``axis=(0,1)`` for several, and keepdims, which only the shapes show, is not written."""
    def label(c: Param) -> str:
        axis = c[0] if isinstance(c, tuple) else c
        if axis is None:
            return text
        if isinstance(axis, tuple):
            return f"{text} axis=({','.join(map(str, axis))})"
        return f"{text} axis={format_constant(float(axis))}"
    return label


_SUBSCRIPT = str.maketrans("-0123456789", "₋₀₁₂₃₄₅₆₇₈₉")


def _short_axis(text: str, whole: str | None = None) -> Callable[[Param], str]:
    """``Σ₀`` for ``sum axis=0``: the notation with the axis as a subscript; ``whole`` (or
    the notation itself) where the gate works over every element or the last axis."""
    def make(c: Param) -> str:
        axis = c[0] if isinstance(c, tuple) else c  # numpy's (axis, keepdims)
        if axis is None:
            return whole or text
        axes = axis if isinstance(axis, tuple) else (axis,)
        return text + ",".join(str(int(a)).translate(_SUBSCRIPT) for a in axes)
    return make


def _short_index(spec: Param) -> str:
    """``[y]`` for ``[arange(4), y]``: the per-row pick written by what it picks with."""
    assert isinstance(spec, tuple)
    kept = [item for item in spec
            if not (isinstance(item, tuple) and item[0] in ("arange", "arange_input"))]
    return index_label(tuple(kept)) if kept else index_label(spec)


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


def _routed(g: Array, share: Array) -> Array:
    """g times a 0/1/0.5 share, 0 where the share is 0 even when g is inf (PyTorch's masks)."""
    return np.where(share == 0, 0.0, g * share)[()]


def _broadcast_mismatch(template: str) -> Callable[[str, str, Shape, Shape], str]:
    """``template`` says what cannot be done with {a} and {b}: "add {a} and {b}"."""
    def message(a: str, b: str, sa: Shape, sb: Shape) -> str:
        return (f"cannot {template.format(a=f'{a} {sa}', b=f'{b} {sb}')}: the shapes do not "
                "broadcast (sizes must match from the right, or be 1)")
    return message


def _matmul_mismatch(a: str, b: str, sa: Shape, sb: Shape) -> str:
    if not sa or not sb:
        which = a if not sa else b
        return (f"cannot multiply {a} {sa} by {b} {sb}: {which} is a number, and @ needs a "
                "vector or matrix on both sides (write * to scale)")
    if len(sa) > 2 or len(sb) > 2:
        return (f"cannot multiply {a} {sa} by {b} {sb}: @ multiplies vectors and matrices, "
                "and this has more than two dimensions")
    return (f"cannot multiply {a} {sa} by {b} {sb}: the inner sizes {sa[-1]} and {sb[0]} differ")


def _matmul(x: Array, y: Array) -> Array:
    """The matrix product of vectors and matrices: a stack of them (3 or 4 dimensions, which
    values may have for a CNN) is not what the slides' product means, so it is an error
    (:func:`_matmul_mismatch` says which)."""
    if np.ndim(x) > 2 or np.ndim(y) > 2:
        raise ValueError("more than two dimensions")
    return x @ y


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


def _log_base(x: Array, y: Array) -> Array:
    """log x in d(x^y)/dy = x^y log x, with PyTorch's ends: taken as 0 where x = 0 and
    y >= 0 (the limit), -inf where x = 0 and y < 0, nan where x < 0."""
    safe = np.where(x > 0, x, 1.0)
    return np.where(x > 0, np.log(safe), np.where(x == 0, np.where(y >= 0, 0.0, -np.inf), np.nan))


def _dpow_dy(out: Array, x: Array, y: Array) -> Array:
    # out * log x, except where x = 0 and y >= 0 (0), and where y < 0 (out is inf and
    # log x is -inf: -inf, as PyTorch gives it, rather than inf * 0).
    log_x = _log_base(x, y)
    return np.where(log_x == 0, 0.0, out * log_x)[()]


def _pow_vjp(g: Array, out: Array, x: Array, y: Array) -> tuple[Array, Array]:
    # d(x^y)/dx is y x^(y-1), and 0 where y = 0 even at x = 0 (x^0 is constant).
    dx = np.where(y == 0, 0.0, g * y * x ** (y - 1))[()]
    return dx, g * _dpow_dy(out, x, y)


def _pow_const_vjp(g: Array, out: Array, x: Array, c: float) -> tuple[Array]:
    if c == 0:  # x^0 is constant: its gradient is 0 even at x = 0, even for an inf g
        return (np.zeros(np.broadcast(g, x).shape),)
    return (g * c * x ** (c - 1),)


def _rpow_const_vjp(g: Array, out: Array, x: Array, c: float) -> tuple[Array]:
    return (g * _dpow_dy(out, np.float64(c), x),)


# --- reductions and the softmax family ---------------------------------------------------

def _check_axis(x: Array, axis: Param) -> int | None:
    """The axis as an int (None: every element), or a GateError naming the dimensions."""
    if axis is None:
        return None
    assert isinstance(axis, (int, float))
    ndim = np.ndim(x)
    if not -ndim <= int(axis) < ndim:
        kind = {0: "a number", 1: "a vector"}.get(ndim, "a matrix")
        raise GateError(f"{kind} {np.shape(x)}, which has no axis {int(axis)}"
                     + (" (it has only axis 0, or -1)" if ndim == 1 else
                        " (its axes are 0 and 1, or -2 and -1)" if ndim == 2 else ""))
    return int(axis)


def _last(x: Array, axis: Param) -> int | None:
    """The softmax family's axis: the last one unless given; a number is its own axis."""
    if np.ndim(x) == 0:
        return _check_axis(x, axis) if axis not in (None, -1, 0) else None
    return _check_axis(x, -1 if axis is None else axis)


def _spread(g: Array, x: Array, axis: int | tuple[int, ...] | None,
            keepdims: bool = False) -> Array:
    """A reduction's upstream gradient, copied back along the axes it reduced."""
    if axis is None or keepdims:
        return np.broadcast_to(g, np.shape(x))
    return np.broadcast_to(np.expand_dims(g, axis), np.shape(x))


Axes = int | tuple[int, ...] | None


def _axes(x: Array, c: Param) -> tuple[Axes, bool]:
    """A reduction's parameter as numpy's ``axis`` and ``keepdims``.

    The parameter is an axis (an int, or None for every element), or, when the call says
    more, the pair ``(axis, keepdims)`` whose axis may be a tuple: ``sum(X, axis=(0, 1))``.
    """
    axis, keep = c if isinstance(c, tuple) else (c, False)
    if not isinstance(axis, tuple):
        return _check_axis(x, axis), bool(keep)
    axes = tuple(_check_axis(x, a) % max(np.ndim(x), 1) for a in axis)  # type: ignore[operator]
    if len(set(axes)) < len(axes):
        raise GateError(f"{np.shape(x)}: the axes {axis} name one axis twice")
    return axes, bool(keep)


def _spread_param(g: Array, x: Array, c: Param) -> Array:
    return _spread(g, x, *_axes(x, c))


def _reduce(f: Callable[..., Array]) -> Callable[..., Array]:
    def forward(x: Array, c: Param = None) -> Array:
        axis, keep = _axes(x, c)
        return f(x, axis=axis, keepdims=keep)[()]
    return forward


def _mean_count(x: Array, c: Param) -> int:
    axis, _ = _axes(x, c)
    if axis is None:
        return int(np.size(x))
    axes = axis if isinstance(axis, tuple) else (axis,)
    return int(np.prod([np.shape(x)[a] for a in axes]))


def _centred(x: Array, c: Param) -> Array:
    """x minus its mean along the reduced axes, in x's shape (var and std need it)."""
    axis, _ = _axes(x, c)
    return x - np.mean(x, axis=axis, keepdims=True)


def _var_vjp(g: Array, out: Array, x: Array, c: Param = None) -> tuple[Array]:
    # d var / dx_i = 2 (x_i - mean) / n: the mean's own dependence on x_i sums to 0.
    return (_spread_param(g, x, c) * 2.0 * _centred(x, c) / _mean_count(x, c),)


def _std_vjp(g: Array, out: Array, x: Array, c: Param = None) -> tuple[Array]:
    # d std / dx_i = (x_i - mean) / (n std): 0/0 = nan where every element is equal, as
    # in PyTorch.
    return (_spread_param(g, x, c) * _centred(x, c)
            / (_mean_count(x, c) * _spread_param(out, x, c)),)


def _extreme_share(out: Array, x: Array, c: Param) -> Array:
    """Where x attains its max (or min): 1/k for each of the k elements that tie, else 0."""
    axis, keep = _axes(x, c)
    top = _spread(out, x, axis, keep)
    hit = (x == top) | (np.isnan(x) & np.isnan(top))  # a nan wins, as in PyTorch
    count = np.sum(hit, axis=axis, keepdims=axis is not None)
    return hit / count


def _extreme_vjp(g: Array, out: Array, x: Array, c: Param = None) -> tuple[Array]:
    # PyTorch's amax/amin: the gradient is shared evenly between the elements that tie;
    # the others get 0, even from an infinite g (as torch.max(x) gives it).
    share = _extreme_share(out, x, c)
    return (_routed(_spread_param(g, x, c), share),)


def _logsumexp(x: Array, c: Param = None) -> Array:
    axis = _last(x, c)
    if axis is None:
        return x * 1.0
    # Shifted by the largest element, so exp never overflows: logsumexp([1000, 1000])
    # is 1000 + log 2, not inf. A row of -inf stays -inf.
    top = np.max(x, axis=axis, keepdims=True)
    top = np.where(np.isfinite(top), top, 0.0)
    total = np.sum(np.exp(x - top), axis=axis, keepdims=True)
    return np.squeeze(np.log(total) + top, axis=axis)[()]


def _softmax(x: Array, c: Param = None) -> Array:
    axis = _last(x, c)
    if axis is None:
        return np.ones_like(x * 1.0)
    return np.exp(x - np.expand_dims(_logsumexp(x, axis), axis))


def _log_softmax(x: Array, c: Param = None) -> Array:
    axis = _last(x, c)
    if axis is None:
        return np.zeros_like(x * 1.0)
    return x - np.expand_dims(_logsumexp(x, axis), axis)


def _logsumexp_vjp(g: Array, out: Array, x: Array, c: Param = None) -> tuple[Array]:
    # d lse / dx = softmax(x)
    return (_spread(g, x, _last(x, c)) * _softmax(x, c),)


def _softmax_vjp(g: Array, out: Array, x: Array, c: Param = None) -> tuple[Array]:
    # The Jacobian is diag(p) - p p^T: dx = p * (g - sum(p * g)) along the axis.
    axis = _last(x, c)
    if axis is None:
        return (np.zeros_like(x * 1.0),)
    return (out * (g - np.sum(out * g, axis=axis, keepdims=True)),)


def _log_softmax_vjp(g: Array, out: Array, x: Array, c: Param = None) -> tuple[Array]:
    # The Jacobian is I - 1 p^T: dx = g - p sum(g) along the axis.
    axis = _last(x, c)
    if axis is None:
        return (np.zeros_like(x * 1.0),)
    return (g - np.exp(out) * np.sum(g, axis=axis, keepdims=True),)


def _axis_text(x: Array, c: Param) -> str:
    """``, axis=0`` in a local-gradient text, where a matrix makes it matter."""
    axis = _last(x, c)
    return "" if axis is None or np.ndim(x) < 2 else f", axis={axis}"


# --- indexing -------------------------------------------------------------------------------

def index_label(spec: Param) -> str:
    """An index as it is written: ``[2]``, ``[:, 0]``, ``[arange(4), y]``."""
    assert isinstance(spec, tuple)
    return "[" + ", ".join(map(_index_item_text, spec)) + "]"


def _index_item_text(item: Any) -> str:
    if isinstance(item, int):
        return str(item)
    kind = item[0]
    if kind == "slice":
        start, stop, step = ("" if v is None else str(v) for v in item[1:])
        return f"{start}:{stop}" + (f":{step}" if step else "")
    if kind == "arange":
        return f"arange({item[1]})"
    if kind == "newaxis":
        return "None"
    if kind == "ellipsis":
        return "..."
    if kind == "arange_input":
        return f"arange({item[1]})"
    return str(item[1])


def _integers(value: Array, item: Any) -> Array:
    """An index input's value as integers, or a GateError saying why it is not one."""
    a = np.asarray(value)
    if not np.all(np.isfinite(a)) or not np.all(a == np.round(a)):
        bad = a[~(np.isfinite(a) & (a == np.round(a)))].flat[0] if a.ndim else a
        raise GateError(f"the index {item[1]} must hold integers, and it holds {float(bad):g}")
    # 1e300 is whole but no intp: cast, it would wrap round to some other index
    huge = np.abs(a) > np.iinfo(np.intp).max // 2
    if np.any(huge):
        bad = a[huge].flat[0] if a.ndim else a
        raise GateError(f"the index {item[1]} holds {float(bad):g}, too large to be an index")
    return a.astype(np.intp)


def _index_tuple(spec: Param, indices: tuple[Array, ...]) -> tuple[Any, ...]:
    assert isinstance(spec, tuple)
    inputs = iter(indices)
    out: list[Any] = []
    for item in spec:
        if isinstance(item, int):
            out.append(item)
        elif item[0] == "slice":
            out.append(slice(*item[1:]))
        elif item[0] == "arange":
            out.append(np.arange(item[1]))
        elif item[0] == "newaxis":
            out.append(None)
        elif item[0] == "ellipsis":
            out.append(Ellipsis)
        elif item[0] == "arange_input":
            out.append(np.arange(_integers(next(inputs), item)))
        else:
            out.append(_integers(next(inputs), item))
    return tuple(out)


def _index(x: Array, *rest: Array) -> Array:
    """``x[index]``: ``rest`` is the index inputs' values, then the parameter (the spec)."""
    *indices, spec = rest
    where = _index_tuple(spec, tuple(indices))
    if sum(w is not None and w is not Ellipsis for w in where) > np.ndim(x):
        kind = {0: "a number", 1: "a vector"}.get(np.ndim(x), "a matrix")
        raise GateError(f"{kind} {np.shape(x)} has {np.ndim(x)} "
                     f"ax{'i' if np.ndim(x) == 1 else 'e'}s, and {index_label(spec)} indexes "
                     f"{sum(w is not None and w is not Ellipsis for w in where)}")
    arrays = [np.shape(w) for w in where if isinstance(w, np.ndarray)]
    try:
        np.broadcast_shapes(*arrays)
    except ValueError:
        raise GateError(f"the index arrays of {index_label(spec)} have the shapes "
                        f"{' and '.join(map(str, arrays))}: they must have the same length "
                        "(or be a single number)") from None
    try:
        out = np.asarray(x)[where][()] * 1.0
    except IndexError as err:  # numpy: "index 5 is out of bounds for axis 0 with size 3"
        raise GateError(str(err)) from None
    if np.size(out) == 0:  # backviz has no empty values (nothing to draw, no gradient)
        raise GateError(f"{index_label(spec)} picks no element of {np.shape(x)}")
    return out


def _index_vjp(g: Array, out: Array, x: Array, *rest: Array) -> tuple[Array, ...]:
    # The picked elements' gradients scatter back to where they came from, and an element
    # picked twice gets both (add.at adds at repeated indices, where += would not).
    *indices, spec = rest
    dx = np.zeros(np.shape(x))
    np.add.at(dx, _index_tuple(spec, tuple(indices)), g)
    return (dx[()], *(np.zeros(np.shape(i)) for i in indices))


def _index_local(f: Fmt, out: Array, x: Array, *rest: Array) -> tuple[str, ...]:
    *indices, spec = rest
    zeros = "0" if np.ndim(x) == 0 else "zeros(" + ", ".join(map(str, np.shape(x))) + ")"
    return (f"({UPSTREAM}) placed at {index_label(spec)} in {zeros}", *("none" for _ in indices))


# --- numpy as a first course writes it: masks, where, clip, norm, shapes, index assignment --

COMPARISONS: dict[str, Callable[[Array, Array], Array]] = {
    "<": np.less, "<=": np.less_equal, ">": np.greater, ">=": np.greater_equal,
    "==": np.equal, "!=": np.not_equal}
"""The comparison operators: each gives a mask of 0s and 1s, which has no gradient."""
_FLIPPED = {"<": ">", "<=": ">=", ">": "<", ">=": "<=", "==": "==", "!=": "!="}


def _compare(x: Array, y: Array, c: Param) -> Array:
    assert isinstance(c, tuple)
    return COMPARISONS[c[0]](x, y) * 1.0


def _compare_c(x: Array, c: Param) -> Array:
    """``x < 0``; the parser writes ``0 < x`` as ``x > 0``, so the constant is on the right."""
    assert isinstance(c, tuple)
    return COMPARISONS[c[0]](x, c[1]) * 1.0


def _no_gradient(g: Array, out: Array, *rest: Array) -> tuple[Array, ...]:
    """A mask or a shape: every input (but the parameter, last) gets zeros."""
    return tuple(np.zeros(np.shape(x)) for x in rest[:-1])


def _where_values(rest: tuple[Array, ...]) -> tuple[Array, Array, Array]:
    """``where``'s two branches and its mask: ``rest`` is the inputs (the branches that are
    not constants, then the mask), then the parameter (each branch's constant, or None)."""
    *inputs, spec = rest
    if not isinstance(spec, tuple) or len(inputs) != 1 + sum(k is None for k in spec):
        raise GateError("where takes its branches that are not numbers, then its mask")
    given = iter(inputs[:-1])
    a, b = [next(given) if k is None else np.float64(k) for k in spec]
    return a, b, inputs[-1]


def _where(*rest: Array) -> Array:
    a, b, mask = _where_values(rest)
    picked: Array = np.where(mask != 0, a, b)
    return picked * 1.0


def _where_vjp(g: Array, out: Array, *rest: Array) -> tuple[Array, ...]:
    # The gradient goes to the branch that was picked; none to the other, nor to the mask.
    a, b, mask = _where_values(rest)
    picked = np.broadcast_to(mask != 0, np.broadcast(a, b, mask).shape)
    branches = (np.where(picked, g, 0.0)[()], np.where(picked, 0.0, g)[()])
    spec = rest[-1]
    assert isinstance(spec, tuple)
    kept = tuple(d for d, k in zip(branches, spec, strict=True) if k is None)
    return (*kept, np.zeros(np.shape(mask)))


def _where_local(f: Fmt, out: Array, *rest: Array) -> tuple[str, ...]:
    mask = _where_values(rest)[2]
    spec = rest[-1]
    assert isinstance(spec, tuple)
    texts = (_exact(f, mask != 0), _exact(f, mask == 0))
    return (*(t for t, k in zip(texts, spec, strict=True) if k is None), "none")


def _where_label(c: Param) -> str:
    """``where``, or ``where(m,a,0)`` when a branch is a number."""
    assert isinstance(c, tuple)
    if c == (None, None):
        return "where"
    a, b = (name if k is None else format_constant(k) for name, k in zip("ab", c, strict=True))
    return f"where(m,{a},{b})"


def _bound_text(v: Any) -> str:
    return "None" if v is None else format_constant(v)


def _clip_inside(x: Array, c: Param) -> Array:
    """Where clip passes x through: between the bounds, the bounds themselves included
    (PyTorch's clamp sends the gradient through at a bound)."""
    assert isinstance(c, tuple)
    low, high = c
    inside = np.ones(np.shape(x), dtype=bool)
    if low is not None:
        inside &= x >= low
    if high is not None:
        inside &= x <= high
    return inside


def _norm_vjp(g: Array, out: Array, x: Array) -> tuple[Array]:
    # d||x||/dx = x / ||x||, and 0 at x = 0 (PyTorch's subgradient there).
    return (np.where(out == 0, 0.0, g * x / np.where(out == 0, 1.0, out))[()],)


def _shape_of(x: Array, c: Param) -> Array:
    """``X.shape``, ``X.shape[0]``, ``X.size``, ``X.ndim``, ``len(X)``: numbers, not
    gradients."""
    assert isinstance(c, tuple)
    shape = np.shape(x)
    what = c[0]
    if what == "size":
        return np.float64(np.size(x))
    if what == "ndim":
        return np.float64(np.ndim(x))
    if what == "shape" and len(c) == 1:
        if not shape:
            raise GateError("a number, whose shape () is empty: it has no .shape to draw")
        return np.array(shape, dtype=np.float64)
    axis = c[1] if what == "shape" else 0
    if not -len(shape) <= axis < len(shape):
        kind = {0: "a number", 1: "a vector"}.get(len(shape), "a matrix")
        raise GateError(f"{kind} {shape} has no {_shape_label(c)}"
                        + (" (a number has no shape: len and .shape[k] need an array)"
                           if not shape else ""))
    return np.float64(shape[axis])


def _shape_short(c: Param) -> str:
    """``n₀`` for ``X.shape[0]`` (a size, read off axis 0) in a slide-fit figure."""
    assert isinstance(c, tuple)
    return "n" + str(c[1]).translate(_SUBSCRIPT) if c[0] == "shape" and len(c) > 1 \
        else _shape_label(c)


def _shape_label(c: Param) -> str:
    assert isinstance(c, tuple)
    if c[0] == "shape" and len(c) > 1:
        return f"shape[{c[1]}]"
    return "len" if c[0] == "len" else c[0]


def _dims(spec: Param, dims: tuple[Array, ...]) -> tuple[int, ...]:
    """A reshape's sizes: the numbers written, and those that come from inputs (N)."""
    assert isinstance(spec, tuple)
    given = iter(dims)
    out = []
    for item in spec:
        size = item if isinstance(item, int) else _integers(next(given), item)
        out.append(int(size))
    return tuple(out)


def _reshape(x: Array, *rest: Array) -> Array:
    *dims, spec = rest
    sizes = _dims(spec, tuple(dims))
    try:
        return np.reshape(x, sizes) * 1.0
    except ValueError:
        raise GateError(f"{np.shape(x)} ({np.size(x)} elements) cannot be reshaped to "
                        f"{sizes}") from None


def _reshape_vjp(g: Array, out: Array, x: Array, *rest: Array) -> tuple[Array, ...]:
    return (np.reshape(g, np.shape(x)), *(np.zeros(np.shape(d)) for d in rest[:-1]))


def _reshape_label(c: Param) -> str:
    assert isinstance(c, tuple)
    return "reshape(" + ",".join(map(_index_item_text, c)) + ")"


def _reshape_short(c: Param) -> str:
    """The circle's word: ``flat`` for a flattening (``reshape(-1)``, ``reshape(N,-1)``),
    ``rshp`` for any other shape (the key spells it out)."""
    assert isinstance(c, tuple)
    return "flat" if c and c[-1] == -1 and len(c) <= 2 else "rshp"


def _targets(m: Array, spec: Param, indices: tuple[Array, ...]) -> tuple[Any, Shape]:
    """Where ``m[index] = ...`` writes, and the shape of what it replaces."""
    where = _index_tuple(spec, indices)
    try:
        return where, np.shape(np.asarray(m)[where])
    except IndexError as err:
        raise GateError(str(err)) from None


def _assigned(m: Array, value: Array, spec: Param, indices: tuple[Array, ...]) -> Array:
    """A new version of m: a copy, the places of the index replaced by the value."""
    where, shape = _targets(m, spec, indices)
    if np.ndim(m) == 0:
        raise GateError("a number cannot be assigned at an index")
    out = np.array(m, dtype=np.float64)
    try:
        out[where] = np.broadcast_to(value, shape)
    except ValueError:
        raise GateError(f"a value of shape {np.shape(value)} cannot be put in the {shape} "
                        f"places of {index_label(spec)}") from None
    return out


def _assigned_vjp(g: Array, m: Array, value: Array, spec: Param,
                  indices: tuple[Array, ...]) -> tuple[Array, Array]:
    """The gradient of m is g but 0 at the replaced places; the value gets g at each place
    it was written to last (numpy writes repeated indices in order: the last one stays)."""
    where, shape = _targets(m, spec, indices)
    dm = np.array(g, dtype=np.float64)
    dm[where] = 0.0
    writer = np.full(np.shape(m), -1)
    ids = np.arange(int(np.prod(shape))).reshape(shape)
    writer[where] = ids
    dvalue = np.where(writer[where] == ids, np.asarray(g)[where], 0.0)
    return dm, dvalue


def _setitem(m: Array, value: Array, *rest: Array) -> Array:
    *indices, spec = rest
    return _assigned(m, value, spec, tuple(indices))


def _setitem_vjp(g: Array, out: Array, m: Array, value: Array, *rest: Array) -> tuple[Array, ...]:
    *indices, spec = rest
    dm, dvalue = _assigned_vjp(g, m, value, spec, tuple(indices))
    return (dm, dvalue, *(np.zeros(np.shape(i)) for i in indices))


def _fill(m: Array, *rest: Array) -> Array:
    """``m[index] = 0``: the parameter is ``(0, index)``."""
    *indices, (value, spec) = rest
    return _assigned(m, np.float64(value), spec, tuple(indices))


def _fill_vjp(g: Array, out: Array, m: Array, *rest: Array) -> tuple[Array, ...]:
    *indices, (value, spec) = rest
    dm, _ = _assigned_vjp(g, m, np.float64(value), spec, tuple(indices))
    return (dm, *(np.zeros(np.shape(i)) for i in indices))


def _kept_text(m: Array, spec: Param) -> str:
    return f"1, and 0 at {index_label(spec)}"


def _setitem_local(f: Fmt, out: Array, m: Array, value: Array, *rest: Array
                   ) -> tuple[str, ...]:
    *indices, spec = rest
    return (_kept_text(m, spec), f"({UPSTREAM}) at {index_label(spec)}",
            *("none" for _ in indices))


def _fill_local(f: Fmt, out: Array, m: Array, *rest: Array) -> tuple[str, ...]:
    *indices, (_, spec) = rest
    return (_kept_text(m, spec), *("none" for _ in indices))


def _fill_label(c: Param) -> str:
    assert isinstance(c, tuple)
    value, spec = c
    return f"{index_label(spec)}={format_constant(value)}"


# --- a small CNN: conv2d, max_pool2d, avg_pool2d --------------------------------------------
# Images are (C, H, W), or (N, C, H, W) for a batch; a filter bank is (O, C, kh, kw). Each
# gate reads its input as windows (sliding_window_view), computes on them with einsum or a
# max, and sends each window's gradient back to the places it came from (_added_back): where
# windows overlap, their shares add up, as in PyTorch.

def _windows(x: Array, size: Shape, stride: int) -> Array:
    """The ``size`` windows of x's last two axes, ``stride`` apart: (..., OH, OW, kh, kw)."""
    # The engine's message starts "x is": these go on from there.
    if np.ndim(x) < 3:
        raise GateError(f"{np.shape(x)}, not an image (C, H, W) or a batch of them (N, C, H, W)")
    if any(k > n for k, n in zip(size, np.shape(x)[-2:], strict=True)):
        raise GateError(f"{np.shape(x)}, smaller than a {size[0]}x{size[1]} window")
    return np.lib.stride_tricks.sliding_window_view(x, size, axis=(-2, -1))[
        ..., ::stride, ::stride, :, :]


def _added_back(shares: Array, shape: Shape, stride: int) -> Array:
    """Each window's gradient (..., OH, OW, kh, kw) added back at its places in x's shape."""
    dx = np.zeros(shape)
    oh, ow, kh, kw = np.shape(shares)[-4:]
    for i in range(kh):
        for j in range(kw):
            dx[..., i:i + stride * (oh - 1) + 1:stride,
               j:j + stride * (ow - 1) + 1:stride] += shares[..., i, j]
    return dx


def _padded(x: Array, padding: int) -> Array:
    return np.pad(x, [(0, 0)] * (np.ndim(x) - 2) + [(padding, padding)] * 2)


def _conv_windows(x: Array, w: Array, c: Param) -> Array:
    assert isinstance(c, tuple)
    stride, padding = c
    if np.ndim(w) != 4 or np.ndim(x) not in (3, 4) or np.shape(x)[-3] != np.shape(w)[1] or any(
            k > n + 2 * padding for k, n in zip(np.shape(w)[-2:], np.shape(x)[-2:], strict=True)):
        raise ValueError("shapes that do not fit")  # _conv_mismatch says how
    return _windows(_padded(x, padding), np.shape(w)[-2:], stride)


def _conv_mismatch(a: str, b: str, sa: Shape, sb: Shape) -> str:
    return (f"cannot convolve {a} {sa} with the filters {b} {sb}: conv2d takes an image "
            "(C, H, W) or a batch (N, C, H, W), and filters (O, C, kh, kw) of its C channels, "
            "no larger than the image and its padding")


def _conv2d(x: Array, w: Array, c: Param) -> Array:
    """PyTorch's conv2d (a cross-correlation): each output is a window dotted with a filter."""
    return np.einsum("...chwij,ocij->...ohw", _conv_windows(x, w, c), w)


def _conv2d_vjp(g: Array, out: Array, x: Array, w: Array, c: Param) -> tuple[Array, Array]:
    """dW: each window times the gradient of its output; dx: each filter times it, added
    back where the window came from (and the padding cut off)."""
    assert isinstance(c, tuple)
    stride, padding = c
    windows = _conv_windows(x, w, c)
    batch = (-1, *np.shape(windows)[-5:])
    dw = np.einsum("nchwij,nohw->ocij", np.reshape(windows, batch),
                   np.reshape(g, (-1, *np.shape(g)[-3:])))
    shares = np.einsum("...ohw,ocij->...chwij", g, w)
    dx = _added_back(shares, np.shape(_padded(x, padding)), stride)
    h, wd = np.shape(x)[-2:]
    return dx[..., padding:padding + h, padding:padding + wd], dw


def _conv_label(c: Param) -> str:
    assert isinstance(c, tuple)
    stride, padding = c
    return "conv2d" + (f" s={stride}" if stride != 1 else "") + (f" p={padding}" if padding else "")


def _pool_windows(x: Array, c: Param) -> Array:
    assert isinstance(c, tuple)
    kernel, stride = c
    return _windows(x, (kernel, kernel), stride)


def _first_max(windows: Array) -> Array:
    """1 at the first largest element of each window, 0 elsewhere: PyTorch's max_pool2d sends
    the whole gradient to one element even on a tie (the first, row by row)."""
    flat = np.reshape(windows, (*np.shape(windows)[:-2], -1))
    first = np.argmax(flat, axis=-1)[..., None] == np.arange(flat.shape[-1])
    return np.reshape(first, np.shape(windows))


def _max_pool_vjp(g: Array, out: Array, x: Array, c: Param) -> tuple[Array]:
    assert isinstance(c, tuple)
    mask = _first_max(_pool_windows(x, c))
    shares = np.where(mask, np.asarray(g)[..., None, None], 0.0)
    return (_added_back(shares, np.shape(x), c[1]),)


def _avg_pool_vjp(g: Array, out: Array, x: Array, c: Param) -> tuple[Array]:
    assert isinstance(c, tuple)
    kernel, stride = c
    shares = np.broadcast_to(np.asarray(g)[..., None, None] / kernel ** 2,
                             (*np.shape(g), kernel, kernel))
    return (_added_back(shares, np.shape(x), stride),)


def _pool_label(text: str) -> Callable[[Param], str]:
    """``max_pool 2`` for 2x2 windows 2 apart; ``max_pool 3 s=2`` when the stride differs."""
    def label(c: Param) -> str:
        assert isinstance(c, tuple)
        kernel, stride = c
        return f"{text} {kernel}" + (f" s={stride}" if stride != kernel else "")
    return label


def _pool_short(text: str) -> Callable[[Param], str]:
    """``max 2×2`` in the circle, on two lines; the figure's key gives the stride."""
    def short(c: Param) -> str:
        assert isinstance(c, tuple)
        return f"{text} {c[0]}×{c[0]}"
    return short


_ENTRIES = [
    # --- binary operators -------------------------------------------------------
    Op("add", _fixed("+"), 2, lambda x, y: x + y,
       lambda g, out, x, y: (g, g),
       const_left="add_c", const_right="add_c", pattern="distributor",
       local=lambda f, out, x, y: ("1", "1"), mismatch=_broadcast_mismatch("add {a} and {b}"),
       commutative=True),
    Op("sub", _fixed("-"), 2, lambda x, y: x - y,
       lambda g, out, x, y: (g, -g),
       const_left="rsub_c", const_right="sub_c",
       local=lambda f, out, x, y: ("1", "-1"), mismatch=_broadcast_mismatch("subtract {b} from {a}")),
    Op("mul", _fixed("*"), 2, lambda x, y: x * y,
       lambda g, out, x, y: (g * y, g * x),
       const_left="mul_c", const_right="mul_c", pattern="switcher",
       local=lambda f, out, x, y: (f(y), f(x)),
       mismatch=_broadcast_mismatch("multiply {a} and {b} elementwise"), commutative=True),
    Op("div", _fixed("/"), 2, lambda x, y: x / y,
       lambda g, out, x, y: (g / y, -g * out / y),
       const_left="rdiv_c", const_right="div_c",
       local=lambda f, out, x, y: (f"1/{_neg(f(y))}", f"-{_neg(f(x))}/{_neg(f(y))}^2"),
       mismatch=_broadcast_mismatch("divide {a} by {b}")),
    Op("pow", _fixed("^"), 2, lambda x, y: x ** y, _pow_vjp,
       const_left="rpow_c", const_right="pow_c",
       local=lambda f, out, x, y: (_times(f(y), f(x)) + "^" + _neg(f(y - 1)),
                                   _times(f(out), "ln " + f(x))),
       mismatch=_broadcast_mismatch("raise {a} to the power {b}")),
    # The lecture's vectorized slide draws the matrix product as "*".
    # dx = (upstream)(y^T) and dy = (x^T)(upstream): the upstream gradient multiplies
    # the first input's local gradient from the left.
    Op("matmul", _fixed("*"), 2, _matmul, _matmul_vjp,
       local=lambda f, out, x, y: (f"({UPSTREAM})({f(y)}^T)", f"{f(x)}^T"),
       distinct_label="@", mismatch=_matmul_mismatch),
    Op("max", _fixed("max"), 2, np.maximum,
       lambda g, out, x, y: (_routed(g, _tie(x, y)), _routed(g, _tie(y, x))),
       function="max", const_left="max_c", const_right="max_c", pattern="router",
       local=lambda f, out, x, y: (_exact(f, _tie(x, y)), _exact(f, _tie(y, x))),
       mismatch=_broadcast_mismatch("compare {a} and {b}"), commutative=True),
    Op("min", _fixed("min"), 2, np.minimum,
       lambda g, out, x, y: (_routed(g, _tie(y, x)), _routed(g, _tie(x, y))),
       function="min", const_left="min_c", const_right="min_c", pattern="router",
       local=lambda f, out, x, y: (_exact(f, _tie(y, x)), _exact(f, _tie(x, y))),
       mismatch=_broadcast_mismatch("compare {a} and {b}"), commutative=True),
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
       _rpow_const_vjp, has_const=True,
       local=lambda f, out, x, c: (_times(f(out), "ln " + format_constant(c)),)),
    Op("max_c", _with_const(lambda c: f"max(x,{format_constant(c)})"), 1,
       lambda x, c: np.maximum(x, c),
       lambda g, out, x, c: (_routed(g, _tie(x, c)),), has_const=True,
       local=lambda f, out, x, c: (_exact(f, _tie(x, c)),)),
    Op("min_c", _with_const(lambda c: f"min(x,{format_constant(c)})"), 1,
       lambda x, c: np.minimum(x, c),
       lambda g, out, x, c: (_routed(g, _tie(c, x)),), has_const=True,
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
       lambda g, out, x: (_routed(g, x > 0),), function="relu",
       local=lambda f, out, x: (_exact(f, x > 0),)),
    # Reductions over every element (sum(x)) or along an axis (sum(X, axis=0)). The local
    # gradient of a sum is 1 for every element: the upstream gradient is copied back.
    Op("sum", _with_axis("sum"), 1, _reduce(np.sum),
       lambda g, out, x, c=None: (_spread_param(g, x, c) * 1.0,),
       function="sum", has_const=True, keyword="axis", short=_short_axis("Σ", "sum"),
       local=lambda f, out, x, c=None: ("1",)),
    Op("mean", _with_axis("mean"), 1, _reduce(np.mean),
       lambda g, out, x, c=None: (_spread_param(g, x, c) / _mean_count(x, c),),
       function="mean", has_const=True, keyword="axis", short=_short_axis("μ", "mean"),
       local=lambda f, out, x, c=None: (f"1/{_mean_count(x, c)}",)),
    # max(X) and min(X): one input, unlike the elementwise max(a, b); ties share evenly.
    Op("amax", _with_axis("max"), 1, _reduce(np.max), _extreme_vjp,
       function="max", has_const=True, keyword="axis", pattern="router",
       short=_short_axis("max"),
       local=lambda f, out, x, c=None: (_exact(f, _extreme_share(out, x, c)),)),
    Op("amin", _with_axis("min"), 1, _reduce(np.min), _extreme_vjp,
       function="min", has_const=True, keyword="axis", pattern="router",
       short=_short_axis("min"),
       local=lambda f, out, x, c=None: (_exact(f, _extreme_share(out, x, c)),)),
    # The softmax family works along the last axis unless told (each row of a matrix).
    Op("logsumexp", _with_axis("logsumexp"), 1, _logsumexp, _logsumexp_vjp,
       function="logsumexp", has_const=True, keyword="axis", short=_short_axis("lse"),
       local=lambda f, out, x, c=None: (f(_softmax(x, c)),)),
    Op("softmax", _with_axis("softmax"), 1, _softmax, _softmax_vjp,
       function="softmax", has_const=True, keyword="axis", short=_short_axis("soft max"),
       local=lambda f, out, x, c=None: (
           f"{f(out)} * ({UPSTREAM} - sum({f(out)} * {UPSTREAM}{_axis_text(x, c)}))",)),
    Op("log_softmax", _with_axis("log_softmax"), 1, _log_softmax, _log_softmax_vjp,
       function="log_softmax", has_const=True, keyword="axis",
       short=_short_axis("log σ"),
       local=lambda f, out, x, c=None: (
           f"{UPSTREAM} - {f(np.exp(out))} * sum({UPSTREAM}{_axis_text(x, c)})",)),
    # A vector's transpose is itself, as in numpy.
    Op("transpose", _fixed("T"), 1, lambda x: np.transpose(x) * 1.0,
       lambda g, out, x: (np.transpose(g),), function="transpose",
       local=lambda f, out, x: (f"({UPSTREAM})^T",)),
    # x[2], X[:, 0], S[arange(N), y]: the index is the gate's parameter; an index that
    # comes from an input (y) is one more graph input, which gets no gradient.
    Op("index", index_label, 1, _index, _index_vjp, has_const=True, index_from=1, short=_short_index,
       local=_index_local),
    # The lecture's squared L2 norm gate: f(q) = ||q||^2 = sum_i q_i^2.
    Op("l2", _fixed("L2"), 1, lambda x: np.sum(x * x),
       lambda g, out, x: (2 * g * x,), function="l2",
       local=lambda f, out, x: (_scaled("2", f(x)),)),
    # --- numpy as a first course writes it ---------------------------------------
    Op("log1p", _fixed("log1p"), 1, np.log1p, lambda g, out, x: (g / (1 + x),), function="log1p",
       local=lambda f, out, x: (f"1/(1 + {f(x)})",)),
    Op("expm1", _fixed("expm1"), 1, np.expm1, lambda g, out, x: (g * (out + 1),),
       function="expm1", local=lambda f, out, x: ("e^" + f(x),)),
    Op("var", _with_axis("var"), 1, _reduce(np.var), _var_vjp,
       function="var", has_const=True, keyword="axis", short=_short_axis("var"),
       local=lambda f, out, x, c=None: (f"2({f(_centred(x, c))})/{_mean_count(x, c)}",)),
    Op("std", _with_axis("std"), 1, _reduce(np.std), _std_vjp,
       function="std", has_const=True, keyword="axis", short=_short_axis("std"),
       local=lambda f, out, x, c=None: (
           f"({f(_centred(x, c))})/({_mean_count(x, c)}*{f(out)})",)),
    # ||x||, the vector's 2-norm, or a matrix's Frobenius norm (np.linalg.norm).
    Op("norm", _fixed("norm"), 1, lambda x: np.sqrt(np.sum(x * x)), _norm_vjp,
       function="norm", local=lambda f, out, x: (f"{f(x)}/{f(out)}",)),
    # np.clip(x, low, high): the bounds are its parameter, None for no bound.
    Op("clip", lambda c: "clip " + ",".join(map(_bound_text, c)), 1,  # type: ignore[arg-type]
       lambda x, c: np.clip(x, *c) * 1.0,
       lambda g, out, x, c: (_routed(g, _clip_inside(x, c)),), function="clip",
       has_const=True, pattern="router",
       local=lambda f, out, x, c: (_exact(f, _clip_inside(x, c)),)),
    # a < b and the other comparisons: masks of 0s and 1s, without gradient (their
    # parameter is the operator, and the constant for ``x > 0``).
    Op("compare", lambda c: str(c[0]), 2, _compare,  # type: ignore[index]
       lambda g, out, x, y, c: (np.zeros(np.shape(x)), np.zeros(np.shape(y))),
       has_const=True, local=lambda f, out, x, y, c: ("0", "0")),
    Op("compare_c", lambda c: f"{c[0]}{_paren(c[1])}", 1, _compare_c,  # type: ignore[index]
       lambda g, out, x, c: (np.zeros(np.shape(x)),), has_const=True,
       local=lambda f, out, x, c: ("0",)),
    # np.where(mask, a, b): the mask (last input) gets no gradient; a branch that is a
    # number is the parameter's.
    Op("where", _where_label, 2, _where, _where_vjp, has_const=True, index_from=2,
       local=_where_local),
    # X.shape, X.shape[0], X.size, X.ndim, len(X): numbers read off a value, no gradient.
    Op("shape", _shape_label, 1, _shape_of, _no_gradient, has_const=True, index_from=0,
       short=lambda c: _shape_short(c),
       local=lambda f, out, x, c: ("none",)),
    Op("zeros_like", lambda c: "zeros_like" if c == (0.0,) else "ones_like", 1,
       lambda x, c: np.full(np.shape(x), c[0]), _no_gradient, has_const=True, index_from=0,
       local=lambda f, out, x, c: ("none",)),
    # X.reshape(N, -1), flatten, ravel: sizes written, or from inputs (no gradient).
    Op("reshape", _reshape_label, 1, _reshape, _reshape_vjp, has_const=True, index_from=1,
       short=_reshape_short,
       local=lambda f, out, x, *rest: (f"({UPSTREAM}) reshaped to {np.shape(x)}",
                                       *("none" for _ in rest[:-1]))),
    # m[idx] = v: a new version of m. The replaced places get no gradient; the value does.
    Op("setitem", lambda c: index_label(c) + "=", 2, _setitem, _setitem_vjp, has_const=True,
       index_from=2, local=_setitem_local, short=lambda c: _short_index(c) + "="),
    Op("fill", _fill_label, 1, _fill, _fill_vjp, has_const=True, index_from=1,
       local=_fill_local,
       short=lambda c: f"{_short_index(c[1])}={format_constant(c[0])}"),  # type: ignore[index]
    # A small CNN: the parameter is (stride, padding) for conv2d, (kernel, stride) for the
    # pools. conv2d's bias is a separate "+" (PyTorch's bridge reshapes it to (C, 1, 1)).
    Op("conv2d", _conv_label, 2, _conv2d, _conv2d_vjp, has_const=True, mismatch=_conv_mismatch,
       local=lambda f, out, x, w, c: (f"conv_transpose({UPSTREAM}, {f(w)})",
                                      f"conv({f(x)}, {UPSTREAM})")),
    Op("max_pool2d", _pool_label("max_pool"), 1,
       lambda x, c: np.max(_pool_windows(x, c), axis=(-2, -1)), _max_pool_vjp,
       has_const=True, pattern="router", short=_pool_short("max"),
       local=lambda f, out, x, c: (f"({UPSTREAM}) to each window's first max",)),
    Op("avg_pool2d", _pool_label("avg_pool"), 1,
       lambda x, c: np.mean(_pool_windows(x, c), axis=(-2, -1)), _avg_pool_vjp,
       has_const=True, short=_pool_short("avg"),
       local=lambda f, out, x, c: (f"({UPSTREAM})/{c[0] ** 2} to each window's places",)),
    # A call of a user gate drawn as one gate (``--collapse sig``), labelled with the
    # gate's name. Its parameter is the call, an ``evaluate.UserCall`` (the name and the
    # body as a graph of its own), which the engine runs: every rule is the body's. Like
    # an index gate, it has one graph input more for each argument after the first.
    Op("call", attrgetter("name"), 1, lambda *rest: rest[-1].forward(*rest[:-1]),
       lambda g, out, *rest: rest[-1].vjp(g, out, *rest[:-1]), has_const=True,
       local=lambda f, out, *rest: rest[-1].local(f, out, *rest[:-1])),
]

OPS: dict[str, Op] = {op.name: op for op in _ENTRIES}
"""Every gate, by name."""

OVERLOADS: dict[str, tuple[Op, ...]] = {}
for _op in _ENTRIES:
    if _op.function:
        OVERLOADS[_op.function] = (*OVERLOADS.get(_op.function, ()), _op)
"""Every gate a function name can mean: ``max(a, b)`` is ``max``, ``max(X)`` is ``amax``."""

FUNCTIONS: dict[str, Op] = {name: ops[0] for name, ops in OVERLOADS.items()}
"""The functions of the expression language, by the name they are called with (for a name
with overloads, the first: the two-argument ``max``)."""

BINARY: dict[str, Op] = {
    "+": OPS["add"], "-": OPS["sub"], "*": OPS["mul"], "/": OPS["div"],
    "**": OPS["pow"], "^": OPS["pow"], "@": OPS["matmul"],
}
"""The binary operators of the expression language, by symbol."""


REDUCTIONS = frozenset(["sum", "mean", "amax", "amin", "var", "std"])
"""The gates that take numpy's ``keepdims=`` and a tuple of axes, besides ``axis=``."""

ALIASES: dict[str, tuple[str, float | None]] = {
    "dot": ("matmul", None), "matmul": ("matmul", None), "power": ("pow", None),
    "pow": ("pow", None), "maximum": ("max", None), "minimum": ("min", None),
    "square": ("pow", 2.0), "linalg.norm": ("norm", None)}
"""numpy's other names for gates of the table, by the name a call uses: ``np.dot(a, b)``
is ``a @ b``, ``np.square(x)`` is ``x ** 2`` (the constant is its last argument)."""
