"""Running Graphviz's ``dot``: the timeout, the size refusal, stopping runs under way,
quoting what dot says, and the PDF's fixed date; what it writes is checked by
:mod:`backviz.render.checks` before anything is written.

This is a subprocess run of its own rather than ``graphviz.pipe``: the package has no
timeout (a ``dot`` that never exits hangs ``pipe`` for ever) and lets the OSError of a
``dot`` that cannot be run through as it is.
"""

from __future__ import annotations

import contextlib
import math
import os
import re
import selectors
import signal
import subprocess
import threading
import time
from collections.abc import Sequence
from typing import IO, NamedTuple

from ..errors import GraphvizNotFoundError, RenderError, RenderTimeoutError, TooLargeError
from ..signals import deferred
from .checks import checked

__all__ = ["DOT_MAX_BYTES", "DOT_TIMEOUT", "MAX_GATES", "Drawings", "dot_max_bytes", "dot_timeout",
           "drawable", "fixed_pdf", "not_graphviz", "render", "stop_drawing"]

MAX_GATES = 3000
"""Above this many gates Graphviz takes minutes; such graphs are refused for drawing."""
DOT_TIMEOUT = 120.0
"""Seconds a ``dot`` run may take (the environment variable BACKVIZ_DOT_TIMEOUT sets it)."""
DOT_MAX_BYTES = 256 * 2**20
"""How much a ``dot`` run may write (BACKVIZ_DOT_MAX_BYTES sets it): the largest figure
drawn, 3,000 gates as PNG, is a few MB, and a runaway dot must not fill the memory."""
_QUOTED_LINES = 3  # of Graphviz's stderr, in an error message
_QUOTED_WIDTH = 200
_STDERR_KEPT = 1 << 16  # bytes of Graphviz's stderr kept for the message; the rest is counted


def dot_timeout() -> float:
    """The timeout of a ``dot`` run, from BACKVIZ_DOT_TIMEOUT (seconds) or the default."""
    text = os.environ.get("BACKVIZ_DOT_TIMEOUT", "").strip()
    if not text:
        return DOT_TIMEOUT
    try:
        seconds = float(text)
    except ValueError:
        seconds = math.nan
    if not (math.isfinite(seconds) and seconds > 0):
        raise RenderError(f"BACKVIZ_DOT_TIMEOUT={text[:40]!r}: give a number of seconds "
                          "above 0, e.g. 300")
    return seconds


def dot_max_bytes() -> int:
    """How many bytes a ``dot`` run may write, from BACKVIZ_DOT_MAX_BYTES (a number of
    bytes, or of K, M or G: 1024, 1024**2, 1024**3 bytes) or the default."""
    text = os.environ.get("BACKVIZ_DOT_MAX_BYTES", "").strip()
    if not text:
        return DOT_MAX_BYTES
    match = re.fullmatch(r"([0-9]{1,15}) *([KMG]?)", text, re.IGNORECASE)
    size = int(match[1]) * 1024 ** " KMG".index(match[2].upper() or " ") if match else 0
    if size <= 0:
        raise RenderError(f"BACKVIZ_DOT_MAX_BYTES={text[:40]!r}: give a number of bytes "
                          "above 0, e.g. 1000000000 or 1G")
    return size


def _size(n: int) -> str:
    """A number of bytes in words: 256 MiB, or 1,000 bytes."""
    for unit, size in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= size and n % size == 0:
            return f"{n // size} {unit}"
    return f"{n:,} bytes"


def drawable(n_gates: int) -> None:
    """Refuse a graph too large to draw (:data:`MAX_GATES`), before its DOT is written."""
    if n_gates > MAX_GATES:
        raise TooLargeError(
            f"the graph has {n_gates} gates, more than the {MAX_GATES} that can be drawn in "
            "reasonable time; use --format json (or --format dot) for graphs this large")


