"""Graphs recorded from code that already ran: micrograd's Values and PyTorch programs.

A bridge (:mod:`.micrograd`, :mod:`.torch`) writes what it recorded into a
:class:`Recording`: leaves with their values, gates of the operator table, and the calls
(micrograd's neurons, PyTorch's modules) as :class:`~backviz.graph.Group` s. The recording
becomes an ordinary :class:`~backviz.graph.Graph`, whose text is the program as backviz
would write it (one statement per gate, ``L = d * f``), and :func:`backviz.trace` runs the
one engine on it: every output of a trace works on a bridged one, and the gradients are
backviz's own. Neither micrograd nor torch is imported here.
"""

from __future__ import annotations

import inspect
import re
import warnings as _warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..errors import BackvizError
from ..graph import INPUT, Graph, Group
from ..ops import BINARY, OPS, Param, index_label
from ..parse.builder import used_by
from ..tokens import split

if TYPE_CHECKING:
    from ..tracing import Trace

__all__ = ["BridgeWarning", "Recording", "ancestors", "arguments", "called", "no_gate", "told",
           "unique_names"]


class BridgeWarning(UserWarning):
    """What a bridge noticed: a gradient that disagrees, an operation it cannot draw."""


_SYMBOLS = {op.name: symbol for symbol, op in reversed(BINARY.items())}  # "pow": "**"
# Gates the language has no function for, written as torch calls them (their parameters are
# in the gates' labels): conv2d(x, conv.weight).
_CALLED = frozenset(["conv2d", "max_pool2d", "avg_pool2d"])
_UNSAFE = re.compile(r"[#\\\s]")  # a comment, a line continuation, a line break in the text


@dataclass
class Recording:
    """The nodes a bridge recorded, in the order they ran (a topological order)."""

    ops: list[str] = field(default_factory=list)
    inputs: list[tuple[int, ...]] = field(default_factory=list)
    names: list[str | None] = field(default_factory=list)
    consts: list[Param] = field(default_factory=list)
    values: dict[str, Any] = field(default_factory=dict)
    """Each leaf's value, by its name."""
    calls: list[tuple[str, tuple[int, ...]]] = field(default_factory=list)
    """Each call's name and the gates it made (its result last), innermost calls first."""
    warnings: list[str] = field(default_factory=list)

    def leaf(self, name: str, value: Any) -> int:
        """A variable; a name already taken gets ``_2``, ``_3``... (a variable is one input)."""
        unique, k = name, 1
        while unique in self.values:
            k += 1
            unique = f"{name}_{k}"
        self.values[unique] = value
        return self._add(INPUT, (), unique, None)

    def gate(self, op: str, inputs: Sequence[int], const: Param = None,
             name: str | None = None) -> int:
        assert op in OPS, op
        return self._add(op, tuple(inputs), name, const)

    def _add(self, op: str, inputs: tuple[int, ...], name: str | None, const: Param) -> int:
        self.ops.append(op)
        self.inputs.append(inputs)
        self.names.append(name)
        self.consts.append(const)
        return len(self.ops) - 1


    def trace(self, output: int, data: frozenset[str] = frozenset()) -> Trace:
        """The trace of the nodes ``output`` depends on, with backviz's values and gradients;
        ``data`` names the inputs drawn as given data (those the output uses)."""
        from ..tracing import trace

        graph, _ = self.graph(output)
        graph = graph.with_data(data & set(graph.input_ids))
        return trace(graph, {name: self.values[name] for name in graph.variables})

    def graph(self, output: int) -> tuple[Graph, list[int]]:
        """The graph of what ``output`` depends on; and which recorded node each node is."""
        kept = ancestors(self.inputs, output)
        new = {old: k for k, old in enumerate(kept)}
        ops = [self.ops[i] for i in kept]
        inputs = [tuple(new[j] for j in self.inputs[i]) for i in kept]
        names = [self.names[i] for i in kept]
        consts = [self.consts[i] for i in kept]
        text = _Text(ops, inputs, names, consts)
        groups, notes = self._groups(new, inputs, text)
        return Graph(expression=text.text, ops=tuple(ops), inputs=tuple(inputs),
                     names=tuple(names), consts=tuple(consts), tokens=tuple(text.tokens),
                     firsts=tuple(text.firsts), lasts=tuple(text.lasts), groups=groups,
                     bindings={n: i for i, n in enumerate(names) if n is not None},
                     warnings=(*self.warnings, *notes)), kept

    def _groups(self, new: dict[int, int], inputs: list[tuple[int, ...]],
                text: _Text) -> tuple[tuple[Group, ...], list[str]]:
        """The calls as boxes (those whose gates the output uses, each drawn once), and
        what is said of a call that cannot be one."""
        consumers: dict[int, list[int]] = {}
        for gate, args in enumerate(inputs):
            for j in args:
                consumers.setdefault(j, []).append(gate)
        groups: list[Group] = []
        notes: list[str] = []
        seen: set[tuple[int, ...]] = set()
        for name, made in self.calls:
            nodes = tuple(sorted(new[i] for i in made if i in new))
            if not nodes or nodes in seen or (made and new.get(made[-1]) != nodes[-1]):
                continue  # unused, the same gates as an inner call's, or its result unused
            inside = set(nodes)
            if any(c not in inside for i in nodes[:-1] for c in consumers.get(i, ())):
                notes.append(f"the call of {name} is drawn without a box: a value it "
                                     "computes inside is used outside it")
                continue
            seen.add(nodes)
            args = tuple(dict.fromkeys(j for i in nodes for j in inputs[i] if j not in inside))
            groups.append(Group(name=name, nodes=nodes, args=args,
                                token=text.firsts[nodes[-1]], last=text.lasts[nodes[-1]]))
        return tuple(groups), notes


