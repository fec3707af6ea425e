"""Known answers: the five figures of the CS231n backprop lecture (shared/SLIDES.md).

Every node of every figure is checked, in topological order: its label, its forward
value and its gradient, first rounded as the slide prints them, then against the exact
math behind the slide.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import backviz

FIG2 = "1/(1+exp(-(w0*x0+w1*x1+w2)))"
FIG3 = "sigmoid(w0*x0+w1*x1+w2)"
NEURON = {"w0": 2, "x0": -1, "w1": -3, "x1": -2, "w2": -3}


def rows(t: backviz.Trace) -> list[tuple[str, object, object]]:
    """(label, value, gradient) for every node, in the graph's order."""
    return [(n.label, t.values[n.id], t.grads[n.id]) for n in t.graph.nodes]


def assert_slide(t: backviz.Trace, expected: list[tuple[str, float, float]], digits: int) -> None:
    got = rows(t)
    assert [label for label, _, _ in got] == [label for label, _, _ in expected]
    for (label, value, grad), (_, want_value, want_grad) in zip(got, expected, strict=True):
        assert round(float(value), digits) == want_value, f"value of {label}"
        assert round(float(grad), digits) == want_grad, f"gradient of {label}"


# --- Figure 1: f(x, y, z) = (x + y) z -------------------------------------------------

def test_figure1_every_node() -> None:
    t = backviz.trace("(x+y)*z", x=-2, y=5, z=-4)
    assert [n.label for n in t.graph.gates] == ["+", "*"]
    # The slide writes integers; here they are exact.
    assert [(label, float(v), float(g)) for label, v, g in rows(t)] == [
        ("x", -2.0, -4.0),
        ("y", 5.0, -4.0),
        ("+", 3.0, -4.0),
        ("z", -4.0, 3.0),
        ("*", -12.0, 1.0),
    ]
    assert t.value == -12.0
    assert t.gradients == {"x": -4.0, "y": -4.0, "z": 3.0}


def test_figure1_chain_rule_on_the_edges() -> None:
    t = backviz.trace("(x+y)*z", x=-2, y=5, z=-4)
    add, mul = t.graph.gates
    # df/dq = z = -4 and df/dz = q = 3 on the edges into '*'; '+' distributes -4 to x and y.
    assert [float(s) for s in t.edge_grads[mul.id]] == [-4.0, 3.0]
    assert [float(s) for s in t.edge_grads[add.id]] == [-4.0, -4.0]


# --- Figure 2: the sigmoid neuron, gate by gate ---------------------------------------

FIG2_SLIDE = [
    ("w0", 2.00, -0.20),
    ("x0", -1.00, 0.39),
    ("*", -2.00, 0.20),
    ("w1", -3.00, -0.39),
    ("x1", -2.00, -0.59),
    ("*", 6.00, 0.20),
    ("+", 4.00, 0.20),
    ("w2", -3.00, 0.20),
    ("+", 1.00, 0.20),
    ("*-1", -1.00, -0.20),
    ("exp", 0.37, -0.53),
    ("+1", 1.37, -0.53),
    ("1/x", 0.73, 1.00),
]


def test_figure2_gates_in_order() -> None:
    graph = backviz.parse(FIG2)
    assert [n.label for n in graph.gates] == ["*", "*", "+", "+", "*-1", "exp", "+1", "1/x"]


def test_figure2_every_node_as_on_the_slide() -> None:
    assert_slide(backviz.trace(FIG2, **NEURON), FIG2_SLIDE, 2)


def test_figure2_every_node_exact() -> None:
    t = backviz.trace(FIG2, **NEURON)
    e = math.exp(-1)
    s = 1 / (1 + e)
    ds = s * (1 - s)  # the upstream gradient reaching the two '+' gates
    # The mul gate "switches": w0's gradient is x0 * ds, x0's is w0 * ds.
    expected = [
        (2, -1 * ds), (-1, 2 * ds), (-2, ds),
        (-3, -2 * ds), (-2, -3 * ds), (6, ds),
        (4, ds), (-3, ds), (1, ds),
        (-1, -ds), (e, -s * s), (1 + e, -s * s), (s, 1.0),
    ]
    for (label, value, grad), (want_value, want_grad) in zip(rows(t), expected, strict=True):
        assert float(value) == pytest.approx(want_value, rel=1e-12, abs=1e-15), label
        assert float(grad) == pytest.approx(want_grad, rel=1e-12, abs=1e-15), label


def test_figure2_local_gradients_times_upstream() -> None:
    t = backviz.trace(FIG2, **NEURON)
    *_, neg, exp, plus1, inv = t.graph.gates
    # At 1/x: (-1/1.37^2)(1.00) = -0.53; at +1: (1)(-0.53); at exp: e^x times upstream.
    x = float(t.values[plus1.id])
    assert float(t.edge_grads[inv.id][0]) == pytest.approx(-1 / x**2)
    assert float(t.edge_grads[plus1.id][0]) == pytest.approx(float(t.grads[plus1.id]))
    assert float(t.edge_grads[exp.id][0]) == pytest.approx(
        float(t.values[exp.id]) * float(t.grads[exp.id]))
    assert float(t.edge_grads[neg.id][0]) == pytest.approx(-float(t.grads[neg.id]))


# --- Figure 3: the same neuron with one sigmoid gate ----------------------------------

def test_figure3_every_node() -> None:
    t = backviz.trace(FIG3, **NEURON)
    assert [n.op for n in t.graph.gates] == ["mul", "mul", "add", "add", "sigmoid"]
    expected = [*FIG2_SLIDE[:9], (t.graph.output.label, 0.73, 1.00)]
    assert_slide(t, expected, 2)
    # The sigmoid's local gradient: (1 - 0.73)(0.73) = 0.2.
    sig = t.graph.output
    s = float(t.values[sig.id])
    assert float(t.edge_grads[sig.id][0]) == pytest.approx((1 - s) * s)
    assert round((1 - s) * s, 2) == 0.20


def test_figure3_same_input_gradients_as_figure2() -> None:
    gates = backviz.trace(FIG2, **NEURON)
    sigmoid = backviz.trace(FIG3, **NEURON)
    assert sigmoid.value == pytest.approx(gates.value, rel=1e-14)
    assert sigmoid.gradients.keys() == gates.gradients.keys()
    for name, grad in gates.gradients.items():
        assert sigmoid.gradients[name] == pytest.approx(grad, rel=1e-12)
    # The nodes before the collapsed gates are the same nodes.
    for a, b in zip(rows(gates)[:9], rows(sigmoid)[:9], strict=True):
        assert a[0] == b[0]
        assert float(a[1]) == float(b[1])
        assert float(a[2]) == pytest.approx(float(b[2]), rel=1e-12)


# --- Figure 4: gate patterns -----------------------------------------------------------

def test_figure4_every_node() -> None:
    t = backviz.trace("2*(x*y+max(z,w))", x=3, y=-4, z=2, w=-1)
    assert [n.label for n in t.graph.gates] == ["*", "max", "+", "*2"]
    assert_slide(t, [
        ("x", 3.00, -8.00),
        ("y", -4.00, 6.00),
        ("*", -12.00, 2.00),
        ("z", 2.00, 2.00),
        ("w", -1.00, 0.00),
        ("max", 2.00, 2.00),
        ("+", -10.00, 2.00),
        ("*2", -20.00, 1.00),
    ], 2)
    # Exactly, too: these are small integers.
    assert [(float(v), float(g)) for _, v, g in rows(t)] == [
        (3, -8), (-4, 6), (-12, 2), (2, 2), (-1, 0), (2, 2), (-10, 2), (-20, 1)]


def test_figure4_patterns_on_the_edges() -> None:
    t = backviz.trace("2*(x*y+max(z,w))", x=3, y=-4, z=2, w=-1)
    mul, mx, add, _ = t.graph.gates
    assert [float(s) for s in t.edge_grads[add.id]] == [2.0, 2.0]  # distributor
    assert [float(s) for s in t.edge_grads[mx.id]] == [2.0, 0.0]  # router
    assert [float(s) for s in t.edge_grads[mul.id]] == [-4.0 * 2, 3.0 * 2]  # switcher


# --- Figure 5: a vectorized example ----------------------------------------------------

W5 = [[0.1, 0.5], [-0.3, 0.8]]
X5 = [0.2, 0.4]


def test_figure5_gates() -> None:
    graph = backviz.parse("l2(W@x)")
    assert [n.label for n in graph.gates] == ["*", "L2"]
    assert [n.op for n in graph.gates] == ["matmul", "l2"]


def test_figure5_every_node_as_on_the_slide() -> None:
    t = backviz.trace("l2(W@x)", W=W5, x=X5)
    (label_w, w, dw), (label_x, x, dx), (label_q, q, dq), (label_f, f, df) = rows(t)
    assert (label_w, label_x, label_q, label_f) == ("W", "x", "*", "L2")
    assert np.round(w, 3).tolist() == W5
    assert np.round(dw, 3).tolist() == [[0.088, 0.176], [0.104, 0.208]]
    assert np.round(x, 3).tolist() == X5
    assert np.round(dx, 3).tolist() == [-0.112, 0.636]
    assert np.round(q, 3).tolist() == [0.22, 0.26]
    assert np.round(dq, 3).tolist() == [0.44, 0.52]
    assert round(float(f), 3) == 0.116
    assert round(float(df), 2) == 1.00
    assert np.shape(dw) == (2, 2) and np.shape(dx) == (2,) and np.shape(dq) == (2,)


def test_figure5_exact_rules() -> None:
    t = backviz.trace("l2(W@x)", W=W5, x=X5)
    W, x = np.array(W5), np.array(X5)
    q = W @ x
    np.testing.assert_allclose(t.values[2], q, rtol=1e-15)
    assert t.value == pytest.approx(float(q @ q), rel=1e-15)
    np.testing.assert_allclose(t.grads[2], 2 * q, rtol=1e-15)  # df/dq = 2q
    np.testing.assert_allclose(t.gradients["W"], np.outer(2 * q, x), rtol=1e-14)  # 2 q x^T
    np.testing.assert_allclose(t.gradients["x"], W.T @ (2 * q), rtol=1e-14)  # W^T 2q
    assert isinstance(t.gradients["W"], np.ndarray) and t.gradients["W"].shape == (2, 2)
