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

import math
import re
from typing import Any

import numpy as np

from ..ops import format_constant
from ..text import escape, quote
from .metrics import GATE_FONT, gate_font_size, note_width
from .numbers import Numbers, blank
from .style import HIDDEN, Theme

__all__ = ["circle_text", "edge_label", "font", "gate_label", "number_cell_width", "picture",
           "picture_width"]

_LEGIBLE = 9  # points: a constant's decimals are dropped before its circle's text is smaller
_SMALLEST = 7  # points: a name is set this small whole (sigmoid, Neuron) before it is cut


def font(text: str, color: str) -> str:
    """Text in a colour, escaped, for an HTML-like label."""
    return f'<FONT COLOR="{color}">{escape(text)}</FONT>'


def _cell_table(cells: list[list[str]], color: str) -> str:
    """An array as a table of right-aligned numbers between square brackets."""
    n_rows = len(cells)
    bracket = (f'<TD ROWSPAN="{{n}}" WIDTH="{_BRACKET}" BORDER="1" SIDES="{{sides}}" COLOR="{{c}}"></TD>')
    rows = []
    for r, row in enumerate(cells):
        inner = "".join(f'<TD ALIGN="RIGHT" CELLPADDING="1">{font(v, color)}</TD>' if c == 0 else
                        f'<TD WIDTH="{_BETWEEN}"></TD><TD ALIGN="RIGHT" CELLPADDING="1">{font(v, color)}</TD>'
                        for c, v in enumerate(row))
        if r == 0:
            inner = (bracket.format(n=n_rows, sides="LTB", c=color) + inner
                     + bracket.format(n=n_rows, sides="RTB", c=color))
        rows.append(f"<TR>{inner}</TR>")
    table = ('<TABLE BORDER="0" CELLBORDER="0" CELLSPACING="0" CELLPADDING="0">'
             + "".join(rows) + "</TABLE>")
    # Graphviz stretches a table to its cell, sharing the extra width evenly between the
    # columns of the row: empty cells on each side take nearly all of it, so that an array
    # narrower than its twin above or below (its value's or gradient's) keeps its
    # brackets at its numbers, centred.
    room = "<TD></TD>" * _ROOM
    return ('<TABLE BORDER="0" CELLBORDER="0" CELLSPACING="0" CELLPADDING="0"><TR>'
            f"{room}<TD>{table}</TD>{room}</TR></TABLE>")


_ROOM = 6  # empty cells on each side of an array, which take 12/13 of any extra width
_BRACKET = 4  # points: the width of an array's bracket
_BETWEEN = 8  # points: the space between two columns of an array's numbers
_AROUND = 8.0  # points: the room a helper keeps around an array (cells' padding, side cells)
_FONT = 14.0  # the labels' font size (the graph's default)
_CELL = 11  # points: the side of one number's square in a picture of an array


def _number_cell(x: Any, numbers: Numbers, color: str, made: bool = False) -> str:
    """A value's cell: a number, its shape and range, a picture of an array's numbers
    (:func:`picture`), or the numbers between brackets (see :meth:`Numbers.drawn`)."""
    a, text = _drawn(x, numbers, made)
    if text is not None:
        return font(text, color)
    if numbers.drawn(a, made) == "picture":
        return picture(a, color)
    return _cell_table(numbers.rows(a), color)


def number_cell_width(x: Any, numbers: Numbers, made: bool = False) -> float:
    """About how wide :func:`_number_cell` draws a value (points), with the room a helper
    keeps around an array."""
    a, text = _drawn(x, numbers, made)
    if text is not None:
        return note_width(text, _FONT)
    if numbers.drawn(a, made) == "picture":
        return picture_width(a) + _AROUND
    rows = numbers.rows(a)
    columns = [max(note_width(row[c], _FONT) for row in rows) for c in range(len(rows[0]))]
    return sum(columns) + _BETWEEN * (len(columns) - 1) + 2 * _BRACKET + _AROUND


def _drawn(x: Any, numbers: Numbers, made: bool) -> tuple[np.ndarray, str | None]:
    """The value as an array, and its text where it is drawn as one line of text (a
    number, or an array's shape and range); None for an array drawn as an array."""
    a = np.asarray(x)
    if a.ndim == 0:
        return a, numbers.scalar(a)
    return a, numbers.summary(a) if numbers.drawn(a, made) == "summary" else None


