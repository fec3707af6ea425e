"""The figure as a TikZ picture, and a build as one Beamer frame, from Graphviz's layout.

Graphviz lays the figure out once and writes what it draws as xdot operations
(``dot -Tjson``: ellipses, polygons, Bézier curves, texts at their baselines); each
operation becomes one TikZ command at the same coordinates, in points, so every number
sits where the SVG has it. Text is set in the document's sans font (``\\sffamily``) at
Graphviz's sizes, and the theme's colours are named xcolor colours (``backvizValue``,
``backvizGradient``, ...) that a document may redefine.

A file is both a standalone document and a picture to ``\\input``: it tests whether a
document class was loaded already (LaTeX then makes ``\\documentclass`` an error), and
only when none was does it start its own document, one page the size of the figure.

A build (:func:`beamer`) is one frame whose overlays step through the backward pass: the
master's layout (every gradient drawn, see :mod:`backviz.template`), each gradient
uncovered from the overlay it is first shown on, the gate of each step highlighted on
its overlay, and each overlay's notes and caption.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from .dot import gradient_node
from .notes import note_spacers
from .style import HIGHLIGHT_WIDTH, Style, Theme

__all__ = ["beamer", "colour_name", "document", "figure_tex", "picture"]

Op = dict[str, Any]  # one xdot operation, as -Tjson writes it
PAD = 4.0
"""Graphviz's pad around the layout (points): its SVG and PDF are this much larger."""

_ROLES = ("value", "gradient", "text", "background", "highlight", "highlight_fill", "note",
          "pattern")
_TEX = {"\\": r"\textbackslash{}", "{": r"\{", "}": r"\}", "$": r"\$", "&": r"\&", "#": r"\#",
        "^": r"\textasciicircum{}", "_": r"\_", "%": r"\%", "~": r"\textasciitilde{}",
        "<": r"\textless{}", ">": r"\textgreater{}", "|": r"\textbar{}",
        # Math signs from the math fonts: "-" in text is a hyphen (and "--" a dash).
        "-": r"\ensuremath{-}", "×": r"\ensuremath{\times}", "σ": r"\ensuremath{\sigma}",
        "−": r"\ensuremath{-}", "·": r"\ensuremath{\cdot}"}
_ANCHORS = {"l": "base west", "c": "base", "r": "base east"}
_PREAMBLE = r"""\documentclass{article}
\usepackage{fix-cm}
\usepackage{tikz}
\usepackage[paperwidth=%(w)sbp,paperheight=%(h)sbp,margin=0pt]{geometry}
\pagestyle{empty}
\begin{document}\noindent"""


def _number(x: float) -> str:
    return f"{x:.2f}".rstrip("0").rstrip(".")


def _text(text: str) -> str:
    """Text for LaTeX: its special characters escaped, the figure's signs and Greek letters
    from plain LaTeX's math fonts; a character pdflatex's fonts lack is a question mark."""
    return "".join(_TEX.get(c) or _UNICODE.get(c) or _character(c) for c in text)


def _character(c: str) -> str:
    """A character no table names: ASCII and Latin-1's letters (é) as they are, a Greek
    letter by its name (\\alpha), anything else a question mark. A control character (a
    title's NUL, a caption's line breaks) is a space: pdflatex stops at an invalid one, and
    a blank line would end the paragraph inside a frame's title."""
    if not c.isprintable() and c.isascii():
        return " "
    if c.isascii() or "\u00c0" <= c <= "\u00ff":
        return c
    name = unicodedata.name(c, "").split()
    if name[:2] == ["GREEK", "SMALL"] and len(name) == 4 and name[3] != "OMICRON":
        return rf"\ensuremath{{\{name[3].lower().replace('lamda', 'lambda')}}}"
    return "?"


# The signs of the figures' notation (gate symbols, their key, the arrays' pictures),
# written with what every LaTeX has (no package needed in a document that \inputs them).
_UNICODE = {
    "√": r"\ensuremath{\surd}", "ε": r"\ensuremath{\varepsilon}", "…": r"\ldots{}",
    "‖": r"\ensuremath{\|}", "ᵀ": r"\ensuremath{^{T}}", "²": r"\ensuremath{^{2}}",
    "³": r"\ensuremath{^{3}}", "₋": r"\ensuremath{_{-}}", "→": r"\ensuremath{\rightarrow}",
    "■": r"\rule{0.55em}{0.55em}",
    "□": r"{\setlength{\fboxsep}{0pt}\fbox{\rule{0pt}{0.5em}\hspace{0.5em}}}",
    **{chr(0x2080 + k): rf"\ensuremath{{_{{{k}}}}}" for k in range(10)},
    **{g: rf"\ensuremath{{\{n}}}" for g, n in zip("ΓΔΘΛΞΠΣΥΦΨΩ", ["Gamma", "Delta", "Theta",
       "Lambda", "Xi", "Pi", "Sigma", "Upsilon", "Phi", "Psi", "Omega"], strict=True)},
}


