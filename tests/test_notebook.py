"""Traces in notebooks: the display bundle, repr, and a real notebook run by a Jupyter kernel."""

from __future__ import annotations

import base64
import html
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from nbformat.sign import NotebookNotary

import backviz
from backviz.notebook import AREA, LEGIBLE
from backviz.render import to_bytes

FIG1 = dict(x=-2, y=5, z=-4)


def _sum(n: int) -> backviz.Trace:
    """A sum of n products: 2n - 1 gates and 2n variables."""
    text = "+".join(f"a{i}*b{i}" for i in range(n))
    values = {f"a{i}": 0.5 for i in range(n)} | {f"b{i}": 2.0 for i in range(n)}
    return backviz.trace(text, values)


def _svg_width(svg: str) -> float:
    return float(re.search(r'<svg width="([\d.]+)px"', svg)[1])  # type: ignore[index]


def _png_size(png: bytes) -> tuple[int, int]:
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    return int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")


def test_the_bundle_has_svg_png_pdf_and_the_summary() -> None:
    t = backviz.trace("(x+y)*z", **FIG1)
    data, meta = t._repr_mimebundle_()
    assert set(data) == {"text/plain", "image/svg+xml", "image/png", "application/pdf"}
    # the PDF for nbconvert's LaTeX export, which converts an SVG only with Inkscape
    assert base64.b64decode(data["application/pdf"]) == to_bytes(t, "pdf")
    assert data["text/plain"] == "(x+y)*z = -12\n  d/dx = -4\n  d/dy = -4\n  d/dz = 3"
    assert "<title>(x+y)*z</title>" in data["image/svg+xml"]
    width = _svg_width(data["image/svg+xml"])
    assert meta["image/png"]["width"] == meta["image/svg+xml"]["width"] == round(width)
    # A small figure is shown at its natural size (1 pt = 4/3 px), the PNG at twice that.
    natural = float(re.search(r'viewBox="0.00 0.00 ([\d.]+)', data["image/svg+xml"])[1])  # type: ignore[index]
    assert width == pytest.approx(natural * 4 / 3, abs=1)
    assert _png_size(data["image/png"])[0] == pytest.approx(2 * width, abs=2)


def _chain(n: int) -> backviz.Trace:
    """n gates in a row: a figure about 100 px wide per gate."""
    return backviz.trace("sin(" * n + "x" + ")" * n, x=0.5)


@pytest.mark.parametrize(("gates", "scrolls"), [(3, False), (8, False), (30, True)])
def test_a_figure_fits_the_output_area_unless_that_makes_it_illegible(gates: int,
                                                                      scrolls: bool) -> None:
    data, meta = _chain(gates)._repr_mimebundle_()
    svg = data["image/svg+xml"]
    natural = float(re.search(r'viewBox="0.00 0.00 ([\d.]+)', svg)[1]) * 4 / 3  # type: ignore[index]
    shown = _svg_width(svg)
    assert shown == pytest.approx(max(min(natural, AREA), natural * LEGIBLE), abs=1)
    assert (shown > AREA) == scrolls
    assert meta["image/svg+xml"].get("unconfined", False) == scrolls
    if gates == 8:
        assert natural > AREA and shown == pytest.approx(AREA, abs=1)  # shrunk to fit


def test_scale_sets_the_size() -> None:
    t = backviz.trace("(x+y)*z", **FIG1)
    one = _svg_width(t.show(scale=1)._repr_mimebundle_()[0]["image/svg+xml"])
    data, meta = t.show(scale=2.5)._repr_mimebundle_()
    assert _svg_width(data["image/svg+xml"]) == pytest.approx(2.5 * one, abs=1)
    assert meta["image/png"]["width"] == pytest.approx(2.5 * one, abs=1)
    assert _png_size(data["image/png"])[0] == pytest.approx(5 * one, abs=3)


def test_repr_is_the_summary_and_short_for_3000_gates() -> None:
    t = backviz.trace("(x+y)*z", **FIG1)
    assert repr(t) == str(t) == "(x+y)*z = -12\n  d/dx = -4\n  d/dy = -4\n  d/dz = 3"
    big = _sum(1600)  # 3,199 gates, 3,200 variables
    assert len(big.graph.gates) == 3199
    text = repr(big)
    assert len(text) < 600 and len(text.splitlines()) == 14
    assert text.splitlines()[0] == big.expression[:57] + "... = 1600.00"
    assert text.splitlines()[-1] == "  ... and 3,188 more gradients (t.gradients has them all)"


