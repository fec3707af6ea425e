"""backviz.from_micrograd against the real micrograd 0.1.0 and the lecture's labelled Value;
and the bridges' figures (examples/bridges.py) in step with output/ and docs/bridges.md."""

from __future__ import annotations

import json
import random
import re
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
from micrograd.engine import Value
from micrograd.nn import MLP

import backviz
from backviz.errors import BackvizError

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "examples"))

import bridges  # noqa: E402  (examples/bridges.py, which needs examples/ on the path)
from micrograd_lecture import Value as LectureValue  # noqa: E402


def close(mine: float, theirs: float) -> bool:
    return abs(mine - theirs) <= 1e-12 * max(1.0, abs(theirs))


def lecture_neuron() -> LectureValue:
    x1, x2 = LectureValue(2.0, label="x1"), LectureValue(0.0, label="x2")
    w1, w2 = LectureValue(-3.0, label="w1"), LectureValue(1.0, label="w2")
    b = LectureValue(6.8813735870195432, label="b")
    n = x1 * w1 + x2 * w2 + b
    n.label = "n"
    e = (2 * n).exp()
    o = (e - 1) / (e + 1)  # the lecture's tanh, spelled out: exp, **-1, and numbers
    o.label = "o"
    return o


def leaves(v: object) -> list:
    out, stack, seen = [], [v], set()
    while stack:
        x = stack.pop()
        if id(x) in seen:
            continue
        seen.add(id(x))
        if not x._prev:
            out.append(x)
        stack.extend(x._prev)
    return out


def test_the_lecture_example_has_the_lecture_names_and_numbers() -> None:
    t = bridges.lecture_L()
    assert t.expression == "e = a * b\nd = e + c\nL = d * f"
    assert t.value == -8.0
    assert t.gradients == {"a": 6.0, "b": -4.0, "c": -2.0, "f": 4.0}
    assert t.grad_of("d") == -2.0 and t.grad_of("e") == -2.0


def test_upstream_values_are_named_by_the_calling_code() -> None:
    a, b = Value(2.0), Value(-3.0)
    c = a * b + a
    t = backviz.from_micrograd(c)
    assert t.graph.variables == ("a", "b")
    assert t.graph.names[-1] == "c"
    assert t.gradients == {"a": -2.0, "b": 2.0}  # a is used twice: -3 + 1


def test_unnamed_values_get_names_in_the_order_of_the_graph_never_addresses() -> None:
    t = backviz.from_micrograd(Value(3.0) * Value(4.0) + Value(5.0))
    assert t.graph.variables == ("v1", "v2", "v3")
    assert t.gradients == {"v1": 4.0, "v2": 3.0, "v3": 1.0}


def test_the_gradients_are_micrograds_on_every_leaf_of_the_lecture_neuron() -> None:
    o = lecture_neuron()
    t = backviz.from_micrograd(o)
    o.backward()
    named = dict(zip(t.graph.names, t.grads, strict=True))
    for leaf in leaves(o):
        if leaf.label:
            assert close(float(named[leaf.label]), leaf.grad), leaf.label
    assert close(t.value, o.data) and close(t.gradients["x1"], -1.5)


def test_the_gradients_are_micrograds_on_every_parameter_of_an_mlp() -> None:
    random.seed(7)
    model = MLP(3, [4, 4, 1])
    t = backviz.from_micrograd(lambda x: (model(x) - 1.0) ** 2, [2.0, 3.0, -1.0])
    loss = (model([2.0, 3.0, -1.0]) - 1.0) ** 2
    loss.backward()
    assert close(t.value, loss.data)
    params = model.parameters()
    assert len(params) == 41 and len(t.gradients) == 41  # the inputs x are numbers: constants
    for k, layer in enumerate(model.layers):
        for j, neuron in enumerate(layer.neurons):
            for i, w in enumerate(neuron.w):
                assert close(t.gradients[f"layers[{k}].neurons[{j}].w[{i}]"], w.grad)
            assert close(t.gradients[f"layers[{k}].neurons[{j}].b"], neuron.b.grad)


