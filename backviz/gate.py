"""The lecture's gate as an object: ``forward`` computes and remembers, ``backward`` returns
the gradient of every input, local gradient times upstream gradient.

The slides end with this API (their ``MultiplyGate``)::

    g = backviz.gate("*")
    z = g.forward(3.0, -4.0)      # -12.0, and x, y, z are remembered
    dx, dy = g.backward(2.0)      # [-8.0, 6.0]: dz * y and dz * x

Every entry of the operator table is a gate (by symbol, function name or table name), and
so is every user gate (``backviz.gate("sig(u) = 1/(1+exp(-u))")``). The rules are the
table's own: nothing here knows a derivative.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .errors import BackvizError
from .evaluate import Array, UserCall, backward, forward, public, shares
from .graph import Graph
from .ops import BINARY, FUNCTIONS, OPS, Op, Param
from .parse import parse
from .values import as_value

__all__ = ["Gate", "gate"]


class Gate:
    """One gate: ``forward(*inputs)`` then ``backward(upstream)``, as on the slides."""

    def __init__(self, name: str, arity: int) -> None:
        self.name = name
        self.arity = arity
        self.inputs: tuple[Array, ...] | None = None
        self.output: Array = None

    def __repr__(self) -> str:
        return f"<backviz gate {self.name!r}, {self.arity} input{'s' if self.arity > 1 else ''}>"

    def forward(self, *inputs: object) -> float | np.ndarray:
        """Compute the output from the inputs, and remember both for ``backward``."""
        if len(inputs) != self.arity:
            raise BackvizError(f"the gate {self.name!r} takes {self.arity} input"
                               f"{'s' if self.arity > 1 else ''}, not {len(inputs)}")
        values = tuple(as_value(f"input {k + 1}", x) for k, x in enumerate(inputs))
        with np.errstate(all="ignore"):
            self.output = self._forward(values)
        self.inputs = values
        return public(self.output)

    def backward(self, upstream: object = 1.0) -> list[float | np.ndarray]:
        """The gradient of every input: its local gradient times ``upstream`` (dz)."""
        if self.inputs is None:
            raise BackvizError(f"call forward(...) on the gate {self.name!r} before backward")
        dz = as_value("the upstream gradient", upstream)
        if np.shape(dz) != np.shape(self.output):
            raise BackvizError(f"the upstream gradient has shape {np.shape(dz)}, and the "
                               f"gate's output {np.shape(self.output)}: they must be the same")
        with np.errstate(all="ignore"):
            return [public(g) for g in self._backward(dz)]

    def _forward(self, inputs: tuple[Array, ...]) -> Array:
        raise NotImplementedError

    def _backward(self, dz: Array) -> tuple[Array, ...]:
        """Each input's gradient, in the input's shape."""
        raise NotImplementedError


class _TableGate(Gate):
    """An entry of the operator table, with its constant if it carries one."""

    def __init__(self, op: Op, const: Param) -> None:
        label = op.label(const)
        # A collapsed call (the table's call gate) has one input per argument of its gate.
        arity = len(const.body.variables) if isinstance(const, UserCall) else op.arity
        super().__init__(label, arity)
        self.op = op
        self.const = const
        self.extra: tuple[Any, ...] = (const,) if op.has_const else ()

    def _forward(self, inputs: tuple[Array, ...]) -> Array:
        try:
            return self.op.forward(*inputs, *self.extra)
        except BackvizError:
            raise
        # A constant the table's rules cannot use (an axis given as a tuple, an index of
        # 2**40) fails inside them in any of these ways: one message at the API's edge.
        except (ValueError, TypeError, IndexError, AssertionError, StopIteration):
            shapes = " and ".join(str(np.shape(x)) for x in inputs)
            extra = f" with the constant {self.extra[0]!r}" if self.extra else ""
            raise BackvizError(f"the gate {self.name!r} cannot combine shapes "
                               f"{shapes}{extra}") from None

    def _backward(self, dz: Array) -> tuple[Array, ...]:
        assert self.inputs is not None
        try:
            return shares(self.op, dz, self.output, self.inputs, self.const)
        except BackvizError:
            raise
        except (ValueError, TypeError, IndexError, AssertionError, StopIteration):
            raise BackvizError(f"the gate {self.name!r} cannot send back a gradient of shape "
                               f"{np.shape(dz)}") from None


class _UserGate(Gate):
    """A user gate: its body's graph, run forward and backward by the engine."""

    def __init__(self, name: str, params: tuple[str, ...], graph: Graph) -> None:
        super().__init__(name, len(params))
        self.params = params
        self.graph = graph
        self.values: list[Array] = []

    def _forward(self, inputs: tuple[Array, ...]) -> Array:
        given = dict(zip(self.params, inputs, strict=True))
        self.values = forward(self.graph, {p: given[p] for p in self.graph.variables})
        return self.values[-1]

    def _backward(self, dz: Array) -> tuple[Array, ...]:
        assert self.inputs is not None
        grads = backward(self.graph, self.values, upstream=dz)
        node = self.graph.input_ids
        # A parameter the body does not use gets a zero gradient.
        return tuple(grads[node[p]] if p in node else np.zeros_like(x)
                     for p, x in zip(self.params, self.inputs, strict=True))


def gate(spec: str, const: Param = None) -> Gate:
    """A gate of the operator table, or a user gate.

    ``spec`` is an operator (``"*"``, ``"+"``, ``"@"``...), a function (``"exp"``,
    ``"max"``), a table entry's name (``"mul_c"`` with ``const=2`` is the slides' ``*2``
    gate), or a user gate's definition (``"sig(u) = 1/(1+exp(-u))"``).
    """
    if not isinstance(spec, str):
        raise BackvizError(f"a gate is named by a string, not {type(spec).__name__}")
    op = BINARY.get(spec) or FUNCTIONS.get(spec) or OPS.get(spec)
    if op is None:
        if "=" in spec:
            return _user_gate(spec)
        known = sorted({*BINARY, *FUNCTIONS, *OPS})
        raise BackvizError(f"no gate {spec!r}: give an operator, a function or a table entry "
                           f"({', '.join(known)}), or a definition such as "
                           "'sig(u) = 1/(1+exp(-u))'")
    if op.has_const and const is None and op.keyword is None:
        raise BackvizError(f"the gate {op.name!r} carries a constant: gate({spec!r}, const=...)")
    if not op.has_const and const is not None:
        raise BackvizError(f"the gate {op.name!r} carries no constant; leave const out")
    try:
        return _TableGate(op, const)
    except (ValueError, TypeError, IndexError, AssertionError, StopIteration):
        raise BackvizError(f"the gate {op.name!r} cannot take the constant {const!r}") from None


def _user_gate(definition: str) -> Gate:
    """``sig(u) = 1/(1+exp(-u))`` as a gate: its call on its own parameters, parsed."""
    head, _, _ = definition.partition("=")
    name, _, rest = head.partition("(")
    name = name.strip()
    params = tuple(p.strip() for p in rest.rstrip().rstrip(")").split(","))
    program = f"{definition}\n{name}({', '.join(params)})"
    try:
        graph = parse(program)
    except BackvizError as err:
        # The message's caret is on the definition's own line: keep just that.
        raise BackvizError(f"in the gate's definition: {err}") from None
    return _UserGate(name, params, graph)

