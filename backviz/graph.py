"""The computational graph as plain, frozen data.

Nodes are numbered in the order the parser creates them, which is a topological
order (every node comes after its inputs) and the same on every run: ids never come
from memory addresses or sets, so figures and snapshots are stable. The last node is
the output.

A graph comes from an expression or a program. A program names intermediate values
(``q = x + y``): a named node is used by every later mention of its name, so a value may
feed several gates anywhere in the graph, not only at the inputs. Calls of a user gate
(``sig(u) = 1/(1+exp(-u))``) are inlined as the gates of its body and remembered as
:class:`Group` s, which the figure draws as a box (or as one gate, collapsed).
"""

from __future__ import annotations

import gc
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Any, NamedTuple

from . import tokens as _tokens
from .errors import BackvizError, line_and_column
from .ops import OPS, Param
from .text import short

__all__ = [
    "COMPUTED_DATA",
    "INPUT",
    "Graph",
    "Group",
    "Node",
    "collector_paused",
]

INPUT = "input"
"""The ``op`` of a node that reads a variable's value."""
COMPUTED_DATA = "{name} is computed by the program, not given: only an input can be data"
"""The message for a name declared data that the program computes."""


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

    A gate's ``name`` is the intermediate it was assigned to in a program (``q`` in
    ``q = x + y``), or None. A named tuple: immutable plain data, cheap to create (a
    100,000-term sum makes 200,000 of them).
    """

    id: int
    op: str
    inputs: tuple[int, ...] = ()
    name: str | None = None
    const: Param = None  # a constant (+1), an axis, an index (see ops.Param), a collapsed call
    column: int = 0  # where the node is written in the source, for messages

    @property
    def label(self) -> str:
        """What the figure shows: the variable's name, or the gate's slide label."""
        if self.op == INPUT:
            return self.name or ""
        return OPS[self.op].label(self.const)


@dataclass(frozen=True)
class Group:
    """One call of a user gate: the gates of its body, as inlined into the graph."""

    name: str
    """The user gate's name (``sig``)."""
    nodes: Sequence[int]
    """The ids of the gates the call made, in topological order; the last is its result
    (a range where they were made one after another)."""
    args: tuple[int, ...]
    """The ids of the nodes passed as arguments (constants are folded into the body)."""
    token: int
    """The index of the token where the call is written (see :meth:`Graph.offset`)."""
    last: int
    """The index of the token after the call's ``)``."""

    @property
    def output(self) -> int:
        return self.nodes[-1]


