"""Programs: statements, named and shared intermediates, example values, user gates."""

from __future__ import annotations

import json
import math
import random
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from micrograd.engine import Value

import backviz
from backviz.cli import cli
from backviz.evaluate import CALL
from backviz.graph import INPUT
from backviz.render import Style, to_dict, to_dot
from backviz.render.style import TOTAL
from backviz.teach import check, explain, frames, steps

# The course notes' forward pass, exactly as the notes write it (optimization-2, "Staged
# computation"), comments and all.
NOTES = """\
x = 3 # example values
y = -4

# forward pass
sigy = 1.0 / (1 + math.exp(-y)) # sigmoid in numerator   #(1)
num = x + sigy # numerator                               #(2)
sigx = 1.0 / (1 + math.exp(-x)) # sigmoid in denominator #(3)
xpy = x + y                                              #(4)
xpysqr = xpy**2                                          #(5)
den = sigx + xpysqr # denominator                        #(6)
invden = 1.0 / den                                       #(7)
f = num * invden # done!                                 #(8)
"""

MICROGRAD = """\
a = -4.0;  b = 2.0
c = a + b;  d = a * b + b**3
c += c + 1;  c += 1 + c + (-a)
d += d * 2 + relu(b + a);  d += 3 * d + relu(b - a)
e = c - d;  f = e**2;  g = f / 2.0;  g += 10.0 / f
"""

SIG = """\
sig(u) = 1/(1+exp(-u))
w0 = 2; x0 = -1; w1 = -3; x1 = -2; w2 = -3
f = sig(w0*x0 + w1*x1 + w2)
"""


def _f(x: float, y: float) -> float:
    def sig(v: float) -> float:
        return 1 / (1 + math.exp(-v))
    return (x + sig(y)) / (sig(x) + (x + y) ** 2)


# --- the notes and micrograd, pasted as they are -------------------------------------------

def test_the_notes_staged_forward_pass_pastes_as_it_is() -> None:
    t = backviz.trace(NOTES)
    assert t.value == pytest.approx(1.5456448841, abs=1e-10)
    assert t.gradients["x"] == pytest.approx(2.0595697956, abs=1e-10)
    assert t.gradients["y"] == pytest.approx(1.5922327515, abs=1e-10)
    h = 1e-6  # and against central differences of the notes' own function
    assert t.gradients["x"] == pytest.approx((_f(3 + h, -4) - _f(3 - h, -4)) / (2 * h), rel=1e-7)
    assert t.warnings == ()
    # Every intermediate is one node, named, with the notes' values.
    expected = {"sigy": 0.0180, "num": 3.0180, "sigx": 0.9526, "xpy": -1.0, "xpysqr": 1.0,
                "den": 1.9526, "invden": 0.5121, "f": 1.5456}
    for name, value in expected.items():
        assert t.value_of(name) == pytest.approx(value, abs=5e-5)
    named = [n.name for n in t.graph.gates if n.name]
    assert named == ["sigy", "num", "sigx", "xpy", "xpysqr", "den", "invden", "f"]
    # "gradients add up at forks": x feeds num, sigx's chain and xpy.
    x = t.graph.bindings["x"]
    assert t.graph.uses[x] == 3
    assert sum(share for gate in t.graph.consumers[x]
               for j, share in zip(t.graph.inputs[gate], t.edge_grads[gate], strict=True)
               if j == x) == pytest.approx(t.gradients["x"])


def test_example_values_are_used_unless_a_value_is_given() -> None:
    assert backviz.trace(NOTES, x=1.0, y=2.0).value == pytest.approx(_f(1.0, 2.0))
    assert backviz.trace(NOTES, {"y": 0.5}).value == pytest.approx(_f(3.0, 0.5))
    assert backviz.parse(NOTES).defaults == {"x": 3.0, "y": -4.0}


