"""One layout, many frames: the frames of a build drawn from one run of Graphviz.

The frames of a build differ only in which gradients are shown, which gate is
highlighted and the notes under the figure; nothing moves. So Graphviz lays out one
figure, the master (every gradient shown, no gate highlighted, a placeholder in each
row of the band of notes), and writes it as SVG and as JSON (where the nodes are) in
the same run. A frame is the master's SVG with a few elements written anew.

The master is read with an XML parser (expat, which also says where each element
starts in the file). Graphviz writes each node as
``<g class="node"><title>NAME</title>...</g>``, NAME being its DOT name, and the
elements that change are found by it, never by the shape of a label:

- an edge whose gradient is not reached yet (its helper node,
  :func:`~backviz.dot.gradient_node`): its gradient's texts, lines and the filled
  squares of its picture drawn as
  Graphviz draws a hidden label (the colour of the master's placeholder notes), the
  numbers blanked (:func:`~backviz.numbers.blank`);
- the highlighted gate (``n<id>``): its shape's fill, outline and pen width;
- the notes: each row's placeholder text with the note's text, moved right by as much
  as the note's spacer is wider than the placeholder's (see
  :func:`~backviz.notes.note_spacers`).

Each changed element is written as Graphviz writes it; the rest of a frame is the
master's own bytes, so a frame is the file Graphviz wrote with a few elements edited.
tests/test_teach.py compares every frame of every gallery file with Graphviz's own
drawing of that frame.
"""

from __future__ import annotations

import html
import json
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any
from xml.parsers import expat

from .graph import INPUT
from .render.backend import not_graphviz, render
from .render.dot import gradient_node, to_dot
from .render.notes import note_spacers
from .render.numbers import blank
from .render.style import HIDDEN, HIGHLIGHT_WIDTH, STUB, TOTAL, Layout, Note, Style

if TYPE_CHECKING:
    from .evaluate import Evaluation

__all__ = ["Template"]

_SHAPES = ("ellipse", "polygon", "path")  # what Graphviz draws a node's outline with


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

    def __init__(self, trace: Evaluation, style: Style, drawing: bool = False) -> None:
        if style.note_rows < 1:
            raise ValueError("a template needs room for at least one row of notes")
        svg, self.drawing = _master(trace, style, drawing)
        """The master as Graphviz laid it out (``dot -Tjson0``), or with ``drawing`` as it
        drew it (``-Tjson``: every shape and text too, for a build's TikZ frame; it takes
        a third of a large build's time more, so only when asked)."""
        self.layout = _read_layout(self.drawing)
        """Where the nodes are, for :attr:`Style.layout` (a frame's own DOT needs it)."""
        self._rows, groups = _parts(svg, trace, style)
        self._note_fill = style.theme.note.lower()
        hidden = _hidden_edges(svg, trace, style, groups, self._rows[0].attrs["fill"])
        highlighted = _highlighted_gates(svg, trace, style, groups)
        # The master as UTF-8, cut at the elements that change (the k-th is piece 2k + 1);
        # for each edge which piece it is and how it looks hidden, for each gate which
        # piece it is and how it looks highlighted, for each row of notes which piece it is.
        changing = sorted([*self._rows, *(g for g, _ in hidden.values()),
                           *(g for g, _ in highlighted.values())], key=lambda e: e.start)
        self._bytes = _cut(svg, changing)
        piece = {element: 2 * k + 1 for k, element in enumerate(changing)}
        self._hidden = {edge: (piece[g], drawn) for edge, (g, drawn) in hidden.items()}
        self.edges = list(hidden)
        """Every gradient the figure draws (the keys :attr:`Style.gradients` may hold)."""
        self._highlighted = {n: (piece[g], drawn) for n, (g, drawn) in highlighted.items()}
        self._notes = [piece[row] for row in self._rows]

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
                pieces[at] = _note(self._rows[row], fill, note.text, spacers[row])
        return b"".join(pieces)


