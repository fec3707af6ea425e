"""Trace -> DOT / SVG / PNG / PDF / JSON in the style of the CS231n backprop slides.

Every edge is drawn through a small helper node whose HTML-like label is a table:
the forward value (green), an ``<HR/>`` rule, a zero-height cell with a port, and the
gradient (red). The rule *is* the edge's line: the incoming edge ends at the port's
west side with no arrow head and the outgoing edge leaves its east side. So the value
is always just above its line and the gradient just below, on horizontal and diagonal
edges alike, which Graphviz's own edge labels (``label``, ``xlabel``, ``headlabel``)
do not guarantee. The labels live in the DOT itself: a saved .dot renders the same
figure with plain ``dot -Tsvg``.
"""

from __future__ import annotations

import contextlib
import copy
import errno
import json
import math
import os
import re
import shutil
import signal
import stat
import subprocess
import tempfile
import threading
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .errors import (
    BackvizError,
    GraphvizNotFoundError,
    RenderError,
    RenderTimeoutError,
    TooLargeError,
)
from .graph import INPUT, Graph
from .ops import OPS
from .signals import deferred

if TYPE_CHECKING:
    from .evaluate import Evaluation

__all__ = [
    "FORMATS",
    "MAX_GATES",
    "PNG_SCALE",
    "STUB",
    "THEMES",
    "Layout",
    "Note",
    "Numbers",
    "Style",
    "Theme",
    "blank",
    "described",
    "gate_labels",
    "gradient_node",
    "note_spacers",
    "render",
    "save",
    "summary",
    "to_dict",
    "to_dot",
    "to_graphviz",
    "to_json",
    "to_svg",
]


@dataclass(frozen=True)
class Theme:
    """The colours of a figure (and of the stepping page): plain data, so a page can switch it."""

    name: str
    value: str
    """The forward values, above the lines."""
    gradient: str
    """The gradients, below the lines."""
    text: str
    """Gates, inputs, lines and arrows."""
    background: str
    highlight: str
    """The outline of the gate a frame of a build is at."""
    highlight_fill: str
    note: str
    """The chain-rule products under a build's frames."""
    pattern: str
    """--annotate's words: distributor, router, switcher."""
    value_name: str = "green"
    """The value colour in words, for the teaching text ("every value in green")."""


THEMES: dict[str, Theme] = {
    # The lecture's colours.
    "slides": Theme("slides", value="#008000", gradient="#FF0000", text="#000000",
                    background="#FFFFFF", highlight="#1F6FD1", highlight_fill="#E8F0FB",
                    note="#1F4E99", pattern="#555555"),
    # Okabe and Ito's blue and vermilion: told apart with every kind of colour blindness,
    # and by lightness alone (in grey they are 33% and 51%).
    "colorblind": Theme("colorblind", value="#0072B2", gradient="#C04000", text="#000000",
                        background="#FFFFFF", highlight="#7A3E9D", highlight_fill="#F1E8F7",
                        note="#5C2D7A", pattern="#555555", value_name="blue"),
    # Light text on a dark background (a dark slide deck or a dark notebook).
    "dark": Theme("dark", value="#7EE787", gradient="#FF8A80", text="#E6E6E6",
                  background="#1E1E1E", highlight="#79B8FF", highlight_fill="#22384F",
                  note="#9CC8FF", pattern="#B0B0B0"),
}
THEME = THEMES["slides"]
HIDDEN = "transparent"
HIGHLIGHT_WIDTH = 2.5
"""The pen width of the outline of the gate a frame of a build is at."""
NOTE_SIZE = 12
STUB = (-1, 0)
"""The key of the output's stub in :attr:`Style.gradients`. Other edges: (gate id, input
position); the stub of a value used more than once, with its total gradient: (its id, -1)."""
TOTAL = -1
# fonts-dejavu-core is on every stock Debian/Ubuntu, so nothing is downloaded; the rest of
# the list is for SVGs viewed elsewhere (Verdana has DejaVu's proportions; then whatever
# sans-serif the viewer has, never its default serif).
FONT = "DejaVu Sans,Verdana,Arial,sans-serif"
FORMATS = ("svg", "dot", "png", "pdf", "json")
MAX_GATES = 3000
"""Above this many gates Graphviz takes minutes; such graphs are refused for drawing."""
PNG_SCALE = 4
"""A PNG has this many pixels per point unless a scale is given: the first figure is 808 px
wide, sharp on a projector."""
_LARGE = 300  # from this many gates on, lay out for speed (see _large_graph_settings)
MAX_ELEMENTS = 16
"""Arrays with more elements are summarised by their shape and range (unless asked)."""


@dataclass(frozen=True)
class Style:
    """How a figure is drawn."""

    precision: int = 2
    """Decimals shown (the slides use 2)."""
    integers: bool | None = None
    """Show integers without decimals; None: when every number in the figure is integral."""
    gradients: frozenset[tuple[int, int]] | None = None
    """The edges whose red gradient is shown, as (gate id, input position) and STUB;
    None: all. A hidden one keeps its room, so the frames of a build do not move."""
    highlight: int | None = None
    """The id of a gate to draw highlighted (the gate a frame of a build is at)."""
    notes: tuple[Note, ...] = ()
    """Lines written under the figure, each centred under its node (a build's products)."""
    note_rows: int = 0
    """Room for at least this many lines of notes, so that frames keep one size."""
    note_width: float = 0.0
    """The band of notes is at least this wide (points), so that frames keep one size."""
    layout: Layout | None = None
    """Where the nodes are (:attr:`backviz.template.Template.layout`), to centre notes
    under them."""
    annotate: bool = False
    """Write each gate's gradient pattern (distributor, router, switcher) under it."""
    theme: Theme = THEME
    """The colours (see :data:`THEMES`)."""
    transparent: bool = False
    """No background: the slide or page shows through."""
    scale: float | None = None
    """Size: K times the natural size (SVG, PDF); a PNG has K pixels per point.
    None: 1, and :data:`PNG_SCALE` for PNG."""
    max_elements: int = MAX_ELEMENTS
    """Arrays of more elements are written as their shape and range."""
    caption: str | None = None
    """A line or two of text under the figure (an expression file's ``caption``)."""

    def __post_init__(self) -> None:
        if isinstance(self.precision, bool) or not isinstance(self.precision, int) \
                or not 0 <= self.precision <= 12:
            raise BackvizError(f"precision must be a whole number from 0 to 12, "
                               f"not {self.precision!r}")
        if self.scale is not None and (isinstance(self.scale, bool)
                                       or not isinstance(self.scale, (int, float))
                                       or not 0.1 <= self.scale <= 20):
            raise BackvizError(f"scale must be a number from 0.1 to 20, not {self.scale!r}")
        if isinstance(self.max_elements, bool) or not isinstance(self.max_elements, int) \
                or self.max_elements < 1:
            raise BackvizError(f"max_elements must be a whole number of at least 1, "
                               f"not {self.max_elements!r}")
        if not isinstance(self.theme, Theme):
            raise BackvizError(f"theme must be one of {', '.join(THEMES)} (backviz.render.THEMES), "
                               f"not {self.theme!r}")


