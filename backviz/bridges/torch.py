"""A PyTorch program drawn as the lecture draws it: ``backviz.from_torch(fn, *args)``.

``fn`` runs once, in the user's process, under a ``TorchFunctionMode`` that sees every
torch function it calls at the highest level (``F.linear``, ``F.cross_entropy``, ``x @ W``)
and writes each as gates of backviz's operator table; global module hooks see each
``nn.Module`` call begin and end, and make its gates a box named after the module (``fc1``),
which collapses to one gate like a user gate. Names come from the code: parameters by their
``named_parameters()`` names, ``fn``'s arguments by its parameter names, tensors and modules
by the names ``fn`` reads from its globals and closure. Tensors that need no gradient are
given data (:meth:`_Recorder.given_data`).

An operation without a gate here is not an error: ``fn`` runs to its end as always, the
operation's result is drawn as an input (so no gradient flows back through it), and a
warning names it and says why. torch is imported only when this module is.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch.overrides import TorchFunctionMode

from ..errors import BackvizError
from ..ops import OPS, Param
from . import Recording, arguments, called, told, unique_names

if TYPE_CHECKING:
    from ..tracing import Trace

__all__ = ["from_torch", "record"]


class Unsupported(Exception):
    """Why an operation cannot be drawn (its message ends "... because")."""


def from_torch(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Trace:
    """Run ``fn(*args, **kwargs)`` once, recording its operations, and trace its scalar result.

    The gradients are backviz's, from the values torch computed with; in float64 they
    equal what ``backward()`` gives every leaf. ``fn``'s ``.grad`` s are left as they were.
    """
    if not callable(fn):
        raise BackvizError(f"from_torch takes a function and its arguments, "
                           f"from_torch(f, x), not {type(fn).__name__}")
    recorder, result = record(fn, args, kwargs)
    if not isinstance(result, torch.Tensor) or id(result) not in recorder.node:
        raise BackvizError(f"from_torch needs fn to return a tensor computed from tensors that "
                           f"need a gradient, and it returned {_describe(result)}")
    return told(recorder.rec.trace(recorder.node[id(result)], recorder.given_data()))


def record(fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]
           ) -> tuple[_Recorder, Any]:
    """Run ``fn`` once under the recorder, with global module hooks for as long as it runs."""
    recorder = _Recorder(_names(fn, args, kwargs))
    hooks = (torch.nn.modules.module.register_module_forward_pre_hook(recorder.enter),
             torch.nn.modules.module.register_module_forward_hook(recorder.leave))
    try:
        with recorder:
            result = called(fn, args, kwargs)
    finally:
        for hook in hooks:
            hook.remove()
    return recorder, result


def _describe(x: object) -> str:
    if isinstance(x, torch.Tensor) and x.requires_grad:
        return "a tensor that no operation made"
    if isinstance(x, torch.Tensor):
        return f"a tensor of shape {tuple(x.shape)} that needs no gradient"
    return type(x).__name__


# --- names from the code ---------------------------------------------------------------------

def _names(fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]
           ) -> dict[int, str]:
    """What the code calls each tensor and module (keys from ``id()``, never shown): ``fn``'s
    arguments, then what it reads from its globals and closure, then each module's
    parameters and submodules by their ``named_parameters()`` and ``named_modules()`` names."""
    found = list(arguments(fn, args, kwargs))
    code = getattr(fn, "__code__", None)
    if code is not None:
        scope = getattr(fn, "__globals__", {})
        found += [(n, scope[n]) for n in code.co_names if n in scope]
        for n, cell in zip(code.co_freevars, getattr(fn, "__closure__", None) or (), strict=False):
            try:
                found.append((n, cell.cell_contents))
            except ValueError:
                continue
    if isinstance(fn, torch.nn.Module):
        found.append((type(fn).__name__, fn))
    modules = [x for _, x in found if isinstance(x, torch.nn.Module)]
    return unique_names([*((id(x), n) for n, x in found
                           if isinstance(x, (torch.Tensor, torch.nn.Module))),
                         *(item for m in modules for item in _inside(m))])


def _inside(module: torch.nn.Module) -> Iterator[tuple[int, str]]:
    yield from ((id(p), n) for n, p in module.named_parameters())
    yield from ((id(p), n) for n, p in module.named_buffers())
    yield from ((id(m), n) for n, m in module.named_modules() if n)


# --- the recording ---------------------------------------------------------------------------

class _Recorder(TorchFunctionMode):
    """Writes each torch function that ``fn`` calls as gates, and each module call as a box."""

    def __init__(self, names: dict[int, str]) -> None:
        super().__init__()
        self.names = names
        self.rec = Recording()
        self.node: dict[int, int] = {}  # id(tensor) -> its node
        self.version: dict[int, int] = {}  # id(tensor) -> its version counter when bound
        self.alive: list[torch.Tensor] = []  # what node's ids refer to, kept from being reused
        self.data: set[str] = set()
        self.open: list[tuple[torch.nn.Module, int]] = []
        self.unnamed = 0

    def __torch_function__(self, func: Any, types: Any, args: Any = (),
                           kwargs: Any = None) -> Any:
        kwargs = kwargs or {}
        before = [(t, t._version) for t in _tensors(args) if id(t) in self.node]
        out = func(*args, **kwargs)  # torch runs it as always; the mode is off meanwhile
        if isinstance(out, torch.Tensor) and self._involved(args, kwargs):
            self._write(_name_of(func), out, args, kwargs)
        if any(t._version != v for t, v in before):
            self._changed_in_place(_name_of(func))
        return out

    def _changed_in_place(self, name: str) -> None:
        """After ``m[y] = 0`` (or an in-place op on a view), every recorded tensor whose
        values changed under it becomes an input with its new value: its gate would show
        the old one."""
        for t in {id(t): t for t in self.alive}.values():
            if id(t) in self.node and t._version != self.version[id(t)]:
                old = self.rec.names[self.node[id(t)]] or "a tensor"
                node = self.leaf(t, f"{name.strip('_')}_result")
                self.rec.warnings.append(
                    f"torch's {name} changed {old} in place: it is drawn from then on as an "
                    f"input, {self.rec.names[node]}, so no gradient flows back through it")

    def _involved(self, args: Any, kwargs: Any) -> bool:
        """Whether an operation is part of the graph: some input needs a gradient."""
        return any(t.requires_grad for t in _tensors([*args, *kwargs.values()]))

    def _write(self, name: str, out: torch.Tensor, args: Any, kwargs: Any) -> None:
        rule = _RULES.get(name)
        try:
            if rule is None:
                raise Unsupported("backviz has no gate for it")
            node = rule(self, *args, **kwargs)
        except Unsupported as why:
            node = self.leaf(out, f"{name}_result")
            self.rec.warnings.append(
                f"torch's {name} is drawn as an input, {self.rec.names[node]}, so no gradient "
                f"flows back through it: {why}")
        self.bind(out, node)

    def bind(self, t: torch.Tensor, node: int) -> None:
        self.node[id(t)] = node
        self.version[id(t)] = t._version
        self.alive.append(t)

    def of(self, t: Any) -> int:
        """The node of a tensor: the gate that made it, or a new input."""
        if not isinstance(t, torch.Tensor):
            raise Unsupported(f"an operand is {type(t).__name__}, where a tensor was expected")
        node = self.node.get(id(t))
        return self.leaf(t) if node is None else node

    def leaf(self, t: torch.Tensor, name: str | None = None) -> int:
        if name is None:
            name = self.names.get(id(t))
        if name is None:
            self.unnamed += 1
            name = f"v{self.unnamed}"
        node = self.rec.leaf(name, _value(t))
        if not t.requires_grad:
            self.data.add(self.rec.names[node] or name)
        self.bind(t, node)
        return node

    def gate(self, op: str, *inputs: int, const: Param = None) -> int:
        return self.rec.gate(op, inputs, const)

    def given_data(self) -> frozenset[str]:
        """The inputs drawn as given data: tensors that need no gradient (x, y)."""
        return frozenset(self.data)

    # The global module hooks: a module's gates are those made between its start and end.
    def enter(self, module: torch.nn.Module, args: Any) -> None:
        if not self.open and id(module) not in self.names:
            self.names.update(unique_names(_inside(module)))
        self.open.append((module, len(self.rec.ops)))

    def leave(self, module: torch.nn.Module, args: Any, output: Any) -> None:
        opened, start = self.open.pop()
        node = self.node.get(id(output)) if isinstance(output, torch.Tensor) else None
        if opened is not module or node is None or node < start:
            return  # a result made outside the call (nn.Identity), or not a tensor
        made = tuple(i for i in range(start, node + 1) if self.rec.inputs[i])
        name = self.names.get(id(module), type(module).__name__)
        self.rec.calls.append((name, made))


def _name_of(func: Any) -> str:
    """A torch function's name, in-place forms as the others (``add_``, ``__iadd__``: add)."""
    name = str(getattr(func, "__name__", func))
    if name == "__get__":  # a property, such as x.T
        name = str(getattr(getattr(func, "__self__", None), "__name__", name))
    if name.startswith("__i") and name.endswith("__"):
        name = "__" + name[3:]
    elif name.endswith("_") and not name.endswith("__"):
        name = name[:-1]
    return name


