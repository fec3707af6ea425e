"""One layout, many frames: the frames of a build drawn from one run of Graphviz.

The frames of a build differ only in which gradients are shown, which gate is
highlighted and the notes under the figure; nothing moves. So Graphviz lays out one
figure, the master (every gradient shown, no gate highlighted, a placeholder in each
row of the band of notes), and writes it as SVG and as JSON (where the nodes are) in
the same run. A frame is the master's SVG with a few pieces changed. Graphviz writes
each node as ``<g class="node"><title>NAME</title>...</g>``, NAME being its DOT name,
and the pieces are found by it, never by the shape of a label:

- an edge whose gradient is not reached yet (its helper node,
  :func:`~backviz.render.gradient_node`): its gradient's texts and lines drawn as
  Graphviz draws a hidden label (the colour of the master's placeholder notes), the
  numbers blanked (:func:`~backviz.render.blank`);
- the highlighted gate (``n<id>``): its shape's fill, outline and pen width;
- the notes: each row's placeholder text with the note's text, moved right by as much
  as the note's spacer is wider than the placeholder's (see
  :func:`~backviz.render.note_spacers`).

tests/test_teach.py compares every frame of every gallery file with Graphviz's own
drawing of that frame.
"""

from __future__ import annotations

import html
import json
import re
from dataclasses import replace
from typing import TYPE_CHECKING

from .graph import INPUT
from .render.backend import render
from .render.dot import gradient_node, to_dot
from .render.notes import note_spacers
from .render.numbers import blank
from .render.style import HIDDEN, HIGHLIGHT_WIDTH, STUB, TOTAL, Layout, Note, Style

if TYPE_CHECKING:
    from .evaluate import Evaluation

__all__ = ["Template"]

# A node, edge or cluster group as Graphviz writes it; the body has no groups of its own.
_GROUP = re.compile(r'<g id="[^"]*" class="(?:node|edge|cluster)">\n<title>([^<]*)</title>\n'
                    r"(?:(?!<g )[^\n]*\n)*?</g>\n")
_TEXT = re.compile(r"<text [^>]*>[^<]*</text>\n")
_ATTRS = re.compile(r'([\w-]+)="([^"]*)"')


def _svg_number(x: float) -> str:
    """A coordinate as Graphviz writes it: at most two decimals, no trailing zeros."""
    return f"{x:.2f}".rstrip("0").rstrip(".")


def _svg_text(text: str) -> str:
    """Text content escaped as Graphviz escapes it ('-' too, so no '--' in the file)."""
    return html.escape(text).replace("-", "&#45;")


class Template:
    """A build's figure laid out once, drawn again for each frame's :class:`Style`.

    ``style`` is the build's own: its precision, annotations, and the room for notes
    (``note_rows``, ``note_width``); its gradients, highlight and notes do not matter.
    """

    def __init__(self, trace: Evaluation, style: Style) -> None:
        if style.note_rows < 1:
            raise ValueError("a template needs room for at least one row of notes")
        svg, self.layout = _master(trace, style)
        """Where the nodes are, for :attr:`Style.layout` (a frame's own DOT needs it)."""
        self._cut(svg, style.note_rows)
        self._note_fill = style.theme.note.lower()
        # The pieces as UTF-8; for each edge where its group is and how it looks hidden,
        # for each gate where it is and how it looks highlighted.
        self._bytes = [piece.encode("utf-8") for piece in self._pieces]
        self._hidden = self._hidden_edges(trace, style)
        look = (f'fill="{style.theme.highlight_fill.lower()}" '
                f'stroke="{style.theme.highlight.lower()}" stroke-width="{HIGHLIGHT_WIDTH:g}"')
        self._highlighted: dict[int, tuple[int, bytes]] = {}
        for node in trace.graph.nodes:
            if node.op != INPUT:
                at = self._group[f"n{node.id}"]
                self._highlighted[node.id] = (at, _highlight(self._pieces[at], look).encode())

    def _cut(self, svg: str, note_rows: int) -> None:
        """The master cut into pieces: the text between the groups that change, and them."""
        self._pieces: list[str] = []
        self._group: dict[str, int] = {}
        notes: list[int] = []
        at = 0
        for match in _GROUP.finditer(svg):
            self._cut_notes(svg[at:match.start()], notes)
            self._group[html.unescape(match[1])] = len(self._pieces)
            self._pieces.append(match[0])
            at = match.end()
        self._cut_notes(svg[at:], notes)
        if len(notes) != note_rows:
            raise AssertionError(f"the master has {len(notes)} rows of notes, "
                                 f"not {note_rows}")
        self._notes = notes
        self._rows = [_ATTRS.findall(self._pieces[i]) for i in notes]

    def _hidden_edges(self, trace: Evaluation, style: Style) -> dict[tuple[int, int], tuple[int, bytes]]:
        """For each edge the figure draws, where its group is and how it looks hidden."""
        hidden_fill = dict(self._rows[0])["fill"]
        gradient = style.theme.gradient.lower()
        # Every key a gradient may have: the output's stub, each edge, each shared value's
        # total; those that the figure draws have a group.
        keys = [STUB] + [(n.id, k) for n in trace.graph.nodes for k in [*range(len(n.inputs)), TOTAL]]
        hidden = {}
        for edge in keys:
            at = self._group.get(gradient_node(edge))
            if at is not None:
                hidden[edge] = (at, _hide(self._pieces[at], gradient, hidden_fill).encode())
        return hidden

    def _cut_notes(self, text: str, notes: list[int]) -> None:
        """Add text between groups to the pieces, each graph-level text a piece of its own
        (they are the placeholders of the notes, one per row, top to bottom)."""
        at = 0
        for match in _TEXT.finditer(text):
            self._pieces.append(text[at:match.start()])
            notes.append(len(self._pieces))
            self._pieces.append(match[0])
            at = match.end()
        self._pieces.append(text[at:])

    def svg(self, style: Style) -> bytes:
        """The frame drawn with ``style`` (its gradients, highlight and notes), UTF-8.

        ``style.layout`` must be this template's layout (notes are placed by it). Bytes,
        because that is what is written, and a frame joins 50 times faster as bytes than
        as text with a few characters outside ASCII (measured on a 79-gate build).
        """
        if style.layout is not self.layout:
            raise ValueError("the style's layout is not the template's")
        pieces = list(self._bytes)
        if style.gradients is not None:
            for edge, (at, hidden) in self._hidden.items():
                if edge not in style.gradients:
                    pieces[at] = hidden
        if style.highlight is not None:
            at, highlighted = self._highlighted[style.highlight]
            pieces[at] = highlighted
        _, spacers = note_spacers(style)
        for row, at in enumerate(self._notes):
            pieces[at] = b""
            if row < len(style.notes):
                note = style.notes[row]
                fill = note.color.lower() if note.color else self._note_fill
                pieces[at] = _note(self._rows[row], fill, note.text, spacers[row]).encode()
        return b"".join(pieces)