def test_micrograd_test_more_ops_matches_micrograd() -> None:
    t = backviz.trace(MICROGRAD)
    assert t.value == pytest.approx(24.70408163265306, rel=1e-12)
    assert t.gradients["a"] == pytest.approx(138.83381924198252, rel=1e-12)
    assert t.gradients["b"] == pytest.approx(645.5772594752186, rel=1e-12)
    # micrograd's own engine on the same statements
    a, b = Value(-4.0), Value(2.0)
    c = a + b
    d = a * b + b**3
    c += c + 1
    c += 1 + c + (-a)
    d += d * 2 + (b + a).relu()
    d += 3 * d + (b - a).relu()
    e = c - d
    f = e**2
    g = f / 2.0
    g += 10.0 / f
    g.backward()
    assert (t.value, t.gradients["a"], t.gradients["b"]) == pytest.approx((g.data, a.grad, b.grad))
    # The small shared graph, not a tree with repeated subtrees.
    assert len(t.graph) < 30


def test_a_value_used_twice_sends_a_share_down_each_edge() -> None:
    t = backviz.trace("q = x * y; f = q * q + q", x=2.0, y=3.0)
    q = t.graph.bindings["q"]
    assert t.graph.uses[q] == 3
    assert t.grad_of("q") == pytest.approx(2 * 6.0 + 1)
    assert t.gradients == pytest.approx({"x": 13.0 * 3, "y": 13.0 * 2})
    data = to_dict(t)
    shares = [s for n in data["nodes"] for j, s in zip(n["inputs"], n.get("edge_grads", []),
                                                         strict=True) if j == q]
    assert sorted(shares) == [1.0, 6.0, 6.0] and data["names"]["q"] == q


def test_reassignment_and_augmented_assignment_follow_python() -> None:
    program = "c = x * 1\nc += c + 1\nc *= 2\nc -= x\nc /= 4\nc **= 2"
    x = 1.5
    c = x * 1
    c += c + 1
    c *= 2
    c -= x
    c /= 4
    c **= 2
    t = backviz.trace(program, x=x)
    assert t.value == pytest.approx(c)
    h = 1e-6

    def run(v: float) -> float:
        return backviz.trace(program, x=v).value
    assert t.gradients["x"] == pytest.approx((run(x + h) - run(x - h)) / (2 * h), rel=1e-6)
    assert [n.name for n in t.graph.gates if n.name] == ["c"] * 6


@pytest.mark.parametrize("seed", range(40))
def test_random_programs_against_central_differences(seed: int) -> None:
    rng = random.Random(seed)
    names = ["x", "y"]
    lines = ["x = 0.7", "y = -1.3"]
    for k in range(rng.randint(2, 8)):
        a, b = rng.choice(names), rng.choice(names)
        op = rng.choice(["+", "-", "*"])
        fn = rng.choice(["", "tanh", "sigmoid", "sin"])
        target = rng.choice([f"v{k}", *names[2:]]) if len(names) > 2 else f"v{k}"
        rhs = f"{fn}({a} {op} {b})" if fn else f"{a} {op} {b}"
        if rng.random() < 0.3 and target in names:
            lines.append(f"{target} += {rhs}")
        else:
            lines.append(f"{target} = {rhs}")
        names.append(target) if target not in names else None
    program = "\n".join(lines)
    t = backviz.trace(program)
    for result in check(t):
        assert result.ok, (program, result)


# --- names everywhere ---------------------------------------------------------------------

def test_names_on_the_figure_and_a_stub_for_the_total() -> None:
    t = backviz.trace("q = x + y; f = q * z", x=-2, y=5, z=-4)
    assert (t.value_of("q"), t.grad_of("q")) == (3.0, -4.0)
    dot = to_dot(t)
    assert "q =</FONT>" in dot and "f =</FONT>" in dot  # names, in black, at their values
    t = backviz.trace("x*y + x", x=3, y=-4)
    dot = to_dot(t)
    # x is used twice: a stub with its total gradient -3, then a fork, then the shares.
    assert "  s0 [" in dot and ">-3</FONT>" in dot.split("  s0 [")[1].split("\n")[0]
    assert "  f0 [shape=point" in dot and "f0 -> e2_0:p:w" in dot and "f0 -> e3_1:p:w" in dot


