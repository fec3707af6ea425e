"""The engine: the forward pass and the backward pass (:func:`backviz.trace` runs both).

Like an interpreter of the graph (JAX's ``eval_jaxpr``): walk the nodes in
topological order reading inputs from a table of values, apply the gate's rule,
write its output. Both passes are one loop; nothing recurses.

A gate's rules are called in one way each: :func:`shares` is the chain rule at one gate
(:func:`vjp`, then each share summed back to its input's shape), which the backward pass,
the figures' edge gradients, the teaching steps and the gate API all use; and
:func:`local_texts` writes the local gradient. A collapsed view (:func:`collapse`) draws
each call of a user gate as the table's ``call`` gate, whose parameter, a
:class:`UserCall`, carries the body that its rules run.
"""

from __future__ import annotations

import itertools
import math
import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Any, NamedTuple, Self, TypeVar

import numpy as np

from .errors import (
    BackvizError,
    InvalidIndexError,
    MissingValueError,
    NonScalarOutputError,
    ShapeError,
    TooLargeError,
)
from .graph import INPUT, Graph, Group, Node
from .ops import OPS, GateError, Op, Param
from .text import short
from .values import as_value

__all__ = ["Evaluation", "UserCall", "backward", "collapse", "data_inputs", "edge_gradients",
           "finite", "forward", "given_values", "index_inputs", "local_texts", "public",
           "shares", "unbroadcast", "vjp", "written"]

Array = Any  # np.float64 or np.ndarray
E = TypeVar("E", bound="Evaluation")  # a collapsed view is of the same class as its trace


def unbroadcast(grad: Array, shape: tuple[int, ...]) -> Array:
    """Sum a gradient back to the shape of the input it belongs to.

    Broadcasting copied the input along some axes in the forward pass, so in the
    backward pass the gradients of all the copies add up.
    """
    if _shape(grad) == shape:
        return grad
    grad = np.asarray(grad)
    while grad.ndim > len(shape):
        grad = grad.sum(axis=0)
    for axis, size in enumerate(shape):
        if size == 1 and grad.shape[axis] != 1:
            grad = grad.sum(axis=axis, keepdims=True)
    return grad[()] if grad.ndim == 0 else np.broadcast_to(grad, shape).copy()


def _shape(x: Array) -> tuple[int, ...]:
    """``np.shape(x)``, without the cost of numpy's dispatch for a value that has a shape.

    The backward pass asks this twice per edge, and ``np.shape`` costs about 0.5 us.
    """
    try:
        return x.shape  # type: ignore[no-any-return]
    except AttributeError:  # a Python number or a list
        return np.shape(x)


def finite(x: Array) -> bool:
    """No nan or inf in a value."""
    return math.isfinite(x) if isinstance(x, float) else bool(np.isfinite(x).all())


def forward(graph: Graph, inputs: Mapping[str, object]) -> list[Array]:
    """The forward pass: every node's value, indexed by node id.

    ``inputs`` maps each variable to a number, nested list or array; a variable
    without a value is an error that names all of them. Values for names the
    expression does not use are ignored (:func:`trace` warns about them).
    """
    if graph.defaults:  # a program's example values, unless a value is given
        inputs = {**graph.defaults, **inputs}
    try:
        return _forward(graph, inputs)
    except KeyError:  # cheaper than checking every name first: look only when one is missing
        missing = [name for name in graph.variables if name not in inputs]
        if not missing:
            raise
        raise MissingValueError(_missing_message(missing, graph, inputs), tuple(missing)) from None