@dataclass(frozen=True)
class Note:
    """A line written under the figure, below the node with id ``node``."""

    node: int
    text: str
    color: str | None = None
    """None: the theme's colour for notes."""


@dataclass(frozen=True)
class Layout:
    """Where Graphviz put the nodes: the figure's width and each node's centre x (points),
    as laid out with its band of notes (see :mod:`backviz.template`)."""

    width: float
    x: Mapping[int, float] = field(default_factory=dict)


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
        self.max_elements = style.max_elements
        integral = style.integers
        if integral is None:
            # the shares on the edges too: max(x, x) sends 0.5 twice to a gradient of 1
            shares = (share for edge in trace.edge_grads for share in edge)
            integral = all(_integral(v) for v in (*trace.values, *trace.grads, *shares))
        self.integral = integral

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

    def summary(self, x: Any) -> str:
        a = np.asarray(x)
        shape = "×".join(str(n) for n in a.shape)
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
        return "[" + ", ".join("[" + ", ".join(self.scalar(v) for v in r) + "]" for r in a) + "]"


def _integral(x: Any) -> bool:
    a = np.asarray(x)
    return bool(np.all(np.isfinite(a)) and np.all(a == np.round(a)))


def _cell_table(cells: list[list[str]], color: str) -> str:
    """An array as a table of right-aligned numbers between square brackets."""
    n_rows, n_cols = len(cells), len(cells[0])
    bracket = ('<TD ROWSPAN="{n}" WIDTH="4" BORDER="1" SIDES="{sides}" COLOR="{c}"></TD>')
    rows = []
    for r, row in enumerate(cells):
        inner = "".join(f'<TD ALIGN="RIGHT" CELLPADDING="1">{_font(v, color)}</TD>' if c == 0 else
                        f'<TD WIDTH="8"></TD><TD ALIGN="RIGHT" CELLPADDING="1">{_font(v, color)}</TD>'
                        for c, v in enumerate(row))
        if r == 0:
            inner = (bracket.format(n=n_rows, sides="LTB", c=color) + inner
                     + bracket.format(n=n_rows, sides="RTB", c=color))
        rows.append(f"<TR>{inner}</TR>")
    del n_cols
    return ('<TABLE BORDER="0" CELLBORDER="0" CELLSPACING="0" CELLPADDING="0">'
            + "".join(rows) + "</TABLE>")


def _font(text: str, color: str) -> str:
    return f'<FONT COLOR="{color}">{_escape(text)}</FONT>'


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


def _number_cell(x: Any, numbers: Numbers, color: str) -> str:
    a = np.asarray(x)
    if a.ndim == 0:
        return _font(numbers.scalar(a), color)
    if a.size > numbers.max_elements:
        return _font(numbers.summary(a), color)
    return _cell_table(numbers.rows(a), color)


def blank(text: str) -> str:
    """A number's text as spaces that take its room: no digit, no sign is left in it.

    Each space has the width (in DejaVu Sans, as Graphviz measures it) of what it stands
    for: a digit is a figure space, a point a punctuation space, and a minus sign with
    the digit after it an em space.
    """
    text = re.sub(r"-\d", "\u2003", text)
    text = re.sub(r"\d", "\u2007", text)
    return text.replace(".", "\u2008")


def _hide(html: str, color: str) -> str:
    """The same label drawn invisibly, in spaces of the same widths: it takes the same
    room, so the frames of a build do not move, and gives nothing away."""
    html = html.replace(f'COLOR="{color}"', f'COLOR="{HIDDEN}"')
    return re.sub(r">([^<]+)<", lambda m: ">" + blank(m.group(1)) + "<", html)


def _edge_label(value: Any, grad: Any, numbers: Numbers, theme: Theme, shown: bool = True,
                caption: str = "", name: str | None = None) -> str:
    """The helper node's label: value, the rule (the line itself), the port, gradient.

    ``name`` is the intermediate the value is, written before it in the theme's text
    colour, black like an input's name on the slides (``q = 3``).
    ``grad`` None: an index edge, which carries no gradient (an empty cell keeps the line
    where it is on the other edges). ``caption``: a small grey line above the value (the
    shape of a reduction's result).

    The rule reaches a point past the port on each side (the 1-point cells beside it):
    Graphviz ends an edge up to a point outside its port, and with a rule as long as the
    port that left a visible gap between the edge and the rule.
    """
    # Arrays get room between their brackets and the line.
    pad = "1" if np.ndim(value) == 0 and np.ndim(grad) == 0 else "3"
    side = '<TD WIDTH="1" CELLPADDING="0"></TD>'
    if grad is None:  # an index: integers, written as such
        whole = copy.copy(numbers)
        whole.integral = True
        below = " "
        value_cell = _number_cell(value, whole, theme.value)
    else:
        red = _number_cell(grad, numbers, theme.gradient)
        below = red if shown else _hide(red, theme.gradient)
        value_cell = _number_cell(value, numbers, theme.value)
    if name is not None:
        value_cell = ('<TABLE BORDER="0" CELLBORDER="0" CELLSPACING="0" CELLPADDING="0"><TR>'
                      f'<TD>{_font(name + " =", theme.text)}</TD><TD WIDTH="5"></TD>'
                      f'<TD>{value_cell}</TD></TR></TABLE>')
    top = (f'<TR>{side}<TD CELLPADDING="0"><FONT POINT-SIZE="10" COLOR="{theme.pattern}">'
           f'{_escape(caption)}</FONT></TD>{side}</TR>') if caption else ""
    return ('<<TABLE BORDER="0" CELLBORDER="0" CELLSPACING="0" CELLPADDING="1">' + top +
            f'<TR>{side}<TD CELLPADDING="{pad}">{value_cell}</TD>{side}</TR>'
            '<HR/>'
            f'<TR>{side}<TD PORT="p" HEIGHT="0" CELLPADDING="0"></TD>{side}</TR>'
            f'<TR>{side}<TD CELLPADDING="{pad}">{below}</TD>{side}</TR>'
            '</TABLE>>')


