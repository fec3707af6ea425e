"""Program text -> :class:`~backviz.graph.Graph`, without eval and without recursion.

A program is statements separated by line breaks or ``;``; ``#`` starts a comment::

    program    := statement ((NEWLINE | ";") statement)*
    statement  := NAME "=" expr                     an intermediate, or an input's example value
                | NAME ("+=" | "-=" | "*=" | "/=" | "**=" | "@=") expr
                | NAME "(" NAME ("," NAME)* ")" "=" expr        a user gate
                | "import" ... | "from" ... "import" ...        math and numpy only, ignored
                | expr
    expr       := expr ("+" | "-") term | term
    term       := term ("*" | "/" | "@") unary | unary
    unary      := ("-" | "+") unary | power
    power      := postfix ("**" | "^") unary | postfix    (right-associative)
    postfix    := atom (".T" | "[" index ("," index)* "]")*
    atom       := NUMBER | NAME | NAME "(" expr ("," expr)* ("," NAME "=" INTEGER)? ")"
                | "(" expr ")"
    index      := INTEGER | [INTEGER] ":" [INTEGER] [":" [INTEGER]] | NAME | "arange(" INTEGER ")"

A lone expression is a one-statement program. The output is the value of the last
statement. A name assigned an expression without variables (``x = 3``, ``W = [[1, 2], [3,
4]]``) is an input with an example value; any other assignment names an intermediate, and
every later use of the name is the same node. Line breaks inside parentheses continue the
statement, as in Python, and ``math.exp``, ``np.exp`` and ``numpy.exp`` spell ``exp``: a
forward pass written in Python with these operations pastes as it is. Nothing is executed.

Expressions are parsed with a shunting-yard loop over the tokens and explicit stacks, so a
100,000-term sum or 5,000 nested parentheses cost memory, never Python's recursion limit.
The graph mirrors what was typed: no reordering, no algebra. The only rewriting is
constant folding: a sub-expression without variables becomes a number, and a binary
operator with one constant operand becomes the unary gate that carries it, as on the
slides (``1+u`` is ``+1``, ``2*u`` is ``*2``, ``-u`` is ``*-1``). A call of a user gate is
inlined: its body's gates, with the arguments in place of the parameters, remembered as a
:class:`~backviz.graph.Group`.
"""

from __future__ import annotations

import difflib
import math
import re
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from . import tokens as _tokens
from .errors import (
    ExpressionSyntaxError,
    InvalidIndexError,
    PositionedError,
    ShapeError,
    UnknownFunctionError,
)
from .graph import INPUT, Graph, Group, collector_paused
from .ops import BINARY, FUNCTIONS, OPS, OVERLOADS, Op

__all__ = ["MAX_BODY", "MAX_NODES", "parse"]

MAX_NODES = 1_000_000
"""A graph is refused above this many nodes: a user gate whose body calls another twice,
and so on, doubles with each definition, and 30 lines would make a billion."""
MAX_BODY = 10_000
"""A user gate's body (its calls of other gates included) has at most this many nodes."""
_END = ""  # the token after the last one
_NAME_START = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_")
_NUMBER_START = frozenset("0123456789.")
_PREFIXES = ("math.", "np.", "numpy.")
_CONSTANTS = {"pi": math.pi, "e": math.e}  # math.pi, np.e...: only with a prefix
_ARRAY = {"np.array", "numpy.array"}
_SEPARATORS = ("\n", ";")
_AUGMENTED = {"+=": "+", "-=": "-", "*=": "*", "/=": "/", "**=": "**", "@=": "@"}
_OPENING = frozenset("([")
_CONTINUES = frozenset(["+", "-", "*", "/", "@", "**", "^", ",", "=", *_AUGMENTED])
_CLOSING = frozenset(")]")

# Binding power of the binary operators and of prefix minus/plus.
_PRECEDENCE = {"+": 1, "-": 1, "*": 2, "/": 2, "@": 2, "**": 4, "^": 4}
_UNARY = 3
_RIGHT_ASSOCIATIVE = {"**", "^"}
_INTEGER = re.compile(r"[0-9]+")
_ARANGE = "arange"  # only inside an index: the row numbers of S[arange(N), y]


@dataclass(slots=True)
class _Const:
    """A folded constant on the operand stack, and the token it was written at."""

    value: float
    token: int


# An operand is a node id or a folded constant.
_Operand = int | _Const


@dataclass
class _Function:
    """A user gate: its parameters, and its body as a small graph to inline at each call."""

    name: str
    params: tuple[str, ...]
    body: _Builder
    result: _Operand
    token: int