def ancestors(inputs: list[tuple[int, ...]], output: int) -> list[int]:
    """The nodes ``output`` depends on, itself included, in their order (no recursion)."""
    return [i for i, used in enumerate(used_by(inputs, output)) if used]


class _Text:
    """The graph written as a program, one statement per gate (``L = d * f``), and where
    each node is written in it, as token indexes (what the parser keeps for its nodes).

    A gate without a name is written ``t3 = ...`` (its id), a name for the text only; a
    leaf is where it is first used.
    """

    def __init__(self, ops: list[str], inputs: list[tuple[int, ...]],
                 names: list[str | None], consts: list[Param]) -> None:
        n = len(ops)
        self.tokens, self.firsts, self.lasts = [0] * n, [0] * n, [0] * n
        refs = [_UNSAFE.sub("_", name) if name else f"t{i}" for i, name in enumerate(names)]
        lines: list[str] = []
        count = 0
        placed = [False] * n
        for i, op in enumerate(ops):
            if op == INPUT:
                continue
            parts = _parts(op, [refs[j] for j in inputs[i]], consts[i])
            head = f"{refs[i]} ="
            count += len(split(head))
            self.firsts[i] = count
            for k, (piece, node) in enumerate(parts):
                if k == _operator(parts):
                    self.tokens[i] = count
                if node is not None and not placed[inputs[i][node]]:
                    j = inputs[i][node]
                    placed[j] = True
                    self.tokens[j] = self.firsts[j] = count
                    self.lasts[j] = count + len(split(piece))
                count += len(split(piece))
            self.lasts[i] = count
            lines.append(head + _joined(piece for piece, _ in parts))
            count += 1  # the line break
        if ops[-1] == INPUT:  # a leaf alone
            lines.append(refs[-1])
            self.lasts[-1] = 1
        self.text = "\n".join(lines)


def _joined(pieces: Iterable[str]) -> str:
    """The pieces of a statement as Python spaces them: ``a * b``, ``exp(x)``, ``max(a, b)``."""
    text = ""
    for piece in pieces:
        tight = text.endswith("(") or piece[:1] in (")", ",", "[", ".")
        text += piece if tight or not piece else " " + piece
    return text


Part = tuple[str, int | None]
"""A piece of a statement's text, and which of the gate's inputs it is (None: an operator)."""


def _parts(op_name: str, refs: list[str], const: Param) -> list[Part]:
    """A gate written as the language writes it: ``a * b``, ``exp(x)``, ``s[arange(4), y]``."""
    op = OPS[op_name]
    args: list[Part] = [(ref, k) for k, ref in enumerate(refs)]
    if op_name == "reshape":  # numpy's x.reshape(1, -1)
        return [args[0], ("." + op.label(const), None)]
    if op_name in _CALLED:
        between = [item for k, a in enumerate(args) for item in ([(",", None)] if k else []) + [a]]
        return [(f"{op_name}(", None), *between, (")", None)]
    if op.index_from is not None:
        return [args[0], (index_label(const), None)]
    if op_name in _SYMBOLS:
        return [args[0], (_SYMBOLS[op_name], None), args[1]]
    if op.function is not None:
        axis = [(f", axis={const}", None)] if op.has_const and const is not None else []
        between = [item for k, a in enumerate(args) for item in ([(", ", None)] if k else []) + [a]]
        return [(f"{op.function}(", None), *between, *axis, (")", None)]
    label = op.label(const)  # an operator with a constant: "*2", "+(-1)", "2/x"
    if "x" in label:
        before, after = label.split("x", 1)
        return [(before, None), args[0], (after, None)] if after else [(before, None), args[0]]
    return [args[0], (label[0], None), (label[1:], None)]  # x * -1


def _operator(parts: list[Part]) -> int:
    """Which part is the gate's own token: its operator or its function's name."""
    return next((k for k, (_, node) in enumerate(parts) if node is None), 0)


def told(trace: Trace) -> Trace:
    """The trace, once its warnings are told as Python warns (a notebook shows them); they
    stay in ``trace.warnings``. Called by the public functions: the warning names the line
    that called them."""
    for message in trace.graph.warnings:
        _warnings.warn(message, BridgeWarning, stacklevel=3)
    return trace


def called(fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """``fn(*args, **kwargs)``; what it raises becomes a BackvizError that names the function
    (the exception stays its cause, with its traceback): a bridge's caller is told that their
    own code failed, not handed an error from inside the bridge."""
    try:
        return fn(*args, **kwargs)
    except BackvizError:
        raise
    except Exception as err:
        name = getattr(fn, "__qualname__", type(fn).__name__)
        raise BackvizError(f"the function {name} raised {type(err).__name__}: {err}") from err


def arguments(fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]
              ) -> Iterator[tuple[str, Any]]:
    """Each argument of a call of ``fn`` by the name of its parameter (``x``; ``x[0]`` for
    the items of a list)."""
    try:
        bound = inspect.signature(fn).bind(*args, **kwargs).arguments
    except (TypeError, ValueError):  # a builtin without a signature, or arguments that do not fit
        bound = {f"arg{k}": a for k, a in enumerate(args)} | kwargs
    for name, value in bound.items():
        if isinstance(value, (list, tuple)):
            yield from ((f"{name}[{k}]", v) for k, v in enumerate(value))
        else:
            yield name, value


def unique_names(names: Iterable[tuple[int, str]]) -> dict[int, str]:
    """The first name each object is known by (keys from ``id()``, never shown)."""
    out: dict[int, str] = {}
    for key, name in names:
        out.setdefault(key, name)
    return out


def no_gate(what: str, known: Iterable[str]) -> BackvizError:
    return BackvizError(f"{what} has no gate in backviz (it draws: {', '.join(sorted(known))})")
