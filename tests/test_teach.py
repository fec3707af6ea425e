"""Teaching mode: step-by-step builds, the chain rule in words, the gradient check, --annotate.

The frames are read back from their SVG: which red numbers each one shows, where the
notes are, that nothing moves from one frame to the next, that hidden numbers do not
give the answer away.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections import Counter
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import svggeom
from click.testing import CliRunner
from test_ops import SIG_CALL

import backviz
from backviz.cli import cli
from backviz.gallery import find, load
from backviz.ops import OPS, UPSTREAM
from backviz.render import THEMES, Style, render, to_dot, to_svg
from backviz.teach import MAX_STEPS, TOLERANCE, build, check, explain, frame_svgs, frames, steps

ROOT = Path(__file__).resolve().parent.parent
SVG = "{http://www.w3.org/2000/svg}"
FIG1 = ("(x+y)*z", {"x": -2, "y": 5, "z": -4})
FIG2 = ("1/(1+exp(-(w0*x0+w1*x1+w2)))", {"w0": 2, "x0": -1, "w1": -3, "x1": -2, "w2": -3})
FIG3 = ("sigmoid(w0*x0+w1*x1+w2)", FIG2[1])
FIG4 = ("2*(x*y+max(z,w))", {"x": 3, "y": -4, "z": 2, "w": -1})
FIG5 = ("l2(W@x)", {"W": [[0.1, 0.5], [-0.3, 0.8]], "x": [0.2, 0.4]})
FIGURES = {"fig1": FIG1, "fig2": FIG2, "fig3": FIG3, "fig4": FIG4, "fig5": FIG5}
NOTE = "#1f4e99"


def texts(svg: str) -> list[tuple[str, str, str, float]]:
    """(group title, fill, text, x) of every text, the graph's label included."""
    out = []
    for group in ET.fromstring(svg).iter(f"{SVG}g"):
        title = group.findtext(f"{SVG}title") or ""
        for t in group.findall(f"{SVG}text"):
            out.append((title, (t.get("fill") or "black").lower(), "".join(t.itertext()),
                        float(t.get("x", 0))))
    return out


def reds(svg: str) -> dict[str, list[str]]:
    """The red numbers shown, by the edge helper they are on (e<gate>_<input>, out)."""
    out: dict[str, list[str]] = {}
    for title, fill, text, _ in texts(svg):
        if fill == "#ff0000":
            out.setdefault(title, []).append(text)
    return out


def notes(svg: str) -> list[str]:
    return [text for _, fill, text, _ in texts(svg) if fill == NOTE]


def cumulative(additions: list[dict[str, str]]) -> list[dict[str, list[str]]]:
    shown: dict[str, list[str]] = {}
    out = []
    for added in additions:
        shown = {**shown, **{k: [v] for k, v in added.items()}}
        out.append(shown)
    return out


# --- the operator table: every gate can write its local gradient ---------------------

# Gates whose parameter is an axis or an index: a matrix, its index inputs, the parameter.
SAMPLES: dict[str, list[object]] = {
    **{name: [np.array([[0.5, 1.5, -1.0], [1.25, 0.75, 1.25]]), 1]
       for name in ("sum", "mean", "amax", "amin", "logsumexp", "softmax", "log_softmax")},
    "index": [np.array([[0.5, 1.5], [1.25, 0.75]]), np.array([1.0, 0.0]),
              (("arange", 2), ("input", "y"))],
    "call": [np.float64(1.5), SIG_CALL],
    **{name: [np.array([[0.5, 1.5, -1.0], [1.25, 0.75, 1.25]]), (1, True)]
       for name in ("var", "std")},
    "clip": [np.array([0.5, 1.5, -1.0]), (-0.5, 1.0)],
    "compare": [np.array([0.5, 1.5]), np.array([1.0, 1.0]), ("<",)],
    "compare_c": [np.array([0.5, 1.5]), (">", 1.0)],
    "where": [np.array([0.5, 1.5]), np.array([2.0, 3.0]), np.array([1.0, 0.0]), (None, None)],
    "shape": [np.ones((2, 3)), ("shape", 0)],
    "zeros_like": [np.ones((2, 3)), (0.0,)],
    "reshape": [np.ones((2, 3)), np.float64(3), (("input", "n"), -1)],
    "setitem": [np.ones((2, 3)), np.array([5.0, 6.0]), np.array([2.0, 0.0]),
                (("arange", 2), ("input", "y"))],
    "fill": [np.ones((2, 3)), np.array([2.0, 0.0]), (0.0, (("arange", 2), ("input", "y")))],
    "conv2d": [np.ones((1, 3, 3)), np.ones((2, 1, 2, 2)), (1, 0)],
    **{name: [np.arange(16.0).reshape(1, 4, 4), (2, 2)] for name in ("max_pool2d", "avg_pool2d")},
}


