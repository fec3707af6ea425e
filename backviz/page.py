"""One self-contained HTML page that steps through the frames of a build.

Every frame is inlined as an SVG data URI, the script and the style are in the page:
it opens from a file, with no network. It counts frames from 1 ("frame 1 of 10" is
frame-00.svg, whose name it links). Next: the next button, a click or tap on the
figure, a swipe to the left, the right arrow, PageDown (a presenter's clicker), Space
and Enter; previous: the previous button, a swipe to the right, the left arrow, PageUp
and Shift+Space; Home and End go to the first and the last frame. Without JavaScript
every frame is shown, one under the other.

The figure is drawn at a size in CSS pixels: as wide as the page, within twice its
natural size, but never below its natural size (0.8 of it on a phone), so that it
stays legible and scrolls sideways where the window is narrower, and the browser's zoom
enlarges it. The colours are the theme's
(:data:`backviz.render.THEMES`), as CSS variables.
"""

from __future__ import annotations

import base64
import html
import json
from collections.abc import Sequence

from .render.metrics import svg_size
from .render.style import THEME, Theme

__all__ = ["KEYS", "page"]

KEYS = {
    "next": ["ArrowRight", "PageDown", " ", "Enter"],
    "previous": ["ArrowLeft", "PageUp", "Shift+ "],
    "first": ["Home"],
    "last": ["End"],
}
"""The keys that step through the frames (a presenter's clicker sends PageDown/PageUp)."""

_WIDE = 1200  # on a wide screen a figure is drawn up to this wide (CSS px)...
_TALL = 520  # ...and this tall, but never above twice its natural size
_PHONE = 0.8  # on a narrow screen, this fraction of its natural size (14 pt text at 15 px)

_STYLE = """
:root { --value: %(value)s; --gradient: %(gradient)s; --text: %(text)s;
        --background: %(background)s; --highlight: %(highlight)s; --note: %(note)s; }
* { box-sizing: border-box; }
body { font-family: "DejaVu Sans", Verdana, Arial, sans-serif; margin: 0; padding: 1rem 2rem;
       color: var(--text); background: var(--background); }
h1 { font-size: 1.3rem; font-weight: normal; margin: 0 0 .3rem; }
.expression { font-family: "DejaVu Sans Mono", Menlo, Consolas, monospace; opacity: .8;
              margin: 0 0 .4rem; overflow-wrap: anywhere; }
.about { margin: 0 0 .6rem; max-width: 60rem; }
.frames { overflow-x: auto; overflow-y: hidden; -webkit-overflow-scrolling: touch;
          text-align: center; cursor: pointer; }
.frames img { display: none; width: max(var(--natural), min(var(--wide), 100%%)); max-width: none;
              height: auto; margin: 0 auto; }
.frames img.shown { display: block; }
nav { display: flex; flex-wrap: wrap; gap: .6rem 1.2rem; align-items: center;
      justify-content: center; margin: .8rem 0 .4rem; }
button { font: inherit; padding: .5rem 1.1rem; min-height: 2.75rem; border: 1px solid #888;
         border-radius: 4px; background: transparent; color: inherit; cursor: pointer; }
button:disabled { opacity: .4; cursor: default; }
#counter { min-width: 7.5em; text-align: center; }
#file { color: var(--highlight); }
#caption { text-align: center; min-height: 2.6em; margin: .4rem auto; max-width: 60rem;
           color: var(--note); }
.help { text-align: center; opacity: .65; font-size: .85rem; }
#wider { text-align: center; opacity: .65; font-size: .85rem; margin: .2rem 0 0; }
@media (max-width: 600px) {
  body { padding: .8rem .8rem; }
  .frames img { width: var(--narrow); margin: 0; }
  #caption { text-align: left; }
}
"""

