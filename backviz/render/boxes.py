"""The dashed boxes drawn around calls of user gates, nested as the calls are."""

from __future__ import annotations

from ..graph import Graph
from ..text import quote
from .style import Theme

__all__ = ["Boxes"]


class Boxes:
    """The boxes drawn around calls of user gates, nested as the calls are."""

    def __init__(self, graph: Graph, theme: Theme) -> None:
        self.groups = graph.groups
        self.theme = theme
        # Each group's parent: the smallest group that holds its result (inner calls are
        # part of the outer call's body).
        order = sorted(range(len(self.groups)), key=lambda g: len(self.groups[g].nodes))
        self.parent: dict[int, int | None] = {}
        self.innermost: dict[int, int] = {}
        for g in order:
            for i in self.groups[g].nodes:
                self.innermost.setdefault(i, g)
        for g in order:
            outer = [h for h in order if h != g and self.groups[g].output in self.groups[h].nodes
                     and len(self.groups[h].nodes) > len(self.groups[g].nodes)]
            self.parent[g] = outer[0] if outer else None

    def node(self, i: int) -> int | None:
        """The innermost box a node is in (None: outside every box)."""
        return self.innermost.get(i)

    def _chain(self, g: int | None) -> list[int | None]:
        chain: list[int | None] = []
        while g is not None:
            chain.append(g)
            g = self.parent.get(g)
        return [*chain, None]

    def common(self, *ids: int) -> int | None:
        """The innermost box that holds all these nodes (None: outside every box)."""
        chains = [self._chain(self.node(i)) for i in ids]
        for g in chains[0]:
            if all(g in chain for chain in chains[1:]):
                return g
        return None

    def nest(self, body: dict[int | None, list[str]]) -> list[str]:
        """The lines of the figure, each box a cluster subgraph inside its parent's."""
        children: dict[int | None, list[int]] = {}
        for child in sorted(self.parent):
            children.setdefault(self.parent[child], []).append(child)
        out: list[str] = []
        # Depth first without recursion: a stack of (box, whether it is to be closed).
        stack: list[tuple[int | None, bool]] = [(None, False)]
        while stack:
            g, closing = stack.pop()
            if closing:
                out.append("  }")
                continue
            if g is not None:
                name = self.groups[g].name
                out.append(f"  subgraph cluster_{g} {{")
                out.append(f'  graph [label={quote(name)}, labeljust=l, style="rounded,dashed", '
                           f'color="{self.theme.pattern}", fontcolor="{self.theme.pattern}", '
                           'fontsize=12, margin=6];')
                stack.append((g, True))
            out += body.get(g, [])
            stack += [(child, False) for child in reversed(children.get(g, []))]
        return out
