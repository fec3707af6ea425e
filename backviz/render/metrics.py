"""How wide text is drawn: DejaVu Sans's advance widths, for notes and for gate labels.

Graphviz measures text with the font's metrics; these tables let the renderer size the
band of notes and fit each gate's label into its circle before Graphviz runs.
"""

from __future__ import annotations

import math
import re

__all__ = ["GATE", "GATE_FONT", "NOTE_SIZE", "gate_font_size", "note_width", "svg_resized", "svg_size"]

# DejaVu Sans advance widths (em) of the characters notes use most; others count as wide.
_ADVANCE = {**dict.fromkeys("0123456789", 0.636), **dict.fromkeys(" .,:", 0.318),
            **dict.fromkeys("()[]", 0.39), **dict.fromkeys("=+^×", 0.838), "-": 0.361,
            "/": 0.337, "e": 0.615, "t": 0.392, "o": 0.612, "h": 0.634, "b": 0.635,
            "i": 0.278, "l": 0.278, "n": 0.634, "p": 0.635, "u": 0.634, "s": 0.521,
            "g": 0.635, "a": 0.613, "d": 0.635, "r": 0.411, "f": 0.352}
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
NOTE_SIZE = 12


def note_width(text: str, size: float = NOTE_SIZE) -> float:
    """About how wide a note is drawn (points): a little more, never less."""
    return sum(_ADVANCE.get(c, 0.9) for c in text) * size * 1.04 + 2


def gate_font_size(lines: list[str]) -> float:
    """The largest font size (points, in steps of 0.5, at least 6) at which these lines fit
    into a gate's circle."""
    widest = max(sum(_LETTERS.get(c, 0.7) for c in line) for line in lines)
    size = float(GATE_FONT)
    while size > 6:
        half = len(lines) * size * 1.2 / 2  # the lines' half height
        if half < _GATE_ROOM and widest * size <= 2 * math.sqrt(_GATE_ROOM ** 2 - half ** 2):
            break
        size -= 0.5
    return size


# The size Graphviz writes in an SVG's first tag, in points.
_SVG_SIZE = re.compile(r'<svg width="([\d.]+)pt" height="([\d.]+)pt"')


def svg_size(svg: str) -> tuple[float, float] | None:
    """A Graphviz SVG's width and height in points, or None when it does not say."""
    match = _SVG_SIZE.search(svg)
    return (float(match[1]), float(match[2])) if match else None


def svg_resized(svg: str, width: float, height: float) -> str:
    """The SVG shown at another size in CSS pixels (its viewBox, the drawing's
    coordinates, unchanged)."""
    return _SVG_SIZE.sub(f'<svg width="{round(width)}px" height="{round(height)}px"', svg, count=1)
