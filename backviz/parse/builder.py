"""The nodes of a graph as the parser makes them: in topological order, constants folded.

A builder holds the graph's fields as one list each (``ops[i]``, ``inputs[i]``...), which
is what :class:`~backviz.graph.Graph` keeps and the cheapest way to grow a 100,000-term sum.
Positions are token indexes of the :class:`~backviz.tokens.Source`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any, NamedTuple, TypeVar

import numpy as np

from ..errors import ExpressionSyntaxError, InvalidIndexError, ShapeError
from ..graph import INPUT, Graph, Group
from ..ops import BINARY, OPS, Op, Param
from ..tokens import Source

__all__ = ["MAX_NODES", "Builder", "Const", "UserGate", "Value", "used_by"]

MAX_NODES = 1_000_000
"""A graph is refused above this many nodes: a user gate whose body calls another twice,
and so on, doubles with each definition, and 30 lines would make a billion."""


class Const:
    """A folded constant, and the token it was written at."""

    __slots__ = ("token", "value")

    def __init__(self, value: float, token: int) -> None:
        self.value = value
        self.token = token


Value = int | Const
"""What an expression gives: a node id, or a constant folded from numbers."""

_T = TypeVar("_T")

# One node as a user gate's body gives it to each call: (op, inputs, name, const, token,
# first, last), the graph's fields in that order.
_Row = tuple[str, tuple[int, ...], str | None, Param, int, int, int]


class UserGate(NamedTuple):
    """A user gate: its parameters, and its body as a small graph to inline at each call."""

    name: str
    params: tuple[str, ...]
    body: Builder
    result: Value
    token: int  # where it is defined


class Builder:
    """Creates nodes in topological order, folding constants as it goes."""

    def __init__(self, source: Source) -> None:
        self.source = source
        self.ops: list[str] = []
        self.inputs: list[tuple[int, ...]] = []
        self.names: list[str | None] = []
        self.consts: list[Param] = []
        self.tokens: list[int] = []  # the token each node is written at
        self.firsts: list[int] = []  # and the tokens it spans, firsts[i] .. lasts[i] - 1
        self.lasts: list[int] = []
        self.groups: list[Group] = []
        self.left_out = False
        """A node was made that the expression then left out, which the output does not use."""

    def __len__(self) -> int:
        return len(self.ops)

    def add(self, op: str, inputs: tuple[int, ...], token: int, first: int, last: int,
            name: str | None = None, const: Param = None) -> int:
        self.ops.append(op)
        self.inputs.append(inputs)
        self.names.append(name)
        self.consts.append(const)
        self.tokens.append(token)
        self.firsts.append(first)
        self.lasts.append(last)
        return len(self.ops) - 1

    def used_by(self, output: int) -> list[bool]:
        """For each node up to ``output``, whether the output depends on it."""
        return used_by(self.inputs, output)

    def pruned(self, kept: Sequence[int]) -> tuple[Builder, dict[int, int]]:
        """The nodes ``kept`` (in their order) and the calls among them, numbered anew; and
        each kept node's new id."""
        new = {old: k for k, old in enumerate(kept)}
        pruned = Builder(self.source)
        pruned.ops = _pick(self.ops, kept)
        pruned.inputs = [tuple(new[j] for j in inputs) for inputs in _pick(self.inputs, kept)]
        pruned.names = _pick(self.names, kept)
        pruned.consts = _pick(self.consts, kept)
        pruned.tokens = _pick(self.tokens, kept)
        pruned.firsts = _pick(self.firsts, kept)
        pruned.lasts = _pick(self.lasts, kept)
        pruned.groups = [_renumbered(g, new) for g in self.groups if g.output in new]
        return pruned, new

    def graph(self, defaults: Mapping[str, Any], bindings: Mapping[str, int],
              warnings: Iterable[str]) -> Graph:
        """The nodes made, as a graph; ``defaults`` keeps only the inputs' example values."""
        if defaults:
            inputs = {name for op, name in zip(self.ops, self.names, strict=True) if op == INPUT}
            defaults = {name: value for name, value in defaults.items() if name in inputs}
        return Graph(expression=self.source.text, ops=tuple(self.ops),
                     inputs=tuple(self.inputs), names=tuple(self.names),
                     consts=tuple(self.consts), tokens=tuple(self.tokens),
                     firsts=tuple(self.firsts), lasts=tuple(self.lasts),
                     defaults=defaults,
                     groups=tuple(self.groups), bindings=bindings, warnings=tuple(warnings))

    def rows(self) -> Iterator[_Row]:
        return zip(self.ops, self.inputs, self.names, self.consts, self.tokens, self.firsts,
                   self.lasts, strict=True)

    def apply(self, op: Op, args: list[Value], token: int, first: int, last: int,
              const: Any = None) -> Value:
        """The gate ``op`` on ``args``, or a constant when every argument is one.

        ``const`` is the constant or the parameter of a gate that carries one (``+1``, an
        axis, an index); an index gate's ``args`` are the array, then its index inputs.
        """
        if op.index_from is not None:
            return self._index(op, args, token, first, last, const)
        constants = [a.value for a in args if isinstance(a, Const)]
        if not constants:
            return self.add(op.name, _nodes(args), token, first, last, const=const)
        if len(constants) == len(args) and len(args) <= 2:  # only constants: fold them
            return self._fold(op, [*constants, const] if op.has_const else constants, token)
        return self._with_constant(op, args, token, first, last)

    def _with_constant(self, op: Op, args: list[Value], token: int, first: int, last: int
                       ) -> int:
        """A binary operator with one constant operand: the unary gate that carries it."""
        if len(args) != 2:  # np.where in a user gate's body, given a number: no such gate
            number = next(a for a in args if isinstance(a, Const))
            raise self.source.error(f"'{_symbol(op)}' needs arrays here, and {show(number.value)} "
                                    "is a number", number.token, ShapeError)
        left, right = args
        constant, other = (left, right) if isinstance(left, Const) else (right, left)
        assert isinstance(constant, Const) and isinstance(other, int)
        gate = op.const_left if constant is left else op.const_right
        if gate is None:
            raise self.source.error(f"'{_symbol(op)}' needs a vector or matrix on both sides, "
                                    f"and {show(constant.value)} is a number", constant.token,
                                    ShapeError)
        return self.add(gate, (other,), token, first, last, const=constant.value)

    def _fold(self, op: Op, values: list[Any], token: int) -> Const:
        try:
            with np.errstate(all="ignore"):
                # float64 like the engine: 1/0 is inf, not a Python ZeroDivisionError.
                args = [np.float64(v) for v in values[:op.arity]] + values[op.arity:]
                result = np.asarray(op.forward(*args), dtype=np.float64)
        except (ValueError, TypeError):
            raise self.source.error(f"'{_symbol(op)}' needs a vector or matrix on both sides, "
                                    "and both sides are numbers", token, ShapeError) from None
        return Const(float(result), token)

    def _index(self, op: Op, args: list[Value], token: int, first: int, last: int,
               spec: Any) -> int:
        x, *indices = args
        if indices:
            spec, indices = self._index_inputs(spec, indices, token)
        if isinstance(x, Const):
            raise self.source.error("a number cannot be indexed", token, InvalidIndexError)
        return self.add(op.name, (x, *_nodes(indices)), token, first, last, const=spec)

    def _index_inputs(self, spec: Any, indices: list[Value], token: int
                      ) -> tuple[Any, list[Value]]:
        """An index whose inputs are known: in a user gate's call (pick(s, 2) or pick(s, k)
        for pick(v, i) = v[i]) a number goes into the index itself, and a variable is named
        as the caller wrote it ([k], not [i])."""
        given = iter(indices)
        items: list[Any] = []
        kept: list[Value] = []
        for item in spec:
            if isinstance(item, tuple) and item[0] in ("input", "arange_input"):
                value = next(given)
                if isinstance(value, Const):
                    whole = self._whole(value.value, token)
                    item = whole if item[0] == "input" else ("arange", whole)
                else:
                    item = (item[0], self.names[value] or self.written(value))
                    kept.append(value)
            items.append(item)
        return tuple(items), kept

    def _whole(self, value: float, token: int) -> int:
        if not float(value).is_integer():
            raise self.source.error(f"the index {show(value)} is not a whole number", token,
                                    InvalidIndexError)
        return int(value)

    def written(self, node: int) -> str:
        """The node's tokens as written, spaces left out."""
        return "".join(self.source.tokens[self.firsts[node]:self.lasts[node]])

    def inline(self, gate: UserGate, args: list[Value], token: int, last: int) -> Value:
        """A call of a user gate at ``token`` (its ``)`` at ``last - 1``): its body's gates,
        the arguments in place of its parameters."""
        body = gate.body
        if len(self) + len(body) > MAX_NODES:
            raise self.source.error(
                f"this call of {gate.name} would make the graph larger than {MAX_NODES:,} "
                f"nodes: each call copies the gate's body, and {gate.name}'s has "
                f"{len(body):,}", token, ExpressionSyntaxError)
        start = len(self)
        made: list[Value] = []
        for op, inputs, name, const, at, first, end in body.rows():
            if op == INPUT:
                made.append(args[gate.params.index(name or "")])
            else:
                made.append(self.apply(OPS[op], [made[i] for i in inputs], at, first, end, const))
        for inner in body.groups:
            self._box(inner, made, start, token, last)
        result = gate.result if isinstance(gate.result, Const) else made[gate.result]
        if isinstance(result, int) and result >= start:
            self.groups.append(Group(name=gate.name, nodes=range(start, len(self)),
                                     args=_ids(args), token=token, last=last))
        return result

    def _box(self, inner: Group, made: list[Value], start: int, token: int, last: int) -> None:
        """A call in the body of the gate being inlined: a box inside this call's box.

        A call's gates are made one after another, so a box is a range of ids, unless
        constants folded some of them away.
        """
        nodes: Sequence[int] | None = _made_in_a_row(inner, made, start)
        if nodes is None:
            nodes = tuple(n for n in (made[i] for i in inner.nodes)
                          if isinstance(n, int) and n >= start)
        if nodes and made[inner.output] == nodes[-1]:
            self.groups.append(Group(name=inner.name, nodes=nodes,
                                     args=_ids(made[i] for i in inner.args), token=token,
                                     last=last))


