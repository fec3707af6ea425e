"""The trace as JSON, and files written whole: a reader never sees a partial file or folder.

:func:`json_chunks` writes the JSON piece by piece; :func:`write_atomic` and
:func:`write_folder_atomic` write through a temporary file or folder and rename it into
place.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import stat
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import BackvizError
from ..graph import INPUT, Node

if TYPE_CHECKING:
    from ..evaluate import Evaluation

__all__ = ["ANIMATIONS", "BUILD_FILES", "FORMATS", "format_for", "json_chunks", "to_dict",
           "to_json", "write_atomic", "write_folder_atomic"]

FORMATS = ("svg", "dot", "png", "pdf", "json", "tex")
ANIMATIONS = ("gif", "apng", "mp4")
"""Animations of a build (``--steps -f gif``); an animated PNG's file ends in .png."""
BUILD_FILES = ("tex", *ANIMATIONS)
"""A build in one file: one Beamer frame (tex) or an animation."""


def _json_value(x: Any) -> Any:
    a = np.asarray(x, dtype=np.float64)
    # JSON has no nan or inf: they become null (the warnings say where they came from).
    if a.ndim == 0:
        return float(a) if np.isfinite(a) else None
    finite = np.isfinite(a)
    if finite.all():
        return a.tolist()
    obj = a.astype(object)
    obj[~finite] = None
    return obj.tolist()


def to_dict(trace: Evaluation, write: Callable[[Any], Any] = _json_value) -> dict[str, Any]:
    """The trace as JSON-ready data: value, gradients, every node, warnings.

    ``write`` turns each value into JSON data (:func:`to_json` encodes each array at once,
    so that only one array's list is held at a time).
    """
    graph = trace.graph
    data: dict[str, Any] = {
        "expression": trace.expression,
        "value": write(trace.values[-1]),
        "gradients": {name: write(g) for name, g in trace.gradients.items()},
        "nodes": [_node_entry(trace, node, write) for node in graph.nodes],
    }
    named = {name: i for name, i in graph.bindings.items() if graph.ops[i] != INPUT}
    if named:  # a program's intermediates, by name (each name's node at the end)
        data["names"] = named
    if graph.groups:
        data["groups"] = [{"name": g.name, "nodes": list(g.nodes), "args": list(g.args)}
                          for g in graph.groups]
    data["warnings"] = list(trace.warnings)
    return data


def _node_entry(trace: Evaluation, node: Node, write: Callable[[Any], Any]) -> dict[str, Any]:
    """One node of :func:`to_dict`: its op, label, name, inputs, value and gradients.

    Given data (:attr:`~backviz.evaluate.Evaluation.data_inputs`) is marked so, and has no
    gradient: neither its own, nor a share on the edges from it (null).
    """
    entry: dict[str, Any] = {"id": node.id, "op": node.op, "label": node.label}
    if node.name is not None:
        entry["name"] = node.name
    entry["inputs"] = list(node.inputs)
    entry["value"] = write(trace.values[node.id])
    given = trace.data_inputs
    if node.id in given:
        entry["data"] = True
    else:
        entry["grad"] = write(trace.grads[node.id])
    if node.inputs:  # the red number under each input edge: that use's share
        entry["edge_grads"] = [None if i in given else write(share)
                               for i, share in zip(node.inputs, trace.edge_grads[node.id],
                                                   strict=True)]
    return entry


def to_json(trace: Evaluation) -> str:
    """The trace as JSON text (see :func:`to_dict`), as ``--format json`` writes it."""
    return b"".join(json_chunks(trace)).decode("utf-8")


def json_chunks(trace: Evaluation) -> Iterator[bytes]:
    """The JSON text in pieces, each array encoded only when its turn comes.

    Arrays are written on one line each: json indents with its pure-Python encoder, which
    took 24 s (and 1.9 GB) for a 2000x2000 matrix; an array alone goes through the C one.
    The text around them is made first, with a marker in each array's place, so that one
    array at a time is turned into a list and text (a writer that takes the pieces as they
    come holds about one array's worth: 0.4 GB at the peak for that matrix, not 1.4 GB).
    """
    import json  # only for JSON: a figure's start does not need it (1.5 ms)

    arrays: list[Any] = []

    def held(x: Any) -> Any:  # an array: a marker now, encoded when written
        if np.ndim(x) == 0:
            return _json_value(x)
        arrays.append(x)
        return f"\0{len(arrays) - 1}\0"

    text = json.dumps(to_dict(trace, held), indent=2) + "\n"
    # The markers come out of json.dumps as "\u0000<k>\u0000"; split keeps each k.
    pieces = re.split(r'"\\u0000(\d+)\\u0000"', text)
    for k, piece in enumerate(pieces):
        if k % 2:
            yield json.dumps(_json_value(arrays[int(piece)])).encode("ascii")
        else:
            yield piece.encode("utf-8")


