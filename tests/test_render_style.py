"""Themes: contrast, colour-blind safety, and every colour of a figure following its theme."""

from __future__ import annotations

import re
import zlib
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

import backviz
from backviz.cli import cli
from backviz.gallery import THEME_NAMES
from backviz.render import THEMES, Style, to_bytes

FIG2 = ("1/(1+exp(-(w0*x0+w1*x1+w2)))", dict(w0=2, x0=-1, w1=-3, x1=-2, w2=-3))

# Machado, Oliveira and Fernandes (2009): full protanopia and deuteranopia, in linear RGB.
CVD = {
    "protanopia": np.array([[0.152286, 1.052583, -0.204868], [0.114503, 0.786281, 0.099216],
                            [-0.003882, -0.048116, 1.051998]]),
    "deuteranopia": np.array([[0.367322, 0.860646, -0.227968], [0.280085, 0.672501, 0.047413],
                              [-0.011820, 0.042940, 0.968881]]),
}


def _linear(colour: str) -> np.ndarray:
    c = np.array([int(colour[i:i + 2], 16) / 255 for i in (1, 3, 5)])
    return np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)


def _contrast(a: str, b: str) -> float:
    """WCAG 2 contrast ratio."""
    la, lb = (float(np.dot([0.2126, 0.7152, 0.0722], _linear(c))) for c in (a, b))
    return (max(la, lb) + 0.05) / (min(la, lb) + 0.05)


def _lab(rgb: np.ndarray) -> np.ndarray:
    xyz = np.array([[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722],
                    [0.0193, 0.1192, 0.9505]]) @ np.clip(rgb, 0, 1)
    xyz = xyz / np.array([0.95047, 1.0, 1.08883])
    f = np.where(xyz > (6 / 29) ** 3, np.cbrt(xyz), xyz / (3 * (6 / 29) ** 2) + 4 / 29)
    return np.array([116 * f[1] - 16, 500 * (f[0] - f[1]), 200 * (f[1] - f[2])])


def _delta_e(a: str, b: str, vision: np.ndarray) -> float:
    return float(np.linalg.norm(_lab(vision @ _linear(a)) - _lab(vision @ _linear(b))))


def test_the_gallery_knows_every_theme() -> None:
    assert tuple(THEMES) == THEME_NAMES


@pytest.mark.parametrize("name", ["colorblind", "dark"])
def test_every_colour_reads_against_its_background(name: str) -> None:
    theme = THEMES[name]
    for colour in (theme.value, theme.gradient, theme.text, theme.note, theme.highlight):
        assert _contrast(colour, theme.background) >= 4.5, colour  # WCAG AA for text
    assert _contrast(theme.text, theme.highlight_fill) >= 4.5  # the highlighted gate's label


def test_the_slides_theme_is_the_lecture_and_readable() -> None:
    theme = THEMES["slides"]
    assert (theme.value, theme.gradient) == ("#008000", "#FF0000")
    assert round(_contrast(theme.value, "#FFFFFF"), 1) == 5.1
    assert round(_contrast(theme.gradient, "#FFFFFF"), 1) == 4.0


def test_colorblind_readers_tell_value_and_gradient_apart() -> None:
    cb, slides = THEMES["colorblind"], THEMES["slides"]
    assert {"#008000", "#FF0000"}.isdisjoint({cb.value.upper(), cb.gradient.upper()})
    for vision in CVD.values():
        # ~20 is where two colours start to look alike; the lecture's pair is near it.
        assert _delta_e(cb.value, cb.gradient, vision) > 80
        assert _delta_e(slides.value, slides.gradient, vision) < 25
    assert _delta_e(cb.value, cb.gradient, np.eye(3)) > 100


