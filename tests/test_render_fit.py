"""The slide-fit rule over the gallery and a first course's forward passes, read from the SVG.

Each figure, drawn with the default options and scaled to fit a 1920 x 1080 slide, keeps
its value and gradient labels at least 14 px high, and nothing in it overlaps; its
brackets hug their numbers, its gates are circles of one size, and the inputs of a gate
are drawn top to bottom in the order written, with --annotate and in a build too.
tests/first_course/ holds ten forward passes of a first course (batch and layer norm,
attention, an RNN, losses); benchmarks/slide_fit.py prints the numbers these tests hold.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
import svggeom

import backviz
from backviz.gallery import Figure, find, load
from backviz.render import THEMES, Style, to_svg

ROOT = Path(__file__).resolve().parent.parent
FILES = [*find(ROOT / "expressions"), *find(Path(__file__).parent / "first_course")]
HUG = 10  # points: the most room between a bracket and its numbers (a loose one had 40)


def _figure(path: Path, **options: object) -> tuple[str, list[list[str]]]:
    """The file's figure as the gallery draws it, and for each gate the DOT names of the
    inputs it takes, in the order they are written in."""
    figure = load(path)
    trace = _trace(figure)
    graph = trace.graph
    # The order written is the order the inputs first appear in (their ids): in
    # micrograd's program a + b comes before b - a, and a stays above b.
    inputs = [[f"n{i}" for i in sorted(set(gate.inputs)) if graph.ops[i] == "input"]
              for gate in graph.gates]
    return to_svg(trace, replace(_style(figure), **options)), inputs  # type: ignore[arg-type]


def _style(figure: Figure) -> Style:
    style = Style(caption=figure.caption, theme=THEMES[figure.theme or "slides"])
    if figure.precision is not None:
        style = replace(style, precision=figure.precision, integers=False)
    return style


def _trace(figure: Figure) -> backviz.Trace:
    """The file's trace, its data declared, as the gallery draws it."""
    return backviz.trace(figure.graph or figure.expression, figure.values).collapse(*figure.collapse)


@pytest.fixture(scope="module", params=FILES, ids=[p.stem for p in FILES])
def drawn(request: pytest.FixtureRequest) -> tuple[str, str, list[list[str]]]:
    path: Path = request.param
    svg, inputs = _figure(path)
    return path.stem, svg, inputs


def test_labels_are_at_least_14_px_on_a_slide(drawn: tuple[str, str, list[list[str]]]) -> None:
    _, svg, _ = drawn
    assert svggeom.label_px(svggeom.read(svg), svg) >= 14, svggeom.size(svg)


def test_nothing_overlaps(drawn: tuple[str, str, list[list[str]]]) -> None:
    _, svg, _ = drawn
    fig = svggeom.read(svg)
    assert svggeom.problems(fig) == []
    boxes = sorted(svggeom.node_boxes(svg).items())
    overlapping = [(a, b) for i, (a, box) in enumerate(boxes) for b, other in boxes[i + 1:]
                   if box.overlaps(other, slack=0.5)]
    assert overlapping == []
    for title, points in fig.edges:  # no edge runs through a picture or a bracket
        ends = {end.split(":")[0] for end in title.split("->")}
        for node, box in boxes:
            if node not in ends:
                assert not any(box.contains(x, y, slack=1.0) for x, y in points), (title, node)


def test_brackets_hug_their_numbers(drawn: tuple[str, str, list[list[str]]]) -> None:
    _, svg, _ = drawn
    # Arms of 4 points, a little longer where the array is narrower than its value's or
    # gradient's twin above or below (figure 5's x: 6); numbers within a few points.
    found = svggeom.brackets(svg)
    assert all(3.5 <= abs(arm - upright) <= 8 for _, _, upright, arm, _, _ in found)
    assert [g for g in svggeom.bracket_gaps(svg) if g[1] > HUG] == []


def test_gates_are_circles_of_one_size(drawn: tuple[str, str, list[list[str]]]) -> None:
    _, svg, _ = drawn
    gates = [c for c in svggeom.read(svg).circles if c[0].startswith("n")]
    assert gates and {r for *_, r in gates} == {18.0}


def test_inputs_of_a_gate_are_drawn_in_the_order_written(drawn: tuple[str, str, list[list[str]]]) -> None:
    name, svg, inputs = drawn
    path = next(p for p in FILES if p.stem == name)
    annotated, _ = _figure(path, annotate=True)
    build, _ = _figure(path, note_rows=2)  # a build's master, whose layout its frames keep
    # And the inputs of different gates that share a column (render/order.py).
    every = sorted({name for names in inputs for name in names}, key=lambda n: int(n[1:]))
    for figure in (svg, annotated, build):
        assert [svggeom.order_inversions(figure, names) for names in inputs] == [[]] * len(inputs)
        assert svggeom.order_inversions(figure, every) == []


