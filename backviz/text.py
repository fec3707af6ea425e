"""Text as the renderer writes it: shortened to a limit, escaped for HTML-like labels and
SVG, quoted for DOT."""

from __future__ import annotations

__all__ = ["escape", "quote", "short"]


def short(text: str, limit: int) -> str:
    """The text, cut to ``limit`` characters with "..." at the end where it is longer."""
    return text if len(text) <= limit else text[:limit - 3] + "..."


def escape(text: str) -> str:
    """Text for an HTML-like label or an SVG element: ``& < > "`` escaped."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


def quote(text: str) -> str:
    """Text as a DOT string, in double quotes."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