def _patterns(trace: Evaluation, theme: Theme) -> list[str]:
    """DOT for --annotate: each gate's pattern in a plain node below the gate, in its
    rank, so that Graphviz keeps it clear of every other label.

    Gate and word share a borderless cluster, which Graphviz keeps together: in the rank
    alone, other nodes came between them on larger graphs and words drifted up to 100 pt
    from their gate. The invisible edge, from the word to the gate, puts the word under it.
    """
    out = []
    for node in trace.graph.nodes:
        op = OPS.get(node.op)  # None for an input or a collapsed user gate
        pattern = op.pattern if op else None
        if not pattern:
            continue
        out.append(f"  c{node.id} [shape=plaintext, width=0, height=0, margin=0, fontsize=12, "
                   f"label=<<I>{_font(pattern, theme.pattern)}</I>>];")
        out.append(f"  subgraph cluster_c{node.id} {{peripheries=0; margin=0; "
                   f"{{rank=same; n{node.id}; c{node.id};}}}}")
        out.append(f"  c{node.id} -> n{node.id} [style=invis];")
    return out


# DejaVu Sans advance widths (em) of the characters notes use most; others count as wide.
_ADVANCE = {**dict.fromkeys("0123456789", 0.636), **dict.fromkeys(" .,:", 0.318),
            **dict.fromkeys("()[]", 0.39), **dict.fromkeys("=+^×", 0.838), "-": 0.361,
            "/": 0.337, "e": 0.615, "t": 0.392, "o": 0.612, "h": 0.634, "b": 0.635,
            "i": 0.278, "l": 0.278, "n": 0.634, "p": 0.635, "u": 0.634, "s": 0.521,
            "g": 0.635, "a": 0.613, "d": 0.635, "r": 0.411, "f": 0.352}
_LABEL_MARGIN = 8.0  # Graphviz's room on each side of a graph label (points)
# More DejaVu Sans advance widths (em), for fitting gate labels into their circles.
_LETTERS = {**_ADVANCE, "a": 0.613, "b": 0.635, "c": 0.550, "d": 0.635, "e": 0.615,
            "f": 0.352, "g": 0.635, "h": 0.634, "i": 0.278, "j": 0.278, "k": 0.579,
            "l": 0.278, "m": 0.974, "n": 0.634, "o": 0.612, "p": 0.635, "q": 0.635,
            "r": 0.411, "s": 0.521, "t": 0.392, "u": 0.634, "v": 0.592, "w": 0.818,
            "x": 0.592, "y": 0.592, "z": 0.525, "*": 0.5, "σ": 0.634, ",": 0.318}
GATE = 0.5
"""Every gate is a circle this wide (inches): its label shrinks, or breaks at its
bracket, to fit, so that max(x,0) is as big as *."""
GATE_FONT = 14
_GATE_ROOM = GATE * 72 / 2 - 2  # the circle's radius (points) less a margin


_LEGIBLE = 9  # points: a label that would be smaller in its circle gets an ellipse instead


def _gate_label(label: str) -> str:
    """A gate's DOT label and size: one circle for every gate.

    The label is set smaller, or broken before its bracket (``max`` over ``(x,0)``) or
    its axis (``sum`` over ``axis=0``), to fit the circle; the choice is the one with the
    larger font. A label that would be smaller than 9 points (``log_softmax``) is drawn
    in an ellipse at the usual size instead.
    """
    def fit(lines: list[str]) -> float:
        widest = max(sum(_LETTERS.get(c, 0.7) for c in line) for line in lines)
        size = float(GATE_FONT)
        while size > 6:
            half = len(lines) * size * 1.2 / 2  # the lines' half height
            if half < _GATE_ROOM and widest * size <= 2 * math.sqrt(_GATE_ROOM ** 2 - half ** 2):
                break
            size -= 0.5
        return size

    head, axis, rest = label.partition(" axis=")
    options = [[head, f"axis={rest}"]] if axis else [[label]]
    if not axis and "(" in label[1:]:
        cut = label.index("(", 1)
        options.append([label[:cut], label[cut:]])
    best = max(options, key=fit)
    quoted = '"' + "\\n".join(_quote(line)[1:-1] for line in best) + '"'
    size = fit(best)
    if size < _LEGIBLE:
        return f"{quoted}, shape=ellipse, width=0, margin=0.08"
    return f"{quoted}, fixedsize=true" + (f", fontsize={size:g}" if size != GATE_FONT else "")


def note_width(text: str, size: float = NOTE_SIZE) -> float:
    """About how wide a note is drawn (points): a little more, never less."""
    return sum(_ADVANCE.get(c, 0.9) for c in text) * size * 1.04 + 2


def note_spacers(style: Style) -> tuple[int, list[int]]:
    """The band of notes' width, and for each note the room left of it (points).

    The band is as wide as the drawing (or ``note_width``), so it never moves the
    figure from one frame of a build to the next. With ``style.layout`` (the figure's
    own layout, band included) each note is centred under its node, the lines under one
    node as a block; without it, notes start at the left. The room is at least 1, so
    every line has the same cells (see _notes).
    """
    known = style.layout
    drawing = known.width if known else 0.0
    band = math.floor(max(drawing - 2 * _LABEL_MARGIN, style.note_width,
                          *(note_width(n.text) for n in style.notes), 1.0))
    # A band wider than the drawing centres the drawing above it.
    shift = max(0.0, (band + 2 * _LABEL_MARGIN - drawing) / 2)
    block: dict[int, float] = {}
    for note in style.notes:
        block[note.node] = max(block.get(note.node, 0.0), note_width(note.text))
    spacers = []
    for note in style.notes:
        width = block[note.node]
        x = known.x.get(note.node) if known else None
        left = 0.0 if x is None else x + shift - _LABEL_MARGIN - width / 2
        spacers.append(max(1, round(min(max(0.0, left), band - width))))
    return band, spacers