def _master(trace: Evaluation, style: Style) -> tuple[str, Layout]:
    """The master's SVG (every gradient shown, no gate highlighted, a placeholder in each
    row of notes) and its layout, from one run of Graphviz."""
    placeholders = tuple(Note(-1, "0", HIDDEN) for _ in range(style.note_rows))
    master = replace(style, gradients=None, highlight=None, notes=placeholders, layout=None)
    n_gates = len(trace.graph.gates)
    svg, end, data = render(to_dot(trace, master, "svg"), "svg", n_gates, also=["json0"]) \
        .decode("utf-8").partition("</svg>\n")
    return svg + end, _read_layout(json.loads(data))


def _read_layout(data: dict[str, object]) -> Layout:
    """The figure's width and its nodes' x (``n<id>``), from Graphviz's -Tjson0."""
    x0, _, x1, _ = (float(v) for v in str(data["bb"]).split(","))
    xs = {}
    objects = data.get("objects", [])
    assert isinstance(objects, list)
    for obj in objects:
        name, pos = obj.get("name", ""), obj.get("pos")
        if pos and name[:1] == "n" and name[1:].isdigit():
            xs[int(name[1:])] = float(pos.split(",")[0]) - x0
    return Layout(x1 - x0, xs)


def _hide(group: str, gradient: str, hidden_fill: str) -> str:
    """An edge group with its gradient's texts and lines drawn as Graphviz draws hidden
    ones: in the hidden colour, the numbers blanked as the renderer blanks them."""
    red = f'"{gradient}"'

    def text(match: re.Match[str]) -> str:
        content = _svg_text(blank(html.unescape(match[3])))
        return match[1] + f'fill="{hidden_fill}"' + match[2] + content + "</text>"

    group = re.sub(rf"(<text [^>]*)fill={red}([^>]*>)([^<]*)</text>", text, group)
    return group.replace(f"stroke={red}", 'stroke="transparent"')


def _highlight(group: str, look: str) -> str:
    """A gate's group with its shape's fill, outline and pen width as ``look`` says."""
    return re.sub(r'<(ellipse|polygon|path) fill="[^"]*" stroke="[^"]*"(?: stroke-width="[^"]*")?',
                  lambda m: f"<{m[1]} {look}", group, count=1)


def _note(placeholder: list[tuple[str, str]], fill: str, text: str, spacer: int) -> str:
    """A note's text element: the placeholder's, with the note's colour, place and text."""
    attrs = dict(placeholder)
    attrs["fill"] = fill
    # The placeholder has the narrowest spacer, 1: this note starts spacer - 1 further right.
    attrs["x"] = _svg_number(float(attrs["x"]) + spacer - 1)
    written = " ".join(f'{k}="{v}"' for k, v in attrs.items())
    return f"<text {written}>{_svg_text(text)}</text>\n"
