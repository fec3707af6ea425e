"""The ``backviz`` command: the only module that imports click, prints or exits.

One click group, two commands: ``backviz live ...`` opens the live page, and any other
arguments draw (:func:`draw_cli`, the default command). The expression and its
variables' values (``--x -2``) are no options click declares: its parser leaves them
over, each ``--NAME`` with the argument after it, and :class:`Given` reads them from
there. Each expression is parsed once, and every figure, typed or read from a file, goes
through one pipeline: load, trace, draw, write (:func:`_run`). Library errors become the
command's (exit status 2 or 1) in one place, :func:`_click_errors`.

A start imports only what drawing one figure needs: the live page, the teaching mode
(teach), the expression files (gallery, tomllib), the thread pool that draws a folder,
difflib and hashlib are imported where they are used, which keeps the command near the
cost of starting Python with numpy and click.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple, NoReturn, TypeVar

import click
from click.parser import _OptionParser, _ParsingState

from . import __version__
from .errors import (
    BackvizError,
    GalleryFileError,
    GraphvizNotFoundError,
    InvalidValueError,
    MissingValueError,
    RenderError,
    Stopped,
    TooLargeError,
)
from .graph import Graph
from .ops import FUNCTIONS
from .parse import parse
from .render import to_bytes
from .render.backend import stop_drawing
from .render.export import (
    ANIMATIONS,
    BUILD_FILES,
    FORMATS,
    format_for,
    json_chunks,
    write_atomic,
    write_folder_atomic,
)
from .render.style import MAX_PRECISION, MIN_PRECISION, THEMES, Style
from .render.summary import summary
from .tracing import Trace, trace
from .values import as_text, from_option

if TYPE_CHECKING:
    from .gallery import Figure
    from .live import Start
    from .render.style import Theme

__all__ = ["cli", "draw_cli", "live_cli", "main"]

EXAMPLES = """\b
Examples:
  backviz "(x+y)*z" --x -2 --y 5 --z -4
      the first figure of the lecture, written to output/x_y_z.svg
  backviz "1/(1+exp(-(w0*x0+w1*x1+w2)))" --w0 2 --x0 -1 --w1 -3 --x1 -2 --w2 -3
      the sigmoid neuron, gate by gate
  backviz "l2(W@x)" --W "[[0.1,0.5],[-0.3,0.8]]" --x "[0.2,0.4]" --precision 3
      vectors and matrices: values are JSON lists (or @file.npy / @file.json)
  backviz "(x+y)*z" --x -2 --y 5 --z -4 -o fig.png      PNG (format from the suffix)
  backviz "(x+y)*z" --x -2 --y 5 --z -4 -o - --format json   JSON on stdout
  backviz --x 3 -- "-x*x"            an expression that starts with '-' goes after --
  backviz "q = x + y; f = q * z" --x -2 --y 5 --z -4
      a program: statements on lines or after ';', names drawn at their values
  backviz "sig(u) = 1/(1+exp(-u)); f = sig(w*x)" --w 2 --x -1 --collapse sig
      a gate of your own, drawn as one gate (without --collapse: a box around its gates)
  backviz "l2(W@x - y)" --W "[[1,2],[3,4]]" --x "[1,-1]" --y "[0.5,1]" --data y
      y is given data (a target): drawn with its value and no gradient (in the
      program itself: "data y; l2(W@x - y)")
  backviz expressions/sigmoid_neuron.toml      one expression file
  backviz expressions/                         every file of a folder, into output/

\b
Teaching mode:
  backviz "(x+y)*z" --x -2 --y 5 --z -4 --steps
      the figure built one gradient at a time: output/x_y_z/frame-00.svg ... frame-03.svg
      and output/x_y_z/index.html, a page that steps through them (arrow keys)
  backviz expressions/sigmoid_neuron.toml --explain
      the backward pass in words, one line per gate: 1/x  (-1/1.37^2)(1.00) = -0.53 ...
  backviz "max(x,y)*z" --x 1 --y 2 --z 3 --check
      every gradient against central differences; exit status 1 if an error is above 1e-06
  backviz expressions/gate_patterns.toml --annotate
      distributor, router, switcher written under the add, max and mul gates
  backviz expressions/ --steps --check        a build of every file, each one checked

\b
The live page:
  backviz live "(x+y)*z" --x -2 --y 5 --z -4
      a page in the browser where the figure follows every edit of the expression and
      its values (backviz live --help); the expression live itself: backviz -- live --live 2

\b
Each variable of the expression is an option: --NAME VALUE (case-sensitive).
A VALUE is a number, a JSON list, or @PATH to a .npy or .json file. A variable
whose name is also an option of backviz (e.g. 'name') is given with --set name=VALUE.

\b
The language (docs/language.md): numbers, variables, + - * / ** (or ^) @, unary -,
parentheses, comparisons < <= > >= == != (masks, no gradient), and the functions
exp log sqrt abs sin cos tanh sigmoid relu log1p expm1 max(a,b) min(a,b) sum mean max min
var std l2 norm softmax log_softmax logsumexp transpose clip(x,lo,hi) where(m,a,b), with
axis= (an int or a tuple) and keepdims=; math./np./numpy. prefixes, and numpy's names:
np.dot np.matmul np.maximum np.minimum np.square np.power pow np.linalg.norm.
W.T, X.shape[0], X.size, X.ndim, len(X); methods X.sum() .mean() .max() .min() .var() .std()
.dot(W) .reshape(N, -1) .flatten() .ravel() .transpose() .copy() .clip(lo, hi);
np.zeros_like np.ones_like. Indexes: s[2], X[:, 0], X[1:3], s[y], S[np.arange(N), y],
c[:, None] (np.newaxis), X[..., 0]. A program is statements separated by line breaks or
';' (# starts a comment): NAME = EXPRESSION; NAME += EXPRESSION; m[idx] = EXPRESSION (a new
version of m); sig(u) = EXPRESSION (a gate of your own); NAME = 3, [[1, 2]], np.array(2.0),
np.zeros((2, 3)) give an input an example value; data y, dout says that inputs are given
data; the last statement is the output. Loops, if, def, print and random numbers stay out,
with a message that says what to write.
"""

DRAW_USAGE = "EXPRESSION|FILE.toml|FOLDER [--NAME VALUE]... [OPTIONS]"
LIVE_USAGE = "[EXPRESSION|FILE.toml] [--NAME VALUE]... [OPTIONS]"
LIVE_EXAMPLE = ("(x+y)*z", {"x": "-2", "y": "5", "z": "-4"})
"""What ``backviz live`` opens with when given no expression: the lecture's first figure."""