def test_the_total_appears_in_the_frame_where_the_last_share_arrives() -> None:
    t = backviz.trace("x*y + x", x=3, y=-4)
    shown = [f.style.gradients or frozenset() for f in frames(t)]
    x = t.graph.bindings["x"]
    first = next(k for k, s in enumerate(shown) if (x, TOTAL) in s)
    assert first == len(shown) - 1  # the * gate, visited last, sends x its second share


def test_explain_never_describes_two_gates_the_same_way() -> None:
    for program in (NOTES, MICROGRAD, SIG, "1/(1+exp(-(w0*x0+w1*x1+w2)))",
                    "exp(x)*exp(x)", "sigmoid(x) + sigmoid(x)", "sig(u) = 2*u\nsig(x) + sig(x)"):
        t = backviz.trace(program, {"w0": 1, "x0": 1, "w1": 1, "x1": 1, "w2": 1, "x": 0.5}
                          if "w0" in program or "(x)" in program else {})
        lines = explain(t)[2:-1]
        where = [s.where for s in steps(t)]
        assert len(set(where)) == len(where), where
        assert all(w in line for w, line in zip(where, lines, strict=True)), lines


def test_the_summary_and_explain_speak_the_names() -> None:
    result = CliRunner().invoke(cli, ["-o", "-", "-f", "json", "--", NOTES])
    assert result.exit_code == 0, result.output
    assert result.stderr.splitlines()[:3] == ["f = 1.55", "  df/dx = 2.06", "  df/dy = 1.59"]
    assert "  sigy   = 0.02, df/dsigy = 0.51" in result.stderr.splitlines()
    data = json.loads(result.stdout)
    assert data["expression"] == NOTES  # the program text is kept
    assert [n.get("name") for n in data["nodes"]][-1] == "f"
    lines = explain(backviz.trace(NOTES))
    assert lines[0].startswith("backward pass of the program's f = 1.55")
    assert any(line.startswith("  1/x    invden") for line in lines)


def test_check_checks_inputs_with_example_values() -> None:
    results = check(backviz.trace(NOTES))
    assert [r.name for r in results] == ["x", "y"] and all(r.ok for r in results)


def test_statements_the_output_does_not_use_are_left_out_with_a_warning() -> None:
    t = backviz.trace("k = 4\na = x * 2\nf = x + 1", x=1.0)
    assert [n.label for n in t.graph.nodes] == ["x", "+1"]
    assert t.warnings == ("line 1: k is given an example value, but the output does not use it",
                          "line 2: a is assigned, but the output does not use it")
    assert backviz.trace("x*2; x+1", x=1.0).warnings == (
        "column 1: the value of this statement is not used (the output is the last statement)",)


# --- the language's corners ------------------------------------------------------------------

def test_spellings_of_python_paste() -> None:
    assert backviz.trace("np.exp(x) + numpy.tanh(x) + math.log(x)", x=2.0).value == \
        pytest.approx(math.exp(2) + math.tanh(2) + math.log(2))
    assert backviz.trace("import math\nimport numpy as np\nf = x * math.pi", x=1.0).value == \
        pytest.approx(math.pi)
    t = backviz.trace("W = [[0.1, 0.5], [-0.3, 0.8]]\nx = np.array([0.2, 0.4])\nf = l2(W @ x)")
    assert t.value == pytest.approx(0.116)
    np.testing.assert_allclose(t.gradients["W"], [[0.088, 0.176], [0.104, 0.208]])
    # A line break inside brackets, or after an operator, continues the statement.
    assert backviz.trace("f = (x +\n  1) *\n  2", x=1.0).value == 4.0


def test_a_10000_statement_program() -> None:
    lines = ["v0 = x"] + [f"v{k} = v{k - 1} * 1.0001 + x" for k in range(1, 10_000)]
    t = backviz.trace("\n".join(lines), x=0.001)
    assert len(t.graph.gates) == 2 * 9_999
    assert t.gradients["x"] > 0 and math.isfinite(t.value)


def test_deep_parentheses_in_a_program() -> None:
    assert backviz.trace("y = 2\nf = " + "(" * 1_000 + "x*y" + ")" * 1_000, x=3.0).value == 6.0


