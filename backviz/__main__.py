"""``python -m backviz``: the same as the ``backviz`` command."""

from .start import main

main()