def _sample(name: str) -> list[object]:
    if name == "matmul":
        return [np.array([[0.5, 1.5], [1.25, 0.75]]), np.array([0.5, 1.5])]
    if name in SAMPLES:
        return SAMPLES[name]
    args: list[object] = [np.float64(1.5), np.float64(0.5)][: OPS[name].arity]
    if OPS[name].has_const:
        args.append(2.0)
    return args


@pytest.mark.parametrize("name", sorted(OPS))
def test_every_gate_writes_its_local_gradient(name: str) -> None:
    op = OPS[name]
    assert op.local is not None, f"{name} has no local-gradient text"
    args = _sample(name)
    out = op.forward(*args)
    written = op.local(lambda x: f"<{np.round(x, 2).tolist()}>", out, *args)
    assert isinstance(written, tuple) and len(written) == len(args) - op.has_const
    for text in written:
        assert isinstance(text, str) and text.strip(), f"{name} writes an empty local gradient"
        assert text.count("(") == text.count(")"), f"{name}: unbalanced {text!r}"
        assert text.count(UPSTREAM) <= 2  # softmax: p * (g - sum(p * g))


def test_local_texts_of_the_slides() -> None:
    """The local gradients the slides write, with their numbers."""
    t = backviz.trace(*FIG2)
    products = {s.gate.label: [p.text for p in s.products] for s in steps(t)}
    assert products["1/x"] == ["(-1/1.37^2)(1.00) = -0.53"]
    assert products["+1"] == ["(1)(-0.53) = -0.53"]
    assert products["exp"] == ["(e^-1.00)(-0.53) = -0.20"]
    assert products["*-1"] == ["(-1)(-0.20) = 0.20"]
    t3 = backviz.trace(*FIG3)
    assert [p.text for p in steps(t3)[0].products] == ["((1 - 0.73)(0.73))(1.00) = 0.20"]
    t5 = backviz.trace(*FIG5)
    assert [p.text for p in steps(t5, Style(precision=3, integers=False))[0].products] == [
        "(2[0.220, 0.260])(1.000) = [0.440, 0.520]"]


def test_large_arrays_are_written_by_their_shape() -> None:
    t = backviz.trace("sum(relu(x))", x=list(np.linspace(-1, 1, 4096)))
    relu = steps(t)[1]
    assert relu.lines == ["([4096 values])([4096 values]) = 4096 in [0.00, 1.00]"]


# --- frames ------------------------------------------------------------------------

def test_figure1_frames_show_the_gradients_right_to_left() -> None:
    made = frame_svgs(backviz.trace(*FIG1))
    assert len(made) == 4
    expected = cumulative([
        {},
        {"out": "1"},
        {"e4_0": "-4", "e4_1": "3"},  # '*' switches: dq = z = -4, dz = q = 3
        {"e2_0": "-4", "e2_1": "-4"},  # '+' distributes -4 to x and y
    ])
    assert [reds(svg) for _, svg in made] == expected
    assert [notes(svg) for _, svg in made] == [
        [], ["df/df = 1"],
        ["(-4)(1) = -4 to x+y", "(3)(1) = 3 to z"],
        ["(1)(-4) = -4 to both inputs"]]


