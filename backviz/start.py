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
from typing import NoReturn

from .errors import Stopped
from .signals import SIGNALS, stop

__all__ = ["main"]


def main() -> NoReturn:
    """Run the command; a signal ends it with one line and status 128 + its number."""
    for signum in SIGNALS:
        signal.signal(signum, stop)
    try:
        from .cli import main as run

        run()
    except Stopped as stopped:
        reason = SIGNALS[signal.Signals(stopped.signum)]
        try:
            sys.stderr.write(f"backviz: {reason}\n")
            sys.stderr.flush()
        except OSError:
            pass
        sys.exit(128 + stopped.signum)