def colour_name(role: str) -> str:
    """The xcolor name of a theme's colour: highlight_fill is backvizHighlightFill."""
    return "backviz" + "".join(part.title() for part in role.split("_"))


@dataclass
class _Colours:
    """The picture's named colours: the theme's, then any other the drawing uses."""

    theme: Theme
    names: dict[str, str] = field(default_factory=dict)  # "#rrggbb" -> name

    def __post_init__(self) -> None:
        for role in _ROLES:
            self.names.setdefault(getattr(self.theme, role).lower(), colour_name(role))

    def name(self, colour: str) -> str | None:
        """The name of an xdot colour (#rrggbb or #rrggbbaa); None for an invisible one."""
        colour = colour.lower()
        if len(colour) == 9:
            if colour.endswith("00"):
                return None
            colour = colour[:7]
        if not re.fullmatch(r"#[0-9a-f]{6}", colour):
            return "black"
        return self.names.setdefault(colour, f"backvizColour{len(self.names) - len(_ROLES) + 1}")

    def definitions(self) -> list[str]:
        # Each line ends in "%": a line's end is a space, which would move the picture.
        return [rf"\definecolor{{{name}}}{{HTML}}{{{colour[1:].upper()}}}%"
                for colour, name in self.names.items()]


@dataclass
class _Pen:
    """The xdot state an operation is drawn with: colours, line, font."""

    stroke: str | None = "black"
    fill: str | None = "black"
    width: float = 1.0
    dash: str = ""
    size: float = 14.0
    bold: bool = False
    italic: bool = False


def _points(points: Sequence[Sequence[float]]) -> list[str]:
    return [f"({_number(x)},{_number(y)})" for x, y in points]


def _line(pen: _Pen) -> str:
    return f"line width={_number(pen.width)}bp" + (f", {pen.dash}" if pen.dash else "")


def _shape(op: Op, pen: _Pen) -> str | None:
    """An ellipse, polygon, polyline or Bézier curve as a TikZ path; None if unseen."""
    kind = op["op"]
    filled = kind in "EP" and pen.fill is not None  # a curve is never filled here
    if pen.stroke is None and not filled:
        return None
    options = [_line(pen)] + ([f"draw={pen.stroke}"] if pen.stroke else [])
    options += [f"fill={pen.fill}"] if filled else []
    if kind in "Ee":
        x, y, rx, ry = op["rect"]
        path = f"({_number(x)},{_number(y)}) ellipse ({_number(rx)}bp and {_number(ry)}bp)"
    elif kind in "Bb":
        p = _points(op["points"])
        path = p[0] + "".join(f" .. controls {p[k]} and {p[k + 1]} .. {p[k + 2]}"
                              for k in range(1, len(p) - 2, 3))
    else:
        path = " -- ".join(_points(op["points"])) + (" -- cycle" if kind in "Pp" else "")
    return rf"\path[{', '.join(options)}] {path};"


def _label(op: Op, pen: _Pen, text: str | None = None, colour: str | None = None,
           dx: float = 0.0) -> str | None:
    """A text at its baseline point, aligned as Graphviz aligns it; None if unseen."""
    colour = colour or pen.stroke
    if colour is None:
        return None
    x, y = op["pt"]
    font = rf"\sffamily\fontsize{{{_number(pen.size)}}}{{{_number(pen.size * 1.2)}}}\selectfont"
    font += r"\bfseries" if pen.bold else ""
    font += r"\itshape" if pen.italic else ""
    return (rf"\node[anchor={_ANCHORS.get(op['align'], 'base')}, inner sep=0pt, "
            rf"text={colour}, font={font}] at ({_number(x + dx)},{_number(y)}) "
            f"{{{_text(text if text is not None else op['text'])}}};")


def _set(op: Op, pen: _Pen, colours: _Colours) -> bool:
    """Apply a state operation to the pen; False if ``op`` draws."""
    kind = op["op"]
    if kind == "c":
        pen.stroke = colours.name(op["color"])
    elif kind == "C":
        pen.fill = colours.name(op["color"])
    elif kind == "F":
        pen.size = float(op["size"])
    elif kind == "t":
        pen.bold, pen.italic = bool(op["fontchar"] & 1), bool(op["fontchar"] & 2)
    elif kind == "S":
        _style(op["style"], pen)
    else:
        return kind in "EePpLBbT"
    return False


def _style(style: str, pen: _Pen) -> None:
    width = re.fullmatch(r"setlinewidth\(([0-9.]+)\)", style)
    if width:
        pen.width = float(width[1])
    elif style in ("dashed", "dotted"):
        pen.dash = style
    elif style == "solid":
        pen.dash = ""


