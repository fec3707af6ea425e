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
    r"|\*\*=?|[-+*/@]=|[-+*/^@(),=\[\];\n]"
    r"|(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?"
    r"|#[^\n]*|\\\r?\n"
    r"|\S"
)


def _kept(token: str) -> bool:
    """Comments and line continuations are read past, like spaces."""
    return token[:1] not in ("#", "\\") or token == "\\"


def split(text: str) -> list[str]:
    """The tokens of ``text``, comments and line continuations left out."""
    tokens = _TOKEN.findall(text)
    if "#" in text or "\\" in text:
        tokens = [t for t in tokens if _kept(t)]
    return tokens


def offsets(text: str) -> list[tuple[int, int]]:
    """Where each token of :func:`split` starts and ends; then, for the end, (len, len)."""
    spans = [m.span() for m in _TOKEN.finditer(text) if _kept(m.group())]
    return [*spans, (len(text), len(text))]
