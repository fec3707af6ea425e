"""Animations of a build: --steps -f gif and -f apng, decoded again with Pillow."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import time
import weakref
from pathlib import Path
from typing import Any

import pytest
from PIL import Image, ImageChops, ImageStat

import backviz
from backviz.errors import BackvizError
from backviz.render import to_svg
from backviz.render.animate import (
    FIRST_MS,
    FRAME_MS,
    LAST_MS,
    PIXELS_PER_POINT,
    VIDEO_FPS,
    animation,
)
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
    with pytest.raises(BackvizError, match="an animation is gif, apng or mp4, not webm"):
        animation(pngs, "webm")


def test_a_gifs_frames_are_decoded_one_at_a_time(monkeypatch: pytest.MonkeyPatch) -> None:
    """A long build's decoded frames would not all fit in memory (18 frames of a wide
    figure at --scale 2 took 781 MB): a GIF's are decoded as they are written, at most two
    alive at once (the last frame's, for the palette, and the one being written)."""
    from backviz.render import animate

    alive: list[weakref.ref[Image.Image]] = []
    most = 0
    decode = animate._rgb

    def counted(png: bytes) -> Image.Image:
        nonlocal most
        frame = decode(png)
        alive.append(weakref.ref(frame))
        most = max(most, sum(ref() is not None for ref in alive))
        return frame

    monkeypatch.setattr(animate, "_rgb", counted)
    pngs = []
    for k in range(8):  # one black dot that moves: every frame different, in one palette
        frame = Image.new("RGB", (40, 20), "white")
        frame.putpixel((4 * k, 10), (0, 0, 0))
        out = io.BytesIO()
        frame.save(out, format="PNG")
        pngs.append(out.getvalue())
    frames, _, _ = _frames(io.BytesIO(animation(pngs, "gif")))
    assert len(frames) == 8 and len(alive) == 9  # the last frame twice: once for the palette
    assert most <= 2


def _video(data: bytes, tmp_path: Path) -> tuple[dict[str, Any], list[Image.Image]]:
    """A video's metadata (fps, size, duration) and its frames, decoded by ffmpeg."""
    import imageio_ffmpeg

    path = tmp_path / "decoded.mp4"
    path.write_bytes(data)
    reader = imageio_ffmpeg.read_frames(str(path))
    meta = next(reader)
    size = meta["size"]
    return meta, [Image.frombytes("RGB", size, frame) for frame in reader]


def _difference(a: Image.Image, b: Image.Image) -> float:
    """The mean difference of two images' pixels, 0 to 255 (a video is lossy)."""
    assert a.size == b.size
    return sum(ImageStat.Stat(ImageChops.difference(a, b)).mean) / 3


def test_a_build_as_a_video_shows_each_frame_for_its_time(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    assert run(str(SIGMOID), "--steps", "-f", "mp4").exit_code == 0
    data = (tmp_path / "output" / "sigmoid_neuron-steps.mp4").read_bytes()
    assert data[4:8] == b"ftyp"
    assert run(str(SIGMOID), "--steps", "-f", "apng", "-o", "frames.png").exit_code == 0
    pngs, _, _ = _frames(tmp_path / "frames.png")  # the same frames, without loss
    meta, frames = _video(data, tmp_path)
    assert meta["fps"] == VIDEO_FPS and meta["codec"].startswith("h264")
    assert all(side % 2 == 0 for side in meta["size"])  # yuv420p: even sides
    times = [FIRST_MS] + [FRAME_MS] * (len(pngs) - 2) + [LAST_MS]
    assert len(frames) == sum(times) * VIDEO_FPS // 1000  # 39 for the sigmoid neuron's 10
    starts = [sum(times[:k]) * VIDEO_FPS // 1000 for k in range(len(times))]
    for k, start in enumerate(starts):  # where each frame starts, it is nearest its own PNG
        shown = frames[start].crop((0, 0, *pngs[k].size))
        nearest = min(range(len(pngs)), key=lambda j: _difference(shown, pngs[j]))
        assert nearest == k and _difference(shown, pngs[k]) < 1.5, k
    assert run(str(SIGMOID), "--steps", "-f", "mp4", "-o", "again.mp4").exit_code == 0
    assert (tmp_path / "again.mp4").read_bytes() == data  # the same bytes every time


def test_a_video_pads_an_odd_side_and_needs_imageio_ffmpeg(tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    pngs = []
    for colour in ("white", "red"):
        out = io.BytesIO()
        Image.new("RGB", (41, 21), colour).save(out, format="PNG")
        pngs.append(out.getvalue())
    meta, frames = _video(animation(pngs, "mp4"), tmp_path)
    assert meta["size"] == (42, 22)
    assert _difference(frames[0], Image.new("RGB", (42, 22), "white")) < 3
    assert _difference(frames[-1], Image.new("RGB", (42, 22), "red")) < 3
    monkeypatch.setitem(sys.modules, "imageio_ffmpeg", None)  # as if it were not installed
    with pytest.raises(BackvizError, match=r"needs imageio-ffmpeg: pip install 'backviz\[video\]'"):
        animation(pngs, "mp4")



@pytest.mark.parametrize("fmt", ["gif", "apng", "mp4"])
def test_an_animation_of_too_many_frames_is_refused_at_once(run, tmp_path: Path, fmt: str) -> None:  # type: ignore[no-untyped-def]
    chain = "+".join(f"x*{k}" for k in range(1, 45))  # 87 gates: 89 frames
    result = run(chain, "--x", "1", "--steps", "-f", fmt, "-o", f"a.{fmt}")
    assert result.exit_code != 0
    assert f"up to {MAX_ANIMATION_FRAMES} frames" in result.output and "89" in result.output
    assert "-f tex" in result.output and not (tmp_path / f"a.{fmt}").exists()
    assert "Traceback" not in result.output
    # A Beamer frame of the same build is not bounded by it.
    assert run(chain, "--x", "1", "--steps", "-f", "tex", "-o", "a.tex").exit_code == 0


def _hanging_ffmpeg(folder: Path) -> tuple[dict[str, str], Path]:
    """An environment whose ffmpeg writes down its pid, reads nothing and never exits."""
    pidfile = folder / "ffmpeg.pid"
    ffmpeg = folder / "ffmpeg"
    ffmpeg.write_text(f'#!/bin/sh\necho $$ > "{pidfile}.tmp"; mv "{pidfile}.tmp" "{pidfile}"\n'
                      "exec sleep 600\n")
    ffmpeg.chmod(0o755)
    (folder / "tmp").mkdir()
    return {**os.environ, "IMAGEIO_FFMPEG_EXE": str(ffmpeg), "TMPDIR": str(folder / "tmp")}, pidfile


def _gone(pid: int) -> bool:
    stat = Path(f"/proc/{pid}/stat")
    return not stat.exists() or stat.read_text().split(")")[-1].split()[0] == "Z"


def _until(condition, seconds: float = 30) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline
        time.sleep(0.01)


def test_a_signal_while_ffmpeg_runs_ends_it_and_leaves_nothing(tmp_path: Path) -> None:
    env, pidfile = _hanging_ffmpeg(tmp_path)
    proc = subprocess.Popen([sys.executable, "-m", "backviz", str(SIGMOID), "--steps", "-f", "mp4",
                             "-o", "out.mp4"], cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    _until(pidfile.exists)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 143 and err == "backviz: terminated\n"
    _until(lambda: _gone(int(pidfile.read_text())), 5)
    assert not (tmp_path / "out.mp4").exists() and not any((tmp_path / "tmp").iterdir())


def test_an_ffmpeg_past_the_time_limit_is_stopped_and_said(run, tmp_path: Path,  # type: ignore[no-untyped-def]
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    env, pidfile = _hanging_ffmpeg(tmp_path)
    monkeypatch.setenv("IMAGEIO_FFMPEG_EXE", env["IMAGEIO_FFMPEG_EXE"])
    monkeypatch.setenv("BACKVIZ_DOT_TIMEOUT", "2")
    started = time.monotonic()
    result = run(*FIG1, "--steps", "-f", "mp4", "-o", "late.mp4")
    assert result.exit_code == 1 and time.monotonic() - started < 20
    assert result.stderr == ("Error: ffmpeg took more than 2 s to encode the video and was "
                             "stopped (BACKVIZ_DOT_TIMEOUT=SECONDS allows longer)\n")
    assert _gone(int(pidfile.read_text())) and not (tmp_path / "late.mp4").exists()
    monkeypatch.setenv("IMAGEIO_FFMPEG_EXE", str(tmp_path / "no-such-ffmpeg"))
    result = run(*FIG1, "--steps", "-f", "mp4", "-o", "none.mp4")
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert result.stderr.startswith("Error: cannot run ffmpeg (")
