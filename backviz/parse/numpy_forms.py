"""The numpy of a first course as the parser reads it: methods, keywords, shapes, and the
calls that are not one gate of the table.

``X.sum(axis=0)`` is ``sum(X, axis=0)``, ``X.dot(W)`` is ``X @ W``, ``X.shape[0]`` is a
gate that reads a number off X (no gradient), ``np.where(m, a, b)`` one gate whose mask
gets no gradient. Python that is not part of the language (loops, ``if``, ``def``, random
numbers, ``print``) gets one message that names it and says what to write instead. Nothing
is ever executed: each form is read token by token and becomes gates of the operator table.
"""

from __future__ import annotations

from typing import Any

from ..errors import InvalidIndexError
from ..ops import ALIASES, FUNCTIONS, OPS, OVERLOADS, REDUCTIONS
from ..tokens import Source, integer, is_name
from .builder import Builder, Const, Value

__all__ = ["KNOWN", "METHODS", "NAMES_OF_VALUES", "PYTHON_WORDS", "REDUCING", "SHAPES",
           "STRUCTURAL", "arities", "check_attribute", "flipped", "keyword_value", "keywords",
           "outside_the_language", "shape_param", "structural"]

STRUCTURAL: dict[str, tuple[int, ...]] = {
    "reshape": (2, 3, 4), "flatten": (1,), "ravel": (1,), "copy": (1,), "zeros_like": (1,),
    "ones_like": (1,), "where": (3,), "clip": (3,), "len": (1,)}
"""The calls that are not simply one gate of the table, and how many arguments each takes."""

KNOWN = frozenset([*FUNCTIONS, *ALIASES, *STRUCTURAL])
"""Every function a call may name (after its math./np./numpy. prefix)."""

NAMES_OF_VALUES = frozenset(["var", "std", "norm", "clip", "where", "len", "copy", "dot",
                             "square", "power", "pow", "maximum", "minimum", "flatten", "ravel",
                             "reshape", "log1p", "expm1", "matmul", "zeros_like", "ones_like"])
"""numpy's names that programs also give their own values (``var = x.var(axis=0)``), as
Python lets them: assigned, the name is the value, and ``np.var``, ``x.var()`` still call."""

SHAPES = frozenset(["shape", "size", "ndim"])
"""The attributes that read a number (or the shape) off a value."""

METHODS = {name: name for name in ("sum", "mean", "max", "min", "var", "std", "dot", "reshape",
                                   "flatten", "ravel", "transpose", "copy", "clip")}
"""The methods of an array that the language has, by the function each is."""

REDUCING = frozenset(op.function for op in OPS.values() if op.name in REDUCTIONS)
"""The functions of numpy's reductions: sum, mean, max, min, var, std."""
_FLIPPED = {"<": ">", "<=": ">=", ">": "<", ">=": "<=", "==": "==", "!=": "!="}
_LOOPS = ("a loop", "write out the steps, or say it for the whole array at once "
          "(sum(x * w), X @ W, np.maximum(0, S))")
_BRANCH = ("an if", "choose with a mask: np.where(x > 0, a, b), or max/min/relu/clip")
_RUNS = ("running Python", "backviz reads the forward pass and runs nothing: give values as "
         "inputs (--x VALUE, or x = [1, 2] in the program)")