def _notes(style: Style) -> str:
    """The graph's label: a band under the figure, each note under its node."""
    band, spacers = note_spacers(style)
    rows = []
    for note, spacer in zip(style.notes, spacers, strict=True):
        # Each line is a table as wide as the band (Graphviz centres a narrower one in
        # its cell): a spacer of fixed width, then the text, on the left of the rest.
        rows.append(f'<TR><TD HEIGHT="18"><TABLE WIDTH="{band}" BORDER="0" CELLBORDER="0" '
                    f'CELLSPACING="0" CELLPADDING="0"><TR>'
                    f'<TD WIDTH="{spacer}" HEIGHT="1" FIXEDSIZE="TRUE"></TD><TD ALIGN="LEFT">'
                    f'<FONT POINT-SIZE="{NOTE_SIZE}" COLOR="{note.color or style.theme.note}">'
                    f'{_escape(note.text)}</FONT></TD></TR></TABLE></TD></TR>')
    rows += ['<TR><TD HEIGHT="18"></TD></TR>'] * (style.note_rows - len(style.notes))
    return (f'  graph [labelloc=b, labeljust=l, label=<<TABLE BORDER="0" CELLBORDER="0" '
            f'CELLSPACING="0" CELLPADDING="0" WIDTH="{band}">{"".join(rows)}</TABLE>>];')


def _figure_caption(style: Style) -> str:
    """The graph's label: the caption under the figure, in two lines where it can.

    Lines are half the caption's width, from 270 to 560 points: a short caption does not
    make a small figure much wider, and a long one does not become a narrow column.
    """
    caption = " ".join(style.caption.split()) if style.caption else ""
    limit = min(560.0, max(270.0, note_width(caption) / 2 + 20))
    lines: list[str] = []
    for word in caption.split():
        if lines and note_width(f"{lines[-1]} {word}") <= limit:
            lines[-1] += " " + word
        else:
            lines.append(word)
    text = "<BR/>".join(_escape(line) for line in lines)
    return (f'  graph [labelloc=b, labeljust=c, label=<<FONT POINT-SIZE="{NOTE_SIZE}" '
            f'COLOR="{style.theme.note}"><I>{text}</I></FONT>>];')


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _large_graph_settings(n_gates: int) -> str:
    """Graph attributes that keep dot's layout time down on large graphs.

    Measured with Graphviz 2.43: on a 1,500-gate sum of products dot's default ranking
    took 10.8 s and newrank=true 3.2 s (the default balances ranks in time that grows
    with nodes x ranks); the positioning network simplex is capped at about 60 / gates
    of the node count; on a 3,000-gate random DAG crossing minimisation took 37 of 40 s
    and mclimit=0.1 brings the whole layout to 6.7 s. Labels stay right (they do not
    depend on how good the layout is); only the number of edge crossings may grow.
    """
    if n_gates < _LARGE:
        return ""
    limit = f"{min(0.2, 60 / n_gates):.3g}"
    return f", newrank=true, nslimit={limit}, nslimit1={limit}, mclimit=0.1"


def gate_labels(trace: Evaluation) -> dict[int, str]:
    """Each gate's label in this figure, by node id.

    A gate whose label another kind of gate in the figure also has is drawn with its
    ``distinct_label``: beside an elementwise ``*``, the matrix product is ``@`` (alone,
    it is the slides' ``*``).
    """
    graph = trace.graph
    labels = {node.id: node.label for node in graph.gates}
    kinds: dict[str, set[str]] = {}
    for node in graph.gates:
        kinds.setdefault(labels[node.id], set()).add(node.op)
    for node in graph.gates:
        op = OPS.get(node.op)  # None for a collapsed user gate, whose label is its name
        distinct = op.distinct_label if op is not None else None
        if distinct is not None and len(kinds[labels[node.id]]) > 1:
            labels[node.id] = distinct
    return labels


def _caption(trace: Evaluation, node_id: int) -> str:
    """The shape of a value made along an axis (``mean(X, axis=0)``), which the axis decides."""
    op = OPS.get(trace.graph.ops[node_id])
    if op is None or op.keyword != "axis" or trace.graph.consts[node_id] is None:
        return ""
    shape = np.shape(trace.values[node_id])
    return "shape " + ("()" if not shape else f"({shape[0]},)" if len(shape) == 1 else
                       "(" + ", ".join(map(str, shape)) + ")")


def gradient_node(edge: tuple[int, int]) -> str:
    """The DOT name of the helper node that carries a gradient (a key of
    :attr:`Style.gradients`); frames of a build find the gradient's texts by it."""
    node, k = edge
    return "out" if edge == STUB else f"s{node}" if k == TOTAL else f"e{node}_{k}"


