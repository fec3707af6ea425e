"""The index between ``[`` and ``]`` after a value: ``s[y]``, ``X[:, 0]``, ``S[arange(4), y]``.

An index is a tuple of items, which the index gate carries as its constant (see
:mod:`backviz.ops`): a whole number, ``("slice", start, stop, step)``, ``("arange", n)``, or
``("input", name)`` for a variable, whose node is also an input of the gate.
"""

from __future__ import annotations

from collections.abc import Callable, Container
from typing import Any, NamedTuple

from ..errors import InvalidIndexError
from ..ops import FUNCTIONS
from ..tokens import Source, function_name, integer, is_name, is_number

__all__ = ["ARANGE", "Index", "read"]

ARANGE = frozenset(["arange", "range"])  # only in an index: the row numbers of S[arange(N), y]
NEWAXIS = frozenset(["None", "np.newaxis", "numpy.newaxis"])
_FORMS = ("an index is a whole number (2, -1), a slice (1:3, :), a variable, arange(n), "
          "None (np.newaxis) or ...")


class Index(NamedTuple):
    """An index as read: its items, the nodes of its variables, and the token of its ``]``."""

    spec: tuple[Any, ...]
    inputs: list[int]
    end: int


def read(source: Source, k: int, gates: Container[str],
         variable: Callable[[str, int], int]) -> Index:
    """The index that opens at token k (``[``). ``variable(name, token)`` gives the node of
    a variable used in it; the names of ``gates`` (and of functions) are not variables."""
    items = _Items(source, k, gates, variable)
    tokens = source.tokens
    j = k + 1
    while True:
        j = items.read(j)
        if tokens[j] == "]":
            return Index(tuple(items.spec), items.inputs, j)
        if tokens[j] != ",":
            raise source.error(f"expected ',' or ']' in the index ({_FORMS})" if tokens[j]
                               else "this '[' is never closed", j if tokens[j] else k)
        j += 1


class _Items:
    """The items of one index, read one after another."""

    def __init__(self, source: Source, k: int, gates: Container[str],
                 variable: Callable[[str, int], int]) -> None:
        self.source = source
        self.opening = k  # the token of its "["
        self.gates = gates
        self.variable = variable
        self.spec: list[Any] = []
        self.inputs: list[int] = []

    def read(self, j: int) -> int:
        """Read the item at token j; return the token after it."""
        tokens = self.source.tokens
        token = tokens[j]
        value, after = integer(tokens, j)
        if tokens[after] == ":" or (value is None and token == ":"):
            return self.slice(value, after)
        if value is not None:
            self.spec.append(value)
            return after
        if function_name(token) in ARANGE and tokens[j + 1] == "(":
            return self.arange(j)
        if token in NEWAXIS or token == "...":
            self.spec.append(("newaxis",) if token in NEWAXIS else ("ellipsis",))
            return j + 1
        if self.is_variable(j):
            self.spec.append(("input", token))
            self.inputs.append(self.variable(token, j))
            return j + 1
        if is_number(token):
            raise self.source.error(f"the index {token[:20]} is not a whole number",
                                    self.opening, InvalidIndexError)
        if not token:
            raise self.source.error("this '[' is never closed", self.opening)
        raise self.source.error(f"unexpected {token!r} in an index: {_FORMS}", j)

    def is_variable(self, j: int) -> bool:
        """A name, not a function's (nor called, nor with a math./np. prefix)."""
        token = self.source.tokens[j]
        return (is_name(token) and "." not in token and self.source.tokens[j + 1] != "("
                and token not in FUNCTIONS and token not in self.gates and token not in NEWAXIS)

    def slice(self, start: int | None, j: int) -> int:
        """``1:3``, ``:``, ``::-1``: its start read already, its first ``:`` at token j."""
        tokens = self.source.tokens
        bounds = [start]
        while tokens[j] == ":" and len(bounds) < 3:
            bound, j = integer(tokens, j + 1)
            bounds.append(bound)
        self.spec.append(("slice", *bounds, *[None] * (3 - len(bounds))))
        return j

    def arange(self, j: int) -> int:
        """``arange(n)`` (or ``np.arange``, ``range``) at token j: the row numbers 0 .. n - 1;
        n a whole number, or a name (``num_train = X.shape[0]``)."""
        tokens = self.source.tokens
        n, after = integer(tokens, j + 2)
        if n is None and self.is_variable(j + 2) and tokens[j + 3] == ")":
            self.spec.append(("arange_input", tokens[j + 2]))
            self.inputs.append(self.variable(tokens[j + 2], j + 2))
            return j + 4
        if n is None or n <= 0 or tokens[after] != ")":
            raise self.source.error(f"{tokens[j]}(n) takes one positive whole number, the "
                                    "number of rows, or a name given one (N = X.shape[0])", j)
        self.spec.append(("arange", n))
        return after + 1