_OUTSIDE = {
    "for": _LOOPS, "while": _LOOPS, "if": _BRANCH, "elif": _BRANCH, "else": _BRANCH,
    "def": ("def", "a user gate is one line: sig(u) = 1/(1+exp(-u))"),
    "lambda": ("lambda", "a user gate is one line: sig(u) = 1/(1+exp(-u))"),
    "return": ("return", "the output is the last statement"),
    "class": ("a class", "write the forward pass as statements, one per line"),
    **{name: ("random numbers", "give the values as inputs (--W '[[1,2],[3,4]]', or "
                                "W = [[1, 2], [3, 4]] in the program)")
       for name in ("np.random", "numpy.random")},
    "and": ("and/or/not", "multiply masks for 'and': (x > 0) * (y > 0)"),
    "or": ("and/or/not", "use np.maximum of masks for 'or'"),
    "not": ("and/or/not", "write 1 - mask for 'not'"),
    "True": ("True", "write 1"), "False": ("False", "write 0"),
    "None": ("None", "None stands only in an index, x[:, None], or as keepdims'/axis' value"),
    **{name: ("'" + name + "'", "write the forward pass as statements, one per line")
       for name in ("with", "try", "except", "finally", "raise", "yield", "global",
                    "nonlocal", "assert", "del", "pass", "break", "continue", "async",
                    "await", "in", "is")},
}
_DUNDER = ("a dunder name", "names are the program's own; nothing of Python is reachable")
# Names a program may use for its own values, but not call.
_CALLS = {"print": ("print", "leave it out: the figure shows every value"),
          **{name: _RUNS for name in ("eval", "exec", "open", "input", "compile", "globals",
                                      "locals", "getattr", "setattr", "vars", "type", "id")}}


_ALWAYS = frozenset(["True", "False", "None", "np.random", "numpy.random"])
PYTHON_WORDS = frozenset(_OUTSIDE)
"""The names that may be Python outside the language where they stand (a cheap first test
for the parser, which meets a new name at every input)."""


def outside_the_language(token: str, called: bool, following: str = "") -> str | None:
    """The message for a name that is Python but not part of the language, or None.

    A Python keyword is refused where Python would read it as one: before a name, a number,
    a bracket or a colon (``for i in``, ``if x:``, ``else:``); elsewhere it may name a
    value, as it always could (``lambda*2``).
    """
    what = _OUTSIDE.get(token) or (_CALLS.get(token) if called else None)
    if what is not None and not called and token not in _ALWAYS and not (
            is_name(following) or (following[:1] in "0123456789.([:'\"" and following)):
        what = None
    if what is None and called and token.startswith("__"):
        what = _DUNDER
    if what is None:
        return None
    construct, instead = what
    return f"{construct} is not part of backviz's language: {instead}"


def keywords(function: str) -> tuple[str, ...]:
    """The keywords a call of ``function`` takes."""
    if function in REDUCING:
        return ("axis", "keepdims")
    return ("axis",) if any(op.keyword for op in OVERLOADS.get(function, ())) else ()


def keyword_value(source: Source, name: str, k: int) -> tuple[Any, int]:
    """The value of ``name=`` written at token k, and the token after it: a whole number
    or None (``axis=``), a tuple of whole numbers (``axis=(0, 1)``), True or False."""
    tokens = source.tokens
    if name == "keepdims":
        if tokens[k] not in ("True", "False"):
            raise source.error("keepdims= takes True or False", k)
        return tokens[k] == "True", k + 1
    if tokens[k] == "None":
        return None, k + 1
    if tokens[k] == "(":
        return _axes_tuple(source, k)
    value, after = integer(tokens, k)
    if value is None:
        raise source.error(f"{name}= takes a whole number, such as {name}=0 or {name}=-1, or "
                           "a tuple of them, axis=(0, 1)", k)
    return value, after


def _axes_tuple(source: Source, k: int) -> tuple[tuple[int, ...], int]:
    """``(0, 1)`` at token k (its ``(``), and the token after its ``)``."""
    tokens = source.tokens
    axes: list[int] = []
    j = k + 1
    while tokens[j] != ")":
        value, j = integer(tokens, j)
        if value is None:
            raise source.error("a tuple of axes holds whole numbers: axis=(0, 1)", j)
        axes.append(value)
        if tokens[j] == ",":
            j += 1
        elif tokens[j] != ")":
            raise source.error("expected ',' or ')' in the tuple of axes", j)
    if not axes:
        raise source.error("the tuple of axes is empty: write axis=(0, 1)", k)
    return tuple(axes), j + 1


