"""The renderer: the slide figures' geometry read back from the SVG, and the DOT itself."""

from __future__ import annotations

import random
import re
from pathlib import Path

import numpy as np
import pytest
import svggeom
from slides import FIG5, FIGURES

import backviz
from backviz.render import MAX_GATES, THEMES, Style, render, to_bytes, to_dot


def _style(name: str) -> Style:
    # Figure 4's slide writes its whole numbers with two decimals.
    return Style(precision=2, integers=False) if name == "fig4" else Style()


@pytest.mark.parametrize("name", sorted(FIGURES))
def test_slide_figure_numbers_sit_above_and_below_their_lines(name: str) -> None:
    expression, values, expected = FIGURES[name]
    svg = backviz.trace(expression, values).to_svg(_style(name))
    fig = svggeom.read(svg)
    edges = svggeom.labelled_edges(fig)
    assert {k: (g[0], r[0]) for k, (g, r) in edges.items()} == expected
    assert all(len(g) == 1 and len(r) == 1 for g, r in edges.values())
    assert svggeom.problems(fig) == []


def test_slide_figure_1_has_gates_and_inputs_in_black() -> None:
    expression, values, _ = FIGURES["fig1"]
    fig = svggeom.read(backviz.trace(expression, values).to_svg())
    black = sorted(t.text for t in fig.texts if t.color == "black")
    assert black == ["*", "+", "x", "y", "z"]
    assert len(fig.circles) == 2


def test_figure_5_writes_its_arrays_on_the_edges() -> None:
    expression, values = FIG5
    fig = svggeom.read(backviz.trace(expression, values).to_svg(Style(precision=3)))
    edges = svggeom.labelled_edges(fig)
    assert edges["e2_0"] == (["0.100", "0.500", "-0.300", "0.800"],
                             ["0.088", "0.176", "0.104", "0.208"])  # W and dW, row by row
    assert edges["e2_1"] == (["0.200", "0.400"], ["-0.112", "0.636"])
    assert edges["e3_0"] == (["0.220", "0.260"], ["0.440", "0.520"])
    assert edges["out"] == (["0.116"], ["1.000"])
    assert svggeom.problems(fig) == []


def test_matrix_and_elementwise_products_look_different_side_by_side() -> None:
    W, x = np.array([[1.0, 2.0], [3.0, 4.0]]), np.array([1.0, -1.0])
    fig = svggeom.read(backviz.trace("sum((W@x) * (W@x))", W=W, x=x).to_svg())
    black = sorted(t.text for t in fig.texts if t.color == "black")
    assert black == ["*", "@", "@", "W", "sum", "x"]
    # Alone, the matrix product is the slides' "*" (figure 5), and so is an elementwise one.
    expression, values = FIG5
    fig = svggeom.read(backviz.trace(expression, values).to_svg())
    assert sorted(t.text for t in fig.texts if t.color == "black") == ["*", "L2", "W", "x"]
    fig = svggeom.read(backviz.trace("sum(x * x)", x=x).to_svg())
    assert "*" in [t.text for t in fig.texts if t.color == "black"]


def _random_expression(rng: random.Random, depth: int, names: list[str]) -> str:
    """A random expression as a person might type it: shared variables, every kind of gate."""
    if depth == 0 or (depth < 5 and rng.random() < 0.2):
        return rng.choice(names)
    sub = lambda: _random_expression(rng, depth - 1, names)
    r = rng.random()
    if r < 0.5:
        return f"({sub()}{rng.choice('+-*/')}{sub()})"
    if r < 0.65:
        return f"{rng.choice(['max', 'min'])}({sub()},{sub()})"
    if r < 0.85:
        return f"{rng.choice(['exp', 'tanh', 'sigmoid', 'relu', 'abs', 'sin'])}({sub()})"
    return f"({sub()}{rng.choice(['+1', '*2', '**2', '-3'])})"


def test_labels_hold_on_twelve_random_graphs() -> None:
    """The helper-node technique, measured: every label of 12 busy graphs in place."""
    labels = 0
    found: list[str] = []
    for seed in range(12):
        rng = random.Random(seed)
        names = [f"v{i}" for i in range(rng.randint(2, 8))]
        graph = backviz.parse(_random_expression(rng, 7, names))
        t = backviz.trace(graph, {v: rng.uniform(-2, 2) for v in graph.variables})
        fig = svggeom.read(t.to_svg())
        labels += sum(1 for x in fig.texts if x.color in (svggeom.GREEN, svggeom.RED))
        found += svggeom.problems(fig)
    assert labels > 1000
    assert found == []