@pytest.mark.parametrize(("program", "message"), [
    ("f = q * 2\nq = x + 1",
     "q is used before it is assigned (it is assigned at line 2) (line 1, column 5)\n"
     "  f = q * 2\n      ^"),
    ("s(u) = u*2\ns(u) = u*3\ns(x)",
     "the gate s is defined twice (first at line 1) (line 2, column 1)\n  s(u) = u*3\n  ^"),
    ("s(u) = s(u)*2\ns(x)",
     "the gate s calls itself: a user gate's body may call only functions and gates defined "
     "before it (line 1, column 8)"),
    ("s(u, v) = u*v\ns(x)", "s() takes 2 arguments (line 2, column 4)\n  s(x)\n     ^"),
    ("exp = x + 1\nexp", "'exp' is a function of backviz, and cannot be assigned a value (line 1, "
     "column 1)\n  exp = x + 1\n  ^"),
    ("# only a comment", "there is nothing to compute: the program has only comments (column 1)"),
    ("c += 1", "'c += ...' needs a value of c first: assign it before (e.g. c = 0) (column 1)"),
    ("x = 1\nx = 2\nf = x*x", "x already names a value: an input is given its example value "
     "once, before it is used (line 2, column 1)"),
    ("s(u) = u * y\ns(x)", "the body of s uses y, which is not one of its parameters (u) "
     "(line 1, column 12)"),
    ("import os\nx*2", "only math and numpy can be imported (backviz knows their functions; the "
     "import itself changes nothing) (line 1, column 1)"),
    ("f = g(x)\ng(u) = u", "the gate g is used before it is defined (at line 2) (line 1, "
     "column 5)"),
])
def test_bad_programs_get_one_message_with_the_line(program: str, message: str) -> None:
    with pytest.raises(backviz.BackvizError) as info:
        backviz.parse(program)
    assert str(info.value).startswith(message)
    assert str(info.value).splitlines()[-1].strip() == "^"


def test_bad_programs_on_the_command_line_exit_2_and_write_nothing(tmp_path: Path,
                                                                    monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, ["--", "f = q * 2\nq = x + 1"])
    assert result.exit_code == 2
    assert result.output == ("Error: q is used before it is assigned (it is assigned at line 2) "
                             "(line 1, column 5)\n  f = q * 2\n      ^\n")
    assert not (tmp_path / "output").exists()


def test_an_unused_parameter_is_a_warning() -> None:
    t = backviz.trace("s(u, v) = u*2\nf = s(x, y)", x=1.0, y=2.0)
    assert t.warnings[0] == "line 1: the parameter v of s is not used by its body"
    assert t.gradients == {"x": 2.0}


# --- user gates: boxed, collapsed, and their local gradient --------------------------------

def test_a_user_gate_is_a_box_around_its_gates() -> None:
    t = backviz.trace(SIG)
    assert t.value == pytest.approx(0.7310585786300049)
    (group,) = t.graph.groups
    assert group.name == "sig" and [t.graph.nodes[i].label for i in group.nodes] == \
        ["*-1", "exp", "+1", "1/x"]
    dot = to_dot(t)
    assert 'subgraph cluster_0 {' in dot and 'label="sig"' in dot
    box = dot.split("subgraph cluster_0 {")[1].split("  }")[0]
    assert all(f"  n{i} [" in box for i in group.nodes)


def test_collapsed_the_sigmoid_gate_is_one_gate_with_the_slides_local_gradient() -> None:
    t = backviz.trace(SIG).collapse("sig")
    gate = t.graph.output
    assert (gate.op, gate.label) == (CALL, "sig")
    assert [n.label for n in t.graph.gates] == ["*", "*", "+", "+", "sig"]
    assert float(t.edge_grads[gate.id][0]) == pytest.approx(0.19661193324148188)
    assert t.gradients == pytest.approx(backviz.trace(SIG).gradients)
    line = next(line for line in explain(t) if line.startswith("  sig"))
    assert "((1 - 0.73)(0.73))(1.00) = 0.20" in line  # as the slide writes it
    assert '[label="sig"' in to_dot(t) and "cluster" not in to_dot(t)
    assert all(r.ok for r in check(t))


