"""The errors backviz raises: every bad input is a :class:`BackvizError`."""

from __future__ import annotations

__all__ = [
    "BackvizError",
    "ExpressionSyntaxError",
    "GalleryFileError",
    "GraphvizNotFoundError",
    "InvalidIndexError",
    "InvalidValueError",
    "MissingValueError",
    "NonScalarOutputError",
    "PositionedError",
    "RenderError",
    "RenderTimeoutError",
    "ShapeError",
    "Stopped",
    "TooLargeError",
    "UnknownFunctionError",
]

# How much of a long source line is shown around the caret.
_WINDOW = 60


def caret_lines(source: str, column: int) -> str:
    """Return the source line and a caret under ``column`` (0-based).

    Long lines (a 100,000-term sum, a 100,000-character name) are cut to a window
    around the column so that the message stays readable.
    """
    column = max(0, min(column, len(source)))
    start = max(0, column - _WINDOW)
    end = min(len(source), column + _WINDOW)
    # Control characters (newline, tab, carriage return...) would break the two lines
    # apart or shift the caret: each is shown as one space, keeping the columns.
    window = "".join(c if c.isprintable() else " " for c in source[start:end])
    prefix = "..." if start > 0 else ""
    shown = prefix + window + ("..." if end < len(source) else "")
    # A wide character (CJK, most emoji) takes two cells of a terminal: so does its
    # share of the caret line, or the caret lands left of the column.
    indent = len(prefix) + sum(_cells(c) for c in window[:column - start])
    if column < end and indent and not _cells(window[column - start]):
        indent -= 1  # a combining mark: under the letter it sits on
    return f"  {shown}\n  {' ' * indent}^"


def _cells(char: str) -> int:
    """How many terminal cells a character takes: 2 for a wide one, 0 for a combining mark."""
    import unicodedata  # only for a message: a run without an error never needs it

    if unicodedata.combining(char):
        return 0
    return 2 if unicodedata.east_asian_width(char) in ("W", "F") else 1


class BackvizError(ValueError):
    """Base class of every error caused by bad input to backviz."""


def line_and_column(source: str, offset: int) -> tuple[int, int, str]:
    """The 1-based line of ``offset`` in ``source``, its 0-based column there, and the line."""
    offset = max(0, min(offset, len(source)))
    start = source.rfind("\n", 0, offset) + 1
    end = source.find("\n", offset)
    line = source[start:] if end < 0 else source[start:end]
    return source.count("\n", 0, offset) + 1, offset - start, line


class PositionedError(BackvizError):
    """An error at a place in the expression or program; ``str()`` ends with a caret line.

    ``column`` is the offset in the whole text. A program of several lines is shown by the
    line at fault, and the message says ``(line L, column C)``; a one-line text says
    ``(column C)``.
    """

    def __init__(self, message: str, expression: str, column: int) -> None:
        self.message = message
        self.expression = expression
        self.column = column
        self.line, line_column, line = line_and_column(expression, column)
        where = (f"line {self.line}, column {line_column + 1}" if "\n" in expression
                 else f"column {column + 1}")
        super().__init__(f"{message} ({where})\n{caret_lines(line, line_column)}")


class ExpressionSyntaxError(PositionedError):
    """The expression is not in backviz's expression language."""


class UnknownFunctionError(PositionedError):
    """A function name that backviz does not know."""


class ShapeError(PositionedError):
    """A gate got inputs whose shapes do not fit together."""


class InvalidIndexError(PositionedError):
    """An index that does not fit what it indexes: out of range, or not an integer."""


class MissingValueError(BackvizError):
    """One or more variables of the expression have no value."""

    def __init__(self, message: str, names: tuple[str, ...]) -> None:
        self.names = names
        super().__init__(message)


class InvalidValueError(BackvizError):
    """A value is not a number, a (nested) list of numbers, or a numpy array."""


class NonScalarOutputError(BackvizError):
    """Backprop starts from a scalar, and the expression's output is not one."""


class GraphvizNotFoundError(BackvizError):
    """Graphviz's ``dot`` program is needed for this output format and is missing."""


class RenderError(BackvizError):
    """The figure cannot be drawn (too large, or Graphviz failed)."""


class RenderTimeoutError(RenderError):
    """Graphviz did not finish drawing within the time it was given."""


class TooLargeError(RenderError):
    """The input is too large for what is asked of it (drawing, a build, memory)."""


class GalleryFileError(BackvizError):
    """An expression file (TOML) is malformed; the message names the file and field."""


class Stopped(BaseException):
    """A signal stopped the command (see :mod:`backviz.start`): not bad input, and a
    BaseException, like KeyboardInterrupt, so that no ``except Exception`` swallows it."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum
