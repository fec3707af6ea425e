"""The renderer: a trace drawn as SVG, PNG, PDF, TikZ, DOT or JSON, saved, or as a
graphviz.Digraph.

This module is the figure API (:func:`to_svg`, :func:`to_tikz`, :func:`to_bytes`,
:func:`save`, :func:`to_graphviz`); each part of the drawing is a module of this package, in the order
a figure is made:

- :mod:`~backviz.render.style`: themes and :class:`Style`, what a figure shows;
- :mod:`~backviz.render.numbers`: how numbers are written;
- :mod:`~backviz.render.dot`: the DOT writer, with :mod:`~backviz.render.labels` (the
  labels of edges and gates), :mod:`~backviz.render.notes` (the band of notes),
  :mod:`~backviz.render.boxes` (boxes around user gates),
  :mod:`~backviz.render.metrics` (how wide text is drawn) and
  :mod:`~backviz.render.fit` (whether a figure fits a slide);
- :mod:`~backviz.render.backend`: running Graphviz's dot;
- :mod:`~backviz.render.tikz`: the figure and a build's Beamer frame as TikZ;
- :mod:`~backviz.render.export`: JSON, and files and folders written atomically;
- :mod:`~backviz.render.summary`: the command's text summary.

The names re-exported here (``backviz.render.Style``, ``backviz.render.THEMES``, ...) are
kept for code written against the single module this once was; within the package, each
name is imported from the module that owns it.
"""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import BackvizError
from ..text import escape
from .backend import MAX_GATES, drawable, fixed_pdf, render
from .dot import PNG_SCALE, gate_labels, gradient_node, title, to_dot
from .export import FORMATS, format_for, json_chunks, to_dict, to_json, write_atomic
from .notes import note_spacers
from .numbers import Numbers, blank
from .style import STUB, THEMES, Layout, Note, Style, Theme
from .summary import summary

if TYPE_CHECKING:
    from ..evaluate import Evaluation

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
    "to_bytes",
    "to_dict",
    "to_dot",
    "to_graphviz",
    "to_json",
    "to_svg",
    "to_tikz",
]


def to_svg(trace: Evaluation, style: Style | None = None) -> str:
    """The figure as SVG text, with a ``<desc>`` of its value and gradients."""
    svg = render(to_dot(trace, style, "svg"), "svg", len(trace.graph.gates)).decode("utf-8")
    return described(svg, trace, style or Style())


def described(svg: str, trace: Evaluation, style: Style) -> str:
    """Add a ``<desc>`` after the first ``<title>`` (the expression), for screen readers."""
    head, *rows = summary(trace, style, limit=20).splitlines()
    text = head + ("; " + ", ".join(row.strip() for row in rows) if rows else "")
    desc = f"\n<desc>{escape(text)}</desc>"
    at = svg.find("</title>")
    return svg if at < 0 else svg[:at + 8] + desc + svg[at + 8:]


def to_tikz(trace: Evaluation, style: Style | None = None) -> str:
    """The figure as a TikZ picture in a file that is also a standalone document, drawn
    from Graphviz's layout of the figure (the SVG's): see :mod:`backviz.render.tikz`."""
    import json  # here too: of the command's formats, only a .tex reads dot's JSON

    from .tikz import figure_tex  # here, not at the top: only a .tex needs it (2 ms a start)

    style = style or Style()
    n_gates = len(trace.graph.gates)
    drawing = json.loads(render(to_dot(trace, replace(style, scale=None), "svg"), "json", n_gates))
    about = f"backviz: {summary(trace, style, limit=0).splitlines()[0]}"
    return figure_tex(drawing, style.theme, about, style.scale or 1.0)


def to_graphviz(trace: Evaluation, style: Style | None = None) -> Any:
    """The figure as a ``graphviz.Digraph`` (the graphviz package's), to render, save or
    change as with torchviz's ``make_dot``: its ``source`` is :func:`to_dot`'s text.

    Its ``pipe`` and ``render`` have no timeout; :func:`to_svg` and :func:`save` do.
    """
    import graphviz  # imported here: the command itself never needs it

    # The package writes the head line itself (quoting the name its own way) and the "}".
    body = to_dot(trace, style).splitlines(keepends=True)
    return graphviz.Digraph(title(trace), body=body[1:-1], format="svg")


def to_bytes(trace: Evaluation, format: str, style: Style | None = None) -> bytes:
    """The figure in one of FORMATS, as bytes."""
    if format == "json":
        return b"".join(json_chunks(trace))
    if format in ("svg", "png", "pdf", "tex"):  # refused before the DOT of 100,000 gates is written
        drawable(len(trace.graph.gates))
    if format == "svg":
        return to_svg(trace, style).encode("utf-8")
    if format == "tex":
        return to_tikz(trace, style).encode("utf-8")
    dot = to_dot(trace, style, format)
    if format == "dot":
        return dot.encode("utf-8")
    data = render(dot, format, len(trace.graph.gates))
    return fixed_pdf(data) if format == "pdf" else data


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
