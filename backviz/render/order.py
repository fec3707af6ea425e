"""Inputs top to bottom in the order written, in every column of the figure.

Graphviz keeps the inputs of one gate in the order written where the gate says
``ordering=in`` (see :mod:`~backviz.render.dot`). What it does not keep by itself is the
order of inputs of different gates that land in one column: in an RNN over three steps,
whose weights feed every step, its crossing minimisation put ``Wh`` above ``Wx`` and
``h0`` above ``x1``, the program's second term above its first. Where that can happen
(:func:`at_risk`), the figure is laid out once to see, and if a column's inputs are drawn
out of order, the inputs of every column are tied in the order written (:func:`to_tie`,
:func:`ties`) for the layout that is drawn. The ties cost crossings where the order
written is not the one with the fewest (an RNN written Wx @ x + Wh @ h: 1 -> 4,
docs/figures.md), and only there.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..errors import GraphvizNotFoundError
from ..graph import INPUT
from ..ops import OPS
from .backend import render

if TYPE_CHECKING:
    from ..evaluate import Evaluation

CHECKED = 100
"""Figures with up to this many gates are checked: two rows of a slide hold about 40, and
a second layout of a larger one costs seconds (a 199-gate sum of shared products took
8.5-12 s to draw once, 25-34 s with the layout that checks)."""


def at_risk(trace: Evaluation, annotate: bool) -> bool:
    """Whether Graphviz may draw a column's inputs out of the order written: with
    --annotate's clusters, or where a commutative gate leaves its inputs' order to
    Graphviz (in a graph with shared values, see :mod:`~backviz.render.dot`)."""
    graph = trace.graph
    if len(graph.gates) > CHECKED:
        return False
    if annotate:
        return True
    shared = any(n > 1 for n in graph.uses)
    return shared and any(len(g.inputs) > 1 and OPS[g.op].commutative for g in graph.gates)


def to_tie(trace: Evaluation, dot: str, timeout: float | None = None) -> list[list[int]]:
    """The columns to tie in the order written, each as its inputs' ids in that order:
    where the figure ``dot`` draws a column's inputs out of order, every column of two
    inputs or more (those drawn in order too, as drawn: tied alone, the columns drawn out
    of order moved others out of order, ``m = max(a, b); d = c - b; p = e * a;
    out = d + p + m`` e above c once a was tied above b); none where it draws each in order,
    or where Graphviz is not installed (the DOT is written all the same)."""
    columns = _columns(trace, dot, timeout)
    if all(column == sorted(column) for column in columns):
        return []
    return sorted(sorted(column) for column in columns if len(column) > 1)


def misordered(trace: Evaluation, dot: str, timeout: float | None = None) -> list[list[int]]:
    """The columns of the figure ``dot`` draws whose inputs are out of the order written
    (the order they first appear in: their ids), each as its inputs' ids in that order."""
    return sorted(sorted(column) for column in _columns(trace, dot, timeout)
                  if column != sorted(column))


def _columns(trace: Evaluation, dot: str, timeout: float | None) -> list[list[int]]:
    """The inputs of each column of the figure ``dot`` draws, top to bottom, as ids; none
    where Graphviz is not installed."""
    import json  # here, not at the top: only a figure at risk reads a layout

    try:
        drawing = json.loads(render(dot, "json0", len(trace.graph.gates), timeout=timeout))
    except GraphvizNotFoundError:
        return []
    inputs = {f"n{n.id}": n.id for n in trace.graph.nodes
              if n.op == INPUT and trace.graph.consumers[n.id]}
    columns: dict[float, list[tuple[float, int]]] = {}
    for item in drawing.get("objects", []):
        if item.get("name") in inputs and "pos" in item:
            x, y = (float(v) for v in item["pos"].split(","))
            columns.setdefault(round(x, 1), []).append((y, inputs[item["name"]]))
    # Graphviz's y grows upwards: top to bottom is the largest y first.
    return [[i for _, i in sorted(column, key=lambda yi: -yi[0])] for column in columns.values()]


def ties(columns: list[list[int]]) -> list[str]:
    """DOT that keeps each column's inputs in the order given: one rank, and invisible
    edges within it, which Graphviz draws from top to bottom in a left-to-right graph."""
    return [f"  {{rank=same; {'; '.join(f'n{i}' for i in ids)}; "
            + " -> ".join(f"n{i}" for i in ids) + " [style=invis];}" for ids in columns]
