"""Slides and print: PDF pages cropped to the drawing and the same bytes every run; --scale."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

import backviz
from backviz.cli import cli
from backviz.render import PNG_SCALE, Style, to_bytes

FIG1 = ["(x+y)*z", "--x", "-2", "--y", "5", "--z", "-4"]
SIGMOID = Path(__file__).resolve().parent.parent / "expressions" / "sigmoid_neuron.toml"


def _svg_size(svg: bytes) -> tuple[float, float]:
    m = re.search(rb'<svg width="([\d.]+)pt" height="([\d.]+)pt"', svg)
    assert m
    return float(m[1]), float(m[2])


def _pdf_page(pdf: bytes) -> tuple[float, float]:
    boxes = re.findall(rb"/MediaBox \[ *([\d.]+) +([\d.]+) +([\d.]+) +([\d.]+) *\]", pdf)
    assert len(boxes) == 1  # one page
    x0, y0, x1, y1 = (float(v) for v in boxes[0])
    return x1 - x0, y1 - y0


def _png_size(png: bytes) -> tuple[int, int]:
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    return int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")


def test_the_pdf_page_is_the_drawing() -> None:
    t = backviz.trace("(x+y)*z", x=-2, y=5, z=-4)
    width, height = _svg_size(to_bytes(t, "svg"))
    assert _pdf_page(to_bytes(t, "pdf")) == (width, height) == (202, 109)  # no 36 pt margin


def test_the_pdf_is_the_same_bytes_every_run(tmp_path: Path) -> None:
    runner = CliRunner()
    first, second = tmp_path / "a.pdf", tmp_path / "b.pdf"
    assert runner.invoke(cli, [str(SIGMOID), "-o", str(first)]).exit_code == 0
    time.sleep(1.1)  # cairo writes the time of the run, to the second
    assert runner.invoke(cli, [str(SIGMOID), "-o", str(second)]).exit_code == 0
    assert first.read_bytes() == second.read_bytes()
    assert b"/CreationDate (D:19700101000000" in first.read_bytes()
    assert _pdf_page(first.read_bytes()) == _svg_size(to_bytes(
        backviz.trace(*_sigmoid()), "svg", Style(caption=_caption())))


def _sigmoid() -> tuple[str, dict[str, object]]:
    from backviz.gallery import load
    figure = load(SIGMOID)
    return figure.expression, figure.values


def _caption() -> str | None:
    from backviz.gallery import load
    return load(SIGMOID).caption


def test_the_default_png_is_sharp_on_a_projector() -> None:
    t = backviz.trace("(x+y)*z", x=-2, y=5, z=-4)
    width, height = _svg_size(to_bytes(t, "svg"))
    assert _png_size(to_bytes(t, "png")) == (PNG_SCALE * width, PNG_SCALE * height) == (808, 436)


@pytest.mark.parametrize("scale", [0.5, 2, 3.5])
def test_scale_works_for_every_format(scale: float, tmp_path: Path) -> None:
    t = backviz.trace("(x+y)*z", x=-2, y=5, z=-4)
    width, height = _svg_size(to_bytes(t, "svg"))
    style = Style(scale=scale)
    svg = to_bytes(t, "svg", style)
    assert _svg_size(svg) == (pytest.approx(width * scale, abs=1), pytest.approx(height * scale, abs=1))
    assert b'viewBox="0.00 0.00 202.00 109.00"' in svg  # the same drawing, drawn larger
    assert _pdf_page(to_bytes(t, "pdf", style)) == (
        pytest.approx(width * scale, abs=1), pytest.approx(height * scale, abs=1))
    # a PNG: K times the default 4 pixels per point
    assert _png_size(to_bytes(t, "png", style)) == (
        pytest.approx(PNG_SCALE * width * scale, abs=1), pytest.approx(PNG_SCALE * height * scale, abs=1))
    assert f"dpi={72 * scale:g}" in to_bytes(t, "dot", style).decode()
    # on the command line: --scale 2 is twice as wide as without it
    plain, out = tmp_path / "plain.png", tmp_path / "f.png"
    assert CliRunner().invoke(cli, [*FIG1, "-o", str(plain)]).exit_code == 0
    result = CliRunner().invoke(cli, [*FIG1, "--scale", str(scale), "-o", str(out)])
    assert result.exit_code == 0, result.output
    plain_width, plain_height = _png_size(plain.read_bytes())
    assert _png_size(out.read_bytes()) == (pytest.approx(plain_width * scale, abs=1),
                                           pytest.approx(plain_height * scale, abs=1))


def test_a_bad_scale_is_one_clear_message() -> None:
    result = CliRunner().invoke(cli, [*FIG1, "--scale", "0"])
    assert result.exit_code == 2
    assert "--scale" in result.output and "0.1<=x<=20" in result.output
    assert "Traceback" not in result.output
    with pytest.raises(backviz.BackvizError, match=r"scale must be a number from 0\.1 to 20"):
        Style(scale=-1)


def test_max_elements_on_the_command_line(tmp_path: Path) -> None:
    out = tmp_path / "f.dot"
    x = "[" + ", ".join(str(i + 0.5) for i in range(20)) + "]"
    result = CliRunner().invoke(cli, ["sum(x)", "--x", x, "--max-elements", "20", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert ">19.50<" in out.read_text() and "d/dx = [1.00, 1.00" in result.output
    result = CliRunner().invoke(cli, ["sum(x)", "--x", x, "--max-elements", "16", "-o", str(out)])
    assert "20 in [0.50, 19.50]" in out.read_text() and "d/dx = 20 in [1.00, 1.00]" in result.output
    result = CliRunner().invoke(cli, ["sum(x)", "--x", x, "-o", str(out)])  # a picture, by default
    assert ">19.50<" not in out.read_text() and 'FIXEDSIZE="TRUE"' in out.read_text()
    assert "d/dx = 20 in [1.00, 1.00]" in result.output


def test_scale_applies_to_the_frames_of_a_build(tmp_path: Path) -> None:
    runner = CliRunner()
    for scale, width in ((None, 808), ("2", 1616), ("0.5", 404)):
        folder = tmp_path / f"build-{scale}"
        args = [*FIG1, "--steps", "-f", "png", "-o", str(folder)]
        result = runner.invoke(cli, args + (["--scale", scale] if scale else []))
        assert result.exit_code == 0, result.output
        sizes = {_png_size(p.read_bytes())[0] for p in folder.glob("frame-*.png")}
        assert sizes == {width}
