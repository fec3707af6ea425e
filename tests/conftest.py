"""Shared test set-up: the tests import their helper modules (svggeom, slides) directly."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