@dataclass(frozen=True)
class _Drawn:
    """One drawing operation of an object, with the pen it is drawn with."""

    name: str  # the object's DOT name ("" for the graph)
    key: str  # _draw_, _ldraw_, _hdraw_, ...
    op: Op
    pen: _Pen


def _operations(drawing: dict[str, Any], colours: _Colours) -> Iterator[_Drawn]:
    """Every drawing operation, under what it is drawn over: the graph, its clusters,
    the edges, then the nodes (whose circles stand on the edges' ends)."""
    objects = drawing.get("objects", [])
    clusters = objects[:drawing.get("_subgraph_cnt", 0)]
    nodes = objects[len(clusters):]
    for obj in [drawing, *clusters, *drawing.get("edges", []), *nodes]:
        name = obj.get("name", "") if obj is not drawing else ""
        for key in ("_draw_", "_ldraw_", "_hdraw_", "_tdraw_", "_hldraw_", "_tldraw_"):
            pen = _Pen()
            for op in obj.get(key, []):
                if _set(op, pen, colours):
                    yield _Drawn(name, key, op, replace(pen))


def _command(drawn: _Drawn) -> str | None:
    return _label(drawn.op, drawn.pen) if drawn.op["op"] == "T" else _shape(drawn.op, drawn.pen)


def _size(drawing: dict[str, Any]) -> tuple[float, float, float, float]:
    """The figure's box: the layout's, and Graphviz's pad around it (as in its SVG)."""
    x0, y0, x1, y1 = (float(v) for v in str(drawing["bb"]).split(","))
    return x0 - PAD, y0 - PAD, x1 + PAD, y1 + PAD


def picture(drawing: dict[str, Any], theme: Theme,
            overlay: Callable[[_Drawn, str], str] | None = None,
            colours: _Colours | None = None, scale: float = 1.0) -> str:
    """The drawing (``dot -Tjson``'s) as a tikzpicture, its colours defined before it.

    ``overlay`` may rewrite each operation's command (a build wraps its gradients in
    Beamer overlays); the picture's bounding box is the figure's, whatever is shown.
    """
    colours = colours or _Colours(theme)
    x0, y0, x1, y1 = _size(drawing)
    body = []
    for drawn in _operations(drawing, colours):
        if drawn.name == "" and drawn.key == "_draw_" and drawn.op["op"] == "P":
            # the background, over the pad too, as Graphviz draws it
            drawn = replace(drawn, op=dict(drawn.op, points=[(x0, y0), (x0, y1), (x1, y1), (x1, y0)]))
        command = _command(drawn)
        if command is not None:
            body.append(overlay(drawn, command) if overlay else command)
    return "\n".join([
        *colours.definitions(),
        r"\begin{tikzpicture}[x=1bp, y=1bp]" if scale == 1 else
        rf"\begin{{tikzpicture}}[x=1bp, y=1bp, scale={_number(scale)}, "
        r"every node/.style={transform shape}]",
        rf"\useasboundingbox ({_number(x0)},{_number(y0)}) rectangle ({_number(x1)},{_number(y1)});",
        *body,
        r"\end{tikzpicture}",
    ])


def document(body: str, about: str, size: tuple[float, float] | None, beamer: bool = False) -> str:
    """A file that is a document of its own, and ``body`` alone when ``\\input``.

    ``size`` is the page's in points (a figure); a Beamer frame's document is a
    one-frame presentation.
    """
    if beamer:
        preamble = "\n".join([r"\documentclass{beamer}", r"\usepackage{fix-cm}",
                              r"\usepackage{tikz}",
                              r"\setbeamertemplate{navigation symbols}{}", r"\begin{document}"])
    else:
        assert size is not None
        preamble = _PREAMBLE % {"w": _number(size[0]), "h": _number(size[1])}
    return "\n".join([
        *(f"% {line}" for line in about.splitlines()),
        "% Alone, it is a document (pdflatex FILE); \\input{FILE} in a document whose preamble",
        "% loads tikz gives the " + ("frame." if beamer else "picture."),
        r"\expandafter\ifx\csname @twoclasseserror\endcsname\documentclass",
        r"\let\backvizend\relax",
        r"\else",
        r"\def\backvizend{\end{document}}",
        preamble,
        r"\fi%",
        body,
        r"\backvizend",
        "",
    ])


def figure_tex(drawing: dict[str, Any], theme: Theme, about: str, scale: float = 1.0) -> str:
    """A figure's TikZ file: a standalone document of the figure's size, or the picture."""
    x0, y0, x1, y1 = _size(drawing)
    return document(picture(drawing, theme, scale=scale), about,
                    ((x1 - x0) * scale, (y1 - y0) * scale))