def _tensors(items: Any) -> Iterator[torch.Tensor]:
    for x in items:
        if isinstance(x, torch.Tensor):
            yield x
        elif isinstance(x, (list, tuple)):
            yield from _tensors(x)


def _value(t: torch.Tensor) -> Any:
    a = t.detach().cpu().to(torch.float64).numpy()
    return float(a) if a.ndim == 0 else np.array(a)


# --- the rules: each torch function as gates of the operator table ---------------------------

Rule = Callable[..., int]


def _binary(op: str, swap: bool = False) -> Rule:
    """``a op b``; a number on one side makes the one-input gate that carries it (``*2``)."""
    def rule(r: _Recorder, a: Any, b: Any, **kwargs: Any) -> int:
        _no_options(kwargs)
        x, y = (b, a) if swap else (a, b)
        if isinstance(x, torch.Tensor) and isinstance(y, torch.Tensor):
            return r.gate(op, r.of(x), r.of(y))
        constant, tensor, gate = ((y, x, OPS[op].const_right) if isinstance(x, torch.Tensor)
                                  else (x, y, OPS[op].const_left))
        if gate is None or not isinstance(constant, (int, float)):
            raise Unsupported(f"its operand {constant!r} is not a tensor")
        return r.gate(gate, r.of(tensor), const=float(constant))
    return rule