def render(dot: str, format: str, n_gates: int = 0, timeout: float | None = None,
           also: Sequence[str] = (), drawings: Drawings | None = None) -> bytes:
    """Run Graphviz's ``dot`` on DOT source; the output format is svg, png, pdf or json.

    The run is bounded by ``timeout`` seconds (default :func:`dot_timeout`; then it is a
    :class:`RenderTimeoutError`) and its output by :func:`dot_max_bytes`, and what it
    wrote is checked to be whole (:func:`checked`): a failure, or output that is not
    (all of) the format asked for, is a :class:`RenderError` quoting at most three lines
    of Graphviz's stderr. ``dot`` runs in a process group of its own, and the whole
    group is ended when the run ends, however it ends (a signal too: see
    :mod:`backviz.start`), so that no child of a wrapper script outlives it. ``also``
    asks the same run (one layout) for more formats, written one after the other; each
    is checked. ``drawings.stop()`` (see :class:`Drawings`) ends the run from another thread.
    """
    drawable(n_gates)
    if timeout is None:
        timeout = dot_timeout()
    limit = dot_max_bytes()
    args = ["dot", f"-T{format}", *(f"-T{f}" for f in also)]
    done = _ran(args, dot.encode("utf-8"), timeout, limit, n_gates, drawings)
    if done.returncode != 0:
        if done.returncode < 0:
            reason = f"dot was killed by {_signal_name(-done.returncode)}"
        else:
            reason = f"dot exited with status {done.returncode}"
        raise RenderError(f"Graphviz failed to draw the figure ({reason})"
                          + _quoted(done.stderr, done.more))
    wrong = checked(done.stdout, [format, *also])
    if wrong:
        raise not_graphviz(wrong + _quoted(done.stderr, done.more))
    return done.stdout


def not_graphviz(wrong: str) -> RenderError:
    """The error for output that ``dot`` wrote without an error but that is not what
    Graphviz writes (``wrong``: what it was)."""
    import shutil  # only for the message, as below

    where = shutil.which("dot") or "dot"
    return RenderError(f"Graphviz's dot exited without error but wrote {wrong}; the dot run "
                       f"was {where} ('dot -V' says if it is Graphviz's; reinstalling Graphviz "
                       "mends a broken one)")


class _Overflow(Exception):
    """dot wrote more than the limit (:func:`dot_max_bytes`) to its stdout."""


def _ran(args: list[str], data: bytes, timeout: float, limit: int, n_gates: int,
         drawings: Drawings | None) -> _Done:
    """:func:`_run_dot`, with a dot that is missing, too slow, writes too much or cannot
    start said in words."""
    try:
        return _run_dot(args, data, timeout, limit, drawings)
    except FileNotFoundError:
        raise GraphvizNotFoundError(
            "Graphviz's 'dot' program is not installed, and it is needed for "
            f"{args[1][2:].upper()} output. Install it with 'apt-get install graphviz' "
            "(Debian/Ubuntu) or 'brew install graphviz' (macOS). --format dot and --format "
            "json work without it.") from None
    except subprocess.TimeoutExpired:
        raise RenderTimeoutError(
            f"Graphviz took more than {timeout:g} s to draw the figure of {n_gates} gates and "
            "was stopped; BACKVIZ_DOT_TIMEOUT=SECONDS allows more time, and --format json "
            "(or --format dot) needs no drawing") from None
    except _Overflow:
        raise RenderError(
            f"Graphviz's dot wrote more than {_size(limit)} for the figure of {n_gates} gates "
            "and was stopped; BACKVIZ_DOT_MAX_BYTES=BYTES allows more (e.g. 1G), and "
            "--format json (or --format dot) needs no drawing") from None
    except OSError as err:
        import shutil  # only for the message: a run that starts dot never needs it

        where = shutil.which("dot") or "dot"
        raise RenderError(f"Graphviz's 'dot' ({where}) cannot be run: "
                          f"{err.strerror or err}") from None


_RUNNING_LOCK = threading.Lock()  # of every Drawings' runs


class Drawings:
    """dot runs that are stopped together: a build's frames drawn in threads (give it to
    :func:`render`), or every run of the process (:func:`stop_drawing`)."""

    def __init__(self) -> None:
        self.running: set[subprocess.Popen[bytes]] = set()
        self.stopped = False  # a run that starts after stop() is ended at once

    def stop(self) -> None:
        """End the runs under way, and any that start from now on."""
        with _RUNNING_LOCK:
            self.stopped = True
            for proc in self.running:
                _kill_group(proc)


