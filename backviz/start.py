"""The ``backviz`` command's entry point: signals are handled before anything is imported.

Ctrl-C (SIGINT), SIGTERM and SIGHUP all stop the command the same way, at any moment
from its first instant: an exception unwinds the stack, so a ``dot`` child is killed and
a temporary file removed on the way out (see :func:`backviz.render.render` and
:func:`backviz.render.write_atomic`), then one line on stderr and exit status 128 + the
signal's number (130, 143, 129). SIGKILL cannot be caught: it is the one exception.
"""

from __future__ import annotations

import signal
import sys
from types import FrameType
from typing import NoReturn

from .errors import Stopped

__all__ = ["main"]

_SIGNALS = {signal.SIGINT: "interrupted", signal.SIGTERM: "terminated",
            signal.SIGHUP: "hung up"}


def _stop(signum: int, frame: FrameType | None) -> None:
    # A second signal must not interrupt the clean-up of the first.
    for other in _SIGNALS:
        signal.signal(other, signal.SIG_IGN)
    raise Stopped(signum)


def main() -> NoReturn:
    """Run the command; a signal ends it with one line and status 128 + its number."""
    for signum in _SIGNALS:
        signal.signal(signum, _stop)
    try:
        from .cli import main as run

        run()
    except Stopped as stop:
        reason = _SIGNALS[signal.Signals(stop.signum)]
        try:
            sys.stderr.write(f"backviz: {reason}\n")
            sys.stderr.flush()
        except OSError:
            pass
        sys.exit(128 + stop.signum)