class _Builder:
    """Creates nodes in topological order, folding constants as it goes.

    Positions are token indexes (the k-th token of the text): cheap to keep, and turned
    into columns only for a message, or by the graph when asked.
    """

    def __init__(self, text: str, tokens: list[str]) -> None:
        self.text = text
        self.tokens = tokens
        # One row per node: (op, inputs, name, const, at, first, last), the graph's fields;
        # ``at`` is the token the node is written at, ``first``..``last`` what it spans.
        self.rows: list[tuple[str, tuple[int, ...], str | None, Any, int, int, int]] = []
        self.groups: list[Group] = []

    def error(self, kind: type[PositionedError], message: str, token: int) -> PositionedError:
        return kind(message, self.text, _tokens.offsets(self.text)[token][0])

    def add(self, op: str, inputs: tuple[int, ...], at: int, first: int, last: int,
            name: str | None = None, const: Any = None) -> int:
        self.rows.append((op, inputs, name, const, at, first, last))
        return len(self.rows) - 1

    def rename(self, node: int, name: str) -> None:
        op, inputs, _, const, at, first, last = self.rows[node]
        self.rows[node] = (op, inputs, name, const, at, first, last)

    def apply(self, op: Op, args: list[_Operand], at: int, first: int, last: int,
              const: Any = None) -> _Operand:
        """The gate ``op`` on ``args``, or a constant when every argument is one.

        ``const`` is the constant or the parameter of a gate that carries one (``+1``, an
        axis, an index); an index gate's ``args`` are the array, then its index inputs.
        """
        if op.index_from is not None:
            x, *indices = args
            if indices:
                const, indices = self._index_inputs(const, indices, at)
            if isinstance(x, _Const):
                raise self.error(InvalidIndexError, "a number cannot be indexed", at)
            return self.add(op.name, (x, *indices), at, first, last,  # type: ignore[arg-type]
                            const=const)
        if _Const not in map(type, args):  # no constant operand: the gate itself
            return self.add(op.name, tuple(args), at, first, last, const=const)  # type: ignore[arg-type]
        if op.has_const:  # its one operand is a constant: fold it
            return self._fold(op, [args[0].value, const], at)  # type: ignore[union-attr]
        nodes = [a for a in args if isinstance(a, int)]
        if not nodes:  # only constants: fold them into one
            return self._fold(op, [a.value for a in args if isinstance(a, _Const)], at)
        # A binary operator with one constant operand: the unary gate that carries it.
        left_const = isinstance(args[0], _Const)
        constant, other = (args[0], args[1]) if left_const else (args[1], args[0])
        assert isinstance(constant, _Const) and isinstance(other, int)
        gate = op.const_left if left_const else op.const_right
        if gate is None:
            raise self.error(ShapeError,
                             f"'{_symbol(op)}' needs a vector or matrix on both sides, "
                             f"and {_show(constant.value)} is a number", constant.token)
        return self.add(gate, (other,), at, first, last, const=constant.value)

    def _fold(self, op: Op, values: list[float], at: int) -> _Const:
        try:
            with np.errstate(all="ignore"):
                # float64 like the engine: 1/0 is inf, not a Python ZeroDivisionError.
                args = [np.float64(v) for v in values[:op.arity]] + values[op.arity:]
                result = np.asarray(op.forward(*args), dtype=np.float64)
        except (ValueError, TypeError):
            raise self.error(ShapeError,
                             f"'{_symbol(op)}' needs a vector or matrix on both sides, "
                             "and both sides are numbers", at) from None
        return _Const(float(result), at)

    def _index_inputs(self, spec: Any, indices: list[_Operand], at: int
                      ) -> tuple[Any, list[_Operand]]:
        """An index whose inputs are known: in a user gate's call (pick(s, 2) or pick(s, k)
        for pick(v, i) = v[i]) a number goes into the index itself, and a variable is named
        as the caller wrote it ([k], not [i])."""
        given = iter(indices)
        items: list[Any] = []
        kept: list[_Operand] = []
        for item in spec:
            if isinstance(item, tuple) and item[0] == "input":
                value = next(given)
                if isinstance(value, _Const):
                    if not float(value.value).is_integer():
                        raise self.error(InvalidIndexError,
                                         f"the index {_show(value.value)} is not a whole number",
                                         at)
                    item = int(value.value)
                else:
                    _, _, name, _, _, first, last = self.rows[value]
                    item = ("input", name or "".join(self.tokens[first:last]))
                    kept.append(value)
            items.append(item)
        return tuple(items), kept

    def inline(self, function: _Function, args: list[_Operand], at: int, first: int,
               last: int) -> _Operand:
        """A call of a user gate: its body's gates, the arguments in place of its parameters."""
        body = function.body
        if len(self.rows) + len(body.rows) > MAX_NODES:
            raise self.error(ExpressionSyntaxError,
                             f"this call of {function.name} would make the graph larger than "
                             f"{MAX_NODES:,} nodes: each call copies the gate's body, and "
                             f"{function.name}'s has {len(body.rows):,}", at)
        start = len(self.rows)
        made: list[_Operand] = []
        for op_name, inputs, name, const, at_j, first_j, last_j in body.rows:
            if op_name == INPUT:
                made.append(args[function.params.index(name or "")])
                continue
            made.append(self.apply(OPS[op_name], [made[i] for i in inputs], at_j, first_j,
                                   last_j, const))
        # The body's own calls of other user gates: boxes inside this one. A call's gates
        # are made one after another, so a box is a range of ids, unless constants folded
        # some of them away.
        for inner in body.groups:
            low, high = made[inner.nodes[0]], made[inner.output]
            if (isinstance(low, int) and isinstance(high, int) and low >= start
                    and high - low == len(inner.nodes) - 1):
                nodes: Sequence[int] = range(low, high + 1)
            else:
                nodes = tuple(n for n in (made[i] for i in inner.nodes)
                              if isinstance(n, int) and n >= start)
            if nodes and made[inner.output] == nodes[-1]:
                self.groups.append(Group(inner.name, nodes, _ids(made[i] for i in inner.args),
                                         at, last))
        result = function.result if isinstance(function.result, _Const) \
            else made[function.result]
        if isinstance(result, int) and result >= start:
            self.groups.append(Group(function.name, range(start, len(self.rows)), _ids(args),
                                     at, last))
        return result


