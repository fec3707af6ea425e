"""Graphs built by hand from a tree of table entries, for gates the tests reach directly.

``build(("sum", None, ("index", (("arange", 2), ("input", "y")), "S", "y")))`` is the graph
of ``sum(S[arange(2), y])``: a tree is a variable's name, or ``(op, param, *inputs)``.
"""

from __future__ import annotations

from typing import Any

from backviz.graph import INPUT, Graph
from backviz.ops import Param


def build(tree: Any, expression: str = "") -> Graph:
    ops: list[str] = []
    inputs: list[tuple[int, ...]] = []
    names: list[str | None] = []
    consts: list[Param] = []
    variables: dict[str, int] = {}

    def add(node: Any) -> int:
        if isinstance(node, str):
            if node not in variables:
                variables[node] = len(ops)
                ops.append(INPUT)
                inputs.append(())
                names.append(node)
                consts.append(None)
            return variables[node]
        op, param, *children = node
        ids = tuple(add(child) for child in children)
        ops.append(op)
        inputs.append(ids)
        names.append(None)
        consts.append(param)
        return len(ops) - 1

    add(tree)
    zeros = tuple(0 for _ in ops)  # no text to point into: every node at token 0
    return Graph(expression or repr(tree), tuple(ops), tuple(inputs), tuple(names),
                 tuple(consts), zeros, zeros, tuple(1 for _ in ops))
