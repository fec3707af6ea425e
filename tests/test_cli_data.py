"""Inputs that are given data: said in the program, on the command line, in an expression
file and in Python, and drawn and reported without a gradient in every output."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

import backviz
from backviz import live
from backviz.gallery import load
from backviz.live import draw
from backviz.teach import check_lines, explain

LOSS = "l2(W @ x - y)"
VALUES: dict[str, Any] = {"W": [[1.0, 2.0], [3.0, 4.0]], "x": [1.0, -1.0], "y": [0.5, 1.0]}
OPTIONS = ["--W", "[[1, 2], [3, 4]]", "--x", "[1, -1]", "--y", "[0.5, 1]"]


def assert_y_is_data(t: backviz.Trace) -> None:
    """y is declared data, has no gradient, and W and x keep theirs."""
    assert t.graph.data == frozenset({"y"})
    assert t.data_inputs == frozenset({t.graph.input_ids["y"]})
    assert list(t.gradients) == ["W", "x"]
    assert t.gradients["x"].tolist() == [-15.0, -22.0]


# --- the four ways to say it ------------------------------------------------------------

def test_a_program_says_it_with_a_data_statement() -> None:
    assert_y_is_data(backviz.trace(f"data y\n{LOSS}", VALUES))
    assert_y_is_data(backviz.trace(f"data y; {LOSS}", VALUES))
    t = backviz.trace(f"data y, x; {LOSS}", VALUES)
    assert t.graph.data == frozenset({"x", "y"}) and list(t.gradients) == ["W"]
    later = backviz.trace(f"{LOSS.replace('l2', 'q = l2')}\ndata y\nq * 2", VALUES)
    assert later.graph.data == frozenset({"y"})  # declared after the name is used


def test_python_marks_the_value() -> None:
    t = backviz.trace(LOSS, W=VALUES["W"], x=VALUES["x"], y=backviz.data(VALUES["y"]))
    assert_y_is_data(t)
    assert t.inputs["y"].tolist() == [0.5, 1.0]  # the mark is gone from the value
    assert_y_is_data(backviz.trace(LOSS, {**VALUES, "y": backviz.data(VALUES["y"])}))
    assert "data" in backviz.__all__


def test_the_command_line_says_it_with_data(run) -> None:  # type: ignore[no-untyped-def]
    result = run(LOSS, *OPTIONS, "--data", "y", "-o", "loss.json")
    assert result.exit_code == 0, result.output
    assert result.stdout == ("l2(W @ x - y) = 6.25\n"
                             "  d/dW = [[-3.00, 3.00], [-4.00, 4.00]]\n"
                             "  d/dx = [-15.00, -22.00]\n"
                             "wrote loss.json\n")
    assert list(json.loads(Path("loss.json").read_text())["gradients"]) == ["W", "x"]
    for both in (["--data", "y,x"], ["--data", "y", "--data", "x"]):
        result = run(LOSS, *OPTIONS, *both, "-o", "-", "-f", "json")
        assert result.exit_code == 0, result.output
        assert list(json.loads(result.stdout)["gradients"]) == ["W"]
    assert "--data NAME" in run("--help").output


def test_an_expression_file_says_it_with_a_data_field(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "loss.toml"
    path.write_text(f'title = "a loss"\nexpression = "{LOSS}"\ndata = ["y"]\n\n[values]\n'
                    'W = [[1, 2], [3, 4]]\nx = [1, -1]\ny = [0.5, 1]\n')
    figure = load(path)
    assert figure.data == ("y",) and figure.graph is not None
    assert figure.graph.data == frozenset({"y"})
    result = run(str(path), "-o", "-", "-f", "json")
    assert result.exit_code == 0, result.output
    assert list(json.loads(result.stdout)["gradients"]) == ["W", "x"]


def test_an_index_input_is_data_without_saying_so() -> None:
    t = backviz.trace("-log_softmax(s)[y]", s=[3.2, 5.1, -1.7], y=0)
    assert t.data_inputs == frozenset({t.graph.input_ids["y"]}) and t.graph.data == frozenset()
    assert list(t.gradients) == ["s"]


# --- what is wrong, said once -----------------------------------------------------------

@pytest.mark.parametrize(("program", "message"), [
    (f"q = W @ x; data q\n{LOSS}",
     "q is computed by the program, not given: only an input can be data (line 1, column 17)"
     "\n  q = W @ x; data q\n                  ^"),
    (f"data z; {LOSS}", "z is not an input of the expression, so it cannot be data (its "
                        "inputs: W, x, y) (column 6)\n  data z; l2(W @ x - y)\n       ^"),
    ("data y", "the program ends with 'data': its last statement must give the output "
               "(column 1)\n  data y\n  ^"),
    (f"data y z; {LOSS}", "expected ',' between the names after 'data' (column 8)\n"
                          "  data y z; l2(W @ x - y)\n         ^"),
    (f"data 2; {LOSS}", "'data' is followed by the names of inputs: data y, dout (column 6)\n"
                        "  data 2; l2(W @ x - y)\n       ^"),
])
def test_a_data_statement_that_names_no_input_is_an_error_at_the_name(program: str,
                                                                       message: str) -> None:
    with pytest.raises(backviz.ExpressionSyntaxError) as err:
        backviz.parse(program)
    assert str(err.value) == message


def test_data_the_output_does_not_use_is_a_warning_and_a_variable_may_be_called_data() -> None:
    t = backviz.trace("data y\nz = y * 2\nsum(x)", x=[1.0], y=2.0)
    assert "line 1: y is declared data, but the output does not use it" in t.warnings
    t = backviz.trace("data * 2 + x", data=3.0, x=1.0)
    assert t.gradients == {"data": 2.0, "x": 1.0} and t.graph.data == frozenset()


def test_the_command_line_refuses_what_is_no_input(run) -> None:  # type: ignore[no-untyped-def]
    for names, message in [
        ("z", "Error: --data z: z is not an input of the expression, so it cannot be data "
              "(its inputs: W, x, y)\n"),
        ("q", "Error: --data q: q is computed by the program, not given: only an input can "
              "be data\n")]:
        result = run(f"q = W @ x; {LOSS.replace('W @ x', 'q')}", *OPTIONS, "--data", names)
        assert (result.exit_code, result.stderr) == (2, message)
    result = run("data * W", "--W", "2", "--data", "3")
    assert result.exit_code == 2
    assert result.stderr.endswith("; for the variable data, write --set data=3\n")
    assert Path("output").exists() is False


def test_an_expression_file_with_a_bad_data_field_says_so(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    for field, problem in [('"y"', "the field 'data' must be a list of inputs' names"),
                           ('["z"]', "field 'data': z is not an input of the expression")]:
        path.write_text(f'title = "t"\nexpression = "x * y"\ndata = {field}\n')
        with pytest.raises(backviz.GalleryFileError, match=re.escape(problem)):
            load(path)


# --- every output leaves its gradient out ------------------------------------------------

def traced() -> backviz.Trace:
    return backviz.trace(LOSS, {**VALUES, "y": backviz.data(VALUES["y"])})


def test_the_figure_draws_data_with_its_value_and_the_word_data_and_no_red() -> None:
    t = traced()
    dot = t.to_dot()
    y = t.graph.input_ids["y"]
    assert re.search(rf'n{y} \[[^\n]*label=<y<BR/><FONT POINT-SIZE="10" COLOR="#555555">data</FONT>',
                     dot)
    (sub,) = [n for n in t.graph.gates if n.op == "sub"]
    edge = next(line for line in dot.splitlines() if line.startswith(f"  e{sub.id}_1 "))
    assert "#008000" in edge and "#FF0000" not in edge  # its value, no gradient
    own = next(line for line in dot.splitlines() if line.startswith(f"  e{sub.id}_0 "))
    assert "#FF0000" in own  # the other input keeps its red number
    assert "style=dashed" not in dot  # data is no index: its edge is a plain line


def test_a_shared_data_input_has_no_total_either() -> None:
    t = backviz.trace("data y; sum(y * w) + sum(y)", y=[1.0, 2.0], w=[3.0, 4.0])
    stub = next(line for line in t.to_dot().splitlines()
                if line.startswith(f"  s{t.graph.input_ids['y']} "))
    assert "#008000" in stub and "#FF0000" not in stub


def test_the_summary_explain_and_check_leave_it_out() -> None:
    t = traced()
    assert "d/dy" not in t.summary() and "d/dx = [-15.00, -22.00]" in t.summary()
    lines = explain(t)
    assert lines[-1] == ("gradients: d/dW = [[-3.00, 3.00], [-4.00, 4.00]], "
                         "d/dx = [-15.00, -22.00]")
    (sub,) = [line for line in lines if line.startswith("  -  ")]
    assert sub.endswith("(1)([-3.00, -4.00]) = [-3.00, -4.00] to W @ x")  # nothing to y
    report = t.check()
    assert report.ok and list(report.errors) == ["W", "x"]
    assert not any(line.lstrip().startswith("y ") for line in check_lines(t, list(report.results)))


def test_the_summary_gives_a_name_computed_from_data_alone_no_gradient() -> None:
    t = backviz.trace("data y; N = X.shape[0]; m = 2 * y; s = X[np.arange(N), y] * w\n"
                      "loss = sum(s) + sum(m)", X=[[1.0, 2.0], [3.0, 4.0]], y=[1, 0], w=2.0)
    lines = t.summary().splitlines()
    assert "  N = 2, no gradient (from given data or shapes alone)" in lines
    assert "  m = [2, 0], no gradient (from given data or shapes alone)" in lines
    assert "  s = [4, 6], dloss/ds = [1, 1]" in lines
    assert not any("dloss/dN" in line or "dloss/dm" in line for line in lines)


def test_a_gate_of_data_alone_sends_nothing_back() -> None:
    t = backviz.trace("data y; sum(x) + 2*y", x=[1.0], y=3.0)
    assert any(line.endswith("nothing to send back to given data") for line in explain(t))


def test_the_command_check_and_explain_leave_it_out(run) -> None:  # type: ignore[no-untyped-def]
    result = run(LOSS, *OPTIONS, "--data", "y", "--check", "--explain")
    assert result.exit_code == 0, result.output
    assert "d/dy" not in result.stdout and " to y" not in result.stdout
    checked = [line.split()[0] for line in result.stdout.splitlines()
               if "largest relative error" in line]
    assert checked == ["W", "x"]


def test_json_marks_data_and_gives_it_no_gradient() -> None:
    data = json.loads(traced().to_json())
    assert list(data["gradients"]) == ["W", "x"]
    (y,) = [node for node in data["nodes"] if node.get("name") == "y"]
    assert y["data"] is True and "grad" not in y and y["value"] == [0.5, 1.0]
    (sub,) = [node for node in data["nodes"] if node["op"] == "sub"]
    assert sub["edge_grads"] == [[-3.0, -4.0], None]
    (w,) = [node for node in data["nodes"] if node.get("name") == "W"]
    assert "data" not in w and w["grad"] == [[-3.0, 3.0], [-4.0, 4.0]]


def test_the_live_page_leaves_it_out() -> None:
    answer = draw({"expression": f"data y\n{LOSS}",
                   "values": {"W": "[[1, 2], [3, 4]]", "x": "[1, -1]", "y": "[0.5, 1]"}})
    assert [g[0] for g in answer.body["summary"]["gradients"]] == ["W", "x"]


def test_the_live_command_declares_data_in_the_text_it_opens_with(
        run, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    started: list[live.Start] = []
    monkeypatch.setattr(live, "serve", lambda start, port, ready: started.append(start))
    result = run("live", LOSS, *OPTIONS, "--data", "y", "--no-browser")
    assert result.exit_code == 0, result.output
    path = tmp_path / "loss.toml"
    path.write_text(f'title = "a loss"\nexpression = "{LOSS}"\ndata = ["y"]\n')
    result = run("live", str(path), *OPTIONS, "--data", "x", "--no-browser")
    assert result.exit_code == 0, result.output
    assert [s.expression for s in started] == [f"data y\n{LOSS}", f"data y, x\n{LOSS}"]
    assert run("live", LOSS, "--data", "z").exit_code == 2
