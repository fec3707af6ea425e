"""The band under a figure: the notes of a build's frame, each under its node, or a caption.

The band is a graph label of fixed width, so that it never moves the figure from one
frame of a build to the next; :func:`note_spacers` says where each note starts in it, for
the DOT label and for the frames drawn from one layout (:mod:`backviz.template`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from ..text import escape
from .metrics import NOTE_SIZE, note_width
from .style import Style

__all__ = ["caption_label", "note_spacers", "notes_label"]

_LABEL_MARGIN = 8.0  # Graphviz's room on each side of a graph label (points)


def note_spacers(style: Style) -> tuple[int, list[int]]:
    """The band of notes' width, and for each note the room left of it (points).

    The band is as wide as the drawing (or ``note_width``), so it never moves the
    figure from one frame of a build to the next. With ``style.layout`` (the figure's
    own layout, band included) each note is centred under its node, the lines under one
    node as a block; without it, notes start at the left. The room is at least 1, so
    every line has the same cells (see notes_label).
    """
    known = style.layout
    drawing = known.width if known else 0.0
    band = math.floor(max(drawing - 2 * _LABEL_MARGIN, style.note_width,
                          *(note_width(n.text) for n in style.notes), 1.0))
    # A band wider than the drawing centres the drawing above it.
    shift = max(0.0, (band + 2 * _LABEL_MARGIN - drawing) / 2)
    block: dict[int, float] = {}
    for note in style.notes:
        block[note.node] = max(block.get(note.node, 0.0), note_width(note.text))
    spacers = []
    for note in style.notes:
        width = block[note.node]
        x = known.x.get(note.node) if known else None
        left = 0.0 if x is None else x + shift - _LABEL_MARGIN - width / 2
        spacers.append(max(1, round(min(max(0.0, left), band - width))))
    return band, spacers


def notes_label(style: Style) -> str:
    """The graph's label: a band under the figure, each note under its node."""
    band, spacers = note_spacers(style)
    rows = []
    for note, spacer in zip(style.notes, spacers, strict=True):
        # Each line is a table as wide as the band (Graphviz centres a narrower one in
        # its cell): a spacer of fixed width, then the text, on the left of the rest.
        rows.append(f'<TR><TD HEIGHT="18"><TABLE WIDTH="{band}" BORDER="0" CELLBORDER="0" '
                    f'CELLSPACING="0" CELLPADDING="0"><TR>'
                    f'<TD WIDTH="{spacer}" HEIGHT="1" FIXEDSIZE="TRUE"></TD><TD ALIGN="LEFT">'
                    f'<FONT POINT-SIZE="{NOTE_SIZE}" COLOR="{note.color or style.theme.note}">'
                    f'{escape(note.text)}</FONT></TD></TR></TABLE></TD></TR>')
    rows += ['<TR><TD HEIGHT="18"></TD></TR>'] * (style.note_rows - len(style.notes))
    return (f'  graph [labelloc=b, labeljust=l, label=<<TABLE BORDER="0" CELLBORDER="0" '
            f'CELLSPACING="0" CELLPADDING="0" WIDTH="{band}">{"".join(rows)}</TABLE>>];')


def caption_label(style: Style, key: Sequence[str] = ()) -> str:
    """The graph's label: the key of the gates' notation (``lse: logsumexp``) on a line
    of its own, then the caption under the figure, in two lines where it can.

    Lines are half the caption's width, from 270 to 560 points: a short caption does not
    make a small figure much wider, and a long one does not become a narrow column. A
    control character (TOML lets a caption hold one) is a space: dot's XML refuses it.
    """
    head = f'<FONT COLOR="{style.theme.text}">{escape(",  ".join(key))}</FONT>' if key else ""
    printable = "".join(c if c.isprintable() else " " for c in style.caption or "")
    caption = " ".join(printable.split())
    limit = min(560.0, max(270.0, note_width(caption) / 2 + 20))
    lines: list[str] = []
    for word in caption.split():
        if lines and note_width(f"{lines[-1]} {word}") <= limit:
            lines[-1] += " " + word
        else:
            lines.append(word)
    italic = f"<I>{'<BR/>'.join(escape(line) for line in lines)}</I>" if lines else ""
    text = "<BR/>".join(part for part in (head, italic) if part)
    return (f'  graph [labelloc=b, labeljust=c, label=<<FONT POINT-SIZE="{NOTE_SIZE}" '
            f'COLOR="{style.theme.note}">{text}</FONT>>];')
