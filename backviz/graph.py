"""The computational graph as plain, frozen data.

Nodes are numbered in the order the parser creates them, which is a topological
order (every node comes after its inputs) and the same on every run: ids never come
from memory addresses or sets, so figures and snapshots are stable. The last node is
the output.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cached_property
from typing import NamedTuple

from .ops import OPS, Param

__all__ = [
    "INPUT",
    "Graph",
    "Node",
    "collector_paused",
]

INPUT = "input"
"""The ``op`` of a node that reads a variable's value."""


@contextmanager
def collector_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector while a graph is built or traced.

    A graph and its trace are acyclic (plain refcounting frees them), so the collector
    has nothing to find in them; yet its full passes walk every live object, and on a
    100,000-term sum they took 40% of a trace, growing faster than the graph. Reentrant:
    it leaves the collector as it found it.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


class Node(NamedTuple):
    """A gate, or an input (``op == INPUT``, ``name`` the variable).

    A named tuple: immutable plain data, cheap to create (a 100,000-term sum makes
    200,000 of them) and not followed by the garbage collector once it holds only
    numbers and strings.
    """

    id: int
    op: str
    inputs: tuple[int, ...] = ()
    name: str | None = None
    const: Param = None  # a constant (+1), an axis, an index (see ops.Param)
    column: int = 0  # where the node is written in the expression, for messages

    @property
    def label(self) -> str:
        """What the figure shows: the variable's name, or the gate's slide label."""
        if self.op == INPUT:
            return self.name or ""
        return OPS[self.op].label(self.const)


@dataclass(frozen=True)
class Graph:
    """A parsed expression: nodes in topological order, the last one the output.

    Stored as one tuple per field, indexed by node id (``ops[i]``, ``inputs[i]``...),
    which is what the engine loops over and what the parser can build cheaply;
    :attr:`nodes` gives the same as :class:`Node` records.
    """

    expression: str
    ops: tuple[str, ...]
    inputs: tuple[tuple[int, ...], ...]
    names: tuple[str | None, ...]
    consts: tuple[Param, ...]
    tokens: tuple[int, ...]
    """For each node, the index of the token it was written at (see :attr:`columns`)."""

    @cached_property
    def columns(self) -> tuple[int, ...]:
        """For each node, the column it was written at: for messages and the page."""
        from .parse import token_columns  # the parser knows where tokens start

        starts = token_columns(self.expression)
        return tuple(starts[k] for k in self.tokens)

    @cached_property
    def nodes(self) -> tuple[Node, ...]:
        return tuple(map(Node, range(len(self.ops)), self.ops, self.inputs, self.names,
                         self.consts, self.columns))

    @property
    def output(self) -> Node:
        return self.nodes[-1]

    @cached_property
    def variables(self) -> tuple[str, ...]:
        """The variable names, in order of first appearance."""
        return tuple(filter(None, self.names))  # only inputs have names

    @property
    def gates(self) -> tuple[Node, ...]:
        return tuple(n for n in self.nodes if n.op != INPUT)

    def __len__(self) -> int:
        return len(self.ops)