_SETTINGS = {"help_option_names": ["-h", "--help"], "max_content_width": 100}
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_F = TypeVar("_F", bound=Callable[..., Any])


class UsageError(click.ClickException):
    """Bad input or usage: exit status 2, one message, no traceback."""

    exit_code = 2


class Failure(click.ClickException):
    """Something outside the input failed (e.g. Graphviz is missing): exit status 1."""

    exit_code = 1


# --- the arguments: what click parses, and what it leaves over ---------------------------

class _Parser(_OptionParser):
    """click's parser, except that what it does not know it leaves over whole: an unknown
    --NAME with the argument after it (a variable and its value: --x -2), and a word that
    starts with a dash but not with a short option (an expression, -x*x; a number, -2).

    click would read such a word's letters as short options: -log(x) as -l, then -o g(x).
    """

    def _process_opts(self, arg: str, state: _ParsingState) -> None:
        if arg.split("=", 1)[0] in self._long_opt or arg[:2] in self._short_opt:
            super()._process_opts(arg, state)
            return
        state.largs.append(arg)
        if arg.startswith("--") and "=" not in arg and state.rargs:
            state.largs.append(state.rargs.pop(0))


class Given(NamedTuple):
    """What click leaves over: the expression (or file, or folder) and the --NAME VALUE pairs."""

    target: str | None
    pairs: tuple[tuple[str, str | None], ...] = ()
    """Each --NAME and its text, in the order given (None: nothing came after it)."""

    @classmethod
    def read(cls, dashed: str | None, rest: Sequence[str]) -> Given:
        """From the argument after ``--`` (if any) and what click left over."""
        target, pairs, extra = dashed, [], []
        words = iter(rest)
        for arg in words:
            if arg.startswith("--") and len(arg) > 2:
                option, sep, text = arg.partition("=")
                pairs.append((option, text if sep else next(words, None)))
            elif target is None:
                target = arg
            else:
                extra.append(arg)
        if extra:
            raise UsageError(f"Got unexpected extra argument{'s' if len(extra) > 1 else ''} "
                             f"({' '.join(extra)})")
        return cls(target, tuple(pairs))

    def named(self, assignments: Iterable[str]) -> set[str]:
        """The names given a value, by --NAME or by --set NAME=."""
        return ({option[2:] for option, _ in self.pairs}
                | {item.partition("=")[0].strip() for item in assignments})


class _Command(click.Command):
    """A command of backviz: the callback's ``given`` is what click leaves over."""

    allow_extra_args = True
    ignore_unknown_options = True

    def make_parser(self, ctx: click.Context) -> _OptionParser:
        parser = _Parser(ctx)
        for param in self.get_params(ctx):
            param.add_to_parser(parser, ctx)
        return parser

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        # The argument after -- is the expression whatever it looks like (-x*x, live),
        # and options may follow it.
        dashed = None
        if "--" in args:
            at = args.index("--")
            dashed = args[at + 1] if at + 1 < len(args) else None
            args = args[:at] + args[at + 2:]
        words = [*args, *([dashed] if dashed is not None else [])]
        try:
            rest = super().parse_args(ctx, args)
        except click.UsageError as err:  # e.g. --format gif: one line, like every other error
            opts = getattr(getattr(err, "param", None), "opts", [])
            raise UsageError(_hinted(err.format_message(), _set_hint(words, opts))) from None
        try:
            ctx.params["given"] = Given.read(dashed, rest)
        except UsageError as err:  # "theme*2" --steps 3: the 3 is left over
            flags = [opt for param in self.get_params(ctx) if getattr(param, "is_flag", False)
                     for opt in param.opts]
            raise UsageError(_hinted(err.message, _set_hint(words, flags))) from None
        return rest


def _set_hint(words: Sequence[str], opts: Sequence[str]) -> str:
    """For an option of backviz (in ``opts``) given a value it refuses (--theme 3) whose
    name is a variable in the other arguments ("theme*2"): the hint to use --set, or ""."""
    for at, word in enumerate(words):
        option, sep, value = word.partition("=")
        name = option[2:]
        if option not in opts or not option.startswith("--") or not _NAME.fullmatch(name):
            continue
        if not sep and at + 1 < len(words):
            value = words[at + 1]
        elif not sep:
            continue
        skip = {at, at if sep else at + 1}
        variable = re.compile(rf"(?<![\w.]){re.escape(name)}(?!\w)")
        if any(variable.search(w) for i, w in enumerate(words) if i not in skip):
            return (f"; {option} is an option of backviz: for the variable {name}, write "
                    f"--set {name}={value}")
    return ""


def _hinted(message: str, hint: str) -> str:
    """A message of click's, with a hint after it (and no full stop between)."""
    return message.rstrip(".") + hint if hint else message