def to_dot(trace: Evaluation, style: Style | None = None, format: str | None = None) -> str:
    """The figure as DOT source: deterministic, ids from the topological order.

    ``format`` is the format it will be drawn in, for its size: a PNG has
    :data:`PNG_SCALE` pixels per point unless the style gives a scale.

    An edge is drawn through a helper (``e{gate}_{k}``) carrying its value and gradient.
    A value used more than once first goes through a stub (``s{id}``) with its total
    gradient, to a fork (``f{id}``) where its edges part, each with its own share.
    """
    style = style or Style()
    theme = style.theme
    numbers = Numbers(trace, style)
    graph = trace.graph
    n_gates = sum(1 for n in graph.nodes if n.op != INPUT)
    scale = style.scale or (PNG_SCALE if format == "png" else None)
    size = f", dpi={72 * scale:g}" if scale else ""
    background = "transparent" if style.transparent else theme.background
    ink = theme.text
    # The graph's name is the SVG's first <title>: what a screen reader and a browser tab say.
    name = _quote(_title(trace))
    lines = [
        f"digraph {name} {{",
        f'  graph [rankdir=LR, nodesep=0.15, ranksep=0.12, fontname="{FONT}", '
        f'bgcolor="{background}", fontcolor="{ink}", margin=0{size}'
        + _large_graph_settings(n_gates) + "];",
        f'  node [fontname="{FONT}", fontsize={GATE_FONT}, shape=circle, width={GATE}, '
        f'height={GATE}, margin=0.05, penwidth=1, color="{ink}", '
        f'fontcolor="{ink}"];',
        f'  edge [arrowsize=0.5, penwidth=1, color="{ink}"];',
    ]
    index_inputs = trace.index_inputs
    labels = gate_labels(trace)
    highlight = (f', color="{theme.highlight}", penwidth={HIGHLIGHT_WIDTH}, style=filled, '
                 f'fillcolor="{theme.highlight_fill}"')
    uses = graph.uses
    shared = any(n > 1 for n in uses)
    shown = style.gradients
    helper_node = "shape=plaintext, width=0, height=0, margin=0"
    body: dict[int | None, list[str]] = {None: []}  # the lines of each box, by group index
    box = _Boxes(graph, theme)

    def visible(key: tuple[int, int]) -> bool:
        return shown is None or key in shown

    def named(i: int) -> str | None:  # an intermediate's name, where its value starts
        return graph.names[i] if graph.ops[i] != INPUT else None

    def emit(where: int | None, line: str) -> None:
        body.setdefault(where, []).append(line)

    for node in graph.nodes:
        where = box.node(node.id)
        if node.id in index_inputs:  # integers that pick elements: named as such, no gradient
            emit(where, f"  n{node.id} [shape=plaintext, width=0, height=0, margin=0.02, "
                        f"label=<{_escape(node.label)}<BR/><FONT POINT-SIZE=\"10\" "
                        f"COLOR=\"{theme.pattern}\">index</FONT>>];")
        elif node.op == INPUT:
            emit(where, f"  n{node.id} [shape=plaintext, width=0, height=0, margin=0.02, "
                        f"label={_quote(node.label)}];")
        else:
            mark = highlight if node.id == style.highlight else ""
            op = OPS.get(node.op)
            if len(node.inputs) > 1 and not (op and op.commutative and shared):
                # Inputs are drawn in the order written (u - v reads u above v, and the
                # slides' w0*x0 has w0 above x0), except at commutative gates in a graph
                # where values are shared: there the order is left to Graphviz, so that the
                # edges of the shared values need not cross (the staged example's do if the
                # order is kept).
                mark += ", ordering=in"
            emit(where, f"  n{node.id} [label={_gate_label(labels[node.id])}{mark}];")
        if uses[node.id] > 1:  # the stub with the total gradient, then the fork
            where = box.common(node.id, *graph.consumers[node.id])
            label = _edge_label(trace.values[node.id], trace.grads[node.id], numbers, theme,
                                visible((node.id, TOTAL)), _caption(trace, node.id),
                                named(node.id))
            emit(where, f"  {gradient_node((node.id, TOTAL))} [{helper_node}, label={label}];")
            emit(where, f'  f{node.id} [shape=point, width=0.03, height=0.03, color="{ink}"];')
            emit(None, f"  n{node.id} -> s{node.id}:p:w [arrowhead=none];")
            emit(None, f"  s{node.id}:p:e -> f{node.id} [arrowhead=none];")
    for node in graph.nodes:
        op = OPS.get(node.op)
        index_from = op.index_from if op is not None else None
        for k, (src, grad) in enumerate(zip(node.inputs, trace.edge_grads[node.id], strict=True)):
            helper = gradient_node((node.id, k))
            fanned = uses[src] > 1  # its value, name and caption are on its stub
            is_index = index_from is not None and k >= index_from
            label = _edge_label(trace.values[src], None if is_index else grad, numbers, theme,
                                visible((node.id, k)), "" if fanned else _caption(trace, src),
                                None if fanned else named(src))
            dashed = ", style=dashed" if is_index else ""
            emit(box.common(src, node.id), f"  {helper} [{helper_node}, label={label}];")
            emit(None, f"  {'f' if fanned else 'n'}{src} -> {helper}:p:w "
                       f"[arrowhead=none{dashed}];")
            emit(None, f"  {helper}:p:e -> n{node.id}{' [style=dashed]' if is_index else ''};")
    out = graph.output
    label = _edge_label(trace.values[out.id], trace.grads[out.id], numbers, theme,
                        visible(STUB), _caption(trace, out.id), named(out.id))
    stub = gradient_node(STUB)
    emit(None, f"  {stub} [{helper_node}, label={label}];")
    emit(None, f"  n{out.id} -> {stub}:p:w [arrowhead=none];")
    lines += box.nest(body)
    if style.annotate:
        lines += _patterns(trace, theme)
    if style.notes or style.note_rows:
        lines.append(_notes(style))
    elif style.caption:
        lines.append(_figure_caption(style))
    lines.append("}")
    return "\n".join(lines) + "\n"


class _Boxes:
    """The boxes drawn around calls of user gates, nested as the calls are."""

    def __init__(self, graph: Graph, theme: Theme) -> None:
        self.groups = graph.groups
        self.theme = theme
        # Each group's parent: the smallest group that holds its result (inner calls are
        # part of the outer call's body).
        order = sorted(range(len(self.groups)), key=lambda g: len(self.groups[g].nodes))
        self.parent: dict[int, int | None] = {}
        self.innermost: dict[int, int] = {}
        for g in order:
            for i in self.groups[g].nodes:
                self.innermost.setdefault(i, g)
        for g in order:
            outer = [h for h in order if h != g and self.groups[g].output in self.groups[h].nodes
                     and len(self.groups[h].nodes) > len(self.groups[g].nodes)]
            self.parent[g] = outer[0] if outer else None

    def node(self, i: int) -> int | None:
        """The innermost box a node is in (None: outside every box)."""
        return self.innermost.get(i)

    def _chain(self, g: int | None) -> list[int | None]:
        chain: list[int | None] = []
        while g is not None:
            chain.append(g)
            g = self.parent.get(g)
        return [*chain, None]

    def common(self, *ids: int) -> int | None:
        """The innermost box that holds all these nodes (None: outside every box)."""
        chains = [self._chain(self.node(i)) for i in ids]
        for g in chains[0]:
            if all(g in chain for chain in chains[1:]):
                return g
        return None

    def nest(self, body: dict[int | None, list[str]]) -> list[str]:
        """The lines of the figure, each box a cluster subgraph inside its parent's."""
        children: dict[int | None, list[int]] = {}
        for child in sorted(self.parent):
            children.setdefault(self.parent[child], []).append(child)
        out: list[str] = []
        # Depth first without recursion: a stack of (box, whether it is to be closed).
        stack: list[tuple[int | None, bool]] = [(None, False)]
        while stack:
            g, closing = stack.pop()
            if closing:
                out.append("  }")
                continue
            if g is not None:
                name = self.groups[g].name
                out.append(f"  subgraph cluster_{g} {{")
                out.append(f'  graph [label={_quote(name)}, labeljust=l, style="rounded,dashed", '
                           f'color="{self.theme.pattern}", fontcolor="{self.theme.pattern}", '
                           'fontsize=12, margin=6];')
                stack.append((g, True))
            out += body.get(g, [])
            stack += [(child, False) for child in reversed(children.get(g, []))]
        return out


