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
           "i": 0.278, "n": 0.634, "f": 0.352, "a": 0.613, "l": 0.278, "o": 0.612,
           "s": 0.521, "t": 0.392, "r": 0.411, "d": 0.635, "h": 0.634, "m": 0.974,
           "p": 0.635, "u": 0.634, "c": 0.550, "g": 0.635, "y": 0.592, "=": 0.838,
           "_": 0.5, "b": 0.635, "j": 0.278, "k": 0.579, "q": 0.635, "v": 0.592,
           "w": 0.818, "z": 0.525}
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
    squares: list[tuple[str, Box]] = field(default_factory=list)  # pictures of arrays, by node
    brackets: list[tuple[str, str, float, float, float, float]] = field(default_factory=list)
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


def _add_rule(lines: list[tuple[float, float, float]], rule: tuple[float, float, float]) -> None:
    """Add a piece of an <HR/>: Graphviz draws one piece per column of a table, and the
    pieces that meet at one height are one rule."""
    for i, (x0, x1, y) in enumerate(lines):
        if abs(y - rule[2]) < 0.01 and rule[0] <= x1 + 0.5 and x0 <= rule[1] + 0.5:
            lines[i] = (min(x0, rule[0]), max(x1, rule[1]), y)
            return
    lines.append(rule)


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
                _add_rule(rules.setdefault(title, []), (min(xs), max(xs), pts[0][1]))
        for ellipse in group.iter(f"{SVG}ellipse"):
            circles.append((title, float(ellipse.get("cx", 0)), float(ellipse.get("cy", 0)),
                            float(ellipse.get("rx", 0))))
            heights[title] = float(ellipse.get("ry", ellipse.get("rx", 0)))
    return Figure(texts, rules, edges, circles, _squares(root), _brackets(root), heights)


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
        # A picture's squares are its numbers; the shape written above it is not.
        drawn = [box for n, box in fig.squares if n == node] + \
            [Box(0, top, 0, bottom) for n, _, _, _, top, bottom in fig.brackets if n == node]
        greens = [b.y1 for b in drawn if b.y1 <= y] or \
            [t.box.y1 for t in fig.texts if t.node == node and t.color == GREEN]
        reds = [b.y0 for b in drawn if b.y0 >= y] or \
            [t.box.y0 for t in fig.texts if t.node == node and t.color == RED]
        if greens and y - max(greens) > 8:
            found.append(f"the value of {node} is {y - max(greens):.1f}pt above its line")
        if reds and min(reds) - y > 8:
            found.append(f"the gradient of {node} is {min(reds) - y:.1f}pt below its line")
    for i, a in enumerate(fig.texts):
        for b in fig.texts[i + 1:]:
            # Side by side in one label (a name and its value), the texts sit where Graphviz's
            # own widths put them, which run up to a point short of DejaVu's advances.
            if a.box.overlaps(b.box, slack=1.0 if a.node == b.node else 0.5):
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


SLIDE = (1920, 1080)
"""A 16:9 slide in pixels: a figure is drawn as large as fits it."""


def size(svg: str) -> tuple[float, float]:
    """The figure's width and height in points, as Graphviz writes them."""
    match = re.search(r'<svg width="([\d.]+)pt" height="([\d.]+)pt"', svg)
    assert match, "no size in the SVG"
    return float(match[1]), float(match[2])


def slide_scale(svg: str) -> float:
    """Pixels per point when the figure is scaled to fit the slide."""
    width, height = size(svg)
    return min(SLIDE[0] / width, SLIDE[1] / height)


def label_px(fig: Figure, svg: str) -> float:
    """The smallest value or gradient text, in pixels (its font size) on the slide."""
    from backviz.render import THEMES  # the value and gradient colours of every theme
    colours = {c.lower() for t in THEMES.values() for c in (t.value, t.gradient)}
    sizes = [t.size for t in fig.texts if t.color in colours and t.text.strip()]
    return min(sizes) * slide_scale(svg)


def _node_name(end: str) -> str:
    return end.split(":")[0].strip()


def _wires(svg: str) -> list[tuple[frozenset[str], list[tuple[float, float]]]]:
    """Every line of the figure as a polyline with the nodes it touches: each edge path,
    and each helper's rule (the edge's line through its label)."""
    root = ET.fromstring(svg)
    wires = []
    for group in root.iter(f"{SVG}g"):
        title = group.findtext(f"{SVG}title") or ""
        if group.get("class") == "edge" and "->" in title:
            tail, head = title.split("->")
            ends = frozenset({_node_name(tail), _node_name(head)})
            for path in group.iter(f"{SVG}path"):
                wires.append((ends, _points(path.get("d", ""))))
    fig = read(svg)
    for node, lines in fig.rules.items():
        x0, x1, y = max(lines, key=lambda r: r[1] - r[0])
        wires.append((frozenset({node}), [(x0, y), (x1, y)]))
    return wires


def _cross(p: tuple[float, float], q: tuple[float, float],
           r: tuple[float, float], s: tuple[float, float]) -> bool:
    """Whether segment pq properly crosses segment rs."""
    def side(a: tuple[float, float], b: tuple[float, float], c: tuple[float, float]) -> float:
        return (b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0])
    d1, d2, d3, d4 = side(r, s, p), side(r, s, q), side(p, q, r), side(p, q, s)
    return d1 * d2 < 0 and d3 * d4 < 0


