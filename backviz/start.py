"""The ``backviz`` command's entry point: signals are handled before anything is imported.

Ctrl-C (SIGINT), SIGTERM and SIGHUP all stop the command the same way, at any moment
from its first instant: an exception unwinds the stack, so a ``dot`` child is killed and
a temporary file removed on the way out (see :func:`backviz.render.render` and
:func:`backviz.render.write_atomic`), then one line on stderr and exit status 128 + the
signal's number (130, 143, 129). SIGKILL cannot be caught: it is the one exception.

The standard streams are made safe first (:func:`streams`): a closed stdout fails each
write as a closed file does (one message, exit status 1, docs/cli.md), and a closed or
broken stderr drops the messages and keeps the exit status.
"""

from __future__ import annotations

import io
import os
import signal
import sys
from typing import NoReturn

from .errors import Stopped
from .signals import SIGNALS, stop

__all__ = ["main", "streams"]


class _Stderr(io.TextIOWrapper):
    """stderr whose writes never fail: once it cannot be written (closed, a reader gone,
    a full disk), what follows goes to /dev/null. A warning that cannot be shown must not
    turn a figure that was written into a failure; the exit status still tells."""

    def write(self, text: str) -> int:
        try:
            return super().write(text)
        except OSError:
            self._drop()
            return len(text)

    def flush(self) -> None:
        try:
            super().flush()
        except OSError:
            self._drop()
            super().flush()

    def _drop(self) -> None:
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, self.fileno())
        os.close(null)


def streams() -> None:
    """Give fds 0, 1 and 2 a file each, and sys.stdout and sys.stderr a stream each.

    A closed fd is taken by the next file opened (the figure's temporary file, a pipe to
    ``dot``), so each gets /dev/null; Python then sets sys.stdout or sys.stderr to None,
    which print nothing and fail later with an AttributeError. fd 1 gets /dev/null opened
    read-only: a write fails with EBADF, as on the closed fd.
    """
    for fd, mode in ((0, os.O_RDONLY), (1, os.O_RDONLY), (2, os.O_WRONLY)):
        try:
            os.fstat(fd)
        except OSError:
            null = os.open(os.devnull, mode)  # the lowest free fd: this one
            if null != fd:
                os.dup2(null, fd)
                os.close(null)
    if sys.stdout is None:
        sys.stdout = open(1, "w", encoding="utf-8", closefd=False)  # noqa: SIM115
    old = sys.stderr
    sys.stderr = _Stderr(open(2, "wb", closefd=False),  # noqa: SIM115
                         encoding=old.encoding if old else "utf-8",
                         errors="backslashreplace", line_buffering=True)


def main() -> NoReturn:
    """Run the command; a signal ends it with one line and status 128 + its number."""
    for signum in SIGNALS:
        signal.signal(signum, stop)
    try:
        streams()
        from .cli import main as run

        run()
    except Stopped as stopped:
        reason = SIGNALS[signal.Signals(stopped.signum)]
        if sys.stderr is not None:  # None only if the signal came before streams() ended
            sys.stderr.write(f"backviz: {reason}\n")
            sys.stderr.flush()
        sys.exit(128 + stopped.signum)