def picture(a: Any, color: str) -> str:
    """An array as a Hinton diagram between brackets: one square per number, its area
    the number's size (the largest fills its place), filled where it is positive and
    drawn as an outline where it is negative; a zero leaves its place empty. A vector
    is a column, as its numbers are, and an image's maps (C, H, W) are one under another.

    The one drawing of an array too large to write out (an HTML-like label's table):
    :meth:`Numbers.drawn` says when an array is drawn so."""
    grid = a.reshape(-1, 1) if a.ndim == 1 else a.reshape(-1, a.shape[-1])
    finite = np.abs(grid[np.isfinite(grid)])
    top = float(finite.max()) if finite.size and finite.max() > 0 else 1.0
    bracket = f'<TD ROWSPAN="{len(grid)}" WIDTH="{_BRACKET}" BORDER="1" SIDES="{{}}" COLOR="{color}"></TD>'
    rows = []
    for r, row in enumerate(grid):
        cells = "".join(_square(float(v), top, color) for v in row)
        rows.append("<TR>" + (bracket.format("LTB") + cells + bracket.format("RTB") if r == 0
                              else cells) + "</TR>")
    # Its exact size, fixed: in a cell made wider by a name or a shape above it, the
    # picture keeps its size (Graphviz would stretch it, brackets and all).
    n_rows = len(grid)
    width, height = picture_width(a), _CELL * n_rows + (n_rows + 1)
    return (f'<TABLE BORDER="0" CELLBORDER="0" CELLSPACING="1" CELLPADDING="0" '
            f'FIXEDSIZE="TRUE" WIDTH="{width}" HEIGHT="{height}">' + "".join(rows) + "</TABLE>")


def picture_width(a: Any) -> int:
    """How wide :func:`picture` draws an array (points): its places, the spacing between
    them, and its brackets."""
    n_cols = 1 if np.ndim(a) == 1 else np.shape(a)[-1]
    return _CELL * n_cols + 2 * _BRACKET + (n_cols + 3)


def _square(v: float, top: float, color: str) -> str:
    """One number's place in a picture: a square of area |v| / top of the place's."""
    size = _CELL if not math.isfinite(v) else round(_CELL * math.sqrt(min(abs(v) / top, 1.0)))
    place = f'<TD FIXEDSIZE="TRUE" WIDTH="{_CELL}" HEIGHT="{_CELL}">'
    if size < 2 or math.isnan(v):
        return place + "</TD>"
    look = f'BGCOLOR="{color}"' if v > 0 else f'BORDER="1" COLOR="{color}"'
    return (place + '<TABLE BORDER="0" CELLBORDER="0" CELLSPACING="0" CELLPADDING="0"><TR>'
            f'<TD FIXEDSIZE="TRUE" WIDTH="{size}" HEIGHT="{size}" {look}></TD>'
            "</TR></TABLE></TD>")


def _hide(html: str, color: str) -> str:
    """The same label drawn invisibly, in spaces of the same widths: it takes the same
    room, so the frames of a build do not move, and gives nothing away."""
    html = html.replace(f'COLOR="{color}"', f'COLOR="{HIDDEN}"')
    return re.sub(r">([^<]+)<", lambda m: ">" + blank(m.group(1)) + "<", html)


