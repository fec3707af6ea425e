"""Expression text -> :class:`~backviz.graph.Graph`, without eval and without recursion.

The grammar (lowest precedence first)::

    expr    := expr ("+" | "-") term | term
    term    := term ("*" | "/" | "@") unary | unary
    unary   := ("-" | "+") unary | power
    power   := atom ("**" | "^") unary | atom          (right-associative)
    atom    := NUMBER | NAME | NAME "(" expr ("," expr)* ")" | "(" expr ")"

It is parsed with a shunting-yard loop over the tokens and explicit stacks, so a
100,000-term sum or 5,000 nested parentheses cost memory, never Python's recursion
limit. The graph mirrors what was typed: no reordering, no algebra. The only
rewriting is constant folding: a sub-expression without variables becomes a
number, and a binary operator with one constant operand becomes the unary gate that
carries it, as on the slides (``1+u`` is ``+1``, ``2*u`` is ``*2``, ``-u`` is ``*-1``).
"""

from __future__ import annotations

import difflib
import math
import re
from dataclasses import dataclass

import numpy as np

from .errors import ExpressionSyntaxError, ShapeError, UnknownFunctionError
from .graph import INPUT, Graph, collector_paused
from .ops import BINARY, FUNCTIONS, OPS, Op

__all__ = ["parse"]

# One match per token, with the whitespace before it: every character that is not
# whitespace is part of a token, if only a bad one. A name followed by "(" is a call:
# then the match's last group is "call" (the "(") and the group "name" holds the name.
# The most frequent tokens come first.
_TOKENS = re.compile(
    r"\s*(?:"
    r"(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?P<call>\s*\()?"
    r"|(?P<op>\*\*|[-+*/^@(),])"
    r"|(?P<number>(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?)"
    r"|(?P<bad>\S)"
    r"|(?P<end>\Z))",
)

# Binding power of the binary operators and of prefix minus/plus.
_PRECEDENCE = {"+": 1, "-": 1, "*": 2, "/": 2, "@": 2, "**": 4, "^": 4}
_UNARY = 3
_GATES = {symbol: op.name for symbol, op in BINARY.items()}
_RIGHT_ASSOCIATIVE = {"**", "^"}


@dataclass(slots=True)
class _Const:
    """A folded constant on the operand stack."""

    value: float
    column: int


# An operand is a node id or a folded constant.
_Operand = int | _Const


# The operator stack holds (precedence, kind, symbol, column) tuples; kind is
# "binary", "unary", "paren" or "call", symbol the operator, "(" or the function name.
# An operator arriving reduces the entries above it that bind at least as tightly;
# "(" and calls have precedence 0, so no operator reduces past them.
_Pending = tuple[int, str, str, int]


