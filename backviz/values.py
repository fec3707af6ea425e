"""Values given as text: ``--x 3``, ``--W "[[1,2],[3,4]]"``, ``--W @W.npy``, a live page's field.

A value is a number written as the expression writes one (or nan, inf), a JSON list of
them, or, on the command line, ``@PATH`` to a .npy or .json file. The text is only ever read
by :func:`float` and :mod:`json`, and a file's size is checked before it is read whole:
nothing else is run. :func:`as_text` goes the other way, for the live page's fields.

Whichever way a value comes (text, an expression file's TOML, Python), :func:`as_value`
checks it and makes it what the engine computes with.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .errors import InvalidValueError
from .text import short

__all__ = ["Data", "as_text", "as_value", "data", "describe", "from_field", "from_option"]

Array = Any  # np.float64 or np.ndarray

_NUMBER = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")
_NONFINITE = re.compile(r"(?<![\w.\"])([+-]?)(nan|inf(?:inity)?)(?![\w.\"])", re.IGNORECASE)
_LITERAL = re.compile(r"\b(true|false|null)\b")
_MAX_DEPTH = 32  # values are at most matrices: deeper nesting is refused before parsing
_EXAMPLES = "a JSON list like [1, 2] or [[1, 2], [3, 4]]"


def from_option(text: str, option: str) -> Any:
    """A command-line value: a number, a JSON list, or @PATH to a .npy or .json file.

    ``option`` is how the value was given (``--x``, ``--set x``): messages start with it.
    """
    text = text.strip()
    if text.startswith("@"):
        if not text[1:].strip():
            raise InvalidValueError(f"{option}: '@' needs a file after it, e.g. @W.npy")
        return _load_file(option, Path(text[1:]))
    value = _parse(text, option)
    if value is None:
        raise InvalidValueError(f"{option}: {text[:40]!r} is not a number, {_EXAMPLES}, or "
                                "@PATH to a .npy or .json file")
    return value


def from_field(name: str, text: str) -> Any:
    """A live page's field: a number or a JSON list (no file is read)."""
    text = text.strip()
    value = _parse(text, f"the value of {name}")
    if value is None:
        raise InvalidValueError(f"the value of {name}, {text[:40]!r}, is not a number or "
                                f"{_EXAMPLES}")
    return value


def as_text(value: Any) -> str:
    """A value as the live page's field shows it: a number, or a JSON list."""
    import json


    if isinstance(value, str):
        return value
    a = np.asarray(value, dtype=np.float64)
    if a.ndim == 0:
        return repr(float(a)).removesuffix(".0")
    return json.dumps(a.tolist())


def _parse(text: str, where: str) -> float | list[Any] | None:
    """A number or a JSON list; None if the text is neither."""
    # Numbers as the expression writes them (float() would also take 1_000 and " 1 ").
    if _NUMBER.match(text) or _NONFINITE.fullmatch(text):
        return float(text)
    import json  # only for a list: a number, the usual value, needs none (1.5 ms a start)

    try:
        value = _json(text, where)
    except json.JSONDecodeError:
        return None
    return value if isinstance(value, list) else None


def _json(text: str, where: str) -> Any:
    """JSON, except that nan and inf may be written as --x nan may (Python's json module
    reads NaN and Infinity, which JSON itself does not have).

    Every number is read as a float (an integer of 5,000 digits is a number too), true,
    false and null are refused as they are in the expression, and so is nesting deeper
    than any value can be (json recurses once per level).
    """
    import json

    brackets = re.sub(r"[^\[\]]", "", text)
    depth = max(itertools.accumulate(1 if c == "[" else -1 for c in brackets), default=0)
    if depth > _MAX_DEPTH:
        raise InvalidValueError(f"{where}: the list is nested {depth} deep; a value is a number, "
                                "a vector [1, 2] or a matrix [[1, 2], [3, 4]]")
    literal = _LITERAL.search(text)
    if literal:
        raise InvalidValueError(f"{where}: {literal[0]} is not a number; values hold numbers only")
    return json.loads(_NONFINITE.sub(_json_constant, text), parse_int=float)


def _json_constant(match: re.Match[str]) -> str:
    if match[2].lower() == "nan":
        return "NaN"
    return "-Infinity" if match[1] == "-" else "Infinity"


def _load_file(option: str, path: Path) -> Any:
    suffix = path.suffix.lower()
    if suffix not in (".npy", ".json"):
        raise InvalidValueError(f"{option}: {path} must be a .npy or .json file")
    try:
        if suffix == ".npy":
            return _load_npy(option, path)
        return _json(path.read_text(encoding="utf-8"), option)
    except InvalidValueError:
        raise
    except FileNotFoundError:
        raise InvalidValueError(f"{option}: no such file: {path}") from None
    except IsADirectoryError:
        raise InvalidValueError(f"{option}: {path} is a folder, not a file") from None
    except UnicodeDecodeError:
        raise InvalidValueError(f"{option}: {path} is not UTF-8 text") from None
    except OSError as err:
        raise InvalidValueError(f"{option}: cannot read {path}: {err.strerror or err}") from None
    except ValueError as err:  # json: the message says where
        raise InvalidValueError(f"{option}: cannot read {path}: {err}") from None