def test_each_neuron_is_a_box_that_collapses_to_one_gate() -> None:
    random.seed(7)
    model = MLP(3, [4, 4, 1])
    t = backviz.from_micrograd(lambda x: (model(x) - 1.0) ** 2, [2.0, 3.0, -1.0])
    names = [g.name for g in t.graph.groups]
    assert names.count("Neuron") == 9 and names.count("MLP") == 1
    dot = t.to_dot()
    assert dot.count("cluster") >= 10 and 'label="Neuron"' in dot
    small = t.collapse("Neuron")
    assert [small.graph.ops.count("call"), len(small.graph)] == [9, len(small.graph)]
    assert small.value == t.value and small.gradients == t.gradients
    assert {n.label for n in small.graph.gates} == {"Neuron", "+(-1)", "^2"}


def test_a_second_backward_without_zero_grad_is_told() -> None:
    a, b = Value(2.0), Value(-3.0)
    c = a * b
    c.backward()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # none is told
        assert backviz.from_micrograd(c).warnings == ()
    c.backward()
    with pytest.warns(backviz.BridgeWarning, match=r"\.grad is -?\d, and backviz finds -?\d "
                      r"\(did backward\(\) run more than once without zero_grad\(\)\?\)") as told:
        t = backviz.from_micrograd(c)
    assert t.warnings[0].startswith("a.grad is -6, and backviz finds -3 (did")
    assert len(t.warnings) == 2 and [str(w.message) for w in told] == list(t.warnings)


def test_an_operation_without_a_gate_is_one_clear_error() -> None:
    x = Value(2.0)
    y = Value(5.0, (x,), "cumsum")
    with pytest.raises(BackvizError, match=r"micrograd's operation 'cumsum' has no gate in "
                       r"backviz \(it draws: "):
        backviz.from_micrograd(y)
    with pytest.raises(BackvizError, match="takes a micrograd Value"):
        backviz.from_micrograd(3.0)


def test_a_chain_deeper_than_micrograds_own_sort_can_go() -> None:
    def chain(x: Value) -> Value:
        for _ in range(5000):
            x = x * 1.0001 + 0.0
        return x

    t = backviz.from_micrograd(chain, Value(1.0))  # run: its numbers are constants
    assert len(t.graph) == 10001 and t.graph.variables == ("x",)
    assert {n.label for n in t.graph.gates} == {"*1.0001", "+0"}
    assert len(backviz.from_micrograd(chain(Value(1.0))).graph) == 20001  # given: inputs
    assert close(t.gradients["x"], 1.0001 ** 5000)


def test_teaching_mode_and_json_work_on_a_bridged_trace() -> None:
    t = bridges.lecture_neuron()
    lines = t.explain().splitlines()
    assert any("tanh" in line for line in lines) and len(lines) >= 4
    assert len(t.steps().frames) == len(t.graph.gates) + 2  # the forward pass, the start
    data = json.loads(t.to_json())
    assert data["expression"] == t.expression and data["value"] == pytest.approx(0.7071, 1e-4)
    assert t.check().ok


SAME = """
import random, sys
sys.path.insert(0, {examples!r})
import bridges
print(bridges.micrograd_mlp().to_dot())
print(bridges.lecture_neuron().to_svg())
"""


def test_the_same_program_gives_the_same_bytes_in_two_processes() -> None:
    code = SAME.format(examples=str(ROOT / "examples"))
    runs = [subprocess.run([sys.executable, "-c", code], capture_output=True, check=True,
                           env={"PYTHONHASHSEED": seed, "PATH": "/usr/bin:/bin"}).stdout
            for seed in ("1", "2")]
    assert runs[0] == runs[1] and b"Neuron" in runs[0]


def test_the_bridges_figures_in_output_are_what_the_code_draws(tmp_path: Path) -> None:
    for name, trace in bridges.figures().items():
        made = trace.save(tmp_path / f"{name}.svg").read_bytes()
        assert made == (ROOT / "output" / f"{name}.svg").read_bytes(), (
            f"output/{name}.svg is out of step: run .venv/bin/python examples/bridges.py")


def test_the_page_shows_the_code_that_draws_the_figures() -> None:
    page = (ROOT / "docs" / "bridges.md").read_text()
    script = (ROOT / "examples" / "bridges.py").read_text()
    shown = re.findall(r"^```py\n(.*?)^```", page, flags=re.DOTALL | re.MULTILINE)
    assert len(shown) >= 4
    for code in shown:
        body = [line for line in code.splitlines() if line.strip()]
        assert all(f"    {line}" in script or line in script for line in body), code
    for name in bridges.figures():
        assert f"../output/{name}.svg" in page