class _Builder:
    """Creates nodes in topological order, folding constants as it goes."""

    def __init__(self, expression: str) -> None:
        self.expression = expression
        # One plain tuple per node (op, inputs, name, const, column): cheaper to make
        # than a Node; graph() turns the rows into Graph's columns.
        self.rows: list[tuple[str, tuple[int, ...], str | None, float | None, int]] = []
        self.variables: dict[str, int] = {}

    def apply(self, op: Op, args: list[_Operand], column: int) -> _Operand:
        if _Const not in map(type, args):  # no constant operand: the gate itself
            return self.add(op.name, tuple(args), column)  # type: ignore[arg-type]
        nodes = [a for a in args if isinstance(a, int)]
        if not nodes:  # only constants: fold them into one
            return self._fold(op, [a.value for a in args if isinstance(a, _Const)], column)
        # A binary operator with one constant operand: the unary gate that carries it.
        left_const = isinstance(args[0], _Const)
        const, other = (args[0], args[1]) if left_const else (args[1], args[0])
        assert isinstance(const, _Const) and isinstance(other, int)
        gate = op.const_left if left_const else op.const_right
        if gate is None:
            raise ShapeError(
                f"'{self._symbol(op)}' needs a vector or matrix on both sides, "
                f"and {_show(const.value)} is a number",
                self.expression, const.column)
        return self.add(gate, (other,), column, const=const.value)

    def _fold(self, op: Op, values: list[float], column: int) -> _Const:
        try:
            with np.errstate(all="ignore"):
                # float64 like the engine: 1/0 is inf, not a Python ZeroDivisionError.
                result = np.asarray(op.forward(*map(np.float64, values)), dtype=np.float64)
        except (ValueError, TypeError):
            raise ShapeError(
                f"'{self._symbol(op)}' needs a vector or matrix on both sides, "
                "and both sides are numbers", self.expression, column) from None
        return _Const(float(result), column)

    def _symbol(self, op: Op) -> str:
        return next(s for s, o in BINARY.items() if o is op) if op.function is None else op.function

    def add(self, op: str, inputs: tuple[int, ...], column: int,
            name: str | None = None, const: float | None = None) -> int:
        self.rows.append((op, inputs, name, const, column))
        return len(self.rows) - 1

    def graph(self) -> Graph:
        ops, inputs, names, consts, columns = zip(*self.rows, strict=True)
        return Graph(self.expression, ops, inputs, names, consts, columns)


def _show(value: float) -> str:
    return f"{value:g}"


def _bad_character(char: str) -> str:
    if char in "[]{}":
        return (f"unexpected '{char}': vectors and matrices are given as values "
                "(e.g. --W '[[1,2],[3,4]]'), not written in the expression")
    if char in "'\"":
        return "unexpected quote: the expression language has no strings"
    if char == ".":
        return "unexpected '.': there is no attribute access; numbers are written 0.5 or .5"
    if char == "=":
        return "unexpected '=': write only the expression, e.g. (x+y)*z, and give values separately"
    return f"unexpected character {char!r}"


def parse(expression: str) -> Graph:
    """Parse an expression into a graph of gates.

    Raises :class:`~backviz.errors.BackvizError` subclasses whose message ends with the
    expression and a caret under the offending column.
    """
    if not isinstance(expression, str):
        raise ExpressionSyntaxError(
            f"the expression must be a string, not {type(expression).__name__}", "", 0)
    with collector_paused():
        return _parse(expression)


