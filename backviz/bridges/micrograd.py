"""micrograd's Values drawn as the lecture draws them: ``backviz.from_micrograd(value)``.

Works with micrograd 0.1.0 from PyPI and with the lecture's variant (a ``label`` on each
Value): anything with ``data``, ``grad``, ``_prev``, ``_op`` and ``_backward``. micrograd is
never imported. ``_prev`` is a set, whose order follows memory addresses; the operands are
read in their written order from ``_backward``'s closure (``self``, ``other``), so the same
program gives the same figure, byte for byte.

A node's name is its ``label``, else the name the calling code gives it (``a = Value(2.0)``),
else, for a parameter of a module that was called, its place in the module
(``layers[0].neurons[1].w[2]``), else ``v1``, ``v2``... in the order of the graph. Given a
function instead of a Value, ``from_micrograd`` runs it and draws each call of a module
(an object with ``parameters()`` and ``__call__``, such as micrograd's ``Neuron``) that
returns one Value as a box named after its class, which collapses like a user gate.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Iterator
from types import FrameType
from typing import TYPE_CHECKING, Any

from ..errors import BackvizError
from ..graph import INPUT
from ..ops import OPS
from . import Recording, ancestors, arguments, called, no_gate, told, unique_names

if TYPE_CHECKING:
    from ..tracing import Trace

__all__ = ["from_micrograd"]

_GATES = {"+": "add", "*": "mul", "-": "sub", "/": "div", "ReLU": "relu", "relu": "relu",
          "tanh": "tanh", "exp": "exp", "log": "log", "sigmoid": "sigmoid"}
"""micrograd's ``_op`` (and the lecture's), and the gate of backviz's table it is."""
_POWER = re.compile(r"\*\*(.+)")  # micrograd writes x**k as the op "**k"
_AGREE = 1e-9  # micrograd adds the shares of a gradient in another order than backviz


def _is_value(x: object) -> bool:
    return all(hasattr(x, a) for a in ("data", "grad", "_prev", "_op"))


def from_micrograd(value: Any, *args: Any, **kwargs: Any) -> Trace:
    """The trace of the graph that ends at a micrograd ``Value``, its gradients backviz's.

    Given a function and its arguments instead, runs it once and draws its result, each
    call of a module (a ``Neuron``) as a box. Where ``backward()`` ran and a ``.grad``
    disagrees with backviz's gradient, a warning says so (``backward()`` twice without
    ``zero_grad()`` adds the gradients up).
    """
    caller = sys._getframe(1)
    known = _names_in(caller)
    calls: list[_Call] = []
    constants: frozenset[int] = frozenset()
    if not _is_value(value):
        if not callable(value):
            raise BackvizError(f"from_micrograd takes a micrograd Value, or a function that "
                               f"returns one, not {type(value).__name__}")
        given = unique_names((id(v), n) for n, v in arguments(value, args, kwargs) if _is_value(v))
        known = {**given, **{k: n for k, n in known.items() if k not in given}}
        value, calls, constants = _run(value, args, kwargs)
        if not _is_value(value):
            raise BackvizError(f"the function returned {type(value).__name__}, not a "
                               "micrograd Value")
    for call in calls:
        if call.depth == 0:
            known.update({k: v for k, v in _parameter_names(call.module) if k not in known})
    return told(_record(value, known, calls, constants))


def _names_in(frame: FrameType) -> dict[int, str]:
    """The Values the calling code has names for: its locals, then its globals."""
    scopes = (frame.f_locals, frame.f_globals)
    return unique_names((id(v), n) for scope in scopes for n, v in scope.items()
                        if not n.startswith("_") and _is_value(v))


