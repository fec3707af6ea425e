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

from .errors import ExpressionSyntaxError, PositionedError, ShapeError, UnknownFunctionError
from .graph import INPUT, Graph, collector_paused
from .ops import BINARY, FUNCTIONS, OPS, Op

__all__ = ["parse"]

# Every token: a name, an operator or punctuation, a number, or else one bad character.
# ``findall`` skips the whitespace between them (nothing here matches it) and returns
# plain strings, which is the cheapest way Python has to cut a 100,000-term sum into
# tokens; where a token starts is worked out only when a message or a figure asks (see
# :func:`token_columns`). The most frequent tokens come first.
_TOKEN = re.compile(
    r"[A-Za-z_][A-Za-z0-9_]*"
    r"|\*\*|[-+*/^@(),]"
    r"|(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?"
    r"|\S"
)
_END = ""  # the token after the last one
_NAME_START = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_")
_NUMBER_START = frozenset("0123456789.")

# Binding power of the binary operators and of prefix minus/plus.
_PRECEDENCE = {"+": 1, "-": 1, "*": 2, "/": 2, "@": 2, "**": 4, "^": 4}
_UNARY = 3
_GATES = {symbol: op.name for symbol, op in BINARY.items()}
_RIGHT_ASSOCIATIVE = {"**", "^"}


def token_columns(expression: str) -> list[int]:
    """Where each token of the expression starts, in order; then, for the end, its length."""
    return [m.start() for m in _TOKEN.finditer(expression)] + [len(expression)]


@dataclass(slots=True)
class _Const:
    """A folded constant on the operand stack, and the token it was written at."""

    value: float
    token: int


# An operand is a node id or a folded constant.
_Operand = int | _Const


# The operator stack holds (precedence, kind, symbol, token) tuples; kind is "binary",
# "unary", "paren" or "call", symbol the operator, "(" or the function name, token the
# index of its token. An operator arriving reduces the entries above it that bind at
# least as tightly; "(" and calls have precedence 0, so no operator reduces past them.
_Pending = tuple[int, str, str, int]


