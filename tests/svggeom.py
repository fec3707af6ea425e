"""Read the geometry of a rendered figure: where each text is, and where the lines are.

Graphviz writes every text as ``<text x y font-size fill>`` and every edge as a path of
cubic Bézier segments. Text widths are estimated from DejaVu Sans's advance widths
(the font the figures use), which is what Graphviz itself measured when it laid out
the figure, so the boxes below are the boxes Graphviz reserved.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field

SVG = "{http://www.w3.org/2000/svg}"
GREEN = "#008000"
RED = "#ff0000"

# DejaVu Sans advance widths in em (units / 2048).
_WIDTHS = {**dict.fromkeys("0123456789", 0.636), ".": 0.318, ",": 0.318, "-": 0.361,
           " ": 0.318, "[": 0.390, "]": 0.390, "(": 0.390, ")": 0.390, "×": 0.838,
           "+": 0.838, "*": 0.5, "/": 0.337, "^": 0.838, "e": 0.615, "x": 0.592,
           "i": 0.278, "n": 0.634, "f": 0.352, "a": 0.613,
           # the lower-case letters of named values (loss =, correct_class_scores =)
           "b": 0.635, "c": 0.550, "d": 0.635, "g": 0.635, "h": 0.634, "j": 0.278,
           "k": 0.579, "l": 0.278, "m": 0.974, "o": 0.612, "p": 0.635, "q": 0.635,
           "r": 0.411, "s": 0.521, "t": 0.392, "u": 0.634, "v": 0.592, "w": 0.818,
           "y": 0.592, "z": 0.525, "_": 0.5, "=": 0.838}
_ASCENT = 0.76  # cap height and digits reach about 0.73 em above the baseline
_DESCENT = 0.24


@dataclass(frozen=True)
class Box:
    x0: float
    y0: float
    x1: float
    y1: float

    def overlaps(self, other: Box, slack: float = 0.0) -> bool:
        return (self.x0 < other.x1 - slack and other.x0 < self.x1 - slack
                and self.y0 < other.y1 - slack and other.y0 < self.y1 - slack)

    def contains(self, x: float, y: float, slack: float = 0.0) -> bool:
        return self.x0 + slack < x < self.x1 - slack and self.y0 + slack < y < self.y1 - slack


@dataclass(frozen=True)
class Text:
    node: str  # the <title> of the node group it is in
    text: str
    color: str
    x: float
    y: float  # the baseline
    size: float
    anchor: str

    @property
    def box(self) -> Box:
        width = sum(_WIDTHS.get(c, 0.65) for c in self.text) * self.size
        x0 = {"start": self.x, "middle": self.x - width / 2, "end": self.x - width}[self.anchor]
        return Box(x0, self.y - _ASCENT * self.size, x0 + width, self.y + _DESCENT * self.size)


@dataclass(frozen=True)
class Figure:
    texts: list[Text]
    rules: dict[str, list[tuple[float, float, float]]]  # node -> horizontal lines (x0, x1, y)
    edges: list[tuple[str, list[tuple[float, float]]]]  # edge title -> sampled points
    circles: list[tuple[str, float, float, float]]  # node, cx, cy, r
    # the vertical radius of a gate drawn as an ellipse (an index's label), by node
    heights: dict[str, float] = field(default_factory=dict)


def _points(d: str) -> list[tuple[float, float]]:
    """Sample a Graphviz edge path (M x,y C x,y x,y x,y ...)."""
    nums = [float(v) for v in re.findall(r"-?\d+(?:\.\d+)?", d)]
    pts = list(zip(nums[0::2], nums[1::2], strict=False))
    samples = [pts[0]]
    for i in range(1, len(pts) - 2, 3):
        p0, p1, p2, p3 = pts[i - 1], pts[i], pts[i + 1], pts[i + 2]
        for k in range(1, 21):
            t = k / 20
            a, b, c, e = (1 - t) ** 3, 3 * (1 - t) ** 2 * t, 3 * (1 - t) * t ** 2, t ** 3
            samples.append((a * p0[0] + b * p1[0] + c * p2[0] + e * p3[0],
                            a * p0[1] + b * p1[1] + c * p2[1] + e * p3[1]))
    return samples


def read(svg: str) -> Figure:
    root = ET.fromstring(svg)
    texts: list[Text] = []
    rules: dict[str, list[tuple[float, float, float]]] = {}
    edges: list[tuple[str, list[tuple[float, float]]]] = []
    circles: list[tuple[str, float, float, float]] = []
    heights: dict[str, float] = {}
    for group in root.iter(f"{SVG}g"):
        cls = group.get("class")
        if cls not in ("node", "edge"):
            continue
        title = group.findtext(f"{SVG}title") or ""
        for t in group.iter(f"{SVG}text"):
            color = (t.get("fill") or "black").lower()
            texts.append(Text(title, "".join(t.itertext()), "black" if color == "#000000" else color,
                              float(t.get("x", 0)), float(t.get("y", 0)),
                              float(t.get("font-size", 14)), t.get("text-anchor", "start")))
        if cls == "edge":  # its path; its texts (if any) are Graphviz's own edge labels
            for path in group.iter(f"{SVG}path"):
                edges.append((title, _points(path.get("d", ""))))
            continue
        for poly in group.iter(f"{SVG}polygon"):
            pts = [tuple(map(float, p.split(","))) for p in poly.get("points", "").split()]
            ys = {round(y, 2) for _, y in pts}
            xs = [x for x, _ in pts]
            if len(ys) == 1 and max(xs) - min(xs) > 1:  # a zero-height polygon is an <HR/>
                rules.setdefault(title, []).append((min(xs), max(xs), pts[0][1]))
        for ellipse in group.iter(f"{SVG}ellipse"):
            circles.append((title, float(ellipse.get("cx", 0)), float(ellipse.get("cy", 0)),
                            float(ellipse.get("rx", 0))))
            heights[title] = float(ellipse.get("ry", ellipse.get("rx", 0)))
    return Figure(texts, rules, edges, circles, heights)


def side_problems(fig: Figure) -> list[str]:
    """In linear time: each green text lies above its edge's line, each red text below."""
    found: list[str] = []
    for text in fig.texts:
        if text.color not in (GREEN, RED):
            continue
        lines = fig.rules.get(text.node)
        if not lines:
            found.append(f"{text.text!r} ({text.node}) has no line")
            continue
        _, _, y = max(lines, key=lambda r: r[1] - r[0])
        box = text.box
        if text.color == GREEN and not (box.y1 <= y + 0.5):
            found.append(f"green {text.text!r} ({text.node}) is not above its line")
        if text.color == RED and not (box.y0 >= y - 0.5):
            found.append(f"red {text.text!r} ({text.node}) is not below its line")
    return found