# --- a build as one Beamer frame -------------------------------------------------------------

def _first_shown(styles: Sequence[Style], edge: tuple[int, int]) -> int | None:
    """The overlay (from 1) on which a gradient is first shown; None if never."""
    for k, style in enumerate(styles, 1):
        if style.gradients is None or edge in style.gradients:
            return k
    return None


def _slides(ks: Sequence[int]) -> str:
    return ",".join(str(k) for k in ks)


@dataclass
class _Build:
    """What changes from one overlay to the next: gradients, the highlighted gate, notes."""

    styles: Sequence[Style]
    colours: _Colours
    gradient_edges: dict[str, tuple[int, int]]
    rows: list[_Drawn] = field(default_factory=list)  # the notes' placeholders

    def overlay(self, drawn: _Drawn, command: str) -> str:
        """The command as the overlays show it: a gradient from its first overlay on, a
        gate with its highlighted shape on the overlays at it."""
        edge = self.gradient_edges.get(drawn.name)
        gradient = colour_name("gradient")
        if edge is not None and gradient in (drawn.pen.stroke, drawn.pen.fill):
            first = _first_shown(self.styles, edge)
            return "" if first is None else rf"\only<{first}->{{{command}}}"
        if drawn.key == "_draw_" and drawn.name[:1] == "n" and drawn.name[1:].isdigit():
            return command + self._highlighted(int(drawn.name[1:]), drawn)
        return command

    def _highlighted(self, gate: int, drawn: _Drawn) -> str:
        """The gate's shape highlighted, on the overlays whose step is at it."""
        at = [k for k, style in enumerate(self.styles, 1) if style.highlight == gate]
        op = dict(drawn.op, op=drawn.op["op"].upper())  # filled
        pen = replace(drawn.pen, stroke=colour_name("highlight"),
                      fill=colour_name("highlight_fill"), width=HIGHLIGHT_WIDTH)
        shape = _shape(op, pen)
        return f"\n\\only<{_slides(at)}>{{{shape}}}" if at and shape else ""


def beamer(drawing: dict[str, Any], styles: Sequence[Style], captions: Sequence[str],
           edges: Iterable[tuple[int, int]], title: str, about: str) -> str:
    """A build as one Beamer frame: overlay k is frame k of the stepping page.

    ``drawing`` is the master's (``dot -Tjson`` of the build's layout), ``styles`` the
    frames' styles on that layout, ``captions`` their captions, ``edges`` every gradient
    the figure draws (:attr:`backviz.template.Template.edges`).
    """
    colours = _Colours(styles[0].theme)
    # The notes' rows: the graph's own texts drawn invisibly, top to bottom.
    rows = [d for d in _operations(drawing, colours) if d.name == "" and d.key == "_ldraw_"
            and d.op["op"] == "T" and d.pen.stroke is None]
    build = _Build(styles, colours, {gradient_node(edge): edge for edge in edges}, rows)
    notes = _notes(build)  # before the picture, which defines the colours they use
    art = picture(drawing, styles[0].theme, build.overlay, colours)
    art = art.replace(r"\end{tikzpicture}", notes + r"\end{tikzpicture}")
    x0, y0, x1, y1 = _size(drawing)
    fit = r"\linewidth" if (x1 - x0) > 2.2 * (y1 - y0) else None
    size = f"{{{fit}}}{{!}}" if fit else r"{!}{0.62\textheight}"
    caption_lines = "\n".join(rf"\only<{k}>{{{_text(c)}}}" for k, c in enumerate(captions, 1))
    body = "\n".join([
        rf"\begin{{frame}}{{{_text(title)}}}",
        r"\centering",
        rf"\resizebox{size}{{%",
        art + "}",
        "",
        r"\vspace{0.6em}\parbox[t][4\baselineskip]{\linewidth}{\small\raggedright",
        caption_lines + "}",
        r"\end{frame}",
    ])
    return document(body, about, None, beamer=True)


def _notes(build: _Build) -> str:
    """Each overlay's notes in the rows' places: the placeholder's, moved right by as much
    as the note's spacer is wider than the placeholder's (1), as the SVG frames do."""
    lines = []
    for k, style in enumerate(build.styles, 1):
        _, spacers = note_spacers(style)
        for row, (note, spacer) in enumerate(zip(style.notes, spacers, strict=True)):
            if row >= len(build.rows):
                break
            colour = build.colours.name(note.color) if note.color else colour_name("note")
            label = _label(build.rows[row].op, build.rows[row].pen, note.text, colour,
                           dx=spacer - 1)
            lines.append(rf"\only<{k}>{{{label}}}")
    return "\n".join(lines) + ("\n" if lines else "")