def _title(trace: Evaluation) -> str:
    """The graph's name: the expression on one line, cut at 200 characters."""
    return _short(" ".join(trace.graph.expression.split()), 200)


def _short(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit - 3] + "..."


DOT_TIMEOUT = 120.0
"""Seconds a ``dot`` run may take (the environment variable BACKVIZ_DOT_TIMEOUT sets it)."""
# What each format's output starts with: dot may exit 0 having written nothing or garbage.
_SIGNATURES = {"svg": (b"<?xml", b"<svg"), "png": (b"\x89PNG\r\n\x1a\n",), "pdf": (b"%PDF-",),
               "json": (b"{",)}
_QUOTED_LINES = 3  # of Graphviz's stderr, in an error message
_QUOTED_WIDTH = 200


def dot_timeout() -> float:
    """The timeout of a ``dot`` run, from BACKVIZ_DOT_TIMEOUT (seconds) or the default."""
    text = os.environ.get("BACKVIZ_DOT_TIMEOUT", "").strip()
    if not text:
        return DOT_TIMEOUT
    try:
        seconds = float(text)
    except ValueError:
        seconds = math.nan
    if not (math.isfinite(seconds) and seconds > 0):
        raise RenderError(f"BACKVIZ_DOT_TIMEOUT={text[:40]!r}: give a number of seconds "
                          "above 0, e.g. 300")
    return seconds


def _drawable(n_gates: int) -> None:
    if n_gates > MAX_GATES:
        raise TooLargeError(
            f"the graph has {n_gates} gates, more than the {MAX_GATES} that can be drawn in "
            "reasonable time; use --format json (or --format dot) for graphs this large")


def render(dot: str, format: str, n_gates: int = 0, timeout: float | None = None,
           also: Sequence[str] = ()) -> bytes:
    """Run Graphviz's ``dot`` on DOT source; the output format is svg, png, pdf or json.

    The run is bounded by ``timeout`` seconds (default :func:`dot_timeout`; then it is a
    :class:`RenderTimeoutError`), and its output is checked: a failure or output that is
    not the format asked for is a :class:`RenderError`
    quoting at most three lines of Graphviz's stderr. If anything stops the run (a
    signal: see :mod:`backviz.start`), ``dot`` is killed before the exception goes on.
    ``also`` asks the same run (one layout) for more formats, written one after the other
    (only the first one's signature is checked).

    This is a subprocess run of its own rather than ``graphviz.pipe``: the package has
    no timeout (a ``dot`` that never exits hangs ``pipe`` for ever) and lets the
    OSError of a ``dot`` that cannot be run through as it is.
    """
    _drawable(n_gates)
    if timeout is None:
        timeout = dot_timeout()
    args = ["dot", f"-T{format}", *(f"-T{f}" for f in also)]
    try:
        done = _run_dot(args, dot.encode("utf-8"), timeout)
    except FileNotFoundError:
        raise GraphvizNotFoundError(
            "Graphviz's 'dot' program is not installed, and it is needed for "
            f"{format.upper()} output. Install it with 'apt-get install graphviz' (Debian/Ubuntu) "
            "or 'brew install graphviz' (macOS). --format dot and --format json work without it."
        ) from None
    except subprocess.TimeoutExpired:
        raise RenderTimeoutError(
            f"Graphviz took more than {timeout:g} s to draw the figure of {n_gates} gates and "
            "was stopped; BACKVIZ_DOT_TIMEOUT=SECONDS allows more time, and --format json "
            "(or --format dot) needs no drawing") from None
    except OSError as err:
        where = shutil.which("dot") or "dot"
        raise RenderError(f"Graphviz's 'dot' ({where}) cannot be run: "
                          f"{err.strerror or err}") from None
    if done.returncode != 0:
        if done.returncode < 0:
            reason = f"dot was killed by {_signal_name(-done.returncode)}"
        else:
            reason = f"dot exited with status {done.returncode}"
        raise RenderError(f"Graphviz failed to draw the figure ({reason})"
                          + _quoted(done.stderr))
    if not done.stdout.lstrip().startswith(_SIGNATURES.get(format, (b"",))) \
            or (format == "svg" and not _is_utf8(done.stdout)):
        what = "nothing" if not done.stdout else f"output that is not {format.upper()}"
        raise RenderError(f"Graphviz's dot exited without error but wrote {what}"
                          + _quoted(done.stderr))
    return done.stdout


_RUNNING: set[subprocess.Popen[bytes]] = set()
"""The dot runs under way, in any thread (see :func:`stop_drawing`)."""
_RUNNING_LOCK = threading.Lock()
_STOPPING = threading.Event()  # set by stop_drawing: a dot that starts after is ended at once


def _run_dot(args: list[str], data: bytes, timeout: float) -> subprocess.CompletedProcess[bytes]:
    """subprocess.run, with the child known to :func:`stop_drawing` while it runs."""
    proc: subprocess.Popen[bytes] | None = None
    try:
        # A signal while dot starts is raised once its process is known, here in the try.
        with deferred():
            proc = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE)
            with _RUNNING_LOCK:
                _RUNNING.add(proc)
                if _STOPPING.is_set():  # stop_drawing ran while this one started
                    proc.kill()
        out, err = proc.communicate(data, timeout=timeout)
    except BaseException:  # the timeout, a signal: dot is ended before anything goes on
        if proc is not None:
            proc.kill()
            proc.communicate()
        raise
    finally:
        if proc is not None:
            with _RUNNING_LOCK:
                _RUNNING.discard(proc)
    return subprocess.CompletedProcess(args, proc.returncode, out, err)


def stop_drawing() -> None:
    """End every dot run under way: the command is stopping (a signal), and drawings in
    other threads must not outlive it."""
    with _RUNNING_LOCK:
        _STOPPING.set()
        for proc in _RUNNING:
            proc.kill()


def _signal_name(signum: int) -> str:
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"


