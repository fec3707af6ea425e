"""The ``backviz`` command (the only module that imports click)."""

from __future__ import annotations

import sys

import click

from . import __version__
from .errors import BackvizError
from .evaluate import trace
from .parse import parse


def main() -> None:
    """Print the output value and every input's gradient (the renderer comes next)."""
    args = sys.argv[1:]
    if not args or args[0] in ("-h", "--help"):
        click.echo('usage: backviz EXPRESSION --NAME VALUE ...  e.g. backviz "(x+y)*z" --x -2 --y 5 --z -4')
        return
    if args[0] == "--version":
        click.echo(f"backviz {__version__}")
        return
    try:
        graph = parse(args[0])
        values = {a[2:]: float(v) for a, v in zip(args[1::2], args[2::2])}
        t = trace(graph, values)
    except (BackvizError, ValueError) as err:
        click.echo(f"Error: {err}", err=True)
        sys.exit(2)
    click.echo(f"f = {t.value:g}")
    for name, grad in t.gradients.items():
        click.echo(f"df/d{name} = {grad:g}")
