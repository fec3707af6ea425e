"""Whether a figure fits a slide: its width estimated before Graphviz lays it out.

A figure fits a 1920 x 1080 slide with its 14-point labels at least 14 px high when it is
at most 1920 points wide (its height is rarely the limit: a first course's graphs are
long, not tall). Graphviz draws a figure in columns (ranks), left to right: a gate's
column, then its edge's label (the helper), a value used more than once its stub and its
fork too; each column as wide as the widest thing in it, :data:`_RANK` points between
two. The estimate works out the columns as Graphviz ranks them (:func:`ranks`) and each
thing's width from the texts of its labels, with DejaVu Sans's advance widths
(:func:`~backviz.render.metrics.note_width`), as Graphviz measures them: on the gallery's
and a first course's figures over 1,000 points wide it is within 20% of the drawn width,
most within 5%. It decides
whether the inputs' arrays, too, are drawn as pictures (see
:meth:`~backviz.render.numbers.Numbers.drawn`) and whether a long chain wraps onto a
second row (:func:`second_row`); tests/test_render_fit.py holds the drawn figures to the
rule.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

from ..graph import INPUT, Graph
from .labels import number_cell_width
from .metrics import GATE, note_width
from .numbers import Numbers

if TYPE_CHECKING:
    from ..evaluate import Evaluation

__all__ = ["SLIDE_WIDTH", "crossing", "ranks", "second_row", "too_wide", "width", "wrapping"]

SLIDE_WIDTH = 1920.0
"""Points: a figure wider than this has labels under 14 px on a 1920 px wide slide."""
_RANK = 9.0  # points between ranks (the DOT header's ranksep)
_FONT = 14.0
_FORK = 2.2  # the point where the edges of a value used more than once part
# The inputs' arrays are drawn compactly from this estimated width on: the estimate was
# within 5% of the drawn width on most of the gallery's and a first course's wide figures.
_COMPACT = 0.95 * SLIDE_WIDTH
# Two rows of a slide hold about 40 gates with labels 14 px high (a gate, its edge and its
# label take 70 points or more): past this many, the search for a cut is not made at all,
# and a 3,000-gate graph does not pay for it.
_MOST_WRAPPED = 100


def too_wide(trace: Evaluation, numbers: Numbers) -> bool:
    """Whether the figure, its inputs' numbers written out, would be too wide for a slide."""
    return width(trace, numbers) > _COMPACT


def width(trace: Evaluation, numbers: Numbers, row: frozenset[int] = frozenset()) -> float:
    """About how wide the figure is drawn (points), its nodes in ``row`` on a second row."""
    return _width(trace, _labels(trace, numbers), row)


_Label = Callable[[int, bool, bool], float]  # an edge's label from a value: made, named


def _labels(trace: Evaluation, numbers: Numbers) -> _Label:
    """How wide the labels of the edges from each value are, each worked out once."""
    return functools.cache(lambda src, made, named: _label(trace, numbers, src, made, named))


def _width(trace: Evaluation, label: _Label, row: frozenset[int],
           wrap: list[tuple[int, int]] | None = None) -> float:
    """The figure's width, the nodes in ``row`` on a second row (``wrap``: its lines that
    wrap, when they are known)."""
    columns = _columns(trace, label, row, wrapping(trace, row) if wrap is None else wrap)
    return sum(columns) + _RANK * (len(columns) - 1)


def second_row(trace: Evaluation, numbers: Numbers) -> frozenset[int]:
    """The nodes drawn on a second row, under the first, when the figure is still too wide
    for a slide with its arrays drawn compactly (a long chain); none when it fits.

    The cut is a column between two gates that one line with a gradient runs back across
    (:func:`wrapping`): the value that runs on from the end of the first row to the start
    of the second, the way a line of text wraps; given values (data, a number read off a
    shape such as ``num_train = X.shape[0]``) may wrap with it, drawn without a gradient.
    Of those cuts, the one with the fewest lines wrapping, then the fewest crossing, then
    the narrowest figure, if it fits (:func:`_row` says which nodes go on the second row).
    A figure that no such cut parts in two rows that fit is left as it is: many lines with
    gradients running back across it would not read."""
    graph = trace.graph
    if len(graph.gates) > _MOST_WRAPPED:
        return frozenset()
    label = _labels(trace, numbers)
    wide = _width(trace, label, frozenset())
    if wide <= SLIDE_WIDTH or wide > 2 * SLIDE_WIDTH:  # it fits, or two rows cannot
        return frozenset()
    rank = ranks(graph)
    latest = _latest(graph, rank)
    best: tuple[tuple[int, int, float], frozenset[int]] | None = None
    for cut in sorted({rank[n.id] for n in graph.gates})[1:]:  # a gate on each row
        row = _row(graph, latest, cut)
        lines = crossing(trace, row)
        back = wrapping(trace, row, lines, rank)
        if sum(src not in trace.given_values for src, _ in back) != 1:
            continue  # no line with a gradient to wrap, or more than one: it would not read
        wide = _width(trace, label, row, back)
        key = (len(back), len(lines), wide)
        if wide <= SLIDE_WIDTH and (best is None or key < best[0]):
            best = (key, row)
    return best[1] if best else frozenset()


