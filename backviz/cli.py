"""The ``backviz`` command: the only module that imports click, prints or exits.

The expression's variables become options of their own (``--x -2``), so the command
first finds the expression among the arguments, parses it, then adds one option per
variable before click parses the rest.

A start imports only what drawing one figure needs: the teaching mode (teach), the
expression files (gallery, tomllib) and hashlib are imported where they are used, which
keeps the command near the cost of starting Python with numpy and click.
"""

from __future__ import annotations

import contextlib
import difflib
import os
import re
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import click

from . import __version__
from .errors import (
    BackvizError,
    GalleryFileError,
    GraphvizNotFoundError,
    MissingValueError,
    RenderError,
    Stopped,
    TooLargeError,
)
from .graph import Graph
from .ops import FUNCTIONS
from .parse import parse
from .render import (
    FORMATS,
    THEMES,
    Style,
    format_for,
    json_chunks,
    stop_drawing,
    summary,
    to_bytes,
    write_atomic,
    write_folder_atomic,
)
from .tracing import Trace, trace
from .values import as_text, from_option

if TYPE_CHECKING:
    from .gallery import Figure
    from .render import Theme

__all__ = ["cli", "live_cli", "main"]

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
The language: numbers, variables, + - * / ** (or ^) @, unary -, parentheses, and
exp log sqrt abs sin cos tanh sigmoid relu max(a,b) min(a,b) sum mean l2. A program is
statements, NAME = EXPRESSION, separated by line breaks or ';' (# starts a comment);
NAME = 3 gives an input an example value; the last statement is the output.
"""

_VALUE_OPTIONS = {"-o", "--output", "-f", "--format", "-n", "--name", "-p", "--precision",
                  "--set", "--theme", "--background", "--scale", "--max-elements", "--collapse"}
_FLAG_OPTIONS = frozenset({"--help", "-h", "--version", "--steps", "--explain", "--check",
                           "--check-all", "--annotate"})
_SHORT = frozenset({"-o", "-f", "-n", "-p", "-h"})
_NUMBER = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")


class UsageError(click.ClickException):
    """Bad input or usage: exit status 2, one message, no traceback."""

    exit_code = 2

    def __init__(self, message: str, ctx: click.Context | None = None) -> None:
        super().__init__(message)


class Failure(click.ClickException):
    """Something outside the input failed (e.g. Graphviz is missing): exit status 1."""

    exit_code = 1


@dataclass(frozen=True)
class Job:
    """One figure to make: from the command line or from an expression file."""

    expression: str
    values: dict[str, Any]
    name: str
    figure: Figure | None = None


class _Command(click.Command):
    """A command whose options include one per variable of its expression."""

    def collect_usage_pieces(self, ctx: click.Context) -> list[str]:
        return ["EXPRESSION|FILE.toml|FOLDER", "[--NAME VALUE]...", "[OPTIONS]"]

    flags = _FLAG_OPTIONS
    """The options that take no value (the others take the next argument)."""
    default_target: str | None = None
    """The target when none is given; None: one must be given."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if any(a in ("--help", "-h") for a in args) or "--version" in args:
            return super().parse_args(ctx, args)
        target, rest = _split_target(args, self.flags)
        ctx.meta["backviz.given"] = target is not None
        target = target if target is not None else self.default_target
        if target is None:
            builtin = {opt for p in self.params for opt in getattr(p, "opts", [])}
            # An unknown --NAME with a value may be a variable; alone, it is no option at all.
            unknown = [a for a, after in zip(args, [*args[1:], "--"], strict=False)
                       if a.startswith("--") and "=" not in a and a not in builtin | self.flags
                       and after.startswith("--")]
            if unknown:
                raise UsageError(_no_such_option(unknown[0], builtin), ctx)
            usage = " ".join(["backviz", *self.collect_usage_pieces(ctx)])
            raise UsageError("give an expression (e.g. \"(x+y)*z\"), an expression file or a "
                             f"folder of them; usage: {usage} (backviz --help for more)", ctx)
        self.params = [p for p in self.params if not (p.name or "").startswith("var_")]
        builtin = {opt for p in self.params for opt in getattr(p, "opts", [])}
        ctx.meta["backviz.target"] = target
        ctx.meta["backviz.builtin"] = builtin
        ctx.meta["backviz.is_path"] = _is_path(target, rest, builtin)
        variables = _variables_of(target, ctx)
        ctx.meta["backviz.variables"] = variables
        for i, name in enumerate(variables):
            if f"--{name}" not in builtin:
                self.params.append(click.Option([f"--{name}", f"var_{i}"], metavar="VALUE",
                                                help=f"value of {name}", expose_value=True))
        seen: set[str] = set()
        extra: list[str] = []
        ctx.meta["backviz.extra"] = extra
        for arg in rest:
            if arg.startswith("--") and len(arg) > 2:
                opt = arg.split("=", 1)[0]
                if opt in builtin:
                    continue
                if opt[2:] not in variables:
                    close = difflib.get_close_matches(opt, sorted(builtin), n=1, cutoff=0.75)
                    case = [v for v in variables if v.lower() == opt[2:].lower()]
                    if case:  # --X for x: names are case-sensitive, and this is a slip
                        raise UsageError(f"{opt} is not a variable of the expression (did you "
                                         f"mean --{case[0]}? names are case-sensitive)", ctx)
                    if close or self.default_target is not None or not _NAME.fullmatch(opt[2:]):
                        raise UsageError(_no_such_variable(opt, variables, close), ctx)
                    # A value for a name the expression does not have: ignored with a
                    # warning, as --set name=VALUE is (README, "Unused values").
                    extra.append(opt[2:])
                    self.params.append(click.Option([opt, f"var_{len(variables) + len(extra) - 1}"],
                                                    metavar="VALUE", expose_value=True))
                if opt in seen:  # click would quietly keep the last one
                    raise UsageError(f"{opt} is given twice: give each variable one value", ctx)
                seen.add(opt)
        try:
            return super().parse_args(ctx, rest)
        except click.UsageError as err:  # e.g. --format gif: one line, like every other error
            raise UsageError(err.format_message(), ctx) from None


def _no_such_variable(opt: str, variables: Sequence[str], close: Sequence[str] = ()) -> str:
    if close:
        return f"no such option: {opt} (did you mean {close[0]}?)"
    return (f"{opt} is neither an option nor a variable of the expression "
            f"(its variables: {_listed(variables) or 'none'})")


def _no_such_option(opt: str, builtin: set[str]) -> str:
    close = difflib.get_close_matches(opt, sorted(builtin), n=1, cutoff=0.75)
    return f"no such option: {opt}" + (f" (did you mean {close[0]}?)" if close else "")


def _listed(names: Sequence[str], limit: int = 10) -> str:
    """Names in a message: at most ``limit`` of them, then how many more."""
    shown = ", ".join(names[:limit])
    return shown + (f" and {len(names) - limit:,} more" if len(names) > limit else "")


def _split_target(args: list[str], flags: frozenset[str] = _FLAG_OPTIONS) -> tuple[str | None, list[str]]:
    """Find the expression (or file, or folder) among the arguments."""
    i = 0
    while i < len(args):
        arg = args[i]
        if arg == "--":
            if i + 1 < len(args):
                return args[i + 1], args[:i] + args[i + 2:]
            return None, args[:i]
        # A single dash that is not one of the short options starts an expression, as a
        # cross-entropy does: -x*x, -log(p).
        if arg.startswith("-") and not arg.startswith("--") and arg[:2] not in _SHORT:
            return arg, args[:i] + args[i + 1:]
        if arg.startswith("-") and len(arg) > 1 and not _NUMBER.match(arg):
            if arg in flags or "=" in arg:
                i += 1
            else:  # a value option, built in or a variable: it takes the next argument
                i += 2
            continue
        return arg, args[:i] + args[i + 1:]
    return None, args


def _variables_of(target: str, ctx: click.Context) -> tuple[str, ...]:
    """The variables that may be given on the command line for this target."""
    path = Path(target)
    if ctx.meta["backviz.is_path"]:
        from .gallery import find, load

        names: dict[str, None] = {}
        for file in (find(path) if path.is_dir() else [path]):
            try:
                figure = load(file)
                names.update(dict.fromkeys(parse(figure.expression).variables))
            except BackvizError:
                continue  # reported when the file is rendered
        return tuple(names)
    try:
        return parse(target).variables
    except BackvizError as err:
        raise UsageError(str(err), ctx) from None


def _is_path(target: str, rest: Sequence[str], builtin: set[str]) -> bool:
    """Whether the target is an expression file or a folder, rather than an expression."""
    # Path("") is the current folder, but an empty argument is an empty expression
    if not target:
        return False
    if target.endswith(".toml"):
        return True
    try:
        if not Path(target).is_dir():
            return False
    except OSError:  # a long expression is too long a file name
        return False
    # A bare name is an expression too (a folder x/ beside the expression x): it is the
    # expression when its variable is given a value, by --x or --set x=.
    if not _NAME.fullmatch(target) or target in FUNCTIONS:
        return True
    option = f"--{target}"
    for before, arg in zip(["", *rest], rest, strict=False):
        if before == "--set" or arg.startswith("--set="):
            if arg.removeprefix("--set=").split("=", 1)[0].strip() == target:
                return False
        elif option not in builtin and arg.split("=", 1)[0] == option:
            return False
    return True


_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
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


@click.command(cls=_Command, epilog=EXAMPLES,
               context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option("-o", "--output", metavar="PATH",
              help="File to write (format from its suffix), or - for stdout. "
                   "Default: output/NAME.svg.")
@click.option("-f", "--format", "fmt", type=click.Choice(FORMATS, case_sensitive=False),
              help="Output format (default: from the -o suffix, else svg).")
@click.option("-n", "--name", metavar="NAME",
              help="Name of the figure in output/ (default: from the expression or file).")
@click.option("-p", "--precision", type=click.IntRange(0, 12), metavar="N",
              help="Decimals to show (default 2; a figure whose numbers are all whole "
                   "shows integers unless --precision is given).")
@click.option("--set", "assignments", multiple=True, metavar="NAME=VALUE",
              help="Give a variable's value (for names that clash with options).")
@click.option("--theme", type=click.Choice(list(THEMES), case_sensitive=False), default="slides",
              help="Colours: slides (the lecture's green and red, the default), colorblind "
                   "(blue and orange), dark (light text on a dark background).")
@click.option("--background", type=click.Choice(["theme", "none"], case_sensitive=False),
              default="theme", help="none: a transparent background (default: the theme's).")
@click.option("--scale", type=click.FloatRange(0.1, 20), metavar="K",
              help="Size: K times the natural size for svg, pdf and dot; K pixels per point "
                   "for png (default 4: the first figure is 808 px wide).")
@click.option("--max-elements", type=click.IntRange(1, 10_000), metavar="N",
              help="Write arrays of up to N numbers in full (default 16; larger ones are "
                   "written as their shape and range).")
@click.option("--collapse", multiple=True, metavar="GATE",
              help="Draw each call of the user gate GATE (e.g. sig, from 'sig(u) = ...') as "
                   "one gate instead of a box around its body's gates; repeatable.")
@click.option("--steps", is_flag=True,
              help="Build the figure one backward step at a time: output/NAME/frame-NN.svg "
                   "(or .png with -f png) and index.html to step through them; -o names the "
                   "folder.")
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
def cli(ctx: click.Context, /, output: str | None, fmt: str | None, name: str | None,
        precision: int | None, assignments: tuple[str, ...], theme: str, background: str,
        scale: float | None, max_elements: int | None, collapse: tuple[str, ...], steps: bool,
        explain: bool, check_grads: bool, check_all: bool, annotate: bool,
        **var_options: str | None) -> None:
    """Draw backpropagation on the computational graph of an EXPRESSION or a program.

    Every edge shows its forward value in green above the line and its gradient
    in red below, as in the figures of the CS231n lecture on backpropagation.
    With --steps, --explain or --check the figure itself is written only when -o
    asks for it (with --steps, -o names the folder of the frames).
    """
    target: str = ctx.meta["backviz.target"]
    variables: tuple[str, ...] = (*ctx.meta["backviz.variables"], *ctx.meta["backviz.extra"])
    theme_given = ctx.get_parameter_source("theme") is not click.core.ParameterSource.DEFAULT
    look = Look(THEMES[theme.lower()], theme_given, background.lower() == "none", scale,
                max_elements or Style.max_elements)
    teaching = Teaching(steps, explain, check_grads or check_all, annotate, look, check_all)
    try:
        values = _given_values(variables, var_options, assignments)
        if name is not None:
            _check_name(name)
        fmt = fmt.lower() if fmt else None
        if output == "":
            raise BackvizError("-o needs a file name (or - for stdout)")
        if output is not None and output != "-" and not steps:
            named = Path(output).suffix.lower().lstrip(".")
            if fmt and named in FORMATS and named != fmt:
                raise BackvizError(f"-o {output} is {named.upper()} and --format asks for "
                                   f"{fmt.upper()}: give one of them (or -o "
                                   f"{Path(output).with_suffix('.' + fmt)})")
            fmt = format_for(output, fmt)
        fmt = fmt or "svg"
        _check_teaching(teaching, output, fmt)
    except BackvizError as err:
        raise UsageError(str(err), ctx) from None

    if ctx.meta["backviz.is_path"]:
        _run_files(ctx, Path(target), values, output, fmt, name, precision, teaching, collapse)
        return
    job = Job(target, values, name or figure_name(target))
    try:
        t = trace(job.expression, job.values)
        if collapse:
            t = t.collapse(*collapse)
    except MissingValueError as err:
        raise UsageError(_missing(err.names, ctx.meta["backviz.builtin"]), ctx) from None
    except BackvizError as err:
        raise UsageError(str(err), ctx) from None
    failed = _make(ctx, job, t, output, fmt, precision, teaching)
    if failed is not None:
        raise Failure(f"gradient check failed: {failed}")


def _missing(names: Sequence[str], builtin: set[str]) -> str:
    """No value for these variables: the message, with options that give them."""
    hints = [f"--set {n}=VALUE" if f"--{n}" in builtin else f"--{n} VALUE" for n in names[:3]]
    s = "" if len(names) == 1 else "s"
    return (f"no value{s} for {_listed(names)} (give {'it' if not s else 'them'}, "
            f"e.g. {' '.join(hints)}{' ...' if len(names) > 3 else ''})")


def _given_values(variables: Sequence[str], var_options: dict[str, str | None],
                  assignments: tuple[str, ...]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for key, text in var_options.items():
        if text is not None:
            var = variables[int(key.removeprefix("var_"))]
            values[var] = from_option(text, f"--{var}")
    for item in assignments:
        var, sep, text = item.partition("=")
        if not sep or not var:
            raise BackvizError(f"--set {item!r}: write NAME=VALUE, e.g. --set name=2")
        var = var.strip()
        if var in values:
            raise BackvizError(f"--set {var}: {var} is given a value twice; give it one")
        values[var] = from_option(text, f"--set {var}")
    return values


def _style(precision: int | None, figure: Figure | None, teaching: Teaching) -> Style:
    """How to draw: the options, then the expression file's precision."""
    if precision is None and figure is not None:
        precision = figure.precision
    look = teaching.look
    theme = look.theme
    if figure is not None and figure.theme and not look.theme_given:
        theme = THEMES[figure.theme]
    style = Style(annotate=teaching.annotate, theme=theme, transparent=look.transparent,
                  scale=look.scale, max_elements=look.max_elements)
    if precision is None:
        return style
    return replace(style, precision=precision, integers=False)


def _write(job: Job, t: Trace, output: str | None, fmt: str, style: Style,
           drawn: Callable[[], bytes | Iterable[bytes]]) -> Path | None:
    """Write one figure, drawn by ``drawn``, and print its summary."""
    try:
        data = drawn()
    except TooLargeError as err:  # the input's size: like every bad input, status 2
        raise UsageError(str(err)) from None
    except BackvizError as err:
        raise Failure(str(err)) from None
    if output == "-":
        try:
            stream = sys.stdout.buffer
            stream.writelines([data] if isinstance(data, bytes) else data)
            stream.flush()
        except BrokenPipeError:  # the reader has gone (| head): nothing to say
            raise
        except OSError as err:
            raise Failure(f"cannot write to stdout: {err.strerror or err}") from None
        _summary(t, style, None, err=True)
        return None
    path = Path(output) if output else Path("output") / f"{job.name}.{fmt}"
    try:
        write_atomic(path, data)
    except OSError as err:
        raise Failure(f"cannot write {path}: {err.strerror or err}") from None
    _summary(t, style, path, err=False)
    return path


def _summary(t: Trace, style: Style, path: Path | None, err: bool) -> None:
    click.echo(summary(t, style), err=err)
    file = click.get_current_context().meta.get("backviz.file")
    for warning in t.warnings:  # in a folder, each names its file
        click.echo(f"warning: {f'{file}: ' if file else ''}{warning}", err=True)
    if path is not None:
        click.echo(f"wrote {path}", err=err)


def _run_files(ctx: click.Context, target: Path, values: dict[str, Any], output: str | None,
               fmt: str, name: str | None, precision: int | None,
               teaching: Teaching | None = None, collapse: tuple[str, ...] = ()) -> None:
    """Render one expression file, or every file of a folder (the others go on if one fails).

    In a folder, ``--collapse`` applies to the files that call the gates it names.
    """
    from .gallery import find, load

    if target.is_dir():
        files = find(target)
        if not files:
            hint, bare = "", str(ctx.meta["backviz.target"])
            if _NAME.fullmatch(bare) and bare not in FUNCTIONS:
                how = (f"--set {bare}=VALUE" if f"--{bare}" in ctx.meta["backviz.builtin"]
                       else f"--{bare} VALUE")
                hint = f"; for the expression {bare}, give its value: {how}"
            raise UsageError(f"{target}: no expression files (*.toml) in this folder{hint}", ctx)
        if name is not None or (output is not None and (
                output == "-" or Path(output).suffix.lower().lstrip(".") in FORMATS)):
            raise UsageError("-o FILE and --name name one figure; a folder renders each file "
                             "to output/<file name>.<format>, or -o FOLDER/ to that folder", ctx)
    else:
        files = [target]
    teaching = teaching or Teaching()
    traced: list[tuple[Path, Job, Trace] | BackvizError] = []
    for file in files:
        try:
            figure = load(file)
            job = Job(figure.expression, {**figure.values, **values},
                      name or figure.name, figure)
            t = _trace_file(figure, job)
            called = {g.name for g in t.graph.groups}
            chosen = (*figure.collapse, *(c for c in collapse
                                          if len(files) == 1 or c in called))
            if chosen:
                t = t.collapse(*chosen)
            traced.append((file, job, t))
        except BackvizError as err:
            if len(files) == 1:
                raise UsageError(str(err), ctx) from None
            traced.append(err)
    # Graphviz draws the files at once, one per core (it runs outside Python, so threads
    # suffice); what is written and printed comes in the files' order, as drawn one by one.
    failed = 0
    unchecked: list[str] = []

    def into(job: Job) -> str | None:  # -o FOLDER: one figure (or build) per file in it
        if output is None or len(files) == 1:
            return output
        return str(Path(output) / (job.name if teaching.steps else f"{job.name}.{fmt}"))

    pool = ThreadPoolExecutor(max_workers=os.cpu_count() or 1)
    try:
        drawings = [None if isinstance(item, BackvizError) else
                    _drawing(item[1], item[2], into(item[1]), fmt, precision, teaching)
                    for item in traced]
        futures = [pool.submit(draw) if draw else None for draw in drawings]
        for item, future in zip(traced, futures, strict=True):
            if isinstance(item, BackvizError):
                click.echo(f"Error: {item}", err=True)
                failed += 1
                continue
            file, job, t = item
            if len(files) > 1:
                click.echo(f"{file}:")
                ctx.meta["backviz.file"] = file
            wrong = _make(ctx, job, t, into(job), fmt, precision, teaching,
                          future.result if future else None)
            if wrong is not None:
                unchecked.append(f"{file}: {wrong}")
    except BaseException:
        # Stopped (a signal) or a failure: draw nothing more, and end the dot runs under
        # way in the other threads, or they would finish every file first.
        pool.shutdown(wait=False, cancel_futures=True)
        stop_drawing()
        raise
    pool.shutdown()
    if failed:
        raise UsageError(f"{failed} of {len(files)} expression files failed (see above)", ctx)
    if len(unchecked) == 1:
        raise Failure(f"gradient check failed: {unchecked[0]}")
    if unchecked:
        raise Failure(f"gradient check failed for {len(unchecked)} of {len(files)} expression "
                      "files (see above)")


@dataclass(frozen=True)
class Look:
    """How the figures look: --theme, --background, --scale, --max-elements."""

    theme: Theme = THEMES["slides"]
    theme_given: bool = False
    """--theme was given: it wins over an expression file's theme."""
    transparent: bool = False
    scale: float | None = None
    max_elements: int = Style.max_elements


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


@dataclass(frozen=True)
class Teaching:
    """What the teaching options ask for: a build, the backward pass in words, a check."""

    steps: bool = False
    explain: bool = False
    check: bool = False
    annotate: bool = False
    look: Look = Look()
    check_all: bool = False


def _check_teaching(teaching: Teaching, output: str | None, fmt: str) -> None:
    if not teaching.steps:
        return
    from . import teach

    if output == "-":
        raise BackvizError("--steps writes a folder of frames, not one stream: give -o FOLDER "
                           "or leave -o out (the default is output/NAME/)")
    if fmt not in teach.BUILD_FORMATS:
        raise BackvizError(f"--steps draws its frames as {' or '.join(teach.BUILD_FORMATS)}, "
                           f"not {fmt}")
    if (output is not None and Path(output).suffix.lower().lstrip(".") in FORMATS
            and not output.endswith("/") and not Path(output).is_dir()):
        raise BackvizError(f"--steps writes a folder of frames, and -o {output} names a file: "
                           f"give -o a folder (e.g. -o {Path(output).with_suffix('')}), "
                           "and --format svg or png for the frames")


def _drawing(job: Job, t: Trace, output: str | None, fmt: str, precision: int | None,
             teaching: Teaching) -> Callable[[], Any] | None:
    """What Graphviz is to draw for one expression (its build or its figure), not yet run;
    None when nothing is drawn."""
    style = _style(precision, job.figure, teaching)
    if teaching.steps:
        from . import teach

        title = job.figure.title if job.figure else job.expression
        about = job.figure.caption if job.figure else None
        return partial(teach.build, t, style, title, fmt, about)
    if output is not None or not (teaching.explain or teaching.check):
        if fmt == "json":  # written piece by piece: a large array need not be held twice
            return partial(json_chunks, t)
        caption = job.figure.caption if job.figure else None
        return partial(to_bytes, t, fmt, replace(style, caption=caption))
    return None


def _make(ctx: click.Context, job: Job, t: Trace, output: str | None, fmt: str,
          precision: int | None, teaching: Teaching,
          drawn: Callable[[], Any] | None = None) -> str | None:
    """All that is asked for one expression: its explanation, check, build and figure.

    ``drawn`` gives what Graphviz drew for it (see _drawing), when it was drawn
    beforehand. Returns what the gradient check found wrong, or None.
    """
    style = _style(precision, job.figure, teaching)
    drawn = drawn or _drawing(job, t, output, fmt, precision, teaching)
    wrong = None
    if teaching.explain or teaching.check:
        from . import teach
    # With -o -, stdout is the figure: the words go to stderr, as the summary does.
    text_err = output == "-"
    if teaching.explain:
        for line in teach.explain(t, style):
            click.echo(line, err=text_err)
    if teaching.check:
        limit = None if teaching.check_all else teach.SAMPLE
        with _Progress("checking gradients", "elements") as progress:
            results = teach.check(t, limit=limit, progress=progress)
        for line in teach.check_lines(t, results):
            click.echo(line, err=text_err)
        bad = [r for r in results if not r.ok]
        if bad:
            worst = max(bad, key=lambda r: r.error)
            wrong = (f"the relative error of d/d{worst.name} is {worst.error:.1e}, above the "
                     f"tolerance {teach.TOLERANCE:g}")
    if drawn is not None and teaching.steps:
        _write_build(ctx, job, t, output, style, drawn)
    elif drawn is not None:
        _write(job, t, output, fmt, style, drawn)
    return wrong


def _write_build(ctx: click.Context, job: Job, t: Trace, output: str | None, style: Style,
                 drawn: Callable[[], dict[str, bytes]]) -> None:
    """Write the frames of a build (drawn by ``drawn``) and its page into one folder."""
    folder = Path(output) if output else Path("output") / job.name
    if folder.exists() and not folder.is_dir():
        raise UsageError(f"{folder} is a file; --steps writes a folder of frames", ctx)
    try:
        files = drawn()
    except TooLargeError as err:  # the input's size: like every bad input, status 2
        raise UsageError(str(err), ctx) from None
    except (GraphvizNotFoundError, RenderError) as err:
        raise Failure(str(err)) from None
    except BackvizError as err:
        raise UsageError(str(err), ctx) from None
    try:
        # Every file of the build, or none: an earlier build is replaced whole (its frames
        # would step past the end of a shorter one); other files in the folder are kept.
        write_folder_atomic(folder, files, replaces=r"frame-\d+\.(svg|png)|index\.html")
    except OSError as err:
        raise Failure(f"cannot write {folder}: {err.strerror or err}") from None
    _summary(t, style, None, err=False)
    frames = sorted(f for f in files if f.startswith("frame-"))
    click.echo(f"wrote {folder}/: {frames[0]} ... {frames[-1]} ({len(frames)} frames) "
               "and index.html")


def _trace_file(figure: Figure, job: Job) -> Trace:
    try:
        graph: Graph = parse(figure.expression)
    except BackvizError as err:
        raise GalleryFileError(f"{figure.path}: field 'expression': {err}") from None
    try:
        return trace(graph, job.values)
    except BackvizError as err:
        raise GalleryFileError(f"{figure.path}: field 'values': {err}") from None


LIVE_EXAMPLE = ("(x+y)*z", {"x": "-2", "y": "5", "z": "-4"})
"""What ``backviz live`` opens with when given no expression: the lecture's first figure."""


class _LiveCommand(_Command):
    flags = _FLAG_OPTIONS | {"--no-browser"}
    default_target = LIVE_EXAMPLE[0]

    def collect_usage_pieces(self, ctx: click.Context) -> list[str]:
        return ["[EXPRESSION|FILE.toml]", "[--NAME VALUE]...", "[OPTIONS]"]


@click.command(cls=_LiveCommand,
               context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
               epilog="""\b
Examples:
  backviz live
  backviz live "1/(1+exp(-(w0*x0+w1*x1+w2)))" --w0 2 --x0 -1 --w1 -3 --x1 -2 --w2 -3
  backviz live expressions/sigmoid_neuron.toml --port 8765 --no-browser""")
@click.option("--port", type=click.IntRange(0, 65535), default=0, show_default=True, metavar="N",
              help="Port on 127.0.0.1 to listen on (0: any free port).")
@click.option("--no-browser", is_flag=True, help="Do not open the page in a browser.")
@click.option("-p", "--precision", type=click.IntRange(0, 12), metavar="N",
              help="Decimals the page starts with (it can switch them).")
@click.option("--theme", type=click.Choice(list(THEMES), case_sensitive=False),
              help="Colours the page starts with (it can switch them): slides, colorblind, dark.")
@click.option("--set", "assignments", multiple=True, metavar="NAME=VALUE",
              help="Give a variable's value (for names that clash with options).")
@click.pass_context
def live_cli(ctx: click.Context, /, port: int, no_browser: bool, precision: int | None,
             theme: str | None, assignments: tuple[str, ...], **var_options: str | None) -> None:
    """Open a page where the figure follows what you type: the EXPRESSION (or the
    expression file's) in a box, a field and a slider for each value, the backward
    pass step by step.

    The server listens on 127.0.0.1 only; its first line on stdout is the page's
    address, with a token that every request must carry. Ctrl-C stops it.
    Without an expression the page opens with (x+y)*z at x=-2, y=5, z=-4.
    """
    from . import live

    target: str = ctx.meta["backviz.target"]
    if ctx.meta["backviz.is_path"] and Path(target).is_dir():
        raise UsageError(f"{target} is a folder; backviz live opens one expression or one "
                         "expression file", ctx)
    try:
        values = _given_values(ctx.meta["backviz.variables"], var_options, assignments)
        if ctx.meta["backviz.is_path"]:
            from .gallery import load

            figure = load(target)
            expression, values = figure.expression, {**figure.values, **values}
            precision = figure.precision if precision is None else precision
            theme = theme or figure.theme
        else:
            expression = target
            if not ctx.meta["backviz.given"]:
                values = {**LIVE_EXAMPLE[1], **values}
        parse(expression)
    except BackvizError as err:
        raise UsageError(str(err), ctx) from None
    start = live.Start(expression, {name: as_text(v) for name, v in values.items()}, precision,
                       (theme or "slides").lower())

    def ready(server: live.LiveServer) -> None:
        click.echo(server.url)
        click.echo("backviz live: serving the page on 127.0.0.1 only; Ctrl-C stops it", err=True)
        if not no_browser:
            import webbrowser

            webbrowser.open(server.url)

    try:
        live.serve(start, port, ready)
    except OSError as err:
        raise Failure(f"cannot listen on 127.0.0.1:{port}: {err.strerror or err}") from None
    except (KeyboardInterrupt, Stopped):  # Ctrl-C, SIGTERM, SIGHUP: see backviz.start
        click.echo("backviz live: stopped", err=True)


def main(argv: Sequence[str] | None = None) -> NoReturn:
    """Entry point of the ``backviz`` command; ``backviz live ...`` starts the live page.

    So a first argument ``live`` is always the subcommand: the expression that is the
    variable ``live`` is drawn with ``backviz -- live --live 2``.
    """
    args = list(argv) if argv is not None else sys.argv[1:]
    command, prog = (live_cli, "backviz live") if args[:1] == ["live"] else (cli, "backviz")
    if command is live_cli:
        args = args[1:]
    try:
        status = command.main(args=args, prog_name=prog, standalone_mode=False)
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
            click.echo(f"Error: cannot write to stdout: {err.strerror or err}", err=True)
        _exit(1)
    _exit(status if isinstance(status, int) else 0)


def _exit(status: int) -> NoReturn:
    """Exit; stdout is pointed at /dev/null first, so that Python's last flush of an
    unwritable stdout adds no traceback of its own."""
    with contextlib.suppress(OSError, ValueError):
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    sys.exit(status)