_SCRIPT = """
(function () {
  var frames = document.querySelectorAll('.frames img');
  var box = document.querySelector('.frames');
  var data = JSON.parse(document.getElementById('frame-data').textContent);
  var counter = document.getElementById('counter');
  var caption = document.getElementById('caption');
  var file = document.getElementById('file');
  var prev = document.getElementById('prev');
  var next = document.getElementById('next');
  var wider = document.getElementById('wider');
  var last = frames.length - 1;
  var k = 0;
  function show(i) {
    k = Math.max(0, Math.min(last, i));
    for (var j = 0; j <= last; j++) { frames[j].classList.toggle('shown', j === k); }
    counter.textContent = 'frame ' + (k + 1) + ' of ' + (last + 1);
    caption.textContent = data.captions[k];
    if (file) { file.textContent = data.files[k]; file.href = data.files[k]; }
    prev.disabled = k === 0;
    next.disabled = k === last;
    wider.hidden = box.scrollWidth <= box.clientWidth + 1;
    follow(k);
  }
  // A figure wider than the window (or a phone) scrolls to the gate the frame is at.
  function follow(i) {
    var at = data.focus[i];
    if (at === null || at === undefined || box.scrollWidth <= box.clientWidth + 1) { return; }
    var img = frames[i].getBoundingClientRect(), view = box.getBoundingClientRect();
    var x = img.left - view.left + box.scrollLeft + at * img.width - box.clientWidth / 2;
    box.scrollLeft = Math.max(0, Math.min(x, box.scrollWidth - box.clientWidth));
  }
  prev.addEventListener('click', function () { show(k - 1); });
  next.addEventListener('click', function () { show(k + 1); });
  var keys = data.keys;
  document.addEventListener('keydown', function (e) {
    if (e.altKey || e.ctrlKey || e.metaKey) { return; }
    // Space and Enter on a focused button or link act on it, not twice.
    var tag = e.target && e.target.tagName;
    if ((e.key === ' ' || e.key === 'Enter') && (tag === 'BUTTON' || tag === 'A')) { return; }
    var name = (e.shiftKey && e.key === ' ') ? 'Shift+ ' : e.key;
    var to;
    if (keys.next.indexOf(name) >= 0) { to = k + 1; }
    else if (keys.previous.indexOf(name) >= 0) { to = k - 1; }
    else if (keys.first.indexOf(name) >= 0) { to = 0; }
    else if (keys.last.indexOf(name) >= 0) { to = last; }
    if (to !== undefined) { e.preventDefault(); show(to); }
  });
  // A click or tap on the figure steps forward (a swipe or a scroll is not a click).
  var start = null;
  box.addEventListener('touchstart', function (e) {
    var t = e.changedTouches[0];
    start = {x: t.clientX, y: t.clientY, scroll: box.scrollLeft};
  }, {passive: true});
  box.addEventListener('touchend', function (e) {
    if (!start) { return; }
    var t = e.changedTouches[0];
    var dx = t.clientX - start.x, dy = t.clientY - start.y;
    // A swipe that scrolled a wide figure sideways was a scroll, not a step.
    var scrolled = Math.abs(box.scrollLeft - start.scroll) > 2;
    if (!scrolled && Math.abs(dx) > 50 && Math.abs(dx) > 2 * Math.abs(dy)) {
      show(dx < 0 ? k + 1 : k - 1);
      box.dataset.swiped = '1';
    }
    start = null;
  }, {passive: true});
  box.addEventListener('click', function () {
    if (box.dataset.swiped) { delete box.dataset.swiped; return; }
    show(k + 1);
  });
  window.addEventListener('resize', function () { show(k); });
  show(0);
})();
"""


