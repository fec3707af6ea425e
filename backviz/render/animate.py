"""A build as an animation: its frames, drawn from one layout, as a GIF, an animated PNG
or an MP4 video.

The frames are PNGs of one size (a build's frames never move, see
:mod:`backviz.template`); Pillow encodes them, so this module needs the ``animate`` extra
(``pip install 'backviz[animate]'``), and for MP4 the ``video`` extra, whose
imageio-ffmpeg brings an ``ffmpeg`` of its own. Each frame is shown long enough to read its
new numbers, the forward pass and the finished figure longer; a GIF and an animated PNG
loop, a video plays once (a slide's player loops it if asked).
A GIF has at most 256 colours: the figure's few colours and their anti-aliased edges fit
in an adaptive palette, which keeps a figure's GIF small enough to post.
"""

from __future__ import annotations

import contextlib
import io
import os
import signal
import subprocess
import tempfile
import threading
from collections.abc import Iterator, Sequence
from importlib.util import find_spec
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import BackvizError, RenderError
from ..signals import deferred
from .backend import dot_timeout
from .export import ANIMATIONS

if TYPE_CHECKING:
    from PIL.Image import Image

__all__ = ["ANIMATIONS", "FIRST_MS", "FRAME_MS", "LAST_MS", "MAX_VIDEO", "PIXELS_PER_POINT",
           "VIDEO_FPS", "animation", "durations"]

FRAME_MS = 1500
"""How long each step of the backward pass is shown (ms)."""
FIRST_MS = 2500
"""The forward pass, the first frame: longer, to read the values before gradients come."""
LAST_MS = 5000
"""The finished figure: a hold before the animation starts again."""
VIDEO_FPS = 2
"""A video's frames a second: every duration above is a whole number of its frames."""
MAX_VIDEO = (3840, 2160)
"""A video's largest frame (4K, what players take): larger frames are made smaller."""
PIXELS_PER_POINT = 1.5
"""An animation's frames have this many pixels per point (times ``--scale``): the first
figure is 303 px wide, the sigmoid neuron 1,104 px, sharp enough for a post, and small."""


def durations(n: int) -> list[int]:
    """How long each of ``n`` frames is shown, in milliseconds."""
    if n == 1:
        return [LAST_MS]
    return [FIRST_MS] + [FRAME_MS] * (n - 2) + [LAST_MS]


def animation(pngs: Sequence[bytes], format: str) -> bytes:
    """The frames (PNG files of one size) as one animation: a GIF or an animated PNG that
    loops for ever, or an MP4 that plays once."""
    if format not in ANIMATIONS:
        raise BackvizError(f"an animation is {', '.join(ANIMATIONS[:-1])} or {ANIMATIONS[-1]}, "
                           f"not {format}")
    if find_spec("PIL") is None:
        raise BackvizError("an animation needs Pillow: pip install 'backviz[animate]' (or "
                           "pip install Pillow)")
    if format == "mp4":
        return _video(pngs)
    # A GIF's frames are decoded one at a time, as Pillow writes them (it keeps its own
    # copy of each, one byte a pixel: a third of a decoded frame); Pillow counts an
    # animated PNG's frames before it writes them, so they are a list.
    frames = _gif_frames(pngs) if format == "gif" else iter([_rgb(png) for png in pngs])
    first = next(frames)
    out = io.BytesIO()
    first.save(out, format="GIF" if format == "gif" else "PNG", save_all=True,
               append_images=frames if format == "gif" else list(frames),
               duration=durations(len(pngs)), loop=0, optimize=format == "gif")
    return out.getvalue()


def _rgb(png: bytes) -> Image:
    """A frame decoded, in RGB."""
    from PIL import Image

    return Image.open(io.BytesIO(png)).convert("RGB")


def _gif_frames(pngs: Sequence[bytes]) -> Iterator[Image]:
    """The frames in one palette, from the last frame (which has every number and colour):
    maximum coverage keeps the exact colours of the theme (median cut averages them)."""
    from PIL import Image

    palette = _rgb(pngs[-1]).quantize(colors=64, method=Image.Quantize.MAXCOVERAGE)
    return (_rgb(png).quantize(palette=palette, dither=Image.Dither.NONE) for png in pngs)