def test_figure2_frames_show_the_gradients_right_to_left() -> None:
    made = frame_svgs(backviz.trace(*FIG2))
    assert len(made) == 10  # forward, output gradient, then 8 gates
    expected = cumulative([
        {},
        {"out": "1.00"},
        {"e12_0": "-0.53"},  # 1/x
        {"e11_0": "-0.53"},  # +1
        {"e10_0": "-0.20"},  # exp
        {"e9_0": "0.20"},  # *-1
        {"e8_0": "0.20", "e8_1": "0.20"},  # the second +, to the first + and to w2
        {"e6_0": "0.20", "e6_1": "0.20"},  # the first +
        {"e5_0": "-0.39", "e5_1": "-0.59"},  # w1 * x1
        {"e2_0": "-0.20", "e2_1": "0.39"},  # w0 * x0
    ])
    assert [reds(svg) for _, svg in made] == expected
    assert [notes(svg) for _, svg in made] == [
        [], ["df/df = 1.00"],
        ["(-1/1.37^2)(1.00) = -0.53"],
        ["(1)(-0.53) = -0.53"],
        ["(e^-1.00)(-0.53) = -0.20"],
        ["(-1)(-0.20) = 0.20"],
        ["(1)(0.20) = 0.20 to both inputs"],
        ["(1)(0.20) = 0.20 to both inputs"],
        ["(-2.00)(0.20) = -0.39 to w1", "(-3.00)(0.20) = -0.59 to x1"],
        ["(-1.00)(0.20) = -0.20 to w0", "(2.00)(0.20) = 0.39 to x0"]]


def test_last_frame_has_every_number_of_the_figure() -> None:
    for expression, values in FIGURES.values():
        t = backviz.trace(expression, values)
        _, last = frame_svgs(t)[-1]
        full = to_svg(t)
        assert reds(last) == reds(full)
        assert Counter((ti, tx) for ti, f, tx, _ in texts(last) if f == "#008000") == \
            Counter((ti, tx) for ti, f, tx, _ in texts(full) if f == "#008000")


def test_frames_do_not_move() -> None:
    """Same size, same circles, same lines in every frame: only colours and notes change."""
    for expression, values in FIGURES.values():
        made = frame_svgs(backviz.trace(expression, values))
        geometry = set()
        for _, svg in made:
            fig = svggeom.read(svg)
            size = re.search(r'viewBox="([^"]+)"', svg)
            assert size is not None
            geometry.add((size.group(1), tuple(fig.circles),
                          tuple(sorted((k, tuple(v)) for k, v in fig.rules.items()))))
        assert len(geometry) == 1, expression


def test_frames_keep_the_slide_rules_and_hide_no_answer() -> None:
    for expression, values in FIGURES.values():
        for _, svg in frame_svgs(backviz.trace(expression, values)):
            assert svggeom.problems(svggeom.read(svg)) == []
            # A gradient not reached yet is drawn invisibly, in spaces: no digit, no sign.
            # (Graphviz writes a transparent text's colour as #fffffe or transparent.)
            hidden = [text for _, fill, text, _ in texts(svg)
                      if fill not in ("#008000", "#ff0000", NOTE, "black", "#000000")]
            for text in hidden:
                assert text.strip("\u2003\u2007\u2008[] ") == "", repr(text)
            assert len(hidden) + len(reds(svg)) > 0


