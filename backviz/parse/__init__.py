"""Program text -> :class:`~backviz.graph.Graph`, without eval and without recursion.

A program is statements separated by line breaks or ``;``; ``#`` starts a comment::

    program    := statement ((NEWLINE | ";") statement)*
    statement  := NAME "=" expr                     an intermediate, or an input's example value
                | "data" NAME ("," NAME)*            inputs that are given data: no gradient
                | NAME ("+=" | "-=" | "*=" | "/=" | "**=" | "@=") expr
                | NAME "[" index ("," index)* "]" ("=" | "+=" | ...) expr   a new version of NAME
                | NAME ("," NAME)+ "=" NAME ".shape"                     N, D = X.shape
                | NAME "(" NAME ("," NAME)* ")" "=" expr        a user gate
                | "import" ... | "from" ... "import" ...        math and numpy only, ignored
                | expr
    expr       := sum (("<" | "<=" | ">" | ">=" | "==" | "!=") sum)?     a mask, no gradient
    sum        := sum ("+" | "-") term | term
    term       := term ("*" | "/" | "@") unary | unary
    unary      := ("-" | "+") unary | power
    power      := postfix ("**" | "^") unary | postfix    (right-associative)
    postfix    := atom ("." NAME | "." NAME "(" args? ")" | "[" index ("," index)* "]")*
    atom       := NUMBER | NAME | NAME "(" args ")" | "(" expr ")"
    args       := expr ("," expr)* ("," NAME "=" kwvalue)*
    index      := INTEGER | [INTEGER] ":" [INTEGER] [":" [INTEGER]] | NAME | None | "..."
                | "arange(" (INTEGER | NAME) ")"

A lone expression is a one-statement program. The output is the value of the last
statement. A name assigned an expression without variables (``x = 3``, ``W = [[1, 2], [3,
4]]``) is an input with an example value; any other assignment names an intermediate, and
every later use of the name is the same node. Line breaks inside parentheses continue the
statement, as in Python, and ``math.exp``, ``np.exp`` and ``numpy.exp`` spell ``exp``: a
forward pass written in Python with these operations pastes as it is. Nothing is executed.

Each statement is read into a record (:mod:`backviz.parse.statements`), then run here. Expressions
are parsed with a shunting-yard loop over the tokens and explicit stacks
(:mod:`backviz.parse.expression`), so a 100,000-term sum or 5,000 nested parentheses cost memory,
never Python's recursion limit. Nodes are made by a :class:`~backviz.parse.builder.Builder`.
The graph mirrors what was typed: no reordering, no algebra. The only rewriting is
constant folding: a sub-expression without variables becomes a number, and a binary
operator with one constant operand becomes the unary gate that carries it, as on the
slides (``1+u`` is ``+1``, ``2*u`` is ``*2``, ``-u`` is ``*-1``). A call of a user gate is
inlined: its body's gates, with the arguments in place of the parameters, remembered as a
:class:`~backviz.graph.Group`.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np

from ..errors import BackvizError, ExpressionSyntaxError, PositionedError
from ..graph import COMPUTED_DATA, INPUT, Graph, collector_paused
from ..ops import BINARY, FUNCTIONS
from ..tokens import Source, function_name, is_name
from . import indexes, literals
from .builder import MAX_NODES, Builder, Const, UserGate, Value
from .expression import Expression, Names
from .numpy_forms import NAMES_OF_VALUES
from .statements import (
    AUGMENTED,
    Assignment,
    Augmented,
    Bare,
    Data,
    Definition,
    Example,
    Import,
    IndexAssignment,
    Statement,
    Unpacking,
    assigns,
    is_definition,
    read,
)

__all__ = ["MAX_BODY", "MAX_NODES", "parse"]

MAX_BODY = 10_000
"""A user gate's body (its calls of other gates included) has at most this many nodes."""


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


