"""Animations of a build: --steps -f gif and -f apng, decoded again with Pillow."""

from __future__ import annotations

import io
import sys
from pathlib import Path

import pytest
from PIL import Image

import backviz
from backviz.errors import BackvizError
from backviz.render import to_svg
from backviz.render.animate import FIRST_MS, FRAME_MS, LAST_MS, PIXELS_PER_POINT, animation
from backviz.render.metrics import svg_size
from backviz.teach import MAX_ANIMATION_FRAMES

SIGMOID = Path(__file__).resolve().parent.parent / "expressions" / "sigmoid_neuron.toml"
FIG1 = ["(x+y)*z", "--x", "-2", "--y", "5", "--z", "-4"]


def _frames(path: Path | io.BytesIO) -> tuple[list[Image.Image], list[int], int]:
    """The frames (as RGB), each one's duration (ms), and how often it loops (0: ever)."""
    im = Image.open(path)
    frames, times = [], []
    for k in range(im.n_frames):
        im.seek(k)
        frames.append(im.convert("RGB"))
        times.append(int(im.info["duration"]))
    return frames, times, int(im.info.get("loop", -1))


def _colours(im: Image.Image) -> set[tuple[int, int, int]]:
    return {c for _, c in im.getcolors(1 << 20) or []}


@pytest.mark.parametrize(("fmt", "name"), [("gif", "sigmoid_neuron-steps.gif"),
                                           ("apng", "sigmoid_neuron-steps.png")])
def test_a_build_animates_with_a_hold_on_the_last_frame(run, tmp_path: Path, fmt: str,  # type: ignore[no-untyped-def]
                                                       name: str) -> None:
    result = run(str(SIGMOID), "--steps", "-f", fmt)
    assert result.exit_code == 0, result.output
    assert f"wrote output/{name}" in result.output
    path = tmp_path / "output" / name
    frames, times, loop = _frames(path)
    assert len(frames) == 10 and loop == 0
    assert times == [FIRST_MS] + [FRAME_MS] * 8 + [LAST_MS] == [2500] + [1500] * 8 + [5000]
    # one layout: every frame is the size of the figure at 1.5 pixels per point
    t = backviz.trace("1/(1+exp(-(w0*x0+w1*x1+w2)))", w0=2, x0=-1, w1=-3, x1=-2, w2=-3)
    width, _ = svg_size(to_svg(t)) or (0, 0)
    assert len({f.size for f in frames}) == 1
    assert frames[0].size[0] == pytest.approx(width * PIXELS_PER_POINT, abs=2)
    # the forward pass has no red; the last frame has the theme's exact red and green
    red, green, white = (255, 0, 0), (0, 128, 0), (255, 255, 255)
    assert red not in _colours(frames[0]) and green in _colours(frames[0])
    assert {red, green, white} <= _colours(frames[-1])
    assert frames[0].getpixel((1, 1)) == white
    assert path.stat().st_size < 200_000  # small enough to post


def test_the_animation_is_the_same_bytes_every_time_and_scales(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    assert run(*FIG1, "--steps", "-f", "gif", "-o", "a.gif").exit_code == 0
    assert run(*FIG1, "--steps", "-f", "gif", "-o", "b.gif").exit_code == 0
    assert run(*FIG1, "--steps", "-f", "gif", "--scale", "2", "-o", "c.gif").exit_code == 0
    assert (tmp_path / "a.gif").read_bytes() == (tmp_path / "b.gif").read_bytes()
    one, two = Image.open(tmp_path / "a.gif").size, Image.open(tmp_path / "c.gif").size
    assert one[0] == pytest.approx(202 * PIXELS_PER_POINT, abs=2)
    assert two[0] == pytest.approx(2 * one[0], abs=2)


def test_an_animation_needs_a_build_and_pillow(run, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    result = run(*FIG1, "-f", "gif")
    assert result.exit_code == 2
    assert result.stderr == "Error: gif is an animation of a build: add --steps\n"
    monkeypatch.setitem(sys.modules, "PIL", None)  # as if Pillow were not installed
    with pytest.raises(BackvizError, match=r"needs Pillow: pip install 'backviz\[animate\]'"):
        animation([b""], "gif")
    result = run(*FIG1, "--steps", "-f", "apng")
    assert result.exit_code != 0 and "Traceback" not in result.output
    assert "needs Pillow" in result.output


def test_frames_of_one_size_become_one_animation() -> None:
    pngs = []
    for colour in ("white", "red"):
        out = io.BytesIO()
        Image.new("RGB", (40, 20), colour).save(out, format="PNG")
        pngs.append(out.getvalue())
    frames, times, _ = _frames(io.BytesIO(animation(pngs, "apng")))
    assert times == [FIRST_MS, LAST_MS]
    assert [f.getpixel((0, 0)) for f in frames] == [(255, 255, 255), (255, 0, 0)]
    with pytest.raises(BackvizError, match="an animation is gif or apng, not mp4"):
        animation(pngs, "mp4")



@pytest.mark.parametrize("fmt", ["gif", "apng"])
def test_an_animation_of_too_many_frames_is_refused_at_once(run, tmp_path: Path, fmt: str) -> None:  # type: ignore[no-untyped-def]
    chain = "+".join(f"x*{k}" for k in range(1, 45))  # 87 gates: 89 frames
    result = run(chain, "--x", "1", "--steps", "-f", fmt, "-o", f"a.{fmt}")
    assert result.exit_code != 0
    assert f"up to {MAX_ANIMATION_FRAMES} frames" in result.output and "89" in result.output
    assert "-f tex" in result.output and not (tmp_path / f"a.{fmt}").exists()
    assert "Traceback" not in result.output
    # A Beamer frame of the same build is not bounded by it.
    assert run(chain, "--x", "1", "--steps", "-f", "tex", "-o", "a.tex").exit_code == 0
