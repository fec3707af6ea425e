"""render/order.py: the inputs of every column drawn top to bottom in the order written.

An RNN step written as Karpathy's min-char-rnn writes it, ``Wx @ x + Wh @ h``, is the case
Graphviz gets wrong by itself: its crossing minimisation puts the second term's inputs
above the first's (Wh above Wx, h0 above x1). The figure drawn keeps the order written,
in the plain figure, with --annotate and in a build; Graphviz's own layout is checked to
get it wrong, or these tests would test nothing.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
import svggeom

import backviz
from backviz.gallery import load
from backviz.render import Style, order, render, to_bytes, to_dot, to_svg
from backviz.render.dot import _written

ROOT = Path(__file__).resolve().parent.parent

RNN = """
h1 = tanh(Wx @ x1 + Wh @ h0)
h2 = tanh(Wx @ x2 + Wh @ h1)
h3 = tanh(Wx @ x3 + Wh @ h2)
loss = sum(h3 * dh3)
"""
DATA = {"x1": [1.0, -1.0], "x2": [0.5, 2.0], "x3": [-1.0, 0.5], "h0": [0.0, 0.0], "dh3": [1.0, -0.5]}
WEIGHTS = {"Wx": [[0.5, -0.3], [0.2, 0.4]], "Wh": [[0.1, 0.6], [-0.7, 0.2]]}
STYLE = Style(precision=2, integers=False)


def _rnn() -> backviz.Trace:
    return backviz.trace(RNN, {**WEIGHTS, **{k: backviz.data(v) for k, v in DATA.items()}})


def _inputs(t: backviz.Trace) -> list[str]:
    """The inputs' DOT names in the order written (the order of their ids)."""
    return [f"n{n.id}" for n in t.graph.nodes if n.op == "input"]


@pytest.mark.parametrize("style", [STYLE, replace(STYLE, annotate=True), replace(STYLE, note_rows=2)],
                         ids=["plain", "annotate", "build"])
def test_an_rnn_keeps_the_order_written_where_graphviz_would_not(style: Style) -> None:
    t = _rnn()
    left_to_graphviz = render(_written(t, style, "svg"), "svg", len(t.graph.gates)).decode()
    assert svggeom.order_inversions(left_to_graphviz, _inputs(t)) != []
    drawn = to_svg(t, style)
    assert svggeom.order_inversions(drawn, _inputs(t)) == []
    # The ties are in the DOT itself: a saved .dot draws the same order with plain dot.
    assert "rank=same" in to_dot(t, style)


def test_the_columns_out_of_order_are_found_and_tied_in_order() -> None:
    t = _rnn()
    names = t.graph.names
    wx, x1, wh, h0 = (names.index(n) for n in ("Wx", "x1", "Wh", "h0"))
    # Graphviz drew Wh above Wx in the first column, and h0 above x1 in the next.
    assert order.misordered(t, _written(t, STYLE, "svg")) == [[wx, wh], [x1, h0]]
    assert order.misordered(t, to_dot(t, STYLE)) == []  # drawn with the ties, nothing is left
    assert order.ties([[wx, wh]]) == [f"  {{rank=same; n{wx}; n{wh}; n{wx} -> n{wh} [style=invis];}}"]


def test_once_a_column_is_out_of_order_every_column_is_tied() -> None:
    """Graphviz draws b above a; tied alone, a above b, it drew e above c in the next column.
    Every column of inputs is tied, c and e's as drawn at first."""
    t = backviz.trace("m = max(a, b)\nd = c - b\np = e * a\nout = d + p + m", a=2, b=3, c=1, e=4)
    a, b, c, e = (t.graph.input_ids[name] for name in "abce")
    assert order.misordered(t, _written(t, Style(), "svg")) == [[a, b]]
    assert order.misordered(t, _written(t, Style(), "svg", [[a, b]])) == [[c, e]]
    assert order.to_tie(t, _written(t, Style(), "svg")) == [[a, b], [c, e]]
    assert order.misordered(t, to_dot(t, Style(), "svg")) == []
    assert svggeom.order_inversions(to_svg(t), _inputs(t)) == []


def test_figures_that_cannot_go_out_of_order_are_not_laid_out_twice() -> None:
    # No shared value: every gate keeps its inputs' order itself (ordering=in).
    assert not order.at_risk(backviz.trace("(x+y)*z", x=-2, y=5, z=-4), annotate=False)
    # Shared, but no commutative gate leaves an order to Graphviz.
    assert not order.at_risk(backviz.trace("a = x - y; b = a / a", x=3, y=1), annotate=False)
    assert order.at_risk(_rnn(), annotate=False)
    assert order.at_risk(backviz.trace("(x+y)*z", x=-2, y=5, z=-4), annotate=True)
    big = backviz.trace("+".join(f"x{i}*x{i}" for i in range(order.CHECKED + 1)),
                        {f"x{i}": 1.0 for i in range(order.CHECKED + 1)})
    assert not order.at_risk(big, annotate=True)


def test_the_dot_is_written_without_graphviz(monkeypatch: pytest.MonkeyPatch) -> None:
    """--format dot needs no Graphviz: where it is missing the DOT is written as laid out
    by Graphviz's own order (nothing to check it against)."""
    t = _rnn()
    monkeypatch.setenv("PATH", "/nonexistent")
    dot = to_dot(t, STYLE)
    assert dot.startswith("digraph") and dot == _written(t, STYLE, None)


def test_the_dot_is_written_where_graphviz_fails_to_lay_it_out(tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """--format dot, --format json and t.to_dot() need no Graphviz: one that fails (or takes
    too long) on the layout that checks the order does not stop the DOT. A figure drawn
    from it still fails, with Graphviz's message."""
    (tmp_path / "dot").write_text("#!/bin/sh\necho 'dot: out of memory' >&2\nexit 3\n")
    (tmp_path / "dot").chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}:/usr/bin:/bin")
    t = _rnn()
    assert to_dot(t, STYLE) == _written(t, STYLE, None)
    assert to_bytes(t, "dot", STYLE).decode() == _written(t, STYLE, "dot")
    with pytest.raises(backviz.RenderError, match=r"status 3.*out of memory"):
        to_svg(t, STYLE)


def test_the_course_notes_staged_figure_is_checked_and_left_as_it_was() -> None:
    """The staged computation shares x and y at commutative gates, so it is laid out to
    see; its inputs come out in order and its DOT gets no ties."""
    figure = load(ROOT / "expressions" / "staged_computation.toml")
    t = backviz.trace(figure.expression, figure.values)
    assert order.at_risk(t, annotate=False)
    assert order.misordered(t, to_dot(t)) == []
    assert to_dot(t) == _written(t, Style(), None)