def test_an_rnn_reads_its_inputs_top_to_bottom_step_by_step() -> None:
    """The gallery's RNN over three steps, written as the lecture writes it (Wh @ h + Wx @ x):
    x1, x2 and x3, each in its step's column, are drawn x1 above x2 above x3, with one
    crossing (measured without the file's data, its x3 was on top and its lines crossed 4
    times; written Wx @ x + Wh @ h, its steps climb and cross 4 times, tests/test_render_order.py)."""
    figure = load(ROOT / "expressions" / "rnn_three_steps.toml")
    svg, _ = _figure(figure.path)
    at = svggeom.node_centres(svg)
    graph = _trace(figure).graph
    heights = [at[f"n{graph.names.index(x)}"][1] for x in ("x1", "x2", "x3")]
    assert heights == sorted(heights) and len(set(heights)) == 3  # y grows down
    assert svggeom.crossings(svg) <= 1


def test_the_checks_catch_what_they_check() -> None:
    """Each check fails on a figure that breaks it."""
    # A bracket stretched under a name, as Graphviz drew it before the name had a column
    # of its own: the numbers float 40 points inside it.
    loose = backviz.trace("h = W @ x; f = sum(h)", W=[[1, 2], [3, 4], [5, 6]], x=[0.5, -1])
    svg = loose.to_svg()
    left = next(b for b in svggeom.brackets(svg) if b[2] < b[3] and b[1] == svggeom.RED)
    moved = svg.replace(f"{left[2]:g},", f"{left[2] - 40:g},")
    assert max(g for _, g in svggeom.bracket_gaps(moved)) > HUG
    # A chain of 46 gates is too long for a slide at 14 px, even in two rows.
    chain = backviz.trace("x" + "*1.5+1" * 45, x=1.0).to_svg()
    assert svggeom.label_px(svggeom.read(chain), chain) < 14
    # Two labels moved onto each other overlap.
    boxes = svggeom.node_boxes(loose.to_svg())
    a, b = sorted(boxes)[:2]
    assert boxes[a].overlaps(boxes[a], slack=0.5) and not boxes[a].overlaps(boxes[b], slack=0.5)
    # Inputs the other way up are found.
    flipped = backviz.trace("w0 - x0", w0=1, x0=2).to_svg()
    assert svggeom.order_inversions(flipped, ["n0", "n1"]) == []
    assert svggeom.order_inversions(flipped, ["n1", "n0"]) == [("n1", "n0")]


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_the_width_estimate_is_near_the_drawn_width(path: Path) -> None:
    """fit.width, which decides whether a figure is drawn compactly and wraps, is within
    20% of the width Graphviz draws (a figure under 1,000 points is as wide as its caption)."""
    from backviz.render.fit import second_row, too_wide, width
    from backviz.render.numbers import Numbers

    figure = load(path)
    svg, _ = _figure(path)
    trace = _trace(figure)
    numbers = Numbers(trace, _style(figure))
    numbers.compact = too_wide(trace, numbers)
    drawn, _ = svggeom.size(svg)
    if drawn >= 1000:
        assert 0.8 <= drawn / width(trace, numbers, second_row(trace, numbers)) <= 1.2


def test_a_long_chain_wraps_onto_a_second_row() -> None:
    """micrograd's chain of 28 gates, too wide for a slide, goes on under itself: the gates
    after e = c - d are drawn below every gate before it, from the left, and the line of e
    runs from the end of the first row round to the start of the second."""
    from backviz.render.fit import second_row
    from backviz.render.numbers import Numbers

    path = ROOT / "expressions" / "micrograd_more_ops.toml"
    svg, _ = _figure(path)
    at = svggeom.node_centres(svg)
    trace = backviz.trace(load(path).expression)
    numbers = Numbers(trace, Style(precision=4, integers=False))
    numbers.compact = True
    row = second_row(trace, numbers)
    gates = {f"n{n.id}" for n in trace.graph.gates}
    second, first = gates & {f"n{i}" for i in row}, gates - {f"n{i}" for i in row}
    assert second and first
    assert min(at[g][1] for g in second) > max(at[g][1] for g in first)  # below (y grows down)
    assert min(at[g][0] for g in second) < max(at[g][0] for g in first) / 4  # from the left
    e = trace.graph.names.index("e")
    titles = [title for title, _ in svggeom.read(svg).edges]
    assert any(t.startswith(f"n{e}->w{e}_") for t in titles)  # e's line goes round
    # A figure that fits has no second row.
    assert second_row(backviz.trace("w0 * x0 + w1", w0=2, x0=-1, w1=3), numbers) == frozenset()