def test_the_highlighted_gate_and_its_note_are_one_above_the_other() -> None:
    t = backviz.trace(*FIG2)
    for frame, svg in frame_svgs(t)[2:]:
        circles = {title: cx for title, cx, _, _ in svggeom.read(svg).circles}
        highlighted = re.findall(r"<title>(n\d+)</title>\s*<ellipse fill=\"#e8f0fb\"", svg)
        assert highlighted == [f"n{frame.style.highlight}"]
        cx = circles[highlighted[0]]
        view = re.search(r'viewBox="0.00 0.00 ([0-9.]+) ', svg)
        assert view is not None
        # The gate's note is centred under it, unless the figure's right edge stops it.
        for _, fill, text, x in texts(svg):
            if fill == NOTE:
                right = svggeom.Text("", text, fill, x, 0, 12, "start").box.x1
                assert x - 2 <= cx <= right + 2 or right > float(view.group(1)) - 20, (text, cx)


def test_a_branch_shows_the_sum_when_the_second_share_arrives() -> None:
    t = backviz.trace("exp(x) + x*y", x=0, y=3)
    made = frame_svgs(t)
    assert [notes(svg) for _, svg in made] == [
        [], ["df/df = 1"],
        ["(1)(1) = 1 to both inputs"],
        ["(3)(1) = 3 to x", "(0)(1) = 0 to y"],
        ["(e^0)(1) = 1", "gradients add at x: 3 + 1 = 4"]]
    # x = 0, exp = 1, y = 2, * = 3, + = 4: each edge from x carries its own share.
    assert reds(made[-1][1])["e3_0"] == ["3"] and reds(made[-1][1])["e1_0"] == ["1"]
    assert steps(t)[-1].sentence == "(e^0)(1) = 1; gradients add at branches: x gets 3 + 1 = 4"
    square = steps(backviz.trace("x*x", x=3))[0]
    assert square.sentence == ("(3)(1) = 3 to both inputs: the mul gate switches; "
                               "gradients add at branches: x gets 3 + 3 = 6")


def _elements(svg: str) -> list[tuple[str, dict[str, str], str]]:
    """Every element of an SVG in document order: tag, attributes, text."""
    return [(e.tag, dict(e.attrib), (e.text or "").strip()) for e in ET.fromstring(svg).iter()]


def _numbers(text: str) -> list[float]:
    return [float(v) for v in re.findall(r"-?\d+(?:\.\d+)?", text)]


def _same_drawing(ours: str, theirs: str) -> list[str]:
    """Where two SVGs differ: every element, attribute and text must be the same, except
    that coordinates (x, y, points, paths, sizes) may differ by less than a pixel."""
    found = []
    a, b = _elements(ours), _elements(theirs)
    if [e[0] for e in a] != [e[0] for e in b]:
        return [f"different elements: {len(a)} against {len(b)}"]
    for (tag, attrs, text), (_, their_attrs, their_text) in zip(a, b, strict=True):
        where = f"{tag.removeprefix(SVG)} {text!r}"
        if text != their_text:
            found.append(f"{where}: text, not {their_text!r}")
        if attrs.keys() != their_attrs.keys():
            found.append(f"{where}: attributes {sorted(attrs)}, not {sorted(their_attrs)}")
            continue
        for key, value in attrs.items():
            other = their_attrs[key]
            if key in ("x", "y", "cx", "cy", "rx", "ry", "points", "d", "viewBox", "width",
                       "height", "transform"):
                x, y = _numbers(value), _numbers(other)
                if len(x) != len(y) or any(abs(p - q) >= 1 for p, q in zip(x, y, strict=True)):
                    found.append(f"{where}: {key}={value!r}, not {other!r}")
            elif value != other:
                found.append(f"{where}: {key}={value!r}, not {other!r}")
    return found


GALLERY = find(ROOT / "expressions")


@pytest.mark.parametrize(("path", "theme"), [(p, None) for p in GALLERY]
                         + [(GALLERY[0], "dark"), (GALLERY[0], "colorblind")],
                         ids=lambda x: getattr(x, "stem", x))