def _parts(svg: bytes, trace: Evaluation, style: Style) -> tuple[list[_Element], dict[str, _Element]]:
    """The master's rows of notes (the graph's own texts, placeholders, top to bottom) and
    its groups by title, each checked to be there as Graphviz draws them."""
    graph = next((e for e in _read(svg).children if e.attrs.get("class") == "graph"), None)
    if graph is None:
        raise not_graphviz("an SVG without the graph's group (<g class=\"graph\">)")
    rows = [e for e in graph.children if e.tag == "text"]
    if len(rows) != style.note_rows:
        raise not_graphviz(f"an SVG with {len(rows)} rows of notes where the figure has "
                           f"{style.note_rows}")
    if any("fill" not in row.attrs for row in rows):
        raise not_graphviz("an SVG whose rows of notes have no colour (fill)")
    groups = {_title(e): e for e in graph.children if e.tag == "g"}
    missing = sum(f"n{n.id}" not in groups for n in trace.graph.nodes if n.op != INPUT)
    if missing:
        raise not_graphviz(f"an SVG without {missing} of the figure's gates (each a <g> with "
                           "its <title>)")
    return rows, groups


def _master(trace: Evaluation, style: Style, drawing: bool) -> tuple[bytes, dict[str, Any]]:
    """The master's SVG (every gradient shown, no gate highlighted, a placeholder in each
    row of notes) and its layout (with ``drawing``, every shape and text too), from one
    run of Graphviz."""
    placeholders = tuple(Note(-1, "0", HIDDEN) for _ in range(style.note_rows))
    master = replace(style, gradients=None, highlight=None, notes=placeholders, layout=None)
    n_gates = len(trace.graph.gates)
    also = ["json" if drawing else "json0"]
    svg, end, data = render(to_dot(trace, master, "svg"), "svg", n_gates, also=also) \
        .partition(b"</svg>\n")
    return svg + end, json.loads(data)


def _read_layout(data: dict[str, Any]) -> Layout:
    """The figure's width and its nodes' x (``n<id>``), from Graphviz's -Tjson0 or -Tjson."""
    x0, _, x1, _ = (float(v) for v in str(data["bb"]).split(","))
    xs = {}
    objects = data.get("objects", [])
    assert isinstance(objects, list)
    for obj in objects:
        name, pos = obj.get("name", ""), obj.get("pos")
        if pos and name[:1] == "n" and name[1:].isdigit():
            xs[int(name[1:])] = float(pos.split(",")[0]) - x0
    return Layout(x1 - x0, xs)


# Told apart by identity, as two groups may be written alike; with slots, as a master of
# 80 gates has nearly 3,000 elements to read.
@dataclass(eq=False, slots=True)
class _Element:
    """An element of the master, and where it is in the file: from the start of its
    tag to the next tag or comment (so the newline Graphviz writes after it is its own)."""

    tag: str
    attrs: dict[str, str]  # in the file's order, as expat gives them
    start: int  # byte offsets
    end: int = -1
    text: str = ""  # its character data before its first element
    children: list[_Element] = field(default_factory=list)

    def iter(self) -> Iterator[_Element]:
        """This element and every element in it, in the file's order."""
        stack = [self]
        while stack:
            element = stack.pop()
            yield element
            stack += reversed(element.children)


def _read(svg: bytes) -> _Element:
    """The master's ``<svg>`` element, each element in it knowing where it is in ``svg``.

    Expat says at which byte the tag or comment it reports starts; an element ends
    where the first tag or comment after its end tag starts.
    """
    parser = expat.ParserCreate()
    parser.buffer_text = True
    root = _Element("", {}, 0)
    inside = [root]  # the elements open at this point of the file
    ended: list[_Element] = []  # closed, waiting for the next tag or comment

    def at_tag() -> None:  # the elements waiting end where this tag or comment starts
        for element in ended:
            element.end = parser.CurrentByteIndex
        ended.clear()

    def start(name: str, attrs: dict[str, str]) -> None:
        at_tag()
        element = _Element(name, attrs, parser.CurrentByteIndex)
        inside[-1].children.append(element)
        inside.append(element)

    def end(_: str) -> None:
        at_tag()
        ended.append(inside.pop())

    def text(data: str) -> None:
        # Between elements Graphviz writes only newlines, which nothing reads; leaving them
        # out keeps the graph's text from growing with every element (quadratic time).
        if not inside[-1].children:
            inside[-1].text += data

    def entity(*_: object) -> None:
        # Graphviz declares no entities; refusing them means none can expand without end.
        raise ValueError("the SVG declares entities")

    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = text
    parser.CommentHandler = lambda _: at_tag()
    parser.EntityDeclHandler = entity
    parser.Parse(svg, True)
    for element in ended:
        element.end = len(svg)
    return root.children[0]


def _title(group: _Element) -> str:
    """A node's, edge's or cluster's name, as Graphviz writes it in the group's title."""
    return next((e.text for e in group.children if e.tag == "title"), "")


