"""Every command the README shows is run here, so the README cannot rot.

```sh blocks hold commands, one per line; ```python blocks are run as scripts. Each runs
in a fresh folder holding a copy of expressions/, so nothing is written into the repository.
Two commands are not run as they stand: ./scripts/test, which is the command running these
tests (CI runs it), and the full benchmark, which runs here with --quick: a smoke run that
must complete, whose timings are not judged (timing targets live in the script, not in tests).
"""

from __future__ import annotations

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
README = (ROOT / "README.md").read_text(encoding="utf-8")


def blocks(language: str) -> list[str]:
    return re.findall(rf"^```{language}\n(.*?)^```", README, flags=re.DOTALL | re.MULTILINE)


COMMANDS = [line.strip() for block in blocks("sh") for line in block.splitlines()
            if line.strip() and not line.lstrip().startswith("#")]
NOT_RUN_HERE = {"./scripts/test"}


def test_the_readme_shows_commands() -> None:
    assert './scripts/backviz "(x+y)*z" --x -2 --y 5 --z -4' in COMMANDS
    assert "./scripts/test" in COMMANDS
    assert len(COMMANDS) >= 12


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    shutil.copytree(ROOT / "expressions", tmp_path / "expressions")
    return tmp_path


def argv(command: str) -> list[str]:
    args = shlex.split(command)
    if args[0] == "backviz":
        return [sys.executable, "-m", "backviz", *args[1:]]
    if args[0].startswith("./"):
        args[0] = str(ROOT / args[0][2:])
    if args[0] == "python":
        args[0] = sys.executable
    if args[1:2] == ["benchmarks/bench.py"]:
        args = [args[0], str(ROOT / args[1]), *args[2:]]
        if "--quick" not in args:
            args.append("--quick")
    return args


@pytest.mark.parametrize("command", [c for c in COMMANDS if c not in NOT_RUN_HERE])
def test_readme_command_succeeds(command: str, workdir: Path) -> None:
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


@pytest.mark.parametrize("code", blocks("python"))
def test_readme_python_runs(code: str, workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(workdir)
    exec(compile(code, "README.md", "exec"), {})  # our own README, not user input
    assert (workdir / "figure.png").read_bytes().startswith(b"\x89PNG")


def test_readme_python_comments_are_the_real_results() -> None:
    t = backviz.trace("(x+y)*z", x=-2, y=5, z=-4)
    assert "print(t.value)        # -12.0" in README and t.value == -12.0
    assert f"print(t.gradients)    # {t.gradients}" in README


# The constant each one-input gate is shown with in the README's table of gates.
README_CONSTANTS = {"add_c": 1, "sub_c": 3, "rsub_c": 3, "mul_c": 2, "div_c": 2, "rdiv_c": 1,
                    "pow_c": 2, "rpow_c": 2, "max_c": 0, "min_c": 6,
                    # parameters: an axis, or an index (README_PARAMETERS lists more)
                    "sum": 0, "mean": 1, "amax": None, "amin": 1, "logsumexp": None,
                    "softmax": None, "log_softmax": None, "index": (("input", "y"),),
                    "call": SIG_CALL}
README_PARAMETERS = {"sum": [None], "mean": [None], "amax": [None], "amin": [None],
                     "index": [(2,), (("slice", None, None, None), 0),
                               (("arange", 4), ("input", "y"))]}


def test_readme_lists_every_gate_label() -> None:
    """A new gate in the table needs its line in the README's table of gates."""
    for op in OPS.values():
        label = op.label(README_CONSTANTS[op.name] if op.has_const else None)
        assert f"`{label}`" in README, f"the README's table of gates lacks {op.name} ({label})"
        for param in README_PARAMETERS.get(op.name, []):
            assert f"`{op.label(param)}`" in README, f"the README lacks {op.name} ({param})"


def test_readme_lists_every_function() -> None:
    from backviz.ops import FUNCTIONS

    listed = re.search(r"Functions: `([^`]*)`", README)
    assert listed is not None
    assert set(listed.group(1).split()) | {"max", "min"} == set(FUNCTIONS)


TRANSCRIPTS = [block for block in blocks("text") if block.startswith("$ ")]


@pytest.mark.parametrize("transcript", TRANSCRIPTS, ids=[t.partition("\n")[0] for t in TRANSCRIPTS])
def test_readme_transcripts_are_what_the_command_prints(transcript: str, workdir: Path) -> None:
    """A ```text block that starts with "$ command" shows exactly what the command prints."""
    command, _, shown = transcript.partition("\n")
    done = subprocess.run(argv(command[2:]), cwd=workdir, capture_output=True, text=True,
                          timeout=600, check=False)
    assert done.stdout + done.stderr == shown
    assert done.returncode == (2 if shown.startswith("Error:") else 0)


def test_the_readme_has_transcripts() -> None:
    assert len(TRANSCRIPTS) >= 3