def problems(fig: Figure) -> list[str]:
    """Every way the figure breaks the slide rules; an empty list when it keeps them.

    - every green text lies above its edge's line, and close to it;
    - every red text lies below its edge's line, and close to it;
    - no two texts overlap, no line crosses a text, no text enters a gate's circle.
    """
    found = side_problems(fig)
    for text in fig.texts:
        lines = fig.rules.get(text.node)
        if text.color not in (GREEN, RED) or not lines:
            continue
        x0, x1, _ = max(lines, key=lambda r: r[1] - r[0])
        box = text.box
        if not (x0 - 1 <= box.x0 and box.x1 <= x1 + 1 + 0.05 * text.size):
            found.append(f"{text.text!r} ({text.node}) sticks out past the end of its line")
    # "Close to the line": the nearest green and red rows sit within a few points.
    for node, lines in fig.rules.items():
        x0, x1, y = max(lines, key=lambda r: r[1] - r[0])
        greens = [t.box.y1 for t in fig.texts if t.node == node and t.color == GREEN]
        reds = [t.box.y0 for t in fig.texts if t.node == node and t.color == RED]
        if greens and y - max(greens) > 8:
            found.append(f"the value of {node} is {y - max(greens):.1f}pt above its line")
        if reds and min(reds) - y > 8:
            found.append(f"the gradient of {node} is {min(reds) - y:.1f}pt below its line")
    for i, a in enumerate(fig.texts):
        for b in fig.texts[i + 1:]:
            if a.box.overlaps(b.box, slack=0.5):
                found.append(f"{a.text!r} ({a.node}) overlaps {b.text!r} ({b.node})")
    for title, points in fig.edges:
        for text in fig.texts:
            box = text.box
            if any(box.contains(x, y, slack=1.0) for x, y in points):
                found.append(f"the edge {title} crosses {text.text!r} ({text.node})")
    for node, cx, cy, r in fig.circles:
        for text in fig.texts:
            if text.node == node:
                continue
            b = text.box
            nx, ny = min(max(cx, b.x0), b.x1), min(max(cy, b.y0), b.y1)
            ry = fig.heights.get(node, r)  # an ellipse is as wide as r, as high as ry
            if ((nx - cx) / r) ** 2 + ((ny - cy) / ry) ** 2 < ((r - 1) / r) ** 2:
                found.append(f"{text.text!r} ({text.node}) is inside the circle of {node}")
    return found


def labelled_edges(fig: Figure) -> dict[str, tuple[list[str], list[str]]]:
    """For each edge helper node: its green texts and its red texts, top to bottom."""
    out: dict[str, tuple[list[str], list[str]]] = {}
    for node in fig.rules:
        texts = sorted((t for t in fig.texts if t.node == node), key=lambda t: (t.y, t.x))
        out[node] = ([t.text for t in texts if t.color == GREEN],
                     [t.text for t in texts if t.color == RED])
    return out


def edge_gaps(svg: str) -> list[tuple[str, float]]:
    """Each edge end at a value/gradient rule, with how far it stops short of the rule
    (points; 0 or less when the edge meets or overlaps it)."""
    root = ET.fromstring(svg)
    spans: dict[str, tuple[float, float, float]] = {}  # node -> the whole rule: x0, x1, y
    ends: list[tuple[str, str, tuple[float, float]]] = []
    for group in root.iter(f"{SVG}g"):
        title = group.findtext(f"{SVG}title") or ""
        if group.get("class") == "node":
            xs, y = [], 0.0
            for poly in group.iter(f"{SVG}polygon"):
                pts = [tuple(map(float, p.split(","))) for p in poly.get("points", "").split()]
                if len({round(py, 2) for _, py in pts}) == 1:  # zero height: a piece of the rule
                    xs += [px for px, _ in pts]
                    y = pts[0][1]
            if xs:
                spans[title] = (min(xs), max(xs), y)
        elif group.get("class") == "edge":
            tail, head = title.split("->")
            points = [p for path in group.iter(f"{SVG}path") for p in _points(path.get("d", ""))]
            if head.endswith(":w"):
                ends.append((title, head[:-2] + "<", points[-1]))
            if tail.endswith(":e"):
                ends.append((title, tail[:-2] + ">", points[0]))
    gaps = []
    for title, end, (x, y) in ends:
        x0, x1, ry = spans[end[:-1]]
        gap = x0 - x if end.endswith("<") else x - x1
        gaps.append((title, max(gap, abs(y - ry))))
    return gaps