def page(title: str, expression: str, svgs: Sequence[str | bytes], captions: Sequence[str],
         files: Sequence[str] | None = None, about: str | None = None,
         theme: Theme = THEME, focus: Sequence[float | None] | None = None) -> str:
    """The page for frames given as SVG texts (or their UTF-8), each with its caption.

    ``files`` are the frames' file names (linked from the page), ``about`` the expression
    file's caption, shown under the title. ``focus`` is, for each frame, where across the
    figure (0 its left edge, 1 its right) the gate it is at stands, or None: a figure
    wider than the window scrolls there.
    """
    if len(svgs) != len(captions) or not svgs or (files is not None and len(files) != len(svgs)):
        raise ValueError("a page needs one caption (and file name) per frame, and a frame")
    colours = {"value": theme.value, "gradient": theme.gradient, "text": theme.text,
               "background": theme.background, "highlight": theme.highlight, "note": theme.note}
    return "\n".join([
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{html.escape(title)}</title>",
        f"<style>{_STYLE % colours}</style>",
        "<noscript><style>.frames img { display: block; margin-bottom: 1rem; } nav, .help "
        "{ display: none; }</style></noscript>",
        "</head>",
        "<body>",
        f"<h1>{html.escape(title)}</h1>",
        f'<p class="expression">{html.escape(expression)}</p>' if expression != title else "",
        f'<p class="about">{html.escape(about)}</p>' if about else "",
        f'<div class="frames" style="{_sizes(svgs[0])}" title="click for the next frame">',
        *_images(svgs, captions),
        "</div>",
        '<p id="wider" hidden>&larr; the figure is wider than the window: scroll it sideways '
        "&rarr;</p>",
        f'<p id="caption">{html.escape(captions[0])}</p>',
        _navigation(len(svgs), files),
        '<p class="help">Next: &rarr;, PageDown, Space, Enter, a click on the figure or a swipe. '
        "Previous: &larr;, PageUp. Home and End go to the first and the last frame.</p>",
        f'<script type="application/json" id="frame-data">'
        f"{_frame_data(captions, files, focus or [None] * len(svgs))}</script>",
        f"<script>{_SCRIPT}</script>",
        "</body>",
        "</html>",
        "",
    ])


def _sizes(first: str | bytes) -> str:
    """The CSS sizes of the figure, from the first frame's size in points."""
    size = svg_size(first.decode("utf-8") if isinstance(first, bytes) else first)
    width, height = size or (72.0, 36.0)  # a point and a half of room when it does not say
    natural = width * 4 / 3  # CSS pixels: a point is 4/3 of one
    # As large as a wide screen has room for, within twice the natural size; never smaller.
    room = min(_WIDE, natural * _TALL / max(1.0, height * 4 / 3))
    wide = min(2 * natural, max(natural, room))
    return (f"--natural: {natural:.0f}px; --wide: {wide:.0f}px; "
            f"--narrow: {natural * _PHONE:.0f}px;")


def _images(svgs: Sequence[str | bytes], captions: Sequence[str]) -> list[str]:
    """One ``<img>`` per frame, its SVG inlined as a data URI; the first one shown."""
    n = len(svgs)
    images = []
    for k, (svg, caption) in enumerate(zip(svgs, captions, strict=True)):
        data = base64.b64encode(svg if isinstance(svg, bytes) else svg.encode("utf-8")).decode("ascii")
        shown = ' class="shown"' if k == 0 else ""
        images.append(f'<img id="frame-{k}"{shown} alt="frame {k + 1} of {n}: '
                      f'{html.escape(caption)}" src="data:image/svg+xml;base64,{data}">')
    return images


def _navigation(n: int, files: Sequence[str] | None) -> str:
    """The buttons, the frame counter and (for a build on disk) the first frame's file."""
    link = (f' <a id="file" href="{html.escape(files[0])}">{html.escape(files[0])}</a>'
            if files else "")
    return ('<nav><button id="prev" type="button">&larr; previous</button>'
            f'<span id="counter">frame 1 of {n}</span>'
            '<button id="next" type="button">next &rarr;</button>'
            f"{link}</nav>")


def _frame_data(captions: Sequence[str], files: Sequence[str] | None,
                focus: Sequence[float | None]) -> str:
    """What the script reads: the captions, the file names, where each frame's gate is,
    and the keys."""
    # JSON inside <script> must not close the element: escape "<" (json.dumps keeps it).
    return json.dumps({"captions": list(captions), "files": list(files or []),
                       "focus": [None if f is None else round(f, 4) for f in focus],
                       "keys": KEYS}, ensure_ascii=False).replace("<", "\\u003c")
