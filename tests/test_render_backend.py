"""The ``dot`` run: bounded in time, its failures and its output checked.

Each test puts a ``dot`` of its own first on PATH: one that hangs, crashes, floods
stderr, cannot be run, or exits 0 having written nothing or garbage. Every one of them
must give a :class:`backviz.RenderError` with a short one-line message (exit status 1
from the command, no file written), never a hang, a traceback or a broken figure.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

import backviz
from backviz.cli import cli
from backviz.render import render

FIG1 = ["(x+y)*z", "--x", "-2", "--y", "5", "--z", "-4"]
SH = "#!/bin/sh\n"


@pytest.fixture
def fake_dot(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """Install a ``dot`` (its script text, or bytes, or a folder) as the only one on PATH."""
    bin_ = tmp_path / "bin"
    bin_.mkdir()
    monkeypatch.setenv("PATH", f"{bin_}:/usr/bin:/bin")
    monkeypatch.chdir(tmp_path)

    def install(body: str | bytes | None, mode: int = 0o755) -> Path:
        dot = bin_ / "dot"
        if body is None:
            dot.mkdir()
        else:
            dot.write_bytes(body.encode() if isinstance(body, str) else body)
            dot.chmod(mode)
        return dot

    return install


def _trace() -> backviz.Trace:
    return backviz.trace("(x+y)*z", x=-2, y=5, z=-4)


def _fails_on_one_line(match: str) -> str:
    with pytest.raises(backviz.RenderError, match=match) as info:
        _trace().to_svg()
    message = str(info.value)
    assert "\n" not in message and len(message) < 1000, message
    return message


def test_dot_that_never_exits_is_stopped_after_the_timeout(fake_dot, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    fake_dot(SH + "exec sleep 600\n")
    monkeypatch.setenv("BACKVIZ_DOT_TIMEOUT", "0.5")
    start = time.monotonic()
    message = _fails_on_one_line("took more than 0.5 s")
    assert time.monotonic() - start < 10
    assert "BACKVIZ_DOT_TIMEOUT" in message


def test_the_timeout_must_be_a_positive_number(fake_dot, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    fake_dot(SH + "exec sleep 600\n")
    for bad in ("soon", "0", "-1", "nan"):
        monkeypatch.setenv("BACKVIZ_DOT_TIMEOUT", bad)
        _fails_on_one_line("BACKVIZ_DOT_TIMEOUT=")


def test_dot_killed_by_a_signal_is_named(fake_dot) -> None:  # type: ignore[no-untyped-def]
    fake_dot(SH + "kill -SEGV $$\n")
    _fails_on_one_line(r"\(dot was killed by SIGSEGV\)$")


def test_a_flood_on_stderr_is_quoted_in_a_few_lines(fake_dot) -> None:  # type: ignore[no-untyped-def]
    fake_dot(SH + "head -c 2000000 /dev/zero | tr '\\0' 'e' | fold -w 300 >&2; exit 1\n")
    message = _fails_on_one_line(r"dot exited with status 1\): e+\.\.\. \| e+")
    assert message.endswith("(and 6664 more lines)")


@pytest.mark.parametrize("dot", ["no execute bit", "a folder", "not a program"])
def test_a_dot_that_cannot_be_run_is_reported(fake_dot, monkeypatch, dot: str) -> None:  # type: ignore[no-untyped-def]
    # The only dot on PATH: the system's would otherwise be run in its place.
    monkeypatch.setenv("PATH", os.environ["PATH"].split(":")[0])
    if dot == "no execute bit":
        fake_dot(SH + "exit 0\n", mode=0o644)
    elif dot == "a folder":
        fake_dot(None)
    else:
        fake_dot(b"\x00\x01 not an executable \xff")
    _fails_on_one_line("Graphviz's 'dot' .* cannot be run: ")


@pytest.mark.parametrize(("output", "what"), [
    ("", "nothing"),
    ("printf '\\377\\376<svg>'", "output that is not SVG"),
    ("printf '<svg>\\377\\376</svg>'", "output that is not SVG"),
    ("echo hello", "output that is not SVG"),
])
def test_dot_that_exits_0_with_bad_output_is_an_error(fake_dot, output: str, what: str) -> None:  # type: ignore[no-untyped-def]
    fake_dot(SH + f"cat > /dev/null; {output}\n")
    _fails_on_one_line(f"exited without error but wrote {what}")


@pytest.mark.parametrize("fmt", ["png", "pdf"])
def test_every_format_has_its_signature_checked(fake_dot, fmt: str) -> None:  # type: ignore[no-untyped-def]
    fake_dot(SH + "cat > /dev/null; echo '<?xml version=\"1.0\"?><svg></svg>'\n")
    with pytest.raises(backviz.RenderError, match=f"not {fmt.upper()}"):
        render("digraph { a }", fmt)


@pytest.mark.parametrize("extra", [[], ["--steps"]], ids=["figure", "steps"])
def test_the_command_reports_a_broken_dot_in_one_line_and_writes_nothing(
        fake_dot, extra: list[str]) -> None:  # type: ignore[no-untyped-def]
    fake_dot(SH + "cat > /dev/null; printf 'garbage'\n")
    result = CliRunner().invoke(cli, [*FIG1, *extra], prog_name="backviz")
    assert result.exit_code == 1, result.output
    assert result.stderr.startswith("Error: Graphviz's dot exited without error but wrote")
    assert result.stderr.count("\n") == 1
    assert not Path("output").exists() or not any(Path("output").rglob("*"))


def test_the_timeout_holds_for_every_frame_of_a_build(fake_dot, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    fake_dot(SH + "exec sleep 600\n")
    monkeypatch.setenv("BACKVIZ_DOT_TIMEOUT", "0.3")
    result = CliRunner().invoke(cli, [*FIG1, "--steps"], prog_name="backviz")
    assert result.exit_code == 1
    assert "took more than 0.3 s" in result.stderr
    assert os.listdir(".") == ["bin"]


def test_to_graphviz_gives_a_digraph_of_the_figure_to_render_or_change() -> None:
    import graphviz

    t = _trace()
    g = t.to_graphviz()
    assert isinstance(g, graphviz.Digraph)
    assert g.source == t.to_dot()
    assert g.pipe(format="svg") == render(t.to_dot(), "svg")
    g.attr(bgcolor="lightgrey")
    assert g.source != t.to_dot() and "bgcolor=lightgrey" in g.source


def test_starting_the_command_imports_neither_graphviz_nor_numpy_before_it_must() -> None:
    import subprocess
    import sys

    probe = ("import sys, backviz; first = set(sys.modules); import backviz.cli; "
             "print('numpy' in first, 'graphviz' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          check=True)
    assert done.stdout.split() == ["False", "False"]