def format_for(path: str | Path, format: str | None = None) -> str:
    """The output format: given explicitly, or from the file's suffix."""
    if format:
        fmt = format.lower()
    else:
        fmt = Path(path).suffix.lower().lstrip(".")
        if not fmt:
            fmt = "svg"
    if fmt not in FORMATS:
        raise BackvizError(
            f"unknown output format {fmt!r}: choose one of {', '.join(FORMATS)}")
    return fmt


def write_atomic(path: Path, data: bytes | Iterable[bytes]) -> None:
    """Write through a temporary file and rename, so no partial file is ever left.

    ``data`` is bytes, or pieces of them written as they come (:func:`json_chunks`).

    The file gets the mode a plain ``open`` would give it (0666 less the umask), or keeps
    the mode of the file it replaces. Folders made for it are removed again if the write
    fails. An OSError names ``path``, never the temporary file.
    """
    made = _make_parents(path.parent)
    try:
        _write_file(path, data)
    except BaseException:
        for folder in reversed(made):  # only the folders made here, and only if empty
            with contextlib.suppress(OSError):
                folder.rmdir()
        raise


def write_folder_atomic(folder: Path, files: Mapping[str, bytes],
                        replaces: str = r".*") -> None:
    """Write a folder's files beside it, then rename the whole into place.

    A reader sees the old folder or the new one, never a mix, even when two writers race
    (each renames its own complete folder in; the last one stays). Files of the old folder
    whose names do not match ``replaces`` (a regular expression) are carried over.
    """
    import shutil  # here, as tempfile below: a build's folder needs them, a figure does not
    import tempfile

    made = _make_parents(folder.parent)
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", suffix=".tmp", dir=folder.parent))
    try:
        _fill_folder(tmp, files, folder, replaces)
        _rename_folder(tmp, folder)
    except OSError as err:
        raise OSError(err.errno, err.strerror, str(folder)) from None
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
            for parent in reversed(made):
                with contextlib.suppress(OSError):
                    parent.rmdir()


def _fill_folder(tmp: Path, files: Mapping[str, bytes], old: Path, replaces: str) -> None:
    """Write the files into the new folder, with the old folder's others carried over."""
    import shutil

    mask = _umask()
    for name, data in files.items():
        (tmp / name).write_bytes(data)
        os.chmod(tmp / name, 0o666 & ~mask)
    if old.is_dir():
        for path in old.iterdir():
            if path.is_file() and path.name not in files and not re.fullmatch(replaces, path.name):
                shutil.copy2(path, tmp / path.name)
    os.chmod(tmp, 0o777 & ~mask)


def _rename_folder(tmp: Path, folder: Path) -> None:
    """Rename the new folder onto ``folder``, moving an old one out of the way first."""
    import shutil
    import tempfile

    while True:
        try:
            os.rename(tmp, folder)  # only onto a missing (or empty) folder
            return
        except OSError as err:
            if err.errno not in (errno.ENOTEMPTY, errno.EEXIST):
                raise
        old = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", suffix=".old",
                                    dir=folder.parent))
        try:
            os.rename(folder, old / "build")
        except FileNotFoundError:  # another writer moved it first: try again
            pass
        finally:
            shutil.rmtree(old, ignore_errors=True)


def _make_parents(folder: Path) -> list[Path]:
    """Create a folder and its missing parents; return those created, outermost first."""
    missing = []
    while not folder.exists() and folder != folder.parent:
        missing.append(folder)
        folder = folder.parent
    made = []
    try:
        for folder in reversed(missing):
            folder.mkdir(exist_ok=True)
            made.append(folder)
    except BaseException:
        for folder in reversed(made):
            with contextlib.suppress(OSError):
                folder.rmdir()
        raise
    return made


def _write_file(path: Path, data: bytes | Iterable[bytes]) -> None:
    pieces = [data] if isinstance(data, bytes) else data
    if path.is_dir():
        raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), str(path))
    if path.exists() and not path.is_file():
        # a device or a pipe (/dev/null, /dev/stdout, a FIFO): write into it, never replace it
        with open(path, "wb") as f:
            f.writelines(pieces)
        return
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except FileNotFoundError:
        mode = 0o666 & ~_umask()
    fd, tmp = _new_file(path)
    try:
        with os.fdopen(fd, "wb") as f:
            f.writelines(pieces)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except OSError as err:
        Path(tmp).unlink(missing_ok=True)
        raise OSError(err.errno, err.strerror, str(path)) from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _new_file(path: Path) -> tuple[int, Path]:
    """A new empty file beside ``path`` to write it through, ``.NAME.PID-N.tmp``, open for
    writing: one that did not exist (O_EXCL), as tempfile.mkstemp makes, whose import (with
    shutil, random and the compressors) would be 3 ms of every start of the command."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    n = 0
    while True:
        tmp = path.with_name(f".{path.name}.{os.getpid()}-{n}.tmp")
        try:
            return os.open(tmp, flags, 0o600), tmp
        except FileExistsError:  # left by a process of the same pid, or another thread's
            n += 1


def _umask() -> int:
    """The process's umask (reading it means setting it: it is put back at once)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask
