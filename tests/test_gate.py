"""The gate API: the slides' gate objects (``backviz.gate("*")``), every entry of the
operator table as one, and user gates."""

from __future__ import annotations

import math

import numpy as np
import pytest

import backviz
from backviz.ops import OPS


def test_the_slides_multiply_gate() -> None:
    g = backviz.gate("*")
    assert g.forward(3.0, -4.0) == -12.0
    assert g.backward(2.0) == [-8.0, 6.0]  # dz * y, dz * x


def _numeric_vjp(fn, xs, dz, h=1e-6):  # type: ignore[no-untyped-def]
    out = []
    for k, x in enumerate(xs):
        x = np.array(x, dtype=float)
        grad = np.zeros_like(x)
        for index in np.ndindex(x.shape):
            up, down = x.copy(), x.copy()
            up[index] += h
            down[index] -= h
            args_up = [*xs[:k], up, *xs[k + 1:]]
            args_down = [*xs[:k], down, *xs[k + 1:]]
            grad[index] = np.sum(dz * (fn(*args_up) - fn(*args_down))) / (2 * h)
        out.append(grad)
    return out


@pytest.mark.parametrize("name", sorted(OPS))
def test_every_table_entry_is_a_gate(name: str) -> None:
    from test_ops import PAIRS_WITH_PARAMETER, PARAMETERS  # the table's tests' samples

    op = OPS[name]
    rng = np.random.default_rng(7)
    shape: tuple[int, ...] = (3,)
    shapes: tuple[tuple[int, ...], ...] | None = None
    const: object = 1.7 if op.has_const else None
    if name in PARAMETERS:  # an axis or an index: the last sample without index inputs
        shape, const, _ = [case for case in PARAMETERS[name] if not case[2]][-1]
    if name == "where":  # its mask is an input the gate API has no place for: one message
        with pytest.raises(backviz.BackvizError, match="the gate 'where' cannot combine"):
            backviz.gate(name, const=(None, None)).forward(np.ones(3), np.ones(3))
        return
    if name in PAIRS_WITH_PARAMETER:
        shapes, const, _ = [case for case in PAIRS_WITH_PARAMETER[name] if not case[2]][-1]
    if name == "matmul":
        xs = [rng.uniform(0.5, 1.5, (2, 3)), rng.uniform(0.5, 1.5, 3)]
    else:
        xs = [rng.uniform(0.5, 1.5, s) for s in shapes or [shape] * op.arity]
    g = backviz.gate(name, const=const)  # type: ignore[arg-type]
    out = np.asarray(g.forward(*xs))
    dz = rng.uniform(-1, 1, out.shape)
    grads = g.backward(dz)
    extra = (const,) if op.has_const else ()
    expected = _numeric_vjp(lambda *a: np.asarray(op.forward(*a, *extra)), xs, dz)
    for got, want in zip(grads, expected, strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-7)


def test_a_user_gate_object_and_the_gate_errors() -> None:
    sig = backviz.gate("sig(u) = 1/(1+exp(-u))")
    s = sig.forward(1.0)
    assert s == pytest.approx(1 / (1 + math.exp(-1)))
    assert sig.backward(2.0) == pytest.approx([2 * s * (1 - s)])
    with pytest.raises(backviz.BackvizError, match="call forward"):
        backviz.gate("+").backward(1.0)
    with pytest.raises(backviz.BackvizError, match="takes 2 inputs, not 1"):
        backviz.gate("+").forward(1.0)
    with pytest.raises(backviz.BackvizError, match="carries a constant"):
        backviz.gate("mul_c")
    with pytest.raises(backviz.BackvizError, match="no gate 'nope'"):
        backviz.gate("nope")
