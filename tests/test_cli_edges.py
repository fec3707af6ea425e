"""The command line's corners: every one here once gave a traceback, a wrong exit status,
a confusing message or a broken file. Each test is named after the promise it keeps."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import Result

FIG1 = ["(x+y)*z", "--x", "-2", "--y", "5", "--z", "-4"]


def _one_error(result: Result, status: int = 2) -> str:
    assert result.exit_code == status, result.output
    assert result.stderr.startswith("Error: ") and "Traceback" not in result.stderr
    return result.stderr


def test_every_size_refusal_is_bad_input_with_status_2(run) -> None:  # type: ignore[no-untyped-def]
    big = "+".join(f"x*{k}" for k in range(1, 1600))  # 3,197 gates
    message = _one_error(run(big, "--x", "1"))
    assert "3197 gates" in message and "--format json" in message
    steps = "+".join(f"x*{k}" for k in range(1, 160))  # 317 gates
    assert "a build has one frame per gate" in _one_error(run(steps, "--x", "1", "--steps"))
    assert not Path("output").exists()
    result = run(big, "--x", "1", "-o", "-", "-f", "json")
    assert result.exit_code == 0 and json.loads(result.stdout)["value"] == sum(range(1, 1600))


# --- values: numbers, lists and files ----------------------------------------------------

def test_an_expression_starting_with_minus_needs_no_double_dash(run) -> None:  # type: ignore[no-untyped-def]
    result = run("-x*x", "--x", "3", "-o", "-", "-f", "json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["value"] == -9.0
    result = run("--x", "0.5", "-log(x)", "-o", "-", "-f", "json")
    assert json.loads(result.stdout)["gradients"] == {"x": -2.0}


def test_numbers_are_written_as_in_the_expression(run) -> None:  # type: ignore[no-untyped-def]
    assert "'1_000' is not a number" in _one_error(run("x", "--x", "1_000"))
    assert "true is not a number" in _one_error(run("sum(x)", "--x", "[true, 2, 3]"))
    assert "null is not a number" in _one_error(run("sum(x)", "--x", "[null, 2]"))


def test_an_integer_of_5000_digits_is_a_number_not_a_traceback(run) -> None:  # type: ignore[no-untyped-def]
    result = run("sum(x)", "--x", "[" + "1" * 5000 + ", 2]", "-o", "-", "-f", "json")
    assert result.exit_code == 0 and "Traceback" not in result.stderr
    assert "the value of x is inf" in result.stderr
    Path("big.toml").write_text(f'title = "t"\nexpression = "x"\n[values]\nx = {"1" * 5000}\n')
    assert "more than 4,300 digits" in _one_error(run("big.toml"))


def test_values_nested_1000_deep_are_refused_and_a_folder_goes_on(run) -> None:  # type: ignore[no-untyped-def]
    deep = "[" * 1000 + "1" + "]" * 1000
    assert "nested 1000 deep" in _one_error(run("sum(x)", "--x", deep))
    Path("deep.json").write_text(deep)
    assert "nested 1000 deep" in _one_error(run("sum(x)", "--x", "@deep.json"))
    Path("gallery").mkdir()
    Path("gallery/a_deep.toml").write_text(f'title = "t"\nexpression = "sum(x)"\n[values]\nx = {deep}\n')
    Path("gallery/b_fine.toml").write_text('title = "t"\nexpression = "x*2"\n[values]\nx = 1\n')
    result = run("gallery", "-f", "dot")
    assert result.exit_code == 2
    assert "gallery/a_deep.toml: not valid here: a value is nested too deeply" in result.stderr
    assert Path("output/b_fine.dot").is_file() and not Path("output/a_deep.dot").exists()


def _npy(path: str, header: bytes, data: bytes = b"\0" * 16) -> None:
    header = header + b" " * (118 - len(header)) + b"\n"
    Path(path).write_bytes(b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header + data)


def test_npy_files_that_lie_or_are_not_npy_get_one_message(run) -> None:  # type: ignore[no-untyped-def]
    Path("empty.npy").write_bytes(b"")
    assert "empty.npy is not a .npy file" in _one_error(run("sum(x)", "--x", "@empty.npy"))
    _npy("huge.npy", b"{'descr': '<f8', 'fortran_order': False, 'shape': (1000000000000,), }")
    message = _one_error(run("sum(x)", "--x", "@huge.npy"))
    assert "shape (1000000000000,) (8,000,000,000,000 bytes), but it has 16 bytes" in message
    _npy("code.npy", b"{'descr': '<f8', 'fortran_order': False, 'shape': (print(1),), }")
    message = _one_error(run("sum(x)", "--x", "@code.npy"))
    assert "header that cannot be read" in message and "ast" not in message
    np.savez("arrays.npz", x=np.ones(3))
    Path("arrays.npz").rename("arrays.npy")
    assert "is a .npz archive" in _one_error(run("sum(x)", "--x", "@arrays.npy"))
    np.save("upper.npy", np.ones(3))
    Path("upper.npy").rename("UPPER.NPY")
    result = run("sum(x)", "--x", "@UPPER.NPY", "-o", "-", "-f", "json")
    assert result.exit_code == 0 and json.loads(result.stdout)["value"] == 3.0


def test_a_broadcast_too_large_for_memory_is_refused(run) -> None:  # type: ignore[no-untyped-def]
    import backviz

    with pytest.raises(backviz.BackvizError, match="would make a 200000x200000 array"):
        backviz.trace("sum(a+b)", a=np.zeros((200000, 1)), b=np.zeros(200000))
    np.save("a.npy", np.zeros((200000, 1)))
    np.save("b.npy", np.zeros(200000))
    assert "more than the memory holds" in _one_error(run("sum(a+b)", "--a", "@a.npy",
                                                          "--b", "@b.npy"))


def test_the_api_refuses_bytes_and_masked_arrays() -> None:
    import backviz

    for value in (bytearray(b"\x01\x02"), memoryview(b"\x01\x02")):
        with pytest.raises(backviz.InvalidValueError, match="must be a number"):
            backviz.trace("sum(x)", x=value)
    masked = np.ma.masked_array([1.0, 2.0], mask=[False, True])
    with pytest.raises(backviz.InvalidValueError, match=r"masked array; pass value\.filled"):
        backviz.trace("sum(x)", x=masked)


def test_an_all_nan_array_prints_no_numpy_warning(run) -> None:  # type: ignore[no-untyped-def]
    result = run("sum(x)", "--x", str([float("nan")] * 20).replace("nan", "NaN"), "-f", "dot")
    assert result.exit_code == 0
    assert "RuntimeWarning" not in result.stderr and "All-NaN" not in result.stderr


# --- options, hints and messages -----------------------------------------------------------

def test_a_value_for_a_name_not_in_the_expression_is_a_warning_either_way(run) -> None:  # type: ignore[no-untyped-def]
    for given in (["--w", "3"], ["--set", "w=3"]):
        result = run("x*2", "--x", "1", *given, "-o", "-", "-f", "json")
        assert result.exit_code == 0, result.output
        assert "warning: w is given a value but is not in the expression" in result.stderr


def test_a_typo_of_an_option_says_did_you_mean(run) -> None:  # type: ignore[no-untyped-def]
    assert "no such option: --formt (did you mean --format?)" in _one_error(
        run("x*2", "--x", "1", "--formt", "svg"))
    assert _one_error(run("--foo")) == "Error: no such option: --foo\n"


def test_a_bare_command_shows_its_usage(run) -> None:  # type: ignore[no-untyped-def]
    message = _one_error(run())
    assert "usage: backviz EXPRESSION|FILE.toml|FOLDER [--NAME VALUE]... [OPTIONS]" in message
    assert message.count("\n") == 1


def test_messages_stay_short_for_5000_variables(run) -> None:  # type: ignore[no-untyped-def]
    expression = "+".join(f"v{i}" for i in range(5000))
    message = _one_error(run(expression))
    assert len(message) < 300, message
    assert message.startswith("Error: no values for v0, v1, v2,") and "and 4,990 more" in message
    message = _one_error(run(expression, "--zz", "1", "--v1", "2"))  # zz: unused, a warning
    assert len(message) < 300 and "no values for v0, v2," in message and "4,989 more" in message
    message = _one_error(run(expression, "--1x", "1"))
    assert len(message) < 300, message
    assert message.startswith("Error: --1x is neither an option nor a variable")
    assert "and 4,990 more" in message


def test_a_variable_named_like_an_option_gets_the_set_hint(run) -> None:  # type: ignore[no-untyped-def]
    message = _one_error(run("name*x", "--x", "2"))
    assert "--set name=VALUE" in message and "--name VALUE" not in message


def test_the_suffix_and_the_format_must_agree(run) -> None:  # type: ignore[no-untyped-def]
    message = _one_error(run(*FIG1, "-o", "f.svg", "-f", "png"))
    assert "-o f.svg is SVG and --format asks for PNG" in message and "-o f.png" in message
    assert not Path("f.svg").exists()


@pytest.mark.parametrize(("typed", "hint"), [("θ*x", "(e.g. theta)"), ("x×y", "write *"),
                                             ("x−y", "write - (an ASCII hyphen)"),
                                             ("x²", "write **2")])
def test_typeset_characters_get_a_hint(run, typed: str, hint: str) -> None:  # type: ignore[no-untyped-def]
    assert hint in _one_error(run(typed, "--x", "1", "--y", "2"))


def test_an_expression_file_lists_all_its_problems_with_did_you_mean(run) -> None:  # type: ignore[no-untyped-def]
    Path("typo.toml").write_text('expresion = "x"\n[values]\nx = 1\n')
    assert _one_error(run("typo.toml")) == (
        "Error: typo.toml: unknown field 'expresion' (did you mean 'expression'?); "
        "the field 'title' is missing; the field 'expression' is missing\n")


def test_an_expression_file_reports_every_problem_at_once(run) -> None:  # type: ignore[no-untyped-def]
    Path("two.toml").write_text('title = 3\nexpression = "(x+"\ntheme = "neon"\n'
                                'precision = "2"\n[values]\nx = "one"\n')
    assert _one_error(run("two.toml")) == (
        "Error: two.toml: the field 'title' must be a string; the field 'precision' must be a "
        "whole number from 0 to 12; the field 'theme' must be one of slides, colorblind, dark, "
        "not 'neon'; field 'values': the value of x must be a number, a list of numbers or a "
        "numpy array, not 'one' (str); field 'expression': the expression ends too early: a "
        "value is missing (column 4)\n  (x+\n     ^\n")
    # a value missing beside another problem is one of them; one given by --y is not
    Path("b.toml").write_text('expression = "x*y*z"\n[values]\nx = "one"\n')
    assert _one_error(run("b.toml")).endswith(
        "field 'values': the value of x must be a number, a list of numbers or a numpy array, "
        "not 'one' (str); field 'values': no value for y, z\n")
    assert _one_error(run("b.toml", "--x", "2", "--y", "3")) == (
        "Error: b.toml: the field 'title' is missing; field 'values': no value for z\n")


def test_a_folder_or_file_that_is_not_there_is_named_so(run) -> None:  # type: ignore[no-untyped-def]
    assert _one_error(run("nope/")) == (
        "Error: nope/: no such folder or file; backviz takes an expression, an expression file "
        "(.toml) or a folder of them (as an expression: the expression ends too early: a value "
        "is missing (column 6))\n")
    assert "figs/a.svg: no such folder or file;" in _one_error(run("figs/a.svg"))
    assert "nope/: no such folder or file;" in _one_error(run("live", "nope/"))
    # an expression that is also a path is still an expression
    assert run("a/b", "--a", "1", "--b", "2", "-o", "-", "-f", "json").exit_code == 0


def test_a_file_that_is_no_expression_file_says_to_give_its_text(run) -> None:  # type: ignore[no-untyped-def]
    Path("prog.py").write_text("q = x + y  # a program\nf = q * z\n")
    assert _one_error(run("prog.py")) == (
        "Error: prog.py is a file, not an expression file (.toml, see docs/figures.md); to "
        'draw the program in it, give its text: backviz "$(cat prog.py)" --x VALUE --y VALUE '
        "--z VALUE\n")
    # what the message says to type: the shell gives the file's text as the expression
    done = run(Path("prog.py").read_text(), "--x", "-2", "--y", "5", "--z", "-4",
               "-o", "-", "-f", "json")
    assert json.loads(done.stdout)["value"] == -12.0
    assert 'backviz live "$(cat prog.py)" --x VALUE' in _one_error(run("live", "prog.py"))
    Path("real.py").write_text("import numpy\nprint(numpy.pi)\n")
    assert "real.py is a file, not an expression file (.toml, see docs/figures.md); its text " \
           "is no program backviz reads either (print is not part of backviz's language" in \
           _one_error(run("real.py"))
    Path("data.bin").write_bytes(b"\xff\xfe\x00")
    assert _one_error(run("data.bin")).endswith(
        'a program is given as its text, e.g. backviz "$(cat data.bin)"\n')
    Path("q").write_text("")  # a file named like the expression q: q is drawn once given
    assert "for the expression q, give its value: --q VALUE" in _one_error(run("q"))
    assert run("q", "--q", "2", "-o", "-", "-f", "json").exit_code == 0


def test_an_option_that_refuses_a_variables_value_hints_at_set(run) -> None:  # type: ignore[no-untyped-def]
    assert _one_error(run("theme*2", "--theme", "3")) == (
        "Error: Invalid value for '--theme': '3' is not one of 'slides', 'colorblind', 'dark'; "
        "--theme is an option of backviz: for the variable theme, write --set theme=3\n")
    assert "write --set precision=30\n" in _one_error(run("precision*x", "--x", "1",
                                                          "--precision", "30"))
    assert "write --set steps=3\n" in _one_error(run("--steps", "3", "--", "steps*2"))
    assert "write --set scale=big\n" in _one_error(run("scale*2", "--scale=big"))
    # no variable of that name: click's message as it was
    assert _one_error(run("x*2", "--theme", "3")) == (
        "Error: Invalid value for '--theme': '3' is not one of 'slides', 'colorblind', "
        "'dark'.\n")
    done = run("theme*2", "--set", "theme=3", "-o", "-", "-f", "json")
    assert json.loads(done.stdout)["value"] == 6.0


def test_a_folder_renders_into_a_chosen_folder_and_names_its_warnings(run) -> None:  # type: ignore[no-untyped-def]
    Path("gallery").mkdir()
    Path("gallery/one.toml").write_text('title = "t"\nexpression = "log(x)"\n[values]\nx = -1\n')
    Path("gallery/two.toml").write_text('title = "t"\nexpression = "x*2"\n[values]\nx = 1\n')
    result = run("gallery", "-o", "figures", "-f", "dot")
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in Path("figures").iterdir()) == ["one.dot", "two.dot"]
    assert "warning: gallery/one.toml: the gate 'log'" in result.stderr
    assert "-o FILE and --name name one figure" in _one_error(run("gallery", "-o", "f.svg"))


# --- streams -------------------------------------------------------------------------------

def _command(*args: str, stdout=None, stderr=None):  # type: ignore[no-untyped-def]
    import subprocess
    import sys

    backviz = Path(sys.executable).parent / "backviz"
    return subprocess.run([str(backviz), *args], stdout=stdout or subprocess.PIPE,
                          stderr=stderr or subprocess.PIPE, timeout=120, check=False)


def test_stdout_on_dev_full_is_one_line_and_status_1(tmp_path: Path) -> None:
    for args in (["-o", "-", "-f", "json"], ["-f", "dot", "-o", str(tmp_path / "f.dot")]):
        with open("/dev/full", "wb") as full:
            done = _command(*FIG1, *args, stdout=full)
        assert done.returncode == 1, done.stderr
        assert done.stderr.decode().endswith(
            "Error: cannot write to stdout: No space left on device\n")
        assert b"Traceback" not in done.stderr


_MODES = {"summary": [], "stdout": ["-o", "-"], "explain": ["--explain"],
          "check": ["--check"], "steps": ["--steps"], "live": ["live", "--no-browser"]}
_CLOSED_STDOUT = ("Error: cannot write to stdout: it is closed (redirect it instead, e.g. "
                  ">/dev/null to drop what backviz prints)\n")


def _closed(*args: str, fd: int, broken: bool, cwd: Path):  # type: ignore[no-untyped-def]
    """Run the command with fd 1 or 2 closed (as >&- does), or a pipe whose reader has gone;
    the other stream is a pipe."""
    import os
    import subprocess
    import sys

    backviz = [str(Path(sys.executable).parent / "backviz")]
    read, write = os.pipe()
    os.close(read)  # the reader has gone before anything is written: EPIPE, every time
    streams = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE}
    streams["stdout" if fd == 1 else "stderr"] = write if broken else subprocess.DEVNULL
    close = None if broken else (lambda: os.close(fd))  # DEVNULL is open: close it
    try:
        return subprocess.run(backviz + list(args), cwd=cwd, preexec_fn=close, timeout=60,
                              text=True, check=False, **streams)
    finally:
        os.close(write)


def _args(mode: str) -> list[str]:
    if mode == "live":
        return ["live", "--no-browser", *FIG1]
    return ["sqrt(x)*y", "--x", "4", "--y", "2", *_MODES[mode]]


@pytest.mark.parametrize("mode", list(_MODES))
def test_a_closed_stdout_is_one_line_and_status_1_in_every_mode(tmp_path: Path,
                                                                 mode: str) -> None:
    done = _closed(*_args(mode), fd=1, broken=False, cwd=tmp_path)
    assert (done.returncode, done.stderr) == (1, _CLOSED_STDOUT)


@pytest.mark.parametrize("mode", list(_MODES))
def test_a_stdout_whose_reader_has_gone_exits_1_quietly(tmp_path: Path, mode: str) -> None:
    done = _closed(*_args(mode), fd=1, broken=True, cwd=tmp_path)
    assert (done.returncode, done.stderr) == (1, "")


@pytest.mark.parametrize("broken", [False, True], ids=["closed", "reader-gone"])
@pytest.mark.parametrize("mode", [m for m in _MODES if m != "live"])
def test_a_closed_or_broken_stderr_drops_its_messages_and_keeps_the_status(
        tmp_path: Path, mode: str, broken: bool) -> None:
    import subprocess
    import sys

    done = _closed(*_args(mode), fd=2, broken=broken, cwd=tmp_path)
    assert done.returncode == 0
    expected = {"stdout": "<?xml", "explain": "backward pass of",
                "check": "gradient check of"}.get(mode, "sqrt(x)*y = 4.00\n")
    assert done.stdout.startswith(expected)
    # bad input still exits 2, and a warning (the log of a negative number) that cannot
    # be shown changes nothing
    assert _closed("(x+y", "--x", "1", fd=2, broken=broken, cwd=tmp_path).returncode == 2
    warned = ["log(x)", "--x", "-1", *_MODES[mode]]
    shown = subprocess.run([str(Path(sys.executable).parent / "backviz"), *warned],
                           cwd=tmp_path, capture_output=True, timeout=60, check=False)
    assert shown.stderr or mode == "explain"  # a warning, or the check's verdict
    assert _closed(*warned, fd=2, broken=broken, cwd=tmp_path).returncode == shown.returncode


def test_the_live_page_serves_with_stderr_closed(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys
    import urllib.request

    backviz = str(Path(sys.executable).parent / "backviz")
    with subprocess.Popen([backviz, "live", "--no-browser"], cwd=tmp_path, text=True,
                          stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                          preexec_fn=lambda: os.close(2)) as proc:
        try:
            assert proc.stdout is not None
            url = proc.stdout.readline().strip()
            with urllib.request.urlopen(url, timeout=30) as page:
                assert page.status == 200
        finally:
            proc.terminate()
            proc.wait(timeout=30)


def test_bad_input_with_stderr_on_dev_full_still_exits_2() -> None:
    with open("/dev/full", "wb") as full:
        assert _command("(x+y", "--x", "1", stderr=full).returncode == 2


def test_json_writes_each_array_on_one_line_and_reads_back_as_to_dict() -> None:
    import backviz

    t = backviz.trace("sum(W@x)", W=np.arange(6.0).reshape(2, 3), x=[1.0, float("nan"), 2.0])
    text = t.to_json()
    assert json.loads(text) == json.loads(json.dumps(t.to_dict()))
    assert '"value": [[0.0, 1.0, 2.0], [3.0, 4.0, 5.0]],' in text
    assert '"value": [1.0, null, 2.0],' in text


def test_a_graph_too_large_to_draw_is_refused_before_its_dot_is_written(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import backviz
    from backviz import render

    def never(*args: object, **kwargs: object) -> str:
        raise AssertionError("to_dot ran for a graph that cannot be drawn")

    t = backviz.trace("+".join(f"x*{k}" for k in range(1, 1600)), x=1.0)
    monkeypatch.setattr(render, "to_dot", never)
    for fmt in ("svg", "png", "pdf"):
        with pytest.raises(backviz.TooLargeError):
            render.to_bytes(t, fmt)


def test_a_broadcast_is_estimated_before_it_is_computed(monkeypatch: pytest.MonkeyPatch) -> None:
    """Linux lets numpy allocate more than the memory holds, then ends the process: so a
    broadcast's size is worked out first, and the gate never runs."""
    from dataclasses import replace

    import backviz
    from backviz import evaluate
    from backviz.ops import OPS

    calls: list[object] = []
    add = OPS["add"]
    monkeypatch.setitem(OPS, "add", replace(add, forward=lambda x, y: calls.append(1) or x + y))
    monkeypatch.setattr(evaluate, "MAX_ARRAY_BYTES", 1_000_000)
    with pytest.raises(backviz.TooLargeError, match=r"would make a 1000x1000 array \(8,000,000 bytes"):
        backviz.trace("sum(a+b)", a=np.zeros((1000, 1)), b=np.zeros(1000))
    assert calls == []
    assert backviz.trace("sum(a+b)", a=np.zeros((100, 1)), b=np.zeros(100)).value == 0.0
    assert calls == [1]


