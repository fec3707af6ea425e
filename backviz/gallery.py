"""Expression files: one figure per TOML file, a folder of them is a gallery.

A file looks like this (``values`` may hold numbers or nested lists); ``title`` and
``expression`` are required, the other keys optional (docs/figures.md, "The gallery")::

    title = "The sigmoid neuron, gate by gate"
    expression = "1/(1+exp(-(w0*x0+w1*x1+w2)))"
    caption = "CS231n lecture 4"      # optional
    precision = 2                     # optional: decimals shown
    theme = "colorblind"              # optional: slides, colorblind or dark
    data = ["y"]                      # optional: inputs that are given data, no gradient

    [values]
    w0 = 2.0
    x0 = -1.0
"""

from __future__ import annotations

import difflib
import tomllib
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import BackvizError, GalleryFileError
from .graph import Graph
from .parse import parse
from .render.style import MAX_PRECISION, MIN_PRECISION, THEMES, is_precision
from .values import as_value

__all__ = ["Figure", "find", "load"]

_FIELDS = {"title", "expression", "values", "caption", "precision", "theme", "collapse", "data"}
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
    graph: Graph | None = field(default=None, compare=False, repr=False)
    """The expression, parsed (the file is read once), its ``data`` declared."""
    data: tuple[str, ...] = ()
    """Inputs that are given data, drawn without a gradient (``data = ["y"]``)."""

    @property
    def name(self) -> str:
        """The figure's name: the file's stem (output/<name>.svg)."""
        return self.path.stem


def load(path: str | Path, given: Collection[str] = ()) -> Figure:
    """Read one expression file; a malformed one names the file and every problem in it,
    each with the field at fault (a fix of one must not reveal the next).

    ``given`` names the variables given a value elsewhere (on the command line): the
    file's values for them are not checked, nor are they missing.
    """
    path = Path(path)
    data = _read(path)
    problems = _field_problems(data)
    values = data.get("values", {})
    graph, syntax = None, None
    if isinstance(data.get("expression"), str):
        try:
            graph = parse(data["expression"])
        except BackvizError as err:
            syntax = f"field 'expression': {err}"  # last: its caret lines end the message
    if isinstance(values, dict):
        problems += _value_problems(values, graph, given, missing=bool(problems or syntax))
    declared = data.get("data", [])
    if graph is not None and _names(declared):
        try:
            graph = graph.with_data(declared)
        except BackvizError as err:
            problems.append(f"field 'data': {err}")
    if problems or syntax:
        raise GalleryFileError(f"{path}: {'; '.join([*problems, *([syntax] if syntax else [])])}")
    return Figure(path, data["title"], data["expression"], dict(values), data.get("caption"),
                  data.get("precision"), data.get("theme"), tuple(data.get("collapse", [])),
                  graph, tuple(declared))


def _names(value: Any) -> bool:
    """Whether a field is a list of names (``collapse``, ``data``)."""
    return isinstance(value, list) and all(isinstance(name, str) for name in value)


def _read(path: Path) -> dict[str, Any]:
    """The file's TOML, or the one problem that stops it being read."""

    def fail(message: str) -> GalleryFileError:
        return GalleryFileError(f"{path}: {message}")

    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
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


def _field_problems(data: dict[str, Any]) -> list[str]:
    """What is wrong with the fields: unknown, missing, or of the wrong kind."""
    problems = []
    for key in sorted(set(data) - _FIELDS):
        close = difflib.get_close_matches(key, sorted(_FIELDS), n=1)
        hint = f"did you mean {close[0]!r}?" if close else f"the fields are: {', '.join(sorted(_FIELDS))}"
        problems.append(f"unknown field {key!r} ({hint})")
    problems += [f"the field {key!r} is missing" for key in ("title", "expression")
                 if key not in data]
    problems += [f"the field {key!r} must be a string"
                 for key in ("title", "expression", "caption", "theme")
                 if key in data and not isinstance(data[key], str)]
    if not isinstance(data.get("values", {}), dict):
        problems.append("the field 'values' must be a table, e.g. [values] then x = 1.0")
    precision = data.get("precision")
    if precision is not None and not is_precision(precision):
        problems.append("the field 'precision' must be a whole number "
                        f"from {MIN_PRECISION} to {MAX_PRECISION}")
    theme = data.get("theme")
    if isinstance(theme, str) and theme not in THEME_NAMES:
        problems.append(f"the field 'theme' must be one of {', '.join(THEME_NAMES)}, "
                        f"not {theme!r}")
    if not _names(data.get("collapse", [])):
        problems.append("the field 'collapse' must be a list of user gates' names, "
                        "e.g. [\"sig\"]")
    if not _names(data.get("data", [])):
        problems.append("the field 'data' must be a list of inputs' names, e.g. [\"y\"]")
    return problems


def _value_problems(values: dict[str, Any], graph: Graph | None, given: Collection[str],
                    missing: bool) -> list[str]:
    """What is wrong with the file's values (those not given elsewhere); with ``missing``
    (other problems are reported), also the variables that have none."""
    problems = []
    used = set(graph.variables) if graph is not None else set(values)
    for name, value in values.items():
        if name in given or name not in used:  # a value the expression does not use: unread
            continue
        try:
            as_value(name, value)
        except BackvizError as err:
            problems.append(f"field 'values': {err}")
    if missing and graph is not None:
        absent = [name for name in graph.variables
                  if name not in values and name not in given and name not in graph.defaults]
        if absent:
            problems.append(f"field 'values': no value for {', '.join(absent)}")
    return problems


def find(folder: str | Path) -> list[Path]:
    """The expression files of a folder, in name order."""
    return sorted(p for p in Path(folder).glob("*.toml") if p.is_file())