def _unary(op: str) -> Rule:
    def rule(r: _Recorder, x: Any, *rest: Any, **kwargs: Any) -> int:
        if rest or {k: v for k, v in kwargs.items() if k != "inplace"}:
            raise Unsupported("backviz draws it without options only")
        return r.gate(op, r.of(x))
    return rule


def _no_options(kwargs: dict[str, Any]) -> None:
    if kwargs:
        raise Unsupported(f"backviz draws it without {', '.join(kwargs)}")


def _axis(dim: Any, keepdim: bool = False, **kwargs: Any) -> Param:
    _no_options({k: v for k, v in kwargs.items() if v is not None})
    if keepdim:
        raise Unsupported("backviz's reductions keep no dimension (keepdim=True)")
    if isinstance(dim, (tuple, list)):
        if len(dim) != 1:
            raise Unsupported("backviz reduces along one axis or every one")
        dim = dim[0]
    return None if dim is None else float(dim)


def _reduction(op: str) -> Rule:
    def rule(r: _Recorder, x: Any, dim: Any = None, keepdim: bool = False, **kwargs: Any) -> int:
        return r.gate(op, r.of(x), const=_axis(dim, keepdim, **kwargs))
    return rule


def _softmax(op: str) -> Rule:
    def rule(r: _Recorder, x: Any, dim: Any = None, _stacklevel: int = 3,
             dtype: Any = None) -> int:
        return r.gate(op, r.of(x), const=_axis(dim, dtype=dtype))
    return rule


def _transpose(r: _Recorder, x: Any, *dims: Any) -> int:
    if x.dim() > 2 or (dims and sorted(d % 2 for d in dims) != [0, 1]):
        raise Unsupported("backviz transposes vectors and matrices only")
    return r.gate("transpose", r.of(x))


