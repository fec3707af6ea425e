"""Shared test set-up: helper modules on the path, the snapshot update switch, and
hypothesis's examples drawn the same way in every CI run."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from hypothesis import settings

from backviz.cli import cli

sys.path.insert(0, str(Path(__file__).parent))

# On a developer's machine the property tests draw new examples at each run, which is how
# they find what nobody wrote a test for; in CI they draw the same ones every run, so that
# whether a change lands depends on the change, not on the draw.
settings.register_profile("ci", derandomize=True)
if os.environ.get("CI"):
    settings.load_profile("ci")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--update-snapshots", action="store_true", default=False,
                     help="rewrite tests/snapshots/ from the current code (on purpose only)")


@pytest.fixture
def update_snapshots(request: pytest.FixtureRequest) -> bool:
    return bool(request.config.getoption("--update-snapshots"))


@pytest.fixture
def run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """Run the command in an empty folder, like a user in a fresh directory."""
    monkeypatch.chdir(tmp_path)

    def invoke(*args: str, input: str | None = None) -> Result:
        return CliRunner().invoke(cli, list(args), input=input, prog_name="backviz")

    return invoke
