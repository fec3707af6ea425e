"""What a notebook shows for a trace: the figure as SVG, PNG and PDF, and the summary as
text; for a build, the stepping page, with its first and last frames as images.

The SVG is for trusted notebooks; the PNG for untrusted ones (which do not render SVG);
the PDF for nbconvert's LaTeX and PDF export, which takes it as it is (given only an SVG,
it runs Inkscape to convert it, and fails where Inkscape is not installed); the text
for everything else. A figure fits
the output area, unless that makes its text too small to read: then it keeps a legible
size and the output area scrolls. Displaying never raises (a notebook's Run All would
stop): without Graphviz, or for a graph too large to draw, the text says why there is no
figure.
"""

from __future__ import annotations

import base64
import html
from collections.abc import Callable, Sequence
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

__all__ = ["AREA", "LEGIBLE", "Figure", "build_mimebundle", "mimebundle"]

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
        pdf = base64.b64encode(to_bytes(trace, "pdf", style)).decode("ascii")
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
        return ({"text/plain": text, "image/svg+xml": svg, "image/png": png,
                 "application/pdf": pdf}, {"image/svg+xml": size, "image/png": size})
    note = (f"(no figure: {reason}; t.to_json() and t.to_dot() give the whole graph "
            "without Graphviz and without a size limit)")
    return {"text/plain": f"{text}\n{note}"}, {}


class _NoFigure(Exception):
    """Why a figure is not drawn."""


# --- a build (t.steps()) ---------------------------------------------------------------------

# Each client keeps a different part of the build's HTML, so the HTML is made of parts that
# each client either shows or drops without a trace:
# - the stepping page is in the data-page attribute, which both sanitisers drop silently
#   (JupyterLab's for an untrusted notebook, bleach's for nbconvert --sanitize-html);
# - a still frame is a div with the frame as its background: JupyterLab's sanitiser keeps
#   that style, bleach drops it (an <img> it would show as escaped text, base64 and all);
# - the script that makes the page's frame, where scripts run, is in a div that the
#   stylesheets of JupyterLab and of nbconvert's templates hide (lab: lm-mod-hidden,
#   classic: hidden), because bleach shows a <script> as escaped text;
# - the rest is div, b, ol and li, which every client shows as they are.
_LOADER = """<div class="backviz-loader lm-Widget lm-mod-hidden hidden"><script>
(function () {
  // Where scripts run: the stepping page in a frame as tall as the page, instead of the stills.
  var me = document.currentScript, box = me && me.closest('.backviz-build');
  if (!box || !box.dataset.page) { return; }
  var frame = document.createElement('iframe'), still = box.querySelector('.backviz-still');
  frame.title = 'the frames of the build';
  frame.style.cssText = 'width: 100%; border: 0; height: ' + box.dataset.height + 'px';
  frame.srcdoc = box.dataset.page;
  box.insertBefore(frame, box.firstChild);
  if (still) { still.parentNode.removeChild(still); }
  function fit() {
    try {
      var body = frame.contentDocument && frame.contentDocument.body;
      if (body && body.offsetHeight) { frame.style.height = Math.ceil(body.offsetHeight) + 'px'; }
    } catch (e) { /* a frame of another origin keeps its height */ }
  }
  frame.addEventListener('load', function () {
    fit();
    var w = frame.contentWindow;
    if (w && w.ResizeObserver) { new w.ResizeObserver(fit).observe(w.document.body); }
  });
})();
</script></div>"""


def build_mimebundle(html_page: str, captions: Sequence[str], first_svg: str,
                     draw_png: Callable[[int, float], bytes]) -> tuple[dict[str, Any], dict[str, Any]]:
    """A build as a notebook shows it: the stepping page where scripts run (a trusted
    notebook), its first and last frames as pictures with every caption where they do not
    (an untrusted notebook in JupyterLab), every caption where only plain markup is kept
    (nbconvert --sanitize-html); the last frame as image/png and the captions as text/plain.

    ``draw_png(k, scale)`` draws frame k as PNG. Never raises: without a drawing, the
    text and the page remain.
    """
    n = len(captions)
    text = "\n".join([f"{n} frames:", *(f"  {k}. {c}" for k, c in enumerate(captions, 1))])
    size = svg_size(first_svg) or (300.0, 150.0)
    try:
        pngs = [draw_png(k, _SHARP * _PX / PNG_SCALE) for k in (0, n - 1)]
    except Exception:  # a display must never stop a notebook's Run All
        pngs = []
    still = _still(captions, pngs)
    box = (f'<div class="backviz-build" data-page="{html.escape(html_page)}" '
           f'data-height="{_page_height(*size)}">{still}{_LOADER}</div>')
    data: dict[str, Any] = {"text/plain": text, "text/html": box}
    if pngs:
        data["image/png"] = pngs[-1]
    return data, {"image/png": {"width": round(size[0] * _PX)}} if pngs else {}


def _page_height(width: float, height: float) -> int:
    """About how tall the stepping page is in an output area (CSS px) until its script
    measures it: the figure as the page draws it, the title, buttons, caption and help."""
    natural_w, natural_h = width * _PX, height * _PX
    shown = max(natural_w, min(natural_w * 2, AREA - 64, natural_w * 520 / max(natural_h, 1.0)))
    return round(shown * natural_h / natural_w + 320 + (20 if shown > AREA - 64 else 0))


def _still(captions: Sequence[str], pngs: Sequence[bytes]) -> str:
    """The first and the last frame as pictures, and every caption, in HTML that the
    sanitisers keep (see _LOADER): text in div, b, ol and li; a frame as a background."""
    n = len(captions)
    parts = ['<div class="backviz-still">']
    for k, png in zip((0, n - 1), pngs, strict=False):
        parts += [f"<div><b>frame {k + 1} of {n}</b>: {html.escape(captions[k])}</div>",
                  f'<div style="overflow-x: auto">{_picture(png)}</div>']
    parts.append("<ol>" + "".join(f"<li>{html.escape(c)}</li>" for c in captions) + "</ol>")
    parts.append("<div>The page that steps through the frames needs a trusted notebook "
                 "(JupyterLab: File, Trust Notebook).</div></div>")
    return "".join(parts)


def _picture(png: bytes) -> str:
    """A PNG as the background of a div that fits the output area unless that makes it
    illegible, as a trace's figure does; the padding, a fraction of the width, keeps its shape."""
    width, height = (int.from_bytes(png[at:at + 4], "big") / _SHARP for at in (16, 20))  # header
    data = base64.b64encode(png).decode("ascii")
    return (f'<div class="backviz-frame" style="max-width: {round(width)}px; '
            f"min-width: {round(width * LEGIBLE)}px; background-image: "
            f"url(data:image/png;base64,{data}); background-size: 100% 100%; "
            f'background-repeat: no-repeat"><div style="padding-top: {100 * height / width:.2f}%">'
            "</div></div>")
