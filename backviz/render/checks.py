"""What Graphviz's ``dot`` wrote, checked before it becomes a file: each format whole.

A ``dot`` may exit 0 having written half a figure, garbage or another program's output (a
broken install, a wrapper script): an SVG must be well-formed XML to its ``</svg>``, a PNG
complete to its IEND chunk with every CRC right, a PDF must reach its ``%%EOF``, and a
build's JSON layout must parse and hold what the build reads.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Callable, Sequence
from xml.parsers import expat

__all__ = ["checked"]

# What each format's output starts with: dot may exit 0 having written nothing or garbage.
_SIGNATURES = {"svg": (b"<?xml", b"<svg"), "png": (b"\x89PNG\r\n\x1a\n",), "pdf": (b"%PDF-",),
               "json": (b"{",), "json0": (b"{",)}


def checked(data: bytes, formats: Sequence[str]) -> str:
    """What is wrong with dot's output of ``formats`` (written one after the other), in
    words that end "dot wrote ...", or "" if it is each of them, whole: an SVG well-formed
    XML to its </svg>, a PNG to its IEND chunk (every chunk's CRC right), a PDF to its
    %%EOF, a JSON layout parsed, with the bounding box and places a build reads."""
    if not data.strip():
        return "nothing"
    at = 0
    for k, fmt in enumerate(formats):
        at = len(data) - len(data[at:].lstrip())
        name = "JSON" if fmt.startswith("json") else fmt.upper()
        if at == len(data):
            return f"nothing where the {name} should be"
        if not data.startswith(_SIGNATURES.get(fmt, (b"",)), at):
            return f"output that is not {name}"
        at, wrong = _ENDS.get(fmt, _rest)(data, at, k == len(formats) - 1)
        if wrong:
            return wrong
    if data[at:].strip():
        return f"more output after the end of the {name}"
    return ""


_End = Callable[[bytes, int, bool], tuple[int, str]]
"""Where a format's document that starts at an offset ends, or what is wrong with it;
told if it is the last of the output."""


def _rest(data: bytes, at: int, last: bool) -> tuple[int, str]:
    return len(data), ""


def _svg_end(data: bytes, at: int, last: bool) -> tuple[int, str]:
    close = data.find(b"</svg>", at)
    if close < 0:
        return at, "an incomplete SVG (it has no closing </svg> tag)"
    end = close + len(b"</svg>")
    if not _is_utf8(data[at:end]):
        return at, "output that is not SVG"
    wrong = _xml_problem(data[at:end])
    if wrong:
        return at, wrong
    if data[end:end + 1] == b"\n":
        end += 1
    elif not last:  # a build splits the SVG from the layout at "</svg>" and a line break
        return at, "an SVG with no line break after its </svg> tag"
    return end, ""


class _Refused(Exception):
    """An entity declaration: Graphviz writes none, and they can make a small text huge."""


def _xml_problem(doc: bytes) -> str:
    """What keeps ``doc`` from being one well-formed XML document, or "". (It ends with
    </svg>, so its root is an svg element.)"""
    parser = expat.ParserCreate()

    def declared(*args: object) -> None:
        raise _Refused

    parser.EntityDeclHandler = declared
    try:
        parser.Parse(doc, True)
    except expat.ExpatError as err:
        return f"an SVG that is not well-formed XML (line {err.lineno}: " \
            f"{expat.ErrorString(err.code)})"
    except _Refused:
        return "an SVG that declares entities"
    return ""


def _png_end(data: bytes, at: int, last: bool) -> tuple[int, str]:
    """A PNG's chunks, each its length, type, data and CRC, from IHDR to IEND."""
    view, i = memoryview(data), at + 8
    while True:
        length = int.from_bytes(view[i:i + 4], "big")
        end = i + 12 + length
        if end > len(data):
            return at, "an incomplete PNG (it ends before its IEND chunk)"
        kind = bytes(view[i + 4:i + 8])
        if zlib.crc32(view[i + 4:end - 4]) != int.from_bytes(view[end - 4:end], "big"):
            return at, f"a damaged PNG (its {kind.decode('latin-1')!r} chunk fails its CRC)"
        if i == at + 8 and kind != b"IHDR":
            return at, "a damaged PNG (it does not start with its IHDR chunk)"
        if kind == b"IEND":
            return end, ""
        i = end


def _pdf_end(data: bytes, at: int, last: bool) -> tuple[int, str]:
    # An updated PDF has an %%EOF for each update; a PDF before another format ends at its first.
    eof = data.rfind(b"%%EOF", at) if last else data.find(b"%%EOF", at)
    if eof < 0:
        return at, "an incomplete PDF (it has no %%EOF at its end)"
    return eof + len(b"%%EOF"), ""


def _json_end(data: bytes, at: int, last: bool) -> tuple[int, str]:
    import json  # only for a JSON layout: a figure's start does not need it (1.5 ms)

    try:
        text = data[at:].decode("utf-8")
    except UnicodeDecodeError:
        return at, "a JSON layout that is not UTF-8"
    try:
        value, end = json.JSONDecoder().raw_decode(text)
    except json.JSONDecodeError as err:
        return at, f"a JSON layout that does not parse ({err.msg}: line {err.lineno} " \
            f"column {err.colno})"
    wrong = _layout_problem(value)
    return at + len(text[:end].encode("utf-8")), wrong


def _layout_problem(layout: object) -> str:
    """What a build could not read in a layout (see backviz.template), or ""."""
    if not isinstance(layout, dict):
        return "a JSON layout that is not an object"
    if not _numbers(layout.get("bb"), 4):
        return "a JSON layout without the graph's bounding box (\"bb\")"
    objects = layout.get("objects", [])
    if not isinstance(objects, list) or not all(
            isinstance(o, dict) and isinstance(o.get("name", ""), str)
            and (not o.get("pos") or _numbers(o["pos"], 2)) for o in objects):
        return "a JSON layout whose objects are not Graphviz's (a name, a \"pos\" x,y)"
    return ""


def _numbers(text: object, count: int) -> bool:
    """Whether ``text`` is ``count`` finite numbers separated by commas."""
    if not isinstance(text, str) or text.count(",") != count - 1:
        return False
    try:
        return all(math.isfinite(float(part)) for part in text.split(","))
    except ValueError:
        return False


_ENDS: dict[str, _End] = {"svg": _svg_end, "png": _png_end, "pdf": _pdf_end,
                          "json": _json_end, "json0": _json_end}


def _is_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True