def _video(pngs: Sequence[bytes]) -> bytes:
    """The frames as an H.264 MP4 that slides and players take (yuv420p, even sides, at most
    :data:`MAX_VIDEO`), each repeated for its duration at :data:`VIDEO_FPS`; the same frames
    give the same bytes."""
    exe = _ffmpeg()
    width, height = _frame(pngs[0]).size
    with tempfile.TemporaryDirectory(prefix="backviz-video-") as folder:
        path, log = Path(folder) / "build.mp4", Path(folder) / "ffmpeg.log"
        # One thread and no version or date in the file: the same build, the same bytes.
        args = [exe, "-hide_banner", "-v", "error", "-f", "rawvideo",
                "-pix_fmt", "rgb24", "-s", f"{width}x{height}", "-r", str(VIDEO_FPS), "-i", "-",
                "-c:v", "libx264", "-pix_fmt", "yuv420p", "-crf", "10", "-threads", "1",
                "-fflags", "+bitexact", "-flags:v", "+bitexact", "-map_metadata", "-1",
                "-movflags", "+faststart", "-f", "mp4", str(path)]
        status = _encode(args, pngs, log)
        if status != 0 or not path.is_file():
            said = log.read_text(errors="replace").strip().splitlines()[-1:] or ["no message"]
            raise RenderError(f"ffmpeg could not encode the video (status {status}): {said[0]}")
        return path.read_bytes()


def _encode(args: list[str], pngs: Sequence[bytes], log: Path) -> int:
    """Run ffmpeg on the frames; its exit status. It runs in a process group of its own,
    ended with the command (a signal, a failure) as ``dot`` is, and within the command's
    time limit (BACKVIZ_DOT_TIMEOUT), which holds while frames are written too: a write
    waits for ffmpeg to take it."""
    seconds = dot_timeout()
    late = threading.Event()
    with log.open("wb") as errors:
        try:
            with deferred():  # a signal waits until the child is known, to be ended with us
                encoder = subprocess.Popen(args, stdin=subprocess.PIPE,
                                           stdout=subprocess.DEVNULL, stderr=errors,
                                           start_new_session=True)
        except OSError as err:
            raise RenderError(f"cannot run ffmpeg ({args[0]}): {err.strerror or err}; "
                              "IMAGEIO_FFMPEG_EXE names another") from None

        def stop() -> None:
            late.set()
            _end(encoder)

        limit = threading.Timer(seconds, stop)
        limit.start()
        try:
            _feed(encoder, pngs)
            status = encoder.wait()
        finally:
            limit.cancel()
            _end(encoder)
    if late.is_set():
        raise RenderError(f"ffmpeg took more than {seconds:g} s to encode the video and was "
                          "stopped (BACKVIZ_DOT_TIMEOUT=SECONDS allows longer)")
    return status


def _ffmpeg() -> str:
    """The ffmpeg that imageio-ffmpeg brings (or the one it is told of)."""
    try:
        import imageio_ffmpeg
    except ImportError:
        raise BackvizError("an MP4 needs imageio-ffmpeg: pip install 'backviz[video]' (or pip "
                           "install imageio-ffmpeg)") from None
    try:
        return str(imageio_ffmpeg.get_ffmpeg_exe())
    except RuntimeError as err:  # no ffmpeg of its own for this machine, none on PATH
        raise RenderError(f"imageio-ffmpeg found no ffmpeg: {err}") from None


def _feed(encoder: subprocess.Popen[bytes], pngs: Sequence[bytes]) -> None:
    """Each frame, as raw RGB, as many times as its duration takes at VIDEO_FPS (one frame
    decoded at a time: 80 frames of a wide figure would not fit in memory at once)."""
    assert encoder.stdin is not None
    try:
        for png, ms in zip(pngs, durations(len(pngs)), strict=True):
            raw = _frame(png).tobytes()
            for _ in range(ms * VIDEO_FPS // 1000):
                encoder.stdin.write(raw)
        encoder.stdin.close()
    except BrokenPipeError:  # ffmpeg stopped: its status and message say why
        pass


def _end(encoder: subprocess.Popen[bytes]) -> None:
    """ffmpeg's process group ended, if it runs still."""
    if encoder.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(encoder.pid, signal.SIGKILL)
        encoder.wait()
    if encoder.stdin is not None:
        with contextlib.suppress(BrokenPipeError):
            encoder.stdin.close()


def _frame(png: bytes) -> Image:
    """A video's frame from a PNG: RGB, made smaller to fit :data:`MAX_VIDEO` if it is
    larger (a wide build at a large --scale; players take at most 4K), its sides even."""
    frame = _rgb(png)
    if frame.width > MAX_VIDEO[0] or frame.height > MAX_VIDEO[1]:
        frame.thumbnail(MAX_VIDEO)
    return _even(frame)


def _even(frame: Image) -> Image:
    """The frame with a row or column of its background added where a side is odd (H.264
    in yuv420p halves the colour's resolution, so both sides must be even)."""
    width, height = frame.size
    if width % 2 == 0 and height % 2 == 0:
        return frame
    from PIL import Image

    padded = Image.new("RGB", (width + width % 2, height + height % 2), frame.getpixel((0, 0)))
    padded.paste(frame, (0, 0))
    return padded