@dataclass(frozen=True, eq=False)
class Graph:
    """A parsed expression or program: nodes in topological order, the last the output.

    Stored as one tuple per field, indexed by node id (``ops[i]``, ``inputs[i]``...),
    which is what the engine loops over and what the parser builds cheaply;
    :attr:`nodes` gives the same as :class:`Node` records.
    """

    expression: str
    """The source text: an expression, or a program."""
    ops: tuple[str, ...]
    inputs: tuple[tuple[int, ...], ...]
    names: tuple[str | None, ...]
    """An input's variable, a gate's intermediate name, or None."""
    consts: tuple[Param, ...]
    tokens: tuple[int, ...]
    """For each node, the index of the token it is written at (its operator, its name)."""
    firsts: tuple[int, ...]
    lasts: tuple[int, ...]
    """For each node, the tokens it was written as: ``firsts[i]`` up to ``lasts[i]`` (excluded)."""
    defaults: Mapping[str, Any] = field(default_factory=dict)
    """Example values written in the program (``x = 3``): used unless a value is given."""
    groups: tuple[Group, ...] = ()
    """The calls of user gates."""
    bindings: Mapping[str, int] = field(default_factory=dict)
    """Every name of the program, and the node it names at the end."""
    warnings: tuple[str, ...] = ()
    """What the parser noticed: unused parameters, statements the output does not use."""
    data: frozenset[str] = frozenset()
    """The variables declared given data (labels, targets, ``dout``): drawn with their value
    and no gradient, like an index (``data y`` in a program; see :meth:`with_data`)."""

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Graph):
            return NotImplemented
        return (self.expression, self.ops, self.inputs, self.names, self.consts, self.tokens,
                self.groups, self.data) == (other.expression, other.ops, other.inputs,
                                            other.names, other.consts, other.tokens,
                                            other.groups, other.data)

    __hash__ = object.__hash__

    @cached_property
    def _offsets(self) -> list[tuple[int, int]]:
        # Worked out when first asked for: the parser keeps token indexes, which are cheaper.
        return _tokens.offsets(self.expression)

    def offset(self, token: int) -> int:
        """Where the token with this index starts in :attr:`expression`."""
        return self._offsets[token][0]

    @cached_property
    def columns(self) -> tuple[int, ...]:
        """For each node, the offset where it is written: for messages and the page."""
        return tuple(map(self.offset, self.tokens))

    def span(self, node_id: int) -> tuple[int, int]:
        """Where a node is written: (start, end) offsets into :attr:`expression`."""
        return (self._offsets[self.firsts[node_id]][0],
                self._offsets[max(self.firsts[node_id], self.lasts[node_id] - 1)][1])

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
        return tuple(name for op, name in zip(self.ops, self.names, strict=True)
                     if op == INPUT and name is not None)

    @cached_property
    def input_ids(self) -> dict[str, int]:
        """Each variable's input node, by name (without making the :attr:`nodes` records,
        whose columns cost a pass over the text)."""
        return {name: i for i, (op, name) in enumerate(zip(self.ops, self.names, strict=True))
                if op == INPUT and name is not None}

    def with_data(self, names: Iterable[str]) -> Graph:
        """The same graph with these variables declared given data, as well as its own.

        Only an input can be data: a name the program computes, or one it does not have,
        is an error that says so (a typo must not quietly leave a gradient drawn).
        """
        names = frozenset(names)
        for name in sorted(names - set(self.input_ids)):
            if name in self.bindings:
                raise BackvizError(COMPUTED_DATA.format(name=name))
            raise BackvizError(f"{name} is not an input of the expression, so it cannot be "
                               f"data (its inputs: {', '.join(self.variables) or 'none'})")
        return self if names <= self.data else replace(self, data=self.data | names)

    @cached_property
    def output_name(self) -> str | None:
        """The output's name, for the words ``de/dx``: ``e`` in ``e = c * d``; None when it
        has none, or when an input has that name too (``x += 1``: ``dx/dx`` would be no
        derivative of the output)."""
        name = self.names[-1]
        if name is None or (self.ops[-1] != INPUT and name in self.input_ids):
            return None
        return name

    def d(self, name: str) -> str:
        """The derivative of the output by ``name`` in words: ``de/dx`` for the output e,
        ``d/dx`` where the output has no name."""
        return f"d{self.output_name or ''}/d{name}"

    @property
    def gates(self) -> tuple[Node, ...]:
        return tuple(n for n in self.nodes if n.op != INPUT)

    @cached_property
    def uses(self) -> tuple[int, ...]:
        """How many edges leave each node (a value used k times has k edges)."""
        return tuple(map(len, self.consumers))

    @cached_property
    def consumers(self) -> tuple[tuple[int, ...], ...]:
        """For each node, the gates it feeds, once per edge, in order."""
        out: list[list[int]] = [[] for _ in self.ops]
        for gate, args in enumerate(self.inputs):
            for i in args:
                out[i].append(gate)
        return tuple(map(tuple, out))

    def source_of(self, node_id: int) -> str:
        """The text a node was written as (``w0*x0``), on one line."""
        start, end = self.span(node_id)
        return " ".join(self.expression[start:end].split())

    @cached_property
    def descriptions(self) -> tuple[str, ...]:
        """For each node, words that tell it apart from every other node.

        A name where it has one (``q``), otherwise what was written (``w0*x0``); a gate of
        a user gate's body says which call it belongs to. Two nodes that would read the
        same get their line (in a program) or column.
        """
        owner: dict[int, Group] = {}
        for group in self.groups:  # inner calls come first, and keep their nodes
            for i in group.nodes:
                owner.setdefault(i, group)
        texts = []
        for i, name in enumerate(self.names):
            text = name or short(self.source_of(i), 40)
            if i in owner and name is None:
                group = owner[i]
                text = f"{text} in {group.name}({short(self._call_args(group), 24)})"
            texts.append(text)
        seen: dict[str, int] = {}
        for text in texts:
            seen[text] = seen.get(text, 0) + 1
        for i, text in enumerate(texts):
            if seen[text] > 1:  # a body's gates are told apart by where their call is
                offset = self.offset(owner[i].token if i in owner else self.firsts[i])
                texts[i] = f"{text} ({self.place(offset)})"
        return tuple(texts)

    def _call_args(self, group: Group) -> str:
        return ", ".join(self.source_of(a) for a in group.args)

    def place(self, offset: int) -> str:
        """``line 3, column 5`` in a program of several lines, ``column 5`` otherwise."""
        line, column, _ = line_and_column(self.expression, offset)
        if "\n" in self.expression:
            return f"line {line}, column {column + 1}"
        return f"column {column + 1}"

    def __len__(self) -> int:
        return len(self.ops)
