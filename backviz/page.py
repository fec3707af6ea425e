"""One self-contained HTML page that steps through the frames of a build.

Every frame is inlined as an SVG data URI, the script and the style are in the page:
it opens from a file, with no network. Next and previous buttons, the arrow keys
(Home and End for the first and the last frame) and "frame k of n", counted from 0
as the files are (frame-00.svg is frame 0). Without JavaScript every frame is shown,
one under the other.
"""

from __future__ import annotations

import base64
import html
import json
from collections.abc import Sequence

__all__ = ["page"]

_STYLE = """
body { font-family: "DejaVu Sans", Verdana, sans-serif; margin: 0; padding: 1.2rem 2rem;
       color: #111; background: #fff; }
h1 { font-size: 1.3rem; font-weight: normal; margin: 0 0 .3rem; }
.expression { font-family: "DejaVu Sans Mono", monospace; color: #444; margin: 0 0 1rem; }
.frames img { display: none; width: 100%; height: auto; max-height: 64vh; object-fit: contain; }
.frames img.shown { display: block; }
nav { display: flex; gap: 1.2rem; align-items: center; justify-content: center; margin: 1rem 0 .4rem; }
button { font: inherit; padding: .35rem 1.1rem; border: 1px solid #888; border-radius: 4px;
         background: #f4f4f4; cursor: pointer; }
button:disabled { color: #aaa; border-color: #ccc; cursor: default; }
#counter { min-width: 8.5em; text-align: center; }
#caption { text-align: center; min-height: 2.6em; margin: .4rem auto; max-width: 60rem; color: #1f4e99; }
.help { text-align: center; color: #777; font-size: .85rem; }
"""

_SCRIPT = """
(function () {
  var frames = document.querySelectorAll('.frames img');
  var captions = JSON.parse(document.getElementById('captions').textContent);
  var counter = document.getElementById('counter');
  var caption = document.getElementById('caption');
  var prev = document.getElementById('prev');
  var next = document.getElementById('next');
  var last = frames.length - 1;
  var k = 0;
  function show(i) {
    k = Math.max(0, Math.min(last, i));
    for (var j = 0; j <= last; j++) { frames[j].classList.toggle('shown', j === k); }
    counter.textContent = 'frame ' + k + ' of ' + last;
    caption.textContent = captions[k];
    prev.disabled = k === 0;
    next.disabled = k === last;
  }
  prev.addEventListener('click', function () { show(k - 1); });
  next.addEventListener('click', function () { show(k + 1); });
  document.addEventListener('keydown', function (e) {
    if (e.altKey || e.ctrlKey || e.metaKey) { return; }
    var to = {ArrowRight: k + 1, ArrowLeft: k - 1, Home: 0, End: last}[e.key];
    if (to !== undefined) { e.preventDefault(); show(to); }
  });
  show(0);
})();
"""


def page(title: str, expression: str, svgs: Sequence[str], captions: Sequence[str]) -> str:
    """The page for frames given as SVG texts, each with its caption."""
    if len(svgs) != len(captions) or not svgs:
        raise ValueError("a page needs one caption per frame, and at least one frame")
    last = len(svgs) - 1
    images = []
    for k, (svg, caption) in enumerate(zip(svgs, captions, strict=True)):
        data = base64.b64encode(svg.encode("utf-8")).decode("ascii")
        shown = ' class="shown"' if k == 0 else ""
        images.append(f'<img id="frame-{k}"{shown} alt="frame {k}: {html.escape(caption)}" '
                      f'src="data:image/svg+xml;base64,{data}">')
    # JSON inside <script> must not close the element: escape "<" (json.dumps keeps it).
    captions_json = json.dumps(list(captions), ensure_ascii=False).replace("<", "\\u003c")
    return "\n".join([
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{html.escape(title)}</title>",
        f"<style>{_STYLE}</style>",
        "<noscript><style>.frames img { display: block; margin-bottom: 1rem; } nav, .help "
        "{ display: none; }</style></noscript>",
        "</head>",
        "<body>",
        f"<h1>{html.escape(title)}</h1>",
        f'<p class="expression">{html.escape(expression)}</p>' if expression != title else "",
        '<div class="frames">',
        *images,
        "</div>",
        f'<p id="caption">{html.escape(captions[0])}</p>',
        '<nav><button id="prev" type="button">&larr; previous</button>'
        f'<span id="counter">frame 0 of {last}</span>'
        '<button id="next" type="button">next &rarr;</button></nav>',
        '<p class="help">The arrow keys &larr; &rarr; step through the frames; Home and End '
        "go to the first and the last.</p>",
        f'<script type="application/json" id="captions">{captions_json}</script>',
        f"<script>{_SCRIPT}</script>",
        "</body>",
        "</html>",
        "",
    ])