def _record(output: Any, known: dict[int, str], calls: list[_Call],
            constants: frozenset[int] = frozenset()) -> Trace:
    order = _order(output)
    rec = Recording()
    node: dict[int, int] = {}
    unnamed = 0
    for v in order:
        name = _label(v) or known.get(id(v))
        operands = _operands(v)
        if not operands:
            if name is None and id(v) in constants:
                continue  # drawn in the gate that uses it, as the slides draw "*2"
            if name is None:
                unnamed += 1
                name = f"v{unnamed}"
            node[id(v)] = rec.leaf(name, float(v.data))
            continue
        op, const = _gate(v, len(operands))
        folded = [o for o in operands if id(o) not in node]
        if folded:  # a number micrograd made a Value of: the gate carries it (w * 2 is *2)
            op, const = _with_constant(op, operands, folded[0])
            operands = [o for o in operands if id(o) in node]
        node[id(v)] = rec.gate(op, [node[id(o)] for o in operands], const, name)
    for call in calls:
        made = _made_by(call, rec, node)
        if made:
            rec.calls.append((call.name, made))
    _compare(order, node, rec)
    return rec.trace(node[id(output)])


def _with_constant(op: str, operands: list[Any], constant: Any) -> tuple[str, float]:
    gate = OPS[op].const_right if operands[-1] is constant else OPS[op].const_left
    if gate is None or len(operands) != 2 or operands[0] is operands[1]:
        raise BackvizError(f"micrograd's operation {op!r} on a number has no gate in backviz")
    return gate, float(constant.data)


def _label(v: Any) -> str | None:
    label = getattr(v, "label", None)
    return label if isinstance(label, str) and label else None


def _order(root: Any) -> list[Any]:
    """The Values ``root`` depends on, each after its operands (depth first, no recursion:
    micrograd's own sort recurses, and fails past a thousand levels)."""
    order: list[Any] = []
    seen: set[int] = set()
    stack: list[tuple[Any, bool]] = [(root, False)]
    while stack:
        v, done = stack.pop()
        if done:
            order.append(v)
            continue
        if id(v) in seen:
            continue
        seen.add(id(v))
        stack.append((v, True))
        stack.extend((o, False) for o in reversed(_operands(v)) if id(o) not in seen)
    return order


def _operands(v: Any) -> list[Any]:
    """A Value's operands in the order they were written: ``self``, then ``other``."""
    prev = list(v._prev)
    if not prev:
        return []
    cells = _closure(getattr(v, "_backward", None))
    found = [cells[k] for k in ("self", "other") if any(cells.get(k) is p for p in prev)]
    if {id(x) for x in found} == {id(p) for p in prev}:
        return found
    # An operation of the user's own: its operands in an order that does not depend on memory.
    return sorted(prev, key=lambda p: (_label(p) or "", str(p._op), float(p.data)))


def _closure(fn: Any) -> dict[str, Any]:
    code, cells = getattr(fn, "__code__", None), getattr(fn, "__closure__", None) or ()
    if code is None:
        return {}
    out = {}
    for name, cell in zip(code.co_freevars, cells, strict=False):
        try:
            out[name] = cell.cell_contents
        except ValueError:  # a cell not filled yet
            continue
    return out


def _gate(v: Any, arity: int) -> tuple[str, float | None]:
    """The gate of backviz's table for a Value's ``_op`` (``**2`` carries its power)."""
    op = str(v._op)
    power = _POWER.fullmatch(op)
    if power is not None:
        try:
            return "pow_c", float(power[1])
        except ValueError:
            raise BackvizError(f"micrograd's operation {op!r} has a power that is not a "
                               "number") from None
    name = _GATES.get(op)
    if name is None:
        raise no_gate(f"micrograd's operation {op!r}", [*_GATES, "**k"])
    if OPS[name].arity != arity:
        raise BackvizError(f"micrograd's operation {op!r} has {arity} operand(s), and the "
                           f"gate {name} takes {OPS[name].arity}")
    return name, None


def _compare(order: list[Any], node: dict[int, int], rec: Recording) -> None:
    """Where ``backward()`` ran (the output's ``grad`` is 1), each leaf's ``.grad`` against
    backviz's gradient: a warning for each that disagrees."""
    output = order[-1]
    if output.grad != 1:
        return
    from ..evaluate import backward, forward  # the engine, as the trace will run it

    graph, kept = rec.graph(node[id(output)])
    values = forward(graph, rec.values)
    grads = backward(graph, values)
    where = {old: new for new, old in enumerate(kept)}
    for v in order:
        i = where.get(node.get(id(v), -1), -1)
        if i < 0 or graph.ops[i] != INPUT:
            continue
        mine, theirs = float(grads[i]), float(v.grad)
        if abs(mine - theirs) > _AGREE * max(1.0, abs(mine)):
            rec.warnings.append(f"{graph.names[i]}.grad is {theirs:.6g}, and backviz finds {mine:.6g} "
                     "(did backward() run more than once without zero_grad()?)")


