"""The ``dot`` run: bounded in time, its failures and its output checked.

Each test puts a ``dot`` of its own first on PATH: one that hangs, crashes, floods
stderr, cannot be run, or exits 0 having written nothing or garbage. Every one of them
must give a :class:`backviz.RenderError` with a short one-line message (exit status 1
from the command, no file written), never a hang, a traceback or a broken figure.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

import backviz
from backviz.cli import cli
from backviz.render import render, to_bytes

FIG1 = ["(x+y)*z", "--x", "-2", "--y", "5", "--z", "-4"]
SH = "#!/bin/sh\n"
DOT = shutil.which("dot") or "/usr/bin/dot"  # Graphviz's own, for a wrapper around it
BACKVIZ = Path(sys.executable).parent / "backviz"


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


# A wrapper around dot whose child keeps dot's pipes open: the run must end all the same,
# with every process of its group.
CHILD = 'sleep 30 & echo $$ >> "$PWD/group"; echo $! >> "$PWD/child"\n'


def _stat(pid: int | str) -> list[str]:
    """A process's state, parent, group, ... (after its name), [] if it is gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[-1].split()
    except (FileNotFoundError, ProcessLookupError):
        return []


def _alive(pid: int) -> bool:
    """Whether the process runs: a zombie has ended (whoever reaps the orphans here)."""
    return _stat(pid)[:1] not in ([], ["Z"])


def _group_is_gone() -> None:
    """Neither the wrappers' children nor any process of the runs' groups is left."""
    groups, children = Path("group").read_text().split(), Path("child").read_text().split()

    def left() -> list[str]:
        in_groups = [pid for pid in os.listdir("/proc") if pid.isdigit()
                     and _stat(pid)[2:3] in [[g] for g in groups]]
        return [pid for pid in [*children, *in_groups] if _alive(int(pid))]

    # A killed process takes a moment to end on a loaded machine: wait for it, a while.
    deadline = time.monotonic() + 5
    while left() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert left() == []


@pytest.mark.parametrize("wrapper", [
    CHILD + "exec sleep 30\n",      # dot never ends: the timeout
    CHILD + "sleep 30\n",           # a child that is not exec'd: killing the shell is not enough
    CHILD + "cat > /dev/null; exit 0\n",  # the wrapper exits, its child holds the pipes
], ids=["exec", "child", "exits"])
def test_a_wrapper_whose_child_holds_the_pipes_ends_at_the_timeout(
        fake_dot, monkeypatch, wrapper: str) -> None:  # type: ignore[no-untyped-def]
    fake_dot(SH + wrapper)
    monkeypatch.setenv("BACKVIZ_DOT_TIMEOUT", "1")
    start = time.monotonic()
    with pytest.raises(backviz.RenderError):
        _trace().to_svg()
    assert time.monotonic() - start < 5
    _group_is_gone()


@pytest.mark.parametrize("fmt", ["svg", "png", "pdf"])
def test_a_wrapper_that_leaves_a_child_behind_draws_at_once(fake_dot, fmt: str) -> None:  # type: ignore[no-untyped-def]
    want = to_bytes(_trace(), fmt)  # by Graphviz's dot: the wrapper is not installed yet
    fake_dot(SH + CHILD + f'"{DOT}" "$@"\n')  # dot runs and exits; the child stays
    start = time.monotonic()
    assert to_bytes(_trace(), fmt) == want
    assert time.monotonic() - start < 10  # not the child's 30 s
    _group_is_gone()


