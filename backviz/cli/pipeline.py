"""The pipeline every figure goes through, typed or read from a file: trace, draw, write.

:class:`Asked` is what the options ask of every figure. :func:`run` traces each source,
has Graphviz draw it, adds what the teaching options ask for (--explain, --check, --steps),
writes each file whole or not at all and prints its summary. With several files, Graphviz
draws them at once, one per core, while what is written and printed comes in their order.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import click

from ..errors import BackvizError, GalleryFileError
from ..ops import FUNCTIONS
from ..render import to_bytes
from ..render.backend import stop_drawing
from ..render.export import (
    ANIMATIONS,
    BUILD_FILES,
    FORMATS,
    format_for,
    json_chunks,
    write_atomic,
    write_folder_atomic,
)
from ..render.style import THEMES, Style
from ..render.summary import summary
from ..tracing import Trace, trace
from .arguments import NAME, how
from .exits import Failure, UsageError, unwritable
from .targets import Source, figure_name

if TYPE_CHECKING:
    from ..gallery import Figure
    from ..render.style import Theme

__all__ = ["Asked", "check_folder", "check_teaching", "format_of", "run"]


# --- how to draw: what the options ask of every figure ------------------------------------

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


def format_of(output: str | None, fmt: str | None, steps: bool) -> str:
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


def check_teaching(asked: Asked) -> None:
    """--steps writes a folder of svg or png frames: not to stdout, nor to a file's name."""
    if not asked.steps:
        return
    from .. import teach

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


def check_folder(target: str, sources: Sequence[object], asked: Asked,
                 options: set[str]) -> None:
    """A folder has expression files, and is not asked for one figure (-o FILE, --name)."""
    output = asked.output
    if not sources:
        hint = ""
        if NAME.fullmatch(target) and target not in FUNCTIONS:
            hint = f"; for the expression {target}, give its value: {how(target, options)}"
        raise UsageError(f"{Path(target)}: no expression files (*.toml) in this folder{hint}")
    if asked.name is not None or (output is not None and (
            output == "-" or Path(output).suffix.lower().lstrip(".") in FORMATS)):
        raise UsageError("-o FILE and --name name one figure; a folder renders each file "
                         "to output/<file name>.<format>, or -o FOLDER/ to that folder")


# --- trace, draw, write -------------------------------------------------------------------

def run(sources: Sequence[Source | BackvizError], values: dict[str, Any], asked: Asked) -> None:
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
        from .. import teach

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
        from .. import teach

        for line in teach.explain(t, style):
            click.echo(line, err=err)
    return _check(t, asked.check_all, err) if asked.check else None


def _check(t: Trace, every: bool, err: bool) -> str | None:
    """The gradient check (of a sample, unless ``every``); returns what it found wrong."""
    from .. import teach

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
            raise Failure(unwritable(err)) from None
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
