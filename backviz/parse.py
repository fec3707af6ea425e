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
from .graph import INPUT, Graph, Node
from .ops import BINARY, FUNCTIONS, OPS, Op

__all__ = ["parse"]

# One match per token, with the whitespace before it: every character that is not
# whitespace is part of a token, if only a bad one.
_TOKENS = re.compile(
    r"\s*(?:"
    r"(?P<number>(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?)"
    r"|(?P<name>[A-Za-z_][A-Za-z0-9_]*)"
    r"|(?P<op>\*\*|[-+*/^@(),])"
    r"|(?P<bad>\S))",
)

# Binding power of the binary operators and of prefix minus/plus.
_PRECEDENCE = {"+": 1, "-": 1, "*": 2, "/": 2, "@": 2, "**": 4, "^": 4}
_UNARY = 3
_RIGHT_ASSOCIATIVE = {"**", "^"}


@dataclass(slots=True)
class _Const:
    """A folded constant on the operand stack."""

    value: float
    column: int


# An operand is a node id or a folded constant.
_Operand = int | _Const


@dataclass(slots=True)
class _Pending:
    """An operator, parenthesis or function call waiting on the operator stack."""

    kind: str  # "binary", "unary", "paren" or "call"
    symbol: str  # the operator, "(" or the function name
    column: int
    op: Op | None = None
    args: int = 0
    # Binding power: an operator arriving reduces the operators above it that bind at
    # least as tightly. 0 for "(" and calls, which no operator reduces past.
    precedence: int = 0


class _Builder:
    """Creates nodes in topological order, folding constants as it goes."""

    def __init__(self, expression: str) -> None:
        self.expression = expression
        self.nodes: list[Node] = []
        self.variables: dict[str, int] = {}

    def variable(self, name: str, column: int) -> int:
        node_id = self.variables.get(name)
        if node_id is None:
            node_id = self._add(INPUT, (), column, name=name)
            self.variables[name] = node_id
        return node_id

    def apply(self, op: Op, args: list[_Operand], column: int) -> _Operand:
        if _Const not in map(type, args):  # no constant operand: the gate itself
            return self._add(op.name, tuple(args), column)  # type: ignore[arg-type]
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
        return self._add(gate, (other,), column, const=const.value)

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

    def _add(self, op: str, inputs: tuple[int, ...], column: int,
             name: str | None = None, const: float | None = None) -> int:
        node_id = len(self.nodes)
        self.nodes.append(Node(node_id, op, inputs, name, const, column))
        return node_id


def _show(value: float) -> str:
    return f"{value:g}"


def _tokenize(expression: str) -> list[tuple[str, str, int]]:
    """The tokens as (kind, text, column), ending with ("end", "", len)."""
    tokens = []
    for match in _TOKENS.finditer(expression):
        kind = match.lastgroup or "bad"
        if kind == "bad":
            raise ExpressionSyntaxError(_bad_character(match[kind]), expression, match.start(kind))
        tokens.append((kind, match[kind], match.start(kind)))
    tokens.append(("end", "", len(expression)))
    return tokens


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
    tokens = _tokenize(expression)
    builder = _Builder(expression)
    operands: list[_Operand] = []
    pending: list[_Pending] = []

    def fail(message: str, column: int) -> ExpressionSyntaxError:
        return ExpressionSyntaxError(message, expression, column)

    def reduce() -> None:
        top = pending.pop()
        if top.kind == "unary":
            operand = operands.pop()
            if top.symbol == "-":  # -u is the slides' gate *-1
                operand = builder.apply(OPS["mul"], [_Const(-1.0, top.column), operand], top.column)
            operands.append(operand)
            return
        assert top.op is not None
        if top.kind == "binary":
            right = operands.pop()
            left = operands.pop()
            operands.append(builder.apply(top.op, [left, right], top.column))
        else:  # a finished function call
            args = operands[len(operands) - top.args:]
            del operands[len(operands) - top.args:]
            operands.append(builder.apply(top.op, args, top.column))

    expect_operand = True
    i = 0
    while True:
        kind, text, column = tokens[i]
        i += 1
        if expect_operand:
            if kind == "number":
                value = float(text)
                if not math.isfinite(value):
                    raise fail(f"the number {text[:20]}{'...' if len(text) > 20 else ''} "
                               "is too large for a float64", column)
                operands.append(_Const(value, column))
                expect_operand = False
            elif kind == "name":
                if tokens[i][1] == "(":
                    op = FUNCTIONS.get(text)
                    if op is None:
                        raise UnknownFunctionError(_unknown_function(text), expression, column)
                    pending.append(_Pending("call", text, column, op, 1))
                    i += 1
                elif text in FUNCTIONS:
                    raise fail(f"'{text}' is a function: call it as {text}(...)", column)
                else:
                    operands.append(builder.variable(text, column))
                    expect_operand = False
            elif text == "(":
                pending.append(_Pending("paren", "(", column))
            elif text in ("-", "+"):
                pending.append(_Pending("unary", text, column, precedence=_UNARY))
            elif kind == "end":
                raise fail("the expression is empty" if not expression.strip()
                           else "the expression ends too early: a value is missing", column)
            else:
                raise fail(f"expected a number, a variable, a function call or '(' "
                           f"before '{text}'", column)
            continue

        # After an operand: an operator, ')', ',' or the end.
        if kind == "op" and text in _PRECEDENCE:
            precedence = _PRECEDENCE[text]
            # A right-associative operator does not reduce its own kind: 2**3**2 is 2**(3**2).
            reduce_equal = text not in _RIGHT_ASSOCIATIVE
            while pending and (pending[-1].precedence > precedence
                               or (pending[-1].precedence == precedence and reduce_equal)):
                reduce()
            pending.append(_Pending("binary", text, column, BINARY[text], precedence=precedence))
            expect_operand = True
        elif text == ")" or text == ",":
            while pending and pending[-1].kind in ("binary", "unary"):
                reduce()
            if not pending:
                raise fail("unmatched ')'" if text == ")" else "',' outside a function call", column)
            top = pending[-1]
            if text == ",":
                if top.kind != "call":
                    raise fail("',' outside a function call", column)
                assert top.op is not None
                if top.args >= top.op.arity:
                    raise fail(_arity_message(top), column)
                top.args += 1
                expect_operand = True
            elif top.kind == "paren":
                pending.pop()
            else:
                assert top.op is not None
                if top.args != top.op.arity:
                    raise fail(_arity_message(top), column)
                reduce()
        elif kind == "end":
            while pending:
                top = pending[-1]
                if top.kind in ("paren", "call"):
                    raise fail("this '(' is never closed", top.column if top.kind == "paren"
                               else top.column + len(top.symbol))
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
    return Graph(expression, tuple(builder.nodes))


def _arity_message(call: _Pending) -> str:
    assert call.op is not None
    n = call.op.arity
    return f"{call.symbol}() takes {n} argument{'s' if n > 1 else ''}"


def _unknown_function(name: str) -> str:
    close = difflib.get_close_matches(name.lower(), list(FUNCTIONS), n=1, cutoff=0.5)
    hint = f"; did you mean {close[0]}?" if close else ""
    return f"unknown function '{name[:40]}'{hint} (known: {', '.join(sorted(FUNCTIONS))})"
