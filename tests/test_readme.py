"""Every command the README and the pages of docs/ show is run here, so they cannot rot.

```sh blocks hold commands, one per line; ```python blocks are run as scripts. Each runs
in a fresh folder holding a copy of expressions/, so nothing is written into the repository.
`backviz` and `.venv/bin/backviz` run this checkout's backviz, `python` and `.venv/bin/python`
the Python running these tests. Three commands are not run as they stand: ./scripts/test,
which is the command running these tests (CI runs it); `source .venv/bin/activate`, which
changes the reader's shell and is not a program (the file must exist); and the full
benchmark, which runs here with --quick: a smoke run that must complete, whose timings are
not judged (timing targets live in the script, not in tests). A ```text block that starts
with "$ command" is what that command prints, exactly, and the ```pycon blocks of a page are
one Python session whose answers are checked as doctest checks them.
"""

from __future__ import annotations

import doctest
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from test_ops import SIG_CALL

import backviz
from backviz.ops import OPS

ROOT = Path(__file__).resolve().parent.parent
PAGES = {path.relative_to(ROOT).as_posix(): path.read_text(encoding="utf-8")
         for path in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]}
README = PAGES["README.md"]
LANGUAGE = PAGES["docs/language.md"]  # the page with the table of gates and the functions


def blocks(language: str, text: str | None = None) -> list[str]:
    """The ```language blocks of one page, or of every page."""
    texts = [text] if text is not None else list(PAGES.values())
    return [block for page in texts for block in
            re.findall(rf"^```{language}\n(.*?)^```", page, flags=re.DOTALL | re.MULTILINE)]


def commands(text: str | None = None) -> list[str]:
    return [line.strip() for block in blocks("sh", text) for line in block.splitlines()
            if line.strip() and not line.lstrip().startswith("#")]


def transcripts(text: str | None = None) -> list[str]:
    return [block for block in blocks("text", text) if block.startswith("$ ")]


COMMANDS = sorted(set(commands()))
TRANSCRIPTS = transcripts()
ACTIVATE = "source .venv/bin/activate"
NOT_RUN_HERE = {"./scripts/test", ACTIVATE}


def test_the_readme_shows_the_two_commands() -> None:
    shown = commands(README) + [t.partition("\n")[0][2:] for t in transcripts(README)]
    assert './scripts/backviz "(x+y)*z" --x -2 --y 5 --z -4' in shown
    assert "./scripts/test" in commands(README)


def test_the_readme_is_a_front_page() -> None:
    # What backviz is, the two commands, the .venv, a Python example, the teaching mode and
    # the live page in a few lines each, links: the reference is in docs/.
    assert len(README.splitlines()) <= 150


def test_the_pages_show_commands() -> None:
    assert len(COMMANDS) >= 12


def test_the_activate_script_the_readme_names_exists() -> None:
    if Path(sys.prefix).resolve() != (ROOT / ".venv").resolve():
        pytest.skip("these tests run outside the .venv that ./scripts/test makes")
    assert (ROOT / ACTIVATE.split()[1]).is_file()


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    shutil.copytree(ROOT / "expressions", tmp_path / "expressions")
    return tmp_path


def argv(command: str) -> list[str]:
    args = shlex.split(command)
    if args[0] in ("backviz", ".venv/bin/backviz"):
        return [sys.executable, "-m", "backviz", *args[1:]]
    if args[0] in ("python", ".venv/bin/python"):
        args[0] = sys.executable
    elif args[0].startswith("./"):
        args[0] = str(ROOT / args[0][2:])
    if args[1:2] == ["benchmarks/bench.py"]:
        args = [args[0], str(ROOT / args[1]), *args[2:]]
        if "--quick" not in args:
            args.append("--quick")
    return args


