"""Running Graphviz's ``dot``: the timeout, the size refusal, stopping runs under way,
checking and quoting what dot wrote, and the PDF's fixed date.

This is a subprocess run of its own rather than ``graphviz.pipe``: the package has no
timeout (a ``dot`` that never exits hangs ``pipe`` for ever) and lets the OSError of a
``dot`` that cannot be run through as it is.
"""

from __future__ import annotations

import math
import os
import re
import shutil
import signal
import subprocess
import threading
from collections.abc import Sequence

from ..errors import GraphvizNotFoundError, RenderError, RenderTimeoutError, TooLargeError
from ..signals import deferred

__all__ = ["DOT_TIMEOUT", "MAX_GATES", "dot_timeout", "drawable", "fixed_pdf", "render",
           "stop_drawing"]

MAX_GATES = 3000
"""Above this many gates Graphviz takes minutes; such graphs are refused for drawing."""
DOT_TIMEOUT = 120.0
"""Seconds a ``dot`` run may take (the environment variable BACKVIZ_DOT_TIMEOUT sets it)."""
# What each format's output starts with: dot may exit 0 having written nothing or garbage.
_SIGNATURES = {"svg": (b"<?xml", b"<svg"), "png": (b"\x89PNG\r\n\x1a\n",), "pdf": (b"%PDF-",),
               "json": (b"{",)}
_QUOTED_LINES = 3  # of Graphviz's stderr, in an error message
_QUOTED_WIDTH = 200


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


def drawable(n_gates: int) -> None:
    """Refuse a graph too large to draw (:data:`MAX_GATES`), before its DOT is written."""
    if n_gates > MAX_GATES:
        raise TooLargeError(
            f"the graph has {n_gates} gates, more than the {MAX_GATES} that can be drawn in "
            "reasonable time; use --format json (or --format dot) for graphs this large")


def render(dot: str, format: str, n_gates: int = 0, timeout: float | None = None,
           also: Sequence[str] = ()) -> bytes:
    """Run Graphviz's ``dot`` on DOT source; the output format is svg, png, pdf or json.

    The run is bounded by ``timeout`` seconds (default :func:`dot_timeout`; then it is a
    :class:`RenderTimeoutError`), and its output is checked: a failure or output that is
    not the format asked for is a :class:`RenderError`
    quoting at most three lines of Graphviz's stderr. If anything stops the run (a
    signal: see :mod:`backviz.start`), ``dot`` is killed before the exception goes on.
    ``also`` asks the same run (one layout) for more formats, written one after the other
    (only the first one's signature is checked).
    """
    drawable(n_gates)
    if timeout is None:
        timeout = dot_timeout()
    args = ["dot", f"-T{format}", *(f"-T{f}" for f in also)]
    done = _ran(args, dot.encode("utf-8"), timeout, format, n_gates)
    if done.returncode != 0:
        if done.returncode < 0:
            reason = f"dot was killed by {_signal_name(-done.returncode)}"
        else:
            reason = f"dot exited with status {done.returncode}"
        raise RenderError(f"Graphviz failed to draw the figure ({reason})"
                          + _quoted(done.stderr))
    if not done.stdout.lstrip().startswith(_SIGNATURES.get(format, (b"",))) \
            or (format == "svg" and not _is_utf8(done.stdout)):
        what = "nothing" if not done.stdout else f"output that is not {format.upper()}"
        raise RenderError(f"Graphviz's dot exited without error but wrote {what}"
                          + _quoted(done.stderr))
    return done.stdout


def _ran(args: list[str], data: bytes, timeout: float, format: str,
         n_gates: int) -> subprocess.CompletedProcess[bytes]:
    """:func:`_run_dot`, with a dot that is missing, too slow or cannot start said in words."""
    try:
        return _run_dot(args, data, timeout)
    except FileNotFoundError:
        raise GraphvizNotFoundError(
            "Graphviz's 'dot' program is not installed, and it is needed for "
            f"{format.upper()} output. Install it with 'apt-get install graphviz' (Debian/Ubuntu) "
            "or 'brew install graphviz' (macOS). --format dot and --format json work without it."
        ) from None
    except subprocess.TimeoutExpired:
        raise RenderTimeoutError(
            f"Graphviz took more than {timeout:g} s to draw the figure of {n_gates} gates and "
            "was stopped; BACKVIZ_DOT_TIMEOUT=SECONDS allows more time, and --format json "
            "(or --format dot) needs no drawing") from None
    except OSError as err:
        where = shutil.which("dot") or "dot"
        raise RenderError(f"Graphviz's 'dot' ({where}) cannot be run: "
                          f"{err.strerror or err}") from None


_RUNNING: set[subprocess.Popen[bytes]] = set()
"""The dot runs under way, in any thread (see :func:`stop_drawing`)."""
_RUNNING_LOCK = threading.Lock()
_STOPPING = threading.Event()  # set by stop_drawing: a dot that starts after is ended at once


def _run_dot(args: list[str], data: bytes, timeout: float) -> subprocess.CompletedProcess[bytes]:
    """subprocess.run, with the child known to :func:`stop_drawing` while it runs."""
    proc: subprocess.Popen[bytes] | None = None
    try:
        # A signal while dot starts is raised once its process is known, here in the try.
        with deferred():
            proc = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE)
            with _RUNNING_LOCK:
                _RUNNING.add(proc)
                if _STOPPING.is_set():  # stop_drawing ran while this one started
                    proc.kill()
        out, err = proc.communicate(data, timeout=timeout)
    except BaseException:  # the timeout, a signal: dot is ended before anything goes on
        if proc is not None:
            proc.kill()
            proc.communicate()
        raise
    finally:
        if proc is not None:
            with _RUNNING_LOCK:
                _RUNNING.discard(proc)
    return subprocess.CompletedProcess(args, proc.returncode, out, err)


def stop_drawing() -> None:
    """End every dot run under way: the command is stopping (a signal), and drawings in
    other threads must not outlive it."""
    with _RUNNING_LOCK:
        _STOPPING.set()
        for proc in _RUNNING:
            proc.kill()


def _signal_name(signum: int) -> str:
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"


def _is_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _quoted(stderr: bytes) -> str:
    """At most a few lines of Graphviz's stderr, on one line, for an error message."""
    lines = [line.strip() for line in stderr.decode("utf-8", "replace").splitlines()]
    lines = [line for line in lines if line]
    if not lines:
        return ""
    shown = [line if len(line) <= _QUOTED_WIDTH else line[:_QUOTED_WIDTH] + "..."
             for line in lines[:_QUOTED_LINES]]
    more = len(lines) - len(shown)
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

