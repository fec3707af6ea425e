"""The trace: what both passes give for one expression or program, and what is made of it.

:func:`trace` parses (unless given a graph) and runs the engine (:mod:`backviz.evaluate`);
a :class:`Trace` holds every node's value and gradient and turns them into figures (through
:mod:`backviz.render`), the teaching mode's steps and checks (:mod:`backviz.teach`) and
notebook output (:mod:`backviz.notebook`). It sits above all of them: they read a trace's
data and never import this module, so there is no import cycle. The teaching mode and the
notebook output are imported when first used, which keeps the command's start-up short.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import InvalidValueError, TooLargeError
from .evaluate import Evaluation, backward, forward
from .graph import Graph, collector_paused
from .parse import parse
from .render import save, to_graphviz, to_svg
from .render.dot import to_dot
from .render.export import to_dict, to_json
from .render.style import Style
from .render.summary import summary
from .values import Data, describe

if TYPE_CHECKING:
    from .notebook import Figure
    from .teach import Build, CheckReport

__all__ = ["Trace", "trace"]


class Trace(Evaluation):
    """The result of both passes, and what is made of it: figures, steps, checks, notebook
    output. ``trace()`` returns one."""

    def to_dot(self, style: Style | None = None) -> str:
        """The figure as Graphviz DOT source (needs no Graphviz to produce)."""
        return to_dot(self, style)

    def to_svg(self, style: Style | None = None) -> str:
        """The figure as SVG text (runs Graphviz's ``dot``)."""
        return to_svg(self, style)

    def to_graphviz(self, style: Style | None = None) -> Any:
        """The figure as a ``graphviz.Digraph``, to render, save or change (docs/python.md)."""
        return to_graphviz(self, style)

    def to_json(self) -> str:
        """The trace as JSON text, as ``--format json`` writes it (docs/python.md)."""
        return to_json(self)

    def to_dict(self) -> dict[str, Any]:
        """The trace as plain data: what :meth:`to_json` writes, as a dict."""
        return to_dict(self)

    def save(self, path: str | Path, format: str | None = None,
             style: Style | None = None) -> Path:
        """Write the figure; the format follows the suffix (.svg .dot .png .pdf .json .tex)."""
        return save(self, path, format, style)

    def steps(self, style: Style | None = None, title: str | None = None) -> Build:
        """The figure built one backward step at a time (``--steps``): its frames, and in a
        notebook the stepping page."""
        from .teach import Build

        return Build.of(self, style, title)

    def explain(self, style: Style | None = None) -> str:
        """The backward pass in words, one line per gate (``--explain``)."""
        from .teach import explain

        return "\n".join(explain(self, style))

    def check(self, all_elements: bool = False) -> CheckReport:
        """Every gradient against central differences (``--check``): ``.ok``, ``.errors``.

        Above 1,000 elements in all, a seeded sample of 1,000 is compared, unless
        ``all_elements`` (``--check-all``)."""
        from .teach import SAMPLE, CheckReport

        return CheckReport.of(self, None if all_elements else SAMPLE)

    def summary(self, style: Style | None = None, limit: int | None = None) -> str:
        """The command's summary: the value and the gradients (at most ``limit`` of them)."""
        return summary(self, style, limit)

    def __repr__(self) -> str:
        return self.summary(limit=_REPR_GRADIENTS)

    __str__ = __repr__

    def _repr_mimebundle_(self, include: object = None, exclude: object = None,
                          scale: float | None = None) -> tuple[dict[str, Any], dict[str, Any]]:
        """What a notebook shows: the figure as SVG and PNG, and the summary as text.

        Never raises: without Graphviz, or for a graph too large to draw, it shows the
        summary and says why there is no figure.
        """
        from .notebook import mimebundle

        return mimebundle(self, scale)

    def show(self, scale: float | None = None, style: Style | None = None) -> Figure:
        """The figure at another size (``scale``, 1 the natural size), for a notebook."""
        from .notebook import Figure

        return Figure(self, scale, style)


_REPR_GRADIENTS = 12  # repr(t) lists this many gradients at most, then how many more


def trace(expression: str | Graph, values: Mapping[str, object] | None = None,
          /, **named: object) -> Trace:
    """Parse (unless given a graph), run the forward and the backward pass.

    Values come as keywords (``trace("(x+y)*z", x=-2, y=5, z=-4)``) or as a mapping
    for names that are not Python identifiers or clash with keywords. A value marked
    ``backviz.data(...)`` is given data (a label, a target): drawn without a gradient.
    """
    with collector_paused():
        return _trace(expression, values, named)


def _trace(expression: str | Graph, values: Mapping[str, object] | None,
           named: dict[str, object]) -> Trace:
    graph = expression if isinstance(expression, Graph) else parse(expression)
    if values is not None and not isinstance(values, Mapping):
        raise InvalidValueError(
            f"the values must be a mapping from names to values (e.g. {{'x': 1.0}}) or "
            f"keywords (x=1.0), not {describe(values)}")
    given: Mapping[str, object] = {**values, **named} if values and named else values or named
    graph, given = _marked(graph, given)
    vals = forward(graph, given)
    try:
        grads = backward(graph, vals)
    except MemoryError:  # the forward pass fitted, but not its gradients as well
        raise TooLargeError("the gradients of these values do not fit in memory beside the "
                            "values themselves") from None
    # Every variable has a value (forward checked), so only a longer mapping has extras.
    unused: tuple[str, ...] = ()
    if len(given) > len(graph.variables):
        known = set(graph.variables)
        unused = tuple(name for name in given if name not in known)
    return Trace(graph, vals, grads, unused)


def _marked(graph: Graph, given: Mapping[str, object]) -> tuple[Graph, Mapping[str, object]]:
    """The graph with the variables whose values are marked :func:`~backviz.data` declared
    data, and the values without their marks (a mark on a name the expression does not have
    gets the warning any unused value gets)."""
    # One pass over the types first, in C: a 100,000-term sum has 200,000 values, none marked.
    if Data not in set(map(type, given.values())):
        return graph, given
    marked = [name for name, value in given.items() if type(value) is Data]
    variables = set(graph.variables)
    graph = graph.with_data(name for name in marked if name in variables)
    return graph, {name: value.value if type(value) is Data else value
                   for name, value in given.items()}