def shape_param(tokens: list[str], k: int) -> tuple[tuple[Any, ...], int]:
    """The parameter of the shape gate of ``.shape[0]``, ``.shape``, ``.size``, ``.ndim``
    (the name at token k), and the token after what it reads."""
    name = tokens[k]
    if name == "shape" and tokens[k + 1] == "[":
        value, after = integer(tokens, k + 2)
        if value is not None and tokens[after] == "]":
            return ("shape", value), after + 1
    return (name,), k + 1


def check_attribute(source: Source, k: int) -> None:
    """An attribute at token k (its ``.``) must be a method of the language, called."""
    tokens = source.tokens
    name = tokens[k + 1]
    if not is_name(name) or "." in name:
        raise source.error("expected an attribute's name after '.' (W.T, X.shape, "
                           "X.sum(axis=0))", k + 1)
    if name.startswith("__"):  # x.__class__: a variable may be called __x, an attribute not
        raise source.error(f"{_DUNDER[0]} is not part of backviz's language: {_DUNDER[1]}", k + 1)
    if name not in METHODS:
        raise source.error(f"unknown attribute .{name[:40]}: a value has .T, .shape, .size, "
                           f".ndim and the methods {', '.join(METHODS)}", k + 1)
    if tokens[k + 2] != "(":
        raise source.error(f".{name} is a method: call it, .{name}(...)", k + 1)


def arities(function: str) -> tuple[int, ...]:
    """How many arguments a call of ``function`` may have."""
    if function in STRUCTURAL:
        return STRUCTURAL[function]
    if function in ALIASES:
        target, constant = ALIASES[function]
        return (OPS[target].arity - (constant is not None),)
    return tuple(sorted(op.arity for op in OVERLOADS[function]))


def flipped(symbol: str) -> str:
    """The comparison with its sides swapped: ``0 < x`` is ``x > 0``."""
    return _FLIPPED[symbol]


def structural(builder: Builder, function: str, args: list[Value], token: int, first: int,
               end: int) -> Value:
    """A call of one of :data:`STRUCTURAL`, as gates (or as the value itself: copy)."""
    x = args[0]
    if function == "copy":
        return x
    if function == "where":
        return _where(builder, args, token, first, end)
    if function == "clip":
        return _clip(builder, args, token, first, end)
    if function in ("zeros_like", "ones_like"):
        fill = 0.0 if function == "zeros_like" else 1.0
        if isinstance(x, Const):
            return Const(fill, token)
        return builder.add("zeros_like", (x,), token, first, end, const=(fill,))
    if isinstance(x, Const):
        raise builder.source.error(f"a number has no shape, and {function}() needs an array",
                                   token, InvalidIndexError)
    if function == "len":
        return builder.add("shape", (x,), token, first, end, const=("len",))
    if function in ("flatten", "ravel"):
        return builder.add("reshape", (x,), token, first, end, const=(-1,))
    sizes = [("input", "") for _ in args[1:]]
    return builder.apply(OPS["reshape"], args, token, first, end, tuple(sizes))


def _where(builder: Builder, args: list[Value], token: int, first: int, end: int) -> Value:
    """``np.where(mask, a, b)``: the branches that are nodes, then the mask, as inputs."""
    mask, a, b = args
    if isinstance(mask, Const):  # np.where(1 > 0, a, b) is a: b, made already, is left out
        kept, other = (a, b) if mask.value else (b, a)
        builder.left_out = builder.left_out or isinstance(other, int)
        return kept
    spec = tuple(v.value if isinstance(v, Const) else None for v in (a, b))
    inputs = tuple(v for v in (a, b) if isinstance(v, int))
    return builder.add("where", (*inputs, mask), token, first, end, const=spec)


def _clip(builder: Builder, args: list[Value], token: int, first: int, end: int) -> Value:
    """``np.clip(x, low, high)``: the bounds are numbers, which the gate carries."""
    x, low, high = args
    if not isinstance(low, Const) or not isinstance(high, Const):
        raise builder.source.error("np.clip's bounds are numbers: np.clip(x, 0, 1)", token)
    bounds = (low.value, high.value)
    if isinstance(x, Const):
        return Const(float(OPS["clip"].forward(x.value, bounds)), token)
    return builder.add("clip", (x,), token, first, end, const=bounds)