def _ids(operands: Any) -> tuple[int, ...]:
    return tuple(dict.fromkeys(a for a in operands if isinstance(a, int)))


def _symbol(op: Op) -> str:
    return next(s for s, o in BINARY.items() if o is op) if op.function is None else op.function


def _show(value: float) -> str:
    return f"{value:g}"


def _function_name(token: str) -> str:
    """``exp`` for ``exp``, ``math.exp``, ``np.exp`` and ``numpy.exp``."""
    return token.split(".", 1)[1] if token.startswith(_PREFIXES) else token


def _bad_character(char: str) -> str:
    if char in "[]{}":
        return (f"unexpected '{char}': vectors and matrices are given as values "
                "(e.g. --W '[[1,2],[3,4]]'), not written in the expression")
    if char in "'\"":
        return "unexpected quote: the expression language has no strings"
    if char == ".":
        return ("unexpected '.': the only attribute is .T (the transpose, W.T); numbers are "
                "written 0.5 or .5")
    if char == "=":
        return ("unexpected '=': an assignment is a statement of its own (q = x + y), "
                "on its own line or after ';'")
    if char in _LOOKALIKES:
        return f"unexpected character {char!r}: write {_LOOKALIKES[char]}"
    if char.isalpha():
        return (f"unexpected character {char!r}: names are ASCII letters, digits and _ "
                f"(e.g. {unicodedata.name(char, 'x').split()[-1].lower()})")
    return f"unexpected character {char!r}"


# Characters from typeset formulas, and what the expression language writes for them.
_LOOKALIKES = {"×": "*", "·": "*", "⋅": "*", "∗": "*", "−": "- (an ASCII hyphen)", "–": "-",
               "÷": "/", "²": "**2", "³": "**3", "√": "sqrt(...)", "σ": "sigmoid(...)",
               "Σ": "sum(...)", "∑": "sum(...)"}


def parse(expression: str) -> Graph:
    """Parse an expression or a program into a graph of gates.

    Raises :class:`~backviz.errors.BackvizError` subclasses whose message ends with the
    source line and a caret under the offending column.
    """
    if not isinstance(expression, str):
        raise ExpressionSyntaxError(
            f"the expression must be a string, not {type(expression).__name__}", "", 0)
    with collector_paused():
        return _Program(expression).parse()


@dataclass
class _Statement:
    first: int  # its tokens are first .. last - 1
    last: int


