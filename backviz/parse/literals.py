"""An input's example value as a program writes it: ``[[0.1, 0.5], [-0.3, 0.8]]``.

Read with a stack of the lists still open, never recursively, and never evaluated: only
brackets, commas and numbers (each with an optional sign) are allowed.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..tokens import NUMBER_START, Source, is_number
from .statements import ARRAY

__all__ = ["array"]


def array(source: Source, first: int, last: int) -> np.ndarray:
    """The list written at tokens ``first`` .. ``last - 1``, or the same in
    ``np.array(...)``, as a float64 array of at most two dimensions."""
    tokens = source.tokens
    if tokens[first] in ARRAY:
        if tokens[last - 1] != ")":
            raise source.error(f"{tokens[first]}(...) is never closed", first + 1)
        if not tokens[first].endswith("array"):
            return _filled(source, first, last)
        first, last = first + 2, last - 1
        number = _scalar(tokens, first, last)
        if number is not None:  # np.array(2.0)
            return np.array(number)
    lists = _Lists(source, last)
    k = first
    while k < last:
        k = lists.read(k) + 1
    if lists.result is None:
        raise source.error("this '[' is never closed", first)
    try:
        value = np.array(lists.result, dtype=np.float64)
    except ValueError:
        raise source.error("the rows of this matrix have different lengths", first) from None
    if value.ndim > 2 or value.size == 0:
        raise source.error("an example value is a number, a vector or a matrix", first)
    return value


class _Lists:
    """The lists still open (innermost last), and the whole list once it is closed."""

    def __init__(self, source: Source, last: int) -> None:
        self.source = source
        self.last = last
        self.open: list[list[Any]] = []
        self.result: list[Any] | None = None
        self.expect_item = True

    def read(self, k: int) -> int:
        """Read the token at k; return the last token read (a sign reads its number too)."""
        token = self.source.tokens[k]
        if token == "[" and self.expect_item:
            self.open.append([])
        elif token == "]" and self.open:
            self.close(k)
        elif token == "," and self.open and not self.expect_item:
            self.expect_item = True
        elif self.expect_item and self.open and _starts_number(token):
            return self.number(k)
        else:
            raise self.source.error("a list of example values holds only numbers, e.g. "
                                    "W = [[0.1, 0.5], [-0.3, 0.8]]", k)
        return k

    def close(self, k: int) -> None:
        done = self.open.pop()
        if self.open:
            self.open[-1].append(done)
        else:
            self.result = done
            if k + 1 < self.last:
                raise self.source.error("expected the end of the statement after ']'", k + 1)
        self.expect_item = False

    def number(self, k: int) -> int:
        """A number at k, or a sign at k and its number after it."""
        tokens = self.source.tokens
        sign = -1.0 if tokens[k] == "-" else 1.0
        if tokens[k] in "-+":
            k += 1
        if not is_number(tokens[k]):
            raise self.source.error("a list of example values holds only numbers", k)
        self.open[-1].append(sign * float(tokens[k]))
        self.expect_item = False
        return k


def _starts_number(token: str) -> bool:
    """A number, a sign, or a lone '.' (which :meth:`_Lists.number` refuses)."""
    return token[:1] in NUMBER_START or token in "-+"


def _scalar(tokens: list[str], first: int, last: int) -> float | None:
    """A number alone, ``2.0`` or ``-1``, at tokens ``first`` .. ``last - 1``; else None."""
    sign = -1.0 if tokens[first] == "-" else 1.0
    k = first + (tokens[first] in "-+")
    return sign * float(tokens[k]) if k == last - 1 and is_number(tokens[k]) else None


def _filled(source: Source, first: int, last: int) -> np.ndarray:
    """``np.zeros(3)``, ``np.ones((2, 3))``: the shape written as one or two whole numbers."""
    tokens = source.tokens
    inner = [t for t in tokens[first + 2:last - 1] if t not in "(),"]
    if not 1 <= len(inner) <= 2 or not all(t.isdigit() and int(t) > 0 for t in inner):
        raise source.error(f"{tokens[first]}(...) takes a shape: a positive whole number or two, "
                           "as np.zeros((2, 3))", first)
    fill = 1.0 if tokens[first].endswith("ones") else 0.0
    return np.full(tuple(int(t) for t in inner), fill)