_ALL = Drawings()


class _Done(NamedTuple):
    """A finished dot run: its status, its stdout, the head of its stderr and how many
    lines of stderr followed."""

    returncode: int
    stdout: bytes
    stderr: bytes
    more: int


def _run_dot(args: list[str], data: bytes, timeout: float, limit: int,
             drawings: Drawings | None) -> _Done:
    """Run dot in a session of its own, known to :func:`stop_drawing` while it runs; at the
    end, whatever the end, every process of its group is killed and dot is reaped."""
    proc: subprocess.Popen[bytes] | None = None
    groups = [_ALL] if drawings is None else [_ALL, drawings]
    try:
        # A signal while dot starts is raised once its process is known, here in the try.
        with deferred():
            proc = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, start_new_session=True)
            with _RUNNING_LOCK:
                for group in groups:
                    group.running.add(proc)
                if any(group.stopped for group in groups):  # stopped while this one started
                    _kill_group(proc)
        out, (err, more) = _exchange(proc, data, time.monotonic() + timeout, limit)
    finally:
        if proc is not None:
            _ended(proc, groups)
    return _Done(proc.returncode, out, err, more)


def _ended(proc: subprocess.Popen[bytes], groups: list[Drawings]) -> None:
    """Kill what is left of a run's process group, close its pipes and reap dot."""
    with _RUNNING_LOCK:  # out of the sets first: stop() never signals a reaped pid
        for group in groups:
            group.running.discard(proc)
    # dot itself is not reaped yet (see _exited), so its group id cannot have been reused.
    _kill_group(proc)
    for pipe in (proc.stdin, proc.stdout, proc.stderr):
        if pipe is not None:
            with contextlib.suppress(OSError):
                pipe.close()
    proc.wait()


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    """SIGKILL every process of the run's group: dot, or a wrapper and its children."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)


def _exited(proc: subprocess.Popen[bytes]) -> bool:
    """Whether dot (the group's leader) has exited, without reaping it where the system
    allows: a reaped leader's group id could be given to another process."""
    if proc.returncode is not None:
        return True
    if hasattr(os, "waitid"):
        try:
            return os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) \
                is not None
        except ChildProcessError:
            return True
    return proc.poll() is not None


_CHUNK = 1 << 16
_POLL = 0.05  # seconds between looks at whether dot exited while its pipes stay open


def _exchange(proc: subprocess.Popen[bytes], data: bytes, deadline: float,
              limit: int) -> tuple[bytes, tuple[bytes, int]]:
    """Feed dot its input and read its stdout (at most ``limit`` bytes) and stderr, until
    both are closed and dot has exited, or the deadline (:class:`subprocess.TimeoutExpired`).

    A wrapper's child may hold the pipes open after dot exited: then the group is killed
    and what is left in the pipes read, rather than waiting for them to close.
    """
    assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
    out, err = _Output(proc.stdout, limit), _Errors(proc.stderr)
    feed = _Feed(proc.stdin, data)
    with selectors.DefaultSelector() as sel:
        if not feed.done:
            sel.register(proc.stdin, selectors.EVENT_WRITE, feed)
        sel.register(proc.stdout, selectors.EVENT_READ, out)
        sel.register(proc.stderr, selectors.EVENT_READ, err)
        group_killed = False
        while sel.get_map() or not _exited(proc):
            left = deadline - time.monotonic()
            if left <= 0:
                raise subprocess.TimeoutExpired("dot", 0)
            if not group_killed and _exited(proc):
                _kill_group(proc)  # its children: they hold the pipes, and dot is done
                group_killed = True
            if not sel.get_map():  # the pipes are closed: dot is about to exit
                time.sleep(min(left, 0.002))
                continue
            for key, _ in sel.select(min(left, _POLL)):
                if not key.data.step():
                    sel.unregister(key.fileobj)
                    if key.fileobj is proc.stdin:
                        proc.stdin.close()  # dot reads to the end of its input
    return out.data(), err.data()