def test_display_never_raises_over_the_limit() -> None:
    big = _sum(1600)
    data, meta = big._repr_mimebundle_()
    assert set(data) == {"text/plain"} and meta == {}
    last = data["text/plain"].splitlines()[-1]
    assert last == ("(no figure: the graph has 3,199 gates, more than the 3,000 that are drawn; "
                    "t.to_json() and t.to_dot() give the whole graph without Graphviz and "
                    "without a size limit)")


def test_display_never_raises_without_graphviz(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    t = backviz.trace("(x+y)*z", **FIG1)
    data, _ = t._repr_mimebundle_()
    assert set(data) == {"text/plain"}
    assert data["text/plain"].startswith("(x+y)*z = -12\n")
    assert "(no figure: Graphviz's dot program is not installed" in data["text/plain"]
    assert t.to_dot().startswith("digraph")  # what the line points to works


def test_text_formats_and_the_dict() -> None:
    t = backviz.trace("(x+y)*z", **FIG1)
    assert isinstance(t.to_json(), str) and t.to_json().startswith('{\n  "expression": "(x+y)*z"')
    assert t.to_dict()["gradients"] == {"x": -4.0, "y": -4.0, "z": 3.0}
    assert isinstance(t.to_svg(), str) and isinstance(t.to_dot(), str)


def test_teaching_mode_in_python() -> None:
    t = backviz.trace("1/(1+exp(-(w0*x0+w1*x1+w2)))", w0=2, x0=-1, w1=-3, x1=-2, w2=-3)
    build = t.steps()
    assert len(build) == 10 and len(build.svgs) == 10
    assert build.captions[2] == ("1/x gate, 1/(1+exp(-(w0*x0+w1*x1+w2))): "
                                 "(-1/1.37^2)(1.00) = -0.53")
    assert repr(build).splitlines()[:2] == [
        "10 frames:", "  1. The forward pass: every value in green, the output f = 0.73."]
    data, _ = build._repr_mimebundle_()
    # The page in an attribute that sanitisers drop, for the script to put in a frame.
    page = re.match(r'<div class="backviz-build" data-page="([^"]*)"', data["text/html"])
    assert page and html.unescape(page[1]) == build.html
    assert "frame 1 of 10" in build.html and data["text/plain"] == repr(build)
    explained = t.explain()
    assert explained.splitlines()[2] == ("  1/x    1/(1+exp(-(w0*x0+w1*x1+w2)))  "
                                         "(-1/1.37^2)(1.00) = -0.53")
    report = t.check()
    assert report.ok and set(report.errors) == {"w0", "x0", "w1", "x1", "w2"}
    assert max(report.errors.values()) < 1e-6
    bad = backviz.trace("relu(x)", x=0).check()
    assert not bad.ok and bad.errors["x"] > 1e-6 and "FAILED" in str(bad)


NOTEBOOK = [
    "import backviz\nt = backviz.trace('(x+y)*z', x=-2, y=5, z=-4)\nt",
    "t.show(scale=2)",
    "print(t.explain())\nt.check().ok",
    "big = backviz.trace('+'.join(f'a{i}*b{i}' for i in range(1600)), "
    "{f'{c}{i}': 1.0 for i in range(1600) for c in 'ab'})\nbig",
    "t.steps()",
    "import os\nos.environ['PATH'] = '/nonexistent'\nt",
]

# What a front end shows of a display: the first type in its order that it renders.
# JupyterLab's ranking (rendermime's standard factories) and the safe ones it renders in an
# untrusted notebook (SVG is not safe: it can carry script); nbconvert's LaTeX exporter
# (display_data_priority of the latex template), which has no SVG support at all.
TRUSTED = ["text/html", "image/svg+xml", "image/png", "text/plain"]
UNTRUSTED = ["image/png", "text/plain"]
LATEX = ["text/latex", "application/pdf", "image/png", "image/jpeg", "text/plain"]


def _shown(output: dict[str, object], order: list[str]) -> str:
    data = output["data"]
    assert isinstance(data, dict)
    return next(kind for kind in order if kind in data)


def test_a_real_notebook_shows_the_figure_trusted_or_not(tmp_path: Path) -> None:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(source) for source in NOTEBOOK]
    # ipykernel's python3 kernel; jupyter_client starts it with this test's Python (.venv).
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    client = NotebookClient(nb, timeout=120, kernel_name="python3",
                            resources={"metadata": {"path": str(tmp_path)}})
    client.execute()  # Run All: raises if any cell raised

    outputs = [cell.outputs for cell in nb.cells]
    assert all(o.output_type != "error" for cell in outputs for o in cell)
    first = outputs[0][0]
    assert first.output_type == "execute_result"
    assert _shown(first, TRUSTED) == "image/svg+xml"
    assert _shown(first, UNTRUSTED) == "image/png"
    assert _shown(first, LATEX) == "application/pdf"
    assert first.data["text/plain"].startswith("(x+y)*z = -12")
    png = base64.b64decode(first.data["image/png"])
    assert _png_size(png)[0] > 400
    assert first.metadata["image/png"]["width"] == pytest.approx(_png_size(png)[0] / 2, abs=1)

    scaled = outputs[1][0]
    assert scaled.metadata["image/png"]["width"] == pytest.approx(
        2 * first.metadata["image/png"]["width"], abs=2)

    explained, ok = outputs[2]
    assert explained.text.startswith("backward pass of (x+y)*z = -12")
    assert ok.data["text/plain"] == "True"

    for cell in (3, 5):  # over the limit; Graphviz gone: the summary and why, no error
        shown = outputs[cell][-1]
        assert set(shown.data) == {"text/plain"}
        assert "(no figure: " in shown.data["text/plain"]

    steps = outputs[4][0]
    assert "text/html" in steps.data and "frame 1 of 4" in steps.data["text/html"]
    # untrusted: the PNG of the finished figure, or the still frames of the sanitised HTML
    assert _shown(steps, UNTRUSTED) == "image/png" and _shown(steps, LATEX) == "image/png"
    assert _png_size(base64.b64decode(steps.data["image/png"]))[0] > 400

    # A notebook handed out with its outputs is untrusted until its reader trusts it.
    (tmp_path / "jupyter").mkdir()
    notary = NotebookNotary(data_dir=str(tmp_path / "jupyter"), db_file=":memory:")
    assert not notary.check_signature(nb)
    notary.sign(nb)
    assert notary.check_signature(nb)
    nbformat.write(nb, tmp_path / "figure.ipynb")
    again = nbformat.read(tmp_path / "figure.ipynb", as_version=4)
    assert _shown(again.cells[0].outputs[0], UNTRUSTED) == "image/png"