def _forward(graph: Graph, inputs: Mapping[str, object]) -> list[Array]:
    values: list[Array] = []
    append = values.append  # bound once: this loop is hot
    forward_of = {name: op.forward for name, op in OPS.items()}  # the table, as it is now
    # Every gate has one input or two (a rule of the operator table), so the loop unpacks them:
    # that is twice as fast as spreading a loop over ``args`` into the call.
    with np.errstate(all="ignore"):
        for name, op_name, args, const in zip(graph.names, graph.ops, graph.inputs, graph.consts,
                                              strict=True):
            if op_name == INPUT:
                given = inputs[name]  # type: ignore[index]
                # A float needs no checks (a 100,000-term sum has 200,000 of them).
                append(np.float64(given) if type(given) is float else as_value(name, given))  # type: ignore[arg-type]
                continue
            if len(args) == 2 and type(values[args[0]]) is np.ndarray \
                    and type(values[args[1]]) is np.ndarray:  # two arrays may broadcast
                _check_room(values[args[0]], values[args[1]], graph, len(values), values)
            try:
                if len(args) == 1:
                    if const is None:  # a gate that carries no constant
                        append(forward_of[op_name](values[args[0]]))
                    else:
                        append(forward_of[op_name](values[args[0]], const))
                elif const is None:
                    append(forward_of[op_name](values[args[0]], values[args[1]]))
                else:  # an index gate with its index inputs
                    append(forward_of[op_name](*[values[j] for j in args], const))
            except (ValueError, TypeError) as err:  # numpy: TypeError for scalar @ scalar
                raise _shape_error(graph, graph.nodes[len(values)], values, err) from None
            except MemoryError:  # numpy refuses at once an array that cannot fit
                raise _memory_error(graph, graph.nodes[len(values)], values) from None
    return values


def _physical_memory() -> int:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):  # not a POSIX system: assume 8 GiB
        return 8 << 30


MAX_ARRAY_BYTES = _physical_memory() // 4
"""A gate whose result would be larger than this is refused before it is computed: the
backward pass keeps several arrays of that size, and numpy does not always refuse one
that cannot fit (Linux promises memory it does not have, then ends the process)."""


def _check_room(x: np.ndarray, y: np.ndarray, graph: Graph, node_id: int,
                values: list[Array]) -> None:
    """Refuse a broadcast (an outer product, say) whose result would not fit."""
    try:
        shape = np.broadcast_shapes(x.shape, y.shape)
    except ValueError:  # shapes that do not fit: the gate itself says so
        return
    if math.prod(shape) * 8 > MAX_ARRAY_BYTES:
        raise _memory_error(graph, graph.nodes[node_id], values)


def _memory_error(graph: Graph, node: Node, values: list[Array]) -> TooLargeError:
    shapes = [np.shape(values[i]) for i in node.inputs]
    try:
        result = np.broadcast_shapes(*shapes)
        size = f"a {'x'.join(map(str, result))} array ({math.prod(result) * 8:,} bytes)"
    except ValueError:
        size = "an array"
    return TooLargeError(f"the gate '{node.label}' (column {node.column + 1}) would make "
                         f"{size} from shapes {' and '.join(map(str, shapes))}: more than "
                         "the memory holds")


def _missing_message(missing: list[str], graph: Graph, given: Mapping[str, object]) -> str:
    names = ", ".join(missing)
    message = f"no value for {names}" if len(missing) == 1 else f"no values for {names}"
    options = " ".join(f"--{n} VALUE" for n in missing)
    message += f" (give {'it' if len(missing) == 1 else 'them'}, e.g. {options})"
    unused = [n for n in given if n not in graph.variables]
    if unused:
        message += f"; given but not in the expression: {', '.join(sorted(map(str, unused)))}"
    return message


def _shape_error(graph: Graph, node: Node, values: list[Array],
                 err: Exception) -> ShapeError | InvalidIndexError:
    """The message for a gate whose inputs do not fit: in the words the user wrote.

    ``W @ x: cannot multiply W (2, 3) by x (2,): the inner sizes 3 and 2 differ``, with
    the caret at the operator (or at the bracket of an index).
    """
    op = OPS[node.op]
    shapes = [np.shape(values[i]) for i in node.inputs]
    if isinstance(err, GateError):
        reason = str(err)
        if op.index_from is None:
            reason = f"{written(graph, node.inputs[0])} is {reason}"
    elif op.mismatch is not None and len(shapes) == 2:
        reason = op.mismatch(written(graph, node.inputs[0]), written(graph, node.inputs[1]),
                             *shapes)
    else:
        operands = " and ".join(f"{written(graph, i)} {s}" for i, s in zip(node.inputs, shapes,
                                                                         strict=True))
        reason = f"cannot take {operands}"
    kind = InvalidIndexError if op.index_from is not None else ShapeError
    return kind(f"{written(graph, node.id)}: {reason}", graph.expression, node.column)


