"""Fuzzing: whatever text and values come in, only a BackvizError (or a result) comes out.

Every example must also finish within seconds: the parser and the engine iterate,
so size costs time and memory but never a RecursionError.
"""

from __future__ import annotations

import builtins
import os
import time
from datetime import timedelta
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import backviz
from backviz.errors import ExpressionSyntaxError, ShapeError, UnknownFunctionError

SECONDS = 5.0
FUZZ = settings(max_examples=200, deadline=timedelta(seconds=SECONDS),
                suppress_health_check=[HealthCheck.too_slow])

# Values by variable name: W a matrix, x and b vectors, anything else a scalar.
SHAPED: dict[str, Any] = {"W": [[0.5, -1.0], [2.0, 0.25]], "x": [0.3, -0.7], "b": [1.0, -2.0]}

SEEDS = [
    "(x+y)*z",
    "1/(1+exp(-(w0*x0+w1*x1+w2)))",
    "sigmoid(w0*x0+w1*x1+w2)",
    "2*(x*y+max(z,w))",
    "l2(W@x)",
    "sum(relu(W@x + b))",
    "mean(tanh(x)**2) - log(sqrt(abs(y)+1))",
    "min(a, 3-b)/2 + cos(sin(c))^-1",
    # programs
    "q = x + y; f = q * z",
    "x = 3 # example\ny = -4\nsigy = 1.0 / (1 + math.exp(-y))\nf = (x + sigy) / (x + y)**2",
    "a = -4.0;  b = 2.0\nc = a + b;  d = a * b + b**3\nc += c + 1;  c += 1 + c + (-a)\ng = c - d",
    "sig(u) = 1/(1+exp(-u))\nsw(u, v) = u*sig(v)\nf = sw(x, y) + sig(sw(y, x))",
    "W = [[0.5, -1.0], [2.0, 0.25]]\nx = np.array([0.3, -0.7])\nf = l2(W @ x)",
    # numpy as a course writes it
    "N = W.shape[0]\ns = W.dot(x)\nm = np.maximum(0, s - s[:, None] + 1)\nm[np.arange(N), y] = 0"
    "\nf = np.sum(m) / N",
    "f = np.sum(W.max(axis=1, keepdims=True) * np.where(W > 0, W, 0.1 * W)) + np.var(x)",
    "m = W * 1\nm[0] += x\nf = np.linalg.norm(m.reshape(-1)) + np.clip(b, -1, 1).std()",
]

TOKENS = ["x", "y", "W", "b", "w0", "1", "2.5", "1e-3", ".5", "0", "+", "-", "*", "/", "**", "^", "@",
          "(", ")", ",", " ", "exp", "log", "sqrt", "max", "min", "sum", "mean", "relu", "sigmoid",
          "l2", "abs", "1e999", "e", "E", ".", "_", "=", ";", "\n", "+=", "*=", "#", "q", "q =",
          "math.exp", "np.", "numpy.tanh", "math.pi", "s(u) = ", "s(", "[", "]", "import math",
          ".dot(", ".sum(", ".shape", "[0]", "axis=", "keepdims=True", "(0, 1)", "<", ">=",
          "==", "np.where(", "None", "...", "np.arange(", ":", "] = ", ".T", ".reshape(",
          "np.newaxis", "len(", "np.clip(", "for ", "if "]


def attempt(expression: str, values: dict[str, Any] | None = None) -> None:
    """Parse and trace; fail on anything but a result or a well-formed BackvizError."""
    start = time.perf_counter()
    try:
        graph = backviz.parse(expression)
    except backviz.BackvizError as err:
        check_error(err)
    else:
        assert graph.nodes and graph.output.id == len(graph.nodes) - 1
        runs = [values] if values is not None else [
            {n: 0.7 for n in graph.variables},
            {n: SHAPED.get(n, -1.3) for n in graph.variables},
        ]
        for run in runs:
            try:
                t = backviz.trace(graph, run)
            except backviz.BackvizError as err:
                check_error(err)
            else:
                assert isinstance(t.value, float)
                for name, grad in t.gradients.items():
                    assert np.shape(grad) == np.shape(t.inputs[name])
    assert time.perf_counter() - start < SECONDS


