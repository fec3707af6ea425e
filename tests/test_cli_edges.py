"""The command line's corners: every one here once gave a traceback, a wrong exit status,
a confusing message or a broken file. Each test is named after the promise it keeps."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from backviz.cli import cli

FIG1 = ["(x+y)*z", "--x", "-2", "--y", "5", "--z", "-4"]


@pytest.fixture
def run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    monkeypatch.chdir(tmp_path)

    def invoke(*args: str, input: str | None = None) -> Result:
        return CliRunner().invoke(cli, list(args), input=input, prog_name="backviz")

    return invoke


def _one_error(result: Result, status: int = 2) -> str:
    assert result.exit_code == status, result.output
    assert result.stderr.startswith("Error: ") and "Traceback" not in result.stderr
    return result.stderr


def test_every_size_refusal_is_bad_input_with_status_2(run) -> None:  # type: ignore[no-untyped-def]
    big = "+".join(f"x*{k}" for k in range(1, 1600))  # 3,197 gates
    message = _one_error(run(big, "--x", "1"))
    assert "3197 gates" in message and "--format json" in message
    steps = "+".join(f"x*{k}" for k in range(1, 60))  # 117 gates
    assert "a build has one frame per gate" in _one_error(run(steps, "--x", "1", "--steps"))
    assert not Path("output").exists()
    result = run(big, "--x", "1", "-o", "-", "-f", "json")
    assert result.exit_code == 0 and json.loads(result.stdout)["value"] == sum(range(1, 1600))