_CALLED = re.compile(r"[A-Za-z0-9_\])]\s*\($")  # f( or x[ ... a call's or an index's bracket
_WRITTEN_MAX = 40


def written(graph: Graph, node_id: int) -> str:
    """What the user wrote for a node: a variable's name, or the text of the subexpression
    (the parser keeps where each node is written, folded constants included: ``2*x``).

    Brackets typed around the whole of it belong to it: ``(W1 @ x + b)``, not ``W1 @ x + b``.
    """
    name = graph.names[node_id]
    if name is not None:
        return name
    text = graph.expression
    start, end = graph.span(node_id)
    before, after = text[:start].rstrip(), text[end:].lstrip()
    if before.endswith("(") and after.startswith(")") and not _CALLED.search(before):
        start, end = len(before) - 1, len(text) - len(after) + 1
    return short(" ".join(text[start:end].split()), _WRITTEN_MAX)


def index_inputs(graph: Graph) -> frozenset[int]:
    """The inputs used only as an index (``y`` in ``s[y]``): integers, without a gradient."""
    as_index: set[int] = set()
    as_data: set[int] = set()
    for op_name, args in zip(graph.ops, graph.inputs, strict=True):
        if op_name == INPUT:
            continue
        start = OPS[op_name].index_from
        for k, j in enumerate(args):
            (as_index if start is not None and k >= start else as_data).add(j)
    return frozenset(j for j in as_index - as_data if graph.ops[j] == INPUT)


def data_inputs(graph: Graph) -> frozenset[int]:
    """The inputs that are given data, not parameters: drawn and reported without a gradient.

    Those the graph declares data (:attr:`Graph.data`), and those used only as an index
    (:func:`index_inputs`), which are data whether declared or not.
    """
    ids = graph.input_ids
    return index_inputs(graph) | {ids[name] for name in graph.data if name in ids}


def given_values(graph: Graph, data: frozenset[int]) -> frozenset[int]:
    """The given data and the gates computed from it alone: each input of such a gate is
    given, or read only for its value at an index position (``X.shape[0]``, ``zeros_like``).
    No gradient reaches a parameter through them, so the figure draws them as data."""
    given = set(data)
    for gate, (op_name, args) in enumerate(zip(graph.ops, graph.inputs, strict=True)):
        if op_name == INPUT or not args:
            continue
        start = OPS[op_name].index_from
        if all(j in given or (start is not None and k >= start) for k, j in enumerate(args)):
            given.add(gate)
    return frozenset(given)


# --- the chain rule at one gate ------------------------------------------------------------

def vjp(op: Op, g: Array, out: Array, inputs: Sequence[Array], const: Param) -> tuple[Array, ...]:
    """What a gate sends back to each input, before it is summed to the input's shape.

    The operator table's convention, in the one place that calls it: ``op.vjp(g, out,
    *inputs)``, and the constant last for a gate that carries one.
    """
    if op.has_const:
        return op.vjp(g, out, *inputs, const)
    return op.vjp(g, out, *inputs)


def shares(op: Op, g: Array, out: Array, inputs: Sequence[Array],
           const: Param) -> tuple[Array, ...]:
    """The chain rule at one gate: each input's share of ``g``, the gradient of its output.

    The share is the local gradient times ``g`` (:func:`vjp`), summed back to the input's
    shape (:func:`unbroadcast`).
    """
    return tuple(map(unbroadcast, vjp(op, g, out, inputs, const), map(_shape, inputs)))


def local_texts(op: Op, write: Callable[[Array], str], out: Array, inputs: Sequence[Array],
                const: Param) -> tuple[str, ...]:
    """A gate's local gradient as text, one per input (``Op.local``), numbers written by ``write``."""
    assert op.local is not None, f"the operator table has no local gradient for {op.name}"
    if op.has_const:
        return op.local(write, out, *inputs, const)
    return op.local(write, out, *inputs)


