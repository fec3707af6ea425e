"""The set-up script: a run on an installed clone installs nothing, as root or not.

Each run of ./scripts/backviz sources scripts/_setup.sh. Once everything is installed
it must neither call apt-get nor reinstall the package, whoever runs it: the font check
once failed on about half of all runs (a pipe under pipefail) and reinstalled Graphviz.
apt-get, sudo and (for the unprivileged user) id are replaced by stubs on PATH that write
down any call; the real dot and dpkg-query are used. fc-list is the real one, followed
(when it lists every font) by the 100,000 more lines of a machine with many fonts: a
check that stops reading at its first match leaves it writing into a closed pipe.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

import backviz

ROOT = Path(__file__).resolve().parent.parent
STAMP = ROOT / ".venv" / ".backviz-installed"
RUNS = 10


def _stub(folder: Path, name: str, body: str) -> None:
    path = folder / name
    path.write_text(f"#!/bin/sh\n{body}\n")
    path.chmod(0o755)


@pytest.mark.parametrize("user", ["root", "a user without sudo"])
def test_runs_on_an_installed_clone_install_nothing(tmp_path: Path, user: str) -> None:
    assert STAMP.is_file(), "./scripts/test installs the package before running the tests"
    stubs = tmp_path / "bin"
    stubs.mkdir()
    calls = tmp_path / "calls"
    for name in ("apt-get", "sudo"):
        _stub(stubs, name, f'echo "{name} $*" >> "{calls}"; exit 1')
    fc_list = subprocess.run(["sh", "-c", "command -v fc-list"], capture_output=True,
                             text=True, check=True).stdout.strip()
    _stub(stubs, "fc-list", f'"{fc_list}" "$@" || exit\n'
          'if [ $# = 0 ]; then yes "/usr/share/fonts/x.ttf: Font:style=Regular" | head -n 100000; fi')
    if user != "root":
        # As for a real user: not root, and sudo is not allowed to help.
        _stub(stubs, "id", 'if [ "$1" = -u ]; then echo 1000; else echo "uid=1000(user)"; fi')
    env = {**os.environ, "PATH": f"{stubs}:{os.environ['PATH']}"}
    installed = STAMP.stat().st_mtime_ns
    for run in range(RUNS):
        done = subprocess.run([str(ROOT / "scripts" / "backviz"), "--version"], env=env,
                              capture_output=True, text=True, timeout=120, check=False)
        assert done.returncode == 0, f"run {run + 1}: {done.stderr}"
        assert done.stdout == f"backviz {backviz.__version__}\n"
        assert "backviz setup:" not in done.stderr, f"run {run + 1}: {done.stderr}"
        assert not calls.exists(), f"run {run + 1} called: {calls.read_text()}"
    assert STAMP.stat().st_mtime_ns == installed, "the package was installed again"


PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def test_every_folder_of_the_package_is_a_listed_package() -> None:
    """A folder of files that is not listed makes setuptools warn on every build (40 lines
    about backviz.static once) and leaves its files out of the wheel."""
    folders = {".".join(p.parent.relative_to(ROOT).parts) for p in (ROOT / "backviz").rglob("*")
               if p.is_file() and "__pycache__" not in p.parts}
    assert sorted(PYPROJECT["tool"]["setuptools"]["packages"]) == sorted(folders)


def test_the_package_ships_its_license() -> None:
    project = PYPROJECT["project"]
    assert project["license"] == "MIT" and project["license-files"] == ["LICENSE"]
    text = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert text.startswith("MIT License") and "WITHOUT WARRANTY OF ANY KIND" in text


def test_the_long_description_shows_on_a_package_index() -> None:
    """An index shows no image or link relative to the repository (README.md has them)."""
    text = (ROOT / PYPROJECT["project"]["readme"]).read_text(encoding="utf-8")
    links = re.findall(r"\]\(([^)]*)\)", text) + re.findall(r'src="([^"]*)"', text)
    assert "# backviz" in text and all(re.match(r"https://", link) for link in links), links


def test_the_first_command_leaves_git_status_clean(tmp_path: Path) -> None:
    """The README's first command, run in a repository with this .gitignore and the
    gallery's figures committed, leaves nothing for git status to show."""
    def git(*args: str) -> str:
        return subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args],
                              cwd=tmp_path, capture_output=True, text=True, check=True).stdout

    shutil.copy(ROOT / ".gitignore", tmp_path)
    shutil.copytree(ROOT / "output", tmp_path / "output")
    git("init", "-q")
    git("add", ".")
    git("commit", "-q", "-m", "clone")
    subprocess.run([sys.executable, "-m", "backviz", "(x+y)*z", "--x", "-2", "--y", "5", "--z", "-4"],
                   cwd=tmp_path, capture_output=True, check=True)
    assert (tmp_path / "output" / "x_y_z.svg").is_file()
    assert git("status", "--porcelain") == ""