def _is_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _quoted(stderr: bytes) -> str:
    """At most a few lines of Graphviz's stderr, on one line, for an error message."""
    lines = [line.strip() for line in stderr.decode("utf-8", "replace").splitlines()]
    lines = [line for line in lines if line]
    if not lines:
        return ""
    shown = [line if len(line) <= _QUOTED_WIDTH else line[:_QUOTED_WIDTH] + "..."
             for line in lines[:_QUOTED_LINES]]
    more = len(lines) - len(shown)
    return ": " + " | ".join(shown) + (f" (and {more} more lines)" if more else "")


def to_svg(trace: Evaluation, style: Style | None = None) -> str:
    """The figure as SVG text, with a ``<desc>`` of its value and gradients."""
    svg = render(to_dot(trace, style, "svg"), "svg", len(trace.graph.gates)).decode("utf-8")
    return described(svg, trace, style or Style())


def described(svg: str, trace: Evaluation, style: Style) -> str:
    """Add a ``<desc>`` after the first ``<title>`` (the expression), for screen readers."""
    head, *rows = summary(trace, style, limit=20).splitlines()
    text = head + ("; " + ", ".join(row.strip() for row in rows) if rows else "")
    desc = f"\n<desc>{_escape(text)}</desc>"
    at = svg.find("</title>")
    return svg if at < 0 else svg[:at + 8] + desc + svg[at + 8:]


def summary(trace: Evaluation, style: Style | None = None, limit: int | None = None) -> str:
    """The command's summary: ``expression = value``, one line per gradient, then the values
    a program names, with their gradients.

    With ``limit``, at most that many gradients (and names), then how many more there
    are, so that a trace of thousands of variables still has a short summary.
    """
    numbers = Numbers(trace, style or Style())
    graph = trace.graph
    one_line = "\n" not in trace.expression
    head = graph.output.name or (_short(" ".join(trace.expression.split()), 60) if one_line
                                 else "f")
    rows = [(f"d/d{name}", g) for name, g in trace.gradients.items()]
    more = 0
    if limit is not None and len(rows) > limit:
        rows, more = rows[:limit], len(rows) - limit
    width = max((len(label) for label, _ in rows), default=0)
    lines = [f"{head} = {numbers.plain(trace.values[-1])}"]
    lines += [f"  {label.ljust(width)} = {numbers.plain(g)}" for label, g in rows]
    if more:
        lines.append(f"  ... and {more:,} more gradients (t.gradients has them all)")
    named = [(name, i) for name, i in graph.bindings.items()
             if graph.ops[i] != INPUT and i != graph.output.id]
    if named:
        lines.append("named values (value, gradient):")
        shown = named if limit is None else named[:limit]
        width = max(len(name) for name, _ in shown)
        lines += [f"  {name.ljust(width)} = {numbers.plain(trace.values[i])}, "
                  f"d/d{name} = {numbers.plain(trace.grads[i])}" for name, i in shown]
        if len(shown) < len(named):
            lines.append(f"  ... and {len(named) - len(shown):,} more (t.value_of(name) and "
                         "t.grad_of(name) read them)")
    return "\n".join(lines)


def _fixed_pdf(pdf: bytes) -> bytes:
    """The same PDF with its creation (and modification) date set to 1970-01-01.

    cairo writes the time of the run into the PDF, so two runs differed in those bytes
    only. The dates keep their length, so the offsets in the file stay right.
    """
    epoch = "19700101000000"

    def fixed(m: re.Match[bytes]) -> bytes:
        date = m.group(2).decode("ascii")
        digits = iter(epoch)
        out = "".join(next(digits, "0") if c.isdigit() else c for c in date)
        return m.group(1) + out.encode("ascii")

    return re.sub(rb"(/(?:CreationDate|ModDate) *\(D:)([0-9Z+'\-]*)", fixed, pdf)


def to_graphviz(trace: Evaluation, style: Style | None = None) -> Any:
    """The figure as a ``graphviz.Digraph`` (the graphviz package's), to render, save or
    change as with torchviz's ``make_dot``: its ``source`` is :func:`to_dot`'s text.

    Its ``pipe`` and ``render`` have no timeout; :func:`to_svg` and :func:`save` do.
    """
    import graphviz  # imported here: the command itself never needs it

    # The package writes the head line itself (quoting the name its own way) and the "}".
    body = to_dot(trace, style).splitlines(keepends=True)
    return graphviz.Digraph(_title(trace), body=body[1:-1], format="svg")


def _json_value(x: Any) -> Any:
    a = np.asarray(x, dtype=np.float64)
    # JSON has no nan or inf: they become null (the warnings say where they came from).
    if a.ndim == 0:
        return float(a) if np.isfinite(a) else None
    finite = np.isfinite(a)
    if finite.all():
        return a.tolist()
    obj = a.astype(object)
    obj[~finite] = None
    return obj.tolist()


def to_dict(trace: Evaluation, write: Callable[[Any], Any] = _json_value) -> dict[str, Any]:
    """The trace as JSON-ready data: value, gradients, every node, warnings.

    ``write`` turns each value into JSON data (:func:`to_json` encodes each array at once,
    so that only one array's list is held at a time).
    """
    nodes = []
    graph = trace.graph
    for node in graph.nodes:
        entry: dict[str, Any] = {"id": node.id, "op": node.op, "label": node.label}
        if node.name is not None:
            entry["name"] = node.name
        entry["inputs"] = list(node.inputs)
        entry["value"] = write(trace.values[node.id])
        entry["grad"] = write(trace.grads[node.id])
        if node.inputs:  # the red number under each input edge: that use's share
            entry["edge_grads"] = [write(share) for share in trace.edge_grads[node.id]]
        nodes.append(entry)
    data: dict[str, Any] = {
        "expression": trace.expression,
        "value": write(trace.values[-1]),
        "gradients": {name: write(g) for name, g in trace.gradients.items()},
        "nodes": nodes,
    }
    named = {name: i for name, i in graph.bindings.items() if graph.ops[i] != INPUT}
    if named:  # a program's intermediates, by name (each name's node at the end)
        data["names"] = named
    if graph.groups:
        data["groups"] = [{"name": g.name, "nodes": list(g.nodes), "args": list(g.args)}
                          for g in graph.groups]
    data["warnings"] = list(trace.warnings)
    return data


def to_json(trace: Evaluation) -> str:
    """The trace as JSON text (see :func:`to_dict`), as ``--format json`` writes it."""
    return b"".join(json_chunks(trace)).decode("utf-8")