def _parse(expression: str) -> Graph:
    builder = _Builder(expression)
    operands: list[_Operand] = []
    pending: list[_Pending] = []
    arg_counts: list[int] = []  # for each open call, the arguments seen so far

    def fail(message: str, column: int) -> ExpressionSyntaxError:
        return ExpressionSyntaxError(message, expression, column)

    # The hot path adds inputs and the common gate (two gates' operator) to the rows itself.
    rows = builder.rows

    def reduce() -> None:
        """Pop the top operator (or finished call) and apply it to its operands."""
        _, kind, symbol, column = pending.pop()
        if kind == "binary":
            right = operands.pop()
            left = operands[-1]
            if type(left) is int and type(right) is int:  # the common case: two gates
                rows.append((_GATES[symbol], (left, right), None, None, column))
                operands[-1] = len(rows) - 1
            else:
                operands[-1] = builder.apply(BINARY[symbol], [left, right], column)
        elif kind == "unary":
            if symbol == "-":  # -u is the slides' gate *-1
                operands[-1] = builder.apply(OPS["mul"], [_Const(-1.0, column), operands[-1]],
                                             column)
        else:  # a call whose ")" has arrived
            n = arg_counts.pop()
            args = operands[len(operands) - n:]
            del operands[len(operands) - n:]
            operands.append(builder.apply(FUNCTIONS[symbol], args, column))

    variables = builder.variables
    expect_operand = True
    for match in _TOKENS.finditer(expression):
        kind = match.lastgroup or "bad"
        if expect_operand and kind == "name":  # the most frequent token: a variable
            node_id = variables.get(match[kind])
            if node_id is None:
                text, column = match[kind], match.start(kind)
                if text in FUNCTIONS:
                    raise fail(f"'{text}' is a function: call it as {text}(...)", column)
                rows.append((INPUT, (), text, None, column))  # each variable is one input
                node_id = variables[text] = len(rows) - 1
            operands.append(node_id)
            expect_operand = False
            continue
        text = match["name"] if kind == "call" else match[kind]
        column = match.start("name" if kind == "call" else kind)
        if kind == "bad":
            raise fail(_bad_character(text), column)
        if expect_operand:
            if kind == "number":
                value = float(text)
                if not math.isfinite(value):
                    raise fail(f"the number {text[:20]}{'...' if len(text) > 20 else ''} "
                               "is too large for a float64", column)
                operands.append(_Const(value, column))
                expect_operand = False
            elif kind == "call":
                if text not in FUNCTIONS:
                    raise UnknownFunctionError(_unknown_function(text), expression, column)
                pending.append((0, "call", text, column))
                arg_counts.append(1)
            elif text == "(":
                pending.append((0, "paren", "(", column))
            elif text in ("-", "+"):
                pending.append((_UNARY, "unary", text, column))
            elif kind == "end":
                raise fail("the expression is empty" if not expression.strip()
                           else "the expression ends too early: a value is missing", column)
            else:
                raise fail(f"expected a number, a variable, a function call or '(' "
                           f"before '{text}'", column)
            continue

        # After an operand: an operator, ')', ',' or the end.
        precedence = _PRECEDENCE.get(text) if kind == "op" else None
        if precedence is not None:
            # A right-associative operator does not reduce its own kind: 2**3**2 is 2**(3**2).
            if text in _RIGHT_ASSOCIATIVE:
                while pending and pending[-1][0] > precedence:
                    reduce()
            else:
                while pending and pending[-1][0] >= precedence:
                    reduce()
            pending.append((precedence, "binary", text, column))
            expect_operand = True
        elif text == ")" or text == ",":
            while pending and pending[-1][0] > 0:
                reduce()
            if not pending:
                raise fail("unmatched ')'" if text == ")" else "',' outside a function call", column)
            _, top_kind, symbol, _ = pending[-1]
            if text == ",":
                if top_kind != "call":
                    raise fail("',' outside a function call", column)
                if arg_counts[-1] >= FUNCTIONS[symbol].arity:
                    raise fail(_arity_message(symbol), column)
                arg_counts[-1] += 1
                expect_operand = True
            elif top_kind == "paren":
                pending.pop()
            else:
                if arg_counts[-1] != FUNCTIONS[symbol].arity:
                    raise fail(_arity_message(symbol), column)
                reduce()
        elif kind == "end":
            while pending:
                _, top_kind, symbol, top_column = pending[-1]
                if top_kind == "paren":
                    raise fail("this '(' is never closed", top_column)
                if top_kind == "call":
                    raise fail("this '(' is never closed", top_column + len(symbol))
                reduce()
            break
        elif text == "(":
            raise fail("expected an operator before '(': write * to multiply, e.g. 2*(x+y)", column)
        else:
            raise fail(f"expected an operator before '{text[:20]}': "
                       "write * to multiply, e.g. 2*x", column)

    result = operands.pop()
    if isinstance(result, _Const):
        raise fail("the expression has no variables, so there is no gradient to draw", 0)
    return builder.graph()


def _arity_message(function: str) -> str:
    n = FUNCTIONS[function].arity
    return f"{function}() takes {n} argument{'s' if n > 1 else ''}"


def _unknown_function(name: str) -> str:
    close = difflib.get_close_matches(name.lower(), list(FUNCTIONS), n=1, cutoff=0.5)
    hint = f"; did you mean {close[0]}?" if close else ""
    return f"unknown function '{name[:40]}'{hint} (known: {', '.join(sorted(FUNCTIONS))})"