def edge_label(value: Any, grad: Any, numbers: Numbers, theme: Theme, shown: bool = True,
               caption: str = "", name: str | None = None, digits: Numbers | None = None,
               made: bool = False) -> str:
    """The helper node's label: value, the rule (the line itself), the port, gradient.

    ``name`` is the intermediate the value is, written before it in the theme's text
    colour, black like an input's name on the slides (``q = 3``). Before an array it has
    a column of its own, so that the brackets below, the gradient's, hug their numbers
    rather than stretch under the name. A value drawn as a picture has its name and
    shape written above it (``xc = 4×3``), which keeps a long chain narrow.
    ``grad`` None: an edge that carries no gradient, of given data or an index (an empty
    cell keeps the line where it is on the other edges). ``caption``: a small grey line
    above the value (the shape of a reduction's result). ``digits``: how the gradient is
    written, where not as the value is (shares with the decimals that make their sum add up).
    ``made``: the value is a gate's result, or a share after a fork (see
    :meth:`Numbers.drawn`).

    The rule reaches a point past the port on each side (the 1-point cells beside it):
    Graphviz ends an edge up to a point outside its port, and with a rule as long as the
    port that left a visible gap between the edge and the rule.
    """
    array = np.ndim(value) > 0 or np.ndim(grad) > 0
    pad = "3" if array else "1"  # arrays get room between their brackets and the line
    value_cell = _number_cell(value, numbers, theme.value, made)
    if grad is None:
        below = " "
    else:
        red = _number_cell(grad, digits or numbers, theme.gradient, made)
        below = red if shown else _hide(red, theme.gradient)
    above, under = [value_cell], [below]
    picture = np.ndim(value) > 0 and numbers.drawn(value, made) == "picture"
    if picture:  # its name and shape above it: "xc = 4×3"
        named = "" if name is None else font(name + " = ", theme.text)
        top = _row([named + font(numbers.shape(value), theme.value)], "0")
    elif name is not None and array:
        above, under = [font(name + " =", theme.text), *above], ["", *under]
    elif name is not None:
        above = ['<TABLE BORDER="0" CELLBORDER="0" CELLSPACING="0" CELLPADDING="0"><TR>'
                 f'<TD>{font(name + " =", theme.text)}</TD><TD WIDTH="5"></TD>'
                 f'<TD>{value_cell}</TD></TR></TABLE>']
    span = f' COLSPAN="{len(above)}"' if len(above) > 1 else ""
    if not picture:
        top = (f'<TR>{_SIDE}<TD CELLPADDING="0"{span}><FONT POINT-SIZE="10" '
               f'COLOR="{theme.pattern}">{escape(caption)}</FONT></TD>{_SIDE}</TR>'
               if caption else "")
    return ('<<TABLE BORDER="0" CELLBORDER="0" CELLSPACING="0" CELLPADDING="1">' + top +
            _row(above, pad) + '<HR/>'
            f'<TR>{_SIDE}<TD PORT="p" HEIGHT="0" CELLPADDING="0"{span}></TD>{_SIDE}</TR>'
            + _row(under, pad) + '</TABLE>>')


_SIDE = '<TD WIDTH="1" CELLPADDING="0"></TD>'


def _row(cells: list[str], pad: str) -> str:
    """A row of the helper's table between its two 1-point side cells."""
    return f"<TR>{_SIDE}" + "".join(f'<TD CELLPADDING="{pad}">{c}</TD>' for c in cells) \
        + f"{_SIDE}</TR>"


def _fitting(label: str) -> list[str]:
    """The label's lines as drawn in the circle: whole, or broken before its bracket
    (``max`` over ``(x,0)``) or at a space (``log`` over ``smax``), at the larger font."""
    options = [[label]]
    if "(" in label[1:]:
        cut = label.index("(", 1)
        options.append([label[:cut], label[cut:]])
    if " " in label:
        options.append(label.split(" ", 1))
    return max(options, key=gate_font_size)


def circle_text(label: str, short: str | None = None, const: object = None,
                precision: int = 2) -> str:
    """What a gate's circle says: its slide notation (``short``, e.g. ``lse``), or its
    label with the constant written to ``precision`` (``/1.41`` for ``/1.41421``; an exact
    ``/√2``; ``+ε`` for a constant too small to show), with fewer decimals where the
    circle cannot hold them legibly, set smaller down to 7 points and cut with ``…`` where
    even that is too long (a long user gate's name)."""
    text = short if short is not None else label
    if short is None and isinstance(const, float) and not const.is_integer():
        # As many of the figure's decimals as the circle holds legibly: *0.333 at 4.
        for decimals in range(precision, -1, -1):
            text = label.replace(format_constant(const), _constant(const, decimals), 1)
            if gate_font_size(_fitting(text)) >= _LEGIBLE or decimals == 1:
                break
    cut = len(text)
    while cut > 1 and gate_font_size(_fitting(text)) < _SMALLEST:
        cut -= 1
        text = text[:cut] + "…"
    return text


def _constant(c: float, precision: int) -> str:
    """A gate's constant as the figure writes numbers: √k where it is one, exactly."""
    sign = "-" if c < 0 else ""
    square = round(c * c)
    if 1 < square < 100 and math.isqrt(square) ** 2 != square and abs(c * c - square) < 1e-9:
        return f"{sign}√{square}"
    if abs(c) < 0.5 * 10.0 ** -precision:
        return f"{sign}ε"
    if round(c, precision) == c:
        return format_constant(c)
    return f"{c:.{precision}f}"


def gate_label(text: str) -> str:
    """A gate's DOT label and size: one circle for every gate, the text set smaller or
    on two lines (:func:`_fitting`) to fit it; :func:`circle_text` makes it short enough."""
    best = _fitting(text)
    quoted = '"' + "\\n".join(quote(line)[1:-1] for line in best) + '"'
    size = gate_font_size(best)
    return f"{quoted}, fixedsize=true" + (f", fontsize={size:g}" if size != GATE_FONT else "")