def test_json_is_written_in_pieces_with_the_same_bytes(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Each array is encoded only when its turn comes, so a large one is not held twice."""
    import json

    import backviz
    from backviz.render.export import json_chunks, to_dict, to_json

    t = backviz.trace("l2(W@x) + sum(b)", W=np.arange(6.0).reshape(2, 3), x=[1.0, 2.0, 3.0],
                      b=[np.nan, 1.0])
    pieces = list(json_chunks(t))
    assert len(pieces) > 10 and all(isinstance(p, bytes) for p in pieces)
    assert b"".join(pieces).decode() == to_json(t)
    assert json.loads(to_json(t)) == json.loads(json.dumps(to_dict(t)))
    result = run("l2(W@x) + sum(b)", "--W", "[[0,1,2],[3,4,5]]", "--x", "[1,2,3]",
                 "--b", "[nan, 1]", "-o", "t.json")
    assert result.exit_code == 0, result.output
    assert Path("t.json").read_text() == to_json(t)


def test_a_write_that_fails_midway_leaves_no_file(tmp_path: Path) -> None:
    from backviz.render.export import write_atomic

    def pieces():  # type: ignore[no-untyped-def]
        yield b'{"value": '
        raise OSError(28, "No space left on device")

    with pytest.raises(OSError, match="No space left"):
        write_atomic(tmp_path / "t.json", pieces())
    assert list(tmp_path.iterdir()) == []
