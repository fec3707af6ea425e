"""The command's summary of a trace: ``expression = value``, then the gradients and the
values a program names, in the figure's number forms (:class:`~backviz.render.numbers.Numbers`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..graph import INPUT
from ..text import short
from .numbers import Numbers
from .style import Style

if TYPE_CHECKING:
    from ..evaluate import Evaluation

__all__ = ["summary"]


def summary(trace: Evaluation, style: Style | None = None, limit: int | None = None) -> str:
    """The command's summary: ``expression = value``, one line per gradient, then the values
    a program names, with their gradients.

    With ``limit``, at most that many gradients (and names), then how many more there
    are, so that a trace of thousands of variables still has a short summary.
    """
    numbers = Numbers(trace, style or Style())
    one_line = "\n" not in trace.expression
    # The output's name from the graph's columns: graph.output would make every node's record.
    head = trace.graph.names[-1] or (short(" ".join(trace.expression.split()), 60) if one_line
                                     else "f")
    lines = [f"{head} = {numbers.plain(trace.values[-1])}"]
    return "\n".join([*lines, *_gradients(trace, numbers, limit), *_named(trace, numbers, limit)])


def _gradients(trace: Evaluation, numbers: Numbers, limit: int | None) -> list[str]:
    """A line per gradient (at most ``limit``), then how many more there are."""
    rows = [(trace.graph.d(name), g) for name, g in trace.gradients.items()]
    more = 0
    if limit is not None and len(rows) > limit:
        rows, more = rows[:limit], len(rows) - limit
    width = max((len(label) for label, _ in rows), default=0)
    lines = [f"  {label.ljust(width)} = {numbers.plain(g)}" for label, g in rows]
    if more:
        lines.append(f"  ... and {more:,} more gradients (t.gradients has them all)")
    return lines


def _named(trace: Evaluation, numbers: Numbers, limit: int | None) -> list[str]:
    """The values a program names (not its inputs, nor its output), with their gradients;
    one computed from given data or shapes alone (N = X.shape[0]) has none, as the figure
    draws it."""
    graph = trace.graph
    output = len(graph) - 1
    named = [(name, i) for name, i in graph.bindings.items() if graph.ops[i] != INPUT and i != output]
    if not named:
        return []
    lines = ["named values (value, gradient):"]
    shown = named if limit is None else named[:limit]
    width = max((len(name) for name, _ in shown), default=0)
    given = trace.given_values
    lines += [f"  {name.ljust(width)} = {numbers.plain(trace.values[i])}, "
              + ("no gradient (from given data or shapes alone)" if i in given
                 else f"{graph.d(name)} = {numbers.plain(trace.grads[i])}")
              for name, i in shown]
    if len(shown) < len(named):
        lines.append(f"  ... and {len(named) - len(shown):,} more (t.value_of(name) and "
                     "t.grad_of(name) read them)")
    return lines
