"""What the command is given: the options click parses, and what it leaves over.

The expression and its variables' values (``--x -2``) are no options click declares: its
parser leaves them over, each ``--NAME`` with the argument after it, and :class:`Given`
reads them from there. :func:`read_values` checks each ``--NAME`` against the expression's
variables and reads its text (:mod:`backviz.values`); the messages say how to give a value
that is missing, misspelt or named like an option.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any, NamedTuple

import click
from click.parser import _OptionParser, _ParsingState

from ..errors import InvalidValueError
from ..values import from_option
from .exits import UsageError

__all__ = ["DRAW_USAGE", "LIVE_USAGE", "NAME", "Backviz", "Command", "DefaultCommand", "Given",
           "how", "listed", "missing", "no_target", "option_names", "read_values"]

DRAW_USAGE = "EXPRESSION|FILE.toml|FOLDER [--NAME VALUE]... [OPTIONS]"
LIVE_USAGE = "[EXPRESSION|FILE.toml] [--NAME VALUE]... [OPTIONS]"
NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
"""A variable's name, as the expression language writes it."""


# --- what click parses, and what it leaves over -------------------------------------------

class _Parser(_OptionParser):
    """click's parser, except that what it does not know it leaves over whole: an unknown
    --NAME with the argument after it (a variable and its value: --x -2), and a word that
    starts with a dash but not with a short option (an expression, -x*x; a number, -2).

    click would read such a word's letters as short options: -log(x) as -l, then -o g(x).
    """

    def _process_opts(self, arg: str, state: _ParsingState) -> None:
        if arg.split("=", 1)[0] in self._long_opt:
            super()._process_opts(arg, state)
        elif arg[:2] in self._short_opt:
            # What click does with -o once no long option -o is found; asked first, click
            # would make (and word with difflib, 2 ms) the error that says there is none.
            self._match_short_opt(arg, state)
        else:
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


class Command(click.Command):
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
        if option not in opts or not option.startswith("--") or not NAME.fullmatch(name):
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


class DefaultCommand(Command):
    """The command that runs when no other is named: its usage line is backviz's own."""

    def format_usage(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        formatter.write_usage(ctx.find_root().command_path, " ".join(self.collect_usage_pieces(ctx)))


class Backviz(click.Group):
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


def option_names(ctx: click.Context) -> set[str]:
    """The command's own options: -o, --output, ... (for hints and clashes)."""
    return {opt for param in ctx.command.params for opt in getattr(param, "opts", [])}


# --- the values of the variables: --NAME VALUE and --set NAME=VALUE -----------------------

def read_values(given: Given, assignments: Sequence[str], variables: Sequence[str],
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
    if strict or not NAME.fullmatch(name):
        return (f"{option} is neither an option nor a variable of the expression "
                f"(its variables: {listed(variables) or 'none'})")
    return None


def no_target(given: Given, options: set[str]) -> str:
    """The message when no expression is given: for a --NAME alone, it is no option at all."""
    import difflib

    for option, text in given.pairs:
        if text is None or text.startswith("--"):  # with a value, it may be a variable
            close = difflib.get_close_matches(option, sorted(options), n=1, cutoff=0.75)
            return f"no such option: {option}" + (f" (did you mean {close[0]}?)" if close else "")
    return ("give an expression (e.g. \"(x+y)*z\"), an expression file or a folder of them; "
            f"usage: backviz {DRAW_USAGE} (backviz --help for more)")


def listed(names: Sequence[str], limit: int = 10) -> str:
    """Names in a message: at most ``limit`` of them, then how many more."""
    shown = ", ".join(names[:limit])
    return shown + (f" and {len(names) - limit:,} more" if len(names) > limit else "")


def how(name: str, options: set[str]) -> str:
    """How to give a variable's value: --NAME VALUE, or --set for a name that is an option's."""
    return f"--set {name}=VALUE" if f"--{name}" in options else f"--{name} VALUE"


def missing(names: Sequence[str], options: set[str]) -> str:
    """No value for these variables: the message, with options that give them."""
    hints = [how(n, options) for n in names[:3]]
    s = "" if len(names) == 1 else "s"
    return (f"no value{s} for {listed(names)} (give {'it' if not s else 'them'}, "
            f"e.g. {' '.join(hints)}{' ...' if len(names) > 3 else ''})")
