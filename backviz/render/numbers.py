"""How the numbers of a figure are written: :class:`Numbers`, and :func:`blank` for hidden ones.

Deciding how numbers are written reads the trace's values and gradients and never runs
the backward pass again (see :func:`all_integral`).
"""

from __future__ import annotations

import copy
import math
import re
import warnings
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from .style import MADE_ELEMENTS, MAX_ELEMENTS, PICTURE_ELEMENTS, Style

if TYPE_CHECKING:
    from ..evaluate import Evaluation

__all__ = ["Numbers", "adding_up", "all_integral", "blank", "shares_of"]


class Numbers:
    """Formats the numbers of one figure consistently.

    Numbers have ``precision`` decimals (none when the figure's numbers are all whole).
    A nonzero number too small to show that way is written in scientific notation
    (``1.2e-09``), never as zero, and so is a huge one (``1.0e+309``), never as its digits.
    """

    LARGE = 1e9
    """From this magnitude on, numbers are written in scientific notation."""

    def __init__(self, trace: Evaluation, style: Style) -> None:
        self.precision = style.precision
        self.fit = style.max_elements is None
        self.max_elements = MAX_ELEMENTS if style.max_elements is None else style.max_elements
        self.compact = False
        """Fitting a slide, draw the inputs' arrays as a gate's results are (a figure
        too wide with their numbers: see :func:`backviz.render.fit.too_wide`)."""
        integral = style.integers
        self.integral = all_integral(trace) if integral is None else integral

    def scalar(self, x: Any) -> str:
        x = float(x)
        if not math.isfinite(x):
            return "nan" if math.isnan(x) else ("inf" if x > 0 else "-inf")
        decimals = 0 if self.integral else self.precision
        if x != 0 and (abs(x) >= self.LARGE or abs(x) < 0.5 * 10.0 ** -decimals):
            return f"{x:.{max(1, self.precision - 1)}e}"
        text = f"{x:.{decimals}f}"
        # Never "-0.00": a number that rounds to zero is shown without a sign.
        return text[1:] if text.startswith("-") and float(text) == 0 else text

    def more_decimals(self, extra: int) -> Numbers:
        """The same formatting with ``extra`` more decimals (whole numbers keep none)."""
        if extra == 0:
            return self
        more = copy.copy(self)
        more.precision = (0 if self.integral else self.precision) + extra
        more.integral = False
        return more

    def rows(self, x: Any) -> list[list[str]]:
        """A value as rows of cells: a scalar is one cell, a vector one column."""
        a = np.asarray(x)
        if a.ndim == 0:
            return [[self.scalar(a)]]
        if a.ndim == 1:
            return [[self.scalar(v)] for v in a]
        return [[self.scalar(v) for v in row] for row in a]

    def drawn(self, x: Any, made: bool) -> str:
        """How an array is drawn on an edge: ``"numbers"``, ``"picture"`` or ``"summary"``
        (its shape and range). ``made``: a gate's result, not an input.

        Fitting a slide (no ``max_elements`` asked for), a gate's result shows its numbers
        up to :data:`MADE_ELEMENTS` and an input up to :data:`MAX_ELEMENTS` (up to
        :data:`MADE_ELEMENTS` too in a figure too wide for a slide, ``compact``); a larger
        matrix or vector is a picture of its numbers, up to :data:`PICTURE_ELEMENTS`, as is
        an array of more than two dimensions (a CNN's image) of any size up to that.
        With ``max_elements``, every array up to it shows its numbers, and larger ones
        their shape and range, as the text summary writes them.
        """
        a = np.asarray(x)
        limit = MADE_ELEMENTS if self.fit and (made or self.compact) else self.max_elements
        if a.ndim > 2:  # an image or a batch of them: a picture, its maps one under another
            return "picture" if self.fit and a.size <= PICTURE_ELEMENTS else "summary"
        if a.ndim == 0 or a.size <= limit:
            return "numbers"
        return "picture" if self.fit and a.size <= PICTURE_ELEMENTS else "summary"

    def shape(self, x: Any) -> str:
        """An array's shape as a figure writes it: 4×3, or 3 for a vector."""
        return "×".join(str(n) for n in np.shape(x))

    def summary(self, x: Any) -> str:
        a = np.asarray(x)
        shape = self.shape(a)
        with warnings.catch_warnings():  # all nan: numpy warns, and the range is nan
            warnings.simplefilter("ignore", RuntimeWarning)
            low, high = np.nanmin(a), np.nanmax(a)
        return f"{shape} in [{self.scalar(low)}, {self.scalar(high)}]"

    def plain(self, x: Any) -> str:
        """A value on one line: 3.00, [0.22, 0.26] or [[...], [...]]."""
        a = np.asarray(x)
        if a.ndim == 0:
            return self.scalar(a)
        if a.size > self.max_elements:
            return self.summary(a)
        if a.ndim == 1:
            return "[" + ", ".join(self.scalar(v) for v in a) + "]"
        return "[" + ", ".join(self.plain(row) for row in a) + "]"  # a matrix, an image...