class _Program:
    """The statements of a program, run one after another into one builder."""

    def __init__(self, text: str) -> None:
        self.source = Source(text)
        self.tokens = self.source.tokens
        self.builder = Builder(self.source)
        self.scope: dict[str, int] = {}  # every name, and the node it names now
        self.gates: dict[str, UserGate] = {}
        self.defaults: dict[str, Any] = {}
        self.warnings: list[str] = []
        self.assigned_at: dict[str, int] = {}  # each name's first assignment (its token)
        self.defined_at: dict[str, int] = {}  # each user gate's definition (its token)
        self.data: dict[str, int] = {}  # the names declared data, and where

    def fail(self, message: str, token: int) -> PositionedError:
        return self.source.error(message, token)

    def warn(self, token: int, message: str) -> None:
        self.warnings.append(f"{self.source.place(token)}: {message}")

    def parse(self) -> Graph:
        statements = read(self.tokens)
        if not statements:
            text = self.source.text
            message = ("the expression is empty" if not text.strip() else
                       "there is nothing to compute: the program has only comments")
            raise ExpressionSyntaxError(message, text, 0)
        self.names = self.note_names(statements)
        output: Value | None = None
        for s in statements:
            output = self.run(s, last=s is statements[-1])
        if isinstance(output, Const) or output is None:
            raise self.fail("the expression has no variables, so there is no gradient to draw", 0)
        # A lone expression is a tree whose root is the output: every node is used by it,
        # but for a branch that np.where's constant condition leaves out.
        return self.graph(output, every_node_used=len(statements) == 1
                          and not self.builder.left_out)

    def note_names(self, statements: list[Statement]) -> Names:
        """Know every assigned name and user gate before the first statement runs, to say
        where one is assigned when it is used too early."""
        tokens = self.tokens
        for s in statements:
            name = tokens[s.first]
            if is_definition(tokens, s.first, s.last):
                self.defined_at.setdefault(name, s.first)
            elif assigns(tokens, s.first):
                self.assigned_at.setdefault(name, s.first)
        return Names(self.gates, self.assigned_at, self.defined_at,
                     taken=frozenset([*self.assigned_at, *self.defined_at]))

    def run(self, s: Statement, last: bool) -> Value | None:
        """Run one statement; its value, if it has one."""
        match s:
            case Import():
                self.imports(s)
            case Data():
                self.declare(s)
                if last:
                    raise self.fail("the program ends with 'data': its last statement must "
                                    "give the output", s.first)
            case Definition():
                self.define(s)
                if last:
                    raise self.fail("the program ends with a user gate's definition: its last "
                                    "statement must give the output", s.first)
            case Assignment():
                return self.assign(s)
            case Augmented():
                return self.augment(s)
            case Example():
                value = literals.array(self.source, self.value_at(s.name, "=", s), s.last)
                return self.example(s.name, value, s.first)
            case IndexAssignment():
                return self.assign_index(s)
            case Unpacking():
                return self.unpack(s)
            case Bare():
                return self.bare(s, last)
        return None

    def expression(self, first: int, last: int) -> Value:
        return Expression(self.source, self.names, self.builder, self.scope).parse(first, last)

    # --- the kinds of statement -----------------------------------------------------------

    def imports(self, s: Import) -> None:
        modules = {self.tokens[k] for k in range(s.first + 1, s.last)} & {"math", "numpy"}
        if not modules:
            raise self.fail("only math and numpy can be imported (backviz knows their "
                            "functions; the import itself changes nothing)", s.first)

    def declare(self, s: Data) -> None:
        """``data y, dout``: names, one after another with commas between them."""
        tokens = self.tokens
        for k in range(s.first + 1, s.last, 2):
            if not is_name(tokens[k]) or "." in tokens[k]:
                raise self.fail("'data' is followed by the names of inputs: data y, dout", k)
            self.data.setdefault(tokens[k], k)
            if k + 1 < s.last and tokens[k + 1] != ",":
                raise self.fail("expected ',' between the names after 'data'", k + 1)

    def value_at(self, name: str, sign: str, s: Assignment | Augmented | Example) -> int:
        """Where the value assigned to ``name`` starts, once it is known ``name`` may be
        assigned one."""
        if (function_name(name) in FUNCTIONS and name not in NAMES_OF_VALUES) \
                or name in self.gates or "." in name:
            what = "a function of backviz" if function_name(name) in FUNCTIONS \
                else "a user gate" if name in self.gates else "not a name"
            raise self.fail(f"'{name}' is {what}, and cannot be assigned a value", s.first)
        if s.first + 2 >= s.last:
            raise self.fail(f"nothing after '{sign}': write a value or an expression",
                            s.first + 2)
        return s.first + 2

    def assign(self, s: Assignment) -> Value:
        value = self.expression(self.value_at(s.name, "=", s), s.last)
        if isinstance(value, Const):
            return self.example(s.name, np.float64(value.value), s.first)
        return self.bind(s.name, value)

    def augment(self, s: Augmented) -> Value:
        """``c += e`` is ``c = c + (e)``: one gate, written where the statement is."""
        rhs = self.value_at(s.name, s.sign, s)
        if s.name not in self.scope:
            raise self.fail(f"'{s.name} {s.sign} ...' needs a value of {s.name} first: "
                            f"assign it before (e.g. {s.name} = 0)", s.first)
        value = self.expression(rhs, s.last)
        result = self.builder.apply(BINARY[AUGMENTED[s.sign]], [self.scope[s.name], value],
                                    s.first + 1, s.first, s.last)
        return self.bind(s.name, result)

    def assign_index(self, s: IndexAssignment) -> Value:
        """``m[idx] = v`` is a new version of m, the places of idx replaced (the setitem
        gate, or fill for a number); ``m[idx] += v`` is ``m[idx] = m[idx] + v``, as numpy
        does it (a repeated index adds once)."""
        node = self.indexed(s)
        expression = Expression(self.source, self.names, self.builder, self.scope)
        index = indexes.read(self.source, s.first + 1, self.gates, expression.variable)
        if s.close + 2 >= s.last:
            raise self.fail(f"nothing after '{s.sign}': write a value or an expression",
                            s.close + 2)
        value = self.expression(s.close + 2, s.last)
        builder, at, where = self.builder, s.close + 1, (node, *index.inputs)
        if s.sign != "=":
            current = builder.add("index", where, s.first + 1, s.first, s.close + 1,
                                  const=index.spec)
            value = builder.apply(BINARY[AUGMENTED[s.sign]], [current, value], at, s.first,
                                  s.last)
        if isinstance(value, Const):
            result = builder.add("fill", where, at, s.first, s.last,
                                 const=(value.value, index.spec))
        else:
            result = builder.add("setitem", (node, value, *index.inputs), at, s.first, s.last,
                                 const=index.spec)
        self.scope[s.name] = result
        builder.names[result] = s.name
        return result

    def unpack(self, s: Unpacking) -> Value:
        """``N, D = X.shape``: each name the gate that reads one size of X (only a shape
        unpacks: the language has no tuples)."""
        tokens, k = self.tokens, s.equals + 1
        if not (k + 3 == s.last and tokens[k + 1] == "." and tokens[k + 2] == "shape"):
            raise self.fail("only a shape unpacks, N, D = X.shape: the language has no "
                            "tuples; assign one value to each name", s.equals)
        x = self.expression(k, k + 1)
        if isinstance(x, Const):
            raise self.fail("a number has no shape to unpack", k)
        result: Value = x
        for axis, name in enumerate(s.names):
            result = self.builder.add("shape", (x,), k + 2, k, s.last, const=("shape", axis))
            self.bind(name, result)
        return result

    def indexed(self, s: IndexAssignment) -> int:
        """The node that ``m[idx] = ...`` makes a new version of: m's, which must be a value
        the program computed (an input is not changed in place)."""
        node = self.scope.get(s.name)
        if node is None:
            raise self.fail(f"'{s.name}[...] {s.sign} ...' changes a value the program has "
                            f"made, and {s.name} has none yet: make it first (e.g. {s.name} = "
                            "x.copy() or np.zeros_like(x))", s.first)
        if self.builder.ops[node] == INPUT and self.builder.names[node] == s.name:
            raise self.fail(f"{s.name} is an input, and inputs are not changed in place: "
                            f"copy it first, m = {s.name}.copy(), then assign to m[...]",
                            s.first)
        return node

    def example(self, name: str, value: Any, token: int) -> int:
        """``x = 3``: the input x, with 3 as its example value."""
        if name in self.scope:
            raise self.fail(f"{name} already names a value: an input is given its example "
                            "value once, before it is used", token)
        self.defaults[name] = value
        node = self.builder.add(INPUT, (), token, token, token + 1, name=name)
        self.scope[name] = node
        return node

    def bind(self, name: str, value: Value) -> Value:
        """Name the value: a gate not named yet takes the name, for the figure."""
        if isinstance(value, int):
            builder = self.builder
            if builder.names[value] is None and builder.ops[value] != INPUT:
                builder.names[value] = name
            self.scope[name] = value
        return value

    def bare(self, s: Bare, last: bool) -> Value:
        value = self.expression(s.first, s.last)
        if not last and isinstance(value, int):
            self.warn(s.first, "the value of this statement is not used (the output is the "
                      "last statement)")
        return value

    # --- user gates -----------------------------------------------------------------------

    def define(self, s: Definition) -> None:
        """``sig(u) = 1/(1+exp(-u))``: a user gate, parsed once into a small graph."""
        self.check_gate_name(s)
        params, close = self.parameters(s)
        body = Builder(self.source)
        scope = {p: body.add(INPUT, (), s.first, s.first, s.first + 1, name=p) for p in params}
        start = close + 2  # after ")" and "="
        if start >= s.last:
            raise self.fail(f"nothing after '=': write the body of {s.name}", start)
        result = Expression(self.source, self.names, body, scope, defining=s.name
                            ).parse(start, s.last)
        used = {i for inputs in body.inputs for i in inputs} | {result if isinstance(result, int)
                                                                 else -1}
        for p in params:
            if scope[p] not in used:
                self.warn(s.first, f"the parameter {p} of {s.name} is not used by its body")
        if len(body) > MAX_BODY:
            raise self.fail(f"the body of {s.name} makes {len(body):,} nodes, more than the "
                            f"{MAX_BODY:,} a user gate may have (its calls of other gates are "
                            "copies of their bodies)", s.first)
        self.gates[s.name] = UserGate(s.name, tuple(params), body, result, s.first)

    def check_gate_name(self, s: Definition) -> None:
        name = s.name
        if function_name(name) in FUNCTIONS or "." in name:
            raise self.fail(f"'{name}' is a function of backviz; give your gate another name",
                            s.first)
        if name in self.gates:
            raise self.fail(f"the gate {name} is defined twice (first at "
                            f"{self.source.place(self.gates[name].token)})", s.first)
        if name in self.scope:
            raise self.fail(f"'{name}' already names a value, and cannot also name a gate",
                            s.first)

    def parameters(self, s: Definition) -> tuple[list[str], int]:
        """The names between the brackets of ``sig(u, v) = ...``, and the token of its ")"."""
        tokens = self.tokens
        params: list[str] = []
        k = s.first + 2
        while tokens[k] != ")":
            param = tokens[k]
            if not is_name(param) or "." in param:
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
            raise self.fail(f"the gate {s.name} needs at least one parameter", k)
        return params, k

    # --- the graph ------------------------------------------------------------------------

    def graph(self, output: int, every_node_used: bool) -> Graph:
        """The graph of what the output depends on; statements it does not use are left out."""
        if every_node_used:
            kept: range | list[int] = range(output + 1)
            bindings = dict(self.scope)  # the output is the last node: every name is bound
        else:
            used = self.builder.used_by(output)
            self.warn_unused(output, used)
            kept = [i for i in range(output + 1) if used[i]]
            bindings = {name: node for name, node in self.scope.items() if node <= output}
        builder = self.builder
        if len(kept) < len(builder):  # number the nodes that are left, in the same order
            builder, new = builder.pruned(kept)
            bindings = {name: new[node] for name, node in bindings.items() if node in new}
        return self.with_data(builder.graph(self.defaults, bindings, self.warnings))

    def with_data(self, graph: Graph) -> Graph:
        """The graph with the names declared data; a declared input the output does not use
        is a warning, any other name that is no input an error at its declaration."""
        unused = []
        for name, token in self.data.items():
            node = self.scope.get(name)
            if name not in graph.input_ids and node is not None:  # the output does not use it
                if self.builder.ops[node] != INPUT:
                    raise self.fail(COMPUTED_DATA.format(name=name), token)
                unused.append(f"{self.source.place(token)}: {name} is declared data, but the "
                              "output does not use it")
                continue
            try:
                graph = graph.with_data([name])
            except BackvizError as err:
                raise self.fail(str(err), token) from None
        return replace(graph, warnings=(*graph.warnings, *unused)) if unused else graph

    def warn_unused(self, output: int, used: list[bool]) -> None:
        """A warning for each name given a value that the output does not use."""
        builder = self.builder
        for i, (op, name, first) in enumerate(zip(builder.ops, builder.names, builder.firsts,
                                                  strict=True)):
            if name is None or (i <= output and used[i]):
                continue
            if op != INPUT:
                self.warn(first, f"{name} is assigned, but the output does not use it")
            elif name in self.defaults:
                self.warn(first, f"{name} is given an example value, but the output does not "
                          "use it")
