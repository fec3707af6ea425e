"""How each figure of the gallery and of a first course fits a 16:9 slide.

    python benchmarks/slide_fit.py [FILE.toml ...]

For each expression file (by default expressions/ and tests/first_course/): its size in
points, the height in pixels of its smallest value or gradient label when the figure is
scaled to fit 1920 x 1080, and how many times its lines cross. A script, not a test:
tests/test_render_fit.py holds the gallery to the rule (labels at least 14 px, nothing
overlapping); this prints the numbers behind it.
"""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

import svggeom  # noqa: E402

import backviz  # noqa: E402
from backviz.gallery import find, load  # noqa: E402
from backviz.render import THEMES, Style, to_svg  # noqa: E402


def figure_svg(path: Path, annotate: bool = False) -> tuple[str, list[str]]:
    """The file's figure as the gallery draws it, and its inputs' DOT names as written."""
    figure = load(path)
    style = Style(caption=figure.caption, theme=THEMES[figure.theme or "slides"], annotate=annotate)
    if figure.precision is not None:
        style = replace(style, precision=figure.precision, integers=False)
    trace = backviz.trace(figure.graph or figure.expression, figure.values).collapse(*figure.collapse)
    inputs = [f"n{n.id}" for n in trace.graph.nodes if n.op == "input"]
    return to_svg(trace, style), inputs


def measure(path: Path) -> tuple[float, float, float, int, int, int]:
    """Width and height (pt), smallest label on the slide (px), crossings, and the pairs
    of inputs drawn out of order in the plain figure and with --annotate."""
    svg, inputs = figure_svg(path)
    width, height = svggeom.size(svg)
    annotated, _ = figure_svg(path, annotate=True)
    return (width, height, svggeom.label_px(svggeom.read(svg), svg), svggeom.crossings(svg),
            len(svggeom.order_inversions(svg, inputs)),
            len(svggeom.order_inversions(annotated, inputs)))


def main(args: list[str]) -> None:
    paths = [Path(a) for a in args] or [*find(ROOT / "expressions"), *find(ROOT / "tests/first_course")]
    print(f"{'figure':28} {'size (pt)':>16} {'label px':>9} {'crossings':>9} {'order':>5} "
          f"{'annotated':>9}")
    for path in paths:
        width, height, px, crossed, order, annotated = measure(path)
        print(f"{path.stem:28} {width:7.0f} x {height:<6.0f} {px:9.1f} {crossed:9d} {order:5d} "
              f"{annotated:9d}")


if __name__ == "__main__":
    main(sys.argv[1:])