class _Default(_Command):
    """The command that runs when no other is named: its usage line is backviz's own."""

    def format_usage(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        formatter.write_usage(ctx.find_root().command_path, " ".join(self.collect_usage_pieces(ctx)))


class _Backviz(click.Group):
    """``backviz live ...`` opens the live page; any other arguments go to ``default``.

    So ``backviz --help`` is the drawing's help, and ``backviz -- live --live 2`` draws the
    expression live.
    """

    def __init__(self, default: click.Command, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.default = default

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if not args or args[0] not in self.commands:
            args = [self.default.name or "", *args]
        return super().parse_args(ctx, args)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        return self.default if cmd_name == self.default.name else super().get_command(ctx, cmd_name)


def _common_options(*, precision: str, theme: str) -> Callable[[_F], _F]:
    """The options of both commands, each with the command's own help: -p, --set, --theme."""
    options = [
        click.option("-p", "--precision", type=click.IntRange(MIN_PRECISION, MAX_PRECISION),
                     metavar="N", help=precision),
        click.option("--set", "assignments", multiple=True, metavar="NAME=VALUE",
                     help="Give a variable's value (for names that clash with options)."),
        click.option("--data", "data", multiple=True, metavar="NAME",
                     help="The input NAME is given data (a label, a target, dout), not a "
                          "parameter: drawn with its value and no gradient; repeatable, or "
                          "NAME,NAME. Integer indexes (y in s[y]) are data anyway."),
        click.option("--theme", type=click.Choice(list(THEMES), case_sensitive=False), help=theme),
    ]

    def apply(command: _F) -> _F:
        for option in reversed(options):
            command = option(command)
        return command

    return apply


def _option_names(ctx: click.Context) -> set[str]:
    """The command's own options: -o, --output, ... (for hints and clashes)."""
    return {opt for param in ctx.command.params for opt in getattr(param, "opts", [])}


def _values(given: Given, assignments: Sequence[str], variables: Sequence[str],
            options: set[str], *, strict: bool) -> dict[str, Any]:
    """The values given: each --NAME checked against the variables, then every text parsed.

    Not ``strict``, a value for a name the expression does not have is passed on, for the
    warning that --set name=VALUE gets too (docs/cli.md, "Unused values").
    """
    seen: set[str] = set()
    for option, _ in given.pairs:
        wrong = _not_a_variable(option, variables, options, strict)
        if wrong is not None:
            raise UsageError(wrong)
        if option in seen:  # click would quietly keep the last one
            raise UsageError(f"{option} is given twice: give each variable one value")
        seen.add(option)
    values: dict[str, Any] = {}
    for option, text in given.pairs:
        if text is None:
            raise UsageError(f"Option '{option}' requires an argument.")
        values[option[2:]] = from_option(text, option)
    return _assigned(values, assignments)


def _assigned(values: dict[str, Any], assignments: Sequence[str]) -> dict[str, Any]:
    """The values, and those that --set NAME=VALUE gives."""
    values = dict(values)
    for item in assignments:
        name, sep, text = item.partition("=")
        if not sep or not name:
            raise InvalidValueError(f"--set {item!r}: write NAME=VALUE, e.g. --set name=2")
        name = name.strip()
        if name in values:
            raise InvalidValueError(f"--set {name}: {name} is given a value twice; give it one")
        values[name] = from_option(text, f"--set {name}")
    return values


def _not_a_variable(option: str, variables: Sequence[str], options: set[str],
                    strict: bool) -> str | None:
    """What is wrong with --NAME as a variable's option; None if nothing is."""
    name = option[2:]
    if name in variables:
        return None
    import difflib  # here, as the docstring says: only a message needs it

    case = [v for v in variables if v.lower() == name.lower()]
    if case:  # --X for x: names are case-sensitive, and this is a slip
        return (f"{option} is not a variable of the expression (did you mean --{case[0]}? "
                "names are case-sensitive)")
    close = difflib.get_close_matches(option, sorted(options), n=1, cutoff=0.75)
    if close:
        return f"no such option: {option} (did you mean {close[0]}?)"
    if strict or not _NAME.fullmatch(name):
        return (f"{option} is neither an option nor a variable of the expression "
                f"(its variables: {_listed(variables) or 'none'})")
    return None


def _no_target(given: Given, options: set[str]) -> str:
    """The message when no expression is given: for a --NAME alone, it is no option at all."""
    import difflib

    for option, text in given.pairs:
        if text is None or text.startswith("--"):  # with a value, it may be a variable
            close = difflib.get_close_matches(option, sorted(options), n=1, cutoff=0.75)
            return f"no such option: {option}" + (f" (did you mean {close[0]}?)" if close else "")
    return ("give an expression (e.g. \"(x+y)*z\"), an expression file or a folder of them; "
            f"usage: backviz {DRAW_USAGE} (backviz --help for more)")


def _data(data: Sequence[str], sources: Sequence[Source | BackvizError]) -> tuple[str, ...]:
    """The names that --data declares given data (it is repeated, or names them with commas
    between), each an input of an expression drawn: else the error says what it is."""
    names = tuple(dict.fromkeys(name.strip() for item in data for name in item.split(",")
                                if name.strip()))
    variables = _variables(sources)
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


def _listed(names: Sequence[str], limit: int = 10) -> str:
    """Names in a message: at most ``limit`` of them, then how many more."""
    shown = ", ".join(names[:limit])
    return shown + (f" and {len(names) - limit:,} more" if len(names) > limit else "")


def _how(name: str, options: set[str]) -> str:
    """How to give a variable's value: --NAME VALUE, or --set for a name that is an option's."""
    return f"--set {name}=VALUE" if f"--{name}" in options else f"--{name} VALUE"


def _missing(names: Sequence[str], options: set[str]) -> str:
    """No value for these variables: the message, with options that give them."""
    hints = [_how(n, options) for n in names[:3]]
    s = "" if len(names) == 1 else "s"
    return (f"no value{s} for {_listed(names)} (give {'it' if not s else 'them'}, "
            f"e.g. {' '.join(hints)}{' ...' if len(names) > 3 else ''})")


@contextlib.contextmanager
def _click_errors(options: set[str]) -> Iterator[None]:
    """Library errors as the command's: bad input exits with status 2, a failure outside
    it (Graphviz missing, or failing) with 1."""
    try:
        yield
    except MissingValueError as err:
        raise UsageError(_missing(err.names, options)) from None
    except TooLargeError as err:  # the input's size: like every bad input, status 2
        raise UsageError(str(err)) from None
    except (GraphvizNotFoundError, RenderError) as err:
        raise Failure(str(err)) from None
    except BackvizError as err:
        raise UsageError(str(err)) from None


# --- what to draw: one expression, or the expression files of a file or a folder ---------

class Source(NamedTuple):
    """One expression to draw, parsed: typed on the command line, or an expression file's."""

    expression: str
    graph: Graph
    figure: Figure | None = None
    """The expression file it comes from."""


def _is_path(target: str, named: set[str]) -> bool:
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
    return not _NAME.fullmatch(target) or target in FUNCTIONS or target not in named


def _sources(target: str, path: bool, named: set[str],
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
    from .gallery import find

    files = find(target) if Path(target).is_dir() else [Path(target)]
    return [_read(file, named) for file in files]


_PATHLIKE = re.compile(r"[\w.~/-]+")
_SUFFIX = re.compile(r"\.[A-Za-z]\w*$")


def _not_an_expression_file(target: str, command: str) -> str:
    """The message for a file given as the target that is not an expression file: a
    program's text is given itself, quoted (the file's, if backviz reads it)."""
    import shlex

    head = f"{target} is a file, not an expression file (.toml, see docs/figures.md)"
    if _NAME.fullmatch(target):  # a bare name: the expression, once its value is given
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


def _read(file: Path, named: set[str]) -> Source | BackvizError:
    """One expression file, read and parsed; or everything that is wrong with it."""
    from .gallery import load

    try:
        figure = load(file, named)
    except GalleryFileError as err:
        return err
    return Source(figure.expression, figure.graph or parse(figure.expression), figure)


def _variables(sources: Iterable[Source | BackvizError]) -> tuple[str, ...]:
    """The variables that may be given on the command line: every expression's."""
    names: dict[str, None] = {}
    for source in sources:
        if isinstance(source, Source):
            names.update(dict.fromkeys(source.graph.variables))
    return tuple(names)


def _check_folder(target: str, sources: Sequence[object], asked: Asked,
                  options: set[str]) -> None:
    """A folder has expression files, and is not asked for one figure (-o FILE, --name)."""
    output = asked.output
    if not sources:
        hint = ""
        if _NAME.fullmatch(target) and target not in FUNCTIONS:
            hint = f"; for the expression {target}, give its value: {_how(target, options)}"
        raise UsageError(f"{Path(target)}: no expression files (*.toml) in this folder{hint}")
    if asked.name is not None or (output is not None and (
            output == "-" or Path(output).suffix.lower().lstrip(".") in FORMATS)):
        raise UsageError("-o FILE and --name name one figure; a folder renders each file "
                         "to output/<file name>.<format>, or -o FOLDER/ to that folder")


def figure_name(expression: str) -> str:
    """A safe file name from an expression: only a-z, 0-9 and _ (plus a hash if cut)."""
    name = re.sub(r"[^a-z0-9]+", "_", expression.lower()).strip("_") or "figure"
    if len(name) > 60:
        import hashlib

        digest = hashlib.sha1(expression.encode("utf-8")).hexdigest()[:8]
        name = f"{name[:50].rstrip('_')}-{digest}"
    return name


def _check_name(name: str) -> str:
    if not re.fullmatch(r"[A-Za-z0-9_-]+", name) or len(name) > 100:
        raise BackvizError(f"--name {name!r}: use only letters, digits, '_' and '-'")
    return name


# --- how to draw: what the options ask of every figure -----------------------------------

class Asked(NamedTuple):
    """What the options ask of every figure: where, how it looks, what the teaching mode adds."""

    output: str | None = None
    fmt: str = "svg"
    name: str | None = None
    precision: int | None = None
    collapse: tuple[str, ...] = ()
    theme: Theme = THEMES["slides"]
    theme_given: bool = False
    """--theme was given: it wins over an expression file's theme."""
    transparent: bool = False
    scale: float | None = None
    max_elements: int | None = Style.max_elements
    steps: bool = False
    explain: bool = False
    check: bool = False
    check_all: bool = False
    annotate: bool = False
    data: tuple[str, ...] = ()
    """The inputs --data declares given data, in every expression that has them."""

    def name_of(self, source: Source) -> str:
        """The figure's name in output/: --name, the file's, or the expression's."""
        if self.name is not None:
            return self.name
        return source.figure.name if source.figure else figure_name(source.expression)

    def output_of(self, source: Source, several: bool) -> str | None:
        """Where the figure (or build) goes; with -o FOLDER and several files, in it."""
        if self.output is None or not several:
            return self.output
        return str(Path(self.output) / self.file_name(self.name_of(source)))

    def file_name(self, name: str) -> str:
        """The file (or a build's folder) a figure named ``name`` is written to."""
        if not self.steps:
            return f"{name}.{self.fmt}"
        if self.fmt in BUILD_FILES:  # one file: name-steps.tex, .gif, or .png for an apng
            return f"{name}-steps.{'png' if self.fmt == 'apng' else self.fmt}"
        return name

    def style(self, figure: Figure | None) -> Style:
        """How to draw: the options, then the expression file's precision and theme."""
        precision = self.precision
        if precision is None and figure is not None:
            precision = figure.precision
        theme = self.theme
        if figure is not None and figure.theme and not self.theme_given:
            theme = THEMES[figure.theme]
        style = Style(annotate=self.annotate, theme=theme, transparent=self.transparent,
                      scale=self.scale, max_elements=self.max_elements)
        if precision is None:
            return style
        return replace(style, precision=precision, integers=False)


def _format(output: str | None, fmt: str | None, steps: bool) -> str:
    """The format to write: --format, else the suffix of -o, else svg."""
    fmt = fmt.lower() if fmt else None
    if output == "":
        raise BackvizError("-o needs a file name (or - for stdout)")
    named = Path(output).suffix.lower().lstrip(".") if output else ""
    animated = fmt if fmt in ANIMATIONS else named if named in ANIMATIONS and not fmt else None
    if animated and not steps:
        raise BackvizError(f"{animated} is an animation of a build: add --steps")
    if steps and named in BUILD_FILES and not fmt:  # -o build.tex, -o build.gif
        return named
    if output is not None and output != "-" and not steps:
        if fmt and named in FORMATS and named != fmt:
            raise BackvizError(f"-o {output} is {named.upper()} and --format asks for "
                               f"{fmt.upper()}: give one of them (or -o "
                               f"{Path(output).with_suffix('.' + fmt)})")
        fmt = format_for(output, fmt)
    return fmt or "svg"


def _check_teaching(asked: Asked) -> None:
    """--steps writes a folder of svg or png frames: not to stdout, nor to a file's name."""
    if not asked.steps:
        return
    from . import teach

    output, fmt = asked.output, asked.fmt
    if fmt in BUILD_FILES:  # one file: any name, or stdout
        return
    if output == "-":
        raise BackvizError("--steps writes a folder of frames, not one stream: give -o FOLDER "
                           "or leave -o out (the default is output/NAME/)")
    if fmt not in teach.BUILD_FORMATS:
        raise BackvizError(f"--steps draws its frames as {' or '.join(teach.BUILD_FORMATS)}, "
                           f"or one file as {', '.join(BUILD_FILES)}, not {fmt}")
    if (output is not None and Path(output).suffix.lower().lstrip(".") in FORMATS
            and not output.endswith("/") and not Path(output).is_dir()):
        raise BackvizError(f"--steps writes a folder of frames, and -o {output} names a file: "
                           f"give -o a folder (e.g. -o {Path(output).with_suffix('')}), "
                           "and --format svg or png for the frames")


# --- the drawing command -----------------------------------------------------------------

@click.command(cls=_Default, name="draw", epilog=EXAMPLES, options_metavar=DRAW_USAGE,
               context_settings=_SETTINGS)
@click.option("-o", "--output", metavar="PATH",
              help="File to write (format from its suffix), or - for stdout. "
                   "Default: output/NAME.svg.")
@click.option("-f", "--format", "fmt", type=click.Choice(FORMATS + ANIMATIONS, case_sensitive=False),
              help="Output format (default: from the -o suffix, else svg); gif, apng and "
                   "mp4 animate a build (--steps).")
@click.option("-n", "--name", metavar="NAME",
              help="Name of the figure in output/ (default: from the expression or file).")
@_common_options(
    precision="Decimals to show (default 2; a figure whose numbers are all whole shows "
              "integers unless --precision is given).",
    theme="Colours: slides (the lecture's green and red, the default), colorblind (blue and "
          "orange), dark (light text on a dark background).")
@click.option("--background", type=click.Choice(["theme", "none"], case_sensitive=False),
              default="theme", help="none: a transparent background (default: the theme's).")
@click.option("--scale", type=click.FloatRange(0.1, 20), metavar="K",
              help="Size: K times the default size of every format (a png has 4 pixels per "
                   "point: --scale 2 makes it twice as wide).")
@click.option("--max-elements", type=click.IntRange(1, 10_000), metavar="N",
              help="Write every array of up to N numbers in full, larger ones as their "
                   "shape and range (default: fit a slide, see docs/figures.md).")
@click.option("--collapse", multiple=True, metavar="GATE",
              help="Draw each call of the user gate GATE (e.g. sig, from 'sig(u) = ...') as "
                   "one gate instead of a box around its body's gates; repeatable.")
@click.option("--steps", is_flag=True,
              help="Build the figure one backward step at a time: output/NAME/frame-NN.svg "
                   "(or .png with -f png) and index.html to step through them; -o names the "
                   "folder. -f tex: one Beamer frame, -f gif, apng or mp4: an animation "
                   "(output/NAME-steps.tex, .gif, .png, .mp4).")
@click.option("--explain", is_flag=True,
              help="Print the backward pass, one line per gate: (local)(upstream) = result, "
                   "and the gradient patterns.")
# The tolerance is written out (teach.TOLERANCE; tests/test_teach.py keeps them equal) so
# that starting the command does not import the teaching mode.
@click.option("--check", "check_grads", is_flag=True,
              help="Compare the gradients with central differences (a seeded sample of 1,000 "
                   "elements above that many); exit status 1 when a relative error is above "
                   "1e-06.")
@click.option("--check-all", "check_all", is_flag=True,
              help="--check on every element, however many.")
@click.option("--annotate", is_flag=True,
              help="Write the gate patterns (distributor, router, switcher) under the gates.")
@click.version_option(__version__, "--version", prog_name="backviz", message="%(prog)s %(version)s")
@click.pass_context
def draw_cli(ctx: click.Context, /, given: Given, output: str | None, fmt: str | None,
             name: str | None, precision: int | None, assignments: tuple[str, ...],
             data: tuple[str, ...], theme: str | None, background: str, scale: float | None,
             max_elements: int | None, collapse: tuple[str, ...], steps: bool, explain: bool,
             check_grads: bool, check_all: bool, annotate: bool) -> None:
    """Draw backpropagation on the computational graph of an EXPRESSION or a program.

    Every edge shows its forward value in green above the line and its gradient
    in red below, as in the figures of the CS231n lecture on backpropagation.
    With --steps, --explain or --check the figure itself is written only when -o
    asks for it (with --steps, -o names the folder of the frames).
    """
    options = _option_names(ctx)
    with _click_errors(options):
        if given.target is None:
            raise UsageError(_no_target(given, options))
        path = _is_path(given.target, given.named(assignments))
        sources = _sources(given.target, path, given.named(assignments))
        values = _values(given, assignments, _variables(sources), options, strict=False)
        if name is not None:
            _check_name(name)
        asked = Asked(output, _format(output, fmt, steps), name, precision, collapse,
                      theme=THEMES[(theme or "slides").lower()], theme_given=theme is not None,
                      transparent=background.lower() == "none", scale=scale,
                      max_elements=max_elements or Style.max_elements, steps=steps,
                      explain=explain, check=check_grads or check_all, check_all=check_all,
                      annotate=annotate, data=_data(data, sources))
        _check_teaching(asked)
        if path and Path(given.target).is_dir():
            _check_folder(given.target, sources, asked, options)
        _run(sources, values, asked)


# --- the pipeline: trace, draw, write ------------------------------------------------------

def _run(sources: Sequence[Source | BackvizError], values: dict[str, Any], asked: Asked) -> None:
    """Make each figure, and what the teaching options ask for.

    With several files, a file that cannot be traced is reported and the others go on;
    Graphviz draws them all at once (see :func:`_drawing_pool`).
    """
    several = len(sources) > 1
    traced = [_traced(source, values, asked, several) for source in sources]
    if not several and isinstance(traced[0], BackvizError):
        raise traced[0]
    unchecked: list[str] = []
    with _drawing_pool(several) as later:
        drawings = [None if isinstance(item, BackvizError) else
                    later(_drawing(*item, asked.output_of(item[0], several), asked))
                    for item in traced]
        for item, drawn in zip(traced, drawings, strict=True):
            wrong = _make_one(item, drawn, asked, several)
            if wrong is not None:
                unchecked.append(wrong)
    _verdict(sum(isinstance(item, BackvizError) for item in traced), unchecked, len(sources))


def _make_one(item: tuple[Source, Trace] | BackvizError, drawn: Callable[[], Any] | None,
              asked: Asked, several: bool) -> str | None:
    """One figure of a run, under its file's name in a folder (or the file's error).
    Returns what its gradient check found wrong, or None."""
    if isinstance(item, BackvizError):
        click.echo(f"Error: {item}", err=True)
        return None
    source, t = item
    label = str(source.figure.path) if source.figure else None
    if several:
        click.echo(f"{label}:")
    wrong = _make(source, t, asked.output_of(source, several), asked, drawn,
                  label if several else None)
    return f"{label}: {wrong}" if label and wrong else wrong


def _traced(source: Source | BackvizError, values: dict[str, Any], asked: Asked,
            several: bool) -> tuple[Source, Trace] | BackvizError:
    """Both passes over one expression, its user gates collapsed; or what went wrong.

    In a folder, --collapse applies to the files that call the gates it names, and --data
    to those that have the inputs it names.
    """
    if isinstance(source, BackvizError):
        return source
    try:
        inputs = source.graph.input_ids
        source = source._replace(graph=source.graph.with_data(
            name for name in asked.data if name in inputs))
        t = _trace(source, values)
        called = {g.name for g in t.graph.groups}
        chosen = (*(source.figure.collapse if source.figure else ()),
                  *(c for c in asked.collapse if not several or c in called))
        return source, (t.collapse(*chosen) if chosen else t)
    except BackvizError as err:
        return err


def _trace(source: Source, values: dict[str, Any]) -> Trace:
    """Both passes, the command line's values over an expression file's."""
    figure = source.figure
    if figure is None:
        return trace(source.graph, values)
    try:
        return trace(source.graph, {**figure.values, **values})
    except BackvizError as err:
        raise GalleryFileError(f"{figure.path}: field 'values': {err}") from None


_Later = Callable[[Callable[[], Any] | None], Callable[[], Any] | None]


@contextlib.contextmanager
def _drawing_pool(several: bool) -> Iterator[_Later]:
    """Where Graphviz draws: one figure in this thread when its turn comes; several at
    once, one per core (it runs outside Python, so threads suffice), while what is written
    and printed comes in their order, as drawn one by one.

    Yields what turns a drawing into the function that gives its result.
    """
    if not several:
        yield lambda draw: draw
        return
    from concurrent.futures import Future, ThreadPoolExecutor, wait

    def awaited(future: Future[Any]) -> Callable[[], Any]:
        def result() -> Any:
            # In slices: a signal the kernel hands to a drawing thread runs its handler in
            # this (the main) thread only once this thread wakes, not when dot ends.
            while not wait([future], timeout=0.1).done:
                pass
            return future.result()
        return result

    pool = ThreadPoolExecutor(max_workers=os.cpu_count() or 1)
    try:
        yield lambda draw: None if draw is None else awaited(pool.submit(draw))
    except BaseException:
        # Stopped (a signal) or a failure: draw nothing more, and end the dot runs under
        # way in the other threads, or they would finish every file first.
        pool.shutdown(wait=False, cancel_futures=True)
        stop_drawing()
        raise
    pool.shutdown()


def _verdict(failed: int, unchecked: Sequence[str], files: int) -> None:
    """Exit status 2 if an expression file failed, 1 if a gradient check did."""
    if failed:
        raise UsageError(f"{failed} of {files} expression files failed (see above)")
    if len(unchecked) == 1:
        raise Failure(f"gradient check failed: {unchecked[0]}")
    if unchecked:
        raise Failure(f"gradient check failed for {len(unchecked)} of {files} expression "
                      "files (see above)")


def _drawing(source: Source, t: Trace, output: str | None,
             asked: Asked) -> Callable[[], Any] | None:
    """What Graphviz is to draw for one expression (its build or its figure), not yet run;
    None when nothing is drawn."""
    style = asked.style(source.figure)
    figure = source.figure
    if asked.steps:
        from . import teach

        title = figure.title if figure else source.expression
        about = figure.caption if figure else None
        make = teach.build_file if asked.fmt in BUILD_FILES else teach.build
        return partial(make, t, style, title, asked.fmt, about)
    if output is not None or not (asked.explain or asked.check):
        if asked.fmt == "json":  # written piece by piece: a large array need not be held twice
            return partial(json_chunks, t)
        caption = figure.caption if figure else None
        return partial(to_bytes, t, asked.fmt, replace(style, caption=caption))
    return None


def _make(source: Source, t: Trace, output: str | None, asked: Asked,
          drawn: Callable[[], Any] | None, label: str | None) -> str | None:
    """All that is asked for one expression: its explanation, check, build and figure.

    ``drawn`` gives what Graphviz drew for it (see :func:`_drawing`); ``label`` names the
    file in its warnings. Returns what the gradient check found wrong, or None.
    """
    style = asked.style(source.figure)
    # With -o -, stdout is the figure: the words go to stderr, as the summary does.
    wrong = _teach(t, style, asked, err=output == "-")
    if drawn is not None and asked.steps and asked.fmt not in BUILD_FILES:
        folder = Path(output) if output else Path("output") / asked.name_of(source)
        _write_build(folder, t, style, drawn, label)
    elif drawn is not None:
        path = Path(output) if output else Path("output") / asked.file_name(asked.name_of(source))
        _write(None if output == "-" else path, t, style, drawn, label)
    return wrong


def _teach(t: Trace, style: Style, asked: Asked, err: bool) -> str | None:
    """The backward pass in words and the gradient check, as asked (on stderr if ``err``);
    returns what the check found wrong, or None."""
    if asked.explain:
        from . import teach

        for line in teach.explain(t, style):
            click.echo(line, err=err)
    return _check(t, asked.check_all, err) if asked.check else None


def _check(t: Trace, every: bool, err: bool) -> str | None:
    """The gradient check (of a sample, unless ``every``); returns what it found wrong."""
    from . import teach

    limit = None if every else teach.SAMPLE
    with _Progress("checking gradients", "elements") as progress:
        results = teach.check(t, limit=limit, progress=progress)
    for line in teach.check_lines(t, results):
        click.echo(line, err=err)
    bad = [r for r in results if not r.ok]
    if not bad:
        return None
    worst = max(bad, key=lambda r: r.error)
    return (f"the relative error of {t.graph.d(worst.name)} is {worst.error:.1e}, above the "
            f"tolerance {teach.TOLERANCE:g}")


class _Progress:
    """Progress of a long step on stderr: nothing for the first second, then a line that
    is rewritten in place on a terminal (elsewhere, a line every 10 s)."""

    def __init__(self, what: str, unit: str) -> None:
        self.what, self.unit = what, unit
        self.start = self.shown = time.monotonic()
        self.tty = sys.stderr.isatty()
        self.written = False

    def __enter__(self) -> _Progress:
        return self

    def __call__(self, done: int, total: int) -> None:
        now = time.monotonic()
        if now - self.start < 1 or now - self.shown < (1 if self.tty else 10):
            return
        self.shown = now
        text = f"{self.what}: {done:,} of {total:,} {self.unit} ({now - self.start:.0f} s)"
        click.echo(("\r" + text) if self.tty else text, err=True, nl=not self.tty)
        self.written = True

    def __exit__(self, *exc: object) -> None:
        if self.written and self.tty:
            click.echo(err=True)


def _write(path: Path | None, t: Trace, style: Style,
           drawn: Callable[[], bytes | Iterable[bytes]], label: str | None) -> None:
    """Write one figure, drawn by ``drawn``, to ``path`` (None: stdout); print its summary."""
    data = drawn()
    if path is None:
        try:
            stream = sys.stdout.buffer
            stream.writelines([data] if isinstance(data, bytes) else data)
            stream.flush()
        except BrokenPipeError:  # the reader has gone (| head): nothing to say
            raise
        except OSError as err:
            raise Failure(_unwritable(err)) from None
        _summary(t, style, label, err=True)
        return
    try:
        write_atomic(path, data)
    except OSError as err:
        raise Failure(f"cannot write {path}: {err.strerror or err}") from None
    _summary(t, style, label, err=False)
    click.echo(f"wrote {path}")


def _write_build(folder: Path, t: Trace, style: Style, drawn: Callable[[], dict[str, bytes]],
                 label: str | None) -> None:
    """Write the frames of a build (drawn by ``drawn``) and its page into one folder."""
    if folder.exists() and not folder.is_dir():
        raise UsageError(f"{folder} is a file; --steps writes a folder of frames")
    files = drawn()
    try:
        # Every file of the build, or none: an earlier build is replaced whole (its frames
        # would step past the end of a shorter one); other files in the folder are kept.
        write_folder_atomic(folder, files, replaces=r"frame-\d+\.(svg|png)|index\.html")
    except OSError as err:
        raise Failure(f"cannot write {folder}: {err.strerror or err}") from None
    _summary(t, style, label, err=False)
    frames = sorted(f for f in files if f.startswith("frame-"))
    click.echo(f"wrote {folder}/: {frames[0]} ... {frames[-1]} ({len(frames)} frames) "
               "and index.html")


def _summary(t: Trace, style: Style, label: str | None, err: bool) -> None:
    """The summary (on stderr if ``err``) and the warnings; in a folder each names its file."""
    click.echo(summary(t, style), err=err)
    for warning in t.warnings:
        click.echo(f"warning: {f'{label}: ' if label else ''}{warning}", err=True)


# --- the live page -------------------------------------------------------------------------

@click.command(cls=_Command, name="live", options_metavar=LIVE_USAGE, context_settings=_SETTINGS,
               epilog="""\b
Examples:
  backviz live
  backviz live "1/(1+exp(-(w0*x0+w1*x1+w2)))" --w0 2 --x0 -1 --w1 -3 --x1 -2 --w2 -3
  backviz live expressions/sigmoid_neuron.toml --port 8765 --no-browser""")
@click.option("--port", type=click.IntRange(0, 65535), default=0, show_default=True, metavar="N",
              help="Port on 127.0.0.1 to listen on (0: any free port).")
@click.option("--no-browser", is_flag=True, help="Do not open the page in a browser.")
@_common_options(
    precision="Decimals the page starts with (it can switch them).",
    theme="Colours the page starts with (it can switch them): slides, colorblind, dark.")
@click.pass_context
def live_cli(ctx: click.Context, /, given: Given, port: int, no_browser: bool,
             precision: int | None, assignments: tuple[str, ...], data: tuple[str, ...],
             theme: str | None) -> None:
    """Open a page where the figure follows what you type: the EXPRESSION (or the
    expression file's) in a box, a field and a slider for each value, the backward
    pass step by step.

    The server listens on 127.0.0.1 only; its first line on stdout is the page's
    address, with a token that every request must carry. Ctrl-C stops it.
    Without an expression the page opens with (x+y)*z at x=-2, y=5, z=-4.
    """
    from . import live

    options = _option_names(ctx)
    with _click_errors(options):
        start = _start(given, assignments, data, precision, theme, options)

    def ready(server: live.LiveServer) -> None:
        try:
            click.echo(server.url)
        except OSError as err:  # not the socket's error: the address cannot be printed
            raise _Unprinted(err) from None
        click.echo("backviz live: serving the page on 127.0.0.1 only; Ctrl-C stops it", err=True)
        if not no_browser:
            import webbrowser

            webbrowser.open(server.url)

    try:
        live.serve(start, port, ready)
    except _Unprinted as unprinted:  # main() says it (or, for a reader gone, not)
        raise unprinted.error from None
    except OSError as err:
        raise Failure(f"cannot listen on 127.0.0.1:{port}: {err.strerror or err}") from None
    except (KeyboardInterrupt, Stopped):  # Ctrl-C, SIGTERM, SIGHUP: see backviz.start
        # The drawings under way run in the handlers' threads, dot in a session of its
        # own: ended here, or dot would outlive the command.
        stop_drawing()
        click.echo("backviz live: stopped", err=True)


class _Unprinted(Exception):
    """The live page's address could not be written to stdout (``error``)."""

    def __init__(self, error: OSError) -> None:
        super().__init__(str(error))
        self.error = error


def _start(given: Given, assignments: Sequence[str], data: Sequence[str], precision: int | None,
           theme: str | None, options: set[str]) -> Start:
    """What the page opens with: the expression (or file) and values given, else the
    lecture's first figure. Inputs given data (--data, the file's ``data``) are declared in
    the text itself, ``data y`` on its first line, which the page's box shows and edits."""
    from .live import Start

    source = _one_source(LIVE_EXAMPLE[0] if given.target is None else given.target,
                         given.named(assignments))
    values = _values(given, assignments, _variables([source]), options, strict=True)
    if isinstance(source, BackvizError):
        raise source
    declared = _data(data, [source])
    figure = source.figure
    if figure is not None:  # the command line's values and options over the file's
        values = {**figure.values, **values}
        precision = figure.precision if precision is None else precision
        theme = theme or figure.theme
        declared = (*figure.data, *(name for name in declared if name not in figure.data))
    elif given.target is None:
        values = {**LIVE_EXAMPLE[1], **values}
    expression = (f"data {', '.join(declared)}\n" if declared else "") + source.expression
    return Start(expression, {name: as_text(v) for name, v in values.items()}, precision,
                 (theme or "slides").lower())


def _one_source(target: str, named: set[str]) -> Source | BackvizError:
    """The live page's expression, or its expression file: a folder is refused."""
    path = _is_path(target, named)
    if path and Path(target).is_dir():
        raise UsageError(f"{target} is a folder; backviz live opens one expression or one "
                         "expression file")
    return _sources(target, path, named, "backviz live")[0]


cli = _Backviz(draw_cli, name="backviz", commands=[live_cli])
"""The ``backviz`` command: ``live`` opens the live page, anything else draws (draw_cli)."""


def main(argv: Sequence[str] | None = None) -> NoReturn:
    """Entry point of the ``backviz`` command; ``backviz live ...`` starts the live page.

    So a first argument ``live`` is always the subcommand: the expression that is the
    variable ``live`` is drawn with ``backviz -- live --live 2``.
    """
    args = list(argv) if argv is not None else sys.argv[1:]
    try:
        status = cli.main(args=args, prog_name="backviz", standalone_mode=False)
        sys.stdout.flush()
    except click.ClickException as err:
        with contextlib.suppress(OSError):  # 2>/dev/full: the status still says what failed
            err.show()
        _exit(err.exit_code)
    except click.Abort:  # Ctrl-C when not started by backviz.start, or EOF on stdin
        with contextlib.suppress(OSError):
            click.echo("backviz: interrupted", err=True)
        _exit(130)
    except BrokenPipeError:  # stdout's reader has gone: quietly, as cat does
        _exit(1)
    except OSError as err:  # stdout cannot be written (/dev/full, a closed stream)
        with contextlib.suppress(OSError):
            click.echo(f"Error: {_unwritable(err)}", err=True)
        _exit(1)
    _exit(status if isinstance(status, int) else 0)


def _unwritable(err: OSError) -> str:
    """The message for a stdout that cannot be written."""
    import errno

    if err.errno == errno.EBADF:  # backviz ... >&-
        return ("cannot write to stdout: it is closed (redirect it instead, e.g. >/dev/null "
                "to drop what backviz prints)")
    return f"cannot write to stdout: {err.strerror or err}"


def _exit(status: int) -> NoReturn:
    """Exit; stdout is pointed at /dev/null first, so that Python's last flush of an
    unwritable stdout adds no traceback of its own."""
    with contextlib.suppress(OSError, ValueError, AttributeError):
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, sys.stdout.fileno())
        os.close(null)
    sys.exit(status)