# For PNG frames only: a build's layout is drawn, then its frames hang, one per core.
PNG_FRAMES = f'case "$*" in *-Tpng*) {CHILD.strip()}; exec sleep 30;; *) exec "{DOT}" "$@";; esac\n'


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP])
@pytest.mark.parametrize(("extra", "wrapper"), [
    (["-o", "a.svg"], CHILD + "exec sleep 30\n"),
    (["--steps", "--format", "png"], CHILD + "exec sleep 30\n"),
    (["--steps", "--format", "png"], PNG_FRAMES),
], ids=["figure", "steps", "png-frames"])
def test_a_signal_ends_a_wrapper_and_its_child(fake_dot, signum: int, extra: list[str],
                                               wrapper: str) -> None:  # type: ignore[no-untyped-def]
    fake_dot(SH + wrapper)
    proc = subprocess.Popen([str(BACKVIZ), *FIG1, *extra], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        deadline = time.monotonic() + 30
        while not Path("child").exists():
            assert time.monotonic() < deadline, "dot did not start"
            time.sleep(0.01)
        time.sleep(0.1)  # the files are written
        start = time.monotonic()
        proc.send_signal(signum)
        _, err = proc.communicate(timeout=10)
    finally:
        if proc.poll() is None:  # the test failed: leave nothing behind
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
            for child in Path("child").read_text().split():
                os.kill(int(child), signal.SIGKILL)
    assert time.monotonic() - start < 5
    assert proc.returncode == 128 + signum and err.count("\n") == 1, err
    _group_is_gone()
    assert sorted(os.listdir(".")) == ["bin", "child", "group"]


def _refused(extra: list[str], match: str) -> str:
    """The command's one line on stderr, exit 1 and nothing written."""
    result = CliRunner().invoke(cli, [*FIG1, *extra], prog_name="backviz")
    assert result.exit_code == 1, result.output
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.output, result.stderr
    assert re.search(match, result.stderr), result.stderr
    assert os.listdir(".") == ["bin"]
    return result.stderr


@pytest.mark.parametrize(("fmt", "output", "what"), [
    ("svg", r"""printf '<?xml version="1.0"?>\n<svg width="8pt">\n<g id="graph0">\n'""",
     r"an incomplete SVG \(it has no closing </svg> tag\)"),
    ("svg", r"printf '<svg><g><text>x</svg>\n'", r"an SVG that is not well-formed XML \(line 1: "),
    ("svg", r"printf '<svg></svg><svg></svg>'", "more output after the end of the SVG"),
    ("svg", r"""printf '<?xml version="1.0"?><!DOCTYPE svg [<!ENTITY a "aa">]><svg>&a;</svg>'""",
     "an SVG that declares entities"),
    ("png", r"printf '\211PNG\r\n\032\n'", r"an incomplete PNG \(it ends before its IEND chunk\)"),
    ("png", f'"{DOT}" -Tpng | head -c 300', "an incomplete PNG"),
    ("png", f'"{DOT}" -Tpng | sed "s/IDAT/IDAU/"', "a damaged PNG"),
    ("pdf", f'"{DOT}" -Tpdf | head -c 300', r"an incomplete PDF \(it has no %%EOF at its end\)"),
], ids=["half-svg", "bad-xml", "two-svgs", "entities", "png-signature",
        "half-png", "png-crc", "half-pdf"])
def test_output_that_is_not_whole_is_an_error_and_nothing_is_written(
        fake_dot, fmt: str, output: str, what: str) -> None:  # type: ignore[no-untyped-def]
    fake_dot(SH + ("" if DOT in output else "cat > /dev/null; ") + output + "\n")
    message = _refused(["-o", f"fig.{fmt}"], "^Error: Graphviz's dot exited without error but "
                       f"wrote {what}")
    assert "'dot -V'" in message


@pytest.mark.parametrize(("layout", "what"), [
    ("{not json", r"a JSON layout that does not parse \(Expecting property name"),
    ("", "nothing where the JSON should be"),
    ('{"objects": []}', r"""a JSON layout without the graph's bounding box \("bb"\)"""),
    ('{"bb": "0,0,9,9", "objects": [{"name": "n1", "pos": 3}]}',
     "a JSON layout whose objects are not Graphviz's"),
    ('[1]', "output that is not JSON"),
], ids=["garbage", "none", "no-bb", "bad-pos", "a-list"])
def test_a_build_with_a_broken_layout_is_one_message(fake_dot, layout: str, what: str) -> None:  # type: ignore[no-untyped-def]
    fake_dot(SH + f'"{DOT}" -Tsvg; printf %s \'{layout}\'\n')
    _refused(["--steps"], f"^Error: Graphviz's dot exited without error but wrote {what}")


def test_a_build_with_half_an_svg_is_one_message(fake_dot) -> None:  # type: ignore[no-untyped-def]
    fake_dot(SH + f'"{DOT}" "$@" | head -c 2000\n')
    _refused(["--steps"], "wrote an incomplete SVG")


@pytest.mark.parametrize("extra", [["-o", "fig.svg"], ["--steps", "--format", "png"]],
                         ids=["figure", "steps"])
def test_output_past_the_limit_is_stopped_and_refused(fake_dot, monkeypatch,
                                                      extra: list[str]) -> None:  # type: ignore[no-untyped-def]
    # 2 MiB, then the pipe held open: the run is stopped at the limit, not at the end.
    fake_dot(SH + "cat > /dev/null; printf '<svg>'; head -c 2097152 /dev/zero; exec sleep 30\n")
    monkeypatch.setenv("BACKVIZ_DOT_MAX_BYTES", "1M")
    monkeypatch.setenv("BACKVIZ_DOT_TIMEOUT", "20")
    start = time.monotonic()
    message = _refused(extra, r"^Error: Graphviz's dot wrote more than 1 MiB for the figure of 2 "
                       "gates and was stopped; BACKVIZ_DOT_MAX_BYTES=BYTES allows more")
    assert time.monotonic() - start < 10, message


def test_output_up_to_the_limit_is_drawn(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    size = len(to_bytes(_trace(), "png"))
    monkeypatch.setenv("BACKVIZ_DOT_MAX_BYTES", str(size))
    assert len(to_bytes(_trace(), "png")) == size
    monkeypatch.setenv("BACKVIZ_DOT_MAX_BYTES", str(size - 1))
    with pytest.raises(backviz.RenderError, match=f"more than {size - 1:,} bytes"):
        to_bytes(_trace(), "png")


@pytest.mark.parametrize("bad", ["many", "0", "-1", "1.5M", "1T", "9" * 20])
def test_the_size_limit_must_be_a_positive_number_of_bytes(monkeypatch, bad: str) -> None:
    monkeypatch.setenv("BACKVIZ_DOT_MAX_BYTES", bad)
    with pytest.raises(backviz.RenderError, match=r"^BACKVIZ_DOT_MAX_BYTES=.*give a number of "
                       "bytes above 0, e.g. 1000000000 or 1G$"):
        _trace().to_svg()


@pytest.mark.parametrize(("edit", "what"), [
    ('s/class="graph"/class="other"/', r"an SVG without the graph's group"),
    ('s/fill="[^"]*"//g', r"an SVG whose rows of notes have no colour"),
    (r's/<text[^>]*>0<\/text>//g', r"an SVG with 0 rows of notes where the figure has 2"),
    (r's/<title>[^<]*<\/title>//g', r"an SVG without 2 of the figure's gates"),
    (r's/<ellipse[^>]*\/>//g', r"an SVG with a gate drawn without its outline"),
], ids=["no-graph-group", "no-fill", "no-rows", "no-titles", "no-outlines"])
def test_a_build_from_an_svg_not_laid_out_as_graphviz_does_is_one_message(
        fake_dot, edit: str, what: str) -> None:  # type: ignore[no-untyped-def]
    # Whole and well-formed, so the checks of what dot wrote pass; the frames are cut from
    # it, and each part they need was read as if it were there (a traceback).
    fake_dot(SH + f'"{DOT}" "$@" | sed \'{edit}\'\n')
    message = _refused(["--steps"], f"^Error: Graphviz's dot exited without error but wrote {what}")
    assert "'dot -V'" in message