def test_frames_from_one_layout_are_graphviz_frames(path: Path, theme: str | None) -> None:
    """Every frame, drawn from the one layout of the build, is what Graphviz draws from
    the frame's own DOT: the same nodes, texts, colours and sides of the line, every
    coordinate within a pixel (the notes' x may differ by Graphviz's rounding)."""
    figure = load(path)
    t = backviz.trace(figure.expression, figure.values)
    style = Style(annotate=path.stem == "gate_patterns",
                  theme=THEMES[theme or figure.theme or "slides"])
    if figure.precision is not None:
        style = replace(style, precision=figure.precision, integers=False)
    made = frame_svgs(t, style)
    assert len(made) == len(t.graph.gates) + 2
    for k, (frame, svg) in enumerate(made):
        theirs = render(to_dot(t, frame.style, "svg"), "svg").decode("utf-8")
        assert _same_drawing(svg, theirs) == [], f"frame {k}"
        if style.theme == THEMES["slides"]:  # svggeom and notes() know the slides' colours
            assert svggeom.side_problems(svggeom.read(svg)) == []
            assert notes(svg) == notes(theirs) == [note.text for note in frame.style.notes]


def test_the_comparison_of_drawings_sees_a_difference() -> None:
    _, svg = frame_svgs(backviz.trace(*FIG1))[-1]
    assert _same_drawing(svg, svg) == []
    hidden = svg.replace('fill="#ff0000"', 'fill="#fffffe"', 1)
    assert any("#fffffe" in problem for problem in _same_drawing(hidden, svg))
    moved = svg.replace('cx="', 'cx="1', 1)
    assert any("cx=" in problem for problem in _same_drawing(moved, svg))
    assert _same_drawing(svg.replace('cx="', 'cx="0', 1), svg) == []  # a leading zero is no move
    assert _same_drawing(svg.replace(">&#45;4<", ">&#45;5<", 1), svg) != []
    assert _same_drawing(svg.replace("</text>", "</text><text>x</text>", 1), svg) != []


def test_frames_are_deterministic() -> None:
    t = backviz.trace(*FIG2)
    assert build(t, title="f") == build(backviz.trace(*FIG2), title="f")


def test_a_build_is_refused_above_the_limit() -> None:
    expression = "+".join(["x"] * (MAX_STEPS + 2))
    with pytest.raises(backviz.BackvizError, match=f"has {MAX_STEPS + 1} gates"):
        frames(backviz.trace(expression, x=1))


def test_frames_with_annotate_keep_the_patterns() -> None:
    t = backviz.trace(*FIG4)
    for frame in frames(t, Style(annotate=True)):
        dot = to_dot(t, frame.style)
        assert dot.count("distributor") == 1 and dot.count("router") == 1
        assert dot.count("switcher") == 1


# --- --annotate ----------------------------------------------------------------------

def test_annotate_writes_the_patterns_under_their_gates() -> None:
    t = backviz.trace(*FIG4)
    assert "distributor" not in to_dot(t)
    svg = to_svg(t, Style(annotate=True))
    fig = svggeom.read(svg)
    circles = {title: (cx, cy, r) for title, cx, cy, r in fig.circles}
    labels = {n.id: n.label for n in t.graph.nodes}
    found = {}
    for text in fig.texts:
        if text.color == "#555555":
            gate = int(text.node.removeprefix("c"))
            cx, cy, r = circles[f"n{gate}"]
            assert text.box.y0 > cy + r - 1, f"{text.text} is not under its gate"
            assert text.box.x0 < cx < text.box.x1
            found[labels[gate]] = text.text
    assert found == {"*": "switcher", "max": "router", "+": "distributor"}
    assert svggeom.problems(fig) == []


# --- --explain -----------------------------------------------------------------------

def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args))
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return result.exit_code, result.output