def test_the_geometry_check_catches_graphviz_edge_labels() -> None:
    """The check can fail: Graphviz's own edge labels break the slide rules."""
    dot = """digraph { rankdir=LR; node [shape=circle, fontname="DejaVu Sans"];
      a -> c [label=<<FONT COLOR="#008000">-2.00</FONT>>, fontname="DejaVu Sans"];
      b -> c [label=<<FONT COLOR="#008000">5.00</FONT>>, fontname="DejaVu Sans"];
      c -> d [xlabel=<<FONT COLOR="#FF0000">-4.00</FONT>>, fontname="DejaVu Sans"]; }"""
    fig = svggeom.read(render(dot, "svg").decode())
    assert any("has no line" in p for p in svggeom.problems(fig))


def test_dot_and_svg_are_deterministic() -> None:
    expression, values, _ = FIGURES["fig2"]
    first = backviz.trace(expression, values)
    second = backviz.trace(backviz.parse(expression), values)
    assert first.to_dot() == second.to_dot()
    assert first.to_svg() == second.to_svg()
    assert "0x" not in first.to_dot()  # no memory addresses


def test_dot_is_self_contained_slide_style() -> None:
    expression, values, _ = FIGURES["fig1"]
    dot = backviz.trace(expression, values).to_dot()
    assert "rankdir=LR" in dot
    assert 'COLOR="#008000"' in dot and 'COLOR="#FF0000"' in dot
    assert dot.count("<HR/>") == 5  # one line per edge: four edges and the output stub
    assert 'fontname="DejaVu Sans,Verdana,Arial,sans-serif"' in dot  # ends in a generic family
    assert ('n2 [label="+", fixedsize=true, ordering=in]' in dot
            and 'n4 [label="*", fixedsize=true, ordering=in]' in dot)
    assert "nslimit" not in dot  # only for large graphs


def test_integers_only_when_every_number_is_whole() -> None:
    fig1 = backviz.trace("(x+y)*z", x=-2, y=5, z=-4).to_dot()
    assert ">-12<" in fig1 and ">-12.00<" not in fig1
    explicit = backviz.trace("(x+y)*z", x=-2, y=5, z=-4).to_dot(Style(precision=2, integers=False))
    assert ">-12.00<" in explicit
    half = backviz.trace("(x+y)*z", x=-2.5, y=5, z=-4).to_dot()
    assert ">-10.00<" in half and ">2.50<" in half
    tie = backviz.trace("max(x,x)", x=1).to_dot()  # whole values, but each edge carries 0.5
    assert tie.count('COLOR="#FF0000">0.50<') == 2


def test_precision_and_no_negative_zero() -> None:
    dot = backviz.trace("x*y", x=-0.04, y=2).to_dot(Style(precision=1))
    assert ">-0.0<" not in dot and ">-0.1<" in dot  # -0.08 rounds to -0.1
    assert ">2.0<" in dot
    dot = backviz.trace("x*y", x=0.0, y=-2).to_dot(Style(precision=1, integers=False))
    assert ">-0.0<" not in dot and ">0.0<" in dot  # x*y = -0.0


def test_a_nonzero_number_never_shows_as_zero() -> None:
    t = backviz.trace("x*y", x=1.2e-9, y=1.0)
    dot = t.to_dot()
    assert ">1.2e-09<" in dot and ">0.00<" not in dot
    assert backviz.trace("x*y", x=-0.004, y=1.0).to_dot().count(">-4.0e-03<") == 3
    assert ">1.0e+300<" in backviz.trace("x*y", x=1e300, y=1.0).to_dot()
    assert ">123456789<" in backviz.trace("x*y", x=123456789.0, y=1.0).to_dot()
    assert ">1.2e+09<" in backviz.trace("x*y", x=1.2e9, y=1.0).to_dot()
    # precision 4: two more decimals before switching, and three in the mantissa
    assert ">1.200e-09<" in t.to_dot(Style(precision=4))
    assert "1.2e-09" in repr(t) and "d/dy = 1.2e-09" in repr(t)


