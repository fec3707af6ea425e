"""backviz: draw backpropagation as in the CS231n lecture figures.

>>> import backviz
>>> t = backviz.trace("(x+y)*z", x=-2, y=5, z=-4)
>>> t.value, t.gradients
(-12.0, {'x': -4.0, 'y': -4.0, 'z': 3.0})

The names below are imported when first used (PEP 562), so that ``import backviz``
costs nothing: the command's entry point (:mod:`backviz.start`) lives in this package
and must be able to handle Ctrl-C before numpy is imported.
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .bridges import BridgeWarning
    from .bridges.micrograd import from_micrograd
    from .bridges.torch import from_torch
    from .errors import (
        BackvizError,
        ExpressionSyntaxError,
        GalleryFileError,
        GraphvizNotFoundError,
        InvalidIndexError,
        InvalidValueError,
        MissingValueError,
        NonScalarOutputError,
        RenderError,
        ShapeError,
        TooLargeError,
        UnknownFunctionError,
    )
    from .evaluate import backward, edge_gradients, forward
    from .gate import Gate, gate
    from .graph import Graph, Group, Node
    from .ops import OPS, Op
    from .parse import parse
    from .tracing import Trace, trace
    from .values import data

__version__ = "0.1.0"

_WHERE = {
    **dict.fromkeys(["BackvizError", "ExpressionSyntaxError", "GalleryFileError",
                     "GraphvizNotFoundError", "InvalidIndexError", "InvalidValueError", "MissingValueError",
                     "NonScalarOutputError", "RenderError", "ShapeError", "TooLargeError",
                     "UnknownFunctionError"], "errors"),
    **dict.fromkeys(["backward", "edge_gradients", "forward"], "evaluate"),
    **dict.fromkeys(["Trace", "trace"], "tracing"),
    **dict.fromkeys(["Gate", "gate"], "gate"),
    **dict.fromkeys(["Graph", "Group", "Node"], "graph"),
    **dict.fromkeys(["OPS", "Op"], "ops"),
    "parse": "parse",
    "data": "values",
    "BridgeWarning": "bridges",
    "from_micrograd": "bridges.micrograd",  # micrograd itself is never imported
    "from_torch": "bridges.torch",  # imports torch, when first used
}
_MODULES = {"bridges", "cli", "errors", "evaluate", "gallery", "gate", "graph", "live", "notebook", "ops",
            "page", "parse", "render", "signals", "start", "teach", "template", "text", "tokens",
            "tracing", "values"}

__all__ = [
    "OPS",
    "BackvizError",
    "BridgeWarning",
    "ExpressionSyntaxError",
    "GalleryFileError",
    "Gate",
    "Graph",
    "GraphvizNotFoundError",
    "Group",
    "InvalidIndexError",
    "InvalidValueError",
    "MissingValueError",
    "Node",
    "NonScalarOutputError",
    "Op",
    "RenderError",
    "ShapeError",
    "TooLargeError",
    "Trace",
    "UnknownFunctionError",
    "__version__",
    "backward",
    "data",
    "edge_gradients",
    "forward",
    "from_micrograd",
    "from_torch",
    "gate",
    "parse",
    "trace",
]


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        value = getattr(importlib.import_module(f".{_WHERE[name]}", __name__), name)
    elif name in _MODULES:  # backviz.render.Style after a bare `import backviz`
        value = importlib.import_module(f".{name}", __name__)
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__, *_MODULES})


class _Package(types.ModuleType):
    """The package, whose ``parse`` and ``gate`` stay the functions when the submodules of
    those names load (the import system sets each submodule as an attribute of its package)."""

    def __setattr__(self, name: str, value: Any) -> None:
        if not (name in _WHERE and isinstance(value, types.ModuleType)):
            super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package