class _Program:
    """The statements of a program, read one after another into one builder."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = _tokens.split(text)
        self.tokens.append(_END)
        self.builder = _Builder(text, self.tokens)
        self.scope: dict[str, int] = {}  # every name, and the node it names now
        self.functions: dict[str, _Function] = {}
        self.defaults: dict[str, Any] = {}
        self.warnings: list[str] = []
        self.assigned_at: dict[str, int] = {}  # each name's first assignment (its token)
        self.defined_at: dict[str, int] = {}  # each user gate's definition (its token)
        self._offsets: list[tuple[int, int]] | None = None

    def fail(self, message: str, token: int, kind: type[PositionedError] = ExpressionSyntaxError
             ) -> PositionedError:
        return self.builder.error(kind, message, token)

    def place(self, token: int) -> str:
        """``line 3`` (or ``column 12`` in a one-line program): where a token is."""
        if self._offsets is None:
            self._offsets = _tokens.offsets(self.text)
        offset = self._offsets[token][0]
        if "\n" not in self.text:
            return f"column {offset + 1}"
        return f"line {self.text.count(chr(10), 0, offset) + 1}"

    # --- statements ------------------------------------------------------------------

    def statements(self) -> list[_Statement]:
        """Cut the tokens at line breaks and ';' outside brackets; drop empty statements."""
        tokens = self.tokens
        if "\n" not in tokens and ";" not in tokens:  # an expression: one statement
            return [_Statement(0, len(tokens) - 1)] if len(tokens) > 1 else []
        out, depth, first = [], 0, 0
        for k, token in enumerate(tokens):
            if token in _OPENING:
                depth += 1
            elif token in _CLOSING:
                depth = max(0, depth - 1)
            elif (token in _SEPARATORS and depth == 0) or token is _END:
                if token == "\n" and k > first and tokens[k - 1] in _CONTINUES:
                    continue  # a line that ends in an operator goes on: "(x+y) *" and "z"
                if k > first:
                    out.append(_Statement(first, k))
                first = k + 1
        return out

    def parse(self) -> Graph:
        statements = self.statements()
        if not statements:
            message = ("the expression is empty" if not self.text.strip() else
                       "there is nothing to compute: the program has only comments")
            raise ExpressionSyntaxError(message, self.text, 0)
        for s in statements:  # know every assigned name, to say where one is assigned
            name = self.tokens[s.first]
            if self._is_definition(s):
                self.defined_at.setdefault(name, s.first)
            elif self.tokens[s.first + 1] == "=" or self.tokens[s.first + 1] in _AUGMENTED:
                self.assigned_at.setdefault(name, s.first)
        output: _Operand | None = None
        for s in statements:
            output = self.statement(s, last=s is statements[-1])
        if isinstance(output, _Const) or output is None:
            raise self.fail("the expression has no variables, so there is no gradient to draw", 0)
        # A lone expression is a tree whose root is the output: every node is used by it.
        return self.graph(output, every_node_used=len(statements) == 1)

    def _is_definition(self, s: _Statement) -> bool:
        tokens = self.tokens
        if tokens[s.first][:1] not in _NAME_START or tokens[s.first + 1] != "(":
            return False
        depth = 0
        for k in range(s.first + 1, s.last):
            depth += (tokens[k] == "(") - (tokens[k] == ")")
            if depth == 0:
                return tokens[k + 1] == "="
        return False

    def statement(self, s: _Statement, last: bool) -> _Operand | None:
        tokens = self.tokens
        head, second = tokens[s.first], tokens[s.first + 1]
        if head in ("import", "from"):
            self.imports(s)
            return None
        if self._is_definition(s):
            self.define(s)
            if last:
                raise self.fail("the program ends with a user gate's definition: its last "
                                "statement must give the output", s.first)
            return None
        if head[:1] in _NAME_START and (second == "=" or second in _AUGMENTED):
            return self.assign(s, head, second)
        value = self.expression(s.first, s.last)
        if not last and isinstance(value, int):
            self.warnings.append(f"{self.place(s.first)}: the value of this statement is not "
                                 "used (the output is the last statement)")
        return value

    def imports(self, s: _Statement) -> None:
        modules = {self.tokens[k] for k in range(s.first + 1, s.last)} & {"math", "numpy"}
        if not modules:
            raise self.fail("only math and numpy can be imported (backviz knows their "
                            "functions; the import itself changes nothing)", s.first)

    def assign(self, s: _Statement, name: str, sign: str) -> _Operand:
        tokens, builder = self.tokens, self.builder
        if _function_name(name) in FUNCTIONS or name in self.functions or "." in name:
            what = "a function of backviz" if _function_name(name) in FUNCTIONS \
                else "a user gate" if name in self.functions else "not a name"
            raise self.fail(f"'{name}' is {what}, and cannot be assigned a value", s.first)
        rhs = s.first + 2
        if rhs >= s.last:
            raise self.fail(f"nothing after '{sign}': write a value or an expression", rhs)
        if sign in _AUGMENTED:
            if name not in self.scope:
                raise self.fail(f"'{name} {sign} ...' needs a value of {name} first: "
                                f"assign it before (e.g. {name} = 0)", s.first)
            value = self.expression(rhs, s.last)
            # c += e is c = c + (e): one gate, written where the statement is.
            result = builder.apply(BINARY[_AUGMENTED[sign]], [self.scope[name], value],
                                   s.first + 1, s.first, s.last)
            return self.bind(name, result, s.first)
        if tokens[rhs] == "[" or (tokens[rhs] in _ARRAY and tokens[rhs + 1] == "("):
            return self.example(name, self.literal(rhs, s.last), s.first)
        value = self.expression(rhs, s.last)
        if isinstance(value, _Const):
            return self.example(name, np.float64(value.value), s.first)
        return self.bind(name, value, s.first)

    def example(self, name: str, value: Any, token: int) -> int:
        """``x = 3``: the input x, with 3 as its example value."""
        if name in self.scope:
            raise self.fail(f"{name} already names a value: an input is given its example "
                            "value once, before it is used", token)
        self.defaults[name] = value
        node = self.builder.add(INPUT, (), token, token, token + 1, name=name)
        self.scope[name] = node
        return node

    def bind(self, name: str, value: _Operand, token: int) -> _Operand:
        if isinstance(value, int):
            builder = self.builder
            op, _, current, *_ = builder.rows[value]
            if current is None and op != INPUT:
                builder.rename(value, name)
            self.scope[name] = value
        return value

    def literal(self, first: int, last: int) -> np.ndarray:
        """A list of numbers, nested for a matrix: ``[[0.1, 0.5], [-0.3, 0.8]]``, or the
        same in ``np.array(...)``."""
        tokens = self.tokens
        if tokens[first] in _ARRAY:
            if tokens[last - 1] != ")":
                raise self.fail("np.array(...) is never closed", first + 1)
            first, last = first + 2, last - 1
        stack: list[list[Any]] = []
        result: list[Any] | None = None
        k = first
        expect_item = True
        while k < last:
            token = tokens[k]
            if token == "[" and expect_item:
                stack.append([])
            elif token == "]" and stack:
                done = stack.pop()
                if stack:
                    stack[-1].append(done)
                else:
                    result = done
                    if k + 1 < last:
                        raise self.fail("expected the end of the statement after ']'", k + 1)
                expect_item = False
            elif token == "," and stack and not expect_item:
                expect_item = True
            elif expect_item and stack and (token[:1] in _NUMBER_START or token in "-+"):
                sign = -1.0 if token == "-" else 1.0
                if token in "-+":
                    k += 1
                    token = tokens[k]
                if token[:1] not in _NUMBER_START or token == ".":
                    raise self.fail("a list of example values holds only numbers", k)
                stack[-1].append(sign * float(token))
                expect_item = False
            else:
                raise self.fail("a list of example values holds only numbers, e.g. "
                                "W = [[0.1, 0.5], [-0.3, 0.8]]", k)
            k += 1
        if result is None:
            raise self.fail("this '[' is never closed", first)
        try:
            array = np.array(result, dtype=np.float64)
        except ValueError:
            raise self.fail("the rows of this matrix have different lengths", first) from None
        if array.ndim > 2 or array.size == 0:
            raise self.fail("an example value is a number, a vector or a matrix", first)
        return array

    def define(self, s: _Statement) -> None:
        """``sig(u) = 1/(1+exp(-u))``: a user gate, parsed once into a small graph."""
        tokens = self.tokens
        name = tokens[s.first]
        if _function_name(name) in FUNCTIONS or "." in name:
            raise self.fail(f"'{name}' is a function of backviz; give your gate another name",
                            s.first)
        if name in self.functions:
            raise self.fail(f"the gate {name} is defined twice (first at "
                            f"{self.place(self.functions[name].token)})", s.first)
        if name in self.scope:
            raise self.fail(f"'{name}' already names a value, and cannot also name a gate",
                            s.first)
        params: list[str] = []
        k = s.first + 2
        while tokens[k] != ")":
            param = tokens[k]
            if param[:1] not in _NAME_START or "." in param:
                raise self.fail("a user gate's parameters are names: sig(u) = ...", k)
            if param in params:
                raise self.fail(f"the parameter {param} is written twice", k)
            params.append(param)
            k += 1
            if tokens[k] == ",":
                k += 1
            elif tokens[k] != ")":
                raise self.fail("expected ',' or ')' between parameters", k)
        if not params:
            raise self.fail(f"the gate {name} needs at least one parameter", k)
        body = _Builder(self.text, tokens)
        scope = {p: body.add(INPUT, (), s.first, s.first, s.first + 1, name=p) for p in params}
        start = k + 2
        if start >= s.last:
            raise self.fail(f"nothing after '=': write the body of {name}", start)
        result = self.expression(start, s.last, builder=body, scope=scope, defining=name)
        used = {i for row in body.rows for i in row[1]} | {result if isinstance(result, int) else -1}
        for p in params:
            if scope[p] not in used:
                self.warnings.append(f"{self.place(s.first)}: the parameter {p} of {name} is "
                                     "not used by its body")
        if len(body.rows) > MAX_BODY:
            raise self.fail(f"the body of {name} makes {len(body.rows):,} nodes, more than the "
                            f"{MAX_BODY:,} a user gate may have (its calls of other gates are "
                            "copies of their bodies)", s.first)
        self.functions[name] = _Function(name, tuple(params), body, result, s.first)

    # --- expressions -----------------------------------------------------------------

    def expression(self, first: int, last: int, builder: _Builder | None = None,
                   scope: dict[str, int] | None = None, defining: str | None = None
                   ) -> _Operand:
        """Parse tokens ``first`` .. ``last - 1`` as one expression: a node, or a constant.

        In a user gate's body (``defining`` its name), ``scope`` holds only the parameters.
        """
        builder = builder or self.builder
        in_body = scope is not None
        scope = self.scope if scope is None else scope
        tokens = self.tokens
        # Operands with the tokens each was written as; pending operators as
        # (precedence, kind, symbol, token) with kind "binary", "unary", "paren" or "call".
        operands: list[_Operand] = []
        firsts: list[int] = []
        lasts: list[int] = []
        pending: list[tuple[int, str, str, int]] = []
        arg_counts: list[int] = []  # for each open call, the arguments seen so far
        # and its keyword argument, if any: (name, value, token), e.g. ("axis", 1, k)
        keywords: list[tuple[str, int, int] | None] = []

        def fail(message: str, token: int) -> PositionedError:
            return self.fail(message, token)

        def reduce() -> None:
            """Pop the top operator (or finished call) and apply it to its operands."""
            _, kind, symbol, token = pending.pop()
            if kind == "binary":
                right, end = operands.pop(), lasts.pop()
                firsts.pop()
                left, op = operands[-1], BINARY[symbol]
                if type(left) is int and type(right) is int:  # two gates: nothing to fold
                    operands[-1] = builder.add(op.name, (left, right), token, firsts[-1], end)
                else:
                    operands[-1] = builder.apply(op, [left, right], token, firsts[-1], end)
                lasts[-1] = end
            elif kind == "unary":
                if symbol == "-":  # -u is the slides' gate *-1
                    operands[-1] = builder.apply(OPS["mul"], [_Const(-1.0, token), operands[-1]],
                                                 token, token, lasts[-1])
                firsts[-1] = token
            else:  # a call whose ")" has arrived
                n = arg_counts.pop()
                keyword = keywords.pop()
                args = operands[len(operands) - n:]
                end = lasts[-1] + 1  # its ")"
                del operands[len(operands) - n:], firsts[len(firsts) - n:], lasts[len(lasts) - n:]
                function = self.functions.get(symbol)
                if function is not None:
                    value = builder.inline(function, args, token, token, end)
                else:
                    # max(a, b) or max(X): the overload with this many arguments
                    op = next(op for op in OVERLOADS[_function_name(symbol)] if op.arity == n)
                    param = None
                    if keyword is not None:
                        name, param, at = keyword
                        if op.keyword != name:
                            raise fail(f"{symbol}() with {n} argument{'s' if n > 1 else ''} "
                                       f"takes no keyword {name}=", at)
                    value = builder.apply(op, args, token, token, end, param)
                operands.append(value)
                firsts.append(token)
                lasts.append(end)

        def arities(symbol: str) -> tuple[int, ...]:
            """How many arguments a call may have: max(a, b) and max(X)."""
            function = self.functions.get(symbol)
            if function:
                return (len(function.params),)
            return tuple(sorted(op.arity for op in OVERLOADS[_function_name(symbol)]))

        def index_input(token: str, j: int) -> int:
            """The node of a name used as an index (y in s[y]), made if it is new."""
            node = scope.get(token)
            if node is not None:
                return node
            made = self.name(token, j, builder, scope, in_body, defining)
            assert isinstance(made, int)
            return made

        expect_operand = True
        positions = iter(range(first, last))
        for k in positions:
            token = tokens[k]
            if expect_operand:
                node_id = scope.get(token)  # the most frequent token: a name seen before
                if node_id is not None and tokens[k + 1] != "(":
                    operands.append(node_id)
                    firsts.append(k)
                    lasts.append(k + 1)
                    expect_operand = False
                elif token[:1] in _NAME_START:
                    if tokens[k + 1] == "(":  # a call
                        self.check_call(token, k, defining)
                        pending.append((0, "call", token, k))
                        arg_counts.append(1)
                        keywords.append(None)
                        next(positions)  # its "("
                        continue
                    operands.append(self.name(token, k, builder, scope, in_body, defining))
                    firsts.append(k)
                    lasts.append(k + 1)
                    expect_operand = False
                elif token == "(":
                    pending.append((0, "paren", "(", k))
                elif token == "-" or token == "+":
                    pending.append((_UNARY, "unary", token, k))
                elif token[:1] in _NUMBER_START and token != ".":
                    value = float(token)
                    if not math.isfinite(value):
                        raise fail(f"the number {token[:20]}{'...' if len(token) > 20 else ''} "
                                   "is too large for a float64", k)
                    operands.append(_Const(value, k))
                    firsts.append(k)
                    lasts.append(k + 1)
                    expect_operand = False
                elif token in _PRECEDENCE or token in (")", ","):
                    raise fail(f"expected a number, a variable, a function call or '(' "
                               f"before '{token}'", k)
                elif token != "\n":  # a line break inside brackets continues the statement
                    raise fail(_bad_character(token), k)
                continue

            # After an operand: an operator, ')', ',' or the end.
            precedence = _PRECEDENCE.get(token)
            if precedence is not None:
                # A right-associative operator does not reduce its own kind: 2**3**2 is 2**(3**2).
                if token in _RIGHT_ASSOCIATIVE:
                    while pending and pending[-1][0] > precedence:
                        reduce()
                else:
                    while pending and pending[-1][0] >= precedence:
                        reduce()
                pending.append((precedence, "binary", token, k))
                expect_operand = True
            elif token == ")" or token == ",":
                while pending and pending[-1][0] > 0:
                    reduce()
                if not pending:
                    raise fail("unmatched ')'" if token == ")" else "',' outside a function call",
                               k)
                _, top_kind, symbol, open_token = pending[-1]
                if token == ",":
                    if top_kind != "call":
                        raise fail("',' outside a function call", k)
                    if keywords[-1] is not None:
                        raise fail(f"{keywords[-1][0]}= comes last in a call", k)
                    if tokens[k + 1][:1] in _NAME_START and tokens[k + 2] == "=" \
                            and symbol not in self.functions:
                        keywords[-1], value_at = self.keyword(k + 1, _function_name(symbol))
                        for _ in range(value_at - k):
                            next(positions)  # the name, "=" and the value: its ")" comes next
                        continue
                    if arg_counts[-1] >= arities(symbol)[-1]:
                        raise fail(_arity_message(symbol, arities(symbol)), k)
                    arg_counts[-1] += 1
                    expect_operand = True
                elif top_kind == "paren":
                    pending.pop()
                    firsts[-1], lasts[-1] = open_token, k + 1  # (x+y) is written with its brackets
                else:
                    if arg_counts[-1] not in arities(symbol):
                        raise fail(_arity_message(symbol, arities(symbol)), k)
                    lasts[-1] = k  # reduce() counts the ")" in
                    reduce()
            elif token == "." and tokens[k + 1] == "T":  # W.T: the transpose, binding tightest
                operands[-1] = builder.apply(OPS["transpose"], [operands[-1]], k, firsts[-1],
                                             k + 2)
                lasts[-1] = k + 2
                next(positions)  # its T
            elif token == "[":  # an index after a value: s[y], X[:, 0], S[arange(4), y]
                spec, index_inputs, end = self.index(k, index_input)
                operands[-1] = builder.apply(OPS["index"], [operands[-1], *index_inputs], k,
                                             firsts[-1], end + 1, spec)
                lasts[-1] = end + 1
                for _ in range(end - k):
                    next(positions)  # up to its "]"
            elif token == "(":
                if tokens[k - 1][:1] in _NAME_START:  # a variable seen before, called: y(x)
                    raise self.fail(_unknown_function(tokens[k - 1], self.functions), k - 1,
                                    UnknownFunctionError)
                raise fail("expected an operator before '(': write * to multiply, e.g. 2*(x+y)",
                           k)
            elif token == "=" or token in _AUGMENTED:
                raise fail(_bad_character("="), k)
            elif token[:1] in _NAME_START or (token[:1] in _NUMBER_START and token != "."):
                raise fail(f"expected an operator before '{token[:20]}': "
                           "write * to multiply, e.g. 2*x", k)
            elif token != "\n":  # a line break inside brackets continues the statement
                raise fail(_bad_character(token), k)

        # The end of the statement.
        if expect_operand:
            raise fail("the expression ends too early: a value is missing" if operands or pending
                       else "the expression is empty", last)
        while pending:
            _, top_kind, symbol, top_token = pending[-1]
            if top_kind == "paren":
                raise fail("this '(' is never closed", top_token)
            if top_kind == "call":
                raise fail("this '(' is never closed", top_token + 1)
            reduce()
        return operands[-1]

    def keyword(self, k: int, function: str) -> tuple[tuple[str, int, int], int]:
        """``axis=1`` at token k of a call: (name, value, token of the name), and the token
        of the value."""
        tokens = self.tokens
        name = tokens[k]
        if all(op.keyword != name for op in OVERLOADS[function]):
            takes = [op.keyword for op in OVERLOADS[function] if op.keyword]
            raise self.fail(f"{function}() takes no keyword {name}="
                            + (f" (it takes {takes[0]}=)" if takes else ""), k)
        value, after = _integer(tokens, k + 2)
        if value is None:
            raise self.fail(f"{name}= takes a whole number, such as {name}=0 or {name}=-1", k + 2)
        if tokens[after] != ")":
            raise self.fail(f"{name}= comes last in a call: expected ')'" if tokens[after]
                            else "the call is never closed: expected ')'", after)
        return (name, value, k), after - 1

    def index(self, k: int, index_input: Callable[[str, int], int]
              ) -> tuple[tuple[Any, ...], list[int], int]:
        """The index that opens at token k ("["): its spec, its index inputs' nodes, and the
        token of its "]"."""
        tokens = self.tokens
        items: list[Any] = []
        index_inputs: list[int] = []
        j = k + 1
        while True:
            token = tokens[j]
            value, after = _integer(tokens, j)
            if tokens[after] == ":" or (value is None and token == ":"):  # a slice
                bounds: list[int | None] = [value]
                j = after
                while tokens[j] == ":" and len(bounds) < 3:
                    bound, j = _integer(tokens, j + 1)
                    bounds.append(bound)
                items.append(("slice", *bounds, *[None] * (3 - len(bounds))))
            elif value is not None:
                items.append(value)
                j = after
            elif token == _ARANGE and tokens[j + 1] == "(":
                n, after = _integer(tokens, j + 2)
                if n is None or n <= 0 or tokens[after] != ")":
                    raise self.fail("arange(n) takes one positive whole number, the number of "
                                    "rows", j)
                items.append(("arange", n))
                j = after + 1
            elif (token[:1] in _NAME_START and "." not in token and tokens[j + 1] != "("
                  and token not in FUNCTIONS and token not in self.functions):
                items.append(("input", token))
                index_inputs.append(index_input(token, j))
                j += 1
            elif token[:1] in _NUMBER_START and token != ".":
                raise self.fail(f"the index {token[:20]} is not a whole number", k,
                                InvalidIndexError)
            elif not token:
                raise self.fail("this '[' is never closed", k)
            else:
                raise self.fail(f"unexpected {token!r} in an index: {_INDEX_FORMS}", j)
            if tokens[j] == "]":
                return tuple(items), index_inputs, j
            if tokens[j] != ",":
                raise self.fail(f"expected ',' or ']' in the index ({_INDEX_FORMS})"
                                if tokens[j] else "this '[' is never closed",
                                j if tokens[j] else k)
            j += 1

    def check_call(self, token: str, k: int, defining: str | None) -> None:
        """A name called as a function must be a known function or an earlier user gate."""
        if token == _ARANGE and token not in self.functions:
            raise self.fail("arange(n) is only for indexing: it gives the row numbers of "
                            "S[arange(N), y]", k)
        if token == defining:
            raise self.fail(f"the gate {token} calls itself: a user gate's body may call "
                            "only functions and gates defined before it", k)
        if token in self.functions or _function_name(token) in FUNCTIONS:
            return
        if self.defined_at.get(token, -1) > k:
            raise self.fail(f"the gate {token} is used before it is defined (at "
                            f"{self.place(self.defined_at[token])})", k, UnknownFunctionError)
        raise self.fail(_unknown_function(token, self.functions), k, UnknownFunctionError)

    def name(self, token: str, k: int, builder: _Builder, scope: dict[str, int], in_body: bool,
             defining: str | None) -> _Operand:
        """A name in an expression that does not name a value yet."""
        if token.startswith(_PREFIXES):
            constant = _CONSTANTS.get(_function_name(token))
            if constant is not None:
                return _Const(constant, k)
            if _function_name(token) in FUNCTIONS:
                raise self.fail(f"'{token}' is a function: call it as {token}(...)", k)
            raise self.fail(f"unknown name '{token[:40]}': of math and numpy, backviz knows "
                            "the functions it lists and pi and e", k, UnknownFunctionError)
        if token in FUNCTIONS or token in self.functions:
            raise self.fail(f"'{token}' is a function: call it as {token}(...)", k)
        if in_body:
            params = ", ".join(row[2] or "" for row in builder.rows if row[0] == INPUT)
            raise self.fail(f"the body of {defining} uses {token}, which is not one of its "
                            f"parameters ({params})", k)
        if token in self.assigned_at:
            raise self.fail(f"{token} is used before it is assigned (it is assigned at "
                            f"{self.place(self.assigned_at[token])})", k)
        node = scope[token] = builder.add(INPUT, (), k, k, k + 1, name=token)
        return node

    # --- the graph ---------------------------------------------------------------------

    def graph(self, output: int, every_node_used: bool = False) -> Graph:
        """The graph of what the output depends on; statements it does not use are left out."""
        rows = self.builder.rows
        alive = [every_node_used] * (output + 1)
        alive[output] = True
        for i in range(output, -1, -1) if not every_node_used else ():
            if alive[i]:
                for j in rows[i][1]:
                    alive[j] = True
        kept = range(output + 1) if every_node_used else [i for i in range(output + 1)
                                                           if alive[i]]
        for i, (op, _, name, _, _, first, _) in enumerate([] if every_node_used else rows):
            if name is None or (i <= output and alive[i]):
                continue
            if op != INPUT:
                self.warnings.append(f"{self.place(first)}: {name} is assigned, but the "
                                     "output does not use it")
            elif name in self.defaults:
                self.warnings.append(f"{self.place(first)}: {name} is given an example "
                                     "value, but the output does not use it")
        groups = self.builder.groups
        bindings = {name: node for name, node in self.scope.items() if node <= output}
        if len(kept) < len(rows):  # number the nodes that are left, in the same order
            new = {old: k for k, old in enumerate(kept)}
            rows = [(op, tuple(new[j] for j in inputs), *rest)
                    for op, inputs, *rest in (rows[i] for i in kept)]
            groups = [Group(g.name, tuple(new[i] for i in g.nodes if i in new),
                            tuple(new[i] for i in g.args if i in new), g.token, g.last)
                      for g in groups if g.output in new]
            bindings = {name: new[node] for name, node in bindings.items() if node in new}
        ops, inputs, names, consts, at, firsts, lasts = zip(*rows, strict=True)
        defaults = {name: value for name, value in self.defaults.items()
                    if name in {n for op, n in zip(ops, names, strict=True) if op == INPUT}}
        return Graph(self.text, ops, inputs, names, consts, at, firsts, lasts, defaults,
                     tuple(groups), bindings, tuple(self.warnings))


def _arity_message(function: str, arities: tuple[int, ...]) -> str:
    n = " or ".join(map(str, arities))
    return f"{function}() takes {n} argument{'s' if arities[-1] > 1 else ''}"


def _integer(tokens: list[str], k: int) -> tuple[int | None, int]:
    """An integer written at token k (``2``, ``-1``), and the token after it; None if none."""
    sign, j = (-1, k + 1) if tokens[k] == "-" else (1, k)
    if _INTEGER.fullmatch(tokens[j]):
        return sign * int(tokens[j]), j + 1
    return None, k


_INDEX_FORMS = "an index is a whole number (2, -1), a slice (1:3, :), a variable or arange(n)"


def _unknown_function(name: str, functions: dict[str, _Function]) -> str:
    known = sorted({*FUNCTIONS, *functions})
    close = difflib.get_close_matches(_function_name(name).lower(), known, n=1, cutoff=0.5)
    hint = f"; did you mean {close[0]}?" if close else ""
    return f"unknown function '{name[:40]}'{hint} (known: {', '.join(known)})"
