"""The ``backviz`` command: the only package that imports click, prints or exits.

One click group, two commands: ``backviz live ...`` opens the live page, and any other
arguments draw (:func:`draw_cli`, the default command). A run goes through its modules in
this order: :mod:`~backviz.cli.arguments` reads what click leaves over (the expression and
the ``--NAME VALUE`` pairs), :mod:`~backviz.cli.targets` parses the expression, or each
expression file, once, and :mod:`~backviz.cli.pipeline` makes every figure in one way:
trace, draw, write. Library errors become the command's (exit status 2 or 1, see
:mod:`~backviz.cli.exits`) in one place, :func:`_click_errors`.

A start imports only what drawing one figure needs: the live page, the teaching mode
(teach), the expression files (gallery, tomllib), the thread pool that draws a folder,
difflib and hashlib are imported where they are used, which keeps the command near the
cost of starting Python with numpy and click.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

import click

from .. import __version__
from ..errors import (
    BackvizError,
    GraphvizNotFoundError,
    MissingValueError,
    RenderError,
    Stopped,
    TooLargeError,
)
from ..render.backend import stop_drawing
from ..render.export import ANIMATIONS, FORMATS
from ..render.style import MAX_PRECISION, MIN_PRECISION, THEMES, Style
from ..values import as_text
from .arguments import (
    DRAW_USAGE,
    LIVE_USAGE,
    Backviz,
    Command,
    DefaultCommand,
    Given,
    missing,
    no_target,
    option_names,
    read_values,
)
from .exits import Failure, UsageError, unwritable
from .pipeline import Asked, check_folder, check_teaching, format_of, run
from .targets import Source, check_name, declared_data, is_path, read_target, variables_of

if TYPE_CHECKING:
    from ..live import Start

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

LIVE_EXAMPLE = ("(x+y)*z", {"x": "-2", "y": "5", "z": "-4"})
"""What ``backviz live`` opens with when given no expression: the lecture's first figure."""

_SETTINGS = {"help_option_names": ["-h", "--help"], "max_content_width": 100}
_F = TypeVar("_F", bound=Callable[..., Any])


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


@contextlib.contextmanager
def _click_errors(options: set[str]) -> Iterator[None]:
    """Library errors as the command's: bad input exits with status 2, a failure outside
    it (Graphviz missing, or failing) with 1."""
    try:
        yield
    except MissingValueError as err:
        raise UsageError(missing(err.names, options)) from None
    except TooLargeError as err:  # the input's size: like every bad input, status 2
        raise UsageError(str(err)) from None
    except (GraphvizNotFoundError, RenderError) as err:
        raise Failure(str(err)) from None
    except BackvizError as err:
        raise UsageError(str(err)) from None


# --- the drawing command ------------------------------------------------------------------

@click.command(cls=DefaultCommand, name="draw", epilog=EXAMPLES, options_metavar=DRAW_USAGE,
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
    options = option_names(ctx)
    with _click_errors(options):
        if given.target is None:
            raise UsageError(no_target(given, options))
        path = is_path(given.target, given.named(assignments))
        sources = read_target(given.target, path, given.named(assignments))
        values = read_values(given, assignments, variables_of(sources), options, strict=False)
        if name is not None:
            check_name(name)
        asked = Asked(output, format_of(output, fmt, steps), name, precision, collapse,
                      theme=THEMES[(theme or "slides").lower()], theme_given=theme is not None,
                      transparent=background.lower() == "none", scale=scale,
                      max_elements=max_elements or Style.max_elements, steps=steps,
                      explain=explain, check=check_grads or check_all, check_all=check_all,
                      annotate=annotate, data=declared_data(data, sources))
        check_teaching(asked)
        if path and Path(given.target).is_dir():
            check_folder(given.target, sources, asked, options)
        run(sources, values, asked)


# --- the live page ------------------------------------------------------------------------

@click.command(cls=Command, name="live", options_metavar=LIVE_USAGE, context_settings=_SETTINGS,
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
    from .. import live

    options = option_names(ctx)
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
    from ..live import Start

    source = _one_source(LIVE_EXAMPLE[0] if given.target is None else given.target,
                         given.named(assignments))
    values = read_values(given, assignments, variables_of([source]), options, strict=True)
    if isinstance(source, BackvizError):
        raise source
    declared = declared_data(data, [source])
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
    path = is_path(target, named)
    if path and Path(target).is_dir():
        raise UsageError(f"{target} is a folder; backviz live opens one expression or one "
                         "expression file")
    return read_target(target, path, named, "backviz live")[0]


cli = Backviz(draw_cli, name="backviz", commands=[live_cli])
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
            click.echo(f"Error: {unwritable(err)}", err=True)
        _exit(1)
    _exit(status if isinstance(status, int) else 0)


def _exit(status: int) -> NoReturn:
    """Exit; stdout is pointed at /dev/null first, so that Python's last flush of an
    unwritable stdout adds no traceback of its own."""
    with contextlib.suppress(OSError, ValueError, AttributeError):
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, sys.stdout.fileno())
        os.close(null)
    sys.exit(status)