def _linear(r: _Recorder, x: Any, weight: Any, bias: Any = None) -> int:
    """x W^T + b, as nn.Linear computes it."""
    product = r.gate("matmul", r.of(x), r.gate("transpose", r.of(weight)))
    return product if bias is None else r.gate("add", product, r.of(bias))


def _picked(r: _Recorder, scores: int, x: torch.Tensor, target: torch.Tensor) -> int:
    """The score of each row's label: ``S[arange(N), y]`` (``s[y]`` for one example)."""
    label = r.of(target)
    name = ("input", r.rec.names[label])
    spec = ((name,) if x.dim() == 1 else (("arange", int(x.shape[0])), name))
    return r.gate("index", scores, label, const=spec)


def _reduce(r: _Recorder, node: int, reduction: str, size_average: Any = None,
            reduce: Any = None) -> int:
    """A loss's reduction; torch's older size_average= and reduce= are told, not ignored."""
    if size_average is not None or reduce is not None:
        raise Unsupported("backviz reads reduction='mean' or 'sum', not the older "
                          "size_average= or reduce=")
    if reduction not in ("mean", "sum"):
        raise Unsupported(f"backviz draws reduction='mean' or 'sum', not {reduction!r}")
    return r.gate(reduction, node)


def _cross_entropy(r: _Recorder, x: Any, target: Any, weight: Any = None,
                   size_average: Any = None, ignore_index: int = -100, reduce: Any = None,
                   reduction: str = "mean", label_smoothing: float = 0.0) -> int:
    """-mean(log_softmax(S)[arange(N), y]): the softmax loss of the lecture, with labels."""
    if weight is not None or label_smoothing or target.is_floating_point() or x.dim() > 2:
        raise Unsupported("backviz draws it for integer labels, without weights or smoothing")
    if bool((target == ignore_index).any()):
        raise Unsupported("a label is ignore_index")
    log_p = r.gate("log_softmax", r.of(x))
    picked = _picked(r, log_p, x, target)
    return r.gate("mul_c", _reduce(r, picked, reduction, size_average, reduce), const=-1.0)


def _mse_loss(r: _Recorder, x: Any, target: Any, size_average: Any = None, reduce: Any = None,
              reduction: str = "mean", weight: Any = None) -> int:
    if weight is not None:
        raise Unsupported("backviz draws it without weights")
    return _reduce(r, r.gate("pow_c", r.gate("sub", r.of(x), r.of(target)), const=2.0),
                   reduction, size_average, reduce)


def _getitem(r: _Recorder, x: Any, index: Any) -> int:
    items = index if isinstance(index, tuple) else (index,)
    spec: list[Any] = []
    inputs: list[int] = []
    for item in items:
        if isinstance(item, int):
            spec.append(item)
        elif isinstance(item, slice):
            spec.append(("slice", item.start, item.stop, item.step))
        elif isinstance(item, torch.Tensor) and not item.is_floating_point() and item.dim() <= 1 \
                and item.dtype != torch.bool:  # a mask is no integer vector
            if item.dim() == 1 and bool(torch.equal(item, torch.arange(len(item)))):
                spec.append(("arange", len(item)))
                continue
            node = r.of(item)
            inputs.append(node)
            spec.append(("input", r.rec.names[node]))
        else:
            raise Unsupported(f"backviz indexes with integers, slices and integer vectors, "
                              f"not {type(item).__name__}")
    return r.gate("index", r.of(x), *inputs, const=tuple(spec))


def _one(value: Any, what: str) -> int:
    """A size torch may give as an int or a pair: backviz draws the same size on both axes."""
    if isinstance(value, (tuple, list)):
        if len(set(value)) != 1:
            raise Unsupported(f"backviz draws the same {what} along both axes, not {value}")
        value = value[0]
    if not isinstance(value, int):
        raise Unsupported(f"backviz draws a {what} that is a number, not {value!r}")
    return value


