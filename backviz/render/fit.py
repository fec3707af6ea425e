"""Whether a figure fits a slide: its width estimated before Graphviz lays it out.

A figure fits a 1920 x 1080 slide with its 14-point labels at least 14 px high when it is
at most 1920 points wide (its height is rarely the limit: a first course's graphs are
long, not tall). Its width is the longest path from an input to the output, each step a
gate's circle and an edge's label, the widest of the labels of its value and gradient.
The estimate reads the labels' texts with DejaVu Sans's advance widths
(:func:`~backviz.render.metrics.note_width`), as Graphviz measures them; it decides
whether the inputs' arrays, too, are drawn as pictures (see
:meth:`~backviz.render.numbers.Numbers.drawn`) and whether a long chain wraps onto a
second row (:func:`second_row`); tests/test_render_fit.py holds the drawn figures to the
rule.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from ..graph import INPUT
from .metrics import GATE, note_width
from .numbers import Numbers

if TYPE_CHECKING:
    from ..evaluate import Evaluation

__all__ = ["SLIDE_WIDTH", "crossing", "second_row", "too_wide"]

SLIDE_WIDTH = 1920.0
"""Points: a figure wider than this has labels under 14 px on a 1920 px wide slide."""
_RANK = 9.0  # points between ranks (the DOT header's ranksep)
_FONT = 14.0
_CELL = 12.0  # a picture's place and its spacing
_BRACKETS = 16.0  # both brackets, and the room beside them
# The estimate leaves out the room Graphviz keeps around labels and between a fork's
# edges: on the gallery and a first course's figures the drawn width was up to 17% more.
_MARGIN = 0.8


def too_wide(trace: Evaluation, numbers: Numbers) -> bool:
    """Whether the figure, its inputs' numbers written out, would be wider than a slide."""
    start, _ = _extent(trace, numbers)
    return _width(trace, numbers, start) > _MARGIN * SLIDE_WIDTH


def second_row(trace: Evaluation, numbers: Numbers) -> frozenset[int]:
    """The nodes drawn on a second row, under the first, when the figure is still too wide
    for a slide with its arrays drawn compactly (a long chain); none when it fits.

    The cut is a column between two gates that one line crosses: the value that runs on
    from the end of the first row to the start of the second, the way a line of text
    wraps. Of those cuts, the one whose wider row is narrowest, if both rows fit; an
    input goes where all its gates are. A figure that no single line cuts in two rows
    that fit is left as it is: many lines running back across it would not read."""
    start, end = _extent(trace, numbers)
    if _width(trace, numbers, start) <= SLIDE_WIDTH:  # it fits, or may (see _MARGIN)
        return frozenset()
    graph = trace.graph
    best: tuple[float, frozenset[int]] | None = None
    for x in sorted({start[n.id] for n in graph.gates})[1:]:  # a gate on each row
        row = _row(trace, start, x)
        first = max(end[i] + _edge(trace, numbers, i) for i in range(len(graph.nodes))
                    if i not in row)
        wider = max(first, _width(trace, numbers, start) - x)
        if len(crossing(trace, row)) == 1 and wider <= _MARGIN * SLIDE_WIDTH \
                and (best is None or wider < best[0]):
            best = (wider, row)
    return best[1] if best else frozenset()


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


def _row(trace: Evaluation, start: list[float], x: float) -> frozenset[int]:
    """The gates that start at ``x`` or later, and the inputs all of whose gates do."""
    graph = trace.graph
    gates = {n.id for n in graph.gates if start[n.id] >= x}
    inputs = {n.id for n in graph.nodes if n.op == INPUT and graph.consumers[n.id]
              and set(graph.consumers[n.id]) <= gates}
    return frozenset(gates | inputs)


def _extent(trace: Evaluation, numbers: Numbers) -> tuple[list[float], list[float]]:
    """Where each node starts and ends, left to right (points)."""
    graph = trace.graph
    start = [0.0] * len(graph.nodes)
    end = [0.0] * len(graph.nodes)
    for node in graph.nodes:
        if node.op == INPUT:
            end[node.id] = note_width(node.label, _FONT)
            continue
        start[node.id] = max(end[src] + _edge(trace, numbers, src) + 2 * _RANK
                             for src in node.inputs) if node.inputs else 0.0
        end[node.id] = start[node.id] + GATE * 72
    return start, end


def _width(trace: Evaluation, numbers: Numbers, start: list[float]) -> float:
    out = trace.graph.output.id
    return start[out] + GATE * 72 + _edge(trace, numbers, out)


def _edge(trace: Evaluation, numbers: Numbers, src: int) -> float:
    """About how wide the label of an edge from ``src`` is: its name, and the wider of its
    value and gradient; a value used more than once adds its stub before the fork."""
    made = trace.graph.ops[src] != INPUT
    name = trace.graph.names[src] if made else None
    width = max(_size(trace.values[src], numbers, made), _size(trace.grads[src], numbers, made))
    if name and numbers.drawn(trace.values[src], made) == "numbers":
        width += note_width(name + " = ", _FONT)  # a picture has it above
    return width * (2 if trace.graph.uses[src] > 1 else 1)


def _size(x: Any, numbers: Numbers, made: bool) -> float:
    a = np.asarray(x)
    if a.ndim == 0:
        return note_width(numbers.scalar(a), _FONT)
    drawn = numbers.drawn(a, made)
    if drawn == "summary":
        return note_width(numbers.summary(a), _FONT)
    if drawn == "picture":
        return _CELL * (1 if a.ndim == 1 else a.shape[1]) + _BRACKETS
    rows = numbers.rows(a)
    columns = [max(note_width(row[c], _FONT) for row in rows) for c in range(len(rows[0]))]
    return sum(columns) + 8 * (len(columns) - 1) + _BRACKETS