def test_a_loss_wraps_with_its_regularisation_term_on_the_second_row() -> None:
    """The CS231n softmax loss as the assignment writes it, 19 gates in a row (12.4 px
    labels), goes on under itself after the pick [y]: the regularisation term, which only
    the last gate uses, is drawn on the second row, W's line straight down to it, as is
    num_train's to its gates; the one line that wraps is the picked probabilities'."""
    from backviz.render.fit import second_row, wrapping
    from backviz.render.numbers import Numbers

    figure = load(ROOT / "expressions" / "cs231n_softmax_loss.toml")
    svg, _ = _figure(figure.path)
    at = svggeom.node_centres(svg)
    trace = _trace(figure)
    numbers = Numbers(trace, _style(figure))
    numbers.compact = True
    row = second_row(trace, numbers)
    graph = trace.graph
    second = [n for n in graph.gates if n.id in row]
    assert [n.label for n in second] == ["log", "*-1", "sum", "/", "*", "sum", "*", "+"]
    picked = graph.names.index("correct_logprobs") - 2  # [y], then log and *-1
    assert graph.nodes[picked].op == "index"
    assert wrapping(trace, row) == [(picked, picked + 1)]
    first = [f"n{n.id}" for n in graph.gates if n.id not in row]
    assert min(at[f"n{n.id}"][1] for n in second) > max(at[g][1] for g in first)  # below
    assert svggeom.label_px(svggeom.read(svg), svg) >= 14


@pytest.mark.parametrize("n", [6, 7, 8, 9])
def test_a_wrapped_chain_is_drawn_in_two_flat_rows_the_second_below(n: int) -> None:
    """Nothing else tells Graphviz which row goes on top: a seven-layer tanh chain drew its
    second row above the first, its way back running across the first row. The way back
    comes in under the first row's first input, and the second row starts below it. And
    each row is flat (the chain's own lines weigh more than its inputs'): with equal
    weights both rows went down in steps, the second reaching above the first's lowest gate."""
    from backviz.render.fit import second_row
    from backviz.render.numbers import Numbers

    layers = "\n".join(f"h{k} = tanh(h{k - 1}*w{k} + b{k})" for k in range(1, n + 1))
    weights = [1.515, -1.456, 1.862, 0.507, 0.029, -0.596, 0.337, -1.2, 0.8][:n]
    biases = [-0.805, -0.566, -0.128, -0.398, -0.228, 0.17, 0.808, 0.3, -0.4][:n]
    values = {"x": 0.5, **{f"w{k}": w for k, w in enumerate(weights, 1)},
              **{f"b{k}": b for k, b in enumerate(biases, 1)}}
    t = backviz.trace(f"h0 = x\n{layers}", values)
    numbers = Numbers(t, Style())
    numbers.compact = True
    row = second_row(t, numbers)
    assert row, "the chain is too wide for one row"
    at = svggeom.node_centres(t.to_svg())
    first = [at[f"n{g.id}"][1] for g in t.graph.gates if g.id not in row]
    second = [at[f"n{g.id}"][1] for g in t.graph.gates if g.id in row]
    x = t.graph.input_ids["x"]
    assert at[f"n{x}"][1] < min(second)  # the first input is above the whole second row
    assert min(second) > max(first)  # y grows down
    assert max(first) - min(first) < 5 and max(second) - min(second) < 5


def test_a_small_cnn_from_torch_fits_a_slide_once_its_modules_are_collapsed() -> None:
    """Issue 20: docs/bridges.md's small CNN, conv and fc collapsed, on a 1920 x 1080 slide."""
    import sys
    sys.path.insert(0, str(ROOT / "examples"))
    import bridges  # examples/bridges.py: the figure docs/bridges.md shows

    svg = bridges.torch_cnn()[1].to_svg()
    fig = svggeom.read(svg)
    assert svggeom.label_px(fig, svg) >= 14, svggeom.size(svg)
    assert svggeom.problems(fig) == []
    boxes = sorted(svggeom.node_boxes(svg).items())
    assert [(a, b) for i, (a, box) in enumerate(boxes) for b, other in boxes[i + 1:]
            if box.overlaps(other, slack=0.5)] == []
