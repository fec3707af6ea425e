"""What to draw: the expression typed on the command line, or the expression files of a
file or a folder, each parsed once into a :class:`Source`."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from ..errors import BackvizError, GalleryFileError
from ..graph import Graph
from ..ops import FUNCTIONS
from ..parse import parse
from .arguments import NAME
from .exits import UsageError

if TYPE_CHECKING:
    from ..gallery import Figure

__all__ = ["Source", "check_name", "declared_data", "figure_name", "is_path", "read_target",
           "variables_of"]


class Source(NamedTuple):
    """One expression to draw, parsed: typed on the command line, or an expression file's."""

    expression: str
    graph: Graph
    figure: Figure | None = None
    """The expression file it comes from."""


def is_path(target: str, named: set[str]) -> bool:
    """Whether the target is an expression file or a folder, rather than an expression."""
    # Path("") is the current folder, but an empty argument is an empty expression
    if not target:
        return False
    if target.endswith(".toml"):
        return True
    try:
        if not Path(target).exists():  # a folder, or a file that is no expression file
            return False
    except OSError:  # a long expression is too long a file name
        return False
    # A bare name is an expression too (a folder x/ beside the expression x): it is the
    # expression when its variable is given a value, by --x or --set x=.
    return not NAME.fullmatch(target) or target in FUNCTIONS or target not in named


def read_target(target: str, path: bool, named: set[str],
                command: str = "backviz") -> list[Source | BackvizError]:
    """The expression, parsed; or each expression file of the target, whose errors wait
    until its turn comes (in a folder, the other files are drawn). ``named``: the
    variables given values on the command line."""
    if not path:
        try:
            return [Source(target, parse(target))]
        except BackvizError as err:
            # nope/ or data/fig.toml/: a path that is not there, not an expression
            if _PATHLIKE.fullmatch(target) and ("/" in target or _SUFFIX.search(target)):
                raise BackvizError(f"{target}: no such folder or file; backviz takes an "
                                   f"expression, an expression file (.toml) or a folder of "
                                   f"them (as an expression: {str(err).splitlines()[0]})"
                                   ) from None
            raise
    if not Path(target).is_dir() and not target.endswith(".toml"):
        raise BackvizError(_not_an_expression_file(target, command))
    from ..gallery import find

    files = find(target) if Path(target).is_dir() else [Path(target)]
    return [_read_file(file, named) for file in files]


_PATHLIKE = re.compile(r"[\w.~/-]+")
_SUFFIX = re.compile(r"\.[A-Za-z]\w*$")


def _not_an_expression_file(target: str, command: str) -> str:
    """The message for a file given as the target that is not an expression file: a
    program's text is given itself, quoted (the file's, if backviz reads it)."""
    import shlex

    head = f"{target} is a file, not an expression file (.toml, see docs/figures.md)"
    if NAME.fullmatch(target):  # a bare name: the expression, once its value is given
        head += f"; for the expression {target}, give its value: --{target} VALUE"
    quoted = f'{command} "$(cat {shlex.quote(target)})"'
    try:
        if not Path(target).is_file():  # a pipe or a device: reading it might never end
            raise ValueError(target)
        with open(target, "rb") as file:
            text = file.read(1_000_001).decode("utf-8")
        variables = parse(text).variables if len(text) <= 1_000_000 else None
    except BackvizError as err:
        return (f"{head}; its text is no program backviz reads either "
                f"({str(err).splitlines()[0]})")
    except (OSError, ValueError):  # unreadable, not UTF-8 text
        variables = None
    if variables is None:
        return f"{head}; a program is given as its text, e.g. {quoted}"
    values = "".join(f" --{name} VALUE" for name in variables[:3])
    more = " ..." if len(variables) > 3 else ""
    return f"{head}; to draw the program in it, give its text: {quoted}{values}{more}"


def _read_file(file: Path, named: set[str]) -> Source | BackvizError:
    """One expression file, read and parsed; or everything that is wrong with it."""
    from ..gallery import load

    try:
        figure = load(file, named)
    except GalleryFileError as err:
        return err
    return Source(figure.expression, figure.graph or parse(figure.expression), figure)


def variables_of(sources: Iterable[Source | BackvizError]) -> tuple[str, ...]:
    """The variables that may be given on the command line: every expression's."""
    names: dict[str, None] = {}
    for source in sources:
        if isinstance(source, Source):
            names.update(dict.fromkeys(source.graph.variables))
    return tuple(names)


def declared_data(data: Sequence[str], sources: Sequence[Source | BackvizError]) -> tuple[str, ...]:
    """The names that --data declares given data (it is repeated, or names them with commas
    between), each an input of an expression drawn: else the error says what it is."""
    names = tuple(dict.fromkeys(name.strip() for item in data for name in item.split(",")
                                if name.strip()))
    variables = variables_of(sources)
    graphs = [source.graph for source in sources if isinstance(source, Source)]
    for name in (name for name in names if name not in variables):
        reason = f"no expression file here has an input {name}"
        if len(graphs) == 1:
            try:
                graphs[0].with_data([name])
            except BackvizError as err:  # what the name is: computed, or not there at all
                reason = str(err)
        hint = f"; for the variable data, write --set data={name}" if "data" in variables else ""
        raise UsageError(f"--data {name}: {reason}{hint}")
    return names


def figure_name(expression: str) -> str:
    """A safe file name from an expression: only a-z, 0-9 and _ (plus a hash if cut)."""
    name = re.sub(r"[^a-z0-9]+", "_", expression.lower()).strip("_") or "figure"
    if len(name) > 60:
        import hashlib

        digest = hashlib.sha1(expression.encode("utf-8")).hexdigest()[:8]
        name = f"{name[:50].rstrip('_')}-{digest}"
    return name


def check_name(name: str) -> str:
    if not re.fullmatch(r"[A-Za-z0-9_-]+", name) or len(name) > 100:
        raise BackvizError(f"--name {name!r}: use only letters, digits, '_' and '-'")
    return name