def test_a_user_gate_that_is_not_a_table_function_writes_its_chain() -> None:
    t = backviz.trace("sq(u) = exp(u)*2\nf = sq(x)", x=0.0).collapse("sq")
    (step,) = [s for s in steps(t) if s.gate.op == CALL]
    assert step.products[0].text == "((2)(e^0))(1) = 2"


def test_nested_user_gates_and_collapse() -> None:
    program = "sig(u) = 1/(1+exp(-u))\nswish(u) = u*sig(u)\nf = swish(x) + swish(y)"
    t = backviz.trace(program, x=0.5, y=-1.0)
    s = 1 / (1 + math.exp(-0.5))
    assert t.gradients["x"] == pytest.approx(s + 0.5 * s * (1 - s))
    assert sorted(g.name for g in t.graph.groups) == ["sig", "sig", "swish", "swish"]
    assert to_dot(t).count("subgraph cluster_") == 4
    assert [n.label for n in t.collapse("swish").graph.gates] == ["swish", "swish", "+"]
    inner = t.collapse("sig")
    assert [n.label for n in inner.graph.gates].count("sig") == 2
    with pytest.raises(backviz.BackvizError, match="there is no user gate 'tanh' to collapse"):
        t.collapse("tanh")


def test_collapse_on_the_command_line_and_in_a_file(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, ["--collapse", "sig", "-o", "-", "-f", "dot", "--", SIG])
    assert result.exit_code == 0, result.output
    assert '[label="sig"' in result.stdout and "cluster" not in result.stdout
    result = CliRunner().invoke(cli, ["--collapse", "nope", "--", SIG])
    assert result.exit_code == 2
    assert result.output.startswith("Error: there is no user gate 'nope' to collapse")


def test_every_gallery_program_draws_cleanly() -> None:
    # The new gallery files' figures are checked like the others (tests/test_gallery.py);
    # here: their numbers.
    root = Path(__file__).resolve().parent.parent / "expressions"
    from backviz.gallery import load
    staged = load(root / "staged_computation.toml")
    assert staged.expression.strip() == NOTES.strip()
    t = backviz.trace(load(root / "micrograd_more_ops.toml").expression)
    assert round(t.value, 4) == 24.7041
    assert {k: round(v, 4) for k, v in t.gradients.items()} == {"a": 138.8338, "b": 645.5773}
    box = load(root / "sigmoid_gate_collapsed.toml")
    assert box.collapse == ("sig",)
    assert Style().precision == 2 and INPUT == "input"


def test_user_gates_that_double_at_each_definition_are_refused_quickly() -> None:
    lines = ["f0(u) = u*2", *(f"f{k}(u) = f{k - 1}(u) + f{k - 1}(u)" for k in range(1, 40)),
             "f39(x)"]
    with pytest.raises(backviz.ExpressionSyntaxError, match="more than the 10,000 a user gate"):
        backviz.parse("\n".join(lines))
    # A body of 8,192 nodes is allowed, and so are calls of it up to 1,000,000 nodes.
    lines = [*lines[:13], "f = " + " + ".join(["f12(x)"] * 130)]
    with pytest.raises(backviz.ExpressionSyntaxError, match="larger than 1,000,000 nodes"):
        backviz.parse("\n".join(lines))


@pytest.mark.parametrize("program", [
    "\ufeffa = x\nb = a*2",        # a byte-order mark, as some editors save
    "a = x\rb = a*2",               # old Mac line breaks
    "a = x\r\nb = a*2\r\n",         # Windows line breaks
    "a = x\u2028b = a*2",           # a Unicode line separator
])
def test_line_breaks_of_every_kind_separate_statements(program: str) -> None:
    t = backviz.trace(program, x=1.5)
    assert (t.value, t.gradients) == (3.0, {"x": 2.0})


def test_every_augmented_assignment_of_python() -> None:
    t = backviz.trace("W = [[1.0, 2.0], [3.0, 4.0]]\nW @= W\nW **= 2\nf = sum(W)")
    assert t.value == float(np.sum((np.array([[1.0, 2.0], [3.0, 4.0]]) @ [[1.0, 2.0], [3.0, 4.0]]) ** 2))