class _Feed:
    """dot's input, written as the pipe takes it; closed when all is written, or dot
    stopped reading (it may exit without reading it all)."""

    def __init__(self, pipe: IO[bytes], data: bytes) -> None:
        self.pipe, self.view, self.sent = pipe, memoryview(data), 0
        self.done = not data
        if self.done:
            pipe.close()
        else:
            os.set_blocking(pipe.fileno(), False)

    def step(self) -> bool:
        """Write what the pipe takes; False once there is nothing more to write."""
        try:
            self.sent += os.write(self.pipe.fileno(), self.view[self.sent:self.sent + _CHUNK])
        except BlockingIOError:
            return True
        except OSError:  # BrokenPipeError: dot no longer reads
            self.sent = len(self.view)
        return self.sent < len(self.view)


class _Output:
    """dot's stdout, read in chunks: more than ``limit`` bytes of it is an :class:`_Overflow`
    (raised before the chunk that passes the limit is kept)."""

    def __init__(self, pipe: IO[bytes], limit: int) -> None:
        self.pipe, self.limit, self.size = pipe, limit, 0
        self.chunks: list[bytes] = []

    def step(self) -> bool:
        """Read a chunk; False at the end of the output."""
        chunk = os.read(self.pipe.fileno(), _CHUNK)
        self.size += len(chunk)
        if self.size > self.limit:
            raise _Overflow
        self.chunks.append(chunk)
        return bool(chunk)

    def data(self) -> bytes:
        return b"".join(self.chunks)


class _Errors:
    """dot's stderr: its first lines kept (up to :data:`_STDERR_KEPT` bytes), the lines
    after only counted, so that a flood of messages costs no memory."""

    def __init__(self, pipe: IO[bytes]) -> None:
        self.pipe, self.head, self.more = pipe, bytearray(), 0
        self.full = False  # the head is kept: what follows is counted
        self.last = b""  # the last byte read

    def step(self) -> bool:
        """Read a chunk; False at the end of the output."""
        chunk = os.read(self.pipe.fileno(), _CHUNK)
        if not self.full:
            self.head += chunk
            if len(self.head) <= _STDERR_KEPT:
                return bool(chunk)
            # Cut at a line's end, so that no line is half kept and half counted.
            cut = self.head.rfind(b"\n", 0, _STDERR_KEPT) + 1 or _STDERR_KEPT
            chunk, self.head = bytes(self.head[cut:]), self.head[:cut]
            self.full = True
        self.more += chunk.count(b"\n")
        if not chunk and self.last not in (b"\n", b""):
            self.more += 1  # the last line, without its end
        self.last = chunk[-1:] or self.last
        return bool(chunk)

    def data(self) -> tuple[bytes, int]:
        return bytes(self.head), self.more


def stop_drawing() -> None:
    """End every dot run under way, and any that starts after: the command is stopping
    (a signal), and drawings in other threads must not outlive it."""
    _ALL.stop()


def _signal_name(signum: int) -> str:
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"


def _quoted(stderr: bytes, more: int = 0) -> str:
    """At most a few lines of Graphviz's stderr, on one line, for an error message;
    ``more`` lines followed what is given."""
    lines = [line.strip() for line in stderr.decode("utf-8", "replace").splitlines()]
    lines = [line for line in lines if line]
    if not lines:
        return ""
    shown = [line if len(line) <= _QUOTED_WIDTH else line[:_QUOTED_WIDTH] + "..."
             for line in lines[:_QUOTED_LINES]]
    more += len(lines) - len(shown)
    return ": " + " | ".join(shown) + (f" (and {more} more lines)" if more else "")


def fixed_pdf(pdf: bytes) -> bytes:
    """The same PDF with its creation (and modification) date set to 1970-01-01.

    cairo writes the time of the run into the PDF, so two runs differed in those bytes
    only. The dates keep their length, so the offsets in the file stay right.
    """
    epoch = "19700101000000"

    def fixed(m: re.Match[bytes]) -> bytes:
        date = m.group(2).decode("ascii")
        digits = iter(epoch)
        out = "".join(next(digits, "0") if c.isdigit() else c for c in date)
        return m.group(1) + out.encode("ascii")

    return re.sub(rb"(/(?:CreationDate|ModDate) *\(D:)([0-9Z+'\-]*)", fixed, pdf)