def json_chunks(trace: Evaluation) -> Iterator[bytes]:
    """The JSON text in pieces, each array encoded only when its turn comes.

    Arrays are written on one line each: json indents with its pure-Python encoder, which
    took 24 s (and 1.9 GB) for a 2000x2000 matrix; an array alone goes through the C one.
    The text around them is made first, with a marker in each array's place, so that one
    array at a time is turned into a list and text (a writer that takes the pieces as they
    come holds about one array's worth: 0.4 GB at the peak for that matrix, not 1.4 GB).
    """
    arrays: list[Any] = []

    def held(x: Any) -> Any:  # an array: a marker now, encoded when written
        if np.ndim(x) == 0:
            return _json_value(x)
        arrays.append(x)
        return f"\0{len(arrays) - 1}\0"

    text = json.dumps(to_dict(trace, held), indent=2) + "\n"
    # The markers come out of json.dumps as "\u0000<k>\u0000"; split keeps each k.
    pieces = re.split(r'"\\u0000(\d+)\\u0000"', text)
    for k, piece in enumerate(pieces):
        if k % 2:
            yield json.dumps(_json_value(arrays[int(piece)])).encode("ascii")
        else:
            yield piece.encode("utf-8")


def format_for(path: str | Path, format: str | None = None) -> str:
    """The output format: given explicitly, or from the file's suffix."""
    if format:
        fmt = format.lower()
    else:
        fmt = Path(path).suffix.lower().lstrip(".")
        if not fmt:
            fmt = "svg"
    if fmt not in FORMATS:
        raise BackvizError(
            f"unknown output format {fmt!r}: choose one of {', '.join(FORMATS)}")
    return fmt


def to_bytes(trace: Evaluation, format: str, style: Style | None = None) -> bytes:
    """The figure in one of FORMATS, as bytes."""
    if format == "json":
        return b"".join(json_chunks(trace))
    if format in ("svg", "png", "pdf"):  # refused before the DOT of 100,000 gates is written
        _drawable(len(trace.graph.gates))
    if format == "svg":
        return to_svg(trace, style).encode("utf-8")
    dot = to_dot(trace, style, format)
    if format == "dot":
        return dot.encode("utf-8")
    data = render(dot, format, len(trace.graph.gates))
    return _fixed_pdf(data) if format == "pdf" else data


def write_atomic(path: Path, data: bytes | Iterable[bytes]) -> None:
    """Write through a temporary file and rename, so no partial file is ever left.

    ``data`` is bytes, or pieces of them written as they come (:func:`json_chunks`).

    The file gets the mode a plain ``open`` would give it (0666 less the umask), or keeps
    the mode of the file it replaces. Folders made for it are removed again if the write
    fails. An OSError names ``path``, never the temporary file.
    """
    made = _make_parents(path.parent)
    try:
        _write_file(path, data)
    except BaseException:
        for folder in reversed(made):  # only the folders made here, and only if empty
            with contextlib.suppress(OSError):
                folder.rmdir()
        raise


def write_folder_atomic(folder: Path, files: Mapping[str, bytes],
                        replaces: str = r".*") -> None:
    """Write a folder's files beside it, then rename the whole into place.

    A reader sees the old folder or the new one, never a mix, even when two writers race
    (each renames its own complete folder in; the last one stays). Files of the old folder
    whose names do not match ``replaces`` (a regular expression) are carried over.
    """
    made = _make_parents(folder.parent)
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", suffix=".tmp", dir=folder.parent))
    try:
        mask = _umask()
        for name, data in files.items():
            (tmp / name).write_bytes(data)
            os.chmod(tmp / name, 0o666 & ~mask)
        if folder.is_dir():
            for old in folder.iterdir():
                if old.is_file() and old.name not in files and not re.fullmatch(replaces, old.name):
                    shutil.copy2(old, tmp / old.name)
        os.chmod(tmp, 0o777 & ~mask)
        while True:
            try:
                os.rename(tmp, folder)  # only onto a missing (or empty) folder
                return
            except OSError as err:
                if err.errno not in (errno.ENOTEMPTY, errno.EEXIST):
                    raise
            old = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", suffix=".old",
                                        dir=folder.parent))
            try:
                os.rename(folder, old / "build")
            except FileNotFoundError:  # another writer moved it first: try again
                pass
            finally:
                shutil.rmtree(old, ignore_errors=True)
    except OSError as err:
        raise OSError(err.errno, err.strerror, str(folder)) from None
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
            for parent in reversed(made):
                with contextlib.suppress(OSError):
                    parent.rmdir()


def _make_parents(folder: Path) -> list[Path]:
    """Create a folder and its missing parents; return those created, outermost first."""
    missing = []
    while not folder.exists() and folder != folder.parent:
        missing.append(folder)
        folder = folder.parent
    made = []
    try:
        for folder in reversed(missing):
            folder.mkdir(exist_ok=True)
            made.append(folder)
    except BaseException:
        for folder in reversed(made):
            with contextlib.suppress(OSError):
                folder.rmdir()
        raise
    return made


def _write_file(path: Path, data: bytes | Iterable[bytes]) -> None:
    pieces = [data] if isinstance(data, bytes) else data
    if path.is_dir():
        raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), str(path))
    if path.exists() and not path.is_file():
        # a device or a pipe (/dev/null, /dev/stdout, a FIFO): write into it, never replace it
        with open(path, "wb") as f:
            f.writelines(pieces)
        return
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except FileNotFoundError:
        mode = 0o666 & ~_umask()
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.writelines(pieces)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except OSError as err:
        Path(tmp).unlink(missing_ok=True)
        raise OSError(err.errno, err.strerror, str(path)) from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _umask() -> int:
    """The process's umask (reading it means setting it: it is put back at once)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def save(trace: Evaluation, path: str | Path, format: str | None = None,
         style: Style | None = None) -> Path:
    """Render and write the figure; the format follows the suffix unless given."""
    if not isinstance(path, (str, os.PathLike)):
        raise BackvizError(f"the path to save to must be a string or a Path, "
                           f"not {type(path).__name__}")
    if not str(path).strip():
        raise BackvizError("the path to save to is empty: give a file name, e.g. figure.svg")
    path = Path(path)
    write_atomic(path, to_bytes(trace, format_for(path, format), style))
    return path