def _load_npy(option: str, path: Path) -> Any:
    """A .npy file, its header checked before anything is allocated: a header can claim
    any shape, and numpy would try to allocate it (MemoryError) or fail on a short file."""
    import math


    with open(path, "rb") as f:
        start = f.read(6)
        f.seek(0)
        if start[:2] == b"PK":
            raise InvalidValueError(f"{option}: {path} is a .npz archive (several arrays), not "
                                    "a .npy file; save one array with numpy.save")
        if start != b"\x93NUMPY":
            raise InvalidValueError(f"{option}: {path} is not a .npy file (it does not start "
                                    "with numpy's signature)")
        try:
            version = np.lib.format.read_magic(f)
            read_header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                           else np.lib.format.read_array_header_2_0)
            shape, _, dtype = read_header(f)
        except (ValueError, TypeError, SyntaxError, EOFError):
            raise InvalidValueError(f"{option}: {path} has a .npy header that cannot be read "
                                    "(it is damaged, or not one numpy wrote)") from None
        need = math.prod(shape) * dtype.itemsize
        have = path.stat().st_size - f.tell()
        if need > have:
            raise InvalidValueError(f"{option}: {path} says it holds an array of shape {shape} "
                                    f"({need:,} bytes), but it has {have:,} bytes of data")
        f.seek(0)
        try:
            return np.load(f, allow_pickle=False)
        except (ValueError, EOFError) as err:
            raise InvalidValueError(f"{option}: cannot read {path}: {err}") from None


@dataclass(frozen=True)
class Data:
    """A value marked as given data, not a parameter (see :func:`data`)."""

    value: object


def data(value: object) -> Data:
    """Mark a value as given data (a label, a target, ``dout``): the trace draws it with its
    value and no gradient, and leaves it out of the gradients.

    ``backviz.trace("l2(W @ x - y)", W=W, x=x, y=backviz.data([1, 0]))``: the keywords
    of :func:`~backviz.trace` are the variables' values, so the mark goes on the value.
    """
    return Data(value)


def as_value(name: str, value: object) -> Array:
    """Check and convert one variable's value: a number, a nested list, or an array."""
    if type(value) is float:  # the common case first: a 100,000-term sum has 200,000 of them
        return np.float64(value)
    if isinstance(value, (bool, np.bool_)) or value is None \
            or isinstance(value, (str, bytes, bytearray, memoryview)):
        raise InvalidValueError(
            f"the value of {name} must be a number, a list of numbers or a numpy array, "
            f"not {describe(value)}")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        try:
            return np.float64(value)
        except OverflowError:  # an int past 1.8e308
            raise InvalidValueError(f"the value of {name} is too large for a float64") from None
    if isinstance(value, np.ma.MaskedArray):  # np.asarray would drop the mask silently
        raise InvalidValueError(
            f"the value of {name} is a masked array; pass value.filled(np.nan) (or another "
            "fill value) to say what its masked elements are")
    try:
        array = np.asarray(value)
        if array.dtype.kind not in "iuf":
            raise TypeError
        # A float64 array is used as it is, not copied: a copy of a 2000x2000 matrix
        # costs as much as the product W @ x. The trace sees it through a read-only
        # view, so nothing in backviz can change it.
        array = array.view() if array.dtype == np.float64 else array.astype(np.float64)
        array.flags.writeable = False
    except (TypeError, ValueError, OverflowError):
        raise InvalidValueError(
            f"the value of {name} must be a number, a list of numbers or a numpy array, "
            f"not {describe(value)}") from None
    if array.ndim > 4:  # 4: a batch of images (N, C, H, W), as a small CNN takes
        raise InvalidValueError(
            f"the value of {name} has {array.ndim} dimensions {array.shape}; "
            "backviz takes scalars, vectors, matrices and arrays of up to 4 dimensions")
    if array.size == 0:
        raise InvalidValueError(f"the value of {name} is empty {array.shape}")
    return array[()] if array.ndim == 0 else array


def describe(value: object) -> str:
    """A value in a message: its text, cut short, and what is wrong with its kind."""
    text = short(repr(value), 40)
    if isinstance(value, (list, tuple)) or type(value).__module__ == "numpy":
        return f"{text} (a list or array must be rectangular and hold only numbers)"
    return f"{text} ({type(value).__name__})"