def _cut(svg: bytes, elements: list[_Element]) -> list[bytes]:
    """``svg`` cut at the elements (in the file's order, none in another): the bytes
    before the first, the first, the bytes between it and the next, ..., after the last."""
    pieces, at = [], 0
    for element in elements:
        pieces += [svg[at:element.start], svg[element.start:element.end]]
        at = element.end
    return [*pieces, svg[at:]]


def _edited(svg: bytes, group: _Element, edits: list[tuple[_Element, bytes]]) -> bytes:
    """A group's bytes with each element of ``edits`` (in the file's order) written anew."""
    pieces, at = [], group.start
    for element, written in edits:
        pieces += [svg[at:element.start], written]
        at = element.end
    return b"".join([*pieces, svg[at:group.end]])


def _hidden_edges(svg: bytes, trace: Evaluation, style: Style, groups: dict[str, _Element],
                  hidden_fill: str) -> dict[tuple[int, int], tuple[_Element, bytes]]:
    """For each edge the figure draws, its group and how it looks hidden."""
    gradient = style.theme.gradient.lower()
    # Every key a gradient may have: the output's stub, each edge, each shared value's
    # total; those that the figure draws have a group.
    keys = [STUB] + [(n.id, k) for n in trace.graph.nodes for k in [*range(len(n.inputs)), TOTAL]]
    hidden = {}
    for edge in keys:
        group = groups.get(gradient_node(edge))
        if group is not None:
            hidden[edge] = (group, _hide(svg, group, gradient, hidden_fill))
    return hidden


def _highlighted_gates(svg: bytes, trace: Evaluation, style: Style,
                       groups: dict[str, _Element]) -> dict[int, tuple[_Element, bytes]]:
    """For each gate, its group and how it looks highlighted."""
    theme = style.theme
    look = {"fill": theme.highlight_fill.lower(), "stroke": theme.highlight.lower(),
            "stroke-width": f"{HIGHLIGHT_WIDTH:g}"}
    gates = {node.id: groups[f"n{node.id}"] for node in trace.graph.nodes if node.op != INPUT}
    return {gate: (group, _highlight(svg, group, look)) for gate, group in gates.items()}


def _hide(svg: bytes, group: _Element, gradient: str, hidden_fill: str) -> bytes:
    """An edge's group with its gradient's texts and lines drawn as Graphviz draws hidden
    ones: in the hidden colour, the numbers blanked as the renderer blanks them."""
    edits = []
    for element in group.iter():
        attrs, text = dict(element.attrs), element.text
        if element.tag == "text" and attrs.get("fill") == gradient:
            attrs["fill"], text = hidden_fill, blank(text)
        if attrs.get("stroke") == gradient:  # a line: Graphviz writes HIDDEN as it is
            attrs["stroke"] = HIDDEN
        if element.tag == "polygon" and attrs.get("fill") == gradient:  # a picture's square
            attrs["fill"] = HIDDEN
        if (attrs, text) != (element.attrs, element.text):
            edits.append((element, _write(element.tag, attrs, text)))
    return _edited(svg, group, edits)


def _highlight(svg: bytes, group: _Element, look: dict[str, str]) -> bytes:
    """A gate's group with its shape's fill, outline and pen width as ``look`` says."""
    shape = next((e for e in group.iter() if e.tag in _SHAPES), None)  # Graphviz draws one
    if shape is None:
        raise not_graphviz(f"an SVG with a gate drawn without its outline ({_title(group)}: "
                           "no ellipse, polygon or path)")
    attrs = look | {k: v for k, v in shape.attrs.items() if k not in look}
    return _edited(svg, group, [(shape, _write(shape.tag, attrs, ""))])


def _note(placeholder: _Element, fill: str, text: str, spacer: int) -> bytes:
    """A note's text element: the placeholder's, with the note's colour, place and text."""
    attrs = dict(placeholder.attrs)
    attrs["fill"] = fill
    # The placeholder has the narrowest spacer, 1: this note starts spacer - 1 further right.
    attrs["x"] = _svg_number(float(attrs["x"]) + spacer - 1)
    return _write("text", attrs, text)


def _write(tag: str, attrs: dict[str, str], text: str) -> bytes:
    """An element with no elements in it, written as Graphviz writes it, on a line of its
    own: a text's content between tags, a shape as an empty element."""
    written = "".join(f' {k}="{html.escape(v)}"' for k, v in attrs.items())
    close = f">{_svg_text(text)}</{tag}>" if tag == "text" else "/>"
    return f"<{tag}{written}{close}\n".encode()
