"""Whether a figure fits a slide: its width estimated before Graphviz lays it out.

A figure fits a 1920 x 1080 slide with its 14-point labels at least 14 px high when it is
at most 1920 points wide (its height is rarely the limit: a first course's graphs are
long, not tall). Its width is the longest path from an input to the output, each step a
gate's circle and an edge's label, the widest of the labels of its value and gradient.
The estimate reads the labels' texts with DejaVu Sans's advance widths
(:func:`~backviz.render.metrics.note_width`), as Graphviz measures them; it decides
only whether the inputs' arrays, too, are drawn as pictures (see
:meth:`~backviz.render.numbers.Numbers.drawn`), and tests/test_render_fit.py holds the
drawn figures to the rule.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from ..graph import INPUT
from .metrics import GATE, note_width
from .numbers import Numbers

if TYPE_CHECKING:
    from ..evaluate import Evaluation

__all__ = ["SLIDE_WIDTH", "too_wide"]

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
    graph = trace.graph
    end = [0.0] * len(graph.nodes)  # how far right each node ends (points)
    for node in graph.nodes:
        if node.op == INPUT:
            end[node.id] = note_width(node.label, _FONT)
            continue
        start = 0.0
        for src in node.inputs:
            start = max(start, end[src] + _edge(trace, numbers, src) + 2 * _RANK)
        end[node.id] = start + GATE * 72
    out = graph.output.id
    return end[out] + _edge(trace, numbers, out) > _MARGIN * SLIDE_WIDTH


def _edge(trace: Evaluation, numbers: Numbers, src: int) -> float:
    """About how wide the label of an edge from ``src`` is: its name, and the wider of its
    value and gradient; a value used more than once adds its stub before the fork."""
    made = trace.graph.ops[src] != INPUT
    name = trace.graph.names[src] if made else None
    width = max(_width(trace.values[src], numbers, made), _width(trace.grads[src], numbers, made))
    if name and numbers.drawn(trace.values[src], made) == "numbers":
        width += note_width(name + " = ", _FONT)  # a picture has it above
    return width * (2 if trace.graph.uses[src] > 1 else 1)


def _width(x: Any, numbers: Numbers, made: bool) -> float:
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