class _Builder:
    """Creates nodes in topological order, folding constants as it goes.

    Positions are token indexes (the k-th token of the expression): cheap to keep, and
    turned into columns only for a message, or by :attr:`Graph.columns`.
    """

    def __init__(self, expression: str) -> None:
        self.expression = expression
        # Graph's columns, as lists: one append each per node.
        self.ops: list[str] = []
        self.inputs: list[tuple[int, ...]] = []
        self.names: list[str | None] = []
        self.consts: list[float | None] = []
        self.tokens: list[int] = []
        self.variables: dict[str, int] = {}

    def error(self, kind: type[PositionedError], message: str, token: int) -> PositionedError:
        return kind(message, self.expression, token_columns(self.expression)[token])

    def apply(self, op: Op, args: list[_Operand], token: int) -> _Operand:
        if _Const not in map(type, args):  # no constant operand: the gate itself
            return self.add(op.name, tuple(args), token)  # type: ignore[arg-type]
        nodes = [a for a in args if isinstance(a, int)]
        if not nodes:  # only constants: fold them into one
            return self._fold(op, [a.value for a in args if isinstance(a, _Const)], token)
        # A binary operator with one constant operand: the unary gate that carries it.
        left_const = isinstance(args[0], _Const)
        const, other = (args[0], args[1]) if left_const else (args[1], args[0])
        assert isinstance(const, _Const) and isinstance(other, int)
        gate = op.const_left if left_const else op.const_right
        if gate is None:
            raise self.error(ShapeError,
                             f"'{self._symbol(op)}' needs a vector or matrix on both sides, "
                             f"and {_show(const.value)} is a number", const.token)
        return self.add(gate, (other,), token, const=const.value)

    def _fold(self, op: Op, values: list[float], token: int) -> _Const:
        try:
            with np.errstate(all="ignore"):
                # float64 like the engine: 1/0 is inf, not a Python ZeroDivisionError.
                result = np.asarray(op.forward(*map(np.float64, values)), dtype=np.float64)
        except (ValueError, TypeError):
            raise self.error(ShapeError,
                             f"'{self._symbol(op)}' needs a vector or matrix on both sides, "
                             "and both sides are numbers", token) from None
        return _Const(float(result), token)

    def _symbol(self, op: Op) -> str:
        return next(s for s, o in BINARY.items() if o is op) if op.function is None else op.function

    def add(self, op: str, inputs: tuple[int, ...], token: int,
            name: str | None = None, const: float | None = None) -> int:
        self.ops.append(op)
        self.inputs.append(inputs)
        self.names.append(name)
        self.consts.append(const)
        self.tokens.append(token)
        return len(self.ops) - 1

    def graph(self) -> Graph:
        return Graph(self.expression, tuple(self.ops), tuple(self.inputs), tuple(self.names),
                     tuple(self.consts), tuple(self.tokens))


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

    def fail(message: str, token: int) -> PositionedError:
        return builder.error(ExpressionSyntaxError, message, token)

    # The hot paths add inputs and the common gate (an operator between two gates) to the
    # columns themselves, as _Builder.add does: without the call, parsing is 15% faster.
    ops, inputs, names, consts, tokens_at = (builder.ops, builder.inputs, builder.names,
                                              builder.consts, builder.tokens)

    def reduce() -> None:
        """Pop the top operator (or finished call) and apply it to its operands."""
        _, kind, symbol, token = pending.pop()
        if kind == "binary":
            right = operands.pop()
            left = operands[-1]
            if type(left) is int and type(right) is int:  # the common case: two gates
                operands[-1] = len(ops)
                ops.append(_GATES[symbol])
                inputs.append((left, right))
                names.append(None)
                consts.append(None)
                tokens_at.append(token)
            else:
                operands[-1] = builder.apply(BINARY[symbol], [left, right], token)
        elif kind == "unary":
            if symbol == "-":  # -u is the slides' gate *-1
                operands[-1] = builder.apply(OPS["mul"], [_Const(-1.0, token), operands[-1]],
                                             token)
        else:  # a call whose ")" has arrived
            n = arg_counts.pop()
            args = operands[len(operands) - n:]
            del operands[len(operands) - n:]
            operands.append(builder.apply(FUNCTIONS[symbol], args, token))

    variables = builder.variables
    tokens = _TOKEN.findall(expression)
    tokens.append(_END)
    expect_operand = True
    numbered = enumerate(tokens)
    for k, token in numbered:
        if expect_operand:
            node_id = variables.get(token)  # the most frequent token: a variable seen before
            if node_id is not None:
                operands.append(node_id)
                expect_operand = False
            elif token[:1] in _NAME_START:
                if tokens[k + 1] == "(":  # a call
                    if token not in FUNCTIONS:
                        raise builder.error(UnknownFunctionError, _unknown_function(token), k)
                    pending.append((0, "call", token, k))
                    arg_counts.append(1)
                    next(numbered)  # its "("
                    continue
                if token in FUNCTIONS:
                    raise fail(f"'{token}' is a function: call it as {token}(...)", k)
                node_id = variables[token] = len(ops)  # each variable is one input
                operands.append(node_id)
                ops.append(INPUT)
                inputs.append(())
                names.append(token)
                consts.append(None)
                tokens_at.append(k)
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
                expect_operand = False
            elif token is _END:
                raise fail("the expression is empty" if not tokens[0]
                           else "the expression ends too early: a value is missing", k)
            elif token in _PRECEDENCE or token in (")", ","):
                raise fail(f"expected a number, a variable, a function call or '(' "
                           f"before '{token}'", k)
            else:
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
                raise fail("unmatched ')'" if token == ")" else "',' outside a function call", k)
            _, top_kind, symbol, _ = pending[-1]
            if token == ",":
                if top_kind != "call":
                    raise fail("',' outside a function call", k)
                if arg_counts[-1] >= FUNCTIONS[symbol].arity:
                    raise fail(_arity_message(symbol), k)
                arg_counts[-1] += 1
                expect_operand = True
            elif top_kind == "paren":
                pending.pop()
            else:
                if arg_counts[-1] != FUNCTIONS[symbol].arity:
                    raise fail(_arity_message(symbol), k)
                reduce()
        elif token is _END:
            while pending:
                _, top_kind, symbol, top_token = pending[-1]
                if top_kind == "paren":
                    raise fail("this '(' is never closed", top_token)
                if top_kind == "call":
                    raise fail("this '(' is never closed", top_token + 1)
                reduce()
            break
        elif token == "(":
            if tokens[k - 1][:1] in _NAME_START:  # a variable seen before, called: y(x)
                raise builder.error(UnknownFunctionError, _unknown_function(tokens[k - 1]), k - 1)
            raise fail("expected an operator before '(': write * to multiply, e.g. 2*(x+y)", k)
        elif token[:1] in _NAME_START or (token[:1] in _NUMBER_START and token != "."):
            raise fail(f"expected an operator before '{token[:20]}': "
                       "write * to multiply, e.g. 2*x", k)
        else:
            raise fail(_bad_character(token), k)

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