def check_error(err: backviz.BackvizError) -> None:
    message = str(err)
    assert message.strip()
    if isinstance(err, ExpressionSyntaxError | UnknownFunctionError | ShapeError):
        # Positioned errors end with the source line and a caret under the column.
        *_, source, caret = message.split("\n")
        assert source.startswith("  ") and caret.strip() == "^"
        assert len(caret) <= len(source) + 1
        assert len(message) < 2_000  # a 100,000-character input is shown as a window


# --- random and mutated text ----------------------------------------------------------

@FUZZ
@given(st.text(max_size=60))
def test_random_text(text: str) -> None:
    attempt(text)


@FUZZ
@given(st.lists(st.sampled_from(TOKENS), max_size=25).map("".join))
def test_random_token_soup(text: str) -> None:
    attempt(text)


@st.composite
def mutated(draw: st.DrawFn) -> str:
    s = draw(st.sampled_from(SEEDS))
    for _ in range(draw(st.integers(1, 4))):
        i = draw(st.integers(0, len(s)))
        j = draw(st.integers(i, min(len(s), i + 6)))
        piece = draw(st.one_of(st.sampled_from(TOKENS), st.characters(), st.text(max_size=3)))
        kind = draw(st.sampled_from(["delete", "insert", "replace", "duplicate", "swap"]))
        if kind == "delete":
            s = s[:i] + s[j:]
        elif kind == "insert":
            s = s[:i] + piece + s[i:]
        elif kind == "replace":
            s = s[:i] + piece + s[j:]
        elif kind == "duplicate":
            s = s[:j] + s[i:j] + s[j:]
        else:
            s = s[i:j] + s[:i] + s[j:]
    return s


@FUZZ
@given(mutated())
def test_mutated_valid_expressions(text: str) -> None:
    attempt(text)


# --- hostile text ---------------------------------------------------------------------------

# Python, not backviz: each of these must be refused.
PYTHON = [
    "__import__('os').system('x')",
    "__import__(\"os\").system(\"x\")",
    "x.__class__",
    "x.__class__.__bases__[0].__subclasses__()",
    "().__class__",
    "lambda x: x",
    "(lambda: 1)()",
    "[x for x in y]",
    "{x: y}",
    "x if y else z",
    "exec('import os')",
    "eval(x)",
    "open(x)",
    "getattr(x, y)",
    "x; import os",
    "x\nimport os",
    "f'{x}'",
    "`x`",
    "x := 1",
    "x.shape.__class__",
    "x.sum.__globals__",
    "x.__dict__",
    "x.T.__len__()",
    "np.__builtins__",
    "x.sum()(y)",
    "np.random.randn(3)",
    "for i in range(3): x",
    "if x > 0: x",
    "def f(x): return x",
    "print(x)",
    "x.append(1)",
    "x.dot",
    "x.shape()",
    "while x: x",
    "x if x > 0 else -x",
]

HOSTILE = [
    *PYTHON,
    "1e999999",
    "1e999999*x",
    "x*1e999999",
    "9" * 400 + "*x",
    "1" * 100_000 + "*x",
    "x*" + "0" * 10_000 + "1",
    "(" * 5_000 + "x" + ")" * 5_000,
    "(" * 5_000 + "x",
    "x" + ")" * 5_000,
    "(" * 5_000 + ")" * 5_000,
    "sum(" * 5_000 + "x" + ")" * 5_000,
    "max(" * 2_000 + "x" + ",y)" * 2_000,
    "x" + "**x" * 2_000,
    "-" * 10_000 + "x",
    "+" * 10_000 + "x",
    "a" * 100_000,
    "a" * 100_000 + "(x)",
    "x*" + "b" * 100_000 + "+1",
    "x " * 50_000,
    "١٢٣*x",
    "x*٣",
    "x²",
    "ｘ+1",
    "x\u200b+y",
    "x\u00a0+\u2003y",
    "x+💥",
    "\x00",
    "x\x00y",
    "\ud800",
    "%s%s%n",
    "{0.__class__}",
    "x @@ y",
    "x ** ** y",
    "None*True+False",
    "0x10*x",
    "x__",
    ")(",
    ",",
]


