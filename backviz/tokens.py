"""Cutting source text into tokens, telling their kinds apart, and saying where one is.

``split`` gives the tokens as plain strings, which is the cheapest way Python has to cut a
100,000-term sum; where each token is written (``offsets``) is worked out only when a
message or a figure asks, by the same pattern, so the k-th offset is the k-th token's.
"""

from __future__ import annotations

import re

from .errors import ExpressionSyntaxError, PositionedError

__all__ = ["END", "NAME_START", "NUMBER_START", "PREFIXES", "Source", "function_name", "integer",
           "is_name", "is_number", "offsets", "split"]

# Every token: a name (with an optional math./np./numpy. prefix, and np.linalg.), an operator,
# a comparison or an ellipsis, or
# punctuation, a number, a line break, a comment, a backslash line continuation, or else one
# bad character. Spaces, tabs and carriage returns are skipped (nothing here matches them);
# the spaces and tabs before a token are read as part of its match, outside its group, so
# that the scan does not try every alternative at each of them.
# A control character (NUL, a vertical tab, ESC) is a bad character even in a comment or where
# a regex counts it as a space: the text is the figure's title, and XML refuses it.
# The most frequent tokens come first.
_TOKEN = re.compile(
    r"[ \t]*+("
    r"(?:(?:math|numpy|np)\.(?:linalg\.)?)?[A-Za-z_][A-Za-z0-9_]*"
    r"|\*\*=?|[-+*/@]=|[<>=!]=|[-+*/^@(),=<>\[\];\n]|\r(?!\n)|\u2028|\.\.\."
    r"|(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?"
    r"|#[^\n\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*|\\\r?\n"
    r"|\S|[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]"
    r")"
)

END = ""
"""The token after the last one: :class:`Source` ends its tokens with it, so that looking
one or two tokens ahead never runs off the list."""
NAME_START = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_")
NUMBER_START = frozenset("0123456789.")
PREFIXES = ("math.", "np.", "numpy.")
_INTEGER = re.compile(r"[0-9]+")

_LINE_BREAKS = {"\r": "\n", "\u2028": "\n"}  # a lone carriage return, a Unicode line separator


def _kept(token: str) -> bool:
    """Comments, line continuations and a byte-order mark are read past, like spaces."""
    return (token[:1] not in ("#", "\\") or token == "\\") and token != "\ufeff"


def split(text: str) -> list[str]:
    """The tokens of ``text``, comments and line continuations left out; every line break
    is written ``\\n``."""
    tokens = _TOKEN.findall(text)
    if "#" in text or "\\" in text or "\ufeff" in text:
        tokens = [t for t in tokens if _kept(t)]
    if "\r" in text or "\u2028" in text:
        tokens = [_LINE_BREAKS.get(t, t) for t in tokens]
    return tokens


def offsets(text: str) -> list[tuple[int, int]]:
    """Where each token of :func:`split` starts and ends; then, for the end, (len, len)."""
    spans = [m.span(1) for m in _TOKEN.finditer(text) if _kept(m.group(1))]
    return [*spans, (len(text), len(text))]


def is_name(token: str) -> bool:
    """A name, ``math.exp`` and the like included (the pattern allows nothing else to start
    with a letter)."""
    return token[:1] in NAME_START


def is_number(token: str) -> bool:
    return token[:1] in NUMBER_START and token != "." and token != "..."


def integer(tokens: list[str], k: int) -> tuple[int | None, int]:
    """An integer written at token k (``2``, ``-1``), and the token after it; None if none."""
    sign, j = (-1, k + 1) if tokens[k] == "-" else (1, k)
    if _INTEGER.fullmatch(tokens[j]):
        return sign * int(tokens[j]), j + 1
    return None, k


def function_name(token: str) -> str:
    """``exp`` for ``exp``, ``math.exp``, ``np.exp`` and ``numpy.exp``; ``linalg.norm`` for
    ``np.linalg.norm``."""
    return token.split(".", 1)[1] if token.startswith(PREFIXES) else token


class Source:
    """A program's text and its tokens (ending with :data:`END`), for the messages about it.

    Positions are token indexes (the k-th token of the text): cheap to keep, and turned
    into columns only for a message.
    """

    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = split(text)
        self.tokens.append(END)
        self._offsets: list[tuple[int, int]] | None = None

    def offset(self, token: int) -> int:
        if self._offsets is None:
            self._offsets = offsets(self.text)
        return self._offsets[token][0]

    def error(self, message: str, token: int,
              kind: type[PositionedError] = ExpressionSyntaxError) -> PositionedError:
        """The error to raise about token ``token``, with the caret under it."""
        return kind(message, self.text, self.offset(token))

    def place(self, token: int) -> str:
        """``line 3`` (or ``column 12`` in a one-line program): where a token is."""
        offset = self.offset(token)
        if "\n" not in self.text:
            return f"column {offset + 1}"
        return f"line {self.text.count(chr(10), 0, offset) + 1}"