def backward(graph: Graph, values: list[Array], upstream: Array = None) -> list[Array]:
    """The backward pass: every node's gradient, by node id.

    It starts from the output's gradient, 1 (the output must then be a scalar), or
    ``upstream`` when given (a gate's ``backward(dz)``). Each gate sends every input a
    share of its gradient (:func:`shares`), and a node's gradient is the sum of the shares
    on its outgoing edges. The shares themselves are not kept: most traces never draw
    them, and keeping them was a seventh of the memory a trace of a long sum takes.
    """
    grads: list[Array] = [None] * len(graph)
    grads[-1] = _output_gradient(graph, values) if upstream is None else upstream
    # With scalars alone (a long sum of products, say) nothing was broadcast: the shares
    # are what vjp gives, and summing each back to its shape would double the loop's time.
    rule = vjp if all(map(isinstance, values, itertools.repeat(float))) else shares
    with np.errstate(all="ignore"):
        for i, op_name, args, const in zip(range(len(graph) - 1, -1, -1), reversed(graph.ops),
                                           reversed(graph.inputs), reversed(graph.consts),
                                           strict=True):
            if op_name == INPUT:
                continue
            # Gradients add at branches. Most gates have two inputs, read and added without
            # a loop: a loop (or a map) per gate was half of the pass (1,500-product sum:
            # 1.8 ms, 1.3 ms without).
            if len(args) == 2:
                a, b = args
                da, db = rule(OPS[op_name], grads[i], values[i], (values[a], values[b]), const)
                grads[a] = da if grads[a] is None else grads[a] + da
                grads[b] = db if grads[b] is None else grads[b] + db
                continue
            sent = rule(OPS[op_name], grads[i], values[i], [values[j] for j in args], const)
            for j, share in zip(args, sent, strict=True):
                grads[j] = share if grads[j] is None else grads[j] + share
    return grads


def _output_gradient(graph: Graph, values: list[Array]) -> Array:
    """Where backprop starts: d output / d output, 1, for a scalar output only."""
    if np.ndim(values[-1]) != 0:
        short = " ".join(graph.expression.split())
        raise NonScalarOutputError(
            f"the output has shape {np.shape(values[-1])}, and backprop starts from a "
            "scalar: wrap the expression in sum(...) or mean(...), e.g. "
            + (f"sum({short})" if len(short) <= 60 and "\n" not in graph.expression
               else "sum(...)"))
    return np.float64(1.0)


def edge_gradients(graph: Graph, values: list[Array],
                   grads: list[Array]) -> list[tuple[Array, ...]]:
    """For every node, the gradient each of its input edges carries, by node id.

    That is the share of the gradient for that one use of the input, which the figure
    writes in red under the edge: the same :func:`shares` as :func:`backward` (which sums
    them at once), worked out again for the gates of a figure.
    """
    out: list[tuple[Array, ...]] = []
    with np.errstate(all="ignore"):
        for i, op_name, args, const in zip(range(len(graph)), graph.ops, graph.inputs,
                                           graph.consts, strict=True):
            out.append(() if op_name == INPUT else
                       shares(OPS[op_name], grads[i], values[i], [values[j] for j in args], const))
    return out


def public(x: Array) -> float | np.ndarray:
    """A value as the API gives it: a float, or a fresh array."""
    return float(x) if np.ndim(x) == 0 else np.array(x)


