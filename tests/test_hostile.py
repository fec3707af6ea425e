"""A hostile pass over the language of programs and over the gate API's tensor gates: what
was found to break, kept broken no more. Each test is named after the promise it keeps."""

from __future__ import annotations

import time

import numpy as np
import pytest

import backviz


@pytest.mark.parametrize(("name", "const", "shapes"), [
    ("amin", (0,), [(3,)]),           # an axis given as a tuple: TypeError before
    ("index", -2**40, [(3,)]),        # an index far out of range: AssertionError
    ("sum", np.array(1.5), [(1,)]),   # an axis that is not a whole number: AssertionError
    ("pow_c", (0,), [(3,)]),          # a tuple as an exponent: TypeError in forward
    ("log_softmax", np.array([0, 1]), [(2, 3)]),
    ("amax", Ellipsis, [(2,)]),
    ("index", (np.array([0, 1]), np.array([1, 0])), [(2, 3)]),  # StopIteration
])
def test_a_gate_given_a_constant_it_cannot_use_raises_a_backviz_error(
        name: str, const: object, shapes: list[tuple[int, ...]]) -> None:
    with pytest.raises(backviz.BackvizError):
        g = backviz.gate(name, const)  # type: ignore[arg-type]
        out = g.forward(*(np.ones(s) for s in shapes))
        g.backward(np.ones(np.shape(out)))


def test_user_gates_that_double_at_each_level_are_refused_quickly() -> None:
    text = "\n".join(["g0(u) = u*u", *(f"g{i}(u) = g{i - 1}(g{i - 1}(u))" for i in range(1, 25)),
                      "f = g24(x)"])
    start = time.monotonic()
    with pytest.raises(backviz.BackvizError, match="more than the 10,000 a user gate may have"):
        backviz.trace(text, x=1.0)
    assert time.monotonic() - start < 10


def test_long_programs_trace_without_recursion() -> None:
    t = backviz.trace("f = x\n" + "f += x\n" * 20000, x=1.0)
    assert t.value == 20001.0 and t.gradients == {"x": 20001.0}
    t = backviz.trace("s(u) = u+1\nf = " + "s(" * 3000 + "x" + ")" * 3000, x=1.0)
    assert t.value == 3001.0


# --- the numpy forms: attribute chains, dunder names, calls on results, shapes of numbers ---

@pytest.mark.parametrize(("text", "values", "message"), [
    ("x.__class__", {}, "a dunder name is not part of backviz's language: names are the program's own"),
    ("x.shape.__len__()", {}, "a dunder name is not part of backviz's language"),
    ("x.sum().foo()", {}, "unknown attribute .foo: a value has .T, .shape"),
    ("x.sum", {}, ".sum is a method: call it, .sum(...) (column 3)"),
    ("x.sum()(y)", {}, "expected an operator before '(': write * to multiply"),
    ("np.sum(x)(y)", {}, "expected an operator before '('"),
    ("np.random.randn(3)", {}, "random numbers is not part of backviz's language: give the "
                              "values as inputs"),
    ("for i in range(3): x", {}, "a loop is not part of backviz's language"),
    ("y = 0\nwhile y: y", {}, "a loop is not part of backviz's language: write out the steps"),
    ("if x > 0: x", {}, "an if is not part of backviz's language: choose with a mask: "
                       "np.where(x > 0, a, b)"),
    ("def f(x): return x", {}, "def is not part of backviz's language: a user gate is one line"),
    ("print(x)", {}, "print is not part of backviz's language: leave it out"),
    ("x + None", {}, "None is not part of backviz's language"),
    ("sum(x, axis=0, 1)", {}, "a positional argument after a keyword argument"),
    ("y = x * 2\nx[0] = 1\ny", {}, "x is an input, and inputs are not changed in place: "
                                 "copy it first, m = x.copy(), then assign to m[...] "
                                 "(line 2, column 1)"),
    ("m[0] = 1\nm", {}, "'m[...] = ...' changes a value the program has made, and m has "
                        "none yet: make it first"),
    ("3 .shape[0] * x", {}, "a number has no shape[0]: it has no axes"),
    ("np.clip(x, y, 1)", {}, "np.clip's bounds are numbers"),
    ("N, D = x + 1\nN", {}, "only a shape unpacks, N, D = X.shape: the language has no tuples"),
    ("N, D = x.shape\nN * D", {"x": [1.0, 2.0]}, "D: a vector (2,) has no shape[1]"),
    ("np.sum(np.max(x, 0))", {}, "np.max(X, 0) is numpy's max along axis 0: write "
                                 "np.max(X, axis=0), or np.maximum(a, b) for the elementwise"),
    ("np.sum(x.max(0))", {}, "write the axis as a keyword: X.max(axis=...) (column 14)"),
    ("x + ...", {}, "unexpected '...': an ellipsis stands only in an index, X[..., 0]"),
    ("np.sum(0 < x < 1)", {}, "a chained comparison (a < b < c) means 'and' in Python"),
])
def test_hostile_numpy_gets_one_clear_message(text: str, values: dict[str, object],
                                              message: str) -> None:
    with pytest.raises(backviz.BackvizError) as info:
        backviz.trace(text, values)
    assert message in str(info.value)
    assert "^" in str(info.value).splitlines()[-1]  # the caret under the column


@pytest.mark.parametrize(("text", "values", "message"), [
    ("x.shape[0] * y", {"x": 2.0, "y": 1.0}, "a number () has no shape[0] (a number has no "
                                              "shape: len and .shape[k] need an array)"),
    ("len(x) * y", {"x": 2.0, "y": 1.0}, "a number () has no len"),
    ("np.sum(x.shape) * y", {"x": 2.0, "y": 1.0}, "it has no .shape to draw"),
    ("np.sum(x.reshape(4, -1))", {"x": [1.0, 2.0, 3.0]}, "cannot be reshaped to (4, -1)"),
    ("m = x * 1\nm[y] = z\nnp.sum(m)", {"x": [1.0, 2.0], "y": [0, 1], "z": [1.0, 2.0, 3.0]},
     "a value of shape (3,) cannot be put in the (2,) places of [y]"),
    ("np.sum(x.sum(axis=(0, 0)))", {"x": [[1.0]]}, "name one axis twice"),
])
def test_numpy_forms_on_values_that_do_not_fit_name_the_problem(
        text: str, values: dict[str, object], message: str) -> None:
    with pytest.raises(backviz.BackvizError) as info:
        backviz.trace(text, values)
    assert message in str(info.value)
