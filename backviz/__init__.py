"""backviz: draw backpropagation as in the CS231n lecture figures.

>>> import backviz
>>> t = backviz.trace("(x+y)*z", x=-2, y=5, z=-4)
>>> t.value, t.gradients
(-12.0, {'x': -4.0, 'y': -4.0, 'z': 3.0})
"""

from __future__ import annotations

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
    UnknownFunctionError,
)
from .evaluate import backward, edge_gradients, forward
from .gate import Gate, gate
from .graph import Graph, Group, Node
from .ops import OPS, Op
from .parse import parse
from .tracing import Trace, trace

__version__ = "0.1.0"

__all__ = [
    "OPS",
    "BackvizError",
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
    "Trace",
    "UnknownFunctionError",
    "__version__",
    "backward",
    "edge_gradients",
    "forward",
    "gate",
    "parse",
    "trace",
]
