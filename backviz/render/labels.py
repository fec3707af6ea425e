"""The HTML-like labels of a figure's nodes: a gate's text in its circle, and an edge's
helper table (value, the rule that is the edge's line, the port, gradient).

Every edge is drawn through a small helper node whose label is a table: the forward
value (green), an ``<HR/>`` rule, a zero-height cell with a port, and the gradient
(red). The rule *is* the edge's line: the incoming edge ends at the port's west side with
no arrow head and the outgoing edge leaves its east side. So the value is always just
above its line and the gradient just below, on horizontal and diagonal edges alike,
which Graphviz's own edge labels (``label``, ``xlabel``, ``headlabel``) do not guarantee.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np

from ..text import escape, quote
from .metrics import GATE_FONT, gate_font_size
from .numbers import Numbers, blank
from .style import HIDDEN, Theme

__all__ = ["edge_label", "font", "gate_label"]

_LEGIBLE = 9  # points: a label that would be smaller in its circle gets an ellipse instead


def font(text: str, color: str) -> str:
    """Text in a colour, escaped, for an HTML-like label."""
    return f'<FONT COLOR="{color}">{escape(text)}</FONT>'


def _cell_table(cells: list[list[str]], color: str) -> str:
    """An array as a table of right-aligned numbers between square brackets."""
    n_rows = len(cells)
    bracket = ('<TD ROWSPAN="{n}" WIDTH="4" BORDER="1" SIDES="{sides}" COLOR="{c}"></TD>')
    rows = []
    for r, row in enumerate(cells):
        inner = "".join(f'<TD ALIGN="RIGHT" CELLPADDING="1">{font(v, color)}</TD>' if c == 0 else
                        f'<TD WIDTH="8"></TD><TD ALIGN="RIGHT" CELLPADDING="1">{font(v, color)}</TD>'
                        for c, v in enumerate(row))
        if r == 0:
            inner = (bracket.format(n=n_rows, sides="LTB", c=color) + inner
                     + bracket.format(n=n_rows, sides="RTB", c=color))
        rows.append(f"<TR>{inner}</TR>")
    return ('<TABLE BORDER="0" CELLBORDER="0" CELLSPACING="0" CELLPADDING="0">'
            + "".join(rows) + "</TABLE>")


def _number_cell(x: Any, numbers: Numbers, color: str) -> str:
    a = np.asarray(x)
    if a.ndim == 0:
        return font(numbers.scalar(a), color)
    if a.size > numbers.max_elements:
        return font(numbers.summary(a), color)
    return _cell_table(numbers.rows(a), color)


def _hide(html: str, color: str) -> str:
    """The same label drawn invisibly, in spaces of the same widths: it takes the same
    room, so the frames of a build do not move, and gives nothing away."""
    html = html.replace(f'COLOR="{color}"', f'COLOR="{HIDDEN}"')
    return re.sub(r">([^<]+)<", lambda m: ">" + blank(m.group(1)) + "<", html)


def edge_label(value: Any, grad: Any, numbers: Numbers, theme: Theme, shown: bool = True,
                caption: str = "", name: str | None = None, digits: Numbers | None = None) -> str:
    """The helper node's label: value, the rule (the line itself), the port, gradient.

    ``name`` is the intermediate the value is, written before it in the theme's text
    colour, black like an input's name on the slides (``q = 3``).
    ``grad`` None: an edge that carries no gradient, of given data or an index (an empty
    cell keeps the line where it is on the other edges). ``caption``: a small grey line
    above the value (the shape of a reduction's result). ``digits``: how the gradient is
    written, where not as the value is (shares with the decimals that make their sum add up).

    The rule reaches a point past the port on each side (the 1-point cells beside it):
    Graphviz ends an edge up to a point outside its port, and with a rule as long as the
    port that left a visible gap between the edge and the rule.
    """
    # Arrays get room between their brackets and the line.
    pad = "1" if np.ndim(value) == 0 and np.ndim(grad) == 0 else "3"
    side = '<TD WIDTH="1" CELLPADDING="0"></TD>'
    value_cell = _number_cell(value, numbers, theme.value)
    if grad is None:
        below = " "
    else:
        red = _number_cell(grad, digits or numbers, theme.gradient)
        below = red if shown else _hide(red, theme.gradient)
    if name is not None:
        value_cell = ('<TABLE BORDER="0" CELLBORDER="0" CELLSPACING="0" CELLPADDING="0"><TR>'
                      f'<TD>{font(name + " =", theme.text)}</TD><TD WIDTH="5"></TD>'
                      f'<TD>{value_cell}</TD></TR></TABLE>')
    top = (f'<TR>{side}<TD CELLPADDING="0"><FONT POINT-SIZE="10" COLOR="{theme.pattern}">'
           f'{escape(caption)}</FONT></TD>{side}</TR>') if caption else ""
    return ('<<TABLE BORDER="0" CELLBORDER="0" CELLSPACING="0" CELLPADDING="1">' + top +
            f'<TR>{side}<TD CELLPADDING="{pad}">{value_cell}</TD>{side}</TR>'
            '<HR/>'
            f'<TR>{side}<TD PORT="p" HEIGHT="0" CELLPADDING="0"></TD>{side}</TR>'
            f'<TR>{side}<TD CELLPADDING="{pad}">{below}</TD>{side}</TR>'
            '</TABLE>>')


def gate_label(label: str) -> str:
    """A gate's DOT label and size: one circle for every gate.

    The label is set smaller, or broken before its bracket (``max`` over ``(x,0)``) or
    its axis (``sum`` over ``axis=0``), to fit the circle; the choice is the one with the
    larger font. A label that would be smaller than 9 points (``log_softmax``) is drawn
    in an ellipse at the usual size instead.
    """
    head, axis, rest = label.partition(" axis=")
    options = [[head, f"axis={rest}"]] if axis else [[label]]
    if not axis and "(" in label[1:]:
        cut = label.index("(", 1)
        options.append([label[:cut], label[cut:]])
    best = max(options, key=gate_font_size)
    quoted = '"' + "\\n".join(quote(line)[1:-1] for line in best) + '"'
    size = gate_font_size(best)
    if size < _LEGIBLE:
        return f"{quoted}, shape=ellipse, width=0, margin=0.08"
    return f"{quoted}, fixedsize=true" + (f", fontsize={size:g}" if size != GATE_FONT else "")