def wrapping(trace: Evaluation, row: frozenset[int], lines: list[tuple[int, int]] | None = None,
             first: list[int] | None = None) -> list[tuple[int, int]]:
    """The lines that wrap from the first row round to the start of the second (see
    :func:`crossing`); the others cross straight down to a gate far enough along the second
    row, as an input does to the second row's gates (a loss's regularisation term).
    ``lines`` (the crossing lines) and ``first`` (the ranks in one row) save working them
    out again, for a caller that has them."""
    graph = trace.graph
    lines = crossing(trace, row) if lines is None else lines
    if not lines:
        return []
    first = ranks(graph) if first is None else first
    second = ranks(graph, row, frozenset(lines))
    step = _steps(graph)

    def back(line: tuple[int, int]) -> bool:
        src, gate = line
        heads = [gate] if gate >= 0 else graph.consumers[src]
        return first[src] + step[src] > min(second[head] for head in heads)

    return [line for line in lines if back(line)]


def crossing(trace: Evaluation, row: frozenset[int]) -> list[tuple[int, int]]:
    """The lines from the first row to the second: (value, gate) for each edge that crosses,
    (value, -1) for a value used more than once whose stub and fork are on the second row."""
    graph = trace.graph
    lines: list[tuple[int, int]] = []
    for src in range(len(graph.nodes)):
        users = set(graph.consumers[src])
        if src in row or not users & row:
            continue
        if graph.uses[src] > 1 and users <= row:
            lines.append((src, -1))
        else:
            lines += [(src, gate) for gate in sorted(users & row)]
    return lines


def ranks(graph: Graph, row: frozenset[int] = frozenset(),
          wrap: frozenset[tuple[int, int]] = frozenset()) -> list[int]:
    """Each node's column as Graphviz ranks it: a gate one helper (two ranks) after its
    latest input, or two more for a value used more than once (its stub and fork); an
    input two (or four) ranks before its first gate. The nodes in ``row`` are ranked from
    the first column again, the lines in ``wrap`` coming in from the left (see
    :func:`wrapping`)."""
    step = _steps(graph)
    rank = [0] * len(graph.nodes)

    def start(src: int, gate: int) -> int:
        wraps = (src, gate) in wrap or (src, -1) in wrap
        return 0 if wraps and src not in row else rank[src]

    for node in graph.gates:
        rank[node.id] = max((start(src, node.id) + step[src] for src in node.inputs), default=0)
    for node in graph.nodes:
        users = [c for c in graph.consumers[node.id] if (c in row) == (node.id in row)]
        if node.op == INPUT and users:
            rank[node.id] = min(rank[c] for c in users) - step[node.id]
    return rank


def _steps(graph: Graph) -> list[int]:
    """How many ranks a value takes from its node to its gates: its edge's helper and the
    gate, and a stub and a fork before them for a value used more than once."""
    return [2 if n < 2 else 4 for n in graph.uses]


def _latest(graph: Graph, rank: list[int]) -> list[int]:
    """The last column each gate can be drawn in: as late as its gates allow (a loss's
    regularisation term waits for the last gate, whatever its first column)."""
    step = _steps(graph)
    latest = list(rank)
    for node in reversed(graph.gates):
        users = graph.consumers[node.id]
        if users:
            latest[node.id] = min(latest[c] for c in users) - step[node.id]
    return latest


def _row(graph: Graph, latest: list[int], cut: int) -> frozenset[int]:
    """The gates that can be drawn in column ``cut`` or later (see :func:`_latest`), and
    the inputs all of whose gates are among them."""
    gates = {n.id for n in graph.gates if latest[n.id] >= cut}
    inputs = {n.id for n in graph.nodes if n.op == INPUT and graph.consumers[n.id]
              and set(graph.consumers[n.id]) <= gates}
    return frozenset(gates | inputs)


def _columns(trace: Evaluation, label: _Label, row: frozenset[int],
             wrapped: list[tuple[int, int]]) -> list[float]:
    """How wide each column is drawn: its widest node, gate or label (``wrapped``: the
    lines that wrap, see :func:`wrapping`)."""
    graph = trace.graph
    wrap = frozenset(wrapped)
    rank = ranks(graph, row, wrap)
    widths: dict[int, float] = {}

    def put(column: int, wide: float) -> None:
        widths[column] = max(widths.get(column, 0.0), wide)

    for node in graph.nodes:
        made = node.op != INPUT
        put(rank[node.id], GATE * 72 if made else _name_width(trace, node.id))
        if graph.uses[node.id] > 1:  # its stub, on the second row if all its gates are
            stub = 1 if (node.id, -1) in wrap else rank[node.id] + 1
            put(stub, label(node.id, made, made))
            put(stub + 1, _FORK)
    for node in graph.gates:
        for src in node.inputs:
            shared = graph.uses[src] > 1
            made = shared or graph.ops[src] != INPUT
            put(rank[node.id] - 1, label(src, made, not shared and graph.ops[src] != INPUT))
    out = graph.output.id
    put(rank[out] + 1, label(out, True, True))
    return [widths.get(column, 0.0) for column in range(max(widths) + 1)]


def _name_width(trace: Evaluation, node: int) -> float:
    """An input's name, and under it the small word data or index for given data."""
    name = note_width(trace.graph.nodes[node].label, _FONT)
    return max(name, note_width("index", 10)) if node in trace.data_inputs else name


def _label(trace: Evaluation, numbers: Numbers, src: int, made: bool, named: bool) -> float:
    """About how wide the label of an edge from ``src`` is: the wider of its value and its
    gradient (none for given data), with the value's name before its numbers or, over a
    picture, with its shape above it."""
    value = trace.values[src]
    wide = number_cell_width(value, numbers, made)
    if src not in trace.given_values:
        wide = max(wide, number_cell_width(trace.grads[src], numbers, made))
    name = trace.graph.names[src] if named else None
    if np.ndim(value) > 0 and numbers.drawn(value, made) == "picture":  # "xc = 4×3" above
        return max(wide, note_width((f"{name} = " if name else "") + numbers.shape(value), _FONT))
    return wide + (note_width(name + " = ", _FONT) if name else 0.0)