def crossings(svg: str) -> int:
    """How many times two lines of the figure cross, lines that share a node apart
    (an edge meets its own helper's rule, and the edges of one gate meet at it)."""
    wires = _wires(svg)
    count = 0
    for i, (ends_a, a) in enumerate(wires):
        box_a = (min(x for x, _ in a), max(x for x, _ in a), min(y for _, y in a), max(y for _, y in a))
        for ends_b, b in wires[i + 1:]:
            if ends_a & ends_b:
                continue
            if max(x for x, _ in b) < box_a[0] or min(x for x, _ in b) > box_a[1] \
                    or max(y for _, y in b) < box_a[2] or min(y for _, y in b) > box_a[3]:
                continue
            count += sum(_cross(a[k], a[k + 1], b[m], b[m + 1])
                         for k in range(len(a) - 1) for m in range(len(b) - 1))
    return count


def node_centres(svg: str) -> dict[str, tuple[float, float]]:
    """Each node's centre (its texts' middle), by its DOT name."""
    boxes: dict[str, list[Box]] = {}
    for text in read(svg).texts:
        boxes.setdefault(text.node, []).append(text.box)
    return {node: ((min(b.x0 for b in bs) + max(b.x1 for b in bs)) / 2,
                   (min(b.y0 for b in bs) + max(b.y1 for b in bs)) / 2) for node, bs in boxes.items()}


def order_inversions(svg: str, names: list[str]) -> list[tuple[str, str]]:
    """The pairs of nodes (DOT names, in the order they should go top to bottom) drawn the
    other way up, among nodes drawn in one column (their centres within 20 pt)."""
    at = node_centres(svg)
    found = []
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            (xa, ya), (xb, yb) = at[a], at[b]
            if abs(xa - xb) < 20 and ya > yb:
                found.append((a, b))
    return found


def _shape_points(element: ET.Element) -> list[tuple[float, float]]:
    return [tuple(map(float, p.split(","))) for p in element.get("points", "").split()]  # type: ignore[misc]


def brackets(svg: str) -> list[tuple[str, str, float, float, float, float]]:
    """Every bracket of an array: (node, colour, x of its upright, x of its arms' ends,
    top, bottom). Graphviz draws each as a polyline of four points, ``[`` or ``]``."""
    return _brackets(ET.fromstring(svg))


def _brackets(root: ET.Element) -> list[tuple[str, str, float, float, float, float]]:
    found = []
    for group in root.iter(f"{SVG}g"):
        if group.get("class") != "node":
            continue
        title = group.findtext(f"{SVG}title") or ""
        for line in group.iter(f"{SVG}polyline"):
            pts = _shape_points(line)
            if len(pts) == 4 and pts[0][0] == pts[3][0] and pts[1][0] == pts[2][0]:
                found.append((title, (line.get("stroke") or "").lower(), pts[1][0], pts[0][0],
                              min(y for _, y in pts), max(y for _, y in pts)))
    return found


def squares(svg: str) -> list[tuple[str, Box]]:
    """The squares of every picture of an array (filled, or outlined), by node."""
    return _squares(ET.fromstring(svg))


def _squares(root: ET.Element) -> list[tuple[str, Box]]:
    found = []
    for group in root.iter(f"{SVG}g"):
        if group.get("class") != "node":
            continue
        title = group.findtext(f"{SVG}title") or ""
        for shape in group.iter():
            if shape.tag not in (f"{SVG}polygon", f"{SVG}polyline"):
                continue
            pts = _shape_points(shape)
            xs, ys = [x for x, _ in pts], [y for _, y in pts]
            width, height = max(xs) - min(xs), max(ys) - min(ys)
            if len(pts) == 5 and 1 < width < 12 and abs(width - height) < 0.6:
                found.append((title, Box(min(xs), min(ys), max(xs), max(ys))))
    return found


def bracket_gaps(svg: str) -> list[tuple[str, float]]:
    """For each bracket, how far its numbers (texts or squares of its colour, between its
    arms) stay from it: the room between the upright and the nearest of them (points)."""
    fig = read(svg)
    marks = [(t.node, t.color, t.box) for t in fig.texts]
    root_squares = squares(svg)
    gaps = []
    for node, colour, upright, arm, top, bottom in brackets(svg):
        inside = [box for n, c, box in marks if n == node and c == colour
                  and top <= (box.y0 + box.y1) / 2 <= bottom]
        inside += [box for n, box in root_squares if n == node and top <= box.y0 and box.y1 <= bottom]
        if arm > upright:  # "[": the numbers start to its right
            near = [b.x0 - upright for b in inside if b.x0 >= upright - 0.5]
        else:
            near = [upright - b.x1 for b in inside if b.x1 <= upright + 0.5]
        if not inside:  # an array of zeros drawn as a picture: no square to hug
            continue
        gaps.append((f"{node} {colour} {'[' if arm > upright else ']'}", min(near) if near else 1e9))
    return gaps


def node_boxes(svg: str) -> dict[str, Box]:
    """Each helper's label, the box of everything drawn in it (texts, rules, brackets and
    squares), by node: where two overlap, their labels do."""
    fig = read(svg)
    parts: dict[str, list[Box]] = {}
    for text in fig.texts:
        parts.setdefault(text.node, []).append(text.box)
    for node, box in squares(svg):
        parts.setdefault(node, []).append(box)
    for node, _, upright, arm, top, bottom in brackets(svg):
        parts.setdefault(node, []).append(Box(min(upright, arm), top, max(upright, arm), bottom))
    return {node: Box(min(b.x0 for b in bs), min(b.y0 for b in bs), max(b.x1 for b in bs),
                      max(b.y1 for b in bs)) for node, bs in parts.items() if node in fig.rules}
