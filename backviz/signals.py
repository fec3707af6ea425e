"""Stopping on a signal: Ctrl-C (SIGINT), SIGTERM and SIGHUP raise :class:`Stopped`.

:mod:`backviz.start` installs :func:`stop` as the handler before anything else is imported.
The exception unwinds the stack, so a ``dot`` child is killed and a temporary file removed
on the way out. One place must not be interrupted: between starting ``dot`` and knowing its
process (``subprocess.Popen`` returns only after the child runs), where an exception would
orphan the child. :func:`deferred` holds a signal there and raises it at the end.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

from .errors import Stopped

__all__ = ["SIGNALS", "deferred", "held", "stop"]

SIGNALS = {signal.SIGINT: "interrupted", signal.SIGTERM: "terminated", signal.SIGHUP: "hung up"}

_main = threading.local()  # signal handlers run in the main thread: its own state


def stop(signum: int, frame: FrameType | None) -> None:
    """The signal handler: raise :class:`Stopped`, or hold it inside :func:`deferred`."""
    # A second signal must not interrupt the clean-up of the first.
    for other in SIGNALS:
        signal.signal(other, signal.SIG_IGN)
    if getattr(_main, "deferring", 0):
        _main.pending = signum
        return
    raise Stopped(signum)


@contextmanager
def deferred() -> Iterator[None]:
    """Hold a signal that arrives inside the block (in the main thread); raise it after."""
    _main.deferring = getattr(_main, "deferring", 0) + 1
    try:
        yield
    finally:
        _main.deferring -= 1
        pending = getattr(_main, "pending", None)
        if not _main.deferring and pending is not None:
            _main.pending = None
            raise Stopped(pending)


def held() -> bool:
    """Whether a signal came inside :func:`deferred` and waits for the block's end."""
    return getattr(_main, "pending", None) is not None