def test_explain_figure2_prints_the_slides_numbers(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    code, out = run(FIG2[0], "--w0", "2", "--x0", "-1", "--w1", "-3", "--x1", "-2", "--w2", "-3",
                    "--explain")
    assert code == 0
    assert out.splitlines() == [
        "backward pass of 1/(1+exp(-(w0*x0+w1*x1+w2))) = 0.73, one gate at a time from the "
        "output; each gradient is (local)(upstream):",
        "  start                                df/df = 1.00",
        "  1/x    1/(1+exp(-(w0*x0+w1*x1+w2)))  (-1/1.37^2)(1.00) = -0.53",
        "  +1     1+exp(-(w0*x0+w1*x1+w2))      (1)(-0.53) = -0.53",
        "  exp    exp(-(w0*x0+w1*x1+w2))        (e^-1.00)(-0.53) = -0.20",
        "  *-1    -(w0*x0+w1*x1+w2)             (-1)(-0.20) = 0.20",
        "  +      w0*x0+w1*x1+w2                (1)(0.20) = 0.20 to both inputs: the add gate "
        "distributes",
        "  +      w0*x0+w1*x1                   (1)(0.20) = 0.20 to both inputs: the add gate "
        "distributes",
        "  *      w1*x1                         (-2.00)(0.20) = -0.39 to w1, (-3.00)(0.20) = -0.59 "
        "to x1: the mul gate switches",
        "  *      w0*x0                         (-1.00)(0.20) = -0.20 to w0, (2.00)(0.20) = 0.39 "
        "to x0: the mul gate switches",
        "gradients: d/dw0 = -0.20, d/dx0 = 0.39, d/dw1 = -0.39, d/dx1 = -0.59, d/dw2 = 0.20",
    ]
    assert not (tmp_path / "output").exists()  # --explain alone writes nothing


def test_explain_names_the_router() -> None:
    lines = explain(backviz.trace(*FIG4))
    assert "  max    max(z,w)          (1)(2) = 2 to z, (0)(2) = 0 to w: the max gate routes" in lines
    assert "  *      x*y               (-4)(2) = -8 to x, (3)(2) = 6 to y: the mul gate switches" in lines


def test_explain_a_file_and_a_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    folder = tmp_path / "gallery"
    folder.mkdir()
    (folder / "a.toml").write_text('title = "A"\nexpression = "(x+y)*z"\n'
                                   "[values]\nx = -2\ny = 5\nz = -4\n")
    (folder / "b.toml").write_text('title = "B"\nexpression = "exp(x)"\n[values]\nx = 0\n')
    code, out = run(str(folder / "b.toml"), "--explain")
    assert (code, out.splitlines()[2]) == (0, "  exp    exp(x)  (e^0)(1) = 1")
    code, out = run(str(folder), "--explain")
    assert code == 0
    assert f"{folder / 'a.toml'}:" in out.splitlines() and f"{folder / 'b.toml'}:" in out
    assert ("  +      x+y      (1)(-4) = -4 to both inputs: the add gate distributes"
            in out.splitlines())


# --- --check -------------------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(FIGURES))
def test_check_passes_on_the_slides(name: str) -> None:
    results = check(backviz.trace(*FIGURES[name]))
    assert results and all(r.error < TOLERANCE for r in results), results


@pytest.mark.parametrize("path", find(ROOT / "expressions"), ids=lambda p: p.stem)
def test_check_passes_on_the_gallery(path: Path) -> None:
    code, out = run(str(path), "--check")
    assert code == 0, out
    assert out.splitlines()[0].startswith("gradient check of ")
    figure = load(path)
    # one line per input, given data and index inputs (without a gradient) excepted
    gradients = backviz.trace(figure.graph or figure.expression, figure.values).gradients
    assert len(out.splitlines()) == 1 + len(gradients)
    assert all(line.endswith("  ok") for line in out.splitlines()[1:])


def test_check_reports_the_largest_error_and_where() -> None:
    t = backviz.trace(*FIG5)
    results = {r.name: r for r in check(t)}
    assert set(results) == {"W", "x"}
    assert all(len(r.index) == np.ndim(FIG5[1][r.name]) for r in results.values())


def test_check_fails_on_a_wrong_rule(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    # A mul gate that sends its second input twice its share.
    wrong = replace(OPS["mul"], vjp=lambda g, out, x, y: (g * y, 2 * g * x))
    monkeypatch.setitem(OPS, "mul", wrong)
    code, out = run("(x+y)*z", "--x", "-2", "--y", "5", "--z", "-4", "--check")
    assert code == 1
    lines = out.splitlines()
    assert re.fullmatch(r"  x  largest relative error \d\.\de-\d\d  ok", lines[1])
    assert re.fullmatch(r"  y  largest relative error \d\.\de-\d\d  ok", lines[2])
    assert lines[3] == "  z  largest relative error 5.0e-01  FAILED (analytic 6, numeric 3)"
    assert lines[-1] == ("Error: gradient check failed: the relative error of d/dz is 5.0e-01, "
                         f"above the tolerance {TOLERANCE:g}")


def test_check_fails_on_a_wrong_rule_in_a_folder(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setitem(OPS, "exp", replace(OPS["exp"], vjp=lambda g, out, x: (2 * g * out,)))
    code, out = run(str(ROOT / "expressions"), "--check")
    assert code == 1
    uses_exp = [p for p in find(ROOT / "expressions")
                if any(n.op == "exp" for n in backviz.parse(load(p).expression).nodes)]
    assert uses_exp
    message = out.splitlines()[-1]
    if len(uses_exp) == 1:
        assert message.startswith(f"Error: gradient check failed: {uses_exp[0]}: ")
    else:
        assert message == (f"Error: gradient check failed for {len(uses_exp)} of "
                           f"{len(find(ROOT / 'expressions'))} expression files (see above)")


def test_check_a_kink_fails_and_says_so() -> None:
    t = backviz.trace("relu(x)", x=0)
    (result,) = check(t)
    assert not result.ok and result.analytic == 0.0 and result.numeric == pytest.approx(0.5)


# --- --steps through the command -----------------------------------------------------

def test_steps_writes_the_frames_and_the_page(tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    code, out = run(FIG1[0], "--x", "-2", "--y", "5", "--z", "-4", "--steps")
    assert code == 0
    assert out.splitlines()[-1] == ("wrote output/x_y_z/: frame-00.svg ... frame-03.svg "
                                    "(4 frames) and index.html")
    folder = tmp_path / "output" / "x_y_z"
    assert sorted(p.name for p in folder.iterdir()) == [
        "frame-00.svg", "frame-01.svg", "frame-02.svg", "frame-03.svg", "index.html"]
    assert not (tmp_path / "output" / "x_y_z.svg").exists()
    first = {p.name: p.read_bytes() for p in folder.iterdir()}
    page = first["index.html"].decode()
    assert "http" not in page and "frame 1 of 4" in page and page.count("<img ") == 4
    assert '<a id="file" href="frame-00.svg">frame-00.svg</a>' in page
    # The same command again writes the same bytes.
    run(FIG1[0], "--x", "-2", "--y", "5", "--z", "-4", "--steps")
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == first


def test_steps_into_a_folder_whose_name_ends_like_a_file(tmp_path: Path) -> None:
    # -o figure.svg/ (with the slash) asks for a folder, and so does an existing folder.
    for output in (f"{tmp_path / 'figure.svg'}/", str(tmp_path / "made.png")):
        if not output.endswith("/"):
            Path(output).mkdir()
        code, out = run(FIG1[0], "--x", "-2", "--y", "5", "--z", "-4", "--steps", "-o", output)
        assert code == 0, out
        assert len(list(Path(output).glob("frame-*.svg"))) == 4


def test_steps_png_into_a_named_folder_drops_stale_frames(tmp_path: Path) -> None:
    folder = tmp_path / "build"
    code, _ = run(FIG2[0], *[a for k, v in FIG2[1].items() for a in (f"--{k}", str(v))],
                  "--steps", "-o", str(folder))
    assert code == 0 and len(list(folder.glob("frame-*.svg"))) == 10
    code, out = run(FIG1[0], "--x", "-2", "--y", "5", "--z", "-4", "--steps", "-f", "png",
                    "-o", str(folder))
    assert code == 0, out
    assert sorted(p.name for p in folder.iterdir()) == [
        "frame-00.png", "frame-01.png", "frame-02.png", "frame-03.png", "index.html"]
    assert (folder / "frame-00.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_steps_on_a_folder_builds_every_file(tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    code, out = run(str(ROOT / "expressions"), "--steps", "--annotate")
    assert code == 0, out
    for path in find(ROOT / "expressions"):
        figure = load(path)
        drawn = backviz.trace(figure.expression, figure.values).collapse(*figure.collapse)
        gates = len(drawn.graph.gates)  # a collapsed call is one gate, one frame
        folder = tmp_path / "output" / path.stem
        assert len(list(folder.glob("frame-*.svg"))) == gates + 2
        assert f"<title>{load(path).title}</title>" in (folder / "index.html").read_text()


@pytest.mark.parametrize(("args", "message"), [
    (["--steps", "-o", "-"], "Error: --steps writes a folder of frames, not one stream: give "
                             "-o FOLDER or leave -o out (the default is output/NAME/)"),
    (["--steps", "-f", "pdf"], "Error: --steps draws its frames as svg or png, or one file "
                                   "as tex, gif, apng, mp4, not pdf"),
    (["--steps", "-o", "taken.txt"], "Error: taken.txt is a file; --steps writes a folder of "
                                     "frames"),
    (["--steps", "-o", "figure.svg"], "Error: --steps writes a folder of frames, and -o "
                                      "figure.svg names a file: give -o a folder (e.g. -o "
                                      "figure), and --format svg or png for the frames"),
])
def test_steps_usage_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                            args: list[str], message: str) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "taken.txt").write_text("keep me")
    code, out = run(FIG1[0], "--x", "-2", "--y", "5", "--z", "-4", *args)
    assert (code, out.splitlines()) == (2, [message])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["taken.txt"]
    assert (tmp_path / "taken.txt").read_text() == "keep me"


def test_steps_refuses_too_many_gates_and_writes_nothing(tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    code, out = run("+".join(["x"] * (MAX_STEPS + 2)), "--x", "1", "--steps", "-n", "big")
    assert (code, out.splitlines()) == (2, [
        f"Error: the expression has {MAX_STEPS + 1} gates; a build has one frame per gate and "
        f"is made for up to {MAX_STEPS} of them"])
    assert not (tmp_path / "output").exists()


def test_flags_before_the_expression(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    code, out = run("--explain", "--check", "(x+y)*z", "--x", "-2", "--y", "5", "--z", "-4")
    assert code == 0
    assert ("  *      (x+y)*z  (-4)(1) = -4 to x+y, (3)(1) = 3 to z: the mul gate switches"
            in out)
    assert "gradient check of (x+y)*z: central differences, step 1e-05 max(1, |x|), tolerance 1e-06" in out


def test_annotate_and_o_write_the_figure(tmp_path: Path) -> None:
    out_file = tmp_path / "fig.dot"
    code, _ = run(FIG4[0], "--x", "3", "--y", "-4", "--z", "2", "--w", "-1", "--annotate",
                  "--check", "-o", str(out_file))
    assert code == 0
    assert "router" in out_file.read_text()


def test_help_teaches_the_teaching_options() -> None:
    code, out = run("--help")
    assert code == 0
    for option in ("--steps", "--explain", "--check", "--annotate"):
        assert re.search(rf"^ +backviz .*{option}", out, re.M), option
        assert re.search(rf"^  {option}\b", out, re.M), option
    assert f"{TOLERANCE:g}" in out


def test_the_help_quotes_the_check_tolerance() -> None:
    from click.testing import CliRunner

    from backviz.cli import cli

    out = CliRunner().invoke(cli, ["--help"]).stdout
    assert f"relative error is above {TOLERANCE:g}." in " ".join(out.split())