@dataclass(frozen=True, eq=False)
class Evaluation:
    """The result of both passes: the output value, the gradients, and every node's.

    Plain results, which the renderer and the teaching mode read; :class:`backviz.Trace`
    adds the figures and the teaching mode to them.
    """

    graph: Graph
    values: list[Array] = field(repr=False)
    """Every node's forward value, indexed by node id."""
    grads: list[Array] = field(repr=False)
    """Every node's gradient (d output / d node), indexed by node id."""
    unused: tuple[str, ...] = ()
    """The names given a value that the expression does not have (they are ignored)."""
    shares: list[tuple[Array, ...]] | None = field(default=None, repr=False)
    """The edges' gradients when known beforehand (a collapsed view's); else worked out."""
    uncollapsed: Evaluation | None = field(default=None, repr=False)
    """In a collapsed view: the trace it was made from, with every gate of the bodies."""

    @cached_property
    def edge_grads(self) -> list[tuple[Array, ...]]:
        """For each node, the gradient sent back along each of its input edges.

        Worked out when first asked for (see :func:`edge_gradients`).
        """
        if self.shares is not None:
            return self.shares
        return edge_gradients(self.graph, self.values, self.grads)

    def value_of(self, name: str) -> float | np.ndarray:
        """The value a name of the program has at the end: an input's or an intermediate's."""
        return public(self.values[self._named(name)])

    def grad_of(self, name: str) -> float | np.ndarray:
        """d output / d the value a name has at the end (``t.grad_of("q")``)."""
        return public(self.grads[self._named(name)])

    def _named(self, name: str) -> int:
        node = self.graph.bindings.get(name)
        if node is None:
            known = ", ".join(self.graph.bindings) or "none"
            raise BackvizError(f"no value is named {name!r} (the names: {known})")
        return node

    def collapse(self, *names: str) -> Self:
        """The same trace with each call of the named user gates drawn as one gate.

        Nothing is computed again: the gate's value and gradient are its body's result's,
        and the gradient it sends to each argument is the sum of what the body's gates do.
        """
        return collapse(self, names)

    @cached_property
    def warnings(self) -> tuple[str, ...]:
        """The unused names, then the inputs and gates where a nan or inf first appears.

        Worked out when first asked for: it reads every value and gradient, which for a
        large matrix costs as much as the matrix product does.
        """
        warnings = [*self.graph.warnings]
        warnings += [f"{name} is given a value but is not in the expression"
                     for name in self.unused]
        # Nothing is non-finite in the common case: see that with one check per value
        # and per gradient. A share that is nan or inf makes its input's gradient so
        # too (it is part of the sum), so the shares need not be worked out for this.
        if all(map(finite, self.values)) and all(map(finite, self.grads)):
            return tuple(warnings)
        return (*warnings, *_nonfinite(self.graph, self.values, self.grads, self.edge_grads))

    @property
    def expression(self) -> str:
        return self.graph.expression

    @property
    def value(self) -> float:
        """The output, a float."""
        return float(self.values[-1])

    @property
    def gradients(self) -> dict[str, float | np.ndarray]:
        """d output / d variable for every variable, as a float or an array of its shape.

        Not for given data (:attr:`data_inputs`): a label, or an index (``y`` in ``s[y]``).
        """
        skip = self.data_inputs
        return {name: public(self.grads[i]) for name, i in self.graph.input_ids.items()
                if i not in skip}

    @cached_property
    def data_inputs(self) -> frozenset[int]:
        """The ids of the inputs that are given data, declared or used only as an index
        (see :func:`data_inputs`): the figure draws them without a gradient."""
        return data_inputs(self.graph)

    @cached_property
    def given_values(self) -> frozenset[int]:
        """The ids of given data and of the gates computed from it alone (see
        :func:`given_values`): the figure draws their values without a gradient."""
        return given_values(self.graph, self.data_inputs)

    @property
    def inputs(self) -> dict[str, float | np.ndarray]:
        """The variables' values as used."""
        return {name: public(self.values[i]) for name, i in self.graph.input_ids.items()}

    def output_with(self, inputs: Mapping[str, object]) -> float:
        """The output of the same graph for other input values (for the gradient check)."""
        return float(forward(self.graph, inputs)[-1])


def _nonfinite(graph: Graph, values: list[Array], grads: list[Array],
               edges: list[tuple[Array, ...]]) -> list[str]:
    """Name the inputs and gates where a nan or inf first appears."""
    warnings = []
    for node in graph.nodes:
        if node.op == INPUT:
            if not finite(values[node.id]):
                warnings.append(f"the value of {node.name} is {_nonfinite_kind(values[node.id])}")
            continue
        where = f"the gate '{node.label}' (column {node.column + 1})"
        inputs_finite = all(finite(values[i]) for i in node.inputs)
        if not finite(values[node.id]) and inputs_finite:
            warnings.append(f"{where} gives {_nonfinite_kind(values[node.id])} "
                            "in the forward pass")
        # Only where the gradient itself goes bad: not where a nan forward value
        # (already reported) just travels back through the product rule.
        if (finite(grads[node.id]) and finite(values[node.id]) and inputs_finite
                and not all(finite(s) for s in edges[node.id])):
            bad = next(s for s in edges[node.id] if not finite(s))
            warnings.append(f"{where} sends back a gradient of {_nonfinite_kind(bad)}")
    return warnings


