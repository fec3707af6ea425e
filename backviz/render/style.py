"""How a figure is drawn: its colours (:class:`Theme`, :data:`THEMES`) and its :class:`Style`.

Plain frozen records, which the DOT writer, the frames of a build and the stepping page
read. :func:`is_precision` is the one check of the number of decimals: the command line,
the live page and the expression files use it too.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from ..errors import BackvizError

__all__ = [
    "HIDDEN",
    "HIGHLIGHT_WIDTH",
    "MADE_ELEMENTS",
    "MAX_ELEMENTS",
    "MAX_PRECISION",
    "MIN_PRECISION",
    "PICTURE_ELEMENTS",
    "STUB",
    "THEME",
    "THEMES",
    "TOTAL",
    "Layout",
    "Note",
    "Style",
    "Theme",
    "is_precision",
]

@dataclass(frozen=True)
class Theme:
    """The colours of a figure (and of the stepping page): plain data, so a page can switch it."""

    name: str
    value: str
    """The forward values, above the lines."""
    gradient: str
    """The gradients, below the lines."""
    text: str
    """Gates, inputs, lines and arrows."""
    background: str
    highlight: str
    """The outline of the gate a frame of a build is at."""
    highlight_fill: str
    note: str
    """The chain-rule products under a build's frames."""
    pattern: str
    """--annotate's words: distributor, router, switcher."""
    value_name: str = "green"
    """The value colour in words, for the teaching text ("every value in green")."""


THEMES: dict[str, Theme] = {
    # The lecture's colours.
    "slides": Theme("slides", value="#008000", gradient="#FF0000", text="#000000",
                    background="#FFFFFF", highlight="#1F6FD1", highlight_fill="#E8F0FB",
                    note="#1F4E99", pattern="#555555"),
    # Okabe and Ito's blue and vermilion: told apart with every kind of colour blindness,
    # and by lightness alone (in grey they are 33% and 51%).
    "colorblind": Theme("colorblind", value="#0072B2", gradient="#C04000", text="#000000",
                        background="#FFFFFF", highlight="#7A3E9D", highlight_fill="#F1E8F7",
                        note="#5C2D7A", pattern="#555555", value_name="blue"),
    # Light text on a dark background (a dark slide deck or a dark notebook).
    "dark": Theme("dark", value="#7EE787", gradient="#FF8A80", text="#E6E6E6",
                  background="#1E1E1E", highlight="#79B8FF", highlight_fill="#22384F",
                  note="#9CC8FF", pattern="#B0B0B0"),
}
THEME = THEMES["slides"]
HIDDEN = "transparent"
HIGHLIGHT_WIDTH = 2.5
"""The pen width of the outline of the gate a frame of a build is at."""
STUB = (-1, 0)
"""The key of the output's stub in :attr:`Style.gradients`. Other edges: (gate id, input
position); the stub of a value used more than once, with its total gradient: (its id, -1)."""
TOTAL = -1
MAX_ELEMENTS = 16
"""An input with more elements is drawn as a picture, or its shape and range (unless asked)."""
MADE_ELEMENTS = 4
"""A value a gate makes with more elements is drawn as a picture (unless asked): a figure
shows its inputs' numbers and the shapes of what flows between its gates, so that it fits
a slide (the lecture's vectorized figure, whose q has 2, keeps its numbers)."""
PICTURE_ELEMENTS = 64
"""The largest array drawn as a picture of its numbers; a larger one is its shape and range."""
MIN_PRECISION = 0
MAX_PRECISION = 12
"""Decimals a figure can show: from MIN_PRECISION to MAX_PRECISION."""


def is_precision(value: object) -> bool:
    """Whether ``value`` is a number of decimals a figure can show (a bool is not one)."""
    return (isinstance(value, int) and not isinstance(value, bool)
            and MIN_PRECISION <= value <= MAX_PRECISION)


@dataclass(frozen=True)
class Style:
    """How a figure is drawn."""

    precision: int = 2
    """Decimals shown (the slides use 2)."""
    integers: bool | None = None
    """Show integers without decimals; None: when every number in the figure is integral."""
    gradients: frozenset[tuple[int, int]] | None = None
    """The edges whose red gradient is shown, as (gate id, input position) and STUB;
    None: all. A hidden one keeps its room, so the frames of a build do not move."""
    highlight: int | None = None
    """The id of a gate to draw highlighted (the gate a frame of a build is at)."""
    notes: tuple[Note, ...] = ()
    """Lines written under the figure, each centred under its node (a build's products)."""
    note_rows: int = 0
    """Room for at least this many lines of notes, so that frames keep one size."""
    note_width: float = 0.0
    """The band of notes is at least this wide (points), so that frames keep one size."""
    layout: Layout | None = None
    """Where the nodes are (:attr:`backviz.template.Template.layout`), to centre notes
    under them."""
    annotate: bool = False
    """Write each gate's gradient pattern (distributor, router, switcher) under it."""
    theme: Theme = THEME
    """The colours (see :data:`THEMES`)."""
    transparent: bool = False
    """No background: the slide or page shows through."""
    scale: float | None = None
    """Size: K times the default size of every format (None: 1). An SVG or a PDF is K
    times its natural size; a PNG has K times :data:`backviz.render.dot.PNG_SCALE`
    pixels per point."""
    max_elements: int | None = None
    """Arrays of more elements are written as their shape and range; None: fit a slide,
    an input's numbers up to :data:`MAX_ELEMENTS`, a made value's up to
    :data:`MADE_ELEMENTS`, larger arrays as a picture of their numbers."""
    caption: str | None = None
    """A line or two of text under the figure (an expression file's ``caption``)."""

    def __post_init__(self) -> None:
        if not is_precision(self.precision):
            raise BackvizError(f"precision must be a whole number from {MIN_PRECISION} to "
                               f"{MAX_PRECISION}, not {self.precision!r}")
        if self.scale is not None and not _is_number(self.scale, 0.1, 20):
            raise BackvizError(f"scale must be a number from 0.1 to 20, not {self.scale!r}")
        if self.max_elements is not None and (
                isinstance(self.max_elements, bool) or not isinstance(self.max_elements, int)
                or self.max_elements < 1):
            raise BackvizError(f"max_elements must be a whole number of at least 1, "
                               f"not {self.max_elements!r}")
        if not isinstance(self.theme, Theme):
            raise BackvizError(f"theme must be one of {', '.join(THEMES)} (backviz.render.THEMES), "
                               f"not {self.theme!r}")


def _is_number(value: object, low: float, high: float) -> bool:
    """Whether ``value`` is an int or a float from ``low`` to ``high`` (a bool is not one)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and low <= value <= high


@dataclass(frozen=True)
class Note:
    """A line written under the figure, below the node with id ``node``."""

    node: int
    text: str
    color: str | None = None
    """None: the theme's colour for notes."""


@dataclass(frozen=True)
class Layout:
    """Where Graphviz put the nodes: the figure's width and each node's centre x (points),
    as laid out with its band of notes (see :mod:`backviz.template`)."""

    width: float
    x: Mapping[int, float] = field(default_factory=dict)