@pytest.mark.parametrize("command", [c for c in COMMANDS if c not in NOT_RUN_HERE])
def test_command_succeeds(command: str, workdir: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(argv(command), cwd=workdir, capture_output=True, text=True,
                          env=env, timeout=600, check=False)
    assert done.returncode == 0, f"{command}\n{done.stdout}\n{done.stderr}"
    assert "Traceback" not in done.stderr
    if "benchmarks/bench.py" in command:  # it ran every section; its timings are not judged here
        assert "targets pass (quick run" in done.stdout


def test_the_main_command_prints_the_lecture_numbers(workdir: Path) -> None:
    done = subprocess.run(argv('./scripts/backviz "(x+y)*z" --x -2 --y 5 --z -4'), cwd=workdir,
                          capture_output=True, text=True, timeout=600, check=True)
    assert done.stdout.splitlines()[:4] == ["(x+y)*z = -12", "  d/dx = -4", "  d/dy = -4",
                                            "  d/dz = 3"]
    assert (workdir / "output" / "x_y_z.svg").exists()


PYTHON = [(page, code) for page, text in PAGES.items() for code in blocks("python", text)]


@pytest.mark.parametrize(("page", "code"), PYTHON, ids=[page for page, _ in PYTHON])
def test_python_runs(page: str, code: str, workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(workdir)
    exec(compile(code, page, "exec"), {})  # our own documentation, not user input
    if "figure.png" in code:
        assert (workdir / "figure.png").read_bytes().startswith(b"\x89PNG")


def test_the_readme_runs_python() -> None:
    assert blocks("python", README)


def test_python_comments_are_the_real_results() -> None:
    t = backviz.trace("(x+y)*z", x=-2, y=5, z=-4)
    assert "print(t.value)        # -12.0" in README and t.value == -12.0
    assert f"print(t.gradients)    # {t.gradients}" in README


SESSIONS = {page: "".join(blocks("pycon", text)) for page, text in PAGES.items()
            if blocks("pycon", text)}


@pytest.mark.parametrize("page", SESSIONS)
def test_python_sessions_answer_as_shown(page: str, workdir: Path,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(workdir)
    session = doctest.DocTestParser().get_doctest(SESSIONS[page], {}, page, page, 0)
    runner = doctest.DocTestRunner()
    report: list[str] = []
    runner.run(session, out=report.append)
    assert runner.failures == 0, "".join(report)


def test_the_python_page_has_a_session() -> None:
    assert "docs/python.md" in SESSIONS


# The constant each one-input gate is shown with in the language page's table of gates.
README_CONSTANTS = {"add_c": 1, "sub_c": 3, "rsub_c": 3, "mul_c": 2, "div_c": 2, "rdiv_c": 1,
                    "pow_c": 2, "rpow_c": 2, "max_c": 0, "min_c": 6,
                    # parameters: an axis, or an index (README_PARAMETERS lists more)
                    "sum": 0, "mean": 1, "amax": None, "amin": 1, "logsumexp": None,
                    "softmax": None, "log_softmax": None, "index": (("input", "y"),),
                    "call": SIG_CALL, "var": 0, "std": None, "clip": (0.0, 1.0),
                    "compare": ("<",), "compare_c": (">", 0.0), "where": (None, None),
                    "shape": ("shape", 0), "zeros_like": (0.0,),
                    "reshape": (("input", "N"), -1),
                    "setitem": (("arange_input", "N"), ("input", "y")),
                    "fill": (0.0, (("arange_input", "N"), ("input", "y"))),
                    "conv2d": (2, 1), "max_pool2d": (2, 2), "avg_pool2d": (2, 2)}
README_PARAMETERS = {"sum": [None], "mean": [None], "amax": [None], "amin": [None],
                     "index": [(2,), (("slice", None, None, None), 0),
                               (("arange", 4), ("input", "y"))]}


def test_the_language_page_lists_every_gate_label() -> None:
    """A new gate in the table needs its line in docs/language.md's table of gates."""
    for op in OPS.values():
        label = op.label(README_CONSTANTS[op.name] if op.has_const else None)
        assert f"`{label}`" in LANGUAGE, f"the table of gates lacks {op.name} ({label})"
        for param in README_PARAMETERS.get(op.name, []):
            assert f"`{op.label(param)}`" in LANGUAGE, f"the table lacks {op.name} ({param})"


def test_the_language_page_lists_every_function() -> None:
    from backviz.ops import FUNCTIONS

    listed = re.search(r"Functions: `([^`]*)`", LANGUAGE)
    assert listed is not None
    assert set(listed.group(1).split()) | {"max", "min"} == set(FUNCTIONS)


@pytest.mark.parametrize("transcript", TRANSCRIPTS, ids=[t.partition("\n")[0] for t in TRANSCRIPTS])
def test_transcripts_are_what_the_command_prints(transcript: str, workdir: Path) -> None:
    """A ```text block that starts with "$ command" shows exactly what the command prints.

    A script of scripts/ sets up first, and says so on stderr when it has something to do
    (its first run, or pyproject.toml changed): that is not the command's output."""
    command, _, shown = transcript.partition("\n")
    done = subprocess.run(argv(command[2:]), cwd=workdir, capture_output=True, text=True,
                          timeout=600, check=False)
    printed = done.stdout if command.startswith("$ ./scripts/") else done.stdout + done.stderr
    assert printed == shown
    assert done.returncode == (2 if shown.startswith("Error:") else 0)


def test_the_pages_have_transcripts() -> None:
    assert len(TRANSCRIPTS) >= 3
    assert transcripts(README)


def anchor(heading: str) -> str:
    """The id GitHub gives a heading: lower case, punctuation dropped, spaces made hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def prose(text: str) -> str:
    """The text without its code blocks, in which `#` starts a comment, not a heading."""
    return re.sub(r"^```.*?^```", "", text, flags=re.DOTALL | re.MULTILINE)


def anchors(text: str) -> set[str]:
    return {anchor(h) for h in re.findall(r"^#{1,6} (.+)$", prose(text), flags=re.MULTILINE)}


def links(page: str) -> list[str]:
    """The relative links and images of a page (not those inside code)."""
    found = re.findall(r"\]\(([^)\s]+)\)", re.sub(r"`[^`\n]*`", "", prose(PAGES[page])))
    return [target for target in found if not re.match(r"[a-z]+:", target)]


def linked_file(page: str, target: str) -> Path:
    path = target.partition("#")[0]
    return (ROOT / page).parent.joinpath(path).resolve() if path else (ROOT / page).resolve()


def test_the_readme_links_to_every_page() -> None:
    linked = {linked_file("README.md", target) for target in links("README.md")}
    assert {(ROOT / page).resolve() for page in PAGES if page != "README.md"} <= linked


@pytest.mark.parametrize("page", PAGES)
def test_relative_links_resolve(page: str) -> None:
    """Each relative link leads to a file of the repository, and to a heading if it names one."""
    broken = []
    for target in links(page):
        file, fragment = linked_file(page, target), target.partition("#")[2]
        if not (file.is_relative_to(ROOT) and file.exists()):
            broken.append(f"{target}: no such file")
        elif fragment and fragment not in anchors(file.read_text(encoding="utf-8")):
            broken.append(f"{target}: no heading #{fragment}")
    assert not broken, f"{page}: " + "; ".join(broken)


def test_the_module_map_names_every_module() -> None:
    """docs/architecture.md's module map lists each module of backviz/ as it is, no more."""
    page = PAGES["docs/architecture.md"]
    table = page[page.index("<!-- MODULE MAP"):page.index("<!-- END OF MODULE MAP -->")]
    listed = set(re.findall(r"`(backviz/[\w/]+\.py)`", table))
    modules = {path.relative_to(ROOT).as_posix() for path in (ROOT / "backviz").rglob("*.py")}
    assert listed == modules, (f"not in the map: {sorted(modules - listed)}; "
                               f"no longer in backviz/: {sorted(listed - modules)}")