def _nonfinite_kind(x: Array) -> str:
    a = np.asarray(x)
    if np.isnan(a).any():
        return "nan"
    return "-inf" if np.all(np.isfinite(a) | (a < 0)) else "inf"


# --- a collapsed view: each call of a user gate as one gate ------------------------------

CALL = "call"
"""The operator table's entry for a collapsed call (its parameter a :class:`UserCall`)."""


class UserCall(NamedTuple):
    """The parameter of a collapsed call's gate: the user gate's name and its body.

    ``body`` is a graph of its own whose first nodes, the inputs ``arg0``, ``arg1``...,
    are the call's arguments; the gate's rules run it (the rule is its body's).
    """

    name: str
    body: Graph

    def __repr__(self) -> str:  # for messages and test ids: the body is the figure's
        return f"UserCall({self.name!r})"

    def forward(self, *args: Array) -> Array:
        return self._values(args)[-1]

    def vjp(self, g: Array, out: Array, *args: Array) -> tuple[Array, ...]:
        grads = backward(self.body, self._values(args), upstream=g)
        # An argument the body does not use gets a zero gradient.
        return tuple(np.zeros(np.shape(x)) if grad is None else grad
                     for grad, x in zip(grads[:len(args)], args, strict=True))

    def local(self, write: Callable[[Array], str], out: Array, *args: Array) -> tuple[str, ...]:
        """d result / d each argument, as text (see :func:`_call_locals`)."""
        values = self._values(args)
        grads = backward(self.body, values, upstream=np.ones_like(values[-1]))
        return _call_locals(Evaluation(self.body, values, grads), write)

    def _values(self, args: tuple[Array, ...]) -> list[Array]:
        return forward(self.body, {f"arg{k}": x for k, x in enumerate(args)})


def collapse(trace: E, names: tuple[str, ...] | list[str]) -> E:
    """See :meth:`Trace.collapse`: the numbers are the trace's, none is computed again."""
    graph = trace.graph
    calls = {g.output: g for g in _outermost(graph, names)}
    if not calls:
        return trace
    inside = {i for g in calls.values() for i in g.nodes}
    kept = [i for i in range(len(graph)) if i not in inside or i in calls]
    view = _view(graph, kept, calls, inside)
    shares = [tuple(_share_into(trace, calls[i], a) for a in calls[i].args) if i in calls
              else trace.edge_grads[i] for i in kept]
    return replace(trace, graph=view, values=[trace.values[i] for i in kept],
                   grads=[trace.grads[i] for i in kept], shares=shares,
                   uncollapsed=trace.uncollapsed or trace)


def _outermost(graph: Graph, names: tuple[str, ...] | list[str]) -> list[Group]:
    """The calls of the named user gates that no other chosen call holds."""
    known = sorted({g.name for g in graph.groups})
    for name in names:
        if name not in known:
            gates = f"the user gates called here: {', '.join(known)}" if known else \
                "the program calls no user gate"
            raise BackvizError(f"there is no user gate {name!r} to collapse ({gates})")
    chosen: list[Group] = []
    inside: set[int] = set()
    # Outer calls first (a call's box holds the calls in its body): collapsing one hides them.
    for group in sorted((g for g in graph.groups if g.name in names), key=lambda g: -len(g.nodes)):
        if group.output not in inside:
            chosen.append(group)
            inside.update(group.nodes)
    return chosen