def _made_in_a_row(inner: Group, made: list[Value], start: int) -> range | None:
    """The ids of the call ``inner`` as inlined, if none of its gates was folded away."""
    low, high = made[inner.nodes[0]], made[inner.output]
    if not isinstance(low, int) or not isinstance(high, int) or low < start:
        return None
    return range(low, high + 1) if high - low == len(inner.nodes) - 1 else None


def _pick(values: list[_T], kept: Sequence[int]) -> list[_T]:
    return [values[i] for i in kept]


def _renumbered(group: Group, new: dict[int, int]) -> Group:
    """A call of a pruned graph, its nodes numbered anew (those left out left out)."""
    return Group(name=group.name, nodes=tuple(new[i] for i in group.nodes if i in new),
                 args=tuple(new[i] for i in group.args if i in new), token=group.token,
                 last=group.last)


def _nodes(values: list[Value]) -> tuple[int, ...]:
    """The values, known to be nodes, as the inputs of a gate."""
    return tuple(values)  # type: ignore[arg-type]


def _ids(values: Iterable[Value]) -> tuple[int, ...]:
    """The nodes among ``values``, each once."""
    return tuple(dict.fromkeys(a for a in values if isinstance(a, int)))


def _symbol(op: Op) -> str:
    return next((s for s, o in BINARY.items() if o is op), op.name) if op.function is None \
        else op.function


def show(value: float) -> str:
    """A number as a message writes it."""
    return f"{value:g}"


def used_by(inputs: Sequence[tuple[int, ...]], output: int) -> list[bool]:
    """For each node up to ``output``, whether the output depends on it: one pass from the
    output back, since every node comes after its inputs (no recursion)."""
    used = [False] * (output + 1)
    used[output] = True
    for i in range(output, -1, -1):
        if used[i]:
            for j in inputs[i]:
                used[j] = True
    return used
