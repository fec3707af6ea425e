"""What a notebook shows for a trace: the figure as SVG and PNG, and the summary as text.

The SVG is for trusted notebooks; the PNG for untrusted ones (which do not render SVG)
and for nbconvert's LaTeX and PDF export; the text for everything else. A figure fits
the output area, unless that makes its text too small to read: then it keeps a legible
size and the output area scrolls. Displaying never raises (a notebook's Run All would
stop): without Graphviz, or for a graph too large to draw, the text says why there is no
figure.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from .errors import GraphvizNotFoundError
from .render import to_bytes, to_svg
from .render.backend import MAX_GATES
from .render.dot import PNG_SCALE
from .render.metrics import svg_resized, svg_size
from .render.style import Style
from .render.summary import summary

if TYPE_CHECKING:
    from .evaluate import Evaluation

__all__ = ["AREA", "LEGIBLE", "Figure", "mimebundle"]

AREA = 900
"""About how wide a notebook's output area is (CSS pixels)."""
LEGIBLE = 0.6
"""A figure shrunk to fit is kept at least this fraction of its size (text at 8 pt)."""
_SHARP = 2  # the PNG has this many pixels per CSS pixel shown (sharp on high-DPI screens)
_PX = 4 / 3  # CSS pixels per point


@dataclass(frozen=True)
class Figure:
    """A trace's figure at a chosen size, for display: ``t.show(scale=2)``."""

    trace: Evaluation
    scale: float | None = None
    """1 is the figure's natural size; None fits the output area."""
    style: Style | None = None

    def _repr_mimebundle_(self, include: object = None,
                          exclude: object = None) -> tuple[dict[str, Any], dict[str, Any]]:
        return mimebundle(self.trace, self.scale, self.style)


def mimebundle(trace: Evaluation, scale: float | None = None,
               style: Style | None = None) -> tuple[dict[str, Any], dict[str, Any]]:
    """The figure as image/svg+xml and image/png, and text/plain, with the size to show."""
    style = replace(style or Style(), scale=None)
    text = summary(trace, style, limit=12)
    try:
        if len(trace.graph.gates) > MAX_GATES:
            raise _NoFigure(f"the graph has {len(trace.graph.gates):,} gates, more than the "
                            f"{MAX_GATES:,} that are drawn")
        svg = to_svg(trace, style)
        points = svg_size(svg)
        if points is None:
            raise ValueError("the SVG has no size in points")
        width, height = points
        shown = width * _PX * scale if scale else max(min(width * _PX, AREA), width * _PX * LEGIBLE)
        factor = shown / (width * _PX)
        svg = svg_resized(svg, shown, height * _PX * factor)
        png = to_bytes(trace, "png", replace(style, scale=_SHARP * _PX * factor / PNG_SCALE))
    except GraphvizNotFoundError:
        reason = "Graphviz's dot program is not installed (apt-get install graphviz)"
    except _NoFigure as err:
        reason = str(err)
    except Exception as err:  # a display must never stop a notebook's Run All
        reason = str(err).splitlines()[0] if str(err) else type(err).__name__
    else:
        size: dict[str, object] = {"width": round(shown)}
        if shown > AREA:
            size["unconfined"] = True  # JupyterLab then scrolls instead of shrinking
        return ({"text/plain": text, "image/svg+xml": svg, "image/png": png},
                {"image/svg+xml": size, "image/png": size})
    note = (f"(no figure: {reason}; t.to_json() and t.to_dot() give the whole graph "
            "without Graphviz and without a size limit)")
    return {"text/plain": f"{text}\n{note}"}, {}


class _NoFigure(Exception):
    """Why a figure is not drawn."""
