"""TikZ: the figure as a picture and a document, a build as one Beamer frame, compiled by
pdflatex and read back with poppler's pdftotext and pdfinfo."""

from __future__ import annotations

import re
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

import backviz
from backviz.render import THEMES, Style, to_bytes, to_svg

SIGMOID = Path(__file__).resolve().parent.parent / "expressions" / "sigmoid_neuron.toml"
FIG1 = ["(x+y)*z", "--x", "-2", "--y", "5", "--z", "-4"]
SVG = "{http://www.w3.org/2000/svg}"


def _pdflatex(folder: Path, name: str) -> Path:
    done = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", name],
                          cwd=folder, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stdout[-3000:]
    return folder / Path(name).with_suffix(".pdf")


def _text(pdf: Path, page: int | None = None) -> list[str]:
    pages = ["-f", str(page), "-l", str(page)] if page else []
    done = subprocess.run(["pdftotext", *pages, str(pdf), "-"], capture_output=True, text=True,
                          check=True)
    return [w.replace("\u2212", "-") for w in done.stdout.split()]  # math minus as "-"


def _info(pdf: Path) -> dict[str, str]:
    done = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True, check=True)
    return dict(line.split(":", 1) for line in done.stdout.splitlines() if ":" in line)


def _nodes(tex: str) -> list[tuple[float, float, str, str]]:
    """Every text of a TikZ file: where it is, its colour's name and its text."""
    found = re.findall(r"text=(\w+), font=[^]]*\] at \(([-\d.]+),([-\d.]+)\) \{(.*)\};", tex)
    return [(float(x), float(y), colour, text.replace(r"\ensuremath{-}", "-"))
            for colour, x, y, text in found]


