"""The backviz command, run through click's CliRunner: every option and every message."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from backviz import __version__
from backviz.cli.targets import figure_name

FIG1 = ["(x+y)*z", "--x", "-2", "--y", "5", "--z", "-4"]


def files(folder: Path | str = ".") -> list[str]:
    root = Path(folder)
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def test_the_lecture_example_writes_the_figure_and_a_summary(run) -> None:  # type: ignore[no-untyped-def]
    result = run(*FIG1)
    assert result.exit_code == 0, result.output
    assert result.stdout == (
        "(x+y)*z = -12\n"
        "  d/dx = -4\n"
        "  d/dy = -4\n"
        "  d/dz = 3\n"
        "wrote output/x_y_z.svg\n")
    assert result.stderr == ""
    assert files() == ["output/x_y_z.svg"]
    assert Path("output/x_y_z.svg").read_text().startswith("<?xml")


def test_options_may_come_before_the_expression(run) -> None:  # type: ignore[no-untyped-def]
    result = run("--x", "-2", "--y", "5", "(x+y)*z", "--z", "-4")
    assert result.exit_code == 0, result.output
    assert "(x+y)*z = -12" in result.stdout


def test_an_expression_starting_with_minus_goes_after_double_dash(run) -> None:  # type: ignore[no-untyped-def]
    result = run("--x", "3", "-o", "-", "-f", "json", "--", "-x*x")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["value"] == -9.0 and data["gradients"] == {"x": -6.0}
    result = run("--", "-x*x", "--x", "3", "-o", "-", "-f", "json")
    assert json.loads(result.stdout)["value"] == -9.0


def test_names_are_case_sensitive(run) -> None:  # type: ignore[no-untyped-def]
    result = run("W*w + q_1", "--W", "2", "--w", "3", "--q_1", "1", "-o", "-", "-f", "json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["gradients"] == {"W": 3.0, "w": 2.0, "q_1": 1.0}


def test_a_variable_named_like_an_option_is_given_with_set(run) -> None:  # type: ignore[no-untyped-def]
    result = run("name*format", "--set", "name=2", "--set", "format=[1, 2]", "-o", "-", "-f", "json")
    # format is a vector, so the output is not a scalar: the message says what to do
    assert result.exit_code == 2
    assert "wrap the expression in sum(...)" in result.stderr
    result = run("sum(name*format)", "--set", "name=2", "--set", "format=[1, 2]",
                 "-o", "-", "-f", "json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["gradients"] == {"name": 3.0, "format": [2.0, 2.0]}


def test_values_are_json_lists_or_files(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    np.save(tmp_path / "W.npy", np.array([[0.1, 0.5], [-0.3, 0.8]]))
    (tmp_path / "x.json").write_text("[0.2, 0.4]")
    for w, x in (("[[0.1,0.5],[-0.3,0.8]]", "[0.2,0.4]"), ("@W.npy", "@x.json")):
        result = run("l2(W@x)", "--W", w, "--x", x, "-o", "-", "-f", "json")
        assert result.exit_code == 0, result.output
        data = json.loads(result.stdout)
        assert data["value"] == pytest.approx(0.116)
        assert np.allclose(data["gradients"]["W"], [[0.088, 0.176], [0.104, 0.208]])
        assert np.allclose(data["gradients"]["x"], [-0.112, 0.636])


def test_json_lists_may_hold_nan_and_inf(run) -> None:  # type: ignore[no-untyped-def]
    Path("y.json").write_text("[1, 2, +Infinity]")
    result = run("sum(x*y)", "--x", "[nan, 1, -inf]", "--y", "@y.json", "-o", "-", "-f", "json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["nodes"][0]["value"] == [None, 1.0, None]  # nan and inf are null in JSON
    assert data["warnings"][:2] == ["the value of x is nan", "the value of y is inf"]
    grad_y = json.loads(run("sum(x*y)", "--x", "[nan, 1, -inf]", "--y", "[1, 2, 3]",
                            "-o", "-", "-f", "json").stdout)["gradients"]["y"]
    assert grad_y == [None, 1.0, None]


def test_a_folder_named_like_the_expression(run) -> None:  # type: ignore[no-untyped-def]
    Path("x").mkdir()
    Path("x", "a.toml").write_text('title = "a"\nexpression = "x*2"\n[values]\nx = 3\n')
    # A value for the variable x means the expression x ...
    for args in (["--x", "5"], ["--x=5"], ["--set", "x=5"], ["--set=x=5"]):
        result = run("x", *args, "-o", "-", "-f", "json")
        assert result.exit_code == 0, (args, result.output)
        assert json.loads(result.stdout)["value"] == 5.0
    # ... and without one, x is the folder; written x/, it is the folder whatever is given.
    assert run("x").exit_code == 0 and files("output") == ["a.svg"]
    result = run("x/", "--x", "5", "-o", "-")
    assert result.exit_code == 2 and "a folder renders each file" in result.stderr
    Path("y").mkdir()
    assert run("y").stderr == ("Error: y: no expression files (*.toml) in this folder; "
                               "for the expression y, give its value: --y VALUE\n")
    Path("steps").mkdir()  # --steps is an option: the variable steps takes --set
    assert run("steps").stderr == ("Error: steps: no expression files (*.toml) in this folder; "
                                   "for the expression steps, give its value: --set steps=VALUE\n")
    Path("exp").mkdir()  # a function, not an expression
    assert run("exp").stderr == "Error: exp: no expression files (*.toml) in this folder\n"


def test_a_folder_path_or_a_builtin_option_never_means_an_expression(run) -> None:  # type: ignore[no-untyped-def]
    for folder in ("d/x", "check"):
        Path(folder).mkdir(parents=True)
        Path(folder, "a.toml").write_text('title = "a"\nexpression = "x*2"\n[values]\nx = 3\n')
    result = run("d/x", "--x", "5", "-o", "-")  # d/x is a path, not d divided by x
    assert result.exit_code == 2 and "a folder renders each file" in result.stderr
    result = run("check", "--check")  # --check is not a value for the variable check
    assert result.exit_code == 0, result.output
    assert "largest relative error" in result.stdout


def test_an_expression_too_long_for_a_file_name(run) -> None:  # type: ignore[no-untyped-def]
    expression = "+".join(["x"] * 200)  # 399 characters: the system refuses it as a path
    result = run(expression, "--x", "1", "-o", "-", "-f", "json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["gradients"] == {"x": 200.0}


@pytest.mark.parametrize(("value", "message"), [
    ("abc", "Error: --x: 'abc' is not a number, a JSON list like [1, 2] or [[1, 2], [3, 4]], "
            "or @PATH to a .npy or .json file\n"),
    ("@nope.npy", "Error: --x: no such file: nope.npy\n"),
    ("@values.txt", "Error: --x: values.txt must be a .npy or .json file\n"),
    ('["a"]', "Error: the value of x must be a number, a list of numbers or a numpy array, "
              "not ['a'] (a list or array must be rectangular and hold only numbers)\n"),
    ('["nan"]', "Error: the value of x must be a number, a list of numbers or a numpy array, "
                "not ['nan'] (a list or array must be rectangular and hold only numbers)\n"),
])
def test_bad_values_are_one_clear_message(run, value: str, message: str) -> None:  # type: ignore[no-untyped-def]
    result = run("x*2", "--x", value)
    assert result.exit_code == 2
    assert result.stderr == message
    assert result.stdout == ""
    assert files() == []


def test_syntax_error_shows_the_caret(run) -> None:  # type: ignore[no-untyped-def]
    result = run("(x+y)*", "--x", "1", "--y", "2")
    assert result.exit_code == 2
    assert result.stderr == (
        "Error: the expression ends too early: a value is missing (column 7)\n"
        "  (x+y)*\n"
        "        ^\n")
    assert "Traceback" not in result.output
    assert files() == []


def test_missing_values_are_all_named(run) -> None:  # type: ignore[no-untyped-def]
    result = run("(x+y)*z", "--y", "1")
    assert result.exit_code == 2
    assert result.stderr == "Error: no values for x, z (give them, e.g. --x VALUE --z VALUE)\n"


def test_an_unknown_variable_option_names_the_real_ones(run) -> None:  # type: ignore[no-untyped-def]
    result = run(*FIG1, "--X", "1")
    assert result.exit_code == 2
    assert result.stderr == ("Error: --X is not a variable of the expression (did you mean --x? "
                             "names are case-sensitive)\n")


@pytest.mark.parametrize(("args", "message"), [
    (["--x", "1", "--x", "2"], "--x is given twice: give each variable one value"),
    (["--x=1", "--x", "2"], "--x is given twice: give each variable one value"),
    (["--x", "1", "--set", "x=2"], "--set x: x is given a value twice; give it one"),
    (["--set", "x=1", "--set", "x=2"], "--set x: x is given a value twice; give it one"),
])
def test_a_value_given_twice_is_an_error(run, args: list[str],  # type: ignore[no-untyped-def]
                                         message: str) -> None:
    result = run("(x+y)*z", "--y", "5", "--z", "-4", *args)
    assert (result.exit_code, result.stderr) == (2, f"Error: {message}\n")
    assert files() == []


def test_no_expression(run) -> None:  # type: ignore[no-untyped-def]
    for args in (("--x", "1"), ()):
        result = run(*args)
        assert result.exit_code == 2, args
        assert result.stderr == ('Error: give an expression (e.g. "(x+y)*z"), an expression '
                                 "file or a folder of them; usage: backviz EXPRESSION|FILE.toml|"
                                 "FOLDER [--NAME VALUE]... [OPTIONS] (backviz --help for more)\n")


def test_an_empty_expression_is_not_the_current_folder(run) -> None:  # type: ignore[no-untyped-def]
    Path("a.toml").write_text('expression = "x"\n[values]\nx = 1\n')
    result = run("", "--x", "1")
    assert result.exit_code == 2
    assert result.stderr.startswith("Error: the expression is empty")
    assert files() == ["a.toml"]


def test_unknown_function_suggests_one(run) -> None:  # type: ignore[no-untyped-def]
    result = run("sigmod(x)", "--x", "1")
    assert result.exit_code == 2
    assert result.stderr.startswith("Error: unknown function 'sigmod'; did you mean sigmoid?")
    assert result.stderr.endswith("  sigmod(x)\n  ^\n")


def test_shape_mismatch_names_the_gate_and_shapes(run) -> None:  # type: ignore[no-untyped-def]
    result = run("sum(W@x)", "--W", "[[1,2],[3,4]]", "--x", "[1,2,3]")
    assert result.exit_code == 2
    assert result.stderr == ("Error: W@x: cannot multiply W (2, 2) by x (3,): the inner sizes "
                             "2 and 3 differ (column 6)\n  sum(W@x)\n       ^\n")


def test_name_output_and_format_choose_the_file(run) -> None:  # type: ignore[no-untyped-def]
    assert run(*FIG1, "--name", "first").exit_code == 0
    assert run(*FIG1, "--format", "dot").exit_code == 0
    assert run(*FIG1, "-o", "figs/a.png").exit_code == 0
    assert run(*FIG1, "-o", "figs/a.pdf").exit_code == 0
    assert run(*FIG1, "-o", "figs/a.json").exit_code == 0
    assert run(*FIG1, "-o", "figs/b.txt", "--format", "dot").exit_code == 0
    assert files() == ["figs/a.json", "figs/a.pdf", "figs/a.png", "figs/b.txt",
                       "output/first.svg", "output/x_y_z.dot"]
    assert Path("figs/a.png").read_bytes().startswith(b"\x89PNG")
    assert Path("figs/b.txt").read_text().startswith("digraph")


def test_unknown_suffix_and_bad_name_are_refused(run) -> None:  # type: ignore[no-untyped-def]
    result = run(*FIG1, "-o", "fig.bmp")
    assert result.exit_code == 2
    assert result.stderr == ("Error: unknown output format 'bmp': choose one of svg, dot, png, pdf, "
                             "json, tex\n")
    result = run(*FIG1, "--name", "../evil")
    assert result.exit_code == 2
    assert result.stderr == "Error: --name '../evil': use only letters, digits, '_' and '-'\n"
    assert files() == []


def test_stdout_gets_the_figure_and_stderr_the_summary(run) -> None:  # type: ignore[no-untyped-def]
    result = run(*FIG1, "-o", "-")
    assert result.exit_code == 0
    assert result.stdout.startswith("<?xml")
    assert result.stderr == "(x+y)*z = -12\n  d/dx = -4\n  d/dy = -4\n  d/dz = 3\n"
    assert files() == []


def test_json_format(run) -> None:  # type: ignore[no-untyped-def]
    result = run(*FIG1, "-o", "-", "--format", "json")
    data = json.loads(result.stdout)
    assert set(data) == {"expression", "value", "gradients", "nodes", "warnings"}
    assert data["expression"] == "(x+y)*z"
    assert data["gradients"] == {"x": -4.0, "y": -4.0, "z": 3.0}
    assert data["nodes"][2] == {"id": 2, "op": "add", "label": "+", "inputs": [0, 1],
                                "value": 3.0, "grad": -4.0, "edge_grads": [-4.0, -4.0]}
    assert [n["label"] for n in data["nodes"]] == ["x", "y", "+", "z", "*"]
    assert data["warnings"] == []


def test_precision(run) -> None:  # type: ignore[no-untyped-def]
    result = run(*FIG1, "--precision", "3", "-o", "-", "-f", "dot")
    assert ">-12.000<" in result.stdout
    assert "(x+y)*z = -12.000" in result.stderr
    result = run(*FIG1, "--precision", "13")
    assert result.exit_code == 2


def test_non_finite_result_renders_with_a_warning(run) -> None:  # type: ignore[no-untyped-def]
    result = run("log(x)+y", "--x", "-1", "--y", "2")
    assert result.exit_code == 0
    assert "warning: the gate 'log' (column 1) gives nan in the forward pass\n" in result.stderr
    assert files() == ["output/log_x_y.svg"]


def test_an_unused_value_is_a_warning(run) -> None:  # type: ignore[no-untyped-def]
    result = run("x*2", "--x", "1", "--set", "q=2", "-o", "-", "-f", "json")
    assert result.exit_code == 0
    assert "warning: q is given a value but is not in the expression" in result.stderr


def test_missing_graphviz_fails_cleanly_and_writes_nothing(run, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("PATH", "/nonexistent")
    result = run(*FIG1)
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: Graphviz's 'dot' program is not installed")
    assert "apt-get install graphviz" in result.stderr
    assert files() == []
    assert run(*FIG1, "--format", "dot").exit_code == 0  # dot and json need no Graphviz


def test_no_partial_file_when_writing_fails(run, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    Path("output").mkdir()
    Path("output/x_y_z.svg").write_text("old figure")

    def broken(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", broken)
    result = run(*FIG1)
    assert result.exit_code == 1
    assert result.stderr == "Error: cannot write output/x_y_z.svg: No space left on device\n"
    assert files() == ["output/x_y_z.svg"]
    assert Path("output/x_y_z.svg").read_text() == "old figure"


def test_help_teaches_by_example(run) -> None:  # type: ignore[no-untyped-def]
    result = run("--help")
    assert result.exit_code == 0
    assert result.stdout.startswith("Usage: backviz EXPRESSION|FILE.toml|FOLDER [--NAME VALUE]...")
    assert 'backviz "(x+y)*z" --x -2 --y 5 --z -4' in result.stdout
    for option in ("--output", "--format", "--name", "--precision", "--set", "--version"):
        assert option in result.stdout


def test_version(run) -> None:  # type: ignore[no-untyped-def]
    result = run("--version")
    assert result.stdout == f"backviz {__version__}\n"


@pytest.mark.parametrize(("expression", "name"), [
    ("(x+y)*z", "x_y_z"),
    ("1/(1+exp(-(w0*x0+w1*x1+w2)))", "1_1_exp_w0_x0_w1_x1_w2"),
    ("W@x", "w_x"),
    ("../../etc/passwd", "etc_passwd"),
    ("+", "figure"),
])
def test_figure_names_are_safe(expression: str, name: str) -> None:
    assert figure_name(expression) == name


def test_long_expressions_get_a_short_unique_name() -> None:
    a = figure_name("+".join(f"x{i}" for i in range(100)))
    b = figure_name("+".join(f"x{i}" for i in range(101)))
    assert a != b and len(a) <= 60 and len(b) <= 60
    assert set(a) <= set("abcdefghijklmnopqrstuvwxyz0123456789_-")


def test_python_dash_m_runs_the_command(tmp_path: Path) -> None:
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-m", "backviz", *FIG1, "-o", "-", "-f", "json"],
                          capture_output=True, text=True, cwd=tmp_path, check=False)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["gradients"] == {"x": -4.0, "y": -4.0, "z": 3.0}


@pytest.mark.parametrize(("args", "message"), [
    (["--format", "bmp"], "Error: Invalid value for '-f' / '--format': 'bmp' is not one of "
                          "'svg', 'dot', 'png', 'pdf', 'json', 'tex', 'gif', 'apng', 'mp4'.\n"),
    (["--format", "gif"], "Error: gif is an animation of a build: add --steps\n"),
    (["-o", "f.gif"], "Error: gif is an animation of a build: add --steps\n"),
    (["--precision", "-1"], "Error: Invalid value for '-p' / '--precision': -1 is not in the "
                            "range 0<=x<=12.\n"),
])
def test_bad_option_values_are_one_line(run, args: list[str], message: str) -> None:  # type: ignore[no-untyped-def]
    result = run(*FIG1, *args)
    assert result.exit_code == 2
    assert result.stderr == message


@pytest.mark.parametrize(("args", "message"), [
    (["x*2", "--set", "x=abc"], "Error: --set x: 'abc' is not a number, a JSON list like [1, 2] or "
                                "[[1, 2], [3, 4]], or @PATH to a .npy or .json file\n"),
    (["x*2", "--x", "@"], "Error: --x: '@' needs a file after it, e.g. @W.npy\n"),
    (["x*2", "--x", "1", "-o", ""], "Error: -o needs a file name (or - for stdout)\n"),
])
def test_messages_name_the_option_at_fault(run, args: list[str], message: str) -> None:  # type: ignore[no-untyped-def]
    result = run(*args)
    assert result.exit_code == 2
    assert result.stderr == message
    assert files() == []
