"""Expression files: one figure per TOML file, a folder of them is a gallery.

A file looks like this (``values`` may hold numbers or nested lists)::

    title = "The sigmoid neuron, gate by gate"
    expression = "1/(1+exp(-(w0*x0+w1*x1+w2)))"
    caption = "CS231n lecture 4"      # optional
    precision = 2                     # optional: decimals shown
    theme = "colorblind"              # optional: slides, colorblind or dark

    [values]
    w0 = 2.0
    x0 = -1.0
"""

from __future__ import annotations

import difflib
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import GalleryFileError
from .render.style import MAX_PRECISION, MIN_PRECISION, THEMES, is_precision

__all__ = ["Figure", "find", "load"]

_FIELDS = {"title", "expression", "values", "caption", "precision", "theme", "collapse"}
THEME_NAMES = tuple(THEMES)


@dataclass(frozen=True)
class Figure:
    """One expression file."""

    path: Path
    title: str
    expression: str
    values: dict[str, Any] = field(default_factory=dict)
    caption: str | None = None
    precision: int | None = None
    theme: str | None = None
    collapse: tuple[str, ...] = ()
    """User gates drawn as one gate (``collapse = ["sig"]``)."""

    @property
    def name(self) -> str:
        """The figure's name: the file's stem (output/<name>.svg)."""
        return self.path.stem


def load(path: str | Path) -> Figure:
    """Read one expression file; a malformed one names the file and the field at fault."""
    path = Path(path)

    def fail(message: str) -> GalleryFileError:
        return GalleryFileError(f"{path}: {message}")

    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as err:
        raise fail(f"cannot read the file ({err.strerror})") from None
    except UnicodeDecodeError:
        raise fail("the file is not UTF-8 text") from None
    except tomllib.TOMLDecodeError as err:
        raise fail(f"not valid TOML: {err}") from None
    except RecursionError:  # tomllib recurses once per level of nested arrays
        raise fail("not valid here: a value is nested too deeply (a value is a number, a "
                   "vector or a matrix)") from None
    except ValueError:  # Python's limit of 4,300 digits for an integer
        raise fail("a number has more than 4,300 digits; write a value as a float "
                   "(1e400 is inf)") from None
    # Every problem with the fields at once: a typo in one must not hide the others.
    problems = []
    for key in sorted(set(data) - _FIELDS):
        close = difflib.get_close_matches(key, sorted(_FIELDS), n=1)
        hint = f"did you mean {close[0]!r}?" if close else f"the fields are: {', '.join(sorted(_FIELDS))}"
        problems.append(f"unknown field {key!r} ({hint})")
    problems += [f"the field {key!r} is missing" for key in ("title", "expression")
                 if key not in data]
    if problems:
        raise fail("; ".join(problems))
    for key in ("title", "expression", "caption", "theme"):
        if key in data and not isinstance(data[key], str):
            raise fail(f"the field {key!r} must be a string")
    values = data.get("values", {})
    if not isinstance(values, dict):
        raise fail("the field 'values' must be a table, e.g. [values] then x = 1.0")
    precision = data.get("precision")
    if precision is not None and not is_precision(precision):
        raise fail("the field 'precision' must be a whole number "
                   f"from {MIN_PRECISION} to {MAX_PRECISION}")
    theme = data.get("theme")
    if theme is not None and theme not in THEME_NAMES:
        raise fail(f"the field 'theme' must be one of {', '.join(THEME_NAMES)}, not {theme!r}")
    collapse = data.get("collapse", [])
    if not isinstance(collapse, list) or not all(isinstance(c, str) for c in collapse):
        raise fail("the field 'collapse' must be a list of user gates' names, e.g. [\"sig\"]")
    return Figure(path, data["title"], data["expression"], dict(values),
                  data.get("caption"), precision, theme, tuple(collapse))


def find(folder: str | Path) -> list[Path]:
    """The expression files of a folder, in name order."""
    return sorted(p for p in Path(folder).glob("*.toml") if p.is_file())
