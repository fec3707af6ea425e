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
import subprocess
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