def test_large_arrays_are_summarised_by_shape_and_range() -> None:
    x = np.linspace(-1, 1, 4096)
    dot = backviz.trace("sum(relu(x))", x=x).to_dot()
    assert "4096 in [-1.00, 1.00]" in dot
    assert dot.count("<TD") < 200  # not 4096 numbers
    dot = backviz.trace("sum(W@x)", W=np.ones((64, 4096)), x=x).to_dot()
    assert "64×4096 in [1.00, 1.00]" in dot


def test_small_arrays_are_written_in_full() -> None:
    dot = backviz.trace("sum(x)", x=[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16]).to_dot()
    assert all(f">{v}<" in dot for v in range(1, 17))


def test_non_finite_values_render() -> None:
    t = backviz.trace("log(x)*y", x=-1, y=2)
    fig = svggeom.read(t.to_svg())
    assert "nan" in [x.text for x in fig.texts if x.color == svggeom.GREEN]
    assert t.warnings == ("the gate 'log' (column 1) gives nan in the forward pass",)


def _sum_of_products(n: int) -> backviz.Trace:
    expression = " + ".join(f"a{i}*b{i}" for i in range(n))
    return backviz.trace(expression, {f"{c}{i}": 1.0 for i in range(n) for c in "ab"})


def test_large_graphs_bound_dots_network_simplex() -> None:
    dot = _sum_of_products(200).to_dot()
    assert "newrank=true, nslimit=0.15, nslimit1=0.15, mclimit=0.1" in dot  # 399 gates: 60/399
    assert "nslimit" not in _sum_of_products(150).to_dot()  # 299 gates


def test_graphs_above_the_limit_are_refused_with_a_pointer_to_json() -> None:
    t = _sum_of_products(MAX_GATES // 2 + 1)
    with pytest.raises(backviz.RenderError, match=r"--format json"):
        t.to_svg()
    assert to_bytes(t, "json").startswith(b"{")
    assert to_bytes(t, "dot").startswith(b"digraph")


def test_save_writes_every_format(tmp_path) -> None:  # type: ignore[no-untyped-def]
    t = backviz.trace("(x+y)*z", x=-2, y=5, z=-4)
    magic = {"svg": b"<?xml", "png": b"\x89PNG", "pdf": b"%PDF", "dot": b"digraph", "json": b"{"}
    for fmt, head in magic.items():
        path = t.save(tmp_path / f"fig.{fmt}")
        assert path.read_bytes().startswith(head), fmt
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(f"fig.{f}" for f in magic)


def test_save_writes_into_a_pipe_or_device_and_never_replaces_it(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import os
    import stat
    import threading

    t = backviz.trace("(x+y)*z", x=-2, y=5, z=-4)
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    received: list[bytes] = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_bytes()), daemon=True)
    reader.start()
    t.save(fifo, "json")
    reader.join(timeout=10)
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)
    assert received and received[0].startswith(b"{")
    with pytest.raises(IsADirectoryError):
        t.save(tmp_path, "json")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pipe"]


