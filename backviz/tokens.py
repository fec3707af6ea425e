"""Cutting source text into tokens: shared by the parser and the graph's positions.

``split`` gives the tokens as plain strings, which is the cheapest way Python has to cut a
100,000-term sum; where each token is written (``offsets``) is worked out only when a
message or a figure asks, by the same pattern, so the k-th offset is the k-th token's.
"""

from __future__ import annotations

import re

__all__ = ["offsets", "split"]

# Every token: a name (with an optional math./np./numpy. prefix), an operator or
# punctuation, a number, a line break, a comment, a backslash line continuation, or else one
# bad character. Spaces, tabs and carriage returns are skipped (nothing here matches them).
# The most frequent tokens come first.
_TOKEN = re.compile(
    r"(?:(?:math|numpy|np)\.)?[A-Za-z_][A-Za-z0-9_]*"
    r"|\*\*=?|[-+*/@]=|[-+*/^@(),=\[\];\n]|\r(?!\n)|\u2028"
    r"|(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?"
    r"|#[^\n]*|\\\r?\n"
    r"|\S"
)


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
    spans = [m.span() for m in _TOKEN.finditer(text) if _kept(m.group())]
    return [*spans, (len(text), len(text))]