def _view(graph: Graph, kept: list[int], calls: Mapping[int, Group], inside: set[int]) -> Graph:
    """The graph of the nodes kept, each chosen call's result now its one gate."""
    new = {i: k for k, i in enumerate(kept)}
    rows = []
    for i in kept:
        call = calls.get(i)
        if call is None:
            rows.append((graph.ops[i], tuple(new[j] for j in graph.inputs[i]), graph.consts[i],
                         graph.tokens[i], graph.firsts[i], graph.lasts[i]))
        else:
            rows.append((CALL, tuple(new[a] for a in call.args),
                         UserCall(call.name, _body(graph, call)), call.token, call.token,
                         call.last))
    ops, inputs, consts, tokens, firsts, lasts = map(tuple, zip(*rows, strict=True))
    groups = tuple(Group(g.name, tuple(new[i] for i in g.nodes if i in new),
                         tuple(new[a] for a in g.args), g.token, g.last)
                   for g in graph.groups if not set(g.nodes) & inside)
    return replace(graph, ops=ops, inputs=inputs, names=tuple(graph.names[i] for i in kept),
                   consts=consts, tokens=tokens, firsts=firsts, lasts=lasts, groups=groups,
                   bindings={n: new[i] for n, i in graph.bindings.items() if i in new})


def _share_into(trace: Evaluation, group: Group, arg: int) -> Array:
    """What a call sends back to one argument: the shares of the body's edges from it."""
    total: Array = None
    for gate in group.nodes:
        for j, share in zip(trace.graph.inputs[gate], trace.edge_grads[gate], strict=True):
            if j == arg:
                total = share if total is None else total + share
    return total


def _body(graph: Graph, group: Group) -> Graph:
    """A call's body as a graph of its own: the arguments as inputs, then its gates."""
    index = {a: k for k, a in enumerate(group.args)}
    index.update({g: len(group.args) + k for k, g in enumerate(group.nodes)})
    order = [*group.args, *group.nodes]
    n_args = len(group.args)
    zeros = tuple(0 for _ in order)
    return Graph(expression=graph.source_of(group.output),
                 ops=tuple(INPUT if k < n_args else graph.ops[i] for k, i in enumerate(order)),
                 inputs=tuple(() if k < n_args else tuple(index[j] for j in graph.inputs[i])
                              for k, i in enumerate(order)),
                 names=tuple(f"arg{k}" if k < n_args else None for k in range(len(order))),
                 consts=tuple(graph.consts[i] for i in order), tokens=zeros, firsts=zeros,
                 lasts=zeros)


def _call_locals(body: Evaluation, write: Callable[[Array], str]) -> tuple[str, ...]:
    """The local gradient of a collapsed user gate: d its result / d each argument.

    A body that computes a function of the operator table is written with that function's
    rule, as the slides write the sigmoid gate ``1/(1+exp(-u))``: ``(1 - 0.73)(0.73)``.
    One argument through a chain of one-input gates is the product of their local
    gradients, the chain rule inside the box. Otherwise, the number.
    """
    graph = body.graph
    n_args = len(graph.variables)
    if n_args == 1:
        same = _same_function(body)
        if same is not None:
            return local_texts(same, write, body.values[-1], body.values[:1], None)
        path = _chain_of(graph)
        if path is not None:
            texts = [local_texts(OPS[graph.ops[i]], write, body.values[i],
                                 [body.values[j] for j in graph.inputs[i]], graph.consts[i])[0]
                     for i in path]
            return ("".join(f"({t})" for t in texts),)
    return tuple(write(body.grads[k]) for k in range(n_args))


def _same_function(body: Evaluation) -> Op | None:
    """The one-input function of the operator table that the body computes, if any."""
    samples = np.array([-2.5, -0.7, 0.3, 1.1, 2.9])
    (name,) = body.graph.variables
    with np.errstate(all="ignore"):
        try:
            computed = np.array([body.output_with({name: np.float64(v)}) for v in samples])
        except BackvizError:
            return None
        for op in OPS.values():
            if op.function is None or op.arity != 1 or op.has_const:
                continue
            expected = op.forward(samples)
            if np.shape(expected) == np.shape(computed) and np.allclose(
                    computed, expected, rtol=1e-12, atol=1e-12, equal_nan=True):
                return op
    return None


def _chain_of(graph: Graph) -> list[int] | None:
    """The body's gates from its result back to its argument, if each has one input."""
    path = []
    i = len(graph) - 1
    while graph.ops[i] != INPUT:
        if len(graph.inputs[i]) != 1:
            return None
        path.append(i)
        (i,) = graph.inputs[i]
    return path if len(path) == len(graph) - 1 else None