@pytest.mark.parametrize("path", [None, 3, b"fig.svg"])
def test_save_needs_a_path(path: object, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    t = backviz.trace("(x+y)*z", x=-2, y=5, z=-4)
    with pytest.raises(backviz.BackvizError,
                       match=f"must be a string or a Path, not {type(path).__name__}$"):
        t.save(path)  # type: ignore[arg-type]
    assert list(tmp_path.iterdir()) == []


def test_missing_graphviz_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    t = backviz.trace("(x+y)*z", x=-2, y=5, z=-4)
    with pytest.raises(backviz.GraphvizNotFoundError) as err:
        t.to_svg()
    assert "apt-get install graphviz" in str(err.value)
    assert "brew install graphviz" in str(err.value)
    assert "--format dot and --format json work without it" in str(err.value)
    assert to_dot(t).startswith("digraph")  # needs no Graphviz


@pytest.mark.parametrize("precision", [-1, 13, 2.5, True, "2"])
def test_a_bad_precision_is_a_backviz_error(precision: object) -> None:
    with pytest.raises(backviz.BackvizError, match="precision must be a whole number from 0 to 12"):
        Style(precision=precision)  # type: ignore[arg-type]


def _figures() -> list[tuple[str, backviz.Trace]]:
    """The slide figures, the gallery and 12 random graphs."""
    from backviz.gallery import find, load
    out = [(name, backviz.trace(e, v)) for name, (e, v, _) in FIGURES.items()]
    out += [(p.stem, backviz.trace(load(p).expression, load(p).values))
            for p in find(Path(__file__).parent.parent / "expressions")]
    for seed in range(12):
        rng = random.Random(seed)
        names = [f"v{i}" for i in range(rng.randint(2, 8))]
        graph = backviz.parse(_random_expression(rng, 7, names))
        out.append((f"random {seed}", backviz.trace(graph, {v: rng.uniform(-2, 2) for v in graph.variables})))
    return out


def test_edges_meet_the_value_gradient_rule_without_a_gap() -> None:
    ends = 0
    for name, t in _figures():
        gaps = svggeom.edge_gaps(t.to_svg())
        ends += len(gaps)
        assert [g for g in gaps if g[1] > 0.05] == [], name
    assert ends > 1000  # every end of every edge at a rule, of 30-odd figures


def test_every_gate_is_one_size_and_its_label_fits() -> None:
    t = backviz.trace("max(x,0)*min(y,6) + mean(y) + tanh(x) + sigmoid(x) + (3-x) + x**2",
                      x=1.5, y=2)
    fig = svggeom.read(t.to_svg())
    gates = [c for c in fig.circles if c[0].startswith("n")]  # not the dots where x forks
    radii = {r for _, _, _, r in gates}
    assert radii == {18.0} and len(gates) == 13
    assert all(r < 2 for node, _, _, r in fig.circles if node.startswith("f"))
    for node, cx, cy, r in gates:
        for text in (x for x in fig.texts if x.node == node):
            box = text.box
            corners = [(box.x0, box.y0), (box.x1, box.y0), (box.x0, box.y1), (box.x1, box.y1)]
            assert all((x - cx) ** 2 + (y - cy) ** 2 <= r ** 2 for x, y in corners), text.text
            assert text.size >= 9
    gate = next(x.node for x in fig.texts if x.text == "max")
    lines = sorted(x.text for x in fig.texts if x.node == gate)
    assert lines == ["(x,0)", "max"]  # broken before its bracket


def test_the_svg_names_the_expression_and_describes_the_result() -> None:
    svg = backviz.trace("(x+y)*z", x=-2, y=5, z=-4).to_svg()
    assert re.search(r"<svg[^>]*>\n<g[^>]*>\n<title>\(x\+y\)\*z</title>\n"
                     r"<desc>\(x\+y\)\*z = -12; d/dx = -4, d/dy = -4, d/dz = 3</desc>", svg)
    assert 'font-family="DejaVu Sans,Verdana,Arial,sans-serif"' in svg
    assert 'font-family="DejaVu Sans"' not in svg


def test_max_elements_writes_larger_arrays_in_full() -> None:
    x = np.arange(20.0) + 0.5
    assert "20 in [0.50, 19.50]" in backviz.trace("sum(x)", x=x).to_dot(Style(max_elements=16))
    assert ">19.50<" not in backviz.trace("sum(x)", x=x).to_dot()  # a picture, by default
    dot = backviz.trace("sum(x)", x=x).to_dot(Style(max_elements=20))
    assert "20 in" not in dot and ">19.50<" in dot
    with pytest.raises(backviz.BackvizError, match="max_elements"):
        Style(max_elements=0)


def test_annotations_stay_under_their_gates_on_a_larger_graph() -> None:
    # Before each word was kept in a cluster with its gate, this 80-gate graph had words
    # up to 108 pt below their gate, among other gates.
    rng = random.Random(0)
    graph = backviz.parse(_random_expression(rng, 11, [f"v{i}" for i in range(8)]))
    t = backviz.trace(graph, {v: rng.uniform(-2, 2) for v in graph.variables})
    fig = svggeom.read(t.to_svg(Style(annotate=True)))
    centres = {node: (cx, cy) for node, cx, cy, _ in fig.circles}
    words = [x for x in fig.texts if x.text in ("distributor", "router", "switcher")]
    assert len(words) >= 20
    for word in words:
        cx, cy = centres["n" + word.node[1:]]
        box = word.box
        assert box.x0 - 2 <= cx <= box.x1 + 2, word  # centred under its gate...
        assert 18 < box.y0 - cy < 30, word  # ...just below its circle


def test_a_picture_shows_signs_and_sizes() -> None:
    from backviz.render.labels import picture
    html = picture(np.array([[1.0, -0.25], [0.0, -1.0]]), "#008000")
    cells = re.findall(r'<TD FIXEDSIZE="TRUE" WIDTH="(\d+)" HEIGHT="\d+" ([^>]*)></TD>', html)
    # The place of each number is 11 points; the squares inside: 11 filled (1), 6 outlined
    # (-0.25: a quarter of the area), none for 0, 11 outlined (-1).
    squares = [(int(w), "BGCOLOR" in look) for w, look in cells if look]
    assert squares == [(11, True), (6, False), (11, False)]
    t = backviz.trace("h = relu(W @ x); f = sum(h)", W=np.eye(5) - 0.5, x=np.arange(5.0))
    svg = t.to_svg()
    assert "■ positive, □ negative" in svg and ">h = <" in svg and ">5<" in svg
    fig = svggeom.read(svg)
    assert len(fig.squares) > 5 and svggeom.problems(fig) == []


def test_gates_have_a_short_notation_and_a_key() -> None:
    t = backviz.trace("logsumexp(S[arange(2), y]) + sum(mean(S, axis=1) / sqrt(2) + 1e-5)",
                      S=[[1.0, 2.0], [3.0, 4.0]], y=[0, 1])
    dot = t.to_dot()
    for drawn in ('"lse"', '"[y]"', '"μ₁"', '"/√2"', '"+ε"'):
        assert f"label={drawn}" in dot, drawn
    for key in ("lse: logsumexp", "[y]: [arange(2), y]", "μ₁: mean axis=1", "+ε: +1e-05"):
        assert key in dot, key
    assert 'label="/3"' in backviz.trace("x / 3", x=1.0).to_dot()
    third = backviz.trace("x * (1/3)", x=1.0)
    assert 'label="*0.33"' in third.to_dot()  # the figure's 2 decimals
    # At 4 decimals, as many as the circle holds at 9 points or more (not *0.3…).
    assert 'label="*0.33", fixedsize=true, fontsize=10.5' in third.to_dot(Style(precision=4))
    svg = t.to_svg()
    gates = [c for c in svggeom.read(svg).circles if c[0].startswith("n")]
    assert {r for *_, r in gates} == {18.0}


def test_a_user_gates_name_is_set_smaller_before_it_is_cut() -> None:
    program = "{name}(u) = 1 / (1 + exp(-u)); f = {name}(x)"
    for name, drawn in (("squash", "squash"), ("Neuron", "Neuron"),
                        ("normalised", "normal…")):
        t = backviz.trace(program.format(name=name), x=0.5).collapse(name)
        dot = t.to_dot()
        assert f'label="{drawn}", fixedsize=true' in dot, (name, dot)
        size = float(re.split(r"[],]", dot.split(f'label="{drawn}", fixedsize=true, fontsize=')[1])[0])
        assert 7 <= size < 9
        assert (f"{drawn}: {name}" in dot) == (drawn != name)  # the key gives a cut name whole


def test_values_computed_from_given_data_alone_are_drawn_without_a_gradient() -> None:
    """X.shape[0] and X / 2, for X given data: numbers handed over, no red below them."""
    t = backviz.trace("data X; n = X.shape[0]; Xn = X / 2; f = sum(Xn @ w) / n",
                      X=[[1.0, 2.0], [3.0, 5.0]], w=[1.5, -0.25])
    ids = t.graph.bindings
    assert {ids["n"], ids["Xn"]} <= t.given_values and t.graph.output not in t.given_values
    assert float(t.grads[ids["n"]]) != 0  # the engine has it; the figure leaves it out
    drawn = svggeom.read(t.to_svg(Style(precision=3)))
    reds = {t.text.strip() for t in drawn.texts if t.color.upper() == THEMES["slides"].gradient}
    for name in ("n", "Xn"):
        for g in np.ravel(t.grads[ids[name]]):
            assert f"{g:.3f}" not in reds, (name, g)
    assert f"{float(np.ravel(t.grads[ids['w']])[0]):.3f}" in reds


def test_a_reshape_is_flat_or_rshp_in_its_circle() -> None:
    t = backviz.trace("f = sum(x.reshape(-1) * 2) + sum(x.reshape(3, 2))",
                      x=[[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    dot = t.to_dot()
    assert re.findall(r'label="(flat|rshp)"', dot) == ["flat", "rshp"]
    assert "flat: reshape(-1)" in dot and "rshp: reshape(3,2)" in dot
