"""Ctrl-C, SIGTERM and SIGHUP stop the command cleanly, at any moment.

The promise (docs/cli.md, the exit statuses): one line on stderr, exit status 128 + the signal's
number, the ``dot`` child ended, no temporary file left. These run the installed command
in a process of its own and signal it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BACKVIZ = Path(sys.executable).parent / "backviz"
FIG1 = ["(x+y)*z", "--x", "-2", "--y", "5", "--z", "-4"]
SIGNALS = [(signal.SIGINT, 130, "interrupted"), (signal.SIGTERM, 143, "terminated"),
           (signal.SIGHUP, 129, "hung up")]


def _wait_for(condition, what: str, seconds: float = 30) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.002)


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


def _hanging_dot(folder: Path) -> tuple[dict[str, str], Path]:
    """A PATH whose dot writes down its pid and never exits."""
    bin_ = folder / "bin"
    bin_.mkdir()
    pidfile = folder / "dot.pid"
    dot = bin_ / "dot"
    dot.write_text(f'#!/bin/sh\necho $$ > "{pidfile}.tmp"; mv "{pidfile}.tmp" "{pidfile}"\n'
                   "exec sleep 600\n")
    dot.chmod(0o755)
    return {**os.environ, "PATH": f"{bin_}:{os.environ['PATH']}"}, pidfile


@pytest.mark.parametrize(("signum", "status", "word"), SIGNALS, ids=lambda v: str(v))
def test_a_signal_while_dot_runs_ends_dot_and_exits_128_plus_its_number(
        tmp_path: Path, signum: int, status: int, word: str) -> None:
    env, pidfile = _hanging_dot(tmp_path)
    proc = subprocess.Popen([str(BACKVIZ), *FIG1, "-o", "out/fig.svg"], cwd=tmp_path, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _wait_for(pidfile.exists, "dot to start")
    dot_pid = int(pidfile.read_text())
    proc.send_signal(signum)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == status
    assert err == f"backviz: {word}\n"
    assert out == ""
    _wait_for(lambda: not _alive(dot_pid), "dot to end", seconds=5)
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def _catches_sigterm(pid: int) -> bool:
    status = Path(f"/proc/{pid}/status").read_text()
    caught = int(next(line for line in status.splitlines() if line.startswith("SigCgt:"))
                 .split()[1], 16)
    return bool(caught >> (signal.SIGTERM - 1) & 1)


def test_ctrl_c_during_start_up_prints_one_line_and_no_traceback(tmp_path: Path) -> None:
    proc = subprocess.Popen([str(BACKVIZ), *FIG1], cwd=tmp_path, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    # The entry point's handlers are in place before it imports numpy: signal then.
    _wait_for(lambda: _catches_sigterm(proc.pid), "the command to handle signals")
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    assert (proc.returncode, err) == (130, "backviz: interrupted\n")
    assert not (tmp_path / "output").exists()


SIGTERM_IN_WRITE = """
import os, signal, sys, time
real_replace = os.replace
def replace(src, dst):  # the temporary file is written: the signal comes before the rename
    os.kill(os.getpid(), signal.SIGTERM)
    time.sleep(30)
    real_replace(src, dst)
os.replace = replace
sys.argv = ["backviz", *sys.argv[1:]]
from backviz.start import main
main()
"""


def test_sigterm_during_a_write_leaves_no_temporary_file(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-c", SIGTERM_IN_WRITE, *FIG1, "-o", "out/fig.svg"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=60, check=False)
    assert (done.returncode, done.stderr) == (143, "backviz: terminated\n")
    assert list(tmp_path.iterdir()) == []  # nor the folder made for the file


def test_a_signal_while_a_folder_is_drawn_in_parallel_ends_every_dot(tmp_path: Path) -> None:
    env, pidfile = _hanging_dot(tmp_path)
    gallery = tmp_path / "gallery"
    gallery.mkdir()
    for k in range(4):
        (gallery / f"f{k}.toml").write_text(f'title = "t"\nexpression = "x*{k + 2}"\n'
                                            "[values]\nx = 1\n")
    proc = subprocess.Popen([str(BACKVIZ), "gallery"], cwd=tmp_path, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _wait_for(pidfile.exists, "dot to start")
    start = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert (proc.returncode, err) == (143, "backviz: terminated\n")
    assert time.monotonic() - start < 10  # not after every file's dot has run its course
    dots = [p for p in Path("/proc").iterdir() if p.name.isdigit()
            and _cmdline(p).startswith("sleep 600") and _in(p, tmp_path)]
    assert dots == []
    assert not (tmp_path / "output").exists() or not any((tmp_path / "output").iterdir())


def _cmdline(proc: Path) -> str:
    try:
        return (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def _in(proc: Path, folder: Path) -> bool:
    try:
        return Path(os.readlink(proc / "cwd")) == folder
    except OSError:
        return False