def test_the_figure_compiles_alone_with_every_number(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    result = run(*FIG1, "-o", "fig.tex")
    assert result.exit_code == 0, result.output
    assert "wrote fig.tex" in result.output
    pdf = _pdflatex(tmp_path, "fig.tex")
    words = _text(pdf)
    for number in ["-2", "5", "-4", "3", "-12", "1"]:
        assert number in words, (number, words)
    assert {"x", "y", "z", "+", "*"} <= set(words)
    info = _info(pdf)
    assert info["Pages"].strip() == "1"
    # one page the size of the figure (the SVG's, in points)
    svg = ET.fromstring(to_svg(backviz.trace("(x+y)*z", x=-2, y=5, z=-4)))
    width, height = (float(svg.get(k, "0").rstrip("pt")) for k in ("width", "height"))
    page = re.match(r"\s*([\d.]+) x ([\d.]+) pts", info["Page size"])
    assert page is not None and (float(page[1]), float(page[2])) == (
        pytest.approx(width, abs=1), pytest.approx(height, abs=1))


def test_every_number_sits_where_the_svg_has_it() -> None:
    """One layout: each text of the SVG has a text of the TikZ picture at its baseline
    point, with the same colour (SVG y runs down from the top, TikZ's up from the bottom)."""
    t = backviz.trace("1/(1+exp(-(w0*x0+w1*x1+w2)))", w0=2, x0=-1, w1=-3, x1=-2, w2=-3)
    tex = to_bytes(t, "tex").decode()
    root = ET.fromstring(to_svg(t))
    # The SVG's texts are in the layout's points, y negated (the group's transform moves
    # them onto the page); TikZ's are the layout's own.
    colours = {"#008000": "backvizValue", "#ff0000": "backvizGradient", "#000000": "backvizText"}
    svg_texts = sorted(
        (round(float(e.get("x", 0)), 1), round(-float(e.get("y", 0)), 1),
         colours[e.get("fill", "#000000").lower()], e.text or "")
        for e in root.iter(f"{SVG}text") if e.get("fill", "#000000").lower() in colours)
    tikz_texts = sorted((round(x, 1), round(y, 1), c, s) for x, y, c, s in _nodes(tex)
                        if c in colours.values())
    assert len(svg_texts) == 13 + 2 * 13  # 5 inputs, 8 gates, 13 edges' values and gradients
    assert tikz_texts == svg_texts


def test_the_picture_is_input_into_a_paper_and_a_beamer_frame(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    assert run(*FIG1, "-o", "fig.tex").exit_code == 0
    (tmp_path / "paper.tex").write_text(
        "\\documentclass{article}\n\\usepackage{tikz}\n\\begin{document}\n"
        "Before the figure.\n\n\\begin{figure}[h]\\centering\\input{fig.tex}"
        "\\caption{Backprop}\\end{figure}\nAfter the figure.\n\\end{document}\n")
    words = _text(_pdflatex(tmp_path, "paper.tex"))
    assert words[:3] == ["Before", "the", "figure."] and "-12" in words
    assert {"Backprop", "After", "-4", "x"} <= set(words)
    (tmp_path / "talk.tex").write_text(
        "\\documentclass{beamer}\n\\usepackage{tikz}\n\\begin{document}\n"
        "\\begin{frame}{A figure}\\centering\\resizebox{0.8\\linewidth}{!}{\\input{fig.tex}}"
        "\\end{frame}\n\\end{document}\n")
    pdf = _pdflatex(tmp_path, "talk.tex")
    assert _info(pdf)["Pages"].strip() == "1"
    assert "A" in _text(pdf) and "-12" in _text(pdf)


def test_the_theme_colours_are_named_xcolor_colours() -> None:
    t = backviz.trace("(x+y)*z", x=-2, y=5, z=-4)
    for theme in THEMES.values():
        tex = to_bytes(t, "tex", Style(theme=theme)).decode()
        assert f"\\definecolor{{backvizValue}}{{HTML}}{{{theme.value[1:].upper()}}}" in tex
        assert f"\\definecolor{{backvizGradient}}{{HTML}}{{{theme.gradient[1:].upper()}}}" in tex
        assert "text=backvizValue" in tex and "text=backvizGradient" in tex
        assert "#" not in tex.partition(r"\begin{tikzpicture}")[2]  # only names in the picture
        assert r"\sffamily" in tex


def test_the_same_figure_gives_the_same_bytes_and_scale_scales_it() -> None:
    t = backviz.trace("(x+y)*z", x=-2, y=5, z=-4)
    assert to_bytes(t, "tex") == to_bytes(t, "tex")
    scaled = to_bytes(t, "tex", Style(scale=2)).decode()
    assert "paperwidth=202bp,paperheight=109bp" in to_bytes(t, "tex").decode()  # the SVG's size
    assert "paperwidth=404bp,paperheight=218bp" in scaled and "scale=2" in scaled


def test_names_that_are_special_to_latex_are_written_as_text(tmp_path: Path) -> None:
    t = backviz.trace("a_1*b_2 + a_1", a_1=2, b_2=3)
    tex = to_bytes(t, "tex").decode()
    assert r"{a\_1}" in tex and r"{b\_2}" in tex
    (tmp_path / "f.tex").write_text(tex)
    # Computer Modern draws "_" as a rule, which pdftotext does not read as a character
    words = _text(_pdflatex(tmp_path, "f.tex"))
    assert "a1" in words and "b2" in words and "8" in words


def test_a_build_is_one_beamer_frame_whose_overlays_are_the_frames(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    result = run(str(SIGMOID), "--steps", "-f", "tex")
    assert result.exit_code == 0, result.output
    assert "wrote output/sigmoid_neuron-steps.tex" in result.output
    pdf = _pdflatex(tmp_path / "output", "sigmoid_neuron-steps.tex")
    frames = backviz.trace("1/(1+exp(-(w0*x0+w1*x1+w2)))", w0=2, x0=-1, w1=-3, x1=-2,
                           w2=-3).steps()
    assert _info(pdf)["Pages"].strip() == str(len(frames)) == "10"
    first, second, last = _text(pdf, 1), _text(pdf, 2), _text(pdf, 10)
    assert "0.73" in first and "0.39" not in first and "df/df" not in first  # values only
    assert "df/df" in second and "1.00" in second and "0.39" not in second
    for gradient in ["-0.20", "0.39", "-0.39", "-0.59", "0.20", "-0.53", "1.00"]:
        assert gradient in last
    assert "switches" in last  # the last frame's caption: "... the mul gate switches"
    assert " ".join(_text(pdf, 3)).startswith("The sigmoid neuron, gate by gate")  # the title


def test_a_build_frame_is_input_into_a_presentation(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    assert run(*FIG1, "--steps", "-f", "tex", "-o", "steps.tex").exit_code == 0
    (tmp_path / "talk.tex").write_text(
        "\\documentclass{beamer}\n\\usepackage{tikz}\n\\begin{document}\n"
        "\\begin{frame}{Before}Hello\\end{frame}\n\\input{steps.tex}\n\\end{document}\n")
    pdf = _pdflatex(tmp_path, "talk.tex")
    assert _info(pdf)["Pages"].strip() == "5"  # one page, then the build's four overlays
    assert "Hello" in _text(pdf, 1) and "(1)(-4)" in " ".join(_text(pdf, 5))


def test_the_notation_of_gates_and_pictures_is_written_in_latex(tmp_path: Path) -> None:
    """μ₁, √2, ε, lse, the pictures' key: each from LaTeX's own fonts, none a question mark."""
    t = backviz.trace("logsumexp(S[arange(2), y]) + sum(mean(S, axis=1) / sqrt(2) + 1e-5)"
                      " + sum(relu(W @ x))", S=[[1.0, 2.0], [3.0, 4.0]], y=[0, 1],
                      W=[[1.0, -2.0, 3.0, 4.0, 5.0]] * 5, x=[1.0, 2.0, 3.0, 4.0, 5.0])
    tex = to_bytes(t, "tex").decode()
    texts = [text for *_, text in _nodes(tex)]
    assert not any("?" in text for text in texts), [text for text in texts if "?" in text]
    for written in (r"\ensuremath{\mu}\ensuremath{_{1}}", r"/\ensuremath{\surd}2",
                    r"+\ensuremath{\varepsilon}", r"\rule{0.55em}{0.55em} positive"):
        assert any(written in text for text in texts), written
    (tmp_path / "f.tex").write_text(tex)
    words = _text(_pdflatex(tmp_path, "f.tex"))
    assert "lse:" in words and "logsumexp," in words and "positive," in words


def test_a_program_with_named_values_is_written_in_tikz() -> None:
    """The figure's description (its summary's first line) with names kept to none."""
    tex = to_bytes(backviz.trace("c = a + b; e = c * c", a=1, b=2), "tex").decode()
    assert r"\begin{tikzpicture}" in tex and "{9}" in tex