def test_nbconvert_exports_a_notebook_with_figures_to_pdf(tmp_path: Path) -> None:
    """jupyter nbconvert --to pdf, as it comes: pandoc and xelatex (scripts/test installs
    them), no Inkscape. The trace's figure is its PDF, text and all; a build its last frame."""
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# Backprop"),
                nbformat.v4.new_code_cell(NOTEBOOK[0]), nbformat.v4.new_code_cell("t.steps()")]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    NotebookClient(nb, timeout=120, kernel_name="python3",
                   resources={"metadata": {"path": str(tmp_path)}}).execute()
    nbformat.write(nb, tmp_path / "figures.ipynb")
    assert shutil.which("inkscape") is None  # what made the export fail: it is not needed
    done = subprocess.run([sys.executable, "-m", "nbconvert", "--to", "pdf", "figures.ipynb"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "PDF successfully created" in done.stderr
    text = subprocess.run(["pdftotext", str(tmp_path / "figures.pdf"), "-"], capture_output=True,
                          text=True, check=True).stdout.split()
    assert "Backprop" in text and "t.steps()" in text
    assert {"-2", "5", "-4", "3", "-12", "x", "y", "z", "+", "*"} <= set(text)  # the figure's PDF
    latex = subprocess.run([sys.executable, "-m", "nbconvert", "--to", "latex", "--stdout",
                            "figures.ipynb"], cwd=tmp_path, capture_output=True, text=True,
                           timeout=300, check=True).stdout
    assert re.findall(r"\\adjustimage\{[^\n]*\}\{([^}]*)\}", latex) == [
        "figures_files/figures_1_0.pdf", "figures_files/figures_2_0.png"]
