"""A program's statements: where each one is, and which kind it is, as one record each.

Statements are separated by line breaks or ``;`` outside brackets. A record says only
where the statement's tokens are (``first`` .. ``last - 1``) and what its first tokens make
it: nothing in it is checked or parsed yet, so that the errors come in the order the
statements are written.
"""

from __future__ import annotations

from typing import NamedTuple

from ..tokens import END, is_name, is_number

__all__ = ["AUGMENTED", "DATA", "Assignment", "Augmented", "Bare", "Data", "Definition",
           "Example", "Import", "IndexAssignment", "Statement", "Unpacking", "assigns",
           "is_definition", "read"]

AUGMENTED = {"+=": "+", "-=": "-", "*=": "*", "/=": "/", "**=": "**", "@=": "@"}
ARRAY = frozenset(["np.array", "numpy.array", "np.zeros", "numpy.zeros", "np.ones",
                   "numpy.ones"])
_SEPARATORS = frozenset(["\n", ";"])
_OPENING = frozenset("([")
_CLOSING = frozenset(")]")
DATA = "data"
"""The word that declares inputs given data: ``data y, dout``."""
_CONTINUES = frozenset(["+", "-", "*", "/", "@", "**", "^", ",", "=", *AUGMENTED])


class Import(NamedTuple):
    """``import math``, ``from numpy import exp``: allowed, and changes nothing."""

    first: int
    last: int


class Data(NamedTuple):
    """``data y, dout``: inputs that are given data (labels, targets), not parameters."""

    first: int
    last: int


class Definition(NamedTuple):
    """``sig(u) = 1/(1+exp(-u))``: a user gate."""

    name: str
    first: int
    last: int


class Assignment(NamedTuple):
    """``q = x + y``: an intermediate, or an input's example value if nothing in the
    expression is a variable (``x = 3``)."""

    name: str
    first: int
    last: int


class Augmented(NamedTuple):
    """``c += e``: ``c = c + (e)``."""

    name: str
    sign: str  # "+=", "**="...
    first: int
    last: int


class Example(NamedTuple):
    """``W = [[1, 2], [3, 4]]`` or ``W = np.array(...)``: an input's example value."""

    name: str
    first: int
    last: int


class IndexAssignment(NamedTuple):
    """``m[idx] = v`` or ``m[idx] += v``: a new version of m (its ``]`` at ``close``)."""

    name: str
    sign: str  # "=", "+="...
    close: int
    first: int
    last: int


class Unpacking(NamedTuple):
    """``N, D = X.shape``: a name for each size (its ``=`` at ``equals``)."""

    names: tuple[str, ...]
    equals: int
    first: int
    last: int


class Bare(NamedTuple):
    """An expression on its own: the output, if it is the last statement."""

    first: int
    last: int


Statement = (Import | Data | Definition | Assignment | Augmented | Example | IndexAssignment
             | Unpacking | Bare)


def read(tokens: list[str]) -> list[Statement]:
    """The statements of a program's tokens (which end with :data:`~backviz.tokens.END`),
    empty ones left out."""
    return [_kind(tokens, first, last) for first, last in _spans(tokens)]


def _spans(tokens: list[str]) -> list[tuple[int, int]]:
    """Cut the tokens at line breaks and ';' outside brackets; drop empty statements."""
    if "\n" not in tokens and ";" not in tokens:  # an expression: one statement
        return [(0, len(tokens) - 1)] if len(tokens) > 1 else []
    spans: list[tuple[int, int]] = []
    depth, first = 0, 0
    for k, token in enumerate(tokens):
        if token in _OPENING:
            depth += 1
        elif token in _CLOSING:
            depth = max(0, depth - 1)
        elif _ends_statement(tokens, k, first, depth):
            if k > first:
                spans.append((first, k))
            first = k + 1
    return spans


def _ends_statement(tokens: list[str], k: int, first: int, depth: int) -> bool:
    """Whether token k, outside brackets if ``depth`` is 0, ends the statement begun at
    ``first``; a line that ends in an operator goes on: "(x+y) *" and "z"."""
    token = tokens[k]
    if token is END:
        return True
    if token not in _SEPARATORS or depth:
        return False
    return token == ";" or k == first or tokens[k - 1] not in _CONTINUES


def _kind(tokens: list[str], first: int, last: int) -> Statement:
    head, second = tokens[first], tokens[first + 1]
    if head in ("import", "from"):
        return Import(first, last)
    if head == DATA and (is_name(second) or is_number(second)):  # never so in an expression
        return Data(first, last)
    if is_definition(tokens, first, last):
        return Definition(head, first, last)
    close = _index_assigned(tokens, first, last)
    if close is not None:
        return IndexAssignment(head, tokens[close + 1], close, first, last)
    if second == ",":
        unpacked = _unpacked(tokens, first, last)
        if unpacked is not None:
            return Unpacking(unpacked, first + 2 * len(unpacked) - 1, first, last)
    if not is_name(head) or not assigns(tokens, first):
        return Bare(first, last)
    if second in AUGMENTED:
        return Augmented(head, second, first, last)
    value = tokens[first + 2]
    if value == "[" or (value in ARRAY and tokens[first + 3] == "("):
        return Example(head, first, last)
    return Assignment(head, first, last)


def assigns(tokens: list[str], first: int) -> bool:
    """Whether the statement at ``first`` is written as an assignment, ``=`` or ``+=``..."""
    return tokens[first + 1] == "=" or tokens[first + 1] in AUGMENTED


def _unpacked(tokens: list[str], first: int, last: int) -> tuple[str, ...] | None:
    """``N, D = ...``: the names before the ``=``, or None."""
    names = []
    k = first
    while k < last and is_name(tokens[k]):
        names.append(tokens[k])
        if tokens[k + 1] == "=":
            return tuple(names)
        if tokens[k + 1] != ",":
            return None
        k += 2
    return None


def _index_assigned(tokens: list[str], first: int, last: int) -> int | None:
    """``m[...] = ...``: the token of the ``]`` before the ``=``, or None."""
    if not is_name(tokens[first]) or tokens[first + 1] != "[":
        return None
    depth = 0
    for k in range(first + 1, last):
        depth += (tokens[k] == "[") - (tokens[k] == "]")
        if depth == 0:
            after = tokens[k + 1]
            return k if after == "=" or after in AUGMENTED else None
    return None


def is_definition(tokens: list[str], first: int, last: int) -> bool:
    """``name(...) = ...``: whether the statement defines a user gate."""
    if not is_name(tokens[first]) or tokens[first + 1] != "(":
        return False
    depth = 0
    for k in range(first + 1, last):
        depth += (tokens[k] == "(") - (tokens[k] == ")")
        if depth == 0:
            return tokens[k + 1] == "="
    return False