# --- the calls of modules, recorded while a function runs -----------------------------------

class _Call:
    """One call of a module: its class, its arguments' Values, its result."""

    def __init__(self, module: Any, args: list[Any], depth: int) -> None:
        self.module, self.args, self.depth = module, args, depth
        self.name = type(module).__name__
        self.output: Any = None


def _run(fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]
         ) -> tuple[Any, list[_Call], frozenset[int]]:
    """Run ``fn`` with a profiler that sees each module's ``__call__`` start and return,
    and each Value that micrograd makes of a number (``other`` in ``w * 2``)."""
    open_calls: list[tuple[FrameType, _Call]] = []
    done: list[_Call] = []
    numbers: list[Any] = []  # kept alive, so that their ids stay theirs

    def profile(frame: FrameType, event: str, arg: Any) -> None:
        if frame.f_code.co_name == "__init__" and event == "call":
            if _of_a_number(frame):
                numbers.append(frame.f_locals["self"])
            return
        if frame.f_code.co_name != "__call__":
            return
        if event == "call":
            module = frame.f_locals.get("self")
            if callable(getattr(module, "parameters", None)):
                values = [v for x in frame.f_locals.values() for v in _values_in(x)]
                open_calls.append((frame, _Call(module, values, len(open_calls))))
        elif event == "return" and open_calls and open_calls[-1][0] is frame:
            call = open_calls.pop()[1]
            if _is_value(arg):
                call.output = arg
                done.append(call)

    previous = sys.getprofile()
    sys.setprofile(profile)
    try:
        result = called(fn, args, kwargs)
    finally:
        sys.setprofile(previous)
    return result, done, frozenset(map(id, numbers))


def _of_a_number(frame: FrameType) -> bool:
    """Whether a Value is being made of the number an operator was given (``Value(other)``
    in micrograd's ``__add__``, ``__mul__``...)."""
    caller = frame.f_back
    if caller is None or not caller.f_code.co_name.startswith("__"):
        return False
    other = caller.f_locals.get("other")
    return (isinstance(other, (int, float)) and "self" in caller.f_locals
            and _is_value(caller.f_locals["self"]) and frame.f_locals.get("data") is other)


def _values_in(x: Any) -> Iterator[Any]:
    """The Values in an argument: itself, or the items of a list or tuple."""
    if _is_value(x):
        yield x
    elif isinstance(x, (list, tuple)):
        yield from (v for v in x if _is_value(v))


def _made_by(call: _Call, rec: Recording, node: dict[int, int]) -> tuple[int, ...]:
    """The gates a call made: those its result depends on that its arguments do not."""
    if id(call.output) not in node:
        return ()
    before: set[int] = set()
    for v in call.args:
        if id(v) in node:
            before.update(_depends(rec, node[id(v)]))
    return tuple(i for i in sorted(_depends(rec, node[id(call.output)]))
                 if i not in before and rec.ops[i] != INPUT)


def _depends(rec: Recording, output: int) -> set[int]:
    return set(ancestors(rec.inputs, output))


def _parameter_names(module: Any) -> Iterator[tuple[int, str]]:
    """Each Value of a module, named by where it is: ``layers[0].neurons[1].w[2]``."""
    stack: list[tuple[Any, str]] = [(module, "")]
    seen: set[int] = set()
    while stack:
        obj, path = stack.pop(0)
        if id(obj) in seen:
            continue
        seen.add(id(obj))
        if _is_value(obj):
            yield id(obj), path
        elif isinstance(obj, (list, tuple)):
            stack.extend((x, f"{path}[{k}]") for k, x in enumerate(obj))
        elif callable(getattr(obj, "parameters", None)) and hasattr(obj, "__dict__"):
            stack.extend((x, f"{path}.{a}" if path else a) for a, x in vars(obj).items()
                         if _is_value(x) or isinstance(x, (list, tuple))
                         or callable(getattr(x, "parameters", None)))
