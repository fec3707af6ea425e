"""A build as an animation: its frames, drawn from one layout, as a GIF or an animated PNG.

The frames are PNGs of one size (a build's frames never move, see
:mod:`backviz.template`); Pillow encodes them, so this module needs the ``animate`` extra
(``pip install 'backviz[animate]'``). Each frame is shown long enough to read its new
numbers, the forward pass and the finished figure longer, and the animation loops.
A GIF has at most 256 colours: the figure's few colours and their anti-aliased edges fit
in an adaptive palette, which keeps a figure's GIF small enough to post.
"""

from __future__ import annotations

import io
from collections.abc import Sequence

from ..errors import BackvizError
from .export import ANIMATIONS

__all__ = ["ANIMATIONS", "FIRST_MS", "FRAME_MS", "LAST_MS", "PIXELS_PER_POINT", "animation",
           "durations"]

FRAME_MS = 1500
"""How long each step of the backward pass is shown (ms)."""
FIRST_MS = 2500
"""The forward pass, the first frame: longer, to read the values before gradients come."""
LAST_MS = 5000
"""The finished figure: a hold before the animation starts again."""
PIXELS_PER_POINT = 1.5
"""An animation's frames have this many pixels per point (times ``--scale``): the first
figure is 303 px wide, the sigmoid neuron 1,104 px, sharp enough for a post, and small."""


def durations(n: int) -> list[int]:
    """How long each of ``n`` frames is shown, in milliseconds."""
    if n == 1:
        return [LAST_MS]
    return [FIRST_MS] + [FRAME_MS] * (n - 2) + [LAST_MS]


def animation(pngs: Sequence[bytes], format: str) -> bytes:
    """The frames (PNG files of one size) as one animation, looping for ever."""
    if format not in ANIMATIONS:
        raise BackvizError(f"an animation is {' or '.join(ANIMATIONS)}, not {format}")
    try:
        from PIL import Image
    except ImportError:
        raise BackvizError("an animation needs Pillow: pip install 'backviz[animate]' (or "
                           "pip install Pillow)") from None
    frames = [Image.open(io.BytesIO(png)).convert("RGB") for png in pngs]
    if format == "gif":
        # One palette for every frame, from the last (which has every number and colour).
        # Maximum coverage keeps the exact colours of the theme (median cut averages them).
        palette = frames[-1].quantize(colors=64, method=Image.Quantize.MAXCOVERAGE)
        frames = [f.quantize(palette=palette, dither=Image.Dither.NONE) for f in frames]
    out = io.BytesIO()
    frames[0].save(out, format="GIF" if format == "gif" else "PNG", save_all=True,
                   append_images=frames[1:], duration=durations(len(frames)), loop=0,
                   optimize=format == "gif")
    return out.getvalue()