def _conv2d(r: _Recorder, x: Any, weight: Any, bias: Any = None, stride: Any = 1,
            padding: Any = 0, dilation: Any = 1, groups: int = 1) -> int:
    """The convolution, then the bias as one number per output channel: b reshaped to (C, 1, 1)."""
    if _one(dilation, "dilation") != 1 or groups != 1:
        raise Unsupported("backviz draws it without dilation or groups")
    padding = 0 if padding == "valid" else padding
    conv = r.gate("conv2d", r.of(x), r.of(weight),
                  const=(_one(stride, "stride"), _one(padding, "padding")))
    if bias is None:
        return conv
    return r.gate("add", conv, r.gate("reshape", r.of(bias), const=(-1, 1, 1)))


def _pool(op: str) -> Rule:
    """max_pool2d and avg_pool2d without padding; the stride is the kernel's unless given."""
    def rule(r: _Recorder, x: Any, kernel_size: Any, stride: Any = None, padding: Any = 0,
             *rest: Any, **kwargs: Any) -> int:
        options = dict(zip(("dilation", "ceil_mode", "return_indices"), rest, strict=False))
        options.update(kwargs)
        drawn = {"dilation": 1, "ceil_mode": False, "return_indices": False,
                 "count_include_pad": True, "divisor_override": None}
        if _one(padding, "padding") or any(options[k] != drawn[k] for k in options):
            raise Unsupported("backviz draws it without padding, dilation or ceil_mode")
        kernel = _one(kernel_size, "kernel size")
        step = kernel if stride is None or stride == [] else _one(stride, "stride")
        return r.gate(op, r.of(x), const=(kernel, step))
    return rule


def _reshape_rule(r: _Recorder, x: Any, *shape: Any) -> int:
    """``x.view(1, -1)``, ``x.reshape((1, -1))``: the reshape gate, with the sizes written."""
    sizes = shape[0] if len(shape) == 1 and isinstance(shape[0], (tuple, list)) else shape
    if not all(isinstance(s, int) for s in sizes):
        raise Unsupported("backviz reshapes to sizes that are numbers")
    return r.gate("reshape", r.of(x), const=tuple(int(s) for s in sizes))


def _flatten(r: _Recorder, x: Any, start_dim: int = 0, end_dim: int = -1) -> int:
    """``flatten(x, 1)``: the axes from start_dim to end_dim made one, as a reshape."""
    shape = list(x.shape)
    start, end = start_dim % max(len(shape), 1), end_dim % max(len(shape), 1)
    sizes = (*shape[:start], -1, *shape[end + 1:]) if shape else (-1,)
    return r.gate("reshape", r.of(x), const=tuple(int(s) for s in sizes))


def _rules() -> dict[str, Rule]:
    binary = {"add": "add", "sub": "sub", "subtract": "sub", "mul": "mul", "multiply": "mul",
              "div": "div", "divide": "div", "true_divide": "div", "pow": "pow",
              "matmul": "matmul", "mm": "matmul", "maximum": "max", "minimum": "min"}
    rules: dict[str, Rule] = {}
    for name, op in binary.items():
        rules[name] = rules[f"__{name}__"] = _binary(op)
        rules[f"__r{name}__"] = _binary(op, swap=True)
    rules["__truediv__"], rules["__rtruediv__"] = _binary("div"), _binary("div", swap=True)
    for name in ("relu", "tanh", "sigmoid", "exp", "log", "sqrt", "abs", "sin", "cos"):
        rules[name] = _unary(name)
    rules["neg"] = rules["__neg__"] = rules["negative"] = (
        lambda r, x: r.gate("mul_c", r.of(x), const=-1.0))
    rules.update(sum=_reduction("sum"), mean=_reduction("mean"), softmax=_softmax("softmax"),
                 log_softmax=_softmax("log_softmax"), t=_transpose, T=_transpose,
                 transpose=_transpose, linear=_linear, cross_entropy=_cross_entropy,
                 mse_loss=_mse_loss, __getitem__=_getitem, conv2d=_conv2d,
                 max_pool2d=_pool("max_pool2d"), avg_pool2d=_pool("avg_pool2d"),
                 view=_reshape_rule, reshape=_reshape_rule, flatten=_flatten)
    return rules


_RULES = _rules()
"""Each torch function backviz draws, by name, and how: as gates of the operator table."""
