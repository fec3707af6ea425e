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
