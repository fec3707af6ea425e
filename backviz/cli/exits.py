"""The command's two ways to fail, and the words for a stdout that cannot be written.

A :class:`UsageError` (bad input or usage) exits with status 2, a :class:`Failure`
(something outside the input failed: Graphviz is missing, a file cannot be written) with 1;
either is printed as one line, ``Error: ...``, with no traceback.
"""

from __future__ import annotations

import click

__all__ = ["Failure", "UsageError", "unwritable"]


class UsageError(click.ClickException):
    """Bad input or usage: exit status 2, one message, no traceback."""

    exit_code = 2


class Failure(click.ClickException):
    """Something outside the input failed (e.g. Graphviz is missing): exit status 1."""

    exit_code = 1


def unwritable(err: OSError) -> str:
    """The message for a stdout that cannot be written."""
    import errno

    if err.errno == errno.EBADF:  # backviz ... >&-
        return ("cannot write to stdout: it is closed (redirect it instead, e.g. >/dev/null "
                "to drop what backviz prints)")
    return f"cannot write to stdout: {err.strerror or err}"
