"""Files as a user expects them: whole or absent, with the modes the umask says, and
builds that are replaced whole. Each test is named after the promise it keeps."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

import backviz
from backviz.cli import cli
from backviz.render import export as render

FIG1 = ["(x+y)*z", "--x", "-2", "--y", "5", "--z", "-4"]


def _run(*args: str):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(cli, list(args), prog_name="backviz")


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_new_file_follows_the_umask_and_a_replaced_one_keeps_its_mode(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    old = os.umask(0o077)
    try:
        assert _run(*FIG1, "-f", "dot", "-o", "private.dot").exit_code == 0
    finally:
        os.umask(old)
    assert _mode(tmp_path / "private.dot") == 0o600
    Path("kept.dot").write_text("")
    Path("kept.dot").chmod(0o640)
    assert _run(*FIG1, "-f", "dot", "-o", "kept.dot").exit_code == 0
    assert _mode(tmp_path / "kept.dot") == 0o640 and Path("kept.dot").read_text()


def test_a_write_goes_through_a_new_file_of_its_own_and_leaves_none(tmp_path: Path) -> None:
    """A temporary file of the same name, left by an earlier process of this pid, is
    neither written into nor removed: the write takes the next name."""
    stale = tmp_path / f".f.svg.{os.getpid()}-0.tmp"
    stale.write_bytes(b"someone else's")
    render.write_atomic(tmp_path / "f.svg", b"<svg/>")
    render.write_atomic(tmp_path / "f.svg", [b"<svg>", b"</svg>"])  # pieces, as JSON is
    assert (tmp_path / "f.svg").read_bytes() == b"<svg></svg>"
    assert stale.read_bytes() == b"someone else's"
    assert sorted(p.name for p in tmp_path.iterdir()) == [stale.name, "f.svg"]


def test_folders_made_for_a_failed_write_are_removed(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    Path("keep").mkdir()

    def full(*args: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(render.os, "replace", full)
    result = _run(*FIG1, "-f", "dot", "-o", "keep/a/b/c/f.dot")
    assert result.exit_code == 1
    assert result.stderr == "Error: cannot write keep/a/b/c/f.dot: No space left on device\n"
    assert [p.name for p in tmp_path.rglob("*")] == ["keep"]


def test_save_names_the_target_in_its_errors_and_refuses_an_empty_path(tmp_path: Path) -> None:
    t = backviz.trace("(x+y)*z", x=-2, y=5, z=-4)
    with pytest.raises(backviz.BackvizError, match="the path to save to is empty"):
        t.save("")
    folder = tmp_path / "read-only"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        if os.access(folder, os.W_OK):  # root writes anyway: make the rename fail instead
            (folder / "fig.dot").mkdir()
            (folder / "fig.dot" / "x").write_text("")
        with pytest.raises(OSError) as info:
            t.save(folder / "fig.dot")
        assert info.value.filename == str(folder / "fig.dot")
        assert not [p for p in folder.iterdir() if p.name.startswith(".")]
    finally:
        folder.chmod(0o700)


def _build_files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_a_failed_build_leaves_the_old_build_whole(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert _run(*FIG1, "--steps", "-o", "build").exit_code == 0
    before = {p.name: p.read_bytes() for p in Path("build").iterdir()}
    written = []
    real = Path.write_bytes

    def fails_third(self: Path, data: bytes) -> int:  # the disk fills up mid-build
        written.append(self.name)
        if len(written) == 3:
            raise OSError(28, "No space left on device")
        return real(self, data)

    monkeypatch.setattr(Path, "write_bytes", fails_third)
    result = _run("x*y*z*w", "--x", "1", "--y", "2", "--z", "3", "--w", "4", "--steps",
                  "-o", "build")
    assert result.exit_code == 1 and "No space left on device" in result.stderr
    assert {p.name: p.read_bytes() for p in Path("build").iterdir()} == before
    assert _build_files(tmp_path) == ["build"]  # no temporary folder left beside it


def test_a_build_replaces_the_old_one_whole_and_keeps_other_files(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert _run("x*y*z*w", "--x", "1", "--y", "2", "--z", "3", "--w", "4", "--steps",
                "-o", "build").exit_code == 0
    Path("build/notes.txt").write_text("mine")
    assert _run(*FIG1, "--steps", "-o", "build").exit_code == 0
    assert _build_files(Path("build")) == ["frame-00.svg", "frame-01.svg", "frame-02.svg",
                                           "frame-03.svg", "index.html", "notes.txt"]


RACERS = [["(x+y)*z", "--x", "-2", "--y", "5", "--z", "-4"],
          ["x*y*z*w", "--x", "1", "--y", "2", "--z", "3", "--w", "4"]]


def test_two_builds_racing_into_one_folder_leave_one_of_them_whole(tmp_path: Path) -> None:
    backviz_command = str(Path(sys.executable).parent / "backviz")
    expected = {}
    for k, args in enumerate(RACERS):
        subprocess.run([backviz_command, *args, "--steps", "-o", f"alone{k}"], cwd=tmp_path,
                       check=True, capture_output=True)
        expected[k] = {p.name: p.read_bytes() for p in (tmp_path / f"alone{k}").iterdir()}
    for race in range(8):
        procs = [subprocess.Popen([backviz_command, *args, "--steps", "-o", "shared"],
                                  cwd=tmp_path, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.PIPE) for args in RACERS]
        for proc in procs:
            _, err = proc.communicate(timeout=120)
            assert proc.returncode == 0, err
        found = {p.name: p.read_bytes() for p in (tmp_path / "shared").iterdir()}
        assert found in (expected[0], expected[1]), f"race {race}: a mix"
        assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]