@pytest.mark.parametrize("name", list(THEMES))
def test_every_colour_of_the_figure_is_the_themes(name: str) -> None:
    theme = THEMES[name]
    t = backviz.trace(*FIG2)
    svg = t.to_svg(Style(theme=theme, caption="a caption", annotate=True))
    fills = set(re.findall(r'(?:fill|stroke)="(#[0-9a-fA-F]{6})"', svg))
    assert fills == {c.lower() for c in (theme.value, theme.gradient, theme.text,
                                         theme.background, theme.note, theme.pattern)}
    # a frame of a build adds the highlight
    from backviz.teach import frame_svgs
    frame = frame_svgs(t, Style(theme=theme))[3][1]
    assert f'fill="{theme.highlight_fill.lower()}" stroke="{theme.highlight.lower()}"' in frame


def _first_pixel(png: bytes) -> tuple[int, ...]:
    """The top-left pixel of an 8-bit RGB or RGBA PNG (the first pixel of the first row is
    stored as it is, whatever the row's filter)."""
    channels = {2: 3, 6: 4}[png[25]]
    data, at = b"", 8
    while at < len(png):
        size = int.from_bytes(png[at:at + 4], "big")
        if png[at + 4:at + 8] == b"IDAT":
            data += png[at + 8:at + 8 + size]
        at += size + 12
    raw = zlib.decompress(data)
    return tuple(raw[1:1 + channels])


@pytest.mark.parametrize("name", list(THEMES))
def test_the_png_background_is_the_themes_or_none(name: str) -> None:
    t = backviz.trace(*FIG2)
    theme = THEMES[name]
    png = to_bytes(t, "png", Style(theme=theme, scale=1))
    expected = tuple(int(theme.background[i:i + 2], 16) for i in (1, 3, 5))
    assert _first_pixel(png)[:3] == expected
    clear = to_bytes(t, "png", Style(theme=theme, scale=1, transparent=True))
    assert _first_pixel(clear)[3] == 0  # alpha: the slide shows through
    svg = to_bytes(t, "svg", Style(theme=theme, transparent=True)).decode()
    assert theme.background.lower() not in svg  # no background polygon at all


def test_the_command_takes_a_theme_and_no_background(tmp_path: Path) -> None:
    runner = CliRunner()
    out = tmp_path / "f.svg"
    result = runner.invoke(cli, [FIG2[0], *[a for k, v in FIG2[1].items() for a in (f"--{k}", str(v))],
                                 "--theme", "colorblind", "--background", "none", "-o", str(out)])
    assert result.exit_code == 0, result.output
    svg = out.read_text()
    assert 'fill="#0072b2"' in svg and 'fill="#c04000"' in svg and "#008000" not in svg
    assert "<desc>" in svg and "<polygon fill=\"#ffffff\"" not in svg  # no background
    result = runner.invoke(cli, ["x*2", "--x", "1", "--theme", "sepia"])
    assert result.exit_code == 2 and "'sepia' is not one of 'slides', 'colorblind', 'dark'" in result.output


def test_an_expression_file_chooses_its_theme_and_the_option_wins(tmp_path: Path) -> None:
    file = tmp_path / "f.toml"
    file.write_text('title = "t"\nexpression = "x*y"\ntheme = "dark"\n[values]\nx = 1\ny = 2\n')
    runner = CliRunner()
    assert runner.invoke(cli, [str(file), "-o", str(tmp_path / "a.svg")]).exit_code == 0
    assert 'fill="#1e1e1e"' in (tmp_path / "a.svg").read_text()
    assert runner.invoke(cli, [str(file), "--theme", "slides", "-o", str(tmp_path / "b.svg")]).exit_code == 0
    assert "#1e1e1e" not in (tmp_path / "b.svg").read_text()
    file.write_text('title = "t"\nexpression = "x"\ntheme = "neon"\n')
    result = runner.invoke(cli, [str(file)])
    assert result.exit_code == 2
    assert "field 'theme' must be one of slides, colorblind, dark, not 'neon'" in result.output


def test_the_page_takes_the_themes_colours() -> None:
    from backviz.teach import build
    page = build(backviz.trace(*FIG2), Style(theme=THEMES["dark"]))["index.html"].decode()
    assert "--background: #1E1E1E" in page and "--value: #7EE787" in page
    blue = build(backviz.trace(*FIG2), Style(theme=THEMES["colorblind"]))["index.html"].decode()
    assert "The forward pass: every value in blue, the output f = 0.73." in blue