def shares_of(trace: Evaluation, node_id: int) -> list[Any]:
    """The gradient shares of a value, one per use, in the order the figure draws its
    edges: each consumer once, then each of its inputs that is this value."""
    graph = trace.graph
    return [trace.edge_grads[gate][k] for gate in dict.fromkeys(graph.consumers[node_id])
            for k, j in enumerate(graph.inputs[gate]) if j == node_id]


def adding_up(numbers: Numbers, terms: Sequence[Any], total: Any, most: int = 4) -> Numbers:
    """The numbers with as many more decimals (up to ``most``) as the written ``terms`` need
    to add up to the written ``total``, element by element.

    A value used twice gets 7.7948 and 7.7948, 15.5897 in all: at two decimals that reads
    7.79 + 7.79 = 15.59, at three 7.795 + 7.795 = 15.590. Arrays written by their shape,
    and nan or inf, keep the numbers as they are.
    """
    from decimal import Decimal  # only for a value used twice: most starts never need it

    arrays = [np.asarray(x, dtype=np.float64) for x in (total, *terms)]
    if arrays[0].size > numbers.max_elements or not all(np.isfinite(a).all() for a in arrays):
        return numbers
    for extra in range(most + 1):
        shown = numbers.more_decimals(extra)
        written = [[Decimal(shown.scalar(v)) for v in a.flat] for a in arrays]
        if all(sum(parts) == whole for whole, *parts in zip(*written, strict=True)):
            return shown
    return numbers


def all_integral(trace: Evaluation) -> bool:
    """Whether every number a figure of the trace writes is whole: values, gradients and
    the shares on the edges.

    A value used once has one share, its gradient. Only a value used more than once can
    have shares that are not whole while its gradient is (max(x, x) sends 0.5 twice to a
    gradient of 1), so the shares are read only for a trace whose values and gradients are
    all whole and that uses a value twice: then they are needed, and a figure of the trace
    reads the same (cached) shares. A trace of a long sum with fractions never has its
    shares worked out just to decide how its numbers are written.
    """
    if not (all(map(_integral, trace.values)) and all(map(_integral, trace.grads))):
        return False
    uses = trace.graph.uses
    if all(n < 2 for n in uses):
        return True
    return all(_integral(share) for node, edge in zip(trace.graph.nodes, trace.edge_grads, strict=True)
               for src, share in zip(node.inputs, edge, strict=True) if uses[src] > 1)


def _integral(x: Any) -> bool:
    if isinstance(x, float):  # a scalar (numpy's float64 too): 50 times faster than numpy's all
        return x.is_integer()
    a = np.asarray(x)
    return bool(np.all(np.isfinite(a)) and np.all(a == np.round(a)))


def blank(text: str) -> str:
    """A number's text as spaces that take its room: no digit, no sign is left in it.

    Each space has the width (in DejaVu Sans, as Graphviz measures it) of what it stands
    for: a digit is a figure space, a point a punctuation space, and a minus sign with
    the digit after it an em space.
    """
    text = re.sub(r"-\d", "\u2003", text)
    text = re.sub(r"\d", "\u2007", text)
    return text.replace(".", "\u2008")
