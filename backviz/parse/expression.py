"""One expression's tokens -> nodes: a shunting-yard loop with two typed stacks.

The loop reads one token at a time, alternating between two places: where an operand is
expected (a number, a name, a call, ``(``, a prefix sign) and where an operator is (a
binary operator or a comparison, ``)``, ``,``, an attribute or a method such as ``.T`` or
``.sum(``, an index; :mod:`backviz.parse.numpy_forms` reads numpy's forms). Each kind of
token has its method, which returns where the next token is. Operands wait on one stack,
operators and open brackets on another, each entry a record; an operator is applied when
one of lower binding power arrives, a call when its ``)`` does. Nothing recurses, so a
100,000-term sum or 5,000 nested brackets cost memory, never Python's recursion limit.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, NamedTuple

from ..errors import InvalidIndexError, PositionedError, UnknownFunctionError
from ..graph import INPUT
from ..ops import ALIASES, BINARY, COMPARISONS, OPS, OVERLOADS, Op
from ..tokens import NAME_START, PREFIXES, Source, function_name, is_name, is_number
from . import indexes, numpy_forms
from .builder import Builder, Const, UserGate, Value
from .numpy_forms import KNOWN, NAMES_OF_VALUES, PYTHON_WORDS, STRUCTURAL, outside_the_language
from .statements import AUGMENTED

__all__ = ["Expression", "Names"]

# Binding power of the binary operators and of prefix minus/plus; a bracket's is 0, so
# that no operator arriving after it applies what is before it.
_PRECEDENCE = {"<": 1, "<=": 1, ">": 1, ">=": 1, "==": 1, "!=": 1,
               "+": 2, "-": 2, "*": 3, "/": 3, "@": 3, "**": 5, "^": 5}
_PREFIX = 4
_RIGHT_ASSOCIATIVE = frozenset(["**", "^"])
_CONSTANTS = {"pi": math.pi, "e": math.e}  # math.pi, np.e...: only with a prefix
# The names that may be something other than a new input where they stand: Python's words,
# and the functions (but for the names of numpy's that a program may give its own values).
_RESERVED = PYTHON_WORDS | (KNOWN - NAMES_OF_VALUES)


# The records of the two stacks are plain classes with slots, or named tuples: one is made
# per operand and operator of a 100,000-term sum, and a dataclass would cost as much to
# make and more to define (the command imports this module at each start).
class _Operand:
    """A value on the operand stack, and the tokens it is written as, first .. last - 1."""

    __slots__ = ("first", "last", "value")

    def __init__(self, value: Value, first: int, last: int) -> None:
        self.value = value
        self.first = first
        self.last = last


class _Binary:
    """A binary operator waiting for its right operand."""

    __slots__ = ("precedence", "symbol", "token")

    def __init__(self, precedence: int, symbol: str, token: int) -> None:
        self.precedence = precedence
        self.symbol = symbol
        self.token = token


class _Prefix(NamedTuple):
    """``-`` or ``+`` before an operand."""

    symbol: str
    token: int
    precedence: int = _PREFIX


class _Paren(NamedTuple):
    """An open ``(`` around an operand."""

    token: int
    precedence: int = 0


class _Keyword(NamedTuple):
    """A call's keyword argument, ``axis=1``, and the token of its name."""

    name: str
    value: Any
    token: int


class _Call:
    """An open call: the function's name (as written), its positional arguments so far
    (a method's value counts as the first), its keywords, and where it is first written."""

    __slots__ = ("args", "first", "keywords", "name", "token")
    precedence = 0  # a bracket's: no operator arriving after it applies what is before it

    def __init__(self, name: str, token: int, first: int = -1) -> None:
        self.name = name
        self.token = token
        self.first = first
        self.args = 1
        self.keywords: dict[str, _Keyword] = {}


_Pending = _Binary | _Prefix | _Paren | _Call


class Names(NamedTuple):
    """What the program around an expression has named: its user gates, and where each
    name is first assigned and each gate defined (token indexes), for the messages."""

    gates: Mapping[str, UserGate]
    assigned_at: Mapping[str, int]
    defined_at: Mapping[str, int]
    taken: frozenset[str] = frozenset()
    """Every name the program assigns or defines a gate as, none of which is a new input:
    one set, so that a new name is known to be an input with one look-up."""


class Expression:
    """The parser of one expression, adding its nodes to ``builder``.

    ``scope`` maps each name to the node it names, and gains the new inputs. In a user
    gate's body (``defining`` its name), ``scope`` holds only the parameters.
    """

    def __init__(self, source: Source, names: Names, builder: Builder, scope: dict[str, int],
                 defining: str | None = None) -> None:
        self.source = source
        self.tokens = source.tokens
        self.names = names
        self.builder = builder
        self.scope = scope
        self.defining = defining
        self.operands: list[_Operand] = []
        self.pending: list[_Pending] = []
        self.expect_operand = True

    def parse(self, first: int, last: int) -> Value:
        """Tokens ``first`` .. ``last - 1`` as one expression: a node, or a constant."""
        tokens, operand, binary, operator = self.tokens, self.operand, self.binary, self.operator
        k = first
        while k < last:
            if self.expect_operand:
                k = operand(k)
            elif tokens[k] in _PRECEDENCE:  # after an operand, the most frequent token
                k = binary(k)
            else:
                k = operator(k)
        return self.end(last)

    def fail(self, message: str, token: int) -> PositionedError:
        return self.source.error(message, token)

    # --- where an operand is expected ---------------------------------------------------

    def operand(self, k: int) -> int:
        """A name (a value, or a call), or else :meth:`not_a_name`."""
        token = self.tokens[k]
        if token[:1] not in NAME_START:
            return self.not_a_name(k)
        if self.tokens[k + 1] == "(":
            return self.call(k)
        node = self.scope.get(token)  # the most frequent token: a name seen before
        self.operands.append(_Operand(self.name(k) if node is None else node, k, k + 1))
        self.expect_operand = False
        return k + 1

    def not_a_name(self, k: int) -> int:
        """An operand that is not a name: a number, or what opens one: ``(``, a sign."""
        token = self.tokens[k]
        if token == "(":
            self.pending.append(_Paren(k))
        elif token == "-" or token == "+":
            self.pending.append(_Prefix(token, k))
        elif is_number(token):
            return self.number(k)
        elif token in _PRECEDENCE or token in (")", ","):
            raise self.fail(f"expected a number, a variable, a function call or '(' "
                            f"before '{token}'", k)
        elif token != "\n":  # a line break inside brackets continues the statement
            raise self.fail(_bad_character(token), k)
        return k + 1

    def push(self, value: Value, k: int) -> int:
        """An operand written as the one token k."""
        self.operands.append(_Operand(value, k, k + 1))
        self.expect_operand = False
        return k + 1

    def number(self, k: int) -> int:
        token = self.tokens[k]
        value = float(token)
        if not math.isfinite(value):
            raise self.fail(f"the number {token[:20]}{'...' if len(token) > 20 else ''} "
                            "is too large for a float64", k)
        return self.push(Const(value, k), k)

    def call(self, k: int) -> int:
        """A function's name at k, its ``(`` after it."""
        self.check_call(k)
        self.pending.append(_Call(self.tokens[k], k))
        return k + 2

    def check_call(self, k: int) -> None:
        """A name called as a function must be a known function or an earlier user gate."""
        token, gates = self.tokens[k], self.names.gates
        if function_name(token) in indexes.ARANGE and token not in gates:
            raise self.fail(f"{token}(n) is only for indexing: it gives the row numbers of "
                            f"S[{token}(N), y]", k)
        if token == self.defining:
            raise self.fail(f"the gate {token} calls itself: a user gate's body may call "
                            "only functions and gates defined before it", k)
        if token in gates or function_name(token) in KNOWN:
            return
        outside = outside_the_language(token, called=True)
        if outside is not None:
            raise self.fail(outside, k)
        defined_at = self.names.defined_at
        if defined_at.get(token, -1) > k:
            raise self.source.error(f"the gate {token} is used before it is defined (at "
                                    f"{self.source.place(defined_at[token])})", k,
                                    UnknownFunctionError)
        raise self.source.error(_unknown_function(token, gates), k, UnknownFunctionError)

    def name(self, k: int) -> Value:
        """A name at k that does not name a value yet: a new input, or a constant."""
        token = self.tokens[k]
        # A sum of products meets a new name at every input: one cheap test tells a plain
        # name (a dot is in a name only after its prefix, np.e), and only the others are
        # asked what they are.
        if token in _RESERVED or token in self.names.taken or self.defining is not None \
                or "." in token:
            constant = self.reserved_name(token, k)
            if constant is not None:
                return constant
        node = self.scope[token] = self.builder.add(INPUT, (), k, k, k + 1, name=token)
        return node

    def reserved_name(self, token: str, k: int) -> Const | None:
        """A name at k that may not be a new input: its constant (``np.pi``), or the error
        that says what it is; None if it is an input after all (``lambda*2``)."""
        if token in PYTHON_WORDS:
            outside = outside_the_language(token, called=False, following=self.tokens[k + 1])
            if outside is not None:
                raise self.fail(outside, k)
        if token.startswith(PREFIXES):
            constant = _CONSTANTS.get(function_name(token))
            if constant is not None:
                return Const(constant, k)
            if function_name(token) in KNOWN:
                raise self.fail(f"'{token}' is a function: call it as {token}(...)", k)
            raise self.source.error(f"unknown name '{token[:40]}': of math and numpy, backviz "
                                    "knows the functions it lists and pi and e", k,
                                    UnknownFunctionError)
        if (token in KNOWN and token not in NAMES_OF_VALUES) or token in self.names.gates:
            raise self.fail(f"'{token}' is a function: call it as {token}(...)", k)
        if self.defining is not None or token in self.names.assigned_at:
            raise self.not_an_input(token, k)
        return None

    def not_an_input(self, token: str, k: int) -> PositionedError:
        """A name used before it is given a value is an input, but not in a user gate's
        body, nor before the name is assigned: the error to raise."""
        builder = self.builder
        if self.defining is not None:
            params = ", ".join(name or "" for op, name in zip(builder.ops, builder.names,
                                                              strict=True) if op == INPUT)
            return self.fail(f"the body of {self.defining} uses {token}, which is not one of "
                             f"its parameters ({params})", k)
        return self.fail(f"{token} is used before it is assigned (it is assigned at "
                         f"{self.source.place(self.names.assigned_at[token])})", k)

    # --- where an operator is expected --------------------------------------------------

    def operator(self, k: int) -> int:
        """What follows an operand, other than a binary operator."""
        token = self.tokens[k]
        if token == ")":
            return self.close(k)
        if token == ",":
            return self.comma(k)
        if token == ".":
            return self.attribute(k)
        if token == "[":
            return self.index(k)
        self.refuse_after_operand(k)
        return k + 1

    def binary(self, k: int) -> int:
        """Apply the operators before it that bind at least as tightly, then wait."""
        symbol = self.tokens[k]
        precedence = _PRECEDENCE[symbol]
        # A right-associative operator does not apply its own kind: 2**3**2 is 2**(3**2).
        floor = precedence + 1 if symbol in _RIGHT_ASSOCIATIVE else precedence
        pending = self.pending
        while pending and pending[-1].precedence >= floor:
            self.reduce()
        pending.append(_Binary(precedence, symbol, k))
        self.expect_operand = True
        return k + 1

    def close(self, k: int) -> int:
        """``)``: the end of a bracket or of a call."""
        top = self.finish_argument(k, "unmatched ')'")
        if isinstance(top, _Paren):
            self.pending.pop()
            operand = self.operands[-1]
            operand.first, operand.last = top.token, k + 1  # (x+y) is written with its brackets
        else:
            arities = self.arities(top.name)
            if top.args not in arities:
                raise self.fail(_arity_message(top.name, arities), k)
            self.pending.pop()
            self.apply_call(top, k + 1)
        return k + 1

    def comma(self, k: int) -> int:
        """``,`` between a call's arguments, or before a keyword argument."""
        top = self.finish_argument(k, "',' outside a function call")
        if not isinstance(top, _Call):
            raise self.fail("',' outside a function call (a tuple is written only after "
                            "axis=, as axis=(0, 1))", k)
        if self.at_keyword(k + 1, top):
            return self.keyword(k + 1, top)
        if top.keywords:
            raise self.fail("a positional argument after a keyword argument: keywords come "
                            "last, as in Python", k + 1)
        if top.args >= self.arities(top.name)[-1]:
            raise self.fail(_arity_message(top.name, self.arities(top.name)), k)
        top.args += 1
        self.expect_operand = True
        return k + 1

    def at_keyword(self, k: int, call: _Call) -> bool:
        tokens = self.tokens
        return is_name(tokens[k]) and tokens[k + 1] == "=" and call.name not in self.names.gates

    def finish_argument(self, k: int, unmatched: str) -> _Paren | _Call:
        """Apply the operators since the innermost open bracket, which it returns."""
        pending = self.pending
        while pending and pending[-1].precedence > 0:
            self.reduce()
        if not pending:
            raise self.fail(unmatched, k)
        top = pending[-1]
        assert isinstance(top, _Paren | _Call)
        return top

    def keyword(self, k: int, call: _Call) -> int:
        """``axis=1`` (or ``keepdims=True``, ``axis=(0, 1)``) at token k of ``call``; the
        token after it, a ``,`` or the call's ``)``."""
        tokens = self.tokens
        name = tokens[k]
        function = function_name(call.name)
        takes = numpy_forms.keywords(function)
        if name not in takes:
            raise self.fail(f"{function}() takes no keyword {name}="
                            + (f" (it takes {'= and '.join(takes)}=)" if takes else ""), k)
        if name in call.keywords:
            raise self.fail(f"{name}= is given twice", k)
        value, after = numpy_forms.keyword_value(self.source, name, k + 2)
        if tokens[after] not in (",", ")"):
            raise self.fail("expected ',' or ')' after a keyword argument" if tokens[after]
                            else "the call is never closed: expected ')'", after)
        call.keywords[name] = _Keyword(name, value, k)
        self.expect_operand = False
        return after

    def transpose(self, k: int) -> int:
        """``W.T``: the transpose, binding tightest."""
        operand = self.operands[-1]
        operand.value = self.builder.apply(OPS["transpose"], [operand.value], k, operand.first,
                                           k + 2)
        operand.last = k + 2
        return k + 2

    def attribute(self, k: int) -> int:
        """``.T``, ``.shape``, ``.size``, ``.ndim``, or a method: ``X.sum(axis=0)``."""
        name = self.tokens[k + 1]
        if name == "T":
            return self.transpose(k)
        operand = self.operands[-1]
        if name in numpy_forms.SHAPES:
            param, after = numpy_forms.shape_param(self.tokens, k + 1)
            operand.value = self.shape(operand, param, k, after)
            operand.last = after
            return after
        numpy_forms.check_attribute(self.source, k)
        return self.method(k, numpy_forms.METHODS[name])

    def shape(self, operand: _Operand, param: tuple[Any, ...], k: int, after: int) -> Value:
        """The gate of ``X.shape[0]`` (or ``len(X)``...): a number read off the value."""
        if isinstance(operand.value, Const):
            raise self.source.error(f"a number has no {OPS['shape'].label(param)}: it "
                                    "has no axes", k, InvalidIndexError)
        return self.builder.add("shape", (operand.value,), k, operand.first, after,
                                const=param)

    def method(self, k: int, function: str) -> int:
        """``X.sum(`` at tokens k ..: a call whose first argument is X, written before it."""
        receiver = self.operands[-1]
        call = _Call(function, k + 1, first=receiver.first)
        self.pending.append(call)
        after = k + 3  # after "("
        if self.tokens[after] == ")":
            return after
        if self.at_keyword(after, call):
            return self.keyword(after, call)
        if function in numpy_forms.REDUCING:  # numpy reads X.max(0) as X.max(axis=0)
            raise self.fail(f"write the axis as a keyword: X.{function}(axis=...)", after)
        call.args = 2
        self.expect_operand = True
        return after

    def index(self, k: int) -> int:
        """An index after a value: ``s[y]``, ``X[:, 0]``, ``S[arange(4), y]``."""
        index = indexes.read(self.source, k, self.names.gates, self.variable)
        operand = self.operands[-1]
        operand.value = self.builder.apply(OPS["index"], [operand.value, *index.inputs], k,
                                           operand.first, index.end + 1, index.spec)
        operand.last = index.end + 1
        return index.end + 1

    def variable(self, token: str, k: int) -> int:
        """The node of a name used in an index (y in s[y]), made if it is new."""
        node = self.scope.get(token)
        if node is not None:
            return node
        made = self.name(k)
        assert isinstance(made, int)
        return made

    def refuse_after_operand(self, k: int) -> None:
        """What may not follow an operand; a line break inside brackets is passed over."""
        token = self.tokens[k]
        if token == "(":
            if is_name(self.tokens[k - 1]):  # a variable seen before, called: y(x)
                raise self.source.error(_unknown_function(self.tokens[k - 1], self.names.gates),
                                        k - 1, UnknownFunctionError)
            raise self.fail("expected an operator before '(': write * to multiply, e.g. 2*(x+y)",
                            k)
        if token == "=" or token in AUGMENTED:
            raise self.fail(_bad_character("="), k)
        outside = outside_the_language(token, called=False, following=self.tokens[k + 1])
        if outside is not None:
            raise self.fail(outside, k)
        if is_name(token) or is_number(token):
            raise self.fail(f"expected an operator before '{token[:20]}': "
                            "write * to multiply, e.g. 2*x", k)
        if token != "\n":
            raise self.fail(_bad_character(token), k)

    # --- applying what waits ------------------------------------------------------------

    def reduce(self) -> None:
        """Apply the operator on top of the stack (never a bracket: they are closed by hand)."""
        top = self.pending.pop()
        if not isinstance(top, _Binary):
            assert isinstance(top, _Prefix)
            self.apply_prefix(top)
            return
        right = self.operands.pop()
        left = self.operands[-1]
        if top.symbol in COMPARISONS:
            left.value = self.compare(top, left, right)
        elif type(left.value) is int and type(right.value) is int:  # two gates: nothing to fold
            left.value = self.builder.add(BINARY[top.symbol].name, (left.value, right.value),
                                          top.token, left.first, right.last)
        else:
            left.value = self.builder.apply(BINARY[top.symbol], [left.value, right.value],
                                            top.token, left.first, right.last)
        left.last = right.last

    def apply_prefix(self, top: _Prefix) -> None:
        operand = self.operands[-1]
        if top.symbol == "-":  # -u is the slides' gate *-1
            operand.value = self.builder.apply(OPS["mul"], [Const(-1.0, top.token), operand.value],
                                               top.token, top.token, operand.last)
        operand.first = top.token

    def apply_call(self, call: _Call, end: int) -> None:
        """A call whose ``)`` is at ``end - 1``: its gate, or the body of its user gate."""
        n = call.args
        args = [operand.value for operand in self.operands[-n:]]
        del self.operands[-n:]
        first = call.token if call.first < 0 else call.first
        gate = self.names.gates.get(call.name)
        function = function_name(call.name)
        if gate is not None:
            value = self.builder.inline(gate, args, call.token, end)
        elif function in STRUCTURAL:
            value = numpy_forms.structural(self.builder, function, args, call.token, first, end)
        elif function in ALIASES:
            target, constant = ALIASES[function]
            extra = [] if constant is None else [Const(constant, call.token)]
            value = self.builder.apply(OPS[target], [*args, *extra], call.token, first, end)
        else:
            # max(a, b) or max(X): the overload with this many arguments
            if n == 2 and function in ("max", "min") and call.name.startswith(("np.", "numpy.")):
                raise self.fail(f"{call.name}(X, 0) is numpy's {function} along axis 0: write "
                                f"{call.name}(X, axis=0), or np.{function}imum(a, b) for the "
                                "elementwise one", call.token)
            op = next(op for op in OVERLOADS[function] if op.arity == n)
            value = self.builder.apply(op, args, call.token, first, end, self.param(op, call))
        self.operands.append(_Operand(value, first, end))

    def param(self, op: Op, call: _Call) -> Any:
        """The parameter the keywords of a call give its gate: an axis, or (axis, keepdims)."""
        if not call.keywords:
            return None
        if op.keyword is None:
            kw = next(iter(call.keywords.values()))
            raise self.fail(f"{call.name}() with {call.args} argument"
                            f"{'s' if call.args > 1 else ''} takes no keyword {kw.name}=",
                            kw.token)
        axis = call.keywords["axis"].value if "axis" in call.keywords else None
        keep = "keepdims" in call.keywords and call.keywords["keepdims"].value
        return (axis, True) if keep else (axis, False) if isinstance(axis, tuple) else axis

    def compare(self, top: _Binary, left: _Operand, right: _Operand) -> Value:
        """``a < b``: a mask of 0s and 1s; ``x > 0`` carries its constant, ``0 < x`` is
        written ``x > 0``."""
        a, b, symbol = left.value, right.value, top.symbol
        if isinstance(a, int) and self.builder.ops[a] in ("compare", "compare_c") \
                and self.tokens[left.first] != "(":
            raise self.fail("a chained comparison (a < b < c) means 'and' in Python: write "
                            "(a < b) * (b < c)", top.token)
        if isinstance(a, Const) and isinstance(b, Const):
            return Const(float(COMPARISONS[symbol](a.value, b.value)), top.token)
        if isinstance(a, Const) or isinstance(b, Const):
            node, c = (b, a) if isinstance(a, Const) else (a, b)
            assert isinstance(c, Const) and isinstance(node, int)
            sign = numpy_forms.flipped(symbol) if c is a else symbol
            return self.builder.add("compare_c", (node,), top.token, left.first, right.last,
                                    const=(sign, c.value))
        return self.builder.add("compare", (a, b), top.token, left.first, right.last,
                                const=(symbol,))

    def arities(self, name: str) -> tuple[int, ...]:
        """How many arguments a call may have: max(a, b) and max(X)."""
        gate = self.names.gates.get(name)
        if gate:
            return (len(gate.params),)
        return numpy_forms.arities(function_name(name))

    def end(self, last: int) -> Value:
        """The end of the expression, at token ``last``: apply what still waits."""
        if self.expect_operand:
            raise self.fail("the expression ends too early: a value is missing"
                            if self.operands or self.pending else "the expression is empty", last)
        while self.pending:
            top = self.pending[-1]
            if isinstance(top, _Paren):
                raise self.fail("this '(' is never closed", top.token)
            if isinstance(top, _Call):
                raise self.fail("this '(' is never closed", top.token + 1)
            self.reduce()
        return self.operands[-1].value


def _arity_message(function: str, arities: tuple[int, ...]) -> str:
    n = " or ".join(map(str, arities))
    return f"{function}() takes {n} argument{'s' if arities[-1] > 1 else ''}"


def _unknown_function(name: str, gates: Mapping[str, UserGate]) -> str:
    import difflib  # only for this message: a run that parses without error never needs it

    known = sorted({*KNOWN, *gates})
    close = difflib.get_close_matches(function_name(name).lower(), known, n=1, cutoff=0.5)
    hint = f"; did you mean {close[0]}?" if close else ""
    return f"unknown function '{name[:40]}'{hint} (known: {', '.join(known)})"


def _bad_character(char: str) -> str:
    if char in "[]{}":
        return (f"unexpected '{char}': vectors and matrices are given as values "
                "(e.g. --W '[[1,2],[3,4]]'), not written in the expression")
    if char in "'\"":
        return "unexpected quote: the expression language has no strings"
    if char == "...":
        return "unexpected '...': an ellipsis stands only in an index, X[..., 0]"
    if char == ".":
        return ("unexpected '.': an attribute follows a value (W.T, X.shape, X.sum(axis=0)); "
                "numbers are written 0.5 or .5")
    if char == "=":
        return ("unexpected '=': an assignment is a statement of its own (q = x + y), "
                "on its own line or after ';'")
    if char in _LOOKALIKES:
        return f"unexpected character {char!r}: write {_LOOKALIKES[char]}"
    if char.isalpha():
        import unicodedata  # only for this message, as difflib for the one above

        return (f"unexpected character {char!r}: names are ASCII letters, digits and _ "
                f"(e.g. {unicodedata.name(char, 'x').split()[-1].lower()})")
    return f"unexpected character {char!r}"


# Characters from typeset formulas, and what the expression language writes for them.
_LOOKALIKES = {"×": "*", "·": "*", "⋅": "*", "∗": "*", "−": "- (an ASCII hyphen)", "–": "-",
               "÷": "/", "²": "**2", "³": "**3", "√": "sqrt(...)", "σ": "sigmoid(...)",
               "Σ": "sum(...)", "∑": "sum(...)"}
