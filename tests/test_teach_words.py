"""The words of the teaching text and the summary: the output by its name in every mode,
and the shares of a value shown under their total with the digits that make them add up."""

from __future__ import annotations

import re
from decimal import Decimal

import numpy as np

import backviz
from backviz.live import draw
from backviz.render.numbers import Numbers
from backviz.render.style import Style
from backviz.teach import build, explain, frames

NAMED = "c = a + b; d = b + 1; e = c * d"
NAMED_VALUES = {"a": 2.0, "b": 1.0}
SQUARES = "y = x; y = y*y; y = y*y; y = y*y"


def named() -> backviz.Trace:
    return backviz.trace(NAMED, NAMED_VALUES)


# --- the output by its name ------------------------------------------------------------

def test_the_summary_calls_the_output_by_its_name(run) -> None:  # type: ignore[no-untyped-def]
    result = run(NAMED, "--a", "2", "--b", "1")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[:6] == [
        "e = 6", "  de/da = 2", "  de/db = 5", "named values (value, gradient):",
        "  c = 3, de/dc = 2", "  d = 2, de/dd = 3"]


def test_explain_starts_from_the_output_by_its_name() -> None:
    lines = explain(named())
    assert lines[0].startswith("backward pass of the program's e = 6")
    assert lines[1].split() == ["start", "de/de", "=", "1"]
    assert lines[-1] == "gradients: de/da = 2, de/db = 5"
    # an output without a name keeps the words f and d/dx, everywhere
    t = backviz.trace("(x+y)*z", x=-2, y=5, z=-4)
    lines = explain(t)
    assert lines[1].split() == ["start", "df/df", "=", "1"]
    assert lines[-1] == "gradients: d/dx = -4, d/dy = -4, d/dz = 3"
    assert frames(t)[0].caption.endswith("the output f = -12.")
    assert t.summary().splitlines()[1] == "  d/dx = -4"


def test_the_frames_say_the_output_by_its_name() -> None:
    made = frames(named())
    assert made[0].caption == "The forward pass: every value in green, the output e = 6."
    assert made[1].caption == "The backward pass starts at the output: de/de = 1."
    assert [note.text for note in made[1].style.notes] == ["de/de = 1"]


def test_the_stepping_page_says_the_output_by_its_name() -> None:
    files = build(named())
    page = files["index.html"].decode()
    assert "the output e = 6." in page and "starts at the output: de/de = 1." in page
    assert "df/df" not in page and "the output f" not in page
    assert ">de/de = 1</text>" in files["frame-01.svg"].decode()


def test_the_live_page_says_the_output_by_its_name() -> None:
    answer = draw({"expression": NAMED, "values": {"a": "2", "b": "1"}})
    summary = answer.body["summary"]
    assert summary["output"] == "e" and summary["value"] == "6"
    assert summary["gradients"] == [["a", "2", "de/da"], ["b", "5", "de/db"]]
    unnamed = draw({"expression": "(x+y)*z", "values": {"x": "-2", "y": "5", "z": "-4"}})
    assert unnamed.body["summary"]["output"] == "f"
    assert unnamed.body["summary"]["gradients"][0] == ["x", "-4", "d/dx"]


def test_a_failed_check_names_the_derivative_of_the_output(run) -> None:  # type: ignore[no-untyped-def]
    result = run("e = relu(x)", "--x", "0", "--check")  # the differences straddle the kink
    assert result.exit_code == 1
    assert "gradient check failed: the relative error of de/dx is " in result.stderr


def test_an_output_named_like_an_input_is_not_called_by_that_name() -> None:
    t = backviz.trace("x = 3\nx += 1\nx * 2")  # the output has no name: f
    assert t.graph.output_name is None and t.summary().splitlines()[1] == "  d/dx = 2"
    t = backviz.trace("x = 3\nx += 1")  # the output is named x, as the input is
    assert t.graph.output_name is None
    assert explain(t)[1].split() == ["start", "df/df", "=", "1"]
    assert t.graph.d("x") == "d/dx"


# --- shown sums add up --------------------------------------------------------------------

def reds(dot: str, helper: str) -> list[str]:
    """The red numbers of one helper node of a figure's DOT."""
    line = next(line for line in dot.splitlines() if line.startswith(f"  {helper} "))
    return re.findall(r'<FONT COLOR="#FF0000">([^<]*)</FONT>', line)


def test_the_shares_of_a_value_used_twice_add_up_to_its_total_as_shown() -> None:
    t = backviz.trace(SQUARES, x=1.1)
    dot = t.to_dot()
    x = t.graph.input_ids["x"]
    (first,) = [g for g in t.graph.gates if t.graph.inputs[g.id] == (x, x)]
    assert reds(dot, f"s{x}") == ["15.590"]
    assert reds(dot, f"e{first.id}_0") == reds(dot, f"e{first.id}_1") == ["7.795"]
    # as --explain writes the same sum
    assert any(line.endswith("x gets 7.795 + 7.795 = 15.590") for line in explain(t))
    assert reds(dot, "out") == ["1.00"]  # a value used once keeps the figure's decimals


def test_every_shared_value_of_a_figure_adds_up() -> None:
    t = backviz.trace("(a - b) / (a + b)", a=3.0, b=1.0)
    dot = t.to_dot()
    for node in t.graph.nodes:
        if t.graph.uses[node.id] < 2:
            continue
        total = Decimal(reds(dot, f"s{node.id}")[0])
        shares = [Decimal(reds(dot, f"e{gate}_{k}")[0]) for gate in set(t.graph.consumers[node.id])
                  for k, j in enumerate(t.graph.inputs[gate]) if j == node.id]
        assert sum(shares) == total, (node.name, shares, total)


def test_adding_up_gives_the_fewest_decimals_that_add_up() -> None:
    from backviz.render.numbers import adding_up

    t = backviz.trace("x * x", x=1.5)
    numbers = Numbers(t, Style(integers=False))
    assert adding_up(numbers, [7.7948684, 7.7948684], 15.5897368).precision == 3
    assert adding_up(numbers, [1.5, 1.5], 3.0) is numbers  # they add up already
    assert adding_up(numbers, [1.584, -0.036], 1.548).precision == 3
    rows = adding_up(numbers, [np.array([1.0, 0.125]), np.array([2.0, -0.25])],
                     np.array([3.0, -0.125]))
    assert rows.precision == 3  # element by element
    assert adding_up(numbers, [np.nan, 1.0], np.nan) is numbers
    thirds = adding_up(numbers, [1 / 3] * 3, 1.0)  # never adds up: as the figure writes it
    assert thirds is numbers
