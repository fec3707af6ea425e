"""The DOT writer: a trace and its :class:`~backviz.render.style.Style` as Graphviz DOT source.

A figure is a header (the graph's, nodes' and edges' defaults), a node's lines for each
node (its gate or input, and for a value used more than once the stub with its total
gradient and the fork where its edges part), an edge's lines for each input of a gate
(the helper node with its value and gradient, and the two edges through it), the
output's stub, and a footer (the --annotate words, the band of notes or the caption).
The labels live in the DOT itself: a saved .dot renders the same figure with plain
``dot -Tsvg``.
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING

import numpy as np

from ..errors import RenderError
from ..evaluate import index_inputs
from ..graph import INPUT, Node
from ..ops import OPS
from ..text import escape, quote, short
from . import order
from .boxes import Boxes
from .fit import ranks, second_row, too_wide, wrapping
from .labels import circle_text, edge_label, font, gate_label
from .metrics import GATE, GATE_FONT
from .notes import caption_label, notes_label
from .numbers import Numbers, adding_up, shares_of
from .style import HIGHLIGHT_WIDTH, STUB, TOTAL, Style

if TYPE_CHECKING:
    from ..evaluate import Evaluation

__all__ = ["FONT", "PNG_SCALE", "circle_texts", "gate_key", "gate_labels", "gradient_node", "title",
           "to_dot"]

# fonts-dejavu-core is on every stock Debian/Ubuntu, so nothing is downloaded; the rest of
# the list is for SVGs viewed elsewhere (Verdana has DejaVu's proportions; then whatever
# sans-serif the viewer has, never its default serif).
FONT = "DejaVu Sans,Verdana,Arial,sans-serif"
PNG_SCALE = 4
"""A PNG has this many pixels per point (times the style's scale): the first figure is 808 px
wide, sharp on a projector."""
_LARGE = 300  # from this many gates on, lay out for speed (see _large_graph_settings)
_HELPER = "shape=plaintext, width=0, height=0, margin=0"  # a node that is only its label
_PULL = ", weight=4"  # how strongly an edge between two gates keeps them close
_ROW = ", weight=8"  # how strongly a wrapped chain's line between two gates keeps its row flat


def to_dot(trace: Evaluation, style: Style | None = None, format: str | None = None,
           timeout: float | None = None) -> str:
    """The figure as DOT source: deterministic, ids from the topological order.

    ``format`` is the format it will be drawn in, for its size: a PNG has
    :data:`PNG_SCALE` pixels per point, times the style's scale.

    An edge is drawn through a helper (``e{gate}_{k}``) carrying its value and gradient.
    A value used more than once first goes through a stub (``s{id}``) with its total
    gradient, to a fork (``f{id}``) where its edges part, each with its own share.

    Where Graphviz may draw a column's inputs out of the order written, the figure is laid
    out once to see (bounded by ``timeout`` seconds, as :func:`~backviz.render.backend.render`
    is), and if it drew a column out of order, every column's inputs are tied in order
    (:mod:`~backviz.render.order`). Where that layout fails or takes too long, the DOT
    itself (``format`` None or ``"dot"``) is written without ties.
    """
    style = style or Style()
    dot = _written(trace, style, format)
    if not order.at_risk(trace, style.annotate):
        return dot
    try:
        columns = order.to_tie(trace, dot, timeout)
    except RenderError:
        if format not in (None, "dot"):
            raise
        # The DOT is what is asked for, and needs no Graphviz: as where there is none, it
        # is written with Graphviz's own order.
        return dot
    return _written(trace, style, format, columns) if columns else dot


def _written(trace: Evaluation, style: Style, format: str | None,
             columns: list[list[int]] | None = None) -> str:
    """The DOT source, the inputs of ``columns`` tied in the order given."""
    body = _Body(trace, style)
    for node in trace.graph.nodes:
        body.node(node)
    for node in trace.graph.gates:
        body.edges(node)
    body.output_stub()
    body.lines[None] += order.ties([ids for ids in columns or []
                                    if all(body.boxes.node(i) is None for i in ids)])
    key = [*gate_key(trace, body.texts), *([PICTURE_KEY] if body.pictures else [])]
    lines = [*_header(trace, style, format), *body.boxes.nest(body.lines),
             *_footer(trace, style, key)]
    return "\n".join(lines) + "\n"


def _header(trace: Evaluation, style: Style, format: str | None) -> list[str]:
    """The graph's head line and the defaults of the graph, its nodes and its edges."""
    n_gates = sum(1 for n in trace.graph.nodes if n.op != INPUT)
    # --scale K multiplies every format's default size: K points per point, or a PNG's
    # PNG_SCALE pixels per point K times.
    scale = (style.scale or 1) * PNG_SCALE if format == "png" else style.scale
    size = f", dpi={72 * scale:g}" if scale else ""
    background = "transparent" if style.transparent else style.theme.background
    ink = style.theme.text
    # The graph's name is the SVG's first <title>: what a screen reader and a browser tab say.
    return [
        f"digraph {quote(title(trace))} {{",
        f'  graph [rankdir=LR, nodesep=0.15, ranksep=0.12, fontname="{FONT}", '
        f'bgcolor="{background}", fontcolor="{ink}", margin=0{size}'
        + _large_graph_settings(n_gates) + "];",
        f'  node [fontname="{FONT}", fontsize={GATE_FONT}, shape=circle, width={GATE}, '
        f'height={GATE}, margin=0.05, penwidth=1, color="{ink}", '
        f'fontcolor="{ink}"];',
        f'  edge [arrowsize=0.5, penwidth=1, color="{ink}"];',
    ]


def _footer(trace: Evaluation, style: Style, key: list[str]) -> list[str]:
    """What comes after the nodes and edges: --annotate's words, the band under the figure
    (a build's notes, or the key of the gates' notation and the caption)."""
    lines = _patterns(trace, style) if style.annotate else []
    if style.notes or style.note_rows:
        lines.append(notes_label(style))
    elif style.caption or key:
        lines.append(caption_label(style, key))
    return [*lines, "}"]


class _Body:
    """The lines of the nodes and edges, by the box (a user gate's call) they are drawn in."""

    def __init__(self, trace: Evaluation, style: Style) -> None:
        self.trace = trace
        self.graph = trace.graph
        self.style = style
        self.numbers = Numbers(trace, style)
        self.numbers.compact = self.numbers.fit and too_wide(trace, self.numbers)
        # A long chain still too wide goes on in a second row: the lines that wrap.
        row = second_row(trace, self.numbers) if self.numbers.compact else frozenset()
        self.wraps = set(wrapping(trace, row))
        self.top = _first_row_anchor(trace, row) if self.wraps else None
        self.labels = gate_labels(trace)
        self.texts = circle_texts(trace, style.precision)
        self.data_inputs = trace.data_inputs
        self.given = trace.given_values  # data, and what is computed from data alone
        # Which of them are indexes (integers): all, unless some are declared data.
        self.indexes = index_inputs(self.graph) if self.graph.data else self.data_inputs
        self.whole = copy.copy(self.numbers)  # an index's numbers: integers
        self.whole.integral = True
        self._digits: dict[int, Numbers] = {}
        self.uses = self.graph.uses
        self.shared = any(n > 1 for n in self.uses)
        self.boxes = Boxes(self.graph, style.theme)
        self.lines: dict[int | None, list[str]] = {None: []}  # by group index; None: no box
        self.pictures = False  # whether an array is drawn as a picture (the key says how)

    def emit(self, where: int | None, line: str) -> None:
        self.lines.setdefault(where, []).append(line)

    def helper(self, key: tuple[int, int], value_of: int, grad: object, named: bool,
               share: bool = False, index: bool = False) -> str:
        """A helper node's line: the value of node ``value_of`` (integers if an ``index``) and
        the gradient ``grad`` (None: none, for data), with its name and caption where ``named``.
        ``share``: an edge after a fork, whose value its stub already writes (so it is drawn
        as a gate's result is: a large array as a picture)."""
        shown = self.style.gradients is None or key in self.style.gradients
        caption, name = "", None
        made = share or self.graph.ops[value_of] != INPUT
        value = self.trace.values[value_of]
        if named:  # an intermediate's name, where its value starts (an input's is its node)
            # A picture writes the shape itself.
            if self.numbers.drawn(value, made) == "numbers":
                caption = _caption(self.trace, value_of)
            name = self.graph.names[value_of] if self.graph.ops[value_of] != INPUT else None
        self.pictures |= np.ndim(value) > 0 and self.numbers.drawn(value, made) == "picture"
        label = edge_label(value, grad, self.whole if index else self.numbers, self.style.theme,
                           shown, caption, name, self.digits(value_of), made)
        return f"  {gradient_node(key)} [{_HELPER}, label={label}];"

    def digits(self, node_id: int) -> Numbers:
        """How a value's gradients are written: for a value used more than once, its total
        and its shares with the decimals that make the shares add up to the total."""
        if self.uses[node_id] < 2 or node_id in self.given:
            return self.numbers
        if node_id not in self._digits:  # asked once per edge: worked out once
            self._digits[node_id] = adding_up(self.numbers, shares_of(self.trace, node_id),
                                              self.trace.grads[node_id])
        return self._digits[node_id]

    def node(self, node: Node) -> None:
        """A node's lines: the node, and the stub and fork of a value used more than once."""
        self.emit(self.boxes.node(node.id), self._node_line(node))
        if self.uses[node.id] > 1:  # the stub with the total gradient, then the fork
            where = self.boxes.common(node.id, *self.graph.consumers[node.id])
            total = None if node.id in self.given else self.trace.grads[node.id]
            self.emit(where, self.helper((node.id, TOTAL), node.id, total, True,
                                         node.id in self.indexes))
            self.emit(where, f'  f{node.id} [shape=point, width=0.03, height=0.03, '
                             f'color="{self.style.theme.text}"];')
            self.link((node.id, TOTAL), f"n{node.id}", f"s{node.id}:p:w", "arrowhead=none")
            self.emit(None, f"  s{node.id}:p:e -> f{node.id} [arrowhead=none];")

    def _node_line(self, node: Node) -> str:
        """An input's name; given data's name and the word data (index, for integers that
        pick elements); or a gate's circle."""
        if node.id in self.data_inputs:  # no gradient
            word = "index" if node.id in self.indexes else "data"
            return (f"  n{node.id} [shape=plaintext, width=0, height=0, margin=0.02, "
                    f"label=<{escape(node.label)}<BR/><FONT POINT-SIZE=\"10\" "
                    f"COLOR=\"{self.style.theme.pattern}\">{word}</FONT>>];")
        if node.op == INPUT:
            return (f"  n{node.id} [shape=plaintext, width=0, height=0, margin=0.02, "
                    f"label={quote(node.label)}];")
        theme = self.style.theme
        mark = (f', color="{theme.highlight}", penwidth={HIGHLIGHT_WIDTH}, style=filled, '
                f'fillcolor="{theme.highlight_fill}"') if node.id == self.style.highlight else ""
        op = OPS[node.op]
        # Inputs are drawn in the order written (u - v reads u above v, and the slides'
        # w0*x0 has w0 above x0), except at commutative gates in a graph where values are
        # shared: there the order is left to Graphviz, so that the edges of the shared
        # values need not cross (the staged example's do if the order is kept).
        if len(node.inputs) > 1 and not (op.commutative and self.shared):
            mark += ", ordering=in"
        full = self.labels[node.id]
        if self.texts[node.id] != full:  # the key says it too; a viewer shows it on hover
            mark += f", tooltip={quote(full)}"
        return f"  n{node.id} [label={gate_label(self.texts[node.id])}{mark}];"

    def edges(self, node: Node) -> None:
        """An edge's lines for each input of the gate: its helper, and the edges through it."""
        index_from = OPS[node.op].index_from
        shares = self.trace.edge_grads[node.id]
        for k, (src, grad) in enumerate(zip(node.inputs, shares, strict=True)):
            fanned = self.uses[src] > 1  # its value, name and caption are on its stub
            is_index = index_from is not None and k >= index_from
            helper = gradient_node((node.id, k))
            dashed = ", style=dashed" if is_index else ""
            given = is_index or src in self.given  # no gradient drawn
            pull = "" if fanned else self._pull(src)
            self.emit(self.boxes.common(src, node.id),
                      self.helper((node.id, k), src, None if given else grad, not fanned,
                                  # integers, unless a value read only for its shape (X.shape)
                                  fanned, is_index and bool(np.all(self.trace.values[src] % 1 == 0))))
            self.link((src, node.id), f"{'f' if fanned else 'n'}{src}", f"{helper}:p:w",
                      f"arrowhead=none{dashed}{pull}")
            attributes = (dashed + pull)[2:]
            self.emit(None, f"  {helper}:p:e -> n{node.id}"
                            f"{f' [{attributes}]' if attributes else ''};")

    def link(self, line: tuple[int, int], tail: str, head: str, attributes: str) -> None:
        """The edge from ``tail`` to ``head``; for a ``line`` that wraps (a value and its
        gate, see :func:`~backviz.render.fit.wrapping`), the way round instead: on to a
        point after the end of the first row, back left under it to a point in the first
        column (rank=min) with an arrowhead there, and on into the second row. The way back
        weighs nothing, so that it does not pull the second row to the right."""
        if line not in self.wraps:
            self.emit(None, f"  {tail} -> {head} [{attributes}];")
            return
        right, left = (f"w{line[0]}_{line[1] % len(self.graph.nodes)}{end}" for end in "rl")
        dashed = ", style=dashed" if "dashed" in attributes else ""
        for point in (right, left):
            self.emit(None, f'  {point} [shape=point, width=0.03, height=0.03, '
                            f'color="{self.style.theme.text}"];')
        # The way back comes in under the first row's first input, so that the second row
        # is drawn below the first (Graphviz would as well put it on top).
        anchor = f" n{self.top};" if self.top is not None else ""
        self.emit(None, f"  {{rank=min;{anchor} {left};}}")
        if self.top is not None:
            self.emit(None, f"  n{self.top} -> {left} [style=invis];")
        self.emit(None, f"  {tail} -> {right} [arrowhead=none{dashed}];")
        self.emit(None, f"  {left} -> {right} [dir=back, weight=0{dashed}];")
        self.emit(None, f"  {left} -> {head} [arrowhead=none{dashed}];")

    def _pull(self, src: int) -> str:
        """The weight of an edge from ``src`` (not through a fork): in a figure that wraps,
        an edge from a gate weighs more than an input's, so that each row of the chain is
        drawn flat, its inputs coming in from below (it went down in steps, and its two
        rows overlapped in height); elsewhere an edge from a gate that takes a shared value
        pulls its gates together, so that an RNN's Wx @ x3 is drawn at step 3, where x3
        comes in, not in the first column with Wx's other uses. (Graphs without shared
        values that fit, the lecture's figures among them, are laid out as they always were.)"""
        if self.graph.ops[src] == INPUT:
            return ""
        if self.wraps:
            return _ROW
        return _PULL if any(self.uses[i] > 1 for i in self.graph.nodes[src].inputs) else ""

    def output_stub(self) -> None:
        """The output's stub: its value and its gradient, 1, after the last gate."""
        out = self.graph.output
        self.emit(None, self.helper(STUB, out.id, self.trace.grads[out.id], True))
        self.emit(None, f"  n{out.id} -> {gradient_node(STUB)}:p:w [arrowhead=none];")


def _first_row_anchor(trace: Evaluation, row: frozenset[int]) -> int | None:
    """The first input of the first row that Graphviz puts in the first column, if any."""
    rank = ranks(trace.graph)
    return next((n.id for n in trace.graph.nodes
                 if n.op == INPUT and n.id not in row and rank[n.id] == 0), None)


def gradient_node(edge: tuple[int, int]) -> str:
    """The DOT name of the helper node that carries a gradient (a key of
    :attr:`Style.gradients`); frames of a build find the gradient's texts by it."""
    node, k = edge
    return "out" if edge == STUB else f"s{node}" if k == TOTAL else f"e{node}_{k}"


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
        distinct = OPS[node.op].distinct_label
        if distinct is not None and len(kinds[labels[node.id]]) > 1:
            labels[node.id] = distinct
    return labels


PICTURE_KEY = "■ positive, □ negative, area: size"
"""The key's words for the pictures of arrays (see :func:`backviz.render.labels.edge_label`)."""


def circle_texts(trace: Evaluation, precision: int) -> dict[int, str]:
    """What each gate's circle says, by node id: its label, or its notation where the
    label is too long for the circle (see :func:`~backviz.render.labels.circle_text`)."""
    labels = gate_labels(trace)
    return {node.id: circle_text(labels[node.id], _short(node), node.const, precision)
            for node in trace.graph.gates}


def _short(node: Node) -> str | None:
    short = OPS[node.op].short
    return None if short is None else short(node.const)


def gate_key(trace: Evaluation, texts: dict[int, str]) -> list[str]:
    """The key under a figure: each notation a circle uses for a longer label
    (``lse: logsumexp``), once, in the order the gates come; a constant written to the
    figure's precision (``/1.41``) needs none."""
    labels = gate_labels(trace)
    key: dict[str, str] = {}
    for node in trace.graph.gates:
        text, label = texts[node.id], labels[node.id]
        if text != label and not _rounded(text, label):
            key.setdefault(text, f"{text}: {label}")
    return list(key.values())


def _rounded(text: str, label: str) -> bool:
    """Whether the circle's text is its label with the constant's digits cut."""
    return text[-1:].isdigit() and label.startswith(text.rstrip("0123456789"))


def title(trace: Evaluation) -> str:
    """The graph's name: the expression on one line, cut at 200 characters."""
    return short(" ".join(trace.graph.expression.split()), 200)


def _caption(trace: Evaluation, node_id: int) -> str:
    """The shape of a value made along an axis (``mean(X, axis=0)``), which the axis decides."""
    if trace.graph.ops[node_id] == INPUT:
        return ""
    op = OPS[trace.graph.ops[node_id]]
    if op.keyword != "axis" or trace.graph.consts[node_id] is None:
        return ""
    shape = np.shape(trace.values[node_id])
    return "shape " + ("()" if not shape else f"({shape[0]},)" if len(shape) == 1 else
                       "(" + ", ".join(map(str, shape)) + ")")


def _patterns(trace: Evaluation, style: Style) -> list[str]:
    """DOT for --annotate: each gate's pattern in a plain node below the gate, in its
    rank, so that Graphviz keeps it clear of every other label.

    Gate and word share a borderless cluster, which Graphviz keeps together: in the rank
    alone, other nodes came between them on larger graphs and words drifted up to 100 pt
    from their gate. The invisible edge, from the word to the gate, puts the word under it.
    """
    out = []
    for node in trace.graph.gates:
        pattern = OPS[node.op].pattern
        if not pattern:
            continue
        out.append(f"  c{node.id} [shape=plaintext, width=0, height=0, margin=0, fontsize=12, "
                   f"label=<<I>{font(pattern, style.theme.pattern)}</I>>];")
        out.append(f"  subgraph cluster_c{node.id} {{peripheries=0; margin=0; "
                   f"{{rank=same; n{node.id}; c{node.id};}}}}")
        out.append(f"  c{node.id} -> n{node.id} [style=invis];")
    return out


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