@pytest.mark.parametrize("text", HOSTILE, ids=lambda s: repr(s[:30]) + (f"..{len(s)}" if len(s) > 30 else ""))
def test_hostile_strings(text: str, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[object] = []

    def forbidden(*args: object, **kwargs: object) -> None:
        calls.append(args)
        raise AssertionError("backviz must never evaluate code")

    for name in ("eval", "exec", "compile"):
        monkeypatch.setattr(builtins, name, forbidden)
    monkeypatch.setattr(os, "system", forbidden)
    attempt(text)
    assert calls == []


@pytest.mark.parametrize("text", PYTHON)
def test_python_is_not_accepted(text: str) -> None:
    with pytest.raises(backviz.BackvizError):
        backviz.parse(text)


def test_huge_literal_is_a_syntax_error() -> None:
    with pytest.raises(backviz.ExpressionSyntaxError, match="too large for a float64"):
        backviz.parse("1e999999*x")
    with pytest.raises(backviz.ExpressionSyntaxError, match="too large for a float64"):
        backviz.parse("9" * 400 + "*x")


def test_100000_character_name_is_a_variable() -> None:
    name = "a" * 100_000
    t = backviz.trace(f"{name}*2", {name: 3})
    assert t.gradients == {name: 2.0}
    with pytest.raises(backviz.MissingValueError) as info:
        backviz.trace(f"{name}*2")
    assert info.value.names == (name,)


# --- hostile values -------------------------------------------------------------------------

scalars = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(min_value=-(10**400), max_value=10**400),
    st.booleans(), st.none(), st.text(max_size=4), st.binary(max_size=2), st.complex_numbers(),
)
arrays = hnp.arrays(
    dtype=st.sampled_from([np.float64, np.float32, np.int64, np.uint8, np.bool_, np.complex128,
                           np.dtype("U2"), np.dtype("datetime64[s]")]),
    shape=hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=3),
)
nested = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3) | st.tuples(inner, inner),
                      max_leaves=8)
values = st.one_of(scalars, arrays, nested, st.dictionaries(st.text(max_size=2), scalars, max_size=2),
                   st.sets(st.integers(), max_size=2), st.just(object()), st.just(range(3)))

EXPRESSIONS = ["sum(W@x + b)", "x*W + b", "sum(max(x, W) * b)", "l2(x) + mean(W) - b",
               "log(x)*exp(W)/b", "x@W@b", "sum(x) + sqrt(W) + relu(b)"]


@FUZZ
@given(st.sampled_from(EXPRESSIONS), values, values, values)
def test_hostile_values(expression: str, w: Any, x: Any, b: Any) -> None:
    attempt(expression, {"W": w, "x": x, "b": b})


@FUZZ
@given(st.sampled_from(EXPRESSIONS),
       *[hnp.arrays(np.float64, hnp.array_shapes(min_dims=0, max_dims=2, min_side=1, max_side=3),
                    elements=st.floats(allow_nan=True, allow_infinity=True))] * 3)
def test_wrong_shapes_and_non_finite_numbers(expression: str, w: Any, x: Any, b: Any) -> None:
    attempt(expression, {"W": w, "x": x, "b": b})


@pytest.mark.parametrize("value", [
    float("nan"), float("inf"), -float("inf"), "1", None, [1, [2]], np.ones((2, 2, 2)), [], {},
    10**400, -(10**400), 1j, object(), lambda: 1, np.array([np.nan]), [[np.inf]], b"x",
    bytearray(b"x"), range(3), (i for i in range(3)), np.datetime64("2020"), [10**400],
], ids=repr)
def test_listed_hostile_values(value: object) -> None:
    for expression in EXPRESSIONS:
        attempt(expression, {"W": value, "x": [1.0, 2.0], "b": 0.5})
